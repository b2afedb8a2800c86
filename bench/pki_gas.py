"""CPU cost of the PKI precompile's signature checks, and whether its gas pays for it.

The rule `node/execution/pki.py` follows: gas per CPU-second of a PKI call is never below what
ordinary EVM code pays on the same node. This script measures both sides on this
machine and prints them:

1. the reference: py-evm (our `LedgerVM`) running three plain loop contracts
   (PUSH/SWAP/SUB/JUMPI; MSTORE/MLOAD/MUL; KECCAK256 of one word) until out of gas,
   in Mgas per CPU-second;
2. CPU per signature check (`verify` of the library, as the precompile calls it) for
   RSA-2048/3072/4096/6144/8192 with e = 65537 and with the largest exponent the rules
   allow (all ones below 2^32, the slowest of its length), ECDSA P-256, P-384 and
   secp256k1, and SM2 (GmSSL through `evidence.sm2`, SM3(Z || digest) with the default
   identifier), next to `node.execution.pki.signature_check_gas` of that key; Ed25519
   keys are refused by the rules, so it has no row;
3. whole precompile calls (both gas charges computed, then `node.execution.pki.run`): normal
   chains, five-certificate chains of each RSA size at e = 65537 and at the largest
   exponent, a chain of certificates padded with SAN entries to the size caps (the
   parsing worst case) or with 150-RDN names (the worst found), `inspectRoot`, a full CRL,
   and SM2 chains made by the `openssl` command line (an SM2 root, CA and signer; an SM2
   signer under an RSA-2048 root) with an SM2 CRL — each with its gas, CPU and Mgas/CPU-s
   against the reference;
4. the chain of issue 15, finding 6 (five RSA-3072 certificates, ~3,066-bit exponent):
   what its checks would cost, and that it is now refused before any check.

CPU is `time.process_time` (this process only), the median of R runs of a batch each.
Keys are generated at the start (RSA-8192 takes a few seconds; one key per size is
reused for every certificate of a chain, under different names; the SM2 hierarchies come
from `tests/openssl_sm2.py`, in a temporary directory, and are skipped with a note when
`openssl` 3 is missing). Nothing touches the network. Tests never assert these timings.

    .venv/bin/python -m bench.pki_gas            # 5 runs
    .venv/bin/python -m bench.pki_gas --quick    # 2 runs, no 6144/8192-bit keys
"""

from __future__ import annotations

import hashlib
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gmssl_pyx
import pytest
from cryptography import x509
from cryptography.hazmat.backends.openssl.backend import backend as openssl_backend
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import NameOID
from eth.vm.spoof import SpoofTransaction
from eth_abi import encode
from eth_typing import Address

from bench.common import cli
from bench.common.machine import machine_info, machine_rows
from bench.common.results import figure, print_table, write_figures
from client import devpki
from client.sm2keys import SM2PrivateKey
from evidence import sm2, x509 as px
from node.execution import pki
from node.execution.chain import Chain
from node.execution.genesis import Genesis, build_genesis_document
from node.execution.vm import LedgerVM
from node.storage.store import LevelStore
from tests.openssl_sm2 import Issued, OpensslCA, openssl

# Certificates valid 2024-2034; calls are made at 2027-01-15 (a fixed block time).
NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2034, 1, 1, tzinfo=UTC)
AT = 1_800_000_000
DIGEST = hashlib.sha256(b"pki gas bench").digest()
E_USUAL = 65537
# Loop contracts for the reference rate: PUSH3 0xffffff; JUMPDEST (pc 4); <body>;
# PUSH1 1; SWAP1; SUB; DUP1; PUSH1 4; JUMPI; STOP — they run until out of gas.
_LOOP_HEAD, _LOOP_TAIL = bytes.fromhex("62ffffff5b"), bytes.fromhex("600190038060045700")
LOOPS = {
    "PUSH/SWAP/SUB/JUMPI loop": b"",
    "MSTORE/MLOAD/MUL loop": bytes.fromhex("80600052600051600302" "50"),
    "KECCAK256 (32 bytes) loop": bytes.fromhex("6020600020" "50"),
}
LOOP_GAS = 3_000_000


def cpu_ms(action: Callable[[], object], *, runs: int, batch: int) -> float:
    """Median over ``runs`` of the mean CPU milliseconds of ``action`` in a batch."""
    action()  # warm
    samples = []
    for _ in range(runs):
        started = time.process_time()
        for _ in range(batch):
            action()
        samples.append((time.process_time() - started) / batch * 1e3)
    return statistics.median(samples)


# --- the reference: plain EVM code ----------------------------------------------------


def evm_rates(runs: int) -> dict[str, list[float]]:
    """Mgas per CPU-second of each loop contract, ``runs`` times, on our LedgerVM."""
    caller, target = Address(b"\x0c" * 20), Address(b"\x0d" * 20)
    rates: dict[str, list[float]] = {name: [] for name in LOOPS}
    with tempfile.TemporaryDirectory(prefix="pki-gas-bench-") as tmp:
        store = LevelStore(Path(tmp) / "chain")
        try:
            genesis = Genesis.parse(build_genesis_document(
                chain_id=7, validators=[b"\x01" * 20], alloc={}, members=[(caller, "ADMIN")], timestamp=AT))
            chain = Chain.initialise(store, genesis)
            for name, body in LOOPS.items():
                for _ in range(runs):
                    state = chain.state_at(chain.head)
                    state.set_code(target, _LOOP_HEAD + body + _LOOP_TAIL)
                    unsigned = LedgerVM.create_unsigned_transaction(
                        nonce=0, gas_price=0, gas=LOOP_GAS, to=target, value=0, data=b"")
                    started = time.process_time()
                    spoofed: Any = SpoofTransaction(unsigned, from_=caller)  # py-evm's own stand-in for a signed one
                    computation = state.costless_execute_transaction(spoofed)
                    seconds = time.process_time() - started
                    used = computation.get_gas_used() - 21_000
                    rates[name].append(used / seconds / 1e6)
        finally:
            store.close()
    return rates


# --- keys and chains ----------------------------------------------------------------


def rsa_key_with_exponent(base: Any, exponent: int) -> Any:
    """``base``'s primes with public exponent ``exponent`` (stepped down by 2 until it is
    coprime to lambda(n)), d computed here: cryptography only generates small e."""
    numbers = base.private_numbers()
    p, q = numbers.p, numbers.q
    lam = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
    while math.gcd(exponent, lam) != 1:
        exponent -= 2
    d = pow(exponent, -1, lam)
    public = rsa.RSAPublicNumbers(exponent, p * q)
    private = rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q),
                                    rsa.rsa_crt_iqmp(p, q), public)
    return private.private_key(unsafe_skip_rsa_key_validation=True)


def largest_allowed_exponent() -> int:
    return 2**px.MAX_RSA_PUBLIC_EXPONENT_BITS - 1


def chain_of(key: Any, length: int, *, label: str, san_names: int = 0) -> bytes:
    """Concatenated DER, leaf first: a root, length-2 intermediates and a signer leaf, all
    with ``key`` (the cost of a check depends on the key, not on who holds it)."""
    extra = []
    if san_names:
        names = [x509.DNSName(f"n{i}.example") for i in range(san_names)]
        extra = [(x509.SubjectAlternativeName(names), False)]
    validity = {"not_before": NOT_BEFORE, "not_after": NOT_AFTER}
    root = devpki.make_root(f"{label} root", key, serial=1, **validity)  # type: ignore[arg-type]
    path = [root]
    for level in range(length - 2):
        path.insert(0, devpki.issue_certificate(
            path[0], key, key.public_key(), common_name=f"{label} CA {level}", is_ca=True, serial=10 + level,
            extra_extensions=extra, **validity))  # type: ignore[arg-type]
    leaf = devpki.issue_certificate(path[0], key, key.public_key(), common_name=f"{label} signer", serial=100,
                                    extra_extensions=extra, **validity)  # type: ignore[arg-type]
    return b"".join(cert.public_bytes(serialization.Encoding.DER) for cert in [leaf, *path])


def chain_with_long_names(key: Any, *, rdns: int) -> bytes:
    """Five certificates whose subject and issuer names hold ``rdns`` RDNs each: the most
    Python work per byte found (names are parsed, compared and rendered)."""
    def name(tag: str) -> x509.Name:
        parts = [x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, str(i))])
                 for i in range(rdns)]
        return x509.Name([*parts, x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, tag)])])

    def cert(subject: x509.Name, issuer: x509.Name, ca: bool, serial: int) -> bytes:
        usage = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"), False)
        usage.update(digital_signature=not ca, key_cert_sign=ca, crl_sign=ca)
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
                   .serial_number(serial).not_valid_before(NOT_BEFORE).not_valid_after(NOT_AFTER)
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
                   .add_extension(x509.KeyUsage(**usage), True))
        return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    names = [name(f"level {level}") for level in range(5)]
    return b"".join(cert(names[level], names[min(level + 1, 4)], level > 0, 100 - level) for level in range(5))


def verify_input(chain_der: bytes, key: Any) -> bytes:

    return pki.VERIFY + encode(["bytes", "bytes32", "bytes"], [chain_der, DIGEST, devpki.sign_digest(key, DIGEST)])


def check_action(key: Any) -> Callable[[], None]:
    """One signature check as `evidence.x509.verify_digest_signature` makes it."""
    if isinstance(key, SM2PrivateKey):
        sm2_signature, sm2_public = key.sign_digest(DIGEST), key.public_key()
        return lambda: _require(sm2_public.verify(DIGEST, sm2_signature, sm2.DEFAULT_ID))
    signature, public = devpki.sign_digest(key, DIGEST), key.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        return lambda: public.verify(signature, DIGEST, ec.ECDSA(Prehashed(hashes.SHA256())))
    return lambda: public.verify(signature, DIGEST, padding.PKCS1v15(), Prehashed(hashes.SHA256()))


def _require(verified: bool) -> None:
    # A check that failed would time the wrong path (GmSSL's refusal is shorter).
    if not verified:
        raise AssertionError("the benchmark's own signature did not verify")


def describe(key: Any) -> Any:

    if isinstance(key, SM2PrivateKey):
        return px.SM2VerifyingKey()
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        return px.RSAVerifyingKey(numbers.n.bit_length(), numbers.e.bit_length())
    return px.ECVerifyingKey({"secp256r1": "P-256", "secp384r1": "P-384", "secp256k1": "secp256k1"}[public.curve.name])


@dataclass
class Call:
    label: str
    data: bytes


def sm2_calls(directory: Path) -> list[Call]:
    """SM2 calls on hierarchies the `openssl` command line makes (as a Chinese CA issues
    them: SM3withSM2 with the identifier 1234567812345678): verify with an SM2 root, CA
    and signer; verify with an SM2 signer under an RSA-2048 root; an SM2 CA's CRL."""
    def chain_der(issued: Issued) -> bytes:
        return b"".join(x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(serialization.Encoding.DER)
                        for path in issued.path)

    def verify_sm2(issued: Issued) -> bytes:
        key = SM2PrivateKey.from_pem(issued.key.read_bytes())
        return pki.VERIFY + encode(["bytes", "bytes32", "bytes"], [chain_der(issued), DIGEST, key.sign_digest(DIGEST)])

    root = OpensslCA(directory / "sm2-root", "SM2 Root")
    issuing = OpensslCA(directory / "sm2-ca", "SM2 CA", parent=root)
    signer = issuing.issue("SM2 Signer")
    rsa_root = OpensslCA(directory / "rsa-root", "RSA Root", key_type="rsa2048")
    mixed = rsa_root.issue("SM2 Signer under RSA")
    issuing.revoke(issuing.issue("SM2 Revoked"))
    # Fixed dates (the CRL's thisUpdate is before AT whatever the clock says).
    crl_pem = directory / "sm2-crl.pem"
    openssl("ca", "-batch", "-config", issuing.config, "-gencrl", "-out", crl_pem, "-cert", issuing.cert,
            "-keyfile", issuing.key, "-crl_lastupdate", "20240101000000Z", "-crl_nextupdate", "20340101000000Z",
            "-md", "sm3", "-sigopt", f"distid:{sm2.DEFAULT_ID.decode()}")
    crl = x509.load_pem_x509_crl(crl_pem.read_bytes()).public_bytes(serialization.Encoding.DER)
    return [
        Call("verify, 3 certs SM2 (root, CA, signer; openssl CLI)", verify_sm2(signer)),
        Call("verify, 2 certs RSA-2048 root, SM2 signer (openssl CLI)", verify_sm2(mixed)),
        Call(f"crl, 1 entry ({len(crl):,} B), SM2 CA chain of 2 (openssl CLI)",
             pki.CRL + encode(["bytes", "bytes"], [crl, chain_der(issuing.issued)])),
    ]


def call_action(data: bytes) -> Callable[[], None]:
    """What the precompile does for ``data``: both charges computed, then the work."""
    def action() -> None:
        pki.gas(data)
        pki.run(data, AT)

    return action


# --- main -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    cli.add_runs(p, 5, "runs per figure; the median is reported", short=True)
    cli.add_quick(p, "2 runs, RSA up to 4096 bits only")
    cli.add_figures_out(p)
    args = p.parse_args(argv)
    if args.quick:
        args.runs = 2
    cli.require_positive(p, args, "runs")

    info = machine_info()
    runs = args.runs

    # 1. The reference.
    rates = evm_rates(runs)
    reference = max(statistics.median(values) for values in rates.values())  # the strictest

    # 2. Keys, and CPU per signature check.
    sizes = (2048, 3072, 4096) if args.quick else (2048, 3072, 4096, 6144, 8192)
    started = time.perf_counter()
    rsa_bases = {bits: rsa.generate_private_key(public_exponent=E_USUAL, key_size=bits) for bits in sizes}
    keygen_s = time.perf_counter() - started
    e_max = largest_allowed_exponent()
    keys: dict[str, Any] = {}
    for bits in sizes:
        keys[f"RSA-{bits} e=65537"] = rsa_bases[bits]
        keys[f"RSA-{bits} e=2^32-1"] = rsa_key_with_exponent(rsa_bases[bits], e_max)
    for name, curve in (("ECDSA P-256", ec.SECP256R1()), ("ECDSA P-384", ec.SECP384R1()),
                        ("ECDSA secp256k1", ec.SECP256K1())):
        keys[name] = ec.generate_private_key(curve)
    keys["SM2"] = SM2PrivateKey.generate()

    check_rows: list[tuple[str, Any]] = []
    figures: list[dict[str, Any]] = []
    for name, key in keys.items():
        spent = [cpu_ms(check_action(key), runs=1, batch=200) for _ in range(runs)]
        ms = statistics.median(spent)
        gas = pki.signature_check_gas(describe(key))
        check_rows.append((f"{name} (e of {describe(key).exponent_bits} bits)" if name.startswith("RSA") else name,
                           f"{ms:.3f} ms  {gas:>6,} gas  {gas / ms / 1e3:6.1f} Mgas/CPU-s"))
        figures.append(figure(f"pki_gas.check.{name}", "ms", spent, better="lower", group="signature check CPU"))

    # 3. Whole calls.
    p256, p384, k1 = keys["ECDSA P-256"], keys["ECDSA P-384"], keys["ECDSA secp256k1"]
    rsa2048 = keys["RSA-2048 e=65537"]
    calls = [
        Call("verify, 3 certs P-256 (root, CA, signer)", verify_input(chain_of(p256, 3, label="P-256"), p256)),
        Call("verify, 2 certs RSA-2048 e=65537", verify_input(chain_of(rsa2048, 2, label="RSA"), rsa2048)),
        Call("verify, 2 certs P-384", verify_input(chain_of(p384, 2, label="P-384"), p384)),
        Call("verify, 5 certs P-256", verify_input(chain_of(p256, 5, label="P-256 five"), p256)),
    ]
    # A secp256k1 signer under a P-256 CA (CAs may not use secp256k1).
    k1_chain = chain_of(p256, 2, label="k1")
    leaf_der = devpki.issue_certificate(
        px_load(k1_chain, 1), p256, k1.public_key(), common_name="k1 signer", serial=101,
        not_before=NOT_BEFORE, not_after=NOT_AFTER).public_bytes(serialization.Encoding.DER)
    calls.append(Call("verify, 2 certs P-256 CA, secp256k1 signer",
                      verify_input(leaf_der + px.split_certificates(k1_chain)[1], k1)))
    for bits in sizes:
        for exponent in ("e=65537", "e=2^32-1"):
            key = keys[f"RSA-{bits} {exponent}"]
            calls.append(Call(f"verify, 5 certs RSA-{bits} {exponent}",
                              verify_input(chain_of(key, 5, label=f"RSA-{bits}"), key)))
    # The parsing worst case: five certificates padded with SAN entries up to the chain cap.
    padded = chain_of(p256, 5, label="padded", san_names=330)
    calls.append(Call(f"verify, 5 P-256 certs padded with SANs ({len(padded):,} B)", verify_input(padded, p256)))
    many_rdns = chain_with_long_names(p256, rdns=150)
    calls.append(Call(f"verify, 5 P-256 certs with 150-RDN names ({len(many_rdns):,} B)", verify_input(many_rdns, p256)))
    biggest = keys[f"RSA-{sizes[-1]} e=2^32-1"]
    root_der = chain_of(biggest, 2, label="root only")
    calls.append(Call(f"inspectRoot, RSA-{sizes[-1]} e=2^32-1",
                      pki.INSPECT_ROOT + encode(["bytes"], [px.split_certificates(root_der)[1]])))
    issuer_chain = b"".join(px.split_certificates(chain_of(p256, 3, label="CRL"))[1:])
    crl = devpki.make_crl(px_load(issuer_chain, 0), p256, list(range(1, px.MAX_CRL_ENTRIES + 1)),
                          this_update=NOT_BEFORE, next_update=NOT_AFTER).public_bytes(serialization.Encoding.DER)
    calls.append(Call(f"crl, {px.MAX_CRL_ENTRIES} entries ({len(crl):,} B), P-256 CA chain of 2",
                      pki.CRL + encode(["bytes", "bytes"], [crl, issuer_chain])))
    sm2_note = "made by the openssl command line"
    with tempfile.TemporaryDirectory(prefix="pki-gas-sm2-") as sm2_dir:
        try:
            calls.extend(sm2_calls(Path(sm2_dir)))
        except pytest.skip.Exception as exc:  # openssl missing or older than 3 (require_openssl)
            sm2_note = f"skipped: {exc}"

    call_rows: list[tuple[str, Any]] = []
    cheapest = math.inf
    for call in calls:
        gas = pki.gas(call.data)
        spent = [cpu_ms(call_action(call.data), runs=1, batch=20) for _ in range(runs)]
        ms = statistics.median(spent)
        rate = gas / ms / 1e3
        cheapest = min(cheapest, rate)
        call_rows.append((call.label, f"{gas:>8,} gas  {ms:7.3f} ms  {rate:6.1f} Mgas/CPU-s  "
                                      f"{rate / reference:5.1f}x the EVM reference"))
        figures.append(figure(f"pki_gas.call.{call.label}", "ms", spent, better="lower", group="precompile call CPU",
                              note=f"{gas} gas"))

    # 4. The chain of the finding: RSA-3072 with a ~3,066-bit exponent, five certificates.
    attack_key = rsa_key_with_exponent(rsa_bases[3072], (1 << 3066) - 1)
    attack = verify_input(chain_of(attack_key, 5, label="finding 6"), attack_key)
    checks_ms = statistics.median([cpu_ms(check_action(attack_key), runs=1, batch=10) for _ in range(runs)])
    try:
        pki.gas(attack)
        verdict = "NOT refused"
    except px.CertificateError as exc:
        verdict = f"refused before any check: {exc}"
    refuse_ms = cpu_ms(lambda: _refusal(attack), runs=runs, batch=20)
    old_gas = 3_000 + 5 * 10_000 + 10_000  # the flat price before this change
    attack_rows: list[tuple[str, Any]] = [
        ("one check with its key", f"{checks_ms:.2f} ms"),
        ("the 6 checks of a verify call (5 chain + digest)", f"{6 * checks_ms:.1f} ms"),
        ("old flat price", f"{old_gas:,} gas = {old_gas / (6 * checks_ms) / 1e3:.1f} Mgas/CPU-s "
                           f"({reference / (old_gas / (6 * checks_ms) / 1e3):.1f}x cheaper than the EVM reference)"),
        ("now", verdict),
        ("CPU spent refusing it (parse + key rules)", f"{refuse_ms:.3f} ms"),
    ]

    print_table("PKI precompile gas: machine", machine_rows(info) + [
        ("OpenSSL", _openssl()), ("GmSSL (gmssl-pyx)", _gmssl()),
        ("RSA key generation (not timed below)", f"{keygen_s:.1f} s"),
        ("SM2 chains", sm2_note), ("runs per figure (median)", runs)])
    print_table("reference: py-evm loop contracts, Mgas per CPU-second", [
        (name, f"{statistics.median(values):.2f}  runs {[round(v, 2) for v in values]}") for name, values in rates.items()
    ] + [("reference (the fastest, i.e. strictest)", f"{reference:.2f} Mgas/CPU-s"),
         ("node.execution.pki.GAS_PER_CPU_MS", f"{pki.GAS_PER_CPU_MS:,} gas/ms = {pki.GAS_PER_CPU_MS / 1e3:.0f} Mgas/CPU-s")])
    print_table("one signature check: CPU, node.execution.pki.signature_check_gas", check_rows)
    print_table("whole precompile calls (both charges + run)", call_rows + [
        ("cheapest call", f"{cheapest:.1f} Mgas/CPU-s: "
                          f"{'priced at or above' if cheapest >= reference else 'BELOW'} the EVM reference")])
    print_table("issue 15 finding 6: five RSA-3072 certificates, e of 3,066 bits", attack_rows)
    write_figures(args.figures_out, "pki_gas", figures + [
        figure(f"pki_gas.evm.{name}", "Mgas/CPU-s", values, group="EVM reference") for name, values in rates.items()
    ], reference_mgas_per_cpu_s=reference, cheapest_call_mgas_per_cpu_s=cheapest)
    return 0 if cheapest >= reference else 1


def px_load(chain_der: bytes, index: int) -> Any:
    """The certificate at ``index`` of a concatenated DER chain."""
    return x509.load_der_x509_certificate(px.split_certificates(chain_der)[index])


def _refusal(data: bytes) -> None:
    try:
        pki.gas(data)
    except px.CertificateError:
        pass


def _openssl() -> str:
    return str(openssl_backend.openssl_version_text())


def _gmssl() -> str:
    return f"gmssl-pyx {'.'.join(map(str, gmssl_pyx.version_info))}"



if __name__ == "__main__":
    sys.exit(main())
