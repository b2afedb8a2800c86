"""The consensus driver's own duties on a real data directory (no peers, no event loop):
importing synced blocks, recovering from a commit that fails, storing and resuming the
QBFT lock across a restart."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.consensus.driver import ConsensusDriver
from node.consensus.interface import Decided
from node.execution.chain import Chain
from node.network import importer
from node.ops.runner import init_data_dir, write_key_file
from node.service import Node, NodeConfig, open_node
from node.storage import schema
from node.storage.store import LevelStore
from tests.unit.node.votechain import A, B, C, make_genesis, propose


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Path, Chain]]:
    """A data directory for validator A of a 4-validator chain, and a second copy of the
    chain (the "peer") to make sealed blocks with."""
    genesis = make_genesis()
    genesis_path = tmp_path / "genesis.json"
    genesis_path.write_text(json.dumps(genesis.document))
    write_key_file(tmp_path / "a.key", A._key.secret)  # type: ignore[attr-defined]
    init_data_dir(tmp_path / "a", genesis_path, tmp_path / "a.key")
    store = LevelStore(tmp_path / "peer")
    yield tmp_path / "a", Chain.initialise(store, genesis)
    store.close()


def started(data_dir: Path) -> tuple[Node, ConsensusDriver]:
    node = open_node(NodeConfig(data_dir=data_dir))
    driver = ConsensusDriver(node)
    driver._on_thread(driver._start_height, ())
    return node, driver


def into_round_one(driver: ConsensusDriver) -> None:
    """Height 1 starts, and its round 0 times out (no peers: nobody else prepares)."""
    assert driver.machine is not None
    driver._on_thread(driver.machine.on_block_timer, ())
    driver._on_thread(driver.machine.on_timeout, (1, 0))


def sealed_block(peer: Chain) -> bytes:
    header, built = propose(peer, A, signers=[A, B, C])
    peer.commit(header, built, [])  # type: ignore[arg-type]
    return importer.encode_block(header, ())


def test_synced_blocks_are_imported_until_a_bad_one_and_the_height_restarts(setup: tuple[Path, Chain]) -> None:
    data_dir, peer = setup
    node, driver = started(data_dir)
    try:
        assert driver.machine is not None and driver.machine.height == 1
        first = sealed_block(peer)
        outcome = driver._on_thread(driver._import_on_thread, ("peer", [first, b"\xc0garbage"]))
        assert [h.block_number for h in outcome.committed] == [1]
        assert node.chain.head.hash == peer.head.hash
        assert driver.machine.height == 2  # follows the head it has now
    finally:
        node.close()


def test_a_decision_that_cannot_be_stored_restarts_the_height(setup: tuple[Path, Chain]) -> None:
    data_dir, peer = setup
    node, driver = started(data_dir)
    try:
        assert driver.machine is not None
        into_round_one(driver)
        assert driver.machine.round == 1
        good = importer.decode_block(sealed_block(peer))
        unstorable = importer.encode_block(good.header.copy(state_root=b"\x01" * 32), ())
        outcome = driver._on_thread(lambda: [Decided(1, 1, unstorable, ())], ())
        assert outcome.committed == [] and node.chain.head.block_number == 0
        # The height started again (resuming after its stored round) instead of staying
        # "decided" on a block nobody can store.
        assert (driver.machine.height, driver.machine.round, driver.machine.decision) == (1, 2, None)
    finally:
        node.close()


def test_the_lock_is_stored_and_a_restart_resumes_after_its_round(setup: tuple[Path, Chain]) -> None:
    data_dir, _ = setup
    node, driver = started(data_dir)
    try:
        assert driver.machine is not None
        into_round_one(driver)
        assert driver.machine.round == 1
        assert driver._load_lock() is not None and driver._load_lock().round == 1  # type: ignore[union-attr]
        assert node.store.get(schema.CONSENSUS_LOCK_KEY) is not None
    finally:
        node.close()
    node, driver = started(data_dir)  # the process restarted
    try:
        assert driver.machine is not None
        assert (driver.machine.height, driver.machine.round) == (1, 2)  # never round 0 or 1 again
    finally:
        node.close()
