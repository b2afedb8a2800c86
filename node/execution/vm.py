"""Our EVM: py-evm's Cancun rules with QBFT headers and a base fee fixed at zero.

Only what differs from py-evm's `CancunVM` is overridden: the header's hash (QBFT rules,
so the seals and round do not change a block's identity), header validation (QBFT's
difficulty 1, mixHash constant, longer extraData, base fee 0, constant gas limit), the
creation of child headers, and the PKI precompile (`node.execution.pki`) in the computation.
Contract code and its jump-destination analysis come from the process's content-addressed
cache (`node.execution.codecache`) instead of being read and re-analysed on every CALL, and
the block end updates each storage trie and the account trie in one pass
(`node.execution.blockend`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, cast

import rlp
from eth.abc import (
    BlockAPI,
    BlockHeaderAPI,
    ComputationAPI,
    MessageAPI,
    ReceiptAPI,
    SignedTransactionAPI,
    StateAPI,
    TransactionContextAPI,
    TransactionFieldsAPI,
    WithdrawalAPI,
)
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3, EMPTY_UNCLE_HASH, SECPK1_N, ZERO_HASH32
from eth.db.account import AccountDB
from eth.validation import validate_canonical_address
from eth.vm.forks.cancun import CancunVM
from eth.vm.forks.cancun.blocks import CancunBlock, CancunBlockHeader, CountableList, Withdrawal
from eth.vm.forks.cancun.computation import CancunComputation
from eth.vm.forks.cancun.headers import calc_excess_blob_gas_cancun
from eth.vm.forks.cancun.state import CancunState, get_total_blob_gas
from eth.vm.forks.cancun.transactions import CancunLegacyTransaction, CancunTransactionBuilder, CancunTypedTransaction
from eth_keys.exceptions import BadSignature
from eth_typing import Address, BlockNumber, Hash32
from eth_utils import ValidationError

from chaincode import PKI_PRECOMPILE
from evidence import qbft
from evidence.mpt import ordered_trie_root
from node.errors import InvalidTransaction
from node.execution.blockend import OnePassBlockEnd
from node.execution.codecache import CODE_CACHE, AnalysedCode, CodeCache
from node.execution.pki import pki_precompile

QBFT_DIFFICULTY = 1
QBFT_NONCE = b"\x00" * 8
# Cap on a header's extraData: vanity + 64 validators + a vote + 64 seals fits in 6 KiB.
MAX_EXTRA_DATA_BYTES = 8 * 1024


class QBFTHeader(CancunBlockHeader):
    """A Cancun header whose hash follows the QBFT rule (seals emptied, round 0)."""

    @property
    def hash(self) -> Hash32:
        if self._hash is None:
            self._hash = qbft.block_hash(self.fields_rlp())
        return cast(Hash32, self._hash)

    def fields_rlp(self) -> list[bytes]:
        return type(self).serialize(self)

    def __str__(self) -> str:
        return f"<QBFTHeader #{self.block_number} 0x{self.hash.hex()[:8]}>"


def check_transaction_signature(tx: SignedTransactionAPI) -> None:
    """The signature rules of every transaction type, at the cost of one recovery.

    py-evm recovers a legacy transaction's key in `check_signature_validity`, verifies it
    again, and recovers it once more for `sender`; it checks no signature of a typed
    transaction at all beyond `sender` (high-s typed transactions pass). Here: EIP-2 low
    s and y-parity 0/1 for all types, and the recovery that `sender` caches.
    """
    if not (0 < tx.r < SECPK1_N and 0 < tx.s <= SECPK1_N // 2):
        raise ValidationError("invalid transaction v, r, s values")
    if tx.y_parity not in (0, 1):
        raise ValidationError("invalid transaction v, r, s values")
    try:
        _ = tx.sender  # recovering the sender is the signature check
    except (BadSignature, ValueError) as exc:
        raise ValidationError(f"Bad Signature: {exc}") from exc


class LedgerLegacyTransaction(CancunLegacyTransaction):
    def check_signature_validity(self) -> None:
        check_transaction_signature(self)


class LedgerTypedTransaction(CancunTypedTransaction):
    def check_signature_validity(self) -> None:
        check_transaction_signature(self)

    def validate(self) -> None:
        super().validate()
        check_transaction_signature(self)


class LedgerTransactionBuilder(CancunTransactionBuilder):
    legacy_signed = LedgerLegacyTransaction
    typed_transaction = LedgerTypedTransaction


class LedgerBlock(CancunBlock):
    transaction_builder = LedgerTransactionBuilder
    fields = [
        ("header", QBFTHeader),
        ("transactions", CountableList(LedgerTransactionBuilder)),
        ("uncles", CountableList(None, max_length=0)),
        ("withdrawals", CountableList(Withdrawal)),
    ]


TRANSACTION_BUILDER = LedgerBlock.get_transaction_builder()

# geth's txMaxSize: room for the largest legal contract creation (48 KiB initcode, EIP-3860)
# with calldata to spare, while one request cannot make the node hash megabytes.
MAX_TX_BYTES = 128 * 1024


def decode_transaction(raw: bytes) -> SignedTransactionAPI:
    """Decode a network-encoded signed transaction, or raise InvalidTransaction."""
    if not raw:
        raise InvalidTransaction("empty transaction")
    try:
        return TRANSACTION_BUILDER.decode(raw)
    except (rlp.DecodingError, rlp.DeserializationError) as exc:
        raise InvalidTransaction(f"rlp: {exc}") from exc
    except Exception as exc:  # unknown type bytes and bad field widths surface as ValueError & co
        raise InvalidTransaction(f"transaction could not be decoded: {exc}") from exc


def create_child_header(
    parent: BlockHeaderAPI, *, coinbase: Address = Address(b"\x00" * 20),
    timestamp: int | None = None, extra_data: bytes | None = None, **_: Any,
) -> QBFTHeader:
    """The header a QBFT proposer starts from: same gas limit, zero base fee."""
    return QBFTHeader(
        parent_hash=parent.hash,
        uncles_hash=EMPTY_UNCLE_HASH,
        coinbase=coinbase,
        state_root=parent.state_root,
        difficulty=QBFT_DIFFICULTY,
        block_number=BlockNumber(parent.block_number + 1),
        gas_limit=parent.gas_limit,
        timestamp=parent.timestamp + 1 if timestamp is None else timestamp,
        extra_data=parent.extra_data if extra_data is None else extra_data,
        mix_hash=Hash32(qbft.MIX_HASH),
        nonce=QBFT_NONCE,
        base_fee_per_gas=0,
        withdrawals_root=BLANK_ROOT_HASH,
        blob_gas_used=0,
        excess_blob_gas=calc_excess_blob_gas_cancun(parent),
        parent_beacon_block_root=ZERO_HASH32,
    )


class LedgerAccountDB(OnePassBlockEnd, AccountDB):
    """py-evm's account database with contract code read through the process's code cache
    and the block end's trie updates made in one pass per trie (`node.execution.blockend`).

    The code hash still comes from the account (and so from this state's trie); only the
    hash -> code read is shared, which is content-addressed. What a cache hit skips is
    py-evm's bookkeeping for block witnesses (`_accessed_bytecodes`), which nothing here
    reads: it never reaches a state root, receipt or header.
    """

    code_cache: ClassVar[CodeCache] = CODE_CACHE

    def get_code(self, address: Address) -> bytes:
        validate_canonical_address(address, title="Storage Address")
        code_hash = self.get_code_hash(address)
        if code_hash == EMPTY_SHA3:
            return b""
        cached = self.code_cache.code(code_hash)
        if cached is not None:
            return cached
        return self.code_cache.remember(code_hash, super().get_code(address))


class LedgerComputation(CancunComputation):
    """Cancun's computation plus the PKI precompile (X.509 work in Python), with jump
    destinations analysed once per contract code rather than once per message."""

    _precompiles = {**CancunComputation.get_precompiles(), Address(PKI_PRECOMPILE): pki_precompile}
    code_cache: ClassVar[CodeCache] = CODE_CACHE

    def __init__(self, state: StateAPI, message: MessageAPI, transaction_context: TransactionContextAPI) -> None:
        super().__init__(state, message, transaction_context)
        # Initcode runs once and is never cached; for any other code the shared marks are
        # the cached contract's (or fresh ones if the code is not in the cache).
        if message.code and not message.is_create:
            self.code = AnalysedCode(message.code, self.code_cache.marks_for(message.code))


class LedgerState(CancunState):
    account_db_class = LedgerAccountDB
    computation_class = LedgerComputation


class LedgerVM(CancunVM):
    fork = "cancun-qbft"
    _state_class = LedgerState
    block_class = LedgerBlock
    extra_data_max_bytes = MAX_EXTRA_DATA_BYTES
    create_header_from_parent = staticmethod(create_child_header)

    applied_count = 0  # how many transactions of the current batch applied cleanly

    @classmethod
    def validate_header(cls, header: BlockHeaderAPI, parent_header: BlockHeaderAPI) -> None:
        if parent_header is None:
            raise ValidationError("a header needs its parent to be validated")
        if len(header.extra_data) > cls.extra_data_max_bytes:
            raise ValidationError(f"extraData longer than {cls.extra_data_max_bytes} bytes")
        if header.block_number != parent_header.block_number + 1:
            raise ValidationError(
                f"block number {header.block_number} does not follow parent {parent_header.block_number}"
            )
        if header.timestamp <= parent_header.timestamp:
            raise ValidationError(
                f"timestamp {header.timestamp} not after parent's {parent_header.timestamp}"
            )
        if header.gas_limit != parent_header.gas_limit:
            raise ValidationError(
                f"gas limit {header.gas_limit} differs from parent's {parent_header.gas_limit}"
            )
        if header.gas_used > header.gas_limit:
            raise ValidationError(f"gas used {header.gas_used} above limit {header.gas_limit}")
        if header.base_fee_per_gas != 0:
            raise ValidationError(f"base fee must be 0 (zeroBaseFee), got {header.base_fee_per_gas}")
        if header.difficulty != QBFT_DIFFICULTY or header.nonce != QBFT_NONCE:
            raise ValidationError("QBFT headers have difficulty 1 and a zero nonce")
        if header.mix_hash != qbft.MIX_HASH:
            raise ValidationError("mixHash is not the QBFT constant")
        if header.uncles_hash != EMPTY_UNCLE_HASH:
            raise ValidationError("QBFT blocks have no uncles")
        if header.excess_blob_gas != calc_excess_blob_gas_cancun(parent_header):
            raise ValidationError("excess blob gas does not follow the parent")

    def set_block_transactions_and_withdrawals(
        self,
        base_block: BlockAPI,
        new_header: BlockHeaderAPI,
        transactions: Sequence[SignedTransactionAPI],
        receipts: Sequence[ReceiptAPI],
        withdrawals: Sequence[WithdrawalAPI] | None = None,
    ) -> BlockAPI:
        # Same result as py-evm's, with the one-pass trie builder; QBFT has no withdrawals.
        if withdrawals:
            raise ValidationError("QBFT blocks carry no withdrawals")
        header = new_header.copy(
            transaction_root=ordered_trie_root([tx.encode() for tx in transactions]),
            receipt_root=ordered_trie_root([r.encode() for r in receipts]),
        )
        return base_block.copy(transactions=transactions, header=header)

    def increment_blob_gas_used(self, old_header: BlockHeaderAPI, transaction: TransactionFieldsAPI) -> BlockHeaderAPI:
        # The pool admits no blob transactions, and py-evm's version copies the whole
        # header (an rlp Serializable deep copy) for every transaction to add zero.
        blob_gas = get_total_blob_gas(transaction)
        return old_header if blob_gas == 0 else old_header.copy(blob_gas_used=old_header.blob_gas_used + blob_gas)

    def apply_all_transactions(
        self, transactions: Sequence[SignedTransactionAPI], base_header: BlockHeaderAPI
    ) -> tuple[BlockHeaderAPI, tuple[ReceiptAPI, ...], tuple[ComputationAPI, ...]]:
        self.applied_count = 0
        return super().apply_all_transactions(transactions, base_header)

    def transaction_applied_hook(self, transaction_index: int, *args: Any, **kwargs: Any) -> None:
        # Lets the block builder tell which transaction of a batch was invalid.
        self.applied_count = transaction_index + 1


