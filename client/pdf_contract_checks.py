"""Signed contract PDFs checked against what the chain recorded: a PDF and the chain's
facts in, a verdict out (docs/contract-pdf.md is the reader's version).

The module stays whole past 600 lines: it is one verifier, nine steps that share the
signatures they read, and an expert checking it reads it top to bottom in step order
(as sigstore-python's verifier is read).

`verify_contract_pdf` is pure: the PDF and the chain's facts in, a verdict
out, no network and no clock but the chain's block times. It never raises on what the PDF
holds: whatever breaks the reading fails the step reading it. Its steps (VERIFY_STEPS,
the numbers of the comments in the code) stop at the first that fails:

1. size           the file is at most MAX_CONTRACT_PDF_BYTES.
2. format         it parses; it carries at least one signature; every signature is PAdES
                  (ETSI.CAdES.detached) or a document time-stamp (ETSI.RFC3161); it has
                  at most MAX_REVISIONS revisions, MAX_REVISIONS_AFTER_REGISTRATION of
                  them after the registered document.
3. registered     the revision just before the first signature's own revision (pyHanko's
                  revisions, read from the cross-reference chain) is a prefix pdf[:end]
                  ending at a %%EOF that hashes (the contract's algorithm) to the
                  registered digest, and every object it lists lies inside it.
4. integrity      every signature: the bytes it covers hash to its signed digest, its
                  CMS signature verifies (pyHanko), and every object of the revisions it
                  covers lies inside those bytes.
5. trust          every signature's certificate chains to the root the chain's attestation
                  names, valid at the attestation's block time, with a signing key usage,
                  not revoked then by any CRL the PDF carries (pyHanko's validator, no fetching).
6. parties        PDF signature k is the chain's attestation with sequence k: the same
                  certificate, revision digest and CMS digest; nothing missing, extra or
                  out of order.
7. seals          every signature's widget is seen (inside its page, printed, not hidden,
                  in a form that does not ask viewers to redraw fields) and draws exactly
                  one image (its one appearance, the normal one, upright, unmirrored, in
                  proportion), whose pixels are the registered seal's, owned by the signer
                  with the signing certificate, approved at or before the block time and
                  not revoked before it (the same block: after the signature); no seal
                  covers an earlier one.
8. modifications  every revision after the registered document, each against the one
                  before it (the signers' own revisions included), makes only what
                  signing needs (_contract_policy, pyHanko's difference analysis): a
                  signature field created or filled, its widget and appearance, the
                  form's field list, DSS, document time-stamps, dates in /Info,
                  metadata; no form filling. A party's own revision changes no field
                  but its signature's; a revision no party signs is validation data
                  only (no visible field). No annotation written after registration
                  draws, but a party's seal. pyHanko's DocMDP verdict on each signature
                  holds, and nothing follows the last revision.
9. timestamps     a signature time-stamp covers the signature value, is from a TSA under a
                  given root (when roots are given), and is not later than the block by
                  more than TSA_TOLERANCE.
"""
from __future__ import annotations

import hashlib
import math
import re
import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asn1crypto import crl as asn1_crl, x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning

from client.errors import ClientError
from client.pdf_contracts import MIN_SEAL_DRAWN_MM
from client.pdf_signatures import PT_PER_MM, SIGNING_KEY_USAGES, PdfSignatureError
from client.pdf_structure import (
    DOC_TIMESTAMP_SUBFILTER,
    EOF_MARKER,
    HIDDEN_FLAGS,
    MAX_CONTRACT_PDF_BYTES,
    MAX_COORDINATE,
    MAX_PDF_SIGNATURES,
    MAX_REVISIONS,
    MAX_REVISIONS_AFTER_REGISTRATION,
    PADES_SUBFILTER,
    READ_ERRORS,
    PdfPage,
    SignatureSpan,
    bounded_recursion,
    certificate_fingerprint,
    describe_objects,
    dict_get,
    furthest_objects,
    is_visible,
    open_pdf,
    page_of,
    prefix_digests,
    prefix_revision,
    read_error,
    read_pages,
    read_rect,
    rect_inside,
    rects_overlap,
    redraws_fields,
    revision_ends,
    why_unseen,
    widget_of,
)
from client.seals import MAX_SEAL_SIDE, SealImageError, pixel_digest, rgba_from_planes
from evidence import digest as digests
from evidence.receipt import DEFAULT_TSA_TOLERANCE

# As in client/pdf_signatures.py: pyHanko imports cryptography's DSA module, which warns.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.content_stream_parser import parse_content_stream
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader
    from pyhanko.sign import fields
    from pyhanko.sign.diff_analysis import (
        CatalogModificationRule,
        DiffResult,
        DocInfoRule,
        DSSCompareRule,
        FieldComparisonContext,
        FormUpdate,
        FormUpdatingRule,
        MetadataUpdateRule,
        ModificationLevel,
        ObjectStreamRule,
        QualifiedWhitelistRule,
        SigFieldCreationRule,
        SigFieldModificationRule,
        StandardDiffPolicy,
        SuspiciousModification,
        XrefStreamRule,
    )
    from pyhanko.sign.diff_analysis.commons import compare_key_refs, qualify_transforming
    from pyhanko.sign.diff_analysis.constants import ROOT_EXEMPT_STRICT_COMPARISON
    from pyhanko.sign.diff_analysis.form_rules_api import _list_fields as list_form_fields
    from pyhanko.sign.validation import KeyUsageConstraints, validate_pdf_signature, validate_pdf_timestamp
    from pyhanko.sign.validation.dss import DocumentSecurityStore
    from pyhanko.sign.validation.errors import ValidationInfoReadingError
    from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
    from pyhanko.sign.validation.status import PdfSignatureStatus, TimestampSignatureStatus
    from pyhanko_certvalidator import ValidationContext
    from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy, RevocationCheckingRule


# The steps verify_contract_pdf checks, in order (Check.name is one of these).
VERIFY_STEPS = ("size", "format", "registered", "integrity", "trust", "parties", "seals", "modifications",
                "timestamps")
# How much later than the block the signature time-stamp may be: the signer asks the TSA
# while signing, before the transaction is sent, so an honest token is older than the
# block and the tolerance covers clock error alone (evidence.receipt explains the 30 s).
TSA_TOLERANCE = DEFAULT_TSA_TOLERANCE
# The largest appearance stream (encoded, and decoded) that is read to see what it draws:
# a seal's is one image drawn with one matrix, about 50 bytes ("q 113.0000 0 0 113.0000
# 0.0000 0.0000 cm /Seal Do Q"), an empty field's none. Parsing is linear in the size, and
# step 7 reads a party's appearance before step 8 judges who wrote it (64 MiB of blanks
# took 23 s); 4 KiB is eighty times a seal's.
MAX_APPEARANCE_BYTES = 4096
# How far the seal's drawn width-to-height ratio may be from its image's: our signer
# rounds the box to hundredths of a point and the matrix to four decimals (under 0.1 %);
# a stretch of 1 % is not visible, one of 5 % is.
MAX_SEAL_ASPECT_ERROR = 0.01
# The only operators a seal appearance may use: save/restore, a transformation, the image.
_APPEARANCE_OPERATORS = frozenset({"q", "Q", "cm", "Do"})
# The keys a seal's appearance (a form XObject) and its image and soft mask may carry: what
# signing writes, and nothing a viewer could draw or print instead (/Alternates, /OPI, /Ref,
# /OC), blend in (/Group, /Matte, /Mask) or decode otherwise (/Decode, /DecodeParms).
_APPEARANCE_KEYS = frozenset({"/Type", "/Subtype", "/FormType", "/BBox", "/Matrix", "/Resources", "/Length",
                              "/Filter"})
_MASK_KEYS = frozenset({"/Type", "/Subtype", "/Width", "/Height", "/ColorSpace", "/BitsPerComponent", "/Filter",
                        "/Length"})
_IMAGE_KEYS = _MASK_KEYS | {"/SMask"}
# /AcroForm keys a revision after registration may change: its fields, and /SigFlags,
# which the first signature of a template sets (SignaturesExist | AppendOnly; a
# template's form often has 0 or 1 there). Not pyHanko's other exemptions (/DA, /DR, /Q,
# /NeedAppearances): with /NeedAppearances a viewer redraws every field from its value
# with the form's fonts, so setting it, or changing the fonts, changes what the contract
# shows (a planted value, a font that draws "1" as "9"). /NeedAppearances is compared
# by what it asks (_refuse_form_changes): pyHanko's signer deletes it, which changes
# nothing when it was false.
_FORM_KEYS_AFTER_REGISTRATION = frozenset({"/Fields", "/SigFlags"})
# /Info keys a revision after registration may change: what every signing tool updates.
# A viewer shows /Title in its title bar; nothing else there is a signing tool's to touch.
_INFO_KEYS_AFTER_REGISTRATION = frozenset({"/ModDate", "/Producer"})
# How pyHanko's refusals name objects (repr of Reference / IndirectObject): the refusal
# names them again as a reader knows them (page 2, the content of page 1, a form field).
_REF_PATTERN = re.compile(r"Reference\(idnum=(\d+), generation=(\d+)\)|IndirectObject\((\d+), (\d+)\)")


class _SignatureFormRule(FormUpdatingRule):
    """pyHanko's FormUpdatingRule, which compares a form with the form before it, held to
    what signing changes after registration (its `ignored_acroform_keys` are
    _FORM_KEYS_AFTER_REGISTRATION), with two additions:

    - the form's default resources (/DR) do not change at all. pyHanko compares the /DR
      entry, but clears an indirect /DR dictionary rewritten under its own number (and
      the fonts it then names) as form filling, which a signing revision may do.
    - the revision that creates the form: a registered contract without signature fields
      has no /AcroForm, and the first signature's revision adds one. pyHanko never needs
      that case (it analyses revisions after a signature, which has a form), and fails on
      it. The created form is held to what signing makes: signature fields only (the
      field rules), and no key besides _FORM_KEYS_AFTER_REGISTRATION (no /XFA, no
      calculation order, no /NeedAppearances)."""

    def apply(self, old: HistoricalResolver, new: HistoricalResolver) -> Any:
        if "/AcroForm" not in new.root:
            yield from super().apply(old, new)  # pyHanko's verdict on a form removed (or never made)
            return
        if "/AcroForm" in old.root:
            _refuse_form_changes(old, new)
            yield from super().apply(old, new)
            return
        context = FormUpdate.curry_ref(field_name=None, context_checked=None)
        _, form = yield from qualify_transforming(
            ModificationLevel.LTA_UPDATES, compare_key_refs("/AcroForm", old, old.root, new.root), transform=context)
        if not isinstance(form, generic.DictionaryObject) or isinstance(form, generic.StreamObject):
            raise SuspiciousModification("the new /AcroForm is not a dictionary")
        extra = sorted(set(form.keys()) - _FORM_KEYS_AFTER_REGISTRATION)
        if extra:
            raise SuspiciousModification(f"the new /AcroForm has {', '.join(extra)}, which signing does not add")
        empty = generic.DictionaryObject()
        _, new_fields = yield from qualify_transforming(
            ModificationLevel.LTA_UPDATES, compare_key_refs("/Fields", old, empty, form), transform=context)
        # every field in the new form is new; pyHanko's field rules judge each (signature
        # fields pass, any other field is left unexplained). _list_fields is pyHanko's own
        # walk of the field tree (pinned: pyhanko>=0.38,<0.39).
        specs = dict(list_form_fields(generic.ArrayObject(), new_fields or generic.ArrayObject(), old_path=None))
        comparison = FieldComparisonContext(field_specs=specs, old=old, new=new)
        for rule in self.field_rules:
            yield from rule.apply(comparison)


def _refuse_form_changes(old: HistoricalResolver, new: HistoricalResolver) -> None:
    """SuspiciousModification unless the form still asks viewers to redraw its fields
    exactly when it did (/NeedAppearances true), and its /DR is what it was: the same
    entry, and no object it reaches written by the revision `new` shows."""
    before, after = old.root["/AcroForm"], new.root["/AcroForm"]
    if not isinstance(before, generic.DictionaryObject) or not isinstance(after, generic.DictionaryObject):
        return  # pyHanko's rule refuses a form that is not a dictionary
    if redraws_fields(old) != redraws_fields(new):
        raise SuspiciousModification(f"the form's /NeedAppearances changes from {dict_get(before, '/NeedAppearances')} "
                                     f"to {dict_get(after, '/NeedAppearances')}: whether viewers redraw the fields "
                                     "from their values")
    entry = after.raw_get("/DR") if "/DR" in after else None
    if entry != (before.raw_get("/DR") if "/DR" in before else None):
        raise SuspiciousModification("the form's default resources (/DR) changed")
    if entry is None:
        return
    written = set(new.reader.xrefs.explicit_refs_in_revision(new.revision))
    rewritten = sorted(written & new.collect_dependencies(entry), key=lambda r: (r.idnum, r.generation))
    if rewritten:
        raise SuspiciousModification(f"the form's default resources (/DR) changed: {', '.join(map(repr, rewritten))} "
                                     "rewritten")


class _SigningInfoRule(DocInfoRule):
    """pyHanko's DocInfoRule (the document information dictionary may be updated), with
    only _INFO_KEYS_AFTER_REGISTRATION changed."""

    def apply(self, old: HistoricalResolver, new: HistoricalResolver) -> Any:
        after = _info(new)
        if after is not None:
            before = _info(old)
            if not isinstance(after, generic.DictionaryObject):
                raise SuspiciousModification("the document information (/Info) is not a dictionary")
            if not isinstance(before, generic.DictionaryObject):
                before = generic.DictionaryObject()
            keys = set(before.keys()) | set(after.keys())
            changed = sorted(k for k in keys - _INFO_KEYS_AFTER_REGISTRATION
                             if (before.raw_get(k) if k in before else None) != (after.raw_get(k) if k in after else None))
            if changed:
                raise SuspiciousModification(f"the document information (/Info) changes {', '.join(changed)}: after "
                                             f"registration only {' and '.join(sorted(_INFO_KEYS_AFTER_REGISTRATION))} "
                                             "may change")
        yield from super().apply(old, new)


class _CertificationRule(QualifiedWhitelistRule):
    """The catalog's /Perms, in the revision of the contract's first signature only: absent,
    or added as << /DocMDP (that signature's value) >> (a certification signature, which
    is what sign_contract_pdf makes). The catalog rule it goes with ignores /Perms; every
    other revision keeps pyHanko's catalog rule, under which /Perms may not change."""

    def __init__(self, signature_value: generic.Reference) -> None:
        self.signature_value = signature_value

    def apply_qualified(self, old: HistoricalResolver, new: HistoricalResolver) -> Any:
        before, after = old.root.raw_get("/Perms") if "/Perms" in old.root else None, \
            new.root.raw_get("/Perms") if "/Perms" in new.root else None
        if before == after:  # none, or the registered document's left as it was
            return
        if before is not None:
            raise SuspiciousModification("the signature changes the /Perms the registered document carries")
        if not isinstance(after, generic.DictionaryObject) or set(after.keys()) != {"/DocMDP"}:
            raise SuspiciousModification("the catalog's new /Perms is not a direct << /DocMDP ... >>")
        value = after.raw_get("/DocMDP")
        if not isinstance(value, generic.IndirectObject) or value.reference != self.signature_value:
            raise SuspiciousModification("the catalog's new /Perms /DocMDP is not this revision's signature")
        yield from ()


def _info(resolver: HistoricalResolver) -> Any:
    """The document information dictionary as the revision `resolver` shows it (the
    trailer's entry dereferenced in that revision, not the latest), or None."""
    trailer = resolver.trailer_view
    if "/Info" not in trailer:
        return None
    entry = trailer.raw_get("/Info")
    return resolver(entry.reference) if isinstance(entry, generic.IndirectObject) else entry


def _contract_policy(certification: generic.Reference | None = None) -> StandardDiffPolicy:
    """The changes a revision of a contract PDF may make: what signing needs and nothing
    else. pyHanko's default policy without its form-filling rule (a contract's content,
    its text fields included, is fixed at registration; only signature fields are filled),
    with new visible signature fields allowed after the certification (Acrobat allows them
    under DocMDP P=2, pyHanko's default does not: it calls itself "stricter than Acrobat";
    it is how the second party signs a PDF with no field for it), a form that changes only
    its fields and /SigFlags, or is created by the first signature (_SignatureFormRule),
    and document information that changes only its dates and producer (_SigningInfoRule).
    `certification`: the first signature's value, for its own revision, which may add the
    catalog's /Perms (_CertificationRule). Which revision may change what is
    modifications' business (step 8): the policy says what changed, and at which level."""
    catalog: list[QualifiedWhitelistRule] = [CatalogModificationRule()]
    if certification is not None:
        catalog = [CatalogModificationRule(ignored_keys=ROOT_EXEMPT_STRICT_COMPARISON | {"/Perms"}),
                   _CertificationRule(certification)]
    return StandardDiffPolicy(
        global_rules=[
            *catalog,
            _SigningInfoRule().as_qualified(ModificationLevel.LTA_UPDATES),
            XrefStreamRule().as_qualified(ModificationLevel.LTA_UPDATES),
            ObjectStreamRule().as_qualified(ModificationLevel.LTA_UPDATES),
            DSSCompareRule().as_qualified(ModificationLevel.LTA_UPDATES),
            MetadataUpdateRule().as_qualified(ModificationLevel.LTA_UPDATES),
        ],
        form_rule=_SignatureFormRule(field_rules=[
            SigFieldCreationRule(allow_new_visible_after_certify=True),
            SigFieldModificationRule(),
        ], ignored_acroform_keys=_FORM_KEYS_AFTER_REGISTRATION | {"/NeedAppearances"}),
    )


# The policy for every revision after the first signature's (and pyHanko's own DocMDP
# analysis of each signature: the same rules, so the two agree).
DIFF_POLICY = _contract_policy()


# -- models ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainAttestation:
    """One party's signature as the chain recorded it (ContractRegistry.attestation and
    pdf_signature)."""

    party_index: int
    signer: str                 # EIP-55 address
    cert_fingerprint: bytes     # SHA-256 of the signing certificate's DER
    root_fingerprint: bytes
    signed_at: int              # block time, unix seconds
    sequence: int | None        # None: signed without a PDF (ContractRegistry.sign)
    revision_digest: bytes | None
    cms_digest: bytes | None
    seal: bytes | None


@dataclass(frozen=True)
class ChainSeal:
    """A seal as SealRegistry holds it."""

    seal: bytes
    owner: str
    name: str
    pixel_digest: bytes
    cert_fingerprint: bytes
    status: str                 # "Proposed" | "Approved" | "Revoked"
    approved_at: int            # unix seconds, 0 = never
    revoked_at: int             # unix seconds, 0 = never


@dataclass(frozen=True)
class ChainContract:
    """The chain's facts about one contract, gathered by the caller from the node."""

    contract_id: bytes
    project_code: str
    version: int
    status: str
    doc_digest: bytes
    digest_algorithm: str                        # "sha256" | "sm3"
    parties: tuple[str, ...]
    attestations: tuple[ChainAttestation, ...]   # every party that signed, any order
    seals: Mapping[bytes, ChainSeal]             # every seal an attestation names (missing = not on chain)
    roots: Mapping[bytes, x509.Certificate]      # root certificates by fingerprint


@dataclass(frozen=True)
class Check:
    name: str                   # one of VERIFY_STEPS
    ok: bool
    detail: str                 # one line a court clerk can read


@dataclass(frozen=True)
class SignatureReport:
    """One PAdES signature of the PDF, in file order."""

    index: int                  # 1-based, file order
    field: str
    signer: str | None          # the chain's address for it, when the chain records it
    subject: str
    issuer: str
    cert_fingerprint: bytes
    revision_end: int
    revision_digest: bytes
    cms_digest: bytes
    level: str
    signing_time: datetime | None   # the signer's own clock (the signature dictionary's /M)
    timestamp: datetime | None      # the TSA's genTime of the signature time-stamp
    seal: bytes | None              # the registered seal matched
    seal_name: str | None
    page: int


@dataclass(frozen=True)
class PdfVerdict:
    ok: bool
    checks: tuple[Check, ...]   # VERIFY_STEPS order, stopping after the first failure
    signatures: tuple[SignatureReport, ...]
    complete: bool              # the contract is Effective and every party's PDF signature is here

    @property
    def failed(self) -> Check | None:
        return next((check for check in self.checks if not check.ok), None)


# -- verification ---------------------------------------------------------------------------


class _Failed(ClientError):
    """A verification step that does not hold (internal: becomes a failed Check)."""

    def __init__(self, step: str, detail: str) -> None:
        super().__init__(f"{step}: {detail}")
        self.step = step
        self.detail = detail


@dataclass
class _Signature:
    """One signature of the PDF as verification learns about it."""

    index: int                  # 1-based among party signatures; 0 for a document time-stamp
    embedded: EmbeddedPdfSignature
    span: SignatureSpan
    cert: x509.Certificate
    fingerprint: bytes
    widget_ref: generic.Reference | None
    page: int
    status: PdfSignatureStatus | TimestampSignatureStatus | None = None
    attestation: ChainAttestation | None = None
    seal: ChainSeal | None = None

    @property
    def is_timestamp(self) -> bool:
        return self.index == 0

    @property
    def label(self) -> str:
        if self.is_timestamp:
            return f"the document time-stamp in field {self.embedded.field_name!r}"
        return f"signature {self.index} (field {self.embedded.field_name!r}, {self.cert.subject.rfc4514_string()})"


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _text(moment: datetime | None) -> str:
    return "none" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _hex(data: bytes | None) -> str:
    return "none" if data is None else "0x" + data.hex()


def _one_line(text: str, limit: int = 600) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 3] + "..."


def verify_contract_pdf(pdf: bytes, contract: ChainContract, *,
                        tsa_roots: Sequence[x509.Certificate] = ()) -> PdfVerdict:
    """Check a signed contract PDF against the chain's facts (module docstring, steps 1-9).
    Pure: no network, no clock but the chain's times. Read under bounded_recursion (a
    deeply nested file fails a step instead of crashing the process)."""
    with bounded_recursion:
        return _verify(pdf, contract, tuple(tsa_roots))


def _verify(pdf: bytes, contract: ChainContract, tsa_roots: tuple[x509.Certificate, ...]) -> PdfVerdict:
    checks: list[Check] = []
    found: list[_Signature] = []
    steps = _Steps(pdf, contract, tsa_roots, found)
    for name in VERIFY_STEPS:
        try:
            detail = getattr(steps, name)()
        except _Failed as failure:
            checks.append(Check(failure.step, False, _one_line(failure.detail)))
            break
        except PdfSignatureError as error:  # a structure that cannot be read where the step needs it
            checks.append(Check(name, False, _one_line(error.reason)))
            break
        except READ_ERRORS as error:
            # a damaged PDF object pyHanko or this step trips over: the file fails here
            checks.append(Check(name, False, _one_line(f"the PDF cannot be read for this step: {read_error(error)}")))
            break
        except Exception as error:  # the last resort: a court reads a failed step, never a traceback
            checks.append(Check(name, False, _one_line(f"the PDF cannot be read for this step: "
                                                       f"{type(error).__name__}: {error}")))
            break
        checks.append(Check(name, True, _one_line(detail)))
    ok = len(checks) == len(VERIFY_STEPS) and all(c.ok for c in checks)
    reports = tuple(steps.report(s) for s in found if not s.is_timestamp)
    complete = ok and contract.status == "Effective" and steps.all_parties_present()
    return PdfVerdict(ok=ok, checks=tuple(checks), signatures=reports, complete=complete)


class _Steps:
    """verify_contract_pdf's steps, one method each, sharing what earlier steps learnt."""

    def __init__(self, pdf: bytes, contract: ChainContract, tsa_roots: tuple[x509.Certificate, ...],
                 found: list[_Signature]) -> None:
        self.pdf = pdf
        self.contract = contract
        self.tsa_roots = tsa_roots
        self.signatures = found
        self.reader: PdfFileReader | None = None
        self.pages: list[PdfPage] = []
        self.by_sequence = {a.sequence: a for a in contract.attestations if a.sequence is not None}
        self.by_fingerprint = {a.cert_fingerprint: a for a in contract.attestations}
        self.dss_certs: list[asn1_x509.Certificate] = []
        self.dss_crls: list[asn1_crl.CertificateList] = []
        self.dss_revocation = False
        self.furthest: list[tuple[int, generic.Reference | None]] = []

    @property
    def party_signatures(self) -> list[_Signature]:
        return [s for s in self.signatures if not s.is_timestamp]

    # 1. size
    def size(self) -> str:
        if len(self.pdf) > MAX_CONTRACT_PDF_BYTES:
            raise _Failed("size", f"{len(self.pdf)} bytes exceeds the {MAX_CONTRACT_PDF_BYTES}-byte cap")
        return f"{len(self.pdf)} bytes (cap {MAX_CONTRACT_PDF_BYTES})"

    # 2. format
    def format(self) -> str:
        try:
            self.reader = reader = open_pdf(self.pdf, "format")
        except PdfSignatureError as exc:
            raise _Failed("format", exc.reason) from exc
        # Revisions as pyHanko reads them (the /Prev chain, which needs no %%EOF), before
        # anything compares one with another (steps 4 and 8: work that grows with their square)
        total = reader.xrefs.total_revisions
        if total > MAX_REVISIONS:
            raise _Failed("format", f"{total} revisions (cross-reference sections), more than {MAX_REVISIONS}: not a "
                                    "contract PDF")
        try:
            self.pages = read_pages(reader)
            filled = list(fields.enumerate_sig_fields(reader, filled_status=True))
            if len(filled) > MAX_PDF_SIGNATURES:
                raise _Failed("format", f"{len(filled)} signatures exceed {MAX_PDF_SIGNATURES}")
            for name, value, _ in filled:
                value = value.get_object()
                kind, subfilter = dict_get(value, "/Type", "/Sig"), dict_get(value, "/SubFilter")
                if not ((kind == "/Sig" and subfilter == PADES_SUBFILTER) or (kind == "/DocTimeStamp" and subfilter == DOC_TIMESTAMP_SUBFILTER)):
                    raise _Failed("format", f"the signature in field {name!r} is {kind} {subfilter}, neither PAdES "
                                            f"({PADES_SUBFILTER[1:]}) nor a document time-stamp ({DOC_TIMESTAMP_SUBFILTER[1:]})")
            embedded = list(reader.embedded_signatures)
            if not embedded:
                raise _Failed("format", "the PDF carries no signature")
            after = total - min(signature.signed_revision for signature in embedded)
            if after > MAX_REVISIONS_AFTER_REGISTRATION:
                raise _Failed("format", f"{after} revisions after the registered document (the one before the first "
                                        f"signature's), more than {MAX_REVISIONS_AFTER_REGISTRATION}: signing makes "
                                        "one per signature and one per DSS update")
            self._load_dss(reader)
            index = 0
            for signature in embedded:
                timestamp = signature.sig_object_type == "/DocTimeStamp"
                if not timestamp:
                    index += 1
                widget_ref, page = self._locate(signature)
                cert = x509.load_der_x509_certificate(signature.signer_cert.dump())
                self.signatures.append(_Signature(
                    index=0 if timestamp else index, embedded=signature, span=SignatureSpan.of(self.pdf, signature.byte_range),
                    cert=cert, fingerprint=certificate_fingerprint(cert), widget_ref=widget_ref, page=page))
        except _Failed:
            raise
        except PdfSignatureError as exc:
            raise _Failed("format", exc.reason) from exc
        except READ_ERRORS as exc:
            raise _Failed("format", f"the PDF's pages or signatures cannot be read: {read_error(exc)}") from exc
        if not self.party_signatures:
            raise _Failed("format", "the PDF carries only document time-stamps, no party's signature")
        stamps = len(self.signatures) - len(self.party_signatures)
        extra = f" and {stamps} document time-stamp(s)" if stamps else ""
        return f"{len(self.party_signatures)} PAdES signature(s){extra}, {len(self.pages)} page(s)"

    def _load_dss(self, reader: PdfFileReader) -> None:
        try:
            dss = DocumentSecurityStore.read_dss(reader)
        except ValidationInfoReadingError:  # no DSS (optional), or one pyHanko cannot use
            return
        self.dss_certs = list(dss.load_certs())
        for ref in dss.crls:
            self.dss_crls.append(asn1_crl.CertificateList.load(ref.get_object().data))
        self.dss_revocation = bool(dss.crls or dss.ocsps)

    def _locate(self, signature: EmbeddedPdfSignature) -> tuple[generic.Reference | None, int]:
        try:
            widget_ref, _ = widget_of(signature.sig_field)
        except PdfError:
            return None, -1
        page = page_of(widget_ref, self.pages)
        return widget_ref, -1 if page is None else page

    # 3. registered
    def registered(self) -> str:
        contract = self.contract
        reader = self.reader
        assert reader is not None
        # The registered document is the revision just before the first signature's own
        # revision: anything between them would be an update nobody was registered to sign
        # (and which the first signature, covering it, would seem to vouch for). Revisions
        # are pyHanko's, read from the cross-reference chain; the candidate ends are the
        # %%EOF markers (each with and without its end-of-line) before the first signature
        # value, as the registered document was a whole PDF file.
        first = min(self.signatures, key=lambda s: s.embedded.signed_revision)
        own = first.embedded.signed_revision
        if own == 0:
            raise _Failed("registered", f"{first.label} is in the file's first revision: no registered document "
                                        "precedes it")
        ends = [end for end in revision_ends(self.pdf) if end <= first.span.contents_start]
        try:
            candidates = prefix_digests(self.pdf, ends, contract.digest_algorithm)
        except digests.UnknownDigestAlgorithm as exc:
            raise _Failed("registered", str(exc)) from exc
        found = [end for end, digest in candidates if digest == contract.doc_digest]
        if not found:
            raise _Failed("registered", f"no revision before the first signature hashes to the registered "
                                        f"{contract.digest_algorithm} digest {_hex(contract.doc_digest)}: this PDF "
                                        f"does not start with contract {contract.project_code} v{contract.version}'s "
                                        "document")
        end = found[-1]
        revision = prefix_revision(reader, self.pdf, end)
        if revision != own - 1:
            between = "some" if revision is None else str(own - 1 - revision)
            raise _Failed("registered", f"bytes 0-{end} are the registered document ({contract.digest_algorithm} "
                                        f"{_hex(contract.doc_digest)}), but {between} revision(s) follow it before "
                                        f"the revision of {first.label} (cross-reference at byte "
                                        f"{reader.xrefs.get_startxref_for_revision(own)}): changes nobody was "
                                        "registered to sign")
        self.furthest = furthest_objects(reader)
        beyond = self._object_beyond(own - 1, end)
        if beyond is not None:
            raise _Failed("registered", f"the registered document's cross-reference puts {beyond}, past its end (byte "
                                        f"{end}): what this PDF shows there is not in the registered document")
        return (f"bytes 0-{end} of the PDF are the registered document ({contract.digest_algorithm} "
                f"{_hex(contract.doc_digest)}), the revision just before the first signature's")

    def _object_beyond(self, revision: int, end: int) -> str | None:
        """The furthest object revisions 0..`revision` place at or past byte `end`, named,
        or None when they all lie before it."""
        where, ref = max(self.furthest[:revision + 1], key=lambda item: item[0], default=(-1, None))
        if where < end or ref is None:
            return None
        return f"object {ref.idnum} {ref.generation} at byte {where}"

    def _validation_context(self, roots: Sequence[x509.Certificate], moment: datetime,
                            signature: EmbeddedPdfSignature | None = None) -> ValidationContext:
        """Trust in `roots` at `moment`, with the PDF's certificates and CRLs and no fetching.

        Revocation: a certificate whose issuer has a CRL in the PDF (DSS or CMS) that
        speaks for `moment` must pass it (pyHanko's CRL_REQUIRED); one whose issuer has
        none is not checked (the chain checked revocation when it recorded the
        signature). A CRL speaks for `moment` unless its nextUpdate is before it (an
        earlier party's expired CRL says nothing about a later block); one issued after
        `moment` counts (retroactive): it still says whether the certificate was revoked
        before."""
        crls = [crl for crl in (*self.dss_crls, *(_embedded_crls(signature) if signature is not None else ()))
                if crl["tbs_cert_list"]["next_update"].native is None
                or crl["tbs_cert_list"]["next_update"].native >= moment]
        leaf_rule = middle_rule = RevocationCheckingRule.CHECK_IF_DECLARED_SOFT
        if signature is not None:
            issuers = {crl["tbs_cert_list"]["issuer"].dump() for crl in crls}
            leaf = signature.signer_cert
            cas = [c for c in signature.other_embedded_certs if c.ca and c.self_signed == "no"]
            if leaf.issuer.dump() in issuers:
                leaf_rule = RevocationCheckingRule.CRL_REQUIRED
            if cas and all(c.issuer.dump() in issuers for c in cas):
                middle_rule = RevocationCheckingRule.CRL_REQUIRED
        policy = CertRevTrustPolicy(RevocationCheckingPolicy(leaf_rule, middle_rule), retroactive_revinfo=True)
        return ValidationContext(
            trust_roots=[asn1_x509.Certificate.load(r.public_bytes(serialization.Encoding.DER)) for r in roots],
            other_certs=self.dss_certs, crls=crls, moment=moment, allow_fetching=False, revinfo_policy=policy,
        )

    def _attestation_for_trust(self, signature: _Signature) -> ChainAttestation | None:
        """The attestation whose root and time a signature is checked at: the one with its
        certificate, else the one at its place in the order (step 6 says which is right)."""
        return self.by_fingerprint.get(signature.fingerprint) or self.by_sequence.get(signature.index)

    # 4. integrity
    def integrity(self) -> str:
        for signature in self.signatures:
            attestation = None if signature.is_timestamp else self._attestation_for_trust(signature)
            root = self.contract.roots.get(attestation.root_fingerprint) if attestation is not None else None
            moment = _utc(attestation.signed_at) if attestation is not None else _utc(self._latest_block_time())
            signer_context = self._validation_context([root] if root is not None else [], moment, signature.embedded)
            ts_context = self._validation_context(self.tsa_roots, moment)
            try:
                if signature.is_timestamp:
                    signature.status = validate_pdf_timestamp(signature.embedded, validation_context=ts_context,
                                                              diff_policy=DIFF_POLICY)
                else:
                    signature.status = validate_pdf_signature(
                        signature.embedded, signer_validation_context=signer_context,
                        ts_validation_context=ts_context, diff_policy=DIFF_POLICY,
                        key_usage_settings=KeyUsageConstraints(key_usage=set(SIGNING_KEY_USAGES),
                                                               match_all_key_usages=False))
            except READ_ERRORS as exc:
                raise _Failed("integrity", f"{signature.label} cannot be checked: {read_error(exc)}") from exc
            status = signature.status
            if not status.intact:
                raise _Failed("integrity", f"{signature.label}: the signed bytes were changed (their digest is not "
                                           "the one signed)")
            if not status.valid:
                raise _Failed("integrity", f"{signature.label}: the CMS signature does not verify with the "
                                           "certificate's key")
            if signature.span.cms != bytes(signature.embedded.pkcs7_content)[:len(signature.span.cms)]:
                raise _Failed("integrity", f"{signature.label}: the /Contents in the file is not the CMS pyHanko read")
            beyond = self._object_beyond(signature.embedded.signed_revision, signature.span.revision_end)
            if beyond is not None:
                raise _Failed("integrity", f"{signature.label}: the cross-reference it signs puts {beyond}, past the "
                                           f"end of the bytes it covers ({signature.span.revision_end}): that object "
                                           "is not signed")
        return f"{len(self.signatures)} signature(s) intact; every CMS signature verifies"

    def _latest_block_time(self) -> int:
        return max((a.signed_at for a in self.contract.attestations), default=0)

    # 5. trust
    def trust(self) -> str:
        checked = 0
        for signature in self.party_signatures:
            attestation = self._attestation_for_trust(signature)
            if attestation is None:
                continue  # the chain does not know it: step 6 says so
            status = signature.status
            assert isinstance(status, PdfSignatureStatus)
            root = self.contract.roots.get(attestation.root_fingerprint)
            when = _text(_utc(attestation.signed_at))
            if root is None:
                raise _Failed("trust", f"{signature.label}: the chain's root {_hex(attestation.root_fingerprint)} "
                                       "for it was not supplied")
            if status.revoked:
                details = status.revocation_details
                at = _text(details.revocation_date) if details is not None else "a time before the block"
                raise _Failed("trust", f"{signature.label}: the certificate was revoked at {at}, before the chain "
                                       f"recorded the signature at {when}")
            if not status.trusted:
                indication = status.trust_problem_indic
                problem = str(indication.standard_name) if indication is not None else "untrusted"
                raise _Failed("trust", f"{signature.label}: no valid path to the root "
                                       f"{root.subject.rfc4514_string()} at {when} with a signing key usage ({problem})")
            checked += 1
        return f"{checked} signer certificate(s) chain to their registered roots at the block times"

    # 6. parties
    def parties(self) -> str:
        contract = self.contract
        bare = [a for a in contract.attestations if a.sequence is None]
        if bare:
            a = bare[0]
            raise _Failed("parties", f"party {a.party_index} ({a.signer}) signed on the chain without a PDF "
                                     "signature: the chain holds no revision of this PDF for it")
        recorded = len(self.by_sequence)
        carried = len(self.party_signatures)
        for signature in self.party_signatures:
            attestation = self.by_sequence.get(signature.index)
            if attestation is None:
                raise _Failed("parties", f"{signature.label} is not one the chain records (it records {recorded} "
                                         "PDF signature(s))")
            if attestation.cert_fingerprint != signature.fingerprint:
                other = self.by_fingerprint.get(signature.fingerprint)
                if other is not None:
                    raise _Failed("parties", f"{signature.label} is party {other.party_index}'s ({other.signer}), "
                                             f"which the chain records as signature {other.sequence}: a different "
                                             "order")
                raise _Failed("parties", f"{signature.label}: the chain records party {attestation.party_index} "
                                         f"({attestation.signer}) as signature {signature.index}, with another "
                                         "certificate")
            revision = hashlib.sha256(self.pdf[:signature.span.revision_end]).digest()
            if attestation.revision_digest != revision:
                raise _Failed("parties", f"{signature.label}: its revision hashes to {_hex(revision)}, the chain "
                                         f"recorded {_hex(attestation.revision_digest)} for party "
                                         f"{attestation.party_index}")
            cms_digest = hashlib.sha256(signature.span.cms).digest()
            if attestation.cms_digest != cms_digest:
                raise _Failed("parties", f"{signature.label}: its CMS hashes to {_hex(cms_digest)}, the chain "
                                         f"recorded {_hex(attestation.cms_digest)} for party "
                                         f"{attestation.party_index}: not the signature the chain recorded")
            signature.attestation = attestation
        if carried < recorded:
            raise _Failed("parties", f"an earlier revision: the chain records {recorded} signatures, this PDF "
                                     f"carries {carried}")
        return (f"{carried} signature(s), in the order, with the certificates, revisions and CMS the chain recorded; "
                f"{carried} of the contract's {len(contract.parties)} parties, contract {contract.status}")

    def all_parties_present(self) -> bool:
        signed = {s.attestation.party_index for s in self.party_signatures if s.attestation is not None}
        return signed >= set(range(len(self.contract.parties)))

    # 7. seals
    def seals(self) -> str:
        notes = []
        placed: list[tuple[_Signature, tuple[float, float, float, float]]] = []
        for signature in self.party_signatures:
            attestation = signature.attestation
            assert attestation is not None  # step 6 paired every signature
            if attestation.seal is None:
                raise _Failed("seals", f"{signature.label}: the chain records no seal for it")
            registered = self.contract.seals.get(attestation.seal)
            if registered is None:
                raise _Failed("seals", f"{signature.label}: {_hex(attestation.seal)} is not a registered seal")
            drawn, rect = self._drawn_seal(signature)
            # annotations are drawn in turn: a later seal over an earlier one hides it
            covered = next((earlier for earlier, where in placed
                            if earlier.page == signature.page and rects_overlap(rect, where)), None)
            if covered is not None:
                raise _Failed("seals", f"{signature.label}: its seal covers the seal of {covered.label} on page "
                                       f"{signature.page + 1}")
            placed.append((signature, rect))
            if drawn != registered.pixel_digest:
                raise _Failed("seals", f"{signature.label}: the image drawn is not the registered seal "
                                       f"{registered.name!r} (pixel digest {_hex(drawn)}, registered "
                                       f"{_hex(registered.pixel_digest)})")
            if registered.owner.lower() != attestation.signer.lower():
                raise _Failed("seals", f"{signature.label}: the seal {registered.name!r} belongs to {registered.owner}, "
                                       f"not to the signer {attestation.signer}")
            if registered.cert_fingerprint != signature.fingerprint:
                raise _Failed("seals", f"{signature.label}: the seal {registered.name!r} was registered with another "
                                       "certificate")
            # Block times are whole seconds, so an approval or revocation in the signature's
            # own block carries its time. The chain accepted sign_pdf only while the seal was
            # usable: an approval in that block came before the signature, a revocation after.
            signed_at = attestation.signed_at
            if registered.approved_at == 0 or registered.approved_at > signed_at:
                raise _Failed("seals", f"{signature.label}: the seal {registered.name!r} was not approved when the "
                                       f"chain recorded the signature at {_text(_utc(signed_at))} (status "
                                       f"{registered.status})")
            if registered.revoked_at and registered.revoked_at < signed_at:
                raise _Failed("seals", f"{signature.label}: the seal {registered.name!r} was revoked at "
                                       f"{_text(_utc(registered.revoked_at))}, before the signature at "
                                       f"{_text(_utc(signed_at))}")
            if registered.revoked_at == signed_at:
                notes.append(f"seal {registered.name!r} revoked in the same block, after the signature (the chain "
                             "accepted the signature)")
            elif registered.revoked_at:
                notes.append(f"seal {registered.name!r} revoked later, at {_text(_utc(registered.revoked_at))}")
            signature.seal = registered
        later = f"; {'; '.join(notes)}" if notes else ""
        return f"{len(self.party_signatures)} seal(s) drawn as registered, approved and owned by their signers{later}"

    def _drawn_seal(self, signature: _Signature) -> tuple[bytes, tuple[float, float, float, float]]:
        """The pixel digest of the one image the signature's widget draws, in the revision
        it signed and in the file as a reader sees it now (they must agree), and where the
        widget is now."""
        if signature.widget_ref is None or signature.page < 0:
            raise _Failed("seals", f"{signature.label}: its widget is on no page; the seal cannot be seen")
        reader = self.reader
        assert reader is not None
        page = self.pages[signature.page], signature.page + 1
        now, rect = _seal_pixels(reader.get_object(signature.widget_ref), *page, signature.label)
        then_resolver = reader.get_historical_resolver(signature.embedded.signed_revision)
        # A form with /NeedAppearances asks viewers to draw every field themselves: poppler
        # then draws a signature field's border and background, not its appearance, and no
        # seal shows. After the party's revision the flag cannot change (step 8).
        if redraws_fields(then_resolver):
            raise _Failed("seals", f"{signature.label}: the form it signed asks viewers to redraw its fields "
                                   "(/NeedAppearances true): they then draw the signature fields themselves, and no "
                                   "seal shows")
        then, _ = _seal_pixels(then_resolver.get_object(signature.widget_ref), *page, signature.label)
        if now != then:
            raise _Failed("seals", f"{signature.label}: the seal drawn now is not the one in the revision it signed")
        return now, rect

    # 8. modifications
    def modifications(self) -> str:
        reader = self.reader
        assert reader is not None
        # Every revision after the registered document, each against the one before it:
        # signature 1's own revision against the registered document, and so on to the
        # last. Each may make only what signing needs (_contract_policy): a signature field
        # created or filled, its widget and appearance, the form's fields, the DSS,
        # document time-stamps, dates in the document information, metadata. This is what
        # covers the signers' own revisions (pyHanko's per-signature analysis below starts
        # after each signature). Then who may make which: a party's own revision changes
        # its own signature's field and no other (pyHanko rates a visible field, created or
        # filled, as form filling); a revision no party signs is at most validation data
        # (pyHanko's LTA updates: DSS, an invisible document time-stamp), so nobody adds a
        # visible field, or anything a viewer draws, between or after the signatures.
        first = min(self.signatures, key=lambda s: s.embedded.signed_revision)
        start = first.embedded.signed_revision   # step 3: the registered document is the revision before
        total = reader.xrefs.total_revisions
        value = first.embedded.sig_field.raw_get("/V")
        certification = value.reference if isinstance(value, generic.IndirectObject) and not first.is_timestamp \
            else None
        owners = {s.embedded.signed_revision: s for s in self.party_signatures}
        for revision in range(start, total):
            policy = _contract_policy(certification) if revision == start and certification else DIFF_POLICY
            old, new = reader.get_historical_resolver(revision - 1), reader.get_historical_resolver(revision)
            try:
                result = policy.apply(old, new)
            except (SuspiciousModification, PdfError) as exc:
                raise _Failed("modifications", self._refusal(revision, new, str(exc))) from exc
            owner = owners.get(revision)
            if result.modification_level > ModificationLevel.FORM_FILLING:
                raise _Failed("modifications", self._refusal(revision, new, f"changes at the level "
                                                                            f"{result.modification_level.name}"))
            if owner is not None:
                own = owner.embedded.field_name
                others = sorted(result.changed_form_fields - {own})
                if others:
                    raise _Failed("modifications", f"{self._revision_label(revision)} changes "
                                                   f"{_fields_named(others)} besides its own: a party's revision may "
                                                   f"change only its own signature's field {own!r}")
            elif result.modification_level > ModificationLevel.LTA_UPDATES:
                changed = sorted(result.changed_form_fields)
                what = _fields_named(changed) if changed else \
                    f"more than validation data (pyHanko's level {result.modification_level.name})"
                raise _Failed("modifications", f"{self._revision_label(revision)} changes {what}: an update no party "
                                               "signs may add only validation data (DSS) and invisible document "
                                               "time-stamps")
        drawn = self._quiet_annotations(start - 1, total)
        # pyHanko's own verdict on each signature: its DocMDP and FieldMDP locks, applied to
        # the revisions after it with the same policy (step 4 ran it)
        for signature in self.signatures:
            status = signature.status
            diff = signature.embedded.diff_result
            if diff is not None and not isinstance(diff, DiffResult):
                raise _Failed("modifications", f"after {signature.label}: {diff}")
            if diff is not None and diff.modification_level > ModificationLevel.FORM_FILLING:
                raise _Failed("modifications", f"after {signature.label}: changes at the level "
                                               f"{diff.modification_level.name}, beyond signing")
            if isinstance(status, PdfSignatureStatus) and status.docmdp_ok is False:
                raise _Failed("modifications", f"after {signature.label}: changes its DocMDP permissions forbid")
        tail = self.pdf[self.pdf.rfind(EOF_MARKER) + len(EOF_MARKER):]
        if tail.strip(b"\r\n\t \x00\x0c"):
            raise _Failed("modifications", f"{len(tail)} bytes follow the last %%EOF: data appended outside any "
                                           "revision")
        last = max(self.signatures, key=lambda s: s.span.revision_end)
        after = len(self.pdf) - last.span.revision_end
        updates = f"; {after} bytes of allowed updates after the last signature" if after > len(tail) else ""
        return (f"each of the {total - start} revision(s) after the registered document makes only signing's "
                f"changes (signature fields, their appearances, DSS, time-stamps); {drawn}{updates}")

    def _quiet_annotations(self, base: int, total: int) -> str:
        """Step 8, continued: what the revisions after the registered document may show.
        The difference analysis lets a revision add a signature field with a visible
        widget (how a party without a template field signs), and an empty signature
        field's appearance may draw anything: text over the contract, with no signature
        behind it. So every annotation on a page that was written after the registered
        document (the annotation, or anything its appearances use) is a party signature's
        widget, whose appearance step 7 held to the seal, or draws nothing: no area, the
        Hidden flag, or appearance streams without a single painting operator (pyHanko's
        empty field and a document time-stamp's widget are so)."""
        reader = self.reader
        assert reader is not None
        written: set[tuple[int, int]] = set()
        for revision in range(base + 1, total):
            written |= {(ref.idnum, ref.generation) for ref in reader.xrefs.explicit_refs_in_revision(revision)}
        seals = {(s.widget_ref.idnum, s.widget_ref.generation) for s in self.party_signatures if s.widget_ref is not None}
        latest = reader.get_historical_resolver(total - 1)
        quiet = 0
        for number, page in enumerate(self.pages, start=1):
            for ref in page.annots:
                key = (ref.idnum, ref.generation)
                if key in seals:
                    continue
                annotation = reader.get_object(ref)
                if not isinstance(annotation, generic.DictionaryObject):
                    continue  # not an annotation a viewer draws; the difference analysis judged the object
                uses = latest.collect_dependencies(annotation.raw_get("/AP")) if "/AP" in annotation else set()
                if key not in written and not ({(r.idnum, r.generation) for r in uses} & written):
                    continue  # as the registered document has it
                reason = _draws(annotation)
                if reason is not None:
                    raise _Failed("modifications", f"{describe_objects(latest, [ref])}, added or changed after the "
                                                   f"registered document, {reason} on page {number}: only a party "
                                                   "signature's seal may be drawn after registration")
                quiet += 1
        return (f"{quiet} other annotation(s) added after registration draw nothing" if quiet else
                "no annotation besides the parties' seals was added after registration")

    def _revision_label(self, revision: int) -> str:
        """A revision named for the reader: "revision 3 of 4 (signature 2 (field ..., its
        subject), its own revision; cross-reference at byte N)", or "(an unsigned update
        after signature 2 (...), cross-reference at byte N)"."""
        owner = next((s for s in self.signatures if s.embedded.signed_revision == revision), None)
        if owner is not None:
            whose = f"{owner.label}, its own revision;"
        else:
            before = [s for s in self.signatures if s.embedded.signed_revision < revision]
            latest = max(before, key=lambda s: s.embedded.signed_revision, default=None)
            whose = "an unsigned update" + (f" after {latest.label}" if latest is not None else "") + ","
        assert self.reader is not None
        where = self.reader.xrefs.get_startxref_for_revision(revision)
        return f"revision {revision + 1} of {self.reader.xrefs.total_revisions} ({whose} cross-reference at byte {where})"

    def _refusal(self, revision: int, resolver: HistoricalResolver, reason: str) -> str:
        """A refused revision described for the reader: whose it is, where it is, the
        objects pyHanko could not explain (named: page, page content, form field...), and
        pyHanko's reason."""
        refs = []
        for match in _REF_PATTERN.finditer(reason):
            numbers = [int(g) for g in match.groups() if g is not None]
            ref = generic.Reference(numbers[0], numbers[1])
            if ref not in refs:
                refs.append(ref)
        try:
            named = f": it changes {describe_objects(resolver, refs)}" if refs else ""
        except READ_ERRORS:
            named = ""  # the objects cannot be named; pyHanko's reason below still says what
        return (f"{self._revision_label(revision)} makes more than signing's changes{named}; the difference "
                f"analysis (pyHanko's with this verifier's rules, counting revisions from 0): {reason}")

    # 9. timestamps
    def timestamps(self) -> str:
        said = []
        for signature in self.signatures:
            status = signature.status
            if signature.is_timestamp:
                assert isinstance(status, TimestampSignatureStatus)
                self._check_token(signature, status, None)
                said.append(f"document time-stamp {_text(status.timestamp)}")
                continue
            assert isinstance(status, PdfSignatureStatus)
            token = status.timestamp_validity
            if token is None:
                continue
            attestation = signature.attestation
            assert attestation is not None
            self._check_token(signature, token, attestation.signed_at)
            said.append(f"signature {signature.index} at {_text(token.timestamp)}")
        if not said:
            return "no time-stamps (baseline B-B signatures)"
        roots = "TSA checked against the given roots" if self.tsa_roots else \
            "the TSA's certificate was not checked (no TSA root given)"
        return f"{'; '.join(said)}; {roots}"

    def _check_token(self, signature: _Signature, token: TimestampSignatureStatus, signed_at: int | None) -> None:
        what = "time-stamp" if signature.is_timestamp else f"time-stamp of {signature.label}"
        if not token.intact:
            raise _Failed("timestamps", f"the {what} is not over this signature (its imprint does not match)")
        if not token.valid:
            raise _Failed("timestamps", f"the {what} does not verify with the TSA's key")
        if self.tsa_roots and not token.trusted:
            raise _Failed("timestamps", f"the {what} is from {token.signing_cert.subject.human_friendly}, which does "
                                        "not chain to a given TSA root")
        if signed_at is not None and token.timestamp > _utc(signed_at) + TSA_TOLERANCE:
            raise _Failed("timestamps", f"the {what} says {_text(token.timestamp)}, later than the block at "
                                        f"{_text(_utc(signed_at))} by more than {TSA_TOLERANCE.total_seconds():.0f} s")

    # -- the report ------------------------------------------------------------------------

    def report(self, signature: _Signature) -> SignatureReport:
        status = signature.status
        has_token = isinstance(status, PdfSignatureStatus) and status.timestamp_validity is not None
        level = ("B-LT" if self.dss_revocation else "B-T") if has_token else "B-B"
        signing_time = status.signer_reported_dt if isinstance(status, PdfSignatureStatus) else None
        attestation = signature.attestation
        return SignatureReport(
            index=signature.index, field=signature.embedded.field_name,
            signer=attestation.signer if attestation is not None else None,
            subject=signature.cert.subject.rfc4514_string(), issuer=signature.cert.issuer.rfc4514_string(),
            cert_fingerprint=signature.fingerprint, revision_end=signature.span.revision_end,
            revision_digest=hashlib.sha256(self.pdf[:signature.span.revision_end]).digest(),
            cms_digest=hashlib.sha256(signature.span.cms).digest(), level=level, signing_time=signing_time,
            timestamp=(status.timestamp_validity.timestamp if has_token else None),  # type: ignore[union-attr]
            seal=signature.seal.seal if signature.seal is not None else None,
            seal_name=signature.seal.name if signature.seal is not None else None, page=signature.page,
        )


def _fields_named(names: Sequence[str]) -> str:
    """"form field 'A'", "form field 'A', form field 'B'"."""
    return ", ".join(f"form field {name!r}" for name in names)


def _embedded_crls(signature: EmbeddedPdfSignature) -> list[asn1_crl.CertificateList]:
    """CRLs the signature's own CMS carries (SignedData.crls)."""
    out = []
    for choice in signature.signed_data["crls"] or ():
        if choice.name == "crl":
            out.append(choice.chosen)
    return out


# -- reading the seal back ------------------------------------------------------------------


def _filter_names(stream: generic.StreamObject) -> list[str]:
    filters = dict_get(stream, "/Filter")
    return [] if filters is None else [str(f) for f in (filters if isinstance(filters, generic.ArrayObject) else [filters])]


def _appearance_content(stream: generic.StreamObject) -> bytes:
    """An appearance stream's content, decoded, or ValueError saying why it is not read:
    encoded other than FlateDecode (or not at all), or over MAX_APPEARANCE_BYTES encoded
    or decoded (inflated never more than one byte past the cap)."""
    names = _filter_names(stream)
    if names not in ([], ["/FlateDecode"]) or "/DecodeParms" in stream:
        raise ValueError(f"is encoded with {names}{' and parameters' if '/DecodeParms' in stream else ''}; an "
                         "appearance read here is unfiltered or FlateDecode")
    encoded = bytes(stream.encoded_data)
    data = encoded
    if names and len(encoded) <= MAX_APPEARANCE_BYTES:
        try:
            data = zlib.decompressobj().decompress(encoded, MAX_APPEARANCE_BYTES + 1)
        except zlib.error as exc:
            raise ValueError(f"cannot be inflated: {exc}") from exc
    if len(encoded) > MAX_APPEARANCE_BYTES or len(data) > MAX_APPEARANCE_BYTES:
        raise ValueError(f"is over the {MAX_APPEARANCE_BYTES}-byte cap for an appearance read here (a seal's is "
                         "about 50 bytes)")
    return data


def _operators(stream: generic.StreamObject, data: bytes) -> list[Any]:
    """The operators of `data`, the content of `stream` decoded (pyHanko's parser, which
    names the stream's object in what it reports)."""
    decoded = generic.StreamObject(stream_data=data)
    decoded.container_ref = stream.container_ref
    return list(parse_content_stream([decoded]))


def _draws(annotation: generic.DictionaryObject) -> str | None:
    """Why an annotation shows something on the page, or None when it draws nothing: it
    has no rectangle or one with no area, it is flagged Hidden, or it is a widget that
    gives a viewer nothing to paint: no background or border colour in its appearance
    characteristics (/MK /BG, /BC: poppler paints them when the widget has no appearance
    stream, or when the form asks for appearances to be redrawn), and appearance streams
    (normal, rollover, down; each a stream or a dictionary of states) with no operator but
    save/restore. A rectangle that cannot be read, an appearance that cannot be read or is
    over MAX_APPEARANCE_BYTES, and a non-widget annotation without an appearance (a viewer
    may draw it from its other entries) count as drawing."""
    if "/Rect" not in annotation:
        return None  # a viewer places no annotation without a rectangle
    try:
        rect = read_rect(annotation["/Rect"])
    except (ValueError, TypeError) as exc:
        return f"has a rectangle that cannot be read ({exc})"
    try:
        flags = int(dict_get(annotation, "/F", 0))
    except (ValueError, TypeError, ArithmeticError):
        flags = 0
    if not is_visible(rect) or flags & HIDDEN_FLAGS["Hidden"]:
        return None
    subtype = dict_get(annotation, "/Subtype")
    characteristics = dict_get(annotation, "/MK")
    if isinstance(characteristics, generic.DictionaryObject):
        painted = [key for key in ("/BG", "/BC")
                   if isinstance(dict_get(characteristics, key), generic.ArrayObject) and len(characteristics[key])]
        if painted:
            return f"paints its appearance characteristics (/MK {', '.join(painted)}: a background or border)"
    if "/AP" not in annotation:
        return None if subtype == "/Widget" else f"is a {str(subtype)[1:]} annotation a viewer draws"
    appearances = annotation["/AP"]
    if not isinstance(appearances, generic.DictionaryObject):
        return "has an appearance that is not a dictionary"
    for kind in appearances:
        value = appearances[kind]
        streams = list(value.values()) if isinstance(value, generic.DictionaryObject) and \
            not isinstance(value, generic.StreamObject) else [value]
        for stream in streams:
            stream = stream.get_object() if isinstance(stream, generic.IndirectObject) else stream
            if not isinstance(stream, generic.StreamObject):
                return f"has a {kind} appearance that is not a stream"
            try:
                operators = {op.op for op in _operators(stream, _appearance_content(stream))}
            except (PdfError, ValueError, AssertionError) as exc:
                return f"has a {kind} appearance that cannot be read ({exc})"
            if operators - {"q", "Q"}:
                return f"draws ({kind} appearance, operators {' '.join(sorted(operators - {'q', 'Q'}))})"
    return None


def _seal_pixels(widget: generic.DictionaryObject, page: PdfPage, number: int,
                 label: str) -> tuple[bytes, tuple[float, float, float, float]]:
    """The pixel digest of the image a widget's normal appearance draws, and the widget's
    rectangle: exactly one image, nothing else, seen whole (inside the page, printed, not
    hidden), large enough to be read, drawn upright with its proportions."""
    def refuse(reason: str) -> _Failed:
        return _Failed("seals", f"{label}: {reason}")

    if "/Rect" not in widget:
        raise refuse("its widget has no rectangle")
    try:
        rect = read_rect(widget["/Rect"])
        flags = int(dict_get(widget, "/F", 0))
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise refuse(f"its widget's rectangle or flags cannot be read: {exc}") from exc
    unseen = why_unseen(rect, flags, page, number)
    if unseen is not None:
        raise refuse(f"its widget is {unseen}")
    if "/OC" in widget:
        raise refuse("its widget is optional content a viewer may hide")
    try:
        appearance = widget["/AP"]["/N"]
    except (KeyError, TypeError) as exc:
        raise refuse("its widget has no normal appearance") from exc
    others = sorted(set(widget["/AP"].keys()) - {"/N"})
    if others:  # a rollover or down appearance is shown instead of the seal when the pointer is on it
        raise refuse(f"its widget has appearances besides the normal one ({', '.join(others)})")
    if not isinstance(appearance, generic.StreamObject):
        raise refuse("its widget's appearance is not one stream")
    extra = sorted(set(appearance.keys()) - _APPEARANCE_KEYS)
    if extra:  # /OC hides it, /Group blends it, /Ref shows another document's page
        raise refuse(f"its appearance carries {', '.join(extra)}, which a seal's does not")
    matrix = [float(v) for v in dict_get(appearance, "/Matrix", (1, 0, 0, 1, 0, 0))]
    if matrix != [1, 0, 0, 1, 0, 0]:
        raise refuse("its appearance has a /Matrix; a seal appearance has none")
    try:
        content = _appearance_content(appearance)
    except ValueError as exc:
        raise refuse(f"its appearance {exc}") from exc
    bbox = read_rect(appearance["/BBox"])
    resources = dict_get(appearance, "/Resources", generic.DictionaryObject())
    allowed = {"/XObject", "/ProcSet"}
    if set(resources.keys()) - allowed:
        raise refuse(f"its appearance uses {sorted(set(resources.keys()) - allowed)} besides the seal image")
    xobjects = dict_get(resources, "/XObject", generic.DictionaryObject())
    if len(xobjects) != 1:
        raise refuse(f"its appearance names {len(xobjects)} XObjects, not the one seal image")
    ((name, image),) = xobjects.items()
    image = image.get_object()
    if dict_get(image, "/Subtype") != "/Image":
        raise refuse(f"its appearance's {name} is not an image")
    width, height = int(image["/Width"]), int(image["/Height"])
    a, b, c, d, e, f = _drawing_matrix(appearance, content, name, label)
    # The unit square the image fills, mapped by the matrix: upright (no rotation or skew,
    # which could also collapse it to a sliver inside a full-size box) and not mirrored.
    if b != 0 or c != 0:
        raise refuse(f"the seal image is rotated or skewed (its matrix {a:g} {b:g} {c:g} {d:g}); a seal is drawn "
                     "upright")
    if a <= 0 or d <= 0:
        raise refuse(f"the seal image is mirrored or flipped (its matrix {a:g} 0 0 {d:g})")
    drawn = (e, f, e + a, f + d)
    # the box the viewer maps the form's BBox to is the widget's rectangle
    scale_x = (rect[2] - rect[0]) / max(bbox[2] - bbox[0], 1e-9)
    scale_y = (rect[3] - rect[1]) / max(bbox[3] - bbox[1], 1e-9)
    if not rect_inside(drawn, (bbox[0] - 0.5, bbox[1] - 0.5, bbox[2] + 0.5, bbox[3] + 0.5)):
        raise refuse("the seal image is drawn outside its widget")
    across, up = a * scale_x / PT_PER_MM, d * scale_y / PT_PER_MM
    if min(across, up) < MIN_SEAL_DRAWN_MM:
        raise refuse(f"the seal is drawn {min(across, up):.1f} mm across, under {MIN_SEAL_DRAWN_MM:.0f} mm")
    if abs((across / up) / (width / max(height, 1)) - 1) > MAX_SEAL_ASPECT_ERROR:
        raise refuse(f"the seal image is stretched: drawn {across:.1f} x {up:.1f} mm, its image is {width} x {height} "
                     "pixels")
    rgb = _samples(image, _IMAGE_KEYS, "/DeviceRGB", width, height, 3, label)
    alpha = None
    if "/SMask" in image:
        alpha = _samples(image["/SMask"].get_object(), _MASK_KEYS, "/DeviceGray", width, height, 1,
                         label + " (soft mask)")
    try:
        return pixel_digest(width, height, rgba_from_planes(width, height, rgb, alpha)), rect
    except SealImageError as exc:
        raise refuse(str(exc)) from exc


def _drawing_matrix(appearance: generic.StreamObject, content: bytes, name: str,
                    label: str) -> tuple[float, float, float, float, float, float]:
    """The transformation in force at the one `Do` of the image `name` in `content` (the
    appearance's, decoded; form space): the image's unit square is mapped by it."""
    ctm: tuple[float, ...] = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    stack: list[tuple[float, ...]] = []
    drawn: tuple[float, ...] | None = None
    try:
        operators = _operators(appearance, content)
    except (PdfError, ValueError, AssertionError) as exc:
        raise _Failed("seals", f"{label}: its appearance stream cannot be read: {exc}") from exc
    for op in operators:
        if op.op not in _APPEARANCE_OPERATORS:
            raise _Failed("seals", f"{label}: its appearance does more than draw the seal (operator {op.op})")
        if op.op == "q":
            stack.append(ctm)
        elif op.op == "Q":
            if not stack:
                raise _Failed("seals", f"{label}: its appearance restores a state it never saved")
            ctm = stack.pop()
        elif op.op == "cm":
            a, b, c, d, e, f = (_finite(v, label) for v in op.args)
            A, B, C, D, E, F = ctm
            ctm = (a * A + b * C, a * B + b * D, c * A + d * C, c * B + d * D, e * A + f * C + E, e * B + f * D + F)
        else:  # Do
            if drawn is not None or [str(a) for a in op.args] != [name]:
                raise _Failed("seals", f"{label}: its appearance draws more than the seal image once")
            drawn = ctm
    if drawn is None:
        raise _Failed("seals", f"{label}: its appearance never draws the seal image")
    a, b, c, d, e, f = drawn
    return a, b, c, d, e, f


def _finite(value: Any, label: str) -> float:
    """A content stream operand as a float within MAX_COORDINATE, or a refusal."""
    try:
        number = float(value)
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise _Failed("seals", f"{label}: its appearance's matrix holds {value!r}, not a number") from exc
    if not math.isfinite(number) or abs(number) > MAX_COORDINATE:
        raise _Failed("seals", f"{label}: its appearance's matrix holds a number out of range")
    return number


def _samples(image: generic.StreamObject, allowed: frozenset[str], colour_space: str, width: int, height: int,
             channels: int, label: str) -> bytes:
    """An image XObject's samples, decoded (FlateDecode or none), checked to be exactly
    width x height x channels bytes of 8-bit `colour_space`, with no key but `allowed`."""
    def refuse(reason: str) -> _Failed:
        return _Failed("seals", f"{label}: the seal image {reason}")

    if not (0 < width <= MAX_SEAL_SIDE and 0 < height <= MAX_SEAL_SIDE):
        raise refuse(f"is {width}x{height} pixels; a registered seal is at most {MAX_SEAL_SIDE} per side")
    extra = sorted(set(image.keys()) - allowed)
    if extra:  # /Alternates (another image for printing), /Decode, /Mask, /Interpolate, /OC, ...
        raise refuse(f"carries {', '.join(extra)}, which a seal image does not")
    if dict_get(image, "/Type", "/XObject") != "/XObject":
        raise refuse(f"has /Type {dict_get(image, '/Type')}, not /XObject")
    if int(dict_get(image, "/Width", -1)) != width or int(dict_get(image, "/Height", -1)) != height:
        raise refuse("and its soft mask differ in size")
    if dict_get(image, "/ColorSpace") != colour_space:
        raise refuse(f"uses {dict_get(image, '/ColorSpace')}, not {colour_space}")
    if int(dict_get(image, "/BitsPerComponent", 0)) != 8:
        raise refuse(f"has {dict_get(image, '/BitsPerComponent')} bits per component, not 8")
    names = _filter_names(image)
    if names not in ([], ["/FlateDecode"]):
        raise refuse(f"is encoded with {names}; only FlateDecode (lossless) is accepted")
    expected = width * height * channels
    encoded = bytes(image.encoded_data)
    if names:
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(encoded, expected + 1)  # never more than one byte past the size
        except zlib.error as exc:
            raise refuse(f"cannot be inflated: {exc}") from exc
    else:
        data = encoded
    if len(data) != expected:
        raise refuse(f"holds {'more than ' if len(data) > expected else ''}{len(data)} bytes of samples, "
                     f"not {expected}")
    return data
