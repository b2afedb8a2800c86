// What the console's admin forms sign with (node/web/vendor.sh bundles this file into
// static/vendor/eth.js): micro-eth-signer's transactions (legacy EIP-155, as client/ledger.py
// sends them), addresses and its ABI coder and decoder, on the same @noble/curves and
// @noble/hashes versions as the verifier's crypto.js. Only these names: esbuild drops the rest.
export { Transaction, addr } from "micro-eth-signer";
export { Decoder, createContract } from "micro-eth-signer/abi.js";
