"""JSON-RPC 2.0 over any transport: parse an untrusted body, check each call against the
caller's token, run it, map our errors to JSON-RPC codes (here only), and encode the answer.

A request is answered in two steps so that cheap calls never wait behind expensive ones
(node/rpc/limits.py): `first_pass` (in an RPC worker thread) parses the body and answers it
right away unless it holds an expensive call; such a request comes back as `Deferred` and
`answer_document` runs it later in the expensive pool. Encoding happens in those threads
too, never on the event loop: a large answer costs a worker, not the node's I/O.
"""
from __future__ import annotations

import contextlib
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from eth.exceptions import VMError

from node.access.http import Principal
from node.access.roles import RPC_SEND, is_public_call
from node.api import MAX_BATCH_CALLS, UNAUTHORIZED
from node.errors import (
    ExecutionReverted,
    InvalidParams,
    InvalidTransaction,
    LimitExceeded,
    NodeError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from node.rpc import params as p
from node.rpc.context import RpcContext
from node.rpc.limits import EXPENSIVE_METHODS
from node.rpc.methods import ROUTES, transaction_sender
from node.rpc.rawjson import EncodedJSON

log = logging.getLogger("ledger.rpc")

# geth's limits: a 5 MiB request body and at most 1,000 calls in one batch (node/api.py's
# MAX_BATCH_CALLS, which clients read).
MAX_BODY_BYTES = 5 * 1024 * 1024
# Real calls nest a few levels (batch > call > params > filter > topics); 64 is generous.
MAX_JSON_DEPTH = 64
# A full batch (1,000 calls with filters, topics, access lists) has a few thousand arrays
# and objects; the cap keeps the depth scan of a hostile 5 MiB body to milliseconds.
MAX_JSON_CONTAINERS = 100_000
_DEPTH_TOKENS = re.compile(
    rb'(?P<string>"(?:[^"\\]|\\.)*+")|(?P<open>[\[{]+)|(?P<close>[\]}]+)|(?P<unterminated>")'
)
# The largest answer the node encodes (geth's --rpc.batch-response-max-size): a batch is
# cut with -32005 errors once its responses reach it, a single call answered with one.
MAX_RESPONSE_BYTES = 25 * 1024 * 1024

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = (
    -32700, -32600, -32601, -32602, -32603,
)
SERVER_ERROR = -32000
LIMIT_EXCEEDED = -32005  # EIP-1474
EXECUTION_REVERTED = 3


def error_response(req_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": req_id, "error": error}


def dispatch(ctx: RpcContext, call: Any, principal: Principal | None) -> dict[str, Any] | None:
    """Run one JSON-RPC call object for `principal` (None: no token, rpc:public calls
    only); returns the response (None for a notification)."""
    if not isinstance(call, dict) or call.get("jsonrpc") != "2.0" or not isinstance(call.get("method"), str):
        return error_response(request_id(call), INVALID_REQUEST, "invalid request: expected a JSON-RPC 2.0 call object")
    req_id = call.get("id")
    if not is_valid_id(req_id):
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
    except LimitExceeded as exc:
        return _error(ctx, req_id, LIMIT_EXCEEDED, str(exc), limit_data(exc))
    except (InvalidTransaction, PermissionDenied, NotFound) as exc:
        return _error(ctx, req_id, SERVER_ERROR, str(exc))
    except NodeError as exc:
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


class ParseError(NodeError, ValueError):
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


def is_valid_id(value: Any) -> bool:
    """A JSON-RPC 2.0 id: a string, a number or null (a JSON true is not a number)."""
    return value is None or isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool))


def request_id(call: Any) -> Any:
    """The id to answer `call` with: its own if it is a valid one, else null."""
    value = call.get("id") if isinstance(call, dict) else None
    return value if is_valid_id(value) else None


def limit_data(exc: LimitExceeded) -> dict[str, Any]:
    """The `data` of a -32005 error: which cap, its value, and when to retry."""
    data: dict[str, Any] = {"limit": exc.limit, "allowed": exc.allowed}
    if exc.retry_after is not None:
        data["retryAfter"] = round(exc.retry_after, 1)
    return data


def require_token(payload: Any, principal: Principal | None) -> None:
    """Without a principal (no token where one is required) only rpc:public calls are
    answered; anything else raises Unauthenticated, which the transport makes HTTP 401."""
    if principal is None and not only_public_calls(payload):
        raise Unauthenticated("this node requires a bearer token (Authorization: Bearer TOKEN)")


def is_expensive(payload: Any) -> bool:
    """Whether a request (single call or batch) holds a call of EXPENSIVE_METHODS."""
    calls = payload if isinstance(payload, list) else [payload]
    return any(isinstance(c, dict) and isinstance(c.get("method"), str) and c["method"] in EXPENSIVE_METHODS
               for c in calls)


def encode(document: Any) -> bytes:
    """A response document as JSON bytes. ASCII-only output: a lone surrogate echoed from
    a request id or method name becomes a \\u escape instead of failing to encode.

    A result that is already JSON (EncodedJSON, eth_getLogs' pre-encoded logs) is spliced
    in as it is, never parsed: the document is encoded with a null in its place (the
    result is the last member of every response `dispatch` builds) and the null swapped
    for the bytes."""
    result = document.get("result") if isinstance(document, dict) else None
    if isinstance(result, EncodedJSON):
        text = json.dumps({**document, "result": None}, separators=(",", ":"), allow_nan=False).encode()
        if text.endswith(_NULL_RESULT_END):
            return text[:-len(_NULL_RESULT_END)] + b'"result":' + result.data + b"}"
        return encode({**document, "result": result.value()})  # never for dispatch's responses
    return json.dumps(document, separators=(",", ":"), allow_nan=False).encode()


_NULL_RESULT_END = b'"result":null}'


@dataclass(frozen=True)
class Deferred:
    """A parsed request that holds an expensive call: answer it in the expensive pool."""

    payload: Any


def first_pass(ctx: RpcContext, body: bytes | str, principal: Principal | None) -> bytes | Deferred | None:
    """In an RPC worker: parse `body` and answer it (encoded; None when nothing is to be
    sent back) unless it holds an expensive call, which comes back as Deferred.
    Unauthenticated propagates (HTTP 401)."""
    try:
        payload = parse_json(body)
    except ParseError as exc:
        return encode(error_response(None, PARSE_ERROR, f"parse error: {exc}"))
    require_token(payload, principal)
    if is_expensive(payload):
        return Deferred(payload)
    return answer_document(ctx, payload, principal)


def answer_document(ctx: RpcContext, payload: Any, principal: Principal | None) -> bytes | None:
    """A parsed request (single call or batch) to its encoded answer, at most
    MAX_RESPONSE_BYTES (None: nothing to send back)."""
    require_token(payload, principal)
    if not isinstance(payload, list):
        response = dispatch(ctx, payload, principal)
        if response is None:
            return None
        encoded = encode(response)
        if len(encoded) > MAX_RESPONSE_BYTES:
            encoded = encode(_too_large(ctx, response.get("id")))
        return encoded
    if not payload:
        return encode(error_response(None, INVALID_REQUEST, "invalid request: empty batch"))
    if len(payload) > MAX_BATCH_CALLS:
        return encode(error_response(None, INVALID_REQUEST, f"batch too large: {len(payload)} calls, limit {MAX_BATCH_CALLS}"))
    parts: list[bytes] = []
    size = 2
    # The batch's transactions are decoded and their senders recovered in one round trip
    # to the precheck worker, on the other core (node/execution/precheck.py).
    raws = raw_transactions(payload, principal)
    with ctx.node.prechecked(raws) if raws else contextlib.nullcontext():
        for call in payload:
            if size > MAX_RESPONSE_BYTES:  # geth: the calls after the cap are answered with errors
                answer: dict[str, Any] | None = _too_large(ctx, request_id(call))
            else:
                answer = dispatch(ctx, call, principal)
            if answer is None:
                continue
            part = encode(answer)
            if size + len(part) > MAX_RESPONSE_BYTES:
                part = encode(_too_large(ctx, answer.get("id")))
            parts.append(part)
            size += len(part) + 1
    return b"[" + b",".join(parts) + b"]" if parts else None


def raw_transactions(payload: list[Any], principal: Principal | None) -> list[bytes]:
    """The raw transactions of a batch's eth_sendRawTransaction calls (Node.prechecked);
    a malformed one is left to its call, which answers with its own error. None for a
    caller who may not send at all: its calls are refused one by one, and a batch of them
    must not keep the worker (and so the second core) busy for nothing."""
    if principal is None or not principal.may(RPC_SEND):
        return []
    raws: list[bytes] = []
    for call in payload:
        if isinstance(call, dict) and call.get("method") == "eth_sendRawTransaction":
            params = call.get("params")
            if isinstance(params, list) and len(params) == 1:
                try:
                    raws.append(p.data(params[0], "transaction"))
                except InvalidParams:
                    pass
    return raws


def _too_large(ctx: RpcContext, req_id: Any) -> dict[str, Any]:
    exc = LimitExceeded("MAX_RESPONSE_BYTES", MAX_RESPONSE_BYTES, "the answer is too large; ask for less")
    return _error(ctx, req_id, LIMIT_EXCEEDED, str(exc), limit_data(exc))
