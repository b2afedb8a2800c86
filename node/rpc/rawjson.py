"""A JSON-RPC result that is already JSON: a handler returns one so that the JSON-RPC
layer (node/rpc/jsonrpc.py `encode`) splices its bytes into the response instead of
building Python objects and encoding them again (eth_getLogs' pre-encoded logs)."""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EncodedJSON:
    """One complete JSON value as compact ASCII bytes, exactly what `json.dumps(value,
    separators=(",", ":"))` gives for it; whoever builds one vouches for that."""

    data: bytes

    @classmethod
    def array(cls, items: Iterable[bytes]) -> EncodedJSON:
        """A JSON array of already-encoded values."""
        return cls(b"[" + b",".join(items) + b"]")

    def value(self) -> Any:
        """The Python value (for callers that need objects, not bytes)."""
        return json.loads(self.data)
