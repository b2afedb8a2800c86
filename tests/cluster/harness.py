"""Driving a real local cluster (node/ops/cluster/) from tests: JSON-RPC, transactions from the
cluster's admin account, waits with deadlines, and the safety checker that compares every
node's chain after every scenario. Cluster nodes require a role token: the harness sends the
cluster's admin.token (Cluster.token) with its calls and to the `ledger` commands it runs."""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account

from node.ops.cluster.create import add_node, create_cluster
from node.ops.cluster.layout import load_admin_account, load_admin_token, load_cluster
from node.ops.cluster.processes import start_cluster, start_node, stop_cluster, stop_node
from node.ops.config import FaultConfig

RPC_TIMEOUT = 10.0
SINK = "0x" + "11" * 20


class RpcError(Exception):
    pass


def _headers(token: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def rpc(url: str, method: str, *params: Any, timeout: float = RPC_TIMEOUT, token: str | None = None) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    request = urllib.request.Request(url, data=body, headers=_headers(token))
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise RpcError(f"{method}: {reply['error']}")
    return reply["result"]


def rpc_batch(url: str, calls: list[tuple[str, list[Any]]], timeout: float = RPC_TIMEOUT,
              token: str | None = None) -> list[Any]:
    body = json.dumps([
        {"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)
    ]).encode()
    request = urllib.request.Request(url, data=body, headers=_headers(token))
    with urllib.request.urlopen(request, timeout=timeout) as response:
        replies = sorted(json.loads(response.read()), key=lambda r: r["id"])
    for reply in replies:
        if "error" in reply:
            raise RpcError(str(reply["error"]))
    return [r["result"] for r in replies]


def wait_for(what: str, condition: Callable[[], Any], deadline: float, poll: float = 0.2) -> Any:
    """Poll `condition` until it returns something truthy; fail naming `what` at the deadline."""
    end = time.monotonic() + deadline
    last_error: Exception | None = None
    while time.monotonic() < end:
        try:
            result = condition()
            if result:
                return result
        except (OSError, urllib.error.URLError, RpcError) as exc:
            last_error = exc
        time.sleep(poll)
    raise AssertionError(f"timed out after {deadline:.0f} s waiting for {what} (last error: {last_error})")


@dataclass
class Cluster:
    """One cluster directory, and the tests' view of it."""

    dir: Path
    down: set[str] = field(default_factory=set)
    _nonce: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(cls, dir: Path, validators: int, observers: int = 0, *,
               faults: Mapping[int, FaultConfig] | None = None, request_timeout: int = 1,
               empty_block_period: int = 2) -> Cluster:
        create_cluster(dir, validators, observers, block_period=1, empty_block_period=empty_block_period,
                       request_timeout=request_timeout, faults=faults)
        cluster = cls(dir)
        start_cluster(dir)
        return cluster

    @property
    def layout(self) -> Any:
        return load_cluster(self.dir)

    @property
    def token(self) -> str | None:
        """The cluster's ADMIN role token (admin.token)."""
        return load_admin_token(self.dir)

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.layout.nodes]

    @property
    def up(self) -> list[str]:
        return [n for n in self.names if n not in self.down]

    def url(self, name: str) -> str:
        return str(self.layout.node(name).rpc_url)

    def call(self, name: str, method: str, *params: Any) -> Any:
        return rpc(self.url(name), method, *params, token=self.token)

    def height(self, name: str) -> int:
        return int(self.call(name, "eth_blockNumber"), 16)

    def heights(self, names: Iterable[str] | None = None) -> dict[str, int]:
        return {n: self.height(n) for n in (names if names is not None else self.up)}

    # -- processes ------------------------------------------------------------------

    def kill(self, name: str) -> None:
        stop_node(self.dir, name, kill=True)
        self.down.add(name)

    def stop(self) -> None:
        stop_cluster(self.dir)
        self.down = set(self.names)

    def start(self, name: str | None = None) -> None:
        if name is None:
            start_cluster(self.dir)
            self.down.clear()
        else:
            start_node(self.dir, name)
            self.down.discard(name)

    def add(self, kind: str) -> str:
        return str(add_node(self.dir, kind).name)

    # -- transactions ---------------------------------------------------------------

    def send(self, count: int, via: list[str] | None = None) -> list[str]:
        """Send `count` value transfers from the admin account, spread over `via` nodes."""
        layout = self.layout
        account = Account.from_key(load_admin_account(self.dir).private_key)
        via = via or self.up
        hashes = []
        with self._lock:
            if self._nonce is None:
                self._nonce = int(self.call(via[0], "eth_getTransactionCount", account.address, "latest"), 16)
            for i in range(count):
                signed = account.sign_transaction({
                    "to": SINK, "value": 1, "gas": 21_000, "gasPrice": 0, "nonce": self._nonce,
                    "chainId": layout.chain_id,
                })
                self._nonce += 1
                hashes.append(self.call(via[i % len(via)], "eth_sendRawTransaction", "0x" + signed.raw_transaction.hex()))
        return hashes

    def receipts(self, hashes: list[str], via: str, deadline: float) -> list[dict[str, Any]]:
        def mined() -> list[dict[str, Any]] | None:
            results = rpc_batch(self.url(via), [("eth_getTransactionReceipt", [h]) for h in hashes], token=self.token)
            return results if all(r is not None for r in results) else None
        return wait_for(f"{len(hashes)} receipts on {via}", mined, deadline)

    # -- safety ---------------------------------------------------------------------

    def block_hashes(self, name: str, upto: int) -> list[str]:
        hashes: list[str] = []
        for start in range(0, upto + 1, 500):
            calls = [("eth_getBlockByNumber", [hex(h), False]) for h in range(start, min(upto, start + 499) + 1)]
            hashes.extend(block["hash"] for block in rpc_batch(self.url(name), calls, timeout=60, token=self.token))
        return hashes

    def assert_safety(self, names: Iterable[str] | None = None) -> int:
        """At each height one hash, on every node asked: the chains are prefixes of each other.
        Returns the height all of them share."""
        names = list(names if names is not None else self.up)
        chains = {n: self.block_hashes(n, self.height(n)) for n in names}
        longest = max(chains.values(), key=len)
        for name, hashes in chains.items():
            for height, block_hash in enumerate(hashes):
                assert block_hash == longest[height], (
                    f"fork at height {height}: {name} has {block_hash}, another node has {longest[height]}"
                )
        return min(len(h) for h in chains.values()) - 1

    def wait_same_height(self, names: list[str], at_least: int, deadline: float) -> int:
        def same() -> int | None:
            heights = self.heights(names)
            low = min(heights.values())
            return low if low >= at_least and len(set(heights.values())) == 1 else None
        return int(wait_for(f"{names} to agree on a height >= {at_least}", same, deadline))


@contextlib.contextmanager
def running_cluster(tmp_path_factory: Any, name: str, validators: int, **options: Any) -> Iterator[Cluster]:
    """A started cluster in a fresh temporary directory, stopped (every node) on the way out."""
    cluster = Cluster.create(tmp_path_factory.mktemp(name) / "c", validators, **options)
    try:
        yield cluster
    finally:
        cluster.stop()


def ledger(*args: str, timeout: float = 120, token: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `ledger` CLI as a user would (with LEDGER_TOKEN set to `token`, if given)."""
    env = dict(os.environ)
    if token is not None:
        env["LEDGER_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "client.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)
