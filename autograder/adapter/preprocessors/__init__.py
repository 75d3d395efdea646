"""Our grading steps, as nbgrader preprocessors wired in through nbgrader_config.py."""

from autograder.adapter.preprocessors.checkmetadata import CachedCheckCellMetadata
from autograder.adapter.preprocessors.clearsolutions import ClearSolutionsWithPlaceholders
from autograder.adapter.preprocessors.deduplicatecells import DeduplicateCells
from autograder.adapter.preprocessors.feedbacksummary import FeedbackSummary
from autograder.adapter.preprocessors.guardedexecute import GuardedExecute
from autograder.adapter.preprocessors.hidetests import HideHiddenTests
from autograder.adapter.preprocessors.overwritecells import OverwriteCellsAtOnce
from autograder.adapter.preprocessors.requireexecution import RequireExecution
from autograder.adapter.preprocessors.restorecells import RestoreCells
from autograder.adapter.preprocessors.saveautogrades import SaveAutoGradesAtOnce
from autograder.adapter.preprocessors.useexecuted import UseExecuted
from autograder.adapter.preprocessors.verify import Verify

__all__ = ["CachedCheckCellMetadata", "ClearSolutionsWithPlaceholders", "DeduplicateCells", "FeedbackSummary", "GuardedExecute", "HideHiddenTests", "OverwriteCellsAtOnce", "RequireExecution", "RestoreCells", "SaveAutoGradesAtOnce", "UseExecuted", "Verify"]
