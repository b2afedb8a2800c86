"""The precheck worker (node/execution/precheck.py): what it hands the pool equals what the
pool computes itself, refusals keep their errors, and a dead, hung, stalled, garbled or closed
worker never stalls admission (nor node shutdown)."""
from __future__ import annotations

import errno
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import rlp
from eth.abc import SignedTransactionAPI
from eth.constants import SECPK1_N
from eth_account import Account
from hypothesis import given, settings, strategies as st

from node.errors import InvalidTransaction, PermissionDenied
from node.execution import precheck as precheck_module, vm as vm_module
from node.execution.precheck import RESTART_PAUSE_SECONDS, PrecheckWorker, precheck_batch
from node.execution.txpool import TxPool, check_stateless
from node.execution.vm import MAX_TX_BYTES

CHAIN_ID = 1337
GAS_LIMIT = 1_000_000
ALICE = Account.from_key(b"\x05" * 32)
SINK = "0x" + "22" * 20
# A started worker answers once py-evm is imported; on a loaded machine that takes a while.
READY_DEADLINE_SECONDS = 90.0
# The round-trip deadline the stall tests give their worker, and the slack on top of the
# bound under test that a loaded machine may need before the test calls it a hang.
ROUND_TRIP_SECONDS = 2.0
SLACK_SECONDS = 20.0
# A chunk of refused 8 KB "transactions": an 8 MB request, far over a socket pair's buffer,
# so sending it to a worker that does not read blocks mid-write (distinct objects: pickle
# would write one repeated object once).
LARGE_BATCH = [bytes([0x01]) * 8192 + i.to_bytes(2, "big") for i in range(1000)]


def sign(nonce: int, **overrides: object) -> bytes:
    tx: dict[str, object] = {"nonce": nonce, "gas": 30_000, "gasPrice": 0, "to": SINK, "value": 1, "data": b"\x01\x00",
                             "chainId": CHAIN_ID}
    tx.update(overrides)
    tx = {k: v for k, v in tx.items() if v is not None}  # None: leave the field out (to: a creation)
    return bytes(ALICE.sign_transaction(tx).raw_transaction)


def high_s(raw: bytes) -> bytes:
    """The same legacy transaction with its signature's malleable twin (s -> n - s, v flipped):
    the same sender recovers, but EIP-2 refuses it (check_transaction_signature)."""
    fields = rlp.decode(raw)
    v, s = int.from_bytes(fields[6], "big"), int.from_bytes(fields[8], "big")
    flipped = v + 1 if (v - 35) % 2 == 0 else v - 1  # EIP-155: v = 35 + 2 chain id + parity
    fields[6] = flipped.to_bytes(32, "big").lstrip(b"\x00")
    fields[8] = (SECPK1_N - s).to_bytes(32, "big").lstrip(b"\x00")
    return rlp.encode(fields)


VALID = [
    sign(0),
    sign(1, data=b"\x00" * 40 + b"\xff" * 40),
    sign(2, to=None, data=b"\x60\x00\x60\x00\xf3", gas=100_000),  # contract creation
    sign(3, gasPrice=None, maxFeePerGas=7, maxPriorityFeePerGas=3, type=2),
    sign(4, accessList=[{"address": SINK, "storageKeys": ["0x" + "00" * 31 + "01"]}], type=1, gasPrice=1, gas=40_000),
]
REFUSED = [
    b"",
    b"\xc0",
    b"\x01" * (MAX_TX_BYTES + 1),
    b"\x03" + rlp.encode([1, 2, 3]),  # a blob transaction
    sign(5, chainId=1),
    bytes(ALICE.sign_transaction({"nonce": 6, "gas": 30_000, "gasPrice": 0, "to": SINK, "value": 1}).raw_transaction),
    sign(7, gas=21_000),  # intrinsic gas too low (the data costs 4 + 16)
    sign(8, gas=GAS_LIMIT + 1),
    sign(9, gasPrice=None, maxFeePerGas=1, maxPriorityFeePerGas=2, type=2),
    high_s(sign(10)),
    rlp.encode(rlp.decode(sign(11))[:7] + [b"", rlp.decode(sign(11))[8]]),  # r = 0
]


def refusal(raw: bytes) -> str:
    with pytest.raises(InvalidTransaction) as caught:
        check_stateless(raw, chain_id=CHAIN_ID, block_gas_limit=GAS_LIMIT)
    return str(caught.value)


def pool() -> TxPool:
    me = bytes.fromhex(ALICE.address[2:])

    def permit(tx: SignedTransactionAPI) -> None:
        if tx.sender != me:
            raise PermissionDenied("not a member")

    return TxPool(chain_id=CHAIN_ID, block_gas_limit=GAS_LIMIT, read_account=lambda a: (0, 10**18),
                  check_permission=permit, is_committed=lambda h: False)


def assert_same_transaction(got: object, raw: bytes) -> None:
    """What crossed the pipe is the transaction the node would have built from `raw`."""
    # First, before anything reads `sender`: it arrives cached (py-evm's cached_property
    # keeps it in the object's dict), so the node does not recover it a second time.
    assert "sender" in vars(got)
    want = check_stateless(raw, chain_id=CHAIN_ID, block_gas_limit=GAS_LIMIT)
    assert type(got) is type(want)
    assert got == want
    assert got.encode() == raw == want.encode()  # type: ignore[attr-defined]
    assert got.hash == want.hash  # type: ignore[attr-defined]
    assert got.sender == want.sender  # type: ignore[attr-defined]


def test_the_batch_holds_the_transactions_the_pool_builds_and_none_for_refusals() -> None:
    raws = VALID + REFUSED
    for raw in REFUSED:
        refusal(raw)  # each is refused in the node too (else the case tests nothing)
    checked = pickle.loads(pickle.dumps(precheck_batch(raws, chain_id=CHAIN_ID, block_gas_limit=GAS_LIMIT)))
    assert len(checked) == len(raws)
    for raw, got in zip(raws, checked, strict=True):
        if raw in REFUSED:
            assert got is None
        else:
            assert_same_transaction(got, raw)


def test_admitting_a_prechecked_transaction_equals_adding_its_raw_bytes() -> None:
    direct, split = pool(), pool()
    checked = pickle.loads(pickle.dumps(precheck_batch(VALID, chain_id=CHAIN_ID, block_gas_limit=GAS_LIMIT)))
    for raw, tx in zip(VALID, checked, strict=True):
        assert direct.add(raw).hash == split.admit(tx, len(raw)).hash
    for a, b in zip(direct.select(10**9), split.select(10**9), strict=True):
        assert (a.tx, a.sender, a.size, a.seq) == (b.tx, b.sender, b.size, b.seq)
    # The stateful checks still run on a prechecked transaction.
    with pytest.raises(InvalidTransaction, match="already known"):
        split.admit(checked[0], len(VALID[0]))


def test_refusals_keep_their_words() -> None:
    assert refusal(high_s(sign(10))) == "invalid transaction: invalid transaction v, r, s values"
    assert refusal(sign(5, chainId=1)) == f"invalid chain id for signer: have 1 want {CHAIN_ID}"
    assert refusal(b"\x01" * (MAX_TX_BYTES + 1)).startswith("oversized data")


@pytest.fixture
def worker() -> Iterator[tuple[PrecheckWorker, list[float]]]:
    now = [1000.0]
    started = PrecheckWorker(chain_id=CHAIN_ID, block_gas_limit=GAS_LIMIT, timeout=2.0, clock=lambda: now[0])
    started.start()
    try:
        yield started, now
    finally:
        started.close()


def answered(worker: PrecheckWorker, raws: list[bytes]) -> list[object | None]:
    """The worker's answer once it is ready (None answers meanwhile: it is still starting)."""
    deadline = time.monotonic() + READY_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        answer = worker.check(raws)
        if answer is not None:
            return answer
        time.sleep(0.05)
    raise AssertionError(f"the precheck worker did not answer within {READY_DEADLINE_SECONDS} s")


def ready_pid(worker: PrecheckWorker) -> int:
    """The pid of the worker once it has answered a batch."""
    answered(worker, VALID[:1])
    assert worker.pid is not None
    return worker.pid


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False


def test_a_worker_process_answers_a_whole_batch_as_the_node_would(worker: tuple[PrecheckWorker, list[float]]) -> None:
    started, _ = worker
    raws = VALID + REFUSED
    checked = answered(started, raws)
    assert started.pid is not None and started.pid != os.getpid()
    for raw, got in zip(raws, checked, strict=True):
        if raw in REFUSED:
            assert got is None
        else:
            assert_same_transaction(got, raw)


def test_a_killed_worker_means_checking_in_the_node_then_a_new_worker(
        worker: tuple[PrecheckWorker, list[float]], caplog: pytest.LogCaptureFixture) -> None:
    started, now = worker
    pid = ready_pid(started)
    os.kill(pid, signal.SIGKILL)
    assert started.check(VALID) is None  # at once, not after a timeout: the pipe reports EOF
    assert started.pid is None and not alive(pid)
    assert "precheck worker" in caplog.text and "checking transactions in the node" in caplog.text
    assert started.check(VALID) is None  # within the restart pause: no new process yet
    assert started.pid is None
    now[0] += RESTART_PAUSE_SECONDS
    checked = answered(started, VALID)
    assert started.pid not in (None, pid)
    assert_same_transaction(checked[0], VALID[0])


def test_a_hung_worker_is_killed_after_its_deadline(worker: tuple[PrecheckWorker, list[float]]) -> None:
    started, _ = worker
    pid = ready_pid(started)
    os.kill(pid, signal.SIGSTOP)
    try:
        assert started.check(VALID) is None
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    assert started.pid is None and not alive(pid)


def test_close_stops_the_worker_and_later_batches_are_checked_in_the_node(
        worker: tuple[PrecheckWorker, list[float]]) -> None:
    started, now = worker
    pid = ready_pid(started)
    started.close()
    assert not alive(pid)
    now[0] += RESTART_PAUSE_SECONDS
    assert started.check(VALID) is None and started.pid is None  # closed for good


@settings(max_examples=60, deadline=None)
@given(
    nonce=st.integers(0, 2**64 - 1),
    gas=st.integers(0, 2 * GAS_LIMIT),
    value=st.integers(0, 2**256 - 1),
    data=st.binary(max_size=300),
    fee=st.integers(0, 10**12),
    tip=st.integers(0, 10**12),
    typed=st.sampled_from([0, 1, 2]),
    creation=st.booleans(),
    chain_id=st.sampled_from([CHAIN_ID, 1]),
)
def test_any_transaction_crosses_the_pipe_as_the_node_would_build_it(
        nonce: int, gas: int, value: int, data: bytes, fee: int, tip: int, typed: int, creation: bool, chain_id: int) -> None:
    fields: dict[str, object] = {"gas": gas, "value": value, "data": data, "chainId": chain_id,
                                 "to": None if creation else SINK}
    if typed == 2:
        fields.update(gasPrice=None, maxFeePerGas=fee, maxPriorityFeePerGas=tip, type=2)
    else:
        fields.update(gasPrice=fee, type=typed or None, accessList=[] if typed else None)
    raw = sign(nonce, **fields)
    (got,) = pickle.loads(pickle.dumps(precheck_batch([raw], chain_id=CHAIN_ID, block_gas_limit=GAS_LIMIT)))
    try:
        check_stateless(raw, chain_id=CHAIN_ID, block_gas_limit=GAS_LIMIT)
    except InvalidTransaction:
        assert got is None
    else:
        assert_same_transaction(got, raw)


def stop(pid: int) -> None:
    """Kill a worker a test stopped (SIGKILL reaches a stopped process too)."""
    if alive(pid):
        os.kill(pid, signal.SIGKILL)


def in_thread(target: object, *args: object) -> tuple[threading.Thread, list[object]]:
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(target(*args)), daemon=True)  # type: ignore[operator]
    thread.start()
    return thread, result


def test_a_worker_stalled_mid_read_costs_one_deadline_then_the_next_batch_works(
        worker: tuple[PrecheckWorker, list[float]]) -> None:
    started, now = worker
    pid = ready_pid(started)
    os.kill(pid, signal.SIGSTOP)  # it stops reading: the 8 MB request blocks mid-write
    thread, result = in_thread(started.check, LARGE_BATCH)
    try:
        thread.join(ROUND_TRIP_SECONDS + SLACK_SECONDS)
        assert not thread.is_alive(), "check blocked past its deadline on a worker that stopped reading"
    finally:
        stop(pid)
        thread.join(SLACK_SECONDS)
    assert result == [None] and started.pid is None and not alive(pid)
    now[0] += RESTART_PAUSE_SECONDS
    checked = answered(started, VALID)
    assert started.pid not in (None, pid)
    assert_same_transaction(checked[0], VALID[0])


def test_an_answer_that_does_not_unpickle_falls_back_and_the_worker_is_replaced(
        worker: tuple[PrecheckWorker, list[float]], monkeypatch: pytest.MonkeyPatch) -> None:
    started, now = worker
    pid = ready_pid(started)
    # As if the worker ran newer on-disk code: its answer names a class the node lacks.
    monkeypatch.delattr(vm_module, "LedgerLegacyTransaction")
    assert started.check(VALID) is None  # an AttributeError here before the fix
    assert started.pid is None and not alive(pid)
    monkeypatch.undo()
    now[0] += RESTART_PAUSE_SECONDS
    checked = answered(started, VALID)
    assert started.pid not in (None, pid)
    assert_same_transaction(checked[0], VALID[0])


def test_close_returns_within_its_bound_while_a_batch_is_stuck_on_a_stalled_worker(
        worker: tuple[PrecheckWorker, list[float]]) -> None:
    started, _ = worker
    pid = ready_pid(started)
    os.kill(pid, signal.SIGSTOP)
    checking, _ = in_thread(started.check, LARGE_BATCH)
    closing: threading.Thread | None = None
    try:
        deadline = time.monotonic() + SLACK_SECONDS
        while not started._lock.locked():  # the batch is in flight
            assert time.monotonic() < deadline and checking.is_alive()
            time.sleep(0.01)
        closing, _ = in_thread(started.close)
        # close waits for the batch's deadline, then the worker's exit (STOP_TIMEOUT_SECONDS).
        closing.join(ROUND_TRIP_SECONDS + precheck_module.STOP_TIMEOUT_SECONDS + SLACK_SECONDS)
        assert not closing.is_alive(), "close hung behind a batch stuck on a stalled worker"
    finally:
        stop(pid)
        checking.join(SLACK_SECONDS)
        if closing is not None:
            closing.join(SLACK_SECONDS)
    assert not alive(pid) and started.pid is None


def test_close_kills_the_worker_when_the_lock_is_not_released_in_time() -> None:
    started = PrecheckWorker(chain_id=CHAIN_ID, block_gas_limit=GAS_LIMIT, timeout=0.2, stop_timeout=0.2)
    started.start()
    pid = started.pid
    assert pid is not None
    started._lock.acquire()  # a holder stuck past every deadline (cannot happen; close must not care)
    try:
        closing, _ = in_thread(started.close)
        closing.join(SLACK_SECONDS)
        assert not closing.is_alive()
        deadline = time.monotonic() + SLACK_SECONDS
        while alive(pid):
            assert time.monotonic() < deadline, "close did not kill the worker"
            time.sleep(0.01)
    finally:
        started._lock.release()
        stop(pid)
        started.close()
    assert started.check(VALID) is None


def test_a_failed_restart_is_tried_again_after_the_pause(
        worker: tuple[PrecheckWorker, list[float]], monkeypatch: pytest.MonkeyPatch) -> None:
    started, now = worker
    first = ready_pid(started)
    os.kill(first, signal.SIGKILL)
    assert started.check(VALID) is None and started.pid is None
    real_popen = subprocess.Popen
    failures = [OSError(errno.EMFILE, "Too many open files")]

    def popen_failing_once(*args: object, **kwargs: object) -> object:
        if failures:
            raise failures.pop()
        return real_popen(*args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(precheck_module.subprocess, "Popen", popen_failing_once)
    now[0] += RESTART_PAUSE_SECONDS
    assert started.check(VALID) is None and started.pid is None  # the restart failed
    assert not failures
    assert started.check(VALID) is None and started.pid is None  # not again before the pause
    now[0] += RESTART_PAUSE_SECONDS
    assert started.check(VALID) is None  # launches (the answer comes once it is ready)
    assert started.pid not in (None, first)  # closed for good here before the fix
    checked = answered(started, VALID)
    assert_same_transaction(checked[0], VALID[0])


# A worker the test controls (argv: MODE FD CHAIN_ID GAS_LIMIT): it says it is ready, reads one
# request, then in "half" mode writes half of an answer's frame and stalls; in "odd" mode it
# answers with items that name a class the node does not have.
FAKE_WORKER = """
import pickle, socket, struct, sys, time
class Odd:
    pass
mode, fd = sys.argv[1], int(sys.argv[2])
sock = socket.socket(fileno=fd)
def send(message):
    payload = pickle.dumps(message)
    sock.sendall(struct.pack("!Q", len(payload)) + payload)
def recv(size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            sys.exit(0)
        data += chunk
    return data
send("ready")
while True:
    raws = pickle.loads(recv(struct.unpack("!Q", recv(8))[0]))
    if mode == "half":
        payload = pickle.dumps([None] * len(raws))
        sock.sendall(struct.pack("!Q", len(payload)) + payload[: len(payload) // 2])
        time.sleep(120)  # bounded: killed by the node long before
        sys.exit(0)
    send([pickle.dumps(Odd())] * len(raws))
"""


@pytest.fixture
def fake_worker(tmp_path: Path) -> Path:
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    return script


def until_discarded(worker: PrecheckWorker, raws: list[bytes]) -> None:
    """Send batches until the fake worker has been discarded: each is checked in the node
    (None) while it starts, and the first it takes once ready is the round trip under test."""
    deadline = time.monotonic() + SLACK_SECONDS
    while worker.pid is not None:
        assert time.monotonic() < deadline, "the fake worker was never discarded"
        assert worker.check(raws) is None
        time.sleep(0.01)


def test_a_worker_that_stops_mid_answer_costs_one_deadline(fake_worker: Path, caplog: pytest.LogCaptureFixture) -> None:
    started = PrecheckWorker(chain_id=CHAIN_ID, block_gas_limit=GAS_LIMIT, timeout=0.5, stop_timeout=1.0,
                             command=(sys.executable, str(fake_worker), "half"))
    started.start()
    pid = started.pid
    assert pid is not None
    try:
        until_discarded(started, VALID)
        assert not alive(pid)
        assert "no answer for 5 transactions within 0.5 s" in caplog.text
    finally:
        stop(pid)
        started.close()


def test_a_fake_worker_answer_naming_an_unknown_class_falls_back_and_is_replaced(
        fake_worker: Path, caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    started = PrecheckWorker(chain_id=CHAIN_ID, block_gas_limit=GAS_LIMIT, timeout=5.0, stop_timeout=1.0,
                             clock=lambda: now[0], command=(sys.executable, str(fake_worker), "odd"))
    started.start()
    pid = started.pid
    assert pid is not None
    try:
        until_discarded(started, VALID)  # AttributeError unpickling: discarded, not raised
        assert not alive(pid)
        assert "AttributeError" in caplog.text
        now[0] += RESTART_PAUSE_SECONDS
        assert started.check(VALID) is None and started.pid not in (None, pid)  # replaced
    finally:
        stop(pid)
        started.close()


def test_the_worker_pickles_each_answer_on_its_own() -> None:
    checked = precheck_batch(VALID[:2], chain_id=CHAIN_ID, block_gas_limit=GAS_LIMIT)
    pickled = precheck_module.pickle_each([checked[0], lambda: None, None, checked[1]])
    assert pickled[1] is None and pickled[2] is None
    for raw, item in zip(VALID[:2], (pickled[0], pickled[3]), strict=True):
        assert item is not None
        assert_same_transaction(pickle.loads(item), raw)
