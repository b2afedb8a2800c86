"""Signers: local key files (PEM, PKCS#12, keystore), the signing service's encrypted
records, tokens and HTTP edge, CloudSigner's checks of what the service answers, and
`ledger signer` exit codes."""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import http.server
import json
import socket
import stat
import threading
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from typer.testing import CliRunner

from client import cloudsign, devpki, pkifiles
from client.cli import app
from client.cloudsign import (
    AuthenticationError,
    PassphraseError,
    RecordError,
    ScryptParams,
    SignerStore,
    UserExists,
    UserRecord,
)
from client.credentials import CertificateIdentity, CredentialError
from client.signers import CloudSigner, LocalSigner, Signer, SignerError, load_signer
from evidence.x509 import CertificateError, verify_digest_signature
from tests import pki

with warnings.catch_warnings():  # starlette 1.x nudges towards httpx2; httpx works fine here
    warnings.filterwarnings("ignore", message=".*httpx")
    from fastapi.testclient import TestClient

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DIGEST = hashlib.sha256(b"tender award P-2026-001").digest()
PASSWORD = "correct horse battery staple"
PASSPHRASE = "service master passphrase 2026"
FAST_SCRYPT = ScryptParams(n=2**10, r=8, p=1)  # the format's cost is a parameter; tests need no 128 MiB
KEYSTORE_N = 2**10

runner = CliRunner()


def leaf_der(signer: Signer) -> bytes:
    return signer.chain[0].public_bytes(serialization.Encoding.DER)


def assert_signs(signer: Signer) -> None:
    verify_digest_signature(leaf_der(signer), DIGEST, signer.sign_digest(DIGEST))


@pytest.fixture(scope="module")
def identities() -> dict[str, CertificateIdentity]:
    return {
        "rsa2048": pki.rsa_ca().issue("Cloud Center", "rsa2048"),
        "p256": pki.p256_ca().issue("Cloud Tenderer", "p256"),  # chain of three: leaf, intermediate, root
        "secp256k1": pki.p384_ca().issue("Cloud Bidder", "secp256k1"),
    }


def write_pem(tmp: Path, identity: CertificateIdentity, password: str | None) -> tuple[Path, Path]:
    chain, key = tmp / "chain.pem", tmp / "key.pem"
    chain.write_bytes(devpki.chain_pem(identity.chain))
    key.write_bytes(pkifiles.private_key_pem(identity.key, password.encode() if password else None))
    return chain, key


def secp256k1_secret(identity: CertificateIdentity) -> bytes:
    assert isinstance(identity.key, ec.EllipticCurvePrivateKey)
    return identity.key.private_numbers().private_value.to_bytes(32, "big")


def write_keystore(path: Path, secret: bytes, password: str = PASSWORD, n: int = KEYSTORE_N) -> Path:
    path.write_text(json.dumps(Account.encrypt(secret, password, kdf="scrypt", iterations=n)))
    return path


# -- the interface ------------------------------------------------------------------------


def test_local_and_cloud_signers_are_signers(identities: dict[str, CertificateIdentity],
                                             fake_service: tuple[str, type[FakeService]]) -> None:
    assert LocalSigner is CertificateIdentity
    assert isinstance(identities["p256"], Signer)
    url, handler = fake_service
    cloud = CloudSigner(url, "alice", "secret-token")
    assert isinstance(cloud, Signer) and len(handler.seen_authorization) == 1  # the chain, fetched once
    assert cloud.fingerprint == identities["p256"].fingerprint
    assert cloud.root_fingerprint == identities["p256"].root_fingerprint
    assert "secret-token" not in repr(cloud)
    assert not isinstance(object(), Signer)


# -- local formats --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rsa2048", "p256", "secp256k1"])
def test_pem_chain_and_encrypted_key(tmp_path: Path, identities: dict[str, CertificateIdentity], kind: str) -> None:
    identity = identities[kind]
    chain, key = write_pem(tmp_path, identity, PASSWORD)
    signer = load_signer(cert=chain, key=key, password=PASSWORD)
    assert signer.chain_der == identity.chain_der and signer.fingerprint == identity.fingerprint
    assert_signs(signer)
    with pytest.raises(CredentialError, match="cannot load the private key"):
        load_signer(cert=chain, key=key, password="wrong")
    with pytest.raises(CredentialError):
        load_signer(cert=chain, key=key)  # encrypted, no password


def test_pkcs12(tmp_path: Path, identities: dict[str, CertificateIdentity]) -> None:
    identity = identities["p256"]
    p12 = tmp_path / "member.p12"
    p12.write_bytes(pkifiles.write_pkcs12("member", identity.key, identity.leaf, identity.chain[1:], PASSWORD.encode()))
    signer = load_signer(p12=p12, password=PASSWORD)
    assert signer.chain_der == identity.chain_der
    assert_signs(signer)
    with pytest.raises(CredentialError, match="PKCS#12"):
        load_signer(p12=p12, password="wrong")
    with pytest.raises(CredentialError, match="carries its own chain"):
        load_signer(p12=p12, cert=tmp_path / "chain.pem", password=PASSWORD)


def test_keystore_with_chain(tmp_path: Path, identities: dict[str, CertificateIdentity]) -> None:
    identity = identities["secp256k1"]
    chain, _ = write_pem(tmp_path, identity, None)
    keystore = write_keystore(tmp_path / "key.json", secp256k1_secret(identity))
    signer = load_signer(cert=chain, keystore=keystore, password=PASSWORD)
    assert signer.chain_der == identity.chain_der
    assert_signs(signer)
    # the keystore is the Ethereum one: its address is the key's account address
    assert json.loads(keystore.read_text())["address"].lower() == Account.from_key(secp256k1_secret(identity)).address[2:].lower()


def test_keystore_refusals(tmp_path: Path, identities: dict[str, CertificateIdentity]) -> None:
    identity = identities["secp256k1"]
    chain, _ = write_pem(tmp_path, identity, None)
    keystore = write_keystore(tmp_path / "key.json", secp256k1_secret(identity))
    with pytest.raises(CredentialError, match="wrong password"):
        load_signer(cert=chain, keystore=keystore, password="wrong")
    with pytest.raises(CredentialError, match="always encrypted"):
        load_signer(cert=chain, keystore=keystore)
    with pytest.raises(CredentialError, match="give the certificate chain"):
        load_signer(keystore=keystore, password=PASSWORD)
    other = write_keystore(tmp_path / "other.json", secp256k1_secret(pki.p384_ca().issue("Someone Else", "secp256k1")))
    with pytest.raises(CredentialError, match="does not belong to the leaf"):
        load_signer(cert=chain, keystore=other, password=PASSWORD)
    (tmp_path / "p256").mkdir()
    p256_chain, _ = write_pem(tmp_path / "p256", identities["p256"], None)
    with pytest.raises(CredentialError, match="not secp256k1"):
        load_signer(cert=p256_chain, keystore=keystore, password=PASSWORD)
    # A keystore asking for 2^30 scrypt rounds (1 TiB) is refused before anything runs.
    document = json.loads(keystore.read_text())
    document["crypto"]["kdfparams"]["n"] = 2**30
    costly = tmp_path / "costly.json"
    costly.write_text(json.dumps(document))
    with pytest.raises(CredentialError, match="exceeds"):
        load_signer(cert=chain, keystore=costly, password=PASSWORD)
    (tmp_path / "big.json").write_bytes(b" " * (70 * 1024))
    with pytest.raises(CredentialError, match="larger than"):
        load_signer(cert=chain, keystore=tmp_path / "big.json", password=PASSWORD)
    (tmp_path / "v1.json").write_text(json.dumps({"version": 1}))
    with pytest.raises(CredentialError, match="version 3"):
        load_signer(cert=chain, keystore=tmp_path / "v1.json", password=PASSWORD)


def test_load_signer_wants_exactly_one_key_source(tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match="exactly one"):
        load_signer(cert=tmp_path / "c.pem")
    with pytest.raises(CredentialError, match="exactly one"):
        load_signer(cert=tmp_path / "c.pem", key=tmp_path / "k.pem", keystore=tmp_path / "k.json")


# -- the service's records --------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> SignerStore:
    return SignerStore.open(tmp_path / "signer", PASSPHRASE, create=True, scrypt=FAST_SCRYPT)


def record_path(store: SignerStore, user: str) -> Path:
    return store.directory / cloudsign.USERS_DIR / f"{user}.json"


def test_record_holds_no_key_bytes_and_no_token(store: SignerStore, identities: dict[str, CertificateIdentity]) -> None:
    tokens = {kind: store.add_user(f"user-{kind}", identity, now=NOW) for kind, identity in identities.items()}
    everything = b"".join(p.read_bytes() for p in store.directory.rglob("*") if p.is_file())
    for kind, identity in identities.items():
        der = identity.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        numbers = identity.key.private_numbers()
        secret = numbers.private_value if isinstance(identity.key, ec.EllipticCurvePrivateKey) else numbers.d  # type: ignore[union-attr]
        secret_bytes = secret.to_bytes((secret.bit_length() + 7) // 8, "big")
        for form in (der, der.hex().encode(), base64.b64encode(der), secret_bytes, secret_bytes.hex().encode(),
                     pkifiles.private_key_pem(identity.key).split(b"\n")[1]):
            assert form not in everything, kind
        token = tokens[kind].encode()
        assert token not in everything
        document = json.loads(record_path(store, f"user-{kind}").read_text())
        assert document["token_sha256"] == "0x" + hashlib.sha256(token).hexdigest()
        assert document["certificates"].encode() == devpki.chain_pem(identity.chain)


def test_files_are_private(store: SignerStore, identities: dict[str, CertificateIdentity]) -> None:
    store.add_user("alice", identities["p256"], now=NOW)
    store.sign(store.record("alice"), DIGEST, now=NOW)
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    for name in (cloudsign.SERVICE_FILE, f"{cloudsign.USERS_DIR}/alice.json", cloudsign.AUDIT_FILE):
        assert stat.S_IMODE((store.directory / name).stat().st_mode) == 0o600, name


def test_wrong_passphrase_is_refused_at_open(store: SignerStore, identities: dict[str, CertificateIdentity]) -> None:
    store.add_user("alice", identities["p256"], now=NOW)
    with pytest.raises(PassphraseError, match="wrong master passphrase"):
        SignerStore.open(store.directory, PASSPHRASE + "!")
    with pytest.raises(PassphraseError):
        SignerStore.open(store.directory, PASSPHRASE + "!", create=True)  # create never overwrites a store
    reopened = SignerStore.open(store.directory, PASSPHRASE)
    verify_digest_signature(leaf_der(identities["p256"]), DIGEST, reopened.sign(reopened.record("alice"), DIGEST, now=NOW))
    # And without the check: another master key does not open a record either.
    with pytest.raises(RecordError, match="does not authenticate"):
        cloudsign.open_key(cloudsign.derive_master_key(b"another passphrase", b"\x00" * 16, FAST_SCRYPT), store.record("alice"))


def _flip(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def _document_edits(other: CertificateIdentity) -> dict[str, Callable[[dict[str, Any]], None]]:
    def set_key(field: str, value: Callable[[str], str]) -> Callable[[dict[str, Any]], None]:
        return lambda d: d["key"].__setitem__(field, value(d["key"][field]))

    return {
        "ciphertext": set_key("ciphertext", lambda v: "0x" + _flip(bytes.fromhex(v[2:])).hex()),
        "nonce": set_key("nonce", lambda v: "0x" + _flip(bytes.fromhex(v[2:])).hex()),
        "salt": set_key("salt", lambda v: "0x" + _flip(bytes.fromhex(v[2:])).hex()),
        "token hash": lambda d: d.__setitem__("token_sha256", "0x" + hashlib.sha256(b"attacker's token").hexdigest()),
        "chain": lambda d: d.__setitem__("certificates", devpki.chain_pem(other.chain).decode()),
    }


@pytest.mark.parametrize("field", ["ciphertext", "nonce", "salt", "token hash", "chain"])
def test_a_changed_record_does_not_open(store: SignerStore, identities: dict[str, CertificateIdentity], field: str) -> None:
    store.add_user("alice", identities["p256"], now=NOW)
    path = record_path(store, "alice")
    document = json.loads(path.read_text())
    _document_edits(identities["rsa2048"])[field](document)
    path.write_text(json.dumps(document))
    with pytest.raises(RecordError, match="does not authenticate"):
        store.sign(store.record("alice"), DIGEST, now=NOW)
    assert not (store.directory / cloudsign.AUDIT_FILE).exists()  # nothing signed, nothing logged


def test_a_token_hash_planted_by_someone_who_can_write_the_directory_signs_nothing(
    store: SignerStore, identities: dict[str, CertificateIdentity]
) -> None:
    store.add_user("alice", identities["p256"], now=NOW)
    path = record_path(store, "alice")
    document = json.loads(path.read_text())
    document["token_sha256"] = "0x" + hashlib.sha256(b"planted").hexdigest()
    path.write_text(json.dumps(document))
    record = store.authenticate("alice", "planted")  # the planted token passes the hash check ...
    with pytest.raises(RecordError):
        store.sign(record, DIGEST, now=NOW)          # ... but the key no longer decrypts


def test_a_record_moved_to_another_user_does_not_open(store: SignerStore, identities: dict[str, CertificateIdentity]) -> None:
    store.add_user("alice", identities["p256"], now=NOW)
    document = json.loads(record_path(store, "alice").read_text())
    document["user"] = "mallory"
    record_path(store, "mallory").write_text(json.dumps(document))
    with pytest.raises(RecordError, match="does not authenticate"):
        store.sign(store.record("mallory"), DIGEST, now=NOW)
    record_path(store, "eve").write_text(record_path(store, "alice").read_text())  # names alice inside
    with pytest.raises(RecordError, match="names user 'alice'"):
        store.record("eve")


def test_tokens_are_random_hashed_and_compared(store: SignerStore, identities: dict[str, CertificateIdentity]) -> None:
    first = store.add_user("alice", identities["p256"], now=NOW)
    assert len(base64.urlsafe_b64decode(first + "=")) == cloudsign.TOKEN_BYTES
    with pytest.raises(UserExists):
        store.add_user("alice", identities["p256"], now=NOW)
    second = store.add_user("alice", identities["p256"], now=NOW, replace=True)
    assert second != first
    assert store.authenticate("alice", second).user == "alice"
    assert cloudsign.token_matches(hashlib.sha256(second.encode()).digest(), second)
    messages = set()
    for user, token in (("alice", first), ("alice", second + "x"), ("alice", ""), ("nobody", second), ("../alice", second)):
        with pytest.raises(AuthenticationError) as refused:
            store.authenticate(user, token)
        messages.add(str(refused.value))
    assert messages == {"unknown user or wrong token"}  # an unknown user looks like a wrong token


def test_signatures_are_audited(store: SignerStore, identities: dict[str, CertificateIdentity]) -> None:
    for kind, identity in identities.items():
        store.add_user(kind, identity, now=NOW)
        signature = store.sign(store.record(kind), DIGEST, now=NOW, remote="127.0.0.1:5000")
        verify_digest_signature(leaf_der(identity), DIGEST, signature)
    lines = [json.loads(line) for line in (store.directory / cloudsign.AUDIT_FILE).read_text().splitlines()]
    assert [entry["user"] for entry in lines] == list(identities)
    assert lines[0] == {"time": "2026-03-01T12:00:00.000000Z", "event": "sign", "user": "rsa2048",
                        "digest": "0x" + DIGEST.hex(), "certificate": "0x" + identities["rsa2048"].fingerprint.hex(),
                        "remote": "127.0.0.1:5000"}


@pytest.mark.parametrize("user", ["", ".hidden", "..", "a/b", "-x", "x" * 65, "ä"])
def test_user_ids_are_file_names_and_path_segments(store: SignerStore, identities: dict[str, CertificateIdentity], user: str) -> None:
    with pytest.raises(ValueError, match="user id"):
        store.add_user(user, identities["p256"], now=NOW)


def test_record_round_trip(store: SignerStore, identities: dict[str, CertificateIdentity]) -> None:
    store.add_user("alice", identities["p256"], now=NOW)
    record = store.record("alice")
    assert UserRecord.parse(record.to_document(), "alice") == record
    assert record.chain == identities["p256"].chain and record.created_at == "2026-03-01T12:00:00.000000Z"
    broken = record.to_document()
    del broken["key"]["nonce"]
    with pytest.raises(RecordError, match="malformed"):
        UserRecord.parse(broken, "alice")
    assert [user for user, _ in cloudsign.list_records(store.directory)] == ["alice"]


# -- the HTTP edge ------------------------------------------------------------------------------


@pytest.fixture
def service(store: SignerStore, identities: dict[str, CertificateIdentity]) -> tuple[TestClient, str]:
    token = store.add_user("alice", identities["p256"], now=NOW)
    return TestClient(create_app_fixed(store)), token


def create_app_fixed(store: SignerStore) -> Any:
    return cloudsign.create_app(store, clock=lambda: NOW)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_http_certificate_and_sign(service: tuple[TestClient, str], identities: dict[str, CertificateIdentity]) -> None:
    client, token = service
    assert client.get("/healthz").json() == {"status": "ok"}
    pem = client.get("/v1/users/alice/certificate", headers=bearer(token))
    assert pem.status_code == 200 and pem.content == devpki.chain_pem(identities["p256"].chain)
    answer = client.post("/v1/users/alice/sign", json={"digest": "0x" + DIGEST.hex()}, headers=bearer(token))
    assert answer.status_code == 200
    verify_digest_signature(leaf_der(identities["p256"]), DIGEST, bytes.fromhex(answer.json()["signature"][2:]))


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic YWxpY2U6eA=="},
                                     {"Authorization": "Bearer " + "x" * 300}])
def test_http_401_without_the_right_token(service: tuple[TestClient, str], headers: dict[str, str]) -> None:
    client, _ = service
    for response in (client.get("/v1/users/alice/certificate", headers=headers),
                     client.post("/v1/users/alice/sign", json={"digest": "0x" + DIGEST.hex()}, headers=headers)):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "token" in response.json()["error"].lower()


def test_http_unknown_user_is_401_like_a_wrong_token(service: tuple[TestClient, str]) -> None:
    client, token = service
    unknown = client.post("/v1/users/bob/sign", json={"digest": "0x" + DIGEST.hex()}, headers=bearer(token))
    wrong = client.post("/v1/users/alice/sign", json={"digest": "0x" + DIGEST.hex()}, headers=bearer(token + "x"))
    assert unknown.status_code == wrong.status_code == 401 and unknown.json() == wrong.json()
    assert client.get("/v1/users/..%2Fservice/certificate", headers=bearer(token)).status_code in (401, 404)


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b'{"digest": 1}', b'{"digest": "' + DIGEST.hex().encode() + b'"}',
    b'{"digest": "0x' + DIGEST.hex()[:-2].encode() + b'"}', b'{"digest": "0x' + b"zz" * 32 + b'"}',
    b'{"digest": "0x' + DIGEST.hex().encode() + b'", "extra": 1}',
])
def test_http_400_for_a_malformed_digest(service: tuple[TestClient, str], body: bytes) -> None:
    client, token = service
    response = client.post("/v1/users/alice/sign", content=body, headers=bearer(token))
    assert response.status_code == 400 and response.json()["error"]


def test_http_413_over_the_body_cap(service: tuple[TestClient, str]) -> None:
    client, token = service
    padded = json.dumps({"digest": "0x" + DIGEST.hex()}) + " " * cloudsign.MAX_BODY_BYTES
    response = client.post("/v1/users/alice/sign", content=padded, headers=bearer(token))
    assert response.status_code == 413 and str(cloudsign.MAX_BODY_BYTES) in response.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap holds on what arrives
        for _ in range(8):
            yield b" " * 1024

    streamed = client.post("/v1/users/alice/sign", content=chunks(), headers=bearer(token))
    assert streamed.status_code == 413


def test_http_500_for_a_changed_record_and_nothing_audited(service: tuple[TestClient, str], store: SignerStore) -> None:
    client, token = service
    path = record_path(store, "alice")
    document = json.loads(path.read_text())
    document["key"]["ciphertext"] = "0x" + _flip(bytes.fromhex(document["key"]["ciphertext"][2:])).hex()
    path.write_text(json.dumps(document))
    response = client.post("/v1/users/alice/sign", json={"digest": "0x" + DIGEST.hex()}, headers=bearer(token))
    assert response.status_code == 500 and "cannot be opened" in response.json()["error"]
    assert not (store.directory / cloudsign.AUDIT_FILE).exists()


# -- CloudSigner against services that misbehave ------------------------------------------------


class FakeService(http.server.BaseHTTPRequestHandler):
    """Serves a chain and answers sign requests as `behaviour` says."""

    chain_pem = b""
    behaviour: Callable[[FakeService], None] = staticmethod(lambda handler: None)
    seen_authorization: list[str | None] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.seen_authorization.append(self.headers.get("Authorization"))
        if self.path == "/elsewhere/v1/users/alice/certificate":
            self.reply(200, b"")
        else:
            self.reply(200, self.chain_pem)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).behaviour(self)


@pytest.fixture
def fake_service(identities: dict[str, CertificateIdentity]) -> Iterator[tuple[str, type[FakeService]]]:
    handler = type("Handler", (FakeService,), {"chain_pem": devpki.chain_pem(identities["p256"].chain), "seen_authorization": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_cloud_signer_checks_the_signature_it_gets(fake_service: tuple[str, type[FakeService]],
                                                   identities: dict[str, CertificateIdentity]) -> None:
    url, handler = fake_service
    other_key = devpki.generate_key("p256")
    handler.behaviour = staticmethod(lambda h: h.reply(200, json.dumps(
        {"signature": "0x" + devpki.sign_digest(other_key, DIGEST).hex()}).encode()))
    signer = CloudSigner(url, "alice", "tok")
    assert signer.chain_der == identities["p256"].chain_der
    with pytest.raises(SignerError, match="does not verify"):
        signer.sign_digest(DIGEST)
    assert handler.seen_authorization == ["Bearer tok"]
    # the right key's signature passes
    handler.behaviour = staticmethod(lambda h: h.reply(200, json.dumps(
        {"signature": "0x" + devpki.sign_digest(identities["p256"].key, DIGEST).hex()}).encode()))
    verify_digest_signature(leaf_der(signer), DIGEST, signer.sign_digest(DIGEST))


@pytest.mark.parametrize("status, body, headers, expected", [
    (401, b'{"error": "unknown user or wrong token"}', {}, "HTTP 401: unknown user or wrong token"),
    (500, b"<html>oops</html>", {}, "HTTP 500: Internal Server Error"),
    (200, b'{"sig": "0x00"}', {}, "not {\"signature\""),
    (200, b'{"signature": "0xzz"}', {}, "not {\"signature\""),
    (302, b"", {"Location": "/elsewhere"}, "redirect to '/elsewhere'; not followed"),
])
def test_cloud_signer_reports_the_service_reason(fake_service: tuple[str, type[FakeService]], status: int, body: bytes,
                                                 headers: dict[str, str], expected: str) -> None:
    url, handler = fake_service
    handler.behaviour = staticmethod(lambda h: h.reply(status, body, headers))
    with pytest.raises(SignerError) as refused:
        CloudSigner(url, "alice", "tok").sign_digest(DIGEST)
    assert expected in str(refused.value)
    assert refused.value.status == (status if status != 200 else None)


def test_cloud_signer_unreachable_and_url_rules(fake_service: tuple[str, type[FakeService]]) -> None:
    with pytest.raises(SignerError, match="cannot reach") as refused:
        CloudSigner(f"http://127.0.0.1:{free_port()}", "alice", "tok", timeout=2)
    assert refused.value.status is None
    for url in ("http://signer.example.org", "http://0.0.0.0:1"):
        with pytest.raises(ValueError, match="plain http"):
            CloudSigner(url, "alice", "tok")
    # accepted (so it got as far as connecting, and nothing listens there)
    with pytest.raises(SignerError, match="cannot reach"):
        CloudSigner(f"http://0.0.0.0:{free_port()}", "alice", "tok", allow_plain_http=True, timeout=2)
    with pytest.raises(SignerError, match="cannot reach"):
        CloudSigner(f"https://127.0.0.1:{free_port()}", "alice", "tok", timeout=2)
    with pytest.raises(ValueError, match="http"):
        CloudSigner("ftp://127.0.0.1", "alice", "tok")
    for token in ("", "tok\r\nX-Injected: 1", "tok en"):
        with pytest.raises(ValueError, match="token must be"):
            CloudSigner(fake_service[0], "alice", token)
    with pytest.raises(ValueError, match="digest must be 32 bytes"):
        CloudSigner(fake_service[0], "alice", "tok").sign_digest(b"short")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_verify_digest_signature_rejects_a_wrong_signature(identities: dict[str, CertificateIdentity]) -> None:
    """assert_signs can fail: the verifier refuses a signature over another digest."""
    signature = identities["p256"].sign_digest(DIGEST)
    with pytest.raises(CertificateError):
        verify_digest_signature(leaf_der(identities["p256"]), hashlib.sha256(b"other").digest(), signature)


# -- `ledger signer` -----------------------------------------------------------------------------


def invoke(args: list[str], passphrase: str | None = PASSPHRASE) -> Any:
    env = {"LEDGER_SIGNER_PASSPHRASE": passphrase or "", "LEDGER_CERT_PASSWORD": ""}
    return runner.invoke(app, ["signer", *args], env=env)


def test_cli_add_user_list_and_refusals(tmp_path: Path, identities: dict[str, CertificateIdentity]) -> None:
    chain, key = write_pem(tmp_path, identities["p256"], PASSWORD)
    directory = str(tmp_path / "signer")
    add = ["add-user", "--dir", directory, "--user", "alice", "--cert", str(chain), "--cert-key", str(key), "--password", PASSWORD]
    added = invoke(add)
    assert added.exit_code == 0, added.output
    token = added.stdout.strip()
    assert len(token) == 43 and "shown this once" in added.stderr
    record = SignerStore.open(Path(directory), PASSPHRASE).authenticate("alice", token)
    assert record.chain == identities["p256"].chain
    listed = invoke(["list", "--dir", directory, "--json"], passphrase=None)
    assert listed.exit_code == 0, listed.output
    users = json.loads(listed.stdout)["users"]
    assert [(u["user"], u["fingerprint"], u["chainLength"]) for u in users] == [("alice", "0x" + identities["p256"].fingerprint.hex(), 3)]
    assert invoke(add).exit_code == 1                                        # exists
    assert invoke([*add[:4], "bob", *add[5:]], passphrase=PASSPHRASE + "?").exit_code == 1  # wrong passphrase
    assert invoke([*add[:4], "bob", *add[5:]], passphrase=None).exit_code == 2              # none given
    assert invoke([*add[:4], "bob", *add[5:]], passphrase="short").exit_code == 2
    assert invoke([*add[:4], "../bob", *add[5:]]).exit_code == 2
    assert invoke([*add[:-1], "wrong"]).exit_code == 2                       # the key's password
    assert invoke(["add-user", "--dir", directory, "--user", "bob", "--cert", str(chain)]).exit_code == 2
    # a record changed on disk makes `list` exit 1 naming it
    (Path(directory) / "users" / "carol.json").write_text("{}")
    broken = invoke(["list", "--dir", directory, "--json"], passphrase=None)
    assert broken.exit_code == 1 and json.loads(broken.stdout)["users"][1]["user"] == "carol"


def test_cli_serve_refuses_remote_and_missing_stores(tmp_path: Path) -> None:
    refused = invoke(["serve", "--dir", str(tmp_path), "--host", "0.0.0.0"])
    assert refused.exit_code == 1 and "--allow-remote" in refused.stderr
    missing = invoke(["serve", "--dir", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "not a signing service directory" in missing.stderr


def test_scrypt_default_cost_is_recorded(tmp_path: Path) -> None:
    store = SignerStore.open(tmp_path / "s", PASSPHRASE, create=True, scrypt=dataclasses.replace(FAST_SCRYPT, n=2**11))
    kdf = json.loads((store.directory / cloudsign.SERVICE_FILE).read_text())["kdf"]
    assert (kdf["name"], kdf["n"], kdf["r"], kdf["p"]) == ("scrypt", 2**11, 8, 1)
    assert cloudsign.DEFAULT_SCRYPT.n == 2**17
