"""Install pinned npm packages into a directory's node_modules, and find Foundry's native binaries.

Used by ``bench/peers.py`` (Ganache and anvil, ``bench/peers/package.json``) and by
the tool-compatibility tests (ethers and cast, ``tests/integration/js/package.json``,
through ``tests/integration/npm_tools.py``).  For a directory holding a
``package.json`` that pins exact versions, ``ensure_installed``

* runs ``npm install --prefix <dir> --no-package-lock --include=optional`` only
  when ``<dir>/node_modules`` is missing, was installed from a different
  package.json (a stamp file in node_modules records the package.json it came
  from) or fails the caller's check;
* holds an exclusive ``flock`` on ``<dir>/.npm-install.lock`` meanwhile, so
  concurrent processes installing into the same directory take turns;
* bounds the install by a time-out (``$EVIDENCE_LEDGER_NPM_TIMEOUT`` s, default 300);
* raises ``NpmUnavailable(reason)`` when ``node``/``npm`` are not on PATH or the
  registry cannot be reached (DNS failure, refused connection, time-out) -- the
  caller may skip what needs the packages -- and ``NpmFailed`` for any other
  failure, which is a defect to report.

Nothing here is pytest-specific; the tests turn the two exceptions into
``pytest.skip`` / ``pytest.fail``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

STAMP_NAME = ".evidence-ledger-install-stamp"
LOCK_NAME = ".npm-install.lock"

# Upper bound for one `npm install` (with a warm npm cache an install takes ~10 s;
# Foundry's native binaries are ~60 MB tarballs).
NPM_INSTALL_TIMEOUT = int(os.environ.get("EVIDENCE_LEDGER_NPM_TIMEOUT", "300"))

# npm error codes / messages that mean "the registry is not reachable from here"
# rather than "the install is broken".
NETWORK_ERROR_RE = re.compile(
    r"\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ESOCKETTIMEDOUT|"
    r"ENETUNREACH|EHOSTUNREACH|ENETDOWN|ERR_SOCKET_TIMEOUT|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|"
    r"SELF_SIGNED_CERT_IN_CHAIN|CERT_HAS_EXPIRED)\b"
    r"|network request to .* failed|getaddrinfo|This is a problem related to network connectivity",
    re.IGNORECASE,
)


class NpmUnavailable(Exception):
    """node/npm missing or the npm registry unreachable: the packages cannot be had here."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NpmFailed(Exception):
    """npm ran and failed for another reason, or installed something unusable."""


# A check of an installed node_modules: None if usable, else what is wrong with it.
Check = Callable[[Path], "str | None"]


@dataclass(frozen=True)
class Installed:
    node: str  # absolute path of the `node` executable
    package_dir: Path  # the directory holding package.json
    node_modules: Path


def node_and_npm() -> tuple[str, str]:
    """Absolute paths of ``node`` and ``npm``; ``NpmUnavailable`` if either is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing = " and ".join(n for n, p in (("node", node), ("npm", npm)) if p is None)
        raise NpmUnavailable(f"{missing} not found on PATH")
    return node, npm


def install_fingerprint(package_dir: Path) -> str:
    h = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        p = package_dir / name
        if p.exists():
            h.update(name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def package_version(node_modules: Path, name: str) -> str | None:
    """The ``version`` of an installed package, None if it is not installed."""
    try:
        return json.loads((node_modules / name / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def _platform_package_suffix() -> str | None:
    """The `<os>-<arch>` suffix of @foundry-rs's per-platform binary packages."""
    system = {"Linux": "linux", "Darwin": "darwin", "Windows": "win32"}.get(platform.system())
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())
    if system is None or arch is None:
        return None
    return f"{system}-{arch}"


def find_foundry_binary(tool: str, node_modules: Path) -> Path | None:
    """Locate the native executable shipped by ``@foundry-rs/<tool>`` (cast, anvil, ...).

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


def _run_npm_install(npm: str, package_dir: Path, what: str, timeout: int) -> None:
    # package.json pins exact versions, so no lock file is kept: `--no-package-lock`
    # neither reads nor writes one.  Optional dependencies must be included: Foundry's
    # native binaries are optional dependencies.
    cmd = [
        npm, "install", "--prefix", str(package_dir), "--no-package-lock",
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
            cmd, cwd=package_dir, env=env, capture_output=True, text=True,
            timeout=timeout, stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise NpmUnavailable(
            f"`npm install` of {what} did not finish within {timeout}s: npm registry unreachable or too slow"
        ) from None
    if proc.returncode != 0:
        output = (proc.stdout or "") + "\n" + (proc.stderr or "")
        if NETWORK_ERROR_RE.search(output):
            lines = [ln.strip() for ln in output.splitlines()
                     if NETWORK_ERROR_RE.search(ln) or ln.startswith("npm error code")]
            raise NpmUnavailable(
                f"npm registry unreachable, cannot install {what}: " + " | ".join(dict.fromkeys(lines))[:600]
            )
        raise NpmFailed(f"`{' '.join(cmd)}` failed with exit code {proc.returncode}:\n{output.strip()[-4000:]}")


def ensure_installed(
    package_dir: Path,
    *,
    what: str,
    check: Check = lambda node_modules: None,
    timeout: int | None = None,
) -> Installed:
    """Install ``package_dir/package.json``'s packages unless they are already there.

    ``what`` names the packages in messages; ``check(node_modules)`` returns None when
    an installation is usable, else what is wrong (an installation that fails it is
    redone once, and ``NpmFailed`` is raised if it still fails afterwards).
    """
    node, npm = node_and_npm()
    package_dir = Path(package_dir)
    node_modules = package_dir / "node_modules"
    stamp = node_modules / STAMP_NAME
    fingerprint = install_fingerprint(package_dir)
    with open(package_dir / LOCK_NAME, "w") as lock_fh:
        fcntl.flock(lock_fh, fcntl.LOCK_EX)
        try:
            try:
                current = stamp.read_text().strip() == fingerprint
            except OSError:
                current = False
            if not current or check(node_modules) is not None:
                _run_npm_install(npm, package_dir, what, NPM_INSTALL_TIMEOUT if timeout is None else timeout)
                problem = check(node_modules)
                if problem is not None:
                    raise NpmFailed(f"npm installed {what} but the installation is unusable: {problem}")
                stamp.write_text(fingerprint + "\n")
        finally:
            fcntl.flock(lock_fh, fcntl.LOCK_UN)
    return Installed(node=node, package_dir=package_dir, node_modules=node_modules)
