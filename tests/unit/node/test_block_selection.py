"""Block selection by gas used (node/consensus/backend.py: GasEstimates, select_by_estimate).

A proposer fills a block by an estimate of the gas its transactions will use, learnt from
the receipts of earlier transactions to the same function, so a block holds more than its
budget divided by the transactions' limits when they use less than their limits. Blocks
are built and committed on a real chain from a real pool: an estimate that is too low
must never give an invalid block, a refused transaction or a lost one.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from node.consensus.backend import ESTIMATE_WINDOW, MIN_USED_RATIO, GasEstimates, function_key, select_by_estimate
from node.consensus.sealing import ValidatorKey, proposal_extra, with_seals
from node.execution.chain import BuiltBlock, Chain
from node.execution.genesis import Genesis, build_genesis_document
from node.execution.txpool import TxPool
from node.execution.vm import TRANSACTION_BUILDER
from node.storage.store import LevelStore

CHAIN_ID = 1337
VALIDATOR = ValidatorKey(b"\x01" * 32)
SENDERS = [Account.from_key(bytes([0x30 + i]) * 32) for i in range(8)]
TARGET = b"\x77" * 20  # an account without code: a transfer uses 21,000 gas
GENESIS_TIME = 1_000


def address(account: LocalAccount) -> bytes:
    return bytes.fromhex(account.address[2:])


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    store = LevelStore(tmp_path / "chain")
    doc = build_genesis_document(
        chain_id=CHAIN_ID, validators=[VALIDATOR.address], alloc={address(a): 10**21 for a in SENDERS},
        members=[(address(a), "PARTY") for a in SENDERS], timestamp=GENESIS_TIME, gas_limit=2_000_000)
    yield Chain.initialise(store, Genesis.parse(doc))
    store.close()


def pool_of(chain: Chain) -> TxPool:
    def account(sender: bytes) -> tuple[int, int]:
        state = chain.state_at(chain.head)
        return state.get_nonce(sender), state.get_balance(sender)  # type: ignore[arg-type]

    return TxPool(chain_id=CHAIN_ID, block_gas_limit=chain.head.gas_limit, read_account=account,
                  check_permission=lambda tx: None, is_committed=lambda h: False)


def transfer(sender: LocalAccount, nonce: int, gas: int, data: bytes = b"") -> bytes:
    fields: dict[str, Any] = {"nonce": nonce, "gas": gas, "gasPrice": 0, "value": 1, "data": data,
                              "chainId": CHAIN_ID, "to": "0x" + TARGET.hex()}
    return bytes(sender.sign_transaction(fields).raw_transaction)


def propose(chain: Chain, pool: TxPool, estimates: GasEstimates, gas_budget: int) -> BuiltBlock:
    """What NodeBackend.create_block does with the pool: select, build, learn, commit."""
    parent = chain.head
    entries = select_by_estimate(pool, estimates, gas_budget, parent.gas_limit)
    built = chain.build_block([e.tx for e in entries], timestamp=parent.timestamp + 1, coinbase=VALIDATOR.address,
                              extra=proposal_extra(chain.validators_after(parent), 0))
    estimates.observe(built.transactions, built.receipts)
    chain.commit(with_seals(built.header, [VALIDATOR.commit_seal(built.header)]), built,
                 [tx.sender for tx in built.transactions])
    pool.on_block(built.transactions, [r.transaction for r in built.rejected])
    return built


def test_a_block_holds_more_than_its_budget_in_limits(chain: Chain) -> None:
    """Transfers with a 100,000 limit use 21,000: once a block has shown it for each
    sender, a block with a 400,000 budget holds 8 of them (the estimate's floor, half the
    limit), not the 4 that the limits allow."""
    pool, estimates = pool_of(chain), GasEstimates()
    for nonce in range(6):
        for sender in SENDERS:
            pool.add(transfer(sender, nonce, 100_000))
    first = propose(chain, pool, estimates, 100_000 * len(SENDERS))
    assert len(first.transactions) == len(SENDERS)  # nothing known yet: by limits, one per sender
    second = propose(chain, pool, estimates, 400_000)
    assert len(second.transactions) == int(400_000 // (100_000 * MIN_USED_RATIO)) > 400_000 // 100_000
    assert second.rejected == [] and second.header.gas_used == 21_000 * len(second.transactions) <= 400_000
    # the pool's order kept: arrival order, each sender's nonces in turn
    assert [(tx.sender, tx.nonce) for tx in second.transactions] == \
        [(address(s), n) for n in range(6) for s in SENDERS][len(SENDERS):len(SENDERS) + 8]


def test_too_low_an_estimate_never_makes_an_invalid_block_or_loses_a_transaction(chain: Chain) -> None:
    """Transfers first sent with a limit twice their use teach a half (the floor); then the
    same transfers come with limits equal to their use. The estimate is twice too
    low, yet every block is valid, no transaction is refused, and all are included in
    nonce order: a block's limits still fit in the block gas limit (2,000,000), so py-evm's
    "exceeds gas limit" refusal cannot happen."""
    pool, estimates = pool_of(chain), GasEstimates()
    for sender in SENDERS:
        pool.add(transfer(sender, 0, 42_000))
    propose(chain, pool, estimates, 2_000_000)
    assert estimates.estimate(TRANSACTION_BUILDER.decode(transfer(SENDERS[0], 1, 21_000))) == 10_500
    sent = [(address(s), n) for n in range(1, 21) for s in SENDERS]  # 160 x 21,000 = 1.7 blocks
    for n in range(1, 21):
        for sender in SENDERS:
            pool.add(transfer(sender, n, 21_000))
    included: list[tuple[bytes, int]] = []
    for _ in range(10):
        built = propose(chain, pool, estimates, chain.head.gas_limit)
        assert built.rejected == []
        assert built.header.gas_used <= chain.head.gas_limit
        included += [(tx.sender, tx.nonce) for tx in built.transactions]
        if not pool.has_ready():
            break
    assert sorted(included) == sorted(sent) and len(pool) == 0
    for sender in SENDERS:  # each sender's nonces in order across blocks
        nonces = [n for s, n in included if s == address(sender)]
        assert nonces == sorted(nonces)


def test_a_sender_that_does_not_fit_waits_with_its_later_nonces(chain: Chain) -> None:
    """A large transaction that does not fit stops its sender for this block (its later
    nonces would be refused for a gap); other senders' smaller ones still go."""
    pool, estimates = pool_of(chain), GasEstimates()
    big, small = SENDERS[0], SENDERS[1]
    pool.add(transfer(small, 0, 30_000))
    pool.add(transfer(big, 0, 500_000))
    pool.add(transfer(big, 1, 21_000))
    pool.add(transfer(small, 1, 30_000))
    chosen = select_by_estimate(pool, estimates, 100_000, chain.head.gas_limit)
    assert [(e.sender, e.tx.nonce) for e in chosen] == [(address(small), 0), (address(small), 1)]


def test_estimates_take_the_highest_recent_share_within_bounds() -> None:
    estimates = GasEstimates(window=3, max_keys=2)

    class Receipt:
        def __init__(self, gas_used: int, succeeded: bool = True) -> None:
            self.gas_used = gas_used
            self.state_root = b"\x01" if succeeded else b""  # py-evm's Byzantium status

    def learn(txs: list[Any], running_totals: list[int], succeeded: bool = True) -> None:
        receipts: list[Any] = [Receipt(total, succeeded) for total in running_totals]
        estimates.observe(txs, receipts)

    def tx(to: bytes, data: bytes, gas: int, account: LocalAccount = SENDERS[0]) -> Any:
        return TRANSACTION_BUILDER.decode(bytes(account.sign_transaction(
            {"nonce": 0, "gas": gas, "gasPrice": 0, "value": 0, "data": data, "chainId": CHAIN_ID,
             "to": "0x" + to.hex()}).raw_transaction))

    a, b, c = b"\x01" * 20, b"\x02" * 20, b"\x03" * 20
    call_a = tx(a, b"\xaa\xbb\xcc\xdd" + b"\x00" * 32, 100_000)
    assert estimates.estimate(call_a) == 100_000  # never seen: its limit
    learn([call_a] * 3, [60_000, 140_000, 210_000])  # used 60,000, 80,000, 70,000 (running totals)
    assert estimates.estimate(tx(a, b"\xaa\xbb\xcc\xdd", 200_000)) == 160_000  # the highest share, 0.8
    assert estimates.estimate(tx(a, b"\xaa\xbb\xcc\xde", 200_000)) == 200_000  # another function
    learn([call_a] * 3, [10_000, 20_000, 30_000])
    assert estimates.estimate(call_a) == int(100_000 * MIN_USED_RATIO)  # 0.1, held at the floor (0.5)
    assert ESTIMATE_WINDOW >= 3
    # bounded in functions, least recently seen forgotten first
    learn([tx(b, b"", 50_000)], [21_000])
    learn([tx(c, b"", 50_000)], [21_000])
    assert len(estimates) == 2 and estimates.estimate(call_a) == 100_000
    assert function_key(call_a) == (address(SENDERS[0]), a, b"\xaa\xbb\xcc\xdd")


def test_no_one_lowers_another_senders_estimates_and_reverts_teach_nothing() -> None:
    """A sender that sends cheap calls to a shared function (reverting early, say) must not
    make other senders' calls to it look cheap: their blocks would then overrun the time
    budget. And a reverted call's gas says nothing about the function's path."""
    estimates = GasEstimates()

    class Receipt:
        def __init__(self, gas_used: int, succeeded: bool) -> None:
            self.gas_used = gas_used
            self.state_root = b"\x01" if succeeded else b""

    def call(account: LocalAccount, nonce: int, gas: int) -> Any:
        return TRANSACTION_BUILDER.decode(bytes(account.sign_transaction(
            {"nonce": nonce, "gas": gas, "gasPrice": 0, "value": 0, "data": b"\x12\x34\x56\x78",
             "chainId": CHAIN_ID, "to": "0x" + TARGET.hex()}).raw_transaction))

    honest, attacker = SENDERS[0], SENDERS[1]
    estimates.observe([call(honest, 0, 350_000)], [Receipt(270_000, True)])
    assert estimates.estimate(call(honest, 1, 350_000)) == 270_000
    cheap = [call(attacker, n, 100_000) for n in range(ESTIMATE_WINDOW)]
    estimates.observe(cheap, [Receipt(25_000 * (i + 1), True) for i in range(len(cheap))])
    assert estimates.estimate(call(honest, 1, 350_000)) == 270_000  # untouched by the other sender
    assert estimates.estimate(call(attacker, 9, 100_000)) == int(100_000 * MIN_USED_RATIO)  # its own, floored
    reverted = [call(SENDERS[2], n, 100_000) for n in range(3)]
    estimates.observe(reverted, [Receipt(10_000 * (i + 1), False) for i in range(3)])
    assert estimates.estimate(call(SENDERS[2], 3, 100_000)) == 100_000  # nothing learnt: its limit
