"""Transaction pool admission and ordering, against an in-memory account view."""
from __future__ import annotations

import pytest
from eth_account import Account

from node.errors import InvalidTransaction, PermissionDenied
from node.execution.txpool import MAX_NONCE_GAP, TxPool
from node.execution.vm import MAX_TX_BYTES

ALICE = Account.from_key(b"\x05" * 32)
BOB = Account.from_key(b"\x06" * 32)
STRANGER = Account.from_key(b"\x07" * 32)
SINK = "0x" + "22" * 20


def addr(account: Account) -> bytes:
    return bytes.fromhex(account.address[2:])


def raw(account: Account, nonce: int, **overrides: object) -> bytes:
    tx = {"nonce": nonce, "gas": 21_000, "gasPrice": 0, "to": SINK, "value": 1, "data": b"", "chainId": 1337}
    tx.update(overrides)
    return bytes(account.sign_transaction(tx).raw_transaction)


def permit(allowed: bool, tx: object) -> None:
    if not allowed:
        raise PermissionDenied("sender account not authorized to send transactions")


@pytest.fixture
def pool() -> TxPool:
    accounts = {addr(ALICE): (3, 10**18), addr(BOB): (0, 10**18)}
    return TxPool(
        chain_id=1337, block_gas_limit=1_000_000,
        read_account=lambda a: accounts.get(a, (0, 0)),
        check_permission=lambda tx: permit(tx.sender in accounts, tx),
        is_committed=lambda h: False,
    )


def test_nonce_gap_is_held_then_released(pool: TxPool) -> None:
    pool.add(raw(ALICE, 5))
    assert pool.counts() == (0, 1) and not pool.has_ready()
    pool.add(raw(ALICE, 3))
    assert pool.counts() == (1, 1)
    pool.add(raw(ALICE, 4))
    assert pool.counts() == (3, 0)
    assert [e.tx.nonce for e in pool.select(10**9)] == [3, 4, 5]
    assert pool.pending_nonce(addr(ALICE)) == 6


def test_selection_keeps_arrival_order_across_senders_and_the_gas_budget(pool: TxPool) -> None:
    pool.add(raw(BOB, 0))
    pool.add(raw(ALICE, 3))
    pool.add(raw(BOB, 1))
    assert [(e.sender, e.tx.nonce) for e in pool.select(10**9)] == [(addr(BOB), 0), (addr(ALICE), 3), (addr(BOB), 1)]
    assert len(pool.select(2 * 21_000)) == 2


def test_on_block_removes_included_and_stale(pool: TxPool) -> None:
    a3 = pool.add(raw(ALICE, 3))
    pool.add(raw(ALICE, 4))
    pool.on_block([a3], [])
    assert [e.tx.nonce for e in pool.select(10**9)] == [4]
    with pytest.raises(InvalidTransaction, match="nonce too low"):
        pool.add(raw(ALICE, 3, value=2))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: raw(ALICE, 2), "nonce too low"),
        (lambda: raw(ALICE, 3 + MAX_NONCE_GAP), "nonce too high"),
        (lambda: raw(ALICE, 3, chainId=1), "invalid chain id"),
        (lambda: raw(ALICE, 3, gas=2_000_000), "exceeds block gas limit"),
        (lambda: raw(ALICE, 3, gas=20_000), "intrinsic gas too low"),
        (lambda: raw(ALICE, 3, value=10**19), "insufficient funds"),
        (lambda: raw(ALICE, 3, data=b"\x01" * MAX_TX_BYTES), "oversized"),
        (lambda: b"\xf8\x01\x02", "rlp|decoded"),
        (lambda: b"", "empty"),
    ],
)
def test_refusals_use_geth_wording(pool: TxPool, make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidTransaction, match=message):
        pool.add(make())
    assert len(pool) == 0


def test_unprotected_duplicate_replacement_and_stranger(pool: TxPool) -> None:
    unprotected = ALICE.sign_transaction({"nonce": 3, "gas": 21_000, "gasPrice": 0, "to": SINK, "value": 1})
    with pytest.raises(InvalidTransaction, match="replay-protected"):
        pool.add(bytes(unprotected.raw_transaction))
    first = raw(ALICE, 3)
    pool.add(first)
    with pytest.raises(InvalidTransaction, match="already known"):
        pool.add(first)
    with pytest.raises(InvalidTransaction, match="replacement transaction underpriced"):
        pool.add(raw(ALICE, 3, value=7))
    with pytest.raises(PermissionDenied, match="not authorized"):
        pool.add(raw(STRANGER, 0, value=0))
    assert len(pool) == 1


def test_nonce_cache_is_bounded_by_the_pool(pool: TxPool) -> None:
    included = [pool.add(raw(ALICE, 3)), pool.add(raw(BOB, 0))]
    pool.add(raw(BOB, 1))
    pool.on_block(included, [])
    # Bob still has a transaction waiting, Alice has none: only Bob's nonce stays cached.
    assert set(pool._nonces) == {addr(BOB)}
    assert pool.pending_nonce(addr(BOB)) == 2


def test_long_contiguous_runs_are_accepted_but_gaps_are_bounded(pool: TxPool) -> None:
    for nonce in range(3, 3 + 3 * MAX_NONCE_GAP):
        pool.add(raw(ALICE, nonce))
    assert pool.counts() == (3 * MAX_NONCE_GAP, 0)
    next_nonce = 3 + 3 * MAX_NONCE_GAP
    pool.add(raw(ALICE, next_nonce + MAX_NONCE_GAP - 1))  # the largest gap still held
    with pytest.raises(InvalidTransaction, match="nonce too high"):
        pool.add(raw(ALICE, next_nonce + MAX_NONCE_GAP))


def test_oversized_initcode_is_refused(pool: TxPool) -> None:
    from node.execution.txpool import MAX_INITCODE_SIZE

    signed = ALICE.sign_transaction({"nonce": 3, "gas": 900_000, "gasPrice": 0, "value": 0, "chainId": 1337,
                                     "data": b"\x00" * (MAX_INITCODE_SIZE + 1)})
    with pytest.raises(InvalidTransaction, match="max initcode size exceeded"):
        pool.add(bytes(signed.raw_transaction))


def test_reads_and_refusals_leave_no_cached_state(pool: TxPool) -> None:
    for i in range(50):
        pool.pending_nonce(bytes([i]) * 20)
    with pytest.raises(InvalidTransaction):
        pool.add(raw(ALICE, 2))
    assert pool._nonces == {} and pool._by_sender == {}


def test_gapped_transactions_expire_but_executable_ones_stay() -> None:
    from node.execution.txpool import QUEUED_LIFETIME_SECONDS

    now = [0.0]
    pool = TxPool(chain_id=1337, block_gas_limit=1_000_000, read_account=lambda a: (3, 10**18),
                  check_permission=lambda tx: None, is_committed=lambda h: False, clock=lambda: now[0])
    pool.add(raw(ALICE, 3))
    pool.add(raw(ALICE, 9))  # waits for nonces 4..8
    now[0] = QUEUED_LIFETIME_SECONDS + 1
    pool.on_block([], [])
    assert pool.counts() == (1, 0)
    assert [e.tx.nonce for e in pool.select(10**9)] == [3]


def test_full_pool_makes_room_for_executable_transactions(pool: TxPool, monkeypatch: pytest.MonkeyPatch) -> None:
    import node.execution.txpool as txpool

    monkeypatch.setattr(txpool, "MAX_POOL_TXS", 3)
    pool.add(raw(ALICE, 10))
    pool.add(raw(ALICE, 11))
    pool.add(raw(BOB, 0))
    with pytest.raises(InvalidTransaction, match="txpool is full"):
        pool.add(raw(ALICE, 12))  # gapped: refused
    pool.add(raw(ALICE, 3))  # executable: displaces the oldest gapped one (nonce 10)
    assert sorted((e.sender, e.tx.nonce) for e in pool.select(10**9)) == sorted([(addr(ALICE), 3), (addr(BOB), 0)])
    assert len(pool) == 3


def test_high_s_is_refused_for_typed_transactions_too(pool: TxPool) -> None:
    # Stock py-evm checks EIP-2 low s only for legacy transactions.
    from eth.constants import SECPK1_N

    from node.execution.vm import TRANSACTION_BUILDER

    for fields in ({"gasPrice": 0}, {"maxFeePerGas": 0, "maxPriorityFeePerGas": 0}):
        tx = {"nonce": 3, "gas": 21_000, "to": SINK, "value": 1, "chainId": 1337, **fields}
        decoded = TRANSACTION_BUILDER.decode(bytes(ALICE.sign_transaction(tx).raw_transaction))
        if decoded.type_id is None:
            parity = (decoded.v - 35) % 2  # EIP-155: v = 35 + 2 * chain id + parity
            flipped = decoded.copy(s=SECPK1_N - decoded.s, v=decoded.v + (1 if parity == 0 else -1))
        else:
            flipped = decoded.copy(s=SECPK1_N - decoded.s, y_parity=1 - decoded.y_parity)
        with pytest.raises(InvalidTransaction, match="v, r, s"):
            pool.add(flipped.encode())
    assert len(pool) == 0
