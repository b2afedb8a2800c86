"""A national-crypto (gm) network and a mixed one, each a real node process with a genesis
of its own (`build_genesis_document(crypto_profile=...)`).

On the gm network, whose genesis trusts two SM2 roots — one made by our CLI (`ledger ca
new|issue --key-type sm2`), one by the `openssl` command line (tests/openssl_sm2.py) — a
member of each registers (the CLI's with `ledger member register`, the openssl one's with
the SDK) and both sign one contract (SM3 digest) until it is Effective. An SM2 certificate
an RSA CA signed, an RSA member and an RSA root proposed for trust are refused, each with
a reason naming the profile. Clients see the profile: `/v1/summary`, `ledger_chainInfo`,
the registry's `crypto_profile()` getter by `eth_call`, and the console's Chain page in a
real browser.

On the mixed network, an SM2 member and an RSA member register and sign one contract.
(SM2 parties on the dev chain, CRLs and wrong identifiers: tests/integration/test_sm2_parties.py.)
"""
from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from eth_utils import function_signature_to_4byte_selector

from chaincode import CONTRACT_STATUS, CRYPTO_PROFILES, IDENTITY_REGISTRY
from client.credentials import CertificateIdentity, load_identity
from client.ledger import Ledger, Reverted
from evidence.sm2 import sm3
from node.consensus.sealing import ValidatorKey
from node.execution.genesis import build_genesis_document
from node.ops.runner import init_data_dir, write_key_file
from tests.integration.cli_runs import Cli
from tests.integration.nodeproc import NodeProcess, free_port
from tests.integration.permissioned import account_key, address_of
from tests.openssl_sm2 import Issued, OpensslCA
from tests.unit.web.browser import PAGE_WAIT_MS, node_only_context, screenshot

pytestmark = pytest.mark.slow

GM_CHAIN_ID, MIXED_CHAIN_ID = 4343, 4344
# The opening of every refusal the gm profile makes (evidence/x509.py's words).
GM_REFUSAL = "the chain's crypto profile is gm (national algorithms only)"


@dataclass
class Hierarchies:
    """The CAs both networks draw on: the CLI's SM2 CA (directory `cli_sm2`, with a leaf
    for the center in `cli_center`) and openssl's SM2 and RSA CAs."""

    cli_sm2: Path
    cli_center: Path
    openssl_sm2: OpensslCA
    openssl_rsa: OpensslCA


@dataclass
class Network:
    node: NodeProcess
    cli: Cli

    def ledger(self, name: str) -> Ledger:
        return Ledger(self.node.url, account_key(name))


@pytest.fixture(scope="module")
def cas(tmp_path_factory: pytest.TempPathFactory) -> Hierarchies:
    base = tmp_path_factory.mktemp("gm-cas")
    cli = Cli(None)
    root = cli.start("ca", "new", "--name", "GM Trading CA", "--org", "国家公共资源交易中心", "--key-type", "sm2",
                     "--out", base / "cli-sm2")
    openssl_sm2 = OpensslCA(base / "openssl-sm2", "GM Province Root")
    openssl_rsa = OpensslCA(base / "openssl-rsa", "RSA Root", key_type="rsa2048")
    root.result().ok()
    cli.run("ca", "issue", "--ca", base / "cli-sm2", "--name", "City Trading Center", "--key-type", "sm2",
            "--out", base / "cli-center").ok()
    return Hierarchies(base / "cli-sm2", base / "cli-center", openssl_sm2, openssl_rsa)


def start(base: Path, chain_id: int, profile: str, roots: list[Path]) -> Network:
    """A one-validator network whose genesis has `profile` and trusts `roots` (PEM files):
    "admin" an ADMIN, "center" a TRADING_CENTER; account keys for the CLI in base/keys."""
    validator = account_key("validator")
    document = build_genesis_document(
        chain_id=chain_id, validators=[ValidatorKey(validator).address], alloc={},
        members=[(bytes.fromhex(address_of("admin")[2:]), "ADMIN"),
                 (bytes.fromhex(address_of("center")[2:]), "TRADING_CENTER")],
        trusted_roots=[root.read_text() for root in roots], crypto_profile=profile,
    )
    (base / "genesis.json").write_text(json.dumps(document, indent=2) + "\n")
    write_key_file(base / "validator.key", validator)
    init_data_dir(base / "data", base / "genesis.json", base / "validator.key")
    node = NodeProcess(base / "data", free_port(), dev=False, chain_id=chain_id).start()
    keys = {}
    for name in ("admin", "center", "bidder"):
        keys[name] = base / "keys" / f"{name}.key"
        keys[name].parent.mkdir(exist_ok=True)
        keys[name].write_text("0x" + account_key(name).hex() + "\n")
    return Network(node, Cli(node.url, keys))


@pytest.fixture(scope="module")
def gm(tmp_path_factory: pytest.TempPathFactory, cas: Hierarchies) -> Iterator[Network]:
    net = start(tmp_path_factory.mktemp("gm-net"), GM_CHAIN_ID, "gm", [cas.cli_sm2 / "ca.pem", cas.openssl_sm2.cert])
    try:
        yield net
    finally:
        net.node.stop()


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, cas: Hierarchies) -> Iterator[Network]:
    net = start(tmp_path_factory.mktemp("mixed-net"), MIXED_CHAIN_ID, "mixed",
                [cas.openssl_sm2.cert, cas.openssl_rsa.cert])
    try:
        yield net
    finally:
        net.node.stop()


def identity(issued: Issued) -> CertificateIdentity:
    return load_identity(cert=issued.write_chain(), key=issued.key)


def rpc(url: str, method: str, *params: Any) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["result"]


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def register_contract(net: Network, project: str) -> bytes:
    """The center registers a contract between itself and the bidder over an SM3 digest."""
    result = net.ledger("center").register_contract(
        project, sm3(f"%PDF-1.7 contract {project}".encode()), [address_of("center"), address_of("bidder")],
        algorithm="sm3")
    return bytes(result.events["ContractRegistered"][0]["id"])


# -- the gm network ---------------------------------------------------------------------------

def test_clients_see_the_gm_profile(gm: Network) -> None:
    assert get(gm.node.url + "/v1/summary")["cryptoProfile"] == "gm"
    info = rpc(gm.node.url, "ledger_chainInfo")
    assert info["cryptoProfile"] == "gm" and info["chainId"] == hex(GM_CHAIN_ID)
    getter = "0x" + function_signature_to_4byte_selector("crypto_profile()").hex()
    answer = rpc(gm.node.url, "eth_call", {"to": "0x" + IDENTITY_REGISTRY.hex(), "data": getter}, "latest")
    assert int(answer, 16) == CRYPTO_PROFILES["gm"]


def test_the_console_shows_the_gm_profile(gm: Network, launched: Any, tmp_path: Path) -> None:
    """The Chain page, where the chain's identity is shown (a node without tokens: the
    anonymous ADMIN reads it), in English and in Chinese."""
    context, elsewhere = node_only_context(launched, gm.node.url)
    try:
        page = context.new_page()
        page.goto(gm.node.url + "/#chain")
        page.wait_for_selector("body[data-page=chain][data-state=done]", timeout=PAGE_WAIT_MS)
        assert page.inner_text("#chain-id") == str(GM_CHAIN_ID)
        assert page.locator("#chain-profile [data-profile=gm]").count() == 1
        assert "SM2 certificates with SM3withSM2 signatures only" in page.inner_text("#chain-profile")
        screenshot(page, "chain-gm-profile", tmp_path)
        page.click("#lang")
        page.wait_for_selector("body[data-state=done]", timeout=PAGE_WAIT_MS)
        assert "国密" in page.inner_text("#chain-profile")
    finally:
        context.close()
    assert elsewhere == []


def test_sm2_members_of_cli_and_openssl_cas_register_and_sign(gm: Network, cas: Hierarchies) -> None:
    center_cert = ("--cert", cas.cli_center / "chain.pem", "--cert-key", cas.cli_center / "key.pem")
    # the CLI's member registers with the CLI while the openssl CA's registers with the SDK
    pending = gm.cli.start("member", "register", *center_cert, key="center")
    bidder = identity(cas.openssl_sm2.issue("GM Bidder Co"))
    gm.ledger("bidder").register_member(bidder)
    pending.result().ok()
    assert all(gm.ledger("admin").member(address_of(name))["active"] for name in ("center", "bidder"))

    contract_id = register_contract(gm, "GM-2026-001")
    pending = gm.cli.start("contract", "sign", "--project", "GM-2026-001", *center_cert, key="center")
    gm.ledger("bidder").sign_contract(contract_id, bidder)
    pending.result().ok()
    shown = gm.cli.run("contract", "show", "--project", "GM-2026-001", "--json").json()
    assert shown["status"] == "Effective", shown
    assert CONTRACT_STATUS[gm.ledger("center").contract(contract_id)["status"]] == "Effective"


def test_rsa_certificates_are_refused_naming_the_profile(gm: Network, cas: Hierarchies) -> None:
    rsa = cas.openssl_rsa
    attempts: dict[str, Callable[[], Any]] = {
        "an SM2 key an RSA CA certified": lambda: gm.ledger("sm2-under-rsa").register_member(
            identity(rsa.issue("SM2 Under RSA", key_type="sm2"))),
        "an RSA member": lambda: gm.ledger("rsa-member").register_member(
            identity(rsa.issue("RSA Member", key_type="rsa2048"))),
        "an RSA root proposed for trust": lambda: gm.ledger("admin").propose_trust_root(
            x509.load_pem_x509_certificate(rsa.cert.read_bytes()).public_bytes(serialization.Encoding.DER)),
    }
    refusals = {}
    for what, attempt in attempts.items():
        with pytest.raises(Reverted) as caught:
            attempt()
        refusals[what] = caught.value.reason
    # Each names the profile and the RSA certificate (the RSA issuer's key is priced, hence
    # refused, before the SM2 leaf's signature is looked at).
    assert all(GM_REFUSAL in reason and "RSA Root" in reason for reason in refusals.values()), refusals
    assert not gm.ledger("admin").member(address_of("rsa-member"))["active"]


# -- the mixed network ------------------------------------------------------------------------

def test_a_mixed_network_takes_sm2_and_rsa_side_by_side(mixed: Network, cas: Hierarchies) -> None:
    assert get(mixed.node.url + "/v1/summary")["cryptoProfile"] == "mixed"
    assert rpc(mixed.node.url, "ledger_chainInfo")["cryptoProfile"] == "mixed"
    center = identity(cas.openssl_sm2.issue("Mixed Center"))
    bidder = identity(cas.openssl_rsa.issue("Mixed RSA Bidder", key_type="rsa2048"))
    mixed.ledger("center").register_member(center)
    mixed.ledger("bidder").register_member(bidder)
    contract_id = register_contract(mixed, "MIX-2026-001")
    mixed.ledger("center").sign_contract(contract_id, center)
    mixed.ledger("bidder").sign_contract(contract_id, bidder)
    assert CONTRACT_STATUS[mixed.ledger("center").contract(contract_id)["status"]] == "Effective"

