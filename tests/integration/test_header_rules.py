"""Recompute every block's hash and commit-seal signers from the raw header, independently.

The rules (Hyperledger Besu QBFT, Cancun header) are re-implemented here from their
statement, with `rlp`, `eth_utils.keccak` and `eth_keys`/`coincurve` only; nothing is
imported from `node.` or `evidence.`:

* ``extraData = RLP[vanity(32), [validator...], vote, round, [seal...]]`` with ``vote`` ``[]``
  or ``[address, 0xff|0x00]`` and ``round`` an RLP integer scalar;
* ``mixHash`` is the constant 0x6374...6365 (ASCII "ctical byzantine fault tolerance"),
  difficulty 1, nonce 0, baseFee 0;
* a commit seal is a 65-byte secp256k1 signature ``r || s || recid(0/1)`` over
  keccak(RLP(header)) with the seals list emptied (round kept);
* the block hash is keccak(RLP(header)) with the seals emptied AND round set to 0.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import coincurve
import pytest
import rlp
from eth_account import Account
from eth_keys import keys
from eth_utils import keccak, to_canonical_address
from web3 import Web3
from web3.middleware import ExtraDataToPOAMiddleware

from tests.integration.nodeproc import NodeProcess, rpc

pytestmark = pytest.mark.slow

QBFT_MIX_HASH = bytes.fromhex("63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365")
EXTRA_DATA = 12  # index of extraData in the header field list
HEADER_FIELDS = [  # the Cancun header, in RLP order, by their JSON-RPC names
    "parentHash", "sha3Uncles", "miner", "stateRoot", "transactionsRoot", "receiptsRoot",
    "logsBloom", "difficulty", "number", "gasLimit", "gasUsed", "timestamp", "extraData",
    "mixHash", "nonce", "baseFeePerGas", "withdrawalsRoot", "blobGasUsed", "excessBlobGas",
    "parentBeaconBlockRoot",
]
QUANTITIES = {"difficulty", "number", "gasLimit", "gasUsed", "timestamp", "baseFeePerGas",
              "blobGasUsed", "excessBlobGas"}
FIXED_LENGTHS = {"parentHash": 32, "sha3Uncles": 32, "miner": 20, "stateRoot": 32,
                 "transactionsRoot": 32, "receiptsRoot": 32, "logsBloom": 256, "mixHash": 32,
                 "nonce": 8, "withdrawalsRoot": 32, "parentBeaconBlockRoot": 32}
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


# -- the rules, written out ------------------------------------------------------------



def b(hex_str: str) -> bytes:
    return bytes.fromhex(hex_str.removeprefix("0x"))


def scalar(value: int) -> bytes:
    """An RLP integer scalar: big-endian, no leading zeros, 0 as the empty string."""
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def header_from_json(block: dict[str, Any]) -> list[bytes]:
    """The header field list rebuilt from eth_getBlockByNumber's JSON."""
    fields = []
    for name in HEADER_FIELDS:
        if name in QUANTITIES:
            fields.append(scalar(int(block[name], 16)))
        else:
            value = b(block[name])
            if name in FIXED_LENGTHS:
                assert len(value) == FIXED_LENGTHS[name], f"{name} has {len(value)} bytes"
            fields.append(value)
    return fields


@dataclass(frozen=True)
class Extra:
    vanity: bytes
    validators: list[bytes]
    vote: list[bytes]
    round: bytes  # the raw RLP scalar
    seals: list[bytes]

    @classmethod
    def parse(cls, data: bytes) -> Extra:
        items = rlp.decode(data, strict=True)
        assert isinstance(items, list) and len(items) == 5, "extraData is RLP of a 5-item list"
        vanity, validators, vote, round_bytes, seals = items
        assert isinstance(vanity, bytes) and len(vanity) == 32
        assert isinstance(validators, list) and all(isinstance(v, bytes) and len(v) == 20 for v in validators)
        assert isinstance(vote, list) and (
            vote == [] or (len(vote) == 2 and len(vote[0]) == 20 and vote[1] in (b"\xff", b"\x00")))
        assert isinstance(round_bytes, bytes) and not round_bytes.startswith(b"\x00"), "round is a scalar"
        assert isinstance(seals, list) and all(isinstance(s, bytes) for s in seals)
        assert rlp.encode(items) == data, "extraData RLP is canonical"
        return cls(vanity, validators, vote, round_bytes, seals)

    @property
    def round_number(self) -> int:
        return int.from_bytes(self.round, "big")

    def encode(self, *, round_bytes: bytes | None = None, seals: list[bytes] | None = None) -> bytes:
        return rlp.encode([self.vanity, self.validators, self.vote,
                           self.round if round_bytes is None else round_bytes,
                           self.seals if seals is None else seals])


def with_extra(fields: list[bytes], extra: bytes) -> list[bytes]:
    patched = list(fields)
    patched[EXTRA_DATA] = extra
    return patched


def qbft_block_hash(fields: list[bytes]) -> bytes:
    extra = Extra.parse(fields[EXTRA_DATA])
    return keccak(rlp.encode(with_extra(fields, extra.encode(round_bytes=b"", seals=[]))))


def seal_digest(fields: list[bytes]) -> bytes:
    extra = Extra.parse(fields[EXTRA_DATA])
    return keccak(rlp.encode(with_extra(fields, extra.encode(seals=[]))))


def recover(seal: bytes, digest: bytes) -> bytes:
    """The signer of a 65-byte r||s||recid seal, by eth_keys; cross-checked with coincurve."""
    assert len(seal) == 65 and seal[64] in (0, 1), "seal is r(32) s(32) recid(0/1)"
    signer = keys.Signature(signature_bytes=seal).recover_public_key_from_msg_hash(digest)
    address = signer.to_canonical_address()
    public = coincurve.PublicKey.from_signature_and_message(seal, digest, hasher=None)
    assert keccak(public.format(compressed=False)[1:])[12:] == address
    return address


def quorum(n: int) -> int:
    return -(-2 * n // 3)


# -- fixtures ---------------------------------------------------------------------------

@dataclass
class Chain:
    url: str
    head: int
    blocks: list[dict[str, Any]]  # JSON blocks 0..head
    raw: list[bytes]  # debug_getRawHeader 0..head


@pytest.fixture(scope="module")
def chain(dev_node: NodeProcess) -> Chain:
    w3 = Web3(Web3.HTTPProvider(dev_node.url, request_kwargs={"timeout": 30}))
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    account = Account.from_key(dev_node.dev_key)

    def transfer(nonce: int) -> bytes:
        tx = {"to": Web3.to_checksum_address(os.urandom(20)), "value": 10**15 + nonce, "gas": 21_000, "gasPrice": 0,
              "nonce": nonce, "chainId": w3.eth.chain_id}
        return w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)

    nonce = w3.eth.get_transaction_count(account.address, "pending")
    for _ in range(3):  # one at a time: a block each
        assert w3.eth.wait_for_transaction_receipt(transfer(nonce), timeout=30).status == 1
        nonce += 1
    batch = [transfer(nonce + i) for i in range(4)]  # a burst: blocks with several txs
    assert all(w3.eth.wait_for_transaction_receipt(h, timeout=30).status == 1 for h in batch)

    head = int(rpc(dev_node.url, "eth_blockNumber"), 16)
    assert head >= 4
    blocks = [rpc(dev_node.url, "eth_getBlockByNumber", hex(n), False) for n in range(head + 1)]
    raw = [b(rpc(dev_node.url, "debug_getRawHeader", hex(n))) for n in range(head + 1)]
    return Chain(dev_node.url, head, blocks, raw)


# -- tests ------------------------------------------------------------------------------

def test_raw_header_equals_header_rebuilt_from_json(chain: Chain) -> None:
    for number, (block, raw) in enumerate(zip(chain.blocks, chain.raw)):
        decoded = rlp.decode(raw, strict=True)
        assert isinstance(decoded, list) and len(decoded) == 20, f"block {number}: 20-field Cancun header"
        assert all(isinstance(f, bytes) for f in decoded)
        rebuilt = header_from_json(block)
        for name, ours, theirs in zip(HEADER_FIELDS, rebuilt, decoded):
            assert ours == theirs, f"block {number}: field {name} differs: json {ours.hex()} raw {theirs.hex()}"
        assert rlp.encode(rebuilt) == raw, f"block {number}: rebuilt header is not byte-identical"
        assert int(block["number"], 16) == number


def test_block_hash_and_parent_links(chain: Chain) -> None:
    for number, (block, raw) in enumerate(zip(chain.blocks, chain.raw)):
        fields = rlp.decode(raw)
        computed = qbft_block_hash(fields)
        assert computed == b(block["hash"]), f"block {number}: hash {computed.hex()} != json {block['hash']}"
        assert qbft_block_hash(header_from_json(block)) == computed
        if number < chain.head:
            assert b(chain.blocks[number + 1]["parentHash"]) == computed, f"block {number + 1} parentHash"
        by_hash = rpc(chain.url, "eth_getBlockByHash", block["hash"], False)
        assert by_hash["number"] == block["number"] and by_hash["hash"] == block["hash"]
    assert b(chain.blocks[0]["parentHash"]) == b"\x00" * 32


def test_fixed_qbft_fields(chain: Chain) -> None:
    for number, block in enumerate(chain.blocks):
        fields = header_from_json(block)
        assert fields[13] == QBFT_MIX_HASH, f"block {number}: mixHash"
        assert int(block["difficulty"], 16) == 1, f"block {number}: difficulty"
        assert fields[14] == b"\x00" * 8, f"block {number}: nonce"
        assert int(block["baseFeePerGas"], 16) == 0, f"block {number}: baseFeePerGas"
        assert fields[1] == keccak(rlp.encode([])), f"block {number}: no uncles"
        extra = Extra.parse(fields[EXTRA_DATA])
        assert len(extra.vanity) == 32


def test_commit_seals_recover_to_validators(chain: Chain) -> None:
    sealed_blocks = 0
    for number in range(chain.head + 1):
        fields = rlp.decode(chain.raw[number])
        extra = Extra.parse(fields[EXTRA_DATA])
        chain_validators = [to_canonical_address(v)
                            for v in rpc(chain.url, "qbft_getValidatorsByBlockNumber", hex(number))]
        assert sorted(chain_validators) == sorted(extra.validators), \
            f"block {number}: qbft_getValidatorsByBlockNumber != extraData validators"
        if number == 0:
            assert extra.seals == [] and extra.round_number == 0, "genesis carries no seals"
            continue
        parent_validators = [to_canonical_address(v)
                             for v in rpc(chain.url, "qbft_getValidatorsByBlockNumber", hex(number - 1))]
        digest = seal_digest(fields)
        signers = []
        for seal in extra.seals:
            assert len(seal) == 65
            r, s = int.from_bytes(seal[:32], "big"), int.from_bytes(seal[32:64], "big")
            assert 0 < r < SECP256K1_N and 0 < s < SECP256K1_N
            signer = recover(seal, digest)
            assert signer in parent_validators, f"block {number}: seal by 0x{signer.hex()} not a parent validator"
            assert signer in extra.validators, f"block {number}: seal by 0x{signer.hex()} not in extraData"
            signers.append(signer)
        assert len(set(signers)) == len(signers), f"block {number}: duplicate seals"
        assert len(signers) >= quorum(len(parent_validators)), \
            f"block {number}: {len(signers)} seals < quorum {quorum(len(parent_validators))}"
        sealed_blocks += 1
    assert sealed_blocks == chain.head >= 4


def test_genesis_json_validators_equal_chain_validators(chain: Chain, dev_node: NodeProcess) -> None:
    genesis = json.loads((dev_node.data_dir / "genesis.json").read_text())
    genesis_extra = Extra.parse(b(genesis["extraData"]))
    assert genesis_extra.seals == [] and genesis_extra.round_number == 0 and genesis_extra.vote == []
    assert b(chain.blocks[0]["extraData"]) == b(genesis["extraData"])
    assert int(genesis["difficulty"], 16) == 1 and b(genesis["mixHash"]) == QBFT_MIX_HASH
    validators = genesis_extra.validators
    assert validators, "genesis names at least one validator"
    for number in range(chain.head + 1):
        on_chain = [to_canonical_address(v)
                    for v in rpc(chain.url, "qbft_getValidatorsByBlockNumber", hex(number))]
        assert on_chain == validators, f"block {number}: validators differ from genesis.json"
        assert Extra.parse(b(chain.blocks[number]["extraData"])).validators == validators
    latest = [to_canonical_address(v) for v in rpc(chain.url, "qbft_getValidatorsByBlockNumber", "latest")]
    assert latest == validators


def test_flipped_seal_byte_changes_signer(chain: Chain) -> None:
    fields = rlp.decode(chain.raw[chain.head])
    extra = Extra.parse(fields[EXTRA_DATA])
    digest = seal_digest(fields)
    seal = extra.seals[0]
    signer = recover(seal, digest)
    assert signer in extra.validators
    for position in (5, 40, 63):  # in r, in s, last byte of s
        flipped = seal[:position] + bytes([seal[position] ^ 0x01]) + seal[position + 1:]
        try:
            other = keys.Signature(signature_bytes=flipped).recover_public_key_from_msg_hash(digest)
        except Exception:  # r no longer an x-coordinate on the curve: nothing recovers at all
            continue
        assert other.to_canonical_address() != signer
        assert other.to_canonical_address() not in extra.validators
    flipped_recid = seal[:64] + bytes([seal[64] ^ 0x01])
    assert recover(flipped_recid, digest) != signer
    # The same seal over a digest with one header field changed recovers someone else.
    changed = list(fields)
    changed[11] = scalar(int.from_bytes(fields[11], "big") + 1)  # timestamp
    assert recover(seal, seal_digest(changed)) != signer


def test_hash_rule_excludes_round_and_seals(chain: Chain) -> None:
    fields = rlp.decode(chain.raw[chain.head])
    extra = Extra.parse(fields[EXTRA_DATA])
    block_hash = qbft_block_hash(fields)
    digest = seal_digest(fields)
    signer = recover(extra.seals[0], digest)
    assert block_hash == b(chain.blocks[chain.head]["hash"])

    # Another round: a different seal digest (the seal no longer recovers to the validator),
    # the same block hash.
    other_round = with_extra(fields, extra.encode(round_bytes=scalar(extra.round_number + 1)))
    assert seal_digest(other_round) != digest
    assert qbft_block_hash(other_round) == block_hash
    assert recover(extra.seals[0], seal_digest(other_round)) != signer
    high_round = with_extra(fields, extra.encode(round_bytes=scalar(7)))
    assert qbft_block_hash(high_round) == block_hash

    # Other seals (none, or an extra junk one): the same digest and the same block hash.
    no_seals = with_extra(fields, extra.encode(seals=[]))
    more_seals = with_extra(fields, extra.encode(seals=extra.seals + [b"\x01" * 65]))
    for variant in (no_seals, more_seals):
        assert seal_digest(variant) == digest
        assert qbft_block_hash(variant) == block_hash

    # Hashing the header as stored (seals in) is not the block hash; nor is the seal digest
    # when the round is not 0. Any other field does change the hash.
    assert keccak(rlp.encode(fields)) != block_hash
    if extra.round_number != 0:
        assert digest != block_hash
    else:
        assert digest == block_hash  # round 0: the two rules coincide
    changed = list(fields)
    changed[11] = scalar(int.from_bytes(fields[11], "big") + 1)
    assert qbft_block_hash(changed) != block_hash
    other_validators = with_extra(fields, rlp.encode(
        [extra.vanity, extra.validators + [b"\x11" * 20], extra.vote, extra.round, extra.seals]))
    assert qbft_block_hash(other_validators) != block_hash
