"""Our grading steps, as nbgrader preprocessors wired in through nbgrader_config.py."""

from .guardedexecute import GuardedExecute
from .requireexecution import RequireExecution
from .restorecells import RestoreCells
from .verify import Verify

__all__ = ["GuardedExecute", "RequireExecution", "RestoreCells", "Verify"]
