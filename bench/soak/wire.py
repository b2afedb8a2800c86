"""The soak's wire: one small HTTP client that reads big answers without keeping them,
the JSON-RPC request bodies, and how an answer counts (answered or refused).

The legitimate client (``load``) and the abuse (``abuse``) both speak through it, so a
call is timed and classified the same way on both sides.
"""
from __future__ import annotations

import http.client
import json
import time
from collections.abc import Sequence
from typing import Any

from bench.common.rpc import require_loopback

PARSE_LIMIT = 1 << 20  # answers larger than this are counted and discarded, not parsed
READ_CHUNK = 1 << 20  # an answer is read in pieces this size: a 300 MB one never sits in memory whole


class HttpClient:
    """One keep-alive connection to a loopback node with a bearer token; `post` returns
    (HTTP status, parsed JSON or None when larger than PARSE_LIMIT, bytes read)."""

    def __init__(self, host: str, port: int, token: str | None, timeout: float) -> None:
        require_loopback(host)
        self.host, self.port, self.timeout = host, port, timeout
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, Any, int]:
        deadline = time.monotonic() + self.timeout
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self._conn.request(method, path, body, self.headers)
            response = self._conn.getresponse()
            kept, size = [], 0
            while True:
                chunk = response.read(READ_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size <= PARSE_LIMIT:
                    kept.append(chunk)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"answer still arriving after {self.timeout:g} s ({size:,} bytes)")
        except BaseException:
            self.close()
            raise
        if response.getheader("connection", "").lower() == "close":
            self.close()
        document = None
        if size <= PARSE_LIMIT:
            try:
                document = json.loads(b"".join(kept)) if kept else None
            except ValueError:
                document = None
        return response.status, document, size

    def post(self, body: bytes) -> tuple[int, Any, int]:
        return self.request("POST", "/", body)


def classify(status: int | None, document: Any) -> str:
    """answered / refused for one HTTP answer: non-200 is refused; a JSON-RPC error is
    refused; a batch is refused when every call in it is; an unparsed (large) 200 answer
    counts as answered."""
    if status != 200:
        return "refused"
    if isinstance(document, dict):
        return "refused" if document.get("error") is not None else "answered"
    if isinstance(document, list):
        errors = [isinstance(r, dict) and r.get("error") is not None for r in document]
        return "refused" if errors and all(errors) else "answered"
    return "answered"


def rpc_body(method: str, params: list[Any], request_id: int = 1) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params},
                      separators=(",", ":")).encode()


def batch_body(calls: Sequence[tuple[str, list[Any]]]) -> bytes:
    return json.dumps([{"jsonrpc": "2.0", "id": i + 1, "method": m, "params": ps} for i, (m, ps) in enumerate(calls)],
                      separators=(",", ":")).encode()
