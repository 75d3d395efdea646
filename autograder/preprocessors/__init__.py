"""Our grading steps, as nbgrader preprocessors wired in through nbgrader_config.py."""

from .clearsolutions import ClearSolutionsWithPlaceholders
from .deduplicatecells import DeduplicateCells
from .guardedexecute import GuardedExecute
from .hidetests import HideHiddenTests
from .requireexecution import RequireExecution
from .restorecells import RestoreCells
from .useexecuted import UseExecuted
from .verify import Verify

__all__ = ["ClearSolutionsWithPlaceholders", "DeduplicateCells", "GuardedExecute", "HideHiddenTests", "RequireExecution", "RestoreCells", "UseExecuted", "Verify"]
