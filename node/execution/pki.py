"""The PKI precompile: X.509 chain validation and digest signatures inside the EVM.

Consensus code. The rules live in `evidence.x509` (pure, also what a court runs
offline); this module frames them as a precompile at `chaincode.PKI_PRECOMPILE`:
Solidity-ABI input behind a 4-byte selector, ABI output, a gas charge fixed by the
input and taken before any signature is checked, and the block's timestamp as the
validation time. Bad input of any kind reverts with `Error(string)` naming the reason;
nothing raises out of the EVM but out-of-gas.

Gas follows the work, like EIP-2565's modexp pricing, in two charges: first the framing
price (base, per certificate, per CRL byte and entry) from the ABI and DER framing alone;
then, from the parsed keys, one price per signature check by the key it is checked with
(RSA: modulus and exponent length; EC: the curve; SM2: one price). A key the rules
refuse (an RSA exponent above 2^32, say, or an RSA key on a gm chain) reverts between
the two, so no signature is ever checked unpaid. The prices and the measurement behind
them are below and in `docs/chaincode.md`.

Operations (the system contracts are the callers):

- ``verify(bytes chain, bytes32 digest, bytes signature)`` -> ``(bytes32 leafFingerprint,
  bytes32 leafKeyHash, bytes32 rootFingerprint, uint256 notAfter, bytes32[] revocationKeys,
  string subject)``: a signer's chain (concatenated DER, leaf first, root last) valid at
  block time, and `signature` over `digest` by the leaf key.
- ``inspectRoot(bytes certificate)`` -> ``(bytes32 fingerprint, bytes32 keyHash, uint256 notAfter)``
- ``issuer(bytes chain, uint256[] serials)`` -> ``(bytes32 rootFingerprint, bytes32
  issuerKeyHash, bytes32[] revocationKeys)``: a CA's chain and the keys of its serials.
- ``crl(bytes crl, bytes issuerChain)`` -> the same, for every serial a CRL lists.

The chain's crypto profile (`x509.CryptoProfile`: ``mixed`` or ``gm``, national algorithms
only) is the identity registry's ``crypto_profile`` slot, written in genesis: the EVM
wrapper reads it from state on every call and hands it to the rules; a value outside
`chaincode.CRYPTO_PROFILES` reverts.

Whether a root is trusted and whether a key is revoked is the identity registry's
storage; the precompile only computes. A revocation key is
keccak256(sha256(issuer SubjectPublicKeyInfo) ‖ uint256 serial), so a CA re-issuing
its own certificate with the same key keeps its revocations.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from eth.abc import ComputationAPI
from eth.exceptions import Revert
from eth_abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_hash.auto import keccak
from eth_typing import Address
from eth_utils import function_signature_to_4byte_selector

from chaincode import CRYPTO_PROFILE_NAMES, IDENTITY_REGISTRY, load_artifact
from evidence import x509
from node.errors import NodeError

# Gas. The rule: every price is at least GAS_PER_CPU_MS times the CPU the work takes on
# the reference machine (bench/pki_gas.py: 2-core AMD EPYC, py-evm 0.12.1b1, OpenSSL 4.1.1, Dec
# 2026), and GAS_PER_CPU_MS is ~4x the fastest plain py-evm execution measured there
# (simple loop contracts run 2.6-4.6 Mgas per CPU-second), so a block full of PKI calls
# never costs a validator more CPU than a block full of ordinary code — with room for
# machines where OpenSSL is relatively slower than the Python interpreter.
GAS_PER_CPU_MS = 20_000
# The framing price, charged first.
BASE_GAS = 3_000
CERTIFICATE_GAS = 10_000      # per certificate: parse and rules, ~0.3 ms of Python
# Per byte of certificates. Parsing is Python work that grows with what a certificate
# holds, not only its size: five certificates padded to the 24 KiB cap with 150-RDN
# names took 18.4 ms (0.86 us per byte; SAN, policy or unknown-extension padding
# 0.17-0.52 us), which the flat per-certificate price sold at 3.4 Mgas/CPU-s, below
# plain EVM code. 16 gas per byte pays the worst of them at ~19 Mgas/CPU-s.
CERTIFICATE_BYTE_GAS = 16
CRL_BYTE_GAS = 8              # a 64 KiB CRL costs ~0.5M gas
SERIAL_GAS = 200              # per serial hashed into a revocation key
# Then one price per signature check, by the key it is checked with (bench/pki_gas.py,
# CPU per check on the reference machine, x GAS_PER_CPU_MS, rounded up):
# ECDSA P-256 0.063 ms, secp256k1 0.31-0.33 ms, P-384 0.48-0.50 ms.
EC_CHECK_GAS = {"P-256": 1_500, "secp256k1": 7_000, "P-384": 11_000}
# RSA: one modular exponentiation by e, so cost ~ (modulus words)^2 x (exponent bits),
# the shape of EIP-2565's modexp price, plus a fixed part (padding, DigestInfo). Fitted
# to 0.008 ms + 1.1e-6 ms x words^2 x bits over 2048-8192-bit moduli and 17-32-bit
# exponents (all-ones exponents, the slowest of their length), then x GAS_PER_CPU_MS:
# RSA-2048 e=65537 0.023 ms -> 636 gas; RSA-8192 e=2^32-1 0.58 ms -> 13,308 gas.
RSA_CHECK_BASE_GAS = 200
RSA_CHECK_DIVISOR = 40        # gas = base + words^2 * exponent bits / 40
# SM2 (GmSSL through gmssl-pyx 2.1.0, as evidence.sm2 calls it: strict DER framing, then
# Z, SM3(Z || message) and the check): 0.58-0.61 ms per check on the reference machine
# (bench/pki_gas.py, the same method as above; 0.610 ms the median of 5 runs), ~10x a
# P-256 check. 0.61 x GAS_PER_CPU_MS = 12,200, rounded up like the EC prices.
SM2_CHECK_GAS = 13_000
MAX_SERIALS = 64              # IdentityRegistry.revoke's DynArray bound
MAX_SUBJECT_BYTES = 256       # IdentityRegistry's String[256]
# Where IdentityRegistry keeps the chain's crypto profile (its compiled storage layout),
# read once: the artifact is fixed for the node's life.
CRYPTO_PROFILE_SLOT = load_artifact("IdentityRegistry").slot("crypto_profile")

VERIFY = function_signature_to_4byte_selector("verify(bytes,bytes32,bytes)")
INSPECT_ROOT = function_signature_to_4byte_selector("inspectRoot(bytes)")
ISSUER = function_signature_to_4byte_selector("issuer(bytes,uint256[])")
CRL = function_signature_to_4byte_selector("crl(bytes,bytes)")
ERROR_SELECTOR = function_signature_to_4byte_selector("Error(string)")


class PrecompileInputError(NodeError):
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


def _subject(text: str) -> str:
    # Cut at a byte budget, deterministically, without splitting a UTF-8 sequence.
    return text.encode("utf-8")[:MAX_SUBJECT_BYTES].decode("utf-8", errors="ignore")


def _verify(payload: bytes, at: int, profile: x509.CryptoProfile) -> bytes:
    chain_blob, digest, signature = _decode(["bytes", "bytes32", "bytes"], payload)
    ders = x509.split_certificates(chain_blob)
    info = x509.validate_chain(ders, at, x509.Purpose.SIGNER, profile=profile)
    x509.verify_digest_signature(ders[0], digest, signature, profile=profile)
    keys = [revocation_key(link.issuer_key_hash, link.serial) for link in info.links]
    return encode(
        ["bytes32", "bytes32", "bytes32", "uint256", "bytes32[]", "string"],
        [info.leaf_fingerprint, info.leaf_key_hash, info.root_fingerprint, info.leaf_not_after,
         keys, _subject(info.leaf_subject)],
    )


def _inspect_root(payload: bytes, at: int, profile: x509.CryptoProfile) -> bytes:
    (der,) = _decode(["bytes"], payload)
    root = x509.inspect_root(der, at, profile=profile)
    return encode(["bytes32", "bytes32", "uint256"], [root.fingerprint, root.key_hash, root.not_after])


def _issuer_chain(chain_blob: bytes, at: int, profile: x509.CryptoProfile) -> tuple[bytes, bytes]:
    ders = x509.split_certificates(chain_blob)
    info = x509.validate_chain(ders, at, x509.Purpose.CRL_ISSUER, profile=profile)
    return info.root_fingerprint, info.leaf_key_hash


def _issuer(payload: bytes, at: int, profile: x509.CryptoProfile) -> bytes:
    chain_blob, serials = _decode(["bytes", "uint256[]"], payload)
    if len(serials) > MAX_SERIALS:
        raise PrecompileInputError(f"more than {MAX_SERIALS} serials in one call")
    root, issuer_key_hash = _issuer_chain(chain_blob, at, profile)
    keys = [revocation_key(issuer_key_hash, serial) for serial in serials]
    return encode(["bytes32", "bytes32", "bytes32[]"], [root, issuer_key_hash, keys])


def _crl(payload: bytes, at: int, profile: x509.CryptoProfile) -> bytes:
    crl_der, chain_blob = _decode(["bytes", "bytes"], payload)
    root, issuer_key_hash = _issuer_chain(chain_blob, at, profile)
    issuer_der = x509.split_certificates(chain_blob)[0]
    crl = x509.parse_crl(crl_der, issuer_der, at, profile=profile)
    keys = [revocation_key(crl.issuer_key_hash, serial) for serial in crl.serials]
    return encode(["bytes32", "bytes32", "bytes32[]"], [root, issuer_key_hash, keys])


def signature_check_gas(key: x509.VerifyingKey) -> int:
    """The price of one signature check with ``key`` (the rule in docs/chaincode.md)."""
    if isinstance(key, x509.SM2VerifyingKey):
        return SM2_CHECK_GAS
    if isinstance(key, x509.ECVerifyingKey):
        return EC_CHECK_GAS[key.curve]
    words = -(-key.modulus_bits // 64)
    return RSA_CHECK_BASE_GAS + -(-words * words * max(key.exponent_bits, 1) // RSA_CHECK_DIVISOR)


def _certificates_gas(ders: list[bytes]) -> int:
    return CERTIFICATE_GAS * len(ders) + CERTIFICATE_BYTE_GAS * sum(len(der) for der in ders)


def _framing_gas(selector: bytes, payload: bytes) -> int:
    """The operation's first charge, from the ABI and DER framing only (nothing parsed)."""
    if selector == VERIFY:
        chain_blob, _, _ = _decode(["bytes", "bytes32", "bytes"], payload)
        return BASE_GAS + _certificates_gas(x509.split_certificates(chain_blob))
    if selector == INSPECT_ROOT:
        (der,) = _decode(["bytes"], payload)
        return BASE_GAS + _certificates_gas([der])
    if selector == ISSUER:
        chain_blob, serials = _decode(["bytes", "uint256[]"], payload)
        return BASE_GAS + _certificates_gas(x509.split_certificates(chain_blob)) + SERIAL_GAS * len(serials)
    if selector == CRL:
        crl_der, chain_blob = _decode(["bytes", "bytes"], payload)
        ders = x509.split_certificates(chain_blob)
        # The issuing CA's certificate is parsed twice: in its chain and beside the CRL.
        return (BASE_GAS + _certificates_gas([*ders, ders[0]])
                + CRL_BYTE_GAS * len(crl_der) + SERIAL_GAS * x509.MAX_CRL_ENTRIES)
    raise PrecompileInputError("unknown operation")


def _verifying_keys(selector: bytes, payload: bytes, profile: x509.CryptoProfile) -> tuple[x509.VerifyingKey, ...]:
    """The key of every signature check the operation will make, parsed and held to the
    key rules (type, size, curve, RSA exponent, the profile's) — no signature checked.
    Called after the framing charge, so the parsing is paid for."""
    if selector == VERIFY:
        chain_blob, _, _ = _decode(["bytes", "bytes32", "bytes"], payload)
        ders = x509.split_certificates(chain_blob)
        return (*x509.chain_verifying_keys(ders, x509.Purpose.SIGNER, profile=profile),
                x509.verifying_key(ders[0], signer=True, profile=profile))
    if selector == INSPECT_ROOT:
        (der,) = _decode(["bytes"], payload)
        return (x509.verifying_key(der, signer=False, profile=profile),)
    if selector == ISSUER:
        chain_blob, _ = _decode(["bytes", "uint256[]"], payload)
        return x509.chain_verifying_keys(x509.split_certificates(chain_blob), x509.Purpose.CRL_ISSUER,
                                         profile=profile)
    if selector == CRL:
        _, chain_blob = _decode(["bytes", "bytes"], payload)
        ders = x509.split_certificates(chain_blob)
        return (*x509.chain_verifying_keys(ders, x509.Purpose.CRL_ISSUER, profile=profile),
                x509.verifying_key(ders[0], signer=False, profile=profile))
    raise PrecompileInputError("unknown operation")


def _signature_gas(selector: bytes, payload: bytes, profile: x509.CryptoProfile) -> int:
    """The operation's second charge: its signature checks, priced by their keys."""
    return sum(signature_check_gas(key) for key in _verifying_keys(selector, payload, profile))


def gas(data: bytes, profile: x509.CryptoProfile = x509.CryptoProfile.MIXED) -> int:
    """The whole price of a call with input ``data`` on a chain of ``profile`` (both
    charges), or the PrecompileInputError / CertificateError it reverts with before any
    signature check."""
    selector, payload = data[:4], data[4:]
    return _framing_gas(selector, payload) + _signature_gas(selector, payload, profile)


OPERATIONS: dict[bytes, Callable[[bytes, int, x509.CryptoProfile], bytes]] = {
    VERIFY: _verify, INSPECT_ROOT: _inspect_root, ISSUER: _issuer, CRL: _crl,
}


def run(data: bytes, at: int, profile: x509.CryptoProfile = x509.CryptoProfile.MIXED) -> bytes:
    """The precompile's answer to `data` at time `at` on a chain of ``profile``, or
    PrecompileInputError / CertificateError. Pure: what the EVM wrapper and the tests
    both call."""
    selector, payload = data[:4], data[4:]
    operation = OPERATIONS.get(selector)
    if operation is None:
        raise PrecompileInputError("unknown operation")
    return operation(payload, at, profile)


def crypto_profile(code: int) -> x509.CryptoProfile:
    """The profile stored as ``code`` in IdentityRegistry.crypto_profile
    (`chaincode.CRYPTO_PROFILES`); PrecompileInputError for any other value."""
    name = CRYPTO_PROFILE_NAMES.get(code)
    if name is None:
        raise PrecompileInputError(f"unknown crypto profile {code}")
    return x509.CryptoProfile(name)


def error_payload(reason: str) -> bytes:
    return ERROR_SELECTOR + encode(["string"], [f"PKI: {reason}"])


def _revert(computation: ComputationAPI, reason: str) -> NoReturn:
    payload = error_payload(reason)
    computation.output = payload
    raise Revert(payload)


def pki_precompile(computation: ComputationAPI) -> ComputationAPI:
    data = computation.msg.data_as_bytes
    selector, payload = data[:4], data[4:]
    # The chain's profile, from the identity registry's storage (one slot read, unpriced
    # like the precompile's input: it decides which keys the second charge accepts).
    try:
        profile = crypto_profile(computation.state.get_storage(Address(IDENTITY_REGISTRY), CRYPTO_PROFILE_SLOT))
    except PrecompileInputError as exc:
        _revert(computation, str(exc))
    # Each charge is computed, then taken, before the work it pays for; OutOfGas is the
    # EVM's own error. The framing charge pays for parsing the keys the second prices.
    charges: tuple[Callable[[], int], ...] = (
        lambda: _framing_gas(selector, payload), lambda: _signature_gas(selector, payload, profile))
    for charge in charges:
        try:
            price = charge()
        except (PrecompileInputError, x509.CertificateError) as exc:
            _revert(computation, str(exc))
        except Exception as exc:  # consensus code never raises out of the EVM
            _revert(computation, f"internal error ({type(exc).__name__})")
        computation.consume_gas(price, reason="PKI precompile")
    try:
        computation.output = run(data, computation.state.timestamp, profile)
    except (PrecompileInputError, x509.CertificateError) as exc:
        _revert(computation, str(exc))
    except Exception as exc:  # consensus code never raises out of the EVM
        _revert(computation, f"internal error ({type(exc).__name__})")
    return computation
