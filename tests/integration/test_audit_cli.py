"""`ledger audit …` against a real permissioned node with `--auth required`, read with an
AUDITOR token from the real `ledger token issue`: contracts (one signed by two parties
with certificates, one voided by the regulator), evidence anchored under a case,
commitments whose alerts the chain raised (reminder, warning, demand), and the CLI's
answers compared with the node's REST answers — summary, lists, histories, the per-unit
report, exports to CSV and JSON lines parsed back — plus the exit codes of an unknown id
and of a role that may not read."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak, to_checksum_address

from client.anchoring import anchor
from client.cli_audit_export import COLUMNS, csv_cell
from client.ledger import Ledger
from tests import pki
from tests.integration.cli_runs import Run
from tests.integration.permissioned import Network, account_key, address_of, issue_tokens, start_network

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DAY = 86400
CASE, OTHER_CASE = "(2026) IP 77", "(2026) IP 78"
INVESTMENT, LAND = "Investment Bureau", "Land Bureau"
MEMBERS = [("admin", "ADMIN"), ("center", "TRADING_CENTER"), ("regulator", "REGULATOR"), ("auditor", "AUDITOR")]
DEADLINE_SECONDS = 60.0


@dataclass
class Desk:
    net: Network
    tokens: dict[str, str]
    contracts: dict[str, str]        # project code -> contract id
    identities: dict[str, Any]       # party name -> its certificate identity
    digests: dict[str, str]          # name -> anchored digest
    commitments: dict[str, int]      # name -> commitment id
    void_tx: str
    base: Path

    def start(self, *args: str, token: str | None = "AUDITOR") -> tuple[tuple[str, ...], subprocess.Popen[str]]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
        env["LEDGER_RPC_URL"] = self.net.url
        env["COLUMNS"] = "320"  # wide enough that no table folds a hash the assertions look for
        if token is not None:
            env["LEDGER_TOKEN"] = self.tokens[token]
        proc = subprocess.Popen([sys.executable, "-m", "client.cli", "audit", *args], cwd=ROOT, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return args, proc

    def run(self, *args: str, token: str | None = "AUDITOR") -> Run:
        return together(self.start(*args, token=token))[0]

    def rest(self, path: str, **query: Any) -> Any:
        url = f"{self.net.url}/v1/{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.tokens['AUDITOR']}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def rpc(self, method: str, *params: Any) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
        request = urllib.request.Request(self.net.url, data=body, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {self.tokens['ADMIN']}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["result"]


def together(*started: tuple[tuple[str, ...], subprocess.Popen[str]]) -> list[Run]:
    """Wait for `ledger audit` processes started concurrently (each costs ~0.7 s of imports)."""
    runs = []
    for args, proc in started:
        try:
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        runs.append(Run(args, proc.returncode, out, err))
    return runs


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    base = tmp_path_factory.mktemp("audit")
    ca = pki.p256_ca()
    net = start_network(base / "net", MEMBERS, [ca.root_pem.decode()], auth="required")
    try:
        tokens = issue_tokens(net.node.data_dir, {
            **{role: ["--role", role] for _, role in MEMBERS},
            "tenderer": ["--role", "party", "--address", address_of("tenderer")],
            "bidder": ["--role", "party", "--address", address_of("bidder")],
        })
        yield build_chain(net, tokens, ca, base)
    finally:
        net.node.stop()


def build_chain(net: Network, tokens: dict[str, str], ca: pki.CA, base: Path) -> Desk:
    def ledger(name: str, token: str) -> Ledger:
        return Ledger(net.url, account_key(name), token=tokens[token])

    admin, center, regulator = ledger("admin", "ADMIN"), ledger("center", "TRADING_CENTER"), ledger("regulator", "REGULATOR")
    tenderer, bidder = ledger("tenderer", "tenderer"), ledger("bidder", "bidder")

    # 1. Two parties register with certificates of a CA trusted in genesis.
    identities = {"tenderer": ca.issue("Tenderer Construction Group", "p256"),
                  "bidder": ca.issue("Winning Bidder Engineering", "rsa2048")}
    tenderer.register_member(identities["tenderer"])
    bidder.register_member(identities["bidder"])

    # 2. Three contracts; both parties sign P-1 (Effective); the regulator voids P-2.
    parties = [to_checksum_address(address_of("tenderer")), to_checksum_address(address_of("bidder"))]
    sent = [center.send(center.contracts.functions.register(code, keccak(text=code), 1, parties, amount, b"\x00" * 32))
            for code, amount in (("P-1", 1_250_000), ("P-2", 90_000), ("P-3", 40_000))]
    ids = {code: center.wait(h).events["ContractRegistered"][0]["id"] for code, h in zip(("P-1", "P-2", "P-3"), sent)}
    tenderer.sign_contract(ids["P-1"], identities["tenderer"])
    bidder.sign_contract(ids["P-1"], identities["bidder"])
    voided = regulator.void_contract(ids["P-2"], keccak(text="irregular tender"))

    # 3. Evidence: two files of one case, and the first digest anchored again for another.
    digests = {"capture": hashlib.sha256(b"web capture").digest(), "pdf": hashlib.sha256(b"contract pdf").digest()}
    anchor(center, digests["capture"], kind="web-capture", case=CASE)
    anchor(center, digests["pdf"], kind="contract-pdf", case=CASE)
    anchor(center, digests["capture"], kind="web-capture", case=OTHER_CASE)

    # 4. Commitments: a 30-day reminder window and a 30-day demand delay to begin with.
    admin.transact(admin.commitments.functions.set_policy(30 * DAY, 30 * DAY))
    now = int(net_rpc(net, tokens, "eth_getBlockByNumber", "latest", False)["timestamp"], 16)
    agreement = keccak(text="AGR-2026-017")
    plan = [("far", INVESTMENT, now + 100 * DAY), ("soon", INVESTMENT, now + 10 * DAY),
            ("late", LAND, now + 6), ("done", LAND, now + 100 * DAY)]
    sent = [center.send(center.commitments.functions.add(
        agreement, f"clause {name}", 1, unit, parties[0], parties[1], deadline, b"\x00" * 32))
        for name, unit, deadline in plan]
    commitments = {name: center.wait(h).events["CommitmentAdded"][0]["id"] for (name, _, _), h in zip(plan, sent)}
    # "soon" and "late" are within the reminder window: a reminder each (the next block,
    # seconds before "late" is due).
    alerts = center.escalate_commitments()[0].events["CommitmentAlert"]
    assert sorted((a["id"], a["level"]) for a in alerts) == [(commitments["soon"], 1), (commitments["late"], 1)]
    tenderer.fulfil_commitment(commitments["done"], hashlib.sha256(b"acceptance report").digest())
    bidder.confirm_commitment(commitments["done"])
    # "late" passes its deadline: a warning (each escalate is a block carrying the chain's new time).
    raise_until(center, commitments["late"], 2)
    # A one-second demand delay: "late" is long overdue now, a demand escalated to supervision.
    admin.transact(admin.commitments.functions.set_policy(30 * DAY, 1))
    raise_until(center, commitments["late"], 3)
    return Desk(net, tokens, {code: "0x" + cid.hex() for code, cid in ids.items()}, identities,
                {name: "0x" + d.hex() for name, d in digests.items()}, commitments,
                "0x" + voided.tx_hash.hex(), base)


def net_rpc(net: Network, tokens: dict[str, str], method: str, *params: Any) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    request = urllib.request.Request(net.url, data=body, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {tokens['ADMIN']}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["result"]


def raise_until(center: Ledger, commitment: int, level: int) -> None:
    """Escalate `commitment` until the chain has raised `level` (polled, with a deadline)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while center.commitment(commitment)["escalation"] < level:
        assert time.monotonic() < deadline, f"commitment {commitment} not raised to {level}"
        center.escalate_commitments([commitment])
        time.sleep(0.2)


# -- the tests ----------------------------------------------------------------------------------


def test_summary(desk: Desk) -> None:
    as_json, human = together(desk.start("summary", "--json"), desk.start("summary"))
    doc = as_json.json()
    assert doc == desk.rest("summary")
    counts = doc["counts"]
    assert counts["contracts"] == {"total": 3, "Pending": 1, "Effective": 1, "Superseded": 0, "Voided": 1}
    assert counts["evidence"] == 3
    assert counts["commitments"] == {"total": 4, "open": 3, "fulfilled": 1, "alertsRaised": 4, "demandsRaised": 1,
                                     "units": 2}
    assert human.code == 0, str(human)
    assert "3: 1 Pending, 1 Effective, 0 Superseded, 1 Voided" in human.out
    assert "4, 1 of them demands" in human.out and doc["head"] in human.out


def test_contracts_by_status_limit_and_all(desk: Desk) -> None:
    voided, first_two, every, table = together(
        desk.start("contracts", "--status", "voided", "--json"),
        desk.start("contracts", "--limit", "2", "--json"),
        desk.start("contracts", "--all", "--order", "desc", "--json"),
        desk.start("contracts", "--status", "Effective"),
    )
    assert [c["projectCode"] for c in voided.json()["contracts"]] == ["P-2"]
    assert first_two.json()["more"] is True and [c["projectCode"] for c in first_two.json()["contracts"]] == ["P-1", "P-2"]
    assert every.json() == {"contracts": desk.rest("contracts", order="desc")["items"], "more": False}
    assert table.code == 0 and desk.contracts["P-1"] in table.out and "P-2" not in table.out
    assert "1 contracts" in table.out


def test_contract_history_carries_every_attestation(desk: Desk) -> None:
    by_project, by_id, human, voided = together(
        desk.start("contract", "--project", "P-1", "--json"),
        desk.start("contract", desk.contracts["P-1"], "--json"),
        desk.start("contract", "--project", "P-1"),
        desk.start("contract", desk.contracts["P-2"]),
    )
    [record] = by_project.json()["contracts"]
    assert by_id.json() == by_project.json()
    assert record["status"] == "Effective"
    assert [e["event"] for e in record["history"]] == [
        "ContractRegistered", "ContractSigned", "ContractSigned", "ContractEffective"]
    assert record["history"] == desk.rest(f"contracts/{desk.contracts['P-1']}/events")["items"]
    signatures = {s["signer"]: s for s in record["signatures"]}
    for name, identity in desk.identities.items():
        signature = signatures[to_checksum_address(address_of(name))]
        assert signature["certFingerprint"] == "0x" + identity.fingerprint.hex()
        assert signature["rootFingerprint"] == "0x" + identity.root_fingerprint.hex()
        assert signature["certFingerprint"] in human.out and str(signature["block"]) in human.out
    assert human.code == 0 and "attestation 2 of 2" in human.out and "ContractEffective" in human.out
    assert voided.code == 0 and "Voided" in voided.out and "(regulator)" in voided.out
    assert "ContractVoided" in voided.out and "attestations: none yet" in voided.out


def test_unknown_or_malformed_ids_exit_2(desk: Desk) -> None:
    unknown, malformed, neither, commitment, digest = together(
        desk.start("contract", "0x" + "00" * 31 + "01"),
        desk.start("contract", "0x1234"),
        desk.start("contract"),
        desk.start("commitment", "999"),
        desk.start("evidence", "0x" + "ab" * 32),
    )
    for run, reason in ((unknown, "no contract 0x" + "00" * 31 + "01"), (malformed, "expected 32 bytes"),
                        (neither, "give a contract ID or --project"), (commitment, "no commitment 999"),
                        (digest, "was never anchored")):
        assert run.code == 2 and run.err.startswith("error: ") and reason in run.err, str(run)
        assert len(run.err.strip().splitlines()) == 1, str(run)


def test_evidence_by_case_and_by_digest(desk: Desk) -> None:
    by_case, by_digest, by_kind, human = together(
        desk.start("evidence", "--case", CASE, "--json"),
        desk.start("evidence", desk.digests["capture"], "--json"),
        desk.start("evidence", "--kind", "contract-pdf", "--json"),
        desk.start("evidence", "--case", CASE),
    )
    assert [e["digest"] for e in by_case.json()["evidence"]] == [desk.digests["capture"], desk.digests["pdf"]]
    assert by_case.json()["evidence"] == desk.rest("evidence", case=CASE)["items"]
    anchorings = by_digest.json()["evidence"]
    assert [(e["anchoring"], e["caseRef"]) for e in anchorings] == [(1, CASE), (2, OTHER_CASE)]
    assert [e["digest"] for e in by_kind.json()["evidence"]] == [desk.digests["pdf"]]
    assert human.code == 0 and desk.digests["pdf"] in human.out and "2 anchorings" in human.out


def test_commitments_and_the_report(desk: Desk) -> None:
    report, human, demand, late = together(
        desk.start("report", "--json"),
        desk.start("report"),
        desk.start("commitments", "--status", "demand", "--json"),
        desk.start("commitment", str(desk.commitments["late"]), "--json"),
    )
    doc = report.json()
    assert {k: v for k, v in doc.items() if k != "at"} == {k: v for k, v in desk.rest("commitments/report").items() if k != "at"}
    rows = {u["unit"]: u for u in doc["units"]}
    # alerts and supervisions: the commitments at reminder/warning/demand and at demand now;
    # alertsRaised and demandsRaised: the CommitmentAlert events the chain has emitted.
    assert rows[INVESTMENT] == {"unit": INVESTMENT, "total": 2, "on track": 1, "reminder": 1, "warning": 0,
                                "demand": 0, "fulfilled": 0, "alerts": 1, "supervisions": 0, "alertsRaised": 1,
                                "demandsRaised": 0}
    assert rows[LAND] == {"unit": LAND, "total": 2, "on track": 0, "reminder": 0, "warning": 0, "demand": 1,
                          "fulfilled": 1, "alerts": 1, "supervisions": 1, "alertsRaised": 3, "demandsRaised": 1}
    assert human.code == 0 and human.out.strip().endswith("4 commitments, 2 alerts, 1 supervisions"), str(human)
    assert INVESTMENT in human.out and "all units" in human.out
    assert [c["id"] for c in demand.json()["commitments"]] == [desk.commitments["late"]]
    record = late.json()
    assert [a["level"] for a in record["alerts"]] == ["reminder", "warning", "demand"]
    assert [a["escalatedToSupervision"] for a in record["alerts"]] == [False, False, True]
    assert [e["event"] for e in record["history"]] == ["CommitmentAdded", *["CommitmentAlert"] * 3]
    unit = desk.run("report", "--unit", LAND, "--json").json()
    assert [u["unit"] for u in unit["units"]] == [LAND] and unit["totals"]["alertsRaised"] == 3


def rest_all(desk: Desk, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after = None
    while True:
        page = desk.rest(path, limit=2, **({"after": after} if after else {}))
        items += page["items"]
        after = page["next"]
        if after is None:
            return items


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_exports_parse_back_to_the_rest_answers(desk: Desk) -> None:
    out = desk.base / "exports"
    out.mkdir()
    runs = together(*(desk.start("export", kind, "--format", fmt, "--out", str(out / f"{kind}.{fmt}"), "--json")
                      for kind in ("contracts", "evidence", "commitments", "events") for fmt in ("csv", "jsonl")))
    for run in runs:
        assert run.code == 0, str(run)
    expected = {"contracts": rest_all(desk, "contracts"), "evidence": rest_all(desk, "evidence"),
                "commitments": rest_all(desk, "commitments")}
    events: list[dict[str, Any]] = []
    since = None
    while True:
        page = desk.rest("events", limit=5, **({"since": since} if since else {}))
        events += page["items"]
        if page["next"] in (None, since):
            break
        since = page["next"]
    expected["events"] = events
    assert len(expected["events"]) == desk.rest("summary")["counts"]["events"]
    for kind, rows in expected.items():
        assert rows, kind
        # Every field the node returns has its column: a CSV export drops nothing.
        assert {key for row in rows for key in row} <= set(COLUMNS[kind]), kind
        jsonl = [json.loads(line) for line in (out / f"{kind}.jsonl").read_text(encoding="utf-8").splitlines()]
        assert jsonl == rows, kind
        table = read_csv(out / f"{kind}.csv")
        assert list(table[0]) == list(COLUMNS[kind])
        assert table == [{c: csv_cell(row.get(c)) for c in COLUMNS[kind]} for row in rows], kind
        for column in ("parties", "args", "alerts"):
            if column in COLUMNS[kind]:  # nested values are JSON in their cell
                assert [json.loads(r[column]) for r in table] == [row[column] for row in rows]
    reports = {(r.json()["kind"], r.json()["format"]): r.json()["rows"] for r in runs}
    assert reports == {(k, f): len(expected[k]) for k in expected for f in ("csv", "jsonl")}
    assert not list(out.glob("*.partial"))
    # Filters are the list commands'; one that is not the kind's is bad usage.
    voided, wrong = together(
        desk.start("export", "contracts", "--status", "voided", "--format", "csv", "--out", str(out / "voided.csv")),
        desk.start("export", "evidence", "--unit", LAND, "--out", str(out / "wrong.jsonl")),
    )
    assert voided.code == 0 and "1 rows of contracts written" in voided.out
    assert [r["projectCode"] for r in read_csv(out / "voided.csv")] == ["P-2"]
    assert wrong.code == 2 and "--unit: not a filter of evidence" in wrong.err and not (out / "wrong.jsonl").exists()


def test_tx_and_block(desk: Desk) -> None:
    tx, tx_human, block, latest = together(
        desk.start("tx", desk.void_tx, "--json"),
        desk.start("tx", desk.void_tx),
        desk.start("block", "3", "--json"),
        desk.start("block", "latest"),
    )
    doc = tx.json()
    assert doc["status"] == "success" and doc["transaction"]["from"] == to_checksum_address(address_of("regulator"))
    [voided] = doc["events"]
    assert (voided["contract"], voided["event"]) == ("ContractRegistry", "ContractVoided")
    assert voided["args"]["id"] == desk.contracts["P-2"] and voided["args"]["byRegulator"] is True
    assert tx_human.code == 0 and "ContractRegistry" in tx_human.out and "ContractVoided" in tx_human.out
    header = desk.rpc("eth_getBlockByNumber", "0x3", False)
    validators = desk.rpc("qbft_getValidatorsByBlockNumber", "0x3")
    b = block.json()
    assert (b["number"], b["hash"], b["proposer"], b["validators"]) == (3, header["hash"], header["miner"], validators)
    assert b["commitSeals"] == len(validators) == 1 and b["round"] == 0
    assert b["transactionCount"] == len(header["transactions"]) >= 1
    assert latest.code == 0 and "proposer" in latest.out and "commit seals" in latest.out


def test_roles_that_may_not_read_are_refused_with_exit_2(desk: Desk) -> None:
    evidence, block, anonymous, garbage = together(
        desk.start("evidence", "--case", CASE, token="REGULATOR"),  # a regulator does not read evidence
        desk.start("block", "latest", token="REGULATOR"),           # nor raw chain reads (rpc:read)
        desk.start("summary", token=None),
        desk.start("block", "yesterday"),
    )
    for run, reason in ((evidence, "role REGULATOR may not"), (block, "qbft_getValidatorsByBlockNumber"),
                        (anonymous, "requires an access token"), (garbage, "BLOCK 'yesterday'")):
        assert run.code == 2 and run.err.startswith("error: ") and reason in run.err, str(run)
        assert len(run.err.strip().splitlines()) == 1, str(run)
