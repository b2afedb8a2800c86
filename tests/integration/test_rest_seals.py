"""The seal routes (node/rpc/rest/seals.py) and the PDF part of contract signatures on a
real node that requires tokens, after a real story (tests/integration/seal_desk.py): seals
registered with the parties' certificates, approved by the admin, a contract signed as a
PDF by both parties, one seal revoked after its signature. Lists by owner and status,
one seal, each signature's `pdf` and its seal with the flags, the role rules — and
`ledger chain verify` replaying the seal index from the blocks, naming it when a copy's
seal record is changed."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import plyvel
import pytest
from eth_utils import to_checksum_address

from node.rpc.rest.models import ContractParties, ContractRecord, SealPage, SealRecord
from node.storage import schema
from tests.integration.permissioned import address_of
from tests.integration.seal_desk import (
    REVOCATION_REASON,
    SEAL_NAMES,
    SealDesk,
    build_seal_desk,
    cms_of,
    revision_of,
    seal_of,
)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CLI_TIMEOUT_SECONDS = 300


@pytest.fixture(scope="module")
def seals(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SealDesk]:
    built = build_seal_desk(tmp_path_factory.mktemp("rest-seals"))
    try:
        yield built
    finally:
        built.desk.net.node.stop()


def get(seals: SealDesk, path: str, who: str | None = "REGULATOR") -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {seals.tokens[who]}"} if who else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(seals.url + path, headers=headers), timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def ok(seals: SealDesk, path: str, who: str | None = "REGULATOR") -> Any:
    status, body = get(seals, path, who)
    assert status == 200, (path, body)
    return body


def hex32(value: bytes) -> str:
    return "0x" + value.hex()


def address(name: str) -> str:
    return to_checksum_address(address_of(name))


def test_seals_by_owner_and_status_in_registration_order(seals: SealDesk) -> None:
    every = ok(seals, "/v1/seals")
    SealPage.model_validate(every)  # what the OpenAPI document says the route answers
    assert [s["seal"] for s in every["items"]] == [hex32(seal_of(n)) for n in SEAL_NAMES] and every["next"] is None
    assert [s["name"] for s in every["items"]] == list(SEAL_NAMES.values())
    assert [s["status"] for s in every["items"]] == ["Approved", "Revoked", "Proposed"]
    assert [s["seal"] for s in ok(seals, "/v1/seals?order=desc")["items"]] == [
        hex32(seal_of(n)) for n in reversed(SEAL_NAMES)]
    mine = ok(seals, f"/v1/seals?owner={address_of('tenderer').lower()}", "PARTY:tenderer")
    assert [s["owner"] for s in mine["items"]] == [address("tenderer")]
    assert [s["seal"] for s in ok(seals, "/v1/seals?status=approved")["items"]] == [hex32(seal_of("tenderer"))]
    assert [s["seal"] for s in ok(seals, "/v1/seals?status=Revoked")["items"]] == [hex32(seal_of("bidder"))]
    first = ok(seals, "/v1/seals?limit=2")
    second = ok(seals, f"/v1/seals?limit=2&after={first['next']}")
    assert [s["seal"] for s in first["items"] + second["items"]] == [s["seal"] for s in every["items"]]
    assert second["next"] is None
    counts = ok(seals, "/v1/summary")["counts"]["seals"]
    assert counts == {"total": 3, "Proposed": 1, "Approved": 1, "Revoked": 1}


def test_one_seal_with_its_approvals_and_revocation(seals: SealDesk) -> None:
    tenderer = ok(seals, f"/v1/seals/{hex32(seal_of('tenderer'))}")
    identity = seals.desk.identities["tenderer"]
    assert tenderer["owner"] == address("tenderer") and tenderer["name"] == SEAL_NAMES["tenderer"]
    assert tenderer["certFingerprint"] == hex32(identity.fingerprint)
    assert (tenderer["approvals"], tenderer["quorum"]) == (1, 1)
    assert [a["admin"] for a in tenderer["approvedBy"]] == [address("admin")]
    assert tenderer["approved"]["block"] == seals.blocks["approved tenderer"] and tenderer["revoked"] is None
    bidder = ok(seals, f"/v1/seals/{seal_of('bidder').hex()}")  # 0x optional
    assert bidder["status"] == "Revoked" and bidder["approved"]["block"] == seals.blocks["approved bidder"]
    assert (bidder["revoked"]["by"], bidder["revoked"]["reasonDigest"], bidder["revoked"]["block"]) == (
        address("bidder"), hex32(REVOCATION_REASON), seals.blocks["revoked"])
    for record in (tenderer, bidder):
        SealRecord.model_validate(record)
    outsider = ok(seals, f"/v1/seals/{hex32(seal_of('outsider'))}")
    assert outsider["status"] == "Proposed" and outsider["approved"] is None and outsider["quorum"] is None


def test_a_pdf_signature_carries_its_digests_and_its_seal_with_the_flags(seals: SealDesk) -> None:
    record = ok(seals, f"/v1/contracts/{seals.pdf_contract}", "TRADING_CENTER")
    ContractRecord.model_validate(record)
    assert record["status"] == "Effective"
    assert [s["pdf"] for s in record["signatures"]] == [
        {"sequence": n, "revisionDigest": hex32(revision_of(name)), "cmsDigest": hex32(cms_of(name)),
         "seal": hex32(seal_of(name))} for n, name in ((1, "tenderer"), (2, "bidder"))]
    # signatures of the document digest alone (sign) carry pdf: null
    plain = ok(seals, f"/v1/contracts/{seals.desk.contracts['P-2026-001']}", "TRADING_CENTER")
    assert [s["pdf"] for s in plain["signatures"]] == [None, None]
    view = ok(seals, f"/v1/contracts/{seals.pdf_contract}/parties", "PARTY:bidder")
    ContractParties.model_validate(view)
    tenderer, bidder = view["signatures"]
    # the certificate a sign_pdf transaction carried is read as a sign one's is
    assert tenderer["certificate"]["name"] == "Tenderer Construction Group"
    assert bidder["certificate"]["issuer"]["name"] == "Trading Center CA (RSA)"
    assert tenderer["seal"]["name"] == SEAL_NAMES["tenderer"] and tenderer["seal"]["status"] == "Approved"
    assert (tenderer["sealMatchesSigner"], tenderer["sealStatusAtSigning"], tenderer["sealRevokedSince"]) == (
        True, "approved", None)
    assert bidder["seal"]["owner"] == address("bidder") and bidder["seal"]["status"] == "Revoked"
    assert (bidder["sealMatchesSigner"], bidder["sealStatusAtSigning"]) == (True, "approved")
    assert bidder["sealRevokedSince"]["block"] == seals.blocks["revoked"] > seals.blocks["signed bidder"]
    assert bidder["sealRevokedSince"]["by"] == address("bidder")
    plain_view = ok(seals, f"/v1/contracts/{seals.desk.contracts['P-2026-001']}/parties", "TRADING_CENTER")
    for signature in plain_view["signatures"]:
        assert [signature[k] for k in ("pdf", "seal", "sealMatchesSigner", "sealStatusAtSigning",
                                       "sealRevokedSince")] == [None] * 5
    history = ok(seals, f"/v1/contracts/{seals.pdf_contract}/events", "TRADING_CENTER")["items"]
    assert [e["event"] for e in history] == ["ContractRegistered", "ContractSigned", "ContractPdfSigned",
                                             "ContractSigned", "ContractPdfSigned", "ContractEffective"]


def test_the_chain_refuses_a_seal_that_is_not_approved_and_nothing_is_indexed(seals: SealDesk) -> None:
    assert "seal is not the signer's approved seal" in seals.refused
    record = ok(seals, f"/v1/contracts/{seals.desk.contracts['P-2026-002']}", "TRADING_CENTER")
    assert record["signatures"] == [] and record["status"] == "Pending"


def test_seal_events_are_on_the_identity_feed(seals: SealDesk) -> None:
    events = ok(seals, "/v1/events?topics=identity&limit=1000")["items"]
    names = [e["event"] for e in events if e["contract"] == "SealRegistry"]
    assert names == ["SealRegistered"] * 3 + ["SealApproval", "SealApproved"] * 2 + ["SealRevoked"]
    contracts = ok(seals, "/v1/chaincode")["contracts"]
    assert {c["name"]: c["address"] for c in contracts}["SealRegistry"] == to_checksum_address("0x" + "00" * 18 + "1005")


def test_refusals(seals: SealDesk) -> None:
    owner = address_of("tenderer")
    for bad in (f"/v1/seals?owner={owner}&status=Approved", "/v1/seals?status=lost", "/v1/seals?owner=0x12",
                "/v1/seals?limit=0", "/v1/seals?after=zz", "/v1/seals/0x1234", "/v1/seals/" + "g" * 64):
        status, body = get(seals, bad)
        assert status == 400 and body["error"], (bad, body)
    status, body = get(seals, "/v1/seals/0x" + "00" * 32)
    assert status == 404 and "no seal" in body["error"]
    assert get(seals, "/v1/seals", None)[0] == 401
    # seals are identity data: every role reads them (chain:read); a party still sees only its
    # own contracts' signatures
    assert get(seals, "/v1/seals", "PARTY:outsider")[0] == 200
    status, body = get(seals, f"/v1/contracts/{seals.pdf_contract}/parties", "PARTY:outsider")
    assert status == 403 and "is not a party" in body["error"]


def ledger_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "client.cli", *args], check=False, cwd=REPO, capture_output=True,
                          text=True, timeout=CLI_TIMEOUT_SECONDS)


def test_chain_verify_replays_the_seal_index_and_names_a_changed_seal(seals: SealDesk, tmp_path: Path) -> None:
    """The stopped node's directory verifies with its seal records and PDF signatures as the
    blocks give them; a seal record made to say Approved in a copy is named. (Stops the
    module's node and starts it again.)"""
    node = seals.desk.net.node
    key = schema.SEAL + seal_of("bidder")
    node.stop()
    try:
        result = ledger_cli("chain", "verify", "--data-dir", str(node.data_dir), "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        assert json.loads(result.stdout)["indexesChecked"] is True
        copy = tmp_path / "copy"
        shutil.copytree(node.data_dir, copy)
        db = plyvel.DB(str(copy / "chain"))
        try:
            stored = db.get(key)
            assert stored is not None and b'"status":"Revoked"' in stored
            db.put(key, stored.replace(b'"status":"Revoked"', b'"status":"Approved"'), sync=True)
        finally:
            db.close()
        result = ledger_cli("chain", "verify", "--data-dir", str(copy))
        assert result.returncode == 1, result.stdout + result.stderr
        assert f": event indexes: seal record 0x{key.hex()} changed" in result.stdout, result.stdout
    finally:
        node.start()
    assert ok(seals, f"/v1/seals/{hex32(seal_of('bidder'))}")["status"] == "Revoked"
