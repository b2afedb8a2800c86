"""The evidence certificate PDF, read back by the tools a court would use: pdftotext gives
every digest back as one token, pdftoppm renders page 1 (the screenshot artefact),
pdffonts finds every font embedded, pdfsig lists the issuer's signature, pypdf finds the
receipt attachment (which parses and verifies), zxing-cpp decodes the QR code; a byte
changed in the signed range, bytes appended, or another root each fail.

Receipts come from a real chain built in-process on LevelDB (tests/unit/node/votechain.py:
fixed validator keys, blocks sealed by them), one single anchoring and one batch of
three, verified by evidence.receipt.verify_receipt before they are rendered.
"""
from __future__ import annotations

import hashlib
import io
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak
from fpdf import FPDF

from client.credentials import CertificateIdentity
from client.evidence_pdf import (
    RECEIPT_ATTACHMENT,
    STEP_NAMES_ZH,
    CertificatePdfError,
    QrPayload,
    qr_payload,
    read_embedded_receipt,
    render_certificate,
    verify_certificate_signature,
)
from client.pdf_signatures import PdfSignatureError
from evidence import digest as digests, merkle
from evidence.mpt import OrderedTrie
from evidence.receipt import EVIDENCE_REGISTRY, STEPS, GenesisTrust, Receipt, Verified, build_receipts, verify_receipt
from node.execution.chain import Chain
from node.execution.vm import TRANSACTION_BUILDER
from node.storage.store import LevelStore
from tests import pki
from tests.unit.client.pdftools import needs, nss_database, run as _run
from tests.unit.node.votechain import (
    CHAIN_ID,
    GENESIS_VALIDATORS,
    MEMBER,
    A,
    B,
    C,
    anchor_transaction,
    commit,
    make_genesis,
    receipt_for,
)

CONTENT = "网页截图：某某平台 2026-05-01 商品页面 (web capture)".encode()
BATCH = [b"contract.pdf bytes", b"bid-opening video bytes", "开标记录 minutes".encode()]
CASE = "（2026）京0491民初123号"
# 2026-05-01T08:00:00Z: the chain's genesis time, so block times read like real ones.
GENESIS_TIME = 1_777_622_400
ISSUED_AT = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
TSA_TIME = datetime(2026, 5, 1, 8, 0, 3, tzinfo=UTC)
TSA_SUBJECT = "CN=Consortium TSA,O=某某公共资源交易中心"
ORGANISATIONS = ["北京市公共资源交易中心", "Regulator Node Ltd", "某某区人民法院", "Notary Office"]
ISSUER_CN = "存证平台 Evidence Platform"
ISSUER_ORG = "某某公共资源交易中心"


def _batch_transaction(nonce: int, root: bytes, count: int) -> Any:
    """The member's EvidenceRegistry.anchor(root, count, "contract", CASE, sha256, 0)."""
    selector = keccak(b"anchor(bytes32,uint256,string,string,uint8,bytes32)")[:4]
    data = selector + abi_encode(["bytes32", "uint256", "string", "string", "uint8", "bytes32"],
                                 [root, count, "contract", CASE, 1, b"\x00" * 32])
    signed = MEMBER.sign_transaction({"nonce": nonce, "gas": 500_000, "gasPrice": 0, "value": 0, "data": data,
                                      "to": "0x" + EVIDENCE_REGISTRY.hex(), "chainId": CHAIN_ID})
    return TRANSACTION_BUILDER.decode(bytes(signed.raw_transaction))


@dataclass(frozen=True)
class Anchored:
    genesis: GenesisTrust
    single: Receipt
    batch: tuple[Receipt, ...]


@pytest.fixture(scope="module")
def anchored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Anchored]:
    store = LevelStore(tmp_path_factory.mktemp("certificate") / "chain")
    try:
        genesis = make_genesis(timestamp=GENESIS_TIME)
        chain = Chain.initialise(store, genesis)
        digest = hashlib.sha256(CONTENT).digest()
        # Block 1 sealed by A, B and C only: D is a validator that did not seal it.
        first = commit(chain, A, signers=[A, B, C], transactions=[anchor_transaction(0, digest, case=CASE)])
        leaves = [hashlib.sha256(item).digest() for item in BATCH]
        root = merkle.MerkleTree([merkle.leaf_hash(d) for d in leaves]).root
        second = commit(chain, B, transactions=[_batch_transaction(1, root, len(leaves))])
        yield Anchored(
            genesis=GenesisTrust.from_document(genesis.document),
            single=receipt_for(chain, first, digest, case=CASE),
            batch=tuple(_batch_receipts(chain, second, leaves)),
        )
    finally:
        store.close()


def _batch_receipts(chain: Chain, header: Any, leaves: list[bytes]) -> list[Receipt]:
    """Receipts of the batch anchored in `header`, built as client/anchoring.py builds them."""
    transactions, _ = chain.block_transactions(header)
    encoded = [tx.encode() for tx in transactions]
    raw = [r.encode() for r in chain.block_receipts(header)]
    return build_receipts(
        chain_id=CHAIN_ID, digests_=leaves, algorithm="sha256", kind="contract", case=CASE,
        metadata_digest=b"\x00" * 32, batched=True, block_number=header.block_number, block_hash=header.hash,
        transaction_index=0, transaction_hash=keccak(encoded[0]), log_index=0, header=rlp.encode(header),
        transaction=encoded[0], transaction_proof=OrderedTrie(encoded).proof(0), receipt=raw[0],
        receipt_proof=OrderedTrie(raw).proof(0),
        validator_history=[rlp.encode(chain.header_by_number(h)) for h in chain.vote_heights(0, header.block_number - 1)],
    )


@pytest.fixture(scope="module")
def issuer() -> CertificateIdentity:
    return pki.p256_ca().issue(ISSUER_CN, "p256", organization=ISSUER_ORG)


def _file_digests(content: bytes) -> dict[str, str]:
    # SHA-512 is 128 hex digits: it exercises the full-width line for a digest too long
    # for the value column.
    return {"sha256": hashlib.sha256(content).hexdigest(), "sm3": digests.digest_bytes(content, "sm3").hex(),
            "sha512": hashlib.sha512(content).hexdigest()}


def _render(receipt: Receipt, verified: Verified, content: bytes, name: str, signer: Any, **overrides: Any) -> bytes:
    arguments: dict[str, Any] = {
        "steps": [(step, "通过 passed") for step in STEPS] + [("timestamp", "通过 passed: 时间早于区块时间 3 秒")],
        "file_name": name, "file_size": len(content), "file_digests": _file_digests(content),
        "submitter": ("CN=Member One,O=某某建设集团有限公司", "CN=Province CA Signing (P-256)"),
        "witnesses": [(org, "0x" + key.address.hex()) for org, key in zip(ORGANISATIONS, GENESIS_VALIDATORS)],
        "quorum": (len(verified.signers), 3), "tsa": (TSA_TIME, TSA_SUBJECT), "issued_at": ISSUED_AT,
        "signer": signer,
    }
    arguments.update(overrides)
    return render_certificate(receipt, verified, **arguments)


@pytest.fixture(scope="module")
def single(anchored: Anchored, issuer: CertificateIdentity, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    verified = verify_receipt(anchored.single, anchored.genesis, CONTENT)
    pdf = _render(anchored.single, verified, CONTENT, "网页截图-2026-05-01.png", issuer)
    path = tmp_path_factory.mktemp("single") / "certificate.pdf"
    path.write_bytes(pdf)
    return {"pdf": pdf, "path": path, "receipt": anchored.single, "verified": verified}


@pytest.fixture(scope="module")
def batched(anchored: Anchored, issuer: CertificateIdentity, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    receipt = anchored.batch[2]
    verified = verify_receipt(receipt, anchored.genesis, BATCH[2])
    pdf = _render(receipt, verified, BATCH[2], "开标记录.docx", issuer, tsa=None, submitter=(None, None))
    path = tmp_path_factory.mktemp("batched") / "certificate.pdf"
    path.write_bytes(pdf)
    return {"pdf": pdf, "path": path, "receipt": receipt, "verified": verified}


def _text(path: Path) -> str:
    done = _run("pdftotext", "-enc", "UTF-8", path, "-")
    assert done.returncode == 0, done.stderr
    return done.stdout


def _flip_in_signed_range(pdf: bytes) -> bytes:
    """One bit changed in the first stream's data: inside the signature's first byte range
    (everything before /Contents), in a place no parser needs to find the structure."""
    start = pdf.index(b"stream\n") + len(b"stream\n") + 16
    assert start < pdf.index(b"/ByteRange")
    return pdf[:start] + bytes([pdf[start] ^ 0x01]) + pdf[start + 1:]


# -- the page --------------------------------------------------------------------------------

@needs["pdftotext"]
@pytest.mark.parametrize("which", ["single", "batched"])
def test_text_gives_every_digest_back_as_one_token(which: str, request: pytest.FixtureRequest) -> None:
    made = request.getfixturevalue(which)
    receipt: Receipt = made["receipt"]
    content = CONTENT if which == "single" else BATCH[2]
    text = _text(made["path"])
    tokens = text.split()
    assert "存证证书" in tokens and "Evidence Certificate" in text
    expected = list(_file_digests(content).values()) + [
        "0x" + receipt.digest.hex(), "0x" + receipt.block_hash.hex(), "0x" + receipt.transaction_hash.hex(),
    ] + ["0x" + key.address.hex() for key in GENESIS_VALIDATORS]
    if receipt.batch is not None:
        expected.append("0x" + receipt.batch.root.hex())
    for value in expected:
        assert value in tokens, f"{value} is not one token of the extracted text"
    assert CASE in text
    for step in STEPS:
        assert STEP_NAMES_ZH[step] in text and step in text


@needs["pdftotext"]
def test_the_page_says_when_who_and_who_witnessed(single: dict[str, Any], batched: dict[str, Any]) -> None:
    text = " ".join(_text(single["path"]).split())  # prose may wrap; digests are checked above
    assert "2026-05-01T08:00:01Z" in text  # block 1's time, a second after genesis
    assert "2026-05-01 16:00:03" in text and "2026-05-01T08:00:03Z" in text  # the TSA time, both zones
    assert TSA_SUBJECT in text
    assert "CN=Member One,O=某某建设集团有限公司" in text
    for org in ORGANISATIONS:
        assert org in text
    # A, B and C sealed block 1, D (the fourth in address order) did not.
    assert text.count("已签") == 3 and text.count("未签") == 1
    assert "3 seals, quorum 3 of 4 validators" in text
    assert ISSUER_ORG in text and ISSUER_CN in text
    other = " ".join(_text(batched["path"]).split())
    assert "leaf 2 of 3" in other and "未附" in other and "未提供" in other


@needs["pdftoppm"]
def test_page_one_renders(single: dict[str, Any], tmp_path: Path) -> None:
    from PIL import Image

    prefix = tmp_path / "certificate-page"
    done = _run("pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", single["path"], prefix)
    assert done.returncode == 0, done.stderr
    screenshot = prefix.with_suffix(".png")
    print(f"\nscreenshot of page 1: {screenshot}")
    image = Image.open(screenshot).convert("L")
    assert image.size in {(661, 935), (662, 935), (662, 936)}  # A4 at 80 dpi, rounded either way
    dark = sum(image.histogram()[:128])
    assert dark > 0.01 * image.size[0] * image.size[1], "page 1 is (nearly) blank"


@needs["pdffonts"]
def test_every_font_is_embedded_as_a_subset(single: dict[str, Any]) -> None:
    done = _run("pdffonts", single["path"])
    assert done.returncode == 0, done.stderr
    rows = done.stdout.splitlines()[2:]
    assert rows, done.stdout
    for row in rows:
        # columns: name type encoding emb sub uni object ID
        emb, sub, uni = row.split()[-5:-2]
        assert (emb, sub, uni) == ("yes", "yes", "yes"), row
    assert any("WenQuanYi" in row for row in rows)


def test_the_qr_code_scans_to_the_payload(single: dict[str, Any], tmp_path: Path) -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    from PIL import Image

    prefix = tmp_path / "page"
    pages = _run("pdftoppm", "-png", "-r", "150", single["path"], prefix)
    assert pages.returncode == 0, pages.stderr
    found = [code.text for page in sorted(tmp_path.glob("page*.png"))
             for code in zxingcpp.read_barcodes(Image.open(page))]
    receipt: Receipt = single["receipt"]
    assert found == [qr_payload(receipt)]
    assert QrPayload.parse(found[0]) == QrPayload.of(receipt)


# -- the attachment --------------------------------------------------------------------------

def test_pypdf_finds_the_receipt_and_it_verifies(single: dict[str, Any], anchored: Anchored) -> None:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(single["pdf"]))
    (attached,) = reader.attachments[RECEIPT_ATTACHMENT]
    receipt = Receipt.parse_text(attached)
    assert receipt == single["receipt"]
    assert verify_receipt(receipt, anchored.genesis, CONTENT) == single["verified"]
    # The file specification says what the attachment is (PDF 2.0 associated file).
    spec: Any = reader.root_object["/AF"][0].get_object()  # type: ignore[index]
    assert spec["/AFRelationship"] == "/Source"
    assert spec["/EF"]["/F"].get_object()["/Subtype"] == "/application/json"
    assert read_embedded_receipt(single["pdf"]) == single["receipt"].to_json()


def test_a_pdf_without_the_receipt_says_so() -> None:
    pdf = FPDF()
    pdf.add_page()
    with pytest.raises(CertificatePdfError, match="no embedded files"):
        read_embedded_receipt(bytes(pdf.output()))
    pdf = FPDF()
    pdf.add_page()
    pdf.embed_file(bytes=b"{}", basename="other.json")
    with pytest.raises(CertificatePdfError, match="no receipt.json attachment"):
        read_embedded_receipt(bytes(pdf.output()))


def test_an_attachment_that_inflates_past_the_cap_is_refused() -> None:
    from evidence.receipt import MAX_RECEIPT_DOCUMENT_BYTES

    pdf = FPDF()
    pdf.add_page()
    # A few KiB compressed, past the receipt cap once inflated.
    pdf.embed_file(bytes=b" " * (MAX_RECEIPT_DOCUMENT_BYTES + 1), basename=RECEIPT_ATTACHMENT, compress=True)
    data = bytes(pdf.output())
    assert len(data) < 64 * 1024
    with pytest.raises(CertificatePdfError, match="exceeds"):
        read_embedded_receipt(data)


# -- the signature ---------------------------------------------------------------------------

@needs["pdfsig"]
def test_pdfsig_lists_the_issuers_signature(single: dict[str, Any]) -> None:
    done = _run("pdfsig", single["path"])
    assert done.returncode == 0, done.stderr
    assert f"Signer Certificate Common Name: {ISSUER_CN}" in done.stdout
    assert "Signature Type: ETSI.CAdES.detached" in done.stdout
    assert "Total document signed" in done.stdout
    assert "Signature Validation: Signature is Valid." in done.stdout


@needs["pdfsig"]
@needs["certutil"]
def test_pdfsig_trusts_the_chain_given_the_root(single: dict[str, Any], tmp_path: Path) -> None:
    """pdfsig checks the path with NSS: a database holding only the issuer's root, trusted
    for signing ("C,C,C"), makes it report the certificate trusted."""
    done = _run("pdfsig", "-nssdir", nss_database(tmp_path / "nss", [pki.p256_ca().root]), single["path"])
    assert "Signature Validation: Signature is Valid." in done.stdout
    assert "Certificate Validation: Certificate is Trusted." in done.stdout


def test_our_check_names_the_issuer(single: dict[str, Any]) -> None:
    subject = verify_certificate_signature(single["pdf"], [pki.p256_ca().root])
    assert subject == f"CN={ISSUER_CN},O={ISSUER_ORG}"


def test_another_root_is_not_trusted(single: dict[str, Any]) -> None:
    with pytest.raises(PdfSignatureError) as caught:
        verify_certificate_signature(single["pdf"], [pki.rsa_ca().root])
    assert caught.value.step == "trust"


@needs["pdfsig"]
def test_a_changed_byte_fails_pdfsig_and_our_check(single: dict[str, Any], tmp_path: Path) -> None:
    tampered = _flip_in_signed_range(single["pdf"])
    path = tmp_path / "tampered.pdf"
    path.write_bytes(tampered)
    done = _run("pdfsig", path)
    assert "Signature is Valid" not in done.stdout
    assert re.search(r"Signature Validation: (Digest Mismatch|Signature is Invalid)", done.stdout), done.stdout
    with pytest.raises(PdfSignatureError) as caught:
        verify_certificate_signature(tampered, [pki.p256_ca().root])
    assert caught.value.step == "integrity"


def test_bytes_appended_after_signing_fail_coverage(single: dict[str, Any]) -> None:
    appended = single["pdf"] + b"\n99 0 obj\n<< /Note (added later) >>\nendobj\n"
    with pytest.raises(PdfSignatureError) as caught:
        verify_certificate_signature(appended, [pki.p256_ca().root])
    assert caught.value.step == "coverage"


def test_an_unsigned_pdf_has_no_signature() -> None:
    pdf = FPDF()
    pdf.add_page()
    with pytest.raises(PdfSignatureError) as caught:
        verify_certificate_signature(bytes(pdf.output()), [pki.p256_ca().root])
    assert caught.value.step == "signatures"


@needs["pdfsig"]
def test_an_rsa_issuer_signs_too(anchored: Anchored, tmp_path: Path) -> None:
    issuer = pki.rsa_ca().issue("Trading Center Issuer", "rsa2048", organization="Trading Center")
    verified = verify_receipt(anchored.single, anchored.genesis, CONTENT)
    pdf = _render(anchored.single, verified, CONTENT, "capture.png", issuer)
    assert verify_certificate_signature(pdf, [pki.rsa_ca().root]) == "CN=Trading Center Issuer,O=Trading Center"
    path = tmp_path / "rsa.pdf"
    path.write_bytes(pdf)
    done = _run("pdfsig", path)
    assert "Signer Certificate Common Name: Trading Center Issuer" in done.stdout
    assert "Signature is Valid." in done.stdout


# -- inputs and the QR format ----------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    ({"file_digests": {"sha256": "00" * 32}}, "is not the receipt's entry"),
    ({"file_digests": {"sm3": "00" * 32}}, "lacks the receipt's algorithm"),
    ({"file_digests": {"sha256": "not hex"}}, "not hex"),
    ({"quorum": (4, 3)}, "quorum says 4 seals"),
    ({"witnesses": [("Org", "0x1234")]}, "not 20 bytes"),
    ({"witnesses": [("Org", "0x" + A.address.hex())]}, "exactly the validators"),
    ({"witnesses": [(org, "0x" + key.address.hex()) for org, key in zip(ORGANISATIONS, (A, A, B, C))]},
     "exactly the validators"),
    ({"quorum": (3, 4)}, "3 < 4"),
    ({"issued_at": datetime(2026, 5, 1, 9, 30)}, "time zone"),
])
def test_inputs_that_contradict_the_receipt_are_refused(anchored: Anchored, issuer: CertificateIdentity,
                                                        change: dict[str, Any], message: str) -> None:
    verified = verify_receipt(anchored.single, anchored.genesis, CONTENT)
    with pytest.raises(CertificatePdfError, match=message) as caught:
        _render(anchored.single, verified, CONTENT, "x.png", issuer, **change)
    assert caught.value.step == "inputs"


def test_verified_must_be_this_receipts(anchored: Anchored, issuer: CertificateIdentity) -> None:
    other = verify_receipt(anchored.batch[0], anchored.genesis, BATCH[0])
    with pytest.raises(CertificatePdfError, match="another receipt"):
        _render(anchored.single, other, CONTENT, "x.png", issuer)


def test_every_receipt_step_has_a_chinese_name() -> None:
    assert set(STEPS) <= set(STEP_NAMES_ZH)


def test_qr_payload_format(anchored: Anchored) -> None:
    receipt = anchored.single
    text = qr_payload(receipt)
    fields = text.split(".")
    assert fields == ["EL1", str(CHAIN_ID), str(receipt.block_number), receipt.block_hash.hex().upper(),
                      receipt.transaction_hash.hex().upper(), "SHA256", receipt.digest.hex().upper()]
    # QR alphanumeric alphabet and URL-unreserved characters only.
    assert re.fullmatch(r"[0-9A-Z.]+", text)
    linked = qr_payload(receipt, "https://ledger.example/verify")
    assert linked == f"https://ledger.example/verify#{text}"
    assert QrPayload.parse(linked) == QrPayload.parse(text) == QrPayload.of(receipt)


@pytest.mark.parametrize("text", [
    "EL2" + "." * 6, "EL1.1337.1", "EL1.01.1." + "A" * 64 + "." + "B" * 64 + ".SHA256." + "C" * 64,
    "EL1.1.1." + "a" * 64 + "." + "B" * 64 + ".SHA256." + "C" * 64,
    "EL1.1.1." + "A" * 64 + "." + "B" * 64 + ".MD5." + "C" * 64,
])
def test_malformed_qr_payloads_are_refused(text: str) -> None:
    with pytest.raises(CertificatePdfError) as caught:
        QrPayload.parse(text)
    assert caught.value.step == "qr"


def test_a_certificate_whose_key_may_not_sign_is_refused_before_signing(anchored: Anchored) -> None:
    issuer = pki.p256_ca().issue("Encryption Only", "p256", key_usage={"key_encipherment"})
    verified = verify_receipt(anchored.single, anchored.genesis, CONTENT)
    with pytest.raises(CertificatePdfError, match="key usage") as caught:
        _render(anchored.single, verified, CONTENT, "x.png", issuer)
    assert caught.value.step == "signing"


def test_an_issuer_certificate_expired_at_validation_time_fails_trust(single: dict[str, Any]) -> None:
    after_expiry = pki.NOT_AFTER + (pki.NOT_AFTER - pki.NOT_BEFORE) / 10
    with pytest.raises(PdfSignatureError) as caught:
        verify_certificate_signature(single["pdf"], [pki.p256_ca().root], validation_time=after_expiry)
    assert caught.value.step == "trust"
    assert verify_certificate_signature(single["pdf"], [pki.p256_ca().root], validation_time=ISSUED_AT)


def test_the_same_inputs_give_the_same_document(single: dict[str, Any], anchored: Anchored,
                                                issuer: CertificateIdentity) -> None:
    """Only the signature (its time and value) differs between two issues: the unsigned
    first revision, which the signature update leaves as a prefix, is the same bytes."""
    again = _render(anchored.single, single["verified"], CONTENT, "网页截图-2026-05-01.png", issuer)
    end = single["pdf"].index(b"%%EOF") + len(b"%%EOF")
    assert again[:end] == single["pdf"][:end]
