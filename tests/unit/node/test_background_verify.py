"""The node's own background chain verification (node/verify/background.py) over a real
LevelDB held open as a running node holds it: a valid chain, a damaged block named with
its height and step, one run at a time, the result surviving a reopen, a run stopped by
the node stopping, and worker processes that are not forks of the node."""
from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from node.storage import schema
from node.storage.store import LevelStore
from node.verify import background, chain as verify
from node.verify.background import VERIFICATION_FILE, ServerPool, VerificationRunning, Verifications, read_result
from node.verify.chain import InspectionPool
from tests.unit.node.test_chain_verify import DAMAGED, HEIGHT, TX_BLOCKS, Built, build_chain, flip, make_genesis

DEADLINE_SECONDS = 60


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_chain(tmp_path_factory.mktemp("pristine") / "chain")


@pytest.fixture
def data_dir(pristine: Built, tmp_path: Path) -> Iterator[tuple[Path, Built]]:
    shutil.copytree(pristine.path, tmp_path / "chain")
    yield tmp_path, replace(pristine, path=tmp_path / "chain")


def in_process(workers: int) -> InspectionPool | None:
    """No worker processes: the unit tests check the runner, not the pool (one test does)."""
    return None


def verifications(data_dir: Path, store: LevelStore, executor: ThreadPoolExecutor, **kwargs: object) -> Verifications:
    fixed = iter(range(1_800_000_000, 1_800_001_000))
    return Verifications(store, make_genesis(), data_dir, executor, clock=lambda: float(next(fixed)),
                         pool_factory=kwargs.pop("pool_factory", in_process), **kwargs)  # type: ignore[arg-type]


def test_a_valid_chain_is_recorded_valid_and_survives_a_reopen(data_dir: tuple[Path, Built]) -> None:
    directory, built = data_dir
    store = LevelStore(built.path)  # held open, as the running node holds it
    try:
        with ThreadPoolExecutor(1) as executor:
            runs = verifications(directory, store, executor)
            assert runs.status() == {"running": None, "last": None}
            started = runs.start({"role": "AUDITOR", "subject": "auditor"})
            assert started["state"] == "running" and started["requestedBy"]["role"] == "AUDITOR"
            assert runs.wait(DEADLINE_SECONDS)
            last = runs.status()["last"]
    finally:
        store.close()
    assert last["state"] == "valid", last
    assert (last["blocksTotal"], last["blocksChecked"], last["transactions"]) == (HEIGHT + 1, HEIGHT + 1,
                                                                                  3 * len(TX_BLOCKS))
    assert last["headHash"] == "0x" + built.hashes[-1].hex() and last["genesisHash"] == "0x" + built.hashes[0].hex()
    assert (last["started"], last["finished"]) == (1_800_000_000, 1_800_000_001)
    assert last["message"].startswith(f"VALID: {HEIGHT + 1} blocks from genesis")
    # kept in the data directory, and read back by the next node
    assert json.loads((directory / VERIFICATION_FILE).read_text()) == last
    store = LevelStore(built.path)
    try:
        with ThreadPoolExecutor(1) as executor:
            assert verifications(directory, store, executor).status() == {"running": None, "last": last}
    finally:
        store.close()


def test_a_damaged_block_is_recorded_with_its_height_and_step(data_dir: tuple[Path, Built]) -> None:
    directory, built = data_dir
    flip(built.path, schema.receipts_key(built.hashes[DAMAGED]), -3)
    store = LevelStore(built.path)
    try:
        with ThreadPoolExecutor(1) as executor:
            runs = verifications(directory, store, executor)
            runs.start({"role": "ADMIN"})
            assert runs.wait(DEADLINE_SECONDS)
    finally:
        store.close()
    last = runs.status()["last"]
    assert last["state"] == "invalid"
    assert (last["failure"]["height"], last["failure"]["step"]) == (DAMAGED, "receipts root")
    assert last["message"].startswith(f"INVALID at height {DAMAGED}: receipts root")


def test_one_run_at_a_time_and_a_stopping_node_interrupts_it(data_dir: tuple[Path, Built],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    directory, built = data_dir
    monkeypatch.setattr(verify, "PROGRESS_EVERY", 1)  # a progress report per block
    gate, reached = threading.Event(), threading.Event()
    store = LevelStore(built.path)
    try:
        with ThreadPoolExecutor(1) as executor:
            runs = verifications(directory, store, executor)
            progress = runs._progress

            def held(checked: int) -> None:  # the walk waits at block 3 until the test lets it go
                if checked == 3:
                    reached.set()
                    assert gate.wait(DEADLINE_SECONDS)
                progress(checked)

            monkeypatch.setattr(runs, "_progress", held)
            runs.start({"role": "AUDITOR"})
            assert reached.wait(DEADLINE_SECONDS)
            with pytest.raises(VerificationRunning) as refused:
                runs.start({"role": "ADMIN"})
            assert refused.value.running["state"] == "running"
            assert runs.status()["running"]["blocksTotal"] == HEIGHT + 1
            runs.cancel()
            gate.set()
            assert runs.wait(DEADLINE_SECONDS)
            with pytest.raises(background.StorageError):
                runs.start({"role": "ADMIN"})  # the node is stopping
    finally:
        store.close()
    last = runs.status()["last"]
    assert last["state"] == "interrupted" and last["blocksChecked"] == 3, last
    assert read_result(directory / VERIFICATION_FILE) == last


def test_a_result_file_that_is_not_one_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / VERIFICATION_FILE
    for content in (b"not json", b"[1, 2]", b'{"state": 1}', b"{" + b" " * (background.MAX_RESULT_BYTES + 1) + b"}"):
        path.write_bytes(content)
        assert read_result(path) is None, content
    assert read_result(tmp_path / "absent.json") is None


def test_the_workers_come_from_a_forkserver_and_give_the_same_verdict(data_dir: tuple[Path, Built],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    directory, built = data_dir
    monkeypatch.setattr(verify, "INSPECT_CHUNK_BLOCKS", 2)  # several chunks in flight
    store = LevelStore(built.path)
    try:
        with ThreadPoolExecutor(1) as executor:
            runs = verifications(directory, store, executor, pool_factory=ServerPool)
            runs.start({"role": "AUDITOR"})
            assert runs.wait(DEADLINE_SECONDS)
    finally:
        store.close()
    assert runs.status()["last"]["state"] == "valid", runs.status()
    pool = ServerPool(1)
    try:
        assert pool.executor._mp_context.get_start_method() == "forkserver"  # type: ignore[attr-defined]
    finally:
        pool.close()
