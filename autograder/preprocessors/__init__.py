"""Our grading steps, as nbgrader preprocessors wired in through nbgrader_config.py."""

from .requireexecution import RequireExecution

__all__ = ["RequireExecution"]
