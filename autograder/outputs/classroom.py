"""What a CI job shows for one graded notebook: the student's summary (Spanish Markdown) and the points Classroom reads.

GitHub Classroom's reporter action (`autograding-grading-reporter`, last version) announced a grade as two notice
annotations on the job, titled "Autograding complete" (`Points <score>/<max>`) and "Autograding report" (JSON with
`totalPoints` and `maxPoints`); `classroom_annotations` prints the same two workflow commands, so no third-party
action is needed to hand the score over.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

from autograder.engine import messages as msg
from autograder.engine.lesson import Visibility
from autograder.engine.errors import AutograderError, OutputError
from autograder.engine.results import GradingResult

# The longest test output quoted in a summary; GitHub caps a step summary at 1 MiB.
OUTPUT_CHARS = 2000


class ResultsFileError(AutograderError):
    """The results file a CI step was given cannot be read; `reason` says why (for the log, in English)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    @classmethod
    def missing(cls, path: Path) -> "ResultsFileError":
        return cls(path, "no results file (grading did not run or did not finish)")

    @classmethod
    def unreadable(cls, path: Path, error: Exception) -> "ResultsFileError":
        detail = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        return cls(path, f"not a results file ({detail})")


@dataclass(frozen=True)
class Points:
    """A notebook's grade as GitHub Classroom takes it: points out of the maximum."""

    score: float
    max_score: float

    @classmethod
    def of(cls, result: GradingResult) -> "Points":
        return cls(result.score, result.max_score)

    def text(self) -> str:
        """`Points 21.5/22`, the line Classroom parsed."""
        return f"Points {_number(self.score)}/{_number(self.max_score)}"


def load_result(path: Path) -> GradingResult:
    """The GradingResult in a results.json; ResultsFileError when it is missing or is not one."""
    path = Path(path)
    if not path.is_file():
        raise ResultsFileError.missing(path)
    try:
        return GradingResult.read(path)
    except (OSError, ValueError) as error:
        raise ResultsFileError.unreadable(path, error) from error


def step_summary(result: GradingResult) -> str:
    """The Markdown a student reads on the job's page: score per part, then the failed tests with their feedback."""
    points = Points.of(result)
    lines = [msg.SUMMARY_TITLE.format(score=_number(points.score), max_score=_number(points.max_score)), ""]
    if result.error:
        lines += [msg.SUMMARY_NOT_GRADED.format(reason=_one_line(result.error)), ""]
    lines += [f"| {msg.SUMMARY_PART} | {msg.SUMMARY_POINTS} |", "| --- | ---: |"]
    lines += [f"| {p.part.name} | {_number(p.score)} / {_number(p.max_score)} |" for p in result.parts()]
    lines += [f"| **{msg.SUMMARY_TOTAL}** | **{_number(points.score)} / {_number(points.max_score)}** |", ""]
    if result.error:
        return "\n".join(lines)
    # A CI job's grade is shown at once (it is published), so only tests a course made hidden stay out.
    failed = [t for t in result.tests if not t.passed and t.spec.visibility is not Visibility.HIDDEN]
    if failed:
        lines += [msg.SUMMARY_FAILED.format(count=len(failed)), ""]
    elif points.score >= points.max_score:
        lines += [msg.SUMMARY_ALL_PASSED, ""]
    for test in failed:
        title = html.escape(f"{test.spec.name} ({_number(test.score)} / {_number(test.max_score)})")
        lines += ["<details>", f"<summary>{title}</summary>", "", *_fenced(test.output), "", "</details>", ""]
    return "\n".join(lines)


def not_graded_summary(reason: str) -> str:
    """The Markdown a student reads when there is no result at all to show."""
    return "\n".join([msg.SUMMARY_TITLE_NONE, "", msg.SUMMARY_NOT_GRADED.format(reason=_one_line(reason)), ""])


def classroom_annotations(points: Points) -> list[str]:
    """The two workflow commands that announce the grade to GitHub Classroom, as its reporter action did."""
    report = json.dumps({"totalPoints": _json_number(points.score), "maxPoints": _json_number(points.max_score)}, separators=(",", ":"))
    return [
        f"::notice title=Autograding complete::{_escape_data(points.text())}",
        f"::notice title=Autograding report::{_escape_data(report)}",
    ]


def step_outputs(result: GradingResult) -> dict[str, str]:
    """The job step's outputs (for later steps or jobs): points, max-points, and whether the notebook was graded."""
    points = Points.of(result)
    return {"points": _number(points.score), "max-points": _number(points.max_score), "graded": str(not result.error).lower()}


def append_text(path: Path, text: str) -> None:
    """Append to a file GitHub Actions reads after the step ($GITHUB_STEP_SUMMARY, $GITHUB_OUTPUT)."""
    try:
        with Path(path).open("a", encoding="utf-8") as handle:
            handle.write(text if text.endswith("\n") else text + "\n")
    except OSError as error:
        raise OutputError.from_os_error(Path(path), error) from error


def outputs_text(outputs: dict[str, str]) -> str:
    """`name=value` lines, the $GITHUB_OUTPUT format for single-line values."""
    return "".join(f"{name}={value}\n" for name, value in outputs.items())


def _number(value: float) -> str:
    return f"{value:g}"


def _json_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _escape_data(text: str) -> str:
    """A workflow command's message, escaped as the Actions runner expects."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _fenced(text: str) -> list[str]:
    """A test's output as a Markdown code block no backticks in it can close."""
    text = text.rstrip()
    if len(text) > OUTPUT_CHARS:
        text = text[:OUTPUT_CHARS].rstrip() + "\n" + msg.SUMMARY_TRUNCATED
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}text", *text.splitlines(), fence]
