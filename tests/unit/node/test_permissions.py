"""Membership read from the identity registry's genesis state, and the block rule."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth.vm.spoof import SpoofTransaction
from eth_abi import decode as abi_decode
from eth_account import Account

from chaincode import IDENTITY_REGISTRY, ROLE_BITS, load_artifact
from chaincode.alloc import hashmap_slot
from node.consensus.sealing import ValidatorKey, proposal_extra, with_seals
from node.execution.chain import Chain
from node.execution.genesis import Genesis, build_genesis_document
from node.execution.permissions import REGISTER, Membership, is_registration, read_expiry, read_is_active
from node.execution.vm import TRANSACTION_BUILDER, LedgerVM
from node.storage.store import LevelStore

VALIDATOR = ValidatorKey(b"\x01" * 32)
MEMBER = Account.from_key(b"\x02" * 32)
OUTSIDER = Account.from_key(b"\x03" * 32)


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    store = LevelStore(tmp_path / "chain")
    genesis = Genesis.parse(build_genesis_document(
        chain_id=1337, validators=[VALIDATOR.address], alloc={},
        members=[(bytes.fromhex(MEMBER.address[2:]), "REGULATOR")]))
    c = Chain.initialise(store, genesis)
    c.membership = Membership(c.state_at)
    yield c
    store.close()


def tx(account: Account, to: bytes, data: bytes = b"", nonce: int = 0):  # type: ignore[no-untyped-def]
    signed = account.sign_transaction({"nonce": nonce, "gas": 100_000, "gasPrice": 0, "to": "0x" + to.hex(),
                                       "value": 0, "data": data, "chainId": 1337})
    return TRANSACTION_BUILDER.decode(bytes(signed.raw_transaction))


def test_genesis_members_are_read_from_the_registry(chain: Chain) -> None:
    assert chain.membership is not None
    assert chain.membership.is_member(chain.head, bytes.fromhex(MEMBER.address[2:]))
    assert not chain.membership.is_member(chain.head, bytes.fromhex(OUTSIDER.address[2:]))


def test_blocks_drop_non_member_transactions_but_not_registrations(chain: Chain) -> None:
    ok = tx(MEMBER, b"\x11" * 20)
    refused = tx(OUTSIDER, b"\x11" * 20)
    registering = tx(Account.from_key(b"\x05" * 32), IDENTITY_REGISTRY, REGISTER + b"\x00" * 64)
    assert is_registration(registering) and not is_registration(ok)
    built = chain.build_block([ok, refused, registering], timestamp=chain.head.timestamp + 1,
                              coinbase=VALIDATOR.address, extra=proposal_extra(chain.validators_after(chain.head), 0))
    assert [t.hash for t in built.transactions] == [ok.hash, registering.hash]
    assert [r.transaction.hash for r in built.rejected] == [refused.hash]
    assert "is not a member" in built.rejected[0].reason
    # the registration ran and reverted (malformed proof) rather than being refused at the door
    assert built.receipts[0].state_root == b"\x01" and built.receipts[1].state_root == b""


def test_reused_answers_follow_certificate_expiry_exactly(chain: Chain) -> None:
    """Answers are kept across blocks while the registry's storage is unchanged; a
    certificate that expires between two such blocks must still stop counting at once."""

    holder = bytes.fromhex(Account.from_key(b"\x06" * 32).address[2:])
    layout = load_artifact("IdentityRegistry")
    root_fingerprint = b"\x07" * 32
    expires = 15
    base = hashmap_slot(layout.slot("members"), holder)

    def state_with_certificate_member(header):  # type: ignore[no-untyped-def]
        # The registry as a registration by certificate would leave it (roles, certificate
        # fingerprint, root, notAfter), in the read-only state of `header`.
        state = chain.state_at(header)
        registry = IDENTITY_REGISTRY
        state.set_storage(registry, base + 0, ROLE_BITS["PARTY"])
        state.set_storage(registry, base + 1, 1)
        state.set_storage(registry, base + 3, int.from_bytes(root_fingerprint, "big"))
        state.set_storage(registry, base + 4, expires)
        state.set_storage(registry, hashmap_slot(layout.slot("roots"), root_fingerprint), 1)
        state.persist()
        return state

    headers = []
    for timestamp in (10, 20):
        built = chain.build_block([], timestamp=timestamp, coinbase=VALIDATOR.address,
                                  extra=proposal_extra(chain.validators_after(chain.head), 0))
        chain.commit(with_seals(built.header, [VALIDATOR.commit_seal(built.header)]), built, [])
        headers.append(chain.head)
    before, after = headers

    # The storage offsets agree with the registry's own getter.
    state = state_with_certificate_member(before)
    getter = bytes.fromhex("08ae4b0c")  # members(address)
    call = LedgerVM.create_unsigned_transaction(nonce=0, gas_price=0, gas=1_000_000, to=IDENTITY_REGISTRY, value=0,
                                                data=getter + holder.rjust(32, b"\x00"))
    output = state.costless_execute_transaction(SpoofTransaction(call, from_=b"\x00" * 20)).output
    assert read_expiry(state, holder) == expires == abi_decode(["uint256"], output[32 * 5:32 * 6])[0]
    assert read_expiry(state, bytes.fromhex(MEMBER.address[2:])) is None  # genesis member: no certificate

    membership = Membership(state_with_certificate_member)
    assert membership.is_member(before, holder) is True
    assert membership.is_member(after, holder) is False  # reused answer, expiry re-applied
    assert read_is_active(state_with_certificate_member(after), holder) is False  # what executing says
    assert membership.is_member(before, holder) is True  # an earlier time is asked afresh
