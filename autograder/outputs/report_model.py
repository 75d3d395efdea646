"""The cohort report as data and plain text: per part, how scores are spread and which mistakes students made most."""

from __future__ import annotations

import statistics
import textwrap
from collections import Counter
from dataclasses import dataclass

from autograder.engine import messages
from autograder.outputs.cohort import Cohort, CohortEntry
from autograder.engine.lesson import Lesson, Part
from autograder.engine.mistakes import LABELS, UNGRADABLE, UNNAMED, Mistake

# Mistake labels come from the engine's vocabulary (autograder.engine.mistakes) and the lesson's own.
COUNTED_ONCE = "each student counted once per part"
WIDTH = 100


def mistake_label(name: str, part: Part, lesson: Lesson | None = None) -> str:
    """The short English label of a mistake name (the lesson's own first); an unknown name is shown as it is."""
    labels = lesson.mistake_labels if lesson is not None else LABELS
    if name == Mistake.REFERENCE_OP.value and part.spellings:
        return f"{labels[name]} ({', '.join(part.spellings.split(', ')[:3])}...)"
    return labels.get(name, name)


@dataclass(frozen=True)
class MistakeCount:
    """How many students made one mistake in one part."""

    name: str
    label: str
    students: int


@dataclass(frozen=True)
class PartSummary:
    """One part across the cohort: graded students' scores, and the mistakes made (ungradable submissions included)."""

    part: Part
    max_score: float
    scores: tuple[float, ...]  # one per graded student; ungradable submissions are not in the distribution
    mistakes: tuple[MistakeCount, ...]  # most common first

    @property
    def histogram(self) -> tuple[tuple[float, int], ...]:
        """Students per score: every whole score from 0 to the maximum, and any other score someone got."""
        counts = Counter(self.scores)
        values = sorted(set(float(v) for v in range(int(self.max_score) + 1)) | set(counts))
        return tuple((value, counts.get(value, 0)) for value in values)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.scores) if self.scores else None

    @property
    def median(self) -> float | None:
        return statistics.median(self.scores) if self.scores else None

    @property
    def full_marks(self) -> int:
        return sum(1 for s in self.scores if s >= self.max_score)

    @property
    def zero(self) -> int:
        return sum(1 for s in self.scores if s == 0)


@dataclass(frozen=True)
class CohortReport:
    """The whole report: who is in it and one summary per part, in the catalogue's order."""

    assignment: str
    students: int
    ungradable: int
    unreadable: int
    parts: tuple[PartSummary, ...]
    not_graded: tuple[tuple[str, str], ...] = ()  # (student, reason) of every ungradable submission
    review: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (student, reasons) of every submission to look at (Spanish)

    @property
    def graded(self) -> int:
        return self.students - self.ungradable


def build_report(cohort: Cohort) -> CohortReport:
    """Summarise a cohort: score distributions of graded students, and each mistake counted once per student and part."""
    parts = tuple(_summarise(cohort, part) for part in _parts(cohort))
    not_graded = tuple((e.student, e.reason or "") for e in cohort.entries if e.ungradable)
    review = tuple((e.student, e.review) for e in cohort.flagged)
    students, unreadable = len(cohort.entries), len(cohort.unreadable)
    return CohortReport(cohort.assignment, students, len(not_graded), unreadable, parts, not_graded, review)


def _parts(cohort: Cohort) -> list[Part]:
    """The cohort's parts: its lesson's, in order (else those its results name)."""
    if cohort.lesson is not None:
        return list(cohort.lesson.parts)
    return list(dict.fromkeys(p.part for e in cohort.entries for p in e.result.parts()))


def _summarise(cohort: Cohort, part: Part) -> PartSummary:
    max_score = max((p.max_score for e in cohort.entries for p in e.result.parts() if p.part == part), default=0.0)
    scores = tuple(p.score for e in cohort.graded for p in e.result.parts() if p.part == part)
    counts: Counter[str] = Counter()
    for entry in cohort.entries:
        counts.update(student_mistakes(entry, part))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], mistake_label(item[0], part, cohort.lesson)))
    mistakes = tuple(MistakeCount(name, mistake_label(name, part, cohort.lesson), n) for name, n in ranked)
    return PartSummary(part, max_score, scores, mistakes)


def student_mistakes(entry: CohortEntry, part: Part) -> set[str]:
    """The distinct mistakes one student made in one part (just "ungradable" when the submission was not graded)."""
    if entry.ungradable:
        return {UNGRADABLE}
    return {t.mistake or UNNAMED for t in entry.result.tests if t.spec.part == part and not t.passed}


def score_text(value: float | None) -> str:
    """A score or statistic for people: 4, 1.5, 2.67; "-" when there is none."""
    return "-" if value is None else f"{value:.3g}" if value != int(value) else f"{value:g}"


def text_table(report: CohortReport, width: int = WIDTH) -> str:
    """The report as aligned plain text for a terminal, no line longer than `width`."""
    lines = [
        f"Cohort report: {report.assignment}",
        f"{report.students} students: {report.graded} graded, {report.ungradable} ungradable "
        f"({report.unreadable} of them unreadable results files)",
    ]
    for summary in report.parts:
        maximum, graded = score_text(summary.max_score), len(summary.scores)
        lines += ["", f"{summary.part.name} (max {maximum}): scores of {graded} graded students"]
        lines.append(
            f"  mean {score_text(summary.mean)}   median {score_text(summary.median)}   "
            f"full marks {summary.full_marks}   zero {summary.zero}"
        )
        lines += _histogram_lines(summary, width)
        label_width = min(60, width - 12)
        lines.append(f"  {'mistake (' + COUNTED_ONCE + ')':<{label_width}}{'students':>10}")
        for mistake in summary.mistakes:
            lines.append(f"  {mistake.label[:label_width]:<{label_width}}{mistake.students:>10}")
        if not summary.mistakes:
            lines.append("  (no mistakes)")
    if report.not_graded:
        lines += ["", "not graded:"]
        lines += [f"  {student}: {' '.join(reason.split())}" for student, reason in report.not_graded]
    lines += review_lines(report, width)
    return "\n".join(line[:width] for line in lines)


def review_lines(report: CohortReport, width: int = WIDTH) -> list[str]:
    """The "Para revisar" section: each flagged student, then each reason, wrapped to the width (none when nobody is flagged)."""
    if not report.review:
        return []
    lines = ["", f"{messages.REPORT_REVIEW_TITLE}:", f"  {messages.REPORT_REVIEW_INTRO.format(count=len(report.review))}"]
    for student, reasons in report.review:
        lines.append(f"  {student}:")
        for reason in reasons:
            lines += textwrap.wrap(" ".join(reason.split()), width, initial_indent="    - ", subsequent_indent="      ") or ["    -"]
    return lines


def _histogram_lines(summary: PartSummary, width: int) -> list[str]:
    """Two aligned rows, score over students, wrapped to the width."""
    cell = 6
    per_row = max(1, (width - 12) // cell)
    pairs = summary.histogram
    out = []
    for start in range(0, len(pairs), per_row):
        chunk = pairs[start : start + per_row]
        out.append(f"  {'score':<10}" + "".join(f"{score_text(v):>{cell}}" for v, _ in chunk))
        out.append(f"  {'students':<10}" + "".join(f"{n:>{cell}}" for _, n in chunk))
    return out
