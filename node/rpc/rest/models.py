"""The bodies /v1/ answers with, as pydantic models: what the OpenAPI document at /docs
(/openapi.json) says each route returns, its refusals included.

The handlers return the indexes' JSON as it is; these models describe it for readers and
for the fuzz suite (tests/integration/test_fuzz.py), which checks every answer against
them. `extra="allow"`: a record may carry more than is described, never less.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class When(_Model):
    """Where on the chain something happened."""

    block: int
    time: int = Field(description="the block's timestamp, seconds since 1970")
    cursor: str = Field(description="HEIGHT-LOGINDEX of the event")
    transactionHash: str


class PdfSignature(_Model):
    """The PDF part of a signature made with ContractRegistry.sign_pdf: the party's PAdES
    signature of the contract's PDF, an incremental update on the previous party's."""

    sequence: int = Field(description="1 for the contract's first signature, 2 for the next, ...")
    revisionDigest: str = Field(description="SHA-256 of the PDF revision the party's signature produced")
    cmsDigest: str = Field(description="SHA-256 of that signature's CMS (its /Contents)")
    seal: str = Field(description="the seal the signature shows: SHA-256 of its image file (GET /v1/seals/{seal})")


class Signature(When):
    signer: str
    certFingerprint: str = Field(description="SHA-256 of the signer's certificate")
    rootFingerprint: str = Field(description="SHA-256 of the CA root it chains to")
    pdf: PdfSignature | None = Field(None, description="for a signature of the contract's PDF (sign_pdf); null for "
                                                       "one of the document digest alone (sign)")


class ContractRecord(_Model):
    id: str
    projectCode: str
    version: int
    previous: str | None = Field(description="the version this one amends")
    docDigest: str
    digestAlgorithm: str
    parties: list[str]
    amount: int
    metadataDigest: str
    registrar: str
    status: Literal["Pending", "Effective", "Superseded", "Voided"]
    registered: When
    effective: When | None
    supersededBy: str | None
    voided: dict[str, Any] | None
    signatures: list[Signature]
    voidRequests: list[dict[str, Any]]


class BatchPlace(_Model):
    """Where a member sits in the batch whose root was anchored."""

    root: str = Field(description="the batch's RFC 9162 root, the anchored value")
    leafIndex: int = Field(description="the member's leaf, from 0")
    treeSize: int = Field(description="the batch's leaves")


class EvidenceRecord(_Model):
    digest: str = Field(description="the anchored digest; for a batch member, the member's own")
    digestAlgorithm: str
    kind: str
    caseRef: str
    caseHash: str
    leafCount: int = Field(description="1 for a single digest, n for a batch Merkle root")
    metadataDigest: str
    submitter: str
    anchoring: int = Field(description="1 for the first anchoring of the anchored value, n for the n-th")
    anchored: When
    batch: BatchPlace | None = Field(None, description="for a batch member (found by digest): its batch, the rest "
                                                       "being the root's anchoring; null for an anchored value")
    membersIndexed: bool | None = Field(None, description="by digest: whether this node holds the members of the "
                                                          "anchored batch; null in the lists by case, kind or all")


class MemberProof(EvidenceRecord):
    """A batch member's entry and its inclusion path: with the anchoring transaction
    (`anchored.transactionHash`), what rebuilding the member's receipt needs."""

    inclusionPath: list[str] = Field(description="RFC 9162 PATH from the member's leaf to the root, sibling first")


class MembersIndexed(_Model):
    """A batch's members handed over: indexed now (201) or held already (200)."""

    root: str
    members: int = Field(description="the batch's leaves")
    anchored: str = Field(description="HEIGHT-LOGINDEX of the root's Anchored event they were checked against")
    created: bool = Field(description="false: the node held this batch's members already; nothing was written")
    bytes: int = Field(description="what the batch takes in the member index, charged to the uploader's quota")


class CommitmentRecord(_Model):
    id: int
    agreement: str
    clause: str
    side: str
    responsibleUnit: str
    obligor: str
    counterparty: str
    deadline: int
    descriptionDigest: str
    created: When
    status: str = Field(description="on track, reminder, warning, demand or fulfilled at the head block's time")
    raised: str = Field(description="the highest level the chain has raised (CommitmentAlert) or fulfilled")
    report: dict[str, Any] | None
    confirmation: dict[str, Any] | None
    alerts: list[dict[str, Any]]


class Event(_Model):
    cursor: str = Field(description="HEIGHT-LOGINDEX: resume a feed after it with ?since=")
    block: int
    logIndex: int
    timestamp: int
    blockHash: str
    transactionHash: str
    transactionIndex: int
    topic: Literal["identity", "contracts", "commitments", "evidence"]
    contract: str
    address: str
    event: str
    args: dict[str, Any]


class ContractPage(_Model):
    items: list[ContractRecord]
    next: str | None = Field(description="pass as `after` for the next page; null on the last page")


class EvidencePage(_Model):
    items: list[EvidenceRecord]
    next: str | None


class CommitmentPage(_Model):
    items: list[CommitmentRecord]
    next: str | None


class EventPage(_Model):
    items: list[Event]
    next: str | None = Field(description="pass as `after` for the next page; null on the last page")


class Summary(_Model):
    chainId: int
    cryptoProfile: str = Field(description='the certificates the chain accepts, fixed in genesis: "mixed" (RSA, '
                                           'ECDSA and SM2) or "gm" (national: SM2 keys, SM3withSM2 signatures)')
    height: int
    head: str
    indexedHeight: int
    validators: list[str]
    counts: dict[str, Any]


class Report(_Model):
    at: int = Field(description="the head block's time the statuses are computed at")
    policy: dict[str, int]
    units: list[dict[str, Any]]
    totals: dict[str, int]


class Member(_Model):
    """A registered member; members named in genesis, or granted roles by the admins without
    registering a certificate, have no certificate fields."""

    address: str
    subject: str | None
    roles: list[str]
    certFingerprint: str | None
    rootFingerprint: str | None
    notAfter: int | None
    registered: dict[str, Any]


class DistinguishedName(_Model):
    """A certificate name by its parts (node/rpc/rest/contract_views.py)."""

    subject: str | None = Field(description="RFC 4514")
    name: str | None = Field(description="its common name (CN)")
    organization: str | None = Field(description="its organisation (O)")


class RootName(DistinguishedName):
    fingerprint: str = Field(description="SHA-256 of the root certificate's DER")


class CertificateName(DistinguishedName):
    """A certificate a registering or signing transaction carried: its subject, its issuer and
    the root of its chain (null where the transaction did not call the registry directly)."""

    fingerprint: str = Field(description="SHA-256 of the certificate's DER")
    issuer: DistinguishedName = Field(description="the CA that issued it")
    root: RootName


class MemberName(DistinguishedName):
    """An address with its member's name and organisation (null for a non-member)."""

    address: str
    member: bool = Field(description="whether the address is a registered (or genesis) member")


class PartyView(MemberName):
    roles: list[str]
    certFingerprint: str | None
    rootFingerprint: str | None
    notAfter: int | None
    registered: dict[str, Any] | None
    certificate: CertificateName | None = Field(description="the certificate it registered, by name")


class SealApprovalRecord(When):
    admin: str


class SealRevocation(When):
    by: str = Field(description="the owner or the admin who revoked it")
    reasonDigest: str


class SealRecord(_Model):
    """A seal registered in SealRegistry (node/storage/indexes.py "seals")."""

    seal: str = Field(description="the seal's id: SHA-256 of its image file")
    owner: str = Field(description="the member that registered it")
    name: str
    pixelDigest: str = Field(description="SHA-256 over its pixels as a PDF draws them (client/seals.py)")
    certFingerprint: str = Field(description="SHA-256 of the certificate it is bound to (the owner's, at registration)")
    rootFingerprint: str = Field(description="SHA-256 of the CA root that certificate chains to")
    status: Literal["Proposed", "Approved", "Revoked"]
    approvals: int = Field(description="admins' approvals so far")
    quorum: int | None = Field(description="the approvals it needed, as of the last approval (null: none yet)")
    approvedBy: list[SealApprovalRecord] = Field(description="each admin's approval, in order")
    registered: When
    approved: When | None = Field(description="when the approvals reached the quorum: usable from then")
    revoked: SealRevocation | None = Field(description="when, by whom and why it was revoked: unusable from then")


class SealPage(_Model):
    items: list[SealRecord]
    next: str | None = Field(description="pass as `after` for the next page; null on the last page")


class SignatureView(Signature):
    certificate: CertificateName | None = Field(description="the certificate the signature was made with")
    seal: SealRecord | None = Field(None, description="the record of the seal its PDF signature shows (null: no PDF "
                                                      "signature, or no seal registered under that id)")
    sealMatchesSigner: bool | None = Field(None, description="the seal's owner is the signer and it is bound to the "
                                                             "certificate the signature was made with (null: no PDF)")
    sealStatusAtSigning: Literal["approved", "not-yet-approved", "revoked-before-signing", "unregistered"] | None = (
        Field(None, description="the seal's standing when the signature was made, in chain order (null: no PDF)"))
    sealRevokedSince: SealRevocation | None = Field(None, description="the seal's revocation when it came after the "
                                                                      "signature (the signature stands; later ones "
                                                                      "are refused)")


class ContractParties(_Model):
    contract: str
    parties: list[PartyView]
    signatures: list[SignatureView]
    names: list[MemberName] = Field(description="every address the contract mentions: parties, registrar, "
                                                "signers, void requests, the voider")


class NameList(_Model):
    items: list[MemberName]



class GroupCounts(_Model):
    """Commitments by status at the head block's time (node/storage/commitment_counts.py)."""

    total: int
    on_track: int = Field(alias="on track")
    reminder: int
    warning: int
    demand: int
    fulfilled: int
    alerts: int = Field(description="at reminder, warning or demand now")
    supervisions: int = Field(description="at demand now")
    alertsRaised: int = Field(description="CommitmentAlert events the chain has raised")
    demandsRaised: int = Field(description="of them, escalated to supervision")


class GroupRow(GroupCounts):
    unit: str | None = Field(None, description="the responsible unit (by=unit)")
    obligor: str | None = Field(None, description="the obligor's address (by=obligor)")


class CommitmentCounts(_Model):
    at: int = Field(description="the head block's time the statuses are computed at")
    height: int = Field(description="the head block's number: a feed that follows on starts after it")
    policy: dict[str, int]
    by: Literal["unit", "obligor"]
    totals: GroupCounts
    items: list[GroupRow]
    next: str | None = Field(description="pass as `after` for the next page; null on the last page")


class ActivityDay(_Model):
    date: str = Field(description="the UTC day, YYYY-MM-DD")
    start: int = Field(description="its first second, seconds since 1970")
    added: int
    reminder: int = Field(description="reminders raised that day")
    warning: int
    demand: int
    supervisions: int = Field(description="demands escalated to supervision that day")
    fulfilled: int
    open: int = Field(description="open at the day's end")
    fulfilledTotal: int = Field(description="fulfilled by the day's end")


class Activity(_Model):
    at: int = Field(description="the head block's time; the last day is its UTC day")
    days: list[ActivityDay]


class SystemContract(_Model):
    """A contract deployed in genesis (chaincode/artifacts): what a client encodes calls with."""

    name: str
    address: str
    abi: list[dict[str, Any]]
    sourceSha256: str = Field(description="SHA-256 of the Vyper source it was compiled from")
    vyperVersion: str


class Chaincode(_Model):
    """The system contracts, the identity registry's role bits and proposal actions
    (node/rpc/rest/chaincode.py)."""

    contracts: list[SystemContract]
    roles: dict[str, int] = Field(description="role name -> its bit")
    proposalActions: dict[str, int] = Field(description="proposal action name -> its code in propose()")


# -- refusals -------------------------------------------------------------------------------


class Error(_Model):
    """A refusal of the queries and the feed: 400, 401, 403, 404, 429, 503."""

    error: str


class BlobError(_Model):
    """A refusal of the blob routes, in FastAPI's `detail` form (client/blobs.py reads it).
    An upload over a quota (413 for the caller's, 507 for the store's or the disk's
    reserve) also says which (node/storage/blobs.py BlobQuotaExceeded)."""

    detail: str
    scope: Literal["store", "caller"] | None = None
    unit: Literal["bytes", "blobs", "free bytes"] | None = None
    used: int | None = None
    adding: int | None = None
    limit: int | None = None


# -- blobs ----------------------------------------------------------------------------------


class BlobStored(_Model):
    """A blob stored (201) or found already stored (200)."""

    sha256: str = Field(description="the blob's name: SHA-256 of its bytes, 64 lowercase hex digits")
    size: int


# -- the chain (node/rpc/rest/chain.py) -------------------------------------------------------


class Party(_Model):
    """An address as the chain pages show it, with the certificate it registered."""

    address: str
    organisation: str | None = Field(description="O of the registered certificate's subject; null: none registered")
    subject: str | None


class ContractRef(_Model):
    address: str
    name: str | None = Field(description="the system contract's name (ContractRegistry, ...); null for another")


class BlockSummary(_Model):
    number: int
    hash: str
    parentHash: str
    time: int = Field(description="the block's timestamp, seconds since 1970")
    proposer: Party | None = Field(description="null for block 0")
    transactions: int
    gasUsed: int
    gasLimit: int


class BlockPage(_Model):
    items: list[BlockSummary] = Field(description="newest first")
    next: str | None = Field(description="pass as `before` for the next (older) page; null after block 0")


class TransactionRow(_Model):
    hash: str
    index: int
    from_: Party = Field(alias="from", description="the sender")
    to: ContractRef | None
    status: Literal["success", "failed"]
    gasUsed: int


class TransactionRows(_Model):
    items: list[TransactionRow]
    next: str | None = Field(description="pass as `after` for the block's next transactions")


class BlockRecord(BlockSummary):
    transactionCount: int
    stateRoot: str
    transactions: TransactionRows  # type: ignore[assignment]


class TransactionRecord(_Model):
    hash: str
    block: int
    blockHash: str
    index: int
    time: int
    from_: Party = Field(alias="from", description="the sender")
    to: ContractRef | None
    nonce: int
    status: Literal["success", "failed"]
    gasUsed: int
    logs: int = Field(description="every log the transaction emitted")
    events: list[Event] = Field(description="its system-contract events the caller may read, decoded")
    eventsWithheld: int = Field(description="its system-contract events of topics the caller's role may not read")


class ValidatorList(_Model):
    block: int = Field(description="the head: these validators seal the block after it")
    items: list[Party]


class MemberPage(_Model):
    items: list[Member]
    next: str | None = Field(description="pass as `after` for the next page; null on the last page")


class RootRecord(_Model):
    fingerprint: str = Field(description="SHA-256 of the root certificate (DER)")
    subject: str | None
    keyType: str | None
    notBefore: int | None
    notAfter: int | None
    trusted: bool = Field(description="false once the registry distrusted it")
    added: dict[str, Any] = Field(description="block, time and transactionHash (null for genesis's roots)")
    removed: dict[str, Any] | None


class RootList(_Model):
    items: list[RootRecord]


class VerificationRun(_Model):
    """A whole-chain verification of the node's own store (node/verify/background.py)."""

    id: str
    state: Literal["running", "valid", "invalid", "failed", "interrupted"]
    requestedBy: dict[str, Any]
    started: int
    finished: int | None
    blocksTotal: int | None
    blocksChecked: int
    failure: dict[str, Any] | None = Field(description="height, step and detail of the first block that failed")
    message: str | None = Field(description="the verifier's verdict, as `ledger chain verify` words it")


class VerificationStatus(_Model):
    running: VerificationRun | None
    last: VerificationRun | None
