"""`ledger commitment` against a real --dev node: commitments of one investment agreement
for three responsible units, block time moved across their deadlines with
`evm_increaseTime`, and the alerts and counts the CLI reports at each step.

Default policy: a reminder 7 days before the deadline, a warning once it has passed, a
demand (escalated to supervision) 30 days after it. A block is produced only when a
transaction arrives (or every 60 s), so each time step is followed by an `escalate`
transaction before statuses are read: its block carries the new time.
"""
from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli_runs import Cli, Pending, Run, together
from tests.integration.nodeproc import NodeProcess, free_port, rpc
from tests.integration.permissioned import address_of
from tests.integration.test_cli_chaincode import write_keys

pytestmark = pytest.mark.slow

DAY = 86400
AGREEMENT = "AGR-2026-017"
INVESTMENT, LAND, ACME = "Investment Bureau", "Land Bureau", "Acme Industrial"


@dataclass
class Desk:
    """A dev node whose admin (the dev account) granted the roles through the CLI."""

    node: NodeProcess
    cli: Cli
    base: Path
    grants: list[Run]


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    base = tmp_path_factory.mktemp("commitments")
    # Alerts are raised by the escalate commands here, not by the validator on its own.
    node = NodeProcess(base / "data", free_port(), extra_args=("--no-auto-escalate",)).start()
    try:
        cli = Cli(node.url, write_keys(base / "keys", ["center", "gov", "land", "ent", "regulator", "stranger"]))
        (base / "keys" / "dev.key").write_text(node.dev_key + "\n")
        cli.keys["dev"] = base / "keys" / "dev.key"
        # The dev account is the only admin: quorum 1, so each grant executes at once.
        grants = [
            cli.run("member", "grant", address_of("center"), "--role", "TRADING_CENTER", "--json", key="dev"),
            cli.run("member", "grant", address_of("gov"), address_of("land"), address_of("ent"), "--role", "PARTY",
                    "--json", key="dev"),
            cli.run("member", "grant", address_of("regulator"), "--role", "REGULATOR", "--json", key="dev"),
        ]
        yield Desk(node, cli, base, grants)
    finally:
        node.stop()


def chain_time(url: str) -> int:
    return int(rpc(url, "eth_getBlockByNumber", "latest", False)["timestamp"], 16)


def escalate(desk: Desk, key: str = "dev") -> dict[int, str]:
    """Raise the due alerts; {commitment id: level raised}."""
    return raised(desk.cli.run("commitment", "escalate", "--json", key=key))


def raised(run: Run) -> dict[int, str]:
    doc = run.json()
    assert doc["raised"] == len(doc["alerts"])
    return {a["id"]: a["level"] for a in doc["alerts"]}


def listing(desk: Desk, *options: str) -> Pending:
    return desk.cli.start("commitment", "list", *options, "--json")


def statuses(run: Run) -> dict[int, str]:
    return {c["id"]: c["status"] for c in run.json()["commitments"]}


def report(desk: Desk, *options: str) -> Pending:
    return desk.cli.start("commitment", "report", *options, "--json")


def counts(on_track: int = 0, reminder: int = 0, warning: int = 0, demand: int = 0, fulfilled: int = 0) -> dict[str, int]:
    return {"on-track": on_track, "reminder": reminder, "warning": warning, "demand": demand, "fulfilled": fulfilled}


def test_commitments_escalate_with_block_time(desk: Desk, tmp_path: Path) -> None:
    cli = desk.cli
    for run in desk.grants:
        doc = run.json()
        for grant in doc if isinstance(doc, list) else [doc]:
            assert (grant["action"], grant["approvals"], grant["quorum"], grant["executed"]) == ("proposed", 1, 1, True)
    description, evidence = tmp_path / "clause-4.2.txt", tmp_path / "acceptance-report.pdf"
    description.write_text("Clause 4.2: deliver the serviced land parcel by the agreed date.")
    evidence.write_bytes(b"%PDF-1.7 land acceptance report")

    # 1. Five commitments of one agreement for three units; deadlines in every format.
    t0 = chain_time(desk.node.url)
    gov, land, ent = address_of("gov"), address_of("land"), address_of("ent")

    def add(clause: str, side: str, unit: str, obligor: str, counterparty: str, deadline: str, key: str,
            *extra: object) -> Any:
        return cli.start("commitment", "add", "--agreement", AGREEMENT, "--clause", clause, "--side", side,
                         "--unit", unit, "--obligor", obligor, "--counterparty", counterparty, "--deadline", deadline,
                         "--json", *extra, key=key)

    hundred_days = datetime.fromtimestamp(t0 + 100 * DAY, UTC).date().isoformat()
    forty = datetime.fromtimestamp(t0 + 40 * DAY, timezone(timedelta(hours=8))).isoformat()
    added = together(
        add("4.2 land delivery", "government", INVESTMENT, gov, ent, "+10d", "center", "--description", description),
        add("7.1 plant construction", "enterprise", ACME, ent, gov, forty, "dev"),
    ) + together(
        add("4.3 road access", "government", INVESTMENT, gov, ent, str(t0 + 20 * DAY), "center"),
        add("7.2 annual output", "enterprise", ACME, ent, gov, hundred_days, "dev"),
    ) + together(
        add("5.1 zoning approval", "government", LAND, land, ent, "+5d", "center"),
        cli.start("commitment", "add", "--agreement", AGREEMENT, "--clause", "x", "--side", "enterprise", "--unit", ACME,
                  "--obligor", ent, "--counterparty", gov, "--deadline", "+3d", key="ent"),
        cli.start("commitment", "add", "--agreement", AGREEMENT, "--clause", "x", "--side", "enterprise", "--unit", ACME,
                  "--obligor", ent, "--counterparty", gov, "--deadline", str(t0 - DAY), key="center"),
    )
    added[5].refused("only a trading center may add commitments")
    added[6].refused("deadline must be in the future")
    ids = [run.json()["id"] for run in added[:5]]
    c_land_delivery, c_plant, c_road, c_output, c_zoning = ids
    assert sorted(ids) == [1, 2, 3, 4, 5]
    shown = cli.run("commitment", "show", str(c_land_delivery), "--json").json()
    assert shown["agreementText"] == AGREEMENT and shown["unit"] == INVESTMENT and shown["side"] == "government"
    assert shown["descriptionDigest"] is not None and 10 * DAY - 60 <= shown["deadline"] - t0 <= 10 * DAY + 60

    # 2. Only the zoning approval (due in 5 days) is inside the 7-day reminder window.
    assert escalate(desk) == {c_zoning: "reminder"}
    again, first = together(cli.start("commitment", "escalate", "--json", key="regulator"), report(desk))
    assert raised(again) == {}  # each level is raised once
    assert first.json()["counts"] == counts(on_track=4, reminder=1)

    # 3. Fulfilment: the obligor reports; the counterparty or a regulator confirms; no one else.
    wrong_obligor, early_confirm, stranger = together(
        cli.start("commitment", "fulfil", str(c_land_delivery), "--evidence", evidence, key="ent"),
        cli.start("commitment", "confirm", str(c_road), key="ent"),
        cli.start("commitment", "escalate", key="stranger"),
    )
    wrong_obligor.refused("only the obligor may report fulfilment")
    early_confirm.refused("fulfilment has not been reported")
    stranger.refused("only members may escalate")
    road, plant = together(
        cli.start("commitment", "fulfil", str(c_road), "--evidence", evidence, "--json", key="gov"),
        cli.start("commitment", "fulfil", str(c_plant), "--evidence-digest", "ab" * 32, "--json", key="ent"),
    )
    assert road.json()["onTime"] is True and plant.json()["evidenceDigest"] == "0x" + "ab" * 32
    wrong_party, by_regulator = together(
        cli.start("commitment", "confirm", str(c_road), key="land"),
        cli.start("commitment", "confirm", str(c_plant), "--json", key="regulator"),
    )
    wrong_party.refused("only the counterparty or a regulator may confirm")
    assert by_regulator.json()["bySupervisor"] is True
    by_counterparty = cli.run("commitment", "confirm", str(c_road), "--json", key="ent").json()
    assert (by_counterparty["bySupervisor"], by_counterparty["confirmedBy"]) == (False, ent)
    cli.run("commitment", "confirm", str(c_road), key="regulator").refused("commitment already fulfilled")

    # 4. Day 4: the land delivery (due day 10) enters its reminder window.
    rpc(desk.node.url, "evm_increaseTime", 4 * DAY)
    assert escalate(desk) == {c_land_delivery: "reminder"}
    every, day4 = together(listing(desk), report(desk))
    assert statuses(every) == {c_land_delivery: "reminder", c_plant: "fulfilled", c_road: "fulfilled",
                               c_output: "on-track", c_zoning: "reminder"}
    assert day4.json()["counts"] == counts(on_track=1, reminder=2, fulfilled=2)

    # 5. Day 11: both open government commitments are overdue: warnings.
    rpc(desk.node.url, "evm_increaseTime", 7 * DAY)
    assert escalate(desk, key="regulator") == {c_land_delivery: "warning", c_zoning: "warning"}
    assert statuses(listing(desk, "--status", "warning").result()) == {c_land_delivery: "warning", c_zoning: "warning"}

    # 6. Day 41: more than 30 days overdue: demands, escalated to supervision.
    rpc(desk.node.url, "evm_increaseTime", 30 * DAY)
    alerts = desk.cli.run("commitment", "escalate", "--json", key="dev").json()["alerts"]
    assert {(a["id"], a["level"], a["supervision"]) for a in alerts} == {
        (c_land_delivery, "demand", True), (c_zoning, "demand", True)}
    investment, demands, final_run, land_run, human_run = together(
        listing(desk, "--unit", INVESTMENT), listing(desk, "--status", "demand"), report(desk),
        report(desk, "--unit", LAND), cli.start("commitment", "report"))
    assert statuses(investment) == {c_land_delivery: "demand", c_road: "fulfilled"}
    assert statuses(demands) == {c_land_delivery: "demand", c_zoning: "demand"}

    # 7. The report: totals, per unit, and one unit alone.
    final = final_run.json()
    assert (final["total"], final["alerts"], final["supervisions"]) == (5, 2, 2)
    assert final["counts"] == counts(on_track=1, demand=2, fulfilled=2)
    assert {u["unit"]: u["counts"] for u in final["units"]} == {
        INVESTMENT: counts(demand=1, fulfilled=1),
        ACME: counts(on_track=1, fulfilled=1),
        LAND: counts(demand=1),
    }
    land_only = land_run.json()
    assert (land_only["unit"], land_only["total"], land_only["counts"]) == (LAND, 1, counts(demand=1))
    human = human_run.ok().out
    assert "5 commitments, 2 alerts, 2 supervisions" in human
    # the unit's row: total, on track, reminder, warning, demand, fulfilled
    assert human.split(INVESTMENT, 1)[1].split()[:6] == ["2", "0", "0", "0", "1", "1"], human

    # 8. The node's indexes (GET /v1/commitments...) agree with the tracker's own views.
    indexed = get_json(desk.node.url + "/v1/commitments/report")
    assert (indexed["totals"]["total"], indexed["totals"]["alerts"], indexed["totals"]["supervisions"]) == (5, 2, 2)
    # (the CLI writes "on-track" where the tracker's names have a space)
    assert {u["unit"]: {k: u[k.replace("-", " ")] for k in final["counts"]} for u in indexed["units"]} == {
        u["unit"]: u["counts"] for u in final["units"]}
    # every alert the escalations raised: 2 reminders, 2 warnings, 2 demands
    assert (indexed["totals"]["alertsRaised"], indexed["totals"]["demandsRaised"]) == (6, 2)
    assert {c["id"] for c in get_json(desk.node.url + "/v1/commitments?status=demand")["items"]} == {
        c_land_delivery, c_zoning}
    assert [c["id"] for c in get_json(desk.node.url + "/v1/commitments?raised=fulfilled")["items"]] == sorted(
        [c_plant, c_road])
    land = get_json(desk.node.url + f"/v1/commitments/{c_land_delivery}")
    assert (land["status"], land["raised"], [a["level"] for a in land["alerts"]]) == (
        "demand", "demand", ["reminder", "warning", "demand"])


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())
