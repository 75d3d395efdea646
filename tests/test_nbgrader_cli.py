"""Children started for nbgrader die with their parent, so a killed batch leaves nothing grading behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from conftest import ROOT


def test_a_child_dies_when_its_parent_is_killed():
    marker = "sleep 7771"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess\n"
            "from autograder.nbgrader_cli import _die_with_parent\n"
            f"subprocess.run({marker.split()!r}, preexec_fn=_die_with_parent)\n",
        ],
        cwd=ROOT,
    )
    deadline = time.monotonic() + 20
    while not _running(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _running(marker), "the child never started"
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while _running(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(marker)


def _running(command: str) -> bool:
    listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return any(line.strip() == command for line in listing.splitlines())
