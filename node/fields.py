"""Typed reads of JSON configuration documents, shared by node.json, genesis.json and
cluster.json parsing: one rule for "missing" and "wrong type", one error that names the
setting's path."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from node.errors import ConfigError


def typed_field(doc: Mapping[str, Any], name: str, kind: type | tuple[type, ...], path: str) -> Any:
    """`doc[name]`, refused with a ConfigError naming `path` when missing or not of `kind`
    (a JSON true/false is never accepted as a number)."""
    if name not in doc:
        raise ConfigError(path, "missing")
    value = doc[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        expected = " or ".join(k.__name__ for k in kinds)
        raise ConfigError(path, f"has the wrong type ({type(value).__name__}), expected {expected}")
    return value
