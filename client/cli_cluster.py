"""`ledger cluster up|down|status|add|start|stop|restart`: a local testnet of validator and
observer processes on loopback ports, with its own genesis, keys and TLS certificates
(node/ops/cluster/).

Exit codes: 0 success, 1 a node did not come up (which one, and the tail of its node.log,
are printed), 2 bad usage (no cluster in --dir, a count out of range, a directory that
is not empty, a --base-port whose ports are out of range or in use, an unknown node
name, stopping a node that is not running).

Heavier imports (node/, py-evm, web3, the SDK's clients) are made inside the commands, so that
`ledger --help` and every other command start fast; none of them dodges an import circle.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from client.cli_options import JsonOption
from client.render import EXIT_REFUSED, emit_json, fail, fields, line, table

if TYPE_CHECKING:
    from node.ops.cluster.layout import ClusterLayout
    from node.ops.cluster.processes import NodeStartError

cluster_app = typer.Typer(
    no_args_is_help=True,
    help="A local testnet: validators and observers as processes on loopback ports "
         "(up, down, status, add; start, stop, restart one node).",
)

DirOption = Annotated[Path, typer.Option("--dir", help="the cluster directory (cluster.json, genesis, keys, node data)")]
NodeArgument = Annotated[str, typer.Argument(metavar="NODE", help="the node's name, e.g. validator-2 (cluster status lists them)")]


@cluster_app.command("up")
def cluster_up(
    dir: DirOption,
    validators: Annotated[int | None, typer.Option(
        "--validators", min=1, max=64, help="validators to create (default 4; an existing cluster keeps its own)")] = None,
    observers: Annotated[int | None, typer.Option(
        "--observers", min=0, max=64, help="non-validating nodes to create (default 0)")] = None,
    chain_id: Annotated[int, typer.Option("--chain-id", min=1, help="chain id of a new cluster")] = 4343,
    block_period: Annotated[int, typer.Option(
        "--block-period", min=1, help="seconds between blocks while transactions wait")] = 1,
    empty_block_period: Annotated[int, typer.Option(
        "--empty-block-period", min=1, help="seconds between empty blocks")] = 60,
    request_timeout: Annotated[int, typer.Option(
        "--request-timeout", min=1, help="QBFT round-0 timer in seconds (it doubles each round)")] = 4,
    host: Annotated[str, typer.Option("--host", help="address every node binds (RPC and p2p)")] = "127.0.0.1",
    base_port: Annotated[int | None, typer.Option(
        "--base-port", help="lay a new cluster's ports out from this one: node i (validators first) gets RPC "
                            "port BASE+2i and p2p port BASE+2i+1 (default: free ports the system picks)")] = None,
    json_output: JsonOption = False,
) -> None:
    """Create a cluster in --dir (if it holds none) and start every node that is not running
    (nodes already running, even ones started by hand, are left as they are)."""
    from node.ops.cluster.create import create_cluster
    from node.ops.cluster.layout import CLUSTER_FILE, load_cluster
    from node.ops.cluster.processes import start_stopped_nodes

    created = False
    with _cluster_errors():
        if (dir / CLUSTER_FILE).exists():
            existing = load_cluster(dir)
            wanted = (validators, observers)
            have = (len(existing.validators), len(existing.observers))
            if any(w is not None and w != h for w, h in zip(wanted, have)):
                fail(f"{dir} already holds a cluster of {have[0]} validator(s) and {have[1]} observer(s); "
                     "use `ledger cluster add` for more nodes, or another --dir")
            if base_port is not None and base_port != existing.base_port:
                fail(f"{dir} already holds a cluster whose ports are laid out "
                     + (f"from {existing.base_port}" if existing.base_port else "by the system")
                     + "; --base-port applies when creating one")
        else:
            create_cluster(
                dir, validators if validators is not None else 4, observers or 0,
                chain_id=chain_id, block_period=block_period,
                empty_block_period=max(empty_block_period, block_period),
                request_timeout=request_timeout, host=host, base_port=base_port,
            )
            created = True
        layout, started = start_stopped_nodes(dir)
    running = [n.name for n in layout.nodes if n.name not in started]
    if json_output:
        from node.ops.cluster.layout import cluster_document

        emit_json({"created": created, "dir": str(layout.dir), "started": started, "running": running,
                   **cluster_document(layout)})
        return
    if created:
        verb = "created and started"
    elif not started:
        verb = "already running: nothing to start"
    else:
        verb = f"started {', '.join(started)}" + (f" (already running: {', '.join(running)})" if running else "")
    _print_layout(layout, verb)


@cluster_app.command("down")
def cluster_down(dir: DirOption, json_output: JsonOption = False) -> None:
    """Stop every node of the cluster (SIGTERM, then SIGKILL after 30 s); keeps the data."""
    from node.errors import ConfigError
    from node.ops.cluster.layout import ClusterError
    from node.ops.cluster.processes import stop_cluster

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


@cluster_app.command("start")
def cluster_start(node: NodeArgument, dir: DirOption, json_output: JsonOption = False) -> None:
    """Start one node by name and wait until it answers; a node already running is left as it is."""
    from node.ops.cluster.processes import running_nodes, start_node

    with _cluster_errors():
        was_running = node in running_nodes(dir)
        started = start_node(dir, node)
    _report_one("start", started.name, started.pid, started.rpc_url, was_running, json_output)


@cluster_app.command("stop")
def cluster_stop(node: NodeArgument, dir: DirOption, json_output: JsonOption = False) -> None:
    """Stop one node by name (SIGTERM, then SIGKILL after 30 s); the others go on. A node that
    is not running: exit 2."""
    from node.ops.cluster.processes import stop_node

    with _cluster_errors():
        stop_node(dir, node, must_be_running=True)
    if json_output:
        emit_json({"stopped": node})
    else:
        line(f"stopped {node}")


@cluster_app.command("restart")
def cluster_restart(node: NodeArgument, dir: DirOption, json_output: JsonOption = False) -> None:
    """Stop one node by name if it runs, start it again and wait until it answers."""
    from node.ops.cluster.processes import restart_node

    with _cluster_errors():
        restarted, was_running = restart_node(dir, node)
    _report_one("restart", restarted.name, restarted.pid, restarted.rpc_url, was_running, json_output)


def _report_one(command: str, name: str, pid: int | None, rpc_url: str, was_running: bool, json_output: bool) -> None:
    """start: {"started": NAME, or null if it ran already}; restart: {"restarted": NAME}."""
    if json_output:
        key = "restarted" if command == "restart" else "started"
        done = None if command == "start" and was_running else name
        emit_json({key: done, "node": name, "was_running": was_running, "pid": pid, "rpc_url": rpc_url})
    elif command == "start":
        line(f"{name} is already running (pid {pid}, {rpc_url})" if was_running
             else f"started {name} (pid {pid}, {rpc_url})")
    else:
        line(f"restarted {name} (pid {pid}, {rpc_url})" if was_running
             else f"{name} was not running; started it (pid {pid}, {rpc_url})")


@cluster_app.command("status")
def cluster_status_command(dir: DirOption, json_output: JsonOption = False) -> None:
    """Each node's process, height, QBFT round and peers (asked with the cluster's admin.token)."""
    from dataclasses import asdict

    from node.errors import ConfigError
    from node.ops.cluster.status import cluster_status

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
    from node.ops.cluster.create import add_node
    from node.ops.cluster.processes import is_running

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
    from node.errors import ConfigError
    from node.ops.cluster.layout import ClusterError, UnknownNodeError
    from node.ops.cluster.processes import NodeNotRunningError, NodeStartError

    try:
        yield
    except NodeStartError as exc:
        _start_failed(exc)
    except (UnknownNodeError, NodeNotRunningError) as exc:
        fail(str(exc))
    except ClusterError as exc:
        fail(str(exc), EXIT_REFUSED)
    except (ConfigError, OSError) as exc:
        fail(str(exc))


def _start_failed(exc: NodeStartError) -> NoReturn:
    typer.echo(f"--- last lines of {exc.log_path} ---", err=True)
    typer.echo(exc.log_tail.rstrip("\n"), err=True)
    typer.echo("---", err=True)
    fail(str(exc), EXIT_REFUSED)
