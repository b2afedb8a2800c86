"""The Verify page reads an evidence certificate PDF (client/evidence_pdf.py) in the receipt
input: its embedded receipt.json is extracted in the browser (node/web/static/js/
certificate.js, on the vendored pdf-lib) and verified as a receipt, and the page says the
PDF's own signature is not checked there. Driven in Debian's chromium, in the offline page
opened from file:// with the network blocked, through the form as a clerk uses it.

Certificates are made by render_certificate from a real receipt (a chain built in process
on LevelDB with fixed validator keys, as tests/unit/client/test_evidence_pdf.py makes
them); a tampered one carries a receipt changed after it verified, signed all the same,
and must fail at the step Python's verifier names for that receipt.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fpdf import FPDF

from client.evidence_pdf import RECEIPT_ATTACHMENT, _check_inputs, layout_certificate, read_embedded_receipt
from client.pdf_signatures import sign_pdf
from evidence.receipt import MAX_RECEIPT_DOCUMENT_BYTES, STEPS, GenesisTrust, Receipt, VerificationError, verify_receipt
from node.execution.chain import Chain
from node.storage.store import LevelStore
from node.web.pages import offline_page
from tests import pki
from tests.unit.client.test_evidence_pdf import CASE, CONTENT, GENESIS_TIME, ISSUED_AT, _render
from tests.unit.node.votechain import A, B, C, anchor_transaction, commit, make_genesis, receipt_for
from tests.unit.web.browser import browser, offline_page_open

ISSUER_CN = "存证平台 Evidence Platform"
# What the page must tell a clerk about the PDF's own signature (docs/web.md).
ISSUER_ADVICE = "ledger evidence verify cert.pdf --issuer-root"


@dataclass(frozen=True)
class Certified:
    genesis_text: str
    receipt: Receipt
    pdf: bytes
    tampered: bytes
    tampered_step: str


def _python_step(pdf: bytes, trust: GenesisTrust) -> str:
    """What `ledger evidence verify cert.pdf` finds: the embedded receipt, verified."""
    try:
        verify_receipt(Receipt.parse_text(read_embedded_receipt(pdf)), trust, CONTENT)
    except VerificationError as exc:
        return exc.step
    return "valid"


@pytest.fixture(scope="module")
def certified(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Certified]:
    store = LevelStore(tmp_path_factory.mktemp("chain") / "chain")
    try:
        genesis = make_genesis(timestamp=GENESIS_TIME)
        chain = Chain.initialise(store, genesis)
        digest = hashlib.sha256(CONTENT).digest()
        block = commit(chain, A, signers=[A, B, C], transactions=[anchor_transaction(0, digest, case=CASE)])
        receipt = receipt_for(chain, block, digest, case=CASE)
    finally:
        store.close()
    trust = GenesisTrust.from_document(genesis.document)
    verified = verify_receipt(receipt, trust, CONTENT)
    issuer = pki.p256_ca().issue(ISSUER_CN, "p256", organization="某某公共资源交易中心")
    pdf = _render(receipt, verified, CONTENT, "网页截图.png", issuer)
    # The same certificate with its receipt changed after it verified (the anchoring
    # block's hash), laid out and signed as render_certificate does.
    changed = json.loads(receipt.to_json())
    changed["anchor"]["blockHash"] = "0x" + "11" * 32
    facts = _check_inputs(receipt, verified, [(step, "通过 passed") for step in STEPS], "网页截图.png", len(CONTENT),
                          {"sha256": digest.hex()}, (None, None), [], (len(verified.signers), 3), None, ISSUED_AT,
                          issuer, None)
    unsigned, box = layout_certificate(facts, json.dumps(changed))
    tampered = sign_pdf(unsigned, issuer, box=box, reason="test")
    yield Certified(json.dumps(genesis.document), receipt, pdf, tampered, _python_step(tampered, trust))


@pytest.fixture(scope="module")
def page(certified: Certified, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, list[str]]]:
    html = tmp_path_factory.mktemp("page") / "verify.html"
    html.write_text(offline_page(certified.genesis_text), encoding="utf-8")
    with browser() as launched, offline_page_open(launched, html) as opened:
        yield opened


def _verify_in_form(opened: Any, directory: Path, pdf: bytes, name: str) -> dict[str, Any]:
    """Drop CONTENT and `pdf` into the form, press Verify; the verdict and each row's status."""
    (directory / "evidence.png").write_bytes(CONTENT)
    (directory / f"{name}.pdf").write_bytes(pdf)
    opened.set_input_files("#evidence-file", str(directory / "evidence.png"))
    opened.set_input_files("#receipt-file", str(directory / f"{name}.pdf"))
    opened.evaluate("document.body.dataset.state = ''")
    opened.click("button[type=submit]")
    opened.wait_for_selector("body[data-state=done]")
    verdict = opened.locator("#verdict")
    rows = opened.locator("#steps tbody tr")
    opened.screenshot(path=str(directory / f"{name}.png"), full_page=True)
    return {
        "valid": verdict.get_attribute("data-valid"), "failed": verdict.get_attribute("data-failed-step"),
        "rows": {rows.nth(i).get_attribute("data-step"): rows.nth(i).get_attribute("data-status")
                 for i in range(rows.count())},
        "text": opened.locator("#verify").inner_text(),
    }


def test_the_python_reader_and_verifier_accept_the_certificate(certified: Certified) -> None:
    assert json.loads(read_embedded_receipt(certified.pdf)) == json.loads(certified.receipt.to_json())
    assert certified.tampered_step == "header"


def test_a_certificate_verifies_in_the_page_and_its_signature_is_not_checked(
        certified: Certified, page: tuple[Any, list[str]], tmp_path: Path) -> None:
    opened, attempted = page
    seen = _verify_in_form(opened, tmp_path, certified.pdf, "certificate")
    assert seen["valid"] == "true" and seen["failed"] == ""
    assert seen["rows"]["embedded receipt"] == "passed"
    assert seen["rows"]["issuer signature"] == "not checked"
    assert seen["rows"]["commit seals"] == "passed" and seen["rows"]["file"] == "passed"
    assert ISSUER_ADVICE in seen["text"]
    assert attempted == []


def test_a_tampered_embedded_receipt_fails_at_pythons_step(
        certified: Certified, page: tuple[Any, list[str]], tmp_path: Path) -> None:
    opened, _ = page
    seen = _verify_in_form(opened, tmp_path, certified.tampered, "tampered")
    assert seen["valid"] == "false" and seen["failed"] == certified.tampered_step
    assert seen["rows"][certified.tampered_step] == "failed"
    assert seen["rows"]["issuer signature"] == "not checked"


def _pdf(*attachments: tuple[str, bytes]) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    for name, data in attachments:
        pdf.embed_file(bytes=data, basename=name, compress=True)
    return bytes(pdf.output())


@pytest.mark.parametrize(("name", "pdf", "reason"), [
    ("no attachments", _pdf(), "the PDF has no embedded files"),
    ("another attachment", _pdf(("other.json", b"{}")), f"the PDF has no {RECEIPT_ATTACHMENT} attachment"),
    ("inflates past the cap", _pdf((RECEIPT_ATTACHMENT, b" " * (MAX_RECEIPT_DOCUMENT_BYTES + 1))),
     f"the receipt exceeds {MAX_RECEIPT_DOCUMENT_BYTES} bytes"),
    ("not a pdf past its header", b"%PDF-1.7\n" + b"garbage " * 100, "not a readable PDF"),
])
def test_a_pdf_without_a_readable_receipt_says_so(name: str, pdf: bytes, reason: str,
                                                   page: tuple[Any, list[str]], tmp_path: Path) -> None:
    opened, _ = page
    seen = _verify_in_form(opened, tmp_path, pdf, name.replace(" ", "_"))
    assert seen["valid"] == "false" and seen["failed"] == "embedded receipt"
    assert seen["rows"]["embedded receipt"] == "failed" and seen["rows"]["chain"] == "not run"
    assert reason in seen["text"]


def test_a_pdf_over_the_size_cap_is_refused_before_it_is_parsed(page: tuple[Any, list[str]]) -> None:
    opened, _ = page
    result = opened.evaluate("""async () => {
      const { verifyDocument, MAX_CERTIFICATE_PDF_BYTES } = await import("ledger/certificate.js");
      const pdf = new Uint8Array(MAX_CERTIFICATE_PDF_BYTES + 1);
      pdf.set(new TextEncoder().encode("%PDF-1.7\\n"));
      const r = await verifyDocument({ receiptText: pdf, genesisText: "{}", file: null });
      return [r.failedStep, r.reason, MAX_CERTIFICATE_PDF_BYTES];
    }""")
    assert result == ["embedded receipt", f"{16 * 1024 * 1024 + 1} bytes exceeds {16 * 1024 * 1024}", 16 * 1024 * 1024]
