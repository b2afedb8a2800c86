"""How `ledger cluster` starts a node (node/ops/cluster/processes.py `_launch`): without the
admission worker, because a local consortium's nodes already share the machine's cores."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from node.ops.cluster import processes


def test_cluster_nodes_start_without_the_admission_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[list[str]] = []

    class Started:
        pid = 424242

        def __init__(self, args: list[str], **_: Any) -> None:
            started.append(args)

    monkeypatch.setattr(processes, "node_environment", lambda node, env: {})
    monkeypatch.setattr(processes.subprocess, "Popen", Started)
    node = SimpleNamespace(name="validator-0", data_dir=tmp_path, host="127.0.0.1", rpc_port=18545,
                           log_path=tmp_path / "node.log")
    try:
        assert processes._launch(node, None, False) == Started.pid  # type: ignore[arg-type]
    finally:
        processes._children.pop(Started.pid, None)
    [args] = started
    assert args[args.index("node"):args.index("node") + 2] == ["node", "start"]
    assert "--no-precheck-worker" in args
