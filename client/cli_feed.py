"""`ledger feed follow`: the node's durable event feed into a JSON-lines file (exactly once) or a command per event (at least once), resuming after the last event handled across disconnects, node restarts and the follower's own crashes.

Exit codes: 0 stopped (SIGINT/SIGTERM, --max-events, --idle-exit after catching up), 1
--idle-exit while the node was unreachable (not caught up) or a stream that is not the
node's feed, 2 bad usage or a refused request (no token, a role that may not follow
those topics, a bad cursor).
"""
from __future__ import annotations

import json
import shlex
import shutil
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from client.auth import NEEDS_TOKEN, TokenError, current_token
from client.cli_options import DEFAULT_RPC, RpcOption
from client.errors import ClientError
from client.feed import (
    Backoff,
    Cursor,
    CursorFileError,
    EventLog,
    FeedEvent,
    FeedProtocolError,
    FeedRefused,
    Follower,
    StateLock,
    feed_url,
    read_state,
    run_command,
    write_state,
)
from client.render import EXIT_REFUSED, EXIT_USAGE, fail
from node.api import FEED_TOPICS

feed_app = typer.Typer(no_args_is_help=True, help="The node's event feed: follow it into a file or a command.")


class StopRequested(ClientError):
    """SIGINT or SIGTERM while no event is in hand (or a second one while one is)."""


class Stopper:
    """The first SIGINT/SIGTERM while an event is being handled lets it finish (the
    follower stops before taking the next); at any other moment, or a second signal,
    stops at once — nothing is in hand then, so nothing is lost or half-recorded that the
    next run does not repair."""

    def __init__(self) -> None:
        self.busy = False
        self.requested = False
        self.armed = False
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        self.armed = True

    def restore(self) -> None:
        self.armed = False
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if (self.busy or not self.armed) and not self.requested:
            self.requested = True
            return
        self.requested = True
        if self.armed:
            raise StopRequested()


class Reporter:
    """Status for people (stderr) or machines (--json: one JSON object per line, stdout)."""

    def __init__(self, json_output: bool) -> None:
        self.json_output = json_output

    def __call__(self, kind: str, details: dict[str, Any]) -> None:
        if self.json_output:
            sys.stdout.write(json.dumps({"status": kind, **details}, separators=(",", ":")) + "\n")
            sys.stdout.flush()
            return
        text = _HUMAN.get(kind)
        if text is not None:
            sys.stderr.write(text(details) + "\n")
            sys.stderr.flush()


def _from(position: Any) -> str:
    return "from the first event" if position is None else f"after cursor {position}"


_HUMAN = {
    "following": lambda d: f"following {d['selection']} at {d['rpc']} {_from(d['since'])} into {d['into']}",
    "notice": lambda d: f"note: {d['message']}",
    "connected": lambda d: f"connected, {_from(d['since'])}",
    "disconnected": lambda d: f"disconnected ({d['reason']}); reconnecting in {d['retryIn']:.1f} s",
    "skipped": lambda d: f"skipped a repeat of {d['cursor']} (handled already)",
    "command-failed": lambda d: (f"command failed on {d['cursor']} ({d['result']}); "
                                 f"retrying in {d['retryIn']:.1f} s (events are never skipped)"),
    "stopped": lambda d: (f"stopped ({d['reason']}) after {d['events']} event(s); "
                          f"cursor {d['cursor'] or 'none yet'}"),
}


@feed_app.command("follow")
def feed_follow(
    role: Annotated[str | None, typer.Option(
        "--role", help="follow the topics this role reads (regulator: contracts, commitments)")] = None,
    topics: Annotated[str | None, typer.Option(
        "--topics", help="comma-separated: identity, contracts, commitments, evidence")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", help="start after this cursor (HEIGHT-LOGINDEX); only when the --out/--state file holds none")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="append each event as a JSON line (fsynced); the file is its own cursor")] = None,
    exec_command: Annotated[str | None, typer.Option(
        "--exec", help="run this command per event (no shell): event JSON on stdin, "
        "$LEDGER_FEED_CURSOR and $LEDGER_FEED_EVENT set; retried until it exits 0")] = None,
    state: Annotated[Path | None, typer.Option(
        "--state", help="with --exec: the file that keeps the cursor of the last event the command accepted")] = None,
    rpc: RpcOption = DEFAULT_RPC,
    max_events: Annotated[int | None, typer.Option(
        "--max-events", min=1, help="stop after handling this many events")] = None,
    idle_exit: Annotated[float | None, typer.Option(
        "--idle-exit", min=0.1, help="stop once this many seconds pass without a new event (catch up, then stop)")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="status as JSON lines on stdout")] = False,
) -> None:
    """Follow the node's event feed (GET /v1/feed, Server-Sent Events) from a durable cursor.

    With --out FILE.jsonl every event is appended exactly once, in chain order, across
    restarts of the node and of this command. With --exec CMD each event is delivered at
    least once: a crash between the command's success and the --state save re-delivers
    that one event, which the command can recognise by $LEDGER_FEED_CURSOR.
    """
    # 1. Usage, before anything is opened.
    if role is not None and topics is not None:
        fail("give --role or --topics, not both")
    topic_list: list[str] | None = None
    if topics is not None:
        topic_list = [t.strip() for t in topics.split(",") if t.strip()]
        unknown = [t for t in topic_list if t not in FEED_TOPICS]
        if unknown or not topic_list:
            fail(f"--topics {topics!r}: a comma-separated subset of {', '.join(FEED_TOPICS)}")
    if (out is None) == (exec_command is None):
        fail("give --out FILE.jsonl or --exec CMD (one of them)")
    if exec_command is not None and state is None:
        fail("--exec needs --state FILE: the cursor of the last event the command accepted")
    if out is not None and state is not None:
        fail("--state goes with --exec; with --out the file is its own cursor")
    argv: list[str] = []
    if exec_command is not None:
        try:
            argv = shlex.split(exec_command)
        except ValueError as exc:
            fail(f"--exec {exec_command!r}: {exc}")
        if not argv:
            fail("--exec: an empty command")
        if shutil.which(argv[0]) is None:
            fail(f"--exec: {argv[0]!r}: no such command")
    start: Cursor | None = None
    if since is not None:
        try:
            start = Cursor.parse(since)
        except ValueError as exc:
            fail(f"--since: {exc}")
    try:
        feed_url(rpc, topics=topic_list, role=role, since=None)
    except ValueError as exc:
        fail(str(exc))
    try:
        token = current_token()
    except TokenError as exc:
        fail(str(exc))

    report = Reporter(json_output)
    log: EventLog | None = None
    lock: StateLock | None = None
    # 2. The durable cursor: the --out file's last line, else the --state file, else --since.
    try:
        if out is not None:
            log = EventLog(out)
            recovered = log.open()
            if recovered.truncated:
                report("notice", {"message": f"{out}: cut an incomplete last line ({recovered.truncated} bytes) "
                                             "left by an interrupted run"})
            stored, where = recovered.cursor, str(out)
        else:
            assert state is not None
            lock = StateLock(state)
            lock.acquire()
            stored, where = read_state(state), str(state)
    except CursorFileError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{out or state}: {exc.strerror or exc}")
    if stored is not None:
        if start is not None and start != stored:
            report("notice", {"message": f"{where} ends at cursor {stored}; resuming after it "
                                         f"(--since {start} applies only when it holds no cursor)"})
        start = stored

    selection = f"role {role}" if role else f"topics {','.join(topic_list)}" if topic_list else "every topic the token reads"
    report("following", {"rpc": rpc, "selection": selection, "since": None if start is None else str(start),
                         "into": str(out) if out is not None else f"`{exec_command}` (state {state})"})
    try:
        code = _follow(rpc, token, topic_list, role, start, log, argv, state, max_events, idle_exit, report)
    finally:
        if log is not None:
            log.close()
        if lock is not None:
            lock.release()
    raise typer.Exit(code)


def _follow(
    rpc: str, token: str | None, topics: list[str] | None, role: str | None, start: Cursor | None,
    log: EventLog | None, argv: list[str], state: Path | None, max_events: int | None, idle_exit: float | None,
    report: Reporter,
) -> int:
    stopper = Stopper()
    stopper.install()
    follower = Follower(rpc, token=token, topics=topics, role=role, since=start, idle_exit=idle_exit, on_status=report)
    events = follower.events()
    handled = 0
    last = start  # the cursor of the last event handled
    reason = "signal"
    try:
        for event in events:
            stopper.busy = True
            if log is not None:
                log.append(event.document)
            elif not _deliver(argv, event, state, stopper, report, Backoff()):
                break  # stopped while the command was failing: the event was not accepted
            stopper.busy = False
            handled += 1
            last = event.cursor
            if stopper.requested:
                break
            if max_events is not None and handled >= max_events:
                reason = "max-events"
                break
        else:
            reason = follower.stop_reason or "end"
    except StopRequested:
        reason = "signal"
    except FeedRefused as exc:
        hint = ""
        if exc.status == 401:
            hint = f" ({NEEDS_TOKEN})"
        fail(f"the node refused the feed: {exc.message}{hint}", EXIT_USAGE)
    except FeedProtocolError as exc:
        fail(f"{rpc}: {exc}", EXIT_REFUSED)
    except OSError as exc:  # the --out or --state file cannot be written (a full disk)
        where = log.path if log is not None else state
        fail(f"{where}: {exc.strerror or exc}; the event at hand was not recorded and comes again next run")
    finally:
        stopper.restore()
        events.close()  # closes the connection
    report("stopped", {"reason": reason, "events": handled, "cursor": None if last is None else str(last)})
    if reason == "idle" and not follower.connected:
        typer.echo(f"error: --idle-exit: the node at {rpc} was unreachable ({follower.last_error}); "
                   f"not caught up", err=True)
        return EXIT_REFUSED
    return 0


def _deliver(argv: list[str], event: FeedEvent, state: Path | None, stopper: Stopper, report: Reporter,
             backoff: Backoff) -> bool:
    """Run the command on `event` until it exits 0, then save the cursor; False if a stop
    was requested while it kept failing (the event stays unaccepted)."""
    assert state is not None
    while True:
        try:
            # Its output goes to our stderr (fd 2): stdout carries the --json status lines.
            code = run_command(argv, event, stdout=2)
            result = f"exit {code}"
        except OSError as exc:
            code, result = -1, f"cannot run it: {exc.strerror or exc}"
        if code == 0:
            write_state(state, event.cursor)
            return True
        # Between attempts nothing is in hand: a signal may stop us at once.
        stopper.busy = False
        if stopper.requested:
            return False
        delay = backoff.next()
        report("command-failed", {"cursor": str(event.cursor), "event": event.name, "result": result,
                                  "retryIn": round(delay, 2)})
        time.sleep(delay)
        stopper.busy = True
