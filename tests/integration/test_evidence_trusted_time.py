"""Trusted time and the evidence certificate through the real entry points: a dev node and a
`ledger tsa serve` process on loopback, `ledger evidence anchor --tsa`, the token taken
out of a receipt and checked by `openssl ts -verify`, `ledger evidence verify --tsa-root`
(and without it, and with another TSA's root), `ledger evidence certificate`, and the
certificate verified from the PDF alone (`verify cert.pdf --issuer-root`, and pdfsig).
A TSA that cannot be reached stops the anchoring before anything is sent.

The failing tokens a court must see refused (over another root, another TSA's, later
than the block) are built with fixed keys in tests/unit/evidence/test_receipt_trusted_time.py;
here the one that reaches the CLI is another TSA's root given for our TSA's token.
"""
from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import tsa as fixed_tsa
from tests.integration.nodeproc import NodeProcess, free_port, rpc
from tests.integration.test_tsa import PASSPHRASE, TSAProcess, openssl

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
ISSUER_ORG = "某某公共资源交易中心"
ISSUER_CN = "Evidence Platform"
VALIDATOR_ORG = "北京市公共资源交易中心"


def ledger(*args: str | Path, check: int | None = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "client.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=180)
    if check is not None:
        assert done.returncode == check, done.stdout + done.stderr
    return done


@dataclass(frozen=True)
class Anchored:
    base: Path
    files: Path
    receipts: Path
    genesis: Path
    tsa_root: Path
    other_root: Path
    issuer_root: Path
    certificate: Path
    anchor_output: dict
    certificate_output: dict
    validator: str


@pytest.fixture(scope="module")
def anchored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Anchored]:
    """Two files anchored with a token from our TSA, and the certificate of one, made while
    the node runs (so that member records can be looked up); both processes stopped after."""
    base = tmp_path_factory.mktemp("trusted-time")
    ledger("ca", "new", "--name", "Consortium TSA CA", "--org", "Trading Center", "--out", base / "tsa-ca")
    ledger("ca", "new", "--name", "Issuer CA", "--org", ISSUER_ORG, "--key-type", "p256", "--out", base / "issuer-ca")
    ledger("ca", "issue", "--ca", base / "issuer-ca", "--name", ISSUER_CN, "--org", ISSUER_ORG, "--key-type", "p256",
           "--out", base / "issuer")
    other_root = base / "other-root.pem"
    other_root.write_bytes(fixed_tsa.independent().root_pem)
    passphrase = base / "passphrase"
    passphrase.write_text(PASSPHRASE + "\n")
    files = base / "capture"
    files.mkdir()
    (files / "index.html").write_text("<html>Lot 3: offer of Bidder Co, 1,250,000.00</html>\n")
    (files / "contract.pdf").write_bytes(b"%PDF-1.7 the signed contract\n" * 40)
    tsa = TSAProcess(base / "tsa-data", base / "tsa-ca", passphrase).start()
    node = NodeProcess(base / "data", free_port()).start()
    try:
        key = base / "admin.key"
        key.write_text(node.dev_key)
        receipts = base / "receipts"
        output = json.loads(ledger("evidence", "anchor", files, "--kind", "web-capture", "--case", "(2026) IP 77",
                                   "--out", receipts, "--key", key, "--rpc", node.url, "--tsa", tsa.url,
                                   "--json").stdout)
        validator = rpc(node.url, "qbft_getValidatorsByBlockNumber", "latest")[0]
        certificate = base / "certificate.pdf"
        made = json.loads(ledger(
            "evidence", "certificate", receipts / "capture" / "index.html.receipt.json", "--file",
            files / "index.html", "--genesis", base / "data" / "genesis.json", "--out", certificate,
            "--cert", base / "issuer" / "chain.pem", "--cert-key", base / "issuer" / "key.pem",
            "--tsa-root", base / "tsa-ca" / "ca.pem", "--witness", f"{validator}={VALIDATOR_ORG}",
            "--rpc", node.url, "--json").stdout)
        nonce = rpc(node.url, "eth_getTransactionCount", node.dev_address, "latest")
        # No TSA at this address: refused before the transaction, so the nonce stays, and
        # before the sealed copy is stored, so the blob store stays empty.
        unreachable = ledger("evidence", "anchor", files / "index.html", "--out", base / "never", "--key", key,
                             "--rpc", node.url, "--tsa", f"http://127.0.0.1:{free_port()}/",
                             "--encrypt-to", base / "issuer" / "chain.pem", check=2)
        assert "nothing was stored or anchored" in unreachable.stderr, unreachable.stderr
        assert rpc(node.url, "eth_getTransactionCount", node.dev_address, "latest") == nonce
        blob_dir = base / "data" / "blobs"
        assert not blob_dir.exists() or not [p for p in blob_dir.rglob("*") if p.is_file()]
    finally:
        node.stop()
        tsa.stop()
    yield Anchored(base, files, receipts, base / "data" / "genesis.json", base / "tsa-ca" / "ca.pem", other_root,
                   base / "issuer-ca" / "ca.pem", certificate, output, made, validator)


def receipt_path(anchored: Anchored, name: str = "index.html") -> Path:
    return anchored.receipts / "capture" / f"{name}.receipt.json"


def test_every_receipt_of_the_batch_carries_one_token_openssl_accepts(anchored: Anchored, tmp_path: Path) -> None:
    assert anchored.anchor_output["timestamp"]["serial"] >= 1
    documents = [json.loads(receipt_path(anchored, n).read_text()) for n in ("index.html", "contract.pdf")]
    assert documents[0]["timestamp"] == documents[1]["timestamp"]
    root = documents[0]["batch"]["root"][2:]
    assert root == anchored.anchor_output["root"][2:]
    token = tmp_path / "token.der"
    token.write_bytes(base64.b64decode(documents[0]["timestamp"]))
    done = openssl("ts", "-verify", "-digest", root, "-in", str(token), "-token_in", "-CAfile", str(anchored.tsa_root))
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stdout + done.stderr
    other = openssl("ts", "-verify", "-digest", hashlib.sha256(b"another batch").hexdigest(), "-in", str(token),
                    "-token_in", "-CAfile", str(anchored.tsa_root))
    assert other.returncode != 0


def test_verify_with_the_tsa_root_prints_the_tsa_time_beside_the_block_time(anchored: Anchored) -> None:
    done = ledger("evidence", "verify", receipt_path(anchored), "--file", anchored.files / "index.html",
                  "--genesis", anchored.genesis, "--tsa-root", anchored.tsa_root)
    assert "✓ commit seals" in done.stdout and "✓ trusted time: TSA time " in done.stdout, done.stdout
    assert "before the block" in done.stdout or "the block's second" in done.stdout, done.stdout
    assert "VALID:" in done.stdout and "(TSA time " in done.stdout
    report = json.loads(ledger("evidence", "verify", receipt_path(anchored), "--genesis", anchored.genesis,
                               "--tsa-root", anchored.tsa_root, "--json").stdout)
    trusted = report["receipts"][0]["trustedTime"]
    assert trusted["status"] == "verified" and trusted["serial"] == anchored.anchor_output["timestamp"]["serial"]
    assert trusted["time"] == anchored.anchor_output["timestamp"]["time"]
    assert "CN=evidence-ledger TSA" in trusted["tsa"]


def test_verify_without_a_tsa_root_says_not_checked(anchored: Anchored) -> None:
    done = ledger("evidence", "verify", receipt_path(anchored), "--genesis", anchored.genesis)
    assert "- trusted time: not checked (no --tsa-root)" in done.stdout, done.stdout
    assert "TSA time" not in done.stdout  # an unchecked claim is not printed


def test_another_tsas_root_fails_at_trusted_time(anchored: Anchored) -> None:
    done = ledger("evidence", "verify", receipt_path(anchored), "--genesis", anchored.genesis,
                  "--tsa-root", anchored.other_root, check=1)
    assert "✗ trusted time: certificate chain:" in done.stdout and "INVALID" in done.stdout, done.stdout


def test_the_certificate_verifies_from_the_pdf_alone(anchored: Anchored) -> None:
    made = anchored.certificate_output
    assert made["issuer"] == f"CN={ISSUER_CN},O={ISSUER_ORG}" and made["trustedTime"]["status"] == "verified"
    assert made["witnesses"] == [{"address": anchored.validator.lower(), "organisation": VALIDATOR_ORG, "sealed": True}]
    done = ledger("evidence", "verify", anchored.certificate, "--file", anchored.files / "index.html",
                  "--genesis", anchored.genesis, "--issuer-root", anchored.issuer_root, "--tsa-root", anchored.tsa_root)
    assert f"✓ issuer signature: CN={ISSUER_CN},O={ISSUER_ORG}" in done.stdout, done.stdout
    assert "✓ trusted time: TSA time" in done.stdout and "VALID:" in done.stdout
    unchecked = ledger("evidence", "verify", anchored.certificate, "--file", anchored.files / "index.html",
                       "--genesis", anchored.genesis)
    assert "- issuer signature: not checked (no --issuer-root)" in unchecked.stdout
    wrong = ledger("evidence", "verify", anchored.certificate, "--genesis", anchored.genesis,
                   "--issuer-root", anchored.tsa_root, check=1)
    assert "✗ issuer signature: trust:" in wrong.stdout and "INVALID" in wrong.stdout, wrong.stdout
    other_file = ledger("evidence", "verify", anchored.certificate, "--file", anchored.files / "contract.pdf",
                        "--genesis", anchored.genesis, "--issuer-root", anchored.issuer_root, check=1)
    assert "✗ file" in other_file.stdout


@pytest.mark.skipif(shutil.which("pdftotext") is None or shutil.which("pdfsig") is None,
                    reason="pdftotext and pdfsig (poppler-utils) are not installed")
def test_the_page_states_chain_submitter_and_tsa_time_and_pdfsig_lists_the_issuer(anchored: Anchored) -> None:
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(anchored.certificate), "-"], capture_output=True,
                          text=True, timeout=60, check=True).stdout
    receipt = json.loads(receipt_path(anchored).read_text())
    tokens = text.split()
    assert receipt["genesisHash"] in tokens and receipt["chainName"] in " ".join(tokens)
    assert anchored.anchor_output["timestamp"]["time"][:19] in text.replace(" ", "T")  # the TSA time, UTC
    assert "CN=evidence-ledger TSA" in text and VALIDATOR_ORG in text
    report = json.loads(ledger("evidence", "verify", receipt_path(anchored), "--genesis", anchored.genesis,
                               "--json").stdout)
    assert report["receipts"][0]["submitter"] in tokens
    assert "a member named in genesis" in " ".join(tokens)  # the dev account: looked up with --rpc
    signed = subprocess.run(["pdfsig", str(anchored.certificate)], capture_output=True, text=True, timeout=60)
    assert f"Signer Certificate Common Name: {ISSUER_CN}" in signed.stdout, signed.stdout
    assert "Signature Validation: Signature is Valid." in signed.stdout
