// The Sign-in page: paste a role token (`ledger token issue`), the page sends it once to
// POST /web/session, and the node answers with the `ledger_session` cookie (HttpOnly,
// SameSite=Strict: no script here can read it) and the session - role, subject, the
// permissions the nav follows, and the CSRF value console.js sends on every write. The
// token is never kept by this page: not in localStorage, not in a variable after the
// request, and the field is emptied whether the node accepts it or not. Which pages a
// role may see is the node's answer (docs/access.md), never decided here.
//
// Signing out is the shell's "Sign out" button (console.js signOut: DELETE /web/session
// with the CSRF header). A hash `#signin/<page>/<rest>` (a page that needed a session
// links here so) returns to that page after signing in.
import { ApiError, api, el, fill, navigate, refreshSession, registerPage, t } from "ledger/console.js";

const ISSUE_COMMAND = 'ledger token issue --data-dir <node data dir> --role regulator --subject "City Housing Bureau"';

const TEXT = {
  en: {
    nav_signin: "Sign in",
    signin_heading: "Sign in with a role token",
    signin_intro: "Paste the role token you were given. It is sent once to this node, which checks it and keeps you signed in with a session cookie that scripts cannot read, for at most 12 hours or until the token expires or is revoked. This page does not store the token.",
    signin_label: "Role token",
    signin_submit: "Sign in",
    signin_shortcut: "Ctrl+Enter in the field signs in too.",
    signin_where_heading: "Where tokens come from",
    signin_where: "The node's operator issues one per person or office, with its role (trading center, regulator, party, court, notary, auditor, admin):",
    signin_where_more: "A token can be revoked at any time (`ledger token revoke`); a revoked token's session ends with its next request.",
    signin_empty: "Paste a token first.",
    signin_sending: "Checking the token…",
    signin_refused: "The node refused this token",
    signin_done: "Signed in as {role} · {subject}",
  },
  zh: {
    nav_signin: "登录",
    signin_heading: "使用角色令牌登录",
    signin_intro: "粘贴您获得的角色令牌。令牌只发送一次给本节点，节点校验后以脚本无法读取的会话 Cookie 保持您的登录状态，最长 12 小时，或直到令牌过期或被吊销。本页面不会保存令牌。",
    signin_label: "角色令牌",
    signin_submit: "登录",
    signin_shortcut: "在输入框中按 Ctrl+Enter 也可登录。",
    signin_where_heading: "令牌从哪里来",
    signin_where: "由节点运维人员为每个人或每个部门签发，并指定角色（交易中心、监管机构、当事方、法院、公证处、审计、管理员）：",
    signin_where_more: "令牌可随时吊销（`ledger token revoke`）；被吊销令牌的会话在下一次请求时即失效。",
    signin_empty: "请先粘贴令牌。",
    signin_sending: "正在校验令牌…",
    signin_refused: "节点拒绝了此令牌",
    signin_done: "已登录：{role} · {subject}",
  },
};

/** Where to go once signed in: the page named after "#signin/", else the first page the
 *  nav now offers besides Verify, else Verify. */
function destination(path) {
  const back = path.filter((part) => part !== "").map(encodeURIComponent).join("/");
  if (back && !back.startsWith("signin")) return `#${back}`;
  const first = document.querySelector("#nav a[data-page]:not([data-page=verify]):not([data-page=signin])");
  return first ? first.getAttribute("href") : "#verify";
}

async function render(root, path) {
  const status = el("p", { id: "signin-status", class: "note", role: "status", "aria-live": "polite" });
  const field = el("textarea", {
    id: "signin-token", name: "token", rows: "5", required: true, autocomplete: "off", autocapitalize: "off",
    spellcheck: "false", "aria-describedby": "signin-shortcut signin-status",
  });
  const submit = el("button", { type: "submit", id: "signin-submit", text: t("signin_submit") });
  const form = el("form", { id: "signin-form", "aria-labelledby": "signin-heading" },
    el("label", { for: "signin-token", text: t("signin_label") }), field,
    el("p", { id: "signin-shortcut", class: "note", text: t("signin_shortcut") }), submit, status);

  async function send() {
    const token = field.value.trim();
    field.value = ""; // the page keeps no copy, accepted or not
    status.className = "note";
    status.removeAttribute("role");
    if (!token) {
      status.className = "error";
      status.setAttribute("role", "alert");
      status.textContent = t("signin_empty");
      field.focus();
      return;
    }
    submit.disabled = true;
    status.textContent = t("signin_sending");
    let signed;
    try {
      signed = await api.post("/web/session", { token });
    } catch (error) {
      submit.disabled = false;
      status.className = "error";
      status.setAttribute("role", "alert");
      status.dataset.status = error instanceof ApiError ? String(error.status) : "";
      status.textContent = `${t("signin_refused")}: ${error?.message ?? error}`;
      field.focus();
      return;
    }
    status.textContent = fill(t("signin_done"), signed);
    // Leave #signin without a hashchange (it is not for a signed-in session): refreshSession
    // then draws the nav and that page once, with the new session. Without a page to return
    // to, go on to the first page the nav now offers.
    const back = destination(path);
    history.replaceState(null, "", path.length ? back : "#verify");
    await refreshSession();
    if (!path.length) {
      const next = destination([]);
      if (next !== "#verify") navigate(next);
    }
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); send(); });
  field.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  root.append(
    el("h1", { id: "signin-heading", text: t("signin_heading") }),
    el("p", { text: t("signin_intro") }),
    form,
    el("h2", { text: t("signin_where_heading") }),
    el("p", { text: t("signin_where") }),
    el("pre", { class: "command" }, el("code", { text: ISSUE_COMMAND })),
    el("p", { class: "note", text: t("signin_where_more") }),
  );
}

registerPage({
  id: "signin",
  nav: "nav_signin",
  permissions: [],
  signedOut: true, // the shell lists it only while nobody is signed in
  text: TEXT,
  render,
});
