"""Time-stamping authorities with fixed keys for unit tests: tokens made by the code
`ledger tsa serve` runs (client/tsa_server.py's `Authority`), at a clock the test sets.

`consortium()` and `independent()` are two TSAs under two unrelated roots; `no_eku()` is
a TSA whose certificate lacks the timeStamping extendedKeyUsage. Keys are fixed (EC
scalars), so a token is the same bytes for the same digest, time and serial.
"""
from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from client import devpki, tsa_server
from evidence.timestamp import TimestampRequest, parse_response

# Valid for ten years from 2024: every block time the unit tests make sits inside.
NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
NOT_AFTER = NOT_BEFORE + timedelta(days=3650)
NONCE = 0x5EED_0F_7154


@dataclass(frozen=True)
class FixedTsa:
    """A TSA certificate under its own root, and the key that signs its tokens."""

    root: x509.Certificate
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def root_pem(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.PEM)

    def token(self, digest: bytes, at: datetime, serial_dir: Path | None = None) -> bytes:
        """A token over the 32-byte `digest` with genTime `at` (DER), as a client gets it."""
        with tempfile.TemporaryDirectory(dir=serial_dir) as scratch:
            authority = tsa_server.Authority(
                self.key, self.cert, (self.cert, self.root), tsa_server.SerialCounter(Path(scratch) / "serial"),
                tsa_server.TokenLog(Path(scratch) / "tokens.jsonl"), clock=lambda: at)
            request = TimestampRequest(digest, nonce=NONCE)
            response, _ = authority.answer(request.to_der())
            return parse_response(response, request)


def _make(seed: int, root_name: str, tsa_name: str, organization: str, eku: bool = True) -> FixedTsa:
    root_key = ec.derive_private_key(seed, ec.SECP256R1())
    tsa_key = ec.derive_private_key(seed + 1, ec.SECP256R1())
    root = devpki.make_root(root_name, root_key, not_before=NOT_BEFORE, not_after=NOT_AFTER, serial=seed,
                            organization=organization)
    extensions = [(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), True)] if eku else []
    cert = devpki.issue_certificate(
        root, root_key, tsa_key.public_key(), common_name=tsa_name, organization=organization,
        key_usage={"digital_signature", "content_commitment"}, extra_extensions=extensions, serial=seed + 1,
        not_before=NOT_BEFORE, not_after=NOT_AFTER)
    return FixedTsa(root, cert, tsa_key)


@functools.cache
def consortium() -> FixedTsa:
    return _make(0x7501, "Consortium TSA Root", "Consortium TSA", "某某公共资源交易中心")


@functools.cache
def independent() -> FixedTsa:
    return _make(0x7601, "Independent Time Root", "Independent TSA", "Independent Time Ltd")


@functools.cache
def no_eku() -> FixedTsa:
    return _make(0x7701, "Careless Root", "Not A TSA", "Careless Ltd", eku=False)
