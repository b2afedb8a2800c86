"""genesis.json parsing: the repository's example is valid; every malformed field is named."""
from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from node.errors import ConfigError
from node.execution.genesis import Genesis

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
    (_set(["config", "qbft", "blockperiodseconds"], "1 "), "config.qbft.blockperiodseconds"),
    (_set(["config", "qbft", "requesttimeoutseconds"], "0o4"), "config.qbft.requesttimeoutseconds"),
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
    (_set(["alloc"], {"0x" + "11" * 20: {"storage": {"0x1": hex(2**256)}}}), "alloc.0x" + "11" * 20 + ".storage.0x1"),
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


# -- the node accepts what the offline verifier accepts (evidence/genesis.py, docs/receipt.md) --

def _first_account(doc: dict[str, Any]) -> str:
    return next(iter(doc["alloc"]))


def _twice_in_two_spellings(doc: dict[str, Any]) -> None:
    key = _first_account(doc)
    bare = key.lower().removeprefix("0x")
    doc["alloc"] = {**doc["alloc"], "0x" + bare.upper(): doc["alloc"][key], bare: {"balance": "0x1"}}
    del doc["alloc"][key]


def _slot_twice(doc: dict[str, Any]) -> None:
    doc["alloc"]["0x" + "12" * 20] = {"storage": {"0x1": "0x1", "0x01": "0x2"}}


# What Python's int() or bytes.fromhex took and docs/receipt.md does not: each refused,
# naming the field (the node read these before; the verifier refused them).
LAX = [
    (_set(["gasLimit"], "1_000_000_000"), "gasLimit"),
    (_set(["gasLimit"], " 150000000 "), "gasLimit"),
    (_set(["gasLimit"], "+150000000"), "gasLimit"),
    (_set(["gasLimit"], "0x_8f0d180"), "gasLimit"),
    (_set(["gasLimit"], "\uff11\uff15\uff10\uff10\uff10\uff10\uff10"), "gasLimit"),
    (_set(["gasLimit"], "0X8F0D180"), "gasLimit"),
    (_set(["config", "chainId"], "1_337"), "config.chainId"),
    (_set(["config", "qbft", "epochlength"], "30_000"), "config.qbft.epochlength"),
    (_set(["config", "qbft", "epochlength"], " 30000"), "config.qbft.epochlength"),
    (_set(["config", "qbft", "epochlength"], 30000.0), "config.qbft.epochlength"),
    (_set(["timestamp"], "0x 0"), "timestamp"),
    (_set(["extraData"], "0xf83a a0"), "extraData"),
    (lambda doc: doc.update(extraData=doc["extraData"][:6] + " " + doc["extraData"][6:]), "extraData"),
    (lambda doc: doc.update(mixHash=doc["mixHash"][:10] + "\t" + doc["mixHash"][10:]), "mixHash"),
    (_twice_in_two_spellings, "alloc." + "{second}"),
    (_slot_twice, "alloc.0x" + "12" * 20 + ".storage.0x01"),
]


@pytest.mark.parametrize("mutate, field", LAX)
def test_what_the_verifier_refuses_the_node_refuses(mutate: Callable[[dict[str, Any]], None], field: str) -> None:
    from evidence.receipt import GenesisTrust, VerificationError

    doc = copy.deepcopy(load())
    mutate(doc)
    with pytest.raises(ConfigError) as caught:
        Genesis.parse(doc)
    if field == "alloc.{second}":
        field = "alloc." + list(doc["alloc"])[-1]
    assert caught.value.field == field, str(caught.value)
    with pytest.raises(VerificationError) as refused:  # and the offline verifier, at "genesis"
        GenesisTrust.from_document(doc)
    assert refused.value.step == "genesis"


@pytest.mark.parametrize("mutate", [
    _set(["gasLimit"], 150_000_000), _set(["gasLimit"], "150000000"), _set(["gasLimit"], "0x08F0D180"),
    _set(["config", "chainId"], "0x539"), _set(["config", "qbft", "epochlength"], "0x7530"),
    _set(["timestamp"], 0),
])
def test_numbers_as_the_document_writes_them_are_read(mutate: Callable[[dict[str, Any]], None]) -> None:
    doc = copy.deepcopy(load())
    mutate(doc)
    genesis = Genesis.parse(doc)
    assert (genesis.gas_limit, genesis.chain_id, genesis.qbft.epoch_length) == (150_000_000, 1337, 30000)


def test_ledger_genesis_new_writes_a_document_both_read() -> None:
    from evidence.receipt import GenesisTrust

    document = json.loads(json.dumps(_build(chain_name="a chain")))
    assert Genesis.parse(document).qbft.epoch_length == GenesisTrust.from_document(document).epoch_length == 30000


def test_not_json_is_refused() -> None:
    with pytest.raises(ConfigError, match="not JSON"):
        Genesis.parse_text("{")


# -- evidenceLedger.consortiumCA: the CA of the nodes' TLS certificates ---------------------


def _consortium_ca_pem() -> tuple[str, str]:
    """A consortium CA's PEM and a node certificate it issued (not a CA)."""
    from datetime import datetime

    from node.network.tlscerts import issue_node_certificate, make_consortium_ca

    now = datetime(2026, 1, 1, tzinfo=UTC)
    ca = make_consortium_ca("consortium", now=now)
    node = issue_node_certificate(ca, "validator-0", now=now)
    from cryptography.hazmat.primitives import serialization

    return ca.certificate_pem().decode(), node.certificate.public_bytes(serialization.Encoding.PEM).decode()


def _build(**kwargs: Any) -> dict[str, Any]:
    from node.execution.genesis import build_genesis_document

    return build_genesis_document(chain_id=99, validators=[b"\x11" * 20], alloc={}, members=[], **kwargs)


def test_genesis_without_consortium_ca_has_none() -> None:
    assert Genesis.load(REPO_GENESIS).consortium_ca is None
    assert "consortiumCA" not in _build()["evidenceLedger"]


def test_consortium_ca_is_parsed_as_pem() -> None:
    from cryptography import x509

    ca_pem, _ = _consortium_ca_pem()
    document = _build(consortium_ca=ca_pem)
    assert document["evidenceLedger"]["consortiumCA"] == ca_pem
    genesis = Genesis.parse(json.loads(json.dumps(document)))
    assert genesis.consortium_ca == ca_pem.encode()
    assert x509.load_pem_x509_certificate(genesis.consortium_ca).subject.rfc4514_string().startswith("CN=consortium")


def test_consortium_ca_with_text_around_the_pem_is_stored_canonical() -> None:
    ca_pem, _ = _consortium_ca_pem()
    document = _build(consortium_ca=ca_pem)
    document["evidenceLedger"]["consortiumCA"] = "the consortium's CA:\n" + ca_pem + "\n"
    assert Genesis.parse(document).consortium_ca == ca_pem.encode()


def _bad_consortium_cas() -> list[tuple[Any, str]]:
    ca_pem, node_pem = _consortium_ca_pem()
    return [
        ("not a certificate", "not a PEM certificate"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a PEM certificate"),
        (ca_pem + ca_pem, "one certificate"),
        (node_pem, "not a CA certificate"),
        (42, "must be a PEM certificate"),
        (None, "must be a PEM certificate"),
    ]


@pytest.mark.parametrize("index", range(6))
def test_bad_consortium_ca_is_refused_naming_the_field(index: int) -> None:
    value, reason = _bad_consortium_cas()[index]
    ca_pem, _ = _consortium_ca_pem()
    document = _build(consortium_ca=ca_pem)
    Genesis.parse(copy.deepcopy(document))  # valid before the mutation
    document["evidenceLedger"]["consortiumCA"] = value
    with pytest.raises(ConfigError) as caught:
        Genesis.parse(document)
    assert caught.value.field == "evidenceLedger.consortiumCA"
    assert reason in caught.value.reason


def test_build_refuses_a_bad_consortium_ca() -> None:
    _, node_pem = _consortium_ca_pem()
    for bad in ("garbage", node_pem):
        with pytest.raises(ConfigError) as caught:
            _build(consortium_ca=bad)
        assert caught.value.field == "consortium_ca"


def test_cli_genesis_new_writes_the_consortium_ca(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from client.cli import app

    ca_pem, node_pem = _consortium_ca_pem()
    (tmp_path / "ca.pem").write_text(ca_pem)
    (tmp_path / "node.pem").write_text(node_pem)
    runner = CliRunner()
    result = runner.invoke(app, ["genesis", "new", "--out", str(tmp_path / "net"), "--consortium-ca", str(tmp_path / "ca.pem")])
    assert result.exit_code == 0, result.output
    assert Genesis.load(tmp_path / "net" / "genesis.json").consortium_ca == ca_pem.encode()
    for bad in (tmp_path / "node.pem", tmp_path / "missing.pem"):
        result = runner.invoke(app, ["genesis", "new", "--out", str(tmp_path / "bad"), "--consortium-ca", str(bad)])
        assert result.exit_code == 2, result.output
        assert not (tmp_path / "bad" / "genesis.json").exists()
