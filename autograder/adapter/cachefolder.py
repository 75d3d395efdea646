"""The on-disk cache of registrations: where it is, and what stays in it (the most recently used, for a while).

Every course path, source version and configuration makes a new entry (about 200 KB), and nothing else removes
them: a machine that grades many courses, or runs this project's tests, would fill the folder for ever.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

KEEP_ENTRIES = 256  # the most recently used entries kept (about 50 MB)
KEEP_DAYS = 30  # an entry unused this long goes, however few there are
UNFINISHED_S = 3600.0  # a temporary file this old is a killed writer's (an entry is written in milliseconds)
TEMPORARY_SUFFIX = ".tmp"


def folder() -> Path:
    """$XDG_CACHE_HOME/autograder, or ~/.cache/autograder."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "autograder"


def used(entry: Path) -> None:
    """Mark an entry used now (its modification time), so that pruning keeps it; a cache that cannot be written only costs time."""
    try:
        os.utime(entry)
    except OSError:
        pass


def prune(where: Path, pattern: str, spare: Path) -> list[Path]:
    """Remove the entries matching `pattern` beyond the KEEP_ENTRIES most recently used or unused for KEEP_DAYS, and
    killed writers' temporary files; never `spare` (the one just written). What it removed; errors are skipped."""
    now = time.time()
    entries: list[tuple[float, Path]] = []
    doomed: list[Path] = []
    for path in where.glob(pattern):
        try:
            modified = path.stat().st_mtime
        except OSError:
            continue
        entries.append((modified, path))
    for path in where.glob(f"*{TEMPORARY_SUFFIX}"):
        try:
            if now - path.stat().st_mtime > UNFINISHED_S:
                doomed.append(path)
        except OSError:
            continue
    entries.sort(reverse=True)
    for rank, (modified, path) in enumerate(entries):
        if path != spare and (rank >= KEEP_ENTRIES or now - modified > KEEP_DAYS * 86400):
            doomed.append(path)
    removed = []
    for path in doomed:
        try:
            path.unlink()
            removed.append(path)
        except OSError:
            continue
    return removed
