"""Install and locate the standard Ethereum tools used by the compatibility tests.

The tests in ``test_ethers.py`` and ``test_cast.py`` prove that the unmodified
npm packages ``ethers`` (v6) and ``@foundry-rs/cast`` (Foundry's ``cast``)
work against an evidence-ledger node.  This module

* installs them from ``tests/integration/js/package.json`` (exact versions)
  into ``tests/integration/js/node_modules`` (git-ignored) with
  ``npm install --prefix``, at most once per test session and only when that
  directory is missing or was installed from a different package.json (a
  stamp file in node_modules records the package.json it came from);
* ``pytest.skip``s with a clear reason when ``node``/``npm`` are not on PATH
  or the npm registry cannot be reached (DNS failure, refused connection,
  time-out); any other npm failure fails the test;
* locates the native ``cast`` executable that ``@foundry-rs/cast`` ships; and
* compiles ``tests/contracts/Storage.vy`` with the installed Vyper.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
JS_DIR = HERE / "js"
NODE_MODULES = JS_DIR / "node_modules"
STAMP_FILE = NODE_MODULES / ".evidence-ledger-install-stamp"
LOCK_FILE = JS_DIR / ".npm-install.lock"
STORAGE_VY = REPO_ROOT / "tests" / "contracts" / "Storage.vy"

# Upper bound for one `npm install`/`npm ci` (the install itself takes ~10 s
# with a warm npm cache; the cast binary is a ~60 MB tarball).
NPM_INSTALL_TIMEOUT = int(os.environ.get("EVIDENCE_LEDGER_NPM_TIMEOUT", "300"))

# npm error codes / messages that mean "the registry is not reachable from
# here" rather than "the install is broken".
_NETWORK_ERROR_RE = re.compile(
    r"\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ESOCKETTIMEDOUT|"
    r"ENETUNREACH|EHOSTUNREACH|ENETDOWN|ERR_SOCKET_TIMEOUT|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|"
    r"SELF_SIGNED_CERT_IN_CHAIN|CERT_HAS_EXPIRED)\b"
    r"|network request to .* failed|getaddrinfo|This is a problem related to network connectivity",
    re.IGNORECASE,
)


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


def _install_fingerprint() -> str:
    h = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        p = JS_DIR / name
        if p.exists():
            h.update(name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _platform_package_suffix() -> str | None:
    """The `<os>-<arch>` suffix of @foundry-rs's per-platform binary packages."""
    system = {"Linux": "linux", "Darwin": "darwin", "Windows": "win32"}.get(platform.system())
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine)
    if system is None or arch is None:
        return None
    return f"{system}-{arch}"


def find_foundry_binary(tool: str, node_modules: Path = NODE_MODULES) -> Path | None:
    """Locate the native executable shipped by ``@foundry-rs/<tool>``.

    ``@foundry-rs/<tool>`` itself only contains a node wrapper (``bin.mjs``,
    linked as ``node_modules/.bin/<tool>``).  The real binary comes in the
    per-platform optional dependency ``@foundry-rs/<tool>-<os>-<arch>`` as
    ``bin/<tool>``; when npm skipped optional dependencies, the package's
    postinstall script downloads the same tarball and unpacks the binary next
    to itself (``@foundry-rs/<tool>/<tool>``), while the wrapper also looks at
    ``@foundry-rs/dist/<tool>``.  Check those places in that order.
    """
    exe = f"{tool}.exe" if platform.system() == "Windows" else tool
    scope = node_modules / "@foundry-rs"
    candidates: list[Path] = []
    suffix = _platform_package_suffix()
    if suffix:
        candidates.append(scope / f"{tool}-{suffix}" / "bin" / exe)
    candidates += [scope / tool / exe, scope / "dist" / exe, scope / tool / "dist" / exe]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    return None


def _package_version(name: str) -> str | None:
    pj = NODE_MODULES / name / "package.json"
    try:
        return json.loads(pj.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def _installed_ok() -> bool:
    try:
        stamp = STAMP_FILE.read_text().strip()
    except OSError:
        return False
    version = _package_version("ethers") or ""
    return (
        stamp == _install_fingerprint()
        and version.startswith("6.")
        and find_foundry_binary("cast") is not None
    )


def _run_npm_install(npm: str) -> None:
    # package.json pins exact versions (ethers pins its own dependencies
    # exactly too), so no lock file is kept: `--no-package-lock` neither reads
    # nor writes one.  Optional dependencies must be included: the native cast
    # binary is one of them.
    verb = "install"
    cmd = [
        npm, verb, "--prefix", str(JS_DIR), "--no-package-lock",
        "--include=optional", "--no-audit", "--no-fund", "--prefer-offline",
        "--loglevel=error",
    ]
    env = dict(os.environ)
    env.update({
        "npm_config_update_notifier": "false",
        "npm_config_fetch_retries": "1",
        "npm_config_fetch_timeout": "60000",
    })
    try:
        proc = subprocess.run(
            cmd, cwd=JS_DIR, env=env, capture_output=True, text=True,
            timeout=NPM_INSTALL_TIMEOUT, stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(
            f"`npm {verb}` of ethers/@foundry-rs/cast did not finish within "
            f"{NPM_INSTALL_TIMEOUT}s: npm registry unreachable or too slow"
        )
    if proc.returncode != 0:
        output = (proc.stdout or "") + "\n" + (proc.stderr or "")
        if _NETWORK_ERROR_RE.search(output):
            lines = [ln.strip() for ln in output.splitlines()
                     if _NETWORK_ERROR_RE.search(ln) or ln.startswith("npm error code")]
            pytest.skip(
                "npm registry unreachable, cannot install ethers/@foundry-rs/cast: "
                + " | ".join(dict.fromkeys(lines))[:600]
            )
        pytest.fail(
            f"`{' '.join(cmd)}` failed with exit code {proc.returncode}:\n{output.strip()[-4000:]}",
            pytrace=False,
        )


def _ensure_installed() -> NpmTools:
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        missing = " and ".join(n for n, p in (("node", node), ("npm", npm)) if p is None)
        pytest.skip(f"{missing} not found on PATH: cannot run ethers/cast compatibility tests")

    JS_DIR.mkdir(parents=True, exist_ok=True)
    # Serialise concurrent test processes installing into the same directory.
    with open(LOCK_FILE, "w") as lock_fh:
        fcntl.flock(lock_fh, fcntl.LOCK_EX)
        try:
            if not _installed_ok():
                _run_npm_install(npm)
                cast_path = find_foundry_binary("cast")
                if cast_path is None:
                    listing = sorted(
                        str(p.relative_to(NODE_MODULES))
                        for p in (NODE_MODULES / "@foundry-rs").glob("**/*")
                    ) if (NODE_MODULES / "@foundry-rs").exists() else []
                    pytest.fail(
                        "npm installed @foundry-rs/cast but no native cast binary was found "
                        f"for {platform.system()}/{platform.machine()}; node_modules/@foundry-rs has: {listing}",
                        pytrace=False,
                    )
                STAMP_FILE.write_text(_install_fingerprint() + "\n")
        finally:
            fcntl.flock(lock_fh, fcntl.LOCK_UN)

    cast_path = find_foundry_binary("cast")
    assert cast_path is not None
    ethers_version = _package_version("ethers") or ""
    assert ethers_version.startswith("6."), f"expected ethers v6, found {ethers_version!r}"
    out = subprocess.run(
        [str(cast_path), "--version"], capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0 and out.stdout.startswith("cast"), (
        f"{cast_path} --version failed: rc={out.returncode} {out.stdout!r} {out.stderr!r}"
    )
    return NpmTools(
        node=node,
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
