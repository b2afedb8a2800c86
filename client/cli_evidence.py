"""`ledger evidence anchor | verify | show`: anchor files in one batch, verify a receipt
offline (no node, no network: the receipt, the file and genesis.json), look a digest up.

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
from client.cli_options import DEFAULT_RPC, JsonOption, KeyOption, RpcOption, on_chain, parse_digest, reader, writer
from client.render import EXIT_REFUSED, EXIT_USAGE, console, emit_json, fail, fields, hex0x, line, table, timestamp

evidence_app = typer.Typer(no_args_is_help=True, help="Evidence: anchor files, verify receipts offline, look digests up.")

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
    from cryptography import x509

    certificates = []
    for path in paths:
        try:
            certificates.append(x509.load_pem_x509_certificate(path.read_bytes()))
        except (OSError, ValueError) as exc:
            fail(f"--encrypt-to {path}: not a readable PEM certificate ({exc})")
    return certificates


@evidence_app.command("anchor")
def evidence_anchor(
    paths: Annotated[list[Path], typer.Argument(help="files or directories (walked recursively)")],
    kind: Annotated[str, typer.Option(help="kind of evidence: contract, web-capture, document, data-record…")] = "document",
    case: Annotated[str, typer.Option(help="case or project reference")] = "",
    algorithm: Annotated[str, typer.Option(help="digest algorithm: sha256 or sm3")] = "sha256",
    out: Annotated[Path, typer.Option(help="directory for the receipts")] = Path("receipts"),
    encrypt_to: Annotated[list[Path] | None, typer.Option(
        "--encrypt-to", help="recipient certificate (PEM): seal each file for it and store the ciphertext on the node")] = None,
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
    from client.anchoring import anchor_batch

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
        anchoring = anchor_batch(ledger, hashed, kind=kind, case=case, algorithm=algorithm)
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
    if json_output:
        emit_json({"root": hex0x(root), "files": written, "tx": hex0x(result.tx_hash),
                   "block": result.block_number, "bundle": str(out / BUNDLE_NAME)})
        return
    fields(f"{len(files)} file(s) anchored in one transaction", [
        ("batch root", root), ("kind", kind), ("case", case or "-"), ("algorithm", algorithm),
        ("tx", result.tx_hash), ("block", result.block_number), ("receipts", f"{out}/ (and {BUNDLE_NAME})"),
    ])


@evidence_app.command("verify")
def evidence_verify(
    receipt_path: Annotated[Path, typer.Argument(metavar="RECEIPT", help="a .receipt.json (or a bundle .jsonl)")],
    genesis: Annotated[Path, typer.Option(help="the consortium's genesis.json")],
    file: Annotated[Path | None, typer.Option(help="the file the receipt is for (checked first)")] = None,
    json_output: JsonOption = False,
) -> None:
    """Verify a receipt offline, printing each step; exit 0 valid, 1 invalid."""
    from evidence import digest as digests
    from evidence.receipt import STEPS, GenesisTrust, Receipt, VerificationError, verify_receipt

    try:
        genesis_doc = json.loads(genesis.read_text())
        text = receipt_path.read_text()
    except (OSError, json.JSONDecodeError) as exc:
        fail(f"cannot read the receipt or genesis: {exc}")
    lines = [t for t in text.splitlines() if t.strip()] if receipt_path.suffix == ".jsonl" else [text]
    if file is not None and len(lines) != 1:
        fail("--file goes with one receipt, not a bundle")
    reports = []
    try:  # once: it hashes genesis.json's state (evidence/genesis.py)
        trust: GenesisTrust | VerificationError = GenesisTrust.from_document(genesis_doc)
    except VerificationError as exc:
        trust = exc  # reported for each receipt, at the step "genesis"
    for item in lines:
        failed: VerificationError | None = None
        verified = None
        try:
            if isinstance(trust, VerificationError):
                raise trust
            receipt = Receipt.parse_text(item)
            content_digest = digests.digest_file(file, receipt.algorithm) if file is not None else None
            verified = verify_receipt(receipt, trust, content_digest=content_digest)
        except VerificationError as exc:
            failed = exc
        except OSError as exc:
            fail(f"--file {file}: {exc.strerror}")
        reports.append((verified, failed))
        if not json_output:
            _print_steps(STEPS, failed, file is not None, verified)
    valid = all(f is None for _, f in reports)
    if json_output:
        emit_json({"valid": valid, "receipts": [
            {"valid": f is None, "failedStep": f.step if f else None, "reason": f.reason if f else None,
             "digest": hex0x(v.digest) if v else None, "block": v.block_number if v else None,
             "timestamp": v.timestamp if v else None, "signers": [hex0x(s) for s in v.signers] if v else None}
            for v, f in reports]})
    elif len(reports) > 1:
        line(f"{sum(f is None for _, f in reports)} of {len(reports)} receipts valid")
    if not valid:
        raise typer.Exit(EXIT_REFUSED)


def _print_steps(steps: tuple[str, ...], failed: Any, with_file: bool, verified: Any) -> None:
    reached = steps.index(failed.step) if failed is not None and failed.step in steps else len(steps)
    if failed is not None and failed.step not in steps:
        line(f"✗ {failed.step}: {failed.reason}")
        return
    for index, step in enumerate(steps):
        if step == "file" and not with_file:
            line(f"- {step}: not checked (no --file)")
        elif index < reached:
            line(f"✓ {step}")
        elif index == reached:
            line(f"✗ {step}: {failed.reason}")
        else:
            line(f"  {step}: not reached")
    if verified is not None:
        line(f"VALID: 0x{verified.digest.hex()} anchored in block {verified.block_number} at "
             f"{timestamp(verified.timestamp)}, sealed by {len(verified.signers)} of {len(verified.validators)} validators")
    else:
        line("INVALID")


@evidence_app.command("show")
def evidence_show(
    digest: Annotated[str, typer.Argument(help="the digest or batch root (0x-hex)")],
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """What the registry holds for a digest: its first anchoring and every later one."""
    value = parse_digest(digest, "DIGEST")
    with on_chain(rpc):
        ledger, head = reader(rpc)
        entry = ledger.call(ledger.evidence.functions.get_entry(value))
        kind, case, algorithm, leaf_count, metadata, first, count = entry
        anchorings = [ledger.call(ledger.evidence.functions.anchoring(value, n)) for n in range(1, count + 1)]
    names = {v: k for k, v in DIGEST_ALGORITHMS.items()}
    rows = [{"n": n, "submitter": a[0], "block": a[1], "time": a[2]} for n, a in enumerate(anchorings, 1)]
    if json_output:
        emit_json({"digest": hex0x(value), "kind": kind, "case": case, "algorithm": names.get(algorithm, algorithm),
                   "leafCount": leaf_count, "metadataDigest": hex0x(bytes(metadata)), "anchorings": rows,
                   "block": head.number})
        return
    fields(f"evidence 0x{value.hex()}", [
        ("kind", kind), ("case", case or "-"), ("algorithm", names.get(algorithm, algorithm)),
        ("leaves", leaf_count), ("metadata", bytes(metadata)), ("first anchored", f"block {rows[0]['block']} at {timestamp(rows[0]['time'])}"),
    ])
    table("anchorings (the first is kept; later ones are recorded beside it)", ["#", "submitter", "block", "time"],
          [(r["n"], r["submitter"], r["block"], timestamp(r["time"])) for r in rows])
