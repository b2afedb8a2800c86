"""Receipts that name their chain, against real node processes: the README's evidence
commands (anchor on the dev node, verify with `data/dev/genesis.json`) give a v2 receipt
that verifies; the same receipt checked against the repo's top-level genesis.json fails
at the first step, `chain`, in plain words and before any seal is checked; and the
genesis hash evidence/genesis.py computes from a genesis.json is the block 0 a node
started from it reports, for the repo's genesis and for one with contracts and storage.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from evidence.genesis import identify_chain
from node.consensus.sealing import ValidatorKey
from node.execution.genesis import build_genesis_document
from node.ops.runner import init_data_dir, write_key_file
from tests import pki
from tests.integration.nodeproc import NodeProcess, free_port, rpc

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
REPO_GENESIS = ROOT / "genesis.json"


def ledger(*args: str, cwd: Path, check: int | None = 0) -> subprocess.CompletedProcess[str]:
    """The real CLI, run where the README's commands run (relative paths), on this tree."""
    done = subprocess.run([sys.executable, "-m", "client.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if check is not None:
        assert done.returncode == check, done.stdout + done.stderr
    return done


def test_the_readme_verify_passes_and_another_genesis_is_named_as_another_chain(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    (demo / "capture").mkdir(parents=True)
    (demo / "capture" / "index.html").write_text(
        "<html><body><h1>Lot 3: offer of Bidder Co</h1><p>1,250,000.00</p></body></html>\n")
    (demo / "capture" / "contract.pdf").write_bytes((ROOT / "docs" / "examples" / "contract.pdf").read_bytes())
    dev = tmp_path / "data" / "dev"  # as ./scripts/dev-node keeps it: data/dev/genesis.json
    dev.parent.mkdir()
    node = NodeProcess(dev, free_port()).start()
    try:
        (demo / "admin.key").write_text(node.dev_key)
        ledger("evidence", "anchor", "capture/", "--kind", "web-capture", "--case", "(2026) IP 77", "--out", "receipts",
               "--key", "admin.key", "--rpc", node.url, cwd=demo)
        block_zero = rpc(node.url, "eth_getBlockByNumber", "0x0", False)["hash"]
        info = rpc(node.url, "ledger_chainInfo")
    finally:
        node.stop()
    assert info == {"chainId": "0x539", "chainName": "chain 1337", "genesisHash": block_zero,
                    "cryptoProfile": "mixed"}
    receipt: dict[str, Any] = json.loads((demo / "receipts" / "capture" / "index.html.receipt.json").read_text())
    assert receipt["version"] == "evidence-ledger/receipt/v2"
    assert (receipt["chainId"], receipt["chainName"], receipt["genesisHash"]) == (1337, "chain 1337", block_zero)
    assert "0x" + identify_chain(json.loads((dev / "genesis.json").read_text())).genesis_hash.hex() == block_zero

    # The README's command, with the dev chain's genesis: valid.
    ok = ledger("evidence", "verify", "receipts/capture/index.html.receipt.json", "--file", "capture/index.html",
                "--genesis", "../data/dev/genesis.json", cwd=demo)
    assert ok.stdout.startswith("✓ chain\n") and "✓ commit seals" in ok.stdout and "VALID" in ok.stdout

    # The repo's top-level genesis.json (same chain id, another chain): refused at `chain`,
    # saying which chain the receipt belongs to, and no seal is checked.
    repo = identify_chain(json.loads(REPO_GENESIS.read_text()))
    wrong = ledger("evidence", "verify", "receipts/capture/index.html.receipt.json", "--file", "capture/index.html",
                   "--genesis", str(REPO_GENESIS), cwd=demo, check=1)
    first_step, rest = " ".join(wrong.stdout.split()).split(" file: not reached", 1)  # rich wraps long lines
    assert first_step == (
        f"✗ chain: this receipt belongs to another chain: chain 1337 (genesis {block_zero}, chain id 1337); "
        f"the genesis you gave is evidence-ledger example dev chain (genesis 0x{repo.genesis_hash.hex()}, "
        "chain id 1337)")
    assert "commit seals: not reached" in rest and rest.endswith("INVALID")
    report = json.loads(ledger("evidence", "verify", "receipts/bundle.receipts.jsonl", "--genesis", str(REPO_GENESIS),
                               "--json", cwd=demo, check=1).stdout)
    assert [r["failedStep"] for r in report["receipts"]] == ["chain", "chain"]


def _block_zero_of(genesis_path: Path, key: bytes, base: Path) -> tuple[str, dict[str, Any]]:
    """Block 0's hash and ledger_chainInfo from a node initialised with `genesis_path`."""
    key_path = base / "validator.key"
    write_key_file(key_path, key)
    init_data_dir(base / "data", genesis_path, key_path)
    document = json.loads(genesis_path.read_text())
    node = NodeProcess(base / "data", free_port(), dev=False, chain_id=int(document["config"]["chainId"])).start()
    try:
        return rpc(node.url, "eth_getBlockByNumber", "0x0", False)["hash"], rpc(node.url, "ledger_chainInfo")
    finally:
        node.stop()


def test_block_zero_is_the_hash_computed_from_genesis_json(tmp_path: Path) -> None:
    # The repo's genesis.json, with its (publicly known) validator key.
    repo_key = bytes.fromhex((ROOT / "network" / "dev" / "validator.key").read_text().strip().removeprefix("0x"))
    reported, info = _block_zero_of(REPO_GENESIS, repo_key, tmp_path / "repo")
    computed = identify_chain(json.loads(REPO_GENESIS.read_text()))
    assert reported == "0x" + computed.genesis_hash.hex() == info["genesisHash"]
    assert info["chainName"] == computed.name == "evidence-ledger example dev chain"

    # A genesis with more contracts and storage: a trusted root and members in the
    # identity registry's storage, and an account with code, storage and a nonce.
    key = ValidatorKey(b"\x5a" * 32)
    document = build_genesis_document(
        chain_id=4711, validators=[key.address, b"\x01" * 20, b"\x02" * 20, b"\x03" * 20], alloc={b"\xaa" * 20: 10**18},
        members=[(b"\xaa" * 20, "ADMIN"), (b"\xbb" * 20, "COURT")], trusted_roots=[pki.p256_ca().root_pem.decode()],
        timestamp=1_767_225_600, chain_name="某市公共资源交易中心存证链")
    document["alloc"]["c0de" * 10] = {
        "balance": "0x0", "nonce": "0x1", "code": "0x365f5f375f5f365f5f6110045af16014575f5ffd5b00",
        "storage": {"0x00": "0x2a", "0x" + "ff" * 32: "0x" + "01" * 32, "0x05": "0x0"}}
    path = tmp_path / "other.json"
    path.write_text(json.dumps(document, indent=2))
    reported, info = _block_zero_of(path, b"\x5a" * 32, tmp_path / "other")
    computed = identify_chain(document)
    assert reported == "0x" + computed.genesis_hash.hex() == info["genesisHash"]
    assert (info["chainId"], info["chainName"]) == ("0x1267", "某市公共资源交易中心存证链")
