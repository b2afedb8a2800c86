"""The Chain page (node/web/static/js/chain.js) in a real browser on a real node that
requires tokens, signed in through the session cookie (POST /web/session): as an auditor,
the height, the chain id and crypto profile, the validators with their organisations, recent blocks, a transaction with
its decoded events, members and CA roots, and "Verify now" run to its result; as a
regulator, no "Verify now" and an evidence transaction's events withheld. Every request
but the node's own is blocked. Screenshots: tmp_path and test-artifacts/screenshots/."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_rest_chain import VALIDATOR_ORGANISATION, Desk, build_chain_desk
from tests.unit.web.browser import ConsoleVisit, screenshot

pytestmark = pytest.mark.slow

# How long the page may take to answer (a deadline, not a measurement).
WAIT_MS = 30_000
# A verification of this short chain, worker start included (a deadline).
VERIFY_WAIT_MS = 60_000


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    built = build_chain_desk(tmp_path_factory.mktemp("console-chain"))
    try:
        yield built
    finally:
        built.net.node.stop()


class Visit(ConsoleVisit):
    """The Chain page, signed in as one role."""

    page_id = "chain"

    def __init__(self, launched: Any, desk: Desk, role: str) -> None:
        super().__init__(launched, desk.net.url, desk.tokens[role])


def test_an_auditor_walks_the_chain_and_verifies_it(launched: Any, desk: Desk, tmp_path: Path) -> None:
    visit = Visit(launched, desk, "AUDITOR")
    try:
        page = visit.show("chain")
        assert page.locator("nav a[data-page=chain]").count() == 1
        head = desk.ok("/v1/blocks?limit=1")["items"][0]["number"]
        assert int(page.inner_text("#chain-height")) >= head
        # the chain's identity: its id and the crypto profile genesis fixed (mixed here)
        assert page.inner_text("#chain-id") == str(desk.ok("/v1/summary")["chainId"])
        assert page.locator("#chain-profile [data-profile=mixed]").count() == 1
        assert "RSA, ECDSA and SM2" in page.inner_text("#chain-profile")
        assert VALIDATOR_ORGANISATION in page.inner_text("#validators")
        blocks = page.locator("#blocks tbody tr")
        assert blocks.count() == min(20, head + 1)
        assert VALIDATOR_ORGANISATION in page.inner_text("#blocks")
        first_row = page.inner_text("#blocks tbody tr >> nth=0")
        assert "(UTC" in first_row  # times readable, never raw seconds
        # digests on one line, full value in title=
        cell = page.locator("#blocks td[data-key=hash] .hex").first
        assert cell.get_attribute("data-value").startswith("0x") and "…" in cell.inner_text()
        screenshot(page, "chain-auditor", tmp_path)

        # a write by the session cookie without its CSRF token is refused, and starts nothing
        refused = page.evaluate("""async () => { const r = await fetch("/v1/chain/verifications",
            {method: "POST", credentials: "same-origin"}); return [r.status, await r.json()]; }""")
        assert refused[0] == 403 and "CSRF" in refused[1]["error"], refused
        assert desk.ok("/v1/chain/verifications/last")["running"] is None
        # "Verify now" (console.js sends the token): the run's progress, then its verdict
        assert page.locator("#verify-now").count() == 1
        page.click("#verify-now")
        page.wait_for_selector("#verification[data-state=valid]", timeout=VERIFY_WAIT_MS)
        assert "VALID" in page.inner_text("#verification-message")
        assert "/" in page.inner_text("#verification-blocks")
        screenshot(page, "chain-verified-auditor", tmp_path)

        # a block, then a transaction with its decoded events
        page = visit.show(f"chain/block/{desk.blocks['P-1']}")
        assert desk.txs["P-1"] in [c.get_attribute("data-value") for c in page.locator("#transactions .hex").all()]
        page.click(f"#transactions a[href='#chain/tx/{desk.txs['P-1']}']")
        page.wait_for_selector("#events", timeout=WAIT_MS)
        events = page.inner_text("#events")
        assert "ContractRegistered" in events and "P-1" in events and "ContractRegistry" in page.inner_text("#tx-to")
        assert page.locator("#withheld").count() == 0
        screenshot(page, "chain-tx-auditor", tmp_path)

        page = visit.show("chain/members")
        members = page.inner_text("#members")
        assert VALIDATOR_ORGANISATION in members and desk.genesis_ca.root.subject.rfc4514_string() in members
        assert "ADMIN" in members and "TRADING_CENTER" in members
        screenshot(page, "chain-members-auditor", tmp_path)
        page = visit.show("chain/roots")
        roots = page.inner_text("#roots")
        for ca in (desk.genesis_ca, desk.added_ca):
            assert ca.root.subject.rfc4514_string() in roots
        assert "RSA 2048" in roots and "EC P-256" in roots
        screenshot(page, "chain-roots-auditor", tmp_path)

        # the same page in Chinese
        page.click("#lang")
        page.wait_for_selector("body[data-state=done]", timeout=WAIT_MS)
        assert "受信任的 CA 根证书" in page.inner_text("#page-chain")
        screenshot(page, "chain-roots-auditor-zh", tmp_path)
        page = visit.show("chain")
        assert "混合" in page.inner_text("#chain-profile")
    finally:
        visit.close()


def test_a_regulator_sees_no_verify_button_and_no_evidence_events(launched: Any, desk: Desk, tmp_path: Path) -> None:
    visit = Visit(launched, desk, "REGULATOR")
    try:
        page = visit.show("chain")
        assert VALIDATOR_ORGANISATION in page.inner_text("#validators")
        assert page.locator("#verify-now").count() == 0
        page = visit.show(f"chain/tx/{desk.txs['evidence']}")
        assert page.locator("#withheld").count() == 1
        assert "Anchored" not in page.inner_text("#events") and "IP-2026-9" not in page.content()
        screenshot(page, "chain-tx-regulator", tmp_path)
        page = visit.show(f"chain/tx/{desk.txs['P-2']}")
        assert "ContractRegistered" in page.inner_text("#events")
    finally:
        visit.close()
