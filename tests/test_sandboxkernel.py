"""The sandboxed kernel manager, for real: a kernel started in the sandbox imports the grader's own package copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autograder.sandbox import SandboxUnavailable, check_available

ROOT = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter whose `autograder` is a copy elsewhere (as in the Gradescope zip, or a
# worktree on PYTHONPATH while the environment's editable install points at another checkout).
PROBE = textwrap.dedent(
    """
    import nbformat
    from nbclient import NotebookClient
    from autograder.sandboxkernel import SandboxedKernelManager

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import autograder; print(autograder.__file__)")])
    NotebookClient(nb, kernel_name="python3", kernel_manager_class=SandboxedKernelManager, timeout=60).execute()
    print(nb.cells[0].outputs[0]["text"].strip())
    """
)


def test_a_sandboxed_kernel_imports_the_package_copy_the_grader_runs(tmp_path: Path):
    try:
        check_available()
    except SandboxUnavailable as error:
        pytest.skip(str(error))
    copy = tmp_path / "elsewhere"
    shutil.copytree(ROOT / "autograder", copy / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(copy)}
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == str(copy / "autograder" / "__init__.py")
