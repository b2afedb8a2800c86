"""The console's session on a real node started with `--auth required` (node/access/session.py,
node/access/http.py, /web/session in node/web/routes.py; docs/access.md "Browsers: the
console's session"): tokens issued by the real `ledger token issue`, a REGULATOR signed in
reads contracts by cookie alone and is refused evidence by the same authorizer, a revoked
token's session stops at its next request, every write by cookie needs X-CSRF-Token (REST
and JSON-RPC) while a bearer-header write does not, the cookie's attributes and that it
carries the token in no form (another server on the host name sees it), the feed and the
WebSocket by cookie, and on a node with `--ws-origins` the cookie not counting on a
WebSocket opened by a page of that other origin (closed 1008); then chromium signs in through the Sign-in page with the keyboard
only, sees its role's nav, and signs out. Screenshots go to tmp_path and
test-artifacts/screenshots/."""
from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from node.access.session import COOKIE_NAME, CSRF_HEADER, CSRF_REFUSAL, MAX_SESSION_SECONDS
from node.access.tokens import TokenStore
from node.web.pages import STATIC_PREFIX
from tests.integration.nodeproc import NodeProcess, free_port
from tests.integration.permissioned import Network, start_network
from tests.integration.test_access import issue_tokens, ledger_cli, signed_transfer
from tests.unit.web.browser import browser, node_only_context, screenshot

pytestmark = pytest.mark.slow

TIMEOUT = 30.0
MEMBERS = [("admin", "ADMIN"), ("center", "TRADING_CENTER"), ("regulator", "REGULATOR")]
UNANCHORED_ROOT = "0x" + "5a" * 32
LEAVES = b"\x01" * 64  # two leaves: a well-formed upload whose root the chain does not hold
# The console's role pages and the permission each one's nav link follows (their modules'
# registerPage): checked for those the shell loads.
ROLE_PAGES = {"contracts": "contracts:read", "supervision": "commitments:read", "chain": "chain:read",
              "admin": "rpc:admin"}


@dataclass
class Node:
    url: str
    ws_url: str
    data_dir: Path
    tokens: dict[str, str]

    @contextmanager
    def signed_in(self, role: str) -> Iterator[tuple[httpx.Client, dict[str, Any], httpx.Response]]:
        """A client holding `role`'s session cookie (and nothing else), its session, and the sign-in answer."""
        with httpx.Client(base_url=self.url, timeout=TIMEOUT) as client:
            answer = client.post("/web/session", json={"token": self.tokens[role]})
            assert answer.status_code == 200, answer.text
            assert COOKIE_NAME in client.cookies
            yield client, answer.json(), answer


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    net: Network = start_network(tmp_path_factory.mktemp("signin"), MEMBERS, auth="required")
    try:
        data_dir = net.node.data_dir
        issued = issue_tokens(data_dir, {
            "REGULATOR": ["--role", "regulator", "--subject", "City Housing Bureau"],
            "TRADING_CENTER": ["--role", "trading-center", "--subject", "Public Resource Trading Center"],
        })
        yield Node(net.url, net.node.ws_url, data_dir, {role: doc["token"] for role, doc in issued.items()})
    finally:
        net.node.stop()


# -- over HTTP ------------------------------------------------------------------------------


def test_the_cookie_is_http_only_strict_and_for_every_path(node: Node) -> None:
    with node.signed_in("REGULATOR") as (client, session, answer):
        parts = [part.strip().lower() for part in answer.headers["set-cookie"].split(";")]
        assert parts[0].startswith(f"{COOKIE_NAME}=")
        assert {"httponly", "samesite=strict", "path=/"} <= set(parts)
        assert "secure" not in parts  # plain http on loopback; https adds it
        max_age = int(next(p for p in parts if p.startswith("max-age=")).split("=")[1])
        assert 0 < max_age <= MAX_SESSION_SECONDS
        assert answer.headers["cache-control"] == "no-store"
        assert session["role"] == "REGULATOR" and session["subject"] == "City Housing Bureau"
        assert session["anonymous"] is False and isinstance(session["csrf"], str) and len(session["csrf"]) >= 40
        assert session["expires"] <= time.time() + MAX_SESSION_SECONDS + 60
        assert node.tokens["REGULATOR"] not in answer.text  # the answer names the session, not the token
        assert client.get("/web/session").json() == session


def test_a_regulators_cookie_reads_what_its_role_may_and_nothing_more(node: Node) -> None:
    with node.signed_in("REGULATOR") as (client, session, _):
        contracts = client.get("/v1/contracts")
        assert contracts.status_code == 200, contracts.text
        evidence = client.get("/v1/evidence")
        assert evidence.status_code == 403 and "REGULATOR" in evidence.json()["error"]
        # JSON-RPC by cookie (a POST, so with the CSRF header): the same role rules as by
        # bearer header.
        csrf = {CSRF_HEADER: session["csrf"]}
        logs = client.post("/", json={"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [{}]}, headers=csrf)
        assert logs.status_code == 200 and logs.json()["error"]["code"] == -40100, logs.text
        balance = {"jsonrpc": "2.0", "id": 2, "method": "eth_getBalance", "params": ["0x" + "44" * 20, "latest"]}
        assert client.post("/", json=balance, headers=csrf).json()["result"] == "0x0"
        refused = client.post("/", json=balance)  # every POST by cookie is a write to the edge
        assert (refused.status_code, refused.json()) == (403, {"error": CSRF_REFUSAL})
    # Without the cookie, the same requests are 401.
    assert httpx.get(node.url + "/v1/contracts", timeout=TIMEOUT).status_code == 401
    assert httpx.get(node.url + "/web/session", timeout=TIMEOUT).status_code == 401


def test_writes_by_cookie_need_the_csrf_header(node: Node) -> None:
    members = f"/v1/evidence/{UNANCHORED_ROOT}/members"
    bearer = {"Authorization": f"Bearer {node.tokens['TRADING_CENTER']}"}
    with node.signed_in("TRADING_CENTER") as (client, session, _):
        refused = client.put(members, content=LEAVES)
        assert (refused.status_code, refused.json()) == (403, {"error": CSRF_REFUSAL})
        wrong = client.put(members, content=LEAVES, headers={CSRF_HEADER: session["csrf"][::-1]})
        assert (wrong.status_code, wrong.json()) == (403, {"error": CSRF_REFUSAL})
        # With it, the write passes the edge and its role check, and meets the route's own
        # answer: the root is not anchored on this chain.
        passed = client.put(members, content=LEAVES, headers={CSRF_HEADER: session["csrf"]})
        assert passed.status_code == 409, passed.text
        # JSON-RPC: refused whole, before the call runs (the transaction is not in the pool).
        send = {"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [signed_transfer("center", 0)]}
        refused = client.post("/", json=send)
        assert (refused.status_code, refused.json()) == (403, {"error": CSRF_REFUSAL})
        count = {"jsonrpc": "2.0", "id": 2, "method": "eth_getTransactionCount", "params": [
            "0x" + "00" * 20, "pending"]}
        assert client.post("/", json=count, headers={CSRF_HEADER: session["csrf"]}).status_code == 200
        sent = client.post("/", json=send, headers={CSRF_HEADER: session["csrf"]})
        assert sent.status_code == 200 and sent.json()["result"].startswith("0x"), sent.text
        # A bearer header is no ambient credential: its writes need no CSRF value, with or
        # without the cookie beside it.
        assert client.put(members, content=LEAVES, headers=bearer).status_code == 409
    assert httpx.put(node.url + members, content=LEAVES, headers=bearer, timeout=TIMEOUT).status_code == 409


def test_a_revoked_tokens_session_stops_at_once(node: Node) -> None:
    fresh = issue_tokens(node.data_dir, {"r": ["--role", "regulator", "--subject", "desk to revoke"]})["r"]
    node.tokens["fresh"] = fresh["token"]
    with node.signed_in("fresh") as (client, _, _):
        assert client.get("/v1/contracts").status_code == 200
        revoked = ledger_cli("token", "revoke", "--data-dir", str(node.data_dir), fresh["jti"])
        assert revoked.returncode == 0, revoked.stderr
        after = client.get("/v1/contracts")
        assert after.status_code == 401 and "revoked" in after.json()["error"]
        answer = client.get("/web/session")
        assert answer.status_code == 401 and "revoked" in answer.json()["error"]
        assert "max-age=0" in answer.headers["set-cookie"].lower()  # the stale cookie is cleared
        assert COOKIE_NAME not in client.cookies
    # The other sessions go on.
    with node.signed_in("REGULATOR") as (other, _, _):
        assert other.get("/v1/contracts").status_code == 200


def test_sign_out_needs_the_csrf_header_and_ends_the_session(node: Node) -> None:
    with node.signed_in("REGULATOR") as (client, session, _):
        refused = client.delete("/web/session")
        assert (refused.status_code, refused.json()) == (403, {"error": CSRF_REFUSAL})
        assert client.get("/v1/contracts").status_code == 200
        out = client.delete("/web/session", headers={CSRF_HEADER: session["csrf"]})
        assert out.status_code == 200 and COOKIE_NAME not in client.cookies
        assert client.get("/v1/contracts").status_code == 401


def test_bad_sign_ins_are_refused_with_a_reason_never_500(node: Node) -> None:
    url = node.url + "/web/session"
    cases = [
        (httpx.post(url, content=b"not json", headers={"Content-Type": "application/json"}, timeout=TIMEOUT), 400),
        (httpx.post(url, json={"no": "token"}, timeout=TIMEOUT), 400),
        (httpx.post(url, json={"token": "not.a.token"}, timeout=TIMEOUT), 401),
        (httpx.post(url, data={"token": node.tokens["REGULATOR"]}, timeout=TIMEOUT), 400),  # an HTML form's body
        (httpx.post(url, content=b"{" + b" " * (5 * 1024 * 1024) + b"}",
                    headers={"Content-Type": "application/json"}, timeout=TIMEOUT), 413),
    ]
    for answer, status in cases:
        assert answer.status_code == status, answer.text
        assert answer.json()["error"] and "set-cookie" not in answer.headers


def test_the_feed_and_the_websocket_take_the_cookie(node: Node) -> None:
    with node.signed_in("REGULATOR") as (client, _, _):
        with client.stream("GET", "/v1/feed") as feed:
            assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/event-stream")
            first = next(feed.iter_lines())
            assert first.startswith("retry:")
        cookie = f"{COOKIE_NAME}={client.cookies[COOKIE_NAME]}"

    async def scenario() -> None:
        async with websockets.connect(node.ws_url, additional_headers={"Cookie": cookie},
                                      open_timeout=TIMEOUT) as ws:
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}))
            assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["result"].startswith("0x")
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "eth_subscribe", "params": ["logs", {}]}))
            answer = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            assert answer["error"]["code"] == -40100  # still the regulator's role

    asyncio.run(scenario())


def test_the_cookie_carries_the_token_in_no_form(node: Node) -> None:
    """Over http a browser sends the cookie to every port of the host name: whatever else
    listens there reads it, and must find no token to replay as a bearer."""
    token = node.tokens["REGULATOR"]
    with node.signed_in("REGULATOR") as (client, _, answer):
        value = answer.headers["set-cookie"].split(";")[0].split("=", 1)[1]
        assert value == client.cookies[COOKIE_NAME] and value.startswith("v2.")
        assert token not in value
        for part in token.split("."):  # the JWT's header, claims and signature
            assert part[:16] not in value
        raw = token.encode()
        for shift in range(3):  # every base64 alignment, both alphabets
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                assert encode(raw[shift:]).decode()[4:40] not in value
        # What such a server could try: the cookie's parts as a bearer token.
        for piece in (value, *value.split(".")):
            refused = httpx.get(node.url + "/v1/contracts", headers={"Authorization": f"Bearer {piece}"},
                                timeout=TIMEOUT)
            assert refused.status_code == 401, piece
        assert client.get("/v1/contracts").status_code == 200  # the cookie itself still signs in


# -- a page of another origin listed in --ws-origins ------------------------------------------

PAGE_ORIGIN = f"http://127.0.0.1:{free_port()}"  # same host name, another port: the same site


@pytest.fixture(scope="module")
def listed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProcess, str]]:
    """A node requiring tokens that lets pages of PAGE_ORIGIN open its WebSocket, and an
    ADMIN token of its own issuer."""
    node = NodeProcess(tmp_path_factory.mktemp("listed") / "data", free_port(), dev=True, auth="required",
                       extra_args=("--ws-origins", PAGE_ORIGIN))
    node.start()
    try:
        yield node, TokenStore(node.data_dir).issue("ADMIN", "operator", None, 3600)[0]
    finally:
        node.stop()


def ws_exchange(url: str, headers: dict[str, str], origin: str | None) -> Any:
    """The answer to one qbft_getPendingVotes (rpc:admin) over a fresh WebSocket, or the
    close code when the node closes it instead."""

    async def run() -> Any:
        async with websockets.connect(url, additional_headers=headers, origin=origin,  # type: ignore[arg-type]
                                      open_timeout=TIMEOUT) as ws:
            try:  # a node that closes the socket may do so before the call is even sent
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "qbft_getPendingVotes", "params": []}))
                return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            except websockets.ConnectionClosed as closed:
                return {"closed": closed.rcvd.code if closed.rcvd else None,
                        "reason": closed.rcvd.reason if closed.rcvd else ""}

    return asyncio.run(run())


def test_the_cookie_counts_on_the_websocket_only_from_the_nodes_own_pages(listed: tuple[NodeProcess, str]) -> None:
    node, admin = listed
    with httpx.Client(base_url=node.url, timeout=TIMEOUT) as client:
        assert client.post("/web/session", json={"token": admin}).status_code == 200
        cookie = {"Cookie": f"{COOKIE_NAME}={client.cookies[COOKIE_NAME]}"}
    # A page of the listed origin, riding on the ADMIN's cookie (SameSite=Strict sends it:
    # same site): the handshake passes the Origin check, but the cookie is no credential
    # there, and a node that requires tokens closes the socket before any call runs.
    hijack = ws_exchange(node.ws_url, cookie, PAGE_ORIGIN)
    assert hijack.get("closed") == 1008 and "Unauthorized" in hijack["reason"], hijack
    # The console's own page (Origin = the node's) and a client that sends no Origin: the
    # cookie counts.
    for origin in (None, node.url):
        answer = ws_exchange(node.ws_url, cookie, origin)
        assert "result" in answer, (origin, answer)
    # The listed page with a token of its own is what --ws-origins is for.
    assert "result" in ws_exchange(f"{node.ws_url}?token={admin}", {}, PAGE_ORIGIN)
    assert "result" in ws_exchange(node.ws_url, {"Authorization": f"Bearer {admin}", **cookie}, PAGE_ORIGIN)
    # Nothing at all from that page: closed as before.
    assert ws_exchange(node.ws_url, {}, PAGE_ORIGIN).get("closed") == 1008


# -- in a browser ---------------------------------------------------------------------------


def _tab_to(page: Any, selector: str, limit: int = 40) -> None:
    """Press Tab until the element `selector` has the focus (as a keyboard user would)."""
    for _ in range(limit):
        if page.evaluate("(s) => document.activeElement === document.querySelector(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} not reached with {limit} Tabs")


def test_signing_in_and_out_through_the_page_by_keyboard(node: Node, tmp_path: Path) -> None:
    html = httpx.get(node.url + "/", timeout=TIMEOUT).text
    assert f'src="{STATIC_PREFIX}/js/session.js"' in html, "the shell does not load session.js (node/web/pages.py PAGE_MODULES)"
    token = node.tokens["REGULATOR"]
    with browser() as launched:
        context, elsewhere = node_only_context(launched, node.url)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(node.url + "/#signin")
        page.wait_for_selector("body[data-console=ready]")
        page.wait_for_selector("#signin-form")
        # Nobody signed in: the nav offers Sign in, and no page that needs a role.
        assert page.locator("#nav a[data-page=signin]").count() == 1
        loaded = [name for name in ROLE_PAGES if f"/js/{name}.js" in html]
        for name in loaded:
            assert page.locator(f"#nav a[data-page={name}]").count() == 0, name
        assert page.inner_text("#who").strip() == ""
        screenshot(page, "signin-none", tmp_path)

        # A wrong token: refused in words, the field emptied, no session.
        _tab_to(page, "#signin-token")
        page.keyboard.insert_text("not.a.token")
        _tab_to(page, "#signin-submit")
        page.keyboard.press("Enter")
        page.wait_for_selector("#signin-status.error")
        assert "malformed token" in page.inner_text("#signin-status")
        assert page.input_value("#signin-token") == ""

        # The real one, by keyboard only: Tab to the field, paste, Tab to the button, Enter.
        _tab_to(page, "#signin-token")
        page.keyboard.insert_text(token)
        _tab_to(page, "#signin-submit")
        page.keyboard.press("Enter")
        page.wait_for_selector("#sign-out")
        page.wait_for_selector("body[data-state=done]")
        who = page.inner_text("#who")
        assert "REGULATOR" in who and "City Housing Bureau" in who
        assert page.locator("#nav a[data-page=signin]").count() == 0
        # The nav follows the session's permissions (the regulator's), never evidence pages.
        session = page.evaluate("fetch('/web/session').then((r) => r.json())")
        assert session["role"] == "REGULATOR" and "evidence:read" not in session["permissions"]
        for name in loaded:  # contracts, supervision and chain yes; administration no
            shown = page.locator(f"#nav a[data-page={name}]").count() == 1
            assert shown == (ROLE_PAGES[name] in session["permissions"]), name
        # The page kept no copy of the token, and scripts cannot read the cookie.
        stored = page.evaluate("JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage}) + document.cookie")
        assert token not in stored and COOKIE_NAME not in stored
        # The same authorizer behind the page's fetches: contracts yes, evidence no.
        statuses = page.evaluate("Promise.all(['/v1/contracts', '/v1/evidence'].map((p) => fetch(p).then((r) => r.status)))")
        assert statuses == [200, 403]
        # A write from the page without the CSRF header is refused; console.js sends it.
        bare = page.evaluate("fetch('/web/session', {method: 'DELETE'}).then((r) => r.status)")
        assert bare == 403
        screenshot(page, "signin-regulator", tmp_path)

        # Sign out with the keyboard.
        _tab_to(page, "#sign-out")
        page.keyboard.press("Enter")
        page.wait_for_selector("#nav a[data-page=signin]")
        assert page.inner_text("#who").strip() == ""
        assert page.evaluate("fetch('/web/session').then((r) => r.status)") == 401
        assert page.evaluate("fetch('/v1/contracts').then((r) => r.status)") == 401
        context.close()
    assert errors == [] and elsewhere == []


def test_the_signin_page_speaks_both_languages(node: Node, tmp_path: Path) -> None:
    html = httpx.get(node.url + "/", timeout=TIMEOUT).text
    assert f'src="{STATIC_PREFIX}/js/session.js"' in html, "the shell does not load session.js (node/web/pages.py PAGE_MODULES)"
    with browser() as launched:
        context, elsewhere = node_only_context(launched, node.url)
        page = context.new_page()
        page.goto(node.url + "/#signin")
        page.wait_for_selector("#signin-form")
        english = page.inner_text("#page-signin")
        page.click("#lang")
        page.wait_for_selector("#page-signin label:has-text('角色令牌')")  # no wait_for_function: the CSP has no eval
        chinese = page.inner_text("#page-signin")
        assert "角色令牌" in chinese and "ledger token issue" in chinese and "ledger token issue" in english
        screenshot(page, "signin-none-zh", tmp_path)
        page.click("#lang")
        context.close()
    assert elsewhere == []
