"""What tests compare a directory by: every file's size, mode, mtime and content hash."""
from __future__ import annotations

import hashlib
from pathlib import Path


def fingerprint(root: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every file under `root`: (size, mode, mtime in ns, SHA-256), by relative path."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            info = path.stat()
            found[str(path.relative_to(root))] = (info.st_size, info.st_mode, info.st_mtime_ns,
                                                  hashlib.sha256(path.read_bytes()).hexdigest())
    return found
