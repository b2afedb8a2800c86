// A chain's identity from its genesis.json alone (docs/receipt.md, "What genesis.json
// gives a verifier"): chain id, name, the first validators, the epoch length, and the
// hash of block 0 computed offline (state root of `alloc`, the Cancun header, QBFT hash).
import { keccak_256, RLP } from "ledger/vendor/crypto.js";
import { fromHex, scalar, fixed, utf8 } from "ledger/bytes.js";
import { isInteger, isObject } from "ledger/json.js";
import { BLANK_ROOT, secureTrieRoot } from "ledger/mpt.js";
import { blockHash, decodeExtra, DEFAULT_EPOCH_LENGTH } from "ledger/qbft.js";

// Names are shown in messages and on certificates: room for a long Chinese name.
export const MAX_CHAIN_NAME_BYTES = 128;
// config.qbft.epochlength: positive and below 2**31, the node's bound on every QBFT period
// (evidence/genesis.py MAX_EPOCH_LENGTH).
export const MAX_EPOCH_LENGTH = 2n ** 31n - 1n;
// Accounts plus storage slots hashed before a genesis is refused (a consortium's holds a
// handful; hashing this many in a browser takes seconds).
export const MAX_ALLOC_ENTRIES = 100000;
const MIX_HASH = fromHex("63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365");
const REFUSED = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Zl}\p{Zp}]/u;
const HEX = /^0x(?:[0-9a-fA-F]{2})*$/;
const HEX_NUMBER = /^0x[0-9a-fA-F]+$/;
const DECIMAL = /^[0-9]+$/;
const ADDRESS = /^(?:0x)?[0-9a-fA-F]{40}$/;

export class GenesisError extends Error {
  constructor(field, reason) { super(`${field}: ${reason}`); this.field = field; }
}

/** `name` if it is a usable chain name (docs/receipt.md, chainName), else GenesisError. */
export function checkChainName(name, field) {
  if (typeof name !== "string") throw new GenesisError(field, "must be a string");
  if (!name.isWellFormed()) throw new GenesisError(field, "is not valid Unicode");
  const size = utf8(name).length;
  if (size < 1 || size > MAX_CHAIN_NAME_BYTES) throw new GenesisError(field, `must be 1 to ${MAX_CHAIN_NAME_BYTES} bytes of UTF-8, got ${size}`);
  if (name !== name.trim()) throw new GenesisError(field, "must not begin or end with white space");
  if (name.normalize("NFC") !== name) throw new GenesisError(field, "must be in Unicode normalization form C");
  const bad = name.match(REFUSED);
  if (bad) throw new GenesisError(field, `must not contain the character U+${bad[0].codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}`);
  return name;
}

// obj.get(name, fallback) as Python reads it: a member present with null is null, not absent.
const get = (obj, name, fallback) => (name in obj ? obj[name] : fallback);

function required(obj, name, where) {
  if (!isObject(obj)) throw new GenesisError(where, "must be a JSON object");
  if (!(name in obj)) throw new GenesisError(where === "genesis" ? name : `${where}.${name}`, "is missing");
  return obj[name];
}

function object(doc, name, where) {
  const value = name === null ? doc : required(doc, name, where);
  if (!isObject(value)) throw new GenesisError(name ?? where, "must be a JSON object");
  return value;
}

/** A JSON integer, or a string of 0x-hex or decimal digits, in [low, high) (BigInt). */
function number(value, field, low, high) {
  let n;
  if (isInteger(value)) n = BigInt(value);
  else if (typeof value === "string" && (HEX_NUMBER.test(value) || DECIMAL.test(value))) {
    const hex = value.startsWith("0x");
    const digits = (hex ? value.slice(2) : value).replace(/^0+/, "") || "0";
    if (digits.length > (hex ? 64 : 78)) throw new GenesisError(field, `must be below ${high}`);
    n = BigInt(hex ? "0x" + digits : digits);
  } else throw new GenesisError(field, "must be an integer or a 0x-hex or decimal string");
  if (n < low || n >= high) throw new GenesisError(field, `must be at least ${low} and below ${high}, got ${n}`);
  return n;
}

function hexBytes(value, field) {
  if (typeof value !== "string" || !HEX.test(value)) throw new GenesisError(field, "must be 0x-prefixed hex, two digits a byte");
  return fromHex(value.slice(2));
}

export function chainName(doc) {
  const ledger = isObject(doc) ? get(doc, "evidenceLedger", Object.create(null)) : null;
  if (!isObject(ledger)) throw new GenesisError("evidenceLedger", "must be an object");
  if ("chainName" in ledger) return checkChainName(ledger.chainName, "evidenceLedger.chainName");
  return `chain ${number(required(object(doc, "config", "genesis"), "chainId", "config"), "config.chainId", 1n, 2n ** 63n)}`;
}

/** genesis.json's extraData: one validator at least, none twice, no vote, round 0, no seals. */
export function genesisExtraData(doc) {
  const raw = hexBytes(required(object(doc, null, "genesis"), "extraData", "genesis"), "extraData");
  let extra;
  try { extra = decodeExtra(raw); } catch (e) { throw new GenesisError("extraData", e.message); }
  if (extra.validators.length === 0) throw new GenesisError("extraData", "names no validators");
  if (new Set(extra.validators).size !== extra.validators.length) throw new GenesisError("extraData", "names a validator twice");
  if (extra.vote !== null || extra.round.length !== 0 || extra.seals.length) throw new GenesisError("extraData", "genesis extraData carries no vote, round 0 and no seals");
  return extra;
}

/** The state root of `alloc` (docs/receipt.md, "The genesis hash", step 1). */
export function stateRoot(alloc) {
  const accounts = new Map();
  let entries = 0;
  for (const [key, entry] of Object.entries(alloc)) {
    const where = `alloc.${key}`;
    if (!ADDRESS.test(key)) throw new GenesisError(where, "must be a 20-byte address in hex");
    const address = fromHex(key.replace(/^0x/, ""));
    const id = key.replace(/^0x/, "").toLowerCase();
    if (accounts.has(id)) throw new GenesisError(where, `lists account 0x${id} a second time`);
    if (!isObject(entry)) throw new GenesisError(where, "must be an object");
    const storageDoc = "storage" in entry ? entry.storage : Object.create(null);
    if (!isObject(storageDoc)) throw new GenesisError(`${where}.storage`, "must be an object");
    entries += 1 + Object.keys(storageDoc).length;
    if (entries > MAX_ALLOC_ENTRIES) throw new GenesisError("alloc", `more than ${MAX_ALLOC_ENTRIES} accounts and storage slots`);
    const storage = new Map();
    for (const [slotDoc, valueDoc] of Object.entries(storageDoc)) {
      const slot = number(slotDoc, `${where}.storage`, 0n, 2n ** 256n);
      const value = number(valueDoc, `${where}.storage.${slotDoc}`, 0n, 2n ** 256n);
      const slotKey = fixed(slot, 32);
      if (storage.has(slot)) throw new GenesisError(`${where}.storage.${slotDoc}`, `lists slot ${slot} a second time`);
      if (value) storage.set(slot, [slotKey, RLP.encode(scalar(value))]); // a zero slot is no slot
    }
    const slots = [...storage.values()];
    const code = "code" in entry ? hexBytes(entry.code, `${where}.code`) : new Uint8Array(0);
    const balance = number(get(entry, "balance", 0), `${where}.balance`, 0n, 2n ** 256n);
    const nonce = number(get(entry, "nonce", 0), `${where}.nonce`, 0n, 2n ** 64n);
    accounts.set(id, [address, RLP.encode([scalar(nonce), scalar(balance), secureTrieRoot(slots), keccak_256(code)])]);
  }
  return secureTrieRoot([...accounts.values()]);
}

/** Block 0's header fields (docs/receipt.md, "The genesis hash", step 2). */
export function genesisHeader(doc) {
  const genesis = object(doc, null, "genesis");
  const gasLimit = number(required(genesis, "gasLimit", "genesis"), "gasLimit", 21000n, 2n ** 63n);
  const timestamp = number(get(genesis, "timestamp", 0), "timestamp", 0n, 2n ** 63n);
  if ("mixHash" in genesis && hexBytes(genesis.mixHash, "mixHash").join() !== MIX_HASH.join()) {
    throw new GenesisError("mixHash", "must be the QBFT constant");
  }
  genesisExtraData(genesis);
  const extraData = hexBytes(genesis.extraData, "extraData");
  const zero = (n) => new Uint8Array(n);
  const empty = new Uint8Array(0);
  return [
    zero(32), keccak_256(RLP.encode([])), zero(20), stateRoot(object(genesis, "alloc", "genesis")),
    BLANK_ROOT, BLANK_ROOT, zero(256), scalar(1), empty, scalar(gasLimit), empty, scalar(timestamp),
    extraData, MIX_HASH, zero(8), empty, BLANK_ROOT, empty, empty, zero(32),
  ];
}

/** What a verifier takes from genesis.json (evidence/receipt.py GenesisTrust): chainId
 *  (BigInt), name, genesisHash (bytes), validators (sorted 0x-hex), epochLength (BigInt). */
export function genesisTrust(doc) {
  const config = object(doc, "config", "genesis");
  const chainId = number(required(config, "chainId", "config"), "config.chainId", 1n, 2n ** 63n);
  const name = chainName(doc);
  const genesisHash = blockHash(genesisHeader(doc));
  const extra = genesisExtraData(doc);
  const qbft = "qbft" in config ? config.qbft : Object.create(null);
  if (!isObject(qbft)) throw new GenesisError("config.qbft", "must be an object");
  // a number as every number of genesis.json (no trim, no fraction), 1 to 2**31 - 1
  const epochLength = "epochlength" in qbft
    ? number(qbft.epochlength, "config.qbft.epochlength", 1n, MAX_EPOCH_LENGTH + 1n) : BigInt(DEFAULT_EPOCH_LENGTH);
  return { chainId, name, genesisHash, validators: [...extra.validators].sort(), epochLength };
}
