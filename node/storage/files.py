"""The private data directory's files: modes, tightening, private writes.

A node's data directory is private to the user it runs as: directories 0700, files 0600
(`PRIVATE_DIR_MODE`, `PRIVATE_FILE_MODE`). It holds the validator and TLS keys, and the
chain database is the record that the node's own verification vouches for. `make_private`
removes group and other access from a directory tree (on init and on start: a directory
made by an older version, or by hand, is tightened and that is logged, not refused).
LevelDB creates its files with mode 0666 less the process umask, and `LevelStore` opens
it under the umask `PRIVATE_UMASK`, so the files made at open are 0600. The umask is
process-wide, so setting it briefly makes any file another thread creates meanwhile
stricter, never looser; files LevelDB makes later (compaction) follow the process umask
— they are inside a 0700 directory either way, and the next start tightens them.

Kept apart from store.py (plyvel, py-evm) so config and CLI code can write private files
cheaply.
"""
from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("ledger.storage")

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
PRIVATE_UMASK = 0o077       # what turns LevelDB's 0666 into 0600 and 0777 into 0700
# make_private's log line names this many of the paths it changed, then counts the rest.
LOGGED_PATHS = 5

def make_private(root: Path) -> list[Path]:
    """Remove group and other access from `root` and everything under it (owner bits
    stay); return the paths changed, after logging them at WARNING. Symbolic links
    inside are neither followed nor changed; `root` itself may be one (the operator
    chose it). A mode that cannot be changed (a file of another user) is logged at
    WARNING and left: a node never refuses to start over a mode."""
    changed: list[Path] = []

    def tighten(path: Path, mode: int) -> None:
        if mode & 0o077:
            try:
                os.chmod(path, stat.S_IMODE(mode) & ~0o077)
            except OSError as exc:
                log.warning("cannot remove group/other access from %s: %s", path, exc.strerror)
                return
            changed.append(path)

    try:
        root_mode = os.stat(root).st_mode
    except OSError as exc:   # absent: nothing to tighten; unreadable: opening it will say so
        log.debug("cannot inspect %s: %s", root, exc.strerror)
        return changed
    tighten(root, root_mode)
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        for entry in (*dirnames, *filenames):
            path = Path(directory) / entry
            try:
                info = os.lstat(path)
            except FileNotFoundError:   # removed meanwhile (LevelDB deletes old files)
                continue
            if stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode):
                tighten(path, info.st_mode)
    if changed:
        shown = ", ".join(str(path) for path in changed[:LOGGED_PATHS])
        more = f" and {len(changed) - LOGGED_PATHS} more" if len(changed) > LOGGED_PATHS else ""
        log.warning("removed group/other access from %d path(s) of the private data directory %s: %s%s",
                    len(changed), root, shown, more)
    return changed


def write_private_file(path: Path, content: bytes) -> None:
    """A new file (FileExistsError if there is one) with mode 0600 from the start: never
    readable by others, even briefly."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Files and directories created meanwhile (by this process) get no group/other access."""
    previous = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(previous)
