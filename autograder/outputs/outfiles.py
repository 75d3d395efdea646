"""Writing generated files (exports, reports) so that a failure is one clear error, not a traceback."""

from __future__ import annotations

from pathlib import Path

from autograder.engine.errors import OutputError


def write_bytes(path: Path, data: bytes) -> None:
    """Write a generated file, creating its folder; OutputError with the reason when that fails."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as error:
        raise OutputError.from_os_error(path, error) from error
