"""The evidence certificate of a receipt that carries an RFC 3161 token: the TSA's time,
subject and serial come from the verified token (`Verified.trusted_time`), stated beside
the block time; a token that was not checked is said to be so, with no time; a `tsa`
argument that contradicts the verified token is refused. The page also names the chain
(name, id, genesis hash) and the submitting account, and a consortium of four with a TSA
time still fits two pages, signature block included.

Receipts and the issuer are test_evidence_pdf.py's (a chain of four fixed validator
keys); tokens come from the TSA code with fixed keys (tests/tsa.py).
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from client.credentials import CertificateIdentity
from client.evidence_pdf import CertificatePdfError, read_embedded_receipt
from evidence import digest as digests
from evidence.receipt import STEPS, Receipt, verify_receipt
from tests import tsa
from tests.unit.client import test_evidence_pdf as base
from tests.unit.client.test_evidence_pdf import CONTENT, Anchored, _render, _text

# test_evidence_pdf's fixtures, used here under the same names: its chain and its issuer.
anchored = base.anchored
issuer = base.issuer

# The client asks the TSA before it sends the transaction: its time is a little earlier.
LEAD = timedelta(seconds=1, milliseconds=750)
needs_pdftotext = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) is not installed")


@pytest.fixture(scope="module")
def stamped(anchored: Anchored) -> dict[str, Any]:
    receipt = anchored.single
    verified = verify_receipt(receipt, anchored.genesis, CONTENT)
    at = datetime.fromtimestamp(verified.timestamp, UTC) - LEAD
    token = tsa.consortium().token(receipt.digest, at)
    receipt = dataclasses.replace(receipt, timestamp_token=token)
    return {"receipt": receipt, "at": at,
            "verified": verify_receipt(receipt, anchored.genesis, CONTENT, tsa_roots=[tsa.consortium().root]),
            "unchecked": verify_receipt(receipt, anchored.genesis, CONTENT)}


def _write(pdf: bytes, tmp_path: Path) -> Path:
    path = tmp_path / "certificate.pdf"
    path.write_bytes(pdf)
    return path


@needs_pdftotext
def test_the_verified_token_states_the_tsa_time_beside_the_block(stamped: dict[str, Any], issuer: CertificateIdentity,
                                                                  tmp_path: Path) -> None:
    verified = stamped["verified"]
    assert verified.trusted_time_status == "verified"
    # What `ledger evidence certificate` gives: the SHA-256 and SM3 digests, the eleven steps.
    pdf = _render(stamped["receipt"], verified, CONTENT, "capture.png", issuer, tsa=None,
                  file_digests={"sha256": hashlib.sha256(CONTENT).hexdigest(),
                                "sm3": digests.digest_bytes(CONTENT, "sm3").hex()},
                  steps=[(step, "通过 passed") for step in STEPS])
    text = " ".join(_text(_write(pdf, tmp_path)).split())
    at: datetime = stamped["at"]
    assert f"{at:%Y-%m-%dT%H:%M:%S}Z UTC" in text and "1.75 s before the block time" in text
    assert "CN=Consortium TSA,O=某某公共资源交易中心" in text and "token serial number 1" in text
    tokens = text.split()
    assert "0x" + verified.genesis_hash.hex() in tokens and "0x" + verified.submitter.hex() in tokens
    assert f"{verified.chain_name}（{verified.chain_id}）" in text
    # Four validators, a TSA time, the steps: two pages, the signature block on the second
    # (a longer certificate keeps section 7 and the signature block together on the next).
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 2
    # The receipt inside carries the token, and verifies with the TSA's root from the PDF alone.
    inside = Receipt.parse_text(read_embedded_receipt(pdf))
    assert inside.timestamp_token == stamped["receipt"].timestamp_token


@needs_pdftotext
def test_a_token_not_checked_is_said_so_and_its_time_is_not_stated(stamped: dict[str, Any], issuer: CertificateIdentity,
                                                                    tmp_path: Path) -> None:
    unchecked = stamped["unchecked"]
    assert unchecked.trusted_time_status == "not checked"
    pdf = _render(stamped["receipt"], unchecked, CONTENT, "capture.png", issuer, tsa=None)
    text = " ".join(_text(_write(pdf, tmp_path)).split())
    assert "not checked (no TSA root was given)" in text
    assert f"{stamped['at']:%Y-%m-%dT%H:%M:%S}" not in text


def test_a_tsa_argument_that_contradicts_the_verified_token_is_refused(stamped: dict[str, Any],
                                                                      issuer: CertificateIdentity) -> None:
    with pytest.raises(CertificatePdfError, match="the verified token") as caught:
        _render(stamped["receipt"], stamped["verified"], CONTENT, "capture.png", issuer,
                tsa=(stamped["at"] - timedelta(hours=1), "CN=Consortium TSA,O=某某公共资源交易中心"))
    assert caught.value.step == "inputs"
    # The same time and subject as the token: accepted.
    checked = stamped["verified"].trusted_time
    assert _render(stamped["receipt"], stamped["verified"], CONTENT, "capture.png", issuer,
                   tsa=(checked.time, checked.tsa_subject))
