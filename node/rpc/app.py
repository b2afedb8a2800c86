"""The node's HTTP surface: JSON-RPC 2.0 at POST / (single and batch), WebSocket /ws with
eth_subscribe, /v1/blobs (node/blobs.py), /healthz and /metrics. Errors are mapped to
JSON-RPC codes here only. Who may call what is node/access.py's; it is asked here: a
missing or bad token is HTTP 401, a method the token's role may not call is -40100."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from eth.exceptions import VMError
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from node.access import Authorizer, Principal, is_public_call
from node.blobs import BLOB_DIR, BlobStore, add_blob_routes
from node.errors import (
    ExecutionReverted,
    InvalidParams,
    InvalidTransaction,
    LedgerError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from node.indexes import Cursor
from node.rpc import params as p
from node.rpc.filters import FilterRegistry, LogCriteria
from node.rpc.format import block_logs, header_json
from node.rpc.methods import ROUTES, RpcContext, transaction_sender
from node.rpc.rest import add_rest_routes
from node.service import Node
from node.vm import QBFTHeader

log = logging.getLogger("ledger.rpc")

# geth's limits: a 5 MiB request body and at most 1,000 calls in one batch.
MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_BATCH_CALLS = 1_000
MAX_SUBSCRIPTIONS_PER_SOCKET = 100
# Real calls nest a few levels (batch > call > params > filter > topics); 64 is generous.
MAX_JSON_DEPTH = 64
# A full batch (1,000 calls with filters, topics, access lists) has a few thousand arrays
# and objects; the cap keeps the depth scan of a hostile 5 MiB body to milliseconds.
MAX_JSON_CONTAINERS = 100_000
_DEPTH_TOKENS = re.compile(
    rb'(?P<string>"(?:[^"\\]|\\.)*+")|(?P<open>[\[{]+)|(?P<close>[\]}]+)|(?P<unterminated>")'
)
# Messages queued for a WebSocket client that does not read: notifications beyond this
# end its subscriptions; responses wait (the socket's requests stop being read).
MAX_QUEUED_MESSAGES = 10_000
# Blocks a resumed log subscription reads per step of its replay (in an RPC worker thread).
REPLAY_BLOCKS_PER_READ = 256
# Threads that run RPC handlers, so that a slow call (eth_call, eth_getLogs) does not stall
# the event loop; block production has its own thread.
RPC_WORKER_THREADS = 4

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = (
    -32700, -32600, -32601, -32602, -32603,
)
SERVER_ERROR = -32000
EXECUTION_REVERTED = 3
UNAUTHORIZED = -40100  # Besu's code for a call the token may not make
WS_POLICY_VIOLATION = 1008  # RFC 6455 close code: no valid token on a WebSocket


def error_response(req_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": req_id, "error": error}


def dispatch(ctx: RpcContext, call: Any, principal: Principal | None) -> dict[str, Any] | None:
    """Run one JSON-RPC call object for `principal` (None: no token, rpc:public calls
    only); returns the response (None for a notification)."""
    if not isinstance(call, dict) or call.get("jsonrpc") != "2.0" or not isinstance(call.get("method"), str):
        req_id = call.get("id") if isinstance(call, dict) else None
        return error_response(req_id, INVALID_REQUEST, "invalid request: expected a JSON-RPC 2.0 call object")
    req_id = call.get("id")
    if req_id is not None and not isinstance(req_id, (str, int, float)):
        return error_response(None, INVALID_REQUEST, "invalid request: id must be a string, number or null")
    method = call["method"]
    ctx.node.metrics.rpc_requests.labels(method if method in ROUTES else "unknown").inc()
    route = ROUTES.get(method)
    if route is None:
        ctx.node.metrics.rpc_errors.labels(str(METHOD_NOT_FOUND)).inc()
        return error_response(req_id, METHOD_NOT_FOUND, f"the method {method[:80]} does not exist/is not available")
    handler, required, optional = route
    params = call.get("params", [])
    if not isinstance(params, list):
        return error_response(req_id, INVALID_PARAMS, "invalid params: expected an array")
    if not required <= len(params) <= required + optional:
        expected = str(required) if not optional else f"{required} to {required + optional}"
        return error_response(req_id, INVALID_PARAMS, f"invalid params: expected {expected} arguments, got {len(params)}")
    refusal = access_refusal(ctx, principal, method, params)
    if refusal is not None:
        return _error(ctx, req_id, UNAUTHORIZED, refusal)
    try:
        result = handler(ctx, *params)
    except InvalidParams as exc:
        return _error(ctx, req_id, INVALID_PARAMS, f"invalid params: {exc}")
    except ExecutionReverted as exc:
        return _error(ctx, req_id, EXECUTION_REVERTED, str(exc), p.to_data(exc.data))
    except (InvalidTransaction, PermissionDenied, NotFound) as exc:
        return _error(ctx, req_id, SERVER_ERROR, str(exc))
    except LedgerError as exc:
        return _error(ctx, req_id, SERVER_ERROR, str(exc))
    except VMError as exc:  # a call that cannot start (initcode too large, ...)
        return _error(ctx, req_id, SERVER_ERROR, f"execution failed: {exc}")
    except Exception:
        log.exception("internal error in %s", method)
        return _error(ctx, req_id, INTERNAL_ERROR, "internal error")
    if "id" not in call:
        return None
    return {"jsonrpc": "2.0", "id": req_id, "result": result}


def _error(ctx: RpcContext, req_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    ctx.node.metrics.rpc_errors.labels(str(code)).inc()
    return error_response(req_id, code, message, data)


def access_refusal(ctx: RpcContext, principal: Principal | None, method: str, params: list[Any]) -> str | None:
    """None if `principal` may make the call; else the -40100 error's message."""
    if principal is None:
        return None if is_public_call(method, params) else f"Unauthorized: {method[:80]} needs a bearer token"
    try:
        principal.may_call(method, params, sender_of=lambda tx_hash: transaction_sender(ctx, tx_hash))
    except PermissionDenied as exc:
        return f"Unauthorized: {exc}"
    return None


def only_public_calls(payload: Any) -> bool:
    """Whether every call of a request (single or batch) is one anyone may make."""
    calls = payload if isinstance(payload, list) else [payload]
    return all(isinstance(c, dict) and is_public_call(c.get("method"), c.get("params", [])) for c in calls)


def unauthorized_response(ctx: RpcContext, exc: Unauthenticated) -> JSONResponse:
    """HTTP 401 with a JSON-RPC error body, as Besu answers a request without a valid token."""
    ctx.node.metrics.rpc_errors.labels(str(UNAUTHORIZED)).inc()
    return JSONResponse(error_response(None, UNAUTHORIZED, f"Unauthorized: {exc.reason}"), status_code=401,
                        headers={"WWW-Authenticate": 'Bearer realm="evidence-ledger"'})


class ParseError(ValueError):
    pass


def parse_json(body: bytes | str) -> Any:
    """Strict JSON for untrusted bodies: bounded nesting, finite numbers only.

    The nesting bound is checked before parsing: py-evm raises Python's recursion limit
    so far that the C JSON parser would overflow the stack on deep input and crash the
    process instead of raising RecursionError.
    """
    raw = body.encode() if isinstance(body, str) else body
    containers = raw.count(b"[") + raw.count(b"{")
    if containers > MAX_JSON_CONTAINERS:
        raise ParseError(f"more than {MAX_JSON_CONTAINERS} JSON arrays and objects")
    if containers > MAX_JSON_DEPTH:
        _check_depth(raw)
    try:
        return json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise ParseError(str(exc)[:120]) from None


def _check_depth(raw: bytes) -> None:
    """Raise ParseError if brackets outside strings nest deeper than MAX_JSON_DEPTH.

    One left-to-right pass: a string token consumes its whole string, and a quote that
    does not start a complete string ends the scan (the JSON is invalid anyway), so no
    position is scanned twice, however the body is crafted.
    """
    depth = 0
    for token in _DEPTH_TOKENS.finditer(raw):
        kind = token.lastgroup
        if kind == "open":
            depth += len(token.group())
            if depth > MAX_JSON_DEPTH:
                raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        elif kind == "close":
            depth -= len(token.group())
        elif kind == "unterminated":
            raise ParseError("unterminated string")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def handle_payload(ctx: RpcContext, body: bytes, principal: Principal | None) -> Any:
    """A request body (single call or batch) to a response document (None: nothing to send)."""
    try:
        payload = parse_json(body)
    except ParseError as exc:
        return error_response(None, PARSE_ERROR, f"parse error: {exc}")
    return handle_document(ctx, payload, principal)


def handle_document(ctx: RpcContext, payload: Any, principal: Principal | None) -> Any:
    """A parsed request (single call or batch) to a response document. Without a
    principal (no token where one is required) only rpc:public calls are answered;
    anything else raises Unauthenticated, which the caller turns into HTTP 401."""
    if principal is None and not only_public_calls(payload):
        raise Unauthenticated("this node requires a bearer token (Authorization: Bearer TOKEN)")
    if isinstance(payload, list):
        if not payload:
            return error_response(None, INVALID_REQUEST, "invalid request: empty batch")
        if len(payload) > MAX_BATCH_CALLS:
            return error_response(None, INVALID_REQUEST, f"batch too large: {len(payload)} calls, limit {MAX_BATCH_CALLS}")
        responses = [r for r in (dispatch(ctx, call, principal) for call in payload) if r is not None]
        return responses or None
    return dispatch(ctx, payload, principal)


def subscription_refusal(ctx: RpcContext, principal: Principal, call: Any) -> dict[str, Any] | None:
    """The -40100 response to an eth_subscribe / eth_unsubscribe this principal may not
    make (logs need rpc:read; newHeads only rpc:public); None to go ahead."""
    if not isinstance(call, dict) or call.get("method") not in ("eth_subscribe", "eth_unsubscribe"):
        return None
    params = call.get("params", [])
    refusal = access_refusal(ctx, principal, call["method"], params if isinstance(params, list) else [])
    return None if refusal is None else _error(ctx, call.get("id"), UNAUTHORIZED, refusal)


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

    def __init__(self, ctx: RpcContext, socket_queue: asyncio.Queue[str], workers: ThreadPoolExecutor) -> None:
        self.ctx = ctx
        self.queue = socket_queue
        self.workers = workers
        self.subs: dict[str, _Subscription] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def subscribe(self, params: list[Any]) -> str:
        import secrets

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
        loop = asyncio.get_running_loop()
        height = after.height
        try:
            while height <= subscription.replay_until:
                last = min(height + REPLAY_BLOCKS_PER_READ - 1, subscription.replay_until)
                records = await loop.run_in_executor(
                    self.workers, self._logs_between, height, last, subscription.criteria, after)
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
        req_id = call.get("id")
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
        if self.queue.full():
            self.subs.clear()  # the client is not reading; stop feeding it
            return
        self.queue.put_nowait(self._notification(sub_id, result))


def create_app(node: Node) -> FastAPI:
    ctx = RpcContext(node, FilterRegistry())
    listeners: set[Subscriptions] = set()

    def fan_out(header: QBFTHeader) -> None:
        for subs in list(listeners):
            subs.on_block(header)

    node.on_block(fan_out)
    node.on_transaction(ctx.filters.on_pending_transaction)
    app = FastAPI(title="evidence-ledger node", version="0.1.0")
    workers = ThreadPoolExecutor(max_workers=RPC_WORKER_THREADS, thread_name_prefix="rpc")
    # Role tokens (node/access.py); the REST routes reach it through node.access.principal_for.
    authorizer = Authorizer.from_data_dir(node.config.data_dir, node.config.auth_mode(), node.config.token_issuers)
    app.state.authorizer = authorizer

    @app.post("/")
    async def json_rpc(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return JSONResponse(error_response(None, INVALID_REQUEST, f"request body too large (limit {MAX_BODY_BYTES} bytes)"), status_code=413)
        try:  # before the body is read: a bad token costs the node nothing more
            principal = authorizer.identify(request.headers.get("authorization"), request.query_params.get("token"))
        except Unauthenticated as exc:
            return unauthorized_response(ctx, exc)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return JSONResponse(error_response(None, INVALID_REQUEST, f"request body too large (limit {MAX_BODY_BYTES} bytes)"), status_code=413)
        try:
            result = await asyncio.get_running_loop().run_in_executor(workers, handle_payload, ctx, bytes(body), principal)
        except Unauthenticated as exc:  # no token, and not every call is rpc:public
            return unauthorized_response(ctx, exc)
        if result is None:
            return Response(status_code=204)
        return JSONResponse(result)

    @app.websocket("/ws")
    async def websocket(socket: WebSocket) -> None:
        await socket.accept()
        # The token (Authorization header, or ?token= where a browser cannot set headers)
        # is checked once, at the handshake; accepting first lets the client read why.
        try:
            principal = authorizer.authenticate(socket.headers.get("authorization"), socket.query_params.get("token"))
        except Unauthenticated as exc:
            reason = f"Unauthorized: {exc.reason}".encode()[:120].decode("utf-8", "ignore")  # RFC 6455: <= 123 bytes
            await socket.close(code=WS_POLICY_VIOLATION, reason=reason)
            return
        outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=MAX_QUEUED_MESSAGES)
        subs = Subscriptions(ctx, outbox, workers)
        loop = asyncio.get_running_loop()
        listeners.add(subs)

        async def writer() -> None:
            while True:
                await socket.send_text(await outbox.get())

        writer_task = asyncio.create_task(writer())
        try:
            while True:
                message = await socket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text") or (message.get("bytes") or b"").decode("utf-8", "replace")
                if len(text) > MAX_BODY_BYTES:
                    response: Any = error_response(None, INVALID_REQUEST, "message too large")
                else:
                    try:
                        call = parse_json(text)
                    except ParseError as exc:
                        call, response = None, error_response(None, PARSE_ERROR, f"parse error: {exc}")
                    else:
                        response = subscription_refusal(ctx, principal, call) or subs.handle(call)
                        if response is None:
                            response = await loop.run_in_executor(workers, handle_document, ctx, call, principal)
                if response is not None:  # a notification (no id) is not answered
                    await outbox.put(json.dumps(response))
        except WebSocketDisconnect:
            pass
        finally:
            listeners.discard(subs)
            subs.close()
            writer_task.cancel()

    # Content-addressed ciphertext (sealed envelopes) under the data directory.
    add_blob_routes(app, BlobStore(node.config.data_dir / BLOB_DIR), authorizer)
    # Contracts, evidence, commitments and the feed, from the event indexes.
    add_rest_routes(app, node)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        head = node.chain.head
        return {"status": "ok", "height": head.block_number, "hash": "0x" + head.hash.hex(),
                "validator": node.is_validator, "chainId": node.genesis.chain_id, "auth": authorizer.mode}

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        ready, queued = node.pool.counts()
        node.metrics.pool_ready.set(ready)
        node.metrics.pool_queued.set(queued)
        return PlainTextResponse(node.metrics.render().decode(), media_type="text/plain; version=0.0.4")

    return app
