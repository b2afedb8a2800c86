"""SM2 recipients on a real dev node: `ledger evidence anchor --encrypt-to` with an SM2
certificate made by `openssl` stores an SM4-GCM envelope, `ledger evidence open` opens it
with the openssl key file and the receipt proves what was read; a certificate no envelope
can be sealed for is refused before anything is anchored. And the console's envelope.js
refuses SM4-GCM envelopes and SM2 key files by naming that command, while an RSA or EC
recipient of an AES-256-GCM envelope that also names an SM2 recipient still opens it in
the page."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.integration.nodeproc import NodeProcess
from tests.openssl_sm2 import Issued, OpensslCA
from tests.unit.web.browser import PAGE_WAIT_MS, node_only_context

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SECRET = "%PDF-1.7 投标文件 sealed bid, not for the public\n".encode() * 40


def ledger(*args: str | Path, check: int | None = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "client.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    if check is not None:
        assert done.returncode == check, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Issued]:
    ca = OpensslCA(tmp_path_factory.mktemp("sm2-recipients") / "ca", "Court CA (SM2)", key_type="sm2")
    return {"clerk": ca.issue("Court Clerk"), "other": ca.issue("Someone Else"),
            "bidder": ca.issue("Bidder One", key_type="p256")}


def certificate(issued: Issued) -> x509.Certificate:
    return x509.load_pem_x509_certificate(issued.cert.read_bytes())


def fingerprint(issued: Issued) -> str:
    return "0x" + hashlib.sha256(certificate(issued).public_bytes(serialization.Encoding.DER)).hexdigest()


def header_of(envelope: bytes) -> dict[str, Any]:
    (length,) = struct.unpack(">I", envelope[7:11])
    return dict(json.loads(envelope[11:11 + length]))


def test_encrypt_to_an_sm2_certificate_and_open_it_with_the_cli(dev_node: NodeProcess, made: dict[str, Issued],
                                                                tmp_path: Path) -> None:
    from client.blobs import get_blob

    clerk, bidder, other = made["clerk"], made["bidder"], made["other"]
    key = tmp_path / "admin.key"
    key.write_text(dev_node.dev_key)
    secret = tmp_path / "bid.pdf"
    secret.write_bytes(SECRET)
    out = tmp_path / "receipts"
    done = json.loads(ledger("evidence", "anchor", secret, "--kind", "document", "--encrypt-to", clerk.cert,
                             "--encrypt-to", bidder.cert, "--out", out, "--key", key, "--rpc", dev_node.url,
                             "--json").stdout)
    sealed = done["files"][0]["sealed"]
    assert sealed["recipients"] == [fingerprint(clerk), fingerprint(bidder)]
    envelope = get_blob(dev_node.url, sealed["sha256"])
    assert SECRET not in envelope
    header = header_of(envelope)
    assert header["enc"] == "SM4-GCM" and [e["alg"] for e in header["recipients"]] == ["SM2", "ECDH-ES+HKDF-SHA256+A256KW"]

    # The clerk opens it from the sealed record, with the key file openssl wrote.
    record = out / "bid.pdf.sealed.json"
    opened = json.loads(ledger("evidence", "open", record, "--cert", clerk.cert, "--cert-key", clerk.key,
                               "--out", tmp_path / "opened.pdf", "--rpc", dev_node.url, "--json").stdout)
    assert (tmp_path / "opened.pdf").read_bytes() == SECRET
    assert opened["contentCipher"] == "SM4-GCM" and opened["recipient"] == fingerprint(clerk)
    assert opened["sha256"] == "0x" + hashlib.sha256(SECRET).hexdigest()
    # ... and the receipt proves that is what was anchored (offline).
    verified = ledger("evidence", "verify", out / "bid.pdf.receipt.json", "--file", tmp_path / "opened.pdf",
                      "--genesis", dev_node.data_dir / "genesis.json")
    assert "VALID" in verified.stdout
    # The P-256 recipient opens the same envelope, named by its SHA-256.
    ledger("evidence", "open", sealed["sha256"], "--cert", bidder.cert, "--cert-key", bidder.key,
           "--out", tmp_path / "bidder.pdf", "--rpc", dev_node.url)
    assert (tmp_path / "bidder.pdf").read_bytes() == SECRET
    # Someone else's SM2 key: not a recipient (exit 1), nothing written.
    refused = ledger("evidence", "open", record, "--cert", other.cert, "--cert-key", other.key,
                     "--out", tmp_path / "other.pdf", "--rpc", dev_node.url, check=1)
    assert "not a recipient" in refused.stderr and not (tmp_path / "other.pdf").exists()
    # The clerk's certificate with someone else's key: bad input (exit 2).
    refused = ledger("evidence", "open", record, "--cert", clerk.cert, "--cert-key", other.key,
                     "--out", tmp_path / "mixed.pdf", "--rpc", dev_node.url, check=2)
    assert "does not belong to the certificate" in refused.stderr
    # What is written is never overwritten.
    refused = ledger("evidence", "open", record, "--cert", clerk.cert, "--cert-key", clerk.key,
                     "--out", tmp_path / "opened.pdf", "--rpc", dev_node.url, check=2)
    assert "never overwritten" in refused.stderr


def test_open_reads_an_envelope_file_without_a_node(made: dict[str, Issued], tmp_path: Path) -> None:
    from client import envelope as seal

    clerk = made["clerk"]
    sealed = tmp_path / "bid.pdf.sealed"
    sealed.write_bytes(seal.seal_envelope(SECRET, [certificate(clerk)], aad=b"case 2026-17"))
    nowhere = "http://127.0.0.1:9"  # nothing listens there: a file needs no node
    common = ("--cert", clerk.cert, "--cert-key", clerk.key, "--rpc", nowhere)
    ledger("evidence", "open", sealed, *common, "--out", tmp_path / "bid.pdf", "--aad", "case 2026-17")
    assert (tmp_path / "bid.pdf").read_bytes() == SECRET
    refused = ledger("evidence", "open", sealed, *common, "--out", tmp_path / "no-aad.pdf", check=1)
    assert "decrypt content" in refused.stderr and not (tmp_path / "no-aad.pdf").exists()
    (tmp_path / "notes.json").write_text('{"file": "bid.pdf"}')
    refused = ledger("evidence", "open", tmp_path / "notes.json", *common, "--out", tmp_path / "x", check=2)
    assert "neither an envelope" in refused.stderr


def test_open_with_an_encrypted_key_and_the_refusals_of_bad_keys(made: dict[str, Issued], tmp_path: Path) -> None:
    """--password reads the encrypted key `ledger ca issue --password` writes; a key that is
    not the certificate's, a missing or wrong password and a malformed key file are bad
    input (exit 2, one line, no traceback), and nothing is written."""
    from asn1crypto import keys as asn1_keys

    from client import envelope as seal
    from client.sm2keys import SM2PrivateKey, pem_armor

    clerk, other = made["clerk"], made["other"]
    sealed = tmp_path / "bid.pdf.sealed"
    sealed.write_bytes(seal.seal_envelope(SECRET, [certificate(clerk)]))
    clerk_key = SM2PrivateKey.from_pem(clerk.key.read_bytes())
    encrypted = tmp_path / "clerk.key"
    encrypted.write_bytes(clerk_key.pem(b"court password"))
    common = ("--cert", clerk.cert, "--rpc", "http://127.0.0.1:9")
    opened = json.loads(ledger("evidence", "open", sealed, *common, "--cert-key", encrypted,
                               "--password", "court password", "--out", tmp_path / "bid.pdf", "--json").stdout)
    assert (tmp_path / "bid.pdf").read_bytes() == SECRET and opened["recipient"] == fingerprint(clerk)
    # An id-ecPublicKey key without its curve parameters (RFC 5480 requires them).
    inner = asn1_keys.PrivateKeyInfo.load(clerk_key.pkcs8_der())["private_key"].parsed
    bare = tmp_path / "bare.key"
    bare.write_bytes(pem_armor("PRIVATE KEY", asn1_keys.PrivateKeyInfo({
        "version": 0, "private_key_algorithm": {"algorithm": "ec"}, "private_key": inner}).dump()))
    refusals = {
        "does not belong to the certificate": ("--cert-key", other.key),
        "give its password": ("--cert-key", encrypted),
        "wrong password": ("--cert-key", encrypted, "--password", "not it"),
        "cannot load the private key": ("--cert-key", bare),
    }
    for reason, args in refusals.items():
        out = tmp_path / "refused.pdf"
        refused = ledger("evidence", "open", sealed, *common, *args, "--out", out, check=2)
        assert reason in refused.stderr and "Traceback" not in refused.stderr, refused.stderr
        assert not out.exists()


def test_a_certificate_no_envelope_can_be_for_is_refused_first(dev_node: NodeProcess, tmp_path: Path) -> None:
    from client import devpki
    from tests import pki

    ca = pki.p256_ca()
    odd = devpki.issue_certificate(ca.issuer, ca.issuer_key, ed25519.Ed25519PrivateKey.generate().public_key(),
                                   common_name="Ed25519 holder", not_before=pki.NOT_BEFORE, not_after=pki.NOT_AFTER)
    (tmp_path / "odd.pem").write_bytes(odd.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "file.txt").write_text("anything")
    key = tmp_path / "admin.key"
    key.write_text(dev_node.dev_key)
    refused = ledger("evidence", "anchor", tmp_path / "file.txt", "--encrypt-to", tmp_path / "odd.pem",
                     "--out", tmp_path / "receipts", "--key", key, "--rpc", dev_node.url, check=2)
    assert "cannot receive envelopes" in refused.stderr and "RSA, EC or SM2" in refused.stderr
    assert not (tmp_path / "receipts").exists()


# -- the console -------------------------------------------------------------------------------

OPEN_IN_PAGE = """async ({envelope, pem}) => {
  const m = await import("/web/static/js/envelope.js");
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  try {
    const key = await m.readPrivateKey(pem);
    const opened = await m.openEnvelope(bytes(envelope), key);
    return {content: new TextDecoder().decode(opened.content)};
  } catch (error) {
    return {step: error.step ?? null, message: error.message, command: error.command ?? null};
  }
}"""


def aes_envelope_also_for_sm2(content: bytes, ec_recipient: x509.Certificate, sm2_recipient: x509.Certificate) -> bytes:
    """AES-256-GCM content with an SM2 entry beside an EC one: not what seal_envelope makes
    (an SM2 recipient gets SM4-GCM), but what the format allows (docs/envelopes.md)."""
    from client import envelope as seal
    from client.sm2keys import encrypt
    from evidence.sm2 import SM2PublicKey

    data_key, nonce = os.urandom(32), os.urandom(12)
    base = seal.seal_with(content, [ec_recipient], aad=b"", data_key=data_key, nonce=nonce,
                          ephemeral_key=ec.generate_private_key)
    header = header_of(base)
    wrapped = encrypt(SM2PublicKey.from_certificate(sm2_recipient), data_key)
    header["recipients"].append({"alg": "SM2", "fp": seal.fingerprint(sm2_recipient).hex(),
                                 "wk": base64.urlsafe_b64encode(wrapped).rstrip(b"=").decode()})
    raw = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    prefix = b"ELSEAL\x01" + struct.pack(">I", len(raw)) + raw
    return prefix + AESGCM(data_key).encrypt(nonce, content, prefix)


def test_the_console_refuses_the_national_algorithms_naming_the_command(
        dev_node: NodeProcess, launched: Any, made: dict[str, Issued]) -> None:
    from client import envelope as seal
    from client.sm2keys import SM2PrivateKey

    clerk, bidder = made["clerk"], made["bidder"]
    content = "密封 sealed for the court".encode()
    national = seal.seal_envelope(content, [certificate(clerk), certificate(bidder)])
    mixed = aes_envelope_also_for_sm2(content, certificate(bidder), certificate(clerk))
    # The SDK opens both kinds of entry of the mixed envelope (an SM2 entry of a 32-byte key).
    clerk_key = SM2PrivateKey.from_pem(clerk.key.read_bytes())
    assert seal.open_envelope(mixed, clerk_key, certificate(clerk)) == content

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    context, elsewhere = node_only_context(launched, dev_node.url)
    try:
        page = context.new_page()
        page.goto(dev_node.url + "/")
        page.wait_for_selector("body[data-console=ready]", timeout=PAGE_WAIT_MS)
        # An SM2 key file: refused as a key, naming the command line.
        for envelope in (national, mixed):
            refused = page.evaluate(OPEN_IN_PAGE, {"envelope": b64(envelope), "pem": clerk.key.read_text()})
            assert refused["step"] == "key" and "an SM2 key" in refused["message"], refused
            assert refused["command"].startswith("ledger evidence open ENVELOPE --cert")
            assert "ledger evidence open" in refused["message"]
        # An SM4-GCM envelope, even to the P-256 recipient: refused at its cipher.
        refused = page.evaluate(OPEN_IN_PAGE, {"envelope": b64(national), "pem": bidder.key.read_text()})
        assert refused["step"] == "algorithm", refused
        assert "SM4-GCM" in refused["message"] and "1 of its 2 recipients" in refused["message"]
        assert "ledger evidence open" in refused["message"] and refused["command"]
        # AES-256-GCM with an SM2 entry beside: the P-256 recipient opens it in the page.
        opened = page.evaluate(OPEN_IN_PAGE, {"envelope": b64(mixed), "pem": bidder.key.read_text()})
        assert opened == {"content": content.decode()}
        tampered = mixed[:-1] + bytes([mixed[-1] ^ 1])
        assert page.evaluate(OPEN_IN_PAGE, {"envelope": b64(tampered), "pem": bidder.key.read_text()})["step"] == "content"
    finally:
        context.close()
    assert elsewhere == []
