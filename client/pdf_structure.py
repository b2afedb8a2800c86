"""The structure of a contract PDF, read with pyHanko: pages, signature widgets, where each
signature sits in the file (its ByteRange and CMS) and the file's revisions.

Shared by signing (client/pdf_contracts.py) and verification against the chain
(client/pdf_contract_checks.py); everything here reads, nothing writes. A PDF handed in
is attacker input on the verifier's side: the caps below bound what one file can make
these functions build.
"""
from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from asn1crypto import parser as asn1_parser, x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.utils import CryptographyDeprecationWarning

from client.pdf_signatures import PdfSignatureError
from evidence import digest as digests

# As in client/pdf_signatures.py: pyHanko imports cryptography's DSA module, which warns.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign import fields


# -- caps and profile constants -------------------------------------------------------------

# A contract PDF is read into memory whole, by the signer and by the verifier (attacker
# input there). Tender contracts with scanned annexes run to tens of megabytes; 64 MiB is
# room for that and bounds what one verification can make us hold (pyHanko parses it,
# and the registered step hashes prefixes of it).
MAX_CONTRACT_PDF_BYTES = 64 * 1024 * 1024
# Signatures (party signatures and document time-stamps) a verifier examines. A contract
# has at most 8 parties (ContractRegistry.vy MAX_PARTIES); twice that leaves room for a
# document time-stamp after each. Each signature costs a difference analysis over the
# revisions after it, so this also bounds the work one file can ask for.
MAX_PDF_SIGNATURES = 16
# %%EOF markers (revision ends) considered. A contract gets one revision per party plus
# its DSS updates; a file with more is not one of ours, and the list of prefix digests
# (one SHA-256 per marker) stays small.
MAX_REVISIONS = 256
# Pages walked to place or find a seal. A contract with annexes runs to hundreds of pages;
# 10 000 bounds the page list a crafted file can make us build.
MAX_PAGES = 10_000
# Widget annotation flags (ISO 32000-1 12.5.3) that hide an annotation from a reader.
HIDDEN_FLAGS = {"Hidden": 1 << 1, "NoView": 1 << 5}
_PAGE_TREE_DEPTH = 64  # nested /Pages nodes followed before the tree is called malformed
PADES_SUBFILTER = "/ETSI.CAdES.detached"
DOC_TIMESTAMP_SUBFILTER = "/ETSI.RFC3161"
EOF_MARKER = b"%%EOF"
_HEADER_WINDOW = 1024  # readers find the %PDF- header within the first 1024 bytes (ISO 32000-1 annex H)


# -- reading a PDF --------------------------------------------------------------------------


def certificate_fingerprint(cert: asn1_x509.Certificate | x509.Certificate) -> bytes:
    if isinstance(cert, x509.Certificate):
        return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()
    return hashlib.sha256(cert.dump()).digest()


def open_pdf(pdf: bytes, step: str) -> PdfFileReader:
    """A pyHanko reader over `pdf`, or PdfSignatureError(step)."""
    if pdf.find(b"%PDF-", 0, _HEADER_WINDOW) == -1:
        raise PdfSignatureError(step, "not a PDF file (no %PDF- header)")
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        reader.root  # noqa: B018 -- parses the trailer and the catalog
    except (PdfError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise PdfSignatureError(step, f"not a readable PDF: {exc}") from exc
    if reader.security_handler is not None:
        raise PdfSignatureError(step, "the PDF is encrypted; a contract PDF must be readable without a password")
    return reader


def dict_get(container: generic.DictionaryObject, key: str, default: Any = None) -> Any:
    """`container[key]` dereferenced, or `default` (dict.get would hand back a reference)."""
    return container[key] if key in container else default


def read_rect(value: Any) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(value[i]) for i in range(4)) if len(value) == 4 else (0, 0, 0, 0)
    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


def rects_overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    """Whether two rectangles share area (touching edges do not)."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@dataclass(frozen=True)
class PdfPage:
    ref: generic.Reference
    box: tuple[float, float, float, float]  # the CropBox (default MediaBox), normalised
    rotate: int
    annots: tuple[generic.Reference, ...]


def read_pages(handler: Any) -> list[PdfPage]:
    """Every page in order, with its inherited CropBox/MediaBox and /Rotate."""
    out: list[PdfPage] = []
    root_ref = handler.root.raw_get("/Pages")
    if not isinstance(root_ref, generic.IndirectObject):
        raise PdfError("the page tree root is not an indirect object")
    # (node, inherited attributes, depth); a stack walks the tree in page order
    stack: list[tuple[generic.IndirectObject, dict[str, Any], int]] = [(root_ref, {}, 0)]
    seen: set[tuple[int, int]] = set()
    while stack:
        node_ref, inherited, depth = stack.pop()
        key = (node_ref.idnum, node_ref.generation)
        if key in seen or depth > _PAGE_TREE_DEPTH:
            raise PdfError("the page tree has a cycle or is too deep")
        seen.add(key)
        node = node_ref.get_object()
        attributes = dict(inherited)
        for name in ("/MediaBox", "/CropBox", "/Rotate"):
            if name in node:
                attributes[name] = node[name]
        if dict_get(node, "/Type") == "/Pages":
            kids = [kid for kid in node["/Kids"] if isinstance(kid, generic.IndirectObject)]
            stack.extend((kid, attributes, depth + 1) for kid in reversed(kids))
            continue
        media = read_rect(attributes["/MediaBox"])
        crop = read_rect(attributes["/CropBox"]) if "/CropBox" in attributes else media
        # list iteration yields the raw entries: the widgets' references
        annots = [a.reference for a in dict_get(node, "/Annots", ()) if isinstance(a, generic.IndirectObject)]
        if len(out) >= MAX_PAGES:
            raise PdfError(f"more than {MAX_PAGES} pages")
        out.append(PdfPage(node_ref.reference, crop, int(attributes.get("/Rotate", 0)) % 360, tuple(annots)))
    return out


def widget_of(field_dict: generic.DictionaryObject) -> tuple[generic.Reference, generic.DictionaryObject]:
    """The one widget annotation of a signature field (the field itself when merged)."""
    if "/Kids" in field_dict:
        kids = [kid for kid in field_dict["/Kids"]
                if isinstance(kid, generic.IndirectObject) and dict_get(kid.get_object(), "/Subtype") == "/Widget"]
        if len(kids) != 1:
            raise PdfError(f"the signature field has {len(kids)} widgets, not one")
        return kids[0].reference, kids[0].get_object()
    ref = field_dict.container_ref
    if not isinstance(ref, generic.Reference):
        raise PdfError("the signature field is not an indirect object")
    return ref, field_dict


def page_of(widget_ref: generic.Reference, pages: Sequence[PdfPage]) -> int | None:
    """The page whose /Annots lists the widget (References compare by number, generation)."""
    return next((index for index, page in enumerate(pages) if widget_ref in page.annots), None)


@dataclass(frozen=True)
class SignatureWidget:
    name: str
    filled: bool
    page: int | None
    rect: tuple[float, float, float, float]


def signature_widgets(reader: PdfFileReader, pages: Sequence[PdfPage]) -> list[SignatureWidget]:
    """Every signature field's widget in /AcroForm /Fields order."""
    out = []
    for name, value, field_ref in fields.enumerate_sig_fields(reader):
        field_dict = field_ref.get_object()
        try:
            widget_ref, widget = widget_of(field_dict)
            rect = read_rect(widget["/Rect"]) if "/Rect" in widget else (0.0, 0.0, 0.0, 0.0)
        except (PdfError, ValueError, TypeError, KeyError):
            continue  # not a field we can place anything in; its signature (if any) is checked elsewhere
        out.append(SignatureWidget(name, value is not None, page_of(widget_ref, pages), rect))
    return out


def rect_inside(rect: tuple[float, float, float, float], box: tuple[float, float, float, float]) -> bool:
    slack = 0.01  # rounding of millimetres to points
    return rect[0] >= box[0] - slack and rect[1] >= box[1] - slack and rect[2] <= box[2] + slack and rect[3] <= box[3] + slack


def is_visible(rect: tuple[float, float, float, float]) -> bool:
    return rect[2] - rect[0] > 0 and rect[3] - rect[1] > 0


def _cms_der(contents: bytes) -> bytes:
    """The CMS DER at the start of a /Contents value, without the zero padding after it."""
    try:
        _, _, _, header, body, _ = asn1_parser.parse(contents, strict=False)
    except ValueError as exc:
        raise PdfSignatureError("integrity", f"the signature's /Contents is not DER: {exc}") from exc
    return contents[:len(header) + len(body)]


@dataclass(frozen=True)
class SignatureSpan:
    """Where a signature sits in the file: its ByteRange and the CMS between."""

    contents_start: int         # where the /Contents hex string begins
    revision_end: int
    cms: bytes

    @classmethod
    def of(cls, pdf: bytes, byte_range: Sequence[int]) -> SignatureSpan:
        values = [int(v) for v in byte_range]
        if len(values) != 4 or values[0] != 0 or min(values) < 0:
            raise PdfSignatureError("integrity", f"a nonstandard /ByteRange {values}")
        _, first_length, second_start, second_length = values
        end = second_start + second_length
        if not first_length < second_start <= end <= len(pdf):
            raise PdfSignatureError("integrity", f"the /ByteRange {values} does not fit the file")
        hole = pdf[first_length:second_start]
        if not (hole.startswith(b"<") and hole.endswith(b">")):
            raise PdfSignatureError("integrity", "the /ByteRange gap is not the /Contents hex string")
        try:
            contents = bytes.fromhex(hole[1:-1].decode("ascii"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise PdfSignatureError("integrity", f"the /Contents is not hex: {exc}") from exc
        return cls(first_length, end, _cms_der(contents))



# -- revision prefixes ----------------------------------------------------------------------


def revision_ends(pdf: bytes) -> list[int]:
    """Every place a revision can end: after each %%EOF, and after the end-of-line that
    follows it (a file ends with either, and an incremental update keeps it as it was)."""
    ends: list[int] = []
    markers = 0
    start = pdf.find(EOF_MARKER)
    while start != -1:
        markers += 1
        if markers > MAX_REVISIONS:
            raise PdfSignatureError("format", f"more than {MAX_REVISIONS} %%EOF markers: not a contract PDF")
        end = start + len(EOF_MARKER)
        ends.append(end)
        for eol in (b"\r\n", b"\n", b"\r"):
            if pdf.startswith(eol, end):
                ends.append(end + len(eol))
                break
        start = pdf.find(EOF_MARKER, end)
    return ends


def prefix_digests(pdf: bytes, ends: Sequence[int], algorithm: str) -> list[tuple[int, bytes]]:
    """The digest of pdf[:end] for each end (ascending), hashing each byte once."""
    name = digests.algorithm_name(digests.algorithm_id(algorithm))  # canonical; unknown names raise
    running = hashes.Hash(hashes.SM3() if name == digests.SM3 else hashes.SHA256())
    out, done = [], 0
    for end in ends:
        running.update(pdf[done:end])
        done = end
        out.append((end, running.copy().finalize()))
    return out


def revision_prefix_digests(pdf: bytes, algorithm: str = "sha256") -> list[tuple[int, bytes]]:
    """(end offset, digest) of every revision prefix of `pdf`, earliest first: at each
    %%EOF, once without and once with the end-of-line after it. The registered contract is
    the one whose doc_digest is among them (before the first signature). `algorithm` is
    "sha256" or "sm3" (evidence.digest's names; another raises UnknownDigestAlgorithm)."""
    if len(pdf) > MAX_CONTRACT_PDF_BYTES:
        raise PdfSignatureError("size", f"{len(pdf)} bytes exceeds {MAX_CONTRACT_PDF_BYTES}")
    return prefix_digests(pdf, revision_ends(pdf), algorithm)


def signatures_in(pdf: bytes) -> Iterator[tuple[str, bytes, bytes]]:
    """(field, revision digest, CMS digest) of each PAdES signature of `pdf`, in file
    order, read from the bytes as the chain records them (no check of any kind)."""
    reader = open_pdf(pdf, "format")
    for signature in reader.embedded_regular_signatures:
        span = SignatureSpan.of(pdf, signature.byte_range)
        yield (signature.field_name, hashlib.sha256(pdf[:span.revision_end]).digest(),
               hashlib.sha256(span.cms).digest())
