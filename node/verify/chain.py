"""Walking a chain from genesis and checking every block: links, roots, seals, optional replay - what `ledger chain verify` runs.

The walk reads blocks from a `BlockSource` (node/verify/sources.py: a data directory's
private copy; client/chain_rpc.py: a node's JSON-RPC), checks each with the pure checks of
node/verify/checks.py, follows the validator set through the header votes, and (with a
`Replayer`, node/verify/replay.py) re-executes.

Checks of block n (the step names are what an `InvalidBlock` carries):

1. decode      - "header", "extraData": RLP of 20 byte strings of the right sizes, canonical
                 integers, a QBFT extraData;
2. link        - "number", "parent hash": n, and the hash of block n-1 as parentHash;
3. header      - "timestamp", "gas limit", "gas used", "header": after the parent's, the
                 parent's, within it, and QBFT's constant fields (`LedgerVM.validate_header`);
4. validators  - "validators", "proposer": extraData lists the set after the parent - the
                 validator set followed from genesis through the header votes with Besu's
                 rules (`evidence.qbft.VoteTally`, the genesis file's epoch length) - and
                 one of them proposed (and cast the header's vote, if any);
5. seals       - "commit seals": a quorum of distinct validators sealed the header;
6. body        - "transactions root", then (data directory) "senders", recovered from the
                 signatures, and "transaction index";
7. receipts    - "receipts root", "gas used", "logs bloom";
8. storage     - "canonical index", "vote index", "state root" (data directory): the
                 indexes name the block (and, for a vote-carrying header, link to the
                 previous one), the state trie's root node is stored;
9. replay      - "re-execution: ..." with a `Replayer`: the same state root, receipts, gas.

Block 0 is checked against the genesis file: its hash must be that of the block
`node.execution.chain.build_genesis_block` builds from it. The first failure ends the walk.

Every step but the link (2), the validator set (4), the vote index link and state root
lookup (8) and the replay (9) depends on nothing but the block: an `InspectionPool` runs
those inspections (`checks.inspect_block`) in worker processes while the walk does the
rest in height order. A worker checks the seals against the set the header itself lists;
the walk then requires that list to be the set the votes give, which makes the two checks
one.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

from evidence import qbft
from node.errors import InvalidBlock
from node.execution.genesis import Genesis
from node.storage import schema
from node.verify.checks import (
    HeaderFacts,
    Inspection,
    RawBlock,
    check_genesis,
    decode_header_facts,
    inspect_chunk,
    link_block,
)
from node.verify.replay import Replayer, genesis_block_hash
from node.verify.sources import BlockSource, SourceError

# Blocks a worker inspects per task, and tasks in flight per worker (bounds the memory
# the walk holds ahead of the block it is at).
INSPECT_CHUNK_BLOCKS = 256
CHUNKS_IN_FLIGHT_PER_WORKER = 2
# How often (in blocks) the walk reports progress.
PROGRESS_EVERY = 256


@dataclass(frozen=True)
class ChainSummary:
    """A walk that found nothing wrong."""

    first: int
    last: int
    blocks: int
    transactions: int
    genesis_hash: bytes
    head_hash: bytes
    genesis_checked: bool  # against a genesis file, not only for its own shape
    reexecuted: bool
    source: str


# -- the walk ----------------------------------------------------------------------------


class InspectionPool:
    """Worker processes for `inspect_chunk`.

    Forked (the workers inherit the imported modules; spawning them would cost ~2 s of
    imports each), so start the pool before opening a data directory or starting threads
    (a progress bar): a fork copies only the calling thread.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        # Ctrl-C is the walking process's to handle: it shuts the pool down.
        self.executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                            initializer=signal.signal, initargs=(signal.SIGINT, signal.SIG_IGN))
        # The first task forks every worker (ProcessPoolExecutor does so under "fork").
        self.executor.submit(int).result()

    @staticmethod
    def usable_cores() -> int:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

    @classmethod
    def start(cls, workers: int) -> InspectionPool | None:
        """A pool of `workers`, or None (inspect in the walking process) for one worker or
        where processes cannot be forked."""
        if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
            return None
        return cls(workers)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


def verify_chain(
    source: BlockSource,
    *,
    genesis: Genesis | None,
    first: int = 0,
    last: int | None = None,
    replayer: Replayer | None = None,
    pool: InspectionPool | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ChainSummary:
    """Check blocks `first`..`last` (default: to the source's head), and block 0.

    Block 0 is always checked (against `genesis` when given): it fixes the first validator
    set, and the genesis file the epoch length (without one, a vote ends the walk with a
    SourceError). A walk from `first` > 1 takes block `first - 1` as its parent, and the
    validator set from the headers since the last epoch block before it (since genesis
    without a genesis file), without checking them.
    Raises InvalidBlock at the first block that fails, naming the step; ValueError for
    heights outside the chain.
    """
    head = source.head()
    last = head if last is None else last
    if not 0 <= first <= last <= head:
        raise ValueError(f"heights {first}..{last} are outside the chain 0..{head}")
    genesis_facts = check_genesis(next(source.blocks(0, 0)), None if genesis is None else genesis_block_hash(genesis))
    # Without the genesis file the epoch length is unknown: the set is followed until the
    # first vote, which then needs it.
    epoch_length = genesis.qbft.epoch_length if genesis is not None else None
    tally = qbft.VoteTally.start(genesis_facts.validators, epoch_length or qbft.DEFAULT_EPOCH_LENGTH)
    tally = tally.apply(0, genesis_facts.proposer, None)
    parent = genesis_facts
    # The newest vote-carrying height seen, for the vote index links (a data directory);
    # unknown after a range's unchecked prefix until a vote is seen.
    last_vote: int | None = None
    last_vote_known = True
    if first > 1:
        parent, tally, last_vote, last_vote_known = _set_before(source, first, tally, epoch_length)
    checked = 1 if first == 0 else 0
    transactions = 0
    start = max(first, 1)
    blocks = source.blocks(start, last) if start <= last else iter(())
    for block, inspection in _inspections(blocks, pool):
        height = inspection.height
        if inspection.facts is None:  # 1. decode failed
            assert inspection.failure is not None
            raise InvalidBlock(height, *inspection.failure)
        facts = inspection.facts
        link_block(height, facts, parent)  # 2, and 3 against the parent
        if inspection.failure is not None and inspection.check < 4:  # 3, found by the inspection
            raise InvalidBlock(height, *inspection.failure)
        # 4. validators: the list is the set the votes so far give
        if facts.validators != tally.validators:
            raise InvalidBlock(height, "validators", "extraData list differs from the set after the parent")
        if inspection.failure is not None:  # 4-8, found by the inspection
            raise InvalidBlock(height, *inspection.failure)
        if facts.vote is not None:
            if epoch_length is None:
                raise SourceError(f"block {height} carries a validator vote: following the validator set past it "
                                  "needs the genesis file's epoch length (pass the genesis file)")
            # 8. storage: the vote index links this vote to the previous one
            if block is not None and block.stored is not None and last_vote_known:
                expected = b"" if last_vote is None else schema.height_bytes(last_vote)
                if block.stored.vote_link != expected:
                    raise InvalidBlock(height, "vote index", f"links to {_vote_link(block.stored.vote_link)}, "
                                                             f"the previous vote is {_vote_link(expected)}")
            last_vote, last_vote_known = height, True
        tally = tally.apply(height, facts.proposer, facts.vote)
        # 8. storage: the state after the block is there to build on
        if source.state_root_stored(facts.state_root) is False:
            raise InvalidBlock(height, "state root", f"state trie root node 0x{facts.state_root.hex()} missing")
        # 9. replay
        if replayer is not None and block is not None:
            replayer.replay(height, block.header)
        parent = facts
        transactions += parent.transactions
        checked += 1
        if on_progress is not None and checked % PROGRESS_EVERY == 0:
            on_progress(checked)
    if on_progress is not None:
        on_progress(checked)
    return ChainSummary(
        first=first, last=last, blocks=checked, transactions=transactions, genesis_hash=genesis_facts.hash,
        head_hash=parent.hash, genesis_checked=genesis is not None, reexecuted=replayer is not None,
        source=source.description,
    )


def _set_before(
    source: BlockSource, first: int, tally: qbft.VoteTally, epoch_length: int | None
) -> tuple[HeaderFacts, qbft.VoteTally, int | None, bool]:
    """For a walk from `first` > 1: the facts of block `first - 1` and the tally after it,
    taken unchecked from the headers since the last epoch block (the whole prefix without
    a genesis file), with the newest vote height seen and whether that is known to be the
    newest of the chain."""
    epoch_block = 0 if epoch_length is None else (first - 1) - (first - 1) % epoch_length
    last_vote: int | None = None
    parent: HeaderFacts | None = None
    for raw_block in source.blocks(max(epoch_block, 1), first - 1):
        height = raw_block.height
        facts = decode_header_facts(height, raw_block.header)[2]
        if height == epoch_block:
            assert epoch_length is not None
            tally = qbft.VoteTally.start(facts.validators, epoch_length, height)
        if facts.vote is not None:
            if epoch_length is None:
                raise SourceError(f"block {height} carries a validator vote: following the validator set past it "
                                  "needs the genesis file's epoch length (pass the genesis file)")
            last_vote = height
        try:
            tally = tally.apply(height, facts.proposer, facts.vote)
        except ValueError as exc:
            raise InvalidBlock(height, "proposer", str(exc)) from exc
        parent = facts
    assert parent is not None
    return parent, tally, last_vote, epoch_block == 0 or last_vote is not None


def _vote_link(link: bytes | None) -> str:
    if link is None:
        return "nothing (no entry)"
    return "no earlier vote" if link == b"" else f"block {int.from_bytes(link, 'big')}"


Pending = tuple[list[RawBlock], "Future[list[Inspection]] | list[Inspection]"]


def _inspections(
    blocks: Iterator[RawBlock], pool: InspectionPool | None
) -> Iterator[tuple[RawBlock | None, Inspection]]:
    """(block, its inspection) in height order. A block the source cannot produce becomes
    a failed inspection (without a block) in its place, so a read failure ahead of the
    walk never hides a failure before it."""
    pending: deque[Pending] = deque()
    in_flight = 0 if pool is None else CHUNKS_IN_FLIGHT_PER_WORKER * pool.workers
    try:
        for chunk, unreadable in _chunks(blocks, INSPECT_CHUNK_BLOCKS):
            if chunk:
                work = pool.executor.submit(inspect_chunk, chunk) if pool else inspect_chunk(chunk)
                pending.append((chunk, work))
            if unreadable is not None:
                pending.append(([], [Inspection(unreadable.height, None, (unreadable.step, unreadable.detail))]))
            while len(pending) > in_flight:
                yield from _results(pending.popleft())
        while pending:
            yield from _results(pending.popleft())
    finally:
        for _, work in pending:
            if isinstance(work, Future):
                work.cancel()


def _results(item: Pending) -> Iterator[tuple[RawBlock | None, Inspection]]:
    chunk, work = item
    inspections = work.result() if isinstance(work, Future) else work
    for index, inspection in enumerate(inspections):
        yield (chunk[index] if index < len(chunk) else None), inspection


def _chunks(blocks: Iterator[RawBlock], size: int) -> Iterator[tuple[list[RawBlock], InvalidBlock | None]]:
    """(up to `size` blocks, the InvalidBlock that ended the source early or None)."""
    chunk: list[RawBlock] = []
    try:
        for block in blocks:
            chunk.append(block)
            if len(chunk) == size:
                yield chunk, None
                chunk = []
    except InvalidBlock as exc:
        yield chunk, exc
        return
    if chunk:
        yield chunk, None
