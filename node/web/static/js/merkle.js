// RFC 9162 Merkle tree hashes and the inclusion proof check (section 2.1.3.2), written from
// the RFC: leaf SHA-256(0x00 || d), node SHA-256(0x01 || left || right).
import { sha256 } from "ledger/vendor/crypto.js";
import { concat, equal } from "ledger/bytes.js";

// The largest tree a proof may claim, and the longest proof read (evidence/merkle.py's caps:
// 2**32 leaves keeps every loop to 32 rounds; 64 hashes is the depth of a 2**64-leaf tree).
export const MAX_TREE_SIZE = 2 ** 32;
export const MAX_PROOF_LENGTH = 64;

export const leafHash = (data) => sha256(concat(Uint8Array.of(0), data));
export const nodeHash = (left, right) => sha256(concat(Uint8Array.of(1), left, right));

/** Throws unless `leaf` is leaf `index` of the `size`-leaf tree whose root is `root`. */
export function verifyInclusion(leaf, index, size, path, root) {
  // 0. our caps, before the RFC's steps
  for (const n of [index, size]) {
    if (typeof n !== "number" || n < 0 || n > MAX_TREE_SIZE) throw new Error(`a leaf index or tree size must be in 0..${MAX_TREE_SIZE}`);
  }
  if (path.length > MAX_PROOF_LENGTH) throw new Error(`proof has ${path.length} hashes, more than ${MAX_PROOF_LENGTH}`);
  // 1. a leaf index at or past the tree size fails
  if (index >= size) throw new Error(`leaf index ${index} is out of range for a tree of ${size} leaves`);
  // 2. fn = leaf_index, sn = tree_size - 1; 3. r = the leaf hash
  let fn = BigInt(index), sn = BigInt(size - 1), r = leaf;
  // 4. for each p in the path
  for (const [position, p] of path.entries()) {
    // a. sn 0 before the path ends: the proof is too long
    if (sn === 0n) throw new Error(`proof too long: the path to the root ends after ${position} hashes`);
    if ((fn & 1n) === 1n || fn === sn) {
      // b. r = HASH(0x01 || p || r); then shift until LSB(fn) is set or fn is 0
      r = nodeHash(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      r = nodeHash(r, p);
    }
    // c. shift both once
    fn >>= 1n; sn >>= 1n;
  }
  // 5. proven only if sn is 0 and r is the root
  if (sn !== 0n) throw new Error(`proof too short: ${path.length} hashes do not reach the root of a tree of ${size} leaves`);
  if (!equal(r, root)) throw new Error("the path leads to another root");
}
