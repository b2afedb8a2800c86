"""Signed contract PDFs checked against what the chain recorded: a PDF and the chain's
facts in, a verdict out (docs/contract-pdf.md is the reader's version).

The module stays whole past 600 lines: it is one verifier, nine steps that share the
signatures they read, and an expert checking it reads it top to bottom in step order
(as sigstore-python's verifier is read).

`verify_contract_pdf` is pure: the PDF and the chain's facts in, a verdict
out, no network and no clock but the chain's block times. Its steps (VERIFY_STEPS, the
numbers of the comments in the code) stop at the first that fails:

1. size           the file is at most MAX_CONTRACT_PDF_BYTES.
2. format         it parses; it carries at least one signature; every signature is PAdES
                  (ETSI.CAdES.detached) or a document time-stamp (ETSI.RFC3161).
3. registered     a revision prefix pdf[:end], ending before the first signature value in
                  the file, hashes (the contract's algorithm) to the registered digest.
4. integrity      every signature: the bytes it covers hash to its signed digest and its
                  CMS signature verifies (pyHanko).
5. trust          every signature's certificate chains to the root the chain's attestation
                  names, valid at the attestation's block time, with a signing key usage,
                  not revoked then by any CRL the PDF carries (pyHanko's validator, no fetching).
6. parties        PDF signature k is the chain's attestation with sequence k: the same
                  certificate, revision digest and CMS digest; nothing missing, extra or
                  out of order.
7. seals          every signature's widget draws exactly one image, whose pixels are the
                  registered seal's, owned by the signer with the signing certificate,
                  approved and not revoked at the block time.
8. modifications  every update after a signature is one DocMDP allows (pyHanko's
                  difference analysis: signature fields, form filling, DSS, time-stamps),
                  and nothing follows the last revision.
9. timestamps     a signature time-stamp covers the signature value, is from a TSA under a
                  given root (when roots are given), and is not later than the block by
                  more than TSA_TOLERANCE.
"""
from __future__ import annotations

import hashlib
import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

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
    MAX_PDF_SIGNATURES,
    PADES_SUBFILTER,
    PdfPage,
    SignatureSpan,
    certificate_fingerprint,
    dict_get,
    is_visible,
    open_pdf,
    page_of,
    prefix_digests,
    read_pages,
    read_rect,
    rect_inside,
    rects_overlap,
    revision_ends,
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
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign import fields
    from pyhanko.sign.diff_analysis import (
        CatalogModificationRule,
        DiffResult,
        DocInfoRule,
        DSSCompareRule,
        FormUpdatingRule,
        GenericFieldModificationRule,
        MetadataUpdateRule,
        ModificationLevel,
        ObjectStreamRule,
        SigFieldCreationRule,
        SigFieldModificationRule,
        StandardDiffPolicy,
        XrefStreamRule,
    )
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
# The only operators a seal appearance may use: save/restore, a transformation, the image.
_APPEARANCE_OPERATORS = frozenset({"q", "Q", "cm", "Do"})
# pyHanko's default difference policy, except that a signature field with a visible
# widget may be created after the certification signature. Acrobat allows that under
# DocMDP P=2 (pyHanko's own documentation calls its default "stricter than Acrobat"),
# and it is how the second party signs a contract PDF that has no field for it.
DIFF_POLICY = StandardDiffPolicy(
    global_rules=[
        CatalogModificationRule(),
        DocInfoRule().as_qualified(ModificationLevel.LTA_UPDATES),
        XrefStreamRule().as_qualified(ModificationLevel.LTA_UPDATES),
        ObjectStreamRule().as_qualified(ModificationLevel.LTA_UPDATES),
        DSSCompareRule().as_qualified(ModificationLevel.LTA_UPDATES),
        MetadataUpdateRule().as_qualified(ModificationLevel.LTA_UPDATES),
    ],
    form_rule=FormUpdatingRule(field_rules=[
        SigFieldCreationRule(allow_new_visible_after_certify=True),
        SigFieldModificationRule(),
        GenericFieldModificationRule(),
    ]),
)


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
    Pure: no network, no clock but the chain's times."""
    checks: list[Check] = []
    found: list[_Signature] = []
    steps = _Steps(pdf, contract, tuple(tsa_roots), found)
    for name in VERIFY_STEPS:
        try:
            detail = getattr(steps, name)()
        except _Failed as failure:
            checks.append(Check(failure.step, False, _one_line(failure.detail)))
            break
        except PdfSignatureError as error:  # a structure that cannot be read where the step needs it
            checks.append(Check(name, False, _one_line(error.reason)))
            break
        except (PdfError, ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
            # a damaged PDF object pyHanko or this step trips over: the file fails here
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
        except (PdfError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            raise _Failed("format", f"the PDF's signatures cannot be read: {exc}") from exc
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
        # The registered document holds no signature: it ends before the first signature
        # value in the file (a prefix that reached into the first signature's revision
        # would be a signed revision, not the document the parties were asked to sign).
        first_value = min(s.span.contents_start for s in self.signatures)
        ends = [end for end in revision_ends(self.pdf) if end <= first_value]
        try:
            candidates = prefix_digests(self.pdf, ends, contract.digest_algorithm)
        except digests.UnknownDigestAlgorithm as exc:
            raise _Failed("registered", str(exc)) from exc
        for end, digest in candidates:
            if digest == contract.doc_digest:
                return (f"bytes 0-{end} of the PDF are the registered document ({contract.digest_algorithm} "
                        f"{_hex(digest)}), before the first signature")
        raise _Failed("registered", f"no revision before the first signature hashes to the registered "
                                    f"{contract.digest_algorithm} digest {_hex(contract.doc_digest)}: this PDF does "
                                    f"not start with contract {contract.project_code} v{contract.version}'s document")

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
            except (PdfError, ValueError, KeyError, TypeError) as exc:
                raise _Failed("integrity", f"{signature.label} cannot be checked: {exc}") from exc
            status = signature.status
            if not status.intact:
                raise _Failed("integrity", f"{signature.label}: the signed bytes were changed (their digest is not "
                                           "the one signed)")
            if not status.valid:
                raise _Failed("integrity", f"{signature.label}: the CMS signature does not verify with the "
                                           "certificate's key")
            if signature.span.cms != bytes(signature.embedded.pkcs7_content)[:len(signature.span.cms)]:
                raise _Failed("integrity", f"{signature.label}: the /Contents in the file is not the CMS pyHanko read")
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
                f"{len(contract.parties)} part(ies), contract {contract.status}")

    def all_parties_present(self) -> bool:
        signed = {s.attestation.party_index for s in self.party_signatures if s.attestation is not None}
        return signed >= set(range(len(self.contract.parties)))

    # 7. seals
    def seals(self) -> str:
        notes = []
        for signature in self.party_signatures:
            attestation = signature.attestation
            assert attestation is not None  # step 6 paired every signature
            if attestation.seal is None:
                raise _Failed("seals", f"{signature.label}: the chain records no seal for it")
            registered = self.contract.seals.get(attestation.seal)
            if registered is None:
                raise _Failed("seals", f"{signature.label}: {_hex(attestation.seal)} is not a registered seal")
            drawn = self._drawn_seal(signature)
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
            signed_at = attestation.signed_at
            if registered.approved_at == 0 or registered.approved_at > signed_at:
                raise _Failed("seals", f"{signature.label}: the seal {registered.name!r} was not approved when the "
                                       f"chain recorded the signature at {_text(_utc(signed_at))} (status "
                                       f"{registered.status})")
            if registered.revoked_at and registered.revoked_at <= signed_at:
                raise _Failed("seals", f"{signature.label}: the seal {registered.name!r} was revoked at "
                                       f"{_text(_utc(registered.revoked_at))}, before the signature at "
                                       f"{_text(_utc(signed_at))}")
            if registered.revoked_at:
                notes.append(f"seal {registered.name!r} revoked later, at {_text(_utc(registered.revoked_at))}")
            signature.seal = registered
        later = f"; {'; '.join(notes)}" if notes else ""
        return f"{len(self.party_signatures)} seal(s) drawn as registered, approved and owned by their signers{later}"

    def _drawn_seal(self, signature: _Signature) -> bytes:
        """The pixel digest of the one image the signature's widget draws, in the revision
        it signed and in the file as a reader sees it now (they must agree)."""
        if signature.widget_ref is None or signature.page < 0:
            raise _Failed("seals", f"{signature.label}: its widget is on no page; the seal cannot be seen")
        reader = self.reader
        assert reader is not None
        now = _seal_pixels(reader.get_object(signature.widget_ref), self.pages[signature.page], signature.label)
        then_resolver = reader.get_historical_resolver(signature.embedded.signed_revision)
        then = _seal_pixels(then_resolver.get_object(signature.widget_ref), self.pages[signature.page], signature.label)
        if now != then:
            raise _Failed("seals", f"{signature.label}: the seal drawn now is not the one in the revision it signed")
        return now

    # 8. modifications
    def modifications(self) -> str:
        for signature in self.signatures:
            status = signature.status
            diff = signature.embedded.diff_result  # pyHanko's analysis of the revisions after it (step 4 ran it)
            if diff is None:  # nothing after it
                continue
            if not isinstance(diff, DiffResult):
                raise _Failed("modifications", f"after {signature.label}: {diff}")
            if diff.modification_level > ModificationLevel.FORM_FILLING:
                raise _Failed("modifications", f"after {signature.label}: changes at the level "
                                               f"{diff.modification_level.name}, beyond signing and form filling")
            if isinstance(status, PdfSignatureStatus) and status.docmdp_ok is False:
                raise _Failed("modifications", f"after {signature.label}: changes its DocMDP permissions forbid")
        tail = self.pdf[self.pdf.rfind(EOF_MARKER) + len(EOF_MARKER):]
        if tail.strip(b"\r\n\t \x00\x0c"):
            raise _Failed("modifications", f"{len(tail)} bytes follow the last %%EOF: data appended outside any "
                                           "revision")
        last = max(self.signatures, key=lambda s: s.span.revision_end)
        after = len(self.pdf) - last.span.revision_end
        updates = f"; {after} bytes of allowed updates after the last signature" if after > len(tail) else ""
        return f"every update after each signature is one its DocMDP allows{updates}"

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


def _embedded_crls(signature: EmbeddedPdfSignature) -> list[asn1_crl.CertificateList]:
    """CRLs the signature's own CMS carries (SignedData.crls)."""
    out = []
    for choice in signature.signed_data["crls"] or ():
        if choice.name == "crl":
            out.append(choice.chosen)
    return out


# -- reading the seal back ------------------------------------------------------------------


def _seal_pixels(widget: generic.DictionaryObject, page: PdfPage, label: str) -> bytes:
    """The pixel digest of the image a widget's normal appearance draws (exactly one
    image, nothing else, large enough to be seen, on the page, not hidden)."""
    def refuse(reason: str) -> _Failed:
        return _Failed("seals", f"{label}: {reason}")

    try:
        rect = read_rect(widget["/Rect"])
    except (KeyError, ValueError, TypeError) as exc:
        raise refuse("its widget has no rectangle") from exc
    if not is_visible(rect) or not rects_overlap(rect, page.box):
        raise refuse("its widget is not on the visible page")
    flags = int(dict_get(widget, "/F", 0))
    hidden = [name for name, bit in HIDDEN_FLAGS.items() if flags & bit]
    if hidden:
        raise refuse(f"its widget is flagged {', '.join(hidden)}")
    if "/OC" in widget:
        raise refuse("its widget is optional content a viewer may hide")
    try:
        appearance = widget["/AP"]["/N"]
    except (KeyError, TypeError) as exc:
        raise refuse("its widget has no normal appearance") from exc
    if not isinstance(appearance, generic.StreamObject):
        raise refuse("its widget's appearance is not one stream")
    if "/OC" in appearance:
        raise refuse("its appearance is optional content a viewer may hide")
    matrix = [float(v) for v in dict_get(appearance, "/Matrix", (1, 0, 0, 1, 0, 0))]
    if matrix != [1, 0, 0, 1, 0, 0]:
        raise refuse("its appearance has a /Matrix; a seal appearance has none")
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
    drawn = _drawn_box(appearance, name, label)
    # the box the viewer maps the form's BBox to is the widget's rectangle
    scale_x = (rect[2] - rect[0]) / max(bbox[2] - bbox[0], 1e-9)
    scale_y = (rect[3] - rect[1]) / max(bbox[3] - bbox[1], 1e-9)
    if not rect_inside(drawn, (bbox[0] - 0.5, bbox[1] - 0.5, bbox[2] + 0.5, bbox[3] + 0.5)):
        raise refuse("the seal image is drawn outside its widget")
    smaller = min((drawn[2] - drawn[0]) * scale_x, (drawn[3] - drawn[1]) * scale_y) / PT_PER_MM
    if smaller < MIN_SEAL_DRAWN_MM:
        raise refuse(f"the seal is drawn {smaller:.1f} mm across, under {MIN_SEAL_DRAWN_MM:.0f} mm")
    width, height = int(image["/Width"]), int(image["/Height"])
    rgb = _samples(image, "/DeviceRGB", width, height, 3, label)
    alpha = None
    if "/SMask" in image:
        alpha = _samples(image["/SMask"].get_object(), "/DeviceGray", width, height, 1, label + " (soft mask)")
    try:
        return pixel_digest(width, height, rgba_from_planes(width, height, rgb, alpha))
    except SealImageError as exc:
        raise refuse(str(exc)) from exc


def _drawn_box(appearance: generic.StreamObject, name: str, label: str) -> tuple[float, float, float, float]:
    """The rectangle the appearance's one `Do` paints the image into (form space)."""
    ctm: tuple[float, ...] = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    stack: list[tuple[float, ...]] = []
    drawn: tuple[float, float, float, float] | None = None
    try:
        operators = list(parse_content_stream([appearance]))
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
            a, b, c, d, e, f = (float(v) for v in op.args)
            A, B, C, D, E, F = ctm
            ctm = (a * A + b * C, a * B + b * D, c * A + d * C, c * B + d * D, e * A + f * C + E, e * B + f * D + F)
        else:  # Do
            if drawn is not None or [str(a) for a in op.args] != [name]:
                raise _Failed("seals", f"{label}: its appearance draws more than the seal image once")
            a, b, c, d, e, f = ctm
            xs = [e, a + e, c + e, a + c + e]
            ys = [f, b + f, d + f, b + d + f]
            drawn = (min(xs), min(ys), max(xs), max(ys))
    if drawn is None:
        raise _Failed("seals", f"{label}: its appearance never draws the seal image")
    return drawn


def _samples(image: generic.StreamObject, colour_space: str, width: int, height: int, channels: int,
             label: str) -> bytes:
    """An image XObject's samples, decoded (FlateDecode or none), checked to be exactly
    width x height x channels bytes of 8-bit `colour_space`."""
    def refuse(reason: str) -> _Failed:
        return _Failed("seals", f"{label}: the seal image {reason}")

    if not (0 < width <= MAX_SEAL_SIDE and 0 < height <= MAX_SEAL_SIDE):
        raise refuse(f"is {width}x{height} pixels; a registered seal is at most {MAX_SEAL_SIDE} per side")
    if int(dict_get(image, "/Width", -1)) != width or int(dict_get(image, "/Height", -1)) != height:
        raise refuse("and its soft mask differ in size")
    if dict_get(image, "/ColorSpace") != colour_space:
        raise refuse(f"uses {dict_get(image, '/ColorSpace')}, not {colour_space}")
    if int(dict_get(image, "/BitsPerComponent", 0)) != 8:
        raise refuse(f"has {dict_get(image, '/BitsPerComponent')} bits per component, not 8")
    for key in ("/Decode", "/ImageMask", "/Mask", "/Matte", "/DecodeParms", "/Intent", "/OC"):
        if key in image:
            raise refuse(f"carries {key}, which a seal image does not")
    filters = dict_get(image, "/Filter")
    names = [] if filters is None else [str(f) for f in (filters if isinstance(filters, generic.ArrayObject) else [filters])]
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


