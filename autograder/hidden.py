"""The one import hidden test cells make: `from autograder.hidden import check`."""

from .checks import check

__all__ = ["check"]
