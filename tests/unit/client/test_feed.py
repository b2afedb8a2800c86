"""The feed client (client/feed.py) and `ledger feed follow`: SSE parsing, the follower's
reconnect-and-resume against a stand-in for the node's /v1/feed on 127.0.0.1, the
--out file as its own cursor (a crash's partial line cut away), the --state file's
atomic replacement, and the exit codes."""
from __future__ import annotations

import json
import os
import shlex
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from client import feed
from client.cli import app
from client.feed import (
    Backoff,
    Cursor,
    CursorFileError,
    EventLog,
    FeedProtocolError,
    FeedRefused,
    Follower,
    SseMessage,
    SseParser,
    StateLock,
    parse_event,
    read_state,
    write_state,
)

runner = CliRunner()


def event(height: int, log_index: int, name: str = "ContractRegistered") -> dict[str, Any]:
    return {"cursor": f"{height}-{log_index}", "block": height, "logIndex": log_index, "topic": "contracts",
            "event": name, "args": {"id": "0x" + f"{height:02x}{log_index:02x}" * 16, "projectCode": "P-中文"}}


EVENTS = [event(2, 0), event(2, 1, "ContractVoided"), event(3, 0), event(5, 2), event(7, 0)]


# -- SSE parsing -------------------------------------------------------------------------


def parse_all(stream: bytes, chunk: int | None = None) -> list[SseMessage]:
    parser = SseParser()
    if chunk is None:
        return parser.feed(stream)
    messages = []
    for start in range(0, len(stream), chunk):
        messages += parser.feed(stream[start:start + chunk])
    return messages


STREAM = (b"\xef\xbb\xbfretry: 2000\r\n\r\n"
          b": keepalive\r\n\r\n"
          b"id: 1-0\r\nevent: ContractRegistered\r\ndata: {\"a\":\r\ndata:  1}\r\n\r\n"
          b"id: 1-1\revent: ContractVoided\rdata: x\r\r"
          b"data\n\n"
          b"id: 2-0\ndata: last\n\n"
          b"data: no blank line after me")


@pytest.mark.parametrize("chunk", [None, 1, 2, 3, 7])
def test_sse_parser_any_line_ending_and_any_chunking(chunk: int | None) -> None:
    messages = parse_all(STREAM, chunk)
    assert messages == [
        SseMessage("ContractRegistered", '{"a":\n 1}', "1-0"),  # multi-line data; one leading space stripped
        SseMessage("ContractVoided", "x", "1-1"),               # CR-only line ends
        SseMessage("message", "", "1-1"),                       # "data" alone: an empty data line; id persists
        SseMessage("message", "last", "2-0"),
    ]  # the last message has no blank line: dropped, as the standard says


def test_sse_parser_fields() -> None:
    parser = SseParser()
    assert parser.feed(b"retry: 1500\n\n: one\n:two\n\n") == []
    assert (parser.retry_ms, parser.comments) == (1500, 2)
    assert parser.feed(b"retry: soon\nid: a\0b\nfoo: bar\ndata: x\n\n") == [SseMessage("message", "x", None)]
    assert parser.retry_ms == 1500  # a non-number retry and an id with NUL are ignored
    assert parser.feed(b"event: only an event\n\n") == []  # no data: nothing dispatched


def test_sse_parser_caps_a_line_and_an_event() -> None:
    with pytest.raises(FeedProtocolError, match="line longer"):
        SseParser(max_event_bytes=64).feed(b"data: " + b"x" * 100)
    parser = SseParser(max_event_bytes=64)
    with pytest.raises(FeedProtocolError, match="event larger"):
        for _ in range(10):
            parser.feed(b"data: " + b"x" * 20 + b"\n")


def test_cursor_and_event() -> None:
    assert Cursor.parse("1042-3") == Cursor(1042, 3) and str(Cursor(1042, 3)) == "1042-3"
    assert Cursor.parse("9-9") < Cursor.parse("10-0") < Cursor.parse("10-1")
    for bad in ("", "12", "-1", "1-", "a-b", "1-2-3", "1 - 2"):
        with pytest.raises(ValueError):
            Cursor.parse(bad)
    parsed = parse_event(SseMessage("ContractRegistered", json.dumps(EVENTS[0]), "2-0"))
    assert (parsed.cursor, parsed.name, parsed.document) == (Cursor(2, 0), "ContractRegistered", EVENTS[0])
    with pytest.raises(FeedProtocolError, match="differs"):
        parse_event(SseMessage("x", json.dumps(EVENTS[0]), "2-1"))
    with pytest.raises(FeedProtocolError, match="without a cursor"):
        parse_event(SseMessage("x", "{}", None))
    with pytest.raises(FeedProtocolError, match="not JSON"):
        parse_event(SseMessage("x", "{", None))


def test_backoff_from_half_a_second_to_ten() -> None:
    backoff = Backoff()
    waits = [backoff.next() for _ in range(12)]
    assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0
    assert all(5.0 <= w <= 10.0 for w in waits[5:])
    backoff.reset()
    assert backoff.next() <= 1.0


# -- a stand-in for the node's feed ------------------------------------------------------


class FakeFeed:
    """GET /v1/feed as the node answers it: the events after `since` (or Last-Event-ID),
    then keepalives. Scriptable: drop each connection after some events, ignore the
    cursor (replay), stay silent, or refuse with a status."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = list(EVENTS)
        self.requests: list[dict[str, Any]] = []
        self.drop_after: int | None = None
        self.drops: list[int | None] = []  # drop_after of the next connections, in turn
        self.replay = False
        self.silent = False
        self.status = 200
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.serve(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        url = urllib.parse.urlsplit(handler.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        with self.lock:
            self.requests.append({"path": url.path, "query": query, "lastEventId": handler.headers.get("Last-Event-ID"),
                                  "authorization": handler.headers.get("Authorization")})
        if self.status != 200:
            body = json.dumps({"error": f"refused with {self.status}"}).encode()
            handler.send_response(self.status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()
        since = query.get("since") or handler.headers.get("Last-Event-ID")
        after = None if since is None or self.replay else Cursor.parse(since)
        with self.lock:
            drop_after = self.drops.pop(0) if self.drops else self.drop_after
        handler.wfile.write(b"retry: 2000\n\n")
        sent = 0
        try:
            for item in self.events:
                if after is not None and Cursor.parse(item["cursor"]) <= after:
                    continue
                if drop_after is not None and sent >= drop_after:
                    return
                data = json.dumps(item, ensure_ascii=False)
                handler.wfile.write(f"id: {item['cursor']}\nevent: {item['event']}\ndata: {data}\n\n".encode())
                handler.wfile.flush()
                sent += 1
            while not self.stopping.wait(0.05):
                if not self.silent:
                    handler.wfile.write(b": keepalive\n\n")
                    handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def fake() -> Iterator[FakeFeed]:
    server = FakeFeed()
    server.thread.start()
    try:
        yield server
    finally:
        server.stop()


def follower(fake: FakeFeed, **options: Any) -> Follower:
    options.setdefault("backoff", Backoff(first=0.01, cap=0.02))
    return Follower(fake.url, token="t0ken", **options)


def take(events: Iterator[feed.FeedEvent], count: int) -> list[str]:
    return [str(next(events).cursor) for _ in range(count)]


def test_follower_reconnects_and_resumes_after_the_last_event_handled(fake: FakeFeed) -> None:
    fake.drop_after = 2
    statuses: list[str] = []
    f = follower(fake, role="regulator", on_status=lambda kind, details: statuses.append(kind))
    events = f.events()
    try:
        assert take(events, 5) == [e["cursor"] for e in EVENTS]
    finally:
        events.close()
    sinces = [r["query"].get("since") for r in fake.requests]
    assert sinces == [None, "2-1", "5-2"]
    assert [r["lastEventId"] for r in fake.requests] == sinces
    assert all(r["query"]["role"] == "regulator" and r["path"] == "/v1/feed" for r in fake.requests)
    assert all(r["authorization"] == "Bearer t0ken" for r in fake.requests)
    assert statuses.count("connected") == 3 and statuses.count("disconnected") == 2


def test_follower_counts_an_event_handled_only_when_the_next_is_asked_for(fake: FakeFeed) -> None:
    fake.drop_after = 2
    f = follower(fake, topics=["contracts", "evidence"])
    events = f.events()
    try:
        assert take(events, 2) == ["2-0", "2-1"]
        assert f.position == Cursor(2, 0)  # 2-1 is in the caller's hand, not yet handled
        assert take(events, 1) == ["3-0"]
        assert f.position == Cursor(2, 1)
    finally:
        events.close()
    assert fake.requests[0]["query"]["topics"] == "contracts,evidence"


def test_follower_skips_what_it_handled_if_the_stream_repeats_it(fake: FakeFeed) -> None:
    fake.replay, fake.drops = True, [4]  # the first connection drops after 5-2, the second replays all
    skipped: list[str] = []
    f = follower(fake, since=Cursor(2, 1),
                 on_status=lambda kind, details: skipped.append(details["cursor"]) if kind == "skipped" else None)
    events = f.events()
    try:
        assert take(events, 3) == ["3-0", "5-2", "7-0"]
    finally:
        events.close()
    assert skipped[:2] == ["2-0", "2-1"] and "3-0" in skipped  # the second connection replays from the start


def test_follower_never_retries_a_refusal(fake: FakeFeed) -> None:
    for status in (401, 403, 400):
        fake.status, fake.requests = status, []
        with pytest.raises(FeedRefused, match=f"refused with {status}") as caught:
            next(follower(fake).events())
        assert caught.value.status == status and len(fake.requests) == 1


def test_follower_retries_a_server_error(fake: FakeFeed) -> None:
    fake.status = 503
    statuses: list[dict[str, Any]] = []
    f = follower(fake, on_status=lambda kind, details: statuses.append(details))
    events = f.events()

    def recover() -> None:
        deadline = time.monotonic() + 10
        while len(fake.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        fake.status = 200

    threading.Thread(target=recover).start()
    try:
        assert take(events, 1) == ["2-0"]
    finally:
        events.close()
    assert len(fake.requests) >= 3 and "HTTP 503" in statuses[0]["reason"]


def test_follower_idle_exit_and_dead_connections(fake: FakeFeed) -> None:
    f = follower(fake, idle_exit=0.5)
    assert [str(e.cursor) for e in f.events()] == [e["cursor"] for e in EVENTS]
    assert f.stop_reason == "idle" and f.connected and len(fake.requests) == 1  # keepalives kept it up
    # A stream that stops sending anything (not even keepalives) is dead: reconnect.
    fake.silent, fake.requests = True, []
    f = follower(fake, since=Cursor(7, 0), read_timeout=0.2, idle_exit=1.0)
    assert list(f.events()) == []
    assert len(fake.requests) >= 2 and f.stop_reason == "idle"


def test_follower_rejects_a_non_http_url() -> None:
    with pytest.raises(ValueError, match="http"):
        Follower("ftp://127.0.0.1:1", token=None)


# -- the --out file ------------------------------------------------------------------------


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines()]


def test_event_log_appends_and_resumes_after_its_last_line(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    log = EventLog(path)
    assert log.open() == feed.Recovered(None, 0) and path.exists()
    log.append(EVENTS[0])
    log.append(EVENTS[1])
    log.close()
    assert lines(path) == EVENTS[:2]
    log = EventLog(path)
    assert log.open() == feed.Recovered(Cursor(2, 1), 0)
    log.close()


def test_event_log_cuts_a_partial_last_line(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    whole = "".join(json.dumps(e) + "\n" for e in EVENTS[:3])
    path.write_text(whole + json.dumps(EVENTS[3])[:25])  # a crash in the middle of a write
    log = EventLog(path)
    assert log.open() == feed.Recovered(Cursor(3, 0), 25)
    log.append(EVENTS[3])
    log.close()
    assert lines(path) == EVENTS[:4]
    # Only a cut-off first line: the file becomes empty, and the feed starts over.
    path.write_text('{"cursor": "2-')
    log = EventLog(path)
    assert log.open() == feed.Recovered(None, 14)
    log.close()
    assert path.read_bytes() == b""


def test_event_log_refuses_a_file_that_is_not_a_feed_and_leaves_it_alone(tmp_path: Path) -> None:
    for content in ("notes\nmore notes\n", "just text without a newline", '{"cursor": "2-0"}\n\n',
                    '{"no": "cursor"}\npartial'):
        path = tmp_path / "other.txt"
        path.write_text(content)
        with pytest.raises(CursorFileError):
            EventLog(path).open()
        assert path.read_text() == content


def test_event_log_is_one_writer_only(tmp_path: Path) -> None:
    first = EventLog(tmp_path / "feed.jsonl")
    first.open()
    try:
        with pytest.raises(CursorFileError, match="another"):
            EventLog(tmp_path / "feed.jsonl").open()
    finally:
        first.close()
    second = EventLog(tmp_path / "feed.jsonl")
    second.open()
    second.close()


def test_event_log_reads_a_long_file_from_its_end(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    with path.open("w") as handle:
        for height in range(1, 3001):  # ~400 kB: several read-back blocks
            handle.write(json.dumps(event(height, 0)) + "\n")
    log = EventLog(path)
    assert log.open().cursor == Cursor(3000, 0)
    log.close()


# -- the --state file ----------------------------------------------------------------------


def test_state_file_is_replaced_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "follower.state"
    assert read_state(path) is None
    write_state(path, Cursor(5, 2))
    assert read_state(path) == Cursor(5, 2)
    assert json.loads(path.read_text()) == {"cursor": "5-2"}
    write_state(path, Cursor(7, 0))
    assert read_state(path) == Cursor(7, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["follower.state"]  # no temporary left

    # A crash before the rename leaves the previous cursor whole (and no temporary).
    def crash(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        write_state(path, Cursor(9, 0))
    monkeypatch.undo()
    assert read_state(path) == Cursor(7, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["follower.state"]


def test_state_file_refuses_garbage_and_a_second_follower(tmp_path: Path) -> None:
    path = tmp_path / "follower.state"
    path.write_text("1042-3")
    with pytest.raises(CursorFileError, match="not a feed state file"):
        read_state(path)
    lock = StateLock(path)
    lock.acquire()
    try:
        with pytest.raises(CursorFileError, match="another"):
            StateLock(path).acquire()
    finally:
        lock.release()


# -- `ledger feed follow` ----------------------------------------------------------------------


def follow(*args: str, token: str | None = "t0ken") -> Any:
    env = {"LEDGER_TOKEN": token, "LEDGER_TOKEN_FILE": None, "LEDGER_RPC_URL": None}
    return runner.invoke(app, ["feed", "follow", *args], env=env)


@pytest.mark.parametrize("args, reason", [
    (["--role", "regulator", "--topics", "contracts", "--out", "x"], "not both"),
    (["--topics", "contracts,ledgers", "--out", "x"], "--topics"),
    (["--role", "regulator"], "--out FILE.jsonl or --exec CMD"),
    (["--out", "x", "--exec", "true", "--state", "s"], "--out FILE.jsonl or --exec CMD"),
    (["--exec", "true"], "--exec needs --state"),
    (["--out", "x", "--state", "s"], "--state goes with --exec"),
    (["--exec", "no-such-command-here", "--state", "s"], "no such command"),
    (["--out", "x", "--since", "yesterday"], "--since"),
    (["--out", "x", "--rpc", "127.0.0.1:8545"], "http"),
    (["--out", "x", "--max-events", "0"], "--max-events"),
])
def test_follow_usage_errors_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str],
                                    reason: str) -> None:
    monkeypatch.chdir(tmp_path)
    result = follow(*args)
    assert result.exit_code == 2 and reason in result.stderr, result.output
    assert not (tmp_path / "x").exists()


def test_follow_into_a_file_resumes_and_the_file_wins_over_since(fake: FakeFeed, tmp_path: Path) -> None:
    out = tmp_path / "feed.jsonl"
    result = follow("--rpc", fake.url, "--role", "regulator", "--out", str(out), "--max-events", "2")
    assert result.exit_code == 0, result.output
    assert lines(out) == EVENTS[:2]
    assert "following role regulator" in result.stderr and "stopped (max-events) after 2 event(s); cursor 2-1" in result.stderr
    with out.open("a") as handle:
        handle.write('{"cursor": "3-')  # a crash mid-line
    result = follow("--rpc", fake.url, "--role", "regulator", "--out", str(out), "--since", "1-0",
                    "--idle-exit", "0.5", "--json")
    assert result.exit_code == 0, result.output
    assert lines(out) == EVENTS
    assert fake.requests[-1]["query"]["since"] == "2-1"
    statuses = [json.loads(text) for text in result.stdout.splitlines()]
    notices = [s["message"] for s in statuses if s["status"] == "notice"]
    assert any("incomplete last line" in n for n in notices)
    assert any("ends at cursor 2-1; resuming after it (--since 1-0" in n for n in notices)
    assert statuses[-1] == {"status": "stopped", "reason": "idle", "events": 3, "cursor": "7-0"}


def test_follow_since_applies_to_an_empty_file(fake: FakeFeed, tmp_path: Path) -> None:
    out = tmp_path / "feed.jsonl"
    out.touch()
    result = follow("--rpc", fake.url, "--out", str(out), "--since", "3-0", "--idle-exit", "0.3")
    assert result.exit_code == 0, result.output
    assert lines(out) == EVENTS[3:]
    assert "role" not in fake.requests[0]["query"] and fake.requests[0]["query"]["since"] == "3-0"


def test_follow_exec_saves_the_cursor_only_after_success(fake: FakeFeed, tmp_path: Path) -> None:
    seen, state, flag = tmp_path / "seen.txt", tmp_path / "follower.state", tmp_path / "fail-on-5-2"
    failed = tmp_path / "failed-5-2"
    flag.touch()
    # Appends "cursor event project" per event; fails (exit 3, noted in `failed`) on 5-2
    # while the flag file exists.
    script = ("import json, os, sys, pathlib; e = json.load(sys.stdin); c = os.environ['LEDGER_FEED_CURSOR']; "
              f"flag = pathlib.Path({str(flag)!r}); "
              f"(open({str(failed)!r}, 'a').write('x'), sys.exit(3)) if c == '5-2' and flag.exists() else None; "
              f"open({str(seen)!r}, 'a').write(c + ' ' + os.environ['LEDGER_FEED_EVENT'] + ' ' + e['cursor'] + '\\n')")
    command = shlex.join([sys.executable, "-c", script])

    def remove_flag_after_failures() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not failed.exists():  # 5-2 has failed at least once
            time.sleep(0.02)
        flag.unlink()

    helper = threading.Thread(target=remove_flag_after_failures)
    helper.start()
    try:
        result = follow("--rpc", fake.url, "--exec", command, "--state", str(state), "--max-events", "4", "--json")
    finally:
        helper.join()
    assert result.exit_code == 0, result.output
    assert seen.read_text().splitlines() == [
        "2-0 ContractRegistered 2-0", "2-1 ContractVoided 2-1", "3-0 ContractRegistered 3-0",
        "5-2 ContractRegistered 5-2"]
    statuses = [json.loads(text) for text in result.stdout.splitlines()]
    failures = [s for s in statuses if s["status"] == "command-failed"]
    assert failures and all(s["cursor"] == "5-2" and s["result"] == "exit 3" for s in failures)
    assert read_state(state) == Cursor(5, 2)
    # The next run starts after the saved cursor.
    result = follow("--rpc", fake.url, "--exec", command, "--state", str(state), "--idle-exit", "0.3")
    assert result.exit_code == 0, result.output
    assert seen.read_text().splitlines()[4:] == ["7-0 ContractRegistered 7-0"]
    assert read_state(state) == Cursor(7, 0)


def test_follow_refused_token_exits_2_at_once(fake: FakeFeed, tmp_path: Path) -> None:
    fake.status = 401
    result = follow("--rpc", fake.url, "--out", str(tmp_path / "f.jsonl"), token=None)
    assert result.exit_code == 2 and "the node refused the feed: refused with 401" in result.stderr
    assert "LEDGER_TOKEN" in result.stderr and len(fake.requests) == 1
    assert fake.requests[0]["authorization"] is None
    fake.status = 403
    result = follow("--rpc", fake.url, "--out", str(tmp_path / "f.jsonl"))
    assert result.exit_code == 2 and "refused with 403" in result.stderr


def test_follow_idle_exit_without_a_node_is_not_success(tmp_path: Path) -> None:
    from tests.integration.nodeproc import free_port

    result = follow("--rpc", f"http://127.0.0.1:{free_port()}", "--out", str(tmp_path / "f.jsonl"),
                    "--idle-exit", "1")
    assert result.exit_code == 1 and "unreachable" in result.stderr and "connection refused" in result.stderr
