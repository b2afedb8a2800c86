"""The evidence-ledger node, in rooms named for their job: `execution` (VM, chain, pool,
genesis), `storage` (LevelDB, indexes, blobs), `consensus` (QBFT), `network` (peers, sync),
`rpc` (JSON-RPC, REST), `access` (roles and tokens), `verify` (an auditor's chain check) and
`ops` (config, running a node, a local cluster). `service.Node` joins them; `errors` is the
one exception tree. docs/architecture.md draws the packages and a transaction's path."""
import os

# keccak is the node's hottest hash (every trie node, address and log bloom). eth-hash
# picks pycryptodome first when both are installed; the C pysha3 backend is ~8x faster
# per call (1.1 vs 8.6 us for 100 bytes, measured here), so prefer it unless the
# operator chose a backend. It must be set before eth-hash hashes anything.
os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
