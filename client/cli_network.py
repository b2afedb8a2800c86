"""`ledger node tls-ca`, `ledger node tls-cert` and `ledger node peers`: what each
organisation of a real consortium (one node per machine) needs besides `genesis new` and
`node init` — the consortium CA, a TLS certificate per node, and the node's p2p settings
(`<data-dir>/node.json`). `ledger cluster` does all of this for a local testnet.

Heavier imports (node/, py-evm, web3, the SDK's clients) are made inside the commands, so that
`ledger --help` and every other command start fast; none of them dodges an import circle.
"""
from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from client.render import fail, line

TLS_DIR = "tls"


def register(node_app: typer.Typer) -> None:
    node_app.command("tls-ca")(tls_ca)
    node_app.command("tls-cert")(tls_cert)
    node_app.command("peers")(peers)


def tls_ca(
    out: Annotated[Path, typer.Option(help="directory for ca.crt and ca.key (mode 0600)")],
    name: Annotated[str, typer.Option(help="the CA's common name")] = "evidence-ledger consortium CA",
) -> None:
    """Create the consortium CA that issues the nodes' TLS certificates (name its ca.crt in
    `ledger genesis new --consortium-ca`)."""
    from node.network.tlscerts import make_consortium_ca, write_certificate, write_private_key

    if (out / "ca.key").exists() or (out / "ca.crt").exists():
        fail(f"{out} already holds a CA; refusing to overwrite it")
    ca = make_consortium_ca(name, now=datetime.now(UTC))
    out.mkdir(parents=True, exist_ok=True)
    write_private_key(out / "ca.key", ca.key)
    write_certificate(out / "ca.crt", ca.certificate)
    line(f"consortium CA: {out / 'ca.crt'} (key {out / 'ca.key'}, keep it offline)")


def tls_cert(
    ca_dir: Annotated[Path, typer.Option("--ca", help="the consortium CA directory (ca.crt, ca.key)")],
    name: Annotated[str, typer.Option(help="the node's name: its certificate's common name")],
    out: Annotated[Path, typer.Option(help="directory for node.crt and node.key (mode 0600)")],
    host: Annotated[list[str] | None, typer.Option(help="an IP or DNS name peers dial (repeatable)")] = None,
    validator: Annotated[str | None, typer.Option(
        help="the node's validator address (0x..., from its key): peers refuse a validator whose "
             "certificate does not carry it. Omit for an observer")] = None,
) -> None:
    """Issue a node's TLS certificate (EC P-256, serverAuth + clientAuth, one year; a
    validator's binds its address)."""
    from node.access.tokens import parse_address
    from node.errors import ConfigError
    from node.network.tlscerts import issue_node_certificate, load_consortium_ca, write_certificate, write_private_key

    if (out / "node.key").exists():
        fail(f"{out / 'node.key'} exists; refusing to overwrite a node key")
    try:
        address = parse_address(validator) if validator is not None else None
    except ConfigError as exc:
        fail(f"--validator: {exc.reason}")
    try:
        ca = load_consortium_ca(ca_dir / "ca.crt", ca_dir / "ca.key")
    except (OSError, ValueError) as exc:
        fail(f"--ca {ca_dir}: {exc}")
    issued = issue_node_certificate(ca, name, now=datetime.now(UTC), hosts=tuple(host or ()),
                                    validator=address)
    out.mkdir(parents=True, exist_ok=True)
    write_private_key(out / "node.key", issued.key)
    write_certificate(out / "node.crt", issued.certificate)
    line(f"node certificate for {name}: {out / 'node.crt'}")


def peers(
    data_dir: Annotated[Path, typer.Option(help="the node's (initialised) data directory")],
    name: Annotated[str, typer.Option(help="this node's name, as in its TLS certificate")],
    listen: Annotated[str, typer.Option(help="HOST:PORT the node accepts peers on")],
    tls_cert: Annotated[Path, typer.Option(help="node.crt from `ledger node tls-cert`")],
    tls_key: Annotated[Path, typer.Option(help="node.key from `ledger node tls-cert`")],
    peer: Annotated[list[str] | None, typer.Option(help="HOST:PORT of another node (repeatable)")] = None,
) -> None:
    """Write the node's p2p settings (`node.json`): its name, listen address, static peers,
    and its TLS certificate and key (copied into the data directory)."""
    from node.errors import ConfigError
    from node.ops.config import NodeFileConfig, P2PConfig, load_node_config, write_node_config

    def address(value: str, option: str) -> tuple[str, int]:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit():
            fail(f"{option} {value!r}: expected HOST:PORT")
        return host.strip("[]"), int(port)

    if not (data_dir / "genesis.json").exists():
        fail(f"{data_dir} is not initialised: run `ledger node init` first")
    listen_host, listen_port = address(listen, "--listen")
    targets = tuple(address(p, "--peer") for p in peer or ())
    tls = data_dir / TLS_DIR
    tls.mkdir(mode=0o700, exist_ok=True)
    try:
        for source, target in ((tls_cert, tls / "node.crt"), (tls_key, tls / "node.key")):
            if source.resolve() != target.resolve():
                shutil.copyfile(source, target)
            target.chmod(0o600)  # the data directory is private (node/storage/store.py)
        existing = load_node_config(data_dir)
        p2p = P2PConfig(name, listen_host, listen_port, targets, tls / "node.crt", tls / "node.key")
        write_node_config(data_dir, NodeFileConfig(p2p, existing.faults, existing.rpc))
    except (ConfigError, OSError) as exc:
        fail(str(exc))
    line(f"{data_dir / 'node.json'}: {name} on {listen_host}:{listen_port}, {len(targets)} peer(s)")
