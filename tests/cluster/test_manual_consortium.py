"""A consortium set up by hand, as organisations on separate machines would (README, "A
consortium on one machine" shows the one-command testnet): consortium CA, genesis naming
it, a TLS certificate and p2p settings per node; two validators then finalise blocks
together (quorum of 2 is 2: neither can finalise alone)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import rlp
from cryptography import x509
from eth_account import Account

from evidence import qbft
from node.network.tlscerts import certificate_validator
from tests.cluster.harness import ledger, rpc, wait_for
from tests.integration.nodeproc import NodeProcess, free_port

pytestmark = pytest.mark.slow

CHAIN_ID = 4545
ADMIN = Account.from_key(b"\x21" * 32)


def run(*args: str) -> str:
    result = ledger(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_two_organisations_set_up_by_hand(tmp_path: Path) -> None:
    run("node", "tls-ca", "--out", str(tmp_path / "ca"))
    run("genesis", "new", "--validators", "2", "--out", str(tmp_path / "network"), "--chain-id", str(CHAIN_ID),
        "--consortium-ca", str(tmp_path / "ca" / "ca.crt"), "--member", f"{ADMIN.address}:ADMIN",
        "--alloc", f"{ADMIN.address}:0")
    genesis = tmp_path / "network" / "genesis.json"
    ports = {name: (free_port(), free_port()) for name in ("court", "center")}  # (rpc, p2p)
    nodes = []
    for index, name in enumerate(ports):
        tls, data = tmp_path / f"{name}-tls", tmp_path / name
        address = (tmp_path / "network" / f"validator-{index}" / "address").read_text().strip()
        run("node", "tls-cert", "--ca", str(tmp_path / "ca"), "--name", name, "--out", str(tls),
            "--validator", address)
        certificate = x509.load_pem_x509_certificate((tls / "node.crt").read_bytes())
        assert "0x" + (certificate_validator(certificate) or b"").hex() == address.lower()
        run("node", "init", "--genesis", str(genesis), "--data-dir", str(data),
            "--key", str(tmp_path / "network" / f"validator-{index}" / "key"))
        others = [f"127.0.0.1:{p2p}" for other, (_, p2p) in ports.items() if other != name]
        run("node", "peers", "--data-dir", str(data), "--name", name, "--listen", f"127.0.0.1:{ports[name][1]}",
            "--tls-cert", str(tls / "node.crt"), "--tls-key", str(tls / "node.key"),
            *[arg for peer in others for arg in ("--peer", peer)])
        assert json.loads((data / "node.json").read_text())["p2p"]["name"] == name
        nodes.append(NodeProcess(data, ports[name][0], dev=False, chain_id=CHAIN_ID))
    try:
        for node in nodes:
            node.start()
        signed = ADMIN.sign_transaction({"to": "0x" + "33" * 20, "value": 0, "gas": 21_000, "gasPrice": 0,
                                         "nonce": 0, "chainId": CHAIN_ID})
        tx_hash = rpc(nodes[1].url, "eth_sendRawTransaction", "0x" + signed.raw_transaction.hex())
        receipt = wait_for("the transaction to be final on the other node",
                           lambda: rpc(nodes[0].url, "eth_getTransactionReceipt", tx_hash), 60)
        height = int(receipt["blockNumber"], 16)
        fields = rlp.decode(bytes.fromhex(rpc(nodes[0].url, "debug_getRawHeader", hex(height))[2:]))
        validators = qbft.extra_data_of(fields).validators
        assert len(qbft.verify_commit_seals(fields, validators)) == 2
        assert rpc(nodes[1].url, "eth_getBlockByNumber", hex(height), False)["hash"] == \
            rpc(nodes[0].url, "eth_getBlockByNumber", hex(height), False)["hash"]
    finally:
        for node in nodes:
            node.stop()
