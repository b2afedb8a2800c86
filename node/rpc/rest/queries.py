"""The /v1/ queries regulators, courts and auditors ask: the chain summary, contracts,
evidence, commitments and members, answered from the event indexes
(node/storage/indexes.py), each page from one snapshot of them.

Each handler is a route of node/rpc/rest/routes.py's table, which holds the permission it
needs and checks it before the handler runs; a handler only narrows what an admitted
caller sees (a contracts:read-own party: its own contracts). Lists are pages: `limit`
items and `next`, the token to pass back as `after` (null on the last page).
"""
from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address
from fastapi import Path, Query, Request

from chaincode import COMMITMENT_STATUS, CONTRACT_STATUS, SEAL_STATUS
from node.access.http import Principal
from node.errors import NotFound
from node.rpc.rest.context import ApiError, admitted, as_refusals, node_of, own_contracts_only
from node.rpc.rest.params import (
    AFTER,
    HEX20,
    HEX32,
    HISTORY_LIMIT,
    LIMIT,
    ORDER,
    hex_bytes,
    moment,
    pattern_of,
    status_named,
    text_query,
    time_query,
)
from node.storage.index_queries import Indexes, commitment_status

CONTRACT_ID = Path(description="the contract's id (32 bytes hex)", json_schema_extra=pattern_of(HEX32))
DIGEST = Path(description="the anchored digest (32 bytes hex)", json_schema_extra=pattern_of(HEX32))
ADDRESS = Path(description="the member's address (20 bytes hex)", json_schema_extra=pattern_of(HEX20))
COMMITMENT_ID = Path(description="the commitment's id, as CommitmentTracker numbered it")


def summary(request: Request) -> dict[str, Any]:
    """The chain's id and crypto profile; height, validators, members and counts of
    contracts, evidence, commitments and seals."""
    node = node_of(request)
    head = node.chain.head
    with node.chain.indexes.snapshot() as idx:
        c, indexed = idx.counters(), idx.height()
    return {
        # The profile is genesis's (IdentityRegistry.crypto_profile holds the same; nothing changes it).
        "chainId": node.genesis.chain_id, "cryptoProfile": node.genesis.crypto_profile,
        "height": head.block_number, "head": "0x" + head.hash.hex(),
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
            "seals": {"total": c.get("seals", 0), **{s: c.get(f"seals.{s}", 0) for s in SEAL_STATUS.values()}},
        },
    }


def contracts(
    request: Request,
    project: str | None = text_query("project code"),
    party: str | None = Query(None, description="a party's address (20 bytes hex)", json_schema_extra=pattern_of(HEX20)),
    status: str | None = Query(None, description="Pending, Effective, Superseded or Voided"),
    since: str | None = time_query("registered at or after"),
    until: str | None = time_query("registered at or before"),
    limit: int = LIMIT, after: str | None = AFTER, order: str = ORDER,
) -> dict[str, Any]:
    """Contracts by project code, party, status or registration date (one index per query)."""
    who = admitted(request)
    with as_refusals(), node_of(request).chain.indexes.snapshot() as idx:
        party_bytes = hex_bytes(party, 20, "party") if party is not None else None
        own = own_contracts_only(who)
        if own is not None:
            if party_bytes not in (None, own) or any(v is not None for v in (project, status, since, until)):
                raise ApiError(403, f"role {who.role} lists only the contracts of its own address (party=0x{own.hex()})")
            party_bytes = own
        return idx.contracts(
            project=project, party=party_bytes, status=status_named(status, list(CONTRACT_STATUS.values()), "status"),
            since=moment(since, "since"), until=moment(until, "until", end_of_day=True),
            after=after, limit=limit, reverse=order == "desc").to_json()


def visible_contract(idx: Indexes, who: Principal, contract_id: bytes) -> dict[str, Any]:
    """The contract, if the caller may see it (a contracts:read-own party: only its own)."""
    record = idx.contract(contract_id)
    own = own_contracts_only(who)
    if own is not None and "0x" + own.hex() not in {p.lower() for p in record["parties"]}:
        raise ApiError(403, f"role {who.role}: 0x{own.hex()} is not a party to contract 0x{contract_id.hex()}")
    return record


def contract(request: Request, contract_id: str = CONTRACT_ID) -> dict[str, Any]:
    """One contract: its current status, parties and every signature (attestation)."""
    with as_refusals(), node_of(request).chain.indexes.snapshot() as idx:
        return visible_contract(idx, admitted(request), hex_bytes(contract_id, 32, "contract id"))


def contract_events(request: Request, contract_id: str = CONTRACT_ID, limit: int = HISTORY_LIMIT,
                    after: str | None = AFTER) -> dict[str, Any]:
    """A contract's history: registration, each signature, effective, void requests, voiding."""
    with as_refusals(), node_of(request).chain.indexes.snapshot() as idx:
        key = hex_bytes(contract_id, 32, "contract id")
        visible_contract(idx, admitted(request), key)
        return idx.contract_events(key, after=after, limit=limit).to_json()


def evidence(
    request: Request,
    digest: str | None = Query(None, description="the anchored digest (32 bytes hex)", json_schema_extra=pattern_of(HEX32)),
    case: str | None = text_query("case reference"),
    kind: str | None = text_query("evidence kind (webpage, contract-pdf, ...)"),
    limit: int = LIMIT, after: str | None = AFTER, order: str = ORDER,
) -> dict[str, Any]:
    """Evidence anchorings by digest, case or kind (or all, in chain order)."""
    with as_refusals(), node_of(request).chain.indexes.snapshot() as idx:
        digest_bytes = hex_bytes(digest, 32, "digest") if digest is not None else None
        return idx.evidence(digest=digest_bytes, case=case, kind=kind, after=after, limit=limit,
                            reverse=order == "desc").to_json()


def evidence_by_digest(request: Request, digest: str = DIGEST, limit: int = LIMIT,
                       after: str | None = AFTER) -> dict[str, Any]:
    """Every anchoring of one digest, and every indexed batch that holds it as a member,
    in chain order (404 if neither)."""
    with as_refusals(), node_of(request).chain.indexes.snapshot() as idx:
        key = hex_bytes(digest, 32, "digest")
        page = idx.evidence(digest=key, after=after, limit=limit)
        if not page.items and after is None:
            raise NotFound(f"digest 0x{key.hex()} was never anchored, and no batch whose members this node "
                           "holds has it")
        return page.to_json()


def member_proof(
    request: Request, digest: str = DIGEST,
    root: str | None = Query(None, description="the batch root, when the digest is a member of several batches "
                             "(default: the first in chain order)", json_schema_extra=pattern_of(HEX32)),
) -> dict[str, Any]:
    """A batch member's entry with its inclusion path to the anchored root, and the
    anchoring transaction: what rebuilding its receipt needs (404 if no batch this node
    indexed holds it)."""
    with as_refusals(), node_of(request).chain.indexes.snapshot() as idx:
        key = hex_bytes(digest, 32, "digest")
        return idx.member_proof(key, hex_bytes(root, 32, "root") if root is not None else None)


def commitments(
    request: Request,
    status: str | None = Query(None, description="status now: on track, reminder, warning, demand, fulfilled"),
    raised: str | None = Query(None, description="the level the chain last raised (or fulfilled)"),
    unit: str | None = text_query("responsible unit"),
    due_after: str | None = time_query("deadline at or after"),
    due_before: str | None = time_query("deadline at or before"),
    limit: int = LIMIT, after: str | None = AFTER, order: str = ORDER,
) -> dict[str, Any]:
    """Commitments by status at the head block's time, raised level, responsible unit or deadline."""
    node = node_of(request)
    statuses = list(COMMITMENT_STATUS.values())
    with as_refusals(), node.chain.indexes.snapshot() as idx:
        return idx.commitments(
            now=node.chain.head.timestamp, status=status_named(status, statuses, "status"),
            raised=status_named(raised, statuses, "raised"), unit=unit, due_after=moment(due_after, "due_after"),
            due_before=moment(due_before, "due_before", end_of_day=True),
            after=after, limit=limit, reverse=order == "desc").to_json()


def commitment_report(request: Request, unit: str | None = text_query("responsible unit")) -> dict[str, Any]:
    """Per responsible unit: commitments by status now, alerts and supervisions raised."""
    node = node_of(request)
    with as_refusals(), node.chain.indexes.snapshot() as idx:
        return idx.report(now=node.chain.head.timestamp, unit=unit)


def commitment(request: Request, commitment_id: int = COMMITMENT_ID) -> dict[str, Any]:
    """One commitment, with its status at the head block's time."""
    node = node_of(request)
    with as_refusals(), node.chain.indexes.snapshot() as idx:
        record = idx.commitment(commitment_id)
        record["status"] = commitment_status(record, node.chain.head.timestamp, idx.policy())
        return record


def commitment_events(request: Request, commitment_id: int = COMMITMENT_ID, limit: int = HISTORY_LIMIT,
                      after: str | None = AFTER) -> dict[str, Any]:
    """A commitment's history: added, reported, confirmed, each alert raised."""
    with as_refusals(), node_of(request).chain.indexes.snapshot() as idx:
        return idx.commitment_events(commitment_id, after=after, limit=limit).to_json()


def member(request: Request, address: str = ADDRESS) -> dict[str, Any]:
    """A member's roles and certificate (members named in genesis have none)."""
    with as_refusals(), node_of(request).chain.indexes.snapshot() as idx:
        return idx.member(hex_bytes(address, 20, "address"))
