// Byte strings for the verifier: strict 0x-hex, comparison, big-endian integers, UTF-8.
// Pure functions; nothing here touches the page or the network.

// Pairs of hex digits and nothing else: no white space, though Python's bytes.fromhex
// skips it between pairs (both verifiers check the spelling before they decode).
const HEX_PAIRS = /^(?:[0-9a-fA-F]{2})*$/;

/** Bytes of `text` without its "0x": pairs of hex digits (either case), nothing else. */
export function fromHex(text) {
  if (!HEX_PAIRS.test(text)) throw new Error("not hex");
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
  return out;
}

export function toHex(bytes) {
  let out = "0x";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

export function equal(a, b) {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array) || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** The unsigned big-endian integer of `bytes` (an RLP integer), as a BigInt. */
export function toBigInt(bytes) {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

/** An RLP integer: big-endian, no leading zero byte, 0 as the empty string. */
export function scalar(value) {
  let n = BigInt(value);
  const out = [];
  while (n > 0n) { out.unshift(Number(n & 0xffn)); n >>= 8n; }
  return Uint8Array.from(out);
}

export function fixed(value, length) {
  const s = scalar(value);
  if (s.length > length) throw new Error("integer too large");
  return concat(new Uint8Array(length - s.length), s);
}

export function isBytes(value) {
  return value instanceof Uint8Array;
}

export const utf8 = (text) => new TextEncoder().encode(text);
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
export const fromUtf8 = (bytes) => STRICT_UTF8.decode(bytes);
