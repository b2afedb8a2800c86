#pragma version 0.4.3
#pragma evm-version cancun
"""
@title Commitment tracker: the "double fulfilment" (双兑现) of investment agreements
@notice Deployed in genesis at 0x0000000000000000000000000000000000001003.
        An agreement is split into commitments (clause, the side that owes it,
        responsible unit, deadline, description digest). The obligor reports
        fulfilment with an evidence digest; the counterparty or a regulator
        (supervisor) confirms it. Until confirmed, a commitment's status follows
        block time: on track -> due soon (reminder) -> overdue (warning) -> long
        overdue (demand, escalated to supervision). `escalate` records and logs
        each step once, so subscribers receive the alerts as events.
"""

interface IdentityRegistry:
    def has_role(who: address, roles: uint256) -> bool: view

IDENTITY: constant(address) = 0x0000000000000000000000000000000000001001
ADMIN: constant(uint256) = 1
TRADING_CENTER: constant(uint256) = 2
REGULATOR: constant(uint256) = 8
ANY_ROLE: constant(uint256) = 127

GOVERNMENT: constant(uint8) = 1
ENTERPRISE: constant(uint8) = 2

ON_TRACK: constant(uint8) = 0
REMINDER: constant(uint8) = 1   # due within the reminder window
WARNING: constant(uint8) = 2    # past the deadline
DEMAND: constant(uint8) = 3     # past the deadline by more than the demand delay
FULFILLED: constant(uint8) = 4

DEFAULT_REMINDER_WINDOW: constant(uint256) = 7 * 86400
DEFAULT_DEMAND_DELAY: constant(uint256) = 30 * 86400
MAX_TEXT: constant(uint256) = 64
MAX_PAGE: constant(uint256) = 200   # commitments per report or escalate call (bounds one call's gas)

struct Commitment:
    agreement: bytes32
    clause: String[MAX_TEXT]
    side: uint8
    responsible_unit: String[MAX_TEXT]
    obligor: address
    counterparty: address
    deadline: uint256
    description_digest: bytes32
    created_by: address
    created_at: uint256
    reported_at: uint256
    evidence_digest: bytes32
    fulfilled_at: uint256
    confirmed_by: address
    escalation: uint8

commitments: HashMap[uint256, Commitment]
commitment_count: public(uint256)
unit_commitment: public(HashMap[bytes32, HashMap[uint256, uint256]])
unit_count: public(HashMap[bytes32, uint256])
reminder_window_seconds: uint256   # 0 means the default
demand_delay_seconds: uint256      # 0 means the default

event CommitmentAdded:
    id: indexed(uint256)
    agreement: indexed(bytes32)
    unit: indexed(bytes32)
    clause: String[MAX_TEXT]
    side: uint8
    responsible_unit: String[MAX_TEXT]
    obligor: address
    counterparty: address
    deadline: uint256
    description_digest: bytes32

event FulfilmentReported:
    id: indexed(uint256)
    agreement: indexed(bytes32)
    obligor: indexed(address)
    evidence_digest: bytes32
    on_time: bool

event FulfilmentConfirmed:
    id: indexed(uint256)
    agreement: indexed(bytes32)
    by: indexed(address)
    evidence_digest: bytes32
    by_supervisor: bool

event CommitmentAlert:
    id: indexed(uint256)
    agreement: indexed(bytes32)
    unit: indexed(bytes32)
    level: uint8
    responsible_unit: String[MAX_TEXT]
    clause: String[MAX_TEXT]
    deadline: uint256
    escalated_to_supervision: bool

event PolicySet:
    reminder_window: uint256
    demand_delay: uint256
    by: address


@deploy
def __init__():
    pass


@internal
@view
def _reminder_window() -> uint256:
    w: uint256 = self.reminder_window_seconds
    return w if w != 0 else DEFAULT_REMINDER_WINDOW


@internal
@view
def _demand_delay() -> uint256:
    d: uint256 = self.demand_delay_seconds
    return d if d != 0 else DEFAULT_DEMAND_DELAY


@external
@view
def policy() -> (uint256, uint256):
    """(reminder window, demand delay) in seconds."""
    return self._reminder_window(), self._demand_delay()


@internal
@view
def _status(c: Commitment) -> uint8:
    if c.fulfilled_at != 0:
        return FULFILLED
    now: uint256 = block.timestamp
    if now > c.deadline + self._demand_delay():
        return DEMAND
    if now > c.deadline:
        return WARNING
    if now + self._reminder_window() >= c.deadline:
        return REMINDER
    return ON_TRACK


@external
@view
def status(id: uint256) -> uint8:
    c: Commitment = self.commitments[id]
    assert c.deadline != 0, "no such commitment"
    return self._status(c)


@external
@view
def get_commitment(id: uint256) -> Commitment:
    c: Commitment = self.commitments[id]
    assert c.deadline != 0, "no such commitment"
    return c


@external
def set_policy(reminder_window: uint256, demand_delay: uint256):
    """Set the reminder window and the demand delay (seconds), as an admin."""
    assert staticcall IdentityRegistry(IDENTITY).has_role(msg.sender, ADMIN), "only an admin may set the policy"
    assert reminder_window > 0 and demand_delay > 0, "windows must be positive"
    self.reminder_window_seconds = reminder_window
    self.demand_delay_seconds = demand_delay
    log PolicySet(reminder_window=reminder_window, demand_delay=demand_delay, by=msg.sender)


@external
def add(
    agreement: bytes32,
    clause: String[MAX_TEXT],
    side: uint8,
    responsible_unit: String[MAX_TEXT],
    obligor: address,
    counterparty: address,
    deadline: uint256,
    description_digest: bytes32,
) -> uint256:
    """Add one commitment of an agreement; returns its id (from 1)."""
    assert staticcall IdentityRegistry(IDENTITY).has_role(msg.sender, TRADING_CENTER | ADMIN), "only a trading center may add commitments"
    assert side == GOVERNMENT or side == ENTERPRISE, "side must be 1 (government) or 2 (enterprise)"
    assert len(clause) > 0 and len(responsible_unit) > 0, "clause and responsible unit are required"
    assert obligor != counterparty, "obligor and counterparty must differ"
    assert staticcall IdentityRegistry(IDENTITY).has_role(obligor, ANY_ROLE), "obligor is not an active member"
    assert staticcall IdentityRegistry(IDENTITY).has_role(counterparty, ANY_ROLE), "counterparty is not an active member"
    assert deadline > block.timestamp, "deadline must be in the future"
    id: uint256 = self.commitment_count + 1
    self.commitment_count = id
    unit: bytes32 = keccak256(responsible_unit)
    n: uint256 = self.unit_count[unit]
    self.unit_commitment[unit][n] = id
    self.unit_count[unit] = n + 1
    self.commitments[id] = Commitment(
        agreement=agreement, clause=clause, side=side, responsible_unit=responsible_unit,
        obligor=obligor, counterparty=counterparty, deadline=deadline,
        description_digest=description_digest, created_by=msg.sender, created_at=block.timestamp,
        reported_at=0, evidence_digest=empty(bytes32), fulfilled_at=0, confirmed_by=empty(address),
        escalation=ON_TRACK,
    )
    log CommitmentAdded(
        id=id, agreement=agreement, unit=unit, clause=clause, side=side, responsible_unit=responsible_unit,
        obligor=obligor, counterparty=counterparty, deadline=deadline, description_digest=description_digest,
    )
    return id


@external
def fulfil(id: uint256, evidence_digest: bytes32):
    """Report fulfilment (the obligor), with the digest of the evidence."""
    c: Commitment = self.commitments[id]
    assert c.deadline != 0, "no such commitment"
    assert c.fulfilled_at == 0, "commitment already fulfilled"
    assert msg.sender == c.obligor, "only the obligor may report fulfilment"
    assert evidence_digest != empty(bytes32), "evidence digest is empty"
    self.commitments[id].reported_at = block.timestamp
    self.commitments[id].evidence_digest = evidence_digest
    log FulfilmentReported(id=id, agreement=c.agreement, obligor=msg.sender, evidence_digest=evidence_digest, on_time=block.timestamp <= c.deadline)


@external
def confirm(id: uint256):
    """Confirm a reported fulfilment (the counterparty, or a regulator)."""
    c: Commitment = self.commitments[id]
    assert c.deadline != 0, "no such commitment"
    assert c.fulfilled_at == 0, "commitment already fulfilled"
    assert c.reported_at != 0, "fulfilment has not been reported"
    by_supervisor: bool = msg.sender != c.counterparty
    if by_supervisor:
        assert staticcall IdentityRegistry(IDENTITY).has_role(msg.sender, REGULATOR), "only the counterparty or a regulator may confirm"
    self.commitments[id].fulfilled_at = block.timestamp
    self.commitments[id].confirmed_by = msg.sender
    log FulfilmentConfirmed(id=id, agreement=c.agreement, by=msg.sender, evidence_digest=c.evidence_digest, by_supervisor=by_supervisor)


@external
def escalate(ids: DynArray[uint256, MAX_PAGE]) -> uint256:
    """Record and log each commitment whose status has reached a new alert level
    (reminder, warning, demand) since it was last escalated; any member may call.
    Returns how many alerts were raised."""
    assert staticcall IdentityRegistry(IDENTITY).has_role(msg.sender, ANY_ROLE), "only members may escalate"
    raised: uint256 = 0
    for id: uint256 in ids:
        c: Commitment = self.commitments[id]
        if c.deadline == 0:
            continue
        level: uint8 = self._status(c)
        if level == FULFILLED or level <= c.escalation:
            continue
        self.commitments[id].escalation = level
        raised += 1
        log CommitmentAlert(
            id=id, agreement=c.agreement, unit=keccak256(c.responsible_unit), level=level,
            responsible_unit=c.responsible_unit, clause=c.clause, deadline=c.deadline,
            escalated_to_supervision=level == DEMAND,
        )
    return raised


@external
@view
def report(unit: bytes32, start: uint256, count: uint256) -> uint256[5]:
    """Counts by status [on track, reminder, warning, demand, fulfilled] of up to
    MAX_PAGE commitments from position `start`: of one responsible unit
    (keccak256 of its name) or, with unit 0, of all commitments (ids from 1)."""
    assert count <= MAX_PAGE, "page too large"
    counts: uint256[5] = empty(uint256[5])
    total: uint256 = self.commitment_count if unit == empty(bytes32) else self.unit_count[unit]
    for i: uint256 in range(count, bound=MAX_PAGE):
        position: uint256 = start + i
        if position >= total:
            break
        id: uint256 = position + 1 if unit == empty(bytes32) else self.unit_commitment[unit][position]
        counts[convert(self._status(self.commitments[id]), uint256)] += 1
    return counts
