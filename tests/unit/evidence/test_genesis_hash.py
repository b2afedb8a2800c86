"""evidence/genesis.py computes block 0's hash from genesis.json alone, as the node builds
it (node.execution.chain.build_genesis_block, py-evm's state): compared for the repo's
genesis.json and for generated genesis documents with contracts, storage, nonces, empty
accounts and zero slots; the keyed trie against the `trie` package; the chain name's
rules; and every genesis the node would refuse (or read ambiguously) is refused by field."""
from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_hash.auto import keccak
from trie import HexaryTrie

from evidence import genesis as eg, qbft
from evidence.mpt import BLANK_ROOT, secure_trie_root, trie_root
from node.errors import ConfigError
from node.execution.chain import build_genesis_block
from node.execution.genesis import Genesis, build_genesis_document
from node.storage.store import LevelStore
from tests import pki

ROOT = Path(__file__).resolve().parents[3]
REPO_GENESIS = json.loads((ROOT / "genesis.json").read_text())
# Block 0 of the repo's genesis.json, as a node started from it reports it
# (tests/integration/test_receipt_v2.py asks a real node; pinned here).
REPO_GENESIS_HASH = bytes.fromhex("b13439c1966f7f29ec7b3d60d9816182f00d7c874a168b7546f80f93a80e98eb")
ADMIN = b"\xa1" * 20
# A contract that forwards its call data: enough code to have a code hash of its own.
FORWARDER_CODE = bytes.fromhex("365f5f375f5f365f5f6110045af16014575f5ffd5b00")


@pytest.fixture
def node_hash(tmp_path: Path) -> Iterator[Any]:
    """The hash the node gives block 0 of a document (a fresh LevelDB per call)."""
    stores: list[LevelStore] = []

    def hash_of(document: dict[str, Any]) -> bytes:
        store = LevelStore(tmp_path / f"chain-{len(stores)}")
        stores.append(store)
        header, _ = build_genesis_block(store, Genesis.parse(document))
        return bytes(header.hash)

    yield hash_of
    for store in stores:
        store.close()


def generated(seed: int) -> dict[str, Any]:
    """A genesis from `build_genesis_document` with `seed`-chosen validators, balances,
    members, trusted roots, time and gas limit, plus accounts with code, storage (a zero
    slot among them), a nonce, and an empty account."""
    rng = random.Random(seed)
    validators = [bytes(rng.getrandbits(8) for _ in range(20)) for _ in range(rng.randint(1, 7))]
    balances = {bytes(rng.getrandbits(8) for _ in range(20)): rng.getrandbits(rng.choice([8, 80, 255]))
                for _ in range(rng.randint(0, 12))}
    roots = [pki.p256_ca().root_pem.decode()] if seed % 2 else []
    document = build_genesis_document(
        chain_id=rng.randint(1, 2**40), validators=validators, alloc=balances, members=[(ADMIN, "ADMIN")],
        trusted_roots=roots, timestamp=rng.choice([0, 1_700_000_000 + seed]),
        gas_limit=rng.choice([30_000_000, 150_000_000, 2**62]), chain_name=f"generated chain {seed}")
    alloc = document["alloc"]
    for index in range(rng.randint(1, 6)):
        storage = {hex(rng.getrandbits(rng.choice([8, 256]))): hex(rng.getrandbits(rng.choice([8, 256])))
                   for _ in range(rng.randint(0, 40))}
        storage["0x" + "00" * 31 + "ff"] = "0x0"  # a zero slot: no slot
        alloc[f"{0xC0DE0000 + index:040x}"] = {
            "balance": hex(rng.getrandbits(64)), "nonce": hex(rng.randint(0, 5)),
            "code": "0x" + (FORWARDER_CODE + bytes([index])).hex(), "storage": storage}
    alloc["00000000000000000000000000000000000e0e0e"] = {}  # an empty account is in the trie too
    alloc["0x" + "5a" * 20] = {"balance": 7, "nonce": 1}  # decimal numbers and a 0x address key
    return document


def test_the_repo_genesis_hashes_as_the_node_builds_it(node_hash: Any) -> None:
    identity = eg.identify_chain(REPO_GENESIS)
    assert identity.genesis_hash == node_hash(REPO_GENESIS) == REPO_GENESIS_HASH
    assert (identity.chain_id, identity.name) == (1337, "evidence-ledger example dev chain")
    assert identity.describe() == f"evidence-ledger example dev chain (genesis 0x{REPO_GENESIS_HASH.hex()}, chain id 1337)"
    # docs/receipt.md quotes it (and the repo's extraData) as its worked example
    docs = (ROOT / "docs" / "receipt.md").read_text()
    assert "0x" + REPO_GENESIS_HASH.hex() in docs
    extra = REPO_GENESIS["extraData"]
    assert f"0xf83a a0 00…00 d5 94 {extra[-46:-6]} c0 80 c0" in docs and extra.endswith("c080c0")


@pytest.mark.parametrize("seed", range(6))
def test_generated_genesis_documents_hash_as_the_node_builds_them(node_hash: Any, seed: int) -> None:
    document = generated(seed)
    assert eg.genesis_hash(document) == node_hash(document)


def test_the_state_root_is_the_state_the_node_writes(tmp_path: Path) -> None:
    document = generated(7)
    store = LevelStore(tmp_path / "chain")
    try:
        header, _ = build_genesis_block(store, Genesis.parse(document))
    finally:
        store.close()
    assert eg.state_root(document["alloc"]) == header.state_root
    fields = eg.genesis_header(document)
    assert fields[3] == header.state_root and len(fields) == 20  # Cancun: 20 header fields


def test_what_the_node_does_not_read_does_not_change_the_hash(node_hash: Any) -> None:
    document = copy.deepcopy(REPO_GENESIS)
    # The node writes difficulty 1, nonce 0 and coinbase 0 whatever genesis.json says,
    # and neither the config nor evidenceLedger is in the header.
    document.update(difficulty="0x2", nonce="0x42", coinbase="0x" + "11" * 20)
    document["config"]["qbft"]["epochlength"] = 5
    document["evidenceLedger"]["chainName"] = "another name"
    assert eg.genesis_hash(document) == node_hash(document) == REPO_GENESIS_HASH
    # ... while what it does read does.
    for change in ({"timestamp": "0x1"}, {"gasLimit": "0x8f0d181"}):
        changed = {**copy.deepcopy(REPO_GENESIS), **change}
        assert eg.genesis_hash(changed) == node_hash(changed) != REPO_GENESIS_HASH


@pytest.mark.parametrize("count", [0, 1, 2, 3, 16, 17, 200])
def test_the_keyed_trie_matches_the_trie_package(count: int) -> None:
    rng = random.Random(count)
    items = {bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 6))): bytes(rng.getrandbits(8) for _ in range(
        rng.randint(1, 70))) for _ in range(count)}
    items.update({b"\x12": b"prefix", b"\x12\x34": b"longer", b"\x12\x34\x56": b"longest"})  # keys that prefix others
    reference = HexaryTrie({})
    for key, value in items.items():
        reference[key] = value
    assert trie_root(items) == reference.root_hash
    secure = HexaryTrie({})
    for key, value in items.items():
        secure[keccak(key)] = value
    assert secure_trie_root(items) == secure.root_hash
    assert trie_root({}) == secure_trie_root({}) == BLANK_ROOT


def test_a_trie_holds_no_empty_value() -> None:
    with pytest.raises(ValueError, match="empty value"):
        trie_root({b"\x01": b""})


def test_an_unnamed_chain_is_called_by_its_id() -> None:
    document = copy.deepcopy(REPO_GENESIS)
    del document["evidenceLedger"]["chainName"]
    assert eg.chain_name(document) == "chain 1337" == Genesis.parse(document).chain_name
    del document["evidenceLedger"]
    assert eg.chain_name(document) == "chain 1337"


@pytest.mark.parametrize("name, reason", [
    ("", "1 to 128 bytes"),
    ("链" * 43, "1 to 128 bytes"),  # 129 bytes of UTF-8
    (" padded", "white space"),
    ("a\nname", "U+000A"),
    ("evil\u202egnp.exe", "U+202E"),  # right-to-left override: displays as another name
    ("zero\u200bwidth", "U+200B"),
    ("cafe\u0301", "normalization form C"),  # e + combining acute: NFC is "café"
    ("line\u2028sep", "U+2028"),
    ("private\ue000", "U+E000"),
    (1337, "must be a string"),
])
def test_a_chain_name_that_could_mislead_is_refused(name: Any, reason: str) -> None:
    with pytest.raises(eg.GenesisFormatError, match=re.escape(reason)) as failure:
        eg.check_chain_name(name, "evidenceLedger.chainName")
    assert failure.value.field == "evidenceLedger.chainName"
    document = copy.deepcopy(REPO_GENESIS)
    document["evidenceLedger"]["chainName"] = name
    with pytest.raises(ConfigError, match="evidenceLedger.chainName"):  # the node refuses it too
        Genesis.parse(document)


def test_a_long_chinese_name_is_a_name() -> None:
    name = "广州公共资源交易中心电子证据存证联盟链" * 2  # 38 characters, 114 bytes
    assert eg.check_chain_name(name, "n") == name
    document = build_genesis_document(chain_id=7, validators=[b"\x01" * 20], alloc={}, members=[], chain_name=name)
    assert document["evidenceLedger"]["chainName"] == name == Genesis.parse(document).chain_name
    assert eg.identify_chain(document).name == name


def _extra(**changes: Any) -> str:
    extra = qbft.ExtraData(b"\x00" * 32, (b"\x01" * 20, b"\x02" * 20), None, 0, ())
    fields = {"vanity": extra.vanity, "validators": extra.validators, "vote": extra.vote, "round": 0, "seals": ()}
    fields.update(changes)
    return "0x" + qbft.ExtraData(**fields).encode().hex()


@pytest.mark.parametrize("change, field, reason", [
    ({"extraData": _extra(seals=(b"\x01" * 65,))}, "extraData", "no seals"),
    ({"extraData": _extra(vote=qbft.Vote(b"\x03" * 20, True))}, "extraData", "no vote"),
    ({"extraData": _extra(round=1)}, "extraData", "round 0"),
    ({"extraData": _extra(validators=(b"\x01" * 20, b"\x01" * 20))}, "extraData", "twice"),
    ({"extraData": _extra(validators=())}, "extraData", "no validators"),
    # round 0 is the empty string (0x80); a zero byte is not a canonical integer
    ({"extraData": _extra()[:-4] + "00c0"}, "extraData", "round"),
    ({"extraData": "0x12 34"}, "extraData", "0x-prefixed hex"),
    ({"mixHash": "0x" + "00" * 32}, "mixHash", "QBFT constant"),
    ({"gasLimit": "0x10"}, "gasLimit", "at least 21000"),
    ({"gasLimit": "1_000_000"}, "gasLimit", "decimal string"),
    ({"timestamp": -1}, "timestamp", "at least 0"),
    ({"timestamp": True}, "timestamp", "integer"),
    ({"timestamp": "0x" + "1" * 100}, "timestamp", "digits"),
    ({"alloc": []}, "alloc", "JSON object"),
])
def test_a_genesis_the_node_refuses_is_refused_by_field(change: dict[str, Any], field: str, reason: str) -> None:
    document = {**copy.deepcopy(REPO_GENESIS), **change}
    with pytest.raises(eg.GenesisFormatError, match=re.escape(reason)) as failure:
        eg.genesis_hash(document)
    assert failure.value.field == field


@pytest.mark.parametrize("mutate, field, reason", [
    (lambda a: a.update({"0x70997970c51812dc3a010c7d01b50e0d17dc79c8": {"balance": "0x1"}}),
     "alloc.0x70997970c51812dc3a010c7d01b50e0d17dc79c8", "second time"),
    (lambda a: a.update({"0x12": {}}), "alloc.0x12", "20-byte address"),
    (lambda a: a.update({"0x" + "12" * 20: {"balance": "0x" + "f" * 65}}), f"alloc.0x{'12' * 20}.balance", "below"),
    (lambda a: a.update({"0x" + "12" * 20: {"nonce": 2**64}}), f"alloc.0x{'12' * 20}.nonce", "below"),
    (lambda a: a.update({"0x" + "12" * 20: {"storage": {"0x1": "0x1", "1": "0x2"}}}),
     f"alloc.0x{'12' * 20}.storage.1", "slot 1 a second time"),
    (lambda a: a.update({"0x" + "12" * 20: {"code": "60"}}), f"alloc.0x{'12' * 20}.code", "0x-prefixed"),
    (lambda a: a.update({"0x" + "12" * 20: "0x1"}), f"alloc.0x{'12' * 20}", "object"),
])
def test_an_alloc_that_is_malformed_or_ambiguous_is_refused(mutate: Any, field: str, reason: str) -> None:
    document = copy.deepcopy(REPO_GENESIS)
    mutate(document["alloc"])
    with pytest.raises(eg.GenesisFormatError, match=re.escape(reason)) as failure:
        eg.genesis_hash(document)
    assert failure.value.field == field


def test_the_alloc_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    accounts_and_slots = len(REPO_GENESIS["alloc"]) + sum(len(a.get("storage", {})) for a in REPO_GENESIS["alloc"].values())
    monkeypatch.setattr(eg, "MAX_ALLOC_ENTRIES", accounts_and_slots)
    eg.genesis_hash(REPO_GENESIS)
    monkeypatch.setattr(eg, "MAX_ALLOC_ENTRIES", accounts_and_slots - 1)
    with pytest.raises(eg.GenesisFormatError, match="more than") as failure:
        eg.genesis_hash(REPO_GENESIS)
    assert failure.value.field == "alloc"
