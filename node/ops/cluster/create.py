"""Creating a local testnet: N validators and M observers with their own genesis,
validator keys, consortium CA, TLS certificates, token issuer and node data directories
(the layout is node/ops/cluster/layout.py), and adding a node to one.

This is what `ledger cluster up|add`, the cluster tests, the benchmarks and the README
run. It builds node data directories, so it imports the node (py-evm, LevelDB); status
and stop (processes.py, status.py) do not import this module.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_account import Account

from node.access.tokens import ISSUER_KEY_FILE, TOKENS_DIR, TokenStore, private_pem
from node.consensus.sealing import ValidatorKey
from node.errors import ConfigError
from node.execution.escalation import with_validator_members
from node.execution.genesis import MAX_VALIDATORS, Genesis, build_genesis_document
from node.network.tlscerts import (
    ConsortiumCA,
    issue_node_certificate,
    load_consortium_ca,
    make_consortium_ca,
    write_certificate,
    write_private_key,
)
from node.ops.cluster.layout import (
    ACCOUNTS_FILE,
    ADMIN_KEY_FILE,
    ADMIN_TOKEN_FILE,
    CA_CERT_FILE,
    CA_KEY_FILE,
    CLUSTER_FILE,
    DEFAULT_HOST,
    GENESIS_FILE,
    KINDS,
    MAX_NODES,
    NODES_DIR,
    TLS_CERT_FILE,
    TLS_KEY_FILE,
    ClusterLayout,
    ClusterNode,
    NodeKind,
    base_ports,
    free_ports,
    load_cluster,
    write_layout,
)
from node.ops.cluster.processes import STARTUP_DEADLINE_SECONDS, adopt_running, is_running, locked, start_nodes
from node.ops.config import FaultConfig, NodeFileConfig, P2PConfig, write_node_config
from node.ops.runner import DEV_BALANCE, init_data_dir, write_key_file
from node.service import KEY_FILE

DEFAULT_CHAIN_ID = 4343
ADMIN_TOKEN_TTL_SECONDS = 365 * 86400


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
        ports = base_ports(host, base_port, 0, names)
    now = now or datetime.now(UTC)

    keys = sorted((secrets.token_bytes(32) for _ in range(validators)), key=lambda k: ValidatorKey(k).address)
    addresses = [ValidatorKey(k).address for k in keys]
    admin = Account.create()
    admin_address = bytes.fromhex(admin.address[2:])
    ca = make_consortium_ca(f"evidence-ledger consortium CA (chain {chain_id})", now=now)
    document = build_genesis_document(
        chain_id=chain_id,
        validators=addresses,
        alloc={admin_address: DEV_BALANCE},
        # Validators are members so that their blocks raise commitment alerts (node/execution/escalation.py).
        members=with_validator_members([(admin_address, "ADMIN"), *members], addresses),
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
            ports = free_ports(host, 2 * len(names), avoid=set())
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
        write_layout(layout, staging)
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
    in, and not a member, so it raises no commitment alerts, until granted a role), a certificate from the consortium CA, every existing node as its peers. Existing
    nodes keep their node.json: they accept inbound links from any consortium certificate.
    Started at once if any node of the cluster is running."""
    if kind not in KINDS:
        raise ConfigError("kind", f"must be one of {', '.join(KINDS)}")
    with locked(dir):
        layout = adopt_running(load_cluster(dir), write=True)
        if len(layout.nodes) >= MAX_NODES:
            raise ConfigError("nodes", f"a cluster has at most {MAX_NODES} nodes")
        taken = {n.name for n in layout.nodes}
        index = next(i for i in range(MAX_NODES + 1) if f"{kind}-{i}" not in taken)
        name = f"{kind}-{index}"
        ca = load_consortium_ca(layout.dir / CA_CERT_FILE, layout.dir / CA_KEY_FILE)
        secret = secrets.token_bytes(32) if kind == "validator" else None
        if layout.base_port is not None:  # the next pair after the last node's
            rpc_port, p2p_port = base_ports(layout.host, layout.base_port, len(layout.nodes), [name])
        else:
            avoid = {p for n in layout.nodes for p in (n.rpc_port, n.p2p_port)}
            rpc_port, p2p_port = free_ports(layout.host, 2, avoid=avoid)
        node = ClusterNode(name, kind, ValidatorKey(secret).address if secret else None,
                           layout.dir / NODES_DIR / name, layout.host, rpc_port, p2p_port, None)
        staging = layout.dir / NODES_DIR / f".{name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        issuer_key = layout.dir / TOKENS_DIR / ISSUER_KEY_FILE
        issuer_pem = issuer_key.read_bytes() if issuer_key.exists() else None  # older clusters have none
        try:
            _make_node_dir(staging, node, layout.genesis_path, secret, ca, list(layout.nodes), faults,
                           now or datetime.now(UTC), issuer_pem)
            staging.rename(node.data_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        running = any(is_running(n) for n in layout.nodes)
        layout = replace(layout, nodes=(*layout.nodes, node))
        write_layout(layout, layout.dir)
        if running:
            layout = start_nodes(layout, [name], env, deadline, die_with_parent)
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
    data_dir.mkdir(mode=0o700, parents=True)   # private, as init_data_dir makes it (node/storage/files.py)
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


def _write_private_text(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _write_private_json(path: Path, document: Any) -> None:
    _write_private_text(path, json.dumps(document, indent=2) + "\n")


def _check_count(field: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(field, f"must be between {low} and {high}, got {value!r}")
