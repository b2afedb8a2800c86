"""The seal registry and ContractRegistry.sign_pdf on a real permissioned node.

Members register their seals (digests of a seal image: the chain keeps no image) bound to
the certificate they registered with, admins approve them by quorum, owners and admins
revoke them, and no member registers the pixels of another's standing seal; parties then
sign contracts as PDFs, each signature recording the PDF revision, CMS and seal digests,
each on the previous party's revision (pdf_head), never mixed with digest-only `sign`.
The two signed digests (registration_digest, pdf_signing_digest) are computed here from
docs/chaincode.md's formulas, not asked of the registry. Driven through the SDK
(client/ledger.py) and web3; every refusal is checked for the contract's own reason. The
revision and CMS digests here are arbitrary 32-byte values: the chain records them and
checks only that they are not empty and that each party names the last one as its base.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

from chaincode import ACTION_GRANT_ROLES, CONTRACT_REGISTRY, ROLE_BITS, SEAL_REGISTRY
from chaincode.events import Event, decode_rpc_log
from client import devpki
from client.credentials import CertificateIdentity
from client.ledger import Ledger, Reverted, TxResult
from tests import pki
from tests.integration.permissioned import CHAIN_ID, Network, account_key, address_of, start_network

pytestmark = pytest.mark.slow

ZERO = bytes(32)
PROPOSED, APPROVED, REVOKED = 1, 2, 3  # SealRegistry.vy (tests/unit/chaincode/test_constants.py)
# The seal registry's domain (SealRegistry.vy SEAL_DOMAIN), written out as docs/chaincode.md does.
SEAL_DOMAIN = keccak(text="evidence-ledger/seal-registration/v1")
# The contract registry's PDF signature domain (ContractRegistry.vy PDF_DOMAIN), likewise.
PDF_DOMAIN = keccak(text="evidence-ledger/contract-pdf-signature/v1")


@dataclass
class World:
    """The network, its members' certificates, and one SDK connection per account (each
    keeps its own nonce)."""

    net: Network
    identities: dict[str, CertificateIdentity]
    ledgers: dict[str, Ledger] = field(default_factory=dict)

    def __call__(self, name: str) -> Ledger:
        if name not in self.ledgers:
            self.ledgers[name] = Ledger(self.net.url, account_key(name))
        return self.ledgers[name]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One genesis admin (quorum 1); a P-256 CA (with an intermediate) and a P-384 CA
    trusted; a trading center and four parties registered by certificate."""
    net = start_network(tmp_path_factory.mktemp("seals"), [("admin-1", "ADMIN")])
    try:
        p256, p384 = pki.p256_ca(), pki.p384_ca()
        identities = {
            "center": p256.issue("City Trading Center", "p256"),
            "tenderer": p256.issue("Tenderer Construction Group", "p256"),
            "bidder": p384.issue("Winning Bidder Engineering", "secp256k1"),
            "supplier": p384.issue("Steel Supplier", "p384"),
            "renewer": p256.issue("Renewing Works", "p256"),
        }
        w = World(net, identities)
        admin = w("admin-1")
        for ca in (p256, p384):
            admin.propose_trust_root(ca.root_der, address_of("admin-1"))
        for name, identity in identities.items():
            w(name).register_member(identity)
        admin.propose(ACTION_GRANT_ROLES, bytes.fromhex(address_of("center")[2:]), ROLE_BITS["TRADING_CENTER"])
        yield w
    finally:
        net.node.stop()


# -- helpers --------------------------------------------------------------------------------


def seal_of(tag: str) -> bytes:
    """A seal id: the SHA-256 of a seal's image file (here, of a name)."""
    return hashlib.sha256(f"{tag}.png".encode()).digest()


def pixels_of(tag: str) -> bytes:
    return hashlib.sha256(f"{tag} pixels".encode()).digest()


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def register(w: World, owner: str, tag: str, name: str | None = None) -> TxResult:
    return w(owner).register_seal(w.identities[owner], seal_of(tag), pixels_of(tag), name or f"{tag} seal")


def admins(w: World) -> list[str]:
    """The admin accounts at the head (admin-2 once test_two_admins_make_a_quorum_of_two ran)."""
    reader = w("admin-1")
    return [name for name in ("admin-1", "admin-2")
            if reader.call(reader.identity.functions.has_role(address_of(name), ROLE_BITS["ADMIN"]))]


def approve(w: World, seal: bytes) -> None:
    """Approve `seal` with as many admins as the quorum takes."""
    for name in admins(w):
        if w(name).seal(seal)["status"] == APPROVED:
            break
        w(name).approve_seal(seal)
    assert w("admin-1").seal(seal)["status"] == APPROVED


def approved_seal(w: World, owner: str, tag: str) -> bytes:
    register(w, owner, tag)
    approve(w, seal_of(tag))
    return seal_of(tag)


def usable(w: World, seal: bytes, owner: str, cert: bytes) -> bool:
    reader = w("admin-1")
    return bool(reader.call(reader.seals.functions.usable(seal, address_of(owner), cert)))


def receipt_events(w: World, result: TxResult) -> list[Event]:
    """The transaction's logs in order, each decoded by chaincode/events.py (the same
    decoder the node's indexes and `ledger audit tx` use)."""
    receipt = w("admin-1").w3.eth.get_transaction_receipt(HexBytes(result.tx_hash))
    events = [decode_rpc_log(log) for log in receipt["logs"]]
    assert all(e is not None for e in events), "a log no system contract emits"
    return events  # type: ignore[return-value]


def new_contract(w: World, project: str, parties: list[str]) -> bytes:
    result = w("center").register_contract(project, digest(f"{project} document"), [address_of(p) for p in parties])
    return result.events["ContractRegistered"][0]["id"]


def sign_pdf(w: World, party: str, contract: bytes, seal: bytes, *, identity: CertificateIdentity | None = None,
             revision: bytes | None = None, cms: bytes | None = None, previous: bytes | None = None) -> TxResult:
    """The SDK's sign_contract_pdf (on the chain's head revision unless `previous`)."""
    return w(party).sign_contract_pdf(
        contract, identity or w.identities[party], seal=seal, previous_revision=previous,
        revision_digest=digest(f"{party} revision of {contract.hex()}") if revision is None else revision,
        cms_digest=digest(f"{party} CMS of {contract.hex()}") if cms is None else cms)


def pdf_signing_digest(contract: bytes, previous: bytes, revision: bytes, cms: bytes, seal: bytes) -> bytes:
    """What a party's certificate key signs in sign_pdf, from docs/chaincode.md's formula
    (not asked of the registry)."""
    return keccak(abi_encode(
        ["bytes32", "uint256", "address", "bytes32", "bytes32", "bytes32", "bytes32", "bytes32"],
        [PDF_DOMAIN, CHAIN_ID, to_checksum_address(CONTRACT_REGISTRY), contract, previous, revision, cms, seal]))


def pdf_call(w: World, party: str, contract: bytes, seal: bytes, previous: bytes, revision: bytes, cms: bytes) -> Any:
    """A sign_pdf call signed over the formula's digest of exactly these fields."""
    identity = w.identities[party]
    signature = identity.sign_digest(pdf_signing_digest(contract, previous, revision, cms, seal))
    return w(party).contracts.functions.sign_pdf(contract, identity.chain_der, signature, previous, revision, cms, seal)


def receipt_of(w: World, tx_hash: bytes) -> Any:
    """The receipt of a transaction sent without waiting (Ledger.wait raises on a failed one)."""
    return w("admin-1").w3.eth.wait_for_transaction_receipt(HexBytes(tx_hash), timeout=60, poll_latency=0.05)


# -- SealRegistry ---------------------------------------------------------------------------


def test_registration_digest_is_the_documented_formula(world: World) -> None:
    """A member registers with nothing but docs/chaincode.md's formula: the digest computed
    here is the registry's own, and a signature over it registers the seal."""
    w, tenderer = world, world("tenderer")
    identity = w.identities["tenderer"]
    seal, pixels, name = seal_of("tenderer-formula"), pixels_of("tenderer-formula"), "投标人合同专用章"
    expected = keccak(abi_encode(
        ["bytes32", "uint256", "address", "address", "bytes32", "bytes32", "bytes32"],
        [SEAL_DOMAIN, CHAIN_ID, to_checksum_address(SEAL_REGISTRY), address_of("tenderer"), seal, pixels,
         keccak(name.encode())]))
    view = tenderer.call(tenderer.seals.functions.registration_digest(seal, pixels, name, address_of("tenderer")))
    assert bytes(view) == expected
    # the digest binds the registrant: another address's differs
    other = tenderer.call(tenderer.seals.functions.registration_digest(seal, pixels, name, address_of("bidder")))
    assert bytes(other) != expected
    count = tenderer.call(tenderer.seals.functions.seal_count())
    result = tenderer.transact(tenderer.seals.functions.register(
        seal, pixels, name, identity.chain_der, identity.sign_digest(expected)))

    (event,) = receipt_events(w, result)
    assert (event.contract, event.name) == ("SealRegistry", "SealRegistered")
    assert event.args == {
        "seal": "0x" + seal.hex(), "owner": address_of("tenderer"), "certFingerprint": "0x" + identity.fingerprint.hex(),
        "rootFingerprint": "0x" + identity.root_fingerprint.hex(), "pixelDigest": "0x" + pixels.hex(), "name": name,
    }
    record = tenderer.seal(seal)
    block = tenderer.w3.eth.get_block(result.block_number)
    assert record == {
        "owner": address_of("tenderer"), "name": name, "pixel_digest": pixels, "cert_fingerprint": identity.fingerprint,
        "root_fingerprint": identity.root_fingerprint, "status": PROPOSED, "status_name": "Proposed", "approvals": 0,
        "registered_at": block["timestamp"], "approved_at": 0, "revoked_at": 0, "seal": seal,
    }
    assert tenderer.call(tenderer.seals.functions.seal_count()) == count + 1
    assert tenderer.seal_ids(count) == [seal]


def test_registration_refusals(world: World) -> None:
    w = world
    tenderer, outsider = w("tenderer"), w("outsider")
    identity = w.identities["tenderer"]
    seal, pixels = seal_of("refused"), pixels_of("refused")

    def attempt(ledger: Ledger, chain_der: bytes, signature: bytes, *, seal: bytes = seal, pixels: bytes = pixels,
                name: str = "seal") -> None:
        ledger.transact(ledger.seals.functions.register(seal, pixels, name, chain_der, signature))

    def signed(who: str, key_holder: CertificateIdentity, *, pixels: bytes = pixels, name: str = "seal") -> bytes:
        registry = w("admin-1").seals
        return key_holder.sign_digest(bytes(w("admin-1").call(
            registry.functions.registration_digest(seal, pixels, name, address_of(who)))))

    # 1. The member's own certificate, signed by another key.
    stranger = CertificateIdentity(identity.chain, devpki.generate_key("p256"))
    with pytest.raises(Reverted, match="signature does not match the certificate's key"):
        attempt(tenderer, identity.chain_der, signed("tenderer", stranger))
    # 2. Another member's certificate and a valid signature by its key (made for this
    #    caller's digest): the registry wants the certificate the caller registered.
    bidder = w.identities["bidder"]
    with pytest.raises(Reverted, match="certificate is not the one the signer registered"):
        attempt(tenderer, bidder.chain_der, signed("tenderer", bidder))
    # 3. The bidder's own registration replayed by the tenderer: the digest binds the
    #    address, so the signature is checked against the tenderer's and fails.
    with pytest.raises(Reverted, match="signature does not match the certificate's key"):
        attempt(tenderer, bidder.chain_der, signed("bidder", bidder))
    # 4. A signature over other pixels than those sent.
    with pytest.raises(Reverted, match="signature does not match the certificate's key"):
        attempt(tenderer, identity.chain_der, signed("tenderer", identity, pixels=pixels_of("elsewhere")))
    # 5. Not a member: a valid chain and signature from a certificate never registered.
    unregistered = pki.p256_ca().issue("Not A Member", "p256")
    with pytest.raises(Reverted, match="signer is not a member"):
        attempt(outsider, unregistered.chain_der, signed("outsider", unregistered))
    # 6. A genesis member (admitted without a certificate) has no certificate to bind.
    admin_chain = pki.p256_ca().issue("Admin One", "p256")
    with pytest.raises(Reverted, match="certificate is not the one the signer registered"):
        attempt(w("admin-1"), admin_chain.chain_der, signed("admin-1", admin_chain))
    # 7. Empty fields, checked before any signature.
    with pytest.raises(Reverted, match="seal digest is empty"):
        attempt(tenderer, identity.chain_der, b"\x01", seal=ZERO)
    with pytest.raises(Reverted, match="pixel digest is empty"):
        attempt(tenderer, identity.chain_der, b"\x01", pixels=ZERO)
    with pytest.raises(Reverted, match="seal name is empty"):
        attempt(tenderer, identity.chain_der, b"\x01", name="")
    # 8. The name is at most 128 bytes of UTF-8: 42 CJK characters and two letters fit, 43
    #    CJK characters (129 bytes) do not (refused by the ABI bound, without a reason).
    fits = "印" * 42 + "AB"
    register(w, "tenderer", "long-name", fits)
    assert tenderer.seal(seal_of("long-name"))["name"] == fits
    with pytest.raises(Reverted):
        register(w, "tenderer", "too-long-name", "印" * 43)
    # 9. A seal id is registered once, by anyone: the same file again is refused.
    register(w, "tenderer", "duplicate")
    for who in ("tenderer", "bidder"):
        with pytest.raises(Reverted, match="seal already registered"):
            register(w, who, "duplicate")
    assert tenderer.seal(seal_of("duplicate"))["owner"] == address_of("tenderer")
    # nothing refused was stored
    with pytest.raises(Reverted, match="no such seal"):
        tenderer.seal(seal)


def test_one_admin_approves_at_a_quorum_of_one(world: World) -> None:
    w = world
    register(w, "bidder", "bidder-single")
    seal = seal_of("bidder-single")
    for name in ("bidder", "center"):  # a party, a trading center: neither is an admin
        with pytest.raises(Reverted, match="only an admin may approve seals"):
            w(name).approve_seal(seal)
    with pytest.raises(Reverted, match="no such seal"):
        w("admin-1").approve_seal(seal_of("never registered"))
    assert admins(w) == ["admin-1"], "this test runs before the second admin is granted"
    result = w("admin-1").approve_seal(seal)
    approval, approved = receipt_events(w, result)
    assert (approval.name, approval.args) == ("SealApproval", {
        "seal": "0x" + seal.hex(), "admin": address_of("admin-1"), "approvals": 1, "quorum": 1})
    assert (approved.name, approved.args) == ("SealApproved", {
        "seal": "0x" + seal.hex(), "owner": address_of("bidder"),
        "certFingerprint": "0x" + w.identities["bidder"].fingerprint.hex()})
    record = w("bidder").seal(seal)
    block = w("bidder").w3.eth.get_block(result.block_number)
    assert (record["status_name"], record["approvals"], record["approved_at"]) == ("Approved", 1, block["timestamp"])
    with pytest.raises(Reverted, match="seal is not waiting for approval"):
        w("admin-1").approve_seal(seal)


def test_two_admins_make_a_quorum_of_two(world: World) -> None:
    w = world
    admin1, admin2 = w("admin-1"), w("admin-2")
    if admins(w) == ["admin-1"]:
        admin1.propose(ACTION_GRANT_ROLES, bytes.fromhex(address_of("admin-2")[2:]), ROLE_BITS["ADMIN"])
    assert admins(w) == ["admin-1", "admin-2"]
    assert admin1.call(admin1.identity.functions.quorum()) == 2
    register(w, "supplier", "supplier-two")
    seal = seal_of("supplier-two")

    first = admin1.approve_seal(seal)
    assert [(e.name, e.args["approvals"], e.args["quorum"]) for e in receipt_events(w, first)] == [("SealApproval", 1, 2)]
    record = admin1.seal(seal)
    assert (record["status_name"], record["approvals"], record["approved_at"]) == ("Proposed", 1, 0)
    assert admin1.call(admin1.seals.functions.approved_by(seal, address_of("admin-1")))
    assert not admin1.call(admin1.seals.functions.approved_by(seal, address_of("admin-2")))
    assert not usable(w, seal, "supplier", w.identities["supplier"].fingerprint)
    with pytest.raises(Reverted, match="admin has already approved this seal"):
        admin1.approve_seal(seal)

    second = admin2.approve_seal(seal)
    approval, approved = receipt_events(w, second)
    assert (approval.name, approval.args["admin"], approval.args["approvals"], approval.args["quorum"]) == (
        "SealApproval", address_of("admin-2"), 2, 2)
    assert (approved.name, approved.args["owner"]) == ("SealApproved", address_of("supplier"))
    assert admin2.seal(seal)["status_name"] == "Approved"
    assert usable(w, seal, "supplier", w.identities["supplier"].fingerprint)


def test_revocation_by_owner_or_admin(world: World) -> None:
    w = world
    owned = approved_seal(w, "tenderer", "tenderer-revoked-by-owner")
    by_admin = approved_seal(w, "bidder", "bidder-revoked-by-admin")
    register(w, "supplier", "supplier-withdrawn")  # never approved
    withdrawn = seal_of("supplier-withdrawn")

    for name in ("bidder", "center"):  # another member, a trading center
        with pytest.raises(Reverted, match="only the seal's owner or an admin may revoke it"):
            w(name).revoke_seal(owned)
    result = w("tenderer").revoke_seal(owned, digest("seal lost"))
    (event,) = receipt_events(w, result)
    assert (event.name, event.args) == ("SealRevoked", {
        "seal": "0x" + owned.hex(), "owner": address_of("tenderer"), "by": address_of("tenderer"),
        "reasonDigest": "0x" + digest("seal lost").hex()})
    record = w("tenderer").seal(owned)
    block = w("tenderer").w3.eth.get_block(result.block_number)
    assert (record["status_name"], record["revoked_at"]) == ("Revoked", block["timestamp"])
    assert record["approved_at"] > 0  # the history stays

    (event,) = receipt_events(w, w("admin-1").revoke_seal(by_admin))
    assert (event.args["owner"], event.args["by"], event.args["reasonDigest"]) == (
        address_of("bidder"), address_of("admin-1"), "0x" + ZERO.hex())
    # a seal still waiting for approval can be withdrawn by its owner
    w("supplier").revoke_seal(withdrawn)
    assert w("supplier").seal(withdrawn)["status"] == REVOKED

    for seal, who in ((owned, "tenderer"), (by_admin, "admin-1"), (withdrawn, "admin-1")):
        with pytest.raises(Reverted, match="seal is already revoked"):
            w(who).revoke_seal(seal)
    with pytest.raises(Reverted, match="seal is not waiting for approval"):
        w("admin-1").approve_seal(withdrawn)
    with pytest.raises(Reverted, match="no such seal"):
        w("admin-1").revoke_seal(seal_of("never registered"))
    # a seal id is never reused, not even by its owner after revocation
    with pytest.raises(Reverted, match="seal already registered"):
        register(w, "tenderer", "tenderer-revoked-by-owner")


def test_usable_only_approved_owner_and_bound_certificate(world: World) -> None:
    w = world
    tenderer_cert, bidder_cert = w.identities["tenderer"].fingerprint, w.identities["bidder"].fingerprint
    register(w, "tenderer", "tenderer-usable")
    seal = seal_of("tenderer-usable")
    assert not usable(w, seal, "tenderer", tenderer_cert)                      # Proposed
    approve(w, seal)
    assert usable(w, seal, "tenderer", tenderer_cert)                          # Approved, owner, bound cert
    assert not usable(w, seal, "bidder", tenderer_cert)                        # not the owner
    assert not usable(w, seal, "bidder", bidder_cert)
    assert not usable(w, seal, "tenderer", bidder_cert)                        # another certificate
    assert not usable(w, seal, "tenderer", ZERO)
    assert not usable(w, seal_of("never registered"), "tenderer", tenderer_cert)
    assert not usable(w, ZERO, "admin-1", ZERO)                                # the empty record
    w("tenderer").revoke_seal(seal)
    assert not usable(w, seal, "tenderer", tenderer_cert)                      # Revoked


TWIN = "another member registered a seal with these pixels"


def register_pixels(w: World, owner: str, tag: str, pixels: bytes) -> TxResult:
    """Register the file `tag` with the given pixel digest (another file, the same drawing)."""
    return w(owner).register_seal(w.identities[owner], seal_of(tag), pixels, f"{tag} seal")


def approved_seal_with(w: World, owner: str, tag: str, pixels: bytes) -> bytes:
    register_pixels(w, owner, tag, pixels)
    approve(w, seal_of(tag))
    return seal_of(tag)


def test_another_member_cannot_register_the_same_pixels(world: World) -> None:
    """A seal lifted from a signed PDF and saved as a new file has a new id but the same
    pixels: while the owner's seal with those pixels stands, another member's registration
    of them is refused; the owner may register them again (a renewed certificate); once
    its seals with them are revoked, anyone may."""
    w = world
    pixels = pixels_of("twin")
    reader = w("admin-1")

    def pixel_seal() -> bytes:
        return bytes(reader.call(reader.seals.functions.pixel_seal(pixels)))

    assert pixel_seal() == ZERO
    register_pixels(w, "supplier", "twin-original", pixels)
    assert pixel_seal() == seal_of("twin-original")
    for who in ("tenderer", "bidder"):  # the seal is only proposed: refused already
        with pytest.raises(Reverted, match=TWIN):
            register_pixels(w, who, f"twin-copy-by-{who}", pixels)
    approve(w, seal_of("twin-original"))
    with pytest.raises(Reverted, match=TWIN):
        register_pixels(w, "tenderer", "twin-copy-approved", pixels)
    # the owner registers the same pixels in another file
    register_pixels(w, "supplier", "twin-reissued", pixels)
    assert pixel_seal() == seal_of("twin-reissued")
    with pytest.raises(Reverted, match=TWIN):
        register_pixels(w, "tenderer", "twin-copy-reissued", pixels)
    # other pixels are no one's twin
    register(w, "tenderer", "twin-other-pixels")

    # revoked, the owner's seals no longer hold the pixels
    w("supplier").revoke_seal(seal_of("twin-original"))
    w("admin-1").revoke_seal(seal_of("twin-reissued"))
    result = register_pixels(w, "tenderer", "twin-after-revocation", pixels)
    assert result.events["SealRegistered"][0]["owner"] == address_of("tenderer")
    assert pixel_seal() == seal_of("twin-after-revocation")
    # and now the former owner is the other member
    with pytest.raises(Reverted, match=TWIN):
        register_pixels(w, "supplier", "twin-reclaimed", pixels)
    for tag in ("copy-by-tenderer", "copy-by-bidder", "copy-approved", "copy-reissued", "reclaimed"):
        with pytest.raises(Reverted, match="no such seal"):
            reader.seal(seal_of(f"twin-{tag}"))


def test_revoking_a_reissued_seal_keeps_the_pixels_of_the_standing_one(world: World) -> None:
    w = world
    pixels = pixels_of("twin-standing")
    standing = approved_seal_with(w, "supplier", "twin-standing", pixels)
    register_pixels(w, "supplier", "twin-standing-reissued", pixels)
    w("supplier").revoke_seal(seal_of("twin-standing-reissued"))
    assert w("admin-1").seal(standing)["status"] == APPROVED
    with pytest.raises(Reverted, match=TWIN):
        register_pixels(w, "bidder", "twin-standing-copy", pixels)


# -- ContractRegistry.sign_pdf --------------------------------------------------------------


def test_two_parties_sign_the_pdf_in_turn(world: World) -> None:
    w = world
    tenderer_seal = approved_seal(w, "tenderer", "tenderer-contract")
    bidder_seal = approved_seal(w, "bidder", "bidder-contract")
    cid = new_contract(w, "P-2026-PDF-001", ["tenderer", "bidder"])
    tenderer_id, bidder_id = w.identities["tenderer"], w.identities["bidder"]

    first = sign_pdf(w, "tenderer", cid, tenderer_seal, revision=digest("rev 1"), cms=digest("cms 1"))
    assert [e.name for e in receipt_events(w, first)] == ["ContractSigned", "ContractPdfSigned"]
    signed = first.events["ContractPdfSigned"][0]
    assert signed == {
        "id": cid, "project": keccak(text="P-2026-PDF-001"), "signer": address_of("tenderer"), "sequence": 1,
        "revision_digest": digest("rev 1"), "cms_digest": digest("cms 1"), "seal": tenderer_seal,
        "cert_fingerprint": tenderer_id.fingerprint,
    }
    assert (first.events["ContractSigned"][0]["signatures"], first.events["ContractSigned"][0]["required"]) == (1, 2)
    with pytest.raises(Reverted, match="party has already signed"):
        sign_pdf(w, "tenderer", cid, tenderer_seal)

    second = sign_pdf(w, "bidder", cid, bidder_seal, revision=digest("rev 2"), cms=digest("cms 2"))
    events = receipt_events(w, second)
    assert [e.name for e in events] == ["ContractSigned", "ContractPdfSigned", "ContractEffective"]
    assert {e.args["id"] for e in events} == {"0x" + cid.hex()}
    assert events[1].args == {
        "id": "0x" + cid.hex(), "project": "0x" + keccak(text="P-2026-PDF-001").hex(), "signer": address_of("bidder"),
        "sequence": 2, "revisionDigest": "0x" + digest("rev 2").hex(), "cmsDigest": "0x" + digest("cms 2").hex(),
        "seal": "0x" + bidder_seal.hex(), "certFingerprint": "0x" + bidder_id.fingerprint.hex(),
    }

    reader = w("center")
    views = [reader.call(reader.contracts.functions.pdf_signature(cid, index)) for index in (0, 1)]
    assert [(s, bytes(r), bytes(c), bytes(k)) for s, r, c, k in views] == [
        (1, digest("rev 1"), digest("cms 1"), tenderer_seal), (2, digest("rev 2"), digest("cms 2"), bidder_seal)]
    record = reader.contract(cid)
    assert record["status"] == 2
    assert [(a["party_index"], a["signer"], a["cert_fingerprint"], a["pdf"]) for a in record["attestations"]] == [
        (0, address_of("tenderer"), tenderer_id.fingerprint,
         {"sequence": 1, "revision_digest": digest("rev 1"), "cms_digest": digest("cms 1"), "seal": tenderer_seal}),
        (1, address_of("bidder"), bidder_id.fingerprint,
         {"sequence": 2, "revision_digest": digest("rev 2"), "cms_digest": digest("cms 2"), "seal": bidder_seal}),
    ]
    # a party index past the parties reads as no PDF signature
    assert reader.call(reader.contracts.functions.pdf_signature(cid, 7))[0] == 0


def test_sign_pdf_refusals(world: World) -> None:
    w = world
    good = approved_seal(w, "supplier", "supplier-good")
    register(w, "supplier", "supplier-proposed")
    revoked = approved_seal(w, "supplier", "supplier-revoked")
    w("supplier").revoke_seal(revoked)
    others = approved_seal(w, "tenderer", "tenderer-not-supplier")
    cid = new_contract(w, "P-2026-PDF-REFUSED", ["supplier", "tenderer"])

    refused = "seal is not the signer's approved seal for this certificate"
    for seal in (seal_of("supplier-unregistered"), seal_of("supplier-proposed"), revoked, others, ZERO):
        with pytest.raises(Reverted, match=refused):
            sign_pdf(w, "supplier", cid, seal)
    with pytest.raises(Reverted, match="revision digest is empty"):
        sign_pdf(w, "supplier", cid, good, revision=ZERO)
    with pytest.raises(Reverted, match="CMS digest is empty"):
        sign_pdf(w, "supplier", cid, good, cms=ZERO)
    # the party's own checks still come first: a non-party, another party's certificate
    with pytest.raises(Reverted, match="caller is not a party to this contract"):
        sign_pdf(w, "bidder", cid, approved_seal(w, "bidder", "bidder-not-a-party"))
    with pytest.raises(Reverted, match="certificate is not the one the signer registered"):
        sign_pdf(w, "supplier", cid, good, identity=w.identities["tenderer"])
    # nothing was recorded
    record = w("center").contract(cid)
    assert record["status"] == 1 and record["attestations"] == []
    # and the approved seal works
    result = sign_pdf(w, "supplier", cid, good)
    assert result.events["ContractPdfSigned"][0]["sequence"] == 1


def test_no_mixing_of_sign_and_sign_pdf(world: World) -> None:
    """A contract is signed all as a PDF or all by digest: once a party used one call, the
    other is refused to the next party (with the call to use), and nothing is recorded."""
    w = world
    seals = {party: approved_seal(w, party, f"{party}-mixed") for party in ("tenderer", "bidder")}
    by_digest = new_contract(w, "P-2026-PDF-MIXED-A", ["tenderer", "bidder"])
    by_pdf = new_contract(w, "P-2026-PDF-MIXED-B", ["tenderer", "bidder"])
    reader = w("center")

    # 1. A digest signature first: sign_pdf is refused, and the contract stays un-PDF'd.
    plain = w("tenderer").sign_contract(by_digest, w.identities["tenderer"])
    assert "ContractPdfSigned" not in plain.events
    with pytest.raises(Reverted, match="a party signed this contract without the PDF: use sign"):
        sign_pdf(w, "bidder", by_digest, seals["bidder"])
    # naming the registered document as the base changes nothing: the rule comes first
    with pytest.raises(Reverted, match="a party signed this contract without the PDF: use sign"):
        sign_pdf(w, "bidder", by_digest, seals["bidder"], previous=digest("P-2026-PDF-MIXED-A document"))
    assert bytes(reader.call(reader.contracts.functions.pdf_head(by_digest))) == ZERO
    assert [a["party_index"] for a in reader.contract(by_digest)["attestations"]] == [0]
    # and the party signs the way the first did
    last = w("bidder").sign_contract(by_digest, w.identities["bidder"])
    assert "ContractEffective" in last.events and "ContractPdfSigned" not in last.events
    assert [a["pdf"] for a in reader.contract(by_digest)["attestations"]] == [None, None]

    # 2. A PDF signature first: sign is refused.
    first = sign_pdf(w, "tenderer", by_pdf, seals["tenderer"])
    with pytest.raises(Reverted, match="this contract is being signed as a PDF: use sign_pdf"):
        w("bidder").sign_contract(by_pdf, w.identities["bidder"])
    assert [a["party_index"] for a in reader.contract(by_pdf)["attestations"]] == [0]
    assert reader.call(reader.contracts.functions.pdf_signature(by_pdf, 1)) == (0, ZERO, ZERO, ZERO)
    last = sign_pdf(w, "bidder", by_pdf, seals["bidder"])
    assert [e.name for e in receipt_events(w, last)] == ["ContractSigned", "ContractPdfSigned", "ContractEffective"]
    assert last.events["ContractPdfSigned"][0]["sequence"] == 2
    assert [a["pdf"]["sequence"] for a in reader.contract(by_pdf)["attestations"]] == [1, 2]
    assert first.events["ContractPdfSigned"][0]["sequence"] == 1


STALE = re.escape("the PDF is not the latest signed revision: sign the last party's output")


def test_each_party_signs_the_previous_partys_revision(world: World) -> None:
    """The PDF revisions form a chain on the registry: the first signature names the
    registered document, each next one the revision the last produced (`pdf_head`); a
    base that is not the head is refused and leaves the head as it was."""
    w = world
    parties = ["tenderer", "bidder", "supplier"]
    seals = {party: approved_seal(w, party, f"{party}-chain") for party in parties}
    cid = new_contract(w, "P-2026-PDF-CHAIN", parties)
    document = digest("P-2026-PDF-CHAIN document")
    reader = w("center")

    def head() -> bytes:
        return bytes(reader.call(reader.contracts.functions.pdf_head(cid)))

    def revision(party: str) -> bytes:
        return digest(f"P-2026-PDF-CHAIN revision by {party}")

    def signed(party: str, previous: bytes) -> Any:
        return pdf_call(w, party, cid, seals[party], previous, revision(party), digest(f"CMS by {party}"))

    # before any PDF signature: nothing recorded; the SDK reads the registered document
    assert head() == ZERO and reader.pdf_head(cid) == document
    # 1. The first signature must name the registered document as its base.
    for wrong in (ZERO, digest("another document"), revision("tenderer")):
        with pytest.raises(Reverted, match=STALE):
            w("tenderer").transact(signed("tenderer", wrong))
    assert head() == ZERO and reader.contract(cid)["attestations"] == []
    w("tenderer").transact(signed("tenderer", document))
    assert head() == revision("tenderer") and reader.pdf_head(cid) == revision("tenderer")

    # 2. The next party signs the tenderer's output: the registered document is stale now.
    for wrong in (document, ZERO, revision("bidder")):
        with pytest.raises(Reverted, match=STALE):
            w("bidder").transact(signed("bidder", wrong))
    assert head() == revision("tenderer")

    # 3. Two parties sign the same base at once (both checked against the head, then sent
    #    together): one is ordered first and moves the head; the other fails on chain.
    calls = {party: signed(party, revision("tenderer")) for party in ("bidder", "supplier")}
    gas = {party: int(call.estimate_gas({"from": address_of(party)}) * 1.5) for party, call in calls.items()}
    sent = {party: w(party).send(call, gas=gas[party]) for party, call in calls.items()}
    status = {party: receipt_of(w, tx)["status"] for party, tx in sent.items()}
    assert sorted(status.values()) == [0, 1], status
    winner = next(party for party, ok in status.items() if ok == 1)
    loser = next(party for party, ok in status.items() if ok == 0)
    assert head() == revision(winner)
    assert [a["signer"] for a in reader.contract(cid)["attestations"]] == [address_of("tenderer"), address_of(winner)]
    assert reader.call(reader.contracts.functions.pdf_signature(cid, parties.index(loser))) == (0, ZERO, ZERO, ZERO)
    # the loser's call, asked again at the head, names the reason
    with pytest.raises(Reverted, match=STALE):
        w(loser).call(calls[loser])
    # 4. It signs the winner's output and the contract is Effective.
    last = w(loser).transact(signed(loser, revision(winner)))
    assert last.events["ContractPdfSigned"][0]["sequence"] == 3 and "ContractEffective" in last.events
    assert head() == revision(loser)
    chain = [reader.call(reader.contracts.functions.pdf_signature(cid, parties.index(p)))
             for p in ("tenderer", winner, loser)]
    assert [(s, bytes(r)) for s, r, _, _ in chain] == [(1, revision("tenderer")), (2, revision(winner)),
                                                      (3, revision(loser))]


def test_pdf_signing_digest_is_the_documented_formula(world: World) -> None:
    """docs/chaincode.md's pdf_signing_digest, computed here from the formula alone, is the
    registry's: a party signing it with nothing else is accepted, and the signature the
    SDK sent verifies over it with `cryptography`, not over the document digest."""
    w = world
    seals = {party: approved_seal(w, party, f"{party}-formula") for party in ("bidder", "supplier")}
    cid = new_contract(w, "P-2026-PDF-FORMULA", ["bidder", "supplier"])
    document = digest("P-2026-PDF-FORMULA document")
    reader = w("center")
    fields = [cid, document, digest("formula revision 1"), digest("formula CMS 1"), seals["bidder"]]
    expected = pdf_signing_digest(*fields)
    assert bytes(reader.call(reader.contracts.functions.pdf_signing_digest(*fields))) == expected
    # every field is bound: changing any one changes the digest (and the formula still agrees)
    for index in range(len(fields)):
        changed = [*fields[:index], digest(f"changed field {index}"), *fields[index + 1:]]
        view = bytes(reader.call(reader.contracts.functions.pdf_signing_digest(*changed)))
        assert view == pdf_signing_digest(*changed) != expected, index

    # 1. The SDK (which asks the registry's view) signs the same digest: its signature, read
    #    back from the transaction's calldata, verifies over the formula's digest.
    identity = w.identities["bidder"]  # a secp256k1 key
    result = w("bidder").sign_contract_pdf(cid, identity, revision_digest=fields[2], cms_digest=fields[3],
                                           seal=fields[4])
    tx = reader.w3.eth.get_transaction(HexBytes(result.tx_hash))
    function, args = reader.contracts.decode_function_input(tx["input"])
    assert function.fn_name == "sign_pdf"
    assert [bytes(args[k]) for k in ("id", "previous_revision", "revision_digest", "cms_digest", "seal")] == fields
    key = identity.leaf.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(args["signature"], expected, ec.ECDSA(Prehashed(hashes.SHA256())))
    with pytest.raises(InvalidSignature):  # the scheme before the revision chain signed this
        key.verify(args["signature"], document, ec.ECDSA(Prehashed(hashes.SHA256())))

    # 2. The next party (a P-384 key) signs the formula's digest computed here alone.
    supplier = w.identities["supplier"]
    mine = [cid, fields[2], digest("formula revision 2"), digest("formula CMS 2"), seals["supplier"]]
    signature = supplier.sign_digest(pdf_signing_digest(*mine))
    done = w("supplier").transact(w("supplier").contracts.functions.sign_pdf(
        cid, supplier.chain_der, signature, *mine[1:]))
    assert "ContractEffective" in done.events
    assert done.events["ContractPdfSigned"][0]["revision_digest"] == mine[2]


def test_sign_pdf_refuses_a_signature_over_anything_else(world: World) -> None:
    """The certificate key must sign pdf_signing_digest of exactly the fields sent: a
    signature over the document digest (what sign_pdf took before the revision chain), or
    over the digest of another contract, base, revision, CMS or seal, is refused."""
    w = world
    seal = approved_seal(w, "tenderer", "tenderer-other-digests")
    cid = new_contract(w, "P-2026-PDF-OTHER-DIGEST", ["tenderer", "bidder"])
    other = new_contract(w, "P-2026-PDF-OTHER-CONTRACT", ["tenderer", "bidder"])
    document = digest("P-2026-PDF-OTHER-DIGEST document")
    identity = w.identities["tenderer"]
    sent = [cid, document, digest("revision"), digest("CMS"), seal]
    signed_instead = {
        "the document digest": document,
        "another contract": pdf_signing_digest(other, *sent[1:]),
        "another base": pdf_signing_digest(cid, digest("another base"), *sent[2:]),
        "another revision": pdf_signing_digest(cid, document, digest("another revision"), *sent[3:]),
        "another CMS": pdf_signing_digest(cid, document, sent[2], digest("another CMS"), seal),
        "another seal": pdf_signing_digest(cid, document, sent[2], sent[3], digest("another seal")),
    }
    tenderer = w("tenderer")
    for what, signed in signed_instead.items():
        call = tenderer.contracts.functions.sign_pdf(cid, identity.chain_der, identity.sign_digest(signed), *sent[1:])
        try:
            tenderer.transact(call)
        except Reverted as exc:
            assert "signature does not match the certificate's key" in str(exc), (what, str(exc))
        else:
            pytest.fail(f"sign_pdf accepted a signature over {what}")
    reader = w("center")
    assert bytes(reader.call(reader.contracts.functions.pdf_head(cid))) == ZERO
    assert reader.contract(cid)["attestations"] == []
    # the signature over the sent fields is the one accepted
    good = identity.sign_digest(pdf_signing_digest(*sent))
    tenderer.transact(tenderer.contracts.functions.sign_pdf(cid, identity.chain_der, good, *sent[1:]))
    assert bytes(reader.call(reader.contracts.functions.pdf_head(cid))) == sent[2]


def test_a_renewed_certificate_cannot_use_the_old_seal(world: World) -> None:
    w = world
    old_identity = w.identities["renewer"]
    old_seal = approved_seal(w, "renewer", "renewer-old")
    new_identity = pki.p256_ca().issue("Renewing Works", "p256")
    w("renewer").register_member(new_identity)
    w.identities["renewer"] = new_identity
    assert w("renewer").member(address_of("renewer"))["cert_fingerprint"] == new_identity.fingerprint
    cid = new_contract(w, "P-2026-PDF-RENEWED", ["renewer", "bidder"])

    assert not usable(w, old_seal, "renewer", new_identity.fingerprint)
    with pytest.raises(Reverted, match="seal is not the signer's approved seal for this certificate"):
        sign_pdf(w, "renewer", cid, old_seal)
    with pytest.raises(Reverted, match="certificate is not the one the signer registered"):
        sign_pdf(w, "renewer", cid, old_seal, identity=old_identity)
    # a seal registered with the new certificate is the way
    register(w, "renewer", "renewer-new")
    new_seal = seal_of("renewer-new")
    assert w("renewer").seal(new_seal)["cert_fingerprint"] == new_identity.fingerprint
    approve(w, new_seal)
    result = sign_pdf(w, "renewer", cid, new_seal)
    assert result.events["ContractPdfSigned"][0]["cert_fingerprint"] == new_identity.fingerprint


GAS: dict[str, int] = {}


# What sign_pdf may cost over sign, by position (gas). Below: the storage sign_pdf must
# write. The PdfSignature's four words are new (4 x 22,100); so is pdf_head at the first
# signature (22,100), while the last one overwrites it (2,900 + 2,100 cold). Above: the
# measured extra (docs/chaincode.md: 124,651 and 107,168) with room for the calldata's
# signature length, but less than one more certificate check would add (the precompile's
# `verify`: 60k for the tenderer's three P-256 certificates, 67k for the bidder's P-384
# root and secp256k1 leaf, by docs/chaincode.md's price table).
SIGN_PDF_EXTRA = {"first party": (5 * 22_100, 150_000), "last party (Effective)": (4 * 22_100 + 5_000, 140_000)}


def test_gas_of_sign_and_sign_pdf(world: World) -> None:
    """The same two parties (same certificates) sign two contracts alike, one by `sign`, one
    by `sign_pdf`: the PDF record costs its storage words and the revision head, the signed
    digest, the seal lookup and the event, and nothing else (no second certificate check)."""
    w = world
    seals = {party: approved_seal(w, party, f"{party}-gas") for party in ("tenderer", "bidder")}
    by_sign = new_contract(w, "P-2026-GAS-A", ["tenderer", "bidder"])
    by_pdf = new_contract(w, "P-2026-GAS-B", ["tenderer", "bidder"])
    GAS["sign, first party"] = w("tenderer").sign_contract(by_sign, w.identities["tenderer"]).gas_used
    GAS["sign_pdf, first party"] = sign_pdf(w, "tenderer", by_pdf, seals["tenderer"]).gas_used
    GAS["sign, last party (Effective)"] = w("bidder").sign_contract(by_sign, w.identities["bidder"]).gas_used
    GAS["sign_pdf, last party (Effective)"] = sign_pdf(w, "bidder", by_pdf, seals["bidder"]).gas_used
    print("\n" + "\n".join(f"{what:34} {gas:>9,}" for what, gas in GAS.items()))
    for position, (low, high) in SIGN_PDF_EXTRA.items():
        extra = GAS[f"sign_pdf, {position}"] - GAS[f"sign, {position}"]
        assert low < extra < high, (position, extra)
