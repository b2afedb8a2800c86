"""Network: the node-to-node link.

`peers` is the mutual-TLS transport (framing, HELLO, per-peer queues, reconnects) that
carries consensus messages and block sync; `tlscerts` issues and checks the consortium CA's
node certificates, whose SAN binds a TLS identity to a validator address; `importer`
validates and commits blocks fetched from a peer that is ahead.
"""
