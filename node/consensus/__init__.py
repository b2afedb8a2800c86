"""QBFT consensus (Besu-compatible).

`messages` is the wire codec; `machine` the pure protocol state machine (no I/O, no clock),
with `validation` checking what a received message carries and `interface` its boundary
types (the `Backend` it calls, the actions it returns, the `Lock` it asks to keep).
`driver` connects it to the chain, the pool, timers and peers on the consensus thread:
`backend` builds, checks and commits blocks for the machine, `blocktimer` says when the
block timer fires, `sync` fetches blocks from peers that are ahead. `sealing` holds the
validator key and writes committed seals into headers; `votes` keeps this validator's
pending add/remove votes for the next blocks it proposes.
"""
