"""The bubblewrap backend: each kernel started cold under bwrap (namespaces, a new root, limits, a uid of its own)."""

from __future__ import annotations

from typing import ClassVar

from autograder.isolation.bwrap import check_available
from autograder.isolation.sandboxkernel import SandboxedKernelManager


class Bubblewrap:
    """A kernel per sandbox (autograder.isolation.bwrap.Sandbox), its interpreter and imports started from scratch."""

    name: ClassVar[str] = "bubblewrap"

    @staticmethod
    def available() -> None:
        """Whether bwrap, prlimit and setpriv work here (checked once); SandboxUnavailable with the fix if not."""
        check_available()

    @staticmethod
    def kernel_manager_class() -> type[SandboxedKernelManager]:
        return SandboxedKernelManager
