"""Certificate hierarchies made by the `openssl` command line (OpenSSL 3), SM2 or not.

The independent side of the national-crypto tests: chains, CRLs and keys that our code did
not make, built with `openssl ca` (which sets fixed dates and serials, signs SM2 with SM3
and a distinguishing identifier, and writes CRLs from its index). Skips the calling test
when `openssl` is missing or older than 3.0 (no SM2 signatures in X.509).

OpenSSL 3.0 uses an empty SM2 distinguishing identifier unless given one, where GM/T 0009
(and GmSSL, and the ledger) use 1234567812345678; every SM2 signature made here passes
`-sigopt distid:...` (and checks requests with `-vfyopt`) so the chains are the ones a
Chinese CA issues. `distid=""`-style chains for negative tests come from `issue(distid=...)`.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509

from evidence import der, sm2

OPENSSL_ENV = {**os.environ, "OPENSSL_CONF": os.devnull}
DEFAULT_ID = "1234567812345678"
# Fixed validity like tests/pki.py: any clock a test run or a dev chain has sits inside it.
START = "20240101000000Z"
END = "20340101000000Z"
ROOT_END = "20350101000000Z"

_CONFIG = """\
[ca]
default_ca = here
[here]
dir = {dir}
database = {dir}/index.txt
new_certs_dir = {dir}/issued
serial = {dir}/serial
crlnumber = {dir}/crlnumber
policy = anything
unique_subject = no
copy_extensions = none
default_crl_days = 30
[anything]
commonName = supplied
organizationName = optional
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[intermediate]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[signer]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[crl]
authorityKeyIdentifier = keyid
"""

_GENPKEY = {
    "sm2": ["-algorithm", "SM2"],
    "p256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "rsa2048": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
}


def require_openssl() -> str:
    """The `openssl` binary (3.x), or the calling test skips."""
    binary = shutil.which("openssl")
    if binary is None:
        pytest.skip("openssl is not installed")
    version = subprocess.run([binary, "version"], capture_output=True, text=True, check=False, timeout=30).stdout
    match = re.match(r"OpenSSL (\d+)\.", version)
    if match is None or int(match.group(1)) < 3:
        pytest.skip(f"SM2 certificates need OpenSSL 3 (found {version.strip() or 'an unknown version'})")
    return binary


def openssl(*args: str | Path, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `openssl` with no system config; raise with its stderr when it fails and `check`."""
    result = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, env=OPENSSL_ENV,
                            cwd=cwd, timeout=60, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"openssl {' '.join(map(str, args))} failed:\n{result.stderr}")
    return result


def _sign_options(key_type: str, distid: str) -> list[str]:
    if key_type == "sm2":
        return ["-md", "sm3", "-sigopt", f"distid:{distid}"]
    return ["-md", "sha256"]


@dataclass
class Issued:
    """One certificate openssl made, with its key: files under `directory`."""

    directory: Path
    name: str
    key_type: str
    serial: int
    path: list[Path] = field(default_factory=list)  # PEM files from this certificate up to the root

    @property
    def key(self) -> Path:
        return self.directory / f"{self.name}.key"

    @property
    def cert(self) -> Path:
        return self.directory / f"{self.name}.pem"

    def chain_pem(self) -> bytes:
        """This certificate and its issuers, leaf first, as one PEM bundle."""
        return b"".join(p.read_bytes() for p in self.path)

    def write_chain(self) -> Path:
        out = self.directory / f"{self.name}-chain.pem"
        out.write_bytes(self.chain_pem())
        return out


class OpensslCA:
    """A CA kept by `openssl ca` in its own directory: it issues CAs and signers, revokes and
    writes CRLs. `key_type` is its own key (sm2, p256, rsa2048); it signs SM2-with-SM3 with
    `distid` when SM2, SHA-256 otherwise."""

    def __init__(self, directory: Path, name: str, *, key_type: str = "sm2", distid: str = DEFAULT_ID,
                 parent: OpensslCA | None = None) -> None:
        require_openssl()
        self.directory = directory
        self.key_type = key_type
        self.distid = distid
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "issued").mkdir(exist_ok=True)
        (directory / "index.txt").write_text("")
        (directory / "serial").write_text("1000\n")
        (directory / "crlnumber").write_text("01\n")
        self.config = directory / "openssl.cnf"
        self.config.write_text(_CONFIG.format(dir=directory))
        self._slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        if parent is None:
            self.issued = self._make(self, name, key_type, "root", selfsign=True, end=ROOT_END)
            self.issued.path = [self.issued.cert]
        else:
            self.issued = parent._make(self, name, key_type, "intermediate")
            self.issued.path = [self.issued.cert, *parent.issued.path]

    @property
    def cert(self) -> Path:
        return self.issued.cert

    @property
    def key(self) -> Path:
        return self.issued.key

    def _make(self, target: OpensslCA | None, name: str, key_type: str, extensions: str, *,
              selfsign: bool = False, end: str = END, distid: str | None = None) -> Issued:
        where = target.directory if target is not None else self.directory
        slug = target._slug if target is not None else re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        key = where / f"{slug}.key"
        openssl("genpkey", *_GENPKEY[key_type], "-out", key)
        request = where / f"{slug}.csr"
        req_sign = ["-sm3", "-sigopt", f"distid:{DEFAULT_ID}"] if key_type == "sm2" else []
        openssl("req", "-new", "-key", key, "-subj", f"/O={name} Org/CN={name}", *req_sign, "-out", request,
                "-config", self.config)
        serial = int((self.directory / "serial").read_text().strip(), 16)
        signer: list[str | Path] = ["-selfsign", "-keyfile", key] if selfsign else ["-cert", self.cert, "-keyfile", self.key]
        # The request's own SM2 signature is checked with the default identifier it was made with.
        check_request = ["-vfyopt", f"distid:{DEFAULT_ID}"] if key_type == "sm2" else []
        out = where / f"{slug}.pem"
        result = openssl("ca", "-batch", "-config", self.config, "-notext", "-in", request, "-out", out,
                         "-startdate", START, "-enddate", end, "-extensions", extensions, *check_request,
                         *signer, *_sign_options(self.key_type if not selfsign else key_type,
                                                 self.distid if distid is None else distid))
        # `openssl ca` exits 0 on some refusals (a request whose signature does not match).
        if not out.exists() or out.stat().st_size == 0:
            raise AssertionError(f"openssl ca wrote no certificate for {name}:\n{result.stderr}")
        return Issued(where, slug, key_type, serial)

    def issue(self, name: str, *, key_type: str = "sm2", distid: str | None = None,
              extensions: str = "signer") -> Issued:
        """A signer certificate (digitalSignature, nonRepudiation) for a new `key_type` key;
        `distid` overrides the identifier this CA signs it with (a wrong-ID test)."""
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        leaf_dir = self.directory / slug
        leaf_dir.mkdir(exist_ok=True)
        holder = _Holder(leaf_dir, slug)
        issued = self._make(holder, name, key_type, extensions, distid=distid)  # type: ignore[arg-type]
        issued.path = [issued.cert, *self.issued.path]
        return issued

    def revoke(self, issued: Issued) -> None:
        openssl("ca", "-batch", "-config", self.config, "-revoke", issued.cert, "-cert", self.cert,
                "-keyfile", self.key, *_sign_options(self.key_type, self.distid))
        if "\nR\t" not in "\n" + (self.directory / "index.txt").read_text():
            raise AssertionError(f"openssl ca did not revoke {issued.name}")

    def crl(self) -> bytes:
        """A DER CRL of everything revoked so far, signed by this CA."""
        pem = self.directory / "crl.pem"
        # Fixed dates: a CRL issued "now" would be in the future for a test's fixed `at`.
        openssl("ca", "-batch", "-config", self.config, "-gencrl", "-out", pem, "-cert", self.cert,
                "-keyfile", self.key, "-crlexts", "crl", "-crl_lastupdate", START, "-crl_nextupdate", END,
                *_sign_options(self.key_type, self.distid))
        der = self.directory / "crl.der"
        openssl("crl", "-in", pem, "-outform", "DER", "-out", der)
        return der.read_bytes()


@dataclass
class _Holder:
    """Where `OpensslCA._make` writes a leaf's files (a leaf is not a CA of its own)."""

    directory: Path
    _slug: str


def has_sm2_key(pem_file: Path) -> bool:
    """Whether the certificate in `pem_file` carries an SM2 public key."""
    certificate = x509.load_pem_x509_certificate(pem_file.read_bytes())
    spki = der.tbs_field(certificate.tbs_certificate_bytes, der.TBS_SUBJECT_PUBLIC_KEY_INFO)
    try:
        sm2.SM2PublicKey.from_spki(spki)
    except sm2.SM2Error:
        return False
    return True


def verify(chain: Issued, *, distid: str = DEFAULT_ID) -> subprocess.CompletedProcess[str]:
    """`openssl verify` of every link of `chain.path` (leaf up to its root); the first
    failure's result, or the last success's.

    OpenSSL 3.0 signs and checks SM2 with an *empty* distinguishing identifier unless given
    one (`-sigopt` / `-vfyopt distid:`), not GM/T 0009's default, and it applies
    `-vfyopt` only to the certificate being verified, not to the intermediates above it.
    So each certificate is verified on its own against the next one as a trust anchor
    (`-partial_chain`), and the root's self-signature by `verify_self_signed`: every
    signature is checked with `distid` (default 1234567812345678), each link with OpenSSL's
    path rules.
    """
    return verify_path(chain.path, distid=distid)


def verify_self_signed(root: Path, *, distid: str = DEFAULT_ID) -> subprocess.CompletedProcess[str]:
    """The root's own signature, by OpenSSL. `openssl verify -check_ss_sig` checks an SM2
    anchor without the identifier, so an SM2 root's TBSCertificate and signature are handed
    to `openssl pkeyutl -verify` with it; other roots go through `-check_ss_sig`."""
    if not has_sm2_key(root):
        return openssl("verify", "-partial_chain", "-check_ss_sig", "-CAfile", root, root, check=False)
    certificate = x509.load_pem_x509_certificate(root.read_bytes())
    return _pkeyutl_sm2(root.parent / f"{root.stem}-self", certificate.tbs_certificate_bytes,
                        certificate.signature, root, distid)


def _pkeyutl_sm2(work: Path, signed: bytes, signature: bytes, signer: Path,
                 distid: str) -> subprocess.CompletedProcess[str]:
    """`openssl pkeyutl -verify` of an SM2 `signature` over `signed` (a TBSCertificate or
    TBSCertList) by the key of the certificate in `signer`, with `distid`; files in `work`."""
    work.mkdir(exist_ok=True)
    (work / "tbs.der").write_bytes(signed)
    (work / "signature.der").write_bytes(signature)
    openssl("x509", "-in", signer, "-noout", "-pubkey", "-out", work / "public.pem")
    return openssl("pkeyutl", "-verify", "-pubin", "-inkey", work / "public.pem", "-rawin", "-digest", "sm3",
                   "-pkeyopt", f"distid:{distid}", "-in", work / "tbs.der", "-sigfile", work / "signature.der",
                   check=False)


def verify_path(path: list[Path], *, distid: str = DEFAULT_ID) -> subprocess.CompletedProcess[str]:
    """`verify` for PEM files `OpensslCA` did not make (`ledger ca`'s, `client.devpki`'s):
    `path` from the leaf up to its root, one certificate per file; each link verified on
    its own with `distid` and the root's self-signature by `verify_self_signed`."""
    result = None
    for index, certificate in enumerate(path[:-1]):
        anchor = path[index + 1]
        identifier = ["-vfyopt", f"distid:{distid}"] if has_sm2_key(anchor) else []
        result = openssl("verify", *identifier, "-partial_chain", "-CAfile", anchor, certificate, check=False)
        if result.returncode != 0:
            return result
    return verify_self_signed(path[-1], distid=distid)


def verify_crl(crl_der: Path, issuer: Path, *, distid: str = DEFAULT_ID) -> subprocess.CompletedProcess[str]:
    """Whether OpenSSL accepts the DER CRL's signature by the issuer's certificate (PEM).

    `openssl crl -verify` takes no `-vfyopt` (3.0) and so checks SM2 with an empty
    identifier: an SM2 issuer's TBSCertList and signature go to `openssl pkeyutl -verify`
    with `distid`. `openssl crl -verify` exits 0 even when it prints `verify failure`, so
    its answer is read from what it prints."""
    crl = x509.load_der_x509_crl(crl_der.read_bytes())
    if not has_sm2_key(issuer):
        result = openssl("crl", "-inform", "DER", "-in", crl_der, "-CAfile", issuer, "-verify", "-noout", check=False)
        ok = result.returncode == 0 and "verify OK" in result.stdout + result.stderr
        return subprocess.CompletedProcess(result.args, 0 if ok else 1, result.stdout, result.stderr)
    return _pkeyutl_sm2(crl_der.parent / f"{crl_der.stem}-check", crl.tbs_certlist_bytes, crl.signature,
                        issuer, distid)
