"""node/rpc/origin.py: the Host / Origin / CORS decision case by case, the parsing of the
three lists (options and node.json's rpc section), and the middleware around a tiny app."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from node.errors import ConfigError
from node.ops.config import RpcConfig, node_config_document, parse_node_config
from node.rpc.origin import (
    CORS_MAX_AGE_SECONDS,
    MAX_ALLOWLIST_ENTRIES,
    MAX_ORIGIN_LENGTH,
    Allow,
    OriginMiddleware,
    OriginPolicy,
    Refusal,
    Request,
    decide,
    host_of,
    normalize_origin,
    parse_origins,
    parse_vhosts,
    request_of,
    split_list,
)

DEFAULT = OriginPolicy()
WIDENED = OriginPolicy.parse(["ledger.example"], ["http://app.example", "http://localhost:3000"],
                             ["http://ws-app.example"])
OPEN = OriginPolicy.parse(["*"], ["*"], ["*"])
PORT = 8545


def http(host: str | None = f"127.0.0.1:{PORT}", origin: str | None = None, method: str = "POST",
         scheme: str = "http", preflight: str | None = None) -> Request:
    return Request(websocket=False, scheme=scheme, method=method, host=host, origin=origin, preflight_method=preflight)


def ws(host: str | None = f"127.0.0.1:{PORT}", origin: str | None = None, scheme: str = "ws") -> Request:
    return Request(websocket=True, scheme=scheme, method="GET", host=host, origin=origin)


def refused(decision: Allow | Refusal, field: str) -> Refusal:
    assert isinstance(decision, Refusal), decision
    assert decision.status == 403 and decision.field == field
    assert decision.body()["detail"].startswith("Forbidden: ")
    return decision


def allowed(decision: Allow | Refusal) -> Allow:
    assert isinstance(decision, Allow), decision
    return decision


# -- 1. Host ----------------------------------------------------------------------------------


@pytest.mark.parametrize("host", [
    f"127.0.0.1:{PORT}", "127.0.0.1", f"localhost:{PORT}", "localhost", "LOCALHOST", "localhost.",
    f"[::1]:{PORT}", "[::1]", "localhost.localdomain", "ip6-localhost",
    # any IP address: a rebinding page must use a name it controls (a node on 0.0.0.0 reached by IP)
    f"10.0.0.3:{PORT}", "192.0.2.7", f"[2001:db8::1]:{PORT}", "[::ffff:127.0.0.1]",
    None,  # no Host at all (HTTP/1.0 tools): browsers always send one
])
def test_hosts_answered_by_default(host: str | None) -> None:
    assert allowed(decide(DEFAULT, http(host=host))) == Allow()
    assert allowed(decide(DEFAULT, ws(host=host))) == Allow()


@pytest.mark.parametrize("host, named", [
    (f"evil.example:{PORT}", "evil.example"), ("evil.example", "evil.example"), ("EVIL.Example.", "evil.example"),
    ("localhost.evil.example", "localhost.evil.example"), ("127.0.0.1.nip.io", "127.0.0.1.nip.io"),
    ("ledger.example", "ledger.example"),  # only on the widened node
])
def test_a_dns_name_not_listed_is_refused(host: str, named: str) -> None:
    for request in (http(host=host), ws(host=host), http(host=host, origin=f"http://{host}")):
        refusal = refused(decide(DEFAULT, request), "host")
        assert refusal.value == named and "--http-vhosts" in refusal.detail


@pytest.mark.parametrize("host", ["", "evil.example:80:80", "evil.example:port", "::1", "[::1", "[::1]x",
                                  "[127.0.0.1]", "evil example", "a/b", "user@host", "x" * 600,
                                  "localhost:" + "9" * 6])
def test_a_malformed_host_is_refused(host: str) -> None:
    refusal = refused(decide(OPEN, http(host=host)), "host")
    assert len(refusal.value) <= MAX_ORIGIN_LENGTH


def test_vhosts_add_names_and_star_answers_any() -> None:
    assert allowed(decide(WIDENED, http(host=f"ledger.example:{PORT}")))
    assert allowed(decide(WIDENED, http(host="LEDGER.EXAMPLE")))
    assert allowed(decide(WIDENED, http(host="localhost")))  # loopback stays answered
    refused(decide(WIDENED, http(host="sub.ledger.example")), "host")  # no implicit subdomains
    assert allowed(decide(OPEN, http(host=f"evil.example:{PORT}")))


# -- 2. Origin --------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", [
    "http://evil.example", "https://evil.example", "null", "http://127.0.0.1", f"http://127.0.0.1:{PORT + 1}",
    f"https://127.0.0.1:{PORT}", "http://localhost", f"http://localhost:{PORT}",  # Host says 127.0.0.1
    "", "evil.example", "http://evil.example/path", "http://user@evil.example", f"http://127.0.0.1:{PORT}, http://x",
    "file://", "chrome-extension://abcdef", "x" * 1000,
])
def test_origins_refused_by_default(origin: str) -> None:
    for request in (http(origin=origin), http(origin=origin, method="GET"), ws(origin=origin)):
        refusal = refused(decide(DEFAULT, request), "origin")
        assert refusal.value == origin[:MAX_ORIGIN_LENGTH]
    assert "--http-corsdomain" in refused(decide(DEFAULT, http(origin=origin)), "origin").detail
    assert "--ws-origins" in refused(decide(DEFAULT, ws(origin=origin)), "origin").detail


def test_no_origin_passes_without_cors_headers() -> None:
    for policy in (DEFAULT, WIDENED, OPEN):
        assert decide(policy, http()) == Allow()
        assert decide(policy, http(method="OPTIONS", preflight="POST")) == Allow()  # not a CORS preflight
        assert decide(policy, ws()) == Allow()


@pytest.mark.parametrize("host, origin, scheme", [
    (f"127.0.0.1:{PORT}", f"http://127.0.0.1:{PORT}", "http"),
    (f"localhost:{PORT}", f"http://localhost:{PORT}", "http"),
    (f"LocalHost:{PORT}", f"http://localhost:{PORT}", "http"),
    (f"[::1]:{PORT}", f"http://[::1]:{PORT}", "http"),
    ("127.0.0.1", "http://127.0.0.1:80", "http"),
    ("127.0.0.1:80", "http://127.0.0.1", "http"),
    ("10.0.0.3:443", "https://10.0.0.3", "https"),  # behind nothing: the node's own TLS
])
def test_the_nodes_own_origin_is_allowed(host: str, origin: str, scheme: str) -> None:
    assert decide(DEFAULT, http(host=host, origin=origin, scheme=scheme)) == Allow()  # same origin: no CORS headers
    ws_scheme = "wss" if scheme == "https" else "ws"
    assert decide(DEFAULT, ws(host=host, origin=origin, scheme=ws_scheme)) == Allow()


def test_own_origin_needs_the_host_to_pass_first() -> None:
    """DNS rebinding: the page's origin *is* scheme://Host, but the Host is the attacker's name."""
    refused(decide(DEFAULT, http(host=f"evil.example:{PORT}", origin=f"http://evil.example:{PORT}")), "host")
    assert decide(WIDENED, http(host=f"ledger.example:{PORT}", origin=f"http://ledger.example:{PORT}")) == Allow()


def test_a_proxy_that_terminates_tls_needs_its_origin_listed() -> None:
    """scheme is the node's (http); the page is https: not the same origin."""
    refused(decide(DEFAULT, http(host="ledger.example", origin="https://ledger.example")), "host")
    policy = OriginPolicy.parse(["ledger.example"], [], [])
    refused(decide(policy, http(host="ledger.example", origin="https://ledger.example")), "origin")
    policy = OriginPolicy.parse(["ledger.example"], ["https://ledger.example"], [])
    assert allowed(decide(policy, http(host="ledger.example", origin="https://ledger.example")))


@pytest.mark.parametrize("origin", ["http://app.example", "HTTP://APP.EXAMPLE", "http://app.example:80",
                                    "http://localhost:3000"])
def test_a_listed_origin_is_allowed_with_cors_headers(origin: str) -> None:
    decision = allowed(decide(WIDENED, http(origin=origin)))
    assert decision == Allow((("Access-Control-Allow-Origin", origin), ("Vary", "Origin")))


@pytest.mark.parametrize("origin", ["https://app.example", "http://app.example:8080", "http://localhost:3001",
                                    "http://localhost", "http://sub.app.example", "http://ws-app.example"])
def test_near_misses_of_a_listed_origin_are_refused(origin: str) -> None:
    refused(decide(WIDENED, http(origin=origin)), "origin")


def test_http_and_websocket_lists_are_separate() -> None:
    refused(decide(WIDENED, ws(origin="http://app.example")), "origin")
    assert decide(WIDENED, ws(origin="http://ws-app.example")) == Allow()
    assert decide(WIDENED, ws(origin="HTTP://WS-APP.EXAMPLE:80")) == Allow()
    refused(decide(WIDENED, http(origin="http://ws-app.example")), "origin")


def test_star_allows_every_origin_even_null() -> None:
    for origin in ("http://evil.example", "null", "chrome-extension://abcdef"):
        assert decide(OPEN, http(origin=origin)).headers[0] == ("Access-Control-Allow-Origin", origin)  # type: ignore[union-attr]
        assert decide(OPEN, ws(origin=origin)) == Allow()


# -- 3. CORS preflight ------------------------------------------------------------------------


def test_preflight_of_a_listed_origin() -> None:
    decision = allowed(decide(WIDENED, http(method="OPTIONS", origin="http://app.example", preflight="PUT")))
    assert decision.preflight
    headers = dict(decision.headers)
    assert headers["Access-Control-Allow-Origin"] == "http://app.example"
    assert headers["Vary"] == "Origin"
    assert set(headers["Access-Control-Allow-Methods"].split(", ")) == {"GET", "HEAD", "POST", "PUT", "OPTIONS"}
    assert headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
    assert headers["Access-Control-Max-Age"] == str(CORS_MAX_AGE_SECONDS)


def test_preflight_of_an_origin_not_listed_is_refused() -> None:
    for policy in (DEFAULT, WIDENED):
        refused(decide(policy, http(method="OPTIONS", origin="http://evil.example", preflight="POST")), "origin")


def test_options_without_request_method_is_not_a_preflight() -> None:
    decision = allowed(decide(WIDENED, http(method="OPTIONS", origin="http://app.example")))
    assert not decision.preflight and decision.headers[0][0] == "Access-Control-Allow-Origin"


def test_preflight_from_the_nodes_own_origin_is_answered() -> None:
    decision = allowed(decide(DEFAULT, http(method="OPTIONS", origin=f"http://127.0.0.1:{PORT}", preflight="PUT")))
    assert decision.preflight


# -- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("http://app.example", "http://app.example"), ("HTTP://App.Example:80", "http://app.example"),
    ("https://app.example:443", "https://app.example"), ("https://app.example:80", "https://app.example:80"),
    ("http://[::1]:8545", "http://[::1]:8545"), ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
    ("chrome-extension://abcdef", "chrome-extension://abcdef"), (" http://a.example ", "http://a.example"),
    ("null", None), ("", None), ("app.example", None), ("http://", None), ("http://a.example/", None),
    ("http://a.example:0", None), ("http://a.example:65536", None), ("http://a@b.example", None),
    ("http://[::g]", None), ("http://a..b", None), ("http://" + "a" * MAX_ORIGIN_LENGTH, None),
])
def test_normalize_origin(text: str, expected: str | None) -> None:
    assert normalize_origin(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("localhost:8545", "localhost"), ("[::1]:8545", "::1"), ("[::1]", "::1"), ("Ledger.Example.", "ledger.example"),
    ("10.0.0.3", "10.0.0.3"), ("node_1.internal", "node_1.internal"),
    ("::1", None), ("a:b", None), ("[1.2.3.4]", None), ("-bad.example", None), ("", None), (".", None),
])
def test_host_of(text: str, expected: str | None) -> None:
    assert host_of(text) == expected


def test_parse_vhosts() -> None:
    assert parse_vhosts(["Ledger.Example", "*", "10.0.0.3", "[::1]", "ledger.example"], "f") == (
        "ledger.example", "*", "10.0.0.3", "::1")
    for bad in ("http://ledger.example", "ledger.example:8545", "ledger.example/x", "", "::1", "a b"):
        with pytest.raises(ConfigError) as caught:
            parse_vhosts(["ok.example", bad], "--http-vhosts")
        assert caught.value.field == "--http-vhosts[1]"
    with pytest.raises(ConfigError) as caught:
        parse_vhosts([7], "rpc.http_vhosts")  # type: ignore[list-item]
    assert caught.value.field == "rpc.http_vhosts[0]"


def test_parse_origins() -> None:
    assert parse_origins(["HTTP://App.Example:80", "*", "http://app.example"], "f") == ("http://app.example", "*")
    for bad in ("app.example", "http://app.example/", "null", "http://app.example:99999"):
        with pytest.raises(ConfigError) as caught:
            parse_origins([bad], "--http-corsdomain")
        assert caught.value.field == "--http-corsdomain[0]" and "scheme://host[:port]" in caught.value.reason


def test_lists_are_capped() -> None:
    names = [f"n{i}.example" for i in range(MAX_ALLOWLIST_ENTRIES + 1)]
    assert len(parse_vhosts(names[:-1], "f")) == MAX_ALLOWLIST_ENTRIES
    with pytest.raises(ConfigError):
        parse_vhosts(names, "f")
    with pytest.raises(ConfigError):
        parse_origins([f"http://{name}" for name in names], "f")


def test_split_list() -> None:
    assert split_list(" http://a.example, ,http://b.example,") == ["http://a.example", "http://b.example"]
    assert split_list("") == []


def test_node_json_rpc_section(tmp_path: Path) -> None:
    doc = {"rpc": {"http_vhosts": ["Ledger.Example"], "http_corsdomain": ["https://console.example:443"],
                   "ws_origins": ["*"]}}
    rpc = parse_node_config(doc, tmp_path).rpc
    assert rpc == RpcConfig(http_vhosts=("ledger.example",), http_corsdomain=("https://console.example",),
                            ws_origins=("*",))
    assert node_config_document(parse_node_config(doc, tmp_path), tmp_path)["rpc"]["http_corsdomain"] == [
        "https://console.example"]
    # unset lists are not written: an older node.json reads and writes back the same
    assert set(node_config_document(parse_node_config({"rpc": {}}, tmp_path), tmp_path)["rpc"]) == {
        "auth", "token_issuers"}


@pytest.mark.parametrize("rpc, field", [
    ({"http_vhosts": "ledger.example"}, "rpc.http_vhosts"),
    ({"http_vhosts": ["ledger.example:80"]}, "rpc.http_vhosts[0]"),
    ({"http_corsdomain": ["app.example"]}, "rpc.http_corsdomain[0]"),
    ({"ws_origins": ["http://a.example", 3]}, "rpc.ws_origins[1]"),
    ({"ws_origin": ["*"]}, "rpc.ws_origin"),
])
def test_node_json_rpc_section_refused(tmp_path: Path, rpc: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_node_config({"rpc": rpc}, tmp_path)
    assert caught.value.field == field


# -- the middleware ---------------------------------------------------------------------------


def test_request_of_reads_the_scope() -> None:
    scope = {"type": "http", "scheme": "http", "method": "OPTIONS",
             "headers": [(b"host", b"localhost:1"), (b"origin", b"http://a.example"), (b"origin", b"http://b.example"),
                         (b"access-control-request-method", b"POST")]}
    assert request_of(scope) == Request(False, "http", "OPTIONS", "localhost:1", "http://a.example, http://b.example",
                                        "POST")
    assert request_of({"type": "websocket", "headers": []}) == Request(True, "ws", "GET", None, None, None)


def test_middleware_around_an_app() -> None:
    """Refused requests never reach the app; allowed ones get their CORS headers."""
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ran"})

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=OriginMiddleware(app, WIDENED))
        async with httpx.AsyncClient(transport=transport, base_url=f"http://127.0.0.1:{PORT}") as client:
            return [
                await client.post("/evil", headers={"Origin": "http://evil.example", "Content-Type": "text/plain"}),
                await client.post("/app", headers={"Origin": "http://app.example"}),
                await client.options("/pre", headers={"Origin": "http://app.example",
                                                      "Access-Control-Request-Method": "POST"}),
                await client.get("/plain"),
                await client.get("/rebind", headers={"Host": "evil.example"}),
            ]

    evil, app_call, preflight, plain, rebind = asyncio.run(run())
    assert reached == ["/app", "/plain"]
    assert evil.status_code == 403 and evil.json()["origin"] == "http://evil.example"
    assert evil.headers["content-type"] == "application/json"
    assert app_call.text == "ran" and app_call.headers["access-control-allow-origin"] == "http://app.example"
    assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == "http://app.example"
    assert plain.text == "ran" and "access-control-allow-origin" not in plain.headers
    assert rebind.status_code == 403 and json.loads(rebind.content)["host"] == "evil.example"
