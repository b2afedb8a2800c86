// The one module the verifier imports its cryptography and RLP from (node/web/vendor.sh
// bundles this file into static/vendor/crypto.js). Only what docs/receipt.md needs.
export { sha256 } from "@noble/hashes/sha2.js";
export { keccak_256 } from "@noble/hashes/sha3.js";
export { secp256k1 } from "@noble/curves/secp256k1.js";
export { RLP } from "@ethereumjs/rlp";
// sm-crypto's SM3 alone (src/sm3), not its SM2/SM4 or their big-number dependency.
import sm3hex from "sm-crypto/src/sm3/index.js";
export function sm3(bytes) {
  const hex = sm3hex(bytes);
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}
