"""The node's error hierarchy: one root, families under it, fields not only prose."""
from __future__ import annotations


class NodeError(Exception):
    """Root of every error the node raises on purpose."""


class ConfigError(NodeError):
    """A configuration or genesis file is missing, malformed or inconsistent."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class InvalidTransaction(NodeError):
    """A transaction was refused; `message` is the geth/Besu-style reason clients match on."""


class InvalidBlock(NodeError):
    """A block failed validation; `height` names where and `step` names which rule."""

    def __init__(self, height: int, step: str, detail: str) -> None:
        super().__init__(f"block {height}: {step}: {detail}")
        self.height = height
        self.step = step
        self.detail = detail


class NotFound(NodeError):
    """A block, transaction or key that was asked for does not exist."""


class PermissionDenied(NodeError):
    """The caller or sender is not allowed to do this."""


class Unauthenticated(NodeError):
    """No credentials where the node requires them, or a token that does not verify
    (malformed, bad signature, unknown issuer, expired, revoked). HTTP 401; not a
    PermissionDenied, which is a known caller asking for more than its role allows."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StorageError(NodeError):
    """The data directory is unusable: locked, corrupt, or from another chain."""


class InvalidParams(NodeError):
    """An RPC call's parameters are of the wrong shape or type."""


class ExecutionReverted(NodeError):
    """eth_call / eth_estimateGas hit REVERT; `data` is the revert payload."""

    def __init__(self, data: bytes, reason: str = "execution reverted") -> None:
        super().__init__(reason)
        self.data = data


class LimitExceeded(NodeError):
    """A caller reached one of the node's named caps (node/rpc/limits.py): `limit` names
    it, `allowed` is its value; `retry_after` (seconds) when waiting will help. JSON-RPC
    -32005 (EIP-1474 "limit exceeded"), HTTP 429 where a whole request is refused."""

    def __init__(self, limit: str, allowed: int | float, detail: str, retry_after: float | None = None) -> None:
        super().__init__(f"limit exceeded: {detail} ({limit} = {allowed})")
        self.limit = limit
        self.allowed = allowed
        self.detail = detail
        self.retry_after = retry_after


class QuotaExceeded(NodeError):
    """An upload would take more of the node's disk than a quota allows (the blob store,
    the batch-member index). `scope` is "caller" (one caller's share: HTTP 413) or "store"
    (the node's total, or its disk's reserve: HTTP 507); `unit` "bytes", "blobs" or "free
    bytes"; `used` what is taken, `adding` what this upload adds, `limit` the cap."""

    def __init__(self, text: str, scope: str, unit: str, used: int, adding: int, limit: int,
                 caller: str | None = None) -> None:
        super().__init__(text)
        self.scope = scope
        self.unit = unit
        self.used = used
        self.adding = adding
        self.limit = limit
        self.caller = caller

    @property
    def status(self) -> int:
        return 413 if self.scope == "caller" else 507
