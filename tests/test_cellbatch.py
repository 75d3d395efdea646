"""Cells batched into one request (autograder/adapter/cellbatch.py, autograder_stub/cells.py), in real kernels.

A batched cell must come out exactly as it would alone: outputs, errors, execution counts, probe records;
cells that need the event loop, graded cells the grader does not decide and cells after a broken runner go
alone; a run of tests the grader decides goes in a request of its own, which no other cell shares; a graded
cell's code never reaches the kernel before it runs.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from activation import ASSIGNMENT, LESSON, PROBE_MIME
from autograder.adapter import cellbatch
from autograder.adapter.cellbatch import CellBatch, may_join
from autograder.adapter.pipeline import grade_notebook
from autograder.adapter.preprocessors import GuardedExecute
from autograder.adapter.preprocessors.guardedexecute import FAULT_KEY
from autograder.engine.course import Course
from autograder.engine.issuer import RESOURCES_KEY, SECRET_BYTES, SECRET_KEY, only_the_stub
from autograder_stub.protocol import REQUEST_FIELD

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"

SOURCES = [
    "x = 41\nprint('a')",
    "import sys\nprint('err', file=sys.stderr)\nprint('out')",
    "x + 1",
    "1 / 0",
    "from IPython.display import HTML, display\ndisplay(HTML('<b>h</b>'))\nprint('after')",
    "",
    "print(x)",
    "raise SystemExit(3)",
    "class Loud(Exception):\n    def __str__(self):\n        raise ValueError('no')\nraise Loud()",
    "print('z' * 10)",
    "k = get_ipython().kernel\nprint(k.get_parent()['header']['msg_id'] == get_ipython().parent_header['msg_id'])",
]


def notebook(cells: list) -> nbformat.NotebookNode:
    nb = new_notebook(cells=[new_markdown_cell("# título")] + [c if isinstance(c, dict) else new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def execute(cells: list | nbformat.NotebookNode, tmp_path: Path, *, batch: bool = True, requests: list | None = None,
            contents: list | None = None, secret: bytes | None = None) -> nbformat.NotebookNode:
    """Run the cells (or a notebook) through GuardedExecute; `requests` collects each execute request sent to the kernel:
    its code, then the sources of the cells its content carries (a batch's); `contents` collects each one's content.
    A `secret` fixes the grading's inputs (two runs with one secret send the same requests)."""
    step = GuardedExecute(timeout=120, batch_cells=batch)
    if requests is not None or contents is not None:
        original = step.start_new_kernel_client

        def recording_client(**kwargs):
            original(**kwargs)
            send = step.kc.shell_channel.send

            def recording_send(msg, *args, **kw):
                if msg["header"]["msg_type"] == "execute_request":
                    carried = msg["content"].get(cellbatch.CELLS_FIELD, [])
                    if requests is not None:
                        requests.append(msg["content"]["code"] + "".join(cell[1] for cell in carried))
                    if contents is not None:
                        contents.append(msg["content"])
                return send(msg, *args, **kw)

            step.kc.shell_channel.send = recording_send

        step.start_new_kernel_client = recording_client
    resources: dict = {"metadata": {"path": str(tmp_path)}}
    if secret is not None:
        resources[RESOURCES_KEY] = {SECRET_KEY: secret}
    nb = cells if isinstance(cells, nbformat.NotebookNode) else notebook(cells)
    executed, _ = step.preprocess(nb, resources)
    return executed


def comparable(nb: nbformat.NotebookNode) -> list:
    """The cells without what differs between runs (ids, timestamps, the kernel's temporary file names, how prints split).

    ipykernel sends a cell's prints every 0.2 s: on a loaded machine one print can come as two stream outputs.
    """
    cells = []
    for cell in nb.cells:
        cell = nbformat.from_dict(dict(cell))
        cell.pop("id", None)
        cell.metadata.pop("execution", None)
        outputs: list = []
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                output.traceback = [line.split("ipykernel_")[0] for line in output.traceback]
            if output.output_type == "stream" and outputs and outputs[-1].output_type == "stream" and outputs[-1].name == output.name:
                outputs[-1].text += output.text
                continue
            outputs.append(output)
        if "outputs" in cell:
            cell.outputs = outputs
        cells.append(cell)
    return cells


def unnamed(cells: list) -> list:
    """The cells with their probe records' request ids left out (each grading names its requests anew)."""
    for cell in cells:
        for output in cell.get("outputs", []):
            output.get("data", {}).get(PROBE_MIME, {}).pop("request", None)
    return cells


def uncounted(cells: list) -> list:
    for cell in cells:
        cell.pop("execution_count", None)
        for output in cell.get("outputs", []):
            output.pop("execution_count", None)
    return cells


def text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_batched_cells_come_out_as_they_would_alone(tmp_path: Path):
    requests: list[str] = []
    batched = execute(SOURCES, tmp_path, requests=requests)
    alone = execute(SOURCES, tmp_path, batch=False)
    assert comparable(batched) == comparable(alone)
    assert [c.execution_count for c in batched.cells[1:] if c.source] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert text(batched.cells[-1]) == "True\n"  # the kernel's parent is the cell's, as when it goes alone
    assert "execution" in batched.cells[1].metadata  # nbclient's timings, as for a cell sent alone
    assert len([r for r in requests if cellbatch.ENTRY in r]) == 1 and len(requests) == 1  # one request for them all


def test_cells_that_replace_sys_stdout_come_out_as_they_would_alone(tmp_path: Path):
    """A cell's end waits on ipykernel's IOPub thread only while the streams are ipykernel's; else it flushes them."""
    cells = [
        "import sys\nclass Wrapped:\n    def __init__(self, inner):\n        self.inner = inner\n"
        "    def write(self, text):\n        return self.inner.write(text.upper())\n"
        "    def __getattr__(self, name):\n        return getattr(self.inner, name)\n"
        "sys.stdout = Wrapped(sys.stdout)\nprint('wrapped')",
        "print('still')\nprint('err', file=sys.stderr)",
        "sys.stdout = sys.stdout.inner\nprint('back')",
    ]
    batched = execute(cells, tmp_path)
    assert comparable(batched) == comparable(execute(cells, tmp_path, batch=False))
    assert [text(c) for c in batched.cells[1:]] == ["WRAPPED\n", "STILL\nerr\n", "back\n"]


def test_a_cell_whose_end_the_iopub_thread_does_not_send_in_time_stops_the_batch_and_the_rest_runs_alone(tmp_path: Path):
    """No later cell may start before a cell's end has left: its messages would be queued ahead of that end."""
    stall = (
        "import time, autograder_stub.cells as runner\nrunner.SENT_WAIT_S = 0.5\n"
        "get_ipython().kernel.iopub_thread.schedule(lambda: time.sleep(3))\nprint('stalled')"
    )
    cells = ["a = 1", stall, "print(a)", "print(a + 1)"]
    step = GuardedExecute(timeout=120)
    nb, _ = step.preprocess(notebook(cells), {"metadata": {"path": str(tmp_path)}})
    assert [text(c) for c in nb.cells[2:]] == ["stalled\n", "1\n", "2\n"]
    assert uncounted(comparable(nb)) == uncounted(comparable(execute(cells, tmp_path, batch=False)))
    assert step._unbatched and not any(FAULT_KEY in c.metadata for c in nb.cells)  # the batch broke; nobody is blamed


def test_a_cell_that_needs_the_event_loop_goes_alone_and_the_rest_stay_batched(tmp_path: Path):
    requests: list[str] = []
    cells = ["a = 1", "b = 2", "import asyncio\nawait asyncio.sleep(0)\nprint('awaited', a + b)", "print(a)", "print(b)"]
    nb = execute(cells, tmp_path, requests=requests)
    assert [text(c) for c in nb.cells[3:]] == ["awaited 3\n", "1\n", "2\n"]
    assert len(requests) == 3 and requests[1] == cells[2]  # batch, the awaiting cell alone, batch
    assert not may_join(cells[2]) and may_join(cells[0])


def test_graded_cells_the_grader_does_not_decide_go_alone_and_no_earlier_cell_sees_their_code(tmp_path: Path):
    """A cell could read the request it runs in: a graded cell's code must never be in one before it runs."""
    spy = "print(('SEC' + 'RET') in str(get_ipython().kernel.get_parent()['content']))"
    graded = new_code_cell(
        "print('SECRET')", metadata={"nbgrader": {"grade": True, "solution": False, "grade_id": "t", "points": 1}}
    )
    requests: list[str] = []
    nb = execute(["a = 1", spy, graded, "b = 2", "print(a + b)"], tmp_path, requests=requests)
    assert text(nb.cells[2]) == "False\n" and text(nb.cells[3]) == "SECRET\n" and text(nb.cells[5]) == "3\n"
    assert requests[1] == "print('SECRET')" and all("SECRET" not in r for r in requests if r != requests[1])


def test_a_run_of_hidden_tests_goes_in_one_request_that_carries_nothing_else_and_each_comes_out_as_alone(tmp_path: Path):
    """The lesson's hidden tests come in runs of 2, 5 and 10, each run in one request: no cell a student wrote rides in
    one, nor a test whose visible checks call the student's answer outside the stub's limits (those 5 go alone)."""
    secret = bytes(range(SECRET_BYTES))  # the same inputs in both gradings
    contents: list[dict] = []
    batched = execute(nbformat.read(SOLUTION, as_version=4), tmp_path, contents=contents, secret=secret)
    alone = execute(nbformat.read(SOLUTION, as_version=4), tmp_path, batch=False, secret=secret)
    assert unnamed(comparable(batched)) == unnamed(comparable(alone))  # outputs, probe records, errors, execution counts
    runs = [c[cellbatch.CELLS_FIELD] for c in contents if any(len(cell) == 3 for cell in c.get(cellbatch.CELLS_FIELD, []))]
    assert [len(run) for run in runs] == [2, 5, 10]
    # hidden tests only: each cell the stub's call alone, with its own request
    assert all(len(cell) == 3 and only_the_stub(cell[1]) for run in runs for cell in run)
    alone_tests = [c for c in contents if REQUEST_FIELD in c]
    assert len(alone_tests) == 5 and not any(only_the_stub(c["code"]) for c in alone_tests)  # the visible ones
    assert len({json.loads(cell[2])["request"] for run in runs for cell in run} | {c[REQUEST_FIELD] for c in alone_tests}) == 22
    others = [c for c in contents if c not in alone_tests and c.get(cellbatch.CELLS_FIELD) not in runs]
    assert not any("autograder_stub.runner" in str(c) for c in others)
    assert len(contents) < 16  # about seventy cells


def test_a_test_that_kills_the_kernel_in_a_run_of_tests_costs_its_own_points_only(tmp_path: Path, course: Course):
    """The run's next tests go on in a rebuilt kernel, and the tests before it keep their verdicts, as if sent alone."""
    nb = nbformat.read(SOLUTION, as_version=4)
    answer = next(c for c in nb.cells if "def maxpool2d" in c.source and c.metadata.get("nbgrader", {}).get("solution"))
    answer.source += (
        "\n\n_right = maxpool2d\n\n\ndef maxpool2d(x, kernel_size, stride=None):\n"
        "    if x.dtype == torch.float64:\n        import os\n        os._exit(1)\n"
        "    return _right(x, kernel_size, stride)\n"
    )
    contents: list[dict] = []  # the test's run went as one request, and only the awaited test was blamed
    executed = execute(copy.deepcopy(nb), tmp_path, contents=contents)
    faults = {c.metadata["nbgrader"]["grade_id"]: c.metadata[FAULT_KEY]["fault"] for c in executed.cells if FAULT_KEY in c.metadata}
    assert faults == {"maxpool2d_dtype": "dead_kernel"}
    assert any(len(c.get(cellbatch.CELLS_FIELD, [])) == 10 for c in contents)
    path = tmp_path / f"{ASSIGNMENT}.ipynb"
    nbformat.write(nb, path)
    graded = grade_notebook(path, course, ASSIGNMENT, LESSON)
    failed = [test for test in graded.result.tests if not test.passed]
    assert [test.spec.name for test in failed] == ["maxpool2d: conserva el tipo de dato (float64)"]
    assert "el núcleo se detuvo" in failed[0].output and failed[0].score == 0
    assert len(graded.result.tests) == 22


@pytest.mark.parametrize(
    "breaker",
    [
        "import sys\nsys.modules['autograder_stub.cells']._reply = None\nprint('broke it')",  # the runner dies after it
        # The batch's request made to look ended while the runner goes on: its parent, taken from the runner's
        # frame by a profile hook as the runner takes up the cell's result.
        "import sys\nk = get_ipython().kernel\n"
        "def spy(frame, event, arg):\n"
        "    outer = frame.f_back.f_locals.get('outer') if event == 'call' and frame.f_back is not None else None\n"
        "    if frame.f_code.co_name == '_reply' and outer is not None:\n"
        "        sys.setprofile(None)\n"
        "        k.session.send(k.iopub_socket, 'status', {'execution_state': 'idle'}, parent=outer)\n"
        "sys.setprofile(spy)\nprint('broke it')",
    ],
)
def test_a_cell_that_breaks_the_batch_runs_again_alone_and_no_later_cell_runs_twice(tmp_path: Path, breaker: str):
    cells = ["n = 0", breaker, "n += 1", "n += 1", "print(n)"]
    step = GuardedExecute(timeout=120)
    nb, _ = step.preprocess(notebook(cells), {"metadata": {"path": str(tmp_path)}})
    assert text(nb.cells[5]) == "2\n"
    # As if never batched, but for execution counts: a rebuilt kernel counts again from 1, as after any restart.
    assert uncounted(comparable(nb)) == uncounted(comparable(execute(cells, tmp_path, batch=False)))
    assert not any(FAULT_KEY in c.metadata for c in nb.cells) and step._restarts == 0  # the batch's restart is not counted


def test_a_bare_idle_a_cell_sends_for_itself_does_not_end_it_early(tmp_path: Path):
    forger = (
        "k = get_ipython().kernel\n"
        "k.session.send(k.iopub_socket, 'status', {'execution_state': 'idle'}, parent={'msg_id': get_ipython().parent_header['msg_id']})\n"
        "k.session.send(k.iopub_socket, 'status', {'execution_state': 'idle'}, parent={'msg_id': [1]})\n"
        "print('after the forged idle')"
    )
    step = GuardedExecute(timeout=20)
    nb, _ = step.preprocess(notebook(["a = 1", forger, "print(a)"]), {"metadata": {"path": str(tmp_path)}})
    assert text(nb.cells[2]) == "after the forged idle\n" and text(nb.cells[3]) == "1\n"
    assert not any(FAULT_KEY in c.metadata for c in nb.cells) and step._restarts == 0


def test_a_kernel_death_in_a_batch_is_blamed_only_after_the_cell_ran_alone(tmp_path: Path):
    """Its runner may have moved on before the previous cell's end left the kernel: the awaited cell runs again alone."""
    nb = execute(["a = 1", "b = 2", "import os; os._exit(1)", "print(a + b)"], tmp_path)
    assert [c.metadata.get(FAULT_KEY, {}).get("fault") for c in nb.cells[1:]] == [None, None, "dead_kernel", None]
    assert text(nb.cells[4]) == "3\n"


@pytest.mark.parametrize(
    "hang",
    [
        "import time\ntime.sleep(600)",
        "import time\ntry:\n    for epoch in range(600):\n        time.sleep(1)\nexcept KeyboardInterrupt:\n    print('parado')",
    ],
)
def test_a_batched_cell_past_its_limit_is_its_own_timeout_at_once(tmp_path: Path, hang: str):
    """The runner starts a cell only once the previous one's end has left: a started cell that hangs is the culprit."""
    step = GuardedExecute(timeout_func=lambda cell: 3 if "sleep" in cell.source else 120)
    nb, _ = step.preprocess(notebook(["a = 1", hang, "print(a)"]), {"metadata": {"path": str(tmp_path)}})
    assert [c.metadata.get(FAULT_KEY, {}).get("fault") for c in nb.cells[1:]] == [None, "timeout", None]
    assert step._restarts == 1 and text(nb.cells[3]) == "1\n"  # one restart: the cell was not run again alone


def test_the_batch_refuses_a_request_that_is_not_its_next_cell():
    class Client:
        def execute(self, *args, **kwargs):
            raise AssertionError("nothing may reach the kernel")

    batch = CellBatch(Client(), ["a = 1", "b = 2"])
    with pytest.raises(RuntimeError):
        batch.execute("b = 2", stop_on_error=False)
    with pytest.raises(RuntimeError):
        batch.execute("a = 1", stop_on_error=True)  # a cell that may not fail on: nbclient's own request


def test_the_runner_called_from_a_cell_of_its_own_runs_nothing_and_says_why(tmp_path: Path):
    nb = execute(["import autograder_stub.cells as runner\nrunner.run()", "print('sigue')"], tmp_path)
    errors = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert errors and errors[0].ename == "ValueError" and "carries no cells" in errors[0].evalue
    assert text(nb.cells[2]) == "sigue\n"
