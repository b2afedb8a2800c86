"""The SDK's public surface (client/__init__.py): every name importable from `client`, the
object its module defines, typed, documented in the package docstring and in docs/sdk.md's
reference; the lazy table and the type checkers' imports agree; `import client` loads none
of the SDK's modules; and docs/sdk.md's examples import only public names."""
from __future__ import annotations

import ast
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import client

ROOT = Path(__file__).resolve().parents[3]
INIT = ROOT / "client" / "__init__.py"
SDK_DOC = ROOT / "docs" / "sdk.md"
# What `import client` must not pull in: the modules behind the public names and the
# heavy libraries they bring (web3 alone is most of a second of the CLI's start-up).
HEAVY = ("client.ledger", "client.anchoring", "client.envelope", "client.feed", "client.signers",
         "client.blobs", "client.cms", "evidence.receipt", "web3", "eth_account", "cryptography")


def exports() -> dict[str, tuple[str, str]]:
    return dict(client._EXPORTS)


def reference() -> str:
    """docs/sdk.md's Reference section: a table row per public name."""
    return SDK_DOC.read_text().split("\n## Reference\n", 1)[1]


def test_all_is_the_table() -> None:
    assert len(client.__all__) == len(set(client.__all__))
    assert set(client.__all__) == set(exports())


@pytest.mark.parametrize("name", sorted(exports()))
def test_each_name_is_its_modules_object(name: str) -> None:
    module, attribute = exports()[name]
    namespace: dict[str, object] = {}
    exec(f"from client import {name}", namespace)
    assert namespace[name] is getattr(importlib.import_module(module), attribute)
    assert getattr(client, name) is namespace[name]


def test_the_type_checkers_imports_are_the_table() -> None:
    """The `if TYPE_CHECKING:` imports name the same objects as the lazy table."""
    tree = ast.parse(INIT.read_text())
    guarded = next(node for node in tree.body if isinstance(node, ast.If)
                   and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
    seen: dict[str, tuple[str, str]] = {}
    for statement in guarded.body:
        assert isinstance(statement, ast.ImportFrom) and statement.module is not None
        for alias in statement.names:
            seen[alias.asname or alias.name] = (statement.module, alias.name)
    assert seen == exports()


@pytest.mark.parametrize("name", sorted(exports()))
def test_each_name_is_documented(name: str) -> None:
    value = getattr(client, name)
    assert (inspect.getdoc(value) or "").strip(), f"{name} has no docstring"
    assert re.search(rf"^    {re.escape(name)}\s", client.__doc__ or "", re.MULTILINE), \
        f"{name} is not listed in client/__init__.py's docstring"
    assert f"\n| `{name}` |" in reference(), f"{name} has no row in docs/sdk.md's Reference"


def test_the_reference_lists_only_public_names() -> None:
    listed = re.findall(r"^\| `(\w+)` \|", reference(), re.MULTILINE)
    assert sorted(listed) == sorted(client.__all__)


@pytest.mark.parametrize("name", sorted(n for n in exports() if inspect.isfunction(getattr(client, n))))
def test_each_function_is_typed(name: str) -> None:
    signature = inspect.signature(getattr(client, name))
    assert signature.return_annotation is not inspect.Signature.empty, f"{name} has no return type"
    untyped = [p.name for p in signature.parameters.values() if p.annotation is inspect.Parameter.empty]
    assert not untyped, f"{name}: untyped parameters {untyped}"


def test_import_client_loads_no_sdk_module() -> None:
    probe = f"import sys, client; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_other_names_are_not_attributes_but_submodules_still_import() -> None:
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        _ = client.no_such_name
    from client import devpki  # a submodule: found because __getattr__ refused the name

    assert devpki.__name__ == "client.devpki"
    assert set(client.__all__) <= set(dir(client))


def test_the_sdk_doc_imports_only_public_names() -> None:
    """What a platform copies from docs/sdk.md must not reach into internal modules."""
    blocks = re.findall(r"^```python\n(.*?)^```", SDK_DOC.read_text(), re.DOTALL | re.MULTILINE)
    assert blocks
    for block in blocks:
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("client", "evidence"):
                assert node.module == "client", f"docs/sdk.md imports from {node.module}: use `from client import ...`"
                assert {alias.name for alias in node.names} <= set(client.__all__)
            if isinstance(node, ast.Import):
                assert not any(alias.name.split(".")[0] in ("client", "evidence", "node", "chaincode")
                               for alias in node.names), ast.unparse(node)
