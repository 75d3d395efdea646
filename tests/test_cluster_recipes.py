"""The Slurm recipe in docs/cluster.md: the job script dask-jobqueue generates from it starts a plain worker from the course's environment."""

from __future__ import annotations

import re
import shlex

from conftest import ROOT

DOC = ROOT / "docs" / "cluster.md"


def slurm_example() -> str:
    """The Python block between the slurm-example markers, as an instructor would copy it."""
    text = DOC.read_text(encoding="utf-8")
    block = re.search(r"<!-- slurm-example[^>]*-->\s*```python\n(.*?)```\s*<!-- end slurm-example -->", text, re.S)
    assert block, "docs/cluster.md lost its slurm-example block"
    return block.group(1)


def test_the_slurm_recipe_starts_a_plain_worker_from_the_course_environment():
    code = slurm_example()
    # The recipe listens on every interface for the compute nodes; here the scheduler binds 127.0.0.1 only,
    # and no job is submitted (there is no Slurm here): the rest runs as written.
    assert 'scheduler_options={"host": "0.0.0.0"}' in code and "cluster.scale(jobs=8)" in code
    code = code.replace('"0.0.0.0"', '"127.0.0.1"').replace("cluster.scale(jobs=8)", "pass")
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - the documented recipe itself
    cluster = namespace["cluster"]
    try:
        script = cluster.job_script()
        address = cluster.scheduler_address
    finally:
        cluster.close()

    lines = script.strip().splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    directives = [line for line in lines if line.startswith("#SBATCH")]
    assert {"#SBATCH -p normal", "#SBATCH -A my-course", "#SBATCH -t 04:00:00", "#SBATCH --cpus-per-task=16"} <= set(directives)
    assert "export OMP_NUM_THREADS=1" in lines
    argv = shlex.split(lines[-1])
    # A plain worker (no preload, no plugin of ours) from the pinned environment: grading needs reach it from the client.
    assert argv[:3] == ["/home/instructor/course/.venv/bin/python", "-m", "distributed.cli.dask_worker"]
    assert argv[3] == address and address.startswith("tcp://127.0.0.1:")
    assert argv[argv.index("--nthreads") + 1] == "1" and argv[argv.index("--nworkers") + 1] == "16"
    assert not any(arg.startswith("--preload") for arg in argv)
