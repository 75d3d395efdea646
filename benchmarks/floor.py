"""The floor of grading one submission: the work itself, with none of the machinery around it.

Usage: .venv/bin/python benchmarks/floor.py [--repeats N] [--notebook PATH]

In a process that has already imported torch, matplotlib and the lesson's checks (one thread per math library,
as the warm process and the workers run), each repeat forks a child that runs every code cell of the notebook
that is not a test cell (figures off, as in grading) and then every hidden and visible check of the lesson
against the answers those cells defined, in this very process. No kernel, no sandbox, no Jupyter protocol, no
nbgrader, no gradebook. The median wall time of a repeat is the floor the benchmark compares grading with.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "activation_maxpool" / "activation_maxpool.ipynb"
LESSON = "autograder.lessons.activation_maxpool"


def measure(notebook: Path = SOLUTION, repeats: int = 7) -> list[float]:
    """Seconds per repeat, measured in a fresh interpreter (this one stays free of torch)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg", "AUTOGRADER_FIGURES": "0"}
    done = subprocess.run(
        [sys.executable, __file__, "--child", "--notebook", str(notebook), "--repeats", str(repeats)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _child(notebook: Path, repeats: int) -> None:
    """Import once, then fork and grade `repeats` times; print the seconds of each as JSON."""
    import importlib

    import matplotlib.pyplot  # noqa: F401  (the notebook's helpers use it)
    import nbformat
    import torch  # noqa: F401

    from autograder.engine.checks import evaluate

    lesson = importlib.import_module(LESSON).LESSON
    importlib.import_module(lesson.family_module)
    cells = [
        "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith("%"))
        for cell in nbformat.read(notebook, as_version=4).cells
        if cell.cell_type == "code" and not cell.metadata.get("nbgrader", {}).get("grade")
    ]
    compiled = [compile(source, f"<cell {index}>", "exec") for index, source in enumerate(cells)]
    _grade(compiled, lesson, evaluate)  # once here: torch's and the checks' one-time work is not a submission's
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            try:
                code = 0 if _grade(compiled, lesson, evaluate) else 3
            except BaseException:  # noqa: BLE001 - reported by the exit status only
                code = 4
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        seconds.append(time.perf_counter() - started)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"floor: the child failed (status {os.waitstatus_to_exitcode(status)}): not every check passed on {notebook}")
    print(json.dumps(seconds))


def _grade(cells: list, lesson, evaluate) -> bool:  # type: ignore[no-untyped-def]
    """Run the cells in a fresh namespace, then every check of the lesson on the answers: whether all passed."""
    namespace: dict = {"display": lambda *args, **kwargs: None, "__name__": "__main__"}
    for cell in cells:
        exec(cell, namespace)
    return all(evaluate(lesson, spec.grade_id, namespace.get(spec.part.answer)).passed for spec in lesson.tests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--notebook", type=Path, default=SOLUTION)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.notebook, args.repeats)
        return
    seconds = measure(args.notebook, args.repeats)
    print(f"floor: {statistics.median(seconds):.3f} s per submission (median of {len(seconds)}; min {min(seconds):.3f} s)")


if __name__ == "__main__":
    main()
