"""The supervision export's pure parts (node/rpc/rest/supervision.py): readable dates with
their offset, the byte-order mark, quoting and formula cells, the row cap; read back with
Python's csv module as a spreadsheet user's script would."""
from __future__ import annotations

import csv
import datetime
import io
from typing import Any

import pytest

from node.rpc.rest.context import ApiError
from node.rpc.rest.supervision import COLUMNS, HEADERS, TRUNCATED, csv_row, export_lines, readable_time, utc_offset

T = 1_796_644_800  # 2026-12-07T12:00:00Z
CST = datetime.timezone(datetime.timedelta(hours=8))


def record(n: int, **changes: Any) -> dict[str, Any]:
    base = {
        "id": n, "agreement": "0x" + "aa" * 32, "clause": f"4.{n} land delivery", "side": "government",
        "responsibleUnit": "招商局", "obligor": "0x" + "0b" * 20, "counterparty": "0x" + "0c" * 20,
        "deadline": T + n * 86400, "descriptionDigest": "0x" + "dd" * 32,
        "created": {"block": 3, "time": T - 86400, "cursor": "3-0", "transactionHash": "0x" + "ee" * 32},
        "raised": "on track", "report": None, "confirmation": None, "alerts": [], "status": "on track",
    }
    base.update(changes)
    return base


def parse(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:], newline="")))


def exported(pages: list[list[dict[str, Any]]], tz: datetime.tzinfo = CST, lang: str = "en", cap: int = 100) -> str:
    return "".join(export_lines(iter(pages), tz, lang, lambda a: "Zhang San", cap=cap))


def test_dates_are_iso_8601_with_the_offset_asked() -> None:
    assert readable_time(T, CST) == "2026-12-07T20:00:00+08:00"
    assert readable_time(T, utc_offset("Z")) == "2026-12-07T12:00:00+00:00"
    assert readable_time(T, utc_offset("-05:30")) == "2026-12-07T06:30:00-05:30"
    assert readable_time(None, CST) == ""
    assert readable_time(2**64 - 1, CST) == str(2**64 - 1)  # past year 9999: its seconds
    for bad in ("8", "+8:00", "+15:00", "+08:60", "UTC", "+08:00x"):
        with pytest.raises(ApiError) as refused:
            utc_offset(bad)
        assert refused.value.status == 400


def test_the_file_opens_with_a_bom_and_reads_back_with_the_csv_module() -> None:
    alerted = record(2, status="warning", raised="warning", alerts=[
        {"level": "reminder", "escalatedToSupervision": False, "time": T - 3600},
        {"level": "warning", "escalatedToSupervision": False, "time": T},
    ], report={"evidenceDigest": "0x00", "onTime": False, "time": T + 60})
    done = record(3, status="fulfilled", raised="fulfilled", confirmation={"by": "0x01", "bySupervisor": False,
                                                                          "time": T + 7200})
    text = exported([[record(1), alerted], [done]])
    rows = parse(text)
    assert list(rows[0]) == list(COLUMNS) and len(rows) == 3
    first, second, third = rows
    assert first["responsibleUnit"] == "招商局" and first["obligorName"] == "Zhang San"
    assert first["deadline"] == "2026-12-08T20:00:00+08:00" and first["created"] == "2026-12-06T20:00:00+08:00"
    assert (first["reported"], first["fulfilled"], first["lastAlert"], first["alerts"]) == ("", "", "", "0")
    assert (second["status"], second["alerts"], second["lastAlertLevel"]) == ("warning", "2", "warning")
    assert second["lastAlert"] == "2026-12-07T20:00:00+08:00" and second["reportedOnTime"] == "no"
    assert third["fulfilled"] == "2026-12-07T22:00:00+08:00"
    assert "\r\n" in text and text.encode("utf-8")[:3] == b"\xef\xbb\xbf"


def test_cells_are_quoted_and_formulas_are_not_run() -> None:
    tricky = record(1, clause='4.2 "land", parcel\nB', responsibleUnit="=HYPERLINK(\"http://x\")", side="-1+2")
    row = parse(exported([[tricky]]))[0]
    assert row["clause"] == '4.2 "land", parcel\nB'
    assert row["responsibleUnit"] == "'=HYPERLINK(\"http://x\")" and row["side"] == "'-1+2"
    assert csv_row(record(1), CST)[COLUMNS.index("obligorName")] == ""


def test_chinese_header_row() -> None:
    text = exported([[record(1)]], lang="zh")
    header = next(csv.reader(io.StringIO(text[1:])))
    assert header == list(HEADERS["zh"]) and header[4] == "责任单位" and len(header) == len(COLUMNS)


def test_the_row_cap_ends_the_file_with_a_row_saying_so() -> None:
    pages = [[record(n) for n in range(i, i + 4)] for i in range(0, 12, 4)]
    rows = list(csv.reader(io.StringIO(exported(pages, cap=6)[1:])))
    assert [r[0] for r in rows[1:7]] == [str(n) for n in range(6)]
    assert rows[7][0] == TRUNCATED and "more than 6" in rows[7][1] and len(rows) == 8
    exact = list(csv.reader(io.StringIO(exported(pages, cap=12)[1:])))
    assert len(exact) == 13 and exact[-1][0] == "11"  # exactly at the cap: no marker
