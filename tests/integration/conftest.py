"""Fixtures that run a real dev node process on a loopback port."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.nodeproc import NodeProcess, free_port
from tests.unit.web.browser import browser


@pytest.fixture(scope="module")
def dev_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    base: Path = tmp_path_factory.mktemp("devnode")
    node = NodeProcess(base / "data", free_port()).start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def launched() -> Iterator[Any]:
    """A headless chromium for a module's browser tests (skipped, saying why, without one)."""
    with browser() as running:
        yield running
