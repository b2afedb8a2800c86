"""The validator/observer transport: asyncio TCP with mutual TLS 1.3 between static peers.

What it carries is opaque to it: consensus messages (MESSAGE frames, at most once, no
relay — the node re-broadcasts if it gossips), request/response pairs for sync, and each
side's chain head (STATUS frames). Everything here runs on one event loop and the
callbacks are called on it; `broadcast`, `send` and `announce` never block and may be
called from any thread (from another thread they are handed to the loop, in order);
`request` is awaited on the loop.

The link's other parts have rooms of their own: TLS contexts and what a verified
certificate says (`node.network.tls`), the frame codec (`node.network.frames`), one
connection's queue, rate bound, requests and `Limits` (`node.network.connection`), and
test-only fault injection (`node.network.faults`). This module is the network of
connections (a little over 600 lines: the handshake, dialling, accepting, admission and
serving share one set of connection tables and their locking, which is easier to check in
one place than split across modules):

- **Handshake: the certificate is the identity** (as Fabric binds an MSP identity to
  the TLS certificate and Besu's enode id is the node key). The server side runs the
  TLS handshake itself (`start_tls` after accept) so that its failures are visible and
  counted (`counters["tls_failed"]`, `["certificate_refused"]`); nothing from such a
  peer is ever delivered. After TLS both sides send HELLO at once and read the other's
  within `Limits.handshake_timeout`. Refused, with a log line: a different protocol
  version, chain_id or genesis hash; a HELLO name that is not the certificate's
  commonName; a HELLO claiming a validator address the certificate does not bind
  (claiming none with a binding certificate is allowed: it speaks as an observer). The
  side that refuses closes the connection; the other may have registered the peer for
  that moment. `Peer.address` is therefore certified, but consensus still checks every
  signature itself. `start` checks our own HELLO against our certificate
  (`node.network.tls.check_own_hello`). A connection to ourselves (same name) is
  dropped and that address is not dialled again.

- **One connection per peer name; the live one stays** (`node.network.admission`): a
  second connection for a connected name is never a silent replacement; the existing
  one is kept if it answers a liveness probe, and crossing dials keep the one dialled
  by the smaller name.

- **Reconnect.** Every static peer address is dialled forever, exponential backoff
  from `Limits.backoff_min` to `Limits.backoff_max`, each wait jittered to 50-100 %.
  A connection that completed its handshake resets the backoff. Dead peers are found by
  TCP keepalive and by `Limits.write_timeout` on a peer that stops reading.

- **Inbound.** MESSAGE, STATUS and REQUEST frames pass each connection's rate bound.
  MESSAGE frames are deduplicated by SHA-256(code ‖ payload) in an LRU
  (`Limits.seen_cache`) shared by all peers: a repeat is counted (`Peer.duplicates`)
  and not delivered. Messages we send are entered too, so a peer echoing ours back does
  not deliver it to us. At most `Limits.inbound_requests` requests per peer run at
  once; more get an ERROR "busy".

Counters: each `Peer` counts its traffic; `PeerNetwork.counters` counts connection
events and refusals by reason (names in `COUNTER_NAMES`). Logging goes to the
"ledger.p2p" logger.
"""
from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import logging
import random
import ssl
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from node.errors import NodeError
from node.network.admission import PROBE_CODE, Verdict, contest
from node.network.connection import (
    Connection,
    Limits,
    Peer,
    PeerError,
    SeenSet,
    abort,
    message_digest,
    read_frame,
    remote_of,
    set_keepalive,
)
from node.network.faults import FaultDraws, Faults
from node.network.frames import (
    MAX_ERROR_BYTES,
    MAX_PAYLOAD,
    PROTOCOL_VERSION,
    Frame,
    Hello,
    Kind,
    ProtocolViolation,
    decode_hello,
    decode_status,
    encode_frame,
    encode_hello,
    encode_status,
)
from node.network.tls import CertificateRefused, check_own_hello, peer_identity

log = logging.getLogger("ledger.p2p")

# A refusal repeated by the same peer every backoff is logged once at WARNING, then at
# DEBUG until the message changes; this many sources are remembered.
MAX_REFUSAL_SOURCES = 1024
# Bound on how long `stop` waits for tasks it cancelled.
STOP_TIMEOUT = 5.0

COUNTER_NAMES = (
    "connected",             # handshake completed and the connection registered
    "disconnected",          # a registered connection ended
    "dial_failed",           # TCP connect refused / timed out
    "tls_failed",            # TLS handshake failed (untrusted CA, wrong EKU, not TLS 1.3, ...)
    "certificate_refused",   # verified chain, but no EKU / wrong EKU / no commonName
    "hello_failed",          # no valid HELLO in time (closed, timed out, malformed)
    "hello_refused",         # HELLO for another chain, genesis, protocol version, name or validator
    "self",                  # we reached ourselves
    "duplicate_connection",  # a second connection to a connected peer, one closed
    "stale_replaced",        # the existing connection failed its liveness probe: replaced
    "handshakes_busy",       # too many inbound handshakes in progress, connection dropped
    "oversize",              # frame length above MAX_FRAME: disconnected
    "malformed",             # frame or payload that does not decode: disconnected
    "flood",                 # far above the message rate: disconnected
    "write_stalled",         # did not read our frames within write_timeout: disconnected
    "send_not_connected",    # send() to a peer that is not connected: dropped
    "fault_dropped",         # outbound MESSAGE dropped by injected faults
    "fault_duplicated",      # outbound MESSAGE queued twice by injected faults
)


class _HandshakeRefused(NodeError):
    """A connection did not become a peer; `counter` names the COUNTER_NAMES entry."""

    def __init__(self, counter: str, reason: str) -> None:
        super().__init__(reason)
        self.counter = counter


@dataclass
class _Outcome:
    """What one connection attempt taught the dialler."""

    name: str | None = None      # the peer's certificate name, once TLS verified it
    registered: bool = False     # the handshake completed and the connection was used
    is_self: bool = False


class PeerNetwork:
    """Connections to the static peers and from whoever dials us with a consortium
    certificate; see the module docstring for the protocol and its bounds."""

    def __init__(
        self,
        *,
        hello: Callable[[], Hello],
        listen: tuple[str, int] | None,
        peers: Sequence[tuple[str, int]],
        server_ssl: ssl.SSLContext,
        client_ssl: ssl.SSLContext,
        on_message: Callable[[Peer, int, bytes], None],
        on_request: Callable[[Peer, int, bytes], Awaitable[bytes]],
        on_peer_status: Callable[[Peer], None] | None = None,
        faults: Faults | None = None,
        limits: Limits = Limits(),
    ) -> None:
        self._hello = hello
        self._listen = listen
        self._static = list(dict.fromkeys((host, int(port)) for host, port in peers))
        self._server_ssl = server_ssl
        self._client_ssl = client_ssl
        self._on_message = on_message
        self._on_request = on_request
        self._on_peer_status = on_peer_status
        self._faults = FaultDraws(faults) if faults is not None else None
        self._jitter = random.Random()
        self.limits = limits
        self.counters: collections.Counter[str] = collections.Counter()
        self._seen = SeenSet(limits.seen_cache)
        self._conns: dict[str, Connection] = {}
        self._tasks: set[asyncio.Task[object]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._name = ""
        self._pending_handshakes = 0
        self._refusals: dict[str, str] = {}
        self._contending: set[str] = set()    # names with a second connection being decided
        self._drop_claim = False              # our certificate binds no validator address
        self._started = False
        self._stopping = False

    # -- lifecycle --

    @property
    def name(self) -> str:
        """Our name (the HELLO name, which must be our certificate's commonName)."""
        return self._name or self._hello().name

    @property
    def listen_port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the network is not listening")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Listen (if configured) and start dialling every static peer."""
        if self._started:
            raise RuntimeError("PeerNetwork.start called twice")
        self._started = True
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        ours = self._hello()
        self._drop_claim = not check_own_hello(self._server_ssl, ours.name, ours.validator)
        self._name = ours.name
        if self._listen is not None:
            host, port = self._listen
            self._server = await asyncio.start_server(self._accept, host, port)
            log.info("%s listening on %s:%d", self._name, host, self.listen_port)
        for address in self._static:
            self._spawn(self._dial_loop(address), f"p2p dial {address[0]}:{address[1]}")

    async def stop(self) -> None:
        """Close the listener and every connection, cancel every task; idempotent."""
        if self._stopping:
            return
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for conn in list(self._conns.values()):
            conn.close("network stopping")
        tasks = [task for task in self._tasks if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            _, still = await asyncio.wait(tasks, timeout=STOP_TIMEOUT)
            if still:
                log.warning("%d p2p tasks did not finish within %.0f s of stop", len(still), STOP_TIMEOUT)
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), STOP_TIMEOUT)
            except TimeoutError:
                log.warning("the p2p listener did not close within %.0f s", STOP_TIMEOUT)
        log.info("%s p2p stopped", self._name)

    def _spawn(self, coroutine: Awaitable[object], name: str) -> asyncio.Task[object]:
        task: asyncio.Task[object] = asyncio.ensure_future(coroutine)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- public sending API --

    def peers(self) -> list[Peer]:
        """The connected peers by name; safe from other threads (the RPC's), which read a
        copy while the network's loop may change the table."""
        return [conn.peer for _, conn in sorted(dict(self._conns).items())]

    def _on_loop_thread(self, function: Callable[..., None], *args: object) -> bool:
        """False after handing the call to the loop's thread (callers on other threads,
        e.g. a consensus thread, may use broadcast/send/announce); True: go on here."""
        if self._loop is None or threading.get_ident() == self._loop_thread:
            return True
        if not self._stopping:
            self._loop.call_soon_threadsafe(function, *args)
        return False

    def broadcast(self, code: int, payload: bytes, *, exclude: Peer | None = None) -> None:
        """Queue a MESSAGE for every connected peer (but `exclude`); never blocks."""
        frame = encode_frame(Kind.MESSAGE, code, payload)
        if not self._on_loop_thread(functools.partial(self.broadcast, exclude=exclude), code, payload):
            return
        self._seen.add(message_digest(code, payload))
        for name in sorted(self._conns):
            if exclude is not None and name == exclude.name:
                continue
            self._send_message(self._conns[name], frame)

    def send(self, peer: Peer, code: int, payload: bytes) -> None:
        """Queue a MESSAGE for one peer (by name); dropped and counted if not connected."""
        frame = encode_frame(Kind.MESSAGE, code, payload)
        if not self._on_loop_thread(self.send, peer, code, payload):
            return
        conn = self._conns.get(peer.name)
        if conn is None:
            self.counters["send_not_connected"] += 1
            log.debug("message for %s dropped: not connected", peer.name)
            return
        self._seen.add(message_digest(code, payload))
        self._send_message(conn, frame)

    def announce(self, height: int, head_hash: bytes) -> None:
        """Tell every connected peer our new head."""
        frame = encode_frame(Kind.STATUS, 0, encode_status(height, head_hash))
        if not self._on_loop_thread(self.announce, height, head_hash):
            return
        for conn in list(self._conns.values()):
            conn.enqueue(frame, message=False)

    async def request(self, peer: Peer, code: int, payload: bytes, timeout: float) -> bytes:
        """Send a REQUEST and await its RESPONSE payload; PeerError on timeout, ERROR
        response, disconnect, a full queue, or if the peer is not connected."""
        if len(payload) > MAX_PAYLOAD:
            raise ValueError(f"request payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
        conn = self._conns.get(peer.name)
        if conn is None:
            raise PeerError(peer.name, "not connected")
        return await conn.request(code, payload, timeout)

    # -- faults --

    def _send_message(self, conn: Connection, frame: bytes) -> None:
        draws = self._faults
        if draws is None:
            conn.enqueue(frame, message=True)
            return
        copies = draws.copies()
        if copies == 0:
            conn.peer.dropped += 1
            self.counters["fault_dropped"] += 1
            return
        if copies == 2:
            self.counters["fault_duplicated"] += 1
        if draws.faults.delay > 0.0:
            assert self._loop is not None
            timer: asyncio.TimerHandle

            def deliver() -> None:
                self._timers.discard(timer)
                for _ in range(copies):
                    conn.enqueue(frame, message=True)

            timer = self._loop.call_later(draws.faults.delay, deliver)
            self._timers.add(timer)
            return
        for _ in range(copies):
            conn.enqueue(frame, message=True)

    # -- dialling --

    async def _dial_loop(self, address: tuple[str, int]) -> None:
        host, port = address
        backoff = self.limits.backoff_min
        known: str | None = None
        source = f"{host}:{port}"
        while not self._stopping:
            if known is not None and known in self._conns:
                # Connected already (perhaps it dialled us): dial again once that ends.
                await self._conns[known].closed.wait()
                continue
            outcome = _Outcome()
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port, ssl=self._client_ssl,
                                            ssl_handshake_timeout=self.limits.handshake_timeout),
                    self.limits.connect_timeout + self.limits.handshake_timeout)
            except ssl.SSLError as exc:
                self.counters["tls_failed"] += 1
                self._log_refusal(source, f"TLS handshake with {source} failed: "
                                          f"{getattr(exc, 'verify_message', None) or exc}")
            except (TimeoutError, OSError) as exc:
                self.counters["dial_failed"] += 1
                self._log_refusal(source, f"cannot connect to {source}: {exc or type(exc).__name__}")
            else:
                try:
                    await self._handle(reader, writer, outbound=True, outcome=outcome)
                except Exception:   # a bug here must not end the dialling of this peer
                    log.exception("connection to %s:%d failed unexpectedly", host, port)
            if outcome.name is not None:
                known = outcome.name
            if outcome.is_self:
                log.info("%s:%d is ourselves (%s); not dialling it again", host, port, self._name)
                return
            if outcome.registered:
                backoff = self.limits.backoff_min
                if known is not None and known in self._conns:
                    continue
            await asyncio.sleep(backoff * (0.5 + 0.5 * self._jitter.random()))
            backoff = min(backoff * 2, self.limits.backoff_max)

    # -- accepting --

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        remote = remote_of(writer)
        if self._stopping:
            abort(writer)
            return
        if self._pending_handshakes >= self.limits.max_pending_handshakes:
            self.counters["handshakes_busy"] += 1
            log.warning("inbound connection from %s dropped: %d handshakes already in progress",
                        remote, self._pending_handshakes)
            abort(writer)
            return
        self._pending_handshakes += 1
        handshaking = True
        try:
            try:
                await writer.start_tls(self._server_ssl, ssl_handshake_timeout=self.limits.handshake_timeout)
            except (TimeoutError, ssl.SSLError, OSError, asyncio.IncompleteReadError) as exc:
                self.counters["tls_failed"] += 1
                host = remote.rsplit(":", 1)[0]
                self._log_refusal(host, f"TLS handshake from {host} refused: "
                                        f"{getattr(exc, 'verify_message', None) or exc or type(exc).__name__}")
                abort(writer)
                return
            self._pending_handshakes -= 1
            handshaking = False
            await self._handle(reader, writer, outbound=False, outcome=_Outcome())
        except asyncio.CancelledError:
            # stop() cancels this task. asyncio's stream server, not us, created it, and its
            # done-callback (Python 3.11) calls task.exception(), which raises for a
            # cancelled task: the loop logged that as an "Exception in callback" traceback
            # on every clean shutdown. Ending normally is the task's whole answer: stop()
            # only waits for it, and _handle has already torn the connection down.
            if not self._stopping:
                raise
        except Exception:
            log.exception("connection from %s failed unexpectedly", remote)
        finally:
            if handshaking:
                self._pending_handshakes -= 1

    def _log_refusal(self, source: str, message: str, level: int = logging.WARNING) -> None:
        """Log why `source` failed; the same message again from the same source (every
        backoff, for hours) goes to DEBUG."""
        if self._refusals.get(source) == message:
            level = logging.DEBUG
        else:
            if len(self._refusals) >= MAX_REFUSAL_SOURCES:
                self._refusals.clear()
            self._refusals[source] = message
        log.log(level, "%s", message)

    # -- one connection, both directions --

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                      outbound: bool, outcome: _Outcome) -> None:
        remote = remote_of(writer)
        direction = "to" if outbound else "from"
        try:
            peer = await self._handshake(reader, writer, remote, outbound, outcome)
        except _HandshakeRefused as refused:
            self.counters[refused.counter] += 1
            # Outbound: the dialled address; inbound: the host (its port is ephemeral).
            source = remote if outbound else remote.rsplit(":", 1)[0]
            self._log_refusal(source, f"connection {direction} {source} refused: {refused}",
                              logging.INFO if refused.counter == "self" else logging.WARNING)
            abort(writer)
            return
        except BaseException:
            abort(writer)
            raise
        loop = asyncio.get_running_loop()
        conn = Connection(peer, reader, writer, self.limits, loop.time())
        try:
            admitted = await self._admit(conn)
        except BaseException:
            abort(writer)
            conn.closed.set()
            raise
        if not admitted:
            abort(writer)
            conn.closed.set()
            return
        outcome.registered = True
        self._refusals.pop(remote if outbound else remote.rsplit(":", 1)[0], None)
        self.counters["connected"] += 1
        log.info("connected %s %s (%s, height %d)", direction, peer.name, remote, peer.height)
        self._notify_status(peer)
        conn.writer_task = self._spawn(conn.write_loop(self.counters), f"p2p write {peer.name}")
        try:
            await self._read_loop(conn)
        except ProtocolViolation as violation:
            self.counters[violation.counter] += 1
            conn.close_reason = f"{violation.counter}: {violation}"
            log.warning("disconnecting %s (%s): %s", peer.name, remote, violation)
        except asyncio.IncompleteReadError:
            conn.close_reason = conn.close_reason or "closed by the peer"
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            conn.close_reason = conn.close_reason or f"connection lost: {exc or type(exc).__name__}"
        except asyncio.CancelledError:
            conn.close_reason = conn.close_reason or "network stopping"
            raise
        finally:
            self._teardown(conn)

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         remote: str, outbound: bool, outcome: _Outcome) -> Peer:
        """Verify the certificate's identity, exchange HELLOs; the peer or _HandshakeRefused."""
        set_keepalive(writer)
        try:
            identity = peer_identity(writer.get_extra_info("ssl_object"), peer_dialled=not outbound)
        except CertificateRefused as refused:
            raise _HandshakeRefused(refused.counter, refused.reason) from None
        name = identity.name
        outcome.name = name
        if name == self._name:
            outcome.is_self = True
            raise _HandshakeRefused("self", f"{remote} is ourselves ({name})")
        ours = self._hello()
        if self._drop_claim:
            ours = dataclasses.replace(ours, validator=None)
        writer.write(encode_frame(Kind.HELLO, 0, encode_hello(ours)))
        try:
            await asyncio.wait_for(writer.drain(), self.limits.handshake_timeout)
            frame = await asyncio.wait_for(read_frame(reader), self.limits.handshake_timeout)
            if frame.kind is not Kind.HELLO:
                raise ProtocolViolation("malformed", f"first frame is {frame.kind.name}, not HELLO")
            version, theirs = decode_hello(frame.payload)
        except ProtocolViolation as exc:
            raise _HandshakeRefused("hello_failed", f"{name}: {exc}") from None
        except TimeoutError:
            raise _HandshakeRefused("hello_failed", f"{name}: no HELLO within {self.limits.handshake_timeout:g} s") from None
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, OSError) as exc:
            # In TLS 1.3 a client learns that the server refused its certificate only here.
            raise _HandshakeRefused(
                "hello_failed", f"{name} closed the connection before its HELLO "
                f"(did it refuse our certificate?): {exc or type(exc).__name__}") from None
        # 1. protocol, 2. chain, 3. genesis, 4. the HELLO speaks for the certificate's name,
        # 5. and claims no validator address the certificate does not bind.
        if version != PROTOCOL_VERSION:
            raise _HandshakeRefused("hello_refused", f"{name} speaks protocol {version}, we speak {PROTOCOL_VERSION}")
        if theirs.chain_id != ours.chain_id:
            raise _HandshakeRefused("hello_refused", f"{name} is on chain {theirs.chain_id}, we are on {ours.chain_id}")
        if theirs.genesis_hash != ours.genesis_hash:
            raise _HandshakeRefused(
                "hello_refused", f"{name} has genesis 0x{theirs.genesis_hash.hex()}, ours is 0x{ours.genesis_hash.hex()}")
        if theirs.name != name:
            raise _HandshakeRefused("hello_refused", f"HELLO name {theirs.name!r} is not the certificate's {name!r}")
        if theirs.validator is not None and theirs.validator != identity.validator:
            bound = "no validator address" if identity.validator is None else f"0x{identity.validator.hex()}"
            raise _HandshakeRefused("hello_refused", f"{name} claims validator 0x{theirs.validator.hex()} "
                                                     f"but its certificate binds {bound}")
        return Peer(name=name, address=theirs.validator, height=theirs.height, head_hash=theirs.head_hash,
                    remote=remote, outbound=outbound, tls_version=identity.tls_version)

    async def _admit(self, conn: Connection) -> bool:
        """Make `conn` the connection to its peer, or False (the caller closes it): the
        existing connection stays (node.network.admission)."""
        peer = conn.peer
        name = peer.name
        source = peer.remote.rsplit(":", 1)[0]
        if name in self._contending:
            self.counters["duplicate_connection"] += 1
            self._log_refusal(source, f"second connection for {name} {'to' if peer.outbound else 'from'} "
                                      f"{peer.remote} refused: another one is being decided")
            return False
        existing = self._conns.get(name)
        if existing is None:
            self._conns[name] = conn
            return True
        self._contending.add(name)
        try:
            verdict = await contest(conn, existing, own_name=self._name, limits=self.limits,
                                    counters=self.counters, log_refusal=self._log_refusal)
        finally:
            self._contending.discard(name)
        if verdict is Verdict.KEEP:
            return False
        if self._conns.get(name) is existing:
            del self._conns[name]
        existing.close("replaced by the connection kept for this peer" if verdict is Verdict.REPLACE
                       else "did not answer the liveness probe: replaced")
        self._conns[name] = conn
        return True

    def _teardown(self, conn: Connection) -> None:
        if conn.closed.is_set():
            return
        if self._conns.get(conn.peer.name) is conn:
            del self._conns[conn.peer.name]
        self.counters["disconnected"] += 1
        conn.tear_down()

    # -- reading --

    async def _read_loop(self, conn: Connection) -> None:
        loop = asyncio.get_running_loop()
        peer = conn.peer
        while True:
            frame = await read_frame(conn.reader)
            peer.bytes_received += frame.size
            kind = frame.kind
            if kind is Kind.MESSAGE:
                peer.received += 1
                if not conn.admit(loop.time()):
                    continue
                if not self._seen.add(message_digest(frame.code, frame.payload)):
                    peer.duplicates += 1
                    continue
                peer.delivered += 1
                try:
                    self._on_message(peer, frame.code, frame.payload)
                except Exception:
                    log.exception("on_message failed for code %d from %s", frame.code, peer.name)
            elif kind is Kind.STATUS:
                if not conn.admit(loop.time()):
                    continue
                height, head_hash = decode_status(frame.payload)
                if (height, head_hash) != (peer.height, peer.head_hash):
                    peer.height, peer.head_hash = height, head_hash
                    self._notify_status(peer)
            elif kind is Kind.REQUEST:
                if conn.admit(loop.time()):
                    self._start_request(conn, frame)
            elif kind is Kind.RESPONSE or kind is Kind.ERROR:
                conn.answer(frame)
            else:  # HELLO
                raise ProtocolViolation("malformed", "HELLO after the handshake")

    def _notify_status(self, peer: Peer) -> None:
        if self._on_peer_status is None:
            return
        try:
            self._on_peer_status(peer)
        except Exception:
            log.exception("on_peer_status failed for %s", peer.name)

    # -- serving requests --

    def _start_request(self, conn: Connection, frame: Frame) -> None:
        if frame.code == PROBE_CODE:   # the transport's liveness probe: answered here, at once
            conn.enqueue(encode_frame(Kind.RESPONSE, PROBE_CODE, b"", frame.request_id), message=False)
            return
        if conn.inbound_requests >= self.limits.inbound_requests:
            conn.peer.requests_refused += 1
            conn.enqueue(encode_frame(Kind.ERROR, frame.code, b"busy: too many requests in progress", frame.request_id),
                         message=False)
            return
        conn.inbound_requests += 1
        task = self._spawn(self._serve_request(conn, frame), f"p2p request {conn.peer.name}")
        conn.request_tasks.add(task)
        task.add_done_callback(conn.request_tasks.discard)

    async def _serve_request(self, conn: Connection, frame: Frame) -> None:
        try:
            try:
                result = await self._on_request(conn.peer, frame.code, frame.payload)
                if len(result) > MAX_PAYLOAD:
                    raise ValueError(f"response of {len(result)} bytes exceeds {MAX_PAYLOAD}")
                reply = encode_frame(Kind.RESPONSE, frame.code, result, frame.request_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("request code %d from %s failed: %s", frame.code, conn.peer.name, exc)
                reason = f"{type(exc).__name__}: {exc}".encode()[:MAX_ERROR_BYTES]
                reply = encode_frame(Kind.ERROR, frame.code, reason, frame.request_id)
            conn.enqueue(reply, message=False)
        finally:
            conn.inbound_requests -= 1
