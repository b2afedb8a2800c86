"""Blocks, transactions, receipts and logs as Ethereum JSON-RPC renders them."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import rlp
from eth._utils.address import generate_contract_address
from eth.abc import LegacyTransactionFieldsAPI, ReceiptAPI, SignedTransactionAPI
from eth_typing import Address
from eth_utils import to_checksum_address

from node.execution.vm import LedgerBlock, QBFTHeader
from node.rpc.params import to_data, to_hex

T = TypeVar("T")


def _cancun(value: T | None) -> T:
    """A field py-evm types as optional (it is absent before a fork) that every header and
    typed transaction of this chain has: Cancun rules from genesis, chain id in every typed
    transaction."""
    if value is None:
        raise ValueError("a Cancun field is missing")
    return value


@dataclass(frozen=True)
class LogRecord:
    address: bytes
    topics: tuple[bytes, ...]
    data: bytes
    block_number: int
    block_hash: bytes
    tx_hash: bytes
    tx_index: int
    log_index: int

    def to_json(self) -> dict[str, Any]:
        return {
            "address": to_checksum_address(self.address),
            "topics": [to_data(t) for t in self.topics],
            "data": to_data(self.data),
            "blockNumber": to_hex(self.block_number),
            "blockHash": to_data(self.block_hash),
            "transactionHash": to_data(self.tx_hash),
            "transactionIndex": to_hex(self.tx_index),
            "logIndex": to_hex(self.log_index),
            "removed": False,
        }


def block_logs(
    header: QBFTHeader, transactions: Sequence[SignedTransactionAPI], receipts: Sequence[ReceiptAPI]
) -> list[LogRecord]:
    records: list[LogRecord] = []
    for tx_index, (tx, receipt) in enumerate(zip(transactions, receipts)):
        records.extend(transaction_logs(header, tx, tx_index, receipt, len(records)))
    return records


def transaction_logs(
    header: QBFTHeader, tx: SignedTransactionAPI, tx_index: int, receipt: ReceiptAPI, first_log_index: int
) -> list[LogRecord]:
    """One transaction's logs; `first_log_index` is the count of logs before it in the block."""
    return [
        LogRecord(log.address, tuple(t.to_bytes(32, "big") for t in log.topics), log.data,
                  header.block_number, header.hash, tx.hash, tx_index, first_log_index + offset)
        for offset, log in enumerate(receipt.logs)
    ]


def header_json(header: QBFTHeader) -> dict[str, Any]:
    return {
        "number": to_hex(header.block_number),
        "hash": to_data(header.hash),
        "parentHash": to_data(header.parent_hash),
        "nonce": to_data(header.nonce),
        "mixHash": to_data(header.mix_hash),
        "sha3Uncles": to_data(header.uncles_hash),
        "logsBloom": to_data(header.bloom.to_bytes(256, "big")),
        "transactionsRoot": to_data(header.transaction_root),
        "stateRoot": to_data(header.state_root),
        "receiptsRoot": to_data(header.receipt_root),
        "miner": to_checksum_address(header.coinbase),
        "difficulty": to_hex(header.difficulty),
        "totalDifficulty": to_hex(header.block_number + 1),
        "extraData": to_data(header.extra_data),
        "gasLimit": to_hex(header.gas_limit),
        "gasUsed": to_hex(header.gas_used),
        "timestamp": to_hex(header.timestamp),
        "baseFeePerGas": to_hex(_cancun(header.base_fee_per_gas)),
        "withdrawalsRoot": to_data(_cancun(header.withdrawals_root)),
        "blobGasUsed": to_hex(header.blob_gas_used),
        "excessBlobGas": to_hex(header.excess_blob_gas),
        "parentBeaconBlockRoot": to_data(_cancun(header.parent_beacon_block_root)),
    }


def block_json(
    header: QBFTHeader,
    transactions: Sequence[SignedTransactionAPI],
    senders: Sequence[bytes],
    full: bool,
) -> dict[str, Any]:
    result = header_json(header)
    result["size"] = to_hex(len(rlp.encode(LedgerBlock(header, transactions, [], []))))
    if full:
        result["transactions"] = [
            transaction_json(tx, sender, header, index)
            for index, (tx, sender) in enumerate(zip(transactions, senders))
        ]
    else:
        result["transactions"] = [to_data(tx.hash) for tx in transactions]
    result["uncles"] = []
    result["withdrawals"] = []
    return result


def transaction_json(
    tx: SignedTransactionAPI, sender: bytes, header: QBFTHeader | None, index: int | None
) -> dict[str, Any]:
    type_id = tx.type_id or 0
    result: dict[str, Any] = {
        "hash": to_data(tx.hash),
        "type": to_hex(type_id),
        "nonce": to_hex(tx.nonce),
        "blockHash": to_data(header.hash) if header else None,
        "blockNumber": to_hex(header.block_number) if header else None,
        "transactionIndex": to_hex(index) if index is not None else None,
        "from": to_checksum_address(sender),
        "to": to_checksum_address(tx.to) if tx.to else None,
        "value": to_hex(tx.value),
        "gas": to_hex(tx.gas),
        "input": to_data(tx.data),
        "r": to_hex(tx.r),
        "s": to_hex(tx.s),
    }
    if type_id == 0:
        result["gasPrice"] = to_hex(tx.gas_price)
        result["v"] = to_hex(cast(LegacyTransactionFieldsAPI, tx).v)
        if tx.chain_id is not None:
            result["chainId"] = to_hex(tx.chain_id)
    else:
        result["chainId"] = to_hex(_cancun(tx.chain_id))
        result["v"] = to_hex(tx.y_parity)
        result["yParity"] = to_hex(tx.y_parity)
        result["accessList"] = [
            {"address": to_checksum_address(a), "storageKeys": [to_data(k.to_bytes(32, "big")) for k in keys]}
            for a, keys in tx.access_list
        ]
        # zero base fee: the effective price is the tip, capped by the fee cap
        result["gasPrice"] = to_hex(min(tx.max_fee_per_gas, tx.max_priority_fee_per_gas))
        if type_id >= 2:
            result["maxFeePerGas"] = to_hex(tx.max_fee_per_gas)
            result["maxPriorityFeePerGas"] = to_hex(tx.max_priority_fee_per_gas)
    return result


def receipt_json(
    header: QBFTHeader,
    transactions: Sequence[SignedTransactionAPI],
    senders: Sequence[bytes],
    receipts: Sequence[ReceiptAPI],
    index: int,
) -> dict[str, Any]:
    tx, sender, receipt = transactions[index], senders[index], receipts[index]
    previous = receipts[index - 1].gas_used if index else 0
    logs = transaction_logs(header, tx, index, receipt, sum(len(r.logs) for r in receipts[:index]))
    type_id = tx.type_id or 0
    effective_price = tx.gas_price if type_id == 0 else min(tx.max_fee_per_gas, tx.max_priority_fee_per_gas)
    return {
        "transactionHash": to_data(tx.hash),
        "transactionIndex": to_hex(index),
        "blockHash": to_data(header.hash),
        "blockNumber": to_hex(header.block_number),
        "from": to_checksum_address(sender),
        "to": to_checksum_address(tx.to) if tx.to else None,
        "cumulativeGasUsed": to_hex(receipt.gas_used),
        "gasUsed": to_hex(receipt.gas_used - previous),
        "effectiveGasPrice": to_hex(effective_price),
        "contractAddress": (
            to_checksum_address(generate_contract_address(Address(sender), tx.nonce)) if not tx.to else None
        ),
        "logs": [log.to_json() for log in logs],
        "logsBloom": to_data(receipt.bloom.to_bytes(256, "big")),
        "type": to_hex(type_id),
        "status": "0x1" if receipt.state_root == b"\x01" else "0x0",
    }
