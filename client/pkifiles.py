"""Key and certificate files of the development PKI: PEM/DER private keys (plain or
encrypted), certificate bundles and PKCS#12 files, read and written for every key type
`client.devpki` makes (RSA, ECDSA, SM2).

A key file names its own key-derivation cost (PBKDF2 iterations, PKCS#12 MAC and bag
counts) and ``cryptography`` runs whatever it names, so every count is read with
``asn1crypto`` and held to `client.sm2keys.MAX_PBKDF2_ITERATIONS` before any derivation
runs; PBES2 files are decrypted here under that cap. SM2 keys, which ``cryptography``
cannot hold, are `client.sm2keys.SM2PrivateKey`.
"""
from __future__ import annotations

from collections.abc import Sequence

from asn1crypto import algos as asn1_algos, cms as asn1_cms, keys as asn1_keys, pkcs12 as asn1_pkcs12
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from client import sm2keys
from client.devpki import CryptographyPrivateKey, PrivateKey
from client.errors import ClientError
from client.sm2keys import SM2KeyError, SM2PrivateKey

# What a PKCS#12 request with an SM2 key is told: cryptography cannot put an SM2 key in
# one, and the PKCS#12 MAC's key derivation (RFC 7292 appendix B) is in no library here.
SM2_PKCS12_UNSUPPORTED = (
    "PKCS#12 files with SM2 keys are not supported: use the PEM key and chain instead "
    "(key.pem and chain.pem; --cert chain.pem --cert-key key.pem)"
)


def private_key_pem(key: PrivateKey, password: bytes | None = None) -> bytes:
    """PKCS#8 PEM, encrypted when a password is given: PBES2 (PBKDF2-HMAC-SHA256,
    AES-256-CBC), cryptography's best scheme and what `SM2PrivateKey.pem` writes."""
    if isinstance(key, SM2PrivateKey):
        return key.pem(password)
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption() if password is None else serialization.BestAvailableEncryption(password)
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def private_key_der(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 DER of any key here (what `load_private_key` reads back)."""
    if isinstance(key, SM2PrivateKey):
        return key.pkcs8_der()
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Certificates from a PEM bundle (one or more, in file order) or one DER certificate."""
    if b"-----BEGIN" in data:
        try:
            return x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise ValueError(f"not a PEM certificate bundle: {exc}") from exc
    try:
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise ValueError(f"neither PEM nor a DER certificate: {exc}") from exc


def load_private_key(data: bytes, password: bytes | None = None) -> PrivateKey:
    """An RSA, EC or SM2 private key from PEM (PKCS#8 or traditional, encrypted or not) or DER.

    A key file names its own key-derivation cost, and ``cryptography`` pays whatever it
    names (2^31-1 PBKDF2 iterations: minutes), so an encrypted PKCS#8 key is read here
    first: its cost is checked against `sm2keys.MAX_PBKDF2_ITERATIONS`, PBES2 is decrypted
    by `client.sm2keys` (which also has the SM4-CBC and HMAC-SM3 that GmSSL writes and
    ``cryptography`` lacks), and ``cryptography`` decrypts only the checked DER of another
    scheme (PBES1, PKCS#12 PBE). It reads every plain key but SM2 (it has no curve
    sm2p256v1 and no ``SM2 PRIVATE KEY`` label, OpenSSL's SEC 1 for SM2): those go to
    `client.sm2keys` as well.
    """
    data = bytes(data)
    pem = b"-----BEGIN" in data
    # 1. Encrypted PKCS#8: the cost is checked before anything derives a key.
    encrypted = _encrypted_pkcs8(data, pem)
    if encrypted is not None:
        return _load_encrypted_pkcs8(encrypted, password)
    # 2. Not encrypted PKCS#8. DER is then a plain key, read without the password so that
    #    nothing can make cryptography derive one; PEM may be traditional encryption
    #    (Proc-Type, DEK-Info), whose key derivation is one MD5 whatever the file says.
    if not pem and password is not None:
        raise ValueError("cannot load the private key: " + (
            f"key file is larger than {sm2keys.MAX_KEY_FILE_BYTES} bytes" if len(data) > sm2keys.MAX_KEY_FILE_BYTES
            else "a password was given but the key file is not encrypted"))
    try:
        if pem:
            key = serialization.load_pem_private_key(data, password)
        else:
            key = serialization.load_der_private_key(data, None)
    except UnsupportedAlgorithm as exc:
        return _load_with_sm2keys(data, password, exc)
    except (ValueError, TypeError) as exc:
        # TypeError: a password given for an unencrypted key or missing for an encrypted one.
        if pem and b"SM2 PRIVATE KEY" in data:
            return _load_with_sm2keys(data, password, exc)
        raise ValueError(f"cannot load the private key: {exc}") from exc
    return _supported(key)


def _encrypted_pkcs8(data: bytes, pem: bool) -> bytes | None:
    """The EncryptedPrivateKeyInfo DER of an encrypted PKCS#8 key file, or None.

    A PEM naming ``ENCRYPTED PRIVATE KEY`` anywhere is never handed to cryptography, whose
    PEM reader takes blocks (with headers, say) that `client.sm2keys`' does not: a block
    read here is the one decrypted, or the file is refused."""
    if not pem:
        return sm2keys.encrypted_key_der(data)
    if b"ENCRYPTED PRIVATE KEY" not in data:
        return None
    if len(data) > sm2keys.MAX_KEY_FILE_BYTES:
        raise ValueError(f"cannot load the private key: key file is larger than {sm2keys.MAX_KEY_FILE_BYTES} bytes")
    try:
        encrypted = sm2keys.encrypted_key_der(data)
    except SM2KeyError as exc:
        raise ValueError(f"cannot load the private key: {exc}") from exc
    if encrypted is None:
        raise ValueError("cannot load the private key: its ENCRYPTED PRIVATE KEY block is not a PEM-armoured "
                         "PKCS#8 EncryptedPrivateKeyInfo (RFC 7468: no headers)")
    return encrypted


def _load_encrypted_pkcs8(encrypted: bytes, password: bytes | None) -> PrivateKey:
    if password is None:
        raise ValueError("cannot load the private key: the key file is encrypted: give its password")
    try:
        # 1. The cost the file asks for, whatever its scheme, and PBES2 decrypted with it capped.
        algorithm = asn1_keys.EncryptedPrivateKeyInfo.load(encrypted)["encryption_algorithm"]
        sm2keys.check_key_derivation_cost(algorithm)
        plain = sm2keys.decrypt_private_key_info(encrypted, password)
    except sm2keys.UnsupportedKeyEncryption:
        # 2. PBES1, PKCS#12 PBE or a PBES2 cipher sm2keys lacks (3DES): cryptography
        #    decrypts the DER whose cost step 1 checked.
        try:
            return _supported(serialization.load_der_private_key(encrypted, password))
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise ValueError(f"cannot load the private key: {exc}") from exc
    except SM2KeyError as exc:
        raise ValueError(f"cannot load the private key: {exc}") from exc
    # 3. The PrivateKeyInfo inside: an SM2 key, or one cryptography reads.
    if sm2keys.is_sm2_private_key_info(plain):
        try:
            return SM2PrivateKey.from_der(plain)
        except SM2KeyError as exc:
            raise ValueError(f"cannot load the private key: {exc}") from exc
    try:
        return _supported(serialization.load_der_private_key(plain, None))
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"cannot load the private key: {exc}") from exc


def _load_with_sm2keys(data: bytes, password: bytes | None, refusal: Exception) -> PrivateKey:
    # An SM2 key file (PKCS#8 or SEC 1, not encrypted), or cryptography's refusal stands.
    if not sm2keys.is_sm2_key_file(data):
        raise ValueError(f"cannot load the private key: {refusal}") from refusal
    try:
        if b"-----BEGIN" in data:
            return SM2PrivateKey.from_pem(data, password)
        return SM2PrivateKey.from_der(data, password)
    except SM2KeyError as exc:
        raise ValueError(f"cannot load the private key: {exc}") from exc


def _supported(key: object) -> CryptographyPrivateKey:
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise ValueError(f"unsupported private key type {type(key).__name__} (RSA, EC or SM2 only)")
    return key


def load_pkcs12(
    data: bytes, password: bytes | None
) -> tuple[PrivateKey, x509.Certificate, list[x509.Certificate]]:
    """(key, its certificate, the other certificates) from a PKCS#12 / .pfx file.

    Its key derivations (the MAC's, each encrypted part's, each shrouded key's) are
    counted first, `_check_pkcs12_cost`: cryptography runs whatever counts the file names."""
    _check_pkcs12_cost(bytes(data), password)
    try:
        key, cert, additional = pkcs12.load_key_and_certificates(data, password)
    except UnsupportedAlgorithm as exc:
        # Decrypted, but the key is on a curve cryptography does not have: sm2p256v1 in practice.
        raise ValueError(f"cannot load the PKCS#12 file: {exc}. {SM2_PKCS12_UNSUPPORTED}") from exc
    except (ValueError, TypeError) as exc:
        raise ValueError(f"cannot load the PKCS#12 file: {exc}") from exc
    if key is None or cert is None:
        raise ValueError("the PKCS#12 file must hold a private key and its certificate")
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise ValueError(f"unsupported private key type {type(key).__name__} (RSA or EC only)")
    return key, cert, list(additional)


# SafeContents bags may nest (a safeContentsBag holds more bags); OpenSSL and cryptography
# write one level, Windows and Java none deeper: 4 bounds the walk of a hostile file.
MAX_PKCS12_NESTING = 4


class Pkcs12TooCostly(ClientError, ValueError):
    """A PKCS#12 file whose key derivations ask for more than `sm2keys.MAX_PBKDF2_ITERATIONS`
    iterations in all (or whose cost cannot be read): refused before any is run."""

    def __init__(self, part: str, iterations: int | None, total: int, reason: str | None = None) -> None:
        detail = reason or (f"{iterations} key derivation iterations, {total} in all, over the cap of "
                            f"{sm2keys.MAX_PBKDF2_ITERATIONS}: refusing to run them")
        super().__init__(f"cannot load the PKCS#12 file: {part}: {detail}")
        self.part = part
        self.iterations = iterations
        self.total = total


class _Pkcs12Budget:
    """Iterations charged so far against `sm2keys.MAX_PBKDF2_ITERATIONS`."""

    def __init__(self) -> None:
        self.total = 0

    def charge(self, part: str, iterations: int) -> None:
        self.total += iterations
        if iterations <= 0 or self.total > sm2keys.MAX_PBKDF2_ITERATIONS:
            raise Pkcs12TooCostly(part, iterations, self.total)

    def charge_algorithm(self, part: str, algorithm: asn1_algos.EncryptionAlgorithm) -> None:
        try:
            iterations = sm2keys.check_key_derivation_cost(algorithm)
        except SM2KeyError as exc:
            raise Pkcs12TooCostly(part, None, self.total, str(exc)) from exc
        self.charge(part, iterations)


def _check_pkcs12_cost(data: bytes, password: bytes | None) -> None:
    """Refuse a PKCS#12 file whose key derivations together ask for more than
    `sm2keys.MAX_PBKDF2_ITERATIONS` iterations, before cryptography runs them.

    Counted: the MAC's iterations, each encrypted part's and each shrouded key's.
    Encrypted parts under PBES2 (what cryptography and OpenSSL 3 write) are decrypted here,
    capped, to count the keys inside; a part under legacy PKCS#12 PBE (3DES, RC2) is
    counted but not opened (the PKCS#12 KDF is in no library here), so a shrouded key
    hidden inside one is counted by no one but cryptography. A file asn1crypto cannot
    read is refused: its cost cannot be counted.
    """
    budget = _Pkcs12Budget()
    try:
        pfx = asn1_pkcs12.Pfx.load(data, strict=True)
        mac = pfx["mac_data"]
        if mac.native is not None:
            budget.charge("the MAC", int(mac["iterations"].native))
        for content_info in pfx.authenticated_safe:
            _count_pkcs12_part(content_info, password, budget)
    except Pkcs12TooCostly:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"cannot load the PKCS#12 file: not a well-formed PKCS#12 PFX ({exc})") from exc


def _count_pkcs12_part(content_info: asn1_cms.ContentInfo, password: bytes | None, budget: _Pkcs12Budget) -> None:
    kind = content_info["content_type"].native
    if kind == "data":
        _count_pkcs12_bags(asn1_pkcs12.SafeContents.load(content_info["content"].native), budget, 1)
    elif kind == "encrypted_data":
        encrypted = content_info["content"]["encrypted_content_info"]
        algorithm = encrypted["content_encryption_algorithm"]
        budget.charge_algorithm("an encrypted part", algorithm)
        _count_pkcs12_bags(_decrypted_bags(algorithm, encrypted["encrypted_content"].native, password), budget, 1)
    # Anything else (public-key privacy, enveloped data): cryptography opens none.


def _decrypted_bags(algorithm: asn1_algos.EncryptionAlgorithm, ciphertext: bytes | None,
                    password: bytes | None) -> asn1_pkcs12.SafeContents | None:
    """The bags of a PBES2 part, or None when they cannot be read here (another scheme, no
    or a wrong password: cryptography then says so, having paid no more than was counted)."""
    if ciphertext is None or not password:
        return None
    try:
        plain = sm2keys.decrypt_pbes2(algorithm, ciphertext, password)
        bags = asn1_pkcs12.SafeContents.load(plain, strict=True)
        _ = [bag["bag_id"].native for bag in bags]
    except (SM2KeyError, ValueError, TypeError, KeyError):
        return None
    return bags


def _count_pkcs12_bags(bags: asn1_pkcs12.SafeContents | None, budget: _Pkcs12Budget, depth: int) -> None:
    if bags is None:
        return
    if depth > MAX_PKCS12_NESTING:
        raise Pkcs12TooCostly("its bags", None, budget.total, f"nested deeper than {MAX_PKCS12_NESTING}")
    for bag in bags:
        kind = bag["bag_id"].native
        if kind == "pkcs8_shrouded_key_bag":
            budget.charge_algorithm("a shrouded key", bag["bag_value"]["encryption_algorithm"])
        elif kind == "safe_contents":
            _count_pkcs12_bags(bag["bag_value"], budget, depth + 1)


def write_pkcs12(
    name: str,
    key: PrivateKey,
    cert: x509.Certificate,
    additional: Sequence[x509.Certificate] = (),
    password: bytes | None = None,
) -> bytes:
    """A PKCS#12 / .pfx file of the key, its certificate and the rest of its chain (not for
    SM2 keys: ValueError `SM2_PKCS12_UNSUPPORTED`)."""
    if isinstance(key, SM2PrivateKey):
        raise ValueError(SM2_PKCS12_UNSUPPORTED)
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption() if password is None else serialization.BestAvailableEncryption(password)
    )
    return pkcs12.serialize_key_and_certificates(name.encode(), key, cert, list(additional) or None, encryption)
