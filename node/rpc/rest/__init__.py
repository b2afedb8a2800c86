"""The REST API under /v1/: the queries regulators, courts and auditors ask, the event
feed, the batch members anchoring clients hand over, and the blob store's routes (docs/rest.md).

`routes` is the one table — method, path, handler, the permission it needs — and mounts
it, checking each route's permission before its handler runs; `context` is what a handler
is given (the node, the caller its route admitted) and how it refuses (`ApiError`);
`params` declares and parses the query parameters; `models` are the bodies the OpenAPI
document (/openapi.json) describes; `queries`, `feed`, `blobs`, `members` (a batch's members handed over),
`chain`, `contract_views`, `seals`, `supervision` and `chaincode` are the handlers.
"""
