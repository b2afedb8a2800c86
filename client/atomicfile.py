"""Files replaced atomically and durably: the signing service's records, the feed's state."""
from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data`: a temporary file beside it (created with `mode`),
    fsynced, renamed over it, the directory fsynced. A crash leaves the old content or
    the new, never a mix."""
    _publish(path, data, mode, os.replace)


def create_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create `path` holding `data`, never replacing a file: a temporary file beside it,
    fsynced, hard-linked to `path` (FileExistsError if `path` exists), the directory
    fsynced. A crash leaves no file or the whole one."""
    _publish(path, data, mode, os.link)


def _publish(path: Path, data: bytes, mode: int, put: Callable[[Path, Path], None]) -> None:
    """`data` in a fsynced temporary file beside `path`, then `put(temp, path)` (rename or
    link), the temporary name removed if it is still there, the directory fsynced."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        put(temp, path)
    finally:
        temp.unlink(missing_ok=True)  # after a rename it is gone; after a link, a second name
    fsync_dir(path)


def fsync_dir(path: Path) -> None:
    """Make a file's creation or renaming durable (its directory entry)."""
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
