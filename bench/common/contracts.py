"""The contracts the benchmarks call: the workload contract compiled with vyper, and the
genesis ``EvidenceRegistry`` through its shipped ABI.

``tests/contracts/Storage.vy`` is the throughput workload: ``set(key, value)`` stores a
new mapping slot, a uint and a counter and emits an event. It is compiled by the ``vyper``
executable of the virtualenv (the version ``pyproject.toml`` pins), with the EVM rules a
benchmark asks for.
"""
from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rlp
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector, keccak, to_canonical_address, to_checksum_address

from bench.common import REPO_ROOT
from chaincode import EVIDENCE_REGISTRY, load_artifact
from evidence import digest as digests

CONTRACT_PATH = REPO_ROOT / "tests" / "contracts" / "Storage.vy"
# A compile of a small contract takes ~1 s; a stuck compiler does not hold a run forever.
VYPER_TIMEOUT_SECONDS = 120

SET_SELECTOR = bytes.fromhex("1ab06ee5")  # keccak("set(uint256,uint256)")[:4]
WRITES_SELECTOR = bytes.fromhex("c4b5c133")  # keccak("writes()")[:4]

# What the benchmarks anchor: one evidence kind and case (their strings are stored with
# every entry, so they are part of what an anchoring costs).
ANCHOR_KIND = "bench-scaling"
ANCHOR_CASE = "(2026) Bench Scaling 0001"
ANCHOR_ALGORITHM = "sha256"
ANCHOR_METADATA_DIGEST = b"\x00" * 32
EVIDENCE_REGISTRY_ADDRESS = to_checksum_address(EVIDENCE_REGISTRY)


@dataclass(frozen=True)
class CompiledContract:
    bytecode: bytes
    abi: list[dict[str, Any]]
    source_note: str  # how it was compiled (documented in the report)


def _vyper_executable() -> str:
    candidate = Path(sys.executable).parent / "vyper"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("vyper")
    if not found:
        raise RuntimeError("vyper not found (pip install -e '.[test]' installs vyper==0.4.3)")
    return found


def compile_contract(path: Path = CONTRACT_PATH, *, evm_version: str = "cancun") -> CompiledContract:
    """ABI and bytecode of a Vyper source from ``vyper --evm-version <evm_version> -f abi,bytecode``."""
    try:
        out = subprocess.run(
            [_vyper_executable(), "--evm-version", evm_version, "-f", "abi,bytecode", str(path)],
            check=True, capture_output=True, text=True, timeout=VYPER_TIMEOUT_SECONDS,
        )
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"vyper failed on {path}:\n{exc.stderr or ''}{exc.stdout or ''}") from exc
    abi_line, bytecode_line = out.stdout.strip().splitlines()[-2:]
    note = f"{path.relative_to(REPO_ROOT)} as-is" + ("" if evm_version == "cancun" else f", --evm-version {evm_version}")
    return CompiledContract(bytes.fromhex(bytecode_line.strip().removeprefix("0x")), json.loads(abi_line), note)


def set_calldata(key: int, value: int) -> bytes:
    return SET_SELECTOR + key.to_bytes(32, "big") + value.to_bytes(32, "big")


def contract_address(sender: str, nonce: int) -> str:
    """The address a contract deployed by ``sender`` with ``nonce`` gets."""
    return to_checksum_address(keccak(rlp.encode([to_canonical_address(sender), nonce]))[12:])


def selector(signature: str) -> bytes:
    """The 4-byte selector of a function signature such as ``sign(bytes32,bytes,bytes)``."""
    return bytes(function_signature_to_4byte_selector(signature))


@functools.cache
def registry_function(name: str) -> tuple[bytes, tuple[str, ...]]:
    """(selector, argument types) of an ``EvidenceRegistry`` function, from the shipped ABI."""
    for item in load_artifact("EvidenceRegistry").abi:
        if item.get("type") == "function" and item["name"] == name:
            types = tuple(i["type"] for i in item["inputs"])
            return selector(f"{name}({','.join(types)})"), types
    raise KeyError(f"EvidenceRegistry has no function {name!r}")


def anchor_calldata(anchored: bytes, leaf_count: int) -> bytes:
    """``EvidenceRegistry.anchor(anchored, leaf_count, kind, case, sha256, 0)``: a digest
    (``leaf_count`` 1) or the RFC 9162 root of ``leaf_count`` digests."""
    fn, types = registry_function("anchor")
    return fn + encode(list(types), [anchored, leaf_count, ANCHOR_KIND, ANCHOR_CASE,
                                     digests.algorithm_id(ANCHOR_ALGORITHM), ANCHOR_METADATA_DIGEST])


def entry_count_calldata() -> bytes:
    """``EvidenceRegistry.entry_count()``: how many entries have been anchored."""
    return registry_function("entry_count")[0]
