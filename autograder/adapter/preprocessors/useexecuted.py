"""Hand nbgrader's Autograde the notebook a parallel worker already executed and verified, so only one process writes (and scores into) the gradebook."""

from __future__ import annotations

from pathlib import Path
from typing import Tuple

import nbformat
from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode


class UseExecuted(NbGraderPreprocessor):
    """Replace the submission with its executed copy from `folder`/<student>.ipynb.

    `autograder autograde` runs the steps that decide a grade (GuardedExecute, Verify, … everything
    before SaveAutoGrades) for many students at once in worker processes, saving no score; then
    nbgrader's own Autograde converter, in one process, files each into the course: this step stands
    in for the steps already run (the sanitize pass only copies the submission through), and
    SaveAutoGrades, AssignLatePenalties and the rest of the chain follow as usual, scoring it once.
    """

    folder = Unicode("", help="Folder of executed notebooks, one <student>.ipynb per student.").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> Tuple[NotebookNode, ResourcesDict]:
        student = resources["nbgrader"]["student"]
        path = Path(self.folder) / f"{student}.ipynb"
        if not self.folder or not path.is_file():
            raise FileNotFoundError(f"no executed notebook for {student} in {self.folder!r}")
        # nbformat.read(path, as_version=4) without its check, which only logs: an invalid notebook stops here,
        # before any score is saved (nbconvert's own check, which allows properties the schema does not name,
        # would only come after the last step).
        executed = nbformat.convert(nbformat.reader.reads(path.read_text(encoding="utf-8")), 4)
        nbformat.validate(executed, relax_add_props=True)
        return executed, resources
