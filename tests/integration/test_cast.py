"""Unmodified Foundry `cast` (npm `@foundry-rs/cast`) against a dev-mode evidence-ledger node.

Every command runs the native cast binary shipped by the npm package (located
by npm_tools) with `--rpc-url dev_node.url`; `--json` is used wherever cast
has it and the tests assert on the values read back.

Fees on a zero-gas-price chain
------------------------------
Without fee flags `cast send` builds an EIP-1559 transaction and estimates its
fees with alloy's default estimator: it calls `eth_feeHistory` and never
suggests a priority fee below 1 wei, so it sends maxFeePerGas =
maxPriorityFeePerGas = 1 wei (base fee 0 + 1 wei) and the sender pays 1 wei
per gas.  Two ways give a truly free transaction:

* `--legacy`: a type-0 transaction priced with `eth_gasPrice` (0 here), and
* `--gas-price 0 --priority-gas-price 0`: a type-2 transaction with both
  fee caps 0; with both given cast asks the node for no fee data at all
  (no `eth_feeHistory`, no `eth_gasPrice`).

The deploy and the main `set` calls use those two forms (so the balance must
not change); `test_cast_send_with_default_fee_estimation` separately proves
that plain `cast send` without fee flags (the eth_feeHistory path) works too.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from eth_utils import keccak, to_checksum_address

try:  # tests/ laid out as a package
    from .npm_tools import compile_storage, npm_tools
except ImportError:  # rootdir-relative imports (no __init__.py)
    from npm_tools import compile_storage, npm_tools

pytestmark = pytest.mark.slow

CAST_TIMEOUT = 120
STORED_SIG = "Stored(address indexed,uint256 indexed,uint256)"
STORED_TOPIC = "0x" + keccak(text="Stored(address,uint256,uint256)").hex()
# Zero-fee flags (see the module docstring).
ZERO_FEE_1559 = ["--gas-price", "0", "--priority-gas-price", "0"]
ZERO_FEE_LEGACY = ["--legacy"]


def _word(n: int) -> str:
    return "0x" + n.to_bytes(32, "big").hex()


def _addr_topic(address: str) -> str:
    return "0x" + "00" * 12 + address[2:].lower()


def _int(v) -> int:
    """cast prints quantities as 0x-hex strings in JSON, numbers as decimal text."""
    if isinstance(v, int):
        return v
    v = str(v).strip()
    return int(v, 16) if v.startswith("0x") else int(v)


class Cast:
    def __init__(self, binary: str, rpc_url: str):
        self.binary = binary
        self.rpc_url = rpc_url
        self.env = dict(os.environ, NO_COLOR="1", FOUNDRY_DISABLE_NIGHTLY_WARNING="1")

    def run(self, subcommand: str, *args: str, json_output: bool = False) -> str:
        # Options go right after the subcommand: `send --create <code>` takes
        # every later argument as constructor arguments.
        args = (subcommand, "--rpc-url", self.rpc_url, *(["--json"] if json_output else []), *args)
        argv = [self.binary, *args]
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, timeout=CAST_TIMEOUT,
                env=self.env, stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"`cast {' '.join(args)}` timed out after {CAST_TIMEOUT}s: "
                        f"stdout={exc.stdout!r} stderr={exc.stderr!r}", pytrace=False)
        if proc.returncode != 0:
            pytest.fail(
                f"`cast {' '.join(_redact(args))}` against {self.rpc_url} exited "
                f"{proc.returncode}:\nstderr: {proc.stderr.strip()}\nstdout: {proc.stdout.strip()[:4000]}",
                pytrace=False,
            )
        return proc.stdout.strip()

    def json(self, subcommand: str, *args: str):
        out = self.run(subcommand, *args, json_output=True)
        try:
            return json.loads(out)
        except ValueError:
            pytest.fail(f"`cast {subcommand} --json {' '.join(_redact(args))}` printed no JSON: {out[:2000]!r}",
                        pytrace=False)


def _redact(args) -> list[str]:
    args = list(args)
    for i, a in enumerate(args[:-1]):
        if a == "--private-key":
            args[i + 1] = "<dev key>"
    return args


@pytest.fixture(scope="module")
def cast(dev_node):
    tools = npm_tools()
    return Cast(tools.cast, dev_node.url)


@pytest.fixture(scope="module")
def deployed(cast, dev_node):
    """Deploy Storage.vy with `cast send --create`; returns (address, receipt)."""
    art = compile_storage()
    receipt = cast.json("send", "--private-key", dev_node.dev_key, *ZERO_FEE_1559,
                        "--create", art["bytecode"])
    assert _int(receipt["status"]) == 1, receipt
    address = to_checksum_address(receipt["contractAddress"])
    return address, receipt


def test_cast_chain_queries(cast, dev_node):
    assert _int(cast.run("chain-id")) == dev_node.chain_id
    number = _int(cast.run("block-number"))
    assert number >= 0
    assert _int(cast.run("gas-price")) == 0

    block = cast.json("block", "latest")
    assert _int(block["number"]) >= number
    assert len(block["hash"]) == 66 and len(block["parentHash"]) == 66
    assert _int(block["timestamp"]) >= 0  # may still be the genesis block
    assert _int(block["gasLimit"]) > 0
    assert _int(block.get("baseFeePerGas") or 0) == 0
    assert isinstance(block["transactions"], list)

    # The same block by number.
    again = cast.json("block", str(_int(block["number"])))
    assert again["hash"] == block["hash"]
    # And the genesis block.
    genesis = cast.json("block", "0")
    assert _int(genesis["number"]) == 0
    assert genesis["parentHash"] == "0x" + "00" * 32


def test_cast_deploy(cast, dev_node, deployed):
    address, receipt = deployed
    assert receipt["to"] is None
    assert to_checksum_address(receipt["from"]) == dev_node.dev_address
    assert _int(receipt["effectiveGasPrice"]) == 0
    assert _int(receipt["gasUsed"]) > 21000
    assert _int(receipt["blockNumber"]) <= _int(cast.run("block-number"))

    code = cast.run("code", address)
    assert code.startswith("0x") and len(code) > 2

    tx = cast.json("tx", receipt["transactionHash"])
    assert _int(tx["type"]) == 2
    assert _int(tx["maxFeePerGas"]) == 0 and _int(tx["maxPriorityFeePerGas"]) == 0
    assert _int(tx["chainId"]) == dev_node.chain_id
    assert tx.get("to") is None
    assert to_checksum_address(tx["from"]) == dev_node.dev_address
    # A fresh contract reads zero.
    assert _int(cast.run("call", address, "get(uint256)(uint256)", "12345")) == 0


def test_cast_send_receipt_call_logs(cast, dev_node, deployed):
    address, deploy_receipt = deployed
    dev = dev_node.dev_address
    balance_before = _int(cast.run("balance", dev))
    nonce_before = _int(cast.run("nonce", dev))
    block_before = _int(cast.run("block-number"))
    assert balance_before > 0

    # 1) legacy transaction, gasPrice from eth_gasPrice (0)
    r1 = cast.json("send", "--private-key", dev_node.dev_key, *ZERO_FEE_LEGACY,
                   address, "set(uint256,uint256)", "1", "100")
    # 2) EIP-1559 transaction with zero fee caps
    r2 = cast.json("send", "--private-key", dev_node.dev_key, *ZERO_FEE_1559,
                   address, "set(uint256,uint256)", "2", "200")
    # 3) sent with --async (prints only the hash), then `cast receipt` polls
    #    the node until the receipt exists
    tx3 = cast.run("send", "--private-key", dev_node.dev_key, *ZERO_FEE_1559, "--async",
                   address, "set(uint256,uint256)", "1", "111")
    assert tx3.startswith("0x") and len(tx3) == 66, tx3
    r3 = cast.json("receipt", tx3)
    assert r3["transactionHash"] == tx3

    expected = [(r1, 1, 100, 0), (r2, 2, 200, 2), (r3, 1, 111, 2)]
    for receipt, key, value, tx_type in expected:
        assert _int(receipt["status"]) == 1, receipt
        assert _int(receipt["type"]) == tx_type, receipt
        assert to_checksum_address(receipt["to"]) == address
        assert to_checksum_address(receipt["from"]) == dev
        assert receipt.get("contractAddress") is None
        assert _int(receipt["effectiveGasPrice"]) == 0
        assert _int(receipt["blockNumber"]) > block_before
        assert len(receipt["logs"]) == 1, receipt
        log = receipt["logs"][0]
        assert to_checksum_address(log["address"]) == address
        assert [t.lower() for t in log["topics"]] == [STORED_TOPIC, _addr_topic(dev), _word(key)]
        assert log["data"].lower() == _word(value)
        assert log["transactionHash"] == receipt["transactionHash"]

        # `cast receipt` re-reads the same receipt.
        again = cast.json("receipt", receipt["transactionHash"])
        for field in ("transactionHash", "blockHash", "blockNumber", "status", "gasUsed", "logs"):
            assert again[field] == receipt[field], field
        # `cast tx`: the transaction as the node stores it.
        tx = cast.json("tx", receipt["transactionHash"])
        assert tx["hash"] == receipt["transactionHash"]
        assert tx["blockHash"] == receipt["blockHash"]
        assert _int(tx["type"]) == tx_type
        assert _int(tx["chainId"]) == dev_node.chain_id
        if tx_type == 0:
            assert _int(tx["gasPrice"]) == 0
        else:
            assert _int(tx["maxFeePerGas"]) == 0 and _int(tx["maxPriorityFeePerGas"]) == 0
    assert [_int(tx["nonce"]) for tx in (cast.json("tx", r["transactionHash"]) for r, *_ in expected)] == [
        nonce_before, nonce_before + 1, nonce_before + 2]

    # The block holding the first transaction lists it.
    block = cast.json("block", str(_int(r1["blockNumber"])))
    assert block["hash"] == r1["blockHash"]
    tx_hashes = [t if isinstance(t, str) else t["hash"] for t in block["transactions"]]
    assert r1["transactionHash"] in tx_hashes

    # View calls (eth_call) decoded by cast.
    assert _int(cast.run("call", address, "get(uint256)(uint256)", "1")) == 111
    assert _int(cast.run("call", address, "get(uint256)(uint256)", "2")) == 200
    assert _int(cast.run("call", address, "get(uint256)(uint256)", "999")) == 0
    assert _int(cast.run("call", address, "last()(uint256)")) == 111
    assert [_int(v) for v in cast.json("call", address, "get(uint256)(uint256)", "2")] == [200]

    # Events (eth_getLogs) filtered by signature, by address and by indexed args.
    from_block = str(_int(deploy_receipt["blockNumber"]))
    logs = cast.json("logs", "--from-block", from_block, "--to-block", "latest",
                     "--address", address, STORED_SIG)
    mine = {r["transactionHash"] for r, *_ in expected}
    ours = [log for log in logs if log["transactionHash"] in mine]
    assert [(_int(log["topics"][2]), _int(log["data"])) for log in ours] == [(1, 100), (2, 200), (1, 111)]
    for log in ours:
        assert log["topics"][0].lower() == STORED_TOPIC
        assert to_checksum_address(log["address"]) == address
        assert log["removed"] is False
    key1 = cast.json("logs", "--from-block", from_block, "--address", address, STORED_SIG, dev, "1")
    assert [(_int(log["topics"][2]), _int(log["data"])) for log in key1
            if log["transactionHash"] in mine] == [(1, 100), (1, 111)]
    assert all(log["topics"][2].lower() == _word(1) for log in key1)

    # Account state: zero fees, so the balance is unchanged; 3 nonces used.
    assert _int(cast.run("balance", dev)) == balance_before
    assert _int(cast.run("nonce", dev)) == nonce_before + 3
    assert _int(cast.run("block-number")) >= _int(r3["blockNumber"])


def test_cast_send_with_default_fee_estimation(cast, dev_node, deployed):
    """Plain `cast send` with no fee flags: alloy's EIP-1559 estimator
    (eth_feeHistory + latest block), which prices the tx at 1 wei/gas."""
    address, _ = deployed
    receipt = cast.json("send", "--private-key", dev_node.dev_key,
                        address, "set(uint256,uint256)", "10", "1000")
    assert _int(receipt["status"]) == 1, receipt
    assert _int(receipt["type"]) == 2
    assert len(receipt["logs"]) == 1
    assert _int(cast.run("call", address, "get(uint256)(uint256)", "10")) == 1000
