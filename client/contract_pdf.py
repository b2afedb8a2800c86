"""A contract's PDF signed and verified over the chain: the SDK's side of the e-contract
PDF flow, which `ledger contract sign --pdf` and `ledger contract verify-pdf` are thin
layers over.

client/pdf_contracts.py (sign one party's turn) and client/pdf_contract_checks.py (verify a
PDF against the chain's facts) are the pure PDF core; client/ledger.py makes the chain
calls. This module joins them:

- `chain_contract` and `find_contract` (client/contract_pdf_facts.py) gather the chain's
  facts about a contract and name the contract a PDF belongs to.
- `sign_and_record` signs the party's turn: (0) refuse an `out` that exists (unless asked
  to replace it) or holds the input; (1) refuse early, saying why, when the input is not
  where this party should sign or its seal cannot sign; (2) sign the PDF; (3) write it
  (atomically) BEFORE the transaction is sent — a crash after the transaction must not
  lose the only file the chain's digests describe; (4) record it with
  ContractRegistry.sign_pdf, naming as the previous revision the one step 1 verified the
  input against, so that a party that signed the same base first makes the chain refuse
  this one (SignedMeanwhile). Whatever fails before the transaction is sent, and a
  refusal after, removes `out` again (if it still holds this call's bytes) and raises the
  error as it came; only a transaction whose fate is unknown keeps it (RecordingUnknown).
- `verify_pdf` verifies a PDF against the chain as it stands, then whether the contract
  is in force (the `status` check: not Voided or Superseded).

Reads are view calls at the ledger's default block (the CLI pins it to the latest block
when a command starts, so one answer's parts agree).
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace as replaced
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from eth_account.datastructures import SignedTransaction

from client.atomicfile import create_atomic, write_atomic
from client.contract_pdf_facts import (
    ContractNotFound,
    ContractPdfError,
    chain_contract,
    contract_facts,
    find_contract,
    pdf_certificates,
    pdf_revisions,
    registered_seal,
)
from client.errors import ClientError
from client.ledger import Ledger, LedgerError, Reverted, TxResult, Unauthorized
from client.pdf_contract_checks import VERIFY_STEPS, ChainContract, ChainSeal, Check, PdfVerdict, verify_contract_pdf
from client.pdf_contracts import SealPosition, SignedRevision, sign_contract_pdf
from client.seals import SealImage
from client.signers import Signer
from evidence import digest as digests

# As in client/pdf_signatures.py: pyHanko imports cryptography's DSA module, which warns.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)


# Earlier versions of a project `verify_pdf(project=...)` looks through, newest first, for
# the one whose signatures a PDF carries when the latest version's do not: a project is
# amended a handful of times; a hundred versions is a chain of amendments no tender has.
MAX_EARLIER_VERSIONS = 100
# What `verify_pdf` checks: the verifier's steps, then whether the contract is in force.
PDF_CHECKS = (*VERIFY_STEPS, "status")
PENDING = "Pending"
_ZERO32 = b"\x00" * 32




class RecordingUnknown(ClientError):
    """The transaction `tx_hash` was sent but its outcome is not known (the node stopped
    answering, no receipt in time): the chain may yet record the digests of exactly the
    signed PDF, so it was kept at `out` and is in `revision`. Wait for the transaction's
    receipt before signing again."""

    def __init__(self, reason: str, *, tx_hash: bytes, out: Path | None, revision: SignedRevision) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tx_hash = tx_hash
        self.out = out
        self.revision = revision


class SignedMeanwhile(Reverted):
    """The chain refused the signature because a PDF signature on the same revision was
    recorded first (two parties signed the same base at once): `previous` is the revision
    this one signed on, `head` the chain's latest now. Nothing was recorded and `out` was
    removed; sign the output whose revision digest is `head`."""

    def __init__(self, reason: str, *, previous: bytes, head: bytes) -> None:
        super().__init__(reason)
        self.previous = previous
        self.head = head


# -- whose turn -------------------------------------------------------------------------------


def check_turn(contract: ChainContract, pdf: bytes, *, signer: str, certificate: bytes, registered_certificate: bytes,
               seal: SealImage, seal_record: ChainSeal | None,
               tsa_roots: Sequence[x509.Certificate] = ()) -> bytes:
    """Refuse, saying why, unless `signer` (an address, signing with the certificate whose
    fingerprint is `certificate`; `registered_certificate` is the one its membership
    holds) may sign `pdf` for `contract` now, showing `seal` (`seal_record`: the registry's
    record of it, None if none). Returns the revision the party signs on, which `pdf` was
    verified against: the registered document's digest for the first signature, else the
    revision digest the chain recorded last. Pure: the caller read the chain."""
    name = f"contract {contract.project_code} v{contract.version}"
    # 1. the contract waits for PDF signatures: Pending, and no party signed it by digest alone
    if contract.status != PENDING:
        raise ContractPdfError("contract", f"{name} is {contract.status}: it is not waiting for signatures")
    bare = [a for a in contract.attestations if a.sequence is None]
    if bare:
        raise ContractPdfError("contract", f"{bare[0].signer} signed {name} without its PDF (ledger contract sign "
                                           "without --pdf), and the chain takes no PDF signature of a contract "
                                           "once one is by digest alone: sign without --pdf too")
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
        # The registry binds a seal file to one certificate and never takes the same file
        # twice: after a renewal the seal needs a new file (same pixels allowed to its owner).
        raise ContractPdfError("seal", f"{seal_id} ({seal_record.name}) is bound to the certificate "
                                       f"0x{seal_record.cert_fingerprint.hex()}, not to 0x{certificate.hex()}: "
                                       "register a new seal file (ledger seal draw with a new --code, or a re-saved "
                                       "PNG) for your current certificate, and have it approved")
    if seal_record.pixel_digest != seal.pixel_digest:
        raise ContractPdfError("seal", f"the image's pixels are not those registered for {seal_id}")
    # 5. the input is where this party signs: the registered PDF, or the last recorded revision
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
        return contract.doc_digest
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
    assert latest.revision_digest is not None  # no bare attestation (step 1)
    return latest.revision_digest


# -- signing a turn -----------------------------------------------------------------------------


def sign_and_record(
    ledger: Ledger, contract_id: bytes, pdf: bytes, identity: Signer, seal: SealImage, *,
    field: str | None = None, position: SealPosition | None = None, tsa_url: str | None = None,
    crls: Sequence[x509.CertificateRevocationList] = (), reason: str | None = None, location: str | None = None,
    out: Path | None = None, replace: bool = False,
) -> tuple[SignedRevision, TxResult]:
    """Sign `pdf` as the ledger's account (a party of the contract), with `identity` (its
    registered certificate) and `seal` (its approved seal), and record the signature on
    chain. With `out`, the signed PDF is written there before the transaction is sent; an
    existing `out` is refused unless `replace`, and one holding `pdf` always.

    Raises ContractPdfError (nothing signed or sent) naming the check that failed,
    PdfSignatureError (the PDF could not be signed: placement, TSA, ...), RecordingUnknown
    (sent, outcome unknown; `out` kept). Any other error — Reverted (the chain refused;
    SignedMeanwhile when another party signed the same revision first), Unauthorized,
    LedgerError, HttpError, SignerError — means nothing was recorded, and `out` was
    removed if it still held the signed PDF."""
    # 0. the output: never the input, never another file unless asked to replace it
    if out is not None:
        _check_out(out, pdf, replace)
    # 1. where this party stands, and the revision it signs on
    contract = chain_contract(ledger, contract_id, certificates=[*pdf_certificates(pdf), *identity.chain])
    signer = ledger.address
    member = ledger.member(signer)
    base = check_turn(contract, pdf, signer=signer, certificate=identity.fingerprint,
                      registered_certificate=member["cert_fingerprint"], seal=seal,
                      seal_record=registered_seal(ledger, seal.digest))
    # 2. the PAdES signature with the seal drawn
    revision = sign_contract_pdf(pdf, identity, seal, field=field, position=position, timestamp_url=tsa_url,
                                 crls=crls, reason=reason, location=location)
    # 3. the file, before the chain hears of it
    if out is not None:
        _write_out(out, revision.pdf, replace)
    # 4. the chain
    return revision, _record(ledger, contract, identity, base, revision, out)


def _check_out(out: Path, pdf: bytes, replace: bool) -> None:
    if not (out.exists() or out.is_symlink()):
        return
    if _holds(out, pdf):
        raise ContractPdfError("out", f"{out} holds the PDF being signed: write the signed PDF to another file")
    if not replace:
        raise ContractPdfError("out", f"{out} exists: refusing to overwrite it (replace=True replaces it)")


def _holds(path: Path, data: bytes) -> bool:
    """Whether `path` holds exactly `data` (reading at most one byte more)."""
    try:
        with path.open("rb") as handle:
            return handle.read(len(data) + 1) == data
    except OSError:
        return False


def _write_out(out: Path, data: bytes, replace: bool) -> None:
    """Write the signed PDF to `out`, durably and whole: replacing it when asked, else
    only if no file is there (one that appeared since step 0 is left alone)."""
    try:
        if replace:
            write_atomic(out, data, mode=0o644)
        else:
            create_atomic(out, data, mode=0o644)
    except FileExistsError:
        raise ContractPdfError("out", f"{out} appeared while the PDF was being signed: refusing to overwrite "
                                      "it (nothing was sent)") from None
    except OSError as exc:
        raise ContractPdfError("out", f"cannot write {out}: {exc.strerror or exc} (nothing was sent)") from exc


def _discard(out: Path | None, data: bytes) -> None:
    """Remove `out` if it still holds the signed PDF this call wrote: the chain will never
    describe it. A file another writer put there since is left alone."""
    if out is not None and _holds(out, data):
        out.unlink(missing_ok=True)


def _record(ledger: Ledger, contract: ChainContract, identity: Signer, base: bytes, revision: SignedRevision,
            out: Path | None) -> TxResult:
    """ContractRegistry.sign_pdf for `revision`, signed on `base`. The transaction is
    made and signed here (not by Ledger.send) so that its hash is known before it is
    sent: a node that stops answering while taking it leaves a transaction to wait for."""
    # 4a. before sending: any failure leaves nothing on the chain
    try:
        function, signed = _prepare(ledger, contract.contract_id, identity, base, revision)
    except Reverted as exc:
        first = _refused(ledger, contract, base, revision, out, exc)
        if first is None:
            raise
        raise first from exc
    except BaseException:
        _discard(out, revision.pdf)
        raise
    tx_hash = bytes(signed.hash)
    # 4b. sending: a refusal by the node's pool leaves nothing; a lost answer, perhaps a transaction
    try:
        ledger.broadcast(signed)
    except LedgerError:  # the node's pool refused it: nothing was sent
        _discard(out, revision.pdf)
        raise
    except Exception as exc:
        raise _unknown(tx_hash, out, revision, f"the node stopped answering while taking it: {exc}") from exc
    # 4c. its receipt: a failed one is the chain's refusal; none, an unknown outcome
    try:
        return ledger.wait(tx_hash, function)
    except Reverted as exc:
        first = _refused(ledger, contract, base, revision, out, exc)
        if first is None:
            raise
        raise first from exc
    except Exception as exc:
        raise _unknown(tx_hash, out, revision, str(exc)) from exc


def _refused(ledger: Ledger, contract: ChainContract, base: bytes, revision: SignedRevision, out: Path | None,
             refused: Reverted) -> SignedMeanwhile | None:
    """The chain refused the signature: `out` is removed (the chain will never describe
    it); SignedMeanwhile when another party signed `base` first, else None (the refusal
    is raised as it came)."""
    _discard(out, revision.pdf)
    return _signed_first(ledger, contract, base, refused)


def _prepare(ledger: Ledger, contract_id: bytes, identity: Signer, base: bytes,
             revision: SignedRevision) -> tuple[Any, SignedTransaction]:
    """The signed sign_pdf transaction: the certificate key signs the registry's
    pdf_signing_digest (binding the contract, the revision signed on, the revision, CMS
    and seal), then Ledger.prepare checks it with the chain (a refusal raises Reverted)
    and signs it with the account. Nothing is sent."""
    functions = ledger.contracts.functions
    digest = bytes(ledger.call(functions.pdf_signing_digest(contract_id, base, revision.revision_digest,
                                                            revision.cms_digest, revision.seal)))
    signature = identity.sign_digest(digest)
    function: Any = functions.sign_pdf(contract_id, identity.chain_der, signature, base, revision.revision_digest,
                                       revision.cms_digest, revision.seal)
    return function, ledger.prepare(function)


def _signed_first(ledger: Ledger, contract: ChainContract, base: bytes, refused: Reverted) -> SignedMeanwhile | None:
    """SignedMeanwhile if the chain's latest PDF revision is no longer `base` (a party
    signed the same revision first), else None (another refusal, raised as it came)."""
    try:
        head = bytes(ledger.contracts.functions.pdf_head(contract.contract_id).call(block_identifier="latest"))
    except Exception:
        return None  # the refusal itself is what the caller must see
    head = head if head != _ZERO32 else contract.doc_digest
    if head == base:
        return None
    return SignedMeanwhile(refused.reason, previous=base, head=head)


def _unknown(tx_hash: bytes, out: Path | None, revision: SignedRevision, cause: str) -> RecordingUnknown:
    kept = (f"; the signed PDF is kept at {out}, since the chain may yet record it" if out is not None
            else "; the signed PDF is in this error's `revision`, since the chain may yet record it")
    return RecordingUnknown(f"transaction 0x{tx_hash.hex()} was sent but its outcome is unknown ({cause}){kept}: "
                            f"wait for transaction 0x{tx_hash.hex()}'s receipt before signing again (ledger "
                            "contract show then lists the signature, or not)",
                            tx_hash=tx_hash, out=out, revision=revision)


# -- verifying ----------------------------------------------------------------------------------


def verify_pdf(ledger: Ledger, pdf: bytes, *, contract_id: bytes | None = None, project: str | None = None,
               tsa_roots: Sequence[x509.Certificate] = ()) -> PdfVerdict:
    """Verify a signed contract PDF against the chain as it stands (client/pdf_contract_checks.py,
    steps size to timestamps), then that the contract is in force (`status`: not Voided
    or Superseded). The contract is `contract_id`, `project`'s latest version, or else the
    one `find_contract` names (which may raise PdfSignatureError for a file that is no
    PDF, ContractNotFound, AmbiguousContract); an unknown id or project raises
    ContractNotFound."""
    return verify_pdf_facts(ledger, pdf, contract_id=contract_id, project=project, tsa_roots=tsa_roots)[1]


def verify_pdf_facts(ledger: Ledger, pdf: bytes, *, contract_id: bytes | None = None, project: str | None = None,
                     tsa_roots: Sequence[x509.Certificate] = ()) -> tuple[ChainContract, PdfVerdict]:
    """`verify_pdf`, with the chain's facts it verified against (what a report prints
    beside the verdict: the contract, its block times). With `project`, a PDF that
    carries an earlier version's signatures rather than the latest's fails saying so."""
    if contract_id is not None and project is not None:
        raise ValueError("give contract_id or project, not both")
    if project is not None:
        contract_id = _latest_version(ledger, project)
    elif contract_id is None:
        contract_id = find_contract(ledger, pdf)
    contract, record = contract_facts(ledger, contract_id, pdf_certificates(pdf))
    verdict = verify_contract_pdf(pdf, contract, tsa_roots=tsa_roots)
    if verdict.ok:
        status = status_check(ledger, contract, record)
        return contract, replaced(verdict, ok=status.ok, checks=(*verdict.checks, status),
                                  complete=verdict.complete and status.ok)
    if project is not None:
        return contract, _name_earlier_version(ledger, pdf, contract, record, verdict)
    return contract, verdict


def _latest_version(ledger: Ledger, project: str) -> bytes:
    try:
        return ledger.latest_contract(project)
    except Unauthorized:
        raise
    except LedgerError as exc:
        raise ContractNotFound(f"no contract is registered for project {project!r}") from exc


def status_check(ledger: Ledger, contract: ChainContract, record: Mapping[str, Any]) -> Check:
    """The `status` check of a PDF whose signatures verified: whether the contract is in
    force. Pending and Effective hold; Voided and Superseded (naming the version that
    supersedes it, the registry's `next`) fail."""
    if contract.status == "Voided":
        return Check("status", False, "the signatures are valid but the contract is Voided (not in force)")
    if contract.status == "Superseded":
        successor = bytes(record["next"])
        version = ledger.contract(successor)["version"]
        return Check("status", False, f"the signatures are valid but the contract is Superseded (not in force): "
                                      f"version {version} (0x{successor.hex()}) supersedes it")
    if contract.status == "Effective":
        return Check("status", True, "Effective: in force")
    signed = len(contract.attestations)
    return Check("status", contract.status == PENDING,
                 f"{contract.status}: {signed} of {len(contract.parties)} parties have signed; in force once all have")


def _name_earlier_version(ledger: Ledger, pdf: bytes, contract: ChainContract, record: Mapping[str, Any],
                          verdict: PdfVerdict) -> PdfVerdict:
    """A failed verdict against a project's latest version, its failed check saying which
    earlier version's recorded signatures the PDF carries, when the latest's are not in it."""
    carried = pdf_revisions(pdf)
    if not carried or carried & {a.revision_digest for a in contract.attestations if a.revision_digest}:
        return verdict
    previous = bytes(record["previous"])
    for _ in range(MAX_EARLIER_VERSIONS):
        if previous == _ZERO32:
            break
        earlier = ledger.contract(previous)
        if carried & {a["pdf"]["revision_digest"] for a in earlier["attestations"] if a["pdf"]}:
            note = (f"; the PDF carries the signatures of {contract.project_code} version {earlier['version']} "
                    f"(0x{previous.hex()}), not of its latest version {contract.version}: verify it against that "
                    "version (its ID)")
            failed = verdict.failed
            return replaced(verdict, checks=tuple(replaced(c, detail=c.detail + note) if c is failed else c
                                                  for c in verdict.checks))
        previous = bytes(earlier["previous"])
    return verdict
