"""The query and path parameters of /v1/: how each is declared (what the OpenAPI document
says of it) and how it is parsed (`hex_bytes`, `moment`, `status_named`, `role_named`).

FastAPI checks types, bounds and lengths (`limit`, `order`, `max_length`); the rest is
parsed here so that a refusal names the parameter in words (a 400 either way). A pattern
the document declares (`pattern_of`) is the expression the parser checks, so a client
that follows the document is not refused and one that does not is.
"""
from __future__ import annotations

import calendar
import datetime
import re
from collections.abc import Sequence
from typing import Any

from fastapi import Query

from node.access.roles import parse_role
from node.api import DEFAULT_PAGE, MAX_PAGE
from node.errors import ConfigError, InvalidParams

# 32 bytes (a contract id, a digest) and 20 bytes (an address) of hex, with or without
# 0x. Not bytes.fromhex's grammar, which also takes whitespace between the digits: the
# JSON-RPC's hex (node/rpc/params.py) does not, and neither does the document.
HEX32 = "(0[xX])?[0-9a-fA-F]{64}"
HEX20 = "(0[xX])?[0-9a-fA-F]{40}"
_HEX = {32: re.compile(HEX32), 20: re.compile(HEX20)}
# The largest time a query takes: 9999-12-31T23:59:59Z, the last second an ISO 8601
# date can name; seconds beyond it are not a time but a typo or a probe.
MAX_QUERY_TIME = 253_402_300_799
# Longer than any ISO 8601 date-time with an offset and microseconds (32): not a time.
MAX_TIME_CHARS = 40
# Free text a query matches exactly (project code, case reference, kind, unit) and the
# page token: longer than anything the chaincode stores, so longer is never a match.
MAX_TEXT_CHARS = 200
# A role's name (TRADING_CENTER is the longest, 14).
MAX_ROLE_CHARS = 40


def pattern_of(regex: str) -> dict[str, Any]:
    """What the document says of a parameter the handler checks against `regex` (a full
    match): FastAPI declares it without checking it, the handler checks it (hex_bytes)."""
    return {"pattern": f"^{regex}$"}


LIMIT = Query(DEFAULT_PAGE, ge=1, le=MAX_PAGE, description=f"items per page (at most {MAX_PAGE})")
# A record's history: every event of one contract or commitment, a page of the most.
HISTORY_LIMIT = Query(MAX_PAGE, ge=1, le=MAX_PAGE, description=f"events per page (at most {MAX_PAGE})")
AFTER = Query(None, max_length=MAX_TEXT_CHARS, description="the `next` token of the previous page")
ORDER = Query("asc", pattern="^(asc|desc)$", description="asc: oldest first; desc: newest first")
TOPICS_QUERY = Query(None, max_length=MAX_TEXT_CHARS,
                     description="comma-separated: identity, contracts, commitments, evidence")
ROLE_QUERY = Query(None, max_length=MAX_ROLE_CHARS,
                   description="the topics a role follows (regulator: contracts, commitments)")


def text_query(description: str) -> Any:
    """An optional text parameter matched exactly (project code, case, kind, unit)."""
    return Query(None, max_length=MAX_TEXT_CHARS, description=description)


def time_query(description: str) -> Any:
    return Query(None, max_length=MAX_TIME_CHARS, description=f"{description} (seconds since 1970 or ISO 8601)")


def hex_bytes(text: str, length: int, what: str) -> bytes:
    """`length` bytes from hex (0x optional), as the document's HEX32 / HEX20 pattern says."""
    if not _HEX[length].fullmatch(text):
        raise InvalidParams(f"{what} must be {length} bytes of hex")
    return bytes.fromhex(text[2:] if text[:2] in ("0x", "0X") else text)


def moment(text: str | None, what: str, *, end_of_day: bool = False) -> int | None:
    """Seconds since 1970 from seconds, an ISO 8601 date (YYYY-MM-DD) or date-time (UTC
    unless it names an offset). A bare date as an upper bound means its last second."""
    if text is None:
        return None
    if len(text) > MAX_TIME_CHARS:
        raise InvalidParams(f"{what} must be seconds since 1970 or an ISO 8601 date/time")
    if text.isascii() and text.isdigit():
        return _in_range(int(text), what)
    try:
        if len(text) == 10:
            day = datetime.date.fromisoformat(text)
            start = calendar.timegm(day.timetuple())
            return start + 86399 if end_of_day else start
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParams(f"{what} must be seconds since 1970 or an ISO 8601 date/time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    try:
        return _in_range(int(when.timestamp()), what)
    except (OverflowError, ValueError):  # an offset pushing year 9999 past what datetime holds
        raise InvalidParams(f"{what} is after 9999-12-31T23:59:59Z") from None


def _in_range(seconds: int, what: str) -> int:
    if seconds > MAX_QUERY_TIME:
        raise InvalidParams(f"{what} is after 9999-12-31T23:59:59Z ({MAX_QUERY_TIME} seconds since 1970)")
    return seconds


def status_named(text: str | None, known: Sequence[str], what: str) -> str | None:
    """One of `known`, named in any case, with '-' or '_' for spaces (`on-track`)."""
    if text is None:
        return None
    wanted = text.replace("-", " ").replace("_", " ").strip().lower()
    for name in known:
        if name.lower() == wanted:
            return name
    raise InvalidParams(f"{what} must be one of: {', '.join(known)}")


def role_named(text: str) -> str:
    """A role named in a query (`regulator`, `TRADING_CENTER`, `trading-center`)."""
    try:
        return parse_role(text)
    except ConfigError as exc:
        raise InvalidParams(exc.reason) from None
