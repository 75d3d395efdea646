"""jupyter_client's provisioner for warm kernels: the zygote's client, run inside the grading process instead of as one.

The zygote forks a confined kernel for whoever connects to its socket and sends a request, tells it the
kernel's exit status, and kills the kernel's whole pid namespace when the connection closes
(autograder/isolation/zygote.py). zygote_client.py does that as a process of its own that jupyter_client
starts and kills like a kernel: an interpreter per kernel (9 ms of CPU, before the kernel can start).
Here the grading process holds the connection itself; the connection closes with it, whatever ends it.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning import LocalProvisioner

from autograder.isolation.zygote import CLIENT
from autograder.isolation.zygote_client import EXIT_NO_ZYGOTE, ending

log = logging.getLogger(__name__)
# How long connecting to the zygote and sending the request may take (it answers at once, or is gone).
CONNECT_TIMEOUT_S = 30.0


def client_request(cmd: list[str]) -> tuple[Path, str] | None:
    """(the zygote's socket, the request) if `cmd` is the client's command line (Zygote.command); None otherwise."""
    if len(cmd) == 7 and cmd[1:3] == ["-I", "-S"] and cmd[3] == str(CLIENT):
        return Path(cmd[4]), cmd[5]
    return None


class ZygoteKernel:
    """A kernel the zygote forked, held like a Popen: its lifetime is the connection's, its exit status the zygote's word."""

    stdin = stdout = stderr = None
    pid = None  # the kernel lives in its own pid namespace, behind the zygote: nothing here to signal

    def __init__(self, socket_path: Path, request: str) -> None:
        """Ask the zygote for the kernel; one it cannot be asked for has ended at once, as the client would (EXIT_NO_ZYGOTE)."""
        self.returncode: int | None = None
        self._buffer = b""
        self._connection: socket.socket | None = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._connection.settimeout(CONNECT_TIMEOUT_S)
            self._connection.connect(str(socket_path))
            self._connection.sendall(request.encode() + b"\n")
            self._connection.setblocking(False)
        except OSError as error:
            log.error("the warm kernel process cannot be reached: %s", error)
            self._ended(EXIT_NO_ZYGOTE)

    def poll(self) -> int | None:
        """The kernel's exit status once the zygote has said it (or is gone: EXIT_NO_ZYGOTE); None while it runs."""
        if self.returncode is None and self._connection is not None:
            self._read(block=False)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Until the kernel has ended, as Popen.wait (subprocess.TimeoutExpired past `timeout`)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None and self._connection is not None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired("zygote kernel", timeout or 0)
            self._read(block=True, timeout=left)
        return self.returncode if self.returncode is not None else EXIT_NO_ZYGOTE

    def send_signal(self, signum: int) -> None:
        """SIGKILL or SIGTERM end the kernel (the zygote kills its namespace); kernels are interrupted by message."""
        if signum in (signal.SIGKILL, signal.SIGTERM):
            self.kill()

    def kill(self) -> None:
        """Close the connection: the zygote kills the kernel's whole pid namespace (a status it had sent is kept)."""
        if self._connection is not None:
            self._read(block=False)
        if self._connection is not None:
            self._close()
            if self.returncode is None:
                self.returncode = -signal.SIGKILL

    terminate = kill

    def _read(self, block: bool, timeout: float | None = None) -> None:
        assert self._connection is not None
        try:
            self._connection.settimeout(timeout if block else 0.0)
            chunk = self._connection.recv(4096)
        except (BlockingIOError, InterruptedError, TimeoutError):
            return
        except OSError:
            chunk = b""
        if not chunk:  # the zygote has gone, and its kernels with it
            self._ended(EXIT_NO_ZYGOTE)
            return
        self._buffer += chunk
        while b"\n" in self._buffer and self.returncode is None:
            line, self._buffer = self._buffer.split(b"\n", 1)
            ended = ending(line)
            if ended:
                status, refusal = ended
                if refusal is not None:
                    log.error("the warm kernel process refused: %s", refusal)
                self._ended(status)

    def _ended(self, status: int) -> None:
        self.returncode = status
        self._close()

    def _close(self) -> None:
        """Shut the connection down, not only this descriptor: a copy a forked child still held would keep it open."""
        if self._connection is not None:
            try:
                self._connection.shutdown(socket.SHUT_RDWR)
            except OSError:  # the zygote closed it first
                pass
            self._connection.close()
            self._connection = None


class ZygoteProvisioner(LocalProvisioner):
    """LocalProvisioner, except that the zygote's client command is carried out here instead of started."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        """Connect to the zygote for the kernel; any other command is started as LocalProvisioner starts it."""
        request = client_request(cmd)
        if request is None:
            return await super().launch_kernel(cmd, **kwargs)
        self.process = ZygoteKernel(*request)
        self.pid = self.pgid = None
        self.cwd = kwargs.get("cwd")
        return self.connection_info

    async def cleanup(self, restart: bool = False) -> None:
        """A kernel still held is let go first (its namespace killed), whatever path led here."""
        if isinstance(self.process, ZygoteKernel):
            self.process.kill()
        await super().cleanup(restart=restart)
