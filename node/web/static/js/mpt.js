// Merkle-Patricia tries (Yellow Paper, appendix D): walking a proof to the value under a
// key, and the root of a trie built from its items (for the genesis state root).
import { keccak_256, RLP } from "ledger/vendor/crypto.js";
import { equal, isBytes, toHex } from "ledger/bytes.js";

// A key of an ordered trie is RLP(index): at most 18 nibbles, one node a level; longer
// proofs are refused before any hashing (evidence/mpt.py's caps).
export const MAX_PROOF_NODES = 32;
export const MAX_PROOF_BYTES = 1024 * 1024;
export const BLANK_ROOT = keccak_256(RLP.encode(new Uint8Array(0)));

export class ProofError extends Error {}

function nibbles(key) {
  const out = [];
  for (const b of key) out.push(b >> 4, b & 15);
  return out;
}

const isLeaf = (node) => isBytes(node[0]) && node[0].length > 0 && [2, 3].includes(node[0][0] >> 4);

function pathOf(node) {
  const first = node[0];
  if (!isBytes(first) || first.length === 0) throw new ProofError("a leaf or extension node has no path");
  const all = nibbles(first);
  return [1, 3].includes(first[0] >> 4) ? all.slice(1) : all.slice(2);
}

const sameNibbles = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** One level down: [child reference, remaining key]; child null when the key ends here. */
function step(node, key) {
  if (node.length === 17) return key.length === 0 ? [null, key] : [node[key[0]], key.slice(1)];
  if (isLeaf(node)) return [null, key];
  const path = pathOf(node);
  if (!sameNibbles(key.slice(0, path.length), path)) throw new ProofError("the key is not in the trie (extension path differs)");
  return [node[1], key.slice(path.length)];
}

/** The value under `key` in the trie whose root hash is `root`, from `proof` (RLP nodes). */
export function verifyTrieProof(root, key, proof) {
  if (proof.length > MAX_PROOF_NODES || proof.reduce((n, p) => n + p.length, 0) > MAX_PROOF_BYTES) {
    throw new ProofError(`proof longer than ${MAX_PROOF_NODES} nodes or ${MAX_PROOF_BYTES} bytes`);
  }
  const byHash = new Map(proof.map((encoded) => [toHex(keccak_256(encoded)), encoded]));
  let remaining = nibbles(key);
  let reference = root;
  for (;;) {
    let node;
    if (isBytes(reference)) {
      const encoded = reference.length === 32 ? byHash.get(toHex(reference)) : undefined;
      if (encoded === undefined) throw new ProofError(`proof lacks the node with hash ${toHex(reference)}`);
      try { node = RLP.decode(encoded); } catch { throw new ProofError("a proof node is not RLP"); }
    } else {
      node = reference; // embedded in its parent (its RLP is under 32 bytes)
    }
    if (!Array.isArray(node) || (node.length !== 2 && node.length !== 17)) {
      throw new ProofError("a proof node is neither a branch nor a leaf/extension");
    }
    if (node.length === 2 && isLeaf(node)) {
      if (!sameNibbles(remaining, pathOf(node))) throw new ProofError("the key is not in the trie (leaf path differs)");
      if (!isBytes(node[1])) throw new ProofError("a leaf holds no value");
      return node[1];
    }
    const [child, rest] = step(node, remaining);
    remaining = rest;
    if (child === null) {
      const value = node.length === 17 ? node[16] : new Uint8Array(0);
      if (!isBytes(value) || value.length === 0) throw new ProofError("the key is not in the trie");
      return value;
    }
    if (isBytes(child) && child.length === 0) throw new ProofError("the key is not in the trie (empty branch slot)");
    reference = child;
  }
}

function hexPrefix(path, leaf) {
  const flag = leaf ? 2 : 0;
  const p = path.length % 2 ? [flag + 1, ...path] : [flag, 0, ...path];
  const out = new Uint8Array(p.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = (p[2 * i] << 4) | p[2 * i + 1];
  return out;
}

function reference(node) {
  const encoded = RLP.encode(node);
  return encoded.length < 32 ? node : keccak_256(encoded);
}

function build(items, depth) {
  if (items.length === 1) return [hexPrefix(items[0][0].slice(depth), true), items[0][1]];
  const first = items[0][0], last = items[items.length - 1][0];
  let shared = 0;
  const limit = Math.min(first.length, last.length) - depth;
  while (shared < limit && first[depth + shared] === last[depth + shared]) shared++;
  if (shared) return [hexPrefix(first.slice(depth, depth + shared), false), reference(build(items, depth + shared))];
  const branch = Array.from({ length: 17 }, () => new Uint8Array(0));
  let start = 0;
  if (items[0][0].length === depth) { branch[16] = items[0][1]; start = 1; }
  while (start < items.length) {
    const nibble = items[start][0][depth];
    let end = start;
    while (end < items.length && items[end][0][depth] === nibble) end++;
    branch[nibble] = reference(build(items.slice(start, end), depth + 1));
    start = end;
  }
  return branch;
}

/** keccak root of the trie {keccak256(key): value} (the state trie, storage tries):
 *  `entries` is a list of [key bytes, value bytes], keys distinct. */
export function secureTrieRoot(entries) {
  if (entries.length === 0) return BLANK_ROOT;
  const items = entries.map(([k, v]) => [nibbles(keccak_256(k)), v]);
  items.sort((a, b) => { for (let i = 0; i < a[0].length; i++) if (a[0][i] !== b[0][i]) return a[0][i] - b[0][i]; return 0; });
  return keccak_256(RLP.encode(build(items, 0)));
}
