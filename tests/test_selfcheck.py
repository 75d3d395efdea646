"""`autograder check`: a student's notebook, its visible tests run in a real kernel, reported per part."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.engine import messages as msg
from activation import BY_GRADE_ID, KERNEL, MAXPOOL2D, PARTS, RELU
from autograder.commands.check import PENDING_MIME, Status, _outcome, check_notebook, without_hidden_tests
from autograder.engine.errors import NotebookError
from conftest import ROOT, SAMPLES


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "autograder.cli", *args], cwd=ROOT, capture_output=True, text=True)


def cell(outputs: list[dict], executed: bool = True) -> nbformat.NotebookNode:
    node = nbformat.v4.new_code_cell("...", outputs=[nbformat.from_dict(o) for o in outputs])
    node.execution_count = 1 if executed else None
    return node


SPEC = BY_GRADE_ID["relu_example"]


def test_a_pending_marker_means_unwritten_even_without_an_error():
    pending = {"output_type": "display_data", "data": {PENDING_MIME: {"answer": "relu"}, "text/plain": "⏳"}, "metadata": {}}
    assert _outcome(SPEC, cell([pending])).status == Status.PENDING


def test_a_printed_explanation_is_the_message():
    printed = {"output_type": "stream", "name": "stderr", "text": "✘ Prueba visible no superada\nPrueba fallida: relu(z)\n"}
    outcome = _outcome(SPEC, cell([printed]))
    assert outcome.status == Status.FAILED and outcome.message == "Prueba fallida: relu(z)"


def test_an_answer_that_is_undefined_or_not_a_tensor_fails_instead_of_pending():
    marker = {"output_type": "display_data", "metadata": {},
              "data": {PENDING_MIME: {"answer": "Gx", "estado": "fallida"}, "text/plain": "✘ Gx no es un tensor de PyTorch"}}
    outcome = _outcome(SPEC, cell([marker]))
    assert outcome.status == Status.FAILED and "no es un tensor" in outcome.message


def test_an_assertion_from_the_helpers_is_the_message():
    error = {"output_type": "error", "ename": "AssertionError", "evalue": "Prueba fallida: relu(z)", "traceback": []}
    outcome = _outcome(SPEC, cell([error]))
    assert outcome.status == Status.FAILED and outcome.message == "Prueba fallida: relu(z)"


def test_another_error_shows_the_students_own_line():
    frames = ["\x1b[0;31mTypeError\x1b[0m", "Cell In[7], line 3, in relu(z)\n      1 def relu(z):\n----> 3     return z + 'a'"]
    error = {"output_type": "error", "ename": "TypeError", "evalue": "unsupported operand", "traceback": frames}
    outcome = _outcome(SPEC, cell([error]))
    assert outcome.status == Status.FAILED
    assert "TypeError: unsupported operand" in outcome.message and "return z + 'a'" in outcome.message


def test_a_missing_or_unrun_cell_never_passes():
    assert _outcome(SPEC, None).status == Status.MISSING
    assert _outcome(SPEC, cell([], executed=False)).status == Status.FAILED
    assert _outcome(SPEC, cell([])).status == Status.PASSED


def test_hidden_regions_leave_test_cells_as_the_release_does_and_answers_untouched():
    hidden = "# Prueba visible\n### BEGIN HIDDEN TESTS\nfrom autograder.hidden import check\ncheck('x', Gx)\n### END HIDDEN TESTS\nassert Gx\n"
    test = nbformat.v4.new_code_cell(hidden, metadata={"nbgrader": {"grade": True, "solution": False, "grade_id": "t"}})
    answer = nbformat.v4.new_code_cell(hidden, metadata={"nbgrader": {"grade": False, "solution": True, "grade_id": "a"}})
    plain = nbformat.v4.new_code_cell(hidden)
    notebook = without_hidden_tests(nbformat.v4.new_notebook(cells=[test, answer, plain]))
    assert [c.source for c in notebook.cells] == ["# Prueba visible\nassert Gx\n", hidden, hidden]


def _children() -> set[int]:
    """This process's live child processes (a kernel left running would be one)."""
    import os

    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


@pytest.mark.e2e
def test_another_assignments_notebook_is_refused_and_its_kernel_stopped(tmp_path: Path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import time\ntime.sleep(30)", metadata={"nbgrader": {"grade": False, "solution": True, "grade_id": "otra"}})])
    path = tmp_path / "activation_maxpool.ipynb"
    nbformat.write(notebook, path)
    before = _children()
    with pytest.raises(NotebookError, match="no contiene las celdas de la tarea activation_maxpool"):
        check_notebook(path, course=ROOT)  # the kernel was started before the lesson said the notebook is not its
    assert _children() <= before


@pytest.mark.e2e
def test_checking_the_solutions_notebook_runs_no_hidden_test(tmp_path: Path):
    """solutions/ holds hidden tests inside visible test cells: check leaves them out, as the release does."""
    completed = subprocess.run(
        [sys.executable, "-m", "autograder.cli", "check", str(ROOT / "solutions" / "activation_maxpool" / "activation_maxpool.ipynb")],
        cwd=ROOT, capture_output=True, text=True, env=blocking(tmp_path, HIDDEN_TEST_LOGIC), timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert summary_lines(completed.stdout) == [f"  {p.name:<11}{msg.CHECK_STATUS['passed']}" for p in PARTS]


@pytest.mark.e2e
def test_blank_release_is_pending_everywhere_and_exits_1():
    completed = run("check", str(SAMPLES / "blank.ipynb"))
    assert completed.returncode == 1, completed.stderr
    for part in PARTS:
        assert f"{part.name}" in completed.stdout
    assert completed.stdout.count(msg.CHECK_STATUS["pending"]) == len(PARTS)
    assert msg.CHECK_HIDDEN_CAVEAT in completed.stdout and "Traceback" not in completed.stdout


@pytest.mark.e2e
def test_solution_passes_every_visible_test_but_never_claims_a_grade():
    report = check_notebook(SAMPLES / "solution.ipynb")
    assert report.all_visible_passed
    assert all(report.part_status(part) == Status.PASSED for part in PARTS)
    text = report.render()
    assert msg.CHECK_HIDDEN_CAVEAT in text and "todas las pruebas" not in text.lower()


@pytest.mark.e2e
def test_a_wrong_stride_fails_only_its_part_with_the_helpers_explanation():
    report = check_notebook(SAMPLES / "stride1_when_none.ipynb")
    assert report.part_status(KERNEL) == report.part_status(RELU) == Status.PASSED
    assert report.part_status(MAXPOOL2D) == Status.FAILED
    [failed] = [t for t in report.tests if t.status == Status.FAILED]
    assert failed.spec.grade_id == "maxpool2d_example_default" and "stride" in failed.message


@pytest.mark.e2e
def test_a_deleted_visible_test_is_reported_missing(tmp_path: Path):
    notebook = nbformat.read(SAMPLES / "solution.ipynb", as_version=4)
    notebook.cells = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "kernel_form"]
    path = tmp_path / "sin_prueba.ipynb"
    nbformat.write(notebook, path)
    report = check_notebook(path)
    assert report.part_status(KERNEL) == Status.MISSING and not report.all_visible_passed


def test_not_a_notebook_is_one_line_and_exit_2(tmp_path: Path):
    path = tmp_path / "entrega.ipynb"
    path.write_text("{roto")
    completed = run("check", str(path))
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1 and "Traceback" not in completed.stderr


# --- the rule the grader applies is the rule the student sees ---------------------------------------------

# A sitecustomize that makes some modules unimportable in every process started with it on PYTHONPATH.
BLOCKER = '''
import importlib.abc, sys
BLOCKED = {blocked!r}
class _Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ImportError("blocked for this test: " + name)
        return None
sys.meta_path.insert(0, _Refuse())
'''
# What only grading needs: the engine's checks and the lesson's test families, references and hints.
HIDDEN_TEST_LOGIC = ["autograder.engine.checks"] + [
    f"autograder.lessons.activation_maxpool.{name}" for name in ("families", "kernel", "relu", "maxpool", "inputs", "hints")
]


def blocking(tmp_path: Path, blocked: list[str]) -> dict[str, str]:
    """An environment whose Python processes (kernels included) cannot import `blocked`."""
    import os

    folder = tmp_path / "blocker"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(BLOCKER.format(blocked=blocked), encoding="utf-8")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)])}


def summary_lines(text: str) -> list[str]:
    """The per-part lines of a summary (two spaces, the part's name, its status)."""
    names = tuple(f"  {part.name} " for part in PARTS)
    return [line.rstrip() for line in text.splitlines() if line.startswith(names)]


def execute(path: Path, env: dict[str, str] | None = None, *, extra: list[str] = (), allow_errors: bool = True) -> nbformat.NotebookNode:
    """Run a student's notebook top to bottom as Jupyter or Colab would, then any `extra` cells in the same kernel.

    With allow_errors=False it stops at the first error, as "Run All" does.
    """
    import os

    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    notebook.cells += [nbformat.v4.new_code_cell(source) for source in extra]
    client = NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(env={**(env or os.environ), "AUTOGRADER_FIGURES": "0"})
    return notebook


def outputs_text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output["text"])
        elif output.get("output_type") == "error":
            parts.append(output["evalue"])
    return "".join(parts)


@pytest.mark.e2e
@pytest.mark.parametrize("sample, part", [("calls_torch_relu", RELU), ("calls_nn_maxpool", MAXPOOL2D)])
def test_the_visible_tests_flag_the_taught_operation_without_the_grader_package(tmp_path: Path, sample: str, part):
    env = blocking(tmp_path, ["autograder", "autograder_stub", "nbgrader"])
    notebook = execute(SAMPLES / f"{sample}.ipynb", env)
    cells = {cell.get("id"): cell for cell in notebook.cells}
    visible = [spec for spec in BY_GRADE_ID.values() if spec.in_release and spec.part == part]
    texts = [outputs_text(cell) for cell in notebook.cells
             if cell.metadata.get("nbgrader", {}).get("grade_id") in {spec.grade_id for spec in visible}]
    assert texts and all("es justo la operación que este ejercicio te pide escribir" in text for text in texts), texts
    assert not any("✔" in text for text in texts)
    summary = outputs_text(cells["progreso"])
    assert f"  {part.name:<11}{msg.CHECK_STATUS['failed']}" in summary.splitlines(), summary
    assert "autograder" not in "".join(outputs_text(cell) for cell in notebook.cells)  # nothing tried to import it


@pytest.mark.e2e
@pytest.mark.parametrize("sample", ["calls_torch_relu", "kernel_transposed", "blank", "solution"])
def test_check_gives_the_summary_of_the_notebooks_last_cell(sample: str):
    notebook = execute(SAMPLES / f"{sample}.ipynb")
    in_notebook = summary_lines(outputs_text({c.get("id"): c for c in notebook.cells}["progreso"]))
    from_check = summary_lines(check_notebook(SAMPLES / f"{sample}.ipynb").render())
    assert len(in_notebook) == len(PARTS) and in_notebook == from_check


@pytest.mark.e2e
def test_check_needs_no_hidden_test_logic_and_speaks_no_english(tmp_path: Path):
    completed = subprocess.run(
        [sys.executable, "-m", "autograder.cli", "check", str(SAMPLES / "kernel_transposed.ipynb"), "--course", str(ROOT)],
        cwd=tmp_path, capture_output=True, text=True, env=blocking(tmp_path, HIDDEN_TEST_LOGIC), timeout=300,
    )
    assert completed.returncode == 1, completed.stderr
    assert completed.stderr == ""  # no kernel warning, no traceback: nothing in English
    lines = summary_lines(completed.stdout)
    assert lines == [f"  kernel     {msg.CHECK_STATUS['failed']}", f"  relu       {msg.CHECK_STATUS['passed']}",
                     f"  maxpool2d  {msg.CHECK_STATUS['passed']}"], completed.stdout
    assert "traspuesto" in completed.stdout and "[[1.0, 0.0, -1.0]" not in completed.stdout


@pytest.mark.e2e
@pytest.mark.parametrize("sample", ["calls_torch_relu", "kernel_transposed", "inplace_relu", "relu_torch_max"])
def test_run_all_reaches_the_summary_past_a_failing_visible_test(sample: str):
    notebook = execute(SAMPLES / f"{sample}.ipynb", allow_errors=False)  # raises if any cell stops "Run All"
    summary = outputs_text({c.get("id"): c for c in notebook.cells}["progreso"])
    assert msg.CHECK_STATUS["failed"] in summary, summary


@pytest.mark.e2e
def test_the_summary_reruns_the_visible_tests_with_the_answers_of_now():
    changed = [
        "def relu(z):\n    return torch.relu(z)",  # the taught operation, after the tests passed
        "Gx = None",  # back to unwritten
        "del maxpool2d",  # gone (a cell that failed to run, say)
        "resumen_pruebas_visibles()",
    ]
    notebook = execute(SAMPLES / "solution.ipynb", extra=changed)
    before = summary_lines(outputs_text({c.get("id"): c for c in notebook.cells}["progreso"]))
    after = summary_lines(outputs_text(notebook.cells[-1]))
    assert before == [f"  {p.name:<11}{msg.CHECK_STATUS['passed']}" for p in PARTS]
    assert after == [f"  kernel     {msg.CHECK_STATUS['pending']}", f"  relu       {msg.CHECK_STATUS['failed']}",
                     f"  maxpool2d  {msg.CHECK_STATUS['failed']}"], after
