"""bench/pdf_signing's parts: the contract it signs, the chain facts it verifies against,
pyHanko's bare signing and validation, pdfsig's verdicts and the figures. The whole
benchmark (a TSA process, every row) runs at its quick size in bench/run_all --quick
(tests/integration/test_bench_run_all.py); timings are never asserted here."""
from __future__ import annotations

import io
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.utils import CryptographyDeprecationWarning

from bench.pdf_signing import (
    Party,
    Sample,
    build_figures,
    chain_facts,
    contract_pdf,
    make_parties,
    nss_database,
    pdfsig_check,
    pdfsig_missing,
    pdfsig_verdicts,
    pyhanko_sign,
    pyhanko_signer,
    pyhanko_validate,
    rows,
)
from client.pdf_contract_checks import verify_contract_pdf
from client.pdf_contracts import SignedRevision, sign_contract_pdf
from client.pdf_signatures import ProtocolSigner

with warnings.catch_warnings():
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    from pyhanko.pdf_utils.reader import PdfFileReader

# The benchmark's clock stands still here: the CRLs' dates and the chain's block times.
NOW = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
AT = int(NOW.timestamp())


@pytest.fixture(scope="module")
def parties() -> tuple[Party, Party]:
    return make_parties(NOW)


@pytest.fixture(scope="module")
def signed(parties: tuple[Party, Party]) -> tuple[bytes, SignedRevision, SignedRevision]:
    """The 2-page contract signed by both parties at B-B, as one run of the benchmark signs it."""
    a, b = parties
    document = contract_pdf(2)
    first = sign_contract_pdf(document, a.identity, a.seal)
    return document, first, sign_contract_pdf(first.pdf, b.identity, b.seal)


def test_the_contract_has_its_pages_in_the_embedded_cjk_font() -> None:
    pdf = contract_pdf(3)
    assert pdf == contract_pdf(3)  # the fixed creation date: the same bytes every time
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    assert int(reader.root["/Pages"]["/Count"]) == 3
    for page in range(3):
        (font,) = reader.root["/Pages"]["/Kids"][page]["/Resources"]["/Font"].values()
        font = font.get_object()
        assert "WenQuanYi" in str(font["/BaseFont"]), font["/BaseFont"]
        descriptor = font["/DescendantFonts"][0]["/FontDescriptor"]
        assert "/FontFile2" in descriptor  # embedded, not left to the reader's fonts


def test_facts_built_by_hand_verify_and_the_benchmark_refuses_a_failing_verdict(
        parties: tuple[Party, Party], signed: tuple[bytes, SignedRevision, SignedRevision]) -> None:
    a, b = parties
    document, first, second = signed
    verdict = verify_contract_pdf(second.pdf, chain_facts(document, [(a, first), (b, second)], AT))
    assert verdict.ok and verdict.complete, verdict.failed
    assert [s.seal_name for s in verdict.signatures] == [a.seal_name, b.seal_name]
    # The facts in the other order name the wrong party for each signature.
    swapped = verify_contract_pdf(second.pdf, chain_facts(document, [(b, second), (a, first)], AT))
    assert not swapped.ok and swapped.failed is not None and swapped.failed.name == "parties"
    # pyHanko's own verdict on the same file; without party 2's root it is refused.
    assert pyhanko_validate(second.pdf, [a.root, b.root], None) == 2
    with pytest.raises(RuntimeError, match="not intact, valid and trusted"):
        pyhanko_validate(second.pdf, [a.root], None)


def test_bare_pyhanko_signatures_are_approvals_without_a_widget(parties: tuple[Party, Party]) -> None:
    a, b = parties
    document = contract_pdf(1)
    one = pyhanko_sign(document, pyhanko_signer(a.identity), "Signature1")
    two = pyhanko_sign(one, ProtocolSigner(b.identity), "Signature2")
    assert one.startswith(document) and two.startswith(one)
    signatures = PdfFileReader(io.BytesIO(two), strict=False).embedded_regular_signatures
    assert [s.field_name for s in signatures] == ["Signature1", "Signature2"]
    for signature in signatures:
        assert signature.docmdp_level is None  # approval, not certification
        widget = signature.sig_field
        assert [float(v) for v in widget["/Rect"]] == [0, 0, 0, 0] and "/AP" not in widget  # nothing drawn
    assert pyhanko_validate(two, [a.root, b.root], None) == 2


PDFSIG_OUTPUT = """Digital Signature Info of: contract.pdf
Signature #1:
  - Signature Field Name: Seal1
  - Signer Certificate Common Name: Party A
  - Signature Type: ETSI.CAdES.detached
  - Signature Validation: Signature is Valid.
  - Certificate Validation: Certificate is Trusted.
Signature #2:
  - Signature Field Name: Seal2
  - Signer full Distinguished Name: CN=Party B,O=Supplier: Co
  - Signature Validation: Digest Mismatch.
  - Certificate Validation: Certificate issuer isn't Trusted.
"""


def test_pdfsig_verdicts_are_read_per_signature() -> None:
    assert pdfsig_verdicts(PDFSIG_OUTPUT) == [("Signature is Valid.", "Certificate is Trusted."),
                                              ("Digest Mismatch.", "Certificate issuer isn't Trusted.")]
    assert pdfsig_verdicts("Digital Signature Info of: x.pdf\nFile 'x.pdf' does not contain any signatures\n") == []


@pytest.fixture
def signed_file(signed: tuple[bytes, SignedRevision, SignedRevision], tmp_path: Path) -> Path:
    path = tmp_path / "contract.pdf"
    path.write_bytes(signed[2].pdf)
    return path


@pytest.mark.skipif(pdfsig_missing() is not None, reason=pdfsig_missing() or "")
def test_pdfsig_trusts_the_database_roots_only(parties: tuple[Party, Party], signed_file: Path,
                                               tmp_path: Path) -> None:
    a, b = parties
    nssdir = nss_database(tmp_path / "nss", [a.root, b.root])
    pdfsig_check(signed_file, nssdir, 2)
    with pytest.raises(RuntimeError, match=r"\(exit"):
        pdfsig_check(signed_file, nssdir, 1)  # a count that differs is refused too
    # The same directory made again with party 1's root alone (as a kept --keep directory
    # is): party 2's certificate is no longer trusted.
    nssdir = nss_database(tmp_path / "nss", [a.root])
    with pytest.raises(RuntimeError, match="Certificate issuer isn't Trusted"):
        pdfsig_check(signed_file, nssdir, 2)


def test_figures_halve_the_verifications_and_pair_the_runs(parties: tuple[Party, Party]) -> None:
    a, b = parties
    samples = {key: [Sample(10.0 * run, 1.0) for run in (1, 2, 3)] for key, _, _ in rows(parties)
               if not key.startswith("pdfsig.")}  # as without pdfsig
    samples["pyhanko.sign." + a.label] = [Sample(5.0 * run, 1.0) for run in (1, 2, 3)]
    figures = {f["name"]: f for f in build_figures(samples, parties, "2-page PDF")}
    assert figures["pdf_signing.verify.B-T.total"]["runs"] == [10, 20, 30]
    assert figures["pdf_signing.verify.B-T.per_signature"]["runs"] == [5, 10, 15]
    assert figures["pdf_signing.pyhanko.validate.B-T.per_signature"]["runs"] == [5, 10, 15]
    assert "pdf_signing.pyhanko.validate.B-T.total" not in figures  # a peer's total is twice that
    assert figures[f"pdf_signing.sign.B-LT.{b.label}"]["median"] == 20
    assert figures[f"pdf_signing.ratio.sign_over_pyhanko.{a.label}"]["runs"] == [2, 2, 2]
    assert figures[f"pdf_signing.ratio.sign_over_pyhanko_protocol.{a.label}"]["runs"] == [1, 1, 1]
    assert all(f["better"] == "lower" and f["unit"] in ("ms", "×") for f in figures.values())
    assert not any(".pdfsig." in name for name in figures)  # skipped rows leave no figure
    with pytest.raises(KeyError):  # a ratio without its pyHanko row is a broken run, not a gap
        build_figures({k: v for k, v in samples.items() if k != "pyhanko.validate.B-B"}, parties, "")
