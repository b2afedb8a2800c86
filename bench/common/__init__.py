"""What the benchmarks in ``bench/`` share, one module per job.

* ``machine``   -- the machine's details for every report, its CPU use, waiting until it is
  idle before a timed section, the commit measured;
* ``footprint`` -- what a process tree costs: resident memory and CPU time from /proc, and
  a directory's bytes on disk;
* ``stats``     -- percentiles and the median run;
* ``results``   -- figures (what ``bench/run_all`` merges), JSON files, the printed tables;
* ``cli``       -- the options the scripts share (``--quick``, ``--runs``, ``--idle-wait``,
  ``--figures-out``, ``--ledger``, ...), so each means the same in every script;
* ``nodes``     -- a ``ledger node start --dev`` process, a QBFT cluster, any logged child
  process and free loopback ports;
* ``rpc``       -- JSON-RPC over one keep-alive loopback connection;
* ``contracts`` -- the workload contracts compiled with vyper, their calldata;
* ``signing``   -- the benchmarks' fixed keys and their pre-signed transactions;
* ``load``      -- sending signed transactions in JSON-RPC batches and following blocks
  until they are in one (the ``Storage.set`` load of throughput and consensus);
* ``profiling`` -- py-spy on a node during a timed section, and reading its stacks;
* ``tsa``       -- a ``ledger tsa serve`` time-stamping authority on a loopback port.
* ``baseline``  -- an older commit exported with ``git archive`` and set up so that today's
  benchmarks run against its code (``bench/run_all --baseline``).

A benchmark runs as ``.venv/bin/python -m bench.<name>`` from the repository root
(``bench/run_all`` runs them all). Nothing here talks to anything but a loopback address.
"""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
