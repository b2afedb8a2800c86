"""Which browsers' requests the node serves: the Host allowlist (against DNS rebinding), the
Origin check (against cross-site requests and WebSocket hijacking) and CORS — geth's
`--http.vhosts`, `--http.corsdomain` and `--ws.origins`. `decide` is pure; the ASGI
`OriginMiddleware` applies it to every HTTP request and WebSocket handshake before any
route runs, so a refused request costs the node nothing and changes nothing.

The rules (docs/access.md, "Browsers: Host and Origin"):

1. Host. A request whose Host header names a host the node does not answer to is 403.
   Always answered: an IP address (a DNS-rebinding page must use a *name* it controls, and
   a browser sends the name from the URL) and the loopback names (no page can own
   `localhost`). Other names only if listed (`--http-vhosts`); `*` answers any. No Host
   header (HTTP/1.0 tools) passes: browsers always send one.
2. Origin. A request that carries an Origin header is refused with 403 unless that
   origin is allowed: listed (`--http-corsdomain` for HTTP, `--ws-origins` for the
   WebSocket; `*` allows any), or the node's own origin — scheme://Host of this very
   request, the Host having passed rule 1 (a page the node serves itself). A request
   without Origin (web3.py, ethers in Node.js, cast, curl, the SDK) passes: browsers
   always send Origin on cross-origin requests and on every POST, and checking what
   non-browser software sends proves nothing. This is what stops a `text/plain` "simple"
   POST, which a browser sends without a preflight: CORS alone only hides the answer.
3. CORS. A listed origin gets `Access-Control-Allow-Origin` on its answers, and its
   preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered 204 with the
   methods and headers the routes use; an origin not allowed gets 403 and no CORS header.
   No answer says `Access-Control-Allow-Credentials`: a listed page reads what it asks
   with a token of its own, never what a request carrying the console's session cookie
   was answered (the browser withholds that, and fails a credentialed preflight).

Allowed is not same-origin: a page of a listed origin (`--ws-origins`, often the same host
name on another port, so the same *site* and SameSite=Strict still sends the cookie) may
open the WebSocket, but `same_origin` says the console's cookie counts there only for
the node's own pages (node/rpc/app.py; a WebSocket has no CSRF header to check).
"""
from __future__ import annotations

import ipaddress
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from node.access.roles import LOOPBACK_NAMES
from node.errors import ConfigError

log = logging.getLogger("ledger.rpc.origin")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ANY = "*"  # in any list: allow everything (geth's spelling)
# A consortium node answers to a handful of names and serves a handful of web apps; a list
# longer than this is a pasted mistake, and every entry is compared on every request.
MAX_ALLOWLIST_ENTRIES = 64
# An origin is scheme://host:port: a host name is at most 253 characters (RFC 1035), a
# scheme and port a few dozen more. A longer Origin header is refused unread.
MAX_ORIGIN_LENGTH = 512
# How long a browser may cache a preflight answer (geth's value): edits to the lists reach
# browsers within ten minutes.
CORS_MAX_AGE_SECONDS = 600
# What the routes use: JSON-RPC POST, REST GET, blob GET/HEAD/PUT.
CORS_ALLOW_METHODS = "GET, HEAD, POST, PUT, OPTIONS"
# Content-Type for JSON-RPC and blob uploads, Authorization for role tokens.
CORS_ALLOW_HEADERS = "Authorization, Content-Type"
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
FORBIDDEN = 403

_ORIGIN = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<host>\[[0-9a-f:.]+\]|[a-z0-9._~-]+)(?::(?P<port>[0-9]{1,5}))?")
_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")


# -- parsing (config and headers) -------------------------------------------------------------


def normalize_origin(text: str) -> str | None:
    """`scheme://host[:port]` in canonical form (lower case, the scheme's default port
    left out), or None for anything else — `null`, a path, user info, a bad port."""
    if len(text) > MAX_ORIGIN_LENGTH:
        return None
    match = _ORIGIN.fullmatch(text.strip().lower())
    if match is None:
        return None
    scheme, host, port_text = match.group("scheme", "host", "port")
    if host.startswith("["):
        if _ip_address(host[1:-1]) is None:
            return None
    elif _HOST_NAME.fullmatch(host.rstrip(".")) is None and _ip_address(host) is None:
        return None
    if port_text is None:
        return f"{scheme}://{host}"
    port = int(port_text)
    if not 0 < port <= 65535:
        return None
    return f"{scheme}://{host}" if DEFAULT_PORTS.get(scheme) == port else f"{scheme}://{host}:{port}"


def host_of(authority: str) -> str | None:
    """The host of a Host header (`name`, `name:port`, `1.2.3.4:port`, `[::1]:port`), lower
    case, without brackets, port or a final dot; None if it is not of that form."""
    text = authority.strip().lower()
    if len(text) > MAX_ORIGIN_LENGTH:
        return None
    if text.startswith("["):
        end = text.find("]")
        rest = text[end + 1:]
        if end < 0 or (rest and not re.fullmatch(r":[0-9]{1,5}", rest)):
            return None
        host = text[1:end]
        return host if _ip_address(host) is not None and ":" in host else None
    host, colon, port = text.partition(":")
    if colon and not re.fullmatch(r"[0-9]{1,5}", port):
        return None
    host = host.removesuffix(".")
    if _ip_address(host) is not None or (len(host) <= 253 and _HOST_NAME.fullmatch(host)):
        return host
    return None


def parse_vhosts(values: Iterable[str], field: str) -> tuple[str, ...]:
    """`--http-vhosts` / `rpc.http_vhosts`: host names (or `*`), normalized; ConfigError
    naming `field` (and the entry's index) for anything else."""
    hosts: list[str] = []
    for index, value in enumerate(values):
        where = f"{field}[{index}]"
        if not isinstance(value, str):
            raise ConfigError(where, "must be a host name or *")
        text = value.strip().lower()
        if text == ANY:
            hosts.append(ANY)
            continue
        host = host_of(text)
        bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
        if host is None or host != bare.rstrip("."):  # a port, a scheme or a path
            raise ConfigError(where, f"{value[:80]!r} is not a host name or IP address (no scheme, no port), or *")
        hosts.append(host)
    return _bounded(hosts, field)


def parse_origins(values: Iterable[str], field: str) -> tuple[str, ...]:
    """`--http-corsdomain`, `--ws-origins` and their node.json keys: origins
    `scheme://host[:port]` (or `*`), normalized; ConfigError naming `field` otherwise."""
    origins: list[str] = []
    for index, value in enumerate(values):
        where = f"{field}[{index}]"
        if not isinstance(value, str):
            raise ConfigError(where, "must be an origin scheme://host[:port] or *")
        if value.strip() == ANY:
            origins.append(ANY)
            continue
        origin = normalize_origin(value)
        if origin is None:
            raise ConfigError(where, f"{value[:80]!r} is not an origin: expected scheme://host[:port] "
                                     "like http://localhost:3000 (no path), or *")
        origins.append(origin)
    return _bounded(origins, field)


def split_list(text: str) -> list[str]:
    """A comma-separated command-line value as its entries (empty entries dropped)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _bounded(entries: list[str], field: str) -> tuple[str, ...]:
    unique = tuple(dict.fromkeys(entries))
    if len(unique) > MAX_ALLOWLIST_ENTRIES:
        raise ConfigError(field, f"more than {MAX_ALLOWLIST_ENTRIES} entries")
    return unique


def _ip_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


# -- the decision -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OriginPolicy:
    """The three lists, parsed (see `parse_vhosts`, `parse_origins`)."""

    vhosts: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    ws_origins: tuple[str, ...] = ()

    @classmethod
    def parse(cls, vhosts: Iterable[str], cors_origins: Iterable[str], ws_origins: Iterable[str]) -> OriginPolicy:
        return cls(parse_vhosts(vhosts, "http_vhosts"), parse_origins(cors_origins, "http_corsdomain"),
                   parse_origins(ws_origins, "ws_origins"))


@dataclass(frozen=True)
class Request:
    """What the decision looks at: header values as sent (None when absent)."""

    websocket: bool
    scheme: str           # the ASGI scope's: http, https, ws or wss
    method: str           # the HTTP method ("GET" for a WebSocket handshake)
    host: str | None      # the Host header
    origin: str | None    # the Origin header
    preflight_method: str | None = None  # Access-Control-Request-Method


@dataclass(frozen=True)
class Allow:
    """Serve the request; add `headers` to its answer. `preflight`: answer 204 here."""

    headers: tuple[tuple[str, str], ...] = ()
    preflight: bool = False


@dataclass(frozen=True)
class Refusal:
    """403, before any route runs. `field` is "host" or "origin", `value` what was refused."""

    field: str
    value: str
    detail: str
    status: int = FORBIDDEN

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, self.field: self.value}


def decide(policy: OriginPolicy, request: Request) -> Allow | Refusal:
    """Whether `request` is served, and with which CORS headers (rules 1-3 of the module
    docstring, in that order)."""
    # 1. Host: against DNS rebinding.
    own_origin = None
    if request.host is not None:
        host = host_of(request.host)
        if host is None:
            return Refusal("host", request.host[:MAX_ORIGIN_LENGTH], "Forbidden: the Host header is not a host name")
        if not host_allowed(policy, host):
            return Refusal("host", host, f"Forbidden: this node does not answer to the host name {host} "
                                         "(DNS rebinding?); allow it with --http-vhosts or rpc.http_vhosts")
        own_origin = own_origin_of(request)
    # 2. Origin: only browsers send one, and they always do cross-origin.
    if request.origin is None:
        return Allow()
    origin = normalize_origin(request.origin)
    listed = policy.ws_origins if request.websocket else policy.cors_origins
    option = "--ws-origins or rpc.ws_origins" if request.websocket else "--http-corsdomain or rpc.http_corsdomain"
    is_own = origin is not None and origin == own_origin
    if not (ANY in listed or is_own or (origin is not None and origin in listed)):
        return Refusal("origin", request.origin[:MAX_ORIGIN_LENGTH],
                       f"Forbidden: requests from the web origin {request.origin[:MAX_ORIGIN_LENGTH]} "
                       f"are not allowed; allow it with {option}")
    if request.websocket:
        return Allow()
    # 3. CORS headers: a same-origin page needs none; a listed one is told it may read.
    preflight = request.method == "OPTIONS" and request.preflight_method is not None
    if is_own and not preflight:
        return Allow()
    headers: tuple[tuple[str, str], ...] = (("Access-Control-Allow-Origin", request.origin), ("Vary", "Origin"))
    if preflight:
        headers += (("Access-Control-Allow-Methods", CORS_ALLOW_METHODS),
                    ("Access-Control-Allow-Headers", CORS_ALLOW_HEADERS),
                    ("Access-Control-Max-Age", str(CORS_MAX_AGE_SECONDS)))
    return Allow(headers, preflight)


def own_origin_of(request: Request) -> str | None:
    """The node's own origin as `request` reached it: scheme://Host, the scheme the page's
    (http for ws, https for wss); None without a usable Host header."""
    if request.host is None or host_of(request.host) is None:
        return None
    page_scheme = "https" if request.scheme in ("https", "wss") else "http"
    return normalize_origin(f"{page_scheme}://{request.host.strip()}")


def same_origin(scope: Scope) -> bool:
    """Whether an HTTP request or WebSocket handshake (its ASGI scope) came from no browser
    page (no Origin header: web3.py, the SDK, curl) or from a page of the node itself
    (Origin = scheme://Host of this request). False for any other origin, listed or not,
    for `null`, for an Origin without a Host to compare it with, and for two Origins."""
    request = request_of(scope)
    if request.origin is None:
        return True
    origin = normalize_origin(request.origin)
    return origin is not None and origin == own_origin_of(request)


def host_allowed(policy: OriginPolicy, host: str) -> bool:
    """Rule 1 for a host already parsed by `host_of`."""
    return (ANY in policy.vhosts or host in policy.vhosts or host in LOOPBACK_NAMES
            or _ip_address(host) is not None)


# -- the middleware ---------------------------------------------------------------------------


class OriginMiddleware:
    """Applies `decide` to every HTTP request and WebSocket handshake. A refused handshake
    is answered HTTP 403 before `accept`, so the socket never opens."""

    def __init__(self, app: ASGIApp, policy: OriginPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        decision = decide(self.policy, request_of(scope))
        if isinstance(decision, Refusal):
            log.info("refused %s from %s: %s", scope["type"], scope.get("client"), decision.detail)
            await _refuse(scope, receive, send, decision)
            return
        if decision.preflight:
            await send({"type": "http.response.start", "status": 204, "headers": _encode(decision.headers)})
            await send({"type": "http.response.body", "body": b""})
            return
        if not decision.headers:
            await self.app(scope, receive, send)
            return
        extra = _encode(decision.headers)

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_cors)


def request_of(scope: Scope) -> Request:
    """The header values `decide` needs, from an ASGI scope. A header sent twice is joined
    with ", " (so two Origins never match a list)."""
    wanted: dict[bytes, list[str]] = {b"host": [], b"origin": [], b"access-control-request-method": []}
    for name, value in scope.get("headers", ()):
        if name in wanted:
            wanted[name].append(value.decode("latin-1"))

    def one(name: bytes) -> str | None:
        return ", ".join(wanted[name]) if wanted[name] else None

    websocket = scope["type"] == "websocket"
    return Request(websocket=websocket, scheme=scope.get("scheme", "ws" if websocket else "http"),
                   method="GET" if websocket else scope.get("method", "GET"), host=one(b"host"),
                   origin=one(b"origin"), preflight_method=one(b"access-control-request-method"))


async def _refuse(scope: Scope, receive: Receive, send: Send, refusal: Refusal) -> None:
    body = json.dumps(refusal.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    await receive()  # websocket.connect: the handshake request, not yet answered
    if "websocket.http.response" in scope.get("extensions", {}):  # ASGI denial response: a body too
        await send({"type": "websocket.http.response.start", "status": refusal.status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:  # a close before accept is a 403 without a body
        await send({"type": "websocket.close", "code": 1008})


def _encode(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
