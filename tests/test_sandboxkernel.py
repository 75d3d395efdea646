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
    assert modules <= {"autograder", "autograder.engine", "autograder.engine.errors", "autograder.isolation", "autograder.isolation.bwrap", "autograder.isolation.zygote"} | {
        m for m in modules if m.startswith("autograder_stub")
    }
