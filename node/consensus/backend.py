"""What the QBFT machine asks of the chain, on a real node: build, check, digest and
commit blocks (`NodeBackend`, the machine's `Backend` in node/consensus/interface.py).

It runs on the driver's consensus thread only (node/consensus/driver.py), which owns every
chain write. Blocks a proposal carries are executed once per height and kept by block
hash, so a re-proposal in a later round and the commit reuse that execution.

How much a block may carry is bounded by execution time as well as gas
(`ExecutionBudget`): in a multi-validator network a proposal is executed by the proposer
and then by every other validator before the round timer runs out. Both are counted in
gas *used*, which is what execution costs: the budget learns seconds per unit of gas
used, and the pool's transactions are chosen by an estimate of the gas each will use
(`GasEstimates`, from the receipts of recent transactions to the same function) rather
than by their gas limits, which clients set well above use (x1.3 is common). The block
stays valid whatever the estimates say: the chosen transactions' limits still fit in the
block gas limit (`select_by_estimate`).
"""
from __future__ import annotations

import functools
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Sequence

from eth.abc import ReceiptAPI, SignedTransactionAPI
from eth_hash.auto import keccak

from evidence import qbft
from node.consensus.interface import Backend, Decided, InvalidProposal
from node.consensus.sealing import VANITY, with_seals
from node.errors import InvalidBlock
from node.execution.chain import BuiltBlock
from node.execution.txpool import PoolEntry, TxPool
from node.execution.vm import QBFTHeader
from node.network import importer
from node.service import Node

log = logging.getLogger("ledger.consensus")

# Decoded blocks kept per height (the proposal, re-proposals, conflicting proposals).
DECODE_CACHE = 16
# Block size in a multi-validator network is bounded by execution time, not only gas:
# a proposal must be executed by the proposer and then by every other validator (on
# machines that may be busy) before the round timer runs out, or the round changes and
# the work is lost. One execution is kept to this share of requesttimeoutseconds.
EXECUTION_SHARE_OF_TIMEOUT = 0.25
FIRST_BLOCK_GAS = 20_000_000     # before anything was measured (~200 contract calls)
MIN_BLOCK_GAS = 2_000_000
MIN_BUDGET_SAMPLE_GAS = 500_000  # blocks with less gas used are not measured
BUDGET_WEIGHT = 0.3
# Gas estimates per (to, 4-byte selector): the highest gasUsed/gas ratio among the last
# ESTIMATE_WINDOW transactions to that function. The highest, not the mean: an estimate
# too low only makes a block take longer than its time budget, but erring that way all
# the time would make the budget a fiction. Eight covers the alternation seen in practice
# (a first signature and a last, Effective-making one; a write from zero and an overwrite).
ESTIMATE_WINDOW = 8
# Functions remembered (least recently seen forgotten first): the system contracts have
# ~60 and a deployment's own contracts a few hundred; 4,096 entries of ~1 KB is ~4 MB.
MAX_ESTIMATE_KEYS = 4096
# No estimate is below this share of a transaction's limit, so a block never holds more
# than 1/MIN_USED_RATIO times what it would by limits (it bounds how many candidates are
# asked of the pool, and what a wrong estimate can cost in time: a sender that trains its
# estimates on a cheap path and then sends the expensive one makes a block take at most
# twice its time budget, still half the round timer). The workloads measured use 0.5 to
# 0.8 of their limits (Storage.set 0.51, e-contracts 0.77 at the SDK's 1.3x limits).
MIN_USED_RATIO = 0.5


class ExecutionBudget:
    """How much gas one block may use so that executing it takes about `seconds` here:
    learnt from this node's own block builds and proposal checks (an exponentially
    weighted average of seconds per unit of gas used, which is what `select_by_estimate`
    fills a block by)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.per_gas: float | None = None

    def observe(self, gas: int, seconds: float) -> None:
        if gas < MIN_BUDGET_SAMPLE_GAS:
            return  # empty and tiny blocks are mostly fixed cost; they say little per gas
        sample = seconds / gas
        previous = self.per_gas
        self.per_gas = sample if previous is None else previous + BUDGET_WEIGHT * (sample - previous)

    def max_gas(self) -> int:
        if self.per_gas is None:
            return FIRST_BLOCK_GAS
        return max(MIN_BLOCK_GAS, int(self.seconds / self.per_gas))


# A receipt's status word after Byzantium (py-evm keeps it in `state_root`): success.
RECEIPT_SUCCESS = b"\x01"


def function_key(tx: SignedTransactionAPI) -> tuple[bytes, bytes, bytes]:
    """What a transaction's gas use is estimated by: its sender, target and 4-byte
    selector (a contract creation: empty target). The sender is part of it so that no one
    can lower the estimates of other senders' calls to a shared function (by sending it
    cheap calls that revert early, say) and make their transactions overfill blocks."""
    return bytes(tx.sender), bytes(tx.to), bytes(tx.data[:4])


class GasEstimates:
    """How much gas a transaction will use, from what the same sender's recent successful
    transactions to the same function used (as a share of their limits): at most its
    limit, at least MIN_USED_RATIO of it, its limit for one not seen yet. Reverted and
    failed transactions teach nothing: their gas says little about the function's path.

    Used on the consensus thread only (create_block, validate_block), so it takes no
    lock. Nothing consensus-critical depends on it: it only chooses which valid
    transactions a proposal carries."""

    def __init__(self, window: int = ESTIMATE_WINDOW, max_keys: int = MAX_ESTIMATE_KEYS) -> None:
        self._window = window
        self._max_keys = max_keys
        self._ratios: OrderedDict[tuple[bytes, bytes, bytes], deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._ratios)

    def observe(self, transactions: Sequence[SignedTransactionAPI], receipts: Sequence[ReceiptAPI]) -> None:
        """Learn from an executed block (a receipt's gas_used is the block's running total)."""
        previous = 0
        for tx, receipt in zip(transactions, receipts, strict=True):
            used, previous = receipt.gas_used - previous, receipt.gas_used
            if tx.gas <= 0 or receipt.state_root != RECEIPT_SUCCESS:
                continue
            key = function_key(tx)
            ratios = self._ratios.get(key)
            if ratios is None:
                ratios = self._ratios[key] = deque(maxlen=self._window)
                while len(self._ratios) > self._max_keys:
                    self._ratios.popitem(last=False)
            else:
                self._ratios.move_to_end(key)
            ratios.append(used / tx.gas)

    def estimate(self, tx: SignedTransactionAPI) -> int:
        ratios = self._ratios.get(function_key(tx))
        if not ratios:
            return int(tx.gas)
        ratio = min(1.0, max(MIN_USED_RATIO, max(ratios)))
        return min(int(tx.gas), math.ceil(tx.gas * ratio))


def select_by_estimate(
    pool: TxPool, estimates: GasEstimates, gas_budget: int, block_gas_limit: int
) -> list[PoolEntry]:
    """Ready transactions in the pool's order whose *estimated* gas use fits in
    `gas_budget` and whose gas *limits* fit in `block_gas_limit`.

    The second bound keeps the block valid whatever the estimates: py-evm refuses a
    transaction whose limit exceeds the gas the block has left (gas used so far), and
    the gas used before any transaction is at most the sum of the limits before it. A
    transaction that does not fit waits for the next block, and so does every later one
    of its sender (nonce order), as in `TxPool.select`."""
    candidates = pool.select(min(block_gas_limit, int(gas_budget / MIN_USED_RATIO)))
    chosen: list[PoolEntry] = []
    waiting: set[bytes] = set()
    used = limits = 0
    for entry in candidates:
        if entry.sender in waiting:
            continue
        estimate = estimates.estimate(entry.tx)
        if used + estimate > gas_budget or limits + entry.tx.gas > block_gas_limit:
            waiting.add(entry.sender)
            continue
        used += estimate
        limits += entry.tx.gas
        chosen.append(entry)
    return chosen


class NodeBackend(Backend):
    """What the machine asks of the chain. Runs on the consensus thread only."""

    def __init__(self, node: Node) -> None:
        self._node = node
        # Executed blocks of this height by block hash (which ignores the round, so a
        # re-proposal finds the execution of the original proposal).
        self._built: dict[bytes, BuiltBlock] = {}
        self._decode = functools.lru_cache(maxsize=DECODE_CACHE)(importer.decode_block)
        self.forge_seals = False
        self.execution_budget = ExecutionBudget(
            EXECUTION_SHARE_OF_TIMEOUT * node.genesis.qbft.request_timeout
        )
        self.gas_estimates = GasEstimates()

    def new_height(self) -> None:
        self._built.clear()

    def block(self, data: bytes) -> importer.WireBlock:
        return self._decode(data)

    def create_block(self, height: int, round: int) -> bytes:
        node = self._node
        chain = node.chain
        parent = chain.head
        if parent.block_number + 1 != height:
            raise InvalidProposal(f"asked to build height {height} on head {parent.block_number}")
        assert node.key is not None
        tally = chain.tally_after(parent)
        validators = tally.validators
        gas_budget = parent.gas_limit
        if len(validators) > 1:
            # Every other validator re-executes the block before it prepares, within the
            # round timer: keep the work of one execution inside a share of it.
            gas_budget = min(gas_budget, self.execution_budget.max_gas())
        timestamp = max(parent.timestamp + node.genesis.qbft.block_period, int(node.now()))
        # Alerts that raise themselves (node/execution/escalation.py): the due commitments'
        # escalate(ids), signed by this validator, in a share of the gas budget.
        escalator = node.escalator
        escalation = escalator.plan(parent, timestamp, gas_budget) if escalator is not None else None
        reserved = escalation.gas if escalation is not None else 0
        entries = select_by_estimate(node.pool, self.gas_estimates, gas_budget - reserved, parent.gas_limit - reserved)
        if not entries and gas_budget < parent.gas_limit:
            entries = node.pool.select(parent.gas_limit - reserved)[:1]  # one large transaction still goes
        entries = _within_bytes(entries, importer.MAX_BLOCK_BYTES - importer.BLOCK_OVERHEAD_BYTES)
        transactions, escalate_tx = [e.tx for e in entries], None
        if escalator is not None and escalation is not None:
            transactions, escalate_tx = escalator.insert(escalation, transactions, parent)
        vote = node.votes.vote_for_proposal(validators, tally.ballots_by(node.key.address))
        extra = qbft.ExtraData(VANITY, tuple(validators), vote, round, ())
        started = time.perf_counter()
        built = chain.build_block(
            transactions, timestamp=timestamp, coinbase=node.key.address, extra=extra, parent=parent
        )
        if escalator is not None and escalate_tx is not None and not escalator.keep(built, escalate_tx, parent):
            built = chain.build_block(  # it reverted: the block goes without it
                [tx for tx in transactions if tx is not escalate_tx], timestamp=timestamp,
                coinbase=node.key.address, extra=extra, parent=parent,
            )
        self.execution_budget.observe(built.header.gas_used, time.perf_counter() - started)
        self.gas_estimates.observe(built.transactions, built.receipts)
        if built.rejected:
            # (an escalation refused here is in no pool: on_block passes over it)
            node.pool.on_block((), [r.transaction for r in built.rejected])
            for rejected in built.rejected:
                log.warning("dropped transaction 0x%s: %s", rejected.transaction.hash.hex(), rejected.reason)
        self._built[built.header.hash] = built
        return importer.encode_block(built.header, built.transactions)

    def validate_block(self, block: bytes, height: int, round: int, proposer: bytes) -> None:
        node = self._node
        try:
            wire = self.block(block)  # size, encoding, body against the header's root
        except InvalidBlock as exc:
            raise InvalidProposal(str(exc)) from exc
        header = wire.header
        parent = node.chain.head
        if header.block_number != height or parent.block_number + 1 != height:
            raise InvalidProposal(f"block {header.block_number} proposed for height {height} on head {parent.block_number}")
        if importer.round_of(header) != round:
            raise InvalidProposal(f"block carries round {importer.round_of(header)}, proposed in round {round}")
        if header.coinbase != proposer:
            raise InvalidProposal(f"coinbase 0x{header.coinbase.hex()} is not the round's proposer 0x{proposer.hex()}")
        if header.timestamp < parent.timestamp + node.genesis.qbft.block_period:
            raise InvalidProposal(f"timestamp {header.timestamp} earlier than parent + block period")
        if header.timestamp > node.now() + importer.MAX_FUTURE_SECONDS:
            raise InvalidProposal(f"timestamp {header.timestamp} is in the future")
        # Executed blocks are kept by block hash, which ignores the round: a block
        # re-proposed in a later round has the same transactions, state and receipts.
        if header.hash in self._built:
            return  # our own proposal, or one we already executed
        started = time.perf_counter()
        try:
            built = self._built[header.hash] = importer.execute(node.chain, wire, parent)
            self.execution_budget.observe(built.header.gas_used, time.perf_counter() - started)
            self.gas_estimates.observe(built.transactions, built.receipts)
        except InvalidBlock as exc:
            raise InvalidProposal(f"{exc.step}: {exc.detail}") from exc

    def block_digest(self, block: bytes) -> bytes:
        return self.block(block).header.hash

    def with_round(self, block: bytes, round: int) -> bytes:
        return importer.with_round(self.block(block), round).encode()

    def seal_digest(self, block: bytes) -> bytes:
        digest = qbft.commit_seal_digest(self.block(block).header.fields_rlp())
        if self.forge_seals:
            # Test-only fault: a validator whose commit seals sign something else. Honest
            # validators must refuse its commits (and so must every verifier of the block).
            return keccak(b"forged commit seal" + digest)
        return digest

    def commit(self, decided: Decided) -> QBFTHeader:
        """Seal the decided block with the quorum's seals and store it (one write batch)."""
        node = self._node
        started = time.perf_counter()
        wire = self.block(decided.block)
        sealed = with_seals(wire.header, decided.seals)
        built = self._built.get(wire.header.hash)
        if built is None:
            built = importer.execute(node.chain, wire, node.chain.head)
        node.chain.commit(sealed, built, [tx.sender for tx in built.transactions])
        node.pool.on_block(built.transactions, [r.transaction for r in built.rejected])
        node.metrics.block_committed(sealed, len(built.transactions), time.perf_counter() - started)
        return sealed


def _within_bytes(entries: list[PoolEntry], limit: int) -> list[PoolEntry]:
    """The longest prefix of `entries` whose raw transactions fit in `limit` bytes."""
    total = 0
    for index, entry in enumerate(entries):
        total += entry.size
        if total > limit:
            return entries[:index]
    return entries
