"""The `ledger` CLI run as a user runs it, for integration tests: `python -m client.cli` as a
process, with no LEDGER_* variable of the test runner's leaking in, a terminal wide enough
that no table folds what an assertion looks for, and the result with its output."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CLI_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"ledger {' '.join(self.args)} -> exit {self.code}\nstdout: {self.out}\nstderr: {self.err}"

    def ok(self) -> Run:
        assert self.code == 0, str(self)
        return self

    def json(self) -> Any:
        return json.loads(self.ok().out)

    @property
    def last_line(self) -> str:
        lines = self.out.strip().splitlines()
        return lines[-1] if lines else ""

    def refused(self, reason: str) -> Run:
        """Exit 1 with `error: ...reason...`: the chain or a contract said no."""
        assert self.code == 1 and "error: " in self.err and reason in self.err, str(self)
        return self

    def usage(self, reason: str) -> Run:
        """Exit 2 naming the bad input."""
        assert self.code == 2 and reason in self.err, str(self)
        return self


class Pending:
    def __init__(self, args: list[str], proc: subprocess.Popen[str]) -> None:
        self.args, self.proc = args, proc

    def result(self) -> Run:
        try:
            out, err = self.proc.communicate(timeout=CLI_TIMEOUT_SECONDS)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.communicate()
        return Run(tuple(self.args), self.proc.returncode, out, err)


@dataclass
class Cli:
    """`python -m client.cli` with LEDGER_RPC_URL set to the node and keys by account name."""

    rpc: str | None
    keys: dict[str, Path] = field(default_factory=dict)

    def start(self, *args: object, key: str | None = None, env_key: str | None = None) -> Pending:
        argv = [str(a) for a in args]
        if key is not None:
            argv += ["--key", str(self.keys[key])]
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
        env["COLUMNS"] = "320"  # rich tables fold long hashes at the width it finds (80 without a terminal)
        if self.rpc is not None:
            env["LEDGER_RPC_URL"] = self.rpc
        if env_key is not None:
            env["LEDGER_KEY_FILE"] = str(self.keys[env_key])
        proc = subprocess.Popen([sys.executable, "-m", "client.cli", *argv], cwd=ROOT, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return Pending(argv, proc)

    def run(self, *args: object, key: str | None = None, env_key: str | None = None) -> Run:
        return self.start(*args, key=key, env_key=env_key).result()


def together(*pending: Pending) -> list[Run]:
    """Wait for commands started concurrently, in the order given."""
    return [p.result() for p in pending]


