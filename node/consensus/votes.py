"""This validator's pending votes on the validator set, and the one it puts in its next proposal.

What Besu's VoteProposer does: an operator proposes (qbft_proposeValidatorVote) to add or
drop an address, or discards the proposal; each block this validator proposes carries at
most one of them, chosen in rotation among those that would still change something. A
proposal stays until it is discarded: once the set has changed, it is simply never cast.
"""
from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from evidence import qbft

ADDRESS_BYTES = 20
# Proposals one node keeps: far above any consortium's size, and it bounds what an RPC
# caller with write access can make the node hold.
MAX_PENDING_VOTES = 1024


class PendingVotes:
    """The local validator's proposals, address -> add (True) or drop (False).

    Thread-safe: the RPC handlers (worker threads) write, the proposer reads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proposals: dict[bytes, bool] = {}
        self._position = 0

    def propose(self, address: bytes, add: bool) -> None:
        """Vote to add `address` to the validators (add=True) or drop it; replaces any
        earlier proposal about the same address."""
        if len(address) != ADDRESS_BYTES:
            raise ValueError(f"an address is {ADDRESS_BYTES} bytes, got {len(address)}")
        with self._lock:
            if address not in self._proposals and len(self._proposals) >= MAX_PENDING_VOTES:
                raise ValueError(f"already {MAX_PENDING_VOTES} pending votes: discard some first")
            self._proposals[address] = bool(add)

    def discard(self, address: bytes) -> None:
        """Forget the proposal about `address`, if there is one."""
        with self._lock:
            self._proposals.pop(address, None)

    def pending(self) -> dict[bytes, bool]:
        with self._lock:
            return dict(self._proposals)

    def vote_for_proposal(
        self, validators: Sequence[bytes], cast: Mapping[bytes, bool] | None = None
    ) -> qbft.Vote | None:
        """The vote for the next block this validator proposes, or None.

        `validators` is the set after the parent; `cast` this validator's ballots still
        pending in the tally after the parent (`VoteTally.ballots_by`), recipient -> add.
        A proposal is castable if it would still change something (Besu's
        VoteProposer.voteNotYetCast): a drop of a validator this validator has not yet
        voted to drop, an add of a non-validator it has not yet voted to add, or the
        reverse of a ballot it cast. Castable proposals are taken in turn, one per call.
        """
        members = set(validators)
        ballots = cast or {}
        with self._lock:
            castable = [
                (address, add) for address, add in self._proposals.items()
                if (add and ((address not in members and ballots.get(address) is not True)
                             or ballots.get(address) is False))
                or (not add and ((address in members and ballots.get(address) is not False)
                                 or ballots.get(address) is True))
            ]
            if not castable:
                return None
            self._position = (self._position + 1) % len(castable)
            address, add = castable[self._position]
        return qbft.Vote(address, add)
