// The console's shell on the node: the hash router, the session, the API client, the
// words of both languages and the small pieces every page draws with (readable times,
// digests on one line with a copy button, tables). A page is a module that calls
// registerPage; what it may show is what the REST API answers its session: the role rules
// live on the node (docs/access.md), never here.
import { lang, onLanguage as onSwitch } from "ledger/lang.js";

export { lang };

const TEXT = {
  en: {
    nav_verify: "Verify evidence", signed_in_as: "Signed in:", sign_out: "Sign out", anonymous_admin: "development node: full access, no sign-in",
    copy: "Copy", copied: "Copied", more: "More", empty: "Nothing here.", loading: "Loading…",
    forbidden: "Your role may not see this.", not_found: "Not found.", signin_needed: "Sign in to see this page.",
    sign_in_link: "Sign in", error: "Error", not_for_role: "This page is not for your role.",
  },
  zh: {
    nav_verify: "核验存证", signed_in_as: "已登录：", sign_out: "退出登录", anonymous_admin: "开发节点：完全访问，无需登录",
    copy: "复制", copied: "已复制", more: "更多", empty: "暂无内容。", loading: "加载中…",
    forbidden: "您的角色无权查看此内容。", not_found: "未找到。", signin_needed: "请先登录再查看此页面。",
    sign_in_link: "登录", error: "错误", not_for_role: "此页面不适用于您的角色。",
  },
};
const pages = new Map();
const languageListeners = [];
let current = null;        // the session: GET /web/session's answer, or null
let leaving = [];          // what the shown page asked to run when it is left (onLeave)
let sessionLoaded = false;

// -- words ------------------------------------------------------------------------------

export function t(key) { return TEXT[lang()][key] ?? TEXT.en[key] ?? key; }

// The shell draws the current page again when the user switches the language; `listener()`
// runs after that, for what a page keeps outside its section (a live feed, say).
export function onLanguage(listener) { languageListeners.push(listener); }

// -- pages ------------------------------------------------------------------------------

/** Add a page: {id, nav, permissions, text: {en, zh}, render(root, path), signedOut?}.
 *  `permissions`: the nav shows the page when the session holds any of them (display only:
 *  the API decides what is answered). `signedOut`: shown only without a signed-in session. */
export function registerPage(page) {
  if (pages.has(page.id)) throw new Error(`page ${page.id} registered twice`);
  for (const code of ["en", "zh"]) {
    for (const [key, value] of Object.entries(page.text?.[code] ?? {})) {
      if (key in TEXT[code] && TEXT[code][key] !== value) console.warn(`word ${key} defined twice`);
      TEXT[code][key] = value;
    }
  }
  pages.set(page.id, page);
}

export function session() { return current; }

function allowed(page) {
  if (page.signedOut) return current === null || current.anonymous;
  if (!page.permissions || page.permissions.length === 0) return true;
  const held = new Set(current?.permissions ?? []);
  return page.permissions.some((permission) => held.has(permission));
}

/** The query of the hash (`#contracts?project=P-7&status=Effective`): a page's filters,
 *  so a search can be bookmarked and the back button works. */
export function hashQuery() {
  const at = location.hash.indexOf("?");
  return new URLSearchParams(at < 0 ? "" : location.hash.slice(at + 1));
}

export function navigate(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

function drawNav() {
  const nav = document.getElementById("nav");
  nav.replaceChildren(el("a", { href: "#verify", "data-page": "verify", text: t("nav_verify") }));
  for (const page of pages.values()) {
    if (allowed(page)) nav.append(el("a", { href: `#${page.id}`, "data-page": page.id, text: t(page.nav) }));
  }
  const active = location.hash.slice(1).split("?")[0].split("/")[0] || "verify";
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.page === active) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  const who = document.getElementById("who");
  who.replaceChildren();
  if (current?.anonymous) {
    who.append(el("span", { class: "note", text: t("anonymous_admin") }));
  } else if (current) {
    who.append(el("span", { text: `${t("signed_in_as")} ${current.role} · ${current.subject}` }), " ",
      el("button", { type: "button", id: "sign-out", text: t("sign_out"), on: { click: signOut } }));
  }
}

/** Run `cleanup()` when the user leaves the page being drawn (close an EventSource, stop a
 *  timer): the next route runs it before it draws anything. */
export function onLeave(cleanup) { leaving.push(cleanup); }

async function route() {
  const [id, ...rest] = location.hash.slice(1).split("?")[0].split("/").map(decodeURIComponent);
  for (const cleanup of leaving.splice(0)) {
    try { cleanup(); } catch (error) { console.warn("cleanup failed", error); }
  }
  const verify = document.getElementById("verify");
  const view = document.getElementById("view");
  drawNav();
  const page = pages.get(id);
  if (!page) {
    verify.hidden = false;
    view.hidden = true;
    view.replaceChildren();
    return;
  }
  verify.hidden = true;
  view.hidden = false;
  // A fresh section per visit: a page never sees the previous one's elements or listeners.
  const root = el("section", { id: `page-${page.id}`, class: "page", "aria-live": "polite" });
  view.replaceChildren(root);
  document.body.dataset.page = page.id;
  document.body.dataset.state = "loading";
  if (!allowed(page)) {
    const signIn = pages.get("signin");
    root.append(el("p", { class: "note", text: current === null ? t("signin_needed") : t("not_for_role") }));
    if (current === null && signIn) root.append(el("a", { href: signInHref(), text: t("sign_in_link") }));
    document.body.dataset.state = "done";
    return;
  }
  try {
    await page.render(root, rest);
  } catch (error) {
    showError(root, error);
  }
  // The route may have moved on while this page loaded: only the live one says "done".
  if (root.isConnected) document.body.dataset.state = "done";
}

// The sign-in page, told to come back here afterwards (session.js reads #signin/<page>/…).
function signInHref() {
  const here = location.hash.slice(1);
  return here && !here.startsWith("signin") ? `#signin/${here}` : "#signin";
}

/** Show a failed request in `root`: a 403 as "your role may not", a 401 as "sign in". */
export function showError(root, error) {
  const box = el("p", { class: "error", role: "alert" });
  if (error instanceof ApiError && error.status === 403) box.textContent = t("forbidden");
  else if (error instanceof ApiError && error.status === 401) {
    box.append(t("signin_needed"), " ", el("a", { href: signInHref(), text: t("sign_in_link") }));
  } else if (error instanceof ApiError && error.status === 404) box.textContent = t("not_found");
  else box.textContent = `${t("error")}: ${error?.message ?? error}`;
  if (error instanceof ApiError) box.dataset.status = String(error.status);
  root.append(box);
  return box;
}

// -- the session ------------------------------------------------------------------------

/** Read the session again (after signing in or out) and redraw the nav and the page. */
export async function refreshSession() {
  try {
    current = await api.get("/web/session");
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
    current = null;
  }
  sessionLoaded = true;
  await route();
  return current;
}

export async function signOut() {
  try { await api.del("/web/session"); } finally {
    current = null;
    await refreshSession();
    navigate("#verify");
  }
}

// -- the API ----------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

async function request(method, path, { query, body, raw } = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const headers = { Accept: "application/json" };
  if (UNSAFE.has(method) && current?.csrf) headers["X-CSRF-Token"] = current.csrf;
  let payload;
  if (raw !== undefined) {
    payload = raw;
    headers["Content-Type"] = "application/octet-stream";
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  const answer = await fetch(url, { method, headers, body: payload, credentials: "same-origin", cache: "no-store" });
  const type = answer.headers.get("content-type") ?? "";
  const data = type.includes("json") ? await answer.json().catch(() => null) : await answer.text();
  if (!answer.ok) {
    const reason = (data && typeof data === "object" && (data.error?.message ?? data.error ?? data.detail)) || answer.statusText;
    throw new ApiError(answer.status, typeof reason === "string" ? reason : JSON.stringify(reason));
  }
  return data;
}

let rpcId = 0;

export const api = {
  get: (path, query) => request("GET", path, { query }),
  post: (path, body) => request("POST", path, { body }),
  put: (path, body) => request("PUT", path, { body }),
  putBytes: (path, bytes) => request("PUT", path, { raw: bytes }),
  del: (path) => request("DELETE", path),
  /** A JSON-RPC call over POST /; a JSON-RPC error is an ApiError with the HTTP status. */
  async rpc(method, params = []) {
    const answer = await request("POST", "/", { body: { jsonrpc: "2.0", id: ++rpcId, method, params } });
    if (answer?.error) {
      const error = new ApiError(200, answer.error.message);
      error.code = answer.error.code;
      error.data = answer.error.data;
      throw error;
    }
    return answer.result;
  },
};

/** Members' names for `addresses`, from GET /v1/names (200 a request): a Map of the
 *  lowercase address to {name, organization, subject}; what it has so far (or nothing) when
 *  the role may not ask, and the page then shows addresses. */
export async function namesOf(addresses) {
  const wanted = [...new Set(addresses.filter(Boolean).map((a) => a.toLowerCase()))];
  const names = new Map();
  for (let at = 0; at < wanted.length; at += 200) {
    try {
      const answer = await api.get("/v1/names", { address: wanted.slice(at, at + 200).join(",") });
      for (const item of answer.items) if (item) names.set(item.address.toLowerCase(), item);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 403) throw error;
      return names;
    }
  }
  return names;
}

/** The name to show for `address` from a namesOf Map: the certificate's CN, else its O, else "". */
export function displayName(names, address) {
  const entry = address ? names.get(address.toLowerCase()) : undefined;
  return entry ? entry.name || entry.organization || "" : "";
}

// -- drawing ----------------------------------------------------------------------------

/** A sentence with its {placeholders} filled: fill(t("sv_days"), {n: 3}). */
export function fill(text, values) {
  return String(text).replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

/** An element: el("a", {href, class, text, on: {click}}, child, "text", …). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "on") for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null && child !== false) node.append(child);
  }
  return node;
}

const pad = (n) => String(n).padStart(2, "0");

/** Seconds since 1970 as this browser's local time with its UTC offset:
 *  "2026-12-07 19:44:38 (UTC+08:00)"; "" for nothing. */
export function fmtTime(seconds) {
  if (seconds === null || seconds === undefined || seconds === "") return "";
  const d = new Date(Number(seconds) * 1000);
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const zone = `UTC${sign}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
  return `${fmtDate(seconds)} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} (${zone})`;
}

/** The local date of seconds since 1970: "2026-12-07". */
export function fmtDate(seconds) {
  if (seconds === null || seconds === undefined || seconds === "") return "";
  const d = new Date(Number(seconds) * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function shorten(hex) {
  const text = String(hex);
  return text.length > 16 ? `${text.slice(0, 8)}…${text.slice(-6)}` : text;
}

function copyButton(value) {
  // A word, not a symbol: a glyph such as ⧉ is missing from many fonts (a box in Debian's chromium).
  const button = el("button", { type: "button", class: "copy", "aria-label": `${t("copy")} ${value}`, text: t("copy") });
  button.addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(value); button.textContent = t("copied"); } catch { button.textContent = t("error"); }
    setTimeout(() => { button.textContent = t("copy"); }, 1500);
  });
  return button;
}

/** A digest or hash on one line: shortened, the whole value in title= and data-value, a
 *  copy button; `href` makes it a link. */
export function hexCell(hex, href) {
  if (hex === null || hex === undefined || hex === "") return el("span", { class: "hex none", text: "—" });
  const value = String(hex);
  const shown = href ? el("a", { href, title: value }, el("code", { text: shorten(value) }))
    : el("code", { title: value, text: shorten(value) });
  return el("span", { class: "hex", "data-value": value }, shown, copyButton(value));
}

/** An account: its name when known, with the shortened address and a copy button. */
export function addressCell(address, name, href) {
  if (!name) return hexCell(address, href);
  const value = String(address);
  const label = href ? el("a", { href, text: name }) : el("span", { class: "name", text: name });
  return el("span", { class: "account", "data-value": value }, label, " ", el("code", { title: value, text: shorten(value) }), copyButton(value));
}

/** A table: columns [{key, label (a word's key), render?(row) → Node|string}], rows of
 *  objects; an empty list says so. */
export function dataTable(columns, rows, { caption } = {}) {
  const table = el("table");
  if (caption) table.append(el("caption", { text: caption }));
  const head = table.createTHead().insertRow();
  for (const column of columns) head.append(el("th", { scope: "col", text: t(column.label) }));
  const body = table.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    for (const column of columns) {
      const value = column.render ? column.render(row) : row[column.key];
      const td = tr.insertCell();
      if (column.key) td.dataset.key = column.key;
      td.append(value instanceof Node ? value : String(value ?? ""));
    }
  }
  if (rows.length === 0) {
    const td = body.insertRow().insertCell();
    td.colSpan = columns.length;
    td.className = "note";
    td.textContent = t("empty");
  }
  return el("div", { class: "table-wrap" }, table);
}

// -- start ------------------------------------------------------------------------------

onSwitch(async () => {
  if (sessionLoaded) await route();
  for (const listener of languageListeners) listener();
});
window.addEventListener("hashchange", () => { if (sessionLoaded) route(); });
// Module scripts run before DOMContentLoaded: by then every page module has registered.
document.addEventListener("DOMContentLoaded", () => {
  refreshSession().catch((error) => showError(document.getElementById("view"), error))
    .finally(() => { document.body.dataset.console = "ready"; });
});
