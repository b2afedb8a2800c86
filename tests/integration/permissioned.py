"""A permissioned single-validator network (not --dev) for the chaincode tests: fixed
admin, regulator and party accounts, genesis written with `build_genesis_document`."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_hash.auto import keccak

from node.consensus.sealing import ValidatorKey
from node.execution.genesis import build_genesis_document
from node.ops.runner import init_data_dir, write_key_file
from tests.integration.nodeproc import NodeProcess, free_port

CHAIN_ID = 4242


def account_key(name: str) -> bytes:
    """A fixed test account key (keccak of its name)."""
    return keccak(f"evidence-ledger test account {name}".encode())


def address_of(name: str) -> str:
    return str(Account.from_key(account_key(name)).address)


@dataclass
class Network:
    node: NodeProcess
    genesis_path: Path

    @property
    def url(self) -> str:
        return self.node.url


def start_network(
    base: Path, members: list[tuple[str, str]], trusted_roots: list[str] | None = None, *, auth: str | None = None,
) -> Network:
    """Write a genesis whose members are (account name, role) and start its validator
    (`auth`: its --auth mode; default off, see NodeProcess)."""
    base.mkdir(parents=True, exist_ok=True)
    validator = account_key("validator")
    document = build_genesis_document(
        chain_id=CHAIN_ID,
        validators=[ValidatorKey(validator).address],
        alloc={},
        members=[(bytes.fromhex(address_of(name)[2:]), role) for name, role in members],
        trusted_roots=trusted_roots,
        block_period=1,
        empty_block_period=60,
    )
    genesis_path = base / "genesis.json"
    genesis_path.write_text(json.dumps(document, indent=2) + "\n")
    key_path = base / "validator.key"
    write_key_file(key_path, validator)
    data_dir = base / "data"
    init_data_dir(data_dir, genesis_path, key_path)
    node = NodeProcess(data_dir, free_port(), dev=False, chain_id=CHAIN_ID, auth=auth).start()
    return Network(node, genesis_path)


def issue_tokens(data_dir: Path, requests: dict[str, list[str]]) -> dict[str, str]:
    """`ledger token issue --data-dir DATA_DIR ARGS` (the real CLI) for each name, run
    concurrently: name -> token."""
    procs = {
        name: subprocess.Popen([sys.executable, "-m", "client.cli", "token", "issue", "--data-dir", str(data_dir),
                                *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=Path(__file__).resolve().parents[2])
        for name, args in requests.items()
    }
    tokens = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"token issue {name}: {err}"
        tokens[name] = out.strip()
    return tokens
