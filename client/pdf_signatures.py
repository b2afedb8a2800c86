"""PAdES signatures on PDFs we issue: sign with any `Signer`, check against given roots.

Profile (PAdES baseline B-B, ETSI EN 319 142-1): SubFilter ETSI.CAdES.detached, SHA-256,
signed attributes with the ESS signing-certificate-v2 (pyHanko adds it for PAdES), the
signer's chain embedded. The signature is a *certification* signature with DocMDP
"no changes" (P=1): the document is final as issued, and Adobe's rules, pdfsig and
pyHanko all treat anything appended after it as a modification.

Signing goes through the project's `client.signers.Signer` protocol (a chain and
`sign_digest` over a SHA-256 digest), so a local key (`CertificateIdentity`) and the
hosted signing service (`CloudSigner`) both sign the same way. The signing time in the
CMS is pyHanko's clock at signing; the caller's idea of the issue time goes on the page.

Verification (`verify_pdf_signature`) is pyHanko's validator, then our own rules on top;
a failure raises `PdfSignatureError` naming its step:

1. size          the file is at most MAX_SIGNED_PDF_BYTES;
2. format        it parses as a PDF;
3. signatures    it carries exactly one signature;
4. integrity     the bytes it covers hash to the signed digest and the CMS signature
                 verifies with the signer's key;
5. trust         the signer's certificate chains to one of the given roots, valid at the
                 validation time, with a key usage that allows signing;
6. coverage      the signature covers the whole file: nothing was appended after it.
"""
from __future__ import annotations

import hashlib
import io
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import algos, x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.utils import CryptographyDeprecationWarning

from client.errors import ClientError
from client.signers import Signer

# pyHanko imports cryptography's DSA module, which warns on import; we never use DSA and a
# warning on every `ledger evidence certificate` would only alarm the reader.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign import fields, signers
    from pyhanko.sign.signers import pdf_cms
    from pyhanko.sign.validation import KeyUsageConstraints, validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko.stamp import NoOpStampStyle
    from pyhanko_certvalidator import ValidationContext
    from pyhanko_certvalidator.registry import SimpleCertificateStore

# pyHanko logs a traceback when a path to the roots cannot be built; we report that as the
# "trust" step. Without a handler of its own, Python's last-resort handler would print it
# on stderr of every CLI run; an application that configures logging still receives it.
for _name in ("pyhanko", "pyhanko_certvalidator"):
    logging.getLogger(_name).addHandler(logging.NullHandler())

# The steps verify_pdf_signature checks, in order (PdfSignatureError.step is one of these).
STEPS = ("size", "format", "signatures", "integrity", "trust", "coverage")
# A PDF handed to the verifier is attacker input read into memory. An evidence
# certificate is a font subset (~0.2 MB), a page or two and the receipt (at most 8 MiB,
# evidence.receipt.MAX_RECEIPT_DOCUMENT_BYTES, stored compressed); twice that is room to
# spare, and a file past it is not one of ours.
MAX_SIGNED_PDF_BYTES = 16 * 1024 * 1024
# The signer's chain is embedded in the CMS. Five certificates is the ledger's own PKI
# cap (the precompile's MAX_CHAIN_LENGTH); eight leaves room for a cross-certificate.
MAX_SIGNER_CHAIN = 8
# Key usages that let a certificate sign a document: either, as Adobe's rules and ETSI
# EN 319 412-2 take them (pyHanko alone would demand nonRepudiation).
SIGNING_KEY_USAGES = frozenset({"digital_signature", "non_repudiation"})
# The only digest the `Signer` protocol signs with.
DIGEST_ALGORITHM = "sha256"
# The form field that holds our signature.
SIGNATURE_FIELD = "IssuerSignature"
# Points per millimetre: pyHanko places fields in PDF user space (1/72 inch).
PT_PER_MM = 72 / 25.4


class PdfSignatureError(ClientError, ValueError):
    """A PDF signature that cannot be made, or that does not hold; `step` names which."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason


@dataclass(frozen=True)
class SignatureBox:
    """Where the signature's widget sits: page index (0-based) and a rectangle in
    millimetres from the page's top-left corner (the layout's coordinates)."""

    page: int
    left: float
    top: float
    width: float
    height: float
    page_height: float

    def to_points(self) -> tuple[int, int, int, int]:
        """(x1, y1, x2, y2) in PDF user space, whose origin is the bottom-left corner."""
        x1 = self.left * PT_PER_MM
        x2 = (self.left + self.width) * PT_PER_MM
        y1 = (self.page_height - self.top - self.height) * PT_PER_MM
        y2 = (self.page_height - self.top) * PT_PER_MM
        return round(x1), round(y1), round(x2), round(y2)


@dataclass(frozen=True)
class SignatureFacts:
    """What a valid signature says: who signed (RFC 4514 subject and common name) and
    when the signer's clock said it did (not a trusted time: baseline B has none)."""

    subject: str
    common_name: str | None
    signing_time: datetime | None


class ProtocolSigner(pdf_cms.Signer):
    """pyHanko's signer over our `Signer` protocol: pyHanko builds the CMS, our signer
    signs the SHA-256 digest of its signed attributes. (Also what client/pdf_contracts.py
    signs contract PDFs with.)"""

    def __init__(self, signer: Signer) -> None:
        chain = tuple(signer.chain)
        if not chain:
            raise PdfSignatureError("signer", "the signer has no certificate")
        if len(chain) > MAX_SIGNER_CHAIN:
            raise PdfSignatureError("signer", f"a chain of {len(chain)} certificates exceeds {MAX_SIGNER_CHAIN}")
        try:
            usage = chain[0].extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            usage = None  # no extension: every usage is allowed (RFC 5280 4.2.1.3)
        if usage is not None and not (usage.digital_signature or usage.content_commitment):
            raise PdfSignatureError("signer", "the certificate's key usage allows neither digitalSignature nor "
                                              "contentCommitment (nonRepudiation)")
        try:
            public = chain[0].public_key()
        except UnsupportedAlgorithm:  # SM2: cryptography cannot build the key, nor can pyHanko sign with it
            raise PdfSignatureError("signer", "SM2 keys cannot sign PDFs yet: pyHanko and PDF readers have no "
                                              "SM2 (GB/T 38540) signatures; sign the contract on chain with "
                                              "`ledger contract sign` instead") from None
        if isinstance(public, rsa.RSAPublicKey):
            mechanism, self._placeholder_size = "sha256_rsa", public.key_size // 8
        elif isinstance(public, ec.EllipticCurvePublicKey):
            # DER ECDSA-Sig-Value at its longest: two INTEGERs of the order's size plus a
            # sign byte each, tags and lengths.
            order_bytes = (public.curve.key_size + 7) // 8
            mechanism, self._placeholder_size = "sha256_ecdsa", 2 * (order_bytes + 3) + 3
        else:
            raise PdfSignatureError("signer", f"{type(public).__name__} keys cannot sign (RSA or EC only)")
        certs = [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in chain]
        super().__init__(
            signing_cert=certs[0], cert_registry=SimpleCertificateStore.from_certs(certs),
            signature_mechanism=algos.SignedDigestAlgorithm({"algorithm": mechanism}), embed_roots=True,
        )
        self._signer = signer

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        if digest_algorithm != DIGEST_ALGORITHM:
            raise PdfSignatureError("signer", f"our signers sign {DIGEST_ALGORITHM} digests, not {digest_algorithm}")
        if dry_run:  # pyHanko sizes the signature's placeholder; a remote signer is not asked
            return bytes(self._placeholder_size)
        return self._signer.sign_digest(hashlib.sha256(data).digest())


def sign_pdf(pdf: bytes, signer: Signer, *, box: SignatureBox | None = None, reason: str | None = None,
             location: str | None = None) -> bytes:
    """`pdf` with a PAdES B-B certification signature by `signer` appended as an
    incremental update (the input stays a byte-for-byte prefix of the output).

    With `box`, the signature's widget covers that rectangle, so a viewer's click on the
    printed signature block opens the signature panel; its own appearance is empty (the
    page already draws what the block says, in a font that covers Chinese)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    spec = None
    if box is not None:
        spec = fields.SigFieldSpec(SIGNATURE_FIELD, on_page=box.page, box=box.to_points())
    metadata = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD, md_algorithm=DIGEST_ALGORITHM, subfilter=fields.SigSeedSubFilter.PADES,
        certify=True, docmdp_permissions=fields.MDPPerm.NO_CHANGES, reason=reason, location=location,
    )
    # The new field gets pyHanko's empty appearance stream and no stamp over it: a text
    # stamp would draw Latin text in an unembedded Courier over our block.
    empty = NoOpStampStyle()
    pdf_signer = signers.PdfSigner(metadata, ProtocolSigner(signer), stamp_style=empty, new_field_spec=spec)
    out = pdf_signer.sign_pdf(writer)
    return bytes(out.getvalue())


def verify_pdf_signature(pdf: bytes, roots: Sequence[x509.Certificate], *,
                         validation_time: datetime | None = None) -> SignatureFacts:
    """Check the PDF's one signature (module docstring, steps 1-6) against `roots`, at
    `validation_time` (now when None). Offline: no CRL or OCSP is fetched."""
    # 1. size
    if len(pdf) > MAX_SIGNED_PDF_BYTES:
        raise PdfSignatureError("size", f"{len(pdf)} bytes exceeds {MAX_SIGNED_PDF_BYTES}")
    # 2. format
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        embedded = list(reader.embedded_signatures)
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise PdfSignatureError("format", f"not a readable PDF: {exc}") from exc
    # 3. signatures
    if len(embedded) != 1:
        raise PdfSignatureError("signatures", f"an issued certificate carries one signature, this PDF {len(embedded)}")
    (signature,) = embedded
    trust_roots = [asn1_x509.Certificate.load(r.public_bytes(serialization.Encoding.DER)) for r in roots]
    context = ValidationContext(trust_roots=trust_roots, moment=validation_time, allow_fetching=False,
                                revocation_mode="soft-fail")
    try:
        status = validate_pdf_signature(
            signature, signer_validation_context=context,
            key_usage_settings=KeyUsageConstraints(key_usage=set(SIGNING_KEY_USAGES), match_all_key_usages=False),
        )
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise PdfSignatureError("integrity", f"the signature cannot be read: {exc}") from exc
    # 4. integrity: the covered bytes and the CMS signature
    if not status.intact:
        raise PdfSignatureError("integrity", "the signed bytes were changed: their digest is not the signed one")
    if not status.valid:
        raise PdfSignatureError("integrity", "the CMS signature does not verify with the signer's key")
    cert = x509.load_der_x509_certificate(status.signing_cert.dump())
    subject = cert.subject.rfc4514_string()
    # 5. trust: a chain to a given root, valid now, with a signing key usage
    if not status.trusted:
        indication = status.trust_problem_indic  # an ETSI EN 319 102-1 sub-indication
        problem = str(indication.standard_name) if indication is not None else "untrusted"
        raise PdfSignatureError("trust", f"the signer {subject} has no valid certificate path to a given root, "
                                         f"or its key may not sign ({problem})")
    # 6. coverage: nothing after the signature
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        raise PdfSignatureError("coverage", "the file was changed after it was signed (bytes follow the signature)")
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return SignatureFacts(
        subject=subject,
        common_name=str(names[0].value) if names else None,
        signing_time=status.signer_reported_dt,
    )
