"""Run real nbgrader commands in the course directory, failing with one line instead of a log dump."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from nbgrader.api import Gradebook

from .errors import NbgraderCommandError


def ensure_tools_on_path() -> None:
    """Put our interpreter's bin/ first on PATH: nbgrader's Gradebook shells out to `alembic` by name."""
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if bindir not in path.split(os.pathsep):
        os.environ["PATH"] = bindir + (os.pathsep + path if path else "")


def open_gradebook(db_url: str) -> Gradebook:
    """nbgrader's Gradebook, with the `alembic` it shells out to reachable."""
    ensure_tools_on_path()
    return Gradebook(db_url)


def run_nbgrader(root: Path, *args: str, quiet: bool = True) -> subprocess.CompletedProcess[str]:
    """`nbgrader ARGS` from `root`, with the interpreter that runs us; raises NbgraderCommandError on failure."""
    ensure_tools_on_path()
    command = [sys.executable, "-m", "nbgrader", *args]
    if quiet:
        command.append("--log-level=WARN")
    completed = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if completed.returncode != 0:
        raise NbgraderCommandError(command[1:], completed.returncode, completed.stderr + completed.stdout)
    return completed
