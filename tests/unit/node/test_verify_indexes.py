"""`ledger chain verify --data-dir` as an auditor runs it: the directory is left exactly as
it was (names, sizes, modes, mtimes, contents), and the event indexes are replayed from
the blocks' logs and compared with the directory's - a changed, missing or extra index
key is INVALID, naming the block, the index and the key."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from node.storage import commitment_counts, schema
from node.storage.indexes import POLICY_KEY
from node.storage.store import LevelStore
from node.verify.chain import verify_chain
from node.verify.indexes import COUNTER_PREFIXES, IndexMismatch, check_indexes
from node.verify.sources import DataDirSource, SourceError, stored_genesis
from tests.files import fingerprint
from tests.unit.node.test_chain_verify import RICH_ADDRESS, build_chain

REPO = Path(__file__).resolve().parents[3]
CLI_TIMEOUT_SECONDS = 120


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory (DATA/chain) of a chain of 8 blocks, 12 transactions."""
    data_dir = tmp_path_factory.mktemp("pristine") / "data"
    build_chain(data_dir / "chain")
    LevelStore(data_dir / "chain").close()  # reopened: its log becomes a table file, as a node's would
    assert list((data_dir / "chain").glob("*.ldb"))
    return data_dir


@pytest.fixture
def data_dir(pristine: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(pristine, target)
    return target


def ledger(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "client.cli", *args], check=False, cwd=REPO, capture_output=True,
                          text=True,
                          timeout=CLI_TIMEOUT_SECONDS)


def edit(data_dir: Path, writes: dict[bytes, bytes | None]) -> None:
    store = LevelStore(data_dir / "chain")
    try:
        store.write_batch(writes)
    finally:
        store.close()


def check(data_dir: Path) -> None:
    source = DataDirSource(data_dir / "chain")
    try:
        genesis = stored_genesis(source.store)
        head = source.head()
        verify_chain(source, genesis=genesis)
        check_indexes(source, genesis, head)
    finally:
        source.close()


def mismatch(data_dir: Path) -> IndexMismatch:
    with pytest.raises(IndexMismatch) as caught:
        check(data_dir)
    return caught.value


# -- read-only ------------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [[], ["--reexecute"], ["--reexecute", "--workers", "2"]])
def test_chain_verify_leaves_the_data_directory_as_it_was(data_dir: Path, extra: list[str]) -> None:
    # As a stopped node leaves it, with group/other bits an old version might have left:
    # verification must not even tighten them.
    for path in data_dir.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    os.chmod(data_dir, 0o755)
    before = fingerprint(data_dir)
    listing = sorted(os.listdir(data_dir / "chain"))
    result = ledger("chain", "verify", "--data-dir", str(data_dir), "--workers", "1", *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("VALID: ")
    assert sorted(os.listdir(data_dir / "chain")) == listing
    assert fingerprint(data_dir) == before


def test_the_private_copy_is_removed(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # read $TMPDIR again
    source = DataDirSource(data_dir / "chain")
    (copy,) = scratch.iterdir()
    assert source.copy.linked >= 1 and (copy / "chain" / "CURRENT").is_file()
    assert source.store.path == data_dir / "chain"  # messages name the directory, not the copy
    source.close()
    assert list(scratch.iterdir()) == []


def test_a_locked_directory_is_refused_and_nothing_is_left(data_dir: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    store = LevelStore(data_dir / "chain")
    try:
        with pytest.raises(SourceError, match="locked"):
            DataDirSource(data_dir / "chain")
    finally:
        store.close()
    assert list(scratch.iterdir()) == []


# -- indexes --------------------------------------------------------------------------------


def test_untouched_indexes_match(pristine: Path) -> None:
    source = DataDirSource(pristine / "chain")
    try:
        summary = check_indexes(source, stored_genesis(source.store), source.head())
    finally:
        source.close()
    # the genesis member's record, the members and roots counters (no system event on this
    # chain) and the commitment counters' version marker
    assert summary.blocks == 9 and summary.events == 0 and summary.keys == 4


def test_a_directory_from_before_the_commitment_counters_is_valid_and_says_so(data_dir: Path) -> None:
    """A data directory indexed before the Supervision counters existed has none of them:
    that is not a mismatch (the node writes them when it opens the directory), and the
    summary names what was not compared; once the marker is there they are compared."""
    store = LevelStore(data_dir / "chain")
    try:
        old = [key for key, _ in store.scan(b"xm", b"xn", limit=100_000) if key[:3] in COUNTER_PREFIXES]
    finally:
        store.close()
    assert schema.COMMITMENT_COUNTS_VERSION in old
    edit(data_dir, dict.fromkeys(old))
    source = DataDirSource(data_dir / "chain")
    try:
        summary = check_indexes(source, stored_genesis(source.store), source.head())
    finally:
        source.close()
    assert "commitment counters version" in summary.skipped and summary.keys == 3
    edit(data_dir, dict([commitment_counts.version_write()]))
    source = DataDirSource(data_dir / "chain")
    try:
        summary = check_indexes(source, stored_genesis(source.store), source.head())
    finally:
        source.close()
    assert summary.skipped == () and summary.keys == 4  # with the marker, the counters are compared


def test_a_changed_member_record_is_named(data_dir: Path) -> None:
    key = schema.MEMBER + RICH_ADDRESS
    edit(data_dir, {key: read(data_dir, key).replace(b'"ADMIN"', b'"AUDITOR"')})
    found = mismatch(data_dir)
    assert (found.height, found.step, found.index, found.key) == (0, "event indexes", "member record", key)
    assert b'"ADMIN"' in (found.expected or b"") and b'"AUDITOR"' in (found.found or b"")
    assert "member record 0x" in found.detail and "changed" in found.detail and '"AUDITOR"' in found.detail


def test_a_missing_counter_is_named(data_dir: Path) -> None:
    key = schema.COUNTER + b"members"
    edit(data_dir, {key: None})
    found = mismatch(data_dir)
    assert (found.index, found.key, found.found, found.expected) == ("counter", key, None, (1).to_bytes(8, "big"))
    assert "missing" in found.detail


def test_an_extra_event_is_named_at_its_cursors_height(data_dir: Path) -> None:
    extra = schema.EVENT + schema.cursor_bytes(5, 0)
    edit(data_dir, {extra: b'{"event":"ContractEffective"}', POLICY_KEY: b"[1,2]"})
    found = mismatch(data_dir)
    # the policy record no block wrote stands at the head (8); the event's cursor says 5
    assert (found.height, found.index, found.key, found.expected) == (5, "event record", extra, None)
    assert found.differences == 2 and "not written by any block" in found.detail and "2 index keys" in found.detail


def test_a_wrong_index_height_is_named(data_dir: Path) -> None:
    edit(data_dir, {schema.INDEX_HEIGHT_KEY: schema.height_bytes(7)})
    found = mismatch(data_dir)
    assert (found.height, found.index) == (8, "index height")


def test_cli_says_invalid_naming_the_index_key(data_dir: Path) -> None:
    key = schema.MEMBER + RICH_ADDRESS
    edit(data_dir, {key: read(data_dir, key).replace(b'"ADMIN"', b'"AUDITOR"')})
    result = ledger("chain", "verify", "--data-dir", str(data_dir), "--workers", "1", "--reexecute")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith(f"INVALID at height 0: event indexes: member record 0x{key.hex()} changed")
    result = ledger("chain", "verify", "--data-dir", str(data_dir), "--workers", "1", "--json")
    document = json.loads(result.stdout)
    assert result.returncode == 1 and document["step"] == "event indexes" and document["key"] == "0x" + key.hex()
    assert document["index"] == "member record" and document["differences"] == 1
    # --no-indexes, or a range, leaves them unchecked and says so
    result = ledger("chain", "verify", "--data-dir", str(data_dir), "--workers", "1", "--no-indexes")
    assert result.returncode == 0 and "event indexes: not checked (--no-indexes)" in result.stdout, result.stdout
    result = ledger("chain", "verify", "--data-dir", str(data_dir), "--workers", "1", "--to", "7", "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["indexesChecked"] is False, result.stdout


def read(data_dir: Path, key: bytes) -> bytes:
    store = LevelStore(data_dir / "chain")
    try:
        value = store.get(key)
    finally:
        store.close()
    assert value is not None
    return value


def test_receipt_logs_of_the_wrong_shape_are_the_blocks_failure() -> None:
    import rlp

    from node.errors import InvalidBlock
    from node.verify.indexes import receipt_logs

    good = rlp.encode([b"\x01", b"\x52\x08", bytes(256), [[b"\x11" * 20, [b"\x22" * 32], b"data"]]])
    (log,) = receipt_logs(3, good).logs
    assert (log.address, log.topics, log.data) == (b"\x11" * 20, (int.from_bytes(b"\x22" * 32, "big"),), b"data")
    for logs in ([[[b"a"], [], b""]], [[b"a", [[b"t"]], b""]], [[b"a", b"t", b""]], [[b"a", [b"\x01" * 33], b""]], [b"x"]):
        with pytest.raises(InvalidBlock) as caught:
            receipt_logs(3, b"\x02" + rlp.encode([b"\x01", b"", bytes(256), logs]))
        assert (caught.value.height, caught.value.step) == (3, "receipts")
