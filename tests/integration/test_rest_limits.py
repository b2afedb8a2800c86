"""The REST surface's small limits on a real node that requires tokens: junk in any query
parameter or path is a 400 with a JSON error (never a 500), blobs read with a token are
never `Cache-Control: public`, one token holds at most MAX_FEED_STREAMS_PER_CALLER feed
streams while another token still gets one, and a stream ends when its token is revoked
or expires, with or without a new block.

(The blob quotas are tests/unit/node/test_blob_quota.py: they need a store small enough
to fill, which a unit test builds in-process.)
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from node.access.tokens import TokenStore
from node.rpc.limits import MAX_FEED_STREAMS_PER_CALLER
from node.rpc.rest.context import ApiError
from node.rpc.rest.feed import FeedStreams
from tests.integration.permissioned import Network, address_of, start_network

pytestmark = pytest.mark.slow

TIMEOUT = 30.0
DEADLINE_SECONDS = 60.0
MEMBERS = [("admin", "ADMIN"), ("center", "TRADING_CENTER"), ("regulator", "REGULATOR"), ("party", "PARTY")]


@dataclass
class Desk:
    net: Network
    store: TokenStore
    tokens: dict[str, str]

    @property
    def url(self) -> str:
        return self.net.url

    def headers(self, role: str | None = None, *, token: str | None = None) -> dict[str, str]:
        token = token if token is not None else (self.tokens[role] if role else None)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def issue(self, role: str, subject: str, *, ttl: int = 3600, now: int | None = None) -> tuple[str, str]:
        """A fresh token of `role` and its id."""
        address = bytes.fromhex(address_of("party")[2:]) if role == "PARTY" else None
        token, claims = self.store.issue(role, subject, address, ttl, now=now)
        return token, claims.token_id


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    net = start_network(tmp_path_factory.mktemp("rest-limits"), MEMBERS, auth="required")
    try:
        store = TokenStore(net.node.data_dir)
        tokens = {role: store.issue(role, f"limits {role.lower()}",
                                    bytes.fromhex(address_of("party")[2:]) if role == "PARTY" else None, 3600)[0]
                  for role in ("ADMIN", "TRADING_CENTER", "REGULATOR", "PARTY")}
        yield Desk(net, store, tokens)
    finally:
        net.node.stop()


# -- junk in, 400 out -------------------------------------------------------------------------

# Each as it goes on the wire: `%ED%A0%80` is a lone UTF-16 surrogate (U+D800) in UTF-8,
# which no valid UTF-8 text holds; `%C0%AF` an overlong encoding of "/".
JUNK = ["x", "", "-1", "0", "1e3", "nan", "99999999999999999999999999", "18446744073709551616",
        "%ED%A0%80", "a%ED%A0%80b", "%C0%AF", "%FF", "%00", "%E2%80%8B", "%EF%BC%91%EF%BC%92",  # fullwidth 12
        "0x", "0x" + "zz" * 32, "1-", "1-2-3", "-", "2026-13-40", "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00", "true", "[]", "%20", "A" * 5000]
PATH_JUNK = [j for j in JUNK if j not in ("", "%20")]
ROUTES: dict[str, list[str]] = {
    "/v1/summary": [],
    "/v1/contracts": ["project", "party", "status", "since", "until", "limit", "after", "order"],
    "/v1/contracts/{key}": [],
    "/v1/contracts/{key}/events": ["limit", "after"],
    "/v1/evidence": ["digest", "case", "kind", "limit", "after", "order"],
    "/v1/evidence/{key}": ["limit", "after"],
    "/v1/commitments": ["status", "raised", "unit", "due_after", "due_before", "limit", "after", "order"],
    "/v1/commitments/report": ["unit"],
    "/v1/commitments/{key}": [],
    "/v1/commitments/{key}/events": ["limit", "after"],
    "/v1/members/{key}": [],
    "/v1/seals": ["owner", "status", "limit", "after", "order"],
    "/v1/seals/{key}": [],
    "/v1/events": ["since", "topics", "role", "limit", "after"],
    "/v1/blobs/{key}": [],
}
# Parameters for which no junk above names anything real: each must be refused outright,
# but for the values listed (a time of 0 is 1970; an empty `since` is "from the start").
ALWAYS_400 = {"role", "topics", "since", "limit", "order", "party", "digest", "due_after", "due_before", "until"}
VALID = {"since": {"0", ""}, "until": {"0"}, "due_after": {"0"}, "due_before": {"0"}}


def check_answer(response: httpx.Response, what: str, *, must_400: bool) -> str | None:
    """None if the answer is a proper one; otherwise what is wrong with it."""
    status = response.status_code
    if status >= 500 or status not in (200, 400, 404) or (must_400 and status != 400):
        return f"{what}: {status} {response.text[:120]!r}"
    if status in (400, 404):
        try:
            body = response.json()
        except ValueError:
            return f"{what}: {status} not JSON {response.text[:120]!r}"
        message = body.get("error", body.get("detail")) if isinstance(body, dict) else None
        if not isinstance(message, str) or not message:
            return f"{what}: {status} without an error message {body!r:.120}"
    return None


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_junk_in_any_parameter_is_a_400_with_a_json_error_never_a_500(desk: Desk, route: str) -> None:
    wrong: list[str] = []
    # A fresh connection per request: a 500 makes the server close the one it came on.
    with httpx.Client(base_url=desk.url, headers=desk.headers("ADMIN"), timeout=TIMEOUT,
                      limits=httpx.Limits(max_keepalive_connections=0)) as client:
        for junk in JUNK:
            if "{key}" in route and junk in PATH_JUNK:
                path = route.replace("{key}", junk)
                wrong.append(check_answer(client.get(path), path[:80], must_400=False) or "")
            for name in ROUTES[route]:
                url = route.replace("{key}", "1") + f"?{name}={junk}"
                must_400 = name in ALWAYS_400 and junk not in VALID.get(name, ())
                wrong.append(check_answer(client.get(url), url[:80], must_400=must_400) or "")
    wrong = [w for w in wrong if w]
    assert not wrong, "\n".join(wrong)


def test_unknown_role_or_topic_names_what_is_allowed(desk: Desk) -> None:
    for url in ("/v1/events?role=x", "/v1/events?role=%ED%A0%80", "/v1/events?topics=x"):
        response = httpx.get(desk.url + url, headers=desk.headers("ADMIN"), timeout=TIMEOUT)
        assert response.status_code == 400, (url, response.text)
        assert "REGULATOR" in response.json()["error"] or "evidence" in response.json()["error"], response.text
    response = httpx.get(desk.url + "/v1/feed?role=x", headers=desk.headers("ADMIN"), timeout=TIMEOUT)
    assert response.status_code == 400 and "unknown role" in response.json()["error"], response.text


@pytest.mark.parametrize("header", ["x", "1-", "99999999999999999999999-1", "A" * 5000, b"\xed\xa0\x80-1", b"1-\xff"])
def test_junk_last_event_id_is_a_400(desk: Desk, header: str | bytes) -> None:
    for route in ("/v1/events", "/v1/feed"):
        response = httpx.get(desk.url + route + "?topics=contracts", timeout=TIMEOUT,
                             headers={**desk.headers("ADMIN"), "Last-Event-ID": header})
        assert response.status_code == 400, (route, response.text)
        assert "cursor" in response.json()["error"]


# -- blobs: private when a token was needed -----------------------------------------------------


def test_a_blob_read_with_a_token_is_cache_control_private(desk: Desk) -> None:
    data = b"sealed tender file " + hashlib.sha256(b"limits").digest()
    put = httpx.put(desk.url + "/v1/blobs", content=data, headers=desk.headers("TRADING_CENTER"), timeout=TIMEOUT)
    assert put.status_code in (200, 201), put.text
    for method in ("GET", "HEAD"):
        got = httpx.request(method, f"{desk.url}/v1/blobs/{put.json()['sha256']}", headers=desk.headers("PARTY"),
                            timeout=TIMEOUT)
        assert got.status_code == 200
        directives = {d.strip() for d in got.headers["cache-control"].split(",")}
        assert "private" in directives and "public" not in directives, got.headers["cache-control"]
        assert got.headers["etag"] == f'"{put.json()["sha256"]}"'
        # served from the console's origin: never sniffed into a script or a page
        assert got.headers["x-content-type-options"] == "nosniff"


# -- feed streams: per token, and ended with the token ----------------------------------------------


@contextlib.contextmanager
def open_stream(client: httpx.Client, desk: Desk, token: str, query: str = "topics=contracts") -> Iterator[Iterator[str]]:
    """An open /v1/feed stream that has started (its `retry:` line read): its further lines."""
    with client.stream("GET", f"/v1/feed?{query}", headers=desk.headers(token=token)) as response:
        assert response.status_code == 200, response.read()
        lines = response.iter_lines()
        assert next(lines).startswith("retry:")
        yield lines


def stream_status(client: httpx.Client, desk: Desk, token: str) -> tuple[int, dict[str, object], httpx.Headers]:
    """The status of a /v1/feed request (the stream, if one opens, is closed at once), its
    JSON error and its headers."""
    with client.stream("GET", "/v1/feed?topics=contracts", headers=desk.headers(token=token)) as response:
        body = response.read() if response.status_code != 200 else b"{}"
        return response.status_code, json.loads(body), response.headers


def poll(check: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {DEADLINE_SECONDS}s: {what}")


def test_one_token_holds_at_most_its_share_of_feed_streams(desk: Desk) -> None:
    greedy, _ = desk.issue("REGULATOR", "opens many streams")
    other, _ = desk.issue("REGULATOR", "opens one stream")
    limits = httpx.Limits(max_connections=MAX_FEED_STREAMS_PER_CALLER + 8)
    with httpx.Client(base_url=desk.url, timeout=TIMEOUT, limits=limits) as client, contextlib.ExitStack() as held:
        streams = [held.enter_context(contextlib.ExitStack()) for _ in range(MAX_FEED_STREAMS_PER_CALLER)]
        for stream in streams:
            stream.enter_context(open_stream(client, desk, greedy))
        status, error, headers = stream_status(client, desk, greedy)
        assert status == 429, (status, error)
        assert str(MAX_FEED_STREAMS_PER_CALLER) in str(error["error"])
        assert headers["retry-after"].isdigit()
        # ... while another token still gets one, and /v1/events still answers the first
        with open_stream(client, desk, other):
            pass
        assert client.get("/v1/events?topics=contracts", headers=desk.headers(token=greedy)).status_code == 200
        # a stream the client closes gives its place back
        streams[0].close()

        poll(lambda: stream_status(client, desk, greedy)[0] == 200, "a closed stream's place is given back to its token")


def test_the_node_wide_cap_holds_whoever_asks() -> None:
    streams = FeedStreams(total=3, per_caller=2)
    for caller in ("token:a", "token:a", "token:b"):
        streams.claim(caller)
    with pytest.raises(ApiError) as full:
        streams.claim("token:c")  # c holds none, but the node holds all it serves
    assert full.value.status == 503 and full.value.retry_after
    streams.release("token:a")
    streams.claim("token:a")  # a place given back is taken again
    streams.release("token:b")
    with pytest.raises(ApiError) as share:
        streams.claim("token:a")  # the node has room; a has its share
    assert share.value.status == 429 and "token:a already holds 2" in str(share.value)
    streams.claim("token:c")
    assert (streams.count, streams.held("token:a"), streams.held("token:b"), streams.held("token:c")) == (3, 2, 0, 1)


def read_until_end(lines: Iterator[str]) -> str:
    """Everything a stream sends until the node ends it (each read bounded by the timeout)."""
    return "\n".join(lines)


def test_a_revoked_token_ends_its_idle_stream_without_a_block(desk: Desk) -> None:
    token, token_id = desk.issue("REGULATOR", "revoked while idle")
    with httpx.Client(base_url=desk.url, timeout=TIMEOUT) as client:
        with open_stream(client, desk, token, "topics=contracts&since=999999999-0") as lines:
            desk.store.revoke(token_id)
            rest = read_until_end(lines)
    assert "revoked" in rest, rest


def test_an_expiring_token_ends_its_stream(desk: Desk) -> None:
    # Issued so that it expires (past the verifier's 60 s leeway) a few seconds from now.
    ttl = 3600
    token, _ = desk.issue("REGULATOR", "about to expire", ttl=ttl, now=int(time.time()) - ttl - 60 + 4)
    with httpx.Client(base_url=desk.url, timeout=TIMEOUT) as client:
        with open_stream(client, desk, token, "topics=contracts&since=999999999-0") as lines:
            rest = read_until_end(lines)
    assert "expired" in rest, rest
