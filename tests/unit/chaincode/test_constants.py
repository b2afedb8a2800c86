"""The numbers chaincode/__init__.py publishes are the Vyper sources' own: proposal
actions, roles, statuses (contracts, commitments, seals), digest algorithms, sides, the
genesis addresses the contracts call, and the bounds of batch calls."""
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


def test_seal_statuses() -> None:
    for code, status in chaincode.SEAL_STATUS.items():
        assert constant("SealRegistry", status.upper()) == code
    assert sorted(chaincode.SEAL_STATUS) == [1, 2, 3]  # 0 is "no such seal", never a status
    assert constant("SealRegistry", "MAX_NAME") == chaincode.MAX_SEAL_NAME


def test_role_bits_every_contract_checks() -> None:
    """A contract other than the identity registry names the roles it checks with its own
    constants: each must be the registry's bit (an ADMIN of 2 would let a trading center
    approve seals)."""
    for source in sorted(SOURCES.glob("*.vy")):
        for role, bit in chaincode.ROLE_BITS.items():
            if re.search(rf"^{role}: constant", source.read_text(encoding="utf-8"), re.MULTILINE):
                assert constant(source.stem, role) == bit, (source.stem, role)
    assert constant("SealRegistry", "ADMIN") == chaincode.ROLE_BITS["ADMIN"]


def test_addresses_the_contracts_call_and_declare() -> None:
    """Every address constant in a source is a system contract's genesis address or the PKI
    precompile, under the name of what lives there; each contract's @notice states its own."""
    known = {"IDENTITY": chaincode.IDENTITY_REGISTRY, "SEALS": chaincode.SEAL_REGISTRY,
             "PKI": chaincode.PKI_PRECOMPILE}
    seen = set()
    for source in sorted(SOURCES.glob("*.vy")):
        text = source.read_text(encoding="utf-8")
        for name, value in re.findall(r"^(\w+): constant\(address\) = 0x([0-9a-fA-F]{40})$", text, re.MULTILINE):
            assert bytes.fromhex(value) == known[name], (source.stem, name)
            seen.add(name)
        notice = re.search(r"Deployed in genesis at 0x([0-9a-fA-F]{40})", text)
        assert notice is not None and bytes.fromhex(notice.group(1)) == chaincode.SYSTEM_CONTRACTS[source.stem]
    assert seen == set(known)
    assert sorted(p.stem for p in SOURCES.glob("*.vy")) == sorted(chaincode.SYSTEM_CONTRACTS)


def test_seal_registry_bounds_match_the_identity_registry() -> None:
    """The seal registry passes the chain and signature it is given to
    IdentityRegistry.verify_signer: its bounds must be the registry's, or a chain the
    registry accepts at registration would not fit through register()."""
    for name in ("MAX_CHAIN", "MAX_SIGNATURE"):
        assert constant("SealRegistry", name) == constant("IdentityRegistry", name) == constant("ContractRegistry", name)
