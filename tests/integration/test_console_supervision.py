"""The supervision page and its routes on a real --dev node: commitments at every status
(block time moved with `evm_increaseTime`), `/v1/commitments/counts`, `/activity` and
`/export.csv` as each role gets them (a REGULATOR yes; PARTY and NOTARY tokens 403, a dev
node still holding a presented token to its role), and in a real browser the dashboard's
numbers equal to `/v1/commitments/report`'s, the overdue lists with readable dates, a new
alert in the live feed without a reload, and the CSV download read back with Python's csv
module.

Alerts are raised with `ledger commitment escalate`; a node that raises them by itself
(validators escalating during block building) only raises them earlier, which every
assertion here tolerates.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.cli_runs import Cli
from tests.integration.nodeproc import NodeProcess, free_port, rpc
from tests.integration.permissioned import address_of
from tests.integration.test_access import issue_tokens
from tests.integration.test_cli_chaincode import write_keys
from tests.unit.web.browser import browser, node_only_context, screenshot

pytestmark = pytest.mark.slow

DAY = 86400
TIMEOUT = 30.0
AGREEMENT = "AGR-2026-031"
UNIT_CN, UNIT_LAND = "招商局 Investment Bureau", "Land Bureau"
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")
READABLE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \(UTC[+-]\d{2}:\d{2}\)$")
STATUSES = ("on track", "reminder", "warning", "demand", "fulfilled")


@dataclass
class Desk:
    node: NodeProcess
    cli: Cli
    tokens: dict[str, str]  # role name -> token
    ids: dict[str, int]  # the status it was made to reach -> commitment id

    def get(self, path: str, role: str | None = "regulator", **query: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.get(self.node.url + path, params=query, headers=headers, timeout=TIMEOUT)

    def json(self, path: str, role: str | None = "regulator", **query: Any) -> Any:
        answer = self.get(path, role, **query)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def escalate(self) -> None:
        """A transaction, so a block carries the moved clock; raises what is due (if the
        validators have not already)."""
        self.cli.run("commitment", "escalate", "--json", key="dev")


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    base = tmp_path_factory.mktemp("supervision")
    node = NodeProcess(base / "data", free_port()).start()
    try:
        cli = Cli(node.url, write_keys(base / "keys", ["center", "gov", "ent", "regulator"]))
        (base / "keys" / "dev.key").write_text(node.dev_key + "\n")
        cli.keys["dev"] = base / "keys" / "dev.key"
        gov, ent = address_of("gov"), address_of("ent")
        # One after the other: both are the dev account's transactions (one nonce sequence).
        cli.run("member", "grant", address_of("center"), "--role", "TRADING_CENTER", "--json", key="dev").ok()
        cli.run("member", "grant", gov, ent, "--role", "PARTY", "--json", key="dev").ok()
        t0 = int(rpc(node.url, "eth_getBlockByNumber", "latest", False)["timestamp"], 16)
        # After 35 days: on track (due day 100), reminder (40), warning (20), demand (2),
        # fulfilled (60, reported and confirmed now).
        plan = {"on track": (UNIT_CN, gov, ent, 100), "reminder": (UNIT_CN, gov, ent, 40),
                "warning": (UNIT_LAND, ent, gov, 20), "demand": (UNIT_LAND, ent, gov, 2),
                "fulfilled": (UNIT_CN, ent, gov, 60)}
        ids = {}
        for status, (unit, obligor, counterparty, days) in plan.items():
            added = cli.run("commitment", "add", "--agreement", AGREEMENT, "--clause", f"{status} clause, \"quoted\"",
                            "--side", "government" if obligor == gov else "enterprise", "--unit", unit,
                            "--obligor", obligor, "--counterparty", counterparty, "--deadline", str(t0 + days * DAY),
                            "--json", key="center")
            ids[status] = added.json()["id"]
        evidence = base / "acceptance.pdf"
        evidence.write_bytes(b"%PDF-1.7 acceptance")
        cli.run("commitment", "fulfil", str(ids["fulfilled"]), "--evidence", evidence, key="ent")
        cli.run("commitment", "confirm", str(ids["fulfilled"]), key="gov")
        rpc(node.url, "evm_increaseTime", 35 * DAY)
        tokens = {name: issued["token"] for name, issued in issue_tokens(node.data_dir, {
            "regulator": ["--role", "regulator"], "notary": ["--role", "notary"],
            "party": ["--role", "party", "--address", gov]}).items()}
        desk = Desk(node, cli, tokens, ids)
        desk.escalate()
        yield desk
    finally:
        node.stop()


# -- the routes ------------------------------------------------------------------------------


def test_counts_agree_with_the_report_in_all_and_per_unit_and_person(desk: Desk) -> None:
    counts = desk.json("/v1/commitments/counts")
    report = desk.json("/v1/commitments/report")
    assert counts["at"] == report["at"]
    assert {k: counts["totals"][k] for k in report["totals"]} == report["totals"]
    assert {s: counts["totals"][s] for s in STATUSES} == dict.fromkeys(STATUSES, 1)
    assert (counts["totals"]["alerts"], counts["totals"]["supervisions"]) == (3, 1)
    by_unit = {row["unit"]: row for row in counts["items"]}
    assert set(by_unit) == {UNIT_CN, UNIT_LAND}
    for row in report["units"]:
        assert {k: by_unit[row["unit"]][k] for k in row} == row
    people = desk.json("/v1/commitments/counts", by="obligor")
    by_person = {row["obligor"].lower(): row for row in people["items"]}
    gov, ent = address_of("gov").lower(), address_of("ent").lower()
    assert (by_person[gov]["on track"], by_person[gov]["reminder"], by_person[gov]["total"]) == (1, 1, 2)
    assert (by_person[ent]["warning"], by_person[ent]["demand"], by_person[ent]["fulfilled"]) == (1, 1, 1)
    assert desk.get("/v1/commitments/counts", by="person").status_code == 400


def test_activity_counts_each_day(desk: Desk) -> None:
    activity = desk.json("/v1/commitments/activity", days=40)
    days = activity["days"]
    assert len(days) == 40 and days[-1]["start"] <= activity["at"] < days[-1]["start"] + DAY
    assert sum(d["added"] for d in days) == 5 and sum(d["fulfilled"] for d in days) == 1
    assert days[-1]["open"] == 4 and days[-1]["fulfilledTotal"] == 1
    raised = desk.json("/v1/commitments/counts")["totals"]["alertsRaised"]
    assert sum(d["reminder"] + d["warning"] + d["demand"] for d in days) == raised >= 3
    assert desk.get("/v1/commitments/activity", days=367).status_code == 400


def read_csv(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_export_is_csv_with_readable_dates_and_the_lists_filters(desk: Desk) -> None:
    answer = desk.get("/v1/commitments/export.csv", tz="+08:00")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"].startswith('attachment; filename="commitments-')
    rows = read_csv(answer.content)
    assert sorted(int(r["id"]) for r in rows) == sorted(desk.ids.values())
    for row in rows:
        assert ISO_WITH_OFFSET.match(row["deadline"]) and row["deadline"].endswith("+08:00"), row
        assert ISO_WITH_OFFSET.match(row["created"]), row
    by_id = {int(r["id"]): r for r in rows}
    assert by_id[desk.ids["reminder"]]["responsibleUnit"] == UNIT_CN
    assert by_id[desk.ids["demand"]]["clause"] == 'demand clause, "quoted"'
    assert by_id[desk.ids["fulfilled"]]["status"] == "fulfilled" and by_id[desk.ids["fulfilled"]]["fulfilled"]
    demand = read_csv(desk.get("/v1/commitments/export.csv", status="demand").content)
    assert [int(r["id"]) for r in demand] == [desk.ids["demand"]] and demand[0]["deadline"].endswith("+00:00")
    zh = desk.get("/v1/commitments/export.csv", lang="zh").content.decode("utf-8-sig")
    assert zh.startswith("编号,协议,条款")
    for bad in ({"status": "late"}, {"tz": "+25:00"}, {"due_before": "yesterday"}):
        assert desk.get("/v1/commitments/export.csv", **bad).status_code == 400, bad


@pytest.mark.parametrize("path", ["/v1/commitments/counts", "/v1/commitments/activity", "/v1/commitments/export.csv"])
def test_party_and_notary_tokens_are_refused_and_a_regulator_is_not(desk: Desk, path: str) -> None:
    for role in ("party", "notary"):
        refused = desk.get(path, role)
        assert refused.status_code == 403, (role, refused.text)
        assert "commitments:read" in refused.json()["error"]
    assert desk.get(path, "regulator").status_code == 200


# -- the page --------------------------------------------------------------------------------



def _signed_in(context: Any, desk: Desk, role: str) -> None:
    answer = context.request.post(desk.node.url + "/web/session", data={"token": desk.tokens[role]})
    assert answer.ok, answer.text()


def _open_dashboard(page: Any, desk: Desk) -> None:
    page.goto(desk.node.url + "/#supervision")
    page.wait_for_selector("body[data-console=ready]")
    page.wait_for_selector("#page-supervision #sv-headline", timeout=15_000)
    page.wait_for_selector("body[data-state=done]")


def test_the_dashboard_as_a_regulator(desk: Desk, tmp_path: Path) -> None:
    report = desk.json("/v1/commitments/report")["totals"]
    with browser() as launched:
        context, elsewhere = node_only_context(launched, desk.node.url)
        _signed_in(context, desk, "regulator")
        page = context.new_page()
        _open_dashboard(page, desk)
        # 1. The headline and the status cards are the report's numbers.
        shown = {key: int(page.inner_text(f"#sv-headline [data-count={key}] strong"))
                 for key in ("commitments", "alerts", "supervisions")}
        assert shown == {"commitments": report["total"], "alerts": report["alerts"],
                         "supervisions": report["supervisions"]}
        for status in STATUSES:
            assert int(page.inner_text(f'#sv-statuses [data-status="{status}"] strong')) == report[status]
        # 2. The overdue lists: the overdue commitment in each, with a readable deadline.
        demand_rows = page.locator("#sv-overdue-demand tbody tr")
        assert demand_rows.count() == 1 and f"#{desk.ids['demand']}" in demand_rows.inner_text()
        deadline = page.inner_text("#sv-overdue-demand td[data-key=deadline]")
        assert READABLE.match(deadline.strip()), deadline
        assert f"#{desk.ids['warning']}" in page.inner_text("#sv-overdue-warning")
        assert str(desk.ids["reminder"]) not in page.inner_text("#sv-overdue-warning tbody td[data-key=id]")
        # 3. Per unit (the Chinese name as given) and per person; the chart with its numbers.
        assert UNIT_CN in page.inner_text("#sv-units")
        assert page.locator("#sv-people tbody tr").count() == 2
        label = page.get_attribute("#sv-chart-svg", "aria-label") or ""
        assert "30" in label and page.locator("#sv-chart-svg rect.bar").count() >= 1
        screenshot(page, "supervision-regulator", tmp_path)
        # 4. The live feed: a new alert appears without a reload.
        page.wait_for_selector("#sv-feed-state[data-live=true]", timeout=15_000)
        assert page.locator("#sv-feed li.sv-event").count() == 0
        rpc(desk.node.url, "evm_increaseTime", 6 * DAY)  # the reminder one is now overdue: warning
        desk.escalate()
        alert = f'#sv-feed li[data-event=CommitmentAlert][data-id="{desk.ids["reminder"]}"]'
        page.wait_for_selector(alert, timeout=20_000)
        assert READABLE.match(page.inner_text(f"{alert} time").strip())
        assert page.locator(alert).count() == 1
        # 5. The CSV download, read back with the csv module.
        with page.expect_download() as info:
            page.click("#sv-export")
        body = Path(info.value.path()).read_bytes()
        rows = read_csv(body)
        assert len(rows) == 5 and all(ISO_WITH_OFFSET.match(r["deadline"]) for r in rows)
        # 5b. In Chinese: the page's words, the same numbers.
        page.click("#lang")
        page.wait_for_selector("#page-supervision #sv-headline")
        assert "项承诺" in page.inner_text("#sv-headline")
        screenshot(page, "supervision-regulator-zh", tmp_path)
        context.close()
    assert elsewhere == []


def test_the_dashboard_refuses_a_party(desk: Desk, tmp_path: Path) -> None:
    with browser() as launched:
        context, elsewhere = node_only_context(launched, desk.node.url)
        _signed_in(context, desk, "party")
        page = context.new_page()
        page.goto(desk.node.url + "/#supervision")
        page.wait_for_selector("body[data-console=ready]")
        page.wait_for_selector("body[data-state=done]")
        text = page.inner_text("#view")
        assert page.locator("#sv-headline").count() == 0
        assert page.locator("#nav a[data-page=supervision]").count() == 0
        assert "712" not in text and str(desk.ids["demand"]) not in text
        screenshot(page, "supervision-party", tmp_path)
        context.close()
    assert elsewhere == []
