"""The structure of a contract PDF, read with pyHanko: pages, signature widgets, where each
signature sits in the file (its ByteRange and CMS) and the file's revisions.

Shared by signing (client/pdf_contracts.py) and verification against the chain
(client/pdf_contract_checks.py); everything here reads, nothing writes. A PDF handed in
is attacker input on the verifier's side: the caps below bound what one file can make
these functions build.
"""
from __future__ import annotations

import decimal
import hashlib
import io
import math
import sys
import threading
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
    from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader, process_data_at_eof
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
# Revisions considered: %%EOF markers when looking for the registered document, and the
# revisions pyHanko reads from the cross-reference chain (/Prev), which need no marker. A
# contract gets one revision per party plus its DSS updates, on top of however many its
# registered document had; a file with more is not one of ours, and the list of prefix
# digests (one SHA-256 per marker) stays small.
MAX_REVISIONS = 256
# Revisions after the registered document a verifier compares, each with the one before
# it: one per signature (party or document time-stamp) and one DSS update after each,
# and a few for a tool that writes its validation data in more than one update. The
# comparisons run once per signature over the revisions after it, so the work grows with
# the square of this; 4000 empty updates took minutes before this cap.
MAX_REVISIONS_AFTER_REGISTRATION = 2 * MAX_PDF_SIGNATURES + 4
# Pages walked to place or find a seal. A contract with annexes runs to hundreds of pages;
# 10 000 bounds the page list a crafted file can make us build.
MAX_PAGES = 10_000
# Objects a refusal names one by one (the rest are counted): enough to point a court's
# expert at what changed, short enough for the verdict's one-line detail.
MAX_NAMED_OBJECTS = 8
# A coordinate (points) beyond which a rectangle is refused: a page is at most 14 400
# units a side (ISO 32000-1 annex C.2); a million leaves room for odd origins and refuses
# the numbers float() overflows on or that a viewer cannot place.
MAX_COORDINATE = 1_000_000.0
# Widget annotation flags (ISO 32000-1 12.5.3) that hide an annotation from a reader, on
# screen, on paper or at the click of a button; and Print, without which it is not printed.
HIDDEN_FLAGS = {"Hidden": 1 << 1, "NoView": 1 << 5, "ToggleNoView": 1 << 8}
PRINT_FLAG = 1 << 2
# What reading a PDF someone else made can raise, besides pyHanko's PdfError: malformed
# objects (ValueError, KeyError, TypeError, IndexError, AttributeError), objects nested
# past Python's recursion limit (pyHanko's reader recurses once per level), numbers too
# large for a float (ArithmeticError covers OverflowError).
READ_ERRORS: tuple[type[Exception], ...] = (PdfError, ValueError, KeyError, TypeError, IndexError, AttributeError,
                                            RecursionError, ArithmeticError)
# The recursion limit PDFs are read under (bounded_recursion). pyHanko reads and resolves
# nested arrays and dictionaries by recursion, Python frames and (through its generators)
# C frames, a couple per level. Under Python's default limit (1000) a file nested deeper
# raises RecursionError, which the readers turn into a failed step; but the SDK's
# processes import py_ecc (through eth-account), which raises the limit to 100 000, and a
# PDF with arrays nested 16 000 deep then overflows the 8 MiB C stack and kills the
# process (SIGSEGV; 12 000 still passed) before any RecursionError. Honest files need a
# few hundred frames (pyHanko, asn1crypto, our steps); 4000 frames take at most about
# 1.5 MiB of C stack (8 MiB held 24 000-32 000 of them).
PDF_RECURSION_LIMIT = 4000
_PAGE_TREE_DEPTH = 64  # nested /Pages nodes followed before the tree is called malformed
PADES_SUBFILTER = "/ETSI.CAdES.detached"
DOC_TIMESTAMP_SUBFILTER = "/ETSI.RFC3161"
EOF_MARKER = b"%%EOF"
_HEADER_WINDOW = 1024  # readers find the %PDF- header within the first 1024 bytes (ISO 32000-1 annex H)


# -- reading a PDF --------------------------------------------------------------------------


class _BoundedRecursion:
    """`with bounded_recursion:` around reading a PDF: the interpreter's recursion limit
    held at most PDF_RECURSION_LIMIT while any thread reads one, and put back when the
    last is done. The limit is the interpreter's, so a thread reading a PDF lowers it for
    every thread meanwhile (none of the SDK's needs more while a PDF is read)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readers = 0
        self._restore: int | None = None

    def __enter__(self) -> None:
        with self._lock:
            if self._readers == 0:
                limit = sys.getrecursionlimit()
                self._restore = None
                if limit > PDF_RECURSION_LIMIT:
                    try:
                        sys.setrecursionlimit(PDF_RECURSION_LIMIT)
                        self._restore = limit
                    except RecursionError:  # already deeper than the bound: leave the limit as it is
                        pass
            self._readers += 1

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._readers -= 1
            if self._readers == 0 and self._restore is not None:
                sys.setrecursionlimit(self._restore)
                self._restore = None


bounded_recursion = _BoundedRecursion()


def certificate_fingerprint(cert: asn1_x509.Certificate | x509.Certificate) -> bytes:
    if isinstance(cert, x509.Certificate):
        return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()
    return hashlib.sha256(cert.dump()).digest()


def read_error(exc: BaseException) -> str:
    """One of READ_ERRORS said for a reader: what could not be read, and why."""
    if isinstance(exc, RecursionError):
        return "objects nested too deeply to read (past the recursion limit)"
    return f"{type(exc).__name__}: {exc}" if not isinstance(exc, PdfError) else str(exc)


def open_pdf(pdf: bytes, step: str) -> PdfFileReader:
    """A pyHanko reader over `pdf`, or PdfSignatureError(step)."""
    if pdf.find(b"%PDF-", 0, _HEADER_WINDOW) == -1:
        raise PdfSignatureError(step, "not a PDF file (no %PDF- header)")
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        reader.root  # noqa: B018 -- parses the trailer and the catalog
        encrypted = reader.security_handler is not None
    except READ_ERRORS as exc:
        raise PdfSignatureError(step, f"not a readable PDF: {read_error(exc)}") from exc
    if encrypted:
        raise PdfSignatureError(step, "the PDF is encrypted; a contract PDF must be readable without a password")
    return reader


def dict_get(container: generic.DictionaryObject, key: str, default: Any = None) -> Any:
    """`container[key]` dereferenced, or `default` (dict.get would hand back a reference)."""
    return container[key] if key in container else default


def read_rect(value: Any) -> tuple[float, float, float, float]:
    """A rectangle [x1 y1 x2 y2] normalised (lower-left, upper-right), or ValueError: not
    four numbers, or a number that is not finite or beyond MAX_COORDINATE."""
    if not isinstance(value, list) or len(value) != 4:
        raise ValueError("a rectangle is not an array of four numbers")
    numbers = []
    for index in range(4):
        item = value[index]  # indexing dereferences an indirect number; iterating would not
        if isinstance(item, bool) or not isinstance(item, (int, float, decimal.Decimal)):
            raise ValueError(f"a rectangle holds {type(item).__name__}, not a number")
        if isinstance(item, int) and abs(item) > MAX_COORDINATE:  # before float(), which overflows on a long one
            raise ValueError(f"a rectangle's number is out of range (beyond {MAX_COORDINATE:.0f})")
        number = float(item)
        if not math.isfinite(number) or abs(number) > MAX_COORDINATE:
            raise ValueError(f"a rectangle's number is out of range (beyond {MAX_COORDINATE:.0f})")
        numbers.append(number)
    x1, y1, x2, y2 = numbers
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
    flags: int                  # the widget's annotation flags (/F)
    registered: bool            # the field is in the registered document (signature_widgets)


def signature_widgets(reader: PdfFileReader, pages: Sequence[PdfPage]) -> list[SignatureWidget]:
    """Every signature field's widget in /AcroForm /Fields order. A field is `registered`
    when the registered document has it: the revision just before the first signature's
    own (what verification's step 3 requires), or the whole PDF while it carries no
    signature. A field added by a later update is anyone's, not the template's."""
    signed = [signature.signed_revision for signature in reader.embedded_signatures]
    registered: set[str] | None = None  # None: every field (no signature yet)
    if signed:
        first = min(signed)
        registered = set() if first == 0 else \
            {name for name, _, _ in fields.enumerate_sig_fields(reader.get_historical_resolver(first - 1))}
    out = []
    for name, value, field_ref in fields.enumerate_sig_fields(reader):
        field_dict = field_ref.get_object()
        try:
            widget_ref, widget = widget_of(field_dict)
            rect = read_rect(widget["/Rect"]) if "/Rect" in widget else (0.0, 0.0, 0.0, 0.0)
            flags = int(dict_get(widget, "/F", 0))
        except (PdfError, ValueError, TypeError, KeyError):
            continue  # not a field we can place anything in; its signature (if any) is checked elsewhere
        out.append(SignatureWidget(name, value is not None, page_of(widget_ref, pages), rect, flags,
                                   registered is None or name in registered))
    return out


def rect_inside(rect: tuple[float, float, float, float], box: tuple[float, float, float, float]) -> bool:
    slack = 0.01  # rounding of millimetres to points
    return rect[0] >= box[0] - slack and rect[1] >= box[1] - slack and rect[2] <= box[2] + slack and rect[3] <= box[3] + slack


def is_visible(rect: tuple[float, float, float, float]) -> bool:
    return rect[2] - rect[0] > 0 and rect[3] - rect[1] > 0


def redraws_fields(handler: PdfFileReader | HistoricalResolver) -> bool:
    """Whether the form asks viewers to redraw its fields (/AcroForm /NeedAppearances
    true). poppler then draws every widget itself, a signature field's as its border and
    background: the seal its appearance holds is not shown."""
    form = dict_get(handler.root, "/AcroForm")
    return isinstance(form, generic.DictionaryObject) and dict_get(form, "/NeedAppearances") == True  # noqa: E712


def why_unseen(rect: tuple[float, float, float, float], flags: int, page: PdfPage, number: int) -> str | None:
    """Why a widget at `rect` with annotation `flags` on `page` (1-based `number`) would
    not be seen whole, on screen and on paper, or None: "of no area", "not inside page
    2", "flagged Hidden", "not flagged Print"."""
    if not is_visible(rect):
        return "of no area"
    if not rect_inside(rect, page.box):
        return f"not inside page {number}"
    hidden = [name for name, bit in HIDDEN_FLAGS.items() if flags & bit]
    if hidden:
        return f"flagged {', '.join(hidden)}"
    if not flags & PRINT_FLAG:
        return "not flagged Print"
    return None


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


def prefix_revision(reader: PdfFileReader, pdf: bytes, end: int) -> int | None:
    """The revision (pyHanko's numbering, 0 the oldest) that `pdf[:end]` is exactly, or
    None: the prefix ends with `startxref N %%EOF` where N is that revision's
    cross-reference section, and every section up to that revision lies inside the
    prefix. Revisions are read from the cross-reference chain, not from %%EOF markers: an
    update written without a marker is still a revision."""
    stream = io.BytesIO(pdf)
    stream.seek(end)
    try:
        startxref = process_data_at_eof(stream)
    except (PdfError, ValueError):
        return None
    xrefs = reader.xrefs
    for revision in range(xrefs.total_revisions):
        if xrefs.get_startxref_for_revision(revision) == startxref:
            inside = all(xrefs.get_xref_container_info(r).end_location <= end for r in range(revision + 1))
            return revision if inside else None
    return None


def furthest_objects(reader: PdfFileReader) -> list[tuple[int, generic.Reference | None]]:
    """For each revision (pyHanko's numbering), the furthest byte offset its
    cross-reference section gives an object, and that object; (-1, None) for a revision
    that places none. A revision's objects belong in the bytes up to its end: an entry
    pointing past them names bytes written later, which whatever covers the revision (a
    signature, the registered digest) does not cover."""
    xrefs = reader.xrefs
    out: list[tuple[int, generic.Reference | None]] = []
    for revision in range(xrefs.total_revisions):
        furthest: tuple[int, generic.Reference | None] = (-1, None)
        for ref in xrefs.explicit_refs_in_revision(revision):
            where = xrefs.get_historical_ref(ref, revision)
            if isinstance(where, int) and where > furthest[0]:  # objects in object streams: the stream's own entry counts
                furthest = (where, ref)
        out.append(furthest)
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
    order, read from the bytes as the chain records them (no check of any kind).
    PdfSignatureError("format") when they cannot be read."""
    out = []
    with bounded_recursion:  # read whole here: a generator would hold the bound between its items
        reader = open_pdf(pdf, "format")
        try:
            for signature in reader.embedded_regular_signatures:
                span = SignatureSpan.of(pdf, signature.byte_range)
                out.append((signature.field_name, hashlib.sha256(pdf[:span.revision_end]).digest(),
                            hashlib.sha256(span.cms).digest()))
        except PdfSignatureError:  # SignatureSpan's, naming its step
            raise
        except READ_ERRORS as exc:
            raise PdfSignatureError("format", f"the PDF's signatures cannot be read: {read_error(exc)}") from exc
    return iter(out)


# -- naming objects -------------------------------------------------------------------------


def describe_objects(resolver: HistoricalResolver, refs: Sequence[generic.Reference]) -> str:
    """What the objects `refs` are in the revision `resolver` shows, for a court's reader:
    "object 5 0 (the content of page 1), object 31 0 (form field 'Amount' on page 2)".
    At most MAX_NAMED_OBJECTS are named; the rest are counted."""
    pages = read_pages(resolver)
    role: dict[tuple[int, int], str] = {}

    def key(ref: generic.Reference) -> tuple[int, int]:
        return ref.idnum, ref.generation

    for number, page in enumerate(pages, start=1):
        role[key(page.ref)] = f"page {number}"
        node = resolver(page.ref)
        contents = node.raw_get("/Contents") if "/Contents" in node else None
        if isinstance(contents, generic.IndirectObject):
            role.setdefault(key(contents.reference), f"the content of page {number}")
            contents = contents.get_object()
        if isinstance(contents, generic.ArrayObject):
            for part in contents:
                if isinstance(part, generic.IndirectObject):
                    role.setdefault(key(part.reference), f"the content of page {number}")
        for annot in page.annots:
            annotation = resolver(annot)
            name = dict_get(annotation, "/T") if isinstance(annotation, generic.DictionaryObject) else None
            subtype = dict_get(annotation, "/Subtype", "/Annot") if isinstance(annotation, generic.DictionaryObject) else "?"
            role.setdefault(key(annot), f"form field {str(name)!r} on page {number}" if name is not None
                            else f"a {str(subtype)[1:]} annotation on page {number}")
    root = resolver.root_ref
    if root is not None:
        role.setdefault(key(root), "the document catalog")
    named = []
    for ref in refs[:MAX_NAMED_OBJECTS]:
        what = role.get(key(ref))
        if what is None:
            what = _kind(resolver(ref))
        named.append(f"object {ref.idnum} {ref.generation} ({what})")
    more = len(refs) - len(named)
    return ", ".join(named) + (f" and {more} more" if more > 0 else "")


def _kind(obj: Any) -> str:
    """A plain name for an object no page or form points at."""
    if isinstance(obj, generic.DictionaryObject):
        kind, subtype = dict_get(obj, "/Type"), dict_get(obj, "/Subtype")
        if kind == "/Pages":
            return "the page tree"
        if "/FT" in obj:
            return f"form field {str(dict_get(obj, '/T'))!r}"
        if kind == "/XObject" or subtype in ("/Form", "/Image"):
            return "an image" if subtype == "/Image" else "a form XObject (drawn content)"
        words = " ".join(str(v)[1:] for v in (kind, subtype) if isinstance(v, generic.NameObject))
        stream = "stream" if isinstance(obj, generic.StreamObject) else "dictionary"
        return f"a {words} {stream}" if words else f"a {stream}"
    return f"a {type(obj).__name__.removesuffix('Object').lower() or 'value'}"
