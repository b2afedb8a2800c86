"""Fixtures shared by the node's unit tests (a module's own fixture of the same name wins)."""
from tests.unit.node.precompile_harness import chain  # noqa: F401 (the PKI precompile tests' chain)
