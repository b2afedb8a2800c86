// JSON (RFC 8259) read as docs/receipt.md requires: an object that names a member twice,
// a document nested deeper than MAX_JSON_DEPTH, or a value that is not JSON is refused;
// integers stay exact (BigInt past 2**53) and are told apart from other numbers, which
// JSON.parse cannot do. Pure: text in, values out.

// A receipt nests three deep; the rest is room for optional members (as evidence/receipt.py).
export const MAX_JSON_DEPTH = 32;

/** A JSON number written with a fraction or exponent: not an integer field's value. */
export class JsonFloat {
  constructor(text) { this.value = Number(text); }
}

export class JsonError extends Error {}

const WS = /[\t\n\r ]*/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;

/** Parse `text`. With `duplicates: "refuse"` (receipts) a repeated member is an error;
 *  with "last" (genesis.json, read as Python's json module reads it) the last one wins.
 *  With `maxIntegerDigits`, an integer (no fraction or exponent) of more digits than that,
 *  its sign not counted, is an error wherever it is (receipts: docs/receipt.md, 78). */
export function parseJson(text, { duplicates = "refuse", maxIntegerDigits = Infinity } = {}) {
  let at = 0;
  const skip = () => { WS.lastIndex = at; WS.exec(text); at = WS.lastIndex; };
  const fail = (why) => { throw new JsonError(`${why} at character ${at}`); };
  const match = (re) => { re.lastIndex = at; const m = re.exec(text); if (m) at = re.lastIndex; return m; };
  function value(depth) {
    skip();
    const c = text[at];
    if (c === "{" || c === "[") {
      if (depth + 1 > MAX_JSON_DEPTH) throw new JsonError(`arrays and objects nested more than ${MAX_JSON_DEPTH} deep`);
      at++;
      return c === "{" ? object(depth + 1) : array(depth + 1);
    }
    if (c === '"') return string();
    if (text.startsWith("true", at)) { at += 4; return true; }
    if (text.startsWith("false", at)) { at += 5; return false; }
    if (text.startsWith("null", at)) { at += 4; return null; }
    const m = match(NUMBER);
    if (!m) fail("not a JSON value");
    if (m[1] !== undefined || m[2] !== undefined) return new JsonFloat(m[0]);
    const digits = m[0].length - (m[0].startsWith("-") ? 1 : 0);
    if (digits > maxIntegerDigits) throw new JsonError(`an integer of more than ${maxIntegerDigits} digits`);
    const n = BigInt(m[0]);
    return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
  }
  function string() {
    const m = match(STRING);
    if (!m) fail("not a JSON string");
    return JSON.parse(m[0]);
  }
  function object(depth) {
    const out = Object.create(null);
    const seen = new Set();
    skip();
    if (text[at] === "}") { at++; return out; }
    for (;;) {
      skip();
      if (text[at] !== '"') fail("expected a member name");
      const name = string();
      if (seen.has(name) && duplicates === "refuse") throw new JsonError(`the member ${JSON.stringify(name)} appears twice in one object`);
      seen.add(name);
      skip();
      if (text[at] !== ":") fail("expected ':'");
      at++;
      out[name] = value(depth);
      skip();
      if (text[at] === ",") { at++; continue; }
      if (text[at] === "}") { at++; return out; }
      fail("expected ',' or '}'");
    }
  }
  function array(depth) {
    const out = [];
    skip();
    if (text[at] === "]") { at++; return out; }
    for (;;) {
      out.push(value(depth));
      skip();
      if (text[at] === ",") { at++; continue; }
      if (text[at] === "]") { at++; return out; }
      fail("expected ',' or ']'");
    }
  }
  const result = value(0);
  skip();
  if (at !== text.length) fail("text after the JSON value");
  return result;
}

export const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof JsonFloat);
export const isInteger = (v) => (typeof v === "number" && Number.isInteger(v)) || typeof v === "bigint";
