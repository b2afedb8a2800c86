"""Network: the node-to-node link.

`peers` is the mutual-TLS transport's network of connections (HELLO, dialling and
reconnects, which connection to a name is kept — `admission` —, delivery to the node);
`connection` is one connection (its bounds, queue, writer, requests), `frames` the pure
framing codec, `tls` the TLS contexts and what a verified peer certificate says, `faults`
the test-only fault injection. `tlscerts` issues and checks the consortium CA's node
certificates, whose SAN binds a TLS identity to a validator address; `importer`
validates and commits blocks fetched from a peer that is ahead.
"""
