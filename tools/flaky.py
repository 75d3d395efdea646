"""Find flaky tests: run the timing-sensitive ones several times in a row and under CPU load, list any that did not always pass.

A developer's tool (`make flaky`), not part of CI. Each run is a fresh `pytest` process writing a JUnit
XML report; a test counts as flaky when its outcome was not "passed" in every run (a skip in every run
is reported apart: it proves nothing). The loaded run keeps every core busy with spinning processes
of normal priority for its whole length, as another grading on the same machine would.

    python tools/flaky.py                       # 5 runs in a row, then 1 with every core kept busy
    python tools/flaky.py --runs 2 --loaded 0 tests/test_sandbox.py
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The suites whose outcome could depend on timing or on the machine: sandboxes, kernels, processes, batches.
DEFAULT_TESTS = (
    "tests/test_sandbox.py",
    "tests/test_guardedexecute.py",
    "tests/test_sandboxkernel.py",
    "tests/test_zygote.py",
    "tests/test_nbgrader_cli.py",
    "tests/test_parallel.py",
    "tests/test_batch.py",
    "tests/test_batch_resume.py",
    "tests/test_hostile.py",
    "tests/test_probe.py",
    "tests/test_progress.py",
    "tests/test_render.py",
)
PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"
# What keeps one core busy: a Python loop that never sleeps, and stops when this script is gone (even killed).
SPINNER = (sys.executable, "-c", "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    pass")


@dataclass(frozen=True)
class Run:
    """One pytest run: its label, exit code, length and the outcome of each test it reported."""

    label: str
    exit_code: int
    seconds: float
    outcomes: dict[str, str]

    def count(self, outcome: str) -> int:
        return sum(1 for value in self.outcomes.values() if value == outcome)

    def summary(self) -> str:
        counts = ", ".join(f"{self.count(o)} {o}" for o in (PASSED, FAILED, ERROR, SKIPPED) if self.count(o))
        return f"{self.label}: {counts or 'no test reported'} in {self.seconds:.0f} s (pytest exit {self.exit_code})"


def read_junit(path: Path) -> dict[str, str]:
    """Each test's outcome from a JUnit XML report (a test with a failing teardown counts as an error)."""
    outcomes: dict[str, str] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        test = f"{case.get('classname', '')}::{case.get('name', '')}"
        kinds = {child.tag for child in case}
        if "error" in kinds:
            outcome = ERROR
        elif "failure" in kinds:
            outcome = FAILED
        elif "skipped" in kinds:
            outcome = SKIPPED
        else:
            outcome = PASSED
        if outcomes.get(test) in (None, PASSED):  # a test listed twice (call, then teardown error) keeps the worse
            outcomes[test] = outcome
    return outcomes


@contextmanager
def cores_kept_busy(count: int) -> Iterator[None]:
    """`count` spinning processes for as long as the block runs."""
    spinners = [subprocess.Popen(SPINNER, stdin=subprocess.DEVNULL) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
        for spinner in spinners:
            spinner.wait()


def run_pytest(label: str, tests: Sequence[str], report: Path) -> Run:
    """One pytest run of `tests` from the repository root; its output goes to the terminal as it comes."""
    print(f"\n=== {label} ===", flush=True)
    started = time.monotonic()
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *tests]
    done = subprocess.run(command, cwd=ROOT)
    seconds = time.monotonic() - started
    try:
        outcomes = read_junit(report) if report.exists() else {}
    except ET.ParseError:  # pytest died while writing it: the run counts as broken
        outcomes = {}
    return Run(label, done.returncode, seconds, outcomes)


def unstable(runs: Sequence[Run]) -> dict[str, list[str]]:
    """Tests that did not pass in every run, with their outcome per run ("missing" where a run did not report them)."""
    tests = sorted({test for run in runs for test in run.outcomes})
    table = {test: [run.outcomes.get(test, "missing") for run in runs] for test in tests}
    return {test: row for test, row in table.items() if any(o != PASSED for o in row) and set(row) != {SKIPPED}}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5, help="runs in a row on the machine as it is (default 5)")
    parser.add_argument("--loaded", type=int, default=1, help="runs with every core kept busy (default 1)")
    parser.add_argument(
        "--spinners",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="busy processes in a loaded run (default: one per core this process may use)",
    )
    parser.add_argument("tests", nargs="*", default=list(DEFAULT_TESTS), help="test files or ids (default: the timing-sensitive suites)")
    args = parser.parse_args(argv)
    if args.runs < 0 or args.loaded < 0 or args.runs + args.loaded == 0:
        parser.error("--runs and --loaded must not be negative, and at least one run is needed")

    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="autograder-flaky-") as scratch:
        plan = [(f"run {i + 1} of {args.runs}, machine as it is", False) for i in range(args.runs)]
        plan += [(f"loaded run {i + 1} of {args.loaded}, {args.spinners} cores kept busy", True) for i in range(args.loaded)]
        for index, (label, loaded) in enumerate(plan):
            report = Path(scratch) / f"run-{index}.xml"
            if loaded:
                with cores_kept_busy(args.spinners):
                    runs.append(run_pytest(label, args.tests, report))
            else:
                runs.append(run_pytest(label, args.tests, report))

    print("\n=== flaky: summary ===")
    for run in runs:
        print(run.summary())
    skipped = sorted(t for t in {t for run in runs for t in run.outcomes} if all(r.outcomes.get(t) == SKIPPED for r in runs))
    if skipped:
        print(f"skipped in every run (they prove nothing here): {', '.join(skipped)}")
    # A run is broken when pytest did not finish normally, reported nothing, or failed with no failed test listed.
    broken_runs = [
        run
        for run in runs
        if run.exit_code not in (0, 1) or not run.outcomes or (run.exit_code == 1 and run.count(PASSED) + run.count(SKIPPED) == len(run.outcomes))
    ]
    flaky = unstable(runs)
    if flaky:
        print(f"\n{len(flaky)} test(s) did not pass every time (outcome per run, in the order above):")
        for test, row in flaky.items():
            print(f"  {test}: {' '.join(row)}")
    for run in broken_runs:
        print(f"{run.label}: pytest itself did not finish normally (exit {run.exit_code})")
    if not flaky and not broken_runs:
        tests = len({t for run in runs for t in run.outcomes})
        print(f"\nall {tests} tests passed in all {len(runs)} runs")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
