"""Install and locate the standard Ethereum tools used by the compatibility tests.

The tests in ``test_ethers.py`` and ``test_cast.py`` prove that the unmodified
npm packages ``ethers`` (v6) and ``@foundry-rs/cast`` (Foundry's ``cast``)
work against an evidence-ledger node.  This module

* installs them from ``tests/integration/js/package.json`` (exact versions)
  into ``tests/integration/js/node_modules`` (git-ignored) with
  ``bench/npm.py`` (``npm install --prefix``, a stamp of the package.json it
  came from, a lock, a time-out), at most once per test session;
* ``pytest.skip``s with a clear reason when ``node``/``npm`` are not on PATH
  or the npm registry cannot be reached (``NpmUnavailable``: DNS failure,
  refused connection, time-out); any other npm failure (``NpmFailed``) fails
  the test;
* locates the native ``cast`` executable that ``@foundry-rs/cast`` ships; and
* compiles ``tests/contracts/Storage.vy`` with the installed Vyper.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
JS_DIR = HERE / "js"
NODE_MODULES = JS_DIR / "node_modules"
STORAGE_VY = REPO_ROOT / "tests" / "contracts" / "Storage.vy"

try:
    from bench import npm as _npm
except ImportError:  # imported as a loose module: the repo root is not on sys.path
    sys.path.insert(0, str(REPO_ROOT))
    from bench import npm as _npm

WHAT = "ethers/@foundry-rs/cast"


@dataclass(frozen=True)
class NpmTools:
    node: str  # absolute path of the `node` executable
    js_dir: Path  # tests/integration/js (scripts + node_modules)
    cast: str  # absolute path of the native `cast` executable
    ethers_version: str
    cast_version: str  # first line of `cast --version`

    def node_script(self, name: str) -> list[str]:
        """argv prefix that runs tests/integration/js/<name> with node."""
        script = self.js_dir / name
        assert script.is_file(), f"missing node script {script}"
        return [self.node, str(script)]


def find_foundry_binary(tool: str, node_modules: Path = NODE_MODULES) -> Path | None:
    """Locate the native executable shipped by ``@foundry-rs/<tool>`` (see ``bench/npm.py``)."""
    return _npm.find_foundry_binary(tool, node_modules)


def _check_tools(node_modules: Path) -> str | None:
    """None if ethers v6 and a native cast binary are installed, else what is missing."""
    version = _npm.package_version(node_modules, "ethers")
    if not (version or "").startswith("6."):
        return f"expected ethers v6, found {version!r}"
    if find_foundry_binary("cast", node_modules) is None:
        scope = node_modules / "@foundry-rs"
        listing = sorted(str(p.relative_to(node_modules)) for p in scope.glob("**/*")) if scope.exists() else []
        return f"no native cast binary for this platform; node_modules/@foundry-rs has: {listing}"
    return None


def _ensure_installed() -> NpmTools:
    try:
        installed = _npm.ensure_installed(JS_DIR, what=WHAT, check=_check_tools)
    except _npm.NpmUnavailable as exc:
        pytest.skip(f"{exc.reason}: cannot run the ethers/cast compatibility tests")
    except _npm.NpmFailed as exc:
        pytest.fail(str(exc), pytrace=False)

    cast_path = find_foundry_binary("cast")
    assert cast_path is not None
    ethers_version = _npm.package_version(NODE_MODULES, "ethers") or ""
    out = subprocess.run(
        [str(cast_path), "--version"], capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0 and out.stdout.startswith("cast"), (
        f"{cast_path} --version failed: rc={out.returncode} {out.stdout!r} {out.stderr!r}"
    )
    return NpmTools(
        node=installed.node,
        js_dir=JS_DIR,
        cast=str(cast_path),
        ethers_version=ethers_version,
        cast_version=out.stdout.splitlines()[0].strip(),
    )


_RESULT: NpmTools | None = None
_OUTCOME: BaseException | None = None  # skip/fail of the first attempt, replayed


def npm_tools() -> NpmTools:
    """Install (once per session, cached on disk across sessions) and return the tools.

    Skips the calling test if node/npm are missing or the registry is unreachable.
    The first attempt's outcome (tools, skip or failure) is reused for every later
    caller in the same session, so an unreachable registry costs one time-out.
    """
    global _RESULT, _OUTCOME
    if _RESULT is not None:
        return _RESULT
    if _OUTCOME is not None:
        raise _OUTCOME
    try:
        _RESULT = _ensure_installed()
    except BaseException as exc:  # pytest's Skipped/Failed are BaseExceptions
        if not isinstance(exc, KeyboardInterrupt):
            _OUTCOME = exc
        raise
    return _RESULT


@functools.cache
def compile_storage() -> dict:
    """Compile tests/contracts/Storage.vy: {"bytecode": "0x...", "abi": [...]}."""
    import vyper
    from vyper.compiler.settings import Settings

    src = Path(STORAGE_VY).read_text()
    out = vyper.compile_code(
        src,
        contract_path=str(STORAGE_VY),
        output_formats=["bytecode", "abi"],
        settings=Settings(evm_version="cancun"),
    )
    bytecode = out["bytecode"]
    if not bytecode.startswith("0x"):
        bytecode = "0x" + bytecode
    return {"bytecode": bytecode, "abi": out["abi"]}
