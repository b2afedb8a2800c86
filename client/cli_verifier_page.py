"""`ledger evidence verifier-page`: write the offline verifier a court keeps - one HTML file
with the consortium's genesis.json and the browser verifier inside (node/web/pages.py),
that checks receipts opened from a disk with the network off, years later."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from client.render import fail


def register(evidence_app: typer.Typer) -> None:
    evidence_app.command("verifier-page")(verifier_page)


def verifier_page(
    genesis: Annotated[Path, typer.Option(help="the consortium's genesis.json, built into the page")],
    out: Annotated[Path, typer.Option(help="the HTML file to write (e.g. verify.html)")],
) -> None:
    """Write a self-contained offline verifier page for the chain GENESIS starts."""
    # node.web and evidence are imported here: `ledger` imports every command module each run.
    from evidence.receipt import GenesisTrust, VerificationError
    from node.web.pages import offline_page

    try:
        text = genesis.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {genesis}: {exc}")
    try:
        trust = GenesisTrust.from_document(json.loads(text))  # the page would refuse it: say so now
        html = offline_page(text)
    except (ValueError, VerificationError) as exc:
        fail(f"{genesis} is not a genesis.json a verifier can use: {exc}")
    out.write_text(html, encoding="utf-8")
    typer.echo(f"wrote {out} ({len(html.encode('utf-8')) // 1024} KiB): verifies receipts of "
               f"{trust.chain_name} (chain id {trust.chain_id}, genesis 0x{trust.genesis_hash.hex()}) offline")
