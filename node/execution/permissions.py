"""Who may transact: active members of the identity registry, read from chain state.

The transaction pool asks at the head; block building (and so block validation, which
re-executes) asks at the parent block's state, before the block's transactions run. A
non-member may send exactly one kind of transaction: `IdentityRegistry.register`, which
the registry itself checks (certificate chain from a trusted CA plus proof of the key),
and which the pool simulates first so a non-member cannot fill blocks with failures.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from eth.abc import SignedTransactionAPI, StateAPI
from eth.vm.spoof import SpoofTransaction
from eth_typing import Address
from eth_utils import function_signature_to_4byte_selector

from chaincode import IDENTITY_REGISTRY, load_artifact
from chaincode.alloc import hashmap_slot
from node.errors import NodeError
from node.execution.vm import LedgerVM, QBFTHeader

IS_ACTIVE = function_signature_to_4byte_selector("is_active(address)")
REGISTER = function_signature_to_4byte_selector("register(bytes,bytes)")
# Gas for one membership read (a few storage reads) and for simulating a registration.
VIEW_GAS = 1_000_000
ZERO_ADDRESS = Address(b"\x00" * 20)
# Answers kept; the cache is dropped when the registry's storage changes or it is full.
CACHE_LIMIT = 100_000
# IdentityRegistry storage: the `members` HashMap and the offsets of Member.cert_fingerprint
# and Member.not_after (fields 1 and 4 of the struct).
_MEMBERS_SLOT = load_artifact("IdentityRegistry").slot("members")
_CERT_FINGERPRINT = 1
_NOT_AFTER = 4


class MembershipError(NodeError):
    pass


def is_registration(tx: SignedTransactionAPI) -> bool:
    return tx.to == IDENTITY_REGISTRY and tx.data[:4] == REGISTER


def read_is_active(state: StateAPI, address: bytes) -> bool:
    """IdentityRegistry.is_active(address), executed on `state` and rolled back."""
    unsigned = LedgerVM.create_unsigned_transaction(
        nonce=state.get_nonce(ZERO_ADDRESS), gas_price=0, gas=VIEW_GAS,
        to=Address(IDENTITY_REGISTRY), value=0, data=IS_ACTIVE + address.rjust(32, b"\x00"),
    )
    snapshot = state.snapshot()
    try:
        spoofed = SpoofTransaction(unsigned, from_=ZERO_ADDRESS)
        computation = state.costless_execute_transaction(spoofed)  # type: ignore[arg-type]
    finally:
        state.revert(snapshot)
    if computation.is_error:
        raise MembershipError(f"identity registry is_active failed: {computation.error}")
    return computation.output[-1:] == b"\x01"


def registry_storage_root(state: StateAPI) -> bytes:
    """The identity registry's storage root in `state` (py-evm keeps it on the account)."""
    return state._account_db._get_storage_root(Address(IDENTITY_REGISTRY))  # type: ignore[attr-defined]


def read_expiry(state: StateAPI, address: bytes) -> int | None:
    """The notAfter of `address`'s registered certificate, None if it registered none.

    Read from the registry's storage: a HashMap entry at keccak(slot ‖ key), the Member
    struct's fields in declaration order (chaincode/alloc.py).
    """
    base = hashmap_slot(_MEMBERS_SLOT, address)
    if state.get_storage(Address(IDENTITY_REGISTRY), base + _CERT_FINGERPRINT) == 0:
        return None
    return state.get_storage(Address(IDENTITY_REGISTRY), base + _NOT_AFTER)


def simulate(state: StateAPI, tx: SignedTransactionAPI) -> str | None:
    """Run `tx` on `state` and roll back: None if it succeeds, else the revert reason."""
    snapshot = state.snapshot()
    try:
        computation = state.costless_execute_transaction(tx)
    finally:
        state.revert(snapshot)
    if not computation.is_error:
        return None
    output = computation.output
    if output[:4] == bytes.fromhex("08c379a0") and len(output) >= 68:
        length = int.from_bytes(output[36:68], "big")
        return output[68 : 68 + length].decode("utf-8", errors="replace")
    return str(computation.error) or type(computation.error).__name__


@dataclass(frozen=True)
class _Answer:
    active: bool          # is_active at `asked_at`
    expires: int | None   # the certificate's notAfter, None for a genesis member (no certificate)
    asked_at: int         # block timestamp of the state it was read from


class Membership:
    """Membership answers per block state, kept while the identity registry's storage is
    unchanged.

    Executing `is_active` costs milliseconds, and a validator asks it for every sender of
    every block it builds or checks. The answer depends on the registry's storage and on
    the block time, and on time only through the certificate's notAfter: so an answer is
    reused for later blocks whose registry storage root is the same, with the expiry
    re-applied at the new block time. Block time never goes back along the chain; an
    answer is never used for an earlier time than it was read at.
    """

    def __init__(self, state_at: Callable[[QBFTHeader], StateAPI]) -> None:
        self._state_at = state_at
        self._lock = threading.Lock()
        self._header_hash: bytes | None = None
        self._state: StateAPI | None = None
        self._registry_root: bytes | None = None
        self._answers: dict[bytes, _Answer] = {}

    def is_member(self, header: QBFTHeader, address: bytes) -> bool:
        with self._lock:
            if header.hash != self._header_hash:
                self._header_hash = header.hash
                self._state = self._state_at(header)
                root = registry_storage_root(self._state)
                if root != self._registry_root or len(self._answers) >= CACHE_LIMIT:
                    self._registry_root = root
                    self._answers = {}
            assert self._state is not None
            answer = self._answers.get(address)
            if answer is None or answer.asked_at > header.timestamp:
                answer = self._answers[address] = _Answer(
                    read_is_active(self._state, address), read_expiry(self._state, address), header.timestamp
                )
            return answer.active and (answer.expires is None or header.timestamp <= answer.expires)

    def admits(self, header: QBFTHeader, tx: SignedTransactionAPI) -> bool:
        """The block rule: the sender is a member after `header`, or it is registering."""
        return is_registration(tx) or self.is_member(header, tx.sender)

    def check_registration(self, header: QBFTHeader, tx: SignedTransactionAPI) -> str | None:
        """The pool's extra check of a non-member's registration: it must succeed."""
        return simulate(self._state_at(header), tx)
