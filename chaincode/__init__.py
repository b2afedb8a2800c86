"""System contracts deployed in genesis: fixed addresses, roles, statuses, the bounds of
their calls, and ABIs; `events` decodes their logs, `alloc` writes their genesis storage,
`build` recompiles them.

Depends on nothing of ours, so the node, the SDK and a court's tools share one source.
tests/unit/chaincode/test_constants.py checks the numbers here against the Vyper sources.
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
SEAL_REGISTRY = bytes.fromhex("0000000000000000000000000000000000001005")

SYSTEM_CONTRACTS: dict[str, bytes] = {
    "IdentityRegistry": IDENTITY_REGISTRY,
    "ContractRegistry": CONTRACT_REGISTRY,
    "CommitmentTracker": COMMITMENT_TRACKER,
    "EvidenceRegistry": EVIDENCE_REGISTRY,
    "SealRegistry": SEAL_REGISTRY,
}

# Roles are bits in the identity registry (IdentityRegistry.vy's constants).
ROLES = ("ADMIN", "TRADING_CENTER", "PARTY", "REGULATOR", "COURT", "NOTARY", "AUDITOR")
ROLE_BITS = {name: 1 << index for index, name in enumerate(ROLES)}


class ChaincodeError(Exception):
    """Root of every error this package raises on purpose (a build that does not reproduce,
    a system-contract log that does not decode)."""


def role_names(bits: int) -> list[str]:
    return [name for name, bit in ROLE_BITS.items() if bits & bit]


# IdentityRegistry.vy's crypto_profile, written in genesis and read by the PKI precompile:
# which key and signature algorithms certificates on this chain may use.
CRYPTO_PROFILES = {"mixed": 0, "gm": 1}
CRYPTO_PROFILE_NAMES = {code: name for name, code in CRYPTO_PROFILES.items()}
# ContractRegistry.vy
CONTRACT_STATUS = {1: "Pending", 2: "Effective", 3: "Superseded", 4: "Voided"}
DIGEST_ALGORITHMS = {"sha256": 1, "sm3": 2}
ALGORITHM_NAMES = {code: name for name, code in DIGEST_ALGORITHMS.items()}
# SealRegistry.vy
SEAL_STATUS = {1: "Proposed", 2: "Approved", 3: "Revoked"}
MAX_SEAL_NAME = 128  # SealRegistry.vy's MAX_NAME: bytes of UTF-8, not characters
# CommitmentTracker.vy
COMMITMENT_SIDES = {"government": 1, "enterprise": 2}
SIDE_NAMES = {code: name for name, code in COMMITMENT_SIDES.items()}
COMMITMENT_STATUS = {0: "on track", 1: "reminder", 2: "warning", 3: "demand", 4: "fulfilled"}
# CommitmentTracker.vy's MAX_PAGE: the most ids one `escalate` takes and the most
# commitments one `report` counts (it bounds one call's gas); more reverts.
MAX_COMMITMENT_PAGE = 200

# IdentityRegistry.vy proposal actions: what `propose(action, subject, argument)` asks the
# admins to approve.
ACTION_TRUST_ROOT = 1
ACTION_DISTRUST_ROOT = 2
ACTION_GRANT_ROLES = 3
ACTION_REVOKE_ROLES = 4
ACTION_SET_CA_ADMIN = 5
PROPOSAL_ACTIONS = {
    ACTION_TRUST_ROOT: "TRUST_ROOT", ACTION_DISTRUST_ROOT: "DISTRUST_ROOT", ACTION_GRANT_ROLES: "GRANT_ROLES",
    ACTION_REVOKE_ROLES: "REVOKE_ROLES", ACTION_SET_CA_ADMIN: "SET_CA_ADMIN",
}
# IdentityRegistry.revoke takes DynArray[uint256, 64]: the most serials one call revokes.
MAX_REVOKE_SERIALS = 64


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


@functools.cache
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
