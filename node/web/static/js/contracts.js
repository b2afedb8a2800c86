// The Contracts page (docs/web.md "Contracts"): search contracts by project code, party,
// status or registration date; a contract's parties by name and CA, its timeline (each
// signature with its certificate's subject and issuer; a signature of the contract's PDF
// with its revision and CMS digests and its seal, warned about when the seal was not the
// signer's approved one or has been revoked), linked evidence, and its sealed document
// opened here with the party's key file. Every fact comes from the REST API
// (docs/rest.md), which decides what this session's role may see; the key file and the
// plaintext never leave the browser.
import {
  ApiError, addressCell, api, dataTable, el, fill, fmtTime, hashQuery, hexCell, namesOf, navigate, registerPage, session, showError, t,
} from "ledger/console.js";
import { fromHex } from "ledger/bytes.js";
import { EnvelopeError, MAX_ENVELOPE_BYTES, MAX_KEY_FILE_BYTES, digestOf, openEnvelope, readPrivateKey } from "ledger/envelope.js";

const STATUSES = ["Pending", "Effective", "Superseded", "Voided"];
// Rows per request: a screenful; "More" asks for the next page.
const PAGE_SIZE = 25;
// A text preview of the opened document stops here; the download has all of it.
const PREVIEW_CHARS = 20_000;
// A sealed-record file (the CLI's NAME.sealed.json, the SDK's sealed.json) is a few KB.
const MAX_RECORD_BYTES = 1024 * 1024;
const HEX64 = /^(0x)?[0-9a-fA-F]{64}$/;

const TEXT = {
  en: {
    nav_contracts: "Contracts", contracts_title: "Contracts", c_project: "Project code", c_party: "Party (address)",
    c_status: "Status", c_since: "Registered from", c_until: "Registered until", c_any: "any", c_search: "Search",
    c_one_index: "Search by one of: project code, party, status, or a registration date range — the API answers one index per query (docs/rest.md).",
    c_own_only: "Your role sees only the contracts your address is a party to; search filters are not available to it.",
    c_parties: "Parties", c_registered: "Registered", c_id: "Contract id", c_version: "Version",
    Pending: "Pending", Effective: "Effective", Superseded: "Superseded", Voided: "Voided",
    c_back: "← All contracts", c_versions: "All versions of this project", c_document_digest: "Document digest",
    c_amount: "Amount", c_registrar: "Registered by", c_previous: "Amends", c_superseded_by: "Superseded by",
    c_name: "Name", c_org: "Organisation", c_address: "Address", c_issuer: "Issuing CA", c_root: "Root CA",
    c_signed: "Signed", c_not_signed: "not yet", c_no_certificate: "no certificate (genesis member)",
    c_timeline: "Timeline", c_when: "When", c_event: "Event", c_detail: "Detail", c_tx: "Transaction",
    ev_ContractRegistered: "Registered", ev_ContractSigned: "Signed", ev_ContractEffective: "Effective",
    ev_ContractSuperseded: "Superseded", ev_VoidRequested: "Void requested", ev_ContractVoided: "Voided",
    c_signed_by: "by", c_certificate: "certificate", c_issued_by: "issued by", c_version_n: "version",
    c_by_regulator: "by a regulator", c_by_parties: "at every party's request",
    c_evidence: "Linked evidence", c_evidence_how: "Evidence anchored with this contract's document digest, or filed under its project code as case reference.",
    c_evidence_denied: "Your role may not see evidence (no evidence:read).", c_kind: "Kind", c_case: "Case / project",
    c_digest: "Digest", c_anchored: "Anchored", c_match_doc: "the document",
    c_document: "The document", c_document_how: "The trading centre stores a contract's document as a sealed envelope in the node's blob store (docs/envelopes.md); its name is in the sealed record the CLI or SDK wrote (NAME.sealed.json or sealed.json). Choose that record or paste the envelope's SHA-256, and your private key file (PEM). The key never leaves this browser: the envelope is opened here.",
    c_envelope: "Envelope (SHA-256 of the sealed blob)", c_record: "…or its sealed record (JSON)", c_key: "Your private key (PEM)",
    c_open: "Open the document", c_opening: "Opening…", c_no_envelope: "Give the envelope's SHA-256 or its sealed record.",
    c_no_key: "Choose your private key file.", c_matches: "✓ Its digest matches the contract's document digest.",
    c_mismatch: "✗ Its digest does NOT match the contract's document digest:", c_download: "Download", c_preview: "Preview",
    c_blob_denied: "Your role may not fetch sealed documents (no blobs:read).", c_no_blob: "The node holds no blob with that name.",
    c_blob_changed: "The blob's bytes do not hash to its name.", c_too_large: "Too large:",
    c_record_bad: "Not a sealed record: expected {\"sha256\": …} or {\"file name\": \"sha256\", …}.",
    c_binary: "Not text: download it to view it.", c_bound: "bound to", c_aad_contract: "this contract's id", c_aad_none: "no associated data",
    c_opened: "Opened:", c_bytes: "bytes",
    ev_ContractPdfSigned: "PDF signed",
    c_pdf_sequence: "signature #{n}", c_revision: "revision (SHA-256)", c_cms: "CMS (SHA-256)",
    seal_Proposed: "awaiting approval", seal_Approved: "approved", seal_Revoked: "revoked",
    c_seal_unknown: "unknown seal", c_seal_warning: "Warning:", c_seal_notice: "Notice:",
    c_seal_not_signers: "this seal is not the signer's, or not bound to the certificate the signature was made with.",
    c_seal_not_approved: "this seal was not approved when the signature was made.",
    c_seal_revoked_before: "this seal had been revoked before the signature was made.",
    c_seal_unregistered: "no seal with this id is registered on the chain.",
    c_seal_revoked_since: "this seal was revoked after the signature, at {time} (block {block}): the signature stands; the chain refuses later signatures with it.",
  },
  zh: {
    nav_contracts: "合同", contracts_title: "合同", c_project: "项目编号", c_party: "当事方（地址）",
    c_status: "状态", c_since: "登记起始日", c_until: "登记截止日", c_any: "不限", c_search: "查询",
    c_one_index: "每次只能按一项查询：项目编号、当事方、状态或登记日期范围——接口每次查询只使用一个索引（docs/rest.md）。",
    c_own_only: "您的角色只能看到本地址作为当事方的合同，不能使用查询条件。",
    c_parties: "当事方", c_registered: "登记时间", c_id: "合同编号", c_version: "版本",
    Pending: "待签署", Effective: "已生效", Superseded: "已被取代", Voided: "已作废",
    c_back: "← 全部合同", c_versions: "该项目的全部版本", c_document_digest: "文件摘要",
    c_amount: "金额", c_registrar: "登记方", c_previous: "修订自", c_superseded_by: "被取代于",
    c_name: "名称", c_org: "单位", c_address: "地址", c_issuer: "签发机构", c_root: "根证书机构",
    c_signed: "签署", c_not_signed: "尚未签署", c_no_certificate: "无证书（创世成员）",
    c_timeline: "时间线", c_when: "时间", c_event: "事件", c_detail: "详情", c_tx: "交易",
    ev_ContractRegistered: "登记", ev_ContractSigned: "签署", ev_ContractEffective: "生效",
    ev_ContractSuperseded: "被取代", ev_VoidRequested: "申请作废", ev_ContractVoided: "作废",
    c_signed_by: "签署方", c_certificate: "证书", c_issued_by: "签发机构", c_version_n: "版本",
    c_by_regulator: "由监管方作废", c_by_parties: "经全部当事方申请",
    c_evidence: "关联存证", c_evidence_how: "以本合同文件摘要存证的记录，或以其项目编号为案件编号的存证。",
    c_evidence_denied: "您的角色无权查看存证（无 evidence:read 权限）。", c_kind: "类型", c_case: "案件/项目",
    c_digest: "摘要", c_anchored: "存证时间", c_match_doc: "本合同文件",
    c_document: "合同文件", c_document_how: "交易中心将合同文件以密封信封形式存于节点的数据块存储（docs/envelopes.md）；其名称记录在命令行或 SDK 写出的密封记录中（NAME.sealed.json 或 sealed.json）。请选择该记录或粘贴信封的 SHA-256，并选择您的私钥文件（PEM）。私钥不会离开本浏览器：信封在此解封。",
    c_envelope: "信封（密封数据块的 SHA-256）", c_record: "…或其密封记录（JSON）", c_key: "您的私钥（PEM）",
    c_open: "打开文件", c_opening: "正在打开…", c_no_envelope: "请给出信封的 SHA-256 或其密封记录。",
    c_no_key: "请选择您的私钥文件。", c_matches: "✓ 文件摘要与合同登记的文件摘要一致。",
    c_mismatch: "✗ 文件摘要与合同登记的文件摘要不一致：", c_download: "下载", c_preview: "预览",
    c_blob_denied: "您的角色无权获取密封文件（无 blobs:read 权限）。", c_no_blob: "节点上没有该名称的数据块。",
    c_blob_changed: "数据块内容与其名称（哈希）不符。", c_too_large: "过大：",
    c_record_bad: "不是密封记录：应为 {\"sha256\": …} 或 {\"文件名\": \"sha256\", …}。",
    c_binary: "不是文本：请下载后查看。", c_bound: "绑定于", c_aad_contract: "本合同编号", c_aad_none: "无关联数据",
    c_opened: "已打开：", c_bytes: "字节",
    ev_ContractPdfSigned: "PDF 签章",
    c_pdf_sequence: "第 {n} 个签章", c_revision: "修订版本（SHA-256）", c_cms: "CMS 签名（SHA-256）",
    seal_Proposed: "待批准", seal_Approved: "已批准", seal_Revoked: "已撤销",
    c_seal_unknown: "未知印章", c_seal_warning: "警告：", c_seal_notice: "提示：",
    c_seal_not_signers: "此印章不属于签署方，或未绑定到签署所用的证书。",
    c_seal_not_approved: "签署时此印章尚未获批准。",
    c_seal_revoked_before: "签署前此印章已被撤销。",
    c_seal_unregistered: "链上没有登记此编号的印章。",
    c_seal_revoked_since: "此印章在签署之后于 {time}（区块 {block}）被撤销：该签章仍然有效；链上拒绝此后用它的签章。",
  },
};

const may = (permission) => (session()?.permissions ?? []).includes(permission);
const statusText = (status) => el("span", { class: `status status-${String(status).toLowerCase()}`, text: t(status) });
const txCell = (hash) => hexCell(hash, hash ? `#chain/tx/${hash}` : undefined);
const contractLink = (id, text) => el("a", { href: `#contracts/${id}`, text });

// -- names ---------------------------------------------------------------------------------

function partyCell(address, names) {
  const entry = names.get(address.toLowerCase());
  const label = entry?.name ? (entry.organization && entry.organization !== entry.name ? `${entry.name} (${entry.organization})` : entry.name) : null;
  return addressCell(address, label);
}

// -- the search ----------------------------------------------------------------------------

function searchForm(query, ownOnly) {
  const input = (name, label, attrs = {}) => el("label", {}, t(label), el("input", { name, value: query.get(name) ?? "", ...attrs }));
  const status = el("select", { name: "status" }, el("option", { value: "", text: t("c_any") }),
    ...STATUSES.map((s) => el("option", { value: s, text: t(s), selected: query.get("status") === s })));
  const form = el("form", { class: "filters", id: "contract-search", role: "search" },
    input("project", "c_project", { maxlength: "64" }),
    input("party", "c_party", { pattern: "(0x)?[0-9a-fA-F]{40}", size: "44" }),
    el("label", {}, t("c_status"), status),
    input("since", "c_since", { type: "date" }),
    input("until", "c_until", { type: "date" }),
    el("button", { type: "submit", text: t("c_search") }));
  if (ownOnly) for (const field of form.querySelectorAll("input, select")) field.disabled = true;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (String(value).trim()) params.set(key, String(value).trim());
    navigate(`#contracts${params.size ? `?${params}` : ""}`);
  });
  return form;
}

async function renderList(root) {
  const query = hashQuery();
  const ownOnly = !may("contracts:read") && may("contracts:read-own");
  root.append(el("h1", { text: t("contracts_title") }), searchForm(query, ownOnly));
  if (ownOnly) root.append(el("p", { class: "note", text: t("c_own_only") }));
  const chosen = ["project", "party", "status"].filter((k) => query.get(k));
  const dated = query.get("since") || query.get("until");
  if (chosen.length > 1 || (chosen.length && dated)) {
    root.append(el("p", { class: "error", role: "alert", id: "one-index", text: t("c_one_index") }));
    return;
  }
  const filters = ownOnly ? {} : Object.fromEntries(["project", "party", "status", "since", "until"].map((k) => [k, query.get(k)]));
  const results = el("div", { id: "contract-results" });
  root.append(results);
  const rows = [];
  let next = null;
  const more = el("button", { type: "button", id: "more", text: t("more"), hidden: true });
  const draw = async (after) => {
    const page = await api.get("/v1/contracts", { ...filters, limit: PAGE_SIZE, after, order: "desc" });
    rows.push(...page.items);
    next = page.next;
    const names = await namesOf(rows.flatMap((c) => c.parties));
    results.replaceChildren(dataTable([
      { key: "projectCode", label: "c_project", render: (c) => contractLink(c.id, `${c.projectCode} · v${c.version}`) },
      { key: "status", label: "c_status", render: (c) => statusText(c.status) },
      { key: "parties", label: "c_parties", render: (c) => el("span", { class: "parties" }, ...c.parties.map((p) => partyCell(p, names))) },
      { key: "registered", label: "c_registered", render: (c) => fmtTime(c.registered.time) },
      { key: "id", label: "c_id", render: (c) => hexCell(c.id, `#contracts/${c.id}`) },
    ], rows));
    more.hidden = next === null;
  };
  more.addEventListener("click", async () => {
    more.disabled = true;
    try { await draw(next); } catch (error) { showError(results, error); } finally { more.disabled = false; }
  });
  root.append(more);
  await draw(undefined);
}

// -- one contract ----------------------------------------------------------------------------

function facts(record, names) {
  const row = (label, value) => [el("dt", { text: t(label) }), el("dd", {}, value)];
  return el("dl", { class: "contract-facts" },
    row("c_status", statusText(record.status)),
    row("c_version", String(record.version)),
    row("c_document_digest", el("span", {}, hexCell(record.docDigest), ` ${record.digestAlgorithm}`)),
    row("c_amount", String(record.amount)),
    row("c_registrar", partyCell(record.registrar, names)),
    row("c_registered", fmtTime(record.registered.time)),
    record.previous ? row("c_previous", contractLink(record.previous, record.previous.slice(0, 10) + "…")) : [],
    record.supersededBy ? row("c_superseded_by", contractLink(record.supersededBy, record.supersededBy.slice(0, 10) + "…")) : [],
    row("c_versions", el("a", { href: `#contracts?project=${encodeURIComponent(record.projectCode)}`, text: record.projectCode })),
  );
}

const caName = (n) => (n ? [n.name, n.organization].filter(Boolean).join(" · ") || n.subject || "—" : "—");

// -- seals -----------------------------------------------------------------------------------

/** What is wrong with a PDF signature's seal, from the node's flags
 *  (GET /v1/contracts/{id}/parties): [level, words], most serious first. An error for a
 *  seal that was not the signer's approved one when it signed; a notice for one revoked
 *  since (the signature stands). */
function sealProblems(s) {
  const problems = [];
  if (s.sealStatusAtSigning === "unregistered") problems.push(["error", t("c_seal_unregistered")]);
  else if (s.sealStatusAtSigning === "revoked-before-signing") problems.push(["error", t("c_seal_revoked_before")]);
  else if (s.sealStatusAtSigning === "not-yet-approved") problems.push(["error", t("c_seal_not_approved")]);
  if (s.sealMatchesSigner === false && s.sealStatusAtSigning !== "unregistered") problems.push(["error", t("c_seal_not_signers")]);
  if (s.sealRevokedSince) {
    problems.push(["notice", fill(t("c_seal_revoked_since"), { time: fmtTime(s.sealRevokedSince.time), block: s.sealRevokedSince.block })]);
  }
  return problems;
}

/** A PDF signature's seal: its name, short id with copy, its status now as a badge, and
 *  each problem as a visible warning (text and colour). */
function sealCell(s) {
  const seal = s.seal;
  const status = seal ? el("span", { class: `seal-status seal-${seal.status.toLowerCase()}`, "data-status": seal.status, text: t(`seal_${seal.status}`) })
    : el("span", { class: "seal-status seal-unknown", text: t("c_seal_unknown") });
  const problems = sealProblems(s);
  const box = el("div", { class: "seal", "data-seal": s.pdf.seal, "data-problems": problems.map(([level]) => level).join(" ") || "none" },
    el("span", { class: "seal-head" }, seal ? el("strong", { class: "seal-name", text: seal.name }) : "",
      " ", hexCell(s.pdf.seal, `#chain/seals/${s.pdf.seal}`), " ", status));
  for (const [level, words] of problems) {
    box.append(el("p", { class: `seal-warning ${level}`, role: level === "error" ? "alert" : "status" },
      el("strong", { text: t(level === "error" ? "c_seal_warning" : "c_seal_notice") }), " ", words));
  }
  return box;
}

/** A PDF signature's digests: which signature it was, the revision it produced, its CMS. */
function pdfDigests(pdf) {
  return el("span", { class: "pdf-digests" }, `${fill(t("c_pdf_sequence"), { n: pdf.sequence })} · ${t("c_revision")} `, hexCell(pdf.revisionDigest),
    ` · ${t("c_cms")} `, hexCell(pdf.cmsDigest));
}

function partiesTable(view, record) {
  const signedBy = new Map(view.signatures.map((s) => [s.signer.toLowerCase(), s]));
  return dataTable([
    { key: "name", label: "c_name", render: (p) => p.name ?? "—" },
    { key: "organization", label: "c_org", render: (p) => p.organization ?? "—" },
    { key: "address", label: "c_address", render: (p) => hexCell(p.address) },
    { key: "issuer", label: "c_issuer", render: (p) => (p.certificate ? caName(p.certificate.issuer) : t("c_no_certificate")) },
    { key: "root", label: "c_root", render: (p) => (p.certificate ? caName(p.certificate.root) : "—") },
    { key: "signed", label: "c_signed", render: (p) => {
      const s = signedBy.get(p.address.toLowerCase());
      if (!s) return t("c_not_signed");
      // a signature of the contract's PDF: the seal it shows, under its time
      return s.pdf ? el("div", { class: "signed-pdf" }, el("span", { text: fmtTime(s.time) }), sealCell(s)) : fmtTime(s.time);
    } },
  ], view.parties);
}

function eventDetail(event, names, signatures, signers) {
  const a = event.args;
  switch (event.event) {
    case "ContractRegistered":
      return el("span", {}, `${t("c_version_n")} ${a.version} · `, partyCell(a.registrar ?? "", names),
        a.previous && !/^0x0+$/.test(a.previous) ? el("span", {}, ` · ${t("c_previous")} `, contractLink(a.previous, a.previous.slice(0, 10) + "…")) : "");
    case "ContractSigned": {
      const s = signatures.get(event.cursor);
      const cert = s?.certificate;
      return el("span", { class: "wrap" }, `${t("c_signed_by")} `, partyCell(a.signer, names),
        cert ? el("span", { class: "certificate" }, ` · ${t("c_certificate")}: ${cert.subject} · ${t("c_issued_by")}: ${cert.issuer.subject}`) : "");
    }
    case "ContractPdfSigned": {
      const s = signers.get(a.signer.toLowerCase());
      return el("div", { class: "pdf-signed" }, el("span", {}, `${t("c_signed_by")} `, partyCell(a.signer, names)),
        pdfDigests(a), s ? sealCell(s) : hexCell(a.seal));
    }
    case "ContractSuperseded":
      return el("span", {}, `${t("c_superseded_by")} `, contractLink(a.by, a.by.slice(0, 10) + "…"));
    case "VoidRequested":
      return el("span", {}, partyCell(a.party, names));
    case "ContractVoided":
      return el("span", {}, partyCell(a.by, names), ` · ${a.byRegulator ? t("c_by_regulator") : t("c_by_parties")}`);
    default:
      return "";
  }
}

async function timeline(record, view, names) {
  const events = [];
  let after;
  do {
    const page = await api.get(`/v1/contracts/${record.id}/events`, { after });
    events.push(...page.items);
    after = page.next;
  } while (after);
  const signatures = new Map(view.signatures.map((s) => [s.cursor, s]));
  const signers = new Map(view.signatures.map((s) => [s.signer.toLowerCase(), s]));
  return dataTable([
    { key: "time", label: "c_when", render: (e) => fmtTime(e.timestamp) },
    { key: "event", label: "c_event", render: (e) => t(`ev_${e.event}`) },
    { key: "detail", label: "c_detail", render: (e) => eventDetail(e, names, signatures, signers) },
    { key: "transactionHash", label: "c_tx", render: (e) => txCell(e.transactionHash) },
  ], events);
}

async function evidenceSection(record) {
  const section = el("section", { id: "contract-evidence", "aria-labelledby": "evidence-title" },
    el("h2", { id: "evidence-title", text: t("c_evidence") }), el("p", { class: "note", text: t("c_evidence_how") }));
  if (!may("evidence:read")) {
    section.append(el("p", { class: "note", id: "evidence-denied", text: t("c_evidence_denied") }));
    return section;
  }
  try {
    const [byDigest, byCase] = await Promise.all([
      api.get("/v1/evidence", { digest: record.docDigest }),
      api.get("/v1/evidence", { case: record.projectCode }),
    ]);
    const seen = new Set();
    const rows = [...byDigest.items, ...byCase.items].filter((e) => {
      const key = `${e.anchored.cursor}|${e.digest}`;
      return seen.has(key) ? false : (seen.add(key), true);
    });
    section.append(dataTable([
      { key: "kind", label: "c_kind" },
      { key: "caseRef", label: "c_case", render: (e) => e.caseRef || "—" },
      { key: "digest", label: "c_digest", render: (e) => el("span", {}, hexCell(e.digest),
        e.digest.toLowerCase() === record.docDigest.toLowerCase() ? ` (${t("c_match_doc")})` : "") },
      { key: "anchored", label: "c_anchored", render: (e) => fmtTime(e.anchored.time) },
      { key: "transactionHash", label: "c_tx", render: (e) => txCell(e.anchored.transactionHash) },
    ], rows));
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) section.append(el("p", { class: "note", id: "evidence-denied", text: t("c_evidence_denied") }));
    else showError(section, error);
  }
  return section;
}

// -- the sealed document ---------------------------------------------------------------------

/** Envelope names from a sealed record: the CLI's {"sha256": …} or the SDK's {name: sha256}. */
function envelopesOfRecord(text) {
  let record;
  try { record = JSON.parse(text); } catch { throw new Error(t("c_record_bad")); }
  const names = [];
  if (record && typeof record === "object" && typeof record.sha256 === "string") names.push(record.sha256);
  else if (record && typeof record === "object") for (const value of Object.values(record)) if (typeof value === "string") names.push(value);
  const good = names.filter((n) => HEX64.test(n)).map((n) => n.replace(/^0x/, "").toLowerCase());
  if (good.length === 0) throw new Error(t("c_record_bad"));
  return good;
}

async function readLimited(file, cap) {
  if (file.size > cap) throw new Error(`${t("c_too_large")} ${file.name} (${file.size} ${t("c_bytes")})`);
  return file;
}

async function fetchEnvelope(name) {
  // GET needs no CSRF token; the session cookie (or no auth on a dev node) admits it.
  const answer = await fetch(`/v1/blobs/${name}`, { credentials: "same-origin", cache: "no-store" });
  if (answer.status === 403) throw new Error(t("c_blob_denied"));
  if (answer.status === 404) throw new Error(`${t("c_no_blob")} ${name}`);
  if (!answer.ok) throw new ApiError(answer.status, answer.statusText);
  if (Number(answer.headers.get("content-length") ?? 0) > MAX_ENVELOPE_BYTES) throw new Error(`${t("c_too_large")} ${name}`);
  const bytes = new Uint8Array(await answer.arrayBuffer());
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  if ([...hash].map((b) => b.toString(16).padStart(2, "0")).join("") !== name) throw new Error(t("c_blob_changed"));
  return bytes;
}

function documentSection(record) {
  const section = el("section", { id: "contract-document", "aria-labelledby": "document-title" },
    el("h2", { id: "document-title", text: t("c_document") }));
  if (!may("blobs:read")) {
    section.append(el("p", { class: "note", id: "document-denied", text: t("c_blob_denied") }));
    return section;
  }
  const envelope = el("input", { id: "envelope-name", name: "envelope", size: "66", pattern: "(0x)?[0-9a-fA-F]{64}", autocomplete: "off" });
  const recordFile = el("input", { id: "envelope-record", type: "file", accept: ".json,application/json" });
  const keyFile = el("input", { id: "key-file", type: "file", accept: ".pem,.key,application/x-pem-file" });
  const result = el("div", { id: "document-result", "aria-live": "polite" });
  const open = el("button", { type: "submit", id: "open-document", text: t("c_open") });
  const form = el("form", { class: "document-form" },
    el("p", { class: "note", text: t("c_document_how") }),
    el("label", { for: "envelope-name", text: t("c_envelope") }), envelope,
    el("label", { for: "envelope-record", text: t("c_record") }), recordFile,
    el("label", { for: "key-file", text: t("c_key") }), keyFile, open);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    result.replaceChildren(el("p", { class: "note", text: t("c_opening") }));
    delete result.dataset.match;
    open.disabled = true;
    try {
      await openDocument(record, envelope.value.trim(), recordFile.files[0], keyFile.files[0], result);
    } catch (error) {
      result.replaceChildren();
      result.dataset.match = "error";
      const message = error instanceof EnvelopeError ? `${error.step}: ${error.message}` : error.message;
      result.append(el("p", { class: "error", role: "alert", text: message }));
    } finally {
      open.disabled = false;
    }
  });
  section.append(form, result);
  return section;
}

async function openDocument(record, typed, recordFile, keyFile, result) {
  let names;
  if (typed) {
    if (!HEX64.test(typed)) throw new Error(t("c_no_envelope"));
    names = [typed.replace(/^0x/, "").toLowerCase()];
  } else if (recordFile) {
    names = envelopesOfRecord(await (await readLimited(recordFile, MAX_RECORD_BYTES)).text());
  } else {
    throw new Error(t("c_no_envelope"));
  }
  if (!keyFile) throw new Error(t("c_no_key"));
  const key = await readPrivateKey(await (await readLimited(keyFile, MAX_KEY_FILE_BYTES)).text());
  // The SDK binds a contract's envelope to its id (docs/sdk.md §5); the CLI's --encrypt-to
  // uses none. A record may list several documents: the contract's is the one whose
  // plaintext has its document digest.
  const aads = [fromHex(record.id.slice(2)), new Uint8Array(0)];
  let opened = null;
  let lastError = null;
  for (const name of names) {
    try {
      const candidate = await openEnvelope(await fetchEnvelope(name), key, aads);
      const digest = await digestOf(candidate.content, record.digestAlgorithm);
      opened = { ...candidate, name, digest };
      if (digest.toLowerCase() === record.docDigest.toLowerCase()) break;
    } catch (error) {
      lastError = error;
    }
  }
  if (!opened) throw lastError ?? new Error(t("c_no_envelope"));
  showOpened(record, opened, result);
}

function showOpened(record, opened, result) {
  const matches = opened.digest.toLowerCase() === record.docDigest.toLowerCase();
  result.replaceChildren();
  result.dataset.match = matches ? "true" : "false";
  result.append(
    el("p", { class: matches ? "verdict valid" : "verdict invalid", id: "digest-verdict", text: matches ? t("c_matches") : t("c_mismatch") }),
    el("p", {}, `${t("c_opened")} `, hexCell(opened.name), ` · ${opened.content.length} ${t("c_bytes")} · ${t("c_bound")} `,
      opened.aad.length ? t("c_aad_contract") : t("c_aad_none"), " · ", hexCell(opened.digest)),
  );
  const blob = new Blob([opened.content], { type: "application/octet-stream" });
  const link = el("a", { href: URL.createObjectURL(blob), download: `${record.projectCode}-v${record.version}.bin`, id: "download-document", text: t("c_download") });
  result.append(el("p", {}, link));
  let text = null;
  try { text = new TextDecoder("utf-8", { fatal: true }).decode(opened.content); } catch { text = null; }
  if (text !== null && !/[\u0000-\u0008\u000e-\u001f]/.test(text)) {
    result.append(el("h3", { text: t("c_preview") }), el("pre", { id: "document-preview", class: "preview", text: text.slice(0, PREVIEW_CHARS) }));
  } else {
    result.append(el("p", { class: "note", text: t("c_binary") }));
  }
}

async function renderContract(root, id) {
  root.append(el("p", {}, el("a", { href: "#contracts", text: t("c_back") })));
  const key = encodeURIComponent(id);  // from the address bar: never a path of its own
  const [record, view] = await Promise.all([api.get(`/v1/contracts/${key}`), api.get(`/v1/contracts/${key}/parties`)]);
  const names = new Map(view.names.map((n) => [n.address.toLowerCase(), n]));
  root.append(
    el("h1", {}, `${record.projectCode} · v${record.version} `, statusText(record.status)),
    el("p", {}, hexCell(record.id)),
    facts(record, names),
    el("h2", { text: t("c_parties") }), el("div", { id: "contract-parties" }, partiesTable(view, record)),
    el("h2", { text: t("c_timeline") }), el("div", { id: "contract-timeline" }, await timeline(record, view, names)),
    await evidenceSection(record),
    documentSection(record),
  );
}

registerPage({
  id: "contracts",
  nav: "nav_contracts",
  permissions: ["contracts:read", "contracts:read-own"],
  text: TEXT,
  render: async (root, path) => {
    const id = path[0];
    if (id) await renderContract(root, id);
    else await renderList(root);
  },
});
