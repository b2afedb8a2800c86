"""`ledger signer`: run the signing service (`client.cloudsign`), import members' keys into
it, list them.

The master passphrase comes from LEDGER_SIGNER_PASSPHRASE or --passphrase-file, never
from the command line (where `ps` would show it). Exit codes: 0 ok, 1 refused (wrong
passphrase, user exists, a non-loopback address without --allow-remote, unreadable
records), 2 bad input.

Heavier imports (node/, py-evm, web3, the SDK's clients) are made inside the commands, so that
`ledger --help` and every other command start fast; none of them dodges an import circle.
"""
from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from client.cli_options import CertKeyOption, CertOption, JsonOption, P12Option, PasswordOption
from client.http import is_loopback_host
from client.render import EXIT_REFUSED, emit_json, fail, hex0x, table

if TYPE_CHECKING:
    from client.cloudsign import SignerStore

signer_app = typer.Typer(no_args_is_help=True, help="The signing service holding members' certificate keys (for CloudSigner).")

PASSPHRASE_ENV = "LEDGER_SIGNER_PASSPHRASE"
DEFAULT_PORT = 8600

DirOption = Annotated[Path, typer.Option("--dir", help="the service's directory (records, service.json, audit.log)")]
PassphraseFileOption = Annotated[Path | None, typer.Option(
    "--passphrase-file", help=f"file holding the master passphrase (default: ${PASSPHRASE_ENV})")]


def _passphrase(path: Path | None) -> str:
    from client.cloudsign import MIN_PASSPHRASE_CHARS

    if path is not None:
        try:
            text = path.read_text().rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"--passphrase-file {path}: {getattr(exc, 'strerror', None) or exc}")
    else:
        text = os.environ.get(PASSPHRASE_ENV, "")
        if not text:
            fail(f"no master passphrase: set {PASSPHRASE_ENV} or give --passphrase-file")
    if len(text) < MIN_PASSPHRASE_CHARS:
        fail(f"the master passphrase must have at least {MIN_PASSPHRASE_CHARS} characters")
    return text


def _open(directory: Path, passphrase_file: Path | None, *, create: bool) -> SignerStore:
    from client.cloudsign import PassphraseError, SignerStore, StoreError

    passphrase = _passphrase(passphrase_file)
    try:
        return SignerStore.open(directory, passphrase, create=create)
    except PassphraseError as exc:
        fail(str(exc), EXIT_REFUSED)
    except StoreError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{directory}: {exc.strerror}")


@signer_app.command("serve")
def serve(
    directory: DirOption,
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to bind")] = DEFAULT_PORT,
    allow_remote: Annotated[bool, typer.Option(
        "--allow-remote", help="bind a non-loopback address (put a TLS-terminating proxy in front)")] = False,
    passphrase_file: PassphraseFileOption = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error")] = "info",
) -> None:
    """Serve GET /v1/users/USER/certificate and POST /v1/users/USER/sign on http://HOST:PORT."""
    if not is_loopback_host(host) and not allow_remote:
        fail(f"refusing to listen on {host}: bearer tokens would cross the network; give --allow-remote "
             "(behind TLS) to do it anyway", EXIT_REFUSED)
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        fail(f"--log-level {log_level!r}: expected debug, info, warning or error")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    store = _open(directory, passphrase_file, create=False)
    import uvicorn

    from client.cloudsign import create_app

    typer.echo(f"signing service for {directory} on http://{host}:{port}", err=True)
    uvicorn.run(create_app(store), host=host, port=port, log_level=log_level.lower())


@signer_app.command("add-user")
def add_user(
    directory: DirOption,
    user: Annotated[str, typer.Option("--user", help="user id: 1-64 letters, digits, '.', '_', '-'")],
    cert: CertOption = None,
    cert_key: CertKeyOption = None,
    p12: P12Option = None,
    keystore: Annotated[Path | None, typer.Option(
        "--keystore", help="Web3 Secret Storage JSON with the leaf's secp256k1 key (with --cert)")] = None,
    password: PasswordOption = None,
    replace: Annotated[bool, typer.Option("--replace", help="replace an existing user's key and token")] = False,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Import a certificate key for USER and print its bearer token, once, on stdout."""
    from client.cloudsign import UserExists, validate_user
    from client.credentials import CredentialError
    from client.signers import load_signer

    try:
        validate_user(user)
    except ValueError as exc:
        fail(str(exc))
    try:
        signer = load_signer(cert=cert, key=cert_key, p12=p12, keystore=keystore, password=password)
    except CredentialError as exc:
        fail(f"certificate identity: {exc}")
    store = _open(directory, passphrase_file, create=True)
    try:
        token = store.add_user(user, signer, now=datetime.now(UTC), replace=replace)
    except UserExists as exc:
        fail(str(exc), EXIT_REFUSED)
    typer.echo(f"added {user} (certificate {hex0x(signer.fingerprint)}); its token follows, shown "
               "this once: the service keeps only its SHA-256", err=True)
    typer.echo(token)


@signer_app.command("list")
def list_users(directory: DirOption, as_json: JsonOption = False) -> None:
    """The users, their certificates and when they were added (no passphrase needed)."""
    from client.cloudsign import RecordError, StoreError, list_records

    try:
        records = list_records(directory)
    except StoreError as exc:
        fail(str(exc))
    rows: list[dict[str, object]] = []
    for user, record in records:
        if isinstance(record, RecordError):
            rows.append({"user": user, "error": record.reason})
            continue
        leaf = record.chain[0]
        rows.append({
            "user": user, "subject": leaf.subject.rfc4514_string(), "fingerprint": record.fingerprint,
            "notAfter": leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"), "chainLength": len(record.chain),
            "createdAt": record.created_at,
        })
    if as_json:
        emit_json({"users": rows})
    else:
        table(None, ["user", "subject", "certificate", "not after", "added"], [
            (r["user"], r.get("subject", f"unreadable: {r.get('error')}"), r.get("fingerprint"), r.get("notAfter"),
             r.get("createdAt")) for r in rows
        ])
    if any("error" in r for r in rows):
        raise typer.Exit(EXIT_REFUSED)
