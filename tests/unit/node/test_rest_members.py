"""The member upload's slots (node/rpc/rest/members.py UploadSlots): a caller holds at most
its share and the node its total, each refusal with its status and Retry-After, and every
slot given back exactly once."""
from __future__ import annotations

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
