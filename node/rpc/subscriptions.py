"""eth_subscribe over the WebSocket: newHeads and logs, live or resumed from a cursor."""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from node.access.http import Principal
from node.errors import InvalidParams, LimitExceeded
from node.execution.vm import QBFTHeader
from node.rpc import params as p
from node.rpc.context import RpcContext
from node.rpc.filters import LogCriteria
from node.rpc.format import block_logs, header_json
from node.rpc.jsonrpc import INVALID_PARAMS, UNAUTHORIZED, _error, access_refusal, error_response, request_id
from node.storage.indexes import Cursor

log = logging.getLogger("ledger.rpc")
Offload = Callable[[Callable[[], Any]], Awaitable[Any]]

MAX_SUBSCRIPTIONS_PER_SOCKET = 100
# Messages, and their bytes, queued for a WebSocket client that does not read:
# notifications beyond either end its subscriptions; a response beyond the bytes closes
# the socket (1013), beyond the count it waits (the socket's requests stop being read).
# 32 MiB holds a few of the largest answers (25 MiB) a client may ask for and not read yet.
MAX_QUEUED_MESSAGES = 10_000
MAX_QUEUED_BYTES = 32 * 1024 * 1024
# Blocks a resumed log subscription reads per step of its replay (in an expensive worker).
REPLAY_BLOCKS_PER_READ = 256


class Outbox(asyncio.Queue[str]):
    """The messages waiting for one WebSocket client, counted and measured in bytes
    (asyncio.Queue's _put/_get are its documented points of extension)."""

    def __init__(self, max_messages: int = MAX_QUEUED_MESSAGES, max_bytes: int = MAX_QUEUED_BYTES) -> None:
        super().__init__(maxsize=max_messages)
        self.max_bytes = max_bytes
        self.bytes = 0

    def over(self, size: int) -> bool:
        """Whether `size` more bytes would pass max_bytes."""
        return self.bytes + size > self.max_bytes

    def _put(self, item: str) -> None:
        self.bytes += len(item)
        super()._put(item)

    def _get(self) -> str:
        item = super()._get()
        self.bytes -= len(item)
        return item


def subscription_refusal(ctx: RpcContext, principal: Principal, call: Any) -> dict[str, Any] | None:
    """The -40100 response to an eth_subscribe / eth_unsubscribe this principal may not
    make (logs need rpc:read; newHeads only rpc:public); None to go ahead."""
    if not isinstance(call, dict) or call.get("method") not in ("eth_subscribe", "eth_unsubscribe"):
        return None
    params = call.get("params", [])
    refusal = access_refusal(ctx, principal, call["method"], params if isinstance(params, list) else [])
    return None if refusal is None else _error(ctx, request_id(call), UNAUTHORIZED, refusal)


@dataclass
class _Subscription:
    kind: str  # "newHeads" or "logs"
    criteria: LogCriteria | None
    # While a replay from a cursor runs: the newest height it covers, and the logs of later
    # blocks, held back until everything before them has been sent.
    replay_until: int | None = None
    held: list[dict[str, Any]] = field(default_factory=list)


class Subscriptions:
    """Per-WebSocket eth_subscribe state, fed by the node's new-block events.

    `eth_subscribe("logs", {..., "since": "HEIGHT-LOGINDEX"})` (our extension; geth has
    no way to resume) first replays the matching logs after that cursor up to the head,
    then goes on live, so a client that remembers the (blockNumber, logIndex) of the last
    log it handled resumes across its own restarts and the node's with no gap and no
    repeat. Replayed and live logs are sent in chain order.
    """

    def __init__(self, ctx: RpcContext, socket_queue: Outbox, offload: Offload) -> None:
        self.ctx = ctx
        self.queue = socket_queue
        # Runs a replay step as one of the caller's expensive calls (node/rpc/limits.py
        # ExpensiveQueue): a socket's replays wait their turn like its eth_getLogs would.
        self.offload = offload
        self.subs: dict[str, _Subscription] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def subscribe(self, params: list[Any]) -> str:
        if not params or not isinstance(params[0], str):
            raise InvalidParams("expected a subscription name")
        kind = params[0]
        if len(self.subs) >= MAX_SUBSCRIPTIONS_PER_SOCKET:
            raise InvalidParams(f"too many subscriptions on this connection (limit {MAX_SUBSCRIPTIONS_PER_SOCKET})")
        since: Cursor | None = None
        if kind == "newHeads":
            criteria = None
        elif kind == "logs":
            spec = dict(p.obj(params[1], "filter")) if len(params) > 1 else {}
            raw_since = spec.pop("since", None)
            if raw_since is not None:
                if not isinstance(raw_since, str):
                    raise InvalidParams("filter.since: expected a cursor string HEIGHT-LOGINDEX")
                since = Cursor.parse(raw_since)
            criteria = LogCriteria.parse(spec)
        else:
            raise InvalidParams(f"unsupported subscription {kind[:40]!r} (newHeads, logs)")
        sub_id = "0x" + secrets.token_hex(16)
        subscription = _Subscription(kind, criteria)
        self.subs[sub_id] = subscription
        if since is not None:
            subscription.replay_until = self.ctx.node.chain.head.block_number
            task = asyncio.get_running_loop().create_task(self._replay(sub_id, subscription, since))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return sub_id

    async def _replay(self, sub_id: str, subscription: _Subscription, after: Cursor) -> None:
        """Send the logs after `after` up to `replay_until`, then the held live ones."""
        assert subscription.criteria is not None and subscription.replay_until is not None
        height = after.height
        try:
            while height <= subscription.replay_until:
                last = min(height + REPLAY_BLOCKS_PER_READ - 1, subscription.replay_until)
                records = await self.offload(functools.partial(
                    self._logs_between, height, last, subscription.criteria, after))
                for record in records:
                    if self.subs.get(sub_id) is not subscription:
                        return  # unsubscribed meanwhile
                    await self.queue.put(self._notification(sub_id, record))
                height = last + 1
            while subscription.held:
                if self.subs.get(sub_id) is not subscription:
                    return
                await self.queue.put(self._notification(sub_id, subscription.held.pop(0)))
            subscription.replay_until = None  # no await since the last check: nothing slips in
        except LimitExceeded as exc:  # the caller's expensive calls are queued to the cap
            log.warning("replay of log subscription %s from %s refused (%s); subscription ended", sub_id, after, exc)
            self.subs.pop(sub_id, None)
        except Exception:  # a storage error mid-replay: end this subscription, never the socket
            log.exception("replay of log subscription %s from %s failed; subscription ended", sub_id, after)
            self.subs.pop(sub_id, None)

    def _logs_between(self, first: int, last: int, criteria: LogCriteria, after: Cursor) -> list[dict[str, Any]]:
        chain = self.ctx.node.chain
        found = []
        for height in range(first, last + 1):
            header = chain.header_by_number(height)
            if not criteria.may_match_bloom(header.bloom):
                continue
            txs, _ = chain.block_transactions(header)
            for record in block_logs(header, txs, chain.block_receipts(header)):
                if criteria.matches(record) and (record.block_number, record.log_index) > (after.height, after.log_index):
                    found.append(record.to_json())
        return found

    def handle(self, call: Any) -> dict[str, Any] | None:
        """Answer eth_subscribe / eth_unsubscribe (on the event loop); None for other calls."""
        if not isinstance(call, dict) or call.get("method") not in ("eth_subscribe", "eth_unsubscribe"):
            return None
        req_id = request_id(call)
        params = call.get("params", [])
        if not isinstance(params, list):
            return error_response(req_id, INVALID_PARAMS, "invalid params: expected an array")
        try:
            if call["method"] == "eth_subscribe":
                return {"jsonrpc": "2.0", "id": req_id, "result": self.subscribe(params)}
        except InvalidParams as exc:
            return error_response(req_id, INVALID_PARAMS, f"invalid params: {exc}")
        sub_id = params[0] if params else None
        removed = isinstance(sub_id, str) and self.subs.pop(sub_id, None) is not None
        return {"jsonrpc": "2.0", "id": req_id, "result": removed}

    def on_block(self, header: QBFTHeader) -> None:
        if not self.subs:
            return
        logs = None
        for sub_id, subscription in list(self.subs.items()):
            if subscription.kind == "newHeads":
                self._send(sub_id, header_json(header))
                continue
            assert subscription.criteria is not None
            if logs is None:
                txs, _ = self.ctx.node.chain.block_transactions(header)
                logs = block_logs(header, txs, self.ctx.node.chain.block_receipts(header))
            for record in logs:
                if not subscription.criteria.matches(record):
                    continue
                if subscription.replay_until is None:
                    self._send(sub_id, record.to_json())
                elif header.block_number > subscription.replay_until:
                    if len(subscription.held) >= MAX_QUEUED_MESSAGES:
                        # the replay cannot keep up with the chain: end it rather than hold more
                        log.warning("log subscription %s ended: %d live logs held behind its replay",
                                    sub_id, MAX_QUEUED_MESSAGES)
                        self.subs.pop(sub_id, None)
                        break
                    subscription.held.append(record.to_json())

    def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()

    @staticmethod
    def _notification(sub_id: str, result: Any) -> str:
        return json.dumps({"jsonrpc": "2.0", "method": "eth_subscription",
                           "params": {"subscription": sub_id, "result": result}})

    def _send(self, sub_id: str, result: Any) -> None:
        text = self._notification(sub_id, result)
        if self.queue.full() or self.queue.over(len(text)):
            self.subs.clear()  # the client is not reading; stop feeding it
            return
        self.queue.put_nowait(text)
