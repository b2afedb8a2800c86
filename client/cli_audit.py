"""`ledger audit …`: what auditors and supervision offices ask of the chain — its summary, a block, a transaction and its events, contracts with every attestation, evidence, commitments and the per-unit report — from the node's REST indexes (/v1/) and JSON-RPC (client/cli_audit_query.py), and whole exports as CSV or JSON lines (client/cli_audit_export.py).

Exit codes: 0 success; 2 bad input, an unknown id, no node at --rpc or a refused token.
(1, "a verification failed", is not an outcome of any audit command: they only read.)
The decoders of a block header and of events are imported by the commands that show
them, to keep `ledger` start-up fast.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from chaincode import COMMITMENT_STATUS, SYSTEM_CONTRACTS
from client.cli_audit_export import audit_export
from client.cli_audit_query import (
    AllOption,
    CaseFilter,
    DueAfterFilter,
    DueBeforeFilter,
    KindFilter,
    LimitOption,
    NodeApi,
    Order,
    OrderOption,
    PartyFilter,
    ProjectFilter,
    RaisedFilter,
    UnitFilter,
    UntilFilter,
    take,
)
from client.cli_options import DEFAULT_RPC, JsonOption, RpcOption, parse_address, parse_digest
from client.render import emit_json, fail, fields, line, table, timestamp

audit_app = typer.Typer(
    no_args_is_help=True,
    help="Audit the chain: summary, blocks, transactions, contracts, evidence, commitments, reports, exports.",
)

COMMITMENT_STATUSES = tuple(COMMITMENT_STATUS.values())  # the tracker's names, as the node reports them


# -- rendering --------------------------------------------------------------------------


def when(record: dict[str, Any] | None) -> str:
    """A REST `When` (block, time, cursor, transactionHash) as one line."""
    if not record:
        return "-"
    return f"{timestamp(record['time'])}, block {record['block']}"


def more_note(shown: int, more: bool, what: str) -> None:
    line(f"{shown} {what}" + (" (more on the node: --limit N or --all)" if more else ""))


def event_detail(event: dict[str, Any]) -> str:
    """Who did it, for a history row."""
    args = event.get("args", {})
    for key in ("signer", "party", "by", "registrar", "obligor"):
        if key in args:
            extra = " (regulator)" if args.get("byRegulator") else " (supervisor)" if args.get("bySupervisor") else ""
            return f"{key} {args[key]}{extra}"
    if "level" in args:
        return f"level {COMMITMENT_STATUSES[args['level']] if 0 <= args['level'] < 5 else args['level']}"
    return ""


def history_table(events: Sequence[dict[str, Any]]) -> None:
    table("history", ["block", "time", "event", "detail", "transaction"],
          [(e["block"], timestamp(e["timestamp"]), e["event"], event_detail(e), e["transactionHash"]) for e in events],
          numeric=["block"])


# -- summary, block, tx -------------------------------------------------------------------


@audit_app.command("summary")
def audit_summary(rpc: RpcOption = DEFAULT_RPC, json_output: JsonOption = False) -> None:
    """Height, head, validators, members, roots, and counts of contracts, evidence and commitments."""
    doc = NodeApi(rpc).get("summary")
    if json_output:
        emit_json(doc)
        return
    counts = doc["counts"]
    contracts, commitments = counts["contracts"], counts["commitments"]
    fields(f"chain {doc['chainId']} at {rpc}", [
        ("height", doc["height"]),
        ("head", doc["head"]),
        ("indexed to", doc["indexedHeight"]),
        ("validators", "\n".join(doc["validators"])),
        ("members", counts["members"]),
        ("trusted roots", counts["trustedRoots"]),
        ("revocations", counts["revocations"]),
        ("events", counts["events"]),
        ("contracts", f"{contracts['total']}: " + ", ".join(
            f"{contracts.get(s, 0)} {s}" for s in ("Pending", "Effective", "Superseded", "Voided"))),
        ("evidence", counts["evidence"]),
        ("commitments", f"{commitments['total']}: {commitments['open']} open, {commitments['fulfilled']} fulfilled; "
                        f"{commitments['units']} responsible units"),
        ("alerts raised", f"{commitments['alertsRaised']}, {commitments['demandsRaised']} of them demands "
                          "escalated to supervision"),
    ])


def _block_ref(ref: str) -> tuple[str, Any]:
    """(method, argument) of `latest`, a height or a 0x block hash; exit 2 otherwise."""
    if ref == "latest":
        return "eth_getBlockByNumber", "latest"
    if ref.isdigit():
        return "eth_getBlockByNumber", hex(int(ref))
    return "eth_getBlockByHash", "0x" + parse_digest(ref, "BLOCK").hex()


@audit_app.command("block")
def audit_block(
    ref: Annotated[str, typer.Argument(metavar="N|HASH|latest", help="a height, a block hash or `latest`")],
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """A block: header, proposer, transactions, QBFT round, commit seals, validators.

    Needs a role with rpc:read (an auditor's, not a regulator's)."""
    from evidence.qbft import ExtraData, HeaderFormatError

    method, argument = _block_ref(ref)
    api = NodeApi(rpc)
    block = api.call(method, argument, False)
    if not isinstance(block, dict):
        fail(f"no block {ref}")
    number = int(block["number"], 16)
    validators = api.call("qbft_getValidatorsByBlockNumber", hex(number))
    doc: dict[str, Any] = {
        "number": number, "hash": block["hash"], "parentHash": block["parentHash"],
        "timestamp": int(block["timestamp"], 16), "proposer": block["miner"],
        "transactionCount": len(block["transactions"]), "transactions": block["transactions"],
        "gasUsed": int(block["gasUsed"], 16), "gasLimit": int(block["gasLimit"], 16),
        "stateRoot": block["stateRoot"], "transactionsRoot": block["transactionsRoot"],
        "receiptsRoot": block["receiptsRoot"], "validators": validators,
        "round": None, "commitSeals": None, "vote": None,
    }
    try:
        extra = ExtraData.decode(bytes.fromhex(block["extraData"][2:]))
        doc["round"], doc["commitSeals"] = extra.round, len(extra.seals)
        if extra.vote is not None:
            doc["vote"] = {"validator": "0x" + extra.vote.recipient.hex(), "add": extra.vote.add}
    except (HeaderFormatError, ValueError):
        pass  # not a QBFT header: the fields above still hold
    if json_output:
        emit_json(doc)
        return
    vote = doc["vote"]
    fields(f"block {number}", [
        ("hash", doc["hash"]), ("parent", doc["parentHash"]),
        ("time", f"{timestamp(doc['timestamp'])} ({doc['timestamp']})"),
        ("proposer", doc["proposer"]),
        ("transactions", doc["transactionCount"]),
        ("gas used", f"{doc['gasUsed']:,} of {doc['gasLimit']:,}"),
        ("state root", doc["stateRoot"]), ("transactions root", doc["transactionsRoot"]),
        ("receipts root", doc["receiptsRoot"]),
        ("round", doc["round"]),
        ("commit seals", None if doc["commitSeals"] is None else f"{doc['commitSeals']} (validators: {len(validators)})"),
        ("vote", None if vote is None else f"{'add' if vote['add'] else 'drop'} {vote['validator']}"),
        ("validators", "\n".join(validators)),
    ])
    if doc["transactions"]:
        table(None, ["#", "transaction"], enumerate(doc["transactions"]), numeric=["#"])


def decode_logs(logs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """A receipt's logs of the system contracts, decoded as the feed names them (camelCase
    arguments); other logs as `{"event": null}` with their address and log index."""
    from chaincode.events import EventDecodeError, decode_rpc_log

    decoded = []
    for log in logs:
        entry: dict[str, Any] = {"logIndex": int(log["logIndex"], 16), "address": log["address"],
                                 "contract": None, "event": None, "args": None}
        try:
            event = decode_rpc_log(log)
        except (EventDecodeError, ValueError):
            event = None
        if event is not None:
            entry.update(contract=event.contract, event=event.name, args=event.args)
        decoded.append(entry)
    return decoded


@audit_app.command("tx")
def audit_tx(
    tx_hash: Annotated[str, typer.Argument(metavar="HASH", help="transaction hash (0x-hex)")],
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """A transaction, its receipt's status and its system-contract events, decoded."""
    digest = "0x" + parse_digest(tx_hash, "HASH").hex()
    api = NodeApi(rpc)
    tx = api.call("eth_getTransactionByHash", digest)
    if not isinstance(tx, dict):
        fail(f"no transaction {digest}")
    receipt = api.call("eth_getTransactionReceipt", digest)
    events = decode_logs(receipt["logs"]) if isinstance(receipt, dict) else []
    names = {"0x" + a.hex(): n for n, a in SYSTEM_CONTRACTS.items()}
    status = None if not isinstance(receipt, dict) else ("success" if receipt.get("status") == "0x1" else "failed")
    if json_output:
        emit_json({"transaction": tx, "status": status, "receipt": receipt, "events": events})
        return
    to = tx.get("to")
    block = None if tx.get("blockNumber") is None else int(tx["blockNumber"], 16)
    fields(f"transaction {digest}", [
        ("status", status or "pending (no receipt yet)"),
        ("block", None if block is None else f"{block} (index {int(tx['transactionIndex'], 16)})"),
        ("from", tx["from"]),
        ("to", None if to is None else f"{to} ({names[to.lower()]})" if to.lower() in names else to),
        ("nonce", int(tx["nonce"], 16)),
        ("gas used", None if not isinstance(receipt, dict) else f"{int(receipt['gasUsed'], 16):,} of {int(tx['gas'], 16):,}"),
        ("events", len(events)),
    ])
    if events:
        table("events", ["log", "contract", "event", "arguments"],
              [(e["logIndex"], e["contract"] or e["address"], e["event"] or "(not a system contract's)",
                "-" if e["args"] is None else json.dumps(e["args"], separators=(", ", ": "))) for e in events],
              numeric=["log"])


# -- contracts ----------------------------------------------------------------------------


def _all_events(api: NodeApi, path: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = api.get(path, {"after": after})
        events.extend(page["items"])
        after = page["next"]
        if after is None:
            return events


def show_contract(record: dict[str, Any], history: list[dict[str, Any]]) -> None:
    voided = record.get("voided")
    fields(f"contract {record['id']}", [
        ("project", f"{record['projectCode']} version {record['version']}"),
        ("status", record["status"]),
        ("document digest", f"{record['docDigest']} ({record['digestAlgorithm']})"),
        ("parties", "\n".join(record["parties"])),
        ("amount", record["amount"]),
        ("registrar", record["registrar"]),
        ("registered", when(record["registered"])),
        ("effective", when(record.get("effective"))),
        ("amends", record.get("previous")),
        ("superseded by", record.get("supersededBy")),
        ("voided", None if not voided else
         f"{when(voided)} by {voided['by']}{' (regulator)' if voided.get('byRegulator') else ''}, "
         f"reason {voided['reasonDigest']}"),
    ])
    # One block per attestation: three hex values side by side would fold on most terminals.
    signatures = record["signatures"]
    for index, s in enumerate(signatures, 1):
        fields(f"attestation {index} of {len(record['parties'])}", [
            ("signer", s["signer"]), ("certificate", s["certFingerprint"]), ("root CA", s["rootFingerprint"]),
            ("signed", when(s)), ("transaction", s["transactionHash"]),
        ])
    if not signatures:
        line("attestations: none yet")
    history_table(history)


@audit_app.command("contract")
def audit_contract(
    contract_id: Annotated[str | None, typer.Argument(metavar="ID", help="contract id (0x-hex)")] = None,
    project: Annotated[str | None, typer.Option("--project", help="every version of this project's contract")] = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """A contract (or every version of a project's): its history and every attestation.

    Each attestation: signer, certificate and root CA fingerprints, block, time."""
    if (contract_id is None) == (project is None):
        fail("give a contract ID or --project CODE")
    api = NodeApi(rpc)
    if contract_id is not None:
        records = [api.get(f"contracts/0x{parse_digest(contract_id, 'ID').hex()}")]
    else:
        records = list(api.pages("contracts", {"project": project}))
        if not records:
            fail(f"no contract for project {project!r}")
    documents = [{**r, "history": _all_events(api, f"contracts/{r['id']}/events")} for r in records]
    if json_output:
        emit_json({"contracts": documents})
        return
    for index, document in enumerate(documents):
        if index:
            line("")
        show_contract(document, document["history"])


def contract_rows(items: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(c["id"], c["projectCode"], c["version"], c["status"], "\n".join(c["parties"]),
             f"{len(c['signatures'])}/{len(c['parties'])}", c["amount"], when(c["registered"])) for c in items]


@audit_app.command("contracts")
def audit_contracts(
    project: ProjectFilter = None,
    party: PartyFilter = None,
    status: Annotated[str | None, typer.Option("--status", help="Pending, Effective, Superseded or Voided")] = None,
    since: Annotated[str | None, typer.Option("--since", help="registered at or after (seconds or ISO 8601)")] = None,
    until: UntilFilter = None,
    limit: LimitOption = None,
    every: AllOption = False,
    order: OrderOption = Order.asc,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Contracts by project, party, status or registration date (one of them), in chain order."""
    params = {"project": project, "party": parse_address(party, "--party") if party else None, "status": status,
              "since": since, "until": until, "order": order.value}
    rows, more = take(NodeApi(rpc), "contracts", params, limit, every)
    if json_output:
        emit_json({"contracts": rows, "more": more})
        return
    table(None, ["id", "project", "v", "status", "parties", "signed", "amount", "registered"], contract_rows(rows),
          numeric=["v", "amount"])
    more_note(len(rows), more, "contracts")


# -- evidence ---------------------------------------------------------------------------


@audit_app.command("evidence")
def audit_evidence(
    digest: Annotated[str | None, typer.Argument(metavar="DIGEST", help="an anchored digest: every anchoring of it")] = None,
    case: CaseFilter = None,
    kind: KindFilter = None,
    limit: LimitOption = None,
    every: AllOption = False,
    order: OrderOption = Order.asc,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Every anchoring of a DIGEST, or the evidence of a case (--case) or kind (--kind)."""
    if sum(v is not None for v in (digest, case, kind)) > 1:
        fail("give a DIGEST, --case REF or --kind KIND (one of them)")
    api = NodeApi(rpc)
    if digest is not None:
        rows, more = take(api, f"evidence/0x{parse_digest(digest, 'DIGEST').hex()}", {}, limit, every)
    else:
        rows, more = take(api, "evidence", {"case": case, "kind": kind, "order": order.value}, limit, every)
    if json_output:
        emit_json({"evidence": rows, "more": more})
        return
    table(None, ["digest", "kind", "case", "leaves", "submitter", "anchoring", "anchored", "transaction"],
          [(e["digest"], e["kind"], e["caseRef"] or "-", e["leafCount"], e["submitter"], e["anchoring"],
            when(e["anchored"]), e["anchored"]["transactionHash"]) for e in rows],
          numeric=["leaves", "anchoring"])
    more_note(len(rows), more, "anchorings")


# -- commitments ---------------------------------------------------------------------------


@audit_app.command("commitment")
def audit_commitment(
    commitment_id: Annotated[int, typer.Argument(metavar="ID", min=1, help="commitment id")],
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """A commitment: its clause, unit, deadline, status now, alerts and history."""
    api = NodeApi(rpc)
    record = api.get(f"commitments/{commitment_id}")
    history = _all_events(api, f"commitments/{commitment_id}/events")
    if json_output:
        emit_json({**record, "history": history})
        return
    report, confirmation = record.get("report"), record.get("confirmation")
    fields(f"commitment {record['id']}", [
        ("agreement", record["agreement"]),
        ("clause", record["clause"]),
        ("side", record["side"]),
        ("responsible unit", record["responsibleUnit"]),
        ("obligor", record["obligor"]),
        ("counterparty", record["counterparty"]),
        ("deadline", f"{timestamp(record['deadline'])} ({record['deadline']})"),
        ("status now", record["status"]),
        ("raised", record["raised"]),
        ("created", when(record["created"])),
        ("fulfilment reported", None if not report else
         f"{when(report)}, evidence {report['evidenceDigest']}{'' if report.get('onTime') else ' (late)'}"),
        ("confirmed", None if not confirmation else
         f"{when(confirmation)} by {confirmation['by']}{' (supervisor)' if confirmation.get('bySupervisor') else ''}"),
    ])
    if record["alerts"]:
        table("alerts", ["level", "supervision", "block", "time"],
              [(a["level"], a["escalatedToSupervision"], a["block"], timestamp(a["time"])) for a in record["alerts"]],
              numeric=["block"])
    history_table(history)


@audit_app.command("commitments")
def audit_commitments(
    status: Annotated[str | None, typer.Option(
        "--status", help="status now: on-track, reminder, warning, demand, fulfilled")] = None,
    raised: RaisedFilter = None,
    unit: UnitFilter = None,
    due_after: DueAfterFilter = None,
    due_before: DueBeforeFilter = None,
    limit: LimitOption = None,
    every: AllOption = False,
    order: OrderOption = Order.asc,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Commitments by status now, raised level, responsible unit or deadline (one of them)."""
    params = {"status": status, "raised": raised, "unit": unit, "due_after": due_after, "due_before": due_before,
              "order": order.value}
    rows, more = take(NodeApi(rpc), "commitments", params, limit, every)
    if json_output:
        emit_json({"commitments": rows, "more": more})
        return
    table(None, ["id", "unit", "clause", "obligor", "deadline", "status", "raised", "alerts"],
          [(c["id"], c["responsibleUnit"], c["clause"], c["obligor"], timestamp(c["deadline"]), c["status"],
            c["raised"], len(c["alerts"])) for c in rows], numeric=["id", "alerts"])
    more_note(len(rows), more, "commitments")


@audit_app.command("report")
def audit_report(
    unit: UnitFilter = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Per responsible unit: commitments by status now, alerts and supervisions.

    Alerts: commitments at reminder, warning or demand now; supervisions: at demand now;
    and the alert events the chain has raised (alerts raised, demands raised)."""
    doc = NodeApi(rpc).get("commitments/report", {"unit": unit})
    if json_output:
        emit_json(doc)
        return
    columns = ["unit", "total", *COMMITMENT_STATUSES, "alerts", "supervisions", "alertsRaised", "demandsRaised"]
    rows = [[u.get(c, 0) for c in columns] for u in doc["units"]]
    totals = doc["totals"] or dict.fromkeys(columns[1:], 0)
    if len(rows) > 1:
        rows.append(["all units", *(totals.get(c, 0) for c in columns[1:])])
    headers = [*columns[:-2], "alerts raised", "demands raised"]
    table(f"commitments at {timestamp(doc['at'])}", headers, rows, numeric=headers[1:])
    line(f"{totals.get('total', 0)} commitments, {totals.get('alerts', 0)} alerts, "
         f"{totals.get('supervisions', 0)} supervisions")


# Last, as before the export moved to its own module: `ledger audit --help` lists the
# commands in the order they are registered.
audit_app.command("export")(audit_export)
