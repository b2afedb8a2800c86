"""`ledger audit export`: every contract, anchoring, commitment or event the node's REST
indexes hold, written to a CSV or JSON-lines file that appears once complete.

rich's progress bar is imported when an export starts, not with this module: `ledger`
imports every command module each time it runs.
"""
from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from client.cli_audit_query import (
    CaseFilter,
    ContractStatusFilter,
    DueAfterFilter,
    DueBeforeFilter,
    NodeApi,
    Order,
    PartyFilter,
    ProjectFilter,
    RaisedFilter,
    SinceFilter,
    UnitFilter,
    UntilFilter,
)
from client.cli_options import DEFAULT_RPC, JsonOption, RpcOption, parse_address, parse_digest
from client.http import HttpError
from client.render import EXIT_USAGE, emit_json, fail, line

# CSV columns of each export, in the REST records' order (docs/cli.md lists them). A
# test checks they cover every field the node returns, so none is silently dropped.
COLUMNS: dict[str, tuple[str, ...]] = {
    "contracts": ("id", "projectCode", "version", "previous", "docDigest", "digestAlgorithm", "parties", "amount",
                  "metadataDigest", "registrar", "status", "registered", "effective", "supersededBy", "voided",
                  "signatures", "voidRequests"),
    "evidence": ("digest", "digestAlgorithm", "kind", "caseRef", "caseHash", "leafCount", "metadataDigest",
                 "submitter", "anchoring", "anchored", "batch", "membersIndexed"),
    "commitments": ("id", "agreement", "clause", "side", "responsibleUnit", "obligor", "counterparty", "deadline",
                    "descriptionDigest", "created", "status", "raised", "report", "confirmation", "alerts"),
    "events": ("cursor", "block", "logIndex", "timestamp", "blockHash", "transactionHash", "transactionIndex",
               "topic", "contract", "address", "event", "args"),
}


class ExportKind(str, Enum):
    contracts = "contracts"
    evidence = "evidence"
    commitments = "commitments"
    events = "events"


class ExportFormat(str, Enum):
    csv = "csv"
    jsonl = "jsonl"


# A spreadsheet runs a cell that starts with one of these as a formula. On-chain text
# (project codes, case references, clauses) is anyone's to write, so such a cell gets a
# leading apostrophe (OWASP's CSV-injection advice); JSON lines are written unaltered.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A CSV cell: text and numbers as they are (text that a spreadsheet would run as a
    formula prefixed with '), nothing as empty, the rest as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _export_source(api: NodeApi, kind: ExportKind, options: dict[str, Any]) -> tuple[Callable[[], Iterator[dict[str, Any]]], int | None]:
    """The rows of an export and their number when /v1/summary's counts know it."""
    given = {k: v for k, v in options.items() if v is not None}
    allowed = {
        ExportKind.contracts: {"project", "party", "status", "since", "until", "order"},
        ExportKind.evidence: {"digest", "case", "kind", "order"},
        ExportKind.commitments: {"status", "raised", "unit", "due_after", "due_before", "order"},
        ExportKind.events: {"since", "topics", "role"},
    }[kind]
    wrong = sorted(set(given) - allowed)
    if wrong:
        names = ", ".join("--" + w.replace("_", "-") for w in wrong)
        fail(f"{names}: not a filter of {kind.value} (those are: "
             f"{', '.join('--' + a.replace('_', '-') for a in sorted(allowed))})")
    if "party" in given:
        given["party"] = parse_address(given["party"], "--party")
    if "digest" in given:
        given["digest"] = "0x" + parse_digest(given["digest"], "--digest").hex()
    counts = _counts(api)
    filtered = set(given) - {"order"}
    total: int | None = None
    if kind is ExportKind.events:
        total = counts.get("events") if not filtered and counts else None
        return (lambda: api.events(given)), total
    if counts and kind is ExportKind.contracts:
        if not filtered:
            total = counts["contracts"]["total"]
        elif filtered == {"status"}:
            total = next((n for s, n in counts["contracts"].items() if s.lower() == str(given["status"]).lower()), None)
    elif counts and kind is ExportKind.evidence and not filtered:
        total = counts["evidence"]
    elif counts and kind is ExportKind.commitments and not filtered:
        total = counts["commitments"]["total"]
    return (lambda: api.pages(kind.value, given)), total


def _counts(api: NodeApi) -> dict[str, Any] | None:
    """/v1/summary's counts, or None if the token's role may not read it (only a bar's total)."""
    try:
        return dict(api.fetch("summary")["counts"])
    except (HttpError, KeyError, TypeError):
        return None


def _progress(json_output: bool) -> Any:
    """A progress bar on stderr, only for a person at a terminal."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True, disable=json_output or not console.is_terminal)


def audit_export(
    kind: Annotated[ExportKind, typer.Argument(help="contracts, evidence, commitments or events")],
    out: Annotated[Path, typer.Option("--out", help="the file to write (replaced once complete)")],
    format: Annotated[ExportFormat, typer.Option("--format", help="csv (flat columns, nested values as JSON) or jsonl")] = ExportFormat.jsonl,
    project: ProjectFilter = None,
    party: PartyFilter = None,
    status: ContractStatusFilter = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
    digest: Annotated[str | None, typer.Option("--digest", help="evidence: one digest's anchorings")] = None,
    case: CaseFilter = None,
    kind_filter: Annotated[str | None, typer.Option("--kind", help="evidence kind")] = None,
    raised: RaisedFilter = None,
    unit: UnitFilter = None,
    due_after: DueAfterFilter = None,
    due_before: DueBeforeFilter = None,
    topics: Annotated[str | None, typer.Option("--topics", help="events: comma-separated topics")] = None,
    role: Annotated[str | None, typer.Option("--role", help="events: the topics this role reads")] = None,
    order: Annotated[Order | None, typer.Option("--order", help="asc or desc (not for events)")] = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Write every contract, anchoring, commitment or event to a CSV or JSON-lines file.

    Takes the filters of the matching list command; the file appears once complete."""
    api = NodeApi(rpc)
    options = {"project": project, "party": party, "status": status, "since": since, "until": until,
               "digest": digest, "case": case, "kind": kind_filter, "raised": raised, "unit": unit,
               "due_after": due_after, "due_before": due_before, "topics": topics, "role": role,
               "order": order.value if order is not None else None}
    rows, total = _export_source(api, kind, options)
    partial = out.with_name(out.name + ".partial")
    written = 0
    try:
        with open(partial, "w", newline="", encoding="utf-8") as handle, _progress(json_output) as progress:
            task = progress.add_task(f"exporting {kind.value}", total=total)
            writer: Any = None
            if format is ExportFormat.csv:
                writer = csv.DictWriter(handle, fieldnames=COLUMNS[kind.value], extrasaction="ignore")
                writer.writeheader()
            for row in rows():
                if writer is not None:
                    writer.writerow({k: csv_cell(v) for k, v in row.items()})
                else:
                    handle.write(json.dumps(row, separators=(",", ":"), ensure_ascii=False) + "\n")
                written += 1
                progress.update(task, completed=written, total=max(total or 0, written) if total else None)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        fail(f"--out {out}: {exc.strerror or exc}", EXIT_USAGE)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if json_output:
        emit_json({"kind": kind.value, "format": format.value, "out": str(out), "rows": written})
        return
    line(f"{written} rows of {kind.value} written to {out} ({format.value})")
