"""How `ledger audit` asks the node: `NodeApi` (its REST indexes under /v1/ and JSON-RPC,
over client/http.py, with the access token of client/auth.py), paging through lists, the
exit a refusal makes, and the filter options the list and export commands share.
"""
from __future__ import annotations

from collections.abc import Iterator
from enum import Enum
from typing import Annotated, Any, NoReturn

import typer

from client.auth import NEEDS_TOKEN, TokenError, current_token, is_unauthorized, refusal_message
from client.http import HttpClient, HttpError
from client.render import fail
from node.api import MAX_PAGE

DEFAULT_LIST_LIMIT = 50    # rows a list command shows unless --limit or --all


class Order(str, Enum):
    asc = "asc"
    desc = "desc"


LimitOption = Annotated[int | None, typer.Option(
    "--limit", min=1, help=f"at most this many rows (default {DEFAULT_LIST_LIMIT})")]
AllOption = Annotated[bool, typer.Option("--all", help="every row, page after page")]
OrderOption = Annotated[Order, typer.Option("--order", help="asc: oldest first; desc: newest first")]
ProjectFilter = Annotated[str | None, typer.Option("--project", help="project code")]
PartyFilter = Annotated[str | None, typer.Option("--party", help="a party's address")]
ContractStatusFilter = Annotated[str | None, typer.Option(
    "--status", help="contracts: Pending, Effective, Superseded, Voided; commitments: on-track, reminder, warning, "
    "demand, fulfilled (now)")]
SinceFilter = Annotated[str | None, typer.Option(
    "--since", help="contracts registered at or after (seconds or ISO 8601 date/time); events: after this cursor")]
UntilFilter = Annotated[str | None, typer.Option("--until", help="registered at or before (seconds or ISO 8601)")]
CaseFilter = Annotated[str | None, typer.Option("--case", help="case reference")]
KindFilter = Annotated[str | None, typer.Option("--kind", help="evidence kind (webpage, contract-pdf, ...)")]
RaisedFilter = Annotated[str | None, typer.Option("--raised", help="the level the chain last raised")]
UnitFilter = Annotated[str | None, typer.Option("--unit", help="responsible unit")]
DueAfterFilter = Annotated[str | None, typer.Option("--due-after", help="deadline at or after (seconds or ISO 8601)")]
DueBeforeFilter = Annotated[str | None, typer.Option("--due-before", help="deadline at or before (seconds or ISO 8601)")]


class NodeApi:
    """The node's REST (/v1/) and JSON-RPC for the audit commands. A refusal exits 2 with
    its one-line reason (`get`, `call`), or raises HttpError (`fetch`)."""

    def __init__(self, rpc: str) -> None:
        try:
            self.http = HttpClient(rpc, token=current_token())
        except ValueError:
            fail(f"--rpc {rpc!r}: expected an http:// or https:// URL")
        except TokenError as exc:
            fail(str(exc))
        self.rpc = rpc

    def fetch(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET /v1/`path`; HttpError if refused. No node at --rpc, or an answer that is
        too large or not JSON, exits 2."""
        try:
            return self.http.get_json(f"v1/{path}", params)
        except HttpError as exc:
            if exc.status is None or 200 <= exc.status < 300:
                unreachable(exc, self.rpc)
            raise

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        try:
            return self.fetch(path, params)
        except HttpError as exc:
            refused(exc, self.rpc)

    def call(self, method: str, *params: Any) -> Any:
        """One JSON-RPC call; a refusal (HTTP or the -40100 of a role) exits 2."""
        try:
            reply = self.http.post_json("", {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        except HttpError as exc:
            if exc.status is None or 200 <= exc.status < 300:
                unreachable(exc, self.rpc)
            refused(exc, self.rpc)
        error = reply.get("error") if isinstance(reply, dict) else None
        if isinstance(error, dict) and is_unauthorized(error):
            fail(refusal_message(f"{method}: {error.get('message')}"))
        if error is not None:
            fail(f"{method}: {error.get('message') if isinstance(error, dict) else error}")
        return reply.get("result")

    def pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of a paged list, page after page."""
        after: str | None = None
        while True:
            page = self.get(path, {**params, "limit": MAX_PAGE, "after": after})
            yield from page["items"]
            after = page["next"]
            if after is None:
                return

    def first(self, path: str, params: dict[str, Any], limit: int) -> tuple[list[dict[str, Any]], bool]:
        """The first `limit` items of a paged list, and whether the node has more."""
        items: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            page = self.get(path, {**params, "limit": min(MAX_PAGE, limit - len(items)), "after": after})
            items.extend(page["items"])
            after = page["next"]
            if after is None or len(items) >= limit:
                return items, after is not None

    def events(self, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every feed event after `since` (GET /v1/events), until caught up with the head."""
        since = params.get("since")
        while True:
            page = self.get("events", {**params, "since": since, "limit": MAX_PAGE})
            yield from page["items"]
            if page["next"] is None or page["next"] == since:
                return
            since = page["next"]


def unreachable(exc: HttpError, rpc: str) -> NoReturn:
    """Exit 2: no node at `rpc`, or an answer that is not one of its own."""
    if exc.status is None:
        fail(f"cannot reach the node at {rpc}: {exc.message}")
    fail(f"{rpc}: {exc.message}")


def refused(exc: HttpError, rpc: str) -> NoReturn:
    """Exit 2 with the one-line reason of a refusal."""
    if exc.status == 401:
        fail(f"{NEEDS_TOKEN} ({rpc} answered 401: {exc.message})")
    if exc.status == 403:
        fail(refusal_message(exc.message))
    if exc.status in (400, 404):
        fail(exc.message)
    fail(f"{rpc} answered HTTP {exc.status}: {exc.message}")


def take(api: NodeApi, path: str, params: dict[str, Any], limit: int | None, every: bool) -> tuple[list[dict[str, Any]], bool]:
    """A list command's rows: `limit` (default DEFAULT_LIST_LIMIT) or all; and whether
    the node has more."""
    if every and limit is not None:
        fail("give --limit N or --all, not both")
    if every:
        return list(api.pages(path, params)), False
    return api.first(path, params, limit or DEFAULT_LIST_LIMIT)
