"""The seals organisations sign their contract PDFs with (SealRegistry, 印章): the list by
owner or status, and one seal — answered from the seal index (node/storage/indexes.py
"seals"), each from one snapshot.

Two rows of node/rpc/rest/routes.py's table, with the permission the member routes need
(chain:read): a seal is identity data like a member's certificate — who may sign as an
organisation, and with which picture. A seal's id is the SHA-256 of its image file; the
image itself is not on chain (its pixel digest is, what a signed PDF is checked against:
client/seals.py).
"""
from __future__ import annotations

from typing import Any

from fastapi import Path, Query, Request

from chaincode import SEAL_STATUS
from node.rpc.rest.context import as_refusals, node_of
from node.rpc.rest.params import AFTER, HEX20, HEX32, LIMIT, ORDER, hex_bytes, pattern_of, status_named

SEAL = Path(description="the seal's id: SHA-256 of its image file (32 bytes hex)", json_schema_extra=pattern_of(HEX32))
OWNER = Query(None, description="the owner's address (20 bytes hex)", json_schema_extra=pattern_of(HEX20))
STATUS = Query(None, description="Proposed, Approved or Revoked", max_length=40)


def seals(request: Request, owner: str | None = OWNER, status: str | None = STATUS, limit: int = LIMIT,
          after: str | None = AFTER, order: str = ORDER) -> dict[str, Any]:
    """Seals in registration order, by owner or status (one index per query): name, owner,
    pixel digest, the certificate they are bound to, status, approvals and when each
    step happened."""
    with as_refusals(), node_of(request).chain.indexes.snapshot() as idx:
        owner_bytes = hex_bytes(owner, 20, "owner") if owner is not None else None
        return idx.seals(owner=owner_bytes, status=status_named(status, list(SEAL_STATUS.values()), "status"),
                         after=after, limit=limit, reverse=order == "desc").to_json()


def seal(request: Request, seal: str = SEAL) -> dict[str, Any]:
    """One seal (404 if none is registered under that id)."""
    with as_refusals(), node_of(request).chain.indexes.snapshot() as idx:
        return idx.seal(hex_bytes(seal, 32, "seal"))
