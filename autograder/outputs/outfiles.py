"""Writing generated files (exports, reports) so that a failure is one clear error, not a traceback."""

from __future__ import annotations

import os
from pathlib import Path

from autograder.engine.errors import OutputError


def write_bytes(path: Path, data: bytes) -> None:
    """Write a generated file, creating its folder; OutputError with the reason when that fails."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as error:
        raise OutputError.from_os_error(path, error) from error


def current_umask() -> int:
    """The process umask (reading it means setting it; it is put straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
