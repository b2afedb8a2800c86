"""`ledger cluster up|down|status|add`: a local testnet of validator and observer processes
on loopback ports, with its own genesis, keys and TLS certificates (node/cluster.py).

Exit codes: 0 success, 1 a node did not come up (which one, and the tail of its node.log,
are printed), 2 bad usage (no cluster in --dir, a count out of range, a directory that
is not empty).
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Iterator, NoReturn, Optional

import typer

from client.cli_pki import JsonOption
from client.render import EXIT_REFUSED, emit_json, fail, fields, line, table

if TYPE_CHECKING:
    from node.cluster import ClusterLayout, NodeStartError

cluster_app = typer.Typer(
    no_args_is_help=True,
    help="A local testnet: validators and observers as processes on loopback ports (up, down, status, add).",
)

DirOption = Annotated[Path, typer.Option("--dir", help="the cluster directory (cluster.json, genesis, keys, node data)")]


@cluster_app.command("up")
def cluster_up(
    dir: DirOption,
    validators: Annotated[Optional[int], typer.Option(
        "--validators", min=1, max=64, help="validators to create (default 4; an existing cluster keeps its own)")] = None,
    observers: Annotated[Optional[int], typer.Option(
        "--observers", min=0, max=64, help="non-validating nodes to create (default 0)")] = None,
    chain_id: Annotated[int, typer.Option("--chain-id", min=1, help="chain id of a new cluster")] = 4343,
    block_period: Annotated[int, typer.Option(
        "--block-period", min=1, help="seconds between blocks while transactions wait")] = 1,
    empty_block_period: Annotated[int, typer.Option(
        "--empty-block-period", min=1, help="seconds between empty blocks")] = 60,
    request_timeout: Annotated[int, typer.Option(
        "--request-timeout", min=1, help="QBFT round-0 timer in seconds (it doubles each round)")] = 4,
    host: Annotated[str, typer.Option("--host", help="address every node binds (RPC and p2p)")] = "127.0.0.1",
    json_output: JsonOption = False,
) -> None:
    """Create a cluster in --dir (if it holds none) and start every node that is not running."""
    from node.cluster import CLUSTER_FILE, create_cluster, load_cluster, start_cluster

    created = False
    with _cluster_errors():
        if (dir / CLUSTER_FILE).exists():
            existing = load_cluster(dir)
            wanted = (validators, observers)
            have = (len(existing.validators), len(existing.observers))
            if any(w is not None and w != h for w, h in zip(wanted, have)):
                fail(f"{dir} already holds a cluster of {have[0]} validator(s) and {have[1]} observer(s); "
                     "use `ledger cluster add` for more nodes, or another --dir")
        else:
            create_cluster(
                dir, validators if validators is not None else 4, observers or 0,
                chain_id=chain_id, block_period=block_period,
                empty_block_period=max(empty_block_period, block_period),
                request_timeout=request_timeout, host=host,
            )
            created = True
        layout = start_cluster(dir)
    if json_output:
        from node.cluster import cluster_document

        emit_json({"created": created, "dir": str(layout.dir), **cluster_document(layout)})
        return
    _print_layout(layout, "created and started" if created else "started")


@cluster_app.command("down")
def cluster_down(dir: DirOption, json_output: JsonOption = False) -> None:
    """Stop every node of the cluster (SIGTERM, then SIGKILL after 30 s); keeps the data."""
    from node.cluster import ClusterError, stop_cluster
    from node.errors import ConfigError

    try:
        stopped = stop_cluster(dir)
    except ClusterError as exc:
        fail(str(exc), EXIT_REFUSED)
    except ConfigError as exc:
        fail(str(exc))
    if json_output:
        emit_json({"stopped": stopped})
    elif stopped:
        line(f"stopped {len(stopped)} node(s): {', '.join(stopped)}")
    else:
        line("no node was running")


@cluster_app.command("status")
def cluster_status_command(dir: DirOption, json_output: JsonOption = False) -> None:
    """Each node's process, height, QBFT round and peers (asked with the cluster's admin.token)."""
    from dataclasses import asdict

    from node.cluster import cluster_status
    from node.errors import ConfigError

    try:
        statuses = cluster_status(dir)
    except ConfigError as exc:
        fail(str(exc))
    if json_output:
        emit_json({"nodes": [asdict(s) for s in statuses]})
        return
    rows = []
    for s in statuses:
        if s.alive and s.reachable:
            state = "up" if not s.syncing else "syncing"
        elif s.alive:
            state = "no rpc"
        elif s.reachable:
            state = "stray"  # something answers on its port, but not the recorded process
        else:
            state = "stopped"
        peers = None if s.peers is None else len(s.peers)
        rows.append((s.name, s.kind, s.pid if s.alive else None, state, s.height, s.round, peers, s.rpc_url))
    table(None, ["name", "kind", "pid", "state", "height", "round", "peers", "rpc"], rows,
          numeric=["pid", "height", "round", "peers"])
    for s in statuses:
        if s.error and s.alive:
            line(f"{s.name}: {s.error}")


@cluster_app.command("add")
def cluster_add(
    dir: DirOption,
    observer: Annotated[bool, typer.Option(
        "--observer", help="add an observer (default: a validator, outside the set until voted in)")] = False,
    json_output: JsonOption = False,
) -> None:
    """Add one node (new key and certificate; every existing node as its peers); start it if
    the cluster is running."""
    from node.cluster import add_node, is_running

    with _cluster_errors():
        node = add_node(dir, "observer" if observer else "validator")
    running = is_running(node)
    document = {
        "name": node.name, "kind": node.kind,
        "address": "0x" + node.address.hex() if node.address else None,
        "data_dir": str(node.data_dir), "rpc_url": node.rpc_url, "p2p_port": node.p2p_port,
        "pid": node.pid if running else None, "running": running,
    }
    if json_output:
        emit_json(document)
        return
    fields(f"added {node.name}" + ("" if running else " (not started: the cluster is down; `ledger cluster up`)"),
           list(document.items()))
    if node.kind == "validator":
        line("a new validator joins the set only when the validators vote it in (qbft_proposeValidatorVote)")


def _print_layout(layout: ClusterLayout, verb: str) -> None:
    table(f"cluster {layout.dir} (chain {layout.chain_id}) {verb}",
          ["name", "kind", "address", "rpc", "p2p port", "pid"],
          [(n.name, n.kind, "0x" + n.address.hex() if n.address else None, n.rpc_url, n.p2p_port, n.pid)
           for n in layout.nodes],
          numeric=["p2p port", "pid"])
    fields(None, [
        ("genesis", str(layout.genesis_path)),
        ("admin account", layout.account),
        ("admin key", f"{layout.admin_key_path}  (use --key {layout.admin_key_path})"),
        ("admin token", f"{layout.admin_token_path}  (export LEDGER_TOKEN_FILE={layout.admin_token_path})"),
    ])


@contextlib.contextmanager
def _cluster_errors() -> Iterator[None]:
    """A node that did not come up or a refused change: exit 1 with the reason (and the
    node's log tail); a bad cluster directory or file: exit 2."""
    from node.cluster import ClusterError, NodeStartError
    from node.errors import ConfigError

    try:
        yield
    except NodeStartError as exc:
        _start_failed(exc)
    except ClusterError as exc:
        fail(str(exc), EXIT_REFUSED)
    except (ConfigError, OSError) as exc:
        fail(str(exc))


def _start_failed(exc: NodeStartError) -> NoReturn:
    typer.echo(f"--- last lines of {exc.log_path} ---", err=True)
    typer.echo(exc.log_tail.rstrip("\n"), err=True)
    typer.echo("---", err=True)
    fail(str(exc), EXIT_REFUSED)
