"""Decide each graded test cell in the grader's own process, so nothing the student's code did in the kernel counts."""

from __future__ import annotations

import json
import re
from typing import Any, Tuple

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Unicode

from autograder.engine import messages as msg
from autograder_stub.protocol import RECORD_MIME as PROBE_MIME

from autograder.adapter.lesson_of import lesson_of
from autograder.engine.issuer import Grading, is_catalogue_test
from autograder.engine.lesson import Lesson, Part
from autograder.engine.mistakes import FAULT
from autograder.adapter.preprocessors.guardedexecute import FAULT_KEY

FAILURE_NAME = "TestFailure"
# Where the named mistake of each decided test cell is left: resources["autograder"]["mistakes"][grade_id],
# and the cell's metadata["autograder"]["mistake"] (None when it passed), for results and cohort reports.
MISTAKES_KEY = "mistakes"
FAULT_MISTAKE = FAULT
# Where the reasons for an instructor's review go: resources["autograder"]["review"] (plain Spanish).
REVIEW_KEY = "review"
MAX_REVIEW = 20


class Verify(NbGraderPreprocessor):
    """Replace each test cell's kernel-made outcome with the verdict computed here from its probe record.

    A test cell in the kernel only records what the student's answer does (results, exceptions,
    ops used) as JSON data. This step, placed after Execute and before SaveAutoGrades, rebuilds
    the inputs, computes PyTorch's reference and compares, with a torch the student's code never
    touched. The cell then keeps its printed output but none of the kernel's errors or stderr:
    it passes, or carries one error output with our Spanish feedback, so nbgrader scores the
    verdict and nothing else. A fault (dead kernel, timeout) always fails the cell.
    """

    enabled = Bool(True, help="Grade test cells from their probe records (False: trust the kernel's outputs).").tag(
        config=True
    )
    ename = Unicode(FAILURE_NAME, help="Error name of the output that carries a failing verdict.").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> Tuple[NotebookNode, ResourcesDict]:
        if not self.enabled:
            return nb, resources
        self._lesson = lesson_of(resources, self.config)
        problems = _answer_problems(nb, self._lesson)
        store = resources.setdefault("autograder", {})
        mistakes = store.setdefault(MISTAKES_KEY, {})
        self._grading = Grading.of(resources)
        self._review: list[str] = store.setdefault(REVIEW_KEY, [])
        for cell in nb.cells:
            records = self._take_records(cell)
            if self._decides(cell):
                mistake = self._decide(cell, records, problems)
                mistakes[cell.metadata["nbgrader"]["grade_id"]] = mistake
                cell.metadata.setdefault(FAULT_KEY, {})["mistake"] = mistake
            elif records:
                self._flag(msg.REVIEW_STRAY_RECORD.format(where=_where(cell)))
        return nb, resources

    def _decides(self, cell: NotebookNode) -> bool:
        """Test cells of this lesson's catalogue; other graded cells are left to nbgrader."""
        return is_catalogue_test(cell, self._lesson)

    def _flag(self, reason: str) -> None:
        """Note a reason for an instructor to look at this submission (the student's feedback is unchanged)."""
        if reason not in self._review and len(self._review) < MAX_REVIEW:
            self._review.append(reason)

    @staticmethod
    def _take_records(cell: NotebookNode) -> list[Any]:
        """Remove every probe record from the cell's outputs and return them (a student's cell may fake some)."""
        records, kept = [], []
        for output in cell.get("outputs", []):
            data = output.get("data", {}) if output.get("output_type") in ("display_data", "execute_result") else {}
            if PROBE_MIME in data:
                records.append(_as_record(data[PROBE_MIME]))
            else:
                kept.append(output)
        if cell.get("outputs") is not None:
            cell.outputs = kept
        return records

    def _decide(self, cell: NotebookNode, records: list[Any], problems: dict[Part, str]) -> str | None:
        """Rewrite the cell's outputs to the verdict; the name of the mistake found, None when it passes."""
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        failure, mistake = self._failure(cell, grade_id, records)
        problem = problems.get(self._lesson.spec(grade_id).part)
        if failure and problem:
            failure += "\n" + msg.ANSWER_CELL_PROBLEM.format(problem=problem)
        kept = [_as_display(o) for o in cell.outputs if o.get("output_type") != "error" and not _is_stderr(o)]
        if failure:  # first, so nothing before it can be read as nbgrader's partial credit
            kept.insert(0, new_output("error", ename=self.ename, evalue=failure, traceback=failure.splitlines()))
        cell.outputs = kept
        return mistake

    def _failure(self, cell: NotebookNode, grade_id: str, records: list[Any]) -> tuple[str, str | None]:
        """The Spanish feedback of a failing cell and its mistake's name, or ('', None) when the verdict passes."""
        from autograder.engine.checks import Mistake, TestFailure, answers, verdict_from_record  # torch loads only where cells are decided

        fault = cell.metadata.get(FAULT_KEY, {})
        if fault.get("fault"):
            return msg.FAULT_PREFIX.format(fault=fault.get("message", fault["fault"])), FAULT_MISTAKE
        not_evaluated = Mistake.NOT_EVALUATED.value
        request = self._grading.requests.get(grade_id)
        answering = [r for r in records if request is not None and answers(r, request)]
        if len(answering) < len(records):
            self._flag(msg.REVIEW_FORGED_RECORD.format(grade_id=grade_id))
        if len(answering) > 1:
            self._flag(msg.REVIEW_DUPLICATE_RECORD.format(grade_id=grade_id))
            return msg.DUPLICATE_RECORDS, not_evaluated
        if not answering:
            return _kernel_error(cell) or msg.NOT_EVALUATED, not_evaluated
        record = answering[0]
        for reason in record.get("tamper", [])[:MAX_REVIEW] if isinstance(record.get("tamper"), list) else []:
            self._flag(msg.REVIEW_KERNEL_SAW.format(what=_plain(reason)))
        try:
            verdict = verdict_from_record(self._lesson, grade_id, record, request, self._grading.secret)
        except Exception as error:  # data no honest kernel sends: this cell fails, grading goes on
            self.log.warning("Unreadable probe record in %s: %s: %s", grade_id, type(error).__name__, error)
            return msg.NOT_EVALUATED, not_evaluated
        if verdict.passed:
            return "", None
        mistake = verdict.mistake.value if verdict.mistake else not_evaluated
        return TestFailure.from_verdict(self._lesson.spec(grade_id), verdict).render(), mistake


def _where(cell: NotebookNode) -> str:
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
    return f"«{grade_id}»" if grade_id else "sin calificar"


def _plain(text: Any) -> str:
    """A kernel-sent reason as one short line of plain text (the kernel is the student's)."""
    return " ".join("".join(c if c.isprintable() else " " for c in str(text)).split())[:160]


def _answer_problems(nb: NotebookNode, lesson: Lesson) -> dict[Part, str]:
    """What went wrong in each answer cell (a fault, or the error it ended with), to explain its tests' failures."""
    problems = {}
    answer_cells = lesson.answer_cells
    for cell in nb.cells:
        part = answer_cells.get(cell.metadata.get("nbgrader", {}).get("grade_id"))
        if part is None or cell.cell_type != "code":
            continue
        fault = cell.metadata.get(FAULT_KEY, {})
        if fault.get("message"):
            problems[part] = fault["message"]
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and output.get("ename") != "NotImplementedError":
                problems[part] = _describe_error(str(output.get("ename", "")), str(output.get("evalue", "")))
                break
    return problems


# Where Python places a syntax error in a cell: "(<ipykernel's file for the cell>.py, line N)", a temporary name.
_CELL_FILE = re.compile(r"\s*\([^()]*\.py, line (\d+)\)$")


def _describe_error(ename: str, evalue: str) -> str:
    if ename == "MemoryError" or any(sign in evalue for sign in msg.MEMORY_SIGNS):
        return msg.FAULT_MEMORY_ERROR
    # A syntax error names the kernel's temporary file for the cell: the student knows it as their cell's line.
    evalue = _CELL_FILE.sub(lambda m: " " + msg.CELL_LINE.format(line=m.group(1)), evalue)
    return f"{ename}: {evalue[:300]}"


def _as_record(data: Any) -> Any:
    """A record as data: nbformat may keep JSON mime bundles as dicts or as JSON text."""
    if isinstance(data, str):
        try:
            return json.loads(data)
        except (ValueError, RecursionError):
            return None
    return data


def _as_display(output: NotebookNode) -> NotebookNode:
    """An execute_result shown as plain display data: nbgrader reads an execute_result as partial credit."""
    if output.get("output_type") != "execute_result":
        return output
    return new_output("display_data", data=output.get("data", {}), metadata=output.get("metadata", {}))


def _is_stderr(output: NotebookNode) -> bool:
    return output.get("output_type") == "stream" and output.get("name") == "stderr"


def _kernel_error(cell: NotebookNode) -> str:
    """What stopped the test before its probe: the visible test's own message, or the error it raised."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            ename, evalue = str(output.get("ename", "")), str(output.get("evalue", ""))[:1000]
            if ename in (FAILURE_NAME, "AssertionError") and evalue:
                return evalue
            return msg.CELL_ERROR.format(error=f"{ename}: {evalue}")
    return ""
