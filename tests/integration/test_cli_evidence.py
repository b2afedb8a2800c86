"""`ledger evidence anchor | show | verify` through the real entry point: anchor a
directory on a dev node, stop the node, verify offline (exit 0), then a changed file
and a changed receipt (exit 1, the failing step printed)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.nodeproc import NodeProcess, free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def ledger(*args: str, check: int | None = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "client.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    if check is not None:
        assert done.returncode == check, done.stdout + done.stderr
    return done


def test_anchor_show_and_verify_offline(tmp_path: Path) -> None:
    files = tmp_path / "capture"
    (files / "assets").mkdir(parents=True)
    (files / "index.html").write_text("<html>the infringing page</html>")
    (files / "assets" / "shot.png").write_bytes(bytes(range(256)) * 40)
    node = NodeProcess(tmp_path / "data", free_port()).start()
    try:
        key = tmp_path / "admin.key"
        key.write_text(node.dev_key)
        out = tmp_path / "receipts"
        anchored = json.loads(ledger("evidence", "anchor", str(files), "--kind", "web-capture", "--case", "IP-2026-77",
                                     "--out", str(out), "--key", str(key), "--rpc", node.url, "--json").stdout)
        assert len(anchored["files"]) == 2
        shown = json.loads(ledger("evidence", "show", anchored["root"], "--rpc", node.url, "--json").stdout)
        assert shown["leafCount"] == 2 and shown["case"] == "IP-2026-77" and len(shown["anchorings"]) == 1
        missing = ledger("evidence", "show", "0x" + "ab" * 32, "--rpc", node.url, check=1)
        assert "not anchored" in missing.stderr
        assert ledger("evidence", "anchor", str(tmp_path / "nope"), "--key", str(key), "--rpc", node.url, check=2)
    finally:
        node.stop()
    genesis = str(tmp_path / "data" / "genesis.json")
    receipt = out / "capture" / "index.html.receipt.json"
    ok = ledger("evidence", "verify", str(receipt), "--file", str(files / "index.html"), "--genesis", genesis)
    assert "✓ commit seals" in ok.stdout and "VALID" in ok.stdout
    bundle = json.loads(ledger("evidence", "verify", str(out / "bundle.receipts.jsonl"), "--genesis", genesis, "--json").stdout)
    assert bundle["valid"] and len(bundle["receipts"]) == 2
    # the other file's receipt does not fit this file
    wrong = ledger("evidence", "verify", str(out / "capture" / "assets" / "shot.png.receipt.json"),
                   "--file", str(files / "index.html"), "--genesis", genesis, check=1)
    assert "✗ file" in wrong.stdout
    # a receipt whose block number was changed
    document = json.loads(receipt.read_text())
    document["anchor"]["blockNumber"] += 1
    changed = tmp_path / "changed.receipt.json"
    changed.write_text(json.dumps(document))
    bad = json.loads(ledger("evidence", "verify", str(changed), "--genesis", genesis, "--json", check=1).stdout)
    assert bad["receipts"][0]["failedStep"] == "header"
    assert ledger("evidence", "verify", str(tmp_path / "none.json"), "--genesis", genesis, check=2)


def test_encrypt_to_stores_sealed_content_that_only_the_recipient_opens(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    from client.blobs import get_blob
    from client.envelope import NotARecipient, open_envelope
    from evidence.receipt import Receipt
    from tests import pki

    court = pki.p256_ca().issue("Intermediate People's Court", "p256")
    outsider = pki.rsa_ca().issue("Someone Else", "rsa2048")
    recipient_pem = tmp_path / "court.pem"
    recipient_pem.write_bytes(court.leaf.public_bytes(serialization.Encoding.PEM))
    secret = tmp_path / "bid.pdf"
    secret.write_bytes(b"%PDF-1.7 sealed bid, not for the public\n" * 50)
    node = NodeProcess(tmp_path / "data", free_port()).start()
    try:
        key = tmp_path / "admin.key"
        key.write_text(node.dev_key)
        done = json.loads(ledger("evidence", "anchor", str(secret), "--kind", "document", "--encrypt-to", str(recipient_pem),
                                 "--out", str(tmp_path / "r"), "--key", str(key), "--rpc", node.url, "--json").stdout)
        sealed = done["files"][0]["sealed"]
        envelope = get_blob(node.url, sealed["sha256"])
    finally:
        node.stop()
    assert secret.read_bytes() not in envelope
    opened = open_envelope(envelope, court.key, court.leaf)
    receipt = Receipt.parse_text((tmp_path / "r" / "bid.pdf.receipt.json").read_text())
    import hashlib
    assert hashlib.sha256(opened).digest() == receipt.digest
    with pytest.raises(NotARecipient):
        open_envelope(envelope, outsider.key, outsider.leaf)
