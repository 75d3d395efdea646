"""The Dask cluster path against the local process pool, on the same submissions with the same number of worker processes.

Usage: .venv/bin/python benchmarks/cluster.py [--batch N] [--workers W] [--cohort 50000] [--nodes 1,8,64,256]

Starts a `dask scheduler` and W `dask worker ... --nworkers 1 --nthreads 1` processes on 127.0.0.1 (as
docs/cluster.md says), then grades the same N submissions (the sample notebooks, cycled) three times,
each in a fresh copy of the course: with the local pool (`--workers W`), and twice on the cluster (the
first batch warms each worker's zygote, the second finds it warm, as a long-lived cluster does). It times
how long the client spends filing each submission (nbgrader's Autograde into gradebook.db, the one
serial step), and prints the overhead per submission of the cluster path and a cost model for a cohort:

    time(cohort, workers) = start-up + max(cohort * grading seconds / workers, cohort * filing seconds)

grading seconds: one worker process's seconds per submission (the local pool's batch time times W over N);
filing seconds: the client's serial time per submission. Figures, not assertions: run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.commands import autograde as batch  # noqa: E402
from autograder.engine.course import Course  # noqa: E402

SAMPLES = sorted((ROOT / "tests" / "samples").glob("*.ipynb"))
ASSIGNMENT = "activation_maxpool"
DASK = str(Path(sys.executable).with_name("dask"))
START_S = 120.0


def staged(root: Path, count: int) -> Course:
    """A scratch copy of the course with `count` submissions (the samples, cycled)."""
    course = Course.at(ROOT).copy_to(root)
    for index in range(count):
        folder = course.root / "submitted" / f"s{index:05d}" / ASSIGNMENT
        folder.mkdir(parents=True)
        shutil.copy(SAMPLES[index % len(SAMPLES)], folder / f"{ASSIGNMENT}.ipynb")
    return course


class FilingClock:
    """Adds up the client's time in _Filer.file_safely (the serial step) while installed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.count = 0
        self._original = batch._Filer.file_safely

    def __enter__(self) -> "FilingClock":
        original, clock = self._original, self

        def timed(filer, *args, **kwargs):
            started = time.perf_counter()
            try:
                return original(filer, *args, **kwargs)
            finally:
                clock.seconds += time.perf_counter() - started
                clock.count += 1

        batch._Filer.file_safely = timed
        return self

    def __exit__(self, *exc: object) -> None:
        batch._Filer.file_safely = self._original


@dataclass(frozen=True)
class Timing:
    """One batch: wall seconds, the client's filing seconds, the workers' grading seconds (summed), failures."""

    wall: float
    filing: float
    grading: float
    failures: int


def timed_batch(course: Course, **options) -> Timing:
    """Time one `autograde` batch; each outcome's own seconds (the worker's execute-and-decide) are summed."""
    lesson = course.lesson(ASSIGNMENT)
    graded: list[float] = []
    with FilingClock() as clock:
        started = time.perf_counter()
        result = batch.autograde(course, ASSIGNMENT, lesson, progress=lambda i, n, outcome: graded.append(outcome.seconds), **options)
        wall = time.perf_counter() - started
    return Timing(wall, clock.seconds, sum(graded), len(result.failures))


def start_cluster(folder: Path, workers: int) -> tuple[str, list[subprocess.Popen]]:
    """A scheduler and `workers` worker processes on 127.0.0.1, each in its own session; returns the address and processes."""
    scheduler_file = folder / "scheduler.json"
    logs = [open(folder / name, "wb") for name in ["scheduler.log", *(f"worker{i}.log" for i in range(workers))]]
    processes = [subprocess.Popen(
        [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)],
        stdout=logs[0], stderr=subprocess.STDOUT, start_new_session=True,
    )]
    deadline = time.monotonic() + START_S
    while not scheduler_file.is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    address = json.loads(scheduler_file.read_text(encoding="utf-8"))["address"]
    for index in range(workers):
        processes.append(subprocess.Popen(
            [DASK, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"],
            stdout=logs[index + 1], stderr=subprocess.STDOUT, start_new_session=True,
        ))
    from distributed import Client

    with Client(address, timeout=START_S, set_as_default=False) as client:
        client.wait_for_workers(workers, timeout=START_S)
    return address, processes


def stop(processes: list[subprocess.Popen]) -> None:
    """Workers first, then the scheduler: SIGTERM to each session, SIGKILL after a minute."""
    for process in [*processes[1:], processes[0]]:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def clock(seconds: float) -> str:
    hours, rest = divmod(int(round(seconds)), 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min {rest % 60:02d} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=12, help="submissions per batch (default 12)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes, local and on the cluster (default 2)")
    parser.add_argument("--cohort", type=int, default=50_000, help="cohort size for the cost model (default 50000)")
    parser.add_argument("--nodes", default="1,8,64,256,1024", help="worker process counts for the cost model")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as scratch:
        scratch_path = Path(scratch)
        local = timed_batch(staged(scratch_path / "local", args.batch), workers=args.workers)
        started = time.perf_counter()
        address, processes = start_cluster(scratch_path, args.workers)
        cluster_start = time.perf_counter() - started
        try:
            cold = timed_batch(staged(scratch_path / "cold", args.batch), scheduler=address)
            warm = timed_batch(staged(scratch_path / "warm", args.batch), scheduler=address)
        finally:
            stop(processes)

    n, w = args.batch, args.workers
    print(f"{n} submissions, {w} worker processes ({os.cpu_count()} cores here)")
    for name, run in (("local pool", local), ("cluster, cold workers", cold), ("cluster, warm workers", warm)):
        print(
            f"  {name:22s}{run.wall:7.1f} s  ({run.wall / n:.2f} s each; a worker's grading {run.grading / n:.2f} s, "
            f"the client's filing {run.filing / n:.2f} s each)  failures {run.failures}"
        )
    print(f"  cluster start-up      {cluster_start:7.1f} s  (scheduler and workers: once per cluster, not per batch)")
    for name, run in (("cold", cold), ("warm", warm)):
        print(f"  overhead per submission ({name} cluster - local pool): {(run.wall - local.wall) / n:+.2f} s ({100 * (run.wall / local.wall - 1):+.0f}%)")

    grading = statistics.mean([local.grading / n, warm.grading / n])  # one worker process's seconds per submission
    filing = statistics.mean([local.filing / n, warm.filing / n])  # the client's, one at a time
    startup = cluster_start + max(0.0, cold.wall - warm.wall)  # the cluster, then each worker's zygote warm-up
    print(f"\ncost model for {args.cohort:,} submissions: start-up {startup:.0f} s + max(cohort x {grading:.2f} s / workers, cohort x {filing:.2f} s filing)")
    for workers in [int(x) for x in args.nodes.split(",") if x.strip()]:
        compute = args.cohort * grading / workers
        serial = args.cohort * filing
        bound = "filing (the client)" if serial > compute else "grading (the workers)"
        print(f"  {workers:5d} worker processes: {clock(startup + max(compute, serial)):>12}  bound by {bound}")
    print("  (the client files every submission itself, one at a time: past the crossing point more workers do not help)")


if __name__ == "__main__":
    main()
