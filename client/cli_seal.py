"""`ledger seal`: organisations' electronic seals (印章同步) in the seal registry — draw a
seal image, register it with the signing certificate, approve it by the admins' quorum,
revoke it, list and show what the registry holds (docs/seals.md).

Reads are pinned to the latest block when the command starts and say which block; writes
print the transaction and block that made them final. Exit codes: 0 done, 1 refused by
the chain (the contract's reason is printed) or an image that is not the registered one,
2 bad usage or input (an unreadable or oversized image, a malformed seal id).

Heavier imports (web3 through the SDK) are made inside the commands (client/cli_options.py),
so `ledger seal draw` works offline and starts fast.
"""
from __future__ import annotations

import hashlib
import os
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

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
    parse_digest,
    reader,
    tx_document,
    tx_fields,
    writer,
)
from client.render import EXIT_REFUSED, emit_json, fail, fields, hex0x, line, table, timestamp
from client.seals import (
    DEFAULT_SEAL_SIDE,
    MAX_SEAL_FILE_BYTES,
    MAX_SEAL_NAME_BYTES,
    MAX_SEAL_SIDE,
    MIN_DRAWN_SIDE,
    SealImage,
    SealImageError,
    draw_seal,
    load_seal_image,
)

if TYPE_CHECKING:
    from client.ledger import Ledger

seal_app = typer.Typer(no_args_is_help=True, help="Electronic seals: draw, register, approve, revoke, list, show.")

ZERO32 = b"\x00" * 32
DEFAULT_LIST_LIMIT = 50
# The most seals one `seal list` prints: a page a person reads; --before pages on.
MAX_LIST_LIMIT = 500
# The most registry records one `seal list` reads (two eth_calls each), however few match
# its filters: a filtered listing of a large registry stops here and says where to go on
# (--before), rather than spending minutes of the node's call budget in one command.
MAX_SEALS_EXAMINED = 1000


class SealStatus(str, Enum):
    proposed = "Proposed"
    approved = "Approved"
    revoked = "Revoked"


SealArgument = Annotated[str, typer.Argument(help="the seal's id: 0x SHA-256 of its image file")]


# -- reading input ------------------------------------------------------------------------------


def read_image(path: Path, what: str) -> SealImage:
    """A seal image file, parsed; exit 2 naming what is wrong. Reads at most one byte past
    the file cap, so a huge file is refused without being loaded."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SEAL_FILE_BYTES + 1)
    except OSError as exc:
        fail(f"{what} {path}: {exc.strerror}")
    try:
        return load_seal_image(data)
    except SealImageError as exc:
        fail(f"{what} {path}: {exc}")


def check_name(name: str) -> str:
    if not name.strip():
        fail("--name: the seal's name is empty")
    size = len(name.encode())
    if size > MAX_SEAL_NAME_BYTES:
        fail(f"--name: {size} bytes of UTF-8; the registry keeps {MAX_SEAL_NAME_BYTES} at most")
    return name


# -- what the registry says ------------------------------------------------------------------


def seal_document(record: dict[str, Any], member: dict[str, Any], quorum: int, usable: bool) -> dict[str, Any]:
    """A seal as the commands print it, with whether it can sign now and if not, why.

    ContractRegistry.sign_pdf accepts a seal when the registry's `usable(seal, signer,
    cert)` holds for the signer's registered certificate and the signer is an active member
    (IdentityRegistry.verify_signer); `usable` is that view's answer at the same block."""
    current = member["cert_fingerprint"] == record["cert_fingerprint"]
    if not current:
        # The owner registered another certificate (or is no member): the seal is bound to the old one.
        certificate = "replaced: unusable" if member["roles"] else "owner is no longer a member: unusable"
    else:
        certificate = "current" if member["active"] else "current, but the owner's membership is not active: unusable"
    status = record["status_name"]
    if usable and member["active"]:
        use = "usable"
    elif status == "Proposed":
        use = f"waiting for approvals ({record['approvals']} of {quorum})"
    elif status == "Revoked":
        use = "revoked"
    elif not current:
        use = "certificate replaced: unusable"
    else:
        use = "owner's membership is not active: unusable"
    return {
        "seal": record["seal"], "name": record["name"], "owner": record["owner"], "pixelDigest": record["pixel_digest"],
        "certFingerprint": record["cert_fingerprint"], "rootFingerprint": record["root_fingerprint"],
        "status": status, "approvals": record["approvals"], "quorum": quorum,
        "registeredAt": record["registered_at"], "approvedAt": record["approved_at"], "revokedAt": record["revoked_at"],
        "ownerCertificate": certificate, "ownerCertFingerprint": member["cert_fingerprint"] if member["roles"] else None,
        "usable": use == "usable", "use": use,
    }


class Registry:
    """The registry's views at one block, with each owner's membership read once."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.quorum = int(ledger.call(ledger.identity.functions.quorum()))
        self._members: dict[str, dict[str, Any]] = {}

    def document(self, seal: bytes) -> dict[str, Any]:
        return self.describe(self.ledger.seal(seal))

    def describe(self, record: dict[str, Any]) -> dict[str, Any]:
        seal, owner = record["seal"], record["owner"]
        if owner not in self._members:
            self._members[owner] = self.ledger.member(owner)
        member = self._members[owner]
        usable = bool(self.ledger.call(self.ledger.seals.functions.usable(seal, owner, member["cert_fingerprint"])))
        return seal_document(record, member, self.quorum, usable)


def approvals_text(d: dict[str, Any]) -> str:
    return f"{d['approvals']} of {d['quorum']}" if d["status"] == "Proposed" else f"{d['approvals']} (quorum now {d['quorum']})"


# -- ledger seal draw (offline) ------------------------------------------------------------------


@seal_app.command("draw")
def seal_draw(
    name: Annotated[str, typer.Option(help="the organisation's name, set along the upper arc")],
    out: Annotated[Path, typer.Option(help="the PNG file to write")],
    code: Annotated[str | None, typer.Option(help="a line under the star, e.g. the 13-digit seal code")] = None,
    size: Annotated[int, typer.Option(min=MIN_DRAWN_SIDE, max=MAX_SEAL_SIDE, help="side in pixels (472: 40 mm at 300 dpi)")] = DEFAULT_SEAL_SIDE,
    force: Annotated[bool, typer.Option("--force", help="overwrite --out if it exists")] = False,
    json_output: JsonOption = False,
) -> None:
    """Draw a round red official seal (公章) as a transparent PNG, ready to register.

    The same name, code and size give the same file; a new code gives a new seal id."""
    try:
        data = draw_seal(name, code=code, size_px=size)
    except SealImageError as exc:
        fail(str(exc))
    seal = load_seal_image(data)  # what `register` will read back: the digests it will send
    try:
        if force:
            from client.atomicfile import write_atomic

            write_atomic(out, data, 0o644)
        else:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
    except FileExistsError:
        fail(f"{out} exists; refusing to overwrite (--force replaces it)")
    except OSError as exc:
        fail(f"--out {out}: {exc.strerror}")
    document = {"seal": seal.digest, "pixelDigest": seal.pixel_digest, "name": name.strip(),
                "code": code.strip() if code else None, "size": seal.width, "bytes": len(data), "file": str(out)}
    if json_output:
        emit_json(document)
        return
    fields(f"seal drawn: {out}", [
        ("seal id", seal.digest), ("pixel digest", seal.pixel_digest), ("name", document["name"]),
        ("code", document["code"]), ("size", f"{seal.width}x{seal.height} px, {len(data)} bytes"),
        ("next", f"ledger seal register --image {out} --name NAME --cert CHAIN.pem --cert-key KEY.pem --key ACCOUNT.key"),
    ])


# -- ledger seal register | approve | revoke ---------------------------------------------------------


@seal_app.command("register")
def seal_register(
    image: Annotated[Path, typer.Option(help="the seal's PNG file (its SHA-256 is the seal's id)")],
    name: Annotated[str, typer.Option(help=f"the seal's name in the registry (up to {MAX_SEAL_NAME_BYTES} bytes)")],
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
    """Register the --key member's seal, bound to its registered certificate.

    The certificate's key signs the registry's registration digest of the seal; the seal
    is usable in signatures once a quorum of admins has approved it."""
    seal = read_image(image, "--image")
    check_name(name)
    identity = identity_from(cert, cert_key, p12, password, keystore, signer_url, signer_user)
    ledger = writer(rpc, key)
    with on_chain(rpc):
        result = ledger.register_seal(identity, seal.digest, seal.pixel_digest, name)
    event = result.events["SealRegistered"][0]
    document = {"seal": event["seal"], "pixelDigest": event["pixel_digest"], "name": event["name"], "owner": event["owner"],
                "certFingerprint": event["cert_fingerprint"], "rootFingerprint": event["root_fingerprint"],
                "status": "Proposed", **tx_document(result)}
    if json_output:
        emit_json(document)
        return
    fields("seal registered: Proposed", [
        ("seal id", event["seal"]), ("pixel digest", event["pixel_digest"]), ("name", event["name"]),
        ("owner", event["owner"]), ("certificate", event["cert_fingerprint"]), ("root", event["root_fingerprint"]),
        ("status", "Proposed"), *tx_fields(result),
        ("next", f"ask the admins: ledger seal approve {hex0x(event['seal'])}"),
    ])


@seal_app.command("approve")
def seal_approve(
    seal: SealArgument,
    key: KeyOption = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Approve a Proposed seal (an admin); it is Approved at the admins' quorum."""
    seal_id = parse_digest(seal, "SEAL")
    ledger = writer(rpc, key)
    with on_chain(rpc):
        result = ledger.approve_seal(seal_id)
    approval = result.events["SealApproval"][0]
    approved = bool(result.events.get("SealApproved"))
    status = "Approved" if approved else "Proposed"
    document = {"seal": seal_id, "approvals": approval["approvals"], "quorum": approval["quorum"], "status": status,
                **tx_document(result)}
    if json_output:
        emit_json(document)
        return
    state = "Approved, usable in signatures" if approved else "Proposed, waiting for more admins"
    fields(f"seal approved, {approval['approvals']} of {approval['quorum']} approvals: {state}", [
        ("seal id", seal_id), ("approvals", f"{approval['approvals']} of {approval['quorum']}"), ("status", status),
        *tx_fields(result),
    ])


@seal_app.command("revoke")
def seal_revoke(
    seal: SealArgument,
    reason: Annotated[str | None, typer.Option(help="the reason; its SHA-256 goes on chain")] = None,
    key: KeyOption = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Revoke a seal (its owner or an admin): later signatures with it are refused.

    Signatures made before stay as they were; a revoked seal's id is never reused."""
    seal_id = parse_digest(seal, "SEAL")
    reason_digest = hashlib.sha256(reason.encode()).digest() if reason else ZERO32
    ledger = writer(rpc, key)
    with on_chain(rpc):
        result = ledger.revoke_seal(seal_id, reason_digest)
    event = result.events["SealRevoked"][0]
    document = {"seal": seal_id, "status": "Revoked", "owner": event["owner"], "by": event["by"],
                "reasonDigest": reason_digest, **tx_document(result)}
    if json_output:
        emit_json(document)
        return
    fields("seal revoked", [
        ("seal id", seal_id), ("owner", event["owner"]), ("revoked by", event["by"]),
        ("reason", f"SHA-256 0x{reason_digest.hex()}" if reason else None), *tx_fields(result),
    ])


# -- ledger seal list | show ------------------------------------------------------------------


@seal_app.command("list")
def seal_list(
    owner: Annotated[str | None, typer.Option(help="only this member's seals")] = None,
    status: Annotated[SealStatus | None, typer.Option(case_sensitive=False, help="only seals in this status")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIST_LIMIT, help="at most this many, newest first")] = DEFAULT_LIST_LIMIT,
    before: Annotated[int | None, typer.Option(min=1, help="start below this registry position (from a previous page)")] = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Registered seals, newest first: status, owner, and whether each can sign now.

    Reads at most 1000 registry records per run; `next` says where the next page starts."""
    who = parse_address(owner, "--owner") if owner is not None else None
    wanted = status.value if status is not None else None
    found: list[dict[str, Any]] = []
    with on_chain(rpc):
        ledger, head = reader(rpc)
        registry = Registry(ledger)
        total = int(ledger.call(ledger.seals.functions.seal_count()))
        position = total if before is None else min(before - 1, total)
        examined = 0
        while position > 0 and len(found) < limit and examined < MAX_SEALS_EXAMINED:
            position -= 1
            examined += 1
            record = ledger.seal(bytes(ledger.call(ledger.seals.functions.seal_at(position))))
            if (who is None or record["owner"] == who) and (wanted is None or record["status_name"] == wanted):
                found.append({"position": position + 1, **registry.describe(record)})
    # Positions count from 1 (the first registered seal); --before N continues below N.
    after = position + 1 if position > 0 else None
    if json_output:
        emit_json({"block": head.number, "total": total, "examined": examined, "quorum": registry.quorum,
                   "seals": found, "next": after})
        return
    table(f"{len(found)} seal(s) of {total} at block {head.number}",
          ["#", "seal id", "name", "owner", "status", "approvals", "registered", "use"],
          [(d["position"], d["seal"], d["name"], d["owner"], d["status"], approvals_text(d),
            timestamp(d["registeredAt"]), d["use"]) for d in found], numeric=["#"])
    if after is not None:
        line(f"more below #{after}: ledger seal list --before {after}"
             + (f" (stopped after reading {examined} records)" if examined >= MAX_SEALS_EXAMINED else ""))


@seal_app.command("show")
def seal_show(
    seal: SealArgument,
    image: Annotated[Path | None, typer.Option(
        help="also check that this PNG file is the registered one (exit 1 if not)")] = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """A seal: owner, certificate, status, approvals, times, and whether it can sign now.

    A seal whose owner has since registered another certificate cannot sign: it is bound
    to the certificate it was registered with."""
    seal_id = parse_digest(seal, "SEAL")
    picture = read_image(image, "--image") if image is not None else None
    with on_chain(rpc):
        ledger, head = reader(rpc)
        d = Registry(ledger).document(seal_id)
    check: dict[str, Any] | None = None
    if picture is not None:
        check = {"file": str(image), "digest": picture.digest, "pixelDigest": picture.pixel_digest,
                 "fileMatches": picture.digest == seal_id, "pixelsMatch": picture.pixel_digest == d["pixelDigest"]}
    if json_output:
        emit_json({**d, "block": head.number, "image": check})
    else:
        fields(f"seal {d['name']}: {d['status']} (block {head.number})", [
            ("seal id", d["seal"]), ("name", d["name"]), ("owner", d["owner"]), ("pixel digest", d["pixelDigest"]),
            ("certificate", d["certFingerprint"]), ("root", d["rootFingerprint"]),
            ("owner's certificate", d["ownerCertificate"]), ("status", d["status"]),
            ("approvals", approvals_text(d)), ("registered", timestamp(d["registeredAt"])),
            ("approved", timestamp(d["approvedAt"])), ("revoked", timestamp(d["revokedAt"])), ("use", d["use"]),
        ])
    if check is None:
        return
    if check["fileMatches"] and check["pixelsMatch"]:
        if not json_output:
            line(f"image {image}: the registered file (SHA-256 and pixels match)")
        return
    if check["pixelsMatch"]:
        why = "another file with the same pixels (re-encoded), not the registered file"
    elif check["fileMatches"]:
        # The registry cannot see pixels: the registrant sent this digest, and it is not the file's.
        why = "the registered file, but the pixel digest registered with it is not its pixels' (a PDF's seal will not match)"
    else:
        why = f"not this seal's image (its SHA-256 is {hex0x(picture.digest) if picture else '-'})"
    fail(f"--image {image}: {why}", EXIT_REFUSED)
