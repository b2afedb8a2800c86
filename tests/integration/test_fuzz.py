"""A bounded fuzz suite for the node's HTTP surface, against a real `--dev` node process.

JSON-RPC: calls for every method of the route table (node.rpc.methods.ROUTES), batches,
raw-body mutations and a few WebSocket sessions, built by Hypothesis from
tests/integration/fuzz_strategies.py. The REST API: fuzzed from the node's own OpenAPI
document by Schemathesis. After every example: no HTTP 5xx, every answer well-formed
JSON-RPC (result xor error, an integer code, the id echoed), no -32603 "internal error"
(an exception no handler expected), the node process alive and `/healthz` answering.

tests/integration/test_bad_input.py pins the exact error for each hand-picked bad input;
this file looks for the inputs nobody picked. Runs are reproducible and bounded: a fixed
number of examples, derandomized (the same examples every run), no example database,
no shrinking (a failure prints the request that caused it). `LEDGER_FUZZ_DEEP=1` runs ten
times the examples, randomized and shrunk, to look further by hand.

The node runs with `--auth required`: each example goes with the token of a role drawn
with it (ADMIN most often, which may call everything; PARTY, bound to an address;
REGULATOR; AUDITOR), with no token, or with a forged one, so the access checks see the
hostile input too.
"""
from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import requests
import schemathesis
import websockets
from eth_account import Account
from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from hypothesis.errors import HypothesisException
from schemathesis import GenerationMode, checks as sc

from node.access.tokens import TokenStore
from node.rpc.jsonrpc import INTERNAL_ERROR
from node.rpc.methods import ROUTES
from tests.integration import fuzz_strategies as fs
from tests.integration.nodeproc import NodeProcess, free_port

pytestmark = pytest.mark.slow

# -- bounds ------------------------------------------------------------------------------------
# A request not answered in this long counts as a hung node. Not a timing assertion: the
# node's own caps keep an honest answer far below it (a request's gas, 10M, is ~4 s of
# py-evm here, ~10 s on a loaded 2-core CI machine); what exceeds it is work no cap bounds.
REQUEST_DEADLINE_SECONDS = 30.0
# After every example /healthz must answer 200 within this long (polled, not slept).
HEALTH_DEADLINE_SECONDS = 10.0
HEALTH_POLL_TIMEOUT_SECONDS = 2.0
WS_DEADLINE_SECONDS = 30.0
# Examples per test, sized so the file runs in about 90 s on a 2-core machine: with ~50
# methods the per-method count dominates the run.
EXAMPLES_PER_METHOD = 14
BATCH_EXAMPLES = 30
RAW_BODY_EXAMPLES = 60
WS_EXAMPLES = 12
REST_EXAMPLES_PER_OPERATION = 20
# Schemathesis's own seed (its generation is seeded per operation from it).
REST_SEED = 20261207
# The REST routes of node/rpc/rest/routes.py ROUTES plus /healthz and /metrics: fewer
# operations in the document means routes went missing from it.
REST_MIN_OPERATIONS = 16
FEED_EXAMPLES = 20
# The token lifetime of the fuzz roles: the run is minutes, a day leaves margin for a debugger.
TOKEN_TTL_SECONDS = 86_400
MINE_DEADLINE_SECONDS = 30.0

DEEP = os.environ.get("LEDGER_FUZZ_DEEP") == "1"
DEEP_FACTOR = 10


def bounded(examples: int) -> settings:
    """CI: `examples` derandomized examples, no database, no shrinking; DEEP: more, random, shrunk."""
    phases = (Phase.explicit, Phase.generate, Phase.shrink) if DEEP else (Phase.explicit, Phase.generate)
    return settings(
        max_examples=examples * (DEEP_FACTOR if DEEP else 1),
        derandomize=not DEEP,
        database=None,
        deadline=None,  # the node's answer time is bounded by REQUEST_DEADLINE_SECONDS instead
        phases=phases,
        print_blob=False,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),  # slow, large examples are the point
    )


# Who makes a request: a role's token, no token (None) or a forged one. ADMIN most often:
# it may call everything, so its calls reach the handlers.
CALLERS = ("ADMIN", "ADMIN", "ADMIN", "ADMIN", "PARTY", "REGULATOR", "AUDITOR", None, "forged")
FORGED_TOKEN = "eyJhbGciOiJFZERTQSJ9.eyJyb2xlIjoiQURNSU4ifQ.c2lnbmF0dXJl"


# -- the node under fuzz ---------------------------------------------------------------------------

@dataclass
class Target:
    """The dev node, the tokens of the fuzz roles, and what its chain holds. A node an
    example killed is replaced before the next test, so one crash fails one test."""

    base: Path
    node: NodeProcess | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    known: fs.Known | None = None
    starts: int = 0

    def live(self) -> Target:
        if self.node is not None and self.node.proc is not None and self.node.proc.poll() is None:
            return self
        if self.node is not None:
            self.node.stop()
        self.starts += 1
        self.node = NodeProcess(self.base / f"data{self.starts}", free_port(), auth="required").start()
        store = TokenStore(self.node.data_dir)
        dev = bytes.fromhex(self.node.dev_address[2:])
        self.tokens = {role: store.issue(role, f"fuzz {role}", dev if role == "PARTY" else None, TOKEN_TTL_SECONDS)[0]
                       for role in ("ADMIN", "PARTY", "REGULATOR", "AUDITOR")}
        self.known = seed_chain(self)
        return self

    def stop(self) -> None:
        if self.node is not None:
            self.node.stop()

    def retire(self) -> str:
        """SIGKILL a node that hung (it may be burning CPU on the request that failed) so the
        next test starts a fresh one; returns its state and log tail for the failure message."""
        state = node_state(self)
        if self.node is not None:
            self.node.kill()
        return state

    def headers(self, caller: str | None) -> dict[str, str]:
        if caller is None:
            return {}
        token = FORGED_TOKEN if caller == "forged" else self.tokens[caller]
        return {"Authorization": f"Bearer {token}"}

    @property
    def url(self) -> str:
        assert self.node is not None
        return self.node.url


# No keep-alive: one bad exchange (a 500 that drops the socket) cannot spoil the next.
HTTP = httpx.Client(timeout=httpx.Timeout(REQUEST_DEADLINE_SECONDS, connect=5.0),
                    limits=httpx.Limits(max_keepalive_connections=0))


def admin_call(target: Target, method: str, *params: Any) -> Any:
    body = fs.encode({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    reply = HTTP.post(target.url, content=body, headers={"content-type": "application/json", **target.headers("ADMIN")})
    doc = reply.json()
    assert "result" in doc, f"{method}{list(params)!r}: {doc}"
    return doc["result"]


def seed_chain(target: Target) -> fs.Known:
    """Mine one transfer and install one filter of each kind, so that fuzzed calls can
    name a real transaction, block and filter; sign a few raw transactions to mutate."""
    node = target.node
    assert node is not None
    account = Account.from_key(node.dev_key)
    recipient = "0x" + "22" * 20

    def signed(nonce: int, **overrides: Any) -> str:
        tx = {"nonce": nonce, "gasPrice": 0, "gas": 21_000, "to": recipient, "value": 1, "chainId": node.chain_id}
        tx.update(overrides)
        tx = {k: v for k, v in tx.items() if v is not None}
        return "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()

    tx_hash = admin_call(target, "eth_sendRawTransaction", signed(0))
    deadline = time.monotonic() + MINE_DEADLINE_SECONDS
    receipt = None
    while receipt is None:
        assert time.monotonic() < deadline, "the seeding transfer was not mined"
        receipt = admin_call(target, "eth_getTransactionReceipt", tx_hash)
        if receipt is None:
            time.sleep(0.1)
    genesis = admin_call(target, "eth_getBlockByNumber", "earliest", False)["hash"]
    validator = admin_call(target, "ledger_nodeStatus")["address"]
    filter_ids = (admin_call(target, "eth_newFilter", {"fromBlock": "earliest"}),
                  admin_call(target, "eth_newBlockFilter"), admin_call(target, "eth_newPendingTransactionFilter"))
    raw = (signed(1), signed(1, value=10**30), signed(7, gas=30_000_000, data=b"\x01" * 64),
           signed(1, chainId=1), signed(1, type=2, gasPrice=None, maxFeePerGas=0, maxPriorityFeePerGas=0))
    return fs.Known(
        addresses=tuple(a for a in (node.dev_address, validator, recipient) if a),
        transaction_hashes=(tx_hash,),
        block_hashes=(genesis, receipt["blockHash"]),
        filter_ids=filter_ids,
        raw_transactions=raw,
    )


@pytest.fixture(scope="module")
def target_holder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    holder = Target(tmp_path_factory.mktemp("fuzz"))
    try:
        yield holder
    finally:
        holder.stop()


@pytest.fixture
def target(target_holder: Target) -> Target:
    return target_holder.live()


# -- what must hold after every example --------------------------------------------------------------

def describe(body: bytes, limit: int = 600) -> str:
    text = body.decode("utf-8", "backslashreplace")
    return text if len(text) <= limit else text[:limit] + f"... ({len(body)} bytes)"


def node_state(target: Target) -> str:
    node = target.node
    code = node.proc.poll() if node and node.proc else None
    return f"node exit code {code} (None: running); log tail:\n{node.log_text()[-1500:] if node else ''}"


def assert_node_healthy(target: Target, after: str) -> None:
    """The process is alive and /healthz answers 200 within HEALTH_DEADLINE_SECONDS."""
    node = target.node
    assert node is not None and node.proc is not None
    deadline = time.monotonic() + HEALTH_DEADLINE_SECONDS
    last = "no attempt"
    while True:
        if node.proc.poll() is not None:
            pytest.fail(f"the node process died after {after}\n{node_state(target)}")
        try:
            reply = HTTP.get(target.url + "/healthz", timeout=HEALTH_POLL_TIMEOUT_SECONDS)
            if reply.status_code == 200 and reply.json().get("status") == "ok":
                return
            last = f"HTTP {reply.status_code}: {reply.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        if time.monotonic() > deadline:
            pytest.fail(f"/healthz did not answer within {HEALTH_DEADLINE_SECONDS}s after {after} (last: {last})\n"
                        f"{target.retire()}")
        time.sleep(0.05)


def post(target: Target, body: bytes, headers: dict[str, str | bytes]) -> httpx.Response:
    """POST `body`; a hang or a dropped connection fails the test with the request in hand."""
    try:
        return HTTP.post(target.url, content=body, headers=headers)
    except httpx.TimeoutException:
        pytest.fail(f"no answer within {REQUEST_DEADLINE_SECONDS}s to {describe(body)}\n{target.retire()}")
    except httpx.TransportError as exc:
        pytest.fail(f"connection failed ({exc!r}) on {describe(body)}\n{node_state(target)}")


def strict_json(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


def check_rpc_answer(request: Any, body: bytes, reply: httpx.Response, *, echo: bool = True) -> None:
    """No 5xx; a 200 answer is well-formed JSON-RPC for `request` (a call object or a batch;
    `echo=False` when the body was mutated and the ids cannot be known) with no -32603.

    Refusals before JSON-RPC (401 no token, 403 Host/Origin, 413 body, 429 rate) need only
    be below 500: their bodies are the transport's, as geth's are.
    """
    where = f"request {describe(body)}\nanswer HTTP {reply.status_code}: {reply.text[:600]}"
    assert reply.status_code < 500, f"server error\n{where}"
    if reply.status_code != 200:
        return
    if not reply.content:
        pytest.fail(f"HTTP 200 with an empty body\n{where}")
    try:
        doc = strict_json(reply.text)
    except ValueError as exc:
        pytest.fail(f"answer is not JSON ({exc})\n{where}")
    if isinstance(request, list) and echo:
        problems = fs.batch_problems(request, doc)
    elif isinstance(doc, list):
        problems = [p for r in doc for p in fs.response_problems(r)]
    else:
        problems = fs.response_problems(doc)
        if echo and not problems:
            problems = fs.id_problems(request, doc) + fs.cap_problems(request, doc)
    internal = [r for r in (doc if isinstance(doc, list) else [doc])
                if isinstance(r, dict) and isinstance(r.get("error"), dict) and r["error"].get("code") == INTERNAL_ERROR]
    if internal:
        problems.append(f"-32603 internal error (an unexpected exception; see the node log): {fs.short(internal[0])}")
    assert not problems, "malformed JSON-RPC answer: " + "; ".join(problems[:5]) + f"\n{where}"


def rpc_exchange(target: Target, request: Any, caller: str | None) -> None:
    body = fs.encode(request)
    headers: dict[str, str | bytes] = {"content-type": "application/json", **target.headers(caller)}
    reply = post(target, body, headers)
    check_rpc_answer(request, body, reply)
    assert_node_healthy(target, f"{describe(body, 300)} (caller {caller})")


# -- JSON-RPC over HTTP --------------------------------------------------------------------------

def test_every_route_has_parameter_kinds() -> None:
    """A method added to the route table is fuzzed with shaped parameters from day one."""
    assert set(fs.PARAM_KINDS) == set(ROUTES), set(fs.PARAM_KINDS) ^ set(ROUTES)
    for method, kinds in fs.PARAM_KINDS.items():
        required, optional = ROUTES[method][1:]
        assert len(kinds) == required + optional, f"{method}: {len(kinds)} kinds for {required}+{optional} params"


@pytest.mark.parametrize("method", sorted(ROUTES))
@bounded(EXAMPLES_PER_METHOD)
@given(data=st.data())
def test_fuzz_method(target: Target, method: str, data: st.DataObject) -> None:
    assert target.known is not None
    call = data.draw(fs.calls_for(method, target.known), label="call")
    caller = data.draw(st.sampled_from(CALLERS), label="caller")
    rpc_exchange(target, call, caller)


@bounded(BATCH_EXAMPLES)
@given(data=st.data())
def test_fuzz_batches(target: Target, data: st.DataObject) -> None:
    assert target.known is not None
    batch = data.draw(fs.batches(target.known), label="batch")
    caller = data.draw(st.sampled_from(CALLERS), label="caller")
    rpc_exchange(target, batch, caller)


# Host and Origin values a browser or a DNS-rebinding page might send; refusing them is a
# 4xx, never a 5xx.
HOSTS = ("", "evil.example", "127.0.0.1", "localhost:1", "[::1]", "a" * 300, "host\u00e9", "xn--e1a", "127.0.0.1:99999")
ORIGINS = ("null", "http://evil.example", "http://localhost", "file://", "chrome-extension://abc", "http://[::1]:80",
           "http://a" + "a" * 600, "data:,", "*")


@bounded(RAW_BODY_EXAMPLES)
@given(data=st.data())
def test_fuzz_raw_bodies(target: Target, data: st.DataObject) -> None:
    """Byte-level mutations, every content type, odd Host and Origin headers."""
    assert target.known is not None
    body = data.draw(fs.raw_bodies(target.known), label="body")
    headers: dict[str, str | bytes] = {"content-type": data.draw(st.sampled_from(fs.CONTENT_TYPES), label="content_type"),
                                       **target.headers(data.draw(st.sampled_from(CALLERS), label="caller"))}
    if data.draw(st.integers(0, 4), label="odd_host") == 0:
        headers["host"] = header_bytes(data.draw(st.sampled_from(HOSTS), label="host"))
    if data.draw(st.integers(0, 4), label="odd_origin") == 0:
        headers["origin"] = header_bytes(data.draw(st.sampled_from(ORIGINS), label="origin"))
    reply = post(target, body, headers)
    check_rpc_answer(None, body, reply, echo=False)
    assert_node_healthy(target, describe(body, 300))


# -- JSON-RPC over the WebSocket ---------------------------------------------------------------------

WS_METHODS = tuple(sorted(ROUTES)) + tuple(fs.WS_PARAM_KINDS)


def ws_messages(known: fs.Known) -> st.SearchStrategy[list[tuple[Any, str | bytes]]]:
    """(request, frame) pairs: calls (subscriptions too), batches, and mutated bytes sent as
    binary frames (the node decodes them as UTF-8 with replacement)."""
    call = fs.any_call(known, methods=WS_METHODS).map(lambda c: (c, fs.encode(c).decode()))
    batch = fs.batches(known).map(lambda b: (b, fs.encode(b).decode()))
    raw = fs.raw_bodies(known).map(lambda b: (None, b))
    return st.lists(st.one_of(call, call, batch, raw), min_size=1, max_size=4)


SENTINEL_ID = "fuzz-sentinel"


async def ws_session(url: str, token: str, frames: list[str | bytes]) -> list[Any]:
    """Send `frames`, then a sentinel call; return every message received before its answer."""
    received: list[Any] = []
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"},
                                  open_timeout=WS_DEADLINE_SECONDS, max_size=None) as ws:
        for frame in frames:
            await ws.send(frame)
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": SENTINEL_ID, "method": "eth_chainId"}))
        deadline = time.monotonic() + WS_DEADLINE_SECONDS
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no answer to the sentinel call")
            message = strict_json(await asyncio.wait_for(ws.recv(), remaining))
            if isinstance(message, dict) and message.get("id") == SENTINEL_ID:
                return received
            received.append(message)


@bounded(WS_EXAMPLES)
@given(data=st.data())
def test_fuzz_websocket(target: Target, data: st.DataObject) -> None:
    """The socket stays open and answers a last call; everything it sent before is
    well-formed JSON-RPC (answers or eth_subscription notifications)."""
    assert target.known is not None and target.node is not None
    messages = data.draw(ws_messages(target.known), label="messages")
    frames = [frame for _, frame in messages]
    shown = " | ".join(describe(f.encode() if isinstance(f, str) else f, 200) for f in frames)
    try:
        received = asyncio.run(ws_session(target.node.ws_url, target.tokens["ADMIN"], frames))
    except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
        pytest.fail(f"WebSocket session failed ({exc!r}) after sending {shown}\n{target.retire()}")
    problems = []
    for message in received:
        if isinstance(message, dict) and message.get("method") == "eth_subscription":
            continue
        for item in message if isinstance(message, list) else [message]:
            problems += fs.response_problems(item)
        if isinstance(message, dict) and message.get("error", {}).get("code") == INTERNAL_ERROR:
            problems.append(f"-32603 internal error: {fs.short(message)}")
    assert not problems, f"malformed WebSocket answers: {problems[:5]}\nsent {shown}"
    assert_node_healthy(target, f"WebSocket frames {shown}")


# -- past findings, replayed every run -------------------------------------------------------------

SURROGATE = "\ud800"
HUGE_TOPICS = ["0x" + f"{i:064x}" for i in range(20_000)]
KNOWN_FINDINGS: dict[str, Any] = {
    "feeHistory-million-percentiles": {"jsonrpc": "2.0", "id": 1, "method": "eth_feeHistory",
                                       "params": ["0x400", "latest", [50] * 1_000_000]},
    "estimateGas-burn-to-cap": {"jsonrpc": "2.0", "id": 1, "method": "eth_estimateGas",
                                "params": [{"data": fs.BURN_TO_100K}]},
    "call-batch-at-gas-cap": [{"jsonrpc": "2.0", "id": i, "method": "eth_call", "params": [{"data": fs.BURN_TO_100K}]}
                              for i in range(16)],
    "getLogs-huge-topic-list": {"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs",
                                "params": [{"fromBlock": "earliest", "topics": [HUGE_TOPICS]}]},
    "newFilter-huge-topic-list": {"jsonrpc": "2.0", "id": 1, "method": "eth_newFilter",
                                  "params": [{"topics": [HUGE_TOPICS, HUGE_TOPICS]}]},
    "lone-surrogate-id": {"jsonrpc": "2.0", "id": SURROGATE, "method": "eth_chainId", "params": []},
    "lone-surrogate-method": {"jsonrpc": "2.0", "id": 1, "method": "eth_" + SURROGATE, "params": []},
    "lone-surrogate-id-in-batch": [{"jsonrpc": "2.0", "id": SURROGATE, "method": "eth_chainId"},
                                   {"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber"}],
    "boolean-id": {"jsonrpc": "2.0", "id": True, "method": "eth_chainId"},
    "object-id-in-invalid-request": {"jsonrpc": "1.0", "id": {"a": 1}, "method": "eth_chainId"},
}


@pytest.mark.parametrize("request_doc", list(KNOWN_FINDINGS.values()), ids=list(KNOWN_FINDINGS))
def test_known_finding(target: Target, request_doc: Any) -> None:
    rpc_exchange(target, request_doc, "ADMIN")


# -- REST, from the node's own OpenAPI document ----------------------------------------------------

# Operations fuzzed elsewhere or not fuzzable as request/response: POST / is JSON-RPC (above;
# its schema has no request body); /v1/feed is a Server-Sent Events stream that does not end
# (test_fuzz_feed_parameters below reads only its head).
REST_EXCLUDED_PATHS = ("/", "/v1/feed")
# Every response is checked against the document: status code, content type, body schema.


def rest_config() -> schemathesis.Config:
    return schemathesis.Config.from_dict({"seed": REST_SEED, "generation": {"database": "none"}})


def rest_failure(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "\n".join(rest_failure(inner) for inner in exc.exceptions)
    return f"{type(exc).__name__}: {str(exc)[:1500]}"


def operation_test(target: Target, operation: Any, label: str) -> Any:
    """The bounded Hypothesis test of one REST operation: data that fits its schema and data
    that does not, as each caller; the checks its document is accurate enough for."""
    checks = [sc.not_a_server_error, sc.content_type_conformance, sc.response_schema_conformance,
              sc.status_code_conformance]
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @bounded(REST_EXAMPLES_PER_OPERATION)
    @given(case=cases, caller=st.sampled_from(CALLERS))
    def exchange(case: schemathesis.Case, caller: str | None) -> None:
        headers = {**(case.headers or {}), **target.headers(caller)}
        try:
            response = case.call(headers=headers, timeout=REQUEST_DEADLINE_SECONDS)
            case.validate_response(response, checks=checks)
        except (requests.RequestException, AssertionError, BaseExceptionGroup) as exc:
            raise AssertionError(f"{rest_failure(exc)}\n  caller {caller}: {case.as_curl_command()}") from None
        assert_node_healthy(target, f"{label} {case.path_parameters or ''} {case.query or ''} (caller {caller})")

    return exchange


def test_fuzz_rest(target: Target) -> None:
    """Every REST operation of /openapi.json; all of them run, and every failing one is
    reported (with a curl command that reproduces it)."""
    schema = schemathesis.openapi.from_url(target.url + "/openapi.json", config=rest_config(), timeout=10)
    failures: dict[str, str] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # an operation the document cannot describe fails here
        label = f"{operation.method.upper()} {operation.path}"
        if operation.path in REST_EXCLUDED_PATHS:
            continue
        operations += 1
        try:
            operation_test(target, operation, label)()
        except (AssertionError, HypothesisException, pytest.fail.Exception) as exc:
            failures[label] = rest_failure(exc)
    assert operations >= REST_MIN_OPERATIONS, f"only {operations} REST operations in /openapi.json"
    assert not failures, f"{len(failures)} of {operations} REST operations failed:\n\n" + "\n\n".join(
        f"== {label}\n{text}" for label, text in sorted(failures.items()))


def header_bytes(text: str) -> bytes:
    """`text` as header bytes a client might send (UTF-8, surrogates and all), less the
    control bytes HTTP/1.1 cannot carry in a header (h11 refuses to send them)."""
    return bytes(b for b in text.encode("utf-8", "surrogatepass") if b > 0x20 and b != 0x7F)


@bounded(FEED_EXAMPLES)
@given(data=st.data())
def test_fuzz_feed_parameters(target: Target, data: st.DataObject) -> None:
    """/v1/feed's parameters and Last-Event-ID; only the head of a 200 stream is read."""
    text = st.one_of(fs.odd_text(), st.sampled_from(["0-0", "1-0", "x", "regulator", "party", "court", "contracts",
                                                       "evidence,contracts", ",", "18446744073709551616-0"]))
    params = {name: value for name in ("since", "topics", "role")
              if (value := data.draw(st.none() | text, label=name)) is not None}
    headers: dict[str, str | bytes] = {**target.headers(data.draw(st.sampled_from(CALLERS), label="caller"))}
    last_event = data.draw(st.none() | text, label="last_event_id")
    if last_event is not None:
        headers["Last-Event-ID"] = header_bytes(last_event)
    shown = f"GET /v1/feed {params} Last-Event-ID {headers.get('Last-Event-ID')!r}"
    # Percent-encoded by hand: UTF-8 with surrogates and all, as a client might send it.
    query = "&".join(f"{name}={quote(value.encode('utf-8', 'surrogatepass'), safe='')}" for name, value in params.items())
    try:
        with HTTP.stream("GET", f"{target.url}/v1/feed?{query}", headers=headers) as reply:
            assert reply.status_code < 500, f"{shown}: HTTP {reply.status_code}: {reply.read()[:300]!r}"
            if reply.status_code == 200:
                next(reply.iter_raw())  # the stream's first chunk (its retry: line)
    except httpx.TimeoutException:
        pytest.fail(f"no answer within {REQUEST_DEADLINE_SECONDS}s to {shown}\n{target.retire()}")
    assert_node_healthy(target, shown)
