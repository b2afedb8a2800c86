"""The HTTP surface: JSON-RPC (Ethereum methods and ledger_*), WebSocket subscriptions and
the REST API.

`app` builds the Starlette/FastAPI application and its worker pools; `jsonrpc` parses,
dispatches and encodes requests; `methods` is the JSON-RPC route table; `simulate` runs
eth_call and eth_estimateGas under gas budgets; `limits` names every cap; `origin` checks
Host and Origin; `rest/` serves /v1/ (the route table with each route's permission, queries and the feed from
the event indexes, the blob store's routes); `subscriptions`, `filters`,
`format`, `params` and `context` are the pieces the methods share.
"""
