"""Membership read from the identity registry's genesis state, and the block rule."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from eth_account import Account

from chaincode import IDENTITY_REGISTRY
from node.chain import TRANSACTION_BUILDER, Chain
from node.genesis import Genesis, build_genesis_document
from node.permissions import REGISTER, Membership, is_registration
from node.sealing import ValidatorKey, proposal_extra
from node.storage import LevelStore

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
