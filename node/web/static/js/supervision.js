// The supervision page (regulators): the commitments dashboard — "712 commitments, 98 alerts,
// 84 supervisions" — counts by status in all, per responsible unit and per person (the
// obligor), the overdue lists, alerts and fulfilments per day as a chart, the live feed of
// commitment events, and the CSV export. Every number is the node's answer
// (/v1/commitments/counts, /activity, /v1/commitments, /v1/feed): the page counts nothing.
import { registerPage, api, t, el, fill, fmtTime, addressCell, dataTable, onLeave, showError, lang, namesOf, displayName } from "ledger/console.js";

const STATUSES = ["on track", "reminder", "warning", "demand", "fulfilled"];
const LEVELS = ["reminder", "warning", "demand"];
const PAGE = 20;            // rows of a list before "More"
const CHART_DAYS = 30;      // the chart's default span
const FEED_SHOWN = 50;      // live events kept on screen, newest first
const FEED_EVENTS = ["CommitmentAdded", "FulfilmentReported", "FulfilmentConfirmed", "CommitmentAlert", "PolicySet"];
const DAY = 86400;

const TEXT = {
  en: {
    nav_supervision: "Supervision", sv_title: "Commitments supervision",
    sv_headline_commitments: "commitments", sv_headline_alerts: "alerts", sv_headline_supervisions: "supervisions",
    sv_at: "Statuses at the head block's time", sv_policy: "Policy: reminder {r} days before the deadline, demand {d} days after it",
    "sv_on track": "On track", sv_reminder: "Reminder", sv_warning: "Warning", sv_demand: "Demand", sv_fulfilled: "Fulfilled",
    sv_total: "Total", sv_alerts: "Alerts now", sv_supervisions: "Supervisions now", sv_raised: "Alerts raised",
    sv_demands_raised: "Demands raised", sv_by_status: "By status", sv_by_unit: "By responsible unit", sv_by_person: "By person (obligor)",
    sv_unit: "Responsible unit", sv_person: "Obligor", sv_overdue_demand: "Overdue 30 days and more: demands",
    sv_overdue_warning: "Overdue: warnings", sv_id: "No.", sv_clause: "Clause", sv_deadline: "Deadline", sv_overdue_for: "Overdue",
    sv_days: "{n} days", sv_raised_level: "Raised", sv_chart: "Alerts raised per day", sv_chart_days: "Days shown",
    sv_chart_summary: "Alerts raised per UTC day over the last {n} days: {r} reminders, {w} warnings, {d} demands; open at the end: {o}.",
    sv_chart_table: "The chart's numbers", sv_date: "Day (UTC)", sv_added: "Added", sv_open: "Open at day's end",
    sv_feed: "Live feed", sv_feed_waiting: "Waiting for new commitment events…", sv_feed_live: "Live",
    sv_feed_reconnecting: "Reconnecting…", sv_export: "Export to CSV", sv_export_filter: "Which commitments",
    sv_all: "All", sv_export_note: "Dates in ISO 8601 with your UTC offset; opens in Excel with Chinese intact.",
    sv_event_CommitmentAdded: "added", sv_event_FulfilmentReported: "fulfilment reported", sv_event_FulfilmentConfirmed: "fulfilled",
    sv_event_CommitmentAlert: "alert", sv_event_PolicySet: "policy changed", sv_commitment: "Commitment",
    sv_escalated: "escalated to supervision",
  },
  zh: {
    nav_supervision: "履约监管", sv_title: "承诺履约监管",
    sv_headline_commitments: "项承诺", sv_headline_alerts: "项预警", sv_headline_supervisions: "项督办",
    sv_at: "状态按最新区块时间计算", sv_policy: "规则：期限前 {r} 天提醒，逾期 {d} 天督办",
    "sv_on track": "正常", sv_reminder: "提醒", sv_warning: "预警", sv_demand: "督办", sv_fulfilled: "已履约",
    sv_total: "合计", sv_alerts: "当前预警", sv_supervisions: "当前督办", sv_raised: "已发出提醒",
    sv_demands_raised: "已发出督办", sv_by_status: "按状态", sv_by_unit: "按责任单位", sv_by_person: "按责任人（义务人）",
    sv_unit: "责任单位", sv_person: "义务人", sv_overdue_demand: "逾期 30 天及以上：督办",
    sv_overdue_warning: "已逾期：预警", sv_id: "编号", sv_clause: "条款", sv_deadline: "期限", sv_overdue_for: "逾期",
    sv_days: "{n} 天", sv_raised_level: "已发出", sv_chart: "每日发出的提醒", sv_chart_days: "显示天数",
    sv_chart_summary: "最近 {n} 个 UTC 日发出的提醒：提醒 {r} 次，预警 {w} 次，督办 {d} 次；期末未履约 {o} 项。",
    sv_chart_table: "图表数据", sv_date: "日期（UTC）", sv_added: "新增", sv_open: "日末未履约",
    sv_feed: "实时动态", sv_feed_waiting: "等待新的承诺事件…", sv_feed_live: "实时",
    sv_feed_reconnecting: "正在重新连接…", sv_export: "导出 CSV", sv_export_filter: "导出范围",
    sv_all: "全部", sv_export_note: "日期为 ISO 8601 格式并带本地时区偏移；Excel 打开中文不乱码。",
    sv_event_CommitmentAdded: "新增", sv_event_FulfilmentReported: "报告履约", sv_event_FulfilmentConfirmed: "确认履约",
    sv_event_CommitmentAlert: "提醒", sv_event_PolicySet: "规则变更", sv_commitment: "承诺",
    sv_escalated: "已转督办",
  },
};

const statusWord = (status) => t(`sv_${status}`);

/** The browser's UTC offset as +HH:MM, for the export's dates. */
function utcOffset() {
  const minutes = -new Date().getTimezoneOffset();
  const sign = minutes >= 0 ? "+" : "-";
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

function section(id, title, ...children) {
  return el("section", { id, class: "sv-block", "aria-labelledby": `${id}-title` },
    el("h3", { id: `${id}-title`, text: title }), ...children);
}

function countColumns(first) {
  return [first,
    ...STATUSES.map((s) => ({ key: s, label: `sv_${s}` })),
    { key: "total", label: "sv_total" }, { key: "alerts", label: "sv_alerts" }, { key: "alertsRaised", label: "sv_raised" }];
}

// -- headline and counts -----------------------------------------------------------------

function headline(totals) {
  const part = (key, value) => el("span", { class: `sv-count sv-${key}`, "data-count": key },
    el("strong", { text: String(value) }), " ", t(`sv_headline_${key}`));
  return el("p", { class: "sv-headline", id: "sv-headline" },
    part("commitments", totals.total), ", ", part("alerts", totals.alerts), ", ", part("supervisions", totals.supervisions));
}

function statusCards(totals) {
  return el("ul", { class: "sv-statuses", id: "sv-statuses" }, ...STATUSES.map((s) =>
    el("li", { class: `sv-status sv-${s.replace(" ", "-")}`, "data-status": s },
      el("span", { class: "sv-status-label", text: statusWord(s) }), el("strong", { text: String(totals[s]) }))));
}

/** A list with a "More" button that asks for the next page with `after`. */
async function pagedTable(holder, load, columns, decorate) {
  let after = null;
  const rows = [];
  const more = el("button", { type: "button", class: "more", text: t("more") });
  async function next() {
    more.disabled = true;
    const page = await load(after);
    if (decorate) await decorate(page.items);
    rows.push(...page.items);
    after = page.next;
    holder.replaceChildren(dataTable(columns, rows));
    if (after) { more.disabled = false; holder.append(more); }
  }
  more.addEventListener("click", () => next().catch((error) => showError(holder, error)));
  await next();
}

// -- overdue lists ----------------------------------------------------------------------

function overdueColumns(now) {
  return [
    { key: "id", label: "sv_id", render: (c) => el("a", { href: `#supervision/commitment/${c.id}`, text: `#${c.id}` }) },
    { key: "clause", label: "sv_clause" },
    { key: "responsibleUnit", label: "sv_unit" },
    { key: "obligor", label: "sv_person", render: (c) => addressCell(c.obligor, c.obligorName) },
    { key: "deadline", label: "sv_deadline", render: (c) => el("time", { datetime: new Date(c.deadline * 1000).toISOString(), text: fmtTime(c.deadline) }) },
    { key: "overdue", label: "sv_overdue_for", render: (c) => fill(t("sv_days"), { n: Math.max(0, Math.floor((now - c.deadline) / DAY)) }) },
    { key: "raised", label: "sv_raised_level", render: (c) => statusWord(c.raised) },
  ];
}

async function withNames(items) {
  const names = await namesOf(items.map((c) => c.obligor));
  for (const c of items) c.obligorName = displayName(names, c.obligor);
}

// -- the chart --------------------------------------------------------------------------

/** Alerts per day by level as stacked bars, open commitments as a line; the numbers also
 *  as a table and in the SVG's aria-label. */
function chart(days) {
  const width = 720, height = 220, pad = { left: 36, right: 36, top: 12, bottom: 28 };
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const sum = (key) => days.reduce((n, d) => n + d[key], 0);
  const label = fill(t("sv_chart_summary"), { n: days.length, r: sum("reminder"), w: sum("warning"), d: sum("demand"), o: days.at(-1)?.open ?? 0 });
  for (const [k, v] of Object.entries({ viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label, class: "sv-chart", id: "sv-chart-svg" })) svg.setAttribute(k, v);
  const node = (tag, attrs, text) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = text;
    svg.append(n);
    return n;
  };
  const plotW = width - pad.left - pad.right, plotH = height - pad.top - pad.bottom;
  const maxBar = Math.max(1, ...days.map((d) => d.reminder + d.warning + d.demand));
  const maxOpen = Math.max(1, ...days.map((d) => d.open));
  const step = plotW / Math.max(1, days.length);
  node("line", { x1: pad.left, y1: pad.top + plotH, x2: pad.left + plotW, y2: pad.top + plotH, class: "axis" });
  node("text", { x: pad.left - 4, y: pad.top + 10, "text-anchor": "end", class: "tick" }, String(maxBar));
  node("text", { x: pad.left - 4, y: pad.top + plotH, "text-anchor": "end", class: "tick" }, "0");
  node("text", { x: pad.left + plotW + 4, y: pad.top + 10, class: "tick open" }, String(maxOpen));
  days.forEach((d, i) => {
    let y = pad.top + plotH;
    for (const level of LEVELS) {
      if (!d[level]) continue;
      const h = (d[level] / maxBar) * plotH;
      y -= h;
      const bar = node("rect", { x: pad.left + i * step + step * 0.15, y, width: Math.max(1, step * 0.7), height: h, class: `bar ${level}` });
      const title = document.createElementNS(ns, "title");
      title.textContent = `${d.date} ${statusWord(level)}: ${d[level]}`;
      bar.append(title);
    }
    if (i === 0 || i === days.length - 1 || (days.length > 10 && i % Math.ceil(days.length / 6) === 0)) {
      node("text", { x: pad.left + i * step + step / 2, y: height - 8, "text-anchor": "middle", class: "tick" }, d.date.slice(5));
    }
  });
  const points = days.map((d, i) => `${pad.left + i * step + step / 2},${pad.top + plotH - (d.open / maxOpen) * plotH}`).join(" ");
  node("polyline", { points, class: "open-line" });
  const legend = el("ul", { class: "sv-legend" },
    ...LEVELS.map((l) => el("li", { class: l }, el("span", { class: "swatch", "aria-hidden": "true" }), statusWord(l))),
    el("li", { class: "open" }, el("span", { class: "swatch", "aria-hidden": "true" }), t("sv_open")));
  const table = dataTable([
    { key: "date", label: "sv_date" }, { key: "added", label: "sv_added" },
    ...LEVELS.map((l) => ({ key: l, label: `sv_${l}` })), { key: "fulfilled", label: "sv_fulfilled" }, { key: "open", label: "sv_open" },
  ], days);
  return el("figure", { class: "sv-figure" }, svg, legend,
    el("figcaption", {}, el("details", {}, el("summary", { text: t("sv_chart_table") }), table)));
}

// -- the live feed ----------------------------------------------------------------------

function feedLine(event) {
  const a = event.args;
  const what = t(`sv_event_${event.event}`);
  const level = event.event === "CommitmentAlert" ? ` · ${statusWord(["on track", ...LEVELS][a.level] ?? String(a.level))}${a.escalatedToSupervision ? ` · ${t("sv_escalated")}` : ""}` : "";
  const subject = a.id !== undefined ? `${t("sv_commitment")} #${a.id}` : "";
  const unit = a.responsibleUnit ? ` · ${a.responsibleUnit}` : "";
  return el("li", { class: `sv-event ${event.event}`, "data-event": event.event, "data-cursor": event.cursor, "data-id": a.id ?? "" },
    el("time", { datetime: new Date(event.timestamp * 1000).toISOString(), text: fmtTime(event.timestamp) }), " ",
    el("strong", { text: what }), ` ${subject}${unit}${level}`);
}

function liveFeed(list, state, height) {
  // Start after the head block the counts were read at: the feed replays from its
  // `since`, and the lists above already show what happened before.
  const source = new EventSource(`/v1/feed?topics=commitments&since=${height}-4294967295`, { withCredentials: true });
  onLeave(() => source.close());
  source.onopen = () => { state.textContent = t("sv_feed_live"); state.dataset.live = "true"; };
  source.onerror = () => { state.textContent = t("sv_feed_reconnecting"); state.dataset.live = "false"; };
  const seen = new Set();
  for (const name of FEED_EVENTS) {
    source.addEventListener(name, (message) => {
      if (seen.has(message.lastEventId)) return;
      seen.add(message.lastEventId);
      list.querySelector(".note")?.remove();
      list.prepend(feedLine(JSON.parse(message.data)));
      while (list.children.length > FEED_SHOWN) list.lastElementChild.remove();
    });
  }
}

// -- export -----------------------------------------------------------------------------

function exportForm() {
  const select = el("select", { id: "sv-export-status", name: "status" },
    el("option", { value: "", text: t("sv_all") }), ...STATUSES.map((s) => el("option", { value: s, text: statusWord(s) })));
  const link = el("a", { id: "sv-export", class: "button", download: "", href: "#", text: t("sv_export") });
  const update = () => {
    const query = new URLSearchParams({ tz: utcOffset(), lang: lang() === "zh" ? "zh" : "en" });
    if (select.value) query.set("status", select.value);
    link.href = `/v1/commitments/export.csv?${query}`;
  };
  select.addEventListener("change", update);
  update();
  return el("div", { class: "sv-export" }, el("label", { for: "sv-export-status", text: t("sv_export_filter") }), " ", select, " ", link,
    el("p", { class: "note", text: t("sv_export_note") }));
}

// -- one commitment ---------------------------------------------------------------------

async function renderCommitment(root, id) {
  const [c, events] = await Promise.all([api.get(`/v1/commitments/${encodeURIComponent(id)}`), api.get(`/v1/commitments/${encodeURIComponent(id)}/events`)]);
  const names = await namesOf([c.obligor, c.counterparty]);
  root.append(el("p", {}, el("a", { href: "#supervision", text: `← ${t("sv_title")}` })),
    el("h2", { text: `${t("sv_commitment")} #${c.id} · ${statusWord(c.status)}` }),
    el("dl", { class: "sv-record" },
      el("dt", { text: t("sv_clause") }), el("dd", { text: c.clause }),
      el("dt", { text: t("sv_unit") }), el("dd", { text: c.responsibleUnit }),
      el("dt", { text: t("sv_person") }), el("dd", {}, addressCell(c.obligor, displayName(names, c.obligor))),
      el("dt", { text: t("sv_deadline") }), el("dd", { text: fmtTime(c.deadline) }),
      el("dt", { text: t("sv_raised_level") }), el("dd", { text: statusWord(c.raised) })),
    el("ol", { class: "sv-feed" }, ...events.items.map(feedLine)));
}

// -- the page ---------------------------------------------------------------------------

async function render(root, path) {
  if (path[0] === "commitment" && path[1]) return renderCommitment(root, path[1]);
  const days = CHART_DAYS;
  const [units, activity] = await Promise.all([
    api.get("/v1/commitments/counts", { by: "unit", limit: 100 }),
    api.get("/v1/commitments/activity", { days }),
  ]);
  const totals = units.totals;
  const now = units.at;
  root.dataset.at = String(now);
  root.append(
    el("h2", { text: t("sv_title") }),
    headline(totals),
    el("p", { class: "note" }, `${t("sv_at")}: `, el("time", { datetime: new Date(now * 1000).toISOString(), text: fmtTime(now) }), " · ",
      fill(t("sv_policy"), { r: units.policy.reminderWindow / DAY, d: units.policy.demandDelay / DAY })),
    section("sv-by-status", t("sv_by_status"), statusCards(totals),
      el("p", { class: "note" }, `${t("sv_raised")}: `, el("strong", { "data-count": "alertsRaised", text: String(totals.alertsRaised) }),
        ` · ${t("sv_demands_raised")}: `, el("strong", { "data-count": "demandsRaised", text: String(totals.demandsRaised) }))),
  );
  const unitHolder = el("div", { id: "sv-units" });
  const personHolder = el("div", { id: "sv-people" });
  const demandHolder = el("div", { id: "sv-overdue-demand" });
  const warningHolder = el("div", { id: "sv-overdue-warning" });
  const feedState = el("span", { class: "sv-feed-state", id: "sv-feed-state", "data-live": "false", text: "…" });
  const feedList = el("ol", { class: "sv-feed", id: "sv-feed", "aria-live": "polite" }, el("li", { class: "note", text: t("sv_feed_waiting") }));
  root.append(
    section("sv-chart", t("sv_chart"), chart(activity.days)),
    section("sv-live", t("sv_feed"), feedState, feedList),
    section("sv-demand", t("sv_overdue_demand"), demandHolder),
    section("sv-warning", t("sv_overdue_warning"), warningHolder),
    section("sv-unit", t("sv_by_unit"), unitHolder),
    section("sv-person", t("sv_by_person"), personHolder),
    section("sv-export-block", t("sv_export"), exportForm()),
  );
  unitHolder.append(dataTable(countColumns({ key: "unit", label: "sv_unit" }), units.items));
  const people = pagedTable(personHolder, (after) => api.get("/v1/commitments/counts", { by: "obligor", limit: PAGE, after }),
    countColumns({ key: "obligor", label: "sv_person", render: (row) => addressCell(row.obligor, row.obligorName) }),
    async (items) => {
      const names = await namesOf(items.map((row) => row.obligor));
      for (const row of items) row.obligorName = displayName(names, row.obligor);
    });
  const overdue = (holder, status) => pagedTable(holder,
    (after) => api.get("/v1/commitments", { status, limit: PAGE, after }), overdueColumns(now), withNames);
  await Promise.all([people, overdue(demandHolder, "demand"), overdue(warningHolder, "warning"), liveFeed(feedList, feedState, units.height)]);
}

registerPage({
  id: "supervision",
  nav: "nav_supervision",
  permissions: ["commitments:read"],
  text: TEXT,
  render,
});
