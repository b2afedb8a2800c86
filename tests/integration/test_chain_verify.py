"""`ledger chain verify` against a real dev node: valid over RPC while it runs; after it
stops, a copy of its data directory with one flipped byte fails at that block's height,
and a clean copy re-executes to the same state roots."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rlp
from eth_account import Account
from eth_utils import to_checksum_address

from node.storage import schema
from tests.integration.nodeproc import NodeProcess, free_port, rpc

pytestmark = pytest.mark.slow

ROUNDS = 20  # each round's transactions wait for their block: ~20 blocks
RECEIPT_DEADLINE_SECONDS = 20
CLI_TIMEOUT_SECONDS = 300
SINK = to_checksum_address("0x" + "cd" * 20)
REPO = Path(__file__).resolve().parents[2]


def ledger(*args: str) -> subprocess.CompletedProcess[str]:
    """The real entry point, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "client.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=CLI_TIMEOUT_SECONDS)


def wait_receipt(url: str, tx_hash: str) -> dict:
    deadline = time.monotonic() + RECEIPT_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        receipt = rpc(url, "eth_getTransactionReceipt", tx_hash)
        if receipt is not None:
            return receipt  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise TimeoutError(f"no receipt for {tx_hash} after {RECEIPT_DEADLINE_SECONDS}s")


def make_blocks(node: NodeProcess) -> dict[int, int]:
    """Value transfers from the dev account, each round in its own block; returns
    {height: transactions} of the blocks that carry them."""
    account = Account.from_key(node.dev_key)
    nonce = int(rpc(node.url, "eth_getTransactionCount", account.address, "pending"), 16)  # type: ignore[arg-type]
    carried: dict[int, int] = {}
    for round_number in range(ROUNDS):
        hashes = []
        for _ in range(1 + round_number % 3):
            tx = {"to": SINK, "value": nonce + 1, "gas": 21_000, "gasPrice": 0, "nonce": nonce, "chainId": 1337}
            signed = account.sign_transaction(tx)
            hashes.append(rpc(node.url, "eth_sendRawTransaction", "0x" + bytes(signed.raw_transaction).hex()))
            nonce += 1
        for tx_hash in hashes:
            height = int(wait_receipt(node.url, tx_hash)["blockNumber"], 16)
            carried[height] = carried.get(height, 0) + 1
    return carried


def flip_body_byte(chain_dir: Path, height: int) -> None:
    """Flip one byte inside the first transaction of the body stored for `height`."""
    import plyvel

    db = plyvel.DB(str(chain_dir), create_if_missing=False)
    try:
        key = schema.body_key(db.get(schema.canonical_key(height)))
        body = db.get(key)
        first_tx = rlp.decode(body)[0][0]
        position = body.index(first_tx) + len(first_tx) // 2
        damaged = bytearray(body)
        damaged[position] ^= 0x01
        db.put(key, bytes(damaged), sync=True)
    finally:
        db.close()


def test_chain_verify_over_rpc_and_on_a_damaged_copy(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    node = NodeProcess(data_dir, free_port()).start()
    try:
        carried = make_blocks(node)
        head = int(rpc(node.url, "eth_blockNumber"), 16)  # type: ignore[arg-type]
        assert head >= ROUNDS

        # 1. over RPC while the node runs
        result = ledger("chain", "verify", "--rpc", node.url)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.startswith("VALID: ") and "from genesis 0x" in result.stdout

        result = ledger("chain", "verify", "--rpc", node.url, "--json", "--genesis", str(data_dir / "genesis.json"))
        assert result.returncode == 0, result.stdout + result.stderr
        document = json.loads(result.stdout)
        assert document["valid"] and document["genesisChecked"] and document["blocks"] >= head + 1
        assert document["transactions"] >= sum(carried.values())

        # 2. the running node's own directory is locked: refused, not read
        result = ledger("chain", "verify", "--data-dir", str(data_dir))
        assert result.returncode == 2 and "locked" in result.stderr, result.stdout + result.stderr
    finally:
        assert node.stop() == 0

    # 3. a copy of the stopped node's directory, clean: valid, and it re-executes
    clean = tmp_path / "clean"
    shutil.copytree(data_dir, clean)
    result = ledger("chain", "verify", "--data-dir", str(clean), "--reexecute")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "re-execution" in result.stdout

    # 4. a copy with one flipped byte in a middle block's body
    damaged = tmp_path / "damaged"
    shutil.copytree(data_dir, damaged)
    heights = sorted(carried)
    height = heights[len(heights) // 2]
    flip_body_byte(damaged / "chain", height)
    result = ledger("chain", "verify", "--data-dir", str(damaged))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"INVALID at height {height}: transactions root" in result.stdout, result.stdout

    result = ledger("chain", "verify", "--data-dir", str(damaged), "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout) == {"valid": False, "height": height, "step": "transactions root",
                                         "detail": "the transactions do not match the header"}
