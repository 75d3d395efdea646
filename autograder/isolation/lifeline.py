"""Imported first by the batch's forkserver process: it then dies with the grader that started it (even on SIGKILL).

The forkserver forks the batch's worker processes, which tie themselves to it the same way, so
killing the grader leaves no worker grading on.
"""

from autograder.isolation.confine import die_with_parent

die_with_parent()
