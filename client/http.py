"""The one HTTP client of the SDK and the CLI: every request to a node (JSON-RPC, /v1/,
blobs, the feed's stream) and to the hosted signing service goes through `HttpClient`.

One place for what every caller needs: the base URL (http or https, its path kept), the
bearer token header (client/auth.py), timeouts, a cap on what a response may make us
read, JSON decoding, one error type — `HttpError`, carrying the status (None when no
answer came), the URL and the server's own error message — and a streaming GET for the
feed. Redirects are never followed: one would carry the bearer token wherever it points,
and neither the node nor the signing service redirects.

Built on the standard library's http.client, not on requests or httpx: it adds no
dependency and ~20 ms of import (httpx: ~125 ms, on every `ledger` command), and the
feed needs what it gives directly — a read timeout set per read, on the socket. Proxies
come from the environment (http_proxy, https_proxy, no_proxy) as urllib reads them.
Connections are kept alive and reused (a few idle ones per client), so the SDK's many
small JSON-RPC calls do not each pay a TCP (and TLS) handshake.
"""
from __future__ import annotations

import base64
import contextlib
import http.client
import ipaddress
import json
import select
import socket
import ssl
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any

from client.auth import auth_headers
from client.errors import ClientError

DEFAULT_TIMEOUT_SECONDS = 60.0
# What a response may make us read unless the caller says less. The node's largest
# answers (a page of 1,000 records, a batch of raw blocks, eth_getLogs at its 10,000-log
# cap, a 64 MiB blob) fit; a body beyond it is not one of its answers, and reading it
# whole could exhaust the client's memory.
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
# Of a refusal (4xx, 5xx), only this much is read, for its one-line message.
MAX_ERROR_BODY_BYTES = 64 * 1024
# A server's error message is shown on one line, at most this long.
MAX_MESSAGE_CHARS = 300
# Idle connections kept per client for reuse: a CLI command or an SDK object makes its
# calls one after another, a threaded caller a few at once.
MAX_IDLE_CONNECTIONS = 4
_READ_CHUNK = 1024 * 1024
# Methods safe to send again when a kept-alive connection turns out to have been closed
# by the server before it answered (never POST: a transaction must not go twice).
_RETRY_ON_STALE = frozenset({"GET", "HEAD", "PUT"})  # and a POST its caller marks idempotent


class HttpError(ClientError):
    """A request that got no usable answer.

    `status` is the HTTP status, or None when no answer came (unreachable, timed out,
    connection broken); `url` what was asked; `message` the server's own error message
    ({"error": ...} or a JSON-RPC error's message), else the HTTP reason phrase, else
    what went wrong with the connection ("connection refused").
    """

    def __init__(self, url: str, message: str, status: int | None = None) -> None:
        self.url = url
        self.message = message
        self.status = status
        super().__init__(f"cannot reach {url}: {message}" if status is None else f"{url} answered HTTP {status}: {message}")


class ResponseTooLarge(HttpError):
    """The answer was larger than `limit` bytes; the rest was not read."""

    def __init__(self, url: str, limit: int, status: int | None) -> None:
        super().__init__(url, f"an answer larger than {limit} bytes", status)
        self.limit = limit


def check_url(url: str, what: str = "URL") -> urllib.parse.SplitResult:
    """An http:// or https:// URL with a host, split; ValueError otherwise."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} {url!r}: expected an http:// or https:// URL")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError(f"{what} {url!r}: the port is not a number") from None
    return parts


def is_loopback_host(host: str) -> bool:
    """`localhost` or a loopback IP address (a name that might resolve elsewhere is not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def describe(exc: BaseException) -> str:
    """A connection failure in a few words: "connection refused", "timed out"."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.errno is not None and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return str(exc) or type(exc).__name__


def server_message(body: bytes) -> str | None:
    """The error message of a refusal's body: {"error": "..."} (the node's REST and the
    signing service), {"error": {"message": ...}} (JSON-RPC) or {"detail": "..."}
    (FastAPI); its first line, shortened. None if the body carries none."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(document, dict):
        return None
    message = document.get("error", document.get("detail"))
    if isinstance(message, dict):
        message = message.get("message")
    if not isinstance(message, str) or not message.strip():
        return None
    return message.strip().splitlines()[0][:MAX_MESSAGE_CHARS]


@dataclass(frozen=True)
class Response:
    """A complete 2xx answer."""

    url: str
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise HttpError(self.url, "the answer is not JSON", self.status) from None


class Stream:
    """An open 2xx answer read as it arrives (the feed's Server-Sent Events)."""

    def __init__(self, url: str, response: http.client.HTTPResponse, sock: socket.socket | None) -> None:
        self.url = url
        self.status = response.status
        self.headers = response.headers
        self._response = response
        self._sock = sock

    def read(self, size: int, timeout: float) -> bytes:
        """Up to `size` bytes, waiting at most `timeout` seconds for the first; b"" at the
        end. Raises TimeoutError if nothing came in time (the stream is then over: a socket
        that timed out mid-read cannot be read again), HttpError if the connection broke."""
        if self._sock is not None:
            self._sock.settimeout(timeout)
        try:
            return self._response.read1(size)
        except TimeoutError:
            raise TimeoutError(f"no byte in {timeout:g} s") from None
        except (OSError, http.client.HTTPException) as exc:
            raise HttpError(self.url, describe(exc)) from exc


class HttpClient:
    """Requests to one base URL (a node's, or the signing service's), with `token` (if
    any) as the bearer token of each.

    Paths are relative to the base URL's own path; "" is the base URL itself (a node's
    JSON-RPC endpoint). Every method raises HttpError for anything but a complete 2xx
    answer within `max_response_bytes`. Usable from several threads; `close` (or a
    `with` block) closes the kept-alive connections.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        parts = check_url(base_url)
        self.base_url = base_url
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self._scheme = parts.scheme
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._netloc = parts.netloc.rpartition("@")[2]  # never user:password@ in a request line
        self._path = parts.path or "/"
        self._headers = {"Accept": "application/json", **(headers or {}), **auth_headers(token)}
        self._proxy = _proxy_for(parts.scheme, self._host)
        if self._proxy is not None and self._scheme == "http":
            self._headers.update(self._proxy.headers)  # an https proxy hears them in CONNECT
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    # -- what callers use ----------------------------------------------------------------

    def url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """The full URL of `path` with `params` (None values left out) as its query."""
        return f"{self._scheme}://{self._netloc}{self._target(path, params)}"

    def get_json(self, path: str, params: Mapping[str, Any] | None = None, *, limit: int | None = None) -> Any:
        return self.request("GET", path, params=params, limit=limit).json()

    def post_json(self, path: str, document: Any, *, limit: int | None = None) -> Any:
        body = json.dumps(document, separators=(",", ":")).encode()
        return self.request("POST", path, body=body, content_type="application/json", limit=limit).json()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        limit: int | None = None,
        idempotent: bool = False,
    ) -> Response:
        """One request and its whole 2xx answer (at most `limit` bytes, default the client's).

        `idempotent`: the caller knows this request may be sent twice (a JSON-RPC read
        over POST), so it is sent again, once, when a kept-alive connection the server has
        just closed swallows it — as GET, HEAD and PUT always are."""
        target = self._target(path, params)
        url = f"{self._scheme}://{self._netloc}{target}"
        all_headers = {**self._headers, **(headers or {})}
        if content_type is not None:
            all_headers["Content-Type"] = content_type
        if body is not None:
            all_headers["Content-Length"] = str(len(body))
        cap = self.max_response_bytes if limit is None else limit
        for attempt in (1, 2):
            connection, reused = self._take()
            try:
                try:
                    connection.request(method, self._request_target(target, url), body=body, headers=all_headers)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the server may have answered before taking the whole body (413, 507): read it
                response = connection.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                stale = isinstance(exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError))
                if reused and stale and attempt == 1 and (idempotent or method in _RETRY_ON_STALE):
                    continue  # the server closed a kept-alive connection meanwhile: once more, afresh
                raise HttpError(url, describe(exc)) from exc
            try:
                if not 200 <= response.status < 300:
                    raise _refusal(url, response)
                data = _read_capped(response, url, cap)
            except BaseException:
                connection.close()
                raise
            self._give(connection, response)
            return Response(url, response.status, response.headers, data)
        raise AssertionError("unreachable: the second attempt returns or raises")

    @contextlib.contextmanager
    def stream(self, path: str, *, params: Mapping[str, Any] | None = None,
               headers: Mapping[str, str] | None = None) -> Iterator[Stream]:
        """GET `path` on a connection of its own and yield its answer to read as it comes;
        the connection closes when the block ends. A non-2xx answer raises HttpError."""
        target = self._target(path, params)
        url = f"{self._scheme}://{self._netloc}{target}"
        connection = self._connect()
        try:
            try:
                connection.request("GET", self._request_target(target, url), headers={**self._headers, **(headers or {})})
                # Kept here: http.client hands the socket to a response that will close it
                # (HTTP/1.0, Connection: close) and forgets it, but its timeout is ours to set.
                sock = connection.sock
                response = connection.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                raise HttpError(url, describe(exc)) from exc
            if not 200 <= response.status < 300:
                raise _refusal(url, response)
            yield Stream(url, response, sock)
        finally:
            connection.close()

    # -- plumbing ------------------------------------------------------------------------

    def _target(self, path: str, params: Mapping[str, Any] | None) -> str:
        target = self._path if not path else self._path.rstrip("/") + "/" + path.lstrip("/")
        query = urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v is not None})
        return target + (f"?{query}" if query else "")

    def _request_target(self, target: str, url: str) -> str:
        # Through a plain-http proxy the request line carries the whole URL; through an
        # https one the CONNECT tunnel already names the host.
        return url if self._proxy is not None and self._scheme == "http" else target

    def _connect(self) -> http.client.HTTPConnection:
        proxy = self._proxy
        kind = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        if proxy is None:
            return kind(self._host, self._port, timeout=self.timeout)
        if self._scheme == "http":
            return http.client.HTTPConnection(proxy.host, proxy.port, timeout=self.timeout)
        connection = kind(proxy.host, proxy.port, timeout=self.timeout)
        connection.set_tunnel(self._host, self._port, headers=proxy.headers)
        return connection

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        """A kept-alive connection the server has not closed meanwhile, else a new one."""
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                return self._connect(), False
            if not _dropped(connection):
                return connection, True
            connection.close()

    def _give(self, connection: http.client.HTTPConnection, response: http.client.HTTPResponse) -> None:
        if response.will_close or connection.sock is None:
            connection.close()
            return
        with self._lock:
            if len(self._idle) < MAX_IDLE_CONNECTIONS:
                self._idle.append(connection)
                return
        connection.close()


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle connection is unusable: closed, or readable (the server closed its
    end, or sent something unasked) — urllib3's test before reusing a pooled connection."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _read_capped(response: http.client.HTTPResponse, url: str, limit: int) -> bytes:
    length = response.getheader("Content-Length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise ResponseTooLarge(url, limit, response.status)
    body = bytearray()
    try:
        while True:
            chunk = response.read(min(_READ_CHUNK, limit + 1 - len(body)))
            if not chunk:
                return bytes(body)
            body += chunk
            if len(body) > limit:
                raise ResponseTooLarge(url, limit, response.status)
    except (OSError, http.client.HTTPException) as exc:
        raise HttpError(url, describe(exc)) from exc


def _refusal(url: str, response: http.client.HTTPResponse) -> HttpError:
    """The HttpError of a non-2xx answer, with the server's message if it gave one."""
    if 300 <= response.status < 400:
        return HttpError(url, f"answered with a redirect to {response.getheader('Location')!r}; not followed",
                         response.status)
    try:
        body = response.read(MAX_ERROR_BODY_BYTES)
    except (OSError, http.client.HTTPException):
        body = b""
    return HttpError(url, server_message(body) or response.reason or "no reason given", response.status)


@dataclass(frozen=True)
class _Proxy:
    host: str
    port: int
    headers: dict[str, str]


def _proxy_for(scheme: str, host: str) -> _Proxy | None:
    """The proxy the environment names for `scheme` (http_proxy, https_proxy), unless
    no_proxy exempts `host` — as urllib.request decides it, and as urllib reached over
    plain TCP (an https:// request is tunnelled through it with CONNECT)."""
    proxy_url = urllib.request.getproxies().get(scheme)
    if not proxy_url or urllib.request.proxy_bypass(host):
        return None
    parts = urllib.parse.urlsplit(proxy_url if "://" in proxy_url else f"http://{proxy_url}")
    if not parts.hostname:
        return None
    headers = {}
    if parts.username is not None:
        credentials = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    return _Proxy(parts.hostname, parts.port or 80, headers)
