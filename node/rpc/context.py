"""What a JSON-RPC handler is given: the node, the filter registry, the limits, the states
kept for calls, and who is asking (their gas budget for this request); and how a block
parameter names a block."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from node.errors import InvalidParams, NotFound
from node.execution.vm import QBFTHeader
from node.rpc import params as p
from node.rpc.callstates import CallStates
from node.rpc.filters import FilterRegistry
from node.rpc.limits import GasBuckets, GasBudget, RpcLimits
from node.service import Node


@dataclass(frozen=True)
class RpcContext:
    node: Node
    filters: FilterRegistry
    limits: RpcLimits = field(default_factory=RpcLimits)
    gas: GasBuckets | None = None
    # Who is asking (node/rpc/limits.py caller_key): the caller that pays the gas (a token,
    # else a client address), the connection that owns filters (a token, else a connection),
    # and what this request may still spend.
    caller: str = "local"
    connection: str = "local"
    budget: GasBudget | None = None
    # States kept for eth_call / eth_estimateGas at the head (node/rpc/callstates.py);
    # None: every call builds a fresh state, as before the pool existed.
    call_states: CallStates | None = None

    def for_caller(self, caller: str, connection: str) -> RpcContext:
        """This context for one request of `caller` on `connection`, with a fresh request
        gas budget."""
        gas = self.gas if self.gas is not None else GasBuckets(self.limits.caller_gas_per_second,
                                                               self.limits.caller_gas_burst)
        return replace(self, caller=caller, connection=connection, budget=GasBudget(caller, self.limits, gas))


def resolve_block(ctx: RpcContext, tag: Any = "latest") -> QBFTHeader:
    chain = ctx.node.chain
    if tag is None or tag in ("latest", "pending", "safe", "finalized"):
        return chain.head  # QBFT finality is immediate: latest is final
    if tag == "earliest":
        return chain.header_by_number(0)
    if isinstance(tag, dict):  # EIP-1898
        if "blockHash" in tag:
            return chain.header_by_hash(p.hash32(tag["blockHash"], "blockHash"))
        if "blockNumber" in tag:
            return resolve_block(ctx, tag["blockNumber"])
        raise InvalidParams("block: expected blockHash or blockNumber")
    height = p.quantity(tag, "block")
    if height > chain.head.block_number:
        raise NotFound(f"header for block {height} not found")
    return chain.header_by_number(height)


def block_number_of(ctx: RpcContext, tag: Any, default: int) -> int:
    if tag is None:
        return default
    if tag in ("latest", "pending", "safe", "finalized"):
        return ctx.node.chain.head.block_number
    if tag == "earliest":
        return 0
    return p.quantity(tag, "block")


def with_state(ctx: RpcContext, tag: Any, read: Callable[[Any], Any]) -> Any:
    header = resolve_block(ctx, tag)
    head = ctx.node.head_state()
    if header.hash == head.header.hash:
        with head.lock:
            return read(head.state)
    return read(ctx.node.chain.state_at(header))
