"""The unconfined backend: the kernel runs as the grader, with its rights, network and files (trusted notebooks only)."""

from __future__ import annotations

from typing import ClassVar

from autograder.isolation.sandboxkernel import PlainKernelManager


class Unconfined:
    """No isolation at all (`--no-sandbox`): jupyter_client's own kernel, started guarded in the notebook's folder."""

    name: ClassVar[str] = "unconfined"

    @staticmethod
    def available() -> None:
        """Always: it needs nothing."""

    @staticmethod
    def kernel_manager_class() -> type[PlainKernelManager]:
        return PlainKernelManager
