var __defProp = Object.defineProperty;
var __defNormalProp = (obj, key, value) => key in obj ? __defProp(obj, key, { enumerable: true, configurable: true, writable: true, value }) : obj[key] = value;
var __publicField = (obj, key, value) => __defNormalProp(obj, typeof key !== "symbol" ? key + "" : key, value);

// node_modules/@noble/hashes/_u64.js
var U32_MASK64 = /* @__PURE__ */ (() => BigInt(2 ** 32 - 1))();
var _32n = /* @__PURE__ */ BigInt(32);
function fromBig(n, le = false) {
  if (le)
    return { h: Number(n & U32_MASK64), l: Number(n >> _32n & U32_MASK64) };
  return { h: Number(n >> _32n & U32_MASK64) | 0, l: Number(n & U32_MASK64) | 0 };
}
function split(lst, le = false) {
  const len = lst.length;
  let Ah = new Uint32Array(len);
  let Al = new Uint32Array(len);
  for (let i = 0; i < len; i++) {
    const { h, l } = fromBig(lst[i], le);
    [Ah[i], Al[i]] = [h, l];
  }
  return [Ah, Al];
}
var fromNumH = (n) => n / 2 ** 32 | 0;
var fromNumL = (n) => n >>> 0;
function setU64FromNum(view, byteOffset, n, isLE2) {
  const h = fromNumH(n);
  const l = fromNumL(n);
  view.setUint32(byteOffset, isLE2 ? l : h, isLE2);
  view.setUint32(byteOffset + 4, isLE2 ? h : l, isLE2);
}

// node_modules/@noble/hashes/utils.js
function isBytes(a) {
  return a instanceof Uint8Array || ArrayBuffer.isView(a) && a.constructor.name === "Uint8Array" && "BYTES_PER_ELEMENT" in a && a.BYTES_PER_ELEMENT === 1;
}
var atitle = (title) => title ? `"${title}" ` : "";
function anumber(n, title = "") {
  if (typeof n !== "number")
    throw new TypeError(atitle(title) + "expected number, got " + typeof n);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError(atitle(title) + "expected integer >= 0, got " + n);
  return n;
}
function abool(value, title = "") {
  if (typeof value !== "boolean")
    throw new TypeError(atitle(title) + "expected boolean, got type=" + typeof value);
  return value;
}
function abytes(value, length, title = "") {
  if (isBytes(value) && (length === void 0 || value.length === length))
    return value;
  if (length !== void 0)
    anumber(length, "length");
  const bytes = isBytes(value);
  const ofLen = length !== void 0 ? ` of length ${length}` : "";
  const got = bytes ? `length=${value.length}` : `type=${typeof value}`;
  const message = atitle(title) + "expected Uint8Array" + ofLen + ", got " + got;
  if (!bytes)
    throw new TypeError(message);
  throw new RangeError(message);
}
function ahash(h) {
  if (typeof h !== "function" || typeof h.create !== "function")
    throw new TypeError("expected hash wrapped by utils.createHasher");
  anumber(h.outputLen);
  anumber(h.blockLen);
  if (h.outputLen < 1 || h.blockLen < 1)
    throw new Error("hash blockLen / outputLen must be >= 1");
}
var aobject = (value, label) => {
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw new TypeError((label === "object" ? "" : `"${label}" `) + "expected object, got type=" + typeof value);
};
var aopts = (value, label) => {
  aobject(value, label);
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null)
    throw new TypeError(`"${label}" expected plain object`);
  if (Object.hasOwn(value, "__proto__"))
    throw new TypeError(`"${label}.__proto__" is not allowed`);
};
function aexists(instance, checkFinished = true) {
  if (instance.destroyed)
    throw new Error("hash was destroyed");
  if (checkFinished && instance.finished)
    throw new Error("digest() was already called");
}
function aoutput(out, instance) {
  abytes(out, void 0, "output");
  const min = instance.outputLen;
  if (!(out.length >= min)) {
    throw new RangeError('"output" expected length >= ' + min);
  }
}
function u32(arr2) {
  return new Uint32Array(arr2.buffer, arr2.byteOffset, Math.floor(arr2.byteLength / 4));
}
function clean(...arrays) {
  for (let i = 0; i < arrays.length; i++) {
    arrays[i].fill(0);
  }
}
function createView(arr2) {
  return new DataView(arr2.buffer, arr2.byteOffset, arr2.byteLength);
}
function rotr(word, shift) {
  return word << 32 - shift | word >>> shift;
}
var isLE = /* @__PURE__ */ (() => new Uint8Array(new Uint32Array([287454020]).buffer)[0] === 68)();
function byteSwap(word) {
  return word << 24 & 4278190080 | word << 8 & 16711680 | word >>> 8 & 65280 | word >>> 24 & 255;
}
function byteSwap32(arr2) {
  for (let i = 0; i < arr2.length; i++) {
    arr2[i] = byteSwap(arr2[i]);
  }
  return arr2;
}
var swap32IfBE = isLE ? (u) => u : byteSwap32;
var hasHexBuiltin = /* @__PURE__ */ (() => (
  // @ts-ignore
  typeof Uint8Array.from([]).toHex === "function" && typeof Uint8Array.fromHex === "function"
))();
var hexes = /* @__PURE__ */ Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
function bytesToHex(bytes) {
  abytes(bytes);
  if (hasHexBuiltin)
    return bytes.toHex();
  let hex2 = "";
  for (let i = 0; i < bytes.length; i++) {
    hex2 += hexes[bytes[i]];
  }
  return hex2;
}
function asciiToBase16(ch) {
  return ch >= 48 && ch <= 57 ? ch - 48 : ch >= 65 && ch <= 70 ? ch - (65 - 10) : ch >= 97 && ch <= 102 ? ch - (97 - 10) : void 0;
}
function hexToBytes(hex2) {
  if (typeof hex2 !== "string")
    throw new TypeError("hex string expected, got " + typeof hex2);
  if (hasHexBuiltin) {
    try {
      return Uint8Array.fromHex(hex2);
    } catch (error) {
      if (error instanceof SyntaxError)
        throw new RangeError(error.message);
      throw error;
    }
  }
  const hl = hex2.length;
  const al = hl / 2;
  if (hl % 2)
    throw new RangeError("hex string expected, got unpadded hex of length " + hl);
  const array3 = new Uint8Array(al);
  for (let ai = 0, hi = 0; ai < al; ai++, hi += 2) {
    const n1 = asciiToBase16(hex2.charCodeAt(hi));
    const n2 = asciiToBase16(hex2.charCodeAt(hi + 1));
    if (n1 === void 0 || n2 === void 0) {
      const char = hex2[hi] + hex2[hi + 1];
      throw new RangeError('hex string expected, got non-hex character "' + char + '" at index ' + hi);
    }
    array3[ai] = n1 * 16 + n2;
  }
  return array3;
}
function utf8ToBytes(str) {
  if (typeof str !== "string")
    throw new TypeError("string expected");
  const encoded = new TextEncoder().encode(str);
  try {
    return new Uint8Array(encoded);
  } finally {
    clean(encoded);
  }
}
function concatBytes(...arrays) {
  let sum = 0;
  for (let i = 0; i < arrays.length; i++) {
    const a = arrays[i];
    abytes(a);
    sum += a.length;
  }
  const res = new Uint8Array(sum);
  for (let i = 0, pad = 0; i < arrays.length; i++) {
    const a = arrays[i];
    res.set(a, pad);
    pad += a.length;
  }
  return res;
}
function checkOpts(defaults, opts, title = "opts") {
  aopts(defaults, "defaults");
  if (opts !== void 0)
    aopts(opts, title);
  const merged = Object.assign(/* @__PURE__ */ Object.create(null), defaults, opts);
  return merged;
}
function createHasher(hashCons, info = {}) {
  if (typeof hashCons !== "function")
    throw new TypeError('"hashCons" expected function, got type=' + typeof hashCons);
  info = checkOpts({}, info, "info");
  const hashC = (msg, opts) => hashCons(opts).update(msg).digest();
  const tmp = hashCons(void 0);
  hashC.outputLen = tmp.outputLen;
  hashC.blockLen = tmp.blockLen;
  hashC.canXOF = tmp.canXOF;
  hashC.create = (opts) => hashCons(opts);
  Object.assign(hashC, info);
  return Object.freeze(hashC);
}
function randomBytes(bytesLength = 32) {
  anumber(bytesLength, "bytesLength");
  const cr = typeof globalThis === "object" ? globalThis.crypto : null;
  if (typeof cr?.getRandomValues !== "function")
    throw new Error("crypto.getRandomValues must be defined");
  if (bytesLength > 65536)
    throw new RangeError(`"bytesLength" expected <= 65536, got ${bytesLength}`);
  return cr.getRandomValues(new Uint8Array(bytesLength));
}
var oidNist = (suffix) => ({
  // Current NIST hashAlgs suffixes used here fit in one DER subidentifier octet.
  // Larger suffix values would need base-128 OID encoding and a different length byte.
  oid: Uint8Array.from([6, 9, 96, 134, 72, 1, 101, 3, 4, 2, suffix])
});

// node_modules/@noble/hashes/_md.js
function Chi(a, b, c) {
  return a & b ^ ~a & c;
}
function Maj(a, b, c) {
  return a & b ^ a & c ^ b & c;
}
var HashMD = class {
  constructor(blockLen, outputLen, padOffset, isLE2) {
    __publicField(this, "blockLen");
    __publicField(this, "outputLen");
    __publicField(this, "canXOF", false);
    __publicField(this, "padOffset");
    __publicField(this, "isLE");
    // For partial updates less than block size
    __publicField(this, "buffer");
    __publicField(this, "view");
    __publicField(this, "finished", false);
    __publicField(this, "length", 0);
    __publicField(this, "pos", 0);
    __publicField(this, "destroyed", false);
    this.blockLen = blockLen;
    this.outputLen = outputLen;
    this.padOffset = padOffset;
    this.isLE = isLE2;
    this.buffer = new Uint8Array(blockLen);
    this.view = createView(this.buffer);
  }
  update(data) {
    aexists(this);
    abytes(data);
    const { view, buffer, blockLen } = this;
    const len = data.length;
    let processed = false;
    for (let pos = 0; pos < len; ) {
      const take = Math.min(blockLen - this.pos, len - pos);
      if (take === blockLen) {
        const dataView = createView(data);
        for (; blockLen <= len - pos; pos += blockLen)
          this.process(dataView, pos);
        processed = true;
        continue;
      }
      buffer.set(pos === 0 && take === len ? data : data.subarray(pos, pos + take), this.pos);
      this.pos += take;
      pos += take;
      if (this.pos === blockLen) {
        this.process(view, 0);
        this.pos = 0;
        processed = true;
      }
    }
    this.length += data.length;
    if (processed)
      this.roundClean();
    return this;
  }
  digestInto(out) {
    aexists(this);
    aoutput(out, this);
    this.finished = true;
    const { buffer, view, blockLen, isLE: isLE2 } = this;
    let { pos } = this;
    buffer[pos++] = 128;
    buffer.fill(0, pos);
    if (this.padOffset > blockLen - pos) {
      this.process(view, 0);
      buffer.fill(0);
    }
    setU64FromNum(view, blockLen - 8, this.length * 8, isLE2);
    this.process(view, 0);
    this.roundClean();
    const oview = out === buffer ? view : createView(out);
    const len = this.outputLen;
    const outLen = len / 4;
    const state = this.get();
    if (len % 4 || outLen > state.length)
      throw new Error("invalid outputLen");
    for (let i = 0; i < outLen; i++)
      oview.setUint32(4 * i, state[i], isLE2);
  }
  digest() {
    const { buffer, outputLen } = this;
    this.digestInto(buffer);
    const res = buffer.slice(0, outputLen);
    this.destroy();
    return res;
  }
  _cloneIntoMeta(to) {
    const { buffer, length, finished, destroyed, pos } = this;
    to.destroyed = destroyed;
    to.finished = finished;
    to.length = length;
    to.pos = pos;
    if (pos)
      to.buffer.set(buffer);
    return to;
  }
  clone() {
    return this._cloneInto();
  }
};
var SHA256_IV = /* @__PURE__ */ Uint32Array.from([
  1779033703,
  3144134277,
  1013904242,
  2773480762,
  1359893119,
  2600822924,
  528734635,
  1541459225
]);

// node_modules/@noble/hashes/sha2.js
var SHA256_K = /* @__PURE__ */ Uint32Array.from([
  1116352408,
  1899447441,
  3049323471,
  3921009573,
  961987163,
  1508970993,
  2453635748,
  2870763221,
  3624381080,
  310598401,
  607225278,
  1426881987,
  1925078388,
  2162078206,
  2614888103,
  3248222580,
  3835390401,
  4022224774,
  264347078,
  604807628,
  770255983,
  1249150122,
  1555081692,
  1996064986,
  2554220882,
  2821834349,
  2952996808,
  3210313671,
  3336571891,
  3584528711,
  113926993,
  338241895,
  666307205,
  773529912,
  1294757372,
  1396182291,
  1695183700,
  1986661051,
  2177026350,
  2456956037,
  2730485921,
  2820302411,
  3259730800,
  3345764771,
  3516065817,
  3600352804,
  4094571909,
  275423344,
  430227734,
  506948616,
  659060556,
  883997877,
  958139571,
  1322822218,
  1537002063,
  1747873779,
  1955562222,
  2024104815,
  2227730452,
  2361852424,
  2428436474,
  2756734187,
  3204031479,
  3329325298
]);
var SHA256_W = /* @__PURE__ */ new Uint32Array(64);
var SHA2_32B = class extends HashMD {
  constructor(outputLen, IV) {
    super(64, outputLen, 8, false);
    // We cannot use array here since array allows indexing by variable
    // which means optimizer/compiler cannot use registers.
    // Numeric initializers matter: starting the fields as `undefined` changes
    // V8's field representation and makes sha256 3x slower (measured).
    __publicField(this, "A", 0);
    __publicField(this, "B", 0);
    __publicField(this, "C", 0);
    __publicField(this, "D", 0);
    __publicField(this, "E", 0);
    __publicField(this, "F", 0);
    __publicField(this, "G", 0);
    __publicField(this, "H", 0);
    this.A = IV[0] | 0;
    this.B = IV[1] | 0;
    this.C = IV[2] | 0;
    this.D = IV[3] | 0;
    this.E = IV[4] | 0;
    this.F = IV[5] | 0;
    this.G = IV[6] | 0;
    this.H = IV[7] | 0;
  }
  get() {
    const { A, B: B2, C, D, E, F, G, H } = this;
    return [A, B2, C, D, E, F, G, H];
  }
  // prettier-ignore
  set(A, B2, C, D, E, F, G, H) {
    this.A = A | 0;
    this.B = B2 | 0;
    this.C = C | 0;
    this.D = D | 0;
    this.E = E | 0;
    this.F = F | 0;
    this.G = G | 0;
    this.H = H | 0;
  }
  _cloneInto(to) {
    (to || (to = new this.constructor())).set(...this.get());
    return this._cloneIntoMeta(to);
  }
  process(view, offset) {
    for (let i = 0; i < 16; i++, offset += 4)
      SHA256_W[i] = view.getUint32(offset, false);
    for (let i = 16; i < 64; i++) {
      const W15 = SHA256_W[i - 15];
      const W2 = SHA256_W[i - 2];
      const s0 = rotr(W15, 7) ^ rotr(W15, 18) ^ W15 >>> 3;
      const s1 = rotr(W2, 17) ^ rotr(W2, 19) ^ W2 >>> 10;
      SHA256_W[i] = s1 + SHA256_W[i - 7] + s0 + SHA256_W[i - 16] | 0;
    }
    let { A, B: B2, C, D, E, F, G, H } = this;
    for (let i = 0; i < 64; i++) {
      const sigma1 = rotr(E, 6) ^ rotr(E, 11) ^ rotr(E, 25);
      const T1 = H + sigma1 + Chi(E, F, G) + SHA256_K[i] + SHA256_W[i] | 0;
      const sigma0 = rotr(A, 2) ^ rotr(A, 13) ^ rotr(A, 22);
      const T2 = sigma0 + Maj(A, B2, C) | 0;
      H = G;
      G = F;
      F = E;
      E = D + T1 | 0;
      D = C;
      C = B2;
      B2 = A;
      A = T1 + T2 | 0;
    }
    A = A + this.A | 0;
    B2 = B2 + this.B | 0;
    C = C + this.C | 0;
    D = D + this.D | 0;
    E = E + this.E | 0;
    F = F + this.F | 0;
    G = G + this.G | 0;
    H = H + this.H | 0;
    this.set(A, B2, C, D, E, F, G, H);
  }
  roundClean() {
    clean(SHA256_W);
  }
  destroy() {
    this.destroyed = true;
    this.set(0, 0, 0, 0, 0, 0, 0, 0);
    clean(this.buffer);
  }
};
var _SHA256 = class extends SHA2_32B {
  constructor() {
    super(32, SHA256_IV);
  }
};
var sha256 = /* @__PURE__ */ createHasher(
  () => new _SHA256(),
  /* @__PURE__ */ oidNist(1)
);

// node_modules/@noble/curves/utils.js
/*! noble-curves - MIT License (c) 2022 Paul Miller (paulmillr.com) */
function aarray(item, title, inner = () => {
}) {
  if (!Array.isArray(item))
    throw new TypeError(`"${title}" expected array, got type=${typeof item}`);
  for (let i = 0; i < item.length; i++)
    inner(item[i], `${title}[${i}]`);
  return item;
}
var abytes2 = (value, length, title) => abytes(value, length, title);
var anumber2 = anumber;
function astring(value, title = "") {
  if (typeof value !== "string") {
    const prefix = title && `"${title}" `;
    throw new TypeError(prefix + "expected string, got type=" + typeof value);
  }
  return value;
}
function aobject2(value, title = "object") {
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw new TypeError(title === "object" ? "expected valid options object" : `"${title}" expected object, got type=${typeof value}`);
  return value;
}
function afunction(value, title) {
  if (typeof value !== "function")
    throw new TypeError(`"${title}" is invalid: expected function, got ${typeof value}`);
  return value;
}
var bytesToHex2 = bytesToHex;
var concatBytes2 = (...arrays) => concatBytes(...arrays);
var hexToBytes2 = (hex2) => hexToBytes(hex2);
var isBytes2 = isBytes;
var randomBytes2 = (bytesLength) => randomBytes(bytesLength);
var _0n = /* @__PURE__ */ BigInt(0);
var _1n = /* @__PURE__ */ BigInt(1);
var atitle2 = (title) => title ? `"${title}" ` : "";
function abool2(value, title = "") {
  if (typeof value !== "boolean")
    throw new TypeError(atitle2(title) + "expected boolean, got type=" + typeof value);
  return value;
}
function abignumber(n) {
  if (typeof n === "bigint") {
    if (!isPosBig(n))
      throw new RangeError("positive bigint expected, got " + n);
  } else
    anumber2(n);
  return n;
}
function asafenumber(value, title = "") {
  if (typeof value !== "number") {
    const prefix = title && `"${title}" `;
    throw new TypeError(prefix + "expected number, got type=" + typeof value);
  }
  if (!Number.isSafeInteger(value)) {
    const prefix = title && `"${title}" `;
    throw new RangeError(prefix + "expected safe integer, got " + value);
  }
}
function numberToHexUnpadded(num) {
  const hex2 = abignumber(num).toString(16);
  return hex2.length & 1 ? "0" + hex2 : hex2;
}
function hexToNumber(hex2) {
  if (typeof hex2 !== "string")
    throw new TypeError("hex string expected, got " + typeof hex2);
  return hex2 === "" ? _0n : BigInt("0x" + hex2);
}
function bytesToNumberBE(bytes) {
  return hexToNumber(bytesToHex(bytes));
}
function bytesToNumberLE(bytes) {
  return hexToNumber(bytesToHex(copyBytes(abytes(bytes)).reverse()));
}
function numberToBytesBE(n, len) {
  anumber(len);
  if (len === 0)
    throw new Error("zero output length is invalid");
  n = abignumber(n);
  const expectedLen = len * 2;
  const hex2 = n.toString(16);
  if (hex2.length > expectedLen)
    throw new RangeError("number is too large");
  return hexToBytes(hex2.padStart(expectedLen, "0"));
}
function numberToBytesLE(n, len) {
  return numberToBytesBE(n, len).reverse();
}
function numberToVarBytesBE(n) {
  return hexToBytes(numberToHexUnpadded(abignumber(n)));
}
function equalBytes(a, b) {
  a = abytes2(a);
  b = abytes2(b);
  if (a.length !== b.length)
    return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++)
    diff |= a[i] ^ b[i];
  return diff === 0;
}
function copyBytes(bytes) {
  return Uint8Array.from(abytes2(bytes));
}
function isPosBig(n) {
  return typeof n === "bigint" && _0n <= n;
}
function inRange(n, min, max) {
  return isPosBig(n) && isPosBig(min) && isPosBig(max) && min <= n && n < max;
}
function aInRange(title, n, min, max) {
  if (!inRange(n, min, max))
    throw new RangeError("expected valid " + title + ": " + min + " <= n < " + max + ", got " + n);
}
function bitLen(n) {
  if (n < _0n)
    throw new Error("expected non-negative bigint, got " + n);
  return n === _0n ? 0 : n.toString(2).length;
}
var bitMask = (n) => {
  asafenumber(n, "n");
  return (_1n << BigInt(n)) - _1n;
};
function createHmacDrbg(hashLen, qByteLen, hmacFn) {
  anumber(hashLen, "hashLen");
  anumber(qByteLen, "qByteLen");
  if (typeof hmacFn !== "function")
    throw new TypeError("hmacFn must be a function");
  const u8n = (len) => new Uint8Array(len);
  const NULL = Uint8Array.of();
  const byte0 = Uint8Array.of(0);
  const byte1 = Uint8Array.of(1);
  const _maxDrbgIters = 1e3;
  let v = u8n(hashLen);
  let k = u8n(hashLen);
  let i = 0;
  const reset = () => {
    v.fill(1);
    k.fill(0);
    i = 0;
  };
  const h = (...msgs) => hmacFn(k, concatBytes2(v, ...msgs));
  const reseed = (seed = NULL) => {
    k = h(byte0, seed);
    v = h();
    if (seed.length === 0)
      return;
    k = h(byte1, seed);
    v = h();
  };
  const gen = () => {
    if (i++ >= _maxDrbgIters)
      throw new Error("drbg: tried max amount of iterations");
    let len = 0;
    const out = [];
    while (len < qByteLen) {
      v = h();
      const sl = v.slice();
      out.push(sl);
      len += v.length;
    }
    return concatBytes2(...out);
  };
  const genUntil = (seed, pred) => {
    reset();
    reseed(seed);
    let res = void 0;
    while ((res = pred(gen())) === void 0)
      reseed();
    reset();
    return res;
  };
  return genUntil;
}
function validateObject(object, fields = {}, optFields = {}, title = "object") {
  aobject2(object, title);
  aobject2(fields, "fields");
  aobject2(optFields, "optFields");
  function checkField(fieldName, expectedType, isOpt) {
    const label = title === "object" ? `param "${String(fieldName)}"` : `"${title}.${String(fieldName)}"`;
    const val = object[fieldName];
    if (!Object.hasOwn(object, fieldName) && (isOpt ? val !== void 0 : expectedType !== "function")) {
      throw new TypeError(`${label} is invalid: expected own property`);
    }
    if (isOpt && val === void 0)
      return;
    const current = typeof val;
    if (current !== expectedType || val === null)
      throw new TypeError(`${label} is invalid: expected ${expectedType}, got ${current}`);
  }
  const iter = (f, isOpt) => Object.entries(f).forEach(([k, v]) => checkField(k, v, isOpt));
  iter(fields, false);
  iter(optFields, true);
}

// node_modules/@noble/curves/abstract/modular.js
/*! noble-curves - MIT License (c) 2022 Paul Miller (paulmillr.com) */
var _0n2 = /* @__PURE__ */ BigInt(0);
var _1n2 = /* @__PURE__ */ BigInt(1);
var _2n = /* @__PURE__ */ BigInt(2);
var _3n = /* @__PURE__ */ BigInt(3);
var _4n = /* @__PURE__ */ BigInt(4);
var _5n = /* @__PURE__ */ BigInt(5);
var _7n = /* @__PURE__ */ BigInt(7);
var _8n = /* @__PURE__ */ BigInt(8);
var _9n = /* @__PURE__ */ BigInt(9);
var _15n = /* @__PURE__ */ BigInt(15);
var _16n = /* @__PURE__ */ BigInt(16);
var POW_WINDOWED_MIN = /* @__PURE__ */ BigInt("0x10000000000000000");
function mod(a, b) {
  if (b <= _0n2)
    throw new Error("mod: expected positive modulus, got " + b);
  const result = a % b;
  return result >= _0n2 ? result : b + result;
}
function pow(num, power, modulo) {
  if (modulo <= _1n2)
    throw new Error("pow: expected modulus > 1, got " + modulo);
  if (typeof power !== "bigint")
    throw new TypeError("invalid exponent: expected bigint, got " + typeof power);
  if (power < _0n2)
    throw new Error("invalid exponent, negatives unsupported");
  if (power === _0n2)
    return _1n2;
  if (power === _1n2)
    return num;
  let d = num % modulo;
  if (d < _0n2)
    d += modulo;
  if (power < POW_WINDOWED_MIN) {
    let p2 = _1n2;
    while (power > _0n2) {
      if (power & _1n2)
        p2 = p2 * d % modulo;
      d = d * d % modulo;
      power >>= _1n2;
    }
    return p2;
  }
  const digits = [];
  while (power > _0n2) {
    digits.push(Number(power & _15n));
    power >>= _4n;
  }
  const table = new Array(16);
  table[0] = _1n2;
  table[1] = d;
  for (let i = 2; i < 16; i++)
    table[i] = table[i - 1] * d % modulo;
  let p = table[digits[digits.length - 1]];
  for (let w = digits.length - 2; w >= 0; w--) {
    p = p * p % modulo;
    p = p * p % modulo;
    p = p * p % modulo;
    p = p * p % modulo;
    const digit = digits[w];
    if (digit !== 0)
      p = p * table[digit] % modulo;
  }
  return p;
}
function pow2(x, power, modulo) {
  if (modulo <= _1n2)
    throw new Error("pow2: expected modulus > 1, got " + modulo);
  if (power < _0n2)
    throw new Error("pow2: expected non-negative exponent, got " + power);
  let res = x;
  while (power-- > _0n2) {
    res *= res;
    res %= modulo;
  }
  return res;
}
function invert(number, modulo) {
  if (number === _0n2)
    throw new Error("invert: expected non-zero number");
  if (modulo <= _1n2)
    throw new Error("invert: expected modulus > 1, got " + modulo);
  let a = mod(number, modulo);
  let b = modulo;
  let x = _0n2, u = _1n2;
  while (a !== _0n2) {
    const q = b / a;
    const r = b - a * q;
    const m = x - u * q;
    b = a, a = r, x = u, u = m;
  }
  const gcd = b;
  if (gcd !== _1n2)
    throw new Error("invert: does not exist");
  return mod(x, modulo);
}
function invertCt(a, prime) {
  if (prime <= _1n2)
    throw new Error("invertCt: expected prime modulus > 1, got " + prime);
  const an = mod(a, prime);
  if (an === _0n2)
    throw new Error("invertCt: expected non-zero number");
  const inverse = pow(an, prime - _2n, prime);
  if (mod(an * inverse, prime) !== _1n2)
    throw new Error("invertCt: does not exist");
  return inverse;
}
function assertIsSquare(Fp, root, n) {
  const F = Fp;
  if (!F.eql(F.sqr(root), n))
    throw new Error("Cannot find square root");
}
function aoddModulus(order, fnName) {
  if ((order & _1n2) === _0n2)
    throw new Error(fnName + ": expected odd modulus, got " + order);
}
function sqrt3mod4(Fp, n) {
  const F = Fp;
  const p1div4 = (F.ORDER + _1n2) / _4n;
  const root = F.pow(n, p1div4);
  assertIsSquare(F, root, n);
  return root;
}
function sqrt5mod8(Fp, n) {
  const F = Fp;
  const p5div8 = (F.ORDER - _5n) / _8n;
  const n2 = F.mul(n, _2n);
  const v = F.pow(n2, p5div8);
  const nv = F.mul(n, v);
  const i = F.mul(F.mul(nv, _2n), v);
  const root = F.mul(nv, F.sub(i, F.ONE));
  assertIsSquare(F, root, n);
  return root;
}
function sqrt9mod16(P) {
  const Fp_ = Field(P);
  const tn = tonelliShanks(P);
  const c1 = tn(Fp_, Fp_.neg(Fp_.ONE));
  const c2 = tn(Fp_, c1);
  const c3 = tn(Fp_, Fp_.neg(c1));
  const c4 = (P + _7n) / _16n;
  return ((Fp, n) => {
    const F = Fp;
    let tv1 = F.pow(n, c4);
    let tv2 = F.mul(tv1, c1);
    const tv3 = F.mul(tv1, c2);
    const tv4 = F.mul(tv1, c3);
    const e1 = F.eql(F.sqr(tv2), n);
    const e2 = F.eql(F.sqr(tv3), n);
    tv1 = F.cmov(tv1, tv2, e1);
    tv2 = F.cmov(tv4, tv3, e2);
    const e3 = F.eql(F.sqr(tv2), n);
    const root = F.cmov(tv1, tv2, e3);
    assertIsSquare(F, root, n);
    return root;
  });
}
function tonelliShanks(P) {
  if (P < _3n)
    throw new Error("sqrt is not defined for small field");
  aoddModulus(P, "tonelliShanks");
  let Q = P - _1n2;
  let S = 0;
  while (Q % _2n === _0n2) {
    Q /= _2n;
    S++;
  }
  let Z = _2n;
  const _Fp = Field(P);
  while (FpLegendre(_Fp, Z) === 1) {
    if (Z++ > 1e3)
      throw new Error("Cannot find square root: probably non-prime P");
  }
  if (S === 1)
    return sqrt3mod4;
  let cc = _Fp.pow(Z, Q);
  const Q1div2 = (Q + _1n2) / _2n;
  return function tonelliSlow(Fp, n) {
    const F = Fp;
    if (F.is0(n))
      return n;
    if (FpLegendre(F, n) !== 1)
      throw new Error("Cannot find square root");
    let M = S;
    let c = F.mul(F.ONE, cc);
    let t = F.pow(n, Q);
    let R = F.pow(n, Q1div2);
    while (!F.eql(t, F.ONE)) {
      if (F.is0(t))
        throw new Error("Cannot find square root: probably non-prime P");
      let i = 1;
      let t_tmp = F.sqr(t);
      while (!F.eql(t_tmp, F.ONE)) {
        i++;
        t_tmp = F.sqr(t_tmp);
        if (i === M)
          throw new Error("Cannot find square root");
      }
      const exponent = _1n2 << BigInt(M - i - 1);
      const b = F.pow(c, exponent);
      M = i;
      c = F.sqr(b);
      t = F.mul(t, c);
      R = F.mul(R, b);
    }
    return R;
  };
}
function FpSqrt(P) {
  aoddModulus(P, "Fp.sqrt");
  if (P % _4n === _3n)
    return sqrt3mod4;
  if (P % _8n === _5n)
    return sqrt5mod8;
  if (P % _16n === _9n)
    return sqrt9mod16(P);
  return tonelliShanks(P);
}
var FIELD_FIELDS = [
  "create",
  "isValid",
  "is0",
  "neg",
  "inv",
  "sqrt",
  "sqr",
  "eql",
  "add",
  "sub",
  "mul",
  "pow",
  "div",
  "addN",
  "subN",
  "mulN",
  "sqrN"
];
function validateField(field) {
  aobject2(field, "field");
  if (typeof field.ORDER !== "bigint")
    throw new TypeError('param "ORDER" is invalid: expected bigint, got ' + typeof field.ORDER);
  asafenumber(field.BYTES, "BYTES");
  asafenumber(field.BITS, "BITS");
  for (const name of FIELD_FIELDS)
    afunction(field[name], "field." + name);
  if (field.BYTES < 1 || field.BITS < 1)
    throw new Error("invalid field: expected BYTES/BITS > 0");
  if (field.ORDER <= _1n2)
    throw new Error("invalid field: expected ORDER > 1, got " + field.ORDER);
  return field;
}
function FpInvertBatch(Fp, nums, passZero = false) {
  validateField(Fp);
  aarray(nums, "nums");
  abool2(passZero, "passZero");
  const F = Fp;
  const inverted = new Array(nums.length).fill(passZero ? F.ZERO : void 0);
  const multipliedAcc = nums.reduce((acc, num, i) => {
    if (F.is0(num))
      return acc;
    inverted[i] = acc;
    return F.mul(acc, num);
  }, F.ONE);
  const invertedAcc = F.inv(multipliedAcc);
  nums.reduceRight((acc, num, i) => {
    if (F.is0(num))
      return acc;
    inverted[i] = F.mul(acc, inverted[i]);
    return F.mul(acc, num);
  }, invertedAcc);
  return inverted;
}
function FpLegendre(Fp, n) {
  validateField(Fp);
  const F = Fp;
  aoddModulus(F.ORDER, "FpLegendre");
  const p1mod2 = (F.ORDER - _1n2) / _2n;
  const powered = F.pow(n, p1mod2);
  const yes = F.eql(powered, F.ONE);
  const zero = F.eql(powered, F.ZERO);
  const no = F.eql(powered, F.neg(F.ONE));
  if (!yes && !zero && !no)
    throw new Error("invalid Legendre symbol result");
  return yes ? 1 : zero ? 0 : -1;
}
function nLength(n, nBitLength) {
  if (nBitLength !== void 0)
    anumber2(nBitLength);
  if (n <= _0n2)
    throw new Error("invalid n length: expected positive n, got " + n);
  if (nBitLength !== void 0 && nBitLength < 1)
    throw new Error("invalid n length: expected positive bit length, got " + nBitLength);
  const bits = bitLen(n);
  if (nBitLength !== void 0 && nBitLength < bits)
    throw new Error(`invalid n length: expected nBitLength (${nBitLength}) >= bitLen(n) (${bits})`);
  const _nBitLength = nBitLength !== void 0 ? nBitLength : bits;
  const nByteLength = Math.ceil(_nBitLength / 8);
  return { nBitLength: _nBitLength, nByteLength };
}
var FIELD_SQRT = /* @__PURE__ */ new WeakMap();
var _Field = class {
  constructor(ORDER, opts = {}) {
    __publicField(this, "ORDER");
    __publicField(this, "BITS");
    __publicField(this, "BYTES");
    __publicField(this, "isLE");
    __publicField(this, "ZERO", _0n2);
    __publicField(this, "ONE", _1n2);
    __publicField(this, "_lengths");
    __publicField(this, "_mod");
    if (ORDER <= _1n2)
      throw new Error("invalid field: expected ORDER > 1, got " + ORDER);
    let _nbitLength = void 0;
    this.isLE = false;
    if (opts != null && typeof opts === "object") {
      if (typeof opts.BITS === "number")
        _nbitLength = opts.BITS;
      if (typeof opts.sqrt === "function")
        Object.defineProperty(this, "sqrt", { value: opts.sqrt, enumerable: true });
      if (typeof opts.isLE === "boolean")
        this.isLE = opts.isLE;
      if (opts.allowedLengths)
        this._lengths = Object.freeze(opts.allowedLengths.slice());
      if (typeof opts.modFromBytes === "boolean")
        this._mod = opts.modFromBytes;
    }
    const { nBitLength, nByteLength } = nLength(ORDER, _nbitLength);
    if (nByteLength > 2048)
      throw new Error("invalid field: expected ORDER of <= 2048 bytes");
    this.ORDER = ORDER;
    this.BITS = nBitLength;
    this.BYTES = nByteLength;
    Object.freeze(this);
  }
  create(num) {
    return mod(num, this.ORDER);
  }
  isValid(num) {
    if (typeof num !== "bigint")
      throw new TypeError("invalid field element: expected bigint, got " + typeof num);
    return _0n2 <= num && num < this.ORDER;
  }
  is0(num) {
    return num === _0n2;
  }
  // is valid and invertible
  isValidNot0(num) {
    return !this.is0(num) && this.isValid(num);
  }
  isOdd(num) {
    return (num & _1n2) === _1n2;
  }
  neg(num) {
    return mod(-num, this.ORDER);
  }
  eql(lhs, rhs) {
    return lhs === rhs;
  }
  sqr(num) {
    return mod(num * num, this.ORDER);
  }
  add(lhs, rhs) {
    return mod(lhs + rhs, this.ORDER);
  }
  sub(lhs, rhs) {
    return mod(lhs - rhs, this.ORDER);
  }
  mul(lhs, rhs) {
    return mod(lhs * rhs, this.ORDER);
  }
  pow(num, power) {
    return pow(num, power, this.ORDER);
  }
  div(lhs, rhs) {
    return mod(lhs * invert(rhs, this.ORDER), this.ORDER);
  }
  // Same as above, but doesn't normalize
  sqrN(num) {
    return num * num;
  }
  addN(lhs, rhs) {
    return lhs + rhs;
  }
  subN(lhs, rhs) {
    return lhs - rhs;
  }
  mulN(lhs, rhs) {
    return lhs * rhs;
  }
  inv(num) {
    return invert(num, this.ORDER);
  }
  sqrt(num) {
    let sqrt = FIELD_SQRT.get(this);
    if (!sqrt)
      FIELD_SQRT.set(this, sqrt = FpSqrt(this.ORDER));
    return sqrt(this, num);
  }
  toBytes(num) {
    return this.isLE ? numberToBytesLE(num, this.BYTES) : numberToBytesBE(num, this.BYTES);
  }
  fromBytes(bytes, skipValidation = false) {
    abytes2(bytes);
    const { _lengths: allowedLengths, BYTES, isLE: isLE2, ORDER, _mod: modFromBytes } = this;
    if (allowedLengths) {
      if (bytes.length < 1 || !allowedLengths.includes(bytes.length) || bytes.length > BYTES) {
        throw new Error("Field.fromBytes: expected " + allowedLengths + " bytes, got " + bytes.length);
      }
      const padded = new Uint8Array(BYTES);
      padded.set(bytes, isLE2 ? 0 : padded.length - bytes.length);
      bytes = padded;
    }
    if (bytes.length !== BYTES)
      throw new Error("Field.fromBytes: expected " + BYTES + " bytes, got " + bytes.length);
    let scalar = isLE2 ? bytesToNumberLE(bytes) : bytesToNumberBE(bytes);
    if (modFromBytes)
      scalar = mod(scalar, ORDER);
    if (!skipValidation) {
      if (!this.isValid(scalar))
        throw new Error("invalid field element: outside of range 0..ORDER");
    }
    return scalar;
  }
  // TODO: we don't need it here, move out to separate fn
  invertBatch(lst) {
    return FpInvertBatch(this, lst, true);
  }
  // We can't move this out because Fp6, Fp12 implement it
  // and it's unclear what to return in there.
  cmov(a, b, condition) {
    abool2(condition, "condition");
    return condition ? b : a;
  }
};
function Field(ORDER, opts = {}) {
  Object.freeze(_Field.prototype);
  return new _Field(ORDER, opts);
}
function getFieldBytesLength(fieldOrder) {
  if (typeof fieldOrder !== "bigint")
    throw new Error("field order must be bigint");
  if (fieldOrder <= _1n2)
    throw new Error("field order must be greater than 1");
  const bitLength = bitLen(fieldOrder - _1n2);
  return Math.ceil(bitLength / 8);
}
function getMinHashLength(fieldOrder) {
  const length = getFieldBytesLength(fieldOrder);
  return length + Math.ceil(length / 2);
}
function mapHashToField(key, fieldOrder, isLE2 = false) {
  abytes2(key);
  const len = key.length;
  const fieldLen = getFieldBytesLength(fieldOrder);
  const minLen = Math.max(getMinHashLength(fieldOrder), 16);
  if (len < minLen || len > 1024)
    throw new Error("expected " + minLen + "-1024 bytes of input, got " + len);
  const num = isLE2 ? bytesToNumberLE(key) : bytesToNumberBE(key);
  const reduced = mod(num, fieldOrder - _1n2) + _1n2;
  return isLE2 ? numberToBytesLE(reduced, fieldLen) : numberToBytesBE(reduced, fieldLen);
}

// node_modules/@noble/curves/abstract/curve.js
/*! noble-curves - MIT License (c) 2022 Paul Miller (paulmillr.com) */
var _0n3 = /* @__PURE__ */ BigInt(0);
var _1n3 = /* @__PURE__ */ BigInt(1);
var _4n2 = /* @__PURE__ */ BigInt(4);
var BLIND_BYTES = 16;
var BLIND_BITS = 128;
var FW_WINDOW = 5;
var TABLE_BYTES_MAX = /* @__PURE__ */ (() => 2 ** 31)();
function validatePointCons(Point) {
  const pc = Point;
  if (typeof pc !== "function")
    throw new TypeError('"Point" expected constructor, got type=' + typeof Point);
  afunction(pc.fromAffine, "Point.fromAffine");
  afunction(pc.fromBytes, "Point.fromBytes");
  afunction(pc.fromHex, "Point.fromHex");
  aobject2(pc.BASE, "Point.BASE");
  aobject2(pc.ZERO, "Point.ZERO");
  validateField(pc.Fp);
  validateField(pc.Fn);
}
function normalizeZ(c, points) {
  validatePointCons(c);
  validateMSMPoints(points, c);
  const invertedZs = FpInvertBatch(c.Fp, points.map((p) => p.Z));
  return points.map((p, i) => c.fromAffine(p.toAffine(invertedZs[i])));
}
function validateW(W, bits, min = 1) {
  if (!Number.isSafeInteger(W) || W < min || W > bits)
    throw new Error("invalid window size, expected [" + min + ".." + bits + "], got W=" + W);
}
function validateTableBytes(numPoints, fpBytes) {
  const bytes = numPoints * (4 * fpBytes + 128);
  if (bytes > TABLE_BYTES_MAX)
    throw new Error("invalid window size: table would need ~" + Math.ceil(bytes / 2 ** 20) + " MiB, max " + TABLE_BYTES_MAX / 2 ** 20 + " MiB");
}
function probeRandomBytes(randomBytes3, length) {
  if (randomBytes3 === void 0)
    return void 0;
  afunction(randomBytes3, "randomBytes");
  try {
    const probe = randomBytes3(length);
    if (!isBytes2(probe) || probe.length !== length)
      return void 0;
  } catch {
    return void 0;
  }
  return randomBytes3;
}
function validateMSMPoints(points, c) {
  aarray(points, "points");
  points.forEach((p, i) => {
    if (!(p instanceof c))
      throw new Error("invalid point at index " + i);
  });
}
function validateMSMScalars(scalars, field, maxScalar) {
  if (!Array.isArray(scalars))
    throw new Error("array of scalars expected");
  scalars.forEach((s, i) => {
    const ok = maxScalar === void 0 ? field.isValid(s) : isPosBig(s) && s < maxScalar;
    if (!ok)
      throw new Error("invalid scalar at index " + i);
  });
}
var pointWindowSizes = /* @__PURE__ */ new WeakMap();
function getWindowSize(P) {
  return pointWindowSizes.get(P) || 1;
}
function oddMultiples(p, size) {
  const dbl = p.double();
  const t = [p];
  for (let j = 1; j < size; j++)
    t.push(t[j - 1].add(dbl));
  return t;
}
function wnafDigits(n, W) {
  const size = 2 ** W;
  const half = size / 2;
  const mask = BigInt(size - 1);
  const d = [];
  while (n > _0n3) {
    let w = 0;
    if (n & _1n3) {
      w = Number(n & mask);
      if (w >= half)
        w -= size;
      n -= BigInt(w);
    }
    d.push(w);
    n >>= _1n3;
  }
  return d;
}
function signedWindowDigits(n, W, windows) {
  const size = 2 ** W;
  const half = size / 2;
  const mask = BigInt(size - 1);
  const shiftBy = BigInt(W);
  const d = [];
  for (let w = 0; w < windows; w++) {
    let v = Number(n & mask);
    n >>= shiftBy;
    if (v > half) {
      v -= size;
      n += _1n3;
    }
    d.push(v);
  }
  if (n !== _0n3)
    throw new Error("invalid wnaf");
  return d;
}
function wnafWalk(zero, tables, digits) {
  let max = 0;
  for (const d of digits)
    max = Math.max(max, d.length);
  let acc = zero;
  for (let bit = max - 1; bit >= 0; bit--) {
    if (bit !== max - 1)
      acc = acc.double();
    for (let i = 0; i < digits.length; i++) {
      const w = digits[i][bit];
      if (w) {
        const item = tables[i][Math.abs(w) - 1 >> 1];
        acc = acc.add(w < 0 ? item.negate() : item);
      }
    }
  }
  return acc;
}
var ScalarMultiplier = class {
  // Parametrized with a given Point class (not individual point)
  constructor(Point, randomBytes3) {
    __publicField(this, "Point");
    __publicField(this, "BASE");
    __publicField(this, "ZERO");
    __publicField(this, "randomBytes");
    __publicField(this, "wnafPrecomputes", /* @__PURE__ */ new WeakMap());
    __publicField(this, "baseCanBeBlinded");
    __publicField(this, "bits");
    validatePointCons(Point);
    this.randomBytes = probeRandomBytes(randomBytes3, BLIND_BYTES);
    this.Point = Point;
    this.BASE = Point.BASE;
    this.ZERO = Point.ZERO;
    this.bits = Point.Fn.BITS;
  }
  /**
   * Creates a signed fixed-window wNAF precomputation table: for every window w, the
   * multiples `[1..2^(W−1)]⋅2^(w⋅W)⋅P`, flattened. All doublings are baked into the table,
   * so cached multiplication is additions-only. `windows = ceil(bits/W) + 1`: the extra
   * window absorbs the final carry of signed-digit recoding.
   * For a 256-bit curve and W=6, the table is 44⋅32 = 1408 points.
   * @param point - Point instance
   * @param W - window size
   * @param bits - scalar bitlength the table must cover
   */
  buildWnafTable(point, W, bits) {
    const windows = Math.ceil(bits / W) + 1;
    const half = 2 ** (W - 1);
    const comp = [];
    let base = point;
    for (let w = 0; w < windows; w++) {
      let acc = base;
      for (let i = 0; i < half; i++) {
        comp.push(acc);
        acc = acc.add(base);
      }
      base = comp[comp.length - 1].double();
    }
    return { W, bits, windows, comp };
  }
  /**
   * Implements ec multiplication using precomputed signed fixed-window wNAF tables.
   * Constant-time: fixed window count with one table addition per window — zero digits feed
   * the fake accumulator — and no doublings; the lookup scans the whole window slice.
   * Scalar bounds are validated by the public entry points ({@link ScalarMultiplier.mulCT},
   * {@link ScalarMultiplier.mulCTBlinded}, {@link ScalarMultiplier.mulUnsafe});
   * signedWindowDigits throws if `n` exceeds the table.
   * @returns real and fake (for const-time) points
   */
  wnafCachedCT(precomputes, n) {
    const { W, windows, comp } = precomputes;
    const half = 2 ** (W - 1);
    const digits = signedWindowDigits(n, W, windows);
    let p = this.ZERO;
    let f = this.BASE;
    for (let w = 0; w < windows; w++) {
      const digit = digits[w];
      const start = w * half;
      const idx = Math.abs(digit) - 1;
      let sel = comp[start];
      for (let i = 1; i < half; i++)
        sel = i === idx ? comp[start + i] : sel;
      const neg = sel.negate();
      if (digit === 0)
        f = f.add(comp[start]);
      else
        p = p.add(digit < 0 ? neg : sel);
    }
    return { p, f };
  }
  // Cache key is point identity plus (W, bits); at most two entries exist per point (public-width
  // `Fn.BITS` and blinded `Fn.BITS + BLIND_BITS`). Callers must not reuse the same point with
  // incompatible `transform(...)` layouts and expect a separate cache entry.
  getWnafPrecomputes(W, point, bits, transform) {
    let entries = this.wnafPrecomputes.get(point);
    let comp = entries?.find((entry) => entry.W === W && entry.bits === bits);
    if (!comp) {
      comp = this.buildWnafTable(point, W, bits);
      if (typeof transform === "function")
        comp = { ...comp, comp: transform(comp.comp) };
      if (!entries) {
        entries = [];
        this.wnafPrecomputes.set(point, entries);
      }
      entries.push(comp);
    }
    return comp;
  }
  assertPoint(point) {
    if (!(point instanceof this.Point))
      throw new TypeError('"point" expected Point instance, got type=' + typeof point);
  }
  // Shared prologue of the constant-time entry points. Rejects scalar 0: in key/signature-style
  // callers a zero scalar means broken upstream plumbing, and concrete Points already reject it.
  // Uses inRange instead of Fn.isValidNot0: validateField() only certifies the arithmetic subset.
  validateMulInput(point, scalar) {
    this.assertPoint(point);
    if (!inRange(scalar, _1n3, this.Point.Fn.ORDER))
      throw new Error("invalid scalar");
  }
  // Constant-time dispatch shared by mulCT / mulCTBlinded. Un-precomputed points (W===1, e.g.
  // ECDH peer keys) skip building a throwaway cached table in favor of a small fixed-window
  // multiply. `n` must be < 2^bits.
  runCT(point, n, bits, transform) {
    const W = getWindowSize(point);
    if (W === 1)
      return this.fixedWindowCT(point, n, bits);
    return this.wnafCachedCT(this.getWnafPrecomputes(W, point, bits, transform), n);
  }
  mulCT(point, scalar, transform) {
    this.validateMulInput(point, scalar);
    return this.runCT(point, scalar, this.bits, transform);
  }
  mulCTBlinded(point, scalar, transform) {
    this.validateMulInput(point, scalar);
    if (this.randomBytes === void 0)
      throw new Error("randomBytes is required for scalar blinding");
    const bits = this.Point.Fn.BITS + BLIND_BITS;
    const blind = this.randomBytes(BLIND_BYTES);
    if (!isBytes2(blind) || blind.length !== BLIND_BYTES)
      throw new Error("randomBytes returned invalid byte array");
    blind[0] = blind[0] & 63 | 128;
    const n = scalar + bytesToNumberBE(blind) * this.Point.Fn.ORDER;
    return this.runCT(point, n, bits, transform);
  }
  /**
   * Constant-time multiplication `n*point` for an un-precomputed point, via a small fixed window.
   * A cached wNAF table only pays off when reused; a flat 2^FW_WINDOW table (`size-1` adds) is
   * far cheaper to build for a single use. The point-operation sequence is independent of `n`:
   * build the table, then per window exactly FW_WINDOW doublings, a data-oblivious scan over
   * every table entry, and one addition (adds the identity when the window digit is 0 — never
   * skipped).
   *
   * `n` must be `< 2^bits`. Assumes complete addition (adding the identity costs the same as any
   * add), which holds for the Weierstrass/Edwards point types used here. The table is left in
   * projective form (no normalizeZ): normalizing this small a table costs more than the
   * mixed-add savings it would buy for a single multiply.
   * @returns real point `p`; `f` duplicates it only to match {@link wnafCachedCT}'s return shape
   * (this path needs no fake accumulator — its op-count is already scalar-independent).
   */
  fixedWindowCT(point, n, bits) {
    const W = FW_WINDOW;
    const size = 1 << W;
    const mask = bitMask(W);
    const table = new Array(size);
    table[0] = this.ZERO;
    for (let i = 1; i < size; i++)
      table[i] = table[i - 1].add(point);
    const windows = Math.ceil(bits / W);
    let acc = this.ZERO;
    for (let window = windows - 1; window >= 0; window--) {
      if (window !== windows - 1)
        for (let d = 0; d < W; d++)
          acc = acc.double();
      const digit = Number(n >> BigInt(window * W) & mask);
      let sel = table[0];
      for (let i = 1; i < size; i++)
        sel = i === digit ? table[i] : sel;
      acc = acc.add(sel);
    }
    return { p: acc, f: acc };
  }
  shouldBlind(point, cofactor) {
    if (this.randomBytes === void 0)
      return false;
    if (cofactor === _1n3)
      return true;
    if (point !== this.BASE)
      return false;
    if (this.baseCanBeBlinded === void 0)
      this.baseCanBeBlinded = this.mulUnsafe(this.BASE, this.Point.Fn.ORDER).is0();
    return this.baseCanBeBlinded;
  }
  mulSecret(point, scalar, cofactor, transform) {
    return this.shouldBlind(point, cofactor) ? this.mulCTBlinded(point, scalar, transform) : this.mulCT(point, scalar, transform);
  }
  mulUnsafe(point, scalar, transform) {
    this.assertPoint(point);
    if (!isPosBig(scalar))
      throw new Error("invalid scalar");
    const W = getWindowSize(point);
    if (W === 1 || scalar >= this.Point.Fn.ORDER)
      return mulAddUnsafe(this.Point, [point], [scalar], true);
    const precomputes = this.getWnafPrecomputes(W, point, this.bits, transform);
    return this.wnafCachedCT(precomputes, scalar).p;
  }
  // Remembers the window size used for precomputed wNAF multiplication of the given point
  // and drops any previously built tables. Usually only the base point is precomputed.
  // W=1 resets the point to the un-precomputed (table-less) paths.
  // W is additionally capped so tables stay under ~2 GiB ({@link TABLE_BYTES_MAX}).
  setWindowSize(point, W) {
    this.assertPoint(point);
    validateW(W, this.bits);
    const windows = Math.ceil((this.bits + BLIND_BITS) / W) + 1;
    validateTableBytes(windows * 2 ** (W - 1), this.Point.Fp.BYTES);
    pointWindowSizes.set(point, W);
    this.wnafPrecomputes.delete(point);
  }
  // True when a window size is set: tables themselves are built lazily on first multiply.
  hasWindowSize(point) {
    return getWindowSize(point) !== 1;
  }
};
function mulAddUnsafe(c, points, scalars, allowOversized = false) {
  validatePointCons(c);
  validateMSMPoints(points, c);
  abool2(allowOversized, "allowOversized");
  validateMSMScalars(scalars, c.Fn, allowOversized ? c.Fn.ORDER ** _4n2 : void 0);
  if (points.length !== scalars.length)
    throw new Error("arrays of points and scalars must have equal length");
  const tables = points.map((p) => oddMultiples(p, 4));
  const digits = scalars.map((n) => wnafDigits(n, 4));
  return wnafWalk(c.ZERO, tables, digits);
}
function createField(order, field, isLE2) {
  if (field) {
    if (field.ORDER !== order)
      throw new Error("Field.ORDER must match order: Fp == p, Fn == n");
    validateField(field);
    return field;
  } else {
    return Field(order, { isLE: isLE2 });
  }
}
function createCurveFields(type, CURVE, curveOpts = {}, FpFnLE) {
  if (type !== "weierstrass" && type !== "edwards")
    throw new Error('expected curve type "weierstrass" or "edwards"');
  if (FpFnLE === void 0)
    FpFnLE = type === "edwards";
  if (!CURVE || typeof CURVE !== "object")
    throw new Error(`expected valid ${type} CURVE object`);
  validateObject(curveOpts);
  for (const p of ["p", "n", "h"]) {
    const val = CURVE[p];
    if (!(isPosBig(val) && val !== _0n3))
      throw new Error(`CURVE.${p} must be positive bigint`);
  }
  const Fp = createField(CURVE.p, curveOpts.Fp, FpFnLE);
  const Fn = createField(CURVE.n, curveOpts.Fn, FpFnLE);
  const _b = type === "weierstrass" ? "b" : "d";
  const params = ["Gx", "Gy", "a", _b];
  for (const p of params) {
    if (!Fp.isValid(CURVE[p]))
      throw new Error(`CURVE.${p} must be valid field element of CURVE.Fp`);
  }
  CURVE = Object.freeze(Object.assign({}, CURVE));
  return { CURVE, Fp, Fn };
}
function createKeygen(randomSecretKey, getPublicKey) {
  return function keygen(seed) {
    const secretKey = randomSecretKey(seed);
    return { secretKey, publicKey: getPublicKey(secretKey) };
  };
}

// node_modules/@noble/hashes/hmac.js
var _HMAC = class {
  constructor(hash, key) {
    __publicField(this, "oHash");
    __publicField(this, "iHash");
    __publicField(this, "blockLen");
    __publicField(this, "outputLen");
    __publicField(this, "canXOF", false);
    __publicField(this, "finished", false);
    __publicField(this, "destroyed", false);
    ahash(hash);
    abytes(key, void 0, "key");
    this.iHash = hash.create();
    if (typeof this.iHash.update !== "function")
      throw new Error("expected Hash instance");
    this.blockLen = this.iHash.blockLen;
    this.outputLen = this.iHash.outputLen;
    const blockLen = this.blockLen;
    const pad = new Uint8Array(blockLen);
    pad.set(key.length > blockLen ? hash.create().update(key).digest() : key);
    for (let i = 0; i < pad.length; i++)
      pad[i] ^= 54;
    this.iHash.update(pad);
    this.oHash = hash.create();
    for (let i = 0; i < pad.length; i++)
      pad[i] ^= 54 ^ 92;
    this.oHash.update(pad);
    clean(pad);
  }
  update(buf) {
    aexists(this);
    this.iHash.update(buf);
    return this;
  }
  digestInto(out) {
    aexists(this);
    aoutput(out, this);
    this.finished = true;
    const buf = out.subarray(0, this.outputLen);
    this.iHash.digestInto(buf);
    this.oHash.update(buf);
    this.oHash.digestInto(buf);
    this.destroy();
  }
  digest() {
    const out = new Uint8Array(this.oHash.outputLen);
    this.digestInto(out);
    return out;
  }
  _cloneInto(to) {
    to || (to = Object.create(Object.getPrototypeOf(this), {}));
    const { oHash, iHash, finished, destroyed, blockLen, outputLen, canXOF } = this;
    to = to;
    to.finished = finished;
    to.destroyed = destroyed;
    to.blockLen = blockLen;
    to.outputLen = outputLen;
    to.canXOF = canXOF;
    to.oHash = oHash._cloneInto(to.oHash);
    to.iHash = iHash._cloneInto(to.iHash);
    return to;
  }
  clone() {
    return this._cloneInto();
  }
  destroy() {
    this.destroyed = true;
    this.oHash.destroy();
    this.iHash.destroy();
  }
};
var hmac = /* @__PURE__ */ (() => {
  const hmac_ = ((hash, key, message) => new _HMAC(hash, key).update(message).digest());
  hmac_.create = (hash, key) => new _HMAC(hash, key);
  return hmac_;
})();

// node_modules/@noble/curves/abstract/der.js
/*! noble-curves - MIT License (c) 2022 Paul Miller (paulmillr.com) */
var _0n4 = /* @__PURE__ */ BigInt(0);
var DERErr = class extends Error {
  constructor(m = "") {
    super(m);
  }
};
var _DER = {
  // asn.1 DER encoding utils
  Err: DERErr,
  // Basic building block is TLV (Tag-Length-Value)
  _tlv: {
    encode: (tag, data) => {
      const { Err: E } = _DER;
      asafenumber(tag, "tag");
      if (tag < 0 || tag > 255)
        throw new E("tlv.encode: wrong tag");
      astring(data, "data");
      if (data.length & 1)
        throw new E("tlv.encode: unpadded data");
      const dataLen = data.length / 2;
      const len = numberToHexUnpadded(dataLen);
      if (len.length / 2 & 128)
        throw new E("tlv.encode: long form length too big");
      const lenLen2 = dataLen > 127 ? numberToHexUnpadded(len.length / 2 | 128) : "";
      const t = numberToHexUnpadded(tag);
      return t + lenLen2 + len + data;
    },
    // v - value, l - left bytes (unparsed)
    decode(tag, data) {
      const { Err: E } = _DER;
      data = abytes2(data, void 0, "DER data");
      let pos = 0;
      if (tag < 0 || tag > 255)
        throw new E("tlv.decode: wrong tag");
      if (data.length < 2 || data[pos++] !== tag)
        throw new E("tlv.decode: wrong tlv");
      const first = data[pos++];
      const isLong = !!(first & 128);
      let length = 0;
      if (!isLong)
        length = first;
      else {
        const lenLen2 = first & 127;
        if (!lenLen2)
          throw new E("tlv.decode(long): indefinite length not supported");
        if (lenLen2 > 4)
          throw new E("tlv.decode(long): byte length is too big");
        const lengthBytes = data.subarray(pos, pos + lenLen2);
        if (lengthBytes.length !== lenLen2)
          throw new E("tlv.decode: length bytes not complete");
        if (lengthBytes[0] === 0)
          throw new E("tlv.decode(long): zero leftmost byte");
        for (const b of lengthBytes)
          length = length << 8 | b;
        pos += lenLen2;
        if (length < 128)
          throw new E("tlv.decode(long): not minimal encoding");
      }
      const v = data.subarray(pos, pos + length);
      if (v.length !== length)
        throw new E("tlv.decode: wrong value length");
      return { v, l: data.subarray(pos + length) };
    }
  },
  // https://crypto.stackexchange.com/a/57734 Leftmost bit of first byte is 'negative' flag,
  // since we always use positive integers here. It must always be empty:
  // - add zero byte if exists
  // - if next byte doesn't have a flag, leading zero is not allowed (minimal encoding)
  _int: {
    encode(num) {
      const { Err: E } = _DER;
      abignumber(num);
      if (num < _0n4)
        throw new E("integer: negative integers are not allowed");
      let hex2 = numberToHexUnpadded(num);
      if (Number.parseInt(hex2[0], 16) & 8)
        hex2 = "00" + hex2;
      if (hex2.length & 1)
        throw new E("unexpected DER parsing assertion: unpadded hex");
      return hex2;
    },
    decode(data) {
      const { Err: E } = _DER;
      if (data.length < 1)
        throw new E("invalid signature integer: empty");
      if (data[0] & 128)
        throw new E("invalid signature integer: negative");
      if (data.length > 1 && data[0] === 0 && !(data[1] & 128))
        throw new E("invalid signature integer: unnecessary leading zero");
      return bytesToNumberBE(data);
    }
  },
  toSig(bytes, maxScalarBytes) {
    const { Err: E, _int: int2, _tlv: tlv } = _DER;
    if (maxScalarBytes !== void 0) {
      asafenumber(maxScalarBytes, "maxScalarBytes");
      if (maxScalarBytes < 1)
        throw new E("invalid signature: maxScalarBytes must be positive");
    }
    const data = abytes2(bytes, void 0, "signature");
    const { v: seqBytes, l: seqLeftBytes } = tlv.decode(48, data);
    if (seqLeftBytes.length)
      throw new E("invalid signature: left bytes after parsing");
    const { v: rBytes, l: rLeftBytes } = tlv.decode(2, seqBytes);
    const { v: sBytes, l: sLeftBytes } = tlv.decode(2, rLeftBytes);
    if (sLeftBytes.length)
      throw new E("invalid signature: left bytes after parsing");
    if (maxScalarBytes !== void 0 && (rBytes.length > maxScalarBytes || sBytes.length > maxScalarBytes))
      throw new E("invalid signature: integer too large");
    return { r: int2.decode(rBytes), s: int2.decode(sBytes) };
  },
  hexFromSig(sig) {
    const { _tlv: tlv, _int: int2 } = _DER;
    validateObject(sig, { r: "bigint", s: "bigint" }, {}, "sig");
    const rs = tlv.encode(2, int2.encode(sig.r));
    const ss = tlv.encode(2, int2.encode(sig.s));
    const seq = rs + ss;
    return tlv.encode(48, seq);
  }
};
var DER = /* @__PURE__ */ (() => {
  Object.freeze(_DER._tlv);
  Object.freeze(_DER._int);
  return Object.freeze(_DER);
})();

// node_modules/@noble/curves/abstract/weierstrass.js
/*! noble-curves - MIT License (c) 2022 Paul Miller (paulmillr.com) */
var divNearest = (num, den) => (num + (num >= 0 ? den : -den) / _2n2) / den;
function _splitEndoScalar(k, basis, n) {
  aInRange("scalar", k, _0n5, n);
  const [[a1, b1], [a2, b2]] = basis;
  const c1 = divNearest(b2 * k, n);
  const c2 = divNearest(-b1 * k, n);
  let k1 = k - c1 * a1 - c2 * a2;
  let k2 = -c1 * b1 - c2 * b2;
  const k1neg = k1 < _0n5;
  const k2neg = k2 < _0n5;
  if (k1neg)
    k1 = -k1;
  if (k2neg)
    k2 = -k2;
  const MAX_NUM = bitMask(Math.ceil(bitLen(n) / 2)) + _1n4;
  if (k1 < _0n5 || k1 >= MAX_NUM || k2 < _0n5 || k2 >= MAX_NUM) {
    throw new Error("splitScalar (endomorphism): failed for k");
  }
  return { k1neg, k1, k2neg, k2 };
}
function validateSigFormat(format) {
  if (!["compact", "recovered", "der"].includes(format))
    throw new Error('Signature format must be "compact", "recovered", or "der"');
  return format;
}
function validateSigOpts(opts, def) {
  validateObject(opts);
  const optsn = {};
  for (let optName of Object.keys(def)) {
    optsn[optName] = opts[optName] === void 0 ? def[optName] : opts[optName];
  }
  abool2(optsn.lowS, "lowS");
  abool2(optsn.prehash, "prehash");
  if (optsn.format !== void 0)
    validateSigFormat(optsn.format);
  return optsn;
}
var _0n5 = /* @__PURE__ */ BigInt(0);
var _1n4 = /* @__PURE__ */ BigInt(1);
var _2n2 = /* @__PURE__ */ BigInt(2);
var _3n2 = /* @__PURE__ */ BigInt(3);
var _4n3 = /* @__PURE__ */ BigInt(4);
function weierstrass(params, extraOpts = {}) {
  const validated = createCurveFields("weierstrass", params, extraOpts);
  const Fp = validated.Fp;
  const Fn = validated.Fn;
  let CURVE = validated.CURVE;
  const { h: cofactor, n: CURVE_ORDER } = CURVE;
  validateObject(extraOpts, {}, {
    allowInfinityPoint: "boolean",
    clearCofactor: "function",
    isTorsionFree: "function",
    fromBytes: "function",
    toBytes: "function",
    endo: "object",
    randomBytes: "function"
  });
  const { endo: endoOpts, allowInfinityPoint, clearCofactor, isTorsionFree, fromBytes, toBytes } = extraOpts;
  const randomBytes3 = extraOpts.randomBytes === void 0 ? randomBytes2 : extraOpts.randomBytes;
  if (endoOpts) {
    if (!Fp.is0(CURVE.a) || typeof endoOpts.beta !== "bigint" || !Array.isArray(endoOpts.basises)) {
      throw new Error('invalid endo: expected "beta": bigint and "basises": array');
    }
  }
  const endo = endoOpts ? {
    beta: endoOpts.beta,
    basises: endoOpts.basises.map((basis) => [...basis])
  } : void 0;
  const lengths = getWLengths(Fp, Fn);
  function assertCompressionIsSupported() {
    if (!Fp.isOdd)
      throw new Error("compression is not supported: Field does not have .isOdd()");
  }
  function pointToBytes(_c, point, isCompressed) {
    if (point.is0()) {
      if (!allowInfinityPoint)
        throw new Error("bad point: ZERO");
      return Uint8Array.of(0);
    }
    const { x, y } = point.toAffine();
    const bx = Fp.toBytes(x);
    abool2(isCompressed, "isCompressed");
    if (isCompressed) {
      assertCompressionIsSupported();
      const hasEvenY = !Fp.isOdd(y);
      return concatBytes2(pprefix(hasEvenY), bx);
    } else {
      return concatBytes2(Uint8Array.of(4), bx, Fp.toBytes(y));
    }
  }
  function pointFromBytes(bytes) {
    abytes2(bytes, void 0, "Point");
    const { publicKey: comp, publicKeyUncompressed: uncomp } = lengths;
    const length = bytes.length;
    const head = bytes[0];
    const tail = bytes.subarray(1);
    if (allowInfinityPoint && length === 1 && head === 0)
      return { x: Fp.ZERO, y: Fp.ZERO };
    if (length === comp && (head === 2 || head === 3)) {
      const x = Fp.fromBytes(tail);
      if (!Fp.isValid(x))
        throw new Error("bad point: is not on curve, wrong x");
      const y2 = weierstrassEquation(x);
      let y;
      try {
        y = Fp.sqrt(y2);
      } catch (sqrtError) {
        const err = sqrtError instanceof Error ? ": " + sqrtError.message : "";
        throw new Error("bad point: is not on curve, sqrt error" + err);
      }
      assertCompressionIsSupported();
      const evenY = Fp.isOdd(y);
      const evenH = (head & 1) === 1;
      if (evenH !== evenY)
        y = Fp.neg(y);
      return { x, y };
    } else if (length === uncomp && head === 4) {
      const L = Fp.BYTES;
      const x = Fp.fromBytes(tail.subarray(0, L));
      const y = Fp.fromBytes(tail.subarray(L, L * 2));
      if (!isValidXY(x, y))
        throw new Error("bad point: is not on curve");
      return { x, y };
    } else {
      throw new Error(`bad point: got length ${length}, expected compressed=${comp} or uncompressed=${uncomp}`);
    }
  }
  const encodePoint = toBytes === void 0 ? pointToBytes : toBytes;
  const decodePoint = fromBytes === void 0 ? pointFromBytes : fromBytes;
  const b3 = Fp.mul(CURVE.b, _3n2);
  const mulA = Fp.is0(CURVE.a) ? (_) => Fp.ZERO : (x) => Fp.mul(CURVE.a, x);
  function weierstrassEquation(x) {
    const x2 = Fp.sqr(x);
    const x3 = Fp.mul(x2, x);
    return Fp.add(Fp.add(x3, Fp.mul(x, CURVE.a)), CURVE.b);
  }
  function isValidXY(x, y) {
    const left = Fp.sqr(y);
    const right = weierstrassEquation(x);
    return Fp.eql(left, right);
  }
  if (!isValidXY(CURVE.Gx, CURVE.Gy))
    throw new Error("bad curve params: generator point");
  const _4a3 = Fp.mul(Fp.pow(CURVE.a, _3n2), _4n3);
  const _27b2 = Fp.mul(Fp.sqr(CURVE.b), BigInt(27));
  if (Fp.is0(Fp.add(_4a3, _27b2)))
    throw new Error("bad curve params: a or b");
  function acoord(title, n, banZero = false) {
    if (!Fp.isValid(n) || banZero && Fp.is0(n))
      throw new Error(`bad point coordinate ${title}`);
    return typeof n === "object" && n !== null ? Fp.create(n) : n;
  }
  function aprjpoint(other) {
    if (!(other instanceof Point))
      throw new Error("Weierstrass Point expected");
  }
  function splitEndoScalarN(k) {
    if (!endo || !endo.basises)
      throw new Error("no endo");
    return _splitEndoScalar(k, endo.basises, Fn.ORDER);
  }
  function pushWnafPair(points, scalars, p, k) {
    if (!Fn.isValid(k))
      throw new RangeError("invalid scalar: out of range");
    if (endo) {
      const { k1neg, k1, k2neg, k2 } = splitEndoScalarN(k);
      const psi = new Point(Fp.mul(p.X, endo.beta), p.Y, p.Z);
      points.push(k1neg ? p.negate() : p, k2neg ? psi.negate() : psi);
      scalars.push(k1, k2);
    } else {
      points.push(p);
      scalars.push(k);
    }
  }
  const validityCache = /* @__PURE__ */ new WeakSet();
  const _Point = class _Point {
    /** Does NOT validate if the point is valid. Use `.assertValidity()`. */
    constructor(X, Y, Z) {
      __publicField(this, "X");
      __publicField(this, "Y");
      __publicField(this, "Z");
      this.X = acoord("x", X);
      this.Y = acoord("y", Y, true);
      this.Z = acoord("z", Z);
      Object.freeze(this);
    }
    static CURVE() {
      return CURVE;
    }
    /** Does NOT validate if the point is valid. Use `.assertValidity()`. */
    static fromAffine(p) {
      const { x, y } = p || {};
      if (!p || !Fp.isValid(x) || !Fp.isValid(y))
        throw new Error("invalid affine point");
      if (p instanceof _Point)
        throw new Error("projective point not allowed");
      if (Fp.is0(x) && Fp.is0(y))
        return _Point.ZERO;
      return new _Point(x, y, Fp.ONE);
    }
    static fromBytes(bytes) {
      const P = _Point.fromAffine(decodePoint(abytes2(bytes, void 0, "point")));
      P.assertValidity();
      return P;
    }
    static fromHex(hex2) {
      return _Point.fromBytes(hexToBytes2(hex2));
    }
    get x() {
      return this.toAffine().x;
    }
    get y() {
      return this.toAffine().y;
    }
    /**
     * @param isLazy - true will defer table computation until the first multiplication
     */
    precompute(windowSize = 6, isLazy = true) {
      wnaf.setWindowSize(this, windowSize);
      if (!isLazy)
        this.multiply(_3n2);
      return this;
    }
    // TODO: return `this`
    /** A point on curve is valid if it conforms to equation. */
    assertValidity() {
      const p = this;
      if (p.is0()) {
        if (allowInfinityPoint && Fp.is0(p.X) && Fp.eql(p.Y, Fp.ONE) && Fp.is0(p.Z))
          return;
        throw new Error("bad point: ZERO");
      }
      if (validityCache.has(p))
        return;
      const { x, y } = p.toAffine();
      if (!Fp.isValid(x) || !Fp.isValid(y))
        throw new Error("bad point: x or y not field elements");
      if (!isValidXY(x, y))
        throw new Error("bad point: equation left != right");
      if (!p.isTorsionFree())
        throw new Error("bad point: not in prime-order subgroup");
      validityCache.add(p);
    }
    hasEvenY() {
      const { y } = this.toAffine();
      if (!Fp.isOdd)
        throw new Error("Field doesn't support isOdd");
      return !Fp.isOdd(y);
    }
    /** Compare one point to another. */
    equals(other) {
      aprjpoint(other);
      const { X: X1, Y: Y1, Z: Z1 } = this;
      const { X: X2, Y: Y2, Z: Z2 } = other;
      const U1 = Fp.eql(Fp.mul(X1, Z2), Fp.mul(X2, Z1));
      const U2 = Fp.eql(Fp.mul(Y1, Z2), Fp.mul(Y2, Z1));
      return U1 && U2;
    }
    /** Flips point to one corresponding to (x, -y) in Affine coordinates. */
    negate() {
      return new _Point(this.X, Fp.neg(this.Y), this.Z);
    }
    // Renes-Costello-Batina exception-free doubling formula.
    // There is 30% faster Jacobian formula, but it is not complete.
    // https://eprint.iacr.org/2015/1060, algorithm 3
    // Cost: 8M + 3S + 3*a + 2*b3 + 15add.
    double() {
      const { X: X1, Y: Y1, Z: Z1 } = this;
      let X3 = Fp.ZERO, Y3 = Fp.ZERO, Z3 = Fp.ZERO;
      let t0 = Fp.mul(X1, X1);
      let t1 = Fp.mul(Y1, Y1);
      let t2 = Fp.mul(Z1, Z1);
      let t3 = Fp.mul(X1, Y1);
      t3 = Fp.add(t3, t3);
      Z3 = Fp.mul(X1, Z1);
      Z3 = Fp.add(Z3, Z3);
      X3 = mulA(Z3);
      Y3 = Fp.mul(b3, t2);
      Y3 = Fp.add(X3, Y3);
      X3 = Fp.sub(t1, Y3);
      Y3 = Fp.add(t1, Y3);
      Y3 = Fp.mul(X3, Y3);
      X3 = Fp.mul(t3, X3);
      Z3 = Fp.mul(b3, Z3);
      t2 = mulA(t2);
      t3 = Fp.sub(t0, t2);
      t3 = mulA(t3);
      t3 = Fp.add(t3, Z3);
      Z3 = Fp.add(t0, t0);
      t0 = Fp.add(Z3, t0);
      t0 = Fp.add(t0, t2);
      t0 = Fp.mul(t0, t3);
      Y3 = Fp.add(Y3, t0);
      t2 = Fp.mul(Y1, Z1);
      t2 = Fp.add(t2, t2);
      t0 = Fp.mul(t2, t3);
      X3 = Fp.sub(X3, t0);
      Z3 = Fp.mul(t2, t1);
      Z3 = Fp.add(Z3, Z3);
      Z3 = Fp.add(Z3, Z3);
      return new _Point(X3, Y3, Z3);
    }
    // Renes-Costello-Batina exception-free addition formula.
    // There is 30% faster Jacobian formula, but it is not complete.
    // https://eprint.iacr.org/2015/1060, algorithm 1
    // Cost: 12M + 0S + 3*a + 3*b3 + 23add.
    add(other) {
      aprjpoint(other);
      const { X: X1, Y: Y1, Z: Z1 } = this;
      const { X: X2, Y: Y2, Z: Z2 } = other;
      let X3 = Fp.ZERO, Y3 = Fp.ZERO, Z3 = Fp.ZERO;
      let t0 = Fp.mul(X1, X2);
      let t1 = Fp.mul(Y1, Y2);
      let t2 = Fp.mul(Z1, Z2);
      let t3 = Fp.add(X1, Y1);
      let t4 = Fp.add(X2, Y2);
      t3 = Fp.mul(t3, t4);
      t4 = Fp.add(t0, t1);
      t3 = Fp.sub(t3, t4);
      t4 = Fp.add(X1, Z1);
      let t5 = Fp.add(X2, Z2);
      t4 = Fp.mul(t4, t5);
      t5 = Fp.add(t0, t2);
      t4 = Fp.sub(t4, t5);
      t5 = Fp.add(Y1, Z1);
      X3 = Fp.add(Y2, Z2);
      t5 = Fp.mul(t5, X3);
      X3 = Fp.add(t1, t2);
      t5 = Fp.sub(t5, X3);
      Z3 = mulA(t4);
      X3 = Fp.mul(b3, t2);
      Z3 = Fp.add(X3, Z3);
      X3 = Fp.sub(t1, Z3);
      Z3 = Fp.add(t1, Z3);
      Y3 = Fp.mul(X3, Z3);
      t1 = Fp.add(t0, t0);
      t1 = Fp.add(t1, t0);
      t2 = mulA(t2);
      t4 = Fp.mul(b3, t4);
      t1 = Fp.add(t1, t2);
      t2 = Fp.sub(t0, t2);
      t2 = mulA(t2);
      t4 = Fp.add(t4, t2);
      t0 = Fp.mul(t1, t4);
      Y3 = Fp.add(Y3, t0);
      t0 = Fp.mul(t5, t4);
      X3 = Fp.mul(t3, X3);
      X3 = Fp.sub(X3, t0);
      t0 = Fp.mul(t3, t1);
      Z3 = Fp.mul(t5, Z3);
      Z3 = Fp.add(Z3, t0);
      return new _Point(X3, Y3, Z3);
    }
    subtract(other) {
      aprjpoint(other);
      return this.add(other.negate());
    }
    is0() {
      return this.equals(_Point.ZERO);
    }
    /**
     * Constant time multiplication.
     * Uses precomputed tables (signed fixed-window wNAF) when available.
     * Uses scalar blinding and avoids endomorphism splitting in the secret-scalar path.
     * @param scalar - by which the point would be multiplied
     * @returns New point
     */
    multiply(scalar) {
      if (!Fn.isValidNot0(scalar))
        throw new RangeError("invalid scalar: out of range");
      const { p, f } = wnaf.mulSecret(this, scalar, cofactor, normalize2);
      return normalize2([p, f])[0];
    }
    /**
     * Non-constant-time multiplication. Uses width-4 wNAF with GLV endomorphism splitting
     * when available (two half-width scalars sharing one halved doubling chain).
     * It's faster, but should only be used when you don't care about
     * an exposed secret key e.g. sig verification, which works over *public* keys.
     */
    multiplyUnsafe(scalar) {
      const p = this;
      const sc = scalar;
      if (!Fn.isValid(sc))
        throw new RangeError("invalid scalar: out of range");
      if (sc === _0n5 || p.is0())
        return _Point.ZERO;
      if (sc === _1n4)
        return p;
      if (wnaf.hasWindowSize(this))
        return wnaf.mulUnsafe(p, sc, normalize2);
      const points = [];
      const scalars = [];
      pushWnafPair(points, scalars, p, sc);
      return mulAddUnsafe(_Point, points, scalars);
    }
    /**
     * Non-constant-time double-scalar multiplication `a⋅this + b⋅other` (Strauss–Shamir).
     * Both walks share one doubling chain via {@link mulAddUnsafe}, and GLV endomorphism
     * (when available) halves the chain again by splitting each scalar into two half-width
     * parts. Used by ECDSA verification and public-key recovery for `R = u1⋅G + u2⋅P`.
     * Only for public scalars.
     */
    mulAddUnsafe(a, other, b) {
      aprjpoint(other);
      const points = [];
      const scalars = [];
      pushWnafPair(points, scalars, this, a);
      pushWnafPair(points, scalars, other, b);
      return mulAddUnsafe(_Point, points, scalars);
    }
    /**
     * Converts Projective point to affine (x, y) coordinates.
     * (X, Y, Z) ∋ (x=X/Z, y=Y/Z).
     * @param invertedZ - Z^-1 (inverted zero) - optional, precomputation is useful for invertBatch
     */
    toAffine(invertedZ) {
      const p = this;
      let iz = invertedZ;
      if (iz != null && !Fp.isValid(iz))
        throw new RangeError('"invertedZ" expected valid field element');
      const { X, Y, Z } = p;
      if (Fp.eql(Z, Fp.ONE))
        return { x: X, y: Y };
      const is0 = p.is0();
      if (iz == null)
        iz = is0 ? Fp.ONE : Fp.inv(Z);
      const x = Fp.mul(X, iz);
      const y = Fp.mul(Y, iz);
      const zz = Fp.mul(Z, iz);
      if (is0)
        return { x: Fp.ZERO, y: Fp.ZERO };
      if (!Fp.eql(zz, Fp.ONE))
        throw new Error("invZ was invalid");
      return { x, y };
    }
    /**
     * Checks whether Point is free of torsion elements (is in prime subgroup).
     * Always torsion-free for cofactor=1 curves.
     */
    isTorsionFree() {
      if (cofactor === _1n4)
        return true;
      if (isTorsionFree)
        return isTorsionFree(_Point, this);
      return wnaf.mulUnsafe(this, CURVE_ORDER).is0();
    }
    clearCofactor() {
      if (cofactor === _1n4)
        return this;
      if (clearCofactor)
        return clearCofactor(_Point, this);
      return this.multiplyUnsafe(cofactor);
    }
    isSmallOrder() {
      if (cofactor === _1n4)
        return this.is0();
      return this.clearCofactor().is0();
    }
    toBytes(isCompressed = true) {
      abool2(isCompressed, "isCompressed");
      this.assertValidity();
      return encodePoint(_Point, this, isCompressed);
    }
    toHex(isCompressed = true) {
      return bytesToHex2(this.toBytes(isCompressed));
    }
    toString() {
      return `<Point ${this.is0() ? "ZERO" : this.toHex()}>`;
    }
  };
  __publicField(_Point, "BASE", new _Point(CURVE.Gx, CURVE.Gy, Fp.ONE));
  __publicField(_Point, "ZERO", new _Point(Fp.ZERO, Fp.ONE, Fp.ZERO));
  __publicField(_Point, "Fp", Fp);
  __publicField(_Point, "Fn", Fn);
  let Point = _Point;
  const normalize2 = (points) => normalizeZ(Point, points);
  const wnaf = new ScalarMultiplier(Point, randomBytes3);
  if (wnaf.bits >= 6)
    Point.BASE.precompute(6);
  Object.freeze(Point.prototype);
  Object.freeze(Point);
  return Point;
}
function pprefix(hasEvenY) {
  return Uint8Array.of(hasEvenY ? 2 : 3);
}
function getWLengths(Fp, Fn) {
  return {
    secretKey: Fn.BYTES,
    publicKey: 1 + Fp.BYTES,
    publicKeyUncompressed: 1 + 2 * Fp.BYTES,
    publicKeyHasPrefix: true,
    // Raw compact `(r || s)` signature width; DER and recovered signatures use
    // different lengths outside this helper.
    signature: 2 * Fn.BYTES
  };
}
function ecdh(Point, ecdhOpts = {}) {
  validatePointCons(Point);
  const { Fn } = Point;
  const randomBytes_ = ecdhOpts.randomBytes === void 0 ? randomBytes2 : ecdhOpts.randomBytes;
  const lengths = Object.assign(getWLengths(Point.Fp, Fn), {
    seed: Math.max(getMinHashLength(Fn.ORDER), 16)
  });
  function isValidSecretKey(secretKey) {
    try {
      const num = Fn.fromBytes(secretKey);
      return Fn.isValidNot0(num);
    } catch (error) {
      return false;
    }
  }
  function isValidPublicKey(publicKey, isCompressed) {
    const { publicKey: comp, publicKeyUncompressed } = lengths;
    try {
      const l = publicKey.length;
      if (isCompressed === true && l !== comp)
        return false;
      if (isCompressed === false && l !== publicKeyUncompressed)
        return false;
      return !Point.fromBytes(publicKey).is0();
    } catch (error) {
      return false;
    }
  }
  function randomSecretKey(seed) {
    seed = seed === void 0 ? randomBytes_(lengths.seed) : seed;
    return mapHashToField(abytes2(seed, lengths.seed, "seed"), Fn.ORDER);
  }
  function getPublicKey(secretKey, isCompressed = true) {
    return Point.BASE.multiply(Fn.fromBytes(secretKey)).toBytes(isCompressed);
  }
  function isProbPub(item) {
    const { secretKey, publicKey, publicKeyUncompressed } = lengths;
    const allowedLengths = Fn._lengths;
    if (!isBytes2(item))
      return void 0;
    const l = abytes2(item, void 0, "key").length;
    const isPub = l === publicKey || l === publicKeyUncompressed;
    const isSec = l === secretKey || !!allowedLengths?.includes(l);
    if (isPub && isSec)
      return void 0;
    return isPub;
  }
  function getSharedSecret(secretKeyA, publicKeyB, isCompressed = true) {
    if (isProbPub(secretKeyA) === true)
      throw new Error("first arg must be private key");
    if (isProbPub(publicKeyB) === false)
      throw new Error("second arg must be public key");
    const s = Fn.fromBytes(secretKeyA);
    const b = Point.fromBytes(publicKeyB);
    if (b.is0())
      throw new Error("invalid public key: point at infinity");
    return b.multiply(s).toBytes(isCompressed);
  }
  const utils2 = {
    isValidSecretKey,
    isValidPublicKey,
    randomSecretKey
  };
  const keygen = createKeygen(randomSecretKey, getPublicKey);
  Object.freeze(utils2);
  Object.freeze(lengths);
  return Object.freeze({ getPublicKey, getSharedSecret, keygen, Point, utils: utils2, lengths });
}
function ecdsa(Point, hash, ecdsaOpts = {}) {
  validatePointCons(Point);
  const hash_ = hash;
  ahash(hash_);
  validateObject(ecdsaOpts, {}, {
    hmac: "function",
    lowS: "boolean",
    randomBytes: "function",
    bits2int: "function",
    bits2int_modN: "function"
  });
  const opts = Object.assign({}, ecdsaOpts);
  const randomBytes3 = opts.randomBytes === void 0 ? randomBytes2 : opts.randomBytes;
  const hmac2 = opts.hmac === void 0 ? (key, msg) => hmac(hash_, key, msg) : opts.hmac;
  const { Fp, Fn } = Point;
  const { ORDER: CURVE_ORDER, BITS: fnBits } = Fn;
  const blindLength = getMinHashLength(CURVE_ORDER);
  const csprng = probeRandomBytes(randomBytes3, blindLength);
  const { keygen, getPublicKey, getSharedSecret, utils: utils2, lengths } = ecdh(Point, opts);
  const defaultSigOpts = {
    prehash: true,
    lowS: typeof opts.lowS === "boolean" ? opts.lowS : true,
    format: "compact",
    extraEntropy: false
  };
  const hasLargeRecoveryLifts = CURVE_ORDER * _2n2 + _1n4 < Fp.ORDER;
  function isBiggerThanHalfOrder(number) {
    const HALF = CURVE_ORDER >> _1n4;
    return number > HALF;
  }
  function validateRS(title, num) {
    if (!Fn.isValidNot0(num))
      throw new Error(`invalid signature ${title}: out of range 1..Point.Fn.ORDER`);
    return num;
  }
  function assertFieldSignIsSupported() {
    if (!Fp.isOdd)
      throw new Error("Field doesn't support isOdd");
  }
  function getRecoveryBit(x, y, r) {
    assertFieldSignIsSupported();
    return (x === r ? 0 : 2) | Number(Fp.isOdd(y));
  }
  function assertRecoverableCurve() {
    if (hasLargeRecoveryLifts)
      throw new Error('"recovered" sig type is not supported for cofactor >2 curves');
  }
  function validateSigLength(bytes, format) {
    validateSigFormat(format);
    const size = lengths.signature;
    const sizer = format === "compact" ? size : format === "recovered" ? size + 1 : void 0;
    return abytes2(bytes, sizer);
  }
  class Signature {
    constructor(r, s, recovery) {
      __publicField(this, "r");
      __publicField(this, "s");
      __publicField(this, "recovery");
      this.r = validateRS("r", r);
      this.s = validateRS("s", s);
      if (recovery != null) {
        assertRecoverableCurve();
        if (![0, 1, 2, 3].includes(recovery))
          throw new Error("invalid recovery id");
        this.recovery = recovery;
      }
      Object.freeze(this);
    }
    static fromBytes(bytes, format = defaultSigOpts.format) {
      validateSigLength(bytes, format);
      let recid;
      if (format === "der") {
        if (bytes.length > 2 * Fn.BYTES + 16)
          throw new DER.Err("invalid signature: DER signature too long");
        const { r: r2, s: s2 } = DER.toSig(abytes2(bytes), Fn.BYTES + 1);
        return new Signature(r2, s2);
      }
      if (format === "recovered") {
        recid = bytes[0];
        format = "compact";
        bytes = bytes.subarray(1);
      }
      const L = lengths.signature / 2;
      const r = bytes.subarray(0, L);
      const s = bytes.subarray(L, L * 2);
      return new Signature(Fn.fromBytes(r), Fn.fromBytes(s), recid);
    }
    static fromHex(hex2, format) {
      return this.fromBytes(hexToBytes2(hex2), format);
    }
    assertRecovery() {
      const { recovery } = this;
      if (recovery == null)
        throw new Error("invalid recovery id: must be present");
      return recovery;
    }
    addRecoveryBit(recovery) {
      return new Signature(this.r, this.s, recovery);
    }
    // Unlike the top-level helper below, this method expects a digest that has
    // already been hashed to the curve's message representative.
    recoverPublicKey(messageHash) {
      const { r, s } = this;
      const recovery = this.assertRecovery();
      const radj = recovery === 2 || recovery === 3 ? r + CURVE_ORDER : r;
      if (!Fp.isValid(radj))
        throw new Error("invalid recovery id: sig.r+curve.n != R.x");
      const x = Fp.toBytes(radj);
      const R = Point.fromBytes(concatBytes2(pprefix((recovery & 1) === 0), x));
      const ir = Fn.inv(radj);
      const h = bits2int_modN(abytes2(messageHash, void 0, "msgHash"));
      const u1 = Fn.create(-h * ir);
      const u2 = Fn.create(s * ir);
      const Q = Point.BASE.mulAddUnsafe(u1, R, u2);
      if (Q.is0())
        throw new Error("invalid recovery: point at infinify");
      Q.assertValidity();
      return Q;
    }
    // Signatures should be low-s, to prevent malleability.
    hasHighS() {
      return isBiggerThanHalfOrder(this.s);
    }
    toBytes(format = defaultSigOpts.format) {
      validateSigFormat(format);
      if (format === "der")
        return hexToBytes2(DER.hexFromSig(this));
      const { r, s } = this;
      const rb = Fn.toBytes(r);
      const sb = Fn.toBytes(s);
      if (format === "recovered") {
        assertRecoverableCurve();
        return concatBytes2(Uint8Array.of(this.assertRecovery()), rb, sb);
      }
      return concatBytes2(rb, sb);
    }
    toHex(format) {
      return bytesToHex2(this.toBytes(format));
    }
  }
  Object.freeze(Signature.prototype);
  Object.freeze(Signature);
  const bits2int = opts.bits2int === void 0 ? function bits2int_def(bytes) {
    if (bytes.length > 8192)
      throw new Error("input is too large");
    const num = bytesToNumberBE(bytes);
    const delta = bytes.length * 8 - fnBits;
    return delta > 0 ? num >> BigInt(delta) : num;
  } : opts.bits2int;
  const bits2int_modN = opts.bits2int_modN === void 0 ? function bits2int_modN_def(bytes) {
    return Fn.create(bits2int(bytes));
  } : opts.bits2int_modN;
  const ORDER_MASK = bitMask(fnBits);
  function int2octets(num) {
    aInRange("num < 2^" + fnBits, num, _0n5, ORDER_MASK);
    return Fn.toBytes(num);
  }
  function validateMsgAndHash(message, prehash) {
    abytes2(message, void 0, "message");
    return prehash ? abytes2(hash_(message), void 0, "prehashed message") : message;
  }
  function prepSig(message, secretKey, opts2) {
    const { lowS, prehash, extraEntropy } = validateSigOpts(opts2, defaultSigOpts);
    message = validateMsgAndHash(message, prehash);
    const h1int = bits2int_modN(message);
    const d = Fn.fromBytes(secretKey);
    if (!Fn.isValidNot0(d))
      throw new Error("invalid private key");
    const seedArgs = [int2octets(d), int2octets(h1int)];
    if (extraEntropy != null && extraEntropy !== false) {
      const e = extraEntropy === true ? randomBytes3(lengths.secretKey) : extraEntropy;
      seedArgs.push(abytes2(e, void 0, "extraEntropy"));
    }
    const seed = concatBytes2(...seedArgs);
    const m = h1int;
    function k2sig(kBytes) {
      const k = bits2int(kBytes);
      if (!Fn.isValidNot0(k))
        return;
      const q = Point.BASE.multiply(k).toAffine();
      const r = Fn.create(q.x);
      if (r === _0n5)
        return;
      let s;
      if (csprng !== void 0) {
        const b = bytesToNumberBE(mapHashToField(csprng(blindLength), CURVE_ORDER));
        const ibk = Fn.inv(Fn.mul(b, k));
        const bm = Fn.mul(b, m);
        const bd = Fn.mul(b, d);
        s = Fn.create(ibk * Fn.create(bm + bd * r));
      } else {
        const ik = invertCt(k, CURVE_ORDER);
        s = Fn.create(ik * Fn.create(m + r * d));
      }
      if (s === _0n5)
        return;
      let recovery = getRecoveryBit(q.x, q.y, r);
      let normS = s;
      if (lowS && isBiggerThanHalfOrder(s)) {
        normS = Fn.neg(s);
        recovery ^= 1;
      }
      return new Signature(r, normS, hasLargeRecoveryLifts ? void 0 : recovery);
    }
    return { seed, k2sig };
  }
  function sign2(message, secretKey, opts2 = {}) {
    const { seed, k2sig } = prepSig(message, secretKey, opts2);
    const drbg = createHmacDrbg(hash_.outputLen, Fn.BYTES, hmac2);
    const sig = drbg(seed, k2sig);
    return sig.toBytes(opts2.format);
  }
  function verify2(signature, message, publicKey, opts2 = {}) {
    const { lowS, prehash, format } = validateSigOpts(opts2, defaultSigOpts);
    publicKey = abytes2(publicKey, void 0, "publicKey");
    message = validateMsgAndHash(message, prehash);
    if (!isBytes2(signature)) {
      const end = signature instanceof Signature ? ", use sig.toBytes()" : "";
      throw new Error("verify expects Uint8Array signature" + end);
    }
    validateSigLength(signature, format);
    try {
      const sig = Signature.fromBytes(signature, format);
      const P = Point.fromBytes(publicKey);
      if (P.is0())
        return false;
      if (lowS && sig.hasHighS())
        return false;
      const { r, s } = sig;
      const h = bits2int_modN(message);
      const is = Fn.inv(s);
      const u1 = Fn.create(h * is);
      const u2 = Fn.create(r * is);
      const R = Point.BASE.mulAddUnsafe(u1, P, u2);
      if (R.is0())
        return false;
      const q = R.toAffine();
      const v = Fn.create(q.x);
      if (v !== r)
        return false;
      if (format === "recovered" && sig.recovery !== getRecoveryBit(q.x, q.y, r))
        return false;
      return true;
    } catch (e) {
      return false;
    }
  }
  function recoverPublicKey2(signature, message, opts2 = {}) {
    const { prehash } = validateSigOpts(opts2, defaultSigOpts);
    message = validateMsgAndHash(message, prehash);
    return Signature.fromBytes(signature, "recovered").recoverPublicKey(message).toBytes();
  }
  return Object.freeze({
    keygen,
    getPublicKey,
    getSharedSecret,
    utils: utils2,
    lengths,
    Point,
    sign: sign2,
    verify: verify2,
    recoverPublicKey: recoverPublicKey2,
    Signature,
    hash: hash_
  });
}

// node_modules/@noble/curves/secp256k1.js
/*! noble-curves - MIT License (c) 2022 Paul Miller (paulmillr.com) */
var secp256k1_CURVE = {
  p: BigInt("0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f"),
  n: BigInt("0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"),
  h: BigInt(1),
  a: BigInt(0),
  b: BigInt(7),
  Gx: BigInt("0x79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"),
  Gy: BigInt("0x483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8")
};
var secp256k1_ENDO = {
  beta: BigInt("0x7ae96a2b657c07106e64479eac3434e99cf0497512f58995c1396c28719501ee"),
  basises: [
    [BigInt("0x3086d221a7d46bcde86c90e49284eb15"), -BigInt("0xe4437ed6010e88286f547fa90abfe4c3")],
    [BigInt("0x114ca50f7a8e2f3f657c1108d9d44cfd8"), BigInt("0x3086d221a7d46bcde86c90e49284eb15")]
  ]
};
var _2n3 = /* @__PURE__ */ BigInt(2);
function sqrtMod(y) {
  const P = secp256k1_CURVE.p;
  const _3n3 = BigInt(3), _6n = BigInt(6), _11n = BigInt(11), _22n = BigInt(22);
  const _23n = BigInt(23), _44n = BigInt(44), _88n = BigInt(88);
  const b2 = y * y * y % P;
  const b3 = b2 * b2 * y % P;
  const b6 = pow2(b3, _3n3, P) * b3 % P;
  const b9 = pow2(b6, _3n3, P) * b3 % P;
  const b11 = pow2(b9, _2n3, P) * b2 % P;
  const b22 = pow2(b11, _11n, P) * b11 % P;
  const b44 = pow2(b22, _22n, P) * b22 % P;
  const b88 = pow2(b44, _44n, P) * b44 % P;
  const b176 = pow2(b88, _88n, P) * b88 % P;
  const b220 = pow2(b176, _44n, P) * b44 % P;
  const b223 = pow2(b220, _3n3, P) * b3 % P;
  const t1 = pow2(b223, _23n, P) * b22 % P;
  const t2 = pow2(t1, _6n, P) * b2 % P;
  const root = pow2(t2, _2n3, P);
  if (!Fpk1.eql(Fpk1.sqr(root), y))
    throw new Error("Cannot find square root");
  return root;
}
var Fpk1 = /* @__PURE__ */ Field(secp256k1_CURVE.p, { sqrt: sqrtMod });
var Pointk1 = /* @__PURE__ */ weierstrass(secp256k1_CURVE, {
  Fp: Fpk1,
  endo: secp256k1_ENDO
});
var secp256k1 = /* @__PURE__ */ ecdsa(Pointk1, sha256);

// node_modules/@noble/hashes/sha3.js
var _0n6 = BigInt(0);
var _1n5 = BigInt(1);
var _2n4 = BigInt(2);
var _7n2 = BigInt(7);
var _256n = BigInt(256);
var _0x71n = BigInt(113);
var SHA3_PI = [];
var SHA3_ROTL = [];
var _SHA3_IOTA = [];
for (let round = 0, R = _1n5, x = 1, y = 0; round < 24; round++) {
  [x, y] = [y, (2 * x + 3 * y) % 5];
  SHA3_PI.push(2 * (5 * y + x));
  SHA3_ROTL.push((round + 1) * (round + 2) / 2 % 64);
  let t = _0n6;
  for (let j = 0; j < 7; j++) {
    R = (R << _1n5 ^ (R >> _7n2) * _0x71n) % _256n;
    if (R & _2n4)
      t ^= _1n5 << (_1n5 << BigInt(j)) - _1n5;
  }
  _SHA3_IOTA.push(t);
}
var IOTAS = split(_SHA3_IOTA, true);
var SHA3_IOTA_H = IOTAS[0];
var SHA3_IOTA_L = IOTAS[1];
var rotlSH = (h, l, s) => h << s | l >>> 32 - s;
var rotlSL = (h, l, s) => l << s | h >>> 32 - s;
var rotlBH = (h, l, s) => l << s - 32 | h >>> 64 - s;
var rotlBL = (h, l, s) => h << s - 32 | l >>> 64 - s;
var rotlH = (h, l, s) => s > 32 ? rotlBH(h, l, s) : rotlSH(h, l, s);
var rotlL = (h, l, s) => s > 32 ? rotlBL(h, l, s) : rotlSL(h, l, s);
var B = new Uint32Array(5 * 2);
function keccakP(s, rounds = 24) {
  if (!(s instanceof Uint32Array))
    throw new TypeError('"s" expected Uint32Array(50), got type=' + typeof s);
  if (s.length !== 50)
    throw new RangeError('"s" expected Uint32Array(50), got length=' + s.length);
  anumber(rounds, "rounds");
  if (rounds < 1 || rounds > 24)
    throw new Error('"rounds" expected integer 1..24');
  for (let round = 24 - rounds; round < 24; round++) {
    for (let x = 0; x < 10; x++)
      B[x] = s[x] ^ s[x + 10] ^ s[x + 20] ^ s[x + 30] ^ s[x + 40];
    for (let x = 0; x < 10; x += 2) {
      const idx1 = (x + 8) % 10;
      const idx0 = (x + 2) % 10;
      const B0 = B[idx0];
      const B1 = B[idx0 + 1];
      const Th = rotlH(B0, B1, 1) ^ B[idx1];
      const Tl = rotlL(B0, B1, 1) ^ B[idx1 + 1];
      for (let y = 0; y < 50; y += 10) {
        s[x + y] ^= Th;
        s[x + y + 1] ^= Tl;
      }
    }
    let curH = s[2];
    let curL = s[3];
    for (let t = 0; t < 24; t++) {
      const shift = SHA3_ROTL[t];
      const Th = rotlH(curH, curL, shift);
      const Tl = rotlL(curH, curL, shift);
      const PI = SHA3_PI[t];
      curH = s[PI];
      curL = s[PI + 1];
      s[PI] = Th;
      s[PI + 1] = Tl;
    }
    for (let y = 0; y < 50; y += 10) {
      const b0 = s[y], b1 = s[y + 1], b2 = s[y + 2], b3 = s[y + 3];
      s[y] ^= ~s[y + 2] & s[y + 4];
      s[y + 1] ^= ~s[y + 3] & s[y + 5];
      s[y + 2] ^= ~s[y + 4] & s[y + 6];
      s[y + 3] ^= ~s[y + 5] & s[y + 7];
      s[y + 4] ^= ~s[y + 6] & s[y + 8];
      s[y + 5] ^= ~s[y + 7] & s[y + 9];
      s[y + 6] ^= ~s[y + 8] & b0;
      s[y + 7] ^= ~s[y + 9] & b1;
      s[y + 8] ^= ~b0 & b2;
      s[y + 9] ^= ~b1 & b3;
    }
    s[0] ^= SHA3_IOTA_H[round];
    s[1] ^= SHA3_IOTA_L[round];
  }
  clean(B);
}
var Keccak = class _Keccak {
  // NOTE: we accept arguments in bytes instead of bits here.
  constructor(blockLen, suffix, outputLen, enableXOF = false, rounds = 24) {
    __publicField(this, "state");
    __publicField(this, "pos", 0);
    __publicField(this, "posOut", 0);
    __publicField(this, "finished", false);
    __publicField(this, "state32");
    __publicField(this, "destroyed", false);
    __publicField(this, "blockLen");
    __publicField(this, "suffix");
    __publicField(this, "outputLen");
    __publicField(this, "canXOF");
    __publicField(this, "enableXOF", false);
    __publicField(this, "rounds");
    anumber(blockLen, "blockLen");
    anumber(suffix, "suffix");
    anumber(rounds, "rounds");
    abool(enableXOF, "enableXOF");
    this.blockLen = blockLen;
    this.suffix = suffix;
    this.outputLen = outputLen;
    this.enableXOF = enableXOF;
    this.canXOF = enableXOF;
    this.rounds = rounds;
    anumber(outputLen, "outputLen");
    if (!(0 < blockLen && blockLen < 200))
      throw new Error('"blockLen" must be 1..199');
    this.state = new Uint8Array(200);
    this.state32 = u32(this.state);
  }
  clone() {
    return this._cloneInto();
  }
  keccak() {
    swap32IfBE(this.state32);
    keccakP(this.state32, this.rounds);
    swap32IfBE(this.state32);
    this.posOut = 0;
    this.pos = 0;
  }
  update(data) {
    aexists(this);
    abytes(data);
    const { blockLen, state, state32 } = this;
    const len = data.length;
    const canUseU32 = blockLen % 4 === 0 && data.byteOffset % 4 === 0;
    const blockLen32 = blockLen / 4;
    const data32 = canUseU32 && len >= blockLen ? u32(data) : void 0;
    for (let pos = 0; pos < len; ) {
      if (data32 !== void 0 && this.pos === 0 && pos % 4 === 0 && len - pos >= blockLen) {
        for (let i = 0, o = pos / 4; i < blockLen32; i++)
          state32[i] ^= data32[o + i];
        pos += blockLen;
        this.pos = blockLen;
        this.keccak();
        continue;
      }
      const take = Math.min(blockLen - this.pos, len - pos);
      for (let i = 0; i < take; i++)
        state[this.pos++] ^= data[pos++];
      if (this.pos === blockLen)
        this.keccak();
    }
    return this;
  }
  finish() {
    if (this.finished)
      return;
    this.finished = true;
    const { state, suffix, pos, blockLen } = this;
    state[pos] ^= suffix;
    if ((suffix & 128) !== 0 && pos === blockLen - 1)
      this.keccak();
    state[blockLen - 1] ^= 128;
    this.keccak();
  }
  writeInto(out) {
    aexists(this, false);
    abytes(out);
    this.finish();
    const bufferOut = this.state;
    const { blockLen } = this;
    for (let pos = 0, len = out.length; pos < len; ) {
      if (this.posOut >= blockLen)
        this.keccak();
      const take = Math.min(blockLen - this.posOut, len - pos);
      out.set(bufferOut.subarray(this.posOut, this.posOut + take), pos);
      this.posOut += take;
      pos += take;
    }
    return out;
  }
  xofInto(out) {
    if (!this.enableXOF)
      throw new Error("XOF is not enabled");
    return this.writeInto(out);
  }
  xof(bytes) {
    anumber(bytes);
    return this.xofInto(new Uint8Array(bytes));
  }
  digestInto(out) {
    aoutput(out, this);
    if (this.finished)
      throw new Error("digest() was already called");
    this.writeInto(out.length === this.outputLen ? out : out.subarray(0, this.outputLen));
    this.destroy();
  }
  digest() {
    const out = new Uint8Array(this.outputLen);
    this.digestInto(out);
    return out;
  }
  destroy() {
    this.destroyed = true;
    clean(this.state);
  }
  _cloneInto(to) {
    const { blockLen, suffix, outputLen, rounds, enableXOF } = this;
    to || (to = new _Keccak(blockLen, suffix, outputLen, enableXOF, rounds));
    to.blockLen = blockLen;
    to.state32.set(this.state32);
    to.pos = this.pos;
    to.posOut = this.posOut;
    to.finished = this.finished;
    to.rounds = rounds;
    to.suffix = suffix;
    to.outputLen = outputLen;
    to.enableXOF = enableXOF;
    to.canXOF = this.canXOF;
    to.destroyed = this.destroyed;
    return to;
  }
};
var genKeccak = (suffix, blockLen, outputLen, info = {}) => createHasher(() => new Keccak(blockLen, suffix, outputLen), info);
var keccak_256 = /* @__PURE__ */ genKeccak(1, 136, 32);

// node_modules/@scure/base/index.js
/*! scure-base - MIT License (c) 2022 Paul Miller (paulmillr.com) */
var freeze = (fn) => Object.freeze(fn());
function isBytes3(a) {
  return a instanceof Uint8Array || ArrayBuffer.isView(a) && a.constructor.name === "Uint8Array" && "BYTES_PER_ELEMENT" in a && a.BYTES_PER_ELEMENT === 1;
}
function abytes3(b) {
  if (!isBytes3(b))
    throw new TypeError("Uint8Array expected");
}
function afn(input) {
  if (typeof input !== "function")
    throw new TypeError("function expected");
  return true;
}
function astr(label, input) {
  if (typeof input !== "string")
    throw new TypeError(`${label}: string expected`);
  return true;
}
function anumber3(n, title = "number") {
  if (typeof n !== "number")
    throw new TypeError(`${title}: expected number, got ${typeof n}`);
  if (!Number.isSafeInteger(n))
    throw new RangeError(`${title}: expected safe integer, got ${n}`);
}
function chain(...args) {
  const id = (a) => a;
  const wrap2 = (a, b) => (c) => a(b(c));
  const encode = args.map((x) => x.encode).reduceRight(wrap2, id);
  const decode = args.map((x) => x.decode).reduce(wrap2, id);
  return { encode, decode };
}
function normalize(fn) {
  afn(fn);
  return { encode: (from) => from, decode: (to) => fn(to) };
}
var powers = /* @__PURE__ */ (() => {
  let res = [];
  for (let i = 0; i < 40; i++)
    res.push(2 ** i);
  return res;
})();
var asciiDecoder = /* @__PURE__ */ (() => {
  try {
    const decoder = new TextDecoder();
    return decoder.decode(Uint8Array.of(65, 48, 43, 127)) === "A0+" ? decoder : void 0;
  } catch (e) {
    return void 0;
  }
})();
var B2S_CHUNK = 8192;
function charcodesToString(codes) {
  const len = codes.length;
  if (asciiDecoder !== void 0 && len >= 12)
    return asciiDecoder.decode(codes);
  if (len <= B2S_CHUNK)
    return String.fromCharCode.apply(null, codes);
  let res = "";
  for (let i = 0; i < len; i += B2S_CHUNK)
    res += String.fromCharCode.apply(null, codes.subarray(i, i + B2S_CHUNK));
  return res;
}
function radix2(bits) {
  anumber3(bits);
  if (bits <= 0 || bits > 8)
    throw new RangeError("radix2: bits should be in (0..8]");
  const mask = powers[bits] - 1;
  return {
    encode: (bytes) => {
      abytes3(bytes);
      const len = bytes.length;
      const res = new Uint8Array(Math.ceil(len * 8 / bits));
      let carry = 0;
      let pos = 0;
      let j = 0;
      for (let i = 0; i < len; ) {
        if (i + 2 < len) {
          carry = carry << 24 | bytes[i] << 16 | bytes[i + 1] << 8 | bytes[i + 2];
          pos += 24;
          i += 3;
        } else {
          carry = (carry << 8 | bytes[i]) & 65535;
          pos += 8;
          i++;
        }
        for (; ; ) {
          pos -= bits;
          res[j++] = carry >> pos & mask;
          if (pos < bits)
            break;
        }
      }
      if (pos > 0)
        res[j] = carry << bits - pos & mask;
      return res;
    },
    decode: (digits) => {
      const len = digits.length;
      const res = new Uint8Array(Math.floor(len * bits / 8));
      let carry = 0;
      let pos = 0;
      let j = 0;
      for (let i = 0; i < len; i++) {
        carry = (carry << bits | digits[i]) & 65535;
        pos += bits;
        for (; pos >= 8; pos -= 8)
          res[j++] = carry >> pos - 8 & 255;
      }
      carry = carry << 8 - pos & 255;
      if (pos >= bits)
        throw new Error("Excess padding");
      if (carry > 0)
        throw new Error(`Non-zero padding: ${carry}`);
      return res;
    }
  };
}
function alphabet(letters, aliases) {
  const len = letters.length;
  if (len > 128)
    throw new Error("alphabet: max 128 letters");
  const encTable = new Uint8Array(len);
  const decTable = new Int8Array(128).fill(-1);
  for (let i = 0; i < len; i++) {
    const code = letters.charCodeAt(i);
    if (letters.codePointAt(i) !== code || code > 127)
      throw new Error("alphabet: single-char ASCII letters only");
    encTable[i] = code;
    decTable[code] = i;
  }
  if (aliases !== void 0) {
    for (const alias of Object.keys(aliases)) {
      const code = alias.charCodeAt(0);
      const target = decTable[aliases[alias].charCodeAt(0)];
      if (alias.length !== 1 || code > 127 || target === void 0 || target === -1)
        throw new Error(`alphabet: invalid alias ${alias}`);
      decTable[code] = target;
    }
  }
  return {
    encode: (digits) => {
      const codes = new Uint8Array(digits.length);
      for (let i = 0; i < digits.length; i++) {
        const d = digits[i];
        const code = encTable[d];
        if (code === void 0)
          throw new Error(`alphabet.encode: invalid digit ${d}`);
        codes[i] = code;
      }
      return charcodesToString(codes);
    },
    decode: (input) => {
      astr("decode", input);
      const slen = input.length;
      const digits = new Uint8Array(slen);
      for (let i = 0; i < slen; i++) {
        const code = input.charCodeAt(i);
        const digit = code < 128 ? decTable[code] : -1;
        if (digit === -1)
          throw new Error(`Unknown letter "${input[i]}". Allowed: ${letters}`);
        digits[i] = digit;
      }
      return digits;
    }
  };
}
var _isWellFormedShim = (str) => {
  try {
    return encodeURI(str) !== null;
  } catch {
    return false;
  }
};
var _isWellFormed = /* @__PURE__ */ (() => (
  // Pick the native check once so utf8.decode doesn't re-probe String.prototype on every call.
  typeof "".isWellFormed === "function" ? (str) => str.isWellFormed() : _isWellFormedShim
))();
var utf8err = (i) => new TypeError(`invalid utf8 at byte ${i}`);
var utf8Fallback = /* @__PURE__ */ freeze(() => ({
  encode(data) {
    abytes3(data);
    let res = "";
    for (let i = 0; i < data.length; ) {
      const a = data[i++];
      if (a < 128) {
        res += String.fromCharCode(a);
        continue;
      }
      if (a < 194 || i >= data.length)
        throw utf8err(i - 1);
      const b = data[i++];
      if ((b & 192) !== 128)
        throw utf8err(i - 1);
      let cp = (a & 31) << 6 | b & 63;
      if (a >= 224) {
        if (i >= data.length)
          throw utf8err(i - 1);
        const c = data[i++];
        if ((c & 192) !== 128 || a === 224 && b < 160 || a === 237 && b >= 160)
          throw utf8err(i - 1);
        cp = (a & 15) << 12 | (b & 63) << 6 | c & 63;
        if (a >= 240) {
          if (i >= data.length)
            throw utf8err(i - 1);
          const d = data[i++];
          if (a > 244 || (d & 192) !== 128 || a === 240 && b < 144 || a === 244 && b >= 144)
            throw utf8err(i - 1);
          cp = (a & 7) << 18 | (b & 63) << 12 | (c & 63) << 6 | d & 63;
        }
      }
      if (cp < 65536)
        res += String.fromCharCode(cp);
      else {
        cp -= 65536;
        res += String.fromCharCode((cp >> 10) + 55296, (cp & 1023) + 56320);
      }
    }
    return res;
  },
  decode(str) {
    astr("utf8", str);
    if (!_isWellFormed(str))
      throw new TypeError("utf8 expected well-formed string");
    const res = new Uint8Array(str.length * 3);
    let pos = 0;
    for (let i = 0; i < str.length; i++) {
      let c = str.charCodeAt(i);
      if (c < 128) {
        res[pos++] = c;
        continue;
      }
      if (c >= 55296 && c <= 57343) {
        const d = str.charCodeAt(++i);
        c = 65536 + (c - 55296 << 10) + d - 56320;
      }
      if (c >= 65536) {
        res[pos++] = c >> 18 | 240;
        res[pos++] = c >> 12 & 63 | 128;
      } else if (c >= 2048)
        res[pos++] = c >> 12 | 224;
      else
        res[pos++] = c >> 6 | 192;
      if (c >= 2048)
        res[pos++] = c >> 6 & 63 | 128;
      res[pos++] = c & 63 | 128;
    }
    return res.subarray(0, pos);
  }
}));
var utf8 = /* @__PURE__ */ freeze(() => {
  let _utf8Encoder;
  let _utf8Decoder;
  const utf8Builtin = {
    // ignoreBOM preserves an explicit leading U+FEFF;
    // fatal rejects invalid UTF-8 bytes instead of replacing them.
    encode(data) {
      abytes3(data);
      return (_utf8Decoder || (_utf8Decoder = new TextDecoder("utf-8", { ignoreBOM: true, fatal: true }))).decode(data);
    },
    decode(str) {
      astr("utf8", str);
      if (!_isWellFormed(str))
        throw new TypeError("utf8 expected well-formed string");
      return (_utf8Encoder || (_utf8Encoder = new TextEncoder())).encode(str);
    }
  };
  return {
    // Select each direction once at module init, since
    // TextEncoder and TextDecoder can exist independently.
    encode: typeof TextDecoder === "function" ? utf8Builtin.encode : utf8Fallback.encode,
    decode: typeof TextEncoder === "function" ? utf8Builtin.decode : utf8Fallback.decode
  };
});
var hexFallback = /* @__PURE__ */ freeze(() => chain(
  radix2(4),
  // Case-insensitive decode via table aliases instead of a toLowerCase pass.
  alphabet("0123456789abcdef", { A: "a", B: "b", C: "c", D: "d", E: "e", F: "f" }),
  normalize((s) => {
    astr("hex", s);
    if (s.length % 2 !== 0)
      throw new TypeError(`hex.decode: odd-length string (${s.length})`);
    return s;
  })
));
var hasHexBuiltin2 = /* @__PURE__ */ (() => (
  // Require both directions before enabling the native hex path so encode/decode stay symmetric.
  typeof Uint8Array.from([]).toHex === "function" && typeof Uint8Array.fromHex === "function"
))();
var hexBuiltin = {
  // Keep local type guards so the native path preserves library-level input errors.
  // Native toHex emits lowercase hex, matching the fallback alphabet and Node's hex strings.
  encode(data) {
    abytes3(data);
    return data.toHex();
  },
  // Native fromHex accepts either hex case and rejects odd-length / non-hex syntax.
  decode(s) {
    astr("hex", s);
    return Uint8Array.fromHex(s);
  }
};
var hex = /* @__PURE__ */ freeze(() => hasHexBuiltin2 ? hexBuiltin : hexFallback);

// node_modules/micro-packed/index.js
var restrictedKeys = /* @__PURE__ */ new Set(["__proto__", "constructor", "prototype"]);
var validateFieldName = (name, label) => {
  if (typeof name !== "string")
    throw new Error(`${label} should be string, got ${typeof name}`);
  if (name.includes(".."))
    throw new TypeError(`${label} ${name} cannot contain path parent ..`);
  if (name.includes("/"))
    throw new TypeError(`${label} ${name} cannot contain path separator /`);
  if (restrictedKeys.has(name))
    throw new Error(`${label} ${name} is reserved`);
};
function equalBytes2(a, b) {
  if (a.length !== b.length)
    return false;
  for (let i = 0; i < a.length; i++)
    if (a[i] !== b[i])
      return false;
  return true;
}
function createFindBytes(needle) {
  if (needle.length === 1) {
    const byte = needle[0];
    return (data, pos = 0) => {
      const idx = data.indexOf(byte, pos);
      return idx === -1 ? void 0 : idx;
    };
  }
  const back = new Uint32Array(needle.length);
  for (let i = 1, j = 0; i < needle.length; i++) {
    while (j && needle[i] !== needle[j])
      j = back[j - 1];
    if (needle[i] === needle[j])
      back[i] = ++j;
  }
  return (data, pos = 0) => {
    for (let i = pos, j = 0; i < data.length; i++) {
      while (j && data[i] !== needle[j])
        j = back[j - 1];
      if (data[i] !== needle[j])
        continue;
      if (++j === needle.length)
        return i - needle.length + 1;
    }
    return void 0;
  };
}
var findBytes = (needle, data, pos = 0) => createFindBytes(needle)(data, pos);
function isBytes4(a) {
  return a instanceof Uint8Array || ArrayBuffer.isView(a) && a.constructor.name === "Uint8Array" && "BYTES_PER_ELEMENT" in a && a.BYTES_PER_ELEMENT === 1;
}
function concatBytes3(...arrays) {
  let sum = 0;
  for (let i = 0; i < arrays.length; i++) {
    const a = arrays[i];
    if (!isBytes4(a))
      throw new Error("Uint8Array expected");
    sum += a.length;
  }
  const res = new Uint8Array(sum);
  for (let i = 0, pad = 0; i < arrays.length; i++) {
    const a = arrays[i];
    res.set(a, pad);
    pad += a.length;
  }
  return res;
}
var createView2 = (arr2) => new DataView(arr2.buffer, arr2.byteOffset, arr2.byteLength);
var _0n7 = /* @__PURE__ */ BigInt(0);
var _1n6 = /* @__PURE__ */ BigInt(1);
var _2n5 = /* @__PURE__ */ BigInt(2);
var _8n2 = /* @__PURE__ */ BigInt(8);
var _10n = /* @__PURE__ */ BigInt(10);
var _255n = /* @__PURE__ */ BigInt(255);
function isPlainObject(obj) {
  return Object.prototype.toString.call(obj) === "[object Object]";
}
function isNum(num) {
  return Number.isSafeInteger(num);
}
var hasOwn = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);
var utils = /* @__PURE__ */ Object.freeze({
  equalBytes: equalBytes2,
  isBytes: isBytes4,
  isCoder,
  checkBounds,
  concatBytes: concatBytes3,
  createView: createView2,
  isPlainObject
});
var lengthCoder = (len) => {
  if (len !== null && typeof len !== "string" && !isCoder(len) && !isBytes4(len) && !isNum(len)) {
    throw new TypeError(`lengthCoder: expected null | number | Uint8Array | CoderType, got ${len} (${typeof len})`);
  }
  if (typeof len === "number" && len < 0)
    throw new Error(`lengthCoder: wrong length=${len}`);
  if (isBytes4(len) && !len.length)
    throw new Error("lengthCoder: empty terminator");
  return {
    encodeStream(w, value) {
      if (len === null)
        return;
      if (isCoder(len))
        return len.encodeStream(w, value);
      let byteLen;
      if (typeof len === "number")
        byteLen = len;
      else if (typeof len === "string")
        byteLen = Path.resolve(w.stack, len);
      if (typeof byteLen === "bigint")
        byteLen = Number(byteLen);
      if (!isNum(byteLen) || byteLen < 0 || byteLen !== value)
        throw w.err(`Wrong length: ${byteLen} len=${len} exp=${value} (${typeof value})`);
    },
    decodeStream(r) {
      let byteLen;
      if (isCoder(len))
        byteLen = len.decodeStream(r);
      else if (typeof len === "number")
        byteLen = len;
      else if (typeof len === "string")
        byteLen = Path.resolve(r.stack, len);
      if (typeof byteLen === "bigint")
        byteLen = Number(byteLen);
      else if (typeof byteLen !== "number")
        throw r.err(`Wrong length: ${byteLen}`);
      if (!isNum(byteLen) || byteLen < 0)
        throw r.err(`Wrong length: ${byteLen}`);
      return byteLen;
    }
  };
};
var Bitset = /* @__PURE__ */ Object.freeze({
  BITS: 32,
  FULL_MASK: -1 >>> 0,
  // 1<<32 will overflow
  len: (len) => {
    if (!isNum(len) || len < 0)
      throw new Error(`wrong len=${len}`);
    return Math.ceil(len / 32);
  },
  create: (len) => new Uint32Array(Bitset.len(len)),
  clean: (bs) => bs.fill(0),
  debug: (bs) => Array.from(bs).map((i) => (i >>> 0).toString(2).padStart(32, "0")),
  checkLen: (bs, len) => {
    if (Bitset.len(len) === bs.length)
      return;
    throw new Error(`wrong length=${bs.length}. Expected: ${Bitset.len(len)}`);
  },
  chunkLen: (bsLen, pos, len) => {
    if (!isNum(bsLen) || bsLen < 0)
      throw new Error(`wrong bsLen=${bsLen}`);
    if (!isNum(pos) || pos < 0)
      throw new Error(`wrong pos=${pos}`);
    if (!isNum(len) || len < 0)
      throw new Error(`wrong len=${len}`);
    if (pos > bsLen - len)
      throw new Error(`wrong range=${pos}/${len} of ${bsLen}`);
  },
  set: (bs, chunk, value, allowRewrite = true) => {
    if (!isNum(chunk) || chunk < 0 || chunk >= bs.length)
      return false;
    if (!allowRewrite && (bs[chunk] & value) !== 0)
      return false;
    bs[chunk] |= value;
    return true;
  },
  pos: (pos, i) => ({
    chunk: Math.floor((pos + i) / 32),
    mask: 1 << 32 - (pos + i) % 32 - 1
  }),
  indices: (bs, len, invert2 = false) => {
    Bitset.checkLen(bs, len);
    const { FULL_MASK, BITS } = Bitset;
    const left = BITS - len % BITS;
    const lastMask = left ? FULL_MASK >>> left << left : FULL_MASK;
    const res = [];
    for (let i = 0; i < bs.length; i++) {
      let c = bs[i];
      if (invert2)
        c = ~c;
      if (i === bs.length - 1)
        c &= lastMask;
      if (c === 0)
        continue;
      for (let j = 0; j < BITS; j++) {
        const m = 1 << BITS - j - 1;
        if (c & m)
          res.push(i * BITS + j);
      }
    }
    return res;
  },
  range: (arr2) => {
    const res = [];
    let cur;
    for (const i of arr2) {
      if (cur === void 0 || i !== cur.pos + cur.length)
        res.push(cur = { pos: i, length: 1 });
      else
        cur.length += 1;
    }
    return res;
  },
  rangeDebug: (bs, len, invert2 = false) => `[${Bitset.range(Bitset.indices(bs, len, invert2)).map((i) => `(${i.pos}/${i.length})`).join(", ")}]`,
  setRange: (bs, bsLen, pos, len, allowRewrite = true) => {
    Bitset.chunkLen(bsLen, pos, len);
    if (len === 0)
      return true;
    const { FULL_MASK, BITS } = Bitset;
    const first = pos % BITS ? Math.floor(pos / BITS) : void 0;
    const lastPos = pos + len;
    const last = lastPos % BITS ? Math.floor(lastPos / BITS) : void 0;
    const canSet = (chunk, value) => chunk >= 0 && chunk < bs.length && (bs[chunk] & value) === 0;
    if (!allowRewrite) {
      if (first !== void 0 && first === last) {
        if (!canSet(first, FULL_MASK >>> BITS - len << BITS - len - pos))
          return false;
      } else {
        if (first !== void 0 && !canSet(first, FULL_MASK >>> pos % BITS))
          return false;
        const start2 = first !== void 0 ? first + 1 : pos / BITS;
        const end2 = last !== void 0 ? last : lastPos / BITS;
        for (let i = start2; i < end2; i++)
          if (!canSet(i, FULL_MASK))
            return false;
        if (last !== void 0 && first !== last) {
          if (!canSet(last, FULL_MASK << BITS - lastPos % BITS))
            return false;
        }
      }
    }
    if (first !== void 0 && first === last)
      return Bitset.set(bs, first, FULL_MASK >>> BITS - len << BITS - len - pos, allowRewrite);
    if (first !== void 0) {
      if (!Bitset.set(bs, first, FULL_MASK >>> pos % BITS, allowRewrite))
        return false;
    }
    const start = first !== void 0 ? first + 1 : pos / BITS;
    const end = last !== void 0 ? last : lastPos / BITS;
    for (let i = start; i < end; i++)
      if (!Bitset.set(bs, i, FULL_MASK, allowRewrite))
        return false;
    if (last !== void 0 && first !== last) {
      if (!Bitset.set(bs, last, FULL_MASK << BITS - lastPos % BITS, allowRewrite))
        return false;
    }
    return true;
  }
});
var Path = /* @__PURE__ */ Object.freeze({
  /**
   * Internal method for handling stack of paths (debug, errors, dynamic fields via path)
   * `.pop()` always happens after the wrapped function.
   * Fields inside the object are tracked via Reader/Writer enterField()/exitField(),
   * which the debugger overrides to observe per-field byte ranges.
   * NOTE: we don't want to do '.pop' on error!
   */
  pushObj: (stack, obj, objFn) => {
    stack.push({ obj });
    objFn();
    stack.pop();
  },
  path: (stack) => {
    const res = [];
    for (const i of stack)
      if (i.field !== void 0)
        res.push(i.field === "" ? '""' : `${i.field}`);
    return res.join("/");
  },
  err: (name, stack, msg) => {
    const text = `${name}(${Path.path(stack)}): ${typeof msg === "string" ? msg : msg.message}`;
    const err = msg instanceof TypeError ? new TypeError(text) : msg instanceof RangeError ? new RangeError(text) : new Error(text);
    if (msg instanceof Error && msg.stack) {
      const from = `${msg.name}: ${msg.message}`;
      const to = `${err.name}: ${err.message}`;
      err.stack = msg.stack.startsWith(from) ? `${to}${msg.stack.slice(from.length)}` : msg.stack;
    }
    return err;
  },
  resolve: (stack, path) => {
    const parts = path.split("/");
    const objPath = stack.map((i2) => i2.obj);
    let i = 0;
    for (; i < parts.length; i++) {
      if (parts[i] === "..")
        objPath.pop();
      else
        break;
    }
    let cur = objPath.pop();
    for (; i < parts.length; i++) {
      if (!cur || cur[parts[i]] === void 0)
        return void 0;
      cur = cur[parts[i]];
    }
    return cur;
  }
});
var _Reader = class __Reader {
  constructor(data, opts = {}, stack = [], parent = void 0, parentOffset = 0) {
    __publicField(this, "pos", 0);
    __publicField(this, "data");
    __publicField(this, "opts");
    __publicField(this, "stack");
    __publicField(this, "parent");
    __publicField(this, "parentOffset");
    __publicField(this, "bitBuf", 0);
    __publicField(this, "bitPos", 0);
    __publicField(this, "bs");
    // bitset
    __publicField(this, "view");
    if (!isBytes4(data))
      throw new TypeError(`Reader: expected Uint8Array, got ${typeof data}`);
    if (!isPlainObject(opts))
      throw new TypeError(`ReaderOpts: expected plain object, got ${opts}`);
    if (opts.allowUnreadBytes !== void 0 && typeof opts.allowUnreadBytes !== "boolean")
      throw new TypeError(`ReaderOpts.allowUnreadBytes: expected boolean, got ${typeof opts.allowUnreadBytes}`);
    if (opts.allowMultipleReads !== void 0 && typeof opts.allowMultipleReads !== "boolean")
      throw new TypeError(`ReaderOpts.allowMultipleReads: expected boolean, got ${typeof opts.allowMultipleReads}`);
    this.data = data;
    this.opts = opts;
    this.stack = stack;
    this.parent = parent;
    this.parentOffset = parentOffset;
    this.view = createView2(data);
  }
  /** Internal method for pointers. */
  _enablePointers() {
    if (this.parent)
      return this.parent._enablePointers();
    if (this.bs)
      return;
    this.bs = Bitset.create(this.data.length);
    Bitset.setRange(this.bs, this.data.length, 0, this.pos, this.opts.allowMultipleReads);
  }
  markBytesBS(pos, len) {
    if (this.parent)
      return this.parent.markBytesBS(this.parentOffset + pos, len);
    if (!len)
      return true;
    if (!this.bs)
      return true;
    return Bitset.setRange(this.bs, this.data.length, pos, len, false);
  }
  markBytes(len) {
    const pos = this.pos;
    const res = this.markBytesBS(pos, len);
    if (!this.opts.allowMultipleReads && !res)
      throw this.err(`multiple read pos=${pos} len=${len}`);
    this.pos += len;
    return res;
  }
  pushObj(obj, objFn) {
    return Path.pushObj(this.stack, obj, objFn);
  }
  enterField(field) {
    const last = this.stack[this.stack.length - 1];
    if (last === void 0 || last.field !== void 0)
      throw this.err(`enterField: invalid stack state, field=${field}`);
    last.field = field;
  }
  // Intentionally not called on throw, so Path.err() can report the failing leaf.
  exitField() {
    this.stack[this.stack.length - 1].field = void 0;
  }
  readView(n, fn) {
    if (!isNum(n) || n < 0)
      throw this.err(`readView: wrong length=${n}`);
    if (this.pos + n > this.data.length)
      throw this.err("readView: Unexpected end of buffer");
    const res = fn(this.view, this.pos);
    this.markBytes(n);
    return res;
  }
  // read bytes by absolute offset
  absBytes(n) {
    if (!isNum(n) || n < 0 || n > this.data.length)
      throw new Error("Unexpected end of buffer");
    return this.data.subarray(n);
  }
  finish() {
    if (this.opts.allowUnreadBytes)
      return;
    if (this.bitPos) {
      throw this.err(`${this.bitPos} bits left after unpack: ${hex.encode(this.data.subarray(this.pos))}`);
    }
    if (this.bs && !this.parent) {
      const notRead = Bitset.indices(this.bs, this.data.length, true);
      if (notRead.length) {
        const formatted = Bitset.range(notRead).map(({ pos, length }) => `(${pos}/${length})[${hex.encode(this.data.subarray(pos, pos + length))}]`).join(", ");
        throw this.err(`unread byte ranges: ${formatted} (total=${this.data.length})`);
      } else
        return;
    }
    if (!this.isEnd()) {
      throw this.err(`${this.leftBytes} bytes ${this.bitPos} bits left after unpack: ${hex.encode(this.data.subarray(this.pos))}`);
    }
  }
  // User methods
  err(msg) {
    return Path.err("Reader", this.stack, msg);
  }
  offsetReader(n) {
    if (!isNum(n) || n < 0 || n > this.data.length)
      throw this.err("offsetReader: Unexpected end of buffer");
    return new __Reader(this.absBytes(n), this.opts, this.stack, this, n);
  }
  bytes(n, peek = false) {
    if (this.bitPos)
      throw this.err("readBytes: bitPos not empty");
    if (!isNum(n) || n < 0)
      throw this.err(`readBytes: wrong length=${n}`);
    if (this.pos + n > this.data.length)
      throw this.err("readBytes: Unexpected end of buffer");
    const slice = this.data.subarray(this.pos, this.pos + n);
    if (!peek)
      this.markBytes(n);
    return slice;
  }
  byte(peek = false) {
    if (this.bitPos)
      throw this.err("readByte: bitPos not empty");
    if (this.pos + 1 > this.data.length)
      throw this.err("readByte: Unexpected end of buffer");
    const data = this.data[this.pos];
    if (!peek)
      this.markBytes(1);
    return data;
  }
  get leftBytes() {
    return this.data.length - this.pos;
  }
  get totalBytes() {
    return this.data.length;
  }
  isEnd() {
    return this.pos >= this.data.length && !this.bitPos;
  }
  progress() {
    return this.pos * 8 - this.bitPos;
  }
  // bits are read in BE mode (left to right): (0b1000_0000).readBits(1) == 1
  bits(bits) {
    if (!isNum(bits) || bits < 0)
      throw this.err(`BitReader: wrong length=${bits}`);
    if (bits > 32)
      throw this.err("BitReader: cannot read more than 32 bits in single call");
    let out = 0;
    while (bits) {
      if (!this.bitPos) {
        this.bitBuf = this.byte();
        this.bitPos = 8;
      }
      const take = Math.min(bits, this.bitPos);
      this.bitPos -= take;
      out = out << take | this.bitBuf >> this.bitPos & 2 ** take - 1;
      this.bitBuf &= 2 ** this.bitPos - 1;
      bits -= take;
    }
    return out >>> 0;
  }
  find(needle, pos = this.pos) {
    if (!isBytes4(needle))
      throw this.err(`find: needle is not bytes! ${needle}`);
    if (this.bitPos)
      throw this.err("find: bitPos not empty");
    if (!needle.length)
      throw this.err(`find: needle is empty`);
    if (!isNum(pos) || pos < 0)
      throw this.err(`find: wrong pos=${pos}`);
    return findBytes(needle, this.data, pos);
  }
};
var _Writer = class {
  constructor(stack = []) {
    __publicField(this, "pos", 0);
    __publicField(this, "stack");
    // Small writes are carved out of writer-owned chunks; caller-provided bytes() buffers are kept
    // by reference between them. A single realloc'd buffer was measured slower for tiny encodes
    // (basic/encode bench: 395ns -> 560ns), copy-on-grow is what chunking avoids.
    __publicField(this, "buffers", []);
    // Every chunk ever allocated by this writer, so finish(clean) can zeroize them whole.
    __publicField(this, "chunks", []);
    __publicField(this, "chunk");
    __publicField(this, "chunkView");
    // lazy: only writeView() needs it
    __publicField(this, "chunkPos", 0);
    __publicField(this, "run");
    __publicField(this, "nextChunkSize", 0);
    // 0 = size the first chunk to the first write
    __publicField(this, "ptrs", []);
    __publicField(this, "bitBuf", 0);
    __publicField(this, "bitPos", 0);
    __publicField(this, "finished", false);
    this.stack = stack;
  }
  // Reserves `len` contiguous writer-owned bytes and returns their offset inside `this.chunk`.
  carve(len) {
    if (this.chunk === void 0 || this.chunk.length - this.chunkPos < len) {
      const size = Math.max(len, this.nextChunkSize, 64);
      this.nextChunkSize = Math.min(size * 8, 4096);
      this.chunk = new Uint8Array(size);
      this.chunkView = void 0;
      this.chunkPos = 0;
      this.run = void 0;
      this.chunks.push(this.chunk);
    }
    const pos = this.chunkPos;
    if (this.run === void 0) {
      this.run = { chunk: this.chunk, start: pos, end: pos + len };
      this.buffers.push(this.run);
    } else
      this.run.end += len;
    this.chunkPos = pos + len;
    this.pos += len;
    return pos;
  }
  pushObj(obj, objFn) {
    return Path.pushObj(this.stack, obj, objFn);
  }
  enterField(field) {
    const last = this.stack[this.stack.length - 1];
    if (last === void 0 || last.field !== void 0)
      throw this.err(`enterField: invalid stack state, field=${field}`);
    last.field = field;
  }
  // Intentionally not called on throw, so Path.err() can report the failing leaf.
  exitField() {
    this.stack[this.stack.length - 1].field = void 0;
  }
  writeView(len, fn) {
    if (this.finished)
      throw this.err("buffer: finished");
    if (!isNum(len) || len < 0 || len > 8)
      throw new Error(`wrong writeView length=${len}`);
    if (this.bitPos)
      throw this.err("writeBytes: ends with non-empty bit buffer");
    const pos = this.carve(len);
    if (this.chunkView === void 0)
      this.chunkView = createView2(this.chunk);
    fn(this.chunkView, pos);
  }
  // User methods
  err(msg) {
    return Path.err("Writer", this.stack, msg);
  }
  bytes(b) {
    if (this.finished)
      throw this.err("buffer: finished");
    if (this.bitPos)
      throw this.err("writeBytes: ends with non-empty bit buffer");
    if (!isBytes4(b))
      throw this.err(`writeBytes: expected Uint8Array, got ${typeof b}`);
    this.buffers.push(b);
    this.run = void 0;
    this.pos += b.length;
  }
  byte(b) {
    if (this.finished)
      throw this.err("buffer: finished");
    if (this.bitPos)
      throw this.err("writeByte: ends with non-empty bit buffer");
    if (!isNum(b) || b < 0 || b > 255)
      throw this.err(`writeByte: wrong value=${b}`);
    const pos = this.carve(1);
    this.chunk[pos] = b;
  }
  finish(clean2 = true) {
    if (this.finished)
      throw this.err("buffer: finished");
    if (this.bitPos)
      throw this.err("buffer: ends with non-empty bit buffer");
    const buffers = this.buffers;
    let sum = 0;
    for (let i = 0; i < buffers.length; i++) {
      const b = buffers[i];
      sum += isBytes4(b) ? b.length : b.end - b.start;
    }
    for (let i = 0; i < this.ptrs.length; i++)
      sum += this.ptrs[i].buffer.length;
    const buf = new Uint8Array(sum);
    let pad = 0;
    for (let i = 0; i < buffers.length; i++) {
      const b = buffers[i];
      if (isBytes4(b)) {
        buf.set(b, pad);
        pad += b.length;
      } else {
        buf.set(b.chunk.subarray(b.start, b.end), pad);
        pad += b.end - b.start;
      }
    }
    for (let i = 0; i < this.ptrs.length; i++) {
      buf.set(this.ptrs[i].buffer, pad);
      pad += this.ptrs[i].buffer.length;
    }
    for (let pos = this.pos, i = 0; i < this.ptrs.length; i++) {
      const ptr = this.ptrs[i];
      buf.set(ptr.ptr.encode(pos), ptr.pos);
      pos += ptr.buffer.length;
    }
    if (clean2) {
      for (const c of this.chunks)
        c.fill(0);
      this.chunks = [];
      this.chunk = void 0;
      this.chunkView = void 0;
      this.chunkPos = 0;
      this.run = void 0;
      this.buffers = [];
      for (const p of this.ptrs)
        p.buffer.fill(0);
      this.ptrs = [];
      this.finished = true;
      this.bitBuf = 0;
    }
    return buf;
  }
  bits(value, bits) {
    if (this.finished)
      throw this.err("buffer: finished");
    if (!isNum(bits) || bits < 0)
      throw this.err(`writeBits: wrong length=${bits}`);
    if (bits > 32)
      throw this.err("writeBits: cannot write more than 32 bits in single call");
    if (!isNum(value) || value < 0)
      throw this.err(`writeBits: wrong value=${value}`);
    if (value >= 2 ** bits)
      throw this.err(`writeBits: value (${value}) >= 2**bits (${bits})`);
    while (bits) {
      const take = Math.min(bits, 8 - this.bitPos);
      this.bitBuf = this.bitBuf << take | value >> bits - take;
      this.bitPos += take;
      bits -= take;
      value &= 2 ** bits - 1;
      if (this.bitPos === 8) {
        this.bitPos = 0;
        const pos = this.carve(1);
        this.chunk[pos] = this.bitBuf;
      }
    }
  }
};
var swapEndianness = (b) => Uint8Array.from(b).reverse();
function checkMinimalBigintBytes(value, le, signed, err) {
  if (!value.length)
    return;
  const b = le ? swapEndianness(value) : value;
  const fail = () => {
    throw err("bigint: non-minimal encoding");
  };
  if (!signed) {
    if (b[0] === 0)
      fail();
    return;
  }
  if (b[0] === 0 && (b.length === 1 || (b[1] & 128) === 0))
    fail();
  if (b.length > 1 && b[0] === 255 && (b[1] & 128) !== 0)
    fail();
}
function checkBounds(value, bits, signed) {
  if (signed) {
    if (bits <= _0n7)
      throw new Error(`checkBounds: signed bits must be positive, got ${bits}`);
    const signBit = _2n5 ** (bits - _1n6);
    if (value < -signBit || value >= signBit)
      throw new Error(`value out of signed bounds. Expected ${-signBit} <= ${value} < ${signBit}`);
  } else {
    const max = _2n5 ** bits;
    if (_0n7 > value || value >= max)
      throw new Error(`value out of unsigned bounds. Expected 0 <= ${value} < ${max}`);
  }
}
function _wrap(inner) {
  const _inner = inner;
  return {
    // NOTE: we cannot export validate here, since it is likely mistake.
    // Raw inner throws propagate unchanged; path-aware errors must use w.err/r.err or validate().
    encodeStream: _inner.encodeStream,
    decodeStream: _inner.decodeStream,
    size: _inner.size,
    encode: (value) => {
      const w = new _Writer();
      _inner.encodeStream(w, value);
      return w.finish();
    },
    decode: (data, opts = {}) => {
      if (!isBytes4(data))
        throw new TypeError(`decode: expected Uint8Array, got ${typeof data}`);
      const r = new _Reader(data, opts);
      const res = _inner.decodeStream(r);
      r.finish();
      return res;
    }
  };
}
function validate(inner, fn) {
  if (!isCoder(inner))
    throw new TypeError(`validate: invalid inner value ${inner}`);
  if (typeof fn !== "function")
    throw new TypeError("validate: fn should be function");
  return _wrap({
    size: inner.size,
    encodeStream: (w, value) => {
      let res;
      try {
        res = fn(value);
      } catch (e) {
        throw w.err(e);
      }
      inner.encodeStream(w, res);
    },
    decodeStream: (r) => {
      const res = inner.decodeStream(r);
      try {
        return fn(res);
      } catch (e) {
        throw r.err(e);
      }
    }
  });
}
var wrap = (inner) => {
  const _inner = inner;
  if (!isPlainObject(_inner))
    throw new TypeError(`wrap: invalid inner value ${_inner}`);
  if (typeof _inner.encodeStream !== "function")
    throw new TypeError("wrap: encodeStream should be function");
  if (typeof _inner.decodeStream !== "function")
    throw new TypeError("wrap: decodeStream should be function");
  if (_inner.size !== void 0 && (!isNum(_inner.size) || _inner.size < 0))
    throw new TypeError(`wrap: invalid size ${_inner.size}`);
  if (_inner.validate !== void 0 && typeof _inner.validate !== "function")
    throw new TypeError("wrap: validate should be function");
  const res = _wrap(_inner);
  return _inner.validate !== void 0 ? validate(res, _inner.validate) : res;
};
var isBaseCoder = (elm) => isPlainObject(elm) && typeof elm.decode === "function" && typeof elm.encode === "function";
function isCoder(elm) {
  return isPlainObject(elm) && isBaseCoder(elm) && typeof elm.encodeStream === "function" && typeof elm.decodeStream === "function" && (elm.size === void 0 || isNum(elm.size) && elm.size >= 0);
}
function dict() {
  return {
    encode: (from) => {
      if (!Array.isArray(from))
        throw new Error("array expected");
      const to = {};
      const seen = /* @__PURE__ */ new Set();
      for (const item of from) {
        if (!Array.isArray(item) || item.length !== 2)
          throw new Error(`array of two elements expected`);
        const name = item[0];
        const value = item[1];
        validateFieldName(name, "dict: key");
        if (seen.has(name))
          throw new Error(`key(${name}) appears twice in struct`);
        seen.add(name);
        to[name] = value;
      }
      return to;
    },
    decode: (to) => {
      if (!isPlainObject(to))
        throw new Error(`expected plain object, got ${to}`);
      for (const name in to)
        validateFieldName(name, "dict: key");
      return Object.entries(to);
    }
  };
}
var numberBigint = /* @__PURE__ */ Object.freeze({
  encode: (from) => {
    if (typeof from !== "bigint")
      throw new Error(`expected bigint, got ${typeof from}`);
    if (from > BigInt(Number.MAX_SAFE_INTEGER))
      throw new Error(`element bigger than MAX_SAFE_INTEGER=${from}`);
    if (from < BigInt(Number.MIN_SAFE_INTEGER))
      throw new Error(`element smaller than MIN_SAFE_INTEGER=${from}`);
    return Number(from);
  },
  decode: (to) => {
    if (!isNum(to))
      throw new Error("element is not a safe integer");
    return BigInt(to);
  }
});
function tsEnum(e) {
  if (!isPlainObject(e))
    throw new Error("plain object expected");
  return {
    encode: (from) => {
      if (!isNum(from) || !(from in e))
        throw new Error(`wrong value ${from}`);
      return e[from];
    },
    decode: (to) => {
      if (typeof to !== "string")
        throw new Error(`wrong value ${typeof to}`);
      const value = e[to];
      if (!hasOwn(e, to) || !isNum(value))
        throw new Error(`wrong value ${to}`);
      return value;
    }
  };
}
function decimal(precision, round = false) {
  if (!isNum(precision) || precision < 0)
    throw new Error(`decimal/precision: wrong value ${precision}`);
  if (typeof round !== "boolean")
    throw new Error(`decimal/round: expected boolean, got ${typeof round}`);
  const decimalMask = _10n ** BigInt(precision);
  return {
    encode: (from) => {
      if (typeof from !== "bigint")
        throw new Error(`expected bigint, got ${typeof from}`);
      let s = (from < _0n7 ? -from : from).toString(10);
      let sep = s.length - precision;
      if (sep < 0) {
        s = s.padStart(s.length - sep, "0");
        sep = 0;
      }
      let i = s.length - 1;
      for (; i >= sep && s[i] === "0"; i--)
        ;
      let int2 = s.slice(0, sep);
      let frac = s.slice(sep, i + 1);
      if (!int2)
        int2 = "0";
      if (from < _0n7)
        int2 = "-" + int2;
      if (!frac)
        return int2;
      return `${int2}.${frac}`;
    },
    decode: (to) => {
      if (typeof to !== "string")
        throw new Error(`expected string, got ${typeof to}`);
      let neg = false;
      if (to.startsWith("-")) {
        neg = true;
        to = to.slice(1);
      }
      if (!/^(0|[1-9]\d*)(\.\d+)?$/.test(to))
        throw new Error(`wrong string value=${to}`);
      let sep = to.indexOf(".");
      sep = sep === -1 ? to.length : sep;
      const intS = to.slice(0, sep);
      const fracS = to.slice(sep + 1).replace(/0+$/, "");
      const int2 = BigInt(intS) * decimalMask;
      if (!round && fracS.length > precision) {
        throw new Error(`fractional part cannot be represented with this precision (num=${to}, prec=${precision})`);
      }
      const fracLen = Math.min(fracS.length, precision);
      const frac = BigInt(fracS.slice(0, fracLen)) * _10n ** BigInt(precision - fracLen);
      const value = int2 + frac;
      if (neg && value === _0n7)
        throw new Error(`negative zero is not allowed`);
      return neg ? -value : value;
    }
  };
}
function match(lst) {
  if (!Array.isArray(lst))
    throw new Error(`expected array, got ${typeof lst}`);
  for (const i of lst)
    if (!isBaseCoder(i))
      throw new Error(`wrong base coder ${i}`);
  return {
    encode: (from) => {
      for (const c of lst) {
        let elm;
        try {
          elm = c.encode(from);
        } catch {
          continue;
        }
        if (elm !== void 0)
          return elm;
      }
      throw new Error(`match/encode: cannot find match in ${from}`);
    },
    decode: (to) => {
      for (const c of lst) {
        let elm;
        try {
          elm = c.decode(to);
        } catch {
          continue;
        }
        if (elm !== void 0)
          return elm;
      }
      throw new Error(`match/decode: cannot find match in ${to}`);
    }
  };
}
var reverse = (coder) => {
  if (!isBaseCoder(coder))
    throw new Error("BaseCoder expected");
  return { encode: (to) => coder.decode(to), decode: (from) => coder.encode(from) };
};
var coders = /* @__PURE__ */ Object.freeze({ dict, numberBigint, tsEnum, decimal, match, reverse });
var bigint = (size, le = false, signed = false, sized = true, minimal = false) => {
  if (!isNum(size) || size <= 0)
    throw new Error(`bigint/size: wrong value ${size}`);
  if (typeof le !== "boolean")
    throw new Error(`bigint/le: expected boolean, got ${typeof le}`);
  if (typeof signed !== "boolean")
    throw new Error(`bigint/signed: expected boolean, got ${typeof signed}`);
  if (typeof sized !== "boolean")
    throw new Error(`bigint/sized: expected boolean, got ${typeof sized}`);
  if (typeof minimal !== "boolean")
    throw new Error(`bigint/minimal: expected boolean, got ${typeof minimal}`);
  const bLen = BigInt(size);
  const signBit = _2n5 ** (_8n2 * bLen - _1n6);
  return wrap({
    size: sized ? size : void 0,
    encodeStream: (w, value) => {
      const zero = value === _0n7;
      if (signed && value < 0)
        value = value | signBit;
      let res = new Uint8Array(size);
      for (let i = size - 1; i >= 0; i--) {
        res[i] = Number(value & _255n);
        value >>= _8n2;
      }
      if (!sized) {
        let pos = 0;
        if (signed) {
          for (; pos < res.length - 1; pos++) {
            const next = res[pos + 1];
            if (res[pos] === 0 && (next & 128) === 0)
              continue;
            if (res[pos] === 255 && (next & 128) !== 0)
              continue;
            break;
          }
          res = zero ? res.subarray(res.length) : res.subarray(pos);
        } else {
          for (; pos < res.length; pos++)
            if (res[pos] !== 0)
              break;
          res = res.subarray(pos);
        }
      }
      w.bytes(le ? res.reverse() : res);
    },
    decodeStream: (r) => {
      const value = r.bytes(sized ? size : Math.min(size, r.leftBytes));
      if (!sized && minimal)
        checkMinimalBigintBytes(value, le, signed, (msg) => r.err(msg));
      let res = _0n7;
      if (le)
        for (let i = value.length - 1; i >= 0; i--)
          res = res << _8n2 | BigInt(value[i]);
      else
        for (let i = 0; i < value.length; i++)
          res = res << _8n2 | BigInt(value[i]);
      const sBit = sized || !value.length ? signBit : _2n5 ** (_8n2 * BigInt(value.length) - _1n6);
      if (signed && res & sBit)
        res = (res ^ sBit) - sBit;
      return res;
    },
    validate: (value) => {
      if (typeof value !== "bigint")
        throw new Error(`bigint: invalid value: ${value}`);
      checkBounds(value, _8n2 * bLen, !!signed);
      return value;
    }
  });
};
var U256BE = /* @__PURE__ */ Object.freeze(
  /* @__PURE__ */ bigint(32, false)
);
var int = (size, le = false, signed = false, sized = true, minimal = false) => {
  if (!isNum(size) || size <= 0)
    throw new Error(`int/size: wrong value ${size}`);
  if (typeof le !== "boolean")
    throw new Error(`int/le: expected boolean, got ${typeof le}`);
  if (typeof signed !== "boolean")
    throw new Error(`int/signed: expected boolean, got ${typeof signed}`);
  if (typeof sized !== "boolean")
    throw new Error(`int/sized: expected boolean, got ${typeof sized}`);
  if (typeof minimal !== "boolean")
    throw new Error(`int/minimal: expected boolean, got ${typeof minimal}`);
  if (size > 6)
    throw new Error("int supports size up to 6 bytes (48 bits): use bigints instead");
  return apply(bigint(size, le, signed, sized, minimal), coders.numberBigint);
};
var bool = /* @__PURE__ */ Object.freeze(
  /* @__PURE__ */ wrap({
    size: 1,
    encodeStream: (w, value) => w.byte(value ? 1 : 0),
    decodeStream: (r) => {
      const value = r.byte();
      if (value !== 0 && value !== 1)
        throw r.err(`bool: invalid value ${value}`);
      return value === 1;
    },
    validate: (value) => {
      if (typeof value !== "boolean")
        throw new TypeError(`bool: invalid value ${value}`);
      return value;
    }
  })
);
var createBytes = (len, le = false) => {
  if (typeof le !== "boolean")
    throw new TypeError(`bytes/le: expected boolean, got ${typeof le}`);
  const _length = lengthCoder(len);
  const _isb = isBytes4(len);
  const terminator = _isb ? Uint8Array.from(len) : void 0;
  const findTerminator = terminator && terminator.length ? createFindBytes(terminator) : void 0;
  return wrap({
    size: typeof len === "number" ? len : void 0,
    encodeStream: (w, value) => {
      if (!_isb)
        _length.encodeStream(w, value.length);
      w.bytes(le ? swapEndianness(value) : value);
      if (terminator)
        w.bytes(terminator);
    },
    decodeStream: (r) => {
      let bytes;
      if (terminator) {
        const tPos = r.find(terminator);
        if (tPos === void 0)
          throw r.err(`bytes: cannot find terminator`);
        bytes = r.bytes(tPos - r.pos);
        r.bytes(terminator.length);
      } else {
        bytes = r.bytes(len === null ? r.leftBytes : _length.decodeStream(r));
      }
      return le ? swapEndianness(bytes) : bytes;
    },
    validate: (value) => {
      if (!isBytes4(value))
        throw new TypeError(`bytes: invalid value ${value}`);
      if (findTerminator) {
        const data = le ? swapEndianness(value) : value;
        if (findTerminator(data) !== void 0)
          throw new Error("bytes: value contains terminator");
      }
      return value;
    }
  });
};
var string = (len, le = false) => validate(apply(createBytes(len, le), utf8), (value) => {
  if (typeof value !== "string")
    throw new Error(`expected string, got ${typeof value}`);
  return value;
});
var createHex = (len, options = { isLE: false, with0x: false }) => {
  const isLE2 = options.isLE === void 0 ? false : options.isLE;
  const prefix = options.with0x === void 0 ? false : options.with0x;
  if (typeof isLE2 !== "boolean")
    throw new Error(`hex/isLE: expected boolean, got ${typeof isLE2}`);
  if (typeof prefix !== "boolean")
    throw new Error(`hex/with0x: expected boolean, got ${typeof prefix}`);
  let inner = apply(createBytes(len, isLE2), hex);
  if (prefix) {
    inner = apply(inner, {
      encode: (value) => `0x${value}`,
      decode: (value) => {
        if (!value.startsWith("0x"))
          throw new Error("hex(with0x=true).encode input should start with 0x");
        return value.slice(2);
      }
    });
  }
  return inner;
};
function apply(inner, base) {
  if (!isCoder(inner))
    throw new TypeError(`apply: invalid inner value ${inner}`);
  if (!isBaseCoder(base))
    throw new TypeError(`apply: invalid base value ${base}`);
  return wrap({
    size: inner.size,
    encodeStream: (w, value) => {
      let innerValue;
      try {
        innerValue = base.decode(value);
      } catch (e) {
        throw w.err("" + e);
      }
      return inner.encodeStream(w, innerValue);
    },
    decodeStream: (r) => {
      const innerValue = inner.decodeStream(r);
      try {
        return base.encode(innerValue);
      } catch (e) {
        throw r.err("" + e);
      }
    }
  });
}
function sizeof(fields) {
  let size = 0;
  for (const f of fields) {
    if (f.size === void 0)
      return;
    if (!isNum(f.size))
      throw new Error(`sizeof: wrong element size=${f.size}`);
    size += f.size;
  }
  return size;
}
function struct(fields) {
  if (!isPlainObject(fields))
    throw new TypeError(`struct: expected plain object, got ${fields}`);
  const coders3 = [];
  for (const name in fields) {
    validateFieldName(name, "struct: field");
    if (!isCoder(fields[name]))
      throw new TypeError(`struct: field ${name} is not CoderType`);
    coders3.push(fields[name]);
  }
  return wrap({
    size: sizeof(coders3),
    encodeStream: (w, value) => {
      const _w = w;
      _w.pushObj(value, () => {
        for (const name in fields) {
          _w.enterField(name);
          fields[name].encodeStream(w, value[name]);
          _w.exitField();
        }
      });
    },
    decodeStream: (r) => {
      const res = {};
      const _r = r;
      _r.pushObj(res, () => {
        for (const name in fields) {
          _r.enterField(name);
          res[name] = fields[name].decodeStream(r);
          _r.exitField();
        }
      });
      return res;
    },
    validate: (value) => {
      if (typeof value !== "object" || value === null)
        throw new Error(`struct: invalid value ${value}`);
      return value;
    }
  });
}
function tuple(fields) {
  if (!Array.isArray(fields))
    throw new TypeError(`Packed.Tuple: got ${typeof fields} instead of array`);
  for (let i = 0; i < fields.length; i++) {
    if (!isCoder(fields[i]))
      throw new TypeError(`tuple: field ${i} is not CoderType`);
  }
  return wrap({
    size: sizeof(fields),
    encodeStream: (w, value) => {
      if (!Array.isArray(value))
        throw w.err(`tuple: invalid value ${value}`);
      const _w = w;
      _w.pushObj(value, () => {
        for (let i = 0; i < fields.length; i++) {
          _w.enterField(i);
          fields[i].encodeStream(w, value[i]);
          _w.exitField();
        }
      });
    },
    decodeStream: (r) => {
      const res = [];
      const _r = r;
      _r.pushObj(res, () => {
        for (let i = 0; i < fields.length; i++) {
          _r.enterField(i);
          res.push(fields[i].decodeStream(r));
          _r.exitField();
        }
      });
      return res;
    },
    validate: (value) => {
      if (!Array.isArray(value))
        throw new Error(`tuple: invalid value ${value}`);
      if (value.length !== fields.length)
        throw new Error(`tuple: wrong length=${value.length}, expected ${fields.length}`);
      return value;
    }
  });
}
function array(len, inner) {
  if (!isCoder(inner))
    throw new TypeError(`array: invalid inner value ${inner}`);
  const terminator = isBytes4(len) ? Uint8Array.from(len) : void 0;
  const _length = lengthCoder(typeof len === "string" ? `../${len}` : terminator || len);
  if (len === null && inner.size === 0)
    throw new Error("array: null length cannot use zero-size inner");
  if ((isCoder(len) || typeof len === "string") && inner.size === 0)
    throw new Error("array: dynamic length cannot use zero-size inner");
  return wrap({
    // `size: 0` is a valid fixed-size hint and must compose through arrays/tuples/structs.
    size: typeof len === "number" && inner.size !== void 0 ? len * inner.size : void 0,
    encodeStream: (w, value) => {
      const _w = w;
      _w.pushObj(value, () => {
        if (!terminator)
          _length.encodeStream(w, value.length);
        for (let i = 0; i < value.length; i++) {
          _w.enterField(i);
          const elm = value[i];
          const startPos = _w.pos;
          inner.encodeStream(w, elm);
          if (terminator && terminator.length <= _w.pos - startPos) {
            const data = _w.finish(false).subarray(startPos, _w.pos);
            if (equalBytes2(data.subarray(0, terminator.length), terminator))
              throw _w.err(`array: inner element encoding same as separator. elm=${elm} data=${data}`);
          }
          _w.exitField();
        }
      });
      if (terminator)
        w.bytes(terminator);
    },
    decodeStream: (r) => {
      const res = [];
      const _r = r;
      _r.pushObj(res, () => {
        if (len === null) {
          for (let i = 0; !r.isEnd(); i++) {
            _r.enterField(i);
            const progress = _r.progress();
            res.push(inner.decodeStream(r));
            if (_r.progress() === progress)
              throw r.err("array: inner decoder did not consume input");
            _r.exitField();
            if (inner.size && r.leftBytes < inner.size)
              break;
          }
        } else if (terminator) {
          for (let i = 0; ; i++) {
            if (equalBytes2(r.bytes(terminator.length, true), terminator)) {
              r.bytes(terminator.length);
              break;
            }
            _r.enterField(i);
            const progress = _r.progress();
            res.push(inner.decodeStream(r));
            if (_r.progress() === progress)
              throw r.err("array: inner decoder did not consume input");
            _r.exitField();
          }
        } else {
          _r.enterField("arrayLen");
          const length = _length.decodeStream(r);
          _r.exitField();
          if (inner.size && length * inner.size > r.leftBytes)
            throw r.err(`array: length=${length} elements of size=${inner.size} exceed ${r.leftBytes} bytes left`);
          for (let i = 0; i < length; i++) {
            _r.enterField(i);
            res.push(inner.decodeStream(r));
            _r.exitField();
          }
        }
      });
      return res;
    },
    validate: (value) => {
      if (!Array.isArray(value))
        throw new Error(`array: invalid value ${value}`);
      return value;
    }
  });
}
var ZeroPad = (_) => 0;
function padLength(blockSize, len) {
  if (!isNum(len) || len < 0)
    throw new Error(`padLength: wrong length=${len}`);
  if (len % blockSize === 0)
    return 0;
  return blockSize - len % blockSize;
}
function padByte(label, padFn, i, err) {
  const value = padFn(i);
  if (!isNum(value) || value < 0 || value > 255)
    throw err(`${label}: wrong padding byte at ${i}: ${value}`);
  return value;
}
function writePadding(label, w, padFn, len) {
  for (let i = 0; i < len; i++)
    w.byte(padByte(label, padFn, i, (msg) => w.err(msg)));
}
function checkPadding(label, r, padFn, len) {
  const padding = r.bytes(len);
  for (let i = 0; i < padding.length; i++) {
    const expected = padByte(label, padFn, i, (msg) => r.err(msg));
    if (padding[i] !== expected)
      throw r.err(`${label}: invalid padding byte at ${i}: ${padding[i]} !== ${expected}`);
  }
}
function padLeft(blockSize, inner, padFn) {
  if (!isNum(blockSize) || blockSize <= 0)
    throw new TypeError(`padLeft: wrong blockSize=${blockSize}`);
  if (!isCoder(inner))
    throw new TypeError(`padLeft: invalid inner value ${inner}`);
  if (padFn !== void 0 && typeof padFn !== "function")
    throw new TypeError(`padLeft: wrong padFn=${typeof padFn}`);
  const _padFn = padFn || ZeroPad;
  if (inner.size === void 0)
    throw new Error("padLeft cannot have dynamic size");
  const size = inner.size;
  return wrap({
    size: size + padLength(blockSize, size),
    encodeStream: (w, value) => {
      const padBytes = padLength(blockSize, size);
      writePadding("padLeft", w, _padFn, padBytes);
      inner.encodeStream(w, value);
    },
    decodeStream: (r) => {
      checkPadding("padLeft", r, _padFn, padLength(blockSize, size));
      return inner.decodeStream(r);
    }
  });
}
function padRight(blockSize, inner, padFn) {
  if (!isCoder(inner))
    throw new TypeError(`padRight: invalid inner value ${inner}`);
  if (!isNum(blockSize) || blockSize <= 0)
    throw new TypeError(`padRight: wrong blockSize=${blockSize}`);
  if (padFn !== void 0 && typeof padFn !== "function")
    throw new TypeError(`padRight: wrong padFn=${typeof padFn}`);
  const _padFn = padFn || ZeroPad;
  const size = inner.size;
  return wrap({
    // `size: 0` is fixed-size and should pad as zero bytes; only undefined means dynamic.
    size: size === void 0 ? void 0 : size + padLength(blockSize, size),
    encodeStream: (w, value) => {
      const _w = w;
      const pos = _w.pos;
      inner.encodeStream(w, value);
      const padBytes = padLength(blockSize, _w.pos - pos);
      writePadding("padRight", w, _padFn, padBytes);
    },
    decodeStream: (r) => {
      const start = r.pos;
      const res = inner.decodeStream(r);
      checkPadding("padRight", r, _padFn, padLength(blockSize, r.pos - start));
      return res;
    }
  });
}
function pointer(ptr, inner, sized = false) {
  if (!isCoder(ptr))
    throw new TypeError(`pointer: invalid ptr value ${ptr}`);
  if (!isCoder(inner))
    throw new TypeError(`pointer: invalid inner value ${inner}`);
  if (typeof sized !== "boolean")
    throw new TypeError(`pointer/sized: expected boolean, got ${typeof sized}`);
  if (!ptr.size)
    throw new Error("unsized pointer");
  return wrap({
    // Pointer payloads are appended by Writer.finish().
    // Size only describes the in-place pointer slot
    // so surrounding structs/arrays can lay out the fixed section before pointed data.
    size: sized ? ptr.size : void 0,
    encodeStream: (w, value) => {
      const _w = w;
      const start = _w.pos;
      ptr.encodeStream(w, 0);
      _w.ptrs.push({ pos: start, ptr, buffer: inner.encode(value) });
    },
    decodeStream: (r) => {
      const ptrVal = ptr.decodeStream(r);
      r._enablePointers();
      return inner.decodeStream(r.offsetReader(ptrVal));
    }
  });
}

// node_modules/micro-eth-signer/utils.js
function aarray2(item, title, inner = () => {
}) {
  if (!Array.isArray(item))
    throw new TypeError(`"${title}" expected array, got type=${typeof item}`);
  for (let i = 0; i < item.length; i++)
    inner(item[i], `${title}[${i}]`);
  return item;
}
function astring2(value, title = "") {
  if (typeof value !== "string") {
    const prefix = title && `"${title}" `;
    throw new TypeError(prefix + "expected string, got type=" + typeof value);
  }
  return value;
}
var isBytes5 = isBytes;
var ETH_PRECISION = 18;
var GWEI_PRECISION = 9;
var GWEI = /* @__PURE__ */ (() => BigInt(10) ** BigInt(GWEI_PRECISION))();
var ETHER = /* @__PURE__ */ (() => BigInt(10) ** BigInt(ETH_PRECISION))();
var amounts = /* @__PURE__ */ (() => deepFreeze({
  GWEI_PRECISION,
  ETH_PRECISION,
  GWEI,
  ETHER,
  // Disabled with "strict=false"
  maxAmount: BigInt(1e6) * ETHER,
  // 21K wei is used at minimum. Possibly smaller gas limit in 4844 txs?
  minGasLimit: BigInt(21e3),
  maxGasLimit: BigInt(3e7),
  // 30M wei. A block limit in 2024 is 30M
  maxGasPrice: BigInt(1e4) * GWEI,
  // 10K gwei. Arbitrage HFT bots can use more
  maxNonce: BigInt(131072),
  // 2**17 strict internal library limit
  maxDataSize: 1e6,
  // Size of .data field. TODO: research
  maxInitDataSize: 524288,
  // EIP-7907
  maxChainId: BigInt(2 ** 32 - 1),
  maxUint64: BigInt(2) ** BigInt(64) - BigInt(1),
  maxUint256: BigInt(2) ** BigInt(256) - BigInt(1)
}))();
var leadingZerosRe = /^0+/;
var genEthHex = (keepLeadingZero = true) => deepFreeze({
  decode: (data) => {
    if (typeof data !== "string")
      throw new Error("hex data must be a string");
    let hex2 = strip0x(data);
    hex2 = hex2.length & 1 ? `0${hex2}` : hex2;
    return hexToBytes(hex2);
  },
  encode: (data) => {
    let hex2 = bytesToHex(data);
    if (!keepLeadingZero)
      hex2 = hex2.replace(leadingZerosRe, "");
    return add0x(hex2);
  }
});
var ethHex = /* @__PURE__ */ genEthHex(true);
var ethHexNoLeadingZero = /* @__PURE__ */ genEthHex(false);
var ethHexStartRe = /^0[xX]/;
function add0x(hex2, title = "hex") {
  astring2(hex2, title);
  return ethHexStartRe.test(hex2) ? hex2 : `0x${hex2}`;
}
function strip0x(hex2, title = "hex") {
  astring2(hex2, title);
  return hex2.replace(ethHexStartRe, "");
}
function isObject(item) {
  return item != null && typeof item === "object";
}
function deepFreeze(obj) {
  if (!isObject(obj))
    return obj;
  if (Object.isFrozen(obj))
    return obj;
  Object.freeze(obj);
  if (Array.isArray(obj)) {
    for (const item of obj)
      deepFreeze(item);
  } else {
    for (const value of Object.values(obj))
      deepFreeze(value);
  }
  return obj;
}
function sign(hash, privKey, extraEntropy = true) {
  const sig = secp256k1.sign(hash, privKey, {
    prehash: false,
    extraEntropy,
    format: "recovered"
  });
  if ([2, 3].includes(sig[0]))
    throw new Error("invalid signature rec=2 or 3");
  return secp256k1.Signature.fromBytes(sig, "recovered");
}
function verify(sig, hash, publicKey) {
  return secp256k1.verify(sig, hash, publicKey, { prehash: false });
}
function initSig(sig, bit) {
  if (typeof bit !== "number")
    throw new TypeError('"recovery bit" expected number, got type=' + typeof bit);
  if (bit !== 0 && bit !== 1)
    throw new RangeError('"recovery bit" expected 0 or 1, got ' + bit);
  let s;
  if (isBytes5(sig))
    s = secp256k1.Signature.fromBytes(sig, "compact");
  else {
    validateObject(sig, { r: "bigint", s: "bigint" }, {});
    s = new secp256k1.Signature(sig.r, sig.s);
  }
  return s.addRecoveryBit(bit);
}
function recoverPublicKey(sig, hash) {
  return secp256k1.recoverPublicKey(sig.toBytes("recovered"), hash, { prehash: false });
}
function cloneDeep(obj) {
  if (isBytes5(obj)) {
    return Uint8Array.from(obj);
  } else if (Array.isArray(obj)) {
    return obj.map(cloneDeep);
  } else if (typeof obj === "bigint") {
    return BigInt(obj);
  } else if (obj !== null && typeof obj === "object") {
    let res = {};
    for (let key in obj) {
      if (!Object.hasOwn(obj, key))
        continue;
      const value = cloneDeep(obj[key]);
      if (key === "__proto__")
        Object.defineProperty(res, key, {
          value,
          enumerable: true,
          writable: true,
          configurable: true
        });
      else
        res[key] = value;
    }
    return res;
  } else
    return obj;
}
function omit(obj, ...keys) {
  if (obj === null || Array.isArray(obj) || isBytes5(obj))
    throw new Error("omit: expected plain object");
  let res = { ...obj };
  for (let key of keys)
    delete res[key];
  return res;
}
function zip(a, b) {
  if (a.length !== b.length)
    throw new Error("zip: length mismatch");
  let res = [];
  for (let i = 0; i < a.length; i++)
    res.push([a[i], b[i]]);
  return res;
}
var MAX_DECIMAL_PRECISION = 255;
function decimalPrecision(precision) {
  if (!Number.isSafeInteger(precision) || precision < 0 || precision > MAX_DECIMAL_PRECISION) {
    throw new RangeError(`decimal precision must be between 0 and ${MAX_DECIMAL_PRECISION}`);
  }
  return precision;
}
var createDecimal = (precision, round) => coders.decimal(decimalPrecision(precision), round);
var decimalCoders = /* @__PURE__ */ new Array(MAX_DECIMAL_PRECISION + 1);
var weieth = /* @__PURE__ */ deepFreeze(
  /* @__PURE__ */ createDecimal(ETH_PRECISION)
);

// node_modules/micro-eth-signer/core/rlp.js
var hexToBytes3 = (s) => {
  if (s.length % 2)
    throw new Error(`RLP.encode: hex string with odd length: ${s}`);
  return ethHex.decode(s);
};
var utf82 = /* @__PURE__ */ new TextEncoder();
var empty = Uint8Array.of();
var lenLen = (n) => {
  let res = 1;
  while ((n = Math.floor(n / 256)) > 0)
    res++;
  return res;
};
var leaf = (bytes) => {
  const len = bytes.length;
  let total;
  if (len === 1 && bytes[0] < 128)
    total = 1;
  else if (len < 56)
    total = 1 + len;
  else
    total = 1 + lenLen(len) + len;
  return { bytes, items: null, payload: 0, total };
};
var numberToBytes = (n) => {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new Error("RLP.encode: invalid integer as argument, must be unsigned");
  if (n === 0)
    return empty;
  let len = 0;
  for (let i2 = n; i2 >= 1; i2 /= 256)
    len++;
  let hi = Math.floor(n / 4294967296);
  let lo = n % 4294967296;
  const res = new Uint8Array(len);
  let i = len - 1;
  for (; i >= 0 && i >= len - 4; i--) {
    res[i] = lo & 255;
    lo >>>= 8;
  }
  for (; i >= 0; i--) {
    res[i] = hi & 255;
    hi >>>= 8;
  }
  return res;
};
var maxSafeInteger = /* @__PURE__ */ BigInt(Number.MAX_SAFE_INTEGER);
var MAX_RLP_DEPTH = 1024;
var measure = (data, depth = 0) => {
  if (depth > MAX_RLP_DEPTH)
    throw new RangeError("RLP.encode: too deep");
  if (data == null)
    return leaf(empty);
  if (isBytes5(data))
    return leaf(data);
  if (Array.isArray(data)) {
    const items = new Array(data.length);
    let payload = 0;
    for (let i = 0; i < data.length; i++)
      payload += (items[i] = measure(data[i], depth + 1)).total;
    const total = payload < 56 ? 1 + payload : 1 + lenLen(payload) + payload;
    return { bytes: null, items, payload, total };
  }
  switch (typeof data) {
    case "number":
      return leaf(numberToBytes(data));
    case "bigint":
      if (data < BigInt(0))
        throw new Error("RLP.encode: invalid integer as argument, must be unsigned");
      return leaf(data <= maxSafeInteger ? numberToBytes(Number(data)) : numberToVarBytesBE(data));
    case "string":
      return leaf(data.startsWith("0x") ? hexToBytes3(data) : utf82.encode(data));
    default:
      throw new Error("RLP.encode: unknown type");
  }
};
var writePrefix = (out, pos, offset, len) => {
  if (len < 56) {
    out[pos++] = offset + len;
    return pos;
  }
  const ll = lenLen(len);
  out[pos++] = offset + 55 + ll;
  for (let i = ll - 1, n = len; i >= 0; i--) {
    out[pos + i] = n % 256;
    n = Math.floor(n / 256);
  }
  return pos + ll;
};
var writeNode = (node, out, pos, depth = 0) => {
  if (depth > MAX_RLP_DEPTH)
    throw new RangeError("RLP.encode: too deep");
  const bytes = node.bytes;
  if (bytes !== null) {
    const len = bytes.length;
    if (len === 1 && bytes[0] < 128) {
      out[pos] = bytes[0];
      return pos + 1;
    }
    pos = writePrefix(out, pos, 128, len);
    out.set(bytes, pos);
    return pos + len;
  }
  pos = writePrefix(out, pos, 192, node.payload);
  for (const item of node.items)
    pos = writeNode(item, out, pos, depth + 1);
  return pos;
};
var rlpEncode = (data) => {
  const root = measure(data);
  const out = new Uint8Array(root.total);
  writeNode(root, out, 0);
  return out;
};
var rlpDecodeSlice = (d, offset, end, allowUnreadBytes = false) => {
  let pos = offset;
  const readLength = (lengthLen, boundary) => {
    if (pos + lengthLen > boundary)
      throw new Error("RLP.decode: out of range");
    if (d[pos] === 0)
      throw new Error("RLP.decode: wrong length encoding with leading zeros");
    let len = 0;
    for (let i = 0; i < lengthLen; i++)
      len = len * 256 + d[pos++];
    if (len < 56)
      throw new Error("RLP.decode: length less than 56, but used multi-byte flag");
    return len;
  };
  const item = (boundary, depth = 0) => {
    if (depth > MAX_RLP_DEPTH)
      throw new RangeError("RLP.decode: too deep");
    if (pos >= boundary)
      throw new Error("RLP.decode: out of range");
    const first = d[pos++];
    if (first < 128)
      return d.subarray(pos - 1, pos);
    let len;
    let isList = false;
    if (first < 184)
      len = first - 128;
    else if (first < 192)
      len = readLength(first - 183, boundary);
    else if (first < 248) {
      len = first - 192;
      isList = true;
    } else {
      len = readLength(first - 247, boundary);
      isList = true;
    }
    const itemEnd = pos + len;
    if (itemEnd > boundary)
      throw new Error("RLP.decode: out of range");
    if (!isList) {
      if (len === 1 && d[pos] < 128)
        throw new Error("RLP.decode: wrong string length encoding, should use single byte mode");
      const res2 = d.subarray(pos, itemEnd);
      pos = itemEnd;
      return res2;
    }
    const items = [];
    while (pos < itemEnd)
      items.push(item(itemEnd, depth + 1));
    return items;
  };
  const res = item(end);
  if (!allowUnreadBytes && pos !== end)
    throw new Error("RLP.decode: unread bytes left");
  return res;
};
var rlpDecode = (data, opts) => {
  if (!isBytes5(data))
    throw new Error("RLP.decode: expected Uint8Array");
  return rlpDecodeSlice(data, 0, data.length, opts?.allowUnreadBytes);
};
var peekLength = (r, lengthLen) => {
  const header = r.bytes(1 + lengthLen, true);
  let len = 0;
  for (let i = 1; i < header.length; i++)
    len = len * 256 + header[i];
  return len;
};
var RLP = /* @__PURE__ */ deepFreeze({
  size: void 0,
  encodeStream: (w, value) => w.bytes(rlpEncode(value)),
  // Consumes exactly one item from the stream: total size is derived from the prefix, then the
  // item is decoded from the consumed slice (which re-validates the prefix canonically).
  decodeStream: (r) => {
    const first = r.byte(true);
    let total;
    if (first < 128)
      total = 1;
    else if (first < 184)
      total = 1 + (first - 128);
    else if (first < 192)
      total = 1 + (first - 183) + peekLength(r, first - 183);
    else if (first < 248)
      total = 1 + (first - 192);
    else
      total = 1 + (first - 247) + peekLength(r, first - 247);
    return rlpDecodeSlice(r.bytes(total), 0, total);
  },
  encode: rlpEncode,
  decode: rlpDecode
});

// node_modules/micro-eth-signer/core/address.js
/*! micro-eth-signer - MIT License (c) 2021 Paul Miller (paulmillr.com) */
var hashToAddress = (hashed) => addChecksum(bytesToHex(hashed).slice(24));
var bytes32 = (value, title) => {
  const b = isBytes5(value) ? value : ethHex.decode(astring2(value, title));
  if (b.length !== 32)
    throw new Error(`${title} must be 32 bytes, got ${b.length}`);
  return b;
};
var ADDR_RE = /^(0[xX])?([0-9a-fA-F]{40})?$/;
function parseAddress(address, allowEmpty = false) {
  astring2(address);
  if (allowEmpty && address === "0x")
    return { hasPrefix: true, data: "" };
  const res = address.match(ADDR_RE) || [];
  const hasPrefix = res[1] != null;
  const data = res[2];
  if (!data) {
    const len = hasPrefix ? 42 : 40;
    throw new Error(`address must be ${len}-char hex, got ${address.length}-char ${address}`);
  }
  return { hasPrefix, data };
}
function addChecksum(nonChecksummedAddress, allowEmpty = false) {
  const low = parseAddress(nonChecksummedAddress, allowEmpty).data.toLowerCase();
  const hash = bytesToHex(keccak_256(utf8ToBytes(low)));
  let checksummed = "";
  for (let i = 0; i < low.length; i++) {
    const hi = Number.parseInt(hash[i], 16);
    const li = low[i];
    checksummed += hi <= 7 ? li : li.toUpperCase();
  }
  return add0x(checksummed);
}
function isValidAddress(checksummedAddress, allowEmpty = false) {
  let parsed;
  try {
    parsed = parseAddress(checksummedAddress, allowEmpty);
  } catch (error) {
    return false;
  }
  const { data: address, hasPrefix } = parsed;
  if (!hasPrefix)
    return false;
  const low = address.toLowerCase();
  const upp = address.toUpperCase();
  if (address === low || address === upp)
    return true;
  return addChecksum(low, allowEmpty) === checksummedAddress;
}
var addr = /* @__PURE__ */ deepFreeze({
  /**
   * Splits an address into its optional `0x` prefix and 40-char hex body.
   * Throws on anything that is not a 40-char (or prefixed 42-char) hex string.
   */
  parse: (address) => parseAddress(address),
  /**
   * Address checksum is calculated by hashing with keccak_256.
   * It hashes *string*, not a bytearray: keccak('beef') not keccak([0xbe, 0xef])
   * @param nonChecksummedAddress
   * @returns checksummed address
   */
  addChecksum: (nonChecksummedAddress) => addChecksum(nonChecksummedAddress),
  /**
   * Creates address from secp256k1 public key.
   */
  fromPublicKey: (key) => {
    if (!key)
      throw new Error("invalid public key: " + key);
    if (typeof key === "string")
      key = hexToBytes(strip0x(key));
    const pub65b = secp256k1.Point.fromBytes(key).toBytes(false);
    const hashed = keccak_256(pub65b.subarray(1, 65));
    const address = bytesToHex(hashed).slice(24);
    return addChecksum(address);
  },
  /**
   * Creates address from ETH private key in hex or ui8a format.
   */
  fromPrivateKey: (key) => {
    if (typeof key === "string")
      key = hexToBytes(strip0x(key));
    return addr.fromPublicKey(secp256k1.getPublicKey(key, false));
  },
  /**
   * Generates hex string with new random private key and address. Uses CSPRNG internally.
   */
  random() {
    const privateKey = ethHex.encode(secp256k1.utils.randomSecretKey());
    return { privateKey, address: addr.fromPrivateKey(privateKey) };
  },
  /**
   * Verifies checksum if the address is checksummed.
   * Always returns true when the address is not checksummed.
   */
  isValid: (checksummedAddress) => isValidAddress(checksummedAddress),
  /**
   * Checks whether the value can be used as a secp256k1 private key:
   * 32 bytes (64 hex chars, `0x` optional) inside the valid scalar range.
   * Unlike a plain hex-format check, rejects out-of-range scalars
   * (zero, >= curve order) that `fromPrivateKey` / `signBy` would throw on.
   */
  isValidPrivateKey: (key) => {
    try {
      return secp256k1.utils.isValidSecretKey(typeof key === "string" ? hexToBytes(strip0x(key)) : key);
    } catch {
      return false;
    }
  },
  /**
   * Computes the address of a contract deployed with CREATE (a regular deployment tx):
   * `keccak256(rlp([sender, nonce]))[12:]`.
   * @param from - deployer address
   * @param nonce - deployer account nonce at deployment time
   */
  getCreateAddress: (from, nonce) => {
    if (!isValidAddress(from))
      throw new Error("address checksum does not match");
    if (typeof nonce === "number") {
      if (!Number.isSafeInteger(nonce) || nonce < 0)
        throw new Error(`wrong nonce=${nonce}`);
      nonce = BigInt(nonce);
    }
    if (typeof nonce !== "bigint" || nonce < BigInt(0) || nonce >= amounts.maxUint64)
      throw new Error(`wrong nonce=${nonce}`);
    const fromBytes = hexToBytes(parseAddress(from).data);
    return hashToAddress(keccak_256(RLP.encode([fromBytes, nonce])));
  },
  /**
   * Computes the address of a contract deployed with CREATE2 (EIP-1014):
   * `keccak256(0xff ++ sender ++ salt ++ keccak256(initCode))[12:]`.
   * @param from - deploying contract address
   * @param salt - 32-byte salt
   * @param initCodeHash - keccak-256 hash of the deployment (init) code
   */
  getCreate2Address: (from, salt, initCodeHash) => {
    if (!isValidAddress(from))
      throw new Error("address checksum does not match");
    const fromBytes = hexToBytes(parseAddress(from).data);
    const hashed = keccak_256(concatBytes(Uint8Array.of(255), fromBytes, bytes32(salt, "salt"), bytes32(initCodeHash, "initCodeHash")));
    return hashToAddress(hashed);
  }
});

// node_modules/micro-eth-signer/core/tx-internal.js
var _0n8 = /* @__PURE__ */ BigInt(0);
var createTxMap = (versions) => {
  const ent = Object.entries(versions);
  const typeMap = Object.fromEntries(ent.map(([type, coder], ver) => [type, { type, ver, coder }]));
  const verMap = Object.fromEntries(ent.map(([type, coder], ver) => [ver.toString(), { type, ver, coder }]));
  return wrap({
    encodeStream(w, value) {
      const t = value.type;
      if (!typeMap.hasOwnProperty(t))
        throw new Error(`txVersion: wrong type=${t}`);
      const curr = typeMap[t];
      if (t !== "legacy")
        w.byte(curr.ver);
      curr.coder.encodeStream(w, value.data);
    },
    decodeStream(r) {
      const v = r.byte(true);
      if (v === 255)
        throw new Error("reserved version 0xff");
      if (v === 0)
        throw new Error("version=0 unsupported");
      if (0 <= v && v <= 127) {
        if (!verMap.hasOwnProperty(v.toString()))
          throw new Error(`wrong version=${v}`);
        const curr = verMap[v];
        r.byte(false);
        const d = curr.coder.decodeStream(r);
        return { type: curr.type, data: d };
      }
      return { type: "legacy", data: typeMap.legacy.coder.decodeStream(r) };
    }
  });
};
var isOptBig = (a) => a === void 0 || typeof a === "bigint";
var isNullOr0 = (a) => a === void 0 || a === BigInt(0);
function assertYParityValid(elm) {
  if (elm === void 0)
    elm = 0;
  if (elm !== 0 && elm !== 1)
    throw new Error(`yParity wrong value=${elm} (${typeof elm})`);
}
var addrCoder = ethHex;
function ensure32(b) {
  if (!isBytes5(b) || b.length !== 32)
    throw new Error("expected 32 bytes");
  return b;
}
var Bytes32 = {
  encode: (from) => ethHex.encode(ensure32(from)),
  decode: (to) => ensure32(ethHex.decode(to))
};
var legacySig = /* @__PURE__ */ (() => ({
  encode: (data) => {
    const { v, r, s } = data;
    if (v === void 0)
      return { chainId: void 0 };
    if (typeof v !== "bigint")
      throw new Error(`invalid v type=${typeof v}`);
    if (r === void 0 && s === void 0 || r === _0n8 && s === _0n8)
      return { chainId: v };
    if (v === BigInt(27))
      return { yParity: 0, chainId: void 0, r, s };
    if (v === BigInt(28))
      return { yParity: 1, chainId: void 0, r, s };
    if (v < BigInt(35))
      throw new Error(`wrong v=${v}`);
    const v2 = v - BigInt(35);
    return { chainId: v2 >> BigInt(1), yParity: Number(v2 & BigInt(1)), r, s };
  },
  decode: (data) => {
    aobj(data);
    const { chainId, yParity, r, s } = data;
    if (!isOptBig(chainId))
      throw new Error(`wrong chainId type=${typeof chainId}`);
    if (!isOptBig(r))
      throw new Error(`wrong r type=${typeof r}`);
    if (!isOptBig(s))
      throw new Error(`wrong s type=${typeof s}`);
    if (yParity !== void 0 && typeof yParity !== "number")
      throw new Error(`wrong yParity type=${typeof yParity}`);
    if (yParity === void 0) {
      if (chainId !== void 0) {
        if (r !== void 0 && r !== _0n8 || s !== void 0 && s !== _0n8)
          throw new Error(`wrong unsigned legacy r=${r} s=${s}`);
        return { v: chainId, r: _0n8, s: _0n8 };
      }
      if (r !== void 0 && r !== _0n8 || s !== void 0 && s !== _0n8)
        throw new Error(`wrong unsigned legacy r=${r} s=${s}`);
      return {};
    }
    if (isNullOr0(r) || isNullOr0(s))
      throw new Error(`wrong unsigned legacy r=${r} s=${s}`);
    assertYParityValid(yParity);
    const v = chainId !== void 0 ? BigInt(yParity) + (chainId * BigInt(2) + BigInt(35)) : BigInt(yParity) + BigInt(27);
    return { v, r, s };
  }
}))();
var U64BE = /* @__PURE__ */ (() => coders.reverse(bigint(8, false, false, false, true)))();
var U256BE2 = /* @__PURE__ */ (() => coders.reverse(bigint(32, false, false, false, true)))();
var array2 = (coder) => {
  const map = (items, fn) => {
    const res = [];
    for (let i = 0; i < items.length; i++) {
      if (!Object.hasOwn(items, i))
        throw new Error(`missing array item ${i}`);
      res.push(fn(items[i]));
    }
    return res;
  };
  return {
    encode(from) {
      if (!Array.isArray(from))
        throw new Error("expected array");
      return map(from, (i) => coder.encode(i));
    },
    decode(to) {
      if (!Array.isArray(to))
        throw new Error("expected array");
      return map(to, (i) => coder.decode(i));
    }
  };
};
var struct2 = (fields) => ({
  encode(from) {
    if (!Array.isArray(from))
      throw new Error("expected array");
    const fNames = Object.keys(fields);
    if (from.length !== fNames.length)
      throw new Error("wrong array length");
    return Object.fromEntries(fNames.map((f, i) => [f, fields[f].encode(from[i])]));
  },
  decode(to) {
    const fNames = Object.keys(fields);
    if (!isObject(to))
      throw new Error("wrong struct object");
    return fNames.map((i) => fields[i].decode(to[i]));
  }
});
var mkYParityCoder = () => coders.reverse(validate(int(1, false, false, false, true), (elm) => {
  assertYParityValid(elm);
  return elm;
}));
var mkAccessListItem = () => struct2({ address: addrCoder, storageKeys: array2(Bytes32) });
var mkAuthorizationItem = () => struct2({
  chainId: U256BE2,
  address: addrCoder,
  nonce: U64BE,
  yParity: mkYParityCoder(),
  r: U256BE2,
  s: U256BE2
});
var coders2 = /* @__PURE__ */ (() => ({
  chainId: U256BE2,
  // Can fit into u64 (curr max is 0x57a238f93bf), but geth uses bigint
  nonce: U64BE,
  gasPrice: U256BE2,
  maxPriorityFeePerGas: U256BE2,
  maxFeePerGas: U256BE2,
  gasLimit: U64BE,
  to: addrCoder,
  value: U256BE2,
  // "Decimal" coder can be used, but it's harder to work with
  data: ethHex,
  accessList: array2(mkAccessListItem()),
  maxFeePerBlobGas: U256BE2,
  blobVersionedHashes: array2(Bytes32),
  yParity: mkYParityCoder(),
  v: U256BE2,
  r: U256BE2,
  s: U256BE2,
  authorizationList: array2(mkAuthorizationItem())
}))();
var signatureFields = /* @__PURE__ */ new Set(["v", "yParity", "r", "s"]);
function removeSig(raw) {
  signatureFields.forEach((k) => {
    delete raw[k];
  });
  return raw;
}
var txStruct = (reqf, optf) => {
  const allFields = reqf.concat(optf);
  allFields.forEach((f) => {
    if (!coders2.hasOwnProperty(f))
      throw new Error(`coder for field ${f} is not defined`);
  });
  const reqS = struct2(Object.fromEntries(reqf.map((i) => [i, coders2[i]])));
  const allS = struct2(Object.fromEntries(allFields.map((i) => [i, coders2[i]])));
  const reql = reqf.length;
  const optl = reql + optf.length;
  const optFieldAt = (i) => reql + i;
  const isEmpty = (item) => item.length === 0;
  const fcoder = wrap({
    encodeStream(w, raw) {
      const hasOptional = optf.some((f) => Object.hasOwn(raw, f));
      const sCoder = hasOptional ? allS : reqS;
      RLP.encodeStream(w, sCoder.decode(raw));
    },
    decodeStream(r) {
      const decoded = RLP.decodeStream(r);
      if (!Array.isArray(decoded))
        throw new Error("txStruct: expected array from inner coder");
      const length = decoded.length;
      if (length !== reql && length !== optl)
        throw new Error(`txStruct: wrong inner length=${length}`);
      const sCoder = length === optl ? allS : reqS;
      if (length === optl && optf.every((_, i) => isEmpty(decoded[optFieldAt(i)])))
        throw new Error("all optional fields empty");
      return sCoder.encode(decoded);
    }
  });
  fcoder.fields = reqf;
  fcoder.optionalFields = optf;
  fcoder.setOfAllFields = /* @__PURE__ */ new Set([...allFields, "type"]);
  return fcoder;
};
var sigFieldNames = ["yParity", "r", "s"];
var legacyFields = ["nonce", "gasPrice", "gasLimit", "to", "value", "data"];
var legacySigFieldNames = ["v", "r", "s"];
var eip2930Fields = [
  "chainId",
  "nonce",
  "gasPrice",
  "gasLimit",
  "to",
  "value",
  "data",
  "accessList"
];
var eip1559Fields = [
  "chainId",
  "nonce",
  "maxPriorityFeePerGas",
  "maxFeePerGas",
  "gasLimit",
  "to",
  "value",
  "data",
  "accessList"
];
var eip4844Fields = [
  "chainId",
  "nonce",
  "maxPriorityFeePerGas",
  "maxFeePerGas",
  "gasLimit",
  "to",
  "value",
  "data",
  "accessList",
  "maxFeePerBlobGas",
  "blobVersionedHashes"
];
var eip7702Fields = [
  "chainId",
  "nonce",
  "maxPriorityFeePerGas",
  "maxFeePerGas",
  "gasLimit",
  "to",
  "value",
  "data",
  "accessList",
  "authorizationList"
];
var legacyInternal = /* @__PURE__ */ txStruct(legacyFields, legacySigFieldNames);
var legacy = /* @__PURE__ */ (() => {
  const res = apply(legacyInternal, {
    decode: (data) => Object.assign({}, data, legacySig.decode(data)),
    encode: (data) => {
      const res2 = Object.assign({}, data, { chainId: void 0 });
      if (data.v) {
        const newV = legacySig.encode(data);
        removeSig(res2);
        Object.assign(res2, newV);
      }
      return res2;
    }
  });
  res.fields = [...legacyInternal.fields, "chainId"];
  res.optionalFields = sigFieldNames;
  res.setOfAllFields = /* @__PURE__ */ new Set([...res.fields, ...res.optionalFields, "type"]);
  return res;
})();
var eip2930 = /* @__PURE__ */ txStruct(eip2930Fields, sigFieldNames);
var eip1559 = /* @__PURE__ */ txStruct(eip1559Fields, sigFieldNames);
var eip4844 = /* @__PURE__ */ txStruct(eip4844Fields, sigFieldNames);
var eip7702 = /* @__PURE__ */ txStruct(eip7702Fields, sigFieldNames);
var TxVersions = {
  legacy,
  // 0x00 (kinda)
  eip2930,
  // 0x01
  eip1559,
  // 0x02
  eip4844,
  // 0x03
  eip7702
  // 0x04
};
var RawTx = /* @__PURE__ */ (() => apply(createTxMap(TxVersions), {
  // NOTE: we apply checksum to addresses here, since chainId is not available inside coders
  // By construction 'to' field is decoded before anything about chainId is known
  encode: (data) => {
    data.data.to = addChecksum(data.data.to, true);
    if (data.type !== "legacy" && data.data.accessList) {
      for (const item of data.data.accessList) {
        item.address = addr.addChecksum(item.address);
      }
    }
    if (data.type === "eip7702" && data.data.authorizationList) {
      for (const item of data.data.authorizationList) {
        item.address = addr.addChecksum(item.address);
      }
    }
    return data;
  },
  // Nothing to check here, is validated in validator
  decode: (data) => data
}))();
function isTxType(type) {
  return typeof type === "string" && TxVersions.hasOwnProperty(type);
}
function encodeRawTx(type, data) {
  return RawTx.encode({ type, data });
}
function abig(val) {
  if (typeof val !== "bigint")
    throw new Error("value must be bigint");
}
function aobj(val) {
  if (typeof val !== "object" || val == null || Array.isArray(val) || isBytes5(val))
    throw new Error("object expected");
}
function minmax(val, min, max, err) {
  if (!err)
    err = `>= ${min} and <= ${max}`;
  if (Number.isNaN(val) || val < min || val > max)
    throw new Error(`must be ${err}, not ${val}`);
}
var calcIntrinsicGas = (type, data) => {
  let gas = amounts.minGasLimit;
  if (data.to === "0x")
    gas += BigInt(32e3);
  if (typeof data.data === "string") {
    let bytes;
    try {
      bytes = ethHex.decode(data.data);
    } catch {
    }
    if (bytes) {
      for (const byte of bytes) {
        gas += byte === 0 ? BigInt(4) : BigInt(16);
      }
      if (data.to === "0x") {
        gas += BigInt(Math.ceil(bytes.length / 32) * 2);
      }
    }
  }
  if (type !== "legacy" && Array.isArray(data.accessList)) {
    gas += BigInt(data.accessList.length) * BigInt(2400);
    for (const item of data.accessList) {
      if (item && Array.isArray(item.storageKeys))
        gas += BigInt(item.storageKeys.length) * BigInt(1900);
    }
  }
  if (type === "eip7702" && Array.isArray(data.authorizationList)) {
    gas += BigInt(data.authorizationList.length) * BigInt(25e3);
  }
  return gas;
};
var validators = {
  nonce(num, { strict }) {
    abig(num);
    if (strict)
      minmax(num, _0n8, amounts.maxNonce);
    else
      minmax(num, _0n8, amounts.maxUint64 - BigInt(1));
  },
  maxFeePerGas(num, { strict, data }) {
    abig(num);
    if (strict)
      minmax(num, BigInt(1), amounts.maxGasPrice, ">= 1 wei and < 10000 gwei");
    else
      minmax(num, _0n8, amounts.maxUint256);
    if (typeof data.gasLimit === "bigint" && data.gasLimit * num > amounts.maxUint256)
      throw new Error("gasLimit * maxFeePerGas overflows uint256");
  },
  maxPriorityFeePerGas(num, { strict, data }) {
    abig(num);
    if (strict)
      minmax(num, _0n8, amounts.maxGasPrice, ">= 1 wei and < 10000 gwei");
    else
      minmax(num, _0n8, amounts.maxUint256);
    if (data && typeof data.maxFeePerGas === "bigint" && data.maxFeePerGas < num) {
      throw new Error(`cannot be bigger than maxFeePerGas=${data.maxFeePerGas}`);
    }
  },
  gasLimit(num, { strict, type, data }) {
    abig(num);
    if (strict) {
      minmax(num, amounts.minGasLimit, amounts.maxGasLimit);
      const min = calcIntrinsicGas(type, data);
      if (num < min)
        throw new Error(`intrinsic gas too low: ${num} < ${min}`);
    } else
      minmax(num, _0n8, amounts.maxUint64);
  },
  to(address, { strict, type, data }) {
    if (!isValidAddress(address, true))
      throw new Error("address checksum does not match");
    if ((type === "eip4844" || type === "eip7702") && address === "0x")
      throw new Error(`${type} transaction destination must not be empty`);
    if (strict && address === "0x" && ethHex.decode(data.data ?? "").length === 0)
      throw new Error("Empty address (0x) without contract deployment code");
  },
  value(num, { strict }) {
    abig(num);
    if (strict)
      minmax(num, _0n8, amounts.maxAmount, ">= 0 and < 1M eth");
  },
  data(val, { strict, data }) {
    if (typeof val !== "string")
      throw new Error("data must be string");
    if (strict) {
      if (val.length > amounts.maxDataSize)
        throw new Error("data is too big: " + val.length);
    }
    const initcodeHexLen = strip0x(val).length;
    if (data.to === "0x" && initcodeHexLen > 2 * amounts.maxInitDataSize)
      throw new Error(`initcode is too big: ${initcodeHexLen}`);
  },
  chainId(num, { strict, type, data }) {
    if (type === "legacy" && num === void 0)
      return;
    abig(num);
    if (strict) {
      const max = type === "legacy" && (data.yParity === 0 || data.yParity === 1) ? amounts.maxChainId : amounts.maxUint256;
      minmax(num, BigInt(1), max);
    }
  },
  accessList(list) {
    for (const { address } of list) {
      if (!addr.isValid(address))
        throw new Error("address checksum does not match");
    }
  },
  blobVersionedHashes(list, { strict }) {
    if (!Array.isArray(list))
      return;
    if (strict && list.length === 0)
      throw new Error("must contain at least one versioned hash");
    for (let i = 0; i < list.length; i++) {
      if (!Object.hasOwn(list, i))
        continue;
      const hash = list[i];
      if (typeof hash !== "string")
        continue;
      const hex2 = hash[0] === "0" && (hash[1] === "x" || hash[1] === "X") ? hash.slice(2) : hash;
      const firstByte = hex2.length & 1 ? `0${hex2[0] || ""}` : hex2.slice(0, 2);
      if (firstByte.toLowerCase() !== "01")
        throw new Error("versioned hash must start with 0x01");
    }
  },
  authorizationList(list, opts) {
    if (Array.isArray(list) && list.length === 0)
      throw new Error("must contain at least one authorization");
    for (const { address, nonce, chainId } of list) {
      if (!addr.isValid(address))
        throw new Error("address checksum does not match");
      abig(chainId);
      if (opts.strict)
        minmax(chainId, _0n8, amounts.maxUint256, ">= 0 and < 2**256");
      validators.nonce(nonce, opts);
    }
  }
};
var AggregatedError = class extends Error {
  constructor(message, errors) {
    super();
    __publicField(this, "message");
    __publicField(this, "errors");
    this.message = message;
    this.errors = errors;
  }
};
function validateFields(type, data, strict = true, allowSignatureFields = true) {
  aobj(data);
  if (!isTxType(type))
    throw new Error(`unknown tx type=${type}`);
  const txType = TxVersions[type];
  const dataFields = new Set(Object.keys(data));
  const dataHas = (field) => dataFields.has(field);
  function checkField(field) {
    if (!dataHas(field)) {
      if (type === "legacy" && field === "chainId")
        return;
      return { field, error: `field "${field}" must be present for tx type=${type}` };
    }
    const val = data[field];
    try {
      const validator = validators[field];
      if (validator)
        validator(val, { data, strict, type });
      if (type === "legacy" && field === "chainId" && val === void 0)
        return;
      coders2[field].decode(val);
    } catch (error) {
      return { field, error: error.message };
    }
    return void 0;
  }
  const reqErrs = txType.fields.map(checkField);
  const optErrs = txType.optionalFields.some(dataHas) ? txType.optionalFields.map(checkField) : [];
  const unexpErrs = Object.keys(data).map((field) => {
    if (!txType.setOfAllFields.has(field))
      return { field, error: `unknown field "${field}" for tx type=${type}` };
    if (!allowSignatureFields && signatureFields.has(field)) {
      return {
        field,
        error: `field "${field}" is sig-related and must not be user-specified`
      };
    }
    return;
  });
  const errors = reqErrs.concat(optErrs, unexpErrs).filter((val) => val !== void 0);
  if (errors.length > 0)
    throw new AggregatedError("fields had validation errors", errors);
}
var sortedFieldOrder = [
  "to",
  "value",
  "nonce",
  "maxFeePerGas",
  "maxFeePerBlobGas",
  "maxPriorityFeePerGas",
  "gasPrice",
  "gasLimit",
  "accessList",
  "authorizationList",
  "blobVersionedHashes",
  "chainId",
  "data",
  "type",
  "r",
  "s",
  "yParity",
  "v"
];
function sortRawData(raw) {
  const r = raw;
  const sortedRaw = {};
  const sorted = /* @__PURE__ */ new Set();
  for (const field of sortedFieldOrder) {
    if (!Object.hasOwn(r, field))
      continue;
    sortedRaw[field] = r[field];
    sorted.add(field);
  }
  for (const field of Object.keys(r)) {
    if (sorted.has(field))
      continue;
    sortedRaw[field] = r[field];
  }
  return sortedRaw;
}
function decodeLegacyV(raw) {
  return legacySig.decode(raw).v;
}

// node_modules/micro-eth-signer/core/tx.js
/*! micro-eth-signer - MIT License (c) 2021 Paul Miller (paulmillr.com) */
var TX_DEFAULTS = {
  accessList: [],
  // needs to be .slice()-d to create new reference
  // EIP-7702 authorizationList must be caller-provided and non-empty, so it has no default.
  chainId: BigInt(1),
  // mainnet
  data: "",
  // TODO: investigate if limit is smaller in eip4844 txs.
  gasLimit: BigInt(21e3),
  // Reduce fingerprinting by using standard, popular value.
  maxPriorityFeePerGas: BigInt(1) * amounts.GWEI,
  type: "eip1559"
};
var GAS_PER_BLOB = /* @__PURE__ */ BigInt(131072);
var Transaction = class _Transaction {
  // Doesn't force any defaults, catches if fields incompatible with type
  constructor(type, raw, opts = {}) {
    __publicField(this, "type");
    __publicField(this, "raw");
    __publicField(this, "isSigned");
    __publicField(this, "strict");
    const { strict = true, allowSignatureFields = true } = opts;
    this.type = type;
    this.strict = strict;
    validateFields(type, raw, strict, allowSignatureFields);
    this.raw = deepFreeze(cloneDeep(raw));
    this.isSigned = typeof this.raw.r === "bigint" && typeof this.raw.s === "bigint";
  }
  static prepare(data, strict = true) {
    if (!isObject(data))
      throw new TypeError('"data" expected object, got type=' + typeof data);
    const type = data.type !== void 0 ? data.type : TX_DEFAULTS.type;
    if (!isTxType(type))
      throw new Error(`wrong transaction type=${type}`);
    const coder = TxVersions[type];
    const fields = new Set(coder.fields);
    const hasGasLimit = Object.hasOwn(data, "gasLimit");
    const raw = { type };
    for (const f in TX_DEFAULTS) {
      if (f !== "type" && fields.has(f)) {
        raw[f] = TX_DEFAULTS[f];
        if (f === "accessList")
          raw[f] = cloneDeep(raw[f]);
      }
    }
    Object.assign(raw, data);
    raw.type = type;
    if (!hasGasLimit && fields.has("gasLimit"))
      raw.gasLimit = calcIntrinsicGas(type, raw);
    return new _Transaction(type, sortRawData(raw), {
      strict,
      allowSignatureFields: false
    });
  }
  /**
   * Sets the largest value that remains valid at the transaction's worst-case fee.
   * Fee fields are preserved, so the actual fee can be lower and leave a small remainder.
   * Maximum-value transfers remain recognizable on-chain from their amount.
   * @param accountBalance - account balance in wei
   * @returns new transaction with its value adjusted to `accountBalance - fee`
   */
  setMaxAmount(accountBalance) {
    const _0n10 = BigInt(0);
    if (typeof accountBalance !== "bigint" || accountBalance <= _0n10)
      throw new Error("account balance must be bigger than 0");
    if (this.isSigned)
      throw new Error("expected unsigned transaction");
    const fee = this.fee;
    const amountToSend = accountBalance - fee;
    if (amountToSend <= _0n10)
      throw new Error("account balance must be bigger than fee of " + fee);
    const raw = { ...this.raw, value: amountToSend };
    return new _Transaction(this.type, raw, { strict: this.strict });
  }
  /**
   * Decodes an EIP-2718 serialized transaction.
   * Unlike `prepare`, `strict` defaults to false: wire data is machine-produced or historical,
   * so the UI-oriented sanity limits (nonce, fee caps) applied to human input don't belong here.
   * @param bytes - serialized transaction
   * @param strict - validate fields as human/UI input. Default: false
   */
  static fromBytes(bytes, strict = false) {
    const raw = RawTx.decode(bytes);
    return new _Transaction(raw.type, raw.data, { strict });
  }
  /**
   * Decodes an EIP-2718 serialized transaction from hex.
   * Unlike `prepare`, `strict` defaults to false: see {@link Transaction.fromBytes}.
   * @param hex - serialized transaction, with or without `0x` prefix
   * @param strict - validate fields as human/UI input. Default: false
   */
  static fromHex(hex2, strict = false) {
    return _Transaction.fromBytes(ethHexNoLeadingZero.decode(hex2), strict);
  }
  // Discriminated view of `this`, so methods can narrow `raw` by checking `type`.
  asUnion() {
    return this;
  }
  assertIsSigned() {
    if (!this.isSigned)
      throw new Error("expected signed transaction");
  }
  /**
   * Converts transaction to RLP.
   * @param opts.includeSignature - whether to include signature. Default: true when signed
   */
  toBytes(opts = {}) {
    const includeSignature = opts.includeSignature ?? this.isSigned;
    const data = Object.assign({}, this.raw);
    if (includeSignature) {
      this.assertIsSigned();
    } else {
      removeSig(data);
    }
    return encodeRawTx(this.type, data);
  }
  /**
   * Converts transaction to hex.
   * @param opts.includeSignature - whether to include signature. Default: true when signed
   */
  toHex(opts = {}) {
    return ethHex.encode(this.toBytes(opts));
  }
  /** Calculates keccak-256 hash of signed transaction. Used in block explorers. */
  get hash() {
    this.assertIsSigned();
    return ethHex.encode(this.calcHash(true));
  }
  /** Returns sender's address. */
  get sender() {
    return this.recoverSender().address;
  }
  /**
   * For legacy transactions, but can be used with libraries when yParity presented as v.
   */
  get v() {
    return decodeLegacyV(this.raw);
  }
  calcHash(includeSignature) {
    return keccak_256(this.toBytes({ includeSignature }));
  }
  /** Calculates MAXIMUM fee in wei that could be spent. */
  get fee() {
    const tx = this.asUnion();
    let gasFee;
    if (tx.type === "legacy" || tx.type === "eip2930") {
      gasFee = tx.raw.gasPrice;
    } else {
      gasFee = tx.raw.maxFeePerGas;
    }
    let res = tx.raw.gasLimit * gasFee;
    if (tx.type === "eip4844") {
      res += GAS_PER_BLOB * BigInt(tx.raw.blobVersionedHashes.length) * tx.raw.maxFeePerBlobGas;
    }
    return res;
  }
  clone() {
    return new _Transaction(this.type, cloneDeep(this.raw), { strict: this.strict });
  }
  verifySignature() {
    this.assertIsSigned();
    const { r, s, yParity } = this.raw;
    const sig = initSig({ r, s }, yParity);
    if (sig.hasHighS())
      return false;
    const hash = this.calcHash(false);
    const publicKey = recoverPublicKey(sig, hash);
    return verify(sig.toBytes(), hash, publicKey);
  }
  removeSignature() {
    return new _Transaction(this.type, removeSig(cloneDeep(this.raw)), { strict: this.strict });
  }
  /**
   * Signs transaction with a private key.
   * @param privateKey key in hex or Uint8Array format
   * @param opts extraEntropy will increase security of sig by mixing rfc6979 randomness
   * @returns new "same" transaction, but signed
   */
  signBy(privateKey, extraEntropy = true) {
    if (this.isSigned)
      throw new Error("expected unsigned transaction");
    const priv = isBytes5(privateKey) ? privateKey : hexToBytes(strip0x(privateKey, "privateKey"));
    const hash = this.calcHash(false);
    const sig = sign(hash, priv, extraEntropy);
    const { r, s, recovery } = sig;
    const sraw = Object.assign(cloneDeep(this.raw), { r, s, yParity: recovery });
    return new _Transaction(this.type, sraw, { strict: false });
  }
  /** Calculates public key and address from signed transaction's signature. */
  recoverSender() {
    this.assertIsSigned();
    const { r, s, yParity } = this.raw;
    const sig = initSig({ r, s }, yParity);
    if (sig.hasHighS())
      throw new Error("invalid s");
    const publicKey = recoverPublicKey(sig, this.calcHash(false));
    return { publicKey: ethHex.encode(publicKey), address: addr.fromPublicKey(publicKey) };
  }
};

// node_modules/micro-eth-signer/abi/mapper.js
var ARRAY_RE = /(.+)(\[(\d+)?\])$/;
function EPad(p) {
  return padLeft(32, p, ZeroPad);
}
var MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
var U256BE_SAFE = wrap({
  size: 32,
  encodeStream: (w, value) => {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new Error(`ABI word: expected safe uint, got ${value}`);
    U256BE.encodeStream(w, BigInt(value));
  },
  decodeStream: (r) => {
    const value = U256BE.decodeStream(r);
    if (value > MAX_SAFE)
      throw new Error(`ABI word: expected safe uint, got ${value}`);
    return Number(value);
  }
});
var PTR = U256BE_SAFE;
var U256BE_LEN = U256BE_SAFE;
function ethArray(inner) {
  return wrap({
    size: void 0,
    encodeStream: (w, value) => {
      U256BE_LEN.encodeStream(w, value.length);
      w.bytes(array(value.length, inner).encode(value));
    },
    decodeStream: (r) => array(U256BE_LEN.decodeStream(r), inner).decodeStream(r.offsetReader(r.pos))
  });
}
var ethInt = (bits, signed = false) => {
  if (!Number.isSafeInteger(bits) || bits <= 0 || bits % 8 !== 0 || bits > 256)
    throw new Error("ethInt: invalid numeric type");
  const _bits = BigInt(bits);
  const inner = bigint(32, false, signed);
  return validate(wrap({
    size: inner.size,
    encodeStream: (w, value) => inner.encodeStream(w, value),
    decodeStream: (r) => inner.decodeStream(r)
  }), (value) => {
    if (typeof value === "number") {
      if (!Number.isSafeInteger(value))
        throw new Error(`ethInt: expected safe integer, got ${value}`);
      value = BigInt(value);
    }
    utils.checkBounds(value, _bits, !!signed);
    return value;
  });
};
function isDyn(args) {
  let res = false;
  if (Array.isArray(args)) {
    for (let arg of args)
      if (arg.size === void 0)
        res = true;
  } else {
    for (let arg in args)
      if (args[arg].size === void 0)
        res = true;
  }
  return res;
}
var MAX_COMPONENT_DEPTH = 128;
function mapComponent(c) {
  return mapComponentInner(c, 0);
}
function mapComponentInner(c, depth) {
  if (depth > MAX_COMPONENT_DEPTH)
    throw new RangeError(`mapComponent: schema too deep, limit is ${MAX_COMPONENT_DEPTH}`);
  let m;
  if (m = ARRAY_RE.exec(c.type)) {
    const inner = mapComponentInner({ ...c, type: m[1] }, depth + 1);
    if (inner.size === 0)
      throw new Error("mapComponent: arrays of zero-size elements disabled (possible DoS attack)");
    if (m[3] !== void 0) {
      const m3 = Number.parseInt(m[3]);
      if (!Number.isSafeInteger(m3))
        throw new Error(`mapComponent: wrong array size=${m[3]}`);
      let out = array(m3, inner);
      if (inner.size === void 0)
        out = pointer(PTR, out);
      return out;
    } else {
      return pointer(PTR, ethArray(inner));
    }
  }
  if (c.type === "tuple") {
    const components = c.components;
    if (!components || !components.length)
      throw new Error("mapComponent: zero-size tuple disabled");
    let hasNames = true;
    const args = [];
    for (let comp of components) {
      if (!comp.name)
        hasNames = false;
      args.push(mapComponentInner(comp, depth + 1));
    }
    let out;
    if (hasNames) {
      const struct3 = /* @__PURE__ */ Object.create(null);
      for (let i = 0; i < components.length; i++) {
        const arg = components[i];
        if (Object.hasOwn(struct3, arg.name))
          throw new Error(`mapType: same field name=${arg.name}`);
        struct3[arg.name] = args[i];
      }
      out = struct(struct3);
    } else
      out = tuple(args);
    if (isDyn(args))
      out = pointer(PTR, out);
    return out;
  }
  if (c.type === "string")
    return pointer(PTR, padRight(32, string(U256BE_LEN), ZeroPad));
  if (c.type === "bytes")
    return pointer(PTR, padRight(32, createBytes(U256BE_LEN), ZeroPad));
  if (c.type === "function")
    return mapComponentInner({ ...c, type: "bytes24" }, depth + 1);
  if (c.type === "address")
    return EPad(createHex(20, { isLE: false, with0x: true }));
  if (c.type === "bool")
    return EPad(bool);
  if (m = /^(u?)int([0-9]+)?$/.exec(c.type))
    return ethInt(m[2] ? +m[2] : 256, m[1] !== "u");
  if (m = /^bytes([0-9]{1,2})$/.exec(c.type)) {
    const parsed = +m[1];
    if (!parsed || parsed > 32)
      throw new Error("wrong bytes<N> type");
    return padRight(32, createBytes(parsed), ZeroPad);
  }
  throw new Error(`mapComponent: unknown component=${c}`);
}
function mapArgs(args) {
  if (args.length === 1)
    return mapComponent(args[0]);
  let hasNames = true;
  for (const arg of args)
    if (!arg.name)
      hasNames = false;
  if (hasNames) {
    const out = /* @__PURE__ */ Object.create(null);
    for (const arg of args) {
      const name = arg.name;
      if (Object.hasOwn(out, name))
        throw new Error(`mapArgs: same field name=${name}`);
      out[name] = mapComponent(arg);
    }
    return struct(out);
  } else
    return tuple(args.map(mapComponent));
}

// node_modules/micro-eth-signer/core/message.js
function getSigner(version, msgFn) {
  if (version < 0 || version >= 256 || !Number.isSafeInteger(version))
    throw new Error("Wrong version byte");
  const fn = msgFn;
  const hashMessage = (message) => keccak_256(concatBytes(new Uint8Array([25, version]), fn(message)));
  return {
    getHash: (message) => ethHex.encode(hashMessage(message)),
    sign(message, privateKey, extraEntropy = true) {
      const hash = hashMessage(message);
      if (typeof privateKey === "string")
        privateKey = ethHex.decode(privateKey);
      const sig = sign(hash, privateKey, extraEntropy);
      const end = sig.recovery === 0 ? "1b" : "1c";
      return add0x(sig.toHex("compact") + end);
    },
    recoverAddress(signature, message) {
      astring2(signature);
      const hash = hashMessage(message);
      signature = strip0x(signature);
      if (signature.length !== 65 * 2)
        throw new Error("invalid signature length");
      const sigh = signature.slice(0, -2);
      const end = signature.slice(-2);
      if (!["1b", "1c"].includes(end))
        throw new Error("invalid recovery bit");
      const sig = initSig(hexToBytes(sigh), end === "1b" ? 0 : 1);
      const publicKey = recoverPublicKey(sig, hash);
      if (!verify(sig.toBytes("compact"), hash, publicKey))
        throw new Error("invalid signature");
      return addr.fromPublicKey(publicKey);
    },
    verify(signature, message, address) {
      const recAddr = this.recoverAddress(signature, message);
      const low = recAddr.toLowerCase();
      const upp = recAddr.toUpperCase();
      if (address === low || address === upp)
        return true;
      return recAddr === address;
    }
  };
}
var MAX_EIP712_TYPES = 256;
var MAX_EIP712_SCHEMA_FIELDS = 1024;
var MAX_EIP712_MESSAGE_DEPTH = 64;
var MAX_EIP712_MESSAGE_NODES = 4096;
var MAX_EIP712_IDENTIFIER_LENGTH = 1024;
var MAX_EIP712_EXPANDED_TYPE_CHARS = 1048576;
var isIdentifier = (s) => /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(s);
var assertIdentifierLength = (s) => {
  if (s.length > MAX_EIP712_IDENTIFIER_LENGTH)
    throw new RangeError(`EIP712: identifier too long, limit is ${MAX_EIP712_IDENTIFIER_LENGTH} characters`);
};
function parseType(s) {
  let m = s.match(/^([^\[\]]+)((?:\[[0-9]*\])*)$/);
  if (!m)
    throw new Error(`parseType: wrong type: ${s}`);
  const base = m[1];
  assertIdentifierLength(base);
  const arrays = m[2];
  const lastArray = arrays.match(/\[([0-9]*)\]$/);
  const isArray = lastArray !== null;
  const arrayStr = lastArray ? lastArray[1] : void 0;
  const arrayLen = arrayStr !== void 0 && arrayStr !== "" ? Number(arrayStr) : void 0;
  if (arrayLen !== void 0 && (!Number.isSafeInteger(arrayLen) || arrayLen.toString() !== arrayStr)) {
    throw new Error(`parseType: wrong array length: ${s}`);
  }
  let type = "struct";
  if (["string", "bytes"].includes(base))
    type = "dynamic";
  else if (["bool", "address"].includes(base))
    type = "atomic";
  else if (m = /^(u?)int([0-9]+)?$/.exec(base)) {
    const bits = m[2] ? +m[2] : 256;
    if (!Number.isSafeInteger(bits) || bits <= 0 || bits % 8 !== 0 || bits > 256)
      throw new Error("parseType: invalid numeric type");
    type = "atomic";
  } else if (m = /^bytes([0-9]{1,2})$/.exec(base)) {
    const bytes = +m[1];
    if (!bytes || bytes > 32)
      throw new Error(`parseType: wrong bytes<N=${bytes}> type`);
    type = "atomic";
  } else if (!isIdentifier(base))
    throw new Error(`parseType: wrong type: ${s}`);
  const item = lastArray ? s.slice(0, -lastArray[0].length) : s;
  return { base, item, type, arrayLen, isArray };
}
function getDependencies(types) {
  if (typeof types !== "object" || types === null)
    throw new Error("wrong types object");
  const typeEntries = Object.entries(types);
  if (typeEntries.length > MAX_EIP712_TYPES)
    throw new RangeError(`EIP712: too many types, limit is ${MAX_EIP712_TYPES}`);
  const res = {};
  let totalFields = 0;
  for (const [name, fields] of typeEntries) {
    assertIdentifierLength(name);
    if (!isIdentifier(name))
      throw new Error(`getDependencies: wrong struct type name=${name}`);
    if (!Array.isArray(fields))
      throw new Error(`getDependencies: fields for ${name} should be array`);
    totalFields += fields.length;
    if (totalFields > MAX_EIP712_SCHEMA_FIELDS) {
      throw new RangeError(`EIP712: too many schema fields, limit is ${MAX_EIP712_SCHEMA_FIELDS}`);
    }
    const cur = /* @__PURE__ */ new Set();
    for (const { name: fieldName, type } of fields) {
      if (typeof fieldName !== "string")
        throw new Error(`EIP712: invalid field name=${fieldName} in type ${name}`);
      assertIdentifierLength(fieldName);
      if (!isIdentifier(fieldName))
        throw new Error(`EIP712: invalid field name=${fieldName} in type ${name}`);
      const p = parseType(type);
      if (p.type !== "struct")
        continue;
      if (p.base === name)
        continue;
      if (!types[p.base])
        throw new Error(`getDependencies: wrong struct type name=${type}`);
      cur.add(p.base);
    }
    res[name] = cur;
  }
  for (let changed = true; changed; ) {
    changed = false;
    for (const [name, curDeps] of Object.entries(res)) {
      const trDeps = Array.from(curDeps).map((i) => res[i]);
      for (const d of trDeps) {
        for (const td of d) {
          if (td === name || curDeps.has(td))
            continue;
          curDeps.add(td);
          changed = true;
        }
      }
    }
  }
  return res;
}
function getTypes(types) {
  const deps = getDependencies(types);
  const names = {};
  let expandedTypeChars = 0;
  const addExpandedTypeChars = (chars) => {
    expandedTypeChars += chars;
    if (expandedTypeChars > MAX_EIP712_EXPANDED_TYPE_CHARS)
      throw new RangeError(`EIP712: expanded schema too large, limit is ${MAX_EIP712_EXPANDED_TYPE_CHARS} characters`);
  };
  for (const type in types) {
    const fields2 = types[type];
    let nameChars = type.length + 2 + Math.max(0, fields2.length - 1);
    for (const field of fields2)
      nameChars += field.type.length + 1 + field.name.length;
    addExpandedTypeChars(nameChars);
    const name = `${type}(${types[type].map(({ name: name2, type: type2 }) => `${type2} ${name2}`).join(",")})`;
    names[type] = name;
  }
  const fullNames = {};
  for (const [name, curDeps] of Object.entries(deps)) {
    const n = [name].concat(Array.from(curDeps).sort());
    addExpandedTypeChars(n.reduce((chars, type) => chars + names[type].length, 0));
    fullNames[name] = n.map((i) => names[i]).join("");
  }
  const hashes = Object.fromEntries(Object.entries(fullNames).map(([k, v]) => [k, keccak_256(utf8ToBytes(v))]));
  const fields = {};
  for (const type in types) {
    const res = /* @__PURE__ */ new Set();
    for (const { name } of types[type]) {
      if (res.has(name))
        throw new Error(`field ${name} included multiple times in type ${type}`);
      res.add(name);
    }
    fields[type] = res;
  }
  return { names, fullNames, hashes, fields };
}
function encoder(types, domain) {
  if (!isObject(domain))
    throw Error(`wrong domain=${domain}`);
  if (!isObject(types))
    throw Error(`wrong types=${types}`);
  const schema = deepFreeze(cloneDeep(types));
  const info = getTypes(schema);
  const encodeField = (type, data, withHash, depth, budget) => {
    if (depth > MAX_EIP712_MESSAGE_DEPTH)
      throw new RangeError(`EIP712: message too deep, limit is ${MAX_EIP712_MESSAGE_DEPTH}`);
    if (++budget.nodes > MAX_EIP712_MESSAGE_NODES)
      throw new RangeError(`EIP712: message too large, limit is ${MAX_EIP712_MESSAGE_NODES} nodes`);
    const p = parseType(type);
    if (p.isArray) {
      if (!Array.isArray(data))
        throw new Error(`expected array, got: ${data}`);
      if (p.arrayLen !== void 0 && data.length !== p.arrayLen)
        throw new Error(`wrong array length: expected ${p.arrayLen}, got ${data}`);
      if (data.length > MAX_EIP712_MESSAGE_NODES - budget.nodes)
        throw new RangeError(`EIP712: message too large, limit is ${MAX_EIP712_MESSAGE_NODES} nodes`);
      const hash = keccak_256.create();
      for (const item of data)
        hash.update(encodeField(p.item, item, true, depth + 1, budget));
      return hash.digest();
    }
    if (p.type === "struct") {
      const def = schema[type];
      if (!def)
        throw new Error(`wrong type: ${type}`);
      const fieldNames = info.fields[type];
      if (!isObject(data))
        throw new Error(`encoding non-object as custom type ${type}`);
      for (const k in data)
        if (!fieldNames.has(k))
          throw new Error(`unexpected field ${k} in ${type}`);
      const typeHash = info.hashes[p.base];
      const hash = withHash ? keccak_256.create().update(typeHash) : void 0;
      const res = withHash ? void 0 : new Uint8Array(32 * (def.length + 1));
      if (res)
        res.set(typeHash);
      let offset = 32;
      for (const { name, type: type2 } of def) {
        let field;
        if (schema[type2] && data[name] === void 0) {
          field = new Uint8Array(32);
        } else
          field = encodeField(type2, data[name], true, depth + 1, budget);
        if (hash)
          hash.update(field);
        else {
          res.set(field, offset);
          offset += 32;
        }
      }
      return hash ? hash.digest() : res;
    }
    if (type === "string" || type === "bytes") {
      if (type === "bytes" && typeof data === "string")
        data = ethHex.decode(data);
      return keccak_256(typeof data === "string" ? utf8ToBytes(data) : data);
    }
    if (type.startsWith("bytes") && typeof data === "string")
      data = ethHex.decode(data);
    if ((type.startsWith("int") || type.startsWith("uint")) && typeof data === "string")
      data = BigInt(data);
    return mapComponent({ type }).encode(data);
  };
  const encodeData = (type, data) => {
    astring2(type);
    if (!schema[type])
      throw new Error(`Unknown type: ${type}`);
    if (!isObject(data))
      throw new Error("wrong data object");
    return encodeField(type, data, false, 0, { nodes: 0 });
  };
  const structHash = (type, data) => keccak_256(encodeData(type, data));
  const domainHash = structHash("EIP712Domain", domain);
  const signer = getSigner(1, (msg) => {
    if (typeof msg.primaryType !== "string")
      throw Error(`wrong primaryType=${msg.primaryType}`);
    if (!isObject(msg.message))
      throw Error(`wrong message=${msg.message}`);
    if (msg.primaryType === "EIP712Domain")
      return domainHash;
    return concatBytes(domainHash, structHash(msg.primaryType, msg.message));
  });
  return {
    encodeData: (type, message) => ethHex.encode(encodeData(type, message)),
    structHash: (type, message) => ethHex.encode(structHash(type, message)),
    // Signer
    getHash: (primaryType, message) => signer.getHash({ primaryType, message }),
    sign: (primaryType, message, privateKey, extraEntropy) => signer.sign({ primaryType, message }, privateKey, extraEntropy),
    verify: (primaryType, signature, message, address) => signer.verify(signature, { primaryType, message }, address),
    recoverAddress: (primaryType, signature, message) => signer.recoverAddress(signature, { primaryType, message })
  };
}
var EIP712Domain = [
  { name: "name", type: "string" },
  // the user readable name of signing domain, i.e. the name of the DApp or the protocol.
  { name: "version", type: "string" },
  // the current major version of the signing domain. Signatures from different versions are not compatible.
  { name: "chainId", type: "uint256" },
  // the EIP-155 chain id. The user-agent should refuse signing if it does not match the currently active chain.
  { name: "verifyingContract", type: "address" },
  // the address of the contract that will verify the signature. The user-agent may do contract specific phishing prevention.
  { name: "salt", type: "bytes32" }
  // an disambiguating salt for the protocol. This can be used as a domain separator of last resort.
];
function getDomainType(domain) {
  return EIP712Domain.filter(({ name }) => Object.hasOwn(domain, name) && domain[name] !== void 0);
}

// node_modules/micro-eth-signer/index.js
var addr2 = addr;
var Transaction2 = Transaction;

// node_modules/micro-eth-signer/clearsig.js
var PATH_INDEX = /* @__PURE__ */ Symbol("clearSig.pathIndex");
var ABI_FN = /* @__PURE__ */ Symbol("clearSig.abiFn");
var CHAINS = {
  1: { name: "Ethereum Mainnet", ticker: "ETH" },
  137: { name: "Polygon", ticker: "POL" },
  43114: { name: "Avalanche C-Chain", ticker: "AVAX" }
};
var _0n9 = /* @__PURE__ */ BigInt(0);
var _1n7 = /* @__PURE__ */ BigInt(1);
var MAX_CHAIN = /* @__PURE__ */ (() => BigInt(Number.MAX_SAFE_INTEGER))();
var NAME = "[A-Za-z_$][A-Za-z0-9_$]*";
var ARG = /* @__PURE__ */ (() => new RegExp(`^(${NAME}(?:\\[[0-9]*\\])*)\\s*(${NAME})?$`))();
var SUFFIX = /* @__PURE__ */ (() => new RegExp(`^((?:\\[[0-9]*\\])*)\\s*(${NAME})?$`))();
var eip712Key = (key) => ethHex.encode(keccak_256(utf8ToBytes(key)));
var matchParen = (s, open) => {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === "(")
      depth++;
    else if (s[i] === ")" && !--depth)
      return i;
  }
  throw new Error(`clearSig: unclosed function signature in ${s}`);
};
var splitArgs = (s) => {
  const out = [];
  let depth = 0;
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "(")
      depth++;
    else if (s[i] === ")")
      depth--;
    else if (s[i] === "," && !depth) {
      out.push(s.slice(last, i));
      last = i + 1;
    }
  }
  out.push(s.slice(last));
  return out.map((i) => i.trim()).filter((i) => i);
};
var parseArg = (part) => {
  if (part[0] === "(") {
    const close = matchParen(part, 0);
    const m = SUFFIX.exec(part.slice(close + 1));
    if (!m)
      throw new Error(`clearSig: expected ABI argument, got ${part}`);
    return {
      type: `tuple${m[1]}`,
      ...m[2] ? { name: m[2] } : {},
      components: splitArgs(part.slice(1, close)).map(parseArg)
    };
  }
  const arg = ARG.exec(part);
  if (!arg)
    throw new Error(`clearSig: expected ABI argument, got ${part}`);
  let type = arg[1];
  if (type === "uint")
    type = "uint256";
  else if (type === "int")
    type = "int256";
  return arg[2] ? { type, name: arg[2] } : { type };
};
var arr = (v) => Array.isArray(v) ? v : v === void 0 ? [] : [v];
var formats = (desc) => {
  const fmts = desc.display && desc.display.formats;
  if (!fmts || typeof fmts !== "object")
    throw new Error("clearSig: missing display.formats");
  return fmts;
};
var resolveIncludes = (desc, str) => {
  let out = {};
  const overlays = [
    ...arr(desc.includes).map((inc) => typeof inc === "string" ? str(inc) : resolveIncludes(inc, str)),
    omit(desc, "includes")
  ];
  for (const over of overlays) {
    const bd = out.display || {};
    const od = over.display || {};
    const fmts = { ...bd.formats || {} };
    for (const key of Object.keys(od.formats || {})) {
      const fmt = od.formats[key];
      if (!fmts[key]) {
        fmts[key] = fmt;
        continue;
      }
      const fields = (fmts[key].fields || []).slice();
      for (const field of fmt.fields || []) {
        const idx = fields.findIndex((i) => Object.hasOwn(field, "path") && Object.hasOwn(i, "path") && i.path === field.path || Object.hasOwn(field, "value") && Object.hasOwn(i, "value") && i.value === field.value);
        if (idx >= 0)
          fields[idx] = {
            ...fields[idx],
            ...field,
            params: { ...fields[idx].params || {}, ...field.params || {} }
          };
        else
          fields.push(field);
      }
      fmts[key] = { ...fmts[key], ...fmt, fields };
    }
    out = {
      ...out,
      ...over,
      context: { ...out.context || {}, ...over.context || {} },
      metadata: { ...out.metadata || {}, ...over.metadata || {} },
      display: {
        ...bd,
        ...od,
        definitions: { ...bd.definitions || {}, ...od.definitions || {} },
        formats: fmts
      }
    };
  }
  return out;
};
var cast = {
  // Deterministic fallback display for unsupported/opaque values.
  raw(v) {
    if (typeof v === "bigint" || typeof v === "number" || typeof v === "boolean")
      return `${v}`;
    if (typeof v === "string")
      return v;
    if (isBytes5(v))
      return ethHex.encode(v);
    if (Array.isArray(v))
      return v.map((i) => cast.raw(i)).join(", ");
    if (isObject(v))
      return JSON.stringify(v, (_, val) => typeof val === "bigint" ? val.toString() : val);
    return `${v}`;
  },
  // ERC-7730 integer values include uint256-sized amounts and EIP-155 chain ids,
  // so normalized integer data stays bigint until an API explicitly needs text.
  integer(v) {
    if (typeof v === "number" && !Number.isSafeInteger(v))
      throw new Error(`clearSig: expected safe integer, got ${v}`);
    if (typeof v === "bigint" || typeof v === "number" || typeof v === "string")
      return BigInt(v);
    if (isBytes5(v))
      return bytesToNumberBE(v);
    throw new Error(`clearSig: expected integer, got ${cast.raw(v)}`);
  },
  chain(v) {
    const id = cast.integer(v);
    if (id < _0n9 || id > MAX_CHAIN)
      throw new Error(`clearSig: expected safe integer chainId, got ${cast.raw(v)}`);
    return id;
  },
  address(v) {
    if (typeof v === "string") {
      if (v === "0x0")
        return v;
      return add0x(addr.parse(v).data);
    }
    if (isBytes5(v) && v.length === 20)
      return ethHex.encode(v);
    throw new Error(`clearSig: expected address, got ${cast.raw(v)}`);
  },
  // ERC-7730 does not define scalar slice byte semantics; with an ABI component,
  // decoded scalars become their canonical ABI bytes (declared-width integers, etc).
  bytes(v, c) {
    if (c && /^u?int[0-9]*$/.test(c.type))
      return mapComponent(c).encode(v);
    if (c && c.type === "bool") {
      if (typeof v !== "boolean")
        throw new Error(`clearSig: expected bool, got ${cast.raw(v)}`);
      return new Uint8Array([v ? 1 : 0]);
    }
    let b;
    if (c && c.type === "address")
      b = ethHex.decode(cast.address(v));
    else if (isBytes5(v))
      b = v;
    else if (typeof v === "string" && /^0x[0-9a-fA-F]*$/.test(v))
      b = ethHex.decode(v);
    if (!b)
      throw new Error(`clearSig: expected bytes, got ${cast.raw(v)}`);
    if (c && /^bytes[0-9]{1,2}$/.test(c.type))
      mapComponent(c).encode(b);
    return b;
  }
};
var _chain = (v = _1n7) => cast.chain(v);
var typedCtx = (domain) => ({
  to: domain.verifyingContract,
  chainId: domain.chainId === void 0 ? void 0 : cast.chain(domain.chainId)
});
var deployments = (context) => [
  ...context.contract && context.contract.deployments || [],
  ...context.eip712 && context.eip712.deployments || []
];
var tokenMeta = (token) => ({
  name: token.name,
  symbol: token.ticker || token.symbol,
  decimals: token.decimals
});
var jsonPath = ((path, base = "", run) => {
  if (run) {
    const r = run;
    if (r.idx >= r.toks.length)
      return r.obj;
    const tok = r.toks[r.idx];
    const spread = (items) => {
      const flat = r.toks.some((t, i) => i > r.idx && (t.t === "all" || t.t === "slice"));
      const out = [];
      for (const item of items) {
        const v = jsonPath(path, base, { ...r, obj: item, idx: r.idx + 1 });
        if (flat && Array.isArray(v))
          out.push(...v);
        else
          out.push(v);
      }
      return out;
    };
    if (tok.t === "root")
      return jsonPath(path, base, { ...r, obj: r.root[tok.root], idx: r.idx + 1 });
    if (tok.t === "name") {
      if (tok.name === "length") {
        if (Array.isArray(r.obj) || isBytes5(r.obj) || typeof r.obj === "string")
          return jsonPath(path, base, { ...r, obj: r.obj.length, idx: r.idx + 1 });
        throw new Error("clearSig: expected sized value for length path");
      }
      if (!r.obj || typeof r.obj !== "object" || !Object.hasOwn(r.obj, tok.name))
        throw new Error(`clearSig: missing path part=${tok.name}`);
      return jsonPath(path, base, {
        ...r,
        obj: r.obj[tok.name],
        idx: r.idx + 1
      });
    }
    if (tok.t === "idx" || tok.t === "all") {
      if (!Array.isArray(r.obj))
        throw new Error(`clearSig: expected array for ${tok.t === "all" ? "[]" : "index"} path`);
      const at = tok.t === "idx" ? tok.n < 0 ? r.obj.length + tok.n : tok.n : r.root[PATH_INDEX];
      if (at !== void 0) {
        if (at < 0 || at >= r.obj.length)
          throw new Error(`clearSig: path index ${tok.t === "idx" ? tok.n : at} out of range`);
        return jsonPath(path, base, { ...r, obj: r.obj[at], idx: r.idx + 1 });
      }
      return spread(r.obj);
    }
    let comp;
    if (r.abi)
      for (let i = 0; i < r.idx; i++) {
        const t = r.toks[i];
        if (t.t === "root") {
          if (t.root !== "#") {
            comp = void 0;
            break;
          }
          comp = void 0;
        } else if (t.t === "name") {
          const list = !comp ? r.abi.inputs : comp.type === "tuple" ? comp.components : void 0;
          comp = list && list.find((j) => j.name === t.name);
          if (!comp)
            break;
        } else {
          const array3 = comp && ARRAY_RE.exec(comp.type);
          if (!array3) {
            comp = void 0;
            break;
          }
          comp = { ...comp, type: array3[1] };
        }
      }
    const src = Array.isArray(r.obj) || typeof r.obj === "string" || isBytes5(r.obj) ? r.obj : cast.bytes(r.obj, comp);
    const len = src.length;
    const lo = tok.a === void 0 ? 0 : tok.a < 0 ? len + tok.a : tok.a;
    const hi = tok.b === void 0 ? len : tok.b < 0 ? len + tok.b : tok.b;
    const from = Math.min(Math.max(lo, 0), len);
    const to = Math.min(Math.max(hi, 0), len);
    if (!Array.isArray(src))
      return jsonPath(path, base, { ...r, obj: src.slice(from, to), idx: r.idx + 1 });
    return spread(src.slice(from, to));
  }
  const rooted = path[0] === "#" || path[0] === "@" || path[0] === "$";
  const shown = base && !rooted ? `${base}.${path}` : path;
  const toks = [];
  for (const part of shown.replace(/([A-Za-z0-9_$\]])\[/g, "$1.[").split(".")) {
    if (!part)
      continue;
    if (part === "#" || part === "@" || part === "$")
      toks.push({ t: "root", root: part });
    else if (part[0] === "[") {
      const sel = /^\[(.*)\]$/.exec(part);
      if (!sel)
        throw new Error(`clearSig: unclosed path selector in ${shown}`);
      const body = sel[1];
      const slice = /^(-?\d*)?:(-?\d*)?$/.exec(body);
      if (body.includes(":") && !slice)
        throw new Error("clearSig: ERC-7730 path slice step is not supported");
      if (body === "")
        toks.push({ t: "all" });
      else if (/^-?\d+$/.test(body))
        toks.push({ t: "idx", n: Number(body) });
      else if (slice)
        toks.push({
          t: "slice",
          a: slice[1] ? Number(slice[1]) : void 0,
          b: slice[2] ? Number(slice[2]) : void 0
        });
      else
        throw new Error(`clearSig: unsupported ERC-7730 path selector [${body}]`);
    } else
      toks.push({ t: "name", name: part });
  }
  const many = toks.some((t) => t.t === "all" || t.t === "slice");
  return Object.assign((root) => {
    const data = root["#"];
    const abi = isObject(data) && Object.hasOwn(data, ABI_FN) ? data[ABI_FN] : void 0;
    return jsonPath(path, base, {
      root,
      obj: toks.length && toks[0].t === "root" ? root : root["#"],
      idx: 0,
      toks,
      abi
    });
  }, { path: shown, root: rooted, many });
});
var same = (a, b) => {
  if (a === void 0 || b === void 0)
    return a === b;
  return typeof a === "bigint" || typeof b === "bigint" || typeof a === "number" || typeof b === "number" ? cast.integer(a) === cast.integer(b) : cast.raw(a) === cast.raw(b);
};
var packed = (v) => typeof v === "bigint" ? add0x(bytesToHex(numberToBytesBE(v, 32).slice(-20))) : v;
var chainMeta = async (id, opt) => {
  const o = opt;
  const resolved = o.resolveChain && await o.resolveChain({ chainId: id });
  return { ...CHAINS[Number(id)], ...resolved };
};
var native = async (value, chainId, opt) => {
  const id = cast.chain(chainId === void 0 ? _1n7 : chainId);
  const ticker = (await chainMeta(id, opt)).ticker || "ETH";
  return `${weieth.encode(cast.integer(value))} ${ticker}`;
};
var hasAddr = (list, address, arg) => arr(list).some((i) => address === cast.address(arg(i)).toLowerCase());
var formatters = {
  async tokenAmount({ value, ctx, opt, p, param, arg, meta }) {
    const n = cast.integer(value);
    const token = param("token", ctx.to);
    const chainId = param("chainId", ctx.chainId);
    const tokenAddr = cast.address(packed(token)).toLowerCase();
    if (hasAddr(p.nativeCurrencyAddress, tokenAddr, arg))
      return native(value, chainId, opt);
    const m = await meta(tokenAddr, chainId);
    if (!m || m.decimals === void 0 || !m.symbol)
      return `${n} ???`;
    if (p.threshold !== void 0 && n >= cast.integer(arg(p.threshold)))
      return `${p.message || "Unlimited"} ${m.symbol}`;
    return `${createDecimal(m.decimals).encode(n)} ${m.symbol}`;
  },
  amount: ({ value, ctx, opt }) => native(value, ctx.chainId, opt),
  async addressName({ value, ctx, opt, p, arg, meta, named }) {
    const a = cast.address(packed(value));
    if (hasAddr(p.senderAddress, a.toLowerCase(), arg))
      return ctx.from || a;
    const resolved = await named(opt.resolveAddress, { address: a.toLowerCase() });
    if (resolved)
      return resolved;
    if (Array.isArray(p.sources) && !p.sources.includes("local"))
      return a;
    const m = await meta(a);
    return m && m.name || a;
  },
  async date({ value, ctx, opt, p, req }) {
    const date = (v) => new Date(Number(cast.integer(v)) * 1e3).toUTCString();
    if (p.encoding === "blockheight") {
      const resolved = opt.resolveBlock && await opt.resolveBlock(req({ block: cast.integer(value), chainId: ctx.chainId }));
      if (resolved === void 0)
        return cast.raw(value);
      if (!Number.isSafeInteger(resolved))
        throw new Error(`clearSig: expected unix timestamp number, got ${resolved}`);
      return date(resolved);
    }
    return date(value);
  },
  duration({ value }) {
    const sec = Number(cast.integer(value));
    const pad = (n) => `${n}`.padStart(2, "0");
    return `${pad(Math.floor(sec / 3600))}:${pad(Math.floor(sec / 60) % 60)}:${pad(sec % 60)}`;
  },
  unit({ value, p, arg }) {
    const u = p.base !== void 0 ? { ...p, base: arg(p.base) } : p;
    const decimals = u.decimals === void 0 ? 0 : Number(u.decimals);
    const n = cast.integer(value);
    if (!u.base)
      return createDecimal(decimals).encode(n);
    if (!u.prefix)
      return `${createDecimal(decimals).encode(n)} ${u.base}`;
    const abs = n < _0n9 ? -n : n;
    const shift = abs.toString().length - decimals - 1;
    const si = ["", "k", "M", "G", "T", "P", "E"];
    const idx = Math.max(0, Math.min(si.length - 1, Math.floor(shift / 3)));
    return `${createDecimal(decimals + idx * 3).encode(n)}${si[idx]}${u.base}`;
  },
  async tokenTicker({ value, ctx, param, meta }) {
    const token = param("token", value);
    const m = await meta(token, param("chainId", ctx.chainId));
    return m && m.symbol || cast.address(token);
  },
  // NFT and interoperable-address names rely on wallet trust sources; in
  // no-network mode ERC-7730 permits raw fallback display.
  async nftName({ value, ctx, opt, param, req }) {
    const collection = param("collection", ctx.to);
    const r = collection !== void 0 && opt.resolveNft && await opt.resolveNft(req({
      collection: cast.address(collection).toLowerCase(),
      tokenId: cast.integer(value),
      chainId: ctx.chainId
    }));
    if (!r || typeof r !== "string" && r.verified === false)
      return cast.raw(value);
    if (typeof r === "string")
      return r;
    return r.name || r.tokenName || (r.collectionName ? `${r.collectionName} #${cast.raw(value)}` : cast.raw(value));
  },
  async interoperableAddressName({ value, opt, named }) {
    const resolved = await named(opt.resolveInteroperableAddress, { value: cast.bytes(value) });
    return resolved || cast.raw(value);
  },
  // Embedded calldata: resolve another descriptor by callee/selector; if nothing
  // matches, wallets may fall back to opaque calldata display.
  async calldata({ value, ctx, opt, param, sub, req }) {
    const call = {
      to: cast.address(param("callee", ctx.to)),
      data: isBytes5(value) ? value : ethHex.decode(cast.raw(value)),
      chainId: ctx.chainId
    };
    const selector = param("selector");
    if (selector !== void 0) {
      const want = cast.bytes(selector).slice(-4);
      if (!equalBytes(call.data.slice(0, 4), want))
        call.data = concatBytes(want, call.data);
    }
    const amount = param("amount");
    if (amount !== void 0)
      call.value = cast.integer(amount);
    const chainId = param("chainId");
    if (chainId !== void 0)
      call.chainId = cast.chain(chainId);
    const spender = param("spender");
    if (spender !== void 0)
      call.from = cast.address(spender);
    const inner = await sub(call);
    if (inner)
      return inner;
    const resolved = opt.resolveCalldata && await opt.resolveCalldata(req({
      to: call.to.toLowerCase(),
      data: call.data,
      selector: add0x(bytesToHex(call.data.slice(0, 4))),
      chainId: _chain(call.chainId),
      value: call.value,
      from: call.from
    }));
    if (!resolved)
      return cast.raw(value);
    return await sub(call, resolved) || cast.raw(value);
  },
  enum({ value, p }) {
    const vals = p.values || p;
    const key = `${value}`;
    const alt = key === "true" ? "True" : key === "false" ? "False" : key;
    const hit = isObject(vals) && (Object.hasOwn(vals, key) ? key : Object.hasOwn(vals, alt) ? alt : "");
    return hit ? vals[hit] : cast.raw(value);
  },
  async chainId({ value, opt }) {
    return (await chainMeta(cast.chain(value), opt)).name || `${value}`;
  }
};
var cleanDeployments = (deployments2 = []) => deployments2.filter((i) => i && i.address).map((i) => {
  if (i.chainId === void 0)
    throw new Error("clearSig: missing deployment chainId");
  if (typeof i.chainId === "number" && !Number.isSafeInteger(i.chainId))
    throw new Error(`clearSig: expected safe number deployment chainId, got ${i.chainId}`);
  return { address: i.address.toLowerCase(), chainId: cast.chain(i.chainId) };
}).filter((d, i, a) => a.findIndex((j) => j.address === d.address && j.chainId === d.chainId) === i);
var eip712ContextMatches = (desc, typed) => {
  const eip = (desc.context || {}).eip712;
  if (!eip)
    return true;
  const domain = typed.domain;
  if (eip.deployments) {
    if (typeof domain.verifyingContract !== "string" || domain.chainId === void 0)
      return false;
    const address = domain.verifyingContract.toLowerCase();
    const chainId = cast.chain(domain.chainId);
    if (!cleanDeployments(eip.deployments).some((d) => d.address === address && d.chainId === chainId))
      return false;
  }
  if (eip.domain) {
    const ok = Object.keys(eip.domain).every((key) => {
      if (!Object.hasOwn(domain, key))
        return false;
      return key === "verifyingContract" ? `${domain[key]}`.toLowerCase() === `${eip.domain[key]}`.toLowerCase() : same(domain[key], eip.domain[key]);
    });
    if (!ok)
      return false;
  }
  if (eip.domainSeparator) {
    let separator;
    try {
      const types = {
        EIP712Domain: getDomainType(typed.domain),
        ...typed.types
      };
      separator = encoder(types, typed.domain).structHash("EIP712Domain", typed.domain);
    } catch {
      return false;
    }
    if (separator.toLowerCase() !== cast.raw(eip.domainSeparator).toLowerCase())
      return false;
  }
  return true;
};
var resolveRepo = (files, key, seen = []) => {
  const desc = files[key];
  if (!desc)
    throw new Error(`clearSig.repository: missing descriptor ${key}`);
  if (seen.includes(key))
    throw new Error(`clearSig.repository: recursive include ${key}`);
  const next = seen.concat(key);
  return resolveIncludes(desc, (inc) => {
    let k = inc;
    if (!files[k]) {
      const parts = key.split("/");
      parts.pop();
      for (const part of inc.split("/"))
        if (part === "..")
          parts.pop();
        else
          parts.push(part);
      k = parts.join("/");
    }
    return resolveRepo(files, k, next);
  });
};
var repository = (files) => {
  const src = {};
  for (const k of Object.keys(files))
    src[k] = cloneDeep(files[k]);
  const descriptors = Object.keys(src).map((name) => ({ name, desc: resolveRepo(src, name) }));
  const tokenContracts = {};
  for (const { desc } of descriptors) {
    const token = (desc.metadata || {}).token;
    if (!token)
      continue;
    for (const d of deployments(desc.context || {})) {
      if (!d.address)
        continue;
      const key = `${d.address}`.toLowerCase();
      if (d.chainId === void 0)
        throw new Error("clearSig: missing deployment chainId");
      const byAddress = tokenContracts[`${cast.chain(d.chainId)}`] || (tokenContracts[`${cast.chain(d.chainId)}`] = {});
      const prev = byAddress[key] || {};
      const meta = tokenMeta(token);
      byAddress[key] = {
        name: meta.name || prev.name,
        symbol: meta.symbol || prev.symbol,
        decimals: meta.decimals === void 0 ? prev.decimals : meta.decimals
      };
    }
  }
  const resolved = descriptors.map((i) => i.desc);
  const contractsByChain = {};
  const generic = [];
  const eip712ByChain = {};
  const factoryEntries = [];
  const env = (opt_, chainId) => {
    const opt = opt_;
    const all = { ...tokenContracts[`${chainId}`], ...opt.contracts };
    return { contracts: all, opt: { ...opt, contracts: all } };
  };
  const eip712Index = (chainId, address) => {
    const byAddr = eip712ByChain[`${chainId}`] || (eip712ByChain[`${chainId}`] = {});
    const key = cast.address(address).toLowerCase();
    return byAddr[key] || (byAddr[key] = {});
  };
  const addEip712Entry = (chainId, address, selector, entry) => {
    const index = eip712Index(chainId, address);
    const previous = index[selector];
    index[selector] = previous ? async (input, opt) => await previous(input, opt) || entry(input, opt) : entry;
  };
  const callEntry = (desc, key, fn, source2) => Object.assign(async (input, opt = {}) => {
    const call = input;
    const ctx = {
      to: call.to,
      from: call.from,
      data: call.data,
      value: call.value === void 0 ? void 0 : cast.integer(call.value),
      chainId: _chain(call.chainId)
    };
    const e = env(opt, ctx.chainId);
    if (!ctx.data)
      throw new Error("clearSig: expected calldata bytes");
    let decoded = {};
    if (fn.inputs.length) {
      decoded = mapArgs(fn.inputs).decode(ctx.data.slice(4), {
        allowUnreadBytes: e.opt.allowUnreadBytes
      });
      if (fn.inputs.length === 1 && fn.inputs[0].name)
        decoded = { [fn.inputs[0].name]: decoded };
      if (isObject(decoded))
        Object.defineProperty(decoded, ABI_FN, { value: fn });
    }
    return render({ desc, fmt: formats(desc)[key], data: decoded, ctx }, resolved, e.contracts, e.opt);
  }, { fn, source: source2 });
  const typedEntry = (desc, key) => (async (input, opt = {}) => {
    const typed = input;
    if (!eip712ContextMatches(desc, typed))
      return;
    const domain = typed.domain;
    const e = env(opt, _chain(domain.chainId));
    return render({
      desc,
      fmt: formats(desc)[key],
      data: typed.message,
      ctx: typedCtx(domain)
    }, resolved, e.contracts, e.opt);
  });
  let source = 0;
  for (const { desc } of descriptors) {
    const src2 = source++;
    const context = desc.context || {};
    const eip = context.eip712;
    const contract = context.contract || (!eip ? {} : void 0);
    if (!contract && !eip)
      continue;
    const deployments2 = cleanDeployments((contract ? contract.deployments : eip.deployments) || []);
    const entries = [];
    const keyed = [];
    for (const key of Object.keys(formats(desc))) {
      if (contract) {
        const open = key.indexOf("(");
        if (open <= 0)
          throw new Error(`clearSig: expected function signature, got ${key}`);
        const close = matchParen(key, open);
        if (key.slice(close + 1).trim())
          throw new Error(`clearSig: non-calldata format key ${key}`);
        const fn = {
          type: "function",
          name: key.slice(0, open).trim(),
          inputs: splitArgs(key.slice(open + 1, close)).map(parseArg)
        };
        keyed.push([key, callEntry(desc, key, fn, src2)]);
      } else
        keyed.push([eip712Key(key), typedEntry(desc, key)]);
    }
    for (const [selector, e] of keyed) {
      entries.push(e);
      if (contract)
        for (const d of deployments2) {
          const byAddr = contractsByChain[`${d.chainId}`] || (contractsByChain[`${d.chainId}`] = {});
          (byAddr[d.address] || (byAddr[d.address] = [])).push(e);
        }
      else
        for (const d of deployments2)
          addEip712Entry(d.chainId, d.address, selector, e);
      if (deployments2.length)
        continue;
      if (contract) {
        if (!contract.factory)
          generic.push(e);
      } else {
        const domain = eip.domain || {};
        if (domain.chainId !== void 0 && domain.verifyingContract !== void 0) {
          addEip712Entry(cast.chain(domain.chainId), domain.verifyingContract, selector, e);
        }
      }
    }
    if (contract && contract.factory)
      factoryEntries.push({
        factory: contract.factory,
        deployments: cleanDeployments(contract.factory.deployments || []),
        deployEvent: contract.factory.deployEvent,
        entries
      });
  }
  const repo = {
    contracts: contractsByChain,
    generic,
    eip712: eip712ByChain,
    factories: factoryEntries
  };
  return deepFreeze(repo);
};
var render = async (match2, descs, contracts_, opts) => {
  const data = match2.data;
  const ctx = match2.ctx;
  const desc = match2.desc;
  const contracts = contracts_;
  const opt = { ...opts, contracts };
  const root = (each) => {
    const r = { "#": data, "@": ctx, $: desc };
    if (each !== void 0)
      r[PATH_INDEX] = each;
    return r;
  };
  const val = (path, each, base = "") => jsonPath(path, base)(root(each));
  const arg = (spec, base = "", each) => {
    if (typeof spec === "string") {
      const pe = jsonPath(spec);
      if (pe.root)
        return pe(root(each));
    }
    if (!spec || typeof spec !== "object" || !Object.hasOwn(spec, "map"))
      return spec;
    const s = spec;
    const map = val(s.map, each, base);
    const values = map && typeof map === "object" && Object.hasOwn(map, "values") ? map.values : map;
    const key = cast.raw(val(s.keyPath, each, base));
    if (!values || typeof values !== "object" || !Object.hasOwn(values, key))
      throw new Error(`clearSig: missing map value key=${key}`);
    return values[key];
  };
  const paramKeys = ["token", "chainId", "callee", "selector", "amount", "spender", "collection"];
  const fields = async (list, base = "") => {
    const out = [];
    for (const original of list) {
      let field = original;
      const r = field.$ref;
      if (r) {
        const ref = typeof r === "string" ? jsonPath(r) : void 0;
        if (!ref || !ref.root)
          throw new Error(`clearSig: unsupported $ref=${r}`);
        const def = ref({ "#": {}, "@": {}, $: desc });
        if (!isObject(def))
          throw new Error(`clearSig: missing $ref=${r}`);
        field = { ...def, ...field, params: { ...def.params || {}, ...field.params || {} } };
      }
      if (field.visible === "never" && !field.fields)
        continue;
      const pick = field.path ? jsonPath(field.path, base) : void 0;
      if (pick && pick.path === "@.from" && ctx.from === void 0)
        continue;
      const nextBase = pick ? pick.path : base;
      if (field.fields) {
        const nested = [];
        for (const child of field.fields)
          nested.push(await fields([child], nextBase));
        if (field.iteration === "bundled") {
          const max = Math.max(0, ...nested.map((i) => i.length));
          for (const arr2 of nested) {
            if (arr2.length && arr2.length !== max)
              throw new Error("clearSig: bundled arrays must have matching lengths");
          }
          for (let i = 0; i < max; i++)
            for (const arr2 of nested)
              if (arr2[i])
                out.push(arr2[i]);
        } else
          for (const arr2 of nested)
            out.push(...arr2);
        continue;
      }
      if (field.path && Object.hasOwn(field, "value"))
        throw new Error("clearSig: cannot combine path and value");
      let values;
      if (field.path) {
        const picked = pick(root());
        values = pick.many && Array.isArray(picked) ? picked : [picked];
      } else
        values = [field.value === void 0 ? void 0 : arg(field.value)];
      for (let i = 0; i < values.length; i++) {
        const value = values[i];
        const v = field.visible;
        if (v === "never")
          continue;
        if (v && typeof v === "object") {
          if (Object.hasOwn(v, "ifNotIn") && Object.hasOwn(v, "mustMatch"))
            throw new Error("clearSig: cannot combine visible.ifNotIn and visible.mustMatch");
          if (v.mustMatch && !v.mustMatch.some((j) => same(value, j)))
            throw new Error(`clearSig: visible.mustMatch failed for ${field.path || field.label}`);
          if (v.mustMatch || v.ifNotIn && v.ifNotIn.some((j) => same(value, j)))
            continue;
        }
        let displayField = field;
        let displayValue = value;
        const fp = displayField.params || {};
        let p = fp;
        if (fp.$ref) {
          const ref = arg(fp.$ref, base, i);
          const { $ref: _ref, ...over } = fp;
          p = ref && typeof ref === "object" ? { ...ref, ...over } : over;
        }
        for (const k of paramKeys)
          if (Object.hasOwn(p, k) && Object.hasOwn(p, `${k}Path`))
            throw new Error(`clearSig: cannot combine ${k} and ${k}Path`);
        const req = (extra) => ({
          ...extra,
          descriptor: desc,
          field: displayField,
          context: ctx
        });
        let formatted2;
        if (displayField.encryption) {
          const plain = opt.decrypt && await opt.decrypt(req({
            scheme: displayField.encryption.scheme,
            encryption: displayField.encryption,
            value: displayValue
          }));
          if (plain === void 0)
            formatted2 = displayField.encryption.fallbackLabel || cast.raw(value);
          else {
            displayField = omit(displayField, "encryption");
            displayValue = plain;
          }
        }
        if (formatted2 === void 0) {
          const fmt = formatters[displayField.format];
          if (!fmt)
            formatted2 = cast.raw(displayValue);
          else
            formatted2 = await fmt({
              value: displayValue,
              p,
              ctx,
              opt,
              // ERC-7730 "constant or path" params: token/tokenPath, amount/amountPath, etc.
              param: (name, fallback) => {
                const path = p[`${name}Path`];
                if (path !== void 0)
                  return val(path, i, base);
                return p[name] !== void 0 ? arg(p[name], base, i) : fallback;
              },
              arg: (spec) => arg(spec, base, i),
              meta: async (v_, chainId) => {
                const a = cast.address(v_).toLowerCase();
                const id = chainId === void 0 ? ctx.chainId : cast.chain(chainId);
                const resolved = opt.resolveToken && await opt.resolveToken({
                  address: a,
                  chainId: id,
                  descriptor: desc,
                  field: displayField,
                  context: ctx
                });
                if (resolved && resolved.verified !== false)
                  return {
                    ...resolved,
                    symbol: resolved.symbol || resolved.ticker
                  };
                if (a === "0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee")
                  return { symbol: "ETH", decimals: 18 };
                if (contracts[a])
                  return contracts[a];
                const token = (desc.metadata || {}).token;
                if (!token)
                  return;
                const ds = deployments(desc.context || {});
                if (ctx.to)
                  ds.push({ address: ctx.to });
                for (const d of ds)
                  if (d.address && d.address.toLowerCase() === a)
                    return tokenMeta(token);
                return;
              },
              // Nested calls display as one line: interpolation or intent plus labeled fields.
              sub: async (call, d = descs) => {
                const ropt = opt;
                if (!ropt.renderCalldata)
                  throw new Error("clearSig: no nested calldata renderer");
                const r2 = await ropt.renderCalldata(d, call, { ...ropt, contracts });
                if (!r2)
                  return;
                const rows = Object.entries(r2.fields).map(([label, f]) => `${label} ${f.value}`);
                return r2.interpolatedIntent || [r2.intent, ...rows].join(" ");
              },
              req,
              // ERC-7730 requires wallets to restrict trusted names to requested sources;
              // if the callback omits source/types, it is treated as already filtered.
              named: async (r2, extra) => {
                const got = r2 && await r2(req({ ...extra, chainId: ctx.chainId, sources: p.sources, types: p.types }));
                const n = typeof got === "string" ? { name: got } : got;
                if (!n || !n.name || n.verified === false)
                  return;
                if (Array.isArray(p.sources) && n.source && !p.sources.includes(n.source))
                  return;
                if (Array.isArray(p.types) && n.types && !n.types.some((j) => p.types.includes(j)))
                  return;
                return n.name;
              }
            });
        }
        const item = {
          label: field.label,
          pub: {
            value: formatted2,
            format: field.format || "raw",
            rawValue: value
          }
        };
        if (pick)
          item.path = pick.path;
        if (field.separator)
          item.separator = field.separator.replace("{index}", `${i}`);
        if (item.path && (!field.visible || field.visible === "always"))
          item.interpolate = true;
        out.push(item);
      }
    }
    return out;
  };
  const res = await fields(match2.fmt.fields || []);
  const md = match2.desc.metadata || {};
  const rawIntent = match2.fmt.intent || md.contractName || md.owner;
  const intent = typeof rawIntent === "string" ? rawIntent : rawIntent && typeof rawIntent === "object" ? Object.entries(rawIntent).map(([k, v]) => `${k} ${cast.raw(v)}`).join(" ") : "Sign";
  const shown = {};
  for (const field of res) {
    let label = field.separator ? `${field.separator} ${field.label}` : field.label;
    if (Object.hasOwn(shown, label)) {
      let i = 2;
      while (Object.hasOwn(shown, `${label} ${i}`))
        i++;
      label = `${label} ${i}`;
    }
    shown[label] = field.pub;
  }
  if (match2.fmt.interpolatedIntent === void 0)
    return { intent, fields: shown };
  const formatted = {};
  for (const f of res) {
    const p = f.path;
    if (!p || !f.interpolate)
      continue;
    if (!Object.hasOwn(formatted, p))
      formatted[p] = f;
    const alias = p.endsWith(".[]") ? p.slice(0, -3) : p.endsWith("[]") ? p.slice(0, -2) : void 0;
    if (alias === void 0)
      continue;
    if (!Object.hasOwn(formatted, alias))
      formatted[alias] = [];
    if (Array.isArray(formatted[alias]))
      formatted[alias].push(f);
  }
  const structured = [];
  const pushText = (text) => {
    const last = structured[structured.length - 1];
    if (typeof last === "string")
      structured[structured.length - 1] = last + text;
    else
      structured.push(text);
  };
  let valid = true;
  for (const part of `${match2.fmt.interpolatedIntent}`.split(/(\{\{|\}\}|\{[^{}]*\})/)) {
    if (!part)
      continue;
    if (part === "{{" || part === "}}")
      pushText(part[0]);
    else if (/^\{[^{}]*\}$/.test(part)) {
      const path = part.slice(1, -1);
      if (!Object.hasOwn(formatted, path)) {
        valid = false;
        break;
      }
      const hit = formatted[path];
      if (!Array.isArray(hit))
        structured.push(hit);
      else
        for (let j = 0; j < hit.length; j++) {
          if (j)
            structured.push(", ");
          structured.push(hit[j]);
        }
    } else if (part.includes("{") || part.includes("}")) {
      valid = false;
      break;
    } else
      pushText(part);
  }
  if (!valid)
    return { intent, interpolatedIntent: intent, fields: shown };
  const structuredIntent = structured.map((i) => typeof i === "string" ? i : i.pub);
  const interpolatedIntent = structuredIntent.map((i) => typeof i === "string" ? i : i.value).join("");
  return { intent, interpolatedIntent, structuredIntent, fields: shown };
};

// node_modules/micro-eth-signer/abi/decoder.js
var INT_ALIAS = /^(u?int)((?:\[\d*\])*)$/;
function fnSignature(o) {
  if (!o.type)
    throw new Error("ABI.fnSignature wrong argument");
  if (o.type === "function" || o.type === "event" || o.type === "error")
    return `${o.name || "function"}(${(o.inputs || []).map((i) => fnSignature(i)).join(",")})`;
  if (o.type.startsWith("tuple")) {
    if (!o.components || !o.components.length)
      throw new Error("ABI.fnSignature wrong tuple");
    return `(${o.components.map((i) => fnSignature(i)).join(",")})${o.type.slice(5)}`;
  }
  if (o.type === "uint" || o.type === "int" || o.type.startsWith("uint[") || o.type.startsWith("int[")) {
    const int2 = INT_ALIAS.exec(o.type);
    if (int2)
      return `${int2[1]}256${int2[2]}`;
  }
  return o.type;
}
function evSigHash(o) {
  return bytesToHex(keccak_256(utf8ToBytes(fnSignature(o))));
}
function fnSigHash(o) {
  return evSigHash(o).slice(0, 8);
}
function createContract(abi, net, contract) {
  aarray2(abi, "abi");
  let nameCnt = {};
  for (let fn of abi) {
    if (fn.type !== "function")
      continue;
    const name = fn.name || "function";
    if (!nameCnt[name])
      nameCnt[name] = 1;
    else
      nameCnt[name]++;
  }
  const res = {};
  for (let fn of abi) {
    if (fn.type !== "function")
      continue;
    let name = fn.name || "function";
    if (nameCnt[name] > 1)
      name = fnSignature(fn);
    const sh = fnSigHash(fn);
    const inputs = fn.inputs && fn.inputs.length ? mapArgs(fn.inputs) : void 0;
    const outputs = fn.outputs ? mapArgs(fn.outputs) : void 0;
    const decodeOutput = (b) => {
      if (outputs && !isBytes5(b))
        throw new TypeError('"b" expected Uint8Array, got type=' + typeof b);
      return outputs && outputs.decode(b);
    };
    const encodeInput = (v) => concatBytes(hexToBytes(sh), inputs ? inputs.encode(v) : Uint8Array.of());
    res[name] = { decodeOutput, encodeInput };
    if (!net)
      continue;
    res[name].call = async (args, overrides = {}) => {
      if (!contract && !overrides.to)
        throw new Error("No contract address");
      const data = add0x(bytesToHex(encodeInput(args)));
      const callArgs = Object.assign({ to: contract, data }, overrides);
      return decodeOutput(hexToBytes(strip0x(await net.ethCall(callArgs))));
    };
    res[name].estimateGas = async (args, overrides = {}) => {
      if (!contract && !overrides.to)
        throw new Error("No contract address");
      const data = add0x(bytesToHex(encodeInput(args)));
      const callArgs = Object.assign({ to: contract, data }, overrides);
      return await net.estimateGas(callArgs);
    };
  }
  return res;
}
function padIndexed(data) {
  const left = data.length % 32;
  if (!left)
    return data;
  const padded = new Uint8Array(data.length + 32 - left);
  padded.set(data);
  return padded;
}
function encodeIndexedInPlace(input, value, nested = false) {
  let array3;
  if (array3 = ARRAY_RE.exec(input.type)) {
    aarray2(value, "indexed array");
    if (array3[3] !== void 0 && value.length !== Number.parseInt(array3[3]))
      throw new Error("Wrong topics args");
    const inner = { ...input, type: array3[1] };
    return concatBytes(...value.map((item) => encodeIndexedInPlace(inner, item, true)));
  }
  if (input.type === "tuple") {
    if (!input.components || !input.components.length)
      throw new Error("Unknown unsized type");
    const hasNames = input.components.every((component) => !!component.name);
    return concatBytes(...input.components.map((component, index) => encodeIndexedInPlace(component, hasNames ? value[component.name] : value[index], true)));
  }
  if (input.type === "string") {
    if (typeof value !== "string")
      throw new Error("Wrong topics args");
    const data = utf8ToBytes(value);
    return nested ? padIndexed(data) : data;
  }
  if (input.type === "bytes") {
    const data = abytes(value, void 0, "indexed bytes");
    return nested ? padIndexed(data) : data;
  }
  return mapComponent(input).encode(value);
}
function events(abi) {
  aarray2(abi, "abi");
  let res = {};
  for (let elm of abi) {
    if (elm.type !== "event" || !elm.name)
      continue;
    const inputs = elm.inputs || [];
    let hasNames = true;
    for (let i of inputs)
      if (!i.name)
        hasNames = false;
    const plainInp = inputs.filter((i) => !i.indexed);
    const indexedInp = inputs.filter((i) => i.indexed);
    const indexed = indexedInp.map((i) => !["string", "bytes", "tuple"].includes(i.type) && !ARRAY_RE.exec(i.type) ? mapArgs([i]) : null);
    const parser = mapArgs(hasNames ? plainInp : plainInp.map((i) => omit(i, "name")));
    const sigHash = evSigHash(elm);
    res[elm.name] = {
      decode(topics, _data) {
        aarray2(topics, "topics");
        const data = hexToBytes(strip0x(_data));
        if (!elm.anonymous) {
          if (!topics[0])
            throw new Error("No signature on non-anonymous event");
          if (strip0x(topics[0]).toLowerCase() !== sigHash)
            throw new Error("Wrong signature");
          topics = topics.slice(1);
        }
        if (topics.length !== indexed.length)
          throw new Error("Wrong topics length");
        let parsed = parser ? parser.decode(data) : hasNames ? {} : [];
        const indexedParsed = indexed.map((p, i) => p ? p.decode(hexToBytes(strip0x(topics[i]))) : topics[i]);
        if (plainInp.length === 1)
          parsed = hasNames ? { [plainInp[0].name]: parsed } : [parsed];
        if (hasNames) {
          let res2 = { ...parsed };
          for (let [a, p] of zip(indexedInp, indexedParsed))
            res2[a.name] = p;
          return res2;
        } else
          return inputs.map((i) => (!i.indexed ? parsed : indexedParsed).shift());
      },
      topics(values) {
        if (!isObject(values))
          throw new TypeError('"values" expected object or array, got type=' + typeof values);
        let res2 = [];
        if (!elm.anonymous)
          res2.push(add0x(sigHash));
        if ((hasNames ? Object.keys(values) : values).length !== inputs.length)
          throw new Error("Wrong topics args");
        for (let i = 0, ii = 0; i < inputs.length && ii < indexed.length; i++) {
          const [input, packer] = [inputs[i], indexed[ii]];
          if (!input.indexed)
            continue;
          const value = values[Array.isArray(values) ? i : inputs[i].name];
          if (value === null) {
            res2.push(null);
            continue;
          }
          let topic;
          if (packer)
            topic = bytesToHex(packer.encode(value));
          else
            topic = bytesToHex(keccak_256(encodeIndexedInPlace(input, value)));
          res2.push(add0x(topic));
          ii++;
        }
        return res2;
      }
    };
  }
  return res;
}
var dict2 = () => /* @__PURE__ */ Object.create(null);
var parseAddressKey = (address) => parseAddress(address).data.toLowerCase();
var Decoder = class {
  constructor() {
    __publicField(this, "contracts", dict2());
    __publicField(this, "sighashes", dict2());
    __publicField(this, "evContracts", dict2());
    __publicField(this, "evSighashes", dict2());
    __publicField(this, "clearSig");
    __publicField(this, "clearSigFactories", []);
    __publicField(this, "clearSigResolved", dict2());
    // Repository arrays preserve descriptor order; this mirror keeps per-call selector lookup O(1).
    __publicField(this, "clearSigSelectors", dict2());
    __publicField(this, "addressKeys", /* @__PURE__ */ new Set());
  }
  addressKey(address, remember = false) {
    const candidate = strip0x(address, "contract").toLowerCase();
    if (this.addressKeys.has(candidate))
      return candidate;
    const key = parseAddressKey(address);
    if (remember)
      this.addressKeys.add(key);
    return key;
  }
  addClearSigEntry(chain2, address, entry_, seen) {
    const entry = entry_;
    if (!entry.fn)
      return;
    const contract = this.addressKey(address);
    const sh = fnSigHash(entry.fn);
    if (seen) {
      const key = `${chain2}:${contract}:${entry.source}:${sh}`;
      if (seen[key])
        throw new Error(`clearSig: duplicate selector ${sh}`);
      seen[key] = true;
    }
    const cur = this.contracts[contract] && this.contracts[contract][sh];
    const byAddr = this.clearSigSelectors[chain2] || (this.clearSigSelectors[chain2] = dict2());
    const bySel = byAddr[add0x(contract)] || (byAddr[add0x(contract)] = dict2());
    if (!bySel[sh])
      bySel[sh] = entry;
    if (cur)
      return;
    this.add(add0x(contract), [entry.fn]);
  }
  /** Adds ERC-7730 descriptors to this decoder, hashing ABI selectors through the normal ABI path. */
  addClearSig(files, opt = {}) {
    const repo = repository(files);
    const local = this.clearSig || (this.clearSig = { contracts: dict2(), generic: [] });
    const seen = dict2();
    for (const chain2 of Object.keys(repo.contracts)) {
      const byAddr = repo.contracts[chain2];
      const dstChain = local.contracts[chain2] || (local.contracts[chain2] = dict2());
      for (const address of Object.keys(byAddr)) {
        const dst = dstChain[address] || (dstChain[address] = []);
        for (const entry of byAddr[address]) {
          dst.push(entry);
          this.addClearSigEntry(chain2, address, entry, seen);
        }
      }
    }
    local.generic.push(...repo.generic);
    if (opt.bind) {
      const bind = opt.bind;
      const id = _chain(bind.chainId);
      const address = add0x(this.addressKey(bind.address));
      const byAddr = local.contracts[`${id}`] || (local.contracts[`${id}`] = dict2());
      const dst = byAddr[address] || (byAddr[address] = []);
      for (const entry of local.generic) {
        dst.push(entry);
        this.addClearSigEntry(`${id}`, address, entry, seen);
      }
    }
    this.clearSigFactories.push(...repo.factories);
    return this;
  }
  /** Resolves factory-backed ERC-7730 descriptors into exact contract bindings. */
  async resolve(opt) {
    const o = opt;
    const id = _chain(o.chainId);
    const address = this.addressKey(o.address);
    const candidates = this.clearSigFactories.filter((i) => !i.deployments.length || i.deployments.some((d) => d.chainId === id));
    if (!candidates.length || !o.resolveFactory)
      return false;
    const fp = candidates.map((i) => [
      i.deployEvent || "",
      i.deployments.map((d) => `${d.chainId}:${d.address}`).join(","),
      i.entries.map((e) => {
        const src = e.source === void 0 ? "" : e.source;
        const sig = e.fn ? fnSigHash(e.fn) : "";
        return `${src}:${sig}`;
      }).join(",")
    ].join(";")).join("|");
    const key = `${id}:${address}:${fp}`;
    if (Object.hasOwn(this.clearSigResolved, key))
      return this.clearSigResolved[key];
    const proved = await o.resolveFactory({
      address: add0x(address),
      chainId: id,
      factories: candidates.map((i) => ({
        factory: i.factory,
        deployments: i.deployments,
        deployEvent: i.deployEvent
      })),
      descriptor: void 0,
      context: { to: add0x(address), chainId: id }
    });
    let ok = false;
    for (const idx of Array.isArray(proved) ? proved : proved === void 0 ? [] : [proved]) {
      if (typeof idx !== "number" || !Number.isSafeInteger(idx) || idx < 0 || !candidates[idx])
        throw new Error(`clearSig: wrong factory result index ${idx}`);
      if (!this.clearSig)
        this.clearSig = { contracts: dict2(), generic: [] };
      const branch = this.clearSig.contracts;
      const byAddr = branch[`${id}`] || (branch[`${id}`] = dict2());
      const entries = byAddr[add0x(address)] || (byAddr[add0x(address)] = []);
      for (const entry of candidates[idx].entries) {
        entries.push(entry);
        this.addClearSigEntry(`${id}`, add0x(address), entry);
        if (entry.fn)
          ok = true;
      }
    }
    return this.clearSigResolved[key] = ok;
  }
  /** Looks up a chain-scoped ERC-7730 renderer for already-decoded calldata. */
  clearSigEntry(contract, data, chainId) {
    data = abytes(data, void 0, "data");
    if (data.length < 4)
      return;
    const id = _chain(chainId);
    const address = add0x(this.addressKey(contract));
    const selector = bytesToHex(data.slice(0, 4));
    return this.clearSigSelectors[`${id}`]?.[address]?.[selector];
  }
  add(contract, abi) {
    contract = this.addressKey(contract, true);
    aarray2(abi, "abi");
    if (!this.contracts[contract])
      this.contracts[contract] = dict2();
    if (!this.evContracts[contract])
      this.evContracts[contract] = dict2();
    for (let fn of abi) {
      if (!isObject(fn) || Array.isArray(fn))
        throw new TypeError('"abi item" expected object, got type=' + typeof fn);
      if (fn.type === "function") {
        const selector = fnSigHash(fn);
        const value = {
          name: fn.name || "function",
          signature: fnSignature(fn),
          packer: fn.inputs && fn.inputs.length ? mapArgs(fn.inputs) : void 0,
          hook: fn.hook
        };
        this.contracts[contract][selector] = value;
        if (!this.sighashes[selector])
          this.sighashes[selector] = [];
        this.sighashes[selector].push(value);
      } else if (fn.type === "event") {
        if (fn.anonymous || !fn.name)
          continue;
        const selector = evSigHash(fn);
        const decoder = events([fn])[fn.name]?.decode;
        const value = {
          name: fn.name,
          signature: fnSignature(fn),
          decoder,
          hint: fn.hint
        };
        this.evContracts[contract][selector] = value;
        if (!this.evSighashes[selector])
          this.evSighashes[selector] = [];
        this.evSighashes[selector].push(value);
      }
    }
  }
  method(contract, data) {
    contract = this.addressKey(contract);
    data = abytes(data, void 0, "data");
    const sh = bytesToHex(data.slice(0, 4));
    if (!this.contracts[contract] || !this.contracts[contract][sh])
      return;
    const { name } = this.contracts[contract][sh];
    return name;
  }
  // Returns: exact match, possible options of matches (array) or undefined.
  // Note that empty value possible if there is no arguments in call.
  decode(contract, _data, opt = {}) {
    contract = this.addressKey(contract);
    _data = abytes(_data, void 0, "data");
    const sh = bytesToHex(_data.slice(0, 4));
    const data = _data.slice(4);
    const unread = opt.allowUnreadBytes ? { allowUnreadBytes: true } : void 0;
    if (this.contracts[contract] && this.contracts[contract][sh]) {
      let { name, signature, packer, hook } = this.contracts[contract][sh];
      if (!packer && data.length && !opt.allowUnreadBytes)
        throw new Error("Unexpected trailing calldata");
      const value = packer ? packer.decode(data, unread) : void 0;
      let res2 = { name, signature, value };
      if (hook)
        res2 = hook(this, contract, res2, opt);
      return res2;
    }
    if (!this.sighashes[sh] || !this.sighashes[sh].length)
      return;
    let res = [];
    for (let { name, signature, packer } of this.sighashes[sh]) {
      try {
        if (!packer && data.length)
          continue;
        res.push({ name, signature, value: packer ? packer.decode(data) : void 0 });
      } catch (err) {
      }
    }
    if (res.length)
      return res;
    return;
  }
  decodeEvent(contract, topics, data, _opt) {
    contract = this.addressKey(contract);
    aarray2(topics, "topics");
    if (!topics.length)
      return;
    const sh = strip0x(topics[0]);
    const event = this.evContracts[contract];
    if (event && event[sh]) {
      let { name, signature, decoder, hint } = event[sh];
      const value = decoder(topics, data);
      let res2 = { name, signature, value };
      try {
        if (hint)
          res2.hint = hint(value, Object.assign({ contract: add0x(contract) }, _opt));
      } catch (err) {
      }
      return res2;
    }
    if (!this.evSighashes[sh] || !this.evSighashes[sh].length)
      return;
    let res = [];
    for (let { name, signature, decoder } of this.evSighashes[sh]) {
      try {
        res.push({ name, signature, value: decoder(topics, data) });
      } catch (err) {
      }
    }
    if (res.length)
      return res;
    return;
  }
};

// node_modules/micro-eth-signer/abi/index.js
var createContract2 = createContract;
export {
  Decoder,
  Transaction2 as Transaction,
  addr2 as addr,
  createContract2 as createContract
};
