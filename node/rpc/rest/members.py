"""`PUT /v1/evidence/{digest}/members`: an anchoring client hands the node the members of
the batch whose root `digest` it anchored, so each member is found by its own digest
(`GET /v1/evidence/{digest}`, `…/proof`). The index and its quota are
node/storage/members.py's; the state is on `app.state.members`.

The body is the batch's leaves, 32 bytes each, concatenated in tree order
(application/octet-stream: a million leaves are 32 MB, where JSON hex would be 66 MB).
The route table (node/rpc/rest/routes.py) admits evidence:write before this runs, so an
upload without it is refused before its body is read. Then, in order, every refusal a
caller can be given without the body comes before the body is read (a node must not read
32 MB to say no):

1. the root is 32 bytes of hex (400); the body's length is declared: Content-Length,
   else 411 (a chunked body cannot be checked against the quota before it is read); it is
   whole leaves (400) within the cap (413);
2. from the root and that count, reading the index only (`MemberIndex.admit`, in the
   RPC's ordinary pool): a batch the node holds already is 200 as it is, with the body
   unread (409 if it holds it with another count); a root not anchored yet 409
   (Retry-After: the client hands over again after the block); a count that is not an
   anchored leaf count of the root 400; over the caller's quota 413, over the node's or
   into the disk's reserve 507;
3. an upload slot: at most MAX_MEMBER_UPLOADS bodies are being received or worked on at
   once on the node, one of them the caller's (503 / 429 beyond, with Retry-After) —
   refused, not queued, since a waiting upload holds its body;
4. the body, within MEMBER_BODY_SECONDS (408 after) and its declared length;
5. one upload at a time: its leaves are hashed and checked and its keys written in the
   RPC's expensive pool (node/rpc/app.py), which the node drains before its store closes.
   `MemberIndex.add` checks 2 again (another upload may have committed meanwhile) and
   refuses leaves that are not the anchored batch 400. A new batch is 201; one another
   upload indexed meanwhile 200. The keys are written in slices and committed by a last
   small synced batch (node/storage/members.py), so block commits do not wait for the
   upload.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from fastapi import Path, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from node.rpc.rest.context import ApiError, CallerSlots, admitted, as_refusals, caller_of
from node.rpc.rest.params import HEX32, hex_bytes, pattern_of
from node.storage.members import (
    LEAF_BYTES,
    BatchHeldWithOtherSize,
    LeavesRefused,
    MemberIndex,
    MemberQuotaExceeded,
    RootNotAnchored,
)

# Member uploads being received or worked on at once, on the node and per caller. Each
# holds its body (up to 32 MB) until it is written, and one is worked on at a time (a
# million leaves: ~4 s and ~230 MB at the peak, bench/members.py), so four bound what
# waiting uploads hold to ~128 MB; a caller anchors one batch at a time.
MAX_MEMBER_UPLOADS = 4
MAX_MEMBER_UPLOADS_PER_CALLER = 1
# The Retry-After of a refused upload: a little over how long a million-member upload
# takes to be checked and written ahead of it, halved (most batches are far smaller); and
# of a root not anchored yet: a block period.
UPLOAD_RETRY_AFTER_SECONDS = 2
NOT_ANCHORED_RETRY_AFTER_SECONDS = 1
# The longest a member upload's body may take to arrive while it holds its slot: a full
# 32 MB body at ~270 KB/s. A body that does not arrive in time gives the slot back (408)
# instead of holding it for ever (a client that trickles bytes would otherwise keep every
# other organisation's uploads at 503 with four connections).
MEMBER_BODY_SECONDS = 120

T = TypeVar("T")

ROOT = Path(description="the anchored batch root (32 bytes hex)", json_schema_extra=pattern_of(HEX32))


class UploadSlots(CallerSlots):
    """Member uploads in progress, on the node and per caller."""

    def __init__(self, total: int = MAX_MEMBER_UPLOADS, per_caller: int = MAX_MEMBER_UPLOADS_PER_CALLER) -> None:
        super().__init__(total, per_caller)

    def node_full(self) -> ApiError:
        return ApiError(503, f"{self.total} member uploads are in progress on this node; retry later",
                        retry_after=UPLOAD_RETRY_AFTER_SECONDS)

    def caller_full(self, caller: str, held: int) -> ApiError:
        return ApiError(429, f"{caller} already has {held} member upload(s) in progress, the most one caller may "
                        f"({self.per_caller}); retry when it ends", retry_after=UPLOAD_RETRY_AFTER_SECONDS)


@dataclass
class MemberUploads:
    """What the members route needs: the index, the slots, and the turn of the one upload
    being worked on."""

    index: MemberIndex
    slots: UploadSlots = field(default_factory=UploadSlots)
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)


def uploads_of(request: Request) -> MemberUploads:
    uploads: MemberUploads = request.app.state.members
    return uploads


async def put_members(request: Request, digest: str = ROOT) -> Response:
    """Index the body's leaves as the members of the batch anchored under `digest`: 201
    when new, 200 when the node held them already. The steps are the module docstring's."""
    uploads = uploads_of(request)
    caller = caller_of(admitted(request), request)
    with as_refusals():  # 1
        root = hex_bytes(digest, 32, "root")
    declared = _declared_length(request, root, uploads.index.max_members * LEAF_BYTES)
    held = await _in_pool(request, False, uploads.index.admit, root, declared // LEAF_BYTES, caller)  # 2
    if held is not None:
        return JSONResponse(held.to_json(), status_code=200)
    uploads.slots.claim(caller)  # 3
    try:
        body = await _read_body(request, declared)  # 4
        if len(body) != declared:
            raise ApiError(400, f"the body is {len(body)} bytes, not the {declared} its Content-Length declares")
        async with uploads.turn:  # 5
            added = await _in_pool(request, True, uploads.index.add, root, body, caller)
    finally:
        uploads.slots.release(caller)
    return JSONResponse(added.to_json(), status_code=201 if added.created else 200)


def _declared_length(request: Request, root: bytes, cap: int) -> int:
    """The body's length from Content-Length: 411 without one, 400 if it is not a whole
    number of leaves (at least one), 413 over `cap`."""
    header = request.headers.get("content-length")
    if header is None:
        raise ApiError(411, "a member upload declares its length (Content-Length): the node checks the batch and "
                       "the quota before it reads the body")
    if not (header.isascii() and header.isdigit()):
        raise ApiError(400, f"Content-Length {header[:40]!r} is not a number of bytes")
    declared = int(header)
    if declared > cap:
        raise ApiError(413, f"a batch hands over at most {cap // LEAF_BYTES} leaves ({cap} bytes); "
                       f"this body is {declared} bytes")
    if declared == 0 or declared % LEAF_BYTES:
        raise ApiError(400, str(LeavesRefused(root, f"the body is {declared} bytes, not 1 or more leaves of "
                                                    f"{LEAF_BYTES} bytes")))
    return declared


async def _read_body(request: Request, cap: int, seconds: float = MEMBER_BODY_SECONDS) -> bytes:
    body = bytearray()
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                body += chunk
                if len(body) > cap:
                    raise ApiError(413, f"the body is more than the {cap} bytes it declared")
    except TimeoutError:
        raise ApiError(408, f"the body did not arrive within {seconds:g} s; send it again") from None
    except ClientDisconnect:
        raise ApiError(400, "the client disconnected before sending the whole body") from None
    return bytes(body)


async def _in_pool(request: Request, expensive: bool, work: Callable[..., T], *args: object) -> T:
    """`work(*args)` in the RPC's ordinary or expensive pool (the default executor where
    the app has no pools: in-process tests), the index's refusals as their HTTP status. A
    cancelled request (the server stopping) lets a write in progress finish: the store
    closes after the pools."""
    pools = getattr(request.app.state, "rpc_pools", None)
    loop = asyncio.get_running_loop()
    running = loop.run_in_executor(pools[1 if expensive else 0] if pools else None, work, *args)
    try:
        return await asyncio.shield(running)
    except LeavesRefused as exc:
        raise ApiError(400, str(exc)) from None
    except RootNotAnchored as exc:
        raise ApiError(409, str(exc), retry_after=NOT_ANCHORED_RETRY_AFTER_SECONDS) from None
    except BatchHeldWithOtherSize as exc:
        raise ApiError(409, str(exc)) from None
    except MemberQuotaExceeded as exc:
        raise ApiError(exc.status, str(exc)) from None
    finally:
        if not running.done():
            await asyncio.wait({running})
