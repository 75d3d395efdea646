"""Batch progress: a live bar with counts and ETA on a terminal, one parseable line per submission in CI."""

from __future__ import annotations

import io
import re

from activation import TESTS
from autograder.engine.language import Language
from autograder.engine.parallel import Outcome
from autograder.engine.progress import Progress
from autograder.engine.results import GradingResult, TestResult


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def outcome(student: str, score: float, error: str | None = None) -> Outcome:
    tests = [TestResult(spec, score if i == 0 else 0.0, 1.0, "") for i, spec in enumerate(TESTS)]
    return Outcome(student, GradingResult("nb.ipynb", tests, error=error), None, error, 1.25)


def test_ci_gets_one_parseable_line_per_submission(monkeypatch):
    monkeypatch.setenv("CI", "true")
    stream = Terminal()
    progress = Progress.for_stream(stream)
    assert not progress.live  # CI set: plain lines even on a terminal
    progress(1, 3, outcome("ana", 1.0))
    progress(2, 3, outcome("beto", 0.0, error="el archivo está vacío"))
    lines = stream.getvalue().splitlines()
    assert re.fullmatch(r"calificado 1/3 estudiante=ana nota=1/22 segundos=1\.2 eta=\d+s", lines[0])
    assert lines[1].startswith("calificado 2/3 estudiante=beto nota=error: el archivo está vacío")


def test_progress_lines_in_english_on_request(monkeypatch):
    monkeypatch.setenv("CI", "true")
    stream = Terminal()
    Progress.for_stream(stream, language=Language.EN)(1, 3, outcome("ana", 1.0))
    assert re.fullmatch(r"graded 1/3 student=ana score=1/22 seconds=1\.2 eta=\d+s\n", stream.getvalue())


def test_terminal_gets_one_redrawn_bar_with_eta(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    stream = Terminal()
    now = [100.0]
    progress = Progress.for_stream(stream, clock=lambda: now[0])
    assert progress.live
    now[0] += 10  # ten seconds in, one of four done: 30 s to go
    progress(1, 4, outcome("ana", 1.0))
    text = stream.getvalue()
    assert text.startswith("\r[") and "1/4" in text and " 25%" in text and "quedan 0:30" in text and not text.endswith("\n")
    progress(4, 4, outcome("dora", 1.0))
    assert stream.getvalue().endswith("\n")  # the last redraw leaves the line for the table below


def test_a_file_gets_plain_lines():
    progress = Progress.for_stream(io.StringIO())
    assert not progress.live
