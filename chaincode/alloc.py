"""Genesis allocation of the system contracts: their runtime code and initial storage.

Contracts in genesis run no constructor, so the first members, admins, trusted roots
and the chain's crypto profile are written straight into the identity registry's
storage, at the slots Vyper's layout gives them: a HashMap entry lives at
keccak256(slot ‖ key) (Vyper puts the slot first, unlike Solidity) and a struct's
fields follow in declaration order.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from eth_hash.auto import keccak

from chaincode import CRYPTO_PROFILE_NAMES, ROLE_BITS, SYSTEM_CONTRACTS, ChaincodeError, load_artifact


def hashmap_slot(slot: int, key: bytes) -> int:
    """Vyper 0.4: the slot of HashMap entry `key` (32 bytes, left-padded) at `slot`."""
    return int.from_bytes(keccak(slot.to_bytes(32, "big") + key.rjust(32, b"\x00")), "big")


def identity_storage(
    members: Iterable[tuple[bytes, str]], root_fingerprints: Iterable[bytes], crypto_profile: int = 0
) -> dict[int, int]:
    """IdentityRegistry storage for genesis members (address, role), trusted roots and the
    chain's crypto profile (a `chaincode.CRYPTO_PROFILES` value)."""
    layout = load_artifact("IdentityRegistry")
    roles: dict[bytes, int] = {}
    for address, role in members:
        roles[address] = roles.get(address, 0) | ROLE_BITS[role]
    storage: dict[int, int] = {}
    for address, bits in roles.items():
        storage[hashmap_slot(layout.slot("members"), address)] = bits  # Member.roles, field 0
    admins = sum(1 for bits in roles.values() if bits & ROLE_BITS["ADMIN"])
    if admins:
        storage[layout.slot("admin_count")] = admins
    if roles:
        storage[layout.slot("member_count")] = len(roles)
    for fingerprint in root_fingerprints:
        storage[hashmap_slot(layout.slot("roots"), fingerprint)] = 1  # Root.trusted, field 0
    if crypto_profile not in CRYPTO_PROFILE_NAMES:
        raise ChaincodeError(f"crypto profile {crypto_profile} is none of {sorted(CRYPTO_PROFILE_NAMES)}")
    # Written only when not "mixed" (0, the slot's empty value): the genesis state, hence the
    # genesis hash, of every chain made before profiles existed stays what it was.
    if crypto_profile:
        storage[layout.slot("crypto_profile")] = crypto_profile
    return storage


def system_alloc(
    members: Iterable[tuple[bytes, str]], root_fingerprints: Iterable[bytes], crypto_profile: int = 0
) -> dict[bytes, tuple[bytes, Mapping[int, int]]]:
    """address -> (runtime code, storage) for every system contract."""
    alloc: dict[bytes, tuple[bytes, Mapping[int, int]]] = {}
    for name, address in SYSTEM_CONTRACTS.items():
        storage = identity_storage(members, root_fingerprints, crypto_profile) if name == "IdentityRegistry" else {}
        alloc[address] = (load_artifact(name).runtime, storage)
    return alloc
