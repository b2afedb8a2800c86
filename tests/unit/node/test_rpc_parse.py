"""Strict JSON parsing of untrusted RPC bodies."""
from __future__ import annotations

import pytest

from node.rpc.jsonrpc import MAX_JSON_CONTAINERS, MAX_JSON_DEPTH, ParseError, parse_json


def test_brackets_inside_strings_do_not_count() -> None:
    body = b'[' + b'{"a": "[[[[\\"{{{{"},' * (MAX_JSON_DEPTH + 5) + b'1]'
    assert len(parse_json(body)) == MAX_JSON_DEPTH + 6


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), "nested deeper"),
        (b"[" * 100_000, "nested deeper"),
        # An unterminated string behind many escaped quotes: a scan that restarts at every
        # quote is quadratic here (minutes); the single pass answers at once.
        (b"[" + b"[]," * (MAX_JSON_DEPTH + 1) + b'"' + b'\\"' * 200_000, "unterminated"),
        (b"[]" * (MAX_JSON_CONTAINERS + 1), f"more than {MAX_JSON_CONTAINERS}"),
        (b'{"id": NaN}', "NaN"),
        (b'{"id": 1e400}', "out of range"),
        (b'{"id": ' + b"1" * 5000 + b"}", "digits"),
        (b"\xff\xfe", "utf-8|decode|Expecting"),
    ],
)
def test_hostile_bodies_are_parse_errors(body: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_json(body)
