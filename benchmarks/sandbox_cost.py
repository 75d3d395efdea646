"""What the sandbox costs per notebook: kernel round trips and whole gradings, sandboxed and not, in the same run.

Usage: .venv/bin/python benchmarks/sandbox_cost.py [--kernels N] [--gradings N]
Prints medians and the sandboxed/unsandboxed ratio. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from autograder.engine.course import Course
from autograder.adapter.pipeline import grade_notebook
from autograder.isolation.sandboxkernel import SandboxedKernelManager

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "tests" / "samples" / "solution.ipynb"


def kernel_round_trip(manager: type) -> float:
    """Start a kernel, run one trivial cell and shut it down, as a grading does once per notebook."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    started = time.perf_counter()
    NotebookClient(nb, kernel_manager_class=manager, kernel_name="python3", timeout=60).execute()
    return time.perf_counter() - started


def grading(sandbox: bool) -> float:
    started = time.perf_counter()
    course = Course.at(ROOT)
    assignment = course.default_assignment()
    graded = grade_notebook(SOLUTION, course, assignment, course.lesson(assignment), sandbox=sandbox)
    assert graded.result.score == graded.result.max_score, "the solution must get full marks"
    return time.perf_counter() - started


def compare(label: str, runs: int, plain, sandboxed) -> None:
    plain_times, sandbox_times = [], []
    for _ in range(runs):  # interleaved, so drift in machine load hits both sides alike
        plain_times.append(plain())
        sandbox_times.append(sandboxed())
    p, s = statistics.median(plain_times), statistics.median(sandbox_times)
    print(f"{label:<34}{p:>10.2f} s{s:>12.2f} s{s - p:>+11.2f} s{s / p:>9.2f}x   (median of {runs})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", type=int, default=5, help="kernel round trips per side")
    parser.add_argument("--gradings", type=int, default=3, help="gradings of the solution per side")
    args = parser.parse_args()
    print(f"{'':<34}{'no sandbox':>12}{'sandbox':>14}{'cost':>13}{'ratio':>10}")
    compare(
        "kernel start + 1 cell + shutdown",
        args.kernels,
        lambda: kernel_round_trip(AsyncKernelManager),
        lambda: kernel_round_trip(SandboxedKernelManager),
    )
    compare("autograder grade (solution)", args.gradings, lambda: grading(False), lambda: grading(True))


if __name__ == "__main__":
    main()
