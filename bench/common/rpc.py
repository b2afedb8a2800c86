"""JSON-RPC to a loopback node over one keep-alive HTTP connection.

``http.client`` rather than web3.py: the load generator's own cost per request must stay
small next to the node's, and a benchmark must never reach beyond this machine, so a
target that is not a loopback address is refused.
"""
from __future__ import annotations

import http.client
import json
import os
import time
from typing import Any
from urllib.parse import urlparse

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
# A receipt is polled this often while a benchmark waits for it (untimed set-up).
RECEIPT_POLL_SECONDS = 0.02


class RpcError(RuntimeError):
    """The node answered with a JSON-RPC error or a non-200 status."""


def require_loopback(host: str) -> None:
    """SystemExit unless ``host`` is a loopback address."""
    if host not in LOOPBACK_HOSTS and not host.startswith("127."):
        raise SystemExit(f"refusing non-loopback target {host!r}")


class Rpc:
    """JSON-RPC calls and batches over one keep-alive connection (reopened once on a
    broken connection). ``token``: a role token for nodes that require one (a cluster's
    admin.token; ``--url`` against another node: ``$LEDGER_TOKEN``)."""

    def __init__(self, url: str, timeout: float = 60.0, token: str | None = None) -> None:
        u = urlparse(url)
        host = u.hostname or "127.0.0.1"
        require_loopback(host)
        self.host, self.port, self.path = host, u.port or 80, u.path or "/"
        self.timeout = timeout
        token = token or os.environ.get("LEDGER_TOKEN")
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self._conn: http.client.HTTPConnection | None = None
        self._id = 0

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _post(self, body: bytes) -> Any:
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request("POST", self.path, body, self.headers)
                resp = self._conn.getresponse()
                data = resp.read()
            except (TimeoutError, ConnectionError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
                continue
            if resp.status != 200:
                raise RpcError(f"HTTP {resp.status}: {data[:300]!r}")
            return json.loads(data)
        raise AssertionError("unreachable")

    def call(self, method: str, params: list[Any] | None = None) -> Any:
        self._id += 1
        out = self._post(json.dumps({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params or []}).encode())
        if "error" in out and out["error"] is not None:
            raise RpcError(f"{method}: {out['error']}")
        return out.get("result")

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        """One JSON-RPC batch request; returns the responses ordered like ``calls``."""
        first = self._id + 1
        payload = []
        for method, params in calls:
            self._id += 1
            payload.append({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        out = self._post(json.dumps(payload).encode())
        if not isinstance(out, list):
            raise RpcError(f"batch answered with a non-list: {str(out)[:300]}")
        by_id = {r.get("id"): r for r in out}
        return [by_id.get(first + i, {"error": {"message": "missing response"}}) for i in range(len(calls))]

    def pending_nonce(self, address: str) -> int:
        """The next nonce of ``address``, counting the transactions the node holds."""
        return int(self.call("eth_getTransactionCount", [address, "pending"]), 16)


def wait_receipt(rpc: Rpc, tx_hash: str, deadline: float, poll: float = RECEIPT_POLL_SECONDS) -> dict[str, Any]:
    """The receipt of ``tx_hash`` once it has one; TimeoutError after ``deadline`` (monotonic)."""
    while time.monotonic() < deadline:
        r = rpc.call("eth_getTransactionReceipt", [tx_hash])
        if r:
            return r
        time.sleep(poll)
    raise TimeoutError(f"no receipt for {tx_hash} before the deadline")
