"""Who may do what: the permissions (JSON-RPC, blobs, REST), the one table of what each role holds, and which JSON-RPC method needs which.

Model: Hyperledger Besu's JWT authentication of its JSON-RPC — a valid token whose role may
not call a method gets JSON-RPC error -40100 ("Unauthorized") for that call.
docs/access.md is the user's guide.

* **Permissions** are strings (`rpc:read`, `blobs:write`, `contracts:read-own`, ...).
  Every JSON-RPC method is in exactly one group of `METHOD_PERMISSIONS`; a method in
  none is refused to every role but ADMIN (a test checks that each route is listed).
* **Roles** are the chaincode's (`chaincode.ROLES`); `ROLE_PERMISSIONS` is the one table
  of what each may do.
* **Auth modes** (`--auth auto|required|off`): whether the node asks for tokens at all;
  `resolve_auth_mode` turns "auto" into "off" only for a --dev node on loopback.

Pure tables and functions of their arguments; `node.access.http.Principal` applies them
to whoever presented a token. Cheap to import (no py-evm, no web framework): the node's
configuration, its Host check and the CLI read `AUTH_MODES`, `LOOPBACK_NAMES` and
`parse_role` from here.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from chaincode import ROLES
from node.errors import ConfigError, PermissionDenied

# -- permissions ----------------------------------------------------------------------

RPC_PUBLIC = "rpc:public"        # which chain, how high: what every client asks first
RPC_SEND = "rpc:send"            # what a wallet needs to send and confirm its own transaction
RPC_READ = "rpc:read"            # every read of the chain (logs, proofs, raw blocks, ...)
RPC_ADMIN = "rpc:admin"          # validator votes, the --dev clock
BLOBS_READ = "blobs:read"        # GET/HEAD /v1/blobs/{sha256}
BLOBS_WRITE = "blobs:write"      # PUT /v1/blobs
CHAIN_READ = "chain:read"        # REST: chain summary, blocks
# REST: start the node's whole-chain verification of its own store (POST
# /v1/chain/verifications). A write to the node (it spends CPU for minutes), not to the
# chain: for those who answer for the record's integrity, the admin and the auditor.
CHAIN_VERIFY = "chain:verify"
CONTRACTS_READ = "contracts:read"
CONTRACTS_READ_OWN = "contracts:read-own"  # only contracts naming the token's address as a party
EVIDENCE_READ = "evidence:read"
EVIDENCE_WRITE = "evidence:write"  # REST: hand an anchored batch's members to the node (PUT /v1/evidence/{root}/members)
COMMITMENTS_READ = "commitments:read"

PERMISSIONS: tuple[str, ...] = (
    RPC_PUBLIC, RPC_SEND, RPC_READ, RPC_ADMIN, BLOBS_READ, BLOBS_WRITE, CHAIN_READ, CHAIN_VERIFY,
    CONTRACTS_READ, CONTRACTS_READ_OWN, EVIDENCE_READ, EVIDENCE_WRITE, COMMITMENTS_READ,
)

SEND_RAW_TRANSACTION = "eth_sendRawTransaction"
# Methods that answer about one transaction: a token bound to an address and holding only
# rpc:send may ask them about the transactions that address sent (its own receipts).
OWN_TRANSACTION_METHODS = frozenset({"eth_getTransactionReceipt", "eth_getTransactionByHash"})

# The one table of JSON-RPC method -> permission group. rpc:read covers every read, the
# rpc:send reads included (an auditor may eth_call); only eth_sendRawTransaction needs
# rpc:send itself. Refinements (`call_permission`): eth_getBlockByNumber with full
# transactions needs rpc:read; eth_subscribe "newHeads" needs only rpc:public.
METHOD_PERMISSIONS: dict[str, str] = {
    "web3_clientVersion": RPC_PUBLIC,
    "web3_sha3": RPC_PUBLIC,
    "net_version": RPC_PUBLIC,
    "net_listening": RPC_PUBLIC,
    "net_peerCount": RPC_PUBLIC,
    "eth_chainId": RPC_PUBLIC,
    "ledger_chainInfo": RPC_PUBLIC,  # the chain's id, name and genesis hash (v2 receipts)
    "eth_blockNumber": RPC_PUBLIC,
    "eth_syncing": RPC_PUBLIC,
    "eth_unsubscribe": RPC_PUBLIC,  # WebSocket only; ends a subscription of this socket

    "eth_sendRawTransaction": RPC_SEND,
    "eth_getTransactionCount": RPC_SEND,
    "eth_estimateGas": RPC_SEND,
    "eth_call": RPC_SEND,
    "eth_gasPrice": RPC_SEND,
    "eth_maxPriorityFeePerGas": RPC_SEND,
    "eth_blobBaseFee": RPC_SEND,
    "eth_feeHistory": RPC_SEND,
    "eth_getBalance": RPC_SEND,
    "eth_getCode": RPC_SEND,
    "eth_accounts": RPC_SEND,
    "eth_getBlockByNumber": RPC_SEND,
    "eth_getTransactionReceipt": RPC_SEND,
    "eth_getTransactionByHash": RPC_SEND,

    "eth_getStorageAt": RPC_READ,
    "eth_getBlockByHash": RPC_READ,
    "eth_getBlockTransactionCountByNumber": RPC_READ,
    "eth_getUncleCountByBlockNumber": RPC_READ,
    "eth_getTransactionByBlockNumberAndIndex": RPC_READ,
    "eth_getBlockReceipts": RPC_READ,
    "eth_getLogs": RPC_READ,
    "eth_newFilter": RPC_READ,
    "eth_newBlockFilter": RPC_READ,
    "eth_newPendingTransactionFilter": RPC_READ,
    "eth_getFilterChanges": RPC_READ,
    "eth_getFilterLogs": RPC_READ,
    "eth_uninstallFilter": RPC_READ,
    "eth_getProof": RPC_READ,
    "eth_subscribe": RPC_READ,  # WebSocket only; "newHeads" needs only rpc:public
    "qbft_getValidatorsByBlockNumber": RPC_READ,
    "qbft_getValidatorsByBlockHash": RPC_READ,
    "qbft_getPendingVotes": RPC_READ,
    "ledger_getValidatorHistory": RPC_READ,
    "ledger_nodeStatus": RPC_READ,
    "debug_getRawHeader": RPC_READ,
    "debug_getRawBlock": RPC_READ,
    "debug_getRawReceipts": RPC_READ,

    "qbft_proposeValidatorVote": RPC_ADMIN,
    "qbft_discardValidatorVote": RPC_ADMIN,
    "evm_increaseTime": RPC_ADMIN,
}

# The one table of what each role may do. ADMIN may do everything (methods not
# classified above included). The record keepers (trading center, court) read and write
# everything but the node's administration; a notary does not follow commitments; an
# auditor reads everything and writes nothing to the chain (it may have the node verify
# the chain: chain:verify); a regulator follows contracts and commitments (not evidence,
# not raw chain reads, not blobs) and may send its own transactions (voiding a
# contract); a party sends its own transactions, reads the
# ciphertext it was given and only the contracts it is a party to. The read limits hold on
# the REST routes and the feed; rpc:send's eth_call and receipts reach further (see
# docs/access.md).
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "ADMIN": frozenset(PERMISSIONS),
    "TRADING_CENTER": frozenset({RPC_PUBLIC, RPC_SEND, RPC_READ, BLOBS_READ, BLOBS_WRITE, CHAIN_READ,
                                 CONTRACTS_READ, EVIDENCE_READ, EVIDENCE_WRITE, COMMITMENTS_READ}),
    "COURT": frozenset({RPC_PUBLIC, RPC_SEND, RPC_READ, BLOBS_READ, BLOBS_WRITE, CHAIN_READ,
                        CONTRACTS_READ, EVIDENCE_READ, EVIDENCE_WRITE, COMMITMENTS_READ}),
    "NOTARY": frozenset({RPC_PUBLIC, RPC_SEND, RPC_READ, BLOBS_READ, BLOBS_WRITE, CHAIN_READ,
                         CONTRACTS_READ, EVIDENCE_READ, EVIDENCE_WRITE}),
    "AUDITOR": frozenset({RPC_PUBLIC, RPC_READ, BLOBS_READ, CHAIN_READ, CHAIN_VERIFY, CONTRACTS_READ,
                          EVIDENCE_READ, COMMITMENTS_READ}),
    "REGULATOR": frozenset({RPC_PUBLIC, RPC_SEND, CHAIN_READ, CONTRACTS_READ, COMMITMENTS_READ}),
    "PARTY": frozenset({RPC_PUBLIC, RPC_SEND, BLOBS_READ, CHAIN_READ, CONTRACTS_READ_OWN}),
}
# Roles whose tokens must name the account they act for.
ADDRESS_BOUND_ROLES = frozenset({"PARTY"})

# How a node asks for tokens (`--auth`): "auto" is "off" only for a --dev node serving on
# loopback (`resolve_auth_mode`).
AUTH_MODES = ("auto", "required", "off")
# Host names that are this machine whatever the resolver says (the auth mode "auto" and
# node/rpc/origin.py's Host check take them as loopback without a lookup).
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class RoleDenied(PermissionDenied):
    """A valid token whose role (or address binding) does not allow `action`."""

    def __init__(self, role: str, action: str, detail: str | None = None) -> None:
        super().__init__(f"role {role} may not {action}" + (f": {detail}" if detail else ""))
        self.role = role
        self.action = action
        self.detail = detail


def parse_role(text: str) -> str:
    """A role name as the chaincode spells it, from any case and `-` or `_`
    (`trading-center` -> TRADING_CENTER); ConfigError for an unknown one."""
    role = text.strip().upper().replace("-", "_")
    if role not in ROLES:
        raise ConfigError("role", f"unknown role {text[:40]!r}; one of {', '.join(ROLES)}")
    return role


def call_permission(method: str, params: Sequence[Any]) -> str | None:
    """The permission group a call needs, with the refinements that depend on its
    parameters; None for a method no group lists (ADMIN only)."""
    group = METHOD_PERMISSIONS.get(method)
    if method == "eth_getBlockByNumber" and len(params) > 1 and params[1] is True:
        return RPC_READ  # full transactions: every sender's calldata
    if method == "eth_subscribe" and params and params[0] == "newHeads":
        return RPC_PUBLIC
    return group


def is_public_call(method: Any, params: Any) -> bool:
    """Whether anyone, without a token, may make this call."""
    return isinstance(method, str) and call_permission(method, params if isinstance(params, list) else []) == RPC_PUBLIC


# -- how a node asks for tokens ------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an IP address, IPv6 in brackets or not) is this machine."""
    host = host.strip().strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_auth_mode(mode: str, *, dev: bool, host: str) -> str:
    """"required" or "off": "auto" is "off" only for a --dev node serving on loopback."""
    if mode not in AUTH_MODES:
        raise ConfigError("auth", f"must be one of {', '.join(AUTH_MODES)}, got {mode[:40]!r}")
    if mode == "auto":
        return "off" if dev and is_loopback(host) else "required"
    return mode
