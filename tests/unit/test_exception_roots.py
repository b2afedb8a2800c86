"""One root exception per package, and no exception name used twice across them.

A platform catches `client.errors.ClientError` to handle every refusal the SDK raises, a
court's tool `evidence.errors.EvidenceError`, the node's code `node.errors.NodeError`; a
class outside its package's tree, or two classes with one name (which one did a traceback
mean?), fails here."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import chaincode
import client
import evidence
import node
from chaincode import ChaincodeError
from client.errors import ClientError
from evidence.errors import EvidenceError
from node.errors import NodeError

ROOTS: dict[ModuleType, type[Exception]] = {
    node: NodeError, client: ClientError, evidence: EvidenceError, chaincode: ChaincodeError,
}


def modules(package: ModuleType) -> list[ModuleType]:
    found = [package]
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        found.append(importlib.import_module(info.name))
    return found


def own_exceptions(package: ModuleType) -> list[type[BaseException]]:
    classes = []
    for module in modules(package):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == module.__name__:
                classes.append(cls)
    return classes


@pytest.mark.parametrize("package", list(ROOTS), ids=lambda p: p.__name__)
def test_every_exception_is_under_its_package_root(package: ModuleType) -> None:
    root = ROOTS[package]
    strays = [f"{cls.__module__}.{cls.__qualname__}" for cls in own_exceptions(package) if not issubclass(cls, root)]
    assert strays == [], f"not under {root.__module__}.{root.__name__}: {strays}"


def test_no_exception_name_is_used_twice() -> None:
    seen: dict[str, str] = {}
    twice = []
    for package in ROOTS:
        for cls in own_exceptions(package):
            where = f"{cls.__module__}.{cls.__qualname__}"
            if cls.__name__ in seen and seen[cls.__name__] != where:
                twice.append(f"{cls.__name__}: {seen[cls.__name__]} and {where}")
            seen.setdefault(cls.__name__, where)
    assert twice == []
