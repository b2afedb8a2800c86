"""The soak's legitimate client: what a trading center does while the abuse runs.

One evidence anchoring per block period (``EvidenceRegistry.anchor`` signed by a member
account, as ``bench/scaling.py`` builds it) and, five times a second in turn,
``eth_blockNumber``, the receipt of its latest anchoring, ``eth_call`` of the registry's
``entry_count()`` and ``GET /healthz``: each call timed and its outcome kept with the
phase it started in.
"""
from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Callable

from eth_account import Account

from bench.common.contracts import EVIDENCE_REGISTRY_ADDRESS, anchor_calldata, entry_count_calldata
from bench.common.nodes import http_get_status
from bench.common.signing import tx_hash
from bench.soak.measure import Clock
from bench.soak.wire import HttpClient, classify, rpc_body

LEGIT_TX_INTERVAL = 1.0          # one anchoring per block period: "a modest rate"
LEGIT_READ_INTERVAL = 0.2        # five reads a second, one kind after another
LEGIT_TIMEOUT = 10.0             # a legitimate call slower than this counts as failed
LEGIT_GAS = 400_000              # one anchoring costs ~276,000 gas (BENCHMARKS.md, scaling)
LEGIT_JOIN_SECONDS = LEGIT_TIMEOUT + 5.0
LEGIT_CALLS = ("eth_sendRawTransaction", "eth_blockNumber", "eth_getTransactionReceipt", "eth_call entry_count()",
               "GET /healthz")


class LegitLoad:
    """The legitimate client: anchorings at LEGIT_TX_INTERVAL and reads at
    LEGIT_READ_INTERVAL against the target node, each call timed and its outcome kept
    with the phase it started in."""

    def __init__(self, host: str, port: int, token: str, private_key: str, chain_id: int,
                 clock: Clock, phase: Callable[[], str], stop: threading.Event) -> None:
        self.host, self.port, self.token = host, port, token
        self.private_key, self.chain_id = private_key, chain_id
        self.clock, self.phase, self.stop = clock, phase, stop
        self.samples: list[tuple[str, str, float, bool]] = []   # (call, phase, seconds, ok)
        self.submitted: dict[str, tuple[float, str]] = {}       # tx hash -> (time, phase)
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._send_loop, name="soak-legit-tx", daemon=True),
                         threading.Thread(target=self._read_loop, name="soak-legit-read", daemon=True)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self, timeout: float) -> None:
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout)

    def _timed(self, name: str, action: Callable[[], bool]) -> bool:
        phase, t0 = self.phase(), time.monotonic()
        try:
            ok = action()
        except Exception:  # a timeout or a broken connection: a failed call, timed
            ok = False
        with self._lock:
            self.samples.append((name, phase, time.monotonic() - t0, ok))
        return ok

    def _send_loop(self) -> None:
        client = HttpClient(self.host, self.port, self.token, LEGIT_TIMEOUT)
        account = Account.from_key(self.private_key)
        nonce: int | None = None
        next_at = time.monotonic()
        while not self.stop.is_set():
            if nonce is None:
                with contextlib.suppress(Exception):
                    _, doc, _ = client.post(rpc_body("eth_getTransactionCount", [account.address, "pending"]))
                    nonce = int(doc["result"], 16)
            if nonce is not None:
                raw = bytes(account.sign_transaction({
                    "nonce": nonce, "gas": LEGIT_GAS, "gasPrice": 0, "to": EVIDENCE_REGISTRY_ADDRESS, "value": 0,
                    "data": anchor_calldata(secrets.token_bytes(32), 1), "chainId": self.chain_id,
                }).raw_transaction)
                sent = tx_hash(raw)
                sent_at, phase = self.clock.now(), self.phase()
                body = rpc_body("eth_sendRawTransaction", ["0x" + raw.hex()])
                if self._timed("eth_sendRawTransaction", lambda: classify(*client.post(body)[:2]) == "answered"):
                    with self._lock:
                        self.submitted[sent] = (sent_at, phase)
                    nonce += 1
                else:
                    nonce = None  # re-read: the node may or may not hold it
            # A call that took longer than the interval delays the next one; no catch-up burst.
            next_at = max(next_at + LEGIT_TX_INTERVAL, time.monotonic())
            self.stop.wait(max(0.0, next_at - time.monotonic()))
        client.close()

    def _read_loop(self) -> None:
        client = HttpClient(self.host, self.port, self.token, LEGIT_TIMEOUT)
        count_call = rpc_body("eth_call", [{"to": EVIDENCE_REGISTRY_ADDRESS, "data": "0x" + entry_count_calldata().hex()},
                                           "latest"])

        def rpc(body: bytes) -> bool:
            status, doc, _ = client.post(body)
            return classify(status, doc) == "answered"

        def receipt() -> bool:
            with self._lock:
                latest = next(reversed(self.submitted), None)
            if latest is None:
                return rpc(rpc_body("eth_blockNumber", []))
            return rpc(rpc_body("eth_getTransactionReceipt", [latest]))

        reads: list[tuple[str, Callable[[], bool]]] = [
            ("eth_blockNumber", lambda: rpc(rpc_body("eth_blockNumber", []))),
            ("eth_getTransactionReceipt", receipt),
            ("eth_call entry_count()", lambda: rpc(count_call)),
            ("GET /healthz", lambda: http_get_status(self.host, self.port, "/healthz", timeout=LEGIT_TIMEOUT) == 200),
        ]
        index = 0
        next_at = time.monotonic()
        while not self.stop.is_set():
            name, action = reads[index % len(reads)]
            self._timed(name, action)
            index += 1
            next_at = max(next_at + LEGIT_READ_INTERVAL, time.monotonic())
            self.stop.wait(max(0.0, next_at - time.monotonic()))
        client.close()


def legit_order(name: str) -> int:
    """Where a call goes in the report: in LEGIT_CALLS order, unknown names last."""
    return LEGIT_CALLS.index(name) if name in LEGIT_CALLS else len(LEGIT_CALLS)
