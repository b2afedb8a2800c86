"""The member upload's slots (node/rpc/rest/members.py UploadSlots): a caller holds at most
its share and the node its total, each refusal with its status and Retry-After, and every
slot given back exactly once."""
from __future__ import annotations

import asyncio

import pytest

from node.rpc.rest.context import ApiError
from node.rpc.rest.members import UPLOAD_RETRY_AFTER_SECONDS, UploadSlots


def test_a_caller_holds_its_share_and_the_node_its_total() -> None:
    slots = UploadSlots(total=2, per_caller=1)
    slots.claim("token:a")
    with pytest.raises(ApiError) as caller_refused:
        slots.claim("token:a")
    assert caller_refused.value.status == 429 and caller_refused.value.retry_after == UPLOAD_RETRY_AFTER_SECONDS
    slots.claim("token:b")
    with pytest.raises(ApiError) as node_refused:
        slots.claim("token:c")
    assert node_refused.value.status == 503 and "2 member uploads" in str(node_refused.value)
    slots.release("token:a")
    slots.claim("token:c")  # a released slot is free again, to anyone
    slots.release("token:b")
    slots.release("token:c")
    assert slots.count == 0
    slots.release("token:c")  # a release too many never goes below zero
    assert slots.count == 0
    slots.claim("token:a")
    assert slots.count == 1


def test_a_body_that_does_not_arrive_in_time_is_refused_408() -> None:
    """A client trickling its body must not hold an upload slot for ever: the read has a
    deadline, and the handler's `finally` gives the slot back."""
    from starlette.requests import Request

    from node.rpc.rest.members import _read_body

    async def trickle() -> dict[str, object]:
        await asyncio.sleep(5)  # longer than the deadline below: nothing more arrives
        return {"type": "http.request", "body": b"x", "more_body": True}

    request = Request({"type": "http", "method": "PUT", "path": "/", "headers": []}, trickle)
    with pytest.raises(ApiError) as refused:
        asyncio.run(_read_body(request, 1_000, seconds=0.05))
    assert refused.value.status == 408


# -- the cheap refusals come before the body is read ------------------------------------------------


def stalled_upload(index: object, root: bytes, headers: list[tuple[bytes, bytes]]) -> object:
    """`put_members` for a client that sent its headers and then stalls its body (nothing
    more ever arrives): its answer, or the ApiError it is refused with."""
    from types import SimpleNamespace

    from starlette.requests import Request

    from node.access.http import Principal
    from node.rpc.rest.members import MemberUploads, put_members

    async def stalled() -> dict[str, object]:
        await asyncio.Event().wait()  # the body never comes
        raise AssertionError("unreachable")

    app = SimpleNamespace(state=SimpleNamespace(members=MemberUploads(index)))  # type: ignore[arg-type]
    scope = {"type": "http", "method": "PUT", "path": f"/v1/evidence/0x{root.hex()}/members", "headers": headers,
             "app": app, "client": ("127.0.0.1", 40000),
             "state": {"principal": Principal("ADMIN", "anonymous", anonymous=True)}}

    async def call() -> object:
        # Far below the body's own deadline (MEMBER_BODY_SECONDS): a refusal that waited
        # for the body would run into this instead.
        async with asyncio.timeout(10):
            try:
                return await put_members(Request(scope, stalled), "0x" + root.hex())
            except ApiError as refused:
                return refused

    return asyncio.run(call())


def test_the_cheap_refusals_come_with_the_body_unread(tmp_path: object) -> None:
    import hashlib
    import json
    from pathlib import Path

    from evidence import merkle
    from node.storage import schema
    from node.storage.members import MemberIndex, MemberQuota, index_bytes
    from tests.unit.node.indexlogs import Block, open_store, store_blocks
    from tests.unit.node.test_members import anchored_root

    batch = [hashlib.sha256(f"exhibit {i}".encode()).digest() for i in range(5)]
    root = merkle.root(batch)
    length = [(b"content-length", str(32 * len(batch)).encode())]
    store = open_store(Path(str(tmp_path)) / "chain")
    try:
        index = MemberIndex(store, MemberQuota(store_bytes=10 * index_bytes(5), caller_bytes=index_bytes(5) - 1))
        # 1. no Content-Length (a chunked body): 411; one that is not whole leaves: 400
        refused = stalled_upload(index, root, [(b"transfer-encoding", b"chunked")])
        assert isinstance(refused, ApiError) and refused.status == 411
        refused = stalled_upload(index, root, [(b"content-length", b"161")])
        assert isinstance(refused, ApiError) and refused.status == 400 and "161 bytes" in str(refused)
        # 2. the root not anchored yet: 409, to retry after its block
        refused = stalled_upload(index, root, length)
        assert isinstance(refused, ApiError) and refused.status == 409 and refused.retry_after
        # anchored, but with another count than the body declares: 400
        store_blocks(store, [Block().tx(anchored_root(root, len(batch)))], first_height=1)
        refused = stalled_upload(index, root, [(b"content-length", b"192")])
        assert isinstance(refused, ApiError) and refused.status == 400 and "leaf count of 5" in str(refused)
        # 3. over the caller's quota: 413
        refused = stalled_upload(index, root, length)
        assert isinstance(refused, ApiError) and refused.status == 413 and "quota" in str(refused)
        # 4. a batch the node holds already: 200 as it is; with another count: 409
        MemberIndex(store).add(root, b"".join(batch), "token:another")
        answered = stalled_upload(index, root, length)
        assert not isinstance(answered, ApiError) and answered.status_code == 200  # type: ignore[attr-defined]
        assert json.loads(answered.body)["created"] is False  # type: ignore[attr-defined]
        refused = stalled_upload(index, root, [(b"content-length", b"192")])
        assert isinstance(refused, ApiError) and refused.status == 409 and refused.retry_after is None
        assert "holds this batch with 5 members" in str(refused)
        assert index.usage("client:127.0.0.1") == (0, index_bytes(5))  # none of it charged to this caller
        assert store.get(schema.MEMBER_USAGE + b"client:127.0.0.1") is None
    finally:
        store.close()
