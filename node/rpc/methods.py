"""The JSON-RPC route table: every method, its parameter count and its handler.

Handlers raise our errors (`InvalidParams`, `InvalidTransaction`, `NotFound`, ...);
`node.rpc.app` maps them to JSON-RPC error codes in one place.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import rlp
from eth.constants import BLANK_ROOT_HASH
from eth_hash.auto import keccak
from eth_utils import to_checksum_address
from trie import HexaryTrie

from evidence.receipt import MAX_VALIDATOR_HISTORY
from node.errors import InvalidParams, NotFound
from node.execution.chain import DECODED_BLOCK_CACHE
from node.execution.vm import LedgerBlock, QBFTHeader
from node.rpc import params as p
from node.rpc.context import RpcContext, block_number_of, resolve_block, with_state
from node.rpc.filters import Filter, LogCriteria
from node.rpc.format import block_json, receipt_json, transaction_json
from node.rpc.logcache import LOG_CACHE, EncodedLog, TransactionLogs, logs_of_objects, stored_block_logs
from node.rpc.rawjson import EncodedJSON
from node.rpc.simulate import eth_call, eth_estimate_gas

CLIENT_VERSION = "evidence-ledger/v0.1.0/python"
# Bounds on one eth_getLogs / filter poll: blocks scanned and logs returned.
MAX_LOG_BLOCK_RANGE = 10_000
MAX_LOG_RESULTS = 10_000
# eth_feeHistory: blocks and reward percentiles per call (geth's maxFeeHistory and
# maxQueryLimit); the answer is blocks x percentiles strings.
MAX_FEE_HISTORY_BLOCKS = 1024
MAX_FEE_HISTORY_PERCENTILES = 100
MAX_PROOF_KEYS = 1_000


Handler = Callable[..., Any]


# -- web3 / net -----------------------------------------------------------------------

def web3_client_version(ctx: RpcContext) -> str:
    return CLIENT_VERSION


def web3_sha3(ctx: RpcContext, value: Any) -> str:
    return p.to_data(keccak(p.data(value, "data")))


def net_version(ctx: RpcContext) -> str:
    return str(ctx.node.genesis.chain_id)


def net_listening(ctx: RpcContext) -> bool:
    return True


def net_peer_count(ctx: RpcContext) -> str:
    driver = ctx.node.consensus
    return p.to_hex(driver.peer_count() if driver is not None else 0)


# -- chain --------------------------------------------------------------------------------

def eth_chain_id(ctx: RpcContext) -> str:
    return p.to_hex(ctx.node.genesis.chain_id)


def eth_block_number(ctx: RpcContext) -> str:
    return p.to_hex(ctx.node.chain.head.block_number)


def eth_syncing(ctx: RpcContext) -> bool | dict[str, str]:
    """False, or (while blocks are fetched from a peer that is ahead) geth's progress object."""
    driver = ctx.node.consensus
    progress = driver.sync_progress() if driver is not None else None
    if progress is None:
        return False
    starting, current, highest = progress
    return {"startingBlock": p.to_hex(starting), "currentBlock": p.to_hex(current), "highestBlock": p.to_hex(highest)}


def eth_accounts(ctx: RpcContext) -> list[str]:
    return []  # the node holds no user keys: clients sign


def eth_gas_price(ctx: RpcContext) -> str:
    return "0x0"


def eth_max_priority_fee(ctx: RpcContext) -> str:
    return "0x0"


def eth_blob_base_fee(ctx: RpcContext) -> str:
    return "0x0"


def eth_fee_history(ctx: RpcContext, count: Any, newest: Any, percentiles: Any = None) -> dict[str, Any]:
    rewards = _reward_percentiles(percentiles)
    blocks = min(p.quantity(count, "blockCount"), MAX_FEE_HISTORY_BLOCKS)
    newest_height = resolve_block(ctx, newest).block_number
    oldest = max(0, newest_height - blocks + 1)
    headers = [ctx.node.chain.header_by_number(h) for h in range(oldest, newest_height + 1)] if blocks else []
    result: dict[str, Any] = {
        "oldestBlock": p.to_hex(oldest if blocks else newest_height),
        "baseFeePerGas": ["0x0"] * (len(headers) + 1),
        "gasUsedRatio": [h.gas_used / h.gas_limit for h in headers],
        "baseFeePerBlobGas": ["0x0"] * (len(headers) + 1),
        "blobGasUsedRatio": [0.0] * len(headers),
    }
    if rewards:
        result["reward"] = [["0x0"] * rewards for _ in headers]
    return result


def _reward_percentiles(percentiles: Any) -> int:
    """How many reward percentiles eth_feeHistory asked for, checked as geth checks them:
    at most MAX_FEE_HISTORY_PERCENTILES numbers, each in [0, 100], strictly increasing."""
    if percentiles is None:
        return 0
    if not isinstance(percentiles, list):
        raise InvalidParams("rewardPercentiles: expected a list")
    if len(percentiles) > MAX_FEE_HISTORY_PERCENTILES:
        raise InvalidParams(f"rewardPercentiles: {len(percentiles)} values, over the limit of "
                            f"{MAX_FEE_HISTORY_PERCENTILES}")
    previous = -1.0
    for index, value in enumerate(percentiles):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
            raise InvalidParams(f"rewardPercentiles[{index}]: expected a number from 0 to 100")
        if value <= previous:
            raise InvalidParams(f"rewardPercentiles[{index}]: percentiles must increase")
        previous = value
    return len(percentiles)


def eth_get_balance(ctx: RpcContext, address: Any, tag: Any = "latest") -> str:
    account = p.address(address)
    return p.to_hex(with_state(ctx, tag, lambda s: s.get_balance(account)))


def eth_get_transaction_count(ctx: RpcContext, address: Any, tag: Any = "latest") -> str:
    account = p.address(address)
    if tag == "pending":
        return p.to_hex(ctx.node.pool.pending_nonce(account))
    return p.to_hex(with_state(ctx, tag, lambda s: s.get_nonce(account)))


def eth_get_code(ctx: RpcContext, address: Any, tag: Any = "latest") -> str:
    account = p.address(address)
    return p.to_data(with_state(ctx, tag, lambda s: s.get_code(account)))


def eth_get_storage_at(ctx: RpcContext, address: Any, slot: Any, tag: Any = "latest") -> str:
    account = p.address(address)
    key = p.storage_slot(slot)
    value = with_state(ctx, tag, lambda s: s.get_storage(account, key))
    return p.to_data(value.to_bytes(32, "big"))


def _block_json(ctx: RpcContext, header: QBFTHeader, full: Any) -> dict[str, Any]:
    txs, senders = ctx.node.chain.block_transactions(header)
    return block_json(header, txs, senders, p.boolean(full, "fullTransactions"))


def eth_get_block_by_number(ctx: RpcContext, tag: Any, full: Any = False) -> dict[str, Any] | None:
    try:
        header = resolve_block(ctx, tag)
    except NotFound:
        return None
    return _block_json(ctx, header, full)


def eth_get_block_by_hash(ctx: RpcContext, block_hash: Any, full: Any = False) -> dict[str, Any] | None:
    try:
        header = ctx.node.chain.header_by_hash(p.hash32(block_hash, "blockHash"))
    except NotFound:
        return None
    return _block_json(ctx, header, full)


def eth_get_block_transaction_count_by_number(ctx: RpcContext, tag: Any) -> str | None:
    try:
        header = resolve_block(ctx, tag)
    except NotFound:
        return None
    return p.to_hex(len(ctx.node.chain.block_transactions(header)[0]))


def eth_get_uncle_count(ctx: RpcContext, _block: Any) -> str:
    return "0x0"


def _located(ctx: RpcContext, tx_hash: bytes) -> tuple[QBFTHeader, int] | None:
    try:
        height, index = ctx.node.chain.transaction_location(tx_hash)
    except NotFound:
        return None
    if height > ctx.node.chain.head.block_number:
        return None  # written, but the head moves only after the write: not visible yet
    return ctx.node.chain.header_by_number(height), index


def transaction_sender(ctx: RpcContext, tx_hash: bytes) -> bytes | None:
    """The sender of a committed or pooled transaction, None for one this node does not
    know (node.access asks it whether an address-bound token reads its own transaction)."""
    located = _located(ctx, tx_hash)
    if located is None:
        entry = ctx.node.pool.get(tx_hash)
        return bytes(entry.sender) if entry else None
    header, index = located
    _, senders = ctx.node.chain.block_transactions(header)
    return bytes(senders[index])


def eth_get_transaction_by_hash(ctx: RpcContext, tx_hash: Any) -> dict[str, Any] | None:
    wanted = p.hash32(tx_hash, "transactionHash")
    located = _located(ctx, wanted)
    if located is None:
        entry = ctx.node.pool.get(wanted)
        return transaction_json(entry.tx, entry.sender, None, None) if entry else None
    header, index = located
    txs, senders = ctx.node.chain.block_transactions(header)
    return transaction_json(txs[index], senders[index], header, index)


def eth_get_transaction_by_block_number_and_index(ctx: RpcContext, tag: Any, index: Any) -> dict[str, Any] | None:
    try:
        header = resolve_block(ctx, tag)
    except NotFound:
        return None
    position = p.quantity(index, "index")
    txs, senders = ctx.node.chain.block_transactions(header)
    if position >= len(txs):
        return None
    return transaction_json(txs[position], senders[position], header, position)


def eth_get_transaction_receipt(ctx: RpcContext, tx_hash: Any) -> dict[str, Any] | None:
    located = _located(ctx, p.hash32(tx_hash, "transactionHash"))
    if located is None:
        return None
    header, index = located
    txs, senders = ctx.node.chain.block_transactions(header)
    receipts = ctx.node.chain.block_receipts(header)
    return receipt_json(header, txs, senders, receipts, index)


def eth_get_block_receipts(ctx: RpcContext, tag: Any) -> list[dict[str, Any]] | None:
    try:
        header = resolve_block(ctx, tag)
    except NotFound:
        return None
    txs, senders = ctx.node.chain.block_transactions(header)
    receipts = ctx.node.chain.block_receipts(header)
    return [receipt_json(header, txs, senders, receipts, i) for i in range(len(txs))]


# -- transactions ---------------------------------------------------------------------

def eth_send_raw_transaction(ctx: RpcContext, raw: Any) -> str:
    return p.to_data(ctx.node.submit(p.data(raw, "transaction")))


# -- logs and filters -----------------------------------------------------------------

def _read_block_logs(ctx: RpcContext, header: QBFTHeader, head: int) -> list[TransactionLogs]:
    """A block's logs for the encoded-log cache. A block among the chain's last
    DECODED_BLOCK_CACHE is read through the chain's decoded-block cache, which the
    receipts clients just fetched (and startup validation) have usually filled: no
    decoding at all. An older one is read with plain RLP (about half the cost of py-evm's
    receipt objects) and kept out of that cache, so that a long scan does not evict the
    blocks consensus and receipt reads use."""
    chain = ctx.node.chain
    if header.block_number > head - DECODED_BLOCK_CACHE:
        txs, _ = chain.block_transactions(header)
        return logs_of_objects(txs, chain.block_receipts(header))
    return stored_block_logs(ctx.node.store, header.hash)


def collect_logs(ctx: RpcContext, criteria: LogCriteria, start: int, end: int) -> list[EncodedLog]:
    """The logs of blocks start..end that `criteria` matches, in chain order, from the
    encoded-log cache (node/rpc/logcache.py)."""
    if end < start:
        return []
    if end - start + 1 > MAX_LOG_BLOCK_RANGE:
        raise InvalidParams(f"block range {start}..{end} exceeds the limit of {MAX_LOG_BLOCK_RANGE} blocks")
    if ctx.budget is not None:
        ctx.budget.scan(end - start + 1)
    chain = ctx.node.chain
    head = chain.head.block_number
    found: list[EncodedLog] = []
    for height in range(start, end + 1):
        header = chain.header_by_number(height)
        if header.bloom == 0 or not criteria.may_match_bloom(header.bloom):
            continue  # no logs at all, or none that can match: skip the block
        logs = LOG_CACHE.logs(height, header.hash, lambda: _read_block_logs(ctx, header, head))  # noqa: B023 (called at once)
        found.extend(logs if criteria.matches_all else [log for log in logs if criteria.matches(log)])
        if len(found) > MAX_LOG_RESULTS:
            raise InvalidParams(f"query returned more than {MAX_LOG_RESULTS} results; narrow the range")
    return found


def _encoded(logs: list[EncodedLog]) -> EncodedJSON:
    return EncodedJSON.array(log.json for log in logs)


def eth_get_logs(ctx: RpcContext, spec: Any) -> EncodedJSON:
    query = p.obj(spec, "filter")
    criteria = LogCriteria.parse(query)
    head = ctx.node.chain.head.block_number
    if query.get("blockHash") is not None:
        if query.get("fromBlock") is not None or query.get("toBlock") is not None:
            raise InvalidParams("filter: blockHash excludes fromBlock/toBlock")
        header = ctx.node.chain.header_by_hash(p.hash32(query["blockHash"], "blockHash"))
        start = end = int(header.block_number)
    else:
        start = block_number_of(ctx, query.get("fromBlock"), head)
        end = min(block_number_of(ctx, query.get("toBlock"), head), head)
    return _encoded(collect_logs(ctx, criteria, start, end))


def eth_new_filter(ctx: RpcContext, spec: Any) -> str:
    query = p.obj(spec, "filter")
    criteria = LogCriteria.parse(query)
    head = ctx.node.chain.head.block_number
    start = block_number_of(ctx, query.get("fromBlock"), head + 1)
    to_block = None if query.get("toBlock") in (None, "latest", "pending") else block_number_of(ctx, query["toBlock"], head)
    return ctx.filters.install(Filter("logs", start, criteria, to_block, from_block=start, owner=ctx.connection))


def eth_new_block_filter(ctx: RpcContext) -> str:
    return ctx.filters.install(Filter("blocks", ctx.node.chain.head.block_number + 1, owner=ctx.connection))


def eth_new_pending_transaction_filter(ctx: RpcContext) -> str:
    return ctx.filters.install(Filter("pending", ctx.node.chain.head.block_number + 1, owner=ctx.connection))


def _filter_changes(ctx: RpcContext, flt: Filter, advance: bool) -> list[Any] | EncodedJSON:
    head = ctx.node.chain.head.block_number
    end = head if flt.to_block is None else min(head, flt.to_block)
    if flt.kind == "pending":
        hashes, flt.pending_hashes = flt.pending_hashes, []
        return [p.to_data(h) for h in hashes]
    if flt.kind == "blocks":
        result: list[Any] | EncodedJSON = [p.to_data(ctx.node.chain.hash_by_number(h)) for h in range(flt.next_height, head + 1)]
    else:
        assert flt.criteria is not None
        end = min(end, flt.next_height + MAX_LOG_BLOCK_RANGE - 1)
        result = _encoded(collect_logs(ctx, flt.criteria, flt.next_height, end))
    if advance:
        flt.next_height = max(flt.next_height, end + 1)
    return result


def eth_get_filter_changes(ctx: RpcContext, filter_id: Any) -> list[Any] | EncodedJSON:
    flt = ctx.filters.get(filter_id)
    with flt.lock:
        return _filter_changes(ctx, flt, advance=True)


def eth_get_filter_logs(ctx: RpcContext, filter_id: Any) -> list[Any] | EncodedJSON:
    """Every log the filter matches from its fromBlock, however far polling has moved."""
    flt = ctx.filters.get(filter_id)
    if flt.kind != "logs":
        raise InvalidParams("filter is not a log filter")
    return _filter_changes(ctx, Filter("logs", flt.from_block, flt.criteria, flt.to_block), advance=False)


def eth_uninstall_filter(ctx: RpcContext, filter_id: Any) -> bool:
    return ctx.filters.remove(filter_id)


# -- proofs --------------------------------------------------------------------------

def eth_get_proof(ctx: RpcContext, address: Any, keys: Any, tag: Any = "latest") -> dict[str, Any]:
    """EIP-1186 account and storage proofs against the block's stateRoot."""
    account = p.address(address)
    if not isinstance(keys, list) or len(keys) > MAX_PROOF_KEYS:
        raise InvalidParams(f"storageKeys: expected a list of at most {MAX_PROOF_KEYS} keys")
    slots = [p.storage_slot(k, "storageKey") for k in keys]
    header = resolve_block(ctx, tag)
    db = ctx.node.chain.read_overlay()
    state_trie = HexaryTrie(db, header.state_root)
    account_key = keccak(account)
    encoded_account = state_trie.get(account_key)
    if encoded_account:
        nonce, balance, storage_root, code_hash = rlp.decode(encoded_account)
        nonce_i, balance_i = int.from_bytes(nonce, "big"), int.from_bytes(balance, "big")
    else:
        nonce_i, balance_i, storage_root, code_hash = 0, 0, BLANK_ROOT_HASH, keccak(b"")
    storage_trie = HexaryTrie(db, storage_root)
    storage_proofs = []
    for slot in slots:
        slot_key = keccak(slot.to_bytes(32, "big"))
        raw_value = storage_trie.get(slot_key)
        value = int.from_bytes(rlp.decode(raw_value), "big") if raw_value else 0
        storage_proofs.append({
            "key": p.to_hex(slot),
            "value": p.to_hex(value),
            "proof": _proof_nodes(storage_trie, slot_key),
        })
    return {
        "address": to_checksum_address(account),
        "accountProof": _proof_nodes(state_trie, account_key),
        "balance": p.to_hex(balance_i),
        "nonce": p.to_hex(nonce_i),
        "codeHash": p.to_data(code_hash),
        "storageHash": p.to_data(storage_root),
        "storageProof": storage_proofs,
    }


def _proof_nodes(trie: HexaryTrie, key: bytes) -> list[str]:
    if trie.root_hash == BLANK_ROOT_HASH:
        return []
    nodes = [rlp.encode(n) for n in trie.get_proof(key)]
    # Nodes shorter than 32 bytes are embedded in their parent; EIP-1186 lists only the
    # nodes referenced by hash (the root always), as geth and Besu do.
    return [p.to_data(n) for i, n in enumerate(nodes) if i == 0 or len(n) >= 32]


# -- QBFT and debug ----------------------------------------------------------------------

def _validator_list(validators: Sequence[bytes]) -> list[str]:
    # Besu answers lower-case hex addresses (Address.toString), in ascending order.
    return ["0x" + v.hex() for v in sorted(validators)]


def qbft_get_validators_by_block_number(ctx: RpcContext, tag: Any) -> list[str] | None:
    """The validators a block's header lists (the set that sealed it), as Besu answers;
    "pending" is the set after the head, which will seal the next block; null for a block
    not (yet) in the chain."""
    chain = ctx.node.chain
    if tag == "pending":
        return _validator_list(chain.validators_after(chain.head))
    try:
        header = resolve_block(ctx, tag)
    except NotFound:
        return None
    return _validator_list(chain.validators_of(header))


def qbft_get_validators_by_block_hash(ctx: RpcContext, block_hash: Any) -> list[str] | None:
    """The validators the header with this hash lists; null for an unknown hash."""
    try:
        header = ctx.node.chain.header_by_hash(p.hash32(block_hash, "blockHash"))
    except NotFound:
        return None
    return _validator_list(ctx.node.chain.validators_of(header))


def qbft_propose_validator_vote(ctx: RpcContext, address: Any, add: Any) -> bool:
    """Have this validator vote, in the blocks it proposes, to add (true) or drop (false)
    `address` until the proposal is discarded (Besu's qbft_proposeValidatorVote)."""
    recipient = p.address(address)
    direction = p.boolean(add, "add")
    try:
        ctx.node.votes.propose(recipient, direction)
    except ValueError as exc:
        raise InvalidParams(str(exc)) from exc
    return True


def qbft_discard_validator_vote(ctx: RpcContext, address: Any) -> bool:
    ctx.node.votes.discard(p.address(address))
    return True


def qbft_get_pending_votes(ctx: RpcContext) -> dict[str, bool]:
    """This validator's proposals: address -> true (add) or false (drop)."""
    return {"0x" + address.hex(): add for address, add in ctx.node.votes.pending().items()}


def ledger_get_validator_history(ctx: RpcContext, to_block: Any) -> list[str]:
    """The raw RLP headers (seals included) of every block up to `to_block` whose header
    carries a validator vote, ascending: with genesis, all a light client needs to follow
    the validator set (evidence receipts carry them). Read from the vote index."""
    chain = ctx.node.chain
    head = chain.head.block_number
    last = block_number_of(ctx, to_block, head)
    if last > head:
        raise NotFound(f"header for block {last} not found")
    heights = chain.vote_heights(0, last)
    if len(heights) > MAX_VALIDATOR_HISTORY:
        raise InvalidParams(f"{len(heights)} vote-carrying headers up to block {last}: more than the "
                            f"{MAX_VALIDATOR_HISTORY} a receipt may carry")
    return [p.to_data(rlp.encode(chain.header_by_number(height))) for height in heights]


def ledger_chain_info(ctx: RpcContext) -> dict[str, Any]:
    """The chain's identity as v2 receipts name it (docs/receipt.md): chain id, the name
    genesis gives it (evidenceLedger.chainName, or "chain <id>") and block 0's hash; and
    its crypto profile (evidenceLedger.cryptoProfile: "mixed" or "gm"), which the genesis
    hash commits to."""
    genesis = ctx.node.genesis
    return {"chainId": p.to_hex(genesis.chain_id), "chainName": genesis.chain_name,
            "genesisHash": p.to_data(ctx.node.chain.genesis_header.hash), "cryptoProfile": genesis.crypto_profile}


def ledger_node_status(ctx: RpcContext) -> dict[str, Any]:
    """Height, consensus round, peers and role of this node (`ledger cluster status`)."""
    driver = ctx.node.consensus
    if driver is not None:
        return driver.status()
    head = ctx.node.chain.head
    key = ctx.node.key
    return {"height": head.block_number, "round": None, "validator": ctx.node.is_validator,
            "address": "0x" + key.address.hex() if key else None, "syncing": False, "peers": []}


def evm_increase_time(ctx: RpcContext, seconds: Any) -> str:
    amount = p.quantity(seconds, "seconds") if isinstance(seconds, str) else seconds
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 <= amount <= 100 * 365 * 86400:
        raise InvalidParams("seconds: a number of seconds between 0 and 100 years")
    return p.to_hex(ctx.node.increase_time(amount))


def debug_get_raw_header(ctx: RpcContext, tag: Any) -> str:
    return p.to_data(rlp.encode(resolve_block(ctx, tag)))


def debug_get_raw_block(ctx: RpcContext, tag: Any) -> str:
    header = resolve_block(ctx, tag)
    txs, _ = ctx.node.chain.block_transactions(header)
    return p.to_data(rlp.encode(LedgerBlock(header, txs, [], [])))


def debug_get_raw_receipts(ctx: RpcContext, tag: Any) -> list[str]:
    header = resolve_block(ctx, tag)
    return [p.to_data(r.encode()) for r in ctx.node.chain.block_receipts(header)]


# The route table: method -> (handler, required params, optional params).
ROUTES: dict[str, tuple[Handler, int, int]] = {
    "web3_clientVersion": (web3_client_version, 0, 0),
    "web3_sha3": (web3_sha3, 1, 0),
    "net_version": (net_version, 0, 0),
    "net_listening": (net_listening, 0, 0),
    "net_peerCount": (net_peer_count, 0, 0),
    "eth_chainId": (eth_chain_id, 0, 0),
    "eth_blockNumber": (eth_block_number, 0, 0),
    "eth_syncing": (eth_syncing, 0, 0),
    "eth_accounts": (eth_accounts, 0, 0),
    "eth_gasPrice": (eth_gas_price, 0, 0),
    "eth_maxPriorityFeePerGas": (eth_max_priority_fee, 0, 0),
    "eth_blobBaseFee": (eth_blob_base_fee, 0, 0),
    "eth_feeHistory": (eth_fee_history, 2, 1),
    "eth_getBalance": (eth_get_balance, 1, 1),
    "eth_getTransactionCount": (eth_get_transaction_count, 1, 1),
    "eth_getCode": (eth_get_code, 1, 1),
    "eth_getStorageAt": (eth_get_storage_at, 2, 1),
    "eth_getBlockByNumber": (eth_get_block_by_number, 1, 1),
    "eth_getBlockByHash": (eth_get_block_by_hash, 1, 1),
    "eth_getBlockTransactionCountByNumber": (eth_get_block_transaction_count_by_number, 1, 0),
    "eth_getUncleCountByBlockNumber": (eth_get_uncle_count, 1, 0),
    "eth_getTransactionByHash": (eth_get_transaction_by_hash, 1, 0),
    "eth_getTransactionByBlockNumberAndIndex": (eth_get_transaction_by_block_number_and_index, 2, 0),
    "eth_getTransactionReceipt": (eth_get_transaction_receipt, 1, 0),
    "eth_getBlockReceipts": (eth_get_block_receipts, 1, 0),
    "eth_sendRawTransaction": (eth_send_raw_transaction, 1, 0),
    "eth_call": (eth_call, 1, 1),
    "eth_estimateGas": (eth_estimate_gas, 1, 1),
    "eth_getLogs": (eth_get_logs, 1, 0),
    "eth_newFilter": (eth_new_filter, 1, 0),
    "eth_newBlockFilter": (eth_new_block_filter, 0, 0),
    "eth_newPendingTransactionFilter": (eth_new_pending_transaction_filter, 0, 0),
    "eth_getFilterChanges": (eth_get_filter_changes, 1, 0),
    "eth_getFilterLogs": (eth_get_filter_logs, 1, 0),
    "eth_uninstallFilter": (eth_uninstall_filter, 1, 0),
    "eth_getProof": (eth_get_proof, 2, 1),
    "qbft_getValidatorsByBlockNumber": (qbft_get_validators_by_block_number, 1, 0),
    "qbft_getValidatorsByBlockHash": (qbft_get_validators_by_block_hash, 1, 0),
    "qbft_proposeValidatorVote": (qbft_propose_validator_vote, 2, 0),
    "qbft_discardValidatorVote": (qbft_discard_validator_vote, 1, 0),
    "qbft_getPendingVotes": (qbft_get_pending_votes, 0, 0),
    "ledger_getValidatorHistory": (ledger_get_validator_history, 1, 0),
    "ledger_chainInfo": (ledger_chain_info, 0, 0),
    "ledger_nodeStatus": (ledger_node_status, 0, 0),
    "evm_increaseTime": (evm_increase_time, 1, 0),
    "debug_getRawHeader": (debug_get_raw_header, 1, 0),
    "debug_getRawBlock": (debug_get_raw_block, 1, 0),
    "debug_getRawReceipts": (debug_get_raw_receipts, 1, 0),
}
