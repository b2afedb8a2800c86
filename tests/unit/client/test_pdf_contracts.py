"""Contract PDFs signed in turn with visible seals (client/pdf_contracts.py), checked by
verify_contract_pdf against chain facts built by hand (as the orchestration builds them
from the node), and by the tools a court's expert would use: pyHanko's validator, poppler's
pdfsig with an NSS database trusting the parties' roots, and pdftoppm's rendering.

Two contracts made with fpdf2 (fixed creation date), one without signature fields and one
a template with fields for both parties; two parties under two CAs (tests/pki.py: RSA,
and P-256 with an intermediate); two seal PNGs drawn with Pillow. Three signing flows are
made once per module: B-B on the plain contract, B-T on the template against a TSA served
on 127.0.0.1 by client/tsa_server.py's code (fixed key and clock, tests/tsa.py), and B-LT
(B-T plus CRLs in a DSS). The tampers are made from those.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning
from fpdf import FPDF
from PIL import Image, ImageDraw

from client import devpki, tsa_server
from client.credentials import CertificateIdentity
from client.pdf_contract_checks import (
    DIFF_POLICY,
    MAX_APPEARANCE_BYTES,
    TSA_TOLERANCE,
    VERIFY_STEPS,
    ChainAttestation,
    ChainContract,
    ChainSeal,
    PdfVerdict,
    _draws,
    verify_contract_pdf,
)
from client.pdf_contracts import (
    DEFAULT_SEAL_MM,
    LEVELS,
    MIN_SEAL_DRAWN_MM,
    SealPosition,
    SealStampStyle,
    SignedRevision,
    _image_stream,
    _SealStamp,
    sign_contract_pdf,
)
from client.pdf_signatures import PT_PER_MM, PdfSignatureError, ProtocolSigner
from client.pdf_structure import (
    MAX_CONTRACT_PDF_BYTES,
    MAX_REVISIONS_AFTER_REGISTRATION,
    PDF_RECURSION_LIMIT,
    bounded_recursion,
    revision_prefix_digests,
    signatures_in,
)
from client.seals import SealImage, load_seal_image
from evidence import digest as digests
from tests import pki, tsa as fixed_tsa
from tests.unit.client.pdftools import (
    ForwardPointingWriter,
    RedrawingFormWriter,
    add_background_signature_field,
    add_drawing_signature_field,
    add_page,
    add_signature_field,
    add_text_field,
    append_raw_objects,
    change_in_place,
    empty_updates,
    fill_text_field,
    flip_image_byte,
    font_drawing_one_as_nine,
    needs,
    nss_database,
    pdfsig,
    point_xref_entry,
    replace_form_fonts,
    replace_seal_image,
    rewrite_page_text,
    run,
    set_form_entries,
    updated,
)

# pyHanko imports cryptography's DSA module, which warns on import (as in client/pdf_signatures.py)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    from pyhanko.pdf_utils import content, generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign import fields, signers
    from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY
    from pyhanko.sign.signers import PdfTimeStamper
    from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper
    from pyhanko.sign.validation import KeyUsageConstraints, validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

CREATED = datetime(2026, 4, 20, 9, 0, tzinfo=UTC)
# The TSA's clock, and the block times the chain records: the first party signs at
# 10:00:00, its transaction lands five seconds later; the second an hour on.
TSA_TIME = datetime(2026, 5, 1, 10, 0, 0, tzinfo=UTC)
SIGNED_AT = (int(TSA_TIME.timestamp()) + 5, int(TSA_TIME.timestamp()) + 3605)
APPROVED_AT = int(TSA_TIME.timestamp()) - 86_400
ADDRESSES = ("0x1111111111111111111111111111111111111111", "0x2222222222222222222222222222222222222222",
             "0x3333333333333333333333333333333333333333")
PARTY_FIELDS = ("PartyA", "PartyB")
RED = (230, 0, 18)


# -- fixtures: parties, seals, documents, a TSA ----------------------------------------------


@dataclass(frozen=True)
class Party:
    identity: CertificateIdentity
    seal: SealImage
    address: str
    root: x509.Certificate
    name: str

    @property
    def fingerprint(self) -> bytes:
        return hashlib.sha256(self.identity.chain[0].public_bytes(serialization.Encoding.DER)).digest()

    @property
    def root_fingerprint(self) -> bytes:
        return hashlib.sha256(self.root.public_bytes(serialization.Encoding.DER)).digest()


def seal_png(shape: str, colour: tuple[int, int, int] = RED) -> bytes:
    """A round red seal with a star or a square inside, on a transparent background."""
    image = Image.new("RGBA", (240, 240), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((6, 6, 234, 234), outline=(*colour, 255), width=14)
    if shape == "star":
        draw.regular_polygon((120, 120, 60), 5, fill=(*colour, 255))
    else:
        draw.rectangle((75, 75, 165, 165), fill=(*colour, 230))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def parties() -> tuple[Party, Party, Party]:
    a = Party(pki.rsa_ca().issue("Party A", "rsa2048", organization="Buyer Co"),
              load_seal_image(seal_png("star")), ADDRESSES[0], pki.rsa_ca().root, "Buyer Co contract seal")
    b = Party(pki.p256_ca().issue("Party B", "p256", organization="Supplier Co"),
              load_seal_image(seal_png("square")), ADDRESSES[1], pki.p256_ca().root, "Supplier Co contract seal")
    c = Party(pki.p384_ca().issue("Party C", "p384", organization="Guarantor Co"),
              load_seal_image(seal_png("star", (200, 20, 60))), ADDRESSES[2], pki.p384_ca().root,
              "Guarantor Co seal")
    return a, b, c


def contract_pdf(pages: int = 2) -> bytes:
    pdf = FPDF()
    pdf.set_creation_date(CREATED)
    pdf.set_compression(False)  # the page's text stays readable, so a tamper can change a word of it
    pdf.set_font("helvetica", size=12)
    for number in range(pages):
        pdf.add_page()
        pdf.cell(0, 10, f"Supply contract TC-2026-0042, page {number + 1} of {pages}")
        pdf.ln(12)
        pdf.multi_cell(0, 6, "The Supplier delivers the goods of Lot 3 to the Buyer. " * 8)
    return bytes(pdf.output())


def template_pdf() -> bytes:
    """The contract with an empty signature field for each party on its last page (an
    incremental update of the fpdf2 file, as a form tool would add them)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(contract_pdf()))
    for name, left in zip(PARTY_FIELDS, (60, 330)):
        fields.append_signature_field(writer, fields.SigFieldSpec(name, on_page=1, box=(left, 120, left + 150, 240)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def tsa_url() -> Iterator[str]:
    """client/tsa_server.py's server and Authority on 127.0.0.1, its clock at TSA_TIME."""
    fixed = fixed_tsa.consortium()
    with tempfile.TemporaryDirectory() as scratch:
        log = tsa_server.TokenLog(Path(scratch) / "tokens.jsonl")
        authority = tsa_server.Authority(fixed.key, fixed.cert, (fixed.cert, fixed.root),
                                         tsa_server.SerialCounter(Path(scratch) / "serial"), log,
                                         clock=lambda: TSA_TIME)
        server = tsa_server._Server(("127.0.0.1", 0), authority)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        try:
            yield tsa_server.url_of("127.0.0.1", server.server_address[1])
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)
            log.close()


@dataclass(frozen=True)
class Flow:
    """A contract signed by A then B, with what the chain would hold about it."""

    document: bytes
    first: SignedRevision
    second: SignedRevision
    contract: ChainContract
    path: Path

    @property
    def pdf(self) -> bytes:
        return self.second.pdf


def chain_seal(party: Party, **changes: Any) -> ChainSeal:
    seal = ChainSeal(seal=party.seal.digest, owner=party.address, name=party.name,
                     pixel_digest=party.seal.pixel_digest, cert_fingerprint=party.fingerprint, status="Approved",
                     approved_at=APPROVED_AT, revoked_at=0)
    return dataclasses.replace(seal, **changes)


def attestation(party: Party, index: int, signed: SignedRevision, sequence: int, signed_at: int) -> ChainAttestation:
    return ChainAttestation(party_index=index, signer=party.address, cert_fingerprint=party.fingerprint,
                            root_fingerprint=party.root_fingerprint, signed_at=signed_at, sequence=sequence,
                            revision_digest=signed.revision_digest, cms_digest=signed.cms_digest, seal=signed.seal)


def chain_facts(document: bytes, signed: list[tuple[Party, SignedRevision]], *, status: str = "Effective",
                parties: tuple[Party, ...] | None = None) -> ChainContract:
    signers = parties or tuple(p for p, _ in signed)
    return ChainContract(
        contract_id=hashlib.sha256(b"TC-2026-0042").digest(), project_code="TC-2026-0042", version=1, status=status,
        doc_digest=hashlib.sha256(document).digest(), digest_algorithm="sha256",
        parties=tuple(p.address for p in signers),
        attestations=tuple(attestation(p, signers.index(p), s, k + 1, SIGNED_AT[min(k, 1)])
                           for k, (p, s) in enumerate(signed)),
        seals={p.seal.digest: chain_seal(p) for p in signers},
        roots={p.root_fingerprint: p.root for p in signers},
    )


def make_flow(tmp: Path, name: str, document: bytes, parties: tuple[Party, Party, Party],
              **options: Any) -> Flow:
    a, b, _ = parties
    first = sign_contract_pdf(document, a.identity, a.seal, **options.get("a", {}))
    second = sign_contract_pdf(first.pdf, b.identity, b.seal, **options.get("b", {}))
    path = tmp / f"{name}.pdf"
    path.write_bytes(second.pdf)
    return Flow(document, first, second, chain_facts(document, [(a, first), (b, second)]), path)


@pytest.fixture(scope="module")
def plain(parties: tuple[Party, Party, Party], tmp_path_factory: pytest.TempPathFactory) -> Flow:
    """B-B on the contract without fields: both seals placed automatically."""
    return make_flow(tmp_path_factory.mktemp("plain"), "plain", contract_pdf(), parties)


@pytest.fixture(scope="module")
def template(parties: tuple[Party, Party, Party], tsa_url: str, tmp_path_factory: pytest.TempPathFactory) -> Flow:
    """B-T on the template: A takes the first empty field, B names its field."""
    return make_flow(tmp_path_factory.mktemp("template"), "template", template_pdf(), parties,
                     a={"timestamp_url": tsa_url, "reason": "Buyer signs"},
                     b={"timestamp_url": tsa_url, "field": "PartyB", "location": "Beijing"})


def crl_for(ca: pki.CA, serials: list[int], at: datetime) -> x509.CertificateRevocationList:
    return devpki.make_crl(ca.issuer, ca.issuer_key, serials, this_update=at, next_update=at + timedelta(days=7))


@pytest.fixture(scope="module")
def long_term(parties: tuple[Party, Party, Party], tsa_url: str, tmp_path_factory: pytest.TempPathFactory) -> Flow:
    """B-LT on the plain contract: each party embeds its CA's CRL (revoking someone else)."""
    a, b, _ = parties
    at = TSA_TIME - timedelta(hours=1)
    return make_flow(tmp_path_factory.mktemp("long-term"), "long-term", contract_pdf(), parties,
                     a={"timestamp_url": tsa_url, "crls": [crl_for(pki.rsa_ca(), [4242], at)]},
                     b={"timestamp_url": tsa_url, "crls": [crl_for(pki.p256_ca(), [4343], at)],
                        "position": SealPosition(page=0, x=120, y=200, width=42, height=42)})


def verdict_failed(verdict: PdfVerdict, step: str, *words: str) -> None:
    assert not verdict.ok and not verdict.complete
    failed = verdict.failed
    assert failed is not None, verdict
    assert failed.name == step, failed
    assert verdict.checks[-1] == failed and [c.name for c in verdict.checks] == list(VERIFY_STEPS[:len(verdict.checks)])
    for word in words:
        assert word in failed.detail, failed.detail


def roots_of(parties: tuple[Party, ...]) -> list[asn1_x509.Certificate]:
    return [asn1_x509.Certificate.load(p.root.public_bytes(serialization.Encoding.DER)) for p in parties]


def pyhanko_statuses(pdf: bytes, parties: tuple[Party, ...], policy: Any = DIFF_POLICY) -> list[Any]:
    """pyHanko's own verdict on each signature: the parties' roots for signers, the TSA's
    root for the signature time-stamps."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    tsa_root = asn1_x509.Certificate.load(fixed_tsa.consortium().root.public_bytes(serialization.Encoding.DER))
    return [validate_pdf_signature(
        signature, ValidationContext(trust_roots=roots_of(parties), allow_fetching=False),
        ts_validation_context=ValidationContext(trust_roots=[tsa_root], allow_fetching=False), diff_policy=policy,
        key_usage_settings=KeyUsageConstraints(key_usage={"digital_signature", "non_repudiation"},
                                               match_all_key_usages=False))
        for signature in reader.embedded_regular_signatures]


# -- signing and verifying -------------------------------------------------------------------


@pytest.mark.parametrize("which, level", [("plain", "B-B"), ("template", "B-T"), ("long_term", "B-LT")])
def test_two_parties_sign_in_turn_and_the_pdf_verifies(which: str, level: str, request: pytest.FixtureRequest,
                                                        parties: tuple[Party, Party, Party]) -> None:
    flow: Flow = request.getfixturevalue(which)
    a, b, _ = parties
    assert flow.first.level == flow.second.level == level and level in LEVELS
    # Each revision keeps the one before as its prefix; the digests are of the output's bytes.
    assert flow.first.pdf.startswith(flow.document) and flow.second.pdf.startswith(flow.first.pdf)
    for signed in (flow.first, flow.second):
        new = PdfFileReader(io.BytesIO(signed.pdf), strict=False).embedded_regular_signatures[-1]
        end = new.byte_range[2] + new.byte_range[3]
        assert hashlib.sha256(signed.pdf[:end]).digest() == signed.revision_digest
        assert (end == len(signed.pdf)) == (level != "B-LT")
    verdict = verify_contract_pdf(flow.pdf, flow.contract, tsa_roots=[fixed_tsa.consortium().root])
    assert verdict.ok and verdict.complete, verdict.failed
    assert [c.name for c in verdict.checks] == list(VERIFY_STEPS)
    first, second = verdict.signatures
    assert (first.index, first.signer, first.field) == (1, a.address, flow.first.field)
    assert (second.index, second.signer, second.field) == (2, b.address, flow.second.field)
    assert (first.seal, first.seal_name, second.seal) == (a.seal.digest, a.name, b.seal.digest)
    assert first.cert_fingerprint == a.fingerprint and second.subject == "CN=Party B,O=Supplier Co"
    assert second.issuer == "CN=Province CA Signing (P-256)"
    assert (first.revision_digest, first.cms_digest) == (flow.first.revision_digest, flow.first.cms_digest)
    assert (second.revision_digest, second.cms_digest) == (flow.second.revision_digest, flow.second.cms_digest)
    assert first.level == second.level == level
    assert (first.timestamp is None) == (level == "B-B")
    if first.timestamp is not None:
        assert first.timestamp == second.timestamp == TSA_TIME
    assert first.signing_time is not None and first.page == flow.first.page


def test_b_lt_digests_are_of_the_signatures_own_revision(long_term: Flow) -> None:
    """The DSS update follows the signature: the revision digest stops at the signature's
    ByteRange, and the next party's input is the file with the DSS."""
    first = long_term.first
    reader = PdfFileReader(io.BytesIO(first.pdf), strict=False)
    (signature,) = reader.embedded_regular_signatures
    end = signature.byte_range[2] + signature.byte_range[3]
    assert end < len(first.pdf) and b"/DSS" in first.pdf[end:]
    assert hashlib.sha256(first.pdf[:end]).digest() == first.revision_digest
    assert long_term.second.pdf.startswith(first.pdf)


def test_pyhanko_says_every_signature_is_intact_valid_and_trusted(plain: Flow, template: Flow, long_term: Flow,
                                                                  parties: tuple[Party, Party, Party]) -> None:
    for flow in (plain, template, long_term):
        statuses = pyhanko_statuses(flow.pdf, parties)
        assert len(statuses) == 2
        for status in statuses:
            assert status.intact and status.valid and status.trusted and status.docmdp_ok, status.pretty_print_details()
            assert status.bottom_line
    # On the template (a field per party) even pyHanko's stricter default policy agrees;
    # on the plain contract it objects to the second party's new visible field after the
    # certification, which Acrobat allows (docs/contract-pdf.md, "pyHanko's default").
    assert all(s.bottom_line for s in pyhanko_statuses(template.pdf, parties, DEFAULT_DIFF_POLICY))
    first, _ = pyhanko_statuses(plain.pdf, parties, DEFAULT_DIFF_POLICY)
    assert first.intact and first.valid and first.trusted and not first.docmdp_ok


@needs["pdfsig"]
@needs["certutil"]
def test_pdfsig_lists_every_signature_as_valid_and_trusted(plain: Flow, template: Flow, long_term: Flow,
                                                           parties: tuple[Party, Party, Party],
                                                           tmp_path: Path) -> None:
    nssdir = nss_database(tmp_path / "nss", [p.root for p in parties[:2]])
    for flow in (plain, template, long_term):
        entries = pdfsig(flow.path, nssdir)
        assert [e.common_name for e in entries] == ["Party A", "Party B"], entries
        for entry in entries:
            assert entry.signature == "Signature is Valid.", entry
            assert entry.certificate == "Certificate is Trusted.", entry
            assert entry.subfilter == "ETSI.CAdES.detached"
        # the last signature covers the whole file, except for a B-LT's DSS update after it
        assert entries[-1].total == (flow is not long_term)


# -- tampers: each refused by verify_contract_pdf, pyHanko and pdfsig -------------------------


def tampered(plain: Flow, parties: tuple[Party, Party, Party], how: str) -> bytes:
    if how == "page text changed in place":
        return change_in_place(plain.pdf, b"Lot 3", b"Lot 8")
    if how == "page added after the last signature":
        return add_page(plain.pdf)
    if how == "seal image replaced by an update":
        return replace_seal_image(plain.pdf, plain.second.field, parties[0].seal)
    if how == "seal image bytes edited in place":
        return flip_image_byte(plain.pdf, plain.second.field)
    raise AssertionError(how)


TAMPERS = {
    # what was done: (the step verify_contract_pdf names, what pdfsig says)
    # the registered document is the first revision: a change there is found before the
    # signatures are checked (no prefix hashes to the registered digest any more)
    "page text changed in place": ("registered", "mismatch"),
    "page added after the last signature": ("modifications", "not total"),
    "seal image replaced by an update": ("seals", "not total"),
    "seal image bytes edited in place": ("integrity", "mismatch"),
}


@pytest.mark.parametrize("how", list(TAMPERS))
def test_a_tamper_is_refused_by_us_and_by_pyhanko(how: str, plain: Flow, parties: tuple[Party, Party, Party]) -> None:
    step, pdfsig_says = TAMPERS[how]
    pdf = tampered(plain, parties, how)
    verdict_failed(verify_contract_pdf(pdf, plain.contract), step)
    # pyHanko: some signature is no longer intact, or what follows it is not allowed
    statuses = pyhanko_statuses(pdf, parties)
    assert not all(s.bottom_line for s in statuses)
    if pdfsig_says == "mismatch":
        assert not all(s.intact for s in statuses)
    else:
        assert all(s.intact for s in statuses) and not all(s.docmdp_ok for s in statuses)


@needs["pdfsig"]
@pytest.mark.parametrize("how", list(TAMPERS))
def test_pdfsig_sees_each_tamper(how: str, plain: Flow, parties: tuple[Party, Party, Party], tmp_path: Path) -> None:
    """pdfsig does not analyse incremental updates: an update after the last signature
    shows as no signature covering the whole document; an in-place change as a digest
    mismatch."""
    _, says = TAMPERS[how]
    path = tmp_path / "tampered.pdf"
    path.write_bytes(tampered(plain, parties, how))
    entries = pdfsig(path)
    assert len(entries) == 2
    if says == "mismatch":
        assert any(e.signature in ("Digest Mismatch.", "Signature is Invalid.") for e in entries), entries
    else:
        assert all(e.signature == "Signature is Valid." for e in entries) and not any(e.total for e in entries)


# -- the chain's facts disagree ---------------------------------------------------------------


def replace_attestation(contract: ChainContract, which: int, **changes: Any) -> ChainContract:
    """The contract with the attestation of sequence `which` changed."""
    attestations = tuple(dataclasses.replace(a, **changes) if a.sequence == which else a
                         for a in contract.attestations)
    return dataclasses.replace(contract, attestations=attestations)


def test_signatures_in_another_order_than_the_chain_recorded(plain: Flow) -> None:
    swapped = tuple(dataclasses.replace(a, sequence=3 - (a.sequence or 0)) for a in plain.contract.attestations)
    verdict = verify_contract_pdf(plain.pdf, dataclasses.replace(plain.contract, attestations=swapped))
    verdict_failed(verdict, "parties", "signature 1", "party 0", "a different order")


def test_a_cms_the_chain_did_not_record(plain: Flow) -> None:
    contract = replace_attestation(plain.contract, 2, cms_digest=hashlib.sha256(b"another CMS").digest())
    verdict_failed(verify_contract_pdf(plain.pdf, contract), "parties", "signature 2", "CMS",
                   "not the signature the chain recorded")


def test_a_revision_the_chain_did_not_record(plain: Flow) -> None:
    contract = replace_attestation(plain.contract, 1, revision_digest=hashlib.sha256(b"another revision").digest())
    verdict_failed(verify_contract_pdf(plain.pdf, contract), "parties", "signature 1", "revision")


def test_a_party_that_signed_without_a_pdf(plain: Flow) -> None:
    contract = replace_attestation(plain.contract, 2, sequence=None, revision_digest=None, cms_digest=None, seal=None)
    verdict_failed(verify_contract_pdf(plain.pdf, contract), "parties", "party 1", "without a PDF signature")


def test_an_earlier_revision_is_not_the_signed_contract(plain: Flow) -> None:
    """The file after the first party only: the chain records two signatures."""
    verdict = verify_contract_pdf(plain.first.pdf, plain.contract)
    verdict_failed(verdict, "parties", "an earlier revision: the chain records 2 signatures, this PDF carries 1")


def test_a_signature_the_chain_does_not_know(plain: Flow, parties: tuple[Party, Party, Party]) -> None:
    a, b, _ = parties
    contract = dataclasses.replace(plain.contract, attestations=plain.contract.attestations[:1], status="Pending")
    verdict_failed(verify_contract_pdf(plain.pdf, contract), "parties", "signature 2", "not one the chain records")
    # the chain's view after A alone, on the file after A alone: it holds, but is not complete
    alone = verify_contract_pdf(plain.first.pdf, contract)
    assert alone.ok and not alone.complete


def test_a_registered_document_that_is_not_the_first_revision(plain: Flow) -> None:
    """The chain's digest is of the file after the first signature: no revision before
    the first signature is that document."""
    later = dataclasses.replace(plain.contract, doc_digest=plain.first.revision_digest)
    verdict_failed(verify_contract_pdf(plain.pdf, later), "registered", "before the first signature")
    other = dataclasses.replace(plain.contract, doc_digest=hashlib.sha256(contract_pdf(pages=3)).digest())
    verdict_failed(verify_contract_pdf(plain.pdf, other), "registered")


def test_the_registered_document_under_sm3(plain: Flow) -> None:
    contract = dataclasses.replace(plain.contract, digest_algorithm="sm3",
                                   doc_digest=digests.digest_bytes(plain.document, "sm3"))
    assert verify_contract_pdf(plain.pdf, contract).ok
    # an SM3 contract's digest is not found among SHA-256 prefixes, and the reverse
    verdict_failed(verify_contract_pdf(plain.pdf, dataclasses.replace(contract, digest_algorithm="sha256")),
                   "registered")


def test_the_template_revision_is_found_among_the_prefixes(template: Flow) -> None:
    """The template is fpdf2's file plus an update adding the fields: two revisions, and
    the registered document is the second prefix."""
    prefixes = dict(revision_prefix_digests(template.pdf))
    assert prefixes[len(template.document)] == hashlib.sha256(template.document).digest()
    first_revision = template.document.index(b"%%EOF") + len(b"%%EOF")
    assert first_revision in prefixes and first_revision < len(template.document)
    assert prefixes[len(template.first.pdf)] == template.first.revision_digest
    sm3 = dict(revision_prefix_digests(template.pdf, "SM-3"))  # evidence.digest's spellings
    assert sm3[len(template.document)] == digests.digest_bytes(template.document, "sm3")
    with pytest.raises(digests.UnknownDigestAlgorithm):
        revision_prefix_digests(template.pdf, "md5")


def test_a_certificate_from_an_untrusted_root(plain: Flow, parties: tuple[Party, Party, Party]) -> None:
    """Someone signs in B's place with a certificate the chain's roots never issued: the
    chain records B, whose root does not issue this certificate."""
    a, b, _ = parties
    stranger = pki.untrusted_ca().issue("Party B", "p256", organization="Supplier Co")
    forged = sign_contract_pdf(plain.first.pdf, stranger, b.seal)
    verdict_failed(verify_contract_pdf(forged.pdf, plain.contract), "trust", "signature 2",
                   "Province CA Root (P-256)")


@needs["pdfsig"]
@needs["certutil"]
def test_pdfsig_does_not_trust_the_stranger(plain: Flow, parties: tuple[Party, Party, Party], tmp_path: Path) -> None:
    stranger = pki.untrusted_ca().issue("Stranger", "p256")
    path = tmp_path / "forged.pdf"
    path.write_bytes(sign_contract_pdf(plain.first.pdf, stranger, parties[1].seal).pdf)
    entries = pdfsig(path, nss_database(tmp_path / "nss", [p.root for p in parties[:2]]))
    assert entries[0].certificate == "Certificate is Trusted."
    assert entries[1].signature == "Signature is Valid." and entries[1].certificate != "Certificate is Trusted."


def test_a_root_the_caller_did_not_supply(plain: Flow) -> None:
    verdict_failed(verify_contract_pdf(plain.pdf, dataclasses.replace(plain.contract, roots={})), "trust",
                   "not supplied")


# -- seals ------------------------------------------------------------------------------------


def with_seal(contract: ChainContract, party: Party, **changes: Any) -> ChainContract:
    seals = dict(contract.seals)
    seals[party.seal.digest] = chain_seal(party, **changes)
    return dataclasses.replace(contract, seals=seals)


def test_a_seal_that_is_not_registered(plain: Flow, parties: tuple[Party, Party, Party]) -> None:
    seals = {k: v for k, v in plain.contract.seals.items() if k != parties[1].seal.digest}
    verdict = verify_contract_pdf(plain.pdf, dataclasses.replace(plain.contract, seals=seals))
    verdict_failed(verdict, "seals", "signature 2", "not a registered seal")


def test_a_seal_revoked_before_signing(plain: Flow, parties: tuple[Party, Party, Party]) -> None:
    contract = with_seal(plain.contract, parties[1], status="Revoked", revoked_at=SIGNED_AT[1] - 60)
    verdict_failed(verify_contract_pdf(plain.pdf, contract), "seals", "signature 2",
                   "revoked at 2026-05-01 10:59:05Z, before the signature at 2026-05-01 11:00:05Z")


def test_a_seal_revoked_after_signing_still_holds_and_says_so(plain: Flow, parties: tuple[Party, Party, Party]) -> None:
    later = SIGNED_AT[1] + 86_400
    contract = with_seal(plain.contract, parties[1], status="Revoked", revoked_at=later)
    verdict = verify_contract_pdf(plain.pdf, contract)
    assert verdict.ok, verdict.failed
    seals = next(c for c in verdict.checks if c.name == "seals")
    assert "revoked later, at 2026-05-02 11:00:05Z" in seals.detail


def test_a_seal_approved_only_after_signing(plain: Flow, parties: tuple[Party, Party, Party]) -> None:
    contract = with_seal(plain.contract, parties[0], approved_at=SIGNED_AT[0] + 1)
    verdict_failed(verify_contract_pdf(plain.pdf, contract), "seals", "signature 1", "not approved")
    proposed = with_seal(plain.contract, parties[0], status="Proposed", approved_at=0)
    verdict_failed(verify_contract_pdf(plain.pdf, proposed), "seals", "not approved", "Proposed")


def test_a_seal_owned_by_another(plain: Flow, parties: tuple[Party, Party, Party]) -> None:
    contract = with_seal(plain.contract, parties[1], owner=ADDRESSES[2])
    verdict_failed(verify_contract_pdf(plain.pdf, contract), "seals", "belongs to " + ADDRESSES[2])
    other_cert = with_seal(plain.contract, parties[1], cert_fingerprint=parties[0].fingerprint)
    verdict_failed(verify_contract_pdf(plain.pdf, other_cert), "seals", "another certificate")


def test_the_chain_names_another_registered_seal_than_the_one_drawn(plain: Flow,
                                                                    parties: tuple[Party, Party, Party]) -> None:
    """B's attestation names a seal registered to B with B's certificate, whose image is
    not the one B's widget draws."""
    _, b, c = parties
    contract = replace_attestation(plain.contract, 2, seal=c.seal.digest)
    registered = chain_seal(c, owner=b.address, cert_fingerprint=b.fingerprint)
    contract = dataclasses.replace(contract, seals={**contract.seals, c.seal.digest: registered})
    verdict_failed(verify_contract_pdf(plain.pdf, contract), "seals", "not the registered seal")


# -- time-stamps and revocation ---------------------------------------------------------------


def test_time_stamps_against_the_tsa_roots(template: Flow) -> None:
    checked = verify_contract_pdf(template.pdf, template.contract, tsa_roots=[fixed_tsa.consortium().root])
    detail = next(c for c in checked.checks if c.name == "timestamps").detail
    assert checked.ok and "checked against the given roots" in detail and "2026-05-01 10:00:00Z" in detail
    unchecked = verify_contract_pdf(template.pdf, template.contract)
    detail = next(c for c in unchecked.checks if c.name == "timestamps").detail
    assert unchecked.ok and "not checked" in detail
    other = verify_contract_pdf(template.pdf, template.contract, tsa_roots=[fixed_tsa.independent().root])
    verdict_failed(other, "timestamps", "Consortium TSA", "does not chain to a given TSA root")


def test_a_time_stamp_later_than_the_block(template: Flow) -> None:
    """The chain recorded signature 1 more than TSA_TOLERANCE before the TSA's time."""
    early = int(TSA_TIME.timestamp() - TSA_TOLERANCE.total_seconds()) - 1
    contract = replace_attestation(template.contract, 1, signed_at=early)
    verdict_failed(verify_contract_pdf(template.pdf, contract), "timestamps", "signature 1", "later than the block")
    within = replace_attestation(template.contract, 1, signed_at=early + 2)
    assert verify_contract_pdf(template.pdf, within).ok


@pytest.fixture(scope="module")
def revoked_b(plain: Flow, parties: tuple[Party, Party, Party], tsa_url: str) -> SignedRevision:
    """B signs B-LT with its CA's CRL that revokes B's own certificate as of 10:30."""
    b = parties[1]
    crl = crl_for(pki.p256_ca(), [b.identity.chain[0].serial_number], TSA_TIME + timedelta(minutes=30))
    return sign_contract_pdf(plain.first.pdf, b.identity, b.seal, timestamp_url=tsa_url, crls=[crl])


def test_a_certificate_revoked_before_the_block(plain: Flow, parties: tuple[Party, Party, Party],
                                                revoked_b: SignedRevision) -> None:
    a, b, _ = parties
    contract = chain_facts(plain.document, [(a, plain.first), (b, revoked_b)])  # B's block at 11:00:05
    verdict_failed(verify_contract_pdf(revoked_b.pdf, contract), "trust", "signature 2", "revoked")


def test_a_certificate_revoked_after_the_block(plain: Flow, parties: tuple[Party, Party, Party],
                                               revoked_b: SignedRevision) -> None:
    a, b, _ = parties
    contract = chain_facts(plain.document, [(a, plain.first), (b, revoked_b)])
    contract = replace_attestation(contract, 2, signed_at=int(TSA_TIME.timestamp()) + 60)  # 10:01, before 10:30
    verdict = verify_contract_pdf(revoked_b.pdf, contract)
    assert verdict.ok, verdict.failed
    assert verdict.signatures[1].level == "B-LT"



# -- placement --------------------------------------------------------------------------------


def page_box(pdf: bytes, index: int) -> tuple[float, float, float, float]:
    """A page's MediaBox, inherited from the page tree when the page has none (fpdf2)."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    node = reader.find_page_for_modification(index)[0].get_object()
    while "/MediaBox" not in node:
        node = node["/Parent"]
    x1, y1, x2, y2 = (float(node["/MediaBox"][i]) for i in range(4))
    return x1, y1, x2, y2


def disjoint(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def test_template_fields_are_taken_in_order_or_by_name(template: Flow) -> None:
    # A named none: the first empty field; B named its own
    assert (template.first.field, template.first.page, template.first.rect) == ("PartyA", 1, (60, 120, 210, 240))
    assert (template.second.field, template.second.page, template.second.rect) == ("PartyB", 1, (330, 120, 480, 240))


def test_a_position_in_millimetres_from_the_top_left(long_term: Flow) -> None:
    second = long_term.second
    _, _, _, top = page_box(second.pdf, 0)
    x1, y1, x2, y2 = second.rect
    assert second.page == 0 and second.field == "Seal2"
    assert x1 == pytest.approx(120 * PT_PER_MM, abs=0.01) and x2 == pytest.approx(162 * PT_PER_MM, abs=0.01)
    assert y2 == pytest.approx(top - 200 * PT_PER_MM, abs=0.01) and y1 == pytest.approx(top - 242 * PT_PER_MM, abs=0.01)


def test_three_seals_placed_automatically_do_not_overlap(plain: Flow, parties: tuple[Party, Party, Party]) -> None:
    a, b, c = parties
    third = sign_contract_pdf(plain.pdf, c.identity, c.seal)
    rects = [plain.first.rect, plain.second.rect, third.rect]
    assert [plain.first.page, plain.second.page, third.page] == [1, 1, 1]  # the last page
    box = page_box(third.pdf, 1)
    side = DEFAULT_SEAL_MM * PT_PER_MM
    for rect in rects:
        assert rect[2] - rect[0] == pytest.approx(side, abs=0.02) and rect[3] - rect[1] == pytest.approx(side, abs=0.02)
        assert box[0] <= rect[0] and rect[2] <= box[2] and box[1] <= rect[1] and rect[3] <= box[3]
    assert disjoint(rects[0], rects[1]) and disjoint(rects[0], rects[2]) and disjoint(rects[1], rects[2])
    # along the bottom, right to left
    assert rects[0][1] == rects[1][1] == rects[2][1] and rects[0][0] > rects[1][0] > rects[2][0]
    contract = chain_facts(plain.document, [(a, plain.first), (b, plain.second), (c, third)])
    assert verify_contract_pdf(third.pdf, contract).ok


def test_a_seal_keeps_its_aspect_ratio(parties: tuple[Party, Party, Party]) -> None:
    image = Image.new("RGBA", (300, 200), (*RED, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    wide = load_seal_image(out.getvalue())
    signed = sign_contract_pdf(contract_pdf(), parties[0].identity, wide)
    x1, y1, x2, y2 = signed.rect
    assert (x2 - x1) / PT_PER_MM == pytest.approx(DEFAULT_SEAL_MM, abs=0.01)
    assert (y2 - y1) / PT_PER_MM == pytest.approx(DEFAULT_SEAL_MM * 2 / 3, abs=0.01)


@pytest.mark.parametrize("options, message", [
    ({"position": SealPosition(page=-1, x=150, y=250, width=40, height=40)}, "covers the seal of the earlier signature 'Seal1'"),
    ({"position": SealPosition(page=5, x=10, y=10, width=40, height=40)}, "page 5 does not exist"),
    ({"position": SealPosition(page=0, x=190, y=10, width=40, height=40)}, "leaves page 1"),
    ({"position": SealPosition(page=0, x=10, y=10, width=0, height=40)}, "positive"),
    ({"position": SealPosition(page=0, x=10, y=10, width=5, height=5)}, f"under {MIN_SEAL_DRAWN_MM:.0f} mm"),
    ({"field": "Seal1"}, "'Seal1' is already signed"),
    ({"field": "PartyC"}, "no signature field named 'PartyC'"),
    ({"field": "Seal1", "position": SealPosition(page=0, x=10, y=10, width=40, height=40)}, "not both"),
])
def test_placements_that_are_refused(plain: Flow, parties: tuple[Party, Party, Party], options: dict[str, Any],
                                     message: str) -> None:
    with pytest.raises(PdfSignatureError, match=message) as caught:
        sign_contract_pdf(plain.first.pdf, parties[1].identity, parties[1].seal, **options)
    assert caught.value.step == "placement"


def test_a_template_field_over_an_earlier_seal_is_refused(parties: tuple[Party, Party, Party]) -> None:
    """A field a form tool put where the first party's seal already is."""
    a, b, _ = parties
    first = sign_contract_pdf(contract_pdf(), a.identity, a.seal)
    writer = IncrementalPdfFileWriter(io.BytesIO(first.pdf))
    x1, y1, x2, y2 = (int(v) for v in first.rect)
    fields.append_signature_field(writer, fields.SigFieldSpec("Late", on_page=1, box=(x1, y1, x2, y2)))
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(PdfSignatureError, match="'Late' covers the seal of the earlier signature 'Seal1'"):
        sign_contract_pdf(out.getvalue(), b.identity, b.seal, field="Late")


def test_no_free_place_on_a_small_last_page(parties: tuple[Party, Party, Party]) -> None:
    pdf = FPDF(format=(90, 90))
    pdf.set_creation_date(CREATED)
    pdf.add_page()
    first = sign_contract_pdf(bytes(pdf.output()), parties[0].identity, parties[0].seal)
    with pytest.raises(PdfSignatureError, match="no free place for a 40 x 40 mm seal on the last page") as caught:
        sign_contract_pdf(first.pdf, parties[1].identity, parties[1].seal)
    assert caught.value.step == "placement"


@needs["pdftoppm"]
def test_the_seals_are_visible_where_their_widgets_are(plain: Flow, tmp_path: Path) -> None:
    """pdftoppm renders the last page: the red ink is inside the two widgets and nowhere
    else (the page's own text is black)."""
    dpi = 50
    done = run("pdftoppm", "-png", "-r", str(dpi), "-f", "2", "-l", "2", "-singlefile", plain.path, tmp_path / "page")
    assert done.returncode == 0, done.stderr
    image = Image.open(tmp_path / "page.png").convert("RGB")
    _, _, _, top = page_box(plain.pdf, 1)
    scale = dpi / 72

    def pixels(rect: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
        return (int(rect[0] * scale), int((top - rect[3]) * scale), int(rect[2] * scale) + 1,
                int((top - rect[1]) * scale) + 1)

    boxes = [pixels(plain.first.rect), pixels(plain.second.rect)]
    red_inside = [0, 0]
    red_outside = 0
    for y in range(image.height):
        for x in range(image.width):
            r, g, b = image.getpixel((x, y))  # type: ignore[misc]
            if r > 150 and g < 90 and b < 90:
                hits = [i for i, (x1, y1, x2, y2) in enumerate(boxes) if x1 <= x <= x2 and y1 <= y <= y2]
                if hits:
                    red_inside[hits[0]] += 1
                else:
                    red_outside += 1
    seal_pixels = (DEFAULT_SEAL_MM * PT_PER_MM * scale) ** 2
    assert all(count > 0.2 * seal_pixels for count in red_inside), (red_inside, seal_pixels)
    assert red_outside == 0


# -- what the verifier refuses to read as a seal or a signature -------------------------------


def update_widget(pdf: bytes, field: str, change: Any) -> bytes:
    """An incremental update applying `change(writer, widget)` to a signature's widget."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    (signature,) = [s for s in reader.embedded_regular_signatures if s.field_name == field]
    ref = signature.sig_field.container_ref
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    widget = writer.prev.get_object(ref)
    change(writer, widget)
    writer.objects[(ref.generation, ref.idnum)] = widget
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_seal_hidden_after_signing(plain: Flow) -> None:
    def hide(writer: Any, widget: Any) -> None:
        widget[generic.pdf_name("/F")] = generic.NumberObject(2 | 4)  # Hidden | Print

    hidden = update_widget(plain.pdf, plain.second.field, hide)
    verdict_failed(verify_contract_pdf(hidden, plain.contract), "seals", "signature 2", "flagged Hidden")


def test_an_appearance_that_draws_more_than_the_seal(plain: Flow) -> None:
    def scribble(writer: Any, widget: Any) -> None:
        old = widget["/AP"]["/N"]
        new = generic.StreamObject({k: v for k, v in old.items() if k not in ("/Length", "/Filter")},
                                   stream_data=old.data + b" 0 0 m 100 100 l S")
        widget[generic.pdf_name("/AP")] = generic.DictionaryObject({generic.pdf_name("/N"): writer.add_object(new)})

    scribbled = update_widget(plain.pdf, plain.second.field, scribble)
    verdict_failed(verify_contract_pdf(scribbled, plain.contract), "seals", "signature 2",
                   "does more than draw the seal (operator m)")


def test_a_seal_drawn_too_small_to_read(parties: tuple[Party, Party, Party]) -> None:
    """Made with pyHanko directly (sign_contract_pdf refuses it): a 6 mm seal."""
    a = parties[0]
    document = contract_pdf()
    side = 6 * PT_PER_MM
    spec = fields.SigFieldSpec("Tiny", on_page=1, box=(100, 100, 100 + side, 100 + side))  # type: ignore[arg-type]
    meta = signers.PdfSignatureMetadata(field_name="Tiny", md_algorithm="sha256", certify=True,
                                        subfilter=fields.SigSeedSubFilter.PADES)
    pdf = signers.PdfSigner(meta, ProtocolSigner(a.identity), stamp_style=SealStampStyle(seal=a.seal),
                            new_field_spec=spec).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(document))).getvalue()
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    (signature,) = reader.embedded_regular_signatures
    cms = signature.pkcs7_content
    end = signature.byte_range[2] + signature.byte_range[3]
    signed = SignedRevision(pdf=pdf, revision_digest=hashlib.sha256(pdf[:end]).digest(),
                            cms_digest=hashlib.sha256(cms.rstrip(b"\x00")).digest(), seal=a.seal.digest, field="Tiny",
                            page=1, rect=(0, 0, 0, 0), level="B-B")
    contract = chain_facts(document, [(a, signed)])
    contract = replace_attestation(contract, 1, cms_digest=verify_contract_pdf(pdf, contract).signatures[0].cms_digest)
    verdict_failed(verify_contract_pdf(pdf, contract), "seals", "drawn 6.0 mm across, under 10 mm")


def test_a_pdf_signature_that_is_not_pades(parties: tuple[Party, Party, Party]) -> None:
    a = parties[0]
    document = contract_pdf()
    meta = signers.PdfSignatureMetadata(field_name="Old", md_algorithm="sha256")  # adbe.pkcs7.detached
    pdf = signers.PdfSigner(meta, ProtocolSigner(a.identity)).sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(document))).getvalue()
    signed = SignedRevision(pdf, b"", b"", a.seal.digest, "Old", 0, (0, 0, 0, 0), "B-B")
    verdict_failed(verify_contract_pdf(pdf, chain_facts(document, [(a, signed)])), "format", "'Old'",
                   "adbe.pkcs7.detached", "neither PAdES")


def test_a_document_time_stamp_after_the_signatures_is_allowed(plain: Flow, tsa_url: str) -> None:
    """A later archive time-stamp (PAdES B-LTA's kind), from the same TSA through
    pyHanko's own client, is an allowed update."""
    out = PdfTimeStamper(RequestsHTTPTimeStamper(tsa_url)).timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(plain.pdf)), "sha256")
    verdict = verify_contract_pdf(out.getvalue(), plain.contract, tsa_roots=[fixed_tsa.consortium().root])
    assert verdict.ok and verdict.complete, verdict.failed
    assert "1 document time-stamp(s)" in verdict.checks[1].detail
    assert "document time-stamp 2026-05-01 10:00:00Z" in verdict.checks[-1].detail
    assert len(verdict.signatures) == 2
    other = verify_contract_pdf(out.getvalue(), plain.contract, tsa_roots=[fixed_tsa.independent().root])
    verdict_failed(other, "timestamps", "does not chain to a given TSA root")


@pytest.mark.parametrize("pdf, step, message", [
    (b"not a pdf", "format", "not a PDF file"),
    (b"%PDF-1.7\n garbage", "format", "not a readable PDF"),
])
def test_what_is_not_a_signed_pdf(plain: Flow, pdf: bytes, step: str, message: str) -> None:
    verdict_failed(verify_contract_pdf(pdf, plain.contract), step, message)


def test_an_unsigned_pdf(plain: Flow) -> None:
    verdict_failed(verify_contract_pdf(plain.document, plain.contract), "format", "no signature")


def test_a_file_over_the_cap(plain: Flow, parties: tuple[Party, Party, Party]) -> None:
    big = plain.pdf + b" " * (MAX_CONTRACT_PDF_BYTES + 1 - len(plain.pdf))
    verdict_failed(verify_contract_pdf(big, plain.contract), "size", str(MAX_CONTRACT_PDF_BYTES))
    with pytest.raises(PdfSignatureError) as caught:
        sign_contract_pdf(big, parties[0].identity, parties[0].seal)
    assert caught.value.step == "size"


# -- signing refusals and signers -------------------------------------------------------------


def test_the_same_certificate_does_not_sign_twice(plain: Flow, parties: tuple[Party, Party, Party]) -> None:
    with pytest.raises(PdfSignatureError, match="already signed the PDF \\(field 'Seal1'\\)") as caught:
        sign_contract_pdf(plain.first.pdf, parties[0].identity, parties[0].seal)
    assert caught.value.step == "signer"


def test_inputs_sign_contract_pdf_refuses(parties: tuple[Party, Party, Party]) -> None:
    a = parties[0]
    with pytest.raises(PdfSignatureError, match="not a PDF") as caught:
        sign_contract_pdf(b"GIF89a", a.identity, a.seal)
    assert caught.value.step == "format"
    crl = crl_for(pki.rsa_ca(), [1], TSA_TIME)
    with pytest.raises(PdfSignatureError, match="give a time-stamping authority") as caught:
        sign_contract_pdf(contract_pdf(), a.identity, a.seal, crls=[crl])
    assert caught.value.step == "level"
    encipher = pki.rsa_ca().issue("Encryption Only", "rsa2048", key_usage={"key_encipherment"})
    with pytest.raises(PdfSignatureError, match="key usage") as caught:
        sign_contract_pdf(contract_pdf(), encipher, a.seal)
    assert caught.value.step == "signer"


def test_an_unreachable_tsa_stops_the_signing(parties: tuple[Party, Party, Party]) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(PdfSignatureError, match="unreachable") as caught:
        sign_contract_pdf(contract_pdf(), parties[0].identity, parties[0].seal,
                          timestamp_url=f"http://127.0.0.1:{port}/")
    assert caught.value.step == "timestamp"


class RemoteSigner:
    """A Signer that is not a local identity (what CloudSigner is to the protocol): the
    chain, and a signature over a digest from somewhere else."""

    def __init__(self, identity: CertificateIdentity) -> None:
        self._identity = identity
        self.asked = 0

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        return self._identity.chain

    @property
    def chain_der(self) -> bytes:
        return self._identity.chain_der

    @property
    def fingerprint(self) -> bytes:
        return self._identity.fingerprint

    def sign_digest(self, digest: bytes) -> bytes:
        self.asked += 1
        return self._identity.sign_digest(digest)


def test_any_signer_of_the_protocol_signs(parties: tuple[Party, Party, Party]) -> None:
    a = parties[0]
    remote = RemoteSigner(a.identity)
    document = contract_pdf()
    signed = sign_contract_pdf(document, remote, a.seal)
    assert remote.asked == 1  # pyHanko's size estimate does not reach the signer
    verdict = verify_contract_pdf(signed.pdf, chain_facts(document, [(a, signed)]))
    assert verdict.ok and verdict.complete


def test_every_byte_of_a_signed_pdf_matters(plain: Flow) -> None:
    """A B-B file is covered to its last byte by the chain's digests: a byte changed
    anywhere (here at 97 places spread over the file) fails some step, and never raises."""
    pdf = plain.pdf
    for at in range(0, len(pdf), max(1, len(pdf) // 97)):
        changed = pdf[:at] + bytes([pdf[at] ^ 0x04]) + pdf[at + 1:]
        verdict = verify_contract_pdf(changed, plain.contract)
        assert not verdict.ok and verdict.failed is not None, at



def test_a_seal_swapped_in_after_signing(plain: Flow, parties: tuple[Party, Party, Party]) -> None:
    """B signed with another image in its widget, and an update later draws B's registered
    seal there: what a reader sees is registered, what B signed is not."""
    a, b, c = parties
    signed = sign_contract_pdf(plain.first.pdf, b.identity, c.seal)
    swapped = replace_seal_image(signed.pdf, signed.field, b.seal)
    contract = chain_facts(plain.document, [(a, plain.first), (b, dataclasses.replace(signed, seal=b.seal.digest))])
    verdict_failed(verify_contract_pdf(swapped, contract), "seals", "signature 2",
                   "the seal drawn now is not the one in the revision it signed")


def test_an_earlier_partys_expired_crl_says_nothing_about_a_later_block(parties: tuple[Party, Party, Party],
                                                                       tsa_url: str) -> None:
    """A embeds its CA's CRL (valid a week); B, under the same CA, signs a month later
    without one. That old CRL neither vouches for nor blocks B's certificate."""
    a, b, _ = parties
    same_ca = dataclasses.replace(b, identity=pki.rsa_ca().issue("Party B2", "rsa2048"), root=pki.rsa_ca().root)
    document = contract_pdf()
    first = sign_contract_pdf(document, a.identity, a.seal, timestamp_url=tsa_url,
                              crls=[crl_for(pki.rsa_ca(), [4242], TSA_TIME - timedelta(hours=1))])
    second = sign_contract_pdf(first.pdf, same_ca.identity, same_ca.seal)
    contract = chain_facts(document, [(a, first), (same_ca, second)])
    contract = replace_attestation(contract, 2, signed_at=int(TSA_TIME.timestamp()) + 30 * 86_400)
    verdict = verify_contract_pdf(second.pdf, contract)
    assert verdict.ok, verdict.failed
    assert [s.level for s in verdict.signatures] == ["B-LT", "B-B"]


# -- changes nobody signed: before the first signature, inside a signer's own revision, forms --


def amount_template() -> bytes:
    """The contract with a filled text field (the amount) and an empty signature field per
    party on its last page, added by one incremental update as a form tool would."""
    writer = IncrementalPdfFileWriter(io.BytesIO(contract_pdf()))
    add_text_field(writer, "Amount", "100 000.00", 1, (60, 300, 260, 324))
    for name, left in zip(PARTY_FIELDS, (60, 330)):
        fields.append_signature_field(writer, fields.SigFieldSpec(name, on_page=1, box=(left, 120, left + 150, 240)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def amounts(parties: tuple[Party, Party, Party], tmp_path_factory: pytest.TempPathFactory) -> Flow:
    """B-B on the template with an amount: A and B take their fields in order."""
    return make_flow(tmp_path_factory.mktemp("amounts"), "amounts", amount_template(), parties)


def signed_in_writer(writer: IncrementalPdfFileWriter, party: Party, field: str, *, certify: bool,
                     box: tuple[int, int, int, int] | None = None) -> SignedRevision:
    """`party`'s signature with its seal, made with pyHanko directly in the revision
    `writer` is building (whatever else the test put there goes into the same revision):
    a signing tool that changes more than it should. `box` on the last page makes a new
    field; without it `field` is an existing one."""
    spec = None if box is None else fields.SigFieldSpec(field, on_page=1, box=box)
    meta = signers.PdfSignatureMetadata(field_name=field, md_algorithm="sha256", certify=certify,
                                        subfilter=fields.SigSeedSubFilter.PADES,
                                        docmdp_permissions=fields.MDPPerm.FILL_FORMS)
    pdf = bytes(signers.PdfSigner(meta, ProtocolSigner(party.identity), stamp_style=SealStampStyle(seal=party.seal),
                                  new_field_spec=spec).sign_pdf(writer, existing_fields_only=box is None).getvalue())
    revision, cms_digest = next((r, c) for f, r, c in signatures_in(pdf) if f == field)
    return SignedRevision(pdf=pdf, revision_digest=revision, cms_digest=cms_digest, seal=party.seal.digest,
                          field=field, page=1, rect=(0, 0, 0, 0), level="B-B")


def test_an_unsigned_update_before_the_first_signature(parties: tuple[Party, Party, Party]) -> None:
    """The first party appends an annex page to the registered document and signs the
    result: its signature covers the annex, the chain records its revision, and the
    registered document is still a prefix of the file, but nobody was registered to sign
    the annex. The registered document must be the revision just before signature 1's."""
    a = parties[0]
    document = contract_pdf()
    signed = sign_contract_pdf(add_page(document), a.identity, a.seal)
    verdict_failed(verify_contract_pdf(signed.pdf, chain_facts(document, [(a, signed)])), "registered",
                   f"bytes 0-{len(document)} are the registered document", "1 revision(s) follow it",
                   "before the revision of signature 1", "changes nobody was registered to sign")


@pytest.mark.parametrize("party", [1, 2])
def test_a_signing_tool_that_rewrites_the_page_in_its_own_revision(party: int, plain: Flow,
                                                                    parties: tuple[Party, Party, Party]) -> None:
    """The signer's own revision changes page 1's text (Lot 3 -> Lot 8) along with adding
    its signature, so the signature covers the change and the chain records it. Signing
    may add the signature field, its widget and appearance, and nothing else."""
    a, b, _ = parties
    base, signer, earlier = (plain.document, a, []) if party == 1 else (plain.first.pdf, b, [(a, plain.first)])
    writer = IncrementalPdfFileWriter(io.BytesIO(base))
    rewrite_page_text(writer, 0, b"Lot 3", b"Lot 8")
    signed = signed_in_writer(writer, signer, "Rogue", certify=party == 1, box=(60, 300, 200, 440))
    contract = chain_facts(plain.document, [*earlier, (signer, signed)])
    verdict_failed(verify_contract_pdf(signed.pdf, contract), "modifications", f"signature {party}",
                   "its own revision", "the content of page 1")


def test_a_template_with_a_text_field_signs_and_verifies(amounts: Flow, parties: tuple[Party, Party, Party]) -> None:
    verdict = verify_contract_pdf(amounts.pdf, amounts.contract)
    assert verdict.ok and verdict.complete, verdict.failed
    assert [s.field for s in verdict.signatures] == list(PARTY_FIELDS)
    assert all(s.bottom_line for s in pyhanko_statuses(amounts.pdf, parties))


def test_a_field_value_changed_after_the_last_signature(amounts: Flow, parties: tuple[Party, Party, Party]) -> None:
    """DocMDP P=2 lets anyone fill in a form after the signatures; a contract's content is
    fixed at registration, so only signature fields may be filled."""
    changed = updated(amounts.pdf, lambda writer: fill_text_field(writer, "Amount", "120 000.00"))
    verdict_failed(verify_contract_pdf(changed, amounts.contract), "modifications",
                   "an unsigned update after signature 2", "form field 'Amount' on page 2")
    assert not any(s.docmdp_ok for s in pyhanko_statuses(changed, parties))


@pytest.mark.parametrize("when", ["before", "while"])
def test_a_field_value_changed_when_the_second_party_signs(when: str, amounts: Flow,
                                                           parties: tuple[Party, Party, Party]) -> None:
    """The amount changed by an update before B's signature, or in B's own revision by
    B's signing tool: B's signature covers it and the chain records it; still refused.
    (The "while" case was not analysed at all before: pyHanko starts after a signature.)"""
    a, b, _ = parties
    if when == "before":
        filled = updated(amounts.first.pdf, lambda writer: fill_text_field(writer, "Amount", "120 000.00"))
        second = sign_contract_pdf(filled, b.identity, b.seal, field="PartyB")
        where = "an unsigned update after signature 1"
    else:
        writer = IncrementalPdfFileWriter(io.BytesIO(amounts.first.pdf))
        fill_text_field(writer, "Amount", "120 000.00")
        second = signed_in_writer(writer, b, "PartyB", certify=False)
        where = "signature 2"
    contract = chain_facts(amounts.document, [(a, amounts.first), (b, second)])
    verdict_failed(verify_contract_pdf(second.pdf, contract), "modifications", where, "form field 'Amount'")


def test_a_seal_revoked_in_the_same_block_as_the_signature(plain: Flow, parties: tuple[Party, Party, Party]) -> None:
    """Block times are seconds: a revocation at the signature's own block time came later
    in that block (had it come first, sign_pdf's usable() check would have reverted)."""
    same = with_seal(plain.contract, parties[1], status="Revoked", revoked_at=SIGNED_AT[1])
    verdict = verify_contract_pdf(plain.pdf, same)
    assert verdict.ok, verdict.failed
    seals = next(c for c in verdict.checks if c.name == "seals")
    assert "revoked in the same block, after the signature" in seals.detail
    earlier = with_seal(plain.contract, parties[1], status="Revoked", revoked_at=SIGNED_AT[1] - 1)
    verdict_failed(verify_contract_pdf(plain.pdf, earlier), "seals", "signature 2", "revoked at 2026-05-01 11:00:04Z")


def test_a_seal_approved_in_the_same_block_as_the_signature(plain: Flow, parties: tuple[Party, Party, Party]) -> None:
    """The approval came first in that block (after it, sign_pdf would have reverted)."""
    same = with_seal(plain.contract, parties[0], approved_at=SIGNED_AT[0])
    assert verify_contract_pdf(plain.pdf, same).ok


OVERLAYS = {
    # an appearance that writes text over page 1
    "writes text": lambda writer: add_drawing_signature_field(writer, "Note", 0, (60, 600, 400, 700),
                                                              "Annex 2: price +20%"),
    # no appearance stream, a white background in /MK over the top of page 1: poppler
    # builds the widget's look from /MK and paints the contract's text white (the review's
    # MAJOR 1 (a))
    "paints a background": lambda writer: add_background_signature_field(writer, "Note", 0, (0, 600, 595, 842)),
}


@pytest.mark.parametrize("when", ["after", "while"])
@pytest.mark.parametrize("how", list(OVERLAYS))
def test_an_empty_signature_field_that_draws_on_the_page(how: str, when: str, plain: Flow,
                                                         parties: tuple[Party, Party, Party]) -> None:
    """A new signature field is an allowed change (the second party signs so), and an
    empty one is not a seal step 7 checks. Added after the last signature it is a visible
    field in an update no party signs; added by B's signing tool in B's own revision, a
    field besides B's."""
    a, b, _ = parties
    if when == "after":
        pdf, contract = updated(plain.pdf, OVERLAYS[how]), plain.contract
        words = ["an unsigned update after signature 2", "changes form field 'Note'",
                 "an update no party signs may add only validation data"]
    else:
        writer = IncrementalPdfFileWriter(io.BytesIO(plain.first.pdf))
        OVERLAYS[how](writer)
        second = signed_in_writer(writer, b, "Rogue", certify=False, box=(60, 300, 200, 440))
        pdf, contract = second.pdf, chain_facts(plain.document, [(a, plain.first), (b, second)])
        words = ["signature 2", "its own revision", "changes form field 'Note' besides its own",
                 "only its own signature's field 'Rogue'"]
    verdict_failed(verify_contract_pdf(pdf, contract), "modifications", *words)


def test_a_seal_with_a_rollover_appearance(plain: Flow) -> None:
    """The widget's /AP /R is shown instead of the seal while the pointer is on it. Added
    by a later update, the difference analysis refuses it too (at modifications); step 7
    refuses it first, and also when it is in the signer's own revision."""
    def rollover(writer: Any, widget: Any) -> None:
        appearances = generic.DictionaryObject(widget["/AP"])
        appearances[generic.pdf_name("/R")] = widget["/AP"].raw_get("/N")
        widget[generic.pdf_name("/AP")] = appearances

    changed = update_widget(plain.pdf, plain.second.field, rollover)
    verdict_failed(verify_contract_pdf(changed, plain.contract), "seals", "signature 2",
                   "appearances besides the normal one (/R)")


def test_a_registered_document_whose_cross_reference_points_past_its_end(parties: tuple[Party, Party, Party]) -> None:
    """The registered document's cross-reference puts page 1's text (object 4) past its
    last byte: read alone it lacks that text, and in a signed PDF those bytes belong to the
    first party's update, which can write any text there."""
    a = parties[0]
    plain = contract_pdf()
    document = point_xref_entry(plain, 4, len(plain) + 4000)
    signed = sign_contract_pdf(document, a.identity, a.seal)
    verdict_failed(verify_contract_pdf(signed.pdf, chain_facts(document, [(a, signed)])), "registered",
                   f"puts object 4 0 at byte {len(plain) + 4000}, past its end (byte {len(plain)})")


def test_a_signature_whose_cross_reference_points_past_what_it_signs(parties: tuple[Party, Party, Party]) -> None:
    """A's signing tool writes the document information (object 10, which each revision
    rewrites) but its cross-reference entry points far past the revision: the signature
    covers the entry, not the object, which anyone could write there later."""
    a = parties[0]
    document = contract_pdf()
    signed = signed_in_writer(ForwardPointingWriter(document, 10, 10**8), a, "Seal1", certify=True,
                              box=(60, 300, 200, 440))
    verdict_failed(verify_contract_pdf(signed.pdf, chain_facts(document, [(a, signed)])), "integrity",
                   "signature 1", f"puts object 10 0 at byte {10**8}, past the end of the bytes it covers")


# -- what may change after registration: nothing a viewer draws (the PDF-security review) --


def planted_template() -> bytes:
    """A template whose amount field shows "100 000.00" (its appearance) but holds "1.00"
    (its value), with the form's default resources an indirect object: what a viewer shows
    until it is told to redraw the field from its value."""
    writer = IncrementalPdfFileWriter(io.BytesIO(contract_pdf()))
    add_text_field(writer, "Amount", "1.00", 0, (60, 600, 260, 624), shown="100 000.00")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def planted(parties: tuple[Party, Party, Party], tmp_path_factory: pytest.TempPathFactory) -> Flow:
    """B-B on the planted template: both seals placed automatically on the last page."""
    return make_flow(tmp_path_factory.mktemp("planted"), "planted", planted_template(), parties)


def test_the_planted_template_signs_and_verifies(planted: Flow) -> None:
    verdict = verify_contract_pdf(planted.pdf, planted.contract)
    assert verdict.ok and verdict.complete, verdict.failed


FORM_CHANGES: dict[str, Any] = {
    # a viewer redraws the amount from its planted value: "1.00"
    "/NeedAppearances set": lambda w: set_form_entries(w, {"/NeedAppearances": generic.BooleanObject(True)}),
    # ... with a font that draws "1" as "9"
    "/DR font swapped, /NeedAppearances set": lambda w: (
        set_form_entries(w, {"/NeedAppearances": generic.BooleanObject(True), "/DR": generic.DictionaryObject(
            {generic.pdf_name("/Font"): generic.DictionaryObject(
                {generic.pdf_name("/Helv"): font_drawing_one_as_nine(w)})})})),
    "/DA changed": lambda w: set_form_entries(w, {"/DA": generic.TextStringObject("/Helv 30 Tf 1 1 1 rg")}),
}


@pytest.mark.parametrize("change", list(FORM_CHANGES))
def test_the_form_told_to_redraw_after_the_last_signature(change: str, planted: Flow) -> None:
    """The review's MAJOR 1 (b), (c): pyHanko's form rule lets /NeedAppearances, /DA and
    /DR change (Acrobat touches them), rated as validation-data updates. After
    registration the form may change only its /Fields and /SigFlags."""
    changed = updated(planted.pdf, FORM_CHANGES[change])
    verdict_failed(verify_contract_pdf(changed, planted.contract), "modifications",
                   "an unsigned update after signature 2", "makes more than signing's changes")


def test_a_signing_revision_that_rewrites_the_forms_fonts(planted: Flow, parties: tuple[Party, Party, Party]) -> None:
    """B's signing tool rewrites the form's default resources (an indirect object, under
    its own number) to a font that draws "1" as "9", in B's own revision: pyHanko clears
    /DR as form filling, which a signing revision may do. A form that redraws its fields
    (/NeedAppearances at registration) would show the amount changed."""
    a, b, _ = parties
    writer = IncrementalPdfFileWriter(io.BytesIO(planted.first.pdf))
    replace_form_fonts(writer, {"/Helv": font_drawing_one_as_nine(writer)})
    second = signed_in_writer(writer, b, "Rogue", certify=False, box=(300, 300, 440, 440))
    contract = chain_facts(planted.document, [(a, planted.first), (b, second)])
    verdict_failed(verify_contract_pdf(second.pdf, contract), "modifications", "signature 2", "its own revision",
                   "/DR")


def test_a_widget_with_a_background_or_border_draws() -> None:
    """Step 8's second look (what annotations written after registration show): a widget
    without an appearance stream still draws when its /MK gives a background or a border."""
    def widget(**entries: Any) -> generic.DictionaryObject:
        return generic.DictionaryObject({
            generic.pdf_name("/Subtype"): generic.pdf_name("/Widget"),
            generic.pdf_name("/Rect"): generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 100, 100)]),
            **{generic.pdf_name(k): v for k, v in entries.items()}})

    white = generic.ArrayObject([generic.FloatObject(1)] * 3)
    assert _draws(widget()) is None
    assert _draws(widget(**{"/MK": generic.DictionaryObject()})) is None
    assert "/BG" in str(_draws(widget(**{"/MK": generic.DictionaryObject({generic.pdf_name("/BG"): white})})))
    assert "/BC" in str(_draws(widget(**{"/MK": generic.DictionaryObject({generic.pdf_name("/BC"): white})})))
    huge = widget()
    huge[generic.pdf_name("/Rect")] = generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 10**400, 100)])
    assert "rectangle" in str(_draws(huge))


def test_the_document_title_rewritten_after_the_last_signature(plain: Flow) -> None:
    """A viewer shows /Info /Title in its title bar. Signing tools update /ModDate and
    /Producer; nothing else in /Info may change after registration."""
    def retitle(writer: IncrementalPdfFileWriter) -> None:
        info = writer.trailer["/Info"]
        info[generic.pdf_name("/Title")] = generic.TextStringObject("Supply contract TC-2026-0042 - AMENDED: 1 CNY")
        writer.update_container(info)

    verdict_failed(verify_contract_pdf(updated(plain.pdf, retitle), plain.contract), "modifications",
                   "an unsigned update after signature 2", "/Title")


def redrawn_template() -> bytes:
    """The planted template, its form asking viewers to redraw the fields (/NeedAppearances
    true): a template some form tools write."""
    return updated(planted_template(), lambda w: set_form_entries(w, {"/NeedAppearances": generic.BooleanObject(True)}))


def red_pixels(path: Path, page: int, tmp_path: Path) -> int:
    """How many pixels of `page` (1-based) pdftoppm paints seal red, at 30 dpi."""
    done = run("pdftoppm", "-png", "-r", "30", "-f", str(page), "-l", str(page), "-singlefile", path, tmp_path / "red")
    assert done.returncode == 0, done.stderr
    image = Image.open(tmp_path / "red.png").convert("RGB")
    red = 0
    for y in range(image.height):
        for x in range(image.width):
            r, g, b = image.getpixel((x, y))  # type: ignore[misc]
            red += r > 150 and g < 90 and b < 90
    return red


def test_a_form_that_asks_viewers_to_redraw_its_fields(parties: tuple[Party, Party, Party]) -> None:
    """With /NeedAppearances a viewer draws every field itself, signature fields included:
    poppler paints their border and background and no seal (the next test shows it). A
    registered template carrying it is refused by signing. pyHanko's signer deletes the
    flag (a viewer then shows the fields' stored appearances instead of their values: a
    change the party's revision may not make); a tool that leaves it makes seals nobody
    sees."""
    a = parties[0]
    document = redrawn_template()
    with pytest.raises(PdfSignatureError, match="/NeedAppearances") as caught:
        sign_contract_pdf(document, a.identity, a.seal)
    assert caught.value.step == "format"
    rect = (300, 300, 300 + SEAL_SIDE, 300 + SEAL_SIDE)
    deleted = signed_in_new_field(document, a, rect)
    verdict_failed(verify_contract_pdf(deleted.pdf, chain_facts(document, [(a, deleted)])), "modifications",
                   "signature 1", "its own revision", "/NeedAppearances changes from True to None")
    kept = signed_in_new_field(document, a, rect, writer_class=RedrawingFormWriter)
    verdict_failed(verify_contract_pdf(kept.pdf, chain_facts(document, [(a, kept)])), "seals", "signature 1",
                   "/NeedAppearances true", "no seal shows")


def test_a_form_that_says_it_needs_no_redrawing_still_signs(parties: tuple[Party, Party, Party]) -> None:
    """Some form tools write /NeedAppearances false; pyHanko's signer deletes the entry,
    which changes nothing a viewer does: the party's revision verifies."""
    a = parties[0]
    document = updated(template_pdf(), lambda w: set_form_entries(w, {"/NeedAppearances": generic.BooleanObject(False)}))
    first = sign_contract_pdf(document, a.identity, a.seal)
    reader = PdfFileReader(io.BytesIO(first.pdf), strict=False)
    assert "/NeedAppearances" not in reader.root["/AcroForm"]
    verdict = verify_contract_pdf(first.pdf, chain_facts(document, [(a, first)]))
    assert verdict.ok, verdict.failed


@needs["pdftoppm"]
def test_poppler_draws_no_seal_in_a_form_that_asks_for_redrawing(plain: Flow, tmp_path: Path) -> None:
    redrawn = tmp_path / "redrawn.pdf"
    redrawn.write_bytes(updated(plain.pdf, lambda w: set_form_entries(
        w, {"/NeedAppearances": generic.BooleanObject(True)})))
    assert red_pixels(plain.path, 2, tmp_path) > 100
    assert red_pixels(redrawn, 2, tmp_path) == 0


# -- files made to break the verifier: it fails a step, it never raises or hangs -----------

# What py_ecc (imported by eth-account, so by every SDK process) sets the recursion limit to.
SDK_RECURSION_LIMIT = 100_000


def test_objects_nested_too_deeply(plain: Flow, parties: tuple[Party, Party, Party]) -> None:
    """The review's MAJOR 2: an update rewriting the catalog with arrays nested 20 000 deep.
    pyHanko's reader recurses once per level: under Python's default limit a RecursionError
    escaped verification; under the limit the SDK's processes run with (py_ecc, imported
    through eth-account, raises it to 100 000) the C stack overflowed and the process died
    (SIGSEGV). PDFs are read under PDF_RECURSION_LIMIT, and the file fails a step."""
    reader = PdfFileReader(io.BytesIO(plain.pdf), strict=False)
    root = reader.root
    depth = 20_000
    catalog = b"<< /Type /Catalog /Pages %d 0 R /AcroForm %d 0 R /Nest %s%s >>" % (
        root.raw_get("/Pages").reference.idnum, root.raw_get("/AcroForm").reference.idnum, b"[" * depth, b"]" * depth)
    nested = append_raw_objects(plain.pdf, {reader.trailer.raw_get("/Root").reference.idnum: catalog})
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(SDK_RECURSION_LIMIT)
    try:
        verdict_failed(verify_contract_pdf(nested, plain.contract), "format", "nested too deeply")
        with pytest.raises(PdfSignatureError, match="nested too deeply") as caught:
            sign_contract_pdf(nested, parties[2].identity, parties[2].seal)
        assert caught.value.step == "format"
        with pytest.raises(PdfSignatureError, match="nested too deeply"):
            list(signatures_in(nested))
        assert sys.getrecursionlimit() == SDK_RECURSION_LIMIT  # put back after reading
        with bounded_recursion:
            assert sys.getrecursionlimit() == PDF_RECURSION_LIMIT
    finally:
        sys.setrecursionlimit(before)


@pytest.mark.parametrize("where, step", [("page 1's /MediaBox", "format"), ("the seal widget's /Rect", "seals")])
def test_a_number_too_large_for_a_float(where: str, step: str, plain: Flow, parties: tuple[Party, Party, Party]) -> None:
    """The review's MAJOR 2: a 400-digit integer where a rectangle is read (float() of it
    raises OverflowError)."""
    huge = generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 10**400, 842)])

    def change(writer: IncrementalPdfFileWriter) -> None:
        if where == "page 1's /MediaBox":
            page_ref, _ = writer.find_page_for_modification(0)
            page_ref.get_object()[generic.pdf_name("/MediaBox")] = huge
            writer.update_container(page_ref.get_object())
        else:
            (signature,) = [s for s in writer.prev.embedded_regular_signatures if s.field_name == plain.second.field]
            signature.sig_field[generic.pdf_name("/Rect")] = huge
            writer.update_container(signature.sig_field)

    changed = updated(plain.pdf, change)
    verdict_failed(verify_contract_pdf(changed, plain.contract), step, "out of range")
    if step == "format":
        with pytest.raises(PdfSignatureError, match="out of range") as caught:
            sign_contract_pdf(changed, parties[2].identity, parties[2].seal)
        assert caught.value.step == "format"


def test_more_revisions_after_registration_than_signing_makes(plain: Flow) -> None:
    """The review's MAJOR 3: empty updates chained by /Prev with one %%EOF at the end (so
    the %%EOF count stays small). Each revision is compared with the one before it for
    every signature: quadratic work, 4000 revisions took minutes. Refused before any
    comparison."""
    many = empty_updates(plain.pdf, MAX_REVISIONS_AFTER_REGISTRATION)
    verdict_failed(verify_contract_pdf(many, plain.contract), "format",
                   f"{MAX_REVISIONS_AFTER_REGISTRATION + 2} revisions after the registered document",
                   f"more than {MAX_REVISIONS_AFTER_REGISTRATION}")
    # at the cap: still read (and these empty updates are allowed changes)
    assert verify_contract_pdf(empty_updates(plain.pdf, MAX_REVISIONS_AFTER_REGISTRATION - 2), plain.contract).ok


def test_an_unforeseen_error_while_reading_fails_the_step(plain: Flow, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever a step trips over while reading the PDF becomes that step's failure, named,
    never a traceback (here a step made to raise an error no step expects)."""
    import client.pdf_contract_checks as checks

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise LookupError("an error nobody expected")

    monkeypatch.setattr(checks, "validate_pdf_signature", explode)
    verdict_failed(verify_contract_pdf(plain.pdf, plain.contract), "integrity", "the PDF cannot be read for this step",
                   "LookupError: an error nobody expected")


# -- seals that are there but not seen --------------------------------------------------------


def signed_in_new_field(base: bytes, party: Party, rect: tuple[float, float, float, float], *, flags: int | None = None,
                        page: int = 1, style: SealStampStyle | None = None,
                        writer_class: type[IncrementalPdfFileWriter] = IncrementalPdfFileWriter) -> SignedRevision:
    """`party` signs `base` into a new field at `rect` on `page` (flags `flags`), made with
    pyHanko directly (through a `writer_class`) in one revision: what a signing tool other
    than ours can make."""
    writer = writer_class(io.BytesIO(base))
    add_signature_field(writer, "Seal2", page, rect, flags)
    meta = signers.PdfSignatureMetadata(field_name="Seal2", md_algorithm="sha256",
                                        subfilter=fields.SigSeedSubFilter.PADES)
    pdf = bytes(signers.PdfSigner(meta, ProtocolSigner(party.identity),
                                  stamp_style=style or SealStampStyle(seal=party.seal)).sign_pdf(
        writer, existing_fields_only=True).getvalue())
    revision, cms_digest = next((r, c) for f, r, c in signatures_in(pdf) if f == "Seal2")
    return SignedRevision(pdf=pdf, revision_digest=revision, cms_digest=cms_digest, seal=party.seal.digest,
                          field="Seal2", page=page, rect=rect, level="B-B")


SEAL_SIDE = DEFAULT_SEAL_MM * PT_PER_MM
UNSEEN_SEALS = {
    # what: (rect on page 2, flags, words of the refusal)
    "99% off the page": ((594, 300, 594 + SEAL_SIDE, 300 + SEAL_SIDE), None, "not inside page 2"),
    "not printed": ((300, 300, 300 + SEAL_SIDE, 300 + SEAL_SIDE), 0, "not flagged Print"),
    "NoView": ((300, 300, 300 + SEAL_SIDE, 300 + SEAL_SIDE), 4 | 32, "flagged NoView"),
    "ToggleNoView": ((300, 300, 300 + SEAL_SIDE, 300 + SEAL_SIDE), 4 | 256, "flagged ToggleNoView"),
}


@pytest.mark.parametrize("what", list(UNSEEN_SEALS))
def test_a_seal_widget_that_is_not_seen(what: str, plain: Flow, parties: tuple[Party, Party, Party]) -> None:
    """The review's MINOR: step 7 said "drawn as registered" for a seal 99% off the page, or
    one a printer leaves out."""
    a, b, _ = parties
    rect, flags, words = UNSEEN_SEALS[what]
    second = signed_in_new_field(plain.first.pdf, b, rect, flags=flags)
    contract = chain_facts(plain.document, [(a, plain.first), (b, second)])
    verdict_failed(verify_contract_pdf(second.pdf, contract), "seals", "signature 2", words)


@dataclass(frozen=True)
class BentSealStyle(SealStampStyle):
    """The seal drawn with the matrix `cm` (a, b, c, d in fractions of the box's width and
    height; e, f too), its image dictionary extended with `image_extra`."""

    cm: tuple[float, float, float, float, float, float] = (1, 0, 0, 1, 0, 0)
    image_extra: tuple[tuple[str, Any], ...] = ()

    def create_stamp(self, writer: Any, box: Any, text_params: dict[str, Any]) -> Any:
        assert self.seal is not None
        return _BentSealStamp(writer, self, box, self.seal)


class _BentSealStamp(_SealStamp):
    def render(self) -> bytes:
        style = self.style
        assert isinstance(style, BentSealStyle) and self.writer is not None
        colour, mask = _image_stream(self.seal)
        colour[generic.pdf_name("/SMask")] = self.writer.add_object(mask)
        for key, value in style.image_extra:
            colour[generic.pdf_name(key)] = value(self.writer) if callable(value) else value
        self.set_resource(content.ResourceType.XOBJECT, generic.pdf_name("/Seal"), self.writer.add_object(colour))
        a, b, c, d, e, f = style.cm
        width, height = self.box.width, self.box.height
        return b"q %.4f %.4f %.4f %.4f %.4f %.4f cm /Seal Do Q" % (
            a * width, b * height, c * width, d * height, e * width, f * height)


def _alternate_image(writer: Any) -> generic.ArrayObject:
    """An /Alternates entry offering another image for printing (ISO 32000-1 8.9.5.4)."""
    other = writer.add_object(generic.StreamObject({
        generic.pdf_name("/Type"): generic.pdf_name("/XObject"), generic.pdf_name("/Subtype"): generic.pdf_name("/Image"),
        generic.pdf_name("/Width"): generic.NumberObject(1), generic.pdf_name("/Height"): generic.NumberObject(1),
        generic.pdf_name("/ColorSpace"): generic.pdf_name("/DeviceGray"),
        generic.pdf_name("/BitsPerComponent"): generic.NumberObject(8)}, stream_data=b"\xff"))
    return generic.ArrayObject([generic.DictionaryObject({generic.pdf_name("/Image"): other,
                                                          generic.pdf_name("/DefaultForPrinting"): generic.BooleanObject(True)})])


BENT_SEALS: dict[str, tuple[dict[str, Any], str]] = {
    # what: (the style's matrix and image entries, words of the refusal)
    "collapsed to a sliver": ({"cm": (0.5, 0.5, 0.5, 0.5001, 0, 0)}, "rotated or skewed"),
    "rotated a quarter turn": ({"cm": (0, 1, -1, 0, 1, 0)}, "rotated or skewed"),
    "mirrored": ({"cm": (-1, 0, 0, 1, 1, 0)}, "mirrored"),
    "squashed to half its height": ({"cm": (1, 0, 0, 0.5, 0, 0)}, "stretched"),
    "an alternate image for printing": ({"image_extra": (("/Alternates", _alternate_image),)}, "/Alternates"),
    "interpolated": ({"image_extra": (("/Interpolate", generic.BooleanObject(True)),)}, "/Interpolate"),
}


@pytest.mark.parametrize("what", list(BENT_SEALS))
def test_a_seal_drawn_other_than_registered(what: str, plain: Flow, parties: tuple[Party, Party, Party]) -> None:
    """The review's MINOR: the seal's matrix collapsed it (its box still 40 mm), mirrored
    or squashed it; its image carried entries a block-list did not name."""
    a, b, _ = parties
    options, words = BENT_SEALS[what]
    second = signed_in_new_field(plain.first.pdf, b, (300, 300, 300 + SEAL_SIDE, 300 + SEAL_SIDE),
                                 style=BentSealStyle(seal=b.seal, **options))
    contract = chain_facts(plain.document, [(a, plain.first), (b, second)])
    verdict_failed(verify_contract_pdf(second.pdf, contract), "seals", "signature 2", words)


def test_a_seal_drawn_over_an_earlier_seal(plain: Flow, parties: tuple[Party, Party, Party]) -> None:
    """The review's MINOR: B's signing tool puts B's seal over A's (signing refuses that;
    another tool need not)."""
    a, b, _ = parties
    x1, y1, x2, y2 = plain.first.rect
    second = signed_in_new_field(plain.first.pdf, b, (x1 + 20, y1 + 20, x2 + 20, y2 + 20))
    contract = chain_facts(plain.document, [(a, plain.first), (b, second)])
    verdict_failed(verify_contract_pdf(second.pdf, contract), "seals", "signature 2",
                   "covers the seal of signature 1")


def test_a_seal_appearance_too_large_to_be_a_seal(plain: Flow) -> None:
    """The review's MINOR: step 7 parsed B's appearance (rewritten after the last signature
    as 64 KiB of blanks before the seal's operators; 64 MiB took 23 s) before step 8
    refused the rewrite. A seal's appearance is about 50 bytes; over the cap it is not read."""
    def padded(writer: Any, widget: Any) -> None:
        old = widget["/AP"]["/N"]
        new = generic.StreamObject({k: v for k, v in old.items() if k not in ("/Length", "/Filter")},
                                   stream_data=b" " * 65_536 + old.data)
        new.compress()
        widget[generic.pdf_name("/AP")] = generic.DictionaryObject({generic.pdf_name("/N"): writer.add_object(new)})

    changed = update_widget(plain.pdf, plain.second.field, padded)
    verdict_failed(verify_contract_pdf(changed, plain.contract), "seals", "signature 2",
                   f"over the {MAX_APPEARANCE_BYTES}-byte cap")


# -- placement: nobody can steer a later signer's seal ---------------------------------------


def test_the_next_signer_is_not_steered_into_a_field_added_after_registration(
        plain: Flow, parties: tuple[Party, Party, Party]) -> None:
    """The review's MINOR: anyone holding A's output adds an empty field off the page (or
    without Print); B signing with the default placement put its seal there. Only the
    registered document's on-page, printable fields are taken by default."""
    b = parties[1]
    trap = updated(plain.first.pdf, lambda w: add_signature_field(w, "Trap", 1, (594, 300, 707, 413)))
    assert sign_contract_pdf(trap, b.identity, b.seal).field == "Seal2"  # a free slot, not "Trap"
    with pytest.raises(PdfSignatureError, match="'Trap' is not inside page 2") as caught:
        sign_contract_pdf(trap, b.identity, b.seal, field="Trap")
    assert caught.value.step == "placement"


@pytest.mark.parametrize("flags, rect, why", [
    (0, (60, 120, 210, 240), "not flagged Print"),
    (4 | 2, (60, 120, 210, 240), "flagged Hidden"),
    (None, (500, 120, 650, 240), "not inside page 2"),
])
def test_a_template_field_nobody_would_see_is_not_taken(flags: int | None, rect: tuple[int, int, int, int], why: str,
                                                        parties: tuple[Party, Party, Party]) -> None:
    """A registered template's first field is one a seal in it would not be seen: the
    default placement takes the next, and naming it is refused."""
    writer = IncrementalPdfFileWriter(io.BytesIO(contract_pdf()))
    add_signature_field(writer, "Unseen", 1, rect, flags)
    add_signature_field(writer, "PartyA", 1, (60, 300, 210, 420))
    out = io.BytesIO()
    writer.write(out)
    a = parties[0]
    assert sign_contract_pdf(out.getvalue(), a.identity, a.seal).field == "PartyA"
    with pytest.raises(PdfSignatureError, match=f"'Unseen' is {why}"):
        sign_contract_pdf(out.getvalue(), a.identity, a.seal, field="Unseen")
