"""Who a contract's parties and signers are, by name and CA: the answers the console's
Contracts page (docs/web.md "Contracts") and scripts read instead of parsing certificates.

Two routes of node/rpc/rest/routes.py's table:

* `GET /v1/contracts/{id}/parties` (the contract routes' permissions and role rule: a
  contracts:read-own party only for its own contracts): each party's member record with
  its name and organisation, and the certificate it registered — subject, issuing CA and
  root by name; each signature with the certificate it was made with and, for a
  signature of the contract's PDF, the record of the seal it shows and how that seal
  stood when it was made (node/storage/index_queries.py `seal_at_signing`); the names of
  every address the contract mentions (registrar, void requests, voider).
* `GET /v1/names?address=...` (chain:read, as `GET /v1/members/{address}`): names and
  organisations of up to `MAX_NAMES` members, for lists of contracts.

Where the names come from. The member index (node/storage/indexes.py "members") keeps
the registered certificate's subject as the PKI precompile rendered it (RFC 4514): name
and organisation are parsed from it, one seek per member. The issuer is not in any
event: it is read from the certificate chain itself, which the registering (or signing)
transaction carried as calldata — `IdentityRegistry.register(chain, signature)` or
`ContractRegistry.sign(id, chain, signature)` (or `sign_pdf(id, chain, signature, …)`)
— found through the transaction-location index (a few seeks and the block's body, which
the chain caches). The chain's leaf must hash to the fingerprint the event recorded, so
the names are those of the certificate the chain accepted; a transaction that reached the
registry another way (through a contract) leaves `certificate` null. What a transaction
carried never changes (QBFT blocks are final), so the parsed names are cached by
transaction hash. A PDF signature's seal is one more seek (the seal index).
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID
from eth_abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from fastapi import Query, Request

from chaincode import CONTRACT_REGISTRY, IDENTITY_REGISTRY, load_artifact
from evidence.x509 import CertificateError, split_certificates
from node.errors import InvalidParams, NotFound
from node.rpc.rest.context import admitted, as_refusals, node_of
from node.rpc.rest.params import hex_bytes
from node.rpc.rest.queries import CONTRACT_ID, visible_contract
from node.service import Node
from node.storage.index_queries import Indexes, seal_at_signing

# Addresses one `GET /v1/names` takes: a page of contracts (DEFAULT_PAGE, 100) names a
# few hundred at most once repeated ones are dropped; each costs one seek.
MAX_NAMES = 200
# Parsed certificates kept (by transaction hash): a registration's or signature's names
# are a few hundred bytes; 4096 of them cover the members and signers a console shows
# without reading a block body twice, in about 2 MB.
CERTIFICATE_CACHE = 4_096



def _call(contract: str, registry: bytes, function: str) -> tuple[bytes, bytes, list[str], int]:
    """(registry, selector, ABI types, the chain argument's position) of a system
    contract's function, read from its shipped ABI, so a changed signature cannot drift."""
    (entry,) = [e for e in load_artifact(contract).abi if e.get("type") == "function" and e["name"] == function]
    types = [str(i["type"]) for i in entry["inputs"]]
    names = [str(i["name"]) for i in entry["inputs"]]
    selector = function_signature_to_4byte_selector(f"{function}({','.join(types)})")
    return registry, selector, types, names.index("chain_der")


# Where each call carries its chain: (registry, selector, ABI types, the chain's position).
_CALLS = {
    "register": _call("IdentityRegistry", IDENTITY_REGISTRY, "register"),
    "sign": _call("ContractRegistry", CONTRACT_REGISTRY, "sign"),
    "sign_pdf": _call("ContractRegistry", CONTRACT_REGISTRY, "sign_pdf"),
}
REGISTER, SIGN, SIGN_PDF = (_CALLS[name][1] for name in ("register", "sign", "sign_pdf"))
# The call a signature was made with: a signature with a PDF part came from sign_pdf.
_SIGNING_CALL = {False: "sign", True: "sign_pdf"}

# The longest `address` value taken: MAX_NAMES addresses with 0x, comma-separated.
MAX_ADDRESS_CHARS = MAX_NAMES * 43
ADDRESSES = Query(..., description=f"members' addresses (20 bytes hex), repeated or comma-separated, at most "
                                   f"{MAX_NAMES}")


# -- names, pure ------------------------------------------------------------------------


@dataclass(frozen=True)
class Names:
    """A distinguished name's common name and organisation (None when it has none)."""

    subject: str | None
    name: str | None
    organization: str | None

    def to_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "name": self.name, "organization": self.organization}


def _first(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


def names_of(name: x509.Name) -> Names:
    return Names(name.rfc4514_string(), _first(name, NameOID.COMMON_NAME), _first(name, NameOID.ORGANIZATION_NAME))


def names_of_subject(subject: str | None) -> Names:
    """Name and organisation from a subject as the member index keeps it (RFC 4514); a
    subject that does not parse (the precompile cuts subjects at 256 bytes) keeps its text
    and no parts."""
    if not subject:
        return Names(subject or None, None, None)
    try:
        parsed = x509.Name.from_rfc4514_string(subject)
    except ValueError:
        return Names(subject, None, None)
    return Names(subject, _first(parsed, NameOID.COMMON_NAME), _first(parsed, NameOID.ORGANIZATION_NAME))


def certificate_names(chain_der: bytes) -> dict[str, Any]:
    """The leaf's subject, its issuer and the chain's root, by name, with the leaf's and
    root's fingerprints (SHA-256 of their DER, as the registry records them). Raises
    CertificateError for a chain that does not parse."""
    ders = split_certificates(chain_der)
    try:
        leaf = x509.load_der_x509_certificate(ders[0])
        root = x509.load_der_x509_certificate(ders[-1])
        leaf_names, issuer_names, root_names = names_of(leaf.subject), names_of(leaf.issuer), names_of(root.subject)
    except ValueError as exc:
        raise CertificateError(f"not a readable certificate: {exc}") from None
    return {
        "fingerprint": "0x" + hashlib.sha256(ders[0]).hexdigest(),
        **leaf_names.to_json(),
        "issuer": issuer_names.to_json(),
        "root": {"fingerprint": "0x" + hashlib.sha256(ders[-1]).hexdigest(), **root_names.to_json()},
    }


def chain_of_call(call: str, to: bytes, data: bytes) -> bytes | None:
    """The certificate chain a `register` or `sign` transaction carried (None when the
    transaction is not that call on its registry, or its arguments do not decode)."""
    registry, selector, types, position = _CALLS[call]
    if to != registry or data[:4] != selector:
        return None
    try:
        arguments = decode(types, data[4:])
    except (DecodingError, ValueError, TypeError, OverflowError):
        return None
    chain = arguments[position]
    return bytes(chain) if isinstance(chain, bytes) else None


# -- reading the chain --------------------------------------------------------------------


class CertificateReader:
    """The certificate a registering or signing transaction carried, by name (cached)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.read = functools.lru_cache(maxsize=CERTIFICATE_CACHE)(self._read)

    def _read(self, call: str, tx_hash: bytes) -> dict[str, Any] | None:
        chain = self.node.chain
        try:
            height, index = chain.transaction_location(tx_hash)
            transactions, _ = chain.block_transactions(chain.header_by_number(height))
        except NotFound:
            return None
        if index >= len(transactions):
            return None
        tx = transactions[index]
        der = chain_of_call(call, bytes(tx.to), bytes(tx.data))
        if der is None:
            return None
        try:
            return certificate_names(der)
        except CertificateError:
            return None

    def certificate(self, call: str, tx_hash: str | None, fingerprint: str | None) -> dict[str, Any] | None:
        """The names of the certificate `tx_hash` carried, if its leaf is `fingerprint`."""
        if not tx_hash or not fingerprint:
            return None
        found = self.read(call, bytes.fromhex(tx_hash[2:]))
        if found is None or found["fingerprint"].lower() != fingerprint.lower():
            return None
        return found


def reader_of(request: Request) -> CertificateReader:
    """The app's certificate reader, made on first use (one cache per app)."""
    state = request.app.state
    reader: CertificateReader | None = getattr(state, "certificates", None)
    if reader is None or reader.node is not node_of(request):
        reader = state.certificates = CertificateReader(node_of(request))
    return reader


def member_or_none(idx: Indexes, address: bytes) -> dict[str, Any] | None:
    try:
        return idx.member(address)
    except NotFound:
        return None


def name_entry(address: str, member: dict[str, Any] | None) -> dict[str, Any]:
    """An address with its member's name and organisation (all null for a non-member)."""
    names = names_of_subject(member["subject"] if member else None)
    return {"address": to_checksum_address(address), "member": member is not None, **names.to_json()}


# -- the routes ---------------------------------------------------------------------------


def contract_parties(request: Request, contract_id: str = CONTRACT_ID) -> dict[str, Any]:
    """A contract's parties by name and CA (their registered certificates), each signature
    with the certificate that made it, and the names of every address it mentions."""
    node = node_of(request)
    with as_refusals(), node.chain.indexes.snapshot() as idx:
        record = visible_contract(idx, admitted(request), hex_bytes(contract_id, 32, "contract id"))
        mentioned = [*record["parties"], record["registrar"], *(s["signer"] for s in record["signatures"]),
                     *(v["party"] for v in record["voidRequests"])]
        if record["voided"]:
            mentioned.append(record["voided"]["by"])
        members = {a.lower(): member_or_none(idx, bytes.fromhex(a[2:])) for a in mentioned}
        seals = {s["pdf"]["seal"]: idx.seal_or_none(bytes.fromhex(s["pdf"]["seal"][2:]))
                 for s in record["signatures"] if s["pdf"] is not None}
    reader = reader_of(request)
    parties = []
    for address in record["parties"]:
        member = members[address.lower()]
        entry = name_entry(address, member)
        if member is not None:
            entry.update(roles=member["roles"], certFingerprint=member["certFingerprint"],
                         rootFingerprint=member["rootFingerprint"], notAfter=member["notAfter"],
                         registered=member["registered"],
                         certificate=reader.certificate("register", member["registered"].get("transactionHash"),
                                                        member["certFingerprint"]))
        else:
            entry.update(roles=[], certFingerprint=None, rootFingerprint=None, notAfter=None, registered=None,
                         certificate=None)
        parties.append(entry)
    signatures = [{**s, "certificate": reader.certificate(_SIGNING_CALL[s["pdf"] is not None], s["transactionHash"],
                                                          s["certFingerprint"]), **seal_view(s, seals)}
                  for s in record["signatures"]]
    names = {entry["address"]: entry for entry in (name_entry(a, members[a.lower()]) for a in mentioned)}
    return {"contract": record["id"], "parties": parties, "signatures": signatures, "names": list(names.values())}


def seal_view(signature: dict[str, Any], seals: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    """A signature's seal fields: the seal's record and the flags of `seal_at_signing`
    for a PDF signature (`seals`: the records by seal id, None where none is registered);
    all null for a signature of the document digest alone."""
    if signature["pdf"] is None:
        return {"seal": None, "sealMatchesSigner": None, "sealStatusAtSigning": None, "sealRevokedSince": None}
    found = seals[signature["pdf"]["seal"]]
    return {"seal": found, **seal_at_signing(signature, found)}


def names(request: Request, address: list[str] = ADDRESSES) -> dict[str, Any]:
    """Members' names and organisations from their registered certificates' subjects, in
    the order asked, each address once; a non-member's are null."""
    with as_refusals():
        if len(address) > MAX_NAMES or any(len(value) > MAX_ADDRESS_CHARS for value in address):
            raise InvalidParams(f"at most {MAX_NAMES} addresses in one query")
        wanted = list(dict.fromkeys(part.strip() for value in address for part in value.split(",") if part.strip()))
        if len(wanted) > MAX_NAMES:
            raise InvalidParams(f"at most {MAX_NAMES} addresses in one query, got {len(wanted)}")
        keys = [hex_bytes(a, 20, "address") for a in wanted]
        with node_of(request).chain.indexes.snapshot() as idx:
            found = {key: member_or_none(idx, key) for key in keys}
    return {"items": [name_entry("0x" + key.hex(), found[key]) for key in dict.fromkeys(keys)]}
