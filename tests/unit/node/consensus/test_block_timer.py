"""The block timer's schedule (node.consensus.blocktimer.next_block_time): Besu's block timing,
plus the node's minimum wait for a transaction that arrives on an idle chain.

A fixed parent timestamp and fixed clock readings stand in for the producer's clock; the
function is pure, so each case is the time the timer fires for one set of inputs.
"""
from __future__ import annotations

import math

import pytest

from node.consensus.blocktimer import MIN_TX_WAIT_SECONDS, next_block_time

HEAD = 1_700_000_000  # the parent's timestamp (seconds)
PERIOD = 1  # blockperiodseconds of the dev chain
EMPTY = 60  # emptyblockperiodseconds of the dev chain
STARTED = HEAD + 0.02  # the parent was committed 20 ms after its timestamp


def test_nothing_waiting_means_an_empty_block_after_the_empty_period() -> None:
    assert next_block_time(HEAD, PERIOD, EMPTY, STARTED, None) == HEAD + EMPTY


def test_transactions_waiting_before_the_first_tick_go_one_period_after_the_parent() -> None:
    # A busy chain: the pool was not empty when the height started.
    assert next_block_time(HEAD, PERIOD, EMPTY, STARTED, STARTED) == HEAD + PERIOD
    assert next_block_time(HEAD, PERIOD, EMPTY, STARTED, HEAD + 0.99) == HEAD + PERIOD


def test_a_transaction_on_an_idle_chain_waits_for_the_next_tick_not_its_arrival() -> None:
    # The chain was idle for five seconds; the transaction arrives between two ticks.
    assert next_block_time(HEAD, PERIOD, EMPTY, STARTED, HEAD + 5.3) == HEAD + 6
    assert next_block_time(HEAD, PERIOD, EMPTY, STARTED, HEAD + 5.999) == HEAD + 6
    assert next_block_time(HEAD, PERIOD, EMPTY, STARTED, HEAD + 6.001) == HEAD + 7


def test_a_transaction_arriving_on_a_tick_goes_at_that_tick() -> None:
    assert next_block_time(HEAD, PERIOD, EMPTY, STARTED, HEAD + 5.0) == HEAD + 5


def test_the_schedule_follows_a_longer_block_period() -> None:
    period = 5
    assert next_block_time(HEAD, period, EMPTY, STARTED, STARTED) == HEAD + 5
    assert next_block_time(HEAD, period, EMPTY, STARTED, HEAD + 7) == HEAD + 10
    assert next_block_time(HEAD, period, EMPTY, STARTED, HEAD + 10) == HEAD + 10


def test_a_height_that_starts_late_is_anchored_at_its_start() -> None:
    # The parent was committed 1.7 s after its timestamp (slow round, restart): Besu's
    # timer, already expired, fires at once for what is waiting, then every period.
    late = HEAD + 1.7
    assert next_block_time(HEAD, PERIOD, EMPTY, late, late) == late
    assert next_block_time(HEAD, PERIOD, EMPTY, late, late + 0.5) == late + 1
    assert next_block_time(HEAD, PERIOD, EMPTY, late, late + 1.0) == late + 1


def test_a_waiting_transaction_never_makes_the_block_later_than_the_empty_block() -> None:
    # emptyblockperiodseconds need not be a multiple of blockperiodseconds.
    assert next_block_time(HEAD, 2, 3, STARTED, HEAD + 2.5) == HEAD + 3
    assert next_block_time(HEAD, PERIOD, EMPTY, STARTED, HEAD + 75.5) == HEAD + EMPTY


def test_a_dev_clock_moved_forward_keeps_the_schedule() -> None:
    # evm_increaseTime(3600) while idle: a transaction sent then goes at the next tick of
    # the same schedule on the moved clock.
    assert next_block_time(HEAD, PERIOD, 4000, STARTED, HEAD + 3600.4) == HEAD + 3601


@pytest.mark.parametrize("period", [1, 2, 5])
def test_every_arrival_goes_at_a_tick_at_or_after_it_and_within_one_period(period: int) -> None:
    for step in range(0, 20 * 1000 * period, 37):  # arrivals every 37 ms over 20 periods
        arrival = HEAD + step / 1000
        due = next_block_time(HEAD, period, 10_000, STARTED, arrival)
        assert due >= HEAD + period, arrival  # never before the parent's period is over
        assert due >= arrival, arrival  # never on arrival, before the tick
        assert due - max(arrival, HEAD + period) < period, arrival  # at the next tick
        ticks = (due - HEAD) / period
        assert math.isclose(ticks, round(ticks), abs_tol=1e-9), arrival  # on the schedule


def test_the_node_waits_at_least_a_client_cache_window_before_sealing_an_arrival() -> None:
    # ethers v6 caches eth_getTransactionCount for 250 ms: a receipt sooner than that
    # after the send let its next transaction reuse the nonce.
    assert MIN_TX_WAIT_SECONDS >= 0.25
    wait = MIN_TX_WAIT_SECONDS
    # Far enough from the next tick: that tick.
    assert next_block_time(HEAD, PERIOD, EMPTY, STARTED, HEAD + 5.3, wait) == HEAD + 6
    assert next_block_time(HEAD, PERIOD, EMPTY, STARTED, HEAD + 6 - wait, wait) == HEAD + 6
    # Closer than the minimum wait to it (the case that raced ethers): the tick after.
    assert next_block_time(HEAD, PERIOD, EMPTY, STARTED, HEAD + 5.98, wait) == HEAD + 7
    assert next_block_time(HEAD, PERIOD, EMPTY, STARTED, HEAD + 6.0, wait) == HEAD + 7


def test_the_minimum_wait_does_not_slow_a_busy_chain() -> None:
    # Transactions already waiting when the height started go one period after the
    # parent, however late in the period the height started.
    for started in (STARTED, HEAD + 0.8, HEAD + 0.99):
        assert next_block_time(HEAD, PERIOD, EMPTY, started, started, MIN_TX_WAIT_SECONDS) == HEAD + PERIOD
    late = HEAD + 1.7
    assert next_block_time(HEAD, PERIOD, EMPTY, late, late, MIN_TX_WAIT_SECONDS) == late


@pytest.mark.parametrize("period", [1, 2, 5])
def test_with_the_minimum_wait_every_arrival_is_sealed_within_one_period_after_it(period: int) -> None:
    wait = MIN_TX_WAIT_SECONDS
    for step in range(0, 20 * 1000 * period, 37):
        arrival = STARTED + 0.001 + step / 1000  # after the height started: an idle chain
        due = next_block_time(HEAD, period, 10_000, STARTED, arrival, wait)
        assert due >= HEAD + period, arrival
        assert due - arrival >= wait - 1e-9, arrival  # never inside the client's cache window
        assert due - max(arrival + wait, HEAD + period) < period, arrival  # the first tick after it
        ticks = (due - HEAD) / period
        assert math.isclose(ticks, round(ticks), abs_tol=1e-9), arrival
