"""A time-stamping authority for the benchmarks: ``ledger tsa serve`` as a real process.

``TsaProcess.create`` makes the consortium CA the TSA's certificate comes from (``ledger
ca new``, in its own directory), writes a passphrase file, and starts ``ledger tsa serve``
on a free loopback port; it is ready when ``GET /`` answers 200. The TSA signs with a
P-256 key and fsyncs its serial file and token log on every request, as in production
(client/tsa_server.py), so what a benchmark measures includes both. Stopped like every
benchmark process: SIGTERM, then SIGKILL after a deadline.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from cryptography import x509

from bench.common.nodes import LoggedProcess, free_port, http_get_status
from client import pkifiles

# A passphrase for a throw-away key in a temporary directory (the TSA wants 12 characters).
BENCH_PASSPHRASE = "benchmark passphrase, not a secret"
# `ledger ca new` generates one key and writes three files.
CA_TIMEOUT_SECONDS = 60.0


class TsaProcess(LoggedProcess):
    """``ledger tsa serve`` in ``directory``/data on a loopback port."""

    what = "TSA"
    ready_check = "GET /"

    def __init__(self, ledger: str, directory: Path, port: int) -> None:
        self.directory, self.port = directory, port
        argv = [ledger, "tsa", "serve", "--ca", str(directory / "ca"), "--dir", str(directory / "data"),
                "--host", "127.0.0.1", "--port", str(port), "--passphrase-file", str(directory / "passphrase")]
        super().__init__(argv, directory / "tsa.log", directory)

    @classmethod
    def create(cls, ledger: str, directory: Path, ready_timeout: float) -> TsaProcess:
        """A CA, then the TSA started from it (its certificate issued on this first start)."""
        directory.mkdir(parents=True, exist_ok=True)
        made = subprocess.run([ledger, "ca", "new", "--name", "Benchmark TSA CA", "--org", "Benchmark",
                               "--key-type", "p256", "--out", str(directory / "ca")],
                              capture_output=True, text=True, timeout=CA_TIMEOUT_SECONDS, check=False)
        if made.returncode != 0:
            raise RuntimeError(f"ledger ca new failed: {made.stderr.strip()}")
        (directory / "passphrase").write_text(BENCH_PASSPHRASE + "\n")
        tsa = cls(ledger, directory, free_port())
        tsa.start(ready_timeout)
        return tsa

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def root(self) -> x509.Certificate:
        """The root a verifier is given (the CA ``ledger ca new`` made)."""
        return pkifiles.load_certificates((self.directory / "ca" / "ca.pem").read_bytes())[0]

    def ready(self) -> bool:
        return http_get_status("127.0.0.1", self.port, "/") == 200
