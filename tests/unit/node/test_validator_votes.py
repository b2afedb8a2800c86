"""Validator set changes by header votes on a real chain: several validators seal blocks
in-process; votes add X and remove D; the header rules, the vote index, the tally cache,
the pending votes and the qbft_* / ledger_getValidatorHistory RPC methods."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import rlp

from evidence import qbft
from node.consensus.sealing import VANITY
from node.consensus.votes import MAX_PENDING_VOTES, PendingVotes
from node.errors import InvalidBlock, InvalidParams, StorageError
from node.execution.chain import Chain
from node.rpc.methods import ROUTES, RpcContext
from node.storage import schema
from node.storage.store import LevelStore
from tests.unit.node.votechain import A, B, C, D, X, add, commit, drop, make_genesis, propose, vote_in_x_then_out_d

FOUR = tuple(sorted(k.address for k in (A, B, C, D)))
FIVE = tuple(sorted(k.address for k in (A, B, C, D, X)))
AFTER = tuple(sorted(k.address for k in (A, B, C, X)))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LevelStore]:
    s = LevelStore(tmp_path / "chain")
    yield s
    s.close()


@pytest.fixture
def chain(store: LevelStore) -> Chain:
    return Chain.initialise(store, make_genesis())


def refused(chain: Chain, *args: Any, **kwargs: Any) -> InvalidBlock:
    sealed, built = propose(chain, *args, **kwargs)
    with pytest.raises(InvalidBlock) as caught:
        chain.commit(sealed, built, [])
    return caught.value


def test_votes_add_then_remove_a_validator(chain: Chain) -> None:
    assert chain.validators_after(chain.head) == FOUR  # genesis lists them sorted
    commit(chain, A, add(X))
    commit(chain, B, add(X))
    assert chain.validators_after(chain.head) == FOUR  # 2 of 4
    assert chain.tally_after(chain.head).pending == {X.address: {A.address: True, B.address: True}}
    commit(chain, C, add(X))
    assert chain.validators_after(chain.head) == FIVE
    assert Chain.validators_of(chain.head) == FOUR  # block 3 was sealed by the four
    commit(chain, D)
    commit(chain, A, drop(D))
    commit(chain, B, drop(D))
    commit(chain, X, drop(D))
    assert chain.validators_after(chain.head) == AFTER
    block = commit(chain, X)
    assert Chain.validators_of(block) == AFTER
    assert chain.vote_heights() == [1, 2, 3, 5, 6, 7]
    assert chain.vote_heights(3, 6) == [3, 5, 6]


def test_the_new_set_must_be_listed_and_seal(chain: Chain) -> None:
    for proposer in (A, B, C):
        commit(chain, proposer, add(X))
    assert refused(chain, A, validators=FOUR).step == "validators"  # the old set
    caught = refused(chain, A, signers=[A, B, C])  # 3 of 5: quorum is ceil(10/3) = 4
    assert caught.step == "commit seals" and "quorum" in caught.detail
    commit(chain, X, signers=[B, C, D, X])  # the new validator proposes and seals
    for proposer in (A, B, X):
        commit(chain, proposer, drop(D))
    assert refused(chain, D).step == "proposer"
    caught = refused(chain, A, signers=[A, B, D])
    assert caught.step == "commit seals" and "not a validator" in caught.detail
    assert chain.head.block_number == 7


def test_a_malformed_vote_is_refused_as_a_vote(chain: Chain) -> None:
    built = chain.build_block([], timestamp=chain.head.timestamp + 1, coinbase=A.address,
                              extra=qbft.ExtraData(VANITY, FOUR, None, 0, ()))
    for vote in ([b"\x01" * 19, b"\xff"], [X.address, b"\x01"], [X.address]):  # Besu's bytes: 0xff add, 0x00 drop
        header = built.header.copy(extra_data=rlp.encode([VANITY, list(FOUR), vote, b"", []]))
        with pytest.raises(InvalidBlock) as caught:
            chain.check_header_extra(header, chain.head)
        assert caught.value.step == "vote", vote
        with pytest.raises(InvalidBlock) as caught:
            chain.check_seals(header, chain.head)
        assert caught.value.step == "vote", vote


def test_check_header_extra_takes_an_unsealed_proposal(chain: Chain) -> None:
    sealed, built = propose(chain, A, add(X), signers=[])
    chain.check_header_extra(sealed, chain.head)  # no seals needed
    with pytest.raises(InvalidBlock) as caught:
        chain.check_seals(sealed, chain.head)
    assert caught.value.step == "commit seals"


def test_a_reopened_chain_rebuilds_the_set_from_the_vote_index_alone(store: LevelStore, chain: Chain,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    vote_in_x_then_out_d(chain)
    for _ in range(20):
        commit(chain, X)
    reopened = Chain(store, make_genesis())
    reads: list[int] = []
    original = Chain.header_by_number

    def counting(self: Chain, height: int) -> Any:
        reads.append(height)
        return original(self, height)
    monkeypatch.setattr(Chain, "header_by_number", counting)
    assert reopened.validators_after(reopened.head) == AFTER
    assert sorted(reads) == [0, 1, 2, 3, 5, 6, 7]  # the epoch block and the 6 vote headers
    reads.clear()
    assert reopened.validators_after(reopened.head) == AFTER and reads == []  # cached
    reopened.validate_recent()


def test_epoch_resets_pending_votes_on_the_chain(store: LevelStore) -> None:
    chain = Chain.initialise(store, make_genesis(epoch_length=5))
    commit(chain, A, add(X))  # 1
    commit(chain, B, add(X))  # 2
    commit(chain, D)          # 3
    commit(chain, C, add(X))  # 4: precedes epoch block 5: ignored, and the ballots are reset
    assert chain.validators_after(chain.head) == FOUR and chain.tally_after(chain.head).pending == {}
    commit(chain, C, add(X))  # 5: the epoch block's own vote counts
    commit(chain, A, add(X))  # 6
    assert chain.tally_after(chain.head).pending == {X.address: {A.address: True, C.address: True}}
    commit(chain, B, add(X))  # 7
    assert chain.validators_after(chain.head) == FIVE
    # A fresh chain object starts from epoch block 5 and the votes since.
    assert Chain(store, make_genesis(epoch_length=5)).validators_after(chain.head) == FIVE
    assert Chain(store, make_genesis(epoch_length=5)).tally_after(chain.header_by_number(4)).validators == FOUR


def test_the_vote_index_is_written_with_the_block_and_checked(store: LevelStore, chain: Chain) -> None:
    vote_in_x_then_out_d(chain)
    assert store.get(schema.LAST_VOTE_KEY) == schema.height_bytes(7)
    assert store.get(schema.vote_key(5)) == schema.height_bytes(3)
    assert store.get(schema.vote_key(1)) == b""
    assert store.get(schema.vote_key(4)) is None
    store.write_batch({schema.vote_key(2): None})
    with pytest.raises(InvalidBlock) as caught:
        Chain(store, make_genesis()).validate_recent()
    assert (caught.value.height, caught.value.step) == (2, "vote index")
    with pytest.raises(StorageError, match="vote index"):
        Chain(store, make_genesis()).vote_heights()


def test_a_refused_vote_block_writes_no_index(store: LevelStore, chain: Chain) -> None:
    sealed, built = propose(chain, A, add(X), signers=[A])
    with pytest.raises(InvalidBlock):
        chain.commit(sealed, built, [])
    assert store.get(schema.vote_key(1)) is None and store.get(schema.LAST_VOTE_KEY) is None
    assert chain.vote_heights() == []


# -- pending votes (Besu's VoteProposer) ---------------------------------------------------


def test_pending_votes_cast_only_what_still_changes_something() -> None:
    votes = PendingVotes()
    votes.propose(X.address, True)
    votes.propose(A.address, True)  # already a validator: nothing to cast
    votes.propose(b"\x77" * 20, False)  # not a validator: nothing to cast
    assert votes.pending() == {X.address: True, A.address: True, b"\x77" * 20: False}
    assert votes.vote_for_proposal(FOUR) == qbft.Vote(X.address, True)
    assert votes.vote_for_proposal(FOUR, cast={X.address: True}) is None  # already voted
    assert votes.vote_for_proposal(FIVE) is None  # X is in
    votes.propose(X.address, False)  # replaces the add
    assert votes.vote_for_proposal(FIVE) == qbft.Vote(X.address, False)
    # reversing a ballot of one's own is castable even where the set does not call for it
    assert votes.vote_for_proposal(FOUR, cast={X.address: True}) == qbft.Vote(X.address, False)
    votes.discard(X.address)
    assert votes.vote_for_proposal(FIVE) is None and X.address not in votes.pending()


def test_pending_votes_rotate_and_are_bounded() -> None:
    votes = PendingVotes()
    votes.propose(X.address, True)
    votes.propose(D.address, False)
    cast = [votes.vote_for_proposal(FOUR) for _ in range(4)]
    assert {v.recipient for v in cast if v} == {X.address, D.address}
    assert cast[0] != cast[1] and cast[0] == cast[2]
    with pytest.raises(ValueError):
        votes.propose(b"\x01" * 19, True)
    for i in range(MAX_PENDING_VOTES - 2):
        votes.propose(i.to_bytes(20, "big"), True)
    with pytest.raises(ValueError, match="pending votes"):
        votes.propose(b"\xee" * 20, True)
    votes.propose(X.address, False)  # replacing one is still allowed


def test_the_proposer_driven_by_pending_votes_changes_the_set(chain: Chain) -> None:
    # Each validator's node holds the operator's proposal; the proposer of each block casts
    # what its PendingVotes choose given its own ballots in the tally.
    nodes = {k.address: PendingVotes() for k in (A, B, C, D)}
    for votes in nodes.values():
        votes.propose(X.address, True)
    for proposer in (A, A, B, C):
        tally = chain.tally_after(chain.head)
        vote = nodes[proposer.address].vote_for_proposal(tally.validators, tally.ballots_by(proposer.address))
        commit(chain, proposer, vote)
    # A's second block carried no vote (its ballot was pending): 3 distinct voters were needed
    assert chain.vote_heights() == [1, 3, 4]
    assert chain.validators_after(chain.head) == FIVE


# -- RPC ---------------------------------------------------------------------------------


def call(chain: Chain, votes: PendingVotes, method: str, *params: Any) -> Any:
    node = SimpleNamespace(chain=chain, votes=votes)  # what these handlers read of a Node
    handler, required, optional = ROUTES[method]
    assert required <= len(params) <= required + optional
    return handler(RpcContext(node=cast(Any, node), filters=cast(Any, None)), *params)


def hexes(*keys: bytes) -> list[str]:
    return ["0x" + k.hex() for k in keys]


def test_rpc_validators_by_block_as_besu_answers(chain: Chain) -> None:
    votes = PendingVotes()
    vote_in_x_then_out_d(chain)
    assert call(chain, votes, "qbft_getValidatorsByBlockNumber", "0x3") == hexes(*FOUR)  # sealed by the four
    assert call(chain, votes, "qbft_getValidatorsByBlockNumber", "0x4") == hexes(*FIVE)
    assert call(chain, votes, "qbft_getValidatorsByBlockNumber", "latest") == hexes(*FIVE)  # block 7's list
    assert call(chain, votes, "qbft_getValidatorsByBlockNumber", "pending") == hexes(*AFTER)  # the next block's
    assert call(chain, votes, "qbft_getValidatorsByBlockNumber", "0x63") is None
    assert call(chain, votes, "qbft_getValidatorsByBlockHash", "0x" + chain.head.hash.hex()) == hexes(*FIVE)
    assert call(chain, votes, "qbft_getValidatorsByBlockHash", "0x" + "00" * 32) is None
    with pytest.raises(InvalidParams):
        call(chain, votes, "qbft_getValidatorsByBlockHash", "0x1234")


def test_rpc_pending_votes(chain: Chain) -> None:
    votes = PendingVotes()
    assert call(chain, votes, "qbft_proposeValidatorVote", "0x" + X.address.hex(), True) is True
    assert call(chain, votes, "qbft_proposeValidatorVote", "0x" + D.address.hex(), False) is True
    assert call(chain, votes, "qbft_getPendingVotes") == {"0x" + X.address.hex(): True, "0x" + D.address.hex(): False}
    assert call(chain, votes, "qbft_discardValidatorVote", "0x" + D.address.hex()) is True
    assert call(chain, votes, "qbft_getPendingVotes") == {"0x" + X.address.hex(): True}
    for bad in (("0x1234", True), ("0x" + X.address.hex(), "yes"), (None, True)):
        with pytest.raises(InvalidParams):
            call(chain, votes, "qbft_proposeValidatorVote", *bad)


def test_rpc_validator_history(chain: Chain) -> None:
    votes = PendingVotes()
    vote_in_x_then_out_d(chain)
    commit(chain, X)
    history = call(chain, votes, "ledger_getValidatorHistory", "latest")
    assert [rlp.decode(bytes.fromhex(h[2:]))[8] for h in history] == [bytes([n]) for n in (1, 2, 3, 5, 6, 7)]
    assert history[0] == "0x" + rlp.encode(chain.header_by_number(1)).hex()
    assert len(call(chain, votes, "ledger_getValidatorHistory", "0x5")) == 4
    assert call(chain, votes, "ledger_getValidatorHistory", "0x0") == []
    with pytest.raises(Exception, match="not found"):
        call(chain, votes, "ledger_getValidatorHistory", "0x63")
