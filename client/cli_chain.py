"""`ledger chain verify`: walk the whole chain from genesis - hash links, header rules,
commit seals, transactions and receipts roots, optionally re-execution - from a node's
JSON-RPC or from a data directory, and print one verdict. A data directory is read from a
private temporary copy (it is left as it was) and its event indexes - what `/v1/` and
`ledger audit` answer from - are compared with the ones its blocks' logs give.

Exit codes: 0 the chain is valid, 1 a block is not (the first bad height is printed),
2 bad usage (no such directory, no node at --rpc, no access token where the node wants one,
a locked directory). With --rpc the reads carry $LEDGER_TOKEN (a role with rpc:read).

The verifier's modules (py-evm, LevelDB) are imported inside the command, not at the top:
they take seconds to load, and `ledger` imports this module for every command it runs.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from client.auth import TokenError, current_token
from client.cli_options import JsonOption
from client.render import EXIT_REFUSED, emit_json, fail, hex0x

chain_app = typer.Typer(no_args_is_help=True, help="The whole chain: verify every block from genesis.")


def _default_workers() -> int:
    from node.verify.chain import InspectionPool

    return InspectionPool.usable_cores()


@chain_app.command("verify")
def chain_verify(
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="a node's data directory: a copy, or a stopped node's (a running node's is refused)")] = None,
    rpc: Annotated[str | None, typer.Option("--rpc", help="a running node's JSON-RPC URL")] = None,
    first: Annotated[int, typer.Option("--from", min=0, help="first height to check (block 0 is always checked)")] = 0,
    last: Annotated[int | None, typer.Option("--to", min=0, help="last height to check (default: the head)")] = None,
    reexecute: Annotated[bool, typer.Option(
        "--reexecute", help="also re-execute every block and compare state root, receipts and gas (--data-dir only)")] = False,
    check_event_indexes: Annotated[bool, typer.Option(
        "--indexes/--no-indexes", help="with --data-dir over the whole chain: replay the event indexing from the "
                                       "blocks' logs and compare it with the directory's indexes")] = True,
    genesis_file: Annotated[Path | None, typer.Option(
        "--genesis", help="genesis.json block 0 must be built from (default with --data-dir: the one it stores)")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, help="processes checking blocks (default: the usable cores)")] = None,
    json_output: JsonOption = False,
) -> None:
    """Check every block from genesis and print VALID or INVALID at the first bad height."""
    from concurrent.futures.process import BrokenProcessPool

    from client.chain_rpc import RpcSource
    from node.errors import ConfigError, InvalidBlock, StorageError
    from node.execution.genesis import Genesis
    from node.verify.chain import InspectionPool, verify_chain
    from node.verify.indexes import check_indexes
    from node.verify.replay import ChainReplayer
    from node.verify.sources import BlockSource, DataDirSource, stored_genesis

    if (data_dir is None) == (rpc is None):
        fail("give exactly one of --data-dir DIR and --rpc URL")
    if reexecute and data_dir is None:
        fail("--reexecute needs --data-dir: re-execution reads the state from the data directory")
    chain_dir = None
    if data_dir is not None:
        from node.service import CHAIN_DIR

        chain_dir = data_dir / CHAIN_DIR
        if not data_dir.is_dir():
            fail(f"{data_dir}: no such directory")
        if not chain_dir.is_dir():
            fail(f"{data_dir} holds no chain database ({chain_dir} is missing)")
    genesis = None
    genesis_note = "not checked against a genesis file (pass --genesis)"
    if genesis_file is not None:
        try:
            genesis = Genesis.load(genesis_file)
        except ConfigError as exc:
            fail(f"--genesis: {exc}")
        genesis_note = f"built from {genesis_file}"

    # Workers are forked before the data directory is opened and the progress bar starts
    # (a fork copies only the calling thread).
    pool = InspectionPool.start(workers if workers is not None else _default_workers())
    source: BlockSource | None = None
    data_source: DataDirSource | None = None
    index_keys: int | None = None
    index_note = "not checked (--rpc serves no index keys)" if data_dir is None else "not checked (--no-indexes)"
    started = time.perf_counter()
    try:
        if data_dir is not None and chain_dir is not None:
            data_source = DataDirSource(chain_dir)
            source = data_source
            if genesis is None:
                genesis = stored_genesis(data_source.store)
                genesis_note = "built from the genesis document the data directory stores"
            replayer = None
            if reexecute:
                from node.ops.runner import DEV_ACCOUNT_FILE

                # A --dev node admits any sender; others only members (the genesis does not say which).
                permissioned = not (data_dir / DEV_ACCOUNT_FILE).exists()
                replayer = ChainReplayer(data_source.store, stored_genesis(data_source.store), permissioned=permissioned)
        else:
            assert rpc is not None
            try:
                token = current_token()  # $LEDGER_TOKEN or $LEDGER_TOKEN_FILE
            except TokenError as exc:
                fail(str(exc))
            source = RpcSource(rpc, token=token)
            replayer = None
        head = source.head()
        last = head if last is None else last
        if not first <= last <= head:
            fail(f"--from {first} --to {last}: the chain's heights are 0..{head}")
        total = last - first + 1
        with _progress(json_output) as progress:
            task = progress.add_task("verifying", total=total)
            summary = verify_chain(
                source, genesis=genesis, first=first, last=last, replayer=replayer, pool=pool,
                on_progress=lambda done: progress.update(task, completed=done),
            )
            # The indexes describe the chain up to the head: only a walk of all of it can
            # vouch for the blocks they are replayed from.
            if data_source is not None and check_event_indexes and (first > 1 or last != head):
                index_note = "not checked (they describe the whole chain; this walk checked a range)"
            elif data_source is not None and check_event_indexes:
                assert genesis is not None
                index_task = progress.add_task("replaying the event indexes", total=head)
                checked_indexes = check_indexes(data_source, genesis, head,
                                                on_progress=lambda done: progress.update(index_task, completed=done))
                index_keys = checked_indexes.keys
                index_note = (f"{checked_indexes.keys:,} keys match the {checked_indexes.events:,} events "
                              "the blocks' logs give")
                if checked_indexes.skipped:
                    index_note += ("; not compared: " + ", ".join(checked_indexes.skipped)
                                   + " (not written yet: a node of this version writes them when it opens the directory)")
    except InvalidBlock as exc:
        _invalid(exc, json_output)
    except StorageError as exc:  # SourceError among them: the source cannot be read at all
        fail(str(exc))
    except BrokenProcessPool as exc:
        fail(f"a worker process died: {exc}")
    finally:
        if source is not None:
            source.close()
        if pool is not None:
            pool.close()
    seconds = time.perf_counter() - started
    document: dict[str, Any] = {
        "valid": True, "source": summary.source, "from": summary.first, "to": summary.last,
        "blocks": summary.blocks, "transactions": summary.transactions, "genesis": summary.genesis_hash,
        "head": summary.head_hash, "genesisChecked": summary.genesis_checked, "genesisNote": genesis_note,
        "reexecuted": summary.reexecuted, "indexesChecked": index_keys is not None, "indexKeys": index_keys,
        "indexNote": index_note, "seconds": round(seconds, 3),
        "blocksPerSecond": round(summary.blocks / seconds) if seconds > 0 else None,
    }
    if json_output:
        emit_json(document)
        return
    end = "head" if summary.last == head else f"block {summary.last}"
    if summary.first == 0:
        typer.echo(f"VALID: {summary.blocks:,} blocks from genesis {hex0x(summary.genesis_hash)} to {end} {hex0x(summary.head_hash)}")
    else:
        typer.echo(f"VALID: {summary.blocks:,} blocks from {summary.first} to {end} {hex0x(summary.head_hash)} "
             f"(and genesis {hex0x(summary.genesis_hash)})")
    checked = "hash links, header rules, commit seals, transactions and receipts roots"
    if chain_dir is not None:
        checked += ", senders, indexes, state roots present"
    if summary.reexecuted:
        checked += ", re-execution"
    typer.echo(f"  checked: {checked}; {summary.transactions:,} transactions")
    typer.echo(f"  genesis: {genesis_note}")
    typer.echo(f"  event indexes: {index_note}")
    typer.echo(f"  {summary.source}, {seconds:.2f} s ({document['blocksPerSecond'] or 0:,} blocks/s)")


def _invalid(exc: Any, json_output: bool) -> NoReturn:
    from node.verify.indexes import IndexMismatch

    if json_output:
        document = {"valid": False, "height": exc.height, "step": exc.step, "detail": exc.detail}
        if isinstance(exc, IndexMismatch):
            document.update(index=exc.index, key=hex0x(exc.key), differences=exc.differences)
        emit_json(document)
    else:
        typer.echo(f"INVALID at height {exc.height}: {exc.step}: {exc.detail}")
    raise typer.Exit(EXIT_REFUSED)


def _progress(json_output: bool) -> Any:
    """A transient bar on stderr, only for a person at a terminal."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("blocks"),
        TimeRemainingColumn(), console=console, transient=True, disable=json_output or not console.is_terminal,
    )

