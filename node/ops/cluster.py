"""A local testnet: N validators and M observers as node processes on loopback ports, with
their own genesis, validator keys, consortium CA and TLS certificates.

This is what `ledger cluster up|down|status|add`, the cluster tests, the benchmarks and
the README run. A cluster directory holds:

```
D/cluster.json          chain id, host, the admin account's address, the base port (if
                        the ports were laid out from one), every node (name, kind,
                        validator address, data dir, ports, pid while running)
D/genesis.json          the chain's genesis (validators sorted, evidenceLedger.consortiumCA)
D/accounts.json         the funded ADMIN account: address and private key (mode 0600)
D/admin.key             the same key as a hex key file for `--key` (mode 0600)
D/admin.token           an ADMIN role token (365 days) every node accepts: the nodes are
                        not --dev, so their RPC wants one (LEDGER_TOKEN; docs/access.md)
D/tokens/               the cluster's token issuer (`ledger token issue --data-dir D`); its
                        key is copied into every node's tokens/, so one token works on all
D/ca/ca.crt, ca.key     the consortium CA; its key issues certificates for added nodes
D/nodes/<name>/         one node's data directory: genesis.json, key (validators only),
                        chain/, node.json, tls/node.crt, tls/node.key, node.log
```

Paths inside cluster.json and node.json are relative, so a cluster directory can be moved
while stopped. Nodes run in their own sessions and outlive the command that started
them; their pids are kept in cluster.json. Before signalling a recorded pid the process
is checked to be a `ledger node start` of that node's data directory (Linux /proc), so a
stale pid that the system has since reused is never signalled.

A node whose recorded pid is not running but which runs all the same (an operator
restarted it with its own `ledger node start --data-dir nodes/NAME` line) is found in
/proc by its data directory and recorded: it is a member again, which `cluster down`
stops and `cluster up` does not trip over.

Ports: by default the system picks free ones. With a base port B, node i (validators
first, then observers, then added nodes in order) gets RPC port B+2i and p2p port B+2i+1.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping, Sequence

from eth_utils import to_checksum_address

from node.ops.config import (
    FAULTS_ENV, MAX_PEERS, FaultConfig, NodeFileConfig, P2PConfig, load_node_config,
    write_node_config,
)
from node.errors import ConfigError, LedgerError
from node.fields import typed_field
from node.network.tlscerts import (
    ConsortiumCA, issue_node_certificate, load_consortium_ca, make_consortium_ca, write_certificate,
    write_private_key,
)

NodeKind = Literal["validator", "observer"]
KINDS: tuple[NodeKind, ...] = ("validator", "observer")

# Creating a cluster imports the node (py-evm, LevelDB); `status` and `down` need none of
# it, so those imports are made inside the functions that create.

CLUSTER_FILE = "cluster.json"
GENESIS_FILE = "genesis.json"  # the cluster's genesis, the file receipts are verified against
ACCOUNTS_FILE = "accounts.json"
ADMIN_KEY_FILE = "admin.key"
ADMIN_TOKEN_FILE = "admin.token"
ADMIN_TOKEN_TTL_SECONDS = 365 * 86400
TOKENS_DIR = "tokens"        # node.access.TOKENS_DIR (status and down do not import it)
ISSUER_KEY_FILE = "issuer.key"  # node.access.ISSUER_KEY_FILE
CA_CERT_FILE = "ca/ca.crt"
CA_KEY_FILE = "ca/ca.key"
NODES_DIR = "nodes"
TLS_CERT_FILE = "tls/node.crt"
TLS_KEY_FILE = "tls/node.key"
NODE_LOG_FILE = "node.log"
LOCK_FILE = ".cluster.lock"
CLUSTER_FORMAT = 1

DEFAULT_CHAIN_ID = 4343
DEFAULT_HOST = "127.0.0.1"
# Every node dials every other and node.json lists at most MAX_PEERS peers.
MAX_NODES = MAX_PEERS + 1
MAX_VALIDATORS = 64  # node.genesis.MAX_VALIDATORS (a test checks they agree)
# A node imports py-evm and opens LevelDB before it serves; on a loaded 2-core machine
# several starting at once take a few seconds each.
STARTUP_DEADLINE_SECONDS = 60.0
# A node finishes the block in hand on SIGTERM; after this it is killed.
STOP_DEADLINE_SECONDS = 30.0
KILL_DEADLINE_SECONDS = 10.0
RPC_TIMEOUT_SECONDS = 2.0
POLL_SECONDS = 0.1
LOG_TAIL_BYTES = 4000
METHOD_NOT_FOUND = -32601
PR_SET_PDEATHSIG = 1  # prctl(2)
# A base port lays each node's two ports out from it. Ports below 1024 need privileges a
# testnet should not have; 65535 is the last TCP port.
MIN_BASE_PORT = 1024
MAX_PORT = 65535
PROC = Path("/proc")

# Processes this Python process started, so it can reap them (a zombie still has a pid)
# and report their exit codes. A pid the system reuses for a later child replaces its entry.
_children: dict[int, subprocess.Popen[bytes]] = {}


class ClusterError(LedgerError):
    """A cluster could not be created, started or stopped; `node` names which node, if any."""

    def __init__(self, message: str, node: str | None = None) -> None:
        super().__init__(message)
        self.node = node


class UnknownNodeError(ClusterError):
    """No node of that name in the cluster: a usage error (`ledger cluster` exits 2)."""


class NodeNotRunningError(ClusterError):
    """The node asked to stop is not running: a usage error (`ledger cluster` exits 2)."""

    def __init__(self, node: str) -> None:
        super().__init__(f"{node} is not running", node)


class NodeStartError(ClusterError):
    """A node exited, or did not answer /healthz by the deadline; `log_tail` is the end of
    its node.log from this start."""

    def __init__(self, node: str, reason: str, log_path: Path, log_tail: str) -> None:
        super().__init__(f"node {node} did not come up: {reason}", node)
        self.reason = reason
        self.log_path = log_path
        self.log_tail = log_tail


@dataclass(frozen=True)
class ClusterNode:
    name: str
    kind: NodeKind
    address: bytes | None  # the validator key's address; None for an observer
    data_dir: Path         # absolute
    host: str
    rpc_port: int
    p2p_port: int
    pid: int | None        # while started by this tooling; None when stopped

    @property
    def rpc_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.rpc_port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / NODE_LOG_FILE


@dataclass(frozen=True)
class ClusterLayout:
    dir: Path  # absolute
    chain_id: int
    host: str
    account: str  # the funded ADMIN account's checksummed address; key in accounts.json
    nodes: tuple[ClusterNode, ...]
    base_port: int | None = None  # node i has ports base+2i (RPC), base+2i+1 (p2p); None: any free

    @property
    def genesis_path(self) -> Path:
        return self.dir / GENESIS_FILE

    @property
    def admin_key_path(self) -> Path:
        return self.dir / ADMIN_KEY_FILE

    @property
    def admin_token_path(self) -> Path:
        return self.dir / ADMIN_TOKEN_FILE

    @property
    def validators(self) -> tuple[ClusterNode, ...]:
        return tuple(n for n in self.nodes if n.kind == "validator")

    @property
    def observers(self) -> tuple[ClusterNode, ...]:
        return tuple(n for n in self.nodes if n.kind == "observer")

    def node(self, name: str) -> ClusterNode:
        for candidate in self.nodes:
            if candidate.name == name:
                return candidate
        raise UnknownNodeError(f"no node named {name!r} in {self.dir} (have {', '.join(n.name for n in self.nodes)})",
                               name)


@dataclass(frozen=True)
class AdminAccount:
    address: str
    private_key: str  # 0x-hex


@dataclass(frozen=True)
class PeerStatus:
    name: str | None
    address: str | None
    height: int | None


@dataclass(frozen=True)
class NodeStatus:
    name: str
    kind: NodeKind
    pid: int | None
    alive: bool            # the recorded pid is this node's running process
    rpc_url: str
    reachable: bool        # JSON-RPC answered
    source: str            # "ledger_nodeStatus", "eth_blockNumber" (an older node), or "-"
    height: int | None = None
    round: int | None = None
    peers: tuple[PeerStatus, ...] | None = None
    validator: bool | None = None
    address: str | None = None
    syncing: bool | None = None
    error: str | None = None


# -- creating ------------------------------------------------------------------------


def create_cluster(
    dir: Path,
    validators: int,
    observers: int = 0,
    *,
    chain_id: int = DEFAULT_CHAIN_ID,
    block_period: int = 1,
    empty_block_period: int = 60,
    request_timeout: int = 4,
    host: str = DEFAULT_HOST,
    faults: Mapping[int, FaultConfig] | None = None,
    members: Sequence[tuple[bytes, str]] = (),
    base_port: int | None = None,
    now: datetime | None = None,
) -> ClusterLayout:
    """Write a new cluster into `dir` (absent or empty); nothing is started.

    `members` are (address, role) pairs registered in genesis besides the funded admin
    account (the benchmarks' sending accounts, say).

    Nodes are `validator-0..N-1` (in the genesis order of their addresses) and then
    `observer-0..M-1`; `faults` maps such a node index (validators first) to the faults
    written into its node.json. Node i listens on RPC port `base_port`+2i and p2p port
    `base_port`+2i+1, each checked free now (ConfigError "base_port" otherwise); without
    `base_port` the system picks free ports. Everything is built in a staging directory
    beside `dir` and renamed into place, so an interrupted create leaves nothing half-made.
    """
    from eth_account import Account

    from node.access.http import TokenStore, private_pem
    from node.execution.genesis import Genesis, build_genesis_document
    from node.ops.runner import DEV_BALANCE, write_key_file
    from node.consensus.sealing import ValidatorKey

    _check_count("validators", validators, 1, MAX_VALIDATORS)
    _check_count("observers", observers, 0, MAX_NODES - validators)
    faults = dict(faults or {})
    for index in faults:
        if not 0 <= index < validators + observers:
            raise ConfigError("faults", f"node index {index} out of range 0..{validators + observers - 1}")
    dir = dir.absolute()
    if (dir / CLUSTER_FILE).exists():
        raise ConfigError(str(dir), "already holds a cluster (cluster.json); start it, or remove the directory")
    if dir.exists() and (not dir.is_dir() or any(dir.iterdir())):
        raise ConfigError(str(dir), "exists and is not an empty directory")
    names = [f"validator-{i}" for i in range(validators)] + [f"observer-{i}" for i in range(observers)]
    if base_port is not None:
        ports = _base_ports(host, base_port, 0, names)
    now = now or datetime.now(timezone.utc)

    keys = sorted((secrets.token_bytes(32) for _ in range(validators)), key=lambda k: ValidatorKey(k).address)
    addresses = [ValidatorKey(k).address for k in keys]
    admin = Account.create()
    admin_address = bytes.fromhex(admin.address[2:])
    ca = make_consortium_ca(f"evidence-ledger consortium CA (chain {chain_id})", now=now)
    document = build_genesis_document(
        chain_id=chain_id,
        validators=addresses,
        alloc={admin_address: DEV_BALANCE},
        members=[(admin_address, "ADMIN"), *members],
        block_period=block_period,
        empty_block_period=empty_block_period,
        consortium_ca=ca.certificate_pem().decode(),
    )
    document["config"]["qbft"]["requesttimeoutseconds"] = request_timeout
    Genesis.parse(document)  # what we write must be what a node accepts

    staging = dir.parent / f".{dir.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        genesis_path = staging / GENESIS_FILE
        genesis_path.write_text(json.dumps(document, indent=2) + "\n")
        write_certificate(staging / CA_CERT_FILE, ca.certificate)
        write_private_key(staging / CA_KEY_FILE, ca.key)
        write_key_file(staging / ADMIN_KEY_FILE, bytes(admin.key))
        _write_private_json(staging / ACCOUNTS_FILE, {"accounts": [{
            "name": "admin", "role": "ADMIN", "address": admin.address,
            "private_key": "0x" + bytes(admin.key).hex(), "key_file": ADMIN_KEY_FILE,
        }]})
        # One token issuer for the whole testnet: its key goes into every node's tokens/.
        issuer = TokenStore(staging)
        issuer_pem = private_pem(issuer.issuer_key())
        admin_token, _ = issuer.issue("ADMIN", f"cluster {dir.name} admin", None, ADMIN_TOKEN_TTL_SECONDS)
        _write_private_text(staging / ADMIN_TOKEN_FILE, admin_token + "\n")
        if base_port is None:
            ports = _free_ports(host, 2 * len(names), avoid=set())
        nodes = [
            ClusterNode(name, "validator" if i < validators else "observer",
                        addresses[i] if i < validators else None,
                        dir / NODES_DIR / name, host, ports[2 * i], ports[2 * i + 1], None)
            for i, name in enumerate(names)
        ]
        for index, node in enumerate(nodes):
            peers = [other for other in nodes if other.name != node.name]
            _make_node_dir(staging / NODES_DIR / node.name, node, genesis_path,
                           keys[index] if index < validators else None, ca, peers, faults.get(index), now,
                           issuer_pem)
        layout = ClusterLayout(dir, chain_id, host, admin.address, tuple(nodes), base_port)
        _write_layout(layout, staging)
        if dir.exists():
            dir.rmdir()  # empty, checked above
        staging.rename(dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return layout


def add_node(
    dir: Path,
    kind: NodeKind = "validator",
    *,
    faults: FaultConfig | None = None,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
    deadline: float = STARTUP_DEADLINE_SECONDS,
    die_with_parent: bool = False,
) -> ClusterNode:
    """One more node: a new key (a validator's is outside the validator set until voted
    in), a certificate from the consortium CA, every existing node as its peers. Existing
    nodes keep their node.json: they accept inbound links from any consortium certificate.
    Started at once if any node of the cluster is running."""
    from node.consensus.sealing import ValidatorKey

    if kind not in KINDS:
        raise ConfigError("kind", f"must be one of {', '.join(KINDS)}")
    with _locked(dir):
        layout = _adopt_running(load_cluster(dir), write=True)
        if len(layout.nodes) >= MAX_NODES:
            raise ConfigError("nodes", f"a cluster has at most {MAX_NODES} nodes")
        taken = {n.name for n in layout.nodes}
        index = next(i for i in range(MAX_NODES + 1) if f"{kind}-{i}" not in taken)
        name = f"{kind}-{index}"
        ca = load_consortium_ca(layout.dir / CA_CERT_FILE, layout.dir / CA_KEY_FILE)
        secret = secrets.token_bytes(32) if kind == "validator" else None
        if layout.base_port is not None:  # the next pair after the last node's
            rpc_port, p2p_port = _base_ports(layout.host, layout.base_port, len(layout.nodes), [name])
        else:
            avoid = {p for n in layout.nodes for p in (n.rpc_port, n.p2p_port)}
            rpc_port, p2p_port = _free_ports(layout.host, 2, avoid=avoid)
        node = ClusterNode(name, kind, ValidatorKey(secret).address if secret else None,
                           layout.dir / NODES_DIR / name, layout.host, rpc_port, p2p_port, None)
        staging = layout.dir / NODES_DIR / f".{name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        issuer_key = layout.dir / TOKENS_DIR / ISSUER_KEY_FILE
        issuer_pem = issuer_key.read_bytes() if issuer_key.exists() else None  # older clusters have none
        try:
            _make_node_dir(staging, node, layout.genesis_path, secret, ca, list(layout.nodes), faults,
                           now or datetime.now(timezone.utc), issuer_pem)
            staging.rename(node.data_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        running = any(_alive(n) for n in layout.nodes)
        layout = replace(layout, nodes=(*layout.nodes, node))
        _write_layout(layout, layout.dir)
        if running:
            layout = _start(layout, [name], env, deadline, die_with_parent)
        return layout.node(name)


def _make_node_dir(
    data_dir: Path,
    node: ClusterNode,
    genesis_path: Path,
    secret: bytes | None,
    ca: ConsortiumCA,
    peers: list[ClusterNode],
    faults: FaultConfig | None,
    now: datetime,
    issuer_pem: bytes | None = None,
) -> None:
    """A node's initialised data directory, TLS key and certificate, node.json, and (given
    `issuer_pem`) the cluster's token issuer key."""
    from node.access.http import TokenStore
    from node.ops.runner import init_data_dir, write_key_file
    from node.service import KEY_FILE

    data_dir.mkdir(mode=0o700, parents=True)   # private, as init_data_dir makes it (node/storage/store.py)
    if secret is not None:
        write_key_file(data_dir / KEY_FILE, secret)
    if issuer_pem is not None:
        TokenStore(data_dir).install_issuer_key(issuer_pem)
    init_data_dir(data_dir, genesis_path)
    extra_hosts = () if node.host in ("127.0.0.1", "localhost") else (node.host,)
    # A validator's certificate binds its address: peers refuse a HELLO claiming one its
    # certificate does not carry (node/network/tlscerts.py).
    issued = issue_node_certificate(ca, node.name, now=now, hosts=extra_hosts, validator=node.address)
    write_certificate(data_dir / TLS_CERT_FILE, issued.certificate)
    write_private_key(data_dir / TLS_KEY_FILE, issued.key)
    write_node_config(data_dir, NodeFileConfig(
        p2p=P2PConfig(
            name=node.name,
            listen_host=node.host,
            listen_port=node.p2p_port,
            peers=tuple((peer.host, peer.p2p_port) for peer in peers),
            tls_cert=data_dir / TLS_CERT_FILE,
            tls_key=data_dir / TLS_KEY_FILE,
        ),
        faults=faults,
    ))


# -- cluster.json ----------------------------------------------------------------------


def load_cluster(dir: Path) -> ClusterLayout:
    """`<dir>/cluster.json`, parsed; a ConfigError names a bad field."""
    dir = dir.absolute()
    path = dir / CLUSTER_FILE
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(str(dir), "holds no cluster (no cluster.json): create one with `ledger cluster up`") from exc
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"not JSON: {exc}") from exc
    _expect(isinstance(document, dict), "cluster.json", "must be an object")
    _expect(document.get("format") == CLUSTER_FORMAT, "format", f"must be {CLUSTER_FORMAT}")
    chain_id = _get(document, "chain_id", int, "")
    host = _get(document, "host", str, "")
    account = _get(_get(document, "account", dict, ""), "address", str, "account")
    nodes_doc = _get(document, "nodes", list, "")
    _expect(0 < len(nodes_doc) <= MAX_NODES, "nodes", f"must list 1 to {MAX_NODES} nodes")
    nodes = []
    for index, entry in enumerate(nodes_doc):
        where = f"nodes[{index}]"
        _expect(isinstance(entry, dict), where, "must be an object")
        kind = _get(entry, "kind", str, where)
        _expect(kind in KINDS, f"{where}.kind", f"must be one of {', '.join(KINDS)}")
        address = entry.get("address")
        if address is not None:
            _expect(isinstance(address, str) and len(address) == 42 and address.startswith("0x"),
                    f"{where}.address", "must be a 0x-prefixed 20-byte address or null")
        pid = entry.get("pid")
        _expect(pid is None or (isinstance(pid, int) and not isinstance(pid, bool) and pid > 0),
                f"{where}.pid", "must be a positive integer or null")
        nodes.append(ClusterNode(
            name=_get(entry, "name", str, where),
            kind=kind,
            address=bytes.fromhex(address[2:]) if address else None,
            data_dir=(dir / _get(entry, "data_dir", str, where)).absolute(),
            host=host,
            rpc_port=_get(entry, "rpc_port", int, where),
            p2p_port=_get(entry, "p2p_port", int, where),
            pid=pid,
        ))
    _expect(len({n.name for n in nodes}) == len(nodes), "nodes", "repeats a node name")
    base_port = document.get("base_port")
    _expect(base_port is None or (isinstance(base_port, int) and not isinstance(base_port, bool)
                                  and MIN_BASE_PORT <= base_port <= MAX_PORT),
            "base_port", f"must be a port {MIN_BASE_PORT}..{MAX_PORT} or absent")
    return ClusterLayout(dir, chain_id, host, account, tuple(nodes), base_port)


def load_admin_token(dir: Path) -> str | None:
    """The cluster's ADMIN role token (`admin.token`); None for a cluster made before tokens."""
    try:
        return (dir / ADMIN_TOKEN_FILE).read_text().strip() or None
    except FileNotFoundError:
        return None


def load_admin_account(dir: Path) -> AdminAccount:
    """The funded ADMIN account of a cluster (from accounts.json)."""
    document = json.loads((dir / ACCOUNTS_FILE).read_text())
    entry = document["accounts"][0]
    return AdminAccount(entry["address"], entry["private_key"])


def cluster_document(layout: ClusterLayout) -> dict[str, Any]:
    """cluster.json's content (also `ledger cluster up --json`'s)."""
    document: dict[str, Any] = {
        "format": CLUSTER_FORMAT,
        "chain_id": layout.chain_id,
        "host": layout.host,
        "genesis": GENESIS_FILE,
        "account": {"address": layout.account, "role": "ADMIN", "key_file": ADMIN_KEY_FILE,
                    "accounts_file": ACCOUNTS_FILE},
        "nodes": [
            {
                "name": n.name,
                "kind": n.kind,
                "address": to_checksum_address(n.address) if n.address else None,
                "data_dir": str(n.data_dir.relative_to(layout.dir)),
                "rpc_url": n.rpc_url,
                "rpc_port": n.rpc_port,
                "p2p_port": n.p2p_port,
                "pid": n.pid,
            }
            for n in layout.nodes
        ],
    }
    if layout.base_port is not None:  # absent otherwise: a cluster.json as older versions wrote it
        document["base_port"] = layout.base_port
    return document


def _write_layout(layout: ClusterLayout, into: Path) -> None:
    staging = into / f".{CLUSTER_FILE}.tmp"
    staging.write_text(json.dumps(cluster_document(layout), indent=2) + "\n")
    os.replace(staging, into / CLUSTER_FILE)


# -- starting and stopping -------------------------------------------------------------


def start_cluster(
    dir: Path,
    env: Mapping[str, str] | None = None,
    *,
    deadline: float = STARTUP_DEADLINE_SECONDS,
    die_with_parent: bool = False,
) -> ClusterLayout:
    """Start every node that is not running and wait until each answers /healthz.

    `env` is the nodes' environment (default: this process's); `LEDGER_TEST_FAULTS=1` is
    set for the nodes whose node.json has faults and removed for the others. If a node
    fails to come up, the nodes this call started are stopped again and NodeStartError
    says which node and carries its log's tail.

    `die_with_parent` (tests): the nodes get SIGKILL when the thread that started them
    ends or its process dies (Linux prctl PDEATHSIG), so a test run killed by a timeout
    leaves no node behind; call it from a thread that lives as long as the nodes should.
    The CLI leaves it off: its nodes must outlive `ledger cluster up`.
    """
    return start_stopped_nodes(dir, env, deadline=deadline, die_with_parent=die_with_parent)[0]


def start_stopped_nodes(
    dir: Path,
    env: Mapping[str, str] | None = None,
    *,
    deadline: float = STARTUP_DEADLINE_SECONDS,
    die_with_parent: bool = False,
) -> tuple[ClusterLayout, list[str]]:
    """start_cluster, also saying which nodes this call started (the others ran already,
    including any started by hand and taken in as members)."""
    with _locked(dir):
        layout = _adopt_running(load_cluster(dir), write=True)
        names = [n.name for n in layout.nodes if not _alive(n)]
        return _start(layout, names, env, deadline, die_with_parent), names


def start_node(
    dir: Path,
    name: str,
    env: Mapping[str, str] | None = None,
    *,
    deadline: float = STARTUP_DEADLINE_SECONDS,
    die_with_parent: bool = False,
) -> ClusterNode:
    """Start one node (a no-op if it runs) and wait until it answers /healthz."""
    with _locked(dir):
        layout = _adopt_running(load_cluster(dir), write=True)
        node = layout.node(name)
        if _alive(node):
            return node
        return _start(layout, [name], env, deadline, die_with_parent).node(name)


def restart_node(
    dir: Path,
    name: str,
    env: Mapping[str, str] | None = None,
    *,
    timeout: float = STOP_DEADLINE_SECONDS,
    deadline: float = STARTUP_DEADLINE_SECONDS,
    die_with_parent: bool = False,
) -> tuple[ClusterNode, bool]:
    """Stop one node if it runs (SIGTERM, SIGKILL after `timeout`), start it again and wait
    for /healthz; one lock held throughout, so no other command starts it in between.
    Returns the node and whether it was running."""
    with _locked(dir):
        layout = _adopt_running(load_cluster(dir), write=True)
        node = layout.node(name)
        was_running = _alive(node)
        if was_running:
            _terminate([node], kill=False, timeout=timeout)
            layout = _with_pid(layout, name, None)
            _write_layout(layout, layout.dir)
        return _start(layout, [name], env, deadline, die_with_parent).node(name), was_running


def stop_cluster(dir: Path, *, timeout: float = STOP_DEADLINE_SECONDS) -> list[str]:
    """SIGTERM every running node (those started by hand too), wait up to `timeout`,
    SIGKILL what is left; clear the pids. Idempotent: a stopped cluster stays stopped.
    Returns the names it stopped."""
    with _locked(dir):
        layout = _adopt_running(load_cluster(dir), write=False)
        running = [n for n in layout.nodes if _alive(n)]
        _terminate(running, kill=False, timeout=timeout)
        _write_layout(replace(layout, nodes=tuple(replace(n, pid=None) for n in layout.nodes)), layout.dir)
        return [n.name for n in running]


def stop_node(
    dir: Path, name: str, *, kill: bool = False, timeout: float = STOP_DEADLINE_SECONDS,
    must_be_running: bool = False,
) -> bool:
    """Stop one node: SIGTERM and wait (SIGKILL after `timeout`), or with `kill` SIGKILL at
    once (no shutdown code runs: a crash). Returns whether it was running; with
    `must_be_running` a node that is not raises NodeNotRunningError instead."""
    with _locked(dir):
        layout = _adopt_running(load_cluster(dir), write=False)
        node = layout.node(name)
        was_running = _alive(node)
        if not was_running and must_be_running:
            raise NodeNotRunningError(name)
        if was_running:
            _terminate([node], kill=kill, timeout=timeout)
        _write_layout(_with_pid(layout, name, None), layout.dir)
        return was_running


def running_nodes(dir: Path) -> list[str]:
    """The names of the nodes running now, those started by hand included (nothing is
    written)."""
    return [n.name for n in _adopt_running(load_cluster(dir), write=False).nodes if _alive(n)]


def is_running(node: ClusterNode) -> bool:
    """Whether `node`'s recorded pid is its running `ledger node start` process."""
    return _alive(node)


def _start(
    layout: ClusterLayout, names: list[str], env: Mapping[str, str] | None, deadline: float, die_with_parent: bool
) -> ClusterLayout:
    started: list[tuple[ClusterNode, int]] = []
    try:
        for name in names:
            node = layout.node(name)
            for port, what in ((node.rpc_port, "RPC"), (node.p2p_port, "p2p")):
                if not _port_free(node.host, port):
                    raise ClusterError(f"{what} port {port} of {name} is in use by another process", name)
            offset = node.log_path.stat().st_size if node.log_path.exists() else 0
            pid = _launch(node, env, die_with_parent)
            started.append((node, offset))
            layout = _with_pid(layout, name, pid)
            _write_layout(layout, layout.dir)
        _wait_healthy(layout, [(layout.node(n.name), offset) for n, offset in started], deadline)
    except BaseException:
        stopping = [layout.node(n.name) for n, _ in started]
        _terminate([n for n in stopping if _alive(n)], kill=False, timeout=KILL_DEADLINE_SECONDS)
        for node in stopping:
            layout = _with_pid(layout, node.name, None)
        _write_layout(layout, layout.dir)
        raise
    return layout


def node_environment(node: ClusterNode, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a node process gets: `env` (default this process's) with
    LEDGER_TEST_FAULTS=1 exactly when its node.json has faults, and this checkout first on
    PYTHONPATH so that `python -m client.cli` runs this code even when it is not installed."""
    child_env = dict(os.environ if env is None else env)
    if load_node_config(node.data_dir).faults is not None:
        child_env[FAULTS_ENV] = "1"
    else:
        child_env.pop(FAULTS_ENV, None)
    project = str(Path(__file__).resolve().parents[1])
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in (project, child_env.get("PYTHONPATH")) if p)
    return child_env


def _launch(node: ClusterNode, env: Mapping[str, str] | None, die_with_parent: bool) -> int:
    child_env = node_environment(node, env)
    args = [sys.executable, "-m", "client.cli", "node", "start", "--data-dir", str(node.data_dir),
            "--rpc-host", node.host, "--rpc-port", str(node.rpc_port)]
    with node.log_path.open("ab") as log:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        log.write(f"--- {stamp} ledger cluster: starting {node.name}\n".encode())
        log.flush()
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   cwd=node.data_dir, env=child_env, start_new_session=True,
                                   preexec_fn=_die_with_parent if die_with_parent else None)
    _children[process.pid] = process
    return process.pid


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGKILL when the parent dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def _wait_healthy(layout: ClusterLayout, started: list[tuple[ClusterNode, int]], deadline_seconds: float) -> None:
    deadline = time.monotonic() + deadline_seconds
    pending = list(started)
    while pending:
        for node, offset in list(pending):
            if not _alive(node):
                code = _exit_code(node.pid)
                reason = "exited" + (f" with code {code}" if code is not None else "")
                raise NodeStartError(node.name, reason, node.log_path, _log_tail(node.log_path, offset))
            health = _get_json(node.rpc_url + "/healthz")
            if health is not None:
                if health.get("chainId") != layout.chain_id:
                    raise NodeStartError(node.name, f"{node.rpc_url} answers for chain {health.get('chainId')}, "
                                         f"not {layout.chain_id}", node.log_path, _log_tail(node.log_path, offset))
                pending.remove((node, offset))
        if pending and time.monotonic() > deadline:
            node, offset = pending[0]
            raise NodeStartError(node.name, f"no answer from {node.rpc_url}/healthz within {deadline_seconds:g} s",
                                 node.log_path, _log_tail(node.log_path, offset))
        if pending:
            time.sleep(POLL_SECONDS)


def _terminate(nodes: list[ClusterNode], *, kill: bool, timeout: float) -> None:
    """Signal each node (SIGTERM, or SIGKILL with `kill`), wait, then SIGKILL leftovers."""
    for node in nodes:
        _signal(node, signal.SIGKILL if kill else signal.SIGTERM)
    if not _wait_gone(nodes, KILL_DEADLINE_SECONDS if kill else timeout):
        for node in nodes:
            _signal(node, signal.SIGKILL)
        if not _wait_gone(nodes, KILL_DEADLINE_SECONDS):
            alive = ", ".join(f"{n.name} (pid {n.pid})" for n in nodes if _alive(n))
            raise ClusterError(f"still running after SIGKILL: {alive}")


def _wait_gone(nodes: list[ClusterNode], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while any(_alive(n) for n in nodes):
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


def _signal(node: ClusterNode, sig: signal.Signals) -> None:
    if node.pid is not None and _alive(node):
        with contextlib.suppress(ProcessLookupError):
            os.kill(node.pid, sig)


def _alive(node: ClusterNode) -> bool:
    """The recorded pid runs, and is this node's `ledger node start` (not a reused pid)."""
    pid = node.pid
    if pid is None:
        return False
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None  # poll() reaps it, and keeps its exit code
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    if not PROC.is_dir():
        return True  # no /proc (not Linux): trust the recorded pid
    served = _served_data_dir(pid)
    return served is not None and served == os.path.realpath(node.data_dir)


def _served_data_dir(pid: int) -> str | None:
    """If process `pid` is a `ledger node start`, its --data-dir (given absolute or relative
    to the process's working directory) as a real path; None for any other process."""
    try:
        argv = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return None  # exited, or not ours to read
    # A zombie has an empty command line: it is gone as far as we are concerned.
    if not any(argv[i:i + 2] == [b"node", b"start"] for i in range(len(argv) - 1)):
        return None
    given = [argv[i + 1] for i in range(len(argv) - 1) if argv[i] == b"--data-dir"]
    given += [arg[len(b"--data-dir="):] for arg in argv if arg.startswith(b"--data-dir=")]
    if not given:
        return None
    path = Path(os.fsdecode(given[-1]))
    if not path.is_absolute():
        try:
            path = Path(os.readlink(PROC / str(pid) / "cwd")) / path
        except OSError:
            return None
    return os.path.realpath(path)


def _adopt_running(layout: ClusterLayout, *, write: bool) -> ClusterLayout:
    """Record the pid of each node that runs without its pid recorded: started by hand with
    `ledger node start --data-dir ...` (one /proc scan). With `write`, cluster.json too."""
    missing = {os.path.realpath(n.data_dir): n.name for n in layout.nodes if not _alive(n)}
    if not missing or not PROC.is_dir():
        return layout
    found: dict[str, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        name = missing.get(_served_data_dir(int(entry.name)) or "")
        if name is not None and name not in found:
            found[name] = int(entry.name)
    for name, pid in found.items():
        layout = _with_pid(layout, name, pid)
    if found and write:
        _write_layout(layout, layout.dir)
    return layout


def _exit_code(pid: int | None) -> int | None:
    child = _children.get(pid) if pid is not None else None
    return child.returncode if child is not None else None


def _with_pid(layout: ClusterLayout, name: str, pid: int | None) -> ClusterLayout:
    return replace(layout, nodes=tuple(replace(n, pid=pid) if n.name == name else n for n in layout.nodes))


@contextlib.contextmanager
def _locked(dir: Path) -> Iterator[None]:
    """One mutation of a cluster at a time (two `cluster up` must not both start a node)."""
    if not (dir / CLUSTER_FILE).exists():
        load_cluster(dir)  # raises the "holds no cluster" error
    with (dir / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- status -------------------------------------------------------------------------


def cluster_status(dir: Path) -> tuple[NodeStatus, ...]:
    """Every node's process and chain state, asked in parallel.

    The chain state comes from `ledger_nodeStatus` (height, round, peers, validator,
    syncing); a node that does not know that method (an older version) is asked
    `eth_blockNumber` instead, and round and peers are unknown.
    """
    layout = _adopt_running(load_cluster(dir), write=False)  # status changes nothing
    token = load_admin_token(layout.dir)
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(16, len(layout.nodes))) as pool:
        return tuple(pool.map(lambda node: _node_status(node, token), layout.nodes))


def _node_status(node: ClusterNode, token: str | None = None) -> NodeStatus:
    base = NodeStatus(node.name, node.kind, node.pid, _alive(node), node.rpc_url, reachable=False, source="-")
    try:
        reply = _rpc(node.rpc_url, "ledger_nodeStatus", token=token)
        if "error" in reply and isinstance(reply["error"], dict) and reply["error"].get("code") == METHOD_NOT_FOUND:
            fallback = _rpc(node.rpc_url, "eth_blockNumber", token=token)
            if "result" not in fallback:
                return replace(base, reachable=True, error=f"eth_blockNumber: {fallback.get('error')}")
            return replace(base, reachable=True, source="eth_blockNumber",
                           height=_quantity(fallback["result"]))
        if "result" not in reply:
            return replace(base, reachable=True, error=f"ledger_nodeStatus: {reply.get('error')}")
        return _parse_node_status(replace(base, reachable=True, source="ledger_nodeStatus"), reply["result"])
    except urllib.error.HTTPError as exc:  # it answered, but not to us
        reason = "the node refused the cluster's admin.token" if exc.code == 401 else str(exc.reason)
        return replace(base, reachable=True, error=f"HTTP {exc.code}: {reason}")
    except (OSError, ValueError) as exc:
        return replace(base, error=f"no answer: {exc}")


def _parse_node_status(base: NodeStatus, result: Any) -> NodeStatus:
    if not isinstance(result, dict):
        raise ValueError(f"ledger_nodeStatus returned {type(result).__name__}, not an object")
    peers = None
    if isinstance(result.get("peers"), list):
        peers = tuple(
            PeerStatus(p.get("name"), p.get("address"), _quantity(p["height"]) if p.get("height") is not None else None)
            for p in result["peers"] if isinstance(p, dict)
        )
    return replace(
        base,
        height=_quantity(result["height"]) if result.get("height") is not None else None,
        round=_quantity(result["round"]) if result.get("round") is not None else None,
        peers=peers,
        validator=result.get("validator") if isinstance(result.get("validator"), bool) else None,
        address=result.get("address") if isinstance(result.get("address"), str) else None,
        syncing=result.get("syncing") if isinstance(result.get("syncing"), bool) else None,
    )


def _quantity(value: Any) -> int:
    """A JSON-RPC number: an integer, or a 0x-hex quantity."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.startswith("0x"):
        return int(value, 16)
    raise ValueError(f"not a quantity: {value!r}")


def _rpc(url: str, method: str, *params: Any, token: str | None = None) -> dict[str, Any]:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=RPC_TIMEOUT_SECONDS) as response:
        reply = json.loads(response.read())
    if not isinstance(reply, dict):
        raise ValueError(f"{method}: the reply is not a JSON-RPC response object")
    return reply


def _get_json(url: str) -> dict[str, Any] | None:
    """GET `url` as JSON; None while nothing (or not yet the node) answers there."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            document = json.loads(response.read())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


# -- helpers ------------------------------------------------------------------------


def _free_ports(host: str, count: int, *, avoid: set[int]) -> list[int]:
    """`count` distinct ports the system says are free on `host` now (all sockets held
    open together, so no two are the same), none in `avoid`."""
    family = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)[0][0]
    held: list[socket.socket] = []
    try:
        ports: list[int] = []
        while len(ports) < count:
            s = socket.socket(family, socket.SOCK_STREAM)
            held.append(s)
            s.bind((host, 0))
            port = s.getsockname()[1]
            if port not in avoid:
                ports.append(port)
        return ports
    finally:
        for s in held:
            s.close()


def _base_ports(host: str, base: int, first: int, names: Sequence[str]) -> list[int]:
    """The ports of nodes `first`, `first`+1, ... (named `names`) laid out from `base`:
    RPC base+2i, p2p base+2i+1; each must be in range and free now (ConfigError
    "base_port" naming the port and its node otherwise)."""
    low, high = base + 2 * first, base + 2 * (first + len(names)) - 1
    if isinstance(base, bool) or not isinstance(base, int) or low < MIN_BASE_PORT or high > MAX_PORT:
        raise ConfigError("base_port", f"{base} lays out ports {low}..{high} for {len(names)} node(s); "
                                       f"they must lie within {MIN_BASE_PORT}..{MAX_PORT}")
    ports = list(range(low, high + 1))
    for index, port in enumerate(ports):
        if not _port_free(host, port):
            what = "RPC" if index % 2 == 0 else "p2p"
            raise ConfigError("base_port", f"port {port} ({what} of {names[index // 2]}) is in use on {host}")
    return ports


def _port_free(host: str, port: int) -> bool:
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _log_tail(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(offset, path.stat().st_size - LOG_TAIL_BYTES))
            return handle.read().decode(errors="replace")
    except OSError:
        return ""


def _write_private_text(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _write_private_json(path: Path, document: Any) -> None:
    _write_private_text(path, json.dumps(document, indent=2) + "\n")


def _check_count(field: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(field, f"must be between {low} and {high}, got {value!r}")


def _expect(condition: bool, field: str, reason: str) -> None:
    if not condition:
        raise ConfigError(field, reason)


def _get(doc: Mapping[str, Any], name: str, kind: type, where: str) -> Any:
    return typed_field(doc, name, kind, f"{where}.{name}" if where else name)
