"""Block sync: fetching sealed blocks from a peer that is ahead, and serving ours.

A node learns its peers' heads from their STATUS frames (node/network/peers.py). While a
peer claims to be ahead, `BlockSync` asks it for up to SYNC_BATCH_BLOCKS blocks after our
head (a GET_BLOCKS request) and hands them to the driver, which imports them on its
consensus thread (seals checked, every transaction re-executed: node/network/importer.py)
so a synced block and a decision can never interleave. A peer whose answer fails or is
refused is not asked again for SYNC_PEER_PENALTY_SECONDS, so a peer that lies about its
height cannot keep us from syncing from the honest ones.

Serving: `read_blocks` reads the blocks a peer asked for, within SYNC_RESPONSE_BYTES.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable

import rlp

from node.errors import NodeError, NotFound
from node.execution.chain import Chain
from node.network import importer
from node.network.connection import Peer
from node.network.peers import PeerNetwork

log = logging.getLogger("ledger.consensus")

# Request code of a block range on the node-to-node link (QBFT's own codes are 0x12-0x15).
GET_BLOCKS = 0x21
# Sync: blocks per request, and the response size we stop adding blocks at.
SYNC_BATCH_BLOCKS = 64
SYNC_RESPONSE_BYTES = 8 * 1024 * 1024
SYNC_REQUEST_TIMEOUT = 15.0
# How often the sync loop looks at peers even when nobody announced anything.
SYNC_POLL_SECONDS = 1.0
# A peer one block ahead is left this long to let our own commit land before we sync.
SYNC_GRACE_SECONDS = 0.5
# A peer that served a bad or no sync answer is not asked again for this long.
SYNC_PEER_PENALTY_SECONDS = 10.0


def encode_block_request(start: int, count: int) -> bytes:
    """A GET_BLOCKS payload: `count` blocks from height `start`."""
    return rlp.encode([start, count])


def decode_block_request(payload: bytes) -> tuple[int, int]:
    """(start, count) of a GET_BLOCKS payload, count capped at SYNC_BATCH_BLOCKS;
    NodeError if it does not decode."""
    try:
        start_raw, count_raw = rlp.decode(payload)
        start, count = int.from_bytes(start_raw, "big"), int.from_bytes(count_raw, "big")
    except Exception as exc:
        raise NodeError(f"malformed block request: {exc}") from exc
    return start, min(count, SYNC_BATCH_BLOCKS)


def read_blocks(chain: Chain, start: int, count: int) -> bytes:
    """The answer to a GET_BLOCKS request: the wire encodings of blocks `start`.. (at
    most `count`, stopping at our head or before SYNC_RESPONSE_BYTES), as one RLP list."""
    blocks: list[bytes] = []
    size = 0
    for height in range(start, start + count):
        try:
            header = chain.header_by_number(height)
        except NotFound:
            break
        transactions, _ = chain.block_transactions(header)
        encoded = importer.encode_block(header, transactions)
        if blocks and size + len(encoded) > SYNC_RESPONSE_BYTES:
            break
        blocks.append(encoded)
        size += len(encoded)
    return rlp.encode(blocks)


class BlockSync:
    """The sync loop of one node: which peer to fetch from, and when.

    `import_blocks(peer, blocks)` imports wire blocks in order on the consensus thread
    and returns how many it committed. `seed` makes the choice among equally high peers
    reproducible (a faulty test run can be replayed).
    """

    def __init__(
        self,
        chain: Chain,
        network: PeerNetwork,
        import_blocks: Callable[[Peer, list[bytes]], Awaitable[int]],
        seed: int = 0,
    ) -> None:
        self._chain = chain
        self._network = network
        self._import = import_blocks
        self._random = random.Random(seed)
        self._penalties: dict[str, float] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self.stopping = False
        self.syncing = False
        self.started_at = 0

    def progress(self) -> tuple[int, int, int] | None:
        """(starting, current, highest) block while syncing, else None (eth_syncing)."""
        if not self.syncing:
            return None
        current = self._chain.head.block_number
        highest = max([p.height for p in self._network.peers()] + [current])
        return self.started_at, current, highest

    def notice(self, peer: Peer) -> None:
        """On the loop: a peer told us its head; look at once if it is ahead of ours."""
        if peer.height > self._chain.head.block_number:
            self._wake.set()

    def wake(self) -> None:
        """From any thread: look at the peers now (e.g. our own commit failed)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        """Until `stopping` (or cancelled): sync whenever woken, and every SYNC_POLL_SECONDS."""
        self._loop = asyncio.get_running_loop()
        wake = self._wake
        while not self.stopping:
            try:
                await asyncio.wait_for(wake.wait(), timeout=SYNC_POLL_SECONDS)
            except TimeoutError:
                pass
            wake.clear()
            try:
                await self._sync_from_peers()
            except Exception:
                log.exception("sync pass failed")
            finally:
                self.syncing = False

    async def _sync_from_peers(self) -> None:
        """Fetch blocks while a peer claims to be ahead; a peer whose answer fails or is
        refused is not asked again for SYNC_PEER_PENALTY_SECONDS."""
        while not self.stopping:
            head = self._chain.head.block_number
            now = time.monotonic()
            ahead = [p for p in self._network.peers()
                     if p.height > head and self._penalties.get(p.name, 0.0) <= now]
            if not ahead:
                return
            if not self.syncing and max(p.height for p in ahead) == head + 1:
                # One block behind is the normal state for a moment after each block:
                # our own decision is usually milliseconds away. Sync only if it stays.
                await asyncio.sleep(SYNC_GRACE_SECONDS)
                if self._chain.head.block_number > head:
                    continue
            if not self.syncing:
                self.started_at = head
            self.syncing = True
            peer = max(ahead, key=lambda p: (p.height, self._random.random()))
            count = min(SYNC_BATCH_BLOCKS, peer.height - head)
            try:
                payload = await self._network.request(
                    peer, GET_BLOCKS, encode_block_request(head + 1, count), timeout=SYNC_REQUEST_TIMEOUT
                )
                blocks = rlp.decode(payload)
                if not isinstance(blocks, list) or not blocks or not all(isinstance(b, bytes) for b in blocks):
                    raise ValueError("response is not a non-empty list of blocks")
            except Exception as exc:
                log.info("sync from %s failed: %s", peer.name, exc)
                self._penalties[peer.name] = time.monotonic() + SYNC_PEER_PENALTY_SECONDS
                continue
            imported = await self._import(peer, blocks)
            if not imported:
                self._penalties[peer.name] = time.monotonic() + SYNC_PEER_PENALTY_SECONDS
