"""Contract code and its jump-destination analysis, kept per code hash for the whole process.

py-evm reads a contract's code from the state database on every CALL (through four
database layers to LevelDB, plus a copy of every trie key read so far in the block), and
gives every message a fresh `CodeStream` whose JUMPDEST answers start empty, so every
CALL into a system contract re-analyses every jump target it meets. Both depend only on
the code's bytes, so one content-addressed cache serves every state, block, thread and
chain in the process:

- `CodeCache` maps a code hash to its code (LRU, bounded in bytes by `CODE_CACHE_BYTES`)
  and a code to its jump marks;
- `AnalysedCode` is py-evm's `CodeStream` whose `is_valid_opcode` answers are memoised in
  those marks across computations. It asks py-evm's own method for every position it has
  not seen, lazily, so it never does more work than py-evm and every answer is py-evm's.

Consensus depends on these answers being exactly py-evm's: `tests/unit/node/test_code_cache.py`
checks them position by position and executes blocks against a stock py-evm twin.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

from eth.vm.code_stream import CodeStream
from eth_hash.auto import keccak

# Contract code plus one mark byte per code byte kept per process. The five genesis system
# contracts together are ~35 KB of code (~70 KB with marks), and EIP-170 caps one
# contract at 24 KiB (48 KiB with marks): 16 MiB holds every system contract and a few
# hundred user contracts of full size, a small part of the node's 300 MB budget.
CODE_CACHE_BYTES = 16 * 1024 * 1024

# What an entry costs beyond its code and marks: the entry object, the 32-byte hash key,
# the bytes and bytearray headers and the slots of the two maps (measured ~300 bytes with
# tracemalloc; rounded up so the cap holds for small contracts too).
ENTRY_OVERHEAD_BYTES = 512

# A mark per code position: not looked at yet, an opcode (a valid jump target if it is a
# JUMPDEST), or data of an earlier PUSH.
UNKNOWN = 0
OPCODE = 1
PUSH_DATA = 2


class CodeEntry:
    """One contract's code and the jump marks learnt about it so far."""

    __slots__ = ("code_hash", "code", "marks")

    def __init__(self, code_hash: bytes, code: bytes) -> None:
        self.code_hash = code_hash
        self.code = code
        self.marks = bytearray(len(code))

    @property
    def cost(self) -> int:
        return 2 * len(self.code) + ENTRY_OVERHEAD_BYTES


class CodeCache:
    """Code by hash and jump marks by code, LRU within `max_bytes`; thread-safe.

    Content-addressed: an entry is kept only once keccak(code) == code_hash has been
    checked, so what a lookup returns is what any correct database returns for that hash.
    `remember` returns the kept bytes object: the messages built from it carry that same
    object, so `marks_for` finds the entry by identity without hashing the code again.
    """

    def __init__(self, max_bytes: int = CODE_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._by_hash: OrderedDict[bytes, CodeEntry] = OrderedDict()
        self._by_code: dict[bytes, CodeEntry] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._by_hash)

    @property
    def size_bytes(self) -> int:
        """What the kept entries cost against `max_bytes`."""
        return self._bytes

    def code(self, code_hash: bytes) -> bytes | None:
        """The code with this hash, or None when it is not kept."""
        with self._lock:
            entry = self._by_hash.get(code_hash)
            if entry is None:
                return None
            self._by_hash.move_to_end(code_hash)
            return entry.code

    def remember(self, code_hash: bytes, code: bytes) -> bytes:
        """Keep `code` under `code_hash` and return the object to use from now on.

        Code that does not hash to `code_hash` (a damaged database) or that could never fit
        is returned as given and not kept: the caller sees what it would have seen anyway.
        """
        if not code or 2 * len(code) + ENTRY_OVERHEAD_BYTES > self.max_bytes:
            return code
        with self._lock:
            entry = self._by_hash.get(code_hash)
            if entry is not None:
                self._by_hash.move_to_end(code_hash)
                return entry.code
        # Hashed outside the lock: once per code per process (~20 us for 20 KB).
        if keccak(code) != code_hash:
            return code
        with self._lock:
            entry = self._by_hash.get(code_hash)
            if entry is None:  # another thread may have kept it meanwhile
                entry = CodeEntry(code_hash, code)
                self._by_hash[code_hash] = entry
                self._by_code[code] = entry
                self._bytes += entry.cost
                self._evict()
            return entry.code

    def marks_for(self, code: bytes) -> bytearray:
        """The shared jump marks of `code`, or fresh ones (not kept) if it is not cached."""
        with self._lock:
            entry = self._by_code.get(code)
        return entry.marks if entry is not None else bytearray(len(code))

    def clear(self) -> None:
        with self._lock:
            self._by_hash.clear()
            self._by_code.clear()
            self._bytes = 0

    def _evict(self) -> None:
        # Caller holds the lock. Computations still holding an evicted entry's marks keep
        # using them; they only stop being shared with later ones.
        while self._bytes > self.max_bytes:
            _, entry = self._by_hash.popitem(last=False)
            del self._by_code[entry.code]
            self._bytes -= entry.cost


# The process's one cache: safe to share because every answer depends only on code bytes.
CODE_CACHE = CodeCache()


class AnalysedCode(CodeStream):
    """py-evm's CodeStream whose JUMPDEST validity answers persist in shared marks.

    `marks` must be one byte per code byte (`CodeCache.marks_for(code)`). Threads may
    share them: a mark only ever goes from UNKNOWN to the one value every thread computes,
    and a bytearray item store is atomic under the GIL.
    """

    __slots__ = ("_marks",)

    def __init__(self, code_bytes: bytes, marks: bytearray) -> None:
        super().__init__(code_bytes)
        if len(marks) != len(code_bytes):
            raise ValueError(f"{len(marks)} jump marks for {len(code_bytes)} bytes of code")
        self._marks = marks

    def is_valid_opcode(self, position: int) -> bool:
        if position >= self._length_cache:
            return False
        if position < 0:
            # Never asked by JUMP/JUMPI (stack values are unsigned); py-evm's answer all the same.
            return super().is_valid_opcode(position)
        mark = self._marks[position]
        if mark == UNKNOWN:
            # py-evm's look-back; the positions it recurses into come back through here.
            mark = OPCODE if super().is_valid_opcode(position) else PUSH_DATA
            self._marks[position] = mark
        return mark == OPCODE
