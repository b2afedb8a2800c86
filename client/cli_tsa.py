"""`ledger tsa serve`: the RFC 3161 time-stamping authority a consortium runs
(client/tsa_server.py; docs/timestamps.md). Its options are the server's own (argparse,
so `ledger tsa serve --help` lists them); the import waits for the command so that other
`ledger` commands start fast."""
from __future__ import annotations

import typer

tsa_app = typer.Typer(no_args_is_help=True, help="An RFC 3161 time-stamping authority the consortium runs.")


@tsa_app.command("serve", context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                                             "help_option_names": []})
def tsa_serve(ctx: typer.Context) -> None:
    """Run the TSA: --ca DIR --dir DATA [--host H] [--port P] [--passphrase-file F] (see --help)."""
    from client.tsa_server import main

    raise typer.Exit(main(ctx.args))
