"""What every `ledger` command that talks to a chain shares: the node, account, JSON and
certificate options; reading their values (addresses, digests, files, signers); and the
SDK connection — `writer`, `reader` pinned to the latest block, `on_chain` mapping what
the node and the contracts say to exit codes.

The SDK (client/ledger.py, web3: about a second to import) and the signers are imported
inside the functions that need them, never at module level: every `ledger` command
imports this module, and the offline ones (`ledger ca new`, `ledger keys`) should start
fast.

Heavier imports (node/, py-evm, web3, the SDK's clients) are made inside the commands, so that
`ledger --help` and every other command start fast; none of them dodges an import circle.
"""
from __future__ import annotations

import os
import string
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from client.auth import NEEDS_TOKEN, TokenError, is_unauthorized, refusal_message
from client.http import HttpError
from client.render import EXIT_REFUSED, EXIT_USAGE, fail

if TYPE_CHECKING:
    from client.ledger import Ledger, TxResult
    from client.signers import Signer

DEFAULT_RPC = "http://127.0.0.1:8545"

RpcOption = Annotated[str, typer.Option("--rpc", envvar="LEDGER_RPC_URL", help="node JSON-RPC URL")]
KeyOption = Annotated[Path | None, typer.Option(
    "--key", envvar="LEDGER_KEY_FILE", help="account key file (hex) that signs the transaction")]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON document (bytes as 0x-hex)")]
CertOption = Annotated[Path | None, typer.Option("--cert", help="certificate chain PEM (leaf first, or any order)")]
CertKeyOption = Annotated[Path | None, typer.Option("--cert-key", help="the certificate's private key (PEM or DER)")]
P12Option = Annotated[Path | None, typer.Option("--p12", help="PKCS#12 file with the key and chain (instead of --cert)")]
PasswordOption = Annotated[str | None, typer.Option(
    "--password", envvar="LEDGER_CERT_PASSWORD", help="password of --cert-key, --p12 or --keystore")]
KeystoreOption = Annotated[Path | None, typer.Option(
    "--keystore", help="encrypted keystore JSON of the certificate's secp256k1 key (with --cert)")]
SignerUrlOption = Annotated[str | None, typer.Option(
    "--signer-url", help="hosted signing service holding the certificate key (token in $LEDGER_SIGNER_TOKEN)")]
SignerUserOption = Annotated[str | None, typer.Option("--signer-user", help="your user at --signer-url")]
# A contract is named by its id or by its project code (then its latest version).
ContractIdArgument = Annotated[str | None, typer.Argument(help="contract id (0x-hex); or use --project")]
ProjectOption = Annotated[str | None, typer.Option("--project", help="project code: its latest version")]


@dataclass(frozen=True)
class Head:
    """The block a read command answers at: every view call is pinned to it."""

    number: int
    timestamp: int


# -- the SDK connection -----------------------------------------------------------------------


@contextmanager
def on_chain(rpc: str) -> Iterator[None]:
    """Map what the node and the contracts say to exit codes: a refusal or revert is 1
    (with its reason); no node at `rpc`, no valid access token (HTTP 401), another HTTP
    refusal or a call the token's role may not make (-40100) is 2."""
    from web3.exceptions import Web3Exception, Web3RPCError

    from client.ledger import LedgerError, Reverted, Unauthorized
    from client.signers import SignerError

    try:
        yield
    except SignerError as exc:
        fail(str(exc), EXIT_REFUSED)
    except Reverted as exc:
        fail(exc.reason, EXIT_REFUSED)
    except Unauthorized as exc:
        fail(str(exc), EXIT_USAGE)
    except LedgerError as exc:
        fail(str(exc), EXIT_REFUSED)
    except HttpError as exc:
        if exc.status == 401:
            fail(f"{NEEDS_TOKEN} ({rpc} answered 401: {exc.message})", EXIT_USAGE)
        if exc.status is None:
            fail(f"cannot reach the node at {rpc}: {exc.message}", EXIT_USAGE)
        fail(f"{rpc} answered HTTP {exc.status}: {exc.message}", EXIT_USAGE)
    except Web3RPCError as exc:
        error: Any = (exc.rpc_response or {}).get("error")
        if is_unauthorized(error):
            fail(refusal_message(str(error.get("message"))), EXIT_USAGE)
        fail(str(exc), EXIT_REFUSED)
    except Web3Exception as exc:
        fail(str(exc), EXIT_REFUSED)


def writer(rpc: str, key: Path | None) -> Ledger:
    """The SDK acting as the account in `key`."""
    if key is None:
        fail("this command writes to the chain: give --key FILE (or set LEDGER_KEY_FILE)")
    from client.credentials import CredentialError, load_account_key

    try:
        secret = load_account_key(key)
    except CredentialError as exc:
        fail(f"--key {exc}")
    from client.ledger import Ledger  # web3: a second to import, so after the checks that need none

    try:
        return Ledger(rpc, secret)
    except (TokenError, ValueError) as exc:  # an unreadable $LEDGER_TOKEN_FILE; --rpc not http(s)
        fail(str(exc))


def reader(rpc: str) -> tuple[Ledger, Head]:
    """The SDK without an account, its reads pinned to the latest block (so a report's
    parts agree with each other even when a block arrives meanwhile)."""
    from client.ledger import Ledger

    try:
        ledger = Ledger(rpc)
    except (TokenError, ValueError) as exc:
        fail(str(exc))
    head = latest_head(ledger)
    ledger.w3.eth.default_block = head.number
    return ledger, head


def latest_head(ledger: Ledger) -> Head:
    from client.ledger import LedgerError, Unauthorized

    # A raw request: web3's block formatter refuses QBFT's extraData (longer than 32 bytes).
    reply = ledger.w3.provider.make_request("eth_getBlockByNumber", ["latest", False])  # type: ignore[arg-type]
    block = reply.get("result")
    if is_unauthorized(reply.get("error")):
        raise Unauthorized(refusal_message(f"eth_getBlockByNumber: {reply['error'].get('message')}"))
    if not isinstance(block, dict):
        raise LedgerError(f"the node returned no latest block: {reply.get('error')}")
    return Head(int(block["number"], 16), int(block["timestamp"], 16))


def tx_fields(result: TxResult) -> list[tuple[str, Any]]:
    return [("tx", result.tx_hash), ("block", result.block_number)]


def tx_document(result: TxResult) -> dict[str, Any]:
    return {"tx": result.tx_hash, "block": result.block_number, "gasUsed": result.gas_used, "events": result.events}


# -- reading option values ----------------------------------------------------------------------


def parse_address(text: str, what: str) -> str:
    """A 20-byte 0x-hex address, checksummed; exit 2 otherwise."""
    from eth_utils import is_checksum_address, to_checksum_address

    body = text[2:]
    if not text.startswith("0x") or len(body) != 40 or any(c not in string.hexdigits for c in body):
        fail(f"{what} {text!r}: not a 0x-hex address of 20 bytes")
    if body != body.lower() and body != body.upper() and not is_checksum_address(text):
        fail(f"{what} {text!r}: mixed-case address with a wrong checksum")
    return str(to_checksum_address(text))


def parse_digest(text: str, what: str) -> bytes:
    """A 32-byte digest as (0x-)hex; exit 2 otherwise."""
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raw = b""
    if len(raw) != 32:
        fail(f"{what} {text!r}: expected 32 bytes as hex (64 hex digits)")
    return raw


def file_digest(path: Path, what: str, algorithm: str = "sha256") -> bytes:
    """A file's digest (evidence.digest, streamed); exit 2 if it cannot be read."""
    from evidence.digest import digest_file

    try:
        return digest_file(path, algorithm)
    except OSError as exc:
        fail(f"{what} {path}: {exc.strerror}")


def identity_from(
    cert: Path | None, cert_key: Path | None, p12: Path | None, password: str | None,
    keystore: Path | None = None, signer_url: str | None = None, signer_user: str | None = None,
) -> Signer:
    """The signer of `--cert/--cert-key`, `--p12`, `--cert/--keystore` or a hosted
    `--signer-url/--signer-user` (token from $LEDGER_SIGNER_TOKEN); exit 2 if unusable,
    1 if the signing service refuses."""
    from client.credentials import CredentialError
    from client.signers import CloudSigner, SignerError, load_signer

    if signer_url is not None or signer_user is not None:
        if signer_url is None or signer_user is None or any(v is not None for v in (cert, cert_key, p12, keystore)):
            fail("a hosted signer takes --signer-url and --signer-user, and no key files")
        token = os.environ.get("LEDGER_SIGNER_TOKEN")
        if not token:
            fail("set LEDGER_SIGNER_TOKEN to your signing-service token")
        try:
            return CloudSigner(signer_url, signer_user, token)
        except SignerError as exc:
            fail(str(exc), EXIT_REFUSED)
        except ValueError as exc:  # not an http(s) URL; plain http to another host
            fail(f"--signer-url: {exc}")
    if sum(v is not None for v in (cert_key, p12, keystore)) != 1 or (p12 is None and cert is None):
        fail("give --cert CHAIN.pem with --cert-key KEY.pem or --keystore KEY.json, or --p12 FILE, or a hosted signer")
    try:
        return load_signer(cert=cert, key=cert_key, p12=p12, keystore=keystore, password=password)
    except CredentialError as exc:
        fail(f"certificate identity: {exc}")
