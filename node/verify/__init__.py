"""Verify: an auditor's independent check of a chain (`ledger chain verify`).

`chain` checks every header, seal, validator change and (with --reexecute) every state
root, from a data directory (a private copy, never the live one) or from a node over
JSON-RPC; `indexes` rebuilds the event indexes from the chain's own logs and compares them
with what the node serves.
"""
