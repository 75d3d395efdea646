"""The command-line options a notebook's kernel starts with, for grading and for `check`: one definition of each."""

from __future__ import annotations

# IPython's inline backend draws nothing (figures earn no points).
NO_FIGURES = "--InlineBackend.figure_formats=set()"
# IPython keeps the session's history (`In`, `%history`) in memory, not in an SQLite file it writes after every cell:
# a quarter of a trivial cell's cost in the kernel, and student code never lands in anyone's ~/.ipython.
MEMORY_HISTORY = "--HistoryManager.hist_file=:memory:"
# The environment variable a lesson's figure helpers read: "0" means nobody will look, return at once.
FIGURES_ENV = "AUTOGRADER_FIGURES"
# The same, as a line run at kernel start (where the kernel's environment cannot be set).
NO_FIGURES_LINE = f"__import__('os').environ[{FIGURES_ENV!r}] = '0'"
