"""The evidence-ledger node: genesis, storage, execution, sealing, transaction pool and RPC."""
