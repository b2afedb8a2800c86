"""The TSA (`client/tsa_server.py`, what `ledger tsa serve` runs) as a real process on
loopback: tokens it issues verify with our verifier and with `openssl ts -verify`,
serial numbers keep rising across a restart, a wrong passphrase is refused, bad
requests get an RFC 3161 rejection; and a token from an independent TSA made with
openssl's own `ts -reply` verifies with its root, and not with ours.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import tsp
from cryptography import x509

from client import pkifiles
from client.timestamping import TimestampingError, request_timestamp
from client.tsa_server import MAX_CONCURRENT_REQUESTS, TSA_POLICY_OID
from evidence.timestamp import TimestampError, TimestampRefused, parse_response, parse_token, verify_timestamp
from tests.integration.nodeproc import _die_with_parent

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PASSPHRASE = "correct horse battery staple"
STARTUP_DEADLINE_SECONDS = 30
STOP_DEADLINE_SECONDS = 15
# openssl reads no system configuration in these tests: each call gets its own or none.
OPENSSL_ENV = {**os.environ, "OPENSSL_CONF": os.devnull}


def openssl(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, env=OPENSSL_ENV, cwd=cwd, timeout=60)


@dataclass
class TSAProcess:
    """`ledger tsa serve` on 127.0.0.1, port 0; the URL read from its first line."""

    data_dir: Path
    ca_dir: Path | None
    passphrase_file: Path
    proc: subprocess.Popen[str] | None = None
    url: str = ""
    banner: str = ""

    def start(self) -> TSAProcess:
        args = [sys.executable, "-m", "client.cli", "tsa", "serve", "--dir", str(self.data_dir), "--host", "127.0.0.1",
                "--port", "0", "--passphrase-file", str(self.passphrase_file)]
        if self.ca_dir is not None:
            args += ["--ca", str(self.ca_dir)]
        log = open(self.data_dir.parent / f"{self.data_dir.name}-tsa.log", "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO,
                                     preexec_fn=_die_with_parent)
        log.close()
        self.banner = self._first_line()
        assert self.banner.startswith("TSA listening on "), self.banner
        self.url = self.banner.split()[3]
        return self

    def _first_line(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if selector.select(timeout=0.2):
                    return self.proc.stdout.readline().strip()
                if self.proc.poll() is not None:
                    break
        self.stop()
        raise AssertionError(f"the TSA did not start: {self.log_text()[-2000:]}")

    def log_text(self) -> str:
        path = self.data_dir.parent / f"{self.data_dir.name}-tsa.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_DEADLINE_SECONDS)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_DEADLINE_SECONDS)
        code = self.proc.returncode
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None
        return code


def run_tsa_expecting_failure(data_dir: Path, ca_dir: Path | None, passphrase_file: Path | None,
                              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "client.cli", "tsa", "serve", "--dir", str(data_dir), "--port", "0"]
    if ca_dir is not None:
        args += ["--ca", str(ca_dir)]
    if passphrase_file is not None:
        args += ["--passphrase-file", str(passphrase_file)]
    environment = {k: v for k, v in os.environ.items() if k != "LEDGER_TSA_PASSPHRASE"}
    environment.update(env or {})
    return subprocess.run(args, capture_output=True, text=True, cwd=REPO, env=environment, timeout=60)


@dataclass
class Consortium:
    ca_dir: Path
    root_pem: Path
    root: x509.Certificate
    data_dir: Path
    passphrase_file: Path
    tsa: TSAProcess


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    base = tmp_path_factory.mktemp("tsa")
    ca_dir = base / "ca"
    made = subprocess.run([sys.executable, "-m", "client.cli", "ca", "new", "--name", "Consortium TSA CA",
                           "--org", "Trading Center", "--out", str(ca_dir)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert made.returncode == 0, made.stderr
    passphrase_file = base / "passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    tsa = TSAProcess(base / "data", ca_dir, passphrase_file).start()
    root = pkifiles.load_certificates((ca_dir / "ca.pem").read_bytes())[0]
    try:
        yield Consortium(ca_dir, ca_dir / "ca.pem", root, base / "data", passphrase_file, tsa)
    finally:
        tsa.stop()


def post(url: str, body: bytes, content_type: str = "application/timestamp-query") -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def digest_of(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


# -- our TSA ---------------------------------------------------------------------------------


def test_first_start_issues_a_tsa_certificate_from_the_consortium_ca(consortium: Consortium) -> None:
    assert "certificate issued" in consortium.tsa.banner and TSA_POLICY_OID in consortium.tsa.banner
    cert = pkifiles.load_certificates((consortium.data_dir / "tsa.pem").read_bytes())[0]
    assert cert.issuer == consortium.root.subject
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [x509.oid.ExtendedKeyUsageOID.TIME_STAMPING]
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    key_file = consortium.data_dir / "tsa.key"
    assert (key_file.stat().st_mode & 0o777) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in key_file.read_bytes()


def test_tokens_verify_with_our_verifier_and_with_openssl(consortium: Consortium, tmp_path: Path) -> None:
    serials = []
    for n in range(3):
        root = digest_of(f"batch {n}")
        token = request_timestamp(consortium.tsa.url, root, timeout=30)
        verified = verify_timestamp(token, root, [consortium.root], not_after=int(time.time()) + 1)
        assert verified.policy == TSA_POLICY_OID and verified.accuracy is not None
        assert verified.chain[-1] == consortium.root
        serials.append(verified.serial)
        (tmp_path / f"token{n}.der").write_bytes(token)
        result = openssl("ts", "-verify", "-digest", root.hex(), "-in", str(tmp_path / f"token{n}.der"), "-token_in",
                         "-CAfile", str(consortium.root_pem))
        assert result.returncode == 0 and "Verification: OK" in result.stdout, result.stdout + result.stderr
        # openssl refuses it for another digest, as ours does.
        result = openssl("ts", "-verify", "-digest", digest_of("other").hex(), "-in", str(tmp_path / f"token{n}.der"),
                         "-token_in", "-CAfile", str(consortium.root_pem))
        assert result.returncode != 0 and "message imprint mismatch" in result.stderr, result.stderr
    assert serials == sorted(serials) and len(set(serials)) == 3


def test_a_request_made_by_openssl_gets_a_reply_openssl_verifies(consortium: Consortium, tmp_path: Path) -> None:
    root = digest_of("openssl's own request")
    query, reply = tmp_path / "q.tsq", tmp_path / "r.tsr"
    made = openssl("ts", "-query", "-digest", root.hex(), "-sha256", "-cert", "-out", str(query))
    assert made.returncode == 0, made.stderr
    status, content_type, body = post(consortium.tsa.url, query.read_bytes())
    assert (status, content_type) == (200, "application/timestamp-reply")
    reply.write_bytes(body)
    result = openssl("ts", "-verify", "-in", str(reply), "-queryfile", str(query), "-CAfile", str(consortium.root_pem))
    assert "Verification: OK" in result.stdout, result.stdout + result.stderr
    # Without certReq the token carries no certificate: openssl needs -untrusted, ours `untrusted`.
    bare_query = tmp_path / "bare.tsq"
    assert openssl("ts", "-query", "-digest", root.hex(), "-sha256", "-out", str(bare_query)).returncode == 0
    status, _, body = post(consortium.tsa.url, bare_query.read_bytes())
    reply.write_bytes(body)
    tsa_pem = consortium.data_dir / "tsa.pem"
    result = openssl("ts", "-verify", "-in", str(reply), "-digest", root.hex(), "-CAfile", str(consortium.root_pem),
                     "-untrusted", str(tsa_pem))
    assert "Verification: OK" in result.stdout, result.stdout + result.stderr
    token = parse_response(body)
    with pytest.raises(TimestampError) as caught:
        verify_timestamp(token, root, [consortium.root])
    assert caught.value.step == "signer"
    tsa_cert = pkifiles.load_certificates(tsa_pem.read_bytes())
    assert verify_timestamp(token, root, [consortium.root], untrusted=tsa_cert).serial >= 1


def test_bad_requests_get_an_rfc3161_rejection_or_an_http_refusal(consortium: Consortium, tmp_path: Path) -> None:
    sha1 = tsp.TimeStampReq({"version": "v1", "message_imprint": {
        "hash_algorithm": {"algorithm": "sha1"}, "hashed_message": hashlib.sha1(b"x").digest()}}).dump()
    status, content_type, body = post(consortium.tsa.url, sha1)
    assert (status, content_type) == (200, "application/timestamp-reply")
    with pytest.raises(TimestampRefused) as caught:
        parse_response(body)
    assert caught.value.failures == ("bad_alg",) and "unrecognized or unsupported algorithm" in str(caught.value)
    (tmp_path / "rejected.tsr").write_bytes(body)
    shown = openssl("ts", "-reply", "-in", str(tmp_path / "rejected.tsr"), "-text")
    assert "Status: Rejected" in shown.stdout and "unrecognized or unsupported algorithm identifier" in shown.stdout, shown.stdout

    assert post(consortium.tsa.url, b"\x30\x00", "application/octet-stream")[0] == 415
    assert post(consortium.tsa.url, b"\x30" * 5000)[0] == 413
    assert post(consortium.tsa.url.rstrip("/") + "/other", sha1)[0] == 404
    with pytest.raises(TimestampingError) as refused:
        request_timestamp(consortium.tsa.url.rstrip("/") + "/other", digest_of("x"), timeout=30)
    assert refused.value.status == 404


def test_connections_beyond_the_cap_get_503_and_slots_come_back(consortium: Consortium) -> None:
    # Hold every slot with a connection that has sent half a request line; the next
    # connection is answered 503 at once. Closing the holders frees the slots.
    host, port = consortium.tsa.url.split("//")[1].rstrip("/").split(":")
    holders = []
    try:
        for _ in range(MAX_CONCURRENT_REQUESTS):
            holder = socket.create_connection((host, int(port)), timeout=10)
            holder.sendall(b"POST / HTTP/1.0\r\n")
            holders.append(holder)
        status = None
        deadline = time.monotonic() + 10
        while status != 503 and time.monotonic() < deadline:  # the holders are accepted in order, first
            try:
                status = post(consortium.tsa.url, b"\x30\x00")[0]
            except urllib.error.URLError as exc:
                # The 503 comes at once and the server closes: a client still sending its body
                # may see the close (broken pipe, reset) before it can read the answer. Ask again.
                if not isinstance(exc.reason, (BrokenPipeError, ConnectionResetError)):
                    raise
        assert status == 503
    finally:
        for holder in holders:
            holder.close()
    deadline = time.monotonic() + 10
    while True:
        try:
            token = request_timestamp(consortium.tsa.url, digest_of("after the crowd"), timeout=10)
            break
        except TimestampingError as exc:
            assert exc.status == 503 and time.monotonic() < deadline, str(exc)
    assert parse_token(token).hashed_message == digest_of("after the crowd")


def test_serials_keep_rising_across_a_restart_and_every_token_is_logged(consortium: Consortium) -> None:
    before = verify_timestamp(request_timestamp(consortium.tsa.url, digest_of("before"), timeout=30),
                              digest_of("before"), [consortium.root]).serial
    assert consortium.tsa.stop() == 0
    # The second start needs no CA: the certificate is in the TSA's directory.
    consortium.tsa = TSAProcess(consortium.data_dir, None, consortium.passphrase_file).start()
    assert "certificate loaded" in consortium.tsa.banner and f"next serial {before + 1}" in consortium.tsa.banner
    after = verify_timestamp(request_timestamp(consortium.tsa.url, digest_of("after"), timeout=30),
                             digest_of("after"), [consortium.root]).serial
    assert after == before + 1
    assert (consortium.data_dir / "serial").read_text().strip() == str(after)
    records = [json.loads(line) for line in (consortium.data_dir / "tokens.jsonl").read_text().splitlines()]
    assert [r["serial"] for r in records] == list(range(1, after + 1))
    assert records[-1]["hashedMessage"] == digest_of("after").hex()
    assert parse_token(base64.b64decode(records[-1]["token"])).serial == after


def test_a_wrong_or_missing_passphrase_is_refused_with_a_clear_error(consortium: Consortium, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase at all\n")
    result = run_tsa_expecting_failure(consortium.data_dir, None, wrong)
    assert result.returncode == 1
    assert "tsa.key: the passphrase does not decrypt it" in result.stderr and "Traceback" not in result.stderr
    result = run_tsa_expecting_failure(consortium.data_dir, None, None)
    assert result.returncode == 2 and "give --passphrase-file or set LEDGER_TSA_PASSPHRASE" in result.stderr
    result = run_tsa_expecting_failure(tmp_path / "fresh", None, None, env={"LEDGER_TSA_PASSPHRASE": PASSPHRASE})
    assert result.returncode == 2 and "give --ca" in result.stderr


# -- an independent TSA, made with openssl ---------------------------------------------------

OPENSSL_CONFIG = """\
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ root_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ tsa_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ tsa ]
default_tsa = independent
[ independent ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.7.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = {ess}
"""


@pytest.mark.parametrize("ess", ["sha1", "sha256"], ids=["ESSCertID", "ESSCertIDv2"])
def test_a_token_from_an_independent_openssl_tsa_verifies_with_its_root_only(
        consortium: Consortium, tmp_path: Path, ess: str) -> None:
    config = tmp_path / "openssl.cnf"
    config.write_text(OPENSSL_CONFIG.format(dir=tmp_path, ess=ess))
    (tmp_path / "serial").write_text("0100\n")
    steps = [
        ("req", "-config", str(config), "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "root.key",
         "-out", "root.pem", "-subj", "/O=Independent/CN=Independent Time Root", "-days", "3650",
         "-extensions", "root_ext"),
        ("req", "-config", str(config), "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key",
         "-out", "tsa.csr", "-subj", "/O=Independent/CN=Independent TSA"),
        ("x509", "-req", "-in", "tsa.csr", "-CA", "root.pem", "-CAkey", "root.key", "-set_serial", "2",
         "-days", "365", "-extfile", str(config), "-extensions", "tsa_ext", "-out", "tsa.pem"),
    ]
    for step in steps:
        result = openssl(*step, cwd=tmp_path)
        assert result.returncode == 0, f"openssl {step[0]}: {result.stderr}"
    root = digest_of(f"batch anchored beside an independent TSA ({ess})")
    assert openssl("ts", "-query", "-digest", root.hex(), "-sha256", "-cert", "-out", "q.tsq", cwd=tmp_path).returncode == 0
    replied = openssl("ts", "-reply", "-config", str(config), "-queryfile", "q.tsq", "-out", "r.tsr", cwd=tmp_path)
    assert replied.returncode == 0, replied.stderr
    token = parse_response((tmp_path / "r.tsr").read_bytes())

    independent_root = pkifiles.load_certificates((tmp_path / "root.pem").read_bytes())
    verified = verify_timestamp(token, root, independent_root, not_after=int(time.time()) + 1)
    assert verified.tsa_subject == "CN=Independent TSA,O=Independent"
    assert verified.policy == "1.3.6.1.4.1.99999.7.1" and verified.serial == 0x101  # openssl issues the one after its serial file
    assert verified.signature_algorithm == "rsa"

    # Our consortium's root does not vouch for it, nor theirs for our TSA's tokens.
    with pytest.raises(TimestampError) as caught:
        verify_timestamp(token, root, [consortium.root])
    assert caught.value.step == "certificate chain"
    ours = request_timestamp(consortium.tsa.url, root, timeout=30)
    with pytest.raises(TimestampError) as caught:
        verify_timestamp(ours, root, independent_root)
    assert caught.value.step == "certificate chain"
    # Nor does a token over another root pass for this one.
    with pytest.raises(TimestampError) as caught:
        verify_timestamp(token, digest_of("another batch"), independent_root)
    assert caught.value.step == "message imprint"


def test_a_content_length_of_thousands_of_digits_gets_an_http_answer(consortium: Consortium) -> None:
    """int() refuses over 4,300 digits with a ValueError: the request must be refused with
    an HTTP status, never dropped with a traceback in the TSA's log."""
    host, port = consortium.tsa.url.split("//")[1].rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"POST / HTTP/1.0\r\nContent-Type: application/timestamp-query\r\nContent-Length: "
                     + b"9" * 5000 + b"\r\n\r\n")
        answer = conn.recv(200)
    assert answer.startswith(b"HTTP/1.0 4"), answer


def test_a_second_tsa_on_the_same_directory_is_refused(consortium: Consortium) -> None:
    """Serials are counted in memory: a second process on the directory would issue the
    same numbers, so it does not start while the first holds the directory's lock."""
    result = run_tsa_expecting_failure(consortium.data_dir, None, consortium.passphrase_file)
    assert result.returncode == 2 and "another TSA is serving this directory" in result.stderr, result.stderr


def test_a_serial_file_behind_the_log_is_refused(consortium: Consortium, tmp_path: Path) -> None:
    """A lost or restored-from-backup `serial` would make serials repeat; the log says how
    far they went, and the TSA refuses to start below it."""
    data_dir = tmp_path / "data"
    tsa = TSAProcess(data_dir, consortium.ca_dir, consortium.passphrase_file).start()
    try:
        for text in ("one", "two"):
            request_timestamp(tsa.url, digest_of(text), timeout=30)
    finally:
        assert tsa.stop() == 0
    (data_dir / "serial").write_text("1\n")  # an older copy
    result = run_tsa_expecting_failure(data_dir, None, consortium.passphrase_file)
    assert result.returncode == 2 and "records serial 2 but serial says 1" in result.stderr, result.stderr
