"""The chain verifier on a real LevelDB: a valid chain passes, and every kind of damage is
found at its height with the step that failed."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import pytest
import rlp
from eth_account import Account
from eth_utils import int_to_big_endian

from client import chain_rpc
from evidence import qbft
from node.consensus.sealing import ValidatorKey, proposal_extra, with_seals
from node.errors import InvalidBlock, StorageError
from node.execution.chain import Chain, _block_writes
from node.execution.genesis import Genesis, build_genesis_document
from node.execution.vm import TRANSACTION_BUILDER, QBFTHeader
from node.storage import schema
from node.storage.store import LevelStore
from node.verify import chain as verify, checks
from node.verify.chain import InspectionPool, verify_chain
from node.verify.replay import ChainReplayer
from node.verify.sources import DataDirSource, SourceError

VALIDATOR = ValidatorKey(b"\x01" * 32)
OTHER = ValidatorKey(b"\x03" * 32)
RICH = Account.from_key(b"\x02" * 32)
RICH_ADDRESS = bytes.fromhex(RICH.address[2:])
SINK = "0x" + "11" * 20
HEIGHT = 8  # blocks after genesis
TX_BLOCKS = (2, 4, 5, 8)  # heights that carry transactions
DAMAGED = 4  # the middle block the damage tests hit


def make_genesis(balance: int = 10**21) -> Genesis:
    return Genesis.parse(build_genesis_document(
        chain_id=1337, validators=[VALIDATOR.address], alloc={RICH_ADDRESS: balance},
        members=[(RICH_ADDRESS, "ADMIN")]))


def signed(nonce: int, kind: int) -> bytes:
    """A transfer as a legacy (EIP-155), access-list (type 1) or dynamic-fee (type 2) transaction."""
    tx: dict[str, object] = {"nonce": nonce, "gas": 21_000, "to": SINK, "value": 1, "data": b"", "chainId": 1337}
    if kind == 2:
        tx.update(maxFeePerGas=0, maxPriorityFeePerGas=0, type=2)
    else:
        tx["gasPrice"] = 0
        if kind == 1:
            tx.update(type=1, accessList=[])
    return bytes(RICH.sign_transaction(tx).raw_transaction)


def produce(chain: Chain, raws: list[bytes], seal_with: ValidatorKey = VALIDATOR, extra: qbft.ExtraData | None = None):  # type: ignore[no-untyped-def]
    txs = [TRANSACTION_BUILDER.decode(r) for r in raws]
    built = chain.build_block(txs, timestamp=chain.head.timestamp + 1, coinbase=VALIDATOR.address,
                              extra=extra or proposal_extra(chain.validators_after(chain.head), 0))
    return built, with_seals(built.header, [seal_with.commit_seal(built.header)])


@dataclass
class Built:
    path: Path
    hashes: list[bytes]  # canonical hash per height
    tx_hashes: dict[int, list[bytes]]


def build_chain(path: Path, height: int = HEIGHT) -> Built:
    store = LevelStore(path)
    try:
        chain = Chain.initialise(store, make_genesis())
        nonce, tx_hashes = 0, {}
        for number in range(1, height + 1):
            raws = []
            if number in TX_BLOCKS:
                raws = [signed(nonce + i, kind=i % 3) for i in range(3)]
                nonce += 3
            built, sealed = produce(chain, raws)
            assert not built.rejected
            chain.commit(sealed, built, [RICH_ADDRESS] * len(raws))
            tx_hashes[number] = [tx.hash for tx in built.transactions]
        hashes = [chain.hash_by_number(n) for n in range(height + 1)]
    finally:
        store.close()
    return Built(path, hashes, tx_hashes)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_chain(tmp_path_factory.mktemp("pristine") / "chain")


@pytest.fixture
def chain_dir(pristine: Built, tmp_path: Path) -> Built:
    """A fresh copy of the pristine chain to damage."""
    import shutil

    target = tmp_path / "chain"
    shutil.copytree(pristine.path, target)
    return replace(pristine, path=target)


def edit(path: Path, change: Callable[[LevelStore], None]) -> None:
    store = LevelStore(path)
    try:
        change(store)
    finally:
        store.close()


def flip(path: Path, key: bytes, position: int) -> None:
    def change(store: LevelStore) -> None:
        value = bytearray(store.get(key) or b"")
        value[position] ^= 0x01
        store.write_batch({key: bytes(value)})
    edit(path, change)


def run(path: Path, **kwargs: object) -> verify.ChainSummary:
    source = DataDirSource(path)
    try:
        genesis = kwargs.pop("genesis", make_genesis())
        return verify_chain(source, genesis=genesis, **kwargs)  # type: ignore[arg-type]
    finally:
        source.close()


def failure(path: Path, **kwargs: object) -> InvalidBlock:
    with pytest.raises(InvalidBlock) as caught:
        run(path, **kwargs)
    return caught.value


def read(path: Path, key: bytes) -> bytes:
    store = LevelStore(path)
    try:
        value = store.get(key)
    finally:
        store.close()
    assert value is not None
    return value


# -- a valid chain ----------------------------------------------------------------------


def test_valid_chain_verifies_from_genesis_to_head(pristine: Built) -> None:
    summary = run(pristine.path)
    assert (summary.first, summary.last, summary.blocks) == (0, HEIGHT, HEIGHT + 1)
    assert summary.transactions == 3 * len(TX_BLOCKS)
    assert summary.genesis_hash == pristine.hashes[0] and summary.head_hash == pristine.hashes[-1]
    assert summary.genesis_checked and not summary.reexecuted


def test_worker_processes_give_the_same_verdicts(chain_dir: Built, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify, "INSPECT_CHUNK_BLOCKS", 2)  # several chunks in flight
    pool = InspectionPool(2)
    try:
        assert run(chain_dir.path, pool=pool).blocks == HEIGHT + 1
        flip(chain_dir.path, schema.receipts_key(chain_dir.hashes[DAMAGED]), -3)
        caught = failure(chain_dir.path, pool=pool)
    finally:
        pool.close()
    assert (caught.height, caught.step) == (DAMAGED, "receipts root")


def test_a_range_and_re_execution(pristine: Built) -> None:
    summary = run(pristine.path, first=3, last=6)
    assert (summary.first, summary.last, summary.blocks) == (3, 6, 4)
    source = DataDirSource(pristine.path)
    try:
        replayer = ChainReplayer(source.store, make_genesis(), permissioned=True)
        summary = verify_chain(source, genesis=make_genesis(), replayer=replayer)
    finally:
        source.close()
    assert summary.reexecuted and summary.blocks == HEIGHT + 1


def test_progress_reaches_the_block_count(pristine: Built) -> None:
    seen: list[int] = []
    run(pristine.path, on_progress=seen.append)
    assert seen[-1] == HEIGHT + 1


# -- damage in the data directory ---------------------------------------------------------


def test_flipped_byte_in_a_transaction_fails_the_transactions_root(chain_dir: Built) -> None:
    key = schema.body_key(chain_dir.hashes[DAMAGED])
    body = read(chain_dir.path, key)
    first_tx = rlp.decode(body)[0][0]
    flip(chain_dir.path, key, body.index(first_tx) + len(first_tx) - 3)  # inside its signature's s
    caught = failure(chain_dir.path)
    assert (caught.height, caught.step) == (DAMAGED, "transactions root")


def test_flipped_byte_in_the_sender_list_fails_senders(chain_dir: Built) -> None:
    flip(chain_dir.path, schema.body_key(chain_dir.hashes[DAMAGED]), -1)  # the last sender's last byte
    caught = failure(chain_dir.path)
    assert (caught.height, caught.step) == (DAMAGED, "senders")


def test_every_flipped_byte_of_a_body_is_found_at_its_height(chain_dir: Built) -> None:
    key = schema.body_key(chain_dir.hashes[DAMAGED])
    original = read(chain_dir.path, key)
    for position in range(0, len(original), 7):
        flip(chain_dir.path, key, position)
        caught = failure(chain_dir.path, genesis=None, first=DAMAGED, last=DAMAGED)
        assert caught.height == DAMAGED, position
        assert caught.step in ("body", "transactions root", "senders"), (position, caught)
        edit(chain_dir.path, lambda store: store.write_batch({key: original}))


def test_flipped_byte_in_receipts_fails_the_receipts_root(chain_dir: Built) -> None:
    flip(chain_dir.path, schema.receipts_key(chain_dir.hashes[DAMAGED]), 100)  # inside the first bloom
    caught = failure(chain_dir.path)
    assert (caught.height, caught.step) == (DAMAGED, "receipts root")


def test_flipped_byte_in_a_header_fails_its_seals(chain_dir: Built) -> None:
    key = schema.header_key(chain_dir.hashes[DAMAGED])
    header = read(chain_dir.path, key)
    state_root = rlp.decode(header)[checks.STATE_ROOT]
    flip(chain_dir.path, key, header.index(state_root))
    caught = failure(chain_dir.path)
    assert (caught.height, caught.step) == (DAMAGED, "commit seals")


def test_missing_body_and_wrong_transaction_index(chain_dir: Built) -> None:
    tx_hash = chain_dir.tx_hashes[DAMAGED][1]
    edit(chain_dir.path, lambda store: store.write_batch({schema.tx_location_key(tx_hash): rlp.encode([DAMAGED, 2])}))
    caught = failure(chain_dir.path)
    assert (caught.height, caught.step) == (DAMAGED, "transaction index")
    edit(chain_dir.path, lambda store: store.write_batch({schema.body_key(chain_dir.hashes[2]): None}))
    caught = failure(chain_dir.path)
    assert (caught.height, caught.step) == (2, "storage")


def test_a_read_failure_ahead_does_not_hide_an_earlier_failure(chain_dir: Built, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify, "INSPECT_CHUNK_BLOCKS", 2)
    flip(chain_dir.path, schema.receipts_key(chain_dir.hashes[2]), 100)
    edit(chain_dir.path, lambda store: store.write_batch({schema.header_key(chain_dir.hashes[7]): None}))
    pool = InspectionPool(2)
    try:
        for walk_pool in (None, pool):
            caught = failure(chain_dir.path, pool=walk_pool)
            assert (caught.height, caught.step) == (2, "receipts root")
    finally:
        pool.close()


def test_genesis_must_be_the_one_the_file_builds(pristine: Built) -> None:
    caught = failure(pristine.path, genesis=make_genesis(balance=10**21 + 1))
    assert (caught.height, caught.step) == (0, "genesis")


# -- blocks a validator set would not have accepted ----------------------------------------


def rewrite_block(path: Path, height: int, make: Callable[[Chain, QBFTHeader], QBFTHeader]) -> None:
    """Replace the stored block at `height` by `make(chain, stored header)`, with its body
    and receipts, as the node would have written it (and make it the head if it was)."""
    def change(store: LevelStore) -> None:
        chain = Chain(store, make_genesis())
        old = chain.header_by_number(height)
        new = make(chain, old)
        transactions, senders = chain.block_transactions(old)
        writes = _block_writes(new, transactions, senders, chain.block_receipts(old))
        if chain.head.block_number != height:
            writes[schema.HEAD_KEY] = chain.head.hash
        store.write_batch(writes)
    edit(path, change)


def resealed(header: QBFTHeader, *, key: ValidatorKey = VALIDATOR, **changes: Any) -> QBFTHeader:
    unsealed = cast(QBFTHeader, header.copy(**changes))
    return with_seals(unsealed, [key.commit_seal(unsealed)])


def test_seal_from_a_non_validator(chain_dir: Built) -> None:
    rewrite_block(chain_dir.path, DAMAGED, lambda chain, old: resealed(old, key=OTHER))
    caught = failure(chain_dir.path)
    assert (caught.height, caught.step) == (DAMAGED, "commit seals")
    assert "not a validator" in caught.detail


def test_broken_parent_link(chain_dir: Built) -> None:
    rewrite_block(chain_dir.path, DAMAGED, lambda chain, old: resealed(old, parent_hash=b"\x42" * 32))
    caught = failure(chain_dir.path)
    assert (caught.height, caught.step) == (DAMAGED, "parent hash")


def test_the_next_block_no_longer_links_to_a_replaced_one(chain_dir: Built) -> None:
    rewrite_block(chain_dir.path, DAMAGED, lambda chain, old: resealed(old, timestamp=old.timestamp + 1))
    caught = failure(chain_dir.path)  # a consistent block DAMAGED; its child still names the old one
    assert (caught.height, caught.step) == (DAMAGED + 1, "parent hash")


def test_timestamp_must_increase(chain_dir: Built) -> None:
    rewrite_block(chain_dir.path, DAMAGED, lambda chain, old: resealed(old, timestamp=old.timestamp - 1))
    caught = failure(chain_dir.path)
    assert (caught.height, caught.step) == (DAMAGED, "timestamp")


@pytest.mark.parametrize("field, value", [("difficulty", 2), ("base_fee_per_gas", 1), ("mix_hash", b"\x00" * 32)])
def test_qbft_constant_fields(chain_dir: Built, field: str, value: Any) -> None:
    rewrite_block(chain_dir.path, DAMAGED, lambda chain, old: resealed(old, **{field: value}))
    caught = failure(chain_dir.path)
    assert (caught.height, caught.step) == (DAMAGED, "header")


@pytest.mark.parametrize("field, value, step", [
    ("gas_used", 21_000 * 3 + 1, "gas used"), ("bloom", 1, "logs bloom"),
])
def test_header_must_agree_with_its_receipts(chain_dir: Built, field: str, value: Any, step: str) -> None:
    rewrite_block(chain_dir.path, DAMAGED, lambda chain, old: resealed(old, **{field: value}))
    caught = failure(chain_dir.path)
    assert (caught.height, caught.step) == (DAMAGED, step)


def test_missing_state_root_node(chain_dir: Built) -> None:
    def drop_state_root(store: LevelStore) -> None:
        root = Chain(store, make_genesis()).header_by_number(DAMAGED).state_root
        store.write_batch({schema.state_key(root): None})
    edit(chain_dir.path, drop_state_root)
    caught = failure(chain_dir.path)
    assert (caught.height, caught.step) == (DAMAGED, "state root")


def test_only_re_execution_finds_a_wrong_state_root(chain_dir: Built) -> None:
    # A head block (so no child's link breaks) sealed by the validator over a state root
    # that is stored - its parent's - but not the one its transactions produce.
    rewrite_block(chain_dir.path, HEIGHT, lambda chain, old: resealed(
        old, state_root=chain.header_by_number(HEIGHT - 1).state_root))
    assert run(chain_dir.path).blocks == HEIGHT + 1
    source = DataDirSource(chain_dir.path)
    try:
        replayer = ChainReplayer(source.store, make_genesis(), permissioned=True)
        with pytest.raises(InvalidBlock) as caught:
            verify_chain(source, genesis=make_genesis(), replayer=replayer)
    finally:
        source.close()
    assert (caught.value.height, caught.value.step) == (HEIGHT, "re-execution: state root")


# -- the data directory is read, never written ----------------------------------------------


def test_a_locked_or_missing_directory_is_refused(pristine: Built, tmp_path: Path) -> None:
    store = LevelStore(pristine.path)
    try:
        with pytest.raises(SourceError, match="locked"):
            DataDirSource(pristine.path)
    finally:
        store.close()
    with pytest.raises(SourceError, match="no LevelDB"):
        DataDirSource(tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()


def test_the_store_refuses_writes(pristine: Built) -> None:
    source = DataDirSource(pristine.path)
    try:
        with pytest.raises(StorageError):
            source.store.write_batch({b"x": b"y"})
    finally:
        source.close()


# -- pieces --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [0, 1, 2])
def test_recover_sender_matches_py_evm(kind: int) -> None:
    raw = signed(5, kind)
    assert checks.recover_sender(raw) == TRANSACTION_BUILDER.decode(raw).sender == RICH_ADDRESS


def test_recover_sender_of_a_pre_eip155_transaction() -> None:
    raw = bytes(RICH.sign_transaction({"nonce": 0, "gas": 21_000, "gasPrice": 0, "to": SINK, "value": 0}).raw_transaction)
    assert checks.recover_sender(raw) == RICH_ADDRESS


def test_recover_sender_refuses_a_high_s_signature() -> None:
    fields = rlp.decode(signed(0, 0))
    fields[8] = int_to_big_endian(qbft.SECP256K1_N - int.from_bytes(fields[8], "big"))
    fields[6] = int_to_big_endian(int.from_bytes(fields[6], "big") ^ 1)
    with pytest.raises(ValueError, match="canonical"):
        checks.recover_sender(rlp.encode(fields))


def test_header_field_positions_are_py_evms() -> None:
    values: dict[str, Any] = {
        "parent_hash": b"\x01" * 32, "coinbase": b"\x02" * 20, "state_root": b"\x03" * 32, "transaction_root": b"\x04" * 32,
        "receipt_root": b"\x05" * 32, "difficulty": 7, "block_number": 8, "gas_limit": 9, "gas_used": 10, "timestamp": 11,
        "extra_data": b"\x0c", "mix_hash": b"\x0d" * 32, "nonce": b"\x0e" * 8, "base_fee_per_gas": 15,
        "withdrawals_root": b"\x10" * 32, "blob_gas_used": 17, "excess_blob_gas": 18, "parent_beacon_block_root": b"\x13" * 32,
    }
    fields = QBFTHeader(**values).fields_rlp()
    assert len(fields) == checks.HEADER_FIELDS
    expected = {
        checks.PARENT_HASH: b"\x01" * 32, checks.COINBASE: b"\x02" * 20, checks.STATE_ROOT: b"\x03" * 32,
        checks.TRANSACTIONS_ROOT: b"\x04" * 32, checks.RECEIPTS_ROOT: b"\x05" * 32, checks.DIFFICULTY: b"\x07",
        checks.NUMBER: b"\x08", checks.GAS_LIMIT: b"\x09", checks.GAS_USED: b"\x0a", checks.TIMESTAMP: b"\x0b",
        checks.EXTRA_DATA: b"\x0c", checks.MIX_HASH: b"\x0d" * 32, checks.NONCE: b"\x0e" * 8,
        checks.BASE_FEE: b"\x0f", checks.WITHDRAWALS_ROOT: b"\x10" * 32, checks.BLOB_GAS_USED: b"\x11",
        checks.EXCESS_BLOB_GAS: b"\x12", checks.PARENT_BEACON_ROOT: b"\x13" * 32,
    }
    assert {index: fields[index] for index in expected} == expected


def test_inspection_of_an_undecodable_header_carries_no_facts() -> None:
    inspection = checks.inspect_block(checks.RawBlock(3, b"\xff\x00", (), ()))
    assert inspection.facts is None and inspection.failure is not None and inspection.failure[0] == "header"


# -- the RPC source, against the node's own raw encodings -----------------------------------


BLOCK_ANSWER_BYTES = 1000  # what FakeNode counts the answers about one block to weigh


class FakeNode(chain_rpc.RpcSource):
    """An RpcSource whose HTTP round trip is answered as the node's debug_getRaw* methods
    answer (node/rpc/methods.py), from a chain in a LevelDB."""

    def __init__(self, chain: Chain, *, refuse: int | None = None) -> None:
        super().__init__("http://fake", batch_blocks=3)
        self.chain, self.refuse, self.posts = chain, refuse, 0

    def _post(self, calls: list[dict[str, Any]]) -> Any:
        from node.execution.vm import LedgerBlock

        self.posts += 1
        weight = len({c["params"][0] for c in calls if c["params"]}) * BLOCK_ANSWER_BYTES or 1  # the head: 1 byte
        if weight > chain_rpc.MAX_RPC_RESPONSE_BYTES:
            raise chain_rpc._TooLarge()
        replies = []
        for call in calls:
            if call["method"] == "eth_blockNumber":
                replies.append({"id": call["id"], "result": hex(self.chain.head.block_number)})
                continue
            height = int(call["params"][0], 16)
            if height == self.refuse:
                replies.append({"id": call["id"], "error": {"code": -32000, "message": "no body"}})
                continue
            header = self.chain.header_by_number(height)
            txs, _ = self.chain.block_transactions(header)
            result: Any = {
                "debug_getRawHeader": lambda: "0x" + rlp.encode(header).hex(),
                "debug_getRawBlock": lambda: "0x" + rlp.encode(LedgerBlock(header, txs, [], [])).hex(),
                "debug_getRawReceipts": lambda: ["0x" + r.encode().hex() for r in self.chain.block_receipts(header)],
            }[call["method"]]()
            replies.append({"id": call["id"], "result": result})
        return replies[::-1]  # a batch's answers may come in any order


@pytest.fixture
def node_chain(pristine: Built):  # type: ignore[no-untyped-def]
    store = LevelStore(pristine.path)
    try:
        yield Chain(store, make_genesis())
    finally:
        store.close()


def test_rpc_source_gives_the_data_directorys_verdict(node_chain: Chain) -> None:
    summary = verify_chain(FakeNode(node_chain), genesis=make_genesis())
    assert (summary.blocks, summary.transactions) == (HEIGHT + 1, 3 * len(TX_BLOCKS))
    assert summary.head_hash == node_chain.head.hash


def test_rpc_block_the_node_cannot_serve(node_chain: Chain) -> None:
    with pytest.raises(InvalidBlock) as caught:
        verify_chain(FakeNode(node_chain, refuse=5), genesis=None)
    assert (caught.value.height, caught.value.step) == (5, "rpc")


def test_rpc_batches_too_large_are_asked_again_in_halves(node_chain: Chain, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chain_rpc, "MAX_RPC_RESPONSE_BYTES", BLOCK_ANSWER_BYTES)
    node = FakeNode(node_chain)
    assert verify_chain(node, genesis=None).blocks == HEIGHT + 1
    assert node.posts > 1 + (HEIGHT + 3) // 3  # one block per round trip, not three
    monkeypatch.setattr(chain_rpc, "MAX_RPC_RESPONSE_BYTES", BLOCK_ANSWER_BYTES - 1)
    with pytest.raises(SourceError, match="larger than"):
        verify_chain(FakeNode(node_chain), genesis=None)
    monkeypatch.setattr(chain_rpc, "MAX_RPC_RESPONSE_BYTES", 0)
    with pytest.raises(SourceError, match="eth_blockNumber"):
        verify_chain(FakeNode(node_chain), genesis=None)


# -- validator set changes by header votes ----------------------------------------------------


@pytest.fixture(scope="module")
def voted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 validators vote X in (blocks 1-3) and D out (5-7); block 8 is sealed by the new set."""
    from tests.unit.node import votechain

    path = tmp_path_factory.mktemp("voted") / "chain"
    store = LevelStore(path)
    try:
        chain = Chain.initialise(store, votechain.make_genesis())
        votechain.vote_in_x_then_out_d(chain)
        votechain.commit(chain, votechain.X)
    finally:
        store.close()
    return path


@pytest.fixture
def voted_dir(voted: Path, tmp_path: Path) -> Path:
    import shutil

    shutil.copytree(voted, tmp_path / "chain")
    return tmp_path / "chain"


def run_voted(path: Path, **kwargs: Any) -> verify.ChainSummary:
    from tests.unit.node import votechain

    source = DataDirSource(path)
    try:
        return verify_chain(source, **{"genesis": votechain.make_genesis(), **kwargs})
    finally:
        source.close()


def test_a_chain_whose_set_changed_by_votes_verifies(voted: Path) -> None:
    assert run_voted(voted).blocks == 9
    pool = InspectionPool(2)
    try:
        assert run_voted(voted, pool=pool).blocks == 9
    finally:
        pool.close()
    # a range inside the change: the set at block 5 is taken from the headers before it
    summary = run_voted(voted, first=5, last=8)
    assert (summary.first, summary.blocks) == (5, 4)


def test_the_set_after_a_vote_is_enforced(voted_dir: Path) -> None:
    from tests.unit.node import votechain

    five = tuple(sorted(k.address for k in (votechain.A, votechain.B, votechain.C, votechain.D, votechain.X)))

    def old_set(store: LevelStore) -> None:
        # Block 8 (the head) re-made as if D had not been voted out: listing and sealed by the five.
        chain = Chain(store, votechain.make_genesis())
        old = chain.header_by_number(8)
        extra = qbft.extra_data_of(old.fields_rlp())
        unsealed = cast(QBFTHeader, old.copy(extra_data=replace(extra, validators=five, seals=()).encode()))
        keys = (votechain.A, votechain.B, votechain.C, votechain.D, votechain.X)
        writes = _block_writes(with_seals(unsealed, [k.commit_seal(unsealed) for k in keys]), (), (),
                               chain.block_receipts(old))
        store.write_batch(writes)
    edit(voted_dir, old_set)
    caught = failure(voted_dir, genesis=votechain.make_genesis())
    assert (caught.height, caught.step) == (8, "validators")


def test_without_the_genesis_file_a_vote_ends_the_walk(voted: Path) -> None:
    source = DataDirSource(voted)
    try:
        with pytest.raises(SourceError, match="epoch length"):
            verify_chain(source, genesis=None)
    finally:
        source.close()


def test_the_vote_index_is_checked(voted_dir: Path) -> None:
    from tests.unit.node import votechain

    edit(voted_dir, lambda store: store.write_batch({schema.vote_key(6): schema.height_bytes(3)}))
    caught = failure(voted_dir, genesis=votechain.make_genesis())
    assert (caught.height, caught.step) == (6, "vote index") and "block 5" in caught.detail
    edit(voted_dir, lambda store: store.write_batch({schema.vote_key(2): None}))
    caught = failure(voted_dir, genesis=votechain.make_genesis())
    assert (caught.height, caught.step) == (2, "vote index")
    edit(voted_dir, lambda store: store.write_batch({schema.vote_key(4): b""}))
    caught = failure(voted_dir, genesis=votechain.make_genesis(), first=3)
    assert (caught.height, caught.step) == (4, "vote index")
