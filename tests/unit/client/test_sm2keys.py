"""SM2 key files (client.sm2keys): PKCS#8 plain and encrypted (PBES2), SEC 1, against the
files OpenSSL 3 writes and reads, and GmSSL's HMAC-SM3 / SM4-CBC scheme built here from
GmSSL's own primitives (gmssl-pyx), not from the code under test; and hostile files (a
key-derivation count of 2^31-1 in any scheme, 64 KiB of whitespace in a PEM, an EC key
without curve parameters) refused at once, under a pytest-timeout rather than a timing
assertion."""
from __future__ import annotations

import base64
import os
from pathlib import Path

import gmssl_pyx
import pytest
from asn1crypto import algos as asn1_algos, core as asn1_core, keys as asn1_keys

from client import sm2keys
from client.sm2keys import SM2KeyError, SM2PrivateKey
from tests.openssl_sm2 import openssl, require_openssl

PASSWORD = b"correct horse battery staple"


@pytest.fixture(scope="module")
def key() -> SM2PrivateKey:
    return SM2PrivateKey.generate()


def pem_body(pem: bytes) -> bytes:
    return base64.b64decode(b"".join(line for line in pem.splitlines() if not line.startswith(b"-----")))


def encrypted_info(pem: bytes) -> asn1_keys.EncryptedPrivateKeyInfo:
    return asn1_keys.EncryptedPrivateKeyInfo.load(pem_body(pem))


# -- our files ------------------------------------------------------------------------------


def test_plain_pem_round_trip(key: SM2PrivateKey) -> None:
    pem = key.pem()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    loaded = SM2PrivateKey.from_pem(pem)
    assert loaded.public_key() == key.public_key() and loaded.private_bytes_raw == key.private_bytes_raw
    assert SM2PrivateKey.from_der(key.pkcs8_der()).public_key() == key.public_key()


# A key whose scalar starts with a zero byte (0x0024ad...), as `openssl pkey` writes it: the
# ECPrivateKey's privateKey is 32 octets whatever the scalar (RFC 5915: ceiling(log2(n)/8)).
LEADING_ZERO_KEY = b"""-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQgACStFX6FL+3NlpmT
W1s3a/KyWLPkuy33QXVByW/O2JKhRANCAATQi/I7nTHEj5SvXVkGjpsD0nQ3fmtB
dvnULjx99rLUqQ1Cr7GUTqwtGgI+fZiCrutUZe58sEb+eTfoPqjQO2hV
-----END PRIVATE KEY-----
"""


def test_scalar_with_a_leading_zero_byte_is_written_as_openssl_writes_it() -> None:
    key = SM2PrivateKey.from_pem(LEADING_ZERO_KEY)
    assert key.private_bytes_raw[0] == 0
    assert key.pem() == LEADING_ZERO_KEY
    assert SM2PrivateKey.from_pem(key.pem(PASSWORD), PASSWORD).pem() == LEADING_ZERO_KEY


def test_encrypted_pem_is_pbes2_pbkdf2_sha256_aes256_cbc(key: SM2PrivateKey) -> None:
    pem = key.pem(PASSWORD)
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    algorithm = encrypted_info(pem)["encryption_algorithm"]
    assert algorithm["algorithm"].dotted == sm2keys.PBES2_OID
    kdf = algorithm["parameters"]["key_derivation_func"]
    assert kdf["algorithm"].dotted == sm2keys.PBKDF2_OID
    params = kdf["parameters"]
    assert len(params["salt"].chosen.native) == sm2keys.PBKDF2_SALT_BYTES
    assert params["iteration_count"].native == sm2keys.PBKDF2_ITERATIONS == 2048
    assert params["key_length"].native is None
    assert params["prf"]["algorithm"].native == "sha256"
    assert params["prf"]["parameters"].dump() == b"\x05\x00"  # NULL, as OpenSSL writes it
    scheme = algorithm["parameters"]["encryption_scheme"]
    assert scheme["algorithm"].native == "aes256_cbc" and len(scheme["parameters"].native) == 16
    loaded = SM2PrivateKey.from_pem(pem, PASSWORD)
    assert loaded.private_bytes_raw == key.private_bytes_raw
    # A fresh salt and IV each time.
    assert key.pem(PASSWORD) != pem


def test_encrypted_der_round_trip(key: SM2PrivateKey) -> None:
    der = sm2keys.encrypt_private_key_info(key.pkcs8_der(), PASSWORD)
    assert sm2keys.encrypted_key_der(der) == der
    assert sm2keys.decrypt_private_key_info(der, PASSWORD) == key.pkcs8_der()
    assert SM2PrivateKey.from_der(der, PASSWORD).public_key() == key.public_key()


def test_password_refusals(key: SM2PrivateKey) -> None:
    encrypted = key.pem(PASSWORD)
    with pytest.raises(SM2KeyError, match="wrong password or a damaged file"):
        SM2PrivateKey.from_pem(encrypted, b"wrong password")
    with pytest.raises(SM2KeyError, match="encrypted: give its password"):
        SM2PrivateKey.from_pem(encrypted)
    with pytest.raises(SM2KeyError, match="not encrypted"):
        SM2PrivateKey.from_pem(key.pem(), PASSWORD)
    with pytest.raises(SM2KeyError, match="must not be empty"):
        key.pem(b"")


def _reencrypt(pem: bytes, **changes: object) -> bytes:
    """The encrypted key with PBES2 parameters changed (the ciphertext left alone)."""
    info = encrypted_info(pem)
    pbes2 = info["encryption_algorithm"]["parameters"]
    kdf = pbes2["key_derivation_func"]["parameters"]
    scheme = pbes2["encryption_scheme"]
    new_kdf = {
        "salt": kdf["salt"],
        "iteration_count": changes.get("iterations", kdf["iteration_count"].native),
        "prf": changes.get("prf", kdf["prf"]),
    }
    if "key_length" in changes:
        new_kdf["key_length"] = changes["key_length"]
    return asn1_keys.EncryptedPrivateKeyInfo({
        "encryption_algorithm": {
            "algorithm": "pbes2",
            "parameters": {
                "key_derivation_func": {"algorithm": "pbkdf2", "parameters": new_kdf},
                "encryption_scheme": changes.get("scheme", scheme),
            },
        },
        "encrypted_data": info["encrypted_data"].native,
    }).dump()


@pytest.mark.parametrize("changes, reason", [
    ({"iterations": sm2keys.MAX_PBKDF2_ITERATIONS + 1}, "iteration count 10000001 is outside"),
    ({"iterations": 0}, "iteration count 0 is outside"),
    ({"prf": {"algorithm": "1.2.840.113549.2.5"}}, "PRF 1.2.840.113549.2.5 is not supported"),  # hmacWithMD5
    ({"scheme": {"algorithm": "tripledes_3key", "parameters": asn1_core.OctetString(b"\x00" * 8)}},
     "cipher 1.2.840.113549.3.7 is not supported"),
    ({"key_length": 16}, "keyLength 16 does not fit the cipher's 32-byte key"),
    ({"scheme": {"algorithm": "aes256_cbc", "parameters": asn1_core.OctetString(b"\x00" * 8)}}, "IV is not 16 bytes"),
])
def test_pbes2_parameter_refusals(key: SM2PrivateKey, changes: dict[str, object], reason: str) -> None:
    tampered = _reencrypt(key.pem(PASSWORD), **changes)
    with pytest.raises(SM2KeyError, match=reason):
        sm2keys.decrypt_private_key_info(tampered, PASSWORD)


def test_unchanged_reencoding_still_decrypts(key: SM2PrivateKey) -> None:
    # The helper above must not itself break files: with no change the key still loads.
    assert SM2PrivateKey.from_der(_reencrypt(key.pem(PASSWORD)), PASSWORD).public_key() == key.public_key()


def test_not_encrypted_pkcs8_and_garbage() -> None:
    assert sm2keys.encrypted_key_der(b"garbage") is None
    assert sm2keys.encrypted_key_der(SM2PrivateKey.generate().pem()) is None
    with pytest.raises(SM2KeyError, match="not a PKCS#8 EncryptedPrivateKeyInfo"):
        sm2keys.decrypt_private_key_info(b"\x30\x03\x02\x01\x00", PASSWORD)
    with pytest.raises(SM2KeyError, match="no PRIVATE KEY"):
        SM2PrivateKey.from_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")


# -- GmSSL's scheme: PBKDF2-HMAC-SM3, SM4-CBC ----------------------------------------------------


def _pbkdf2_hmac_sm3(password: bytes, salt: bytes, iterations: int, length: int) -> bytes:
    """RFC 8018 5.2 with GmSSL's HMAC-SM3 (one block: SM3's 32 bytes cover SM4's 16)."""
    block = gmssl_pyx.sm3_hmac(password, salt + (1).to_bytes(4, "big"))
    result = bytearray(block)
    for _ in range(iterations - 1):
        block = gmssl_pyx.sm3_hmac(password, block)
        result = bytearray(a ^ b for a, b in zip(result, block, strict=True))
    return bytes(result[:length])


def test_gmssl_style_encrypted_key_loads(key: SM2PrivateKey) -> None:
    # What GmSSL's sm2_private_key_info_encrypt_to_der writes: 16-byte salt, 65536
    # iterations of PBKDF2-HMAC-SM3, no keyLength, SM4-CBC with a 16-byte IV.
    salt, iv, iterations = os.urandom(16), os.urandom(16), 65536
    sm4_key = _pbkdf2_hmac_sm3(PASSWORD, salt, iterations, 16)
    ciphertext = gmssl_pyx.sm4_cbc_padding_encrypt(sm4_key, iv, key.pkcs8_der())
    der = asn1_keys.EncryptedPrivateKeyInfo({
        "encryption_algorithm": {
            "algorithm": "pbes2",
            "parameters": {
                "key_derivation_func": {"algorithm": "pbkdf2", "parameters": {
                    "salt": asn1_algos.Pbkdf2Salt(name="specified", value=salt),
                    "iteration_count": iterations,
                    "prf": {"algorithm": sm2keys.HMAC_SM3_OID},
                }},
                "encryption_scheme": {"algorithm": sm2keys.SM4_CBC_OID, "parameters": asn1_core.OctetString(iv)},
            },
        },
        "encrypted_data": bytes(ciphertext),
    }).dump()
    pem = sm2keys.pem_armor("ENCRYPTED PRIVATE KEY", der)
    assert SM2PrivateKey.from_pem(pem, PASSWORD).private_bytes_raw == key.private_bytes_raw
    with pytest.raises(SM2KeyError, match="wrong password"):
        SM2PrivateKey.from_pem(pem, b"not it")


# -- OpenSSL ------------------------------------------------------------------------------------


def test_openssl_reads_our_key_files(key: SM2PrivateKey, tmp_path: Path) -> None:
    require_openssl()
    plain, encrypted = tmp_path / "plain.pem", tmp_path / "encrypted.pem"
    plain.write_bytes(key.pem())
    encrypted.write_bytes(key.pem(PASSWORD))
    # openssl re-writes each as plain PKCS#8: byte for byte our own plain file.
    assert openssl("pkey", "-in", plain).stdout.encode() == key.pem()
    assert openssl("pkey", "-in", encrypted, "-passin", f"pass:{PASSWORD.decode()}").stdout.encode() == key.pem()
    wrong = openssl("pkey", "-in", encrypted, "-passin", "pass:wrong", check=False)
    assert wrong.returncode != 0


def _shape(pem: bytes) -> tuple[object, ...]:
    algorithm = encrypted_info(pem)["encryption_algorithm"]
    kdf = algorithm["parameters"]["key_derivation_func"]
    scheme = algorithm["parameters"]["encryption_scheme"]
    return (algorithm["algorithm"].dotted, kdf["algorithm"].dotted, kdf["parameters"]["iteration_count"].native,
            kdf["parameters"]["key_length"].native, kdf["parameters"]["prf"].dump(), scheme["algorithm"].dotted,
            len(scheme["parameters"].native))


def test_encrypted_file_has_the_shape_openssl_pkcs8_v2_aes256_writes(key: SM2PrivateKey, tmp_path: Path) -> None:
    require_openssl()
    plain, theirs = tmp_path / "plain.pem", tmp_path / "theirs.pem"
    plain.write_bytes(key.pem())
    openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", plain, "-passout", "pass:pw", "-out", theirs)
    # Same algorithms, parameters and iteration count; only the random salt (OpenSSL 3.0
    # draws 8 bytes, 3.2 and cryptography 16) and IV differ.
    assert _shape(key.pem(b"pw")) == _shape(theirs.read_bytes())
    assert SM2PrivateKey.from_pem(theirs.read_bytes(), b"pw").private_bytes_raw == key.private_bytes_raw


@pytest.mark.parametrize("how", [
    ["genpkey", "-algorithm", "SM2"],
    ["genpkey", "-algorithm", "SM2", "-aes-256-cbc", "-pass", "pass:{pw}"],
    ["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-passout", "pass:{pw}"],
    ["pkcs8", "-topk8", "-v2", "sm4-cbc", "-passout", "pass:{pw}"],
    ["pkcs8", "-topk8", "-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA512", "-iter", "5000", "-passout", "pass:{pw}"],
    ["ec"],                     # SEC 1, labelled SM2 PRIVATE KEY by OpenSSL
    ["ec", "-outform", "DER"],  # SEC 1 DER
    ["pkey", "-outform", "DER"],  # PKCS#8 DER
])
def test_openssl_key_files_load(tmp_path: Path, how: list[str]) -> None:
    require_openssl()
    source = tmp_path / "source.pem"
    openssl("genpkey", "-algorithm", "SM2", "-out", source)
    out = tmp_path / "key"
    args = [a.format(pw=PASSWORD.decode()) for a in how]
    if args[0] == "genpkey":
        openssl(*args, "-out", out)
        source = out
    else:
        openssl(*args, "-in", source, "-out", out)
    encrypted = any(a.startswith("pass:") for a in args)
    data = out.read_bytes()
    loaded = (SM2PrivateKey.from_pem(data, PASSWORD if encrypted else None) if data.startswith(b"-----")
              else SM2PrivateKey.from_der(data, PASSWORD if encrypted else None))
    expected = openssl("pkey", "-in", source, "-passin", f"pass:{PASSWORD.decode()}").stdout.encode()
    assert loaded.pem() == expected


def test_traditional_encrypted_pem_is_refused_with_the_conversion(tmp_path: Path) -> None:
    require_openssl()
    source, out = tmp_path / "source.pem", tmp_path / "legacy.pem"
    openssl("genpkey", "-algorithm", "SM2", "-out", source)
    openssl("ec", "-in", source, "-aes256", "-passout", "pass:pw", "-out", out)
    with pytest.raises(SM2KeyError, match="openssl pkcs8 -topk8 -v2 aes-256-cbc"):
        SM2PrivateKey.from_pem(out.read_bytes(), b"pw")


def test_pbes1_is_refused_naming_pbes2(tmp_path: Path) -> None:
    require_openssl()
    source, out = tmp_path / "source.pem", tmp_path / "pbes1.pem"
    openssl("genpkey", "-algorithm", "SM2", "-out", source)
    openssl("pkcs8", "-topk8", "-v1", "PBE-SHA1-3DES", "-in", source, "-passout", "pass:pw", "-out", out)
    with pytest.raises(SM2KeyError, match="is not PBES2"):
        SM2PrivateKey.from_pem(out.read_bytes(), b"pw")


# -- hostile files: refused before they cost anything ---------------------------------------------

HOSTILE_ITERATIONS = 2**31 - 1  # minutes of PBKDF2 if anything ran it


def _pbes1_like(name: str, iterations: int) -> asn1_algos.EncryptionAlgorithm:
    """A PBES1 or PKCS#12 PBE AlgorithmIdentifier (their parameters: salt, iterations)."""
    return asn1_algos.EncryptionAlgorithm({"algorithm": name,
                                           "parameters": {"salt": b"\x01" * 8, "iterations": iterations}})


@pytest.mark.timeout(10)
def test_a_hostile_pbes2_count_is_refused_before_deriving(key: SM2PrivateKey) -> None:
    tampered = sm2keys.pem_armor("ENCRYPTED PRIVATE KEY", _reencrypt(key.pem(PASSWORD), iterations=HOSTILE_ITERATIONS))
    with pytest.raises(SM2KeyError, match=f"PBKDF2 iteration count {HOSTILE_ITERATIONS} is outside"):
        SM2PrivateKey.from_pem(tampered, PASSWORD)


@pytest.mark.parametrize("algorithm, reason", [
    (_pbes1_like("pkcs12_sha1_tripledes_3key", HOSTILE_ITERATIONS), f"PKCS#12 KDF iteration count {HOSTILE_ITERATIONS}"),
    (_pbes1_like("pbes1_sha1_des", HOSTILE_ITERATIONS), f"PBKDF1 iteration count {HOSTILE_ITERATIONS}"),
    (_pbes1_like("pkcs12_sha1_rc2_40", 0), "PKCS#12 KDF iteration count 0 is outside"),
    # PBKDF2's cost grows with the key length a file asks for, too.
    (asn1_algos.EncryptionAlgorithm({"algorithm": "pbes2", "parameters": {
        "key_derivation_func": {"algorithm": "pbkdf2", "parameters": {
            "salt": asn1_algos.Pbkdf2Salt(name="specified", value=b"\x01" * 16), "iteration_count": 2048,
            "key_length": 1 << 20}},
        "encryption_scheme": {"algorithm": "aes256_cbc", "parameters": asn1_core.OctetString(b"\x00" * 16)}}}),
     "keyLength 1048576 is outside 1..32"),
    # scrypt (RFC 7914's OID): a KDF whose cost this module does not read is not run.
    (asn1_algos.EncryptionAlgorithm({"algorithm": "pbes2", "parameters": {
        "key_derivation_func": {"algorithm": "1.3.6.1.4.1.11591.4.11", "parameters": asn1_core.Null()},
        "encryption_scheme": {"algorithm": "aes256_cbc", "parameters": asn1_core.OctetString(b"\x00" * 16)}}}),
     "is not PBKDF2: its cost cannot be read"),
    (asn1_algos.EncryptionAlgorithm({"algorithm": "1.2.3.4", "parameters": asn1_core.Null()}),
     "no key derivation cost that can be read"),
])
def test_key_derivation_costs_refused_for_every_scheme(algorithm: asn1_algos.EncryptionAlgorithm, reason: str) -> None:
    with pytest.raises(SM2KeyError, match=reason) as refused:
        sm2keys.check_key_derivation_cost(algorithm)
    # Never "unsupported": that is what devpki takes as leave to let cryptography run it.
    assert not isinstance(refused.value, sm2keys.UnsupportedKeyEncryption)


def test_key_derivation_costs_within_the_cap_are_counted() -> None:
    assert sm2keys.check_key_derivation_cost(_pbes1_like("pkcs12_sha1_tripledes_3key", 2048)) == 2048
    assert sm2keys.check_key_derivation_cost(
        _pbes1_like("pbes1_sha1_des", sm2keys.MAX_PBKDF2_ITERATIONS)) == sm2keys.MAX_PBKDF2_ITERATIONS


@pytest.mark.timeout(10)
@pytest.mark.parametrize("filler", [b" ", b"\n", b" \r\n\t"])
def test_a_pem_of_whitespace_is_refused_at_once(filler: bytes) -> None:
    # A 64 KiB key file that opens a block and never closes it: the PEM scan is linear.
    head = b"-----BEGIN PRIVATE KEY-----"
    data = head + filler * ((sm2keys.MAX_KEY_FILE_BYTES - len(head)) // len(filler))
    assert len(data) <= sm2keys.MAX_KEY_FILE_BYTES
    with pytest.raises(SM2KeyError, match="no PRIVATE KEY"):
        SM2PrivateKey.from_pem(data)
    assert sm2keys.encrypted_key_der(data) is None
    assert not sm2keys.is_sm2_key_file(data)


def test_pem_blocks_still_read_with_whitespace_around_the_body(key: SM2PrivateKey) -> None:
    body = base64.b64encode(key.pkcs8_der())
    for armoured in (b"-----BEGIN PRIVATE KEY-----" + body + b"-----END PRIVATE KEY-----",
                     b"-----BEGIN PRIVATE KEY-----\r\n  " + body + b"\r\n\r\n-----END PRIVATE KEY-----\r\n"):
        assert SM2PrivateKey.from_pem(armoured).private_bytes_raw == key.private_bytes_raw


def parameterless(key: SM2PrivateKey) -> bytes:
    """PKCS#8 id-ecPublicKey with the curve parameters left out (RFC 5480 requires them)."""
    inner = asn1_keys.PrivateKeyInfo.load(key.pkcs8_der())["private_key"].parsed
    return asn1_keys.PrivateKeyInfo({"version": 0, "private_key_algorithm": {"algorithm": "ec"},
                                     "private_key": inner}).dump()


def test_an_ec_key_without_curve_parameters_is_refused_not_a_crash(key: SM2PrivateKey) -> None:
    der = parameterless(key)
    assert asn1_keys.PrivateKeyInfo.load(der)["private_key_algorithm"]["parameters"].native is None
    for label in ("PRIVATE KEY", "SM2 PRIVATE KEY"):
        with pytest.raises(SM2KeyError, match="not an SM2 private key"):
            SM2PrivateKey.from_pem(sm2keys.pem_armor(label, der))
        assert not sm2keys.is_sm2_key_file(sm2keys.pem_armor(label, der))
    with pytest.raises(SM2KeyError, match="not an SM2 private key"):
        SM2PrivateKey.from_der(der)
    assert not sm2keys.is_sm2_private_key_info(der)
    # The same key encrypted: decrypted, then refused for what it is.
    with pytest.raises(SM2KeyError, match="not an SM2 private key"):
        SM2PrivateKey.from_der(sm2keys.encrypt_private_key_info(der, PASSWORD), PASSWORD)
