"""A Jupyter kernel manager whose kernel runs inside a Sandbox, reached over IPC sockets in the sandbox's run dir."""

from __future__ import annotations

import copy
import functools
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable

import autograder
import autograder_stub
import zmq
from autograder_stub.protocol import BLOCKED_ENV, OUTPUT_ENV
from autograder_stub.protocol import MAX_MESSAGE_BYTES as KERNEL_MESSAGE_CAP
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager, KernelManager, _get_future
from traitlets import Integer, List, Type, Unicode

from autograder.engine.errors import AutograderError
from autograder.isolation.bwrap import DEFAULT_LIMITS, Limits, Sandbox
from autograder.isolation.readyclient import ReadyClient
from autograder.isolation.zygote import Zygote
from autograder.isolation.zygoteprovisioner import ZygoteProvisioner

# The grader's own package: never visible inside a sandbox (its checks, references and seeds).
PACKAGE_DIR = Path(autograder.__file__).resolve().parent
# The kernel-side stub: the only grader code a kernel sees, bound read-only on its own.
STUB_DIR = Path(autograder_stub.__file__).resolve().parent

# Largest single message the grader accepts from a kernel (ZMQ drops the connection of a bigger one,
# and later output of that kernel is lost). The kernel itself cuts every message at the source to
# half of this (autograder_stub.limits); the largest record a test sends is about 10 KB.
MAX_MESSAGE_BYTES = 2 * KERNEL_MESSAGE_CAP
# Set by nbgrader's converters while they execute a notebook ("autograde"); a notebook may look at it.
EXECUTION_ENV = "NBGRADER_EXECUTION"
# How a grading kernel starts: the stub's guard first, then ipykernel.
LAUNCHER = ["-m", "autograder_stub.launch"]
# How often a stopping kernel's process is polled (jupyter_client: every 0.1 s, most of a shutdown's time).
WAIT_POLL_S = 0.005
# How soon a client's channel retries to connect to a kernel that has not bound its socket yet (ZMQ: 100 ms).
RECONNECT_MS = 5


def _settled_at_once(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """jupyter_client's `in_pending_state` without its 10 ms sleep "so tests can capture the state", paid per start and stop.

    Same future handling: `ready` is pending while the method runs, then resolved with its outcome.
    """
    inner = method.__wrapped__  # type: ignore[attr-defined]

    @functools.wraps(inner)
    async def wrapper(self: KernelManager, *args: Any, **kwargs: Any) -> Any:
        if self._attempted_start or not self._ready:
            self._ready = _get_future()
        try:
            out = await inner(self, *args, **kwargs)
        except Exception as error:
            self._ready.set_exception(error)
            if isinstance(error, AutograderError):  # ours says what and why; whoever started the kernel reports it
                self.log.debug("%s", error)
            else:
                self.log.exception(self._ready.exception())
            raise
        if self.owns_kernel:
            self._ready.set_result(None)
        return out

    return wrapper


class PlainKernelManager(AsyncKernelManager):
    """jupyter_client's manager, with clients that refuse oversized messages and a kernel that starts guarded."""

    blocked_ops = List(Unicode(), help="Operators the kernel refuses: the lesson's taught operators (set by GuardedExecute)").tag(
        config=True
    )
    output_budget = Integer(256 * 1024, help="Stream output per cell the kernel sends at most (cut at the source)").tag(
        config=True
    )
    # Ready when the kernel_info round trip is back on IOPub, not after 0.2 s of IOPub silence (readyclient.py).
    client_factory = Type(ReadyClient, klass=ReadyClient, config=True)

    def kernel_env(self) -> dict[str, str]:
        """What a grading kernel is told: where the stub is, what to refuse, how much to print."""
        return {
            # The stub bound read-only into the sandbox (the grader's own copy), not whatever copy
            # the environment's import hooks point at (an editable install elsewhere).
            "PYTHONPATH": str(STUB_DIR.parent),
            BLOCKED_ENV: ",".join(self.blocked_ops),
            OUTPUT_ENV: str(self.output_budget),
            # nbgrader's converters say which step runs the notebook (autograde sets it while executing).
            **({EXECUTION_ENV: os.environ[EXECUTION_ENV]} if os.environ.get(EXECUTION_ENV) else {}),
        }

    def guarded_argv(self, argv: list[str]) -> list[str]:
        """The standard Python kernel's command, started through the stub's launcher instead."""
        if argv[1:3] == ["-m", "ipykernel_launcher"]:
            return [argv[0], *LAUNCHER, *argv[3:]]
        return argv

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        return self.guarded_argv(super().format_kernel_cmd(extra_arguments))

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        argv, kw = await super()._async_pre_start_kernel(**kw)
        kw["env"] = {**kw.get("env", {}), **self.kernel_env()}
        return argv, kw

    _async_start_kernel = _settled_at_once(KernelManager._async_start_kernel)
    _shutdown_kernel = _settled_at_once(KernelManager._async_shutdown_kernel)
    _killing = False  # while a shutdown that kills (`now`) runs

    async def _async_shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
        """jupyter_client's shutdown; one that kills (`now`) sends no interrupt first (see _async_interrupt_kernel)."""
        self._killing = now
        try:
            await self._shutdown_kernel(now=now, restart=restart)
        finally:
            self._killing = False

    async def _async_interrupt_kernel(self) -> None:
        """Not on the way to a kill: jupyter_client interrupts before every shutdown, and a kernel still finishing its
        last request would spend the moments before the kill formatting a KeyboardInterrupt's traceback (tenths of a
        second of CPU for IPython's, when the kill is slow to come)."""
        if self._killing:
            return
        await super()._async_interrupt_kernel()
    # jupyter_client binds the public names to its own functions, not to overrides.
    start_kernel = _async_start_kernel
    shutdown_kernel = _async_shutdown_kernel

    async def _async_wait(self, pollinterval: float = 0.1) -> None:
        """Until the kernel's process has exited, polled often: it is killed, not waited for, and ends at once."""
        await super()._async_wait(pollinterval=min(pollinterval, WAIT_POLL_S))

    def client(self, **kwargs: Any) -> Any:
        client = super().client(**kwargs)
        client.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)  # sockets made from here on inherit it
        # The channels connect before the kernel has bound its sockets; ZMQ retries every 100 ms by default.
        client.context.setsockopt(zmq.RECONNECT_IVL, RECONNECT_MS)
        return client


class SandboxedKernelManager(PlainKernelManager):
    """Starts each kernel confined (no network, no course files, limits); its sandbox is removed on shutdown."""

    memory_bytes = Integer(DEFAULT_LIMITS.memory_bytes, help="Memory of all kernel processes together (cgroup)").tag(
        config=True
    )
    address_space_bytes = Integer(DEFAULT_LIMITS.address_space_bytes, help="RLIMIT_AS of each kernel process").tag(
        config=True
    )
    processes = Integer(DEFAULT_LIMITS.processes, help="Most processes the kernel may run at once").tag(config=True)
    file_size_bytes = Integer(DEFAULT_LIMITS.file_size_bytes, help="Largest file the kernel may write").tag(config=True)
    hidden_paths = List(
        Unicode(), help="Folders to mask inside the sandbox (the course root and the current directory always are)"
    ).tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sandbox: Sandbox | None = None

    @property
    def limits(self) -> Limits:
        return DEFAULT_LIMITS.merged(
            memory_bytes=self.memory_bytes,
            address_space_bytes=self.address_space_bytes,
            processes=self.processes,
            file_size_bytes=self.file_size_bytes,
        )

    @property
    def kernel_spec(self) -> KernelSpec | None:
        """The usual spec, but interrupted by message: signals sent to bwrap never reach the kernel inside."""
        spec = super().kernel_spec
        if spec is not None and spec.interrupt_mode != "message":
            spec = copy.copy(spec)
            spec.interrupt_mode = "message"
            self._kernel_spec = spec
        return spec

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        if self.sandbox is None:
            hidden = [Path.cwd(), PACKAGE_DIR, *map(Path, self.hidden_paths)]
            self.sandbox = Sandbox(self.limits, readable=[STUB_DIR], hidden=hidden).open()
            if kw.get("cwd"):  # the notebook's folder (nbclient: resources["metadata"]["path"]): its files, read-only
                self.sandbox.share(Path(kw["cwd"]))
            self.transport = "ipc"
            self.ip = str(self.sandbox.run_dir / "kernel")
            self.connection_file = str(self.sandbox.run_dir / f"kernel-{uuid.uuid4().hex[:8]}.json")
        kw["cwd"] = str(self.sandbox.run_dir)  # never the submission's folder; bwrap then enters the work dir
        # What the kernel process writes to its own fds (os.write, C code) must not flood the grader's terminal.
        kw["stdout"] = kw["stderr"] = subprocess.DEVNULL
        return await AsyncKernelManager._async_pre_start_kernel(self, **kw)  # the env travels in the sandbox's command

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        assert self.sandbox is not None
        return self.sandbox.command(PlainKernelManager.format_kernel_cmd(self, extra_arguments), env=self.kernel_env())

    def write_connection_file(self, **kwargs: Any) -> None:
        super().write_connection_file(**kwargs)
        if self.sandbox is not None and os.path.exists(self.connection_file):
            self.sandbox.give(Path(self.connection_file))

    @property
    def oom_killed(self) -> bool:
        """Whether the sandbox's memory limit was hit since the kernel started."""
        return self.sandbox is not None and self.sandbox.oom_killed

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart and self.sandbox is not None:
            self.sandbox.close()
            self.sandbox = None

    # jupyter_client binds the public name to its own function, not to an override: nbclient calls
    # it directly when the kernel is already dead, and the sandbox must be removed then too.
    cleanup_resources = _async_cleanup_resources


class WarmKernelManager(SandboxedKernelManager):
    """A sandboxed kernel forked from the warm zygote (torch already imported) instead of started cold under bwrap.

    Same sandbox, limits and cleanup as SandboxedKernelManager; only root can confine a fork, so
    `available()` says when to use this one.
    """

    known_sources = List(
        Unicode(),
        help="Cell texts every student holds (set by GuardedExecute: the release notebook's cells, and the test cells' "
        "code over them) that the zygote prepares once for its kernels; never a student's text nor a hidden one",
    )

    @staticmethod
    def available() -> bool:
        return Zygote.available()

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        if self.provisioner is None:  # as jupyter_client's factory would make it, ours: the zygote's client in this process
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", None) or str(uuid.uuid4())
            self.provisioner = ZygoteProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        assert self.sandbox is not None
        argv = PlainKernelManager.format_kernel_cmd(self, extra_arguments)
        if argv[1:3] != LAUNCHER:  # not the standard Python kernel: start it cold
            return self.sandbox.command(argv, env=self.kernel_env())
        cgroups = [str(folder) for folder in self.sandbox.cgroup.dirs] if self.sandbox.cgroup else []
        root = self.sandbox.root / f"fs-{uuid.uuid4().hex[:8]}"
        return Zygote.shared().command(self.sandbox.layout(self.kernel_env()), argv[3:], cgroups, root, self.known_sources)
