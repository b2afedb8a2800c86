"""SM2 parties on one real dev node (mixed crypto profile), driven by the `ledger` CLI.

Two SM2 hierarchies: one made by our CLI (`ledger ca new --key-type sm2`, an SM2
intermediate with `--intermediate-of`, leaves from `ledger ca issue --key-type sm2`) and
one made by the `openssl` command line (tests/openssl_sm2.py: root -> intermediate ->
leaf), beside an RSA-2048 CA from the CLI. The admin (the dev account: an admin and a
quorum alone) trusts the three roots with `ledger ca trust`; members register their
certificates with `ledger member register`; a contract whose document digest is SM3 is
signed by an SM2 party of each hierarchy, another by an SM2 party beside an RSA party, and
both become Effective.

Refused, each with its reason in what the CLI prints (or, for the tampered signature, in
the chain's revert): certificates the openssl hierarchy signed with another distinguishing
identifier than GM/T 0009's 1234567812345678 (one with `issue(distid=...)`, one under an
intermediate that signs with OpenSSL's default, an empty identifier); an SM2 contract
signature with one byte changed, handed to the chain by the SDK's lowest call that takes
a signature (`Ledger.send` of `ContractRegistry.sign(id, chain, signature)` with the gas
given, so no estimate stops it before a block does); and two members whose certificates
SM2-signed CRLs revoked (the openssl CA's, from `openssl ca -gencrl`, and the CLI CA's,
from `ledger ca crl`, each submitted with `ledger ca revoke --crl`), who can no longer
sign.

Everything runs in one module fixture, in rounds: the admin's commands one after another
(one account, one nonce at a time), the members' beside them as concurrent processes.
The `gm` profile (national algorithms only) has its own network in
tests/integration/test_gm_network.py.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from eth_account import Account
from hexbytes import HexBytes

from chaincode import CRYPTO_PROFILES
from client.credentials import load_identity
from client.ledger import Ledger, Reverted
from evidence.sm2 import SM3_WITH_SM2_OID, sm3
from tests.integration.cli_runs import Cli, Pending, Run, together
from tests.integration.nodeproc import NodeProcess
from tests.integration.permissioned import account_key, address_of
from tests.openssl_sm2 import Issued, OpensslCA

pytestmark = pytest.mark.slow

MEMBERS = ["alice", "bob", "rita", "carol", "dave", "eve", "frank"]
# Far above what one `sign` uses (a few hundred thousand gas): the tampered transaction
# reaches a block instead of failing its estimate in the client.
SIGN_GAS = 1_500_000
SM2_1, SM2_MIX, SM2_REVOKED = "SM2-2026-001", "SM2-2026-MIX", "SM2-2026-REVOKED"
# (parties, digest algorithm, document) of each contract the admin registers.
CONTRACTS = {
    SM2_1: (("alice", "bob"), "sm3", b"%PDF-1.7 road works contract SM2-2026-001"),
    SM2_MIX: (("alice", "rita"), "sha256", b"%PDF-1.7 supply contract SM2-2026-MIX"),
    SM2_REVOKED: (("carol", "dave"), "sm3", b"%PDF-1.7 design contract SM2-2026-REVOKED"),
}
# What the precompile says of an SM2 certificate signature made with another identifier
# (evidence/x509.py), and of an SM2 digest signature that does not verify.
WRONG_ID = "SM2 with the distinguishing identifier 1234567812345678"
BAD_SIGNATURE = "signature does not match the certificate's key"


@dataclass(frozen=True)
class Identity:
    """A member's certificate chain (leaf first) and key, as files for --cert/--cert-key."""

    chain: Path
    key: Path

    def options(self) -> list[str]:
        return ["--cert", str(self.chain), "--cert-key", str(self.key)]


@dataclass
class World:
    node: NodeProcess
    cli: Cli
    base: Path
    admin: str
    identities: dict[str, Identity]
    openssl: dict[str, OpensslCA]       # "root", "signing"
    openssl_leaves: dict[str, Issued]
    out: dict[str, Run] = field(default_factory=dict)
    contracts: dict[str, str] = field(default_factory=dict)  # project -> id (0x hex)
    tamper: Reverted | None = None
    tamper_status: int | None = None

    def json(self, name: str) -> Any:
        return self.out[name].json()

    def digest(self, project: str) -> bytes:
        _, algorithm, document = CONTRACTS[project]
        return sm3(document) if algorithm == "sm3" else hashlib.sha256(document).digest()


def write_keys(directory: Path, node: NodeProcess) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    keys = {"admin": directory / "admin.key"}
    keys["admin"].write_text("0x" + node.dev_key.removeprefix("0x") + "\n")
    for name in MEMBERS:
        keys[name] = directory / f"{name}.key"
        keys[name].write_text("0x" + account_key(name).hex() + "\n")
    return keys


@pytest.fixture(scope="module")
def world(dev_node: NodeProcess, tmp_path_factory: pytest.TempPathFactory) -> World:
    base = tmp_path_factory.mktemp("sm2-parties")
    cli = Cli(dev_node.url, write_keys(base / "keys", dev_node))
    w = World(dev_node, cli, base, str(Account.from_key(dev_node.dev_key).address), {}, {}, {})
    make_hierarchies(w)
    run_story(w)
    return w


def make_hierarchies(w: World) -> None:
    """The CLI's SM2 root, intermediate and leaves (and an RSA CA for the mixed contract);
    the openssl hierarchy is made while the CLI's processes run."""
    cli, base, out = w.cli, w.base, w.out
    roots = [cli.start("ca", "new", "--name", "GM Trading CA Root", "--org", "国家公共资源交易中心", "--key-type", "sm2",
                       "--out", base / "sm2-root", "--json"),
             cli.start("ca", "new", "--name", "Trading Center CA (RSA)", "--key-type", "rsa2048",
                       "--out", base / "rsa", "--json")]
    root = OpensslCA(base / "openssl-root", "GM Province Root")
    w.openssl = {"root": root, "signing": OpensslCA(base / "openssl-signing", "GM Province Signing", parent=root),
                 # an intermediate that signs as OpenSSL does by default: an empty identifier
                 "empty-id": OpensslCA(base / "openssl-empty-id", "GM Province Signing (empty ID)", parent=root,
                                       distid="")}
    out["ca-sm2-root"], out["ca-rsa"] = together(*roots)
    intermediate = cli.start("ca", "new", "--name", "GM Trading CA Signing", "--key-type", "sm2",
                             "--intermediate-of", base / "sm2-root", "--out", base / "sm2-signing", "--json")
    signing = w.openssl["signing"]
    # Eve's certificate is signed with another identifier than GM/T 0009's; Frank's by the
    # intermediate that uses OpenSSL's empty one.
    w.openssl_leaves = {"bob": signing.issue("Bob Bidder"), "dave": signing.issue("Dave Design"),
                        "eve": signing.issue("Eve Wrong Id", distid="1111111111111111"),
                        "frank": w.openssl["empty-id"].issue("Frank Empty Id")}
    out["ca-sm2-signing"] = intermediate.result()
    out["issue-alice"], out["issue-carol"], out["issue-rita"] = together(
        cli.start("ca", "issue", "--ca", base / "sm2-signing", "--name", "Alice Construction", "--key-type", "sm2",
                  "--org", "某某建设工程有限公司", "--out", base / "alice", "--json"),
        cli.start("ca", "issue", "--ca", base / "sm2-signing", "--name", "Carol Supplies", "--key-type", "sm2",
                  "--out", base / "carol", "--json"),
        cli.start("ca", "issue", "--ca", base / "rsa", "--name", "Rita Engineering", "--key-type", "rsa2048",
                  "--out", base / "rita", "--json"),
    )
    for name in ("alice", "carol", "rita"):
        w.identities[name] = Identity(base / name / "chain.pem", base / name / "key.pem")
    for name, issued in w.openssl_leaves.items():
        w.identities[name] = Identity(issued.write_chain(), issued.key)


def register(w: World, name: str) -> Pending:
    return w.cli.start("member", "register", *w.identities[name].options(), "--json", key=name)


def sign(w: World, name: str, project: str) -> Pending:
    return w.cli.start("contract", "sign", "--project", project, *w.identities[name].options(), "--json", key=name)


def run_story(w: World) -> None:
    cli, out, base = w.cli, w.out, w.base
    # 1. The admin trusts the CLI's SM2 root (given as the intermediate's chain.pem: trust
    #    takes its one self-signed certificate), then the openssl root, then the RSA root;
    #    members register once their root is trusted. Last, TRADING_CENTER for the admin.
    out["trust-cli-sm2"] = cli.run("ca", "trust", base / "sm2-signing" / "chain.pem", "--ca-admin", w.admin,
                                   "--json", key="admin")
    out["trust-openssl"], out["register-alice"], out["register-carol"] = together(
        cli.start("ca", "trust", w.openssl["root"].cert, "--json", key="admin"),
        register(w, "alice"), register(w, "carol"))
    (out["trust-rsa"], out["register-bob"], out["register-dave"], out["register-eve"],
     out["register-frank"]) = together(
        cli.start("ca", "trust", base / "rsa" / "ca.pem", "--json", key="admin"),
        register(w, "bob"), register(w, "dave"), register(w, "eve"), register(w, "frank"))
    out["grant-center"], out["register-rita"], out["show-carol-before"] = together(
        cli.start("member", "grant", w.admin, "--role", "TRADING_CENTER", "--json", key="admin"),
        register(w, "rita"), cli.start("member", "show", address_of("carol"), "--json"))

    # 2. The three contracts. Meanwhile the CLI CA writes a CRL revoking Carol, and the
    #    openssl CA one revoking Dave.
    crl = cli.start("ca", "crl", "--ca", base / "sm2-signing", "--serial", out["issue-carol"].json()["serialHex"],
                    "--out", base / "sm2-signing.crl", "--json")
    signing = w.openssl["signing"]
    signing.revoke(w.openssl_leaves["dave"])
    (base / "openssl-signing.crl").write_bytes(signing.crl())
    for project, ((first, second), algorithm, _) in CONTRACTS.items():
        out[f"register-{project}"] = cli.run(
            "contract", "register", "--project", project, "--digest", w.digest(project).hex(),
            "--algorithm", algorithm, "--party", address_of(first), "--party", address_of(second), "--json",
            key="admin")
        w.contracts[project] = out[f"register-{project}"].json()["id"]
    out["crl-cli"] = crl.result()

    # 3. Alice (CLI SM2) signs SM2-1, Rita (RSA) the mixed one; Bob's tampered SM2
    #    signature goes to SM2-1 through the SDK; Carol submits the openssl CA's CRL and
    #    Dave the CLI CA's (anyone may: the CA's signature is the authority).
    pending = [
        sign(w, "alice", SM2_1), sign(w, "rita", SM2_MIX),
        cli.start("ca", "revoke", "--crl", base / "openssl-signing.crl",
                  "--ca-chain", signing.issued.write_chain(), "--json", key="carol"),
        cli.start("ca", "revoke", "--crl", base / "sm2-signing.crl",
                  "--ca-chain", base / "sm2-signing" / "chain.pem", "--json", key="dave"),
    ]
    send_tampered(w)
    out["sign-alice-1"], out["sign-rita-mix"], out["revoke-openssl-crl"], out["revoke-cli-crl"] = together(*pending)

    # 4. Bob signs SM2-1 and Alice the mixed one (both Effective); the revoked members try.
    out["sign-bob-1"], out["sign-alice-mix"], out["sign-carol"], out["sign-dave"] = together(
        sign(w, "bob", SM2_1), sign(w, "alice", SM2_MIX), sign(w, "carol", SM2_REVOKED), sign(w, "dave", SM2_REVOKED))
    (out["show-1"], out["show-mix"], out["show-revoked"], out["member-carol"], out["member-dave"],
     out["member-eve"], out["member-frank"]) = together(
        *(cli.start("contract", "show", w.contracts[p], "--json") for p in (SM2_1, SM2_MIX, SM2_REVOKED)),
        *(cli.start("member", "show", address_of(name), "--json") for name in ("carol", "dave", "eve", "frank")))


def send_tampered(w: World) -> None:
    """Bob's SM2 signature over SM2-1's digest with its last byte changed (inside s: the
    DER still parses), sent with the gas given so the chain, not an estimate, refuses it."""
    bob = Ledger(w.node.url, account_key("bob"))
    identity = load_identity(cert=w.identities["bob"].chain, key=w.identities["bob"].key)
    good = identity.sign_digest(w.digest(SM2_1))
    tampered = good[:-1] + bytes([good[-1] ^ 0x01])
    function = bob.contracts.functions.sign(bytes.fromhex(w.contracts[SM2_1][2:]), identity.chain_der, tampered)
    tx_hash = bob.send(function, gas=SIGN_GAS)
    try:
        bob.wait(tx_hash, function)
    except Reverted as refusal:
        w.tamper = refusal
    w.tamper_status = int(bob.w3.eth.get_transaction_receipt(HexBytes(tx_hash))["status"])


# -- tests -----------------------------------------------------------------------------------


def test_the_dev_chain_is_mixed_and_the_hierarchies_are_sm2(world: World) -> None:
    ledger = Ledger(world.node.url)
    assert ledger.call(ledger.identity.functions.crypto_profile()) == CRYPTO_PROFILES["mixed"]
    root, signing = world.json("ca-sm2-root"), world.json("ca-sm2-signing")
    assert (root["keyType"], signing["keyType"], signing["rootFingerprint"]) == ("sm2", "sm2", root["fingerprint"])
    for name, length in (("alice", 3), ("bob", 3), ("carol", 3), ("dave", 3), ("rita", 2)):
        chain = x509.load_pem_x509_certificates(world.identities[name].chain.read_bytes())
        assert len(chain) == length, name
        sm2 = name != "rita"
        assert all((c.signature_algorithm_oid.dotted_string == SM3_WITH_SM2_OID) == sm2 for c in chain), name


def test_admin_trusts_both_sm2_roots_and_sm2_members_register(world: World) -> None:
    trusted = {name: world.json(f"trust-{name}") for name in ("cli-sm2", "openssl", "rsa")}
    assert all(doc["trusted"] is True and doc["approvals"] == 1 for doc in trusted.values()), trusted
    assert trusted["cli-sm2"]["fingerprint"] == world.json("ca-sm2-root")["fingerprint"]
    assert trusted["cli-sm2"]["caAdmin"] == world.admin
    assert "CN=GM Province Root" in trusted["openssl"]["subject"]
    grant = world.json("grant-center")
    assert grant["executed"] is True and "TRADING_CENTER" in grant["roles"], grant
    for name in ("alice", "bob", "carol", "dave", "rita"):
        doc = world.json(f"register-{name}")
        assert doc["member"] == address_of(name) and doc["roles"] == ["PARTY"], doc
    roots = {name: world.json(f"register-{name}")["rootFingerprint"] for name in ("alice", "bob", "rita")}
    assert roots["alice"] == trusted["cli-sm2"]["fingerprint"] and roots["bob"] == trusted["openssl"]["fingerprint"]
    assert roots["rita"] == trusted["rsa"]["fingerprint"]
    assert world.json("register-alice")["certFingerprint"] == world.json("issue-alice")["fingerprint"]
    assert world.json("show-carol-before")["active"] is True


def test_certificates_signed_with_another_distinguishing_id_are_refused(world: World) -> None:
    # a leaf signed with "1111111111111111", and one signed with OpenSSL's empty identifier
    for name in ("eve", "frank"):
        refusal = world.out[f"register-{name}"].refused(WRONG_ID)
        assert "OpenSSL signed without -sigopt distid:1234567812345678" in refusal.err
        world.out[f"member-{name}"].refused("is not a member")


def test_two_sm2_parties_one_per_hierarchy_make_a_contract_effective(world: World) -> None:
    first, second = world.json("sign-alice-1"), world.json("sign-bob-1")
    assert (first["signatures"], first["required"], first["effective"]) == (1, 2, False)
    assert (second["signatures"], second["effective"]) == (2, True)
    record = world.json("show-1")
    assert (record["status"], record["digestAlgorithm"]) == ("Effective", "sm3")
    assert record["docDigest"] == "0x" + world.digest(SM2_1).hex()
    attestations = [p["attestation"] for p in record["parties"]]
    assert [a["certFingerprint"] for a in attestations] == [world.json("register-alice")["certFingerprint"],
                                                            world.json("register-bob")["certFingerprint"]]
    assert [a["rootFingerprint"] for a in attestations] == [world.json("trust-cli-sm2")["fingerprint"],
                                                            world.json("trust-openssl")["fingerprint"]]


def test_an_sm2_party_beside_an_rsa_party(world: World) -> None:
    rsa, sm2 = world.json("sign-rita-mix"), world.json("sign-alice-mix")
    assert (rsa["signatures"], rsa["effective"], sm2["signatures"], sm2["effective"]) == (1, False, 2, True)
    record = world.json("show-mix")
    assert (record["status"], record["digestAlgorithm"]) == ("Effective", "sha256")
    assert [p["attestation"]["rootFingerprint"] for p in record["parties"]] == [
        world.json("trust-cli-sm2")["fingerprint"], world.json("trust-rsa")["fingerprint"]]


def test_a_tampered_sm2_signature_is_refused_in_a_block(world: World) -> None:
    # the chain refused it (status 0 in a block), naming the signature check, and Bob's
    # real signature afterwards counted (the contract is Effective above)
    assert world.tamper_status == 0
    assert world.tamper is not None and BAD_SIGNATURE in world.tamper.reason, world.tamper
    assert "SM2" in world.tamper.reason


def test_members_revoked_by_sm2_crls_can_no_longer_sign(world: World) -> None:
    openssl_crl, cli_crl = world.json("revoke-openssl-crl"), world.json("revoke-cli-crl")
    assert openssl_crl["crlEntries"] == 1 and openssl_crl["rootFingerprint"] == world.json("trust-openssl")["fingerprint"]
    assert cli_crl["crlEntries"] == 1 and cli_crl["rootFingerprint"] == world.json("ca-sm2-root")["fingerprint"]
    assert world.json("crl-cli")["serials"] == [world.json("issue-carol")["serial"]]
    for name in ("carol", "dave"):
        assert world.json(f"member-{name}")["active"] is False
        world.out[f"sign-{name}"].refused("a certificate in the chain is revoked")
    record = world.json("show-revoked")
    assert (record["status"], record["signatures"]) == ("Pending", 0)
