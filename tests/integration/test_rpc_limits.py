"""What one caller may make a node pay, tried against real dev nodes on loopback: the
eth_feeHistory answer, eth_call / eth_estimateGas gas per request and per caller, cheap
calls answered while expensive ones run, filters per caller and topics per position, and
an id no encoder can write as UTF-8 (node/rpc/limits.py, node/rpc/jsonrpc.py)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from node.rpc.jsonrpc import INVALID_PARAMS, LIMIT_EXCEEDED
from node.rpc.limits import RpcLimits
from tests.integration.nodeproc import NodeProcess, free_port

pytestmark = pytest.mark.slow

TIMEOUT = 120.0
# JUMPDEST PUSH1 0 JUMP: loops until its gas runs out.
LOOP = "0x5b600056"
# JUMPDEST PUSH2 30000 GAS GT PUSH1 0 JUMPI STOP: burns gas while more than 30,000 is left,
# then succeeds. As init code (no `to`), eth_estimateGas of it is the one that searched up to
# the block gas limit, every run burning what it was given.
BURN_THEN_STOP = "0x5b617530" + "5a11600057" + "00"
# Small caps, so that running into them costs seconds, not minutes: a call may burn 1M gas,
# a request 2.5M, a caller 5M with (practically) no refill.
SMALL = RpcLimits(call_gas_cap=1_000_000, request_gas_cap=2_500_000, caller_gas_burst=5_000_000,
                  caller_gas_per_second=1, filters_per_caller=5, request_block_cap=10)


def post(client: httpx.Client, url: str, body: Any) -> httpx.Response:
    return client.post(url, content=json.dumps(body), headers={"Content-Type": "application/json"}, timeout=TIMEOUT)


def call(client: httpx.Client, url: str, method: str, *params: Any) -> dict[str, Any]:
    reply = post(client, url, {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    assert reply.status_code == 200, reply.text[:300]
    return reply.json()


def token_client(node: NodeProcess, role: str = "TRADING_CENTER") -> httpx.Client:
    """A client presenting a fresh token of the node's own issuer (`ledger token issue`): a
    caller of its own, even on a dev node where no token is needed."""
    proc = subprocess.run([sys.executable, "-m", "client.cli", "token", "issue", "--data-dir", str(node.data_dir),
                           "--role", role, "--json"], capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    return httpx.Client(headers={"Authorization": f"Bearer {json.loads(proc.stdout)['token']}"})


def limit_args(limits: RpcLimits) -> tuple[str, ...]:
    defaults = RpcLimits()
    args: list[str] = []
    for name, value in vars(limits).items():
        if getattr(defaults, name) != value:
            args += ["--rpc-limit", f"{name}={value}"]
    return tuple(args)


@pytest.fixture(scope="module")
def node(dev_node: NodeProcess) -> NodeProcess:
    """A dev node with the default limits (conftest's)."""
    return dev_node


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A dev node whose callers get one full call's gas and (practically) no refill."""
    base: Path = tmp_path_factory.mktemp("small-limits")
    process = NodeProcess(base / "data", free_port(), extra_args=limit_args(SMALL)).start()
    try:
        yield process
    finally:
        process.stop()


def test_fee_history_reward_percentiles_are_capped_and_checked(node: NodeProcess) -> None:
    with httpx.Client() as client:
        # The request that made a 312 MB answer: a million percentiles over 1,024 blocks.
        reply = call(client, node.url, "eth_feeHistory", "0x400", "latest", [1] * 1_000_000)
        assert reply["error"]["code"] == INVALID_PARAMS and "over the limit of 100" in reply["error"]["message"]
        assert call(client, node.url, "eth_feeHistory", "0x4", "latest", list(range(101)))["error"]["code"] == INVALID_PARAMS
        for bad in ([50, 50], [60, 40], [-1], [101], ["50"], [True]):
            assert call(client, node.url, "eth_feeHistory", "0x1", "latest", bad)["error"]["code"] == INVALID_PARAMS, bad
        history = call(client, node.url, "eth_feeHistory", "0x2", "latest", list(range(100)))["result"]
        assert all(len(row) == 100 for row in history["reward"]) and history["reward"]


def test_a_lone_surrogate_id_is_echoed_not_an_internal_error(node: NodeProcess) -> None:
    body = b'{"jsonrpc":"2.0","id":"\\ud800x","method":"eth_blockNumber","params":[]}'
    with httpx.Client() as client:
        reply = client.post(node.url, content=body, headers={"Content-Type": "application/json"})
        assert reply.status_code == 200, reply.text[:300]
        assert reply.json()["id"] == "\ud800x" and reply.json()["result"].startswith("0x")
        unknown = client.post(node.url, content=b'[{"jsonrpc":"2.0","id":1,"method":"\\udfff"}]',
                              headers={"Content-Type": "application/json"})
        assert unknown.status_code == 200 and unknown.json()[0]["error"]["code"] == -32601


def test_estimate_gas_searches_within_the_call_cap(node: NodeProcess) -> None:
    """py-evm's search ran up to the block gas limit, each run burning what it was given:
    minutes of CPU from one 100-byte request. Now: at most the call cap, a few runs."""
    with httpx.Client() as client:
        reply = call(client, node.url, "eth_estimateGas", {"data": BURN_THEN_STOP})
        assert "result" in reply, reply
        assert int(reply["result"], 16) <= RpcLimits().call_gas_cap
        # A call that cannot succeed within the cap says so, as geth does.
        looping = call(client, node.url, "eth_estimateGas", {"data": LOOP})
        assert "gas required exceeds allowance" in looping["error"]["message"]


def test_estimating_a_call_of_half_the_cap_works(node: NodeProcess) -> None:
    """A call that needs ~5M gas (a counted loop): its estimate re-runs it a few times, and
    the search counts once against the request's cap, as its first run."""
    # PUSH3 192000; JUMPDEST; PUSH1 1; SWAP1; SUB; DUP1; PUSH1 4; JUMPI; STOP: 26 gas a turn.
    counted_loop = "0x6202ee00" + "5b600190038060045700"
    with httpx.Client() as client:
        used = call(client, node.url, "eth_estimateGas", {"data": counted_loop})
        assert "result" in used, used
        assert 4_900_000 < int(used["result"], 16) < RpcLimits().call_gas_cap


def test_a_callers_gas_budget_runs_out_and_another_callers_does_not(small: NodeProcess) -> None:
    loops = SMALL.caller_gas_burst // SMALL.call_gas_cap
    with token_client(small) as first, token_client(small) as second, httpx.Client() as anonymous:
        # A caller's bucket holds `loops` full-cap loops; the next one is refused...
        for _ in range(loops):
            assert "out of gas" in call(first, small.url, "eth_call", {"data": LOOP})["error"]["message"].lower()
        refused = call(first, small.url, "eth_call", {"data": LOOP})["error"]
        assert refused["code"] == LIMIT_EXCEEDED and refused["data"]["limit"] == "caller_gas_per_second"
        assert refused["data"]["retryAfter"] > 0
        # ...and in a batch, call by call: the cheap calls in it are answered.
        batch = post(first, small.url, [
            {"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [{"data": LOOP}]},
            {"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber", "params": []},
        ]).json()
        by_id = {r["id"]: r for r in batch}
        assert by_id[1]["error"]["code"] == LIMIT_EXCEEDED and by_id[2]["result"].startswith("0x")
        # Another token, and a client without one, each have a budget of their own.
        one = "0x600160005260206000f3"  # returns the word 1
        assert call(second, small.url, "eth_call", {"data": one})["result"] == "0x" + "00" * 31 + "01"
        assert call(anonymous, small.url, "eth_call", {"data": one})["result"] == "0x" + "00" * 31 + "01"


def test_a_call_that_cannot_start_gives_its_reserved_gas_back(small: NodeProcess) -> None:
    """py-evm refuses init code over EIP-3860's 49,152 bytes before running it: the gas
    reserved for that call must go back to the caller, or a few such calls empty the bucket."""
    too_large = "0x" + "00" * 49_153
    with token_client(small) as client:
        for _ in range(2 * SMALL.caller_gas_burst // SMALL.call_gas_cap):
            refused = call(client, small.url, "eth_call", {"data": too_large})["error"]
            assert refused["code"] != LIMIT_EXCEEDED and "eip-3860" in refused["message"].lower(), refused
        assert "out of gas" in call(client, small.url, "eth_call", {"data": LOOP})["error"]["message"].lower()


def test_a_request_cannot_spend_more_than_the_request_cap(small: NodeProcess) -> None:
    runs = SMALL.request_gas_cap // SMALL.call_gas_cap + 1  # one more full loop than a request may pay for
    with token_client(small) as client:
        batch = post(client, small.url, [
            {"jsonrpc": "2.0", "id": i, "method": "eth_call", "params": [{"data": LOOP}]} for i in range(runs)
        ]).json()
        errors = [r["error"] for r in sorted(batch, key=lambda r: r["id"])]
        assert all("out of gas" in e["message"].lower() for e in errors[:-1]), errors
        assert errors[-1]["code"] == LIMIT_EXCEEDED and errors[-1]["data"]["limit"] == "request_gas_cap"
        # The next request starts a budget of its own (the caller's bucket still has gas).
        assert "out of gas" in call(client, small.url, "eth_call", {"data": LOOP})["error"]["message"].lower()


def test_a_batch_of_log_scans_stops_at_the_request_block_cap(small: NodeProcess) -> None:
    """Scans that match nothing answer little, so the answer cap never stops them: the
    blocks a request's log queries read are counted (SMALL: 10 blocks a request)."""
    with httpx.Client() as client:
        head = int(call(client, small.url, "eth_blockNumber")["result"], 16)
        scan = {"fromBlock": "0x0", "toBlock": hex(head), "topics": ["0x" + "ab" * 32]}
        calls = SMALL.request_block_cap // (head + 1) + 1
        batch = post(client, small.url, [{"jsonrpc": "2.0", "id": i, "method": "eth_getLogs", "params": [scan]}
                                         for i in range(calls)]).json()
    answers = sorted(batch, key=lambda r: r["id"])
    assert all(a.get("result") == [] for a in answers[:-1]), answers[:2]
    assert answers[-1]["error"]["code"] == LIMIT_EXCEEDED and answers[-1]["error"]["data"]["limit"] == "request_block_cap"


def _running_expensive(client: httpx.Client, url: str) -> int:
    text = client.get(url + "/metrics", timeout=TIMEOUT).text
    match = re.search(r"^ledger_rpc_expensive_running (\S+)$", text, re.M)
    return int(float(match.group(1))) if match else 0


def test_cheap_calls_are_answered_while_expensive_ones_run(node: NodeProcess) -> None:
    """Looping eth_calls keep the expensive pool busy; eth_blockNumber and nonces (the
    cheap pool) are answered while they still run, not after them."""
    flood = 3
    results: list[dict[str, Any]] = []

    def loop_call() -> None:
        with httpx.Client() as own:
            results.append(call(own, node.url, "eth_call", {"data": LOOP, "gas": hex(3_000_000)}))

    threads = [threading.Thread(target=loop_call) for _ in range(flood)]
    for thread in threads:
        thread.start()
    try:
        with httpx.Client() as client:
            for _ in range(200):  # bounded poll (~10 s) until a looping call runs
                if _running_expensive(client, node.url) >= 1:
                    break
                time.sleep(0.05)
            assert _running_expensive(client, node.url) >= 1, "the looping calls never ran"
            for _ in range(5):
                assert call(client, node.url, "eth_blockNumber")["result"].startswith("0x")
                assert "result" in call(client, node.url, "eth_getTransactionCount", "0x" + "11" * 20, "latest")
            # The loops (from one client address: one caller, run one at a time) are not done.
            assert len(results) < flood and _running_expensive(client, node.url) >= 1
    finally:
        for thread in threads:
            thread.join(TIMEOUT)
    # Each ran out of its gas (or, late in this module, of its caller's budget).
    assert len(results) == flood and all("error" in r for r in results)


def test_filters_per_caller_and_topics_per_position(small: NodeProcess) -> None:
    too_many_topics = {"topics": [["0x" + f"{i:064x}" for i in range(1001)]]}
    with httpx.Client() as first, httpx.Client() as second:
        reply = call(first, small.url, "eth_newFilter", too_many_topics)
        assert reply["error"]["code"] == INVALID_PARAMS and "more than 1000 topics" in reply["error"]["message"]
        ids = [call(first, small.url, "eth_newBlockFilter")["result"] for _ in range(SMALL.filters_per_caller)]
        refused = call(first, small.url, "eth_newFilter", {})["error"]
        assert refused["code"] == LIMIT_EXCEEDED and refused["data"]["limit"] == "filters_per_caller"
        assert call(second, small.url, "eth_newFilter", {})["result"].startswith("0x")  # its own quota
        assert call(first, small.url, "eth_uninstallFilter", ids[0])["result"] is True
        assert call(first, small.url, "eth_newPendingTransactionFilter")["result"].startswith("0x")


def test_limits_on_the_command_line_are_checked(tmp_path: Path) -> None:
    for bad, says in ((["--rpc-limit", "call_gas_cap"], "NAME=VALUE"),
                      (["--rpc-limit", "no_such_limit=5"], "unknown limit"),
                      (["--rpc-limit", "call_gas_cap=-5"], "whole number"),
                      (["--rpc-limit", "caller_gas_burst=5"], "caller_gas_burst")):  # < call_gas_cap
        proc = subprocess.run([sys.executable, "-m", "client.cli", "node", "start", "--dev", "--data-dir",
                               str(tmp_path / "d"), "--rpc-port", str(free_port()), *bad],
                              capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        assert proc.returncode == 2 and says in proc.stderr, (bad, proc.stderr[-500:])
        assert not (tmp_path / "d").exists()  # refused before anything was written
