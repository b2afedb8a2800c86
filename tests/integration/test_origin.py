"""A web page cannot drive a node (node/rpc/origin.py, docs/access.md "Browsers: Host and
Origin"): on a real `--dev` node, where a request without a token acts as ADMIN, a
cross-site "simple" POST (text/plain) is refused before it runs, a WebSocket from another
origin is refused at the handshake, a DNS-rebinding Host is refused — while clients that
send no Origin (web3.py, ethers from Node.js, cast, the SDK) and the node's own origin
work, and `--http-corsdomain`, `--ws-origins`, `--http-vhosts` widen the lists."""
from __future__ import annotations

import asyncio
import json
import socket as sockets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.integration.nodeproc import NodeProcess, free_port

pytestmark = pytest.mark.slow

EVIL = "http://evil.example"
APP = "http://app.example"          # widened node: --http-corsdomain
WS_APP = "http://ws-app.example"    # widened node: --ws-origins
VHOST = "ledger.example"            # widened node: --http-vhosts
TIMEOUT = 30.0
TEXT_PLAIN = {"Content-Type": "text/plain"}  # a CORS "simple" request: no preflight


def call(method: str, *params: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()


def clock_offset(node: NodeProcess) -> int:
    """The node's evm_increaseTime offset, read by a client that sends no Origin."""
    reply = httpx.post(node.url, content=call("evm_increaseTime", 0), timeout=TIMEOUT).json()
    return int(reply["result"], 16)


def ws_call(node: NodeProcess, method: str, origin: str | None = None, host: str | None = None) -> Any:
    """One JSON-RPC call over a fresh WebSocket to `node`, sending `Host: host` when given
    (the TCP connection still goes to 127.0.0.1); a refused handshake raises InvalidStatus."""

    async def run() -> Any:
        tcp = sockets.create_connection(("127.0.0.1", node.port), timeout=TIMEOUT)
        url = f"ws://{host}/ws" if host is not None else node.ws_url
        async with connect(url, sock=tcp, origin=origin, open_timeout=TIMEOUT, proxy=None) as socket:  # type: ignore[arg-type]
            await socket.send(call(method).decode())
            return json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT))

    return asyncio.run(run())


def refused_handshake(node: NodeProcess, origin: str | None = None, host: str | None = None) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as caught:
        ws_call(node, "ledger_nodeStatus", origin, host)
    return caught.value


@pytest.fixture(scope="module")
def widened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    base: Path = tmp_path_factory.mktemp("widened")
    node = NodeProcess(base / "data", free_port(), extra_args=(
        "--http-corsdomain", f"{APP},http://localhost:3000",
        "--ws-origins", WS_APP,
        "--http-vhosts", VHOST,
    )).start()
    try:
        yield node
    finally:
        node.stop()


# -- the default node: what the finding reproduced -------------------------------------------


def test_simple_request_csrf_is_refused_before_it_runs(dev_node: NodeProcess) -> None:
    before = clock_offset(dev_node)
    response = httpx.post(dev_node.url, content=call("evm_increaseTime", 3600),
                          headers={**TEXT_PLAIN, "Origin": EVIL}, timeout=TIMEOUT)
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["origin"] == EVIL and "--http-corsdomain" in body["detail"]
    assert "access-control-allow-origin" not in response.headers
    assert clock_offset(dev_node) == before  # the call never ran


@pytest.mark.parametrize("origin", ["null", "http://127.0.0.1", f"{EVIL}:8545", "https://localhost"])
def test_other_browser_origins_are_refused(dev_node: NodeProcess, origin: str) -> None:
    """`null` (sandboxed frames, file: pages), another port or scheme of the same host."""
    before = clock_offset(dev_node)
    response = httpx.post(dev_node.url, content=call("evm_increaseTime", 60),
                          headers={**TEXT_PLAIN, "Origin": origin}, timeout=TIMEOUT)
    assert response.status_code == 403, response.text
    assert clock_offset(dev_node) == before


@pytest.mark.parametrize("method, path", [("GET", "/healthz"), ("GET", "/v1/summary"), ("PUT", "/v1/blobs"),
                                          ("GET", "/metrics")])
def test_every_route_checks_the_origin(dev_node: NodeProcess, method: str, path: str) -> None:
    response = httpx.request(method, dev_node.url + path, content=b"sealed", headers={"Origin": EVIL},
                             timeout=TIMEOUT)
    assert response.status_code == 403, response.text


def test_websocket_from_another_origin_is_refused_at_the_handshake(dev_node: NodeProcess) -> None:
    refusal = refused_handshake(dev_node, origin=EVIL)
    assert refusal.response.status_code == 403
    assert json.loads(refusal.response.body or b"{}")["origin"] == EVIL


def test_dns_rebinding_host_is_refused(dev_node: NodeProcess) -> None:
    rebound = f"evil.example:{dev_node.port}"
    for headers in ({"Host": rebound}, {"Host": rebound, "Origin": f"http://{rebound}"}):
        response = httpx.post(dev_node.url, content=call("ledger_nodeStatus"),
                              headers={"Content-Type": "application/json", **headers}, timeout=TIMEOUT)
        assert response.status_code == 403, response.text
        assert response.json()["host"] == "evil.example"
    assert httpx.get(dev_node.url + "/healthz", headers={"Host": rebound}, timeout=TIMEOUT).status_code == 403
    refusal = refused_handshake(dev_node, origin=f"http://{rebound}", host=rebound)
    assert refusal.response.status_code == 403


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", "LOCALHOST:{port}",
                                  "localhost", "127.0.0.1"])
def test_clients_without_origin_work(dev_node: NodeProcess, host: str) -> None:
    """What web3.py, ethers (Node.js), cast and our SDK send: no Origin, a loopback Host."""
    response = httpx.post(dev_node.url, content=call("eth_chainId"),
                          headers={"Content-Type": "application/json", "Host": host.format(port=dev_node.port)},
                          timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.json()["result"] == hex(dev_node.chain_id)


def test_websocket_without_origin_works(dev_node: NodeProcess) -> None:
    reply = ws_call(dev_node, "ledger_nodeStatus")
    assert "result" in reply, reply


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}"])
def test_the_nodes_own_origin_is_allowed(dev_node: NodeProcess, host: str) -> None:
    """The console the node serves: its page's Origin is scheme://Host of the node itself."""
    authority = host.format(port=dev_node.port)
    response = httpx.post(dev_node.url, content=call("eth_chainId"),
                          headers={"Content-Type": "application/json", "Host": authority,
                                   "Origin": f"http://{authority}"}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    reply = ws_call(dev_node, "ledger_nodeStatus", origin=f"http://{authority}", host=authority)
    assert "result" in reply, reply


def test_preflight_from_an_unlisted_origin_gets_no_cors_headers(dev_node: NodeProcess) -> None:
    response = httpx.options(dev_node.url, headers={"Origin": APP, "Access-Control-Request-Method": "POST",
                                                    "Access-Control-Request-Headers": "content-type"},
                             timeout=TIMEOUT)
    assert response.status_code == 403
    assert not any(name.startswith("access-control-") for name in response.headers)


# -- the widened node: --http-corsdomain, --ws-origins, --http-vhosts -------------------------


def test_preflight_from_a_listed_origin_gets_the_headers(widened: NodeProcess) -> None:
    response = httpx.options(widened.url, headers={"Origin": APP, "Access-Control-Request-Method": "POST",
                                                   "Access-Control-Request-Headers": "content-type,authorization"},
                             timeout=TIMEOUT)
    assert response.status_code == 204, response.text
    assert response.headers["access-control-allow-origin"] == APP
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "content-type" in allowed_headers and "authorization" in allowed_headers
    assert "origin" in response.headers["vary"].lower()
    other = httpx.options(widened.url, headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"},
                          timeout=TIMEOUT)
    assert other.status_code == 403
    assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize("origin", [APP, "http://localhost:3000", "HTTP://APP.EXAMPLE:80"])
def test_a_listed_origin_may_call(widened: NodeProcess, origin: str) -> None:
    response = httpx.post(widened.url, content=call("eth_chainId"),
                          headers={"Content-Type": "application/json", "Origin": origin}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == origin
    assert response.json()["result"] == hex(widened.chain_id)


def test_the_widened_node_still_refuses_others(widened: NodeProcess) -> None:
    before = clock_offset(widened)
    response = httpx.post(widened.url, content=call("evm_increaseTime", 60), headers={**TEXT_PLAIN, "Origin": EVIL},
                          timeout=TIMEOUT)
    assert response.status_code == 403
    assert clock_offset(widened) == before
    assert refused_handshake(widened, origin=EVIL).response.status_code == 403
    # the HTTP list does not open the WebSocket, nor the other way round (geth keeps them apart)
    assert refused_handshake(widened, origin=APP).response.status_code == 403
    response = httpx.post(widened.url, content=call("eth_chainId"), headers={"Origin": WS_APP}, timeout=TIMEOUT)
    assert response.status_code == 403


def test_ws_origins_opens_the_websocket(widened: NodeProcess) -> None:
    reply = ws_call(widened, "ledger_nodeStatus", origin=WS_APP)
    assert "result" in reply, reply


def test_http_vhosts_adds_a_name(widened: NodeProcess) -> None:
    ok = httpx.post(widened.url, content=call("eth_chainId"), timeout=TIMEOUT,
                    headers={"Content-Type": "application/json", "Host": f"{VHOST}:{widened.port}"})
    assert ok.status_code == 200, ok.text
    # its own origin by that name is then allowed too (a console served as http://ledger.example:PORT)
    own = httpx.post(widened.url, content=call("eth_chainId"), timeout=TIMEOUT,
                     headers={"Content-Type": "application/json", "Host": f"{VHOST}:{widened.port}",
                              "Origin": f"http://{VHOST}:{widened.port}"})
    assert own.status_code == 200, own.text
    evil = httpx.post(widened.url, content=call("eth_chainId"), timeout=TIMEOUT,
                      headers={"Content-Type": "application/json", "Host": f"evil.example:{widened.port}"})
    assert evil.status_code == 403
    # localhost keeps working when names are added
    local = httpx.post(widened.url, content=call("eth_chainId"), timeout=TIMEOUT,
                       headers={"Content-Type": "application/json", "Host": f"localhost:{widened.port}"})
    assert local.status_code == 200


def test_a_bad_option_stops_the_node_with_a_clear_error(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "data", free_port(), extra_args=("--http-corsdomain", "app.example"))
    with pytest.raises(RuntimeError) as caught:
        node.start()
    node.stop()
    assert "--http-corsdomain" in str(caught.value) and "app.example" in str(caught.value)
