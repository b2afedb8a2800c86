"""The evidence package stays installable alone: a court's verifier needs nothing of
ours and only these third-party libraries (ARCHITECTURE: dependency direction)."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

# gmssl_pyx: SM2 verification (evidence/sm2.py), a wheel with GmSSL inside, no system library.
ALLOWED = {"cryptography", "asn1crypto", "rlp", "eth_hash", "coincurve", "gmssl_pyx", "evidence"}
PACKAGE = Path(__file__).resolve().parents[3] / "evidence"


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_evidence_imports_only_the_stdlib_and_its_allowed_libraries() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) >= 6
    for module in modules:
        outside = imported_roots(module) - ALLOWED - set(sys.stdlib_module_names) - {"__future__"}
        assert not outside, f"{module.name} imports {sorted(outside)}"
