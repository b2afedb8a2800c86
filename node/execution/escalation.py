"""Alerts that raise themselves: the `escalate(ids)` transaction a validator puts into each
block it proposes, for the commitments whose alert level has risen by that block's time.

CommitmentTracker.vy logs an alert (reminder, warning, demand) only when someone calls
`escalate`. Here the proposer of each block does, so the alerts follow the chain's own
clock with no cron, whichever validator's turn it is. Per block it proposes:

1. choose  - from the node's commitment index (node/storage/indexes.py: open commitments by
             deadline, each with the level already raised) the ones whose status at the
             new block's timestamp (the tracker's rule, `commitment_status`, with the
             on-chain policy) is above that level, oldest deadline first, at most
             MAX_ESCALATION_IDS and what ESCALATION_GAS_SHARE of the block allows (`pick_due`);
2. sign    - one escalate(ids) transaction from the validator's own key, gas price 0, with
             the next nonce of its account given its transactions waiting in the pool
             (`place`, `build_escalation`);
3. include - first in the block (after the validator's own pool transactions, if it has
             any there). The other validators re-execute it as any other signed
             transaction: no consensus rule changes;
4. check   - an escalation that reverted is taken out and the block built again without
             it (`Escalator.keep`); one that cannot be built is left out. The block never
             waits for, or fails because of, an escalation.

Exactly once per stage: the tracker skips a commitment already raised to a level
(`level <= c.escalation`), so two proposers of one height (a round change) can never log
an alert twice, and only a committed block's alerts exist. Nothing is kept off the chain:
a restarted node reads what is due from its index, which its own blocks wrote. (The scan
position below is an optimisation; losing it costs one longer scan.)

The validator must be an active member of the identity registry (the pool's and block's
rule, and the tracker's "only members may escalate"): the genesis `ledger genesis new`,
`ledger cluster up` and `--dev` write makes each validator a member with VALIDATOR_ROLE.
A validator that is not one logs it once and raises nothing.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eth.abc import SignedTransactionAPI
from eth_abi import decode, encode
from eth_typing import Address
from eth_utils import function_signature_to_4byte_selector, keccak

from chaincode import COMMITMENT_TRACKER, MAX_COMMITMENT_PAGE
from node.errors import NodeError
from node.execution.chain import BuiltBlock, Chain
from node.execution.permissions import Membership
from node.execution.vm import TRANSACTION_BUILDER, LedgerTransactionBuilder, QBFTHeader
from node.storage import schema
from node.storage.index_queries import commitment_status
from node.storage.indexes import COMMITMENT_STATUS_CODE, FULFILLED
from node.storage.store import LevelStore

log = logging.getLogger("ledger.escalation")

ESCALATE = function_signature_to_4byte_selector("escalate(uint256[])")
# The role genesis gives validators: it carries only what every member may do (escalate,
# anchor evidence, be named a party), no right of its own over contracts, commitments or
# members, unlike PARTY (a contract party), REGULATOR, COURT or NOTARY; and an auditor is
# what a validator is to the chain: it checks every block.
VALIDATOR_ROLE = "AUDITOR"
# The tracker's MAX_PAGE: more ids in one call revert.
MAX_ESCALATION_IDS = MAX_COMMITMENT_PAGE
# Gas of one escalate call: a fixed part (the 21,000 intrinsic gas, the call, the member
# check) and a part per id raised. Measured worst case: a first alert (a storage write from
# zero) on commitments whose clause and unit are the tracker's 64 characters, 67,324 gas
# per id over 200 ids; 80,000 leaves ~20% for a compiler or fork that prices storage
# differently (tests/unit/node/test_escalation.py checks the bound on a real chain).
ESCALATION_BASE_GAS = 60_000
ESCALATION_GAS_PER_ID = 80_000
# The escalation takes at most this share of the gas a block may carry (the execution
# budget of node/consensus/backend.py in a multi-validator network, else the gas limit),
# so pool transactions keep the rest and the block stays inside the round timer:
# 200 first alerts use 13.5M gas, about a second of execution on a 2-core EPYC.
ESCALATION_GAS_SHARE = 0.5
# Open-commitment index rows read per block built: bounds the proposer's extra work
# (measured 13 ms for 1,000 rows). Past it, the next block goes on from where this one
# stopped, so every row is reached within a few blocks however many there are.
MAX_SCAN_ROWS = 1_000
# After an escalation reverted or could not be built, the blocks this validator proposes
# at the next this many heights carry none: a persistent fault costs one extra block build
# per this many heights, not one per block.
FAILURE_BACKOFF_BLOCKS = 16
DEMAND = COMMITMENT_STATUS_CODE["demand"]
_MAX_TIME = 2**64 - 1  # the index's deadline keys are 8 bytes


class EscalationError(NodeError):
    """An escalation that cannot be built (logged; the block goes without it)."""


class TransactionSigner(Protocol):
    """What signs the escalation: the validator's key (node/consensus/sealing.py ValidatorKey)."""

    address: bytes

    def sign(self, digest: bytes) -> bytes: ...  # 65 bytes: r, s, recovery id 0/1


@dataclass(frozen=True)
class Escalation:
    """The commitments one block escalates, and the gas its transaction is given."""

    ids: tuple[int, ...]
    gas: int


@dataclass(frozen=True)
class Pick:
    """What `pick_due` chose from a run of index rows."""

    ids: list[int]
    examined: int  # rows looked at: all of them, or up to the last chosen when the limit was reached
    settled: int   # leading rows already raised to demand: never due again


# -- pure: choosing, gas, nonce, the transaction -----------------------------------------


def escalation_gas(count: int) -> int:
    return ESCALATION_BASE_GAS + ESCALATION_GAS_PER_ID * count


def affordable_ids(gas_budget: int) -> int:
    """How many ids an escalation may carry in a block that may carry `gas_budget` gas."""
    spare = int(gas_budget * ESCALATION_GAS_SHARE) - ESCALATION_BASE_GAS
    return max(0, min(MAX_ESCALATION_IDS, spare // ESCALATION_GAS_PER_ID))


def pick_due(records: Sequence[dict[str, Any]], now: int, policy: tuple[int, int], limit: int) -> Pick:
    """The ids among index `records` (open commitments in deadline order) whose status at
    block time `now` is an alert level above the one already raised, at most `limit`."""
    ids: list[int] = []
    examined = len(records)
    for position, record in enumerate(records):
        level = COMMITMENT_STATUS_CODE[commitment_status(record, now, policy)]
        if level != FULFILLED and level > COMMITMENT_STATUS_CODE[record["raised"]]:
            ids.append(int(record["id"]))
            if len(ids) >= limit:
                examined = position + 1
                break
    settled = 0
    while settled < len(records) and record_settled(records[settled]):
        settled += 1
    return Pick(ids, examined, settled)


def record_settled(record: dict[str, Any]) -> bool:
    """Raised to demand (the last alert) or fulfilled: never escalated again."""
    return record["confirmation"] is not None or COMMITMENT_STATUS_CODE[record["raised"]] >= DEMAND


def place(state_nonce: int, pending_nonce: int, own_selected: int) -> tuple[int, bool] | None:
    """The escalation's nonce and whether it goes first in the block, given the account's
    nonce at the parent, its next nonce counting its transactions waiting in the pool,
    and how many of those the block carries. None: some wait for a later block, so any
    nonce would collide with one of them or leave a gap; this block escalates nothing."""
    waiting = pending_nonce - state_nonce
    if waiting <= 0:
        return state_nonce, True
    if own_selected == waiting:
        return pending_nonce, False  # after its own transactions, which take the nonces before it
    return None


def escalate_calldata(ids: Iterable[int]) -> bytes:
    return ESCALATE + encode(["uint256[]"], [list(ids)])


def build_escalation(signer: TransactionSigner, chain_id: int, nonce: int, ids: Sequence[int]) -> SignedTransactionAPI:
    """escalate(ids) to the commitment tracker, signed by `signer` (EIP-1559, gas price 0)."""
    if not 0 < len(ids) <= MAX_ESCALATION_IDS:
        raise EscalationError(f"an escalation carries 1..{MAX_ESCALATION_IDS} ids, not {len(ids)}")
    gas = escalation_gas(len(ids))
    unsigned = LedgerTransactionBuilder.new_unsigned_dynamic_fee_transaction(
        chain_id, nonce, 0, 0, gas, Address(COMMITMENT_TRACKER), 0, escalate_calldata(ids), ())
    signature = signer.sign(keccak(unsigned.get_message_for_signing()))
    if len(signature) != 65:
        raise EscalationError(f"the validator key gave a {len(signature)}-byte signature, not 65")
    signed = LedgerTransactionBuilder.new_dynamic_fee_transaction(
        chain_id, nonce, 0, 0, gas, Address(COMMITMENT_TRACKER), 0, escalate_calldata(ids), (),
        signature[64], int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"))
    # Decoded from its encoding, as a transaction from the wire is: py-evm's builder makes a
    # London-class object that our block's transaction list cannot serialise.
    return TRANSACTION_BUILDER.decode(signed.encode())


def with_validator_members(members: Sequence[tuple[bytes, str]], validators: Iterable[bytes]) -> list[tuple[bytes, str]]:
    """Genesis members plus each validator not already listed, as VALIDATOR_ROLE."""
    listed = {address for address, _ in members}
    return [*members, *((v, VALIDATOR_ROLE) for v in validators if v not in listed)]


def _deadline_key(seconds: int) -> bytes:
    return min(max(0, seconds), _MAX_TIME).to_bytes(8, "big")


# -- the node's side: index, state, log -------------------------------------------------


class Escalator:
    """One validator's automatic escalations. Called on the consensus thread only (it owns
    chain writes, so the index does not move under a scan)."""

    def __init__(
        self,
        chain: Chain,
        store: LevelStore,
        signer: TransactionSigner,
        *,
        account_nonce: Callable[[bytes], int],
        pending_nonce: Callable[[bytes], int],
        scan_rows: int = MAX_SCAN_ROWS,
    ) -> None:
        self._chain = chain
        self._store = store
        self._signer = signer
        self._account_nonce = account_nonce  # at the head, which is the parent of a proposal
        self._pending_nonce = pending_nonce  # counting the pool's transactions
        self._scan_rows = scan_rows
        # Where scans start: the open-index key up to which every commitment is settled
        # (raised to demand, never due again), and where the last capped scan stopped.
        # Commitments are added with deadlines after their block's time, so never below
        # the floor. Both live in memory only: a restart scans from the start once.
        self._floor: bytes | None = None
        self._resume: bytes | None = None
        self._membership = chain.membership or Membership(chain.state_at)
        self._member: bool | None = None  # last answer, so a change is logged once
        self._quiet_until = -1            # parent height up to which failures keep it quiet
        self._last_failure: str | None = None

    @property
    def address(self) -> bytes:
        return self._signer.address

    def plan(self, parent: QBFTHeader, timestamp: int, gas_budget: int) -> Escalation | None:
        """The commitments the child of `parent` at `timestamp` should escalate, or None."""
        if parent.block_number <= self._quiet_until:
            return None
        try:
            if not self._is_member(parent):
                return None
            limit = affordable_ids(gas_budget)
            if limit == 0:
                return None
            ids = self._due(timestamp, limit)
        except Exception as exc:  # never let an alert stop a block
            self._failed(parent, f"choosing due commitments failed: {exc}")
            return None
        return Escalation(tuple(ids), escalation_gas(len(ids))) if ids else None

    def insert(self, escalation: Escalation, transactions: Sequence[SignedTransactionAPI], parent: QBFTHeader,
               ) -> tuple[list[SignedTransactionAPI], SignedTransactionAPI | None]:
        """`transactions` (the pool's selection) with the signed escalation placed, and it;
        unchanged and None when it cannot go into this block."""
        me = self._signer.address
        try:
            own = sum(1 for tx in transactions if tx.sender == me)
            placed = place(self._account_nonce(me), self._pending_nonce(me), own)
            if placed is None:
                log.debug("block %d: no escalation; transactions of 0x%s wait in the pool",
                          parent.block_number + 1, me.hex())
                return list(transactions), None
            nonce, first = placed
            tx = build_escalation(self._signer, self._chain.genesis.chain_id, nonce, escalation.ids)
        except Exception as exc:
            self._failed(parent, f"building the escalation failed: {exc}")
            return list(transactions), None
        return ([tx, *transactions] if first else [*transactions, tx]), tx

    def keep(self, built: BuiltBlock, tx: SignedTransactionAPI, parent: QBFTHeader) -> bool:
        """Whether `built` may go as it is: False when the escalation reverted (build it
        again without). One the block rule refused is out of the block already."""
        for index, included in enumerate(built.transactions):
            if included.hash == tx.hash:
                if built.receipts[index].state_root == b"\x01":  # Byzantium status: success
                    log.info("block %d escalates %d commitment(s)", built.header.block_number,
                             len(escalate_ids(tx.data)))
                    return True
                self._failed(parent, "the escalation reverted")
                return False
        reason = next((r.reason for r in built.rejected if r.transaction.hash == tx.hash), "left out")
        self._failed(parent, f"the escalation was refused: {reason}")
        return True

    # -- inside

    def _is_member(self, parent: QBFTHeader) -> bool:
        member = self._membership.is_member(parent, self._signer.address)
        if member != self._member:
            if not member:
                log.warning("validator 0x%s is not an active member of the identity registry: it raises no "
                            "commitment alerts (grant it a role, e.g. %s)", self._signer.address.hex(), VALIDATOR_ROLE)
            elif self._member is not None:
                log.info("validator 0x%s is a member now: it raises due commitment alerts",
                         self._signer.address.hex())
            self._member = member
        return member

    def _due(self, timestamp: int, limit: int) -> list[int]:
        indexes = self._chain.indexes
        policy = indexes.policy()
        # Open commitments due for a reminder or more have deadline <= timestamp + window.
        upper = schema.COMMITMENT_OPEN + _deadline_key(timestamp + policy[0] + 1)
        start = self._floor if self._resume is None else self._resume
        # A scan that starts where the settled prefix ends (at the floor, or resumed there
        # after a chunk that was all settled) extends that prefix: the floor moves past every
        # row settled so far, not one chunk per pass over the index.
        from_floor = start == self._floor
        rows = self._store.scan(schema.COMMITMENT_OPEN, upper, after=start, limit=self._scan_rows)
        records = [indexes.commitment(int.from_bytes(key[-8:], "big")) for key, _ in rows]
        pick = pick_due(records, timestamp, policy, limit)
        if from_floor and pick.settled:
            self._floor = rows[pick.settled - 1][0]
        if len(pick.ids) >= limit or len(rows) >= self._scan_rows:
            self._resume = rows[pick.examined - 1][0]  # the next block goes on from here
        else:
            self._resume = None  # reached the end: the next block starts at the floor again
        return pick.ids

    def _failed(self, parent: QBFTHeader, reason: str) -> None:
        self._quiet_until = parent.block_number + FAILURE_BACKOFF_BLOCKS
        if reason != self._last_failure:
            log.warning("block %d: %s; the blocks this validator proposes go without escalations for the next %d heights",
                        parent.block_number + 1, reason, FAILURE_BACKOFF_BLOCKS)
            self._last_failure = reason


def escalate_ids(data: bytes) -> list[int]:
    """The ids of escalate(ids) calldata (for logs and tests)."""
    if data[:4] != ESCALATE:
        raise EscalationError("not an escalate(uint256[]) call")
    (ids,) = decode(["uint256[]"], data[4:])
    return [int(i) for i in ids]
