"""README.md runs as written: every command block, in order, against a fresh dev node.

The blocks are parsed out of README.md as it stands (an edited README is what is tested)
and run as a new user runs them: in a copy of what a fresh clone holds (tracked files and
untracked ones git does not ignore, with the repository's .venv linked in), in one bash,
each ```sh block as typed, each ```python block as the script the README says to save
and run. The only substitutions are the ones the README tells a reader to make: the port
8545 (the dev node) and 8547 (the node of "A network of your own") become free ports.
The test starts the dev node itself, as `./scripts/dev-node` does, on a free port.

An HTML comment on the line above a block says how the test treats it:
`<!-- readme-test: skip (why) -->` leaves it out (only the dev-node and test-suite
commands: `ALLOWED_SKIPS`), `<!-- readme-test: background until URL answers -->` runs it
in the background (a node a reader starts in another terminal), waits until URL answers,
and stops it at the end. A failure names the block, its README line and its output.

The checks that need no node (the README and docs/architecture.md stand alone, and every
module, path and document they name exists) run first and fast.
"""
from __future__ import annotations

import ast
import contextlib
import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.nodeproc import NodeProcess, free_port

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
ARCHITECTURE = REPO / "docs" / "architecture.md"

# Info strings of fenced blocks the test runs; `text` blocks (diagrams, output) are shown only.
SHELL_LANGS = frozenset({"sh", "bash", "shell", "console"})
RUN_LANGS = SHELL_LANGS | {"python"}
SHOWN_LANGS = frozenset({"text", "json", "mermaid"})
# The only blocks a reader runs that the test must not: the dev node (the test starts the
# same node on a free port) and the whole test suite (this test is part of it).
ALLOWED_SKIPS = frozenset({"./scripts/dev-node", "./scripts/test"})
# The example ports the README tells a reader to replace if taken.
# and 3161: the TSA of the evidence walk-through; 8549: the node of "A national-crypto (国密) network".
README_PORTS = ("8545", "8547", "3161", "8549")
# Generous bounds for a 2-core machine shared with other tests (not timings under test; the
# run stays inside pytest-timeout's 600 s so that the finalizers stop every node):
# the whole README (a 5-node cluster included) and one background node becoming ready.
RUN_DEADLINE_SECONDS = 480
READY_DEADLINE_SECONDS = 90
STOP_DEADLINE_SECONDS = 30
OUTPUT_TAIL_CHARS = 4000

MARKER = re.compile(r"^<!--\s*readme-test:\s*(?P<kind>skip|background)\b(?P<detail>.*?)-->\s*$")
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\s*$")
BLOCK_START = re.compile(r"^::readme-block (\d+)::$", re.MULTILINE)
OUR_PACKAGES = ("node", "client", "evidence", "chaincode")
# `client.anchor_batch` is a name of our code; `node.json` is a file.
DOTTED_NAME = re.compile(r"^(?:node|client|evidence|chaincode)(?:\.\w+)+$(?<!\.json)(?<!\.md)(?<!\.py)")
REPO_PATH = re.compile(r"^[\w.-]+(?:/[\w.-]+)*/?$")
URL = re.compile(r"\bhttps?://[^\s`'\")>]+")
LOOPBACK_URL = re.compile(r"^https?://(?:127\.0\.0\.1|localhost|\[::1\])(?::\d+)?(?:/|$)")
MARKDOWN_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
INLINE_CODE = re.compile(r"`([^`\n]+)`")


@dataclass(frozen=True)
class Block:
    number: int      # 1-based, among all fenced blocks of the document
    line: int        # the line of its opening fence
    heading: str     # the section it is in
    lang: str
    text: str
    marker: str      # "", "skip" or "background"
    detail: str      # the marker's words: a reason, or "until URL answers"

    def describe(self) -> str:
        return f"README.md block {self.number} (line {self.line}, section {self.heading!r})"

    def commands(self) -> str:
        """What a reader types: a console block's `$ ` lines, any other block whole."""
        if self.lang != "console":
            return self.text
        typed: list[str] = []
        continued = False
        for line in self.text.splitlines():
            if continued:
                typed.append(line)
            elif line.startswith("$ "):
                typed.append(line[2:])
            else:
                continue  # output shown after a command
            continued = line.rstrip().endswith("\\")
        return "\n".join(typed) + "\n"


def parse_blocks(markdown: str) -> list[Block]:
    """Every fenced block of `markdown`, with the marker on the line above it (if any)."""
    blocks: list[Block] = []
    lines = markdown.splitlines()
    heading = "(top)"
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        fence = FENCE.match(line)
        if fence is None:
            index += 1
            continue
        start = index
        index += 1
        body: list[str] = []
        while index < len(lines) and lines[index].rstrip() != "```":
            body.append(lines[index])
            index += 1
        assert index < len(lines), f"README.md line {start + 1}: a fence that is never closed"
        marker = MARKER.match(lines[start - 1]) if start > 0 else None
        blocks.append(Block(
            number=len(blocks) + 1, line=start + 1, heading=heading, lang=fence["lang"],
            text="\n".join(body) + "\n", marker=marker["kind"] if marker else "",
            detail=marker["detail"].strip() if marker else "",
        ))
        index += 1
    return blocks


def indented_code_lines(markdown: str) -> list[int]:
    """Lines that start an indented (4-space) code block outside fences: a command there
    would escape this test, so the README writes every command in a fenced block."""
    found = []
    in_fence = False
    previous = ""
    for number, line in enumerate(markdown.splitlines(), 1):
        if FENCE.match(line) or (in_fence and line.rstrip() == "```"):
            in_fence = not in_fence
        elif not in_fence and re.match(r"^(?: {4}|\t)\S", line) and not previous.strip():
            found.append(number)
        previous = line
    return found


def substitute_ports(text: str, ports: dict[str, int]) -> str:
    for example, port in ports.items():
        text = re.sub(rf"\b{example}\b", str(port), text)
    return text


def ready_url(block: Block) -> str:
    match = re.fullmatch(r"until (\S+) answers", block.detail)
    assert match, f"{block.describe()}: a background marker says `until URL answers`, got {block.detail!r}"
    return match[1]


def resolve_dotted(name: str) -> object:
    """Import the longest module prefix of `name`, then look the rest up as attributes."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            target = getattr(target, attribute)
        return target
    raise ModuleNotFoundError(name)


def named_modules(markdown: str) -> list[str]:
    """Dotted names of our code in inline code (`client.ledger.Ledger`)."""
    return sorted({m for m in INLINE_CODE.findall(markdown) if DOTTED_NAME.match(m)})


def named_paths(markdown: str) -> list[str]:
    """Repository paths in inline code and links: those under a top-level entry a clone has,
    and the modules a table row lists for the directory in its first cell (`vm.py` in the
    row of `node/execution/`)."""
    tops = {p.name for p in REPO.iterdir() if p.name not in {"data", "demo"} and not p.name.startswith(".")}
    candidates = set(INLINE_CODE.findall(markdown)) | set(MARKDOWN_LINK.findall(markdown))
    for row in re.findall(r"^\| `([\w/]+/)` \|.*\| (.*) \|$", markdown, re.MULTILINE):
        candidates |= {row[0] + name for name in INLINE_CODE.findall(row[1]) if re.fullmatch(r"[\w.-]+(?:\.py|/)", name)}
    paths = set()
    for candidate in candidates:
        token = candidate.split("#")[0].split(" ")[0]
        if "/" in token and REPO_PATH.match(token) and token.split("/")[0] in tops:
            paths.add(token)
    return sorted(paths)


# -- the checks that need no node ---------------------------------------------------------

def test_every_command_block_is_fenced_marked_and_runnable() -> None:
    markdown = README.read_text()
    assert indented_code_lines(markdown) == [], "indented code blocks in README.md (use ```sh fences)"
    blocks = parse_blocks(markdown)
    assert any(b.lang in RUN_LANGS and not b.marker for b in blocks)
    for block in blocks:
        assert block.lang in RUN_LANGS | SHOWN_LANGS, f"{block.describe()}: unknown or missing language {block.lang!r}"
        if block.marker == "skip":
            assert block.detail, f"{block.describe()}: a skip says why"
            assert block.commands().strip() in ALLOWED_SKIPS, (
                f"{block.describe()}: only {sorted(ALLOWED_SKIPS)} may be skipped; run this one or change the test")
        if block.marker == "background":
            assert block.lang in SHELL_LANGS
            ready_url(block)
    markers = [n for n, line in enumerate(markdown.splitlines(), 1) if "readme-test:" in line]
    assert len(markers) == sum(1 for b in blocks if b.marker), f"a readme-test marker not above a block: lines {markers}"


@pytest.mark.parametrize("document", [README, ARCHITECTURE], ids=lambda p: p.name)
def test_document_stands_alone_and_names_what_exists(document: Path) -> None:
    markdown = document.read_text()
    outside = [u for u in URL.findall(markdown) if not LOOPBACK_URL.match(u)]
    assert outside == [], f"{document.name} points outside the repository: {outside}"
    for target in MARKDOWN_LINK.findall(markdown):
        assert not target.startswith(("/", "..")) or (document.parent / target).resolve().is_relative_to(REPO), target
    missing_paths = [p for p in named_paths(markdown) if not (REPO / p.rstrip("/")).exists()]
    assert missing_paths == [], f"{document.name} names paths that do not exist: {missing_paths}"
    missing_names = []
    for name in named_modules(markdown):
        try:
            resolve_dotted(name)
        except (ImportError, AttributeError):
            missing_names.append(name)
    assert missing_names == [], f"{document.name} names modules or objects that do not exist: {missing_names}"


# node/ modules every room may import, which import only each other: left out of the table.
NODE_SHARED = frozenset({"errors", "fields", "api"})
IMPORT_TABLE_MARKER = "<!-- import-table"


def room_of(module: str) -> str | None:
    """The package or room of a dotted module name, as docs/architecture.md's table names it."""
    parts = module.split(".")
    if parts[0] not in OUR_PACKAGES:
        return None
    if parts[0] != "node":
        return parts[0]
    if len(parts) == 1 or parts[1] in NODE_SHARED:
        return None
    return f"node/{parts[1]}" if (REPO / "node" / parts[1]).is_dir() else f"node/{parts[1]}.py"


def import_graph() -> dict[str, set[str]]:
    """Every room and the other rooms its modules import (anywhere in a module)."""
    graph: dict[str, set[str]] = {}
    for package in OUR_PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            relative = path.relative_to(REPO).with_suffix("")
            module = ".".join(relative.parts[:-1] if relative.name == "__init__" else relative.parts)
            source = room_of(module)
            if source is None:
                continue
            targets = graph.setdefault(source, set())
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    base = module.split(".")
                    if node.level:  # relative: from the module's own package upwards
                        base = base[: len(base) - node.level + (1 if relative.name == "__init__" else 0)]
                        names = [".".join([*base, node.module] if node.module else base)]
                    elif node.module:
                        names = [node.module]
                for name in names:
                    target = room_of(name)
                    if target is not None and target != source:
                        targets.add(target)
    return graph


def documented_graph(markdown: str) -> dict[str, set[str]]:
    """The rows of the table under the import-table marker: room -> the rooms it imports."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(IMPORT_TABLE_MARKER))
    graph: dict[str, set[str]] = {}
    for line in lines[start + 1:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        names = INLINE_CODE.findall(cells[0])
        if len(cells) == 2 and names:
            graph[names[0]] = set(INLINE_CODE.findall(cells[1]))
    return graph


def test_architecture_import_table_is_the_code() -> None:
    documented, actual = documented_graph(ARCHITECTURE.read_text()), import_graph()
    wrong = {room: {"documented": sorted(documented.get(room, set())), "code": sorted(actual.get(room, set()))}
             for room in sorted(set(documented) | set(actual)) if documented.get(room) != actual.get(room)}
    assert wrong == {}, f"docs/architecture.md's import table differs from the code: {wrong}"


# -- the README, run ----------------------------------------------------------------------

def fresh_clone(destination: Path) -> Path:
    """What a clone of the working tree holds (tracked and not-ignored files), .venv linked."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for relative in filter(None, listed):
        source = REPO / relative
        if not source.is_file():
            continue  # deleted or moved in the working tree
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    (destination / ".venv").symlink_to(REPO / ".venv")
    return destination


def user_environment() -> dict[str, str]:
    """The caller's environment without our settings or venv: the README sets up its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_") and k != "VIRTUAL_ENV"}
    venv_bin = str(REPO / ".venv" / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin)
    return env


def script_for(blocks: list[Block], ports: dict[str, int], logs: Path) -> str:
    """One bash script that runs the blocks in order; `::readme-block N::` marks each start."""
    out = [
        "set -eo pipefail",
        "README_TOP=$PWD",
        # A background block's readiness: poll its URL until it answers, it exits, or the deadline.
        "readme_wait() {",
        f"  local deadline=$((SECONDS + {READY_DEADLINE_SECONDS}))",
        "  until curl -fsS -o /dev/null \"$1\" 2>/dev/null; do",
        "    kill -0 \"$2\" 2>/dev/null || { echo \"the background block exited; its log:\" >&2; cat \"$3\" >&2; return 1; }",
        "    [ \"$SECONDS\" -lt \"$deadline\" ] || { echo \"$1 did not answer in time\" >&2; return 1; }",
        "    sleep 0.2",
        "  done",
        "}",
    ]
    for block in blocks:
        if block.lang not in RUN_LANGS or block.marker == "skip":
            continue
        text = substitute_ports(block.commands(), ports)
        out.append(f"printf '\\n::readme-block {block.number}::\\n'")  # on a line of its own after curl's output
        if block.marker == "background":
            path, log = logs / f"block-{block.number}.sh", logs / f"block-{block.number}.log"
            path.write_text(text)
            # Another terminal: the top of the repository, the venv activated.
            out.append(f"( cd \"$README_TOP\" && source .venv/bin/activate && exec bash -e '{path}' ) "
                       f"> '{log}' 2>&1 < /dev/null &")
            out.append(f"readme_wait '{substitute_ports(ready_url(block), ports)}' $! '{log}'")
        elif block.lang == "python":
            out += ["python - <<'README_PYTHON_EOF'", text.rstrip("\n"), "README_PYTHON_EOF"]
        else:
            out.append(text.rstrip("\n"))
    out.append("printf '\\n::readme-block done::\\n'")
    return "\n".join(out) + "\n"


def failed_block(blocks: list[Block], output: str) -> str:
    starts = BLOCK_START.findall(output)
    if not starts:
        return "before the first block"
    block = next(b for b in blocks if b.number == int(starts[-1]))
    return f"{block.describe()}:\n{block.text}"


@pytest.fixture()
def workspace(tmp_path: Path) -> Iterator[Path]:
    top = fresh_clone(tmp_path / "clone")
    try:
        yield top
    finally:
        cluster = top / "data" / "cluster"
        if (cluster / "cluster.json").exists():  # a run that failed between `cluster up` and `down`
            subprocess.run([sys.executable, "-m", "client.cli", "cluster", "down", "--dir", str(cluster)],
                           cwd=REPO, capture_output=True, timeout=120, check=False)
            _stop_cluster_nodes(cluster)  # in case `down` itself could not run


def _stop_cluster_nodes(cluster: Path) -> None:
    """SIGTERM, then SIGKILL, each node cluster.json lists as running: the cluster's nodes
    run in sessions of their own, out of reach of the shell's process group. A pid is
    signalled only while its command line still names the node's data directory."""
    layout = json.loads((cluster / "cluster.json").read_text())
    pids = []
    for node in layout.get("nodes", []):
        pid, data_dir = node.get("pid"), str(cluster / node["data_dir"])
        try:
            if pid and data_dir in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                pids.append(pid)
        except OSError:
            continue  # not running
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + STOP_DEADLINE_SECONDS
        while pids and time.monotonic() < deadline:
            pids = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
            time.sleep(0.1)


@pytest.mark.slow
def test_readme_runs_as_written(workspace: Path, tmp_path: Path) -> None:
    if shutil.which("openssl") is None:  # .ci/run installs it; a bare machine may lack it
        pytest.skip("the README's national-crypto walk-through runs the openssl command line, not installed here")
    blocks = parse_blocks(README.read_text())
    ports = {example: free_port() for example in README_PORTS}
    logs = tmp_path / "logs"
    logs.mkdir()
    script = logs / "readme.sh"
    script.write_text(script_for(blocks, ports, logs))
    (workspace / "data").mkdir()
    # The dev node, as ./scripts/dev-node starts it (`ledger node start --dev`, data in ./data/dev).
    node = NodeProcess(workspace / "data" / "dev", ports["8545"]).start()
    shell: subprocess.Popen[str] | None = None
    try:
        # Its own session, so that the background blocks' nodes stop with it.
        shell = subprocess.Popen(["bash", "--noprofile", "--norc", str(script)], cwd=workspace, env=user_environment(),
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, start_new_session=True)
        try:
            output, _ = shell.communicate(timeout=RUN_DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(shell.pid, signal.SIGKILL)
            output, _ = shell.communicate()
            pytest.fail(f"README.md did not finish in {RUN_DEADLINE_SECONDS} s, stuck in {failed_block(blocks, output)}\n"
                        f"output:\n{output[-OUTPUT_TAIL_CHARS:]}")
        assert shell.returncode == 0 and output.rstrip().endswith("::readme-block done::"), (
            f"{failed_block(blocks, output)}\nexit {shell.returncode}; output:\n{output[-OUTPUT_TAIL_CHARS:]}")
        ran = {int(n) for n in BLOCK_START.findall(output)}
        assert ran == {b.number for b in blocks if b.lang in RUN_LANGS and b.marker != "skip"}
        # What the walk-throughs say happens, not only exit codes.
        assert "VALID:" in output, "the evidence receipt was not verified"
        assert "Effective" in output, "the contract did not become Effective"
        assert '"cryptoProfile":"gm"' in output, "the national-crypto network does not say its profile"
    finally:
        if shell is not None:
            _stop_group(shell.pid)
        node.stop()


def _stop_group(pgid: int) -> None:
    """SIGTERM whatever the README left running in the shell's session (background nodes),
    then SIGKILL what is still there at the deadline."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
