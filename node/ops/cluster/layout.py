"""A local testnet's directory: cluster.json, the files beside it, and the ports of its nodes.

A cluster directory holds:

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
while stopped.

Ports: by default the system picks free ones (`free_ports`). With a base port B, node i
(validators first, then observers, then added nodes in order) gets RPC port B+2i and p2p
port B+2i+1 (`base_ports`).
"""
from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from eth_utils import to_checksum_address

from node.errors import ConfigError, NodeError
from node.fields import typed_field
from node.ops.config import MAX_PEERS

NodeKind = Literal["validator", "observer"]
KINDS: tuple[NodeKind, ...] = ("validator", "observer")

CLUSTER_FILE = "cluster.json"
GENESIS_FILE = "genesis.json"  # the cluster's genesis, the file receipts are verified against
ACCOUNTS_FILE = "accounts.json"
ADMIN_KEY_FILE = "admin.key"
ADMIN_TOKEN_FILE = "admin.token"
CA_CERT_FILE = "ca/ca.crt"
CA_KEY_FILE = "ca/ca.key"
NODES_DIR = "nodes"
TLS_CERT_FILE = "tls/node.crt"
TLS_KEY_FILE = "tls/node.key"
NODE_LOG_FILE = "node.log"
LOCK_FILE = ".cluster.lock"
CLUSTER_FORMAT = 1

DEFAULT_HOST = "127.0.0.1"
# Every node dials every other and node.json lists at most MAX_PEERS peers.
MAX_NODES = MAX_PEERS + 1
# A base port lays each node's two ports out from it. Ports below 1024 need privileges a
# testnet should not have; 65535 is the last TCP port.
MIN_BASE_PORT = 1024
MAX_PORT = 65535
ADDRESS_HEX_LENGTH = 42  # "0x" + 40 hex digits


class ClusterError(NodeError):
    """A cluster could not be created, started or stopped; `node` names which node, if any."""

    def __init__(self, message: str, node: str | None = None) -> None:
        super().__init__(message)
        self.node = node


class UnknownNodeError(ClusterError):
    """No node of that name in the cluster: a usage error (`ledger cluster` exits 2)."""


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
            _expect(isinstance(address, str) and len(address) == ADDRESS_HEX_LENGTH and address.startswith("0x"),
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


def write_layout(layout: ClusterLayout, into: Path) -> None:
    """Write `<into>/cluster.json` for `layout` (replaced atomically: a reader sees the
    old file or the new one)."""
    staging = into / f".{CLUSTER_FILE}.tmp"
    staging.write_text(json.dumps(cluster_document(layout), indent=2) + "\n")
    os.replace(staging, into / CLUSTER_FILE)


def with_pid(layout: ClusterLayout, name: str, pid: int | None) -> ClusterLayout:
    """`layout` with node `name`'s recorded pid set to `pid` (None: stopped)."""
    return replace(layout, nodes=tuple(replace(n, pid=pid) if n.name == name else n for n in layout.nodes))


# -- ports ---------------------------------------------------------------------------


def free_ports(host: str, count: int, *, avoid: set[int]) -> list[int]:
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


def base_ports(host: str, base: int, first: int, names: Sequence[str]) -> list[int]:
    """The ports of nodes `first`, `first`+1, ... (named `names`) laid out from `base`:
    RPC base+2i, p2p base+2i+1; each must be in range and free now (ConfigError
    "base_port" naming the port and its node otherwise)."""
    low, high = base + 2 * first, base + 2 * (first + len(names)) - 1
    if isinstance(base, bool) or not isinstance(base, int) or low < MIN_BASE_PORT or high > MAX_PORT:
        raise ConfigError("base_port", f"{base} lays out ports {low}..{high} for {len(names)} node(s); "
                                       f"they must lie within {MIN_BASE_PORT}..{MAX_PORT}")
    ports = list(range(low, high + 1))
    for index, port in enumerate(ports):
        if not port_free(host, port):
            what = "RPC" if index % 2 == 0 else "p2p"
            raise ConfigError("base_port", f"port {port} ({what} of {names[index // 2]}) is in use on {host}")
    return ports


def port_free(host: str, port: int) -> bool:
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _expect(condition: bool, field: str, reason: str) -> None:
    if not condition:
        raise ConfigError(field, reason)


def _get(doc: Mapping[str, Any], name: str, kind: type, where: str) -> Any:
    return typed_field(doc, name, kind, f"{where}.{name}" if where else name)
