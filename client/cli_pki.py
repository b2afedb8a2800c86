"""`ledger ca` and `ledger member`: a development PKI, trusting CA roots and granting roles
by admin quorum, revocation, member registration.

Nothing here imports web3 at module level: `ledger ca new|issue|crl` work offline and
start fast; the SDK is imported by the commands that talk to a node (client/cli_options.py),
and the few other imports inside functions (eth_utils, client.credentials) are there for
the same reason.
"""
from __future__ import annotations

import functools
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from chaincode import ACTION_GRANT_ROLES, ACTION_TRUST_ROOT, MAX_REVOKE_SERIALS, ROLE_BITS, role_names
from client import devpki, pkifiles
from client.cli_options import (
    DEFAULT_RPC,
    CertKeyOption,
    CertOption,
    JsonOption,
    KeyOption,
    KeystoreOption,
    P12Option,
    PasswordOption,
    RpcOption,
    SignerUrlOption,
    SignerUserOption,
    identity_from,
    on_chain,
    parse_address,
    reader,
    tx_document,
    tx_fields,
    writer,
)
from client.render import EXIT_REFUSED, emit_json, fail, fields, hex0x, line, table, timestamp
from client.sm2keys import SM2PrivateKey

if TYPE_CHECKING:
    from client.ledger import Ledger, TxResult

ca_app = typer.Typer(no_args_is_help=True, help="A development PKI, and trusting or revoking a CA by admin quorum.")
member_app = typer.Typer(no_args_is_help=True, help="Members: register with a certificate, show, grant roles.")

# Not-before is backdated so a certificate made now is already valid at the block time
# of a node whose clock is a little behind this machine's.
CLOCK_SKEW = timedelta(hours=1)


def parse_serial(text: str) -> int:
    """A certificate serial number, decimal or 0x-hex."""
    try:
        value = int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        fail(f"--serial {text!r}: a decimal or 0x-hex certificate serial number")
    if value <= 0:
        fail(f"--serial {text!r}: serial numbers are positive")
    return value


# -- files ----------------------------------------------------------------------------


def fingerprint(cert: x509.Certificate) -> bytes:
    """SHA-256 of the certificate's DER: how the identity registry names it."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()


def write_files(files: dict[Path, tuple[bytes, bool]]) -> None:
    """Write new files {path: (data, private)}; private ones get mode 0600. Refuses to
    overwrite anything, and checks every path before writing the first."""
    for path in files:
        if path.exists():
            fail(f"{path} exists; refusing to overwrite")
    for path, (data, private) in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)


def read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        fail(f"{what} {path}: {exc.strerror}")


def read_certificates(path: Path, what: str) -> list[x509.Certificate]:
    try:
        return pkifiles.load_certificates(read_bytes(path, what))
    except ValueError as exc:
        fail(f"{what} {path}: {exc}")


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def read_ca_chain(path: Path, what: str) -> tuple[x509.Certificate, ...]:
    """A CA's chain, issuing CA first, up to its root (the order the precompile wants)."""
    certs = read_certificates(path, what)
    in_order = certs[-1].issuer == certs[-1].subject and all(a.issuer == b.subject for a, b in zip(certs, certs[1:]))
    chain = tuple(certs) if in_order else ordered(certs, path, what)
    if not is_ca(chain[0]):
        fail(f"{what} {path}: {chain[0].subject.rfc4514_string()} is not a CA certificate (give the CA's chain.pem)")
    return chain


def ordered(certs: list[x509.Certificate], path: Path, what: str) -> tuple[x509.Certificate, ...]:
    # Imported here: client.credentials pulls in eth_account, slow to load for offline commands.
    from client.credentials import CredentialError, order_chain

    try:
        return order_chain(certs)
    except CredentialError as exc:
        fail(f"{what} {path}: {exc}")


@dataclass(frozen=True)
class CADirectory:
    """What `ledger ca new` writes: ca.pem, ca.key and chain.pem (this CA up to its root)."""

    path: Path
    cert: x509.Certificate
    key: devpki.PrivateKey
    chain: tuple[x509.Certificate, ...]

    @classmethod
    def load(cls, path: Path) -> CADirectory:
        chain = read_ca_chain(path / "chain.pem", "--ca")
        try:
            key = pkifiles.load_private_key(read_bytes(path / "ca.key", "--ca"))
        except ValueError as exc:
            fail(f"--ca {path / 'ca.key'}: {exc}")
        cert = chain[0]
        try:
            cert_key = devpki.public_key(cert)  # RSA, EC or SM2 (cert.public_key() cannot read SM2)
        except ValueError as exc:
            fail(f"--ca {path / 'chain.pem'}: {exc}")
        if devpki.spki_der(key.public_key()) != devpki.spki_der(cert_key):
            fail(f"--ca {path}: ca.key does not belong to the first certificate of chain.pem")
        return cls(path, cert, key, chain)


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def validity(days: int, issuer: x509.Certificate | None) -> tuple[datetime, datetime]:
    """(not before, not after) for `days` from now, never past the issuer's own end."""
    start = now_utc()
    end = start + timedelta(days=days)
    if issuer is not None:
        end = min(end, issuer.not_valid_after_utc)
        if end <= start:
            fail(f"the issuing CA {issuer.subject.rfc4514_string()} has expired")
    return start - CLOCK_SKEW, end


KeyTypeChoice = Enum("KeyTypeChoice", [(k, k) for k in devpki.KEY_TYPES], type=str)  # type: ignore[misc]
KEY_TYPE_HELP = "sm2: SM2 key, certificates signed SM3withSM2 with the distinguishing ID 1234567812345678"


def warn(message: str) -> None:
    """A `warning: ...` line on stderr (stdout stays one JSON document under --json)."""
    typer.echo(f"warning: {message}", err=True)


# -- ledger ca new | issue | crl (offline) ------------------------------------------------


@ca_app.command("new")
def ca_new(
    name: Annotated[str, typer.Option(help="the CA's common name")],
    out: Annotated[Path, typer.Option(help="directory for ca.pem, ca.key (0600) and chain.pem")],
    key_type: Annotated[KeyTypeChoice, typer.Option(help=f"the CA's key ({KEY_TYPE_HELP})")] = KeyTypeChoice("p256"),
    days: Annotated[int, typer.Option(min=1, help="validity in days")] = 3650,
    org: Annotated[str | None, typer.Option(help="organisation (O) of the subject")] = None,
    intermediate_of: Annotated[Path | None, typer.Option(
        help="make an intermediate CA signed by the CA in this directory (default: a self-signed root)")] = None,
    json_output: JsonOption = False,
) -> None:
    """Create a development CA: a self-signed root, or an intermediate under another CA."""
    parent = CADirectory.load(intermediate_of) if intermediate_of is not None else None
    if parent is not None and parent.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0:
        fail(f"--intermediate-of {intermediate_of}: that CA may not issue CA certificates (pathLen 0)")
    key = devpki.generate_key(key_type.value)
    if parent is None:
        not_before, not_after = validity(days, None)
        cert = devpki.make_root(name, key, not_before=not_before, not_after=not_after, organization=org)
        chain: tuple[x509.Certificate, ...] = (cert,)
    else:
        not_before, not_after = validity(days, parent.cert)
        # pathLen 0: an intermediate signs members, not further CAs (the registry's chains are short).
        cert = devpki.issue_certificate(
            parent.cert, parent.key, key.public_key(), common_name=name, organization=org, is_ca=True,
            path_length=0, not_before=not_before, not_after=not_after,
        )
        chain = (cert, *parent.chain)
    write_files({
        out / "ca.pem": (cert.public_bytes(serialization.Encoding.PEM), False),
        out / "ca.key": (pkifiles.private_key_pem(key), True),
        out / "chain.pem": (devpki.chain_pem(chain), False),
    })
    document = {
        "subject": cert.subject.rfc4514_string(), "keyType": key_type.value, "fingerprint": fingerprint(cert),
        "serial": cert.serial_number, "root": len(chain) == 1, "rootFingerprint": fingerprint(chain[-1]),
        "notAfter": int(not_after.timestamp()), "dir": str(out),
    }
    if json_output:
        emit_json(document)
        return
    fields("root CA created" if len(chain) == 1 else "intermediate CA created", [
        ("subject", document["subject"]), ("key", key_type.value), ("fingerprint", document["fingerprint"]),
        ("root", document["rootFingerprint"]), ("not after", timestamp(document["notAfter"])),
        ("files", f"{out}/ca.pem, ca.key, chain.pem"),
    ])


@ca_app.command("issue")
def ca_issue(
    ca: Annotated[Path, typer.Option(help="directory of the issuing CA (from `ledger ca new`)")],
    name: Annotated[str, typer.Option(help="the signer's common name")],
    out: Annotated[Path, typer.Option(help="directory for cert.pem, key.pem (0600), chain.pem [and identity.p12]")],
    key_type: Annotated[KeyTypeChoice, typer.Option(help=f"the signer's key ({KEY_TYPE_HELP})")] = KeyTypeChoice("p256"),
    org: Annotated[str | None, typer.Option(help="organisation (O) of the subject")] = None,
    days: Annotated[int, typer.Option(min=1, help="validity in days (capped at the CA's own)")] = 365,
    serial: Annotated[str | None, typer.Option(help="serial number (default: random)")] = None,
    p12: Annotated[bool, typer.Option("--p12", help="also write identity.p12 (PKCS#12: key and chain; not for sm2 keys)")] = False,
    password: PasswordOption = None,
    json_output: JsonOption = False,
) -> None:
    """Issue a signer certificate (digitalSignature, nonRepudiation) from a development CA.

    With --password the private keys written (key.pem and identity.p12) are encrypted. An
    sm2 key gets no identity.p12 (PKCS#12 cannot hold it here): key.pem and chain.pem are
    the identity, and the output says so."""
    issuer = CADirectory.load(ca)
    serial_number = parse_serial(serial) if serial else None
    not_before, not_after = validity(days, issuer.cert)
    key = devpki.generate_key(key_type.value)
    cert = devpki.issue_certificate(
        issuer.cert, issuer.key, key.public_key(), common_name=name, organization=org,
        not_before=not_before, not_after=not_after, serial=serial_number,
    )
    secret = password.encode() if password else None
    files = {
        out / "cert.pem": (cert.public_bytes(serialization.Encoding.PEM), False),
        out / "key.pem": (pkifiles.private_key_pem(key, secret), True),
        out / "chain.pem": (devpki.chain_pem((cert, *issuer.chain)), False),
    }
    not_written: dict[str, str] = {}
    if p12 and isinstance(key, SM2PrivateKey):
        not_written[str(out / "identity.p12")] = pkifiles.SM2_PKCS12_UNSUPPORTED
    elif p12:
        files[out / "identity.p12"] = (pkifiles.write_pkcs12(name, key, cert, issuer.chain, secret), True)
    write_files(files)
    document: dict[str, Any] = {
        "subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(), "keyType": key_type.value,
        "serial": cert.serial_number, "serialHex": hex(cert.serial_number), "fingerprint": fingerprint(cert),
        "rootFingerprint": fingerprint(issuer.chain[-1]), "notAfter": int(not_after.timestamp()),
        "files": sorted(str(p) for p in files),
    }
    if not_written:
        document["notWritten"] = not_written
    for path, reason in not_written.items():
        warn(f"{path} not written: {reason}")
    if json_output:
        emit_json(document)
        return
    fields("certificate issued", [
        ("subject", document["subject"]), ("issuer", document["issuer"]), ("key", key_type.value),
        ("serial", f"{cert.serial_number} ({hex(cert.serial_number)})"), ("fingerprint", document["fingerprint"]),
        ("not after", timestamp(document["notAfter"])), ("files", ", ".join(document["files"])),
        *((("not written", f"{path}: {reason}") for path, reason in not_written.items())),
    ])


@ca_app.command("crl")
def ca_crl(
    ca: Annotated[Path, typer.Option(help="directory of the CA that signs the CRL")],
    serial: Annotated[list[str], typer.Option(help="serial number to revoke (repeatable)")],
    out: Annotated[Path, typer.Option(help="the CRL file to write (DER)")],
    days: Annotated[int, typer.Option(min=1, help="days until the CRL's nextUpdate")] = 30,
    number: Annotated[int | None, typer.Option(min=1, help="CRL number (default: the current unix time)")] = None,
    json_output: JsonOption = False,
) -> None:
    """Write a CRL, signed by a development CA, revoking the given serial numbers."""
    issuer = CADirectory.load(ca)
    serials = [parse_serial(s) for s in serial]
    this_update = now_utc() - CLOCK_SKEW
    crl = devpki.make_crl(issuer.cert, issuer.key, serials, this_update=this_update,
                          next_update=this_update + CLOCK_SKEW + timedelta(days=days), number=number or int(time.time()))
    write_files({out: (crl.public_bytes(serialization.Encoding.DER), False)})
    if json_output:
        emit_json({"issuer": issuer.cert.subject.rfc4514_string(), "serials": serials, "file": str(out)})
        return
    fields("CRL written", [("issuer", issuer.cert.subject.rfc4514_string()),
                           ("revokes", ", ".join(str(s) for s in serials)), ("file", str(out))])


# -- ledger ca trust | revoke (admin transactions) -------------------------------------------


def read_root(path: Path) -> x509.Certificate:
    """The one self-signed certificate in a PEM/DER file (a root's ca.pem, or a chain.pem)."""
    roots = [c for c in read_certificates(path, "ROOT") if c.issuer == c.subject]
    if len(roots) != 1:
        fail(f"{path}: expected one self-signed (root) CA certificate, found {len(roots)}")
    if not is_ca(roots[0]):
        fail(f"{path}: {roots[0].subject.rfc4514_string()} is not a CA certificate")
    return roots[0]


def propose_or_approve(ledger: Ledger, action: int, subject: bytes, argument: int | None,
                       propose: Callable[[], TxResult]) -> tuple[TxResult, int, str]:
    """Approve the pending proposal for (action, subject[, argument]) if there is one,
    else propose it (the proposer's approval counts). Returns (result, proposal, verb)."""
    pending = ledger.pending_proposal(action, subject, argument)
    if pending is not None:
        return ledger.approve(pending), pending, "approved"
    result = propose()
    return result, int(result.events["ProposalCreated"][0]["proposal"]), "proposed"


def proposal_fields(result: TxResult, proposal: int, verb: str) -> dict[str, Any]:
    approved = result.events.get("ProposalApproved", [{}])[-1]
    return {"proposal": proposal, "action": verb, "approvals": approved.get("approvals"), "quorum": approved.get("quorum")}


def proposed_ca_admin(ledger: Ledger, proposal: int) -> str:
    """The CA admin a TRUST_ROOT proposal names (its argument is the address)."""
    from eth_utils import to_checksum_address

    argument = int(ledger.call(ledger.identity.functions.proposals(proposal))[2])
    return str(to_checksum_address(argument.to_bytes(20, "big")))


@ca_app.command("trust")
def ca_trust(
    root: Annotated[Path, typer.Argument(help="the CA root certificate (PEM or DER)")],
    ca_admin: Annotated[str | None, typer.Option(help="address that may revoke this CA's certificates by serial")] = None,
    key: KeyOption = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Propose trusting a CA root, or approve the pending proposal for it (admins).

    The root is trusted once a majority of the admins have approved; the proposer's
    own approval counts."""
    cert = read_root(root)
    der = cert.public_bytes(serialization.Encoding.DER)
    fp = fingerprint(cert)
    admin = parse_address(ca_admin, "--ca-admin") if ca_admin else None
    ledger = writer(rpc, key)
    with on_chain(rpc):
        document: dict[str, Any] = {"fingerprint": fp, "subject": cert.subject.rfc4514_string()}
        state = ledger.root(fp)
        if state["trusted"]:
            document.update(action="none", trusted=True, caAdmin=state["ca_admin"])
        else:
            argument = int(admin, 16) if admin else None
            result, proposal, verb = propose_or_approve(
                ledger, ACTION_TRUST_ROOT, fp, argument, lambda: ledger.propose_trust_root(der, admin))
            document.update(proposal_fields(result, proposal, verb))
            document.update(trusted=bool(result.events.get("RootTrusted")), caAdmin=proposed_ca_admin(ledger, proposal))
            document.update(tx_document(result))
    if json_output:
        emit_json(document)
        return
    if document["action"] == "none":
        line(f"root {hex0x(fp)} is already trusted (CA admin {document['caAdmin']}); nothing to do")
        return
    fields(f"{document['action']} trusting {document['subject']}", [
        ("fingerprint", fp), ("proposal", document["proposal"]),
        ("approvals", f"{document['approvals']} of {document['quorum']} needed"),
        ("trusted", document["trusted"]), ("CA admin", document["caAdmin"]), ("tx", document["tx"]),
        ("block", document["block"]),
    ])


@ca_app.command("revoke")
def ca_revoke(
    ca_chain: Annotated[Path, typer.Option(help="chain.pem of the issuing CA (the CA first, up to its root)")],
    serial: Annotated[list[str] | None, typer.Option(help="serial to revoke, as the CA's admin (repeatable)")] = None,
    crl: Annotated[Path | None, typer.Option(help="a CRL signed by the issuing CA (DER or PEM); anyone may submit")] = None,
    key: KeyOption = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Revoke certificates on chain: by serial (as the CA's admin) or by a CRL.

    By serial: only the CA admin named when the root was trusted may. By CRL: anyone may
    submit one; the issuing CA's signature on it is the authority."""
    if bool(serial) == (crl is not None):
        fail("give --serial N (repeatable) or --crl FILE")
    chain_der = devpki.chain_der(read_ca_chain(ca_chain, "--ca-chain"))
    crl_der = b""
    serials: list[int] = []
    if crl is not None:
        data = read_bytes(crl, "--crl")
        try:
            parsed = x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data)
        except ValueError as exc:
            fail(f"--crl {crl}: not a CRL: {exc}")
        crl_der = parsed.public_bytes(serialization.Encoding.DER)
    else:
        serials = [parse_serial(s) for s in serial or []]
        if len(serials) > MAX_REVOKE_SERIALS:
            fail(f"at most {MAX_REVOKE_SERIALS} serials per transaction")
    ledger = writer(rpc, key)
    with on_chain(rpc):
        result = ledger.submit_crl(crl_der, chain_der) if crl is not None else ledger.revoke(chain_der, serials)
    if crl is not None:
        applied = result.events["CRLApplied"][0]
        document = {"crlEntries": applied["entries"], "issuerKeyHash": applied["issuer_key_hash"],
                    "rootFingerprint": applied["root_fingerprint"], **tx_document(result)}
        summary = f"CRL applied: {applied['entries']} revoked certificate(s)"
    else:
        revoked = [e["serial"] for e in result.events.get("CertificateRevoked", [])]
        document = {"revoked": revoked, **tx_document(result)}
        summary = f"revoked {len(revoked)} certificate(s): {', '.join(str(s) for s in revoked)}"
    if json_output:
        emit_json(document)
        return
    fields(summary, tx_fields(result))


# -- ledger member register | show | grant ---------------------------------------------------


@member_app.command("register")
def member_register(
    cert: CertOption = None,
    cert_key: CertKeyOption = None,
    p12: P12Option = None,
    keystore: KeystoreOption = None,
    signer_url: SignerUrlOption = None,
    signer_user: SignerUserOption = None,
    password: PasswordOption = None,
    key: KeyOption = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Register (or renew) the --key account with a certificate from a trusted CA.

    The certificate's key signs the registry's registration digest for the account, so
    whoever registers holds both keys. A new member gets the PARTY role."""
    identity = identity_from(cert, cert_key, p12, password, keystore, signer_url, signer_user)
    ledger = writer(rpc, key)
    with on_chain(rpc):
        result = ledger.register_member(identity)
    event = result.events["MemberRegistered"][0]
    document = {"member": event["member"], "subject": event["subject"], "certFingerprint": event["cert_fingerprint"],
                "rootFingerprint": event["root_fingerprint"], "roles": role_names(event["roles"]),
                "notAfter": event["not_after"], **tx_document(result)}
    if json_output:
        emit_json(document)
        return
    fields("member registered", [
        ("member", event["member"]), ("subject", event["subject"]), ("certificate", event["cert_fingerprint"]),
        ("root", event["root_fingerprint"]), ("roles", ", ".join(document["roles"])),
        ("not after", timestamp(event["not_after"])), *tx_fields(result),
    ])


@member_app.command("show")
def member_show(
    address: Annotated[str, typer.Argument(help="the member's account address")],
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """A member's roles, certificate and whether it is active (exit 1 if not a member)."""
    who = parse_address(address, "ADDRESS")
    with on_chain(rpc):
        ledger, head = reader(rpc)
        m = ledger.member(who)
    if m["roles"] == 0:
        fail(f"{who} is not a member (at block {head.number})", EXIT_REFUSED)
    genesis = m["cert_fingerprint"] == b"\x00" * 32
    document = {"address": who, "roles": role_names(m["roles"]), "roleBits": m["roles"], "active": m["active"],
                "certFingerprint": None if genesis else m["cert_fingerprint"],
                "rootFingerprint": None if genesis else m["root_fingerprint"],
                "notAfter": m["not_after"], "registeredAt": m["registered_at"], "block": head.number}
    if json_output:
        emit_json(document)
        return
    fields(f"member {who} (block {head.number})", [
        ("roles", ", ".join(document["roles"])), ("active", m["active"]),
        ("certificate", "- (genesis member, no certificate)" if genesis else m["cert_fingerprint"]),
        ("root", None if genesis else m["root_fingerprint"]),
        ("not after", timestamp(m["not_after"])), ("registered", timestamp(m["registered_at"])),
    ])


@member_app.command("grant")
def member_grant(
    address: Annotated[list[str], typer.Argument(help="member account address(es)")],
    role: Annotated[list[str], typer.Option(help=f"role to grant (repeatable): {', '.join(ROLE_BITS)}")],
    key: KeyOption = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Propose granting roles, or approve the pending proposal (admins).

    The roles are granted once a majority of the admins have approved."""
    unknown = [r for r in role if r.upper() not in ROLE_BITS]
    if unknown:
        fail(f"unknown role {unknown[0]!r}: one of {', '.join(ROLE_BITS)}")
    bits = 0
    for r in role:
        bits |= ROLE_BITS[r.upper()]
    members = [parse_address(a, "ADDRESS") for a in address]
    ledger = writer(rpc, key)
    documents = []
    with on_chain(rpc):
        for who in members:
            subject = bytes.fromhex(who[2:])
            held = ledger.member(who)["roles"]
            document: dict[str, Any] = {"member": who, "grant": role_names(bits)}
            if held & bits == bits:
                document.update(action="none", executed=True, roles=role_names(held))
            else:
                result, proposal, verb = propose_or_approve(
                    ledger, ACTION_GRANT_ROLES, subject, bits, functools.partial(ledger.propose, ACTION_GRANT_ROLES, subject, bits))
                changed = result.events.get("RolesChanged", [])
                document.update(proposal_fields(result, proposal, verb))
                document.update(executed=bool(changed), roles=role_names(changed[0]["roles"] if changed else held),
                                **tx_document(result))
            documents.append(document)
    if json_output:
        emit_json(documents if len(documents) > 1 else documents[0])
        return
    rows = []
    for d in documents:
        approvals = "-" if d["action"] == "none" else f"{d['approvals']} of {d['quorum']}"
        rows.append((d["member"], ", ".join(d["grant"]), d["action"], d.get("proposal"), approvals,
                     "granted" if d["executed"] else "waiting for approvals", ", ".join(d["roles"])))
    table(None, ["member", "grant", "action", "proposal", "approvals", "state", "roles now"], rows)
