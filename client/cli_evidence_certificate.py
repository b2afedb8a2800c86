"""`ledger evidence certificate` (存证证书), and what `ledger evidence verify` shares with it:
the report of each verification step, trusted time included, and the certificate side of
verifying a PDF (the issuer's signature, then the receipt it carries).

`certificate` verifies the receipt first (the file, genesis.json, and the TSA roots if
given) and makes a certificate only for a receipt that verified: client/evidence_pdf.py
lays it out and signs it with the issuer's credentials (the options every signing
command takes: client/cli_options.py `identity_from`).

Who the witnesses are is what the receipt proves: the validators in force at the block,
by address. Their organisations are not in the receipt, nor on chain as such (every
node's TLS certificate names the consortium, not its organisation). They come from
`--witness ADDRESS=ORGANISATION`, else, with `--rpc`, from the identity registry's member
record of that address (the organisation, O, of the member certificate a validator's
account registered). A validator named by neither is printed by its address, with its
organisation "unknown". The submitter is likewise the receipt's account; with `--rpc`,
its member certificate's subject and the fingerprint of the root that certificate chains
to are added.

Heavy imports (the verifier, the PDF and signing libraries, the HTTP client) are made
inside the functions: `ledger` imports every command module each time it runs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from client.cli_options import (
    CertKeyOption,
    CertOption,
    JsonOption,
    KeystoreOption,
    P12Option,
    PasswordOption,
    SignerUrlOption,
    SignerUserOption,
    identity_from,
    parse_address,
)
from client.render import EXIT_REFUSED, EXIT_USAGE, emit_json, fail, fields, hex0x, line, timestamp

if TYPE_CHECKING:
    from cryptography import x509

    from client.signers import Signer
    from evidence.receipt import GenesisTrust, Receipt, VerificationError, Verified

# The default of --tsa-tolerance: evidence.receipt.DEFAULT_TSA_TOLERANCE, in seconds
# (repeated so that `ledger --help` need not import the verifier).
DEFAULT_TSA_TOLERANCE_SECONDS = 30.0
# A root file is a PEM bundle of a few certificates; anything larger is not one.
MAX_ROOT_FILE_BYTES = 1024 * 1024

TsaRootOption = Annotated[list[Path] | None, typer.Option(
    "--tsa-root", help="root certificate(s) (PEM) of time-stamping authorities you trust: checks the "
                       "RFC 3161 time-stamp tokens (repeatable)")]
TsaToleranceOption = Annotated[float, typer.Option(
    "--tsa-tolerance", min=0, help="seconds the TSA's time may be after the block's")]

State = Literal["passed", "failed", "not checked", "none", "not reached"]


@dataclass(frozen=True)
class Outcome:
    """One verification step as reported: its state and the words beside it."""

    step: str
    state: State
    detail: str = ""

    def text(self) -> str:
        mark = {"passed": "✓", "failed": "✗", "not checked": "-", "none": "-", "not reached": " "}[self.state]
        return f"{mark} {self.step}" + (f": {self.detail}" if self.detail else "")


# -- reading options ----------------------------------------------------------------------------


def load_roots(paths: list[Path] | None, option: str) -> list[x509.Certificate]:
    """Every certificate in the PEM (or DER) files given to `option`; exit 2 if unreadable."""
    from client.pkifiles import load_certificates

    roots = []
    for path in paths or []:
        try:
            if path.stat().st_size > MAX_ROOT_FILE_BYTES:
                fail(f"{option} {path}: larger than {MAX_ROOT_FILE_BYTES} bytes; not a root certificate file")
            roots.extend(load_certificates(path.read_bytes()))
        except OSError as exc:
            fail(f"{option} {path}: {exc.strerror}")
        except ValueError as exc:
            fail(f"{option} {path}: {exc}")
    return roots


def read_genesis(path: Path) -> GenesisTrust | VerificationError:
    """genesis.json as a verifier takes it, or the error to report at the step "genesis"."""
    from evidence.receipt import GenesisTrust, VerificationError

    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"cannot read the genesis {path}: {exc}")
    try:  # once: it hashes genesis.json's state (evidence/genesis.py)
        return GenesisTrust.from_document(document)
    except VerificationError as exc:
        return exc


# -- the report of each step ----------------------------------------------------------------------


def utc_text(moment: datetime) -> str:
    """ISO 8601 UTC, to the millisecond when the time has a fraction (a TSA's genTime)."""
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def relative_to_block(moment: datetime, block_time: int) -> str:
    seconds = (moment - datetime.fromtimestamp(block_time, UTC)).total_seconds()
    if seconds == 0:
        return "the block's second"
    return f"{abs(seconds):g} s {'before' if seconds < 0 else 'after'} the block"


def trusted_time_detail(verified: Verified) -> str:
    checked = verified.trusted_time
    assert checked is not None
    return (f"TSA time {utc_text(checked.time)} ({relative_to_block(checked.time, verified.timestamp)}), "
            f"{checked.tsa_subject}, serial {checked.serial}")


def outcomes(steps: tuple[str, ...], failed: VerificationError | None, verified: Verified | None, *,
             receipt: Receipt | None, with_file: bool, tsa_roots_given: bool) -> list[Outcome]:
    """Each step of evidence.receipt.STEPS as `ledger evidence verify` reports it."""
    reached = steps.index(failed.step) if failed is not None else len(steps)
    report = []
    for index, step in enumerate(steps):
        if index == reached and failed is not None:
            report.append(Outcome(step, "failed", failed.reason))
        elif index > reached:
            report.append(Outcome(step, "not reached"))
        elif step == "file" and not with_file:
            report.append(Outcome(step, "not checked", "not checked (no --file)"))
        elif step == "trusted time":
            report.append(_trusted_time(verified, receipt, tsa_roots_given))
        else:
            report.append(Outcome(step, "passed"))
    return report


def _trusted_time(verified: Verified | None, receipt: Receipt | None, tsa_roots_given: bool) -> Outcome:
    step = "trusted time"
    assert verified is not None and receipt is not None
    if verified.trusted_time_status == "verified":
        return Outcome(step, "passed", trusted_time_detail(verified))
    if verified.trusted_time_status == "not checked":
        return Outcome(step, "not checked", "not checked (no --tsa-root): the receipt carries an RFC 3161 token")
    if tsa_roots_given:
        return Outcome(step, "none", "the receipt carries no RFC 3161 token; --tsa-root has nothing to check")
    return Outcome(step, "none", "none (the receipt carries no RFC 3161 token)")


def valid_line(verified: Verified) -> str:
    when = f"at {timestamp(verified.timestamp)}"
    if verified.trusted_time is not None:
        when += f" (TSA time {utc_text(verified.trusted_time.time)}, {verified.trusted_time.tsa_subject})"
    return (f"VALID: 0x{verified.digest.hex()} anchored in block {verified.block_number} {when}, "
            f"sealed by {len(verified.signers)} of {len(verified.validators)} validators")


def trusted_time_document(verified: Verified | None) -> dict[str, Any] | None:
    """What --json says of step 11."""
    if verified is None:
        return None
    checked = verified.trusted_time
    return {
        "status": verified.trusted_time_status,
        "time": utc_text(checked.time) if checked else None,
        "tsa": checked.tsa_subject if checked else None,
        "serial": checked.serial if checked else None,
    }


# -- a certificate handed to `verify` ------------------------------------------------------------


@dataclass(frozen=True)
class CertificateCheck:
    """What `verify` found of a certificate PDF before its receipt: the issuer, if checked."""

    receipt_text: str | None
    issuer: Outcome
    failure: Outcome | None


def is_pdf(path: Path) -> bool:
    if path.suffix.lower() == ".pdf":
        return True
    try:
        with path.open("rb") as handle:
            return handle.read(5) == b"%PDF-"
    except OSError:
        return False


def check_certificate(path: Path, issuer_roots: list[x509.Certificate]) -> CertificateCheck:
    """The issuer's signature (against `issuer_roots`; not checked without them), then the
    receipt the certificate carries (`receipt_text`, None if the PDF has none)."""
    from client.evidence_pdf import CertificatePdfError, read_embedded_receipt, verify_certificate_signature
    from client.pdf_signatures import MAX_SIGNED_PDF_BYTES, PdfSignatureError

    step = "issuer signature"
    try:
        if path.stat().st_size > MAX_SIGNED_PDF_BYTES:
            fail(f"{path}: larger than {MAX_SIGNED_PDF_BYTES} bytes; not an evidence certificate")
        pdf = path.read_bytes()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    if issuer_roots:
        try:
            issuer = Outcome(step, "passed", verify_certificate_signature(pdf, issuer_roots))
        except PdfSignatureError as exc:
            return CertificateCheck(None, Outcome(step, "failed", f"{exc.step}: {exc.reason}"), None)
    else:
        issuer = Outcome(step, "not checked", "not checked (no --issuer-root)")
    try:
        return CertificateCheck(read_embedded_receipt(pdf), issuer, None)
    except CertificatePdfError as exc:
        return CertificateCheck(None, issuer, Outcome("embedded receipt", "failed", exc.reason))


# -- `ledger evidence certificate` -----------------------------------------------------------------


def evidence_certificate(
    receipt_path: Annotated[Path, typer.Argument(metavar="RECEIPT", help="the file's .receipt.json")],
    file: Annotated[Path, typer.Option(help="the file the receipt is for")],
    genesis: Annotated[Path, typer.Option(help="the consortium's genesis.json (the receipt is verified first)")],
    out: Annotated[Path, typer.Option(help="where to write the certificate (PDF)")],
    cert: CertOption = None,
    cert_key: CertKeyOption = None,
    p12: P12Option = None,
    keystore: KeystoreOption = None,
    signer_url: SignerUrlOption = None,
    signer_user: SignerUserOption = None,
    password: PasswordOption = None,
    tsa_root: TsaRootOption = None,
    tsa_tolerance: TsaToleranceOption = DEFAULT_TSA_TOLERANCE_SECONDS,
    witness: Annotated[list[str] | None, typer.Option(
        "--witness", help="ADDRESS=ORGANISATION: a validator's organisation, as the certificate names it "
                          "(repeatable)")] = None,
    rpc: Annotated[str | None, typer.Option(
        "--rpc", help="a node to look organisations and the submitter's certificate up in (its member records); "
                      "nothing is looked up without it")] = None,
    verifier_url: Annotated[str | None, typer.Option(
        "--verifier-url", help="make the QR code a link: URL#<payload>")] = None,
    json_output: JsonOption = False,
) -> None:
    """Verify a receipt, then write the signed evidence certificate (存证证书) for it: a PDF
    a judge reads, carrying the receipt. Exit 0 written, 1 the receipt does not verify."""
    from evidence import digest as digests, qbft
    from evidence.receipt import STEPS, Receipt, VerificationError, verify_receipt

    signer = identity_from(cert, cert_key, p12, password, keystore, signer_url, signer_user)
    named = _witness_options(witness or [])
    trust = read_genesis(genesis)
    roots = load_roots(tsa_root, "--tsa-root")
    try:
        text = receipt_path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read the receipt {receipt_path}: {exc}")
    try:
        size = file.stat().st_size
        file_digests = {name: digests.digest_file(file, name) for name in ("sha256", "sm3")}
    except OSError as exc:
        fail(f"--file {file}: {exc.strerror}")
    receipt: Receipt | None = None
    try:
        if isinstance(trust, VerificationError):
            raise trust
        receipt = Receipt.parse_text(text)
        verified = verify_receipt(receipt, trust, content_digest=file_digests[receipt.algorithm], tsa_roots=roots,
                                  tsa_tolerance=timedelta(seconds=tsa_tolerance))
    except VerificationError as exc:
        if not json_output:
            if exc.step in STEPS:
                for outcome in outcomes(STEPS, exc, None, receipt=receipt, with_file=True, tsa_roots_given=bool(roots)):
                    line(outcome.text())
            else:
                line(f"✗ {exc.step}: {exc.reason}")
        fail(f"the receipt does not verify ({exc.step}): no certificate is made for it", EXIT_REFUSED)
    report = outcomes(STEPS, None, verified, receipt=receipt, with_file=True, tsa_roots_given=bool(roots))
    records = _member_records(rpc, [verified.submitter, *verified.validators]) if rpc else {}
    witnesses = []
    for address in verified.validators:
        organisation = named.get(address) or _organisation(records.get(address))
        witnesses.append((organisation or "", hex0x(address)))
    pdf = _render(receipt, verified, report, file, size, file_digests, records.get(verified.submitter), rpc is not None,
                  witnesses, (len(verified.signers), qbft.quorum(len(verified.validators))), signer, verifier_url)
    from client.atomicfile import write_atomic

    try:
        write_atomic(out, pdf, mode=0o644)
    except OSError as exc:
        fail(f"--out {out}: {exc.strerror}")
    issuer = signer.chain[0].subject.rfc4514_string()
    known = sum(1 for organisation, _ in witnesses if organisation)
    if json_output:
        emit_json({"out": str(out), "bytes": len(pdf), "issuer": issuer, "digest": hex0x(verified.digest),
                   "block": verified.block_number, "blockTime": verified.timestamp,
                   "trustedTime": trusted_time_document(verified),
                   "witnesses": [{"address": a, "organisation": o or None,
                                  "sealed": bytes.fromhex(a[2:]) in verified.signers} for o, a in witnesses]})
        return
    fields(f"evidence certificate written: {out}", [
        ("receipt", valid_line(verified)),
        ("trusted time", report[-1].detail),
        ("issuer", issuer),
        ("witnesses", f"{len(witnesses)} validator(s), {known} with a known organisation"),
        ("check it", f"ledger evidence verify {out} --file {file} --genesis {genesis} --issuer-root ROOT.pem"),
    ])


def _witness_options(values: list[str]) -> dict[bytes, str]:
    named: dict[bytes, str] = {}
    for value in values:
        address, separator, organisation = value.partition("=")
        if not separator or not organisation.strip():
            fail(f"--witness {value!r}: expected ADDRESS=ORGANISATION")
        named[bytes.fromhex(parse_address(address.strip(), "--witness")[2:])] = organisation.strip()
    return named


def _member_records(rpc: str, addresses: list[bytes]) -> dict[bytes, dict[str, Any]]:
    """The identity registry's member record of each address the node knows (GET
    /v1/members/ADDRESS); an address that is no member has none. Exit 2 if the node
    cannot be asked."""
    from client.cli_audit_query import NodeApi, refused
    from client.http import HttpError

    api = NodeApi(rpc)
    records: dict[bytes, dict[str, Any]] = {}
    for address in dict.fromkeys(addresses):
        try:
            record = api.fetch(f"members/{hex0x(address)}")
        except HttpError as exc:
            if exc.status == 404:
                continue
            refused(exc, rpc)
        if isinstance(record, dict):
            records[address] = record
    return records


def _organisation(record: dict[str, Any] | None) -> str | None:
    """The organisation (O) of a member certificate's subject, else its whole subject."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    subject = (record or {}).get("subject")
    if not isinstance(subject, str) or not subject:
        return None
    try:
        names = x509.Name.from_rfc4514_string(subject).get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    except ValueError:
        return subject  # the registry keeps at most 256 bytes of it: a cut name still says who
    return str(names[0].value) if names else subject


def _submitter(record: dict[str, Any] | None, looked_up: bool) -> tuple[str | None, str | None]:
    """(certificate subject, CA) of the submitting account, as the page states them."""
    if not looked_up:
        return None, None
    if record is None:
        return "不在成员登记中 not in the node's member records", None
    if not record.get("subject"):
        return "创世成员，未登记证书 a member named in genesis (no certificate)", None
    root = record.get("rootFingerprint")
    return str(record["subject"]), (f"根证书 SHA-256 root certificate fingerprint {root}" if root else None)


def _render(receipt: Receipt, verified: Verified, report: list[Outcome], file: Path, size: int,
            file_digests: dict[str, bytes], submitter: dict[str, Any] | None, looked_up: bool,
            witnesses: list[tuple[str, str]], quorum: tuple[int, int], signer: Signer,
            verifier_url: str | None) -> bytes:
    from client.evidence_pdf import CertificatePdfError, render_certificate
    from client.signers import SignerError

    # The page states the TSA's time in its section 2; a passed step says only that.
    words = {"passed": "通过 passed", "not checked": "未核验", "none": "无"}
    steps = [(o.step, "通过 passed（时间见第二部分 time in section 2）" if o.step == "trusted time" and o.state == "passed"
              else words[o.state] + (f" {o.detail}" if o.detail else "")) for o in report]
    try:
        return render_certificate(
            receipt, verified, steps=steps, file_name=file.name, file_size=size,
            file_digests={name: value.hex() for name, value in file_digests.items()},
            submitter=_submitter(submitter, looked_up), witnesses=witnesses, quorum=quorum,
            issued_at=datetime.now(UTC).replace(microsecond=0), signer=signer, verifier_url=verifier_url)
    except SignerError as exc:
        fail(f"the signer: {exc}", EXIT_REFUSED)
    except CertificatePdfError as exc:
        fail(f"cannot make the certificate ({exc.step}): {exc.reason}", EXIT_USAGE)
