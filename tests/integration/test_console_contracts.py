"""The Contracts page (node/web/static/js/contracts.js) in a real browser, on a real node
that requires tokens, signed in through the session cookie (POST /web/session) as each
role: what it must show — parties by name and CA, the signature timeline with each
certificate's subject and issuer, linked evidence, the sealed document opened in the page
with the party's key file — and what it must not (another party's contract, evidence to a
regulator, the key in any request)."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.web.pages import PAGE_MODULES, PAGE_STYLES
from tests.integration.contract_desk import DOCUMENT, ContractDesk, build_contract_desk
from tests.unit.web.browser import ConsoleVisit, screenshot

pytestmark = pytest.mark.slow

# How long the page may take to answer (a deadline, not a measurement).
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContractDesk]:
    built = build_contract_desk(tmp_path_factory.mktemp("console-contracts"))
    try:
        yield built
    finally:
        built.net.node.stop()


class Visit(ConsoleVisit):
    """The Contracts page, signed in with one token; blob: URLs are the page's own downloads."""

    page_id = "contracts"

    def __init__(self, launched: Any, desk: ContractDesk, who: str) -> None:
        self.desk = desk
        super().__init__(launched, desk.url, desk.tokens[who], schemes=("data:", "blob:"))

    def screenshot(self, tmp_path: Path, role: str) -> None:
        screenshot(self.page, f"contracts-{role}", tmp_path)


def text_of(page: Any, selector: str) -> str:
    return str(page.inner_text(selector))


def test_the_page_is_in_the_shell() -> None:
    assert "contracts.js" in PAGE_MODULES and "contracts.css" in PAGE_STYLES


def test_trading_center_searches_and_follows_a_contract(launched: Any, desk: ContractDesk, tmp_path: Path) -> None:
    visit = Visit(launched, desk, "TRADING_CENTER")
    try:
        page = visit.show("contracts?project=P-2026-001")
        results = text_of(page, "#contract-results")
        assert "Tenderer Construction Group" in results and "Winning Bidder Engineering" in results
        assert "P-2026-002" not in results
        assert "Effective" in results
        # a search the API cannot answer in one index says so instead of failing
        page = visit.show("contracts?project=P-2026-001&status=Pending")
        assert "one index per query" in text_of(page, "#one-index")
        # the contract: parties by name and CA, the signatures with their certificates
        page = visit.show("contracts?project=P-2026-001")
        page.click(f"#contract-results a[href='#contracts/{desk.contracts['P-2026-001']}']")
        page.wait_for_selector("#contract-timeline", timeout=WAIT_MS)
        parties = text_of(page, "#contract-parties")
        for expected in ("Tenderer Construction Group", "Tenderer Construction Group Ltd", "Province CA Signing (P-256)",
                         "Province CA Root (P-256)", "Winning Bidder Engineering", "Trading Center CA (RSA)"):
            assert expected in parties, expected
        timeline = text_of(page, "#contract-timeline")
        for expected in ("Registered", "Signed", "Effective", "CN=Tenderer Construction Group",
                         "CN=Province CA Signing (P-256)", "CN=Winning Bidder Engineering"):
            assert expected in timeline, expected
        assert page.locator("#contract-timeline a[href^='#chain/tx/0x']").count() >= 4
        assert "contract" in text_of(page, "#contract-evidence")  # the anchored document, kind "contract"
        assert page.locator("#evidence-denied").count() == 0
        assert page.locator("td .hex").first.evaluate("e => e.getBoundingClientRect().height < 40")  # one line
        visit.screenshot(tmp_path, "trading_center")
    finally:
        visit.close()


def test_a_regulator_sees_the_contract_and_is_told_it_sees_no_evidence(launched: Any, desk: ContractDesk,
                                                                      tmp_path: Path) -> None:
    visit = Visit(launched, desk, "REGULATOR")
    try:
        page = visit.show(f"contracts/{desk.contracts['P-2026-001']}")
        assert "Province CA Signing (P-256)" in text_of(page, "#contract-parties")
        assert "evidence:read" in text_of(page, "#evidence-denied")
        assert page.locator("#contract-evidence table").count() == 0
        assert not any("/v1/evidence" in r.url for r in visit.requests)  # it did not even ask
        visit.screenshot(tmp_path, "regulator")
    finally:
        visit.close()


def test_a_party_sees_its_own_contract_opens_its_document_and_not_the_others(
        launched: Any, desk: ContractDesk, tmp_path: Path) -> None:
    visit = Visit(launched, desk, "PARTY:tenderer")
    try:
        page = visit.show("contracts")
        listed = text_of(page, "#contract-results")
        assert "P-2026-001" in listed and "P-2026-002" not in listed
        page = visit.show(f"contracts/{desk.contracts['P-2026-002']}")
        assert page.locator("#page-contracts .error[data-status='403']").count() == 1
        assert "Outsider Trading" not in text_of(page, "#page-contracts")
        # its own contract, and the sealed document opened in the page with its key file
        page = visit.show(f"contracts/{desk.contracts['P-2026-001']}")
        page.fill("#envelope-name", desk.envelope)
        page.set_input_files("#key-file", str(desk.key_files["tenderer"]))
        page.click("#open-document")
        page.wait_for_selector("#document-result[data-match]", timeout=WAIT_MS)
        assert page.get_attribute("#document-result", "data-match") == "true", text_of(page, "#document-result")
        assert "matches the contract's document digest" in text_of(page, "#digest-verdict")
        assert text_of(page, "#document-preview") == DOCUMENT.decode()
        assert page.locator("#download-document[download]").count() == 1
        visit.screenshot(tmp_path, "party")
        # another party's key opens nothing: the bidder's key file is not the tenderer's... and
        # the outsider is no recipient at all
        page.set_input_files("#key-file", str(desk.key_files["outsider"]))
        page.evaluate("document.querySelector('#document-result').removeAttribute('data-match')")
        page.click("#open-document")
        page.wait_for_selector("#document-result[data-match]", timeout=WAIT_MS)
        assert page.get_attribute("#document-result", "data-match") == "error"
        assert "not a recipient" in text_of(page, "#document-result")
    finally:
        visit.close()
    # the key never left the browser: no request carried any of it
    key_text = desk.key_files["tenderer"].read_text()
    key_lines = [line for line in key_text.splitlines() if line and not line.startswith("-----")]
    for request in visit.requests:
        carried = request.url + (request.post_data or "") + json.dumps(request.headers)
        assert "PRIVATE KEY" not in carried and not any(line in carried for line in key_lines), request.url
    assert all(r.method in ("GET", "HEAD") for r in visit.requests if "/v1/" in r.url)


OPEN_IN_PAGE = """async ({envelope, pem, aad}) => {
  const m = await import("/web/static/js/envelope.js");
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  try {
    const key = await m.readPrivateKey(pem);
    const opened = await m.openEnvelope(bytes(envelope), key, [bytes(aad), new Uint8Array(0)]);
    return {content: new TextDecoder().decode(opened.content), aad: opened.aad.length};
  } catch (error) {
    return {step: error.step ?? null, message: error.message};
  }
}"""


@pytest.mark.parametrize("kind", ["p256", "p384", "secp256k1", "rsa2048"])
def test_the_page_opens_envelopes_sealed_for_each_key_type(launched: Any, desk: ContractDesk, kind: str) -> None:
    """envelope.js, written from docs/envelopes.md, opens what client/envelope.py seals: each
    key wrap, with the aad or without; a changed byte or another key is refused by step."""
    import base64

    from cryptography.hazmat.primitives import serialization

    from client.envelope import seal_envelope
    from tests import pki

    reader, other = pki.p384_ca().issue("Reader", kind), pki.p384_ca().issue("Someone else", kind)
    content = f"sealed for a {kind} key · 密封".encode()
    aad = b"\x07" * 32
    envelope = seal_envelope(content, [reader.leaf], aad=aad)

    def pem(identity: Any) -> str:
        return str(identity.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()).decode())

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    visit = Visit(launched, desk, "PARTY:tenderer")
    try:
        page = visit.page
        opened = page.evaluate(OPEN_IN_PAGE, {"envelope": b64(envelope), "pem": pem(reader), "aad": b64(aad)})
        assert opened == {"content": content.decode(), "aad": 32}
        unbound = seal_envelope(content, [reader.leaf])
        assert page.evaluate(OPEN_IN_PAGE, {"envelope": b64(unbound), "pem": pem(reader), "aad": b64(aad)})["aad"] == 0
        tampered = envelope[:-1] + bytes([envelope[-1] ^ 1])
        refused = page.evaluate(OPEN_IN_PAGE, {"envelope": b64(tampered), "pem": pem(reader), "aad": b64(aad)})
        assert refused["step"] == "content", refused
        refused = page.evaluate(OPEN_IN_PAGE, {"envelope": b64(envelope), "pem": pem(other), "aad": b64(aad)})
        assert refused["step"] == "recipient", refused
    finally:
        visit.close()
