"""The command-line options the benchmarks share, so that each means the same everywhere.

A script builds its parser with ``parser(__doc__)`` (its docstring is its ``--help``) and
adds the shared options it takes; the defaults stay the script's own (a quick sanity
benchmark waits 5 s for an idle machine, a long one 30 s).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

# `ledger` next to this Python: the CLI of the repository's own virtualenv.
DEFAULT_LEDGER = str(Path(sys.executable).parent / "ledger")
DEFAULT_READY_TIMEOUT_SECONDS = 90.0  # a --dev node starting on a busy 2-core machine


def parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser whose help is the script's docstring, laid out as written."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_quick(p: argparse.ArgumentParser, what: str, flag: str = "--quick") -> None:
    """The smoke-run switch: tiny sizes that prove the script works, figures meaningless."""
    p.add_argument(flag, action="store_true", help=f"smoke run: {what}")


def add_runs(p: argparse.ArgumentParser, default: int, what: str, *, short: bool = False) -> None:
    p.add_argument(*(("-r", "--runs") if short else ("--runs",)), type=int, default=default,
                   help=f"{what} (default {default})")


def add_idle_wait(p: argparse.ArgumentParser, default: float, before: str = "each timed section") -> None:
    p.add_argument("--idle-wait", type=float, default=default,
                   help=f"before {before} wait up to this many s for an idle machine (default {default:g}; 0 = off)")


def add_figures_out(p: argparse.ArgumentParser) -> None:
    p.add_argument("--figures-out", type=Path, help="write every run's figures here (for bench/run_all)")


def add_json_out(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json-out", type=Path, help="write the full results as JSON here")


def add_node_start(p: argparse.ArgumentParser, *, ready_timeout: float = DEFAULT_READY_TIMEOUT_SECONDS,
                   node_args: bool = False) -> None:
    """``--ledger`` and ``--ready-timeout`` of the benchmarks that start ``--dev`` nodes;
    ``--node-arg`` too where extra node options make sense."""
    p.add_argument("--ledger", default=DEFAULT_LEDGER, help="the ledger CLI (default: next to this python)")
    p.add_argument("--ready-timeout", type=float, default=ready_timeout,
                   help=f"node start deadline, seconds (default {ready_timeout:g})")
    if node_args:
        p.add_argument("--node-arg", action="append", default=[], help="extra argument for `ledger node start` (repeatable)")


def add_timeout(p: argparse.ArgumentParser, default: float, what: str = "the timed section") -> None:
    p.add_argument("--timeout", type=float, default=default, help=f"deadline of {what}, seconds (default {default:g})")


def add_keep_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--keep-data", action="store_true", help="keep the nodes' temporary data dirs and logs")


def add_py_spy(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--py-spy", metavar="OUT", help=f"profile the node with py-spy {what}; raw stacks to OUT "
                                                   "(figures are then not representative)")
    p.add_argument("--py-spy-bin", default="py-spy", help="py-spy executable (pip install py-spy)")


def require_positive(p: argparse.ArgumentParser, args: argparse.Namespace, *names: str) -> None:
    """Exit with a usage error unless each option in ``names`` is at least 1."""
    for name in names:
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
