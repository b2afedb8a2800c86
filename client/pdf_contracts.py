"""Contract PDFs signed in turn by their parties, each with a visible e-seal, and checked
against what the chain recorded (docs/contract-pdf.md is the reader's version).

Signing (`sign_contract_pdf`) appends one PAdES signature as an incremental update, so
the registered PDF and every earlier party's revision stay byte-for-byte prefixes:

- profile: SubFilter ETSI.CAdES.detached, SHA-256, ESS signing-certificate-v2, the
  signer's chain embedded with its root. The document's first signature certifies it
  with DocMDP P=2 (further signatures allowed, and form filling, which verification
  refuses: a contract's content is fixed at registration); later ones are approval
  signatures. No signature locks the document (docs/contract-pdf.md says why).
- level: B-B; B-T with `timestamp_url` (a signature time-stamp from that RFC 3161 TSA,
  asked through client/timestamping.py); B-LT when `crls` are given too (the chain's
  certificates and the CRLs in a DSS, one more incremental update after the signature).
- the widget's normal appearance (/AP /N) draws the seal image and nothing else: one
  image XObject named /Seal in the appearance's /Resources /XObject, /DeviceRGB with a
  /DeviceGray /SMask, 8 bits, FlateDecode, exactly `SealImage.rgb` and `.alpha`.
- placement, first that applies: the named empty signature field; `position`; the first
  empty signature field of the registered document (/AcroForm /Fields order) whose
  widget is seen (inside its page, printed, not hidden); a free slot on the last page
  (SLOT_MARGIN_MM from the edges, right to left along the bottom, then upwards). A
  field added after registration is never taken unless named (whoever holds a party's
  output can add one, off the page or unprinted, to catch the next seal), and a named
  field the seal would not be seen in is refused. A seal never covers an earlier
  signature's widget.

Verification against the chain is client/pdf_contract_checks.py; reading the PDF's
structure (pages, widgets, signature spans, revisions) is client/pdf_structure.py.
"""
from __future__ import annotations

import asyncio
import hashlib
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms, crl as asn1_crl
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning

from client.pdf_signatures import DIGEST_ALGORITHM, PT_PER_MM, PdfSignatureError, ProtocolSigner
from client.pdf_structure import (
    MAX_CONTRACT_PDF_BYTES,
    READ_ERRORS,
    PdfPage,
    SignatureSpan,
    SignatureWidget,
    bounded_recursion,
    certificate_fingerprint,
    is_visible,
    open_pdf,
    read_error,
    read_pages,
    rect_inside,
    rects_overlap,
    redraws_fields,
    signature_widgets,
    why_unseen,
)
from client.seals import SealImage
from client.signers import Signer
from client.timestamping import TimestampingError, request_timestamp

# As in client/pdf_signatures.py: pyHanko imports cryptography's DSA module, which warns.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    from pyhanko.pdf_utils import content, generic
    from pyhanko.pdf_utils.generic import pdf_name
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.sign.general import SigningError
    from pyhanko.sign.timestamps.api import TimeStamper
    from pyhanko.sign.validation.dss import DocumentSecurityStore
    from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
    from pyhanko.stamp import BaseStampStyle
    from pyhanko.stamp.base import BaseStamp


# -- profile constants ------------------------------------------------------------------------

# The signature levels sign_contract_pdf makes (ETSI EN 319 142-1 PAdES baseline).
LEVELS = ("B-B", "B-T", "B-LT")
# The default seal's longer side. Chinese official seals are 38-42 mm across (an
# enterprise's round seal at most 42 mm, 国发〔1999〕25号); 40 mm prints one near its size.
DEFAULT_SEAL_MM = 40.0
# Automatic placement: slots keep this far from the page's edges (a printer's margin)
# and this far apart (two seals side by side stay distinguishable).
SLOT_MARGIN_MM = 15.0
SLOT_GAP_MM = 5.0
# A seal drawn smaller than this on the page is not legible as a seal; verification
# refuses it (a signer could otherwise shrink the registered image to a dot).
MIN_SEAL_DRAWN_MM = 10.0
# The field name given to a signature field this module creates: Seal1, Seal2, ...
FIELD_PREFIX = "Seal"
# The name of the seal image in the appearance stream's /Resources /XObject.
SEAL_XOBJECT = "/Seal"


# -- models ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SealPosition:
    """Where to put the seal when the PDF has no field for it: `page` 0-based (-1 = the
    last), the rectangle in millimetres from the page's top-left corner (its CropBox)."""

    page: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class SignedRevision:
    """What one party's signing produced, with the digests the chain records."""

    pdf: bytes                  # the whole output; the input is a byte-for-byte prefix of it
    revision_digest: bytes      # SHA-256 of pdf[:end of the new signature's ByteRange]
    cms_digest: bytes           # SHA-256 of the new signature's CMS SignedData DER (no padding)
    seal: bytes                 # SealImage.digest of the seal drawn
    field: str                  # the signature field filled or created
    page: int                   # 0-based page of the widget
    rect: tuple[float, float, float, float]  # the widget in PDF points (x1, y1, x2, y2)
    level: str                  # "B-B" | "B-T" | "B-LT"


# -- signing --------------------------------------------------------------------------------


def _fit(box_width: float, box_height: float, image_width: int, image_height: int) -> tuple[float, float, float, float]:
    """(width, height, dx, dy) of the image scaled into the box, aspect kept, centred."""
    scale = min(box_width / image_width, box_height / image_height)
    width, height = image_width * scale, image_height * scale
    return width, height, (box_width - width) / 2, (box_height - height) / 2


def _image_stream(seal: SealImage) -> tuple[generic.StreamObject, generic.StreamObject]:
    """The seal as an /DeviceRGB image and its /DeviceGray soft mask, 8 bits, FlateDecode."""

    def image(colour_space: str, samples: bytes) -> generic.StreamObject:
        stream = generic.StreamObject({
            pdf_name("/Type"): pdf_name("/XObject"),
            pdf_name("/Subtype"): pdf_name("/Image"),
            pdf_name("/Width"): generic.NumberObject(seal.width),
            pdf_name("/Height"): generic.NumberObject(seal.height),
            pdf_name("/ColorSpace"): pdf_name(colour_space),
            pdf_name("/BitsPerComponent"): generic.NumberObject(8),
        }, stream_data=samples)
        stream.compress()  # FlateDecode
        return stream

    return image("/DeviceRGB", seal.rgb), image("/DeviceGray", seal.alpha)


class _SealStamp(BaseStamp):
    """The widget's appearance: the seal image fitted into the box, nothing else."""

    def __init__(self, writer: Any, style: SealStampStyle, box: Any, seal: SealImage) -> None:
        super().__init__(writer=writer, style=style, box=box)
        self.seal = seal

    def _render_inner_content(self) -> list[bytes]:
        return []

    def render(self) -> bytes:
        writer = self.writer
        assert writer is not None  # pyHanko sets it before rendering an appearance
        colour, mask = _image_stream(self.seal)
        colour[pdf_name("/SMask")] = writer.add_object(mask)
        self.set_resource(content.ResourceType.XOBJECT, pdf_name(SEAL_XOBJECT), writer.add_object(colour))
        width, height, dx, dy = _fit(self.box.width, self.box.height, self.seal.width, self.seal.height)
        return b"q %.4f 0 0 %.4f %.4f %.4f cm %s Do Q" % (width, height, dx, dy, SEAL_XOBJECT.encode())


@dataclass(frozen=True)
class SealStampStyle(BaseStampStyle):
    """A pyHanko stamp style that draws a seal image (and no border, text or background)."""

    seal: SealImage | None = None
    border_width: int = 0

    def create_stamp(self, writer: Any, box: Any, text_params: dict[str, Any]) -> _SealStamp:
        if self.seal is None:
            raise PdfSignatureError("appearance", "no seal image to draw")
        return _SealStamp(writer, self, box, self.seal)


class _LedgerTimeStamper(TimeStamper):
    """pyHanko's TimeStamper over the SDK's one RFC 3161 client (client/timestamping.py:
    our HTTP client, its caps, and the response checked against the request)."""

    def __init__(self, url: str) -> None:
        super().__init__(include_nonce=True)
        self.url = url

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        if md_algorithm != DIGEST_ALGORITHM:
            raise PdfSignatureError("timestamp", f"time-stamps are asked over {DIGEST_ALGORITHM}, not {md_algorithm}")
        token = await asyncio.to_thread(request_timestamp, self.url, bytes(message_digest))
        return cms.ContentInfo.load(token)


@dataclass(frozen=True)
class _Placement:
    field: str
    existing: bool
    page: int
    rect: tuple[float, float, float, float]


def _to_points(page: PdfPage, x: float, y: float, width: float, height: float) -> tuple[float, float, float, float]:
    """A rectangle in millimetres from the page's top-left corner, in PDF points (to the
    hundredth, as it is written into the file)."""
    left, _, _, top = page.box
    x1, y1 = left + x * PT_PER_MM, top - (y + height) * PT_PER_MM
    x2, y2 = left + (x + width) * PT_PER_MM, top - y * PT_PER_MM
    return round(x1, 2), round(y1, 2), round(x2, 2), round(y2, 2)




def _default_size(seal: SealImage) -> tuple[float, float]:
    longer = max(seal.width, seal.height)
    return DEFAULT_SEAL_MM * seal.width / longer, DEFAULT_SEAL_MM * seal.height / longer


def _new_field_name(widgets: Sequence[SignatureWidget]) -> str:
    taken = {w.name for w in widgets}
    number = 1
    while f"{FIELD_PREFIX}{number}" in taken:
        number += 1
    return f"{FIELD_PREFIX}{number}"


def _refuse_overlap(rect: tuple[float, float, float, float], page: int, widgets: Sequence[SignatureWidget], what: str) -> None:
    for earlier in widgets:
        if earlier.filled and earlier.page == page and is_visible(earlier.rect) and rects_overlap(rect, earlier.rect):
            raise PdfSignatureError("placement", f"{what} covers the seal of the earlier signature {earlier.name!r} "
                                                 f"on page {page + 1}")


def _place(pages: Sequence[PdfPage], widgets: Sequence[SignatureWidget], seal: SealImage, field: str | None,
           position: SealPosition | None) -> _Placement:
    """Where the seal goes (module docstring, placement rules 1-4), large enough to read."""
    placement = _choose_place(pages, widgets, seal, field, position)
    x1, y1, x2, y2 = placement.rect
    width, height, _, _ = _fit(x2 - x1, y2 - y1, seal.width, seal.height)
    if min(width, height) / PT_PER_MM < MIN_SEAL_DRAWN_MM:
        raise PdfSignatureError("placement", f"the seal would be drawn {min(width, height) / PT_PER_MM:.1f} mm "
                                             f"across in {placement.field!r}, under {MIN_SEAL_DRAWN_MM:.0f} mm: "
                                             "too small to be read as a seal")
    return placement


def _choose_place(pages: Sequence[PdfPage], widgets: Sequence[SignatureWidget], seal: SealImage, field: str | None,
                  position: SealPosition | None) -> _Placement:
    if field is not None and position is not None:
        raise PdfSignatureError("placement", "give a field or a position, not both")
    # 1. the named field
    if field is not None:
        named = [w for w in widgets if w.name == field]
        if not named:
            raise PdfSignatureError("placement", f"the PDF has no signature field named {field!r}")
        target = named[0]
        if target.filled:
            raise PdfSignatureError("placement", f"the signature field {field!r} is already signed")
        if target.page is None or not is_visible(target.rect):
            raise PdfSignatureError("placement", f"the signature field {field!r} has no visible widget on a page; "
                                                 "a seal must be seen")
        unseen = why_unseen(target.rect, target.flags, pages[target.page], target.page + 1)
        if unseen is not None:
            raise PdfSignatureError("placement", f"the signature field {field!r} is {unseen}: a seal in it would not "
                                                 "be seen (verification refuses it)")
        _refuse_overlap(target.rect, target.page, widgets, f"the field {field!r}")
        return _Placement(field, True, target.page, target.rect)
    # 2. the given position
    if position is not None:
        index = position.page if position.page >= 0 else len(pages) + position.page
        if not 0 <= index < len(pages):
            raise PdfSignatureError("placement", f"page {position.page} does not exist (the PDF has {len(pages)})")
        if position.width <= 0 or position.height <= 0:
            raise PdfSignatureError("placement", "a seal's width and height must be positive")
        page = pages[index]
        if page.rotate:
            raise PdfSignatureError("placement", f"page {index + 1} is rotated (/Rotate {page.rotate}); give a "
                                                 "signature field to place the seal on it")
        rect = _to_points(page, position.x, position.y, position.width, position.height)
        if not rect_inside(rect, page.box):
            raise PdfSignatureError("placement", f"the position leaves page {index + 1}")
        _refuse_overlap(rect, index, widgets, "the position")
        return _Placement(_new_field_name(widgets), False, index, rect)
    # 3. the registered document's first empty signature field whose widget is seen
    for widget in widgets:
        if not widget.filled and widget.registered and widget.page is not None and \
                why_unseen(widget.rect, widget.flags, pages[widget.page], widget.page + 1) is None:
            _refuse_overlap(widget.rect, widget.page, widgets, f"the field {widget.name!r}")
            return _Placement(widget.name, True, widget.page, widget.rect)
    # 4. a free slot on the last page: along the bottom right to left, then upwards
    index = len(pages) - 1
    page = pages[index]
    if page.rotate:
        raise PdfSignatureError("placement", f"the last page is rotated (/Rotate {page.rotate}); give a position "
                                             "on another page or a signature field")
    width, height = _default_size(seal)
    page_width = (page.box[2] - page.box[0]) / PT_PER_MM
    page_height = (page.box[3] - page.box[1]) / PT_PER_MM
    top = page_height - SLOT_MARGIN_MM - height
    while top >= SLOT_MARGIN_MM - 1e-9:
        left = page_width - SLOT_MARGIN_MM - width
        while left >= SLOT_MARGIN_MM - 1e-9:
            rect = _to_points(page, left, top, width, height)
            if not any(w.page == index and is_visible(w.rect) and rects_overlap(rect, w.rect) for w in widgets):
                return _Placement(_new_field_name(widgets), False, index, rect)
            left -= width + SLOT_GAP_MM
        top -= height + SLOT_GAP_MM
    raise PdfSignatureError("placement", f"no free place for a {width:.0f} x {height:.0f} mm seal on the last page: "
                                         "give a position or a signature field")


def sign_contract_pdf(pdf: bytes, signer: Signer, seal: SealImage, *, field: str | None = None,
                      position: SealPosition | None = None, timestamp_url: str | None = None,
                      crls: Sequence[x509.CertificateRevocationList] = (), reason: str | None = None,
                      location: str | None = None) -> SignedRevision:
    """`pdf` with `signer`'s PAdES signature and `seal` drawn in its widget, appended as an
    incremental update (and a DSS update after it for B-LT). Raises PdfSignatureError
    naming the step: size, format, signer, placement, level, timestamp, signing. The PDF
    is read under bounded_recursion (a deeply nested file is refused, not a crash)."""
    with bounded_recursion:
        return _sign(pdf, signer, seal, field=field, position=position, timestamp_url=timestamp_url, crls=crls,
                     reason=reason, location=location)


def _sign(pdf: bytes, signer: Signer, seal: SealImage, *, field: str | None, position: SealPosition | None,
          timestamp_url: str | None, crls: Sequence[x509.CertificateRevocationList], reason: str | None,
          location: str | None) -> SignedRevision:
    # 1. the input: a PDF within the cap, not already signed by this certificate
    if len(pdf) > MAX_CONTRACT_PDF_BYTES:
        raise PdfSignatureError("size", f"{len(pdf)} bytes exceeds {MAX_CONTRACT_PDF_BYTES}")
    if crls and timestamp_url is None:
        raise PdfSignatureError("level", "B-LT adds revocation data to a time-stamped (B-T) signature: give a "
                                         "time-stamping authority with the CRLs")
    reader = open_pdf(pdf, "format")
    protocol_signer = ProtocolSigner(signer)
    own = certificate_fingerprint(signer.chain[0])
    try:
        existing = list(reader.embedded_signatures)
        pages = read_pages(reader)
        widgets = signature_widgets(reader, pages)
        certificates = [certificate_fingerprint(e.signer_cert) for e in existing if e.sig_object_type == "/Sig"]
        redraws = redraws_fields(reader)
    except READ_ERRORS as exc:
        raise PdfSignatureError("format", f"the PDF's pages or signatures cannot be read: {read_error(exc)}") from exc
    except Exception as exc:  # attacker-made input: whatever else breaks the reading, named
        raise PdfSignatureError("format", f"the PDF cannot be read: {type(exc).__name__}: {exc}") from exc
    for earlier, fingerprint in zip((e for e in existing if e.sig_object_type == "/Sig"), certificates):
        if fingerprint == own:
            raise PdfSignatureError("signer", f"this certificate already signed the PDF (field {earlier.field_name!r})")
    if redraws:
        raise PdfSignatureError("format", "the form asks viewers to redraw its fields (/NeedAppearances true): they "
                                          "then draw the signature fields themselves and would show no seal")
    # 2. where the seal goes
    placement = _place(pages, widgets, seal, field, position)
    # 3. the signature: certification (P=2) if it is the document's first, else approval
    metadata = signers.PdfSignatureMetadata(
        field_name=placement.field, md_algorithm=DIGEST_ALGORITHM, subfilter=fields.SigSeedSubFilter.PADES,
        certify=not existing, docmdp_permissions=fields.MDPPerm.FILL_FORMS, reason=reason, location=location,
    )
    spec = None if placement.existing else fields.SigFieldSpec(
        placement.field, on_page=placement.page, box=placement.rect)  # type: ignore[arg-type]  # floats are written as such
    timestamper = _LedgerTimeStamper(timestamp_url) if timestamp_url is not None else None
    pdf_signer = signers.PdfSigner(metadata, protocol_signer, timestamper=timestamper,
                                   stamp_style=SealStampStyle(seal=seal), new_field_spec=spec)
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        signed = bytes(pdf_signer.sign_pdf(writer, existing_fields_only=placement.existing).getvalue())
    except PdfSignatureError:  # ours, raised inside pyHanko (the seal's appearance, the TSA's digest)
        raise
    except TimestampingError as exc:
        raise PdfSignatureError("timestamp", str(exc)) from exc
    except SigningError as exc:
        raise PdfSignatureError("signing", str(exc)) from exc
    except READ_ERRORS as exc:  # pyHanko reading more of the input than step 1 did
        raise PdfSignatureError("signing", f"pyHanko cannot sign this PDF: {read_error(exc)}") from exc
    # 4. the digests the chain records, read back from the output bytes
    out_reader = open_pdf(signed, "signing")
    new = next((s for s in out_reader.embedded_signatures if s.field_name == placement.field), None)
    if new is None:
        raise PdfSignatureError("signing", f"the output has no signature in {placement.field!r}")
    span = SignatureSpan.of(signed, new.byte_range)
    if span.revision_end != len(signed) or not signed.startswith(pdf):
        raise PdfSignatureError("signing", "the signature does not end the output, or the input is not its prefix")
    revision_digest = hashlib.sha256(signed).digest()
    level = "B-T" if timestamper is not None else "B-B"
    # 5. B-LT: the chain's certificates and the CRLs in the DSS, in an update of their own
    if crls:
        signed = _add_dss(signed, new, crls)
        level = "B-LT"
    return SignedRevision(pdf=signed, revision_digest=revision_digest, cms_digest=hashlib.sha256(span.cms).digest(),
                          seal=seal.digest, field=placement.field, page=placement.page, rect=placement.rect,
                          level=level)


def _add_dss(pdf: bytes, signature: EmbeddedPdfSignature, crls: Sequence[x509.CertificateRevocationList]) -> bytes:
    """`pdf` with a DSS update holding the signature's certificates (its own chain and the
    time-stamp's) and `crls`, registered under the signature's VRI key."""
    certs = [signature.signer_cert, *signature.other_embedded_certs]
    token = _timestamp_token(signature)
    if token is not None:
        certs.extend(c.chosen for c in token["content"]["certificates"] or () if c.name == "certificate")
    loaded = [asn1_crl.CertificateList.load(c.public_bytes(serialization.Encoding.DER)) for c in crls]
    output = io.BytesIO(pdf)
    writer = IncrementalPdfFileWriter(output, strict=False)
    DocumentSecurityStore.supply_dss_in_writer(writer, signature.pkcs7_content, certs=certs, crls=loaded)
    writer.write_in_place()
    return output.getvalue()


def _timestamp_token(signature: EmbeddedPdfSignature) -> cms.ContentInfo | None:
    attributes = signature.signer_info["unsigned_attrs"]
    for attribute in attributes or ():
        if attribute["type"].native == "signature_time_stamp_token":
            return attribute["values"][0]
    return None


