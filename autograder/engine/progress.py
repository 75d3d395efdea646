"""Progress of a long batch: a live bar with counts and ETA on a terminal, one parseable line per submission elsewhere (CI logs)."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, TextIO

from autograder.engine.language import DEFAULT_LANGUAGE, Language
from autograder.engine.teacher_text import TeacherText, teacher_text

if TYPE_CHECKING:
    from autograder.engine.parallel import Outcome

BAR_WIDTH = 24


def _clock(seconds: float) -> str:
    seconds = int(round(max(0.0, seconds)))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


@dataclass
class Progress:
    """Called once per finished submission; `live` redraws one bar line, otherwise it prints one line per submission."""

    stream: TextIO
    live: bool
    clock: Callable[[], float] = time.monotonic  # seconds, for elapsed time and ETA
    text: TeacherText = teacher_text(DEFAULT_LANGUAGE)  # the instructor's language
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    @classmethod
    def for_stream(
        cls, stream: TextIO = sys.stderr, clock: Callable[[], float] = time.monotonic, language: Language = DEFAULT_LANGUAGE
    ) -> "Progress":
        """A live bar on a terminal; plain lines when output goes to a file or CI (CI set)."""
        live = bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("CI")
        return cls(stream, live, clock, teacher_text(language))

    def eta(self, done: int, total: int) -> float:
        """Seconds left at the average pace so far."""
        elapsed = self.clock() - self.started
        return elapsed / done * (total - done) if done else 0.0

    def __call__(self, done: int, total: int, outcome: "Outcome") -> None:
        elapsed = self.clock() - self.started
        if self.live:
            filled = BAR_WIDTH * done // max(total, 1)
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            when = self.text.progress_bar.format(elapsed=_clock(elapsed), eta=_clock(self.eta(done, total)))
            line = f"\r[{bar}] {done}/{total} {100 * done // max(total, 1):3d}%  {when}"
            self.stream.write(line + ("\n" if done == total else ""))
        else:
            result = outcome.result
            status = f"error: {outcome.error}" if outcome.error else f"{result.score:g}/{result.max_score:g}"
            line = self.text.progress_line.format(
                done=done, total=total, student=outcome.student, status=status, seconds=outcome.seconds, eta=self.eta(done, total)
            )
            self.stream.write(line + "\n")
        self.stream.flush()
