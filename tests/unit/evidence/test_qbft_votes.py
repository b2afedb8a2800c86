"""Validator set changes by header votes: the tally (hand-worked scenarios, Besu's rules) and
following the set through sealed headers."""
from __future__ import annotations

import pytest
from coincurve import PrivateKey

from evidence import qbft

KEYS = [PrivateKey(bytes([i + 1]) * 32) for i in range(6)]
# Sorted so that A < B < C < D < E < X: the tally's own order is then easy to state.
A, B, C, D, E, X = sorted(qbft.address_of(k.public_key.format(compressed=False)) for k in KEYS)
KEY_OF = {qbft.address_of(k.public_key.format(compressed=False)): k for k in KEYS}
Y = b"\x99" * 20
EPOCH = 30_000


def add(recipient: bytes) -> qbft.Vote:
    return qbft.Vote(recipient, True)


def drop(recipient: bytes) -> qbft.Vote:
    return qbft.Vote(recipient, False)


def run(tally: qbft.VoteTally, *blocks: tuple[int, bytes, qbft.Vote | None]) -> qbft.VoteTally:
    for number, proposer, vote in blocks:
        tally = tally.apply(number, proposer, vote)
    return tally


def four(epoch: int = EPOCH) -> qbft.VoteTally:
    return qbft.VoteTally.start([D, B, C, A], epoch)


def test_start_sorts_the_set_and_has_nothing_pending() -> None:
    tally = four()
    assert tally.validators == (A, B, C, D)
    assert tally.pending == {} and tally.next_height == 0
    with pytest.raises(ValueError, match="epoch block"):
        qbft.VoteTally.start([A], 10, 5)


def test_a_recipient_is_added_when_more_than_half_agree() -> None:
    tally = run(four(), (1, A, add(X)), (2, B, add(X)))
    assert tally.validators == (A, B, C, D)  # 2 of 4 is not more than half
    assert tally.pending == {X: {A: True, B: True}}
    tally = tally.apply(3, C, add(X))  # 3 of 4
    assert tally.validators == (A, B, C, D, X)
    assert tally.pending == {}  # ballots about X are cleared


def test_a_validator_is_dropped_when_more_than_half_agree() -> None:
    tally = run(four(), (1, A, drop(D)), (2, B, drop(D)))
    assert D in tally.validators
    tally = tally.apply(3, C, drop(D))
    assert tally.validators == (A, B, C) and tally.pending == {}


def test_a_later_ballot_about_the_same_recipient_replaces_the_earlier() -> None:
    tally = run(four(), (1, A, add(X)), (2, B, add(X)), (3, A, drop(X)))
    assert tally.pending == {X: {A: False, B: True}}
    tally = tally.apply(4, C, add(X))  # A no longer counts for X: 2 adds
    assert X not in tally.validators
    assert tally.ballots_by(A) == {X: False}


def test_the_same_vote_twice_counts_once() -> None:
    tally = run(four(), (1, A, add(X)), (2, A, add(X)), (3, B, add(X)))
    assert X not in tally.validators and tally.pending == {X: {A: True, B: True}}


def test_ballots_of_a_removed_validator_are_discarded() -> None:
    tally = run(four(), (1, D, add(X)), (2, A, drop(D)), (3, B, drop(D)), (4, C, drop(D)))
    assert tally.validators == (A, B, C)
    assert tally.pending == {}  # D's ballot for X went with D
    # With D's ballot kept, A's would make 2 of 3 (more than half) and add X.
    tally = tally.apply(5, A, add(X))
    assert X not in tally.validators and tally.pending == {X: {A: True}}
    tally = tally.apply(6, B, add(X))
    assert tally.validators == (A, B, C, X)


def test_the_threshold_is_that_of_the_set_when_the_vote_is_cast() -> None:
    # 5 validators: 3 needed. After D is dropped, 4 remain and 3 are still needed; after C,
    # 3 remain and 2 suffice.
    tally = qbft.VoteTally.start([A, B, C, D, E], EPOCH)
    tally = run(tally, (1, A, drop(D)), (2, B, drop(D)), (3, E, drop(D)))
    assert tally.validators == (A, B, C, E)
    tally = run(tally, (4, A, drop(C)), (5, B, drop(C)))
    assert C in tally.validators
    tally = tally.apply(6, E, drop(C))
    assert tally.validators == (A, B, E)
    tally = run(tally, (7, A, add(X)), (8, B, add(X)))
    assert tally.validators == (A, B, E, X)


def test_adding_a_validator_or_dropping_a_stranger_changes_no_set() -> None:
    tally = run(four(), (1, A, add(B)), (2, C, add(B)), (3, D, add(B)))
    assert tally.validators == (A, B, C, D) and tally.pending == {}
    tally = run(tally, (4, A, drop(Y)), (5, B, drop(Y)), (6, C, drop(Y)))
    assert tally.validators == (A, B, C, D) and tally.pending == {}


def test_an_add_ballot_withdraws_the_voters_drop_ballot() -> None:
    tally = run(four(), (1, A, drop(B)), (2, C, drop(B)), (3, A, add(B)))
    assert tally.pending == {B: {A: True, C: False}}
    tally = tally.apply(4, D, drop(B))  # 2 drops: B stays
    assert B in tally.validators


def test_pending_ballots_are_reset_at_each_epoch() -> None:
    # Epochs of 10 blocks: blocks 9, 19, ... precede epoch blocks; Besu discards every
    # pending ballot there and ignores the vote that block carries.
    tally = run(four(10), (5, A, add(X)), (6, B, add(X)))
    assert tally.pending == {X: {A: True, B: True}}
    at_reset = tally.apply(9, C, add(X))
    assert X not in at_reset.validators and at_reset.pending == {}
    # A vote in the epoch block itself counts.
    after = run(at_reset, (10, C, add(X)), (11, A, add(X)))
    assert after.pending == {X: {A: True, C: True}}
    assert after.apply(12, B, add(X)).validators == (A, B, C, D, X)


def test_blocks_without_votes_may_be_skipped_and_resets_still_happen() -> None:
    tally = run(four(10), (5, A, add(X)), (6, B, add(X)))
    # blocks 7..11 carry no vote and are not shown: the reset at block 9 still happens
    skipped = tally.apply(12, C, add(X))
    assert X not in skipped.validators and skipped.pending == {X: {C: True}}
    # the same blocks shown one by one give the same tally
    shown = run(tally, *((n, A, None) for n in range(7, 12)), (12, C, add(X)))
    assert shown == skipped
    # within one epoch nothing is reset
    assert tally.apply(8, C, add(X)).validators == (A, B, C, D, X)


def test_epoch_length_one_never_changes_the_set() -> None:
    tally = run(four(1), (1, A, add(X)), (2, B, add(X)), (3, C, add(X)))
    assert tally.validators == (A, B, C, D) and tally.pending == {}


def test_blocks_must_come_in_height_order_and_voters_must_be_validators() -> None:
    tally = four().apply(3, A, add(X))
    with pytest.raises(ValueError, match="already accounted"):
        tally.apply(3, B, add(X))
    with pytest.raises(ValueError, match="not a validator"):
        tally.apply(4, X, add(Y))


def test_the_tally_is_immutable() -> None:
    tally = four()
    tally.apply(1, A, add(X))
    assert tally.pending == {} and tally.next_height == 0
    assert hash(tally) == hash(four())


# -- following the set through sealed headers -----------------------------------------------


def header(number: int, proposer: bytes, validators: tuple[bytes, ...], vote: qbft.Vote | None,
           signers: list[bytes]) -> list[bytes]:
    fields = [b"\x11" * 32, b"\x22" * 32, proposer] + [b"\x44" * 32] * 3 + [b"\x00" * 256]
    fields += [b"\x01", number.to_bytes(8, "big").lstrip(b"\x00"), b"\x01\x00", b"", b"\x65"]
    fields += [qbft.ExtraData(b"\x00" * 32, validators, vote, 0, ()).encode(), qbft.MIX_HASH, b"\x00" * 8]
    digest = qbft.commit_seal_digest(fields)
    seals = tuple(KEY_OF[s].sign_recoverable(digest, hasher=None) for s in signers)
    fields[qbft.EXTRA_DATA_INDEX] = qbft.ExtraData(b"\x00" * 32, validators, vote, 0, seals).encode()
    return fields


SET = (A, B, C, D)
WITH_X = (A, B, C, D, X)


def history() -> list[list[bytes]]:
    return [
        header(3, A, SET, add(X), [A, B, C]),
        header(7, B, SET, add(X), [B, C, D]),
        header(8, C, SET, add(X), [A, B, C]),
        header(12, X, WITH_X, drop(D), [A, B, C, X]),
    ]


def test_the_set_is_followed_through_the_vote_headers() -> None:
    tally = qbft.follow_validator_set(four(), history())
    assert tally.validators == WITH_X and tally.pending == {D: {X: False}} and tally.next_height == 13


@pytest.mark.parametrize("index, replacement, reason", [
    (0, header(3, A, WITH_X, add(X), [A, B, C, D]), "validator list"),  # claims the change early
    (2, header(8, C, SET, add(X), [A, B]), "commit seals"),  # below quorum (3 of 4)
    (1, header(7, B, SET, add(X), [B, C, X]), "commit seals"),  # sealed by a non-validator
    (1, header(7, X, SET, add(X), [B, C, D]), "proposer"),  # a stranger votes itself in
    (2, header(5, C, SET, add(X), [A, B, C]), "out of order"),
])
def test_a_forged_or_misplaced_header_is_named(index: int, replacement: list[bytes], reason: str) -> None:
    headers = history()
    headers[index] = replacement
    with pytest.raises(qbft.ValidatorSetError) as caught:
        qbft.follow_validator_set(four(), headers)
    assert caught.value.index == index and reason in caught.value.reason


def test_an_omitted_vote_header_shows_at_the_next_header() -> None:
    headers = history()
    del headers[1]  # without B's vote, C's does not add X, and block 12 lists a set the votes do not give
    with pytest.raises(qbft.ValidatorSetError) as caught:
        qbft.follow_validator_set(four(), headers)
    assert (caught.value.index, caught.value.height) == (2, 12) and "validator list" in caught.value.reason


def test_a_malformed_vote_is_a_format_error_naming_the_vote() -> None:
    import rlp

    with pytest.raises(qbft.HeaderFormatError) as caught:
        qbft.ExtraData.decode(rlp.encode([b"\x00" * 32, [], [b"\x01" * 20, b"\x01"], b"", []]))
    assert caught.value.field == "vote"
