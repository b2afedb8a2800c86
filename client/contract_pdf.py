"""A contract's PDF signed and verified over the chain: the SDK's side of the e-contract
PDF flow, which `ledger contract sign --pdf` and `ledger contract verify-pdf` are thin
layers over.

client/pdf_contracts.py (sign one party's turn) and client/pdf_contract_checks.py (verify a
PDF against the chain's facts) are the pure PDF core; client/ledger.py makes the chain calls. This module joins them:

- `chain_contract` gathers the chain's facts about a contract for the verifier: the
  contract and its attestations with their PDF parts, the seals they name (SealRegistry)
  and the root certificates they name (below).
- `find_contract` names the contract a PDF belongs to: the one whose registered document
  digest is one of the PDF's revision prefixes.
- `sign_and_record` signs the party's turn: (1) refuse early, saying why, when the input
  is not where this party should sign or its seal cannot sign; (2) sign the PDF; (3) write
  it (atomically) BEFORE the transaction is sent — a crash after the transaction must not
  lose the only file the chain's digests describe; (4) record the revision, CMS and seal
  digests with ContractRegistry.sign_pdf; a refusal removes the file again.
- `verify_pdf` verifies a PDF against the chain as it stands.

Where the roots come from. An attestation names its root by fingerprint (SHA-256 of the
DER), so any copy of a certificate with that fingerprint *is* the root the chain checked
the signature against, wherever the copy was found. Roots trusted after genesis are in the
identity registry's RootProposed events (read with eth_getLogs, bounded below); roots
trusted in genesis have no event, and are taken from the certificates the caller hands
in — those the PDF's signatures embed (our signers embed their whole chain, root
included) and the signer's own chain — each kept only if its SHA-256 is a fingerprint
the chain recorded. A root found nowhere is left out; the verifier's "trust" step then
says which root was not supplied.

Reads are view calls at the ledger's default block (the CLI pins it to the latest block
when a command starts, so one answer's parts agree).
"""
from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning
from eth_utils import to_checksum_address

from chaincode import ALGORITHM_NAMES, CONTRACT_STATUS, IDENTITY_REGISTRY
from chaincode.events import EventDecodeError, decode_rpc_log, event_type
from client.atomicfile import write_atomic
from client.errors import ClientError
from client.http import HttpError
from client.ledger import Ledger, LedgerError, Reverted, TxResult, Unauthorized
from client.pdf_contract_checks import ChainAttestation, ChainContract, ChainSeal, PdfVerdict, verify_contract_pdf
from client.pdf_contracts import SealPosition, SignedRevision, sign_contract_pdf
from client.pdf_signatures import MAX_SIGNER_CHAIN, PdfSignatureError
from client.pdf_structure import MAX_CONTRACT_PDF_BYTES, MAX_PDF_SIGNATURES, revision_prefix_digests
from client.seals import SealImage
from client.signers import Signer, SignerError
from evidence import digest as digests

# As in client/pdf_signatures.py: pyHanko imports cryptography's DSA module, which warns.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    from pyhanko.pdf_utils.reader import PdfFileReader

# Blocks one eth_getLogs may scan: the node's own cap (node/rpc/methods.py MAX_LOG_BLOCK_RANGE).
LOG_WINDOW_BLOCKS = 10_000
# Blocks the RootProposed search walks in all, oldest first (100 windows). Roots are
# trusted when a consortium forms or a CA joins, long before most contracts; a root not
# found in the first million blocks (~11 days at one block a second) is looked for no
# further, rather than spending the node's log budget on every verification. Roots in
# the PDF or the signer's chain need no search at all.
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
PENDING = "Pending"
_ZERO32 = b"\x00" * 32


class ContractPdfError(ClientError, ValueError):
    """The contract-PDF flow refused before anything was sent: `check` names what did not
    hold (contract, party, certificate, seal, document), `reason` says why."""

    def __init__(self, check: str, reason: str) -> None:
        super().__init__(reason)
        self.check = check
        self.reason = reason


class ContractNotFound(ContractPdfError):
    """No contract's registered document is a revision of the PDF among the `scanned`
    contracts; `exhausted` says whether those were all the node lists."""

    def __init__(self, reason: str, *, scanned: int, exhausted: bool) -> None:
        super().__init__("registered", reason)
        self.scanned = scanned
        self.exhausted = exhausted


class RecordingUnknown(ContractPdfError):
    """The transaction was sent but its outcome is not known (no receipt in time, the node
    stopped answering): the signed PDF was kept at `out`, since the chain may yet record
    the digests of exactly that file."""

    def __init__(self, reason: str, *, tx_hash: bytes | None, out: Path | None) -> None:
        super().__init__("record", reason)
        self.tx_hash = tx_hash
        self.out = out


# -- the chain's facts ----------------------------------------------------------------------


def chain_contract(ledger: Ledger, contract_id: bytes, *,
                   certificates: Iterable[x509.Certificate] = ()) -> ChainContract:
    """The chain's facts about contract `contract_id` for `verify_contract_pdf`: the
    contract, its attestations (at most its parties, 8), the seals they name and the root
    certificates they name. `certificates` are candidate roots (module docstring)."""
    record = ledger.contract(contract_id)
    attestations = tuple(_attestation(a) for a in record["attestations"])
    seals: dict[bytes, ChainSeal] = {}
    for attestation in attestations:
        if attestation.seal is not None and attestation.seal not in seals:
            found = registered_seal(ledger, attestation.seal)
            if found is not None:
                seals[attestation.seal] = found
    roots = find_roots(ledger, {a.root_fingerprint for a in attestations}, certificates)
    return ChainContract(
        contract_id=contract_id, project_code=record["project_code"], version=int(record["version"]),
        status=CONTRACT_STATUS.get(record["status"], str(record["status"])), doc_digest=record["doc_digest"],
        digest_algorithm=ALGORITHM_NAMES.get(record["digest_algorithm"], str(record["digest_algorithm"])),
        parties=tuple(to_checksum_address(p) for p in record["parties"]), attestations=attestations,
        seals=seals, roots=roots,
    )


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


def find_roots(ledger: Ledger, fingerprints: Iterable[bytes],
               certificates: Iterable[x509.Certificate] = ()) -> dict[bytes, x509.Certificate]:
    """The root certificates with these fingerprints: from `certificates` first, then the
    identity registry's RootProposed events (module docstring). Those found nowhere are
    left out."""
    wanted = {fp for fp in fingerprints if fp != _ZERO32}
    found: dict[bytes, x509.Certificate] = {}
    for number, cert in enumerate(certificates):
        if number >= MAX_CANDIDATE_CERTIFICATES or len(found) == len(wanted):
            break
        fingerprint = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()
        if fingerprint in wanted:
            found[fingerprint] = cert
    missing = wanted - found.keys()
    if missing:
        found.update(_proposed_roots(ledger, missing))
    return found


def _proposed_roots(ledger: Ledger, fingerprints: set[bytes]) -> dict[bytes, x509.Certificate]:
    """Roots from RootProposed events (fingerprint is the event's second topic), oldest
    block first, a window at a time, until all are found or MAX_ROOT_SEARCH_BLOCKS. A
    token that may not read logs (a party's, a regulator's) ends the search quietly."""
    topic = "0x" + event_type("IdentityRegistry", "RootProposed").topic.hex()
    head = _head(ledger)
    found: dict[bytes, x509.Certificate] = {}
    start = 0
    while start <= min(head, MAX_ROOT_SEARCH_BLOCKS - 1) and len(found) < len(fingerprints):
        end = min(start + LOG_WINDOW_BLOCKS - 1, head)
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
        start = end + 1
    return found


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


# -- which contract ---------------------------------------------------------------------------


def find_contract(ledger: Ledger, pdf: bytes) -> bytes:
    """The id of the newest contract whose registered document digest (SHA-256 or SM3) is
    that of one of the PDF's revision prefixes, from the node's contract list
    (GET /v1/contracts: a party's token lists its own contracts only). Raises
    PdfSignatureError (size, format) for a file that is no contract PDF, ContractNotFound
    when none matches among the newest MAX_FIND_CONTRACTS."""
    from client.anchoring import node_http

    if len(pdf) <= MAX_CONTRACT_PDF_BYTES and b"%PDF-" not in pdf[:PDF_HEADER_WINDOW]:
        raise PdfSignatureError("format", "not a PDF file (no %PDF- header)")
    prefixes = {(name, digest) for name in (digests.SHA256, digests.SM3)
                for _, digest in revision_prefix_digests(pdf, name)}
    http = node_http(ledger)
    scanned, after = 0, None
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
                return bytes.fromhex(str(item["id"]).removeprefix("0x"))
        scanned += len(items)
        after = page.get("next")
        if after is None or not items:
            raise ContractNotFound(f"no contract the node lists to this caller has a registered document this PDF "
                                   f"starts with ({scanned} examined)", scanned=scanned, exhausted=True)
    raise ContractNotFound(f"no contract among the newest {scanned} has a registered document this PDF starts with: "
                           "name the contract (its id or --project)", scanned=scanned, exhausted=False)


# -- whose turn -------------------------------------------------------------------------------


def check_turn(contract: ChainContract, pdf: bytes, *, signer: str, certificate: bytes, registered_certificate: bytes,
               seal: SealImage, seal_record: ChainSeal | None,
               tsa_roots: Sequence[x509.Certificate] = ()) -> None:
    """Refuse, saying why, unless `signer` (an address, signing with the certificate whose
    fingerprint is `certificate`; `registered_certificate` is the one its membership
    holds) may sign `pdf` for `contract` now, showing `seal` (`seal_record`: the registry's
    record of it, None if none). Pure: the caller read the chain."""
    name = f"contract {contract.project_code} v{contract.version}"
    # 1. the contract waits for signatures
    if contract.status != PENDING:
        raise ContractPdfError("contract", f"{name} is {contract.status}: it is not waiting for signatures")
    # 2. the signer is a party that has not signed
    parties = [p.lower() for p in contract.parties]
    if signer.lower() not in parties:
        raise ContractPdfError("party", f"{signer} is not a party to {name} (its parties: {', '.join(contract.parties)})")
    index = parties.index(signer.lower())
    if any(a.party_index == index for a in contract.attestations):
        raise ContractPdfError("party", f"{signer} has already signed {name}")
    # 3. with the certificate its membership holds
    if registered_certificate == _ZERO32:
        raise ContractPdfError("certificate", f"{signer} has no registered certificate: register it first "
                                              "(ledger member register)")
    if certificate != registered_certificate:
        raise ContractPdfError("certificate", f"the certificate 0x{certificate.hex()} is not the one {signer} "
                                              f"registered (0x{registered_certificate.hex()}): sign with that one")
    # 4. the seal is the signer's own, approved, bound to this certificate, these pixels
    seal_id = f"seal 0x{seal.digest.hex()}"
    if seal_record is None:
        raise ContractPdfError("seal", f"{seal_id} is not registered: register it (ledger seal register) and ask "
                                       "the admins to approve it")
    if seal_record.status == "Proposed":
        raise ContractPdfError("seal", f"{seal_id} ({seal_record.name}) is Proposed: ask the admins to approve it "
                                       f"(ledger seal approve 0x{seal.digest.hex()})")
    if seal_record.status != "Approved":
        raise ContractPdfError("seal", f"{seal_id} ({seal_record.name}) is {seal_record.status}: it cannot sign")
    if seal_record.owner.lower() != signer.lower():
        raise ContractPdfError("seal", f"{seal_id} ({seal_record.name}) belongs to {seal_record.owner}, not to the "
                                       f"signer {signer}")
    if seal_record.cert_fingerprint != certificate:
        raise ContractPdfError("seal", f"{seal_id} ({seal_record.name}) is bound to the certificate "
                                       f"0x{seal_record.cert_fingerprint.hex()}, not to 0x{certificate.hex()}: "
                                       "register the seal again with the current certificate")
    if seal_record.pixel_digest != seal.pixel_digest:
        raise ContractPdfError("seal", f"the image's pixels are not those registered for {seal_id}")
    # 5. the input is where this party signs: the registered PDF, or the last recorded revision
    bare = [a for a in contract.attestations if a.sequence is None]
    if bare:
        raise ContractPdfError("document", f"{bare[0].signer} signed {name} without a PDF signature (ledger "
                                           "contract sign without --pdf): its PDF can never verify complete; sign "
                                           "it the same way")
    recorded = sorted((a for a in contract.attestations), key=lambda a: a.sequence or 0)
    got = digests.digest_bytes(pdf, contract.digest_algorithm)
    if recorded and got == contract.doc_digest:
        raise ContractPdfError("document", f"this is {name}'s registered PDF, but {len(recorded)} of its "
                                           f"{len(contract.parties)} parties have signed since: sign the PDF the "
                                           f"last of them produced (signature {recorded[-1].sequence}, by "
                                           f"{recorded[-1].signer})")
    if not recorded:
        if got != contract.doc_digest:
            raise ContractPdfError("document", f"this PDF is not {name}'s registered document: its "
                                               f"{contract.digest_algorithm} is 0x{got.hex()}, the registered "
                                               f"0x{contract.doc_digest.hex()}; the first party signs the "
                                               "registered PDF itself")
        return
    verdict = verify_contract_pdf(pdf, contract, tsa_roots=tsa_roots)
    failed = verdict.failed
    if failed is not None:
        raise ContractPdfError("document", f"this PDF does not verify against {name} as signed so far: "
                                           f"{failed.name}: {failed.detail}")
    latest = recorded[-1]
    if not verdict.signatures or verdict.signatures[-1].revision_digest != latest.revision_digest:
        raise ContractPdfError("document", f"this PDF does not end with the revision the chain recorded last "
                                           f"(signature {latest.sequence}, by {latest.signer}): sign the file "
                                           "that party produced")


# -- signing a turn -----------------------------------------------------------------------------


def sign_and_record(
    ledger: Ledger, contract_id: bytes, pdf: bytes, identity: Signer, seal: SealImage, *,
    field: str | None = None, position: SealPosition | None = None, tsa_url: str | None = None,
    crls: Sequence[x509.CertificateRevocationList] = (), reason: str | None = None, location: str | None = None,
    out: Path | None = None,
) -> tuple[SignedRevision, TxResult]:
    """Sign `pdf` as the ledger's account (a party of the contract), with `identity` (its
    registered certificate) and `seal` (its approved seal), and record the signature on
    chain. With `out`, the signed PDF is written there (replaced atomically) before the
    transaction is sent, and removed again if the chain refuses it.

    Raises ContractPdfError (nothing signed or sent) naming the check that failed,
    PdfSignatureError (the PDF could not be signed: placement, TSA, ...), Reverted (the
    chain refused; `out` removed), RecordingUnknown (sent, outcome unknown; `out` kept)."""
    # 1. where this party stands
    contract = chain_contract(ledger, contract_id, certificates=[*pdf_certificates(pdf), *identity.chain])
    signer = ledger.address
    member = ledger.member(signer)
    check_turn(contract, pdf, signer=signer, certificate=identity.fingerprint,
               registered_certificate=member["cert_fingerprint"], seal=seal,
               seal_record=registered_seal(ledger, seal.digest))
    # 2. the PAdES signature with the seal drawn
    revision = sign_contract_pdf(pdf, identity, seal, field=field, position=position, timestamp_url=tsa_url,
                                 crls=crls, reason=reason, location=location)
    # 3. the file, before the chain hears of it
    if out is not None:
        write_atomic(out, revision.pdf, mode=0o644)
    # 4. the chain: ContractRegistry.sign_pdf, the certificate key signing the document
    #    digest as `sign` does. A refusal (the check call, the node's pool, a failed
    #    receipt) or a signer that would not sign removes the file: the chain will never
    #    describe it. A node that stops answering leaves it: the transaction may be final.
    kept = f"; the signed PDF is kept at {out}" if out is not None else ""
    try:
        signature = identity.sign_digest(contract.doc_digest)
        function = ledger.contracts.functions.sign_pdf(contract_id, identity.chain_der, signature,
                                                       revision.revision_digest, revision.cms_digest, seal.digest)
        tx_hash = ledger.send(function)
    except (LedgerError, SignerError):
        _discard(out)
        raise
    except HttpError as exc:
        raise RecordingUnknown(f"the node stopped answering while the transaction was sent ({exc}), so it may have "
                               f"received it{kept}: check the contract (ledger contract show) before signing again",
                               tx_hash=None, out=out) from exc
    try:
        result = ledger.wait(tx_hash, function)
    except Reverted:
        _discard(out)
        raise
    except (LedgerError, HttpError) as exc:
        raise RecordingUnknown(f"transaction 0x{tx_hash.hex()} was sent but its outcome is unknown ({exc}){kept}: "
                               "check the contract (ledger contract show) before signing again",
                               tx_hash=tx_hash, out=out) from exc
    return revision, result


def _discard(out: Path | None) -> None:
    if out is not None:
        out.unlink(missing_ok=True)


# -- verifying ----------------------------------------------------------------------------------


def verify_pdf(ledger: Ledger, pdf: bytes, *, contract_id: bytes | None = None,
               tsa_roots: Sequence[x509.Certificate] = ()) -> PdfVerdict:
    """Verify a signed contract PDF against the chain as it stands (client/pdf_contract_checks.py,
    steps size to timestamps). Without `contract_id`, `find_contract` names it (and may
    raise: PdfSignatureError for a file that is no PDF, ContractNotFound)."""
    return verify_pdf_facts(ledger, pdf, contract_id=contract_id, tsa_roots=tsa_roots)[1]


def verify_pdf_facts(ledger: Ledger, pdf: bytes, *, contract_id: bytes | None = None,
                     tsa_roots: Sequence[x509.Certificate] = ()) -> tuple[ChainContract, PdfVerdict]:
    """`verify_pdf`, with the chain's facts it verified against (what a report prints
    beside the verdict: the contract, its block times)."""
    if contract_id is None:
        contract_id = find_contract(ledger, pdf)
    contract = chain_contract(ledger, contract_id, certificates=pdf_certificates(pdf))
    return contract, verify_contract_pdf(pdf, contract, tsa_roots=tsa_roots)
