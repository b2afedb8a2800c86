"""System contracts deployed in genesis: fixed addresses, roles, statuses and ABIs.

Depends on nothing of ours, so the node, the SDK and a court's tools share one source.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).parent / "artifacts"
SOURCES = Path(__file__).parent / "sources"
VYPER_VERSION = "0.4.3"  # pinned: genesis code must be exactly what this compiler emits

# The PKI precompile (Python, inside our VM) and the genesis-deployed contracts.
PKI_PRECOMPILE = bytes.fromhex("0000000000000000000000000000000000000f01")
IDENTITY_REGISTRY = bytes.fromhex("0000000000000000000000000000000000001001")
CONTRACT_REGISTRY = bytes.fromhex("0000000000000000000000000000000000001002")
COMMITMENT_TRACKER = bytes.fromhex("0000000000000000000000000000000000001003")
EVIDENCE_REGISTRY = bytes.fromhex("0000000000000000000000000000000000001004")

SYSTEM_CONTRACTS: dict[str, bytes] = {
    "IdentityRegistry": IDENTITY_REGISTRY,
    "ContractRegistry": CONTRACT_REGISTRY,
    "CommitmentTracker": COMMITMENT_TRACKER,
    "EvidenceRegistry": EVIDENCE_REGISTRY,
}

# Roles are bits in the identity registry (IdentityRegistry.vy's constants).
ROLES = ("ADMIN", "TRADING_CENTER", "PARTY", "REGULATOR", "COURT", "NOTARY", "AUDITOR")
ROLE_BITS = {name: 1 << index for index, name in enumerate(ROLES)}


def role_names(bits: int) -> list[str]:
    return [name for name, bit in ROLE_BITS.items() if bits & bit]


# ContractRegistry.vy
CONTRACT_STATUS = {1: "Pending", 2: "Effective", 3: "Superseded", 4: "Voided"}
DIGEST_ALGORITHMS = {"sha256": 1, "sm3": 2}
# CommitmentTracker.vy
COMMITMENT_SIDES = {"government": 1, "enterprise": 2}
COMMITMENT_STATUS = {0: "on track", 1: "reminder", 2: "warning", 3: "demand", 4: "fulfilled"}
# IdentityRegistry.vy proposal actions
PROPOSAL_ACTIONS = {1: "TRUST_ROOT", 2: "DISTRUST_ROOT", 3: "GRANT_ROLES", 4: "REVOKE_ROLES", 5: "SET_CA_ADMIN"}


@dataclass(frozen=True)
class Artifact:
    """One compiled system contract as shipped in chaincode/artifacts/."""

    name: str
    abi: list[dict[str, Any]]
    runtime: bytes
    storage_layout: dict[str, Any]
    source_sha256: str
    vyper_version: str

    def slot(self, variable: str) -> int:
        return int(self.storage_layout[variable]["slot"])


@functools.lru_cache(maxsize=None)
def load_artifact(name: str) -> Artifact:
    """The shipped artifact of a system contract (raises FileNotFoundError if unbuilt)."""
    document = json.loads((ARTIFACTS / f"{name}.json").read_text())
    return Artifact(
        name=document["contract"],
        abi=document["abi"],
        runtime=bytes.fromhex(document["runtime"].removeprefix("0x")),
        storage_layout=document["storage_layout"],
        source_sha256=document["source_sha256"],
        vyper_version=document["vyper_version"],
    )
