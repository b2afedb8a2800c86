"""Suite-wide scheduling: test files that take longest run first, so two workers finish together.

`./scripts/test` runs `pytest -n 2 --dist loadfile`: xdist's `LoadFileScheduling` (a
`LoadScopeScheduling`) groups the collected items by file into work units and hands them
out from a queue, one unit to whichever worker is about to run dry. Out of the box it
sorts that queue by the number of tests in each file (`--loadscope-reorder`, on by
default), which puts the files with one long test (the kill -9 rounds, the README
walk-through, the clusters) at the end of the queue: the last one starts late and the
other worker idles until it ends. Here the queue is ordered by each file's measured
seconds instead, longest first (longest-processing-time first), and xdist's own reorder is
turned off so that it keeps this order; what is left at the end is a tail of short files
that the two workers share.

`FILE_SECONDS` holds the measured figures. Refresh them from a full run:
`./scripts/test --file-durations` prints, after the tests, every file's total (set-up,
call and tear-down of all its tests) as lines to paste over the table below. Files not
in the table keep xdist's old rule among themselves (most tests first), after the listed
ones; a file renamed or gone is simply not matched. Every worker computes the same order
from the same collection (xdist checks the workers' collections are identical).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol, TypeVar

import pytest

# Seconds per test file: the sum of its set-up, call and tear-down entries among the 40
# slowest of `pytest --durations=40 -n 2 --dist loadfile` on a fresh clone of the same
# commit on the 2-core CI machine (3,436 tests, 1,089 s wall). A file's other tests were
# each under 10.8 s, so these are lower bounds; the order they give is what matters.
# Refresh with `./scripts/test --file-durations` (see the module docstring).
FILE_SECONDS: dict[str, float] = {
    "tests/integration/test_restart.py": 152.1,
    "tests/integration/test_readme.py": 131.5,
    "tests/integration/test_bench_run_all.py": 105.9,
    "tests/integration/test_cli_chaincode.py": 92.6,
    "tests/integration/test_commitments.py": 57.7,
    "tests/integration/test_seal_cli.py": 55.3,
    "tests/integration/test_seal_chaincode.py": 52.8,
    "tests/integration/test_sm2_parties.py": 47.0,
    "tests/integration/test_ethers.py": 42.1,
    "tests/integration/test_chaincode_story.py": 36.8,
    "tests/integration/test_console_supervision.py": 35.4,
    "tests/integration/test_chain_verify.py": 32.9,
    "tests/integration/test_evidence_trusted_time.py": 30.1,
    "tests/cluster/test_rpc_flood.py": 29.9,
    "tests/cluster/test_validator_votes.py": 29.4,
    "tests/cluster/test_auto_escalation.py": 27.3,
    "tests/cluster/test_cluster_cli.py": 27.1,
    "tests/integration/test_sdk_doc.py": 23.9,
    "tests/integration/test_audit_cli.py": 23.6,
    "tests/integration/test_rest_seals.py": 19.9,
    "tests/integration/test_console_seals.py": 19.7,
    "tests/integration/test_cloudsign.py": 16.8,
    "tests/cluster/test_manual_consortium.py": 16.2,
    "tests/integration/test_contract_pdf.py": 15.9,
    "tests/integration/test_console_admin.py": 14.2,
    "tests/integration/test_auto_escalation.py": 13.2,
    "tests/cluster/test_consensus.py": 13.0,
    "tests/integration/test_fuzz.py": 11.4,
    "tests/integration/test_rest_contract_views.py": 10.8,
}

FILE_DURATIONS_OPTION = "--file-durations"


class HasNodeId(Protocol):
    """What the ordering reads of a collected item: its node id (`path::name[param]`)."""

    @property
    def nodeid(self) -> str: ...


Collected = TypeVar("Collected", bound=HasNodeId)


def file_of(nodeid: str) -> str:
    """The file part of a node id: xdist's loadfile work unit (`LoadFileScheduling._split_scope`)."""
    return nodeid.split("::", 1)[0]


def order_longest_first(items: Iterable[Collected], seconds: Mapping[str, float]) -> list[Collected]:
    """Items regrouped so whole files come longest first; each file's items keep their order.

    Files measured in `seconds` come first, most seconds first; then the others, most
    tests first (xdist's own rule). Ties keep the order of first appearance (a stable
    sort), so the result is a function of the collection alone.
    """
    by_file: dict[str, list[Collected]] = {}
    for item in items:
        by_file.setdefault(file_of(item.nodeid), []).append(item)

    def rank(position_and_file: tuple[int, str]) -> tuple[int, float, int]:
        position, path = position_and_file
        if path in seconds:
            return (0, -seconds[path], position)
        return (1, -len(by_file[path]), position)

    ordered_files = sorted(enumerate(by_file), key=rank)
    return [item for _, path in ordered_files for item in by_file[path]]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        FILE_DURATIONS_OPTION, action="store_true", default=False,
        help="after the run, print each test file's total seconds (set-up + call + tear-down) "
             "as lines for FILE_SECONDS in tests/conftest.py",
    )


def pytest_configure(config: pytest.Config) -> None:
    # xdist re-sorts its queue by tests per file unless told not to; this order is ours.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False
    # Only the controller (or a serial run) sees every worker's reports and a terminal.
    if config.getoption(FILE_DURATIONS_OPTION) and not hasattr(config, "workerinput"):
        config.pluginmanager.register(FileDurations(), "file-durations")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items[:] = order_longest_first(items, FILE_SECONDS)


class FileDurations:
    """Sums each test file's phase durations as reports arrive (on the xdist controller
    they arrive from every worker) and prints the totals after the run."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        path = file_of(report.nodeid)
        self.seconds[path] = self.seconds.get(path, 0.0) + report.duration

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        terminalreporter.write_sep("=", "seconds per test file, longest first (for FILE_SECONDS)")
        for path, total in sorted(self.seconds.items(), key=lambda entry: (-entry[1], entry[0])):
            terminalreporter.write_line(f'    "{path}": {total:.1f},')
