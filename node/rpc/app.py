"""The node's HTTP surface: JSON-RPC 2.0 at POST / (single and batch), WebSocket /ws with
eth_subscribe, the REST routes under /v1/ with the blob store's (node/rpc/rest/), /healthz,
/metrics, and the web console at GET / with /docs (node/web/). The protocol is
node/rpc/jsonrpc.py's; this module is the transport: it reads bodies, asks
node/access/http.py who is calling, and hands the work to the worker pools.

Cheap calls are answered in one pool; a request holding an expensive call
(node/rpc/limits.py) waits its turn per caller for the expensive pool; the event loop
moves bytes, runs /healthz and parses small bodies (INLINE_PARSE_BYTES) to route them.
Consensus does not run here at all (node/ops/runner.py).
"""
from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.requests import ClientDisconnect, HTTPConnection

from node.access.http import Authorizer, Principal
from node.access.session import CsrfRefused
from node.errors import LimitExceeded, Unauthenticated
from node.execution.vm import QBFTHeader
from node.rpc.callstates import CallStates
from node.rpc.context import RpcContext
from node.rpc.filters import FilterRegistry
from node.rpc.jsonrpc import (
    INVALID_REQUEST,
    LIMIT_EXCEEDED,
    MAX_BODY_BYTES,
    PARSE_ERROR,
    UNAUTHORIZED,
    Deferred,
    ParseError,
    answer_document,
    encode,
    error_response,
    first_pass,
    is_expensive,
    limit_data,
    parse_json,
    request_id,
    require_token,
)
from node.rpc.limits import ExpensiveQueue, GasBuckets, caller_key
from node.rpc.origin import OriginMiddleware, OriginPolicy, same_origin
from node.rpc.rest.routes import add_blob_routes, add_rest_routes
from node.rpc.subscriptions import Outbox, Subscriptions, subscription_refusal
from node.service import Node
from node.storage.blobs import BLOB_DIR, BlobQuota, BlobStore
from node.storage.members import MemberQuota
from node.web.routes import add_web_routes, with_bearer_scheme

log = logging.getLogger("ledger.rpc")

# Threads that parse requests and run the cheap calls, and threads that run the expensive
# ones. Python runs one thread at a time, so two expensive threads are as fast as more,
# and leave the consensus thread (node/ops/runner.py) its share of the interpreter.
RPC_WORKER_THREADS = 4
EXPENSIVE_WORKER_THREADS = 2
# How often an open WebSocket's token is verified again, so that a revoked or expired token
# loses its connection (and subscriptions) within this many seconds.
TOKEN_RECHECK_SECONDS = 5.0
# Bodies (and WebSocket messages) up to this size are parsed on the event loop rather than
# in a worker: parsing 2 KiB of JSON takes ~10-20 us, less than the thread hop it saves
# (~0.1 ms of CPU measured per hop), so an eth_call reaches the expensive pool in one hop
# instead of two. A single call is ~100-500 bytes; larger bodies (batches) still go to a
# worker, so the loop never parses more than this at a time.
INLINE_PARSE_BYTES = 2048
WS_POLICY_VIOLATION = 1008  # RFC 6455 close code: no valid token on a WebSocket
WS_TRY_AGAIN_LATER = 1013  # RFC 6455 (IANA registry): a connection cap was reached


def unauthorized_response(ctx: RpcContext, exc: Unauthenticated) -> JSONResponse:
    """HTTP 401 with a JSON-RPC error body, as Besu answers a request without a valid token."""
    ctx.node.metrics.rpc_errors.labels(str(UNAUTHORIZED)).inc()
    return JSONResponse(error_response(None, UNAUTHORIZED, f"Unauthorized: {exc.reason}"), status_code=401,
                        headers={"WWW-Authenticate": 'Bearer realm="evidence-ledger"'})


def limit_response(ctx: RpcContext, exc: LimitExceeded) -> Response:
    """HTTP 429 with a -32005 JSON-RPC error body, for a request refused whole."""
    ctx.node.metrics.rpc_errors.labels(str(LIMIT_EXCEEDED)).inc()
    headers = {"Retry-After": str(max(1, round(exc.retry_after)))} if exc.retry_after else {}
    return Response(encode(error_response(None, LIMIT_EXCEEDED, str(exc), limit_data(exc))), status_code=429,
                    media_type="application/json", headers=headers)


def caller_of(connection: HTTPConnection, principal: Principal | None, *, per_connection: bool = True) -> str:
    """Whom a request's costs are charged to (node/rpc/limits.py caller_key): its token;
    without one, its connection (filters) or its client address (gas, sockets)."""
    client = connection.client
    token_id = principal.token_id if principal is not None else None
    port = client.port if client and per_connection else None
    return caller_key(token_id, client.host if client else None, port)


class SocketCount:
    """Open WebSockets, per caller and in all (on the event loop)."""

    def __init__(self, per_caller: int, total: int) -> None:
        self.per_caller = per_caller
        self.total = total
        self._open: dict[str, int] = {}

    def open(self, caller: str) -> None:
        if sum(self._open.values()) >= self.total:
            raise LimitExceeded("max_websockets", self.total, "this node has too many open WebSockets")
        if self._open.get(caller, 0) >= self.per_caller:
            raise LimitExceeded("websockets_per_caller", self.per_caller, "this caller has too many open WebSockets")
        self._open[caller] = self._open.get(caller, 0) + 1

    def close(self, caller: str) -> None:
        left = self._open.get(caller, 1) - 1
        if left > 0:
            self._open[caller] = left
        else:
            self._open.pop(caller, None)


def create_app(node: Node) -> FastAPI:
    limits = node.config.limits
    # eth_call / eth_estimateGas at the head reuse a reverted state (node/rpc/callstates.py).
    call_states = CallStates(node.chain.state_at, lambda: node.chain.head, keep=limits.call_states_kept)
    ctx = RpcContext(node, FilterRegistry(per_owner=limits.filters_per_caller), limits,
                     GasBuckets(limits.caller_gas_per_second, limits.caller_gas_burst), call_states=call_states)
    listeners: set[Subscriptions] = set()

    def fan_out(header: QBFTHeader) -> None:
        for subs in list(listeners):
            subs.on_block(header)

    node.on_block(fan_out)
    node.on_transaction(ctx.filters.on_pending_transaction)
    # /docs is node/web's, with Swagger UI's assets vendored (no CDN); ReDoc would need one.
    app = FastAPI(title="evidence-ledger node", version="0.1.0", docs_url=None, redoc_url=None)
    # Host and Origin checks before any route runs: a web page cannot drive the node (node/rpc/origin.py).
    app.add_middleware(OriginMiddleware, policy=OriginPolicy.parse(
        node.config.http_vhosts, node.config.http_corsdomain, node.config.ws_origins))
    workers = ThreadPoolExecutor(max_workers=RPC_WORKER_THREADS, thread_name_prefix="rpc")
    expensive = ThreadPoolExecutor(max_workers=EXPENSIVE_WORKER_THREADS, thread_name_prefix="rpc-expensive")
    app.state.rpc_pools = (workers, expensive)  # shut down by node/ops/runner.py before the store closes
    queue = ExpensiveQueue(limits)
    sockets = SocketCount(limits.websockets_per_caller, limits.max_websockets)
    # Role tokens (node/access/http.py); the REST routes reach it through node.access.http.principal_for.
    authorizer = Authorizer.from_data_dir(node.config.data_dir, node.config.auth_mode(), node.config.token_issuers)
    app.state.authorizer = authorizer

    async def answer(request_ctx: RpcContext, body: bytes | str, principal: Principal | None) -> bytes | None:
        """A request body to its encoded answer: cheap ones in one hop, expensive ones
        after waiting their turn. Raises Unauthenticated and LimitExceeded."""
        if len(body) <= INLINE_PARSE_BYTES:  # parsed here: one hop fewer (the constant's comment)
            try:
                payload = parse_json(body)
            except ParseError as exc:
                return encode(error_response(None, PARSE_ERROR, f"parse error: {exc}"))
            require_token(payload, principal)
            return await answer_parsed(request_ctx, payload, principal)
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(workers, first_pass, request_ctx, body, principal)
        if not isinstance(result, Deferred):
            return result
        return await answer_parsed(request_ctx, result.payload, principal)

    async def answer_parsed(request_ctx: RpcContext, payload: Any, principal: Principal | None) -> bytes | None:
        loop = asyncio.get_running_loop()
        if not is_expensive(payload):
            return await loop.run_in_executor(workers, answer_document, request_ctx, payload, principal)

        async def job() -> bytes | None:
            node.metrics.rpc_expensive_running.inc()
            try:
                return await loop.run_in_executor(expensive, answer_document, request_ctx, payload, principal)
            finally:
                node.metrics.rpc_expensive_running.dec()

        return await queue.run(request_ctx.caller, job)

    @app.post("/")
    async def json_rpc(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return JSONResponse(error_response(None, INVALID_REQUEST, f"request body too large (limit {MAX_BODY_BYTES} bytes)"), status_code=413)
        try:  # before the body is read: a bad token (or a missing CSRF header) costs the node nothing more
            principal = authorizer.identify_request(request)
        except Unauthenticated as exc:
            return unauthorized_response(ctx, exc)
        except CsrfRefused as exc:  # a write by session cookie without its X-CSRF-Token: the call never runs
            return JSONResponse({"error": str(exc)}, status_code=403)
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    return JSONResponse(error_response(None, INVALID_REQUEST, f"request body too large (limit {MAX_BODY_BYTES} bytes)"), status_code=413)
        except ClientDisconnect:  # gone before its body arrived: nobody to answer
            return Response(status_code=400)
        try:
            request_ctx = ctx.for_caller(caller_of(request, principal, per_connection=False), caller_of(request, principal))
            result = await answer(request_ctx, bytes(body), principal)
        except Unauthenticated as exc:  # no token, and not every call is rpc:public
            return unauthorized_response(ctx, exc)
        except LimitExceeded as exc:
            return limit_response(ctx, exc)
        if result is None:
            return Response(status_code=204)
        return Response(result, media_type="application/json")

    @app.websocket("/ws")
    async def websocket(socket: WebSocket) -> None:
        await socket.accept()
        # The token (Authorization header, ?token= where a browser cannot set headers, or
        # the console's session cookie) is checked at the handshake, before every message
        # and every TOKEN_RECHECK_SECONDS: a revoked or expired token loses the connection.
        # The cookie counts only from the node's own pages (or no page): a handshake is a
        # GET and a message carries no header, so no CSRF value can guard them, and a page
        # of a --ws-origins origin (same host name, another port: the same site, so the
        # browser sends the cookie) would otherwise act with the console user's role. The
        # console never opens /ws; from elsewhere a cookie is no credential, and a node
        # that requires tokens closes the socket.
        try:
            credential = authorizer.credential(socket)
            if credential is not None and credential.source == "cookie" and not same_origin(socket.scope):
                credential = None
            principal = (authorizer.principal_of(credential) if credential is not None
                         else authorizer.authenticate(None, None))
        except Unauthenticated as exc:
            await _close(socket, WS_POLICY_VIOLATION, f"Unauthorized: {exc.reason}")
            return
        caller = caller_of(socket, principal, per_connection=False)  # gas and sockets: token or client
        connection = caller_of(socket, principal)  # filters: token or this connection
        try:
            sockets.open(caller)
        except LimitExceeded as exc:
            await _close(socket, WS_TRY_AGAIN_LATER, str(exc))
            return
        node.metrics.rpc_websockets.inc()
        outbox = Outbox()

        async def offload(fn: Callable[[], Any]) -> Any:
            loop = asyncio.get_running_loop()
            return await queue.run(caller, lambda: loop.run_in_executor(expensive, fn))

        subs = Subscriptions(ctx, outbox, offload)
        listeners.add(subs)

        async def writer() -> None:
            while True:
                await socket.send_text(await outbox.get())

        async def watch_token() -> None:
            while True:
                await asyncio.sleep(TOKEN_RECHECK_SECONDS)
                if token_refusal() is not None:
                    return

        def token_refusal() -> str | None:
            if credential is None:
                return None
            try:
                authorizer.principal_of(credential)
            except Unauthenticated as exc:
                return f"Unauthorized: {exc.reason}"
            return None

        async def socket_answer(text: str) -> bytes | None:
            try:
                call = (parse_json(text) if len(text) <= INLINE_PARSE_BYTES
                        else await asyncio.get_running_loop().run_in_executor(workers, parse_json, text))
            except ParseError as exc:
                return encode(error_response(None, PARSE_ERROR, f"parse error: {exc}"))
            handled = subscription_refusal(ctx, principal, call) or subs.handle(call)
            if handled is not None:
                return encode(handled)
            try:
                return await answer_parsed(ctx.for_caller(caller, connection), call, principal)
            except LimitExceeded as exc:
                return encode(error_response(request_id(call), LIMIT_EXCEEDED, str(exc), limit_data(exc)))

        writer_task = asyncio.create_task(writer())
        watcher = asyncio.create_task(watch_token())
        receiver: asyncio.Future[Any] | None = None
        try:
            while True:
                if receiver is None:
                    receiver = asyncio.ensure_future(socket.receive())
                await asyncio.wait({receiver, watcher}, return_when=asyncio.FIRST_COMPLETED)
                refusal = token_refusal()
                if refusal is not None:
                    await _close(socket, WS_POLICY_VIOLATION, refusal)
                    break
                if not receiver.done():
                    continue
                message, receiver = receiver.result(), None
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text") or (message.get("bytes") or b"").decode("utf-8", "replace")
                if len(text) > MAX_BODY_BYTES:
                    response: bytes | None = encode(error_response(None, INVALID_REQUEST, "message too large"))
                else:
                    response = await socket_answer(text)
                if response is not None:  # a notification (no id) is not answered
                    if outbox.over(len(response)):
                        await _close(socket, WS_TRY_AGAIN_LATER, "the client does not read its answers "
                                     f"({outbox.bytes} bytes waiting)")
                        break
                    await outbox.put(response.decode())
        except WebSocketDisconnect:
            pass
        finally:
            if receiver is not None:
                receiver.cancel()
            sockets.close(caller)
            node.metrics.rpc_websockets.dec()
            listeners.discard(subs)
            subs.close()
            writer_task.cancel()
            watcher.cancel()

    async def _close(socket: WebSocket, code: int, reason: str) -> None:
        reason = reason.encode()[:120].decode("utf-8", "ignore")  # RFC 6455: <= 123 bytes
        try:
            await socket.close(code=code, reason=reason)
        except RuntimeError:
            pass  # already closed by the client

    # Content-addressed ciphertext (sealed envelopes) under the data directory.
    quota = BlobQuota(max_bytes=limits.blob_store_bytes, max_blobs=limits.blob_store_count,
                      caller_bytes=limits.blob_caller_bytes, caller_blobs=limits.blob_caller_count,
                      min_free_bytes=limits.blob_min_free_bytes)
    add_blob_routes(app, BlobStore(node.config.data_dir / BLOB_DIR, quota=quota), authorizer)
    # Contracts, evidence, commitments and the feed, from the event indexes.
    add_rest_routes(app, node, max_feed_streams=limits.max_feed_streams,
                    feed_streams_per_caller=limits.feed_streams_per_caller,
                    member_quota=MemberQuota(store_bytes=limits.member_store_bytes,
                                             caller_bytes=limits.member_caller_bytes,
                                             min_free_bytes=limits.blob_min_free_bytes))

    # The console (GET / and its assets), /docs with a bearer-token field (node/web/).
    add_web_routes(app, node.genesis.document)
    rest_document = app.openapi
    app.openapi = functools.cache(lambda: with_bearer_scheme(rest_document()))  # type: ignore[method-assign]

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        head = node.chain.head
        return {"status": "ok", "height": head.block_number, "hash": "0x" + head.hash.hex(),
                "validator": node.is_validator, "chainId": node.genesis.chain_id, "auth": authorizer.mode}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        ready, queued = node.pool.counts()
        node.metrics.pool_ready.set(ready)
        node.metrics.pool_queued.set(queued)
        return PlainTextResponse(node.metrics.render().decode(), media_type="text/plain; version=0.0.4")

    return app
