"""Prometheus metrics of the node (served at /metrics)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from node.execution.vm import QBFTHeader


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.height = Gauge("ledger_chain_height", "Height of the newest committed block", registry=r)
        self.blocks = Counter("ledger_blocks_committed", "Blocks committed", registry=r)
        self.transactions = Counter("ledger_transactions_committed", "Transactions committed", registry=r)
        self.tx_received = Counter("ledger_transactions_received", "Transactions admitted to the pool", registry=r)
        self.block_seconds = Histogram(
            "ledger_block_build_seconds", "Time to execute, seal and commit a block",
            buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5), registry=r,
        )
        self.rpc_requests = Counter("ledger_rpc_requests", "JSON-RPC calls", ["method"], registry=r)
        self.rpc_errors = Counter("ledger_rpc_errors", "JSON-RPC calls that returned an error", ["code"], registry=r)
        self.rpc_expensive_running = Gauge(
            "ledger_rpc_expensive_running", "Expensive JSON-RPC requests (eth_call, eth_getLogs, ...) "
            "being answered now", registry=r)
        self.rpc_websockets = Gauge("ledger_rpc_websockets", "Open JSON-RPC WebSocket connections", registry=r)
        self.pool_ready = Gauge("ledger_txpool_ready", "Pool transactions executable now", registry=r)
        self.pool_queued = Gauge("ledger_txpool_queued", "Pool transactions waiting for a nonce gap", registry=r)
        self.consensus_round = Gauge("ledger_consensus_round", "QBFT round of the height in progress", registry=r)
        self.round_timeouts = Counter("ledger_consensus_round_timeouts", "QBFT rounds that timed out", registry=r)
        self.messages_ignored = Counter(
            "ledger_consensus_messages_ignored", "QBFT messages refused (bad signature, non-validator, "
            "wrong digest, invalid proposal or seal, duplicate...)", registry=r,
        )
        self.peers = Gauge("ledger_peers", "Connected peers", registry=r)
        self.blocks_synced = Counter("ledger_blocks_synced", "Blocks imported from peers by sync", registry=r)
        self.feed_streams = Gauge("ledger_feed_streams", "Open /v1/feed (Server-Sent Events) streams", registry=r)

    def block_committed(self, header: QBFTHeader, tx_count: int, seconds: float) -> None:
        self.height.set(header.block_number)
        self.blocks.inc()
        self.transactions.inc(tx_count)
        self.block_seconds.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
