"""The cohort report as data and plain text: the spread of total scores and, per part, scores, each test's pass rate
and which students made which mistakes."""

from __future__ import annotations

import statistics
import textwrap
from collections import Counter
from dataclasses import dataclass

from autograder.engine.language import DEFAULT_LANGUAGE, Language
from autograder.engine.lesson import Lesson, Part, TestSpec
from autograder.engine.mistakes import UNGRADABLE, UNNAMED, Mistake, labels
from autograder.engine.teacher_text import TeacherText, teacher_text
from autograder.outputs.cohort import Cohort, CohortEntry

# Mistake labels come from the engine's vocabulary (autograder.engine.mistakes) and the lesson's own, and every
# phrase from autograder.engine.teacher_text, in the teacher's language (autograder.engine.language).
WIDTH = 100


def mistake_label(name: str, part: Part, lesson: Lesson | None = None, language: Language = DEFAULT_LANGUAGE) -> str:
    """The short label of a mistake name in `language` (the lesson's own first); an unknown name is shown as it is."""
    known = lesson.labels(language) if lesson is not None else labels(language)
    if name == Mistake.REFERENCE_OP.value and part.spellings:
        return f"{known[name]} ({', '.join(part.spellings.split(', ')[:3])}...)"
    return known.get(name, name)


def histogram(scores: tuple[float, ...], max_score: float) -> tuple[tuple[float, int], ...]:
    """Students per score: every whole score from 0 to the maximum, and any other score someone got."""
    counts = Counter(scores)
    values = sorted(set(float(v) for v in range(int(max_score) + 1)) | set(counts))
    return tuple((value, counts.get(value, 0)) for value in values)


@dataclass(frozen=True)
class Distribution:
    """Graded students' scores out of a maximum: a part's, or the assignment's total."""

    max_score: float
    scores: tuple[float, ...]  # one per graded student; ungradable submissions are not in the distribution

    @property
    def histogram(self) -> tuple[tuple[float, int], ...]:
        return histogram(self.scores, self.max_score)

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
class MistakeCount:
    """One mistake in one part: who made it (each student once)."""

    name: str
    label: str
    names: tuple[str, ...]  # the students, sorted

    @property
    def students(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class TestPassRate:
    """How many graded students passed one test."""

    __test__ = False  # not a pytest test class

    spec: TestSpec
    passed: int
    graded: int

    @property
    def rate(self) -> float | None:
        return self.passed / self.graded if self.graded else None


@dataclass(frozen=True, kw_only=True)
class PartSummary(Distribution):
    """One part across the cohort: graded students' scores and pass rates, and the mistakes made (ungradable included)."""

    part: Part
    mistakes: tuple[MistakeCount, ...] = ()  # most common first
    tests: tuple[TestPassRate, ...] = ()  # in the lesson's order

    @property
    def pass_rate(self) -> float | None:
        """The share of graded students with every test of the part passed (full marks)."""
        return self.full_marks / len(self.scores) if self.scores else None


@dataclass(frozen=True)
class CohortReport:
    """The whole report: who is in it, the total scores, and one summary per part in the catalogue's order."""

    assignment: str
    students: int
    ungradable: int
    unreadable: int
    parts: tuple[PartSummary, ...]
    not_graded: tuple[tuple[str, str], ...] = ()  # (student, reason) of every ungradable submission
    review: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (student, reasons) of every submission to look at (Spanish)
    total: Distribution = Distribution(0.0, ())
    language: Language = DEFAULT_LANGUAGE

    @property
    def graded(self) -> int:
        return self.students - self.ungradable

    @property
    def text(self) -> TeacherText:
        return teacher_text(self.language)


def build_report(cohort: Cohort, language: Language = DEFAULT_LANGUAGE) -> CohortReport:
    """Summarise a cohort: score distributions of graded students, pass rates, and each mistake once per student and part."""
    parts = tuple(_summarise(cohort, part, language) for part in _parts(cohort))
    not_graded = tuple((e.student, e.reason or "") for e in cohort.entries if e.ungradable)
    review = tuple((e.student, e.review) for e in cohort.flagged)
    students, unreadable = len(cohort.entries), len(cohort.unreadable)
    maximum = max((e.result.max_score for e in cohort.entries), default=0.0)
    total = Distribution(maximum, tuple(e.result.score for e in cohort.graded))
    return CohortReport(cohort.assignment, students, len(not_graded), unreadable, parts, not_graded, review, total, language)


def _parts(cohort: Cohort) -> list[Part]:
    """The cohort's parts: its lesson's, in order (else those its results name)."""
    if cohort.lesson is not None:
        return list(cohort.lesson.parts)
    return list(dict.fromkeys(p.part for e in cohort.entries for p in e.result.parts()))


def _summarise(cohort: Cohort, part: Part, language: Language) -> PartSummary:
    max_score = max((p.max_score for e in cohort.entries for p in e.result.parts() if p.part == part), default=0.0)
    scores = tuple(p.score for e in cohort.graded for p in e.result.parts() if p.part == part)
    who: dict[str, list[str]] = {}
    for entry in cohort.entries:
        for name in student_mistakes(entry, part):
            who.setdefault(name, []).append(entry.student)
    named = {name: mistake_label(name, part, cohort.lesson, language) for name in who}
    ranked = sorted(who, key=lambda name: (-len(who[name]), named[name]))
    mistakes = tuple(MistakeCount(name, named[name], tuple(sorted(who[name]))) for name in ranked)
    return PartSummary(max_score, scores, part=part, mistakes=mistakes, tests=_pass_rates(cohort, part))


def _pass_rates(cohort: Cohort, part: Part) -> tuple[TestPassRate, ...]:
    """Per test of the part (the lesson's order, else the results'), how many graded students passed it."""
    specs = [spec for spec in cohort.lesson.tests if spec.part == part] if cohort.lesson is not None else list(
        dict.fromkeys(t.spec for e in cohort.entries for t in e.result.tests if t.spec.part == part)
    )
    passed: Counter[str] = Counter()
    graded: Counter[str] = Counter()
    for entry in cohort.graded:
        for test in entry.result.tests:
            graded[test.spec.grade_id] += 1
            passed[test.spec.grade_id] += test.passed
    return tuple(TestPassRate(spec, passed[spec.grade_id], graded[spec.grade_id]) for spec in specs)


def student_mistakes(entry: CohortEntry, part: Part) -> set[str]:
    """The distinct mistakes one student made in one part (just "ungradable" when the submission was not graded)."""
    if entry.ungradable:
        return {UNGRADABLE}
    return {t.mistake or UNNAMED for t in entry.result.tests if t.spec.part == part and not t.passed}


def score_text(value: float | None, words: TeacherText | None = None) -> str:
    """A score or statistic for people: 4, 1.5, 2.67 (1,5 and 2,67 in Spanish, given the words); "-" when there is none."""
    text = "-" if value is None else f"{value:.3g}" if value != int(value) else f"{value:g}"
    return text.replace(".", words.decimal) if words is not None else text


def percent_text(rate: float | None, words: TeacherText) -> str:
    """A share as people write it in the teacher's language ("60 %", "60%"); "-" when there is none."""
    return "-" if rate is None else words.percent.format(value=100 * rate)


def text_table(report: CohortReport, width: int = WIDTH) -> str:
    """The report as aligned plain text for a terminal, no line longer than `width` (lists of names wrap)."""
    words = report.text
    lines = [
        words.report_title.format(assignment=report.assignment),
        words.cohort_line.format(students=report.students, graded=report.graded, ungradable=report.ungradable, unreadable=report.unreadable),
        "",
        words.total_heading.format(maximum=score_text(report.total.max_score, words), graded=len(report.total.scores)),
        _stats_line(report.total, words),
        *_histogram_lines(report.total, words, width),
    ]
    label_width = min(60, width - 20)
    for summary in report.parts:
        maximum, graded = score_text(summary.max_score, words), len(summary.scores)
        lines += ["", words.part_heading.format(part=summary.part.name, maximum=maximum, graded=graded)]
        lines.append(_stats_line(summary, words))
        lines += _histogram_lines(summary, words, width)
        lines.append(f"  {words.tests_heading:<{label_width}}{words.passed:>12}{'%':>8}")
        for rate in summary.tests:
            lines.append(f"  {rate.spec.title[:label_width]:<{label_width}}{f'{rate.passed}/{rate.graded}':>12}{percent_text(rate.rate, words):>8}")
        lines.append(f"  {words.mistake + ' (' + words.counted_once + ')':<{label_width}}{words.students:>12}")
        for mistake in summary.mistakes:
            lines.append(f"  {mistake.label[:label_width]:<{label_width}}{mistake.students:>12}")
            lines += textwrap.wrap(
                ", ".join(mistake.names), width, initial_indent=f"    {words.who}: ", subsequent_indent="      ", break_on_hyphens=False
            )
        if not summary.mistakes:
            lines.append(f"  {words.no_mistakes}")
    if report.not_graded:
        lines += ["", f"{words.not_graded}:"]
        lines += [f"  {student}: {' '.join(reason.split())}" for student, reason in report.not_graded]
    lines += review_lines(report, width)
    return "\n".join(line[:width] for line in lines)


def _stats_line(distribution: Distribution, words: TeacherText) -> str:
    full = f"{distribution.full_marks} ({percent_text(distribution.full_marks / len(distribution.scores), words)})" if distribution.scores else "0"
    return (
        f"  {words.mean} {score_text(distribution.mean, words)}   {words.median} {score_text(distribution.median, words)}   "
        f"{words.full_marks} {full}   {words.zero} {distribution.zero}"
    )


def review_lines(report: CohortReport, width: int = WIDTH) -> list[str]:
    """The "Para revisar" section: each flagged student, then each reason, wrapped to the width (none when nobody is flagged)."""
    if not report.review:
        return []
    words = report.text
    lines = ["", f"{words.review_title}:", f"  {words.review_intro.format(count=len(report.review))}"]
    for student, reasons in report.review:
        lines.append(f"  {student}:")
        for reason in reasons:
            lines += textwrap.wrap(" ".join(reason.split()), width, initial_indent="    - ", subsequent_indent="      ") or ["    -"]
    return lines


def _histogram_lines(distribution: Distribution, words: TeacherText, width: int) -> list[str]:
    """Two aligned rows, score over students, wrapped to the width."""
    cell = 6
    per_row = max(1, (width - 14) // cell)
    pairs = distribution.histogram
    out = []
    for start in range(0, len(pairs), per_row):
        chunk = pairs[start : start + per_row]
        out.append(f"  {words.score:<12}" + "".join(f"{score_text(v, words):>{cell}}" for v, _ in chunk))
        out.append(f"  {words.students:<12}" + "".join(f"{n:>{cell}}" for _, n in chunk))
    return out
