"""The QBFT state machine's boundary (node/consensus/machine.py): what it asks of the
chain (`Backend`, which refuses a block with `InvalidProposal`), what it hands back to
its driver (the actions `Broadcast`, `ScheduleTimeout`, `Decided`, `Ignored`), and what it
asks the driver to keep across a restart (`Lock`).

Light on purpose: the machine, its tests' toy backend and the node's `NodeBackend`
(node/consensus/backend.py) all meet here without importing one another.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from node.consensus.messages import PreparePayload, Signed
from node.errors import NodeError


class InvalidProposal(NodeError):
    """Raised by ``Backend.validate_block``: the proposed block is not valid; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Backend(Protocol):
    """What the machine needs from the chain. Blocks are opaque RLP-encoded blocks (one list).

    ``with_round`` must be canonical (re-encoding a block with its own round gives the same
    bytes): the machine checks a re-proposed block's header round with
    ``with_round(block, r) == block``.
    """

    def create_block(self, height: int, round: int) -> bytes:
        """A new block for `height`: header round = `round`, coinbase = the local address."""
        ...

    def validate_block(self, block: bytes, height: int, round: int, proposer: bytes) -> None:
        """Raise InvalidProposal(reason) unless `block` is a valid new block for `height` whose
        header round is `round` and whose coinbase is `proposer` (the round's proposer)."""
        ...

    def block_digest(self, block: bytes) -> bytes:
        """The QBFT block hash: independent of the header round and of commit seals."""
        ...

    def with_round(self, block: bytes, round: int) -> bytes:
        """The same block with its header round replaced (re-proposal of a prepared block)."""
        ...

    def seal_digest(self, block: bytes) -> bytes:
        """What a commit seal signs: the header including its round, seals emptied."""
        ...


@dataclass(frozen=True)
class Broadcast:
    """Send to every other validator; the machine has already applied it locally."""

    code: int
    data: bytes


@dataclass(frozen=True)
class ScheduleTimeout:
    """Call ``on_timeout(height, round)`` after `seconds`."""

    height: int
    round: int
    seconds: float


@dataclass(frozen=True)
class Decided:
    """A quorum of distinct validators committed `block` (header round = `round`, no seals)."""

    height: int
    round: int
    block: bytes
    seals: tuple[bytes, ...]


@dataclass(frozen=True)
class Ignored:
    """A message or event was refused; for logs and metrics."""

    reason: str
    author: bytes | None


Action = Broadcast | ScheduleTimeout | Decided | Ignored


@dataclass(frozen=True)
class Lock:
    """What a validator must not forget across a restart, for one height: the highest
    round it took part in (it may have sent PREPARE or COMMIT there) and its latest
    prepared certificate (round, block, the quorum of prepares).

    Without it, validators that committed a block but crashed before storing it would,
    on restart, start the height afresh at round 0 and could decide a different block
    than one a quorum already committed elsewhere. The driver stores the lock durably
    before any message of the step that changed it leaves the node.
    """

    height: int
    round: int
    prepared_round: int | None = None
    prepared_block: bytes | None = None
    prepares: tuple[Signed[PreparePayload], ...] = ()
