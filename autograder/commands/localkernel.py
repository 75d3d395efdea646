"""The plain local kernel `autograder check` runs a student's notebook in: started first, killed at the end.

No sandbox: it is the student's own code on their own machine. It is asynchronous so that the check can
start it, and run the notebook in it, while the lesson is still being resolved in another thread. This
module imports little (nbclient and nbformat only when the notebook runs): the command line starts the
kernel before it imports the rest of the check.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync

from autograder.engine.errors import GradingError
from autograder.isolation.kernel_options import FIGURES_ENV, MEMORY_HISTORY, NO_FIGURES
from autograder.isolation.readyclient import ReadyClient

if TYPE_CHECKING:
    from nbformat import NotebookNode

# No figure is drawn (the inline backend renders nothing), and IPython keeps no history file.
KERNEL_ARGUMENTS = (NO_FIGURES, MEMORY_HISTORY)
# The lesson helpers' convention (`al_calificar()`): skip figures and the comparisons with PyTorch.
KERNEL_ENV = {FIGURES_ENV: "0"}
REAP_TIMEOUT = 5.0  # s to wait for a killed kernel to be gone


class LocalKernel:
    """A python3 kernel working in `folder` (the notebook's), talking over IPC sockets in a private folder.

    IPC, not TCP: nothing listens on the network, and ipykernel has no reason for its English warning
    about unencrypted TCP. Call `close` when done, whatever happened: it kills the kernel and removes
    the sockets' folder.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.created = time.monotonic()  # when the check began, for the time it reports
        self._sockets = tempfile.TemporaryDirectory(prefix="autograder-check-")
        # Ready when its kernel_info comes back on IOPub, not after 0.2 s of silence there (readyclient.py).
        self.manager = AsyncKernelManager(
            kernel_name="python3", transport="ipc", ip=str(Path(self._sockets.name) / "kernel"), client_factory=ReadyClient
        )

    @classmethod
    def started_for(cls, notebook: Path) -> "LocalKernel":
        """A kernel for `notebook`, launched now (from synchronous code): it boots while the caller goes on.

        Nothing is launched where the notebook's folder does not exist (reading the notebook says why).
        """
        kernel = cls(Path(notebook).resolve().parent)
        if kernel.folder.is_dir():
            try:
                run_sync(kernel.start)()
            except BaseException:
                run_sync(kernel.close)()
                raise
        return kernel

    async def start(self) -> None:
        """Launch the kernel process and return at once: it boots while the caller goes on."""
        await self.manager.start_kernel(
            extra_arguments=list(KERNEL_ARGUMENTS), cwd=str(self.folder), env={**os.environ, **KERNEL_ENV}
        )

    async def run(self, notebook: NotebookNode, path: Path, timeout: int) -> None:
        """Execute every cell, errors and all (a failing visible test must not hide the next ones)."""
        from nbclient import NotebookClient
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        if not self.manager.has_kernel:
            await self.start()
        client = NotebookClient(
            notebook,
            km=self.manager,
            timeout=timeout,
            allow_errors=True,
            interrupt_on_timeout=True,
            shutdown_kernel="immediate",  # on Ctrl-C nbclient kills it: no goodbye exchange for the kernel to complain about
            resources={"metadata": {"path": str(self.folder)}},
        )
        # The client, made here rather than by nbclient, has no heartbeat: whether the kernel lives is asked
        # of its process (the manager), and a heartbeat thread stopped just after its start (the lesson was
        # not found, say) can spin opening sockets until none are left.
        client.kc = self.manager.client()
        client.kc.start_channels(stdin=False, hb=False)
        try:
            await client.kc.wait_for_ready(timeout=client.startup_timeout)
            await client.async_execute()
        except (CellTimeoutError, DeadKernelError) as error:
            raise GradingError.from_exception(path, error) from error
        finally:
            if client.kc is not None:  # nbclient drops it when a signal (Ctrl-C) made it clean up
                client.kc.stop_channels()

    async def close(self) -> None:
        """Kill the kernel now and reap it (nothing of it is kept), then remove its sockets' folder.

        jupyter_client's own `shutdown_kernel(now=True)` polls every 0.1 s for the killed process to
        end; waiting on the process itself returns as soon as it has.
        """
        try:
            if self.manager.has_kernel:
                await self.manager.signal_kernel(signal.SIGKILL)
                process = getattr(self.manager.provisioner, "process", None)
                if isinstance(process, subprocess.Popen):
                    try:
                        process.wait(REAP_TIMEOUT)
                    except subprocess.TimeoutExpired:
                        pass  # shutdown_kernel below waits its own way, and warns
                await self.manager.shutdown_kernel(now=True)
        finally:
            self._sockets.cleanup()
