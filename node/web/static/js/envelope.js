// Opening a sealed envelope (docs/envelopes.md, version 1) in the browser, written from
// that page as a second implementation of client/envelope.py's open_envelope: the key
// wraps (RSA-OAEP-256; ECDH-ES+HKDF-SHA256+A256KW on P-256, P-384 or secp256k1) and the
// content (AES-256-GCM) with WebCrypto; secp256k1's ECDH, which WebCrypto lacks, with the
// vendored @noble/curves; the private key file's DER read with the vendored asn1js.
// Nothing here sends anything anywhere: the key and the plaintext stay in the page.
//
// The national algorithms are not opened here: WebCrypto has neither SM2 nor SM4, and no
// vendored library ships SM2 decryption and SM4-GCM (crypto.js takes only SM3 from
// sm-crypto). An SM4-GCM envelope and an SM2 key file are refused, naming the command
// that opens them; an SM2 entry is read (its keys checked) and passed over, so an RSA or
// EC recipient of an AES-256-GCM envelope that also names an SM2 recipient still opens it.
import { fromBER } from "ledger/vendor/asn1.js";
import { secp256k1, sm3 } from "ledger/vendor/crypto.js";
import { concat, equal, toHex, utf8 } from "ledger/bytes.js";
import { isObject, parseJson } from "ledger/json.js";

const MAGIC = utf8("ELSEAL");
const VERSION = 1;
// The header cap of docs/envelopes.md (client/envelope.py MAX_HEADER_BYTES).
export const MAX_HEADER_BYTES = 262_144;
// The node's blob cap (node/api.py MAX_BLOB_BYTES): no envelope is larger.
export const MAX_ENVELOPE_BYTES = 64 * 1024 * 1024;
// A private key file (PEM) is a few KB even for RSA-8192; larger is not one.
export const MAX_KEY_FILE_BYTES = 64 * 1024;
const MAX_RECIPIENTS = 64;
const TAG_BYTES = 16;
const EC_ALG = "ECDH-ES+HKDF-SHA256+A256KW";
const RSA_ALG = "RSA-OAEP-256";
const SM2_ALG = "SM2";
const AES_GCM = "A256GCM";
const SM4_GCM = "SM4-GCM";
// The SM2 curve sm2p256v1 (GB/T 32918.5), as a key file's namedCurve.
const OID_SM2_CURVE = "1.2.156.10197.1.301";
// What opens what this page cannot (client/cli_evidence.py `evidence open`, docs/cli.md).
export const NATIONAL_COMMAND = "ledger evidence open ENVELOPE --cert YOUR-CERT.pem --cert-key YOUR-KEY.pem --out FILE";
const NATIONAL_OPENER = `open it with the command line: ${NATIONAL_COMMAND} ` +
  "(ENVELOPE: its SHA-256 or sealed record; a contract's document also takes --aad-hex CONTRACT-ID)";
const KDF_LABEL = utf8("evidence-ledger/seal/ECDH-ES+HKDF-SHA256+A256KW");
const OID_RSA = "1.2.840.113549.1.1.1";
const OID_EC = "1.2.840.10045.2.1";
const CURVES = { "1.2.840.10045.3.1.7": "P-256", "1.3.132.0.34": "P-384", "1.3.132.0.10": "secp256k1" };
const POINT_BYTES = { "P-256": 65, "P-384": 97, secp256k1: 65 };
const FIELD_BITS = { "P-256": 256, "P-384": 384 };

/** A refusal, named by the step of docs/envelopes.md "Opening" it failed at (or "key");
 *  `command` is set when the envelope or key needs the command line (the national algorithms). */
export class EnvelopeError extends Error {
  constructor(step, message, command = null) {
    super(message);
    this.step = step;
    this.command = command;
  }
}

// -- the envelope's frame and header (steps 1 and 2) -------------------------------------

function base64url(text, field) {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
    throw new EnvelopeError("header", `${field} is not base64url without padding`);
  }
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "==".slice(0, (4 - (text.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  // Canonical: unused trailing bits zero, so encoding the bytes again gives the same text.
  const again = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  if (again !== text) throw new EnvelopeError("header", `${field} is not canonical base64url`);
  return bytes;
}

function exactKeys(object, keys, what) {
  if (!isObject(object)) throw new EnvelopeError("header", `${what} is not an object`);
  const have = Object.keys(object).sort().join(",");
  if (have !== [...keys].sort().join(",")) throw new EnvelopeError("header", `${what} must have exactly the keys ${keys.join(", ")}`);
}

/** The envelope's parts: {prefix (magic ‖ version ‖ length ‖ header), header, body}. */
export function parseEnvelope(envelope) {
  // 1. Frame.
  if (envelope.length < 11 || !equal(envelope.subarray(0, 6), MAGIC)) throw new EnvelopeError("frame", "not a sealed envelope (no ELSEAL magic)");
  if (envelope[6] !== VERSION) throw new EnvelopeError("frame", `version ${envelope[6]} is not supported`);
  const length = new DataView(envelope.buffer, envelope.byteOffset + 7, 4).getUint32(0);
  if (length > MAX_HEADER_BYTES) throw new EnvelopeError("frame", `header of ${length} bytes is over ${MAX_HEADER_BYTES}`);
  if (envelope.length < 11 + length + TAG_BYTES) throw new EnvelopeError("frame", "envelope is too short for its header and tag");
  // 2. Header, strictly.
  let header;
  try {
    header = parseJson(new TextDecoder("utf-8", { fatal: true }).decode(envelope.subarray(11, 11 + length)));
  } catch (error) {
    throw new EnvelopeError("header", `header is not JSON: ${error.message}`);
  }
  exactKeys(header, ["enc", "iv", "recipients"], "header");
  if (header.enc !== AES_GCM && header.enc !== SM4_GCM) throw new EnvelopeError("header", `content cipher ${header.enc} is not ${AES_GCM} or ${SM4_GCM}`);
  const iv = base64url(header.iv, "iv");
  if (iv.length !== 12) throw new EnvelopeError("header", "iv is not 12 bytes");
  if (!Array.isArray(header.recipients) || header.recipients.length < 1 || header.recipients.length > MAX_RECIPIENTS) {
    throw new EnvelopeError("header", `recipients must be 1 to ${MAX_RECIPIENTS} entries`);
  }
  const seen = new Set();
  const recipients = header.recipients.map((entry, index) => {
    const what = `recipient ${index}`;
    if (!isObject(entry)) throw new EnvelopeError("header", `${what} is not an object`);
    if (entry.alg === RSA_ALG || entry.alg === SM2_ALG) exactKeys(entry, ["alg", "fp", "wk"], what);
    else if (entry.alg === EC_ALG) exactKeys(entry, ["alg", "crv", "epk", "fp", "wk"], what);
    else throw new EnvelopeError("header", `${what}: key wrap ${entry.alg} is not supported`);
    if (typeof entry.fp !== "string" || !/^[0-9a-f]{64}$/.test(entry.fp)) throw new EnvelopeError("header", `${what}: fp is not 64 lowercase hex digits`);
    if (seen.has(entry.fp)) throw new EnvelopeError("header", `${what}: fingerprint listed twice`);
    seen.add(entry.fp);
    const parsed = { alg: entry.alg, fp: entry.fp, wk: base64url(entry.wk, `${what} wk`) };
    if (entry.alg === EC_ALG) {
      if (!(entry.crv in POINT_BYTES)) throw new EnvelopeError("header", `${what}: curve ${entry.crv} is not supported`);
      parsed.crv = entry.crv;
      parsed.epk = base64url(entry.epk, `${what} epk`);
      if (parsed.epk.length !== POINT_BYTES[entry.crv] || parsed.epk[0] !== 4) throw new EnvelopeError("header", `${what}: epk is not an uncompressed ${entry.crv} point`);
      const wrapped = header.enc === AES_GCM ? 40 : 24;  // RFC 3394 of a 32- or 16-byte data key
      if (parsed.wk.length !== wrapped) throw new EnvelopeError("header", `${what}: wk is not ${wrapped} bytes`);
    }
    return parsed;
  });
  if (header.enc === SM4_GCM) {
    const sm2 = recipients.filter((entry) => entry.alg === SM2_ALG).length;
    throw new EnvelopeError("algorithm", `this envelope is sealed with the national algorithms (SM4-GCM content` +
      `${sm2 ? `, SM2 key wrap for ${sm2} of its ${recipients.length} recipients` : ""}), which this browser cannot decrypt: ` +
      NATIONAL_OPENER, NATIONAL_COMMAND);
  }
  return { prefix: envelope.subarray(0, 11 + length), iv, recipients, body: envelope.subarray(11 + length) };
}

// -- the private key file ------------------------------------------------------------------

function pemBody(text) {
  const match = /-----BEGIN ([A-Z ]+)-----([\s\S]*?)-----END \1-----/.exec(text);
  if (!match) throw new EnvelopeError("key", "not a PEM private key file");
  if (match[1] === "ENCRYPTED PRIVATE KEY") throw new EnvelopeError("key", "the key file is password-protected: decrypt a copy first (openssl pkcs8)");
  if (match[1] === "SM2 PRIVATE KEY") throw sm2KeyRefused();
  if (match[1] !== "PRIVATE KEY" && match[1] !== "EC PRIVATE KEY") throw new EnvelopeError("key", `a PEM ${match[1]} is not a private key`);
  const der = Uint8Array.from(atob(match[2].replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  return { label: match[1], der };
}

function der(bytes) {
  const parsed = fromBER(bytes);
  if (parsed.offset === -1 || parsed.offset !== bytes.length) throw new EnvelopeError("key", "the key file's DER does not parse");
  return parsed.result;
}

const children = (node) => node?.valueBlock?.value ?? [];
const oidOf = (node) => node?.valueBlock?.toString?.();
const octets = (node) => new Uint8Array(node.valueBlock.valueHexView);

function sm2KeyRefused() {
  return new EnvelopeError("key", `an SM2 key: this browser has no SM2 (nor SM4) to open envelopes with; ${NATIONAL_OPENER}`,
    NATIONAL_COMMAND);
}

// SEC1 ECPrivateKey { version 1, privateKey OCTET STRING, [0] curve OID, [1] public key }.
function sec1(node) {
  const parts = children(node);
  const scalar = parts[1] ? octets(parts[1]) : null;
  const tagged = parts.find((p) => p.idBlock.tagClass === 3 && p.idBlock.tagNumber === 0);
  const curveOid = tagged ? oidOf(children(tagged)[0]) : undefined;
  if (!scalar) throw new EnvelopeError("key", "not an EC private key");
  if (curveOid === OID_SM2_CURVE) throw sm2KeyRefused();
  return { scalar, curve: CURVES[curveOid] };
}

/** A private key from a PEM file's text (PKCS#8 "PRIVATE KEY" or SEC1 "EC PRIVATE KEY"):
 *  {type: "rsa", key} | {type: "ec", curve, key (WebCrypto) | scalar (secp256k1)}. */
export async function readPrivateKey(text) {
  const { label, der: bytes } = pemBody(text);
  let type, curve, pkcs8 = null, scalar = null;
  if (label === "PRIVATE KEY") {
    const info = children(der(bytes));
    const algorithm = children(info[1]);
    const oid = oidOf(algorithm[0]);
    if (oid === OID_RSA) type = "rsa";
    else if (oid === OID_EC) {
      type = "ec";
      if (oidOf(algorithm[1]) === OID_SM2_CURVE) throw sm2KeyRefused();
      const inner = sec1(der(octets(info[2])));
      curve = CURVES[oidOf(algorithm[1])] ?? inner.curve;
      scalar = inner.scalar;
    } else throw new EnvelopeError("key", `a ${oid} key cannot open envelopes (RSA or EC only)`);
    pkcs8 = bytes;
  } else {
    type = "ec";
    ({ scalar, curve } = sec1(der(bytes)));
  }
  if (type === "rsa") {
    const key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "RSA-OAEP", hash: "SHA-256" }, false, ["decrypt"]);
    return { type, key };
  }
  if (!curve) throw new EnvelopeError("key", "the EC key's curve is not P-256, P-384 or secp256k1");
  if (curve === "secp256k1") return { type, curve, scalar };
  if (!pkcs8) throw new EnvelopeError("key", `a SEC1 ${curve} key: convert it to PKCS#8 first (openssl pkcs8 -topk8 -nocrypt)`);
  const key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "ECDH", namedCurve: curve }, false, ["deriveBits"]);
  return { type, curve, key };
}

// -- opening (steps 3 to 5) ----------------------------------------------------------------

async function sharedX(privateKey, entry) {
  if (entry.crv === "secp256k1") return secp256k1.getSharedSecret(privateKey.scalar, entry.epk, true).subarray(1);
  const epk = await crypto.subtle.importKey("raw", entry.epk, { name: "ECDH", namedCurve: entry.crv }, false, []);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: "ECDH", public: epk }, privateKey.key, FIELD_BITS[entry.crv]));
}

async function unwrap(privateKey, entry) {
  if (entry.alg === RSA_ALG) {
    const raw = await crypto.subtle.decrypt({ name: "RSA-OAEP" }, privateKey.key, entry.wk);
    return crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["decrypt"]);
  }
  const z = await sharedX(privateKey, entry);
  const fp = Uint8Array.from(entry.fp.match(/../g), (h) => parseInt(h, 16));
  const info = concat(KDF_LABEL, Uint8Array.of(0, VERSION), fp, entry.epk);
  const ikm = await crypto.subtle.importKey("raw", z, "HKDF", false, ["deriveBits"]);
  const kek = await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(32), info }, ikm, 256);
  const kekKey = await crypto.subtle.importKey("raw", kek, "AES-KW", false, ["unwrapKey"]);
  return crypto.subtle.unwrapKey("raw", entry.wk, kekKey, "AES-KW", "AES-GCM", false, ["decrypt"]);
}

function fits(privateKey, entry) {
  return privateKey.type === "rsa" ? entry.alg === RSA_ALG : entry.alg === EC_ALG && entry.crv === privateKey.curve;
}

/** The content of `envelope` (bytes) for `privateKey` (readPrivateKey), trying each
 *  `aads` (bytes) in turn: {content, aad}. The entry is found by trying the key on each
 *  entry of its type (a wrong key fails to unwrap), not by a certificate's fingerprint,
 *  so the page needs no certificate file. */
export async function openEnvelope(envelope, privateKey, aads = [new Uint8Array(0)]) {
  const { prefix, iv, recipients, body } = parseEnvelope(envelope);
  // 3. and 4. The entry this key unwraps.
  let dataKey = null;
  for (const entry of recipients.filter((e) => fits(privateKey, e))) {
    try {
      dataKey = await unwrap(privateKey, entry);
      break;
    } catch {
      // not this entry: a wrong key fails the unwrap (RSA-OAEP padding, AES-KW's check)
    }
  }
  if (dataKey === null) throw new EnvelopeError("recipient", "not a recipient: this key unwraps none of the envelope's keys");
  // 5. The content, with the envelope's prefix and the caller's aad authenticated.
  for (const aad of aads) {
    try {
      const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv, additionalData: concat(prefix, aad), tagLength: 128 }, dataKey, body);
      return { content: new Uint8Array(plain), aad };
    } catch {
      // the tag did not match with this aad
    }
  }
  throw new EnvelopeError("content", "authentication failed: decrypt content (the envelope was altered, or it is bound to other associated data)");
}

/** The digest of `content` by the contract's algorithm ("sha256" or "sm3"), 0x-hex. */
export async function digestOf(content, algorithm) {
  if (algorithm === "sm3") return toHex(sm3(content));
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", content)));
}
