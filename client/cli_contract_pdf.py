"""`ledger contract sign --pdf`'s inputs and `ledger contract verify-pdf`: a contract's PDF
signed with each party's visible seal and verified against the chain, over
client/contract_pdf.py. client/cli_contract.py registers the command and calls
`pdf_request` from its `sign`.

Heavier imports (pyHanko through client/contract_pdf.py, the SDK's clients) are made inside
the functions, so that `ledger --help` and every other command start fast; none of them
dodges an import circle.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from client.cli_evidence_certificate import TsaRootOption, load_roots
from client.cli_options import (
    DEFAULT_RPC,
    ContractIdArgument,
    JsonOption,
    ProjectOption,
    RpcOption,
    on_chain,
    parse_digest,
    reader,
)
from client.render import EXIT_REFUSED, console, emit_json, fail, line, table, timestamp

if TYPE_CHECKING:
    from cryptography import x509

    from client.pdf_contract_checks import ChainContract, Check, SignatureReport
    from client.pdf_contracts import SealPosition
    from client.seals import SealImage


# A CRL handed to --crl is embedded in the signed PDF (B-LT): a CA's CRL is kilobytes to a
# few megabytes; a file past 16 MiB is not one, and is not read into memory.
MAX_CRL_FILE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class PdfRequest:
    """What `sign --pdf` read from its options before connecting anywhere."""

    document: bytes
    seal: SealImage
    out: Path
    position: SealPosition | None
    crls: list[x509.CertificateRevocationList]


def pdf_request(pdf: Path, seal: Path | None, out: Path | None, force: bool, field: str | None, position: str | None,
                tsa: str | None, crls: list[Path]) -> PdfRequest:
    """`sign --pdf`'s inputs, read and checked (exit 2 naming what is wrong)."""
    from client.cli_seal import read_image
    from client.pdf_structure import MAX_CONTRACT_PDF_BYTES

    if seal is None or out is None:
        fail("--pdf needs --seal SEAL.png and --out SIGNED.pdf")
    if field is not None and position is not None:
        fail("give --field or --position, not both")
    if crls and tsa is None:
        fail("--crl embeds revocation data in a time-stamped signature (PAdES B-LT): give --tsa too")
    document = read_capped(pdf, "--pdf", MAX_CONTRACT_PDF_BYTES)
    image = read_image(seal, "--seal")
    try:
        same = out.exists() and out.samefile(pdf)
    except OSError:
        same = False
    if same or out.resolve() == pdf.resolve():
        fail(f"--out {out} is the input --pdf: write the signed PDF to another file")
    if out.exists() and not force:
        fail(f"--out {out} exists; refusing to overwrite (--force replaces it)")
    if tsa is not None:
        from client.http import check_url

        try:
            check_url(tsa, "--tsa")
        except ValueError as exc:
            fail(str(exc))
    return PdfRequest(document, image, out, parse_position(position, image) if position is not None else None,
                      [read_crl(path) for path in crls])


def read_capped(path: Path, what: str, cap: int) -> bytes:
    """A file's bytes; exit 2 if unreadable or past `cap` (reading at most one byte more)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(cap + 1)
    except OSError as exc:
        fail(f"{what} {path}: {exc.strerror}")
    if len(data) > cap:
        fail(f"{what} {path}: larger than {cap} bytes")
    return data


def parse_position(text: str, seal: SealImage) -> SealPosition:
    """`PAGE,X,Y[,W,H]` (PAGE from 1, -1 the last; millimetres) as a SealPosition."""
    from client.pdf_contracts import DEFAULT_SEAL_MM, SealPosition

    parts = [p.strip() for p in text.split(",")]
    usage = f"--position {text!r}: expected PAGE,X,Y or PAGE,X,Y,W,H (PAGE from 1, or -1 for the last; mm)"
    if len(parts) not in (3, 5):
        fail(usage)
    try:
        page = int(parts[0])
        x, y, *size = (float(p) for p in parts[1:])
    except ValueError:
        fail(usage)
    if page == 0 or page < -1:
        fail(f"--position: page {page}: pages count from 1 (-1 is the last)")
    if not all(math.isfinite(v) for v in (x, y, *size)) or x < 0 or y < 0 or any(v <= 0 for v in size):
        fail(f"--position {text!r}: X and Y are at least 0, W and H more than 0 (mm)")
    if size:
        width, height = size
    else:
        longer = max(seal.width, seal.height)
        width, height = DEFAULT_SEAL_MM * seal.width / longer, DEFAULT_SEAL_MM * seal.height / longer
    return SealPosition(page=page - 1 if page > 0 else -1, x=x, y=y, width=width, height=height)


def read_crl(path: Path) -> x509.CertificateRevocationList:
    from cryptography import x509

    data = read_capped(path, "--crl", MAX_CRL_FILE_BYTES)
    try:
        return x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data)
    except ValueError as exc:
        fail(f"--crl {path}: not a CRL: {exc}")




def contract_verify_pdf(
    pdf: Annotated[Path, typer.Argument(metavar="PDF", help="the signed contract PDF")],
    contract_id: ContractIdArgument = None,
    project: ProjectOption = None,
    tsa_root: TsaRootOption = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Verify a signed contract PDF against the chain: each check and each signature.

    Exit 0 valid, 1 a check failed (named on the last line), 2 bad usage or input.
    A Voided or Superseded contract fails at status, its signatures valid or not.

    Without ID or --project, the contract is the one whose registered document the PDF starts with."""
    from client.contract_pdf import verify_pdf_facts
    from client.contract_pdf_facts import AmbiguousContract, ContractNotFound
    from client.pdf_contract_checks import Check
    from client.pdf_signatures import PdfSignatureError
    from client.pdf_structure import MAX_CONTRACT_PDF_BYTES

    if contract_id is not None and project is not None:
        fail("give a contract ID or --project CODE, not both")
    given_id = parse_digest(contract_id, "ID") if contract_id is not None else None
    tsa_roots = load_roots(tsa_root, "--tsa-root")
    try:
        size = pdf.stat().st_size
        data = read_capped(pdf, "PDF", MAX_CONTRACT_PDF_BYTES) if size <= MAX_CONTRACT_PDF_BYTES else b""
    except OSError as exc:
        fail(f"PDF {pdf}: {exc.strerror}")
    if size > MAX_CONTRACT_PDF_BYTES:  # the verifier's step 1, without reading the file
        report_pdf(None, (Check("size", False, f"{size} bytes exceeds the {MAX_CONTRACT_PDF_BYTES}-byte cap"),),
                   (), False, None, json_output)
    with on_chain(rpc):
        ledger, head = reader(rpc)
        try:
            contract, verdict = verify_pdf_facts(ledger, data, contract_id=given_id, project=project,
                                                 tsa_roots=tsa_roots)
        except ContractNotFound as exc:  # no such id or project, or no contract registered the PDF's document
            if not exc.exhausted:
                fail(exc.reason)
            report_pdf(None, (Check("registered", False, exc.reason),), (), False, head.number, json_output)
        except AmbiguousContract as exc:  # several contracts could be the PDF's: the caller names one
            fail(exc.reason)
        except PdfSignatureError as exc:  # finding the contract: a file that is no contract PDF
            report_pdf(None, (Check(exc.step, False, exc.reason),), (), False, head.number, json_output)
    report_pdf(contract, verdict.checks, verdict.signatures, verdict.complete, head.number, json_output)


def report_pdf(contract: ChainContract | None, checks: Sequence[Check], signatures: Sequence[SignatureReport],
               complete: bool, block: int | None, json_output: bool) -> NoReturn:
    """Print a verification (each check, each signature, the verdict) and exit: 0 when
    every check holds, 1 otherwise, the failing check named on the last line."""
    from client.contract_pdf import PDF_CHECKS

    failed = next((c for c in checks if not c.ok), None)
    ok = failed is None and len(checks) == len(PDF_CHECKS)
    signed_at = {a.cert_fingerprint: a.signed_at for a in contract.attestations} if contract is not None else {}
    rows: list[dict[str, Any]] = [{
        "index": s.index, "party": s.signer, "subject": s.subject, "issuer": s.issuer,
        "certFingerprint": s.cert_fingerprint, "field": s.field, "page": s.page + 1 if s.page >= 0 else None,
        "level": s.level, "seal": s.seal, "sealName": s.seal_name, "revisionDigest": s.revision_digest,
        "cmsDigest": s.cms_digest, "signingTime": iso(s.signing_time), "tsaTime": iso(s.timestamp),
        "chainTime": signed_at.get(s.cert_fingerprint),
    } for s in signatures]
    if json_output:
        emit_json({
            "ok": ok, "failedStep": failed.name if failed is not None else None,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks],
            "signatures": rows, "complete": complete, "block": block,
            # the contract is Effective: neither still Pending nor Voided or Superseded
            "inForce": None if contract is None else contract.status == "Effective",
            "contract": None if contract is None else {
                "id": contract.contract_id, "projectCode": contract.project_code, "version": contract.version,
                "status": contract.status, "parties": list(contract.parties),
                "signatures": len(contract.attestations)},
        })
        raise typer.Exit(0 if ok else EXIT_REFUSED)
    if contract is not None:
        at = f" (block {block})" if block is not None else ""
        line(f"contract {contract.project_code} version {contract.version}: {contract.status}, "
             f"{len(contract.attestations)} of {len(contract.parties)} signatures{at}")
    seen = {c.name for c in checks}
    for check in checks:
        whole_line(f"{'✓' if check.ok else '✗'} {check.name}: {check.detail}")
    for step in PDF_CHECKS:
        if step not in seen and failed is not None:
            line(f"  {step}: not reached")
    if rows:
        table("signatures", ["#", "party", "subject", "issuer CA", "seal", "level", "TSA time", "chain time"], [
            (r["index"], r["party"], r["subject"], r["issuer"], r["sealName"], r["level"], r["tsaTime"],
             timestamp(r["chainTime"]) if r["chainTime"] else None)
            for r in rows], numeric=["#"])
    if failed is not None:
        whole_line(f"verify-pdf failed at {failed.name}: {failed.detail}")
        raise typer.Exit(EXIT_REFUSED)
    if complete:
        whole_line(f"VALID: signed by all {len(rows)} parties as the chain records; the contract is Effective")
    else:
        assert contract is not None
        whole_line(f"VALID so far: {len(rows)} of {len(contract.parties)} parties' signatures as the chain records them; "
             f"the contract is {contract.status}")
    raise typer.Exit(0)


def whole_line(text: str) -> None:
    """One line, never folded at the terminal's width: a check's detail is what a court
    reads, and scripts take the verdict from the last line."""
    console.print(text, soft_wrap=True)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
