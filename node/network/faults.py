"""Test-only fault injection on the node-to-node link: what happens to each outbound
consensus message.

The node decides whether to pass `Faults` to `node.network.peers.PeerNetwork` (only with
``LEDGER_TEST_FAULTS=1``, see node/ops/config.py). They apply to outbound MESSAGE frames
only, never to HELLO, STATUS, requests or responses. Per frame and per peer, in
peer-name order: dropped with probability `drop`; else queued twice if `duplicate`;
queued after `delay` seconds if `delay` > 0. The draws come from
``random.Random(seed)``, so a run is reproducible.
"""
from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Faults:
    """Test-only faults on outbound MESSAGE frames (see the module docstring)."""

    drop: float = 0.0
    delay: float = 0.0
    duplicate: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.drop <= 1.0:
            raise ValueError(f"faults.drop must be in [0, 1], got {self.drop}")
        if self.delay < 0:
            raise ValueError(f"faults.delay must be >= 0, got {self.delay}")


class FaultDraws:
    """The reproducible per-frame decisions of one network's `Faults`."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed)

    def copies(self) -> int:
        """How many copies of the next outbound MESSAGE to queue: 0 (dropped), 1, or 2
        (duplicated). One draw per frame, and only when `drop` is set."""
        faults = self.faults
        if faults.drop > 0.0 and self._rng.random() < faults.drop:
            return 0
        return 2 if faults.duplicate else 1
