"""Stateless transaction checks on the second core: a worker process that decodes, checks
and recovers the senders of whole batches of raw transactions for the node's pool.

The node's pool (node/execution/txpool.py) admits a transaction in two halves: the checks
that read no state (`check_stateless`: decoding, chain id, intrinsic gas, the signature
rules and sender recovery, hashing), which cost most of admission's CPU, and the checks
against the head state and the pool (nonce, balance, membership), which need the node's
LevelDB (one process only, plyvel). The first half runs here, in a child process the node
starts with its first transaction (node/service.py) and stops when it closes, so that
admission and block execution no longer share one interpreter's GIL.

Protocol: one round trip per batch over a socket pair (multiprocessing's `Connection`:
length-prefixed pickles). The node sends a list of raw transactions; the worker answers
with a list of the same length holding, for each, the checked transaction object (pickled with the sender and hash py-evm caches on it, so the
node never recovers a sender again) or None where `check_stateless` refused it. A refused
one is checked again in the node (`TxPool.add`), which raises the very error it always did:
the worker decides nothing the node does not re-derive, it only saves work.

Never a hang: a batch that finds the worker busy, starting, dead or past its deadline is
checked in the node process instead (and a worker past its deadline is killed and started
again after a pause, with a log line). `close` stops the worker; it also exits on its own
when the node's end of the pipe closes (the node killed with -9 included).
"""
from __future__ import annotations

import logging
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection

from eth.abc import SignedTransactionAPI

from node.errors import NodeError
from node.execution.txpool import check_stateless

log = logging.getLogger("ledger.precheck")

# A batch is sent in chunks of at most this many transactions: a JSON-RPC batch's cap
# (node/api.py MAX_BATCH_CALLS, geth's 1,000), so one round trip carries a whole batch and a
# chunk's pickled answer stays around a megabyte at most (~0.8 KB per checked transaction).
MAX_PRECHECK_BATCH = 1000
# How long a chunk waits for the worker's answer before the worker is declared hung, killed
# and the chunk checked in the node: 1,000 transactions take ~0.3 s of one core, and up to
# ten times that on a machine whose cores other processes share.
PRECHECK_TIMEOUT_SECONDS = 10.0
# A worker that died or hung is started again no sooner than this after (one log line per
# death, not a restart loop when the child cannot start at all).
RESTART_PAUSE_SECONDS = 5.0
# `close` waits this long for the worker to exit once its pipe is closed, then kills it.
STOP_TIMEOUT_SECONDS = 5.0
# The worker's first message, sent once its imports are done: until then batches are
# checked in the node rather than waiting on a child that is still starting.
READY = "ready"
# The worker is a fresh interpreter (`python -m node.execution.precheck FD CHAIN_ID GAS_LIMIT`),
# never a fork: the node has threads (RPC, consensus, LevelDB) a forked child would inherit
# mid-lock. Not multiprocessing's spawn either: that re-imports the parent's main module
# (the whole CLI, ~30 MB more per node) and starts a resource-tracker process besides.
WORKER_MODULE = "node.execution.precheck"


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


def serve(conn: Connection, chain_id: int, block_gas_limit: int) -> None:
    """The worker process's main: answer batches until the node's end of the pipe closes."""
    # Ctrl-C in a terminal reaches the whole process group: the node stops its worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        conn.send(READY)
        while True:
            raws = conn.recv()
            conn.send(precheck_batch(raws, chain_id=chain_id, block_gas_limit=block_gas_limit))
    except (EOFError, OSError):
        return  # the node closed the pipe or died
    finally:
        conn.close()


class PrecheckWorker:
    """The node's handle on its precheck process. Thread-safe: RPC threads and the peer
    workers call `check` concurrently; one batch is in flight at a time and a batch that
    finds the worker busy is checked in the node instead of queueing (the queue is bounded
    at zero: a waiting batch would hold an RPC thread without using the second core more)."""

    def __init__(self, *, chain_id: int, block_gas_limit: int, timeout: float = PRECHECK_TIMEOUT_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._chain_id = chain_id
        self._timeout = timeout
        self._gas_limit = block_gas_limit
        self._clock = clock
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
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
        MAX_PRECHECK_BATCH; None when the worker cannot answer now (busy, starting, dead,
        closed, too slow): the caller checks the batch itself."""
        if not raws:
            return []
        if not self._lock.acquire(blocking=False):
            return None
        try:
            if not self._available():
                return None
            conn = self._conn
            assert conn is not None
            checked: list[SignedTransactionAPI | None] = []
            for start in range(0, len(raws), MAX_PRECHECK_BATCH):
                chunk = list(raws[start : start + MAX_PRECHECK_BATCH])
                conn.send(chunk)
                if not conn.poll(self._timeout):
                    raise PrecheckTimeout(len(chunk), self._timeout)  # killed below
                answer = conn.recv()
                if not isinstance(answer, list) or len(answer) != len(chunk):
                    raise PrecheckProtocolError(len(chunk), answer)
                checked.extend(answer)
            return checked
        except (OSError, EOFError, pickle.PickleError, PrecheckError) as exc:
            if self._ready:
                log.warning("precheck worker (pid %s) failed, checking transactions in the node; restart in %.0f s: %s",
                            self.pid, RESTART_PAUSE_SECONDS, str(exc) or type(exc).__name__)
            else:
                # It never started (an import that fails, an interpreter that cannot run):
                # starting it again would fail again.
                log.error("precheck worker (pid %s) could not start; transactions are checked in the node: %s",
                          self.pid, str(exc) or type(exc).__name__)
                self._closed = True
            self._discard(kill=True)
            return None
        finally:
            self._lock.release()

    def close(self) -> None:
        """Stop the worker (closing its pipe ends it; killed if it does not exit in time).
        Waits for a batch in flight (bounded by PRECHECK_TIMEOUT_SECONDS)."""
        with self._lock:
            self._closed = True
            self._discard(kill=False)

    # -- under the lock -----------------------------------------------------------

    def _launch(self) -> None:
        here, there = socket.socketpair()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", WORKER_MODULE, str(there.fileno()), str(self._chain_id), str(self._gas_limit)],
                pass_fds=(there.fileno(),), stdin=subprocess.DEVNULL,
            )
        except OSError:
            here.close()
            raise
        finally:
            there.close()  # the child holds its own copy: EOF reaches us if it dies
        self._process, self._conn, self._ready = process, Connection(here.detach()), False
        log.info("precheck worker started (pid %s)", process.pid)

    def _available(self) -> bool:
        """Whether the worker can take a batch now; starts one when it is time to."""
        if self._closed:
            return False
        if self._process is None:
            if self._stopped_at is not None and self._clock() - self._stopped_at < RESTART_PAUSE_SECONDS:
                return False
            self._launch()
            return False
        if self._ready:
            return True
        conn = self._conn
        assert conn is not None
        if conn.poll(0):
            message = conn.recv()  # EOFError if it died starting: the caller's handler
            if message != READY:
                raise PrecheckProtocolError(0, message)
            self._ready = True
            log.info("precheck worker ready (pid %s)", self.pid)
            return True
        if self._process.poll() is not None:
            raise EOFError(f"the precheck worker exited while starting (exit code {self._process.returncode})")
        return False

    def _discard(self, *, kill: bool) -> None:
        """Close the pipe and stop the process: at once (`kill`: it failed or hung), or
        let it exit on the closed pipe and kill it only if it lingers."""
        process, conn = self._process, self._conn
        self._process, self._conn, self._ready = None, None, False
        self._stopped_at = self._clock()
        if conn is not None:
            conn.close()
        if process is None:
            return
        if not kill:
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                pass
        if process.poll() is None:
            process.kill()
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                log.error("precheck worker (pid %s) did not exit after SIGKILL", process.pid)


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


def main(argv: Sequence[str]) -> None:
    """The worker's entry point: `python -m node.execution.precheck FD CHAIN_ID GAS_LIMIT`."""
    fd, chain_id, gas_limit = (int(arg) for arg in argv)
    serve(Connection(fd), chain_id, gas_limit)


if __name__ == "__main__":
    main(sys.argv[1:])
