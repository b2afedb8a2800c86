"""The PKI precompile: X.509 chain validation and digest signatures inside the EVM.

Consensus code. The rules live in `evidence.x509` (pure, also what a court runs
offline); this module frames them as a precompile at `chaincode.PKI_PRECOMPILE`:
Solidity-ABI input behind a 4-byte selector, ABI output, a gas charge fixed by the
operation and the input's size, taken before any work, and the block's timestamp as
the validation time. Bad input of any kind reverts with `Error(string)` naming the
reason; nothing raises out of the EVM but out-of-gas.

Operations (the system contracts are the callers):

- ``verify(bytes chain, bytes32 digest, bytes signature)`` -> ``(bytes32 leafFingerprint,
  bytes32 leafKeyHash, bytes32 rootFingerprint, uint256 notAfter, bytes32[] revocationKeys,
  string subject)``: a signer's chain (concatenated DER, leaf first, root last) valid at
  block time, and `signature` over `digest` by the leaf key.
- ``inspectRoot(bytes certificate)`` -> ``(bytes32 fingerprint, bytes32 keyHash, uint256 notAfter)``
- ``issuer(bytes chain, uint256[] serials)`` -> ``(bytes32 rootFingerprint, bytes32
  issuerKeyHash, bytes32[] revocationKeys)``: a CA's chain and the keys of its serials.
- ``crl(bytes crl, bytes issuerChain)`` -> the same, for every serial a CRL lists.

Whether a root is trusted and whether a key is revoked is the identity registry's
storage; the precompile only computes. A revocation key is
keccak256(sha256(issuer SubjectPublicKeyInfo) ‖ uint256 serial), so a CA re-issuing
its own certificate with the same key keeps its revocations.
"""
from __future__ import annotations

from typing import Any, Callable

from eth.abc import ComputationAPI
from eth.exceptions import Revert
from eth_abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_hash.auto import keccak
from eth_utils import function_signature_to_4byte_selector

from evidence import x509

# Gas, charged before any work. Figures are from this machine: a P-256 or RSA-2048
# certificate parse + signature check costs ~0.1-0.3 ms, priced like ~3x ecrecover.
BASE_GAS = 3_000
CERTIFICATE_GAS = 10_000      # per certificate in a chain
SIGNATURE_GAS = 10_000        # the digest signature check
CRL_BYTE_GAS = 8              # a 64 KiB CRL costs ~0.5M gas
SERIAL_GAS = 200              # per serial hashed into a revocation key
MAX_SERIALS = 64              # IdentityRegistry.revoke's DynArray bound
MAX_SUBJECT_BYTES = 256       # IdentityRegistry's String[256]

VERIFY = function_signature_to_4byte_selector("verify(bytes,bytes32,bytes)")
INSPECT_ROOT = function_signature_to_4byte_selector("inspectRoot(bytes)")
ISSUER = function_signature_to_4byte_selector("issuer(bytes,uint256[])")
CRL = function_signature_to_4byte_selector("crl(bytes,bytes)")
ERROR_SELECTOR = function_signature_to_4byte_selector("Error(string)")


class PrecompileInputError(Exception):
    """Input the precompile refuses; becomes a revert with this reason."""


def revocation_key(issuer_key_hash: bytes, serial: int) -> bytes:
    if not 0 < serial < 2**256:
        raise PrecompileInputError(f"serial {serial} is outside 1..2**256-1")
    return keccak(issuer_key_hash + serial.to_bytes(32, "big"))


def _decode(types: list[str], payload: bytes) -> tuple[Any, ...]:
    try:
        return tuple(decode(types, payload, strict=True))
    except (DecodingError, ValueError, TypeError, OverflowError) as exc:
        raise PrecompileInputError(f"malformed input for ({','.join(types)})") from exc


def _count_certificates(blob: bytes) -> int:
    return len(x509.split_certificates(blob))


def _subject(text: str) -> str:
    # Cut at a byte budget, deterministically, without splitting a UTF-8 sequence.
    return text.encode("utf-8")[:MAX_SUBJECT_BYTES].decode("utf-8", errors="ignore")


def _verify(payload: bytes, at: int) -> bytes:
    chain_blob, digest, signature = _decode(["bytes", "bytes32", "bytes"], payload)
    ders = x509.split_certificates(chain_blob)
    info = x509.validate_chain(ders, at, x509.Purpose.SIGNER)
    x509.verify_digest_signature(ders[0], digest, signature)
    keys = [revocation_key(link.issuer_key_hash, link.serial) for link in info.links]
    return encode(
        ["bytes32", "bytes32", "bytes32", "uint256", "bytes32[]", "string"],
        [info.leaf_fingerprint, info.leaf_key_hash, info.root_fingerprint, info.leaf_not_after,
         keys, _subject(info.leaf_subject)],
    )


def _inspect_root(payload: bytes, at: int) -> bytes:
    (der,) = _decode(["bytes"], payload)
    root = x509.inspect_root(der, at)
    return encode(["bytes32", "bytes32", "uint256"], [root.fingerprint, root.key_hash, root.not_after])


def _issuer_chain(chain_blob: bytes, at: int) -> tuple[bytes, bytes]:
    ders = x509.split_certificates(chain_blob)
    info = x509.validate_chain(ders, at, x509.Purpose.CRL_ISSUER)
    return info.root_fingerprint, info.leaf_key_hash


def _issuer(payload: bytes, at: int) -> bytes:
    chain_blob, serials = _decode(["bytes", "uint256[]"], payload)
    if len(serials) > MAX_SERIALS:
        raise PrecompileInputError(f"more than {MAX_SERIALS} serials in one call")
    root, issuer_key_hash = _issuer_chain(chain_blob, at)
    keys = [revocation_key(issuer_key_hash, serial) for serial in serials]
    return encode(["bytes32", "bytes32", "bytes32[]"], [root, issuer_key_hash, keys])


def _crl(payload: bytes, at: int) -> bytes:
    crl_der, chain_blob = _decode(["bytes", "bytes"], payload)
    root, issuer_key_hash = _issuer_chain(chain_blob, at)
    issuer_der = x509.split_certificates(chain_blob)[0]
    crl = x509.parse_crl(crl_der, issuer_der, at)
    keys = [revocation_key(crl.issuer_key_hash, serial) for serial in crl.serials]
    return encode(["bytes32", "bytes32", "bytes32[]"], [root, issuer_key_hash, keys])


def _gas(selector: bytes, payload: bytes) -> int:
    """The operation's price, from cheap facts about the input (no signature work)."""
    if selector == VERIFY:
        chain_blob, _, _ = _decode(["bytes", "bytes32", "bytes"], payload)
        return BASE_GAS + CERTIFICATE_GAS * _count_certificates(chain_blob) + SIGNATURE_GAS
    if selector == INSPECT_ROOT:
        return BASE_GAS + CERTIFICATE_GAS
    if selector == ISSUER:
        chain_blob, serials = _decode(["bytes", "uint256[]"], payload)
        return BASE_GAS + CERTIFICATE_GAS * _count_certificates(chain_blob) + SERIAL_GAS * len(serials)
    if selector == CRL:
        crl_der, chain_blob = _decode(["bytes", "bytes"], payload)
        return (BASE_GAS + CERTIFICATE_GAS * (_count_certificates(chain_blob) + 1)
                + CRL_BYTE_GAS * len(crl_der) + SERIAL_GAS * x509.MAX_CRL_ENTRIES)
    raise PrecompileInputError("unknown operation")


OPERATIONS: dict[bytes, Callable[[bytes, int], bytes]] = {
    VERIFY: _verify, INSPECT_ROOT: _inspect_root, ISSUER: _issuer, CRL: _crl,
}


def run(data: bytes, at: int) -> bytes:
    """The precompile's answer to `data` at time `at`, or PrecompileInputError /
    CertificateError. Pure: what the EVM wrapper and the tests both call."""
    selector, payload = data[:4], data[4:]
    operation = OPERATIONS.get(selector)
    if operation is None:
        raise PrecompileInputError("unknown operation")
    return operation(payload, at)


def error_payload(reason: str) -> bytes:
    return ERROR_SELECTOR + encode(["string"], [f"PKI: {reason}"])


def _revert(computation: ComputationAPI, reason: str) -> None:
    payload = error_payload(reason)
    computation.output = payload
    raise Revert(payload)


def pki_precompile(computation: ComputationAPI) -> ComputationAPI:
    data = computation.msg.data_as_bytes
    try:
        gas = _gas(data[:4], data[4:])
    except (PrecompileInputError, x509.CertificateError) as exc:
        _revert(computation, str(exc))
    computation.consume_gas(gas, reason="PKI precompile")  # OutOfGas is the EVM's own error
    try:
        computation.output = run(data, computation.state.timestamp)
    except (PrecompileInputError, x509.CertificateError) as exc:
        _revert(computation, str(exc))
    except Exception as exc:  # consensus code never raises out of the EVM
        _revert(computation, f"internal error ({type(exc).__name__})")
    return computation
