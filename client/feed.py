"""The node's durable event feed (GET /v1/feed) from the client side: a Server-Sent Events parser, a follower that reconnects and resumes after the last event handled, and the two cursor stores `ledger feed follow` keeps (a JSON-lines file that is its own cursor; a state file replaced atomically).

A cursor is "HEIGHT-LOGINDEX", the event's block and block-wide log index; the node
resumes a feed `since` a cursor with the first event after it. So a client that records
the cursor of each event only once it has handled the event misses nothing, and — if the
record and the handling are one durable write — sees nothing twice.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import random
import re
import subprocess
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from client.atomicfile import fsync_dir, write_atomic
from client.auth import current_token
from client.errors import ClientError
from client.http import HttpClient, HttpError, check_url
from node.api import FEED_KEEPALIVE_SECONDS

# The node sends a comment every FEED_KEEPALIVE_SECONDS on an idle stream; twice that
# plus a margin without a byte means the connection is dead, not quiet.
READ_TIMEOUT_SECONDS = 2 * FEED_KEEPALIVE_SECONDS + 5.0
CONNECT_TIMEOUT_SECONDS = 10.0
# Reconnection waits: from 0.5 s, doubling, at most 10 s, each a random point of the upper
# half of its range so that many followers of one restarted node do not return at once.
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 10.0
# The largest event the parser buffers. The chain's largest event (a ContractRegistered
# naming its parties) is a few kB; a stream line or event beyond this is not the node's
# feed, and buffering it without bound would let a broken peer exhaust our memory.
MAX_EVENT_BYTES = 4 * 1024 * 1024
READ_CHUNK_BYTES = 64 * 1024
# A state file is one line of JSON; only this much of it is read.
MAX_STATE_FILE_BYTES = 64 * 1024

_LINE_END = re.compile(rb"\r\n|\r|\n")
_CURSOR = re.compile(r"(\d{1,20})-(\d{1,10})")


class FeedError(ClientError):
    """The base of the feed client's errors."""


class FeedRefused(FeedError):
    """The node answered the feed request with a 4xx: a refused or missing token (401/403),
    a bad cursor or topic (400), no feed at that URL (404). Retrying cannot help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class FeedProtocolError(FeedError):
    """The stream is not the node's feed: an oversized line, an event without a cursor."""


class CursorFileError(FeedError):
    """An --out or --state file that cannot be read as a feed cursor (nothing was changed)."""


# -- cursors ------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Cursor:
    """An event's place on the chain: (height, log index), ordered as the chain is."""

    height: int
    log_index: int

    @classmethod
    def parse(cls, text: str) -> Cursor:
        match = _CURSOR.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"cursor {text[:40]!r} is not HEIGHT-LOGINDEX (e.g. 1042-3)")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.height}-{self.log_index}"


# -- Server-Sent Events -------------------------------------------------------------------


@dataclass(frozen=True)
class SseMessage:
    """One dispatched SSE message: `event` ("message" if the stream named none), `data`
    (its data lines joined by newlines) and `id`, the last event id in effect."""

    event: str
    data: str
    id: str | None


class SseParser:
    """The WHATWG HTML "event stream interpretation" as an incremental parser: bytes in
    (any chunking; CRLF, LF or CR line ends), dispatched messages out. Comments and
    `retry` are kept as counters for the caller; a message left without its blank line
    when the stream ends is dropped, as the standard says."""

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self.last_event_id: str | None = None
        self.retry_ms: int | None = None
        self.comments = 0
        self._buffer = bytearray()
        self._after_cr = False  # the previous chunk ended in CR: a leading LF belongs to it
        self._first = True      # a UTF-8 byte order mark may open the stream
        self._event = ""
        self._data: list[str] = []
        self._data_bytes = 0

    def feed(self, chunk: bytes) -> list[SseMessage]:
        if self._after_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._after_cr = False
        self._buffer += chunk
        if self._first and len(self._buffer) >= 3:
            if self._buffer.startswith(b"\xef\xbb\xbf"):
                del self._buffer[:3]
            self._first = False
        messages: list[SseMessage] = []
        start = 0
        for match in _LINE_END.finditer(self._buffer):
            self._line(bytes(self._buffer[start:match.start()]), messages)
            start = match.end()
            self._after_cr = match.group() == b"\r" and start == len(self._buffer)
        del self._buffer[:start]
        if len(self._buffer) > self.max_event_bytes:
            raise FeedProtocolError(f"a stream line longer than {self.max_event_bytes} bytes")
        return messages

    def _line(self, raw: bytes, messages: list[SseMessage]) -> None:
        self._first = False
        line = raw.decode("utf-8", errors="replace")
        if not line:
            if self._data:
                messages.append(SseMessage(self._event or "message", "\n".join(self._data), self.last_event_id))
            self._event, self._data, self._data_bytes = "", [], 0
            return
        if line.startswith(":"):
            self.comments += 1
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data_bytes += len(raw) + 1
            if self._data_bytes > self.max_event_bytes:
                raise FeedProtocolError(f"an event larger than {self.max_event_bytes} bytes")
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self.retry_ms = int(value)
        # any other field is ignored, as the standard says


# -- the follower ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedEvent:
    """One event of the feed: its cursor, name and the node's event JSON."""

    cursor: Cursor
    name: str
    document: dict[str, Any]


@dataclass
class Backoff:
    """Capped exponential waits with jitter: attempt n waits a random time in
    [b/2, b], b = min(cap, 2 * first * 2**n) — from 0.5..1 s up to 5..10 s."""

    first: float = BACKOFF_FIRST_SECONDS
    cap: float = BACKOFF_CAP_SECONDS
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def next(self) -> float:
        bound = min(self.cap, 2 * self.first * 2 ** min(self.attempts, 32))
        self.attempts += 1
        return self.rng.uniform(bound / 2, bound)

    def reset(self) -> None:
        self.attempts = 0


StatusCallback = Callable[[str, dict[str, Any]], None]


FEED_PATH = "v1/feed"


def feed_query(*, topics: Sequence[str] | None, role: str | None, since: Cursor | None) -> dict[str, str]:
    """The query of GET /v1/feed."""
    query: dict[str, str] = {}
    if topics:
        query["topics"] = ",".join(topics)
    if role:
        query["role"] = role
    if since is not None:
        query["since"] = str(since)
    return query


def feed_url(rpc_url: str, *, topics: Sequence[str] | None, role: str | None, since: Cursor | None) -> str:
    """GET {rpc}/v1/feed with its query (ValueError for a URL that is not http(s))."""
    check_url(rpc_url, "--rpc")
    return HttpClient(rpc_url).url(FEED_PATH, feed_query(topics=topics, role=role, since=since))


class Follower:
    """Follows the feed from `since` (None: from the first event), reconnecting on any
    disconnect with `Backoff`, and resuming after the last event the caller has handled.

    `events()` yields each event once; an event counts as handled when the caller asks
    for the next one, and only then does `position` move past it. It ends when
    `idle_exit` seconds pass without an event (`stop_reason` "idle"); it raises
    FeedRefused when the node refuses the request (never retried) and FeedProtocolError
    when the stream is not a feed. `on_status(kind, details)` hears of connections,
    disconnections and skipped repeats.
    """

    def __init__(
        self,
        rpc_url: str,
        *,
        token: str | None = None,
        topics: Sequence[str] | None = None,
        role: str | None = None,
        since: Cursor | None = None,
        idle_exit: float | None = None,
        read_timeout: float = READ_TIMEOUT_SECONDS,
        backoff: Backoff | None = None,
        on_status: StatusCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        check_url(rpc_url, "--rpc")
        self.rpc_url = rpc_url
        self.token = current_token(token)  # as Ledger and the blob functions: $LEDGER_TOKEN by default
        self._http = HttpClient(rpc_url, token=self.token, timeout=CONNECT_TIMEOUT_SECONDS)
        self.topics = list(topics) if topics else None
        self.role = role
        self.position = since
        self.idle_exit = idle_exit
        self.read_timeout = read_timeout
        self.backoff = backoff or Backoff()
        self.on_status = on_status or (lambda kind, details: None)
        self.clock = clock
        self.sleep = sleep
        self.connected = False
        self.stop_reason: str | None = None
        self.last_error: str | None = None
        self._idle_since = clock()

    def _idle_left(self) -> float | None:
        if self.idle_exit is None:
            return None
        return self.idle_exit - (self.clock() - self._idle_since)

    def events(self) -> Generator[FeedEvent, None, None]:
        while True:
            left = self._idle_left()
            if left is not None and left <= 0:
                self.stop_reason = "idle"
                return
            try:
                for event in self._stream():
                    if self.position is not None and event.cursor <= self.position:
                        # The node resumes after the cursor we gave; an event at or before
                        # it was handled already (a proxy replaying, a node bug): skip it.
                        self.on_status("skipped", {"cursor": str(event.cursor), "position": str(self.position)})
                        continue
                    yield event
                    self.position = event.cursor
                    self._idle_since = self.clock()
                reason = "the node closed the stream"
            except _IdleTimeout:
                self.stop_reason = "idle"
                return
            except HttpError as exc:
                reason = exc.message
            except _Transient as exc:
                reason = str(exc)
            self.connected = False
            self.last_error = reason
            delay = self.backoff.next()
            left = self._idle_left()
            if left is not None:
                delay = max(0.0, min(delay, left))
            self.on_status("disconnected", {"reason": reason, "retryIn": round(delay, 2),
                                            "position": None if self.position is None else str(self.position)})
            self.sleep(delay)

    def _stream(self) -> Iterator[FeedEvent]:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.position is not None:
            headers["Last-Event-ID"] = str(self.position)
        query = feed_query(topics=self.topics, role=self.role, since=self.position)
        try:
            with self._http.stream(FEED_PATH, params=query, headers=headers) as stream:
                content_type = stream.headers.get("Content-Type", "")
                if not content_type.startswith("text/event-stream"):
                    raise FeedProtocolError(f"{self.rpc_url} answered {content_type or 'no content type'}, "
                                            "not an event stream")
                self.connected = True
                self.last_error = None
                self.backoff.reset()
                self.on_status("connected", {"since": None if self.position is None else str(self.position)})
                parser = SseParser()
                while True:
                    timeout = self.read_timeout
                    left = self._idle_left()
                    if left is not None:
                        if left <= 0:
                            raise _IdleTimeout()
                        timeout = min(timeout, left)
                    try:
                        chunk = stream.read(READ_CHUNK_BYTES, timeout)
                    except TimeoutError:
                        left = self._idle_left()
                        if left is not None and left <= 0:
                            raise _IdleTimeout() from None
                        raise _Transient(f"no byte for {timeout:g} s (the node sends a keepalive every "
                                         f"{FEED_KEEPALIVE_SECONDS:.0f} s): the connection is dead") from None
                    if not chunk:
                        return
                    for message in parser.feed(chunk):
                        yield parse_event(message)
        except HttpError as exc:
            if exc.status is None:
                raise
            if 400 <= exc.status < 500 and exc.status not in (408, 429):
                raise FeedRefused(exc.status, exc.message) from None
            raise _Transient(f"HTTP {exc.status}: {exc.message}") from None


class _Transient(ClientError):
    """A failure worth retrying: a 5xx, a dead connection."""


class _IdleTimeout(ClientError):
    pass


def parse_event(message: SseMessage) -> FeedEvent:
    """The node's event JSON of one SSE message; its cursor (the message id, which must
    agree with the JSON's `cursor`)."""
    try:
        document = json.loads(message.data)
    except ValueError:
        raise FeedProtocolError(f"event data is not JSON: {message.data[:80]!r}") from None
    if not isinstance(document, dict) or not isinstance(document.get("cursor"), str):
        raise FeedProtocolError(f"event without a cursor: {message.data[:80]!r}")
    try:
        cursor = Cursor.parse(document["cursor"])
    except ValueError as exc:
        raise FeedProtocolError(str(exc)) from None
    if message.id not in (None, "") and message.id != document["cursor"]:
        raise FeedProtocolError(f"event id {message.id!r} differs from its cursor {document['cursor']!r}")
    name = document.get("event") if isinstance(document.get("event"), str) else message.event
    return FeedEvent(cursor, str(name), document)


# -- the JSON-lines file: its own cursor ------------------------------------------------------


def _lock(handle: IO[bytes], path: Path) -> None:
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise CursorFileError(f"{path}: another `ledger feed follow` holds it") from None
        raise


@dataclass(frozen=True)
class Recovered:
    """What opening an --out file found: the cursor of its last event (None: empty) and
    how many bytes of an incomplete last line were cut away."""

    cursor: Cursor | None
    truncated: int


class EventLog:
    """An append-only JSON-lines file of feed events, one per line, each flushed and
    fsynced before the next is taken: the file's last complete line is the follower's
    cursor. Held under an exclusive lock, so two followers never interleave lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[bytes] | None = None

    def open(self) -> Recovered:
        """Open (creating) the file, cut an incomplete last line left by a crash, and
        return the cursor to resume after. Refuses (CursorFileError, file untouched) a
        file whose last complete line is not a feed event."""
        created = not self.path.exists()
        handle = open(self.path, "a+b")
        try:
            _lock(handle, self.path)
            if created:
                fsync_dir(self.path)
            recovered = _recover(handle, self.path)
        except BaseException:
            handle.close()
            raise
        self._handle = handle
        return recovered

    def append(self, document: Mapping[str, Any]) -> None:
        assert self._handle is not None, "open() first"
        line = json.dumps(document, separators=(",", ":"), ensure_ascii=False) + "\n"
        self._handle.write(line.encode())
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _recover(handle: IO[bytes], path: Path) -> Recovered:
    size = handle.seek(0, os.SEEK_END)
    if size == 0:
        return Recovered(None, 0)
    end = _last_newline(handle, size, 0)  # where the complete lines end
    complete = 0 if end is None else end + 1
    if end is None:
        handle.seek(0)
        head = handle.read(1)
        if head != b"{":  # not a cut-off event: not ours to cut
            raise CursorFileError(f"{path}: not a JSON-lines file of feed events (no complete line)")
        cursor = None
    else:
        start = _last_newline(handle, end, end - MAX_EVENT_BYTES)
        begin = 0 if start is None else start + 1
        if end - begin > MAX_EVENT_BYTES:
            raise CursorFileError(f"{path}: its last line is longer than any feed event")
        handle.seek(begin)
        cursor = _line_cursor(handle.read(end - begin), path)
    if complete < size:
        handle.truncate(complete)
        handle.flush()
        os.fsync(handle.fileno())
    handle.seek(0, os.SEEK_END)
    return Recovered(cursor, size - complete)


def _last_newline(handle: IO[bytes], before: int, floor: int) -> int | None:
    """The offset of the last LF in [max(floor, 0), before), reading backwards."""
    position = before
    floor = max(floor, 0)
    while position > floor:
        step = min(READ_CHUNK_BYTES, position - floor)
        position -= step
        handle.seek(position)
        found = handle.read(step).rfind(b"\n")
        if found >= 0:
            return position + found
    return None


def _line_cursor(line: bytes, path: Path) -> Cursor:
    try:
        document = json.loads(line)
        return Cursor.parse(document["cursor"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise CursorFileError(
            f"{path}: its last line is not a feed event with a cursor; refusing to guess where to resume") from None


# -- the state file of --exec -----------------------------------------------------------------


def read_state(path: Path) -> Cursor | None:
    """The cursor a state file holds; None if the file does not exist."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CursorFileError(f"{path}: {exc.strerror or exc}") from None
    try:
        document = json.loads(raw[:MAX_STATE_FILE_BYTES])
        return Cursor.parse(document["cursor"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise CursorFileError(f"{path}: not a feed state file ({{\"cursor\": \"HEIGHT-LOGINDEX\"}})") from None


def write_state(path: Path, cursor: Cursor) -> None:
    """Replace the state file atomically: a temporary file beside it, fsynced, renamed
    over it, the directory fsynced. A crash leaves the old cursor or the new one."""
    write_atomic(path, json.dumps({"cursor": str(cursor)}).encode() + b"\n", 0o644)


class StateLock:
    """An exclusive lock beside a state file (STATE.lock): one follower per state file.
    (The state file itself is replaced on every save, so it cannot carry the lock.)"""

    def __init__(self, path: Path) -> None:
        self.path = path.with_name(path.name + ".lock")
        self._handle: IO[bytes] | None = None

    def acquire(self) -> None:
        handle = open(self.path, "a+b")
        try:
            _lock(handle, self.path)
        except BaseException:
            handle.close()
            raise
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


# -- running a command per event ------------------------------------------------------------


def run_command(argv: Sequence[str], event: FeedEvent, *, stdout: int | IO[Any] | None = None) -> int:
    """Run `argv` (no shell) with the event JSON on stdin and LEDGER_FEED_CURSOR and
    LEDGER_FEED_EVENT in its environment; its exit status.

    The command runs in its own session: a Ctrl-C at the terminal reaches the follower,
    which lets the command finish the event in hand, rather than killing it mid-way."""
    env = {**os.environ, "LEDGER_FEED_CURSOR": str(event.cursor), "LEDGER_FEED_EVENT": event.name}
    data = json.dumps(event.document, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    return subprocess.run(list(argv), input=data, env=env, stdout=stdout, check=False,
                          start_new_session=True).returncode
