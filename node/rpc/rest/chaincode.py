"""GET /v1/chaincode: the genesis system contracts a client calls — each one's address and
ABI (chaincode/artifacts, the same files the SDK and the node load), the role bits of the
identity registry and its proposal actions.

What the console's admin forms encode their calls with (node/web/static/js/admin.js), so
the browser signs against the ABI this node runs, not a copy shipped beside the page that
could drift from it. The answer depends on nothing but the installed package, so it is
built once.
"""
from __future__ import annotations

import functools
from typing import Any

from eth_utils import to_checksum_address
from fastapi import Request

from chaincode import PROPOSAL_ACTIONS, ROLE_BITS, SYSTEM_CONTRACTS, load_artifact


@functools.cache
def _document() -> dict[str, Any]:
    contracts = []
    for name, address in SYSTEM_CONTRACTS.items():
        artifact = load_artifact(name)
        contracts.append({"name": name, "address": to_checksum_address(address), "abi": artifact.abi,
                          "sourceSha256": artifact.source_sha256, "vyperVersion": artifact.vyper_version})
    return {"contracts": contracts, "roles": dict(ROLE_BITS),
            "proposalActions": {label: code for code, label in PROPOSAL_ACTIONS.items()}}


def system_contracts(request: Request) -> dict[str, Any]:
    """The genesis system contracts (name, address, ABI, source hash), the role bits and
    the identity registry's proposal actions."""
    return _document()
