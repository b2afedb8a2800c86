"""Running a node process: data-directory set-up (init, --dev) and the serve loop."""
from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import json
import logging
import os
import secrets
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from eth_account import Account

from node.consensus.driver import ConsensusDriver
from node.consensus.sealing import ValidatorKey
from node.errors import ConfigError, NodeError, StorageError
from node.execution.chain import Chain
from node.execution.escalation import with_validator_members
from node.execution.genesis import Genesis, build_genesis_document
from node.network.faults import Faults
from node.network.frames import Hello
from node.network.peers import PeerNetwork
from node.network.tls import tls_contexts
from node.ops.config import FAULTS_ENV, active_faults, load_node_config
from node.rpc.app import create_app
from node.service import CHAIN_DIR, GENESIS_FILE, KEY_FILE, Node, NodeConfig, open_node
from node.storage.files import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, PRIVATE_UMASK, make_private, write_private_file
from node.storage.store import LevelStore

log = logging.getLogger("ledger.node")

DEV_CHAIN_ID = 1337
# How long a stopping node waits for consensus to finish the block in hand.
CONSENSUS_STOP_SECONDS = 30
DEV_ACCOUNT_FILE = "dev-account.json"
DEV_BALANCE = 10**9 * 10**18  # one billion ether: the dev chain charges no gas anyway


@dataclass(frozen=True)
class DevAccount:
    address: str
    private_key: str


def write_key_file(path: Path, secret: bytes) -> None:
    """The key as 0x-hex text, created with mode 0600 (a missing parent: 0700)."""
    path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w") as handle:
        handle.write("0x" + secret.hex() + "\n")


def init_data_dir(data_dir: Path, genesis_path: Path, key_path: Path | None = None) -> Genesis:
    """Copy genesis (and a validator key) into `data_dir` and write the genesis block.
    The directory is private (node/storage/files.py): made 0700, or tightened if it exists."""
    genesis = Genesis.load(genesis_path)
    data_dir.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    make_private(data_dir)
    target = data_dir / GENESIS_FILE
    if target.exists() and Genesis.load(target).document != genesis.document:
        raise StorageError(f"{data_dir} already holds a different genesis.json")
    if not target.exists():
        write_private_file(target, genesis_path.read_bytes())
    if key_path is not None:
        if (data_dir / KEY_FILE).exists():
            raise StorageError(f"{data_dir / KEY_FILE} exists; refusing to overwrite a node key")
        write_private_file(data_dir / KEY_FILE, key_path.read_bytes())
    store = LevelStore(data_dir / CHAIN_DIR)
    try:
        Chain.initialise(store, genesis)
    finally:
        store.close()
    return genesis


def ensure_dev_data_dir(data_dir: Path) -> DevAccount:
    """First run: a validator key, a funded dev account and a 1-second genesis. Later: reuse.

    The first run builds everything in a staging directory and renames it into place, so
    an interrupted first run leaves nothing half-made behind.
    """
    account_file = data_dir / DEV_ACCOUNT_FILE
    if account_file.exists():
        make_private(data_dir)   # made by an older version: tighten it (logged)
        doc = json.loads(account_file.read_text())
        return DevAccount(doc["address"], doc["private_key"])
    if data_dir.exists() and any(data_dir.iterdir()):
        raise ConfigError(str(data_dir), "is not an empty or --dev data directory; use another --data-dir for --dev")
    staging = data_dir.parent / f".{data_dir.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=PRIVATE_DIR_MODE, parents=True)
    validator_secret = secrets.token_bytes(32)
    write_key_file(staging / KEY_FILE, validator_secret)
    dev = Account.create()
    dev_address = bytes.fromhex(dev.address[2:])
    validator = ValidatorKey(validator_secret).address
    document = build_genesis_document(
        chain_id=DEV_CHAIN_ID,
        validators=[validator],
        alloc={dev_address: DEV_BALANCE},
        # The validator is a member so that its blocks raise commitment alerts (node/execution/escalation.py).
        members=with_validator_members([(dev_address, "ADMIN")], [validator]),
    )
    genesis_path = staging / GENESIS_FILE
    write_private_file(genesis_path, (json.dumps(document, indent=2) + "\n").encode())
    init_data_dir(staging, genesis_path)
    account = DevAccount(dev.address, "0x" + bytes(dev.key).hex())
    fd = os.open(staging / DEV_ACCOUNT_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w") as handle:
        json.dump({"address": account.address, "private_key": account.private_key}, handle, indent=2)
    if data_dir.exists():
        data_dir.rmdir()  # empty, checked above
    staging.rename(data_dir)
    return account


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after shutting down, which would make a clean stop look
    like a crash (exit -15); the node installs its own handlers instead."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def consensus_driver(node: Node) -> ConsensusDriver:
    """The node's consensus, wired to peers when `<data-dir>/node.json` configures p2p.

    Fault injection (node.json "faults") is test-only: it is honoured only when the
    environment variable LEDGER_TEST_FAULTS is "1", and then logged loudly.
    """
    file_config = load_node_config(node.config.data_dir)
    faults = active_faults(file_config, os.environ)
    if file_config.faults is not None and faults is None:
        log.warning("node.json configures faults but %s is not set: ignoring them", FAULTS_ENV)
    if faults is not None:
        log.warning("TEST FAULT INJECTION ACTIVE: %s", faults)
    p2p = file_config.p2p
    if p2p is None:
        return ConsensusDriver(node, None, faults)
    ca = node.genesis.consortium_ca
    if ca is None:
        raise ConfigError("evidenceLedger.consortiumCA", "node.json configures p2p, so genesis must name the consortium CA")
    server_ssl, client_ssl = tls_contexts(p2p.tls_cert, p2p.tls_key, ca)
    genesis_hash = node.chain.genesis_header.hash
    chain_id = node.genesis.chain_id

    def network(driver: ConsensusDriver) -> PeerNetwork:
        def hello() -> Hello:
            height, head_hash = driver.hello_fields()
            validator = node.key.address if node.key is not None else None
            return Hello(chain_id, genesis_hash, p2p.name, validator, height, head_hash)

        transport_faults = None
        if faults is not None:
            transport_faults = Faults(drop=faults.drop, delay=faults.delay, duplicate=faults.duplicate, seed=faults.seed)
        return PeerNetwork(
            hello=hello,
            listen=(p2p.listen_host, p2p.listen_port),
            peers=p2p.peers,
            server_ssl=server_ssl,
            client_ssl=client_ssl,
            on_message=driver.on_message,
            on_request=driver.on_request,
            on_peer_status=driver.on_peer_status,
            faults=transport_faults,
        )

    return ConsensusDriver(node, network, faults)


class ConsensusStuck(NodeError):
    """Consensus did not finish within CONSENSUS_STOP_SECONDS of the stop."""


class ConsensusThread(threading.Thread):
    """The consensus driver on an event loop and thread of its own: its timers, its peers'
    messages and its block production never wait for the RPC's loop, whatever a client
    sends (a huge answer to encode, a flood of connections)."""

    def __init__(self, driver: ConsensusDriver, on_exit: Callable[[], None]) -> None:
        super().__init__(name="consensus-loop", daemon=True)
        self.driver = driver
        self.on_exit = on_exit
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self.driver.run())
        except BaseException as exc:
            log.critical("consensus stopped: %s", exc, exc_info=exc)
            self.error = exc
        finally:
            self.on_exit()


async def serve(node: Node, host: str, port: int) -> None:
    """Serve RPC and run consensus until SIGINT/SIGTERM; then finish the block in hand."""
    driver = consensus_driver(node)
    app = create_app(node)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off", ws="websockets-sansio")
    server = _Server(config)
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        # First signal: finish the block in hand and stop. Second: stop without waiting
        # for open requests (a committed block is never half-written either way).
        if server.should_exit:
            server.force_exit = True
        server.should_exit = True
        app.state.closing.set()  # open feed streams end (node/rpc/rest/feed.py)

    def consensus_ended() -> None:  # on the consensus thread; a node without consensus stops
        with contextlib.suppress(RuntimeError):  # the RPC loop has ended already
            loop.call_soon_threadsafe(lambda: None if server.should_exit else on_signal())

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    node.listen_on(loop)
    consensus = ConsensusThread(driver, consensus_ended)
    consensus.start()
    try:
        await server.serve()
    finally:
        node.stop()
        # The RPC's worker threads read the store: let them finish before it can close.
        for pool in app.state.rpc_pools:
            await loop.run_in_executor(None, functools.partial(pool.shutdown, wait=True, cancel_futures=True))
        await loop.run_in_executor(None, consensus.join, CONSENSUS_STOP_SECONDS)
    if consensus.is_alive():
        raise ConsensusStuck(f"consensus did not stop within {CONSENSUS_STOP_SECONDS} s")
    if consensus.error is not None:
        raise consensus.error


# glibc malloc settings (mallopt parameters). Every thread that allocates gets an arena of
# its own (up to 8 per core), and a freed large block raises the size above which blocks
# are mmapped, so the next ones come from those arenas and stay: RPC threads parsing 5 MiB
# bodies and encoding large answers grew a node 2.3x over idle in bench/soak/. Two arenas
# and a fixed mmap threshold give freed large blocks back to the system.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
MALLOC_ARENAS = 2
MALLOC_MMAP_THRESHOLD = 256 * 1024


def tune_malloc() -> None:
    """Apply the malloc settings above where the C library is glibc (elsewhere: nothing);
    before any thread starts, so that the arena limit holds for all of them."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(M_ARENA_MAX, MALLOC_ARENAS)
    mallopt(M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD)
    mallopt(M_TRIM_THRESHOLD, 2 * MALLOC_MMAP_THRESHOLD)


def run_node(config: NodeConfig, host: str, port: int) -> None:
    tune_malloc()
    # The data directory is private (node/storage/files.py): tighten what an older version or an
    # operator left wider, and make everything this process creates from now on owner-only.
    os.umask(PRIVATE_UMASK)
    make_private(config.data_dir)
    node = open_node(config)
    try:
        asyncio.run(serve(node, host, port))
    except ConsensusStuck:
        # Its thread may still be inside a block's write batch: closing LevelDB under it
        # could crash the process mid-write. Leave the store to the process's exit; the
        # next open replays LevelDB's log (a block is written whole or not at all).
        raise
    except BaseException:
        node.close()
        raise
    node.close()
