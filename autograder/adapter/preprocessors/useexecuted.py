"""Hand nbgrader's Autograde the notebook a parallel worker already executed and verified, so only one process writes the gradebook."""

from __future__ import annotations

from pathlib import Path
from typing import Tuple

import nbformat
from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode


class UseExecuted(NbGraderPreprocessor):
    """Replace the sanitized submission with its executed copy from `folder`/<student>.ipynb.

    `autograder autograde` runs the expensive steps (GuardedExecute, Verify, …) for many students
    at once in worker processes, each with a scratch gradebook; then nbgrader's own Autograde
    converter, in one process, files each result into the course: this step stands in for the
    steps already run, and SaveAutoGrades and the rest of the chain follow as usual.
    """

    folder = Unicode("", help="Folder of executed notebooks, one <student>.ipynb per student.").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> Tuple[NotebookNode, ResourcesDict]:
        student = resources["nbgrader"]["student"]
        path = Path(self.folder) / f"{student}.ipynb"
        if not self.folder or not path.is_file():
            raise FileNotFoundError(f"no executed notebook for {student} in {self.folder!r}")
        return nbformat.read(path, as_version=4), resources
