"""The QBFT protocol as a pure state machine: messages and timer events in, actions out.

Follows the EEA QBFT specification v1 (its Dafny model, ``dafny/spec/L1/node.dfy`` and
``node_auxiliary_functions.dfy`` in Consensys/qbft-formal-spec-and-verification) with
Hyperledger Besu's ``consensus/qbft-core`` as the reference behaviour (QbftBlockHeightManager,
QbftRound, RoundState, RoundChangeManager, ProposalValidator, RoundChangeMessageValidator,
ProposerSelector, RoundTimer). No sockets, clock, randomness or threads: time enters only as
``on_block_timer`` / ``on_timeout`` calls, and everything the node must do comes back as a list
of actions (``Broadcast``, ``ScheduleTimeout``, ``Decided``, ``Ignored``). The driver owns I/O.

One height, as implemented here:

1. ``start_height(h, validators, previous_proposer)``: round 0, state reset, buffered messages
   for ``h`` replayed. The round-0 timer does not start yet.
2. ``on_block_timer()`` (the driver's block period, including any empty-block rule): round 0
   starts -- ``ScheduleTimeout(h, 0, request_timeout)`` -- and the round-0 proposer creates a
   block and broadcasts a PROPOSAL. A valid round-0 PROPOSAL that arrives earlier starts round 0
   too (Besu does the same when a proposal beats the block timer).
3. Every validator, the proposer included, answers a valid PROPOSAL of its current round with a
   PREPARE. On a quorum of PREPAREs for the proposal's digest it is *prepared* (it records the
   round, block and prepares as its latest prepared certificate) and broadcasts a COMMIT whose
   commit seal is ``sign(backend.seal_digest(block))``.
4. On a quorum of valid COMMITs (each seal recovers to the commit's author over the proposed
   block's seal digest) the machine emits ``Decided`` once, with the seals. The driver seals and
   imports the block and calls ``start_height(h + 1, ...)``.
5. Round timer expiry (``on_timeout(h, r)`` for the current round): move to ``r + 1`` and
   broadcast a ROUND-CHANGE carrying the latest prepared certificate (metadata, block, prepares).
   Round ``r`` lasts ``request_timeout * 2**r`` (Besu's RoundTimer).
6. ROUND-CHANGEs from f + 1 validators for rounds above the current one: move to the lowest of
   their rounds and broadcast an own ROUND-CHANGE (spec UponRoundChange; Besu's
   ``futureRCQuorumReceived``, using each author's highest round).
7. The proposer of round ``r > 0`` proposes once it holds a quorum of ROUND-CHANGEs for ``r``:
   the justification is those round changes plus the prepares of the highest prepared round
   among them; the block is that prepared block re-stamped with ``backend.with_round(block, r)``,
   or a new block when nobody prepared.
8. A valid PROPOSAL for a round above the current one moves the machine to that round (Besu's
   FutureRoundProposalMessageValidator path); no ROUND-CHANGE is sent for such a move.

Validation (each failure is an ``Ignored`` naming the step; nothing raises out of
``on_message`` on bad input): here, every message decodes (``messages.decode`` recovers
every signature), its author is not the local node (the machine applies its own messages
itself, as Besu does, and ignores echoes), its height is the current one (past: dropped;
up to ``future_height_window`` ahead: buffered; further: dropped), the author is a
validator of this height; PREPARE / COMMIT / ROUND-CHANGE are for the current or a future
round, PREPARE / COMMIT digests equal the accepted proposal's (held until the proposal
arrives, then checked, as Besu's RoundState does); one message per (type, round, author):
a second one is ignored, the first kept. The checks of a message's own content -- a
PROPOSAL's steps 1-7 and justification, a ROUND-CHANGE's prepared certificate, a commit
seal -- are node/consensus/validation.py.

Where this goes beyond Besu: COMMITs for one of the last ``MAX_PAST_ROUNDS_KEPT`` rounds whose
proposal was accepted are still counted after the round moved on, so a late quorum of commit
seals still decides the height (a quorum of valid seals is final whatever the local round).

Memory is bounded per author: at most one message of each type per round; messages for at most
``MAX_FUTURE_ROUNDS_PER_AUTHOR`` future rounds; future-height messages capped by count and bytes
per validator and, for authors outside the current validator set, in one shared bucket.

Quorum is ``evidence.qbft.quorum(n) = ceil(2n/3)``; ``f = (n - 1) // 3``.

Its boundary types (``Backend``, the actions, ``Lock``) are node/consensus/interface.py.
What remains here is one state machine over one height's state (rounds, round changes,
the future buffer, the latest prepared certificate), which every handler below reads and
changes. It is kept in one module although that is longer than 600 lines: split, each
part would reach into the same per-height state.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from evidence import qbft
from node.consensus import messages
from node.consensus.interface import (
    Action,
    Backend,
    Broadcast,
    Decided,
    Ignored,
    InvalidProposal,
    Lock,
    ScheduleTimeout,
)
from node.consensus.messages import (
    Commit,
    Message,
    Prepare,
    PreparedRoundMetadata,
    PreparePayload,
    Proposal,
    RoundChange,
    Signed,
)
from node.consensus.validation import HeightRules, MessageRefused

# A peer several heights ahead sends about 3 messages per height (proposal, prepare, commit)
# plus round changes; 64 covers the default 10-height window with room for round changes.
MAX_FUTURE_MESSAGES_PER_AUTHOR = 64
# ... and their blocks: two full-size messages' worth per author, far above real blocks.
MAX_FUTURE_BYTES_PER_AUTHOR = 2 * messages.MAX_MESSAGE_SIZE
# Rounds above the current one for which one author's messages are held. Honest validators
# are at most a few rounds apart (f + 1 round changes pull laggards forward); round changes
# for arbitrarily high rounds must still be accepted so a restarted node can catch up.
MAX_FUTURE_ROUNDS_PER_AUTHOR = 8
# Rounds already left whose accepted proposal is kept so that late commits still decide.
MAX_PAST_ROUNDS_KEPT = 4
# 2**30 * request_timeout is decades; beyond that doubling only overflows floats.
MAX_TIMER_EXPONENT = 30
_STRANGERS = b""  # future-buffer bucket for authors outside the current validator set


def max_faulty(validator_count: int) -> int:
    """f: the Byzantine validators a set of n tolerates, (n - 1) // 3."""
    return (validator_count - 1) // 3 if validator_count > 0 else 0


def select_proposer(validators: Sequence[bytes], previous_proposer: bytes, round: int) -> bytes:
    """Besu's ProposerSelector with changeEachBlock = true.

    Validators are taken in ascending order. If the previous block's proposer (its coinbase) is
    a validator, round r's proposer is the one ``r + 1`` places after it; otherwise (genesis has
    coinbase 0x00..00, or the proposer was voted out) the next greater address starts round 0
    (wrapping to the first) and round r is ``r`` places after that.
    """
    ordered = sorted(set(validators))
    if not ordered:
        raise ValueError("no validators")
    if round < 0:
        raise ValueError("round must not be negative")
    if previous_proposer in ordered:
        base, offset = ordered.index(previous_proposer), round + 1
    else:
        later = [i for i, v in enumerate(ordered) if v > previous_proposer]
        base, offset = (later[0] if later else 0), round
    return ordered[(base + offset) % len(ordered)]


def round_timeout(request_timeout: float, round: int) -> float:
    """Besu's RoundTimer: round r lasts request_timeout * 2**r."""
    return request_timeout * float(2 ** min(round, MAX_TIMER_EXPONENT))


@dataclass
class _RoundState:
    """Besu's RoundState: one round's proposal, prepares and commits."""

    round: int
    proposal: Proposal | None = None
    digest: bytes = b""
    seal_digest: bytes = b""
    prepares: dict[bytes, Signed[PreparePayload]] = field(default_factory=dict)
    commits: dict[bytes, Commit] = field(default_factory=dict)
    prepared: bool = False
    sent_prepare: bool = False
    sent_commit: bool = False


@dataclass(frozen=True)
class _PreparedCertificate:
    round: int
    block: bytes
    digest: bytes
    prepares: tuple[Signed[PreparePayload], ...]


@dataclass
class _Buffered:
    message: Message
    size: int
    bucket: bytes


class QBFTMachine:
    """One validator's (or observer's) QBFT state for the height being decided."""

    def __init__(
        self,
        *,
        address: bytes | None,
        sign: Callable[[bytes], bytes] | None,
        backend: Backend,
        request_timeout: float,
        future_height_window: int = 10,
    ) -> None:
        if (address is None) != (sign is None):
            raise ValueError("address and sign go together (both None for an observer)")
        if address is not None and (not isinstance(address, bytes) or len(address) != 20):
            raise ValueError("address must be 20 bytes")
        if not request_timeout > 0:
            raise ValueError("request_timeout must be positive")
        if future_height_window < 0:
            raise ValueError("future_height_window must not be negative")
        self._address = address
        self._sign = sign
        self._backend = backend
        self._request_timeout = float(request_timeout)
        self._window = future_height_window
        self._height = 0  # 0: no height started yet; every message is "future"
        self._validators: tuple[bytes, ...] = ()
        self._validator_set: frozenset[bytes] = frozenset()
        self._previous_proposer = b"\x00" * 20
        self._quorum = 0
        self._f = 0
        self._rules = HeightRules(0, frozenset(), 0, backend)
        self._future: dict[int, list[_Buffered]] = {}
        self._future_usage: dict[bytes, list[int]] = {}  # bucket -> [messages, bytes]
        # Per-height state, reset by start_height:
        self._round = 0
        self._round_started = False
        self._rounds: dict[int, _RoundState] = {}
        self._past_rounds: dict[int, _RoundState] = {}
        self._round_changes: dict[int, dict[bytes, RoundChange]] = {}
        self._rc_highest: dict[bytes, int] = {}
        self._future_rounds_held: dict[bytes, set[int]] = {}
        self._latest_prepared: _PreparedCertificate | None = None
        self._proposed_rounds: set[int] = set()
        self._decided: Decided | None = None

    # -------------------------------------------------------------------------------------
    # Public API

    @property
    def height(self) -> int:
        return self._height

    @property
    def round(self) -> int:
        return self._round

    @property
    def decision(self) -> Decided | None:
        return self._decided

    def worth_decoding(self, height: int, author: bytes) -> bool:
        """Whether a message `peek` says is from `author` for `height` could be used: not
        a past height, not beyond the future window, and at the current height only from
        a validator. A subset of on_message's own checks, for dropping junk cheaply."""
        if height < self._height or height > self._height + self._window:
            return False
        return height != self._height or author in self._validator_set

    def own_round_change(self) -> bytes | None:
        """Our ROUND-CHANGE for the current round, encoded, if we sent one: re-sent to a
        peer that (re)connects, so a validator back from an outage hears that we moved on
        without waiting for our next round timer."""
        if self._address is None or self._decided is not None:
            return None
        own = self._round_changes.get(self._round, {}).get(self._address)
        return own.encode() if own is not None else None

    def lock(self) -> Lock | None:
        """The state to store durably before this step's messages leave (see Lock)."""
        if self._height == 0 or not self._is_local_validator():
            return None
        prepared = self._latest_prepared
        if prepared is None:
            return Lock(self._height, self._round)
        return Lock(self._height, self._round, prepared.round, prepared.block, prepared.prepares)

    def start_height(
        self, height: int, validators: Sequence[bytes], previous_proposer: bytes, resume: Lock | None = None
    ) -> list[Action]:
        """Begin deciding `height` at round 0; replays messages buffered for it.

        With `resume` (the Lock stored for this height before a restart) the machine
        keeps the prepared certificate and continues in the round after the one it was
        in, with a ROUND-CHANGE carrying that certificate: it never sends a second,
        different message in a round it may already have spoken in, and a block it may
        have committed can only be replaced by a re-proposal of that same block.
        """
        if not isinstance(height, int) or not 1 <= height <= messages.MAX_HEIGHT:
            raise ValueError(f"height must be in [1, {messages.MAX_HEIGHT}]")
        members = tuple(validators)
        if not members or len(set(members)) != len(members):
            raise ValueError("validators must be a non-empty list of distinct addresses")
        if len(members) > messages.MAX_JUSTIFICATION:
            raise ValueError(f"at most {messages.MAX_JUSTIFICATION} validators")
        if not all(isinstance(v, bytes) and len(v) == 20 for v in members):
            raise ValueError("validators must be 20-byte addresses")
        if not isinstance(previous_proposer, bytes) or len(previous_proposer) != 20:
            raise ValueError("previous_proposer must be 20 bytes")
        self._height = height
        self._validators = tuple(sorted(members))
        self._validator_set = frozenset(members)
        self._previous_proposer = previous_proposer
        self._quorum = qbft.quorum(len(members))
        self._f = max_faulty(len(members))
        self._rules = HeightRules(height, self._validator_set, self._quorum, self._backend)
        self._reset_height_state()
        actions: list[Action] = []
        if resume is not None and resume.height == height and self._is_local_validator():
            if resume.prepared_round is not None and resume.prepared_block is not None:
                self._latest_prepared = _PreparedCertificate(
                    resume.prepared_round, resume.prepared_block,
                    self._backend.block_digest(resume.prepared_block), resume.prepares,
                )
            actions.extend(self._enter_round(resume.round + 1, send_round_change=True))

        replay = self._future.pop(height, [])
        for stale in [h for h in self._future if h < height or h > height + self._window]:
            del self._future[stale]
        self._future_usage = {}
        for entries in self._future.values():
            for entry in entries:
                self._charge(entry.bucket, entry.size)

        for entry in replay:
            actions.extend(self._dispatch(entry.message, entry.size))
        return actions

    def on_block_timer(self) -> list[Action]:
        """The block period elapsed: start round 0's timer; the round-0 proposer proposes."""
        if self._height == 0 or self._decided is not None:
            return []
        actions: list[Action] = []
        if self._round == 0 and not self._round_started:
            self._round_started = True
            actions.append(ScheduleTimeout(self._height, 0, round_timeout(self._request_timeout, 0)))
        if self._round == 0 and self._is_local_proposer(0) and 0 not in self._proposed_rounds:
            state = self._rounds.get(0)
            if state is None or state.proposal is None:
                try:
                    block = self._backend.create_block(self._height, 0)
                except InvalidProposal as exc:  # e.g. the chain head is not the parent yet
                    actions.append(Ignored(f"could not create a block for round 0: {exc.reason}", None))
                    return actions
                proposal = messages.sign_proposal(self._height, 0, block, self._signer())
                actions.extend(self._send_proposal(proposal))
        return actions

    def on_message(self, code: int, data: bytes) -> list[Action]:
        """A consensus message from a peer. Bad input never raises: it comes back as Ignored."""
        if isinstance(data, (bytearray, memoryview)):
            data = bytes(data)
        try:
            message = messages.decode(code, data)
        except messages.MessageError as exc:
            name = messages.MESSAGE_NAMES.get(code, "message") if isinstance(code, int) else "message"
            return [Ignored(f"malformed {name}: {exc.reason}", None)]
        return self._dispatch(message, len(data))

    def on_timeout(self, height: int, round: int) -> list[Action]:
        """The round timer of (height, round) fired; stale timers are ignored."""
        if (
            height != self._height
            or round != self._round
            or self._decided is not None
            or not self._round_started
            or round >= messages.MAX_ROUND
        ):
            return []
        return self._enter_round(round + 1, send_round_change=True)

    def status(self) -> dict[str, object]:
        """Diagnostics: where the machine is and what it holds."""
        state = self._rounds.get(self._round)
        proposer = None
        if self._validators:
            proposer = "0x" + self._proposer(self._round).hex()
        return {
            "height": self._height,
            "round": self._round,
            "round_started": self._round_started,
            "decided": self._decided is not None,
            "validators": len(self._validators),
            "quorum": self._quorum,
            "proposer": proposer,
            "proposal": state is not None and state.proposal is not None,
            "prepares": len(state.prepares) if state else 0,
            "commits": len(state.commits) if state else 0,
            "prepared_round": self._latest_prepared.round if self._latest_prepared else None,
            "round_changes": {r: len(held) for r, held in sorted(self._round_changes.items())},
            "future_messages": {h: len(v) for h, v in sorted(self._future.items())},
        }

    # -------------------------------------------------------------------------------------
    # Dispatch

    def _reset_height_state(self) -> None:
        self._round = 0
        self._round_started = False
        self._rounds = {}
        self._past_rounds = {}
        self._round_changes = {}
        self._rc_highest = {}
        self._future_rounds_held = {}
        self._latest_prepared = None
        self._proposed_rounds = set()
        self._decided = None

    def _dispatch(self, message: Message, size: int) -> list[Action]:
        author = message.author
        if self._address is not None and author == self._address:
            return [Ignored("message authored by the local node (it applies its own)", author)]
        if self._height == 0 or message.height > self._height:
            return self._buffer_future(message, size)
        if message.height < self._height:
            return [Ignored(f"message for past height {message.height}", author)]
        if self._decided is not None:
            return [Ignored(f"height {self._height} is already decided", author)]
        if author not in self._validator_set:
            return [Ignored(f"author is not a validator at height {self._height}", author)]
        try:
            if isinstance(message, Proposal):
                return self._on_proposal(message)
            if isinstance(message, Prepare):
                return self._on_prepare(message)
            if isinstance(message, Commit):
                return self._on_commit(message)
            return self._on_round_change(message)
        except MessageRefused as exc:
            name = messages.MESSAGE_NAMES[message.code]
            return [Ignored(f"{name} round {message.round}: {exc}", author)]

    def _buffer_future(self, message: Message, size: int) -> list[Action]:
        limit = self._height + self._window
        if message.height > limit:
            return [Ignored(f"message for height {message.height} is beyond the window (up to {limit})", message.author)]
        bucket = message.author if message.author in self._validator_set else _STRANGERS
        used = self._future_usage.get(bucket, [0, 0])
        if used[0] >= MAX_FUTURE_MESSAGES_PER_AUTHOR or used[1] + size > MAX_FUTURE_BYTES_PER_AUTHOR:
            who = "non-validators" if bucket == _STRANGERS else "this author"
            return [Ignored(f"future-height buffer for {who} is full", message.author)]
        self._charge(bucket, size)
        self._future.setdefault(message.height, []).append(_Buffered(message, size, bucket))
        return []

    def _charge(self, bucket: bytes, size: int) -> None:
        used = self._future_usage.setdefault(bucket, [0, 0])
        used[0] += 1
        used[1] += size

    # -------------------------------------------------------------------------------------
    # PROPOSAL

    def _on_proposal(self, proposal: Proposal) -> list[Action]:
        r = proposal.round
        if r < self._round:
            raise MessageRefused(f"proposal for a past round (current {self._round})")
        held = self._rounds.get(r)
        if held is not None and held.proposal is not None:
            same = held.proposal.encode() == proposal.encode()
            raise MessageRefused("duplicate proposal" if same else "a different proposal was already accepted")
        digest, seal_digest = self._rules.proposal(proposal, self._proposer(r))
        actions: list[Action] = []
        if r > self._round:
            actions.extend(self._enter_round(r, send_round_change=False))
        elif not self._round_started:
            self._round_started = True
            actions.append(ScheduleTimeout(self._height, r, round_timeout(self._request_timeout, r)))
        actions.extend(self._accept_proposal(self._state(r), proposal, digest, seal_digest))
        return actions

    def _send_proposal(self, proposal: Proposal) -> list[Action]:
        self._proposed_rounds.add(proposal.round)
        actions: list[Action] = [Broadcast(messages.PROPOSAL, proposal.encode())]
        digest = self._backend.block_digest(proposal.block)
        seal_digest = self._backend.seal_digest(proposal.block)
        actions.extend(self._accept_proposal(self._state(proposal.round), proposal, digest, seal_digest))
        return actions

    def _accept_proposal(
        self, state: _RoundState, proposal: Proposal, digest: bytes, seal_digest: bytes
    ) -> list[Action]:
        """Besu RoundState.setProposedBlock + QbftRound.sendPrepare."""
        state.proposal = proposal
        state.digest = digest
        state.seal_digest = seal_digest
        actions: list[Action] = []
        # Messages held before the proposal arrived are checked against it now.
        for author, prepare in list(state.prepares.items()):
            if prepare.payload.digest != digest:
                del state.prepares[author]
                actions.append(Ignored(f"PREPARE round {state.round}: digest differs from the proposal", author))
        for author, commit in list(state.commits.items()):
            try:
                self._rules.commit(commit, state.digest, state.seal_digest)
            except MessageRefused as exc:
                del state.commits[author]
                actions.append(Ignored(f"COMMIT round {state.round}: {exc}", author))
        if self._is_local_validator() and not state.sent_prepare:
            state.sent_prepare = True
            own_prepare = messages.sign_prepare(self._height, state.round, digest, self._signer())
            actions.append(Broadcast(messages.PREPARE, own_prepare.encode()))
            assert self._address is not None
            state.prepares.setdefault(self._address, own_prepare.signed)
        actions.extend(self._progress(state))
        return actions

    # -------------------------------------------------------------------------------------
    # PREPARE and COMMIT

    def _on_prepare(self, prepare: Prepare) -> list[Action]:
        r = prepare.round
        if r < self._round:
            raise MessageRefused(f"prepare for a past round (current {self._round})")
        held = self._rounds.get(r)
        if held is not None:
            earlier = held.prepares.get(prepare.author)
            if earlier is not None:
                raise MessageRefused("duplicate prepare" if earlier == prepare.signed else "a different prepare was kept")
            if held.proposal is not None and prepare.digest != held.digest:
                raise MessageRefused("digest differs from the accepted proposal")
        self._hold_round(prepare.author, r)
        state = self._state(r)
        state.prepares[prepare.author] = prepare.signed
        return self._progress(state)

    def _on_commit(self, commit: Commit) -> list[Action]:
        r = commit.round
        if r < self._round:
            state = self._past_rounds.get(r)
            if state is None:
                raise MessageRefused(f"commit for a past round (current {self._round})")
        else:
            state = self._rounds.get(r) or _RoundState(r)
        earlier = state.commits.get(commit.author)
        if earlier is not None:
            raise MessageRefused("duplicate commit" if earlier == commit else "a different commit was kept")
        if state.proposal is not None:
            self._rules.commit(commit, state.digest, state.seal_digest)
        self._hold_round(commit.author, r)
        if r >= self._round:
            state = self._state(r)
        state.commits[commit.author] = commit
        return self._progress(state)

    def _progress(self, state: _RoundState) -> list[Action]:
        """Prepared (current round only, as in the spec's UponPrepare) and committed checks."""
        actions: list[Action] = []
        if state.proposal is None:
            return actions
        if state.round == self._round and not state.prepared and len(state.prepares) >= self._quorum:
            state.prepared = True
            self._latest_prepared = _PreparedCertificate(
                state.round, state.proposal.block, state.digest, tuple(state.prepares.values())
            )
            if self._is_local_validator() and not state.sent_commit:
                state.sent_commit = True
                signer = self._signer()
                seal = signer(state.seal_digest)
                commit = messages.sign_commit(self._height, state.round, state.digest, seal, signer)
                actions.append(Broadcast(messages.COMMIT, commit.encode()))
                assert self._address is not None
                state.commits.setdefault(self._address, commit)
        if self._decided is None and len(state.commits) >= self._quorum:
            self._decided = Decided(
                self._height,
                state.round,
                state.proposal.block,
                tuple(c.commit_seal for c in state.commits.values()),
            )
            actions.append(self._decided)
        return actions

    # -------------------------------------------------------------------------------------
    # ROUND-CHANGE

    def _on_round_change(self, round_change: RoundChange) -> list[Action]:
        r, author = round_change.round, round_change.author
        if r < self._round:
            raise MessageRefused(f"round change for a past round (current {self._round})")
        earlier = self._round_changes.get(r, {}).get(author)
        if earlier is not None:
            same = earlier.encode() == round_change.encode()
            raise MessageRefused("duplicate round change" if same else "a different round change was kept")
        self._rules.round_change(round_change)
        self._hold_round(author, r)
        self._round_changes.setdefault(r, {})[author] = round_change
        if r > self._rc_highest.get(author, -1):
            self._rc_highest[author] = r
        actions = self._maybe_propose_justified()
        actions.extend(self._maybe_follow_round_changes())
        return actions

    def _maybe_follow_round_changes(self) -> list[Action]:
        """f + 1 validators are in higher rounds: join the lowest of them."""
        if self._decided is not None:
            return []
        ahead = [r for r in self._rc_highest.values() if r > self._round]
        if len(ahead) < self._f + 1:
            return []
        return self._enter_round(min(ahead), send_round_change=True)

    def _maybe_propose_justified(self) -> list[Action]:
        """The proposer of the current round r > 0 proposes once it holds quorum round changes."""
        r = self._round
        if r == 0 or self._decided is not None or r in self._proposed_rounds or not self._is_local_proposer(r):
            return []
        held = self._round_changes.get(r, {})
        state = self._rounds.get(r)
        if len(held) < self._quorum or (state is not None and state.proposal is not None):
            return []
        justification = list(held.values())[: messages.MAX_JUSTIFICATION]
        prepared = [rc for rc in justification if rc.prepared is not None]
        prepares: tuple[Signed[PreparePayload], ...] = ()
        try:
            if prepared:
                best = max(prepared, key=lambda rc: rc.prepared.round if rc.prepared else -1)
                assert best.prepared_block is not None
                block = self._backend.with_round(best.prepared_block, r)
                prepares = best.prepares
            else:
                block = self._backend.create_block(self._height, r)
        except InvalidProposal as exc:  # not proposed: the next round change retries
            return [Ignored(f"could not create a block for round {r}: {exc.reason}", None)]
        proposal = messages.sign_proposal(
            self._height, r, block, self._signer(), [rc.signed for rc in justification], prepares
        )
        return self._send_proposal(proposal)

    def _enter_round(self, r: int, *, send_round_change: bool) -> list[Action]:
        """Move to round r > current (QbftBlockHeightManager.startNewRound / doRoundChange)."""
        assert r > self._round
        for old in sorted(k for k in self._rounds if k < r):
            state = self._rounds.pop(old)
            if state.proposal is not None:
                self._past_rounds[old] = state
        while len(self._past_rounds) > MAX_PAST_ROUNDS_KEPT:
            del self._past_rounds[min(self._past_rounds)]
        for old in [k for k in self._round_changes if k < r]:
            del self._round_changes[old]
        for held in self._future_rounds_held.values():
            held.difference_update([k for k in held if k <= r])
        self._round = r
        self._round_started = True
        actions: list[Action] = []
        if send_round_change and self._is_local_validator():
            certificate = self._latest_prepared
            if certificate is None:
                round_change = messages.sign_round_change(self._height, r, self._signer())
            else:
                round_change = messages.sign_round_change(
                    self._height,
                    r,
                    self._signer(),
                    PreparedRoundMetadata(certificate.round, certificate.digest),
                    certificate.block,
                    certificate.prepares,
                )
            actions.append(Broadcast(messages.ROUND_CHANGE, round_change.encode()))
            assert self._address is not None
            self._round_changes.setdefault(r, {})[self._address] = round_change
            self._rc_highest[self._address] = max(r, self._rc_highest.get(self._address, -1))
        actions.append(ScheduleTimeout(self._height, r, round_timeout(self._request_timeout, r)))
        actions.extend(self._maybe_propose_justified())
        return actions

    # -------------------------------------------------------------------------------------
    # Helpers

    def _state(self, r: int) -> _RoundState:
        state = self._rounds.get(r)
        if state is None:
            state = self._rounds[r] = _RoundState(r)
        return state

    def _hold_round(self, author: bytes, r: int) -> None:
        """Count a future round against the author's quota before holding its message."""
        if r <= self._round:
            return
        held = self._future_rounds_held.setdefault(author, set())
        if r not in held and len(held) >= MAX_FUTURE_ROUNDS_PER_AUTHOR:
            raise MessageRefused(f"author already has messages held for {MAX_FUTURE_ROUNDS_PER_AUTHOR} future rounds")
        held.add(r)

    def _proposer(self, r: int) -> bytes:
        return select_proposer(self._validators, self._previous_proposer, r)

    def _is_local_validator(self) -> bool:
        return self._sign is not None and self._address in self._validator_set

    def _is_local_proposer(self, r: int) -> bool:
        return self._is_local_validator() and self._proposer(r) == self._address

    def _signer(self) -> Callable[[bytes], bytes]:
        assert self._sign is not None
        return self._sign
