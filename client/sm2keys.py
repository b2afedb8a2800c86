"""SM2 private keys (GB/T 32918): generation, key files, signing and decryption.

``cryptography`` refuses the curve sm2p256v1, so an SM2 key is this class rather than a
``cryptography`` key: GmSSL (the pinned ``gmssl-pyx`` wheel) signs and decrypts, and
``asn1crypto`` reads and writes the key files in the formats OpenSSL 3 and GmSSL use —
PKCS#8 ``PRIVATE KEY`` (id-ecPublicKey, namedCurve sm2p256v1, an RFC 5915 ECPrivateKey
inside), SEC 1 ``EC PRIVATE KEY`` (``SM2 PRIVATE KEY`` when ``openssl ec`` writes it) and
PKCS#8 ``ENCRYPTED PRIVATE KEY``. The public half and signature checks are
`evidence.sm2`, which the ledger's consensus code shares.

Encrypted key files are PBES2 (RFC 8018): written with PBKDF2-HMAC-SHA256 and
AES-256-CBC, the structure ``openssl pkcs8 -topk8 -v2 aes-256-cbc`` (and ``openssl
genpkey -aes-256-cbc``) writes; read also with HMAC-SHA-1/224/384/512 or HMAC-SM3 and
AES-128/192-CBC or SM4-CBC (GmSSL's ``sm2keygen -pass`` writes HMAC-SM3 with SM4-CBC).
``asn1crypto`` holds the structures, ``cryptography`` the primitives; `client.devpki`
decrypts every PBES2 key file with them (RSA and ECDSA keys too: ``cryptography``'s own
loader lacks SM4-CBC and HMAC-SM3, and caps no iteration count), and checks the cost of
any other password-based scheme with `check_key_derivation_cost` before ``cryptography``
runs it.

A signature is SM2 over ``SM3(Z || message)``, ``Z`` binding the distinguishing
identifier (``1234567812345678`` unless named) and the public key — what
``openssl pkeyutl -sign -rawin -digest sm3`` and GmSSL's ``sm2sign`` make. Signing a
32-byte ledger digest (`sign_digest`) signs those 32 bytes as the message.
"""
from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable, Iterator

import gmssl_pyx
from asn1crypto import algos as asn1_algos, core as asn1_core, keys as asn1_keys
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import BlockCipherAlgorithm, Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from client.errors import ClientError
from evidence import sm2
from evidence.sm2 import DEFAULT_ID, SM2PublicKey

# SM2 encryption's C2 is as long as the plaintext; GmSSL caps one message (it encrypts
# keys, not documents: an envelope's content key is 32 bytes).
MAX_PLAINTEXT_BYTES = 255
# A PEM key file is under 300 bytes; anything past this is not one.
MAX_KEY_FILE_BYTES = 64 * 1024

# Encrypted key files as written here: 2048 PBKDF2 iterations is the default of both
# `openssl pkcs8 -topk8` and cryptography's BestAvailableEncryption, so an SM2 key.pem
# costs a password guesser what the RSA and ECDSA key.pem files beside it cost; 16 salt
# bytes as cryptography (and OpenSSL from 3.2) write.
PBKDF2_ITERATIONS = 2048
PBKDF2_SALT_BYTES = 16
# A key file names its own iteration count. PBKDF2-HMAC-SHA256 runs about 8 million
# iterations a second here, HMAC-SM3 about 2.5 million: 10 million bounds what one file
# can make a load cost to a few seconds, 16x OWASP's 600,000 for those who raise -iter.
# The same cap holds for PBES1 and the PKCS#12 KDF (key files and .p12 files), whose
# iterations cost about what PBKDF2's do.
MAX_PBKDF2_ITERATIONS = 10_000_000
# PBKDF2's cost is also proportional to the key length a file may name: no cipher a key
# file uses takes a key longer than AES-256's 32 bytes.
MAX_DERIVED_KEY_BYTES = 32
_CBC_IV_BYTES = 16  # the block size of AES and SM4

PBES2_OID = "1.2.840.113549.1.5.13"
PBKDF2_OID = "1.2.840.113549.1.5.12"
HMAC_SM3_OID = "1.2.156.10197.1.401.2"  # GM/T 0006; GmSSL's PBKDF2 PRF
SM4_CBC_OID = "1.2.156.10197.1.104.2"
# PBKDF2's PRF (hmacWithSHA1 when the parameters name none, RFC 8018 A.2).
_PRFS: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "1.2.840.113549.2.7": hashes.SHA1,
    "1.2.840.113549.2.8": hashes.SHA224,
    "1.2.840.113549.2.9": hashes.SHA256,
    "1.2.840.113549.2.10": hashes.SHA384,
    "1.2.840.113549.2.11": hashes.SHA512,
    HMAC_SM3_OID: hashes.SM3,
}
# PBES2's encryption scheme: the CBC ciphers and their key lengths.
_CBC_CIPHERS: dict[str, tuple[Callable[[bytes], BlockCipherAlgorithm], int]] = {
    "2.16.840.1.101.3.4.1.2": (algorithms.AES, 16),
    "2.16.840.1.101.3.4.1.22": (algorithms.AES, 24),
    "2.16.840.1.101.3.4.1.42": (algorithms.AES, 32),
    SM4_CBC_OID: (algorithms.SM4, 16),
}

# One class for the body, whitespace included, so a match is linear in the file: a
# separate \s+ before it made runs of whitespace quadratic (25 s on 64 KiB of spaces).
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\s]*?)-----END \1-----")
# Unencrypted key blocks this module reads: PKCS#8, and SEC 1 under either label OpenSSL uses.
_PLAIN_LABELS = (b"PRIVATE KEY", b"EC PRIVATE KEY", b"SM2 PRIVATE KEY")
_ENCRYPTED_LABEL = b"ENCRYPTED PRIVATE KEY"


class SM2KeyError(ClientError, ValueError):
    """An SM2 key file or operation that cannot be used, with the reason."""


class UnsupportedKeyEncryption(SM2KeyError):
    """A password-based encryption scheme `decrypt_pbes2` does not decrypt (PBES1, PKCS#12
    PBE, a PBES2 cipher or PRF not here); ``scheme`` is the OID that is not supported."""

    def __init__(self, scheme: str, message: str) -> None:
        super().__init__(message)
        self.scheme = scheme


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
        # e = SM3(Z || M) is computed here (Z by evidence.sm2, checked against the published
        # vectors) and GmSSL signs e: gmssl_pyx.sm2_sign(key, point, M, id) does the same
        # work in 3.0 ms, this in 0.27 ms (measured on the 2-core reference machine).
        e = sm2.sm3(self._public.z(distinguishing_id) + bytes(message))
        try:
            return bytes(gmssl_pyx.sm2_sign_sm3_digest(self.private_bytes_raw, e))
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
        ec_key = asn1_keys.ECPrivateKey({
            "version": "ecPrivkeyVer1",
            "private_key": self._scalar,
            "public_key": self._public.encoded,
        })
        # RFC 5915: privateKey is ceiling(log2(n)/8) = 32 octets, leading zeros kept (as
        # OpenSSL writes it); asn1crypto would drop them, there being no curve inside to size it.
        ec_key["private_key"].set_encoded_width(sm2.COORDINATE_BYTES)
        return ec_key

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

    def pem(self, password: bytes | None = None) -> bytes:
        """The PKCS#8 PEM: ``PRIVATE KEY``, or with a password ``ENCRYPTED PRIVATE KEY``
        (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC, as ``openssl pkcs8 -topk8 -v2 aes-256-cbc``)."""
        if password is None:
            return pem_armor("PRIVATE KEY", self.pkcs8_der())
        return pem_armor("ENCRYPTED PRIVATE KEY", encrypt_private_key_info(self.pkcs8_der(), password))

    @classmethod
    def from_der(cls, data: bytes, password: bytes | None = None) -> SM2PrivateKey:
        """A key from PKCS#8 PrivateKeyInfo or SEC 1 ECPrivateKey DER on sm2p256v1, or
        from a PKCS#8 EncryptedPrivateKeyInfo and its ``password``."""
        if _encrypted_private_key_info(bytes(data)) is not None:
            if password is None:
                raise SM2KeyError("the key file is encrypted: give its password")
            return cls._from_plain_der(decrypt_private_key_info(bytes(data), password))
        if password is not None:
            raise SM2KeyError("a password was given but the key file is not encrypted")
        return cls._from_plain_der(data)

    @classmethod
    def _from_plain_der(cls, data: bytes) -> SM2PrivateKey:
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
    def from_pem(cls, data: bytes, password: bytes | None = None) -> SM2PrivateKey:
        """A key from the first key block of a PEM: ``PRIVATE KEY``, ``EC PRIVATE KEY`` or
        ``SM2 PRIVATE KEY`` (no password), or ``ENCRYPTED PRIVATE KEY`` with its ``password``."""
        if len(data) > MAX_KEY_FILE_BYTES:
            raise SM2KeyError(f"key file is larger than {MAX_KEY_FILE_BYTES} bytes")
        if b"Proc-Type:" in data:
            raise SM2KeyError("traditional encrypted PEM (Proc-Type, DEK-Info) is not read for SM2 keys: "
                              "convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`")
        for label, der in _pem_blocks(bytes(data)):
            if label in _PLAIN_LABELS or label == _ENCRYPTED_LABEL:
                return cls.from_der(der, password)
        raise SM2KeyError("no PRIVATE KEY, EC PRIVATE KEY or ENCRYPTED PRIVATE KEY block in the PEM")


def is_sm2_private_key_info(der: bytes) -> bool:
    """Whether PKCS#8 PrivateKeyInfo DER names an SM2 key (id-ecPublicKey, sm2p256v1)."""
    try:
        algorithm = asn1_keys.PrivateKeyInfo.load(bytes(der), strict=True)["private_key_algorithm"]
        return bool(algorithm["algorithm"].dotted == sm2.EC_PUBLIC_KEY_OID
                    and _curve(algorithm["parameters"]) == sm2.CURVE_OID)
    except (ValueError, TypeError, KeyError, AttributeError):
        return False


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


# -- PKCS#8 encryption (PBES2) ------------------------------------------------------------


def encrypt_private_key_info(private_key_info: bytes, password: bytes) -> bytes:
    """PKCS#8 EncryptedPrivateKeyInfo DER of a PrivateKeyInfo: PBES2 with
    PBKDF2-HMAC-SHA256 (`PBKDF2_ITERATIONS`, a random salt) and AES-256-CBC."""
    if not password:
        raise SM2KeyError("a key file password must not be empty")
    salt, iv = os.urandom(PBKDF2_SALT_BYTES), os.urandom(_CBC_IV_BYTES)
    key = PBKDF2HMAC(hashes.SHA256(), 32, salt, PBKDF2_ITERATIONS).derive(bytes(password))
    padder = padding.PKCS7(algorithms.AES.block_size).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padder.update(bytes(private_key_info)) + padder.finalize()) + encryptor.finalize()
    return asn1_keys.EncryptedPrivateKeyInfo({
        "encryption_algorithm": {
            "algorithm": "pbes2",
            "parameters": {
                "key_derivation_func": {
                    "algorithm": "pbkdf2",
                    "parameters": {
                        "salt": asn1_algos.Pbkdf2Salt(name="specified", value=salt),
                        "iteration_count": PBKDF2_ITERATIONS,
                        # OpenSSL writes the PRF's NULL parameters; so do we.
                        "prf": {"algorithm": "sha256", "parameters": asn1_core.Null()},
                    },
                },
                "encryption_scheme": {"algorithm": "aes256_cbc", "parameters": asn1_core.OctetString(iv)},
            },
        },
        "encrypted_data": ciphertext,
    }).dump()


def decrypt_private_key_info(encrypted: bytes, password: bytes) -> bytes:
    """The PrivateKeyInfo DER inside a PBES2 EncryptedPrivateKeyInfo (PBKDF2 with HMAC-SHA-*
    or HMAC-SM3; AES-CBC or SM4-CBC). SM2KeyError names what is unsupported or wrong
    (UnsupportedKeyEncryption for a scheme not decrypted here)."""
    info = _encrypted_private_key_info(bytes(encrypted))
    if info is None:
        raise SM2KeyError("not a PKCS#8 EncryptedPrivateKeyInfo")
    plain = decrypt_pbes2(info["encryption_algorithm"], bytes(info["encrypted_data"].native), password)
    # A wrong key can leave valid-looking padding: the plaintext must parse as well.
    try:
        _ = asn1_keys.PrivateKeyInfo.load(plain, strict=True)["private_key_algorithm"]["algorithm"].dotted
    except (ValueError, TypeError, KeyError) as exc:
        raise SM2KeyError("cannot decrypt the key file: wrong password or a damaged file") from exc
    return plain


def check_key_derivation_cost(algorithm: asn1_algos.EncryptionAlgorithm) -> int:
    """The iteration count a password-based encryption scheme asks for — PBES2 with PBKDF2,
    PBES1 or PKCS#12 PBE, as a key file or a PKCS#12 file names it — or SM2KeyError when it
    is outside 1..`MAX_PBKDF2_ITERATIONS`, the derived key is longer than
    `MAX_DERIVED_KEY_BYTES`, or the cost cannot be read (an unknown scheme or KDF is not
    run: its cost is unknown; this is never UnsupportedKeyEncryption, which callers take as
    leave to hand the file to another library). Called before any library derives a key
    from a password."""
    try:
        scheme = algorithm["algorithm"].dotted
        if scheme == PBES2_OID:
            kdf = algorithm["parameters"]["key_derivation_func"]
            if kdf["algorithm"].dotted != PBKDF2_OID:
                raise SM2KeyError(f"PBES2 key derivation {kdf['algorithm'].dotted} is not PBKDF2: its cost "
                                  "cannot be read, refusing to run it")
            key_length = kdf["parameters"]["key_length"].native
        else:
            key_length = None
        kdf_name = {"pbkdf2": "PBKDF2", "pbkdf1": "PBKDF1", "pkcs12_kdf": "PKCS#12 KDF"}[algorithm.kdf]
        iterations = int(algorithm.kdf_iterations)
    except SM2KeyError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise SM2KeyError("the key file's encryption names no key derivation cost that can be read, "
                          "refusing to run it") from exc
    if not 0 < iterations <= MAX_PBKDF2_ITERATIONS:
        raise SM2KeyError(f"{kdf_name} iteration count {iterations} is outside 1..{MAX_PBKDF2_ITERATIONS}, "
                          "refusing to run it")
    if key_length is not None and not 0 < key_length <= MAX_DERIVED_KEY_BYTES:
        raise SM2KeyError(f"PBKDF2 keyLength {key_length} is outside 1..{MAX_DERIVED_KEY_BYTES}, refusing to run it")
    return iterations


def decrypt_pbes2(algorithm: asn1_algos.EncryptionAlgorithm, ciphertext: bytes, password: bytes) -> bytes:
    """The plaintext of PBES2 ``ciphertext`` (a key file's or a PKCS#12 file's encrypted
    contents) under ``algorithm``: PBKDF2 with HMAC-SHA-* or HMAC-SM3, AES-CBC or SM4-CBC.
    UnsupportedKeyEncryption for another scheme; SM2KeyError for a cost over the cap,
    malformed parameters or a wrong password (bad padding)."""
    # 1. The cost the parameters ask for, before anything else is read or paid.
    iterations = check_key_derivation_cost(algorithm)
    # 2. The structure: PBES2 with PBKDF2 and a CBC cipher this module knows.
    if algorithm["algorithm"].dotted != PBES2_OID:
        raise UnsupportedKeyEncryption(algorithm["algorithm"].dotted,
                                       f"key file encryption {algorithm['algorithm'].dotted} is not PBES2 "
                                       "(re-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`)")
    try:
        params = asn1_algos.Pbes2Params.load(algorithm["parameters"].dump(), strict=True)
        kdf, scheme = params["key_derivation_func"], params["encryption_scheme"]
        kdf_params = asn1_algos.Pbkdf2Params.load(kdf["parameters"].dump(), strict=True)
        if kdf_params["salt"].name != "specified":
            raise SM2KeyError("PBKDF2 salt is not given in the file")
        salt = bytes(kdf_params["salt"].chosen.native)
        key_length = kdf_params["key_length"].native
        prf_oid = kdf_params["prf"]["algorithm"].dotted
        cipher_oid = scheme["algorithm"].dotted
        iv = asn1_core.OctetString.load(scheme["parameters"].dump(), strict=True).native
    except SM2KeyError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise SM2KeyError("the key file's PBES2 parameters are malformed") from exc
    if prf_oid not in _PRFS:
        raise UnsupportedKeyEncryption(prf_oid, f"PBKDF2 PRF {prf_oid} is not supported (HMAC with SHA-1, SHA-2 or SM3)")
    if cipher_oid not in _CBC_CIPHERS:
        raise UnsupportedKeyEncryption(cipher_oid,
                                       f"key file cipher {cipher_oid} is not supported (AES-CBC or SM4-CBC)")
    cipher, cipher_key_bytes = _CBC_CIPHERS[cipher_oid]
    if key_length is not None and key_length != cipher_key_bytes:
        raise SM2KeyError(f"PBKDF2 keyLength {key_length} does not fit the cipher's {cipher_key_bytes}-byte key")
    if not isinstance(iv, bytes) or len(iv) != _CBC_IV_BYTES:
        raise SM2KeyError(f"the key file's CBC IV is not {_CBC_IV_BYTES} bytes")
    if not password:
        raise SM2KeyError("the key file is encrypted: give its password")
    # 3. Derive the key and decrypt; a wrong password shows as bad padding (or, to the
    #    caller, as a plaintext that does not parse).
    key = PBKDF2HMAC(_PRFS[prf_oid](), cipher_key_bytes, salt, iterations).derive(bytes(password))
    try:
        decryptor = Cipher(cipher(key), modes.CBC(iv)).decryptor()
        padded = decryptor.update(bytes(ciphertext)) + decryptor.finalize()
        unpadder = padding.PKCS7(_CBC_IV_BYTES * 8).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise SM2KeyError("cannot decrypt the key file: wrong password or a damaged file") from exc


def encrypted_key_der(data: bytes) -> bytes | None:
    """The EncryptedPrivateKeyInfo DER of a PEM ``ENCRYPTED PRIVATE KEY`` block or of DER
    bytes, or None when ``data`` is not an encrypted PKCS#8 key."""
    data = bytes(data)
    if len(data) > MAX_KEY_FILE_BYTES:
        return None
    if b"-----BEGIN" in data:
        for label, der in _pem_blocks(data):
            if label == _ENCRYPTED_LABEL:
                return der if _encrypted_private_key_info(der) is not None else None
        return None
    return data if _encrypted_private_key_info(data) is not None else None


def _encrypted_private_key_info(data: bytes) -> asn1_keys.EncryptedPrivateKeyInfo | None:
    # asn1crypto parses lazily: touch every field so a PrivateKeyInfo or ECPrivateKey
    # (which also start with a SEQUENCE) is told apart here rather than later.
    try:
        info = asn1_keys.EncryptedPrivateKeyInfo.load(data, strict=True)
        _ = info["encryption_algorithm"]["algorithm"].dotted, info["encrypted_data"].native
    except (ValueError, TypeError, KeyError):
        return None
    return info


def _pem_blocks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(label, DER) of each PEM block, in file order."""
    for label, body in _PEM.findall(data):
        try:
            yield label, base64.b64decode(b"".join(body.split()), validate=True)
        except ValueError as exc:
            raise SM2KeyError(f"the PEM {label.decode()} block is not base64") from exc


def pem_armor(label: str, der: bytes) -> bytes:
    body = base64.b64encode(der)
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return b"".join([f"-----BEGIN {label}-----\n".encode(), *(line + b"\n" for line in lines),
                     f"-----END {label}-----\n".encode()])


def _curve(parameters: asn1_core.Asn1Value) -> str | None:
    """The named curve's OID, or None: parameters absent (a Void), implicit or explicit."""
    if isinstance(parameters, asn1_keys.ECDomainParameters) and parameters.name == "named":
        return str(parameters.chosen.dotted)
    return None
