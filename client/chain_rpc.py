"""A node's blocks over JSON-RPC for `ledger chain verify --rpc`: `RpcSource`, the `node.verify.sources.BlockSource` an auditor's machine reads a running node with.

Three calls a block - `debug_getRawHeader`, `debug_getRawBlock`, `debug_getRawReceipts` -
in JSON-RPC batches, carrying the caller's role token (the reads need rpc:read). What the
node answers is only decoded into encodings (`RawBlock`); the walk (node/verify/chain.py)
trusts none of it until its checks pass. A response is read up to a cap, so a node cannot
make the verifier read without bound. The requests go through client/http.py.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import rlp
from rlp.sedes import raw

from client.auth import is_unauthorized
from client.errors import ClientError
from client.http import HttpClient, HttpError, ResponseTooLarge
from node.api import MAX_BATCH_CALLS
from node.errors import InvalidBlock
from node.verify.checks import RawBlock
from node.verify.sources import SourceError

# Blocks per JSON-RPC batch: 3 calls a block, well within the node's MAX_BATCH_CALLS.
RPC_BATCH_BLOCKS = min(100, MAX_BATCH_CALLS // 3)
# A JSON-RPC response is read up to this size; a larger batch is asked for again in
# halves, and a single block larger than this (far beyond what a 150M-gas block holds) is
# refused: a node must not be able to make the verifier read without bound.
MAX_RPC_RESPONSE_BYTES = 128 * 1024 * 1024
RPC_TIMEOUT_SECONDS = 60


class RpcSource:
    """Blocks from a node's debug_getRaw* methods, 3 calls a block in JSON-RPC batches."""

    def __init__(self, url: str, *, batch_blocks: int = RPC_BATCH_BLOCKS, token: str | None = None) -> None:
        self.url = url
        self.description = f"node {url}"
        self._batch = batch_blocks
        # `token`: the node's role token (node/access/tokens.py): the debug_getRaw* reads need rpc:read
        try:
            self._http = HttpClient(url, token=token, timeout=RPC_TIMEOUT_SECONDS)
        except ValueError as exc:
            raise SourceError(str(exc)) from None

    def _post(self, calls: list[dict[str, Any]]) -> Any:
        try:
            return self._http.post_json("", calls, limit=MAX_RPC_RESPONSE_BYTES)
        except ResponseTooLarge:
            raise _TooLarge() from None
        except HttpError as exc:
            if exc.status == 401:
                raise SourceError(f"{self.url} requires an access token (HTTP 401): set LEDGER_TOKEN to a "
                                  "token whose role has rpc:read (`ledger token issue`)") from None
            if exc.status is None:
                raise SourceError(f"cannot reach a node at {self.url}: {exc.message}") from exc
            if 200 <= exc.status < 300:  # an answer, but not JSON
                raise SourceError(f"{self.url} answered with something that is not JSON") from None
            raise SourceError(f"{self.url} answered HTTP {exc.status}: {exc.message}") from None

    def head(self) -> int:
        try:
            reply = self._post([{"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber", "params": []}])
        except _TooLarge:
            raise SourceError(f"{self.url}: eth_blockNumber answered more than {MAX_RPC_RESPONSE_BYTES} bytes") from None
        try:
            return int(reply[0]["result"], 16)
        except (LookupError, TypeError, ValueError) as exc:
            raise SourceError(f"{self.url}: eth_blockNumber answered {str(reply)[:200]}") from exc

    def blocks(self, first: int, last: int) -> Iterator[RawBlock]:
        for start in range(first, last + 1, self._batch):
            yield from self._fetch(start, min(start + self._batch - 1, last))

    def _fetch(self, first: int, last: int) -> Iterator[RawBlock]:
        methods = ("debug_getRawHeader", "debug_getRawBlock", "debug_getRawReceipts")
        calls = [{"jsonrpc": "2.0", "id": (height - first) * 3 + i, "method": method, "params": [hex(height)]}
                 for height in range(first, last + 1) for i, method in enumerate(methods)]
        try:
            reply = self._post(calls)
        except _TooLarge:
            if first == last:
                raise SourceError(f"{self.url}: block {first} is larger than {MAX_RPC_RESPONSE_BYTES} bytes") from None
            middle = (first + last) // 2
            yield from self._fetch(first, middle)
            yield from self._fetch(middle + 1, last)
            return
        if not isinstance(reply, list):
            raise SourceError(f"{self.url}: a batch of {len(calls)} calls got {str(reply)[:200]} back")
        by_id = {item["id"]: item for item in reply if isinstance(item, dict) and isinstance(item.get("id"), int)}
        for height in range(first, last + 1):
            yield self._raw_block(height, [by_id.get((height - first) * 3 + i) for i in range(3)])

    def _raw_block(self, height: int, replies: list[Any]) -> RawBlock:
        results = []
        for name, item in zip(("header", "block", "receipts"), replies):
            if not isinstance(item, dict) or "result" not in item:
                error = item.get("error") if isinstance(item, dict) else "no answer"
                if isinstance(error, dict) and is_unauthorized(error):  # a refusal, not a bad block
                    raise SourceError(f"{self.url} refused the raw block reads: {str(error.get('message'))[:160]} "
                                      "(they need a token whose role has rpc:read)")
                raise InvalidBlock(height, "rpc", f"the node did not serve the raw {name}: {error}")
            results.append(item["result"])
        try:
            header = _from_hex(results[0])
            block = rlp.decode(_from_hex(results[1]), strict=True)
            receipts = tuple(_from_hex(r) for r in results[2])
        except (ValueError, TypeError, rlp.DecodingError) as exc:
            raise InvalidBlock(height, "rpc", f"the node served unreadable data: {exc}") from exc
        if not isinstance(block, list) or len(block) != 4 or not all(isinstance(part, list) for part in block):
            raise InvalidBlock(height, "body", "the raw block is not [header, transactions, uncles, withdrawals]")
        if rlp.encode(block[0], sedes=raw) != header:
            raise InvalidBlock(height, "body", "the raw block's header differs from the raw header")
        if block[2] or block[3]:
            raise InvalidBlock(height, "body", "the block carries uncles or withdrawals")
        # In a block, typed transactions are byte strings and legacy ones RLP lists.
        transactions = tuple(tx if isinstance(tx, bytes) else rlp.encode(tx, sedes=raw) for tx in block[1])
        return RawBlock(height, header, transactions, receipts)

    def state_root_stored(self, root: bytes) -> bool | None:
        return None

    def close(self) -> None:
        self._http.close()


class _TooLarge(ClientError):
    """A batch's answer was larger than MAX_RPC_RESPONSE_BYTES: ask for it in halves."""


def _from_hex(value: Any) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"expected 0x-hex, got {str(value)[:40]!r}")
    return bytes.fromhex(value[2:])
