"""Unmodified ethers v6 (npm `ethers`) against a dev-mode evidence-ledger node.

The node-side script js/ethers_e2e.mjs does the work with ethers' own
JsonRpcProvider / WebSocketProvider, Wallet, ContractFactory and Contract and
prints what it read back; these tests assert on those values.  ethers and its
dependencies are installed by npm_tools (skipped without node/npm or registry).
"""

from __future__ import annotations

import json
import subprocess

import pytest
from eth_utils import keccak, to_checksum_address

try:  # tests/ laid out as a package
    from .npm_tools import compile_storage, npm_tools
except ImportError:  # rootdir-relative imports (no __init__.py)
    from npm_tools import compile_storage, npm_tools

pytestmark = pytest.mark.slow

SCRIPT_TIMEOUT = 300
STORED_TOPIC = "0x" + keccak(text="Stored(address,uint256,uint256)").hex()
ZERO_ADDRESS_TOPIC_PAD = "0x" + "00" * 12


def _word(n: int) -> str:
    return "0x" + n.to_bytes(32, "big").hex()


@pytest.fixture(scope="module")
def tools():
    return npm_tools()


@pytest.fixture(scope="module")
def storage():
    return compile_storage()


def _run_ethers(tools, dev_node, storage, mode: str, tmp_path) -> dict:
    inp = tmp_path / f"ethers-{mode}-input.json"
    inp.write_text(json.dumps({
        "url": dev_node.url,
        "wsUrl": dev_node.ws_url,
        "privateKey": dev_node.dev_key,
        "expectedAddress": dev_node.dev_address,
        "chainId": dev_node.chain_id,
        "bytecode": storage["bytecode"],
        "abi": storage["abi"],
    }))
    try:
        proc = subprocess.run(
            tools.node_script("ethers_e2e.mjs") + [mode, str(inp)],
            cwd=tools.js_dir, capture_output=True, text=True, timeout=SCRIPT_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"ethers script ({mode}) did not finish within {SCRIPT_TIMEOUT}s\n"
            f"stdout: {exc.stdout!r}\nstderr: {exc.stderr!r}",
            pytrace=False,
        )
    if proc.returncode != 0:
        pytest.fail(
            f"ethers {tools.ethers_version} ({mode}) failed against {dev_node.url} "
            f"(exit {proc.returncode}):\n{proc.stderr[-12000:]}\nstdout: {proc.stdout[-2000:]}",
            pytrace=False,
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_ethers_deploy_transact_logs_and_queries(tools, dev_node, storage, tmp_path):
    out = _run_ethers(tools, dev_node, storage, "http", tmp_path)
    dev = dev_node.dev_address

    assert out["ethersVersion"].startswith("6.")
    # getNetwork() -> eth_chainId
    assert int(out["chainId"]) == dev_node.chain_id
    assert out["address"] == dev

    # getFeeData(): zero gas price.  ethers derives maxFeePerGas from the latest
    # block's baseFeePerGas; a zero (or absent) base fee leaves it null, and
    # ethers then populates legacy transactions with gasPrice = eth_gasPrice = 0.
    assert out["feeData"]["gasPrice"] == "0"
    assert out["feeData"]["maxFeePerGas"] in (None, "0")

    nonce0 = out["nonceBefore"]
    assert out["noncePendingBefore"] == nonce0
    assert int(out["balanceBefore"]) > 0

    # Deployment through ContractFactory.
    deploy = out["deploy"]
    address = out["contractAddress"]
    assert address == to_checksum_address(address)
    assert deploy["status"] == 1
    assert deploy["contractAddress"] == address
    assert deploy["to"] is None
    assert deploy["from"] == dev
    assert deploy["nonce"] == nonce0
    assert deploy["effectiveGasPrice"] == "0"
    assert int(deploy["gasUsed"]) > 21000
    assert out["codeLength"] > 2  # "0x" + runtime code

    # set() transactions: 2 waited one by one, explicit type 2, explicit
    # legacy, then a burst of 3 sent before waiting.
    sets = out["sets"]
    expected = [(1, 100), (2, 200), (3, 300), (4, 400), (1, 111), (5, 500), (6, 600)]
    assert [(int(s["key"]), int(s["value"])) for s in sets] == expected
    assert [s["nonce"] for s in sets] == list(range(nonce0 + 1, nonce0 + 1 + len(expected)))
    for s in sets:
        assert s["status"] == 1, s
        assert s["from"] == dev and s["to"] == address, s
        assert int(s["chainId"]) == dev_node.chain_id, s
        assert s["logs"] == 1, s
        assert s["effectiveGasPrice"] == "0", s
        assert int(s["gasUsed"]) > 21000, s
        assert s["blockNumber"] > out["blockNumberBefore"], s
        assert s["blockHash"].startswith("0x") and len(s["blockHash"]) == 66, s
        if s["type"] == 2:
            assert s["maxFeePerGas"] == "0" and s["maxPriorityFeePerGas"] == "0", s
        else:
            assert s["type"] == 0 and s["gasPrice"] == "0", s
    assert sets[2]["type"] == 2  # explicit EIP-1559 with zero fees
    assert sets[3]["type"] == 0  # explicit legacy with gasPrice 0
    blocks = [s["blockNumber"] for s in sets]
    assert blocks == sorted(blocks)

    # Events via contract.queryFilter (eth_getLogs with topic filters).
    by_setter = out["eventsBySetter"]
    assert [(int(e["key"]), int(e["value"])) for e in by_setter] == expected
    assert all(e["setter"] == dev for e in by_setter)
    assert [e["transactionHash"] for e in by_setter] == [s["hash"] for s in sets]
    assert [e["blockNumber"] for e in by_setter] == blocks
    assert [(int(e["key"]), int(e["value"])) for e in out["eventsByKey1"]] == [(1, 100), (1, 111)]

    # Events via provider.getLogs (raw logs, decoded with the ABI).
    raw = out["rawLogs"]
    assert len(raw) == len(expected)
    for log, s, (key, value) in zip(raw, sets, expected):
        assert log["address"] == address
        assert log["name"] == "Stored"
        assert [t.lower() for t in log["topics"]] == [
            STORED_TOPIC,
            ZERO_ADDRESS_TOPIC_PAD + dev[2:].lower(),
            _word(key),
        ]
        assert log["data"].lower() == _word(value)
        assert (int(log["key"]), int(log["value"]), log["setter"]) == (key, value, dev)
        assert log["transactionHash"] == s["hash"]
        assert log["blockNumber"] == s["blockNumber"] and log["blockHash"] == s["blockHash"]
    assert out["logsByBlockHash"] >= 1

    # View calls (eth_call).
    assert out["get"] == {"1": "111", "2": "200", "3": "300", "4": "400", "5": "500", "6": "600", "99": "0"}
    assert out["last"] == "600"
    assert out["writes"] == str(len(expected))
    assert out["staticCallGet"] == "200"
    assert int(out["estimateGasSet"]) > 21000

    # Chain state after the run.
    assert out["blockNumberAfter"] >= blocks[-1]
    assert out["latestBlockNumber"] >= blocks[-1]
    assert out["balanceAfter"] == out["balanceBefore"]  # zero gas price, no value sent
    assert out["nonceAfter"] == nonce0 + 1 + len(expected)
    assert out["noncePending"] == out["nonceAfter"]

    block = out["block"]
    assert block["number"] == sets[0]["blockNumber"]
    assert block["hash"] == sets[0]["blockHash"]
    assert sets[0]["hash"] in block["transactions"]
    assert block["baseFeePerGas"] in (None, "0")
    assert block["timestamp"] > 0
    assert out["receiptLookup"] == {"hash": sets[0]["hash"], "blockNumber": sets[0]["blockNumber"], "status": 1}


def test_ethers_websocket_subscriptions(tools, dev_node, storage, tmp_path):
    out = _run_ethers(tools, dev_node, storage, "ws", tmp_path)
    assert int(out["chainId"]) == dev_node.chain_id
    assert out["tx"]["status"] == 1
    # contract.once("Stored") -> eth_subscribe("logs", {address, topics})
    assert out["event"] == {
        "setter": dev_node.dev_address,
        "key": "42",
        "value": "4242",
        "blockNumber": out["tx"]["blockNumber"],
        "transactionHash": out["tx"]["hash"],
    }
    # provider.once("block") -> eth_subscribe("newHeads")
    assert out["newBlock"] >= out["blockNumber"]
    assert out["wsGet"] == "4242"


def test_ethers_default_provider_deploy_then_call(tools, dev_node, storage, tmp_path):
    """The flow as ethers' documentation shows it, every provider option at its default
    (250 ms request cache, 4 s polling), a plain Wallet: deploy, waitForDeployment(), then
    the contract's first transaction at once, several times over. A node that sealed a
    transaction the instant it arrived answered the deploy's receipt inside ethers' cache
    window, so the call reused the deploy's nonce ("nonce has already been used"). Blocks
    on the block period's schedule, as Besu's QBFT makes them, and never sooner than that
    window after a transaction reached an idle chain, leave the flow working every time."""
    out = _run_ethers(tools, dev_node, storage, "defaults", tmp_path)
    assert out["ethersVersion"].startswith("6.")
    assert int(out["chainId"]) == dev_node.chain_id
    assert out["address"] == dev_node.dev_address

    rounds = out["rounds"]
    assert len(rounds) == 5
    first_nonce = rounds[0]["deployNonce"]
    for i, r in enumerate(rounds):
        # Each deploy and each call took the next nonce: none was reused from a stale cache.
        assert r["deployNonce"] == first_nonce + 2 * i, r
        assert r["setNonce"] == r["deployNonce"] + 1, r
        assert r["status"] == 1, r
        # The value written right after deployment is read back from the new contract.
        assert (r["key"], r["value"]) == (str(i + 1), str(1000 + i)), r
        assert r["get"] == r["value"], r
        assert r["writes"] == "1", r
    assert len({r["address"] for r in rounds}) == len(rounds)
    assert out["nonceAfter"] == first_nonce + 2 * len(rounds)
