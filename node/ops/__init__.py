"""Operations: running nodes.

`config` parses node.json (p2p, faults, RPC limits); `runner` opens a data directory and runs
the RPC server and the consensus thread until asked to stop; `cluster` lays out, starts,
stops and restarts a local consortium of node processes (`ledger cluster`); `metrics` is the
Prometheus registry.
"""
