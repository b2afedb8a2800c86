"""chaincode/ imports nothing of ours (the node, the SDK and a court's tools share it), and
node/api.py — the limits the SDK reads from the node's side — imports nothing at all, so
a client pays nothing (no py-evm, no starlette) to read them."""
from __future__ import annotations

import sys
from pathlib import Path

from tests.unit.evidence.test_dependencies import imported_roots

ROOT = Path(__file__).resolve().parents[3]
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def test_chaincode_imports_only_itself_and_the_ethereum_libraries() -> None:
    modules = sorted((ROOT / "chaincode").glob("*.py"))
    assert {m.name for m in modules} >= {"__init__.py", "events.py", "alloc.py", "build.py"}
    for module in modules:
        outside = imported_roots(module) - STDLIB - {"chaincode", "eth_utils", "eth_hash", "vyper"}
        assert not outside, f"{module.name} imports {sorted(outside)}"


def test_the_node_api_module_imports_nothing() -> None:
    assert imported_roots(ROOT / "node" / "api.py") <= {"__future__"}
