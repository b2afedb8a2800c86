"""The /v1/ route table (node/rpc/rest/routes.py) and the OpenAPI document built from it:
every route checks the permission its row names before its handler runs, and the document
says what the app does — 400 where it refuses a parameter (never 422), the hex patterns the
handlers check, blob reads as octet streams and uploads as a raw body, each refusal's body.

Served in-process on an app with no node behind it: a handler that ran would fail for want
of one, so a refusal here was made before any handler. (tests/integration/test_rest.py and
test_fuzz.py drive the same routes on a real node.)"""
from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

with warnings.catch_warnings():  # starlette 1.x nudges towards httpx2; httpx works fine here
    warnings.filterwarnings("ignore", message=".*httpx")
    from fastapi.testclient import TestClient

from chaincode import ROLES
from node.access.http import Authorizer
from node.access.roles import ROLE_PERMISSIONS
from node.access.tokens import issue_token, key_id
from node.errors import InvalidParams
from node.rpc.rest.params import HEX20, HEX32, hex_bytes
from node.rpc.rest.routes import ROUTES, Route, mount_routes
from node.storage.blobs import SHA256_HEX, BadBlobHash, check_hash

NOW = 1_800_000_000
ISSUER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PARTY_ADDRESS = b"\x0a" * 20
# A value of each path parameter that the handler would take.
PATH_VALUES = {"contract_id": "0x" + "ab" * 32, "digest": "cd" * 32, "commitment_id": "7",
               "address": "0x" + "0a" * 20, "sha256": "ef" * 32,
               "number": "7", "tx_hash": "0x" + "ab" * 32, "seal": "0x" + "ef" * 32}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    app = FastAPI()
    mount_routes(app, ROUTES)
    return app.openapi()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, by_method in document["paths"].items():
        for method, operation in by_method.items():
            yield method.upper(), path, operation


def parameter(document: dict[str, Any], method: str, path: str, name: str) -> dict[str, Any]:
    (found,) = [p for p in document["paths"][path][method.lower()].get("parameters", []) if p["name"] == name]
    return found


# -- the document ---------------------------------------------------------------------------------


def test_the_document_has_one_operation_per_row_of_the_table(document: dict[str, Any]) -> None:
    assert sorted((m, p) for m, p, _ in operations(document)) == sorted((r.method, r.path) for r in ROUTES)
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids)), "GET and HEAD of a blob must not share an operationId"


def test_refusals_are_declared_400_never_422(document: dict[str, Any]) -> None:
    """The app answers a parameter it cannot use with 400 {"error": ...}; FastAPI's
    document said 422 (HTTPValidationError) for every route with parameters."""
    for method, path, operation in operations(document):
        responses = operation["responses"]
        assert "422" not in responses, (method, path)
        assert {"401", "403"} <= set(responses), (method, path)
        if operation.get("parameters"):
            assert "400" in responses, (method, path)
    assert not {"HTTPValidationError", "ValidationError"} & set(document["components"]["schemas"])


def test_each_refusal_declares_the_body_its_family_sends(document: dict[str, Any]) -> None:
    for route in ROUTES:
        responses = document["paths"][route.path][route.method.lower()]["responses"]
        for status in (401, 403, *route.refusals):
            schema = responses[str(status)]["content"]["application/json"]["schema"]
            assert schema == {"$ref": f"#/components/schemas/{route.errors.__name__}"}, (route.path, status)
    assert document["components"]["schemas"]["Error"]["required"] == ["error"]
    assert document["components"]["schemas"]["BlobError"]["required"] == ["detail"]


# (method, path, parameter) -> the pattern its handler checks
HEX_PARAMETERS = {
    ("GET", "/v1/contracts", "party"): HEX20,
    ("GET", "/v1/contracts/{contract_id}", "contract_id"): HEX32,
    ("GET", "/v1/contracts/{contract_id}/events", "contract_id"): HEX32,
    ("GET", "/v1/evidence", "digest"): HEX32,
    ("GET", "/v1/evidence/{digest}", "digest"): HEX32,
    ("GET", "/v1/members/{address}", "address"): HEX20,
    ("GET", "/v1/blobs/{sha256}", "sha256"): SHA256_HEX,
    ("HEAD", "/v1/blobs/{sha256}", "sha256"): SHA256_HEX,
}


def test_hex_parameters_declare_their_pattern(document: dict[str, Any]) -> None:
    for (method, path, name), regex in HEX_PARAMETERS.items():
        assert parameter(document, method, path, name)["schema"]["pattern"] == f"^{regex}$", (method, path, name)


PROBES = [
    "ab" * 32, "0x" + "ab" * 32, "0X" + "AB" * 32, "0x" + "aB" * 32, "ab" * 20, "0x" + "ab" * 20, "AB" * 20,
    "ab" * 31, "ab" * 33, "0x" + "ab" * 31 + "a", "0x", "", "0xx" + "ab" * 32, "x" * 64, "g" * 64,
    "ab" * 16 + " " + "ab" * 16,  # bytes.fromhex takes whitespace between digits; the pattern does not
    " " + "ab" * 32, "ab" * 32 + "\n", "ab" * 10 + " " + "ab" * 10, "\u0661" * 64,  # Arabic-Indic digits
]


@pytest.mark.parametrize("regex, length", [(HEX32, 32), (HEX20, 20)])
def test_the_handlers_take_exactly_what_the_hex_pattern_matches(regex: str, length: int) -> None:
    for probe in PROBES:
        declared = re.fullmatch(regex, probe) is not None  # as `^regex$` matches in the document (ECMA)
        try:
            hex_bytes(probe, length, "value")
            taken = True
        except InvalidParams:
            taken = False
        assert taken == declared, repr(probe)


def test_the_blob_store_takes_exactly_what_the_name_pattern_matches() -> None:
    for probe in [*PROBES, "ef" * 32, "EF" * 32]:
        declared = re.fullmatch(SHA256_HEX, probe) is not None
        try:
            check_hash(probe)
            taken = True
        except BadBlobHash:
            taken = False
        assert taken == declared, repr(probe)


def test_blob_reads_are_octet_streams_and_uploads_a_raw_body(document: dict[str, Any]) -> None:
    for method in ("get", "head"):
        success = document["paths"]["/v1/blobs/{sha256}"][method]["responses"]["200"]
        assert list(success["content"]) == ["application/octet-stream"], method
    upload = document["paths"]["/v1/blobs"]["put"]
    assert list(upload["requestBody"]["content"]) == ["application/octet-stream"]
    assert {"200", "201", "413", "507"} <= set(upload["responses"])
    assert list(document["paths"]["/v1/feed"]["get"]["responses"]["200"]["content"]) == ["text/event-stream"]


def test_each_operation_names_the_permissions_of_its_row(document: dict[str, Any]) -> None:
    for route in ROUTES:
        assert document["paths"][route.path][route.method.lower()]["x-permissions"] == list(route.permissions)


# -- the permission check, before the handler ------------------------------------------------------


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = FastAPI()  # no node, no blob store: only the routes and the authorizer
    app.state.authorizer = Authorizer("required", {key_id(ISSUER.public_key()): ISSUER.public_key()},
                                      clock=lambda: NOW)
    mount_routes(app, ROUTES)
    with TestClient(app) as test_client:
        yield test_client


def bearer(role: str) -> dict[str, str]:
    address = PARTY_ADDRESS if role == "PARTY" else None
    text, _ = issue_token(ISSUER, role=role, subject=role.lower(), address=address, now=NOW, ttl=3600,
                          token_id="0123456789abcdef0123456789abcdef")
    return {"Authorization": f"Bearer {text}"}


def url(route: Route) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], route.path)


def body_message(route: Route, reply: Any) -> str:
    body = reply.json()
    route.errors.model_validate(body)  # the body the document declares
    message: str = body[route.error_key]
    return message


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_no_token_is_401_before_the_handler_and_its_parameters(client: TestClient, route: Route) -> None:
    # limit=0 is out of range: the token is checked first, so it is a 401, not a 400
    reply = client.request(route.method, url(route) + "?limit=0", content=b"x" if route.method == "PUT" else None)
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"].startswith("Bearer")
    if route.method != "HEAD":
        assert "Unauthorized: this node requires a bearer token" in body_message(route, reply)


DENIED = [(route, role) for route in ROUTES for role in sorted(ROLES)
          if not ROLE_PERMISSIONS[role] & set(route.permissions)]


@pytest.mark.parametrize("route, role", DENIED, ids=lambda v: v if isinstance(v, str) else f"{v.method} {v.path}")
def test_a_role_without_the_rows_permission_is_403_before_the_handler(client: TestClient, route: Route,
                                                                    role: str) -> None:
    reply = client.request(route.method, url(route), headers=bearer(role),
                           content=b"x" if route.method == "PUT" else None)
    assert reply.status_code == 403
    if route.method != "HEAD":
        assert f"role {role} may not use {route.permissions[0]}" in body_message(route, reply)

