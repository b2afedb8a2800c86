"""genesis.json in Hyperledger Besu's QBFT shape, plus our `evidenceLedger` section.

`Genesis.parse` is the only way to get a `Genesis`: a genesis that exists is valid, and a
bad one is refused with a `ConfigError` naming the field (``config.qbft.blockperiodseconds``).
Numbers, byte strings and addresses are read by evidence/genesis.py's parsers, the ones
an offline verifier reads the same document with (docs/receipt.md), so that the node and
the verifier accept the same genesis.json: a number is a JSON integer or a string of
"0x"-hex or decimal digits; bytes are "0x"-hex without white space; an account or a
storage slot listed twice, under two spellings, is refused rather than read last-wins.

`evidenceLedger.cryptoProfile` names the algorithms certificates on the chain may use
(`chaincode.CRYPTO_PROFILES`): "mixed" (RSA, ECDSA and SM2 side by side; what a genesis
that names none means) or "gm" (national: SM2 keys, SM3withSM2 signatures). Genesis writes
it into IdentityRegistry.crypto_profile, where the PKI precompile reads it, so the state
root and the genesis hash commit to it; here a gm genesis refuses a trusted root that is
not SM2 before any node runs it.
"""
from __future__ import annotations

import calendar
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from eth_utils import to_checksum_address

from chaincode import CRYPTO_PROFILE_NAMES, CRYPTO_PROFILES, IDENTITY_REGISTRY, ROLES, SYSTEM_CONTRACTS, load_artifact
from chaincode.alloc import identity_storage, system_alloc
from evidence.genesis import (
    GenesisFormatError,
    check_chain_name,
    fallback_chain_name,
    parse_address,
    parse_hex_bytes,
    parse_number,
)
from evidence.qbft import MIX_HASH, VANITY_LENGTH, ExtraData, HeaderFormatError
from evidence.x509 import CertificateError, CryptoProfile, inspect_root
from node.errors import ConfigError
from node.fields import typed_field

# Block gas limit used by `ledger genesis new`: Besu's QBFT examples use 0x1fffffffffffff;
# we keep a bound that still caps one block's work (about 3,000 storage-writing calls).
DEFAULT_GAS_LIMIT = 150_000_000
MAX_VALIDATORS = 64  # bounds extraData size and seal checks per block
# What a genesis without evidenceLedger.cryptoProfile means: every chain made before
# profiles existed took RSA and ECDSA (now SM2 too) certificates side by side.
DEFAULT_CRYPTO_PROFILE = CryptoProfile.MIXED.value
# How much of a refused value a message quotes (a hand-edited genesis may hold anything).
_SHOWN_VALUE_CHARS = 40


@dataclass(frozen=True)
class QBFTConfig:
    block_period: int
    empty_block_period: int
    request_timeout: int
    epoch_length: int


@dataclass(frozen=True)
class Account:
    balance: int
    nonce: int
    code: bytes
    storage: Mapping[int, int]


@dataclass(frozen=True)
class Member:
    address: bytes
    role: str


@dataclass(frozen=True)
class Genesis:
    chain_id: int
    qbft: QBFTConfig
    gas_limit: int
    timestamp: int
    extra_data: bytes
    validators: tuple[bytes, ...]
    alloc: Mapping[bytes, Account]
    trusted_roots: tuple[bytes, ...]  # DER, from the PEM in evidenceLedger.trustedRoots
    members: tuple[Member, ...]
    document: Mapping[str, Any]
    # evidenceLedger.chainName, or "chain <chainId>" when genesis names none: what receipts
    # (v2) call this chain, beside its genesis hash (evidence/genesis.py).
    chain_name: str
    # PEM of the CA that issues the validators' and observers' TLS certificates
    # (evidenceLedger.consortiumCA); None on a chain that runs no peer-to-peer network.
    consortium_ca: bytes | None = None
    # evidenceLedger.cryptoProfile, a key of chaincode.CRYPTO_PROFILES ("mixed" when absent):
    # the algorithms the PKI precompile lets certificates on this chain use.
    crypto_profile: str = DEFAULT_CRYPTO_PROFILE

    @classmethod
    def load(cls, path: Path) -> Genesis:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(str(path), f"cannot read genesis: {exc.strerror}") from exc
        return cls.parse_text(text)

    @classmethod
    def parse_text(cls, text: str) -> Genesis:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError("genesis", f"not JSON: {exc}") from exc
        return cls.parse(document)

    @classmethod
    def parse(cls, document: Any) -> Genesis:
        _expect(isinstance(document, dict), "genesis", "must be a JSON object")
        config = _field(document, "config", dict, "genesis")
        chain_id = _int(_field(config, "chainId", (int, str), "config"), "config.chainId")
        _expect(0 < chain_id < 2**63, "config.chainId", "must be between 1 and 2**63-1")
        _expect(
            config.get("zeroBaseFee") is True,
            "config.zeroBaseFee",
            "must be true: this ledger charges no gas fees",
        )
        qbft = _field(config, "qbft", dict, "config")
        q = QBFTConfig(
            block_period=_positive(qbft, "blockperiodseconds", "config.qbft"),
            empty_block_period=_positive(qbft, "emptyblockperiodseconds", "config.qbft"),
            request_timeout=_positive(qbft, "requesttimeoutseconds", "config.qbft"),
            epoch_length=_positive(qbft, "epochlength", "config.qbft"),
        )
        _expect(
            q.empty_block_period >= q.block_period,
            "config.qbft.emptyblockperiodseconds",
            "must not be shorter than blockperiodseconds",
        )
        gas_limit = _int(_field(document, "gasLimit", (int, str), "genesis"), "gasLimit")
        _expect(21_000 <= gas_limit < 2**63, "gasLimit", "must be between 21000 and 2**63-1")
        timestamp = _int(document.get("timestamp", "0x0"), "timestamp")
        _expect(0 <= timestamp < 2**63, "timestamp", "must be a non-negative 64-bit integer")
        if "mixHash" in document:
            _expect(
                _bytes(document["mixHash"], "mixHash") == MIX_HASH,
                "mixHash",
                f"must be the QBFT constant 0x{MIX_HASH.hex()}",
            )
        extra_data = _bytes(_field(document, "extraData", str, "genesis"), "extraData")
        try:
            extra = ExtraData.decode(extra_data)
        except HeaderFormatError as exc:
            raise ConfigError("extraData", str(exc)) from exc
        _expect(len(extra.validators) > 0, "extraData", "names no validators")
        _expect(len(extra.validators) <= MAX_VALIDATORS, "extraData", f"more than {MAX_VALIDATORS} validators")
        _expect(len(set(extra.validators)) == len(extra.validators), "extraData", "repeats a validator")
        _expect(extra.seals == () and extra.round == 0 and extra.vote is None, "extraData",
                "genesis extraData must carry no vote, round 0 and no seals")
        alloc = _parse_alloc(_field(document, "alloc", dict, "genesis"))
        ledger = document.get("evidenceLedger", {})
        _expect(isinstance(ledger, dict), "evidenceLedger", "must be an object")
        roots_doc = ledger.get("trustedRoots", [])
        _expect(isinstance(roots_doc, list) and all(isinstance(r, str) for r in roots_doc),
                "evidenceLedger.trustedRoots", "must be a list of PEM certificates")
        crypto_profile = parse_crypto_profile(ledger)
        roots = tuple(
            cls.parse_root(pem, f"evidenceLedger.trustedRoots[{i}]", crypto_profile) for i, pem in enumerate(roots_doc)
        )
        members_doc = ledger.get("members", [])
        _expect(isinstance(members_doc, list), "evidenceLedger.members", "must be a list")
        members = []
        for index, entry in enumerate(members_doc):
            where = f"evidenceLedger.members[{index}]"
            _expect(isinstance(entry, dict), where, "must be an object")
            address = _address(_field(entry, "address", str, where), f"{where}.address")
            role = _field(entry, "role", str, where)
            _expect(role in ROLES, f"{where}.role", f"must be one of {', '.join(ROLES)}")
            members.append(Member(address, role))
        _check_system_contracts(alloc, members, roots, crypto_profile)
        chain_name = fallback_chain_name(chain_id)
        if "chainName" in ledger:
            try:
                chain_name = check_chain_name(ledger["chainName"], "evidenceLedger.chainName")
            except GenesisFormatError as exc:
                raise ConfigError(exc.field, exc.reason) from exc
        consortium_ca = None
        if "consortiumCA" in ledger:
            _expect(isinstance(ledger["consortiumCA"], str), "evidenceLedger.consortiumCA",
                    "must be a PEM certificate")
            consortium_ca = _consortium_ca(ledger["consortiumCA"], "evidenceLedger.consortiumCA")
        return cls(
            chain_id=chain_id,
            qbft=q,
            gas_limit=gas_limit,
            timestamp=timestamp,
            extra_data=extra_data,
            validators=extra.validators,
            alloc=alloc,
            trusted_roots=roots,
            members=tuple(members),
            document=document,
            chain_name=chain_name,
            consortium_ca=consortium_ca,
            crypto_profile=crypto_profile,
        )

    @staticmethod
    def parse_root(pem: str, field: str, crypto_profile: str = DEFAULT_CRYPTO_PROFILE) -> bytes:
        """A trusted root's DER from its PEM, or ConfigError naming `field`; under the gm
        profile, also ConfigError unless the root is SM2 (`check_root_for_profile`)."""
        der = _pem_certificate(pem, field)
        check_root_for_profile(der, crypto_profile, field)
        return der

    def to_json(self) -> str:
        return json.dumps(self.document, indent=2, sort_keys=False) + "\n"


def build_genesis_document(
    *,
    chain_id: int,
    validators: list[bytes],
    alloc: Mapping[bytes, int],
    members: list[tuple[bytes, str]],
    trusted_roots: list[str] | None = None,
    block_period: int = 1,
    empty_block_period: int = 60,
    timestamp: int = 0,
    gas_limit: int = DEFAULT_GAS_LIMIT,
    consortium_ca: str | None = None,
    chain_name: str | None = None,
    crypto_profile: str | None = None,
) -> dict[str, Any]:
    """A Besu-shaped QBFT genesis; every fork through Cancun active from block 0, the
    system contracts allocated with the members, trusted roots (PEM) and crypto profile in
    their storage, the consortium CA (PEM) that issues node TLS certificates, the chain's
    name and its crypto profile when they are given (no profile: none recorded, "mixed")."""
    if crypto_profile is not None:
        crypto_profile = check_crypto_profile(crypto_profile, "crypto_profile")
    profile = DEFAULT_CRYPTO_PROFILE if crypto_profile is None else crypto_profile
    # Sorted ascending, as Besu keeps every validator list (each block's must be).
    extra = ExtraData(b"\x00" * VANITY_LENGTH, tuple(sorted(validators)), None, 0, ())
    forks = [
        "homesteadBlock", "eip150Block", "eip155Block", "eip158Block", "byzantiumBlock",
        "constantinopleBlock", "petersburgBlock", "istanbulBlock", "berlinBlock", "londonBlock",
    ]
    config: dict[str, Any] = {"chainId": chain_id}
    config.update(dict.fromkeys(forks, 0))
    config.update({"shanghaiTime": 0, "cancunTime": 0, "zeroBaseFee": True})
    config["qbft"] = {
        "blockperiodseconds": block_period,
        "emptyblockperiodseconds": empty_block_period,
        "requesttimeoutseconds": 4,
        "epochlength": 30000,
    }
    return {
        "config": config,
        "nonce": "0x0",
        "timestamp": hex(timestamp),
        "gasLimit": hex(gas_limit),
        "difficulty": "0x1",
        "mixHash": "0x" + MIX_HASH.hex(),
        "coinbase": "0x0000000000000000000000000000000000000000",
        "extraData": "0x" + extra.encode().hex(),
        "alloc": with_system_contracts(
            {to_checksum_address(a)[2:]: {"balance": hex(b)} for a, b in alloc.items()},
            members,
            [Genesis.parse_root(pem, "trusted_roots", profile) for pem in trusted_roots or []],
            profile,
        ),
        "evidenceLedger": {
            **({} if chain_name is None else {"chainName": chain_name}),
            **({} if crypto_profile is None else {"cryptoProfile": crypto_profile}),
            "trustedRoots": list(trusted_roots or []),
            "members": [{"address": to_checksum_address(a), "role": r} for a, r in members],
            **({} if consortium_ca is None else
               {"consortiumCA": _consortium_ca(consortium_ca, "consortium_ca").decode()}),
        },
    }


def with_system_contracts(
    alloc: dict[str, Any], members: list[tuple[bytes, str]], roots: list[bytes],
    crypto_profile: str = DEFAULT_CRYPTO_PROFILE,
) -> dict[str, Any]:
    """`alloc` (a genesis document's) with the system contracts' entries (re)written."""
    out = dict(alloc)
    fingerprints = [hashlib.sha256(der).digest() for der in roots]
    for address, (code, storage) in system_alloc(members, fingerprints, CRYPTO_PROFILES[crypto_profile]).items():
        for key in list(out):
            if key.lower().removeprefix("0x") == address.hex():
                del out[key]
        out[to_checksum_address(address)[2:]] = {
            "balance": "0x0",
            "code": "0x" + code.hex(),
            "storage": {f"0x{k:064x}": f"0x{v:064x}" for k, v in sorted(storage.items())},
        }
    return out


def parse_crypto_profile(ledger: Mapping[str, Any]) -> str:
    """The crypto profile a genesis's evidenceLedger section names ("mixed" when it names
    none), or ConfigError naming the field and the allowed values."""
    return check_crypto_profile(ledger.get("cryptoProfile", DEFAULT_CRYPTO_PROFILE), "evidenceLedger.cryptoProfile")


def check_crypto_profile(value: Any, field: str) -> str:
    """`value` if it is a crypto profile's name, else ConfigError naming `field` and the
    allowed values."""
    if not isinstance(value, str) or value not in CRYPTO_PROFILES:
        shown = json.dumps(value, ensure_ascii=False)
        shown = shown if len(shown) <= _SHOWN_VALUE_CHARS else shown[:_SHOWN_VALUE_CHARS] + "…"
        raise ConfigError(field, f"must be one of {', '.join(CRYPTO_PROFILES)}, got {shown}")
    return value


def check_root_for_profile(der: bytes, crypto_profile: str, field: str) -> None:
    """Under the gm profile, ConfigError naming `field` unless the root `der` passes the
    PKI precompile's check of a root proposed for trust under that profile
    (`evidence.x509.inspect_root`): an SM2 CA key that signed the root with SM3withSM2
    under GM/T 0009's distinguishing ID, and the rules for every root. Under "mixed" a
    genesis root is taken as it is, as it always was (the precompile checks every chain
    with the full rules as it is used).

    Checked before the chain runs, so the refusal reaches whoever writes the genesis rather
    than the first member who registers. Genesis has no clock (its timestamp is usually 0),
    so the root is checked at its own notBefore: whether it is still valid is decided at
    block time, whenever a chain uses it."""
    profile = CryptoProfile(crypto_profile)
    if profile is CryptoProfile.MIXED:
        return
    try:
        at = calendar.timegm(x509.load_der_x509_certificate(der).not_valid_before_utc.utctimetuple())
        inspect_root(der, at, profile=profile)
    except CertificateError as exc:
        raise ConfigError(field, f"a gm chain (evidenceLedger.cryptoProfile) cannot trust this root: {exc}") from None
    except ValueError as exc:  # a date cryptography cannot read: the rules would refuse it too
        raise ConfigError(field, f"not a certificate the PKI precompile can read: {exc}") from None


def _check_system_contracts(
    alloc: Mapping[bytes, Account], members: list[Member], roots: tuple[bytes, ...], crypto_profile: str
) -> None:
    """The system contracts must be allocated, and the identity registry's storage must
    say what evidenceLedger says (a hand-edited member list or crypto profile would
    otherwise be ignored, or contradict what the chain enforces)."""
    names = {address: name for name, address in SYSTEM_CONTRACTS.items()}
    for address, name in names.items():
        account = alloc.get(address)
        _expect(account is not None and bool(account.code), "alloc",
                f"system contract {name} missing at 0x{address.hex()}: write genesis with "
                "`ledger genesis new` or refresh it with `ledger chaincode build --genesis FILE`")
    expected = identity_storage([(m.address, m.role) for m in members], [hashlib.sha256(r).digest() for r in roots],
                                CRYPTO_PROFILES[crypto_profile])
    actual = {k: v for k, v in alloc[IDENTITY_REGISTRY].storage.items() if v != 0}
    where = f"alloc.{IDENTITY_REGISTRY.hex()}.storage"
    slot = load_artifact("IdentityRegistry").slot("crypto_profile")
    stored = actual.get(slot, 0)
    _expect(stored == expected.get(slot, 0), where,
            f"IdentityRegistry.crypto_profile (slot {slot}) holds {stored} "
            f"({CRYPTO_PROFILE_NAMES.get(stored, 'no profile')}) but evidenceLedger.cryptoProfile is "
            f"{crypto_profile!r} ({CRYPTO_PROFILES[crypto_profile]}): refresh it with "
            "`ledger chaincode build --genesis FILE`")
    _expect(actual == expected, where,
            "does not match evidenceLedger.members/trustedRoots: refresh it with "
            "`ledger chaincode build --genesis FILE`")


def _pem_certificate(pem: str, field: str) -> bytes:
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise ConfigError(field, f"not a PEM certificate: {exc}") from exc
    return certificate.public_bytes(serialization.Encoding.DER)


def _consortium_ca(pem: str, field: str) -> bytes:
    """The consortium CA as canonical PEM: exactly one certificate, and a CA's."""
    try:
        certificates = x509.load_pem_x509_certificates(pem.encode())
    except ValueError as exc:
        raise ConfigError(field, f"not a PEM certificate: {exc}") from exc
    _expect(len(certificates) == 1, field, f"must hold one certificate, found {len(certificates)}")
    try:
        constraints = certificates[0].extensions.get_extension_for_class(x509.BasicConstraints).value
    except (x509.ExtensionNotFound, ValueError) as exc:
        raise ConfigError(field, "is not a CA certificate (no basicConstraints cA)") from exc
    _expect(constraints.ca, field, "is not a CA certificate (basicConstraints cA is false)")
    return certificates[0].public_bytes(serialization.Encoding.PEM)


def _expect(condition: bool, field: str, reason: str) -> None:
    if not condition:
        raise ConfigError(field, reason)


def _field(obj: Mapping[str, Any], name: str, kind: Any, where: str) -> Any:
    return typed_field(obj, name, kind, f"{where}.{name}" if where != "genesis" else name)


# Every number of genesis.json is below this (storage words and balances are 256-bit);
# each field's own range is checked where it is read.
_NUMBER_BOUND = 2**256


def _int(value: Any, field: str) -> int:
    """A JSON integer, or a string of 0x-hex or decimal digits (not "1_000", " 12 ", "+1")."""
    try:
        return parse_number(value, field, 0, _NUMBER_BOUND)
    except GenesisFormatError as exc:
        raise ConfigError(exc.field, exc.reason) from exc


def _positive(obj: Mapping[str, Any], name: str, where: str) -> int:
    value = _int(_field(obj, name, (int, str), where), f"{where}.{name}")
    _expect(0 < value < 2**31, f"{where}.{name}", f"must be a positive integer, got {value}")
    return value


def _bytes(value: Any, field: str) -> bytes:
    """ "0x" and hex digits, two a byte, no white space."""
    try:
        return parse_hex_bytes(value, field)
    except GenesisFormatError as exc:
        raise ConfigError(exc.field, exc.reason) from exc


def _address(value: str, field: str) -> bytes:
    """40 hex digits, "0x" optional."""
    try:
        return parse_address(value, field)
    except GenesisFormatError as exc:
        raise ConfigError(exc.field, exc.reason) from exc


def _parse_alloc(alloc: Mapping[str, Any]) -> dict[bytes, Account]:
    accounts: dict[bytes, Account] = {}
    for key, entry in alloc.items():
        where = f"alloc.{key}"
        address = _address(key, where)
        # "0xAb…" and "ab…" are one account: read last-wins, the node and a verifier that
        # kept the first would build two different states from one document.
        _expect(address not in accounts, where, f"lists account 0x{address.hex()} a second time")
        _expect(isinstance(entry, dict), where, "must be an object")
        storage_doc = entry.get("storage", {})
        _expect(isinstance(storage_doc, dict), f"{where}.storage", "must be an object")
        storage: dict[int, int] = {}
        for k, v in storage_doc.items():
            slot = _int(k, f"{where}.storage")
            _expect(slot not in storage, f"{where}.storage.{k}", f"lists slot {slot} a second time")
            storage[slot] = _int(v, f"{where}.storage.{k}")
        _expect(all(0 <= k < 2**256 and 0 <= v < 2**256 for k, v in storage.items()),
                f"{where}.storage", "keys and values must be 256-bit unsigned integers")
        code = _bytes(entry["code"], f"{where}.code") if "code" in entry else b""
        balance = _int(entry.get("balance", "0x0"), f"{where}.balance")
        nonce = _int(entry.get("nonce", "0x0"), f"{where}.nonce")
        _expect(0 <= balance < 2**256, f"{where}.balance", "out of range")
        _expect(0 <= nonce < 2**64, f"{where}.nonce", "out of range")
        accounts[address] = Account(balance, nonce, code, storage)
    return accounts
