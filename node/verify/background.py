"""The node verifying its own chain: `ledger chain verify`'s walk (node/verify/chain.py
`verify_chain`) over the running node's store, one run at a time, in the background, its
result kept in the data directory for auditors and courts (`GET /v1/chain/verifications/last`).

Why it does not stall consensus:

* it reads a LevelDB snapshot of the node's own store (`SnapshotSource`): the blocks
  committed before the run began, never half of one, with no copy and no lock (the node
  holds its database's lock, so `DataDirSource`'s private copy is not available to it);
* the checks that cost - decoding, commit seals, senders, transactions and receipts roots
  (`checks.inspect_chunk`) - run in worker processes (`ServerPool`): an InspectionPool
  whose workers are forked from a forkserver, never from the node itself, whose other
  threads (consensus, LevelDB's compaction, the RPC) a fork would copy mid-step;
* the rest of the walk (links, the validator set, the storage lookups) is a few dictionary
  reads and comparisons per block, on one thread of its own: it takes the GIL in the
  interpreter's switch-interval slices, never for long;
* a run stops within PROGRESS_EVERY blocks when the node stops (`cancel`), and its thread
  runs on an executor the node shuts down before it closes the store.

What it does not do that `ledger chain verify --data-dir` does: replay the event indexes
(held in memory: ~3 KB per event, gigabytes at a million entries) and re-execute blocks;
the result says so (`CHECKED`).

The result (`Run.to_json`) is written atomically to `<data-dir>/VERIFICATION_FILE`
and read back when the node starts, so the last verdict survives a restart.
"""
from __future__ import annotations

import json
import logging
import multiprocessing
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from node.errors import InvalidBlock, NodeError, StorageError
from node.execution.genesis import Genesis
from node.storage.store import LevelSnapshot, LevelStore
from node.verify.chain import InspectionPool, verify_chain
from node.verify.sources import DataDirSource, ReadOnlyStore

log = logging.getLogger("ledger.verify")

# Where the last run's result is kept, in the data directory.
VERIFICATION_FILE = "verification.json"
# Worker processes a run inspects blocks in. One: a node's verification is background
# work, and one core for it leaves the others to consensus and the RPC (a 2-core
# validator stays responsive); `ledger chain verify` on an auditor's machine takes them all.
VERIFY_WORKERS = 1
# A result file larger than this is not one this node wrote (it is ~1 KB): not read.
MAX_RESULT_BYTES = 64 * 1024
# A verifier's message or a failure's detail is cut to this many characters in the
# result (an index or record difference can run to kilobytes; the court needs the step,
# the height and the start of the detail).
MAX_MESSAGE_CHARS = 2_000
# What the node's run checks, in the words `ledger chain verify` prints.
CHECKED = ("hash links, header rules, validator set, commit seals, transactions and receipts roots, senders, "
           "transaction and vote indexes, state roots present")
NOT_CHECKED = "event indexes and re-execution: run `ledger chain verify --data-dir` on a copy"


class VerificationRunning(NodeError):
    """A run was asked for while one is in progress (one at a time)."""

    def __init__(self, running: dict[str, Any]) -> None:
        super().__init__(f"a chain verification is already running ({running['blocksChecked']} of "
                         f"{running['blocksTotal']} blocks checked); wait for it to finish")
        self.running = running


class VerificationCancelled(NodeError):
    """The node is stopping: the walk ends where it is."""


# -- reading the node's own store ----------------------------------------------------------


class _SnapshotReader(ReadOnlyStore):
    """A LevelDB snapshot of the node's store with the reads `DataDirSource` makes.
    Never written (ReadOnlyStore refuses), closed with the source."""

    def __init__(self, snapshot: LevelSnapshot, path: Path) -> None:
        self._snapshot = snapshot
        self.path = path

    def get(self, key: bytes) -> bytes | None:
        return self._snapshot.get(key)

    def close(self) -> None:
        self._snapshot.close()


class SnapshotSource(DataDirSource):
    """The blocks of the running node's own store, from one snapshot taken at the start:
    `DataDirSource`'s reads (every key of node/storage/schema.py it checks) without its
    private copy."""

    def __init__(self, store: LevelStore) -> None:
        self.store = _SnapshotReader(store.snapshot(), store.path)
        self._remove_scratch = cast(Any, lambda: None)
        self.description = f"this node's store {store.path}"


class ServerPool(InspectionPool):
    """An InspectionPool whose workers come from a forkserver: a fresh single-threaded
    process that has imported the checks once, so each worker starts in milliseconds and
    none is a copy of the running node."""

    def __init__(self, workers: int) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["node.verify.checks"])
        self.workers = workers
        self.executor = ProcessPoolExecutor(workers, mp_context=context, initializer=signal.signal,
                                            initargs=(signal.SIGINT, signal.SIG_IGN))
        self.executor.submit(int).result()


# -- runs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One verification: who asked, its progress, and (once finished) its verdict.

    `state`: running, valid, invalid (a block failed: `failure` names its height and step),
    failed (the walk could not run: a worker died, the store could not be read) or
    interrupted (the node stopped first)."""

    id: str
    requested_by: dict[str, Any]
    started: float
    state: str = "running"
    blocks_total: int | None = None
    blocks_checked: int = 0
    finished: float | None = None
    transactions: int | None = None
    genesis_hash: str | None = None
    head_hash: str | None = None
    failure: dict[str, Any] | None = None
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "state": self.state, "requestedBy": self.requested_by,
            "started": int(self.started), "finished": None if self.finished is None else int(self.finished),
            "seconds": None if self.finished is None else round(self.finished - self.started, 3),
            "blocksTotal": self.blocks_total, "blocksChecked": self.blocks_checked,
            "transactions": self.transactions, "genesisHash": self.genesis_hash, "headHash": self.head_hash,
            "failure": self.failure, "message": self.message, "checked": CHECKED, "notChecked": NOT_CHECKED,
        }


@dataclass
class Verifications:
    """The node's verification runs: at most one at a time (`start` refuses a second with
    VerificationRunning), the last result kept in `data_dir` and read back at start.

    `executor` runs each walk (the REST layer gives one the node shuts down before it
    closes the store); `clock` stamps start and finish (seconds since 1970)."""

    store: LevelStore
    genesis: Genesis
    data_dir: Path
    executor: Executor
    workers: int = VERIFY_WORKERS
    clock: Callable[[], float] = time.time
    pool_factory: Callable[[int], InspectionPool] = ServerPool
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _running: Run | None = None
    _last: dict[str, Any] | None = None
    _cancel: threading.Event = field(default_factory=threading.Event)
    _done: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._last = read_result(self.data_dir / VERIFICATION_FILE)
        self._done.set()

    def status(self) -> dict[str, Any]:
        """{"running": the run in progress or null, "last": the last finished run or null}."""
        with self._lock:
            running = self._running
            return {"running": None if running is None else running.to_json(), "last": self._last}

    def start(self, requested_by: dict[str, Any]) -> dict[str, Any]:
        """Begin a run over the whole chain; VerificationRunning if one is in progress."""
        with self._lock:
            if self._running is not None:
                raise VerificationRunning(self._running.to_json())
            if self._cancel.is_set():
                raise StorageError("the node is stopping: no verification starts now")
            run = Run(secrets.token_hex(8), dict(requested_by), self.clock())
            self._running = run
            self._done.clear()
        try:
            self.executor.submit(self._walk, run)
        except RuntimeError:  # the executor is shut down: the node is stopping
            with self._lock:
                self._running = None
                self._done.set()
            raise StorageError("the node is stopping: no verification starts now") from None
        return run.to_json()

    def cancel(self) -> None:
        """Stop the run in progress (the node is stopping) and refuse new ones."""
        self._cancel.set()

    def wait(self, timeout: float) -> bool:
        """Whether no run is in progress after at most `timeout` seconds."""
        return self._done.wait(timeout)

    def _update(self, **changes: Any) -> Run:
        with self._lock:
            assert self._running is not None
            self._running = replace(self._running, **changes)
            return self._running

    def _progress(self, checked: int) -> None:
        self._update(blocks_checked=checked)
        if self._cancel.is_set():
            raise VerificationCancelled()

    def _walk(self, run: Run) -> None:
        """One run, start to verdict: on the executor's thread."""
        pool: InspectionPool | None = None
        source: SnapshotSource | None = None
        try:
            try:
                source = SnapshotSource(self.store)
                head = source.head()
                self._update(blocks_total=head + 1)
                pool = self.pool_factory(self.workers)
                summary = verify_chain(source, genesis=self.genesis, last=head, pool=pool, on_progress=self._progress)
            except VerificationCancelled:
                final = self._update(state="interrupted", message="INTERRUPTED: the node stopped before the walk "
                                                                  "finished")
            except InvalidBlock as exc:
                final = self._update(state="invalid", failure={"height": exc.height, "step": exc.step,
                                                               "detail": exc.detail[:MAX_MESSAGE_CHARS]},
                                     message=f"INVALID at height {exc.height}: {exc.step}: {exc.detail}"[
                                         :MAX_MESSAGE_CHARS])
            except (StorageError, BrokenProcessPool, OSError) as exc:
                final = self._update(state="failed", message=f"the walk could not run: {exc}"[:MAX_MESSAGE_CHARS])
            except Exception as exc:  # a fault of the verifier: recorded, never a silent dead thread
                log.exception("chain verification failed")
                final = self._update(state="failed", message=f"the verifier failed: {exc!r}"[:MAX_MESSAGE_CHARS])
            else:
                final = self._update(
                    state="valid", blocks_checked=summary.blocks, transactions=summary.transactions,
                    genesis_hash="0x" + summary.genesis_hash.hex(), head_hash="0x" + summary.head_hash.hex(),
                    message=(f"VALID: {summary.blocks:,} blocks from genesis 0x{summary.genesis_hash.hex()} to head "
                             f"0x{summary.head_hash.hex()}; {summary.transactions:,} transactions"))
        finally:
            if source is not None:
                source.close()
            if pool is not None:
                pool.close()
        final = replace(final, finished=self.clock())
        result = final.to_json()
        try:
            write_result(self.data_dir / VERIFICATION_FILE, result)
        except OSError:
            log.exception("could not store the chain verification's result")
        with self._lock:
            self._running = None
            self._last = result
            self._done.set()
        log.info("chain verification %s: %s", final.id, final.message)


# -- the result file -----------------------------------------------------------------------


def write_result(path: Path, result: dict[str, Any]) -> None:
    """Replace `path` with `result` (JSON): a private temporary file beside it, fsynced,
    renamed over it, the directory fsynced. A crash leaves the old result or the new."""
    staging = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(json.dumps(result, indent=1).encode() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staging, path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def read_result(path: Path) -> dict[str, Any] | None:
    """The result stored at `path`; None when there is none or it is not one (logged)."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_RESULT_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("cannot read %s: %s", path, exc)
        return None
    try:
        if len(raw) > MAX_RESULT_BYTES:
            raise ValueError(f"larger than {MAX_RESULT_BYTES} bytes")
        result = json.loads(raw)
        if not isinstance(result, dict) or not isinstance(result.get("state"), str):
            raise ValueError("not a verification result")
    except ValueError as exc:
        log.warning("ignoring %s: %s", path, exc)
        return None
    return result
