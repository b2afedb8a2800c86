"""`ledger ca new|issue|crl --key-type sm2` run as real processes (no node needed): the files
an SM2 hierarchy leaves (ca.pem, ca.key, chain.pem; cert.pem, key.pem, chain.pem — and
no identity.p12 for an SM2 key, said on stderr and in the JSON), checked by the `openssl`
command line link by link with the distinguishing ID (tests/openssl_sm2.py), and loaded
back as SDK identities."""
from __future__ import annotations

import hashlib
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from client import pkifiles
from client.credentials import load_identity
from client.sm2keys import SM2PrivateKey
from evidence.sm2 import SM3_WITH_SM2_OID, SM2PublicKey
from tests.integration.cli_runs import Cli, Run, together
from tests.openssl_sm2 import openssl, require_openssl, verify_crl, verify_path

pytestmark = pytest.mark.slow

PASSWORD = "alice-pw"


@dataclass
class Made:
    base: Path
    outputs: dict[str, Run]

    def json(self, name: str) -> Any:
        return self.outputs[name].json()


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    require_openssl()
    base = tmp_path_factory.mktemp("cli-sm2")
    cli = Cli(None)
    out: dict[str, Run] = {}
    out["root"], out["rsa"] = together(
        cli.start("ca", "new", "--name", "National Trading CA Root", "--org", "国家交易中心", "--key-type", "sm2",
                  "--out", base / "root", "--json"),
        cli.start("ca", "new", "--name", "Trading Center CA", "--key-type", "rsa2048", "--out", base / "rsa", "--json"),
    )
    out["signing"] = cli.run("ca", "new", "--name", "National Trading CA Signing", "--key-type", "sm2",
                             "--intermediate-of", base / "root", "--out", base / "signing", "--json")
    out["alice"], out["bob"], out["carol"], out["dave"] = together(
        cli.start("ca", "issue", "--ca", base / "signing", "--name", "Alice Construction", "--key-type", "sm2",
                  "--out", base / "alice", "--p12", "--password", PASSWORD, "--json"),
        cli.start("ca", "issue", "--ca", base / "rsa", "--name", "Bob Supplies", "--key-type", "sm2",
                  "--out", base / "bob", "--json"),
        cli.start("ca", "issue", "--ca", base / "signing", "--name", "Carol Audit", "--key-type", "p256",
                  "--out", base / "carol", "--p12", "--json"),
        cli.start("ca", "issue", "--ca", base / "signing", "--name", "Dave Design", "--key-type", "sm2",
                  "--out", base / "dave", "--p12"),
    )
    alice_serial = out["alice"].json()["serial"]
    out["crl"] = cli.run("ca", "crl", "--ca", base / "signing", "--serial", hex(alice_serial),
                         "--out", base / "signing.crl", "--json")
    return Made(base, out)


def split_chain(chain_pem: Path) -> list[Path]:
    """chain.pem as one file per certificate, leaf first: what `verify_path` takes."""
    paths = []
    for index, cert in enumerate(x509.load_pem_x509_certificates(chain_pem.read_bytes())):
        path = chain_pem.parent / f"{chain_pem.stem}-{index}.pem"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        paths.append(path)
    return paths


def test_ca_new_sm2_writes_the_usual_files(made: Made) -> None:
    root, signing = made.json("root"), made.json("signing")
    assert root["keyType"] == "sm2" and root["root"] is True
    assert signing["keyType"] == "sm2" and signing["root"] is False
    assert signing["rootFingerprint"] == root["fingerprint"]
    for name in ("root", "signing"):
        directory = made.base / name
        assert sorted(p.name for p in directory.iterdir()) == ["ca.key", "ca.pem", "chain.pem"]
        assert stat.S_IMODE((directory / "ca.key").stat().st_mode) == 0o600
        cert = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
        assert cert.signature_algorithm_oid.dotted_string == SM3_WITH_SM2_OID
        key = pkifiles.load_private_key((directory / "ca.key").read_bytes())
        assert isinstance(key, SM2PrivateKey) and SM2PublicKey.from_certificate(cert) == key.public_key()
        assert "0x" + hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest() == made.json(name)["fingerprint"]
    assert x509.load_pem_x509_certificate((made.base / "root" / "ca.pem").read_bytes()).subject.rfc4514_string() == \
        "CN=National Trading CA Root,O=国家交易中心"


def test_ca_issue_sm2_writes_no_p12_and_says_so(made: Made) -> None:
    alice = made.json("alice")
    assert alice["keyType"] == "sm2"
    p12 = str(made.base / "alice" / "identity.p12")
    assert p12 not in alice["files"] and not Path(p12).exists()
    assert sorted(Path(f).name for f in alice["files"]) == ["cert.pem", "chain.pem", "key.pem"]
    assert "PEM key and chain" in alice["notWritten"][p12]
    assert f"warning: {p12} not written: PKCS#12 files with SM2 keys are not supported" in made.outputs["alice"].err
    assert stat.S_IMODE((made.base / "alice" / "key.pem").stat().st_mode) == 0o600
    # Human output: the same news in the table, and on stderr.
    dave = made.outputs["dave"].ok()
    assert "not written" in dave.out and "identity.p12" in dave.out and "warning:" in dave.err
    assert not (made.base / "dave" / "identity.p12").exists()
    # A P-256 leaf of the SM2 CA gets its identity.p12 as before.
    carol = made.json("carol")
    assert str(made.base / "carol" / "identity.p12") in carol["files"] and "notWritten" not in carol


def test_openssl_verifies_the_cli_chains(made: Made) -> None:
    for name in ("alice", "bob", "carol"):
        path = split_chain(made.base / name / "chain.pem")
        assert len(path) == (2 if name == "bob" else 3)
        result = verify_path(path)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"


def test_openssl_reads_the_key_files(made: Made) -> None:
    encrypted = made.base / "alice" / "key.pem"
    assert encrypted.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    plain = openssl("pkey", "-in", encrypted, "-passin", f"pass:{PASSWORD}").stdout.encode()
    alice_key = pkifiles.load_private_key(encrypted.read_bytes(), PASSWORD.encode())
    assert isinstance(alice_key, SM2PrivateKey) and plain == alice_key.pem()
    assert openssl("pkey", "-in", made.base / "bob" / "key.pem", "-noout").returncode == 0
    assert openssl("pkey", "-in", made.base / "signing" / "ca.key", "-noout").returncode == 0


def test_cli_identities_load_and_sign(made: Made) -> None:
    digest = hashlib.sha256(b"contract 7").digest()
    alice = load_identity(cert=made.base / "alice" / "chain.pem", key=made.base / "alice" / "key.pem", password=PASSWORD)
    assert isinstance(alice.key, SM2PrivateKey) and alice.key.public_key().verify(digest, alice.sign_digest(digest))
    bob = load_identity(cert=made.base / "bob" / "chain.pem", key=made.base / "bob" / "key.pem")
    assert bob.chain[-1].subject.rfc4514_string() == "CN=Trading Center CA"
    carol = load_identity(p12=made.base / "carol" / "identity.p12")
    assert [c.subject.rfc4514_string() for c in carol.chain][1:] == [
        "CN=National Trading CA Signing", "CN=National Trading CA Root,O=国家交易中心"]


def test_ca_crl_with_an_sm2_ca(made: Made) -> None:
    document = made.json("crl")
    crl_file = made.base / "signing.crl"
    assert document["serials"] == [made.json("alice")["serial"]] and document["file"] == str(crl_file)
    crl = x509.load_der_x509_crl(crl_file.read_bytes())
    assert crl.signature_algorithm_oid.dotted_string == SM3_WITH_SM2_OID
    assert [entry.serial_number for entry in crl] == [made.json("alice")["serial"]]
    assert verify_crl(crl_file, made.base / "signing" / "ca.pem").returncode == 0
    assert verify_crl(crl_file, made.base / "root" / "ca.pem").returncode != 0
