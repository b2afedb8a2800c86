"""One peer connection of the node-to-node link: its bounds, queue, writer and requests.

`node.network.peers.PeerNetwork` owns the set of connections (who is dialled, which
connection to a name is kept, what a frame is delivered to); what belongs to one
connection alone is here:

- **`Limits`**, every bound the transport enforces (the network passes them to each
  connection).
- **Outbound queue.** Bounded by `Limits.outbound_queue` frames and
  `Limits.outbound_queue_bytes`; a frame that does not fit is dropped and counted
  (`Peer.dropped`), so a slow peer never blocks a broadcast or grows memory. One writer
  task per connection (`Connection.write_loop`) drains it; a peer that takes none of our
  bytes for `Limits.write_timeout` is disconnected.
- **Inbound rate.** MESSAGE, STATUS and REQUEST frames pass a token bucket
  (`Limits.message_rate`/s, burst `Limits.message_burst`); excess is dropped and counted
  (`Peer.rate_limited`), and more than `Limits.flood_disconnect` such drops within one
  second raise `ProtocolViolation("flood")`.
- **Requests.** `Connection.request` sends a REQUEST and awaits the RESPONSE or ERROR
  with that request id; `tear_down` fails every one still waiting.
- **Dedup.** `SeenSet`, the LRU of message digests the network shares between its
  connections.
- The socket edge: `read_frame` off the stream, TCP keepalive, abort.
"""
from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import socket
import ssl
from dataclasses import dataclass

from node.errors import NodeError
from node.network.frames import (
    LENGTH_BYTES,
    MAX_ERROR_BYTES,
    Frame,
    Kind,
    ProtocolViolation,
    decode_body,
    decode_length,
    encode_frame,
)

log = logging.getLogger("ledger.p2p")

# TCP keepalive finds a peer whose machine vanished (no FIN): idle 10 s, then 3 probes
# 5 s apart, so a dead connection is closed after ~25 s even while we only listen.
KEEPALIVE_IDLE = 10
KEEPALIVE_INTERVAL = 5
KEEPALIVE_COUNT = 3
# Request ids are 4 bytes on the wire; they wrap after this one (0 is never used).
MAX_REQUEST_ID = 0xFFFF_FFFF


class PeerError(NodeError):
    """A request to a peer failed: `reason` is "not connected", "timeout", "error
    response", "disconnected" or "queue full"; `detail` says more."""

    def __init__(self, peer: str, reason: str, detail: str = "") -> None:
        super().__init__(f"peer {peer}: {reason}" + (f": {detail}" if detail else ""))
        self.peer = peer
        self.reason = reason
        self.detail = detail


@dataclass(eq=False)
class Peer:
    """A connected peer as one connection sees it; identity is `name` (compared by
    object otherwise, so Peers can key dicts). `connected` turns False when this
    connection ends; `send`/`request` route by name to whichever connection is current."""

    name: str                       # commonName of its verified certificate
    address: bytes | None           # validator address from its HELLO, bound by its certificate (None: observer)
    height: int
    head_hash: bytes
    remote: str                     # "host:port"
    outbound: bool                  # we dialled it
    tls_version: str = ""
    connected: bool = True
    sent: int = 0                   # MESSAGE frames written to it
    received: int = 0               # MESSAGE frames read from it (delivered or not)
    delivered: int = 0              # MESSAGE frames passed to on_message
    dropped: int = 0                # outbound frames not queued: queue full or fault drop
    duplicates: int = 0             # inbound MESSAGEs already seen, not delivered
    rate_limited: int = 0           # inbound MESSAGE/STATUS/REQUEST dropped by the rate bound
    requests_refused: int = 0       # its requests answered "busy"
    queued: int = 0                 # frames waiting in its outbound queue now
    bytes_sent: int = 0
    bytes_received: int = 0


@dataclass(frozen=True)
class Limits:
    """Every bound the transport enforces; the defaults are for production."""

    # Outbound queue per peer: 10,000 frames covers many rounds of consensus traffic; the
    # byte bound keeps a peer that does not read from holding more than 64 MiB of ours.
    # A frame always fits an empty queue, so a MAX_FRAME response can still go out.
    outbound_queue: int = 10_000
    outbound_queue_bytes: int = 64 * 1024 * 1024
    # Inbound MESSAGE+STATUS+REQUEST rate per peer: a 4-validator QBFT round is a handful of
    # messages per block; 2,000/s with a burst of 4,000 leaves room for catch-up floods of
    # future-round messages while bounding what one peer can make us verify.
    message_rate: float = 2_000.0
    message_burst: int = 4_000
    # More rate-limited drops than this within one second: the peer is disconnected.
    flood_disconnect: int = 8_000
    # Concurrent inbound requests per peer (each may read many blocks).
    inbound_requests: int = 8
    # Message digests remembered for dedup (~150 bytes each with the LRU's overhead).
    seen_cache: int = 32_768
    handshake_timeout: float = 10.0     # TLS handshake, then HELLO exchange
    connect_timeout: float = 5.0        # TCP connect
    # A peer that does not take our bytes for this long is disconnected.
    write_timeout: float = 30.0
    backoff_min: float = 0.2
    backoff_max: float = 5.0
    # Inbound connections still in the TLS handshake: anyone can open TCP connections and
    # make us do handshakes; beyond this many at once new ones are closed unread.
    max_pending_handshakes: int = 16
    # A second connection for a connected name: how long the existing one has to answer a
    # liveness probe before it counts as dead and is replaced. A live peer answers in
    # milliseconds (the transport answers the probe on its event loop, which never waits
    # for block execution); 5 s is a loaded machine's margin. Also bounds how long a
    # restarted peer whose old connection went silent waits to get back in.
    probe_timeout: float = 5.0
    # Two connections crossing: how long the end that expects the peer to close the
    # existing one waits for that. The peer closes it as soon as its own handshake of the
    # newer one completes; 5 s is a loaded machine's margin.
    crossed_dial_grace: float = 5.0


class SeenSet:
    """Bounded LRU of message digests, shared by every peer of one network."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._digests: collections.OrderedDict[bytes, None] = collections.OrderedDict()

    def add(self, digest: bytes) -> bool:
        """True if new; a repeat is refreshed in the LRU and returns False."""
        if digest in self._digests:
            self._digests.move_to_end(digest)
            return False
        self._digests[digest] = None
        if len(self._digests) > self._capacity:
            self._digests.popitem(last=False)
        return True


def message_digest(code: int, payload: bytes) -> bytes:
    """What `SeenSet` remembers of a MESSAGE: SHA-256(code ‖ payload)."""
    return hashlib.sha256(bytes((code,)) + payload).digest()


async def read_frame(reader: asyncio.StreamReader) -> Frame:
    """The next frame; ProtocolViolation for an oversize or malformed one,
    asyncio.IncompleteReadError / ConnectionError when the stream ends."""
    length = decode_length(await reader.readexactly(LENGTH_BYTES))
    return decode_body(await reader.readexactly(length))


class Connection:
    """One registered connection: its Peer, outbound queue, writer task, pending requests."""

    def __init__(self, peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 limits: Limits, now: float) -> None:
        self.peer = peer
        self.reader = reader
        self.writer = writer
        self.limits = limits
        self.queue: collections.deque[tuple[bytes, bool]] = collections.deque()
        self.queued_bytes = 0
        self.wake = asyncio.Event()
        self.closed = asyncio.Event()
        self.pending: dict[int, asyncio.Future[bytes]] = {}
        self.next_request_id = 1
        self.inbound_requests = 0
        self.request_tasks: set[asyncio.Task[object]] = set()
        self.tokens = float(limits.message_burst)
        self.refilled = now
        self.flood_window = now
        self.flood_drops = 0
        self.writer_task: asyncio.Task[object] | None = None
        self.close_reason = ""

    def enqueue(self, frame: bytes, *, message: bool) -> bool:
        """Queue `frame` for the writer (`message`: a MESSAGE, counted in Peer.sent once
        written); False, counted in Peer.dropped, if the queue is full or closed."""
        if self.closed.is_set():
            return False
        if self.queue and (len(self.queue) >= self.limits.outbound_queue
                           or self.queued_bytes + len(frame) > self.limits.outbound_queue_bytes):
            self.peer.dropped += 1
            return False
        self.queue.append((frame, message))
        self.queued_bytes += len(frame)
        self.peer.queued = len(self.queue)
        self.wake.set()
        return True

    def admit(self, now: float) -> bool:
        """Token bucket for MESSAGE/STATUS/REQUEST frames; False: drop this one."""
        self.tokens = min(float(self.limits.message_burst), self.tokens + (now - self.refilled) * self.limits.message_rate)
        self.refilled = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        self.peer.rate_limited += 1
        if now - self.flood_window >= 1.0:
            self.flood_window = now
            self.flood_drops = 0
        self.flood_drops += 1
        if self.flood_drops > self.limits.flood_disconnect:
            raise ProtocolViolation(
                "flood", f"more than {self.limits.flood_disconnect} messages over the rate bound within one second")
        return False

    def close(self, reason: str) -> None:
        """End the connection: the reader sees the stream end and tears it down."""
        if not self.close_reason:
            self.close_reason = reason
        abort(self.writer)

    def allocate_request_id(self) -> int:
        while True:
            request_id = self.next_request_id
            self.next_request_id = request_id % MAX_REQUEST_ID + 1
            if request_id not in self.pending:
                return request_id

    async def request(self, code: int, payload: bytes, timeout: float) -> bytes:
        """Send a REQUEST and await its RESPONSE payload; PeerError on timeout, an ERROR
        response, disconnect, or a full (or closed) queue."""
        request_id = self.allocate_request_id()
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        try:
            if not self.enqueue(encode_frame(Kind.REQUEST, code, payload, request_id), message=False):
                raise PeerError(self.peer.name, "queue full", f"{len(self.queue)} frames waiting")
            try:
                return await asyncio.wait_for(future, timeout)
            except TimeoutError:
                raise PeerError(self.peer.name, "timeout", f"no response to request code {code} in {timeout:g} s") from None
        finally:
            self.pending.pop(request_id, None)
            if not future.done():
                future.cancel()

    def answer(self, frame: Frame) -> None:
        """Hand a RESPONSE or ERROR frame to the request it answers (if still waiting)."""
        future = self.pending.get(frame.request_id)
        if future is None or future.done():
            log.debug("%s answered request %d, which is no longer waiting", self.peer.name, frame.request_id)
            return
        if frame.kind is Kind.RESPONSE:
            future.set_result(frame.payload)
        else:
            reason = frame.payload[:MAX_ERROR_BYTES].decode("utf-8", "replace")
            future.set_exception(PeerError(self.peer.name, "error response", reason))

    async def write_loop(self, counters: collections.Counter[str]) -> None:
        """Drain the queue into the socket until the connection ends; a peer that takes
        none of our bytes for Limits.write_timeout is disconnected and counted in the
        network's `counters["write_stalled"]`."""
        peer = self.peer
        writer = self.writer
        try:
            while True:
                while not self.queue:
                    self.wake.clear()
                    await self.wake.wait()
                while self.queue:
                    frame, message = self.queue.popleft()
                    self.queued_bytes -= len(frame)
                    writer.write(frame)
                    peer.bytes_sent += len(frame)
                    if message:
                        peer.sent += 1
                peer.queued = 0
                try:
                    await asyncio.wait_for(writer.drain(), self.limits.write_timeout)
                except TimeoutError:
                    counters["write_stalled"] += 1
                    log.warning("disconnecting %s (%s): it took none of our bytes for %g s",
                                peer.name, peer.remote, self.limits.write_timeout)
                    self.close(f"write_stalled: no progress for {self.limits.write_timeout:g} s")
                    return
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            self.close(f"write failed: {exc or type(exc).__name__}")

    def tear_down(self) -> None:
        """The connection ended: stop its tasks, fail its waiting requests, drop its queue."""
        self.closed.set()
        self.peer.connected = False
        if self.writer_task is not None:
            self.writer_task.cancel()
        for task in list(self.request_tasks):
            task.cancel()
        for future in self.pending.values():
            if not future.done():
                future.set_exception(PeerError(self.peer.name, "disconnected", self.close_reason))
        self.queue.clear()
        self.peer.queued = 0
        abort(self.writer)
        log.info("disconnected %s (%s): %s", self.peer.name, self.peer.remote, self.close_reason or "closed")


def remote_of(writer: asyncio.StreamWriter) -> str:
    """"host:port" of the other end."""
    address = writer.get_extra_info("peername")
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


def set_keepalive(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if hasattr(socket, "TCP_KEEPIDLE"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KEEPALIVE_IDLE)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_INTERVAL)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_COUNT)
    except OSError as exc:  # not fatal: write_timeout still bounds a dead peer that we write to
        log.debug("cannot set TCP keepalive: %s", exc)


def abort(writer: asyncio.StreamWriter) -> None:
    # abort, not close: a TLS close waits for the peer's close_notify, and a peer that is
    # gone or hostile would hold `stop` and our file descriptors for ssl_shutdown_timeout.
    writer.transport.abort()
