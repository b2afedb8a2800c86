"""What `ledger chain verify` asks of the node's own execution: re-executing stored blocks (`--reexecute`) and building block 0 from a genesis file.

Both run py-evm through `node.execution.chain`, the code a node commits blocks with, so a
verdict here is the node's own rules applied again - not a second implementation of them
(node/verify/checks.py is the independent part). Re-execution needs the state, so it
reads a data directory (`sources.DataDirSource`'s private copy), never a JSON-RPC source.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol, cast

import rlp
from eth.exceptions import PyEVMError
from eth_utils import ValidationError
from rlp.exceptions import RLPException

from node.errors import InvalidBlock, NodeError
from node.execution.chain import Chain, build_genesis_block
from node.execution.genesis import Genesis
from node.execution.permissions import Membership
from node.execution.vm import QBFTHeader
from node.storage.store import LevelStore
from node.verify.sources import SourceError


class Replayer(Protocol):
    """Re-executes block `height` (its header already checked); raises `InvalidBlock` if
    the result differs from the header."""

    def replay(self, height: int, header: bytes) -> None:
        ...


class ChainReplayer:
    """Re-executes stored blocks with `Chain.replay_block` (data directory only).

    `permissioned` applies the node's membership rule (senders must be members at the
    parent's state) as a node started without --dev does; a --dev chain admits anyone.
    The chain is opened at the first replay, once the walk has checked block 1.
    """

    def __init__(self, store: LevelStore, genesis: Genesis, *, permissioned: bool) -> None:
        self._store = store
        self._genesis = genesis
        self._permissioned = permissioned
        self._chain: Chain | None = None

    def _open(self) -> Chain:
        if self._chain is None:
            try:
                chain = Chain(self._store, self._genesis)
            except (NodeError, RLPException) as exc:
                raise SourceError(f"cannot re-execute: {self._store.path} does not open as a chain: {exc}") from exc
            if self._permissioned:
                chain.membership = Membership(chain.state_at)
            self._chain = chain
        return self._chain

    def replay(self, height: int, header: bytes) -> None:
        chain = self._open()
        try:
            stored = rlp.decode(header, sedes=QBFTHeader)
            rebuilt = chain.replay_block(stored)
        except InvalidBlock:
            raise
        # What py-evm raises for a block it cannot execute (a transaction it cannot decode
        # or apply) is the block's failure, not the verifier's.
        except (NodeError, RLPException, PyEVMError, ValidationError, KeyError, ValueError) as exc:
            raise InvalidBlock(height, "re-execution", f"{type(exc).__name__}: {exc}") from exc
        for name, got, expected in (
            ("state root", rebuilt.state_root, stored.state_root),
            ("receipts root", rebuilt.receipt_root, stored.receipt_root),
            ("gas used", rebuilt.gas_used, stored.gas_used),
            ("logs bloom", rebuilt.bloom, stored.bloom),
        ):
            if got != expected:
                raise InvalidBlock(height, f"re-execution: {name}",
                                   f"re-executing gives {_shown(got)}, the header says {_shown(expected)}")


def _shown(value: object) -> str:
    return f"0x{value.hex()}" if isinstance(value, bytes) else str(value)


def genesis_block_hash(genesis: Genesis) -> bytes:
    """The hash of the genesis block `genesis` builds (its state computed in memory)."""
    # build_genesis_block's overlay reads the store only for trie nodes it did not write
    # itself - none, as it starts from the empty trie - so no store is needed.
    header, _ = build_genesis_block(cast(LevelStore, _NoStore()), genesis)
    return header.hash


class _NoStore:
    path = Path("/dev/null")

    def get(self, key: bytes) -> bytes | None:
        return None
