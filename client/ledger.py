"""The ledger SDK: identities, e-contracts and commitments over JSON-RPC (web3.py).

One `Ledger` per node endpoint and account; every call carries the access token
(`token`, else $LEDGER_TOKEN or $LEDGER_TOKEN_FILE: client/auth.py) as a bearer header,
over client/http.py (`NodeProvider`: web3's JSON-RPC on our one HTTP client, so a refusal
or an unreachable node is an `HttpError` with its status). Writes are checked first with a call (so a
refusal comes back as the contract's reason, not as a failed receipt), signed locally
with the account key at gas price 0, sent, and waited for: QBFT finality is immediate,
so a receipt is final. Reads are view calls at the latest block.
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.datastructures import SignedTransaction
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3RPCError
from web3.middleware import ExtraDataToPOAMiddleware
from web3.providers.base import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from chaincode import (
    COMMITMENT_TRACKER,
    CONTRACT_REGISTRY,
    DIGEST_ALGORITHMS,
    EVIDENCE_REGISTRY,
    IDENTITY_REGISTRY,
    MAX_COMMITMENT_PAGE,
    ROLE_BITS,
    SEAL_REGISTRY,
    SEAL_STATUS,
    load_artifact,
)
from chaincode.events import EventDecodeError, decode_rpc_log
from client.auth import current_token, is_unauthorized, refusal_message
from client.errors import ClientError
from client.http import HttpClient
from client.signers import Signer

# Gas limit a write gets when the caller gives none: eth_estimateGas, plus this share.
GAS_MARGIN = 1.25
RECEIPT_TIMEOUT_SECONDS = 60.0
REPORT_PAGE = 100  # commitments per CommitmentTracker.report call (at most MAX_COMMITMENT_PAGE)
ZERO32 = b"\x00" * 32


class LedgerError(ClientError):
    """A refusal by the node or a contract, with its reason."""


class Unauthorized(LedgerError):
    """The node refused the call for the access token's role (JSON-RPC -40100)."""


class Reverted(LedgerError):
    """A contract refused the call; `reason` is the contract's own message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NodeProvider(JSONBaseProvider):
    """web3's JSON-RPC over client/http.py: the node's endpoint (the URL itself), the
    bearer token, timeouts and the response cap of `HttpClient`. A refusal at the HTTP
    level (401 without a valid token, 413, 429) or no answer raises its HttpError."""

    def __init__(self, http: HttpClient) -> None:
        super().__init__()
        self.http = http

    def __str__(self) -> str:
        return f"JSON-RPC {self.http.base_url}"

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        body = self.encode_rpc_request(method, params)
        # A read may go twice when the node closed the kept-alive connection just as it was
        # reused (uvicorn's keep-alive timeout); a transaction never does.
        reply = self.http.request("POST", "", body=body, content_type="application/json",
                                  idempotent=is_read_only(method))
        return self.decode_rpc_response(reply.body)


# JSON-RPC methods that change nothing on the node: safe to send again.
_READ_ONLY_METHODS = frozenset({
    "eth_call", "eth_estimateGas", "eth_blockNumber", "eth_chainId", "eth_gasPrice", "eth_feeHistory",
    "eth_maxPriorityFeePerGas", "eth_syncing", "net_version", "web3_clientVersion",
})


def is_read_only(method: str) -> bool:
    """Whether a JSON-RPC call only reads (eth_get…, eth_call, …), so sending it twice is harmless."""
    return method.startswith("eth_get") or method in _READ_ONLY_METHODS


@dataclass(frozen=True)
class TxResult:
    """A final transaction: its hash, block, gas used and the system-contract events it emitted."""

    tx_hash: bytes
    block_number: int
    gas_used: int
    events: dict[str, list[dict[str, Any]]]  # event name -> ABI-named args of each (chaincode/events.py)


def _reason(exc: Exception) -> str:
    message = str(exc.args[0] if exc.args else exc)
    return message.removeprefix("execution reverted: ")


def _refusal(exc: Web3RPCError) -> LedgerError:
    """A node's JSON-RPC error as ours: -40100 is Unauthorized, the rest LedgerError."""
    error = (exc.rpc_response or {}).get("error")
    message = str(error.get("message", exc)) if isinstance(error, dict) else str(exc)
    return Unauthorized(refusal_message(message)) if is_unauthorized(error) else LedgerError(message)


class Ledger:
    """A connection to one node, acting as one account (reads need no account)."""

    def __init__(
        self,
        rpc_url: str,
        account_key: bytes | None = None,
        *,
        token: str | None = None,
        timeout: float = RECEIPT_TIMEOUT_SECONDS,
    ) -> None:
        self.w3 = Web3(NodeProvider(HttpClient(rpc_url, token=current_token(token), timeout=timeout)))
        # QBFT's extraData is longer than 32 bytes, as on Besu: web3 needs this to read blocks.
        self.w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
        self.account = Account.from_key(account_key) if account_key is not None else None
        self.timeout = timeout
        self.identity = self.w3.eth.contract(address=to_checksum_address(IDENTITY_REGISTRY), abi=load_artifact("IdentityRegistry").abi)
        self.contracts = self.w3.eth.contract(address=to_checksum_address(CONTRACT_REGISTRY), abi=load_artifact("ContractRegistry").abi)
        self.commitments = self.w3.eth.contract(address=to_checksum_address(COMMITMENT_TRACKER), abi=load_artifact("CommitmentTracker").abi)
        self.evidence = self.w3.eth.contract(address=to_checksum_address(EVIDENCE_REGISTRY), abi=load_artifact("EvidenceRegistry").abi)
        self.evidence_address_bytes = EVIDENCE_REGISTRY
        self.seals = self.w3.eth.contract(address=to_checksum_address(SEAL_REGISTRY), abi=load_artifact("SealRegistry").abi)
        self._chain_id: int | None = None
        self._nonce: int | None = None

    # -- plumbing -----------------------------------------------------------------------

    @property
    def address(self) -> str:
        if self.account is None:
            raise LedgerError("this command writes to the chain: give an account key (--key)")
        return str(self.account.address)

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def rpc(self, method: str, params: list[Any]) -> Any:
        """A raw JSON-RPC call (methods web3 does not wrap, e.g. debug_getRawBlock)."""
        response = self.w3.provider.make_request(RPCEndpoint(method), params)
        if "error" in response:
            if is_unauthorized(response["error"]):
                raise Unauthorized(refusal_message(f"{method}: {response['error'].get('message')}"))
            raise LedgerError(f"{method}: {response['error'].get('message')}")
        return response["result"]

    def call(self, function: Any) -> Any:
        try:
            return function.call({"from": self.address} if self.account else {})
        except ContractLogicError as exc:
            raise Reverted(_reason(exc)) from exc

    def send(self, function: Any, *, gas: int | None = None, nonce: int | None = None) -> bytes:
        """Sign and send without waiting; checks with a call (estimate) unless `gas` is given."""
        return self.broadcast(self.prepare(function, gas=gas, nonce=nonce))

    def prepare(self, function: Any, *, gas: int | None = None, nonce: int | None = None) -> SignedTransaction:
        """The signed transaction, not sent (its hash is known before it goes out): checked
        with a call (estimate) unless `gas` is given, the nonce taken from this Ledger's
        count (given back if signing fails, so later transactions leave no gap)."""
        sender = self.address
        if gas is None:
            try:
                gas = int(function.estimate_gas({"from": sender}) * GAS_MARGIN)
            except ContractLogicError as exc:
                raise Reverted(_reason(exc)) from exc
            except Web3RPCError as exc:
                raise _refusal(exc) from exc
        chain_id = self.chain_id  # before the nonce is taken: a failure here leaves no gap
        if nonce is None:
            nonce = self._next_nonce()
        try:
            tx = function.build_transaction({"from": sender, "nonce": nonce, "gas": gas, "gasPrice": 0,
                                             "chainId": chain_id})
            assert self.account is not None  # self.address raised otherwise
            return self.account.sign_transaction(tx)
        except BaseException:
            self._nonce = None
            raise

    def broadcast(self, signed: SignedTransaction) -> bytes:
        """Send a prepared transaction; the node's refusal (its pool) is a LedgerError
        (Unauthorized for -40100) and gives the nonce back."""
        try:
            return bytes(self.w3.eth.send_raw_transaction(signed.raw_transaction))
        except Web3RPCError as exc:
            self._nonce = None
            raise _refusal(exc) from exc

    def _next_nonce(self) -> int:
        if self._nonce is None:
            self._nonce = int(self.w3.eth.get_transaction_count(to_checksum_address(self.address), "pending"))
        nonce = self._nonce
        self._nonce += 1
        return nonce

    def wait(self, tx_hash: bytes, function: Any = None) -> TxResult:
        """The final receipt of `tx_hash`; a failed one raises with the revert reason."""
        deadline = time.monotonic() + self.timeout
        while True:
            receipt = self.w3.eth.get_transaction_receipt(HexBytes(tx_hash)) if self._has_receipt(tx_hash) else None
            if receipt is not None:
                break
            if time.monotonic() > deadline:
                raise LedgerError(f"no receipt for 0x{tx_hash.hex()} after {self.timeout:.0f} s")
            time.sleep(0.05)
        if receipt["status"] != 1:
            reason = "transaction failed"
            if function is not None:
                try:
                    function.call({"from": self.address}, block_identifier=receipt["blockNumber"] - 1)
                except ContractLogicError as exc:
                    reason = _reason(exc)
            raise Reverted(reason)
        return TxResult(bytes(tx_hash), receipt["blockNumber"], receipt["gasUsed"], self._events(receipt))

    def _has_receipt(self, tx_hash: bytes) -> bool:
        response = self.w3.provider.make_request(RPCEndpoint("eth_getTransactionReceipt"), ["0x" + tx_hash.hex()])
        if is_unauthorized(response.get("error")):
            raise Unauthorized(refusal_message(f"eth_getTransactionReceipt: {response['error'].get('message')}"))
        return response.get("result") is not None

    def _events(self, receipt: Any) -> dict[str, list[dict[str, Any]]]:
        """The receipt's system-contract events, by name, in log order."""
        events: dict[str, list[dict[str, Any]]] = {}
        for log in receipt["logs"]:
            try:
                event = decode_rpc_log(log)
            except EventDecodeError as exc:  # not from our genesis contracts' code
                raise LedgerError(f"transaction 0x{bytes(receipt['transactionHash']).hex()}: {exc}") from exc
            if event is not None:
                events.setdefault(event.name, []).append(event.abi_args())
        return events

    def transact(self, function: Any, *, gas: int | None = None) -> TxResult:
        return self.wait(self.send(function, gas=gas), function)

    # -- identity registry ----------------------------------------------------------------

    def register_member(self, identity: Signer) -> TxResult:
        """Register this account with `identity`'s certificate (proof: a signature by its
        key over the registry's registration digest for this address)."""
        digest = self.call(self.identity.functions.registration_digest(self.address))
        signature = identity.sign_digest(bytes(digest))
        return self.transact(self.identity.functions.register(identity.chain_der, signature))

    def propose_trust_root(self, root_der: bytes, ca_admin: str | None = None) -> TxResult:
        admin = to_checksum_address(ca_admin) if ca_admin else "0x" + "00" * 20
        return self.transact(self.identity.functions.propose_trust_root(root_der, admin))

    def propose(self, action: int, subject: bytes, argument: int) -> TxResult:
        return self.transact(self.identity.functions.propose(action, subject.rjust(32, b"\x00"), argument))

    def approve(self, proposal: int) -> TxResult:
        return self.transact(self.identity.functions.approve(proposal))

    def pending_proposal(self, action: int, subject: bytes, argument: int | None = None) -> int | None:
        """The newest unexecuted proposal with this action and subject, if any."""
        count = self.call(self.identity.functions.proposal_count())
        subject = subject.rjust(32, b"\x00")
        for pid in range(count, 0, -1):
            p = self.call(self.identity.functions.proposals(pid))
            if p[0] == action and bytes(p[1]) == subject and not p[5] and (argument is None or p[2] == argument):
                return pid
        return None

    def revoke(self, issuer_chain_der: bytes, serials: Sequence[int]) -> TxResult:
        return self.transact(self.identity.functions.revoke(issuer_chain_der, list(serials)))

    def submit_crl(self, crl_der: bytes, issuer_chain_der: bytes) -> TxResult:
        return self.transact(self.identity.functions.submit_crl(crl_der, issuer_chain_der))

    def member(self, address: str) -> dict[str, Any]:
        m = self.call(self.identity.functions.members(to_checksum_address(address)))
        roles, cert, key_hash, root, not_after, registered_at = m[:6]
        return {
            "address": to_checksum_address(address), "roles": roles, "active": self.call(self.identity.functions.is_active(to_checksum_address(address))),
            "cert_fingerprint": bytes(cert), "root_fingerprint": bytes(root), "not_after": not_after, "registered_at": registered_at,
        }

    def root(self, fingerprint: bytes) -> dict[str, Any]:
        trusted, ca_admin, key_hash, not_after, changed_at = self.call(self.identity.functions.roots(fingerprint))
        return {"fingerprint": fingerprint, "trusted": trusted, "ca_admin": ca_admin, "not_after": not_after, "changed_at": changed_at}

    # -- contract registry -----------------------------------------------------------------

    def register_contract(
        self, project_code: str, doc_digest: bytes, parties: Sequence[str], *, amount: int = 0,
        metadata_digest: bytes = ZERO32, algorithm: str = "sha256", gas: int | None = None,
    ) -> TxResult:
        return self.transact(self.contracts.functions.register(
            project_code, doc_digest, DIGEST_ALGORITHMS[algorithm],
            [to_checksum_address(p) for p in parties], amount, metadata_digest,
        ), gas=gas)

    def sign_contract(self, contract_id: bytes, identity: Signer, *, gas: int | None = None) -> TxResult:
        """Sign the contract's document digest with `identity` and submit the signature."""
        contract = self.contract(contract_id)
        signature = identity.sign_digest(contract["doc_digest"])
        return self.transact(self.contracts.functions.sign(contract_id, identity.chain_der, signature), gas=gas)

    def sign_contract_pdf(
        self, contract_id: bytes, identity: Signer, *, revision_digest: bytes, cms_digest: bytes, seal: bytes,
        previous_revision: bytes | None = None, gas: int | None = None,
    ) -> TxResult:
        """Record on chain a party's PAdES signature of the contract's PDF: the SHA-256 of
        the revision the signature produced, of the signature's CMS, and of the seal image
        it shows, signed by `identity`'s key over the registry's pdf_signing_digest.
        `previous_revision` is the revision the party signed on; the registry refuses it
        if another party has signed since. Pass the revision you verified your input
        against: the default (the chain's latest `pdf_head`, read now) cannot notice a
        party that signed between your check and this call.
        client/contract_pdf.py makes the signed PDF and calls this."""
        previous = self.pdf_head(contract_id) if previous_revision is None else previous_revision
        digest = self.call(self.contracts.functions.pdf_signing_digest(
            contract_id, previous, revision_digest, cms_digest, seal))
        signature = identity.sign_digest(bytes(digest))
        return self.transact(self.contracts.functions.sign_pdf(
            contract_id, identity.chain_der, signature, previous, revision_digest, cms_digest, seal), gas=gas)

    def pdf_head(self, contract_id: bytes) -> bytes:
        """The revision the next PDF signature of the contract signs on: the latest PDF
        signature's revision digest, or the registered document's digest before the first."""
        head = bytes(self.call(self.contracts.functions.pdf_head(contract_id)))
        return head if head != ZERO32 else self.contract(contract_id)["doc_digest"]

    def amend_contract(
        self, contract_id: bytes, doc_digest: bytes, *, amount: int | None = None,
        metadata_digest: bytes | None = None, algorithm: str = "sha256",
    ) -> TxResult:
        current = self.contract(contract_id)
        return self.transact(self.contracts.functions.amend(
            contract_id, doc_digest, DIGEST_ALGORITHMS[algorithm],
            current["amount"] if amount is None else amount,
            current["metadata_digest"] if metadata_digest is None else metadata_digest,
        ))

    def void_contract(self, contract_id: bytes, reason_digest: bytes = ZERO32) -> TxResult:
        return self.transact(self.contracts.functions.void(contract_id, reason_digest))

    def contract_id(self, project_code: str, version: int = 1) -> bytes:
        return keccak(keccak(text=project_code) + version.to_bytes(32, "big"))

    def latest_contract(self, project_code: str) -> bytes:
        latest = bytes(self.call(self.contracts.functions.latest(keccak(text=project_code))))
        if latest == ZERO32:
            raise LedgerError(f"no contract for project {project_code!r}")
        return latest

    def contract(self, contract_id: bytes) -> dict[str, Any]:
        c = self.call(self.contracts.functions.get_contract(contract_id))
        fields = ("project_code", "version", "previous", "next", "doc_digest", "digest_algorithm", "registrar",
                  "parties", "amount", "metadata_digest", "status", "signed_mask", "void_mask",
                  "registered_at", "effective_at")
        record = dict(zip(fields, c))
        for key in ("previous", "next", "doc_digest", "metadata_digest"):
            record[key] = bytes(record[key])
        record["id"] = contract_id
        record["attestations"] = [
            self._attestation(contract_id, i) for i in range(len(record["parties"])) if record["signed_mask"] >> i & 1
        ]
        return record

    def _attestation(self, contract_id: bytes, index: int) -> dict[str, Any]:
        signer, cert, root, signed_at = self.call(self.contracts.functions.attestation(contract_id, index))
        sequence, revision, cms, seal = self.call(self.contracts.functions.pdf_signature(contract_id, index))
        pdf = None if sequence == 0 else {"sequence": sequence, "revision_digest": bytes(revision),
                                          "cms_digest": bytes(cms), "seal": bytes(seal)}
        return {"signer": signer, "party_index": index, "cert_fingerprint": bytes(cert),
                "root_fingerprint": bytes(root), "signed_at": signed_at, "pdf": pdf}

    def contract_ids(self, start: int = 0, limit: int | None = None) -> list[bytes]:
        count = self.call(self.contracts.functions.contract_count())
        end = count if limit is None else min(count, start + limit)
        return [bytes(self.call(self.contracts.functions.contract_at(i))) for i in range(start, end)]

    def contract_history(self, project_code: str) -> list[dict[str, Any]]:
        """Every version of a project's contract (voided amendments too), oldest first,
        with its attestations."""
        count = int(self.call(self.contracts.functions.versions(keccak(text=project_code))))
        if count == 0:
            raise LedgerError(f"no contract for project {project_code!r}")
        return [self.contract(self.contract_id(project_code, version)) for version in range(1, count + 1)]

    # -- seal registry -----------------------------------------------------------------------

    def register_seal(self, identity: Signer, seal: bytes, pixel_digest: bytes, name: str) -> TxResult:
        """Register this account's seal (`seal`: SHA-256 of the image file; `pixel_digest`:
        client/seals.py) bound to `identity`, the certificate this account registered; its
        key signs the registry's registration digest. The admins then approve it."""
        digest = self.call(self.seals.functions.registration_digest(seal, pixel_digest, name, self.address))
        signature = identity.sign_digest(bytes(digest))
        return self.transact(self.seals.functions.register(seal, pixel_digest, name, identity.chain_der, signature))

    def approve_seal(self, seal: bytes) -> TxResult:
        return self.transact(self.seals.functions.approve(seal))

    def revoke_seal(self, seal: bytes, reason_digest: bytes = ZERO32) -> TxResult:
        return self.transact(self.seals.functions.revoke(seal, reason_digest))

    def seal(self, seal: bytes) -> dict[str, Any]:
        """The registry's record of `seal`; raises Reverted("no such seal") if none."""
        fields = ("owner", "name", "pixel_digest", "cert_fingerprint", "root_fingerprint", "status", "approvals",
                  "registered_at", "approved_at", "revoked_at")
        record = dict(zip(fields, self.call(self.seals.functions.get_seal(seal))))
        for key in ("pixel_digest", "cert_fingerprint", "root_fingerprint"):
            record[key] = bytes(record[key])
        record["seal"] = seal
        record["status_name"] = SEAL_STATUS[record["status"]]
        return record

    def seal_ids(self, start: int = 0, limit: int | None = None) -> list[bytes]:
        count = self.call(self.seals.functions.seal_count())
        end = count if limit is None else min(count, start + limit)
        return [bytes(self.call(self.seals.functions.seal_at(i))) for i in range(start, end)]

    # -- commitment tracker ------------------------------------------------------------------

    def add_commitment(
        self, agreement: bytes, clause: str, side: int, responsible_unit: str, obligor: str,
        counterparty: str, deadline: int, description_digest: bytes = ZERO32,
    ) -> TxResult:
        return self.transact(self.commitments.functions.add(
            agreement, clause, side, responsible_unit, to_checksum_address(obligor),
            to_checksum_address(counterparty), deadline, description_digest,
        ))

    def fulfil_commitment(self, commitment_id: int, evidence_digest: bytes) -> TxResult:
        return self.transact(self.commitments.functions.fulfil(commitment_id, evidence_digest))

    def confirm_commitment(self, commitment_id: int) -> TxResult:
        return self.transact(self.commitments.functions.confirm(commitment_id))

    def escalate_commitments(self, ids: Iterable[int] | None = None) -> list[TxResult]:
        """Raise due alerts (one transaction per MAX_COMMITMENT_PAGE commitments; all by default)."""
        chosen = list(ids) if ids is not None else list(range(1, self.commitment_count() + 1))
        return [
            self.transact(self.commitments.functions.escalate(chosen[start : start + MAX_COMMITMENT_PAGE]))
            for start in range(0, len(chosen), MAX_COMMITMENT_PAGE)
        ]

    def commitment(self, commitment_id: int) -> dict[str, Any]:
        c = self.call(self.commitments.functions.get_commitment(commitment_id))
        fields = ("agreement", "clause", "side", "responsible_unit", "obligor", "counterparty", "deadline",
                  "description_digest", "created_by", "created_at", "reported_at", "evidence_digest",
                  "fulfilled_at", "confirmed_by", "escalation")
        record = dict(zip(fields, c))
        for key in ("agreement", "description_digest", "evidence_digest"):
            record[key] = bytes(record[key])
        record["id"] = commitment_id
        record["status"] = self.call(self.commitments.functions.status(commitment_id))
        return record

    def commitment_count(self) -> int:
        return int(self.call(self.commitments.functions.commitment_count()))

    def commitment_report(self, unit: str | None = None) -> list[int]:
        """Counts [on track, reminder, warning, demand, fulfilled] at the latest block."""
        unit_hash = keccak(text=unit) if unit else ZERO32
        total = self.call(self.commitments.functions.unit_count(unit_hash)) if unit else self.commitment_count()
        counts = [0] * 5
        for start in range(0, total, REPORT_PAGE):
            page = self.call(self.commitments.functions.report(unit_hash, start, REPORT_PAGE))
            counts = [a + b for a, b in zip(counts, page)]
        return counts


def role_bits(names: Iterable[str]) -> int:
    bits = 0
    for name in names:
        key = name.upper()
        if key not in ROLE_BITS:
            raise LedgerError(f"unknown role {name!r}: one of {', '.join(ROLE_BITS)}")
        bits |= ROLE_BITS[key]
    return bits
