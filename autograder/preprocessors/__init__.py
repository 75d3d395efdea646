"""Our grading steps, as nbgrader preprocessors wired in through nbgrader_config.py."""

from .requireexecution import RequireExecution
from .restorecells import RestoreCells

__all__ = ["RequireExecution", "RestoreCells"]
