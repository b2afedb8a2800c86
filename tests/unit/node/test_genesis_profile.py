"""The chain's crypto profile in genesis (evidenceLedger.cryptoProfile and
IdentityRegistry.crypto_profile): recorded, committed to by the genesis hash, kept in step
with the registry's storage, readable by eth_call, and under "gm" only SM2 roots trusted.

The SM2, RSA and P-256 roots are made by the `openssl` command line (tests/openssl_sm2.py),
so the gm checks are tested on certificates our code did not make.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth.vm.spoof import SpoofTransaction
from eth_abi import decode
from eth_typing import Address
from eth_utils import function_signature_to_4byte_selector
from typer.testing import CliRunner

from chaincode import CRYPTO_PROFILES, IDENTITY_REGISTRY, ChaincodeError, load_artifact
from chaincode.alloc import identity_storage
from client.cli import app, refresh_genesis
from evidence.genesis import genesis_hash
from node.errors import ConfigError
from node.execution.chain import Chain
from node.execution.genesis import Genesis, build_genesis_document, check_root_for_profile
from node.execution.vm import LedgerVM
from node.storage.store import LevelStore
from tests import pki
from tests.openssl_sm2 import Issued, OpensslCA

ADMIN = b"\x0a" * 20
PROFILE_SLOT = load_artifact("IdentityRegistry").slot("crypto_profile")
STORAGE_FIELD = f"alloc.{IDENTITY_REGISTRY.hex()}.storage"
GM_RULE = "the chain's crypto profile is gm (national algorithms only)"  # evidence/x509.py's words


def document(**extra: Any) -> dict[str, Any]:
    return build_genesis_document(chain_id=7, validators=[b"\x01" * 20], alloc={}, members=[(ADMIN, "ADMIN")],
                                  **extra)


def registry_storage(doc: dict[str, Any]) -> dict[int, int]:
    entry = next(v for k, v in doc["alloc"].items() if k.lower() == IDENTITY_REGISTRY.hex())
    return {int(k, 16): int(v, 16) for k, v in entry["storage"].items()}


class Roots:
    """Roots made by openssl: an SM2 one (GM/T 0009's ID), one self-signed with OpenSSL
    3.0's empty ID, an RSA and a P-256 one, and an SM2 key certified by the RSA root."""

    def __init__(self, directory: Path) -> None:
        self.sm2 = OpensslCA(directory / "sm2", "GM Root")
        self.empty_id = OpensslCA(directory / "empty-id", "Empty ID Root", distid="")
        self.rsa = OpensslCA(directory / "rsa", "RSA Root", key_type="rsa2048")
        self.p256 = OpensslCA(directory / "p256", "P256 Root", key_type="p256")
        self.sm2_under_rsa: Issued = self.rsa.issue("SM2 Key Under RSA", key_type="sm2", extensions="intermediate")

    @staticmethod
    def pem(ca_or_issued: OpensslCA | Issued) -> str:
        return ca_or_issued.cert.read_text()


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> Roots:
    return Roots(tmp_path_factory.mktemp("profile-roots"))


# -- recorded, and committed to -------------------------------------------------------------

def test_a_genesis_that_names_no_profile_is_mixed_and_unchanged() -> None:
    plain = document()
    assert "cryptoProfile" not in plain["evidenceLedger"]
    assert Genesis.parse(plain).crypto_profile == "mixed"
    assert PROFILE_SLOT not in registry_storage(plain)  # the slot stays empty: old genesis hashes stand
    named = document(crypto_profile="mixed")
    assert named["evidenceLedger"]["cryptoProfile"] == "mixed"
    assert named["alloc"] == plain["alloc"] and genesis_hash(named) == genesis_hash(plain)
    assert Genesis.parse(named).crypto_profile == "mixed"


def test_the_repository_genesis_is_mixed() -> None:
    genesis = Genesis.load(Path(__file__).resolve().parents[3] / "genesis.json")
    assert genesis.crypto_profile == "mixed"


def test_gm_is_written_into_the_registry_and_changes_the_genesis_hash() -> None:
    gm = document(crypto_profile="gm")
    assert gm["evidenceLedger"]["cryptoProfile"] == "gm"
    assert registry_storage(gm)[PROFILE_SLOT] == CRYPTO_PROFILES["gm"] == 1
    assert Genesis.parse(json.loads(json.dumps(gm))).crypto_profile == "gm"
    assert genesis_hash(gm) != genesis_hash(document())


def test_identity_storage_writes_the_slot_only_for_a_known_non_zero_profile() -> None:
    assert PROFILE_SLOT not in identity_storage([(ADMIN, "ADMIN")], [], 0)
    assert identity_storage([(ADMIN, "ADMIN")], [], 1)[PROFILE_SLOT] == 1
    with pytest.raises(ChaincodeError, match="crypto profile 2"):
        identity_storage([(ADMIN, "ADMIN")], [], 2)


@pytest.fixture
def gm_chain(tmp_path: Path) -> Iterator[Chain]:
    store = LevelStore(tmp_path / "chain")
    try:
        yield Chain.initialise(store, Genesis.parse(document(crypto_profile="gm")))
    finally:
        store.close()


def crypto_profile_getter(chain: Chain) -> int:
    """IdentityRegistry.crypto_profile() at the head, as eth_call runs it."""
    unsigned = LedgerVM.create_unsigned_transaction(
        nonce=0, gas_price=0, gas=100_000, to=Address(IDENTITY_REGISTRY), value=0,
        data=function_signature_to_4byte_selector("crypto_profile()"))
    spoofed = SpoofTransaction(unsigned, from_=ADMIN)
    computation = chain.state_at(chain.head).costless_execute_transaction(spoofed)  # type: ignore[arg-type]
    assert not computation.is_error
    return int(decode(["uint256"], computation.output)[0])


def test_the_registry_getter_answers_the_profile(gm_chain: Chain, tmp_path: Path) -> None:
    assert crypto_profile_getter(gm_chain) == 1
    store = LevelStore(tmp_path / "mixed")
    try:
        assert crypto_profile_getter(Chain.initialise(store, Genesis.parse(document()))) == 0
    finally:
        store.close()


# -- refused ------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["GM", "sm2", "", 1, None, ["gm"], "x" * 500])
def test_an_unknown_profile_is_refused_naming_the_allowed_values(value: Any) -> None:
    doc = document()
    doc["evidenceLedger"]["cryptoProfile"] = value
    with pytest.raises(ConfigError) as caught:
        Genesis.parse(doc)
    assert caught.value.field == "evidenceLedger.cryptoProfile"
    assert "must be one of mixed, gm" in caught.value.reason
    assert len(caught.value.reason) < 120  # a huge value is not echoed whole
    if value is not None:  # build_genesis_document's None: no profile named, "mixed"
        with pytest.raises(ConfigError) as built:
            document(crypto_profile=value)
        assert built.value.field == "crypto_profile"


@pytest.mark.parametrize("edit", ["gm to mixed", "gm dropped", "mixed to gm"])
def test_a_hand_edited_profile_is_refused_with_the_fix(edit: str) -> None:
    doc = document(crypto_profile="mixed" if edit == "mixed to gm" else "gm")
    if edit == "gm dropped":
        del doc["evidenceLedger"]["cryptoProfile"]
    else:
        doc["evidenceLedger"]["cryptoProfile"] = edit.split()[-1]
    with pytest.raises(ConfigError) as caught:
        Genesis.parse(doc)
    assert caught.value.field == STORAGE_FIELD
    assert f"IdentityRegistry.crypto_profile (slot {PROFILE_SLOT})" in caught.value.reason
    assert "`ledger chaincode build --genesis FILE`" in caught.value.reason


def test_a_hand_edited_profile_slot_is_refused() -> None:
    doc = document(crypto_profile="gm")
    entry = next(v for k, v in doc["alloc"].items() if k.lower() == IDENTITY_REGISTRY.hex())
    entry["storage"][f"0x{PROFILE_SLOT:064x}"] = f"0x{0:064x}"
    with pytest.raises(ConfigError, match=r"holds 0 \(mixed\) but evidenceLedger.cryptoProfile is 'gm'"):
        Genesis.parse(doc)


def test_refresh_genesis_rewrites_the_slot_from_evidence_ledger(tmp_path: Path) -> None:
    doc = document()
    doc["evidenceLedger"]["cryptoProfile"] = "gm"
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError):
        Genesis.load(path)
    refresh_genesis(path)
    refreshed = Genesis.load(path)
    assert refreshed.crypto_profile == "gm"
    assert refreshed.alloc[IDENTITY_REGISTRY].storage[PROFILE_SLOT] == 1


# -- gm trusts SM2 roots only ---------------------------------------------------------------

def test_gm_trusts_sm2_roots_made_by_openssl_and_by_us(roots: Roots) -> None:
    pems = [roots.pem(roots.sm2), pki.sm2_ca().root_pem.decode()]
    genesis = Genesis.parse(document(crypto_profile="gm", trusted_roots=pems))
    assert genesis.crypto_profile == "gm" and len(genesis.trusted_roots) == 2


def test_mixed_trusts_every_kind_of_root(roots: Roots) -> None:
    pems = [roots.pem(roots.sm2), roots.pem(roots.rsa), roots.pem(roots.p256), pki.p384_ca().root_pem.decode()]
    assert len(Genesis.parse(document(trusted_roots=pems)).trusted_roots) == 4


def refused_roots(roots: Roots) -> list[tuple[str, str]]:
    return [
        (roots.pem(roots.rsa), f"{GM_RULE}: a sha256WithRSAEncryption signature is not allowed"),
        (roots.pem(roots.p256), f"{GM_RULE}: an ecdsa-with-SHA256 signature is not allowed"),
        (pki.p384_ca().root_pem.decode(), f"{GM_RULE}: an ecdsa-with-SHA256 signature is not allowed"),
        (roots.pem(roots.sm2_under_rsa), f"{GM_RULE}: a sha256WithRSAEncryption signature is not allowed"),
        (roots.pem(roots.empty_id), "root is not self-signed (SM2 with the distinguishing identifier 1234567812345678"),
    ]


@pytest.mark.parametrize("index", range(5))
def test_gm_refuses_a_root_that_is_not_sm2_naming_the_profile(roots: Roots, index: int) -> None:
    pem, reason = refused_roots(roots)[index]
    with pytest.raises(ConfigError) as built:
        document(crypto_profile="gm", trusted_roots=[pem])
    assert built.value.field == "trusted_roots"
    assert built.value.reason.startswith("a gm chain (evidenceLedger.cryptoProfile) cannot trust this root")
    assert reason in built.value.reason, built.value.reason
    # a genesis edited by hand to trust it is refused by the node too, naming the entry
    doc = document(crypto_profile="gm", trusted_roots=[roots.pem(roots.sm2)])
    doc["evidenceLedger"]["trustedRoots"].append(pem)
    with pytest.raises(ConfigError) as parsed:
        Genesis.parse(copy.deepcopy(doc))
    assert parsed.value.field == "evidenceLedger.trustedRoots[1]" and reason in parsed.value.reason


def test_the_root_check_passes_anything_under_mixed(roots: Roots) -> None:
    check_root_for_profile(pki.rsa_ca().root_der, "mixed", "root")
    with pytest.raises(ConfigError, match="sha256WithRSAEncryption"):
        check_root_for_profile(pki.rsa_ca().root_der, "gm", "root")


# -- the command line -----------------------------------------------------------------------

def test_cli_genesis_new_records_the_profile(roots: Roots, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["genesis", "new", "--out", str(tmp_path / "gm"), "--crypto-profile", "gm",
                                 "--trusted-root", str(roots.sm2.cert)])
    assert result.exit_code == 0, result.output
    assert "crypto profile gm" in result.output
    genesis = Genesis.load(tmp_path / "gm" / "genesis.json")
    assert genesis.crypto_profile == "gm" and genesis.alloc[IDENTITY_REGISTRY].storage[PROFILE_SLOT] == 1
    result = runner.invoke(app, ["genesis", "new", "--out", str(tmp_path / "plain")])
    assert result.exit_code == 0, result.output
    assert Genesis.load(tmp_path / "plain" / "genesis.json").crypto_profile == "mixed"


def test_cli_genesis_new_refuses_an_rsa_root_under_gm(roots: Roots, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["genesis", "new", "--out", str(tmp_path / "gm"), "--crypto-profile", "gm",
                                 "--trusted-root", str(roots.sm2.cert), "--trusted-root", str(roots.rsa.cert)])
    assert result.exit_code == 2, result.output
    assert f"--trusted-root {roots.rsa.cert}" in result.output and GM_RULE in result.output
    assert not (tmp_path / "gm" / "genesis.json").exists()
    result = runner.invoke(app, ["genesis", "new", "--out", str(tmp_path / "bad"), "--crypto-profile", "sm2"])
    assert result.exit_code == 2 and "mixed" in result.output and "gm" in result.output
    assert not (tmp_path / "bad" / "genesis.json").exists()
