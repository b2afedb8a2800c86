"""`ledger contract`: the e-contract lifecycle — register, sign, amend, void, show, list,
history — over the SDK in `client.ledger`; and a contract's PDF signed with each party's
visible seal (`sign --pdf`) and verified against the chain (`verify-pdf`), over
client/contract_pdf.py (their option parsing and report: client/cli_contract_pdf.py).

Reads are pinned to the latest block when the command starts and say which block;
writes print the transaction and block that made them final.

Heavier imports (node/, py-evm, web3, the SDK's clients) are made inside the commands, so that
`ledger --help` and every other command start fast; none of them dodges an import circle.
"""
from __future__ import annotations

import hashlib
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from chaincode import ALGORITHM_NAMES, CONTRACT_STATUS
from client.cli_contract_pdf import contract_verify_pdf, pdf_request
from client.cli_options import (
    DEFAULT_RPC,
    CertKeyOption,
    CertOption,
    ContractIdArgument,
    Head,
    JsonOption,
    KeyOption,
    KeystoreOption,
    P12Option,
    PasswordOption,
    ProjectOption,
    RpcOption,
    SignerUrlOption,
    SignerUserOption,
    file_digest,
    identity_from,
    on_chain,
    parse_address,
    parse_digest,
    reader,
    tx_document,
    tx_fields,
    writer,
)
from client.render import EXIT_OUTCOME_UNKNOWN, EXIT_REFUSED, emit_json, fail, fields, line, table, timestamp

if TYPE_CHECKING:

    from client.ledger import Ledger, TxResult

contract_app = typer.Typer(no_args_is_help=True,
                           help="E-contracts: register, sign, amend, void, show, list, history; verify-pdf.")

ZERO32 = b"\x00" * 32
DEFAULT_LIST_LIMIT = 50
# `sign --pdf` when the transaction was sent but its outcome is unknown: neither a refusal
# (1) nor bad input (2). A script must not sign again before the transaction is final.


class Algorithm(str, Enum):
    sha256 = "sha256"
    sm3 = "sm3"


class ContractStatus(str, Enum):
    pending = "pending"
    effective = "effective"
    superseded = "superseded"
    voided = "voided"


DocumentOption = Annotated[Path | None, typer.Option(help="the contract document: its SHA-256 is registered")]
DigestOption = Annotated[str | None, typer.Option(help="the document's digest (hex) instead of --document")]
AlgorithmOption = Annotated[Algorithm, typer.Option(help="digest algorithm; sm3 only with --digest")]
MetadataOption = Annotated[Path | None, typer.Option(help="metadata file: its SHA-256 is registered")]


# -- contracts -------------------------------------------------------------------------


def document_digest(document: Path | None, digest: str | None, algorithm: Algorithm) -> bytes:
    if (document is None) == (digest is None):
        fail("give --document FILE or --digest HEX")
    if document is not None:
        if algorithm is not Algorithm.sha256:
            fail("--algorithm sm3 needs --digest: the CLI hashes --document files with SHA-256")
        return file_digest(document, "--document")
    return parse_digest(digest or "", "--digest")


def resolve_contract(ledger: Ledger, contract_id: str | None, project: str | None) -> bytes:
    """The id given, or the latest version of --project (call inside on_chain)."""
    if (contract_id is None) == (project is None):
        fail("give a contract ID or --project CODE")
    if contract_id is not None:
        return parse_digest(contract_id, "ID")
    return ledger.latest_contract(project or "")


def check_contract_ref(contract_id: str | None, project: str | None) -> None:
    """Usage errors before any connection: exactly one of ID and --project, ID well-formed."""
    if (contract_id is None) == (project is None):
        fail("give a contract ID or --project CODE")
    if contract_id is not None:
        parse_digest(contract_id, "ID")


def contract_document(c: dict[str, Any]) -> dict[str, Any]:
    signed = [bool(c["signed_mask"] >> i & 1) for i in range(len(c["parties"]))]
    by_signer = {a["signer"]: a for a in c["attestations"]}
    return {
        "id": c["id"], "projectCode": c["project_code"], "version": c["version"],
        "status": CONTRACT_STATUS.get(c["status"], str(c["status"])),
        "docDigest": c["doc_digest"], "digestAlgorithm": ALGORITHM_NAMES.get(c["digest_algorithm"], str(c["digest_algorithm"])),
        "registrar": c["registrar"], "amount": c["amount"], "metadataDigest": c["metadata_digest"],
        "previous": None if c["previous"] == ZERO32 else c["previous"], "next": None if c["next"] == ZERO32 else c["next"],
        "registeredAt": c["registered_at"], "effectiveAt": c["effective_at"],
        "signatures": sum(signed), "required": len(c["parties"]),
        "parties": [
            {"address": party, "signed": signed[i], "voidRequested": bool(c["void_mask"] >> i & 1),
             "attestation": attestation_document(by_signer[party]) if party in by_signer else None}
            for i, party in enumerate(c["parties"])
        ],
    }


def attestation_document(a: dict[str, Any]) -> dict[str, Any]:
    pdf = a.get("pdf")
    return {"signer": a["signer"], "certFingerprint": a["cert_fingerprint"], "rootFingerprint": a["root_fingerprint"],
            "signedAt": a["signed_at"],
            # the party's PAdES signature of the contract's PDF (sign --pdf); null for a digest-only signature
            "pdf": None if not pdf else {"sequence": pdf["sequence"], "revisionDigest": pdf["revision_digest"],
                                         "cmsDigest": pdf["cms_digest"], "seal": pdf["seal"]}}


def print_contract(d: dict[str, Any], head: Head | None = None) -> None:
    at = f" (block {head.number})" if head is not None else ""
    fields(f"contract {d['projectCode']} version {d['version']}: {d['status']}{at}", [
        ("id", d["id"]), ("status", f"{d['status']} ({d['signatures']} of {d['required']} signatures)"),
        ("document", f"{d['digestAlgorithm']} 0x{d['docDigest'].hex()}"), ("registrar", d["registrar"]),
        ("amount", d["amount"]), ("metadata", d["metadataDigest"]), ("registered", timestamp(d["registeredAt"])),
        ("effective", timestamp(d["effectiveAt"])), ("previous", d["previous"]), ("next", d["next"]),
    ])
    # Root fingerprints are in --json: with them the table would not fit a line.
    table("parties", ["#", "party", "signed", "void asked", "signed at", "certificate"], [
        (i + 1, p["address"], p["signed"], p["voidRequested"],
         timestamp(p["attestation"]["signedAt"]) if p["attestation"] else None,
         p["attestation"]["certFingerprint"] if p["attestation"] else None)
        for i, p in enumerate(d["parties"])
    ], numeric=["#"])


@contract_app.command("register")
def contract_register(
    project: Annotated[str, typer.Option(help="project code (unique; up to 64 characters)")],
    party: Annotated[list[str], typer.Option(help="address of a party that must sign (repeatable, 2 to 8)")],
    document: DocumentOption = None,
    digest: DigestOption = None,
    amount: Annotated[int, typer.Option(min=0, help="contract amount (smallest currency unit)")] = 0,
    metadata: MetadataOption = None,
    algorithm: AlgorithmOption = Algorithm.sha256,
    key: KeyOption = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Register a project's contract (a trading center); prints its id.

    The document's digest goes on chain, never the document; each --party must sign."""
    doc = document_digest(document, digest, algorithm)
    parties = [parse_address(p, "--party") for p in party]
    meta = file_digest(metadata, "--metadata") if metadata is not None else ZERO32
    ledger = writer(rpc, key)
    with on_chain(rpc):
        result = ledger.register_contract(project, doc, parties, amount=amount, metadata_digest=meta, algorithm=algorithm.value)
    event = result.events["ContractRegistered"][0]
    if json_output:
        emit_json({"id": event["id"], "projectCode": project, "version": event["version"], "docDigest": doc,
                   "parties": parties, **tx_document(result)})
        return
    fields("contract registered: waiting for signatures", [
        ("id", event["id"]), ("project", f"{project} version {event['version']}"),
        ("document", f"{algorithm.value} 0x{doc.hex()}"), ("parties", ", ".join(parties)), *tx_fields(result),
    ])


@contract_app.command("sign")
def contract_sign(
    contract_id: ContractIdArgument = None,
    project: ProjectOption = None,
    pdf: Annotated[Path | None, typer.Option(
        "--pdf", help="sign the contract's PDF too: the registered PDF (first party) or the last party's signed "
                      "output; needs --seal and --out")] = None,
    seal: Annotated[Path | None, typer.Option(help="your approved seal's PNG, drawn in your signature (with --pdf)")] = None,
    out: Annotated[Path | None, typer.Option(help="where to write the signed PDF (with --pdf; written before the "
                                                  "transaction is sent, removed if nothing is recorded; kept, "
                                                  "exit 3, if the outcome is unknown)")] = None,
    force: Annotated[bool, typer.Option("--force", help="replace --out if it exists")] = False,
    field: Annotated[str | None, typer.Option(help="the PDF's empty signature field to sign in")] = None,
    position: Annotated[str | None, typer.Option(
        help="PAGE,X,Y[,W,H]: where the seal goes, in mm from the page's top-left corner; PAGE counts from 1, "
             "-1 is the last page; W,H default to a 40 mm seal")] = None,
    tsa: Annotated[str | None, typer.Option(
        "--tsa", envvar="LEDGER_TSA_URL", help="RFC 3161 time-stamping authority URL: a signature time-stamp "
                                               "(PAdES B-T) (with --pdf)")] = None,
    crl: Annotated[list[Path] | None, typer.Option(
        "--crl", help="a CRL (DER or PEM) to embed with the certificates (PAdES B-LT; needs --tsa; repeatable)")] = None,
    reason: Annotated[str | None, typer.Option(help="the signature's reason, as a PDF reader shows it")] = None,
    location: Annotated[str | None, typer.Option(help="the signature's location, as a PDF reader shows it")] = None,
    cert: CertOption = None,
    cert_key: CertKeyOption = None,
    p12: P12Option = None,
    keystore: KeystoreOption = None,
    signer_url: SignerUrlOption = None,
    signer_user: SignerUserOption = None,
    password: PasswordOption = None,
    key: KeyOption = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Sign a contract's document digest with your registered certificate (a party).

    With --pdf, also sign its PDF with your seal drawn (PAdES), write it, record its digests."""
    check_contract_ref(contract_id, project)
    if pdf is None:
        given = [name for name, value in (("--seal", seal), ("--out", out), ("--field", field), ("--position", position),
                                          ("--crl", crl), ("--reason", reason), ("--location", location))
                 if value] + (["--force"] if force else [])
        if given:
            fail(f"{', '.join(given)}: only with --pdf")
        identity = identity_from(cert, cert_key, p12, password, keystore, signer_url, signer_user)
        ledger = writer(rpc, key)
        with on_chain(rpc):
            cid = resolve_contract(ledger, contract_id, project)
            refuse_mixing(ledger.contract(cid))
            result = ledger.sign_contract(cid, identity)
        print_signed(cid, result, json_output)
        return
    request = pdf_request(pdf, seal, out, force, field, position, tsa, crl or [])
    identity = identity_from(cert, cert_key, p12, password, keystore, signer_url, signer_user)
    ledger = writer(rpc, key)
    from web3.exceptions import Web3Exception

    from client.contract_pdf import RecordingUnknown, SignedMeanwhile, sign_and_record
    from client.contract_pdf_facts import ContractPdfError
    from client.errors import ClientError
    from client.ledger import Reverted
    from client.pdf_signatures import PdfSignatureError

    with on_chain(rpc):
        cid = resolve_contract(ledger, contract_id, project)
        try:
            revision, result = sign_and_record(
                ledger, cid, request.document, identity, request.seal, field=field, position=request.position,
                tsa_url=tsa, crls=request.crls, reason=reason, location=location, out=request.out, replace=force)
        except RecordingUnknown as exc:
            fail(exc.reason, EXIT_OUTCOME_UNKNOWN)
        except SignedMeanwhile as exc:
            fail(f"another party signed first: sign its output (ledger contract show); the chain's latest revision "
                 f"is now 0x{exc.head.hex()}, not the one you signed on, so nothing was recorded and {request.out} "
                 f"was removed ({exc.reason})", EXIT_REFUSED)
        except ContractPdfError as exc:
            fail(f"{exc.reason} (nothing was signed or sent)", EXIT_REFUSED)
        except PdfSignatureError as exc:
            fail(f"cannot sign the PDF: {exc.step}: {exc.reason} (nothing was sent)")
        except Reverted as exc:
            fail(f"{exc.reason} (the chain refused the signature: nothing was recorded and {request.out} was "
                 "removed)", EXIT_REFUSED)
        except (ClientError, Web3Exception):
            # The node, the token or the signer failed before the transaction went out
            # (sign_and_record's contract): say so, then the error as every command says it.
            typer.echo(f"note: nothing was sent, and no signed PDF was kept at {request.out}", err=True)
            raise
    print_signed(cid, result, json_output, pdf={
        "revisionDigest": revision.revision_digest, "cmsDigest": revision.cms_digest, "seal": revision.seal,
        "level": revision.level, "field": revision.field, "page": revision.page + 1, "out": str(request.out),
        "sequence": result.events["ContractPdfSigned"][0]["sequence"],
    })


def refuse_mixing(record: dict[str, Any]) -> None:
    """`sign` without --pdf: refuse, before sending, a contract whose parties sign its PDF
    (the registry takes no digest-only signature once a PDF signature is recorded)."""
    by_pdf = [a for a in record["attestations"] if a["pdf"]]
    if by_pdf:
        fail(f"contract {record['project_code']} v{record['version']} is being signed as a PDF ({len(by_pdf)} of "
             f"{len(record['parties'])} parties signed its PDF): sign the last party's signed output with --pdf FILE "
             "--seal PNG --out FILE (ledger contract show lists the signatures); nothing was sent", EXIT_REFUSED)


def print_signed(cid: bytes, result: TxResult, json_output: bool, pdf: dict[str, Any] | None = None) -> None:
    signed = result.events["ContractSigned"][0]
    effective = bool(result.events.get("ContractEffective"))
    document = {"id": cid, "projectCode": signed["project_code"], "version": signed["version"],
                "signatures": signed["signatures"], "required": signed["required"], "effective": effective,
                "certFingerprint": signed["cert_fingerprint"], **({"pdf": pdf} if pdf is not None else {}),
                **tx_document(result)}
    if json_output:
        emit_json(document)
        return
    state = "Effective" if effective else "waiting for signatures"
    rows: list[tuple[str, Any]] = [
        ("id", cid), ("signatures", f"{signed['signatures']} of {signed['required']}"),
        ("certificate", signed["cert_fingerprint"]),
    ]
    if pdf is not None:
        rows += [("signed PDF", pdf["out"]), ("PDF signature", f"{pdf['sequence']} of {signed['required']}, "
                                                               f"PAdES {pdf['level']}"),
                 ("field", f"{pdf['field']} on page {pdf['page']}"), ("seal", pdf["seal"]),
                 ("revision digest", pdf["revisionDigest"]), ("CMS digest", pdf["cmsDigest"])]
    fields(f"signed {signed['project_code']} version {signed['version']}: {state}", [*rows, *tx_fields(result)])


@contract_app.command("amend")
def contract_amend(
    contract_id: ContractIdArgument = None,
    project: ProjectOption = None,
    document: DocumentOption = None,
    digest: DigestOption = None,
    amount: Annotated[int | None, typer.Option(min=0, help="new amount (default: unchanged)")] = None,
    metadata: MetadataOption = None,
    algorithm: AlgorithmOption = Algorithm.sha256,
    key: KeyOption = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Amend an Effective contract (a trading center): a new linked version.

    Every party signs the new version again; it supersedes the old one when Effective."""
    check_contract_ref(contract_id, project)
    doc = document_digest(document, digest, algorithm)
    meta = file_digest(metadata, "--metadata") if metadata is not None else None
    ledger = writer(rpc, key)
    with on_chain(rpc):
        cid = resolve_contract(ledger, contract_id, project)
        result = ledger.amend_contract(cid, doc, amount=amount, metadata_digest=meta, algorithm=algorithm.value)
    event = result.events["ContractRegistered"][0]
    if json_output:
        emit_json({"id": event["id"], "previous": cid, "projectCode": event["project_code"], "version": event["version"],
                   "docDigest": doc, **tx_document(result)})
        return
    fields(f"amendment registered: {event['project_code']} version {event['version']}, waiting for signatures", [
        ("id", event["id"]), ("amends", cid), ("document", f"{algorithm.value} 0x{doc.hex()}"), *tx_fields(result),
    ])


@contract_app.command("void")
def contract_void(
    contract_id: ContractIdArgument = None,
    project: ProjectOption = None,
    reason: Annotated[str | None, typer.Option(help="the reason; its SHA-256 goes on chain")] = None,
    key: KeyOption = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Void a Pending or Effective contract (a regulator), or ask to (a party).

    A regulator voids it at once; otherwise it is void when every party has asked."""
    check_contract_ref(contract_id, project)
    reason_digest = hashlib.sha256(reason.encode()).digest() if reason else ZERO32
    ledger = writer(rpc, key)
    with on_chain(rpc):
        cid = resolve_contract(ledger, contract_id, project)
        result = ledger.void_contract(cid, reason_digest)
    voided = result.events.get("ContractVoided", [])
    requested = result.events.get("VoidRequested", [])
    document: dict[str, Any] = {"id": cid, "voided": bool(voided), "reasonDigest": reason_digest, **tx_document(result)}
    if voided:
        document["byRegulator"] = voided[0]["by_regulator"]
    if requested:
        document.update(requests=requested[0]["requests"], required=requested[0]["required"])
    if json_output:
        emit_json(document)
        return
    if voided:
        title = "contract voided" + (" by a regulator" if voided[0]["by_regulator"] else " at every party's request")
    else:
        title = f"void requested: {requested[0]['requests']} of {requested[0]['required']} parties have asked"
    fields(title, [("id", cid), *tx_fields(result)])


@contract_app.command("show")
def contract_show(
    contract_id: ContractIdArgument = None,
    project: ProjectOption = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """A contract: status, document digest, parties and their attestations."""
    check_contract_ref(contract_id, project)
    with on_chain(rpc):
        ledger, head = reader(rpc)
        cid = resolve_contract(ledger, contract_id, project)
        d = contract_document(ledger.contract(cid))
    if json_output:
        emit_json({**d, "block": head.number})
        return
    print_contract(d, head)


@contract_app.command("list")
def contract_list(
    status: Annotated[ContractStatus | None, typer.Option(help="only contracts in this status")] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many, newest first")] = DEFAULT_LIST_LIMIT,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Contracts, newest first."""
    wanted = status.value.capitalize() if status else None
    found: list[dict[str, Any]] = []
    with on_chain(rpc):
        ledger, head = reader(rpc)
        position = int(ledger.call(ledger.contracts.functions.contract_count()))
        while position > 0 and len(found) < limit:
            position -= 1
            cid = bytes(ledger.call(ledger.contracts.functions.contract_at(position)))
            d = contract_document(ledger.contract(cid))
            if wanted is None or d["status"] == wanted:
                found.append(d)
    if json_output:
        emit_json({"block": head.number, "contracts": found})
        return
    table(f"{len(found)} contract(s) at block {head.number}",
          ["id", "project", "version", "status", "signatures", "amount", "registered"],
          [(d["id"], d["projectCode"], d["version"], d["status"], f"{d['signatures']}/{d['required']}", d["amount"],
            timestamp(d["registeredAt"])) for d in found],
          numeric=["version", "amount"])


@contract_app.command("history")
def contract_history(
    project: Annotated[str, typer.Option("--project", help="project code")],
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Every version of a project's contract, oldest first, with its attestations."""
    with on_chain(rpc):
        ledger, head = reader(rpc)
        versions = [contract_document(c) for c in ledger.contract_history(project)]
    if json_output:
        emit_json({"block": head.number, "projectCode": project, "versions": versions})
        return
    line(f"{project}: {len(versions)} version(s) at block {head.number}")
    for d in versions:
        line("")
        print_contract(d)


# -- a contract's signed PDF ---------------------------------------------------------------


contract_app.command("verify-pdf")(contract_verify_pdf)
