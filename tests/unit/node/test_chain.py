"""The chain on a real LevelDB in a temporary directory: build, seal, commit, validate, replay."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import rlp
from eth_account import Account

from node.consensus.sealing import ValidatorKey, proposal_extra, with_seals
from node.errors import InvalidBlock, StorageError
from node.execution.chain import Chain
from node.execution.genesis import Genesis, build_genesis_document
from node.execution.vm import TRANSACTION_BUILDER
from node.storage import schema
from node.storage.store import LevelStore

VALIDATOR = ValidatorKey(b"\x01" * 32)
OTHER = ValidatorKey(b"\x03" * 32)
RICH = Account.from_key(b"\x02" * 32)
POOR = Account.from_key(b"\x04" * 32)
SINK = "0x" + "11" * 20


def make_genesis(chain_id: int = 1337) -> Genesis:
    rich = bytes.fromhex(RICH.address[2:])
    return Genesis.parse(build_genesis_document(
        chain_id=chain_id, validators=[VALIDATOR.address], alloc={rich: 10**21}, members=[(rich, "ADMIN")]))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LevelStore]:
    s = LevelStore(tmp_path / "chain")
    yield s
    s.close()


def transfer(account: Account, nonce: int, value: int = 1):  # type: ignore[no-untyped-def]
    signed = account.sign_transaction({"nonce": nonce, "gas": 21_000, "gasPrice": 0, "to": SINK,
                                       "value": value, "data": b"", "chainId": 1337})
    return TRANSACTION_BUILDER.decode(bytes(signed.raw_transaction))


def produce(chain: Chain, txs: list):  # type: ignore[no-untyped-def]
    built = chain.build_block(txs, timestamp=chain.head.timestamp + 1, coinbase=VALIDATOR.address,
                              extra=proposal_extra(chain.validators_after(chain.head), 0))
    sealed = with_seals(built.header, [VALIDATOR.commit_seal(built.header)])
    return built, sealed


def test_commit_moves_head_and_replay_matches(store: LevelStore) -> None:
    chain = Chain.initialise(store, make_genesis())
    built, sealed = produce(chain, [transfer(RICH, 0), transfer(RICH, 1)])
    chain.commit(sealed, built, [bytes.fromhex(RICH.address[2:])] * 2)
    assert chain.head.block_number == 1 and chain.head.hash == sealed.hash
    assert chain.state_at(chain.head).get_balance(bytes.fromhex(SINK[2:])) == 2
    assert chain.transaction_location(built.transactions[1].hash) == (1, 1)
    replayed = chain.replay_block(chain.head)
    assert (replayed.state_root, replayed.receipt_root, replayed.gas_used) == (
        sealed.state_root, sealed.receipt_root, sealed.gas_used)
    chain.validate_recent()


def test_block_sealed_by_a_non_validator_writes_nothing(store: LevelStore) -> None:
    chain = Chain.initialise(store, make_genesis())
    built, _ = produce(chain, [transfer(RICH, 0)])
    sealed = with_seals(built.header, [OTHER.commit_seal(built.header)])
    with pytest.raises(InvalidBlock) as caught:
        chain.commit(sealed, built, [bytes.fromhex(RICH.address[2:])])
    assert caught.value.step == "commit seals"
    assert chain.head.block_number == 0
    assert store.get(schema.header_key(sealed.hash)) is None
    assert store.get(schema.tx_location_key(built.transactions[0].hash)) is None


def test_invalid_transaction_is_dropped_with_its_sender_followers(store: LevelStore) -> None:
    chain = Chain.initialise(store, make_genesis())
    txs = [transfer(RICH, 0), transfer(POOR, 0, value=5), transfer(POOR, 1), transfer(RICH, 1)]
    built, _ = produce(chain, txs)
    assert [tx.hash for tx in built.transactions] == [txs[0].hash, txs[3].hash]
    assert [r.transaction.hash for r in built.rejected] == [txs[1].hash]


def test_tampered_body_on_disk_is_detected(store: LevelStore) -> None:
    chain = Chain.initialise(store, make_genesis())
    built, sealed = produce(chain, [transfer(RICH, 0)])
    chain.commit(sealed, built, [bytes.fromhex(RICH.address[2:])])
    other = transfer(RICH, 0, value=999)
    store.write_batch({schema.body_key(sealed.hash): rlp.encode([[other.encode()], [b"\x00" * 20]])})
    with pytest.raises(InvalidBlock) as caught:
        Chain(store, make_genesis()).validate_recent()
    assert caught.value.step == "transactions root" and caught.value.height == 1


def test_reopening_with_another_genesis_is_refused(store: LevelStore) -> None:
    Chain.initialise(store, make_genesis())
    with pytest.raises(StorageError):
        Chain.initialise(store, make_genesis(chain_id=7))


def test_header_naming_another_validator_set_is_refused(store: LevelStore) -> None:
    chain = Chain.initialise(store, make_genesis())
    built = chain.build_block([], timestamp=chain.head.timestamp + 1, coinbase=VALIDATOR.address,
                              extra=proposal_extra([VALIDATOR.address, OTHER.address], 0))
    sealed = with_seals(built.header, [VALIDATOR.commit_seal(built.header), OTHER.commit_seal(built.header)])
    with pytest.raises(InvalidBlock) as caught:
        chain.commit(sealed, built, [])
    assert caught.value.step == "validators"
    assert chain.head.block_number == 0


def test_proposer_must_be_a_validator(store: LevelStore) -> None:
    chain = Chain.initialise(store, make_genesis())
    built = chain.build_block([], timestamp=chain.head.timestamp + 1, coinbase=OTHER.address,
                              extra=proposal_extra(chain.validators_after(chain.head), 0))
    with pytest.raises(InvalidBlock) as caught:
        chain.commit(with_seals(built.header, [VALIDATOR.commit_seal(built.header)]), built, [])
    assert caught.value.step == "proposer"


def test_transaction_failing_before_execution_is_dropped_not_fatal(store: LevelStore) -> None:
    # EIP-3860: py-evm raises OutOfGas (a VMError, not a ValidationError) for initcode
    # over 48 KiB before the transaction runs; the block must still be built without it.
    chain = Chain.initialise(store, make_genesis())
    big = RICH.sign_transaction({"nonce": 0, "gas": 3_000_000, "gasPrice": 0, "value": 0, "chainId": 1337,
                                 "data": b"\x00" * 50_000})
    txs = [TRANSACTION_BUILDER.decode(bytes(big.raw_transaction)), transfer(Account.from_key(b"\x09" * 32), 0, 0)]
    built, _ = produce(chain, txs)
    assert [r.transaction.hash for r in built.rejected] == [txs[0].hash]
