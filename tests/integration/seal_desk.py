"""The contract desk of tests/integration/contract_desk.py with seals, for the seal routes'
REST tests and the Contracts page's seal browser test: each party registers a seal
(SealRegistry.register, signed with its certificate's key), the admin approves two of
them, a third contract is signed as a PDF by both parties (ContractRegistry.sign_pdf,
with arbitrary 32-byte revision and CMS digests: the chain records them, it does not read
the PDF; the SDK names the chain's head as each signature's base, so the bidder signs on
the tenderer's revision), and the bidder then revokes its seal — so the contract shows one
signature whose seal stands and one whose seal was revoked after it signed.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from client.ledger import Reverted
from tests.integration.contract_desk import ContractDesk, build_contract_desk
from tests.integration.permissioned import address_of

PDF_PROJECT = "P-2026-003"
# party -> the name it registers its seal under
SEAL_NAMES = {"tenderer": "招标人合同专用章 Tenderer contract seal", "bidder": "中标人合同专用章 Bidder contract seal",
              "outsider": "Outsider seal (not approved)"}
APPROVED = ("tenderer", "bidder")
REVOKED = "bidder"
REVOCATION_REASON = hashlib.sha256(b"the seal was lost").digest()


def seal_of(name: str) -> bytes:
    """A party's seal id: in life the SHA-256 of its PNG; any 32 bytes to the chain."""
    return hashlib.sha256(f"seal image of {name}".encode()).digest()


def pixels_of(name: str) -> bytes:
    return hashlib.sha256(f"seal pixels of {name}".encode()).digest()


def revision_of(name: str) -> bytes:
    return hashlib.sha256(f"{PDF_PROJECT} revision signed by {name}".encode()).digest()


def cms_of(name: str) -> bytes:
    return hashlib.sha256(f"{PDF_PROJECT} CMS of {name}".encode()).digest()


@dataclass
class SealDesk:
    desk: ContractDesk
    pdf_contract: str = ""                      # the PDF-signed contract's id (0x)
    refused: str = ""                           # why sign_pdf with an unapproved seal was refused
    blocks: dict[str, int] = field(default_factory=dict)  # step -> its block

    @property
    def url(self) -> str:
        return self.desk.url

    @property
    def tokens(self) -> dict[str, str]:
        return self.desk.tokens


def build_seal_desk(base: Path) -> SealDesk:
    """Start the node, play the contract desk's story and then the seals'; the caller stops
    `seals.desk.net.node`."""
    desk = build_contract_desk(base)
    try:
        seals = SealDesk(desk)
        for name, seal_name in SEAL_NAMES.items():
            desk.ledger(name).register_seal(desk.identities[name], seal_of(name), pixels_of(name), seal_name)
        admin = desk.ledger("admin")
        for name in APPROVED:
            seals.blocks[f"approved {name}"] = admin.approve_seal(seal_of(name)).block_number
        center = desk.ledger("center")
        registered = center.register_contract(PDF_PROJECT, hashlib.sha256(b"the contract PDF").digest(),
                                              [address_of("tenderer"), address_of("bidder")], amount=88_000_000)
        contract_id = registered.events["ContractRegistered"][0]["id"]
        seals.pdf_contract = "0x" + contract_id.hex()
        for name in APPROVED:
            signed = desk.ledger(name).sign_contract_pdf(contract_id, desk.identities[name], revision_digest=revision_of(name),
                                                         cms_digest=cms_of(name), seal=seal_of(name))
            seals.blocks[f"signed {name}"] = signed.block_number
        seals.blocks["revoked"] = desk.ledger(REVOKED).revoke_seal(seal_of(REVOKED), REVOCATION_REASON).block_number
        # the chain refuses a seal that is not approved: nothing reaches the index
        try:
            desk.ledger("outsider").sign_contract_pdf(
                bytes.fromhex(desk.contracts["P-2026-002"][2:]), desk.identities["outsider"],
                revision_digest=revision_of("outsider"), cms_digest=cms_of("outsider"), seal=seal_of("outsider"))
        except Reverted as exc:
            seals.refused = str(exc)
        return seals
    except BaseException:
        desk.net.node.stop()
        raise
