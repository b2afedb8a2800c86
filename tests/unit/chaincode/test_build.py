"""The system contracts' build is reproducible and genesis.json carries exactly it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaincode import SYSTEM_CONTRACTS, VYPER_VERSION, load_artifact
from chaincode.alloc import hashmap_slot, identity_storage
from chaincode.build import compile_source
from node.execution.genesis import Genesis

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("name", list(SYSTEM_CONTRACTS))
def test_shipped_artifact_is_what_the_source_compiles_to(name: str) -> None:
    compiled = compile_source(name)  # needs the pinned vyper (a test dependency)
    shipped = json.loads((ROOT / "chaincode" / "artifacts" / f"{name}.json").read_text())
    assert compiled["vyper_version"] == VYPER_VERSION == shipped["vyper_version"]
    assert compiled["source_sha256"] == shipped["source_sha256"], "source changed: run `ledger chaincode build`"
    assert compiled["runtime"] == shipped["runtime"]
    assert compiled["abi"] == shipped["abi"] and compiled["storage_layout"] == shipped["storage_layout"]


def test_genesis_json_carries_exactly_the_compiled_code() -> None:
    genesis = Genesis.load(ROOT / "genesis.json")
    for name, address in SYSTEM_CONTRACTS.items():
        compiled = bytes.fromhex(str(compile_source(name)["runtime"]).removeprefix("0x"))
        assert genesis.alloc[address].code == compiled, f"{name} in genesis.json is not the compiled source"


def test_hashmap_slot_puts_the_slot_first() -> None:
    # Vyper hashes slot ‖ key (Solidity hashes key ‖ slot); a swapped order would give
    # genesis members that the contract never sees (the integration tests see them).
    from eth_hash.auto import keccak
    key = bytes.fromhex("70997970c51812dc3a010c7d01b50e0d17dc79c8")
    expected = int.from_bytes(keccak((0).to_bytes(32, "big") + key.rjust(32, b"\0")), "big")
    assert hashmap_slot(0, key) == expected
    assert hashmap_slot(0, key) != int.from_bytes(keccak(key.rjust(32, b"\0") + (0).to_bytes(32, "big")), "big")


def test_identity_storage_counts_admins_and_members_once() -> None:
    a, b = b"\x0a" * 20, b"\x0b" * 20
    layout = load_artifact("IdentityRegistry")
    storage = identity_storage([(a, "ADMIN"), (a, "REGULATOR"), (b, "PARTY")], [b"\x01" * 32])
    assert storage[hashmap_slot(layout.slot("members"), a)] == 1 | 8
    assert storage[layout.slot("admin_count")] == 1
    assert storage[layout.slot("member_count")] == 2
    assert storage[hashmap_slot(layout.slot("roots"), b"\x01" * 32)] == 1


def test_the_offline_verifier_names_the_deployed_evidence_registry() -> None:
    from chaincode import EVIDENCE_REGISTRY
    from evidence.receipt import ANCHORED_SIGNATURE, EVIDENCE_REGISTRY as VERIFIER_REGISTRY

    assert VERIFIER_REGISTRY == EVIDENCE_REGISTRY
    abi = load_artifact("EvidenceRegistry").abi
    event = next(e for e in abi if e.get("type") == "event" and e["name"] == "Anchored")
    assert ANCHORED_SIGNATURE == f"Anchored({','.join(i['type'] for i in event['inputs'])})"
