"""chaincode/events.py, the one decoder of the system contracts' events, against logs a real
node served (tests/vectors/system_events/) and against two independent decoders: web3's
`process_log` (what the SDK used to return) and eth_abi (what `ledger audit tx` used to show)."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from eth_abi import decode as abi_decode, encode as abi_encode
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3

from chaincode import SYSTEM_CONTRACTS, load_artifact
from chaincode.events import EVENT_TYPES, EventDecodeError, decode_log, decode_rpc_log, encode_log, event_type

RECORDED = Path(__file__).resolve().parents[2] / "vectors" / "system_events" / "logs.json"


def recorded_logs() -> list[dict[str, Any]]:
    return [log for tx in json.loads(RECORDED.read_text())["transactions"] for log in tx["logs"]]


def web3_log(log: dict[str, Any]) -> dict[str, Any]:
    """A JSON-RPC log as web3 formats it for `process_log`."""
    return {
        "address": to_checksum_address(log["address"]), "topics": [HexBytes(t) for t in log["topics"]],
        "data": HexBytes(log["data"]), "logIndex": int(log["logIndex"], 16),
        "transactionIndex": int(log["transactionIndex"], 16), "transactionHash": HexBytes(log["transactionHash"]),
        "blockHash": HexBytes(log["blockHash"]), "blockNumber": int(log["blockNumber"], 16),
    }


def plain(abi_type: str, value: Any) -> Any:
    """eth_abi's value in the JSON form of the feed and /v1/."""
    if abi_type == "address[]":
        return [to_checksum_address(v) for v in value]
    if abi_type == "address":
        return to_checksum_address(value)
    return "0x" + value.hex() if isinstance(value, bytes) else value


def test_the_recording_holds_every_event_of_every_system_contract() -> None:
    seen = {(event.contract, event.name) for event in map(decode_rpc_log, recorded_logs()) if event is not None}
    assert seen == {(t.contract, t.name) for t in EVENT_TYPES.values()}
    assert len(seen) == 27
    assert {name for contract, name in seen if contract == "SealRegistry"} == {
        "SealRegistered", "SealApproval", "SealApproved", "SealRevoked"}
    assert ("ContractRegistry", "ContractPdfSigned") in seen


def test_recorded_logs_decode_as_web3_and_eth_abi_decode_them() -> None:
    w3 = Web3()
    contracts = {address: w3.eth.contract(address=to_checksum_address(address), abi=load_artifact(name).abi)
                 for name, address in SYSTEM_CONTRACTS.items()}
    logs = recorded_logs()
    assert len(logs) >= 50
    for log in logs:
        event = decode_rpc_log(log)
        assert event is not None, log
        # 1. The SDK's form: ABI names, bytes as bytes — what web3's process_log gives.
        reference = getattr(contracts[event.type.address].events, event.name)().process_log(web3_log(log))
        assert event.abi_args() == dict(reference["args"]), event.name
        # 2. The feed's form: camelCase, JSON values — eth_abi's values, rendered.
        data = abi_decode([f.abi_type for f in event.type.data], bytes.fromhex(log["data"][2:]))
        expected = {f.key: plain(f.abi_type, abi_decode([f.abi_type], bytes.fromhex(t[2:]))[0])
                    for f, t in zip(event.type.indexed, log["topics"][1:])}
        expected.update({f.key: plain(f.abi_type, v) for f, v in zip(event.type.data, data)})
        assert event.args == expected, event.name
        # 3. The same log given as bytes (web3's receipts) decodes the same.
        assert decode_rpc_log(web3_log(log)) == event
    # text the contracts were given in Chinese reads back unchanged
    texts = {value for e in map(decode_rpc_log, logs) if e is not None for value in e.args.values()
             if isinstance(value, str)}
    assert {"P-2026-工程-001", "Land Bureau 土地局", "(2026) 京01民初123号", "投标人合同专用章"} <= texts


def test_logs_that_are_not_system_events() -> None:
    log = next(log for log in recorded_logs() if len(log["topics"]) > 1)
    address, topics, data = (bytes.fromhex(log["address"][2:]), [bytes.fromhex(t[2:]) for t in log["topics"]],
                             bytes.fromhex(log["data"][2:]))
    assert decode_log(address, topics, data) is not None
    assert decode_log(b"\x99" * 20, topics, data) is None            # another contract's log
    assert decode_log(address, [], data) is None                      # an anonymous log
    assert decode_log(address, [b"\x01" * 32, *topics[1:]], data) is None  # no event of this contract
    with pytest.raises(EventDecodeError, match="indexed topics") as caught:
        decode_log(address, topics[:-1], data)
    assert (caught.value.contract, caught.value.event) == (decode_log(address, topics, data).contract,  # type: ignore[union-attr]
                                                           decode_log(address, topics, data).name)  # type: ignore[union-attr]


def test_malformed_data_is_refused_never_misread() -> None:
    anchored = event_type("EvidenceRegistry", "Anchored")
    args = {"digest": b"\x01" * 32, "submitter": "0x" + "22" * 20, "caseHash": b"\x03" * 32, "kind": "webpage",
            "caseRef": "case", "digestAlgorithm": 1, "leafCount": 1, "metadataDigest": b"\x00" * 32, "anchoring": 1}
    address, topic_ints, data = encode_log("EvidenceRegistry", "Anchored", args)
    topics = [t.to_bytes(32, "big") for t in topic_ints]
    assert decode_log(address, topics, data).args["kind"] == "webpage"  # type: ignore[union-attr]
    dirty = [*topics[:2], b"\x01" + topics[2][1:], topics[3]]          # an address topic with high bytes set
    offsets = {f.key: 32 * i for i, f in enumerate(anchored.data)}
    too_wide = bytearray(data)
    too_wide[offsets["digestAlgorithm"]] = 1                           # a uint8 holding 2**248 + 1
    for bad_topics, bad_data, reason in ((topics, data[:-1], "ends inside"), (dirty, data, "dirty high bytes"),
                                         (topics, bytes(too_wide), "cannot decode uint8"),
                                         (topics, _word(data, offsets["kind"], b"\xff" * 32), "out of range")):
        with pytest.raises(EventDecodeError, match=reason):
            decode_log(address, bad_topics, bad_data)


def _word(data: bytes, offset: int, word: bytes) -> bytes:
    """`data` with the 32-byte word at `offset` replaced (here: a string's offset, far past the end)."""
    return data[:offset] + word + data[offset + 32:]


def random_value(rng: random.Random, abi_type: str) -> Any:
    if abi_type == "address[]":
        return ["0x" + rng.randbytes(20).hex() for _ in range(rng.randrange(0, 6))]
    if abi_type == "address":
        return "0x" + rng.randbytes(20).hex()
    if abi_type == "bool":
        return rng.random() < 0.5
    if abi_type == "bytes32":
        return rng.randbytes(32)
    if abi_type == "bytes":
        return rng.randbytes(rng.randrange(0, 300))
    if abi_type == "string":
        return "".join(rng.choice("ab工程合同 €") for _ in range(rng.randrange(0, 80)))
    return rng.randrange(0, 2 ** int(abi_type[4:]))


def test_the_log_codec_agrees_with_eth_abi_on_every_event_type() -> None:
    """decode_log has its own ABI decoder (eth_abi costs ~10x, in every block commit), and
    encode_log its own encoder (the query benchmark encodes 1.15M logs): for random values
    of every system event, they must write and read what eth_abi writes and reads."""
    rng = random.Random(11)
    for (address_bytes, _), found in EVENT_TYPES.items():
        fields = found.indexed + found.data
        for _ in range(20):
            args = {f.key: random_value(rng, f.abi_type) for f in fields}
            _, topics, data = encode_log(found.contract, found.name, args)
            assert data == abi_encode([f.abi_type for f in found.data], [args[f.key] for f in found.data])
            for f, topic in zip(found.indexed, topics[1:]):
                assert topic.to_bytes(32, "big") == abi_encode([f.abi_type], [args[f.key]]), (found.name, f.name)
            decoded = decode_log(address_bytes, [t.to_bytes(32, "big") for t in topics], data)
            assert decoded is not None and decoded.type is found, found.name
            reference = abi_decode([f.abi_type for f in found.data], data)
            for f, value in zip(found.data, reference):
                assert decoded.args[f.key] == plain(f.abi_type, value), (found.name, f.name)
            # truncated data is refused, never mis-read (an event with every argument indexed,
            # SealApproved, has no data to truncate: a topic short is refused instead)
            if data:
                with pytest.raises(EventDecodeError, match="ends inside"):
                    decode_log(address_bytes, [t.to_bytes(32, "big") for t in topics], data[:-1])
            else:
                assert not found.data
                with pytest.raises(EventDecodeError, match="indexed topics"):
                    decode_log(address_bytes, [t.to_bytes(32, "big") for t in topics[:-1]], data)


def test_the_log_encoder_refuses_what_the_abi_cannot_carry() -> None:
    args = {"digest": b"\x01" * 32, "submitter": "0x" + "22" * 20, "caseHash": b"\x03" * 32, "kind": "webpage",
            "caseRef": "", "digestAlgorithm": 1, "leafCount": 1, "metadataDigest": b"\x00" * 32, "anchoring": 1}
    for field, value in (("leafCount", -1), ("leafCount", 2 ** 256), ("leafCount", True), ("submitter", "0x1234"),
                         ("digest", b"\x01" * 33), ("digestAlgorithm", 2 ** 8)):
        with pytest.raises(ValueError):
            encode_log("EvidenceRegistry", "Anchored", {**args, field: value})
    with pytest.raises(KeyError):
        encode_log("EvidenceRegistry", "NoSuchEvent", args)
