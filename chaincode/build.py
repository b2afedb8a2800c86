"""Compile the system contracts into chaincode/artifacts/ with the pinned Vyper.

The artifacts (ABI, runtime code, storage layout, source hash) are committed and shipped
with the package; `ledger chaincode build --check` proves they are what the sources
compile to, and a test proves genesis.json carries exactly that runtime code.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from chaincode import ARTIFACTS, SOURCES, SYSTEM_CONTRACTS, VYPER_VERSION, ChaincodeError


class BuildError(ChaincodeError):
    pass


@dataclass(frozen=True)
class BuildResult:
    name: str
    path: Path
    changed: bool
    runtime_size: int


def compile_source(name: str) -> dict[str, object]:
    """The artifact document of sources/<name>.vy, compiled for Cancun."""
    try:
        import vyper
        from vyper.compiler.settings import Settings
    except ImportError as exc:
        raise BuildError(f"vyper=={VYPER_VERSION} is needed: pip install 'evidence-ledger[chaincode]'") from exc
    if vyper.__version__ != VYPER_VERSION:
        raise BuildError(f"vyper {vyper.__version__} installed; the chaincode is pinned to {VYPER_VERSION}")
    source = (SOURCES / f"{name}.vy").read_text(encoding="utf-8")
    out = vyper.compile_code(
        source,
        contract_path=f"{name}.vy",
        output_formats=["abi", "bytecode_runtime", "layout"],
        settings=Settings(evm_version="cancun"),
    )
    return {
        "contract": name,
        "vyper_version": VYPER_VERSION,
        "evm_version": "cancun",
        "source_sha256": hashlib.sha256(source.encode()).hexdigest(),
        "abi": out["abi"],
        "runtime": out["bytecode_runtime"],
        "storage_layout": out["layout"]["storage_layout"],
    }


def build(check: bool = False, out_dir: Path = ARTIFACTS) -> list[BuildResult]:
    """Compile every system contract; write artifacts unless `check` (then only compare)."""
    results = []
    for name in SYSTEM_CONTRACTS:
        document = compile_source(name)
        text = json.dumps(document, indent=1, sort_keys=True) + "\n"
        path = out_dir / f"{name}.json"
        changed = not path.exists() or path.read_text() != text
        if changed and not check:
            out_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        runtime = str(document["runtime"])
        results.append(BuildResult(name, path, changed, (len(runtime) - 2) // 2))
    return results
