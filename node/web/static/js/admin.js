// The Administration page (ADMIN): forms for what `ledger ca trust`, `ledger member grant`
// and the commitment escalation policy do, each sent as a transaction this page signs with
// an account key the admin picks from a file (hex text, as `ledger keys new` writes it).
// The key is read into this page's memory only: it signs here (micro-eth-signer,
// static/vendor/eth.js) and is never sent; the node sees a signed transaction, as from the
// CLI, and never signs for anyone.
//
// A transaction is built as client/ledger.py builds one: legacy with the EIP-155 chain id,
// gas price 0 (the chain has no base fee), eth_estimateGas plus a quarter (which also
// brings back the contract's refusal before anything is signed), the account's pending
// nonce. What will be signed is shown decoded from the very transaction object that signs
// (contract, function, arguments, sender) before the admin sends it; then its hash, and its
// receipt followed with a deadline, a failure with the contract's reason. The ABIs and
// addresses are the node's own (GET /v1/chaincode). Trusting a root and granting roles take
// an admin quorum: like the CLI, the form approves the pending proposal for the same thing
// when there is one, else proposes it; the proposals table approves any pending one. Seals
// waiting for the admins (SealRegistry, GET /v1/seals?status=Proposed) are approved the
// same way, one SealRegistry.approve each.
import {
  ApiError, addressCell, api, dataTable, displayName, el, fill, fmtTime, hexCell, namesOf, registerPage, session, t,
} from "ledger/console.js";
import { AsnConvert, Certificate } from "ledger/vendor/asn1.js";
import { sha256 } from "ledger/vendor/crypto.js";
import { fromHex, toHex } from "ledger/bytes.js";

// A key file is 64 hex digits, maybe "0x" and a newline: anything this big is not one.
const MAX_KEY_FILE_BYTES = 1024;
// A root certificate file (PEM or DER, maybe a whole chain.pem); the registry takes a
// certificate of at most 8192 bytes (IdentityRegistry.vy MAX_CERT).
const MAX_CERT_FILE_BYTES = 64 * 1024;
const MAX_CERT_BYTES = 8192;
// The newest proposals the page reads (two eth_calls each) to list them and to find a
// pending one to approve; admins make few, and an older pending proposal the form does
// not see is proposed again, which the quorum then approves like any other.
const PROPOSALS_READ = 32;
// Seals waiting for approval the page lists (one REST page, oldest first): members register
// a seal or two each, and the admins approve them as they come; more wait on the next visit.
const SEALS_READ = 50;
// How long the page follows a sent transaction to its receipt, and how often it asks
// (client/ledger.py RECEIPT_TIMEOUT_SECONDS; QBFT blocks are final once made).
const RECEIPT_DEADLINE_MS = 60_000;
const RECEIPT_POLL_MS = 250;
// eth_estimateGas plus this share, in quarters (client/ledger.py GAS_MARGIN = 1.25).
const GAS_MARGIN_QUARTERS = 5n;
const ZERO_ADDRESS = "0x" + "00".repeat(20);
const UNITS = [["seconds", 1], ["minutes", 60], ["hours", 3600], ["days", 86400]];

const TEXT = {
  en: {
    nav_admin: "Administration", admin_heading: "Administration",
    admin_intro: "Each form here is a transaction signed in this page with your own account key. The key stays in this browser: the node receives only the signed transaction.",
    admin_key_heading: "Your account key", admin_key_label: "Account key file (hex, as `ledger keys new` writes it)",
    admin_key_none: "No key chosen: choose your key file to sign.", admin_key_as: "Signing as",
    admin_key_forget: "Forget the key", admin_key_bad: "This file is not an account key (64 hex digits).",
    admin_key_is_admin: "an active admin on chain", admin_key_not_admin: "not an active admin on chain: the contracts will refuse its transactions",
    admin_policy_heading: "Escalation policy", admin_policy_current: "Current policy",
    admin_policy_reminder: "Reminder window", admin_policy_demand: "Demand delay",
    admin_policy_reminder_help: "a reminder is raised this long before a commitment's deadline",
    admin_policy_demand_help: "a warning turns into a demand this long after the deadline",
    admin_root_heading: "Trust a CA root", admin_root_file: "Root certificate (PEM or DER)",
    admin_root_ca_admin: "CA admin address (optional: may revoke this CA's certificates by serial)",
    admin_root_subject: "Subject", admin_root_fingerprint: "Fingerprint (SHA-256)", admin_root_not_after: "Valid until",
    admin_root_state: "On chain", admin_root_trusted: "trusted", admin_root_untrusted: "not trusted",
    admin_root_pending: "proposal #{id} waits for approvals ({n} of {q})",
    admin_root_bad: "No single self-signed certificate in this file.", admin_root_too_big: "The certificate is larger than the registry takes.",
    admin_grant_heading: "Grant a role", admin_grant_member: "Member address", admin_grant_roles: "Roles to grant",
    admin_grant_held: "This account already holds these roles: nothing to do.",
    admin_grant_pick: "Choose at least one role.", admin_bad_address: "Not an address (0x and 40 hex digits).",
    admin_proposals_heading: "Proposals", admin_quorum: "Approvals needed (majority of admins)",
    admin_proposal_id: "#", admin_action: "Action", admin_subject: "Subject", admin_argument: "Argument",
    admin_proposer: "Proposer", admin_approvals: "Approvals", admin_created: "Proposed", admin_state: "State",
    admin_executed: "executed", admin_waiting: "waiting", admin_approve: "Approve", admin_approved_by_you: "approved by you",
    admin_prepare: "Review the transaction", admin_review_heading: "Transaction to sign",
    admin_contract: "Contract", admin_function: "Function", admin_arguments: "Arguments", admin_from: "From",
    admin_nonce: "Nonce", admin_gas: "Gas limit", admin_gas_price: "Gas price", admin_chain: "Chain id", admin_meaning: "Meaning",
    admin_send: "Sign and send", admin_cancel: "Cancel", admin_sending: "Sending…", admin_waiting_receipt: "Waiting for the block…",
    admin_tx_hash: "Transaction", admin_block: "Block", admin_status: "Status", admin_events: "Events",
    admin_success: "done: included and executed", admin_failed: "failed: the contract refused it",
    admin_timeout: "no receipt yet after the deadline: look the transaction up later",
    admin_refused: "The contract refuses this call:", admin_node_refused: "The node refused",
    admin_need_key: "Choose your account key file first.",
    admin_will_propose: "proposes it (your approval counts)", admin_will_approve: "approves pending proposal #{id}",
    admin_none: "none",
    admin_unit: "unit", seconds: "seconds", minutes: "minutes", hours: "hours", days: "days",
    admin_seals_heading: "Seals waiting for approval",
    admin_seals_how: "A member registers its seal with the certificate it signs with; parties may sign contract PDFs with it once the admins' approvals reach the quorum. Check the seal's name and owner, and its image with the owner, before approving.",
    admin_seal_name: "Seal", admin_seal_id: "Seal id", admin_seal_owner: "Owner", admin_seal_cert: "Certificate (SHA-256)",
    admin_seal_registered: "Registered", admin_seals_none: "No seal is waiting for approval.",
    admin_will_approve_seal: "approves seal “{name}” of {owner}",
  },
  zh: {
    nav_admin: "系统管理", admin_heading: "系统管理",
    admin_intro: "此页的每个表单都是一笔在本页面内用您自己的账户私钥签名的交易。私钥只留在本浏览器中：节点只收到签好名的交易。",
    admin_key_heading: "您的账户私钥", admin_key_label: "账户私钥文件（十六进制，即 `ledger keys new` 所写）",
    admin_key_none: "尚未选择私钥：请选择您的私钥文件以签名。", admin_key_as: "签名账户",
    admin_key_forget: "清除私钥", admin_key_bad: "此文件不是账户私钥（应为 64 位十六进制数字）。",
    admin_key_is_admin: "链上有效的管理员", admin_key_not_admin: "不是链上有效的管理员：合约将拒绝它的交易",
    admin_policy_heading: "催办策略", admin_policy_current: "当前策略",
    admin_policy_reminder: "提醒提前量", admin_policy_demand: "督办延迟",
    admin_policy_reminder_help: "在承诺期限前这么久发出提醒",
    admin_policy_demand_help: "期限过后这么久，警告升级为督办",
    admin_root_heading: "信任 CA 根证书", admin_root_file: "根证书（PEM 或 DER）",
    admin_root_ca_admin: "CA 管理员地址（可选：可按序列号吊销此 CA 签发的证书）",
    admin_root_subject: "主体", admin_root_fingerprint: "指纹（SHA-256）", admin_root_not_after: "有效期至",
    admin_root_state: "链上状态", admin_root_trusted: "已信任", admin_root_untrusted: "未信任",
    admin_root_pending: "提案 #{id} 等待批准（{n}/{q}）",
    admin_root_bad: "此文件中没有唯一的自签名证书。", admin_root_too_big: "证书超过登记合约接受的大小。",
    admin_grant_heading: "授予角色", admin_grant_member: "成员地址", admin_grant_roles: "要授予的角色",
    admin_grant_held: "此账户已拥有这些角色：无需操作。",
    admin_grant_pick: "请至少选择一个角色。", admin_bad_address: "不是地址（0x 加 40 位十六进制数字）。",
    admin_proposals_heading: "提案", admin_quorum: "所需批准数（管理员过半数）",
    admin_proposal_id: "#", admin_action: "操作", admin_subject: "对象", admin_argument: "参数",
    admin_proposer: "提议人", admin_approvals: "批准", admin_created: "提议时间", admin_state: "状态",
    admin_executed: "已执行", admin_waiting: "等待中", admin_approve: "批准", admin_approved_by_you: "您已批准",
    admin_prepare: "核对交易", admin_review_heading: "待签名的交易",
    admin_contract: "合约", admin_function: "函数", admin_arguments: "参数", admin_from: "发送方",
    admin_nonce: "Nonce", admin_gas: "Gas 上限", admin_gas_price: "Gas 价格", admin_chain: "链 ID", admin_meaning: "含义",
    admin_send: "签名并发送", admin_cancel: "取消", admin_sending: "发送中…", admin_waiting_receipt: "等待出块…",
    admin_tx_hash: "交易", admin_block: "区块", admin_status: "状态", admin_events: "事件",
    admin_success: "完成：已上链并执行", admin_failed: "失败：合约拒绝了它",
    admin_timeout: "超过期限仍无回执：请稍后查询此交易",
    admin_refused: "合约拒绝此调用：", admin_node_refused: "节点拒绝",
    admin_need_key: "请先选择您的账户私钥文件。",
    admin_will_propose: "提出提案（您的批准计入）", admin_will_approve: "批准待定提案 #{id}",
    admin_none: "无",
    admin_unit: "单位", seconds: "秒", minutes: "分钟", hours: "小时", days: "天",
    admin_seals_heading: "待批准的印章",
    admin_seals_how: "成员以其签名所用的证书登记印章；管理员批准数达到法定数后，当事方方可用它签署合同 PDF。批准前请核对印章名称、所属成员，并与所属成员核对印章图像。",
    admin_seal_name: "印章", admin_seal_id: "印章编号", admin_seal_owner: "所属成员", admin_seal_cert: "证书（SHA-256）",
    admin_seal_registered: "登记时间", admin_seals_none: "没有待批准的印章。",
    admin_will_approve_seal: "批准 {owner} 的印章“{name}”",
  },
};

// -- module state: survives a redraw (language switch), not a reload ----------------------

let eth = null;        // static/vendor/eth.js, imported the first time the page is drawn
let chain = null;      // {contracts: {name: {address, abi, coder}}, decoder, roles, actions}
let account = null;    // {key: "0x…", address, owner}: the chosen key and the session it was chosen in

const isAddress = (text) => /^0x[0-9a-fA-F]{40}$/.test(text);

class Refused extends Error {}

async function loadChain() {
  eth ??= await import("ledger/vendor/eth.js");
  if (chain) return chain;
  const answer = await api.get("/v1/chaincode");
  const decoder = new eth.Decoder();
  const contracts = {};
  for (const c of answer.contracts) {
    contracts[c.name] = { name: c.name, address: c.address, abi: c.abi, coder: eth.createContract(c.abi) };
    decoder.add(c.address, c.abi);
  }
  const actions = Object.fromEntries(Object.entries(answer.proposalActions).map(([name, code]) => [code, name]));
  chain = { contracts, decoder, roles: answer.roles, actions, actionCodes: answer.proposalActions };
  return chain;
}

function roleNames(bits) {
  return Object.entries(chain.roles).filter(([, bit]) => (BigInt(bits) & BigInt(bit)) !== 0n).map(([name]) => name);
}

/** A view call at the latest block, decoded with the contract's ABI. */
async function view(contract, fn, args) {
  const c = chain.contracts[contract];
  const data = toHex(c.coder[fn].encodeInput(args));
  const out = await api.rpc("eth_call", [{ to: c.address, data }, "latest"]);
  return c.coder[fn].decodeOutput(fromHex(out.slice(2)));
}

const reasonOf = (error) => String(error?.message ?? error).replace(/^execution reverted:?\s*/, "") || "execution reverted";

// -- the key --------------------------------------------------------------------------------

/** The account of a key file's text: 32 bytes of hex, "0x" optional (client/credentials.py). */
function parseKey(text) {
  const hex = text.trim().replace(/^0x/i, "");
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new Error(t("admin_key_bad"));
  const key = "0x" + hex.toLowerCase();
  try {
    return { key, address: eth.addr.fromPrivateKey(key) };
  } catch {
    throw new Error(t("admin_key_bad"));  // zero or not below the curve's order
  }
}

function ownerNow() { const s = session(); return s ? `${s.role}|${s.subject}` : ""; }

function heldKey() {
  if (account && account.owner !== ownerNow()) account = null;  // signed out or in as someone else
  return account;
}

// -- building, showing, signing, following ------------------------------------------------

/** Estimate, nonce and chain id for `contract.fn(args)` from the key's account: the
 *  unsigned transaction, or Refused with the contract's reason. */
async function prepare(contract, fn, args) {
  const c = chain.contracts[contract];
  const from = heldKey().address;
  const data = toHex(c.coder[fn].encodeInput(args));
  let estimate;
  try {
    estimate = BigInt(await api.rpc("eth_estimateGas", [{ from, to: c.address, data }]));
  } catch (error) {
    if (error instanceof ApiError && error.status === 200) throw new Refused(reasonOf(error));
    throw error;
  }
  const [nonce, chainId] = await Promise.all([
    api.rpc("eth_getTransactionCount", [from, "pending"]), api.rpc("eth_chainId", [])]);
  return eth.Transaction.prepare({
    type: "legacy", to: c.address, value: 0n, nonce: BigInt(nonce), gasPrice: 0n,
    gasLimit: (estimate * GAS_MARGIN_QUARTERS) / 4n, chainId: BigInt(chainId), data,
  });
}

/** A decoded ABI value as something to show: addresses and bytes on one line. */
function shown(value) {
  if (value instanceof Uint8Array) return hexCell(toHex(value));
  if (typeof value === "string" && isAddress(value)) return addressCell(eth.addr.addChecksum(value));
  if (typeof value === "bigint" || typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return el("span", {}, ...value.flatMap((v, i) => (i ? [", ", shown(v)] : [shown(v)])));
  return String(value);
}

/** A value with what it means where its name says (role bits, a proposal action). */
function annotated(name, value) {
  const words = name === "roles" ? roleNames(value).join(", ") : name === "action" ? chain.actions[Number(value)] : null;
  if (!words) return shown(value);
  return el("span", { "data-value": String(value) }, String(value), " ", el("span", { class: "note", text: `(${words})` }));
}

function argumentList(decoded, abi) {
  const item = abi.find((i) => i.type === "function" && i.name === decoded.name);
  const inputs = item?.inputs ?? [];
  const values = inputs.length === 1 ? { [inputs[0].name]: decoded.value } : (decoded.value ?? {});
  const list = el("dl", { class: "tx-args" });
  for (const input of inputs) {
    list.append(el("dt", { text: `${input.name} (${input.type})` }),
      el("dd", { "data-arg": input.name }, annotated(input.name, values[input.name])));
  }
  return list;
}

function row(list, label, ...value) {
  list.append(el("dt", { text: t(label) }), el("dd", {}, ...value));
}

/** Draw the transaction `tx` (unsigned) as decoded from its own fields into `out`, with
 *  Sign and send / Cancel; `meaning` says in words what it does; `done()` after a receipt. */
function review(out, tx, meaning, done) {
  const raw = tx.raw;
  const contract = Object.values(chain.contracts).find((c) => c.address.toLowerCase() === raw.to.toLowerCase());
  const decoded = chain.decoder.decode(raw.to, fromHex(raw.data.slice(2)));
  const facts = el("dl", { class: "tx-facts" });
  row(facts, "admin_contract", addressCell(raw.to, contract?.name ?? raw.to));
  row(facts, "admin_function", el("code", { "data-function": decoded.name, text: decoded.signature }));
  row(facts, "admin_arguments", argumentList(decoded, contract.abi));
  if (meaning) row(facts, "admin_meaning", el("span", { class: "tx-meaning", text: meaning }));
  row(facts, "admin_from", addressCell(heldKey().address));
  row(facts, "admin_nonce", String(raw.nonce));
  row(facts, "admin_gas", String(raw.gasLimit));
  row(facts, "admin_gas_price", String(raw.gasPrice));
  row(facts, "admin_chain", String(raw.chainId));
  const send = el("button", { type: "button", class: "tx-send", text: t("admin_send") });
  const cancel = el("button", { type: "button", class: "tx-cancel", text: t("admin_cancel") });
  const panel = el("div", { class: "tx-review", role: "group", "aria-label": t("admin_review_heading"), "data-state": "review" },
    el("h3", { text: t("admin_review_heading") }), facts, el("div", { class: "tx-buttons" }, send, " ", cancel));
  out.replaceChildren(panel);
  cancel.addEventListener("click", () => out.replaceChildren());
  send.addEventListener("click", async () => {
    send.disabled = true;
    cancel.disabled = true;
    await sendAndFollow(panel, tx, contract, decoded);
    if (panel.dataset.state === "success") await done?.();
  });
  send.focus();
}

async function sendAndFollow(panel, tx, contract, decoded) {
  const status = el("p", { class: "tx-status", role: "status", text: t("admin_sending") });
  const result = el("dl", { class: "tx-result" });
  panel.append(status, result);
  panel.dataset.state = "sending";
  const signed = tx.signBy(heldKey().key);
  let hash;
  try {
    hash = await api.rpc("eth_sendRawTransaction", [signed.toHex()]);
  } catch (error) {
    panel.dataset.state = "rejected";
    status.className = "tx-status error";
    status.textContent = `${t("admin_node_refused")}${error.status && error.status !== 200 ? ` (${error.status})` : ""}: ${error.message}`;
    return;
  }
  panel.dataset.txHash = hash;
  row(result, "admin_tx_hash", hexCell(hash));
  status.textContent = t("admin_waiting_receipt");
  panel.dataset.state = "waiting";
  const receipt = await followReceipt(hash);
  if (receipt === null) {
    panel.dataset.state = "timeout";
    status.textContent = t("admin_timeout");
    return;
  }
  row(result, "admin_block", String(BigInt(receipt.blockNumber)));
  if (BigInt(receipt.status) === 1n) {
    panel.dataset.state = "success";
    status.className = "tx-status ok";
    status.textContent = t("admin_success");
  } else {
    panel.dataset.state = "failed";
    status.className = "tx-status error";
    status.textContent = `${t("admin_failed")}: ${await failureReason(tx, receipt)}`;
  }
  const events = receipt.logs.map((log) => chain.decoder.decodeEvent(log.address, log.topics, log.data)).filter((e) => e && !Array.isArray(e));
  if (events.length) {
    const list = el("ul", { class: "tx-events" });
    for (const event of events) {
      const fields = Object.entries(event.value ?? {}).filter(([name]) => name !== "certificate");
      list.append(el("li", { "data-event": event.name }, el("strong", { text: event.name }), " ",
        ...fields.flatMap(([name, value]) => [` ${name}: `, annotated(name, value)])));
    }
    row(result, "admin_events", list);
  }
}

/** The receipt of `hash`, asked every RECEIPT_POLL_MS until RECEIPT_DEADLINE_MS; null after. */
async function followReceipt(hash) {
  const deadline = performance.now() + RECEIPT_DEADLINE_MS;
  while (performance.now() < deadline) {
    const receipt = await api.rpc("eth_getTransactionReceipt", [hash]);
    if (receipt) return receipt;
    await new Promise((resolve) => setTimeout(resolve, RECEIPT_POLL_MS));
  }
  return null;
}

/** Why a mined transaction failed: the same call replayed on the state before its block. */
async function failureReason(tx, receipt) {
  const block = "0x" + (BigInt(receipt.blockNumber) - 1n).toString(16);
  try {
    await api.rpc("eth_call", [{ from: heldKey().address, to: tx.raw.to, data: tx.raw.data, gas: "0x" + tx.raw.gasLimit.toString(16) }, block]);
    return "execution reverted";
  } catch (error) {
    return reasonOf(error);
  }
}

/** Prepare `contract.fn(args)` and show it for review in `out`; a refusal or a missing key
 *  is said there instead. */
async function offer(out, contract, fn, args, meaning, done) {
  out.replaceChildren();
  if (!heldKey()) {
    out.append(el("p", { class: "error", role: "alert", "data-state": "no-key", text: t("admin_need_key") }));
    return;
  }
  try {
    review(out, await prepare(contract, fn, args), meaning, done);
  } catch (error) {
    const text = error instanceof Refused ? `${t("admin_refused")} ${error.message}`
      : `${t("admin_node_refused")}${error.status ? ` (${error.status})` : ""}: ${error.message}`;
    out.append(el("p", { class: "error", role: "alert", "data-state": "refused", text }));
  }
}

// -- proposals (the identity registry's admin quorum) --------------------------------------

async function readProposals() {
  const count = BigInt(await view("IdentityRegistry", "proposal_count", undefined));
  const ids = [];
  for (let id = count; id > 0n && ids.length < PROPOSALS_READ; id--) ids.push(id);
  const me = heldKey()?.address;
  return Promise.all(ids.map(async (id) => {
    const p = await view("IdentityRegistry", "proposals", id);
    const mine = me && !p.executed ? await view("IdentityRegistry", "approved", { arg0: id, arg1: me }) : false;
    return { id, ...p, approvedByMe: Boolean(mine) };
  }));
}

/** The newest pending proposal of (action, subject[, argument]) among those read. */
function pendingFor(proposals, action, subject, argument) {
  const want = toHex(subject);
  return proposals.find((p) => !p.executed && BigInt(p.action) === BigInt(action) && toHex(p.subject) === want
    && (argument === undefined || BigInt(p.argument) === BigInt(argument)));
}

function addressWord(address) {
  const word = new Uint8Array(32);
  word.set(fromHex(address.slice(2)), 12);
  return word;
}

function describeArgument(p) {
  const action = chain.actions[Number(p.action)];
  if (action === "GRANT_ROLES" || action === "REVOKE_ROLES") return roleNames(p.argument).join(", ");
  if (action === "TRUST_ROOT" || action === "SET_CA_ADMIN") {
    const admin = "0x" + BigInt(p.argument).toString(16).padStart(40, "0");
    return admin === ZERO_ADDRESS ? t("admin_none") : addressCell(admin);
  }
  return String(p.argument);
}

function describeSubject(p) {
  const action = chain.actions[Number(p.action)];
  if (action === "GRANT_ROLES" || action === "REVOKE_ROLES") return addressCell(eth.addr.addChecksum(toHex(p.subject.slice(12))));
  return hexCell(toHex(p.subject));
}

async function drawProposals(box, refreshAll) {
  const [proposals, quorum] = await Promise.all([readProposals(), view("IdentityRegistry", "quorum", undefined)]);
  const columns = [
    { key: "id", label: "admin_proposal_id", render: (p) => String(p.id) },
    { key: "action", label: "admin_action", render: (p) => chain.actions[Number(p.action)] ?? String(p.action) },
    { key: "subject", label: "admin_subject", render: describeSubject },
    { key: "argument", label: "admin_argument", render: describeArgument },
    { key: "proposer", label: "admin_proposer", render: (p) => addressCell(p.proposer) },
    { key: "approvals", label: "admin_approvals", render: (p) => (p.executed ? String(p.approvals) : `${p.approvals} / ${quorum}`) },
    { key: "created", label: "admin_created", render: (p) => fmtTime(Number(p.created_at)) },
    { key: "state", label: "admin_state", render: (p) => {
      if (p.executed) return t("admin_executed");
      if (p.approvedByMe) return `${t("admin_waiting")} · ${t("admin_approved_by_you")}`;
      const out = box.querySelector(".tx-out");
      return el("span", {}, `${t("admin_waiting")} `, el("button", {
        type: "button", class: "approve", "data-proposal": String(p.id), text: `${t("admin_approve")} #${p.id}`,
        disabled: !heldKey(),
        on: { click: () => offer(out, "IdentityRegistry", "approve", p.id, fill(t("admin_will_approve"), { id: p.id }), refreshAll) },
      }));
    } },
  ];
  const table = dataTable(columns, proposals);
  table.querySelectorAll("tbody tr").forEach((tr, i) => { if (proposals[i]) tr.dataset.proposal = String(proposals[i].id); });
  const list = box.querySelector(".proposals");
  list.dataset.count = String(proposals.length ? proposals[0].id : 0);  // the newest read: tests wait for it
  list.replaceChildren(
    el("p", {}, `${t("admin_quorum")}: `, el("strong", { "data-quorum": String(quorum), text: String(quorum) })), table);
  return proposals;
}

// -- the sections ----------------------------------------------------------------------------

function section(id, heading, ...children) {
  return el("section", { id, class: "admin-box", "aria-labelledby": `${id}-h` }, el("h2", { id: `${id}-h`, text: t(heading) }), ...children);
}

function keySection(onChange) {
  const input = el("input", { type: "file", id: "admin-key-file", accept: ".key,.hex,.txt,text/plain" });
  const state = el("div", { id: "admin-key-state", "aria-live": "polite" });
  const box = section("admin-key", "admin_key_heading",
    el("label", { for: "admin-key-file", text: t("admin_key_label") }), input, state);
  const draw = async () => {
    const held = heldKey();
    if (!held) {
      state.replaceChildren(el("p", { class: "note", text: t("admin_key_none") }));
      state.dataset.address = "";
      return;
    }
    const isAdmin = await view("IdentityRegistry", "has_role", { who: held.address, roles: BigInt(chain.roles.ADMIN) });
    state.dataset.address = held.address;
    state.dataset.admin = String(isAdmin);
    state.replaceChildren(el("p", {}, `${t("admin_key_as")} `, addressCell(held.address), " — ",
      el("span", { class: isAdmin ? "ok" : "error", text: t(isAdmin ? "admin_key_is_admin" : "admin_key_not_admin") }), " ",
      el("button", { type: "button", id: "admin-key-forget", text: t("admin_key_forget"),
        on: { click: async () => { account = null; input.value = ""; await draw(); await onChange(); } } })));
  };
  input.addEventListener("change", async () => {
    const file = input.files[0];
    input.value = "";  // the file's name is not kept either
    if (!file) return;
    try {
      if (file.size > MAX_KEY_FILE_BYTES) throw new Error(t("admin_key_bad"));
      account = { ...parseKey(await file.text()), owner: ownerNow() };
    } catch (error) {
      account = null;
      await draw();
      state.prepend(el("p", { class: "error", role: "alert", text: error.message }));
      return;
    }
    await draw();
    await onChange();
  });
  return { box, draw };
}

function duration(seconds) {
  let rest = Number(seconds);
  const parts = [];
  for (const [unit, size] of [...UNITS].reverse()) {
    if (rest >= size && parts.length < 2) {
      parts.push(`${Math.floor(rest / size)} ${t(unit)}`);
      rest %= size;
    }
  }
  return `${parts.join(" ") || `0 ${t("seconds")}`} (${seconds} s)`;
}

function durationInput(id, label, help, seconds) {
  const [unit, size] = [...UNITS].reverse().find(([, s]) => Number(seconds) % s === 0) ?? UNITS[0];
  const number = el("input", { type: "number", id, min: "1", step: "1", required: true, value: String(Number(seconds) / size),
    "aria-describedby": `${id}-help` });
  const select = el("select", { id: `${id}-unit`, "aria-label": `${t(label)} (${t("admin_unit")})` });
  for (const [name, s] of UNITS) select.append(el("option", { value: String(s), text: t(name), selected: name === unit }));
  return {
    node: el("div", { class: "field" }, el("label", { for: id, text: t(label) }), el("span", { class: "pair" }, number, select),
      el("small", { id: `${id}-help`, class: "note", text: t(help) })),
    seconds: () => BigInt(number.value || "0") * BigInt(select.value),
  };
}

function policySection() {
  const current = el("p", { id: "policy-current" });
  const form = el("form", { id: "policy-form", class: "admin-form" });
  const out = el("div", { class: "tx-out", "aria-live": "polite" });
  const box = section("admin-policy", "admin_policy_heading", current, form, out);
  const draw = async () => {
    const policy = await view("CommitmentTracker", "policy", undefined);
    const [reminder, demand] = Array.isArray(policy) ? policy : Object.values(policy);
    current.dataset.reminder = String(reminder);
    current.dataset.demand = String(demand);
    current.replaceChildren(el("strong", { text: `${t("admin_policy_current")}: ` }),
      `${t("admin_policy_reminder")} ${duration(reminder)} · ${t("admin_policy_demand")} ${duration(demand)}`);
    if (form.firstChild) return;  // the form is drawn once, with the policy as it was: what the admin typed stays
    const r = durationInput("policy-reminder", "admin_policy_reminder", "admin_policy_reminder_help", reminder);
    const d = durationInput("policy-demand", "admin_policy_demand", "admin_policy_demand_help", demand);
    form.replaceChildren(r.node, d.node, el("button", { type: "submit", text: t("admin_prepare") }));
    form.onsubmit = (event) => {
      event.preventDefault();
      const args = { reminder_window: r.seconds(), demand_delay: d.seconds() };
      offer(out, "CommitmentTracker", "set_policy", args,
        `${t("admin_policy_reminder")} ${duration(args.reminder_window)} · ${t("admin_policy_demand")} ${duration(args.demand_delay)}`, draw);
    };
  };
  return { box, draw };
}

function pemOrDer(bytes) {
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  if (!text.includes("-----BEGIN")) return [bytes];
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)]
    .map((m) => Uint8Array.from(atob(m[1].replace(/\s+/g, "")), (c) => c.charCodeAt(0)));
}

const NAME_LABELS = { "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU",
  "2.5.4.5": "serialNumber", "1.2.840.113549.1.9.1": "emailAddress" };

function nameText(name) {
  return [...name].reverse().map((rdn) => [...rdn].map((atv) => `${NAME_LABELS[atv.type] ?? atv.type}=${String(atv.value)}`).join("+")).join(", ");
}

/** The one self-signed certificate among those in `bytes` (as `ledger ca trust` reads its
 *  ROOT file): {der, subject, fingerprint, notAfter}; Error when there is not exactly one. */
function readRoot(bytes) {
  const roots = [];
  for (const der of pemOrDer(bytes)) {
    let cert;
    try { cert = AsnConvert.parse(der, Certificate); } catch { continue; }
    const tbs = cert.tbsCertificate;
    if (toHex(new Uint8Array(AsnConvert.serialize(tbs.subject))) !== toHex(new Uint8Array(AsnConvert.serialize(tbs.issuer)))) continue;
    roots.push({ der, subject: nameText(tbs.subject), fingerprint: sha256(der),
      notAfter: Math.floor(tbs.validity.notAfter.getTime() / 1000) });
  }
  if (roots.length !== 1) throw new Error(t("admin_root_bad"));
  if (roots[0].der.length > MAX_CERT_BYTES) throw new Error(t("admin_root_too_big"));
  return roots[0];
}

function rootSection(proposalsNow, refreshAll) {
  const file = el("input", { type: "file", id: "root-file", accept: ".pem,.crt,.cer,.der" });
  const caAdmin = el("input", { type: "text", id: "root-ca-admin", placeholder: "0x…", spellcheck: "false", autocomplete: "off", size: "44" });
  const facts = el("dl", { id: "root-facts" });
  const out = el("div", { class: "tx-out", "aria-live": "polite" });
  const form = el("form", { id: "root-form", class: "admin-form" },
    el("div", { class: "field" }, el("label", { for: "root-file", text: t("admin_root_file") }), file),
    el("div", { class: "field" }, el("label", { for: "root-ca-admin", text: t("admin_root_ca_admin") }), caAdmin),
    facts, el("button", { type: "submit", text: t("admin_prepare") }));
  const box = section("admin-root", "admin_root_heading", form, out);
  let root = null;
  const draw = async () => {
    facts.replaceChildren();
    if (!root) return;
    const state = await view("IdentityRegistry", "roots", root.fingerprint);
    const pending = pendingFor(proposalsNow(), chain.actionCodes.TRUST_ROOT, root.fingerprint);
    const quorum = await view("IdentityRegistry", "quorum", undefined);
    facts.dataset.trusted = String(state.trusted);
    row(facts, "admin_root_subject", el("span", { "data-subject": root.subject, text: root.subject }));
    row(facts, "admin_root_fingerprint", hexCell(toHex(root.fingerprint)));
    row(facts, "admin_root_not_after", fmtTime(root.notAfter));
    row(facts, "admin_root_state", el("span", { id: "root-state", "data-trusted": String(state.trusted),
      text: state.trusted ? t("admin_root_trusted")
        : pending ? `${t("admin_root_untrusted")} · ${fill(t("admin_root_pending"), { id: pending.id, n: pending.approvals, q: quorum })}`
          : t("admin_root_untrusted") }));
  };
  file.addEventListener("change", async () => {
    out.replaceChildren();
    root = null;
    const chosen = file.files[0];
    try {
      if (!chosen) return;
      if (chosen.size > MAX_CERT_FILE_BYTES) throw new Error(t("admin_root_bad"));
      root = readRoot(new Uint8Array(await chosen.arrayBuffer()));
    } catch (error) {
      out.append(el("p", { class: "error", role: "alert", text: error.message }));
    }
    await draw();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    out.replaceChildren();
    if (!root) { out.append(el("p", { class: "error", role: "alert", text: t("admin_root_bad") })); return; }
    const admin = caAdmin.value.trim();
    if (admin && !isAddress(admin)) { out.append(el("p", { class: "error", role: "alert", text: t("admin_bad_address") })); return; }
    const argument = admin ? BigInt(admin) : undefined;
    const pending = pendingFor(proposalsNow(), chain.actionCodes.TRUST_ROOT, root.fingerprint, argument);
    const what = `${root.subject} · ${toHex(root.fingerprint)}`;
    if (pending) {
      offer(out, "IdentityRegistry", "approve", pending.id, `${fill(t("admin_will_approve"), { id: pending.id })}: ${what}`, refreshAll);
    } else {
      offer(out, "IdentityRegistry", "propose_trust_root", { certificate: root.der, ca_admin: admin || ZERO_ADDRESS },
        `${t("admin_will_propose")}: ${what}`, refreshAll);
    }
  });
  return { box, draw };
}

function grantSection(proposalsNow, refreshAll) {
  const member = el("input", { type: "text", id: "grant-address", placeholder: "0x…", spellcheck: "false", autocomplete: "off", size: "44", required: true });
  const roles = el("fieldset", { id: "grant-roles" }, el("legend", { text: t("admin_grant_roles") }));
  for (const name of Object.keys(chain.roles)) {
    const id = `grant-role-${name.toLowerCase()}`;
    roles.append(el("span", { class: "check" }, el("input", { type: "checkbox", id, name: "grant-role", value: name }),
      el("label", { for: id, text: name })));
  }
  const out = el("div", { class: "tx-out", "aria-live": "polite" });
  const form = el("form", { id: "grant-form", class: "admin-form" },
    el("div", { class: "field" }, el("label", { for: "grant-address", text: t("admin_grant_member") }), member), roles,
    el("button", { type: "submit", text: t("admin_prepare") }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    out.replaceChildren();
    const who = member.value.trim();
    const fail = (key) => out.append(el("p", { class: "error", role: "alert", text: t(key) }));
    if (!isAddress(who)) return fail("admin_bad_address");
    let bits = 0n;
    for (const box of roles.querySelectorAll("input:checked")) bits |= BigInt(chain.roles[box.value]);
    if (bits === 0n) return fail("admin_grant_pick");
    const held = BigInt(await view("IdentityRegistry", "roles_of", who));
    if ((held & bits) === bits) {
      out.append(el("p", { class: "note", "data-state": "nothing", text: t("admin_grant_held") }));
      return;
    }
    const subject = addressWord(who);
    const pending = pendingFor(proposalsNow(), chain.actionCodes.GRANT_ROLES, subject, bits);
    const what = `${who}: ${roleNames(bits).join(", ")}`;
    if (pending) {
      offer(out, "IdentityRegistry", "approve", pending.id, `${fill(t("admin_will_approve"), { id: pending.id })}: ${what}`, refreshAll);
    } else {
      offer(out, "IdentityRegistry", "propose", { action: BigInt(chain.actionCodes.GRANT_ROLES), subject, argument: bits },
        `${t("admin_will_propose")}: ${what}`, refreshAll);
    }
  });
  return { box: section("admin-grant", "admin_grant_heading", form, out) };
}

// -- seals (SealRegistry: approved by the admin quorum) -------------------------------------

function sealsSection(refreshAll) {
  const list = el("div", { class: "seals" });
  const out = el("div", { class: "tx-out", "aria-live": "polite" });
  const box = section("admin-seals", "admin_seals_heading", el("p", { class: "note", text: t("admin_seals_how") }), list, out);
  const draw = async () => {
    const [page, quorum] = await Promise.all([
      api.get("/v1/seals", { status: "Proposed", limit: SEALS_READ }), view("IdentityRegistry", "quorum", undefined)]);
    const names = await namesOf(page.items.map((s) => s.owner));
    const me = heldKey()?.address.toLowerCase();
    const action = (seal) => {
      if (me && seal.approvedBy.some((a) => a.admin.toLowerCase() === me)) return t("admin_approved_by_you");
      const owner = displayName(names, seal.owner) || seal.owner;
      return el("button", {
        type: "button", class: "approve-seal", "data-seal": seal.seal, text: t("admin_approve"), disabled: !heldKey(),
        "aria-label": `${t("admin_approve")}: ${seal.name}`,
        on: { click: () => offer(out, "SealRegistry", "approve", fromHex(seal.seal.slice(2)),
          fill(t("admin_will_approve_seal"), { name: seal.name, owner }), refreshAll) },
      });
    };
    list.dataset.count = String(page.items.length);
    if (page.items.length === 0) {
      list.replaceChildren(el("p", { class: "note", text: t("admin_seals_none") }));
      return;
    }
    list.replaceChildren(dataTable([
      { key: "name", label: "admin_seal_name", render: (s) => el("a", { href: `#chain/seals/${s.seal}`, text: s.name }) },
      { key: "seal", label: "admin_seal_id", render: (s) => hexCell(s.seal) },
      { key: "owner", label: "admin_seal_owner", render: (s) => addressCell(s.owner, displayName(names, s.owner)) },
      { key: "certFingerprint", label: "admin_seal_cert", render: (s) => hexCell(s.certFingerprint) },
      { key: "approvals", label: "admin_approvals", render: (s) => `${s.approvals} / ${quorum}` },
      { key: "registered", label: "admin_seal_registered", render: (s) => fmtTime(s.registered.time) },
      { key: "state", label: "admin_state", render: action },
    ], page.items));
  };
  return { box, draw };
}

// -- the page -------------------------------------------------------------------------------

async function render(root) {
  await loadChain();
  let proposals = [];
  const listBox = section("admin-proposals", "admin_proposals_heading", el("div", { class: "proposals" }),
    el("div", { class: "tx-out", "aria-live": "polite" }));
  let rootForm = null;
  let policy = null;
  let seals = null;
  const refreshAll = async () => {
    proposals = await drawProposals(listBox, refreshAll);
    await Promise.all([rootForm?.draw(), policy?.draw(), seals?.draw()]);
  };
  const key = keySection(refreshAll);
  policy = policySection();
  rootForm = rootSection(() => proposals, refreshAll);
  const grant = grantSection(() => proposals, refreshAll);
  seals = sealsSection(refreshAll);
  root.append(el("h1", { text: t("admin_heading") }), el("p", { class: "note", text: t("admin_intro") }),
    key.box, policy.box, rootForm.box, grant.box, listBox, seals.box);
  await Promise.all([key.draw(), refreshAll()]);
}

registerPage({ id: "admin", nav: "nav_admin", permissions: ["rpc:admin"], text: TEXT, render });
