"""A contract's PDF signed in turn by its parties, each with its visible seal, over a real
dev node: two parties under two CAs (RSA; P-256 with an intermediate), both roots trusted
on chain, each with a seal registered and approved; one contract signed through the CLI
(`ledger contract sign --pdf`, the second party with a time-stamp from a `ledger tsa
serve` process) and one through the SDK (client/contract_pdf.py). Both become Effective;
`ledger contract verify-pdf` accepts them and names the step that fails for each tamper,
and pdfsig (with an NSS database trusting both roots) calls every signature valid. The
chain's seal rules are checked before anything is signed: an unregistered seal, one
still Proposed and another member's are refused with the reason, no file left behind
and nothing sent; when the chain itself refuses (a third party's certificate revoked
after its seal was approved), the signed PDF written before the transaction is removed.

The tampers are made by the helpers of tests/unit/client/test_pdf_contracts.py, which
checks each against the PDF core with chain facts built by hand; here they meet facts
read from a chain.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from fpdf import FPDF
from typer.testing import CliRunner

from chaincode import ROLE_BITS
from client import devpki
from client.cli import app
from client.contract_pdf import (
    ContractNotFound,
    ContractPdfError,
    chain_contract,
    find_contract,
    sign_and_record,
    verify_pdf,
)
from client.credentials import CertificateIdentity
from client.ledger import Ledger, TxResult
from client.pdf_contract_checks import VERIFY_STEPS
from client.pdf_contracts import sign_contract_pdf
from client.seals import SealImage, draw_seal, load_seal_image
from tests import pki, tsa as fixed_tsa
from tests.integration.cli_runs import Cli, Run
from tests.integration.nodeproc import NodeProcess, rpc
from tests.integration.permissioned import account_key, address_of
from tests.integration.test_tsa import PASSPHRASE, TSAProcess
from tests.unit.client.pdftools import add_page, change_in_place, needs, nss_database, pdfsig, replace_seal_image

pytestmark = pytest.mark.slow

ACTION_GRANT_ROLES = 3  # IdentityRegistry's proposal action (chaincode.PROPOSAL_ACTIONS)
# account name -> (common name, organisation, CA, key type, seal name, seal code)
PARTIES: dict[str, tuple[str, str, str, devpki.KeyType, str, str]] = {
    "buyer": ("Buyer Procurement Office", "某某区公共资源交易中心采购人", "rsa", "rsa2048", "采购人合同专用章",
              "1101080012345"),
    "supplier": ("Supplier Engineering", "某某路桥工程有限公司", "p256", "p256", "某某路桥工程有限公司合同专用章",
                 "1101080054321"),
    # a guarantor whose certificate the CA revokes after its seal was approved
    "guarantor": ("Guarantor Finance", "某某融资担保有限公司", "rsa", "p256", "某某融资担保有限公司合同专用章",
                  "1101080099999"),
}
CLI, SDK, REFUSED, REVOKED = "PDF-2026-CLI", "PDF-2026-SDK", "PDF-2026-REFUSED", "PDF-2026-REVOKED"
PROJECT_PARTIES = {CLI: ("buyer", "supplier"), SDK: ("buyer", "supplier"), REFUSED: ("buyer", "supplier"),
                   REVOKED: ("guarantor", "buyer")}

runner = CliRunner()


# -- the world -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    name: str
    identity: CertificateIdentity
    seal: SealImage
    chain_pem: Path
    key_pem: Path
    seal_png: Path
    account: Path

    @property
    def address(self) -> str:
        return address_of(self.name)

    def ledger(self, url: str) -> Ledger:
        return Ledger(url, account_key(self.name))

    def cli_identity(self) -> list[str]:
        return ["--cert", str(self.chain_pem), "--cert-key", str(self.key_pem), "--key", str(self.account)]


@dataclass
class Desk:
    node: NodeProcess
    base: Path
    parties: dict[str, Party]
    contracts: dict[str, bytes]          # project -> id
    documents: dict[str, Path]           # project -> the registered PDF
    proposed_seal: Path                  # the buyer's second seal, registered, never approved
    unregistered_seal: Path
    tsa_url: str
    tsa_root: Path
    signed: dict[str, list[Path]] = field(default_factory=dict)  # project -> each party's output, in turn
    verdicts: dict[str, Any] = field(default_factory=dict)       # what was verified along the way

    @property
    def url(self) -> str:
        return self.node.url


def contract_pdf(project: str) -> bytes:
    """A two-page contract (fpdf2, uncompressed so a tamper can change a word in place)."""
    pdf = FPDF()
    pdf.set_creation_date(pki.NOT_BEFORE)
    pdf.set_compression(False)
    pdf.set_font("helvetica", size=12)
    for number in range(2):
        pdf.add_page()
        pdf.cell(0, 10, f"Road resurfacing contract {project}, page {number + 1} of 2")
        pdf.ln(12)
        pdf.multi_cell(0, 6, "The Supplier resurfaces Lot 3 for the Buyer at the agreed price. " * 8)
    return bytes(pdf.output())


def write_party(base: Path, name: str) -> Party:
    common_name, organisation, ca, kind, seal_name, seal_code = PARTIES[name]
    identity = (pki.rsa_ca() if ca == "rsa" else pki.p256_ca()).issue(common_name, kind, organization=organisation)
    chain_pem, key_pem, seal_png, account = (base / f"{name}-{what}" for what in ("chain.pem", "key.pem", "seal.png",
                                                                                   "account.key"))
    chain_pem.write_bytes(devpki.chain_pem(identity.chain))
    key_pem.write_bytes(devpki.private_key_pem(identity.key))
    png = draw_seal(seal_name, code=seal_code)
    seal_png.write_bytes(png)
    account.write_text("0x" + account_key(name).hex() + "\n")
    return Party(name, identity, load_seal_image(png), chain_pem, key_pem, seal_png, account)


def sent_together(ledger: Ledger, *functions: Any) -> list[TxResult]:
    """Send one account's transactions back to back (consecutive nonces) and wait for all:
    they share a block instead of taking one each."""
    hashes = [ledger.send(f) for f in functions]
    return [ledger.wait(h, f) for h, f in zip(hashes, functions)]


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    base = tmp_path_factory.mktemp("contract-pdf-tsa")
    ledger_cli("ca", "new", "--name", "Consortium TSA CA", "--org", "Trading Center", "--out", base / "ca").ok()
    passphrase = base / "passphrase"
    passphrase.write_text(PASSPHRASE + "\n")
    process = TSAProcess(base / "data", base / "ca", passphrase).start()
    try:
        yield process.url, base / "ca" / "ca.pem"
    finally:
        process.stop()


@pytest.fixture(scope="module")
def desk(dev_node: NodeProcess, tsa: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Desk:
    """The admin (the dev account, a quorum alone) trusts both CAs and takes TRADING_CENTER;
    the parties register their certificates and seals; the admin approves the seals,
    registers the contracts and revokes the guarantor's certificate (as its CA's admin).
    Independent transactions share blocks."""
    base = tmp_path_factory.mktemp("contract-pdf")
    parties = {name: write_party(base, name) for name in PARTIES}
    buyer = parties["buyer"]
    admin = Ledger(dev_node.url, bytes.fromhex(dev_node.dev_key.removeprefix("0x")))
    ids = admin.identity.functions
    sent_together(admin, ids.propose_trust_root(pki.rsa_ca().root_der, admin.address),
                  ids.propose_trust_root(pki.p256_ca().root_der, admin.address),
                  ids.propose(ACTION_GRANT_ROLES, bytes.fromhex(admin.address[2:]).rjust(32, b"\x00"),
                              ROLE_BITS["TRADING_CENTER"]))
    with ThreadPoolExecutor(len(parties)) as pool:
        list(pool.map(lambda p: p.ledger(dev_node.url).register_member(p.identity), parties.values()))

    proposed = load_seal_image(draw_seal("采购人合同专用章（备用）", code="1101080012346"))
    (base / "buyer-proposed-seal.png").write_bytes(proposed.data)
    unregistered = base / "stranger-seal.png"
    unregistered.write_bytes(draw_seal("未登记印章 Unregistered seal"))
    documents = {}
    for project in PROJECT_PARTIES:
        documents[project] = base / f"{project}.pdf"
        documents[project].write_bytes(contract_pdf(project))

    def register_seals(party: Party) -> None:
        ledger = party.ledger(dev_node.url)
        ledger.register_seal(party.identity, party.seal.digest, party.seal.pixel_digest, PARTIES[party.name][4])
        if party is buyer:
            ledger.register_seal(party.identity, proposed.digest, proposed.pixel_digest, "采购人合同专用章（备用）")

    with ThreadPoolExecutor(len(parties) + 1) as pool:
        seals = [pool.submit(register_seals, p) for p in parties.values()]
        registered = pool.submit(sent_together, admin, *(
            admin.contracts.functions.register(project, hashlib.sha256(documents[project].read_bytes()).digest(), 1,
                                               [parties[n].address for n in names], 125_000_000, b"\x00" * 32)
            for project, names in PROJECT_PARTIES.items()))
        for future in seals:
            future.result()
        contracts = {project: result.events["ContractRegistered"][0]["id"]
                     for project, result in zip(PROJECT_PARTIES, registered.result())}
    guarantor = parties["guarantor"].identity.chain[0]
    sent_together(admin, *(admin.seals.functions.approve(p.seal.digest) for p in parties.values()),
                  ids.revoke(pki.rsa_ca().issuer_chain_der, [guarantor.serial_number]))
    return Desk(dev_node, base, parties, contracts, documents, base / "buyer-proposed-seal.png", unregistered,
                tsa[0], tsa[1])


# -- the CLI ---------------------------------------------------------------------------------------


def ledger_cli(*args: object, rpc_url: str | None = None) -> Run:
    """`python -m client.cli ARGS` as a process (tests/integration/cli_runs.py)."""
    return Cli(rpc_url).run(*args)


def verify_cli(desk: Desk, pdf: Path | bytes, *args: object) -> Run:
    """`ledger contract verify-pdf` in this process (the same command, without a second
    of start-up per tamper)."""
    if isinstance(pdf, bytes):
        path = desk.base / f"case-{hashlib.sha256(pdf).hexdigest()[:16]}.pdf"
        path.write_bytes(pdf)
        pdf = path
    argv = ["contract", "verify-pdf", str(pdf), *map(str, args), "--rpc", desk.url]
    result = runner.invoke(app, argv, env={"LEDGER_TOKEN": None, "LEDGER_TOKEN_FILE": None})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a crash, not an exit code
    return Run(tuple(argv), result.exit_code, result.stdout, result.stderr)


# -- the two flows ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_flow(desk: Desk) -> list[dict[str, Any]]:
    """The buyer signs the registered PDF (automatic placement, B-B), the supplier the
    buyer's output (at a position, with the TSA: B-T), both with `ledger contract sign --pdf`."""
    buyer, supplier = desk.parties["buyer"], desk.parties["supplier"]
    first, second = desk.base / "cli-1-buyer.pdf", desk.base / "cli-2-supplier.pdf"
    outputs = [ledger_cli("contract", "sign", "--project", CLI, "--pdf", desk.documents[CLI], "--seal", buyer.seal_png,
                          "--out", first, "--reason", "采购人签署", *buyer.cli_identity(), "--json",
                          rpc_url=desk.url).json()]
    outputs.append(ledger_cli("contract", "sign", "0x" + desk.contracts[CLI].hex(), "--pdf", first, "--seal",
                              supplier.seal_png, "--out", second, "--position", "-1,120,200", "--tsa", desk.tsa_url,
                              "--location", "Beijing", *supplier.cli_identity(), "--json", rpc_url=desk.url).json())
    desk.signed[CLI] = [first, second]
    return outputs


@pytest.fixture(scope="module")
def sdk_flow(desk: Desk) -> list[TxResult]:
    """The same through client/contract_pdf.py: each party's Ledger, Signer and seal."""
    document = desk.documents[SDK].read_bytes()
    results, outputs = [], []
    for number, name in enumerate(("buyer", "supplier"), 1):
        party = desk.parties[name]
        out = desk.base / f"sdk-{number}-{name}.pdf"
        if number == 2:  # the registered PDF once more: no longer where the supplier signs
            with pytest.raises(ContractPdfError) as refused:
                sign_and_record(party.ledger(desk.url), desk.contracts[SDK], desk.documents[SDK].read_bytes(),
                                party.identity, party.seal, out=out)
            desk.verdicts["not the supplier's turn"] = refused.value
            assert not out.exists()
        revision, result = sign_and_record(party.ledger(desk.url), desk.contracts[SDK], document, party.identity,
                                           party.seal, out=out)
        assert out.read_bytes() == revision.pdf and revision.pdf.startswith(document)
        document = revision.pdf
        results.append(result)
        outputs.append(out)
        # Each revision as it stood when the chain had just recorded it.
        desk.verdicts[f"sdk-{number} when signed"] = verify_pdf(Ledger(desk.url), revision.pdf)
    desk.signed[SDK] = outputs
    return results


# -- tests -----------------------------------------------------------------------------------------


def test_two_parties_sign_in_turn_through_the_cli(desk: Desk, cli_flow: list[dict[str, Any]]) -> None:
    first, second = cli_flow
    assert (first["signatures"], first["effective"], first["pdf"]["sequence"], first["pdf"]["level"]) == (1, False, 1, "B-B")
    assert (second["signatures"], second["effective"], second["pdf"]["sequence"], second["pdf"]["level"]) == (2, True, 2, "B-T")
    assert second["pdf"]["page"] == 2 and second["pdf"]["out"] == str(desk.signed[CLI][1])
    signed = [path.read_bytes() for path in desk.signed[CLI]]
    assert signed[1].startswith(signed[0]) and signed[0].startswith(desk.documents[CLI].read_bytes())
    # What the chain recorded is what the files hold.
    for output, path in zip(cli_flow, desk.signed[CLI]):
        assert output["pdf"]["revisionDigest"] == "0x" + hashlib.sha256(path.read_bytes()).hexdigest()
        assert output["events"]["ContractPdfSigned"][0]["seal"] == output["pdf"]["seal"]
    shown = ledger_cli("contract", "show", "--project", CLI, "--json", rpc_url=desk.url).json()
    assert shown["status"] == "Effective"
    assert [p["attestation"]["pdf"]["sequence"] for p in shown["parties"]] == [1, 2]
    assert shown["parties"][1]["attestation"]["pdf"]["seal"] == "0x" + desk.parties["supplier"].seal.digest.hex()


def test_verify_pdf_accepts_the_cli_contract_and_checks_the_time_stamp(desk: Desk, cli_flow: Any) -> None:
    signed = desk.signed[CLI][1]
    done = ledger_cli("contract", "verify-pdf", signed, "--tsa-root", desk.tsa_root, rpc_url=desk.url).ok()
    for step in VERIFY_STEPS:
        assert f"✓ {step}: " in done.out, done.out
    assert "TSA checked against the given roots" in done.out
    assert done.last_line.startswith("VALID: signed by all 2 parties"), done.out
    assert "采购人合同专用章" in done.out and "B-T" in done.out
    report = verify_cli(desk, signed, "--tsa-root", desk.tsa_root, "--json").json()
    assert report["ok"] and report["complete"] and report["failedStep"] is None
    assert report["contract"]["projectCode"] == CLI and report["contract"]["status"] == "Effective"
    parties = [s["party"] for s in report["signatures"]]
    assert parties == [desk.parties["buyer"].address, desk.parties["supplier"].address]
    assert [s["level"] for s in report["signatures"]] == ["B-B", "B-T"]
    assert report["signatures"][1]["tsaTime"] is not None and report["signatures"][0]["tsaTime"] is None
    assert all(s["chainTime"] for s in report["signatures"])
    # Without a TSA root the token is not checked, and says so; another TSA's root fails it.
    unchecked = verify_cli(desk, signed, "--json").json()
    assert unchecked["ok"] and "not checked" in unchecked["checks"][-1]["detail"]
    other = desk.base / "other-tsa-root.pem"
    other.write_bytes(fixed_tsa.independent().root_pem)
    refused = verify_cli(desk, signed, "--tsa-root", other)
    assert refused.code == 1 and refused.last_line.startswith("verify-pdf failed at timestamps: "), refused


def test_two_parties_sign_in_turn_through_the_sdk(desk: Desk, sdk_flow: list[TxResult]) -> None:
    first, second = sdk_flow
    assert "ContractEffective" not in first.events and "ContractEffective" in second.events
    assert [r.events["ContractPdfSigned"][0]["sequence"] for r in sdk_flow] == [1, 2]
    reader = Ledger(desk.url)
    verdict = verify_pdf(reader, desk.signed[SDK][1].read_bytes())  # the contract found by its document
    assert verdict.ok and verdict.complete, verdict.checks
    assert [s.seal_name for s in verdict.signatures] == [PARTIES["buyer"][4], PARTIES["supplier"][4]]
    assert find_contract(reader, desk.signed[SDK][0].read_bytes()) == desk.contracts[SDK]


def test_sign_and_record_refuses_a_pdf_that_is_not_where_the_party_signs(desk: Desk, sdk_flow: Any) -> None:
    refused = desk.verdicts["not the supplier's turn"]
    assert refused.check == "document" and "registered PDF, but 1 of its 2 parties have signed since" in refused.reason
    buyer = desk.parties["buyer"]
    with pytest.raises(ContractPdfError) as again:  # the contract is Effective now
        sign_and_record(buyer.ledger(desk.url), desk.contracts[SDK], desk.signed[SDK][1].read_bytes(), buyer.identity,
                        buyer.seal)
    assert again.value.check == "contract" and "is Effective" in again.value.reason


def test_roots_come_from_the_chain_without_the_pdf(desk: Desk, sdk_flow: Any) -> None:
    """Roots trusted after genesis are found in the identity registry's RootProposed events."""
    contract = chain_contract(Ledger(desk.url), desk.contracts[SDK])
    assert set(contract.roots) == {hashlib.sha256(ca.root_der).digest() for ca in (pki.rsa_ca(), pki.p256_ca())}
    assert contract.status == "Effective" and len(contract.seals) == 2


def test_the_intermediate_revision_verified_so_far_then_refused_once_both_signed(desk: Desk, sdk_flow: Any) -> None:
    then = desk.verdicts["sdk-1 when signed"]
    assert then.ok and not then.complete, then.checks
    assert desk.verdicts["sdk-2 when signed"].complete
    done = verify_cli(desk, desk.signed[SDK][0], "--project", SDK)
    assert done.code == 1 and done.last_line.startswith("verify-pdf failed at parties: an earlier revision"), done


def test_a_pdf_whose_first_revision_is_not_the_registered_document(desk: Desk, cli_flow: Any) -> None:
    """The CLI contract's signed PDF, checked as the SDK contract's: valid signatures by
    the same parties, but over another document."""
    done = verify_cli(desk, desk.signed[CLI][1], "0x" + desk.contracts[SDK].hex())
    assert done.code == 1 and done.last_line.startswith("verify-pdf failed at registered: "), done


@pytest.mark.parametrize("how, step", [
    ("a byte changed in the content", "registered"),
    ("a page added after signing", "modifications"),
    ("the seal image replaced", "seals"),
    ("a CMS the chain never recorded", "parties"),
])
def test_verify_pdf_names_the_step_a_tamper_fails(desk: Desk, sdk_flow: Any, how: str, step: str) -> None:
    signed = desk.signed[SDK][1].read_bytes()
    if how == "a byte changed in the content":
        pdf = change_in_place(signed, b"Lot 3", b"Lot 8")
    elif how == "a page added after signing":
        pdf = add_page(signed)
    elif how == "the seal image replaced":
        pdf = replace_seal_image(signed, "Seal2", desk.parties["buyer"].seal)
    else:  # a valid signature by the buyer's registered certificate and seal, never sent to the chain
        pdf = sign_contract_pdf(desk.documents[SDK].read_bytes(), desk.parties["buyer"].identity,
                                desk.parties["buyer"].seal).pdf
    done = verify_cli(desk, pdf, "--project", SDK)
    assert done.code == 1 and done.last_line.startswith(f"verify-pdf failed at {step}: "), done
    assert f"✗ {step}: " in done.out
    report = verify_cli(desk, pdf, "--project", SDK, "--json")
    assert report.code == 1 and json.loads(report.out)["failedStep"] == step


def test_a_pdf_of_no_contract_on_the_chain(desk: Desk) -> None:
    stranger = contract_pdf("PDF-2026-NOT-REGISTERED")
    with pytest.raises(ContractNotFound) as refused:
        find_contract(Ledger(desk.url), stranger)
    assert refused.value.exhausted
    done = verify_cli(desk, stranger)
    assert done.code == 1 and done.last_line.startswith("verify-pdf failed at registered: "), done
    not_a_pdf = verify_cli(desk, b"a contract, but not a PDF\n%%EOF\n")
    assert not_a_pdf.code == 1 and not_a_pdf.last_line.startswith("verify-pdf failed at format: "), not_a_pdf
    unreadable = verify_cli(desk, desk.base / "no-such.pdf")
    assert unreadable.code == 2


@pytest.mark.parametrize("case, reason", [
    ("an unregistered seal", "is not registered"),
    ("a seal still Proposed", "is Proposed: ask the admins to approve it"),
    ("another member's seal", "belongs to"),
])
def test_sign_pdf_with_a_seal_that_cannot_sign_is_refused(desk: Desk, case: str, reason: str) -> None:
    buyer = desk.parties["buyer"]
    seal = {"an unregistered seal": desk.unregistered_seal, "a seal still Proposed": desk.proposed_seal,
            "another member's seal": desk.parties["supplier"].seal_png}[case]
    out = desk.base / f"refused-{case.replace(' ', '-')}.pdf"
    nonce = rpc(desk.url, "eth_getTransactionCount", buyer.address, "latest")
    done = ledger_cli("contract", "sign", "--project", REFUSED, "--pdf", desk.documents[REFUSED], "--seal", seal,
                      "--out", out, *buyer.cli_identity(), rpc_url=desk.url)
    assert done.code == 1 and reason in done.err and "nothing was signed or sent" in done.err, done
    assert not out.exists()
    assert rpc(desk.url, "eth_getTransactionCount", buyer.address, "latest") == nonce
    assert Ledger(desk.url).contract(desk.contracts[REFUSED])["signed_mask"] == 0


def test_a_refusal_by_the_chain_removes_the_signed_pdf_it_was_to_describe(desk: Desk) -> None:
    """Every early check holds (a party, its registered certificate, its approved seal,
    the registered PDF); the chain refuses (the certificate was revoked): the PDF written
    before the transaction is removed, the chain's reason printed."""
    guarantor = desk.parties["guarantor"]
    out = desk.base / "refused-by-the-chain.pdf"
    done = ledger_cli("contract", "sign", "--project", REVOKED, "--pdf", desk.documents[REVOKED], "--seal",
                      guarantor.seal_png, "--out", out, *guarantor.cli_identity(), rpc_url=desk.url)
    assert done.code == 1 and "error: a certificate in the chain is revoked" in done.err, done
    assert not out.exists()
    assert Ledger(desk.url).contract(desk.contracts[REVOKED])["signed_mask"] == 0


def test_sign_pdf_usage_errors(desk: Desk, tmp_path: Path) -> None:
    buyer = desk.parties["buyer"]
    base = ["contract", "sign", "--project", REFUSED, *buyer.cli_identity(), "--rpc", desk.url]
    existing = tmp_path / "existing.pdf"
    existing.write_bytes(b"keep me")
    cases = {
        "--pdf needs --seal": [*base, "--pdf", str(desk.documents[REFUSED]), "--out", str(tmp_path / "x.pdf")],
        "is the input --pdf": [*base, "--pdf", str(desk.documents[REFUSED]), "--seal", str(buyer.seal_png),
                               "--out", str(desk.documents[REFUSED])],
        "refusing to overwrite": [*base, "--pdf", str(desk.documents[REFUSED]), "--seal", str(buyer.seal_png),
                                  "--out", str(existing)],
        "only with --pdf": [*base, "--seal", str(buyer.seal_png)],
        "pages count from 1": [*base, "--pdf", str(desk.documents[REFUSED]), "--seal", str(buyer.seal_png),
                               "--out", str(tmp_path / "y.pdf"), "--position", "0,10,10"],
    }
    for reason, argv in cases.items():
        result = runner.invoke(app, argv)
        assert result.exit_code == 2 and reason in result.output, (argv, result.output)
    assert existing.read_bytes() == b"keep me"


@needs["pdfsig"]
@needs["certutil"]
def test_pdfsig_calls_every_signature_valid(desk: Desk, cli_flow: Any, sdk_flow: Any, tmp_path: Path) -> None:
    roots: list[x509.Certificate] = [pki.rsa_ca().root, pki.p256_ca().root]
    nssdir = nss_database(tmp_path / "nss", roots)
    for project in (CLI, SDK):
        entries = pdfsig(desk.signed[project][1], nssdir)
        assert [e.common_name for e in entries] == [PARTIES["buyer"][0], PARTIES["supplier"][0]], entries
        for entry in entries:
            assert entry.signature == "Signature is Valid.", entry
            assert entry.certificate == "Certificate is Trusted.", entry
            assert entry.subfilter == "ETSI.CAdES.detached", entry
