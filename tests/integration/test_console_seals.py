"""Seals in the console, in chromium, on a real node that requires tokens, after a real
story (tests/integration/seal_desk.py): the Contracts page shows each PDF signature's
seal — name, short id with copy, status badge — and the bidder's seal, revoked after it
signed, with a visible notice in English and Chinese; the Chain page lists the seals and
shows one with its approvals and revocation; an admin approves the seal still waiting,
from the Administration page, with its own key. Screenshots: seals-*.png."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.permissioned import account_key, address_of
from tests.integration.seal_desk import SEAL_NAMES, SealDesk, build_seal_desk, cms_of, revision_of, seal_of
from tests.unit.web.browser import PAGE_WAIT_MS, ConsoleVisit, screenshot

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def seals(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SealDesk]:
    built = build_seal_desk(tmp_path_factory.mktemp("console-seals"))
    try:
        yield built
    finally:
        built.desk.net.node.stop()


class Visit(ConsoleVisit):
    """The console signed in with one role's token; `on(page)` says which page `show` waits for."""

    def __init__(self, launched: Any, seals: SealDesk, who: str) -> None:
        super().__init__(launched, seals.url, seals.tokens[who])
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def on(self, page_id: str) -> Visit:
        self.page_id = page_id
        return self


def seal_box(page: Any, name: str) -> Any:
    """The seal cell of party `name`'s signature in the parties table."""
    return page.locator(f"#contract-parties .seal[data-seal='0x{seal_of(name).hex()}']")


def test_the_contract_page_shows_each_signatures_seal_and_the_revoked_seals_notice(
        launched: Any, seals: SealDesk, tmp_path: Path) -> None:
    visit = Visit(launched, seals, "TRADING_CENTER").on("contracts")
    try:
        page = visit.show(f"contracts/{seals.pdf_contract}")
        parties = page.inner_text("#contract-parties")
        assert SEAL_NAMES["tenderer"] in parties and SEAL_NAMES["bidder"] in parties
        tenderer, bidder = seal_box(page, "tenderer"), seal_box(page, "bidder")
        assert tenderer.get_attribute("data-problems") == "none"
        assert tenderer.locator(".seal-status").get_attribute("data-status") == "Approved"
        assert tenderer.locator(".seal-status").inner_text() == "approved"
        # the seal id, short, with the whole value and a copy button
        assert tenderer.locator(f".hex[data-value='0x{seal_of('tenderer').hex()}'] button.copy").count() == 1
        # revoked after the bidder signed: a notice, in words and colour (the signature stands)
        assert bidder.get_attribute("data-problems") == "notice"
        assert bidder.locator(".seal-status").inner_text() == "revoked"
        notice = bidder.locator(".seal-warning.notice")
        assert "Notice: this seal was revoked after the signature" in notice.inner_text()
        assert f"block {seals.blocks['revoked']}" in notice.inner_text()
        assert notice.evaluate("e => getComputedStyle(e).backgroundColor") not in ("rgba(0, 0, 0, 0)", "transparent")
        assert bidder.locator(".seal-warning.error").count() == 0
        # the timeline: each PDF signature with its revision and CMS digests
        timeline = page.locator("#contract-timeline")
        assert timeline.locator("td[data-key=event]", has_text="PDF signed").count() == 2
        for name in ("tenderer", "bidder"):
            for value in (revision_of(name), cms_of(name)):
                assert timeline.locator(f".pdf-digests .hex[data-value='0x{value.hex()}']").count() == 1
        screenshot(page, "seals-contract-trading_center", tmp_path)
        # the same in Chinese
        page.click("#lang")
        page.locator("#contract-parties .seal-warning.notice", has_text="被撤销").wait_for(timeout=PAGE_WAIT_MS)
        parties = page.inner_text("#contract-parties")
        assert "提示：" in parties and "已撤销" in parties and "已批准" in parties
        screenshot(page, "seals-contract-trading_center-zh", tmp_path)
        page.click("#lang")
        # a contract signed without a PDF shows no seal
        page = visit.show(f"contracts/{seals.desk.contracts['P-2026-001']}")
        assert page.locator("#contract-parties td[data-key=signed]").count() == 2
        assert page.locator("#page-contracts .seal, #page-contracts .pdf-digests").count() == 0
    finally:
        visit.close()
    assert visit.errors == []


# The chain's own rules (ContractRegistry.sign_pdf needs SealRegistry.usable) keep a node from
# ever serving these flags for a real signature; the page must still word each one. The node's
# real answer is altered in flight, flag by flag, and nothing else.
ALTERED_FLAGS: dict[str, tuple[dict[str, Any], str]] = {
    "not-yet-approved": ({"sealStatusAtSigning": "not-yet-approved"}, "was not approved when the signature was made"),
    "revoked-before-signing": ({"sealStatusAtSigning": "revoked-before-signing"}, "had been revoked before the signature"),
    "not the signer's": ({"sealMatchesSigner": False}, "is not the signer's"),
    "unregistered": ({"sealStatusAtSigning": "unregistered", "sealMatchesSigner": False, "seal": None},
                     "no seal with this id is registered"),
}


def test_the_page_words_each_warning_the_node_may_serve_as_an_error(launched: Any, seals: SealDesk,
                                                                    tmp_path: Path) -> None:
    visit = Visit(launched, seals, "TRADING_CENTER").on("contracts")
    chosen: dict[str, Any] = {}

    def alter(route: Any) -> None:
        answer = route.fetch()
        body = answer.json()
        body["signatures"][0].update(chosen)  # the tenderer's signature
        route.fulfill(response=answer, body=json.dumps(body))

    visit.page.route(f"**/v1/contracts/{seals.pdf_contract}/parties", alter)
    try:
        for label, (flags, words) in ALTERED_FLAGS.items():
            chosen.clear()
            chosen.update(flags)
            page = visit.show(f"contracts/{seals.pdf_contract}")
            tenderer = seal_box(page, "tenderer")
            assert tenderer.get_attribute("data-problems").split()[0] == "error", label
            warning = tenderer.locator(".seal-warning.error").first
            assert warning.get_attribute("role") == "alert"
            assert warning.inner_text().startswith("Warning:") and words in warning.inner_text(), label
            if label == "unregistered":
                assert tenderer.locator(".seal-status").inner_text() == "unknown seal"
        screenshot(page, "seals-contract-warning", tmp_path)
    finally:
        visit.close()
    assert visit.errors == []


def test_the_chain_page_lists_the_seals_and_shows_one(launched: Any, seals: SealDesk, tmp_path: Path) -> None:
    visit = Visit(launched, seals, "REGULATOR").on("chain")
    try:
        page = visit.show("chain/seals")
        listed = page.inner_text("#seals")
        for name in SEAL_NAMES.values():
            assert name in listed
        assert "Tenderer Construction Group" in listed  # the owner by its certificate's name
        screenshot(page, "seals-chain-regulator", tmp_path)
        # filtered with the keyboard: the status, then Enter
        page.select_option("#seal-status", "Revoked")
        page.press("#seal-owner", "Enter")
        page.wait_for_url("**#chain/seals?status=Revoked", timeout=PAGE_WAIT_MS)
        # drawn again: the approved seal's row is gone
        page.locator("#seals tbody tr", has_text=SEAL_NAMES["tenderer"]).wait_for(state="detached", timeout=PAGE_WAIT_MS)
        page.wait_for_selector("body[data-page=chain][data-state=done] #seals", timeout=PAGE_WAIT_MS)
        rows = page.locator("#seals tbody tr")
        assert rows.count() == 1 and SEAL_NAMES["bidder"] in rows.inner_text()
        page.click(f"#seals a[href='#chain/seals/0x{seal_of('bidder').hex()}']")
        page.wait_for_selector("#seal-revoked", timeout=PAGE_WAIT_MS)
        assert "Winning Bidder Engineering" in page.inner_text("#seal-revoked")
        assert page.locator("#seal-state .seal-status").get_attribute("data-status") == "Revoked"
        assert page.locator("#seal-approvals tbody tr").count() == 1
        screenshot(page, "seals-chain-seal-regulator", tmp_path)
    finally:
        visit.close()
    assert visit.errors == []


def test_an_admin_approves_the_waiting_seal_from_the_administration_page(launched: Any, seals: SealDesk,
                                                                        tmp_path: Path) -> None:
    key = tmp_path / "admin.key"
    key.write_text("0x" + account_key("admin").hex() + "\n")  # as `ledger keys new` writes one
    waiting = "0x" + seal_of("outsider").hex()
    visit = Visit(launched, seals, "ADMIN").on("admin")
    try:
        page = visit.show("admin")
        page.wait_for_selector("#admin-seals .seals[data-count='1']", timeout=PAGE_WAIT_MS)
        assert SEAL_NAMES["outsider"] in page.inner_text("#admin-seals")
        assert page.locator(f"#admin-seals button[data-seal='{waiting}']").is_disabled()  # no key yet
        page.set_input_files("#admin-key-file", str(key))
        page.wait_for_selector(f"#admin-key-state[data-address='{address_of('admin')}']", timeout=PAGE_WAIT_MS)
        page.wait_for_selector(f"#admin-seals button[data-seal='{waiting}']:not([disabled])", timeout=PAGE_WAIT_MS)
        page.click(f"#admin-seals button[data-seal='{waiting}']")
        review = page.wait_for_selector("#admin-seals .tx-review[data-state=review]", timeout=PAGE_WAIT_MS)
        assert review.query_selector("[data-function]").get_attribute("data-function") == "approve"
        assert review.query_selector(f"dd[data-arg=seal] [data-value='{waiting}']") is not None
        assert SEAL_NAMES["outsider"] in review.inner_text()
        screenshot(page, "seals-admin-review", tmp_path)
        page.click("#admin-seals .tx-send")
        panel = page.wait_for_selector(
            "#admin-seals .tx-review:is([data-state=success], [data-state=failed], [data-state=rejected], "
            "[data-state=timeout])", timeout=PAGE_WAIT_MS * 3)
        assert panel.get_attribute("data-state") == "success", panel.inner_text()
        assert page.wait_for_selector("#admin-seals [data-event=SealApproved]", timeout=PAGE_WAIT_MS)
        page.wait_for_selector("#admin-seals .seals[data-count='0']", timeout=PAGE_WAIT_MS)
    finally:
        visit.close()
    assert visit.errors == []
    answer = httpx.get(f"{seals.url}/v1/seals/{waiting}", headers={"Authorization": f"Bearer {seals.tokens['ADMIN']}"},
                       timeout=30).json()
    assert answer["status"] == "Approved" and answer["approvedBy"][0]["admin"].lower() == address_of("admin").lower()
