"""The /v1/ route table — method, path, handler, the permissions it needs — and how it is
mounted on the app, as node/rpc/methods.py ROUTES is JSON-RPC's.

Mounting puts an `Admission` before every handler: the caller must present a valid token
(401 otherwise) whose role holds one of its row's permissions (403 otherwise), checked
before the handler runs and before its parameters or body are read, so no handler can
forget it; the handler reads the admitted caller with `admitted(request)`. A parameter
FastAPI cannot use is a 400 `{"error": ...}` like every other bad query, not FastAPI's
422. The OpenAPI document (/openapi.json) is built from the same rows: each route's
answer, the refusals it may make with their bodies, its permissions (`x-permissions`).
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from node.access.http import Authorizer, principal_for
from node.access.roles import (
    BLOBS_READ,
    BLOBS_WRITE,
    CHAIN_READ,
    CHAIN_VERIFY,
    COMMITMENTS_READ,
    CONTRACTS_READ,
    CONTRACTS_READ_OWN,
    EVIDENCE_READ,
    EVIDENCE_WRITE,
)
from node.errors import PermissionDenied, Unauthenticated
from node.rpc.limits import MAX_FEED_STREAMS, MAX_FEED_STREAMS_PER_CALLER
from node.rpc.rest import blobs, chain, chaincode, contract_views, feed, members, queries, seals, supervision
from node.rpc.rest.context import BEARER_CHALLENGE, ApiError, refusal
from node.rpc.rest.models import (
    Activity,
    BlobError,
    BlobStored,
    BlockPage,
    BlockRecord,
    Chaincode,
    CommitmentCounts,
    CommitmentPage,
    CommitmentRecord,
    ContractPage,
    ContractParties,
    ContractRecord,
    Error,
    EventPage,
    EvidencePage,
    Member,
    MemberPage,
    MemberProof,
    MembersIndexed,
    NameList,
    Report,
    RootList,
    SealPage,
    SealRecord,
    Summary,
    TransactionRecord,
    ValidatorList,
    VerificationRun,
    VerificationStatus,
)
from node.service import Node
from node.storage.blobs import BlobStore
from node.storage.members import MemberIndex, MemberQuota

CONTRACTS = (CONTRACTS_READ, CONTRACTS_READ_OWN)  # a party's token: only its own contracts
# What each refusal means, for the document.
STATUS_TEXT = {
    400: "a parameter or body the route cannot use",
    401: "no valid token",
    403: "the token's role may not",
    404: "nothing with that key",
    408: "the request body did not arrive in time",
    409: "the batch root is not anchored on this node's chain yet: retry after its block (Retry-After); "
         "a chain verification is running already (its progress in `running`)",
    411: "the request says no Content-Length: the upload is checked against its quota before its body is read",
    413: "larger than the route takes, or over the caller's quota",
    429: "the caller holds its share of feed streams, member uploads or exports (Retry-After)",
    503: "the node holds all the feed streams, member uploads or exports it serves (Retry-After)",
    507: "over the store's quota, or into the disk space kept for the chain",
}
# The bodies of what is not JSON.
OCTETS = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
EVENT_STREAM = {"text/event-stream": {"schema": {"type": "string"}}}


@dataclass(frozen=True)
class Route:
    """One /v1/ route: what it answers, who may ask, and what the document says of it."""

    method: Literal["GET", "HEAD", "PUT", "POST"]
    path: str
    handler: Callable[..., Any]
    permissions: tuple[str, ...]  # the caller's role holds one of them (node/access/roles.py)
    tag: str
    model: type[BaseModel] | None  # the body of a success (None: `content`)
    refusals: tuple[int, ...] = ()  # the statuses it may refuse with besides 401 and 403
    status: int = 200
    content: Mapping[str, Any] | None = None  # the success's media type when it is not JSON
    errors: type[BaseModel] = Error  # the body of a refusal
    extra: Mapping[str, Any] = field(default_factory=dict)  # more of the document (a raw request body)

    @property
    def error_key(self) -> str:
        """The key of a refusal's message in its JSON body."""
        return "detail" if self.errors is BlobError else "error"


# The table (the blob routes are the rows tagged "blobs": they serve the store, not the node).
# tests/unit/node/test_rest_routes.py holds the document and the permission checks to it.
ROUTES: tuple[Route, ...] = (
    Route("GET", "/v1/summary", queries.summary, (CHAIN_READ,), "chain", Summary),
    Route("GET", "/v1/contracts", queries.contracts, CONTRACTS, "contracts", ContractPage, (400,)),
    Route("GET", "/v1/contracts/{contract_id}", queries.contract, CONTRACTS, "contracts", ContractRecord, (400, 404)),
    Route("GET", "/v1/contracts/{contract_id}/events", queries.contract_events, CONTRACTS, "contracts", EventPage,
          (400, 404)),
    Route("GET", "/v1/evidence", queries.evidence, (EVIDENCE_READ,), "evidence", EvidencePage, (400,)),
    Route("GET", "/v1/evidence/{digest}", queries.evidence_by_digest, (EVIDENCE_READ,), "evidence", EvidencePage,
          (400, 404)),
    Route("GET", "/v1/evidence/{digest}/proof", queries.member_proof, (EVIDENCE_READ,), "evidence", MemberProof,
          (400, 404)),
    Route("PUT", "/v1/evidence/{digest}/members", members.put_members, (EVIDENCE_WRITE,), "evidence",
          MembersIndexed, (400, 408, 409, 411, 413, 429, 503, 507), status=201,
          extra={"requestBody": {"content": OCTETS, "required": True,
                                 "description": "the batch's leaves: 32 bytes each, concatenated in tree order"}}),
    Route("GET", "/v1/commitments", queries.commitments, (COMMITMENTS_READ,), "commitments", CommitmentPage, (400,)),
    Route("GET", "/v1/commitments/report", queries.commitment_report, (COMMITMENTS_READ,), "commitments", Report,
          (400,)),
    Route("GET", "/v1/commitments/counts", supervision.counts, (COMMITMENTS_READ,), "commitments", CommitmentCounts,
          (400,)),
    Route("GET", "/v1/commitments/activity", supervision.activity, (COMMITMENTS_READ,), "commitments", Activity, (400,)),
    Route("GET", "/v1/commitments/export.csv", supervision.export_csv, (COMMITMENTS_READ,), "commitments", None,
          (400, 429, 503), content=supervision.CSV_CONTENT),
    Route("GET", "/v1/commitments/{commitment_id}", queries.commitment, (COMMITMENTS_READ,), "commitments",
          CommitmentRecord, (400, 404)),
    Route("GET", "/v1/commitments/{commitment_id}/events", queries.commitment_events, (COMMITMENTS_READ,),
          "commitments", EventPage, (400, 404)),
    Route("GET", "/v1/members/{address}", queries.member, (CHAIN_READ,), "chain", Member, (400, 404)),
    Route("GET", "/v1/members", chain.members, (CHAIN_READ,), "chain", MemberPage, (400,)),
    Route("GET", "/v1/blocks", chain.blocks, (CHAIN_READ,), "chain", BlockPage, (400,)),
    Route("GET", "/v1/blocks/{number}", chain.block, (CHAIN_READ,), "chain", BlockRecord, (400, 404)),
    Route("GET", "/v1/transactions/{tx_hash}", chain.transaction, (CHAIN_READ,), "chain", TransactionRecord,
          (400, 404)),
    Route("GET", "/v1/validators", chain.validators, (CHAIN_READ,), "chain", ValidatorList),
    Route("GET", "/v1/roots", chain.roots, (CHAIN_READ,), "chain", RootList),
    Route("POST", "/v1/chain/verifications", chain.start_verification, (CHAIN_VERIFY,), "chain", VerificationRun,
          (409, 503), status=202),
    Route("GET", "/v1/chain/verifications/last", chain.last_verification, (CHAIN_READ,), "chain",
          VerificationStatus),
    Route("GET", "/v1/contracts/{contract_id}/parties", contract_views.contract_parties, CONTRACTS, "contracts",
          ContractParties, (400, 404)),
    Route("GET", "/v1/names", contract_views.names, (CHAIN_READ,), "chain", NameList, (400,)),
    Route("GET", "/v1/seals", seals.seals, (CHAIN_READ,), "chain", SealPage, (400,)),
    Route("GET", "/v1/seals/{seal}", seals.seal, (CHAIN_READ,), "chain", SealRecord, (400, 404)),
    Route("GET", "/v1/chaincode", chaincode.system_contracts, (CHAIN_READ,), "chain", Chaincode),
    Route("GET", "/v1/events", feed.events, feed.FEED_PERMISSIONS, "feed", EventPage, (400,)),
    Route("GET", "/v1/feed", feed.feed, feed.FEED_PERMISSIONS, "feed", None, (400, 429, 503), content=EVENT_STREAM),
    Route("PUT", "/v1/blobs", blobs.put_blob, (BLOBS_WRITE,), "blobs", BlobStored, (400, 413, 507), status=201,
          errors=BlobError, extra={"requestBody": {"content": OCTETS, "description": "the blob's bytes"}}),
    Route("GET", "/v1/blobs/{sha256}", blobs.get_blob, (BLOBS_READ,), "blobs", None, (400, 404), content=OCTETS,
          errors=BlobError),
    Route("HEAD", "/v1/blobs/{sha256}", blobs.get_blob, (BLOBS_READ,), "blobs", None, (400, 404), content=OCTETS,
          errors=BlobError),
)


class Admission:
    """A route's permission check, run before its handler: the caller (node/access/http.py
    principal_for) must hold one of `route.permissions`; it is left on the request for the
    handler (node/rpc/rest/context.py admitted)."""

    def __init__(self, route: Route) -> None:
        self.permissions = route.permissions
        self.error_key = route.error_key

    async def __call__(self, request: Request) -> None:
        try:
            who = principal_for(request)
            if not any(who.may(p) for p in self.permissions):
                who.require(self.permissions[0])
        except (Unauthenticated, PermissionDenied) as exc:
            raise refusal(exc, key=self.error_key) from None
        request.state.principal = who


def add_rest_routes(app: FastAPI, node: Node, *, max_feed_streams: int = MAX_FEED_STREAMS,
                    feed_streams_per_caller: int = MAX_FEED_STREAMS_PER_CALLER,
                    member_quota: MemberQuota | None = None) -> None:
    """Mount the /v1/ queries, the feed and the batch-member upload on `app`, answered from
    `node`; the feed serves at most `max_feed_streams` streams, `feed_streams_per_caller`
    of them to one caller; member uploads take at most `member_quota` (its defaults:
    node/storage/members.py). The app's authorizer (`app.state.authorizer`) says who is calling."""
    app.state.node = node
    app.state.members = members.MemberUploads(MemberIndex(node.store, member_quota))
    app.state.feed = state = feed.FeedState(feed.FeedStreams(max_feed_streams, feed_streams_per_caller),
                                            feed.BlockSignal())
    node.on_block(lambda header: state.blocks.notify())
    # Set when the server is asked to stop (node/ops/runner.py), so open feed streams end and
    # the server's shutdown does not wait on them.
    app.state.closing = asyncio.Event()
    mount_routes(app, [route for route in ROUTES if route.tag != "blobs"])


def add_blob_routes(app: FastAPI, store: BlobStore, authorizer: Authorizer) -> None:
    """Mount PUT /v1/blobs and GET/HEAD /v1/blobs/{sha256} on `app`, serving `store` and
    asking `authorizer` who is calling."""
    app.state.blobs = store
    app.state.authorizer = authorizer
    mount_routes(app, [route for route in ROUTES if route.tag == "blobs"])


def mount_routes(app: FastAPI, routes: Sequence[Route]) -> None:
    """Add `routes` to `app`, each behind its Admission, and the handlers that turn a
    refusal into its JSON answer."""
    app.add_exception_handler(ApiError, _answer_refusal)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _answer_bad_parameter)  # type: ignore[arg-type]
    for route in routes:
        # A route that answers other than JSON builds its own Response; the document
        # takes its media type from `content`.
        response_class: type[Response] = JSONResponse if route.content is None else Response
        app.add_api_route(
            route.path, route.handler, methods=[route.method], tags=[route.tag], status_code=route.status,
            response_model=route.model, response_class=response_class, responses=_documented(route),
            dependencies=[Depends(Admission(route))],
            openapi_extra={**route.extra, "x-permissions": list(route.permissions)},
        )
    app.openapi = lambda: _document(app)  # type: ignore[method-assign]


def _documented(route: Route) -> dict[int | str, dict[str, Any]]:
    """The document's responses of a route besides its success's model."""
    answers: dict[int | str, dict[str, Any]] = {}
    if route.content is not None:
        answers[route.status] = {"content": dict(route.content)}
    if route.method == "PUT":
        answers[200] = {"model": route.model, "description": "already stored"}
    for status in sorted({401, 403, *route.refusals}):
        answers[status] = {"model": route.errors, "description": STATUS_TEXT[status]}
    return answers


def _document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's OpenAPI document, less the 422 it declares for every route with
    parameters: this app answers those with 400, which each route declares."""
    if app.openapi_schema is None:
        document = FastAPI.openapi(app)
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        schemas = document.get("components", {}).get("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
    return app.openapi_schema  # type: ignore[return-value]


async def _answer_refusal(request: Request, exc: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": BEARER_CHALLENGE} if exc.status == 401 else {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse({exc.key: str(exc)}, status_code=exc.status, headers=headers)


async def _answer_bad_parameter(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's parameter checks (limit out of range, a non-numeric id...): 400 with
    the same {"error": ...} body as every other refusal, not 422."""
    problems = "; ".join(f"{'.'.join(str(part) for part in error['loc'][1:]) or 'request'}: {error['msg']}"
                         for error in exc.errors()[:5])
    return JSONResponse({"error": problems[:500]}, status_code=400)
