"""Verify: an auditor's independent check of a chain (`ledger chain verify`).

`chain` walks the chain from genesis and follows the validator set; `checks` are its pure
checks of one block (header, seals, roots, senders, the link to the parent); `sources`
reads blocks from a data directory (a private copy, never the live one) and defines the
`BlockSource` protocol a JSON-RPC source (client/chain_rpc.py) implements too; `replay`
re-executes blocks and rebuilds block 0 with the node's own execution; `indexes` rebuilds
the event indexes from the chain's own logs and compares them with what the node serves.
"""
