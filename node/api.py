"""What the node's HTTP API publishes to its clients: page sizes, the blob size cap, the
feed's topics and keepalive, the JSON-RPC code of a refused role and the batch limit.

The node enforces these numbers and the SDK and CLI (client/) read them from here, so the
two sides cannot drift apart. This module imports nothing, so a client pays nothing to
import it (no py-evm, no starlette); docs/rest.md and docs/access.md describe each.
"""
from __future__ import annotations

# A REST list page (/v1/contracts, /v1/evidence, /v1/commitments, /v1/events, a record's
# events) holds at most MAX_PAGE items: one request is bounded work for the node, one
# response a few MB. DEFAULT_PAGE when the request gives no `limit`.
MAX_PAGE = 1_000
DEFAULT_PAGE = 100

# A blob (PUT /v1/blobs) is one sealed document: a contract scan, a tender file set.
# 64 MiB covers those and bounds the disk one request can fill; client/envelope.py caps
# content at 63 MiB so that a whole envelope fits.
MAX_BLOB_BYTES = 64 * 1024 * 1024

# The feed's topics (GET /v1/feed?topics=, /v1/events?topics=), one per system contract.
FEED_TOPICS = ("identity", "contracts", "commitments", "evidence")
# An idle feed stream gets a comment line this often, which keeps proxies from closing
# it — and tells a client that hears nothing for much longer that the connection is dead.
FEED_KEEPALIVE_SECONDS = 15.0

# The JSON-RPC error code of a call the token's role may not make (Besu's).
UNAUTHORIZED = -40100
# The most calls one JSON-RPC batch may hold (geth's limit); a larger batch is refused whole.
MAX_BATCH_CALLS = 1_000
