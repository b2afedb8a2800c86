"""The console's browser session (node/access/session.py, the cookie in node/access/http.py's
Authorizer, /web/session in node/web/routes.py): the CSRF value bound to its session and
refused when missing, wrong or another session's; the cookie sealed (encrypted and
authenticated) by this node's key only, opaque (the token is in it in no form), ending when
the token or MAX_SESSION_SECONDS does; the cookie's attributes; the Authorizer's order
(header, ?token=, cookie) and its CSRF edge; `same_origin`, which says when the cookie
counts on a WebSocket; sign-in's bad input as 400/401/413, never 500. Fixed keys, nonces
and a fixed clock."""
from __future__ import annotations

import base64
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

with warnings.catch_warnings():  # starlette 1.x nudges towards httpx2; httpx works fine here
    warnings.filterwarnings("ignore", message=".*httpx")
    from fastapi.testclient import TestClient

from node.access.http import SESSION_KEY_FILE, Authorizer, load_session_key, principal_for
from node.access.session import (
    COOKIE_NAME,
    CSRF_HEADER,
    CSRF_REFUSAL,
    MAX_COOKIE_CHARS,
    MAX_SESSION_SECONDS,
    NONCE_BYTES,
    SESSION_KEY_BYTES,
    CsrfRefused,
    ForeignSession,
    check_csrf,
    cookie_attributes,
    csrf_for,
    seal_session,
    session_end,
    unseal_session,
)
from node.access.tokens import TOKENS_DIR, issue_token, key_id
from node.errors import PermissionDenied, Unauthenticated
from node.rpc.origin import same_origin
from node.web.routes import MAX_SIGN_IN_BODY_BYTES, add_web_routes

NOW = 1_800_000_000
KEY = bytes(range(SESSION_KEY_BYTES))
OTHER_KEY = bytes(range(1, SESSION_KEY_BYTES + 1))
ISSUER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
ISSUERS = {key_id(ISSUER.public_key()): ISSUER.public_key()}
JTI = "0123456789abcdef0123456789abcdef"
OTHER_JTI = "fedcba9876543210fedcba9876543210"
NONCE = bytes(range(NONCE_BYTES))
OTHER_NONCE = bytes(range(1, NONCE_BYTES + 1))


def token(role: str = "REGULATOR", *, ttl: int = 90 * 86400, jti: str = JTI) -> str:
    return issue_token(ISSUER, role=role, subject="Housing Bureau", address=None, now=NOW, ttl=ttl, token_id=jti)[0]


# -- the pure part ----------------------------------------------------------------------------


def test_csrf_is_bound_to_its_session_and_key() -> None:
    one = seal_session(KEY, token(), NOW + 3600, NONCE)
    two = seal_session(KEY, token(jti=OTHER_JTI), NOW + 3600, NONCE)
    later = seal_session(KEY, token(), NOW + 7200, NONCE)
    values = {csrf_for(KEY, one), csrf_for(KEY, two), csrf_for(KEY, later), csrf_for(OTHER_KEY, one)}
    assert len(values) == 4  # another token, another end, another node: another value
    assert csrf_for(KEY, one) == csrf_for(KEY, one)
    assert len(csrf_for(KEY, one)) == 43  # 256 bits, base64url
    assert token() not in csrf_for(KEY, one)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "post", "PROPFIND"])
def test_unsafe_methods_need_the_sessions_csrf(method: str) -> None:
    cookie = seal_session(KEY, token(), NOW + 3600, NONCE)
    other = seal_session(KEY, token(jti=OTHER_JTI), NOW + 3600, NONCE)
    check_csrf(KEY, cookie, method, csrf_for(KEY, cookie))
    check_csrf(KEY, cookie, method, f" {csrf_for(KEY, cookie)} ")
    for presented in (None, "", "x", csrf_for(KEY, other), csrf_for(OTHER_KEY, cookie), csrf_for(KEY, ""),
                      csrf_for(KEY, cookie)[:-1], "é" * 43):
        with pytest.raises(CsrfRefused) as refused:
            check_csrf(KEY, cookie, method, presented)
        assert str(refused.value) == CSRF_REFUSAL and refused.value.method == method.upper()
        assert isinstance(refused.value, PermissionDenied)  # 403 at every edge


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "get"])
def test_safe_methods_need_no_csrf(method: str) -> None:
    check_csrf(KEY, seal_session(KEY, token(), NOW + 3600, NONCE), method, None)


def test_a_session_opens_only_under_the_key_that_sealed_it() -> None:
    text = token()
    cookie = seal_session(KEY, text, NOW + 3600, NONCE)
    session = unseal_session(KEY, cookie)
    assert (session.token, session.expires, session.cookie) == (text, NOW + 3600, cookie)
    version, expires, sealed = cookie.split(".")
    assert (version, expires) == ("v2", str(NOW + 3600))
    # The end is authenticated with the token: moving it (later or earlier) opens nothing.
    stretched = f"{version}.{int(expires) + 86400}.{sealed}"
    shortened = f"{version}.{int(expires) - 1}.{sealed}"
    raw = bytearray(base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4)))
    tampered = []
    for index in (0, NONCE_BYTES, len(raw) // 2, len(raw) - 1):  # nonce, ciphertext, tag
        flipped = bytearray(raw)
        flipped[index] ^= 0x01
        tampered.append(f"{version}.{expires}.{base64.urlsafe_b64encode(bytes(flipped)).rstrip(b'=').decode()}")
    short = f"{version}.{expires}.{base64.urlsafe_b64encode(bytes(raw[:NONCE_BYTES + 15])).rstrip(b'=').decode()}"
    old_format = f"v1.{expires}.{'A' * 43}.{text}"  # what the node set before: the token in clear
    for value in (stretched, shortened, *tampered, short, old_format, cookie[:-1], "v1" + cookie[2:], "v3" + cookie[2:],
                  cookie + ".x", f"{version}.{expires}.{sealed}!", f"{version}.{expires}.{sealed}=",
                  f"{version}.-1.{sealed}", f"{version}.{expires}.", "garbage", "", "v2.1", "v2.x.y",
                  "v2.1." + "A" * MAX_COOKIE_CHARS):
        with pytest.raises(ForeignSession):
            unseal_session(KEY, value)
    with pytest.raises(ForeignSession, match="not set by this node"):
        unseal_session(OTHER_KEY, cookie)
    session.require_current(NOW + 3599)
    with pytest.raises(Unauthenticated, match="ended"):
        session.require_current(NOW + 3600)


def test_the_cookie_is_opaque() -> None:
    """Cookies ignore ports and go over http: another server on the same host name sees the
    cookie, and must learn no token from it (the token is in it in no form)."""
    text = token()
    cookie = seal_session(KEY, text, NOW + 3600, NONCE)
    assert text not in cookie
    for part in text.split("."):  # the JWT's header, claims and signature, each base64url
        assert part[:16] not in cookie
    raw = text.encode()
    for shift in range(3):  # every base64 alignment of the token, both alphabets
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(raw[shift:]).decode()
            assert encoded[4:40] not in cookie
    # A fresh nonce, a fresh cookie: two sessions of one token do not even look alike.
    again = seal_session(KEY, text, NOW + 3600, OTHER_NONCE)
    assert again != cookie and unseal_session(KEY, again).token == text
    assert csrf_for(KEY, again) != csrf_for(KEY, cookie)


def test_a_token_of_ours_fits_in_a_cookie() -> None:
    """Our tokens are ~450 characters; sealed, they keep far below MAX_COOKIE_CHARS."""
    text = token("TRADING_CENTER")
    padded = text + "A" * max(0, 450 - len(text))  # a ~450-character token, whatever ours measure
    cookie = seal_session(KEY, padded, NOW + 3600, NONCE)
    assert len(cookie) < 700 < MAX_COOKIE_CHARS
    assert unseal_session(KEY, cookie).token == padded


def test_a_nonce_is_nonce_bytes() -> None:
    for nonce in (b"", NONCE[:-1], NONCE + b"\x00"):
        with pytest.raises(ValueError, match="nonce"):
            seal_session(KEY, token(), NOW + 3600, nonce)


def test_a_session_ends_with_its_token_or_the_cap() -> None:
    assert session_end(NOW, NOW + 90 * 86400) == NOW + MAX_SESSION_SECONDS
    assert session_end(NOW, NOW + 600) == NOW + 600
    assert MAX_SESSION_SECONDS == 12 * 3600


def test_a_token_that_cannot_live_in_a_cookie_is_refused() -> None:
    with pytest.raises(ValueError, match="too long"):
        seal_session(KEY, "a" * MAX_COOKIE_CHARS, NOW, NONCE)
    for bad in ("a b", "a;b", 'a"b', "a,b", "a\\b", "é", ""):
        with pytest.raises(ValueError):
            seal_session(KEY, bad, NOW, NONCE)


@pytest.mark.parametrize("secure", [False, True])
def test_cookie_attributes(secure: bool) -> None:
    response = Response()
    response.set_cookie(**cookie_attributes(3600, secure=secure), value="v2.1.abcdef")
    header = response.headers["set-cookie"]
    parts = [part.strip().lower() for part in header.split(";")]
    assert parts[0] == f"{COOKIE_NAME}=v2.1.abcdef"
    assert {"httponly", "samesite=strict", "path=/", "max-age=3600"} <= set(parts)
    assert ("secure" in parts) is secure
    assert not any(part.startswith("domain") for part in parts)  # this host only
    cleared = Response()
    cleared.set_cookie(**cookie_attributes(-5, secure=False), value="")
    assert "max-age=0" in cleared.headers["set-cookie"].lower()


# -- the authorizer -------------------------------------------------------------------------


def test_the_session_key_is_private_and_kept(tmp_path: Path) -> None:
    key = load_session_key(tmp_path)
    path = tmp_path / TOKENS_DIR / SESSION_KEY_FILE
    assert len(key) == SESSION_KEY_BYTES and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_session_key(tmp_path) == key  # a restart keeps every browser signed in
    assert [p.name for p in path.parent.iterdir()] == [SESSION_KEY_FILE]  # no staging file left
    path.write_bytes(b"short")
    with pytest.raises(Exception, match="random bytes"):
        load_session_key(tmp_path)


class Clock:
    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def revoked() -> set[str]:
    return set()


@pytest.fixture
def authorizer(clock: Clock, revoked: set[str]) -> Authorizer:
    return Authorizer("required", ISSUERS, revoked, clock=clock, session_key=KEY)


@pytest.fixture
def client(authorizer: Authorizer) -> Iterator[TestClient]:
    """An app with the session routes and one route of each kind behind principal_for."""
    app = FastAPI()
    app.state.authorizer = authorizer
    add_web_routes(app, {})

    async def who(request: Request) -> JSONResponse:
        try:
            principal = principal_for(request)
        except Unauthenticated as exc:
            return JSONResponse({"error": str(exc)}, status_code=401)
        except CsrfRefused as exc:
            return JSONResponse({"error": str(exc)}, status_code=403)
        return JSONResponse({"role": principal.role, "expires": principal.expires})

    app.add_api_route("/who", who, methods=["GET", "POST", "PUT", "DELETE"])
    with TestClient(app) as test_client:
        yield test_client


def cookie_header(value: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE_NAME}={value}"}


def sign_in(client: TestClient, text: str) -> tuple[str, dict[str, Any]]:
    answer = client.post("/web/session", json={"token": text})
    assert answer.status_code == 200, answer.text
    client.cookies.clear()  # requests below say exactly what they send
    set_cookie = answer.headers["set-cookie"]
    value = set_cookie.split(";")[0].split("=", 1)[1]
    return value, answer.json()


def test_sign_in_answers_the_session_and_sets_the_cookie(client: TestClient) -> None:
    value, session = sign_in(client, token())
    assert session["role"] == "REGULATOR" and session["subject"] == "Housing Bureau"
    assert session["anonymous"] is False and session["address"] is None
    assert "contracts:read" in session["permissions"] and "evidence:read" not in session["permissions"]
    assert session["expires"] == NOW + MAX_SESSION_SECONDS  # the 90-day token is capped
    assert session["csrf"] == csrf_for(KEY, value)
    again = client.get("/web/session", headers=cookie_header(value))
    assert again.status_code == 200 and again.json() == session
    assert again.headers["cache-control"] == "no-store"
    assert client.get("/who", headers=cookie_header(value)).json() == {"role": "REGULATOR",
                                                                        "expires": NOW + MAX_SESSION_SECONDS}


def test_a_short_token_makes_a_short_session(client: TestClient) -> None:
    answer = client.post("/web/session", json={"token": token(ttl=600)})
    assert answer.json()["expires"] == NOW + 600
    assert "max-age=600" in answer.headers["set-cookie"].lower()


def test_the_cookie_is_checked_again_on_every_request(client: TestClient, clock: Clock, revoked: set[str]) -> None:
    value, _ = sign_in(client, token())
    assert client.get("/who", headers=cookie_header(value)).status_code == 200
    revoked.add(JTI)  # `ledger token revoke`: the next request is refused, no restart
    refused = client.get("/who", headers=cookie_header(value))
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]
    answer = client.get("/web/session", headers=cookie_header(value))
    assert answer.status_code == 401 and "revoked" in answer.json()["error"]
    assert "max-age=0" in answer.headers["set-cookie"].lower()  # the page's stale cookie goes
    revoked.clear()
    clock.now = NOW + MAX_SESSION_SECONDS  # the session ends before the token does
    answer = client.get("/web/session", headers=cookie_header(value))
    assert answer.status_code == 401 and "ended" in answer.json()["error"]


def test_the_header_wins_over_the_cookie(authorizer: Authorizer, client: TestClient) -> None:
    value, _ = sign_in(client, token("REGULATOR"))
    auditor = token("AUDITOR", jti=OTHER_JTI)
    both = {**cookie_header(value), "Authorization": f"Bearer {auditor}"}
    assert client.get("/who", headers=both).json()["role"] == "AUDITOR"
    assert client.get(f"/who?token={auditor}", headers=cookie_header(value)).json()["role"] == "AUDITOR"
    # A bearer write needs no CSRF value even with the cookie beside it: the header counts.
    assert client.post("/who", headers=both).json()["role"] == "AUDITOR"


def test_writes_by_cookie_need_the_csrf_header(client: TestClient) -> None:
    value, session = sign_in(client, token())
    other_value, other = sign_in(client, token(jti=OTHER_JTI))
    for method in ("POST", "PUT", "DELETE"):
        for headers in (cookie_header(value), {**cookie_header(value), CSRF_HEADER: other["csrf"]},
                        {**cookie_header(value), CSRF_HEADER: csrf_for(KEY, "")}):
            refused = client.request(method, "/who", headers=headers)
            assert (refused.status_code, refused.json()) == (403, {"error": CSRF_REFUSAL})
        right = client.request(method, "/who", headers={**cookie_header(value), CSRF_HEADER: session["csrf"]})
        assert right.status_code == 200 and right.json()["role"] == "REGULATOR"
        # The other session's value works for the other session only.
        assert client.request(method, "/who", headers={**cookie_header(other_value), CSRF_HEADER: other["csrf"]}
                              ).status_code == 200


def test_another_nodes_cookie_is_no_credential(client: TestClient) -> None:
    foreign = seal_session(OTHER_KEY, token(), NOW + 3600, NONCE)
    answer = client.get("/web/session", headers=cookie_header(foreign))
    assert answer.status_code == 401 and "no session" in answer.json()["error"]
    assert "set-cookie" not in answer.headers  # another node's session is not ours to clear
    # Not a credential, so not a CSRF question either: the write is simply unauthenticated.
    answer = client.post("/who", headers=cookie_header(foreign))
    assert answer.status_code == 401 and "requires a bearer token" in answer.json()["error"]


def test_sign_out_needs_the_csrf_header_and_clears_the_cookie(client: TestClient) -> None:
    value, session = sign_in(client, token())
    refused = client.delete("/web/session", headers=cookie_header(value))
    assert refused.status_code == 403 and refused.json() == {"error": CSRF_REFUSAL}
    answer = client.delete("/web/session", headers={**cookie_header(value), CSRF_HEADER: session["csrf"]})
    assert answer.status_code == 200
    cleared = answer.headers["set-cookie"].lower()
    assert cleared.startswith(f"{COOKIE_NAME}=") and "max-age=0" in cleared and "httponly" in cleared
    assert client.delete("/web/session").status_code == 200  # no session: nothing to forge


@pytest.mark.parametrize("body, headers, status, says", [
    (b"", {"Content-Type": "application/json"}, 400, "not JSON"),
    (b"not json", {"Content-Type": "application/json"}, 400, "not JSON"),
    (b"[" * 5000, {"Content-Type": "application/json"}, 400, "not JSON"),
    (b'{"token": 5}', {"Content-Type": "application/json"}, 400, "role token"),
    (b'{"nothing": "here"}', {"Content-Type": "application/json"}, 400, "role token"),
    (b'["a"]', {"Content-Type": "application/json"}, 400, "role token"),
    (b'{"token": "  "}', {"Content-Type": "application/json"}, 400, "role token"),
    (b'{"token": "x"}', {"Content-Type": "text/plain"}, 400, "Content-Type"),
    (b'{"token": "x"}', {}, 400, "Content-Type"),
    (b"\xff\xfe", {"Content-Type": "application/json"}, 400, "not JSON"),
    (b'{"token": "' + b"a" * (5 * 1024 * 1024) + b'"}', {"Content-Type": "application/json"}, 413, "too large"),
    (b'{"token": "not.a.token"}', {"Content-Type": "application/json; charset=utf-8"}, 401, "malformed token"),
])
def test_bad_sign_ins_are_refused_with_a_reason(client: TestClient, body: bytes, headers: dict[str, str],
                                               status: int, says: str) -> None:
    answer = client.post("/web/session", content=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert says in answer.json()["error"]
    assert "set-cookie" not in answer.headers


def test_a_body_without_a_length_is_capped_as_it_arrives(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"token": "'
        for _ in range(64):
            yield b"a" * 1024
        yield b'"}'

    answer = client.post("/web/session", content=chunks(), headers={"Content-Type": "application/json"})
    assert answer.status_code == 413 and str(MAX_SIGN_IN_BODY_BYTES) in answer.json()["error"]


def test_an_expired_or_revoked_token_signs_nobody_in(client: TestClient, clock: Clock, revoked: set[str]) -> None:
    revoked.add(JTI)
    answer = client.post("/web/session", json={"token": token()})
    assert answer.status_code == 401 and "revoked" in answer.json()["error"]
    clock.now = NOW + 601
    answer = client.post("/web/session", json={"token": token(ttl=600, jti=OTHER_JTI)})
    assert answer.status_code == 401 and "expired" in answer.json()["error"]


def test_auth_off_answers_the_anonymous_admin(clock: Clock) -> None:
    app = FastAPI()
    app.state.authorizer = Authorizer("off", ISSUERS, clock=clock, session_key=KEY)
    add_web_routes(app, {})
    with TestClient(app) as client:
        session = client.get("/web/session").json()
        assert session["anonymous"] is True and session["role"] == "ADMIN" and session["expires"] is None
        assert session["csrf"] == csrf_for(KEY, "")
        # A signed-in token still holds its bearer to its role there.
        value, signed = sign_in(client, token())
        assert client.get("/web/session", headers=cookie_header(value)).json()["role"] == "REGULATOR"
        assert signed["anonymous"] is False


def test_no_session_key_no_sessions() -> None:
    app = FastAPI()
    app.state.authorizer = Authorizer("required", ISSUERS, clock=Clock())
    add_web_routes(app, {})
    with TestClient(app) as client:
        answer = client.post("/web/session", json={"token": token()})
        assert answer.status_code == 401 and "no browser sessions" in answer.json()["error"]


def test_the_set_cookie_carries_no_token(client: TestClient) -> None:
    text = token()
    value, _ = sign_in(client, text)
    assert text not in value and value.startswith("v2.")
    raw = text.encode()
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            assert encode(raw[shift:]).decode()[4:40] not in value
    # The Authorizer makes the nonce: the same token signed in twice is two unlike cookies.
    again, _ = sign_in(client, text)
    assert again != value
    assert client.get("/who", headers=cookie_header(again)).status_code == 200


def test_a_tampered_cookie_is_no_credential(client: TestClient) -> None:
    value, _ = sign_in(client, token())
    version, expires, sealed = value.split(".")
    flipped = sealed[:20] + ("A" if sealed[20] != "A" else "B") + sealed[21:]
    for forged in (f"{version}.{expires}.{flipped}", f"{version}.{int(expires) + 86400}.{sealed}",
                   f"v1.{expires}.{'A' * 43}.{token()}"):
        answer = client.get("/web/session", headers=cookie_header(forged))
        assert answer.status_code == 401 and "no session" in answer.json()["error"]
        assert "set-cookie" not in answer.headers  # not ours: not ours to clear either
        answer = client.get("/who", headers=cookie_header(forged))
        assert answer.status_code == 401 and "requires a bearer token" in answer.json()["error"]


def test_the_session_ends_after_the_cap_while_the_token_lives(client: TestClient, clock: Clock) -> None:
    value, session = sign_in(client, token(ttl=90 * 86400))
    assert session["expires"] == NOW + MAX_SESSION_SECONDS
    clock.now = NOW + MAX_SESSION_SECONDS - 1
    assert client.get("/who", headers=cookie_header(value)).status_code == 200
    clock.now = NOW + MAX_SESSION_SECONDS  # the token has 89 days left; the session none
    answer = client.get("/who", headers=cookie_header(value))
    assert answer.status_code == 401 and "ended" in answer.json()["error"]


# -- when the cookie counts on a WebSocket (node/rpc/origin.py same_origin) -------------------


def scope(origin: str | None, host: str | None = "127.0.0.1:8545", scheme: str = "ws",
          kind: str = "websocket") -> dict[str, Any]:
    headers = [] if host is None else [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return {"type": kind, "scheme": scheme, "headers": headers}


@pytest.mark.parametrize("origin, host, scheme", [
    (None, "127.0.0.1:8545", "ws"),                       # web3.py, the SDK: no Origin
    (None, None, "ws"),
    ("http://127.0.0.1:8545", "127.0.0.1:8545", "ws"),    # the console the node serves
    ("HTTP://127.0.0.1:8545", "127.0.0.1:8545", "ws"),
    ("https://ledger.example", "ledger.example:443", "wss"),
    ("http://[::1]:8545", "[::1]:8545", "ws"),
    ("http://localhost:8545", "localhost:8545", "http"),
])
def test_same_origin_is_the_nodes_own_page_or_no_browser(origin: str | None, host: str | None, scheme: str) -> None:
    assert same_origin(scope(origin, host, scheme)) is True


@pytest.mark.parametrize("origin, host, scheme", [
    ("http://127.0.0.1:9000", "127.0.0.1:8545", "ws"),    # same host, another port: same site
    ("http://app.127.0.0.1.nip.io:8545", "127.0.0.1:8545", "ws"),
    ("https://127.0.0.1:8545", "127.0.0.1:8545", "ws"),   # another scheme
    ("http://ledger.example", "ledger.example", "wss"),
    ("http://127.0.0.1:8545", None, "ws"),                # no Host to compare with
    ("null", "127.0.0.1:8545", "ws"),                     # a sandboxed frame, a file: page
    ("http://127.0.0.1:8545, http://127.0.0.1:8545", "127.0.0.1:8545", "ws"),  # sent twice
    ("", "127.0.0.1:8545", "ws"),
])
def test_any_other_origin_is_not_same_origin(origin: str, host: str | None, scheme: str) -> None:
    assert same_origin(scope(origin, host, scheme)) is False


def test_a_second_origin_header_is_not_same_origin() -> None:
    twice = scope("http://127.0.0.1:8545")
    twice["headers"].append((b"origin", b"http://127.0.0.1:8545"))
    assert same_origin(twice) is False


def test_cors_never_lets_a_page_send_the_cookie() -> None:
    """A listed CORS origin may read answers to requests without credentials only: no answer
    says Access-Control-Allow-Credentials, so a browser withholds from that page whatever a
    request that carried the cookie was answered (and fails a credentialed preflight)."""
    from node.rpc.origin import OriginPolicy, decide, request_of

    policy = OriginPolicy.parse([], ["http://127.0.0.1:9000", "*"], ["http://127.0.0.1:9000"])
    for method, preflight in (("GET", None), ("POST", None), ("OPTIONS", "POST"), ("OPTIONS", "PUT")):
        http = scope("http://127.0.0.1:9000", scheme="http", kind="http")
        http["method"] = method
        if preflight is not None:
            http["headers"].append((b"access-control-request-method", preflight.encode()))
        decision = decide(policy, request_of(http))
        names = {name.lower() for name, _ in getattr(decision, "headers", ())}
        assert "access-control-allow-origin" in names and "access-control-allow-credentials" not in names
