"""docs/sdk.md, executed: every ```python block of it, in order, each in a namespace of
its own (the doc says each is a complete program), against a fresh dev node started with
`--auth required`, a real signing service (`ledger signer serve`) and the files and
environment variables the doc's "Before you start" names. The setup does what the doc
says happens elsewhere — the admins trust the CA and grant the platform TRADING_CENTER,
the node's operator issues tokens, the service's operator adds the bidder — with the
real CLI and SDK; the admins' own key and token are in the environment for the one block
where they approve the parties' seals. A failing block is named by its number, line and heading."""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
import traceback
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chaincode import ROLE_BITS
from client import Ledger, devpki, pkifiles
from client.credentials import CertificateIdentity
from tests import pki
from tests.integration.nodeproc import NodeProcess, _die_with_parent, free_port
from tests.integration.permissioned import issue_tokens

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "sdk.md"
SIGNER_PASSPHRASE = "sdk doc signing service passphrase"
SIGNER_DEADLINE_SECONDS = 30
ACTION_GRANT_ROLES = 3  # IdentityRegistry's proposal action (chaincode.PROPOSAL_ACTIONS)
# The doc's walk-through has a block for each step of the integration; fewer means one was
# dropped (or the fence lost its language tag and the block silently stopped being run).
MIN_BLOCKS = 13

_FENCE = re.compile(r"^```python\n(.*?)^```\s*$", re.DOTALL | re.MULTILINE)
_HEADING = re.compile(r"^#+ (.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Block:
    number: int   # 1-based, in document order
    line: int     # the line of the block's first code line
    heading: str  # the section it is under
    code: str


def python_blocks(text: str) -> list[Block]:
    blocks = []
    for number, match in enumerate(_FENCE.finditer(text), 1):
        headings = _HEADING.findall(text, 0, match.start())
        line = text.count("\n", 0, match.start(1)) + 1
        blocks.append(Block(number, line, headings[-1] if headings else "", match.group(1)))
    return blocks


def run_blocks(blocks: list[Block], path: Path) -> None:
    """Run each block in a fresh namespace, compiled with the doc's path and padded to its
    line, so a traceback points into the doc; the first failure fails the test, naming it."""
    for block in blocks:
        code = compile("\n" * (block.line - 1) + block.code, str(path), "exec")
        failure = None
        try:
            exec(code, {"__name__": "__main__"})
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        except SystemExit as exc:  # a block must not end the run quietly
            failure = f"SystemExit({exc.code!r})"
        if failure is not None:
            pytest.fail(f"{path.name} block {block.number} (line {block.line}, under {block.heading!r}) failed: {failure}",
                        pytrace=False)


def test_a_failing_block_is_named(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("# T\n\n```python\nvalue = 1\n```\n\n## Second\n\ntext\n\n```python\nx = 1\nvalue\n```\n")
    blocks = python_blocks(doc.read_text())
    assert [(b.number, b.line, b.heading) for b in blocks] == [(1, 4, "T"), (2, 12, "Second")]
    with pytest.raises(pytest.fail.Exception) as failed:
        run_blocks(blocks, doc)  # block 2 uses block 1's name: each block is a program of its own
    message = str(failed.value)
    assert "doc.md block 2 (line 12, under 'Second') failed: NameError" in message
    assert f'File "{doc}", line 13' in message  # the traceback points at the doc's own line


# -- the world the doc assumes ---------------------------------------------------------------


def account_key(name: str) -> bytes:
    """A fixed chain account key per name."""
    return hashlib.sha256(f"evidence-ledger sdk doc account {name}".encode()).digest()


def write_identity(directory: Path, name: str, identity: CertificateIdentity) -> tuple[Path, Path]:
    chain, key = directory / f"{name}-chain.pem", directory / f"{name}-key.pem"
    chain.write_bytes(devpki.chain_pem(identity.chain))
    key.write_bytes(pkifiles.private_key_pem(identity.key))
    return chain, key


def cli(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "client.cli", *args], cwd=ROOT, env=env or dict(os.environ),
                          check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@dataclass
class SigningService:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + SIGNER_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"signing service exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"signing service not healthy after {SIGNER_DEADLINE_SECONDS} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The node, the signing service, the files and the environment; yields the working
    directory the doc's blocks run in."""
    files = tmp_path / "files"
    files.mkdir()
    ca = pki.p256_ca()
    identities = {
        "center": ca.issue("City Trading Center", "p256"),
        "tenderer": ca.issue("Tenderer Construction Group", "rsa2048"),
        "bidder": ca.issue("Winning Bidder Engineering", "p256"),
        "court": ca.issue("Intermediate People's Court", "p256"),
    }
    paths = {name: write_identity(files, name, identity) for name, identity in identities.items()}
    key_files = {}
    for name in ("center", "tenderer", "bidder"):
        key_files[name] = files / f"{name}.key"
        key_files[name].write_text("0x" + account_key(name).hex() + "\n")

    signer_dir = tmp_path / "signer"
    signer_env = {**os.environ, "LEDGER_SIGNER_PASSPHRASE": SIGNER_PASSPHRASE}
    bidder_chain, bidder_key = paths["bidder"]
    signer_token = cli("signer", "add-user", "--dir", str(signer_dir), "--user", "bidder",
                       "--cert", str(bidder_chain), "--cert-key", str(bidder_key), env=signer_env).strip()

    node = NodeProcess(tmp_path / "data", free_port(), auth="required")
    log = tmp_path / "signer.log"
    port = free_port()
    with open(log, "wb") as log_file:
        service = SigningService(f"http://127.0.0.1:{port}", subprocess.Popen(
            [sys.executable, "-m", "client.cli", "signer", "serve", "--dir", str(signer_dir), "--port", str(port)],
            cwd=ROOT, env=signer_env, stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent), log)
    try:
        node.start()
        service.wait_healthy()
        tokens = issue_tokens(node.data_dir, {
            "admin": ["--role", "admin"],
            "platform": ["--role", "trading-center", "--subject", "City Trading Center platform"],
            "regulator": ["--role", "regulator", "--subject", "City Housing Bureau"],
        })
        # The admins (the dev chain's one admin is a quorum) trust the CA; the platform
        # registers its certificate; the admins grant it TRADING_CENTER.
        admin = Ledger(node.url, bytes.fromhex(node.dev_key.removeprefix("0x")), token=tokens["admin"])
        admin.propose_trust_root(ca.root_der, admin.address)
        platform = Ledger(node.url, account_key("center"), token=tokens["platform"])
        platform.register_member(identities["center"])
        admin.propose(ACTION_GRANT_ROLES, bytes.fromhex(platform.address[2:]), ROLE_BITS["TRADING_CENTER"])

        admin_key = files / "admin.key"
        admin_key.write_text(node.dev_key + "\n")
        environment = {
            "LEDGER_RPC_URL": node.url,
            "LEDGER_TOKEN": tokens["platform"],
            "LEDGER_KEY_FILE": str(key_files["center"]),
            "CENTER_CERT": str(paths["center"][0]),
            "CENTER_CERT_KEY": str(paths["center"][1]),
            "TENDERER_KEY_FILE": str(key_files["tenderer"]),
            "TENDERER_CERT": str(paths["tenderer"][0]),
            "TENDERER_CERT_KEY": str(paths["tenderer"][1]),
            "BIDDER_KEY_FILE": str(key_files["bidder"]),
            "LEDGER_SIGNER_URL": service.url,
            "LEDGER_SIGNER_TOKEN": signer_token,
            "COURT_CERT": str(paths["court"][0]),
            "LEDGER_GENESIS": str(node.data_dir / "genesis.json"),
            "REGULATOR_TOKEN": tokens["regulator"],
            "ADMIN_KEY_FILE": str(admin_key),
            "ADMIN_TOKEN": tokens["admin"],
        }
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("LEDGER_TOKEN_FILE", raising=False)
        work = tmp_path / "work"
        work.mkdir()
        monkeypatch.chdir(work)
        yield work
    finally:
        service.stop()
        node.stop()


def test_every_python_block_of_the_sdk_doc_runs(world: Path) -> None:
    blocks = python_blocks(DOC.read_text())
    assert len(blocks) >= MIN_BLOCKS, f"{DOC.name} has {len(blocks)} python blocks, expected at least {MIN_BLOCKS}"
    run_blocks(blocks, DOC)
    # What the walk-through leaves behind: a receipt per document, beside the stand-ins.
    documents = sorted(p.name for p in (world / "P-2026-014").glob("*.pdf"))
    assert sorted(p.name.removesuffix(".receipt.json") for p in (world / "receipts").glob("*.receipt.json")) == documents
