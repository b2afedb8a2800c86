"""The whole e-contract story on a real permissioned node.

Three CAs are trusted by admin quorum; a trading center, a tenderer and a bidder with
certificates from different CAs register; contracts are registered, signed, amended,
voided; a regulator's WebSocket subscription sees every step; and each refusal comes
back with a reason a user understands.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from eth_utils import keccak, to_checksum_address

from chaincode import CONTRACT_REGISTRY, CONTRACT_STATUS, ROLE_BITS, load_artifact
from client.ledger import Ledger, LedgerError, Reverted
from tests import pki
from tests.integration.permissioned import Network, account_key, address_of, start_network

pytestmark = pytest.mark.slow

ADMINS = ["admin-1", "admin-2", "admin-3"]


class Subscription:
    """A regulator's eth_subscribe("logs") on the contract registry, in a thread."""

    def __init__(self, ws_url: str) -> None:
        self.ws_url = ws_url
        self.logs: list[dict[str, Any]] = []
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()
        assert self.ready.wait(10), "subscription did not start"

    async def _run(self) -> None:
        async with websockets.connect(self.ws_url) as ws:
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe",
                                      "params": ["logs", {"address": to_checksum_address(CONTRACT_REGISTRY)}]}))
            json.loads(await ws.recv())
            self.ready.set()
            while not self._stop.is_set():
                try:
                    message = await asyncio.wait_for(ws.recv(), timeout=0.2)
                except TimeoutError:
                    continue
                self.logs.append(json.loads(message)["params"]["result"])

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def topic_of(event: str) -> str:
    abi = next(e for e in load_artifact("ContractRegistry").abi if e.get("type") == "event" and e["name"] == event)
    signature = f"{event}({','.join(i['type'] if i['type'] != 'tuple' else '' for i in abi['inputs'])})"
    return "0x" + keccak(text=signature).hex()


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    members = [(name, "ADMIN") for name in ADMINS] + [("regulator", "REGULATOR")]
    net = start_network(tmp_path_factory.mktemp("story"), members)
    try:
        yield net
    finally:
        net.node.stop()


def ledger(net: Network, name: str) -> Ledger:
    return Ledger(net.url, account_key(name))


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def trust(net: Network, ca: pki.CA, proposer: str, approver: str, ca_admin: str) -> None:
    result = ledger(net, proposer).propose_trust_root(ca.root_der, address_of(ca_admin))
    proposal = result.events["ProposalCreated"][0]["proposal"]
    assert "RootTrusted" not in result.events  # one admin of three is not a quorum
    fingerprint = hashlib.sha256(ca.root_der).digest()
    assert not ledger(net, approver).root(fingerprint)["trusted"]
    approved = ledger(net, approver).approve(proposal)
    assert approved.events["RootTrusted"][0]["fingerprint"] == fingerprint
    assert ledger(net, approver).root(fingerprint)["trusted"]


def test_story(network: Network) -> None:
    net = network
    regulator_feed = Subscription(net.node.ws_url)
    try:
        run_story(net)
    finally:
        regulator_feed.stop()
    seen = [log["topics"][0] for log in regulator_feed.logs]
    expected = ["ContractRegistered", "ContractSigned", "ContractSigned", "ContractEffective",
                "ContractRegistered", "ContractSigned", "ContractSigned", "ContractEffective", "ContractSuperseded",
                "ContractRegistered", "VoidRequested", "VoidRequested", "ContractVoided",
                "ContractRegistered", "ContractVoided", "ContractRegistered",
                "ContractRegistered", "ContractSigned", "ContractSigned", "ContractEffective",
                "ContractRegistered", "ContractVoided", "ContractRegistered", "ContractSigned", "ContractSigned",
                "ContractEffective", "ContractSuperseded", "ContractVoided"]
    assert seen == [topic_of(name) for name in expected]
    check_indexes(net, len(expected))


def check_indexes(net: Network, events: int) -> None:
    """The node's event indexes (GET /v1/...) say what the registry's own views say, for
    every contract of the story: status, versions, and each attestation's certificate."""
    center = ledger(net, "admin-1")

    def get(path: str) -> Any:
        with urllib.request.urlopen(net.url + path, timeout=30) as response:
            return json.loads(response.read())

    ids = center.contract_ids()
    listed = get("/v1/contracts?limit=1000")["items"]
    assert [c["id"] for c in listed] == ["0x" + i.hex() for i in ids]  # by registration time, then order
    for contract_id in ids:
        on_chain = center.contract(contract_id)
        indexed = get(f"/v1/contracts/0x{contract_id.hex()}")
        assert indexed["status"] == CONTRACT_STATUS[on_chain["status"]], indexed["projectCode"]
        assert (indexed["projectCode"], indexed["version"]) == (on_chain["project_code"], on_chain["version"])
        assert [(a["signer"], a["certFingerprint"]) for a in indexed["signatures"]] == [
            (a["signer"], "0x" + a["cert_fingerprint"].hex()) for a in on_chain["attestations"]]
        history = get(f"/v1/contracts/0x{contract_id.hex()}/events")["items"]
        assert history[0]["event"] == "ContractRegistered"
        assert sum(e["event"] == "ContractSigned" for e in history) == len(on_chain["attestations"])
    versions = get("/v1/contracts?project=P-2026-006")["items"]
    assert [(c["version"], c["status"]) for c in versions] == [(1, "Superseded"), (2, "Voided"), (3, "Voided")]
    summary = get("/v1/summary")["counts"]
    assert summary["contracts"]["total"] == len(ids)
    assert summary["contracts"]["Voided"] == sum(center.contract(i)["status"] == 4 for i in ids)
    # the feed of contract events is the regulator's subscription, event for event
    feed = get("/v1/events?topics=contracts&limit=1000")["items"]
    assert len(feed) == events


def run_story(net: Network) -> None:
    rsa, p256, p384 = pki.rsa_ca(), pki.p256_ca(), pki.p384_ca()
    center_id = rsa.issue("City Trading Center", "rsa2048")
    tenderer_id = p256.issue("Tenderer Construction Group", "p256")
    bidder_id = p384.issue("Winning Bidder Engineering", "secp256k1")

    # 1. An untrusted CA's certificate cannot register (the pool simulates the call).
    with pytest.raises(LedgerError, match="not trusted"):
        ledger(net, "center").register_member(center_id)

    # 2. Three CAs trusted by a quorum of two of the three admins.
    trust(net, rsa, "admin-1", "admin-2", ca_admin="admin-1")
    trust(net, p256, "admin-2", "admin-3", ca_admin="admin-2")
    trust(net, p384, "admin-3", "admin-1", ca_admin="admin-3")

    # 3. Members register with certificates from different CAs.
    for name, identity in (("center", center_id), ("tenderer", tenderer_id), ("bidder", bidder_id)):
        event = ledger(net, name).register_member(identity).events["MemberRegistered"][0]
        assert event["cert_fingerprint"] == identity.fingerprint
        assert event["root_fingerprint"] == identity.root_fingerprint
        assert event["roles"] == ROLE_BITS["PARTY"]
    center = ledger(net, "center")
    with pytest.raises(Reverted, match="only a trading center may register"):
        center.register_contract("P-2026-001", digest("contract v1"), [address_of("tenderer"), address_of("bidder")])
    grant = ledger(net, "admin-1").propose(3, bytes.fromhex(address_of("center")[2:]), ROLE_BITS["TRADING_CENTER"])
    ledger(net, "admin-3").approve(grant.events["ProposalCreated"][0]["proposal"])
    assert center.member(address_of("center"))["roles"] == ROLE_BITS["PARTY"] | ROLE_BITS["TRADING_CENTER"]

    # 4. Register, both parties sign, Effective.
    parties = [address_of("tenderer"), address_of("bidder")]
    registered = center.register_contract("P-2026-001", digest("contract v1"), parties, amount=1_250_000_00)
    cid = registered.events["ContractRegistered"][0]["id"]
    assert cid == center.contract_id("P-2026-001", 1)
    tenderer, bidder = ledger(net, "tenderer"), ledger(net, "bidder")
    signed = tenderer.sign_contract(cid, tenderer_id).events["ContractSigned"][0]
    assert (signed["signatures"], signed["required"]) == (1, 2)
    assert signed["root_fingerprint"] == tenderer_id.root_fingerprint
    with pytest.raises(Reverted, match="party has already signed"):
        tenderer.sign_contract(cid, tenderer_id)
    effective = bidder.sign_contract(cid, bidder_id).events
    assert effective["ContractEffective"][0]["id"] == cid
    record = center.contract(cid)
    assert record["status"] == 2 and record["doc_digest"] == digest("contract v1")
    assert [a["cert_fingerprint"] for a in record["attestations"]] == [tenderer_id.fingerprint, bidder_id.fingerprint]

    # 5. Amendment: a linked version 2 needing both signatures again.
    amended = center.amend_contract(cid, digest("contract v2")).events["ContractRegistered"][0]
    v2 = amended["id"]
    assert amended["previous"] == cid and amended["version"] == 2
    assert center.contract(cid)["status"] == 2  # v1 stays Effective until v2 is
    tenderer.sign_contract(v2, tenderer_id)
    superseded = bidder.sign_contract(v2, bidder_id).events["ContractSuperseded"][0]
    assert superseded["id"] == cid and superseded["by"] == v2
    assert center.contract(cid)["status"] == 3 and center.contract(v2)["status"] == 2
    assert [c["version"] for c in center.contract_history("P-2026-001")] == [1, 2]

    # 6. Voiding: both parties ask; or one regulator.
    other = center.register_contract("P-2026-002", digest("other"), parties).events["ContractRegistered"][0]["id"]
    first = tenderer.void_contract(other, digest("withdrawn")).events
    assert "ContractVoided" not in first and first["VoidRequested"][0]["requests"] == 1
    assert bidder.void_contract(other, digest("withdrawn")).events["ContractVoided"][0]["by_regulator"] is False
    third = center.register_contract("P-2026-003", digest("third"), parties).events["ContractRegistered"][0]["id"]
    voided = ledger(net, "regulator").void_contract(third, digest("irregular tender")).events["ContractVoided"][0]
    assert voided["by_regulator"] is True and center.contract(third)["status"] == 4

    # 7. Refusals, each with a reason a user understands.
    fourth = "P-2026-004"
    fourth_id = center.register_contract(fourth, digest("fourth"), [address_of("center"), address_of("tenderer")]).events["ContractRegistered"][0]["id"]
    # a signature over the wrong digest
    bad = tenderer_id.sign_digest(digest("not the contract"))
    with pytest.raises(Reverted, match="signature does not match"):
        tenderer.call(tenderer.contracts.functions.sign(fourth_id, tenderer_id.chain_der, bad))
    # a certificate other than the one the signer registered
    with pytest.raises(Reverted, match="not the one the signer registered"):
        tenderer.sign_contract(fourth_id, p256.issue("Tenderer Construction Group", "p256"))
    # a non-member
    stranger = ledger(net, "stranger")
    with pytest.raises(LedgerError, match="not authorized"):
        stranger.register_contract("P-2026-005", digest("x"), parties, gas=2_000_000)
    # a party signing someone else's contract (the bidder is not a party of this one)
    with pytest.raises(Reverted, match="not a party to this contract"):
        bidder.sign_contract(fourth_id, bidder_id)
    # a certificate from a CA that is not trusted
    with pytest.raises(LedgerError, match="not trusted"):
        ledger(net, "stranger").register_member(pki.untrusted_ca().issue("Stranger", "p256"))
    # a revoked certificate: the P-256 CA's admin revokes a member's certificate
    mallory_id = p256.issue("Mallory", "p256")
    mallory = ledger(net, "mallory")
    mallory.register_member(mallory_id)
    ledger(net, "admin-2").revoke(p256.issuer_chain_der, [mallory_id.leaf.serial_number])
    assert not mallory.member(address_of("mallory"))["active"]
    with pytest.raises(LedgerError, match="not authorized"):
        mallory.register_contract("P-X", digest("x"), parties, gas=2_000_000)
    with pytest.raises(LedgerError, match="revoked"):
        mallory.register_member(mallory_id)
    # a revoked certificate by a CRL the CA signed, submitted by anyone
    trent_id = p384.issue("Trent", "p384")
    ledger(net, "trent").register_member(trent_id)
    from client import devpki
    crl = devpki.make_crl(p384.issuer, p384.issuer_key, [trent_id.leaf.serial_number],
                          this_update=pki.NOT_BEFORE, next_update=pki.NOT_AFTER)
    from cryptography.hazmat.primitives import serialization
    applied = tenderer.submit_crl(crl.public_bytes(serialization.Encoding.DER), p384.issuer_chain_der)
    assert applied.events["CRLApplied"][0]["entries"] == 1
    assert not tenderer.member(address_of("trent"))["active"]

    # 8. A voided pending amendment frees the Effective version for another one; voiding
    #    an Effective amendment leaves the superseded version superseded.
    code = "P-2026-006"
    v1 = center.register_contract(code, digest("six v1"), parties).events["ContractRegistered"][0]["id"]
    tenderer.sign_contract(v1, tenderer_id)
    bidder.sign_contract(v1, bidder_id)
    v2 = center.amend_contract(v1, digest("six v2")).events["ContractRegistered"][0]["id"]
    ledger(net, "regulator").void_contract(v2, digest("bad amendment"))
    assert center.contract(v1)["status"] == 2 and center.contract(v1)["next"] == b"\x00" * 32
    assert center.latest_contract(code) == v1
    v3 = center.amend_contract(v1, digest("six v3")).events["ContractRegistered"][0]["id"]
    assert center.contract(v3)["version"] == 3
    tenderer.sign_contract(v3, tenderer_id)
    bidder.sign_contract(v3, bidder_id)
    ledger(net, "regulator").void_contract(v3, digest("void the effective amendment"))
    assert center.contract(v1)["status"] == 3 and center.contract(v1)["next"] == v3
    assert center.latest_contract(code) == v3 and center.contract(v3)["status"] == 4
