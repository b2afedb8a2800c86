"""What each node of a local testnet says about itself: `ledger cluster status`.

Asked over JSON-RPC with the cluster's admin token, all nodes in parallel; the process
side (is the recorded pid this node's) comes from node/ops/cluster/processes.py.
"""
from __future__ import annotations

import concurrent.futures
import json
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from node.ops.cluster.layout import ClusterNode, NodeKind, load_admin_token, load_cluster
from node.ops.cluster.processes import adopt_running, is_running

RPC_TIMEOUT_SECONDS = 2.0
METHOD_NOT_FOUND = -32601
# Nodes asked at once; a cluster has at most layout.MAX_NODES (65), and loopback answers
# fast enough that more threads would only cost start-up.
STATUS_WORKERS = 16


@dataclass(frozen=True)
class PeerStatus:
    name: str | None
    address: str | None
    height: int | None


@dataclass(frozen=True)
class NodeStatus:
    name: str
    kind: NodeKind
    pid: int | None
    alive: bool            # the recorded pid is this node's running process
    rpc_url: str
    reachable: bool        # JSON-RPC answered
    source: str            # "ledger_nodeStatus", "eth_blockNumber" (an older node), or "-"
    height: int | None = None
    round: int | None = None
    peers: tuple[PeerStatus, ...] | None = None
    validator: bool | None = None
    address: str | None = None
    syncing: bool | None = None
    error: str | None = None


def cluster_status(dir: Path) -> tuple[NodeStatus, ...]:
    """Every node's process and chain state, asked in parallel.

    The chain state comes from `ledger_nodeStatus` (height, round, peers, validator,
    syncing); a node that does not know that method (an older version) is asked
    `eth_blockNumber` instead, and round and peers are unknown.
    """
    layout = adopt_running(load_cluster(dir), write=False)  # status changes nothing
    token = load_admin_token(layout.dir)
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(STATUS_WORKERS, len(layout.nodes))) as pool:
        return tuple(pool.map(lambda node: _node_status(node, token), layout.nodes))


def _node_status(node: ClusterNode, token: str | None = None) -> NodeStatus:
    base = NodeStatus(node.name, node.kind, node.pid, is_running(node), node.rpc_url, reachable=False, source="-")
    try:
        reply = _rpc(node.rpc_url, "ledger_nodeStatus", token=token)
        if "error" in reply and isinstance(reply["error"], dict) and reply["error"].get("code") == METHOD_NOT_FOUND:
            fallback = _rpc(node.rpc_url, "eth_blockNumber", token=token)
            if "result" not in fallback:
                return replace(base, reachable=True, error=f"eth_blockNumber: {fallback.get('error')}")
            return replace(base, reachable=True, source="eth_blockNumber",
                           height=_quantity(fallback["result"]))
        if "result" not in reply:
            return replace(base, reachable=True, error=f"ledger_nodeStatus: {reply.get('error')}")
        return _parse_node_status(replace(base, reachable=True, source="ledger_nodeStatus"), reply["result"])
    except urllib.error.HTTPError as exc:  # it answered, but not to us
        reason = "the node refused the cluster's admin.token" if exc.code == 401 else str(exc.reason)
        return replace(base, reachable=True, error=f"HTTP {exc.code}: {reason}")
    except (OSError, ValueError) as exc:
        return replace(base, error=f"no answer: {exc}")


def _parse_node_status(base: NodeStatus, result: Any) -> NodeStatus:
    if not isinstance(result, dict):
        raise ValueError(f"ledger_nodeStatus returned {type(result).__name__}, not an object")
    peers = None
    if isinstance(result.get("peers"), list):
        peers = tuple(
            PeerStatus(p.get("name"), p.get("address"), _quantity(p["height"]) if p.get("height") is not None else None)
            for p in result["peers"] if isinstance(p, dict)
        )
    return replace(
        base,
        height=_quantity(result["height"]) if result.get("height") is not None else None,
        round=_quantity(result["round"]) if result.get("round") is not None else None,
        peers=peers,
        validator=result.get("validator") if isinstance(result.get("validator"), bool) else None,
        address=result.get("address") if isinstance(result.get("address"), str) else None,
        syncing=result.get("syncing") if isinstance(result.get("syncing"), bool) else None,
    )


def _quantity(value: Any) -> int:
    """A JSON-RPC number: an integer, or a 0x-hex quantity."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.startswith("0x"):
        return int(value, 16)
    raise ValueError(f"not a quantity: {value!r}")


def _rpc(url: str, method: str, *params: Any, token: str | None = None) -> dict[str, Any]:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=RPC_TIMEOUT_SECONDS) as response:
        reply = json.loads(response.read())
    if not isinstance(reply, dict):
        raise ValueError(f"{method}: the reply is not a JSON-RPC response object")
    return reply
