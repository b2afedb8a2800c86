"""The PDF tools a court's expert would use, for tests: poppler's `pdfsig` (with an NSS
database that trusts given roots, made by `certutil`) and `pdftoppm`, each skipped with
the reason when it is not installed; and the tampers tests make to a signed contract PDF
(a byte changed in place, a page added, the seal image swapped or one byte of it flipped,
a page's text rewritten, a form field's value changed, the form told to redraw its fields,
a field that paints a background, raw updates a PDF library would not write: objects
nested too deeply, cross-reference chains of empty updates) and a text field for templates.
"""
from __future__ import annotations

import io
import re
import shutil
import subprocess
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning

from client.pdf_contracts import SEAL_XOBJECT
from client.seals import SealImage

# pyHanko imports cryptography's DSA module, which warns on import (as in client/pdf_signatures.py)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign import fields

# Every tool a test here runs is given this long; a run past it is a hung tool, not a slow one.
TOOL_TIMEOUT_SECONDS = 60

needs = {tool: pytest.mark.skipif(shutil.which(tool) is None, reason=f"{tool} ({package}) is not installed")
         for tool, package in (("pdfsig", "poppler-utils"), ("pdftoppm", "poppler-utils"),
                               ("pdftotext", "poppler-utils"), ("pdffonts", "poppler-utils"),
                               ("certutil", "libnss3-tools"))}


def run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=TOOL_TIMEOUT_SECONDS,
                          check=False)


def nss_database(directory: Path, roots: Sequence[x509.Certificate]) -> str:
    """An NSS database in `directory` trusting `roots` for signing ("C,C,C"); the value
    for pdfsig's -nssdir."""
    directory.mkdir(parents=True, exist_ok=True)
    done = run("certutil", "-d", f"sql:{directory}", "-N", "--empty-password")
    assert done.returncode == 0, done.stderr
    for number, root in enumerate(roots):
        pem = directory / f"root{number}.pem"
        pem.write_bytes(root.public_bytes(serialization.Encoding.PEM))
        done = run("certutil", "-d", f"sql:{directory}", "-A", "-n", f"root {number}", "-t", "C,C,C", "-i", pem)
        assert done.returncode == 0, done.stderr
    return f"sql:{directory}"


@dataclass(frozen=True)
class PdfsigEntry:
    """One signature as pdfsig lists it."""

    field: str
    common_name: str
    signature: str          # "Signature is Valid.", "Digest Mismatch.", ...
    certificate: str        # "Certificate is Trusted.", "Certificate issuer isn't Trusted.", ...
    total: bool             # "Total document signed"
    subfilter: str


def pdfsig(path: Path, nssdir: str | None = None) -> list[PdfsigEntry]:
    """pdfsig's view of every signature in the file, in its order."""
    done = run("pdfsig", *(("-nssdir", nssdir) if nssdir else ()), path)
    assert done.returncode in (0, 1, 2), done.stderr  # pdfsig exits 1/2 when a signature does not hold
    entries = []
    for block in re.split(r"^Signature #\d+:\n", done.stdout, flags=re.M)[1:]:
        def value(label: str, text: str = block) -> str:
            found = re.search(rf"- {label}: (.*)", text)
            return found.group(1).strip() if found else ""

        entries.append(PdfsigEntry(
            field=value("Signature Field Name"), common_name=value("Signer Certificate Common Name"),
            signature=value("Signature Validation"), certificate=value("Certificate Validation"),
            total="Total document signed" in block, subfilter=value("Signature Type"),
        ))
    return entries


# -- tampers ---------------------------------------------------------------------------------


def seal_image_ref(pdf: bytes, field: str) -> generic.Reference:
    """The seal image XObject of a signature field's widget (docs/contract-pdf.md: the
    widget's /AP /N stream's /Resources /XObject /Seal)."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    (signature,) = [s for s in reader.embedded_regular_signatures if s.field_name == field]
    appearance = signature.sig_field["/AP"]["/N"]
    return appearance["/Resources"]["/XObject"].raw_get(SEAL_XOBJECT).reference


def replace_seal_image(pdf: bytes, field: str, seal: SealImage) -> bytes:
    """An incremental update that makes a signature's widget draw `seal`: its colour
    samples and its soft mask both replaced (a drawn seal is one red everywhere: its
    shape is all in the mask)."""
    ref = seal_image_ref(pdf, field)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    mask_ref = writer.prev.get_object(ref).raw_get("/SMask").reference
    for target, samples in ((ref, seal.rgb), (mask_ref, seal.alpha)):
        old = writer.prev.get_object(target)
        new = generic.StreamObject({k: v for k, v in old.items() if k not in ("/Filter", "/Length", "/DecodeParms")},
                                   stream_data=samples)
        new.compress()
        writer.objects[(target.generation, target.idnum)] = new
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def add_page(pdf: bytes) -> bytes:
    """An incremental update appending a page that says something new."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    text = writer.add_object(generic.StreamObject(stream_data=b"BT /F1 12 Tf 72 720 Td (Annex 2: price +20%) Tj ET"))
    writer.insert_page(generic.DictionaryObject({
        generic.pdf_name("/Type"): generic.pdf_name("/Page"),
        generic.pdf_name("/MediaBox"): generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 595, 842)]),
        generic.pdf_name("/Contents"): text,
    }))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def change_in_place(pdf: bytes, old: bytes, new: bytes) -> bytes:
    assert len(old) == len(new) and pdf.count(old) >= 1
    at = pdf.index(old)
    return pdf[:at] + new + pdf[at + len(old):]


def flip_image_byte(pdf: bytes, field: str) -> bytes:
    """One byte of the seal image's compressed samples changed where it lies in the file."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    encoded = bytes(reader.get_object(seal_image_ref(pdf, field)).encoded_data)
    at = pdf.index(encoded) + len(encoded) // 2
    return pdf[:at] + bytes([pdf[at] ^ 0x20]) + pdf[at + 1:]



def rewrite_page_text(writer: IncrementalPdfFileWriter, page: int, old: bytes, new: bytes) -> None:
    """In the revision `writer` is building: page `page`'s content stream (one stream,
    uncompressed, as fpdf2 writes it without compression) rewritten under its own object
    number with every `old` replaced by `new`. With a signature added to the same writer,
    this is what a malicious signing tool would do."""
    page_ref, _ = writer.find_page_for_modification(page)
    contents = page_ref.get_object().raw_get("/Contents")
    old_stream = contents.get_object()
    assert old in old_stream.data, "the page does not say that"
    new_stream = generic.StreamObject({k: v for k, v in old_stream.items() if k not in ("/Length", "/Filter")},
                                      stream_data=old_stream.data.replace(old, new))
    writer.objects[(contents.generation, contents.idnum)] = new_stream


def _text_appearance(writer: IncrementalPdfFileWriter, font: generic.IndirectObject,
                     rect: tuple[float, float, float, float], value: str) -> generic.IndirectObject:
    width, height = rect[2] - rect[0], rect[3] - rect[1]
    return writer.add_object(generic.StreamObject({
        generic.pdf_name("/Type"): generic.pdf_name("/XObject"),
        generic.pdf_name("/Subtype"): generic.pdf_name("/Form"),
        generic.pdf_name("/BBox"): generic.ArrayObject([generic.FloatObject(v) for v in (0, 0, width, height)]),
        generic.pdf_name("/Resources"): generic.DictionaryObject({generic.pdf_name("/Font"): generic.DictionaryObject(
            {generic.pdf_name("/Helv"): font})}),
    }, stream_data=b"/Tx BMC BT /Helv 12 Tf 2 6 Td (" + value.encode("latin-1") + b") Tj ET EMC"))


def add_text_field(writer: IncrementalPdfFileWriter, name: str, value: str, page: int,
                   rect: tuple[float, float, float, float], shown: str | None = None) -> None:
    """A filled text field (one widget, merged with the field, with its appearance) in
    the revision `writer` is building, creating the /AcroForm if there is none (its /DR
    an indirect object): a contract template's amount. `shown`: what the appearance
    draws, when it is not the value (a template planted with a value nobody sees until a
    viewer is told to redraw the field from it)."""
    font = writer.add_object(generic.DictionaryObject({
        generic.pdf_name("/Type"): generic.pdf_name("/Font"), generic.pdf_name("/Subtype"): generic.pdf_name("/Type1"),
        generic.pdf_name("/BaseFont"): generic.pdf_name("/Helvetica")}))
    page_ref, _ = writer.find_page_for_modification(page)
    field = writer.add_object(generic.DictionaryObject({
        generic.pdf_name("/FT"): generic.pdf_name("/Tx"),
        generic.pdf_name("/T"): generic.TextStringObject(name),
        generic.pdf_name("/V"): generic.TextStringObject(value),
        generic.pdf_name("/DA"): generic.TextStringObject("/Helv 12 Tf 0 g"),
        generic.pdf_name("/Type"): generic.pdf_name("/Annot"),
        generic.pdf_name("/Subtype"): generic.pdf_name("/Widget"),
        generic.pdf_name("/F"): generic.NumberObject(4),
        generic.pdf_name("/P"): page_ref,
        generic.pdf_name("/Rect"): generic.ArrayObject([generic.FloatObject(v) for v in rect]),
        generic.pdf_name("/AP"): generic.DictionaryObject(
            {generic.pdf_name("/N"): _text_appearance(writer, font, rect, value if shown is None else shown)}),
    }))
    page_dict = page_ref.get_object()
    annots = page_dict.get("/Annots", generic.ArrayObject())
    page_dict[generic.pdf_name("/Annots")] = generic.ArrayObject([*annots, field])
    writer.update_container(page_dict)
    root = writer.root
    if "/AcroForm" in root:
        form = root["/AcroForm"]
        form[generic.pdf_name("/Fields")].append(field)
        writer.update_container(form)
    else:
        resources = writer.add_object(generic.DictionaryObject({generic.pdf_name("/Font"): generic.DictionaryObject(
            {generic.pdf_name("/Helv"): font})}))
        root[generic.pdf_name("/AcroForm")] = writer.add_object(generic.DictionaryObject({
            generic.pdf_name("/Fields"): generic.ArrayObject([field]),
            generic.pdf_name("/DA"): generic.TextStringObject("/Helv 12 Tf 0 g"),
            generic.pdf_name("/DR"): resources,
        }))
        writer.update_root()


def fill_text_field(writer: IncrementalPdfFileWriter, name: str, value: str) -> None:
    """In the revision `writer` is building: the text field `name` given `value` and an
    appearance that shows it (what a form filler does; DocMDP P=2 allows it)."""
    form = writer.root["/AcroForm"]
    (field_ref,) = [f for f in form["/Fields"] if f.get_object().get("/T") == name]
    field = field_ref.get_object()
    rect = tuple(float(v) for v in field["/Rect"])
    font = form["/DR"].raw_get("/Font").raw_get("/Helv") if "/DR" in form else field["/AP"]["/N"]["/Resources"]["/Font"].raw_get("/Helv")
    field[generic.pdf_name("/V")] = generic.TextStringObject(value)
    field[generic.pdf_name("/AP")] = generic.DictionaryObject(
        {generic.pdf_name("/N"): _text_appearance(writer, font, rect, value)})  # type: ignore[arg-type]
    writer.mark_update(field_ref)


def updated(pdf: bytes, change: Callable[[IncrementalPdfFileWriter], None]) -> bytes:
    """`pdf` with an incremental update made by `change(writer)`."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def add_drawing_signature_field(writer: IncrementalPdfFileWriter, name: str, page: int,
                                rect: tuple[int, int, int, int], text: str) -> None:
    """In the revision `writer` is building: an empty signature field (pyHanko's, as a
    form tool adds one) whose widget's appearance writes `text` on the page. The
    difference analysis allows new signature fields; a verifier must not let one draw."""
    fields.append_signature_field(writer, fields.SigFieldSpec(name, on_page=page, box=rect))
    (field_ref,) = [f for f in writer.root["/AcroForm"]["/Fields"] if f.get_object().get("/T") == name]
    font = writer.add_object(generic.DictionaryObject({
        generic.pdf_name("/Type"): generic.pdf_name("/Font"), generic.pdf_name("/Subtype"): generic.pdf_name("/Type1"),
        generic.pdf_name("/BaseFont"): generic.pdf_name("/Helvetica")}))
    field = field_ref.get_object()
    field[generic.pdf_name("/AP")] = generic.DictionaryObject({generic.pdf_name("/N"): _text_appearance(
        writer, font, tuple(float(v) for v in rect), text)})  # type: ignore[arg-type]
    writer.mark_update(field_ref)


def point_xref_entry(pdf: bytes, idnum: int, where: int) -> bytes:
    """`pdf` (one classic cross-reference table with one subsection from 0, as fpdf2
    writes) with object `idnum`'s entry saying it is at byte `where`, the file's length
    unchanged."""
    start = pdf.rindex(b"\nxref\n") + len(b"\nxref\n")
    header_end = pdf.index(b"\n", start) + 1
    first, count = (int(v) for v in pdf[start:header_end].split())
    assert first == 0 and idnum < count
    at = header_end + 20 * idnum  # each entry is 20 bytes: 10-digit offset, space, generation, type, EOL
    return pdf[:at] + b"%010d" % where + pdf[at + 10:]


class ForwardPointingWriter(IncrementalPdfFileWriter):
    """An incremental writer whose cross-reference section puts one object it writes at
    byte `where` instead of where it wrote it: with a signature in the same revision, the
    signature covers an entry naming bytes past its end, which a later update may fill."""

    def __init__(self, pdf: bytes, idnum: int, where: int) -> None:
        super().__init__(io.BytesIO(pdf), strict=False)
        self.forward = (idnum, where)

    def _write_objects(self, stream, object_position_dict):  # type: ignore[no-untyped-def]  # pyHanko's signature
        super()._write_objects(stream, object_position_dict)
        idnum, where = self.forward
        for key in object_position_dict:
            if key[1] == idnum:
                object_position_dict[key] = where


# -- what a viewer redraws, and what it paints without an appearance ----------------------


def font_drawing_one_as_nine(writer: IncrementalPdfFileWriter) -> generic.IndirectObject:
    """A Helvetica whose encoding draws the character "1" as the glyph "nine": a field
    redrawn with it shows "100 000" as "900 000"."""
    return writer.add_object(generic.DictionaryObject({
        generic.pdf_name("/Type"): generic.pdf_name("/Font"), generic.pdf_name("/Subtype"): generic.pdf_name("/Type1"),
        generic.pdf_name("/BaseFont"): generic.pdf_name("/Helvetica"),
        generic.pdf_name("/Encoding"): generic.DictionaryObject({
            generic.pdf_name("/Type"): generic.pdf_name("/Encoding"),
            generic.pdf_name("/BaseEncoding"): generic.pdf_name("/WinAnsiEncoding"),
            generic.pdf_name("/Differences"): generic.ArrayObject([generic.NumberObject(ord("1")),
                                                                   generic.pdf_name("/nine")])})}))


def set_form_entries(writer: IncrementalPdfFileWriter, entries: dict[str, generic.PdfObject]) -> None:
    """In the revision `writer` is building: entries of the /AcroForm dictionary set
    (/NeedAppearances true makes a viewer redraw every field from its value, with the
    form's /DA and /DR)."""
    entry = writer.root.raw_get("/AcroForm")
    form = entry.get_object()
    for key, value in entries.items():
        form[generic.pdf_name(key)] = value
    if isinstance(entry, generic.IndirectObject):
        writer.mark_update(entry)
    else:
        writer.update_root()


class RedrawingFormWriter(IncrementalPdfFileWriter):
    """An incremental writer that keeps the form's /NeedAppearances true in what it writes
    (pyHanko's signer deletes the entry before writing): a signing tool that leaves it."""

    def _prep_dom_for_writing(self) -> None:
        form_ref = self.root.raw_get("/AcroForm")
        form_ref.get_object()[generic.pdf_name("/NeedAppearances")] = generic.BooleanObject(True)
        self.mark_update(form_ref)
        super()._prep_dom_for_writing()


def replace_form_fonts(writer: IncrementalPdfFileWriter, fonts: dict[str, generic.PdfObject]) -> None:
    """In the revision `writer` is building: the form's default resources (/DR, an
    indirect object) rewritten under their own object number with `fonts` as /Font."""
    resources_ref = writer.root["/AcroForm"].raw_get("/DR")
    writer.objects[(resources_ref.generation, resources_ref.idnum)] = generic.DictionaryObject(
        {generic.pdf_name("/Font"): generic.DictionaryObject({generic.pdf_name(k): v for k, v in fonts.items()})})


def add_background_signature_field(writer: IncrementalPdfFileWriter, name: str, page: int,
                                   rect: tuple[int, int, int, int]) -> None:
    """In the revision `writer` is building: an empty signature field with no appearance
    stream but a white background in its appearance characteristics (/MK /BG): a viewer
    (poppler) builds the widget's look from /MK and paints the rectangle white."""
    fields.append_signature_field(writer, fields.SigFieldSpec(name, on_page=page, box=rect))
    (field_ref,) = [f for f in writer.root["/AcroForm"]["/Fields"] if f.get_object().get("/T") == name]
    field = field_ref.get_object()
    field.pop(generic.pdf_name("/AP"), None)
    field[generic.pdf_name("/MK")] = generic.DictionaryObject(
        {generic.pdf_name("/BG"): generic.ArrayObject([generic.FloatObject(1)] * 3)})
    writer.mark_update(field_ref)


def add_signature_field(writer: IncrementalPdfFileWriter, name: str, page: int, rect: tuple[float, float, float, float],
                        flags: int | None = None) -> None:
    """In the revision `writer` is building: an empty signature field (pyHanko's, as a
    form tool adds one), with annotation flags `flags` instead of pyHanko's Print|Locked."""
    fields.append_signature_field(writer, fields.SigFieldSpec(name, on_page=page, box=rect))  # type: ignore[arg-type]
    if flags is not None:
        (field_ref,) = [f for f in writer.root["/AcroForm"]["/Fields"] if f.get_object().get("/T") == name]
        field_ref.get_object()[generic.pdf_name("/F")] = generic.NumberObject(flags)
        writer.mark_update(field_ref)


# -- updates written by hand: what no PDF library writes, but a parser must survive ----------


def _tail(pdf: bytes) -> tuple[int, int, int]:
    """(the trailer's /Size, the catalog's object number, the last startxref) of `pdf`."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    assert reader.last_startxref is not None
    return int(reader.trailer["/Size"]), reader.trailer.raw_get("/Root").reference.idnum, reader.last_startxref


def append_raw_objects(pdf: bytes, objects: dict[int, bytes]) -> bytes:
    """`pdf` with an incremental update (a classic cross-reference section) that writes
    each object number in `objects` with the given body, verbatim."""
    size, root, prev = _tail(pdf)
    out = bytearray(pdf if pdf.endswith(b"\n") else pdf + b"\n")
    entries = []
    for idnum, body in sorted(objects.items()):
        entries.append(b"%d 1\n%010d 00000 n \n" % (idnum, len(out)))
        out += b"%d 0 obj\n%s\nendobj\n" % (idnum, body)
    at = len(out)
    size = max(size, max(objects) + 1)
    out += b"xref\n0 1\n0000000000 65535 f \n" + b"".join(entries)
    out += b"trailer\n<< /Size %d /Root %d 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (size, root, prev, at)
    return bytes(out)


def empty_updates(pdf: bytes, count: int) -> bytes:
    """`pdf` with `count` incremental updates that change nothing, each one's trailer
    pointing to the one before by /Prev, and only the last ending with %%EOF: revisions
    a reader follows although no %%EOF marks them."""
    size, root, prev = _tail(pdf)
    out = bytearray(pdf if pdf.endswith(b"\n") else pdf + b"\n")
    for _ in range(count):
        at = len(out)
        out += b"xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size %d /Root %d 0 R /Prev %d >>\nstartxref\n%d\n" % (
            size, root, prev, at)
        prev = at
    return bytes(out) + b"%%EOF\n"
