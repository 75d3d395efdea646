"""The warm fork backend: each kernel forked from the warm zygote (torch imported), which confines itself as bwrap would."""

from __future__ import annotations

from typing import ClassVar

from autograder.isolation.bwrap import SandboxUnavailable, check_available
from autograder.isolation.sandboxkernel import WarmKernelManager


class WarmFork:
    """The same sandbox, limits and cleanup as bubblewrap, but the kernel is a fork (autograder.isolation.zygote, confine)."""

    name: ClassVar[str] = "warmfork"

    @staticmethod
    def usable() -> bool:
        """Whether forks can confine themselves here (root with CAP_SYS_ADMIN; checked once)."""
        return WarmKernelManager.available()

    @staticmethod
    def available() -> None:
        check_available()  # each kernel still gets a Sandbox: its scratch dir, cgroup and uid
        if not WarmFork.usable():
            raise SandboxUnavailable(
                "warm kernels need root with the rights to unshare namespaces and mount (CAP_SYS_ADMIN)",
                'grade as root outside a restricted container, or set c.GuardedExecute.isolation = "bubblewrap"',
            )

    @staticmethod
    def kernel_manager_class() -> type[WarmKernelManager]:
        return WarmKernelManager
