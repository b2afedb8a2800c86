"""REST queries, the feed and resumable log subscriptions on a real permissioned node that
requires tokens: what each role may read, what a party sees of others' contracts, a feed
and an eth_subscribe resumed from a cursor, and indexes rebuilt for an old data directory.

(What each role may *write* over JSON-RPC is tests/integration/test_access.py.)
"""
from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plyvel
import pytest
import websockets
from eth_utils import to_checksum_address

from chaincode import CONTRACT_REGISTRY
from client.anchoring import anchor
from client.ledger import Ledger
from node.access.tokens import TokenStore
from node.storage import schema
from tests.files import fingerprint
from tests.integration.nodeproc import NodeProcess, free_port
from tests.integration.permissioned import CHAIN_ID, Network, account_key, address_of, start_network

pytestmark = pytest.mark.slow

MEMBERS = [("admin", "ADMIN"), ("center", "TRADING_CENTER"), ("regulator", "REGULATOR"), ("auditor", "AUDITOR"),
           ("court", "COURT"), ("notary", "NOTARY"), ("party-a", "PARTY"), ("party-b", "PARTY"), ("party-c", "PARTY")]
ROLE_ACCOUNT = {role: name for name, role in MEMBERS if role != "PARTY"} | {"PARTY": "party-a"}
REPO = Path(__file__).resolve().parents[2]
CLI_TIMEOUT_SECONDS = 300


@dataclass
class Desk:
    net: Network
    tokens: dict[str, str]
    contracts: dict[str, str]  # project code -> id (0x)

    def get(self, path: str, role: str | None = None, *, token: str | None = None) -> tuple[int, Any]:
        token = token if token is not None else (self.tokens[role] if role else None)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(self.net.url + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def ok(self, path: str, role: str = "ADMIN") -> Any:
        status, body = self.get(path, role)
        assert status == 200, (path, role, body)
        return body

    def ledger(self, name: str, role: str) -> Ledger:
        return Ledger(self.net.url, account_key(name), token=self.tokens[role])


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    net = start_network(tmp_path_factory.mktemp("rest"), MEMBERS, auth="required")
    try:
        store = TokenStore(net.node.data_dir)
        tokens = {}
        for role, name in ROLE_ACCOUNT.items():
            address = bytes.fromhex(address_of(name)[2:]) if role == "PARTY" else None
            tokens[role], _ = store.issue(role, f"test {role.lower()}", address, 3600)
        d = Desk(net, tokens, {})
        center = d.ledger("center", "TRADING_CENTER")
        a, b, c = (address_of(n) for n in ("party-a", "party-b", "party-c"))
        for code, parties in (("P-1", [a, b]), ("P-2", [b, c]), ("P-3", [a, c])):
            event = center.register_contract(code, hashlib.sha256(code.encode()).digest(), parties).events
            d.contracts[code] = "0x" + event["ContractRegistered"][0]["id"].hex()
        d.ledger("regulator", "REGULATOR").void_contract(bytes.fromhex(d.contracts["P-3"][2:]), b"\x01" * 32)
        court = d.ledger("court", "COURT")
        for n in range(3):
            anchor(court, hashlib.sha256(f"page {n}".encode()).digest(), kind="webpage", case="IP-2026-1")
        center.add_commitment(b"\x02" * 32, "deliver land", 1, "Land Bureau", a, b, int(time.time()) + 3 * 86400)
        yield d
    finally:
        net.node.stop()


ENDPOINTS = {
    "summary": "/v1/summary",
    "contracts": "/v1/contracts",
    "contract P-2": "/v1/contracts/{P-2}",
    "evidence": "/v1/evidence?case=IP-2026-1",
    "commitments": "/v1/commitments",
    "report": "/v1/commitments/report",
    "regulator feed": "/v1/events?role=regulator",
    "evidence feed": "/v1/events?topics=evidence",
    "member": "/v1/members/{center}",
    "contract P-2 events": "/v1/contracts/{P-2}/events",
    "evidence by digest": "/v1/evidence/{page 0}",
    "commitment": "/v1/commitments/1",
    "commitment events": "/v1/commitments/1/events",
}
COMMITMENT_ROUTES = {"commitments", "report", "commitment", "commitment events"}
DENIED = {
    "ADMIN": set(),
    "TRADING_CENTER": set(),
    "COURT": set(),
    "AUDITOR": set(),
    "NOTARY": COMMITMENT_ROUTES | {"regulator feed"},
    "REGULATOR": {"evidence", "evidence feed", "evidence by digest"},
    "PARTY": COMMITMENT_ROUTES | {"contract P-2", "contract P-2 events", "evidence", "evidence by digest",
                                  "regulator feed", "evidence feed"},
}


def endpoint(desk: Desk, name: str) -> str:
    page0 = "0x" + hashlib.sha256(b"page 0").hexdigest()
    return (ENDPOINTS[name].replace("{P-2}", desk.contracts["P-2"]).replace("{center}", address_of("center"))
            .replace("{page 0}", page0))


@pytest.mark.parametrize("role", sorted(DENIED))
def test_each_role_reads_what_it_may_and_nothing_else(desk: Desk, role: str) -> None:
    for name in ENDPOINTS:
        status, body = desk.get(endpoint(desk, name), role)
        expected = 403 if name in DENIED[role] else 200
        assert status == expected, (role, name, body)
        if status == 403:
            assert role in body["error"], body


def test_no_token_or_a_bad_one_is_401(desk: Desk) -> None:
    forged = desk.tokens["AUDITOR"][:-4] + ("AAAA" if not desk.tokens["AUDITOR"].endswith("AAAA") else "BBBB")
    for name in ENDPOINTS:
        assert desk.get(endpoint(desk, name))[0] == 401, name
        assert desk.get(endpoint(desk, name), token=forged)[0] == 401, name
    # the OpenAPI document stays open and lists the routes
    with urllib.request.urlopen(desk.net.url + "/openapi.json", timeout=30) as response:
        paths = json.loads(response.read())["paths"]
    assert {"/v1/contracts", "/v1/evidence", "/v1/commitments/report", "/v1/feed", "/v1/events"} <= set(paths)


def test_a_party_sees_only_its_own_contracts(desk: Desk) -> None:
    listed = desk.ok("/v1/contracts", "PARTY")["items"]
    assert sorted(c["projectCode"] for c in listed) == ["P-1", "P-3"]
    assert desk.ok(f"/v1/contracts/{desk.contracts['P-1']}", "PARTY")["status"] == "Pending"
    assert desk.get(f"/v1/contracts?party={address_of('party-b')}", "PARTY")[0] == 403
    assert desk.get("/v1/contracts?status=Pending", "PARTY")[0] == 403
    events = desk.ok("/v1/events?topics=contracts", "PARTY")["items"]
    assert {e["args"]["projectCode"] for e in events} == {"P-1", "P-3"}
    # everyone who reads contracts sees all three
    assert len(desk.ok("/v1/contracts", "REGULATOR")["items"]) == 3


def test_queries_answer_from_the_indexes(desk: Desk) -> None:
    summary = desk.ok("/v1/summary", "AUDITOR")
    assert summary["indexedHeight"] == summary["height"]
    counts = summary["counts"]
    assert counts["members"] == len(MEMBERS)  # genesis members are indexed too
    assert (counts["contracts"]["total"], counts["contracts"]["Voided"], counts["evidence"]) == (3, 1, 3)
    assert [c["projectCode"] for c in desk.ok("/v1/contracts?status=Voided")["items"]] == ["P-3"]
    voided = desk.ok(f"/v1/contracts/{desk.contracts['P-3']}")["voided"]
    assert voided["byRegulator"] is True and voided["by"] == to_checksum_address(address_of("regulator"))
    page1 = desk.ok("/v1/evidence?kind=webpage&limit=2")
    page2 = desk.ok(f"/v1/evidence?kind=webpage&limit=2&after={page1['next']}")
    assert len(page1["items"]) == 2 and len(page2["items"]) == 1 and page2["next"] is None
    newest = desk.ok("/v1/evidence?kind=webpage&limit=1&order=desc")["items"][0]
    assert newest == page2["items"][0]
    (commitment,) = desk.ok("/v1/commitments?unit=Land%20Bureau")["items"]
    assert (commitment["status"], commitment["raised"]) == ("reminder", "on track")
    assert desk.ok("/v1/commitments?status=reminder")["items"] == [commitment]
    assert desk.ok("/v1/commitments?status=on-track")["items"] == []
    for bad in ("/v1/contracts?status=Signed", "/v1/contracts?project=P-1&status=Pending", "/v1/evidence?digest=0x12",
                "/v1/contracts?after=zz", "/v1/contracts?limit=5000", "/v1/events?since=yesterday",
                "/v1/events?since=%C2%B2-1", "/v1/contracts?since=%C2%B2", "/v1/contracts?until=" + "9" * 5000,
                "/v1/commitments/abc", "/v1/contracts?order=up"):
        status, body = desk.get(bad, "ADMIN")
        assert status == 400 and body["error"], (bad, status, body)
    assert desk.get("/v1/contracts/0x" + "00" * 32, "ADMIN")[0] == 404


def read_sse(url: str, path: str, token: str, count: int, headers: dict[str, str] | None = None,
             deadline: float = 30.0) -> list[tuple[str, str, dict[str, Any]]]:
    """The first `count` events of an SSE stream as (id, event, data)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=deadline)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}", **(headers or {})})
        response = connection.getresponse()
        assert response.status == 200, response.read()
        assert response.getheader("content-type", "").startswith("text/event-stream")
        events: list[tuple[str, str, dict[str, Any]]] = []
        fields: dict[str, str] = {}
        while len(events) < count:
            line = response.readline().decode().rstrip("\r\n")
            if line == "":
                if "data" in fields:
                    events.append((fields["id"], fields["event"], json.loads(fields["data"])))
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value
        return events
    finally:
        connection.close()


def test_the_feed_resumes_after_a_cursor_with_nothing_missed_or_repeated(desk: Desk) -> None:
    token = desk.tokens["REGULATOR"]
    every = desk.ok("/v1/events?role=regulator", "REGULATOR")["items"]
    assert {e["topic"] for e in every} == {"contracts", "commitments"} and len(every) >= 5
    first = read_sse(desk.net.url, "/v1/feed?role=regulator", token, 2)
    assert [i for i, _, _ in first] == [e["cursor"] for e in every[:2]]
    assert first[0][2] == every[0] and first[0][1] == every[0]["event"]
    # resume after the second: by ?since= and by the EventSource header
    rest = read_sse(desk.net.url, f"/v1/feed?role=regulator&since={first[-1][0]}", token, len(every) - 2)
    assert [e for _, _, e in rest] == every[2:]
    again = read_sse(desk.net.url, "/v1/feed?role=regulator", token, len(every) - 2,
                     headers={"Last-Event-ID": first[-1][0]})
    assert [e for _, _, e in again] == every[2:]
    # live: a stream waiting at the head gets the next block's event
    center = desk.ledger("center", "TRADING_CENTER")
    result: list[Any] = []

    async def wait_live() -> None:
        result.extend(await asyncio.to_thread(
            read_sse, desk.net.url, f"/v1/feed?topics=contracts&since={every[-1]['cursor']}", token, 1))

    def streams_open() -> str:
        with urllib.request.urlopen(desk.net.url + "/metrics", timeout=30) as response:
            return response.read().decode()

    async def both() -> None:
        waiter = asyncio.create_task(wait_live())
        deadline = time.monotonic() + 30  # the stream is open (and past its catch-up) before the block exists
        while "ledger_feed_streams 1.0" not in await asyncio.to_thread(streams_open):
            assert time.monotonic() < deadline, "the feed stream never opened"
            await asyncio.sleep(0.05)
        await asyncio.to_thread(center.register_contract, "P-live", b"\x05" * 32,
                                [address_of("party-a"), address_of("party-b")])
        await asyncio.wait_for(waiter, 30)

    asyncio.run(both())
    assert result[0][1] == "ContractRegistered" and result[0][2]["args"]["projectCode"] == "P-live"
    # a regulator may not follow evidence
    assert desk.get("/v1/events?topics=evidence", "REGULATOR")[0] == 403


def test_the_feed_stream_is_held_to_the_token_role(desk: Desk) -> None:
    def status(path: str, role: str | None) -> int:
        host, port = desk.net.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            headers = {"Authorization": f"Bearer {desk.tokens[role]}"} if role else {}
            connection.request("GET", path, headers=headers)
            return connection.getresponse().status
        finally:
            connection.close()

    assert status("/v1/feed?role=regulator", None) == 401
    assert status("/v1/feed?topics=evidence", "REGULATOR") == 403
    assert status("/v1/feed?role=regulator", "PARTY") == 403  # commitments are not a party's to read
    # a party's stream carries only its own contracts' events (P-1 and P-3: registered, P-3 voided)
    own = [e for e in desk.ok("/v1/events?topics=contracts")["items"]
           if address_of("party-a").lower() in {p.lower() for p in e["args"].get("parties", [])}
           or e["args"]["id"] == desk.contracts["P-3"]]
    streamed = read_sse(desk.net.url, "/v1/feed?topics=contracts", desk.tokens["PARTY"], len(own))
    assert [e for _, _, e in streamed] == own
    assert {e["args"]["projectCode"] for _, _, e in streamed} <= {"P-1", "P-3", "P-live"}


def test_a_revoked_token_ends_its_open_stream(desk: Desk) -> None:
    store = TokenStore(desk.net.node.data_dir)
    token, claims = store.issue("REGULATOR", "soon revoked", None, 3600)
    host, port = desk.net.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        head = desk.ok("/v1/events?topics=contracts&limit=1000")["items"][-1]["cursor"]
        connection.request("GET", f"/v1/feed?topics=contracts&since={head}", headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        assert response.status == 200 and response.readline().startswith(b"retry:")
        store.revoke(claims.token_id)
        # a block wakes the stream; it checks its token and ends, without that block's event
        desk.ledger("center", "TRADING_CENTER").register_contract(
            "P-after-revoke", b"\x07" * 32, [address_of("party-a"), address_of("party-b")])
        rest = response.read().decode()  # returns at the end of the stream (or times out)
    finally:
        connection.close()
    assert "revoked" in rest and "P-after-revoke" not in rest, rest


def test_eth_subscribe_logs_resumes_from_a_cursor(desk: Desk) -> None:
    admin = desk.tokens["ADMIN"]
    registry = to_checksum_address(CONTRACT_REGISTRY)
    logs = desk.ledger("admin", "ADMIN").rpc("eth_getLogs", [{"address": registry, "fromBlock": "0x0"}])
    assert len(logs) >= 4
    cursor = f"{int(logs[1]['blockNumber'], 16)}-{int(logs[1]['logIndex'], 16)}"
    center = desk.ledger("center", "TRADING_CENTER")

    async def run() -> list[dict[str, Any]]:
        async with websockets.connect(desk.net.url.replace("http", "ws") + "/ws",
                                      additional_headers={"Authorization": f"Bearer {admin}"}) as ws:
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe",
                                      "params": ["logs", {"address": registry, "since": cursor}]}))
            reply = json.loads(await ws.recv())
            assert "result" in reply, reply
            received = []
            for _ in range(len(logs) - 2):
                received.append(json.loads(await asyncio.wait_for(ws.recv(), 30))["params"]["result"])
            # then live: the next registration arrives after the replay
            await asyncio.to_thread(center.register_contract, "P-ws", b"\x06" * 32,
                                    [address_of("party-b"), address_of("party-c")])
            received.append(json.loads(await asyncio.wait_for(ws.recv(), 30))["params"]["result"])
            # a cursor that is not one is refused with a reason
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "eth_subscribe",
                                      "params": ["logs", {"since": "12"}]}))
            refused = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert refused["error"]["code"] == -32602 and "HEIGHT-LOGINDEX" in refused["error"]["message"]
            return received

    received = asyncio.run(run())
    assert [(r["blockNumber"], r["logIndex"]) for r in received[:-1]] == [
        (log["blockNumber"], log["logIndex"]) for log in logs[2:]]
    assert int(received[-1]["blockNumber"], 16) > int(logs[-1]["blockNumber"], 16)


def test_events_pages_follow_next_to_the_end(desk: Desk) -> None:
    """docs/rest.md: pass `next` back as `after`; null on the last page. Small pages, followed
    from the first, give every event once, in order, and end."""
    every = desk.ok("/v1/events?limit=1000")
    assert every["next"] is None and len(every["items"]) > 6
    collected: list[dict[str, Any]] = []
    page = desk.ok("/v1/events?limit=3")
    for _ in range(len(every["items"])):  # bounded: one page more than there are events is a loop
        collected += page["items"]
        if page["next"] is None:
            break
        assert page["next"] == page["items"][-1]["cursor"]
        page = desk.ok(f"/v1/events?limit=3&after={page['next']}")
    else:
        raise AssertionError(f"still a next page after {len(collected)} events: {page['next']}")
    assert collected == every["items"]
    # a page that ends exactly at the last event says so; after it, an empty last page
    last = every["items"][-1]["cursor"]
    assert desk.ok(f"/v1/events?after={every['items'][-2]['cursor']}&limit=1") == {"items": [every["items"][-1]],
                                                                                   "next": None}
    assert desk.ok(f"/v1/events?after={last}") == {"items": [], "next": None}
    assert desk.get("/v1/events?after=zz", "ADMIN")[0] == 400
    assert desk.get(f"/v1/events?after={last}&since={last}", "ADMIN")[0] == 400


def ledger_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "client.cli", *args], check=False, cwd=REPO, capture_output=True,
                          text=True,
                          timeout=CLI_TIMEOUT_SECONDS)


def test_chain_verify_reads_the_stopped_nodes_directory_and_checks_its_indexes(desk: Desk, tmp_path: Path) -> None:
    """`ledger chain verify --data-dir` leaves the directory as it was, and a contract's
    record changed in a copy - what /v1/contracts would serve - is INVALID, named. (Stops
    the module's node and starts it again.)"""
    data_dir = desk.net.node.data_dir
    record_key = schema.CONTRACT + bytes.fromhex(desk.contracts["P-2"][2:])
    desk.net.node.stop()
    try:
        before = fingerprint(data_dir)
        result = ledger_cli("chain", "verify", "--data-dir", str(data_dir), "--reexecute", "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        document = json.loads(result.stdout)
        assert document["valid"] and document["reexecuted"] and document["indexesChecked"], document
        assert fingerprint(data_dir) == before

        copy = tmp_path / "copy"
        shutil.copytree(data_dir, copy)
        db = plyvel.DB(str(copy / "chain"))
        try:
            record = db.get(record_key)
            assert b'"status":"Pending"' in record
            db.put(record_key, record.replace(b'"status":"Pending"', b'"status":"Effective"'), sync=True)
        finally:
            db.close()
        # a node started on the changed copy serves the changed record as the chain's word ...
        forged = NodeProcess(copy, free_port(), dev=False, chain_id=CHAIN_ID, auth="required").start()
        try:
            request = urllib.request.Request(f"{forged.url}/v1/contracts/{desk.contracts['P-2']}",
                                             headers={"Authorization": f"Bearer {desk.tokens['AUDITOR']}"})
            with urllib.request.urlopen(request, timeout=30) as response:
                assert json.loads(response.read())["status"] == "Effective"
        finally:
            assert forged.stop() == 0
        # ... and the verifier, which re-executes every block to the same roots, says INVALID
        result = ledger_cli("chain", "verify", "--data-dir", str(copy), "--reexecute")
        assert result.returncode == 1, result.stdout + result.stderr
        assert f": event indexes: contract record 0x{record_key.hex()} changed" in result.stdout, result.stdout
        assert '"status":"Effective"' in result.stdout
    finally:
        desk.net.node.start()


def test_an_old_data_directory_is_indexed_when_the_node_opens_it(desk: Desk) -> None:
    """A data directory from before the indexes: every index key gone. The node indexes
    the stored blocks forward when it starts and answers as before. (Runs last: it
    restarts the module's node.)"""
    before = {path: desk.ok(path) for path in ("/v1/summary", "/v1/contracts", "/v1/evidence?case=IP-2026-1",
                                               "/v1/commitments/report", "/v1/events?limit=1000")}
    desk.net.node.stop()
    db = plyvel.DB(str(desk.net.node.data_dir / "chain"))
    try:
        doomed = [key for key, _ in db.iterator(prefix=b"x")] + [schema.INDEX_HEIGHT_KEY]
        assert len(doomed) > 50
        with db.write_batch() as batch:
            for key in doomed:
                batch.delete(key)
        assert db.get(schema.INDEX_HEIGHT_KEY) is None
    finally:
        db.close()
    desk.net.node.start()
    assert "indexed the events of" in desk.net.node.log_text()
    for path, answer in before.items():
        after = desk.ok(path)
        for volatile in ("height", "head", "indexedHeight", "at"):  # the node may have sealed a block since
            answer.pop(volatile, None), after.pop(volatile, None)
        assert after == answer, path
