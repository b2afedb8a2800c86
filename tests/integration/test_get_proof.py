"""eth_getProof output verifies against the block's stateRoot with an independent
Merkle-Patricia verifier (the `trie` package).

Nothing here comes from the node's code (`node.`/`evidence.`): the proofs are fetched over
raw JSON-RPC and checked with `trie.HexaryTrie.get_from_proof`, `rlp` and `eth_utils.keccak`
only, so a bug shared by the node's trie code and its proof builder cannot hide itself.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pytest
import rlp
from eth_account import Account
from eth_utils import keccak, to_canonical_address
from trie import HexaryTrie
from trie.exceptions import BadTrieProof
from web3 import Web3
from web3.middleware import ExtraDataToPOAMiddleware

from tests.contracts import compile_contract
from tests.integration.nodeproc import NodeProcess, rpc

pytestmark = pytest.mark.slow

BLANK_ROOT = keccak(rlp.encode(b""))
EMPTY_CODE_HASH = keccak(b"")

# Storage.vy layout (Vyper 0.4): values (HashMap) at slot 0, last at 1, writes at 2.
VALUES_SLOT, LAST_SLOT, WRITES_SLOT = 0, 1, 2
UNSET_SLOT = 0x99  # never written by Storage.vy

FIRST_WRITES = {0: 11, 1: 22, 5: 55, 7: 77, 2**200 + 3: 2**250 + 9}
SECOND_WRITES = {1: 999, 7: 0, 42: 4242}  # 7 -> 0 deletes the slot from the storage trie


def values_slot(key: int) -> int:
    """Vyper HashMap element slot: keccak256(slot32 ++ key32)."""
    return int.from_bytes(keccak(VALUES_SLOT.to_bytes(32, "big") + key.to_bytes(32, "big")), "big")




def b(hex_str: str) -> bytes:
    return bytes.fromhex(hex_str.removeprefix("0x"))


def q(hex_str: str) -> int:
    return int(hex_str, 16)


def decode_nodes(proof: list[str]) -> list[Any]:
    return [rlp.decode(b(node)) for node in proof]


def verify(root: bytes, key: bytes, proof: list[str]) -> bytes:
    """The value the proof shows for `key` under `root` (b'' for a proven absence)."""
    return HexaryTrie.get_from_proof(root, key, decode_nodes(proof))


def fails(root: bytes, key: bytes, proof: list[Any], expected: bytes) -> bool:
    """True if a (decoded) proof does NOT establish `expected` under `root`."""
    try:
        return HexaryTrie.get_from_proof(root, key, proof) != expected
    except (BadTrieProof, rlp.DecodingError, ValueError, KeyError, IndexError, TypeError):
        return True


def _flip_last_byte(item: Any) -> tuple[Any, bool]:
    """A copy of a decoded node with one non-empty byte string's last byte flipped."""
    if isinstance(item, bytes):
        if not item:
            return item, False
        return item[:-1] + bytes([item[-1] ^ 0x01]), True
    out = list(item)
    for index in range(len(out) - 1, -1, -1):
        out[index], done = _flip_last_byte(out[index])
        if done:
            return out, True
    return out, False


def account_fields(encoded: bytes) -> tuple[int, int, bytes, bytes]:
    nonce, balance, storage_root, code_hash = rlp.decode(encoded)
    return int.from_bytes(nonce, "big"), int.from_bytes(balance, "big"), storage_root, code_hash


@dataclass
class Chain:
    url: str
    w3: Web3
    address: str
    deploy_block: int
    block_a: int  # after FIRST_WRITES
    block_b: int  # after SECOND_WRITES


@pytest.fixture(scope="module")
def chain(dev_node: NodeProcess) -> Chain:
    w3 = Web3(Web3.HTTPProvider(dev_node.url, request_kwargs={"timeout": 30}))
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    account = Account.from_key(dev_node.dev_key)
    bytecode, abi = compile_contract("Storage")
    factory = w3.eth.contract(abi=abi, bytecode=bytecode)
    tx = factory.constructor().build_transaction(
        {"from": account.address, "nonce": w3.eth.get_transaction_count(account.address), "gasPrice": 0})
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction), timeout=30)
    assert receipt.status == 1
    storage = w3.eth.contract(address=receipt.contractAddress, abi=abi)

    def write(pairs: dict[int, int]) -> int:
        nonce = w3.eth.get_transaction_count(account.address, "pending")
        hashes = []
        for i, (key, val) in enumerate(pairs.items()):
            # Fixed gas: estimates run against `latest`, not after the earlier txs in the batch.
            tx = storage.functions.set(key, val).build_transaction(
                {"from": account.address, "nonce": nonce + i, "gasPrice": 0, "gas": 200_000})
            hashes.append(w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction))
        receipts = [w3.eth.wait_for_transaction_receipt(h, timeout=30) for h in hashes]
        assert all(r.status == 1 for r in receipts)
        return max(r.blockNumber for r in receipts)

    block_a = write(FIRST_WRITES)
    block_b = write(SECOND_WRITES)
    assert receipt.blockNumber <= block_a < block_b
    return Chain(dev_node.url, w3, receipt.contractAddress, receipt.blockNumber, block_a, block_b)


def expected_storage(height: str) -> dict[int, int]:
    """Slot -> value after block_a ("a") or block_b ("b")."""
    values = dict(FIRST_WRITES)
    writes, last = len(FIRST_WRITES), list(FIRST_WRITES.values())[-1]
    if height == "b":
        values.update(SECOND_WRITES)
        writes += len(SECOND_WRITES)
        last = list(SECOND_WRITES.values())[-1]
    slots = dict.fromkeys(all_slots(), 0)
    slots.update({values_slot(k): v for k, v in values.items()})
    slots[LAST_SLOT] = last
    slots[WRITES_SLOT] = writes
    return slots


def all_slots() -> list[int]:
    keys = set(FIRST_WRITES) | set(SECOND_WRITES) | {123456}
    return [values_slot(k) for k in sorted(keys)] + [LAST_SLOT, WRITES_SLOT, UNSET_SLOT]


def slot_hex(slot: int) -> str:
    return "0x" + slot.to_bytes(32, "big").hex()


def check_proof(chain: Chain, height: int, address: str, slots: list[int]) -> dict[str, Any]:
    """Fetch eth_getProof at `height` and verify everything in it; returns the proof and root."""
    block = rpc(chain.url, "eth_getBlockByNumber", hex(height), False)
    state_root = b(block["stateRoot"])
    proof = rpc(chain.url, "eth_getProof", address, [slot_hex(s) for s in slots], hex(height))
    assert to_canonical_address(proof["address"]) == to_canonical_address(address)

    account_key = keccak(to_canonical_address(address))
    encoded = verify(state_root, account_key, proof["accountProof"])
    assert proof["accountProof"], "the account proof always holds at least the root node"
    assert keccak(b(proof["accountProof"][0])) == state_root
    if encoded:
        nonce, balance, storage_root, code_hash = account_fields(encoded)
    else:
        nonce, balance, storage_root, code_hash = 0, 0, BLANK_ROOT, EMPTY_CODE_HASH
    assert q(proof["nonce"]) == nonce
    assert q(proof["balance"]) == balance
    assert b(proof["storageHash"]) == storage_root
    assert b(proof["codeHash"]) == code_hash
    code = b(rpc(chain.url, "eth_getCode", address, hex(height)))
    assert keccak(code) == code_hash
    assert q(rpc(chain.url, "eth_getBalance", address, hex(height))) == balance
    assert q(rpc(chain.url, "eth_getTransactionCount", address, hex(height))) == nonce

    assert len(proof["storageProof"]) == len(slots)
    proven: dict[int, int] = {}
    for slot, entry in zip(slots, proof["storageProof"]):
        assert q(entry["key"]) == slot
        value = q(entry["value"])
        raw = verify(storage_root, keccak(slot.to_bytes(32, "big")), entry["proof"])
        if value == 0:
            assert raw == b"", f"slot {slot:#x}: value 0 must be a proven absence, got {raw!r}"
        else:
            assert raw == rlp.encode(value), f"slot {slot:#x}: proof shows {raw!r}, rpc says {value}"
        assert q(rpc(chain.url, "eth_getStorageAt", address, slot_hex(slot), hex(height))) == value
        proven[slot] = value
    return {"proof": proof, "state_root": state_root, "encoded": encoded, "values": proven}


def test_account_and_storage_proofs_verify_against_state_root(chain: Chain) -> None:
    result = check_proof(chain, chain.block_b, chain.address, all_slots())
    assert result["encoded"], "the contract account must be proven present"
    nonce, _, storage_root, code_hash = account_fields(result["encoded"])
    assert nonce == 1  # EIP-161: contracts start at nonce 1
    assert storage_root != BLANK_ROOT and code_hash != EMPTY_CODE_HASH
    assert result["values"] == expected_storage("b")
    storage = chain.w3.eth.contract(address=chain.address, abi=compile_contract("Storage")[1])
    assert storage.functions.get(1).call(block_identifier=chain.block_b) == 999


def test_eoa_proof_verifies(chain: Chain, dev_node: NodeProcess) -> None:
    result = check_proof(chain, chain.block_b, dev_node.dev_address, [0, 1])
    nonce, balance, storage_root, code_hash = account_fields(result["encoded"])
    assert nonce == 1 + len(FIRST_WRITES) + len(SECOND_WRITES) and balance > 0
    assert storage_root == BLANK_ROOT and code_hash == EMPTY_CODE_HASH
    assert all(not entry["proof"] for entry in result["proof"]["storageProof"])
    assert result["values"] == {0: 0, 1: 0}


def test_historical_proofs_show_earlier_values(chain: Chain) -> None:
    earlier = check_proof(chain, chain.block_a, chain.address, all_slots())
    later = check_proof(chain, chain.block_b, chain.address, all_slots())
    assert earlier["state_root"] != later["state_root"]
    assert earlier["values"] == expected_storage("a")
    assert earlier["values"][values_slot(1)] == 22 and later["values"][values_slot(1)] == 999
    assert earlier["values"][values_slot(7)] == 77 and later["values"][values_slot(7)] == 0
    assert earlier["values"][values_slot(42)] == 0 and later["values"][values_slot(42)] == 4242
    assert earlier["proof"]["storageHash"] != later["proof"]["storageHash"]
    # Before the deployment block the contract is provably absent.
    before = check_proof(chain, chain.deploy_block - 1, chain.address, [values_slot(1)])
    assert before["encoded"] == b""
    assert before["proof"]["codeHash"] == "0x" + EMPTY_CODE_HASH.hex()
    assert before["values"] == {values_slot(1): 0}


def test_proof_fails_against_another_blocks_state_root(chain: Chain) -> None:
    later = check_proof(chain, chain.block_b, chain.address, [values_slot(1)])
    earlier = check_proof(chain, chain.block_a, chain.address, [values_slot(1)])
    account_key = keccak(to_canonical_address(chain.address))
    later_nodes = decode_nodes(later["proof"]["accountProof"])
    earlier_nodes = decode_nodes(earlier["proof"]["accountProof"])
    assert fails(earlier["state_root"], account_key, later_nodes, later["encoded"])
    assert fails(later["state_root"], account_key, earlier_nodes, earlier["encoded"])
    with pytest.raises(BadTrieProof):
        HexaryTrie.get_from_proof(earlier["state_root"], account_key, later_nodes)
    # Storage: the block_b proof of values[1] (999) does not verify under block_a's storageHash.
    slot_key = keccak(values_slot(1).to_bytes(32, "big"))
    later_storage = decode_nodes(later["proof"]["storageProof"][0]["proof"])
    assert fails(b(earlier["proof"]["storageHash"]), slot_key, later_storage, rlp.encode(999))


def test_tampered_or_missing_node_fails(chain: Chain) -> None:
    result = check_proof(chain, chain.block_b, chain.address, [values_slot(5)])
    root, encoded = result["state_root"], result["encoded"]
    account_key = keccak(to_canonical_address(chain.address))
    nodes = decode_nodes(result["proof"]["accountProof"])
    assert HexaryTrie.get_from_proof(root, account_key, nodes) == encoded
    for index in range(len(nodes)):
        tampered, done = _flip_last_byte(nodes[index])
        assert done
        assert rlp.encode(tampered) != rlp.encode(nodes[index])
        assert fails(root, account_key, nodes[:index] + [tampered] + nodes[index + 1:], encoded), \
            f"account proof still verifies with node {index} tampered"
        assert fails(root, account_key, nodes[:index] + nodes[index + 1:], encoded), \
            f"account proof still verifies with node {index} missing"
        with pytest.raises(BadTrieProof):
            HexaryTrie.get_from_proof(root, account_key, nodes[:index] + nodes[index + 1:])
    # A tampered account leaf cannot claim a different balance either.
    _, balance, storage_root, code_hash = account_fields(encoded)
    forged = rlp.encode([1, balance + 1, storage_root, code_hash])
    assert fails(root, account_key, nodes, forged)

    storage_root = b(result["proof"]["storageHash"])
    slot_key = keccak(values_slot(5).to_bytes(32, "big"))
    storage_nodes = decode_nodes(result["proof"]["storageProof"][0]["proof"])
    assert HexaryTrie.get_from_proof(storage_root, slot_key, storage_nodes) == rlp.encode(55)
    for index in range(len(storage_nodes)):
        tampered, done = _flip_last_byte(storage_nodes[index])
        assert done
        assert fails(storage_root, slot_key,
                     storage_nodes[:index] + [tampered] + storage_nodes[index + 1:], rlp.encode(55))
        assert fails(storage_root, slot_key, storage_nodes[:index] + storage_nodes[index + 1:], rlp.encode(55))
    assert fails(storage_root, slot_key, storage_nodes, rlp.encode(56))


def test_absent_account_has_valid_exclusion_proof(chain: Chain) -> None:
    address = "0x" + os.urandom(20).hex()
    result = check_proof(chain, chain.block_b, address, [0, values_slot(1)])
    assert result["encoded"] == b""
    proof = result["proof"]
    assert q(proof["nonce"]) == 0 and q(proof["balance"]) == 0
    assert b(proof["storageHash"]) == BLANK_ROOT
    assert b(proof["codeHash"]) == EMPTY_CODE_HASH
    assert [q(e["value"]) for e in proof["storageProof"]] == [0, 0]
    # The exclusion proof is bound to its root: it does not verify under another block's root.
    other_root = b(rpc(chain.url, "eth_getBlockByNumber", hex(chain.block_a), False)["stateRoot"])
    with pytest.raises(BadTrieProof):
        HexaryTrie.get_from_proof(other_root, keccak(to_canonical_address(address)),
                                  decode_nodes(proof["accountProof"]))
    # Dropping the root node makes the exclusion unprovable.
    with pytest.raises(BadTrieProof):
        HexaryTrie.get_from_proof(result["state_root"], keccak(to_canonical_address(address)),
                                  decode_nodes(proof["accountProof"])[1:])


def test_unset_slot_proves_zero(chain: Chain) -> None:
    slots = [UNSET_SLOT, values_slot(123456), values_slot(7)]  # values[7] was set, then zeroed
    result = check_proof(chain, chain.block_b, chain.address, slots)
    assert result["values"] == dict.fromkeys(slots, 0)
    storage_root = b(result["proof"]["storageHash"])
    for slot, entry in zip(slots, result["proof"]["storageProof"]):
        assert entry["proof"], "an exclusion proof in a non-empty trie holds at least the root"
        assert HexaryTrie.get_from_proof(storage_root, keccak(slot.to_bytes(32, "big")),
                                         decode_nodes(entry["proof"])) == b""
