"""The contract views (node/rpc/rest/contract_views.py) on a real node that requires
tokens: a contract's parties by name and CA, each signature's certificate with its issuer,
names for lists — and the role rules: a party only for its own contracts, a regulator
the contracts but not the evidence, no token nothing."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from eth_utils import to_checksum_address

from node.rpc.rest.contract_views import MAX_NAMES
from tests.integration.contract_desk import ContractDesk, build_contract_desk
from tests.integration.permissioned import address_of

pytestmark = pytest.mark.slow

TENDERER_CA = {"issuer": "Province CA Signing (P-256)", "root": "Province CA Root (P-256)"}
BIDDER_CA = {"issuer": "Trading Center CA (RSA)", "root": "Trading Center CA (RSA)"}


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContractDesk]:
    built = build_contract_desk(tmp_path_factory.mktemp("contract-views"))
    try:
        yield built
    finally:
        built.net.node.stop()


def get(desk: ContractDesk, path: str, who: str | None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {desk.tokens[who]}"} if who else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(desk.url + path, headers=headers), timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def parties_path(desk: ContractDesk, code: str) -> str:
    return f"/v1/contracts/{desk.contracts[code]}/parties"


def test_parties_by_name_and_ca_and_each_signature_with_its_certificate(desk: ContractDesk) -> None:
    status, view = get(desk, parties_path(desk, "P-2026-001"), "TRADING_CENTER")
    assert status == 200, view
    tenderer, bidder = view["parties"]
    assert tenderer["address"] == to_checksum_address(address_of("tenderer"))
    assert (tenderer["name"], tenderer["organization"]) == ("Tenderer Construction Group", "Tenderer Construction Group Ltd")
    assert (bidder["name"], bidder["organization"]) == ("Winning Bidder Engineering", "Winning Bidder Engineering Ltd")
    for party, ca, identity in ((tenderer, TENDERER_CA, desk.identities["tenderer"]),
                                (bidder, BIDDER_CA, desk.identities["bidder"])):
        certificate = party["certificate"]
        assert certificate["fingerprint"] == party["certFingerprint"] == "0x" + identity.fingerprint.hex()
        assert certificate["issuer"]["name"] == ca["issuer"]
        assert certificate["root"]["name"] == ca["root"]
        assert certificate["root"]["fingerprint"] == party["rootFingerprint"]
        assert party["roles"] == ["PARTY"] and party["member"] is True
    signed = view["signatures"]
    assert [s["signer"] for s in signed] == [tenderer["address"], bidder["address"]]
    assert [s["certificate"]["name"] for s in signed] == ["Tenderer Construction Group", "Winning Bidder Engineering"]
    assert [s["certificate"]["issuer"]["name"] for s in signed] == [TENDERER_CA["issuer"], BIDDER_CA["issuer"]]
    # every address the contract mentions, named where it has a certificate (a genesis member has none)
    names = {n["address"]: n for n in view["names"]}
    center = names[to_checksum_address(address_of("center"))]
    assert center["member"] is True and center["name"] is None
    assert names[tenderer["address"]]["name"] == "Tenderer Construction Group"


def test_names_for_a_list_in_the_order_asked(desk: ContractDesk) -> None:
    a, b, c = (address_of(n) for n in ("bidder", "outsider", "tenderer"))
    stranger = "0x" + "11" * 20
    status, body = get(desk, f"/v1/names?address={a},{b}&address={c.lower()}&address={stranger}&address={a}", "PARTY:tenderer")
    assert status == 200, body
    assert [(n["address"], n["name"], n["member"]) for n in body["items"]] == [
        (a, "Winning Bidder Engineering", True), (b, "Outsider Trading", True),
        (c, "Tenderer Construction Group", True), (to_checksum_address(stranger), None, False)]
    too_many = ",".join("0x" + f"{n:040x}" for n in range(MAX_NAMES + 1))
    for bad in (f"/v1/names?address={too_many}", "/v1/names?address=0x12", "/v1/names"):
        status, body = get(desk, bad, "ADMIN")
        assert status == 400 and body["error"], (bad, body)


def test_a_party_sees_the_parties_of_its_own_contracts_only(desk: ContractDesk) -> None:
    assert get(desk, parties_path(desk, "P-2026-001"), "PARTY:tenderer")[0] == 200
    status, body = get(desk, parties_path(desk, "P-2026-002"), "PARTY:tenderer")
    assert status == 403 and "is not a party" in body["error"], body
    assert get(desk, parties_path(desk, "P-2026-002"), "PARTY:outsider")[0] == 200
    assert get(desk, "/v1/contracts/0x" + "00" * 32 + "/parties", "ADMIN")[0] == 404


def test_a_regulator_reads_contracts_and_their_parties_but_no_evidence(desk: ContractDesk) -> None:
    status, view = get(desk, parties_path(desk, "P-2026-001"), "REGULATOR")
    assert status == 200 and view["parties"][0]["certificate"]["issuer"]["name"] == TENDERER_CA["issuer"]
    assert get(desk, "/v1/evidence?case=P-2026-001", "REGULATOR")[0] == 403
    status, found = get(desk, "/v1/evidence?case=P-2026-001", "COURT")
    assert status == 200 and [e["kind"] for e in found["items"]] == ["contract"]


def test_no_token_is_401(desk: ContractDesk) -> None:
    assert get(desk, parties_path(desk, "P-2026-001"), None)[0] == 401
    assert get(desk, "/v1/names?address=" + address_of("bidder"), None)[0] == 401
