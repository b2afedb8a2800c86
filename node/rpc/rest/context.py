"""What a /v1/ handler is given, and how it refuses.

State lives on the app, not in closures: the node on `app.state.node` (`node_of`), the
feed's stream counts on `app.state.feed` (node/rpc/rest/feed.py), the blob store on
`app.state.blobs` (node/rpc/rest/blobs.py), the stop event on `app.state.closing` (set by
node/ops/runner.py when the server is asked to stop). The caller is the one its route's
permission check admitted (`admitted`; node/rpc/rest/routes.py runs the check). The node's
errors become HTTP statuses here, at the edge only (`refusal`, `as_refusals`).
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.requests import HTTPConnection
from starlette.types import Receive, Scope, Send

from node.access.http import Principal
from node.access.roles import CONTRACTS_READ
from node.errors import InvalidParams, NodeError, NotFound, PermissionDenied, Unauthenticated
from node.rpc.limits import caller_key
from node.service import Node

# The challenge of a 401 (RFC 6750), the same as the JSON-RPC routes'.
BEARER_CHALLENGE = 'Bearer realm="evidence-ledger"'


class ApiError(NodeError):
    """A refusal at the HTTP edge: its status, message, (429, 503) when to retry, and the
    key of the JSON body's message — "error" on the queries and the feed, "detail" on the
    blob routes (FastAPI's form, which client/blobs.py reads)."""

    def __init__(self, status: int, message: str, retry_after: int | None = None, *, key: str = "error") -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.key = key


def refusal(exc: NodeError, *, key: str = "error") -> ApiError:
    """The HTTP status of one of the node's errors: no valid token 401, a role that may not
    403, nothing with that key 404, a query the route cannot use 400."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, Unauthenticated):
        return ApiError(401, f"Unauthorized: {exc.reason}", key=key)
    if isinstance(exc, PermissionDenied):
        return ApiError(403, str(exc), key=key)
    if isinstance(exc, NotFound):
        return ApiError(404, str(exc), key=key)
    if isinstance(exc, InvalidParams):
        return ApiError(400, str(exc), key=key)
    raise exc  # not a refusal: a fault, answered 500 and logged by the server


@contextlib.contextmanager
def as_refusals() -> Iterator[None]:
    """Raise the node's refusals met inside as ApiError (their HTTP status)."""
    try:
        yield
    except (Unauthenticated, PermissionDenied, NotFound, InvalidParams) as exc:
        raise refusal(exc) from None


def admitted(request: Request) -> Principal:
    """The caller the route's permission check admitted (node/rpc/rest/routes.py
    `Admission` leaves it on the request before the handler runs)."""
    who: Principal = request.state.principal
    return who


def caller_of(who: Principal, connection: HTTPConnection) -> str:
    """Whom a feed stream or an upload is charged to: its token; without one (authentication
    off), its client address — not its connection, which a client renews at will."""
    return caller_key(who.token_id, connection.client.host if connection.client else None, None)


def own_contracts_only(who: Principal) -> bytes | None:
    """The party address a contracts:read-own caller is limited to (None: no limit)."""
    if who.may(CONTRACTS_READ):
        return None
    if who.address is None:
        raise ApiError(403, f"role {who.role} reads only its own contracts, and the token names no address")
    return who.address


def node_of(request: Request) -> Node:
    """The node the app serves (add_rest_routes put it on the app)."""
    node: Node = request.app.state.node
    return node


class CallerSlots:
    """Things in progress (feed streams, member uploads), counted for the node and per
    caller. `claim` and `release` run on the event loop only, so a claim checks and counts
    in one step: concurrent requests cannot overshoot either cap. Subclasses word the two
    refusals (`node_full`: 503, `caller_full`: 429)."""

    def __init__(self, total: int, per_caller: int) -> None:
        self.total = total
        self.per_caller = per_caller
        self.count = 0
        self._by_caller: dict[str, int] = {}

    def held(self, caller: str) -> int:
        return self._by_caller.get(caller, 0)

    def claim(self, caller: str) -> None:
        """Count one more for `caller`, or raise ApiError: 503 when the node holds `total`,
        429 when the caller holds `per_caller`."""
        if self.count >= self.total:
            raise self.node_full()
        held = self.held(caller)
        if held >= self.per_caller:
            raise self.caller_full(caller, held)
        self._by_caller[caller] = held + 1
        self.count += 1

    def release(self, caller: str) -> None:
        held = self._by_caller.get(caller, 0)
        if held <= 1:
            self._by_caller.pop(caller, None)
        else:
            self._by_caller[caller] = held - 1
        self.count = max(0, self.count - 1)

    def node_full(self) -> ApiError:
        raise NotImplementedError

    def caller_full(self, caller: str, held: int) -> ApiError:
        raise NotImplementedError


class SlotResponse(StreamingResponse):
    """A stream that holds a CallerSlots place (a feed stream, a CSV export) and gives it
    back exactly once when it ends, however it ends: the node closing, the token failing,
    the client going away, an error."""

    def __init__(self, content: Any, release: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._release: Callable[[], None] | None = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()
