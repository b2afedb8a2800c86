"""The pure QBFT state machine: several machines wired together in-process, no sockets.

The harness is a deterministic discrete-event network: a virtual clock, a heap of events,
per-message drop / delay / duplication from a seeded RNG, ScheduleTimeout fired on the virtual
clock, and a driver per node that, on Decided, starts the next height and its block timer (as
the node's driver does). Block sync (a node fetching a sealed block it missed) is emulated by
an optional delayed "sync" event that hands a lagging node a block some node decided.
"""
from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import rlp
from coincurve import PrivateKey
from eth_hash.auto import keccak
from rlp.sedes import Binary, List, big_endian_int, binary

from evidence import qbft
from node.consensus import machine as qm, messages as m
from node.consensus.interface import Broadcast, Decided, Ignored, InvalidProposal, ScheduleTimeout
from node.consensus.machine import QBFTMachine, select_proposer

KEYS = [PrivateKey(i.to_bytes(32, "big")) for i in range(1, 8)]
ADDRESSES = [qbft.address_of(k.public_key.format(compressed=False)) for k in KEYS]
ZERO = b"\x00" * 20
REQUEST_TIMEOUT = 1.0
BLOCK_PERIOD = 0.1

# ---------------------------------------------------------------------------------------------
# Toy backend: a block is RLP [height, round, proposer, payload]


BLOCK_SEDES = List([big_endian_int, big_endian_int, Binary.fixed_length(20), binary], strict=True)


def encode_block(height: int, round_: int, proposer: bytes, payload: bytes) -> bytes:
    return rlp.encode([height, round_, proposer, payload], sedes=BLOCK_SEDES)


def decode_block(block: bytes) -> tuple[int, int, bytes, bytes]:
    height, round_, proposer, payload = rlp.decode(block, sedes=BLOCK_SEDES, strict=True)
    return height, round_, proposer, payload


class ToyBackend:
    """Digest = keccak of everything but the round; seal digest = keccak of the whole block."""

    def __init__(self, address: bytes, payload: bytes = b"txs") -> None:
        self.address = address
        self.payload = payload
        self.validated: list[tuple[int, int]] = []

    def create_block(self, height: int, round: int) -> bytes:
        return encode_block(height, round, self.address, self.payload + height.to_bytes(8, "big"))

    def validate_block(self, block: bytes, height: int, round: int, proposer: bytes) -> None:
        h, r, coinbase, payload = decode_block(block)
        self.validated.append((height, round))
        if h != height:
            raise InvalidProposal(f"block height {h}, expected {height}")
        if r != round:
            raise InvalidProposal(f"header round {r}, expected {round}")
        if coinbase != proposer:
            raise InvalidProposal("coinbase is not the proposer")
        if payload.startswith(b"invalid"):
            raise InvalidProposal("a transaction is invalid")

    def block_digest(self, block: bytes) -> bytes:
        h, _r, coinbase, payload = decode_block(block)
        return keccak(rlp.encode([h, coinbase, payload]))

    def with_round(self, block: bytes, round: int) -> bytes:
        h, _r, coinbase, payload = decode_block(block)
        return encode_block(h, round, coinbase, payload)

    def seal_digest(self, block: bytes) -> bytes:
        decode_block(block)
        return keccak(b"seal" + block)


BACKEND = ToyBackend(ZERO)  # for digests in assertions


def signer(index: int) -> Callable[[bytes], bytes]:
    key = KEYS[index]
    return lambda digest: key.sign_recoverable(digest, hasher=None)


def index_of(address: bytes) -> int:
    return ADDRESSES.index(address)


# Roles at height 1 of a 4-validator chain whose genesis coinbase is 0x00..00.
V4 = tuple(ADDRESSES[:4])
P0 = index_of(select_proposer(V4, ZERO, 0))  # round-0 proposer
P1 = index_of(select_proposer(V4, ZERO, 1))  # round-1 proposer
NON = min(i for i in range(4) if i not in (P0, P1))  # a validator proposing neither
OTHERS = [i for i in range(4) if i != NON]  # the three validators other than NON


def make_machine(index: int | None, **kwargs: object) -> QBFTMachine:
    if index is None:
        return QBFTMachine(address=None, sign=None, backend=ToyBackend(ZERO), request_timeout=REQUEST_TIMEOUT)
    return QBFTMachine(
        address=ADDRESSES[index],
        sign=signer(index),
        backend=ToyBackend(ADDRESSES[index]),
        request_timeout=REQUEST_TIMEOUT,
        **kwargs,  # type: ignore[arg-type]
    )


def broadcasts(actions: list[qm.Action], code: int | None = None) -> list[Broadcast]:
    return [a for a in actions if isinstance(a, Broadcast) and (code is None or a.code == code)]


def ignored(actions: list[qm.Action]) -> list[Ignored]:
    return [a for a in actions if isinstance(a, Ignored)]


def check_seals(decided: Decided, validators: tuple[bytes, ...]) -> None:
    """Decided carries >= quorum seals by distinct validators over the block's seal digest."""
    digest = BACKEND.seal_digest(decided.block)
    signers = [qbft.recover_signer(seal, digest) for seal in decided.seals]
    assert len(set(signers)) == len(signers)
    assert set(signers) <= set(validators)
    assert len(signers) >= qbft.quorum(len(validators))
    assert decode_block(decided.block)[1] == decided.round


# ---------------------------------------------------------------------------------------------
# The in-memory network


Transform = Callable[[int, int, int, bytes], list[tuple[int, bytes]]]  # (src, dst, code, data) -> sends


@dataclass
class Node:
    index: int
    machine: QBFTMachine
    online: bool = True
    chain: dict[int, tuple[bytes, bytes, str]] = field(default_factory=dict)  # h -> (digest, block, how)
    decisions: list[Decided] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)
    transform: Transform | None = None  # a Byzantine node rewrites what it sends per recipient


class Network:
    def __init__(
        self,
        n: int = 4,
        *,
        seed: int = 0,
        latency: tuple[float, float] = (0.01, 0.05),
        drop: float = 0.0,
        duplicate: float = 0.0,
        sync_delay: float | None = None,
        target_height: int = 3,
    ) -> None:
        self.rng = random.Random(seed)
        self.validators = tuple(ADDRESSES[:n])
        self.nodes = [Node(i, make_machine(i)) for i in range(n)]
        self.time = 0.0
        self.events: list[tuple[float, int, Callable[[], None]]] = []
        self.counter = itertools.count()
        self.latency = latency
        self.drop = drop
        self.duplicate = duplicate
        self.sync_delay = sync_delay
        self.target_height = target_height
        self.sent: list[tuple[float, int, int, bytes]] = []  # (time, src, code, data)
        self.block_filter: Callable[[int, int, int, bytes], bool] | None = None  # True: drop
        self.processed = 0

    # -- scheduling
    def at(self, when: float, event: Callable[[], None]) -> None:
        heapq.heappush(self.events, (when, next(self.counter), event))

    def start(self, height: int = 1, previous_proposer: bytes = ZERO) -> None:
        for node in self.nodes:
            if node.online:
                self.begin_height(node, height, previous_proposer)

    def begin_height(self, node: Node, height: int, previous_proposer: bytes) -> None:
        if height > self.target_height:
            return
        self.handle(node, node.machine.start_height(height, self.validators, previous_proposer))
        self.at(self.time + BLOCK_PERIOD, lambda: self.block_timer(node, height))

    def block_timer(self, node: Node, height: int) -> None:
        if node.online and node.machine.height == height:
            self.handle(node, node.machine.on_block_timer())

    # -- actions
    def handle(self, node: Node, actions: list[qm.Action]) -> None:
        for action in actions:
            if isinstance(action, Broadcast):
                self.sent.append((self.time, node.index, action.code, action.data))
                for other in self.nodes:
                    if other is not node:
                        self.send(node, other, action.code, action.data)
            elif isinstance(action, ScheduleTimeout):
                self.at(self.time + action.seconds, self.timeout_event(node, action.height, action.round))
            elif isinstance(action, Decided):
                self.record(node, action)
            else:
                node.ignored.append(action)

    def send(self, src: Node, dst: Node, code: int, data: bytes) -> None:
        sends = [(code, data)] if src.transform is None else src.transform(src.index, dst.index, code, data)
        for send_code, send_data in sends:
            if self.block_filter is not None and self.block_filter(src.index, dst.index, send_code, send_data):
                continue
            if self.rng.random() < self.drop:
                continue
            copies = 2 if self.rng.random() < self.duplicate else 1
            for _ in range(copies):
                delay = self.rng.uniform(*self.latency)
                self.at(self.time + delay, self.delivery(dst, send_code, send_data))

    def delivery(self, dst: Node, code: int, data: bytes) -> Callable[[], None]:
        def deliver() -> None:
            if dst.online:
                self.handle(dst, dst.machine.on_message(code, data))

        return deliver

    def timeout_event(self, node: Node, height: int, round_: int) -> Callable[[], None]:
        def fire() -> None:
            if node.online:
                self.handle(node, node.machine.on_timeout(height, round_))

        return fire

    def record(self, node: Node, decided: Decided) -> None:
        check_seals(decided, self.validators)
        node.decisions.append(decided)
        self.adopt(node, decided.height, decided.block, "decided")
        if self.sync_delay is not None:
            for other in self.nodes:
                if other is not node:
                    self.at(self.time + self.sync_delay, self.sync_event(other, decided))

    def adopt(self, node: Node, height: int, block: bytes, how: str) -> None:
        assert height not in node.chain
        node.chain[height] = (BACKEND.block_digest(block), block, how)
        coinbase = decode_block(block)[2]
        self.at(self.time, lambda: self.begin_height(node, height + 1, coinbase))

    def sync_event(self, node: Node, decided: Decided) -> Callable[[], None]:
        def sync() -> None:
            if node.online and node.machine.height == decided.height and decided.height not in node.chain:
                self.adopt(node, decided.height, decided.block, "synced")

        return sync

    # -- running
    def run(self, until: float, max_events: int = 200_000) -> None:
        while self.events and self.processed < max_events:
            when, _seq, event = self.events[0]
            if when > until:
                break
            heapq.heappop(self.events)
            self.time = when
            self.processed += 1
            event()
        assert self.processed < max_events, "event budget exhausted"

    def run_until(self, done: Callable[[], bool], limit: float, max_events: int = 200_000) -> bool:
        while not done():
            if not self.events or self.events[0][0] > limit or self.processed >= max_events:
                return done()
            when, _seq, event = heapq.heappop(self.events)
            self.time = when
            self.processed += 1
            event()
        return True

    # -- checks
    def honest(self, byzantine: set[int] = frozenset()) -> list[Node]:  # type: ignore[assignment]
        return [node for node in self.nodes if node.index not in byzantine]

    def assert_agreement(self) -> None:
        """At each height, every node that has a block has the same one: one hash, everywhere."""
        by_height: dict[int, set[bytes]] = {}
        for node in self.nodes:
            for height, (digest, _block, _how) in node.chain.items():
                by_height.setdefault(height, set()).add(digest)
        for height, digests in by_height.items():
            assert len(digests) == 1, f"height {height}: {len(digests)} different blocks decided"

    def reached(self, height: int, nodes: list[Node]) -> bool:
        return all(height in node.chain for node in nodes)


def sent_of(net: Network, code: int, src: int | None = None) -> list[m.Message]:
    return [m.decode(c, d) for _t, s, c, d in net.sent if c == code and (src is None or s == src)]


# ---------------------------------------------------------------------------------------------
# Proposer selection, quorum, timers


def test_select_proposer_follows_besu_proposer_selector() -> None:
    validators = sorted(ADDRESSES[:4])
    shuffled = [validators[2], validators[0], validators[3], validators[1]]
    # Previous proposer is a validator: round r goes r + 1 places after it (changeEachBlock).
    assert select_proposer(shuffled, validators[1], 0) == validators[2]
    assert select_proposer(shuffled, validators[1], 1) == validators[3]
    assert select_proposer(shuffled, validators[1], 2) == validators[0]
    assert select_proposer(shuffled, validators[3], 0) == validators[0]
    # Genesis coinbase 0x00..00 is not a validator: the next greater address starts round 0.
    assert select_proposer(shuffled, ZERO, 0) == validators[0]
    assert select_proposer(shuffled, ZERO, 5) == validators[1]
    # A proposer that was voted out: the first address above it, wrapping to the first.
    between = (int.from_bytes(validators[1], "big") + 1).to_bytes(20, "big")
    assert between not in validators
    assert select_proposer(shuffled, between, 0) == validators[2]
    assert select_proposer(shuffled, b"\xff" * 20, 0) == validators[0]
    with pytest.raises(ValueError):
        select_proposer([], ZERO, 0)


@pytest.mark.parametrize("n, quorum, f", [(1, 1, 0), (2, 2, 0), (3, 2, 0), (4, 3, 1), (5, 4, 1), (6, 4, 1), (7, 5, 2)])
def test_quorum_and_fault_tolerance(n: int, quorum: int, f: int) -> None:
    assert qbft.quorum(n) == quorum
    assert qm.max_faulty(n) == f


def test_round_timer_doubles_per_round() -> None:
    machine = make_machine(NON)
    validators = ADDRESSES[:4]
    assert machine.start_height(1, validators, ZERO) == []  # no timer before the block timer
    timers = [a for a in machine.on_block_timer() if isinstance(a, ScheduleTimeout)]
    assert timers == [ScheduleTimeout(1, 0, 1.0)]
    seen = []
    for round_ in range(5):
        actions = machine.on_timeout(1, round_)
        seen += [a for a in actions if isinstance(a, ScheduleTimeout)]
        assert len(broadcasts(actions, m.ROUND_CHANGE)) == 1
    assert seen == [ScheduleTimeout(1, r, 2.0**r) for r in range(1, 6)]
    assert machine.round == 5
    # Stale timers: an old round, another height.
    assert machine.on_timeout(1, 3) == []
    assert machine.on_timeout(2, 5) == []
    assert qm.round_timeout(1.0, 200) == 2.0**qm.MAX_TIMER_EXPONENT


# ---------------------------------------------------------------------------------------------
# Happy paths


def test_lone_validator_decides_alone() -> None:
    machine = make_machine(0)
    assert machine.start_height(1, [ADDRESSES[0]], ZERO) == []
    actions = machine.on_block_timer()
    kinds = [type(a).__name__ if not isinstance(a, Broadcast) else m.MESSAGE_NAMES[a.code] for a in actions]
    assert kinds == ["ScheduleTimeout", "PROPOSAL", "PREPARE", "COMMIT", "Decided"]
    decided = actions[-1]
    assert isinstance(decided, Decided)
    assert (decided.height, decided.round) == (1, 0)
    check_seals(decided, (ADDRESSES[0],))
    assert decode_block(decided.block)[2] == ADDRESSES[0]
    # The next height works the same way; a decided height ignores further events.
    assert machine.on_timeout(1, 0) == []
    machine.start_height(2, [ADDRESSES[0]], ADDRESSES[0])
    assert any(isinstance(a, Decided) and a.height == 2 for a in machine.on_block_timer())


def test_happy_path_four_validators() -> None:
    net = Network(4, target_height=4)
    net.start()
    assert net.run_until(lambda: net.reached(4, net.nodes), limit=10.0)
    net.assert_agreement()
    for node in net.nodes:
        assert [d.round for d in node.decisions] == [0, 0, 0, 0]
        assert all(how == "decided" for _d, _b, how in node.chain.values())
        # Only the commits that arrive after a quorum already decided are left over.
        assert all("past height" in i.reason or "already decided" in i.reason for i in node.ignored)
    # Proposers rotate through the sorted validators, starting after genesis' 0x00..00.
    ordered = sorted(net.validators)
    coinbases = [decode_block(net.nodes[0].chain[h][1])[2] for h in range(1, 5)]
    assert coinbases == ordered
    # Per height: one proposal, and one prepare and one commit from every validator; no round changes.
    assert len(sent_of(net, m.PROPOSAL)) == 4
    assert len(sent_of(net, m.PREPARE)) == 16
    assert len(sent_of(net, m.COMMIT)) == 16
    assert sent_of(net, m.ROUND_CHANGE) == []


def test_round_zero_starts_on_a_proposal_that_beats_the_block_timer() -> None:
    proposer, follower = make_machine(P0), make_machine(NON)
    for machine in (proposer, follower):
        machine.start_height(1, ADDRESSES[:4], ZERO)
    proposal = broadcasts(proposer.on_block_timer(), m.PROPOSAL)[0]
    actions = follower.on_message(proposal.code, proposal.data)
    assert ScheduleTimeout(1, 0, 1.0) in actions
    assert len(broadcasts(actions, m.PREPARE)) == 1
    # The block timer afterwards neither restarts the timer nor proposes.
    assert follower.on_block_timer() == []


# ---------------------------------------------------------------------------------------------
# Round changes


def test_proposer_offline_round_change_then_next_proposer_decides() -> None:
    net = Network(4, target_height=1)
    offline = index_of(select_proposer(net.validators, ZERO, 0))
    net.nodes[offline].online = False
    net.start()
    others = [node for node in net.nodes if node.index != offline]
    assert net.run_until(lambda: net.reached(1, others), limit=10.0)
    net.assert_agreement()
    for node in others:
        (decided,) = node.decisions
        assert decided.round == 1
        assert decode_block(decided.block)[2] == select_proposer(net.validators, ZERO, 1)
    assert net.time >= REQUEST_TIMEOUT  # nothing decided before the round-0 timer expired
    assert net.nodes[offline].chain == {}
    round_changes = sent_of(net, m.ROUND_CHANGE)
    assert len(round_changes) == 3 and all(rc.round == 1 and rc.prepared is None for rc in round_changes)
    (proposal,) = sent_of(net, m.PROPOSAL)
    assert isinstance(proposal, m.Proposal)
    assert len(proposal.round_changes) == 3 and proposal.prepares == ()


def _prepared_then_commits_lost(net: Network) -> None:
    """Round 0: everyone prepares the round-0 block, every COMMIT of round 0 is lost."""
    net.block_filter = lambda src, dst, code, data: code == m.COMMIT and m.decode(code, data).round == 0


def test_round_change_carries_the_prepared_block_over() -> None:
    net = Network(4, target_height=1)
    _prepared_then_commits_lost(net)
    net.start()
    assert net.run_until(lambda: net.reached(1, net.nodes), limit=10.0)
    net.assert_agreement()
    (round0,) = [p for p in sent_of(net, m.PROPOSAL) if p.round == 0]
    assert isinstance(round0, m.Proposal)
    for node in net.nodes:
        (decided,) = node.decisions
        assert decided.round == 1
        # The round-1 proposer re-proposed the prepared round-0 block, re-stamped with round 1.
        assert BACKEND.block_digest(decided.block) == BACKEND.block_digest(round0.block)
        assert decided.block == BACKEND.with_round(round0.block, 1)
        assert decode_block(decided.block)[2] == round0.author  # coinbase: the original proposer
    round_changes = sent_of(net, m.ROUND_CHANGE)
    assert round_changes and all(
        isinstance(rc, m.RoundChange) and rc.prepared is not None and rc.prepared.round == 0 for rc in round_changes
    )
    (round1,) = [p for p in sent_of(net, m.PROPOSAL) if p.round == 1]
    assert isinstance(round1, m.Proposal) and len(round1.prepares) >= 3


def test_a_different_block_instead_of_the_prepared_one_is_refused() -> None:
    net = Network(4, target_height=1)
    _prepared_then_commits_lost(net)
    proposer1 = index_of(select_proposer(net.validators, ZERO, 1))
    victim = (proposer1 + 1) % 4
    held: list[bytes] = []

    def hold_round1_proposal(src: int, dst: int, code: int, data: bytes) -> bool:
        if code == m.COMMIT and m.decode(code, data).round == 0:
            return True
        if code == m.PROPOSAL and dst == victim and m.decode(code, data).round == 1:
            held.append(data)
            return True
        return False

    net.block_filter = hold_round1_proposal
    net.start()
    net.run_until(lambda: bool(held), limit=10.0)
    honest = m.decode(m.PROPOSAL, held[0])
    assert isinstance(honest, m.Proposal) and honest.prepares
    other_block = encode_block(1, 1, ADDRESSES[proposer1], b"another block")
    forged = m.sign_proposal(1, 1, other_block, signer(proposer1), honest.round_changes, honest.prepares)
    victim_machine = net.nodes[victim].machine
    refused = victim_machine.on_message(m.PROPOSAL, forged.encode())
    assert [type(a) for a in refused] == [Ignored]
    assert "step 6" in refused[0].reason and "digest" in refused[0].reason
    # The honest re-proposal is still accepted afterwards and the victim prepares it.
    accepted = victim_machine.on_message(m.PROPOSAL, held[0])
    assert broadcasts(accepted, m.PREPARE)


def test_f_plus_one_round_changes_pull_the_node_forward() -> None:
    machine = make_machine(0)
    machine.start_height(1, ADDRESSES[:4], ZERO)
    machine.on_block_timer()
    rc3 = m.sign_round_change(1, 3, signer(1))
    assert machine.on_message(m.ROUND_CHANGE, rc3.encode()) == []  # one is not f + 1 = 2
    assert machine.round == 0
    rc2 = m.sign_round_change(1, 2, signer(2))
    actions = machine.on_message(m.ROUND_CHANGE, rc2.encode())
    assert machine.round == 2  # the lowest of the f + 1 rounds
    (own,) = broadcasts(actions, m.ROUND_CHANGE)
    own_rc = m.decode(own.code, own.data)
    assert (own_rc.round, own_rc.author) == (2, ADDRESSES[0])
    assert ScheduleTimeout(1, 2, 4.0) in actions


def test_proposer_of_round_proposes_on_quorum_round_changes_with_new_block() -> None:
    validators = ADDRESSES[:4]
    proposer1 = index_of(select_proposer(validators, ZERO, 1))
    machine = make_machine(proposer1)
    machine.start_height(1, validators, ZERO)
    machine.on_block_timer()
    machine.on_timeout(1, 0)  # own round change for round 1
    others = [i for i in range(4) if i != proposer1]
    assert broadcasts(machine.on_message(m.ROUND_CHANGE, m.sign_round_change(1, 1, signer(others[0])).encode())) == []
    actions = machine.on_message(m.ROUND_CHANGE, m.sign_round_change(1, 1, signer(others[1])).encode())
    (proposal_b,) = broadcasts(actions, m.PROPOSAL)
    proposal = m.decode(proposal_b.code, proposal_b.data)
    assert isinstance(proposal, m.Proposal)
    assert proposal.round == 1 and len(proposal.round_changes) == 3 and proposal.prepares == ()
    assert decode_block(proposal.block)[:3] == (1, 1, ADDRESSES[proposer1])
    assert broadcasts(actions, m.PREPARE)


# ---------------------------------------------------------------------------------------------
# Validation of single messages


def _started(index: int, n: int = 4) -> QBFTMachine:
    machine = make_machine(index)
    machine.start_height(1, ADDRESSES[:n], ZERO)
    machine.on_block_timer()
    return machine


def _round0_proposal(height: int = 1, previous: bytes = ZERO, payload: bytes = b"txs") -> m.Proposal:
    proposer = index_of(select_proposer(ADDRESSES[:4], previous, 0))
    block = encode_block(height, 0, ADDRESSES[proposer], payload)
    return m.sign_proposal(height, 0, block, signer(proposer))


def test_messages_from_non_validators_are_ignored() -> None:
    machine = _started(NON)
    outsider = 6
    for message in (
        m.sign_prepare(1, 0, b"\x01" * 32, signer(outsider)),
        m.sign_round_change(1, 1, signer(outsider)),
        m.sign_proposal(1, 0, encode_block(1, 0, ADDRESSES[outsider], b"x"), signer(outsider)),
    ):
        (result,) = machine.on_message(message.code, message.encode())
        assert isinstance(result, Ignored) and "not a validator" in result.reason
        assert result.author == ADDRESSES[outsider]
    assert machine.status()["prepares"] == 0 and machine.status()["round_changes"] == {}


def test_bad_signatures_are_ignored_and_change_nothing() -> None:
    machine = _started(NON)
    proposal = _round0_proposal()
    items = rlp.decode(proposal.encode())
    signature = bytearray(items[0][1])
    signature[10] ^= 0x01  # still a well-formed signature: recovers to somebody else
    items[0][1] = bytes(signature)
    (result,) = machine.on_message(m.PROPOSAL, rlp.encode(items))
    assert isinstance(result, Ignored) and ("not a validator" in result.reason or "malformed" in result.reason)
    items[0][1] = b"\x00" * 65
    (result,) = machine.on_message(m.PROPOSAL, rlp.encode(items))
    assert isinstance(result, Ignored) and result.reason.startswith("malformed PROPOSAL") and result.author is None
    assert machine.status()["proposal"] is False
    # The genuine proposal is still accepted.
    assert broadcasts(machine.on_message(m.PROPOSAL, proposal.encode()), m.PREPARE)


def test_malformed_input_never_raises() -> None:
    machine = _started(NON)
    rng = random.Random(7)
    valid = [_round0_proposal().encode(), m.sign_prepare(1, 0, b"\x01" * 32, signer(1)).encode()]
    for _ in range(300):
        data = bytearray(rng.choice(valid))
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(data))
            data[position] = rng.randrange(256)
        if rng.random() < 0.2:
            data = data[: rng.randrange(len(data))]
        for code in (m.PROPOSAL, m.PREPARE, m.COMMIT, m.ROUND_CHANGE, 0x99):
            actions = machine.on_message(code, bytes(data))
            assert all(isinstance(a, (Ignored, Broadcast, ScheduleTimeout)) for a in actions)


def test_block_creation_failure_is_reported_not_raised() -> None:
    machine = make_machine(P0)
    backend = ToyBackend(ADDRESSES[P0])

    def not_ready(height: int, round: int) -> bytes:
        raise InvalidProposal("head is not the parent yet")

    backend.create_block = not_ready  # type: ignore[method-assign]
    machine._backend = backend
    machine.start_height(1, V4, ZERO)
    actions = machine.on_block_timer()
    assert actions[0] == ScheduleTimeout(1, 0, 1.0)
    assert isinstance(actions[1], Ignored) and "head is not the parent yet" in actions[1].reason
    assert broadcasts(actions) == []
    # A retry once the block can be built proposes normally.
    machine._backend = ToyBackend(ADDRESSES[P0])
    assert broadcasts(machine.on_block_timer(), m.PROPOSAL)


def test_message_bytes_may_come_as_bytearray_or_memoryview() -> None:
    machine = _started(NON)
    data = _round0_proposal().encode()
    assert broadcasts(machine.on_message(m.PROPOSAL, memoryview(bytearray(data))), m.PREPARE)


def test_own_messages_echoed_back_are_ignored() -> None:
    proposer = index_of(select_proposer(ADDRESSES[:4], ZERO, 0))
    machine = _started(proposer)
    state = machine.status()
    echo = m.sign_prepare(1, 0, b"\x01" * 32, signer(proposer))
    (result,) = machine.on_message(m.PREPARE, echo.encode())
    assert isinstance(result, Ignored) and "local node" in result.reason
    assert machine.status() == state


def test_duplicate_and_conflicting_messages_keep_the_first() -> None:
    machine = _started(NON)
    first = m.sign_prepare(1, 0, b"\x01" * 32, signer(1))
    assert machine.on_message(m.PREPARE, first.encode()) == []
    (dup,) = machine.on_message(m.PREPARE, first.encode())
    assert isinstance(dup, Ignored) and "duplicate prepare" in dup.reason
    second = m.sign_prepare(1, 0, b"\x02" * 32, signer(1))
    (conflict,) = machine.on_message(m.PREPARE, second.encode())
    assert isinstance(conflict, Ignored) and "different prepare was kept" in conflict.reason
    assert machine.status()["prepares"] == 1
    proposal = _round0_proposal()
    machine.on_message(m.PROPOSAL, proposal.encode())
    (again,) = machine.on_message(m.PROPOSAL, proposal.encode())
    assert isinstance(again, Ignored) and "duplicate proposal" in again.reason
    rc = m.sign_round_change(1, 1, signer(2))
    machine.on_message(m.ROUND_CHANGE, rc.encode())
    (rc_dup,) = machine.on_message(m.ROUND_CHANGE, rc.encode())
    assert isinstance(rc_dup, Ignored) and "duplicate round change" in rc_dup.reason


def test_prepares_and_commits_before_the_proposal_are_held_then_checked() -> None:
    machine = _started(NON)
    proposal = _round0_proposal()
    digest = BACKEND.block_digest(proposal.block)
    seal_digest = BACKEND.seal_digest(proposal.block)
    proposer = index_of(proposal.author)
    others = [i for i in range(4) if i not in (proposer, NON)]
    # A good commit, a commit whose seal is over something else, a prepare for another digest.
    good = m.sign_commit(1, 0, digest, KEYS[proposer].sign_recoverable(seal_digest, hasher=None), signer(proposer))
    bad_seal = m.sign_commit(1, 0, digest, KEYS[others[0]].sign_recoverable(b"\x07" * 32, hasher=None), signer(others[0]))
    wrong_prepare = m.sign_prepare(1, 0, b"\x09" * 32, signer(others[1]))
    for message in (good, bad_seal, wrong_prepare):
        assert machine.on_message(message.code, message.encode()) == []
    assert machine.status()["commits"] == 2 and machine.status()["prepares"] == 1
    actions = machine.on_message(m.PROPOSAL, proposal.encode())
    reasons = [a.reason for a in ignored(actions)]
    assert any("PREPARE round 0: digest differs" in r for r in reasons)
    assert any("COMMIT round 0: commit seal is by" in r for r in reasons)
    assert machine.status()["commits"] == 1 and machine.status()["prepares"] == 1  # good commit + own prepare
    # Prepares from the others make it prepared; it commits; with the good commit and one more it decides.
    for index in others:
        actions = machine.on_message(m.PREPARE, m.sign_prepare(1, 0, digest, signer(index)).encode())
    (own_commit,) = broadcasts(actions, m.COMMIT)
    committed = m.decode(own_commit.code, own_commit.data)
    assert isinstance(committed, m.Commit)
    assert qbft.recover_signer(committed.commit_seal, seal_digest) == ADDRESSES[NON]
    late = m.sign_commit(1, 0, digest, KEYS[others[1]].sign_recoverable(seal_digest, hasher=None), signer(others[1]))
    (decided,) = [a for a in machine.on_message(m.COMMIT, late.encode()) if isinstance(a, Decided)]
    check_seals(decided, tuple(ADDRESSES[:4]))
    assert len(decided.seals) == 3


def test_commit_with_a_seal_by_someone_else_is_refused_after_the_proposal() -> None:
    machine = _started(NON)
    proposal = _round0_proposal()
    machine.on_message(m.PROPOSAL, proposal.encode())
    digest, seal_digest = BACKEND.block_digest(proposal.block), BACKEND.seal_digest(proposal.block)
    stolen_seal = KEYS[0].sign_recoverable(seal_digest, hasher=None)
    (result,) = machine.on_message(m.COMMIT, m.sign_commit(1, 0, digest, stolen_seal, signer(1)).encode())
    assert isinstance(result, Ignored) and "commit seal is by" in result.reason
    (result,) = machine.on_message(m.COMMIT, m.sign_commit(1, 0, b"\x05" * 32, stolen_seal, signer(1)).encode())
    assert isinstance(result, Ignored) and "digest differs" in result.reason


# ---------------------------------------------------------------------------------------------
# Proposal justification


@dataclass
class Justification:
    block_a: bytes
    digest_a: bytes
    prepares_a: list[m.Signed[m.PreparePayload]]
    proposer1: int


def _justification() -> Justification:
    validators = ADDRESSES[:4]
    proposer0 = index_of(select_proposer(validators, ZERO, 0))
    proposer1 = index_of(select_proposer(validators, ZERO, 1))
    block_a = encode_block(1, 0, ADDRESSES[proposer0], b"block A")
    digest_a = BACKEND.block_digest(block_a)
    prepares_a = [m.sign_prepare(1, 0, digest_a, signer(i)).signed for i in range(3)]
    return Justification(block_a, digest_a, prepares_a, proposer1)


def _rc(index: int, round_: int = 1, prepared: tuple[int, bytes] | None = None, height: int = 1) -> m.Signed[m.RoundChangePayload]:
    metadata = m.PreparedRoundMetadata(*prepared) if prepared else None
    return m.sign_payload(m.RoundChangePayload(height, round_, metadata), signer(index))


def _forgeries() -> list[tuple[str, m.Proposal, str]]:
    j = _justification()
    p1 = j.proposer1
    fresh = encode_block(1, 1, ADDRESSES[p1], b"fresh")
    a_round1 = BACKEND.with_round(j.block_a, 1)
    quorum_fresh = [_rc(i) for i in range(3)]
    prepared_rcs = [_rc(0, prepared=(0, j.digest_a)), _rc(1), _rc(2)]
    wrong_digest_prepares = [m.sign_prepare(1, 0, b"\x0b" * 32, signer(i)).signed for i in range(3)]
    wrong_round_prepares = [m.sign_prepare(1, 2, j.digest_a, signer(i)).signed for i in range(3)]
    block_b = encode_block(1, 1, ADDRESSES[p1], b"block B")
    sign1 = signer(p1)
    other = (p1 + 1) % 4
    return [
        ("wrong proposer", m.sign_proposal(1, 1, encode_block(1, 1, ADDRESSES[other], b"x"), signer(other), quorum_fresh), "step 1"),
        ("too few round changes", m.sign_proposal(1, 1, fresh, sign1, quorum_fresh[:2]), "step 4 round changes: 2 of quorum 3"),
        ("duplicate round-change authors", m.sign_proposal(1, 1, fresh, sign1, [_rc(0), _rc(0), _rc(1)]), "same author"),
        ("round change for another round", m.sign_proposal(1, 1, fresh, sign1, [_rc(0), _rc(1), _rc(2, round_=2)]), "targets"),
        ("round change for another height", m.sign_proposal(1, 1, fresh, sign1, [_rc(0), _rc(1), _rc(2, height=2)]), "targets"),
        ("round change from an outsider", m.sign_proposal(1, 1, fresh, sign1, [_rc(0), _rc(1), _rc(6)]), "not a validator"),
        ("prepared round not below target", m.sign_proposal(1, 1, fresh, sign1, [_rc(0, prepared=(1, j.digest_a)), _rc(1), _rc(2)]), "not below"),
        (
            "disagreeing prepared digests",
            m.sign_proposal(1, 1, a_round1, sign1, [_rc(0, prepared=(0, j.digest_a)), _rc(1, prepared=(0, b"\x0c" * 32)), _rc(2)], j.prepares_a),
            "different digests",
        ),
        ("prepares without prepared round changes", m.sign_proposal(1, 1, fresh, sign1, quorum_fresh, j.prepares_a), "step 5"),
        ("new block with wrong coinbase", m.sign_proposal(1, 1, encode_block(1, 1, ADDRESSES[other], b"x"), sign1, quorum_fresh), "coinbase"),
        ("new block with wrong header round", m.sign_proposal(1, 1, encode_block(1, 0, ADDRESSES[p1], b"x"), sign1, quorum_fresh), "header round"),
        ("invalid new block", m.sign_proposal(1, 1, encode_block(1, 1, ADDRESSES[p1], b"invalid tx"), sign1, quorum_fresh), "transaction is invalid"),
        ("not the prepared block", m.sign_proposal(1, 1, block_b, sign1, prepared_rcs, j.prepares_a), "step 6"),
        ("prepared block not re-stamped", m.sign_proposal(1, 1, j.block_a, sign1, prepared_rcs, j.prepares_a), "header round is not 1"),
        ("prepare certificate with wrong digest", m.sign_proposal(1, 1, a_round1, sign1, prepared_rcs, wrong_digest_prepares), "step 7"),
        ("prepare certificate for wrong round", m.sign_proposal(1, 1, a_round1, sign1, prepared_rcs, wrong_round_prepares), "step 7"),
        ("too few prepares", m.sign_proposal(1, 1, a_round1, sign1, prepared_rcs, j.prepares_a[:2]), "2 prepares of quorum 3"),
        ("duplicate prepare authors", m.sign_proposal(1, 1, a_round1, sign1, prepared_rcs, [j.prepares_a[0]] * 3), "same author"),
        ("undecodable block", m.sign_proposal(1, 1, rlp.encode([b"x"]), sign1, quorum_fresh), "step 2"),
    ]


@pytest.mark.parametrize("name, proposal, reason", _forgeries(), ids=[f[0] for f in _forgeries()])
def test_forged_proposal_justifications_are_refused(name: str, proposal: m.Proposal, reason: str) -> None:
    machine = _started(NON)
    (result,) = machine.on_message(m.PROPOSAL, proposal.encode())
    assert isinstance(result, Ignored), result
    assert reason in result.reason
    assert machine.round == 0 and machine.status()["proposal"] is False


def test_round_zero_proposal_with_justification_is_refused() -> None:
    machine = _started(NON)
    plain = _round0_proposal()
    with_rcs = m.Proposal(plain.signed, (_rc(0), _rc(1), _rc(2)), ())
    (result,) = machine.on_message(m.PROPOSAL, with_rcs.encode())
    assert isinstance(result, Ignored) and "step 3" in result.reason


def test_valid_justified_reproposal_moves_to_its_round_and_is_prepared() -> None:
    j = _justification()
    target = NON
    machine = _started(target)
    a_round1 = BACKEND.with_round(j.block_a, 1)
    # Prepares for round 1 arrive first (future round): held.
    holders = [i for i in range(4) if i not in (target, j.proposer1)]
    for index in holders:
        assert machine.on_message(m.PREPARE, m.sign_prepare(1, 1, j.digest_a, signer(index)).encode()) == []
    assert machine.round == 0
    proposal = m.sign_proposal(1, 1, a_round1, signer(j.proposer1), [_rc(0, prepared=(0, j.digest_a)), _rc(1), _rc(2)], j.prepares_a)
    actions = machine.on_message(m.PROPOSAL, proposal.encode())
    assert machine.round == 1
    assert ScheduleTimeout(1, 1, 2.0) in actions
    assert broadcasts(actions, m.ROUND_CHANGE) == []  # a future proposal moves without a round change
    assert broadcasts(actions, m.PREPARE) and broadcasts(actions, m.COMMIT)  # held prepares + own = quorum
    assert machine.status()["prepared_round"] == 1


def test_round_change_prepared_certificate_is_checked() -> None:
    j = _justification()
    machine = _started(NON)
    a, b, c = OTHERS
    good = m.sign_round_change(1, 1, signer(a), m.PreparedRoundMetadata(0, j.digest_a), j.block_a, j.prepares_a)
    too_few = m.sign_round_change(1, 1, signer(b), m.PreparedRoundMetadata(0, j.digest_a), j.block_a, j.prepares_a[:2])
    wrong_block = m.sign_round_change(
        1, 1, signer(c), m.PreparedRoundMetadata(0, j.digest_a), encode_block(1, 0, ADDRESSES[0], b"other"), j.prepares_a
    )
    not_below = m.sign_round_change(1, 1, signer(b), m.PreparedRoundMetadata(1, j.digest_a), j.block_a, j.prepares_a)
    (r1,) = machine.on_message(m.ROUND_CHANGE, too_few.encode())
    assert isinstance(r1, Ignored) and "2 prepares of quorum 3" in r1.reason
    (r2,) = machine.on_message(m.ROUND_CHANGE, wrong_block.encode())
    assert isinstance(r2, Ignored) and "digest differs from the prepared metadata" in r2.reason
    (r3,) = machine.on_message(m.ROUND_CHANGE, not_below.encode())
    assert isinstance(r3, Ignored) and "not below" in r3.reason
    assert machine.on_message(m.ROUND_CHANGE, good.encode()) == []
    assert machine.status()["round_changes"] == {1: 1}


# ---------------------------------------------------------------------------------------------
# Future heights and rounds, memory caps


def test_future_height_messages_are_buffered_then_replayed() -> None:
    machine = _started(NON)
    previous = ADDRESSES[1]
    proposal2 = _round0_proposal(height=2, previous=previous)
    digest2 = BACKEND.block_digest(proposal2.block)
    voter = next(i for i in OTHERS if ADDRESSES[i] != proposal2.author)
    prepare2 = m.sign_prepare(2, 0, digest2, signer(voter))
    assert machine.on_message(m.PROPOSAL, proposal2.encode()) == []
    assert machine.on_message(m.PREPARE, prepare2.encode()) == []
    assert machine.status()["future_messages"] == {2: 2}
    (far,) = machine.on_message(m.PREPARE, m.sign_prepare(12, 0, digest2, signer(1)).encode())
    assert isinstance(far, Ignored) and "beyond the window" in far.reason
    actions = machine.start_height(2, ADDRESSES[:4], previous)
    assert ScheduleTimeout(2, 0, 1.0) in actions  # the replayed proposal started round 0
    assert len(broadcasts(actions, m.PREPARE)) == 1
    assert machine.status()["prepares"] == 2 and machine.status()["future_messages"] == {}
    (past,) = machine.on_message(m.PREPARE, m.sign_prepare(1, 0, digest2, signer(1)).encode())
    assert isinstance(past, Ignored) and "past height" in past.reason


def test_future_height_buffer_is_capped_per_author_and_for_outsiders() -> None:
    machine = _started(NON)
    results = []
    for i in range(qm.MAX_FUTURE_MESSAGES_PER_AUTHOR + 1):
        prepare = m.sign_prepare(2, i, b"\x01" * 32, signer(1))
        results.append(machine.on_message(m.PREPARE, prepare.encode()))
    assert all(r == [] for r in results[:-1])
    assert "buffer for this author is full" in results[-1][0].reason
    # Another validator still has room; non-validators share one bucket.
    assert machine.on_message(m.PREPARE, m.sign_prepare(2, 0, b"\x01" * 32, signer(2)).encode()) == []
    outsiders = [machine.on_message(m.PREPARE, m.sign_prepare(2, i, b"\x01" * 32, signer(5 + i % 2)).encode())
                 for i in range(qm.MAX_FUTURE_MESSAGES_PER_AUTHOR + 1)]
    assert "non-validators" in outsiders[-1][0].reason


def test_future_round_messages_are_capped_per_author() -> None:
    machine = _started(NON)
    for r in range(1, qm.MAX_FUTURE_ROUNDS_PER_AUTHOR + 1):
        assert machine.on_message(m.PREPARE, m.sign_prepare(1, r, b"\x01" * 32, signer(1)).encode()) == []
    (result,) = machine.on_message(m.PREPARE, m.sign_prepare(1, 50, b"\x01" * 32, signer(1)).encode())
    assert isinstance(result, Ignored) and "future rounds" in result.reason
    # A round already held still takes the author's other message types.
    assert machine.on_message(m.ROUND_CHANGE, m.sign_round_change(1, 3, signer(1)).encode()) == []


def test_late_commits_of_a_left_round_still_decide() -> None:
    machine = _started(NON)
    proposal = _round0_proposal()
    machine.on_message(m.PROPOSAL, proposal.encode())
    digest, seal_digest = BACKEND.block_digest(proposal.block), BACKEND.seal_digest(proposal.block)
    machine.on_timeout(1, 0)  # leaves round 0 unprepared
    assert machine.round == 1
    decided = []
    for i in OTHERS:
        commit = m.sign_commit(1, 0, digest, KEYS[i].sign_recoverable(seal_digest, hasher=None), signer(i))
        decided += [a for a in machine.on_message(m.COMMIT, commit.encode()) if isinstance(a, Decided)]
    (d,) = decided
    assert (d.height, d.round, d.block) == (1, 0, proposal.block)
    check_seals(d, tuple(ADDRESSES[:4]))
    (after,) = machine.on_message(m.PREPARE, m.sign_prepare(1, 1, digest, signer(OTHERS[0])).encode())
    assert isinstance(after, Ignored) and "already decided" in after.reason


def test_observer_follows_and_never_sends() -> None:
    net = Network(4, target_height=2)
    net.start()
    assert net.run_until(lambda: net.reached(2, net.nodes), limit=10.0)
    observer = make_machine(None)
    observer.start_height(1, net.validators, ZERO)
    assert observer.on_block_timer() == [ScheduleTimeout(1, 0, 1.0)]
    decisions = []
    for _t, _src, code, data in net.sent:
        for action in observer.on_message(code, data):
            assert not isinstance(action, Broadcast)
            if isinstance(action, Decided):
                decisions.append(action)
                observer.start_height(action.height + 1, net.validators, decode_block(action.block)[2])
    assert [BACKEND.block_digest(d.block) for d in decisions] == [net.nodes[0].chain[h][0] for h in (1, 2)]
    assert [a for a in observer.on_timeout(observer.height, 0) if isinstance(a, Broadcast)] == []
    with pytest.raises(ValueError):
        QBFTMachine(address=ADDRESSES[0], sign=None, backend=ToyBackend(ZERO), request_timeout=1.0)


# ---------------------------------------------------------------------------------------------
# Byzantine behaviour and randomized schedules


def equivocating_transform(
    net: Network, byzantine: int, rng: random.Random, *, chaos: bool = False, everyone_b: bool = False
) -> Transform:
    """The Byzantine node sends block A to some validators and block B to the others, and
    prepares/commits whichever each recipient got. With `chaos`, it also sends random round
    changes, prepares for nonsense digests and commits with forged seals, or stays silent."""
    key = KEYS[byzantine]
    sign = signer(byzantine)
    split: dict[tuple[int, int], set[int]] = {}
    alternative: dict[tuple[int, int], tuple[bytes, bytes]] = {}  # (h, r) -> (block B, digest B)

    def group_b(height: int, round_: int) -> set[int]:
        chosen = {i for i in range(len(net.nodes)) if i != byzantine and (everyone_b or rng.random() < 0.5)}
        return split.setdefault((height, round_), chosen)

    def transform(src: int, dst: int, code: int, data: bytes) -> list[tuple[int, bytes]]:
        message = m.decode(code, data)
        h, r = message.height, message.round
        sends = [(code, data)]
        if isinstance(message, m.Proposal):
            block_b = BACKEND.with_round(encode_block(h, r, ADDRESSES[byzantine], b"evil %d" % rng.randrange(2)), r)
            alternative.setdefault((h, r), (block_b, BACKEND.block_digest(block_b)))
            if dst in group_b(h, r):
                block_b = alternative[(h, r)][0]
                forged = m.sign_proposal(h, r, block_b, sign, message.round_changes, message.prepares)
                sends = [(code, forged.encode())]
        elif isinstance(message, (m.Prepare, m.Commit)) and (h, r) in alternative and dst in group_b(h, r):
            block_b, digest_b = alternative[(h, r)]
            if isinstance(message, m.Prepare):
                sends = [(code, m.sign_prepare(h, r, digest_b, sign).encode())]
            else:
                seal = key.sign_recoverable(BACKEND.seal_digest(block_b), hasher=None)
                sends = [(code, m.sign_commit(h, r, digest_b, seal, sign).encode())]
        if chaos:
            roll = rng.random()
            if roll < 0.1:
                sends = []
            elif roll < 0.2:
                sends.append((m.ROUND_CHANGE, m.sign_round_change(h, r + rng.randint(1, 40), sign).encode()))
            elif roll < 0.3:
                sends.append((m.PREPARE, m.sign_prepare(h, r + rng.randint(0, 2), rng.randbytes(32), sign).encode()))
            elif roll < 0.4:
                bogus = key.sign_recoverable(rng.randbytes(32), hasher=None)
                sends.append((m.COMMIT, m.sign_commit(h, r, rng.randbytes(32), bogus, sign).encode()))
        return sends

    return transform


def test_a_decided_block_stays_locked_against_a_byzantine_round_change_proposer() -> None:
    """One node decides A in round 0 (the others' commits are lost). The Byzantine proposer of
    round 1 holds the others' round changes (with A's prepare certificate) and proposes B with
    them. The others must refuse B; a later honest round re-proposes A."""
    net = Network(4, target_height=1)
    witness = NON
    net.nodes[P1].transform = equivocating_transform(net, P1, random.Random(1), everyone_b=True)
    net.block_filter = lambda src, dst, code, data: (
        code == m.COMMIT and m.decode(code, data).round == 0 and dst != witness
    )
    net.start()
    assert net.run_until(lambda: net.reached(1, net.nodes), limit=60.0)
    net.assert_agreement()
    assert net.nodes[witness].decisions[0].round == 0
    later = [node.decisions[0].round for node in net.nodes if node.index != witness]
    assert all(r >= 2 for r in later)  # round 1 (the Byzantine proposer's) decided nothing
    refusals = [i.reason for node in net.nodes for i in node.ignored if "step 6" in i.reason]
    assert refusals


def test_equivocating_proposer_never_causes_two_decisions_at_one_height() -> None:
    for seed in range(12):
        net = Network(4, seed=seed, sync_delay=3.0, target_height=2)
        byzantine = index_of(select_proposer(net.validators, ZERO, 0))
        net.nodes[byzantine].transform = equivocating_transform(net, byzantine, random.Random(seed))
        net.start()
        honest = net.honest({byzantine})
        assert net.run_until(lambda: net.reached(2, honest), limit=500.0), f"seed {seed}: no progress"
        net.assert_agreement()


@pytest.mark.parametrize("seed", range(30))
def test_randomized_safety_and_liveness(seed: int) -> None:
    """Loss, reordering (latency spread), duplication and a Byzantine validator until t = 20;
    then a calm network. Agreement at every height always; all honest nodes reach the target
    height in bounded virtual time once the faults stop."""
    rng = random.Random(seed)
    n = rng.choice([4, 4, 5, 7])
    net = Network(n, seed=seed, latency=(0.0, 0.6), drop=0.25, duplicate=0.15, sync_delay=4.0, target_height=4)
    byzantine = rng.randrange(n)
    net.nodes[byzantine].transform = equivocating_transform(net, byzantine, random.Random(seed + 1000), chaos=True)
    net.start()
    net.run(until=20.0)
    net.assert_agreement()
    net.drop, net.duplicate, net.latency = 0.0, 0.0, (0.01, 0.05)
    honest = net.honest({byzantine})
    assert net.run_until(lambda: net.reached(4, honest), limit=net.time + 2000.0), (
        f"seed {seed}: stuck at {[node.machine.status() for node in honest]}"
    )
    net.assert_agreement()
    for node in honest:
        for decided in node.decisions:
            check_seals(decided, net.validators)


# -- restart with and without the stored lock ----------------------------------------------

def _exchange(machines: dict[int, QBFTMachine], pending: list[tuple[int, qm.Action]], limit: int = 10_000) -> None:
    """Deliver every broadcast to every other machine in `machines` until none is left."""
    for _ in range(limit):
        if not pending:
            return
        sender, action = pending.pop(0)
        if not isinstance(action, Broadcast):
            continue
        for index, machine in machines.items():
            if index != sender:
                pending.extend((index, a) for a in machine.on_message(action.code, action.data))
    raise AssertionError("messages did not settle")


def _committed_everywhere_but_stored_once() -> tuple[bytes, dict[int, qm.Lock]]:
    """Height 1: all four prepare and send COMMIT, but only the round-0 proposer receives the
    commits and decides (and stores) block A before the others crash. Returns A's digest and
    the locks the three others had stored."""
    machines = {i: make_machine(i) for i in range(4)}
    for machine in machines.values():
        machine.start_height(1, V4, ZERO)
    pending = [(P0, a) for a in machines[P0].on_block_timer()]
    commits: list[tuple[int, qm.Action]] = []
    for _ in range(10_000):
        if not pending:
            break
        sender, action = pending.pop(0)
        if not isinstance(action, Broadcast):
            continue
        if action.code == m.COMMIT:
            commits.append((sender, action))  # held back: only P0 will get them
            continue
        for index, machine in machines.items():
            if index != sender:
                pending.extend((index, a) for a in machine.on_message(action.code, action.data))
    for sender, action in commits:
        if sender != P0:
            assert isinstance(action, Broadcast)
            machines[P0].on_message(action.code, action.data)
    decided = machines[P0].decision
    assert decided is not None
    locks = {i: machines[i].lock() for i in range(4) if i != P0}
    assert all(lock is not None and lock.prepared_round == 0 for lock in locks.values())
    return BACKEND.block_digest(decided.block), locks  # type: ignore[return-value]


def _restart_without(p0_down: dict[int, qm.Lock] | None) -> bytes:
    """The three others restart (with their stored locks, or without) while P0 stays down,
    and decide height 1 among themselves; returns the digest they decide."""
    machines = {i: make_machine(i) for i in range(4) if i != P0}
    pending: list[tuple[int, qm.Action]] = []
    for index, machine in machines.items():
        resume = p0_down[index] if p0_down is not None else None
        pending.extend((index, a) for a in machine.start_height(1, V4, ZERO, resume))
    for index, machine in machines.items():
        pending.extend((index, a) for a in machine.on_block_timer())
    _exchange(machines, pending)
    for _ in range(6):  # rounds time out until a proposer among the three gets a quorum
        if all(machine.decision is not None for machine in machines.values()):
            break
        pending = []
        for index, machine in machines.items():
            pending.extend((index, a) for a in machine.on_timeout(1, machine.round))
        _exchange(machines, pending)
    digests = {BACKEND.block_digest(x.decision.block) for x in machines.values() if x.decision is not None}
    assert len(digests) == 1, digests
    return digests.pop()


def test_a_restart_with_the_stored_lock_cannot_replace_a_committed_block() -> None:
    committed, locks = _committed_everywhere_but_stored_once()
    assert _restart_without(locks) == committed


def test_without_the_lock_a_restart_would_fork() -> None:
    """The control: what the stored lock prevents (two blocks decided at height 1)."""
    committed, _ = _committed_everywhere_but_stored_once()
    assert _restart_without(None) != committed


def test_worth_decoding_screens_heights_and_non_validators() -> None:
    machine = make_machine(0)
    machine.start_height(3, V4, ZERO)
    outsider = ADDRESSES[6]
    assert machine.worth_decoding(3, ADDRESSES[1])
    assert not machine.worth_decoding(3, outsider)      # not a validator of this height
    assert not machine.worth_decoding(2, ADDRESSES[1])  # past
    assert machine.worth_decoding(4, outsider)          # the next height's set may differ
    assert not machine.worth_decoding(3 + 11, ADDRESSES[1])  # beyond the future window (10)


def test_own_round_change_is_kept_for_peers_that_reconnect() -> None:
    machine = make_machine(NON)
    machine.start_height(1, V4, ZERO)
    machine.on_block_timer()
    assert machine.own_round_change() is None  # round 0: nothing sent
    actions = machine.on_timeout(1, 0)
    (sent,) = broadcasts(actions, m.ROUND_CHANGE)
    assert machine.own_round_change() == sent.data
    decoded = m.decode(m.ROUND_CHANGE, sent.data)
    assert (decoded.height, decoded.round, decoded.author) == (1, 1, ADDRESSES[NON])
