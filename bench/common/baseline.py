"""An older commit's code to benchmark against: exported, overlaid with today's ``bench/``.

``bench/run_all --baseline COMMIT`` runs each step twice over, once on the working tree
("new") and once on COMMIT's code ("old"), with the *same* benchmark modules, so that the
workload is identical and only the code under test differs. The old side runs in a
*baseline tree*:

* ``git archive COMMIT`` extracted into a temporary directory (``tree/``): the working
  tree, its index and its refs are not touched;
* ``tree/bench`` is replaced by a symlink to today's ``bench/`` (``bench.common.REPO_ROOT``
  resolves symlinks, so the workload contracts, ``bench/peers/node_modules`` and the
  results directory are today's too);
* the step runs as ``python -m bench.<step>`` with ``tree/`` as its working directory
  (``-m`` puts it first on ``sys.path``) and ``PYTHONPATH=tree`` for every process it
  starts, so ``node``, ``client``, ``chaincode`` and ``evidence`` are COMMIT's everywhere:
  in the benchmark process itself, in ``.venv/bin/ledger`` (its ``sys.path`` is
  ``[.venv/bin, PYTHONPATH..., site-packages]`` and the editable install's finder is
  *appended* to ``sys.meta_path``, after the path finder that reads PYTHONPATH), and in
  a cluster's ``python -m client.cli`` nodes (``node.ops.cluster.processes`` puts its own
  checkout, here ``tree/``, first on their PYTHONPATH);
* ``bin/ledger``, first on PATH, runs ``python -m client.cli`` with the same PYTHONPATH,
  for anything that looks ``ledger`` up on PATH.

``python -m bench.common.baseline`` is a probe run the same way as a step: it reports
where the benchmark process found ``node`` and what a ``--dev`` node it starts (through
``bench.common.nodes``, as every benchmark does) answers to ``web3_clientVersion``, so a
test can show that both are the old tree's.

The virtualenv is the same on both sides: a dependency that changed between the commits
is not rolled back (``pyproject.toml`` of the two trees can be compared; run_all records
the commit it exported).
"""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import REPO_ROOT, cli
from bench.common.results import figure, write_figures

# Set in the environment of every old-side process: the commit its code comes from.
BASELINE_ENV = "LEDGER_BENCH_BASELINE"
# `git archive` of this repository is ~30 MB; a commit that exports more is not one of
# its commits (or carries large files the benchmarks do not need): refuse, don't fill /tmp.
MAX_ARCHIVE_BYTES = 512 * 1024 * 1024
GIT_TIMEOUT_SECONDS = 120.0


class BaselineError(Exception):
    """The baseline commit cannot be exported (unknown commit, git failed)."""

    def __init__(self, commit: str, reason: str) -> None:
        super().__init__(f"baseline {commit}: {reason}")
        self.commit, self.reason = commit, reason


@dataclass(frozen=True)
class BaselineTree:
    """An exported commit ready to run benchmarks against: ``tree`` to run in, ``env`` to run with."""

    commit: str  # the full hash
    ref: str  # as given (a short hash, a tag)
    root: Path  # the temporary directory holding tree/ and bin/
    tree: Path

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """``base`` (default ``os.environ``) with the old tree first on PYTHONPATH and PATH's ``ledger``."""
        env = dict(os.environ if base is None else base)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.tree), env.get("PYTHONPATH")) if p)
        env["PATH"] = os.pathsep.join(p for p in (str(self.root / "bin"), env.get("PATH")) if p)
        env[BASELINE_ENV] = self.commit
        return env

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def resolve_commit(ref: str, repo: Path = REPO_ROOT) -> str:
    """The full hash of ``ref``; BaselineError if git does not know it as a commit."""
    proc = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=repo,
                          capture_output=True, text=True, timeout=GIT_TIMEOUT_SECONDS)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise BaselineError(ref, "not a commit of this repository")
    return proc.stdout.strip()


def export_commit(ref: str, dest: Path, repo: Path = REPO_ROOT) -> str:
    """``git archive`` of ``ref`` extracted into ``dest`` (made; must not exist); its full hash.

    Read-only for the repository: git archive reads objects, writes nothing.
    """
    commit = resolve_commit(ref, repo)
    proc = subprocess.run(["git", "archive", "--format=tar", commit], cwd=repo, capture_output=True,
                          timeout=GIT_TIMEOUT_SECONDS)
    if proc.returncode != 0:
        raise BaselineError(ref, f"git archive failed: {proc.stderr.decode(errors='replace').strip()[:500]}")
    if len(proc.stdout) > MAX_ARCHIVE_BYTES:
        raise BaselineError(ref, f"archive of {len(proc.stdout)} bytes exceeds {MAX_ARCHIVE_BYTES}")
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        tar.extractall(dest, filter="data")  # git's own paths; "data" refuses anything escaping dest
    return commit


def overlay_bench(tree: Path, bench: Path = REPO_ROOT / "bench") -> None:
    """Replace ``tree/bench`` with a symlink to today's ``bench``: the workload stays today's."""
    target = tree / "bench"
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        shutil.rmtree(target)
    target.symlink_to(bench.resolve(), target_is_directory=True)


def write_ledger_wrapper(root: Path, tree: Path, python: str = sys.executable) -> Path:
    """``root/bin/ledger``: the CLI of ``tree`` on this virtualenv's Python."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    wrapper = bin_dir / "ledger"
    wrapper.write_text(
        "#!/bin/sh\n"
        "# bench/common/baseline.py: the ledger CLI of an exported baseline commit\n"
        f'PYTHONPATH="{tree}${{PYTHONPATH:+:$PYTHONPATH}}" exec "{python}" -m client.cli "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


def prepare(ref: str, *, repo: Path = REPO_ROOT, parent: Path | None = None) -> BaselineTree:
    """Export ``ref`` and set it up to run today's benchmarks (the module docstring)."""
    root = Path(tempfile.mkdtemp(prefix="bench-baseline-", dir=parent))
    try:
        tree = root / "tree"
        commit = export_commit(ref, tree, repo)
        overlay_bench(tree)
        write_ledger_wrapper(root, tree)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return BaselineTree(commit=commit, ref=ref, root=root, tree=tree)


def probe(ledger: str, ready_timeout: float) -> dict[str, str]:
    """Where this process imports ``node`` from, and a started ``--dev`` node's client version."""
    # Here, not at the top: run_all imports this module and starts no node; what is probed
    # is the resolution of a process started as a step.
    import node
    from bench.common.nodes import dev_node, find_ledger
    from bench.common.rpc import Rpc

    with dev_node(find_ledger(ledger), prefix="baseline-probe-", ready_timeout=ready_timeout) as started:
        rpc = Rpc(started.url)
        try:
            version = str(rpc.call("web3_clientVersion"))
        finally:
            rpc.close()
    return {"node_package": str(Path(node.__file__ or "").parent), "client_version": version,
            "baseline": os.environ.get(BASELINE_ENV, "")}


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    cli.add_node_start(p)
    cli.add_figures_out(p)
    args = p.parse_args(argv)
    started = time.monotonic()
    found = probe(args.ledger, args.ready_timeout)
    print(json.dumps(found, indent=1))
    if args.figures_out is not None:  # run_all's shape, so run_all can run the probe as a step
        write_figures(args.figures_out, "baseline-probe",
                      [figure("baseline.probe_s", "s", [time.monotonic() - started], better="lower")], probe=found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
