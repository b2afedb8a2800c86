"""The signing service as a real process (`ledger signer serve`) next to a `--dev` node: a
party whose certificate key lives only in the service registers and signs a contract
through a CloudSigner, and the chain's PKI precompile accepts the signatures; a wrong
token, and a token replaced meanwhile, are refused with the service's 401 reason."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from chaincode import ACTION_GRANT_ROLES, CONTRACT_STATUS, ROLE_BITS
from client import devpki, pkifiles
from client.credentials import CertificateIdentity
from client.ledger import Ledger
from client.signers import CloudSigner, Signer, SignerError
from evidence.x509 import verify_digest_signature
from tests import pki
from tests.integration.nodeproc import NodeProcess, _die_with_parent, free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "integration master passphrase"
KEY_PASSWORD = "tenderer key password"
PARTY_KEY = hashlib.sha256(b"evidence-ledger test: cloud-signed party account").digest()  # fixed account keys
BIDDER_KEY = hashlib.sha256(b"evidence-ledger test: locally-signed party account").digest()
STARTUP_DEADLINE_SECONDS = 30


def ledger_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "client.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"signing service exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
                assert json.loads(response.read()) == {"status": "ok"}
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"signing service not healthy after {STARTUP_DEADLINE_SECONDS}s: {log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_a_party_registers_and_signs_through_the_signing_service(tmp_path: Path) -> None:
    ca = pki.p256_ca()
    identity = ca.issue("Cloud-Signed Tenderer", "p256")
    chain, key = tmp_path / "tenderer-chain.pem", tmp_path / "tenderer-key.pem"
    chain.write_bytes(devpki.chain_pem(identity.chain))
    key.write_bytes(pkifiles.private_key_pem(identity.key, KEY_PASSWORD.encode()))
    directory = tmp_path / "signer"
    env = {**os.environ, "LEDGER_SIGNER_PASSPHRASE": PASSPHRASE}
    add = ["signer", "add-user", "--dir", str(directory), "--user", "tenderer",
           "--cert", str(chain), "--cert-key", str(key), "--password", KEY_PASSWORD]
    token = ledger_cli(*add, env=env).stdout.strip()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "signer.log"
    node = NodeProcess(tmp_path / "data", free_port())
    with open(log, "wb") as log_file:
        service = subprocess.Popen(
            [sys.executable, "-m", "client.cli", "signer", "serve", "--dir", str(directory), "--port", str(port)],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        try:
            node.start()
            wait_healthy(service, url, log)
            run(node, url, token, identity, ca, directory)

            # A wrong token: refused with the service's reason, before anything is signed.
            with pytest.raises(SignerError) as refused:
                CloudSigner(url, "tenderer", token[:-1] + ("A" if token[-1] != "A" else "B"))
            assert refused.value.status == 401 and refused.value.reason == "unknown user or wrong token"
            with pytest.raises(SignerError) as unknown:
                CloudSigner(url, "nobody", token)
            assert unknown.value.status == 401 and unknown.value.reason == refused.value.reason

            # The token replaced while a CloudSigner still holds the old one.
            signer = CloudSigner(url, "tenderer", token)
            new_token = ledger_cli(*add, "--replace", env=env).stdout.strip()
            digest = hashlib.sha256(b"after rotation").digest()
            with pytest.raises(SignerError) as stale:
                signer.sign_digest(digest)
            assert stale.value.status == 401
            verify_digest_signature(identity.leaf.public_bytes(serialization.Encoding.DER), digest,
                                    CloudSigner(url, "tenderer", new_token).sign_digest(digest))
        finally:
            stop(service)
            node.stop()
    # SIGTERM: uvicorn shuts down cleanly, then re-raises the signal (exit status -15).
    assert service.returncode in (0, -signal.SIGTERM) and "Finished server process" in log.read_text(), log.read_text()[-2000:]


def run(node: NodeProcess, url: str, token: str, identity: CertificateIdentity, ca: pki.CA, directory: Path) -> None:
    # 1. The service serves the chain it was given; the SDK sees a Signer like a local one.
    signer = CloudSigner(url, "tenderer", token)
    assert signer.chain_der == identity.chain_der and signer.fingerprint == identity.fingerprint

    # 2. The dev admin (quorum of one) trusts the CA and makes itself a trading center.
    admin = Ledger(node.url, bytes.fromhex(node.dev_key[2:]))
    assert admin.propose_trust_root(ca.root_der, admin.address).events["RootTrusted"]
    admin.propose(ACTION_GRANT_ROLES, bytes.fromhex(admin.address[2:]), ROLE_BITS["TRADING_CENTER"])

    # 3. The party registers: the precompile verifies the service's signature over the
    #    registration digest against the chain.
    party = Ledger(node.url, PARTY_KEY)
    registered = party.register_member(signer).events["MemberRegistered"][0]
    assert registered["cert_fingerprint"] == identity.fingerprint
    assert registered["root_fingerprint"] == identity.root_fingerprint

    # 4. The other party signs with a local key file: one Signer interface for both.
    bidder = Ledger(node.url, BIDDER_KEY)
    bidder_signer: Signer = ca.issue("Locally-Signed Bidder", "p256")
    bidder.register_member(bidder_signer)

    # 5. A contract between them: the cloud signature counts, the local one makes it Effective.
    doc_digest = hashlib.sha256(b"cloud-signed contract v1").digest()
    registered_contract = admin.register_contract("CS-2026-001", doc_digest, [party.address, bidder.address])
    contract_id = registered_contract.events["ContractRegistered"][0]["id"]
    # the party signs through the CLI this time: `ledger contract sign --signer-url`
    party_key = directory.parent / "party.key"
    party_key.write_text("0x" + PARTY_KEY.hex())
    env = {**os.environ, "LEDGER_SIGNER_TOKEN": token}
    signed_doc = json.loads(ledger_cli("contract", "sign", "0x" + contract_id.hex(), "--signer-url", url,
                                       "--signer-user", "tenderer", "--key", str(party_key), "--rpc", node.url,
                                       "--json", env=env).stdout)
    signed = signed_doc["events"]["ContractSigned"][0]
    assert signed["cert_fingerprint"] == "0x" + identity.fingerprint.hex()
    assert (signed["signatures"], signed["required"]) == (1, 2)
    assert "ContractEffective" in bidder.sign_contract(contract_id, bidder_signer).events
    assert CONTRACT_STATUS[admin.contract(contract_id)["status"]] == "Effective"

    # 6. Both of the party's signatures are in the audit log, with the digests the chain asked for.
    registration_digest = bytes(party.call(party.identity.functions.registration_digest(party.address)))
    audit = [json.loads(line) for line in (directory / "audit.log").read_text().splitlines()]
    assert [(entry["user"], entry["digest"]) for entry in audit] == [
        ("tenderer", "0x" + registration_digest.hex()), ("tenderer", "0x" + doc_digest.hex())]
    assert all(entry["certificate"] == "0x" + identity.fingerprint.hex() for entry in audit)
