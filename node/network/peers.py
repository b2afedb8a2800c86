"""The validator/observer transport: asyncio TCP with mutual TLS 1.3 between static peers.

What it carries is opaque to it: consensus messages (MESSAGE frames, at most once, no
relay — the node re-broadcasts if it gossips), request/response pairs for sync, and each
side's chain head (STATUS frames). Everything here runs on one event loop and the
callbacks are called on it; `broadcast`, `send` and `announce` never block and may be
called from any thread (from another thread they are handed to the loop, in order);
`request` is awaited on the loop.

Design:

- **TLS.** `tls_contexts` pins TLS 1.3 both ways, requires a certificate both ways and
  trusts only the consortium CA named in genesis (no system roots). Peers are dialled by
  IP, so there is no hostname check; the chain must still verify to the CA. A peer's
  leaf must carry extendedKeyUsage clientAuth when it dials us and serverAuth when we
  dial it: OpenSSL refuses a leaf whose EKU lacks the purpose during the handshake, and
  a leaf with no EKU at all is refused right after it (OpenSSL would accept that as "any
  purpose"). Node certificates therefore carry both serverAuth and clientAuth. A peer's
  name is the commonName of its verified certificate; a validator's certificate also
  binds its validator address, as the subjectAltName URI
  ``urn:evidence-ledger:validator:0x<address hex>`` (`node.tlscerts.validator_uri`; a
  certificate with a malformed one, or two, is refused). A handshake that fails is logged
  and counted (`counters["tls_failed"]`, `["certificate_refused"]`) and nothing from
  that peer is ever delivered. The server side runs the TLS handshake itself
  (`start_tls` after accept) so that these failures are visible and counted.

- **Frames.** ``length (4 bytes, big-endian) ‖ body``, body = ``kind (1) ‖ code (1) ‖
  request id (4, big-endian; REQUEST, RESPONSE and ERROR only) ‖ payload``. `length`
  counts the body and is capped at `MAX_FRAME` (16 MiB: blocks travel in sync responses
  and in proposals). An oversize length, an unknown kind, a body too short for its
  header, or a HELLO/STATUS that does not decode gets the peer disconnected with a
  logged reason and a counter; the process never crashes. Kinds:

  ======== ===================================================================
  HELLO    first frame each way after TLS: RLP [version, chain_id, genesis_hash,
           name, validator address or b"", height, head_hash]
  STATUS   our new head: RLP [height, head_hash] (`announce`)
  MESSAGE  `code` + opaque payload (`broadcast`, `send`)
  REQUEST  `code` + request id + payload (`request`)
  RESPONSE request id + payload: the handler's result
  ERROR    request id + UTF-8 reason (capped at `MAX_ERROR_BYTES`): the handler
           raised, was busy, or its result was too large
  ======== ===================================================================

- **Handshake: the certificate is the identity** (as Fabric binds an MSP identity to
  the TLS certificate and Besu's enode id is the node key). After TLS both sides send
  HELLO at once and read the other's within `Limits.handshake_timeout`. Refused, with a
  log line: a different protocol version, chain_id or genesis hash; a HELLO name that is
  not the certificate's commonName; a HELLO claiming a validator address the certificate
  does not bind (claiming none with a binding certificate is allowed: it speaks as an
  observer). The side that refuses closes the connection; the other may have registered
  the peer for that moment. `Peer.address` is therefore certified, but consensus still
  checks every signature itself. `start` checks our own HELLO against our certificate
  (`tls_contexts` remembers it): a name that differs is a ConfigError, since every peer
  would refuse it; a validator address the certificate does not bind (a certificate
  issued before the binding) is dropped from our HELLO with a warning, so such a node
  still connects, as an observer would. A connection to ourselves (same name) is
  dropped and that address is not dialled again.

- **One connection per peer name; the live one stays.** A second connection for a name
  that has one is never a silent replacement — another certificate for the same name
  (issued twice, copied) must not displace the live peer. `_admit` decides, at both
  ends alike:

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

  One newcomer per name is considered at a time; another arriving meanwhile is refused.
  A dialler whose peer is already connected waits for that connection to end before it
  dials again.

- **Reconnect.** Every static peer address is dialled forever, exponential backoff
  from `Limits.backoff_min` to `Limits.backoff_max`, each wait jittered to 50-100 %.
  A connection that completed its handshake resets the backoff. Dead peers are found by
  TCP keepalive (`KEEPALIVE_*`) and by `Limits.write_timeout` on a peer that stops
  reading.

- **Inbound bounds.** MESSAGE, STATUS and REQUEST frames pass a per-peer token bucket
  (`Limits.message_rate`/s, burst `Limits.message_burst`); excess is dropped and
  counted (`Peer.rate_limited`), and a peer with more than `Limits.flood_disconnect`
  such drops within one second is disconnected. MESSAGE frames are deduplicated by
  SHA-256(code ‖ payload) in an LRU (`Limits.seen_cache`) shared by all peers: a
  repeat is counted (`Peer.duplicates`) and not delivered. Messages we send are entered
  too, so a peer echoing ours back does not deliver it to us. At most
  `Limits.inbound_requests` requests per peer run at once; more get an ERROR "busy".

- **Outbound bounds.** Each peer has a queue bounded by `Limits.outbound_queue` frames
  and `Limits.outbound_queue_bytes`; a frame that does not fit is dropped and counted
  (`Peer.dropped`), so a slow peer never blocks `broadcast` or grows memory. One
  writer task per peer drains the queue.

- **Faults** (test-only; the node decides whether to pass them): applied to outbound
  MESSAGE frames only, never to HELLO, STATUS, requests or responses. Per frame and per
  peer, in peer-name order: dropped with probability `drop`; else queued twice if
  `duplicate`; queued after `delay` seconds if `delay` > 0. The draws come from
  `random.Random(seed)`, so a run is reproducible.

Counters: each `Peer` counts its traffic; `PeerNetwork.counters` counts connection
events and refusals by reason (names in `COUNTER_NAMES`). Logging goes to the
"ledger.p2p" logger.
"""
from __future__ import annotations

import asyncio
import collections
import dataclasses
import enum
import functools
import hashlib
import logging
import random
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable, Sequence

import rlp
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from node.errors import ConfigError, LedgerError
from node.network.tlscerts import CertificateBindingError, certificate_validator

log = logging.getLogger("ledger.p2p")

PROTOCOL_VERSION = 1
# Largest frame body (kind, code, request id, payload). Blocks travel in sync responses
# and proposals; 16 MiB is far above a block at the genesis gas limit yet bounds what a
# peer can make us buffer for one frame.
MAX_FRAME = 16 * 1024 * 1024
LENGTH_BYTES = 4
REQUEST_ID_BYTES = 4
HEADER_BYTES = 2                                   # kind, code
ID_HEADER_BYTES = HEADER_BYTES + REQUEST_ID_BYTES
MAX_PAYLOAD = MAX_FRAME - ID_HEADER_BYTES          # fits in any frame kind
# Error reasons are for logs; a peer cannot make us keep more of its prose than this.
MAX_ERROR_BYTES = 1024
# RFC 5280 ub-common-name: the peer name is a certificate commonName.
MAX_NAME_BYTES = 64
HASH_BYTES = 32
ADDRESS_BYTES = 20
# TCP keepalive finds a peer whose machine vanished (no FIN): idle 10 s, then 3 probes
# 5 s apart, so a dead connection is closed after ~25 s even while we only listen.
KEEPALIVE_IDLE = 10
KEEPALIVE_INTERVAL = 5
KEEPALIVE_COUNT = 3
# A refusal repeated by the same peer every backoff is logged once at WARNING, then at
# DEBUG until the message changes; this many sources are remembered.
MAX_REFUSAL_SOURCES = 1024
# Bound on how long `stop` waits for tasks it cancelled.
STOP_TIMEOUT = 5.0
# REQUEST code of the liveness probe (see "One connection per peer name"); the transport
# answers it and never hands it to `on_request`. The node's own codes are below 0x80.
PROBE_CODE = 0xFF

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


class PeerError(LedgerError):
    """A request to a peer failed: `reason` is "not connected", "timeout", "error
    response", "disconnected" or "queue full"; `detail` says more."""

    def __init__(self, peer: str, reason: str, detail: str = "") -> None:
        super().__init__(f"peer {peer}: {reason}" + (f": {detail}" if detail else ""))
        self.peer = peer
        self.reason = reason
        self.detail = detail


class Kind(enum.IntEnum):
    HELLO = 0
    STATUS = 1
    MESSAGE = 2
    REQUEST = 3
    RESPONSE = 4
    ERROR = 5


_ID_KINDS = frozenset({Kind.REQUEST, Kind.RESPONSE, Kind.ERROR})


@dataclass(frozen=True)
class Hello:
    """What a node says about itself when a connection opens; `name` must be the
    commonName of its TLS certificate, `validator` the address its certificate binds
    (None for an observer)."""

    chain_id: int
    genesis_hash: bytes
    name: str
    validator: bytes | None
    height: int
    head_hash: bytes


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
class Faults:
    """Test-only faults on outbound MESSAGE frames (see the module docstring)."""

    drop: float = 0.0
    delay: float = 0.0
    duplicate: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.drop <= 1.0:
            raise ValueError(f"faults.drop must be in [0, 1], got {self.drop}")
        if self.delay < 0:
            raise ValueError(f"faults.delay must be >= 0, got {self.delay}")


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


class _ProtocolViolation(Exception):
    """The peer broke the frame protocol; `counter` names the COUNTER_NAMES entry."""

    def __init__(self, counter: str, reason: str) -> None:
        super().__init__(reason)
        self.counter = counter


class _HandshakeRefused(Exception):
    def __init__(self, counter: str, reason: str) -> None:
        super().__init__(reason)
        self.counter = counter


# --- TLS -------------------------------------------------------------------------------

class NodeTLSContext(ssl.SSLContext):
    """An SSLContext that remembers the node certificate it presents: `ssl` cannot read
    it back, and `PeerNetwork.start` checks our HELLO against it."""

    certificate: x509.Certificate | None = None


def tls_contexts(cert_pem_path: Path, key_pem_path: Path, ca_pem: bytes) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts: TLS 1.3 only, certificates required both ways, trust in
    the consortium CA `ca_pem` alone, no hostname check (peers are dialled by IP). Both
    are `NodeTLSContext`s holding the certificate at `cert_pem_path`."""
    try:
        certificate = x509.load_pem_x509_certificate(cert_pem_path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError("tls.certificate", f"cannot read a PEM certificate from {cert_pem_path}: {exc}") from exc
    contexts = []
    for protocol in (ssl.PROTOCOL_TLS_SERVER, ssl.PROTOCOL_TLS_CLIENT):
        context = NodeTLSContext(protocol)
        context.certificate = certificate
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.maximum_version = ssl.TLSVersion.TLSv1_3
        context.check_hostname = False
        context.verify_mode = ssl.CERT_REQUIRED
        try:
            context.load_cert_chain(str(cert_pem_path), str(key_pem_path))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError("tls.certificate", f"cannot load {cert_pem_path} / {key_pem_path}: {exc}") from exc
        try:
            context.load_verify_locations(cadata=ca_pem.decode("ascii"))
        except (UnicodeDecodeError, ssl.SSLError, ValueError) as exc:
            raise ConfigError("tls.ca", f"the consortium CA is not a PEM certificate: {exc}") from exc
        if not context.get_ca_certs():
            raise ConfigError("tls.ca", "no CA certificate in the consortium CA PEM")
        contexts.append(context)
    return contexts[0], contexts[1]


@dataclass(frozen=True)
class _Identity:
    """What a peer's verified certificate says it is."""

    name: str                  # commonName
    validator: bytes | None    # the validator address it binds (node.tlscerts), or None
    tls_version: str


def _peer_identity(ssl_object: ssl.SSLObject | None, *, peer_dialled: bool) -> _Identity:
    """The identity of a verified peer, or _HandshakeRefused."""
    if ssl_object is None:
        raise _HandshakeRefused("certificate_refused", "no TLS session")
    version = ssl_object.version() or ""
    if version != "TLSv1.3":
        raise _HandshakeRefused("tls_failed", f"negotiated {version or 'no TLS version'}, not TLSv1.3")
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        raise _HandshakeRefused("certificate_refused", "peer presented no certificate")
    try:
        certificate = x509.load_der_x509_certificate(der)
        usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = None
    except ValueError as exc:   # OpenSSL verified it, but cryptography is stricter about some encodings
        raise _HandshakeRefused("certificate_refused", f"certificate does not parse: {exc}") from None
    # The peer is a TLS client when it dialled us, a TLS server when we dialled it.
    purpose = ExtendedKeyUsageOID.CLIENT_AUTH if peer_dialled else ExtendedKeyUsageOID.SERVER_AUTH
    purpose_name = "clientAuth" if peer_dialled else "serverAuth"
    if usages is None:
        raise _HandshakeRefused("certificate_refused", f"certificate has no extendedKeyUsage (needs {purpose_name})")
    if purpose not in usages:
        raise _HandshakeRefused("certificate_refused", f"certificate extendedKeyUsage lacks {purpose_name}")
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise _HandshakeRefused("certificate_refused", f"certificate subject has {len(names)} commonNames, needs one")
    name = names[0].value
    if not isinstance(name, str) or not name or len(name.encode()) > MAX_NAME_BYTES:
        raise _HandshakeRefused("certificate_refused", "certificate commonName is empty or too long")
    try:
        validator = certificate_validator(certificate)
    except CertificateBindingError as exc:
        raise _HandshakeRefused("certificate_refused", f"{name}: {exc}") from None
    return _Identity(name, validator, version)


# --- frames ----------------------------------------------------------------------------

def encode_frame(kind: Kind, code: int, payload: bytes, request_id: int = 0) -> bytes:
    """One frame, length prefix included; ValueError if it would exceed MAX_FRAME."""
    if not 0 <= code <= 0xFF:
        raise ValueError(f"frame code must fit one byte, got {code}")
    head = bytes((kind, code))
    if kind in _ID_KINDS:
        head += request_id.to_bytes(REQUEST_ID_BYTES, "big")
    length = len(head) + len(payload)
    if length > MAX_FRAME:
        raise ValueError(f"frame of {length} bytes exceeds MAX_FRAME ({MAX_FRAME})")
    return length.to_bytes(LENGTH_BYTES, "big") + head + payload


@dataclass(frozen=True)
class Frame:
    kind: Kind
    code: int
    request_id: int
    payload: bytes
    size: int          # on the wire, length prefix included


async def read_frame(reader: asyncio.StreamReader) -> Frame:
    """The next frame; _ProtocolViolation for an oversize or malformed one,
    asyncio.IncompleteReadError / ConnectionError when the stream ends."""
    length = int.from_bytes(await reader.readexactly(LENGTH_BYTES), "big")
    if length > MAX_FRAME:
        raise _ProtocolViolation("oversize", f"frame length {length} exceeds MAX_FRAME ({MAX_FRAME})")
    if length < HEADER_BYTES:
        raise _ProtocolViolation("malformed", f"frame length {length} is shorter than its header")
    body = await reader.readexactly(length)
    try:
        kind = Kind(body[0])
    except ValueError:
        raise _ProtocolViolation("malformed", f"unknown frame kind {body[0]}") from None
    if kind in _ID_KINDS:
        if length < ID_HEADER_BYTES:
            raise _ProtocolViolation("malformed", f"{kind.name} frame too short for a request id")
        return Frame(kind, body[1], int.from_bytes(body[2:ID_HEADER_BYTES], "big"), body[ID_HEADER_BYTES:],
                     LENGTH_BYTES + length)
    return Frame(kind, body[1], 0, body[HEADER_BYTES:], LENGTH_BYTES + length)


def _uint(item: object, what: str) -> int:
    if not isinstance(item, bytes) or (item[:1] == b"\x00"):
        raise _ProtocolViolation("malformed", f"{what} is not a canonical integer")
    return int.from_bytes(item, "big")


def _hash(item: object, what: str) -> bytes:
    if not isinstance(item, bytes) or len(item) != HASH_BYTES:
        raise _ProtocolViolation("malformed", f"{what} is not {HASH_BYTES} bytes")
    return item


def encode_hello(hello: Hello) -> bytes:
    return rlp.encode([
        PROTOCOL_VERSION, hello.chain_id, hello.genesis_hash, hello.name.encode(),
        hello.validator or b"", hello.height, hello.head_hash,
    ])


def decode_hello(payload: bytes) -> tuple[int, Hello]:
    """(protocol version, Hello); _ProtocolViolation if it does not decode."""
    try:
        items = rlp.decode(payload)
    except rlp.DecodingError as exc:
        raise _ProtocolViolation("malformed", f"HELLO is not RLP: {exc}") from None
    if not isinstance(items, list) or len(items) != 7:
        raise _ProtocolViolation("malformed", "HELLO is not a 7-item list")
    version = _uint(items[0], "HELLO version")
    chain_id = _uint(items[1], "HELLO chain_id")
    genesis_hash = _hash(items[2], "HELLO genesis hash")
    raw_name, validator = items[3], items[4]
    if not isinstance(raw_name, bytes) or not 0 < len(raw_name) <= MAX_NAME_BYTES:
        raise _ProtocolViolation("malformed", "HELLO name is empty or too long")
    try:
        name = raw_name.decode()
    except UnicodeDecodeError:
        raise _ProtocolViolation("malformed", "HELLO name is not UTF-8") from None
    if not isinstance(validator, bytes) or len(validator) not in (0, ADDRESS_BYTES):
        raise _ProtocolViolation("malformed", "HELLO validator is neither empty nor an address")
    height = _uint(items[5], "HELLO height")
    head_hash = _hash(items[6], "HELLO head hash")
    return version, Hello(chain_id, genesis_hash, name, validator or None, height, head_hash)


def encode_status(height: int, head_hash: bytes) -> bytes:
    return rlp.encode([height, head_hash])


def decode_status(payload: bytes) -> tuple[int, bytes]:
    try:
        items = rlp.decode(payload)
    except rlp.DecodingError as exc:
        raise _ProtocolViolation("malformed", f"STATUS is not RLP: {exc}") from None
    if not isinstance(items, list) or len(items) != 2:
        raise _ProtocolViolation("malformed", "STATUS is not a 2-item list")
    return _uint(items[0], "STATUS height"), _hash(items[1], "STATUS head hash")


# --- connections -----------------------------------------------------------------------

class _SeenSet:
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


def _digest(code: int, payload: bytes) -> bytes:
    return hashlib.sha256(bytes((code,)) + payload).digest()


class _Connection:
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
        """Token bucket for MESSAGE/STATUS frames; False: drop this one."""
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
            raise _ProtocolViolation(
                "flood", f"more than {self.limits.flood_disconnect} messages over the rate bound within one second")
        return False

    def close(self, reason: str) -> None:
        """End the connection: the reader sees the stream end and tears it down."""
        if not self.close_reason:
            self.close_reason = reason
        _abort(self.writer)

    def allocate_request_id(self) -> int:
        while True:
            request_id = self.next_request_id
            self.next_request_id = request_id % 0xFFFF_FFFF + 1
            if request_id not in self.pending:
                return request_id


def _remote_of(writer: asyncio.StreamWriter) -> str:
    address = writer.get_extra_info("peername")
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


def _set_keepalive(writer: asyncio.StreamWriter) -> None:
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


def _abort(writer: asyncio.StreamWriter) -> None:
    # abort, not close: a TLS close waits for the peer's close_notify, and a peer that is
    # gone or hostile would hold `stop` and our file descriptors for ssl_shutdown_timeout.
    writer.transport.abort()


@dataclass
class _Outcome:
    """What one connection attempt taught the dialler."""

    name: str | None = None      # the peer's certificate name, once TLS verified it
    registered: bool = False     # the handshake completed and the connection was used
    is_self: bool = False


# --- the network -----------------------------------------------------------------------

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
        self._faults = faults
        self._fault_rng = random.Random(faults.seed) if faults is not None else None
        self._jitter = random.Random()
        self.limits = limits
        self.counters: collections.Counter[str] = collections.Counter()
        self._seen = _SeenSet(limits.seen_cache)
        self._conns: dict[str, _Connection] = {}
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
        self._check_own_identity(self._hello())
        self._name = self._hello().name
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
            except asyncio.TimeoutError:
                log.warning("the p2p listener did not close within %.0f s", STOP_TIMEOUT)
        log.info("%s p2p stopped", self._name)

    def _check_own_identity(self, ours: Hello) -> None:
        """Our HELLO must say what our certificate says, or every peer refuses it."""
        certificate = self._server_ssl.certificate if isinstance(self._server_ssl, NodeTLSContext) else None
        if certificate is None:
            return
        names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        cert_name = names[0].value if len(names) == 1 else None
        if cert_name != ours.name:
            raise ConfigError("p2p.name", f"is {ours.name!r} but the TLS certificate's commonName is "
                                          f"{cert_name!r}; every peer would refuse this node")
        try:
            bound = certificate_validator(certificate)
        except CertificateBindingError as exc:
            raise ConfigError("tls.certificate", f"{exc}; every peer would refuse it") from exc
        if ours.validator is not None and ours.validator != bound:
            self._drop_claim = True
            log.warning(
                "the TLS certificate of %s does not bind validator address 0x%s (it binds %s): peers refuse "
                "a HELLO claiming it, so ours will claim none (consensus is unaffected: it checks signatures). "
                "Reissue the certificate with the validator address (`ledger node tls-cert --validator`)",
                ours.name, ours.validator.hex(), "none" if bound is None else f"0x{bound.hex()}")

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
        self._seen.add(_digest(code, payload))
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
        self._seen.add(_digest(code, payload))
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
        request_id = conn.allocate_request_id()
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        conn.pending[request_id] = future
        try:
            if not conn.enqueue(encode_frame(Kind.REQUEST, code, payload, request_id), message=False):
                raise PeerError(peer.name, "queue full", f"{len(conn.queue)} frames waiting")
            try:
                return await asyncio.wait_for(future, timeout)
            except asyncio.TimeoutError:
                raise PeerError(peer.name, "timeout", f"no response to request code {code} in {timeout:g} s") from None
        finally:
            conn.pending.pop(request_id, None)
            if not future.done():
                future.cancel()

    # -- faults --

    def _send_message(self, conn: _Connection, frame: bytes) -> None:
        faults, rng = self._faults, self._fault_rng
        if faults is None or rng is None:
            conn.enqueue(frame, message=True)
            return
        if faults.drop > 0.0 and rng.random() < faults.drop:
            conn.peer.dropped += 1
            self.counters["fault_dropped"] += 1
            return
        copies = 2 if faults.duplicate else 1
        if faults.duplicate:
            self.counters["fault_duplicated"] += 1
        if faults.delay > 0.0:
            assert self._loop is not None
            timer: asyncio.TimerHandle

            def deliver() -> None:
                self._timers.discard(timer)
                for _ in range(copies):
                    conn.enqueue(frame, message=True)

            timer = self._loop.call_later(faults.delay, deliver)
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
            except (OSError, asyncio.TimeoutError) as exc:
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
        self._tasks.add(task)  # type: ignore[arg-type]
        task.add_done_callback(self._tasks.discard)  # type: ignore[arg-type]
        remote = _remote_of(writer)
        if self._stopping:
            _abort(writer)
            return
        if self._pending_handshakes >= self.limits.max_pending_handshakes:
            self.counters["handshakes_busy"] += 1
            log.warning("inbound connection from %s dropped: %d handshakes already in progress",
                        remote, self._pending_handshakes)
            _abort(writer)
            return
        self._pending_handshakes += 1
        handshaking = True
        try:
            try:
                await writer.start_tls(self._server_ssl, ssl_handshake_timeout=self.limits.handshake_timeout)
            except (ssl.SSLError, OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
                self.counters["tls_failed"] += 1
                host = remote.rsplit(":", 1)[0]
                self._log_refusal(host, f"TLS handshake from {host} refused: "
                                        f"{getattr(exc, 'verify_message', None) or exc or type(exc).__name__}")
                _abort(writer)
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
        remote = _remote_of(writer)
        direction = "to" if outbound else "from"
        try:
            peer = await self._handshake(reader, writer, remote, outbound, outcome)
        except _HandshakeRefused as refused:
            self.counters[refused.counter] += 1
            # Outbound: the dialled address; inbound: the host (its port is ephemeral).
            source = remote if outbound else remote.rsplit(":", 1)[0]
            self._log_refusal(source, f"connection {direction} {source} refused: {refused}",
                              logging.INFO if refused.counter == "self" else logging.WARNING)
            _abort(writer)
            return
        except BaseException:
            _abort(writer)
            raise
        loop = asyncio.get_running_loop()
        conn = _Connection(peer, reader, writer, self.limits, loop.time())
        try:
            admitted = await self._admit(conn)
        except BaseException:
            _abort(writer)
            conn.closed.set()
            raise
        if not admitted:
            _abort(writer)
            conn.closed.set()
            return
        outcome.registered = True
        self._refusals.pop(remote if outbound else remote.rsplit(":", 1)[0], None)
        self.counters["connected"] += 1
        log.info("connected %s %s (%s, height %d)", direction, peer.name, remote, peer.height)
        self._notify_status(peer)
        conn.writer_task = self._spawn(self._write_loop(conn), f"p2p write {peer.name}")
        try:
            await self._read_loop(conn)
        except _ProtocolViolation as violation:
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
        _set_keepalive(writer)
        identity = _peer_identity(writer.get_extra_info("ssl_object"), peer_dialled=not outbound)
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
                raise _ProtocolViolation("malformed", f"first frame is {frame.kind.name}, not HELLO")
            version, theirs = decode_hello(frame.payload)
        except _ProtocolViolation as exc:
            raise _HandshakeRefused("hello_failed", f"{name}: {exc}") from None
        except asyncio.TimeoutError:
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

    async def _admit(self, conn: _Connection) -> bool:
        """Make `conn` the connection to its peer, or False (the caller closes it): the
        existing connection stays. See "One connection per peer name" in the module
        docstring."""
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
            verdict = await self._contest(conn, existing)
        finally:
            self._contending.discard(name)
        if verdict == "keep":
            return False
        if self._conns.get(name) is existing:
            del self._conns[name]
        existing.close("replaced by the connection kept for this peer" if verdict == "replace"
                       else "did not answer the liveness probe: replaced")
        self._conns[name] = conn
        return True

    async def _contest(self, new: _Connection, old: _Connection) -> str:
        """"keep" the old connection (the new one is refused), "replace" it (crossing
        dials) or "stale" (it did not answer the probe)."""
        name = new.peer.name
        new_dialler = self._name if new.peer.outbound else name
        old_dialler = self._name if old.peer.outbound else name
        if new_dialler != old_dialler:
            # 2. Crossing dials: both ends keep the one the smaller name dialled.
            if new_dialler != min(self._name, name):
                # Routine when both dial at once, so INFO; an impostor lands here too.
                self.counters["duplicate_connection"] += 1
                log.info("second connection for %s %s %s refused: both ends keep the one dialled by %s "
                         "(the one %s %s)", name, "to" if new.peer.outbound else "from", new.peer.remote,
                         old_dialler, "to" if old.peer.outbound else "from", old.peer.remote)
                return "keep"
            if new.peer.outbound:
                self.counters["duplicate_connection"] += 1
                log.info("two connections with %s: closing the one %s %s (dialled by %s)", name,
                         "to" if old.peer.outbound else "from", old.peer.remote, old_dialler)
                return "replace"
            # The peer dialled the new one and closes the old one itself, unless the new
            # one is not that peer's: then the old one answers the probe below.
            try:
                await asyncio.wait_for(old.closed.wait(), self.limits.crossed_dial_grace)
            except asyncio.TimeoutError:
                pass
            else:
                self.counters["duplicate_connection"] += 1
                log.info("two connections with %s: the peer closed the one %s %s", name,
                         "to" if old.peer.outbound else "from", old.peer.remote)
                return "replace"
        # 1. The same side dialled both (or the crossing did not resolve): the live one stays.
        if await self._probe(old):
            self.counters["duplicate_connection"] += 1
            source = new.peer.remote.rsplit(":", 1)[0]
            self._log_refusal(source, (
                f"second connection for {name} {'to' if new.peer.outbound else 'from'} {new.peer.remote} refused: "
                f"the one {'to' if old.peer.outbound else 'from'} {old.peer.remote} is live (it answered a probe); "
                f"a restarted peer's old connection would have closed"))
            return "keep"
        self.counters["stale_replaced"] += 1
        log.warning("the connection with %s %s %s did not answer a liveness probe within %g s: "
                    "replacing it with the one %s %s", name, "to" if old.peer.outbound else "from",
                    old.peer.remote, self.limits.probe_timeout, "to" if new.peer.outbound else "from",
                    new.peer.remote)
        return "stale"

    async def _probe(self, conn: _Connection) -> bool:
        """True if `conn`'s peer answers a PROBE_CODE request within Limits.probe_timeout
        (an ERROR answer counts: an older node passes the code to its handler, which
        refuses it); False if it does not, or the connection ends, or its queue is full."""
        if conn.closed.is_set():
            return False
        request_id = conn.allocate_request_id()
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        conn.pending[request_id] = future
        try:
            if not conn.enqueue(encode_frame(Kind.REQUEST, PROBE_CODE, b"", request_id), message=False):
                return False
            await asyncio.wait_for(future, self.limits.probe_timeout)
            return True
        except PeerError as exc:
            return exc.reason == "error response"
        except asyncio.TimeoutError:
            return False
        finally:
            conn.pending.pop(request_id, None)
            if not future.done():
                future.cancel()

    def _teardown(self, conn: _Connection) -> None:
        if conn.closed.is_set():
            return
        conn.closed.set()
        conn.peer.connected = False
        if self._conns.get(conn.peer.name) is conn:
            del self._conns[conn.peer.name]
        self.counters["disconnected"] += 1
        if conn.writer_task is not None:
            conn.writer_task.cancel()
        for task in list(conn.request_tasks):
            task.cancel()
        for future in conn.pending.values():
            if not future.done():
                future.set_exception(PeerError(conn.peer.name, "disconnected", conn.close_reason))
        conn.queue.clear()
        conn.peer.queued = 0
        _abort(conn.writer)
        log.info("disconnected %s (%s): %s", conn.peer.name, conn.peer.remote, conn.close_reason or "closed")

    # -- reading --

    async def _read_loop(self, conn: _Connection) -> None:
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
                if not self._seen.add(_digest(frame.code, frame.payload)):
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
                future = conn.pending.get(frame.request_id)
                if future is None or future.done():
                    log.debug("%s answered request %d, which is no longer waiting", peer.name, frame.request_id)
                    continue
                if kind is Kind.RESPONSE:
                    future.set_result(frame.payload)
                else:
                    reason = frame.payload[:MAX_ERROR_BYTES].decode("utf-8", "replace")
                    future.set_exception(PeerError(peer.name, "error response", reason))
            else:  # HELLO
                raise _ProtocolViolation("malformed", "HELLO after the handshake")

    def _notify_status(self, peer: Peer) -> None:
        if self._on_peer_status is None:
            return
        try:
            self._on_peer_status(peer)
        except Exception:
            log.exception("on_peer_status failed for %s", peer.name)

    # -- serving requests --

    def _start_request(self, conn: _Connection, frame: Frame) -> None:
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

    async def _serve_request(self, conn: _Connection, frame: Frame) -> None:
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

    # -- writing --

    async def _write_loop(self, conn: _Connection) -> None:
        peer = conn.peer
        writer = conn.writer
        try:
            while True:
                while not conn.queue:
                    conn.wake.clear()
                    await conn.wake.wait()
                while conn.queue:
                    frame, message = conn.queue.popleft()
                    conn.queued_bytes -= len(frame)
                    writer.write(frame)
                    peer.bytes_sent += len(frame)
                    if message:
                        peer.sent += 1
                peer.queued = 0
                try:
                    await asyncio.wait_for(writer.drain(), self.limits.write_timeout)
                except asyncio.TimeoutError:
                    self.counters["write_stalled"] += 1
                    log.warning("disconnecting %s (%s): it took none of our bytes for %g s",
                                peer.name, peer.remote, self.limits.write_timeout)
                    conn.close(f"write_stalled: no progress for {self.limits.write_timeout:g} s")
                    return
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            conn.close(f"write failed: {exc or type(exc).__name__}")
