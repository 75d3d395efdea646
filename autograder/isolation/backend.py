"""Where student code runs, behind one small interface: each isolation backend is one module and one entry in BACKENDS.

A backend says what it is called, whether it can run on this machine (`available` raises
SandboxUnavailable, one clear line with the fix, when it cannot), and which Jupyter kernel manager
starts its kernels. GuardedExecute chooses one per notebook (`choose`) and hands its manager class to
nbclient; nothing else about the backend leaks into grading.

Adding one (a container runtime, say): write autograder/isolation/<name>.py with a class that has
these three members (its kernel manager subclasses sandboxkernel.PlainKernelManager, so the kernel
still gets the lesson's blocked operators, the output budget and NBGRADER_EXECUTION from
`kernel_env()`, and, if it confines, shows the notebook's folder files read-only as
SandboxedKernelManager does), and add the class to `_REGISTERED` below. It can then be chosen
with `c.GuardedExecute.isolation = "<name>"`.
"""

from __future__ import annotations

from typing import ClassVar, Protocol, runtime_checkable

from jupyter_client.manager import KernelManager

from autograder.engine.errors import AutograderError
from autograder.isolation.bubblewrap import Bubblewrap
from autograder.isolation.unconfined import Unconfined
from autograder.isolation.warmfork import WarmFork


@runtime_checkable
class IsolationBackend(Protocol):
    """One way to run a grading kernel (structural: a backend class need not inherit from this)."""

    name: ClassVar[str]  # what `GuardedExecute.isolation` calls it

    @staticmethod
    def available() -> None:
        """Return if kernels can start here; else raise SandboxUnavailable saying why and how to fix it."""

    @staticmethod
    def kernel_manager_class() -> type[KernelManager]:
        """The jupyter_client manager whose kernels run under this backend."""


# Every backend, by name. A new backend is one module and one entry here.
_REGISTERED: tuple[type[IsolationBackend], ...] = (Unconfined, Bubblewrap, WarmFork)
BACKENDS: dict[str, type[IsolationBackend]] = {backend.name: backend for backend in _REGISTERED}


class UnknownBackend(AutograderError, ValueError):
    """A configured isolation backend that does not exist; the message lists those that do."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(
            f"unknown isolation backend {name!r} (GuardedExecute.isolation): use one of {', '.join(known)}, "
            "or leave it empty to choose from GuardedExecute.sandbox and GuardedExecute.warm"
        )


def backend_named(name: str) -> type[IsolationBackend]:
    """The backend registered under this name; UnknownBackend (listing the known names) for any other."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise UnknownBackend(name, sorted(BACKENDS)) from None


def choose(isolation: str = "", *, sandbox: bool = True, warm: bool = True) -> type[IsolationBackend]:
    """The backend a grading uses, from GuardedExecute's configuration; not yet checked (call `available()`).

    `sandbox=False` (the CLI's --no-sandbox) always means unconfined: it is the explicit way out, and
    wins over a course's configured backend. Otherwise a named `isolation` is that backend (no silent
    fallback: an unavailable one fails with its reason). Empty, the rule is the historical one: the warm
    fork where `warm` is set and it can run here, else bubblewrap started cold.
    """
    if not sandbox:
        return Unconfined
    if isolation:
        return backend_named(isolation)
    if warm and WarmFork.usable():
        return WarmFork
    return Bubblewrap
