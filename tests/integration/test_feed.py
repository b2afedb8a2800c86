"""`ledger feed follow` against a real permissioned node with `--auth required`: a
regulator's follower, killed with SIGKILL mid-run and restarted, and the node stopped and
restarted under it, still holds every contract event exactly once, in chain order — the
set GET /v1/events gives the regulator and eth_getLogs counts. Then --exec with its
state file, and the refusals (a PARTY token, no token) that exit 2 at once."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak, to_checksum_address

from chaincode import COMMITMENT_TRACKER, CONTRACT_REGISTRY
from client.ledger import Ledger
from tests.integration.nodeproc import _die_with_parent
from tests.integration.permissioned import Network, account_key, address_of, issue_tokens, start_network

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_SECONDS = 60.0
MEMBERS = [("center", "TRADING_CENTER"), ("regulator", "REGULATOR"), ("tenderer", "PARTY"), ("bidder", "PARTY")]
PARTIES = [address_of("tenderer"), address_of("bidder")]


@dataclass
class Desk:
    net: Network
    tokens: dict[str, str]  # role -> token from `ledger token issue`
    base: Path

    def ledger(self, name: str, role: str) -> Ledger:
        return Ledger(self.net.url, account_key(name), token=self.tokens[role])


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    base = tmp_path_factory.mktemp("feed")
    net = start_network(base / "net", MEMBERS, auth="required")
    try:
        tokens = issue_tokens(net.node.data_dir, {
            "REGULATOR": ["--role", "REGULATOR"], "TRADING_CENTER": ["--role", "TRADING_CENTER"],
            "ADMIN": ["--role", "ADMIN"], "PARTY": ["--role", "PARTY", "--address", address_of("tenderer")]})
        yield Desk(net, tokens, base)
    finally:
        net.node.stop()


# -- chain activity -----------------------------------------------------------------------


def register(desk: Desk, codes: list[str]) -> list[bytes]:
    """Register a contract per project code, all sent before any is waited for (one or
    two blocks rather than one each); their ids."""
    center = desk.ledger("center", "TRADING_CENTER")
    sent = [center.send(center.contracts.functions.register(
        code, keccak(text=code), 1, [to_checksum_address(p) for p in PARTIES], 1000, b"\x00" * 32)) for code in codes]
    return [center.wait(h).events["ContractRegistered"][0]["id"] for h in sent]


def void(desk: Desk, ids: list[bytes]) -> None:
    """The regulator voids Pending contracts (alone, at once)."""
    regulator = desk.ledger("regulator", "REGULATOR")
    sent = [regulator.send(regulator.contracts.functions.void(i, keccak(text="irregular tender"))) for i in ids]
    for h in sent:
        assert "ContractVoided" in regulator.wait(h).events


# -- reading what the node says ---------------------------------------------------------------


def get(url: str, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as response:
        return json.loads(response.read())


def regulator_events(desk: Desk) -> list[dict[str, Any]]:
    """Every event of the regulator's topics, from GET /v1/events page by page."""
    events: list[dict[str, Any]] = []
    since: str | None = None
    while True:
        query = {"role": "regulator", "limit": "50", **({"since": since} if since else {})}
        page = get(f"{desk.net.url}/v1/events?{urllib.parse.urlencode(query)}", desk.tokens["REGULATOR"])
        events += page["items"]
        if page["next"] in (None, since):
            return events
        since = page["next"]


def log_count(desk: Desk) -> int:
    """eth_getLogs of the contract registry and the commitment tracker (an ADMIN token)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [{
        "fromBlock": "0x0", "toBlock": "latest",
        "address": [to_checksum_address(CONTRACT_REGISTRY), to_checksum_address(COMMITMENT_TRACKER)]}]}).encode()
    request = urllib.request.Request(desk.net.url, data=body, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {desk.tokens['ADMIN']}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return len(json.loads(response.read())["result"])


# -- the follower process -----------------------------------------------------------------------


class Follower:
    """`ledger feed follow` as a process of its own (stdout and stderr to files)."""

    def __init__(self, desk: Desk, name: str, *args: str, token: str | None) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
        if token is not None:
            env["LEDGER_TOKEN"] = token
        self.out_path, self.err_path = desk.base / f"{name}.out", desk.base / f"{name}.err"
        with open(self.out_path, "ab") as out, open(self.err_path, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "client.cli", "feed", "follow", "--rpc", desk.net.url, *args],
                stdout=out, stderr=err, cwd=ROOT, env=env, preexec_fn=_die_with_parent)

    @property
    def stderr(self) -> str:
        return self.err_path.read_text()

    def wait(self, timeout: float = DEADLINE_SECONDS) -> int:
        return self.proc.wait(timeout)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(DEADLINE_SECONDS)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


def wait_for(what: str, condition: Callable[[], bool], follower: Follower | None = None) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if follower is not None and follower.proc.poll() is not None:
            raise AssertionError(f"the follower exited with {follower.proc.returncode} before {what}: {follower.stderr}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {DEADLINE_SECONDS:.0f} s" +
                                 (f"; follower: {follower.stderr}" if follower else ""))
        time.sleep(0.05)


def cursors(path: Path) -> list[str]:
    """The cursors of the file's complete lines."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    return [json.loads(line)["cursor"] for line in text.split("\n")[:-1]]


def chain_order(cursor: str) -> tuple[int, int]:
    height, log_index = cursor.split("-")
    return int(height), int(log_index)


# -- the tests ------------------------------------------------------------------------------------


def test_follower_misses_nothing_and_repeats_nothing_across_its_crash_and_a_node_restart(desk: Desk) -> None:
    out = desk.base / "regulator.jsonl"
    first = register(desk, [f"P-A-{i}" for i in range(12)])
    void(desk, first[:3])

    # 1. A follower catches up, and is killed (kill -9) once it has written some lines; a
    #    torn last line is what a crash in the middle of a write leaves.
    follower = Follower(desk, "follow-1", "--role", "regulator", "--out", str(out), token=desk.tokens["REGULATOR"])
    try:
        wait_for("3 lines in the feed file", lambda: len(cursors(out)) >= 3, follower)
    finally:
        follower.stop(signal.SIGKILL)
    written = cursors(out)
    with out.open("a", encoding="utf-8") as handle:
        handle.write('{"cursor":"')

    # 2. While no follower runs: more registrations and voids.
    second = register(desk, [f"P-B-{i}" for i in range(5)])
    void(desk, [first[5], second[0], second[4]])

    # 3. The follower restarts (a --since it must ignore: the file is the cursor), catches up,
    #    and keeps following while the node is stopped and started on the same data directory.
    follower = Follower(desk, "follow-2", "--role", "regulator", "--out", str(out), "--since", "1-0",
                        token=desk.tokens["REGULATOR"])
    try:
        expected_so_far = len(regulator_events(desk))
        wait_for("the events made while the follower was down", lambda: len(cursors(out)) >= expected_so_far, follower)
        desk.net.node.stop()
        desk.net.node.start()
        third = register(desk, ["P-C-0", "P-C-1"])
        void(desk, [third[1]])
        expected = regulator_events(desk)
        wait_for("every event in the feed file", lambda: len(cursors(out)) >= len(expected), follower)
        assert follower.stop(signal.SIGTERM) == 0, follower.stderr  # a clean stop
    finally:
        follower.stop(signal.SIGKILL)

    # 4. Exactly once, in chain order, and exactly the regulator's events.
    got = cursors(out)
    assert got[:len(written)] == written
    assert len(got) == len(set(got)), "an event was written twice"
    assert got == sorted(got, key=chain_order)
    assert got == [e["cursor"] for e in expected]
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert lines == expected  # every field as the node serves it
    names = [e["event"] for e in lines]
    assert (names.count("ContractRegistered"), names.count("ContractVoided")) == (19, 7)
    assert {e["topic"] for e in lines} == {"contracts"}
    assert len(lines) == log_count(desk)  # an independent count: the registry's logs
    log = follower.stderr
    assert "ends at cursor" in log and "(--since 1-0 applies only when it holds no cursor)" in log
    assert "cut an incomplete last line (11 bytes)" in log
    assert "disconnected" in log and "reconnecting" in log  # the node restart
    assert log.rstrip().endswith(f"cursor {got[-1]}") and "stopped (signal)" in log


def test_exec_delivers_each_event_and_resumes_from_its_state_file(desk: Desk) -> None:
    seen, state = desk.base / "exec-seen.txt", desk.base / "exec.state"
    script = desk.base / "record.py"
    script.write_text(
        "import json, os, sys\n"
        "event = json.load(sys.stdin)\n"
        "assert event['cursor'] == os.environ['LEDGER_FEED_CURSOR']\n"
        f"with open({str(seen)!r}, 'a') as f:\n"
        "    f.write(os.environ['LEDGER_FEED_CURSOR'] + ' ' + os.environ['LEDGER_FEED_EVENT'] + '\\n')\n")
    command = f"{sys.executable} {script}"
    # At least the three events --max-events stops at, whichever of this module's tests ran before.
    register(desk, ["P-X-0", "P-X-0a", "P-X-0b"])
    expected = [f"{e['cursor']} {e['event']}" for e in regulator_events(desk)]

    def recorded() -> list[str]:
        return seen.read_text().splitlines() if seen.exists() else []

    # Three events, then --max-events stops it; the state file holds the third's cursor.
    follower = Follower(desk, "exec-1", "--role", "regulator", "--exec", command, "--state", str(state),
                        "--max-events", "3", "--json", token=desk.tokens["REGULATOR"])
    try:
        assert follower.wait() == 0, follower.stderr
    finally:
        follower.stop(signal.SIGKILL)
    assert recorded() == expected[:3]
    assert json.loads(state.read_text()) == {"cursor": expected[2].split()[0]}
    statuses = [json.loads(line) for line in follower.out_path.read_text().splitlines()]
    assert statuses[-1] == {"status": "stopped", "reason": "max-events", "events": 3, "cursor": expected[2].split()[0]}

    # The next run starts after it, follows a new event live, and stops cleanly on SIGTERM.
    follower = Follower(desk, "exec-2", "--role", "regulator", "--exec", command, "--state", str(state),
                        token=desk.tokens["REGULATOR"])
    try:
        wait_for("the rest of the events", lambda: len(recorded()) >= len(expected), follower)
        register(desk, ["P-X-1"])
        expected = [f"{e['cursor']} {e['event']}" for e in regulator_events(desk)]
        wait_for("the live event", lambda: len(recorded()) >= len(expected), follower)
        assert follower.stop(signal.SIGTERM) == 0, follower.stderr
    finally:
        follower.stop(signal.SIGKILL)
    assert recorded() == expected
    assert json.loads(state.read_text()) == {"cursor": expected[-1].split()[0]}


def test_a_party_token_or_none_is_refused_at_once(desk: Desk) -> None:
    out = desk.base / "refused.jsonl"
    cases = [
        (desk.tokens["PARTY"], "role PARTY may not"),  # a party may not follow commitments
        (None, "requires a bearer token"),
        ("not-a-token", "the node refused the feed"),
    ]
    for token, reason in cases:
        follower = Follower(desk, "refused", "--role", "regulator", "--out", str(out), token=token)
        try:
            code = follower.wait()
        finally:
            follower.stop(signal.SIGKILL)
        errors = [line for line in follower.stderr.splitlines() if line.startswith("error: ")]
        assert code == 2 and len(errors) == 1 and reason in errors[0], follower.stderr
        assert "reconnecting" not in follower.stderr
        follower.err_path.unlink()
    assert cursors(out) == []
