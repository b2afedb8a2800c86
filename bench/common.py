"""Shared helpers for the throughput benchmarks.

* machine details (CPU model, cores, memory, Python, date) for the report table,
* compiling the workload contract ``tests/contracts/Storage.vy`` with vyper,
* pre-signing the ``set(key, value)`` calls with eth-account,
* a small table printer.

Nothing here talks to the network; ``bench/throughput.py`` does that and only
ever to a loopback address.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent
CONTRACT_PATH = REPO_ROOT / "tests" / "contracts" / "Storage.vy"

# A fixed, well-known key used only by the in-memory ceiling benchmark (it is
# the first hardhat/anvil test key; never use it for anything real).
CEILING_PRIVATE_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"

SET_SELECTOR = bytes.fromhex("1ab06ee5")  # keccak("set(uint256,uint256)")[:4]
WRITES_SELECTOR = bytes.fromhex("c4b5c133")  # keccak("writes()")[:4]


# --------------------------------------------------------------------------
# machine details
# --------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        usable = os.cpu_count()
    try:
        load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        load = "n/a"
    return {
        "cpu": cpu,
        "load_avg_1_5_15": load,
        "cores": usable,
        "memory_gib": mem_gib,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()}",
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "py_evm": _dist_version("py-evm"),
    }


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    tick = os.sysconf("SC_CLK_TCK")
    try:
        with open("/proc/stat") as f:
            vals = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)  # idle + iowait
    total = sum(vals[:8])  # guest time is already counted in user
    return (total - idle) / tick, total / tick


def wait_for_idle(max_wait: float, busy_below: float = 0.15, quiet_checks: int = 3, window: float = 0.5) -> dict[str, Any]:
    """Wait (at most ``max_wait`` s) until the whole machine is nearly idle.

    On a shared 2-core machine another process on the other core slows this
    one down a lot (measured: up to 2x), so the timed sections start only when
    ``quiet_checks`` consecutive ``window``-second windows saw less than
    ``busy_below`` cores busy.  Returns what happened, for the report; never fails.
    """
    import time

    if max_wait <= 0:
        return {"waited_s": 0.0, "idle": None}
    t0 = time.monotonic()
    quiet = 0
    frac = None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    while time.monotonic() - t0 < max_wait:
        b0, tot0 = machine_cpu()
        time.sleep(window)
        b1, tot1 = machine_cpu()
        frac = (b1 - b0) / (tot1 - tot0) * cores if tot1 > tot0 else 0.0
        quiet = quiet + 1 if frac < busy_below else 0
        if quiet >= quiet_checks:
            return {"waited_s": round(time.monotonic() - t0, 1), "idle": True}
    return {"waited_s": round(time.monotonic() - t0, 1), "idle": False, "last_busy_cores": round(frac or 0, 2)}


def _dist_version(name: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # pragma: no cover
        return None


# --------------------------------------------------------------------------
# contract
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class CompiledContract:
    bytecode: bytes
    source_note: str  # how it was compiled (documented in the report)


def _vyper_executable() -> str:
    candidate = Path(sys.executable).parent / "vyper"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("vyper")
    if not found:
        raise RuntimeError("vyper not found (pip install -e '.[test]' installs vyper==0.4.3)")
    return found


def _compile_file(path: Path, evm_version: str = "cancun") -> bytes:
    out = subprocess.run(
        [_vyper_executable(), "--evm-version", evm_version, "-f", "bytecode", str(path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return bytes.fromhex(out.stdout.strip().removeprefix("0x"))


def compile_storage_contract(path: Path = CONTRACT_PATH, *, evm_version: str = "cancun") -> CompiledContract:
    """Compile the workload contract with ``vyper --evm-version <evm_version>`` (default cancun)."""
    try:
        note = f"{path.relative_to(REPO_ROOT)} as-is" + ("" if evm_version == "cancun" else f", --evm-version {evm_version}")
        return CompiledContract(_compile_file(path, evm_version), note)
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"vyper failed on {path}:\n{exc.stderr or ''}{exc.stdout or ''}") from exc


def set_calldata(key: int, value: int) -> bytes:
    return SET_SELECTOR + key.to_bytes(32, "big") + value.to_bytes(32, "big")


def contract_address(sender: str, nonce: int) -> str:
    import rlp
    from eth_utils import keccak, to_canonical_address, to_checksum_address

    return to_checksum_address(keccak(rlp.encode([to_canonical_address(sender), nonce]))[12:])


# --------------------------------------------------------------------------
# signing
# --------------------------------------------------------------------------
def sign_deploy(private_key: str, bytecode: bytes, *, nonce: int, chain_id: int, gas_price: int, gas: int = 1_000_000) -> bytes:
    from eth_account import Account

    tx = {"nonce": nonce, "gas": gas, "gasPrice": gas_price, "data": bytecode, "value": 0, "chainId": chain_id}
    return bytes(Account.sign_transaction(tx, private_key).raw_transaction)


def workload_keys(count: int) -> list[str]:
    """Deterministic private keys of the benchmark's senders (test-only keys)."""
    from eth_utils import keccak

    return ["0x" + keccak(f"evidence-ledger bench sender {i}".encode()).hex() for i in range(count)]


def default_senders(n: int, per_sender: int = 50) -> int:
    """Senders for N transactions: at most ``per_sender`` in flight per sender.

    A pool may hold only a bounded run of nonces per sender ahead of its
    committed nonce (the ledger node: 64, like geth's per-account slots), so a
    single sender cannot fill a 500-transaction block.
    """
    return max(1, -(-n // per_sender))


def sign_set_calls(
    private_keys: Sequence[str],
    to: str,
    *,
    n: int,
    first_nonces: Sequence[int],
    chain_id: int,
    gas_price: int,
    gas: int,
    key_offset: int = 0,
) -> list[bytes]:
    """Pre-sign ``n`` legacy (EIP-155) ``set(key, value)`` calls, round-robin over senders.

    Transaction ``j`` comes from sender ``j % K`` with that sender's next nonce, so
    in sending order every sender's nonces are consecutive.  Every call writes a
    fresh mapping key, i.e. stores a new slot.  ``gasPrice`` = the node's
    ``eth_gasPrice`` (0 on the zero-base-fee ledger); legacy transactions are
    valid under Cancun rules while the base fee is 0.
    """
    from eth_account import Account
    from eth_utils import to_checksum_address

    accounts = [Account.from_key(k) for k in private_keys]
    nonces = list(first_nonces)
    to = to_checksum_address(to)
    raws = []
    for j in range(n):
        s = j % len(accounts)
        tx = {
            "nonce": nonces[s],
            "gas": gas,
            "gasPrice": gas_price,
            "to": to,
            "value": 0,
            "data": set_calldata(key_offset + j, j + 1),
            "chainId": chain_id,
        }
        nonces[s] += 1
        raws.append(bytes(accounts[s].sign_transaction(tx).raw_transaction))
    return raws


def sign_transfers(private_key: str, recipients: Sequence[str], *, amount: int, nonce: int, chain_id: int, gas_price: int) -> list[bytes]:
    from eth_account import Account
    from eth_utils import to_checksum_address

    acct = Account.from_key(private_key)
    return [
        bytes(
            acct.sign_transaction(
                {"nonce": nonce + i, "gas": 21_000, "gasPrice": gas_price, "to": to_checksum_address(r), "value": amount, "data": b"", "chainId": chain_id}
            ).raw_transaction
        )
        for i, r in enumerate(recipients)
    ]


# --------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------
def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def print_table(title: str, rows: Iterable[tuple[str, Any]], file=sys.stdout) -> None:
    rows = [(str(k), str(v)) for k, v in rows]
    w1 = max(len(k) for k, _ in rows)
    w2 = max(len(v) for _, v in rows)
    print(f"\n{title}", file=file)
    print(f"| {'metric'.ljust(w1)} | {'value'.ljust(w2)} |", file=file)
    print(f"|{'-' * (w1 + 2)}|{'-' * (w2 + 2)}|", file=file)
    for k, v in rows:
        print(f"| {k.ljust(w1)} | {v.ljust(w2)} |", file=file)
    file.flush()


def machine_rows(info: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        ("CPU", info["cpu"]),
        ("cores", info["cores"]),
        ("memory", f"{info['memory_gib']} GiB"),
        ("Python", info["python"]),
        ("py-evm", info["py_evm"]),
        ("OS", info["os"]),
        ("date", info["date"]),
        ("load average at start (1/5/15 min)", info["load_avg_1_5_15"]),
    ]


def print_json_line(tag: str, payload: dict[str, Any]) -> None:
    print(f"{tag} " + json.dumps(payload, sort_keys=True), flush=True)


# --------------------------------------------------------------------------
# figures: what every benchmark hands to bench/run_all
# --------------------------------------------------------------------------
def figure(
    name: str,
    unit: str,
    runs: Sequence[float],
    *,
    better: str = "higher",
    group: str = "",
    note: str = "",
) -> dict[str, Any]:
    """One reported figure: every run's value, their median and spread.

    ``better`` is "higher" (rates) or "lower" (latencies, sizes), so a reader and
    ``bench/run_all`` know which way a ratio points.  The spread is
    (max - min) / median in percent; 0 runs raise, 1 run has spread 0.
    """
    if better not in ("higher", "lower"):
        raise ValueError(f"better must be 'higher' or 'lower', not {better!r}")
    values = [float(v) for v in runs]
    if not values:
        raise ValueError(f"figure {name!r} has no runs")
    mid = statistics.median(values)
    spread = (max(values) - min(values)) / abs(mid) * 100 if mid else 0.0
    return {
        "name": name,
        "group": group,
        "unit": unit,
        "better": better,
        "runs": values,
        "median": mid,
        "min": min(values),
        "max": max(values),
        "spread_pct": round(spread, 1),
        "note": note,
    }


def write_figures(path: Path | str | None, bench: str, figures: Sequence[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """Write ``{"bench", "machine", "figures", ...extra}`` as JSON to ``path`` (if given).

    ``bench/run_all`` passes ``--figures-out PATH`` to each benchmark and merges the files.
    """
    doc = {"bench": bench, "machine": machine_info(), "figures": list(figures), **extra}
    if path is not None:
        Path(path).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return doc
