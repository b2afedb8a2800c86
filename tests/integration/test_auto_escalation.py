"""Alerts that raise themselves, on a real --dev node: a commitment's reminder, warning and
demand appear in the feed as the chain's clock (`evm_increaseTime`) passes each stage, with
no `ledger commitment escalate` run — once per stage, raised by the validator, none again
after restarts; a node started with --no-auto-escalate raises none. And `ledger commitment
policy show|set`.
"""
from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaincode import ROLE_BITS
from client.ledger import Ledger
from tests.integration.cli_runs import Cli, together
from tests.integration.nodeproc import NodeProcess, free_port, rpc
from tests.integration.test_cli_chaincode import write_keys

pytestmark = pytest.mark.slow

DAY = 86400
LEVELS = {1: "reminder", 2: "warning", 3: "demand"}
WAIT_SECONDS = 30


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    process = NodeProcess(tmp_path_factory.mktemp("autoescalate") / "data", free_port()).start()
    try:
        yield process
    finally:
        process.stop()


def head(url: str) -> dict[str, Any]:
    return rpc(url, "eth_getBlockByNumber", "latest", False)


def commitment_events(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/v1/events?topics=commitments&limit=1000", timeout=10) as response:
        return json.loads(response.read())["items"]


def alerts(url: str) -> list[tuple[int, str]]:
    return [(e["args"]["id"], LEVELS[e["args"]["level"]]) for e in commitment_events(url)
            if e["event"] == "CommitmentAlert"]


def wait_until(what: str, condition: Any) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {WAIT_SECONDS} s")


def move_clock_to(node: NodeProcess, moment: int) -> None:
    """The node's clock past `moment` and past its head's time by more than the empty-block
    period (60 s), so that an empty block at or after `moment` is due at once; wait for it."""
    height = int(head(node.url)["number"], 16)
    now = int(time.time()) + int(rpc(node.url, "evm_increaseTime", 0), 16)
    rpc(node.url, "evm_increaseTime", max(moment - now, 0) + 61)
    wait_until(f"a block at {moment}", lambda: int((block := head(node.url))["number"], 16) > height
               and int(block["timestamp"], 16) >= moment)


def restart(node: NodeProcess, *options: str) -> None:
    """Stop and start the node. A restarted --dev node keeps the time evm_increaseTime gave
    its chain (node/service.py): its clock starts at least at its head's time, so its next
    block does not wait for the wall clock to catch up."""
    node.stop()
    node.extra_args = options
    node.start()
    offset = int(rpc(node.url, "evm_increaseTime", 0), 16)
    # A few seconds of slack: the offset is whole seconds, and the first block after the start
    # is a second after its parent. Without the fix the clock was behind by the whole offset.
    assert int(time.time()) + offset + 5 >= int(head(node.url)["timestamp"], 16), "the restarted node's clock is behind its chain"


def test_alerts_raise_themselves_once_per_stage(node: NodeProcess) -> None:
    ledger = Ledger(node.url, bytes.fromhex(node.dev_key[2:]))
    validator = head(node.url)["miner"]
    window, delay = ledger.call(ledger.commitments.functions.policy())
    # The dev validator is a member (genesis makes it one), so it may be a party too.
    member = ledger.member(validator)
    assert (member["roles"], member["active"]) == (ROLE_BITS["AUDITOR"], True)
    deadline = int(head(node.url)["timestamp"], 16) + 10 * DAY
    added = ledger.add_commitment(b"AGR-1".ljust(32, b"\x00"), "4.2 land delivery", 1, "Land Bureau",
                                  validator, ledger.address, deadline)
    (commitment,) = [e["id"] for e in added.events["CommitmentAdded"]]
    assert alerts(node.url) == []

    # Each stage's first second of block time: its alert appears by itself, once.
    for moment, expected in ((deadline - window, [(commitment, "reminder")]),
                             (deadline + 1, [(commitment, "reminder"), (commitment, "warning")]),
                             (deadline + delay + 1, [(commitment, "reminder"), (commitment, "warning"),
                                                     (commitment, "demand")])):
        move_clock_to(node, moment)
        assert wait_until(f"alert {expected[-1]}", lambda: alerts(node.url) == expected)
    events = [e for e in commitment_events(node.url) if e["event"] == "CommitmentAlert"]
    assert len({e["block"] for e in events}) == 3
    for event in events:  # raised by the validator's own transactions, no command run
        tx = rpc(node.url, "eth_getTransactionByHash", event["transactionHash"])
        assert tx["from"].lower() == validator.lower()
    assert [e["args"]["escalatedToSupervision"] for e in events] == [False, False, True]

    # Restarted with auto-escalation off: a second commitment's stages pass unraised.
    restart(node, "--no-auto-escalate")
    second_deadline = int(head(node.url)["timestamp"], 16) + 10 * DAY
    ledger = Ledger(node.url, bytes.fromhex(node.dev_key[2:]))
    added = ledger.add_commitment(b"AGR-2".ljust(32, b"\x00"), "7.1 plant", 2, "Acme", ledger.address, validator,
                                  second_deadline)
    (second,) = [e["id"] for e in added.events["CommitmentAdded"]]
    move_clock_to(node, second_deadline + 1)
    move_clock_to(node, second_deadline + 2)  # one more block
    assert len(alerts(node.url)) == 3

    # Restarted with it on (the default): the second's warning is raised, the first's not again.
    restart(node)
    move_clock_to(node, second_deadline + 3)
    assert wait_until("the second commitment's warning", lambda: alerts(node.url)[3:] == [(second, "warning")])
    move_clock_to(node, second_deadline + 4)
    assert len(alerts(node.url)) == 4


def test_policy_show_and_set(node: NodeProcess, tmp_path: Path) -> None:
    cli = Cli(node.url, write_keys(tmp_path / "keys", ["stranger"]))
    (tmp_path / "keys" / "dev.key").write_text(node.dev_key + "\n")
    cli.keys["dev"] = tmp_path / "keys" / "dev.key"
    shown, human = together(cli.start("commitment", "policy", "show", "--json"),
                            cli.start("commitment", "policy", "show"))
    assert (shown.json()["reminderWindow"], shown.json()["demandDelay"]) == (7 * DAY, 30 * DAY)
    assert "reminder window 7d (604800 s)" in human.ok().out and "demand delay 30d (2592000 s)" in human.out

    # Seconds, or durations; one of the two alone keeps the other.
    changed = cli.run("commitment", "policy", "set", "--reminder-window", "259200", "--demand-delay", "12h",
                      "--json", key="dev").json()
    assert (changed["reminderWindow"], changed["demandDelay"], changed["by"]) == (3 * DAY, 12 * 3600, node.dev_address)
    assert changed["block"] > 0 and changed["tx"].startswith("0x")
    assert "demand delay 10d (864000 s)" in cli.run("commitment", "policy", "set", "--demand-delay", "10d",
                                                    key="dev").ok().out
    shown = cli.run("commitment", "policy", "show", "--json").json()
    assert (shown["reminderWindow"], shown["demandDelay"]) == (3 * DAY, 10 * DAY)

    # Only an admin; bad input is refused before anything is sent.
    refused, *bad = together(
        cli.start("commitment", "policy", "set", "--reminder-window", "1d", key="stranger"),
        *(cli.start("commitment", "policy", "set", "--reminder-window", value, key="dev")
          for value in ("0", "7x", "-1d", "")),
        cli.start("commitment", "policy", "set", key="dev"),
        cli.start("commitment", "policy", "set", "--demand-delay", "1d"),
    )
    refused.refused("only an admin may set the policy")
    for run in bad[:4]:
        run.usage("--reminder-window")
    bad[4].usage("give --reminder-window or --demand-delay")
    bad[5].usage("--key")

    cli.run("commitment", "policy", "set", "--reminder-window", "7d", "--demand-delay", "30d", key="dev").ok()
    shown = cli.run("commitment", "policy", "show", "--json").json()
    assert (shown["reminderWindow"], shown["demandDelay"]) == (7 * DAY, 30 * DAY)
    assert shown["block"] >= changed["block"]
