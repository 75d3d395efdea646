"""Record which ATen operators really run during a student's call, whatever Python name reached them.

Used where the answer runs in the grader's own process (an instructor's check in Jupyter, unit
tests); a grading kernel instead refuses the operators outright (autograder_stub.guard).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from types import TracebackType

from torch.utils._python_dispatch import TorchDispatchMode

from autograder.engine.lesson import Part


class OpRecorder(TorchDispatchMode):
    """A dispatch mode that notes the name of every ATen operator it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        """Leave `__torch_dispatch__` unwrapped: torch's wrapper imports torch._dynamo (about 800
        modules, 1.3-3 s) on the first traced operator, in every kernel and in the grader."""
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        self.names.append(func.overloadpacket._qualified_op_name)
        return func(*args, **(kwargs or {}))


@functools.lru_cache(maxsize=1)
def prime() -> None:
    """Trace one trivial operation, once per process, outside any time limit.

    Whatever one-time work torch does on the first dispatch mode (lazy imports, caches) must not run
    inside the per-call time limit of the student's first call: an import interrupted half-way
    leaves torch broken for the rest of the kernel ("cannot import name '_shard'"), failing a
    correct answer. Since OpRecorder opts out of torch._dynamo this takes milliseconds.
    """
    import torch

    with OpTrace():
        torch.zeros(1).add(1)


@dataclass
class OpTrace:
    """Context manager that records the operators run inside it; `forbidden(part)` reports misuse."""

    ops: list[str] = field(default_factory=list)
    _recorder: OpRecorder | None = None

    def __enter__(self) -> "OpTrace":
        self._recorder = OpRecorder()
        self._recorder.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._recorder is not None
        self._recorder.__exit__(exc_type, exc, tb)
        self.ops = list(self._recorder.names)
        self._recorder = None

    def forbidden(self, part: Part) -> list[str]:
        """The forbidden operators of `part` that ran, in first-seen order."""
        banned = part.forbidden_ops
        seen: list[str] = []
        for name in self.ops:
            if name in banned and name not in seen:
                seen.append(name)
        return seen
