"""The evidence certificate (存证证书): a signed PDF a judge reads, carrying its receipt.

`render_certificate` lays out what a verified receipt proves — what was anchored, when,
by whom, witnessed by whom, each verification step — in Chinese with English subtitles,
embeds the receipt JSON as `receipt.json` (so the PDF alone is enough to verify again),
draws a QR code of `qr_payload`, and signs the whole with the issuing organisation's
key (PAdES, client/pdf_signatures.py). `read_embedded_receipt` takes the receipt back
out; `verify_certificate_signature` checks the signature against given roots.
docs/evidence-certificate.md describes the page, the QR format and the checks by hand.

Layout rules a clerk relies on: every hex value (digest, hash, address) is drawn as one
text run in a monospaced face, shrunk to fit its column rather than wrapped, so text
extraction and copy-paste give it back as one token. Text is real text (the bundled
WenQuanYi Micro Hei, subset and embedded), never an image of text.

The layout is a function of its arguments: times and the signer come in, nothing reads
the clock, and the unsigned PDF is the same bytes for the same inputs.

(Over 600 lines: one document's layout, section by section in reading order, and its QR
payload; signing is client/pdf_signatures.py's.)
"""
from __future__ import annotations

import io
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import segno
from cryptography import x509
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace
from fpdf.util import Padding
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader

from client.errors import ClientError
from client.pdf_signatures import MAX_SIGNED_PDF_BYTES, PdfSignatureError, SignatureBox, sign_pdf, verify_pdf_signature
from client.signers import Signer
from evidence.receipt import MAX_RECEIPT_DOCUMENT_BYTES, Receipt, Verified

FONT_FILE = Path(__file__).with_name("fonts") / "wqy-microhei.ttc"
# Faces of the TrueType collection: 0 proportional (CJK and Latin), 1 monospaced Latin.
_SANS, _MONO = "wqy-sans", "wqy-mono"
_SANS_FACE, _MONO_FACE = 0, 1
RECEIPT_ATTACHMENT = "receipt.json"
RECEIPT_MIME_TYPE = "application/json"
# PDF 2.0 / PDF/A-3 associated-file relationship: the receipt is the source the page was
# rendered from.
RECEIPT_RELATIONSHIP = "Source"
# QR payload: "EL1" and six fields joined by ".", all in QR's alphanumeric alphabet (so a
# version-8 symbol, 49 modules a side, holds it) and URL-unreserved (so it rides in a URL).
QR_PAYLOAD_VERSION = "EL1"
# At least 15% of the symbol may be lost (a fold, a stamp) and it still scans; segno raises
# the level when that fits in the same symbol size.
QR_ERROR_LEVEL = "m"
_QR_PATTERN = re.compile(
    r"EL1\.(0|[1-9][0-9]{0,19})\.(0|[1-9][0-9]{0,19})\.([0-9A-F]{64})\.([0-9A-F]{64})\.(SHA256|SM3)\.([0-9A-F]{64})"
)
# Beijing time: what a Chinese court reads; UTC is printed beside it.
CHINA_STANDARD_TIME = timezone(timedelta(hours=8))

# Page geometry, millimetres (A4).
_PAGE_WIDTH, _PAGE_HEIGHT = 210.0, 297.0
_MARGIN = 18.0
_CONTENT = _PAGE_WIDTH - 2 * _MARGIN
_LABEL_WIDTH = 46.0
_VALUE_WIDTH = _CONTENT - _LABEL_WIDTH
_QR_SIZE = 38.0
# Monospaced hex is set at most this size, shrunk to fit its column down to the minimum;
# below that it moves to a line of its own. 5.5 pt keeps a 128-digit SHA-512 on one A4
# line; smaller would not survive a photocopy.
_HEX_MAX_PT, _HEX_MIN_PT, _HEX_FLOOR_PT = 9.0, 6.5, 5.5
# Space under each labelled field: half a millimetre keeps a consortium's certificate (four
# validators, a TSA time) on two pages with its signature block.
_FIELD_GAP = 0.5
# A heading is kept with room for its first field below it (a heading and a one-line
# label with its subtitle), else it starts the next page.
_HEADING_ROOM = 20.0
# The issuer's block: five lines of 4.4 mm and its margins.
_SIGNATURE_HEIGHT = 24.5
_INK, _GREY, _RULE = (20, 20, 20), (100, 100, 100), (180, 180, 180)
_BANNER = (228, 244, 232)

# Chinese names of the verification steps (evidence.receipt.STEPS, and the names others
# report beside them); a step not listed is printed as given (a test keeps STEPS covered).
STEP_NAMES_ZH: Mapping[str, str] = {
    "file": "文件摘要比对",
    "inclusion": "批次默克尔包含证明",
    "header": "区块头哈希",
    "transaction": "存证交易",
    "receipt proof": "交易回执证明",
    "anchoring event": "存证事件",
    "chain": "链标识",
    "validator history": "验证节点变更历史",
    "validators": "验证节点集合",
    "commit seals": "共识签名（提交印章）",
    "genesis": "创世配置",
    "trusted time": "可信时间戳",
    "timestamp": "可信时间戳",
}
_ALGORITHM_NAMES = {"sha256": "SHA-256", "sm3": "SM3", "sha512": "SHA-512", "sha384": "SHA-384"}


class CertificatePdfError(ClientError, ValueError):
    """A certificate that cannot be made from these inputs, or a PDF that is not one
    (no readable receipt inside); `step` names what was being done, `reason` why."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason


# -- QR payload -----------------------------------------------------------------------------

@dataclass(frozen=True)
class QrPayload:
    """What the certificate's QR code carries: enough for a web verifier to find the
    anchoring (block, transaction) and the entry (its digest and algorithm)."""

    chain_id: int
    block_number: int
    block_hash: bytes
    transaction_hash: bytes
    algorithm: str
    digest: bytes

    def encode(self) -> str:
        return ".".join((
            QR_PAYLOAD_VERSION, str(self.chain_id), str(self.block_number), self.block_hash.hex().upper(),
            self.transaction_hash.hex().upper(), self.algorithm.upper(), self.digest.hex().upper(),
        ))

    @classmethod
    def of(cls, receipt: Receipt) -> QrPayload:
        return cls(receipt.chain_id, receipt.block_number, receipt.block_hash, receipt.transaction_hash,
                   receipt.algorithm, receipt.digest)

    @classmethod
    def parse(cls, text: str) -> QrPayload:
        """The payload from the QR's text: the bare payload, or a URL ending in
        `#<payload>` (what `verifier_url` makes)."""
        payload = text.rsplit("#", 1)[-1].strip()
        match = _QR_PATTERN.fullmatch(payload)
        if match is None:
            raise CertificatePdfError("qr", f"not an {QR_PAYLOAD_VERSION} evidence payload: {payload[:80]!r}")
        chain, number, block, transaction, algorithm, digest = match.groups()
        return cls(int(chain), int(number), bytes.fromhex(block), bytes.fromhex(transaction),
                   algorithm.lower(), bytes.fromhex(digest))


def qr_payload(receipt: Receipt, verifier_url: str | None = None) -> str:
    """The QR code's text: `QrPayload.of(receipt).encode()`, after `verifier_url#` if given."""
    payload = QrPayload.of(receipt).encode()
    return payload if verifier_url is None else f"{verifier_url}#{payload}"


# -- inputs ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Facts:
    """render_certificate's arguments, checked against each other."""

    receipt: Receipt
    verified: Verified
    steps: tuple[tuple[str, str], ...]
    file_name: str
    file_size: int
    file_digests: tuple[tuple[str, str], ...]
    submitter: tuple[str | None, str | None]
    witnesses: tuple[tuple[str, str, bool], ...]
    quorum: tuple[int, int]
    tsa: tuple[datetime, str] | None
    tsa_serial: int | None  # when the TSA time is the verified token's (Verified.trusted_time)
    issued_at: datetime
    issuer: x509.Certificate
    verifier_url: str | None


def _check_inputs(receipt: Receipt, verified: Verified, steps: Sequence[tuple[str, str]], file_name: str,
                  file_size: int, file_digests: Mapping[str, str], submitter: tuple[str | None, str | None],
                  witnesses: Sequence[tuple[str, str]], quorum: tuple[int, int], tsa: tuple[datetime, str] | None,
                  issued_at: datetime, signer: Signer, verifier_url: str | None) -> _Facts:
    """The certificate states what the receipt proves: refuse inputs that disagree with it,
    so a caller's mistake cannot print a false statement under the issuer's signature."""
    step = "inputs"
    if (verified.digest, verified.block_hash, verified.transaction_hash) != (
            receipt.digest, receipt.block_hash, receipt.transaction_hash):
        raise CertificatePdfError(step, "`verified` is the result of verifying another receipt")
    digests: list[tuple[str, str]] = []
    for algorithm, value in file_digests.items():
        hex_value = value.lower().removeprefix("0x")
        if not re.fullmatch(r"[0-9a-f]+", hex_value) or len(hex_value) % 2:
            raise CertificatePdfError(step, f"the file's {algorithm} digest is not hex: {value!r}")
        digests.append((algorithm.lower(), hex_value))
    given = dict(digests).get(receipt.algorithm)
    if given is None:
        raise CertificatePdfError(step, f"file_digests lacks the receipt's algorithm {receipt.algorithm}")
    if given != receipt.digest.hex():
        raise CertificatePdfError(step, f"the file's {receipt.algorithm} digest {given} is not the receipt's "
                                        f"entry {receipt.digest.hex()}")
    if file_size < 0:
        raise CertificatePdfError(step, f"file_size must not be negative, got {file_size}")
    if issued_at.tzinfo is None or (tsa is not None and tsa[0].tzinfo is None):
        raise CertificatePdfError(step, "times must carry their time zone")
    signed_by = {s.hex() for s in verified.signers}
    rows = []
    for organisation, address in witnesses:
        plain = address.lower().removeprefix("0x")
        if not re.fullmatch(r"[0-9a-f]{40}", plain):
            raise CertificatePdfError(step, f"witness address {address!r} is not 20 bytes of hex")
        rows.append((organisation, "0x" + plain, plain in signed_by))
    listed = sorted(row[1] for row in rows)
    if rows and listed != sorted(_hex_text(v) for v in verified.validators):
        raise CertificatePdfError(step, "witnesses must be exactly the validators in force at the block "
                                        f"({len(verified.validators)}), each once")
    seals, needed = quorum
    if seals != len(verified.signers):
        raise CertificatePdfError(step, f"quorum says {seals} seals, the verified header has {len(verified.signers)}")
    if not 0 < needed <= seals:
        raise CertificatePdfError(step, f"a verified header has at least the quorum of seals: {seals} < {needed}")
    if not signer.chain:
        raise CertificatePdfError(step, "the signer has no certificate")
    serial = None
    checked = verified.trusted_time
    if checked is not None:  # the token verified: its time and TSA are what the page states
        if tsa is not None and (tsa[0] != checked.time or tsa[1] != checked.tsa_subject):
            raise CertificatePdfError(step, f"tsa says {tsa[0].isoformat()} by {tsa[1]}, the verified token "
                                            f"{checked.time.isoformat()} by {checked.tsa_subject}")
        tsa, serial = (checked.time, checked.tsa_subject), checked.serial
    return _Facts(receipt, verified, tuple((str(n), str(r)) for n, r in steps), file_name, file_size,
                  tuple(digests), submitter, tuple(rows), (seals, needed), tsa, serial, issued_at, signer.chain[0],
                  verifier_url)


# -- layout ---------------------------------------------------------------------------------

class _Page(FPDF):
    """A4 pages with the certificate's footer (page numbers and what the document is)."""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(_SANS, size=7)
        self.set_text_color(*_GREY)
        self.cell(0, 4, f"存证证书 Evidence Certificate · 第 {self.page_no()} / {{nb}} 页 Page {self.page_no()} of {{nb}}",
                  align="C")


def _hex_text(value: bytes) -> str:
    return "0x" + value.hex()


def _utc(ts: datetime) -> datetime:
    return ts.astimezone(UTC)


def _time_lines(moment: datetime) -> str:
    local = moment.astimezone(CHINA_STANDARD_TIME)
    return f"{local:%Y-%m-%d %H:%M:%S} 北京时间 (UTC+08:00)\n{_utc(moment):%Y-%m-%dT%H:%M:%SZ} UTC"


def _subject_line(name: x509.Name) -> str:
    return name.rfc4514_string()


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def _organisation(cert: x509.Certificate) -> str | None:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    return str(names[0].value) if names else None


class _Layout:
    """Draws the certificate on an FPDF document, top to bottom."""

    def __init__(self, facts: _Facts) -> None:
        self.facts = facts
        pdf = _Page(format="A4", unit="mm")
        pdf.add_font(_SANS, "", str(FONT_FILE), collection_font_number=_SANS_FACE)
        pdf.add_font(_MONO, "", str(FONT_FILE), collection_font_number=_MONO_FACE)
        pdf.set_margins(_MARGIN, 16, _MARGIN)
        pdf.set_auto_page_break(True, margin=18)
        pdf.set_creation_date(facts.issued_at)
        pdf.set_title("存证证书 Evidence Certificate")
        pdf.set_subject(f"{facts.receipt.algorithm} {facts.receipt.digest.hex()}")
        pdf.set_author(_organisation(facts.issuer) or _common_name(facts.issuer))
        pdf.set_creator("evidence-ledger")
        pdf.set_lang("zh-CN")
        self.pdf = pdf

    # building blocks ------------------------------------------------------------------

    def _ensure_room(self, height: float) -> None:
        if self.pdf.get_y() + height > self.pdf.page_break_trigger:
            self.pdf.add_page()

    def heading(self, zh: str, en: str, room: float = _HEADING_ROOM) -> None:
        """A section's rule and title, on a new page unless `room` mm fit below."""
        pdf = self.pdf
        self._ensure_room(room)
        pdf.ln(2)
        pdf.set_draw_color(*_RULE)
        pdf.line(_MARGIN, pdf.get_y(), _MARGIN + _CONTENT, pdf.get_y())
        pdf.ln(1.5)
        pdf.set_text_color(*_INK)
        pdf.set_font(_SANS, size=12)
        pdf.cell(pdf.get_string_width(zh) + 2, 7, zh)
        pdf.set_font(_SANS, size=9)
        pdf.set_text_color(*_GREY)
        pdf.cell(0, 7, en, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(*_INK)

    def _label(self, zh: str, en: str, x: float, y: float) -> float:
        pdf = self.pdf
        pdf.set_xy(x, y)
        pdf.set_font(_SANS, size=9)
        pdf.set_text_color(*_INK)
        pdf.multi_cell(_LABEL_WIDTH - 2, 4.6, zh, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_x(x)
        pdf.set_font(_SANS, size=7)
        pdf.set_text_color(*_GREY)
        pdf.multi_cell(_LABEL_WIDTH - 2, 3.6, en, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(*_INK)
        return pdf.get_y()

    def field(self, zh: str, en: str, value: str) -> None:
        """A label and a text value, wrapped within the value column."""
        pdf = self.pdf
        pdf.set_font(_SANS, size=9.5)
        height = pdf.multi_cell(_VALUE_WIDTH, 5, value, dry_run=True, output="HEIGHT")
        assert isinstance(height, float)
        self._ensure_room(max(9.0, height) + 2)
        top = pdf.get_y()
        bottom = self._label(zh, en, _MARGIN, top)
        pdf.set_xy(_MARGIN + _LABEL_WIDTH, top)
        pdf.set_font(_SANS, size=9.5)
        pdf.multi_cell(_VALUE_WIDTH, 5, value, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_y(max(bottom, pdf.get_y()) + _FIELD_GAP)

    def _fit(self, text: str, width: float) -> float:
        """The largest size up to _HEX_MAX_PT at which monospaced `text` fits `width`."""
        self.pdf.set_font(_MONO, size=_HEX_MAX_PT)
        natural = self.pdf.get_string_width(text)
        # 1% slack: fpdf2 rounds widths, and a run that overflows by a hair would wrap.
        return min(_HEX_MAX_PT, _HEX_MAX_PT * width * 0.99 / natural) if natural else _HEX_MAX_PT

    def hex_field(self, zh: str, en: str, value: str) -> None:
        """A label and a hex value on one unbroken line: in the value column if it fits
        at a legible size, else on a full-width line under the label."""
        pdf = self.pdf
        size = self._fit(value, _VALUE_WIDTH)
        own_line = size < _HEX_MIN_PT
        self._ensure_room(16 if own_line else 10)
        top = pdf.get_y()
        bottom = self._label(zh, en, _MARGIN, top)
        if own_line:
            size = max(_HEX_FLOOR_PT, self._fit(value, _CONTENT))
            pdf.set_xy(_MARGIN, bottom)
            width = _CONTENT
        else:
            pdf.set_xy(_MARGIN + _LABEL_WIDTH, top)
            width = _VALUE_WIDTH
        pdf.set_font(_MONO, size=size)
        pdf.cell(width, 5, value, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_y(max(bottom, pdf.get_y()) + _FIELD_GAP)

    # sections ---------------------------------------------------------------------------

    def title(self) -> None:
        pdf, facts = self.pdf, self.facts
        pdf.add_page()
        pdf.set_font(_SANS, size=24)
        pdf.cell(0, 12, "存证证书", align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(_SANS, size=12)
        pdf.set_text_color(*_GREY)
        pdf.cell(0, 6, "Evidence Certificate", align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(3)
        pdf.set_font(_SANS, size=8.5)
        issuer = _organisation(facts.issuer) or _common_name(facts.issuer)
        local = facts.issued_at.astimezone(CHINA_STANDARD_TIME)
        pdf.multi_cell(0, 4.5, f"签发机构 Issued by: {issuer}    签发时间 Issued at: {local:%Y-%m-%d %H:%M:%S} "
                               f"北京时间 ({_utc(facts.issued_at):%Y-%m-%dT%H:%M:%SZ})", align="C",
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(*_INK)
        pdf.ln(3)
        # The verdict: render_certificate is only given a receipt that verified.
        pdf.set_fill_color(*_BANNER)
        pdf.set_font(_SANS, size=11)
        pdf.multi_cell(
            _CONTENT, 6.5,
            "核验结论：有效 —— 该存证回执已通过核验，各核验步骤及结果见第六部分。\n"
            "Verdict: VALID — the receipt verified; section 6 lists each step and its result.",
            fill=True, align="L", padding=Padding(2.5, 3, 2.5, 3), new_x=XPos.LMARGIN, new_y=YPos.NEXT,
        )
        pdf.set_fill_color(255, 255, 255)

    def what(self) -> None:
        facts, receipt = self.facts, self.facts.receipt
        self.heading("一、存证内容", "What was anchored")
        self.field("文件名", "File name", facts.file_name)
        self.field("文件大小", "File size", f"{facts.file_size:,} 字节 bytes")
        for algorithm, value in facts.file_digests:
            name = _ALGORITHM_NAMES.get(algorithm, algorithm.upper())
            self.hex_field(f"文件 {name} 摘要", f"File {name} digest", value)
        self.field("证据类型", "Kind", receipt.kind)
        self.field("案件 / 项目编号", "Case or project reference", receipt.case or "（无 none）")
        if any(receipt.metadata_digest):
            self.hex_field("元数据摘要", "Metadata digest", _hex_text(receipt.metadata_digest))

    def when(self) -> None:
        facts = self.facts
        self.heading("二、存证时间", "When")
        block_time = datetime.fromtimestamp(facts.verified.timestamp, UTC)
        self.field("区块时间", "Block time (the file existed no later than this)", _time_lines(block_time))
        if facts.tsa is None and facts.receipt.timestamp_token is not None:
            self.field("可信时间戳", "Trusted timestamp (RFC 3161)",
                       "回执附有时间戳，但未核验（未提供时间戳机构根证书），故不列其时间\n"
                       "the receipt carries a token, not checked (no TSA root was given): its time is not stated")
        elif facts.tsa is None:
            self.field("可信时间戳", "Trusted timestamp (RFC 3161)", "未附 none")
        else:
            moment, authority = facts.tsa
            self.field("可信时间戳时间", "Trusted timestamp (RFC 3161) time",
                       _time_lines(moment) + "\n" + _relative_to_block(moment, block_time))
            serial = "" if facts.tsa_serial is None else f"\n序列号 token serial number {facts.tsa_serial}"
            self.field("时间戳机构", "Time-stamping authority", authority + serial)

    def where(self) -> None:
        receipt, verified = self.facts.receipt, self.facts.verified
        self.heading("三、上链位置", "Where on the chain")
        self.field("链名称（链标识）", "Chain name (chain id)", f"{verified.chain_name}（{receipt.chain_id}）")
        self.hex_field("创世区块哈希", "Genesis block hash", _hex_text(verified.genesis_hash))
        self.field("区块高度", "Block number", str(receipt.block_number))
        self.hex_field("区块哈希", "Block hash", _hex_text(receipt.block_hash))
        self.hex_field("交易哈希", "Transaction hash", _hex_text(receipt.transaction_hash))
        self.hex_field(f"存证摘要（{_ALGORITHM_NAMES.get(receipt.algorithm, receipt.algorithm)}）",
                       "Anchored entry digest", _hex_text(receipt.digest))
        if receipt.batch is None:
            self.field("批次", "Batch", "单独存证 anchored on its own")
        else:
            self.hex_field("批次默克尔根", "Batch Merkle root", _hex_text(receipt.batch.root))
            self.field("批次位置", "Position in the batch",
                       f"第 {receipt.batch.leaf_index + 1} 项，共 {receipt.batch.tree_size} 项 "
                       f"(leaf {receipt.batch.leaf_index} of {receipt.batch.tree_size})")

    def who(self) -> None:
        subject, authority = self.facts.submitter
        self.heading("四、提交者", "Submitted by")
        self.hex_field("提交账户", "Submitting account", _hex_text(self.facts.verified.submitter))
        self.field("证书主体", "Member certificate subject", subject or "未提供 not given")
        self.field("证书签发机构", "Certificate issued by (CA)", authority or "未提供 not given")

    def witnesses(self) -> None:
        pdf, facts = self.pdf, self.facts
        seals, needed = facts.quorum
        self.heading("五、见证节点", "Witnessed by (the validators in force at that block)")
        self.field("共识签名", "Commit seals",
                   f"{seals} 个验证节点签名，法定数 {needed}（共 {len(facts.verified.validators)} 个验证节点）\n"
                   f"{seals} seals, quorum {needed} of {len(facts.verified.validators)} validators")
        if not facts.witnesses:
            return
        self._ensure_room(20)
        head = FontFace(family=_SANS, size_pt=8, color=_GREY)
        mono = FontFace(family=_MONO, size_pt=self._fit("0x" + "0" * 40, 74))
        pdf.set_font(_SANS, size=8.5)
        with pdf.table(col_widths=(8, 66, 76, 24), width=_CONTENT, line_height=5, headings_style=head,
                       text_align=("CENTER", "LEFT", "LEFT", "CENTER"), borders_layout="HORIZONTAL_LINES",
                       padding=1) as table:
            row = table.row()
            for text in ("#", "机构 Organisation", "地址 Address", "签名 Sealed"):
                row.cell(text)
            for index, (organisation, address, sealed) in enumerate(facts.witnesses, 1):
                row = table.row()
                row.cell(str(index))
                row.cell(organisation or "未知 unknown")
                row.cell(address, style=mono)
                row.cell("✓ 已签 yes" if sealed else "— 未签 no")
        pdf.ln(1)

    def steps(self) -> None:
        pdf, facts = self.pdf, self.facts
        self.heading("六、核验步骤", "Verification steps")
        self._ensure_room(20)
        head = FontFace(family=_SANS, size_pt=8, color=_GREY)
        pdf.set_font(_SANS, size=8.5)
        with pdf.table(col_widths=(8, 62, 104), width=_CONTENT, line_height=4.3, headings_style=head,
                       text_align=("CENTER", "LEFT", "LEFT"), borders_layout="HORIZONTAL_LINES",
                       padding=1) as table:
            row = table.row()
            for text in ("#", "步骤 Step", "结果 Result"):
                row.cell(text)
            for index, (name, result) in enumerate(facts.steps, 1):
                row = table.row()
                row.cell(str(index))
                zh = STEP_NAMES_ZH.get(name)
                row.cell(f"{zh} · {name}" if zh else name)
                row.cell(result)
        pdf.ln(1)

    def qr_and_checks(self) -> None:
        pdf, facts = self.pdf, self.facts
        # Kept with the issuer's block that follows, so the signature never stands alone on a page.
        self.heading("七、扫码与复核", "Scan, or check it yourself", room=12 + _QR_SIZE + 2 + _SIGNATURE_HEIGHT + 4)
        top = pdf.get_y()
        _draw_qr(pdf, qr_payload(facts.receipt, facts.verifier_url), _MARGIN, top, _QR_SIZE)
        x = _MARGIN + _QR_SIZE + 6
        width = _CONTENT - _QR_SIZE - 6
        pdf.set_xy(x, top)
        pdf.set_font(_SANS, size=8.5)
        pdf.multi_cell(
            width, 4.6,
            "二维码：链标识、区块高度、区块哈希、交易哈希、摘要算法与存证摘要（EL1 格式）。存证回执 "
            "receipt.json 附于本 PDF，可离线独立核验：\n"
            "The QR code carries the chain id, block number and hash, transaction hash, digest algorithm and "
            "entry digest (EL1). The receipt is attached to this PDF (receipt.json); to check it yourself:",
            align="L", new_x=XPos.LEFT, new_y=YPos.NEXT,
        )
        pdf.set_x(x)
        pdf.set_font(_MONO, size=7.5)
        pdf.multi_cell(
            width, 4,
            "pdfsig certificate.pdf\npdfdetach -saveall certificate.pdf    # receipt.json\n"
            "ledger evidence verify certificate.pdf --file FILE --genesis genesis.json",
            align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT,
        )
        pdf.set_y(max(pdf.get_y(), top + _QR_SIZE) + 2)

    def signature_block(self) -> SignatureBox:
        """The issuer's block; the signature widget is placed over it."""
        pdf, facts = self.pdf, self.facts
        height = _SIGNATURE_HEIGHT
        self._ensure_room(height + 4)
        pdf.ln(2)
        top = pdf.get_y()
        left, width = _MARGIN + _CONTENT - 112, 112.0
        pdf.set_draw_color(*_RULE)
        pdf.rect(left, top, width, height)
        pdf.set_xy(left + 3, top + 2)
        pdf.set_font(_SANS, size=8.5)
        issuer = facts.issuer
        pdf.multi_cell(
            width - 6, 4.4,
            f"签发机构 Issued by: {_organisation(issuer) or _common_name(issuer)}\n"
            f"签名证书 Signing certificate: {_common_name(issuer)}\n"
            f"颁发者 Certificate issuer: {_subject_line(issuer.issuer)}\n"
            "电子签名 Electronic signature: PAdES, SHA-256\n"
            "签发后不得修改 Final as issued: any change breaks the signature",
            align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT,
        )
        pdf.set_y(top + height)
        return SignatureBox(page=pdf.page_no() - 1, left=left, top=top, width=width, height=height,
                            page_height=_PAGE_HEIGHT)


def _relative_to_block(moment: datetime, block_time: datetime) -> str:
    """Where the TSA's time falls against the block's, in words."""
    seconds = (moment - block_time).total_seconds()
    if seconds < 0:
        return f"早于区块时间 {-seconds:g} 秒 · {-seconds:g} s before the block time"
    if seconds == 0:
        return "与区块时间相同 · the same second as the block time"
    return f"晚于区块时间 {seconds:g} 秒 · {seconds:g} s after the block time"


def _draw_qr(pdf: FPDF, text: str, x: float, y: float, size: float) -> None:
    """The QR symbol as filled rectangles (one per run of dark modules in a row): vector,
    so it prints sharp at any scale, with its 4-module quiet zone left white."""
    qr = segno.make(text, error=QR_ERROR_LEVEL, micro=False)
    rows = [list(row) for row in qr.matrix_iter(scale=1, border=4)]
    module = size / len(rows)
    pdf.set_fill_color(0, 0, 0)
    for r, row in enumerate(rows):
        c = 0
        while c < len(row):
            if row[c]:
                start = c
                while c < len(row) and row[c]:
                    c += 1
                pdf.rect(x + start * module, y + r * module, (c - start) * module, module, style="F")
            else:
                c += 1


def layout_certificate(facts: _Facts, receipt_json: str) -> tuple[bytes, SignatureBox]:
    """The unsigned PDF (with the receipt attached) and where its signature block is."""
    layout = _Layout(facts)
    layout.title()
    layout.what()
    layout.when()
    layout.where()
    layout.who()
    layout.witnesses()
    layout.steps()
    layout.qr_and_checks()
    box = layout.signature_block()
    layout.pdf.embed_file(
        bytes=receipt_json.encode(), basename=RECEIPT_ATTACHMENT, mime_type=RECEIPT_MIME_TYPE,
        associated_file_relationship=RECEIPT_RELATIONSHIP, modification_date=facts.issued_at,
        desc="存证回执 Evidence receipt (docs/receipt.md)", compress=True,
    )
    return bytes(layout.pdf.output()), box


def render_certificate(
    receipt: Receipt, verified: Verified, *, steps: Sequence[tuple[str, str]], file_name: str, file_size: int,
    file_digests: Mapping[str, str], submitter: tuple[str | None, str | None],
    witnesses: Sequence[tuple[str, str]], quorum: tuple[int, int], issued_at: datetime, signer: Signer,
    tsa: tuple[datetime, str] | None = None, verifier_url: str | None = None,
) -> bytes:
    """The signed certificate PDF for a receipt that verified (`verified` is what
    `verify_receipt` returned for it).

    `steps` are the verification steps with their result text, in order; `file_digests`
    maps algorithm names to hex digests of the file (it must hold the receipt's own);
    `submitter` is the submitting member's certificate subject and CA (the account itself
    is `verified.submitter`); `witnesses` the validators in force as (organisation, or ""
    when unknown; address); `quorum` (seals, needed); `tsa` the RFC 3161 time and the
    TSA's subject — taken from `verified.trusted_time` when the token verified (a `tsa`
    that disagrees with it is refused); `signer` the
    issuing organisation's (client.signers.Signer); `verifier_url`, if given, makes the
    QR code a link `verifier_url#<payload>`."""
    facts = _check_inputs(receipt, verified, steps, file_name, file_size, file_digests, submitter, witnesses,
                          quorum, tsa, issued_at, signer, verifier_url)
    unsigned, box = layout_certificate(facts, receipt.to_json())
    try:
        return sign_pdf(unsigned, signer, box=box, reason="存证证书签发 Evidence certificate issued")
    except PdfSignatureError as exc:
        raise CertificatePdfError("signing", str(exc)) from exc


# -- reading --------------------------------------------------------------------------------

# Name-tree nodes visited looking for the receipt: ours has one; a deep or wide tree in a
# PDF someone hands us is not worth walking further.
MAX_NAME_TREE_NODES = 64
MAX_NAME_TREE_DEPTH = 8


def read_embedded_receipt(pdf: bytes) -> str:
    """The text of the PDF's `receipt.json` attachment (from the document's
    /EmbeddedFiles name tree, as pdfdetach lists it). Does not check the signature:
    `verify_certificate_signature` does, and what it covers includes the attachment."""
    step = "embedded receipt"
    if len(pdf) > MAX_SIGNED_PDF_BYTES:
        raise CertificatePdfError(step, f"{len(pdf)} bytes exceeds {MAX_SIGNED_PDF_BYTES}")
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        tree = reader.root["/Names"]["/EmbeddedFiles"]
    except KeyError as exc:
        raise CertificatePdfError(step, "the PDF has no embedded files") from exc
    except (PdfError, ValueError, TypeError, IndexError) as exc:
        raise CertificatePdfError(step, f"not a readable PDF: {exc}") from exc
    try:
        spec = _find_name(tree, RECEIPT_ATTACHMENT)
        stream = spec["/EF"]["/F"]
        raw = _inflate(stream.encoded_data, stream.get("/Filter"), stream.get("/DecodeParms"))
    except CertificatePdfError:
        raise
    except (PdfError, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise CertificatePdfError(step, f"the {RECEIPT_ATTACHMENT} attachment cannot be read: {exc}") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CertificatePdfError(step, f"{RECEIPT_ATTACHMENT} is not UTF-8 text") from exc


def _find_name(tree: Any, wanted: str) -> Any:
    """The value for `wanted` in a PDF name tree (ISO 32000-1 §7.9.6), walked breadth
    first within MAX_NAME_TREE_NODES nodes and MAX_NAME_TREE_DEPTH levels."""
    queue = [(tree, 0)]
    visited = 0
    while queue:
        node, depth = queue.pop(0)
        visited += 1
        if visited > MAX_NAME_TREE_NODES:
            raise CertificatePdfError("embedded receipt", f"the attachment tree has over {MAX_NAME_TREE_NODES} nodes")
        names = node.get("/Names")
        if names is not None:
            for index in range(0, len(names) - 1, 2):
                if str(names[index]) == wanted:
                    return names[index + 1]
        if depth < MAX_NAME_TREE_DEPTH:
            queue.extend((kid, depth + 1) for kid in node.get("/Kids", ()))
    raise CertificatePdfError("embedded receipt", f"the PDF has no {wanted} attachment")


def _inflate(encoded: bytes, filters: Any, parameters: Any) -> bytes:
    """The attachment's bytes, decoded without ever holding more than the receipt cap:
    a small compressed stream could otherwise inflate to gigabytes."""
    names = [] if filters is None else [str(f) for f in (filters if isinstance(filters, list) else [filters])]
    if parameters not in (None, [], [None]):
        raise CertificatePdfError("embedded receipt", "the attachment uses decode parameters; ours use none")
    if names == []:
        data = encoded
    elif names == ["/FlateDecode"]:
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(encoded, MAX_RECEIPT_DOCUMENT_BYTES + 1)
        except zlib.error as exc:
            raise CertificatePdfError("embedded receipt", f"the attachment is not valid Flate data: {exc}") from exc
    else:
        raise CertificatePdfError("embedded receipt", f"the attachment is encoded with {names}; ours use Flate")
    if len(data) > MAX_RECEIPT_DOCUMENT_BYTES:
        raise CertificatePdfError("embedded receipt", f"the receipt exceeds {MAX_RECEIPT_DOCUMENT_BYTES} bytes")
    return data


def verify_certificate_signature(pdf: bytes, roots: Sequence[x509.Certificate], *,
                                 validation_time: datetime | None = None) -> str:
    """The issuer's subject (RFC 4514) if the certificate's one signature is intact,
    chains to one of `roots` and covers the whole file; else `PdfSignatureError` naming
    the step (client/pdf_signatures.py)."""
    return verify_pdf_signature(pdf, roots, validation_time=validation_time).subject
