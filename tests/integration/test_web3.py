"""web3.py, unmodified, against a real dev node process: the README quickstart and more."""
from __future__ import annotations

import asyncio
import json

import pytest
from eth_account import Account
from web3 import Web3
from web3.exceptions import ContractLogicError
from web3.middleware import ExtraDataToPOAMiddleware

from tests.contracts import compile_contract
from tests.integration.nodeproc import NodeProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def w3(dev_node: NodeProcess) -> Web3:
    web3 = Web3(Web3.HTTPProvider(dev_node.url, request_kwargs={"timeout": 30}))
    # QBFT extraData is longer than 32 bytes, as on every Besu QBFT chain.
    web3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return web3


@pytest.fixture(scope="module")
def storage(w3: Web3, dev_node: NodeProcess):
    bytecode, abi = compile_contract("Storage")
    account = Account.from_key(dev_node.dev_key)
    factory = w3.eth.contract(abi=abi, bytecode=bytecode)
    tx = factory.constructor().build_transaction({"from": account.address, "nonce": w3.eth.get_transaction_count(account.address)})
    signed = account.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction), timeout=30)
    assert receipt.status == 1
    return w3.eth.contract(address=receipt.contractAddress, abi=abi)


def test_chain_basics(w3: Web3, dev_node: NodeProcess) -> None:
    assert w3.eth.chain_id == 1337
    assert w3.net.version == "1337"
    assert w3.eth.gas_price == 0
    assert w3.eth.max_priority_fee == 0
    assert w3.eth.get_balance(dev_node.dev_address) > 10**18
    block = w3.eth.get_block("latest")
    assert block.baseFeePerGas == 0
    assert block.mixHash.hex().removeprefix("0x") == "63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
    history = w3.eth.fee_history(1, "latest", [50])
    assert history.baseFeePerGas == [0, 0]
    assert history.reward == [[0]]


def test_deploy_transact_logs_filters_call(w3: Web3, storage, dev_node: NodeProcess) -> None:
    account = Account.from_key(dev_node.dev_key)
    log_filter = storage.events.Stored.create_filter(from_block="latest")
    pending_filter = w3.eth.filter("pending")
    block_filter = w3.eth.filter("latest")
    nonce = w3.eth.get_transaction_count(account.address, "pending")
    hashes = []
    for i in range(5):
        tx = storage.functions.set(i, 100 + i).build_transaction({"from": account.address, "nonce": nonce + i, "gasPrice": 0})
        hashes.append(w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction))
    receipts = [w3.eth.wait_for_transaction_receipt(h, timeout=30) for h in hashes]
    assert all(r.status == 1 for r in receipts)
    assert all(r.effectiveGasPrice == 0 for r in receipts)
    assert storage.functions.get(3).call() == 103
    assert storage.functions.writes().call() == 5
    first = min(r.blockNumber for r in receipts)
    last = max(r.blockNumber for r in receipts)
    logs = w3.eth.get_logs({"fromBlock": first, "toBlock": last, "address": storage.address})
    events = [storage.events.Stored().process_log(entry) for entry in logs]
    assert [(e.args.key, e.args.value) for e in events] == [(i, 100 + i) for i in range(5)]
    assert all(e.args.setter == account.address for e in events)
    changes = log_filter.get_new_entries()
    assert sorted(e.args.value for e in changes) == [100, 101, 102, 103, 104]
    assert log_filter.get_new_entries() == []
    assert set(pending_filter.get_new_entries()) == set(hashes)
    new_blocks = block_filter.get_new_entries()
    assert {r.blockHash for r in receipts} <= set(new_blocks)
    assert w3.eth.uninstall_filter(pending_filter.filter_id)
    # eth_getFilterLogs starts at the filter's fromBlock however far polling has moved.
    assert sorted(e.args.value for e in log_filter.get_all_entries()) == [100, 101, 102, 103, 104]
    tx = w3.eth.get_transaction(hashes[0])
    assert tx["from"] == account.address and tx.blockNumber == receipts[0].blockNumber


def test_estimate_gas_and_revert(w3: Web3, storage, dev_node: NodeProcess) -> None:
    gas = storage.functions.set(7, 7).estimate_gas({"from": dev_node.dev_address})
    assert 25_000 < gas < 120_000
    with pytest.raises(ContractLogicError):
        # calling a function that does not exist on the contract: the Vyper dispatcher reverts
        w3.eth.call({"to": storage.address, "data": "0xdeadbeef"})


def test_websocket_new_heads_subscription(dev_node: NodeProcess, w3: Web3) -> None:
    import websockets

    async def first_head() -> dict:
        async with websockets.connect(dev_node.ws_url) as ws:
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}))
            sub = json.loads(await ws.recv())["result"]
            account = Account.from_key(dev_node.dev_key)
            signed = account.sign_transaction({"to": account.address, "value": 1, "gas": 21000, "gasPrice": 0,
                                               "nonce": w3.eth.get_transaction_count(account.address, "pending"),
                                               "chainId": 1337})
            # A notification (no id) gets no answer: the next message answers id 2.
            await ws.send(json.dumps({"jsonrpc": "2.0", "method": "eth_blockNumber"}))
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "eth_chainId"}))
            assert json.loads(await ws.recv()) == {"jsonrpc": "2.0", "id": 2, "result": "0x539"}
            w3.eth.send_raw_transaction(signed.raw_transaction)
            message = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
            assert message["params"]["subscription"] == sub
            return message["params"]["result"]

    head = asyncio.run(first_head())
    assert int(head["number"], 16) >= 1


def test_eth_call_runs_in_the_requested_blocks_context(w3: Web3) -> None:
    # init code: NUMBER PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN -> the block number as a word
    number_code = "0x4360005260206000f3"
    head = w3.eth.block_number
    for height in (1, head):
        assert int.from_bytes(w3.eth.call({"data": number_code}, height), "big") == height
    # TIMESTAMP likewise: the block's own, not its successor's
    timestamp_code = "0x4260005260206000f3"
    assert int.from_bytes(w3.eth.call({"data": timestamp_code}, 1), "big") == w3.eth.get_block(1).timestamp


def test_eth_call_gas_is_capped(w3: Web3) -> None:
    from node.rpc.limits import RpcLimits

    cap = RpcLimits().call_gas_cap
    # JUMPDEST PUSH1 0 JUMP: loops until it runs out of gas; the cap bounds how long that takes.
    with pytest.raises(Exception, match="OutOfGas|out of gas"):
        w3.eth.call({"data": "0x5b600056", "gas": hex(10 * cap)})
