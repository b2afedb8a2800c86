"""A node's own settings file, `<data-dir>/node.json`: its peer-to-peer identity and peers,
its RPC token settings, and (test-only) the faults it injects into consensus messages.

`load_node_config` is the only way to read one: a config that exists is valid, and a bad
file is refused with a `ConfigError` naming the field (``p2p.peers[2].port``). Genesis
says what the chain is; node.json says how this one node joins it.

```json
{
  "p2p": {
    "name": "validator-0",
    "listen_host": "127.0.0.1",
    "listen_port": 30303,
    "peers": [{"host": "127.0.0.1", "port": 30304}],
    "tls_cert": "tls/node.crt",
    "tls_key": "tls/node.key"
  },
  "faults": {"drop": 0.1, "delay": 0.5, "duplicate": false, "equivocate": false,
             "forge_seals": false, "seed": 7},
  "rpc": {"auth": "required", "token_issuers": ["issuers/trading-center.pub"],
          "http_vhosts": ["ledger.court.example"], "http_corsdomain": ["https://console.court.example"],
          "ws_origins": ["https://console.court.example"], "limits": {"call_gas_cap": 20000000, "request_gas_cap": 20000000}},
  "validator": {"auto_escalate": true}
}
```

Relative `tls_cert`/`tls_key` and `token_issuers` paths are resolved against the data
directory. `rpc.auth` ("auto", "required", "off") is the node's token mode unless
`ledger node start --auth` overrides it; `rpc.token_issuers` are Ed25519 public keys
(PEM) of other token issuers the node trusts besides its own (docs/access.md).
`rpc.http_vhosts`, `rpc.http_corsdomain` and `rpc.ws_origins` are the browser allowlists
(node/rpc/origin.py: host names besides IP addresses and localhost; web origins
`scheme://host[:port]` besides the node's own; `*` for any) unless `ledger node start
--http-vhosts / --http-corsdomain / --ws-origins` override them. `rpc.limits` changes
the JSON-RPC caps by name (node/rpc/limits.py `RpcLimits`; `--rpc-limit NAME=VALUE`
overrides one). `validator.auto_escalate` (default true) lets a validator's proposals carry
the due commitment alerts (node/execution/escalation.py) unless `ledger node start
--no-auto-escalate` (or `--auto-escalate`) overrides it. The peers' certificates are checked against the consortium CA named in genesis.json
(`evidenceLedger.consortiumCA`), not against anything here.

**Faults are a test hook.** A `faults` section is parsed and validated always, but a node
honours it only when the environment variable `LEDGER_TEST_FAULTS` is exactly ``1``
(`active_faults`); a production node with a stray section injects nothing.
"""
from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from node.access.roles import AUTH_MODES
from node.errors import ConfigError
from node.fields import typed_field
from node.rpc.limits import RpcLimits
from node.rpc.origin import parse_origins, parse_vhosts
from node.storage.files import write_private_file

NODE_CONFIG_FILE = "node.json"
FAULTS_ENV = "LEDGER_TEST_FAULTS"  # "1" turns node.json's faults on; anything else: off

# A consortium has at most 64 validators (node.genesis.MAX_VALIDATORS); each peer costs a
# TLS connection and a reconnect loop, so a node dials at most that many.
MAX_PEERS = 64
# A message held back longer than this is as good as dropped against any sane round
# timer; the bound keeps a typo (delay: 500) from looking like a hung cluster.
MAX_FAULT_DELAY_SECONDS = 60.0
# RFC 1035 caps a DNS name at 253 characters; an IP literal is shorter.
MAX_HOST_LENGTH = 253
# The node name becomes its certificate's commonName (RFC 5280 ub-common-name = 64) and
# appears in logs and file names, so it is kept to a plain alphabet.
NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_SEED = 2**64 - 1
# One issuer per organisation of the consortium is plenty (MAX_VALIDATORS organisations).
MAX_TOKEN_ISSUERS = 64
MAX_CONFIG_BYTES = 1 << 20  # a node.json is a few hundred bytes; refuse to parse a blob


@dataclass(frozen=True)
class FaultConfig:
    """What a faulty validator does to the consensus messages it sends (tests only)."""

    drop: float = 0.0          # probability each outgoing message is dropped
    delay: float = 0.0         # seconds each outgoing message is held back
    duplicate: bool = False    # send every message twice
    equivocate: bool = False   # as proposer, send different proposals to different peers
    forge_seals: bool = False  # commit with seals that do not verify
    seed: int = 0              # seeds the random choices, so a faulty run can be replayed


@dataclass(frozen=True)
class P2PConfig:
    name: str
    listen_host: str
    listen_port: int
    peers: tuple[tuple[str, int], ...]
    tls_cert: Path  # absolute: resolved against the data directory
    tls_key: Path


@dataclass(frozen=True)
class RpcConfig:
    auth: str = "auto"                       # node.access.AUTH_MODES
    token_issuers: tuple[Path, ...] = ()     # absolute: resolved against the data directory
    http_vhosts: tuple[str, ...] = ()        # node.rpc.origin.parse_vhosts, normalized
    http_corsdomain: tuple[str, ...] = ()    # node.rpc.origin.parse_origins, normalized
    ws_origins: tuple[str, ...] = ()
    limits: RpcLimits = field(default_factory=RpcLimits)  # node.rpc.limits; only the changed ones are written


@dataclass(frozen=True)
class ValidatorConfig:
    auto_escalate: bool = True  # proposals carry the due commitment alerts (node/execution/escalation.py)


@dataclass(frozen=True)
class NodeFileConfig:
    p2p: P2PConfig | None = None
    faults: FaultConfig | None = None
    rpc: RpcConfig | None = None
    validator: ValidatorConfig | None = None


def load_node_config(data_dir: Path) -> NodeFileConfig:
    """`<data_dir>/node.json`, parsed; a data directory without one gets no p2p and no faults."""
    path = data_dir / NODE_CONFIG_FILE
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        return NodeFileConfig(None, None)
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror}") from exc
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(str(path), f"larger than {MAX_CONFIG_BYTES} bytes")
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"not JSON: {exc}") from exc
    return parse_node_config(document, data_dir)


def parse_node_config(document: Any, data_dir: Path) -> NodeFileConfig:
    """A node.json document, validated; relative paths resolved against `data_dir`."""
    _expect(isinstance(document, dict), "node.json", "must be a JSON object")
    _only(document, {"p2p", "faults", "rpc", "validator"}, "node.json")
    p2p = None if document.get("p2p") is None else _parse_p2p(document["p2p"], data_dir)
    faults = None if document.get("faults") is None else _parse_faults(document["faults"])
    rpc = None if document.get("rpc") is None else _parse_rpc(document["rpc"], data_dir)
    validator = None if document.get("validator") is None else _parse_validator(document["validator"])
    return NodeFileConfig(p2p, faults, rpc, validator)


def write_node_config(data_dir: Path, config: NodeFileConfig) -> None:
    """Write `config` as `<data_dir>/node.json` (atomically: a reader sees old or new).

    TLS paths inside the data directory are written relative to it, so the directory can
    be moved. What is written is parsed back first: nothing unloadable reaches the disk.
    """
    document = node_config_document(config, data_dir)
    parse_node_config(document, data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / NODE_CONFIG_FILE
    staging = data_dir / f".{NODE_CONFIG_FILE}.tmp"
    staging.unlink(missing_ok=True)
    write_private_file(staging, (json.dumps(document, indent=2) + "\n").encode())  # the data directory is private
    os.replace(staging, target)


def node_config_document(config: NodeFileConfig, data_dir: Path) -> dict[str, Any]:
    """The JSON document `write_node_config` writes."""
    document: dict[str, Any] = {}
    if config.p2p is not None:
        p2p = config.p2p
        document["p2p"] = {
            "name": p2p.name,
            "listen_host": p2p.listen_host,
            "listen_port": p2p.listen_port,
            "peers": [{"host": host, "port": port} for host, port in p2p.peers],
            "tls_cert": _relative(p2p.tls_cert, data_dir),
            "tls_key": _relative(p2p.tls_key, data_dir),
        }
    if config.faults is not None:
        f = config.faults
        document["faults"] = {
            "drop": f.drop, "delay": f.delay, "duplicate": f.duplicate, "equivocate": f.equivocate,
            "forge_seals": f.forge_seals, "seed": f.seed,
        }
    if config.rpc is not None:
        document["rpc"] = {
            "auth": config.rpc.auth,
            "token_issuers": [_relative(path, data_dir) for path in config.rpc.token_issuers],
        }
        for key in ("http_vhosts", "http_corsdomain", "ws_origins"):
            if getattr(config.rpc, key):  # written only when set: older node.json files stay as they were
                document["rpc"][key] = list(getattr(config.rpc, key))
        changed = {f.name: getattr(config.rpc.limits, f.name) for f in fields(RpcLimits)
                   if getattr(config.rpc.limits, f.name) != getattr(RpcLimits(), f.name)}
        if changed:
            document["rpc"]["limits"] = changed
    if config.validator is not None:
        document["validator"] = {"auto_escalate": config.validator.auto_escalate}
    return document


def faults_enabled(environ: Mapping[str, str]) -> bool:
    """Whether this process may inject faults: `LEDGER_TEST_FAULTS=1`, and nothing else."""
    return environ.get(FAULTS_ENV) == "1"


def active_faults(config: NodeFileConfig, environ: Mapping[str, str]) -> FaultConfig | None:
    """The faults a node should inject: node.json's, but only with `LEDGER_TEST_FAULTS=1`."""
    return config.faults if faults_enabled(environ) else None


# -- parsing -------------------------------------------------------------------------


def _parse_p2p(doc: Any, data_dir: Path) -> P2PConfig:
    _expect(isinstance(doc, dict), "p2p", "must be an object")
    _only(doc, {"name", "listen_host", "listen_port", "peers", "tls_cert", "tls_key"}, "p2p")
    name = _field(doc, "name", str, "p2p")
    _expect(NODE_NAME.fullmatch(name) is not None, "p2p.name",
            "must be 1-64 characters of letters, digits, '.', '_' and '-', starting with a letter or digit")
    listen_host = _host(_field(doc, "listen_host", str, "p2p"), "p2p.listen_host")
    listen_port = _port(_field(doc, "listen_port", int, "p2p"), "p2p.listen_port")
    peers_doc = _field(doc, "peers", list, "p2p")
    _expect(len(peers_doc) <= MAX_PEERS, "p2p.peers", f"more than {MAX_PEERS} peers")
    peers: list[tuple[str, int]] = []
    for index, entry in enumerate(peers_doc):
        where = f"p2p.peers[{index}]"
        _expect(isinstance(entry, dict), where, "must be an object with host and port")
        _only(entry, {"host", "port"}, where)
        peer = (_host(_field(entry, "host", str, where), f"{where}.host"),
                _port(_field(entry, "port", int, where), f"{where}.port"))
        _expect(peer not in peers, where, f"repeats peer {peer[0]}:{peer[1]}")
        _expect(peer != (listen_host, listen_port), where, "is this node's own listen address")
        peers.append(peer)
    return P2PConfig(
        name=name,
        listen_host=listen_host,
        listen_port=listen_port,
        peers=tuple(peers),
        tls_cert=_path(_field(doc, "tls_cert", str, "p2p"), "p2p.tls_cert", data_dir),
        tls_key=_path(_field(doc, "tls_key", str, "p2p"), "p2p.tls_key", data_dir),
    )


def _parse_faults(doc: Any) -> FaultConfig:
    _expect(isinstance(doc, dict), "faults", "must be an object")
    _only(doc, {"drop", "delay", "duplicate", "equivocate", "forge_seals", "seed"}, "faults")
    defaults = FaultConfig()
    drop = _number(doc.get("drop", defaults.drop), "faults.drop")
    _expect(0.0 <= drop <= 1.0, "faults.drop", f"must be a probability between 0 and 1, got {drop}")
    delay = _number(doc.get("delay", defaults.delay), "faults.delay")
    _expect(0.0 <= delay <= MAX_FAULT_DELAY_SECONDS, "faults.delay",
            f"must be between 0 and {MAX_FAULT_DELAY_SECONDS:g} seconds, got {delay}")
    seed = doc.get("seed", defaults.seed)
    _expect(isinstance(seed, int) and not isinstance(seed, bool), "faults.seed", "must be an integer")
    _expect(0 <= seed <= MAX_SEED, "faults.seed", "must be between 0 and 2**64-1")
    return FaultConfig(
        drop=drop,
        delay=delay,
        duplicate=_bool(doc, "duplicate", defaults.duplicate),
        equivocate=_bool(doc, "equivocate", defaults.equivocate),
        forge_seals=_bool(doc, "forge_seals", defaults.forge_seals),
        seed=seed,
    )


def _parse_rpc(doc: Any, data_dir: Path) -> RpcConfig:

    _expect(isinstance(doc, dict), "rpc", "must be an object")
    _only(doc, {"auth", "token_issuers", "http_vhosts", "http_corsdomain", "ws_origins", "limits"}, "rpc")
    auth = doc.get("auth", "auto")
    _expect(isinstance(auth, str) and auth in AUTH_MODES, "rpc.auth", f"must be one of {', '.join(AUTH_MODES)}")
    issuers_doc = doc.get("token_issuers", [])
    _expect(isinstance(issuers_doc, list), "rpc.token_issuers", "must be a list of PEM public key paths")
    _expect(len(issuers_doc) <= MAX_TOKEN_ISSUERS, "rpc.token_issuers", f"more than {MAX_TOKEN_ISSUERS} issuers")
    issuers = []
    for index, value in enumerate(issuers_doc):
        where = f"rpc.token_issuers[{index}]"
        _expect(isinstance(value, str), where, "must be a file path")
        issuers.append(_path(value, where, data_dir))
    lists = {}
    for key, parse in (("http_vhosts", parse_vhosts), ("http_corsdomain", parse_origins), ("ws_origins", parse_origins)):
        values = doc.get(key, [])
        _expect(isinstance(values, list), f"rpc.{key}", "must be a list of strings")
        lists[key] = parse(values, f"rpc.{key}")
    limits_doc = doc.get("limits", {})
    _expect(isinstance(limits_doc, dict), "rpc.limits", "must be an object of limit names and whole numbers")
    return RpcConfig(auth, tuple(issuers), **lists, limits=RpcLimits().overridden(limits_doc, "rpc.limits"))


def _parse_validator(doc: Any) -> ValidatorConfig:
    _expect(isinstance(doc, dict), "validator", "must be an object")
    _only(doc, {"auto_escalate"}, "validator")
    value = doc.get("auto_escalate", ValidatorConfig().auto_escalate)
    _expect(isinstance(value, bool), "validator.auto_escalate", "must be true or false")
    return ValidatorConfig(auto_escalate=value)


def _expect(condition: bool, field: str, reason: str) -> None:
    if not condition:
        raise ConfigError(field, reason)


def _only(doc: Mapping[str, Any], allowed: set[str], where: str) -> None:
    """Unknown keys are refused: a misspelt `listen_prot` must not be silently ignored."""
    unknown = sorted(set(doc) - allowed)
    if unknown:
        prefix = "" if where == "node.json" else f"{where}."
        raise ConfigError(f"{prefix}{unknown[0]}", f"unknown setting; expected one of {', '.join(sorted(allowed))}")


def _field(doc: Mapping[str, Any], name: str, kind: type, where: str) -> Any:
    return typed_field(doc, name, kind, f"{where}.{name}")


def _host(value: str, field: str) -> str:
    # Any IP literal or host name is accepted (a production consortium spans machines);
    # only the shape is checked here, resolving is the transport's job.
    _expect(0 < len(value) <= MAX_HOST_LENGTH, field, f"must be 1-{MAX_HOST_LENGTH} characters")
    _expect(value.isprintable() and not any(c.isspace() for c in value) and "/" not in value,
            field, f"is not a host name or IP address: {value!r}")
    return value


def _port(value: int, field: str) -> int:
    _expect(1 <= value <= 65535, field, f"must be a TCP port between 1 and 65535, got {value}")
    return value


def _number(value: Any, field: str) -> float:
    _expect(isinstance(value, (int, float)) and not isinstance(value, bool), field, "must be a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    _expect(math.isfinite(number), field, "must be finite")
    return number


def _bool(doc: Mapping[str, Any], name: str, default: bool) -> bool:
    value = doc.get(name, default)
    _expect(isinstance(value, bool), f"faults.{name}", "must be true or false")
    return bool(value)


def _path(value: str, field: str, data_dir: Path) -> Path:
    _expect(value != "" and "\x00" not in value, field, "must be a file path")
    return (data_dir / value).resolve()  # an absolute value replaces data_dir


def _relative(path: Path, data_dir: Path) -> str:
    try:
        return str(path.resolve().relative_to(data_dir.resolve()))
    except ValueError:
        return str(path.resolve())
