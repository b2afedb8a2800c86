"""The PDF tools a court's expert would use, for tests: poppler's `pdfsig` (with an NSS
database that trusts given roots, made by `certutil`) and `pdftoppm`, each skipped with
the reason when it is not installed; and the tampers tests make to a signed contract PDF
(a byte changed in place, a page added, the seal image swapped or one byte of it flipped).
"""
from __future__ import annotations

import io
import re
import shutil
import subprocess
import warnings
from collections.abc import Sequence
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
