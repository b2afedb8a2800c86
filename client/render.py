"""How the `ledger` chain commands print: rich tables for people, one JSON document for
machines (bytes as 0x-hex), and the one-line `error: reason` with its exit code.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.table import Table

EXIT_REFUSED = 1  # a verification failed, or the chain / a contract refused
EXIT_USAGE = 2    # bad usage or input: unreadable file, bad hex, unknown role, no node at --rpc
EXIT_OUTCOME_UNKNOWN = 3  # a transaction was sent but its outcome is unknown (`contract sign --pdf`)

# Not a terminal (a pipe, a test): wide enough that a 0x-hash and an address share a line.
FALLBACK_WIDTH = 200

console = Console(
    width=shutil.get_terminal_size((FALLBACK_WIDTH, 24)).columns,
    markup=False,  # user text such as a clause "[a]" is data, not rich markup
    highlight=False,
    emoji=False,
)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print `error: message` on stderr and exit with `code`."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


# -- values --------------------------------------------------------------------------


def hex0x(data: bytes | bytearray) -> str:
    return "0x" + bytes(data).hex()


def plain(value: Any) -> Any:
    """`value` with bytes as 0x-hex and mappings/tuples as dicts/lists: JSON-ready."""
    if isinstance(value, (bytes, bytearray)):
        return hex0x(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def timestamp(seconds: int) -> str:
    """A block time as ISO-8601 UTC; "-" for 0 (not yet happened)."""
    if not seconds:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def cell(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return hex0x(value)
    if isinstance(value, bool):
        return yes_no(value)
    if value is None:
        return "-"
    return str(value)


# -- output --------------------------------------------------------------------------


def emit_json(document: Any) -> None:
    """The whole machine output of a command: one JSON document on stdout."""
    typer.echo(json.dumps(plain(document), indent=2))


def fields(title: str | None, pairs: Iterable[tuple[str, Any]]) -> None:
    """A titled list of `name  value` lines."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for name, value in pairs:
        grid.add_row(name, cell(value))
    if title:
        console.print(title)
    console.print(grid)


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, numeric: Sequence[str] = ()) -> None:
    """A boxed table; `numeric` columns are right-aligned. Long hex folds, never truncates."""
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAVY, show_edge=False)
    for name in columns:
        t.add_column(name, overflow="fold", justify="right" if name in numeric else "left")
    for row in rows:
        t.add_row(*(cell(v) for v in row))
    console.print(t)


def line(text: str) -> None:
    console.print(text)
