"""`ledger token issue|list|revoke`: role tokens for a node's JSON-RPC, WebSocket, blob and
REST routes (node/access/tokens.py; docs/access.md), kept under `<data-dir>/tokens/`.

`issue` prints the token alone on stdout, so `export LEDGER_TOKEN=$(ledger token issue
...)` works; the rest goes to stderr. Only a record of each token (never the token) is
kept, so a lost token cannot be printed again: revoke it and issue another.

Exit codes: 0 success, 2 bad usage or input (unknown role, a PARTY without --address, a
bad --ttl, an unknown token id).

Heavier imports (node/, py-evm, web3, the SDK's clients) are made inside the commands, so that
`ledger --help` and every other command start fast; none of them dodges an import circle.
"""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from client.render import emit_json, fail, line, table

token_app = typer.Typer(
    no_args_is_help=True,
    help="Role tokens for a node's RPC (issue, list, revoke); the node trusts its own issuer key.",
)

DataDirOption = Annotated[Path, typer.Option(
    "--data-dir", help="the node's data directory (its tokens/ holds the issuer key and the records)")]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON document")]


def _utc(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _store(data_dir: Path) -> Any:
    from node.access.tokens import TokenStore

    if not data_dir.is_dir():
        fail(f"--data-dir {data_dir}: no such directory")
    return TokenStore(data_dir)


@token_app.command("issue")
def token_issue(
    data_dir: DataDirOption,
    role: Annotated[str, typer.Option(
        "--role", help="ADMIN, TRADING_CENTER, PARTY, REGULATOR, COURT, NOTARY or AUDITOR (any case, - or _)")],
    subject: Annotated[str | None, typer.Option(
        "--subject", help="who holds it, e.g. \"City Housing Bureau\" (default: the role)")] = None,
    address: Annotated[str | None, typer.Option(
        "--address", help="0x account the token acts for: it may send only that account's transactions "
        "(required for PARTY)")] = None,
    ttl: Annotated[str, typer.Option("--ttl", help="lifetime: 90d, 12h, 30m or 3600s")] = "90d",
    json_output: JsonOption = False,
) -> None:
    """Issue a role token signed by this data directory's issuer key (created if absent)."""
    from eth_utils import to_checksum_address

    from node.access.roles import parse_role
    from node.access.tokens import parse_address, parse_ttl
    from node.errors import ConfigError

    store = _store(data_dir)
    try:
        role_name = parse_role(role)
        raw_address = parse_address(address) if address is not None else None
        lifetime = parse_ttl(ttl)
        token, claims = store.issue(role_name, subject if subject is not None else role_name, raw_address, lifetime)
    except ConfigError as exc:
        option = {"role": "--role", "address": "--address", "ttl": "--ttl", "subject": "--subject"}.get(exc.field)
        fail(f"{option}: {exc.reason}" if option else str(exc))
    except OSError as exc:
        fail(f"{store.dir}: {exc.strerror or exc}")
    shown_address = to_checksum_address(claims.address) if claims.address else None
    if json_output:
        emit_json({"token": token, "jti": claims.token_id, "role": claims.role, "subject": claims.subject,
                   "address": shown_address, "issued": _utc(claims.issued_at), "expires": _utc(claims.expires)})
        return
    typer.echo(token)
    bound = f" for {shown_address}" if shown_address else ""
    typer.echo(f"{claims.role} token{bound} ({claims.subject}), id {claims.token_id}, expires "
               f"{_utc(claims.expires)}; send it as Authorization: Bearer, or set LEDGER_TOKEN", err=True)


@token_app.command("list")
def token_list(data_dir: DataDirOption, json_output: JsonOption = False) -> None:
    """Every token issued from this data directory (the records; tokens are never stored)."""
    store = _store(data_dir)
    revoked = store.revoked()
    now = datetime.now(UTC).timestamp()
    rows = []
    for record in store.records():
        exp = record.get("exp") if isinstance(record.get("exp"), int) else None
        iat = record.get("iat") if isinstance(record.get("iat"), int) else None
        rows.append({
            "jti": record["jti"], "role": record.get("role"), "subject": record.get("sub"),
            "address": record.get("addr"), "issued": _utc(iat), "expires": _utc(exp),
            "revoked": record["jti"] in revoked, "expired": exp is not None and exp <= now,
        })
    if json_output:
        emit_json({"tokens": rows})
        return
    if not rows:
        line(f"no tokens issued from {store.dir}")
        return
    table(None, ["jti", "role", "subject", "address", "issued", "expires", "revoked"],
          [(r["jti"], r["role"], r["subject"], r["address"], r["issued"],
            r["expires"] + (" (expired)" if r["expired"] else ""), r["revoked"]) for r in rows])


@token_app.command("revoke")
def token_revoke(
    data_dir: DataDirOption,
    jti: Annotated[str, typer.Argument(help="the token's id (jti), as `ledger token list` shows it")],
    force: Annotated[bool, typer.Option(
        "--force", help="revoke an id this directory did not issue (a token from another issuer the node trusts)")] = False,
    json_output: JsonOption = False,
) -> None:
    """Revoke a token: the node refuses it from its next request on (no restart)."""
    from node.errors import ConfigError, NotFound

    store = _store(data_dir)
    try:
        added = store.revoke(jti, unknown_ok=force)
    except NotFound as exc:
        fail(f"{exc} (see `ledger token list`; --force revokes an id from another issuer)")
    except ConfigError as exc:
        fail(f"JTI: {exc.reason}")
    except OSError as exc:
        fail(f"{store.revoked_path}: {exc.strerror or exc}")
    token_id = jti.strip().lower()
    if json_output:
        emit_json({"jti": token_id, "revoked": True, "already": not added})
        return
    line(f"revoked {token_id}" if added else f"{token_id} was already revoked")
