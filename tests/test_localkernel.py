"""The self-check's plain kernel: what the course's notebooks import is loaded at its start, and nothing else changes."""

from __future__ import annotations

from pathlib import Path

import nbformat
from jupyter_core.utils import run_sync

from autograder.commands.localkernel import PRELOADED, LocalKernel


def test_the_kernel_starts_with_the_course_imports_loaded_and_the_notebooks_names_its_own(tmp_path: Path):
    probe = (
        "import gc, sys\n"
        f"print(all(name in sys.modules for name in {PRELOADED!r}))\n"
        "print(sorted({'torch', 'matplotlib', 'numpy', 'importlib', 'name'} & set(globals())))\n"
        "print(gc.isenabled())"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(probe)])
    path = tmp_path / "probe.ipynb"
    nbformat.write(notebook, path)
    kernel = LocalKernel.started_for(path)
    try:
        run_sync(kernel.run)(notebook, path, 60)
    finally:
        run_sync(kernel.close)()
    outputs = notebook.cells[0].outputs
    assert [o.output_type for o in outputs] == ["stream"], outputs
    assert outputs[0].text.split("\n")[:3] == ["True", "[]", "True"]
