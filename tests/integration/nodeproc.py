"""Start and stop real node processes on loopback ports for the integration tests."""
from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STARTUP_DEADLINE_SECONDS = 60
STOP_DEADLINE_SECONDS = 30
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Linux: SIGKILL the node if the test process dies without running its finalizers
    (a test runner killed by a timeout), so no node outlives the test that started it."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class NodeProcess:
    data_dir: Path
    port: int
    dev: bool = True
    # `--auth` mode; None: the node's default with --dev (off on loopback), else "off" —
    # these tests exercise chaincode, not access control (tests/integration/test_access.py does).
    auth: str | None = None
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    chain_id: int = 1337
    # More `ledger node start` options (e.g. ("--http-corsdomain", "http://app.example")).
    extra_args: tuple[str, ...] = ()
    dev_key: str = ""
    dev_address: str = ""
    _log: object = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self) -> NodeProcess:
        args = [sys.executable, "-m", "client.cli", "node", "start", "--data-dir", str(self.data_dir),
                "--rpc-host", "127.0.0.1", "--rpc-port", str(self.port)]
        if self.dev:
            args.append("--dev")
        if self.auth is not None:
            args += ["--auth", self.auth]
        elif not self.dev:
            args += ["--auth", "off"]
        args += list(self.extra_args)
        self.log_path = self.log_path or self.data_dir.parent / f"{self.data_dir.name}-node.log"
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                     cwd=Path(__file__).resolve().parents[2], preexec_fn=_die_with_parent)
        self.wait_healthy()
        account_file = self.data_dir / "dev-account.json"
        if account_file.exists():
            doc = json.loads(account_file.read_text())
            self.dev_key, self.dev_address = doc["private_key"], doc["address"]
        return self

    def wait_healthy(self) -> dict:
        deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"node exited with {self.proc.returncode}; log: {self.log_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    return json.loads(response.read())
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"node not healthy after {STARTUP_DEADLINE_SECONDS}s; log: {self.log_text()[-2000:]}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(STOP_DEADLINE_SECONDS)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_DEADLINE_SECONDS)
        code = self.proc.returncode
        self.proc = None
        if self._log is not None:
            self._log.close()  # type: ignore[attr-defined]
            self._log = None
        return code

    def kill(self) -> None:
        """kill -9: no shutdown code runs."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.stop()


def rpc(url: str, method: str, *params: object) -> Any:
    """One raw JSON-RPC call; raises AssertionError carrying the error object on failure."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        reply = json.loads(response.read())
    assert "error" not in reply, f"{method} failed: {reply.get('error')}"
    return reply["result"]
