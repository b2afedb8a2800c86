"""A time-stamping authority a consortium can run: RFC 3161 over HTTP (`ledger tsa serve`).

    ledger tsa serve --ca DIR --dir DATA [--host H] [--port P] [--passphrase-file F]

`--ca` is a directory made by `ledger ca new` (ca.pem, ca.key, chain.pem). On its first
start the TSA makes its own key and has that CA issue its certificate: keyUsage
digitalSignature + nonRepudiation, and a critical extendedKeyUsage of timeStamping only
(RFC 3161 §2.3). Its directory DATA then holds (docs/timestamps.md):

    tsa.key      the TSA's private key, PKCS#8 encrypted with the passphrase (0600)
    tsa.pem      its certificate; chain.pem: that certificate up to the CA's root
    serial       the last serial number issued, replaced atomically before each answer
    tokens.jsonl one JSON line per token issued (serial, time, imprint, nonce, the token)

Protocol: `POST /` with `Content-Type: application/timestamp-query` and a DER
TimeStampReq; the answer is a DER TimeStampResp, `application/timestamp-reply`. A
request the TSA will not serve still gets a TimeStampResp: status rejection with the
PKIFailureInfo that says why (badAlg for an imprint hash other than SHA-256/384/512,
badDataFormat for bytes that are not a request, unacceptedPolicy, unacceptedExtension).
Each token states the policy `TSA_POLICY_OID` and an accuracy of `ACCURACY`, echoes the
request's nonce, and carries the TSA certificate when the request sets certReq.

Serial numbers only go up, across restarts and crashes: the next one is written (and
fsynced) to `serial` before the token is signed, and the token is appended (and
fsynced) to tokens.jsonl before it is sent. A crash between the two loses a serial
number, never repeats one; no token leaves the TSA unlogged.

The HTTP side is the standard library's ThreadingHTTPServer rather than uvicorn: each
request is a few hundred bytes in, one signature and two fsyncs under a lock, a few KiB
out — thread-per-connection work with nothing to wait on concurrently — and a TSA a
court or a member runs should need nothing beyond `cryptography` and `asn1crypto`.
Connections beyond `MAX_CONCURRENT_REQUESTS` are answered 503 at once; a connection
that goes quiet for `REQUEST_TIMEOUT_SECONDS` is dropped; bodies over
`MAX_REQUEST_BYTES` are refused unread.

The pure part (`parse_request`, `build_tst_info`, `sign_token`, the response builders)
takes its time, serial and key as arguments; `Authority` adds the serial file, the log
and the clock; `serve` and `main` the socket and the files. (Over 600 lines: those three
layers of one small server read best together; the verifier is evidence/timestamp.py.)
"""
from __future__ import annotations

import argparse
import base64
import fcntl
import hashlib
import json
import os
import re
import signal
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from asn1crypto import cms, core, tsp, x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from client import devpki, pkifiles
from client.atomicfile import fsync_dir, write_atomic
from client.errors import ClientError
from evidence.timestamp import MAX_SERIAL_BITS, TST_INFO_CONTENT_TYPE, TimeStampResp

# Our own OID arc: 2.25 is ITU-T X.667's arc for UUID-named objects, which anyone may use
# without registering (the UUID e7deaf32-a441-4c37-8bfb-786471454949, drawn at random for
# this project, as an integer). Under it, .1 is time-stamping and .1.1 its policy, v1.
LEDGER_OID_ARC = "2.25.308207910362833544843340224033519389001"
TSA_POLICY_OID = f"{LEDGER_OID_ARC}.1.1"
# The time in a token is the host clock's, to the millisecond. The operator keeps that
# clock disciplined (NTP/chrony: tens of milliseconds); one second states a bound the
# TSA can keep even while its time source is briefly unreachable.
ACCURACY = timedelta(seconds=1)
# A TimeStampReq is ~60 bytes for SHA-256 (~100 with SHA-512, a nonce and a policy);
# 4 KiB leaves room for request extensions, which are refused anyway, and no more is read.
MAX_REQUEST_BYTES = 4096
# Requests served at once; more connections get 503 without a thread. Each costs one
# signature and two fsyncs under one lock, so 16 keeps the lock busy without queueing
# a crowd behind it, and bounds threads and sockets whatever arrives.
MAX_CONCURRENT_REQUESTS = 16
# How long one read from a connection may wait (the socket timeout): a client that stops
# sending frees its slot after this; a request arrives in one or two reads.
REQUEST_TIMEOUT_SECONDS = 10
# The passphrase is the only thing protecting the TSA key at rest (as the signing
# service's master passphrase: client/cloudsign.py).
MIN_PASSPHRASE_CHARS = 12
PASSPHRASE_ENV = "LEDGER_TSA_PASSPHRASE"
# 3161, after the RFC; above 1024, so no privileges are needed.
DEFAULT_PORT = 3161
DEFAULT_NAME = "evidence-ledger TSA"
DEFAULT_DAYS = 365
# Imprint hashes the TSA stamps, with their lengths. SHA-1 and MD5 are refused (badAlg):
# a token over a digest whose collisions can be made proves little about either file.
IMPRINT_HASHES = {"sha256": 32, "sha384": 48, "sha512": 64}

KEY_FILE = "tsa.key"
CERT_FILE = "tsa.pem"
CHAIN_FILE = "chain.pem"
SERIAL_FILE = "serial"
LOG_FILE = "tokens.jsonl"
# Held (flock) while a TSA serves the directory: serials are counted in memory, so a
# second process on the same directory would issue the same numbers.
LOCK_FILE = "lock"
# The end of tokens.jsonl read at start to find the last serial logged: a line is one token
# in base64 (~1-3 KiB; at most MAX_TOKEN_BYTES * 4/3), so 256 KiB holds several lines.
LOG_TAIL_BYTES = 256 * 1024

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"


class TSAError(ClientError):
    """The TSA cannot start: `path` names the file or directory concerned, when one is."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(f"{path}: {message}" if path is not None else message)
        self.path = path
        self.message = message


class PassphraseRefused(TSAError):
    """The passphrase does not decrypt tsa.key."""


class Rejection(ClientError):
    """A request the TSA refuses; `failure` is the PKIFailureInfo bit name sent back."""

    def __init__(self, failure: str, text: str) -> None:
        super().__init__(text)
        self.failure = failure
        self.text = text


# -- the pure part: requests, tokens, responses ---------------------------------------------


@dataclass(frozen=True)
class Request:
    """A TimeStampReq the TSA will serve."""

    hash_algorithm: str
    hashed_message: bytes
    nonce: int | None
    cert_req: bool
    policy: str | None
    imprint: tsp.MessageImprint


def parse_request(der: bytes, policy: str = TSA_POLICY_OID) -> Request:
    """The request in `der`, or `Rejection` saying, in RFC 3161's terms, why not."""
    try:
        request = tsp.TimeStampReq.load(der, strict=True)
        version = request["version"].native
        imprint = request["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"]
        hashed = bytes(imprint["hashed_message"].native)
        req_policy = request["req_policy"]
        nonce = request["nonce"]
        extensions = request["extensions"]
        cert_req = bool(request["cert_req"].native)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise Rejection("bad_data_format", f"not a DER TimeStampReq: {exc}") from None
    if version != "v1":
        raise Rejection("bad_data_format", f"TimeStampReq version {version} is not 1")
    name = str(algorithm.native)  # asn1crypto's name ("sha256"), or the dotted OID of one it does not know
    if name not in IMPRINT_HASHES:
        raise Rejection("bad_alg", f"the imprint's hash algorithm {name} is not accepted "
                                   f"({', '.join(a.upper() for a in IMPRINT_HASHES)} only)")
    if len(hashed) != IMPRINT_HASHES[name]:
        raise Rejection("bad_data_format", f"a {name} imprint is {IMPRINT_HASHES[name]} bytes, not {len(hashed)}")
    requested = None if isinstance(req_policy, core.Void) else req_policy.dotted
    if requested is not None and requested != policy:
        raise Rejection("unaccepted_policy", f"this TSA issues tokens under policy {policy} only")
    if not isinstance(extensions, core.Void) and len(extensions):
        raise Rejection("unaccepted_extensions", "this TSA accepts no request extensions")
    nonce_value = None if isinstance(nonce, core.Void) else int(nonce.native)
    if nonce_value is not None and (nonce_value < 0 or nonce_value.bit_length() > MAX_SERIAL_BITS):
        raise Rejection("bad_request", f"the nonce must be a non-negative integer of at most {MAX_SERIAL_BITS} bits")
    return Request(hash_algorithm=name, hashed_message=hashed, nonce=nonce_value, cert_req=cert_req,
                   policy=requested, imprint=tsp.MessageImprint({
                       "hash_algorithm": {"algorithm": name}, "hashed_message": hashed}))


def build_tst_info(request: Request, *, serial: int, gen_time: datetime, policy: str = TSA_POLICY_OID,
                   accuracy: timedelta = ACCURACY) -> bytes:
    """The DER TSTInfo the token signs: the request's imprint and nonce, our serial and time."""
    if gen_time.tzinfo is None:
        raise ValueError("gen_time must be timezone-aware")
    whole = int(accuracy.total_seconds())
    millis = (accuracy - timedelta(seconds=whole)) // timedelta(milliseconds=1)
    accuracy_fields: dict[str, int] = {}
    if whole:
        accuracy_fields["seconds"] = whole
    if millis:
        accuracy_fields["millis"] = millis
    tst_info = tsp.TSTInfo({
        "version": "v1",
        "policy": policy,
        "message_imprint": request.imprint,
        "serial_number": serial,
        "gen_time": gen_time.astimezone(UTC),
        "accuracy": accuracy_fields,
    })
    if request.nonce is not None:
        tst_info["nonce"] = request.nonce
    return bytes(tst_info.dump())


def _digest_for(key: devpki.PrivateKey) -> str:
    # Match the hash to the key's strength: P-384 with SHA-384, everything else SHA-256.
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1":
        return "sha384"
    return "sha256"


def sign_token(tst_info_der: bytes, key: devpki.PrivateKey, cert: x509.Certificate,
               extra_certs: Sequence[x509.Certificate] = (), *, include_certs: bool = True) -> bytes:
    """A DER ContentInfo/SignedData over the TSTInfo: the TimeStampToken.

    Signed attributes: content-type id-ct-TSTInfo, message-digest, and an ESSCertIDv2
    (SHA-256 of the certificate, with its issuer and serial). With `include_certs` the
    certificate (and `extra_certs`, the CA chain below the root) travel in the token.
    """
    digest_name = _digest_for(key)
    cert_der = cert.public_bytes(serialization.Encoding.DER)
    cert_asn1 = asn1_x509.Certificate.load(cert_der)
    message_digest = hashlib.new(digest_name, tst_info_der).digest()
    signed_attrs = cms.CMSAttributes([
        cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
        cms.CMSAttribute({"type": "message_digest", "values": [message_digest]}),
        cms.CMSAttribute({"type": "signing_certificate_v2", "values": [tsp.SigningCertificateV2({
            "certs": [tsp.ESSCertIDv2({
                "cert_hash": hashlib.sha256(cert_der).digest(),  # hashAlgorithm: its default, SHA-256
                "issuer_serial": {
                    "issuer": [asn1_x509.GeneralName({"directory_name": cert_asn1.issuer})],
                    "serial_number": cert_asn1.serial_number,
                },
            })],
        })]}),
    ])
    # RFC 5652 §5.4: the signature covers the attributes' DER with the SET OF tag.
    to_sign = signed_attrs.dump()
    hash_algorithm = hashes.SHA384() if digest_name == "sha384" else hashes.SHA256()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(to_sign, ec.ECDSA(hash_algorithm, deterministic_signing=True))
        signature_algorithm = f"{digest_name}_ecdsa"
    elif isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(to_sign, padding.PKCS1v15(), hash_algorithm)
        signature_algorithm = f"{digest_name}_rsa"
    else:
        raise TypeError(f"unsupported TSA key type {type(key).__name__}")
    signer_info = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber({
            "issuer": cert_asn1.issuer, "serial_number": cert_asn1.serial_number})}),
        "digest_algorithm": {"algorithm": digest_name},
        "signed_attrs": signed_attrs,
        "signature_algorithm": {"algorithm": signature_algorithm},
        "signature": signature,
    })
    signed_data = cms.SignedData({
        "version": "v3",  # RFC 5652 §5.1: v3 when the content is not id-data
        "digest_algorithms": [{"algorithm": digest_name}],
        "encap_content_info": {"content_type": TST_INFO_CONTENT_TYPE,
                               "content": cms.ParsableOctetString(tst_info_der)},
        "signer_infos": [signer_info],
    })
    if include_certs:
        signed_data["certificates"] = [cert_asn1, *(
            asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in extra_certs)]
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump())


def granted_response(token_der: bytes) -> bytes:
    """A TimeStampResp granting the token."""
    return bytes(TimeStampResp({
        "status": {"status": "granted"},
        "time_stamp_token": cms.ContentInfo.load(token_der),
    }).dump())


def rejection_response(failure: str, text: str) -> bytes:
    """A TimeStampResp refusing a request: status rejection, the failure bit and a sentence."""
    return bytes(TimeStampResp({
        "status": {"status": "rejection", "status_string": [text], "fail_info": {failure}},
    }).dump())


# -- the stateful part: serials, the log, the clock ------------------------------------------


class SerialCounter:
    """The last serial number issued, in a file replaced atomically (fsynced) on each use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            text = path.read_text()
        except FileNotFoundError:
            text = "0"
        except OSError as exc:
            raise TSAError(f"cannot read: {exc.strerror}", path) from None
        try:
            self.last = int(text.strip())
        except ValueError:
            raise TSAError("is not a serial number (a decimal integer)", path) from None
        if self.last < 0:
            raise TSAError("holds a negative serial number", path)

    def allocate(self) -> int:
        """The next serial number, durably recorded before it is returned."""
        serial = self.last + 1
        if serial.bit_length() > MAX_SERIAL_BITS:
            raise RuntimeError("serial numbers exhausted")  # 2^160 tokens: not in this universe
        write_atomic(self.path, f"{serial}\n".encode(), mode=0o644)
        self.last = serial
        return serial


def last_logged_serial(path: Path) -> int:
    """The serial of the last complete line of tokens.jsonl; 0 when there is none (a line
    torn by a crash is skipped)."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - LOG_TAIL_BYTES))
            tail = handle.read()
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise TSAError(f"cannot read: {exc.strerror}", path) from None
    for line in reversed(tail.split(b"\n")):
        try:
            return int(json.loads(line)["serial"])
        except (ValueError, KeyError, TypeError):
            continue
    return 0


class TokenLog:
    """tokens.jsonl: one JSON line per token, appended and fsynced before the token is sent."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._file = os.fdopen(fd, "ab")

    def append(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def _now() -> datetime:
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)  # to the millisecond


class Authority:
    """The TSA's key and certificate, its serial counter and its log: answers requests.

    `answer` never raises for a bad request: it returns a TimeStampResp, granted or a
    rejection. Serial allocation, signing and logging happen under one lock, so the
    log's order is the serials' order.
    """

    def __init__(self, key: devpki.PrivateKey, cert: x509.Certificate, chain: Sequence[x509.Certificate],
                 serials: SerialCounter, log: TokenLog, *, policy: str = TSA_POLICY_OID,
                 accuracy: timedelta = ACCURACY, clock: Callable[[], datetime] = _now) -> None:
        self.key = key
        self.cert = cert
        self.chain = tuple(chain)  # the TSA certificate first, up to the root
        # What a token carries with certReq: the TSA certificate and the CAs below the
        # root; the root is what a verifier must already hold, so sending it adds nothing.
        self.token_extra = tuple(c for c in self.chain[1:] if c.issuer != c.subject)
        self.serials = serials
        self.log = log
        self.policy = policy
        self.accuracy = accuracy
        self.clock = clock
        self._lock = threading.Lock()

    def answer(self, body: bytes) -> tuple[bytes, int | None]:
        """(the DER TimeStampResp, the serial issued or None for a rejection)."""
        try:
            request = parse_request(body, self.policy)
        except Rejection as exc:
            return rejection_response(exc.failure, exc.text), None
        with self._lock:
            gen_time = self.clock()
            if not self.cert.not_valid_before_utc <= gen_time <= self.cert.not_valid_after_utc:
                # A token it signs now could never verify: refuse (the anchoring client then
                # stops before anything is sent) until the operator renews the certificate.
                return rejection_response("time_not_available", "the TSA's certificate is not valid at its "
                                          "current time; the operator must renew it"), None
            try:
                serial = self.serials.allocate()
            except OSError as exc:
                return rejection_response("system_failure", f"cannot record the serial number: {exc.strerror}"), None
            tst_info = build_tst_info(request, serial=serial, gen_time=gen_time, policy=self.policy,
                                      accuracy=self.accuracy)
            token = sign_token(tst_info, self.key, self.cert, self.token_extra, include_certs=request.cert_req)
            try:
                self.log.append({
                    "serial": serial,
                    "genTime": gen_time.isoformat().replace("+00:00", "Z"),
                    "hashAlgorithm": request.hash_algorithm,
                    "hashedMessage": request.hashed_message.hex(),
                    "nonce": None if request.nonce is None else str(request.nonce),
                    "token": base64.b64encode(token).decode(),
                })
            except OSError as exc:
                # Not logged, so not sent: the serial is spent, the token never existed.
                return rejection_response("system_failure", f"cannot log the token: {exc.strerror}"), None
        return granted_response(token), serial


# -- files: the CA, the TSA's key and certificate --------------------------------------------


@dataclass(frozen=True)
class CADirectory:
    """What `ledger ca new` writes: ca.pem, ca.key and chain.pem (the CA up to its root)."""

    cert: x509.Certificate
    key: devpki.PrivateKey
    chain: tuple[x509.Certificate, ...]

    @classmethod
    def load(cls, path: Path) -> CADirectory:
        try:
            chain = tuple(pkifiles.load_certificates((path / "chain.pem").read_bytes()))
            key_bytes = (path / "ca.key").read_bytes()
        except OSError as exc:
            raise TSAError(f"not a CA directory from `ledger ca new`: {exc.strerror} ({exc.filename})", path) from None
        except ValueError as exc:
            raise TSAError(f"chain.pem: {exc}", path) from None
        try:
            key = pkifiles.load_private_key(key_bytes)
        except ValueError as exc:
            raise TSAError(f"ca.key cannot be used (an encrypted CA key is not supported here): {exc}", path) from None
        if _spki(key.public_key()) != _spki(chain[0].public_key()):
            raise TSAError("ca.key does not belong to the first certificate of chain.pem", path)
        return cls(chain[0], key, chain)


def _spki(public_key: Any) -> bytes:
    return bytes(public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def issue_tsa_certificate(ca: CADirectory, key: devpki.PrivateKey, *, name: str, organization: str | None,
                          now: datetime, days: int) -> x509.Certificate:
    """The TSA's certificate from the consortium CA: digitalSignature + nonRepudiation and
    a critical extendedKeyUsage of timeStamping only, valid from `now` for `days` (never
    past the CA's own end)."""
    not_after = min(now + timedelta(days=days), ca.cert.not_valid_after_utc)
    if not_after <= now:
        raise TSAError(f"the CA {ca.cert.subject.rfc4514_string()} has expired")
    return devpki.issue_certificate(
        ca.cert, ca.key, key.public_key(), common_name=name, organization=organization,
        key_usage={"digital_signature", "content_commitment"},
        extra_extensions=[(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), True)],
        not_before=now, not_after=not_after,
    )


@dataclass(frozen=True)
class TSAFiles:
    """The TSA's directory: its key (decrypted), certificate, chain, serial counter path."""

    key: devpki.PrivateKey
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    created: bool  # issued on this start


def open_data_dir(data_dir: Path, passphrase: str, ca_dir: Path | None, *, name: str = DEFAULT_NAME,
                  organization: str | None = None, key_type: devpki.KeyType = "p256", days: int = DEFAULT_DAYS,
                  now: datetime | None = None) -> TSAFiles:
    """Load the TSA's key and certificate, or make them from the CA on the first start.

    tsa.pem is written last, so a start interrupted before it simply starts over. A
    key that the passphrase does not decrypt raises PassphraseRefused.
    """
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise TSAError(f"the passphrase must have at least {MIN_PASSPHRASE_CHARS} characters")
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    cert_path, key_path, chain_path = data_dir / CERT_FILE, data_dir / KEY_FILE, data_dir / CHAIN_FILE
    ca = CADirectory.load(ca_dir) if ca_dir is not None else None
    if not cert_path.exists():
        if ca is None:
            raise TSAError(f"no {CERT_FILE} yet: give --ca (a directory from `ledger ca new`) to issue one", data_dir)
        if (data_dir / LOG_FILE).exists() and (data_dir / LOG_FILE).stat().st_size and not (data_dir / SERIAL_FILE).exists():
            raise TSAError(f"{LOG_FILE} records tokens but {SERIAL_FILE} is missing: restore it (the last serial "
                           "in the log) so serial numbers do not repeat", data_dir)
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = devpki.generate_key(key_type)
        cert = issue_tsa_certificate(ca, key, name=name, organization=organization, now=now, days=days)
        chain = (cert, *ca.chain)
        write_atomic(key_path, pkifiles.private_key_pem(key, passphrase.encode()), mode=0o600)
        write_atomic(chain_path, devpki.chain_pem(chain), mode=0o644)
        write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
        return TSAFiles(key, cert, chain, created=True)
    try:
        cert = pkifiles.load_certificates(cert_path.read_bytes())[0]
        chain = tuple(pkifiles.load_certificates(chain_path.read_bytes()))
        key_bytes = key_path.read_bytes()
    except OSError as exc:
        raise TSAError(f"cannot read {Path(exc.filename).name}: {exc.strerror}", data_dir) from None
    except ValueError as exc:
        raise TSAError(str(exc), data_dir) from None
    try:
        key = pkifiles.load_private_key(key_bytes, passphrase.encode())
    except ValueError:
        raise PassphraseRefused("the passphrase does not decrypt it (wrong passphrase, or the file is damaged)",
                                key_path) from None
    if _spki(key.public_key()) != _spki(cert.public_key()):
        raise TSAError(f"{KEY_FILE} does not belong to {CERT_FILE}", data_dir)
    if chain[0] != cert:
        raise TSAError(f"{CHAIN_FILE} does not start with {CERT_FILE}", data_dir)
    if ca is not None:
        try:
            cert.verify_directly_issued_by(ca.cert)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise TSAError(f"{CERT_FILE} was not issued by the CA in --ca {ca_dir} ({type(exc).__name__})",
                           data_dir) from None
    if cert.not_valid_after_utc <= now:
        raise TSAError(f"the TSA certificate expired at {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S}Z; move "
                       f"{CERT_FILE} aside and start with --ca to issue a new one", data_dir)
    return TSAFiles(key, cert, chain, created=False)


# -- HTTP -----------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "evidence-ledger-tsa"
    timeout = REQUEST_TIMEOUT_SECONDS  # socket timeout while reading the request

    def do_POST(self) -> None:
        if self.path != "/":
            self._plain(HTTPStatus.NOT_FOUND, "RFC 3161 requests go to POST /")
            return
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != QUERY_TYPE:
            self._plain(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"send Content-Type: {QUERY_TYPE}")
            return
        length_text = self.headers.get("Content-Length")
        if length_text is None or not re.fullmatch(r"[0-9]{1,9}", length_text.strip()):
            self._plain(HTTPStatus.LENGTH_REQUIRED, "a Content-Length is required")
            return
        length = int(length_text)
        if length > MAX_REQUEST_BYTES:
            self._plain(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"a time-stamp request is at most {MAX_REQUEST_BYTES} bytes")
            return
        try:
            body = self.rfile.read(length)
        except (TimeoutError, OSError):
            self.close_connection = True
            return
        if len(body) != length:
            return  # the client went away mid-body
        reply, serial = self.server.authority.answer(body)
        self._serial = serial
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", REPLY_TYPE)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def do_GET(self) -> None:
        if self.path == "/":
            self._plain(HTTPStatus.OK, f"RFC 3161 time-stamping authority. POST a {QUERY_TYPE} to this URL.\n"
                                       f"policy {self.server.authority.policy}; certificate chain: /{CHAIN_FILE}\n")
        elif self.path == f"/{CHAIN_FILE}":
            self._send(HTTPStatus.OK, "application/pem-certificate-chain", devpki.chain_pem(self.server.authority.chain))
        else:
            self._plain(HTTPStatus.NOT_FOUND, "not found")

    def _plain(self, status: HTTPStatus, text: str) -> None:
        self._send(status, "text/plain; charset=utf-8", (text if text.endswith("\n") else text + "\n").encode())

    def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        serial = getattr(self, "_serial", None)
        suffix = f" serial {serial}" if serial is not None else ""
        sys.stderr.write(f"{self.address_string()} {format % args}{suffix}\n")


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer with a bound on the requests served at once."""

    daemon_threads = False  # server_close waits for requests in flight (each bounded by its timeout)
    block_on_close = True

    def __init__(self, address: tuple[str, int], authority: Authority) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.authority = authority
        self._slots = threading.BoundedSemaphore(MAX_CONCURRENT_REQUESTS)
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            try:
                request.settimeout(1)
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n"
                                b"Connection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def url_of(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(data_dir: Path, passphrase: str, *, ca_dir: Path | None = None, host: str = "127.0.0.1",
          port: int = DEFAULT_PORT, name: str = DEFAULT_NAME, organization: str | None = None,
          key_type: devpki.KeyType = "p256", days: int = DEFAULT_DAYS,
          started: Callable[[str, TSAFiles, int], None] | None = None,
          stop: threading.Event | None = None) -> None:
    """Run the TSA until `stop` is set (or forever): open or create DATA, bind, answer.

    `started(url, files, next_serial)` is called once the socket listens (port 0 binds a
    free port; the URL says which).
    """
    files = open_data_dir(data_dir, passphrase, ca_dir, name=name, organization=organization,
                          key_type=key_type, days=days)
    lock = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lock)
        raise TSAError("another TSA is serving this directory (its serial numbers would repeat)", data_dir) from None
    try:
        _serve_locked(data_dir, files, host, port, started, stop)
    finally:
        os.close(lock)


def _serve_locked(data_dir: Path, files: TSAFiles, host: str, port: int,
                  started: Callable[[str, TSAFiles, int], None] | None, stop: threading.Event | None) -> None:
    serials = SerialCounter(data_dir / SERIAL_FILE)
    logged = last_logged_serial(data_dir / LOG_FILE)
    if logged > serials.last:
        raise TSAError(f"{LOG_FILE} records serial {logged} but {SERIAL_FILE} says {serials.last}: restore "
                       f"{SERIAL_FILE} (to at least {logged}) so that serial numbers do not repeat", data_dir)
    log = TokenLog(data_dir / LOG_FILE)
    fsync_dir(data_dir / LOG_FILE)
    authority = Authority(files.key, files.cert, files.chain, serials, log)
    try:
        server = _Server((host, port), authority)
    except OSError as exc:
        log.close()
        raise TSAError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    try:
        if started is not None:
            started(url_of(host, server.server_address[1]), files, serials.last + 1)
        if stop is not None:
            def stop_when_told() -> None:
                stop.wait()
                server.shutdown()

            threading.Thread(target=stop_when_told, daemon=True).start()
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
        log.close()


def read_passphrase(passphrase_file: Path | None) -> str:
    """The TSA key's passphrase: the first line of the file, else $LEDGER_TSA_PASSPHRASE."""
    if passphrase_file is not None:
        try:
            return passphrase_file.read_text().splitlines()[0] if passphrase_file.stat().st_size else ""
        except (OSError, UnicodeDecodeError) as exc:
            raise TSAError(f"cannot read: {getattr(exc, 'strerror', None) or exc}", passphrase_file) from None
    text = os.environ.get(PASSPHRASE_ENV, "")
    if not text:
        raise TSAError(f"no passphrase for the TSA key: give --passphrase-file or set {PASSPHRASE_ENV}")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """`ledger tsa serve ...`: exit 0 after SIGTERM/SIGINT, 1 when refused (wrong
    passphrase), 2 on bad input or files."""
    parser = argparse.ArgumentParser(prog="ledger tsa serve", description="Run an RFC 3161 time-stamping authority.")
    parser.add_argument("--ca", type=Path, help="CA directory from `ledger ca new` (needed on the first start)")
    parser.add_argument("--dir", type=Path, required=True, help="the TSA's directory: key, certificate, serial, log")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to bind (default {DEFAULT_PORT}; 0: any)")
    parser.add_argument("--passphrase-file", type=Path, help=f"file holding the key's passphrase (default: ${PASSPHRASE_ENV})")
    parser.add_argument("--name", default=DEFAULT_NAME, help="common name of the TSA certificate (first start)")
    parser.add_argument("--org", help="organisation (O) of the TSA certificate (first start)")
    parser.add_argument("--key-type", default="p256", choices=[k for k in devpki.KEY_TYPES if k not in ("secp256k1", "sm2")],
                        help="the TSA key (first start; default p256)")
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="certificate validity in days (first start)")
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def started(url: str, files: TSAFiles, next_serial: int) -> None:
        verb = "issued" if files.created else "loaded"
        print(f"TSA listening on {url} (certificate {verb}: {files.cert.subject.rfc4514_string()}, "
              f"issuer {files.cert.issuer.rfc4514_string()}; policy {TSA_POLICY_OID}; next serial {next_serial})",
              flush=True)

    try:
        serve(args.dir, read_passphrase(args.passphrase_file), ca_dir=args.ca, host=args.host, port=args.port,
              name=args.name, organization=args.org, key_type=args.key_type, days=args.days,
              started=started, stop=stop)
    except PassphraseRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except TSAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
