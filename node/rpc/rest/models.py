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


class Signature(When):
    signer: str
    certFingerprint: str = Field(description="SHA-256 of the signer's certificate")
    rootFingerprint: str = Field(description="SHA-256 of the CA root it chains to")


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
    """A registered member; members named in genesis have no certificate fields."""

    address: str
    subject: str | None
    roles: list[str]
    certFingerprint: str | None
    rootFingerprint: str | None
    notAfter: int | None
    registered: dict[str, Any]



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
