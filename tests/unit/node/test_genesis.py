"""genesis.json parsing: the repository's example is valid; every malformed field is named."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

import pytest

from node.errors import ConfigError
from node.genesis import Genesis

REPO_GENESIS = Path(__file__).resolve().parents[3] / "genesis.json"


def load() -> dict[str, Any]:
    return json.loads(REPO_GENESIS.read_text())


def test_repository_genesis_is_valid() -> None:
    genesis = Genesis.load(REPO_GENESIS)
    assert genesis.chain_id == 1337
    assert len(genesis.validators) == 1
    assert genesis.qbft.block_period == 1
    assert genesis.members and genesis.members[0].role == "ADMIN"


def _set(path: list[str], value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        if value is KeyError:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return apply


CASES = [
    (_set(["config", "chainId"], KeyError), "config.chainId"),
    (_set(["config", "chainId"], "banana"), "config.chainId"),
    (_set(["config", "zeroBaseFee"], False), "config.zeroBaseFee"),
    (_set(["config", "qbft"], KeyError), "config.qbft"),
    (_set(["config", "qbft", "blockperiodseconds"], 0), "config.qbft.blockperiodseconds"),
    (_set(["config", "qbft", "blockperiodseconds"], "x"), "config.qbft.blockperiodseconds"),
    (_set(["config", "qbft", "emptyblockperiodseconds"], KeyError), "config.qbft.emptyblockperiodseconds"),
    (_set(["config", "qbft", "requesttimeoutseconds"], -1), "config.qbft.requesttimeoutseconds"),
    (_set(["config", "qbft", "epochlength"], True), "config.qbft.epochlength"),
    (_set(["gasLimit"], KeyError), "gasLimit"),
    (_set(["gasLimit"], "0x1"), "gasLimit"),
    (_set(["extraData"], "0x1234"), "extraData"),
    (_set(["extraData"], "nothex"), "extraData"),
    (_set(["mixHash"], "0x" + "00" * 32), "mixHash"),
    (_set(["alloc"], []), "alloc"),
    (_set(["alloc"], {"0x1234": {"balance": "0x1"}}), "alloc.0x1234"),
    (_set(["alloc"], {"0x" + "11" * 20: {"storage": {"-1": "0x1"}}}), "alloc.0x" + "11" * 20 + ".storage"),
    (_set(["alloc"], {"0x" + "11" * 20: {"storage": {"0x1": hex(2**256)}}}), "alloc.0x" + "11" * 20 + ".storage"),
    (_set(["evidenceLedger", "members"], [{"address": "0x" + "11" * 20, "role": "KING"}]), "evidenceLedger.members[0].role"),
    (_set(["evidenceLedger", "members"], [{"role": "ADMIN"}]), "evidenceLedger.members[0].address"),
]


@pytest.mark.parametrize("mutate, field", CASES)
def test_malformed_genesis_names_the_field(mutate: Callable[[dict[str, Any]], None], field: str) -> None:
    doc = copy.deepcopy(load())
    mutate(doc)
    with pytest.raises(ConfigError) as caught:
        Genesis.parse(doc)
    assert caught.value.field == field, str(caught.value)


def test_not_json_is_refused() -> None:
    with pytest.raises(ConfigError, match="not JSON"):
        Genesis.parse_text("{")
