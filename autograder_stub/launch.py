"""Entry point of a grading kernel started cold: the guard first, then ipykernel (`python -m autograder_stub.launch -f CONN`)."""

from __future__ import annotations

import os
import sys

from . import guard, limits, tracebacks
from .protocol import BLOCKED_ENV, OUTPUT_ENV


def prepare() -> None:
    """What every grading kernel does before it runs any student code (warm kernels call it after their fork)."""
    guard.install(os.environ.get(BLOCKED_ENV, "").split(","))
    tracebacks.install(guard.REFUSING_CODES)  # a refusal's traceback ends at the student's call
    budget = os.environ.get(OUTPUT_ENV, "")
    if budget.isdigit():
        limits.install(int(budget))
    # The grader's own modules a warm kernel inherited from its zygote: none is needed from here on.
    for name in [name for name in sys.modules if name == "autograder" or name.startswith("autograder.")]:
        del sys.modules[name]


def main() -> None:
    prepare()
    from ipykernel.kernelapp import IPKernelApp

    sys.argv = ["ipykernel_launcher", *sys.argv[1:]]
    IPKernelApp.launch_instance()


if __name__ == "__main__":
    main()
