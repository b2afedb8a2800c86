"""A node's data directory is private: made 0700 with files 0600 by `ledger node init`
(init_data_dir), the first `--dev` start (ensure_dev_data_dir) and the cluster layout
(create_cluster), LevelDB's own files included; one made wider by an older version or by
hand is tightened on init and when the chain database opens, and that is logged."""
from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509

from node.consensus.sealing import ValidatorKey
from node.execution.genesis import build_genesis_document
from node.network.tlscerts import certificate_validator
from node.ops.cluster.create import create_cluster
from node.ops.cluster.layout import TLS_CERT_FILE
from node.ops.runner import ensure_dev_data_dir, init_data_dir, write_key_file
from node.service import CHAIN_DIR, KEY_FILE
from node.storage.files import make_private
from node.storage.store import LevelStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET = bytes(range(1, 33))


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most systems give a login shell, which leaves new files 0644: privacy
    must come from the node, not from the environment the tests run in."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def modes(root: Path, skip: frozenset[str] = frozenset()) -> dict[str, str]:
    """Every directory and regular file under `root` (and root) -> its permission bits, octal."""
    found = {".": oct(stat.S_IMODE(os.stat(root).st_mode))}
    for directory, dirnames, filenames in os.walk(root):
        for entry in (*dirnames, *filenames):
            path = Path(directory) / entry
            relative = str(path.relative_to(root))
            if relative not in skip:
                found[relative] = oct(stat.S_IMODE(os.lstat(path).st_mode))
    return found


def assert_private(root: Path, skip: frozenset[str] = frozenset()) -> None:
    found = modes(root, skip)
    wide = {path: mode for path, mode in found.items()
            if mode != (oct(0o700) if (root / path).is_dir() else oct(0o600))}
    assert not wide, f"not private under {root}: {wide}"
    database = "" if root.name == CHAIN_DIR else CHAIN_DIR + "/"
    assert database + "CURRENT" in found, "LevelDB's files were checked"


def make_wide(root: Path) -> None:
    for directory, dirnames, filenames in os.walk(root):
        for entry in dirnames:
            os.chmod(Path(directory) / entry, 0o755)
        for entry in filenames:
            os.chmod(Path(directory) / entry, 0o644)
    os.chmod(root, 0o755)


@pytest.fixture
def genesis_path(tmp_path: Path) -> Path:
    document = build_genesis_document(chain_id=4646, validators=[ValidatorKey(SECRET).address], alloc={},
                                      members=[])
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(document))
    return path


def test_node_init_makes_a_private_data_dir(tmp_path: Path, genesis_path: Path) -> None:
    key = tmp_path / "validator.key"
    write_key_file(key, SECRET)
    data = tmp_path / "data"
    init_data_dir(data, genesis_path, key)
    assert_private(data)
    assert (data / KEY_FILE).read_bytes() == key.read_bytes()


def test_dev_first_start_makes_a_private_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "dev"
    ensure_dev_data_dir(data)
    assert_private(data)


def test_wider_modes_are_tightened_and_logged(tmp_path: Path, genesis_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "data"
    init_data_dir(data, genesis_path)
    for reopen in ("init again", "the chain database opens", "--dev start again"):
        make_wide(data)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="ledger.storage"):
            if reopen == "init again":
                init_data_dir(data, genesis_path)
                assert_private(data)
            elif reopen == "the chain database opens":
                LevelStore(data / CHAIN_DIR).close()
                assert_private(data / CHAIN_DIR)                      # its own tree only
                assert stat.S_IMODE(os.stat(data).st_mode) == 0o755   # not its business
                os.chmod(data, 0o700)
            else:
                dev = tmp_path / "dev"
                ensure_dev_data_dir(dev)
                make_wide(dev)
                caplog.clear()
                ensure_dev_data_dir(dev)
                assert_private(dev)
        messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any("removed group/other access" in m for m in messages), (reopen, messages)


def test_make_private_does_not_follow_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("not the node's")
    os.chmod(outside, 0o644)
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    (data / "link").symlink_to(outside)
    (data / "own.txt").write_text("the node's")
    changed = make_private(data)
    assert sorted(p.name for p in changed) == ["data", "own.txt"]
    assert stat.S_IMODE(os.stat(outside).st_mode) == 0o644


def test_a_mode_that_cannot_change_is_logged_not_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """A file of another user (chmod: EPERM) is left as it is and logged; the rest is tightened."""
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    (data / "theirs.txt").write_text("another user's")
    (data / "ours.txt").write_text("ours")
    chmod = os.chmod

    def refuse_theirs(path: os.PathLike[str] | str, mode: int, **kwargs: object) -> None:
        if Path(path).name == "theirs.txt":
            raise PermissionError(1, "Operation not permitted")
        chmod(path, mode)

    monkeypatch.setattr(os, "chmod", refuse_theirs)
    with caplog.at_level(logging.WARNING, logger="ledger.storage"):
        changed = make_private(data)
    assert sorted(p.name for p in changed) == ["data", "ours.txt"]
    assert any("theirs.txt" in r.getMessage() and "Operation not permitted" in r.getMessage() for r in caplog.records)


def test_cluster_node_dirs_are_private_and_validator_certificates_bound(tmp_path: Path) -> None:
    layout = create_cluster(tmp_path / "cluster", 1, 1, now=NOW)
    for node in layout.nodes:
        assert_private(node.data_dir)
        cert = x509.load_pem_x509_certificate((node.data_dir / TLS_CERT_FILE).read_bytes())
        assert certificate_validator(cert) == node.address, node.name
    assert {n.kind for n in layout.nodes} == {"validator", "observer"}
