"""Stateless transaction checks on the second core: a worker process that decodes, checks
and recovers the senders of whole batches of raw transactions for the node's pool.

The node's pool (node/execution/txpool.py) admits a transaction in two halves: the checks
that read no state (`check_stateless`: decoding, chain id, intrinsic gas, the signature
rules and sender recovery, hashing), which cost most of admission's CPU, and the checks
against the head state and the pool (nonce, balance, membership), which need the node's
LevelDB (one process only, plyvel). The first half runs here, in a child process the node
starts with its first transaction (node/service.py) and stops when it closes, so that
admission and block execution no longer share one interpreter's GIL.

Protocol: one round trip per batch over a socket pair, each message one frame (an 8-byte
big-endian length, then a pickle). The node sends a list of raw transactions; the worker
answers with a list of the same length holding, for each, the checked transaction object
pickled on its own (with the sender and hash py-evm caches on it, so the node never
recovers a sender again) or None where `check_stateless` refused it or its pickling failed
(one odd object costs its own re-check, not the worker). A refused one is checked again in
the node (`TxPool.add`), which raises the very error it always did: the worker decides
nothing the node does not re-derive, it only saves work.

Never a hang: the node's side of a round trip (sending the request, reading the answer) runs
against one deadline on the raw socket, so a worker that stalls mid-read or mid-write costs
at most `timeout`. A batch that finds the worker busy, starting, dead or past its deadline,
or whose answer is malformed or does not unpickle (a restarted worker running newer on-disk
code, memory), is checked in the node process instead, and the worker is killed and started
again after a pause, with a log line. Only a worker that never started is given up for good;
a restart that fails to launch (no file descriptors for a moment) is tried again after the
pause. `close` stops the worker within a bound even while a batch is stuck in flight; the
worker also exits on its own when the node's end of the socket closes (the node killed with
-9 included).
"""
from __future__ import annotations

import logging
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

from eth.abc import SignedTransactionAPI

from node.errors import NodeError
from node.execution.txpool import check_stateless
from node.execution.vm import MAX_TX_BYTES

log = logging.getLogger("ledger.precheck")

# A batch is sent in chunks of at most this many transactions: a JSON-RPC batch's cap
# (node/api.py MAX_BATCH_CALLS, geth's 1,000), so one round trip carries a whole batch and a
# chunk's pickled answer stays around a megabyte at most (~0.8 KB per checked transaction).
MAX_PRECHECK_BATCH = 1000
# How long a chunk's whole round trip (sending it, then reading the answer) may take before
# the worker is declared hung, killed and the chunk checked in the node: 1,000 transactions
# take ~0.3 s of one core, and up to ten times that on a machine whose cores others share.
PRECHECK_TIMEOUT_SECONDS = 10.0
# A worker that died or hung is started again no sooner than this after (one log line per
# death, not a restart loop when the child cannot start at all).
RESTART_PAUSE_SECONDS = 5.0
# `close` waits this long for the worker to exit once its socket is closed, then kills it.
STOP_TIMEOUT_SECONDS = 5.0
# Every message is a frame: this header (the pickle's length, 8 bytes big-endian), then the
# pickle.
FRAME_HEADER = struct.Struct("!Q")
# The largest frame the node reads from the worker: a full chunk's answer, each transaction
# pickled with its data twice (the decoded field and py-evm's cached encoding) plus ~0.4 KB
# of fields and class names, rounded up to 4 KB. A header past it is a corrupt stream (the
# worker is discarded) rather than an allocation of whatever size it names.
MAX_FRAME_BYTES = MAX_PRECHECK_BATCH * (2 * MAX_TX_BYTES + 4096)
# Bytes read per recv: large enough that a megabyte answer is a few dozen system calls.
RECV_BYTES = 256 * 1024
# The worker's first message, sent once its imports are done: until then batches are
# checked in the node rather than waiting on a child that is still starting.
READY = "ready"
# The worker is a fresh interpreter (`python -m node.execution.precheck FD CHAIN_ID GAS_LIMIT`),
# never a fork: the node has threads (RPC, consensus, LevelDB) a forked child would inherit
# mid-lock. Not multiprocessing's spawn either: that re-imports the parent's main module
# (the whole CLI, ~30 MB more per node) and starts a resource-tracker process besides.
WORKER_MODULE = "node.execution.precheck"
WORKER_COMMAND: tuple[str, ...] = (sys.executable, "-m", WORKER_MODULE)


def precheck_batch(raws: Sequence[bytes], *, chain_id: int, block_gas_limit: int) -> list[SignedTransactionAPI | None]:
    """`check_stateless` over a batch: each checked transaction, or None where it was
    refused (the node repeats the check to raise the refusal's own error)."""
    checked: list[SignedTransactionAPI | None] = []
    for raw in raws:
        try:
            checked.append(check_stateless(raw, chain_id=chain_id, block_gas_limit=block_gas_limit))
        except Exception:  # InvalidTransaction, or anything odd: the node path decides
            checked.append(None)
    return checked


def pickle_each(items: Sequence[object]) -> list[bytes | None]:
    """Each item pickled on its own, None for one that does not pickle: one odd object
    costs its own re-check in the node, not the worker."""
    pickled: list[bytes | None] = []
    for item in items:
        try:
            pickled.append(None if item is None else pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL))
        except Exception:
            pickled.append(None)
    return pickled


def frame(message: object) -> bytes:
    """`message` as one frame: its pickle's length, then the pickle."""
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return FRAME_HEADER.pack(len(payload)) + payload


def send_frame(sock: socket.socket, data: bytes, deadline: float) -> None:
    """Write a whole frame by `deadline` (time.monotonic()); TimeoutError past it."""
    view = memoryview(data)
    while view:
        sock.settimeout(_remaining(deadline))
        sent = sock.send(view)
        view = view[sent:]


def recv_frame(sock: socket.socket, deadline: float, max_bytes: int = MAX_FRAME_BYTES) -> object:
    """Read one whole frame by `deadline` and unpickle it; TimeoutError past the deadline,
    EOFError if the peer closed, PrecheckFrameTooLarge for a header past `max_bytes`."""
    (size,) = FRAME_HEADER.unpack(_recv_exactly(sock, FRAME_HEADER.size, deadline))
    if size > max_bytes:
        raise PrecheckFrameTooLarge(size, max_bytes)
    return pickle.loads(_recv_exactly(sock, size, deadline))


def _recv_exactly(sock: socket.socket, size: int, deadline: float) -> bytes:
    buffer = bytearray()
    while len(buffer) < size:
        sock.settimeout(_remaining(deadline))
        chunk = sock.recv(min(size - len(buffer), RECV_BYTES))
        if not chunk:
            raise EOFError(f"the precheck socket closed after {len(buffer)} of {size} bytes")
        buffer += chunk
    return bytes(buffer)


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("precheck round trip past its deadline")
    return remaining


def serve(sock: socket.socket, chain_id: int, block_gas_limit: int) -> None:
    """The worker process's main: answer batches until the node's end of the socket closes."""
    # Ctrl-C in a terminal reaches the whole process group: the node stops its worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock.setblocking(True)
    try:
        sock.sendall(frame(READY))
        while True:
            (size,) = FRAME_HEADER.unpack(_recv_blocking(sock, FRAME_HEADER.size))
            raws = pickle.loads(_recv_blocking(sock, size))
            checked = precheck_batch(raws, chain_id=chain_id, block_gas_limit=block_gas_limit)
            sock.sendall(frame(pickle_each(checked)))
    except (EOFError, OSError):
        return  # the node closed the socket or died
    finally:
        sock.close()


def _recv_blocking(sock: socket.socket, size: int) -> bytes:
    """The worker's read: no deadline (it waits for the node's next batch as long as the
    node lives); EOFError when the node's end closes."""
    buffer = bytearray()
    while len(buffer) < size:
        chunk = sock.recv(min(size - len(buffer), RECV_BYTES))
        if not chunk:
            raise EOFError("the node closed the precheck socket")
        buffer += chunk
    return bytes(buffer)


class PrecheckWorker:
    """The node's handle on its precheck process. Thread-safe: RPC threads and the peer
    workers call `check` concurrently; one batch is in flight at a time and a batch that
    finds the worker busy is checked in the node instead of queueing (the queue is bounded
    at zero: a waiting batch would hold an RPC thread without using the second core more).

    `timeout` bounds a chunk's round trip in real time (time.monotonic: socket deadlines);
    `clock` only measures the restart pause (tests move it by hand). `command` is the
    worker's argv before FD CHAIN_ID GAS_LIMIT (tests run a worker they control)."""

    def __init__(self, *, chain_id: int, block_gas_limit: int, timeout: float = PRECHECK_TIMEOUT_SECONDS,
                 clock: Callable[[], float] = time.monotonic, stop_timeout: float = STOP_TIMEOUT_SECONDS,
                 command: Sequence[str] = WORKER_COMMAND) -> None:
        self._chain_id = chain_id
        self._timeout = timeout
        self._stop_timeout = stop_timeout
        self._gas_limit = block_gas_limit
        self._clock = clock
        self._command = tuple(command)
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._ready = False
        self._stopped_at: float | None = None
        self._closed = False

    @property
    def pid(self) -> int | None:
        """The worker process's id (None when none runs)."""
        process = self._process
        return process.pid if process is not None else None

    @property
    def ready(self) -> bool:
        return self._ready

    def start(self) -> None:
        """Start the worker process (it answers once its imports are done)."""
        with self._lock:
            if self._process is None and not self._closed:
                try:
                    self._launch()
                except OSError as exc:  # no interpreter to run, no processes left: admit in the node
                    log.error("precheck worker could not start; transactions are checked in the node: %s", exc)
                    self._closed = True

    def check(self, raws: Sequence[bytes]) -> list[SignedTransactionAPI | None] | None:
        """`precheck_batch(raws)` answered by the worker, one round trip per
        MAX_PRECHECK_BATCH, each within `timeout`; None when the worker cannot answer now
        (busy, starting, dead, closed, too slow, a malformed answer): the caller checks the
        batch itself."""
        if not raws:
            return []
        if not self._lock.acquire(blocking=False):
            return None
        try:
            if not self._available():
                return None
            sock = self._sock
            assert sock is not None
            checked: list[SignedTransactionAPI | None] = []
            for start in range(0, len(raws), MAX_PRECHECK_BATCH):
                chunk = list(raws[start : start + MAX_PRECHECK_BATCH])
                deadline = time.monotonic() + self._timeout
                try:
                    send_frame(sock, frame(chunk), deadline)
                    answer = recv_frame(sock, deadline)
                except TimeoutError as exc:
                    raise PrecheckTimeout(len(chunk), self._timeout) from exc  # killed below
                if not isinstance(answer, list) or len(answer) != len(chunk):
                    raise PrecheckProtocolError(len(chunk), answer)
                for item in answer:
                    if item is not None and not isinstance(item, bytes):
                        raise PrecheckProtocolError(len(chunk), item)
                    checked.append(None if item is None else pickle.loads(item))
            return checked
        except Exception as exc:  # any failure of the round trip: discard the worker, fall back
            # Not only OSError/EOFError/PrecheckError: an answer that does not unpickle
            # (AttributeError, ImportError from a worker on newer code; MemoryError) leaves
            # the stream mid-frame, so the worker goes whatever the error was.
            if self._ready or self._stopped_at is not None:
                log.warning("precheck worker (pid %s) failed, checking transactions in the node; restart in %.0f s: %s",
                            self.pid, RESTART_PAUSE_SECONDS, _describe(exc))
            else:
                # The first worker never started (an import that fails, an interpreter that
                # cannot run): starting it again would fail again. A restarted one that fails
                # to start is tried again after the pause (the first one did start).
                log.error("precheck worker (pid %s) could not start; transactions are checked in the node: %s",
                          self.pid, _describe(exc))
                self._closed = True
            self._discard(kill=True)
            return None
        finally:
            self._lock.release()

    def close(self) -> None:
        """Stop the worker (closing its socket ends it; killed if it does not exit within
        `stop_timeout`). Waits for a batch in flight at most its round trip's deadline plus
        `stop_timeout`; past that the worker is killed without the lock, which fails the
        stuck round trip at once (its thread then discards the worker)."""
        self._closed = True  # no new launch from here on, lock or not
        if self._lock.acquire(timeout=self._timeout + self._stop_timeout):
            try:
                self._discard(kill=False)
            finally:
                self._lock.release()
            return
        process = self._process
        log.error("precheck worker (pid %s) held a batch past its deadline at close; killing it",
                  process.pid if process is not None else None)
        if process is not None and process.poll() is None:
            process.kill()

    # -- under the lock -----------------------------------------------------------

    def _launch(self) -> None:
        here, there = socket.socketpair()
        try:
            process = subprocess.Popen(
                [*self._command, str(there.fileno()), str(self._chain_id), str(self._gas_limit)],
                pass_fds=(there.fileno(),), stdin=subprocess.DEVNULL,
            )
        except OSError:
            here.close()
            raise
        finally:
            there.close()  # the child holds its own copy: EOF reaches us if it dies
        self._process, self._sock, self._ready = process, here, False
        log.info("precheck worker started (pid %s)", process.pid)

    def _available(self) -> bool:
        """Whether the worker can take a batch now; starts one when it is time to."""
        if self._closed:
            return False
        if self._process is None:
            if self._stopped_at is not None and self._clock() - self._stopped_at < RESTART_PAUSE_SECONDS:
                return False
            try:
                self._launch()
            except OSError as exc:
                if self._stopped_at is None:
                    raise  # the first launch: the caller gives up for good
                # A restart that fails (no file descriptors for a moment) waits the pause again.
                log.warning("precheck worker could not restart; trying again in %.0f s: %s", RESTART_PAUSE_SECONDS, exc)
                self._stopped_at = self._clock()
            return False
        if self._ready:
            return True
        sock = self._sock
        assert sock is not None
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:
            # EOFError if it died starting: the caller's handler.
            message = recv_frame(sock, time.monotonic() + self._timeout)
            if message != READY:
                raise PrecheckProtocolError(0, message)
            self._ready = True
            log.info("precheck worker ready (pid %s)", self.pid)
            return True
        if self._process.poll() is not None:
            raise EOFError(f"the precheck worker exited while starting (exit code {self._process.returncode})")
        return False

    def _discard(self, *, kill: bool) -> None:
        """Close the socket and stop the process: at once (`kill`: it failed or hung), or
        let it exit on the closed socket and kill it only if it lingers."""
        process, sock = self._process, self._sock
        self._process, self._sock, self._ready = None, None, False
        self._stopped_at = self._clock()
        if sock is not None:
            sock.close()
        if process is None:
            return
        if not kill:
            try:
                process.wait(self._stop_timeout)
            except subprocess.TimeoutExpired:
                pass
        if process.poll() is None:
            process.kill()
            try:
                process.wait(self._stop_timeout)
            except subprocess.TimeoutExpired:
                log.error("precheck worker (pid %s) did not exit after SIGKILL", process.pid)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class PrecheckError(NodeError):
    """The precheck worker did not answer as it should (the batch is checked in the node)."""


class PrecheckTimeout(PrecheckError):
    def __init__(self, count: int, seconds: float) -> None:
        super().__init__(f"no answer for {count} transactions within {seconds} s")
        self.count = count
        self.seconds = seconds


class PrecheckProtocolError(PrecheckError):
    def __init__(self, count: int, answer: object) -> None:
        super().__init__(f"unexpected answer to {count} transactions: {type(answer).__name__}")
        self.count = count
        self.answer_type = type(answer).__name__


class PrecheckFrameTooLarge(PrecheckError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"precheck frame of {size} bytes is over the {limit}-byte limit")
        self.size = size
        self.limit = limit


def main(argv: Sequence[str]) -> None:
    """The worker's entry point: `python -m node.execution.precheck FD CHAIN_ID GAS_LIMIT`."""
    fd, chain_id, gas_limit = (int(arg) for arg in argv)
    serve(socket.socket(fileno=fd), chain_id, gas_limit)


if __name__ == "__main__":
    main(sys.argv[1:])
