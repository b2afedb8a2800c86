"""Checks of received QBFT messages against one height's validators and quorum (Besu's
ProposalValidator, RoundChangeMessageValidator and the commit-seal check of RoundState).

Pure: the node's chain enters only through the `Backend` (node/consensus/interface.py),
on blocks from the network. A failed check raises `MessageRefused` naming the step; the
machine (node/consensus/machine.py) turns it into an ``Ignored`` action, so nothing
raises out of ``on_message`` on bad input. What the machine itself decides (is the
author a validator of this height, is the round current, one message per author) stays
in the machine.

PROPOSAL (steps 1-7 in `HeightRules.proposal`): author is the round's proposer; the
block is readable; round 0 carries no justification and ``backend.validate_block``
accepts the block; round > 0 carries a quorum of round changes from distinct validators
for exactly this height and round, consistent about what was prepared in each round; if
none prepared, no prepares and ``validate_block`` accepts the block; otherwise the
block's digest is the highest prepared digest, its header round is this round
(``with_round(block, r) == block``) and the prepares are a quorum of distinct
validators' prepares for that height, round and digest. A re-proposed block is not
passed to ``validate_block`` -- as in the spec, a quorum prepared it, so an honest
validator validated it, and its coinbase is the original proposer's, not this round's.

ROUND-CHANGE: a prepared certificate is checked exactly (block digest equals the
metadata digest, a quorum of distinct validators' prepares for that height, prepared
round and digest). COMMIT: digest equal to the accepted proposal's, and the commit seal
recovers to the commit's author over ``seal_digest(block)``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from evidence import qbft
from node.consensus.interface import Backend, InvalidProposal
from node.consensus.messages import Commit, PreparePayload, Proposal, RoundChange, Signed
from node.errors import NodeError


class MessageRefused(NodeError):
    """A received message failed a check; `reason` names the step. The machine turns it
    into ``Ignored(reason)``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def untrusted(step: str, function: Callable[..., bytes], *args: object) -> bytes:
    """Call the backend on a block from the network; its failure is the sender's fault."""
    try:
        return function(*args)
    except Exception as exc:
        raise MessageRefused(f"{step}: block cannot be read: {type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True)
class HeightRules:
    """The checks for one height: its `validators`, their `quorum`, and the `backend`
    that reads blocks."""

    height: int
    validators: frozenset[bytes]
    quorum: int
    backend: Backend

    def proposal(self, proposal: Proposal, expected: bytes) -> tuple[bytes, bytes]:
        """Steps 1-7 of proposal validation (`expected`: the proposer of its round);
        returns (digest, seal digest) of its block."""
        h, r, block = self.height, proposal.round, proposal.block
        # 1. The author is the proposer of this round.
        if proposal.author != expected:
            raise MessageRefused(
                f"step 1 proposer: signed by 0x{proposal.author.hex()}, the proposer is 0x{expected.hex()}"
            )
        # 2. The block can be read: its digest and its seal digest.
        digest = untrusted("step 2 block", self.backend.block_digest, block)
        seal_digest = untrusted("step 2 block", self.backend.seal_digest, block)
        # 3. Round 0: no justification, a valid new block.
        if r == 0:
            if proposal.round_changes or proposal.prepares:
                raise MessageRefused("step 3 round 0: a round-0 proposal carries no justification")
            self.new_block(block, r, proposal.author, "step 3 round 0")
            return digest, seal_digest
        # 4. A quorum of round changes from distinct validators, all for this height and round,
        #    consistent about what was prepared in each round (Besu ProposalValidator).
        round_changes = proposal.round_changes
        authors = [rc.author for rc in round_changes]
        if len(set(authors)) != len(authors):
            raise MessageRefused("step 4 round changes: two round changes from the same author")
        for rc in round_changes:
            if rc.author not in self.validators:
                raise MessageRefused(f"step 4 round changes: 0x{rc.author.hex()} is not a validator")
            if rc.height != h or rc.round != r:
                raise MessageRefused(
                    f"step 4 round changes: one targets height {rc.height} round {rc.round}, not {h}/{r}"
                )
            metadata = rc.payload.prepared
            if metadata is not None and metadata.round >= r:
                raise MessageRefused(f"step 4 round changes: one claims round {metadata.round} prepared, not below {r}")
        if len(round_changes) < self.quorum:
            raise MessageRefused(f"step 4 round changes: {len(round_changes)} of quorum {self.quorum}")
        prepared: dict[int, bytes] = {}
        for rc in round_changes:
            metadata = rc.payload.prepared
            if metadata is not None and prepared.setdefault(metadata.round, metadata.digest) != metadata.digest:
                raise MessageRefused(f"step 4 round changes: different digests prepared in round {metadata.round}")
        # 5. Nobody prepared: no prepares, a valid new block.
        if not prepared:
            if proposal.prepares:
                raise MessageRefused("step 5 new block: prepares without any prepared round change")
            self.new_block(block, r, proposal.author, "step 5 new block")
            return digest, seal_digest
        # 6. Somebody prepared: the block is the highest prepared one, re-stamped with round r.
        best_round = max(prepared)
        best_digest = prepared[best_round]
        if digest != best_digest:
            raise MessageRefused(
                f"step 6 re-proposal: block digest 0x{digest.hex()} is not the digest prepared in round "
                f"{best_round} (0x{best_digest.hex()})"
            )
        if untrusted("step 6 re-proposal", self.backend.with_round, block, r) != block:
            raise MessageRefused(f"step 6 re-proposal: the block's header round is not {r}")
        # 7. The prepare certificate of that round.
        self.prepare_certificate(proposal.prepares, best_round, best_digest, "step 7 prepares")
        return digest, seal_digest

    def new_block(self, block: bytes, r: int, proposer: bytes, step: str) -> None:
        """`backend.validate_block` accepts `block` as a new block of round `r` by `proposer`."""
        try:
            self.backend.validate_block(block, self.height, r, proposer)
        except InvalidProposal as exc:
            raise MessageRefused(f"{step}: block refused: {exc.reason}") from exc
        except Exception as exc:  # an undecodable block is bad input, not our failure
            raise MessageRefused(f"{step}: block refused: {type(exc).__name__}: {exc}") from exc

    def prepare_certificate(
        self, prepares: Sequence[Signed[PreparePayload]], round: int, digest: bytes, step: str
    ) -> None:
        """A quorum of distinct validators' prepares for this height, `round` and `digest`."""
        authors = [p.author for p in prepares]
        if len(set(authors)) != len(authors):
            raise MessageRefused(f"{step}: two prepares from the same author")
        for prepare in prepares:
            payload = prepare.payload
            if prepare.author not in self.validators:
                raise MessageRefused(f"{step}: 0x{prepare.author.hex()} is not a validator")
            if payload.height != self.height or payload.round != round:
                raise MessageRefused(
                    f"{step}: a prepare is for height {payload.height} round {payload.round}, "
                    f"not {self.height}/{round}"
                )
            if payload.digest != digest:
                raise MessageRefused(f"{step}: a prepare is for digest 0x{payload.digest.hex()}, not 0x{digest.hex()}")
        if len(prepares) < self.quorum:
            raise MessageRefused(f"{step}: {len(prepares)} prepares of quorum {self.quorum}")

    def round_change(self, round_change: RoundChange) -> None:
        """A ROUND-CHANGE's prepared certificate, if it carries one: prepared in an earlier
        round (spec validRoundChange), the block's digest is the metadata's, and the
        prepares are a quorum for that round and digest (Besu
        RoundChangeMessageValidator.validateWithBlock)."""
        metadata = round_change.prepared
        if metadata is None:
            return
        if metadata.round >= round_change.round:
            raise MessageRefused(f"prepared round {metadata.round} is not below the target round")
        assert round_change.prepared_block is not None
        digest = untrusted("prepared block", self.backend.block_digest, round_change.prepared_block)
        if digest != metadata.digest:
            raise MessageRefused("prepared block's digest differs from the prepared metadata")
        self.prepare_certificate(round_change.prepares, metadata.round, metadata.digest, "prepares")

    def commit(self, commit: Commit, digest: bytes, seal_digest: bytes) -> None:
        """`commit` is for the accepted proposal's `digest`, and its seal recovers to its
        author over that block's `seal_digest`."""
        if commit.digest != digest:
            raise MessageRefused("digest differs from the accepted proposal")
        try:
            signer = qbft.recover_signer(commit.commit_seal, seal_digest)
        except qbft.SealError as exc:
            raise MessageRefused(f"commit seal: {exc}") from exc
        if signer != commit.author:
            raise MessageRefused(f"commit seal is by 0x{signer.hex()}, not by the commit's author over this block")
