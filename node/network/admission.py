"""One connection per peer name, and the live one stays: which of two connections to a
peer name `node.network.peers.PeerNetwork` keeps.

A second connection for a name that has one is never a silent replacement — another
certificate for the same name (issued twice, copied) must not displace the live peer.
`contest` decides, at both ends alike:

1. both dialled by the same side, or the new one loses the crossing-dial tie-break
   (below): the existing connection is *probed* — a REQUEST with `PROBE_CODE`, which
   the transport answers itself (an older node answers it with an ERROR, which proves
   it alive just as well). Answered within `Limits.probe_timeout`: the newcomer is
   refused (`duplicate_connection`, a WARNING). Not answered, or the connection
   ended: it was stale (a restarted peer's, a partition's) and is closed
   (`stale_replaced`); the newcomer takes its place. A peer that restarted closed its
   old socket, so we usually see that connection end before the new one arrives.
2. two connections crossing (each side dialled the other): both ends keep the one
   dialled by the lexicographically smaller name. If that is the newcomer and we
   dialled it, the existing one is closed at once; if the peer dialled it, we wait up
   to `Limits.crossed_dial_grace` for the peer to close the existing one (it decides
   the same), and if it does not, go on as in 1 — so an impostor dialling in with a
   smaller name than ours is refused too.

The network considers one newcomer per name at a time (another arriving meanwhile is
refused), and a dialler whose peer is already connected waits for that connection to
end before it dials again.
"""
from __future__ import annotations

import asyncio
import collections
import enum
import logging
from collections.abc import Callable

from node.network.connection import Connection, Limits, PeerError

log = logging.getLogger("ledger.p2p")

# REQUEST code of the liveness probe; the transport answers it and never hands it to the
# node's request handler. The node's own codes are below 0x80.
PROBE_CODE = 0xFF


class Verdict(enum.Enum):
    KEEP = "keep"          # the existing connection stays; the newcomer is refused
    REPLACE = "replace"    # crossing dials: the existing one is closed for the newcomer
    STALE = "stale"        # the existing one did not answer the probe: replaced


async def contest(
    new: Connection, old: Connection, *, own_name: str, limits: Limits, counters: collections.Counter[str],
    log_refusal: Callable[[str, str], None],
) -> Verdict:
    """Which of two connections to one peer name stays: `old` (the registered one) or
    `new` (the newcomer, its handshake done); see the module docstring. `own_name` is
    ours; the outcome is counted in `counters`, and a refusal that repeats is logged
    through `log_refusal(source, message)`."""
    name = new.peer.name
    new_dialler = own_name if new.peer.outbound else name
    old_dialler = own_name if old.peer.outbound else name
    if new_dialler != old_dialler:
        # 2. Crossing dials: both ends keep the one the smaller name dialled.
        if new_dialler != min(own_name, name):
            # Routine when both dial at once, so INFO; an impostor lands here too.
            counters["duplicate_connection"] += 1
            log.info("second connection for %s %s %s refused: both ends keep the one dialled by %s "
                     "(the one %s %s)", name, "to" if new.peer.outbound else "from", new.peer.remote,
                     old_dialler, "to" if old.peer.outbound else "from", old.peer.remote)
            return Verdict.KEEP
        if new.peer.outbound:
            counters["duplicate_connection"] += 1
            log.info("two connections with %s: closing the one %s %s (dialled by %s)", name,
                     "to" if old.peer.outbound else "from", old.peer.remote, old_dialler)
            return Verdict.REPLACE
        # The peer dialled the new one and closes the old one itself, unless the new
        # one is not that peer's: then the old one answers the probe below.
        try:
            await asyncio.wait_for(old.closed.wait(), limits.crossed_dial_grace)
        except TimeoutError:
            pass
        else:
            counters["duplicate_connection"] += 1
            log.info("two connections with %s: the peer closed the one %s %s", name,
                     "to" if old.peer.outbound else "from", old.peer.remote)
            return Verdict.REPLACE
    # 1. The same side dialled both (or the crossing did not resolve): the live one stays.
    if await probe(old, limits.probe_timeout):
        counters["duplicate_connection"] += 1
        source = new.peer.remote.rsplit(":", 1)[0]
        log_refusal(source, (
            f"second connection for {name} {'to' if new.peer.outbound else 'from'} {new.peer.remote} refused: "
            f"the one {'to' if old.peer.outbound else 'from'} {old.peer.remote} is live (it answered a probe); "
            f"a restarted peer's old connection would have closed"))
        return Verdict.KEEP
    counters["stale_replaced"] += 1
    log.warning("the connection with %s %s %s did not answer a liveness probe within %g s: "
                "replacing it with the one %s %s", name, "to" if old.peer.outbound else "from",
                old.peer.remote, limits.probe_timeout, "to" if new.peer.outbound else "from",
                new.peer.remote)
    return Verdict.STALE


async def probe(conn: Connection, timeout: float) -> bool:
    """True if `conn`'s peer answers a PROBE_CODE request within `timeout` seconds
    (an ERROR answer counts: an older node passes the code to its handler, which
    refuses it); False if it does not, or the connection ends, or its queue is full."""
    try:
        await conn.request(PROBE_CODE, b"", timeout)
    except PeerError as exc:
        return exc.reason == "error response"
    return True
