"""The course's Dask cluster settings (c.Cluster in nbgrader_config.py): read without importing dask."""

from __future__ import annotations

from traitlets import Float, Unicode
from traitlets.config import Configurable


class Cluster(Configurable):
    """Where `autograder autograde` sends submissions when not grading on this machine's process pool."""

    scheduler = Unicode(
        "",
        help=(
            "Address of a Dask scheduler (tcp://HOST:PORT, tls://HOST:PORT) to grade batches on; empty grades on "
            "this machine's process pool. `autograder autograde --scheduler` overrides it. Needs the `cluster` extra."
        ),
    ).tag(config=True)
    connect_timeout = Float(
        30.0, help="Seconds to reach the scheduler before the batch stops with a clear error (nothing is graded or lost)."
    ).tag(config=True)
    worker_wait = Float(
        300.0,
        help="Seconds a batch waits for the first worker to join the scheduler (a Slurm job may still be queued) before it stops.",
    ).tag(config=True)
