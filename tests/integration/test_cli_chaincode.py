"""The `ledger` CLI's chaincode commands, run as real processes against a real
permissioned node: a development PKI, trust by admin quorum, member registration (PEM
and PKCS#12), roles, the contract lifecycle, revocation by serial and by CRL — and the
exit codes (1 with the contract's reason when the chain refuses, 2 for bad input).

Independent commands run as concurrent processes: each `ledger` start costs about a
second of imports, and transactions from different accounts share a block.
"""
from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from client.credentials import load_identity
from tests.integration.cli_runs import Cli, together
from tests.integration.permissioned import Network, account_key, address_of, start_network

pytestmark = pytest.mark.slow

ADMINS = ["admin-1", "admin-2", "admin-3"]
ACCOUNTS = [*ADMINS, "regulator", "center", "tenderer", "bidder", "mallory", "trent", "stranger"]
TENDERER_PASSWORD = "tender-pw"


# -- running the CLI ------------------------------------------------------------------


def write_keys(directory: Path, names: list[str]) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    keys = {}
    for name in names:
        path = directory / f"{name}.key"
        path.write_text("0x" + account_key(name).hex() + "\n")
        keys[name] = path
    return keys


def sha256_file(path: Path) -> str:
    return "0x" + hashlib.sha256(path.read_bytes()).hexdigest()


# -- fixtures ---------------------------------------------------------------------------


@dataclass
class Pki:
    """What `ledger ca new|issue|crl` made, and their --json outputs."""

    base: Path
    cas: dict[str, dict[str, Any]]
    certs: dict[str, dict[str, Any]]

    def dir(self, name: str) -> Path:
        return self.base / name

    def pem(self, name: str) -> list[str]:
        return ["--cert", str(self.base / name / "chain.pem"), "--cert-key", str(self.base / name / "key.pem")]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    base = tmp_path_factory.mktemp("cli-pki")
    cli = Cli(None)
    rsa, p256 = together(
        cli.start("ca", "new", "--name", "Trading Center CA", "--key-type", "rsa2048", "--out", base / "rsa", "--json"),
        cli.start("ca", "new", "--name", "Province CA Root", "--org", "Province", "--key-type", "p256",
                  "--out", base / "p256", "--json"),
    )
    signing = cli.run("ca", "new", "--name", "Province CA Signing", "--key-type", "p256",
                      "--intermediate-of", base / "p256", "--out", base / "p256-signing", "--json")
    issued = together(
        cli.start("ca", "issue", "--ca", base / "rsa", "--name", "City Trading Center", "--key-type", "rsa2048",
                  "--out", base / "center", "--json"),
        cli.start("ca", "issue", "--ca", base / "p256-signing", "--name", "Tenderer Construction Group",
                  "--org", "Tenderer Ltd", "--key-type", "p256", "--out", base / "tenderer", "--p12",
                  "--password", TENDERER_PASSWORD, "--json"),
        cli.start("ca", "issue", "--ca", base / "p256-signing", "--name", "Winning Bidder Engineering",
                  "--key-type", "secp256k1", "--out", base / "bidder", "--json"),
        cli.start("ca", "issue", "--ca", base / "rsa", "--name", "Mallory", "--key-type", "p256",
                  "--out", base / "mallory", "--json"),
        cli.start("ca", "issue", "--ca", base / "p256-signing", "--name", "Trent", "--key-type", "p384",
                  "--out", base / "trent", "--p12", "--json"),
    )
    certs = dict(zip(["center", "tenderer", "bidder", "mallory", "trent"], (r.json() for r in issued)))
    cli.run("ca", "crl", "--ca", base / "p256-signing", "--serial", hex(certs["trent"]["serial"]),
            "--out", base / "trent.crl").ok()
    return Pki(base, {"rsa": rsa.json(), "p256": p256.json(), "p256-signing": signing.json()}, certs)


@dataclass
class World:
    """A permissioned network whose admins trusted both dev CAs through the CLI, with
    members registered from those CAs; `outputs` keeps what the CLI printed on the way."""

    net: Network
    pki: Pki
    cli: Cli
    outputs: dict[str, Any]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[World]:
    base = tmp_path_factory.mktemp("cli-net")
    net = start_network(base, [(name, "ADMIN") for name in ADMINS] + [("regulator", "REGULATOR")])
    try:
        cli = Cli(net.url, write_keys(base / "keys", ACCOUNTS))
        out: dict[str, Any] = {}
        # Admin 1 proposes the RSA root, admin 2 the P-256 root (given as the intermediate's
        # chain.pem: trust takes its one self-signed certificate); meanwhile a certificate
        # from the not-yet-trusted RSA CA cannot register.
        out["propose-rsa"], out["propose-p256"], out["register-untrusted"] = together(
            cli.start("ca", "trust", pki.dir("rsa") / "ca.pem", "--ca-admin", address_of("admin-1"), "--json", key="admin-1"),
            cli.start("ca", "trust", pki.dir("p256-signing") / "chain.pem", "--ca-admin", address_of("admin-2"),
                      "--json", key="admin-2"),
            cli.start("member", "register", *pki.pem("center"), key="center"),
        )
        out["approve-rsa"], out["approve-p256"] = together(
            cli.start("ca", "trust", pki.dir("rsa") / "ca.pem", "--json", key="admin-2"),
            cli.start("ca", "trust", pki.dir("p256") / "ca.pem", "--json", key="admin-3"),
        )
        # Certificates from both CAs register: PEM chain + key, PKCS#12 with and without a
        # password; the bidder's account key comes from LEDGER_KEY_FILE.
        (out["register-center"], out["register-tenderer"], out["register-bidder"], out["register-mallory"],
         out["register-trent"], out["trust-again"], out["grant-propose"]) = together(
            cli.start("member", "register", *pki.pem("center"), "--json", key="center"),
            cli.start("member", "register", "--p12", pki.dir("tenderer") / "identity.p12",
                      "--password", TENDERER_PASSWORD, "--json", key="tenderer"),
            cli.start("member", "register", *pki.pem("bidder"), "--json", env_key="bidder"),
            cli.start("member", "register", *pki.pem("mallory"), "--json", key="mallory"),
            cli.start("member", "register", "--p12", pki.dir("trent") / "identity.p12", "--json", key="trent"),
            cli.start("ca", "trust", pki.dir("rsa") / "ca.pem", key="admin-3"),
            cli.start("member", "grant", address_of("center"), "--role", "TRADING_CENTER", "--json", key="admin-1"),
        )
        out["grant-approve"] = cli.run("member", "grant", address_of("center"), "--role", "trading_center", "--json",
                                       key="admin-3")
        out["show-center"], out["show-stranger"] = together(
            cli.start("member", "show", address_of("center"), "--json"),
            cli.start("member", "show", address_of("stranger")),
        )
        yield World(net, pki, cli, out)
    finally:
        net.node.stop()


# -- tests -------------------------------------------------------------------------------


def test_dev_pki_writes_usable_ca_and_signer_files(pki: Pki) -> None:
    rsa, root, signing = pki.cas["rsa"], pki.cas["p256"], pki.cas["p256-signing"]
    assert rsa["root"] and rsa["keyType"] == "rsa2048" and rsa["rootFingerprint"] == rsa["fingerprint"]
    assert root["subject"] == "CN=Province CA Root,O=Province"
    # The intermediate's chain.pem is itself then its root, and names the root's fingerprint.
    assert not signing["root"] and signing["rootFingerprint"] == root["fingerprint"]
    chain = x509.load_pem_x509_certificates((pki.dir("p256-signing") / "chain.pem").read_bytes())
    assert [c.subject.rfc4514_string() for c in chain] == ["CN=Province CA Signing", root["subject"]]
    assert "0x" + hashlib.sha256(chain[1].public_bytes(serialization.Encoding.DER)).hexdigest() == root["fingerprint"]
    for ca in ("rsa", "p256", "p256-signing"):
        assert stat.S_IMODE((pki.dir(ca) / "ca.key").stat().st_mode) == 0o600

    # Signers: PEM files (key 0600) with the chain leaf → root, and PKCS#12 when asked.
    tenderer = pki.certs["tenderer"]
    assert tenderer["subject"] == "CN=Tenderer Construction Group,O=Tenderer Ltd"
    assert tenderer["issuer"] == "CN=Province CA Signing" and tenderer["rootFingerprint"] == root["fingerprint"]
    for name in ("center", "tenderer", "bidder"):
        assert stat.S_IMODE((pki.dir(name) / "key.pem").stat().st_mode) == 0o600
    assert not (pki.dir("bidder") / "identity.p12").exists()
    identity = load_identity(p12=pki.dir("tenderer") / "identity.p12", password=TENDERER_PASSWORD)
    assert "0x" + identity.fingerprint.hex() == tenderer["fingerprint"]
    assert [c.subject.rfc4514_string() for c in identity.chain][1:] == ["CN=Province CA Signing", root["subject"]]
    # --password also encrypted key.pem: it loads only with the password.
    assert b"ENCRYPTED" in (pki.dir("tenderer") / "key.pem").read_bytes()
    pem = load_identity(cert=pki.dir("tenderer") / "chain.pem", key=pki.dir("tenderer") / "key.pem", password=TENDERER_PASSWORD)
    assert pem.fingerprint == identity.fingerprint
    center = load_identity(cert=pki.dir("center") / "chain.pem", key=pki.dir("center") / "key.pem")
    assert center.chain[-1].subject.rfc4514_string() == "CN=Trading Center CA" and len(center.chain) == 2
    # The CRL is DER, signed by the intermediate, revoking Trent's serial.
    crl = x509.load_der_x509_crl((pki.base / "trent.crl").read_bytes())
    assert crl.issuer.rfc4514_string() == "CN=Province CA Signing"
    assert [r.serial_number for r in crl] == [pki.certs["trent"]["serial"]]


def test_roots_trusted_by_quorum_and_members_registered(world: World) -> None:
    out, pki = world.outputs, world.pki
    # 1. One admin of three proposes: approvals 1 of quorum 2, not yet trusted.
    for key, ca, admin in (("propose-rsa", "rsa", "admin-1"), ("propose-p256", "p256", "admin-2")):
        doc = out[key].json()
        assert (doc["action"], doc["approvals"], doc["quorum"], doc["trusted"]) == ("proposed", 1, 2, False), doc
        assert doc["fingerprint"] == pki.cas[ca]["fingerprint"] and doc["caAdmin"] == address_of(admin)
    out["register-untrusted"].refused("certificate chain ends at a root that is not trusted")
    # 2. A second admin's `ca trust` of the same root approves the pending proposal.
    for key, propose in (("approve-rsa", "propose-rsa"), ("approve-p256", "propose-p256")):
        doc = out[key].json()
        assert (doc["action"], doc["approvals"], doc["trusted"]) == ("approved", 2, True), doc
        assert doc["proposal"] == out[propose].json()["proposal"]
    assert out["approve-p256"].json()["caAdmin"] == address_of("admin-2")
    assert "already trusted" in out["trust-again"].ok().out
    # 3. Members registered with certificates from both CAs, PEM and PKCS#12.
    for name in ("center", "tenderer", "bidder", "mallory", "trent"):
        doc = out[f"register-{name}"].json()
        assert doc["member"] == address_of(name) and doc["roles"] == ["PARTY"]
        assert doc["certFingerprint"] == pki.certs[name]["fingerprint"]
        assert doc["rootFingerprint"] == pki.certs[name]["rootFingerprint"]
    assert "CN=Tenderer Construction Group" in out["register-tenderer"].json()["subject"]
    # 4. TRADING_CENTER granted by two admins: proposed, then approved and executed.
    proposed, approved = out["grant-propose"].json(), out["grant-approve"].json()
    assert (proposed["action"], proposed["approvals"], proposed["executed"]) == ("proposed", 1, False)
    assert (approved["action"], approved["proposal"], approved["executed"]) == ("approved", proposed["proposal"], True)
    assert approved["roles"] == ["TRADING_CENTER", "PARTY"]
    shown = out["show-center"].json()
    assert shown["roles"] == ["TRADING_CENTER", "PARTY"] and shown["active"] is True
    assert shown["certFingerprint"] == pki.certs["center"]["fingerprint"]
    out["show-stranger"].refused("is not a member")


def test_contract_lifecycle(world: World, tmp_path: Path) -> None:
    cli, pki = world.cli, world.pki
    tenderer_p12 = ["--p12", pki.dir("tenderer") / "identity.p12", "--password", TENDERER_PASSWORD]
    document, metadata = tmp_path / "contract-v1.pdf", tmp_path / "metadata.json"
    document.write_bytes(b"%PDF-1.7 construction contract P-2026-001, version 1")
    metadata.write_text(json.dumps({"tender": "T-17", "lots": 3}))
    parties = ["--party", address_of("tenderer"), "--party", address_of("bidder")]

    # 1. A trading center registers; a mere party may not.
    registered, refused = together(
        cli.start("contract", "register", "--project", "P-2026-001", "--document", document, *parties,
                  "--amount", 125_000_000, "--metadata", metadata, "--json", key="center"),
        cli.start("contract", "register", "--project", "P-2026-009", "--document", document, *parties, key="tenderer"),
    )
    refused.refused("only a trading center may register contracts")
    doc = registered.json()
    cid, v1_digest = doc["id"], sha256_file(document)
    assert doc["version"] == 1 and doc["docDigest"] == v1_digest
    assert doc["events"]["ContractRegistered"][0]["metadata_digest"] == sha256_file(metadata)

    # 2. The tenderer signs with its PKCS#12 file; signing twice, or as a non-party, is refused.
    signed = cli.run("contract", "sign", "--project", "P-2026-001", *tenderer_p12, "--json", key="tenderer").json()
    assert (signed["signatures"], signed["required"], signed["effective"]) == (1, 2, False)
    assert signed["certFingerprint"] == pki.certs["tenderer"]["fingerprint"]
    twice, stranger, pending = together(
        cli.start("contract", "sign", cid, *tenderer_p12, key="tenderer"),
        cli.start("contract", "sign", cid, *pki.pem("mallory"), key="mallory"),
        cli.start("contract", "show", cid, "--json"),
    )
    twice.refused("party has already signed")
    stranger.refused("caller is not a party to this contract")
    assert (pending.json()["status"], pending.json()["signatures"]) == ("Pending", 1)

    # 3. The bidder signs (PEM): Effective, with both attestations on record.
    effective = cli.run("contract", "sign", cid, *pki.pem("bidder"), "--json", key="bidder").json()
    assert effective["effective"] is True and effective["events"]["ContractEffective"][0]["id"] == cid
    shown, human = together(cli.start("contract", "show", "--project", "P-2026-001", "--json"),
                            cli.start("contract", "show", cid))
    record = shown.json()
    assert (record["id"], record["status"], record["amount"], record["docDigest"]) == (cid, "Effective", 125_000_000, v1_digest)
    assert [p["address"] for p in record["parties"]] == [address_of("tenderer"), address_of("bidder")]
    assert [p["attestation"]["certFingerprint"] for p in record["parties"]] == [
        pki.certs["tenderer"]["fingerprint"], pki.certs["bidder"]["fingerprint"]]
    assert {p["attestation"]["rootFingerprint"] for p in record["parties"]} == {pki.cas["p256"]["fingerprint"]}
    assert "Effective (2 of 2 signatures)" in human.ok().out and pki.certs["bidder"]["fingerprint"] in human.out

    # 4. Amendment by digest: version 2, signed again by both, supersedes version 1.
    v2_digest = "0x" + hashlib.sha256(b"contract v2").hexdigest()
    amended = cli.run("contract", "amend", "--project", "P-2026-001", "--digest", v2_digest, "--amount", 130_000_000,
                      "--json", key="center").json()
    v2 = amended["id"]
    assert (amended["version"], amended["previous"]) == (2, cid)
    first, second = together(
        cli.start("contract", "sign", "--project", "P-2026-001", *tenderer_p12, "--json", key="tenderer"),
        cli.start("contract", "sign", v2, *pki.pem("bidder"), "--json", key="bidder"),
    )
    assert {first.json()["id"], second.json()["id"]} == {v2}
    history, history_human, late = together(
        cli.start("contract", "history", "--project", "P-2026-001", "--json"),
        cli.start("contract", "history", "--project", "P-2026-001"),
        cli.start("contract", "sign", cid, *pki.pem("bidder"), key="bidder"),
    )
    late.refused("contract is not waiting for signatures")  # version 1 is Superseded
    versions = history.json()["versions"]
    assert [(v["version"], v["status"], v["amount"]) for v in versions] == [
        (1, "Superseded", 125_000_000), (2, "Effective", 130_000_000)]
    assert versions[0]["next"] == v2 and versions[1]["previous"] == cid and versions[1]["docDigest"] == v2_digest
    assert all(p["attestation"] is not None for v in versions for p in v["parties"])
    assert "version 1: Superseded" in history_human.ok().out and "version 2: Effective" in history_human.out
    assert history_human.out.count(pki.certs["tenderer"]["fingerprint"]) == 2

    # 5. Voiding: every party asks (version 2), or one regulator (another contract).
    other, asked = together(
        cli.start("contract", "register", "--project", "P-2026-002", "--digest", "11" * 32, *parties, "--json",
                  key="center"),
        cli.start("contract", "void", v2, "--reason", "withdrawn by both", "--json", key="tenderer"),
    )
    other_id = other.json()["id"]
    assert (asked.json()["voided"], asked.json()["requests"], asked.json()["required"]) == (False, 1, 2)
    by_regulator, by_parties = together(
        cli.start("contract", "void", "--project", "P-2026-002", "--reason", "irregular tender", "--json", key="regulator"),
        cli.start("contract", "void", v2, "--reason", "withdrawn by both", "--json", key="bidder"),
    )
    assert (by_regulator.json()["voided"], by_regulator.json()["byRegulator"]) == (True, True)
    assert by_regulator.json()["reasonDigest"] == "0x" + hashlib.sha256(b"irregular tender").hexdigest()
    assert (by_parties.json()["voided"], by_parties.json()["byRegulator"]) == (True, False)

    # 6. Lists, newest first, by status and limit.
    everything, superseded, human_list = together(
        cli.start("contract", "list", "--json"),
        cli.start("contract", "list", "--status", "superseded", "--limit", "1", "--json"),
        cli.start("contract", "list", "--status", "voided"),
    )
    assert [(c["id"], c["status"]) for c in everything.json()["contracts"]] == [
        (other_id, "Voided"), (v2, "Voided"), (cid, "Superseded")]
    assert [c["id"] for c in superseded.json()["contracts"]] == [cid]
    assert "2 contract(s)" in human_list.ok().out and other_id in human_list.out and v2 in human_list.out


def test_revocation_by_serial_and_by_crl(world: World) -> None:
    cli, pki = world.cli, world.pki
    mallory_serial = str(pki.certs["mallory"]["serial"])
    # 1. Only the CA admin named when the RSA root was trusted (admin-1) may revoke by serial.
    wrong, before = together(
        cli.start("ca", "revoke", "--ca-chain", pki.dir("rsa") / "chain.pem", "--serial", mallory_serial, key="admin-3"),
        cli.start("member", "show", address_of("mallory"), "--json"),
    )
    wrong.refused("only the CA's admin may revoke its certificates")
    assert before.json()["active"] is True
    # 2. By serial (admin-1) and by the intermediate's CRL (submitted by an ordinary member).
    revoked, applied = together(
        cli.start("ca", "revoke", "--ca-chain", pki.dir("rsa") / "chain.pem", "--serial", mallory_serial, "--json",
                  key="admin-1"),
        cli.start("ca", "revoke", "--crl", pki.base / "trent.crl", "--ca-chain", pki.dir("p256-signing") / "chain.pem",
                  "--json", key="tenderer"),
    )
    assert revoked.json()["revoked"] == [int(mallory_serial)]
    assert applied.json()["crlEntries"] == 1 and applied.json()["rootFingerprint"] == pki.cas["p256"]["fingerprint"]
    # 3. Both members are inactive now; a revoked certificate cannot register again.
    mallory, trent, again = together(
        cli.start("member", "show", address_of("mallory"), "--json"),
        cli.start("member", "show", address_of("trent")),
        cli.start("member", "register", *pki.pem("mallory"), key="mallory"),
    )
    assert mallory.json()["active"] is False
    rows = [row.split() for row in trent.ok().out.splitlines()]
    assert ["active", "no"] in rows and ["roles", "PARTY"] in rows and ["certificate", pki.certs["trent"]["fingerprint"]] in rows
    again.refused("a certificate in the chain is revoked")


def test_bad_input_exits_2_naming_it(world: World, tmp_path: Path) -> None:
    cli, pki = world.cli, world.pki
    bad_key = tmp_path / "bad.key"
    bad_key.write_text("not hex\n")
    not_a_cert = tmp_path / "notes.txt"
    not_a_cert.write_text("hello")
    two = ["--party", address_of("tenderer"), "--party", address_of("bidder")]
    checks = [
        (cli.start("member", "register", "--cert", tmp_path / "missing.pem", "--cert-key", tmp_path / "missing.key",
                   key="stranger"), "No such file or directory"),
        (cli.start("member", "register", "--p12", pki.dir("tenderer") / "identity.p12", "--password", "wrong",
                   key="stranger"), "certificate identity"),
        (cli.start("contract", "register", "--project", "P-X", "--digest", "zz", *two, key="center"), "--digest 'zz'"),
        (cli.start("contract", "register", "--project", "P-X", "--digest", "11" * 32, "--party", "0x1234",
                   "--party", address_of("bidder"), key="center"), "--party '0x1234'"),
        (cli.start("contract", "register", "--project", "P-X", "--document", not_a_cert, "--algorithm", "sm3", *two,
                   key="center"), "sm3 needs --digest"),
        (cli.start("contract", "register", "--project", "P-X", "--digest", "11" * 32, *two,
                   "--key", bad_key), "not a 32-byte hex private key"),
        (cli.start("contract", "register", "--project", "P-X", "--digest", "11" * 32, *two), "give --key FILE"),
        (cli.start("contract", "sign", *pki.pem("bidder"), key="bidder"), "give a contract ID or --project"),
        (cli.start("contract", "list", "--status", "lost"), "'lost' is not one of"),
        (cli.start("member", "grant", address_of("bidder"), "--role", "KING", key="admin-1"), "unknown role 'KING'"),
        (cli.start("ca", "trust", not_a_cert, key="admin-1"), "neither PEM nor a DER certificate"),
        (cli.start("ca", "revoke", "--ca-chain", pki.dir("center") / "chain.pem", "--serial", "5", key="admin-1"),
         "is not a CA certificate"),
        (cli.start("ca", "crl", "--ca", pki.dir("rsa"), "--serial", "five", "--out", tmp_path / "x.crl"),
         "--serial 'five'"),
        (cli.start("ca", "new", "--name", "Again", "--out", pki.dir("rsa")), "exists; refusing to overwrite"),
        (cli.start("commitment", "add", "--agreement", "A-1", "--clause", "land", "--side", "government",
                   "--unit", "Bureau", "--obligor", address_of("tenderer"), "--counterparty", address_of("bidder"),
                   "--deadline", "next spring", key="center"), "--deadline 'next spring'"),
        (cli.start("contract", "show", "--project", "P-2026-001", "--rpc", "http://127.0.0.1:1"),
         "cannot reach the node at http://127.0.0.1:1"),
    ]
    for run, reason in zip(together(*(p for p, _ in checks)), (r for _, r in checks)):
        run.usage(reason)
    # Chain refusals are 1, with the contract's reason: an unknown contract id, and
    # (nothing was written by the commands above) no contract P-X.
    unknown, missing = together(cli.start("contract", "show", "0x" + "ab" * 32),
                                cli.start("contract", "history", "--project", "P-X"))
    unknown.refused("no such contract")
    missing.refused("no contract for project 'P-X'")
