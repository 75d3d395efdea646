"""A real Dask cluster on 127.0.0.1 for tests: a scheduler and worker processes started as docs/cluster.md says, all stopped after."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from local_processes import kill, log_tail, stop_tree

DASK = str(Path(sys.executable).with_name("dask"))  # the project environment's `dask` command
START_S = 120.0  # a scheduler or a worker that is not up by then fails the test with its log


@dataclass
class LocalDaskCluster:
    """A `dask scheduler` and its `dask worker` processes (each in its own session), with their logs in `folder`."""

    folder: Path
    scheduler: subprocess.Popen | None = None
    workers: list[subprocess.Popen] = field(default_factory=list)
    address: str = ""
    _seen: list[psutil.Process] = field(default_factory=list)

    def start_scheduler(self, env: dict[str, str] | None = None) -> str:
        """`dask scheduler --host 127.0.0.1 --port 0 --scheduler-file F`; its address is read from the file."""
        scheduler_file = self.folder / "scheduler.json"
        self.scheduler = self._spawn(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)],
            "scheduler.log",
            env={**os.environ, **(env or {})},
        )
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if scheduler_file.is_file():
                try:
                    self.address = json.loads(scheduler_file.read_text(encoding="utf-8"))["address"]
                    return self.address
                except (ValueError, KeyError):
                    pass
            if self.scheduler.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"the Dask scheduler did not start:\n{log_tail(self.folder / 'scheduler.log')}")

    def start_worker(self, env: dict[str, str] | None = None, threads: int = 1) -> subprocess.Popen:
        """`dask worker ADDRESS --nworkers 1 --nthreads 1`, with `env` added to this process's environment."""
        name = f"worker{len(self.workers)}"
        process = self._spawn(
            [DASK, "worker", self.address, "--nworkers", "1", "--nthreads", str(threads), "--no-dashboard", "--name", name],
            f"{name}.log",
            env={**os.environ, **(env or {})},
        )
        self.workers.append(process)
        return process

    def wait_for_workers(self, count: int) -> None:
        """Until `count` workers are registered with the scheduler."""
        from distributed import Client

        with Client(self.address, timeout=START_S, set_as_default=False) as client:
            try:
                client.wait_for_workers(count, timeout=START_S)
            except TimeoutError as error:
                logs = "\n".join(log_tail(self.folder / f"worker{i}.log", 1500) for i in range(len(self.workers)))
                raise RuntimeError(f"{count} Dask workers did not join:\n{logs}") from error

    def stop_one(self, process: subprocess.Popen) -> list[str]:
        """Stop one worker politely (SIGTERM to its session); returns what had to be killed."""
        return stop_tree(process)

    def wait_for_count(self, count: int) -> None:
        """Until exactly `count` workers are registered (after one was stopped)."""
        from distributed import Client

        with Client(self.address, timeout=START_S, set_as_default=False) as client:
            deadline = time.monotonic() + START_S
            while len(client.scheduler_info(n_workers=-1)["workers"]) != count:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the scheduler did not come to {count} workers")
                time.sleep(0.2)

    def busy(self, name: str) -> int:
        """How many tasks the scheduler has handed the worker started as `name` (worker0, worker1, ...) and not yet got back."""
        from distributed import Client

        with Client(self.address, timeout=START_S, set_as_default=False) as client:
            by_name = {info["name"]: address for address, info in client.scheduler_info(n_workers=-1)["workers"].items()}
            return len(client.processing().get(by_name.get(name, ""), ()))

    def kill_worker(self, process: subprocess.Popen) -> None:
        """SIGKILL a worker's whole session at once (its nanny, worker process, warm process and kernels): a machine gone."""
        self._seen.extend(psutil.Process(process.pid).children(recursive=True))
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> list[str]:
        """Stop every worker, then the scheduler, then anything they left; returns what had to be killed."""
        problems = []
        for process in self.workers:
            problems += stop_tree(process)
        if self.scheduler is not None:
            problems += stop_tree(self.scheduler)
        kill(self._seen)
        return problems

    def _spawn(self, argv: list[str], log: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        with open(self.folder / log, "wb") as handle:
            return subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT, cwd=self.folder,
                env=env, start_new_session=True,
            )


def shim_nbgrader(folder: Path, version: str = "0.0.1") -> Path:
    """A folder that, first on PYTHONPATH, makes the installed-package metadata say nbgrader is `version` (the code is unchanged)."""
    info = folder / f"nbgrader-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: nbgrader\nVersion: {version}\n", encoding="utf-8")
    return folder
