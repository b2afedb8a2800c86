"""Alerts that raise themselves (node/execution/escalation.py): which commitments are due at
a block's time, the escalate transaction a validator signs, where it goes in a block, and
a validator building blocks on a real chain whose alerts appear once per stage."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector

from chaincode import COMMITMENT_TRACKER
from node.consensus.sealing import ValidatorKey, proposal_extra, with_seals
from node.errors import ConfigError
from node.execution.chain import BuiltBlock, Chain
from node.execution.escalation import (
    ESCALATION_GAS_PER_ID,
    MAX_ESCALATION_IDS,
    VALIDATOR_ROLE,
    EscalationError,
    Escalator,
    affordable_ids,
    build_escalation,
    escalate_ids,
    escalation_gas,
    pick_due,
    place,
    with_validator_members,
)
from node.execution.genesis import Genesis, build_genesis_document
from node.execution.permissions import Membership
from node.execution.vm import TRANSACTION_BUILDER
from node.network import importer
from node.ops.config import NodeFileConfig, ValidatorConfig, load_node_config, parse_node_config, write_node_config
from node.ops.runner import ensure_dev_data_dir
from node.service import NodeConfig, open_node
from node.storage.store import LevelStore

DAY = 86400
POLICY = (7 * DAY, 30 * DAY)  # the tracker's defaults
DEADLINE = 1_000_000_000
VALIDATOR = ValidatorKey(b"\x01" * 32)
ADMIN = Account.from_key(b"\x02" * 32)
OBLIGOR = Account.from_key(b"\x03" * 32)
COUNTERPARTY = Account.from_key(b"\x04" * 32)
ADD = function_signature_to_4byte_selector("add(bytes32,string,uint8,string,address,address,uint256,bytes32)")
GENESIS_TIME = 1_000


def record(id: int, raised: str = "on track", deadline: int = DEADLINE, confirmed: bool = False) -> dict[str, Any]:
    """An index record (node/storage/indexes.py) as far as choosing reads it."""
    return {"id": id, "deadline": deadline, "raised": raised, "confirmation": {"by": "0x"} if confirmed else None}


# -- choosing ------------------------------------------------------------------------------


@pytest.mark.parametrize(("now", "raised", "due"), [
    (DEADLINE - POLICY[0] - 1, "on track", False),   # one second before the reminder window
    (DEADLINE - POLICY[0], "on track", True),        # the window's first second: a reminder
    (DEADLINE - POLICY[0], "reminder", False),       # ... raised already
    (DEADLINE, "reminder", False),                   # at the deadline it is still a reminder
    (DEADLINE + 1, "reminder", True),                # past it: a warning
    (DEADLINE + 1, "on track", True),                # a reminder never raised does not block the warning
    (DEADLINE + 1, "warning", False),
    (DEADLINE + POLICY[1], "warning", False),        # overdue by exactly the delay: still a warning
    (DEADLINE + POLICY[1] + 1, "warning", True),     # past it: a demand
    (DEADLINE + POLICY[1] + 1, "demand", False),
    (DEADLINE + 10 * POLICY[1], "demand", False),    # the last level: never again
])
def test_due_at_each_boundary(now: int, raised: str, due: bool) -> None:
    assert pick_due([record(7, raised)], now, POLICY, MAX_ESCALATION_IDS).ids == ([7] if due else [])


def test_fulfilled_is_never_due_and_the_policy_is_the_one_given() -> None:
    late = DEADLINE + 100 * DAY
    assert pick_due([record(1, confirmed=True)], late, POLICY, 10).ids == []
    # A one-day window: five days before the deadline is on track, not a reminder.
    assert pick_due([record(1)], DEADLINE - 5 * DAY, (DAY, POLICY[1]), 10).ids == []
    assert pick_due([record(1)], DEADLINE - 5 * DAY, POLICY, 10).ids == [1]


def test_limit_order_and_what_was_examined() -> None:
    records = [record(1, "demand", DEADLINE - 90 * DAY), record(2, "demand", DEADLINE - 80 * DAY),
               record(3, "on track", DEADLINE - 70 * DAY), record(4, "demand", DEADLINE - 60 * DAY),
               record(5, "on track"), record(6, "on track")]
    pick = pick_due(records, DEADLINE + 1, POLICY, 2)
    assert pick.ids == [3, 5] and pick.examined == 5   # stopped at the second id chosen
    assert pick.settled == 2                          # 1 and 2 are at demand: never due again
    everything = pick_due(records, DEADLINE + 1, POLICY, 10)
    assert everything.ids == [3, 5, 6] and everything.examined == 6


def test_gas_share_bounds_the_ids() -> None:
    assert affordable_ids(150_000_000) == MAX_ESCALATION_IDS
    assert affordable_ids(2_000_000) == (1_000_000 - escalation_gas(0)) // ESCALATION_GAS_PER_ID
    assert affordable_ids(100_000) == 0


# -- the transaction -----------------------------------------------------------------------


def test_the_escalation_decodes_back_to_an_escalate_call_from_the_validator() -> None:
    tx = build_escalation(VALIDATOR, 1337, 5, [3, 1, 2])
    decoded = TRANSACTION_BUILDER.decode(tx.encode())
    assert decoded.sender == VALIDATOR.address
    assert decoded.to == COMMITMENT_TRACKER
    assert (decoded.chain_id, decoded.nonce, decoded.value) == (1337, 5, 0)
    assert decoded.max_fee_per_gas == decoded.max_priority_fee_per_gas == 0
    assert decoded.gas == escalation_gas(3)
    assert escalate_ids(decoded.data) == [3, 1, 2]
    decoded.validate()  # our signature rules (low s, y-parity 0/1)
    assert type(tx) is type(decoded)  # the class a block from the wire holds (it must encode in one)
    with pytest.raises(EscalationError):
        build_escalation(VALIDATOR, 1337, 0, [])
    with pytest.raises(EscalationError):
        build_escalation(VALIDATOR, 1337, 0, list(range(1, MAX_ESCALATION_IDS + 2)))


@pytest.mark.parametrize(("state", "pending", "own", "placed"), [
    (5, 5, 0, (5, True)),      # nothing of the validator's waits: first in the block
    (5, 7, 2, (7, False)),     # its two waiting transactions are in the block: after them
    (5, 7, 1, None),           # one of them waits for a later block: no escalation this time
    (5, 7, 0, None),
])
def test_placement_given_the_validators_own_pool_transactions(
        state: int, pending: int, own: int, placed: tuple[int, bool] | None) -> None:
    assert place(state, pending, own) == placed


def test_validators_join_the_genesis_members() -> None:
    a, b = b"\x0a" * 20, b"\x0b" * 20
    assert with_validator_members([(a, "ADMIN")], [a, b]) == [(a, "ADMIN"), (b, VALIDATOR_ROLE)]


# -- a validator on a real chain -------------------------------------------------------------


def _address(account: Any) -> bytes:
    return bytes.fromhex(account.address[2:])


def make_chain(path: Path, validator_member: bool) -> Chain:
    members = [(_address(ADMIN), "ADMIN"), (_address(OBLIGOR), "PARTY"), (_address(COUNTERPARTY), "PARTY")]
    if validator_member:
        members = with_validator_members(members, [VALIDATOR.address])
    genesis = Genesis.parse(build_genesis_document(
        chain_id=1337, validators=[VALIDATOR.address], alloc={}, members=members, timestamp=GENESIS_TIME))
    chain = Chain.initialise(LevelStore(path), genesis)
    chain.membership = Membership(chain.state_at)
    return chain


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    c = make_chain(tmp_path / "chain", validator_member=True)
    yield c
    c._store.close()


def add_tx(nonce: int, deadline: int, text: str = "x"):  # type: ignore[no-untyped-def]
    data = ADD + encode(["bytes32", "string", "uint8", "string", "address", "address", "uint256", "bytes32"],
                        [b"\x01" * 32, text, 1, text, OBLIGOR.address, COUNTERPARTY.address, deadline, b"\x02" * 32])
    signed = ADMIN.sign_transaction({"nonce": nonce, "gas": 2_000_000, "gasPrice": 0, "value": 0, "data": data,
                                     "to": "0x" + COMMITMENT_TRACKER.hex(), "chainId": 1337})
    return TRANSACTION_BUILDER.decode(bytes(signed.raw_transaction))


def commit(chain: Chain, transactions: list[Any], timestamp: int) -> BuiltBlock:
    built = chain.build_block(transactions, timestamp=timestamp, coinbase=VALIDATOR.address,
                              extra=proposal_extra(chain.validators_after(chain.head), 0))
    assert built.rejected == []
    chain.commit(with_seals(built.header, [VALIDATOR.commit_seal(built.header)]), built,
                 [tx.sender for tx in built.transactions])
    return built


def propose(chain: Chain, escalator: Escalator, timestamp: int, gas_budget: int = 150_000_000) -> BuiltBlock:
    """What NodeBackend.create_block does with an escalator, for a block with no pool transactions."""
    parent = chain.head
    escalation = escalator.plan(parent, timestamp, gas_budget)
    transactions: list[Any] = []
    tx = None
    if escalation is not None:
        transactions, tx = escalator.insert(escalation, transactions, parent)
    built = chain.build_block(transactions, timestamp=timestamp, coinbase=VALIDATOR.address,
                              extra=proposal_extra(chain.validators_after(parent), 0))
    if tx is not None and not escalator.keep(built, tx, parent):
        built = chain.build_block([t for t in transactions if t is not tx], timestamp=timestamp,
                                  coinbase=VALIDATOR.address, extra=proposal_extra(chain.validators_after(parent), 0))
    importer.encode_block(built.header, built.transactions)  # what the proposal sends must encode
    chain.commit(with_seals(built.header, [VALIDATOR.commit_seal(built.header)]), built,
                 [t.sender for t in built.transactions])
    return built


def escalator_for(chain: Chain, **options: Any) -> Escalator:
    def nonce(address: bytes) -> int:
        return chain.state_at(chain.head).get_nonce(address)  # type: ignore[arg-type]

    return Escalator(chain, chain._store, VALIDATOR, account_nonce=nonce, pending_nonce=nonce, **options)


def alerts(chain: Chain) -> list[tuple[int, str]]:
    """(commitment id, level) of every alert the index holds, in chain order."""
    found = []
    for event in chain.indexes.feed(["commitments"], after=None, limit=1000):
        if event["event"] == "CommitmentAlert":
            found.append((event["args"]["id"], ("on track", "reminder", "warning", "demand")[event["args"]["level"]]))
    return found


def test_a_proposer_raises_each_stage_once_as_block_time_passes(chain: Chain) -> None:
    deadline = GENESIS_TIME + 10 * DAY
    commit(chain, [add_tx(0, deadline), add_tx(1, deadline + DAY)], GENESIS_TIME + 1)
    escalator = escalator_for(chain)
    assert propose(chain, escalator, GENESIS_TIME + 2).transactions == ()       # nothing due yet
    built = propose(chain, escalator, deadline - 7 * DAY)                        # 1 enters its reminder window
    assert [tx.sender for tx in built.transactions] == [VALIDATOR.address]
    assert alerts(chain) == [(1, "reminder")]
    assert propose(chain, escalator, deadline - 7 * DAY + 1).transactions == ()  # raised: not again
    propose(chain, escalator, deadline + 1)                                      # 1 overdue, 2 in its window
    assert alerts(chain) == [(1, "reminder"), (1, "warning"), (2, "reminder")]
    propose(chain, escalator, deadline + 31 * DAY + 2)                           # both long overdue
    assert alerts(chain)[3:] == [(1, "demand"), (2, "demand")]
    assert propose(chain, escalator, deadline + 60 * DAY).transactions == ()
    # A restarted node (a new escalator, nothing in memory) finds nothing new to raise.
    assert propose(chain, escalator_for(chain), deadline + 61 * DAY).transactions == ()
    assert len(alerts(chain)) == 5


def test_the_scan_cap_goes_on_where_it_stopped(chain: Chain) -> None:
    """More open commitments in the alert windows than one scan reads: the later ones are
    reached in the following blocks, not starved by the ones already raised."""
    deadline = GENESIS_TIME + 10 * DAY
    commit(chain, [add_tx(i, deadline + i) for i in range(7)], GENESIS_TIME + 1)
    escalator = escalator_for(chain, scan_rows=3)
    for step in range(4):
        propose(chain, escalator, deadline - 7 * DAY + 10 + step)
    assert sorted(i for i, _ in alerts(chain)) == list(range(1, 8))
    assert {level for _, level in alerts(chain)} == {"reminder"}


def test_after_a_restart_the_settled_prefix_is_passed_over_once_not_on_every_pass(chain: Chain) -> None:
    """Commitments raised to demand and never confirmed stay open at the front of the deadline
    index. A restarted validator (its floor in memory only) reads past them once; the
    commitments that come due afterwards are raised at the next proposal, not a whole pass
    over the settled ones later."""
    settled, deadline = 12, GENESIS_TIME + 10 * DAY
    commit(chain, [add_tx(i, deadline + i) for i in range(settled)], GENESIS_TIME + 1)
    now = deadline + 40 * DAY
    propose(chain, escalator_for(chain), now)  # every one raised to demand at once
    assert len(alerts(chain)) == settled
    escalator = escalator_for(chain, scan_rows=3)  # the restart
    waited = []
    for added in range(settled, settled + 3):
        now += 1
        due = now + 8 * DAY
        commit(chain, [add_tx(added, due)], now)
        now = due - 7 * DAY  # in its reminder window from here
        before, proposals = len(alerts(chain)), 0
        while len(alerts(chain)) == before and proposals < 50:
            now += 1
            proposals += 1
            propose(chain, escalator, now)
        waited.append(proposals)
    # The first pass after the restart reads the settled rows (settled / scan_rows blocks);
    # after it, a new due commitment is raised at once.
    assert waited[1:] == [1, 1], waited


def test_the_gas_given_covers_the_worst_case(chain: Chain) -> None:
    """A first alert on commitments whose clause and unit are the tracker's 64 characters
    (the largest event, and the storage write from zero) within escalation_gas."""
    count = 12
    deadline = GENESIS_TIME + 10 * DAY
    commit(chain, [add_tx(i, deadline, f"{i:02d}" + "u" * 62) for i in range(count)], GENESIS_TIME + 1)
    built = propose(chain, escalator_for(chain), deadline - DAY)
    (receipt,) = built.receipts
    assert receipt.state_root == b"\x01" and len(alerts(chain)) == count
    assert receipt.gas_used <= escalation_gas(count)
    assert receipt.gas_used / count > 0.7 * ESCALATION_GAS_PER_ID  # the per-id figure is not wildly generous


def test_a_validator_that_is_not_a_member_logs_once_and_raises_nothing(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    chain = make_chain(tmp_path / "chain", validator_member=False)
    try:
        deadline = GENESIS_TIME + 10 * DAY
        commit(chain, [add_tx(0, deadline)], GENESIS_TIME + 1)
        escalator = escalator_for(chain)
        with caplog.at_level(logging.WARNING, logger="ledger.escalation"):
            for step in range(3):
                assert propose(chain, escalator, deadline + step).transactions == ()
        assert [r.getMessage() for r in caplog.records if "not an active member" in r.getMessage()] != []
        assert len(caplog.records) == 1
        assert alerts(chain) == []
    finally:
        chain._store.close()


def test_an_escalation_that_reverts_is_taken_out_of_the_block(
        chain: Chain, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """The block goes without it (built again), and the next heights stay quiet: one warning."""
    deadline = GENESIS_TIME + 10 * DAY
    commit(chain, [add_tx(0, deadline)], GENESIS_TIME + 1)
    escalator = escalator_for(chain)
    # Too little gas for the call: it runs out and reverts inside the block.
    monkeypatch.setattr("node.execution.escalation.escalation_gas", lambda count: 30_000)
    with caplog.at_level(logging.WARNING, logger="ledger.escalation"):
        assert propose(chain, escalator, deadline).transactions == ()
        assert propose(chain, escalator, deadline + 1).transactions == ()  # quiet for a while
    assert [r.getMessage() for r in caplog.records if "reverted" in r.getMessage()] != []
    assert len(caplog.records) == 1
    assert alerts(chain) == []


# -- the switch, and the genesis the node writes ----------------------------------------------


def test_node_json_switch_parses_writes_and_refuses_nonsense(tmp_path: Path) -> None:
    assert parse_node_config({"validator": {"auto_escalate": False}}, tmp_path).validator == ValidatorConfig(False)
    assert parse_node_config({}, tmp_path).validator is None  # the default: on
    written = NodeFileConfig(validator=ValidatorConfig(auto_escalate=False))
    write_node_config(tmp_path, written)
    assert load_node_config(tmp_path) == written
    for document, field in (({"validator": {"auto_escalate": "no"}}, "validator.auto_escalate"),
                            ({"validator": {"auto_escalation": False}}, "validator.auto_escalation"),
                            ({"validator": []}, "validator")):
        with pytest.raises(ConfigError) as refused:
            parse_node_config(document, tmp_path)
        assert refused.value.field == field


def test_dev_node_validator_is_a_member_and_escalates_unless_switched_off(tmp_path: Path) -> None:
    ensure_dev_data_dir(tmp_path / "dev")
    genesis = Genesis.load(tmp_path / "dev" / "genesis.json")
    assert [(m.address, m.role) for m in genesis.members][1:] == [(genesis.validators[0], VALIDATOR_ROLE)]
    for auto, expected in ((True, True), (False, False)):
        node = open_node(NodeConfig(data_dir=tmp_path / "dev", dev=True, open_permissioning=True, auto_escalate=auto))
        try:
            assert (node.escalator is not None) == expected
            if node.escalator is not None:
                assert node.escalator.address == genesis.validators[0]
        finally:
            node.close()
