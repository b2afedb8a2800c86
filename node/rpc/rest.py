"""REST queries under /v1/ for regulators, courts and auditors: contracts, evidence,
commitments, the chain summary and the event feed (JSON pages and Server-Sent Events),
answered from the event indexes (node/storage/indexes.py) and gated by role (node/access/http.py).

Every list is a page: `limit` items (default 100, at most 1,000) and `next`, a token to
pass back as `after` for the following page (null on the last). Errors are JSON
`{"error": "..."}` with 400 (bad query), 401 (no valid token), 403 (the role may not),
404 (nothing with that key), 429 (this caller holds its share of feed streams) and 503
(the node holds its feed streams).
"""
from __future__ import annotations

import asyncio
import calendar
import contextlib
import datetime
import json
from typing import Any, AsyncIterator, Callable, Iterator, Literal, Optional, Sequence

from eth_utils import to_checksum_address
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from chaincode import COMMITMENT_STATUS, CONTRACT_STATUS
from node.access import http as access
from node.errors import ConfigError, InvalidParams, NotFound, PermissionDenied, Unauthenticated
from node.storage.indexes import DEFAULT_PAGE, MAX_PAGE, TOPICS, Cursor, FeedEntry, Indexes, commitment_status
from node.rpc.limits import MAX_FEED_STREAMS, MAX_FEED_STREAMS_PER_CALLER, caller_key
from node.service import Node

# Feed topics and the permission that reads each (contracts: either one).
TOPIC_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "contracts": (access.CONTRACTS_READ, access.CONTRACTS_READ_OWN),
    "commitments": (access.COMMITMENTS_READ,),
    "evidence": (access.EVIDENCE_READ,),
    "identity": (access.CHAIN_READ,),
}
# Events per index read while a feed stream catches up.
FEED_BATCH = 500
# A comment line this often keeps proxies from closing an idle stream.
FEED_KEEPALIVE_SECONDS = 15.0
# The reconnection delay EventSource clients are told to use (milliseconds).
FEED_RETRY_MS = 2_000
# The Retry-After of a refused stream: about how long the node takes to notice that a
# stream's client went away (FEED_TOKEN_RECHECK_SECONDS) and give its place back.
FEED_RETRY_AFTER_SECONDS = 5
# How often an idle stream re-checks its token (and whether its client is still there):
# a token revoked or expired ends its streams within this, without waiting for a block
# or the keepalive. One signature check and one stat per stream each time.
FEED_TOKEN_RECHECK_SECONDS = 5.0
# The largest time a query takes: 9999-12-31T23:59:59Z, the last second an ISO 8601
# date can name; seconds beyond it are not a time but a typo or a probe.
MAX_QUERY_TIME = 253_402_300_799


class ApiError(Exception):
    """A refusal at the HTTP edge: its status, message and (429, 503) when to retry."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class FeedStreams:
    """The open feed streams, counted for the node and per caller. `claim` and `release`
    run on the event loop only, so a claim checks and counts in one step: concurrent
    requests cannot overshoot either cap."""

    def __init__(self, total: int, per_caller: int) -> None:
        self.total = total
        self.per_caller = per_caller
        self.count = 0
        self._by_caller: dict[str, int] = {}

    def held(self, caller: str) -> int:
        return self._by_caller.get(caller, 0)

    def claim(self, caller: str) -> None:
        """Count one more stream of `caller`, or raise ApiError: 503 when the node holds
        `total`, 429 when the caller holds `per_caller`."""
        if self.count >= self.total:
            raise ApiError(503, f"{self.total} feed streams are open on this node; retry later",
                           retry_after=FEED_RETRY_AFTER_SECONDS)
        held = self.held(caller)
        if held >= self.per_caller:
            raise ApiError(429, f"{caller} already holds {held} feed streams, the most one caller may "
                           f"({self.per_caller}); close one or retry later", retry_after=FEED_RETRY_AFTER_SECONDS)
        self._by_caller[caller] = held + 1
        self.count += 1

    def release(self, caller: str) -> None:
        held = self._by_caller.get(caller, 0)
        if held <= 1:
            self._by_caller.pop(caller, None)
        else:
            self._by_caller[caller] = held - 1
        self.count = max(0, self.count - 1)


class FeedResponse(StreamingResponse):
    """A feed stream whose place (FeedStreams) is given back exactly once when it ends,
    however it ends: the node closing, the token failing, the client going away, an error."""

    def __init__(self, content: AsyncIterator[str], release: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._release: Callable[[], None] | None = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


# -- response models (the OpenAPI document at /docs) --------------------------------------


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
    previous: Optional[str] = Field(description="the version this one amends")
    docDigest: str
    digestAlgorithm: str
    parties: list[str]
    amount: int
    metadataDigest: str
    registrar: str
    status: Literal["Pending", "Effective", "Superseded", "Voided"]
    registered: When
    effective: Optional[When]
    supersededBy: Optional[str]
    voided: Optional[dict[str, Any]]
    signatures: list[Signature]
    voidRequests: list[dict[str, Any]]


class EvidenceRecord(_Model):
    digest: str
    digestAlgorithm: str
    kind: str
    caseRef: str
    caseHash: str
    leafCount: int = Field(description="1 for a single digest, n for a batch Merkle root")
    metadataDigest: str
    submitter: str
    anchoring: int = Field(description="1 for the first anchoring of this digest, n for the n-th")
    anchored: When


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
    report: Optional[dict[str, Any]]
    confirmation: Optional[dict[str, Any]]
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
    next: Optional[str] = Field(description="pass as `after` for the next page; null on the last page")


class EvidencePage(_Model):
    items: list[EvidenceRecord]
    next: Optional[str]


class CommitmentPage(_Model):
    items: list[CommitmentRecord]
    next: Optional[str]


class EventPage(_Model):
    items: list[Event]
    next: Optional[str] = Field(description="pass as `after` for the next page; null on the last page")


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
    subject: Optional[str]
    roles: list[str]
    certFingerprint: Optional[str]
    rootFingerprint: Optional[str]
    notAfter: Optional[int]
    registered: dict[str, Any]


# -- parameters -------------------------------------------------------------------------


def _hex_bytes(text: str, length: int, what: str) -> bytes:
    body = text[2:] if text[:2] in ("0x", "0X") else text
    try:
        value = bytes.fromhex(body)
    except ValueError:
        raise InvalidParams(f"{what} must be {length} bytes of hex") from None
    if len(value) != length:
        raise InvalidParams(f"{what} must be {length} bytes of hex")
    return value


def _time(text: str | None, what: str, *, end_of_day: bool = False) -> int | None:
    """Seconds since 1970 from seconds, an ISO 8601 date (YYYY-MM-DD) or date-time (UTC
    unless it names an offset). A bare date as an upper bound means its last second."""
    if text is None:
        return None
    if len(text) > 40:
        raise InvalidParams(f"{what} must be seconds since 1970 or an ISO 8601 date/time")
    if text.isascii() and text.isdigit():
        return _in_range(int(text), what)
    try:
        if len(text) == 10:
            day = datetime.date.fromisoformat(text)
            start = calendar.timegm(day.timetuple())
            return start + 86399 if end_of_day else start
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParams(f"{what} must be seconds since 1970 or an ISO 8601 date/time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    try:
        return _in_range(int(moment.timestamp()), what)
    except (OverflowError, ValueError):  # an offset pushing year 9999 past what datetime holds
        raise InvalidParams(f"{what} is after 9999-12-31T23:59:59Z") from None


def _in_range(seconds: int, what: str) -> int:
    if seconds > MAX_QUERY_TIME:
        raise InvalidParams(f"{what} is after 9999-12-31T23:59:59Z ({MAX_QUERY_TIME} seconds since 1970)")
    return seconds


def _role(text: str) -> str:
    """A role named in a query (`regulator`, `TRADING_CENTER`, `trading-center`)."""
    try:
        return access.parse_role(text)
    except ConfigError as exc:
        raise InvalidParams(exc.reason) from None


def feed_caller(who: access.Principal, request: Request) -> str:
    """The caller a feed stream counts against: its token; without one (authentication
    off), its client address — not its connection, which a client renews at will."""
    return caller_key(who.token_id, request.client.host if request.client else None, None)


def _status(text: str | None, known: Sequence[str], what: str) -> str | None:
    if text is None:
        return None
    wanted = text.replace("-", " ").replace("_", " ").strip().lower()
    for name in known:
        if name.lower() == wanted:
            return name
    raise InvalidParams(f"{what} must be one of: {', '.join(known)}")


LIMIT = Query(DEFAULT_PAGE, ge=1, le=MAX_PAGE, description=f"items per page (at most {MAX_PAGE})")
AFTER = Query(None, max_length=200, description="the `next` token of the previous page")
ORDER = Query("asc", pattern="^(asc|desc)$", description="asc: oldest first; desc: newest first")
TOPICS_QUERY = Query(None, max_length=200, description="comma-separated: identity, contracts, commitments, evidence")
ROLE_QUERY = Query(None, max_length=40, description="the topics a role follows (regulator: contracts, commitments)")


# -- the routes -------------------------------------------------------------------------


def add_rest_routes(app: FastAPI, node: Node, *, max_feed_streams: int = MAX_FEED_STREAMS,
                    feed_streams_per_caller: int = MAX_FEED_STREAMS_PER_CALLER) -> None:
    """Mount the /v1/ queries and the feed on `app`; the feed serves at most
    `max_feed_streams` streams, `feed_streams_per_caller` of them to one caller."""
    indexes: Indexes = node.chain.indexes
    router = APIRouter(prefix="/v1")
    signal = BlockSignal()
    node.on_block(lambda header: signal.notify())
    # Set when the server is asked to stop (node/ops/runner.py), so open feed streams end and
    # the server's shutdown does not wait on them.
    app.state.closing = asyncio.Event()
    streams = FeedStreams(max_feed_streams, feed_streams_per_caller)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        if exc.retry_after is not None:
            headers["Retry-After"] = str(exc.retry_after)
        return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's parameter checks (limit out of range, a non-numeric id...): 400 with
        the same {"error": ...} body as every other refusal, not 422."""
        problems = "; ".join(f"{'.'.join(str(part) for part in error['loc'][1:]) or 'request'}: {error['msg']}"
                             for error in exc.errors()[:5])
        return JSONResponse({"error": problems[:500]}, status_code=400)

    def principal(request: Request, *permissions: str) -> access.Principal:
        """The caller, who must hold one of `permissions`."""
        with _errors():
            who = access.principal_for(request)
            if permissions and not any(who.may(p) for p in permissions):
                who.require(permissions[0])
            return who

    def own_contracts_only(who: access.Principal) -> bytes | None:
        """The party address a contracts:read-own caller is limited to (None: no limit)."""
        if who.may(access.CONTRACTS_READ):
            return None
        if who.address is None:
            raise ApiError(403, f"role {who.role} reads only its own contracts, and the token names no address")
        return who.address

    def now() -> int:
        return node.chain.head.timestamp

    @router.get("/summary", response_model=Summary, tags=["chain"])
    def summary(request: Request) -> dict[str, Any]:
        """Height, validators, members and counts of contracts, evidence and commitments."""
        principal(request, access.CHAIN_READ)
        head = node.chain.head
        with indexes.snapshot() as idx:
            c, indexed = idx.counters(), idx.height()
        return {
            "chainId": node.genesis.chain_id, "height": head.block_number, "head": "0x" + head.hash.hex(),
            "indexedHeight": indexed,
            "validators": [to_checksum_address(v) for v in node.chain.validators_after(head)],
            "counts": {
                "members": c.get("members", 0), "trustedRoots": c.get("roots", 0),
                "revocations": c.get("revocations", 0), "events": c.get("events", 0),
                "contracts": {"total": c.get("contracts", 0),
                              **{s: c.get(f"contracts.{s}", 0) for s in CONTRACT_STATUS.values()}},
                "evidence": c.get("evidence", 0),
                "commitments": {"total": c.get("commitments", 0), "open": c.get("commitments.open", 0),
                                "fulfilled": c.get("commitments.fulfilled", 0), "alertsRaised": c.get("alerts", 0),
                                "demandsRaised": c.get("supervisions", 0), "units": c.get("units", 0)},
            },
        }

    @router.get("/contracts", response_model=ContractPage, tags=["contracts"])
    def contracts(
        request: Request,
        project: Optional[str] = Query(None, max_length=200, description="project code"),
        party: Optional[str] = Query(None, description="a party's address"),
        status: Optional[str] = Query(None, description="Pending, Effective, Superseded or Voided"),
        since: Optional[str] = Query(None, description="registered at or after (seconds or ISO 8601)"),
        until: Optional[str] = Query(None, description="registered at or before (seconds or ISO 8601)"),
        limit: int = LIMIT, after: Optional[str] = AFTER, order: str = ORDER,
    ) -> dict[str, Any]:
        """Contracts by project code, party, status or registration date (one index per query)."""
        who = principal(request, access.CONTRACTS_READ, access.CONTRACTS_READ_OWN)
        with _errors(), indexes.snapshot() as idx:
            party_bytes = _hex_bytes(party, 20, "party") if party is not None else None
            own = own_contracts_only(who)
            if own is not None:
                if party_bytes not in (None, own) or any(v is not None for v in (project, status, since, until)):
                    raise ApiError(403, f"role {who.role} lists only the contracts of its own address (party=0x{own.hex()})")
                party_bytes = own
            return idx.contracts(
                project=project, party=party_bytes, status=_status(status, list(CONTRACT_STATUS.values()), "status"),
                since=_time(since, "since"), until=_time(until, "until", end_of_day=True),
                after=after, limit=limit, reverse=order == "desc").to_json()

    def visible_contract(who: access.Principal, contract_id: bytes) -> dict[str, Any]:
        record = indexes.contract(contract_id)
        own = own_contracts_only(who)
        if own is not None and "0x" + own.hex() not in {p.lower() for p in record["parties"]}:
            raise ApiError(403, f"role {who.role}: 0x{own.hex()} is not a party to contract 0x{contract_id.hex()}")
        return record

    @router.get("/contracts/{contract_id}", response_model=ContractRecord, tags=["contracts"])
    def contract(request: Request, contract_id: str) -> dict[str, Any]:
        """One contract: its current status, parties and every signature (attestation)."""
        who = principal(request, access.CONTRACTS_READ, access.CONTRACTS_READ_OWN)
        with _errors():
            return visible_contract(who, _hex_bytes(contract_id, 32, "contract id"))

    @router.get("/contracts/{contract_id}/events", response_model=EventPage, tags=["contracts"])
    def contract_events(request: Request, contract_id: str, limit: int = Query(MAX_PAGE, ge=1, le=MAX_PAGE),
                        after: Optional[str] = AFTER) -> dict[str, Any]:
        """A contract's history: registration, each signature, effective, void requests, voiding."""
        who = principal(request, access.CONTRACTS_READ, access.CONTRACTS_READ_OWN)
        with _errors(), indexes.snapshot() as idx:
            key = _hex_bytes(contract_id, 32, "contract id")
            visible_contract(who, key)
            return idx.contract_events(key, after=after, limit=limit).to_json()

    @router.get("/evidence", response_model=EvidencePage, tags=["evidence"])
    def evidence(
        request: Request,
        digest: Optional[str] = Query(None, description="the anchored digest (32 bytes hex)"),
        case: Optional[str] = Query(None, max_length=200, description="case reference"),
        kind: Optional[str] = Query(None, max_length=200, description="evidence kind (webpage, contract-pdf, ...)"),
        limit: int = LIMIT, after: Optional[str] = AFTER, order: str = ORDER,
    ) -> dict[str, Any]:
        """Evidence anchorings by digest, case or kind (or all, in chain order)."""
        principal(request, access.EVIDENCE_READ)
        with _errors(), indexes.snapshot() as idx:
            digest_bytes = _hex_bytes(digest, 32, "digest") if digest is not None else None
            return idx.evidence(digest=digest_bytes, case=case, kind=kind, after=after, limit=limit,
                                    reverse=order == "desc").to_json()

    @router.get("/evidence/{digest}", response_model=EvidencePage, tags=["evidence"])
    def evidence_by_digest(request: Request, digest: str, limit: int = LIMIT, after: Optional[str] = AFTER) -> dict[str, Any]:
        """Every anchoring of one digest (404 if it was never anchored)."""
        principal(request, access.EVIDENCE_READ)
        with _errors(), indexes.snapshot() as idx:
            key = _hex_bytes(digest, 32, "digest")
            page = idx.evidence(digest=key, after=after, limit=limit)
            if not page.items and after is None:
                raise NotFound(f"digest 0x{key.hex()} was never anchored")
            return page.to_json()

    @router.get("/commitments", response_model=CommitmentPage, tags=["commitments"])
    def commitments(
        request: Request,
        status: Optional[str] = Query(None, description="status now: on track, reminder, warning, demand, fulfilled"),
        raised: Optional[str] = Query(None, description="the level the chain last raised (or fulfilled)"),
        unit: Optional[str] = Query(None, max_length=200, description="responsible unit"),
        due_after: Optional[str] = Query(None, description="deadline at or after (seconds or ISO 8601)"),
        due_before: Optional[str] = Query(None, description="deadline at or before (seconds or ISO 8601)"),
        limit: int = LIMIT, after: Optional[str] = AFTER, order: str = ORDER,
    ) -> dict[str, Any]:
        """Commitments by status at the head block's time, raised level, responsible unit or deadline."""
        principal(request, access.COMMITMENTS_READ)
        statuses = list(COMMITMENT_STATUS.values())
        with _errors(), indexes.snapshot() as idx:
            return idx.commitments(
                now=now(), status=_status(status, statuses, "status"), raised=_status(raised, statuses, "raised"),
                unit=unit, due_after=_time(due_after, "due_after"),
                due_before=_time(due_before, "due_before", end_of_day=True),
                after=after, limit=limit, reverse=order == "desc").to_json()

    @router.get("/commitments/report", response_model=Report, tags=["commitments"])
    def commitment_report(request: Request, unit: Optional[str] = Query(None, max_length=200)) -> dict[str, Any]:
        """Per responsible unit: commitments by status now, alerts and supervisions raised."""
        principal(request, access.COMMITMENTS_READ)
        with _errors(), indexes.snapshot() as idx:
            return idx.report(now=now(), unit=unit)

    @router.get("/commitments/{commitment_id}", response_model=CommitmentRecord, tags=["commitments"])
    def commitment(request: Request, commitment_id: int) -> dict[str, Any]:
        principal(request, access.COMMITMENTS_READ)
        with _errors(), indexes.snapshot() as idx:
            record = idx.commitment(commitment_id)
            record["status"] = commitment_status(record, now(), idx.policy())
            return record

    @router.get("/commitments/{commitment_id}/events", response_model=EventPage, tags=["commitments"])
    def commitment_events(request: Request, commitment_id: int, limit: int = Query(MAX_PAGE, ge=1, le=MAX_PAGE),
                          after: Optional[str] = AFTER) -> dict[str, Any]:
        """A commitment's history: added, reported, confirmed, each alert raised."""
        principal(request, access.COMMITMENTS_READ)
        with _errors(), indexes.snapshot() as idx:
            return idx.commitment_events(commitment_id, after=after, limit=limit).to_json()

    @router.get("/members/{address}", response_model=Member, tags=["chain"])
    def member(request: Request, address: str) -> dict[str, Any]:
        principal(request, access.CHAIN_READ)
        with _errors(), indexes.snapshot() as idx:
            return idx.member(_hex_bytes(address, 20, "address"))

    def feed_selection(who: access.Principal, topics: str | None, role: str | None) -> tuple[list[str], Callable[[FeedEntry], bool]]:
        """The topics a feed carries (asked for, a role's, or all the caller may read) and
        the filter a contracts:read-own caller's events pass through."""
        if topics is not None and role is not None:
            raise InvalidParams("give topics or role, not both")
        if role is not None:
            wanted = topics_of_role(_role(role))
            if not wanted:
                raise InvalidParams(f"role {role} follows no topic")
        elif topics is not None:
            wanted = [t.strip() for t in topics.split(",") if t.strip()]
            unknown = [t for t in wanted if t not in TOPICS]
            if unknown or not wanted:
                raise InvalidParams(f"topics must be a comma-separated subset of {', '.join(TOPICS)}")
        else:
            wanted = [t for t in TOPICS if any(who.may(p) for p in TOPIC_PERMISSIONS[t])]
        for topic in wanted:
            if not any(who.may(p) for p in TOPIC_PERMISSIONS[topic]):
                raise PermissionDenied(f"role {who.role} may not follow {topic} events")
        own = own_contracts_only(who) if "contracts" in wanted else None
        if own is None:
            return wanted, lambda event: True
        own_hex = "0x" + own.hex()

        def visible(entry: FeedEntry) -> bool:
            if entry.topic != "contracts":
                return True
            event = json.loads(entry.raw)
            try:
                parties = indexes.contract(bytes.fromhex(event["args"]["id"][2:]))["parties"]
            except NotFound:
                return False
            return own_hex in {p.lower() for p in parties}

        return wanted, visible

    def read_feed(topics: list[str], after: Cursor | None) -> list[FeedEntry]:
        with indexes.snapshot() as idx:  # every topic's scan sees the same blocks
            return idx.feed_raw(topics, after=after, limit=FEED_BATCH)

    def since_cursor(request: Request, since: str | None) -> Cursor | None:
        text = since if since is not None else request.headers.get("last-event-id")
        return None if text in (None, "") else Cursor.parse(text)

    @router.get("/events", response_model=EventPage, tags=["feed"])
    def events(
        request: Request,
        since: Optional[str] = Query(None, description="HEIGHT-LOGINDEX: events after this one (default: from the first)"),
        topics: Optional[str] = TOPICS_QUERY, role: Optional[str] = ROLE_QUERY, limit: int = LIMIT,
        after: Optional[str] = AFTER,
    ) -> Response:
        """One page of the feed: the events after `after` (the previous page's `next`) or
        `since`, in chain order; `next` is null on the last page, as on every list."""
        who = principal(request)
        with _errors(), indexes.snapshot() as idx:
            wanted, visible = feed_selection(who, topics, role)
            if after is not None and since is not None:
                raise InvalidParams("give after (a page's next) or since, not both")
            # A page token of the feed is the cursor of the page's last event.
            cursor = Cursor.parse(after) if after is not None else since_cursor(request, since)
            found = idx.feed_raw(wanted, after=cursor, limit=limit)
            # feed_raw is the feed's pager (a seek per topic, then a merge); a full page is
            # the last only if nothing follows it, which one more event's read tells.
            more = len(found) == limit and bool(idx.feed_raw(wanted, after=found[-1].cursor, limit=1))
        last = str(found[-1].cursor) if more else None
        # The stored JSON goes out as it is (no parse, no re-encoding): pages of the feed are
        # what a regulator catching up reads most.
        items = b",".join(entry.raw for entry in found if visible(entry))
        return Response(b'{"items":[' + items + b'],"next":' + json.dumps(last).encode() + b"}",
                        media_type="application/json")

    @router.get("/feed", tags=["feed"], response_class=StreamingResponse, responses={
        200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events: id = cursor, event = name, data = the event's JSON"}})
    async def feed(
        request: Request,
        since: Optional[str] = Query(None, description="HEIGHT-LOGINDEX: start after this event (or the Last-Event-ID header)"),
        topics: Optional[str] = TOPICS_QUERY, role: Optional[str] = ROLE_QUERY,
    ) -> Response:
        """The durable feed as Server-Sent Events: every event after the cursor, then new
        ones as blocks are stored. Each message's `id` is its cursor, so a client that
        reconnects with it (Last-Event-ID or ?since=) misses nothing and sees nothing twice."""
        who = principal(request)
        with _errors():
            wanted, visible = feed_selection(who, topics, role)
            cursor = since_cursor(request, since)
        closing: asyncio.Event = app.state.closing
        caller = feed_caller(who, request)
        streams.claim(caller)  # 503 or 429: refused before anything is streamed
        node.metrics.feed_streams.set(streams.count)

        def release() -> None:
            streams.release(caller)
            node.metrics.feed_streams.set(streams.count)

        async def still_allowed() -> str | None:
            """None while the stream may go on; otherwise why it ends: a token revoked or
            expired since it opened (said to the client), or a client gone without closing
            ("" — there is no one to tell)."""
            try:
                access.principal_for(request)
            except Unauthenticated as exc:
                return str(exc)[:200]
            return "" if await request.is_disconnected() else None

        async def events_after(position: Cursor | None) -> AsyncIterator[str]:
            yield f"retry: {FEED_RETRY_MS}\n\n"
            while not closing.is_set():
                ended = await still_allowed()
                if ended is not None:
                    if ended:
                        yield f": {ended}\n\n"
                    return
                stored = signal.current()  # taken before reading: a block stored meanwhile still wakes us
                batch = await run_in_threadpool(read_feed, wanted, position)
                for entry in batch:
                    position = entry.cursor
                    if visible(entry):
                        # stored JSON holds no newline, so it is one SSE data line as it is
                        yield f"id: {entry.cursor}\nevent: {entry.name}\ndata: {entry.raw.decode()}\n\n"
                if len(batch) == FEED_BATCH:
                    continue
                # Idle: wake for a block or the node closing, and every recheck interval to
                # hold the stream to its token; a keepalive comment when it is due.
                quiet = 0.0
                while not await signal.wait(stored, FEED_TOKEN_RECHECK_SECONDS, closing):
                    ended = await still_allowed()
                    if ended is not None:
                        if ended:
                            yield f": {ended}\n\n"
                        return
                    quiet += FEED_TOKEN_RECHECK_SECONDS
                    if quiet >= FEED_KEEPALIVE_SECONDS:
                        yield ": keepalive\n\n"
                        quiet = 0.0

        return FeedResponse(events_after(cursor), release, media_type="text/event-stream",
                            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    app.include_router(router)


def topics_of_role(role: str) -> list[str]:
    """The feed topics a role may read: what `ledger feed follow --role` follows."""
    permissions = access.ROLE_PERMISSIONS.get(role, frozenset())
    topics = [t for t in TOPICS if any(p in permissions for p in TOPIC_PERMISSIONS[t])]
    # A regulator or party follows the business events; the identity registry's changes
    # are for the roles that keep or audit the register.
    if role in ("REGULATOR", "PARTY"):
        topics = [t for t in topics if t != "identity"]
    return topics


class BlockSignal:
    """Wakes feed streams when a block is stored. `notify` runs on the event loop."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def current(self) -> asyncio.Event:
        if self._event is None:
            self._event = asyncio.Event()
        return self._event

    def notify(self) -> None:
        event, self._event = self._event, None
        if event is not None:
            event.set()

    @staticmethod
    async def wait(event: asyncio.Event, timeout: float, closing: asyncio.Event) -> bool:
        """True once `event` is set (a block was stored) or the node is closing; False
        after `timeout` seconds."""
        waiters = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(closing.wait())}
        try:
            done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when the stream is cancelled (its client went away): leave no waiter behind
            for task in waiters:
                task.cancel()
        return bool(done)


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """The node's errors as HTTP statuses (at the edge only)."""
    try:
        yield
    except ApiError:
        raise
    except Unauthenticated as exc:
        raise ApiError(401, str(exc)) from None
    except PermissionDenied as exc:
        raise ApiError(403, str(exc)) from None
    except NotFound as exc:
        raise ApiError(404, str(exc)) from None
    except InvalidParams as exc:
        raise ApiError(400, str(exc)) from None

