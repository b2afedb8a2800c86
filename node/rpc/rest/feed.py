"""The event feed: `GET /v1/events` (one page) and `GET /v1/feed` (Server-Sent Events),
every system-contract event in chain order from the feed index (node/storage/indexes.py).

A stream replays what follows its cursor, then follows new blocks (`BlockSignal`); each
message's `id` is its cursor, so a client that reconnects with it misses nothing and sees
nothing twice. Streams are counted (`FeedStreams`): at most `max_feed_streams` on the
node (503 beyond) and `feed_streams_per_caller` per caller (429), each given back exactly
once however it ends (`SlotResponse`). A stream re-checks its token while idle, so a
revoked or expired token ends it. The route table (node/rpc/rest/routes.py) admits any
caller who may read some topic; which topics it may follow is decided here.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from fastapi import Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from node.access.http import Principal, principal_for
from node.access.roles import (
    CHAIN_READ,
    COMMITMENTS_READ,
    CONTRACTS_READ,
    CONTRACTS_READ_OWN,
    EVIDENCE_READ,
    ROLE_PERMISSIONS,
)
from node.api import FEED_KEEPALIVE_SECONDS
from node.errors import InvalidParams, NotFound, PermissionDenied, Unauthenticated
from node.rpc.rest.context import (
    ApiError,
    CallerSlots,
    SlotResponse,
    admitted,
    as_refusals,
    caller_of,
    node_of,
    own_contracts_only,
)
from node.rpc.rest.params import AFTER, LIMIT, ROLE_QUERY, TOPICS_QUERY, role_named
from node.storage.index_queries import FeedEntry, Indexes
from node.storage.indexes import TOPICS, Cursor

# Feed topics and the permission that reads each (contracts: either one).
TOPIC_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "contracts": (CONTRACTS_READ, CONTRACTS_READ_OWN),
    "commitments": (COMMITMENTS_READ,),
    "evidence": (EVIDENCE_READ,),
    "identity": (CHAIN_READ,),
}
# What the feed's routes ask of a caller: a permission that reads some topic.
FEED_PERMISSIONS = tuple(dict.fromkeys(p for permissions in TOPIC_PERMISSIONS.values() for p in permissions))
# Events per index read while a feed stream catches up.
FEED_BATCH = 500
# The reconnection delay EventSource clients are told to use (milliseconds).
FEED_RETRY_MS = 2_000
# How often an idle stream re-checks its token (and whether its client is still there):
# a token revoked or expired ends its streams within this, without waiting for a block
# or the keepalive. One signature check and one stat per stream each time.
FEED_TOKEN_RECHECK_SECONDS = 5.0
# The Retry-After of a refused stream: about how long the node takes to notice that a
# stream's client went away (FEED_TOKEN_RECHECK_SECONDS) and give its place back.
FEED_RETRY_AFTER_SECONDS = 5
SINCE_DESCRIPTION = "HEIGHT-LOGINDEX: events after this one (default: from the first; or the Last-Event-ID header)"


class FeedStreams(CallerSlots):
    """The open feed streams, counted for the node and per caller."""

    def node_full(self) -> ApiError:
        return ApiError(503, f"{self.total} feed streams are open on this node; retry later",
                        retry_after=FEED_RETRY_AFTER_SECONDS)

    def caller_full(self, caller: str, held: int) -> ApiError:
        return ApiError(429, f"{caller} already holds {held} feed streams, the most one caller may "
                        f"({self.per_caller}); close one or retry later", retry_after=FEED_RETRY_AFTER_SECONDS)


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


@dataclass(frozen=True)
class FeedState:
    """What the feed's handlers share, on `app.state.feed` (node/rpc/rest/routes.py puts
    it there and has the node notify `blocks` of each block it stores)."""

    streams: FeedStreams
    blocks: BlockSignal


def topics_of_role(role: str) -> list[str]:
    """The feed topics a role may read: what `ledger feed follow --role` follows."""
    permissions = ROLE_PERMISSIONS.get(role, frozenset())
    topics = [t for t in TOPICS if any(p in permissions for p in TOPIC_PERMISSIONS[t])]
    # A regulator or party follows the business events; the identity registry's changes
    # are for the roles that keep or audit the register.
    if role in ("REGULATOR", "PARTY"):
        topics = [t for t in topics if t != "identity"]
    return topics


def feed_selection(indexes: Indexes, who: Principal, topics: str | None,
                   role: str | None) -> tuple[list[str], Callable[[FeedEntry], bool]]:
    """The topics a feed carries (asked for, a role's, or all the caller may read) and
    the filter a contracts:read-own caller's events pass through (which looks contracts up
    in `indexes`)."""
    if topics is not None and role is not None:
        raise InvalidParams("give topics or role, not both")
    if role is not None:
        wanted = topics_of_role(role_named(role))
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


def since_cursor(request: Request, since: str | None) -> Cursor | None:
    """Where a feed starts: after `since`, else after the Last-Event-ID an EventSource
    sends when it reconnects, else from the first event."""
    text = since if since is not None else request.headers.get("last-event-id")
    return None if text in (None, "") else Cursor.parse(text)


def feed_of(request: Request) -> FeedState:
    feed: FeedState = request.app.state.feed
    return feed


def events(
    request: Request,
    since: str | None = Query(None, description=SINCE_DESCRIPTION),
    topics: str | None = TOPICS_QUERY, role: str | None = ROLE_QUERY, limit: int = LIMIT,
    after: str | None = AFTER,
) -> Response:
    """One page of the feed: the events after `after` (the previous page's `next`) or
    `since`, in chain order; `next` is null on the last page, as on every list."""
    who = admitted(request)
    with as_refusals(), node_of(request).chain.indexes.snapshot() as idx:
        wanted, visible = feed_selection(idx, who, topics, role)
        if after is not None and since is not None:
            raise InvalidParams("give after (a page's next) or since, not both")
        # A page token of the feed is the cursor of the page's last event.
        cursor = Cursor.parse(after) if after is not None else since_cursor(request, since)
        found = idx.feed_raw(wanted, after=cursor, limit=limit)
        # feed_raw is the feed's pager (a seek per topic, then a merge); a full page is
        # the last only if nothing follows it, which one more event's read tells.
        more = len(found) == limit and bool(idx.feed_raw(wanted, after=found[-1].cursor, limit=1))
        # Filtered while the snapshot is open: a party's filter looks up each contract.
        items = b",".join(entry.raw for entry in found if visible(entry))
    last = str(found[-1].cursor) if more else None
    # The stored JSON goes out as it is (no parse, no re-encoding): pages of the feed are
    # what a regulator catching up reads most.
    return Response(b'{"items":[' + items + b'],"next":' + json.dumps(last).encode() + b"}",
                    media_type="application/json")


async def feed(
    request: Request,
    since: str | None = Query(None, description=SINCE_DESCRIPTION),
    topics: str | None = TOPICS_QUERY, role: str | None = ROLE_QUERY,
) -> Response:
    """The durable feed as Server-Sent Events: every event after the cursor, then new
    ones as blocks are stored. Each message's `id` is its cursor, so a client that
    reconnects with it (Last-Event-ID or ?since=) misses nothing and sees nothing twice."""
    who = admitted(request)
    node = node_of(request)
    indexes = node.chain.indexes
    state = feed_of(request)
    with as_refusals():
        wanted, visible = feed_selection(indexes, who, topics, role)
        cursor = since_cursor(request, since)
    closing: asyncio.Event = request.app.state.closing
    caller = caller_of(who, request)
    state.streams.claim(caller)  # 503 or 429: refused before anything is streamed
    node.metrics.feed_streams.set(state.streams.count)

    def release() -> None:
        state.streams.release(caller)
        node.metrics.feed_streams.set(state.streams.count)

    def read_feed(after: Cursor | None) -> list[FeedEntry]:
        with indexes.snapshot() as idx:  # every topic's scan sees the same blocks
            return idx.feed_raw(wanted, after=after, limit=FEED_BATCH)

    async def still_allowed() -> str | None:
        """None while the stream may go on; otherwise why it ends: a token revoked or
        expired since it opened (said to the client), or a client gone without closing
        ("" — there is no one to tell)."""
        try:
            principal_for(request)
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
            stored = state.blocks.current()  # taken before reading: a block stored meanwhile still wakes us
            batch = await run_in_threadpool(read_feed, position)
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
            while not await state.blocks.wait(stored, FEED_TOKEN_RECHECK_SECONDS, closing):
                ended = await still_allowed()
                if ended is not None:
                    if ended:
                        yield f": {ended}\n\n"
                    return
                quiet += FEED_TOKEN_RECHECK_SECONDS
                if quiet >= FEED_KEEPALIVE_SECONDS:
                    yield ": keepalive\n\n"
                    quiet = 0.0

    return SlotResponse(events_after(cursor), release, media_type="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
