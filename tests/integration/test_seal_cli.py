"""`ledger seal`, run as real processes against a real dev node: draw a seal, register it
with the member's certificate, list it, approve it by the admins' quorum (1 with the dev
account alone, 2 once a second admin is granted), show it (with `--image`), revoke it;
the chain's refusals come back as exit 1 with the contract's reason, bad input as exit 2.

The node's trusted CAs and members are set up through the SDK (tests/pki.py's fixed CAs),
so the CLI runs are the seal commands themselves; independent ones run concurrently.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chaincode import ACTION_GRANT_ROLES, ROLE_BITS
from client import devpki, pkifiles
from client.credentials import CertificateIdentity
from client.ledger import Ledger
from tests import pki
from tests.integration.cli_runs import Cli, Run, together
from tests.integration.nodeproc import NodeProcess
from tests.integration.permissioned import account_key, address_of
from tests.integration.test_cli_chaincode import write_keys

pytestmark = pytest.mark.slow

ACCOUNTS = ["owner", "other", "outsider", "admin-2"]
OWNER_NAME = "某某市公共资源交易中心"
OTHER_NAME = "Winning Bidder Engineering Co., Ltd."


@dataclass
class Desk:
    node: NodeProcess
    cli: Cli
    base: Path
    identities: dict[str, CertificateIdentity]  # owner, owner-new (not registered), other, admin-2
    seals: dict[str, dict[str, Any]]             # image name -> `seal draw --json`

    def cert(self, name: str) -> list[str]:
        return ["--cert", str(self.base / name / "chain.pem"), "--cert-key", str(self.base / name / "key.pem")]

    def image(self, name: str) -> Path:
        return self.base / f"{name}.png"


def write_identity(directory: Path, identity: CertificateIdentity) -> None:
    directory.mkdir(parents=True)
    (directory / "chain.pem").write_bytes(devpki.chain_pem(identity.chain))
    (directory / "key.pem").write_bytes(pkifiles.private_key_pem(identity.key))


@pytest.fixture(scope="module")
def desk(dev_node: NodeProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    base = tmp_path_factory.mktemp("seal-cli")
    dev = Ledger(dev_node.url, bytes.fromhex(dev_node.dev_key.removeprefix("0x")))
    for ca in (pki.p256_ca(), pki.rsa_ca()):  # the dev account is the only admin: quorum 1, trusted at once
        dev.propose_trust_root(ca.root_der)
    identities = {
        "owner": pki.p256_ca().issue("Public Resource Trading Center", "p256"),
        "owner-new": pki.p256_ca().issue("Public Resource Trading Center (renewed)", "p256"),
        "other": pki.rsa_ca().issue("Winning Bidder Engineering", "rsa2048"),
        "admin-2": pki.rsa_ca().issue("Second Admin", "p256"),
    }
    for name in ("owner", "other", "admin-2"):
        Ledger(dev_node.url, account_key(name)).register_member(identities[name])
    for name, identity in identities.items():
        write_identity(base / name, identity)
    keys = write_keys(base / "keys", ACCOUNTS)
    dev_key = base / "keys" / "dev.key"
    dev_key.write_text(dev_node.dev_key + "\n")
    keys["dev"] = dev_key
    cli = Cli(dev_node.url, keys)
    runs = together(
        cli.start("seal", "draw", "--name", OWNER_NAME, "--code", "3201000012345", "--out", base / "a.png", "--json"),
        cli.start("seal", "draw", "--name", OWNER_NAME, "--code", "3201000012346", "--out", base / "b.png", "--json"),
        cli.start("seal", "draw", "--name", OTHER_NAME, "--size", "300", "--out", base / "c.png", "--json"),
    )
    seals = {name: run.json() for name, run in zip("abc", runs)}
    yield Desk(dev_node, cli, base, identities, seals)


def seal_id(desk: Desk, name: str) -> str:
    return str(desk.seals[name]["seal"])


# -- tests (in order: they share the node's registry) -------------------------------------------


def test_draw_writes_the_seal_and_refuses_to_overwrite(desk: Desk) -> None:
    a = desk.seals["a"]
    data = desk.image("a").read_bytes()
    assert a["seal"] == "0x" + hashlib.sha256(data).hexdigest() and a["size"] == 472
    assert len({desk.seals[n]["seal"] for n in "abc"}) == 3  # another code: another seal
    again, forced = together(
        desk.cli.start("seal", "draw", "--name", OWNER_NAME, "--code", "3201000012345", "--out", desk.image("a")),
        desk.cli.start("seal", "draw", "--name", OWNER_NAME, "--code", "3201000012345", "--out", desk.base / "copy.png",
                       "--force", "--json"),
    )
    again.usage("exists; refusing to overwrite")
    assert desk.image("a").read_bytes() == data
    assert forced.json()["seal"] == a["seal"] and (desk.base / "copy.png").read_bytes() == data  # same arguments, same file


def test_register_list_approve_show(desk: Desk) -> None:
    a = seal_id(desk, "a")
    registered = desk.cli.run("seal", "register", "--image", desk.image("a"), "--name", OWNER_NAME, *desk.cert("owner"),
                              key="owner").ok()
    assert "Proposed" in registered.out and f"ledger seal approve {a}" in registered.out
    listed = desk.cli.run("seal", "list", "--json").json()
    assert listed["total"] == 1 and listed["quorum"] == 1 and listed["next"] is None
    [entry] = listed["seals"]
    assert (entry["seal"], entry["name"], entry["owner"], entry["status"]) == (a, OWNER_NAME, address_of("owner"), "Proposed")
    assert entry["pixelDigest"] == desk.seals["a"]["pixelDigest"] and entry["usable"] is False
    assert entry["certFingerprint"] == "0x" + desk.identities["owner"].fingerprint.hex()

    approved = desk.cli.run("seal", "approve", a, "--json", key="dev").json()
    assert (approved["approvals"], approved["quorum"], approved["status"]) == (1, 1, "Approved")
    shown, text, same = together(
        desk.cli.start("seal", "show", a, "--json"),
        desk.cli.start("seal", "show", a),
        desk.cli.start("seal", "show", a, "--image", desk.image("a")),
    )
    d = shown.json()
    assert (d["status"], d["approvals"], d["usable"], d["ownerCertificate"]) == ("Approved", 1, True, "current")
    assert d["approvedAt"] >= d["registeredAt"] > 0 and d["revokedAt"] == 0 and d["image"] is None
    assert "Approved" in text.ok().out and "usable" in text.out
    assert "the registered file" in same.ok().out


def test_the_chain_refuses_with_its_reason_and_bad_input_is_usage(desk: Desk) -> None:
    a, b = seal_id(desk, "a"), seal_id(desk, "b")
    (desk.base / "not-a-png.png").write_text("a seal, honestly\n")
    runs = together(
        # Not a member: never registered a certificate.
        desk.cli.start("seal", "register", "--image", desk.image("b"), "--name", OWNER_NAME, *desk.cert("owner-new"),
                       key="outsider"),
        # A member signing with a certificate that is not the one it registered.
        desk.cli.start("seal", "register", "--image", desk.image("b"), "--name", OWNER_NAME, *desk.cert("owner-new"),
                       key="owner"),
        # The same image again: a seal id is registered once.
        desk.cli.start("seal", "register", "--image", desk.image("a"), "--name", OWNER_NAME, *desk.cert("owner"),
                       key="owner"),
        # Neither the owner nor an admin.
        desk.cli.start("seal", "revoke", a, "--reason", "not mine to revoke", key="other"),
        desk.cli.start("seal", "approve", a, key="other"),
        desk.cli.start("seal", "show", "0x" + "ab" * 32),
        # Another file than the registered one.
        desk.cli.start("seal", "show", a, "--image", desk.image("b"), "--json"),
        # Bad input: exit 2 before anything is sent.
        desk.cli.start("seal", "register", "--image", desk.base / "not-a-png.png", "--name", OWNER_NAME,
                       *desk.cert("owner"), key="owner"),
        desk.cli.start("seal", "register", "--image", desk.image("b"), "--name", "印" * 43, *desk.cert("owner"),
                       key="owner"),
        desk.cli.start("seal", "approve", "0x1234", key="dev"),
        desk.cli.start("seal", "show", a, "--image", desk.base / "missing.png"),
    )
    runs[0].refused("signer is not a member")
    runs[1].refused("certificate is not the one the signer registered")
    runs[2].refused("seal already registered")
    runs[3].refused("only the seal's owner or an admin may revoke it")
    runs[4].refused("only an admin may approve seals")
    runs[5].refused("no such seal")
    mismatch = runs[6]
    assert mismatch.code == 1 and f"not this seal's image (its SHA-256 is {b})" in mismatch.err, str(mismatch)
    check = Run(mismatch.args, 0, mismatch.out, "").json()["image"]
    assert (check["fileMatches"], check["pixelsMatch"], check["digest"]) == (False, False, b)
    runs[7].usage("not a readable PNG image")
    runs[8].usage("129 bytes of UTF-8")
    runs[9].usage("expected 32 bytes")
    runs[10].usage("missing.png")
    assert desk.cli.run("seal", "list", "--json").json()["total"] == 1  # nothing registered on the way


def test_revoke_by_the_owner(desk: Desk) -> None:
    a = seal_id(desk, "a")
    revoked = desk.cli.run("seal", "revoke", a, "--reason", "seal lost", "--json", key="owner").json()
    assert (revoked["status"], revoked["by"], revoked["owner"]) == ("Revoked", address_of("owner"), address_of("owner"))
    assert revoked["reasonDigest"] == "0x" + hashlib.sha256(b"seal lost").hexdigest()
    shown, again, listed = together(
        desk.cli.start("seal", "show", a, "--json"),
        desk.cli.start("seal", "approve", a, key="dev"),
        desk.cli.start("seal", "list", "--status", "revoked", "--json"),
    )
    d = shown.json()
    assert (d["status"], d["usable"], d["use"]) == ("Revoked", False, "revoked") and d["revokedAt"] >= d["approvedAt"]
    again.refused("seal is not waiting for approval")
    assert [s["seal"] for s in listed.json()["seals"]] == [a]


def test_a_replaced_certificate_leaves_the_seal_unusable(desk: Desk) -> None:
    b = seal_id(desk, "b")
    desk.cli.run("seal", "register", "--image", desk.image("b"), "--name", OWNER_NAME, *desk.cert("owner"),
                 key="owner").ok()
    desk.cli.run("seal", "approve", b, key="dev").ok()
    assert desk.cli.run("seal", "show", b, "--json").json()["usable"] is True
    # The owner renews its membership with another certificate: the seal stays bound to the old one.
    Ledger(desk.node.url, account_key("owner")).register_member(desk.identities["owner-new"])
    shown, text = together(desk.cli.start("seal", "show", b, "--json"), desk.cli.start("seal", "show", b))
    d = shown.json()
    assert (d["status"], d["usable"], d["ownerCertificate"]) == ("Approved", False, "replaced: unusable")
    assert d["ownerCertFingerprint"] == "0x" + desk.identities["owner-new"].fingerprint.hex()
    assert "certificate replaced: unusable" in text.ok().out


def test_two_admins_need_two_approvals(desk: Desk) -> None:
    # Granting ADMIN needs the quorum of one admin, the dev account: then there are two, quorum 2.
    dev = Ledger(desk.node.url, bytes.fromhex(desk.node.dev_key.removeprefix("0x")))  # its nonce moved on (CLI)
    grant = dev.propose(ACTION_GRANT_ROLES, bytes.fromhex(address_of("admin-2")[2:]).rjust(32, b"\x00"),
                             ROLE_BITS["ADMIN"])
    assert grant.events.get("RolesChanged"), grant.events
    c = seal_id(desk, "c")
    desk.cli.run("seal", "register", "--image", desk.image("c"), "--name", OTHER_NAME, *desk.cert("other"),
                 key="other").ok()
    first = desk.cli.run("seal", "approve", c, "--json", key="dev").json()
    assert (first["approvals"], first["quorum"], first["status"]) == (1, 2, "Proposed")
    twice, proposed = together(desk.cli.start("seal", "approve", c, key="dev"),
                               desk.cli.start("seal", "show", c, "--json"))
    twice.refused("admin has already approved this seal")
    assert proposed.json()["use"] == "waiting for approvals (1 of 2)"
    second = desk.cli.run("seal", "approve", c, "--json", key="admin-2").json()
    assert (second["approvals"], second["quorum"], second["status"]) == (2, 2, "Approved")
    # Listing: newest first, filtered by owner, paged by --limit / --before.
    mine, page, rest = together(
        desk.cli.start("seal", "list", "--owner", address_of("other"), "--json"),
        desk.cli.start("seal", "list", "--limit", "1", "--json"),
        desk.cli.start("seal", "list", "--before", "3", "--status", "APPROVED", "--json"),
    )
    assert [s["seal"] for s in mine.json()["seals"]] == [c]
    paged = page.json()
    assert [s["position"] for s in paged["seals"]] == [3] and paged["next"] == 3
    assert [s["seal"] for s in rest.json()["seals"]] == [seal_id(desk, "b")]  # a is revoked
