"""Turns each graded test cell, just as it runs, into the stub's call with the grader's request.

The test cell's hidden region (`from autograder.hidden import check` / `check(...)`, kept in
solutions/) is replaced, only for the moment the cell is sent to the kernel, by one call of
`autograder_stub.runner.run()`, whose execute request carries the REQUEST in its content. The request holds inputs drawn from a secret made for this
grading; the secret and every request stay in `resources["autograder"]`, in the grader's process,
where Verify finds them to judge the kernel's records. The cell's own source is never changed.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from nbformat.notebooknode import NotebookNode
from nbgrader.utils import is_grade, is_solution

from autograder.engine.lesson import Lesson
from autograder_stub.protocol import RUN_CALL

# Where the grading's secret and requests live in nbconvert's resources (the grader's process only).
RESOURCES_KEY = "autograder"
SECRET_KEY = "inputs_secret"
REQUESTS_KEY = "requests"
SECRET_BYTES = 32

_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[^\n]*\n.*?^[ \t]*### END HIDDEN TESTS[^\n]*(\n|\Z)", re.M | re.S)
_CHECK_LINE = re.compile(r"^[ \t]*(from autograder\.hidden import check|check\(.*\))[ \t]*(#.*)?$\n?", re.M)


@dataclass
class Grading:
    """One grading's secret and the requests issued so far, by grade_id."""

    secret: bytes
    requests: dict[str, dict[str, Any]]

    @classmethod
    def of(cls, resources: dict[str, Any]) -> "Grading":
        """The grading these resources belong to; a new secret the first time."""
        store = resources.setdefault(RESOURCES_KEY, {})
        secret = store.setdefault(SECRET_KEY, secrets.token_bytes(SECRET_BYTES))
        return cls(secret, store.setdefault(REQUESTS_KEY, {}))


def is_catalogue_test(cell: NotebookNode, lesson: Lesson) -> bool:
    """A test cell of the lesson's catalogue (graded, not an answer): the grader decides it."""
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
    return cell.cell_type == "code" and is_grade(cell) and not is_solution(cell) and grade_id in lesson.by_grade_id


class RequestIssuer:
    """Issues one request per test cell of a grading (the same one again if the cell runs again)."""

    def __init__(self, resources: dict[str, Any], lesson: Lesson) -> None:
        self.grading = Grading.of(resources)
        self.lesson = lesson

    def code_for(self, cell: NotebookNode) -> str | None:
        """The code the kernel will run for a test cell (the same in every grading: the request is not in it); None for others."""
        return rewrite(cell.source) if is_catalogue_test(cell, self.lesson) else None

    def source_for(self, cell: NotebookNode) -> Issued | None:
        """What the kernel runs for this cell: the stub's call in place of the hidden tests, and its request; None for other cells."""
        if not is_catalogue_test(cell, self.lesson):
            return None
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        request = self.grading.requests.get(grade_id)
        if request is None:
            from autograder.engine.checks import plan  # torch loads only once a test cell runs (meanwhile the kernel works)

            request = self.grading.requests[grade_id] = plan(self.lesson, grade_id, self.grading.secret)
        return Issued(rewrite(cell.source), json.dumps(request, separators=(",", ":")))


@dataclass(frozen=True)
class Issued:
    """A test cell as the kernel gets it: the code, and the request its execute request carries (JSON text)."""

    code: str
    request: str


def only_the_stub(code: str) -> bool:
    """Whether a test cell's code (as `rewrite` makes it) runs nothing but the stub's call: no visible test calls the
    student's answer outside the stub's limits."""
    rest = code.removeprefix(RUN_CALL)
    return rest != code and all(not line.strip() or line.strip().startswith("#") for line in rest.splitlines())


def rewrite(source: str) -> str:
    """The source with its hidden tests replaced by the stub's call (first, before the visible tests)."""
    visible = _HIDDEN.sub("", source) if _HIDDEN.search(source) else _CHECK_LINE.sub("", source)
    return RUN_CALL + "\n" + visible
