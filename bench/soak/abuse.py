"""The soak's abuse: the abusive requests of issue 15, each kind in its own worker, all in
a process of their own (so that their threads do not share the measuring process's
interpreter lock).

Every kind runs at a fixed, small concurrency with a client timeout on every request
(``ABUSE_TIMEOUT``), and every request is tallied: sent, answered, refused (an HTTP or
JSON-RPC error, a closed socket) or failed (timeout or connection error).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from eth_abi import encode
from eth_account import Account
from eth_utils import to_checksum_address
from websockets.asyncio.client import connect

from bench.common.contracts import EVIDENCE_REGISTRY_ADDRESS
from bench.common.stats import percentile
from bench.soak.wire import HttpClient, batch_body, classify, rpc_body
from chaincode import PKI_PRECOMPILE
from client import devpki
from node.execution import pki

# -- the abuse: one worker per kind, fixed concurrency, each request with a timeout ----
ABUSE_TIMEOUT = 30.0             # seconds a single abusive request may take client-side
ABUSE_JOIN_SECONDS = 90.0        # the abuse process ends its requests (<= ABUSE_TIMEOUT) and writes its tally
ERROR_SAMPLES = 3                # distinct refusal/failure messages kept per abuse kind
ERROR_CHARS = 200                # ... each cut to this many characters
FEE_HISTORY_PERCENTILES = 1_000_000   # finding 1: ["0x400","latest",[1]*1000000], a ~2 MB request
FEE_HISTORY_BLOCKS = "0x400"
# Finding 2. eth_estimateGas: init code that succeeds only when it starts with more than
# ESTIMATE_THRESHOLD gas left and otherwise loops until out of gas, so every step of the
# binary search below that re-runs the loop to exhaustion (~24 runs of up to the cap).
ESTIMATE_THRESHOLD = 9_900_000        # just under the node's 10M RPC gas cap (node/rpc/methods.py)
CALL_BATCH_WORKERS = 4                # finding 2: four REGULATOR batches ...
CALL_BATCH_SIZE = 3                   # ... of three looping eth_calls
FLOOD_WORKERS = 4                     # finding 3: back-to-back batches from one token
FLOOD_BATCH = 100
FILTER_BODY_BYTES = 5_000_000         # finding 4: a topic list just under the 5 MiB body cap
FILTER_COUNT = 10_000                 # finding 4: one caller, 10,000 filters ...
FILTER_BATCH = 100                    # ... created and polled 100 per request
WS_CONNECTIONS = 400                  # finding 5: sockets held open from one token
SSE_STREAMS = 300                     # finding 5: above the node's 256 feed streams
OPEN_CONCURRENCY = 25                 # handshakes in flight at once, per kind (WebSocket, SSE)
PKI_TX_PER_SECOND = 10.0              # finding 6: precompile transactions from one member
PKI_CALL_INTERVAL = 1.0               # ... and one eth_call of it a second
PKI_TX_GAS = 400_000                  # ~7.7 KB calldata (~125k gas) + 63k precompile gas + 21k
PKI_CHAIN_LENGTH = 5                  # evidence.x509.MAX_CHAIN_LENGTH
PKI_RSA_BITS = 3072                   # OpenSSL bounds the public exponent only above 3072-bit moduli
PKI_EXPONENT_BITS = 3066

ABUSE_KINDS: dict[str, str] = {
    "fee_history": f"eth_feeHistory [{FEE_HISTORY_BLOCKS}, latest, [1]*{FEE_HISTORY_PERCENTILES:,}], PARTY, 1 at a time",
    "estimate_gas": "eth_estimateGas of gas-burning init code (~100-byte request), PARTY, 1 at a time",
    "call_batches": f"{CALL_BATCH_WORKERS} REGULATOR workers, each a batch of {CALL_BATCH_SIZE} eth_calls looping to the gas cap",
    "flood": f"{FLOOD_WORKERS} PARTY workers, back-to-back batches of {FLOOD_BATCH} cheap reads",
    "filter_topics": f"eth_newFilter with a {FILTER_BODY_BYTES / 1e6:g} MB topic list, then eth_getFilterChanges, AUDITOR, 1 at a time",
    "filter_count": f"{FILTER_COUNT:,} filters from one AUDITOR token ({FILTER_BATCH} per batch), then polling them",
    "websockets": f"{WS_CONNECTIONS} WebSockets from one PARTY token, each subscribed to newHeads",
    "sse": f"{SSE_STREAMS} /v1/feed event streams from the same PARTY token",
    "pki_tx": f"transactions to the PKI precompile, {PKI_CHAIN_LENGTH}-cert RSA-{PKI_RSA_BITS} chain, "
              f"{PKI_EXPONENT_BITS}-bit public exponent, {PKI_TX_PER_SECOND:g}/s from one member",
    "pki_call": "eth_call of the same precompile verify, 1/s",
}
OUTCOMES = ("sent", "answered", "refused", "failed")

LOOP_FOREVER = bytes.fromhex("5b600056")  # JUMPDEST PUSH1 0 JUMP: runs until out of gas


def fee_history_body(percentiles: int = FEE_HISTORY_PERCENTILES) -> bytes:
    return rpc_body("eth_feeHistory", [FEE_HISTORY_BLOCKS, "latest", [1] * percentiles])


def filter_topics_body(limit: int = FILTER_BODY_BYTES) -> bytes:
    """eth_newFilter with one topic position listing as many distinct topics as fit
    in `limit` bytes of request body."""
    empty = len(rpc_body("eth_newFilter", [{"topics": [[]]}]))
    per_topic = len(json.dumps("0x" + "00" * 32)) + 1  # the quoted hash and a comma
    count = (limit - empty) // per_topic
    topics = ["0x" + i.to_bytes(32, "big").hex() for i in range(1, count + 1)]
    body = rpc_body("eth_newFilter", [{"topics": [topics]}])
    assert len(body) <= limit, (len(body), limit)
    return body


def gas_burner_code(threshold: int = ESTIMATE_THRESHOLD) -> bytes:
    """Init code that STOPs (succeeds) only when it starts with more than `threshold`
    gas, burning it down to 10,000 first; with less it loops until out of gas."""
    if not 0 < threshold < 2**24:
        raise ValueError("threshold must fit PUSH3")
    return bytes.fromhex(
        "5a"                            # 0  GAS                       start gas
        + "62" + threshold.to_bytes(3, "big").hex()  # 1  PUSH3 threshold
        + "10"                          # 5  LT                         threshold < start gas
        + "600d" + "57"                 # 6  PUSH1 13, JUMPI            -> the finite loop
        + "5b" + "6009" + "56"          # 9  JUMPDEST, PUSH1 9, JUMP    forever: out of gas
        + "5b" + "612710" + "5a" + "10"  # 13 JUMPDEST, PUSH2 10000, GAS, LT: gas < 10000
        + "6019" + "57"                 # 19 PUSH1 25, JUMPI            -> exit
        + "600d" + "56"                 # 22 PUSH1 13, JUMP
        + "5b" + "00"                   # 25 JUMPDEST, STOP
    )


class Tally:
    """Thread-safe counts per abuse kind: sent / answered / refused / failed, the
    seconds each request took, bytes answered and a few distinct error messages."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.kinds: dict[str, dict[str, Any]] = {}

    def _kind(self, kind: str) -> dict[str, Any]:
        return self.kinds.setdefault(kind, {**dict.fromkeys(OUTCOMES, 0), "seconds": [], "bytes": 0, "errors": []})

    def record(self, kind: str, outcome: str, seconds: float, size: int = 0, error: str | None = None) -> None:
        with self._lock:
            k = self._kind(kind)
            k["sent"] += 1
            k[outcome] += 1
            k["seconds"].append(round(seconds, 4))
            k["bytes"] += size
            if error and len(k["errors"]) < ERROR_SAMPLES:
                text = error[:ERROR_CHARS]
                if text not in k["errors"]:
                    k["errors"].append(text)

    def rpc(self, kind: str, client: HttpClient, body: bytes) -> Any:
        """POST one JSON-RPC request and tally it; returns the parsed answer (or None)."""
        t0 = time.monotonic()
        try:
            status, doc, size = client.post(body)
        except Exception as exc:
            self.record(kind, "failed", time.monotonic() - t0, error=f"{type(exc).__name__}: {exc}")
            return None
        outcome = classify(status, doc)
        error = None
        if outcome == "refused":
            error = f"HTTP {status}: " + (json.dumps(_first_error(doc)) if doc is not None else "")
        self.record(kind, outcome, time.monotonic() - t0, size, error)
        return doc

    def report(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            out = {}
            for kind, k in self.kinds.items():
                seconds = k["seconds"]
                out[kind] = {**{o: k[o] for o in OUTCOMES}, "bytes": k["bytes"], "errors": list(k["errors"]),
                             "p50_s": percentile(seconds, 50) if seconds else None,
                             "max_s": max(seconds) if seconds else None}
            return out


def _first_error(doc: Any) -> Any:
    if isinstance(doc, list):
        return next((r.get("error") for r in doc if isinstance(r, dict) and r.get("error")), doc[:1])
    if isinstance(doc, dict):
        return doc.get("error", doc)
    return doc


@dataclass
class AbuseConfig:
    host: str
    port: int
    chain_id: int
    party_token: str
    regulator_token: str
    auditor_token: str
    abuser_key: str
    seconds: float
    pki_calldata: bytes | None = None  # built before the phases: RSA key generation is not abuse time
    skip: list[str] = field(default_factory=list)


def abuse_process(config: AbuseConfig, stop: Any, result_path: str) -> None:
    """The abuse process's main: start each kind's worker threads, run until `stop` is
    set or the phase's time is up, join them (each request ends within ABUSE_TIMEOUT)
    and write the tally as JSON to `result_path`."""
    tally = Tally()
    local_stop = threading.Event()
    deadline = time.monotonic() + config.seconds
    extra: dict[str, Any] = {}
    workers: list[threading.Thread] = []

    def spawn(kind: str, target: Callable[..., None], *args: Any, count: int = 1) -> None:
        if kind in config.skip:
            return
        for i in range(count):
            workers.append(threading.Thread(target=_guarded, args=(tally, kind, target, config, local_stop, *args),
                                            name=f"abuse-{kind}-{i}", daemon=True))

    spawn("fee_history", _fee_history_worker)
    spawn("estimate_gas", _estimate_gas_worker)
    spawn("call_batches", _call_batch_worker, count=CALL_BATCH_WORKERS)
    spawn("flood", _flood_worker, count=FLOOD_WORKERS)
    spawn("filter_topics", _filter_topics_worker)
    spawn("filter_count", _filter_count_worker)
    if not {"websockets", "sse"} <= set(config.skip):
        workers.append(threading.Thread(target=_sockets_worker, args=(tally, config, local_stop), name="abuse-sockets", daemon=True))
    if config.pki_calldata is not None:
        spawn("pki_tx", _pki_tx_worker, config.pki_calldata)
        spawn("pki_call", _pki_call_worker, config.pki_calldata)
    started = time.monotonic()
    for worker in workers:
        worker.start()
    try:
        while time.monotonic() < deadline and not stop.is_set():
            stop.wait(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        local_stop.set()
        join_by = time.monotonic() + ABUSE_TIMEOUT + 10
        for worker in workers:
            worker.join(max(0.1, join_by - time.monotonic()))
        extra["ran_s"] = round(time.monotonic() - started, 1)
        extra["threads_still_running"] = sum(1 for w in workers if w.is_alive())
        Path(result_path).write_text(json.dumps({"kinds": tally.report(), **extra}, indent=1) + "\n")


def _guarded(tally: Tally, kind: str, target: Callable[..., None], config: AbuseConfig, stop: threading.Event, *args: Any) -> None:
    try:
        target(tally, kind, config, stop, *args)
    except Exception as exc:  # a worker that dies is reported as such, not silently
        tally.record(kind, "failed", 0.0, error=f"worker died: {type(exc).__name__}: {exc}")


def _client(config: AbuseConfig, token: str) -> HttpClient:
    return HttpClient(config.host, config.port, token, ABUSE_TIMEOUT)


def _abuser_address(config: AbuseConfig) -> str:
    return str(Account.from_key(config.abuser_key).address)


def _fee_history_worker(tally: Tally, kind: str, config: AbuseConfig, stop: threading.Event) -> None:
    body, client = fee_history_body(), _client(config, config.party_token)
    while not stop.is_set():
        tally.rpc(kind, client, body)


def _estimate_gas_worker(tally: Tally, kind: str, config: AbuseConfig, stop: threading.Event) -> None:
    body = rpc_body("eth_estimateGas", [{"from": _abuser_address(config), "data": "0x" + gas_burner_code().hex()}])
    client = _client(config, config.party_token)
    while not stop.is_set():
        tally.rpc(kind, client, body)


def _call_batch_worker(tally: Tally, kind: str, config: AbuseConfig, stop: threading.Event) -> None:
    call = ("eth_call", [{"data": "0x" + LOOP_FOREVER.hex()}, "latest"])
    body, client = batch_body([call] * CALL_BATCH_SIZE), _client(config, config.regulator_token)
    while not stop.is_set():
        tally.rpc(kind, client, body)


def _flood_worker(tally: Tally, kind: str, config: AbuseConfig, stop: threading.Event) -> None:
    address = _abuser_address(config)
    cheap: list[tuple[str, list[Any]]] = [("eth_blockNumber", []), ("eth_getBalance", [address, "latest"]), ("eth_chainId", []),
             ("eth_getBlockByNumber", ["latest", False])]
    body = batch_body([cheap[i % len(cheap)] for i in range(FLOOD_BATCH)])
    client = _client(config, config.party_token)
    while not stop.is_set():
        tally.rpc(kind, client, body)


def _filter_topics_worker(tally: Tally, kind: str, config: AbuseConfig, stop: threading.Event) -> None:
    body, client = filter_topics_body(), _client(config, config.auditor_token)
    while not stop.is_set():
        doc = tally.rpc(kind, client, body)
        if isinstance(doc, dict) and isinstance(doc.get("result"), str) and not stop.is_set():
            tally.rpc(kind, client, rpc_body("eth_getFilterChanges", [doc["result"]]))


def _filter_count_worker(tally: Tally, kind: str, config: AbuseConfig, stop: threading.Event) -> None:
    client = _client(config, config.auditor_token)
    makers = [("eth_newBlockFilter", []), ("eth_newPendingTransactionFilter", []),
              ("eth_newFilter", [{"address": EVIDENCE_REGISTRY_ADDRESS}])]
    ids: list[str] = []
    for first in range(0, FILTER_COUNT, FILTER_BATCH):
        if stop.is_set():
            return
        doc = tally.rpc(kind, client, batch_body([makers[(first + i) % len(makers)] for i in range(FILTER_BATCH)]))
        if isinstance(doc, list):
            ids += [r["result"] for r in doc if isinstance(r, dict) and isinstance(r.get("result"), str)]
    polled = 0
    while ids and not stop.is_set():  # bounded by the phase: poll every filter, 100 a request
        batch = [ids[(polled + i) % len(ids)] for i in range(min(FILTER_BATCH, len(ids)))]
        tally.rpc(kind, client, batch_body([("eth_getFilterChanges", [fid]) for fid in batch]))
        polled += len(batch)


def _sockets_worker(tally: Tally, config: AbuseConfig, stop: threading.Event) -> None:
    asyncio.run(_sockets(tally, config, stop))


async def _sockets(tally: Tally, config: AbuseConfig, stop: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {config.party_token}"}
    ws_gate, sse_gate = asyncio.Semaphore(OPEN_CONCURRENCY), asyncio.Semaphore(OPEN_CONCURRENCY)
    ended = asyncio.Event()

    async def one_ws() -> None:
        t0 = time.monotonic()
        async with ws_gate:
            if ended.is_set():
                return
            try:
                ws = await asyncio.wait_for(connect(f"ws://{config.host}:{config.port}/ws", additional_headers=headers,
                                                    max_size=None, open_timeout=ABUSE_TIMEOUT), ABUSE_TIMEOUT)
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}))
                answer = json.loads(await asyncio.wait_for(ws.recv(), ABUSE_TIMEOUT))
            except asyncio.CancelledError:
                tally.record("websockets", "failed", time.monotonic() - t0, error="no answer when the phase ended")
                raise
            except Exception as exc:
                tally.record("websockets", "failed" if isinstance(exc, (OSError, asyncio.TimeoutError)) else "refused",
                             time.monotonic() - t0, error=f"{type(exc).__name__}: {exc}")
                return
        outcome = "refused" if answer.get("error") is not None else "answered"
        tally.record("websockets", outcome, time.monotonic() - t0, error=json.dumps(answer.get("error")) if outcome == "refused" else None)
        try:  # hold it open, reading and dropping notifications, until the phase ends
            async for _ in ws:
                if ended.is_set():
                    break
        except Exception:
            pass
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2)

    async def one_sse(client: httpx.AsyncClient) -> None:
        t0 = time.monotonic()
        async with sse_gate:
            if ended.is_set():
                return
            try:
                request = client.build_request("GET", f"http://{config.host}:{config.port}/v1/feed", headers=headers)
                response = await asyncio.wait_for(client.send(request, stream=True), ABUSE_TIMEOUT)
            except asyncio.CancelledError:
                tally.record("sse", "failed", time.monotonic() - t0, error="no answer when the phase ended")
                raise
            except Exception as exc:
                tally.record("sse", "failed", time.monotonic() - t0, error=f"{type(exc).__name__}: {exc}")
                return
        try:
            if response.status_code != 200:
                body = await response.aread()
                tally.record("sse", "refused", time.monotonic() - t0, error=f"HTTP {response.status_code}: {body[:150]!r}")
                return
            tally.record("sse", "answered", time.monotonic() - t0)
            async for _ in response.aiter_bytes():
                if ended.is_set():
                    break
        except Exception:
            pass
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(response.aclose(), 2)

    limits = httpx.Limits(max_connections=SSE_STREAMS + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(ABUSE_TIMEOUT, read=None)) as client:
        tasks = []
        if "websockets" not in config.skip:
            tasks += [asyncio.create_task(one_ws()) for _ in range(WS_CONNECTIONS)]
        if "sse" not in config.skip:
            tasks += [asyncio.create_task(one_sse(client)) for _ in range(SSE_STREAMS)]
        while not stop.is_set():
            await asyncio.sleep(0.2)
        ended.set()  # set first: a task cancelled while waiting at the gate was never sent
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)


def pki_verify_calldata(now: float | None = None) -> bytes:
    """ABI calldata of the PKI precompile's verify(chain, digest, signature) for a
    PKI_CHAIN_LENGTH-certificate RSA-PKI_RSA_BITS chain whose keys have a
    PKI_EXPONENT_BITS-bit public exponent (finding 6), built with `cryptography`."""
    at = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    not_before, not_after = at - timedelta(days=1), at + timedelta(days=30)
    keys = [huge_exponent_key() for _ in range(PKI_CHAIN_LENGTH)]
    issuer_cert = devpki.make_root("soak root", keys[-1], not_before=not_before, not_after=not_after)
    chain = [issuer_cert]
    for index in range(PKI_CHAIN_LENGTH - 2, 0, -1):
        cert = devpki.issue_certificate(issuer_cert, keys[index + 1], keys[index].public_key(), common_name=f"soak CA {index}",
                                        is_ca=True, not_before=not_before, not_after=not_after)
        chain.insert(0, cert)
        issuer_cert = cert
    leaf = devpki.issue_certificate(issuer_cert, keys[1], keys[0].public_key(), common_name="soak signer",
                                    not_before=not_before, not_after=not_after)
    chain.insert(0, leaf)
    digest = b"\x5a" * 32
    assert isinstance(keys[0], rsa.RSAPrivateKey)
    signature = devpki.sign_digest(keys[0], digest)
    return pki.VERIFY + encode(["bytes", "bytes32", "bytes"], [devpki.chain_der(chain), digest, signature])


def huge_exponent_key(bits: int = PKI_RSA_BITS, exponent_bits: int = PKI_EXPONENT_BITS) -> Any:
    """An RSA key whose public exponent has `exponent_bits` bits: the primes of a fresh
    key, a random odd e coprime to lambda(n), d its inverse (signing stays cheap through
    CRT; every verification pays a full-size exponentiation)."""
    base = rsa.generate_private_key(65537, bits).private_numbers()
    p, q = base.p, base.q
    lam = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
    for _ in range(1000):  # a random odd e is coprime to lambda about half the time
        e = secrets.randbits(exponent_bits) | (1 << (exponent_bits - 1)) | 1
        if math.gcd(e, lam) == 1:
            break
    else:
        raise RuntimeError("no exponent coprime to lambda(n) in 1000 draws")
    d = pow(e, -1, lam)
    numbers = rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), rsa.rsa_crt_iqmp(p, q), rsa.RSAPublicNumbers(e, p * q))
    return numbers.private_key()


def _pki_tx_worker(tally: Tally, kind: str, config: AbuseConfig, stop: threading.Event, calldata: bytes) -> None:
    account = Account.from_key(config.abuser_key)
    precompile = to_checksum_address(PKI_PRECOMPILE)
    client = _client(config, config.party_token)
    nonce: int | None = 0  # a fresh genesis member; re-read only after a refusal
    next_at = time.monotonic()
    while not stop.is_set():
        if nonce is None:
            with contextlib.suppress(Exception):
                _, doc, _ = client.post(rpc_body("eth_getTransactionCount", [account.address, "pending"]))
                nonce = int(doc["result"], 16)
        if nonce is not None:
            raw = account.sign_transaction({"nonce": nonce, "gas": PKI_TX_GAS, "gasPrice": 0, "to": precompile,
                                            "value": 0, "data": calldata, "chainId": config.chain_id}).raw_transaction
            doc = tally.rpc(kind, client, rpc_body("eth_sendRawTransaction", ["0x" + bytes(raw).hex()]))
            nonce = nonce + 1 if isinstance(doc, dict) and doc.get("result") else None
        next_at = max(next_at + 1 / PKI_TX_PER_SECOND, time.monotonic())
        stop.wait(max(0.0, next_at - time.monotonic()))


def _pki_call_worker(tally: Tally, kind: str, config: AbuseConfig, stop: threading.Event, calldata: bytes) -> None:
    body = rpc_body("eth_call", [{"from": _abuser_address(config), "to": "0x" + PKI_PRECOMPILE.hex(),
                                   "data": "0x" + calldata.hex()}, "latest"])
    client = _client(config, config.party_token)
    next_at = time.monotonic()
    while not stop.is_set():
        tally.rpc(kind, client, body)
        next_at = max(next_at + PKI_CALL_INTERVAL, time.monotonic())
        stop.wait(max(0.0, next_at - time.monotonic()))
