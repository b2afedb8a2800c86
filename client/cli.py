"""The `ledger` command line: node, keys, genesis and chaincode here; ca and member in
cli_pki.py, contract in cli_contract.py, commitment in cli_commitment.py, evidence in
cli_evidence.py, signer (the hosted signing service) in cli_signer.py, chain verify in
cli_chain.py, token (role tokens for the node's RPC) in cli_token.py, feed follow in
cli_feed.py, audit in cli_audit.py (its export in cli_audit_export.py), cluster in
cli_cluster.py, tsa serve (the time-stamping authority) in cli_tsa.py, seal (the seal
registry) in cli_seal.py; the options they share in cli_options.py.

Exit codes: 0 success, 1 a verification failed, 2 bad usage or input.

Heavier imports (node/, py-evm, web3, the SDK's clients) are made inside the commands, so that
`ledger --help` and every other command start fast; none of them dodges an import circle.
"""
from __future__ import annotations

import json
import logging
import secrets
import sys
from enum import Enum
from importlib.metadata import PackageNotFoundError, version as package_version
from pathlib import Path

import typer

from chaincode import CRYPTO_PROFILES
from client.cli_audit import audit_app
from client.cli_chain import chain_app
from client.cli_cluster import cluster_app
from client.cli_commitment import commitment_app
from client.cli_contract import contract_app
from client.cli_evidence import evidence_app
from client.cli_feed import feed_app
from client.cli_network import register as register_network_commands
from client.cli_pki import ca_app, member_app
from client.cli_seal import seal_app
from client.cli_signer import signer_app
from client.cli_token import token_app
from client.cli_tsa import tsa_app
from client.cli_verifier_page import register as register_verifier_page
from client.render import EXIT_REFUSED, fail

app = typer.Typer(
    add_completion=False, no_args_is_help=True,
    help="evidence-ledger: node, keys, genesis, chaincode, CAs, members, contracts, commitments, evidence.",
)
node_app = typer.Typer(no_args_is_help=True, help="Run and initialise a ledger node.")
keys_app = typer.Typer(no_args_is_help=True, help="secp256k1 keys for validators and accounts.")
genesis_app = typer.Typer(no_args_is_help=True, help="Write genesis files.")
chaincode_app = typer.Typer(no_args_is_help=True, help="The system contracts (Vyper) deployed in genesis.")
app.add_typer(node_app, name="node")
app.add_typer(keys_app, name="keys")
app.add_typer(genesis_app, name="genesis")
app.add_typer(chaincode_app, name="chaincode")
app.add_typer(ca_app, name="ca")
app.add_typer(member_app, name="member")
app.add_typer(contract_app, name="contract")
app.add_typer(commitment_app, name="commitment")
app.add_typer(evidence_app, name="evidence")
app.add_typer(signer_app, name="signer")
app.add_typer(chain_app, name="chain")
app.add_typer(cluster_app, name="cluster")
app.add_typer(token_app, name="token")
app.add_typer(feed_app, name="feed")
app.add_typer(audit_app, name="audit")
app.add_typer(tsa_app, name="tsa")
app.add_typer(seal_app, name="seal")

register_network_commands(node_app)
register_verifier_page(evidence_app)

EXIT_INVALID = EXIT_REFUSED
# The distribution `pip install` records (pyproject.toml's [project] name): `--version`
# reports its installed version, so a bug report names the code that ran.
DISTRIBUTION = "evidence-ledger"


def _print_version(value: bool) -> None:
    if not value:
        return
    try:
        installed = package_version(DISTRIBUTION)
    except PackageNotFoundError:
        fail(f"{DISTRIBUTION} is not installed (run ./scripts/dev-node or pip install -e .): no version to report")
    typer.echo(f"ledger ({DISTRIBUTION}) {installed}")
    raise typer.Exit()


@app.callback()
def ledger_options(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="print the installed version and exit"),
) -> None:
    """The options of `ledger` itself, given before the command."""


@node_app.command("init")
def node_init(
    genesis: Path = typer.Option(..., help="genesis.json to initialise the chain with"),
    data_dir: Path = typer.Option(..., help="directory for LevelDB, the genesis copy and the node key"),
    key: Path | None = typer.Option(None, help="validator key file (hex) to copy in as the node key"),
) -> None:
    """Write the genesis block into a new data directory."""
    from node.errors import NodeError
    from node.ops.runner import init_data_dir

    try:
        g = init_data_dir(data_dir, genesis, key)
    except NodeError as exc:
        fail(str(exc))
    typer.echo(f"initialised {data_dir} for chain {g.chain_id} with {len(g.validators)} validator(s)")


@node_app.command("start")
def node_start(
    dev: bool = typer.Option(False, "--dev", help="single-validator development chain; any sender may transact"),
    data_dir: Path | None = typer.Option(None, help="data directory (default ./data/dev with --dev)"),
    rpc_host: str = typer.Option("127.0.0.1", help="address the JSON-RPC server binds"),
    rpc_port: int = typer.Option(8545, help="JSON-RPC port"),
    rpc_limit: list[str] | None = typer.Option(
        None, "--rpc-limit", help="NAME=VALUE: change one of the JSON-RPC caps (repeatable), e.g. "
        "call_gas_cap=20000000; the caps, defaults and node.json's rpc.limits: docs/access.md"),
    log_level: str = typer.Option("info", help="debug, info, warning or error"),
    auth: str | None = typer.Option(
        None, "--auth", help="bearer tokens: auto (off only with --dev on loopback), required or off "
        "(default: node.json's rpc.auth, else auto); see `ledger token`"),
    http_vhosts: str | None = typer.Option(
        None, "--http-vhosts", help="comma-separated host names the RPC answers to besides IP addresses and "
        "localhost (DNS-rebinding guard); * = any (default: node.json's rpc.http_vhosts, else none)"),
    http_corsdomain: str | None = typer.Option(
        None, "--http-corsdomain", help="comma-separated web origins (scheme://host[:port]) whose pages may call "
        "the HTTP RPC besides the node's own; * = any (default: node.json's rpc.http_corsdomain, else none)"),
    ws_origins: str | None = typer.Option(
        None, "--ws-origins", help="comma-separated web origins whose pages may open the WebSocket besides the "
        "node's own; * = any (default: node.json's rpc.ws_origins, else none)"),
    auto_escalate: bool | None = typer.Option(
        None, "--auto-escalate/--no-auto-escalate", help="as a validator, put the due commitment alerts (reminder, "
        "warning, demand) into the blocks it proposes (default: node.json's validator.auto_escalate, else on)"),
    precheck_worker: bool = typer.Option(
        True, "--precheck-worker/--no-precheck-worker", help="decode transactions and recover their senders in a "
        "worker process on another core (default on; off: all admission in the node's process)"),
) -> None:
    """Start a node: JSON-RPC on http://HOST:PORT (POST /, WebSocket /ws)."""
    from node.access.roles import AUTH_MODES
    from node.errors import NodeError
    from node.ops.config import load_node_config
    from node.ops.runner import ensure_dev_data_dir, run_node
    from node.rpc.limits import RpcLimits
    from node.rpc.origin import parse_origins, parse_vhosts, split_list
    from node.service import NodeConfig

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if data_dir is None:
        if not dev:
            fail("--data-dir is required without --dev")
        data_dir = Path("data/dev")
    if auth is not None and auth not in AUTH_MODES:
        fail(f"--auth {auth!r}: one of {', '.join(AUTH_MODES)}")
    try:
        # Parsed before anything is written: a bad list leaves no new data directory behind.
        vhosts = None if http_vhosts is None else parse_vhosts(split_list(http_vhosts), "--http-vhosts")
        cors = None if http_corsdomain is None else parse_origins(split_list(http_corsdomain), "--http-corsdomain")
        ws = None if ws_origins is None else parse_origins(split_list(ws_origins), "--ws-origins")
        limit_settings = RpcLimits.parse_assignments(rpc_limit or [])
        RpcLimits().overridden(limit_settings, "--rpc-limit")  # refused here, before anything is written
        if dev:
            account = ensure_dev_data_dir(data_dir)
            typer.echo("development chain (chain id 1337), any sender may transact")
            typer.echo(f"dev account: {account.address}")
            typer.echo(f"private key: {account.private_key}  (for development only; also in {data_dir}/dev-account.json)")
        file_config = load_node_config(data_dir)
        rpc_file = file_config.rpc
        if auto_escalate is None:
            auto_escalate = file_config.validator.auto_escalate if file_config.validator is not None else True
        config = NodeConfig(
            data_dir=data_dir, dev=dev, open_permissioning=dev,
            auth=auth or (rpc_file.auth if rpc_file is not None else "auto"),
            token_issuers=rpc_file.token_issuers if rpc_file is not None else (), rpc_host=rpc_host,
            http_vhosts=vhosts if vhosts is not None else (rpc_file.http_vhosts if rpc_file is not None else ()),
            http_corsdomain=cors if cors is not None else (rpc_file.http_corsdomain if rpc_file is not None else ()),
            ws_origins=ws if ws is not None else (rpc_file.ws_origins if rpc_file is not None else ()),
            limits=(rpc_file.limits if rpc_file is not None else RpcLimits()).overridden(limit_settings, "--rpc-limit"),
            auto_escalate=auto_escalate, precheck_worker=precheck_worker,
        )
        host = f"[{rpc_host}]" if ":" in rpc_host else rpc_host
        typer.echo(f"console (open in a browser): http://{host}:{rpc_port}/", err=False)
        typer.echo(f"JSON-RPC: http://{host}:{rpc_port}  WebSocket: ws://{host}:{rpc_port}/ws", err=False)
        typer.echo("browsers: host names " + ", ".join(("IP addresses", "localhost", *config.http_vhosts))
                   + "; web origins: this node's own" + "".join(f", {o}" for o in config.http_corsdomain)
                   + " (WebSocket: this node's own" + "".join(f", {o}" for o in config.ws_origins) + ")")
        if config.auth_mode() == "required":
            typer.echo(f"access tokens: required (issue them with `ledger token issue --data-dir {data_dir} --role ROLE`)")
        else:
            typer.echo("access tokens: off (a request without a token acts as ADMIN; a presented token still applies)")
        sys.stdout.flush()
        run_node(config, rpc_host, rpc_port)
    except NodeError as exc:
        fail(str(exc))


def _key_document(secret: bytes) -> dict[str, str]:
    """Address (checksummed) and uncompressed public key of a secp256k1 private key."""
    from coincurve import PrivateKey
    from eth_utils import to_checksum_address

    from evidence.qbft import address_of

    public = PrivateKey(secret).public_key.format(compressed=False)
    return {"address": to_checksum_address("0x" + address_of(public).hex()), "publicKey": "0x" + public[1:].hex()}


def _print_key_document(doc: dict[str, str], json_output: bool) -> None:
    typer.echo(json.dumps(doc, indent=2) if json_output else "\n".join(f"{k}: {v}" for k, v in doc.items()))


@keys_app.command("new")
def keys_new(
    out: Path | None = typer.Option(None, help="write the private key (hex, mode 0600) to this file"),
    json_output: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Generate a secp256k1 key; prints the address (and the key only when no --out)."""
    from node.ops.runner import write_key_file

    secret = secrets.token_bytes(32)
    doc = _key_document(secret)
    if out is not None:
        if out.exists():
            fail(f"{out} exists; refusing to overwrite a key")
        write_key_file(out, secret)
        doc["keyFile"] = str(out)
    else:
        doc["privateKey"] = "0x" + secret.hex()
    _print_key_document(doc, json_output)


@keys_app.command("show")
def keys_show(
    key: Path = typer.Option(..., "--key", help="a key file (hex, as `ledger keys new --out` writes it)"),
    field: str | None = typer.Option(None, "--field", help="print only this field: address or publicKey"),
    json_output: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """The address and public key of a key file; never prints the private key.

    `ledger keys show --key demo/center.key --field address` prints just the address, for
    a shell variable."""
    from client.credentials import CredentialError, load_account_key

    try:
        doc = _key_document(load_account_key(key))
    except CredentialError as exc:
        fail(str(exc))
    if field is not None:
        if field not in doc:
            fail(f"--field {field!r}: one of {', '.join(doc)}")
        typer.echo(doc[field])
        return
    doc["keyFile"] = str(key)
    _print_key_document(doc, json_output)


# `ledger genesis new --crypto-profile`: the names of chaincode.CRYPTO_PROFILES.
CryptoProfileChoice = Enum("CryptoProfileChoice", [(k, k) for k in CRYPTO_PROFILES], type=str)  # type: ignore[misc]


@genesis_app.command("new")
def genesis_new(
    validators: int = typer.Option(1, min=1, max=64, help="number of validators (a key each)"),
    out: Path = typer.Option(Path("network"), help="directory for genesis.json and validator-N/key"),
    chain_id: int = typer.Option(1337, min=1),
    block_period: int = typer.Option(1, min=1, help="seconds between blocks while transactions wait"),
    empty_block_period: int = typer.Option(60, min=1, help="seconds between empty blocks"),
    member: list[str] = typer.Option([], help="ADDRESS:ROLE permitted to transact (repeatable)"),
    alloc: list[str] = typer.Option([], help="ADDRESS:WEI initial balance (repeatable)"),
    trusted_root: list[Path] = typer.Option([], help="PEM file of a CA root trusted from genesis (repeatable)"),
    consortium_ca: Path | None = typer.Option(
        None, "--consortium-ca", help="PEM certificate of the CA that issues the nodes' TLS certificates"),
    chain_name: str | None = typer.Option(
        None, "--chain-name", help='the chain\'s name, stated by its evidence receipts (default "chain CHAIN_ID")'),
    crypto_profile: CryptoProfileChoice = typer.Option(
        "mixed", "--crypto-profile",
        help="certificates the chain accepts: mixed (RSA, ECDSA and SM2) or gm (national: SM2 keys, SM3withSM2 "
             "signatures; every --trusted-root must be one)"),
) -> None:
    """Write a QBFT genesis and one key per validator.

    Each validator is a member too (role AUDITOR unless --member names it), so that the
    blocks it proposes can raise the due commitment alerts. The crypto profile is recorded
    in genesis (evidenceLedger.cryptoProfile and the identity registry's storage), where
    the PKI precompile applies it to every certificate for the chain's life."""
    from chaincode import ROLES
    from node.consensus.sealing import ValidatorKey
    from node.errors import ConfigError
    from node.execution.escalation import VALIDATOR_ROLE, with_validator_members
    from node.execution.genesis import Genesis, build_genesis_document
    from node.ops.runner import write_key_file

    def parse_pairs(values: list[str], what: str) -> list[tuple[bytes, str]]:
        pairs = []
        for value in values:
            address, _, rest = value.partition(":")
            try:
                raw = bytes.fromhex(address.removeprefix("0x"))
            except ValueError:
                raw = b""
            if len(raw) != 20 or not rest:
                fail(f"--{what} {value!r}: expected ADDRESS:VALUE")
            pairs.append((raw, rest))
        return pairs

    members = parse_pairs(member, "member")
    for _, role in members:
        if role not in ROLES:
            fail(f"--member role {role!r}: one of {', '.join(ROLES)}")
    balances = {}
    for address, amount in parse_pairs(alloc, "alloc"):
        if not amount.isdigit():
            fail(f"--alloc amount {amount!r}: wei as a decimal integer")
        balances[address] = int(amount)
    roots = []
    for path in trusted_root:
        try:
            roots.append(path.read_text())
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"--trusted-root {path}: {getattr(exc, 'strerror', None) or exc}")
        try:  # refused here under the file's name, not as the genesis field it would become
            Genesis.parse_root(roots[-1], f"--trusted-root {path}", crypto_profile.value)
        except ConfigError as exc:
            fail(str(exc))
    consortium_pem = None
    if consortium_ca is not None:
        try:
            consortium_pem = consortium_ca.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"--consortium-ca {consortium_ca}: {getattr(exc, 'strerror', None) or exc}")
    if (out / "genesis.json").exists():
        fail(f"{out / 'genesis.json'} exists; refusing to overwrite")
    # validator-N in the order the genesis lists them (ascending address, as Besu sorts them)
    keys = sorted((secrets.token_bytes(32) for _ in range(validators)), key=lambda k: ValidatorKey(k).address)
    addresses = [ValidatorKey(k).address for k in keys]
    try:
        document = build_genesis_document(
            # Validators are members (node/execution/escalation.py): their proposals raise commitment alerts.
            chain_id=chain_id, validators=addresses, alloc=balances, members=with_validator_members(members, addresses),
            trusted_roots=roots,
            block_period=block_period, empty_block_period=max(empty_block_period, block_period),
            consortium_ca=consortium_pem, chain_name=chain_name, crypto_profile=crypto_profile.value,
        )
        Genesis.parse(document)  # what we write must be what we accept
    except ConfigError as exc:
        fail(str(exc))
    out.mkdir(parents=True, exist_ok=True)
    for index, key in enumerate(keys):
        write_key_file(out / f"validator-{index}" / "key", key)
        (out / f"validator-{index}" / "address").write_text("0x" + addresses[index].hex() + "\n")
    (out / "genesis.json").write_text(json.dumps(document, indent=2) + "\n")
    typer.echo(f"wrote {out / 'genesis.json'} with {validators} validator(s), members as {VALIDATOR_ROLE} so that "
               f"they raise commitment alerts, crypto profile {crypto_profile.value}; keys in {out}/validator-N/key")


@chaincode_app.command("build")
def chaincode_build(
    check: bool = typer.Option(False, "--check", help="only compare; exit 1 if an artifact is stale"),
    genesis: Path | None = typer.Option(
        None, help="also rewrite this genesis.json's system-contract alloc from the artifacts"
    ),
) -> None:
    """Compile chaincode/sources/*.vy (pinned Vyper) into the shipped artifacts."""
    from chaincode.build import BuildError, build

    try:
        results = build(check=check)
    except BuildError as exc:
        fail(str(exc))
    for r in results:
        state = ("stale" if check else "written") if r.changed else "up to date"
        typer.echo(f"{r.name:<20} {r.runtime_size:>6} bytes  {state}")
    if check and any(r.changed for r in results):
        fail("artifacts differ from the sources: run `ledger chaincode build`", EXIT_INVALID)
    if genesis is not None and not check:
        refresh_genesis(genesis)


def refresh_genesis(path: Path) -> None:
    """Rewrite a genesis file's system contracts (code and storage) from its evidenceLedger:
    members, trusted roots and crypto profile."""
    from node.errors import ConfigError
    from node.execution.genesis import Genesis, parse_crypto_profile, with_system_contracts

    try:
        document = json.loads(path.read_text())
        ledger = document.get("evidenceLedger", {})
        members = [(bytes.fromhex(m["address"].removeprefix("0x")), m["role"]) for m in ledger.get("members", [])]
        profile = parse_crypto_profile(ledger)
        roots = [Genesis.parse_root(pem, f"evidenceLedger.trustedRoots[{index}]", profile)
                 for index, pem in enumerate(ledger.get("trustedRoots", []))]
        document["alloc"] = with_system_contracts(document["alloc"], members, roots, profile)
        Genesis.parse(document)
    except (OSError, ValueError, KeyError, TypeError, ConfigError) as exc:
        fail(f"{path}: {exc}")
    path.write_text(json.dumps(document, indent=2) + "\n")
    typer.echo(f"rewrote the system contracts in {path}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
