"""Receipts across a validator set change: anchored before and after four validators vote
X in and D out (blocks sealed in-process with fixed keys), verified offline from genesis
through the vote-carrying headers alone; each way of omitting, forging or misplacing a
history header fails at the step that names it."""
from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import rlp

from evidence import qbft
from evidence.receipt import MAX_VALIDATOR_HISTORY, STEPS, GenesisTrust, Receipt, VerificationError, verify_receipt
from node.consensus.sealing import with_seals
from node.execution.chain import Chain
from node.storage.store import LevelStore
from tests.unit.node.votechain import A, B, C, D, X, add, anchor_transaction, commit, drop, make_genesis, receipt_for

BEFORE = b"a contract, before the change"
AFTER = b"a web capture, after the change"
NEW_SET = tuple(sorted(k.address for k in (A, B, C, X)))


@pytest.fixture(scope="module")
def anchored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    store = LevelStore(tmp_path_factory.mktemp("receipts") / "chain")
    try:
        genesis = make_genesis()
        chain = Chain.initialise(store, genesis)
        first = commit(chain, A, transactions=[anchor_transaction(0, hashlib.sha256(BEFORE).digest())])  # 1
        for proposer in (A, B, C):  # 2-4: X in
            commit(chain, proposer, add(X))
        for proposer in (A, B, X):  # 5-7: D out
            commit(chain, proposer, drop(D))
        last = commit(chain, X, transactions=[anchor_transaction(1, hashlib.sha256(AFTER).digest())])  # 8
        unvoted = rlp.encode(first)
        yield {
            "genesis": genesis.document,
            "before": receipt_for(chain, first, hashlib.sha256(BEFORE).digest()),
            "after": receipt_for(chain, last, hashlib.sha256(AFTER).digest()),
            "unvoted": unvoted,
            "history": [rlp.encode(chain.header_by_number(h)) for h in (2, 3, 4, 5, 6, 7)],
            "anchoring": chain.header_by_number(8),
        }
    finally:
        store.close()


def trust(anchored: dict[str, Any], **changes: Any) -> GenesisTrust:
    document = copy.deepcopy(anchored["genesis"])
    for key, value in changes.items():
        document["config"]["qbft"][key] = value
    return GenesisTrust.from_document(document)


def test_receipts_from_both_eras_verify_offline(anchored: dict[str, Any]) -> None:
    genesis = trust(anchored)
    assert genesis.epoch_length == 30_000
    before = verify_receipt(Receipt.parse_text(anchored["before"].to_json()), genesis, BEFORE)
    assert before.validators == tuple(sorted(k.address for k in (A, B, C, D))) and before.block_number == 1
    after_receipt = Receipt.parse_text(anchored["after"].to_json())
    assert after_receipt.validator_history == tuple(anchored["history"])
    after = verify_receipt(after_receipt, genesis, AFTER)
    assert after.validators == NEW_SET and set(after.signers) == set(NEW_SET)
    assert anchored["before"].validator_history == ()


def test_a_receipt_without_the_history_field_is_a_receipt_without_votes(anchored: dict[str, Any]) -> None:
    document = anchored["before"].to_document()
    del document["proof"]["validatorHistory"]  # as receipts were written before votes
    verify_receipt(Receipt.parse(document), trust(anchored), BEFORE)
    document = anchored["after"].to_document()
    del document["proof"]["validatorHistory"]
    with pytest.raises(VerificationError) as failure:
        verify_receipt(Receipt.parse(document), trust(anchored), AFTER)
    assert failure.value.step == "validators"


def _flip_inside(header: str) -> str:
    position = 200  # inside the state root
    return header[:position] + ("0" if header[position] != "0" else "1") + header[position + 1:]


def _resealed(encoded: bytes, *keys: Any, **extra_changes: Any) -> str:
    fields = rlp.decode(encoded)
    extra = qbft.extra_data_of(fields)
    fields[qbft.EXTRA_DATA_INDEX] = qbft.ExtraData(
        extra.vanity, extra_changes.get("validators", extra.validators), extra_changes.get("vote", extra.vote),
        extra.round, ()).encode()
    from node.execution.vm import QBFTHeader

    header = rlp.decode(rlp.encode(fields), sedes=QBFTHeader)
    return "0x" + rlp.encode(with_seals(header, [k.commit_seal(header) for k in keys])).hex()


HISTORY_MUTATIONS: list[tuple[str, Callable[[list[str], dict[str, Any]], list[str]], str]] = [
    *((f"omit header {i}", (lambda i: lambda h, a: h[:i] + h[i + 1:])(i), "validator history|validators")
      for i in range(6)),
    ("omit all", lambda h, a: [], "validators"),
    ("flip a byte", lambda h, a: [h[0], _flip_inside(h[1]), *h[2:]], "validator history"),
    ("swap two", lambda h, a: [h[1], h[0], *h[2:]], "validator history"),
    ("repeat one", lambda h, a: [h[0], h[0], *h[1:]], "validator history"),
    ("add a header without a vote", lambda h, a: ["0x" + a["unvoted"].hex(), *h], "validator history"),
    ("add the anchoring block", lambda h, a: [*h, "0x" + rlp.encode(a["anchoring"]).hex()], "validator history"),
    ("add junk", lambda h, a: [*h, "0xc0"], "validator history"),
    # X votes itself in, sealed by X alone: neither a validator nor a quorum
    ("forge a vote by a stranger", lambda h, a: [_resealed(a["history"][0], X), *h[1:]], "validator history"),
    # a real validator's vote turned into another, sealed by fewer than a quorum (2 of 4)
    ("forge a vote below quorum", lambda h, a: [_resealed(a["history"][0], A, B, vote=drop(D)), *h[1:]],
     "validator history"),
    # a quorum of the old set (3 of 4) forges one of the votes: the history is consistent,
    # but the anchoring header, sealed by the real new set, no longer matches
    ("forge a vote with a quorum", lambda h, a: [_resealed(a["history"][0], A, B, C, vote=drop(B)), *h[1:]],
     "validator history|validators"),
    ("not hex", lambda h, a: [*h[:-1], "0xzz"], "format"),
    ("too many", lambda h, a: ["0xc0"] * (MAX_VALIDATOR_HISTORY + 1), "format"),
]


@pytest.mark.parametrize("name, mutate, steps", HISTORY_MUTATIONS, ids=[m[0] for m in HISTORY_MUTATIONS])
def test_a_changed_history_fails_at_its_step(anchored: dict[str, Any], name: str,
                                             mutate: Callable[[list[str], dict[str, Any]], list[str]],
                                             steps: str) -> None:
    document = copy.deepcopy(anchored["after"].to_document())
    document["proof"]["validatorHistory"] = mutate(document["proof"]["validatorHistory"], anchored)
    with pytest.raises(VerificationError) as failure:
        verify_receipt(Receipt.parse(document), trust(anchored), AFTER)
    assert failure.value.step in steps.split("|"), str(failure.value)


def test_an_omitted_header_is_named_where_it_shows(anchored: dict[str, Any]) -> None:
    document = copy.deepcopy(anchored["after"].to_document())
    del document["proof"]["validatorHistory"][0]  # A's vote for X: X is then not in at block 5
    with pytest.raises(VerificationError) as failure:
        verify_receipt(Receipt.parse(document), trust(anchored), AFTER)
    assert failure.value.step == "validator history"
    assert "block 5" in failure.value.reason and "validator list" in failure.value.reason


@pytest.mark.parametrize("changes, step", [
    ({"epochlength": 3}, "validator history"),  # ballots reset at blocks 2 and 5: X never gets in
    ({"epochlength": "0x0"}, "genesis"),
])
def test_the_epoch_length_is_genesis_files(anchored: dict[str, Any], changes: dict[str, Any], step: str) -> None:
    with pytest.raises(VerificationError) as failure:
        verify_receipt(anchored["after"], trust(anchored, **changes), AFTER)
    assert failure.value.step == step


def test_the_epoch_length_defaults_to_besus(anchored: dict[str, Any]) -> None:
    document = copy.deepcopy(anchored["genesis"])
    del document["config"]["qbft"]["epochlength"]
    assert GenesisTrust.from_document(document).epoch_length == 30_000
    verify_receipt(anchored["after"], GenesisTrust.from_document(document), AFTER)


def test_the_step_order_puts_the_history_before_the_set(anchored: dict[str, Any]) -> None:
    assert STEPS[STEPS.index("validator history"):STEPS.index("commit seals") + 1] == (
        "validator history", "validators", "commit seals")
    # Another consortium's genesis: the first history header is not sealed by its set.
    document = copy.deepcopy(anchored["genesis"])
    extra = qbft.ExtraData.decode(bytes.fromhex(document["extraData"][2:]))
    document["extraData"] = "0x" + qbft.ExtraData(extra.vanity, (b"\x42" * 20,), None, 0, ()).encode().hex()
    with pytest.raises(VerificationError) as failure:
        verify_receipt(anchored["after"], GenesisTrust.from_document(document), AFTER)
    assert failure.value.step == "validator history"
    with pytest.raises(VerificationError) as failure:
        verify_receipt(anchored["before"], GenesisTrust.from_document(document), BEFORE)
    assert failure.value.step == "validators"


def test_the_anchoring_header_must_be_sealed_by_the_new_set(anchored: dict[str, Any], tmp_path: Path) -> None:
    # The anchoring block re-sealed by the old set (A, B, C, D: 4 of them): its own list is
    # the new set, and D is not in it.
    document = copy.deepcopy(anchored["after"].to_document())
    document["proof"]["header"] = _resealed(bytes.fromhex(document["proof"]["header"][2:]), A, B, D)
    with pytest.raises(VerificationError) as failure:
        verify_receipt(Receipt.parse(document), trust(anchored), AFTER)
    assert failure.value.step == "commit seals" and "not a validator" in failure.value.reason
