"""Record every event the system contracts emit, as a real node serves them, into logs.json.

Starts a permissioned single-validator node (tests/integration/permissioned.py), plays a
story through the SDK that makes each of the contracts' 27 events at least once, and
writes each transaction's receipt logs exactly as eth_getTransactionReceipt returned
them. tests/unit/chaincode/test_events.py decodes them with chaincode/events.py and holds
the result to web3's and eth_abi's decoding of the same logs.

Run from the repository root (a minute): .venv/bin/python tests/vectors/system_events/record.py
"""
from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives import serialization  # noqa: E402

from chaincode import ACTION_DISTRUST_ROOT, ACTION_GRANT_ROLES, ACTION_SET_CA_ADMIN, DIGEST_ALGORITHMS, ROLE_BITS  # noqa: E402
from chaincode.events import EVENT_TYPES  # noqa: E402
from client import devpki  # noqa: E402
from client.ledger import Ledger, TxResult  # noqa: E402
from tests import pki  # noqa: E402
from tests.integration.permissioned import account_key, address_of, start_network  # noqa: E402

OUT = Path(__file__).with_name("logs.json")


def main() -> None:
    with tempfile.TemporaryDirectory() as base:
        net = start_network(Path(base), [("admin", "ADMIN"), ("regulator", "REGULATOR")])
        try:
            transactions = play(net.url)
        finally:
            net.node.stop()
    names = {e["event"] for tx in transactions for e in tx["names"]}
    missing = sorted(t.name for t in EVENT_TYPES.values() if t.name not in names)
    if missing:
        raise SystemExit(f"the story made no {', '.join(missing)}")
    for tx in transactions:
        del tx["names"]
    OUT.write_text(json.dumps({
        "source": "tests/vectors/system_events/record.py: a permissioned evidence-ledger node, chain 4242, "
                  f"recorded {datetime.now(UTC):%Y-%m-%d}",
        "transactions": transactions,
    }, indent=1) + "\n")
    print(f"{len(transactions)} transactions, {sum(len(t['logs']) for t in transactions)} logs -> {OUT}")


def play(url: str) -> list[dict[str, Any]]:
    def ledger(name: str) -> Ledger:
        return Ledger(url, account_key(name))

    recorded: list[dict[str, Any]] = []

    def keep(what: str, result: TxResult) -> TxResult:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getTransactionReceipt",
                           "params": ["0x" + result.tx_hash.hex()]}).encode()
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            receipt = json.loads(response.read())["result"]
        recorded.append({"what": what, "transactionHash": receipt["transactionHash"], "logs": receipt["logs"],
                         "names": [{"event": name} for name in result.events]})
        return result

    admin, regulator = ledger("admin"), ledger("regulator")
    ca = pki.p256_ca()
    fingerprint = hashlib.sha256(ca.root_der).digest()
    # IdentityRegistry: one admin is a quorum, so each proposal executes at once.
    keep("trust a root", admin.propose_trust_root(ca.root_der, address_of("admin")))
    keep("set its CA admin", admin.propose(ACTION_SET_CA_ADMIN, fingerprint, int(address_of("admin"), 16)))
    identities = {name: ca.issue(name.title(), "p256", serial=serial)
                  for name, serial in (("center", 1001), ("tenderer", 1002), ("bidder", 1003), ("spare", 1004))}
    for name, identity in identities.items():
        keep(f"register {name}", ledger(name).register_member(identity))
    keep("grant TRADING_CENTER", admin.propose(ACTION_GRANT_ROLES, bytes.fromhex(address_of("center")[2:]),
                                               ROLE_BITS["TRADING_CENTER"]))
    # SealRegistry: each party's seal (digests of an image file and its pixels; the chain
    # records only digests), approved by the one admin, a quorum of one.
    center, tenderer, bidder = ledger("center"), ledger("tenderer"), ledger("bidder")
    seals = {name: hashlib.sha256(f"{name} seal.png".encode()).digest() for name in ("tenderer", "bidder", "spare")}
    for name, title in (("tenderer", "投标人合同专用章"), ("bidder", "Bidder contract seal"), ("spare", "Spare seal")):
        keep(f"register {name}'s seal", ledger(name).register_seal(
            identities[name], seals[name], hashlib.sha256(f"{name} seal pixels".encode()).digest(), title))
        keep(f"approve {name}'s seal", admin.approve_seal(seals[name]))
    # ContractRegistry: the first contract signed as PDFs (each party's revision, CMS and seal)
    parties = [address_of("tenderer"), address_of("bidder")]
    first = keep("register a contract", center.register_contract(
        "P-2026-工程-001", hashlib.sha256(b"contract v1").digest(), parties, amount=125_000_000,
        metadata_digest=hashlib.sha256(b"metadata").digest())).events["ContractRegistered"][0]["id"]
    keep("tenderer signs the PDF", tenderer.sign_contract_pdf(
        first, identities["tenderer"], revision_digest=hashlib.sha256(b"contract v1, tenderer's revision").digest(),
        cms_digest=hashlib.sha256(b"tenderer's CMS").digest(), seal=seals["tenderer"]))
    keep("bidder signs the PDF: effective", bidder.sign_contract_pdf(
        first, identities["bidder"], revision_digest=hashlib.sha256(b"contract v1, bidder's revision").digest(),
        cms_digest=hashlib.sha256(b"bidder's CMS").digest(), seal=seals["bidder"]))
    second = keep("amend", center.amend_contract(first, hashlib.sha256(b"contract v2").digest())
                  ).events["ContractRegistered"][0]["id"]
    keep("tenderer signs v2", tenderer.sign_contract(second, identities["tenderer"]))
    keep("bidder signs v2: supersedes v1", bidder.sign_contract(second, identities["bidder"]))
    third = keep("register another", center.register_contract(
        "P-2026-002", hashlib.sha256(b"other").digest(), parties)).events["ContractRegistered"][0]["id"]
    keep("a party asks to void", tenderer.void_contract(third, hashlib.sha256(b"no longer needed").digest()))
    keep("the regulator voids", regulator.void_contract(third, hashlib.sha256(b"irregular tender").digest()))
    # CommitmentTracker
    keep("set the alert policy", admin.transact(admin.commitments.functions.set_policy(3 * 86400, 10 * 86400)))
    due_soon = int(time.time()) + 86400  # inside the 3-day reminder window: escalate raises a reminder
    added = keep("add a commitment", center.add_commitment(
        b"A-2026-0042".ljust(32, b"\x00"), "4.2 land handover", 1, "Land Bureau 土地局", address_of("tenderer"),
        address_of("bidder"), due_soon, hashlib.sha256(b"description").digest())).events["CommitmentAdded"][0]["id"]
    for result in admin.escalate_commitments([added]):
        keep("escalate it", result)
    keep("the obligor reports", tenderer.fulfil_commitment(added, hashlib.sha256(b"handover record").digest()))
    keep("the counterparty confirms", bidder.confirm_commitment(added))
    # EvidenceRegistry
    keep("anchor evidence", center.transact(center.evidence.functions.anchor(
        hashlib.sha256(b"a web page").digest(), 1, "webpage", "(2026) 京01民初123号", DIGEST_ALGORITHMS["sha256"],
        hashlib.sha256(b"capture metadata").digest())))
    # Revocation, by the CA admin and by a CRL; then the root distrusted.
    keep("revoke by serial", admin.revoke(ca.issuer_chain_der, [identities["spare"].chain[0].serial_number]))
    now = datetime.now(UTC) - timedelta(hours=1)
    crl = devpki.make_crl(ca.issuer, ca.issuer_key, [identities["bidder"].chain[0].serial_number],
                          this_update=now, next_update=now + timedelta(days=30), number=7)
    keep("submit a CRL", regulator.submit_crl(crl.public_bytes(serialization.Encoding.DER), ca.issuer_chain_der))
    # Seals revoked: by their owner, and by an admin.
    keep("the tenderer revokes its seal", tenderer.revoke_seal(seals["tenderer"], hashlib.sha256(b"seal lost").digest()))
    keep("an admin revokes the spare's seal", admin.revoke_seal(seals["spare"], hashlib.sha256(b"certificate revoked").digest()))
    keep("distrust the root", admin.propose(ACTION_DISTRUST_ROOT, fingerprint, 0))
    return recorded


if __name__ == "__main__":
    main()
