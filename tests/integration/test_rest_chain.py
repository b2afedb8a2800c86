"""The chain routes (node/rpc/rest/chain.py) on a real permissioned node that requires
tokens: blocks paged backwards, a block, a transaction with its decoded events (and what
each role may see of them), validators with their organisations, members and CA roots,
and the node verifying its own chain in the background - one run at a time, its result
kept across a restart."""
from __future__ import annotations

import hashlib
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from eth_utils import to_checksum_address

from client.anchoring import anchor
from client.ledger import Ledger
from tests import pki
from tests.integration.permissioned import Network, account_key, address_of, issue_tokens, start_network

pytestmark = pytest.mark.slow

MEMBERS = [("admin", "ADMIN"), ("center", "TRADING_CENTER"), ("regulator", "REGULATOR"), ("auditor", "AUDITOR"),
           ("court", "COURT"), ("party-a", "PARTY"), ("party-b", "PARTY"), ("party-c", "PARTY")]
VALIDATOR_ORGANISATION = "Alpha Public Resource Trading Center"
DEADLINE_SECONDS = 60.0


@dataclass
class Desk:
    net: Network
    tokens: dict[str, str]
    txs: dict[str, str]  # name -> transaction hash (0x)
    blocks: dict[str, int]  # name -> the block it is in
    genesis_ca: pki.CA
    added_ca: pki.CA

    def call(self, method: str, path: str, role: str | None = "AUDITOR", body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        request = urllib.request.Request(self.net.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def get(self, path: str, role: str | None = "AUDITOR") -> tuple[int, Any]:
        return self.call("GET", path, role)

    def ok(self, path: str, role: str = "AUDITOR") -> Any:
        status, body = self.get(path, role)
        assert status == 200, (path, role, status, body)
        return body


def build_chain_desk(base: Path) -> Desk:
    """A permissioned node requiring tokens, a token per role, and a chain with a member
    registered by certificate (the validator's account), a root trusted by proposal, two
    contracts and an anchoring. The caller stops `desk.net.node`."""
    genesis_ca, added_ca = pki.p256_ca(), pki.rsa_ca()
    net = start_network(base / "net", MEMBERS, [genesis_ca.root_pem.decode()], auth="required")
    try:
        tokens = issue_tokens(net.node.data_dir, {
            **{role: ["--role", role] for _, role in MEMBERS if role != "PARTY"},
            "PARTY": ["--role", "party", "--address", address_of("party-a")],
        })

        def ledger(name: str, role: str = "ADMIN") -> Ledger:
            return Ledger(net.url, account_key(name), token=tokens[role])

        txs: dict[str, str] = {}
        blocks: dict[str, int] = {}

        def keep(name: str, result: Any) -> None:
            txs[name] = "0x" + result.tx_hash.hex()
            blocks[name] = result.block_number

        # The validator's account registers with a certificate naming its organisation.
        keep("validator registers", ledger("validator").register_member(
            genesis_ca.issue("validator-1", "p256", organization=VALIDATOR_ORGANISATION)))
        keep("root trusted", ledger("admin").propose_trust_root(added_ca.root_der))
        center = ledger("center", "TRADING_CENTER")
        a, b, c = (address_of(n) for n in ("party-a", "party-b", "party-c"))
        for code, parties in (("P-1", [a, b]), ("P-2", [b, c])):
            keep(code, center.register_contract(code, hashlib.sha256(code.encode()).digest(), parties))
        keep("evidence", anchor(ledger("court", "COURT"), hashlib.sha256(b"exhibit").digest(), kind="webpage",
                                case="IP-2026-9").result)
    except BaseException:
        net.node.stop()
        raise
    return Desk(net, tokens, txs, blocks, genesis_ca, added_ca)


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    built = build_chain_desk(tmp_path_factory.mktemp("chainrest"))
    try:
        yield built
    finally:
        built.net.node.stop()


# -- blocks ---------------------------------------------------------------------------------


def test_blocks_are_paged_backwards_from_the_head(desk: Desk) -> None:
    head = desk.ok("/v1/blocks?limit=1")["items"][0]["number"]
    assert head >= max(desk.blocks.values())
    seen: list[dict[str, Any]] = []
    path = "/v1/blocks?limit=2"
    for _ in range(head + 2):
        page = desk.ok(path)
        seen += page["items"]
        if page["next"] is None:
            break
        path = f"/v1/blocks?limit=2&before={page['next']}"
    assert [b["number"] for b in seen] == list(range(head, -1, -1))
    validator = to_checksum_address(address_of("validator"))
    for block in seen:
        assert block["hash"].startswith("0x") and len(block["hash"]) == 66
        assert isinstance(block["time"], int) and block["gasUsed"] >= 0
        if block["number"]:
            assert block["proposer"] == {"address": validator, "organisation": VALIDATOR_ORGANISATION,
                                         "subject": block["proposer"]["subject"]}
    counts = {b["number"]: b["transactions"] for b in seen}
    assert all(counts[n] >= 1 for n in desk.blocks.values())
    assert desk.ok("/v1/blocks?before=1")["items"][0]["number"] == 0
    assert desk.ok("/v1/blocks?before=1")["next"] is None
    for bad in ("/v1/blocks?limit=0", "/v1/blocks?limit=1001", "/v1/blocks?before=-1", "/v1/blocks?before=x"):
        status, body = desk.get(bad)
        assert status == 400 and body["error"], (bad, body)


def test_a_block_lists_its_transactions(desk: Desk) -> None:
    number = desk.blocks["P-1"]
    block = desk.ok(f"/v1/blocks/{number}")
    assert block["number"] == number and block["transactionCount"] >= 1
    (row,) = [t for t in block["transactions"]["items"] if t["hash"] == desk.txs["P-1"]]
    assert row["to"] == {"address": to_checksum_address("0x" + "00" * 18 + "1002"), "name": "ContractRegistry"}
    assert row["from"]["address"] == to_checksum_address(address_of("center")) and row["status"] == "success"
    assert desk.ok("/v1/blocks/0")["parentHash"] == "0x" + "00" * 32
    head = desk.ok("/v1/blocks?limit=1")["items"][0]["number"]
    assert desk.get(f"/v1/blocks/{head + 1000}")[0] == 404
    for bad in ("/v1/blocks/abc", "/v1/blocks/-1", f"/v1/blocks/{2**64}"):
        assert desk.get(bad)[0] == 400, bad


# -- transactions and what each role sees of their events -----------------------------------


def test_a_transaction_with_its_decoded_events(desk: Desk) -> None:
    tx = desk.ok(f"/v1/transactions/{desk.txs['P-1']}")
    assert (tx["hash"], tx["block"], tx["status"]) == (desk.txs["P-1"], desk.blocks["P-1"], "success")
    assert tx["to"]["name"] == "ContractRegistry" and tx["from"]["address"] == to_checksum_address(address_of("center"))
    assert isinstance(tx["time"], int) and tx["gasUsed"] > 0 and tx["eventsWithheld"] == 0
    (event,) = tx["events"]
    assert (event["contract"], event["event"], event["topic"]) == ("ContractRegistry", "ContractRegistered", "contracts")
    assert event["args"]["projectCode"] == "P-1" and event["cursor"].startswith(f"{desk.blocks['P-1']}-")
    trusted = desk.ok(f"/v1/transactions/{desk.txs['root trusted']}")
    assert {"RootProposed", "RootTrusted"} <= {e["event"] for e in trusted["events"]}
    assert desk.get("/v1/transactions/0x" + "ab" * 32)[0] == 404
    for bad in ("/v1/transactions/0x12", "/v1/transactions/" + "g" * 64):
        assert desk.get(bad)[0] == 400, bad


@pytest.mark.parametrize("role, name, visible", [
    ("REGULATOR", "evidence", False),   # a regulator reads no evidence
    ("REGULATOR", "P-2", True),
    ("PARTY", "P-1", True),            # party-a is a party to P-1 ...
    ("PARTY", "P-2", False),           # ... not to P-2
    ("PARTY", "evidence", False),
    ("COURT", "evidence", True),
    ("AUDITOR", "P-2", True),
])
def test_events_a_role_may_not_read_are_withheld(desk: Desk, role: str, name: str, visible: bool) -> None:
    tx = desk.ok(f"/v1/transactions/{desk.txs[name]}", role)
    assert (len(tx["events"]), tx["eventsWithheld"]) == ((1, 0) if visible else (0, 1)), tx
    block = desk.ok(f"/v1/blocks/{desk.blocks[name]}", role)
    (row,) = [t for t in block["transactions"]["items"] if t["hash"] == desk.txs[name]]
    assert "input" not in tx and "input" not in row  # calldata carries what the events do


# -- validators, members, roots --------------------------------------------------------------


def test_validators_with_their_organisations(desk: Desk) -> None:
    (validator,) = desk.ok("/v1/validators", "PARTY")["items"]
    assert validator["address"] == to_checksum_address(address_of("validator"))
    assert validator["organisation"] == VALIDATOR_ORGANISATION
    assert f"O={VALIDATOR_ORGANISATION}" in validator["subject"]


def test_members_are_paged_with_their_ca(desk: Desk) -> None:
    seen: list[dict[str, Any]] = []
    path = "/v1/members?limit=3"
    for _ in range(10):
        page = desk.ok(path)
        assert len(page["items"]) <= 3
        seen += page["items"]
        if page["next"] is None:
            break
        path = f"/v1/members?limit=3&after={page['next']}"
    addresses = [m["address"] for m in seen]
    assert addresses == sorted(addresses, key=str.lower) and len(set(addresses)) == len(MEMBERS) + 1
    (validator,) = [m for m in seen if m["address"] == to_checksum_address(address_of("validator"))]
    assert validator["roles"] == ["PARTY"] and validator["organisation"] == VALIDATOR_ORGANISATION
    assert validator["ca"] == desk.genesis_ca.root.subject.rfc4514_string()
    (admin,) = [m for m in seen if m["address"] == to_checksum_address(address_of("admin"))]
    assert admin["roles"] == ["ADMIN"] and admin["subject"] is None and admin["ca"] is None
    for bad in ("/v1/members?after=zz", "/v1/members?limit=0"):
        assert desk.get(bad)[0] == 400, bad


def test_trusted_roots_with_when_they_were_added(desk: Desk) -> None:
    roots = desk.ok("/v1/roots", "REGULATOR")["items"]
    by_fingerprint = {r["fingerprint"]: r for r in roots}
    for ca, block, key_type in ((desk.genesis_ca, 0, "EC P-256"), (desk.added_ca, desk.blocks["root trusted"], "RSA 2048")):
        root = by_fingerprint["0x" + ca.root.fingerprint(hashes.SHA256()).hex()]
        assert root["subject"] == ca.root.subject.rfc4514_string()
        assert (root["trusted"], root["added"]["block"], root["keyType"]) == (True, block, key_type)
        assert root["notAfter"] == int(ca.root.not_valid_after_utc.timestamp())
        assert root["notBefore"] == int(ca.root.not_valid_before_utc.timestamp())
    assert by_fingerprint["0x" + desk.added_ca.root.fingerprint(hashes.SHA256()).hex()]["added"]["transactionHash"] == \
        desk.txs["root trusted"]
    assert isinstance(x509.load_der_x509_certificate(desk.genesis_ca.root_der), x509.Certificate)


# -- the node verifying its own chain -------------------------------------------------------


def test_who_may_start_a_verification(desk: Desk) -> None:
    for role in ("REGULATOR", "PARTY", "COURT", "TRADING_CENTER"):
        status, body = desk.call("POST", "/v1/chain/verifications", role)
        assert status == 403 and role in body["error"], (role, body)
    assert desk.call("POST", "/v1/chain/verifications", None)[0] == 401
    assert desk.get("/v1/chain/verifications/last", None)[0] == 401
    assert desk.get("/v1/chain/verifications/last", "PARTY")[0] == 200


def wait_for_result(desk: Desk, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        status = desk.ok("/v1/chain/verifications/last")
        if status["running"] is None and status["last"] is not None and status["last"]["id"] == run_id:
            return status["last"]
        time.sleep(0.2)
    raise AssertionError(f"verification {run_id} did not finish within {DEADLINE_SECONDS} s")


def test_the_node_verifies_its_chain_one_run_at_a_time_and_keeps_the_result(desk: Desk) -> None:
    # Two requests sent together: one run starts (202), the other is refused while it runs
    # (409, with the running one's progress) - a run starts a worker process first.
    barrier = threading.Barrier(2)
    answers: list[tuple[int, Any]] = []

    def ask(role: str) -> None:
        barrier.wait()
        answers.append(desk.call("POST", "/v1/chain/verifications", role))

    threads = [threading.Thread(target=ask, args=(role,)) for role in ("AUDITOR", "ADMIN")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE_SECONDS)
    assert sorted(status for status, _ in answers) == [202, 409], answers
    started = next(body for status, body in answers if status == 202)
    refused = next(body for status, body in answers if status == 409)
    assert started["state"] == "running" and started["requestedBy"]["role"] in ("AUDITOR", "ADMIN")
    assert refused["running"]["id"] == started["id"] and "already running" in refused["error"]
    last = wait_for_result(desk, started["id"])
    head = desk.ok("/v1/blocks?limit=1")["items"][0]
    assert last["state"] == "valid", last
    assert last["blocksChecked"] == last["blocksTotal"] and last["blocksTotal"] <= head["number"] + 1
    assert last["finished"] >= last["started"] and last["message"].startswith("VALID")
    assert last["failure"] is None and "commit seals" in last["checked"]
    # kept across a restart
    desk.net.node.stop()
    desk.net.node.start()
    assert desk.ok("/v1/chain/verifications/last")["last"] == last
