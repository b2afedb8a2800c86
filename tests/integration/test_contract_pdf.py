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

Then the flow's edges: two parties signing the same base at once (a TSA relay holds the
second while the first records: the chain refuses the second, its file is removed); no
mixing of digest-only and PDF signatures; verify-pdf on a Voided and a Superseded contract
(fails at `status`), on an unknown contract (fails at `registered`, --json still a
document), and on a PDF whose document two contracts registered (the one whose signatures
the PDF carries is chosen); `out` never overwritten; a node that refuses or stops
answering before the transaction is sent (a JSON-RPC relay staging it: `out` removed,
"nothing was sent") and after (`RecordingUnknown`, `out` kept, the transaction named,
exit 3).

The tampers are made by the helpers of tests/unit/client/test_pdf_contracts.py, which
checks each against the PDF core with chain facts built by hand; here they meet facts
read from a chain.
"""
from __future__ import annotations

import dataclasses
import hashlib
import http.server
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from fpdf import FPDF
from typer.testing import CliRunner

from chaincode import ROLE_BITS
from client import devpki, pkifiles
from client.cli import app
from client.contract_pdf import PDF_CHECKS, RecordingUnknown, SignedMeanwhile, check_turn, sign_and_record, verify_pdf
from client.contract_pdf_facts import (
    AmbiguousContract,
    ContractNotFound,
    ContractPdfError,
    block_at_time,
    chain_contract,
    find_contract,
    find_roots,
    root_search_windows,
)
from client.credentials import CertificateIdentity
from client.errors import ClientError
from client.http import HttpError
from client.ledger import Ledger, TxResult, Unauthorized
from client.pdf_contract_checks import VERIFY_STEPS, ChainAttestation, ChainContract, ChainSeal
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
RACE, MIXED, VOIDED, AMENDED = "PDF-2026-RACE", "PDF-2026-MIXED", "PDF-2026-VOIDED", "PDF-2026-AMENDED"
TWIN_A, TWIN_B = "PDF-2026-TWIN-A", "PDF-2026-TWIN-B"    # the same document registered twice
OUT, BEFORE_SENDING, UNKNOWN = "PDF-2026-OUT", "PDF-2026-BEFORE-SENDING", "PDF-2026-UNKNOWN"
PROJECT_PARTIES = {CLI: ("buyer", "supplier"), SDK: ("buyer", "supplier"), REFUSED: ("buyer", "supplier"),
                   REVOKED: ("guarantor", "buyer"), RACE: ("buyer", "supplier"), MIXED: ("buyer", "supplier"),
                   VOIDED: ("buyer", "supplier"), AMENDED: ("buyer", "supplier"), TWIN_A: ("buyer", "supplier"),
                   TWIN_B: ("buyer", "supplier"), OUT: ("buyer", "supplier"), BEFORE_SENDING: ("buyer", "supplier"),
                   UNKNOWN: ("buyer", "supplier")}
# How long a test waits for what another thread or the node does (a relayed request, a
# receipt): far past what it takes, short of the suite's timeout.
WAIT_SECONDS = 60.0

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
    roots_block: int                     # where both CAs' roots were proposed
    signed: dict[str, list[Path]] = field(default_factory=dict)  # project -> each party's output, in turn
    verdicts: dict[str, Any] = field(default_factory=dict)       # what was verified along the way

    @property
    def url(self) -> str:
        return self.node.url

    def admin(self) -> Ledger:
        """The dev account: an admin, a quorum alone, and a trading center."""
        return Ledger(self.url, bytes.fromhex(self.node.dev_key.removeprefix("0x")))


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
    key_pem.write_bytes(pkifiles.private_key_pem(identity.key))
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
    trusted = sent_together(admin, ids.propose_trust_root(pki.rsa_ca().root_der, admin.address),
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
        documents[project].write_bytes(contract_pdf("PDF-2026-TWIN" if project in (TWIN_A, TWIN_B) else project))

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
                tsa[0], tsa[1], trusted[0].block_number)


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


# -- a relay that stages the network -------------------------------------------------------------


Decide = Callable[[bytes], "bytes | str | None"]


class Relay:
    """An HTTP relay on loopback in front of a real server (the node's JSON-RPC, the TSA)
    that stages what a network does to one request: `decide(body)` returns None to pass it
    on, "drop" to close the connection unanswered, "forward-then-drop" to pass it on and
    close without the answer (the node got it; the caller never hears), or bytes to answer
    with (a JSON-RPC error). It may block, to hold the request until the test lets it go.
    Every answer after a "forward-then-drop" is dropped too: the node stopped answering."""

    def __init__(self, target: str, decide: Decide) -> None:
        self.target = urllib.parse.urlsplit(target)
        self.decide = decide
        self.stopped_answering = False
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = "drop" if relay.stopped_answering else relay.decide(body)
                if action == "drop":
                    self.close_connection = True
                    return
                if isinstance(action, bytes):
                    self._answer(200, "application/json", action)
                    return
                status, content_type, answer = relay.forward(self.path, body, self.headers)
                if action == "forward-then-drop":
                    relay.stopped_answering = True
                    self.close_connection = True
                    return
                self._answer(status, content_type, answer)

            def _answer(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.target.path or '/'}"

    def forward(self, path: str, body: bytes, headers: Any) -> tuple[int, str, bytes]:
        request = urllib.request.Request(f"{self.target.scheme}://{self.target.netloc}{path}", data=body,
                                         method="POST", headers={k: v for k, v in headers.items()
                                                                 if k.lower() in ("content-type", "accept",
                                                                                  "authorization")})
        try:
            with urllib.request.urlopen(request, timeout=WAIT_SECONDS) as response:
                return response.status, response.headers.get("Content-Type", ""), response.read()
        except urllib.error.HTTPError as refused:
            return refused.code, refused.headers.get("Content-Type", ""), refused.read()

    def __enter__(self) -> Relay:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(WAIT_SECONDS)


def rpc_method(body: bytes) -> str:
    return str(json.loads(body).get("method", ""))


def refuse(method: str, then: Callable[[], object] | None = None) -> Decide:
    """Answer `method` with the node's -40100 (the token's role may not call it); run
    `then` first."""
    def decide(body: bytes) -> bytes | None:
        if rpc_method(body) != method:
            return None
        if then is not None:
            then()
        message = f"Unauthorized: role PARTY may not call {method}: it needs rpc:send"
        return json.dumps({"jsonrpc": "2.0", "id": json.loads(body)["id"],
                           "error": {"code": -40100, "message": message}}).encode()
    return decide


def wait_for_receipt(url: str, tx_hash: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    while (receipt := rpc(url, "eth_getTransactionReceipt", tx_hash)) is None:
        assert time.monotonic() < deadline, f"no receipt for {tx_hash}"
        time.sleep(0.1)
    return receipt


def nonce_of(desk: Desk, party: Party) -> Any:
    return rpc(desk.url, "eth_getTransactionCount", party.address, "latest")


def pdf_head(desk: Desk, project: str) -> bytes:
    return bytes(Ledger(desk.url).call(Ledger(desk.url).contracts.functions.pdf_head(desk.contracts[project])))


def cli_sign(desk: Desk, project: str, party: Party, pdf: Path, out: Path, *args: object) -> Run:
    """`ledger contract sign --pdf` in this process, as `verify_cli` runs verify-pdf."""
    argv = ["contract", "sign", "--project", project, "--pdf", str(pdf), "--seal", str(party.seal_png), "--out",
            str(out), *party.cli_identity(), *map(str, args)]
    if "--rpc" not in argv:
        argv += ["--rpc", desk.url]
    result = runner.invoke(app, argv, env={"LEDGER_TOKEN": None, "LEDGER_TOKEN_FILE": None})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
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
    for step in PDF_CHECKS:
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
    timestamps = next(c for c in unchecked["checks"] if c["name"] == "timestamps")
    assert unchecked["ok"] and "not checked" in timestamps["detail"]
    assert unchecked["checks"][-1] == {"name": "status", "ok": True, "detail": "Effective: in force"}
    assert unchecked["inForce"] is True
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


# -- who signs what, and when ----------------------------------------------------------------------


def test_two_parties_signing_the_same_base_at_once_the_second_is_refused(desk: Desk) -> None:
    """Both parties take the registered PDF. The supplier checks its turn and signs, asking
    a TSA that a relay holds; meanwhile the buyer signs and records. Let go, the supplier's
    signature names the base it verified (the registered document), which is no longer
    the chain's latest revision: refused, its file removed, the chain as the buyer left it."""
    buyer, supplier = desk.parties["buyer"], desk.parties["supplier"]
    cid, document = desk.contracts[RACE], desk.documents[RACE].read_bytes()
    first_out, late_out = desk.base / "race-buyer.pdf", desk.base / "race-supplier.pdf"
    arrived, go = threading.Event(), threading.Event()

    def hold(body: bytes) -> None:
        arrived.set()
        go.wait(WAIT_SECONDS)

    with Relay(desk.tsa_url, hold) as tsa, ThreadPoolExecutor(1) as pool:
        late = pool.submit(sign_and_record, supplier.ledger(desk.url), cid, document, supplier.identity, supplier.seal,
                           tsa_url=tsa.url, out=late_out)
        try:
            assert arrived.wait(WAIT_SECONDS), late.exception(0) if late.done() else "the supplier never asked the TSA"
            first, _ = sign_and_record(buyer.ledger(desk.url), cid, document, buyer.identity, buyer.seal, out=first_out)
        finally:
            go.set()
        with pytest.raises(SignedMeanwhile) as refused:
            late.result(WAIT_SECONDS)
    assert "not the latest signed revision" in refused.value.reason
    assert refused.value.head == first.revision_digest and refused.value.previous == hashlib.sha256(document).digest()
    assert not late_out.exists() and first_out.read_bytes() == first.pdf
    record = Ledger(desk.url).contract(cid)
    assert record["signed_mask"] == 0b01 and pdf_head(desk, RACE) == first.revision_digest

    # The supplier's digest-only signature is refused before anything is sent, saying how to sign.
    nonce = nonce_of(desk, supplier)
    plain = runner.invoke(app, ["contract", "sign", "--project", RACE, *supplier.cli_identity(), "--rpc", desk.url],
                          env={"LEDGER_TOKEN": None, "LEDGER_TOKEN_FILE": None})
    assert plain.exit_code == 1 and "is being signed as a PDF" in plain.stderr, plain.output
    assert "--pdf" in plain.stderr and "nothing was sent" in plain.stderr, plain.stderr
    assert nonce_of(desk, supplier) == nonce
    # Signing the buyer's output, as told, completes it.
    _, done = sign_and_record(supplier.ledger(desk.url), cid, first.pdf, supplier.identity, supplier.seal)
    assert "ContractEffective" in done.events


def test_a_contract_signed_by_digest_is_not_signed_as_a_pdf(desk: Desk) -> None:
    buyer, supplier = desk.parties["buyer"], desk.parties["supplier"]
    cid = desk.contracts[MIXED]
    buyer.ledger(desk.url).sign_contract(cid, buyer.identity)
    out = desk.base / "mixed-supplier.pdf"
    nonce = nonce_of(desk, supplier)
    with pytest.raises(ContractPdfError) as refused:
        sign_and_record(supplier.ledger(desk.url), cid, desk.documents[MIXED].read_bytes(), supplier.identity,
                        supplier.seal, out=out)
    assert refused.value.check == "contract", refused.value
    assert "without its PDF" in refused.value.reason and "sign without --pdf" in refused.value.reason
    assert not out.exists() and nonce_of(desk, supplier) == nonce


def test_verify_pdf_of_a_voided_contract_fails_at_status(desk: Desk) -> None:
    """Valid signatures of a contract the parties then voided: not in force."""
    buyer, supplier = desk.parties["buyer"], desk.parties["supplier"]
    cid = desk.contracts[VOIDED]
    signed, _ = sign_and_record(buyer.ledger(desk.url), cid, desk.documents[VOIDED].read_bytes(), buyer.identity,
                                buyer.seal)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda p: p.ledger(desk.url).void_contract(cid), (buyer, supplier)))
    done = verify_cli(desk, signed.pdf)
    assert done.code == 1, done
    assert done.last_line == "verify-pdf failed at status: the signatures are valid but the contract is Voided (not " \
                             "in force)", done
    for step in VERIFY_STEPS:
        assert f"✓ {step}: " in done.out
    report = json.loads(verify_cli(desk, signed.pdf, "--json").out)
    assert (report["ok"], report["failedStep"], report["inForce"], report["complete"]) == (False, "status", False,
                                                                                           False)
    assert report["contract"]["status"] == "Voided"


def test_verify_pdf_of_a_superseded_contract_names_the_version_in_force(desk: Desk) -> None:
    """Both parties sign version 1's PDF; an amendment (signed by digest) supersedes it.
    Found by its document, version 1 fails at status naming version 2; checked as the
    project's (its latest version, 2), the PDF fails at registered, saying it is version 1's."""
    buyer, supplier = desk.parties["buyer"], desk.parties["supplier"]
    v1 = desk.contracts[AMENDED]
    pdf = desk.documents[AMENDED].read_bytes()
    for party in (buyer, supplier):
        pdf = sign_and_record(party.ledger(desk.url), v1, pdf, party.identity, party.seal)[0].pdf
    amended = desk.admin().amend_contract(v1, hashlib.sha256(contract_pdf(AMENDED + " v2")).digest())
    v2 = amended.events["ContractRegistered"][0]["id"]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda p: p.ledger(desk.url).sign_contract(v2, p.identity), (buyer, supplier)))
    done = verify_cli(desk, pdf)
    assert done.code == 1, done
    assert done.last_line == ("verify-pdf failed at status: the signatures are valid but the contract is Superseded "
                              f"(not in force): version 2 (0x{v2.hex()}) supersedes it"), done
    latest = verify_cli(desk, pdf, "--project", AMENDED)
    assert latest.code == 1 and latest.last_line.startswith("verify-pdf failed at registered: "), latest
    assert f"{AMENDED} version 1 (0x{v1.hex()})" in latest.last_line, latest
    report = json.loads(verify_cli(desk, pdf, "0x" + v1.hex(), "--json").out)
    assert (report["ok"], report["failedStep"], report["inForce"]) == (False, "status", False)


def test_find_contract_prefers_the_contract_whose_signatures_the_pdf_carries(desk: Desk) -> None:
    """Two contracts registered the same document; the buyer signs it for the older one.
    The signed PDF is the older one's; the bare document could be either: name one."""
    buyer = desk.parties["buyer"]
    document = desk.documents[TWIN_A].read_bytes()
    signed, _ = sign_and_record(buyer.ledger(desk.url), desk.contracts[TWIN_A], document, buyer.identity, buyer.seal)
    reader = Ledger(desk.url)
    assert find_contract(reader, signed.pdf) == desk.contracts[TWIN_A]
    assert verify_pdf(reader, signed.pdf).ok
    with pytest.raises(AmbiguousContract) as ambiguous:
        find_contract(reader, document)
    assert set(ambiguous.value.candidates) == {desk.contracts[TWIN_A], desk.contracts[TWIN_B]}
    done = verify_cli(desk, document)
    assert done.code == 2 and "name the contract" in done.err and TWIN_B in done.err, done


def test_verify_pdf_of_an_unknown_contract_fails_at_registered(desk: Desk) -> None:
    pdf = desk.documents[REFUSED]
    for given in (["0x" + "ab" * 32], ["--project", "PDF-2026-NO-SUCH-PROJECT"]):
        done = verify_cli(desk, pdf, *given)
        assert done.code == 1 and done.last_line.startswith("verify-pdf failed at registered: "), done
        report = verify_cli(desk, pdf, *given, "--json")
        assert report.code == 1, report
        document = json.loads(report.out)
        assert (document["ok"], document["failedStep"], document["contract"]) == (False, "registered", None)


# -- the signed file -----------------------------------------------------------------------------


def test_sign_and_record_never_overwrites_out(desk: Desk) -> None:
    buyer = desk.parties["buyer"]
    cid, source = desk.contracts[OUT], desk.documents[OUT]
    existing = desk.base / "out-existing.pdf"
    existing.write_bytes(b"keep me")
    nonce = nonce_of(desk, buyer)
    with pytest.raises(ContractPdfError) as refused:
        sign_and_record(buyer.ledger(desk.url), cid, source.read_bytes(), buyer.identity, buyer.seal, out=existing)
    assert refused.value.check == "out" and "exists" in refused.value.reason
    assert existing.read_bytes() == b"keep me"
    with pytest.raises(ContractPdfError) as same:  # even when asked to replace: it is the input
        sign_and_record(buyer.ledger(desk.url), cid, source.read_bytes(), buyer.identity, buyer.seal, out=source,
                        replace=True)
    assert same.value.check == "out" and "the PDF being signed" in same.value.reason
    assert hashlib.sha256(source.read_bytes()).digest() == Ledger(desk.url).contract(cid)["doc_digest"]
    assert nonce_of(desk, buyer) == nonce and Ledger(desk.url).contract(cid)["signed_mask"] == 0


def test_a_failure_before_sending_removes_out_and_nothing_is_sent(desk: Desk) -> None:
    """The node refuses eth_estimateGas for the token's role (-40100), or stops answering
    when the nonce is asked: the signed PDF is removed and nothing reaches the chain. A file
    that another writer replaced meanwhile is not removed: it no longer holds this call's bytes."""
    buyer = desk.parties["buyer"]
    cid, document = desk.contracts[BEFORE_SENDING], desk.documents[BEFORE_SENDING].read_bytes()
    out = desk.base / "before-sending.pdf"
    nonce = nonce_of(desk, buyer)
    with Relay(desk.url, refuse("eth_estimateGas")) as node, pytest.raises(Unauthorized):
        sign_and_record(buyer.ledger(node.url), cid, document, buyer.identity, buyer.seal, out=out)
    assert not out.exists()
    with (Relay(desk.url, lambda body: "drop" if rpc_method(body) == "eth_getTransactionCount" else None) as node,
          pytest.raises(HttpError)):
        sign_and_record(buyer.ledger(node.url), cid, document, buyer.identity, buyer.seal, out=out)
    assert not out.exists()
    with (Relay(desk.url, refuse("eth_estimateGas", then=lambda: out.write_bytes(b"another writer's"))) as node,
          pytest.raises(Unauthorized)):
        sign_and_record(buyer.ledger(node.url), cid, document, buyer.identity, buyer.seal, out=out)
    assert out.read_bytes() == b"another writer's"
    out.unlink()
    with Relay(desk.url, refuse("eth_estimateGas")) as node:
        done = cli_sign(desk, BEFORE_SENDING, buyer, desk.documents[BEFORE_SENDING], out, "--rpc", node.url)
    assert done.code == 2 and "nothing was sent" in done.err and "may not call eth_estimateGas" in done.err, done
    assert not out.exists()
    assert nonce_of(desk, buyer) == nonce and Ledger(desk.url).contract(cid)["signed_mask"] == 0


def test_an_unknown_outcome_keeps_out_and_names_the_transaction(desk: Desk) -> None:
    """The node takes the transaction and stops answering: RecordingUnknown (not a
    ContractPdfError: something was sent) names the transaction, keeps the file and carries
    the signed revision; the chain then records exactly that file. The CLI says to wait for
    that transaction's receipt, exit 3."""
    buyer, supplier = desk.parties["buyer"], desk.parties["supplier"]
    cid, document = desk.contracts[UNKNOWN], desk.documents[UNKNOWN].read_bytes()
    first, second = desk.base / "unknown-buyer.pdf", desk.base / "unknown-supplier.pdf"

    def take_then_fall_silent(body: bytes) -> str | None:
        return "forward-then-drop" if rpc_method(body) == "eth_sendRawTransaction" else None

    with Relay(desk.url, take_then_fall_silent) as node, pytest.raises(RecordingUnknown) as unknown:
        sign_and_record(buyer.ledger(node.url), cid, document, buyer.identity, buyer.seal, out=first)
    assert isinstance(unknown.value, ClientError) and not isinstance(unknown.value, ContractPdfError)
    assert unknown.value.out == first and first.read_bytes() == unknown.value.revision.pdf
    assert f"0x{unknown.value.tx_hash.hex()}" in unknown.value.reason
    assert wait_for_receipt(desk.url, "0x" + unknown.value.tx_hash.hex())["status"] == "0x1"
    assert pdf_head(desk, UNKNOWN) == hashlib.sha256(first.read_bytes()).digest() == unknown.value.revision.revision_digest

    with Relay(desk.url, take_then_fall_silent) as node:
        done = cli_sign(desk, UNKNOWN, supplier, first, second, "--rpc", node.url)
    assert done.code == 3 and "receipt" in done.err, done
    tx_hash = re.search(r"transaction (0x[0-9a-f]{64})", done.err)
    assert tx_hash is not None and second.exists(), done
    assert wait_for_receipt(desk.url, tx_hash.group(1))["status"] == "0x1"
    assert Ledger(desk.url).contract(cid)["status"] == 2  # Effective: the file kept is the one recorded
    assert pdf_head(desk, UNKNOWN) == hashlib.sha256(second.read_bytes()).digest()


# -- pure parts --------------------------------------------------------------------------------------


def test_a_seal_bound_to_an_older_certificate_says_to_register_a_new_seal_file() -> None:
    """After a certificate renewal the registered seal still names the old certificate;
    registering the same file again is refused by the chain ("seal already registered")."""
    party = "0x" + "11" * 20
    seal = load_seal_image(draw_seal("某某路桥工程有限公司合同专用章", code="1101080054321"))
    contract = ChainContract(contract_id=b"\x01" * 32, project_code="P", version=1, status="Pending",
                             doc_digest=b"\x02" * 32, digest_algorithm="sha256", parties=(party, "0x" + "22" * 20),
                             attestations=(), seals={}, roots={})
    record = ChainSeal(seal=seal.digest, owner=party, name="合同专用章", pixel_digest=seal.pixel_digest,
                       cert_fingerprint=b"\x0a" * 32, status="Approved", approved_at=1, revoked_at=0)
    with pytest.raises(ContractPdfError) as refused:
        check_turn(contract, b"%PDF-", signer=party, certificate=b"\x0b" * 32, registered_certificate=b"\x0b" * 32,
                   seal=seal, seal_record=record)
    assert "register a new seal file" in refused.value.reason and "again with" not in refused.value.reason
    # A digest-only signature refuses before the seal is looked at.
    bare = ChainAttestation(party_index=1, signer="0x" + "22" * 20, cert_fingerprint=b"\x0c" * 32,
                            root_fingerprint=b"\x0d" * 32, signed_at=1, sequence=None, revision_digest=None,
                            cms_digest=None, seal=None)
    with pytest.raises(ContractPdfError) as mixed:
        check_turn(dataclasses.replace(contract, attestations=(bare,)), b"%PDF-", signer=party,
                   certificate=b"\x0b" * 32, registered_certificate=b"\x0b" * 32, seal=seal, seal_record=None)
    assert mixed.value.check == "contract"


def test_the_root_search_walks_back_from_the_attestation() -> None:
    windows = list(root_search_windows(25_000, limit=25_001, window=10_000))
    assert windows == [(15_001, 25_000), (5_001, 15_000), (0, 5_000)]
    assert list(root_search_windows(2_500_000, limit=15_000, window=10_000)) == [(2_490_001, 2_500_000),
                                                                                 (2_485_001, 2_490_000)]
    assert list(root_search_windows(7, limit=1_000_000, window=10_000)) == [(0, 7)]


def test_roots_are_found_before_the_attestation_and_not_after(desk: Desk, sdk_flow: list[TxResult]) -> None:
    reader = Ledger(desk.url)
    wanted = {hashlib.sha256(ca.root_der).digest() for ca in (pki.rsa_ca(), pki.p256_ca())}
    signed = sdk_flow[0]
    at = block_at_time(reader, int(reader.w3.eth.get_block(signed.block_number)["timestamp"]))
    assert at >= signed.block_number
    assert set(find_roots(reader, wanted, newest_block=at)) == wanted
    assert find_roots(reader, wanted, newest_block=desk.roots_block - 1) == {}


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
