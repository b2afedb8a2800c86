"""The `ledger` CLI: genesis new, node init, keys new; bad input exits 2 naming the problem."""
from __future__ import annotations

import json
import stat
from pathlib import Path

from typer.testing import CliRunner

from client.cli import app
from node.execution.genesis import Genesis

runner = CliRunner()


def test_genesis_new_then_node_init(tmp_path: Path) -> None:
    member = "0x" + "12" * 20
    result = runner.invoke(app, ["genesis", "new", "--validators", "4", "--out", str(tmp_path / "net"),
                                 "--member", f"{member}:TRADING_CENTER", "--alloc", f"{member}:1000"])
    assert result.exit_code == 0, result.output
    genesis = Genesis.load(tmp_path / "net" / "genesis.json")
    assert len(genesis.validators) == 4
    assert genesis.members[0].role == "TRADING_CENTER"
    key = tmp_path / "net" / "validator-2" / "key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (tmp_path / "net" / "validator-2" / "address").read_text().strip() == "0x" + genesis.validators[2].hex()
    result = runner.invoke(app, ["node", "init", "--genesis", str(tmp_path / "net" / "genesis.json"),
                                 "--data-dir", str(tmp_path / "data"), "--key", str(key)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "chain").is_dir()
    # Initialising again with the same genesis is idempotent; with another one it is refused.
    assert runner.invoke(app, ["node", "init", "--genesis", str(tmp_path / "net" / "genesis.json"),
                               "--data-dir", str(tmp_path / "data")]).exit_code == 0
    other = json.loads((tmp_path / "net" / "genesis.json").read_text())
    other["config"]["chainId"] = 99
    (tmp_path / "other.json").write_text(json.dumps(other))
    result = runner.invoke(app, ["node", "init", "--genesis", str(tmp_path / "other.json"), "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 2 and "different genesis" in result.output


def test_node_init_names_the_bad_genesis_field(tmp_path: Path) -> None:
    doc = json.loads((Path(__file__).resolve().parents[3] / "genesis.json").read_text())
    del doc["config"]["qbft"]["epochlength"]
    (tmp_path / "g.json").write_text(json.dumps(doc))
    result = runner.invoke(app, ["node", "init", "--genesis", str(tmp_path / "g.json"), "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert "config.qbft.epochlength: missing" in result.output


def test_bad_member_role_is_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["genesis", "new", "--out", str(tmp_path), "--member", "0x" + "12" * 20 + ":KING"])
    assert result.exit_code == 2 and "KING" in result.output
    assert not (tmp_path / "genesis.json").exists()


def test_keys_new_writes_a_private_key_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["keys", "new", "--out", str(tmp_path / "k"), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert "privateKey" not in doc and doc["address"].startswith("0x")
    from node.consensus.sealing import ValidatorKey
    from node.service import read_key_file

    assert "0x" + ValidatorKey(read_key_file(tmp_path / "k")).address.hex() == doc["address"].lower()
    assert runner.invoke(app, ["keys", "new", "--out", str(tmp_path / "k")]).exit_code == 2


def test_dev_data_dir_is_made_whole_or_not_at_all(tmp_path: Path) -> None:
    from node.errors import ConfigError
    from node.ops.runner import ensure_dev_data_dir

    # A first run interrupted before the rename leaves only a staging directory behind.
    stale = tmp_path / ".dev.partial"
    stale.mkdir()
    (stale / "key").write_text("0x" + "00" * 32)
    account = ensure_dev_data_dir(tmp_path / "dev")
    assert not stale.exists()
    assert ensure_dev_data_dir(tmp_path / "dev") == account  # reused on later runs
    Genesis.load(tmp_path / "dev" / "genesis.json")
    other = tmp_path / "other"
    other.mkdir()
    (other / "something").write_text("x")
    try:
        ensure_dev_data_dir(other)
    except ConfigError as exc:
        assert "not an empty or --dev data directory" in str(exc)
    else:
        raise AssertionError("a non-empty, non-dev directory was taken over")
