"""The benchmarks' fixed keys and the transactions they pre-sign with eth-account.

Signing is never timed where a figure is the node's: transactions are made before the
clock starts. Every key here is a test-only key derived from a public string; never use
one for anything real.
"""
from __future__ import annotations

from collections.abc import Sequence

from eth_account import Account
from eth_utils import keccak, to_checksum_address

from bench.common.contracts import set_calldata

# The first hardhat/anvil test key: the funded account of the in-memory ceiling and of
# the peer nodes (Ganache, anvil).
CEILING_PRIVATE_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
# A pool holds a bounded run of nonces per sender ahead of its committed nonce (the
# ledger node: 64, like geth's per-account slots); 50 in flight per sender stays under it.
TXS_PER_SENDER = 50
DEPLOY_GAS = 1_000_000
TRANSFER_GAS = 21_000


def workload_keys(count: int) -> list[str]:
    """Deterministic private keys of the benchmark's senders (test-only keys)."""
    return ["0x" + keccak(f"evidence-ledger bench sender {i}".encode()).hex() for i in range(count)]


def default_senders(n: int, per_sender: int = TXS_PER_SENDER) -> int:
    """Senders for N transactions: at most ``per_sender`` in flight per sender, so that a
    single sender cannot be what keeps a 500-transaction block from filling."""
    return max(1, -(-n // per_sender))


def sign_deploy(private_key: str, bytecode: bytes, *, nonce: int, chain_id: int, gas_price: int,
                gas: int = DEPLOY_GAS) -> bytes:
    tx = {"nonce": nonce, "gas": gas, "gasPrice": gas_price, "data": bytecode, "value": 0, "chainId": chain_id}
    return bytes(Account.sign_transaction(tx, private_key).raw_transaction)


def sign_set_calls(
    private_keys: Sequence[str],
    to: str,
    *,
    n: int,
    first_nonces: Sequence[int],
    chain_id: int,
    gas_price: int,
    gas: int,
    key_offset: int = 0,
) -> list[bytes]:
    """Pre-sign ``n`` legacy (EIP-155) ``set(key, value)`` calls, round-robin over senders.

    Transaction ``j`` comes from sender ``j % K`` with that sender's next nonce, so
    in sending order every sender's nonces are consecutive.  Every call writes a
    fresh mapping key, i.e. stores a new slot.  ``gasPrice`` = the node's
    ``eth_gasPrice`` (0 on the zero-base-fee ledger); legacy transactions are
    valid under Cancun rules while the base fee is 0.
    """
    accounts = [Account.from_key(k) for k in private_keys]
    nonces = list(first_nonces)
    to = to_checksum_address(to)
    raws = []
    for j in range(n):
        s = j % len(accounts)
        tx = {
            "nonce": nonces[s],
            "gas": gas,
            "gasPrice": gas_price,
            "to": to,
            "value": 0,
            "data": set_calldata(key_offset + j, j + 1),
            "chainId": chain_id,
        }
        nonces[s] += 1
        raws.append(bytes(accounts[s].sign_transaction(tx).raw_transaction))
    return raws


def sign_transfers(private_key: str, recipients: Sequence[str], *, amount: int, nonce: int, chain_id: int,
                   gas_price: int) -> list[bytes]:
    """One plain transfer of ``amount`` to each recipient, with consecutive nonces."""
    acct = Account.from_key(private_key)
    return [
        bytes(
            acct.sign_transaction(
                {"nonce": nonce + i, "gas": TRANSFER_GAS, "gasPrice": gas_price, "to": to_checksum_address(r),
                 "value": amount, "data": b"", "chainId": chain_id}
            ).raw_transaction
        )
        for i, r in enumerate(recipients)
    ]


def tx_hash(raw: bytes) -> str:
    """The 0x-prefixed hash of a signed raw transaction."""
    return "0x" + bytes(keccak(raw)).hex()
