"""Soak: a 4-validator cluster under legitimate load plus the abusive requests of issue 15, measured.

What it does (every process on 127.0.0.1; every process it starts is stopped in ``finally``,
also on Ctrl-C):

1. creates a cluster with ``node.ops.cluster.create.create_cluster`` (as ``bench/consensus.py`` does:
   real node processes, mutual TLS, auth required) with a 1-second block period and, by
   default, an empty-block period equal to it, so every height is timed by the period
   whether or not transactions wait; genesis registers three member accounts: the
   legitimate client, the abuser and a spare. Role tokens come from the cluster's own
   issuer (``node.access.tokens.TokenStore``, what ``ledger token issue --data-dir D`` runs):
   PARTY for the legitimate client, PARTY + REGULATOR + AUDITOR for the abuser;
2. **idle** (``--idle-seconds``, default 20): nothing but the measurement;
3. **legit** (``--legit-seconds``, default 20): the legitimate load alone against the
   target node (validator-0): one evidence anchoring per second (``EvidenceRegistry.anchor``
   signed by a member account, as ``bench/scaling.py`` builds it) and, five times a
   second in turn, ``eth_blockNumber``, ``eth_getTransactionReceipt`` of its latest
   anchoring, ``eth_call`` of the registry's ``entry_count()`` and ``GET /healthz``;
4. **abuse** (``--seconds``, default 180): the same load while a separate process (so
   that its threads do not share the measuring process's interpreter lock) sends the
   abusive requests of the issue to the same node, each kind in its own worker with a
   fixed, small concurrency and a client timeout on every request (see ``abuse.ABUSE_KINDS``);
   the phase ends when the abuse process has ended its last request (at most
   ``ABUSE_TIMEOUT`` after the time is up): what is still in flight is abuse too;
5. **recovery** (``--recovery-seconds``, default 15): the legitimate load alone again,
   to see whether the node comes back.

Measured throughout: every block, followed on the last validator (a node no client
talks to, so a stalled RPC on the target does not hide blocks): its header timestamp
(whole seconds) and the wall-clock time it was first seen (polled every 50 ms); every
node's RSS (``/proc/PID/status`` VmRSS of the node process and its children, every
0.5 s, and VmHWM at the end); latency and failures of each legitimate call; submit ->
committed latency of each legitimate anchoring; per abuse kind the requests sent,
answered, refused (an HTTP or JSON-RPC error, a closed socket) and failed (timeout or
connection error). It asserts nothing and exits 0: it measures. The verdicts of the
issue's targets (max block interval <= 2x the period and every node's RSS <= 2x its
idle RSS, while the abuse runs) are printed as PASS/FAIL text.

Output: tables on stdout, ``<output>.json`` (everything, including every block and RSS
sample) and ``<output>.md`` (the tables), ``<output>`` = ``bench/results/soak`` by
default. It is not part of ``bench/run_all`` (minutes long, and it saturates the machine).

Its modules, one per seam: ``run`` (arguments, the phases, ``main``), ``load`` (the
legitimate client), ``abuse`` (the abusive requests, in their own process), ``measure``
(block intervals, RSS and latency by phase, the verdicts), ``report`` (the JSON and
Markdown report) and ``wire`` (the HTTP client and request bodies they share).

    .venv/bin/python -m bench.soak                    # 20 s idle, 20 s legit, 3 min abuse, 15 s recovery
    .venv/bin/python -m bench.soak --seconds 60
    .venv/bin/python -m bench.soak --seconds 60 --skip pki_tx,estimate_gas --output /tmp/soak
    .venv/bin/python -m bench.soak --seconds 30 --only fee_history --output /tmp/soak-fee
"""
