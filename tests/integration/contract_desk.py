"""A contract desk on a real permissioned node that requires tokens, for the contract views'
REST tests and the Contracts page's browser tests: two CAs trusted in genesis (one RSA
root; one P-256 root with an intermediate that issues), three parties registered with
certificates from them, contracts signed, the document anchored as evidence and sealed for
its parties in the blob store.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from client.anchoring import anchor
from client.blobs import put_blob
from client.credentials import CertificateIdentity
from client.envelope import seal_envelope
from client.ledger import Ledger
from node.access.tokens import TokenStore
from tests import pki
from tests.integration.permissioned import Network, account_key, address_of, start_network

MEMBERS = [("admin", "ADMIN"), ("center", "TRADING_CENTER"), ("regulator", "REGULATOR"), ("court", "COURT")]
ROLE_ACCOUNT = {"ADMIN": "admin", "TRADING_CENTER": "center", "REGULATOR": "regulator", "COURT": "court"}
# The parties: account name -> (common name, CA). tenderer's CA issues through an intermediate.
PARTIES = {
    "tenderer": ("Tenderer Construction Group", "p256"),
    "bidder": ("Winning Bidder Engineering", "rsa"),
    "outsider": ("Outsider Trading", "rsa"),
}
DOCUMENT = "施工合同 P-2026-001\nConstruction contract between the tenderer and the winning bidder.\n".encode()
TOKEN_TTL_SECONDS = 3600


@dataclass
class ContractDesk:
    net: Network
    tokens: dict[str, str]               # role (or "PARTY:<name>") -> token
    identities: dict[str, CertificateIdentity]
    contracts: dict[str, str] = field(default_factory=dict)  # project code -> id (0x)
    envelope: str = ""                   # the sealed document's blob name (hex)
    key_files: dict[str, Path] = field(default_factory=dict)  # party -> its certificate's private key (PEM)

    @property
    def url(self) -> str:
        return self.net.url

    def ledger(self, name: str) -> Ledger:
        return Ledger(self.net.url, account_key(name), token=self.tokens["ADMIN"])


def ca_of(name: str) -> pki.CA:
    return pki.p256_ca() if name == "p256" else pki.rsa_ca()


def build_contract_desk(base: Path) -> ContractDesk:
    """Start the node and play the story; the caller stops `desk.net.node`."""
    roots = [pki.rsa_ca().root_pem.decode(), pki.p256_ca().root_pem.decode()]
    net = start_network(base, MEMBERS, roots, auth="required")
    try:
        store = TokenStore(net.node.data_dir)
        tokens = {role: store.issue(role, f"test {role.lower()}", None, TOKEN_TTL_SECONDS)[0] for role in ROLE_ACCOUNT}
        for name in PARTIES:
            address = bytes.fromhex(address_of(name)[2:])
            tokens[f"PARTY:{name}"] = store.issue("PARTY", f"test {name}", address, TOKEN_TTL_SECONDS)[0]
        identities = {name: ca_of(ca).issue(common_name, "p256" if ca == "p256" else "rsa2048")
                      for name, (common_name, ca) in PARTIES.items()}
        desk = ContractDesk(net, tokens, identities)
        for name, identity in identities.items():
            desk.ledger(name).register_member(identity)
            key_file = base / f"{name}.key.pem"
            key_file.write_bytes(identity.key.private_bytes(serialization.Encoding.PEM,
                                                            serialization.PrivateFormat.PKCS8,
                                                            serialization.NoEncryption()))
            desk.key_files[name] = key_file
        center = desk.ledger("center")
        tenderer, bidder, outsider = (address_of(n) for n in PARTIES)
        doc_digest = hashlib.sha256(DOCUMENT).digest()
        first = center.register_contract("P-2026-001", doc_digest, [tenderer, bidder], amount=125_000_000)
        contract_id = first.events["ContractRegistered"][0]["id"]
        desk.contracts["P-2026-001"] = "0x" + contract_id.hex()
        desk.ledger("tenderer").sign_contract(contract_id, identities["tenderer"])
        desk.ledger("bidder").sign_contract(contract_id, identities["bidder"])
        other = center.register_contract("P-2026-002", hashlib.sha256(b"other").digest(), [bidder, outsider])
        desk.contracts["P-2026-002"] = "0x" + other.events["ContractRegistered"][0]["id"].hex()
        anchor(desk.ledger("court"), doc_digest, kind="contract", case="P-2026-001")
        envelope = seal_envelope(DOCUMENT, [identities["tenderer"].leaf, identities["bidder"].leaf], aad=contract_id)
        desk.envelope = put_blob(net.url, envelope, token=tokens["TRADING_CENTER"])
        return desk
    except BaseException:
        net.node.stop()
        raise
