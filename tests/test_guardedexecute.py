"""GuardedExecute on small real notebooks: a fault costs its own cell, the kernel comes back with the earlier state."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from local_processes import tasks_of

from autograder.engine import messages as msg
from autograder.adapter.preprocessors import GuardedExecute, guardedexecute
from autograder.adapter.preprocessors.guardedexecute import FAULT_KEY, WATCH_SLACK_RATIO, WATCH_SLACK_S, Fault, Lethal
from autograder.isolation.bwrap import Sandbox
from autograder.isolation.sandboxkernel import WarmKernelManager
from autograder.isolation.zygote import Zygote


# A cell limit no passing cell comes near, even in a cold kernel on a loaded machine (a test that needs a
# cell to time out gives that cell, and only that cell, a short limit).
GENEROUS_S = 120


def run(*sources: str | nbformat.NotebookNode, tmp_path: Path, **options) -> nbformat.NotebookNode:
    nb = new_notebook(cells=[source if isinstance(source, dict) else new_code_cell(source) for source in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    step = GuardedExecute(timeout=options.pop("timeout", GENEROUS_S), **options)
    executed, _ = step.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    return executed


def graded(source: str, grade_id: str = "t1") -> nbformat.NotebookNode:
    """A test cell nbgrader scores (no lesson check: its own outputs decide it), so it is never batched."""
    return new_code_cell(source, metadata={"nbgrader": {"grade": True, "solution": False, "grade_id": grade_id, "points": 1}})


def text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def fault(cell) -> str | None:
    return cell.metadata.get(FAULT_KEY, {}).get("fault")


@pytest.mark.parametrize("batch", [False, True])
def test_a_dead_kernel_costs_only_its_cell_and_the_state_is_replayed(
    tmp_path: Path, own_tempdir: Path, monkeypatch: pytest.MonkeyPatch, batch: bool
):
    opened: list[Path] = []
    real_open = Sandbox.open

    def recording_open(box: Sandbox) -> Sandbox:
        real_open(box)
        opened.append(box.root)
        return box

    monkeypatch.setattr(Sandbox, "open", recording_open)
    nb = run("x = 41", "import os; os._exit(1)", "print(x + 1)", tmp_path=tmp_path, batch_cells=batch)
    # The first kernel and the restart; in a batch, the dying cell first runs again alone in a kernel of its own.
    assert len(opened) == (3 if batch else 2) and all(root.parent == own_tempdir for root in opened)
    left = [root for root in opened if root.exists()]
    assert left == [], f"the kernels' sandboxes were left behind: {left}"
    assert fault(nb.cells[1]) == Fault.DEAD
    assert any(o.output_type == "error" for o in nb.cells[1].outputs)
    assert text(nb.cells[2]) == "42\n" and fault(nb.cells[2]) is None


def test_a_cell_that_ignores_the_interrupt_times_out_and_the_rest_runs(tmp_path: Path):
    nb = run(
        "y = 'still here'",
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
        "print(y)",
        tmp_path=tmp_path,
        timeout_func=lambda cell: 3 if "while True" in cell.source else GENEROUS_S,  # only the loop is cut short
    )
    assert fault(nb.cells[1]) == Fault.TIMEOUT
    assert text(nb.cells[2]) == "still here\n"


def test_state_set_by_a_faulty_cell_is_not_replayed(tmp_path: Path):
    nb = run("z = 1", "z = 2\nimport os; os._exit(3)", "print(z)", tmp_path=tmp_path)
    assert text(nb.cells[2]) == "1\n"


def test_an_output_flood_is_cut_to_the_budget(tmp_path: Path):
    nb = run("for _ in range(50):\n    print('x' * 100_000)", "print('after')", tmp_path=tmp_path, max_output_bytes=64 * 1024)
    flood = text(nb.cells[0])
    assert len(flood) < 64 * 1024 + 1000 and "salida recortada" in flood
    assert text(nb.cells[1]) == "after\n"


def test_the_notebook_deadline_stops_later_cells(tmp_path: Path):
    if WarmKernelManager.available():
        Zygote.shared().wait_ready()  # the kernel's start counts against the notebook: not the zygote's warm-up too
    nb = run("import time; time.sleep(600)", "print('never')", tmp_path=tmp_path, timeout=600, notebook_timeout=15)
    assert fault(nb.cells[0]) == Fault.TIMEOUT
    assert fault(nb.cells[1]) == Fault.DEADLINE and text(nb.cells[1]) == ""


def test_a_cell_cut_to_the_deadline_ends_past_it(monkeypatch: pytest.MonkeyPatch):
    step = GuardedExecute(timeout=60, notebook_timeout=5)
    step._started = 100.0
    monkeypatch.setattr(guardedexecute, "time", SimpleNamespace(monotonic=lambda: 102.7))  # 2.3 s of its budget left
    assert step._get_timeout(None) == 3  # rounded up: the cell's limit ends after the deadline, never before it
    monkeypatch.setattr(guardedexecute, "time", SimpleNamespace(monotonic=lambda: 130.0))  # past it: the least limit
    assert step._get_timeout(None) == 1


def test_restarts_are_bounded(tmp_path: Path):
    dying = "import os; os._exit(1)"
    nb = run(dying, dying, dying, "print('never')", tmp_path=tmp_path, max_restarts=2)
    assert [fault(c) for c in nb.cells] == [Fault.DEAD, Fault.DEAD, Fault.DEAD, Fault.GAVE_UP]


def test_faults_written_into_the_submission_are_ignored(tmp_path: Path):
    nb = new_notebook(cells=[new_code_cell("print('ok')")])
    nb.cells[0].metadata[FAULT_KEY] = {"fault": Fault.DEAD}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    executed, _ = GuardedExecute(timeout=10).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert fault(executed.cells[0]) is None


def test_the_kernel_runs_sandboxed_and_unsandboxed_on_request(tmp_path: Path):
    code = "import os; print(os.getcwd() == {!r})".format(str(tmp_path))
    assert text(run(code, tmp_path=tmp_path).cells[0]) == "False\n"  # a scratch dir, not the submission's folder
    assert text(run(code, tmp_path=tmp_path, sandbox=False).cells[0]) == "True\n"


def test_clearing_output_keeps_the_probe_records(tmp_path: Path):
    code = (
        "from IPython.display import display, clear_output\n"
        "display({'application/vnd.autograder.probe+json': {'grade_id': 'x'}, 'text/plain': ''}, raw=True)\n"
        "clear_output(wait=True)\n"
        "print('todo bien')\n"
        "clear_output()\n"
    )
    [cell] = run(code, tmp_path=tmp_path).cells
    assert any("application/vnd.autograder.probe+json" in o.get("data", {}) for o in cell.outputs)
    assert text(cell) == ""


def test_a_probe_record_is_kept_as_nbformat_keeps_it_and_any_other_shape_goes_through_nbclient():
    from nbformat.v4 import output_from_msg

    record = {"grade_id": "t1", "calls": [{"args": [{"t": "tensor", "d": [1.0, -2.0]}], "error": None}]}

    def message(msg_type="display_data", **content):
        content.setdefault("data", {guardedexecute.PROBE_MIME: record, "text/plain": ""})
        content.setdefault("metadata", {})
        return {"msg_type": msg_type, "header": {"msg_type": msg_type}, "parent_header": {}, "content": content}

    kept = guardedexecute._record_output(message())
    assert kept == output_from_msg(message())  # the same output, as JSON
    nbformat.validate(new_notebook(cells=[new_code_cell("x", outputs=[kept])]))
    for odd in (
        message(data={guardedexecute.PROBE_MIME: record, "text/html": 5}),  # another mime type: nbformat decides
        message(data={guardedexecute.PROBE_MIME: record, "text/plain": ["a"]}),
        message(metadata=[]),
        message("execute_result", execution_count=1),
        message(data=[guardedexecute.PROBE_MIME]),
    ):
        assert guardedexecute._record_output(odd) is None


RANDOM_DRAWS = "import random, numpy, torch; print(random.random(), numpy.random.rand(), torch.rand(1).item(), hash('abc'))"


def test_every_kernel_starts_seeded_warm_or_cold(tmp_path: Path):
    warm = [text(run(RANDOM_DRAWS, tmp_path=tmp_path).cells[0]) for _ in range(2)]
    cold = text(run(RANDOM_DRAWS, tmp_path=tmp_path, warm=False).cells[0])
    assert warm[0] == warm[1] == cold and warm[0].strip()
    other = text(run(RANDOM_DRAWS, tmp_path=tmp_path, seed=7).cells[0])
    assert other.split()[:3] != warm[0].split()[:3]  # the seed is the course's to choose


def test_figures_are_not_drawn_and_lesson_helpers_are_told_unless_asked(tmp_path: Path):
    code = (
        "%matplotlib inline\nimport os, random, matplotlib.pyplot as plt\nplt.plot([1, 2]); plt.show()\n"
        "print(os.environ.get('AUTOGRADER_FIGURES'), random.random())"
    )
    [drawn] = run(code, tmp_path=tmp_path, figures=True).cells
    [skipped] = run(code, tmp_path=tmp_path, figures=False).cells
    assert any("image/png" in o.get("data", {}) for o in drawn.outputs)
    assert not any("image/png" in o.get("data", {}) for o in skipped.outputs)
    assert not any(o.output_type == "error" for o in skipped.outputs)
    # Both start-up lines ran: the figure flag, and the seed (the same draw with or without figures).
    assert text(drawn).split()[0] == "None" and text(skipped).split()[0] == "0"
    assert text(drawn).split()[1] == text(skipped).split()[1]


def test_no_kernel_writes_the_students_code_into_an_ipython_history_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Unconfined too (--no-sandbox), where IPython's history would be the instructor's ~/.ipython: `In` still works."""
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    code = "secret = 41\nh = get_ipython().history_manager\nprint(h.hist_file, 'secret = 41' in In[-1])"
    for options in ({}, {"sandbox": False}):
        [cell] = run(code, tmp_path=tmp_path, **options).cells
        assert text(cell) == ":memory: True\n", options
    assert not list((tmp_path / "ipython").rglob("history.sqlite"))


def test_a_timer_that_kills_the_kernel_later_is_blamed_not_the_cell_it_hits(tmp_path: Path):
    timer = "import os, threading\nthreading.Timer(1.0, os._exit, [0]).start()"
    nb = run("x = 1", "y = 2", timer, "z = 3", "import time\ntime.sleep(3)\nprint(x + y + z)", "print('after')", tmp_path=tmp_path)
    assert [fault(c) for c in nb.cells] == [None, None, Fault.DELAYED, None, None, None]  # found among the four replayed
    assert nb.cells[2].metadata[FAULT_KEY]["message"] == msg.FAULT_DELAYED
    assert text(nb.cells[4]) == "6\n" and text(nb.cells[5]) == "after\n"  # run again, without the timer


@pytest.mark.parametrize("batch", [False, True])
def test_do_shutdown_called_in_a_cell_is_that_cells_fault(tmp_path: Path, batch: bool):
    """It returns, and the kernel exits once its request ends: after the cell, or after the batch it ran in."""
    cells = ["x = 1", "get_ipython().kernel.do_shutdown(False)", "import time\ntime.sleep(3)\nprint(x)", "print(x + 1)"]
    nb = run(*cells, graded("print(x + 2)"), tmp_path=tmp_path, batch_cells=batch)
    assert [fault(c) for c in nb.cells] == [None, Fault.DELAYED, None, None, None]
    assert [text(c) for c in nb.cells[2:]] == ["1\n", "2\n", "3\n"]


def test_a_function_that_kills_the_kernel_when_called_is_not_its_definitions_fault(tmp_path: Path):
    nb = run("import os\ndef f():\n    os._exit(1)", "f()", "f()", "print('ok')", tmp_path=tmp_path)
    assert [fault(c) for c in nb.cells] == [None, Fault.DEAD, Fault.DEAD, None]
    assert text(nb.cells[3]) == "ok\n"


def test_a_replay_is_watched_as_long_as_the_shortest_delay_any_death_allows():
    step = GuardedExecute(death_horizon=5)
    deaths = [
        Lethal(at=50.0, started={1: 40.0, 2: 45.0}, cell=None, fault=Fault.DEAD),
        Lethal(at=20.0, started={1: 18.0}, cell=3, fault=Fault.DEAD),
    ]
    # Cell 1: within 2 s of its start (the second death), and some; cell 2: 5 s, cut to the horizon.
    assert step._watch_end({1: 100.0}, deaths) == pytest.approx(100.0 + 2 * (1 + WATCH_SLACK_RATIO) + WATCH_SLACK_S)
    assert step._watch_end({1: 100.0, 2: 101.0}, deaths) == pytest.approx(101.0 + 5)
    assert step._watch_end({7: 100.0}, deaths) == 0.0  # no death says anything about a cell cleared before it


def test_the_kernel_is_killed_after_the_last_cell_with_its_output_in_and_nothing_left(tmp_path: Path):
    """Killed at once, not asked to shut down: the last cell's output is kept, and a daemon it left dies with the sandbox."""
    daemon = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        while True:\n"
        "            time.sleep(1)\n"
        "    os._exit(0)\n"
        "os.wait()\n"
        "from ipykernel.kernelapp import IPKernelApp\n"
        "print(os.getuid(), IPKernelApp.instance().connection_file)"
    )
    assert GuardedExecute().shutdown_kernel == "immediate"
    nb = run(daemon, "print('fin')", tmp_path=tmp_path)
    uid, connection_file = text(nb.cells[0]).split()
    assert text(nb.cells[1]) == "fin\n"
    assert not Path(connection_file).parent.parent.exists()  # the sandbox's scratch dir: run/ holds the connection file
    deadline = time.monotonic() + 30  # bounds the wait on a loaded machine; on an idle one nothing is left at once
    while tasks_of(int(uid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not tasks_of(int(uid))

