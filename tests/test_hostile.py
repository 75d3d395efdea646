"""End to end: every hostile or faulty submission in tests/hostile/ gets exactly its score, and nothing escapes."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from conftest import connections_waiting

from activation import ASSIGNMENT, LESSON, PARTS
from autograder.engine.course import Course
from autograder.adapter.pipeline import grade_notebook
from hostile import build_hostile
from hostile.scenarios import ESCAPE_TEXT, LEAK_MARKER, SCENARIOS

HOSTILE = Path(__file__).resolve().parent / "hostile"
# Grading one notebook must end well under five minutes, whatever it does (a requirement, not a speed goal).
BOUND_SECONDS = 280
# What the failing tests of a fault must tell the student, in Spanish.
SAYS = {
    "os_exit_in_cell": "el núcleo se detuvo",
    "os_exit_when_called": "el núcleo se detuvo",
    "segfault_when_called": "el núcleo se detuvo",
    "infinite_loop_in_cell": "excedió el tiempo límite",
    "sigint_ignored_loop": "excedió el tiempo límite",
    "infinite_loop_when_called": "no terminó",
    "memory_hog": "memoria agotada",
    "memory_hog_when_called": "memoria agotada",
}


def leftovers(marks: build_hostile.Marks, settle: float = 30.0) -> list[str]:
    """Live processes the leftover_process scenario, rendered with these marks, left: its `sleep` or its daemon.

    Waits up to `settle` s for processes killed at the sandbox's close to finish exiting (a zombie has exited).
    """
    deadline = time.monotonic() + settle
    while True:
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                args = (proc / "cmdline").read_bytes().split(b"\0")
                comm = (proc / "comm").read_text().strip()
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            ours = tuple(a.decode(errors="replace") for a in args if a) == marks.leftover_command or comm == marks.leftover_comm
            if ours and state != "Z":
                found.append(f"{proc.name}: {comm}")
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def canary_places(course: Course) -> list[Path]:
    """Where write_outside tries to drop its canary, seen from the grader: absolute targets, home, course, /."""
    names = {Path(p).name for p in SCENARIOS["write_outside"].canary_file}
    folders = {Path("/tmp"), Path("/work"), Path.home(), Path("/"), course.root, course.root.parent, HOSTILE}
    return [folder / name for folder in folders for name in names]


def test_corpus_files_are_current():
    for name in SCENARIOS:
        assert (HOSTILE / f"{name}.ipynb").read_text() == build_hostile.render(name), f"run tests/hostile/build_hostile.py ({name})"


@pytest.mark.e2e
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_hostile_submission(name: str, course: Course, tmp_path: Path):
    scenario = SCENARIOS[name]
    with socket.socket() as listener:  # a TCP server on 127.0.0.1, on a port of its own; what connects waits in its backlog
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        notebook = HOSTILE / f"{name}.ipynb"
        marks = build_hostile.Marks.unique(port=listener.getsockname()[1])
        if scenario.listener or scenario.leftover_process:  # this run's own port and process names, not the committed ones
            notebook = tmp_path / notebook.name
            notebook.write_text(build_hostile.render(name, marks=marks), encoding="utf-8")
        before = _grader_peak()
        with _busy_cores(scenario.loaded):
            graded = grade_notebook(notebook, course, ASSIGNMENT, LESSON)
        grown = _grader_peak() - before
        received = connections_waiting(listener)

    parts = {part: 0.0 for part in PARTS}
    for test in graded.result.tests:
        parts[test.spec.part] += test.score
    assert {part.name: score for part, score in parts.items()} == scenario.expected, _failures(graded)
    assert graded.result.max_score == 22
    assert graded.result.execution_time < BOUND_SECONDS

    assert received == [], f"the sandbox let a connection through: {received}"
    for word in scenario.review:
        assert any(word in reason for reason in graded.result.review), (word, graded.result.review)
    if scenario.grader_memory_bytes:
        assert grown < scenario.grader_memory_bytes, f"the grader grew by {grown / 2**20:.0f} MiB"
    if scenario.leftover_process:
        assert not leftovers(marks)
    if scenario.reads_solutions:
        text = json.dumps(graded.notebook)
        assert LEAK_MARKER + " " not in text, "student code read an instructor file"
    if scenario.canary_file:
        escaped = [str(p) for p in canary_places(course) if p.exists() and ESCAPE_TEXT in _read(p)]
        assert not escaped, f"files written outside the sandbox: {escaped}"
    for test in graded.result.tests:  # no verdict leaks the kernel's raw traceback machinery
        assert "Traceback (most recent call last)" not in test.output
    if name in SAYS:
        failed = [t.output for t in graded.result.tests if t.score < t.max_score]
        assert failed and all(SAYS[name] in text for text in failed), failed


def _grader_peak() -> int:
    """The most memory this process (the grader) has held so far, in bytes."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@contextlib.contextmanager
def _busy_cores(enabled: bool):
    """Keep every core busy meanwhile (a loaded machine), with processes that die with the block."""
    spinners = []
    if enabled:
        for _ in range(os.cpu_count() or 2):
            spinners.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def _failures(graded) -> str:
    return "\n".join(f"{t.spec.grade_id}: {t.output[:300]}" for t in graded.result.tests if t.score < t.max_score)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


@pytest.mark.e2e
def test_plain_nbgrader_batch_is_just_as_safe(course: Course, tmp_path: Path):
    """`autograder autograde` runs plain `nbgrader autograde` with nbgrader_config.py: the same sandbox and verdicts."""
    from autograder.commands.autograde import autograde
    from staging import stage_course

    names = ["patch_torch_equal", "os_exit_in_cell", "test_cells_deleted"]
    scratch = stage_course(course, tmp_path / "course", [HOSTILE / f"{name}.ipynb" for name in names])
    batch = autograde(scratch, ASSIGNMENT, LESSON)
    assert batch.failures == {}
    rows = {row.student: row for row in batch.scores}
    for name in names:
        assert rows[name].parts == SCENARIOS[name].expected, name
        assert rows[name].max_score == 22
