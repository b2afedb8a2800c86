"""The seal index and the PDF part of contract signatures, on a real LevelDB, from
hand-built SealRegistry and ContractRegistry logs (encoded with the shipped ABIs): what
each event does to a seal's record, its owner and status indexes and the counters; the
`pdf` object ContractPdfSigned adds to its signature (and only to it); and how a seal
stood when a signature showed it (`seal_at_signing`) at the edges of chain order."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest

from node.errors import InvalidParams, NotFound
from node.rpc.rest.models import SignatureView
from node.storage import schema
from node.storage.index_queries import (
    SEAL_APPROVED,
    SEAL_NOT_YET_APPROVED,
    SEAL_REVOKED_BEFORE,
    SEAL_UNREGISTERED,
    SEAL_VERDICTS,
    Indexes,
    seal_at_signing,
)
from node.storage.indexes import IndexBatch, index_block
from node.verify.indexes import CURSOR_KEYED, INDEX_NAMES
from tests.unit.node.indexlogs import (
    Block,
    CountingStore,
    Log,
    Receipt,
    Tx,
    address,
    contract_id,
    digest,
    open_store,
    registered,
    signed,
    store_blocks,
)

Event = tuple[str, str, dict[str, Any]]
# Logs of every system event recorded from a real node (tests/vectors/system_events/README.md).
RECORDED = Path(__file__).resolve().parents[2] / "vectors" / "system_events" / "logs.json"

# Owners 2 and 3; admins 8 and 9 (a quorum of two).
SEAL_A, SEAL_B, SEAL_C = digest(1, "seal"), digest(2, "seal"), digest(3, "seal")


def seal_registered(seal: bytes, owner: int, name: str = "Tenderer contract seal") -> Event:
    return ("SealRegistry", "SealRegistered", {
        "seal": seal, "owner": address(owner), "certFingerprint": digest(owner, "cert"),
        "rootFingerprint": digest(owner, "root"), "pixelDigest": digest(owner, "pixels"), "name": name,
    })


def seal_approval(seal: bytes, admin: int, approvals: int, quorum: int = 2) -> Event:
    return ("SealRegistry", "SealApproval", {"seal": seal, "admin": address(admin), "approvals": approvals,
                                             "quorum": quorum})


def seal_approved(seal: bytes, owner: int) -> Event:
    return ("SealRegistry", "SealApproved", {"seal": seal, "owner": address(owner),
                                             "certFingerprint": digest(owner, "cert")})


def seal_revoked(seal: bytes, owner: int, by: int) -> Event:
    return ("SealRegistry", "SealRevoked", {"seal": seal, "owner": address(owner), "by": address(by),
                                            "reasonDigest": digest(0, "lost")})


def pdf_signed(project: str, signer: int, seal: bytes, *, sequence: int = 1) -> Event:
    return ("ContractRegistry", "ContractPdfSigned", {
        "id": contract_id(project, 1), "project": digest(0, project), "signer": address(signer), "sequence": sequence,
        "revisionDigest": digest(signer, "revision"), "cmsDigest": digest(signer, "cms"), "seal": seal,
        "certFingerprint": digest(signer, "cert"),
    })


def hex32(value: bytes) -> str:
    return "0x" + value.hex()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CountingStore]:
    s = open_store(tmp_path / "chain")
    yield s
    s.close()


# -- the seal index -------------------------------------------------------------------------------


def test_a_seal_record_follows_registration_approvals_and_revocation(store: CountingStore) -> None:
    store_blocks(store, [
        Block().tx(seal_registered(SEAL_A, 2)).tx(seal_registered(SEAL_B, 3, "中标人合同专用章")),   # 1
        Block().tx(seal_approval(SEAL_A, 8, 1)),                                                   # 2
        Block().tx(seal_approval(SEAL_A, 9, 2), seal_approved(SEAL_A, 2)),                         # 3
        Block().tx(seal_registered(SEAL_C, 2, "second seal")).tx(seal_revoked(SEAL_B, 3, 3)),      # 4
    ], first_height=1)
    idx = Indexes(store)
    a = idx.seal(SEAL_A)
    assert (a["seal"], a["owner"], a["name"], a["status"]) == (hex32(SEAL_A), address(2), "Tenderer contract seal",
                                                                "Approved")
    assert (a["certFingerprint"], a["rootFingerprint"], a["pixelDigest"]) == (
        hex32(digest(2, "cert")), hex32(digest(2, "root")), hex32(digest(2, "pixels")))
    assert (a["approvals"], a["quorum"]) == (2, 2)
    assert [(x["admin"], x["cursor"]) for x in a["approvedBy"]] == [(address(8), "2-0"), (address(9), "3-0")]
    assert a["registered"]["cursor"] == "1-0" and a["approved"]["cursor"] == "3-1" and a["revoked"] is None
    assert a["registered"]["time"] == 1_700_000_001 and a["approved"]["transactionHash"].startswith("0x")
    b = idx.seal(SEAL_B)
    assert b["name"] == "中标人合同专用章" and b["status"] == "Revoked" and b["approved"] is None
    assert (b["revoked"]["by"], b["revoked"]["reasonDigest"], b["revoked"]["cursor"]) == (
        address(3), hex32(digest(0, "lost")), "4-1")
    assert (b["approvals"], b["quorum"], b["approvedBy"]) == (0, None, [])
    # the lists: every seal in registration order, by owner, by status (moved, order kept)
    assert [s["seal"] for s in idx.seals().items] == [hex32(SEAL_A), hex32(SEAL_B), hex32(SEAL_C)]
    assert [s["seal"] for s in idx.seals(reverse=True).items] == [hex32(SEAL_C), hex32(SEAL_B), hex32(SEAL_A)]
    assert [s["seal"] for s in idx.seals(owner=bytes.fromhex(address(2)[2:])).items] == [hex32(SEAL_A), hex32(SEAL_C)]
    assert idx.seals(owner=bytes.fromhex(address(5)[2:])).items == []
    assert [s["seal"] for s in idx.seals(status="Approved").items] == [hex32(SEAL_A)]
    assert [s["seal"] for s in idx.seals(status="Proposed").items] == [hex32(SEAL_C)]
    assert [s["seal"] for s in idx.seals(status="Revoked").items] == [hex32(SEAL_B)]
    # one status entry per seal: the old ones were moved, not copied
    assert len(store.scan(schema.SEAL_BY_STATUS, schema.prefix_end(schema.SEAL_BY_STATUS), limit=100)) == 3
    counters = idx.counters()
    assert (counters["seals"], counters["seals.Proposed"], counters["seals.Approved"], counters["seals.Revoked"]) == (
        3, 1, 1, 1)
    # on the feed's identity topic, with the members' events
    assert [e["event"] for e in idx.feed(["identity"], after=None)] == [
        "SealRegistered", "SealRegistered", "SealApproval", "SealApproval", "SealApproved", "SealRegistered",
        "SealRevoked"]
    with pytest.raises(NotFound):
        idx.seal(digest(99, "seal"))


def test_a_seal_revoked_before_its_approval_leaves_the_proposed_list(store: CountingStore) -> None:
    store_blocks(store, [Block().tx(seal_registered(SEAL_A, 2)), Block().tx(seal_revoked(SEAL_A, 2, 9))], first_height=1)
    idx = Indexes(store)
    assert idx.seals(status="Proposed").items == [] and len(idx.seals(status="Revoked").items) == 1
    assert idx.counters()["seals.Proposed"] == 0 and idx.counters()["seals.Revoked"] == 1
    assert idx.seal(SEAL_A)["revoked"]["by"] == address(9)


def test_seal_pages_cover_the_index_once_and_queries_use_one_index(store: CountingStore) -> None:
    store_blocks(store, [Block().tx(*(seal_registered(digest(h * 10 + i, "many"), 2 + i % 2) for i in range(10)))
                         for h in range(1, 6)], first_height=1)
    idx = Indexes(store)
    for reverse in (False, True):
        seen: list[str] = []
        after = None
        while True:
            page = idx.seals(owner=bytes.fromhex(address(3)[2:]), after=after, limit=4, reverse=reverse)
            seen.extend(s["registered"]["cursor"] for s in page.items)
            after = page.next
            if after is None:
                break
        assert len(seen) == len(set(seen)) == 25
        assert seen == sorted(seen, key=lambda c: tuple(map(int, c.split("-"))), reverse=reverse)
    with pytest.raises(InvalidParams):
        idx.seals(owner=bytes.fromhex(address(2)[2:]), status="Approved")
    with pytest.raises(InvalidParams):
        idx.seals(status="approved-ish")


def test_every_index_prefix_is_named_for_the_verifier() -> None:
    """`ledger chain verify` names the index of a key that differs; a prefix it does not
    know would be "unknown index" in a court's verdict."""
    prefixes = {value for name, value in vars(schema).items()
                if name.isupper() and isinstance(value, bytes) and len(value) == 3 and value.startswith(b"x")}
    assert {schema.SEAL, schema.SEAL_ALL, schema.SEAL_BY_OWNER, schema.SEAL_BY_STATUS} <= prefixes
    assert prefixes - set(INDEX_NAMES) == set()
    assert {schema.SEAL_ALL, schema.SEAL_BY_OWNER, schema.SEAL_BY_STATUS} <= CURSOR_KEYED


# -- contract signatures with a PDF ---------------------------------------------------------------


def test_contract_pdf_signed_adds_the_pdf_to_its_signature_only(store: CountingStore) -> None:
    store_blocks(store, [
        Block().tx(registered("P-1", [2, 3])),
        Block().tx(signed("P-1", 2)),                                                    # sign: no PDF
        Block().tx(signed("P-1", 3, signatures=2), pdf_signed("P-1", 3, SEAL_B, sequence=2)),
    ], first_height=1)
    idx = Indexes(store)
    first, second = idx.contract(contract_id("P-1", 1))["signatures"]
    assert first["signer"] == address(2) and first["pdf"] is None
    assert second["signer"] == address(3) and second["pdf"] == {
        "sequence": 2, "revisionDigest": hex32(digest(3, "revision")), "cmsDigest": hex32(digest(3, "cms")),
        "seal": hex32(SEAL_B)}
    # stored as before for a signature without a PDF: records of older blocks replay the same
    raw = store.get(schema.CONTRACT + contract_id("P-1", 1))
    assert raw is not None and raw.count(b'"pdf"') == 1
    # the lists read the same normalised record
    assert [s["pdf"] is None for s in idx.contracts(project="P-1").items[0]["signatures"]] == [True, False]
    history = idx.contract_events(contract_id("P-1", 1)).items
    assert [e["event"] for e in history] == ["ContractRegistered", "ContractSigned", "ContractSigned",
                                             "ContractPdfSigned"]


# -- how a seal stood at signing ------------------------------------------------------------------


def when(cursor: str, **more: Any) -> dict[str, Any]:
    height = int(cursor.split("-")[0])
    return {"block": height, "time": 1_700_000_000 + height, "cursor": cursor, "transactionHash": "0x" + "ab" * 32,
            **more}


SIGNER, CERT = address(3), hex32(digest(3, "cert"))
SIGNATURE = {"signer": SIGNER, "certFingerprint": CERT, **when("10-4")}


def seal_record(*, approved: str | None = "9-0", revoked: str | None = None, owner: str = SIGNER,
                cert: str = CERT) -> dict[str, Any]:
    return {"seal": hex32(SEAL_B), "owner": owner, "certFingerprint": cert, "registered": when("8-0"),
            "approved": when(approved) if approved else None,
            "revoked": when(revoked, by=address(9), reasonDigest="0x" + "00" * 32) if revoked else None,
            "status": "Revoked" if revoked else "Approved" if approved else "Proposed"}


@pytest.mark.parametrize(("approved", "revoked", "status", "revoked_since"), [
    ("9-0", None, SEAL_APPROVED, None),
    ("10-3", None, SEAL_APPROVED, None),                  # approved earlier in the signature's block
    ("10-5", None, SEAL_NOT_YET_APPROVED, None),          # later in the same block: not yet
    ("11-0", None, SEAL_NOT_YET_APPROVED, None),
    (None, None, SEAL_NOT_YET_APPROVED, None),
    ("9-0", "10-3", SEAL_REVOKED_BEFORE, None),           # revoked earlier in the same block
    ("9-0", "10-5", SEAL_APPROVED, "10-5"),               # revoked later in the same block: since
    ("9-0", "12-0", SEAL_APPROVED, "12-0"),
    (None, "9-0", SEAL_REVOKED_BEFORE, None),             # revoked while still proposed
    (None, "12-0", SEAL_NOT_YET_APPROVED, "12-0"),
])
def test_seal_status_at_signing_is_by_chain_order(approved: str | None, revoked: str | None, status: str,
                                                  revoked_since: str | None) -> None:
    flags = seal_at_signing(SIGNATURE, seal_record(approved=approved, revoked=revoked))
    assert flags["sealStatusAtSigning"] == status
    assert (flags["sealRevokedSince"] or {}).get("cursor") == revoked_since
    assert flags["sealMatchesSigner"] is True


def test_the_document_lists_every_verdict() -> None:
    """The OpenAPI document's `sealStatusAtSigning` values are the ones seal_at_signing gives."""
    annotation = SignatureView.model_fields["sealStatusAtSigning"].annotation
    (literal,) = [arg for arg in get_args(annotation) if arg is not type(None)]
    assert set(get_args(literal)) == set(SEAL_VERDICTS)


def test_a_seal_matches_its_signer_only_with_owner_and_certificate() -> None:
    assert seal_at_signing(SIGNATURE, seal_record(owner=SIGNER.upper().replace("0X", "0x")))["sealMatchesSigner"]
    assert not seal_at_signing(SIGNATURE, seal_record(owner=address(2)))["sealMatchesSigner"]
    # the signer's seal, bound to another certificate of its (a renewed one)
    assert not seal_at_signing(SIGNATURE, seal_record(cert=hex32(digest(4, "cert"))))["sealMatchesSigner"]
    assert seal_at_signing(SIGNATURE, None) == {"sealMatchesSigner": False, "sealStatusAtSigning": SEAL_UNREGISTERED,
                                                "sealRevokedSince": None}


# -- logs recorded from a real node ---------------------------------------------------------------


def test_the_recorded_logs_of_a_real_node_index_into_seals_and_pdf_signatures(store: CountingStore) -> None:
    """The logs a real node's registries emitted (three seals registered and approved, a
    contract signed as PDFs twice over, seals revoked by their owner and by an admin),
    indexed block by block as Chain.commit does: every seal has its record in the state
    its events left it, every PDF signature its `pdf`, and — the registry's own rule —
    each PDF signature's seal was the signer's and approved when it signed."""
    by_block: dict[int, list[dict[str, Any]]] = {}
    for tx in json.loads(RECORDED.read_text())["transactions"]:
        if tx["logs"]:
            by_block.setdefault(int(tx["logs"][0]["blockNumber"], 16), []).append(tx)
    writes: dict[bytes, bytes | None] = {}
    for height in sorted(by_block):
        txs = sorted(by_block[height], key=lambda tx: int(tx["logs"][0]["transactionIndex"], 16))
        receipts = [Receipt([Log(bytes.fromhex(log["address"][2:]), [int(topic, 16) for topic in log["topics"]],
                                 bytes.fromhex(log["data"][2:])) for log in tx["logs"]]) for tx in txs]
        index_block(IndexBatch(store.get, writes), height, bytes.fromhex(txs[0]["logs"][0]["blockHash"][2:]),
                    1_700_000_000 + height, [Tx(bytes.fromhex(tx["transactionHash"][2:])) for tx in txs], receipts)
    store.write_batch(writes)
    idx = Indexes(store)
    events = idx.feed(["identity", "contracts"], after=None, limit=1000)
    registered = [e["args"] for e in events if e["event"] == "SealRegistered"]
    revoked = {e["args"]["seal"]: e["args"]["by"] for e in events if e["event"] == "SealRevoked"}
    assert len(registered) == 3 and len(revoked) == 2
    for args in registered:
        record = idx.seal(bytes.fromhex(args["seal"][2:]))
        assert (record["owner"], record["name"], record["certFingerprint"]) == (
            args["owner"], args["name"], args["certFingerprint"])
        assert record["approved"] is not None and record["approvals"] == len(record["approvedBy"]) >= 1
        assert record["status"] == ("Revoked" if args["seal"] in revoked else "Approved")
        assert (record["revoked"] or {}).get("by") == revoked.get(args["seal"])
    assert [s["status"] for s in idx.seals().items] == [
        "Revoked" if a["seal"] in revoked else "Approved" for a in registered]
    pdf_events = [e for e in events if e["event"] == "ContractPdfSigned"]
    assert pdf_events
    for event in pdf_events:
        a = event["args"]
        (signature,) = [s for s in idx.contract(bytes.fromhex(a["id"][2:]))["signatures"] if s["signer"] == a["signer"]]
        assert signature["pdf"] == {"sequence": a["sequence"], "revisionDigest": a["revisionDigest"],
                                    "cmsDigest": a["cmsDigest"], "seal": a["seal"]}
        flags = seal_at_signing(signature, idx.seal(bytes.fromhex(a["seal"][2:])))
        assert flags["sealMatchesSigner"] is True and flags["sealStatusAtSigning"] == SEAL_APPROVED, flags
        # the recording revokes seals after every signature: each shows as revoked since
        assert (flags["sealRevokedSince"] is not None) == (a["seal"] in revoked)
    assert {e["args"]["seal"] for e in pdf_events} & set(revoked), "the recording revokes a seal that signed"
