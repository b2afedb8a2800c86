"""SM2 private keys (GB/T 32918): generation, key files, signing and decryption.

``cryptography`` refuses the curve sm2p256v1, so an SM2 key is this class rather than a
``cryptography`` key: GmSSL (the pinned ``gmssl-pyx`` wheel) signs and decrypts, and
``asn1crypto`` reads and writes the key files in the formats OpenSSL 3 and GmSSL use —
PKCS#8 ``PRIVATE KEY`` (id-ecPublicKey, namedCurve sm2p256v1, an RFC 5915 ECPrivateKey
inside) and SEC 1 ``EC PRIVATE KEY``. The public half and signature checks are
`evidence.sm2`, which the ledger's consensus code shares.

A signature is SM2 over ``SM3(Z || message)``, ``Z`` binding the distinguishing
identifier (``1234567812345678`` unless named) and the public key — what
``openssl pkeyutl -sign -rawin -digest sm3`` and GmSSL's ``sm2sign`` make. Signing a
32-byte ledger digest (`sign_digest`) signs those 32 bytes as the message.
"""
from __future__ import annotations

import base64
import re

import gmssl_pyx
from asn1crypto import keys as asn1_keys

from client.errors import ClientError
from evidence import sm2
from evidence.sm2 import DEFAULT_ID, SM2PublicKey

# SM2 encryption's C2 is as long as the plaintext; GmSSL caps one message (it encrypts
# keys, not documents: an envelope's content key is 32 bytes).
MAX_PLAINTEXT_BYTES = 255
# A PEM key file is under 300 bytes; anything past this is not one.
MAX_KEY_FILE_BYTES = 64 * 1024

_PEM = re.compile(rb"-----BEGIN ([A-Z ]+)-----\s+([A-Za-z0-9+/=\s]+?)-----END \1-----")


class SM2KeyError(ClientError, ValueError):
    """An SM2 key file or operation that cannot be used, with the reason."""


class SM2PrivateKey:
    """An SM2 private scalar d in 1..n-2 and its public point dG.

    GmSSL offers no point multiplication and the curve is not ours to write, so the public
    point comes with the scalar (key files carry it: OpenSSL and GmSSL always write it) and
    the pair is proved to belong together by a signature it must verify.
    """

    def __init__(self, scalar: int, public: SM2PublicKey) -> None:
        if not 0 < scalar < sm2.N - 1:
            raise SM2KeyError("SM2 private key is outside 1..n-2")
        self._scalar = scalar
        self._public = public
        probe = b"evidence-ledger/sm2-key-pair-check"
        if not public.verify(probe, self.sign(probe)):
            raise SM2KeyError("the SM2 public key does not belong to the private key")

    @classmethod
    def generate(cls) -> SM2PrivateKey:
        public, private = gmssl_pyx.sm2_key_generate()
        return cls(int.from_bytes(private, "big"), SM2PublicKey.from_encoded(b"\x04" + bytes(public)))

    @property
    def curve_name(self) -> str:
        return "sm2p256v1"

    def public_key(self) -> SM2PublicKey:
        return self._public

    @property
    def private_bytes_raw(self) -> bytes:
        return self._scalar.to_bytes(sm2.COORDINATE_BYTES, "big")

    def sign(self, message: bytes, distinguishing_id: bytes = DEFAULT_ID) -> bytes:
        """The DER SM2 signature over ``SM3(Z || message)``."""
        sm2.check_distinguishing_id(distinguishing_id)
        try:
            return bytes(gmssl_pyx.sm2_sign(self.private_bytes_raw, self._public.point, bytes(message), distinguishing_id))
        except gmssl_pyx.GmsslInnerError as exc:
            raise SM2KeyError("SM2 signing failed") from exc

    def sign_digest(self, digest: bytes) -> bytes:
        """A ledger digest signature: the 32 bytes signed as the message, default identifier."""
        if len(digest) != 32:
            raise SM2KeyError(f"digest must be 32 bytes, got {len(digest)}")
        return self.sign(digest)

    def decrypt(self, ciphertext: bytes) -> bytes:
        """The plaintext of an SM2 ciphertext (DER, C1C3C2, GM/T 0009) to this key."""
        try:
            return bytes(gmssl_pyx.sm2_decrypt(self.private_bytes_raw, bytes(ciphertext)))
        except gmssl_pyx.GmsslInnerError as exc:
            raise SM2KeyError("SM2 ciphertext does not decrypt with this key") from exc

    # -- key files -------------------------------------------------------------------

    def _ec_private_key(self) -> asn1_keys.ECPrivateKey:
        return asn1_keys.ECPrivateKey({
            "version": "ecPrivkeyVer1",
            "private_key": self._scalar,
            "public_key": self._public.encoded,
        })

    def pkcs8_der(self) -> bytes:
        """PKCS#8 PrivateKeyInfo, as ``openssl genpkey -algorithm SM2`` writes it."""
        return asn1_keys.PrivateKeyInfo({
            "version": 0,
            "private_key_algorithm": {
                "algorithm": "ec",
                "parameters": asn1_keys.ECDomainParameters(name="named", value="sm2p256v1"),
            },
            "private_key": self._ec_private_key(),
        }).dump()

    def pem(self) -> bytes:
        """The unencrypted PKCS#8 PEM (``-----BEGIN PRIVATE KEY-----``)."""
        return pem_armor("PRIVATE KEY", self.pkcs8_der())

    @classmethod
    def from_der(cls, data: bytes) -> SM2PrivateKey:
        """A key from PKCS#8 PrivateKeyInfo or SEC 1 ECPrivateKey DER on sm2p256v1."""
        try:
            info = asn1_keys.PrivateKeyInfo.load(bytes(data), strict=True)
            algorithm = info["private_key_algorithm"]
            if algorithm["algorithm"].dotted != sm2.EC_PUBLIC_KEY_OID:
                raise SM2KeyError("not an EC private key")
            if _curve(algorithm["parameters"]) != sm2.CURVE_OID:
                raise SM2KeyError("not an SM2 private key (namedCurve sm2p256v1)")
            inner = info["private_key"].parsed
        except SM2KeyError:
            raise
        except (ValueError, TypeError, KeyError):
            inner = None
        if inner is None:
            try:
                inner = asn1_keys.ECPrivateKey.load(bytes(data), strict=True)
                parameters = inner["parameters"]
                if parameters.native is not None and _curve(parameters) != sm2.CURVE_OID:
                    raise SM2KeyError("not an SM2 private key (namedCurve sm2p256v1)")
            except (ValueError, TypeError, KeyError) as exc:
                raise SM2KeyError("not a PKCS#8 or SEC 1 SM2 private key") from exc
        try:
            scalar = int(inner["private_key"].native)
            stored = inner["public_key"].native
        except (ValueError, TypeError, KeyError) as exc:
            raise SM2KeyError("SM2 private key is malformed") from exc
        if not stored:
            raise SM2KeyError("the SM2 key file does not carry its public key (OpenSSL and GmSSL write it)")
        try:
            public = SM2PublicKey.from_encoded(bytes(stored))
        except sm2.SM2Error as exc:
            raise SM2KeyError(f"the key file's public key: {exc.reason}") from exc
        return cls(scalar, public)

    @classmethod
    def from_pem(cls, data: bytes) -> SM2PrivateKey:
        """A key from an unencrypted ``PRIVATE KEY`` or ``EC PRIVATE KEY`` PEM block."""
        if len(data) > MAX_KEY_FILE_BYTES:
            raise SM2KeyError(f"key file is larger than {MAX_KEY_FILE_BYTES} bytes")
        for label, body in _PEM.findall(bytes(data)):
            if label in (b"PRIVATE KEY", b"EC PRIVATE KEY"):
                try:
                    der = base64.b64decode(b"".join(body.split()), validate=True)
                except ValueError as exc:
                    raise SM2KeyError("the PEM key block is not base64") from exc
                return cls.from_der(der)
            if label == b"ENCRYPTED PRIVATE KEY":
                raise SM2KeyError("encrypted SM2 key files are not supported here")
        raise SM2KeyError("no PRIVATE KEY or EC PRIVATE KEY block in the PEM")


def is_sm2_key_file(data: bytes) -> bool:
    """Whether PEM or DER key bytes hold an SM2 key (without decrypting anything)."""
    try:
        SM2PrivateKey.from_pem(data) if b"-----BEGIN" in data else SM2PrivateKey.from_der(data)
    except (SM2KeyError, sm2.SM2Error):
        return False
    return True


def encrypt(public_key: SM2PublicKey, plaintext: bytes) -> bytes:
    """SM2 encryption of a short ``plaintext`` (1..255 bytes) to ``public_key``: DER C1C3C2."""
    if not 0 < len(plaintext) <= MAX_PLAINTEXT_BYTES:
        raise SM2KeyError(f"SM2 encrypts 1 to {MAX_PLAINTEXT_BYTES} bytes, got {len(plaintext)}")
    try:
        return bytes(gmssl_pyx.sm2_encrypt(public_key.point, bytes(plaintext)))
    except gmssl_pyx.GmsslInnerError as exc:
        raise SM2KeyError("SM2 encryption failed") from exc


def pem_armor(label: str, der: bytes) -> bytes:
    body = base64.b64encode(der)
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return b"".join([f"-----BEGIN {label}-----\n".encode(), *(line + b"\n" for line in lines),
                     f"-----END {label}-----\n".encode()])


def _curve(parameters: asn1_keys.ECDomainParameters) -> str | None:
    return parameters.chosen.dotted if parameters.name == "named" else None
