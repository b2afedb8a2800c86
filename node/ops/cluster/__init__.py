"""A local testnet (`ledger cluster`): N validators and M observers as node processes on
loopback ports, with their own genesis, keys, consortium CA and TLS certificates.

`layout` is the cluster directory and its cluster.json (nodes, ports); `create` makes a
cluster or adds a node (it imports the node: genesis, keys, data directories);
`processes` starts, stops and restarts node processes and finds strays by their pids;
`status` asks each node over JSON-RPC how it is doing.
"""
