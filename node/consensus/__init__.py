"""QBFT consensus (Besu-compatible).

`messages` is the wire codec, `machine` the pure protocol state machine (no I/O, no clock),
`driver` connects it to the chain, the pool, timers and peers on the consensus thread;
`sealing` holds the validator key and writes committed seals into headers; `votes` keeps
this validator's pending add/remove votes for the next blocks it proposes.
"""
