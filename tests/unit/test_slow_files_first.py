"""tests/conftest.py's schedule: xdist hands test files out longest first, whole and in order.

The first tests call the ordering on fake items; the last runs pytest with xdist in a
subprocess over a small tree laid out like ours, with our conftest, and reads the order
in which the one worker ran the files: that is the order the loadfile scheduler handed
them out, so it fails if the hook, its table or the switch that stops xdist re-sorting by
tests per file were lost.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import FILE_SECONDS, file_of, order_longest_first

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
# Two of the slowest files in FILE_SECONDS, with one test each: the shape xdist's default
# queue (most tests first) sends to the back.
SLOWEST = "tests/integration/test_restart.py"
SECOND = "tests/integration/test_readme.py"


@dataclass(frozen=True)
class FakeItem:
    nodeid: str


def nodeids(items: list[FakeItem]) -> list[str]:
    return [item.nodeid for item in items]


def test_measured_files_first_longest_first_then_most_tests_first() -> None:
    collected = [
        FakeItem("tests/unit/a.py::test_1"),
        FakeItem("tests/unit/a.py::test_2"),
        FakeItem("tests/unit/b.py::test_1"),
        FakeItem("tests/unit/b.py::test_2"),
        FakeItem("tests/unit/b.py::test_3"),
        FakeItem("tests/integration/short.py::test_1"),
        FakeItem("tests/integration/long.py::test_1"),
        FakeItem("tests/unit/c.py::test_1"),
    ]
    seconds = {"tests/integration/long.py": 150.0, "tests/integration/short.py": 20.0, "gone.py": 999.0}
    assert nodeids(order_longest_first(collected, seconds)) == [
        "tests/integration/long.py::test_1",
        "tests/integration/short.py::test_1",
        "tests/unit/b.py::test_1", "tests/unit/b.py::test_2", "tests/unit/b.py::test_3",
        "tests/unit/a.py::test_1", "tests/unit/a.py::test_2",
        "tests/unit/c.py::test_1",
    ]


def test_a_file_stays_whole_and_in_its_own_order_and_ties_keep_collection_order() -> None:
    # Parametrized ids contain "::" and "/" inside brackets; only the first "::" splits.
    collected = [
        FakeItem("tests/x.py::test_b[a::b/c]"),
        FakeItem("tests/y.py::Case::test_1"),
        FakeItem("tests/x.py::test_a"),
        FakeItem("tests/y.py::Case::test_0"),
        FakeItem("tests/z.py::test_1"),
    ]
    ordered = nodeids(order_longest_first(collected, {"tests/z.py": 5.0, "tests/y.py": 5.0}))
    assert ordered == [
        "tests/y.py::Case::test_1", "tests/y.py::Case::test_0",
        "tests/z.py::test_1",
        "tests/x.py::test_b[a::b/c]", "tests/x.py::test_a",
    ]
    assert file_of("tests/x.py::test_b[a::b/c]") == "tests/x.py"


def test_the_table_names_files_that_exist() -> None:
    root = CONFTEST.parents[1]
    missing = [path for path in FILE_SECONDS if not (root / path).is_file()]
    assert missing == [], f"FILE_SECONDS names files that are gone (refresh it): {missing}"
    assert FILE_SECONDS[SLOWEST] > FILE_SECONDS[SECOND]


def test_xdist_loadfile_hands_out_the_longest_files_first(pytester: pytest.Pytester,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # Only xdist is needed: the other installed plugins (hypothesis, schemathesis, ...) would
    # triple the run's start-up in the controller and the worker.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8"))
    log = pytester.path / "ran.txt"
    body = (
        "from pathlib import Path\n"
        "import pytest\n"
        "@pytest.mark.parametrize('n', range({count}))\n"
        "def test_it(n: int, request: pytest.FixtureRequest) -> None:\n"
        f"    with Path({str(log)!r}).open('a') as ran:\n"
        "        ran.write(request.node.nodeid + '\\n')\n"
    )
    # Collected alphabetically: a_many, b_few, then the two measured one-test files.
    for path, count in {
        "tests/a_many/test_many.py": 5,
        "tests/b_few/test_few.py": 2,
        SECOND: 1,
        SLOWEST: 1,
    }.items():
        target = pytester.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body.format(count=count), encoding="utf-8")

    result = pytester.runpytest_subprocess("-p", "xdist", "-n", "1", "--dist", "loadfile", "-q",
                                           "-p", "no:cacheprovider", "--file-durations")
    result.assert_outcomes(passed=9)
    ran_files = list(dict.fromkeys(file_of(line) for line in log.read_text().splitlines()))
    assert ran_files == [SLOWEST, SECOND, "tests/a_many/test_many.py", "tests/b_few/test_few.py"]
    # --file-durations: one line per file, ready to paste into FILE_SECONDS.
    totals = [line for line in result.outlines if re.fullmatch(r'    "tests/[\w/]+\.py": \d+\.\d,', line)]
    assert sorted(re.sub(r'^    "|": .*$', "", line) for line in totals) == sorted(ran_files)
