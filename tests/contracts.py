"""Compiled test contracts (Vyper 0.4.3, Cancun target), cached per session."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

CONTRACTS = Path(__file__).parent / "contracts"


@functools.cache
def compile_contract(name: str) -> tuple[str, list[dict[str, Any]]]:
    """(bytecode hex, ABI) of tests/contracts/<name>.vy."""
    import vyper
    from vyper.compiler.settings import Settings

    source = (CONTRACTS / f"{name}.vy").read_text()
    out = vyper.compile_code(source, output_formats=["bytecode", "abi"], settings=Settings(evm_version="cancun"))
    return out["bytecode"], out["abi"]
