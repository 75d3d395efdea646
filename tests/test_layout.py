"""The package's shape: no import cycles, the engine names no lesson, errors survive pickling, one definition per constant."""

from __future__ import annotations

import ast
import pickle
import re
from pathlib import Path

import pytest

from autograder.engine import errors
from conftest import ROOT

PACKAGE = ROOT / "autograder"
# Folders of the package: the engine and its adapters must not name a lesson.
LESSON_FREE = ("engine", "adapter", "isolation", "outputs", "commands")
LESSON_WORDS = re.compile(r"relu|max_?pool2d|maxpool|sobel|\bGx\b|kernel_gx", re.I)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every autograder module `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] == "autograder"}


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports(path) if m in modules and m != name} for name, path in modules.items()}


def test_the_package_has_no_import_cycle():
    edges = graph()
    # A package's __init__ importing its own submodules is not a cycle through which code runs twice.
    edges = {a: {b for b in targets if not (a + ".").startswith(b + ".")} for a, targets in edges.items()}
    seen: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if seen.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt])
            elif nxt not in seen:
                visit(nxt, stack + [nxt])
        seen[node] = 2

    for name in sorted(edges):
        if name not in seen:
            visit(name, [name])
    assert cycles == []


def test_nothing_outside_the_lessons_names_a_lesson():
    named = []
    for folder in LESSON_FREE:
        for path in (PACKAGE / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if LESSON_WORDS.search(line):
                    named.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert named == []


def test_the_engine_never_imports_a_lesson_package():
    edges = graph()
    offenders = {a: sorted(b for b in targets if b.startswith("autograder.lessons.")) for a, targets in edges.items()
                 if not a.startswith("autograder.lessons")}
    assert {a: b for a, b in offenders.items() if b} == {}


ERRORS = [
    errors.NotebookError.missing(Path("x.ipynb")),
    errors.NotebookError(Path("x.ipynb"), "razón", "detalle"),
    errors.GradingError.from_exception(Path("x.ipynb"), RuntimeError("boom")),
    errors.CourseError.no_lesson(Path("/c"), "otra"),
    errors.NbgraderCommandError(["nbgrader", "autograde"], 2, "tail"),
    errors.ReleaseOutOfSync(["assignments/a/a.ipynb"]),
    errors.ResultsError.missing(Path("/r")),
    errors.OutputError.from_os_error(Path("/o"), PermissionError(13, "Permission denied")),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_errors_survive_pickling_with_their_fields(error):
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error) and str(again) == str(error) and vars(again) == vars(error)
