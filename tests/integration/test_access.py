"""Role tokens on a real node (node/access/http.py, docs/access.md): a permissioned node started
with `--auth required`, one token per role issued by the real `ledger token issue`, and for
each role what it may and may not do over HTTP, WebSocket and /v1/blobs — plus revocation
by `ledger token revoke`, the CLI's exit codes, and a --dev node on loopback where
anonymous writes work but a presented token still holds its bearer to its role."""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from eth_account import Account

from node.access.roles import ROLE_PERMISSIONS
from node.api import UNAUTHORIZED
from node.rpc.limits import RpcLimits
from tests.integration.nodeproc import NodeProcess, free_port
from tests.integration.permissioned import Network, account_key, address_of, start_network

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CHAIN_ID = 4242  # tests.integration.permissioned.CHAIN_ID
TIMEOUT = 30.0
SINK = "0x" + "44" * 20
# Account name and on-chain role of each member; the token of each role is issued for it.
MEMBERS = [("admin", "ADMIN"), ("center", "TRADING_CENTER"), ("party", "PARTY"), ("regulator", "REGULATOR"),
           ("court", "COURT"), ("notary", "NOTARY"), ("auditor", "AUDITOR")]


def ledger_cli(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LEDGER_TOKEN", "LEDGER_TOKEN_FILE")}
    if token is not None:
        env["LEDGER_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "client.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=env)


def issue_tokens(data_dir: Path, requests: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """`ledger token issue --json` for each (name -> extra args), run concurrently."""
    procs = {
        name: subprocess.Popen([sys.executable, "-m", "client.cli", "token", "issue", "--data-dir", str(data_dir),
                                "--json", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        for name, args in requests.items()
    }
    issued = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"token issue {name}: {err}"
        issued[name] = json.loads(out)
    return issued


@dataclass
class Node:
    url: str
    ws_url: str
    data_dir: Path
    tokens: dict[str, str]  # role -> token
    issued: dict[str, dict[str, Any]]

    def post(self, body: Any, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(self.url, json=body, headers=headers, timeout=TIMEOUT)

    def call(self, method: str, params: list[Any], token: str | None = None) -> dict[str, Any]:
        """One call's JSON-RPC response (HTTP 200 asserted)."""
        reply = self.post({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, token)
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    def result(self, method: str, params: list[Any], token: str | None) -> Any:
        reply = self.call(method, params, token)
        assert "error" not in reply, f"{method}: {reply['error']}"
        return reply["result"]

    def receipt(self, tx_hash: str, token: str) -> dict[str, Any]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = self.result("eth_getTransactionReceipt", [tx_hash], token)
            if found is not None:
                return dict(found)
            time.sleep(0.2)
        raise AssertionError(f"no receipt for {tx_hash} within 60 s")


def assert_refused(reply: dict[str, Any], role: str, method: str) -> None:
    assert reply.get("error", {}).get("code") == UNAUTHORIZED, reply
    assert f"Unauthorized: role {role} may not call {method}" in reply["error"]["message"], reply


def assert_401(reply: httpx.Response) -> None:
    assert reply.status_code == 401, reply.text
    error = reply.json()["error"]
    assert error["code"] == UNAUTHORIZED and error["message"].startswith("Unauthorized: "), error


def signed_transfer(name: str, nonce: int) -> str:
    tx = Account.from_key(account_key(name)).sign_transaction({
        "to": SINK, "value": 0, "gas": 21_000, "gasPrice": 0, "nonce": nonce, "chainId": CHAIN_ID})
    return "0x" + tx.raw_transaction.hex()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    net: Network = start_network(tmp_path_factory.mktemp("access"), MEMBERS, auth="required")
    try:
        data_dir = net.node.data_dir
        requests = {role: ["--role", role.lower().replace("_", "-"), "--subject", f"{role} office"]
                    for _, role in MEMBERS}
        requests["PARTY"] += ["--address", address_of("party")]
        issued = issue_tokens(data_dir, requests)
        yield Node(net.url, net.node.ws_url, data_dir, {r: doc["token"] for r, doc in issued.items()}, issued)
    finally:
        net.node.stop()


# -- without a token ---------------------------------------------------------------------------


def test_public_calls_need_no_token_and_health_says_required(node: Node) -> None:
    assert node.result("eth_chainId", [], None) == hex(CHAIN_ID)
    batch = node.post([{"jsonrpc": "2.0", "id": i, "method": m, "params": []}
                       for i, m in enumerate(["eth_chainId", "eth_blockNumber", "net_version", "web3_clientVersion"])])
    assert batch.status_code == 200 and all("result" in r for r in batch.json())
    assert httpx.get(node.url + "/healthz", timeout=TIMEOUT).json()["auth"] == "required"
    assert httpx.get(node.url + "/metrics", timeout=TIMEOUT).status_code == 200
    assert httpx.get(node.url + "/openapi.json", timeout=TIMEOUT).status_code == 200


def test_no_token_is_401_for_reads_and_writes(node: Node) -> None:
    assert_401(node.post({"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": [SINK]}))
    assert_401(node.post({"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [{}]}))
    assert_401(node.post({"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction",
                          "params": [signed_transfer("center", 0)]}))
    # One non-public call makes the whole batch need a token.
    assert_401(node.post([{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                          {"jsonrpc": "2.0", "id": 2, "method": "eth_getCode", "params": [SINK]}]))
    # A presented token that does not verify is 401 even for a public call.
    reply = node.post({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, "not.a.token")
    assert_401(reply)
    assert "malformed token" in reply.json()["error"]["message"]
    metrics = httpx.get(node.url + "/metrics", timeout=TIMEOUT).text
    assert 'ledger_rpc_errors_total{code="-40100"}' in metrics


# -- per role ----------------------------------------------------------------------------------


def test_every_role_may_do_exactly_its_rpc_groups(node: Node) -> None:
    """A read of each group and the validator vote, for each role's token."""
    probes: dict[str, tuple[str, list[Any]]] = {
        "rpc:send": ("eth_getBalance", [SINK, "latest"]),
        "rpc:read": ("eth_getBlockByHash", ["0x" + "00" * 32, False]),
        "rpc:admin": ("qbft_discardValidatorVote", [SINK]),
    }
    for role, token in node.tokens.items():
        for permission, (method, params) in probes.items():
            reply = node.call(method, params, token)
            allowed = permission in ROLE_PERMISSIONS[role] or (permission == "rpc:send" and
                                                               "rpc:read" in ROLE_PERMISSIONS[role])
            if allowed:
                assert "error" not in reply, (role, method, reply)
            else:
                assert_refused(reply, role, method)


def test_send_raw_transaction_auditor_refused_trading_center_accepted(node: Node) -> None:
    raw = signed_transfer("center", 0)
    assert_refused(node.call("eth_sendRawTransaction", [raw], node.tokens["AUDITOR"]), "AUDITOR",
                   "eth_sendRawTransaction")
    tx_hash = node.result("eth_sendRawTransaction", [raw], node.tokens["TRADING_CENTER"])
    assert int(node.receipt(tx_hash, node.tokens["TRADING_CENTER"])["status"], 16) == 1


def test_get_logs_refused_for_regulator_and_party_allowed_for_auditor_and_court(node: Node) -> None:
    query = [{"fromBlock": "0x0", "toBlock": "latest"}]
    for role in ("REGULATOR", "PARTY"):
        assert_refused(node.call("eth_getLogs", query, node.tokens[role]), role, "eth_getLogs")
    for role in ("AUDITOR", "COURT"):
        assert isinstance(node.result("eth_getLogs", query, node.tokens[role]), list)


def test_a_batch_answers_each_call_by_itself(node: Node) -> None:
    batch = node.post([
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_getLogs", "params": [{}]},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_getBalance", "params": [SINK, "latest"]},
    ], node.tokens["REGULATOR"])
    assert batch.status_code == 200
    replies = {r["id"]: r for r in batch.json()}
    assert replies[1]["result"] == hex(CHAIN_ID) and replies[3]["result"] == "0x0"
    assert_refused(replies[2], "REGULATOR", "eth_getLogs")


def test_address_bound_token_sends_and_reads_only_its_own(node: Node) -> None:
    party = node.tokens["PARTY"]
    assert node.issued["PARTY"]["address"] == address_of("party")
    center_nonce = int(node.result("eth_getTransactionCount", [address_of("center"), "pending"], party), 16)
    reply = node.call("eth_sendRawTransaction", [signed_transfer("center", center_nonce)], party)
    assert_refused(reply, "PARTY", "eth_sendRawTransaction")
    assert address_of("center")[2:].lower() in reply["error"]["message"]
    own = node.result("eth_sendRawTransaction", [signed_transfer("party", 0)], party)
    assert int(node.receipt(own, party)["status"], 16) == 1
    assert node.result("eth_getTransactionByHash", [own], party)["from"].lower() == address_of("party").lower()
    # Someone else's transaction: reading it needs rpc:read.
    other = node.result("eth_sendRawTransaction", [signed_transfer("center", center_nonce)],
                        node.tokens["TRADING_CENTER"])
    node.receipt(other, node.tokens["TRADING_CENTER"])
    for method in ("eth_getTransactionReceipt", "eth_getTransactionByHash"):
        assert_refused(node.call(method, [other], party), "PARTY", method)
    # A full block lists every sender's calldata: rpc:read too.
    assert_refused(node.call("eth_getBlockByNumber", ["latest", True], party), "PARTY", "eth_getBlockByNumber")
    assert node.result("eth_getBlockByNumber", ["latest", False], party)["number"].startswith("0x")


def test_validator_votes_only_for_admin(node: Node) -> None:
    candidate = "0x" + "55" * 20
    for role, token in node.tokens.items():
        if role == "ADMIN":
            continue
        assert_refused(node.call("qbft_proposeValidatorVote", [candidate, True], token), role,
                       "qbft_proposeValidatorVote")
    admin = node.tokens["ADMIN"]
    assert node.result("qbft_proposeValidatorVote", [candidate, True], admin) is True
    assert node.result("qbft_getPendingVotes", [], admin) == {candidate: True}
    assert node.result("qbft_discardValidatorVote", [candidate], admin) is True
    assert node.result("qbft_getPendingVotes", [], admin) == {}


def test_blobs_by_role(node: Node) -> None:
    data = b"sealed envelope for the access test"
    name = hashlib.sha256(data).hexdigest()

    def put(role: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {node.tokens[role]}"} if role else {}
        return httpx.put(node.url + "/v1/blobs", content=data, headers=headers, timeout=TIMEOUT)

    def get(role: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {node.tokens[role]}"} if role else {}
        return httpx.get(f"{node.url}/v1/blobs/{name}", headers=headers, timeout=TIMEOUT)

    assert put(None).status_code == 401
    for role in ("AUDITOR", "REGULATOR", "PARTY"):
        assert put(role).status_code == 403, role
    assert put("TRADING_CENTER").status_code == 201
    assert get(None).status_code == 401
    assert get("REGULATOR").status_code == 403
    for role in ("AUDITOR", "PARTY", "COURT", "NOTARY"):
        reply = get(role)
        assert reply.status_code == 200 and reply.content == data, role


def test_revoked_token_is_401_after_ledger_token_revoke(node: Node) -> None:
    fresh = issue_tokens(node.data_dir, {"court": ["--role", "court", "--subject", "clerk's laptop"]})["court"]
    assert node.result("eth_getLogs", [{}], fresh["token"]) == []
    revoked = ledger_cli("token", "revoke", "--data-dir", str(node.data_dir), fresh["jti"])
    assert revoked.returncode == 0, revoked.stderr
    assert_401(node.post({"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [{}]}, fresh["token"]))
    listed = ledger_cli("token", "list", "--data-dir", str(node.data_dir), "--json")
    rows = {row["jti"]: row for row in json.loads(listed.stdout)["tokens"]}
    assert rows[fresh["jti"]]["revoked"] is True and rows[node.issued["COURT"]["jti"]]["revoked"] is False
    assert "token" not in json.dumps(rows).replace('"tokens"', "")  # records, never the tokens
    unknown = ledger_cli("token", "revoke", "--data-dir", str(node.data_dir), "f" * 32)
    assert unknown.returncode == 2 and "no token" in unknown.stderr
    # The other tokens are untouched.
    assert node.result("eth_getLogs", [{}], node.tokens["COURT"]) == []


def test_websocket_needs_a_token_and_holds_it_to_its_role(node: Node) -> None:
    async def scenario() -> None:
        async with websockets.connect(node.ws_url, open_timeout=TIMEOUT) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
            assert "Unauthorized" in closed.value.rcvd.reason
        regulator = {"Authorization": f"Bearer {node.tokens['REGULATOR']}"}
        async with websockets.connect(node.ws_url, additional_headers=regulator, open_timeout=TIMEOUT) as ws:
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["logs", {}]}))
            assert_refused(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)), "REGULATOR", "eth_subscribe")
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "eth_subscribe", "params": ["newHeads"]}))
            assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["result"].startswith("0x")
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "eth_getLogs", "params": [{}]}))
            assert_refused(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)), "REGULATOR", "eth_getLogs")
        # Browsers cannot set headers on a WebSocket: ?token= works too.
        async with websockets.connect(f"{node.ws_url}?token={node.tokens['AUDITOR']}", open_timeout=TIMEOUT) as ws:
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["logs", {}]}))
            assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["result"].startswith("0x")

    asyncio.run(scenario())


def test_a_revoked_token_loses_its_open_websocket(node: Node) -> None:
    """The token is checked at the handshake and again while the socket is open: revoking
    it ends the connection (and its subscriptions) within TOKEN_RECHECK_SECONDS."""
    fresh = issue_tokens(node.data_dir, {"court": ["--role", "court", "--subject", "court WebSocket"]})["court"]

    async def scenario() -> None:
        headers = {"Authorization": f"Bearer {fresh['token']}"}
        async with websockets.connect(node.ws_url, additional_headers=headers, open_timeout=TIMEOUT) as ws:
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}))
            assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["result"].startswith("0x")
            revoked = await asyncio.to_thread(
                ledger_cli, "token", "revoke", "--data-dir", str(node.data_dir), fresh["jti"])
            assert revoked.returncode == 0, revoked.stderr
            with pytest.raises(websockets.ConnectionClosed) as closed:
                for _ in range(100):  # newHeads keep coming until the node closes the socket
                    await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
            assert "revoked" in closed.value.rcvd.reason

    asyncio.run(scenario())


def test_one_token_may_hold_only_so_many_websockets(node: Node) -> None:
    allowed = RpcLimits().websockets_per_caller
    auditor = {"Authorization": f"Bearer {node.tokens['AUDITOR']}"}
    court = {"Authorization": f"Bearer {node.tokens['COURT']}"}

    async def scenario() -> None:
        sockets = [await websockets.connect(node.ws_url, additional_headers=auditor, open_timeout=TIMEOUT)
                   for _ in range(allowed)]
        try:
            async with websockets.connect(node.ws_url, additional_headers=auditor, open_timeout=TIMEOUT) as extra:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(extra.recv(), TIMEOUT)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
                assert "websockets_per_caller" in closed.value.rcvd.reason
            # Another token is not affected, and the first token's open sockets still work.
            async with websockets.connect(node.ws_url, additional_headers=court, open_timeout=TIMEOUT) as other:
                await other.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}))
                assert json.loads(await asyncio.wait_for(other.recv(), TIMEOUT))["result"].startswith("0x")
            await sockets[0].send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "eth_chainId", "params": []}))
            assert json.loads(await asyncio.wait_for(sockets[0].recv(), TIMEOUT))["result"] == hex(CHAIN_ID)
        finally:
            for ws in sockets:
                await ws.close()
        # Closed sockets are given back: the token may open one again.
        async with websockets.connect(node.ws_url, additional_headers=auditor, open_timeout=TIMEOUT) as again:
            await again.send(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "eth_chainId", "params": []}))
            assert json.loads(await asyncio.wait_for(again.recv(), TIMEOUT))["result"] == hex(CHAIN_ID)

    asyncio.run(scenario())


def test_cli_sends_ledger_token_and_explains_refusals(node: Node) -> None:
    verify = ["chain", "verify", "--rpc", node.url, "--workers", "1"]
    missing = ledger_cli(*verify)
    assert missing.returncode == 2 and "LEDGER_TOKEN" in missing.stderr, missing.stderr
    refused = ledger_cli(*verify, token=node.tokens["REGULATOR"])
    assert refused.returncode == 2 and "rpc:read" in refused.stderr, refused.stderr
    assert ledger_cli(*verify, token=node.tokens["AUDITOR"]).returncode == 0
    # SDK commands: no token is one line and exit 2, as is a role that may not read the logs.
    member = ["member", "show", address_of("center"), "--rpc", node.url]
    no_token = ledger_cli(*member)
    assert no_token.returncode == 2 and no_token.stderr.count("\n") == 1 and "LEDGER_TOKEN" in no_token.stderr
    shown = ledger_cli(*member, "--json", token=node.tokens["REGULATOR"])
    assert shown.returncode == 0, shown.stderr


# -- a --dev node on loopback --------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    node = NodeProcess(tmp_path_factory.mktemp("access-dev") / "data", free_port()).start()
    try:
        yield node
    finally:
        node.stop()


def test_dev_node_on_loopback_is_open_but_a_presented_token_still_applies(dev_node: NodeProcess) -> None:
    assert httpx.get(dev_node.url + "/healthz", timeout=TIMEOUT).json()["auth"] == "off"
    dev = Account.from_key(dev_node.dev_key)

    def transfer(nonce: int) -> str:
        tx = dev.sign_transaction({"to": SINK, "value": 1, "gas": 21_000, "gasPrice": 0, "nonce": nonce,
                                   "chainId": dev_node.chain_id})
        return "0x" + tx.raw_transaction.hex()

    def call(method: str, params: list[Any], token: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        reply = httpx.post(dev_node.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
                           headers=headers, timeout=TIMEOUT)
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    assert "result" in call("eth_sendRawTransaction", [transfer(0)])  # anonymous: the dev ADMIN
    auditor = issue_tokens(dev_node.data_dir, {"a": ["--role", "auditor"]})["a"]["token"]
    assert_refused(call("eth_sendRawTransaction", [transfer(1)], auditor), "AUDITOR", "eth_sendRawTransaction")
    assert "result" in call("eth_getLogs", [{}], auditor)
    bad = httpx.post(dev_node.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                     headers={"Authorization": "Bearer expired.or.forged"}, timeout=TIMEOUT)
    assert bad.status_code == 401
