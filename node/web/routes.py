"""The console's routes on the node's app: `GET /` (and HEAD) the shell, /web/static/ its
assets, /web/genesis.json the chain's genesis the Verify page starts from, and /docs the
OpenAPI page with Swagger UI's vendored assets and an Authorize field for a bearer token.

`POST /` stays JSON-RPC (node/rpc/app.py): a route matches by method, so a browser's GET
and a client's POST of `/` never meet. Everything here is public and read-only; the
Host/Origin checks (node/rpc/origin.py) run before these routes as before any other.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from copy import deepcopy
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from node.web.pages import GENESIS_PATH, STATIC_PREFIX, node_page

DOCS_PATH = "/docs"
BEARER_SCHEME = "bearerAuth"
# Sent with every console page: the page cannot be framed, sniffed or leak its URL.
_PAGE_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


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
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - API",
            swagger_js_url=f"{STATIC_PREFIX}/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC_PREFIX}/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{STATIC_PREFIX}/vendor/swagger-ui/favicon-32x32.png",
            swagger_ui_parameters={"persistAuthorization": False},
        )

    app.add_api_route("/", console, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_api_route(GENESIS_PATH, genesis, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_api_route(DOCS_PATH, docs, methods=["GET"], include_in_schema=False)
    app.mount(STATIC_PREFIX, StaticFiles(directory=str(static_dir)), name="web-static")


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
