"""node.json: a full config round-trips; every malformed field is refused by name; faults
are honoured only with LEDGER_TEST_FAULTS=1."""
from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from node.errors import ConfigError
from node.ops.config import (
    FAULTS_ENV,
    MAX_PEERS,
    MAX_TOKEN_ISSUERS,
    NODE_CONFIG_FILE,
    FaultConfig,
    NodeFileConfig,
    P2PConfig,
    RpcConfig,
    active_faults,
    load_node_config,
    node_config_document,
    parse_node_config,
    write_node_config,
)


def full_document() -> dict[str, Any]:
    return {
        "p2p": {
            "name": "validator-0",
            "listen_host": "127.0.0.1",
            "listen_port": 30303,
            "peers": [{"host": "127.0.0.1", "port": 30304}, {"host": "node-2.example.org", "port": 30305}],
            "tls_cert": "tls/node.crt",
            "tls_key": "tls/node.key",
        },
        "faults": {"drop": 0.25, "delay": 1.5, "duplicate": True, "equivocate": False,
                   "forge_seals": True, "seed": 7},
        "rpc": {"auth": "required", "token_issuers": ["issuers/center.pub"]},
    }


def test_missing_file_means_no_p2p_and_no_faults(tmp_path: Path) -> None:
    assert load_node_config(tmp_path) == NodeFileConfig(None, None)


def test_full_config_parses_with_paths_resolved_against_the_data_dir(tmp_path: Path) -> None:
    (tmp_path / NODE_CONFIG_FILE).write_text(json.dumps(full_document()))
    config = load_node_config(tmp_path)
    assert config.p2p == P2PConfig(
        name="validator-0", listen_host="127.0.0.1", listen_port=30303,
        peers=(("127.0.0.1", 30304), ("node-2.example.org", 30305)),
        tls_cert=(tmp_path / "tls" / "node.crt").resolve(), tls_key=(tmp_path / "tls" / "node.key").resolve(),
    )
    assert config.faults == FaultConfig(drop=0.25, delay=1.5, duplicate=True, equivocate=False,
                                        forge_seals=True, seed=7)
    assert config.rpc == RpcConfig("required", ((tmp_path / "issuers" / "center.pub").resolve(),))


def test_absolute_tls_paths_are_kept(tmp_path: Path) -> None:
    doc = full_document()
    doc["p2p"]["tls_cert"] = "/etc/ledger/node.crt"
    assert parse_node_config(doc, tmp_path).p2p.tls_cert == Path("/etc/ledger/node.crt")  # type: ignore[union-attr]


def test_fault_fields_default_and_sections_are_optional(tmp_path: Path) -> None:
    assert parse_node_config({"faults": {"drop": 1}}, tmp_path) == NodeFileConfig(None, FaultConfig(drop=1.0))
    assert parse_node_config({}, tmp_path) == NodeFileConfig(None, None)
    assert parse_node_config({"rpc": {}}, tmp_path) == NodeFileConfig(None, None, RpcConfig("auto", ()))
    only_p2p = parse_node_config({"p2p": full_document()["p2p"]}, tmp_path)
    assert only_p2p.p2p is not None and only_p2p.faults is None


def test_write_then_load_round_trips_and_writes_relative_paths(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    config = parse_node_config(full_document(), data_dir)
    write_node_config(data_dir, config)
    assert load_node_config(data_dir) == config
    written = json.loads((data_dir / NODE_CONFIG_FILE).read_text())
    assert written["p2p"]["tls_cert"] == "tls/node.crt"  # the directory can be moved
    assert not list(data_dir.glob(".*tmp"))
    # A moved data directory still finds its certificate.
    moved = tmp_path / "moved"
    data_dir.rename(moved)
    assert load_node_config(moved).p2p.tls_cert == (moved / "tls" / "node.crt").resolve()  # type: ignore[union-attr]


def test_write_refuses_an_invalid_config(tmp_path: Path) -> None:
    bad = NodeFileConfig(None, FaultConfig(drop=2.0))
    with pytest.raises(ConfigError) as caught:
        write_node_config(tmp_path, bad)
    assert caught.value.field == "faults.drop"
    assert not (tmp_path / NODE_CONFIG_FILE).exists()


def test_faults_are_honoured_only_with_the_env_var_exactly_1(tmp_path: Path) -> None:
    config = parse_node_config(full_document(), tmp_path)
    assert active_faults(config, {FAULTS_ENV: "1"}) == config.faults
    for environ in ({}, {FAULTS_ENV: "0"}, {FAULTS_ENV: "true"}, {FAULTS_ENV: ""}, {FAULTS_ENV: "1 "}):
        assert active_faults(config, environ) is None, environ


def _set(path: list[str | int], value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        if value is KeyError:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return apply


PEER = {"host": "127.0.0.1", "port": 30304}

CASES = [
    (_set(["bogus"], 1), "bogus"),
    (_set(["p2p"], []), "p2p"),
    (_set(["p2p", "listen_prot"], 1), "p2p.listen_prot"),
    (_set(["p2p", "name"], KeyError), "p2p.name"),
    (_set(["p2p", "name"], ""), "p2p.name"),
    (_set(["p2p", "name"], "a b"), "p2p.name"),
    (_set(["p2p", "name"], "x" * 65), "p2p.name"),
    (_set(["p2p", "name"], 5), "p2p.name"),
    (_set(["p2p", "listen_host"], KeyError), "p2p.listen_host"),
    (_set(["p2p", "listen_host"], ""), "p2p.listen_host"),
    (_set(["p2p", "listen_host"], "bad host"), "p2p.listen_host"),
    (_set(["p2p", "listen_host"], "h" * 254), "p2p.listen_host"),
    (_set(["p2p", "listen_port"], KeyError), "p2p.listen_port"),
    (_set(["p2p", "listen_port"], 0), "p2p.listen_port"),
    (_set(["p2p", "listen_port"], 65536), "p2p.listen_port"),
    (_set(["p2p", "listen_port"], "30303"), "p2p.listen_port"),
    (_set(["p2p", "listen_port"], True), "p2p.listen_port"),
    (_set(["p2p", "listen_port"], 30303.0), "p2p.listen_port"),
    (_set(["p2p", "peers"], KeyError), "p2p.peers"),
    (_set(["p2p", "peers"], {"host": "a"}), "p2p.peers"),
    (_set(["p2p", "peers"], [PEER] + [{"host": "10.0.0.1", "port": 1000 + i} for i in range(MAX_PEERS)]), "p2p.peers"),
    (_set(["p2p", "peers", 0], "127.0.0.1:30304"), "p2p.peers[0]"),
    (_set(["p2p", "peers", 1, "port"], 70000), "p2p.peers[1].port"),
    (_set(["p2p", "peers", 1, "port"], KeyError), "p2p.peers[1].port"),
    (_set(["p2p", "peers", 0, "host"], ""), "p2p.peers[0].host"),
    (_set(["p2p", "peers", 0, "host"], None), "p2p.peers[0].host"),
    (_set(["p2p", "peers", 0, "user"], "x"), "p2p.peers[0].user"),
    (_set(["p2p", "peers", 1], dict(PEER)), "p2p.peers[1]"),  # a repeated peer
    (_set(["p2p", "peers", 1], {"host": "127.0.0.1", "port": 30303}), "p2p.peers[1]"),  # itself
    (_set(["p2p", "tls_cert"], KeyError), "p2p.tls_cert"),
    (_set(["p2p", "tls_cert"], ""), "p2p.tls_cert"),
    (_set(["p2p", "tls_key"], 3), "p2p.tls_key"),
    (_set(["faults"], "on"), "faults"),
    (_set(["faults", "dorp"], 0.1), "faults.dorp"),
    (_set(["faults", "drop"], -0.1), "faults.drop"),
    (_set(["faults", "drop"], 1.01), "faults.drop"),
    (_set(["faults", "drop"], "0.5"), "faults.drop"),
    (_set(["faults", "drop"], True), "faults.drop"),
    (_set(["faults", "delay"], -1), "faults.delay"),
    (_set(["faults", "delay"], 60.5), "faults.delay"),
    (_set(["faults", "delay"], 10**400), "faults.delay"),
    (_set(["faults", "duplicate"], 1), "faults.duplicate"),
    (_set(["faults", "equivocate"], "yes"), "faults.equivocate"),
    (_set(["faults", "forge_seals"], None), "faults.forge_seals"),
    (_set(["faults", "seed"], -1), "faults.seed"),
    (_set(["faults", "seed"], 2**64), "faults.seed"),
    (_set(["faults", "seed"], 1.5), "faults.seed"),
    (_set(["rpc"], "required"), "rpc"),
    (_set(["rpc", "auth"], "none"), "rpc.auth"),
    (_set(["rpc", "auth"], True), "rpc.auth"),
    (_set(["rpc", "tokens"], []), "rpc.tokens"),
    (_set(["rpc", "token_issuers"], "a.pub"), "rpc.token_issuers"),
    (_set(["rpc", "token_issuers"], ["a.pub"] * (MAX_TOKEN_ISSUERS + 1)), "rpc.token_issuers"),
    (_set(["rpc", "token_issuers", 0], 7), "rpc.token_issuers[0]"),
    (_set(["rpc", "token_issuers", 0], ""), "rpc.token_issuers[0]"),
]


@pytest.mark.parametrize("mutate, field", CASES)
def test_malformed_config_names_the_field(tmp_path: Path, mutate: Callable[[dict[str, Any]], None], field: str) -> None:
    doc = copy.deepcopy(full_document())
    parse_node_config(doc, tmp_path)  # the unmutated document is valid
    mutate(doc)
    (tmp_path / NODE_CONFIG_FILE).write_text(json.dumps(doc))
    with pytest.raises(ConfigError) as caught:
        load_node_config(tmp_path)
    assert caught.value.field == field, str(caught.value)


def test_nan_is_refused(tmp_path: Path) -> None:
    (tmp_path / NODE_CONFIG_FILE).write_text('{"faults": {"drop": NaN}}')
    with pytest.raises(ConfigError) as caught:
        load_node_config(tmp_path)
    assert caught.value.field == "faults.drop"


@pytest.mark.parametrize("text", ["{", "[]", "\xff"])
def test_not_a_json_object_is_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / NODE_CONFIG_FILE).write_bytes(text.encode("latin-1"))
    with pytest.raises(ConfigError):
        load_node_config(tmp_path)


def test_document_matches_the_written_shape(tmp_path: Path) -> None:
    config = parse_node_config(full_document(), tmp_path)
    assert node_config_document(config, tmp_path) == full_document()
