"""Where the single node's transaction path spends its time: a py-spy profile, as text.

It runs ``bench/throughput.py``'s node run (a fresh ``--dev`` node, N pre-signed
``Storage.set`` calls from N/50 senders in JSON-RPC batches, then following blocks until
all are committed) with py-spy sampling the node process at 200 Hz during the timed
section, and writes ``bench/profiles/node-tx-path.txt``:

* the share of the node's active samples (all threads) in each part of the path: block
  building (EVM execution, state persistence, state root, transaction and receipt tries),
  commit, JSON-RPC admission (decoding, signature recovery, the pool) and the load
  generator's block polling; a sample counts in every part whose frame is on its stack, so
  a part's children add up to at most the part;
* cross-cutting shares: the trie library, rlp encoding and decoding and object copies,
  signature recovery, LevelDB reads;
* the top functions by inclusive and by self samples.

Sampling slows the node a little (py-spy reads its memory from outside, at 200 Hz), so the
committed tx/s printed in the header is not a benchmark figure: ``bench/throughput.py`` is.
py-spy is not a dependency of the ledger (``pip install py-spy``); it needs ptrace
permission on the node process, which a process's own child grants.

    .venv/bin/python -m bench.profile_node                 # N = 5000, writes bench/profiles/node-tx-path.txt
    .venv/bin/python -m bench.profile_node -n 500 --out /tmp/p.txt --raw /tmp/p.raw
"""
from __future__ import annotations

import io
import json
import re
import shutil
import sys
import tempfile
from contextlib import redirect_stdout
from pathlib import Path

from bench.common import REPO_ROOT, cli
from bench.common.machine import git_commit, machine_info, machine_rows
from bench.common.profiling import read_stacks, top_functions
from bench.throughput import main as throughput_main

DEFAULT_OUT = REPO_ROOT / "bench" / "profiles" / "node-tx-path.txt"

# (indent, label, frame pattern): a part counts the samples with a matching frame on the
# stack; an indented part counts only within the part above it.
PARTS: list[tuple[int, str, str]] = [
    (0, "block building (Chain.build_block)", r"^Chain\.build_block \(node/execution/chain\.py\)"),
    (1, "EVM: executing the transactions (VM.apply_transaction)", r"^VM\.apply_transaction \(eth/vm/base\.py\)"),
    (2, "of which the message call and its opcodes (apply_message)", r"\.apply_message \(eth/vm/forks/"),
    (1, "a header copy per receipt (add_receipt_to_header)", r"\.add_receipt_to_header \(eth/vm/forks/"),
    (1, "state root and block finalisation (VM.finalize_block)", r"^VM\.finalize_block \(eth/vm/base\.py\)"),
    (2, "of which writing accounts and storage into the tries (BaseState.persist)", r"^BaseState\.persist \(eth/vm/state\.py\)"),
    (1, "transaction and receipt tries (evidence/mpt.py)", r"\(evidence/mpt\.py\)"),
    (1, "signature checks during building (check_signature_validity)", r"check_signature_validity \(node/execution/vm\.py\)"),
    (0, "proposing and committing the block (consensus driver, not building)",
     r"^(QBFTMachine\._send_proposal|NodeBackend\.commit|NodeBackend\.block_digest) \(node/consensus/"),
    (1, "of which Chain.commit (LevelDB batch, indexes)", r"^Chain\.commit \(node/execution/chain\.py\)"),
    (0, "JSON-RPC requests (first_pass, answer_document)", r"^(first_pass|answer_document) \(node/rpc/jsonrpc\.py\)"),
    (1, "eth_sendRawTransaction (admission)", r"^eth_send_raw_transaction \(node/rpc/methods\.py\)"),
    (2, "of which signature recovery", r"(recover_public_key|ecdsa_recover|check_signature_validity)"),
    (2, "of which the pool (TxPool.add)", r"^TxPool\.add \(node/execution/txpool\.py\)"),
    (1, "eth_getBlockByNumber (the load generator following blocks)", r"^eth_get_block_by_number \(node/rpc/methods\.py\)"),
]
CROSS: list[tuple[str, str]] = [
    ("trie library (HexaryTrie: state and storage tries)", r"\(trie/"),
    ("rlp library (encode, decode, object copies)", r"\(rlp/"),
    ("  of which rlp object copies (BaseSerializable.copy)", r"^BaseSerializable\.copy \(rlp/"),
    ("signature recovery (coincurve)", r"\(coincurve/"),
    ("LevelDB reads (LevelStore.get)", r"^LevelStore\.get \(node/storage/store\.py\)"),
    ("LevelDB writes (LevelStore.write_batch)", r"^LevelStore\.write_batch \(node/storage/store\.py\)"),
    ("event indexes (index_block)", r"^index_block \(node/storage/indexes\.py\)"),
]


def part_shares(stacks: list[tuple[list[str], int]]) -> list[tuple[int, str, float]]:
    total = sum(c for _, c in stacks) or 1
    out = []
    for i, (indent, label, pattern) in enumerate(PARTS):
        chain, level = [re.compile(pattern)], indent
        for above, _, above_pattern in reversed(PARTS[:i]):  # the parts this one lies within
            if above == level - 1:
                chain.append(re.compile(above_pattern))
                level = above
        hits = sum(c for frames, c in stacks if all(any(p.search(f) for f in frames) for p in chain))
        out.append((indent, label, 100 * hits / total))
    return out


def cross_shares(stacks: list[tuple[list[str], int]]) -> list[tuple[str, float]]:
    total = sum(c for _, c in stacks) or 1
    out = []
    for label, pattern in CROSS:
        rx = re.compile(pattern)
        out.append((label, 100 * sum(c for frames, c in stacks if any(rx.search(f) for f in frames)) / total))
    return out


def self_top(stacks: list[tuple[list[str], int]], limit: int) -> list[tuple[str, float]]:
    total = sum(c for _, c in stacks) or 1
    counts: dict[str, int] = {}
    for frames, c in stacks:
        if frames:
            counts[frames[-1]] = counts.get(frames[-1], 0) + c
    return [(f, 100 * c / total) for f, c in sorted(counts.items(), key=lambda kv: -kv[1])[:limit]]


def render(raw: Path, header: list[tuple[str, str]]) -> str:
    stacks = read_stacks(raw)
    samples = sum(c for _, c in stacks)
    out = io.StringIO()
    w = out.write
    w("Profile of the single-node transaction path (bench/profile_node.py; py-spy 200 Hz, node process, all threads)\n\n")
    width = max(len(k) for k, _ in header)
    for k, v in header:
        w(f"  {k.ljust(width)}  {v}\n")
    w(f"  {'active samples'.ljust(width)}  {samples:,}\n\n")
    w("Parts of the path, % of active samples (a part's children are within it):\n\n")
    for indent, label, share in part_shares(stacks):
        w(f"  {'    ' * indent}{label:<{84 - 4 * indent}} {share:5.1f} %\n")
    w("\nAcross the path, % of active samples:\n\n")
    for label, share in cross_shares(stacks):
        w(f"  {label:<84} {share:5.1f} %\n")
    w("\nTop functions by inclusive samples (plumbing frames left out): inclusive % / self %\n\n")
    for f, inc, own in top_functions(raw, 40):
        w(f"  {inc:5.1f} / {own:4.1f}  {f}\n")
    w("\nTop functions by self samples: self %\n\n")
    for f, own in self_top(stacks, 30):
        w(f"  {own:5.1f}  {f}\n")
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("-n", "--txs", type=int, default=5000, help="transactions (default 5000, ~20 s of samples)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"the text profile (default {DEFAULT_OUT.relative_to(REPO_ROOT)})")
    p.add_argument("--raw", type=Path, default=None, help="also keep py-spy's raw stacks here")
    p.add_argument("--py-spy-bin", default=shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"),
                   help="py-spy executable (default: on PATH, else next to this python)")
    cli.add_idle_wait(p, 30.0)
    args = p.parse_args(argv)
    if not Path(args.py_spy_bin).exists():
        raise SystemExit("py-spy not found: .venv/bin/pip install py-spy")

    tmp = Path(tempfile.mkdtemp(prefix="ledger-profile-"))
    raw = args.raw or tmp / "node.raw"
    try:
        captured = io.StringIO()
        with redirect_stdout(captured):
            throughput_main(["-n", str(args.txs), "--no-ceiling", "--idle-wait", str(args.idle_wait),
                             "--py-spy", str(raw), "--py-spy-bin", args.py_spy_bin])
        line = next(x for x in captured.getvalue().splitlines() if x.startswith("THROUGHPUT_JSON "))
        run = json.loads(line.split(" ", 1)[1])["node"]
        info = machine_info()
        header = [(k, str(v)) for k, v in machine_rows(info)] + [
            ("commit", git_commit()),
            ("command", " ".join(["python -m bench.profile_node", *(argv if argv is not None else sys.argv[1:])])),
            ("workload", f"{run['n']:,} Storage.set calls from {run['senders']} senders, JSON-RPC batches of {run['batch_size']}"),
            ("while sampled", f"{run['committed_tx_per_s']:.0f} committed tx/s in {run['commit_s']:.1f} s, "
                              f"{len(run['txs_per_block'])} blocks, node CPU {run['node_cpu_s']:.1f} s "
                              f"(not a benchmark figure: py-spy slows the node)"),
        ]
        text = render(raw, header)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(text)
        print(f"wrote {args.out}", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
