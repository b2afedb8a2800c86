"""The bearer token the SDK and the CLI present to a node (docs/access.md): the one given, else $LEDGER_TOKEN, else the contents of the file $LEDGER_TOKEN_FILE names."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from client.errors import ClientError

TOKEN_ENV = "LEDGER_TOKEN"
TOKEN_FILE_ENV = "LEDGER_TOKEN_FILE"
# A token is ~450 characters; a "token file" far larger than this is the wrong file.
MAX_TOKEN_FILE_BYTES = 16 * 1024
UNAUTHORIZED = -40100  # the node's JSON-RPC code for a call the token's role may not make

NEEDS_TOKEN = ("the node requires an access token: set LEDGER_TOKEN (or LEDGER_TOKEN_FILE) to one from "
               "`ledger token issue`")


class TokenError(ClientError):
    """$LEDGER_TOKEN_FILE names a file that cannot be read as a token."""


def current_token(token: str | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """`token` if given, else $LEDGER_TOKEN, else the stripped contents of the file
    $LEDGER_TOKEN_FILE names; None if none is set."""
    env = os.environ if environ is None else environ
    if token:
        return token.strip()
    if env.get(TOKEN_ENV, "").strip():
        return env[TOKEN_ENV].strip()
    path = env.get(TOKEN_FILE_ENV, "").strip()
    if not path:
        return None
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(MAX_TOKEN_FILE_BYTES + 1)
    except OSError as exc:
        raise TokenError(f"{TOKEN_FILE_ENV}={path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_TOKEN_FILE_BYTES:
        raise TokenError(f"{TOKEN_FILE_ENV}={path}: larger than {MAX_TOKEN_FILE_BYTES} bytes, not a token")
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise TokenError(f"{TOKEN_FILE_ENV}={path}: not a token (a token is ASCII text)") from None
    return text or None


def auth_headers(token: str | None) -> dict[str, str]:
    """`Authorization: Bearer TOKEN`, or nothing without a token."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def is_unauthorized(error: Any) -> bool:
    """Whether a JSON-RPC error object is the node's -40100 (the role may not do that)."""
    return isinstance(error, Mapping) and error.get("code") == UNAUTHORIZED


def refusal_message(detail: str) -> str:
    """One line for a call the token's role may not make."""
    return f"{detail} (the access token's role may not do this; see `ledger token` and docs/access.md)"
