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
