"""When the block timer fires: Besu's block timing, as a pure function of times.

The driver (node/consensus/driver.py) does the I/O around it: it notes on the producer's
clock when the height started and when transactions started waiting, and sleeps until
the time `next_block_time` gives or until something changes.
"""
from __future__ import annotations

import math

# A transaction that arrives into an empty pool (an idle chain) is not sealed at a
# block-timer tick less than this long after it arrived, but at the tick after: its
# receipt then never appears within a client's request cache of the nonce it was built
# with (ethers v6 caches every request, eth_getTransactionCount(addr, "pending")
# included, for 250 ms by default: a block sealed sooner sends ethers' next transaction
# out with the same nonce). Without it (0: Besu's timing exactly) a tick 14-25 ms after
# an ethers send is still inside that window, about one send in eighty on a 1 s period.
# With it, a quarter of such sends wait one period more (mean latency ~0.75 s, not 0.5 s).
MIN_TX_WAIT_SECONDS = 0.25


def next_block_time(
    head_timestamp: int,
    period: int,
    empty_period: int,
    height_started: float,
    waiting_since: float | None,
    min_wait: float = 0.0,
) -> float:
    """When the block timer for the head's child fires, on the producer's clock.

    Besu's rule (QbftBlockHeightManager.handleBlockTimerExpiry with BlockTimer): the timer
    first expires ``period`` after the parent's timestamp, or at once if the height started
    later than that; at an expiry with no transaction to include (and the empty-block
    period not reached) it is re-armed one ``period`` on. So the timer ticks on a schedule,

        anchor + j * period,  j >= 0,   anchor = max(head_timestamp + period, height_started)

    and transactions that were already waiting when the height started (`waiting_since` <=
    `height_started`) go at the anchor: a busy chain makes a block every period. One that
    arrives later, into an empty pool (an idle chain), goes at the first tick at least
    `min_wait` after it arrived (MIN_TX_WAIT_SECONDS in the node; 0 is Besu's timing
    exactly), not the instant it arrives. With nothing waiting (`waiting_since` None) an empty block is due
    ``empty_period`` after the parent, and a waiting transaction never makes the block
    later than that.
    """
    empty_due = float(head_timestamp + empty_period)
    if waiting_since is None:
        return empty_due
    anchor = max(float(head_timestamp + period), height_started)
    earliest = waiting_since if waiting_since <= height_started else waiting_since + min_wait
    ticks = max(0, math.ceil((earliest - anchor) / period))
    return min(empty_due, anchor + ticks * period)
