"""`ledger evidence anchor | open | verify | show | certificate`: anchor files in one batch
(with an RFC 3161 token from a TSA, `--tsa`; sealed for recipients, `--encrypt-to`), open
a sealed file with a recipient's key, verify a receipt offline (no node, no network: the
receipt, the file, genesis.json and the TSA roots) or the evidence certificate that
carries one, look a digest up; `certificate` is client/cli_evidence_certificate.py's.

The SDK, the envelope and receipt code and rich's progress bar are imported by the
commands that use them, not at module level: `ledger` imports every command module each
time it runs, and most commands need none of them.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from chaincode import DIGEST_ALGORITHMS
from client.atomicfile import create_atomic
from client.cli_evidence_certificate import (
    DEFAULT_TSA_TOLERANCE_SECONDS,
    TsaRootOption,
    TsaToleranceOption,
    check_certificate,
    evidence_certificate,
    is_pdf,
    load_roots,
    outcomes,
    read_genesis,
    trusted_time_document,
    utc_text,
    valid_line,
)
from client.cli_options import (
    DEFAULT_RPC,
    JsonOption,
    KeyOption,
    PasswordOption,
    RpcOption,
    on_chain,
    parse_digest,
    reader,
    writer,
)
from client.render import EXIT_REFUSED, EXIT_USAGE, console, emit_json, fail, fields, hex0x, line, table, timestamp

evidence_app = typer.Typer(no_args_is_help=True, help="Evidence: anchor files (sealed for recipients if asked), open "
                                                      "sealed files, verify receipts offline, look digests up.")

RECEIPT_SUFFIX = ".receipt.json"
SEALED_SUFFIX = ".sealed.json"  # where the envelope of an --encrypt-to file is stored
BUNDLE_NAME = "bundle.receipts.jsonl"


def _collect(paths: list[Path]) -> list[tuple[Path, Path]]:
    """(file, its name relative to the path it was found under), directories walked in
    sorted order; exit 2 on a missing path."""
    found: list[tuple[Path, Path]] = []
    for path in paths:
        if path.is_dir():
            for item in sorted(p for p in path.rglob("*") if p.is_file()):
                found.append((item, item.relative_to(path.parent)))
        elif path.is_file():
            found.append((path, Path(path.name)))
        else:
            fail(f"{path}: no such file or directory")
    if not found:
        fail("no files to anchor")
    names = [str(rel) for _, rel in found]
    if len(set(names)) != len(names):
        fail("two files would get the same receipt name: anchor them in separate runs")
    return found


def _recipients(paths: list[Path]) -> list[Any]:
    """The --encrypt-to certificates, each checked to hold a key an envelope can be sealed
    for (RSA, EC or SM2: an SM2 certificate parses, but `public_key()` refuses its key),
    before any file is hashed or anything is asked of a TSA."""
    if not paths:
        return []
    from cryptography import x509

    from client.envelope import UnsupportedRecipient, recipient_key

    certificates = []
    for path in paths:
        try:
            certificate = x509.load_pem_x509_certificate(path.read_bytes())
        except (OSError, ValueError) as exc:
            fail(f"--encrypt-to {path}: not a readable PEM certificate ({exc})")
        try:
            recipient_key(certificate)
        except UnsupportedRecipient as exc:
            fail(f"--encrypt-to {path}: {exc.reason}")
        certificates.append(certificate)
    return certificates


@evidence_app.command("anchor")
def evidence_anchor(
    paths: Annotated[list[Path], typer.Argument(help="files or directories (walked recursively)")],
    kind: Annotated[str, typer.Option(help="kind of evidence: contract, web-capture, document, data-record…")] = "document",
    case: Annotated[str, typer.Option(help="case or project reference")] = "",
    algorithm: Annotated[str, typer.Option(help="digest algorithm: sha256 or sm3")] = "sha256",
    out: Annotated[Path, typer.Option(help="directory for the receipts")] = Path("receipts"),
    encrypt_to: Annotated[list[Path] | None, typer.Option(
        "--encrypt-to", help="recipient certificate (PEM; RSA, EC or SM2): seal each file for it and store the "
                             "ciphertext on the node (SM4-GCM when a recipient is SM2, AES-256-GCM otherwise)")] = None,
    index_members: Annotated[bool, typer.Option(
        "--index-members/--no-index-members",
        help="hand the files' digests to the node so each is found by its own digest (`evidence show`); "
             "--no-index-members for a batch whose digests are themselves confidential")] = True,
    tsa: Annotated[str | None, typer.Option(
        "--tsa", envvar="LEDGER_TSA_URL", help="RFC 3161 time-stamping authority URL: one token over the batch root, "
                                               "asked before the transaction is sent, in every receipt")] = None,
    key: KeyOption = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Hash the files, anchor their RFC 9162 root in one transaction, write one receipt per
    file (OUT/NAME.receipt.json) and the batch's bundle (OUT/bundle.receipts.jsonl)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from evidence import digest as digests

    try:
        digests.algorithm_id(algorithm)
    except ValueError as exc:
        fail(f"--algorithm: {exc}")
    if len(kind.encode()) > 32 or len(case.encode()) > 64 or not kind:
        fail("--kind is 1 to 32 bytes and --case at most 64 (the registry's bounds)")
    files = _collect(paths)
    recipients = _recipients(encrypt_to or [])
    if tsa is not None:
        from client.http import check_url

        try:
            check_url(tsa, "--tsa")
        except ValueError as exc:
            fail(str(exc))
    ledger = writer(rpc, key)
    total = sum(path.stat().st_size for path, _ in files)
    hashed: list[bytes] = []
    with Progress(TextColumn("hashing {task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=console, transient=True, disable=json_output) as progress:
        task = progress.add_task(f"{len(files)} file(s)", total=total)
        for path, _ in files:
            done = 0

            def advance(seen: int) -> None:
                nonlocal done
                progress.advance(task, seen - done)
                done = seen

            try:
                hashed.append(digests.digest_file(path, algorithm, progress=advance))
            except OSError as exc:
                fail(f"{path}: {exc.strerror}")
    from client.anchoring import anchor_batch, anchored_value
    from client.timestamping import TimestampingError, request_timestamp

    token = None
    if tsa is not None:
        # First: a TSA that gives no token stops the command before anything is stored
        # (sealed files included) or anchored; asked before the transaction, so that the
        # TSA's time is not after the block's.
        try:
            token = request_timestamp(tsa, anchored_value(hashed, batched=True))
        except TimestampingError as exc:
            fail(f"{exc}; nothing was stored or anchored", EXIT_USAGE if exc.step is None else EXIT_REFUSED)
    sealed: dict[Path, dict[str, Any]] = {}
    if recipients:
        # The ciphertext goes to the node's blob store, never on chain; the receipt proves
        # the plaintext's digest, so whoever opens the envelope can verify what they read.
        from client.blobs import BlobError, put_blob
        from client.envelope import EnvelopeError, fingerprint, seal_envelope

        for path, relative in files:
            try:
                blob = put_blob(rpc, seal_envelope(path.read_bytes(), recipients))
            except BlobError as exc:  # 401/403: no token, or a role without blobs:write
                fail(f"{path}: cannot store it: {exc}", EXIT_USAGE if exc.status in (401, 403) else EXIT_REFUSED)
            except (EnvelopeError, OSError) as exc:
                fail(f"{path}: cannot seal and store it: {exc}", EXIT_REFUSED)
            sealed[relative] = {"sha256": blob, "recipients": [hex0x(fingerprint(c)) for c in recipients], "node": rpc}
    with on_chain(rpc):
        anchoring = anchor_batch(ledger, hashed, kind=kind, case=case, algorithm=algorithm,
                                 index_members=index_members, timestamp_token=token)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with (out / BUNDLE_NAME).open("w") as bundle:
        for (_, relative), receipt in zip(files, anchoring.receipts):
            target = out / (str(relative) + RECEIPT_SUFFIX)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(receipt.to_json())
            bundle.write(json.dumps(receipt.to_document()) + "\n")
            record: dict[str, Any] = {"file": str(relative), "digest": hex0x(receipt.digest), "receipt": str(target)}
            if relative in sealed:
                sealed_path = out / (str(relative) + SEALED_SUFFIX)
                sealed_path.write_text(json.dumps(sealed[relative], indent=2) + "\n")
                record["sealed"] = sealed[relative]
            written.append(record)
    result = anchoring.result
    root = anchoring.receipts[0].anchored
    stamped = _stamped(anchoring.receipts[0].timestamp_token, tsa)
    members = anchoring.members
    if json_output:
        emit_json({"root": hex0x(root), "files": written, "tx": hex0x(result.tx_hash),
                   "block": result.block_number, "bundle": str(out / BUNDLE_NAME),
                   "membersIndexed": bool(members and members.indexed),
                   "membersNote": members.reason if members else None, "timestamp": stamped})
        return
    fields(f"{len(files)} file(s) anchored in one transaction", [
        ("batch root", root), ("kind", kind), ("case", case or "-"), ("algorithm", algorithm),
        ("tx", result.tx_hash), ("block", result.block_number), ("receipts", f"{out}/ (and {BUNDLE_NAME})"),
        ("members", "indexed: each file is found by its digest (ledger evidence show)" if members and members.indexed
         else f"not indexed: {members.reason if members else '-'}"),
        *([("time-stamp", f"RFC 3161 token from {tsa}, serial {stamped['serial']}, TSA time {stamped['time']} "
                          "(check it: verify --tsa-root)")] if stamped else []),
    ])


@evidence_app.command("open")
def evidence_open(
    source: Annotated[str, typer.Argument(
        metavar="ENVELOPE", help="a sealed record (NAME.sealed.json, as --encrypt-to writes it), an envelope's "
                                 "SHA-256 on the node, or an envelope file")],
    cert: Annotated[Path, typer.Option("--cert", help="your certificate (PEM): one the envelope was sealed for")],
    cert_key: Annotated[Path, typer.Option(
        "--cert-key", help="its private key (PEM or DER; encrypted: give --password): RSA, EC or SM2")],
    out: Annotated[Path, typer.Option("--out", help="file to write the content to (never overwritten)")],
    aad: Annotated[str | None, typer.Option(
        "--aad", help="the associated data it was sealed with, as text (e.g. a case reference)")] = None,
    aad_hex: Annotated[str | None, typer.Option(
        "--aad-hex", help="the associated data as 0x-hex (the SDK binds a contract's document to its id)")] = None,
    password: PasswordOption = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Open a sealed envelope (docs/envelopes.md) with your certificate and key: any
    content cipher (AES-256-GCM, SM4-GCM) and key (RSA, EC, SM2; encrypted with --password),
    fetched from the node by its SHA-256 (checked) or read from a file. Writes the content
    to OUT and prints its SHA-256 and SM3, so `ledger evidence verify RECEIPT --file OUT`
    can check it. Exit 1 when the envelope is not for the certificate or fails to
    authenticate; 2 for bad input (a key that is not the certificate's, a wrong password)."""
    import hashlib

    from cryptography import x509

    from client import pkifiles
    from client.blobs import BlobError, BlobNotFound, get_blob
    from client.envelope import MAGIC, Envelope, EnvelopeError, KeyMismatch, fingerprint, open_envelope
    from evidence.sm2 import sm3

    if aad is not None and aad_hex is not None:
        fail("give --aad or --aad-hex, not both")
    associated = aad.encode() if aad is not None else _hex_option(aad_hex, "--aad-hex") if aad_hex is not None else b""
    try:
        certificate = x509.load_pem_x509_certificate(cert.read_bytes())
    except (OSError, ValueError) as exc:
        fail(f"--cert {cert}: not a readable PEM certificate ({exc})")
    try:
        # RSA, EC or SM2, any key file format, its encryption's cost capped (client.pkifiles).
        key = pkifiles.load_private_key(cert_key.read_bytes(), password.encode() if password else None)
    except OSError as exc:
        fail(f"--cert-key {cert_key}: {exc.strerror}")
    except ValueError as exc:
        fail(f"--cert-key {cert_key}: {exc}")
    name = _envelope_name(source)
    if name is None:
        envelope = _read_capped(Path(source))
        if not envelope.startswith(MAGIC):
            name = _sealed_record_name(envelope, source)
    if name is not None:
        try:
            envelope = get_blob(rpc, name)
        except BlobNotFound as exc:
            fail(str(exc), EXIT_REFUSED)
        except BlobError as exc:  # no node, no token, a role without blobs:read
            fail(str(exc), EXIT_USAGE if exc.status in (None, 401, 403) else EXIT_REFUSED)
    try:
        content = open_envelope(envelope, key, certificate, aad=associated)
        cipher = Envelope.parse(envelope).content_cipher
    except KeyMismatch as exc:  # what was given is wrong, not the envelope
        fail(f"--cert-key {cert_key}: {exc}", EXIT_USAGE)
    except EnvelopeError as exc:
        fail(str(exc), EXIT_REFUSED)
    try:
        create_atomic(out, content)
    except FileExistsError:
        fail(f"--out {out} exists: it is never overwritten")
    except OSError as exc:
        fail(f"--out {out}: {exc.strerror}")
    opened = {"out": str(out), "bytes": len(content), "sha256": hex0x(hashlib.sha256(content).digest()),
              "sm3": hex0x(sm3(content)), "contentCipher": cipher, "recipient": hex0x(fingerprint(certificate)),
              "envelope": hex0x(hashlib.sha256(envelope).digest())}
    if json_output:
        emit_json(opened)
        return
    fields(f"opened: {len(content)} bytes written to {out}", [
        ("envelope", opened["envelope"]), ("content cipher", cipher), ("recipient", opened["recipient"]),
        ("sha256", opened["sha256"]), ("sm3", opened["sm3"]),
        ("check", f"ledger evidence verify RECEIPT --file {out} --genesis genesis.json"),
    ])


# An --encrypt-to record is a few hundred bytes; an envelope file at most the node's blob cap.
MAX_SEALED_RECORD_BYTES = 64 * 1024


def _sha256_hex(text: str) -> str | None:
    """`text` as a lowercase 64-digit SHA-256 (0x optional), or None."""
    digits = text.lower().removeprefix("0x")
    return digits if len(digits) == 64 and all(c in "0123456789abcdef" for c in digits) else None


def _envelope_name(source: str) -> str | None:
    """The SHA-256 an ENVELOPE argument names, when it is one and no file has that name."""
    return None if Path(source).exists() else _sha256_hex(source)


def _read_capped(path: Path) -> bytes:
    from node.api import MAX_BLOB_BYTES

    try:
        if path.stat().st_size > MAX_BLOB_BYTES:
            fail(f"{path}: larger than an envelope can be ({MAX_BLOB_BYTES} bytes)")
        return path.read_bytes()
    except OSError as exc:
        fail(f"{path}: {exc.strerror or exc}")


def _sealed_record_name(data: bytes, source: str) -> str:
    """The envelope's SHA-256 in a sealed record ({"sha256": …}, as --encrypt-to writes)."""
    record: Any = None
    if len(data) <= MAX_SEALED_RECORD_BYTES:
        try:
            record = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            record = None
    name = record.get("sha256") if isinstance(record, dict) else None
    digest = _sha256_hex(name) if isinstance(name, str) else None
    if digest is None:
        fail(f"{source}: neither an envelope (ELSEAL…) nor a sealed record ({{\"sha256\": …}})")
    return digest


def _hex_option(text: str, option: str) -> bytes:
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        fail(f"{option}: not hex")


def _stamped(token: bytes | None, tsa: str | None) -> dict[str, Any] | None:
    """What the TSA's token says (unchecked here: a verifier checks it against its root)."""
    if token is None:
        return None
    from evidence.timestamp import parse_token

    info = parse_token(token)
    return {"tsa": tsa, "time": utc_text(info.time), "serial": info.serial}


@evidence_app.command("verify")
def evidence_verify(
    receipt_path: Annotated[Path, typer.Argument(
        metavar="RECEIPT", help="a .receipt.json, a bundle .jsonl, or an evidence certificate .pdf")],
    genesis: Annotated[Path, typer.Option(help="the consortium's genesis.json")],
    file: Annotated[Path | None, typer.Option(help="the file the receipt is for (checked first)")] = None,
    tsa_root: TsaRootOption = None,
    tsa_tolerance: TsaToleranceOption = DEFAULT_TSA_TOLERANCE_SECONDS,
    issuer_root: Annotated[list[Path] | None, typer.Option(
        "--issuer-root", help="root certificate(s) (PEM) of certificate issuers you trust: checks a .pdf's "
                              "signature (repeatable)")] = None,
    json_output: JsonOption = False,
) -> None:
    """Verify a receipt offline, printing each step; exit 0 valid, 1 invalid. Given an
    evidence certificate (PDF): its issuer's signature first, then the receipt inside."""
    from datetime import timedelta

    from evidence import digest as digests
    from evidence.receipt import STEPS, Receipt, VerificationError, verify_receipt

    trust = read_genesis(genesis)
    tsa_roots = load_roots(tsa_root, "--tsa-root")
    certificate: dict[str, Any] | None = None
    if is_pdf(receipt_path):
        checked = check_certificate(receipt_path, load_roots(issuer_root, "--issuer-root"))
        issuer_ok = checked.issuer.state == "passed"
        certificate = {"issuerChecked": issuer_ok, "issuer": checked.issuer.detail if issuer_ok else None}
        problem = checked.failure or (checked.issuer if checked.issuer.state == "failed" else None)
        if not json_output:
            line(checked.issuer.text())
        if problem is not None:
            if json_output:
                emit_json({"valid": False, "certificate": {**certificate, "failedStep": problem.step,
                                                           "reason": problem.detail}, "receipts": []})
            else:
                if problem is checked.failure:
                    line(problem.text())
                line("INVALID")
            raise typer.Exit(EXIT_REFUSED)
        assert checked.receipt_text is not None
        lines = [checked.receipt_text]
    else:
        if issuer_root:
            fail("--issuer-root goes with an evidence certificate (.pdf)")
        try:
            text = receipt_path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read the receipt: {exc}")
        lines = [t for t in text.splitlines() if t.strip()] if receipt_path.suffix == ".jsonl" else [text]
    if file is not None and len(lines) != 1:
        fail("--file goes with one receipt, not a bundle")
    reports = []
    for item in lines:
        failed: VerificationError | None = None
        verified = None
        receipt = None
        try:
            if isinstance(trust, VerificationError):
                raise trust
            receipt = Receipt.parse_text(item)
            content_digest = digests.digest_file(file, receipt.algorithm) if file is not None else None
            verified = verify_receipt(receipt, trust, content_digest=content_digest, tsa_roots=tsa_roots,
                                      tsa_tolerance=timedelta(seconds=tsa_tolerance))
        except VerificationError as exc:
            failed = exc
        except OSError as exc:
            fail(f"--file {file}: {exc.strerror}")
        reports.append((verified, failed))
        if not json_output:
            _print_steps(STEPS, failed, verified, receipt, with_file=file is not None, tsa_roots_given=bool(tsa_roots))
    valid = all(f is None for _, f in reports)
    if json_output:
        document: dict[str, Any] = {"valid": valid, "receipts": [
            {"valid": f is None, "failedStep": f.step if f else None, "reason": f.reason if f else None,
             "digest": hex0x(v.digest) if v else None, "block": v.block_number if v else None,
             "timestamp": v.timestamp if v else None, "signers": [hex0x(s) for s in v.signers] if v else None,
             "chainName": v.chain_name if v else None, "genesisHash": hex0x(v.genesis_hash) if v else None,
             "submitter": hex0x(v.submitter) if v else None, "trustedTime": trusted_time_document(v)}
            for v, f in reports]}
        if certificate is not None:
            document["certificate"] = certificate
        emit_json(document)
    elif len(reports) > 1:
        line(f"{sum(f is None for _, f in reports)} of {len(reports)} receipts valid")
    if not valid:
        raise typer.Exit(EXIT_REFUSED)


def _print_steps(steps: tuple[str, ...], failed: Any, verified: Any, receipt: Any, *, with_file: bool,
                 tsa_roots_given: bool) -> None:
    if failed is not None and failed.step not in steps:  # "format", "genesis": no step was reached
        line(f"✗ {failed.step}: {failed.reason}")
        line("INVALID")
        return
    for outcome in outcomes(steps, failed, verified, receipt=receipt, with_file=with_file,
                            tsa_roots_given=tsa_roots_given):
        line(outcome.text() if outcome.state != "not reached" else f"  {outcome.step}: not reached")
    line(valid_line(verified) if verified is not None else "INVALID")


evidence_app.command("certificate")(evidence_certificate)


@evidence_app.command("show")
def evidence_show(
    digest: Annotated[str, typer.Argument(help="a file's digest, or a batch root (0x-hex)")],
    receipt_out: Annotated[Path | None, typer.Option(
        "--receipt-out", metavar="FILE",
        help="write the entry's receipt, rebuilt from the node, to FILE (`ledger evidence verify` checks it)")] = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """What the registry holds for a digest (its first anchoring and every later one), and
    the anchored batches the node knows it is a member of."""
    from client.ledger import Reverted

    value = parse_digest(digest, "DIGEST")
    with on_chain(rpc):
        ledger, head = reader(rpc)
        try:
            entry = ledger.call(ledger.evidence.functions.get_entry(value))
        except Reverted as exc:  # the registry's "digest not anchored": perhaps a batch member
            if "not anchored" not in exc.reason:
                raise
            entry = None
        count = entry[6] if entry is not None else 0
        anchorings = [ledger.call(ledger.evidence.functions.anchoring(value, n)) for n in range(1, count + 1)]
        memberships, note = _memberships(ledger, value, alone=entry is None)
        if entry is None and not memberships:
            fail(f"0x{value.hex()} is not anchored, and no batch whose members this node holds has it", EXIT_REFUSED)
        if receipt_out is not None:
            from client.anchoring import rebuild_receipt

            receipt_out.write_text(rebuild_receipt(ledger, value).to_json())
    rows = [{"n": n, "submitter": a[0], "block": a[1], "time": a[2]} for n, a in enumerate(anchorings, 1)]
    batches = [{"root": m["batch"]["root"], "leafIndex": m["batch"]["leafIndex"], "treeSize": m["batch"]["treeSize"],
                "kind": m["kind"], "case": m["caseRef"], "algorithm": m["digestAlgorithm"], "submitter": m["submitter"],
                "block": m["anchored"]["block"], "time": m["anchored"]["time"],
                "transactionHash": m["anchored"]["transactionHash"]} for m in memberships]
    if json_output:
        shown: dict[str, Any] = {"digest": hex0x(value)}
        if entry is not None:
            kind, case, algorithm, leaf_count, metadata = entry[:5]
            shown.update(kind=kind, case=case, algorithm=_algorithm_name(algorithm), leafCount=leaf_count,
                         metadataDigest=hex0x(bytes(metadata)), anchorings=rows)
        shown.update(memberOf=batches, membersNote=note, block=head.number,
                     receipt=str(receipt_out) if receipt_out is not None else None)
        emit_json(shown)
        return
    if entry is not None:
        kind, case, algorithm, leaf_count, metadata = entry[:5]
        fields(f"evidence 0x{value.hex()}", [
            ("kind", kind), ("case", case or "-"), ("algorithm", _algorithm_name(algorithm)),
            ("leaves", leaf_count), ("metadata", bytes(metadata)), ("first anchored", f"block {rows[0]['block']} at {timestamp(rows[0]['time'])}"),
        ])
        table("anchorings (the first is kept; later ones are recorded beside it)", ["#", "submitter", "block", "time"],
              [(r["n"], r["submitter"], r["block"], timestamp(r["time"])) for r in rows])
    for b in batches:
        fields(f"evidence 0x{value.hex()}: a batch member", [
            ("member of", f"batch {b['root']}"), ("leaf", f"{b['leafIndex']} of {b['treeSize']}"), ("kind", b["kind"]),
            ("case", b["case"] or "-"), ("algorithm", b["algorithm"]),
            ("anchored", f"block {b['block']} at {timestamp(b['time'])} by {b['submitter']}"),
            ("tx", b["transactionHash"]),
        ])
    if note is not None:
        line(f"batch memberships not shown: {note}")
    if receipt_out is not None:
        line(f"receipt written to {receipt_out} (check it with: ledger evidence verify {receipt_out} --file FILE "
             "--genesis genesis.json)")


def _memberships(ledger: Any, digest: bytes, *, alone: bool) -> tuple[list[dict[str, Any]], str | None]:
    """The indexed batches `digest` is a member of (the node's /v1/evidence/{digest}), and
    why they could not be read when the registry's own entry is shown without them (a
    token without evidence:read). Where there is no entry, the refusal is the answer."""
    from client.anchoring import EvidenceNotFound, evidence_entries
    from client.http import HttpError

    try:
        return [e for e in evidence_entries(ledger, digest) if e.get("batch")], None
    except EvidenceNotFound:
        return [], None
    except HttpError as exc:
        if alone or exc.status not in (401, 403):
            raise
        return [], exc.message


def _algorithm_name(algorithm: int) -> Any:
    return {v: k for k, v in DIGEST_ALGORITHMS.items()}.get(algorithm, algorithm)
