"""The real CLI and node process keep a data directory private: `ledger node init` and
the first `ledger node start --dev` leave directories 0700 and files 0600 (LevelDB's
included, while the node runs and after it stops), and a --dev directory whose modes were
widened is tightened on the next start, which logs it. The processes run under umask
022, which alone would leave files 0644."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.consensus.sealing import ValidatorKey
from node.execution.genesis import build_genesis_document
from node.ops.runner import write_key_file
from tests.integration.nodeproc import NodeProcess, free_port

REPO = Path(__file__).resolve().parents[2]
SECRET = bytes(range(1, 33))


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """Child processes inherit it: the node must not depend on a strict one."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def wide_paths(root: Path) -> dict[str, str]:
    """Paths under `root` (root included) with any group/other permission bit set."""
    found: dict[str, str] = {}
    for path in (root, *root.rglob("*")):
        if path.is_symlink():
            continue
        mode = stat.S_IMODE(os.lstat(path).st_mode)
        expected = 0o700 if path.is_dir() else 0o600
        if mode != expected:
            found[str(path.relative_to(root))] = oct(mode)
    return found


def test_node_init_cli_makes_a_private_data_dir(tmp_path: Path) -> None:
    document = build_genesis_document(chain_id=4747, validators=[ValidatorKey(SECRET).address], alloc={}, members=[])
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(document))
    key = tmp_path / "validator.key"
    write_key_file(key, SECRET)
    data = tmp_path / "data"
    result = subprocess.run(
        [sys.executable, "-m", "client.cli", "node", "init", "--genesis", str(genesis), "--data-dir", str(data),
         "--key", str(key)], capture_output=True, text=True, timeout=120, cwd=REPO, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (data / "chain" / "CURRENT").exists()
    assert wide_paths(data) == {}


def test_dev_node_tightens_a_widened_data_dir_on_start(tmp_path: Path) -> None:
    """Widened by hand (or made by an older version): the next start tightens and logs it."""
    data = tmp_path / "dev"
    first = NodeProcess(data, free_port())
    try:
        first.start()
    finally:
        first.stop()
    for path in (data, *data.rglob("*")):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    again = NodeProcess(data, free_port(), log_path=tmp_path / "again.log")
    try:
        again.start()
        assert (data / "chain" / "CURRENT").exists()
        assert wide_paths(data) == {}
        assert "removed group/other access" in again.log_text()
    finally:
        again.stop()
    assert wide_paths(data) == {}, "after a clean stop"


def test_dev_node_keeps_a_fresh_data_dir_private_while_running(tmp_path: Path) -> None:
    data = tmp_path / "dev"
    node = NodeProcess(data, free_port())
    try:
        node.start()
        assert (data / "chain" / "CURRENT").exists()
        assert wide_paths(data) == {}, "while running"
    finally:
        node.stop()
    assert wide_paths(data) == {}, "after a clean stop"
