"""What the supervision dashboard asks of commitments beyond the lists: counts by status in
all and per responsible unit or obligor (`/v1/commitments/counts`), what happened each day
(`/v1/commitments/activity`), and the commitments as a CSV file with readable dates
(`/v1/commitments/export.csv`).

The counts and the days come from the counters node/storage/commitment_counts.py keeps in
each block's batch: a few seeks however many commitments there are. The export pages
through the same index as `/v1/commitments`, with the same filters, one snapshot per
page; at most MAX_EXPORT_ROWS rows, and at most MAX_EXPORTS exports at a time on the node
(MAX_EXPORTS_PER_CALLER of one caller's), since each can read a hundred thousand records.
"""
from __future__ import annotations

import csv
import datetime
import io
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from fastapi import Query, Request
from starlette.concurrency import run_in_threadpool

from chaincode import COMMITMENT_STATUS
from node.api import MAX_PAGE
from node.errors import NotFound
from node.rpc.rest.context import ApiError, CallerSlots, SlotResponse, admitted, as_refusals, caller_of, node_of
from node.rpc.rest.contract_views import names_of_subject
from node.rpc.rest.params import AFTER, LIMIT, MAX_QUERY_TIME, ORDER, moment, status_named, text_query, time_query
from node.service import Node
from node.storage import commitment_counts
from node.storage.index_queries import Indexes

# The most rows one export writes: the scale (100,000 commitments) in one file, about
# 35 MB; past it the file ends with a row saying so (TRUNCATED), and narrower filters
# (unit, status, deadlines) give the rest.
MAX_EXPORT_ROWS = 100_000
# Exports running at once on the node, and of one caller: each holds a thread while it reads
# a page (MAX_PAGE records) and a socket while the client downloads; a desk needs one.
MAX_EXPORTS = 4
MAX_EXPORTS_PER_CALLER = 1
# The Retry-After of a refused export: a full export takes seconds, not minutes.
EXPORT_RETRY_AFTER_SECONDS = 10
# Days the activity chart shows unless asked (a month), and the most it may ask for.
DEFAULT_ACTIVITY_DAYS = 30
CSV_CONTENT = {"text/csv": {"schema": {"type": "string"},
                            "example": "\ufeffid,agreement,clause,...\r\n1,0x…,4.2 land delivery,...\r\n"}}
# An offset from UTC as ISO 8601 writes it; real ones lie within ±14:00.
_OFFSET = re.compile(r"(Z|[+-](\d{2}):(\d{2}))")
_MAX_OFFSET_MINUTES = 14 * 60
# The first row's words, by language (`lang`); the columns are COLUMNS' order.
COLUMNS = ("id", "agreement", "clause", "side", "responsibleUnit", "obligor", "obligorName", "counterparty",
           "deadline", "status", "raised", "created", "reported", "reportedOnTime", "fulfilled", "alerts",
           "lastAlert", "lastAlertLevel", "descriptionDigest")
HEADERS = {
    "en": COLUMNS,
    "zh": ("编号", "协议", "条款", "承诺方", "责任单位", "义务人", "义务人名称", "相对方", "期限", "状态", "已发出",
           "登记时间", "报告履行时间", "按期报告", "确认履行时间", "提醒次数", "最近提醒时间", "最近提醒级别", "说明摘要"),
}
TRUNCATED = "# truncated"
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection,
# OWASP): a unit or clause is anyone's text, so such a cell is written with a leading '.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# -- counts and days --------------------------------------------------------------------


def _indexed_head(node: Node, indexes: Indexes) -> Any:
    """The head block of the snapshot `indexes` reads: the block its counters were written
    at (a block committed meanwhile is in neither the counts nor the `at` and `height` given)."""
    return node.chain.header_by_number(indexes.height())


def counts(
    request: Request,
    by: str = Query("unit", pattern="^(unit|obligor)$", description="unit: per responsible unit; obligor: per person"),
    limit: int = LIMIT, after: str | None = AFTER,
) -> dict[str, Any]:
    """Commitments by status at the head block's time — in all (`totals`) and for a page of
    responsible units or obligors — with the alerts (reminder, warning or demand now), the
    supervisions (demand now) and the alerts and demands the chain has raised."""
    node = node_of(request)
    with as_refusals(), node.store.snapshot() as store:  # counters, policy and head from one state
        indexes = Indexes(store)
        head = _indexed_head(node, indexes)
        now = head.timestamp
        policy = indexes.policy()
        items, following = commitment_counts.groups_page(store, by, now, policy, after=after, limit=limit)
        return {"at": now, "height": head.block_number, "policy": {"reminderWindow": policy[0], "demandDelay": policy[1]}, "by": by,
                "totals": commitment_counts.totals(store, now, policy), "items": items, "next": following}


def activity(
    request: Request,
    days: int = Query(DEFAULT_ACTIVITY_DAYS, ge=1, le=commitment_counts.MAX_ACTIVITY_DAYS,
                      description=f"UTC days up to the head block's (at most {commitment_counts.MAX_ACTIVITY_DAYS})"),
) -> dict[str, Any]:
    """Per UTC day, the last `days` up to the head block's: commitments added, alerts raised
    by level, demands escalated to supervision, fulfilments, and at each day's end how many
    were open and fulfilled."""
    node = node_of(request)
    with as_refusals(), node.store.snapshot() as store:
        indexes = Indexes(store)
        now = _indexed_head(node, indexes).timestamp
        last = now // commitment_counts.DAY
        counters = indexes.counters()
        rows = commitment_counts.activity(store, last - days + 1, last,
                                          open_now=counters.get("commitments.open", 0),
                                          fulfilled_now=counters.get("commitments.fulfilled", 0))
    return {"at": now, "days": rows}


# -- the CSV export ---------------------------------------------------------------------


def utc_offset(text: str) -> datetime.timezone:
    """`Z` or `+HH:MM` / `-HH:MM` (within ±14:00) as a time zone; ApiError 400 otherwise."""
    found = _OFFSET.fullmatch(text.strip())
    if found is None or (found.group(1) != "Z" and int(found.group(3)) >= 60):
        raise ApiError(400, "tz must be Z or an offset from UTC as +HH:MM or -HH:MM (e.g. +08:00)")
    if found.group(1) == "Z":
        return datetime.UTC
    minutes = int(found.group(2)) * 60 + int(found.group(3))
    if minutes > _MAX_OFFSET_MINUTES:
        raise ApiError(400, "tz must lie within -14:00..+14:00")
    sign = -1 if found.group(1).startswith("-") else 1
    return datetime.timezone(datetime.timedelta(minutes=sign * minutes))


def readable_time(seconds: int | None, tz: datetime.tzinfo) -> str:
    """ISO 8601 with the offset (2026-12-07T19:44:38+08:00); "" for none. A deadline past
    what a date can name (year 9999) is written as its seconds."""
    if seconds is None:
        return ""
    if not 0 <= seconds <= MAX_QUERY_TIME:
        return str(seconds)
    return datetime.datetime.fromtimestamp(seconds, tz).isoformat(timespec="seconds")


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_row(record: dict[str, Any], tz: datetime.tzinfo, obligor_name: str = "") -> list[str]:
    """One commitment record (with its `status`) as the export's cells, COLUMNS' order."""
    report, confirmation, alerts = record["report"], record["confirmation"], record["alerts"]
    last = alerts[-1] if alerts else None
    values: list[Any] = [
        record["id"], record["agreement"], record["clause"], record["side"], record["responsibleUnit"],
        record["obligor"], obligor_name, record["counterparty"], readable_time(record["deadline"], tz),
        record["status"], record["raised"], readable_time(record["created"]["time"], tz),
        readable_time(report["time"], tz) if report else "",
        ("yes" if report["onTime"] else "no") if report else "",
        readable_time(confirmation["time"], tz) if confirmation else "", len(alerts),
        readable_time(last["time"], tz) if last else "", last["level"] if last else "", record["descriptionDigest"],
    ]
    return [_cell(v) for v in values]


def csv_text(rows: Iterable[list[str]]) -> str:
    """Rows as CSV lines (RFC 4180: CRLF, quotes where a cell needs them)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def export_lines(pages: Iterator[list[dict[str, Any]]], tz: datetime.tzinfo, lang: str,
                 name_of: Callable[[str], str], cap: int = MAX_EXPORT_ROWS) -> Iterator[str]:
    """The export as text chunks: a byte-order mark and the header row, then a chunk per
    page of records; at most `cap` rows, then a TRUNCATED row if more remained."""
    yield "\ufeff" + csv_text([list(HEADERS[lang])])
    written = 0
    for records in pages:
        room = cap - written
        chunk = [csv_row(r, tz, name_of(r["obligor"])) for r in records[:room]]
        written += len(chunk)
        if chunk:
            yield csv_text(chunk)
        if len(records) > room:
            yield csv_text([[TRUNCATED, f"more than {cap} commitments match: narrow the filters "
                                        "(unit, status, deadlines) for the rest"]])
            return


class ExportSlots(CallerSlots):
    """The exports running, counted for the node and per caller."""

    def node_full(self) -> ApiError:
        return ApiError(503, f"{self.total} exports are running on this node; retry later",
                        retry_after=EXPORT_RETRY_AFTER_SECONDS)

    def caller_full(self, caller: str, held: int) -> ApiError:
        return ApiError(429, f"{caller} already runs {held} export(s), the most one caller may ({self.per_caller}); "
                        "retry when it has finished", retry_after=EXPORT_RETRY_AFTER_SECONDS)


def _export_slots(request: Request) -> ExportSlots:
    """The node's export slots, made on first use (on the event loop, like their claims)."""
    slots: ExportSlots | None = getattr(request.app.state, "exports", None)
    if slots is None:
        slots = request.app.state.exports = ExportSlots(MAX_EXPORTS, MAX_EXPORTS_PER_CALLER)
    return slots


class _Pages:
    """The export's pages of /v1/commitments' index, each read from its own snapshot (a
    long download does not pin one LevelDB snapshot), and the obligors' member names."""

    def __init__(self, node: Node, filters: dict[str, Any]) -> None:
        self.node = node
        self.filters = filters
        self.names: dict[str, str] = {}

    def read(self, after: str | None) -> tuple[list[dict[str, Any]], str | None]:
        with as_refusals(), self.node.chain.indexes.snapshot() as idx:
            page = idx.commitments(now=self.node.chain.head.timestamp, after=after, limit=MAX_PAGE, **self.filters)
            for record in page.items:
                self._name(idx, record["obligor"])
        return page.items, page.next

    def _name(self, idx: Any, address: str) -> None:
        if address in self.names or len(self.names) >= MAX_EXPORT_ROWS:
            return
        try:
            member = idx.member(bytes.fromhex(address[2:]))
        except NotFound:
            member = {}
        names = names_of_subject(member.get("subject"))
        self.names[address] = names.name or names.subject or ""

    def following(self, first: tuple[list[dict[str, Any]], str | None]) -> Iterator[list[dict[str, Any]]]:
        items, after = first
        yield items
        while after is not None:
            items, after = self.read(after)
            yield items


async def export_csv(
    request: Request,
    status: str | None = Query(None, description="status now: on track, reminder, warning, demand, fulfilled"),
    raised: str | None = Query(None, description="the level the chain last raised (or fulfilled)"),
    unit: str | None = text_query("responsible unit"),
    due_after: str | None = time_query("deadline at or after"),
    due_before: str | None = time_query("deadline at or before"),
    order: str = ORDER,
    tz: str = Query("Z", max_length=6, description="the offset dates are written in: Z or +HH:MM (e.g. +08:00)"),
    lang: str = Query("en", pattern="^(en|zh)$", description="the header row's language"),
) -> SlotResponse:
    """The commitments /v1/commitments lists with the same filters, as CSV: UTF-8 with a
    byte-order mark (so spreadsheets read Chinese), dates as ISO 8601 with the offset
    `tz`, the status at the head block's time; at most MAX_EXPORT_ROWS rows."""
    who = admitted(request)
    zone = utc_offset(tz)
    statuses = list(COMMITMENT_STATUS.values())
    with as_refusals():
        filters = {"status": status_named(status, statuses, "status"), "raised": status_named(raised, statuses, "raised"),
                   "unit": unit, "due_after": moment(due_after, "due_after"),
                   "due_before": moment(due_before, "due_before", end_of_day=True), "reverse": order == "desc"}
    slots = _export_slots(request)
    caller = caller_of(who, request)
    slots.claim(caller)
    try:
        pages = _Pages(node_of(request), filters)
        first = await run_in_threadpool(pages.read, None)  # a filter it cannot use: 400, before any byte
    except BaseException:
        slots.release(caller)
        raise
    at = datetime.datetime.fromtimestamp(node_of(request).chain.head.timestamp, zone).strftime("%Y%m%d-%H%M%S")
    lines = (line.encode("utf-8") for line in export_lines(pages.following(first), zone, lang,
                                                            lambda a: pages.names.get(a, "")))
    return SlotResponse(lines, lambda: slots.release(caller), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="commitments-{at}.csv"',
        "X-Row-Cap": str(MAX_EXPORT_ROWS), "Cache-Control": "no-store"})
