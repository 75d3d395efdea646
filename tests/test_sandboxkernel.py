"""The sandboxed kernel manager, for real: a kernel started in the sandbox imports the grader's own package copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autograder.isolation.bwrap import SandboxUnavailable, check_available

ROOT = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter whose `autograder` is a copy elsewhere (as in the Gradescope zip, or a
# worktree on PYTHONPATH while the environment's editable install points at another checkout).
PROBE = textwrap.dedent(
    """
    import nbformat
    from nbclient import NotebookClient
    from autograder.isolation.sandboxkernel import SandboxedKernelManager

    source = (
        "import autograder_stub; print(autograder_stub.__file__)\\n"
        "try:\\n    import autograder.engine.checks\\n    print('grader importable')\\n"
        "except ImportError:\\n    print('grader hidden')"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    NotebookClient(nb, kernel_name="python3", kernel_manager_class=SandboxedKernelManager, timeout=60).execute()
    print(nb.cells[0].outputs[0]["text"].strip())
    """
)


def test_a_sandboxed_kernel_imports_the_stub_copy_the_grader_runs_and_never_the_grader(tmp_path: Path):
    try:
        check_available()
    except SandboxUnavailable as error:
        pytest.skip(str(error))
    copy = tmp_path / "elsewhere"
    for package in ("autograder", "autograder_stub"):
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(copy)}
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-2:] == [str(copy / "autograder_stub" / "__init__.py"), "grader hidden"]


def test_the_warm_process_kernels_fork_from_never_imports_the_graders_checks():
    script = "import sys, autograder.isolation.zygote as z; z.warm_up(); print(sorted(m for m in sys.modules if m.startswith('autograder')))"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    modules = set(eval(done.stdout.strip().splitlines()[-1]))  # noqa: S307 - our own printout of a list of names
    assert {"autograder_stub.runner", "autograder_stub.guard"} <= modules
    # The zygote's own plumbing (errors, the collector around imports, the sandbox layout, the kernels' option
    # names, the kept-warm socket helpers, its end of the init server), never a check or a lesson.
    plumbing = {
        "autograder",
        "autograder.engine",
        "autograder.engine.errors",
        "autograder.engine.heap",
        "autograder.isolation",
        "autograder.isolation.bwrap",
        "autograder.isolation.inits",
        "autograder.isolation.kernel_options",
        "autograder.isolation.warmsession",
        "autograder.isolation.zygote",
    }
    assert modules <= plumbing | {m for m in modules if m.startswith("autograder_stub")}


# -- the notebook's folder and the kernel's environment, for every backend -------------------------------------

FOLDER_AND_ENV = r"""
import json, os
seen = {"listing": sorted(os.listdir(".")), "data": open("datos.csv").read(), "nested": open("sub/n.txt").read()}
try:
    with open("datos.csv", "a") as handle:
        handle.write("cambiado")
    seen["write"] = "wrote"
except OSError as error:
    seen["write"] = type(error).__name__
for name in ("nuevo.txt", "sub/nuevo.txt"):
    with open(name, "w") as handle:
        handle.write("mío")
seen["created"] = open("nuevo.txt").read() + open("sub/nuevo.txt").read()
seen["source_visible"] = os.path.exists(SOURCE)
seen["env"] = {key: os.environ.get(key) for key in ("NBGRADER_EXECUTION", "AUTOGRADER_BLOCKED_OPS", "AUTOGRADER_MAX_OUTPUT")}
print(json.dumps(seen))
"""


def _backend_runs_here(name: str) -> None:
    from autograder.isolation.backend import backend_named

    try:
        backend_named(name).available()
    except SandboxUnavailable as error:
        pytest.skip(str(error))


@pytest.mark.parametrize("isolation", ["bubblewrap", "warmfork", "unconfined"])
def test_the_kernel_sees_its_notebooks_folder_read_only_and_the_graders_environment(
    isolation: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import json

    from nbformat.v4 import new_code_cell, new_notebook

    from autograder.adapter.preprocessors import GuardedExecute

    _backend_runs_here(isolation)
    folder = tmp_path / "autograded" / "alumno" / "tarea"
    (folder / "sub").mkdir(parents=True)
    (folder / "datos.csv").write_text("x,y\n1,2\n")
    (folder / "sub" / "n.txt").write_text("7")
    secret = tmp_path / "secreto.txt"
    secret.write_text("solución")
    (folder / "enlace.txt").symlink_to(secret)  # links are never followed into the sandbox
    for path in (folder / "datos.csv", folder / "sub" / "n.txt"):
        path.chmod(0o444)  # as the grader stages them
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")

    nb = new_notebook(cells=[new_code_cell(FOLDER_AND_ENV.replace("SOURCE", repr(str(folder))))])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    step = GuardedExecute(timeout=120, isolation=isolation, max_output_bytes=123_456)
    executed, resources = step.preprocess(nb, {"metadata": {"path": str(folder)}})
    outputs = executed.cells[0].outputs
    assert not [o for o in outputs if o.output_type == "error"], outputs
    seen = json.loads("".join(o.get("text", "") for o in outputs if o.output_type == "stream"))

    assert seen["data"] == "x,y\n1,2\n" and seen["nested"] == "7" and seen["created"] == "míomío"
    lesson = resources["autograder"]["lesson"]
    assert seen["env"] == {
        "NBGRADER_EXECUTION": "autograde",
        "AUTOGRADER_BLOCKED_OPS": ",".join(lesson.blocked_operators()),
        "AUTOGRADER_MAX_OUTPUT": "123456",
    }
    if isolation == "unconfined":  # it runs in the folder itself, with the grader's rights
        return
    assert seen["listing"] == ["datos.csv", "sub"]  # the link is not there
    assert seen["write"] in ("PermissionError", "OSError")
    assert seen["source_visible"] is False
    assert (folder / "datos.csv").read_text() == "x,y\n1,2\n" and not (folder / "nuevo.txt").exists()


def test_a_kernel_killed_at_the_end_is_not_interrupted_first_and_one_shut_down_gracefully_still_is():
    """jupyter_client interrupts before any shutdown; a kernel that is about to be killed would only spend the moment
    before the kill formatting a KeyboardInterrupt's traceback."""
    import asyncio
    import signal

    from autograder.isolation.sandboxkernel import PlainKernelManager

    class Recording(PlainKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.signals: list[int] = []

        async def _async_signal_kernel(self, signum: int) -> None:
            self.signals.append(signum)
            await super()._async_signal_kernel(signum)

    async def signals_sent(now: bool) -> list[int]:
        manager = Recording(kernel_name="python3")
        await manager.start_kernel()
        try:
            await manager.shutdown_kernel(now=now)
        finally:
            if await manager.is_alive():
                await manager._async_kill_kernel()
        return manager.signals

    assert signal.SIGINT not in asyncio.run(signals_sent(now=True))
    assert signal.SIGINT in asyncio.run(signals_sent(now=False))
