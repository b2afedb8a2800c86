"""Hypothesis strategies for fuzzing the node's JSON-RPC: calls for every method in the route
table with valid-shaped and hostile parameters, batches, raw-body mutations, and the checks
that every answer is well-formed JSON-RPC.

Pure: no sockets, no node. The values only a running chain knows (the dev account, a mined
transaction, installed filter ids) come in as a `Known`; tests/integration/test_fuzz.py
sends what these strategies build to a real node process.
"""
from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils.abi import function_abi_to_4byte_selector
from hypothesis import strategies as st

from chaincode import PKI_PRECOMPILE, SYSTEM_CONTRACTS, load_artifact
from node.rpc.filters import MAX_ADDRESSES
from node.rpc.jsonrpc import INVALID_REQUEST, MAX_JSON_DEPTH, PARSE_ERROR
from node.rpc.methods import MAX_PROOF_KEYS, ROUTES

JSON = Any

# -- sizes -----------------------------------------------------------------------------------
# Every body stays under the node's 5 MiB cap (node.rpc.app.MAX_BODY_BYTES) so it reaches the
# handlers: a list of a million small numbers is ~3 MB of JSON ("1, " each), a list of 20,000
# 32-byte hashes ~1.4 MB.
HUGE_LIST_SIZES = (1_000, 10_000, 100_000, 1_000_000)
HUGE_HASH_LIST_SIZES = (MAX_ADDRESSES + 1, 5_000, 20_000)
# Calldata / raw transaction sizes in bytes: one page, a block's worth, a megabyte (2 MB of hex).
BIG_DATA_SIZES = (4_096, 131_072, 1_048_576)
# Nesting depths around the node's cap (node.rpc.app.MAX_JSON_DEPTH); the value sits inside
# a call object and its params array, so the body nests two levels deeper (three in a batch).
NEST_DEPTHS = (8, 32, MAX_JSON_DEPTH - 3, MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 500)
# Calls in one generated batch: enough for duplicate ids and mixed methods, few enough that a
# batch of eth_calls at the node's gas cap still answers within the tests' deadline once the
# node bounds a batch's total work.
MAX_FUZZ_BATCH = 24
# A string in a generated value: long enough for odd unicode, short enough to keep examples small.
MAX_TEXT = 40

# Characters that broke JSON-RPC servers before: lone surrogates (not encodable as UTF-8:
# a server that echoes one in an id or method name without escaping fails to encode its
# own answer), NUL and other controls, line/paragraph separators (invalid in JavaScript
# strings), BOM, noncharacters, bidi overrides, combining marks, astral planes, JSON syntax.
ODD_CHARACTERS = (
    "\ud800", "\udbff", "\udc00", "\udfff", "\x00", "\x1f", "\x7f", "\u0085", "\u2028", "\u2029",
    "\ufeff", "\ufffe", "\uffff", "\U0010ffff", "\u202e", "\u0301", "\U0001f600", "\\", '"', "'",
)
BLOCK_TAGS = ("latest", "earliest", "pending", "safe", "finalized")
ZERO_ADDRESS = "0x" + "00" * 20
# The standard precompiles (ecrecover .. point evaluation) besides our PKI precompile.
STANDARD_PRECOMPILES = tuple("0x" + i.to_bytes(20, "big").hex() for i in range(1, 11))
SYSTEM_ADDRESSES = tuple("0x" + a.hex() for a in (PKI_PRECOMPILE, *SYSTEM_CONTRACTS.values()))

# EVM code for eth_call / eth_estimateGas (sent as contract-creation input, `to` absent):
# LOOP_FOREVER burns whatever gas it is given (JUMPDEST PUSH1 0 JUMP) and fails;
# BURN_TO_100K loops while GAS > 100,000 and then STOPs, so it succeeds at any gas above
# that and eth_estimateGas's binary search runs it at every probe.
LOOP_FOREVER = "0x5b600056"
BURN_TO_100K = "0x5b5a620186a01060005700"


def revert_code(reason: str) -> str:
    """Contract-creation code that REVERTs with Error(reason), as a contract's require()
    does: the node decodes the reason into its error message (node.rpc.methods)."""
    text = reason.encode()
    payload = bytes.fromhex("08c379a0") + (32).to_bytes(32, "big") + len(text).to_bytes(32, "big") \
        + text.ljust(-(-len(text) // 32) * 32 or 32, b"\0")
    code = b""
    for offset in range(0, len(payload), 32):
        code += b"\x7f" + payload[offset:offset + 32].ljust(32, b"\0") + b"\x60" + bytes([offset]) + b"\x52"
    code += b"\x60" + bytes([len(payload)]) + b"\x60\x00\xfd"  # PUSH1 len PUSH1 0 REVERT
    return "0x" + code.hex()


REVERT_WITH_REASON = revert_code("fuzz \u2028 reason")


@dataclass(frozen=True)
class Known:
    """Values a running dev chain knows, so that some calls hit real state."""

    addresses: tuple[str, ...]        # the dev account, the validator, ...
    transaction_hashes: tuple[str, ...]
    block_hashes: tuple[str, ...]
    filter_ids: tuple[str, ...]
    raw_transactions: tuple[str, ...]  # signed by the dev key, some valid, some not


# -- scalars -----------------------------------------------------------------------------------

def odd_text(max_size: int = MAX_TEXT) -> st.SearchStrategy[str]:
    """Strings of ordinary unicode, most with ODD_CHARACTERS (lone surrogates included) in
    them: Hypothesis's own text rarely draws these, so they are put in on purpose."""
    plain = st.text(max_size=max_size // 2)
    odd = st.sampled_from(ODD_CHARACTERS)
    return st.one_of(
        plain,
        st.text(alphabet=odd, min_size=1, max_size=4),
        st.builds(lambda head, char, tail: head + char + tail, plain, odd, plain),
    )


def hex_of(raw: bytes) -> str:
    return "0x" + raw.hex()


def big_ints() -> st.SearchStrategy[int]:
    """Integers at the edges: around 2**64 and 2**256, negative, and far beyond."""
    edges = [0, 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**255, 2**256 - 1, 2**256, 2**512, 10**100]
    return st.sampled_from(edges + [-e for e in edges[1:]]) | st.integers(-2**300, 2**300)


def finite_floats() -> st.SearchStrategy[float]:
    return st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([-0.0, 0.5, 1e308, 5e-324, 1e21])


def scalars() -> st.SearchStrategy[JSON]:
    return st.none() | st.booleans() | big_ints() | finite_floats() | odd_text()


def json_values(max_leaves: int = 12) -> st.SearchStrategy[JSON]:
    """Arbitrary (finite) JSON values of a few levels, odd strings included."""
    return st.recursive(
        scalars(),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(odd_text(12), children, max_size=4),
        max_leaves=max_leaves,
    )


def nested(depth: int, leaf: JSON, as_object: bool) -> JSON:
    value = leaf
    for _ in range(depth):
        value = {"a": value} if as_object else [value]
    return value


def deep_values() -> st.SearchStrategy[JSON]:
    """Arrays or objects nested to around the node's depth cap."""
    return st.builds(nested, st.sampled_from(NEST_DEPTHS), scalars(), st.booleans())


def huge_lists(element: st.SearchStrategy[JSON], sizes: Sequence[int] = HUGE_LIST_SIZES) -> st.SearchStrategy[JSON]:
    """One element repeated: the size is what matters, and Hypothesis need not draw a million values."""
    return st.builds(lambda size, value: [value] * size, st.sampled_from(sizes), element)


def hostile() -> st.SearchStrategy[JSON]:
    """Values of the wrong type or shape for any parameter."""
    small = st.sampled_from([0, 1, 50, 1e-9, 99.99])
    return st.one_of(
        json_values(),
        deep_values(),
        huge_lists(small),
        st.sampled_from(["", "0x", "0X", "0x0x1", "-0x1", "0x-1", "0x 1", " 0x1", "0x1_0", "1e3", "latest ",
                         "LATEST", "null", "NaN", "Infinity", "0x" + "f" * 65, "0xg", [], {}, [[]], [{}], {"": None}]),
        big_ints(),
        finite_floats(),
        odd_text(),
    )


def sometimes_hostile(valid: st.SearchStrategy[JSON]) -> st.SearchStrategy[JSON]:
    """Mostly `valid`, about one time in four something hostile."""
    return st.integers(0, 3).flatmap(lambda roll: hostile() if roll == 0 else valid)


# -- valid-shaped parameters --------------------------------------------------------------------

def quantities() -> st.SearchStrategy[JSON]:
    """Hex quantities small and huge (past 2**256 too), with leading zeros, upper-case X, and
    the decimal JSON numbers geth also takes."""
    value = st.integers(0, 64) | big_ints().map(abs)
    return st.one_of(
        value.map(hex),
        value.map(lambda v: "0x" + format(v, "0128x")),
        value.map(lambda v: "0X" + format(v, "X")),
        st.integers(0, 2**256 - 1),
    )


def data_hex() -> st.SearchStrategy[str]:
    return st.one_of(
        st.binary(max_size=64).map(hex_of),
        st.builds(lambda n, b: "0x" + (b * n).hex(), st.sampled_from(BIG_DATA_SIZES), st.binary(min_size=1, max_size=1)),
        st.sampled_from(["0x", "0x0", "0xabc", "0xZZ", "0X00"]),
    )


def addresses(known: Known) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(known.addresses + SYSTEM_ADDRESSES + STANDARD_PRECOMPILES + (ZERO_ADDRESS,)),
        st.binary(min_size=20, max_size=20).map(hex_of),
        st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex().upper()),
        st.binary(min_size=0, max_size=40).map(hex_of),  # wrong lengths
    )


def hashes32(known: Known) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(known.transaction_hashes + known.block_hashes),
        st.binary(min_size=32, max_size=32).map(hex_of),
        st.binary(min_size=0, max_size=40).map(hex_of),
    )


def block_tags(known: Known) -> st.SearchStrategy[JSON]:
    return st.one_of(
        st.sampled_from(BLOCK_TAGS),
        st.integers(0, 8).map(hex),
        quantities(),
        st.fixed_dictionaries({"blockHash": hashes32(known)}, optional={"requireCanonical": st.booleans()}),
        st.fixed_dictionaries({"blockNumber": st.one_of(st.sampled_from(BLOCK_TAGS), quantities())}),
        st.just({}),
    )


def slots() -> st.SearchStrategy[JSON]:
    return quantities() | st.binary(min_size=32, max_size=32).map(hex_of)


def topic_positions(known: Known) -> st.SearchStrategy[JSON]:
    topic = sometimes_hostile(hashes32(known))
    position = st.one_of(st.none(), topic, st.lists(topic, max_size=4),
                         huge_lists(st.binary(min_size=32, max_size=32).map(hex_of), HUGE_HASH_LIST_SIZES))
    return st.lists(position, max_size=5)


def filters(known: Known) -> st.SearchStrategy[JSON]:
    address = st.one_of(addresses(known), st.lists(addresses(known), max_size=4),
                        huge_lists(addresses(known), HUGE_HASH_LIST_SIZES))
    return st.fixed_dictionaries({}, optional={
        "fromBlock": sometimes_hostile(block_tags(known)),
        "toBlock": sometimes_hostile(block_tags(known)),
        "address": sometimes_hostile(address),
        "topics": sometimes_hostile(topic_positions(known)),
        "blockHash": sometimes_hostile(hashes32(known)),
    })


@functools.cache
def system_selectors() -> tuple[str, ...]:
    """The 4-byte selectors of every function of the genesis system contracts."""
    found = []
    for name in SYSTEM_CONTRACTS:
        for entry in load_artifact(name).abi:
            if entry.get("type") == "function":
                found.append(function_abi_to_4byte_selector(entry).hex())
    return tuple(sorted(set(found)))


def calldata() -> st.SearchStrategy[str]:
    words = st.lists(st.binary(min_size=32, max_size=32), max_size=6)
    return st.one_of(
        data_hex(),
        st.builds(lambda sel, ws: "0x" + sel + b"".join(ws).hex(), st.sampled_from(system_selectors()), words),
        st.sampled_from([LOOP_FOREVER, BURN_TO_100K, REVERT_WITH_REASON]),
    )


def call_objects(known: Known) -> st.SearchStrategy[JSON]:
    return st.fixed_dictionaries({}, optional={
        "from": sometimes_hostile(addresses(known)),
        "to": sometimes_hostile(st.none() | addresses(known)),
        "gas": sometimes_hostile(quantities()),
        "gasPrice": sometimes_hostile(quantities()),
        "maxFeePerGas": quantities(),
        "value": sometimes_hostile(quantities()),
        "data": sometimes_hostile(calldata()),
        "input": sometimes_hostile(calldata()),
        "nonce": quantities(),
        "accessList": st.just([]) | hostile(),
    })


def raw_transactions(known: Known) -> st.SearchStrategy[str]:
    prefixes = st.sampled_from([b"", b"\x01", b"\x02", b"\x03", b"\x7f", b"\xc0", b"\xf8\xff", b"\xf9\xff\xff"])
    return st.one_of(
        st.sampled_from(known.raw_transactions),
        st.sampled_from(known.raw_transactions).flatmap(
            lambda raw: st.integers(2, max(2, len(raw) - 2)).map(lambda cut: raw[:cut] if cut % 2 == 0 else raw[: cut - 1])),
        st.builds(lambda p, b: hex_of(p + b), prefixes, st.binary(max_size=200)),
        data_hex(),
    )


def percentiles() -> st.SearchStrategy[JSON]:
    pct = st.floats(0, 100) | st.integers(0, 100)
    return st.one_of(
        st.lists(pct, max_size=8).map(sorted),
        st.lists(pct, max_size=8),
        st.lists(st.floats(-1e9, 1e9) | big_ints(), max_size=4),
        huge_lists(st.integers(0, 100)),
    )


def filter_ids(known: Known) -> st.SearchStrategy[JSON]:
    return st.one_of(st.sampled_from(known.filter_ids), st.binary(min_size=16, max_size=16).map(hex_of),
                     st.sampled_from(["0x0", "0x", ""]))


def seconds() -> st.SearchStrategy[JSON]:
    return st.one_of(st.integers(0, 86_400), st.integers(0, 86_400).map(hex), big_ints(), finite_floats())


def subscription_names() -> st.SearchStrategy[JSON]:
    return st.sampled_from(["newHeads", "logs", "newPendingTransactions", "syncing", "NEWHEADS", ""])


def log_subscription_filters(known: Known) -> st.SearchStrategy[JSON]:
    cursor = st.one_of(st.sampled_from(["0-0", "1-0", "18446744073709551615-0", "18446744073709551616-0", "-1-0",
                                        "1-", "a-b", "１-０", " 1-0 ", "1-0" + "0" * 40]),
                       odd_text(), big_ints())
    return filters(known).flatmap(
        lambda spec: st.fixed_dictionaries({}, optional={"since": cursor}).map(lambda extra: {**spec, **extra}))


def booleans() -> st.SearchStrategy[JSON]:
    return st.booleans()


# Each method's parameters, by position, as the kinds above. A test checks this table
# names every method in node.rpc.methods.ROUTES, so a new method is fuzzed from day one.
PARAM_KINDS: dict[str, tuple[str, ...]] = {
    "web3_clientVersion": (),
    "web3_sha3": ("data",),
    "net_version": (),
    "net_listening": (),
    "net_peerCount": (),
    "eth_chainId": (),
    "eth_blockNumber": (),
    "eth_syncing": (),
    "eth_accounts": (),
    "eth_gasPrice": (),
    "eth_maxPriorityFeePerGas": (),
    "eth_blobBaseFee": (),
    "eth_feeHistory": ("quantity", "block", "percentiles"),
    "eth_getBalance": ("address", "block"),
    "eth_getTransactionCount": ("address", "block"),
    "eth_getCode": ("address", "block"),
    "eth_getStorageAt": ("address", "slot", "block"),
    "eth_getBlockByNumber": ("block", "bool"),
    "eth_getBlockByHash": ("hash", "bool"),
    "eth_getBlockTransactionCountByNumber": ("block",),
    "eth_getUncleCountByBlockNumber": ("block",),
    "eth_getTransactionByHash": ("hash",),
    "eth_getTransactionByBlockNumberAndIndex": ("block", "quantity"),
    "eth_getTransactionReceipt": ("hash",),
    "eth_getBlockReceipts": ("block",),
    "eth_sendRawTransaction": ("raw_transaction",),
    "eth_call": ("call", "block"),
    "eth_estimateGas": ("call", "block"),
    "eth_getLogs": ("filter",),
    "eth_newFilter": ("filter",),
    "eth_newBlockFilter": (),
    "eth_newPendingTransactionFilter": (),
    "eth_getFilterChanges": ("filter_id",),
    "eth_getFilterLogs": ("filter_id",),
    "eth_uninstallFilter": ("filter_id",),
    "eth_getProof": ("address", "slots", "block"),
    "qbft_getValidatorsByBlockNumber": ("block",),
    "qbft_getValidatorsByBlockHash": ("hash",),
    "qbft_proposeValidatorVote": ("address", "bool"),
    "qbft_discardValidatorVote": ("address",),
    "qbft_getPendingVotes": (),
    "ledger_getValidatorHistory": ("block",),
    "ledger_chainInfo": (),
    "ledger_nodeStatus": (),
    "evm_increaseTime": ("seconds",),
    "debug_getRawHeader": ("block",),
    "debug_getRawBlock": ("block",),
    "debug_getRawReceipts": ("block",),
}
# Served on the WebSocket only (node.rpc.app.Subscriptions).
WS_PARAM_KINDS: dict[str, tuple[str, ...]] = {
    "eth_subscribe": ("subscription", "log_filter"),
    "eth_unsubscribe": ("filter_id",),
}


def kind_strategy(kind: str, known: Known) -> st.SearchStrategy[JSON]:
    builders: dict[str, Callable[[], st.SearchStrategy[JSON]]] = {
        "data": data_hex,
        "quantity": quantities,
        "block": lambda: block_tags(known),
        "percentiles": percentiles,
        "address": lambda: addresses(known),
        "slot": slots,
        "bool": booleans,
        "hash": lambda: hashes32(known),
        "raw_transaction": lambda: raw_transactions(known),
        "call": lambda: call_objects(known),
        "filter": lambda: filters(known),
        "filter_id": lambda: filter_ids(known),
        "slots": lambda: st.lists(slots(), max_size=8) | huge_lists(slots(), (MAX_PROOF_KEYS, MAX_PROOF_KEYS + 1)),
        "seconds": seconds,
        "subscription": subscription_names,
        "log_filter": lambda: log_subscription_filters(known),
    }
    return builders[kind]()


def params_for(method: str, known: Known) -> st.SearchStrategy[JSON]:
    """A params array for `method`: mostly a count the route accepts, each position mostly
    valid-shaped; sometimes a wrong count, sometimes no array at all."""
    kinds = PARAM_KINDS.get(method) or WS_PARAM_KINDS.get(method, ())
    required, optional = ROUTES[method][1:] if method in ROUTES else (min(1, len(kinds)), max(0, len(kinds) - 1))
    positions = [sometimes_hostile(kind_strategy(kind, known)) for kind in kinds]

    def build(count: int) -> st.SearchStrategy[JSON]:
        drawn = positions[:count] + [hostile()] * max(0, count - len(positions))
        return st.tuples(*drawn).map(list)

    in_range = st.integers(required, required + optional).flatmap(build)
    wrong_count = st.integers(0, required + optional + 2).flatmap(build)
    return st.integers(0, 19).flatmap(
        lambda roll: wrong_count if roll == 0 else hostile() if roll == 1 else in_range)


# -- envelopes -------------------------------------------------------------------------------------

ABSENT = object()  # an envelope member left out (no id: a notification)


def request_ids() -> st.SearchStrategy[JSON]:
    """Ids of every valid type (odd strings with lone surrogates, huge and negative numbers,
    floats, null) and now and then an invalid one (bool, array, object)."""
    valid = st.one_of(st.integers(0, 1000), big_ints().filter(lambda v: abs(v) < 10**80), finite_floats(),
                      odd_text(), st.none())
    invalid = st.one_of(st.booleans(), st.lists(scalars(), max_size=2), st.dictionaries(odd_text(4), scalars(), max_size=2))
    return st.integers(0, 9).flatmap(lambda roll: invalid if roll == 0 else valid)


def envelope(method: JSON, params: JSON, req_id: JSON, version: JSON = "2.0", extra: dict[str, JSON] | None = None) -> dict[str, JSON]:
    call: dict[str, JSON] = {"jsonrpc": version, "method": method}
    if req_id is not ABSENT:
        call["id"] = req_id
    if params is not ABSENT:
        call["params"] = params
    call.update(extra or {})
    return call


def calls_for(method: str, known: Known, ids: st.SearchStrategy[JSON] | None = None) -> st.SearchStrategy[dict[str, JSON]]:
    """One call object for `method`; one in ten a notification, one in twenty with a bad
    envelope (version, extra members) around otherwise good params."""
    req_ids = ids if ids is not None else request_ids()
    id_or_absent = st.integers(0, 9).flatmap(lambda roll: st.just(ABSENT) if roll == 0 else req_ids)
    params = st.integers(0, 29).flatmap(lambda roll: st.just(ABSENT) if roll == 0 else params_for(method, known))
    version = st.integers(0, 19).flatmap(lambda roll: st.sampled_from(["1.0", 2.0, None, "2.0 "]) if roll == 0 else st.just("2.0"))
    extra = st.integers(0, 19).flatmap(
        lambda roll: st.dictionaries(odd_text(8), json_values(4), min_size=1, max_size=2) if roll == 0 else st.just({}))
    return st.builds(envelope, st.just(method), params, id_or_absent, version, extra)


def any_method(methods: Sequence[str] = tuple(sorted(ROUTES))) -> st.SearchStrategy[str]:
    """A route-table method, or now and then an odd method name."""
    odd = st.one_of(odd_text(), st.sampled_from(["eth_" + "x" * 100, "rpc.discover", "eth_subscribe"]))
    return st.integers(0, 9).flatmap(lambda roll: odd if roll == 0 else st.sampled_from(methods))


def any_call(known: Known, ids: st.SearchStrategy[JSON] | None = None,
             methods: Sequence[str] = tuple(sorted(ROUTES))) -> st.SearchStrategy[dict[str, JSON]]:
    return any_method(methods).flatmap(lambda method: calls_for(method, known, ids))


def batches(known: Known) -> st.SearchStrategy[list[JSON]]:
    """Batches of mixed methods, ids drawn from a small pool (duplicates), notifications, and
    some entries that are not call objects at all."""
    pooled_ids = st.sampled_from([1, 1, 2, "a", "a", 0, -1, None, "\ud800", 1.5])
    entry = st.integers(0, 9).flatmap(
        lambda roll: json_values(4) if roll == 0 else any_call(known, pooled_ids))
    return st.lists(entry, min_size=1, max_size=MAX_FUZZ_BATCH)


def encode(document: JSON) -> bytes:
    """The JSON text of a request: ASCII, so lone surrogates travel as \\u escapes (valid JSON)."""
    return json.dumps(document, default=_absent_is_an_error).encode()


def _absent_is_an_error(value: Any) -> Any:
    raise TypeError(f"cannot encode {value!r}")


# -- raw bodies -----------------------------------------------------------------------------------

CONTENT_TYPES = (
    "application/json", "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x", "application/octet-stream", "application/json; charset=utf-16", "", "*/*",
)
NUMBER_TEXTS = (
    b"1e999", b"-1e999", b"1" * 5000, b"-" + b"9" * 4301, b"0." + b"0" * 5000 + b"1", b"1E400", b"NaN",
    b"Infinity", b"-Infinity", b"01", b"-0", b"1.", b".5", b"0x10", b"+1", b"1e-99999",
)
INVALID_UTF8 = (b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80", b"\xfe\xff")


def _mutate(body: bytes, how: int, position: int, insert: bytes) -> bytes:
    at = position % (len(body) + 1)
    if how == 0:
        return body[:at]  # truncated
    if how == 1:
        return body[:at] + insert + body[at:]
    if how == 2:
        return body[:at] + insert + body[at + len(insert):]  # overwritten
    if how == 3:
        return b"\xef\xbb\xbf" + body  # UTF-8 BOM
    if how == 4:
        return body + insert  # trailing garbage
    return body.replace(b"1", insert, 1) if b"1" in body else body + insert


def raw_bodies(known: Known) -> st.SearchStrategy[bytes]:
    """Valid requests mutated at the byte level: truncated, invalid UTF-8 spliced in, numbers
    out of every range, BOM, trailing garbage; plus number texts alone in a call."""
    valid = st.one_of(any_call(known).map(encode), batches(known).map(encode))
    insert = st.one_of(st.sampled_from(INVALID_UTF8 + NUMBER_TEXTS), st.binary(min_size=1, max_size=8))
    mutated = st.builds(_mutate, valid, st.integers(0, 5), st.integers(0, 2**16), insert)
    number_call = st.builds(
        lambda method, num, where: (
            b'{"jsonrpc":"2.0","id":' + num + b',"method":"' + method.encode() + b'","params":[]}' if where == 0 else
            b'{"jsonrpc":"2.0","id":1,"method":"' + method.encode() + b'","params":[' + num + b"]}"),
        st.sampled_from(sorted(ROUTES)), st.sampled_from(NUMBER_TEXTS), st.integers(0, 1))
    surrogate_bytes = any_call(known).map(lambda call: json.dumps(call, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    return st.one_of(mutated, number_call, surrogate_bytes, st.binary(max_size=64))


# -- what every answer must look like -------------------------------------------------------------

def canonical(value: JSON) -> JSON:
    """`value` as the server sees it after a JSON round trip (a high and a low lone
    surrogate next to each other become one astral character)."""
    return json.loads(json.dumps(value))


def _is_id(value: Any) -> bool:
    return value is None or isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool))


def response_problems(response: Any) -> list[str]:
    """What is wrong with one JSON-RPC response object (empty: nothing)."""
    if not isinstance(response, dict):
        return [f"not an object: {short(response)}"]
    problems = []
    if response.get("jsonrpc") != "2.0":
        problems.append("jsonrpc is not \"2.0\"")
    if ("result" in response) == ("error" in response):
        problems.append("not exactly one of result and error")
    if not _is_id(response.get("id", ABSENT)):
        problems.append(f"id {short(response.get('id', '<missing>'))} is not a string, number or null")
    if "error" in response:
        error = response["error"]
        if not isinstance(error, dict):
            problems.append("error is not an object")
        else:
            code = error.get("code")
            if not isinstance(code, int) or isinstance(code, bool):
                problems.append(f"error code {short(code)} is not an integer")
            if not isinstance(error.get("message"), str):
                problems.append("error message is not a string")
    return problems


def id_problems(call: JSON, response: dict[str, Any]) -> list[str]:
    """A response to one call object must echo its id; a request the server could not read
    as a call (parse error, invalid request) is answered with id null."""
    error = response.get("error")
    unreadable = isinstance(error, dict) and error.get("code") in (PARSE_ERROR, INVALID_REQUEST)
    if unreadable and response.get("id") is None:
        return []
    if not isinstance(call, dict) or not _is_id(call.get("id")):
        return [f"answered id {short(response.get('id'))} to a request without a valid id"]
    wanted = canonical(call.get("id"))
    got = response.get("id")
    if got != wanted or type(got) is bool:
        return [f"id {short(got)} does not echo the request's {short(wanted)}"]
    return []


def batch_problems(batch: list[JSON], responses: Any) -> list[str]:
    """Each call with a valid id is answered exactly once per occurrence; nothing is
    answered that was not asked; no more answers than calls."""
    if not isinstance(responses, list):
        # The body as a whole refused (too deep, too many calls): one error, id null.
        if isinstance(responses, dict) and responses.get("id") is None and isinstance(responses.get("error"), dict) \
                and responses["error"].get("code") in (PARSE_ERROR, INVALID_REQUEST):
            return response_problems(responses)
        return [f"batch answered with {short(responses)}, not an array"]
    problems = [p for r in responses for p in response_problems(r)]
    if len(responses) > len(batch):
        problems.append(f"{len(responses)} answers to {len(batch)} calls")
    asked = Counter(_hashable(canonical(c["id"])) for c in batch if isinstance(c, dict) and _is_id(c.get("id"))
                    and c.get("id") is not None)
    answered = Counter(_hashable(r.get("id")) for r in responses if isinstance(r, dict) and r.get("id") is not None)
    for key in set(asked) | set(answered):
        if asked[key] != answered[key]:
            problems.append(f"id {short(key[1])}: asked {asked[key]} times, answered {answered[key]} times")
    by_id = {_hashable(r.get("id")): r for r in responses if isinstance(r, dict) and r.get("id") is not None}
    for call in batch:
        if isinstance(call, dict) and _is_id(call.get("id")) and call.get("id") is not None:
            key = _hashable(canonical(call["id"]))
            if asked[key] == 1 and key in by_id:
                problems += cap_problems(call, by_id[key])
    return problems


# Every list the node reads from a call has a cap (STYLE: attacker-sized input is capped):
# 1,000 filter addresses, topics per position and proof keys, 100 reward percentiles. A
# list ten times the largest of them must be refused, never processed.
LIST_CAP_FLOOR = 10_000


def uncapped_lists(call: Any) -> list[str]:
    """The lists of LIST_CAP_FLOOR or more entries in the parameters of `call` that the
    node reads (by the method's PARAM_KINDS), named by where they are."""
    if not isinstance(call, dict) or not isinstance(call.get("params"), list):
        return []
    kinds = PARAM_KINDS.get(call.get("method")) or WS_PARAM_KINDS.get(call.get("method"), ())  # type: ignore[arg-type]
    found: list[tuple[str, Any]] = []
    for position, (kind, value) in enumerate(zip(kinds, call["params"])):
        where = f"params[{position}]"
        if kind in ("percentiles", "slots"):
            found.append((where, value))
        elif kind in ("filter", "log_filter") and isinstance(value, dict):
            found.append((f"{where}.address", value.get("address")))
            topics = value.get("topics")
            found.append((f"{where}.topics", topics))
            if isinstance(topics, list):
                found += [(f"{where}.topics[{i}]", entry) for i, entry in enumerate(topics)]
    return [f"{where} ({len(value)} entries)" for where, value in found
            if isinstance(value, list) and len(value) >= LIST_CAP_FLOOR]


def cap_problems(call: Any, response: Any) -> list[str]:
    """A call carrying an attacker-sized list must get an error, not a result."""
    lists = uncapped_lists(call)
    if lists and isinstance(response, dict) and "result" in response:
        return [(f"{call.get('method')} accepted {', '.join(lists)}: every list the node reads needs a cap "
                 f"(under {LIST_CAP_FLOOR} entries)")]
    return []


def _hashable(value: Any) -> tuple[str, Any]:
    return (type(value).__name__ if not isinstance(value, (int, float)) else "number", value) \
        if isinstance(value, (str, int, float)) else ("other", json.dumps(value, sort_keys=True))


def short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 20] + f"... ({len(text)} chars)"
