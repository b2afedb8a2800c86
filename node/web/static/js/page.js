// The Verify page: reads the chosen files, runs the verifier (receipt.js) in this page and
// shows the verdict, every step with its mark and explanation, and what a valid receipt
// proves; the receipt may be an evidence certificate PDF (certificate.js). The only
// request it makes is the node's genesis.json, on the node's own page.
import { verifyDocument } from "ledger/certificate.js";
import { TEXT } from "ledger/i18n.js";
import { lang, onLanguage, setLang } from "ledger/lang.js";

const $ = (selector) => document.querySelector(selector);
let genesis = { text: null, source: "genesis_node" };
let last = null;

function t(key) { return TEXT[lang()][key] ?? TEXT.en[key] ?? key; }

function applyLanguage() {
  document.documentElement.lang = lang() === "zh" ? "zh-CN" : "en";
  for (const el of document.querySelectorAll("#verify [data-i18n], .bar [data-i18n]")) {
    if (el.dataset.i18n in TEXT.en) el.textContent = t(el.dataset.i18n);
  }
  $("#lang").textContent = t("lang_switch");
  $("#genesis-source").textContent = genesis.text === null ? "" : t(genesis.source);
  if (last) render(last);
}

async function loadGenesis() {
  const embedded = document.getElementById("genesis");
  if (embedded) {
    genesis = { text: embedded.textContent, source: "genesis_embedded" };
  } else {
    const answer = await fetch("/web/genesis.json", { credentials: "omit" });
    genesis = { text: await answer.text(), source: "genesis_node" };
  }
  applyLanguage();
}

const readText = (file) => file.text();
const readBytes = async (file) => new Uint8Array(await file.arrayBuffer());

async function verify(event) {
  event?.preventDefault();
  const receiptFile = $("#receipt-file").files[0];
  if (!receiptFile) { $("#verdict").textContent = t("need_files"); return; }
  $("#verdict").textContent = t("working");
  document.body.dataset.state = "working";
  const userGenesis = $("#genesis-file").files[0];
  if (userGenesis) genesis = { text: await readText(userGenesis), source: "genesis_user" };
  const evidence = $("#evidence-file").files[0];
  const inputs = { receiptText: await readBytes(receiptFile), genesisText: genesis.text,
    file: evidence ? await readBytes(evidence) : null };
  const started = performance.now();
  const result = await verifyDocument(inputs);
  result.ms = performance.now() - started;
  last = result;
  render(result);
  applyLanguage();
  document.body.dataset.state = "done";
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function render(result) {
  const verdict = $("#verdict");
  verdict.textContent = `${t(result.valid ? "valid" : "invalid")} · ${TEXT[lang() === "zh" ? "en" : "zh"][result.valid ? "valid" : "invalid"]}`;
  verdict.className = result.valid ? "verdict valid" : "verdict invalid";
  verdict.dataset.valid = String(result.valid);
  verdict.dataset.failedStep = result.failedStep ?? "";
  verdict.dataset.ms = result.ms.toFixed(1);
  const body = $("#steps tbody");
  body.replaceChildren();
  // A certificate PDF: where the receipt came from, and the PDF's signature, which only
  // the CLI checks (it needs the issuer's roots).
  if (result.certificate) {
    const receiptRow = body.insertRow();
    const read = result.failedStep !== "embedded receipt";
    receiptRow.dataset.step = "embedded receipt";
    receiptRow.dataset.status = read ? "passed" : "failed";
    cell(receiptRow, "embedded receipt");
    cell(receiptRow, t(read ? "status_passed" : "status_failed"), `mark ${read ? "passed" : "failed"}`);
    cell(receiptRow, read ? t("embedded_receipt") : `${t("embedded_receipt")} — ${result.reason}`);
    const issuerRow = body.insertRow();
    issuerRow.dataset.step = "issuer signature";
    issuerRow.dataset.status = "not checked";
    cell(issuerRow, "issuer signature");
    cell(issuerRow, t("issuer_not_checked"), "mark not-checked");
    cell(issuerRow, t("issuer_signature"));
  }
  if (result.failedStep === "format" || result.failedStep === "genesis") {
    const row = body.insertRow();
    row.dataset.step = result.failedStep;
    row.dataset.status = "failed";
    cell(row, result.failedStep);
    cell(row, t("status_failed"), "mark failed");
    cell(row, result.reason);
  }
  for (const step of result.steps) {
    const row = body.insertRow();
    row.dataset.step = step.step;
    row.dataset.status = step.status;
    cell(row, step.step);
    cell(row, t(`status_${step.status}`), `mark ${step.status.replace(" ", "-")}`);
    cell(row, step.status === "failed" ? `${TEXT[lang()].steps[step.step]} — ${step.note}` : TEXT[lang()].steps[step.step]);
  }
  const facts = $("#facts");
  facts.replaceChildren();
  const fact = (key, value) => {
    const dt = document.createElement("dt");
    dt.textContent = t(key);
    const dd = document.createElement("dd");
    dd.textContent = value;
    facts.append(dt, dd);
  };
  if (result.valid) {
    const v = result.verified;
    fact("block_time", new Date(Number(v.timestamp) * 1000).toISOString().replace(".000Z", "Z"));
    fact("block", `${v.blockNumber} (${v.blockHash})`);
    fact("chain", `${v.chainName} · chain id ${v.chainId} · genesis ${v.genesisHash}`);
    fact("submitter", v.submitter);
    fact("witnesses", v.signers.join(", "));
    fact("tsa_time", t(v.trustedTime === "none" ? "status_none" : "status_not checked"));
    if (result.certificate) fact("issuer", t("issuer_not_checked_long"));
  } else {
    fact("failed_at", `${result.failedStep}: ${result.reason}`);
  }
  fact("took", `${result.ms.toFixed(0)} ms`);
}

// The one language switch of the shell (the console's pages follow it through lang.js).
$("#lang").addEventListener("click", () => setLang(lang() === "zh" ? "en" : "zh"));
onLanguage(applyLanguage);
$("#verify-form").addEventListener("submit", verify);
applyLanguage();
loadGenesis().then(() => { document.body.dataset.ready = "true"; });
