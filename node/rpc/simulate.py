"""eth_call and eth_estimateGas: a call executed on a read overlay of a block's state, its gas
drawn from the request's and the caller's budgets (node/rpc/limits.py).

The state is leased from the context's CallStates (node/rpc/callstates.py): at the head
it is one an earlier call used and reverted, with its read caches warm. A call that
raises (an estimate that fails, a refused budget) drops its state rather than return it.

Every execution reserves its gas limit from the budget first and returns what it did not
use, so a caller never executes more than its bucket holds, and a request no more than
`request_gas_cap` — an estimate's search counting once, as its first (largest) run, so
that estimating a call near the cap still works. eth_estimateGas searches as geth does (gasestimator.go): one run at
the cap, then an optimistic guess, then a binary search that stops within 1.5 % of the
answer or after ESTIMATE_MAX_RUNS runs: a search costs a handful of executions, each
charged, not py-evm's exact search up to the block gas limit.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eth.abc import SignedTransactionAPI, StateAPI
from eth.exceptions import OutOfGas, Revert
from eth.vm.spoof import SpoofTransaction
from eth_typing import Address

from node.errors import ExecutionReverted, InvalidTransaction, LimitExceeded, NodeError
from node.execution.vm import LedgerVM, QBFTHeader
from node.rpc import params as p
from node.rpc.callstates import CallLease
from node.rpc.context import RpcContext, resolve_block

# geth's estimator stops when the bracket is within this share of its upper end.
ESTIMATE_ERROR_RATIO = 0.015
# Executions one estimate may run in all (the first run, the optimistic guess, the search);
# with the 1.5 % stop the search needs ~10 between intrinsic gas and the cap.
ESTIMATE_MAX_RUNS = 16
CALL_STIPEND = 2_300  # params.CallStipend: geth's optimistic guess leaves room for it


class _Call:
    """One call to simulate: the state after a block, and the call as a spoofed
    transaction whose gas limit is chosen per execution.

    Built in two steps, in the order errors are reported: `__init__` parses the call and
    resolves its block; `bind` takes the state a lease lends it (node/rpc/callstates.py)
    and checks the sender's nonce, the intrinsic gas and the balance against it."""

    def __init__(self, ctx: RpcContext, spec: Any, tag: Any) -> None:
        call = p.obj(spec, "transaction")
        self.sender = p.address(call["from"], "from") if call.get("from") else b"\x00" * 20
        self.to = p.address(call["to"], "to") if call.get("to") else b""
        payload = call.get("input", call.get("data"))
        self.data = p.data(payload, "input") if payload is not None else b""
        cap = ctx.limits.call_gas_cap
        gas = p.quantity(call["gas"], "gas") if call.get("gas") is not None else cap
        self.value = p.quantity(call["value"], "value") if call.get("value") is not None else 0
        self.header = resolve_block(ctx, tag)
        self.ctx = ctx
        self.gas = min(gas, cap, self.header.gas_limit)

    def bind(self, lease: CallLease) -> None:
        """Run this call on `lease`'s state (which must be the state after `self.header`)."""
        self.lease = lease
        self.state: StateAPI = lease.state
        self.unsigned = LedgerVM.create_unsigned_transaction(
            nonce=self.state.get_nonce(Address(self.sender)), gas_price=0, gas=self.gas, to=Address(self.to),
            value=self.value, data=self.data,
        )
        tx = self.transaction(self.gas)
        self.intrinsic_gas = tx.intrinsic_gas
        if tx.gas < tx.intrinsic_gas:
            raise InvalidTransaction(f"intrinsic gas too low: have {tx.gas}, want {tx.intrinsic_gas}")
        if tx.value > self.state.get_balance(Address(self.sender)):
            raise InvalidTransaction("insufficient funds for transfer")

    def transaction(self, gas: int) -> SignedTransactionAPI:
        return SpoofTransaction(self.unsigned, from_=self.sender, gas=gas)  # type: ignore[return-value]

    def execute(self, gas: int, *, repeat: bool = False) -> Any:
        """Run the call with `gas` (charged to the budget), leaving the state as it was.
        LimitExceeded when the budget cut the run short of the gas it asked for.
        `repeat`: a further run of an estimate (GasBudget.reserve)."""
        budget = self.ctx.budget
        granted = budget.reserve(gas, self.intrinsic_gas, repeat=repeat) if budget is not None else gas
        snapshot = self.state.snapshot()
        used = 0  # a call py-evm refuses to start (initcode too large...) used nothing
        try:
            computation = self.state.costless_execute_transaction(self.transaction(granted))
            used = granted - computation.get_gas_remaining()
        finally:
            self.state.revert(snapshot)
            self.lease.gas += used
            if budget is not None:
                budget.settle(granted, used, repeat=repeat)
        if granted < gas and computation.is_error and isinstance(computation.error, OutOfGas):
            cut = budget.last_cut if budget is not None and budget.last_cut else "request_gas_cap"
            raise LimitExceeded(cut, getattr(self.ctx.limits, cut),
                                f"the call ran out of the {granted} gas the budgets had left (it asked for {gas})")
        return computation


@contextmanager
def _leased(ctx: RpcContext, header: QBFTHeader) -> Iterator[CallLease]:
    """A state after `header` for one call: from the context's pool, or (without one) a
    fresh state that is dropped afterwards."""
    if ctx.call_states is not None:
        with ctx.call_states.lease(header) as lease:
            yield lease
    else:
        yield CallLease(header.hash, ctx.node.chain.state_at(header), 0)


def eth_call(ctx: RpcContext, spec: Any, tag: Any = "latest") -> str:
    call = _Call(ctx, spec, tag)
    with _leased(ctx, call.header) as lease:
        call.bind(lease)
        computation = call.execute(call.gas)
    if computation.is_error:
        raise_execution_error(computation)
    return p.to_data(computation.output)


def eth_estimate_gas(ctx: RpcContext, spec: Any, tag: Any = "latest") -> str:
    call = _Call(ctx, spec, tag)
    with _leased(ctx, call.header) as lease:
        call.bind(lease)
        return _estimate(call)


def _estimate(call: _Call) -> str:
    hi = call.gas
    # 1. At the cap: a call that fails with all the gas it may have fails for good.
    computation = call.execute(hi)
    if computation.is_error:
        if isinstance(computation.error, OutOfGas):
            raise NodeError(f"gas required exceeds allowance ({hi})")
        raise_execution_error(computation)
    used = hi - computation.get_gas_remaining()
    lo = max(call.intrinsic_gas, used) - 1
    runs = 1

    def succeeds(gas: int) -> bool:
        nonlocal runs
        runs += 1
        result = call.execute(gas, repeat=True)
        if result.is_error and not isinstance(result.error, (OutOfGas, Revert)):
            raise_execution_error(result)
        return not result.is_error

    # 2. The optimistic guess (gas used plus refund and stipend headroom, and the 63/64
    #    rule) is right for almost every call: one more run.
    optimistic = (used + computation.get_gas_refund() + CALL_STIPEND) * 64 // 63
    if optimistic < hi:
        if succeeds(optimistic):
            hi = optimistic
        else:
            lo = optimistic
    # 3. Binary search, to within ESTIMATE_ERROR_RATIO of the answer or ESTIMATE_MAX_RUNS.
    while lo + 1 < hi and (hi - lo) / hi >= ESTIMATE_ERROR_RATIO and runs < ESTIMATE_MAX_RUNS:
        mid = min((hi + lo) // 2, lo * 2)  # geth: most calls need little; look low first
        if succeeds(mid):
            hi = mid
        else:
            lo = mid
    return p.to_hex(hi)


def raise_execution_error(computation: Any) -> None:
    error = computation.error
    if isinstance(error, Revert):
        output = computation.output
        reason = "execution reverted"
        # Error(string) selector 0x08c379a0: decode the message like geth does.
        if output[:4] == bytes.fromhex("08c379a0") and len(output) >= 68:
            try:
                length = int.from_bytes(output[36:68], "big")
                reason += ": " + output[68 : 68 + length].decode("utf-8")
            except (UnicodeDecodeError, ValueError):
                pass
        raise ExecutionReverted(output, reason)
    raise NodeError(f"execution failed: {type(error).__name__}: {error}")
