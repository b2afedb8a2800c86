"""Block end, old and new side by side: py-evm's `AccountDB.persist` against
`node.execution.blockend.OnePassBlockEnd` (what `LedgerAccountDB` uses), in one process.

Two workloads, each the same writes on the same starting state for both, the order of the
two alternating from round to round, the state roots compared every round:

* a block of 500 `Storage.set` calls (a new slot and the counter slot each, and the
  sender's nonce and balance) on a contract holding 5,000 slots;
* 100 blocks shaped like e-contract registrations (10 a block, ~20 new slots each, the
  identity registry's counter, the sender's nonce) on a registry holding 20,000 slots.

Only `persist()` is timed (wall clock, `time.perf_counter`, after a `gc.collect()`): the
storage-trie updates, the account trie and the write batch, on py-evm's in-memory
database. Tests never assert these timings.

    .venv/bin/python -m bench.block_end            # 9 rounds of the first workload
    .venv/bin/python -m bench.block_end 3          # quicker
"""
from __future__ import annotations

import gc
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from eth.db.account import AccountDB
from eth.db.atomic import AtomicDB
from eth.db.backends.memory import MemoryDB
from eth_typing import Address, Hash32

from node.execution.blockend import OnePassBlockEnd


class OnePass(OnePassBlockEnd, AccountDB):
    pass


STORAGE = Address(b"\x5a" * 20)
REGISTRY = Address(b"\x5b" * 20)
IDENTITY = Address(b"\x5c" * 20)
SENDERS = [Address(i.to_bytes(20, "big")) for i in range(1, 2001)]


def base_store(existing_slots: int, contract: Address) -> tuple[dict[bytes, bytes], bytes]:
    kv: dict[bytes, bytes] = {}
    db = AccountDB(AtomicDB(MemoryDB(kv)))
    db.set_code(contract, b"\x60\x00" * 50)
    db.set_code(IDENTITY, b"\x60\x01" * 50)
    for sender in SENDERS:
        db.set_balance(sender, 10**18)
    for slot in range(existing_slots):
        db.set_storage(contract, slot + 1000, slot + 1)
        if slot % 4 == 0:
            db.set_storage(IDENTITY, slot + 1000, slot + 7)
    db.persist()
    return kv, db.state_root


def storage_set_block(db: AccountDB, rng: random.Random, txs: int, next_slot: int) -> None:
    # Storage.set: a new slot and the counter slot; sender nonce and balance.
    for index in range(txs):
        sender = SENDERS[index % len(SENDERS)]
        db.set_nonce(sender, db.get_nonce(sender) + 1)
        db.set_balance(sender, db.get_balance(sender) - 21000)
        db.set_storage(STORAGE, next_slot + index, rng.getrandbits(256) | 1)
        db.set_storage(STORAGE, 0, next_slot + index)
        db.lock_changes()


def econtract_block(db: AccountDB, rng: random.Random, registers: int, next_slot: int) -> None:
    # One register writes ~20 slots of the registry (a struct), touches the identity
    # registry's counters, and bumps its sender.
    for index in range(registers):
        sender = SENDERS[rng.randrange(len(SENDERS))]
        db.set_nonce(sender, db.get_nonce(sender) + 1)
        base = next_slot + index * 32
        for offset in range(20):
            db.set_storage(REGISTRY, rng.getrandbits(256) if offset < 18 else base + offset, rng.getrandbits(200) | 1)
        db.set_storage(REGISTRY, 1, base)
        db.set_storage(IDENTITY, 2, base)
        db.lock_changes()


def timed_persist(cls: type[AccountDB], kv: dict[bytes, bytes], root: bytes, fill: Callable[..., None],
                  *args: Any) -> tuple[float, bytes]:
    db = cls(AtomicDB(MemoryDB(kv)), Hash32(root))
    fill(db, *args)
    gc.collect()
    start = time.perf_counter()
    db.persist()
    return time.perf_counter() - start, db.state_root


def scenario_storage_set(rounds: int) -> None:
    kv, root = base_store(5000, STORAGE)
    old_t: list[float] = []
    new_t: list[float] = []
    for r in range(rounds):
        order = [(AccountDB, old_t), (OnePass, new_t)] if r % 2 == 0 else [(OnePass, new_t), (AccountDB, old_t)]
        roots = []
        for cls, sink in order:
            elapsed, new_root = timed_persist(cls, dict(kv), root, storage_set_block, random.Random(r), 500, 100000 + r * 1000)
            sink.append(elapsed)
            roots.append(new_root)
        assert roots[0] == roots[1]
    report("500 Storage.set writes (1000 slots, 500 senders) on a 5,000-slot contract", old_t, new_t)


def scenario_econtracts(blocks: int) -> None:
    kv, root = base_store(20000, REGISTRY)
    kv_old, kv_new = dict(kv), dict(kv)
    root_old = root_new = root
    old_t: list[float] = []
    new_t: list[float] = []
    for block in range(blocks):
        order = ["old", "new"] if block % 2 == 0 else ["new", "old"]
        for which in order:
            if which == "old":
                elapsed, root_old = timed_persist(AccountDB, kv_old, root_old, econtract_block, random.Random(block), 10, 200000 + block * 400)
                old_t.append(elapsed)
            else:
                elapsed, root_new = timed_persist(OnePass, kv_new, root_new, econtract_block, random.Random(block), 10, 200000 + block * 400)
                new_t.append(elapsed)
        assert root_old == root_new
    report(f"{blocks} e-contract-shaped blocks (10 registers x ~20 slots each) on a 20,000-slot registry", old_t, new_t)


def report(title: str, old: list[float], new: list[float]) -> None:
    mo, mn = statistics.median(old), statistics.median(new)
    print(f"{title}\n  py-evm persist median {mo * 1000:.2f} ms, one-pass {mn * 1000:.2f} ms, "
          f"ratio old/new {mo / mn:.2f}x (n={len(old)}; totals {sum(old):.2f}s vs {sum(new):.2f}s)")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    rounds = int(args[0]) if args else 9
    scenario_storage_set(rounds)
    scenario_econtracts(100)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
