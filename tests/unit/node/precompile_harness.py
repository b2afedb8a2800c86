"""Calling the PKI precompile through our EVM on a real one-block chain (LevelDB in a
temporary directory): shared by the precompile's and its pricing's tests."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth.vm.spoof import SpoofTransaction
from eth_abi import decode

from chaincode import PKI_PRECOMPILE
from node.execution import pki as precompile
from node.execution.chain import Chain
from node.execution.genesis import Genesis, build_genesis_document
from node.execution.vm import LedgerVM
from node.storage.store import LevelStore

CALLER = b"\x0c" * 20
GAS = 2_000_000


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    store = LevelStore(Path(tmp_path_factory.mktemp("pki")) / "chain")
    # genesis time inside the test certificates' validity window
    genesis = Genesis.parse(build_genesis_document(
        chain_id=7, validators=[b"\x01" * 20], alloc={}, members=[(CALLER, "ADMIN")], timestamp=1_800_000_000))
    yield Chain.initialise(store, genesis)
    store.close()


def call(chain: Chain, data: bytes, gas: int = GAS) -> Any:
    """The precompile's computation for `data`, run as a call from CALLER at the head."""
    state = chain.state_at(chain.head)
    unsigned = LedgerVM.create_unsigned_transaction(
        nonce=0, gas_price=0, gas=gas, to=PKI_PRECOMPILE, value=0, data=data)
    return state.costless_execute_transaction(SpoofTransaction(unsigned, from_=CALLER))


def reason(computation: Any) -> str:
    """The Error(string) a reverted precompile call gave."""
    assert computation.is_error
    assert computation.output[:4] == precompile.ERROR_SELECTOR
    return str(decode(["string"], computation.output[4:])[0])
