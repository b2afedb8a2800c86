"""client/http.py, the SDK's and CLI's one HTTP client, against a local server: the bearer
token, the one error type with the server's message, the response cap, no redirects,
kept-alive connections, the streaming read, the base URL's path and a proxy."""
from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from client.http import HttpClient, HttpError, ResponseTooLarge, check_url, server_message

Reply = tuple[int, dict[str, str], bytes]


class Server:
    """A loopback HTTP/1.1 server answering each path as `routes` says; it records every
    request (method, request line target, headers, body, client port)."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[BaseHTTPRequestHandler], Reply | None]] = {}
        self.requests: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def handle_any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                early = self.path == "/v1/blobs"  # that route answers without reading the body
                body = self.rfile.read(length) if length and not early else b""
                owner.requests.append({"method": self.command, "target": self.path, "headers": dict(self.headers),
                                       "body": body, "port": self.client_address[1]})
                route = owner.routes.get(self.path.split("?")[0]) or owner.routes.get("*")
                reply = route(self) if route is not None else (404, {}, b'{"error": "no such route"}')
                if reply is None:
                    return  # the route wrote its own answer
                status, headers, content = reply
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if "Content-Length" not in headers and "Connection" not in headers:
                    self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = handle_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    s.thread.start()
    try:
        yield s
    finally:
        s.stop()


def ok(document: Any) -> Callable[[BaseHTTPRequestHandler], Reply]:
    return lambda handler: (200, {"Content-Type": "application/json"}, json.dumps(document).encode())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_bearer_token_and_the_base_urls_path(server: Server) -> None:
    server.routes["*"] = ok({"fine": True})
    with HttpClient(server.url + "/node/", token="t0ken") as client:
        assert client.get_json("v1/summary", {"unit": "土地局", "after": None}) == {"fine": True}
        assert client.post_json("", {"jsonrpc": "2.0"}) == {"fine": True}
        assert client.url("v1/x", {"a": 1}) == server.url + "/node/v1/x?a=1"
    with HttpClient(server.url) as anonymous:
        anonymous.get_json("v1/summary")
    first, second, third = server.requests
    assert first["target"] == "/node/v1/summary?unit=%E5%9C%9F%E5%9C%B0%E5%B1%80"  # None values left out
    assert first["headers"]["Authorization"] == "Bearer t0ken" and first["headers"]["Accept"] == "application/json"
    assert (second["method"], second["target"], json.loads(second["body"])) == ("POST", "/node/", {"jsonrpc": "2.0"})
    assert second["headers"]["Content-Type"] == "application/json"
    assert "Authorization" not in third["headers"] and third["target"] == "/v1/summary"


@pytest.mark.parametrize("status, body, message", [
    (404, b'{"error": "no contract 0xab\\nsecond line"}', "no contract 0xab"),             # REST
    (401, b'{"jsonrpc": "2.0", "id": null, "error": {"code": -40100, "message": "Unauthorized: no token"}}',
     "Unauthorized: no token"),                                                          # JSON-RPC
    (413, b'{"detail": "blob exceeds the limit"}', "blob exceeds the limit"),             # FastAPI
    (500, b"<html>oops</html>", "Internal Server Error"),                                 # none: the reason phrase
])
def test_a_refusal_is_one_error_with_status_url_and_the_servers_message(server: Server, status: int, body: bytes,
                                                                         message: str) -> None:
    server.routes["/v1/thing"] = lambda handler: (status, {}, body)
    with HttpClient(server.url) as client, pytest.raises(HttpError) as caught:
        client.get_json("v1/thing")
    error = caught.value
    assert (error.status, error.url, error.message) == (status, server.url + "/v1/thing", message)
    assert str(error) == f"{server.url}/v1/thing answered HTTP {status}: {message}"


def test_a_refusal_before_the_body_is_read_is_still_the_servers_answer(server: Server) -> None:
    def early(handler: BaseHTTPRequestHandler) -> None:  # answers from the headers, reads no body
        body = b'{"detail": "over your share of the blob store"}'
        handler.send_response(413)
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(body)
        handler.close_connection = True

    server.routes["/v1/blobs"] = early
    with HttpClient(server.url) as client, pytest.raises(HttpError) as caught:
        client.request("PUT", "v1/blobs", body=bytes(32 * 1024 * 1024))
    assert (caught.value.status, caught.value.message) == (413, "over your share of the blob store")


def test_a_redirect_is_not_followed_so_the_token_goes_nowhere_else(server: Server) -> None:
    server.routes["/v1/thing"] = lambda handler: (302, {"Location": "/elsewhere"}, b"")
    server.routes["/elsewhere"] = ok({"leaked": True})
    with HttpClient(server.url, token="secret") as client, pytest.raises(HttpError) as caught:
        client.get_json("v1/thing")
    assert caught.value.status == 302 and "redirect to '/elsewhere'; not followed" in caught.value.message
    assert [r["target"] for r in server.requests] == ["/v1/thing"]


def test_no_answer_is_an_error_without_a_status() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with HttpClient(url, timeout=5) as client, pytest.raises(HttpError) as caught:
        client.get_json("v1/summary")
    assert caught.value.status is None and caught.value.message == "connection refused"
    assert str(caught.value) == f"cannot reach {url}/v1/summary: connection refused"


def test_the_response_cap(server: Server) -> None:
    def unannounced(handler: BaseHTTPRequestHandler) -> None:  # no Content-Length: read until the close
        handler.send_response(200)
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(b"x" * 5000)
        handler.close_connection = True

    server.routes["/big"] = lambda handler: (200, {}, b"x" * 1001)
    server.routes["/exact"] = lambda handler: (200, {}, b"x" * 1000)
    server.routes["/stream"] = unannounced
    with HttpClient(server.url, max_response_bytes=1000) as client:
        assert len(client.request("GET", "exact").body) == 1000
        for path in ("big", "stream"):
            with pytest.raises(ResponseTooLarge) as caught:
                client.request("GET", path)
            assert (caught.value.limit, caught.value.status) == (1000, 200)
            assert caught.value.message == "an answer larger than 1000 bytes"
        with pytest.raises(ResponseTooLarge):
            client.request("GET", "exact", limit=999)  # a call's own limit
        assert len(client.request("GET", "big", limit=2000).body) == 1001


def test_an_answer_that_is_not_json(server: Server) -> None:
    server.routes["/v1/summary"] = lambda handler: (200, {}, b"<html>a proxy's page</html>")
    with HttpClient(server.url) as client, pytest.raises(HttpError, match="not JSON") as caught:
        client.get_json("v1/summary")
    assert caught.value.status == 200


def test_connections_are_kept_alive_and_renewed_once_the_server_closes_them(server: Server) -> None:
    server.routes["*"] = ok({"n": 1})
    with HttpClient(server.url) as client:
        for _ in range(3):
            client.get_json("a")
        assert len({r["port"] for r in server.requests}) == 1  # one connection for all three
        # The server closes the idle connection (as uvicorn does after its keep-alive timeout).
        server.routes["/closing"] = lambda handler: (200, {"Connection": "close", "Content-Length": "2"}, b"{}")
        assert client.get_json("closing") == {}
        assert client.get_json("a") == {"n": 1}
        assert server.requests[-1]["port"] != server.requests[0]["port"]

        # ... or closes it without a word: the next request notices and opens another.
        def then_close(handler: BaseHTTPRequestHandler) -> Reply:
            handler.close_connection = True
            return 200, {"Content-Type": "application/json"}, b"{}"

        server.routes["/then-close"] = then_close
        assert client.get_json("then-close") == {}
        for _ in range(3):
            assert client.get_json("a") == {"n": 1}
    assert server.requests[-1]["port"] != server.requests[-4]["port"]


def test_a_stream_is_read_as_it_comes_with_a_timeout_per_read(server: Server) -> None:
    release = threading.Event()

    def events(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Connection", "close")
        handler.end_headers()
        for part in (b"data: 1\n\n", b"data: 2\n\n"):
            handler.wfile.write(part)
            handler.wfile.flush()
            release.wait(10)
            release.clear()
        handler.close_connection = True

    server.routes["/v1/feed"] = events
    with HttpClient(server.url, token="t") as client:
        with client.stream("v1/feed", params={"since": "1-0"}, headers={"Accept": "text/event-stream"}) as stream:
            assert stream.headers["Content-Type"] == "text/event-stream"
            assert stream.read(1024, timeout=5) == b"data: 1\n\n"  # as it comes, not at the end
            release.set()
            assert stream.read(1024, timeout=5) == b"data: 2\n\n"
            release.set()
            assert stream.read(1024, timeout=5) == b""  # the end
        with client.stream("v1/feed") as stream:
            assert stream.read(1024, timeout=5) == b"data: 1\n\n"
            with pytest.raises(TimeoutError):
                stream.read(1024, timeout=0.2)  # nothing more within 0.2 s
            with pytest.raises(HttpError):
                stream.read(1024, timeout=5)  # and a stream that timed out is over
            release.set()
        server.routes["/v1/feed"] = lambda handler: (403, {}, b'{"error": "role PARTY may not follow identity"}')
        with pytest.raises(HttpError) as caught, client.stream("v1/feed"):
            pass
    assert (caught.value.status, caught.value.message) == (403, "role PARTY may not follow identity")
    assert server.requests[0]["target"] == "/v1/feed?since=1-0"
    assert server.requests[0]["headers"]["Accept"] == "text/event-stream"
    assert server.requests[0]["headers"]["Authorization"] == "Bearer t"


def test_requests_go_through_the_environments_proxy(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    server.routes["*"] = ok({"via": "proxy"})
    for name in ("no_proxy", "NO_PROXY", "https_proxy", "HTTPS_PROXY", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", "http://user:pa%20ss@" + server.url.removeprefix("http://"))
    target = "http://node.example:8545"
    with HttpClient(target, token="t") as client:
        assert client.get_json("v1/summary") == {"via": "proxy"}
    [request] = server.requests
    assert request["target"] == target + "/v1/summary"  # an absolute URL: the proxy forwards it
    assert request["headers"]["Proxy-Authorization"] == "Basic dXNlcjpwYSBzcw=="  # user:pa ss
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    with HttpClient(server.url) as direct:
        direct.get_json("v1/summary")
    assert server.requests[-1]["target"] == "/v1/summary"


def test_urls_and_messages() -> None:
    for bad in ("ftp://127.0.0.1", "127.0.0.1:8545", "http://", "http://host:port"):
        with pytest.raises(ValueError):
            check_url(bad)
    assert check_url("https://node.example/rpc").path == "/rpc"
    assert server_message(b'{"error": "x" }') == "x"
    assert server_message(b'{"error": {"code": 3, "message": "reverted"}}') == "reverted"
    assert server_message(b'{"error": "' + b"y" * 1000 + b'"}') == "y" * 300
    for body in (b"", b"[]", b'{"error": 3}', b'{"error": "  "}', b"\xff"):
        assert server_message(body) is None


def test_a_post_goes_again_on_a_connection_just_closed_only_when_the_caller_says_it_is_idempotent(
        server: Server) -> None:
    # JSON-RPC reads travel as POST (client/ledger.py marks them idempotent); a transaction
    # must never be sent twice, so a plain POST is not retried. The server here answers the
    # first request of a connection and drops the next one unanswered, as a server closing
    # an idle kept-alive connection just as it is reused does.
    def answer_once(handler: BaseHTTPRequestHandler) -> Reply | None:
        served = getattr(handler, "served", 0)
        handler.served = served + 1  # type: ignore[attr-defined]
        if served:
            handler.close_connection = True
            return None
        return 200, {"Content-Type": "application/json"}, b"{}"

    server.routes["/rpc"] = answer_once
    with HttpClient(server.url) as client:
        client.request("POST", "rpc", body=b"{}")
        assert client.request("POST", "rpc", body=b"{}", idempotent=True).status == 200  # dropped, then sent again
        with pytest.raises(HttpError, match="closed connection"):
            client.request("POST", "rpc", body=b"{}")  # dropped: not sent again


def test_json_rpc_reads_are_idempotent_and_transactions_are_not() -> None:
    from client.ledger import is_read_only

    assert all(is_read_only(m) for m in ("eth_call", "eth_getBalance", "eth_getTransactionReceipt", "eth_chainId"))
    assert not any(is_read_only(m) for m in ("eth_sendRawTransaction", "eth_sendTransaction", "ledger_anything"))
