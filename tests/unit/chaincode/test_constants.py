"""The numbers chaincode/__init__.py publishes are the Vyper sources' own: proposal
actions, roles, statuses, digest algorithms, sides and the bounds of batch calls."""
from __future__ import annotations

import math
import re

import pytest

import chaincode
from chaincode import SOURCES


def constant(contract: str, name: str) -> int:
    """The value of `NAME: constant(...) = value` in chaincode/sources/<contract>.vy."""
    source = (SOURCES / f"{contract}.vy").read_text(encoding="utf-8")
    match = re.search(rf"^{name}: constant\(\w+\) = ([0-9* ]+)", source, re.MULTILINE)
    assert match is not None, f"{contract}.vy defines no {name}"
    return math.prod(int(factor) for factor in match.group(1).split("*"))  # "64", "7 * 86400"


@pytest.mark.parametrize("name", ["TRUST_ROOT", "DISTRUST_ROOT", "GRANT_ROLES", "REVOKE_ROLES", "SET_CA_ADMIN"])
def test_proposal_actions(name: str) -> None:
    code = constant("IdentityRegistry", name)
    assert getattr(chaincode, f"ACTION_{name}") == code and chaincode.PROPOSAL_ACTIONS[code] == name


def test_roles_statuses_algorithms_and_sides() -> None:
    for role, bit in chaincode.ROLE_BITS.items():
        assert constant("IdentityRegistry", role) == bit
    for code, status in chaincode.CONTRACT_STATUS.items():
        assert constant("ContractRegistry", status.upper()) == code
    for name, code in chaincode.DIGEST_ALGORITHMS.items():
        assert constant("ContractRegistry", name.upper()) == code == constant("EvidenceRegistry", name.upper())
        assert chaincode.ALGORITHM_NAMES[code] == name
    for name, code in chaincode.COMMITMENT_SIDES.items():
        assert constant("CommitmentTracker", name.upper()) == code and chaincode.SIDE_NAMES[code] == name
    for code, status in chaincode.COMMITMENT_STATUS.items():
        assert constant("CommitmentTracker", status.upper().replace(" ", "_")) == code


def test_batch_bounds() -> None:
    assert constant("CommitmentTracker", "MAX_PAGE") == chaincode.MAX_COMMITMENT_PAGE
    source = (SOURCES / "IdentityRegistry.vy").read_text(encoding="utf-8")
    assert f"serials: DynArray[uint256, {chaincode.MAX_REVOKE_SERIALS}]" in source
