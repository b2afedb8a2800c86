"""Client SDK and the `ledger` command-line interface."""
