"""`ledger commitment`: the commitments of investment agreements — add, fulfil, confirm,
escalate, show, list, report — their alerts, and the escalation policy (`policy show|set`),
over the SDK in `client.ledger`.

Reads are pinned to the latest block when the command starts and say which block;
writes print the transaction and block that made them final. eth_utils is imported in
the one function that needs it, to keep `ledger` start-up fast.
"""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, time as dtime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from chaincode import COMMITMENT_SIDES, COMMITMENT_STATUS, SIDE_NAMES
from client.cli_options import (
    DEFAULT_RPC,
    JsonOption,
    KeyOption,
    RpcOption,
    file_digest,
    latest_head,
    on_chain,
    parse_address,
    parse_digest,
    reader,
    tx_document,
    tx_fields,
    writer,
)
from client.render import emit_json, fail, fields, line, table, timestamp

if TYPE_CHECKING:
    from client.ledger import Ledger

commitment_app = typer.Typer(no_args_is_help=True, help="Agreement commitments: add, fulfil, confirm, escalate, list, report, policy.")
policy_app = typer.Typer(no_args_is_help=True, help="The escalation policy: when reminders and demands are due.")
commitment_app.add_typer(policy_app, name="policy")

ZERO32 = b"\x00" * 32
# Commitment statuses as the CLI and its JSON name them (COMMITMENT_STATUS order).
STATUS_KEYS = ["on-track", "reminder", "warning", "demand", "fulfilled"]
DEMAND = 3
ALERT_LEVELS = (1, 2, 3)        # reminder, warning, demand: a commitment that needs attention
# Duration units `policy set` reads ("30d", "12h", "90m", "45s"; plain digits are seconds).
DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
# The tracker takes uint256 seconds; beyond ~31.7 million years a window is a typo.
MAX_DURATION_SECONDS = 10**15


class Side(str, Enum):
    government = "government"
    enterprise = "enterprise"


CommitmentStatus = Enum("CommitmentStatus", [(k.replace("-", "_"), k) for k in STATUS_KEYS], type=str)  # type: ignore[misc]


def parse_agreement(text: str) -> bytes:
    """An agreement reference: a 0x 32-byte hex digest, or text of up to 32 bytes stored
    as-is (zero-padded, like Solidity's bytes32("...")) so it reads back."""
    if re.fullmatch(r"0x[0-9a-fA-F]{64}", text):
        return bytes.fromhex(text[2:])
    raw = text.encode()
    if not raw or len(raw) > 32 or b"\x00" in raw:
        fail(f"--agreement {text!r}: up to 32 bytes of text, or a 0x 32-byte hex digest")
    return raw.ljust(32, b"\x00")


def agreement_text(raw: bytes) -> str | None:
    """The text of an agreement reference stored by parse_agreement, if it is one."""
    body = raw.rstrip(b"\x00")
    if not body or b"\x00" in body:
        return None
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return None
    return text if text.isprintable() else None


def parse_deadline(text: str, ledger: Ledger) -> int:
    """Unix seconds; YYYY-MM-DD (the end of that day, UTC); an ISO-8601 date-time (UTC
    unless it says otherwise); or +Nd / +Nh from the latest block's time."""
    if text.isdigit():
        return int(text)
    relative = re.fullmatch(r"\+(\d+)([dh])", text)
    if relative:
        amount = int(relative.group(1)) * (86400 if relative.group(2) == "d" else 3600)
        return latest_head(ledger).timestamp + amount
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return int(datetime.combine(date.fromisoformat(text), dtime(23, 59, 59), UTC).timestamp())
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None:
        fail(f"--deadline {text!r}: YYYY-MM-DD, an ISO-8601 date-time, unix seconds or +Nd")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def check_deadline_syntax(text: str) -> None:
    if text.isdigit() or re.fullmatch(r"\+(\d+)([dh])", text):
        return
    try:
        datetime.fromisoformat(text)
    except ValueError:
        fail(f"--deadline {text!r}: YYYY-MM-DD, an ISO-8601 date-time, unix seconds or +Nd")


def commitment_document(c: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": c["id"], "agreement": c["agreement"], "agreementText": agreement_text(c["agreement"]),
        "clause": c["clause"], "side": SIDE_NAMES.get(c["side"], str(c["side"])), "unit": c["responsible_unit"],
        "obligor": c["obligor"], "counterparty": c["counterparty"], "deadline": c["deadline"],
        "descriptionDigest": None if c["description_digest"] == ZERO32 else c["description_digest"], "createdBy": c["created_by"], "createdAt": c["created_at"],
        "reportedAt": c["reported_at"], "evidenceDigest": None if c["evidence_digest"] == ZERO32 else c["evidence_digest"],
        "fulfilledAt": c["fulfilled_at"], "confirmedBy": None if c["fulfilled_at"] == 0 else c["confirmed_by"],
        "escalation": STATUS_KEYS[c["escalation"]], "status": STATUS_KEYS[c["status"]],
    }


def agreement_cell(d: dict[str, Any]) -> Any:
    return d["agreementText"] if d["agreementText"] is not None else d["agreement"]


def status_name(key: str) -> str:
    """The human name ("on track") of a status key ("on-track")."""
    return COMMITMENT_STATUS[STATUS_KEYS.index(key)]


def counts_document(counts: list[int]) -> dict[str, int]:
    return dict(zip(STATUS_KEYS, counts))


@commitment_app.command("add")
def commitment_add(
    agreement: Annotated[str, typer.Option(help="agreement reference: text (up to 32 bytes) or a 0x 32-byte digest")],
    clause: Annotated[str, typer.Option(help="the clause (up to 64 characters)")],
    side: Annotated[Side, typer.Option(help="the side that owes the commitment")],
    unit: Annotated[str, typer.Option(help="the responsible unit (up to 64 characters)")],
    obligor: Annotated[str, typer.Option(help="address that must fulfil it")],
    counterparty: Annotated[str, typer.Option(help="address that confirms fulfilment")],
    deadline: Annotated[str, typer.Option(help="YYYY-MM-DD (end of day, UTC), ISO date-time, unix seconds, or +Nd")],
    description: Annotated[Path | None, typer.Option(help="description file: its SHA-256 goes on chain")] = None,
    key: KeyOption = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Add one commitment of an agreement (a trading center or an admin). Prints its id."""
    agreement_raw = parse_agreement(agreement)
    who, whom = parse_address(obligor, "--obligor"), parse_address(counterparty, "--counterparty")
    check_deadline_syntax(deadline)
    description_digest = file_digest(description, "--description") if description is not None else ZERO32
    ledger = writer(rpc, key)
    with on_chain(rpc):
        due = parse_deadline(deadline, ledger)
        result = ledger.add_commitment(agreement_raw, clause, COMMITMENT_SIDES[side.value], unit, who, whom, due,
                                       description_digest)
    event = result.events["CommitmentAdded"][0]
    if json_output:
        emit_json({"id": event["id"], "agreement": agreement_raw, "unit": unit, "deadline": due, **tx_document(result)})
        return
    fields(f"commitment {event['id']} added", [
        ("id", event["id"]), ("unit", unit), ("clause", clause), ("deadline", timestamp(due)), *tx_fields(result),
    ])


@commitment_app.command("fulfil")
def commitment_fulfil(
    commitment_id: Annotated[int, typer.Argument(min=1, help="commitment id")],
    evidence: Annotated[Path | None, typer.Option(help="evidence file: its SHA-256 goes on chain")] = None,
    evidence_digest: Annotated[str | None, typer.Option(help="the evidence's digest (hex) instead of --evidence")] = None,
    key: KeyOption = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Report a commitment fulfilled (its obligor), with the digest of the evidence."""
    if (evidence is None) == (evidence_digest is None):
        fail("give --evidence FILE or --evidence-digest HEX")
    digest = file_digest(evidence, "--evidence") if evidence is not None else parse_digest(evidence_digest or "", "--evidence-digest")
    ledger = writer(rpc, key)
    with on_chain(rpc):
        result = ledger.fulfil_commitment(commitment_id, digest)
    event = result.events["FulfilmentReported"][0]
    if json_output:
        emit_json({"id": commitment_id, "evidenceDigest": digest, "onTime": event["on_time"], **tx_document(result)})
        return
    fields(f"fulfilment of commitment {commitment_id} reported {'on time' if event['on_time'] else 'late'}; "
           "waiting for the counterparty's confirmation",
           [("evidence", digest), *tx_fields(result)])


@commitment_app.command("confirm")
def commitment_confirm(
    commitment_id: Annotated[int, typer.Argument(min=1, help="commitment id")],
    key: KeyOption = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Confirm a reported fulfilment (the counterparty, or a regulator as supervisor)."""
    ledger = writer(rpc, key)
    with on_chain(rpc):
        result = ledger.confirm_commitment(commitment_id)
    event = result.events["FulfilmentConfirmed"][0]
    if json_output:
        emit_json({"id": commitment_id, "confirmedBy": event["by"], "bySupervisor": event["by_supervisor"],
                   **tx_document(result)})
        return
    by = "a regulator (supervisor)" if event["by_supervisor"] else "the counterparty"
    fields(f"commitment {commitment_id} fulfilled: confirmed by {by}", [("by", event["by"]), *tx_fields(result)])


@commitment_app.command("escalate")
def commitment_escalate(
    commitment_id: Annotated[list[int] | None, typer.Option("--id", min=1, help="only these commitments (repeatable)")] = None,
    key: KeyOption = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Raise the alerts that are due (reminder, warning, demand) as events.

    Validators raise them on their own in the blocks they propose (unless started with
    --no-auto-escalate); this is for networks where they do not. Each level is raised once
    per commitment; any member may call. A demand is escalated to supervision."""
    ledger = writer(rpc, key)
    alerts: list[dict[str, Any]] = []
    txs: list[dict[str, Any]] = []
    with on_chain(rpc):
        ids = list(commitment_id or range(1, ledger.commitment_count() + 1))
        for result in ledger.escalate_commitments(ids):
            txs.append({"tx": result.tx_hash, "block": result.block_number})
            alerts.extend(result.events.get("CommitmentAlert", []))
    rows = [{"id": a["id"], "unit": a["responsible_unit"], "clause": a["clause"], "level": STATUS_KEYS[a["level"]],
             "deadline": a["deadline"], "supervision": a["escalated_to_supervision"], "agreement": a["agreement"]}
            for a in alerts]
    if json_output:
        emit_json({"raised": len(rows), "alerts": rows, "transactions": txs})
        return
    if not ids:
        line("no commitments")
        return
    table(f"{len(rows)} alert(s) raised over {len(ids)} commitment(s)",
          ["id", "unit", "clause", "level", "deadline", "supervision"],
          [(r["id"], r["unit"], r["clause"], status_name(r["level"]), timestamp(r["deadline"]), r["supervision"]) for r in rows],
          numeric=["id"])


def unit_ids(ledger: Ledger, unit: str) -> list[int]:
    from eth_utils import keccak

    unit_hash = keccak(text=unit)
    count = int(ledger.call(ledger.commitments.functions.unit_count(unit_hash)))
    return [int(ledger.call(ledger.commitments.functions.unit_commitment(unit_hash, i))) for i in range(count)]


@commitment_app.command("show")
def commitment_show(
    commitment_id: Annotated[int, typer.Argument(min=1, help="commitment id")],
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """One commitment and its status at the latest block."""
    with on_chain(rpc):
        ledger, head = reader(rpc)
        d = commitment_document(ledger.commitment(commitment_id))
    if json_output:
        emit_json({**d, "block": head.number, "time": head.timestamp})
        return
    fields(f"commitment {d['id']}: {status_name(d['status'])} (block {head.number}, "
           f"{timestamp(head.timestamp)})", [
        ("agreement", agreement_cell(d)), ("clause", d["clause"]), ("side", d["side"]), ("unit", d["unit"]),
        ("obligor", d["obligor"]), ("counterparty", d["counterparty"]), ("deadline", timestamp(d["deadline"])),
        ("description", d["descriptionDigest"]), ("reported", timestamp(d["reportedAt"])),
        ("evidence", d["evidenceDigest"]), ("fulfilled", timestamp(d["fulfilledAt"])),
        ("confirmed by", d["confirmedBy"]), ("last alert", status_name(d["escalation"])),
    ])


@commitment_app.command("list")
def commitment_list(
    unit: Annotated[str | None, typer.Option(help="only this responsible unit")] = None,
    status: Annotated[CommitmentStatus | None, typer.Option(help="only commitments in this status")] = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Commitments with their status at the latest block."""
    found = []
    with on_chain(rpc):
        ledger, head = reader(rpc)
        ids = unit_ids(ledger, unit) if unit else range(1, ledger.commitment_count() + 1)
        for cid in ids:
            d = commitment_document(ledger.commitment(cid))
            if status is None or d["status"] == status.value:
                found.append(d)
    if json_output:
        emit_json({"block": head.number, "time": head.timestamp, "commitments": found})
        return
    table(f"{len(found)} commitment(s) at block {head.number} ({timestamp(head.timestamp)})",
          ["id", "agreement", "clause", "side", "unit", "obligor", "counterparty", "deadline", "status"],
          [(d["id"], agreement_cell(d), d["clause"], d["side"], d["unit"], d["obligor"], d["counterparty"],
            timestamp(d["deadline"]), status_name(d["status"])) for d in found],
          numeric=["id"])


@commitment_app.command("report")
def commitment_report(
    unit: Annotated[str | None, typer.Option(help="only this responsible unit")] = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Counts by status (the tracker's own count), and per responsible unit.

    Alerts are commitments at reminder, warning or demand; supervisions are those at
    demand (long overdue, escalated to supervision)."""
    with on_chain(rpc):
        ledger, head = reader(rpc)
        counts = ledger.commitment_report(unit)
        units: dict[str, list[int]] = {}
        if unit is None:
            names: list[str] = []
            for cid in range(1, ledger.commitment_count() + 1):
                name = ledger.commitment(cid)["responsible_unit"]
                if name not in names:
                    names.append(name)
            units = {name: ledger.commitment_report(name) for name in names}
    document = summary_document(counts)
    document.update(block=head.number, time=head.timestamp, unit=unit)
    if unit is None:
        document["units"] = [{"unit": name, **summary_document(c)} for name, c in units.items()]
    if json_output:
        emit_json(document)
        return
    scope = f"{unit}: " if unit else ""
    line(f"{scope}{document['total']} commitments, {document['alerts']} alerts, {document['supervisions']} supervisions "
         f"(block {head.number}, {timestamp(head.timestamp)})")
    rows = [(name, sum(c), *c) for name, c in units.items()] if unit is None else [(unit, sum(counts), *counts)]
    if unit is None and len(units) > 1:
        rows.append(("all", sum(counts), *counts))
    table(None, ["unit", "total", *(COMMITMENT_STATUS[i] for i in range(5))], rows,
          numeric=["total", *(COMMITMENT_STATUS[i] for i in range(5))])


def summary_document(counts: list[int]) -> dict[str, Any]:
    return {"total": sum(counts), "counts": counts_document(counts),
            "alerts": sum(counts[level] for level in ALERT_LEVELS), "supervisions": counts[DEMAND]}


def parse_duration(text: str, what: str) -> int:
    """Seconds from "604800", "7d", "12h", "90m", "45s" or a sum such as "1d12h"; exit 2 otherwise."""
    parts = re.findall(r"(\d+)([dhms])", text)
    if text.isdigit():
        seconds = int(text)
    elif parts and "".join(n + u for n, u in parts) == text:
        seconds = sum(int(n) * DURATION_UNITS[u] for n, u in parts)
    else:
        fail(f"{what} {text!r}: seconds, or a duration such as 7d, 12h, 90m or 1d12h")
    if not 0 < seconds <= MAX_DURATION_SECONDS:
        fail(f"{what} {text!r}: must be more than 0 seconds (and at most {MAX_DURATION_SECONDS})")
    return seconds


def format_duration(seconds: int) -> str:
    """"7d (604800 s)", "1d12h (129600 s)"."""
    parts, rest = [], seconds
    for unit, size in DURATION_UNITS.items():
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return f"{''.join(parts) or '0s'} ({seconds} s)"


def policy_lines(window: int, delay: int) -> list[str]:
    return [f"reminder window {format_duration(window)}: a reminder from this long before the deadline",
            f"demand delay {format_duration(delay)}: a demand, escalated to supervision, once this long overdue"]


@policy_app.command("show")
def policy_show(rpc: RpcOption = DEFAULT_RPC, json_output: JsonOption = False) -> None:
    """The reminder window and the demand delay in force at the latest block.

    A commitment is a reminder from the window before its deadline, a warning once past it,
    a demand (escalated to supervision) once overdue by the delay."""
    with on_chain(rpc):
        ledger, head = reader(rpc)
        window, delay = (int(v) for v in ledger.call(ledger.commitments.functions.policy()))
    if json_output:
        emit_json({"reminderWindow": window, "demandDelay": delay, "block": head.number, "time": head.timestamp})
        return
    line(f"escalation policy at block {head.number} ({timestamp(head.timestamp)})")
    for text in policy_lines(window, delay):
        line(text)


@policy_app.command("set")
def policy_set(
    reminder_window: Annotated[str | None, typer.Option(
        help="how long before the deadline a reminder is due: seconds, or 7d, 12h, 90m (default: keep)")] = None,
    demand_delay: Annotated[str | None, typer.Option(
        help="how long past the deadline a demand is due: seconds, or 30d, 12h (default: keep)")] = None,
    key: KeyOption = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Set the escalation policy (an admin). The one not given keeps its current value."""
    if reminder_window is None and demand_delay is None:
        fail("give --reminder-window or --demand-delay (or both)")
    window = parse_duration(reminder_window, "--reminder-window") if reminder_window is not None else None
    delay = parse_duration(demand_delay, "--demand-delay") if demand_delay is not None else None
    ledger = writer(rpc, key)
    with on_chain(rpc):
        if window is None or delay is None:
            current = [int(v) for v in ledger.call(ledger.commitments.functions.policy())]
            window, delay = window or current[0], delay or current[1]
        # The SDK's generic transact on the tracker's set_policy (ADMIN only; the contract says so).
        result = ledger.transact(ledger.commitments.functions.set_policy(window, delay))
    event = result.events["PolicySet"][0]
    if json_output:
        emit_json({"reminderWindow": event["reminder_window"], "demandDelay": event["demand_delay"], "by": event["by"],
                   **tx_document(result)})
        return
    line("escalation policy set")
    for text in policy_lines(event["reminder_window"], event["demand_delay"]):
        line(text)
    fields(None, [("by", event["by"]), *tx_fields(result)])
