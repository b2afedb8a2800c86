// The Chain page, for auditors: height, head and validators with their organisations,
// recent blocks paged backwards, a block, a transaction with its decoded events, members,
// trusted CA roots, the organisations' seals (SealRegistry) with each one's approvals and
// revocation, and the node's last whole-chain verification with "Verify now".
// Everything is read from /v1/ (node/rpc/rest/chain.py); what a role sees is what the API
// answers it (an event the role may not read is withheld there, and counted).
import {
  registerPage, api, t, el, fill, fmtTime, hexCell, addressCell, dataTable, session, hashQuery, navigate, namesOf, displayName, onLeave, showError,
} from "ledger/console.js";

// How often the page asks for a running verification's progress.
const POLL_MS = 1000;
const BLOCKS_PER_PAGE = 20;
const MEMBERS_PER_PAGE = 50;
// Seals a page lists: a consortium's members register one or two each; "More" pages on.
const SEALS_PER_PAGE = 50;
const SEAL_STATUSES = ["Proposed", "Approved", "Revoked"];  // chaincode.SEAL_STATUS

const text = {
  en: {
    nav_chain: "Chain", chain_title: "Chain", chain_height: "Height", chain_head: "Head block", chain_id: "Chain id",
    chain_indexed: "Indexed height", chain_validators: "Validators", chain_organisation: "Organisation",
    chain_address: "Address", chain_no_organisation: "no registered certificate", chain_blocks: "Recent blocks",
    chain_number: "Block", chain_time: "Time", chain_proposer: "Proposer", chain_txs: "Transactions",
    chain_gas: "Gas used", chain_hash: "Hash", chain_older: "Older blocks", chain_newest: "Newest blocks",
    chain_block: "Block", chain_parent: "Parent", chain_state_root: "State root", chain_tx: "Transaction",
    chain_from: "From", chain_to: "To", chain_status: "Status", chain_success: "success", chain_failed: "failed",
    chain_events: "Events", chain_event: "Event", chain_contract: "Contract", chain_args: "Details",
    chain_withheld: "{n} event(s) of this transaction are not shown: your role may not read them.",
    chain_no_events: "This transaction emitted no system-contract event.", chain_members: "Members",
    chain_roles: "Roles", chain_subject: "Certificate subject", chain_ca: "CA", chain_roots: "Trusted CA roots",
    chain_fingerprint: "Fingerprint (SHA-256)", chain_validity: "Valid", chain_key: "Key", chain_added: "Added at block",
    chain_trusted: "Trusted", chain_distrusted: "distrusted at block {n}", chain_genesis: "genesis",
    chain_more: "More", chain_verification: "Whole-chain verification", chain_verify_now: "Verify now",
    chain_never: "This node has not verified its chain yet.", chain_running: "Running: {done} of {total} blocks checked",
    chain_state_valid: "VALID", chain_state_invalid: "INVALID", chain_state_failed: "could not run",
    chain_state_interrupted: "interrupted", chain_state_running: "running", chain_started: "Started",
    chain_finished: "Finished", chain_checked_blocks: "Blocks checked", chain_by: "Requested by",
    chain_failure: "First failure", chain_message: "Verifier's message", chain_checks: "Checked",
    chain_not_checked: "Not checked here", chain_overview: "Overview", chain_tx_index: "#",
    chain_log_count: "Logs", chain_nonce: "Nonce", chain_step: "block {height}, step “{step}”",
    chain_seals: "Seals", chain_seal: "Seal", chain_seal_name: "Name", chain_seal_id: "Seal id (SHA-256 of the image)",
    chain_owner: "Owner", chain_approvals: "Approvals", chain_registered: "Registered", chain_approved: "Approved",
    chain_revoked: "Revoked", chain_any: "any", chain_filter: "Show", chain_one_filter: "Filter by owner or by status, not both: the API answers one index per query.",
    chain_pixels: "Pixel digest", chain_cert: "Certificate (SHA-256)", chain_root: "CA root (SHA-256)",
    chain_revoked_by: "revoked by", chain_reason: "Reason digest", chain_approved_by: "Approved by",
    chain_seals_how: "Each organisation's seal, registered with the certificate it signs with and usable once the admins approve it. The image is not on chain: its id is the SHA-256 of the image file, and its pixel digest is what a signed PDF's drawn seal is checked against.",
    seal_Proposed: "awaiting approval", seal_Approved: "approved", seal_Revoked: "revoked",
    chain_profile: "Crypto profile", profile_mixed: "mixed: RSA, ECDSA and SM2 certificates side by side",
    profile_gm: "gm (national, 国密): SM2 certificates with SM3withSM2 signatures only",
  },
  zh: {
    nav_chain: "区块链", chain_title: "区块链", chain_height: "区块高度", chain_head: "最新区块", chain_id: "链 ID",
    chain_indexed: "已索引高度", chain_validators: "验证节点", chain_organisation: "机构", chain_address: "地址",
    chain_no_organisation: "未登记证书", chain_blocks: "最近区块", chain_number: "区块", chain_time: "时间",
    chain_proposer: "出块节点", chain_txs: "交易数", chain_gas: "Gas 用量", chain_hash: "哈希",
    chain_older: "更早的区块", chain_newest: "最新区块", chain_block: "区块", chain_parent: "父区块",
    chain_state_root: "状态根", chain_tx: "交易", chain_from: "发送方", chain_to: "接收方", chain_status: "状态",
    chain_success: "成功", chain_failed: "失败", chain_events: "事件", chain_event: "事件", chain_contract: "合约",
    chain_args: "内容", chain_withheld: "本交易有 {n} 个事件未显示：您的角色无权查看。",
    chain_no_events: "本交易未产生系统合约事件。", chain_members: "成员", chain_roles: "角色",
    chain_subject: "证书主体", chain_ca: "CA", chain_roots: "受信任的 CA 根证书", chain_fingerprint: "指纹（SHA-256）",
    chain_validity: "有效期", chain_key: "密钥", chain_added: "加入区块", chain_trusted: "受信任",
    chain_distrusted: "已于区块 {n} 撤销信任", chain_genesis: "创世", chain_more: "更多",
    chain_verification: "全链校验", chain_verify_now: "立即校验", chain_never: "本节点尚未校验过区块链。",
    chain_running: "进行中：已校验 {done} / {total} 个区块", chain_state_valid: "有效", chain_state_invalid: "无效",
    chain_state_failed: "未能运行", chain_state_interrupted: "已中断", chain_state_running: "进行中",
    chain_started: "开始", chain_finished: "结束", chain_checked_blocks: "已校验区块", chain_by: "发起人",
    chain_failure: "首个失败", chain_message: "校验结论", chain_checks: "校验内容", chain_not_checked: "此处未校验",
    chain_overview: "概览", chain_tx_index: "序号", chain_log_count: "日志数", chain_nonce: "Nonce",
    chain_step: "区块 {height}，步骤“{step}”",
    chain_seals: "印章", chain_seal: "印章", chain_seal_name: "名称", chain_seal_id: "印章编号（图像文件的 SHA-256）",
    chain_owner: "所属成员", chain_approvals: "批准数", chain_registered: "登记", chain_approved: "批准",
    chain_revoked: "撤销", chain_any: "不限", chain_filter: "显示", chain_one_filter: "请按所属成员或状态之一筛选，不能同时使用：接口每次查询只使用一个索引。",
    chain_pixels: "像素摘要", chain_cert: "证书（SHA-256）", chain_root: "CA 根证书（SHA-256）",
    chain_revoked_by: "撤销人", chain_reason: "原因摘要", chain_approved_by: "批准人",
    chain_seals_how: "各机构的印章：以其签名所用的证书登记，经管理员批准后方可使用。图像本身不上链：印章编号是图像文件的 SHA-256，像素摘要用于核对已签 PDF 中所绘印章。",
    seal_Proposed: "待批准", seal_Approved: "已批准", seal_Revoked: "已撤销",
    chain_profile: "密码算法配置", profile_mixed: "混合：RSA、ECDSA 与 SM2 证书并用",
    profile_gm: "国密（gm）：仅限 SM2 证书与 SM3withSM2 签名",
  },
};

function party(p) {
  if (!p) return "—";
  return addressCell(p.address, p.organisation, undefined);
}

function recipient(to) {
  if (!to) return "—";
  return addressCell(to.address, to.name, undefined);
}

// The chain's crypto profile (fixed in genesis), in words; a name this page does not know
// (a newer node's) is shown as the node gives it.
function profileText(name) {
  const key = `profile_${name}`;
  return el("span", { "data-profile": String(name), text: t(key) === key ? String(name) : t(key) });
}

function facts(pairs) {
  const dl = el("dl", { class: "facts" });
  for (const [label, value, id] of pairs) dl.append(el("dt", { text: t(label) }), el("dd", { id }, value));
  return dl;
}

function tabs(active) {
  const links = [["", "chain_overview"], ["members", "chain_members"], ["roots", "chain_roots"], ["seals", "chain_seals"]];
  return el("nav", { class: "chain-tabs", "aria-label": t("chain_title") },
    ...links.map(([path, label]) => el("a", { href: path ? `#chain/${path}` : "#chain", text: t(label),
      "aria-current": path === active ? "page" : undefined })));
}

// -- overview -------------------------------------------------------------------------------

async function overview(root) {
  const query = hashQuery();
  const before = query.get("before") ?? undefined;
  const [summary, validators, blocks] = await Promise.all([
    api.get("/v1/summary"), api.get("/v1/validators"),
    api.get("/v1/blocks", { limit: BLOCKS_PER_PAGE, before }),
  ]);
  root.append(el("h2", { text: t("chain_title") }), tabs(""), facts([
    ["chain_height", String(summary.height), "chain-height"],
    ["chain_head", hexCell(summary.head, `#chain/block/${summary.height}`), "chain-head"],
    ["chain_id", String(summary.chainId), "chain-id"],
    ["chain_profile", profileText(summary.cryptoProfile), "chain-profile"],
    ["chain_indexed", String(summary.indexedHeight), "chain-indexed"],
  ]));
  root.append(el("h3", { text: t("chain_validators") }), el("div", { id: "validators" }, dataTable([
    { key: "organisation", label: "chain_organisation",
      render: (v) => v.organisation ?? el("span", { class: "note", text: t("chain_no_organisation") }) },
    { key: "address", label: "chain_address", render: (v) => hexCell(v.address) },
    { key: "subject", label: "chain_subject", render: (v) => v.subject ?? "—" },
  ], validators.items)));
  const verification = el("section", { id: "verification", "aria-live": "polite" });
  root.append(verification);
  await drawVerification(verification);
  root.append(el("h3", { text: t("chain_blocks") }), el("div", { id: "blocks" }, blockTable(blocks.items)));
  const pager = el("p", { class: "pager" });
  if (before !== undefined) pager.append(el("a", { href: "#chain", text: t("chain_newest") }), " ");
  if (blocks.next) pager.append(el("a", { href: `#chain?before=${blocks.next}`, id: "older", text: t("chain_older") }));
  root.append(pager);
}

function blockTable(items) {
  return dataTable([
    { key: "number", label: "chain_number",
      render: (b) => el("a", { href: `#chain/block/${b.number}`, text: String(b.number) }) },
    { key: "time", label: "chain_time", render: (b) => fmtTime(b.time) },
    { key: "proposer", label: "chain_proposer", render: (b) => party(b.proposer) },
    { key: "transactions", label: "chain_txs" },
    { key: "gasUsed", label: "chain_gas" },
    { key: "hash", label: "chain_hash", render: (b) => hexCell(b.hash, `#chain/block/${b.number}`) },
  ], items);
}

// -- the verification -------------------------------------------------------------------------

function mayVerify() {
  return (session()?.permissions ?? []).includes("chain:verify");
}

function runFacts(run) {
  const pairs = [
    ["chain_status", el("span", { class: `verdict ${run.state}`, text: t(`chain_state_${run.state}`) }), "verification-state"],
    ["chain_started", fmtTime(run.started)],
  ];
  if (run.finished !== null) pairs.push(["chain_finished", fmtTime(run.finished)]);
  pairs.push(["chain_checked_blocks", `${run.blocksChecked} / ${run.blocksTotal ?? "?"}`, "verification-blocks"]);
  pairs.push(["chain_by", `${run.requestedBy?.role ?? ""} · ${run.requestedBy?.subject ?? ""}`]);
  if (run.failure) pairs.push(["chain_failure", fill(t("chain_step"), run.failure)]);
  if (run.message) pairs.push(["chain_message", el("span", { class: "message", text: run.message }), "verification-message"]);
  if (run.checked) pairs.push(["chain_checks", run.checked]);
  if (run.notChecked) pairs.push(["chain_not_checked", run.notChecked]);
  return facts(pairs);
}

async function drawVerification(box) {
  const status = await api.get("/v1/chain/verifications/last");
  box.replaceChildren(el("h3", { text: t("chain_verification") }));
  const running = status.running;
  box.dataset.state = running ? "running" : (status.last?.state ?? "never");
  if (running) {
    box.append(el("p", { class: "progress", text: fill(t("chain_running"), { done: running.blocksChecked, total: running.blocksTotal ?? "?" }) }),
      el("progress", { max: String(running.blocksTotal ?? 1), value: String(running.blocksChecked) }));
  }
  if (status.last) box.append(runFacts(status.last));
  else if (!running) box.append(el("p", { class: "note", text: t("chain_never") }));
  if (mayVerify()) {
    const button = el("button", { type: "button", id: "verify-now", text: t("chain_verify_now"), disabled: running ? true : undefined });
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await api.post("/v1/chain/verifications", {});
      } catch (error) {
        if (error.status !== 409) { showError(box, error); button.disabled = false; return; }
      }
      await drawVerification(box);
    });
    box.append(button);
  }
  if (running) {
    const timer = setTimeout(() => { if (box.isConnected) drawVerification(box).catch((error) => showError(box, error)); }, POLL_MS);
    onLeave(() => clearTimeout(timer));
  }
}

// -- a block, a transaction -------------------------------------------------------------------

async function blockPage(root, number) {
  const block = await api.get(`/v1/blocks/${encodeURIComponent(number)}`);
  root.append(el("h2", { text: `${t("chain_block")} ${block.number}` }), tabs(null), facts([
    ["chain_hash", hexCell(block.hash)],
    ["chain_parent", block.number > 0 ? hexCell(block.parentHash, `#chain/block/${block.number - 1}`) : hexCell(block.parentHash)],
    ["chain_time", fmtTime(block.time)],
    ["chain_proposer", party(block.proposer)],
    ["chain_gas", `${block.gasUsed} / ${block.gasLimit}`],
    ["chain_state_root", hexCell(block.stateRoot)],
    ["chain_txs", String(block.transactionCount)],
  ]));
  const rows = [...block.transactions.items];
  const table = el("div", { id: "transactions" }, txTable(rows));
  root.append(el("h3", { text: t("chain_txs") }), table);
  let next = block.transactions.next;
  if (next) {
    const more = el("button", { type: "button", id: "more", text: t("chain_more") });
    more.addEventListener("click", async () => {
      const page = await api.get(`/v1/blocks/${block.number}`, { after: next });
      rows.push(...page.transactions.items);
      table.replaceChildren(txTable(rows));
      next = page.transactions.next;
      if (!next) more.remove();
    });
    root.append(more);
  }
}

function txTable(rows) {
  return dataTable([
    { key: "index", label: "chain_tx_index" },
    { key: "hash", label: "chain_hash", render: (r) => hexCell(r.hash, `#chain/tx/${r.hash}`) },
    { key: "from", label: "chain_from", render: (r) => party(r.from) },
    { key: "to", label: "chain_to", render: (r) => recipient(r.to) },
    { key: "status", label: "chain_status", render: (r) => statusMark(r.status) },
    { key: "gasUsed", label: "chain_gas" },
  ], rows);
}

function statusMark(status) {
  return el("span", { class: `status status-${status}`, text: t(status === "success" ? "chain_success" : "chain_failed") });
}

function argValue(value) {
  if (typeof value === "string" && /^0x[0-9a-fA-F]{40}$/.test(value)) return addressCell(value);
  if (typeof value === "string" && /^0x[0-9a-fA-F]{64,}$/.test(value)) return hexCell(value);
  if (Array.isArray(value)) return el("span", { class: "list" }, ...value.map((item) => el("span", {}, argValue(item))));
  return String(value);
}

function argList(args) {
  const dl = el("dl", { class: "args" });
  for (const [key, value] of Object.entries(args)) dl.append(el("dt", { text: key }), el("dd", {}, argValue(value)));
  return dl;
}

async function txPage(root, hash) {
  const tx = await api.get(`/v1/transactions/${encodeURIComponent(hash)}`);
  root.append(el("h2", { text: t("chain_tx") }), tabs(null), facts([
    ["chain_hash", hexCell(tx.hash), "tx-hash"],
    ["chain_block", el("a", { href: `#chain/block/${tx.block}`, text: String(tx.block) })],
    ["chain_time", fmtTime(tx.time)],
    ["chain_from", party(tx.from), "tx-from"],
    ["chain_to", recipient(tx.to), "tx-to"],
    ["chain_status", statusMark(tx.status), "tx-status"],
    ["chain_gas", String(tx.gasUsed)],
    ["chain_nonce", String(tx.nonce)],
    ["chain_log_count", String(tx.logs)],
  ]));
  root.append(el("h3", { text: t("chain_events") }));
  const events = el("div", { id: "events" });
  if (tx.events.length === 0 && tx.eventsWithheld === 0) events.append(el("p", { class: "note", text: t("chain_no_events") }));
  else {
    events.append(dataTable([
      { key: "event", label: "chain_event", render: (e) => el("strong", { text: e.event }) },
      { key: "contract", label: "chain_contract" },
      { key: "args", label: "chain_args", render: (e) => argList(e.args) },
    ], tx.events));
  }
  if (tx.eventsWithheld > 0) {
    events.append(el("p", { class: "note withheld", id: "withheld", text: fill(t("chain_withheld"), { n: tx.eventsWithheld }) }));
  }
  root.append(events);
}

// -- members, roots -------------------------------------------------------------------------

async function membersPage(root) {
  const after = hashQuery().get("after") ?? undefined;
  const page = await api.get("/v1/members", { limit: MEMBERS_PER_PAGE, after });
  root.append(el("h2", { text: t("chain_members") }), tabs("members"), el("div", { id: "members" }, dataTable([
    { key: "address", label: "chain_address", render: (m) => addressCell(m.address, m.organisation) },
    { key: "roles", label: "chain_roles", render: (m) => m.roles.join(", ") },
    { key: "subject", label: "chain_subject", render: (m) => m.subject ?? "—" },
    { key: "ca", label: "chain_ca", render: (m) => m.ca ?? (m.rootFingerprint ? hexCell(m.rootFingerprint) : "—") },
    { key: "registered", label: "chain_added",
      render: (m) => (m.registered?.block ? el("a", { href: `#chain/block/${m.registered.block}`, text: String(m.registered.block) }) : t("chain_genesis")) },
  ], page.items)));
  if (page.next) root.append(el("p", { class: "pager" }, el("a", { href: `#chain/members?after=${page.next}`, id: "next", text: t("chain_more") })));
}

async function rootsPage(root) {
  const roots = await api.get("/v1/roots");
  root.append(el("h2", { text: t("chain_roots") }), tabs("roots"), el("div", { id: "roots" }, dataTable([
    { key: "subject", label: "chain_subject", render: (r) => r.subject ?? "—" },
    { key: "fingerprint", label: "chain_fingerprint", render: (r) => hexCell(r.fingerprint) },
    { key: "validity", label: "chain_validity", render: (r) => `${fmtTime(r.notBefore)} – ${fmtTime(r.notAfter)}` },
    { key: "keyType", label: "chain_key", render: (r) => r.keyType ?? "—" },
    { key: "added", label: "chain_added",
      render: (r) => (r.added.block ? el("a", { href: `#chain/tx/${r.added.transactionHash}`, text: String(r.added.block) }) : t("chain_genesis")) },
    { key: "trusted", label: "chain_trusted",
      render: (r) => (r.trusted ? "✓" : fill(t("chain_distrusted"), { n: r.removed?.block ?? "?" })) },
  ], roots.items)));
}

// -- seals ---------------------------------------------------------------------------------

function sealStatus(seal) {
  return el("span", { class: `seal-status seal-${seal.status.toLowerCase()}`, "data-status": seal.status, text: t(`seal_${seal.status}`) });
}

function when(w) {
  return w ? el("span", {}, fmtTime(w.time), " · ", el("a", { href: `#chain/tx/${w.transactionHash}`, text: `${t("chain_block")} ${w.block}` })) : "—";
}

function sealFilters(query) {
  const status = el("select", { name: "status", id: "seal-status" }, el("option", { value: "", text: t("chain_any") }),
    ...SEAL_STATUSES.map((s) => el("option", { value: s, text: t(`seal_${s}`), selected: query.get("status") === s })));
  const owner = el("input", { name: "owner", id: "seal-owner", value: query.get("owner") ?? "", pattern: "(0x)?[0-9a-fA-F]{40}", size: "44",
    spellcheck: "false", autocomplete: "off" });
  const form = el("form", { class: "filters", id: "seal-filters", role: "search" },
    el("label", {}, t("chain_status"), status), el("label", {}, t("chain_owner"), owner),
    el("button", { type: "submit", text: t("chain_filter") }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (String(value).trim()) params.set(key, String(value).trim());
    navigate(`#chain/seals${params.size ? `?${params}` : ""}`);
  });
  return form;
}

async function sealsPage(root) {
  const query = hashQuery();
  root.append(el("h2", { text: t("chain_seals") }), tabs("seals"), el("p", { class: "note", text: t("chain_seals_how") }), sealFilters(query));
  if (query.get("owner") && query.get("status")) {
    root.append(el("p", { class: "error", role: "alert", id: "one-filter", text: t("chain_one_filter") }));
    return;
  }
  const page = await api.get("/v1/seals", { limit: SEALS_PER_PAGE, owner: query.get("owner"), status: query.get("status"),
    after: query.get("after") });
  const names = await namesOf(page.items.map((s) => s.owner));
  root.append(el("div", { id: "seals" }, dataTable([
    { key: "name", label: "chain_seal_name", render: (s) => el("a", { href: `#chain/seals/${s.seal}`, text: s.name }) },
    { key: "seal", label: "chain_seal_id", render: (s) => hexCell(s.seal) },
    { key: "owner", label: "chain_owner", render: (s) => addressCell(s.owner, displayName(names, s.owner)) },
    // the status, and since when (its approval or revocation)
    { key: "status", label: "chain_status", render: (s) => {
      const since = s.revoked ?? s.approved;
      return el("span", { class: "seal-since" }, sealStatus(s), since ? el("small", { text: fmtTime(since.time) }) : "");
    } },
    { key: "approvals", label: "chain_approvals", render: (s) => (s.quorum ? `${s.approvals} / ${s.quorum}` : String(s.approvals)) },
    { key: "registered", label: "chain_registered", render: (s) => fmtTime(s.registered.time) },
  ], page.items)));
  if (page.next) {
    const next = new URLSearchParams(query);
    next.set("after", page.next);
    root.append(el("p", { class: "pager" }, el("a", { href: `#chain/seals?${next}`, id: "next", text: t("chain_more") })));
  }
}

async function sealPage(root, id) {
  const seal = await api.get(`/v1/seals/${encodeURIComponent(id)}`);
  const names = await namesOf([seal.owner, ...seal.approvedBy.map((a) => a.admin), seal.revoked?.by]);
  const who = (address) => addressCell(address, displayName(names, address));
  const pairs = [
    ["chain_seal_name", el("strong", { text: seal.name }), "seal-name"],
    ["chain_seal_id", hexCell(seal.seal)],
    ["chain_owner", who(seal.owner)],
    ["chain_status", sealStatus(seal), "seal-state"],
    ["chain_pixels", hexCell(seal.pixelDigest)],
    ["chain_cert", hexCell(seal.certFingerprint)],
    ["chain_root", hexCell(seal.rootFingerprint)],
    ["chain_registered", when(seal.registered)],
    ["chain_approvals", seal.quorum ? `${seal.approvals} / ${seal.quorum}` : String(seal.approvals)],
    ["chain_approved", when(seal.approved)],
  ];
  if (seal.revoked) {
    pairs.push(["chain_revoked", el("span", {}, when(seal.revoked), ` · ${t("chain_revoked_by")} `, who(seal.revoked.by)), "seal-revoked"]);
    pairs.push(["chain_reason", hexCell(seal.revoked.reasonDigest)]);
  }
  root.append(el("h2", { text: `${t("chain_seal")} · ${seal.name}` }), tabs(null), facts(pairs));
  root.append(el("h3", { text: t("chain_approved_by") }), el("div", { id: "seal-approvals" }, dataTable([
    { key: "admin", label: "chain_address", render: (a) => who(a.admin) },
    { key: "time", label: "chain_time", render: (a) => when(a) },
  ], seal.approvedBy)));
}

registerPage({
  id: "chain",
  nav: "nav_chain",
  permissions: ["chain:read"],
  text,
  render: async (root, path) => {
    const [view, key] = path;
    if (view === "block" && key !== undefined) return blockPage(root, key);
    if (view === "tx" && key !== undefined) return txPage(root, key);
    if (view === "members") return membersPage(root);
    if (view === "roots") return rootsPage(root);
    if (view === "seals" && key !== undefined) return sealPage(root, key);
    if (view === "seals") return sealsPage(root);
    return overview(root);
  },
});
