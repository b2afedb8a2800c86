"""The console's routes on the node's app: `GET /` (and HEAD) the shell, /web/static/ its
assets, /web/genesis.json the chain's genesis the Verify page starts from, /docs the
OpenAPI page with Swagger UI's vendored assets and an Authorize field for a bearer token,
and /web/session, the browser's sign-in (docs/access.md, "Browsers: the console's session").

`POST /` stays JSON-RPC (node/rpc/app.py): a route matches by method, so a browser's GET
and a client's POST of `/` never meet. Everything but /web/session is public and
read-only; the Host/Origin checks (node/rpc/origin.py) run before these routes as before
any other.

/web/session: `POST` with `{"token": "..."}` verifies the role token with the app's own
`Authorizer` (node/access/http.py) and sets the `ledger_session` cookie
(node/access/session.py); `GET` answers who the session is, with the CSRF value the page
sends on its writes; `DELETE` signs out (it needs that CSRF value, as every write by
cookie does). Refusals are `{"error": ...}` with 400, 401, 403 or 413, never 500.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from copy import deepcopy
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.requests import ClientDisconnect

from node.access.http import Authorizer, Credential, Principal
from node.access.session import CsrfRefused, cookie_attributes
from node.errors import NodeError, Unauthenticated
from node.web.pages import GENESIS_PATH, STATIC_PREFIX, node_page

DOCS_PATH = "/docs"
BEARER_SCHEME = "bearerAuth"
SESSION_PATH = "/web/session"
# A sign-in body is {"token": "..."}: a token is at most 4096 characters
# (node/access/http.py MAX_TOKEN_CHARS), JSON adds a few dozen. A larger body is refused
# before it is read further, so a sign-in costs the node at most this much memory.
MAX_SIGN_IN_BODY_BYTES = 8192
# Sent with every console page: the page cannot be framed, sniffed or leak its URL.
_PAGE_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
# The session's answers carry its CSRF value: no cache (the browser's or a proxy's) keeps them.
_SESSION_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def add_web_routes(app: FastAPI, genesis_document: Mapping[str, Any]) -> None:
    """Wire the console, its assets, the genesis and /docs into `app` (created with
    docs_url=None and redoc_url=None: /docs is served from here, with local assets)."""
    page = node_page()
    genesis_body = json.dumps(genesis_document, indent=1).encode("utf-8")
    static_dir = resources.files("node.web").joinpath("static")

    async def console() -> HTMLResponse:
        return HTMLResponse(page.html, headers={**_PAGE_HEADERS, "Content-Security-Policy": page.csp})

    async def genesis() -> Response:
        return Response(genesis_body, media_type="application/json", headers=_PAGE_HEADERS)

    async def docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - API",
            swagger_js_url=f"{STATIC_PREFIX}/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC_PREFIX}/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{STATIC_PREFIX}/vendor/swagger-ui/favicon-32x32.png",
            swagger_ui_parameters={"persistAuthorization": False},
        )
        # Same origin as the console: never framed or sniffed either (its inline script
        # rules out the console's CSP).
        page.headers.update(_PAGE_HEADERS)
        return page

    app.add_api_route(SESSION_PATH, sign_in, methods=["POST"], include_in_schema=False)
    app.add_api_route(SESSION_PATH, current_session, methods=["GET"], include_in_schema=False)
    app.add_api_route(SESSION_PATH, sign_out, methods=["DELETE"], include_in_schema=False)
    app.add_api_route("/", console, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_api_route(GENESIS_PATH, genesis, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_api_route(DOCS_PATH, docs, methods=["GET"], include_in_schema=False)
    app.mount(STATIC_PREFIX, StaticFiles(directory=str(static_dir)), name="web-static")


# -- the browser's session ------------------------------------------------------------------


def _refused(status: int, message: str, *, clear: bool = False, secure: bool = False) -> JSONResponse:
    answer = JSONResponse({"error": message}, status_code=status, headers=_SESSION_HEADERS)
    if clear:
        answer.set_cookie(**cookie_attributes(0, secure=secure), value="")
    return answer


def _authorizer(request: Request) -> Authorizer:
    authorizer = getattr(request.app.state, "authorizer", None)
    if not isinstance(authorizer, Authorizer) or authorizer.session_key is None:
        raise Unauthenticated("this server keeps no browser sessions")  # fail closed
    return authorizer


def session_document(principal: Principal, csrf: str) -> dict[str, Any]:
    """GET /web/session's answer (the page's `session()`): who, what they may do (the role
    table's permissions, for the nav; the API decides), the CSRF value and when it ends."""
    return {
        "role": principal.role,
        "subject": principal.subject,
        "address": "0x" + principal.address.hex() if principal.address is not None else None,
        "permissions": sorted(principal.permissions),
        "csrf": csrf,
        "anonymous": principal.anonymous,
        "expires": principal.expires,
    }


class SignInRefused(NodeError):
    """A sign-in body the route cannot use; `status` is its HTTP answer (400 or 413)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _sign_in_body(request: Request) -> str:
    """The token of a sign-in body; SignInRefused (400 or 413) naming what is wrong."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        # Also keeps HTML forms of other sites out: they cannot send application/json.
        raise SignInRefused(400, 'expected Content-Type: application/json and a body {"token": "..."}')
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_SIGN_IN_BODY_BYTES:
        raise SignInRefused(413, f"request body too large (limit {MAX_SIGN_IN_BODY_BYTES} bytes)")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_SIGN_IN_BODY_BYTES:
            raise SignInRefused(413, f"request body too large (limit {MAX_SIGN_IN_BODY_BYTES} bytes)")
    try:
        document = json.loads(bytes(body))
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested past the parser's depth
        raise SignInRefused(400, 'the body is not JSON: expected {"token": "..."}') from None
    token = document.get("token") if isinstance(document, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise SignInRefused(400, 'expected {"token": "..."} with a role token (ledger token issue)')
    return token.strip()


async def sign_in(request: Request) -> Response:
    """POST /web/session: verify the token, set the session cookie, answer the session."""
    secure = request.url.scheme == "https"
    try:
        authorizer = _authorizer(request)
        token = await _sign_in_body(request)
        credential = authorizer.sign_in(token)
        principal = authorizer.principal_of(credential)
    except SignInRefused as exc:
        return _refused(exc.status, str(exc))
    except ClientDisconnect:
        return Response(status_code=400)
    except Unauthenticated as exc:
        return _refused(401, f"Unauthorized: {exc.reason}")
    except ValueError as exc:  # verified, but too long to keep in a cookie
        return _refused(400, str(exc))
    assert credential.session is not None
    answer = JSONResponse(session_document(principal, authorizer.csrf_of(credential)), headers=_SESSION_HEADERS)
    max_age = credential.session.expires - int(authorizer.clock())
    answer.set_cookie(**cookie_attributes(max_age, secure=secure), value=credential.session.cookie)
    return answer


async def current_session(request: Request) -> Response:
    """GET /web/session: the session of what the request presents; 401 without one where
    the node requires tokens (a session of ours that has ended or whose token no longer
    verifies is cleared); the anonymous ADMIN on a node with authentication off."""
    secure = request.url.scheme == "https"
    credential: Credential | None = None
    try:
        authorizer = _authorizer(request)
        credential = authorizer.credential(request)
        if credential is None and authorizer.mode != "off":
            return _refused(401, "Unauthorized: no session: sign in with a role token (POST /web/session)")
        principal = (authorizer.principal_of(credential) if credential is not None
                     else authorizer.authenticate(None, None))
    except Unauthenticated as exc:
        ended = credential is not None and credential.session is not None
        return _refused(401, f"Unauthorized: {exc.reason}", clear=ended, secure=secure)
    return JSONResponse(session_document(principal, authorizer.csrf_of(credential)), headers=_SESSION_HEADERS)


async def sign_out(request: Request) -> Response:
    """DELETE /web/session: clear the cookie. With the cookie it needs the session's
    X-CSRF-Token like any other write (another site cannot sign the user out either)."""
    secure = request.url.scheme == "https"
    try:
        _authorizer(request).credential(request)
    except CsrfRefused as exc:
        return _refused(403, str(exc))
    except Unauthenticated:
        pass  # a malformed Authorization header: nothing to sign out of, the cookie goes anyway
    answer = JSONResponse({"signedOut": True}, headers=_SESSION_HEADERS)
    answer.set_cookie(**cookie_attributes(0, secure=secure), value="")
    return answer


def with_bearer_scheme(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with an HTTP bearer security scheme that every operation
    accepts, so Swagger UI's Authorize button takes a role token (docs/access.md)."""
    out = deepcopy(document)
    out.setdefault("components", {}).setdefault("securitySchemes", {})[BEARER_SCHEME] = {
        "type": "http", "scheme": "bearer", "description": "A role token: `ledger token issue` (docs/access.md)."}
    # [{}, bearer]: a token is accepted everywhere and required nowhere by the document;
    # which routes need one (and which role) each operation's x-permissions says.
    out.setdefault("security", [{}, {BEARER_SCHEME: []}])
    return out
