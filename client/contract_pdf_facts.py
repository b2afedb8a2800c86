"""The chain's facts about a contract, for the contract-PDF flow (client/contract_pdf.py):
the contract and its attestations with their PDF parts, the seals they name, the root
certificates they name, and which contract a PDF belongs to.

- `chain_contract` gathers the facts the verifier (client/pdf_contract_checks.py) judges a
  PDF against.
- `find_contract` names the contract a PDF belongs to: among the contracts whose
  registered document digest is one of the PDF's revision prefixes, the one whose
  recorded revisions the PDF carries; several still matching are refused (name one).

Where the roots come from. An attestation names its root by fingerprint (SHA-256 of the
DER), so any copy of a certificate with that fingerprint *is* the root the chain checked
the signature against, wherever the copy was found. Roots trusted after genesis are in the
identity registry's RootProposed events (read with eth_getLogs, bounded below); roots
trusted in genesis have no event, and are taken from the certificates the caller hands
in — those the PDF's signatures embed (our signers embed their whole chain, root
included) and the signer's own chain — each kept only if its SHA-256 is a fingerprint
the chain recorded. A root was proposed before any signature that chains to it, so the
events are searched backwards from the block of the newest attestation naming a missing
root. A root found nowhere is left out; the verifier's "trust" step then says which root
was not supplied.

Reads are view calls at the ledger's default block (the CLI pins it to the latest block
when a command starts, so one answer's parts agree).
"""
from __future__ import annotations

import hashlib
import io
import itertools
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning
from eth_utils import to_checksum_address

from chaincode import ALGORITHM_NAMES, CONTRACT_STATUS, IDENTITY_REGISTRY
from chaincode.events import EventDecodeError, decode_rpc_log, event_type
from client.errors import ClientError
from client.http import HttpError
from client.ledger import Ledger, LedgerError, Reverted, Unauthorized
from client.pdf_contract_checks import ChainAttestation, ChainContract, ChainSeal
from client.pdf_signatures import MAX_SIGNER_CHAIN, PdfSignatureError
from client.pdf_structure import (
    MAX_CONTRACT_PDF_BYTES,
    MAX_PDF_SIGNATURES,
    bounded_recursion,
    revision_prefix_digests,
    signatures_in,
)
from evidence import digest as digests

# As in client/pdf_signatures.py: pyHanko imports cryptography's DSA module, which warns.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    from pyhanko.pdf_utils.reader import PdfFileReader


# Blocks one eth_getLogs may scan: the node's own cap (node/rpc/methods.py MAX_LOG_BLOCK_RANGE).
LOG_WINDOW_BLOCKS = 10_000
# Blocks the RootProposed search walks in all, backwards from the newest attestation that
# names a missing root (100 windows). Roots are trusted when a consortium forms or a CA
# joins, before the contracts signed under them; one proposed more than a million blocks
# (~11 days at one block a second) before the signature is looked for no further, rather
# than spending the node's log budget on every verification. Roots in the PDF or the
# signer's chain need no search at all.
MAX_ROOT_SEARCH_BLOCKS = 1_000_000
# Contracts `find_contract` pages through (GET /v1/contracts, newest first, 1,000 a page):
# ten requests. The node has no index by document digest; past this, name the contract.
MAX_FIND_CONTRACTS = 10_000
FIND_PAGE = 1_000  # the REST list's largest page (docs/rest.md)
# Candidate root certificates examined: every signature's chain in the PDF (at most
# MAX_SIGNER_CHAIN each, for at most MAX_PDF_SIGNATURES signatures) and the signer's own.
MAX_CANDIDATE_CERTIFICATES = (MAX_PDF_SIGNATURES + 1) * MAX_SIGNER_CHAIN
# Where a PDF's header may sit: the first 1024 bytes (ISO 32000-1 7.5.2 readers' leeway).
PDF_HEADER_WINDOW = 1024
_ZERO32 = b"\x00" * 32


class ContractPdfError(ClientError, ValueError):
    """The contract-PDF flow refused before anything was sent: `check` names what did not
    hold (contract, party, certificate, seal, document, out, registered), `reason` says why."""

    def __init__(self, check: str, reason: str) -> None:
        super().__init__(reason)
        self.check = check
        self.reason = reason


class ContractNotFound(ContractPdfError):
    """No contract on the chain for a PDF: none named by the id or project given, or none
    whose registered document is a revision of the PDF among the `scanned` contracts;
    `exhausted` says whether those were all the node lists."""

    def __init__(self, reason: str, *, scanned: int = 0, exhausted: bool = True) -> None:
        super().__init__("registered", reason)
        self.scanned = scanned
        self.exhausted = exhausted


class AmbiguousContract(ContractPdfError):
    """Several contracts registered the PDF's document and the PDF carries the recorded
    signatures of none, or of several, of them: `candidates` (their ids); name one."""

    def __init__(self, reason: str, *, candidates: Sequence[bytes]) -> None:
        super().__init__("registered", reason)
        self.candidates = tuple(candidates)


# -- the chain's facts ----------------------------------------------------------------------


def chain_contract(ledger: Ledger, contract_id: bytes, *,
                   certificates: Iterable[x509.Certificate] = ()) -> ChainContract:
    """The chain's facts about contract `contract_id` for `verify_contract_pdf`: the
    contract, its attestations (at most its parties, 8), the seals they name and the root
    certificates they name. `certificates` are candidate roots (module docstring). Raises
    ContractNotFound when the chain holds no such contract."""
    return contract_facts(ledger, contract_id, certificates)[0]


def contract_facts(ledger: Ledger, contract_id: bytes,
                 certificates: Iterable[x509.Certificate]) -> tuple[ChainContract, dict[str, Any]]:
    """`chain_contract`, with the registry's record it was read from (previous, next)."""
    try:
        record = ledger.contract(contract_id)
    except Reverted as exc:
        if "no such contract" in exc.reason:
            raise ContractNotFound(f"no contract 0x{contract_id.hex()} is registered on the chain") from exc
        raise
    attestations = tuple(_attestation(a) for a in record["attestations"])
    seals: dict[bytes, ChainSeal] = {}
    for attestation in attestations:
        if attestation.seal is not None and attestation.seal not in seals:
            found = registered_seal(ledger, attestation.seal)
            if found is not None:
                seals[attestation.seal] = found
    wanted = {a.root_fingerprint for a in attestations} - {_ZERO32}
    roots = roots_among(certificates, wanted)
    missing = wanted - roots.keys()
    if missing:
        newest = max(a.signed_at for a in attestations if a.root_fingerprint in missing)
        roots.update(_proposed_roots(ledger, missing, block_at_time(ledger, newest)))
    contract = ChainContract(
        contract_id=contract_id, project_code=record["project_code"], version=int(record["version"]),
        status=CONTRACT_STATUS.get(record["status"], str(record["status"])), doc_digest=record["doc_digest"],
        digest_algorithm=ALGORITHM_NAMES.get(record["digest_algorithm"], str(record["digest_algorithm"])),
        parties=tuple(to_checksum_address(p) for p in record["parties"]), attestations=attestations,
        seals=seals, roots=roots,
    )
    return contract, record


def _attestation(a: Mapping[str, Any]) -> ChainAttestation:
    pdf = a["pdf"]
    return ChainAttestation(
        party_index=int(a["party_index"]), signer=to_checksum_address(a["signer"]),
        cert_fingerprint=a["cert_fingerprint"], root_fingerprint=a["root_fingerprint"], signed_at=int(a["signed_at"]),
        sequence=int(pdf["sequence"]) if pdf else None, revision_digest=pdf["revision_digest"] if pdf else None,
        cms_digest=pdf["cms_digest"] if pdf else None, seal=pdf["seal"] if pdf else None,
    )


def registered_seal(ledger: Ledger, seal: bytes) -> ChainSeal | None:
    """SealRegistry's record of `seal`, or None if it holds none."""
    try:
        record = ledger.seal(seal)
    except Reverted as exc:
        if "no such seal" in exc.reason:
            return None
        raise
    return ChainSeal(seal=seal, owner=to_checksum_address(record["owner"]), name=record["name"],
                     pixel_digest=record["pixel_digest"], cert_fingerprint=record["cert_fingerprint"],
                     status=record["status_name"], approved_at=int(record["approved_at"]),
                     revoked_at=int(record["revoked_at"]))


def find_roots(ledger: Ledger, fingerprints: Iterable[bytes], certificates: Iterable[x509.Certificate] = (), *,
               newest_block: int | None = None) -> dict[bytes, x509.Certificate]:
    """The root certificates with these fingerprints: from `certificates` first, then the
    identity registry's RootProposed events, searched backwards from `newest_block` (the
    block of the newest signature that chains to them; None: the ledger's head) over at
    most MAX_ROOT_SEARCH_BLOCKS. Those found nowhere are left out."""
    wanted = {fp for fp in fingerprints if fp != _ZERO32}
    found = roots_among(certificates, wanted)
    missing = wanted - found.keys()
    if missing:
        found.update(_proposed_roots(ledger, missing, _head(ledger) if newest_block is None else newest_block))
    return found


def roots_among(certificates: Iterable[x509.Certificate], wanted: set[bytes]) -> dict[bytes, x509.Certificate]:
    """The certificates (at most MAX_CANDIDATE_CERTIFICATES examined) whose SHA-256 is
    one of `wanted`, by fingerprint."""
    found: dict[bytes, x509.Certificate] = {}
    for cert in itertools.islice(certificates, MAX_CANDIDATE_CERTIFICATES):
        if len(found) == len(wanted):
            break
        fingerprint = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()
        if fingerprint in wanted:
            found[fingerprint] = cert
    return found


def root_search_windows(newest: int, *, limit: int = MAX_ROOT_SEARCH_BLOCKS,
                        window: int = LOG_WINDOW_BLOCKS) -> Iterator[tuple[int, int]]:
    """The (from, to) block ranges of the RootProposed search, newest first: `window`
    blocks each, from `newest` back over at most `limit` blocks, never below block 0."""
    oldest = max(0, newest - limit + 1)
    end = newest
    while end >= oldest:
        start = max(oldest, end - window + 1)
        yield start, end
        end = start - 1


def _proposed_roots(ledger: Ledger, fingerprints: set[bytes], newest: int) -> dict[bytes, x509.Certificate]:
    """Roots from RootProposed events (fingerprint is the event's second topic), a window
    at a time backwards from block `newest` (root_search_windows), until all are found. A
    token that may not read logs (a party's, a regulator's) ends the search quietly."""
    topic = "0x" + event_type("IdentityRegistry", "RootProposed").topic.hex()
    found: dict[bytes, x509.Certificate] = {}
    for start, end in root_search_windows(newest):
        if len(found) == len(fingerprints):
            break
        query = {"address": to_checksum_address(IDENTITY_REGISTRY), "fromBlock": hex(start), "toBlock": hex(end),
                 "topics": [topic, None, ["0x" + fp.hex() for fp in sorted(fingerprints - found.keys())]]}
        try:
            logs = ledger.rpc("eth_getLogs", [query])
        except Unauthorized:
            break
        for log in logs:
            try:
                event = decode_rpc_log(log)
                der = event.abi_args()["certificate"] if event is not None else b""
                cert = x509.load_der_x509_certificate(der)
            except (EventDecodeError, ValueError, TypeError, KeyError):
                continue  # not a certificate the registry could have accepted
            fingerprint = hashlib.sha256(der).digest()
            if fingerprint in fingerprints:
                found[fingerprint] = cert
    return found


def block_at_time(ledger: Ledger, timestamp: int, head: int | None = None) -> int:
    """The last block at or before `head` (default: the ledger's) whose time is at most
    `timestamp`: for an attestation's `signed_at`, the block that recorded it (or a later
    one of the same second). A binary search over block headers: at most log2(head) + 2
    eth_getBlockByNumber calls. A token that may not read blocks gets `head`."""
    head = _head(ledger) if head is None else head
    try:
        if _block_time(ledger, head) <= timestamp:
            return head
        low, high = 0, head  # time(low) <= timestamp < time(high), or low = 0
        while high - low > 1:
            middle = (low + high) // 2
            if _block_time(ledger, middle) <= timestamp:
                low = middle
            else:
                high = middle
        return low
    except Unauthorized:
        return head


def _block_time(ledger: Ledger, number: int) -> int:
    block = ledger.rpc("eth_getBlockByNumber", [hex(number), False])
    if block is None:
        raise LedgerError(f"the node has no block {number}")
    return int(block["timestamp"], 16)


def _head(ledger: Ledger) -> int:
    pinned = ledger.w3.eth.default_block
    return pinned if isinstance(pinned, int) else int(ledger.w3.eth.block_number)


def pdf_certificates(pdf: bytes) -> list[x509.Certificate]:
    """The certificates the PDF's signatures embed (each signer's chain, time-stamps'
    excluded), as candidate roots; none from a file the verifier will refuse anyway."""
    if len(pdf) > MAX_CONTRACT_PDF_BYTES or b"%PDF-" not in pdf[:PDF_HEADER_WINDOW]:
        return []
    out: list[x509.Certificate] = []
    try:
        with bounded_recursion:  # a deeply nested file must raise, not overflow the C stack
            reader = PdfFileReader(io.BytesIO(pdf), strict=False)
            for number, signature in enumerate(reader.embedded_regular_signatures):
                if number >= MAX_PDF_SIGNATURES:
                    break
                for cert in [signature.signer_cert, *signature.other_embedded_certs][:MAX_SIGNER_CHAIN]:
                    out.append(x509.load_der_x509_certificate(cert.dump()))
    except Exception:
        # Attacker input, read for candidates only: whatever breaks the reading, the
        # verifier meets too and names its step; here it costs only the candidates.
        return out
    return out


def pdf_revisions(pdf: bytes) -> set[bytes]:
    """The revision digests of the PDF's PAdES signatures (as the chain records them), to
    tell which contract a PDF carries the signatures of; none from a file the verifier
    will refuse anyway."""
    if len(pdf) > MAX_CONTRACT_PDF_BYTES or b"%PDF-" not in pdf[:PDF_HEADER_WINDOW]:
        return set()
    try:
        return {revision for _, revision, _ in itertools.islice(signatures_in(pdf), MAX_PDF_SIGNATURES)}
    except Exception:
        # As in pdf_certificates: read for a preference only; the verifier names the step.
        return set()


# -- which contract ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    contract_id: bytes
    label: str               # "P-2026-015 v1 (0x...)"
    revisions: frozenset[bytes]


def find_contract(ledger: Ledger, pdf: bytes) -> bytes:
    """The id of the contract whose registered document digest (SHA-256 or SM3) is that
    of one of the PDF's revision prefixes, from the node's contract list (GET
    /v1/contracts, newest first: a party's token lists its own contracts only). When
    several registered it, the one whose recorded PDF revisions the PDF carries. Raises
    PdfSignatureError (size, format) for a file that is no contract PDF, ContractNotFound
    when none matches among the newest MAX_FIND_CONTRACTS, AmbiguousContract when several
    still do."""
    from client.anchoring import node_http

    if len(pdf) <= MAX_CONTRACT_PDF_BYTES and b"%PDF-" not in pdf[:PDF_HEADER_WINDOW]:
        raise PdfSignatureError("format", "not a PDF file (no %PDF- header)")
    prefixes = {(name, digest) for name in (digests.SHA256, digests.SM3)
                for _, digest in revision_prefix_digests(pdf, name)}
    http = node_http(ledger)
    matches: list[_Candidate] = []
    scanned, after, exhausted = 0, None, False
    while scanned < MAX_FIND_CONTRACTS:
        params = {"order": "desc", "limit": min(FIND_PAGE, MAX_FIND_CONTRACTS - scanned), "after": after}
        try:
            page = http.get_json("v1/contracts", params)
        except HttpError as exc:
            if exc.status in (401, 403):
                raise Unauthorized(f"GET /v1/contracts: {exc.message}") from exc
            raise
        items = page.get("items") or []
        for item in items:
            digest = bytes.fromhex(str(item["docDigest"]).removeprefix("0x"))
            if (str(item["digestAlgorithm"]).lower(), digest) in prefixes:
                matches.append(_candidate(item))
        scanned += len(items)
        after = page.get("next")
        if after is None or not items:
            exhausted = True
            break
    if not matches:
        if exhausted:
            raise ContractNotFound(f"no contract the node lists to this caller has a registered document this PDF "
                                   f"starts with ({scanned} examined)", scanned=scanned, exhausted=True)
        raise ContractNotFound(f"no contract among the newest {scanned} has a registered document this PDF starts "
                               "with: name the contract (its id or --project)", scanned=scanned, exhausted=False)
    carried = pdf_revisions(pdf)
    chosen = [m for m in matches if m.revisions & carried] or matches
    if len(chosen) == 1:
        return chosen[0].contract_id
    which = "whose signatures it carries" if chosen is not matches else "it starts with"
    raise AmbiguousContract(f"{len(chosen)} contracts registered the document this PDF {which}: "
                            f"{', '.join(m.label for m in chosen)}; name the contract (its id)",
                            candidates=[m.contract_id for m in chosen])


def _candidate(item: Mapping[str, Any]) -> _Candidate:
    """A /v1/contracts record as a candidate: its id and the PDF revisions it recorded."""
    contract_id = bytes.fromhex(str(item["id"]).removeprefix("0x"))
    revisions = frozenset(bytes.fromhex(str(s["pdf"]["revisionDigest"]).removeprefix("0x"))
                          for s in item.get("signatures") or () if s.get("pdf"))
    return _Candidate(contract_id, f"{item.get('projectCode')} v{item.get('version')} (0x{contract_id.hex()})",
                      revisions)


