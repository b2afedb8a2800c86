"""eth_call and eth_estimateGas on a real dev node, which keeps states at the head for them
(node/rpc/callstates.py): the probe contract of tests/unit/node/test_call_states.py answers
the same call after call, sees a new block's writes, and an older block's state at that
block."""
from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.middleware import ExtraDataToPOAMiddleware

from tests.integration.nodeproc import NodeProcess
from tests.unit.node.test_call_states import COLD_SLOAD_GAS, PROBE_CODE

pytestmark = pytest.mark.slow

# Initcode that returns PROBE_CODE as the contract's code: CODECOPY(0, 9, len), RETURN(0, len).
assert len(PROBE_CODE) < 256
PROBE_INITCODE = bytes([0x60, len(PROBE_CODE), 0x80, 0x60, 9, 0x5F, 0x39, 0x5F, 0xF3]) + PROBE_CODE


@pytest.fixture(scope="module")
def w3(dev_node: NodeProcess) -> Web3:
    web3 = Web3(Web3.HTTPProvider(dev_node.url, request_kwargs={"timeout": 30}))
    web3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return web3


def send(w3: Web3, dev_node: NodeProcess, tx: dict[str, Any]) -> Any:
    account = Account.from_key(dev_node.dev_key)
    tx = {"from": account.address, "nonce": w3.eth.get_transaction_count(account.address), "gas": 500_000,
          "gasPrice": 0, "chainId": w3.eth.chain_id, **tx}
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction), timeout=30)
    assert receipt.status == 1
    return receipt


def probe(w3: Web3, address: str, block: Any = "latest", **call: Any) -> list[int]:
    raw = bytes(w3.eth.call({"to": address, **call}, block))
    return [int.from_bytes(raw[i:i + 32], "big") for i in range(0, len(raw), 32)]


def test_calls_at_the_head_and_before_it(w3: Web3, dev_node: NodeProcess) -> None:
    address = send(w3, dev_node, {"data": PROBE_INITCODE}).contractAddress
    first = probe(w3, address)
    assert first[:4] == [0, 0, COLD_SLOAD_GAS, 0]
    for _ in range(4):  # each call's writes (storage, transient, warm slots, nonce) are gone
        assert probe(w3, address) == first
    sender = Account.from_key(dev_node.dev_key).address
    balance = w3.eth.get_balance(sender)
    with_value = probe(w3, address, **{"from": sender, "value": balance})
    assert with_value[3] == balance
    assert probe(w3, address, **{"from": sender, "value": balance}) == with_value
    estimate = w3.eth.estimate_gas({"from": sender, "to": address, "value": 5})
    assert all(w3.eth.estimate_gas({"from": sender, "to": address, "value": 5}) == estimate for _ in range(3))

    written = send(w3, dev_node, {"to": address, "value": 3})  # slot 0 becomes 1, the probe holds 3
    after = probe(w3, address)
    assert after[0] == 1 and after[3] == 3 and after[1:3] == first[1:3]
    before = probe(w3, address, written.blockNumber - 1)
    assert before == first
    assert probe(w3, address) == after
