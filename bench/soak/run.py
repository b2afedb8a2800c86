"""The soak's run: its arguments, the cluster, the four phases, and ``main``.

``python -m bench.soak`` runs ``main`` (``bench/soak/__main__.py``); what the run does
and measures is the package's docstring (``bench/soak/__init__.py``), which is also its
``--help``.
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from eth_account import Account

import bench.soak as soak
from bench.common import REPO_ROOT, cli
from bench.common.footprint import RssSampler
from bench.common.load import BlockFollower
from bench.common.machine import machine_info, machine_rows
from bench.common.nodes import running_cluster
from bench.common.results import print_table, write_json
from bench.common.rpc import Rpc
from bench.common.signing import workload_keys
from bench.soak.abuse import ABUSE_JOIN_SECONDS, ABUSE_KINDS, AbuseConfig, abuse_process, pki_verify_calldata
from bench.soak.load import LEGIT_JOIN_SECONDS, LegitLoad
from bench.soak.measure import HEAD_POLL_SECONDS, RSS_SAMPLE_SECONDS, Clock
from bench.soak.report import build_report, markdown
from node.access.tokens import TokenStore
from node.ops.cluster.layout import load_admin_token

DEFAULT_SECONDS = 180.0          # the issue: "a bounded run (minutes)"
DEFAULT_IDLE_SECONDS = 20.0      # the issue's idle baseline
DEFAULT_LEGIT_SECONDS = 20.0     # legit load alone: the latencies the abuse is compared with
DEFAULT_RECOVERY_SECONDS = 15.0  # long enough for a few blocks after the abuse stops
STARTUP_DEADLINE = 90.0          # four nodes starting on two shared cores
WARMUP_BLOCKS = 3                # blocks seen before the idle phase starts
MAX_VALIDATORS = 16              # a soak of more nodes than this measures the machine, not the node
TOKEN_TTL_SECONDS = 86_400       # the soak's role tokens outlive any run


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The soak's options, checked (a usage error exits 2)."""
    p = cli.parser(soak.__doc__)
    p.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="abuse phase (default 180)")
    p.add_argument("--idle-seconds", type=float, default=DEFAULT_IDLE_SECONDS, help="idle baseline (default 20)")
    p.add_argument("--legit-seconds", type=float, default=DEFAULT_LEGIT_SECONDS, help="legitimate load alone (default 20)")
    p.add_argument("--recovery-seconds", type=float, default=DEFAULT_RECOVERY_SECONDS,
                   help="legitimate load alone after the abuse (default 15)")
    p.add_argument("--validators", type=int, default=4, help="validators in the cluster (default 4)")
    p.add_argument("--block-period", type=int, default=1, help="genesis blockperiodseconds (default 1)")
    p.add_argument("--empty-block-period", type=int, default=None,
                   help="genesis emptyblockperiodseconds (default: the block period, so every height is timed)")
    p.add_argument("--skip", type=_kinds, default=frozenset(), help=f"comma-separated abuse kinds to leave out: {', '.join(ABUSE_KINDS)}")
    p.add_argument("--only", type=_kinds, default=None,
                   help="comma-separated abuse kinds to run, the others left out (to see which kind does what)")
    p.add_argument("--output", type=Path, default=REPO_ROOT / "bench" / "results" / "soak",
                   help="write OUTPUT.json and OUTPUT.md (default bench/results/soak)")
    args = p.parse_args(argv)
    for name in ("seconds", "idle_seconds", "legit_seconds", "recovery_seconds"):
        if getattr(args, name) < 0 or not math.isfinite(getattr(args, name)):
            p.error(f"--{name.replace('_', '-')} must be a finite number >= 0")
    if not 1 <= args.validators <= MAX_VALIDATORS:
        p.error(f"--validators must be between 1 and {MAX_VALIDATORS} (the last one is the quiet observer of blocks)")
    if args.block_period < 1:
        p.error("--block-period must be >= 1")
    if args.only is not None:
        if args.skip:
            p.error("give --skip or --only, not both")
        args.skip = frozenset(ABUSE_KINDS) - args.only
    if args.empty_block_period is None:
        args.empty_block_period = args.block_period
    if args.empty_block_period < args.block_period:
        p.error("--empty-block-period must be >= --block-period (genesis rule)")
    return args


def _kinds(text: str) -> frozenset[str]:
    names = frozenset(t.strip() for t in text.split(",") if t.strip())
    unknown = sorted(names - set(ABUSE_KINDS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown abuse kind(s) {', '.join(unknown)}; known: {', '.join(ABUSE_KINDS)}")
    return names


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The phases on a fresh cluster; every process it started is stopped when it returns."""
    legit_key, abuser_key = workload_keys(2)
    legit_addr, abuser_addr = (Account.from_key(k).address for k in (legit_key, abuser_key))
    members = [(bytes.fromhex(legit_addr[2:]), "PARTY"), (bytes.fromhex(abuser_addr[2:]), "PARTY")]
    info = machine_info()
    stop_all = threading.Event()
    clock = Clock()
    phase_state = {"name": "setup"}
    bounds: dict[str, tuple[float, float]] = {}
    abuse_result: dict[str, Any] = {}
    with running_cluster(args.validators, prefix="bench-soak-", deadline=STARTUP_DEADLINE, block_period=args.block_period,
                         empty_block_period=args.empty_block_period, members=members) as (directory, layout):
        genesis = json.loads((directory / "genesis.json").read_text())
        period = float(genesis["config"]["qbft"]["blockperiodseconds"])
        target, quiet = layout.validators[0], layout.validators[-1]
        ttl = TOKEN_TTL_SECONDS
        store = TokenStore(directory)
        legit_token, _ = store.issue("PARTY", "soak legit client", bytes.fromhex(legit_addr[2:]), ttl)
        party_token, _ = store.issue("PARTY", "soak abuser", bytes.fromhex(abuser_addr[2:]), ttl)
        regulator_token, _ = store.issue("REGULATOR", "soak abuser", None, ttl)
        auditor_token, _ = store.issue("AUDITOR", "soak abuser", None, ttl)
        admin_token = load_admin_token(directory)
        pids = [n.pid for n in layout.nodes]
        assert all(pids), "started nodes have pids"
        names = [n.name for n in layout.nodes]

        follower = BlockFollower(Rpc(quiet.rpc_url, timeout=5, token=admin_token), after=None, poll=HEAD_POLL_SECONDS,
                                 clock=clock.now, keep_going=True)
        sampler = RssSampler([int(p) for p in pids if p], RSS_SAMPLE_SECONDS, clock=clock.now)
        legit = LegitLoad(target.host, target.rpc_port, legit_token, legit_key, layout.chain_id, clock,
                          lambda: phase_state["name"], stop_all)
        ctx = multiprocessing.get_context("spawn")
        abuse_stop = ctx.Event()
        abuse: Any = None
        result_file = directory / "abuse.json"
        pki_calldata: bytes | None = None
        pki_note: dict[str, Any] = {}
        hwm_after_abuse: list[float] = []  # VmHWM per node when the abuse ended
        try:
            follower.start()
            sampler.start()
            if not {"pki_tx", "pki_call"} <= args.skip:
                t0 = time.monotonic()
                pki_calldata = pki_verify_calldata()
                pki_note = {"pki_build_s": round(time.monotonic() - t0, 1), "pki_calldata_bytes": len(pki_calldata)}
            warm_by = time.monotonic() + STARTUP_DEADLINE
            while len(follower.blocks) < WARMUP_BLOCKS and time.monotonic() < warm_by:
                stop_all.wait(0.1)  # the first blocks after a start come late (peers still connecting)
            print(f"cluster up: {len(layout.validators)} validators, block period {period:g} s; target {target.name} "
                  f"{target.rpc_url}, blocks followed on {quiet.name}", flush=True)

            def phase(name: str, seconds: float, before: Callable[[], None] | None = None,
                      after: Callable[[], None] | None = None) -> None:
                start = clock.now()
                phase_state["name"] = name
                print(f"[{time.strftime('%H:%M:%S')}] {name}: {seconds:g} s", flush=True)
                if before is not None:
                    before()
                stop_all.wait(seconds)
                if after is not None:
                    after()
                bounds[name] = (start, clock.now())

            phase("idle", args.idle_seconds)
            legit.start()
            phase("legit", args.legit_seconds)

            def start_abuse() -> None:
                nonlocal abuse
                config = AbuseConfig(target.host, target.rpc_port, layout.chain_id, party_token, regulator_token,
                                     auditor_token, abuser_key, args.seconds, pki_calldata, sorted(args.skip))
                abuse = ctx.Process(target=abuse_process, args=(config, abuse_stop, str(result_file)), name="soak-abuse")
                abuse.start()

            def drain_abuse() -> None:
                # Requests still in flight are the abuse's too: the phase ends when the
                # abuse process has ended its last request and written its tally.
                abuse_stop.set()
                if abuse is not None:
                    abuse.join(ABUSE_JOIN_SECONDS)
                hwm_after_abuse[:] = [kib / 1024 for kib in sampler.hwm_kib()]

            phase("abuse", args.seconds, start_abuse, drain_abuse)
            phase("recovery", args.recovery_seconds)
        finally:
            phase_state["name"] = "teardown"
            abuse_stop.set()
            if abuse is not None:
                abuse.join(ABUSE_JOIN_SECONDS)
                if abuse.is_alive():
                    abuse.terminate()
                    abuse.join(10)
            stop_all.set()
            legit.join(LEGIT_JOIN_SECONDS)
            follower.stop()
            sampler.stop()
        hwm = [kib / 1024 for kib in sampler.hwm_kib()]  # before the nodes stop
        if result_file.exists():
            abuse_result = {**json.loads(result_file.read_text()), **pki_note}
    return build_report(args, info, period, names, bounds, follower, sampler.samples, hwm, hwm_after_abuse, legit,
                        abuse_result)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = run(args)
    except KeyboardInterrupt:
        print("interrupted: every process it started has been stopped; nothing written", file=sys.stderr)
        return 130
    print_table("machine", machine_rows(report["machine"]))
    text = markdown(report)
    print("\n" + text)
    for name, verdict in report["verdicts"].items():
        print(f"{name}: {verdict['verdict']} ({verdict})")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.output.with_suffix(".json"), report)
    args.output.with_suffix(".md").write_text(text)
    print(f"wrote {args.output.with_suffix('.json')} and {args.output.with_suffix('.md')}")
    return 0
