"""`ledger audit …`: what auditors and supervision offices ask of the chain — its summary, a block, a transaction and its events, contracts with every attestation, evidence, commitments and the per-unit report — from the node's REST indexes (/v1/) and JSON-RPC, and whole exports as CSV or JSON lines.

Exit codes: 0 success; 2 bad input, an unknown id, no node at --rpc or a refused token.
(1, "a verification failed", is not an outcome of any audit command: they only read.)
"""
from __future__ import annotations

import csv
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator, Optional, Sequence

import typer

from chaincode import COMMITMENT_STATUS
from client.cli_pki import DEFAULT_RPC, JsonOption, RpcOption, parse_address, parse_digest
from client.render import EXIT_USAGE, emit_json, fail, fields, line, table, timestamp

audit_app = typer.Typer(
    no_args_is_help=True,
    help="Audit the chain: summary, blocks, transactions, contracts, evidence, commitments, reports, exports.",
)

HTTP_TIMEOUT_SECONDS = 60.0
# The node's pages are at most 1,000 records of a few kB; a body far beyond that is not
# one of its answers, and reading it whole could exhaust memory.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
MAX_PAGE = 1_000           # node/storage/indexes.py MAX_PAGE: the most a page may ask for
DEFAULT_LIST_LIMIT = 50    # rows a list command shows unless --limit or --all

# CSV columns of each export, in the REST records' order (docs/cli.md lists them). A
# test checks they cover every field the node returns, so none is silently dropped.
COLUMNS: dict[str, tuple[str, ...]] = {
    "contracts": ("id", "projectCode", "version", "previous", "docDigest", "digestAlgorithm", "parties", "amount",
                  "metadataDigest", "registrar", "status", "registered", "effective", "supersededBy", "voided",
                  "signatures", "voidRequests"),
    "evidence": ("digest", "digestAlgorithm", "kind", "caseRef", "caseHash", "leafCount", "metadataDigest",
                 "submitter", "anchoring", "anchored"),
    "commitments": ("id", "agreement", "clause", "side", "responsibleUnit", "obligor", "counterparty", "deadline",
                    "descriptionDigest", "created", "status", "raised", "report", "confirmation", "alerts"),
    "events": ("cursor", "block", "logIndex", "timestamp", "blockHash", "transactionHash", "transactionIndex",
               "topic", "contract", "address", "event", "args"),
}
COMMITMENT_STATUSES = tuple(COMMITMENT_STATUS.values())  # the tracker's names, as the node reports them


class Order(str, Enum):
    asc = "asc"
    desc = "desc"


class ExportKind(str, Enum):
    contracts = "contracts"
    evidence = "evidence"
    commitments = "commitments"
    events = "events"


class ExportFormat(str, Enum):
    csv = "csv"
    jsonl = "jsonl"


LimitOption = Annotated[Optional[int], typer.Option(
    "--limit", min=1, help=f"at most this many rows (default {DEFAULT_LIST_LIMIT})")]
AllOption = Annotated[bool, typer.Option("--all", help="every row, page after page")]
OrderOption = Annotated[Order, typer.Option("--order", help="asc: oldest first; desc: newest first")]
ProjectFilter = Annotated[Optional[str], typer.Option("--project", help="project code")]
PartyFilter = Annotated[Optional[str], typer.Option("--party", help="a party's address")]
ContractStatusFilter = Annotated[Optional[str], typer.Option(
    "--status", help="contracts: Pending, Effective, Superseded, Voided; commitments: on-track, reminder, warning, "
    "demand, fulfilled (now)")]
SinceFilter = Annotated[Optional[str], typer.Option(
    "--since", help="contracts registered at or after (seconds or ISO 8601 date/time); events: after this cursor")]
UntilFilter = Annotated[Optional[str], typer.Option("--until", help="registered at or before (seconds or ISO 8601)")]
CaseFilter = Annotated[Optional[str], typer.Option("--case", help="case reference")]
KindFilter = Annotated[Optional[str], typer.Option("--kind", help="evidence kind (webpage, contract-pdf, ...)")]
RaisedFilter = Annotated[Optional[str], typer.Option("--raised", help="the level the chain last raised")]
UnitFilter = Annotated[Optional[str], typer.Option("--unit", help="responsible unit")]
DueAfterFilter = Annotated[Optional[str], typer.Option("--due-after", help="deadline at or after (seconds or ISO 8601)")]
DueBeforeFilter = Annotated[Optional[str], typer.Option("--due-before", help="deadline at or before (seconds or ISO 8601)")]


# -- talking to the node -------------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class NodeApi:
    """The node's REST (/v1/) and JSON-RPC, with the access token of client/auth.py. A
    refusal exits 2 with its one-line reason (`get`), or raises ApiError (`fetch`)."""

    def __init__(self, rpc: str) -> None:
        from client.auth import TokenError, auth_headers, current_token

        parts = urllib.parse.urlsplit(rpc)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            fail(f"--rpc {rpc!r}: expected an http:// or https:// URL")
        try:
            token = current_token()
        except TokenError as exc:
            fail(str(exc))
        self.rpc = rpc
        self.base = rpc.rstrip("/")
        self.headers = {"Accept": "application/json", **auth_headers(token)}

    def _send(self, request: urllib.request.Request) -> Any:
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
                body = response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise ApiError(exc.code, _error_message(exc)) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            fail(f"cannot reach the node at {self.rpc}: {reason}")
        if len(body) > MAX_RESPONSE_BYTES:
            fail(f"{self.rpc}: an answer larger than {MAX_RESPONSE_BYTES} bytes")
        try:
            return json.loads(body)
        except ValueError:
            fail(f"{self.rpc}: the answer is not JSON")

    def fetch(self, path: str, params: dict[str, Any] | None = None) -> Any:
        query = urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v is not None})
        url = f"{self.base}/v1/{path}" + (f"?{query}" if query else "")
        return self._send(urllib.request.Request(url, headers=self.headers))

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        try:
            return self.fetch(path, params)
        except ApiError as exc:
            refused(exc, self.rpc)

    def call(self, method: str, *params: Any) -> Any:
        """One JSON-RPC call; a refusal (HTTP or the -40100 of a role) exits 2."""
        from client.auth import is_unauthorized, refusal_message

        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
        request = urllib.request.Request(self.base + "/", data=body,
                                         headers={**self.headers, "Content-Type": "application/json"})
        try:
            reply = self._send(request)
        except ApiError as exc:
            refused(exc, self.rpc)
        error = reply.get("error") if isinstance(reply, dict) else None
        if isinstance(error, dict) and is_unauthorized(error):
            fail(refusal_message(f"{method}: {error.get('message')}"))
        if error is not None:
            fail(f"{method}: {error.get('message') if isinstance(error, dict) else error}")
        return reply.get("result")

    def pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of a paged list, page after page."""
        after: str | None = None
        while True:
            page = self.get(path, {**params, "limit": MAX_PAGE, "after": after})
            yield from page["items"]
            after = page["next"]
            if after is None:
                return

    def first(self, path: str, params: dict[str, Any], limit: int) -> tuple[list[dict[str, Any]], bool]:
        """The first `limit` items of a paged list, and whether the node has more."""
        items: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            page = self.get(path, {**params, "limit": min(MAX_PAGE, limit - len(items)), "after": after})
            items.extend(page["items"])
            after = page["next"]
            if after is None or len(items) >= limit:
                return items, after is not None

    def events(self, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every feed event after `since` (GET /v1/events), until caught up with the head."""
        since = params.get("since")
        while True:
            page = self.get("events", {**params, "since": since, "limit": MAX_PAGE})
            yield from page["items"]
            if page["next"] is None or page["next"] == since:
                return
            since = page["next"]


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        message = json.loads(exc.read(MAX_RESPONSE_BYTES))["error"]
        if isinstance(message, dict):  # a JSON-RPC error object (the 401 of POST /)
            message = message.get("message")
        if isinstance(message, str) and message:
            return message.splitlines()[0][:300]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return str(exc.reason)


def refused(exc: ApiError, rpc: str) -> Any:
    """Exit 2 with the one-line reason of a refusal."""
    from client.auth import NEEDS_TOKEN, refusal_message

    if exc.status == 401:
        fail(f"{NEEDS_TOKEN} ({rpc} answered 401: {exc.message})")
    if exc.status == 403:
        fail(refusal_message(exc.message))
    if exc.status in (400, 404):
        fail(exc.message)
    fail(f"{rpc} answered HTTP {exc.status}: {exc.message}")


def take(api: NodeApi, path: str, params: dict[str, Any], limit: int | None, every: bool) -> tuple[list[dict[str, Any]], bool]:
    """A list command's rows: `limit` (default DEFAULT_LIST_LIMIT) or all; and whether
    the node has more."""
    if every and limit is not None:
        fail("give --limit N or --all, not both")
    if every:
        return list(api.pages(path, params)), False
    return api.first(path, params, limit or DEFAULT_LIST_LIMIT)


# -- rendering --------------------------------------------------------------------------


def when(record: dict[str, Any] | None) -> str:
    """A REST `When` (block, time, cursor, transactionHash) as one line."""
    if not record:
        return "-"
    return f"{timestamp(record['time'])}, block {record['block']}"


def more_note(shown: int, more: bool, what: str) -> None:
    line(f"{shown} {what}" + (" (more on the node: --limit N or --all)" if more else ""))


def event_detail(event: dict[str, Any]) -> str:
    """Who did it, for a history row."""
    args = event.get("args", {})
    for key in ("signer", "party", "by", "registrar", "obligor"):
        if key in args:
            extra = " (regulator)" if args.get("byRegulator") else " (supervisor)" if args.get("bySupervisor") else ""
            return f"{key} {args[key]}{extra}"
    if "level" in args:
        return f"level {COMMITMENT_STATUSES[args['level']] if 0 <= args['level'] < 5 else args['level']}"
    return ""


def history_table(events: Sequence[dict[str, Any]]) -> None:
    table("history", ["block", "time", "event", "detail", "transaction"],
          [(e["block"], timestamp(e["timestamp"]), e["event"], event_detail(e), e["transactionHash"]) for e in events],
          numeric=["block"])


# -- summary, block, tx -------------------------------------------------------------------


@audit_app.command("summary")
def audit_summary(rpc: RpcOption = DEFAULT_RPC, json_output: JsonOption = False) -> None:
    """Height, head, validators, members, roots, and counts of contracts, evidence and commitments."""
    doc = NodeApi(rpc).get("summary")
    if json_output:
        emit_json(doc)
        return
    counts = doc["counts"]
    contracts, commitments = counts["contracts"], counts["commitments"]
    fields(f"chain {doc['chainId']} at {rpc}", [
        ("height", doc["height"]),
        ("head", doc["head"]),
        ("indexed to", doc["indexedHeight"]),
        ("validators", "\n".join(doc["validators"])),
        ("members", counts["members"]),
        ("trusted roots", counts["trustedRoots"]),
        ("revocations", counts["revocations"]),
        ("events", counts["events"]),
        ("contracts", f"{contracts['total']}: " + ", ".join(
            f"{contracts.get(s, 0)} {s}" for s in ("Pending", "Effective", "Superseded", "Voided"))),
        ("evidence", counts["evidence"]),
        ("commitments", f"{commitments['total']}: {commitments['open']} open, {commitments['fulfilled']} fulfilled; "
                        f"{commitments['units']} responsible units"),
        ("alerts raised", f"{commitments['alertsRaised']}, {commitments['demandsRaised']} of them demands "
                          "escalated to supervision"),
    ])


def _block_ref(ref: str) -> tuple[str, Any]:
    """(method, argument) of `latest`, a height or a 0x block hash; exit 2 otherwise."""
    if ref == "latest":
        return "eth_getBlockByNumber", "latest"
    if ref.isdigit():
        return "eth_getBlockByNumber", hex(int(ref))
    return "eth_getBlockByHash", "0x" + parse_digest(ref, "BLOCK").hex()


@audit_app.command("block")
def audit_block(
    ref: Annotated[str, typer.Argument(metavar="N|HASH|latest", help="a height, a block hash or `latest`")],
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """A block: header, proposer, transactions, QBFT round, commit seals, validators.

    Needs a role with rpc:read (an auditor's, not a regulator's)."""
    from evidence.qbft import ExtraData, HeaderFormatError

    method, argument = _block_ref(ref)
    api = NodeApi(rpc)
    block = api.call(method, argument, False)
    if not isinstance(block, dict):
        fail(f"no block {ref}")
    number = int(block["number"], 16)
    validators = api.call("qbft_getValidatorsByBlockNumber", hex(number))
    doc: dict[str, Any] = {
        "number": number, "hash": block["hash"], "parentHash": block["parentHash"],
        "timestamp": int(block["timestamp"], 16), "proposer": block["miner"],
        "transactionCount": len(block["transactions"]), "transactions": block["transactions"],
        "gasUsed": int(block["gasUsed"], 16), "gasLimit": int(block["gasLimit"], 16),
        "stateRoot": block["stateRoot"], "transactionsRoot": block["transactionsRoot"],
        "receiptsRoot": block["receiptsRoot"], "validators": validators,
        "round": None, "commitSeals": None, "vote": None,
    }
    try:
        extra = ExtraData.decode(bytes.fromhex(block["extraData"][2:]))
        doc["round"], doc["commitSeals"] = extra.round, len(extra.seals)
        if extra.vote is not None:
            doc["vote"] = {"validator": "0x" + extra.vote.recipient.hex(), "add": extra.vote.add}
    except (HeaderFormatError, ValueError):
        pass  # not a QBFT header: the fields above still hold
    if json_output:
        emit_json(doc)
        return
    vote = doc["vote"]
    fields(f"block {number}", [
        ("hash", doc["hash"]), ("parent", doc["parentHash"]),
        ("time", f"{timestamp(doc['timestamp'])} ({doc['timestamp']})"),
        ("proposer", doc["proposer"]),
        ("transactions", doc["transactionCount"]),
        ("gas used", f"{doc['gasUsed']:,} of {doc['gasLimit']:,}"),
        ("state root", doc["stateRoot"]), ("transactions root", doc["transactionsRoot"]),
        ("receipts root", doc["receiptsRoot"]),
        ("round", doc["round"]),
        ("commit seals", None if doc["commitSeals"] is None else f"{doc['commitSeals']} (validators: {len(validators)})"),
        ("vote", None if vote is None else f"{'add' if vote['add'] else 'drop'} {vote['validator']}"),
        ("validators", "\n".join(validators)),
    ])
    if doc["transactions"]:
        table(None, ["#", "transaction"], enumerate(doc["transactions"]), numeric=["#"])


def _event_types() -> dict[tuple[str, str], tuple[str, str, list[dict[str, Any]]]]:
    """(contract address, topic 0) -> (contract, event, inputs), from the shipped ABIs."""
    from chaincode import SYSTEM_CONTRACTS, load_artifact
    from eth_utils import keccak, to_checksum_address

    types = {}
    for contract, address in SYSTEM_CONTRACTS.items():
        for item in load_artifact(contract).abi:
            if item.get("type") == "event":
                signature = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
                types[(to_checksum_address(address).lower(), "0x" + keccak(text=signature).hex())] = (
                    contract, item["name"], item["inputs"])
    return types


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _plain_value(abi_type: str, value: Any) -> Any:
    from eth_utils import to_checksum_address

    if abi_type.endswith("[]"):
        return [_plain_value(abi_type[:-2], v) for v in value]
    if abi_type == "address":
        return to_checksum_address(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return value


def decode_logs(logs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """A receipt's logs of the system contracts, decoded as the feed names them (camelCase
    arguments); other logs as `{"event": null}` with their address and log index."""
    from eth_abi import decode
    from eth_abi.exceptions import DecodingError

    types = _event_types()
    decoded = []
    for log in logs:
        topics = log.get("topics") or []
        found = types.get((str(log["address"]).lower(), str(topics[0]).lower())) if topics else None
        entry: dict[str, Any] = {"logIndex": int(log["logIndex"], 16), "address": log["address"],
                                 "contract": None, "event": None, "args": None}
        if found is not None:
            contract, name, inputs = found
            indexed = [i for i in inputs if i["indexed"]]
            plain = [i for i in inputs if not i["indexed"]]
            try:
                args = {_camel(i["name"]): _plain_value(i["type"], decode([i["type"]], bytes.fromhex(t[2:]))[0])
                        for i, t in zip(indexed, topics[1:])}
                values = decode([i["type"] for i in plain], bytes.fromhex(log["data"][2:]))
                args.update({_camel(i["name"]): _plain_value(i["type"], v) for i, v in zip(plain, values)})
                entry.update(contract=contract, event=name, args=args)
            except (DecodingError, ValueError, OverflowError):
                pass
        decoded.append(entry)
    return decoded


@audit_app.command("tx")
def audit_tx(
    tx_hash: Annotated[str, typer.Argument(metavar="HASH", help="transaction hash (0x-hex)")],
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """A transaction, its receipt's status and its system-contract events, decoded."""
    from chaincode import SYSTEM_CONTRACTS
    from eth_utils import to_checksum_address

    digest = "0x" + parse_digest(tx_hash, "HASH").hex()
    api = NodeApi(rpc)
    tx = api.call("eth_getTransactionByHash", digest)
    if not isinstance(tx, dict):
        fail(f"no transaction {digest}")
    receipt = api.call("eth_getTransactionReceipt", digest)
    events = decode_logs(receipt["logs"]) if isinstance(receipt, dict) else []
    names = {to_checksum_address(a).lower(): n for n, a in SYSTEM_CONTRACTS.items()}
    status = None if not isinstance(receipt, dict) else ("success" if receipt.get("status") == "0x1" else "failed")
    if json_output:
        emit_json({"transaction": tx, "status": status, "receipt": receipt, "events": events})
        return
    to = tx.get("to")
    block = None if tx.get("blockNumber") is None else int(tx["blockNumber"], 16)
    fields(f"transaction {digest}", [
        ("status", status or "pending (no receipt yet)"),
        ("block", None if block is None else f"{block} (index {int(tx['transactionIndex'], 16)})"),
        ("from", tx["from"]),
        ("to", None if to is None else f"{to} ({names[to.lower()]})" if to.lower() in names else to),
        ("nonce", int(tx["nonce"], 16)),
        ("gas used", None if not isinstance(receipt, dict) else f"{int(receipt['gasUsed'], 16):,} of {int(tx['gas'], 16):,}"),
        ("events", len(events)),
    ])
    if events:
        table("events", ["log", "contract", "event", "arguments"],
              [(e["logIndex"], e["contract"] or e["address"], e["event"] or "(not a system contract's)",
                "-" if e["args"] is None else json.dumps(e["args"], separators=(", ", ": "))) for e in events],
              numeric=["log"])


# -- contracts ----------------------------------------------------------------------------


def _all_events(api: NodeApi, path: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = api.get(path, {"after": after})
        events.extend(page["items"])
        after = page["next"]
        if after is None:
            return events


def show_contract(record: dict[str, Any], history: list[dict[str, Any]]) -> None:
    voided = record.get("voided")
    fields(f"contract {record['id']}", [
        ("project", f"{record['projectCode']} version {record['version']}"),
        ("status", record["status"]),
        ("document digest", f"{record['docDigest']} ({record['digestAlgorithm']})"),
        ("parties", "\n".join(record["parties"])),
        ("amount", record["amount"]),
        ("registrar", record["registrar"]),
        ("registered", when(record["registered"])),
        ("effective", when(record.get("effective"))),
        ("amends", record.get("previous")),
        ("superseded by", record.get("supersededBy")),
        ("voided", None if not voided else
         f"{when(voided)} by {voided['by']}{' (regulator)' if voided.get('byRegulator') else ''}, "
         f"reason {voided['reasonDigest']}"),
    ])
    # One block per attestation: three hex values side by side would fold on most terminals.
    signatures = record["signatures"]
    for index, s in enumerate(signatures, 1):
        fields(f"attestation {index} of {len(record['parties'])}", [
            ("signer", s["signer"]), ("certificate", s["certFingerprint"]), ("root CA", s["rootFingerprint"]),
            ("signed", when(s)), ("transaction", s["transactionHash"]),
        ])
    if not signatures:
        line("attestations: none yet")
    history_table(history)


@audit_app.command("contract")
def audit_contract(
    contract_id: Annotated[Optional[str], typer.Argument(metavar="ID", help="contract id (0x-hex)")] = None,
    project: Annotated[Optional[str], typer.Option("--project", help="every version of this project's contract")] = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """A contract (or every version of a project's): its history and every attestation.

    Each attestation: signer, certificate and root CA fingerprints, block, time."""
    if (contract_id is None) == (project is None):
        fail("give a contract ID or --project CODE")
    api = NodeApi(rpc)
    if contract_id is not None:
        records = [api.get(f"contracts/0x{parse_digest(contract_id, 'ID').hex()}")]
    else:
        records = list(api.pages("contracts", {"project": project}))
        if not records:
            fail(f"no contract for project {project!r}")
    documents = [{**r, "history": _all_events(api, f"contracts/{r['id']}/events")} for r in records]
    if json_output:
        emit_json({"contracts": documents})
        return
    for index, document in enumerate(documents):
        if index:
            line("")
        show_contract(document, document["history"])


def contract_rows(items: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(c["id"], c["projectCode"], c["version"], c["status"], "\n".join(c["parties"]),
             f"{len(c['signatures'])}/{len(c['parties'])}", c["amount"], when(c["registered"])) for c in items]


@audit_app.command("contracts")
def audit_contracts(
    project: ProjectFilter = None,
    party: PartyFilter = None,
    status: Annotated[Optional[str], typer.Option("--status", help="Pending, Effective, Superseded or Voided")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="registered at or after (seconds or ISO 8601)")] = None,
    until: UntilFilter = None,
    limit: LimitOption = None,
    every: AllOption = False,
    order: OrderOption = Order.asc,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Contracts by project, party, status or registration date (one of them), in chain order."""
    params = {"project": project, "party": parse_address(party, "--party") if party else None, "status": status,
              "since": since, "until": until, "order": order.value}
    rows, more = take(NodeApi(rpc), "contracts", params, limit, every)
    if json_output:
        emit_json({"contracts": rows, "more": more})
        return
    table(None, ["id", "project", "v", "status", "parties", "signed", "amount", "registered"], contract_rows(rows),
          numeric=["v", "amount"])
    more_note(len(rows), more, "contracts")


# -- evidence ---------------------------------------------------------------------------


@audit_app.command("evidence")
def audit_evidence(
    digest: Annotated[Optional[str], typer.Argument(metavar="DIGEST", help="an anchored digest: every anchoring of it")] = None,
    case: CaseFilter = None,
    kind: KindFilter = None,
    limit: LimitOption = None,
    every: AllOption = False,
    order: OrderOption = Order.asc,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Every anchoring of a DIGEST, or the evidence of a case (--case) or kind (--kind)."""
    if sum(v is not None for v in (digest, case, kind)) > 1:
        fail("give a DIGEST, --case REF or --kind KIND (one of them)")
    api = NodeApi(rpc)
    if digest is not None:
        rows, more = take(api, f"evidence/0x{parse_digest(digest, 'DIGEST').hex()}", {}, limit, every)
    else:
        rows, more = take(api, "evidence", {"case": case, "kind": kind, "order": order.value}, limit, every)
    if json_output:
        emit_json({"evidence": rows, "more": more})
        return
    table(None, ["digest", "kind", "case", "leaves", "submitter", "anchoring", "anchored", "transaction"],
          [(e["digest"], e["kind"], e["caseRef"] or "-", e["leafCount"], e["submitter"], e["anchoring"],
            when(e["anchored"]), e["anchored"]["transactionHash"]) for e in rows],
          numeric=["leaves", "anchoring"])
    more_note(len(rows), more, "anchorings")


# -- commitments ---------------------------------------------------------------------------


@audit_app.command("commitment")
def audit_commitment(
    commitment_id: Annotated[int, typer.Argument(metavar="ID", min=1, help="commitment id")],
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """A commitment: its clause, unit, deadline, status now, alerts and history."""
    api = NodeApi(rpc)
    record = api.get(f"commitments/{commitment_id}")
    history = _all_events(api, f"commitments/{commitment_id}/events")
    if json_output:
        emit_json({**record, "history": history})
        return
    report, confirmation = record.get("report"), record.get("confirmation")
    fields(f"commitment {record['id']}", [
        ("agreement", record["agreement"]),
        ("clause", record["clause"]),
        ("side", record["side"]),
        ("responsible unit", record["responsibleUnit"]),
        ("obligor", record["obligor"]),
        ("counterparty", record["counterparty"]),
        ("deadline", f"{timestamp(record['deadline'])} ({record['deadline']})"),
        ("status now", record["status"]),
        ("raised", record["raised"]),
        ("created", when(record["created"])),
        ("fulfilment reported", None if not report else
         f"{when(report)}, evidence {report['evidenceDigest']}{'' if report.get('onTime') else ' (late)'}"),
        ("confirmed", None if not confirmation else
         f"{when(confirmation)} by {confirmation['by']}{' (supervisor)' if confirmation.get('bySupervisor') else ''}"),
    ])
    if record["alerts"]:
        table("alerts", ["level", "supervision", "block", "time"],
              [(a["level"], a["escalatedToSupervision"], a["block"], timestamp(a["time"])) for a in record["alerts"]],
              numeric=["block"])
    history_table(history)


@audit_app.command("commitments")
def audit_commitments(
    status: Annotated[Optional[str], typer.Option(
        "--status", help="status now: on-track, reminder, warning, demand, fulfilled")] = None,
    raised: RaisedFilter = None,
    unit: UnitFilter = None,
    due_after: DueAfterFilter = None,
    due_before: DueBeforeFilter = None,
    limit: LimitOption = None,
    every: AllOption = False,
    order: OrderOption = Order.asc,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Commitments by status now, raised level, responsible unit or deadline (one of them)."""
    params = {"status": status, "raised": raised, "unit": unit, "due_after": due_after, "due_before": due_before,
              "order": order.value}
    rows, more = take(NodeApi(rpc), "commitments", params, limit, every)
    if json_output:
        emit_json({"commitments": rows, "more": more})
        return
    table(None, ["id", "unit", "clause", "obligor", "deadline", "status", "raised", "alerts"],
          [(c["id"], c["responsibleUnit"], c["clause"], c["obligor"], timestamp(c["deadline"]), c["status"],
            c["raised"], len(c["alerts"])) for c in rows], numeric=["id", "alerts"])
    more_note(len(rows), more, "commitments")


@audit_app.command("report")
def audit_report(
    unit: UnitFilter = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Per responsible unit: commitments by status now, alerts and supervisions.

    Alerts: commitments at reminder, warning or demand now; supervisions: at demand now;
    and the alert events the chain has raised (alerts raised, demands raised)."""
    doc = NodeApi(rpc).get("commitments/report", {"unit": unit})
    if json_output:
        emit_json(doc)
        return
    columns = ["unit", "total", *COMMITMENT_STATUSES, "alerts", "supervisions", "alertsRaised", "demandsRaised"]
    rows = [[u.get(c, 0) for c in columns] for u in doc["units"]]
    totals = doc["totals"] or {c: 0 for c in columns[1:]}
    if len(rows) > 1:
        rows.append(["all units", *(totals.get(c, 0) for c in columns[1:])])
    headers = [*columns[:-2], "alerts raised", "demands raised"]
    table(f"commitments at {timestamp(doc['at'])}", headers, rows, numeric=headers[1:])
    line(f"{totals.get('total', 0)} commitments, {totals.get('alerts', 0)} alerts, "
         f"{totals.get('supervisions', 0)} supervisions")


# -- export -----------------------------------------------------------------------------


# A spreadsheet runs a cell that starts with one of these as a formula. On-chain text
# (project codes, case references, clauses) is anyone's to write, so such a cell gets a
# leading apostrophe (OWASP's CSV-injection advice); JSON lines are written unaltered.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A CSV cell: text and numbers as they are (text that a spreadsheet would run as a
    formula prefixed with '), nothing as empty, the rest as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _export_source(api: NodeApi, kind: ExportKind, options: dict[str, Any]) -> tuple[Callable[[], Iterator[dict[str, Any]]], int | None]:
    """The rows of an export and their number when /v1/summary's counts know it."""
    given = {k: v for k, v in options.items() if v is not None}
    allowed = {
        ExportKind.contracts: {"project", "party", "status", "since", "until", "order"},
        ExportKind.evidence: {"digest", "case", "kind", "order"},
        ExportKind.commitments: {"status", "raised", "unit", "due_after", "due_before", "order"},
        ExportKind.events: {"since", "topics", "role"},
    }[kind]
    wrong = sorted(set(given) - allowed)
    if wrong:
        names = ", ".join("--" + w.replace("_", "-") for w in wrong)
        fail(f"{names}: not a filter of {kind.value} (those are: "
             f"{', '.join('--' + a.replace('_', '-') for a in sorted(allowed))})")
    if "party" in given:
        given["party"] = parse_address(given["party"], "--party")
    if "digest" in given:
        given["digest"] = "0x" + parse_digest(given["digest"], "--digest").hex()
    counts = _counts(api)
    filtered = set(given) - {"order"}
    total: int | None = None
    if kind is ExportKind.events:
        total = counts.get("events") if not filtered and counts else None
        return (lambda: api.events(given)), total
    if counts and kind is ExportKind.contracts:
        if not filtered:
            total = counts["contracts"]["total"]
        elif filtered == {"status"}:
            total = next((n for s, n in counts["contracts"].items() if s.lower() == str(given["status"]).lower()), None)
    elif counts and kind is ExportKind.evidence and not filtered:
        total = counts["evidence"]
    elif counts and kind is ExportKind.commitments and not filtered:
        total = counts["commitments"]["total"]
    return (lambda: api.pages(kind.value, given)), total


def _counts(api: NodeApi) -> dict[str, Any] | None:
    """/v1/summary's counts, or None if the token's role may not read it (only a bar's total)."""
    try:
        return dict(api.fetch("summary")["counts"])
    except (ApiError, KeyError, TypeError):
        return None


def _progress(json_output: bool) -> Any:
    """A progress bar on stderr, only for a person at a terminal."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True, disable=json_output or not console.is_terminal)


@audit_app.command("export")
def audit_export(
    kind: Annotated[ExportKind, typer.Argument(help="contracts, evidence, commitments or events")],
    out: Annotated[Path, typer.Option("--out", help="the file to write (replaced once complete)")],
    format: Annotated[ExportFormat, typer.Option("--format", help="csv (flat columns, nested values as JSON) or jsonl")] = ExportFormat.jsonl,
    project: ProjectFilter = None,
    party: PartyFilter = None,
    status: ContractStatusFilter = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
    digest: Annotated[Optional[str], typer.Option("--digest", help="evidence: one digest's anchorings")] = None,
    case: CaseFilter = None,
    kind_filter: Annotated[Optional[str], typer.Option("--kind", help="evidence kind")] = None,
    raised: RaisedFilter = None,
    unit: UnitFilter = None,
    due_after: DueAfterFilter = None,
    due_before: DueBeforeFilter = None,
    topics: Annotated[Optional[str], typer.Option("--topics", help="events: comma-separated topics")] = None,
    role: Annotated[Optional[str], typer.Option("--role", help="events: the topics this role reads")] = None,
    order: Annotated[Optional[Order], typer.Option("--order", help="asc or desc (not for events)")] = None,
    rpc: RpcOption = DEFAULT_RPC,
    json_output: JsonOption = False,
) -> None:
    """Write every contract, anchoring, commitment or event to a CSV or JSON-lines file.

    Takes the filters of the matching list command; the file appears once complete."""
    api = NodeApi(rpc)
    options = {"project": project, "party": party, "status": status, "since": since, "until": until,
               "digest": digest, "case": case, "kind": kind_filter, "raised": raised, "unit": unit,
               "due_after": due_after, "due_before": due_before, "topics": topics, "role": role,
               "order": order.value if order is not None else None}
    rows, total = _export_source(api, kind, options)
    partial = out.with_name(out.name + ".partial")
    written = 0
    try:
        with open(partial, "w", newline="", encoding="utf-8") as handle, _progress(json_output) as progress:
            task = progress.add_task(f"exporting {kind.value}", total=total)
            writer: Any = None
            if format is ExportFormat.csv:
                writer = csv.DictWriter(handle, fieldnames=COLUMNS[kind.value], extrasaction="ignore")
                writer.writeheader()
            for row in rows():
                if writer is not None:
                    writer.writerow({k: csv_cell(v) for k, v in row.items()})
                else:
                    handle.write(json.dumps(row, separators=(",", ":"), ensure_ascii=False) + "\n")
                written += 1
                progress.update(task, completed=written, total=max(total or 0, written) if total else None)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        fail(f"--out {out}: {exc.strerror or exc}", EXIT_USAGE)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if json_output:
        emit_json({"kind": kind.value, "format": format.value, "out": str(out), "rows": written})
        return
    line(f"{written} rows of {kind.value} written to {out} ({format.value})")
