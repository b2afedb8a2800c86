// Evidence receipts, verified in the browser: a second implementation of docs/receipt.md
// (the reference is evidence/receipt.py). `verifyReceipt` runs the steps in the document's
// order, stops at the first that fails and returns the whole table: each step passed,
// failed (with the reason), skipped (it does not apply) or not run (after a failure).
// Pure: the receipt's text, the file's bytes and genesis.json's text in, a result out.
import { keccak_256, RLP, sha256, sm3 } from "ledger/vendor/crypto.js";
import { concat, equal, fixed, fromHex, fromUtf8, isBytes, scalar, toBigInt, toHex, utf8 } from "ledger/bytes.js";
import { JsonError, isInteger, isObject, parseJson } from "ledger/json.js";
import { GenesisError, checkChainName, genesisTrust } from "ledger/genesis.js";
import { leafHash, verifyInclusion } from "ledger/merkle.js";
import { ProofError, verifyTrieProof } from "ledger/mpt.js";
import * as qbft from "ledger/qbft.js";
import { MAX_TOKEN_BYTES, TokenStructureError, parseToken } from "ledger/timestamp.js";

export const RECEIPT_VERSION = "evidence-ledger/receipt/v2";
export const RECEIPT_VERSION_V1 = "evidence-ledger/receipt/v1";
// The links, in order, named as evidence/receipt.py STEPS names them; a document that
// cannot be read at all fails at "genesis" (genesis.json) or "format" (the receipt).
export const STEPS = ["chain", "file", "inclusion", "header", "transaction", "receipt proof", "anchoring event",
  "validator history", "validators", "commit seals", "trusted time"];
export const EVIDENCE_REGISTRY = "0x0000000000000000000000000000000000001004";
const ANCHORED_TOPIC = keccak_256(utf8("Anchored(bytes32,address,bytes32,string,string,uint8,uint256,bytes32,uint256)"));
// Caps (docs/receipt.md, Conventions): a receipt document is attacker input.
export const MAX_RECEIPT_DOCUMENT_BYTES = 8 * 1024 * 1024;
export const MAX_VALIDATOR_HISTORY = 1024;
const ALGORITHMS = { sha256: { id: 1n, digest: sha256 }, sm3: { id: 2n, digest: sm3 } };
const TYPED_TRANSACTION_FIELDS = { 1: 11, 2: 12, 3: 14 };
const TX_ROOT = 4, RECEIPT_ROOT = 5, NUMBER = 8, TIMESTAMP = 11;

export class VerificationError extends Error {
  constructor(step, reason) { super(`${step}: ${reason}`); this.step = step; this.reason = reason; }
}

// entry.algorithm: letters, digits and hyphens, with JSON white space (space, tab, LF, CR)
// at either end; case and hyphens are then ignored (docs/receipt.md, Conventions). Pinned
// to ASCII, as evidence/receipt.py _ALGORITHM_NAME, because trim() and Python's strip()
// disagree on U+001C, U+0085, U+FEFF...
const ALGORITHM_NAME = /^[ \t\n\r]*([A-Za-z0-9-]+)[ \t\n\r]*$/;
// A byte string of a receipt: 0x, then lower-case hex digits, two a byte, nothing else.
const RECEIPT_HEX = /^0x(?:[0-9a-f]{2})*$/;
// The registry's bounds on an entry's strings, in UTF-8 bytes (evidence/receipt.py
// MAX_KIND_BYTES, MAX_CASE_BYTES): an entry outside them was never anchored.
export const MAX_KIND_BYTES = 32;
export const MAX_CASE_BYTES = 64;
// Digits a JSON integer of a receipt may have, its sign not counted: 2**256 - 1 has 78,
// and no integer a receipt holds needs more (evidence/receipt.py MAX_JSON_INTEGER_DIGITS).
export const MAX_JSON_INTEGER_DIGITS = 78;

/** "sha256" or "sm3" for an entry's algorithm (case, hyphens and JSON white space at
 *  either end forgiven, nothing else: as the reference). */
function canonicalAlgorithm(name) {
  const spelled = typeof name === "string" ? ALGORITHM_NAME.exec(name) : null;
  if (spelled === null) throw new Error(`${JSON.stringify(name)} is not a digest algorithm name`);
  const canonical = spelled[1].toLowerCase().replaceAll("-", "");
  if (!(canonical in ALGORITHMS)) throw new Error(`unknown digest algorithm ${JSON.stringify(name)}`);
  return canonical;
}

/** Parse a receipt document (text or UTF-8 bytes); VerificationError at step "format". */
export function parseReceipt(input) {
  const step = "format";
  const fail = (reason) => { throw new VerificationError(step, reason); };
  if (input.length > MAX_RECEIPT_DOCUMENT_BYTES) fail(`receipt larger than ${MAX_RECEIPT_DOCUMENT_BYTES} bytes`);
  let text = input;
  if (isBytes(input)) {
    try { text = fromUtf8(input); } catch { fail("not JSON: not UTF-8"); }
  }
  let doc;
  try { doc = parseJson(text, { maxIntegerDigits: MAX_JSON_INTEGER_DIGITS }); } catch (e) { if (e instanceof JsonError) fail(`not JSON: ${e.message}`); throw e; }
  const TYPES = {
    str: (v) => typeof v === "string", int: isInteger, dict: isObject, list: Array.isArray,
  };
  const need = (obj, name, kind, where) => {
    if (!isObject(obj) || !(name in obj)) fail(`${where}.${name} is missing`);
    if (!TYPES[kind](obj[name])) fail(`${where}.${name} has the wrong type`);
    return obj[name];
  };
  const hexbytes = (obj, name, where, length) => {
    const text = need(obj, name, "str", where);
    if (!RECEIPT_HEX.test(text)) fail(`${where}.${name} must be 0x and lower-case hex, two digits a byte`);
    const raw = fromHex(text.slice(2));
    if (length !== undefined && raw.length !== length) fail(`${where}.${name} must be ${length} bytes`);
    return raw;
  };
  const hexlist = (obj, name, where, length) =>
    need(obj, name, "list", where).map((item, i) => hexbytes({ x: item }, "x", `${where}.${name}[${i}]`, length));
  const utf8Text = (obj, name, where, low, high) => {
    const text = need(obj, name, "str", where);
    // a lone surrogate (a \ud800 escape) is no UTF-8 string: no registry holds one
    if (!text.isWellFormed()) fail(`${where}.${name} is not valid Unicode (a lone surrogate)`);
    const size = utf8(text).length;
    if (size < low || size > high) fail(`${where}.${name} must be ${low} to ${high} bytes of UTF-8, got ${size}`);
    return text;
  };
  const natural = (obj, name, where) => {
    const value = BigInt(need(obj, name, "int", where));
    if (value < 0n) fail(`${where}.${name} must not be negative`);
    return value;
  };
  if (!isObject(doc)) fail("a receipt is a JSON object");
  const version = doc.version;
  if (version !== RECEIPT_VERSION && version !== RECEIPT_VERSION_V1) fail(`version must be ${JSON.stringify(RECEIPT_VERSION)} (or ${JSON.stringify(RECEIPT_VERSION_V1)})`);
  let genesisHash = null, chainName = null;
  if (version === RECEIPT_VERSION) {
    genesisHash = hexbytes(doc, "genesisHash", "receipt", 32);
    try { chainName = checkChainName(need(doc, "chainName", "str", "receipt"), "receipt.chainName"); } catch (e) {
      if (e instanceof GenesisError) fail(e.message); throw e;
    }
  }
  const entry = need(doc, "entry", "dict", "receipt");
  const algorithmText = need(entry, "algorithm", "str", "entry");
  let algorithm;
  try { algorithm = canonicalAlgorithm(algorithmText); } catch (e) { fail(`entry.algorithm: ${e.message}`); }
  if (!("batch" in doc)) fail("receipt.batch is missing"); // required; null when anchored on its own
  const batchDoc = doc.batch;
  let batch = null;
  if (batchDoc !== null) {
    batch = {
      root: hexbytes(batchDoc, "root", "batch", 32), leafIndex: natural(batchDoc, "leafIndex", "batch"),
      treeSize: natural(batchDoc, "treeSize", "batch"), inclusionPath: hexlist(batchDoc, "inclusionPath", "batch", 32),
    };
  }
  const anchor = need(doc, "anchor", "dict", "receipt");
  const proof = need(doc, "proof", "dict", "receipt");
  let history = [];
  if ("validatorHistory" in proof) { // absent in receipts from before validator votes: no votes
    history = hexlist(proof, "validatorHistory", "proof");
    if (history.length > MAX_VALIDATOR_HISTORY) fail(`proof.validatorHistory holds more than ${MAX_VALIDATOR_HISTORY} headers`);
  }
  const receipt = {
    version, chainId: natural(doc, "chainId", "receipt"), digest: hexbytes(entry, "digest", "entry", 32), algorithm,
    kind: utf8Text(entry, "kind", "entry", 1, MAX_KIND_BYTES), case: utf8Text(entry, "case", "entry", 0, MAX_CASE_BYTES),
    metadataDigest: hexbytes(entry, "metadataDigest", "entry", 32), batch,
    registry: hexbytes(anchor, "registry", "anchor", 20), blockNumber: natural(anchor, "blockNumber", "anchor"),
    blockHash: hexbytes(anchor, "blockHash", "anchor", 32), transactionIndex: natural(anchor, "transactionIndex", "anchor"),
    transactionHash: hexbytes(anchor, "transactionHash", "anchor", 32), logIndex: natural(anchor, "logIndex", "anchor"),
    header: hexbytes(proof, "header", "proof"), transaction: hexbytes(proof, "transaction", "proof"),
    transactionProof: hexlist(proof, "transactionProof", "proof"), receipt: hexbytes(proof, "receipt", "proof"),
    receiptProof: hexlist(proof, "receiptProof", "proof"), validatorHistory: history, genesisHash, chainName,
    timestampToken: timestampMember(doc, fail),
  };
  receipt.anchored = batch !== null ? batch.root : receipt.digest;
  return receipt;
}

/** The optional `timestamp` member: canonical base64 (RFC 4648 section 4) of a token whose
 *  structure holds (evidence/timestamp.py step 1, timestamp.js). Who signed it and over
 *  what is step 11's business, which this verifier reports as not checked. */
function timestampMember(doc, fail) {
  if (!("timestamp" in doc)) return null;
  const text = doc.timestamp;
  if (typeof text !== "string") fail("receipt.timestamp must be a base64 string");
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) fail("receipt.timestamp is not base64");
  const raw = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  // before re-encoding it (a spread of megabytes would overflow the stack): refused all the same
  if (raw.length > MAX_TOKEN_BYTES) fail(`receipt.timestamp is not a time-stamp token: the token is ${raw.length} bytes, more than the ${MAX_TOKEN_BYTES} allowed`);
  if (btoa(String.fromCharCode(...raw)) !== text) fail("receipt.timestamp is not in canonical base64");
  try { parseToken(raw); } catch (e) {
    if (e instanceof TokenStructureError) fail(`receipt.timestamp is not a time-stamp token: ${e.reason}`);
    throw e;
  }
  return raw;
}

/** Read genesis.json (text) as the reference does; VerificationError at step "genesis". */
export function readGenesis(text) {
  try {
    return genesisTrust(parseJson(text, { duplicates: "last" }));
  } catch (e) {
    if (e instanceof JsonError || e instanceof GenesisError || e instanceof qbft.HeaderFormatError) {
      throw new VerificationError("genesis", `not a QBFT genesis.json: ${e.message}`);
    }
    throw e;
  }
}

const describe = (name, hash, chainId) => `${name} (genesis ${toHex(hash)}, chain id ${chainId})`;

function headerFields(encoded, step) {
  let fields;
  try { fields = RLP.decode(encoded); } catch (e) { throw new VerificationError(step, `not an RLP header: ${e.message}`); }
  if (!Array.isArray(fields) || fields.length < 15 || !fields.every(isBytes)) throw new VerificationError(step, "not a block header");
  return fields;
}

function numberField(value) {
  if (!isBytes(value) || value.length > 32) throw new Error("a number field of the transaction is not a 256-bit integer");
  return toBigInt(value);
}

/** [chain id, sender] of a signed transaction in its network encoding (step 5). */
function transactionSigner(encoded) {
  const step = "transaction";
  const kind = encoded.length ? encoded[0] : -1;
  let chainId, parity, digest, fields, r, s;
  try {
    if (kind in TYPED_TRANSACTION_FIELDS) {
      fields = RLP.decode(encoded.subarray(1));
      if (!Array.isArray(fields) || fields.length !== TYPED_TRANSACTION_FIELDS[kind]) throw new Error(`a type-${kind} transaction has ${TYPED_TRANSACTION_FIELDS[kind]} fields`);
      chainId = numberField(fields[0]);
      parity = numberField(fields[fields.length - 3]);
      digest = keccak_256(concat(encoded.subarray(0, 1), RLP.encode(fields.slice(0, -3))));
    } else if (kind >= 0xc0) {
      fields = RLP.decode(encoded);
      if (!Array.isArray(fields) || fields.length !== 9) throw new Error("a legacy transaction has 9 fields");
      const v = numberField(fields[6]);
      // EIP-155: v = 35 + 2 * chainId + parity; 27 or 28 signs for no chain at all.
      [chainId, parity] = v >= 35n ? [(v - 35n) / 2n, (v - 35n) % 2n] : [null, 0n];
      digest = keccak_256(RLP.encode([...fields.slice(0, 6), scalar(chainId ?? 0n), new Uint8Array(0), new Uint8Array(0)]));
    } else {
      throw new Error(`type ${toHex(encoded.subarray(0, 1))} is not a transaction type this verifier reads`);
    }
    r = numberField(fields[fields.length - 2]);
    s = numberField(fields[fields.length - 1]);
  } catch (e) {
    throw new VerificationError(step, `not a signed transaction: ${e.message}`);
  }
  if (chainId === null) throw new VerificationError(step, "the transaction is not replay-protected (EIP-155): it is signed for no chain");
  if (parity > 1n) throw new VerificationError(step, `the transaction's signature has y parity ${parity}, not 0 or 1`);
  let sender;
  try {
    sender = qbft.recoverSigner(concat(fixed(r, 32), fixed(s, 32), Uint8Array.of(Number(parity))), digest);
  } catch (e) {
    throw new VerificationError(step, `the transaction's signature names no sender: ${e.message}`);
  }
  return [chainId, sender];
}

/** ABI (string kind, string case, uint8, uint256, bytes32, uint256) of the Anchored event. */
function decodeEventData(data) {
  const word = (i) => {
    const chunk = data.subarray(32 * i, 32 * i + 32);
    if (chunk.length !== 32) throw new Error("event data too short");
    return toBigInt(chunk);
  };
  const string = (offset) => {
    if (offset + 32n > BigInt(data.length)) throw new Error("string offset out of range");
    const o = Number(offset);
    const length = toBigInt(data.subarray(o, o + 32));
    if (offset + 32n + length > BigInt(data.length)) throw new Error("string runs past the data");
    return fromUtf8(data.subarray(o + 32, o + 32 + Number(length)));
  };
  return [string(word(0)), string(word(1)), word(2), word(3), data.subarray(128, 160), word(5)];
}

function checkEvent(receipt, sender) {
  const step = "anchoring event";
  const fail = (reason) => { throw new VerificationError(step, reason); };
  let body = receipt.receipt;
  if (body.length && body[0] < 0x80) body = body.subarray(1); // EIP-2718 typed receipt
  let fields;
  try { fields = RLP.decode(body); } catch (e) { fail(`the transaction receipt is not a receipt: ${e.message}`); }
  if (!Array.isArray(fields) || fields.length !== 4) fail("the transaction receipt is not a receipt");
  const [status, , , logs] = fields;
  if (!isBytes(status) || status.length !== 1 || status[0] !== 1) fail("the anchoring transaction failed");
  if (!Array.isArray(logs) || !(receipt.logIndex < BigInt(logs.length))) fail(`the receipt has no log ${receipt.logIndex}`);
  const log = logs[Number(receipt.logIndex)];
  if (!Array.isArray(log) || log.length !== 3) fail("malformed log");
  const [address, topics, data] = log;
  if (toHex(receipt.registry) !== EVIDENCE_REGISTRY || !isBytes(address) || toHex(address) !== EVIDENCE_REGISTRY) fail("the log is not from the evidence registry");
  if (!Array.isArray(topics) || topics.length !== 4 || !equal(topics[0], ANCHORED_TOPIC)) fail("the log is not an Anchored event");
  if (!equal(topics[1], receipt.anchored)) fail("the event anchors another digest");
  // The registry logs msg.sender as the submitter: it must be the transaction's signer.
  if (!equal(topics[2], concat(new Uint8Array(12), fromHex(sender.slice(2))))) fail(`the event's submitter is not the transaction's sender ${sender}`);
  if (!equal(topics[3], keccak_256(utf8(receipt.case)))) fail("the event names another case");
  if (!isBytes(data)) fail("malformed event data");
  let kind, kase, algorithm, leafCount, metadata;
  try { [kind, kase, algorithm, leafCount, metadata] = decodeEventData(data); } catch (e) { fail(`malformed event data: ${e.message}`); }
  const expectedCount = receipt.batch !== null ? receipt.batch.treeSize : 1n;
  const checks = [["kind", kind === receipt.kind], ["case", kase === receipt.case],
    ["digest algorithm", algorithm === ALGORITHMS[receipt.algorithm].id], ["leaf count", leafCount === expectedCount],
    ["metadata digest", equal(metadata, receipt.metadataDigest)]];
  for (const [name, ok] of checks) if (!ok) fail(`the event's ${name} is not the receipt's`);
}

function checkChain(receipt, genesis) {
  const step = "chain";
  const given = describe(genesis.name, genesis.genesisHash, genesis.chainId);
  if (receipt.genesisHash === null) { // v1: the chain id alone
    if (receipt.chainId !== genesis.chainId) throw new VerificationError(step, `this receipt belongs to another chain: chain id ${receipt.chainId} (a v1 receipt names no genesis); the genesis you gave is ${given}`);
    return;
  }
  if (!equal(receipt.genesisHash, genesis.genesisHash) || receipt.chainId !== genesis.chainId) {
    throw new VerificationError(step, `this receipt belongs to another chain: ${describe(receipt.chainName, receipt.genesisHash, receipt.chainId)}; the genesis you gave is ${given}`);
  }
  if (receipt.chainName !== genesis.name) {
    throw new VerificationError(step, `the receipt calls its chain ${JSON.stringify(receipt.chainName)}, but the genesis you gave, of the same chain, calls it ${JSON.stringify(genesis.name)}`);
  }
}

const v1Hint = (receipt) => receipt.genesisHash !== null ? "" :
  " (a v1 receipt names only its chain id: check that genesis.json is the genesis of the chain that anchored it)";

function followHistory(receipt, genesis) {
  const step = "validator history";
  const headers = receipt.validatorHistory.map((encoded, index) => {
    let fields, extra;
    try {
      fields = headerFields(encoded, step);
      extra = qbft.extraDataOf(fields);
    } catch (e) {
      throw new VerificationError(step, `header ${index}: ${e.reason ?? e.message}`);
    }
    const height = toBigInt(fields[NUMBER]);
    if (extra.vote === null) throw new VerificationError(step, `header ${index} (block ${height}) carries no vote`);
    if (height >= receipt.blockNumber) throw new VerificationError(step, `header ${index} is block ${height}, not before the anchoring block ${receipt.blockNumber}`);
    return fields;
  });
  try {
    return qbft.followValidatorSet(qbft.startTally(genesis.validators, genesis.epochLength), headers).validators;
  } catch (e) {
    if (e instanceof qbft.ValidatorSetError) throw new VerificationError(step, e.message + v1Hint(receipt));
    throw e;
  }
}

/** Steps 1-11 over a parsed receipt; returns what a valid receipt proves, or throws
 *  VerificationError naming the step. `file` is the file's bytes (null: step 2 skipped);
 *  `passed(step, note)` is told each step that passed or was skipped, in order. */
export function checkReceipt(receipt, genesis, file, passed = () => {}) {
  // 1. the chain: the receipt's is the one genesis.json starts
  checkChain(receipt, genesis);
  passed("chain", receipt.genesisHash === null ? "v1" : "v2");
  // 2. file -> digest
  if (file !== null) {
    const digest = ALGORITHMS[receipt.algorithm].digest(file);
    if (!equal(digest, receipt.digest)) throw new VerificationError("file", `the file's ${receipt.algorithm} digest is ${toHex(digest)}, the receipt's entry is ${toHex(receipt.digest)}`);
    passed("file", receipt.algorithm);
  } else passed("file", "skipped");
  // 3. digest -> inclusion path -> batch root
  if (receipt.batch !== null) {
    const b = receipt.batch;
    const small = (n) => (n <= 2n ** 32n ? Number(n) : -1);
    try { verifyInclusion(leafHash(receipt.digest), small(b.leafIndex), small(b.treeSize), b.inclusionPath, b.root); } catch (e) {
      throw new VerificationError("inclusion", e.message);
    }
    passed("inclusion", `${b.leafIndex}/${b.treeSize}`);
  } else passed("inclusion", "skipped");
  // 4. the header, whose roots the next steps rely on
  const header = headerFields(receipt.header, "header");
  let hash;
  try { hash = qbft.blockHash(header); } catch (e) { throw new VerificationError("header", e.message); }
  if (!equal(hash, receipt.blockHash)) throw new VerificationError("header", "the header does not hash to blockHash");
  const number = toBigInt(header[NUMBER]);
  if (number !== receipt.blockNumber) throw new VerificationError("header", `the header is block ${number}, not ${receipt.blockNumber}`);
  passed("header");
  const key = RLP.encode(receipt.transactionIndex);
  // 5. the anchoring transaction, in the block's transactions trie, and who signed it
  if (!equal(keccak_256(receipt.transaction), receipt.transactionHash)) throw new VerificationError("transaction", "the transaction does not hash to transactionHash");
  let proven;
  try { proven = verifyTrieProof(header[TX_ROOT], key, receipt.transactionProof); } catch (e) {
    if (e instanceof ProofError) throw new VerificationError("transaction", `transactions-trie proof: ${e.message}`);
    throw e;
  }
  if (!equal(proven, receipt.transaction)) throw new VerificationError("transaction", "the transactions trie holds another transaction at this index");
  const [signedChainId, sender] = transactionSigner(receipt.transaction);
  if (signedChainId !== receipt.chainId) throw new VerificationError("transaction", `the transaction is signed for chain id ${signedChainId}, the receipt is for chain id ${receipt.chainId}`);
  passed("transaction");
  // 6. its receipt, in the block's receipts trie
  try { proven = verifyTrieProof(header[RECEIPT_ROOT], key, receipt.receiptProof); } catch (e) {
    if (e instanceof ProofError) throw new VerificationError("receipt proof", e.message);
    throw e;
  }
  if (!equal(proven, receipt.receipt)) throw new VerificationError("receipt proof", "the receipts trie holds another receipt at this index");
  passed("receipt proof");
  // 7. the anchoring event in that receipt, submitted by the transaction's sender
  checkEvent(receipt, sender);
  passed("anchoring event");
  // 8. the validator set in force at the block: genesis.json's, carried through the votes
  const validators = followHistory(receipt, genesis);
  passed("validator history", `${receipt.validatorHistory.length}`);
  // 9. the header lists that set
  const extra = qbft.extraDataOf(header);
  if (extra.validators.length !== validators.length || extra.validators.some((v, i) => v !== validators[i])) {
    throw new VerificationError("validators", "the header's validator set is not the one genesis.json and the validator history give" + v1Hint(receipt));
  }
  passed("validators");
  // 10. commit seals of a quorum of them
  let signers;
  try { signers = qbft.verifyCommitSeals(header, validators); } catch (e) { throw new VerificationError("commit seals", e.message); }
  passed("commit seals");
  // 11. trusted time: an RFC 3161 token needs its TSA's roots and a CMS implementation this
  // page does not carry, so a token is reported as present and not checked, never verified.
  passed("trusted time", receipt.timestampToken === null ? "none" : "not checked");
  return {
    digest: toHex(receipt.digest), algorithm: receipt.algorithm, kind: receipt.kind, case: receipt.case,
    blockNumber: receipt.blockNumber, blockHash: toHex(receipt.blockHash), timestamp: toBigInt(header[TIMESTAMP]),
    transactionHash: toHex(receipt.transactionHash), signers, validators, chainId: genesis.chainId,
    chainName: genesis.name, genesisHash: toHex(genesis.genesisHash), submitter: sender,
    trustedTime: receipt.timestampToken === null ? "none" : "not checked",
  };
}

/** The whole check as the page shows it: {valid, failedStep, reason, steps, verified}.
 *  Never throws for bad input: a document that cannot be read fails at "genesis"/"format". */
export function verifyReceipt({ receiptText, genesisText, file = null }) {
  const steps = STEPS.map((step) => ({ step, status: "not run", note: "" }));
  const result = { valid: false, failedStep: null, reason: "", steps, verified: null };
  const mark = (step, note = "") => {
    const row = steps.find((s) => s.step === step);
    row.status = ["skipped", "none", "not checked"].includes(note) ? note : "passed";
    row.note = note;
  };
  try {
    const genesis = readGenesis(genesisText);
    const receipt = parseReceipt(receiptText);
    result.receipt = receipt;
    result.verified = checkReceipt(receipt, genesis, file, mark);
    result.valid = true;
  } catch (e) {
    if (!(e instanceof VerificationError)) throw e;
    result.failedStep = e.step;
    result.reason = e.reason;
    const row = steps.find((s) => s.step === e.step);
    if (row) { row.status = "failed"; row.note = e.reason; }
  }
  return result;
}
