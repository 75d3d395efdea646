"""Grading speed against stock nbgrader, in the same run, on the same course and submissions.

Usage: .venv/bin/python benchmarks/throughput.py [--batch N] [--repeat R] [--single K] [--check K] [--curve 1,10,100] [--workers W]

Builds two scratch copies of the course: one with stock nbgrader's configuration (its default
preprocessors, no sandbox, no Verify: what a course gets without this package) and one with ours.
Both get the same N submissions (the sample notebooks, cycled). Then it times:
  - a batch: `nbgrader autograde A` (stock, once) vs `autograder autograde` (ours, sandboxed, R times: the median);
  - one notebook, K times each: `nbgrader autograde A --student S` vs `autograder grade NB`;
  - ours again in a warm session (`autograder warm` first, stopped after): K gradings and the batch;
  - `autograder check` on the solution against `python -c "import torch, matplotlib.pyplot, numpy"`, K times each;
  - the floor (benchmarks/floor.py: the notebook's code and every check, forked from a warm process, nothing else);
  - where one submission's time goes in our batch (`autograde --timings`: mean seconds per stage);
  - ours on growing batches (the cost curve), with peak memory of the whole process tree.
It ends with the table of the goals (issue 15). It prints medians, ratios and peak memory (sum of RSS, which counts pages shared by forked processes
once per process, and sum of PSS, sampled less often, which counts them once: the true memory use).
Timed runs are never sampled: the sampler (a thread of this process, reading /proc) runs on the same two cores, which
our batch keeps busy (it took 4% of our batch's time). Memory comes from runs of their own: the same batch again for
ours, for stock one answered notebook of the batch alone (stock grades one at a time, each in a fresh kernel).
Figures, not assertions: run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import floor  # noqa: E402  (benchmarks/floor.py, beside this file)
from autograder.isolation.warmsession import ROOT_ENV as WARM_ROOT_ENV  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "tests" / "samples").glob("*.ipynb"))
ASSIGNMENT = "activation_maxpool"
BIN = Path(sys.executable).parent
STOCK_CONFIG = '''c = get_config()
c.CourseDirectory.course_id = "stock"
c.CourseDirectory.root = "."
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
c.Autograde.create_student = True
'''


@dataclass(frozen=True)
class Run:
    """One timed command: wall seconds, peak memory of its process tree, and whether it succeeded."""

    seconds: float
    peak_rss: int
    peak_pss: int
    ok: bool


# Sampling must not perturb what it measures: RSS (cheap) twice a second, PSS (the kernel walks every
# page table for it) every few seconds.
RSS_EVERY = 0.5
PSS_EVERY = 3.0


def _tree(root: psutil.Process) -> list[psutil.Process]:
    """The process and its descendants; empty once it has exited (the sampler must outlive the command)."""
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def tree_rss(root: psutil.Process) -> int:
    """RSS summed over a process and all its descendants (pages shared by forks counted in each)."""
    total = 0
    for process in _tree(root):
        try:
            total += process.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def tree_pss(root: psutil.Process) -> int:
    """PSS summed over the tree: each shared page divided among the processes that share it (true memory use)."""
    total = 0
    for process in _tree(root):
        try:
            with open(f"/proc/{process.pid}/smaps_rollup") as rollup:
                total += next(int(line.split()[1]) * 1024 for line in rollup if line.startswith("Pss:"))
        except (OSError, StopIteration, psutil.Error):
            continue
    return total


def timed(command: list[str], cwd: Path, sample: bool = True) -> Run:
    """Run a command to completion, sampling its tree's memory unless told not to (sampling costs some CPU)."""
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = [0, 0]
    done = threading.Event()

    def sample_memory() -> None:
        try:
            root = psutil.Process(process.pid)
        except psutil.NoSuchProcess:
            return
        last_pss = time.monotonic()
        while not done.is_set():
            rss = tree_rss(root)
            # PSS (slow to read) at every new RSS peak, and every PSS_EVERY s: a short run's peak is not missed.
            if rss > peak[0] or time.monotonic() - last_pss >= PSS_EVERY:
                peak[1] = max(peak[1], tree_pss(root))
                last_pss = time.monotonic()
            peak[0] = max(peak[0], rss)
            done.wait(RSS_EVERY)

    sampler = threading.Thread(target=sample_memory, daemon=True)
    if sample:
        sampler.start()
    _, err = process.communicate()
    seconds = time.perf_counter() - started
    done.set()
    if sample:
        sampler.join()
    if process.returncode not in (0, 2):  # 2: some submission not gradable, still a finished batch
        print(f"  ! {' '.join(command[:3])} exited {process.returncode}: {err.decode(errors='replace')[-300:]}", file=sys.stderr)
    return Run(seconds, peak[0], peak[1], process.returncode in (0, 2))


def build_course(target: Path, stock: bool, submissions: int) -> Path:
    """A scratch course with `submissions` students, s0000…, each a copy of a sample notebook (cycled)."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copytree(ROOT / "solutions", target / "solutions")
    if stock:
        (target / "nbgrader_config.py").write_text(STOCK_CONFIG)
    else:
        shutil.copy(ROOT / "nbgrader_config.py", target / "nbgrader_config.py")
    populate(target, submissions)
    subprocess.run(
        [str(BIN / "nbgrader"), "generate_assignment", ASSIGNMENT, "--log-level=ERROR"],
        cwd=target,
        env={**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"},
        check=True,
        capture_output=True,
    )
    return target


def populate(course: Path, submissions: int) -> None:
    """Replace submitted/ with `submissions` students and forget earlier grades."""
    shutil.rmtree(course / "submitted", ignore_errors=True)
    shutil.rmtree(course / "autograded", ignore_errors=True)
    shutil.rmtree(course / "results", ignore_errors=True)
    for index in range(submissions):
        folder = course / "submitted" / f"s{index:04d}" / ASSIGNMENT
        folder.mkdir(parents=True)
        shutil.copy(SAMPLES[index % len(SAMPLES)], folder / f"{ASSIGNMENT}.ipynb")


def stock_batch(course: Path) -> list[str]:
    return [str(BIN / "nbgrader"), "autograde", ASSIGNMENT, "--force", "--log-level=ERROR"]


def ours_batch(course: Path, workers: int | None, timings: Path | None = None) -> list[str]:
    command = [str(BIN / "autograder"), "autograde", "--course", str(course), "--force", "--quiet"]
    return command + ([f"--workers={workers}"] if workers else []) + ([f"--timings={timings}"] if timings else [])


def uncompiled_sources() -> list[Path]:
    """Our modules whose bytecode cache is missing or stale: each process would compile them at import (`make bytecode`)."""
    found = []
    for package in ("autograder", "autograder_stub"):
        for source in sorted((ROOT / package).rglob("*.py")):
            cache = Path(importlib.util.cache_from_source(str(source)))
            try:
                header = cache.read_bytes()[:16]
            except OSError:
                header = b""
            if len(header) < 16:
                found.append(source)
                continue
            # A timestamp-based cache (flags 0) records its source's mtime and size; a hash-based one is checked by hash.
            stat = source.stat()
            flags = int.from_bytes(header[4:8], "little")
            recorded = (int.from_bytes(header[8:12], "little"), int.from_bytes(header[12:16], "little"))
            if flags == 0 and recorded != (int(stat.st_mtime) & 0xFFFFFFFF, stat.st_size & 0xFFFFFFFF):
                found.append(source)
    return found


def mib(value: int) -> str:
    return f"{value / 2**20:,.0f} MiB"


def answered_student(submissions: int) -> str:
    """The batch's first student whose notebook is not the blank template (populate cycles the samples), else s0000."""
    index = next((i for i in range(submissions) if SAMPLES[i % len(SAMPLES)].stem != "blank"), 0)
    return f"s{index:04d}"


def memory_of(command: list[str], cwd: Path) -> Run:
    """The command run again, its process tree's memory sampled (its time not used: sampling competes for the cores)."""
    return timed(command, cwd, sample=True)


def side_by_side_batch(args: argparse.Namespace, stock: Path, ours: Path, timings: Path) -> tuple[Run, Run, Run]:
    """Both batches timed unsampled, then each side's memory in a run of its own; returns stock's, ours and our memory run.

    Ours is a few seconds long, and the machine's speed moves by a third between runs minutes apart: it runs
    `--repeat` times, once before stock's batch and the rest after, and its median stands (each run is printed;
    the stage breakdown is the median run's). Stock's batch, minutes long, runs once.
    """
    print(f"\n== batch of {args.batch} submissions")
    runs = max(1, args.repeat)
    files = [timings.with_name(f"{timings.stem}-{index}{timings.suffix}") for index in range(runs)]
    ours_runs = [timed(ours_batch(ours, args.workers, files[0]), ours, sample=False)]
    stock_run = timed(stock_batch(stock), stock, sample=False)
    ours_runs += [timed(ours_batch(ours, args.workers, files[index]), ours, sample=False) for index in range(1, runs)]
    finished = [index for index in range(runs) if ours_runs[index].ok and files[index].exists()] or list(range(runs))
    middle = sorted(finished, key=lambda index: ours_runs[index].seconds)[len(finished) // 2]  # (of an even count, the slower)
    ours_run = ours_runs[middle]
    if files[middle].exists():
        shutil.copyfile(files[middle], timings)
    # Stock grades one notebook at a time, each in a fresh kernel: one answered notebook's run stands for its batch.
    measured = answered_student(args.batch)
    stock_memory = memory_of(stock_batch(stock) + [f"--student={measured}"], stock)
    ours_memory = memory_of(ours_batch(ours, args.workers), ours)
    for label, run, memory in (("stock nbgrader autograde", stock_run, stock_memory), ("autograder autograde", ours_run, ours_memory)):
        per = run.seconds / args.batch
        print(f"{label:<28}{run.seconds:>9.1f} s  {per:>6.2f} s/submission  peak RSS {mib(memory.peak_rss):>10}  PSS {mib(memory.peak_pss):>10}")
    if runs > 1:
        each = ", ".join(f"{run.seconds:.1f}" for run in ours_runs)
        print(f"  ours, {runs} batches, each a new command (the first, before stock's, also registers this new course): {each} s;"
              " the median stands")
    print(f"throughput ratio (stock time / ours): {stock_run.seconds / ours_run.seconds:.1f}x")
    print(f"  (memory from runs of their own: stock on {measured}'s notebook, ours the same batch again, sampled in {ours_memory.seconds:.1f} s)")
    return stock_run, ours_run, ours_memory


def stage_breakdown(timings: Path, floor_s: float, batch: Run, size: int) -> None:
    """Where one submission's time goes in our batch: mean seconds per stage, from `autograde --timings`."""
    data = json.loads(timings.read_text(encoding="utf-8"))["batches"][0]
    workers = data["workers"]
    print(f"\n== where one submission's time goes (our batch of {size}, {workers} workers; mean s per submission)")
    busy = 0.0
    for row in data["summary"]:
        waiting = row["stage"] == "queue"
        busy += 0.0 if waiting else row["mean"]
        note = "  (waiting for a worker: not work)" if waiting else ""
        print(f"  {row['stage']:<26}{row['mean']:>8.3f}{row['median']:>8.3f} median{note}")
    start = data["first_result_seconds"]
    print(f"  {'busy, one submission':<26}{busy:>8.3f}   (one worker's time on it; the batch runs {workers} at once)")
    print(f"  {'floor (benchmarks/floor.py)':<26}{floor_s:>8.3f}   busy / floor: {busy / floor_s:.0f}x")
    print(f"  batch start-up (command start to the first filed result): {start:.2f} s")
    print(f"  batch: {batch.seconds / size:.3f} s per submission = {batch.seconds / size / floor_s:.0f}x the floor")


def side_by_side_single(args: argparse.Namespace, stock: Path, ours: Path) -> tuple[float, float]:
    print(f"\n== one notebook, median of {args.single} (no memory sampling)")
    notebook = ours / "submitted" / "s0000" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    stock_single = [
        timed([str(BIN / "nbgrader"), "autograde", ASSIGNMENT, "--student=s0000", "--force", "--log-level=ERROR"], stock, sample=False)
        for _ in range(args.single)
    ]
    ours_single = [timed([str(BIN / "autograder"), "grade", str(notebook), "--course", str(ours)], ours, sample=False) for _ in range(args.single)]
    s = statistics.median(r.seconds for r in stock_single)
    o = statistics.median(r.seconds for r in ours_single)
    print(f"{'nbgrader autograde --student':<28}{s:>9.2f} s")
    print(f"{'autograder grade':<28}{o:>9.2f} s")
    print(f"speed-up: {s / o:.1f}x")
    return s, o


def warm_session(args: argparse.Namespace, ours: Path) -> tuple[float, float]:
    """`autograder grade` and our batch again with `autograder warm` running (started, and its start timed, first)."""
    print(f"\n== in a warm session (`autograder warm` first), median of {args.single}")
    notebook = ours / "submitted" / "s0000" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    start = timed([str(BIN / "autograder"), "warm", "--idle", "300"], ours, sample=False)
    try:
        gradings = [timed([str(BIN / "autograder"), "grade", str(notebook), "--course", str(ours)], ours, sample=False) for _ in range(args.single)]
        batch = timed(ours_batch(ours, args.workers), ours, sample=False) if args.batch else None
    finally:
        subprocess.run([str(BIN / "autograder"), "warm", "--stop"], cwd=ours, capture_output=True)
    o = statistics.median(r.seconds for r in gradings)
    print(f"{'autograder warm (once)':<28}{start.seconds:>9.2f} s")
    print(f"{'autograder grade':<28}{o:>9.2f} s")
    batch_each = batch.seconds / args.batch if batch is not None else 0.0
    if batch is not None:
        print(f"{'autograder autograde':<28}{batch.seconds:>9.2f} s   {batch_each:.2f} s/submission")
    return o, batch_each


def check_against_import(args: argparse.Namespace) -> tuple[float, float]:
    """`autograder check` on the solution against importing what the notebook imports, alternated, medians."""
    print(f"\n== autograder check on the solution, median of {args.check} (alternated with the import)")
    solution = ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    checks, imports = [], []
    for _ in range(args.check):
        imports.append(timed([sys.executable, "-c", "import torch, matplotlib.pyplot, numpy"], ROOT, sample=False).seconds)
        checks.append(timed([str(BIN / "autograder"), "check", str(solution)], ROOT, sample=False).seconds)
    c, i = statistics.median(checks), statistics.median(imports)
    print(f"{'autograder check':<28}{c:>9.2f} s")
    print(f"{'import torch, matplotlib':<28}{i:>9.2f} s")
    print(f"check / import: {c / i:.2f}x (goal: at most 1.4x)")
    return c, i


def curve(args: argparse.Namespace, ours: Path) -> None:
    print("\n== our cost curve (autograder autograde, sandboxed)")
    print(f"{'submissions':>12}{'seconds':>10}{'s/submission':>14}{'peak RSS':>12}{'peak PSS':>12}")
    for size in [int(n) for n in args.curve.split(",") if n.strip()]:
        populate(ours, size)
        run = timed(ours_batch(ours, args.workers), ours, sample=False)
        memory = memory_of(ours_batch(ours, args.workers), ours)
        print(f"{size:>12}{run.seconds:>10.1f}{run.seconds / size:>14.2f}{mib(memory.peak_rss):>12}{mib(memory.peak_pss):>12}{'' if run.ok and memory.ok else '  (failed)'}")


def print_goals(goals: list[tuple[str, float | None, object, str]], floor_s: float) -> None:
    """The issue's table: stock (or the import, for check) and ours from this run, the ratio, the goal."""
    print(f"\n== goals (same run; floor {floor_s:.3f} s)")
    print(f"{'':<32}{'stock':>10}{'ours':>22}{'ratio':>9}  goal")
    for label, stock_value, ours_value, goal in goals:
        if isinstance(ours_value, float) and stock_value is not None:
            ratio = ours_value / stock_value if "check" in label else stock_value / ours_value
            print(f"{label:<32}{stock_value:>10.2f}{ours_value:>22.2f}{ratio:>8.2f}x  {goal}")
        else:
            print(f"{label:<32}{'':>10}{str(ours_value):>22}{'':>9}  {goal}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=20, help="submissions in the side-by-side batch (0: skip)")
    parser.add_argument("--single", type=int, default=3, help="one-notebook gradings per side (0: skip)")
    parser.add_argument("--check", type=int, default=3, help="`autograder check` runs (alternated with the import; 0: skip)")
    parser.add_argument("--repeat", type=int, default=3, help="our cold batches in the side-by-side (their median stands)")
    parser.add_argument("--floor", type=int, default=7, help="repeats of the floor measurement")
    parser.add_argument("--curve", default="1,10,100", help="batch sizes for our cost curve (e.g. 1,10,100,500)")
    parser.add_argument("--workers", type=int, default=None, help="our worker processes (default: one per core)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="autograder-bench-"))
    # Warm processes kept between commands: only the ones this run starts (in its warm session) are ever used.
    os.environ[WARM_ROOT_ENV] = str(work / "warm")
    try:
        print(f"machine: {os.cpu_count()} cores; stock = nbgrader's default preprocessors, no sandbox; ours = sandboxed")
        uncompiled = uncompiled_sources()
        if uncompiled:
            # The zygote and kernels never write bytecode (PYTHONDONTWRITEBYTECODE in the sandbox's environment).
            print(f"  ! {len(uncompiled)} of our modules have no current bytecode (e.g. {uncompiled[0].relative_to(ROOT)}): "
                  "every process compiles them, about 0.1 s of each grading's start; `make bytecode` first")
        stock = build_course(work / "stock", True, max(args.batch, 1))
        ours = build_course(work / "ours", False, max(args.batch, 1))

        floor_s = statistics.median(floor.measure(repeats=args.floor))
        print(f"floor: {floor_s:.3f} s per submission (benchmarks/floor.py, median of {args.floor})")
        goals = []
        if args.batch:
            stock_run, ours_run, ours_memory = side_by_side_batch(args, stock, ours, work / "timings.json")
            stage_breakdown(work / "timings.json", floor_s, ours_run, args.batch)
            goals.append((f"batch of {args.batch}, s each", stock_run.seconds / args.batch, ours_run.seconds / args.batch, ">= 20x"))
            goals.append(("batch peak memory, RSS / PSS", None, f"{mib(ours_memory.peak_rss)} / {mib(ours_memory.peak_pss)}", "< 1.5 GiB / 1 GiB"))
        if args.single:
            s, o = side_by_side_single(args, stock, ours)
            goals.append(("one notebook, s", s, o, ">= 3x"))
            warm_one, warm_batch = warm_session(args, ours)
            goals.append(("one notebook, warm session, s", s, warm_one, ">= 3x"))
            if args.batch:
                goals.append((f"batch of {args.batch}, warm session, s each", stock_run.seconds / args.batch, warm_batch, ">= 20x"))
        if args.check:
            c, i = check_against_import(args)
            goals.append(("check vs import torch, s", i, c, "<= 1.4x the import"))
        curve(args, ours)
        print_goals(goals, floor_s)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
