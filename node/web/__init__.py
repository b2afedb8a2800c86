"""The node's web console: the shell a browser's `GET /` opens (its first page verifies
evidence in the browser, from docs/receipt.md, with vendored audited cryptography), the
offline verifier page `ledger evidence verifier-page` writes, and /docs with local assets."""
