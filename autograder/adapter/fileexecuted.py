"""nbgrader's Autograde for notebooks a worker already executed: the autograde pass alone, when there is nothing to sanitize."""

from __future__ import annotations

from typing import Any

import nbformat
from nbconvert.exporters import Exporter, NotebookExporter
from nbgrader import utils
from nbgrader.converters import Autograde
from nbgrader.converters.base import BaseConverter
from traitlets import Type

from autograder.adapter.preprocessors.useexecuted import UseExecuted


class ReplacedFirstExporter(NotebookExporter):
    """nbconvert's NotebookExporter, except that a notebook whose first step is UseExecuted is not read.

    That step puts the executed copy in place of whatever it is handed, so reading the submission (parsed, checked
    against the schema) and deep-copying it (nbconvert copies what it converts) was about a tenth of each student's
    filing; the chain gets an empty notebook instead. With any other first step, the file is read as nbconvert reads it.
    """

    def from_file(self, file_stream: Any, resources: dict[str, Any] | None = None, **kw: Any) -> tuple[str, dict[str, Any]]:
        first = self._preprocessors[0] if self._preprocessors else None
        if isinstance(first, UseExecuted) and first.enabled:
            return self.from_notebook_node(nbformat.v4.new_notebook(), resources=resources, **kw)
        return super().from_file(file_stream, resources=resources, **kw)


class FileExecuted(Autograde):
    """Autograde with no sanitize steps configured: one pass over the submission instead of two.

    nbgrader's Autograde reads the submission, runs the sanitize steps and writes it to autograded/, then
    reads that copy back for the autograde steps. A batch's filer has no sanitize steps (its workers ran
    them) and its first autograde step, UseExecuted, replaces the notebook anyway: the first pass only
    copied a file that the second then overwrote. Here the autograde pass reads the submission where it
    is; everything else (init_assignment, timestamps, files copied, the chain, the notebook written to
    autograded/) is Autograde's own. With sanitize steps configured, it is Autograde unchanged.
    """

    exporter_class = Type(
        ReplacedFirstExporter, klass=Exporter, help="The exporter of each pass (one that does not read a notebook UseExecuted replaces)"
    ).tag(config=True)

    @property
    def _input_directory(self) -> str:
        if self.sanitize_preprocessors:
            return super()._input_directory
        return self.coursedir.submitted_directory  # the one pass reads the submission where it is

    def convert_single_notebook(self, notebook_filename: str) -> None:
        if self.sanitize_preprocessors:
            super().convert_single_notebook(notebook_filename)
            return
        self._sanitizing = False
        self._init_preprocessors()
        # nbconvert checks the notebook against its schema after every step (about 12 ms a student filed): once,
        # after the last, is enough here, where UseExecuted checks what it reads before anything is saved. Never
        # for an empty chain, where nbconvert's single check fails.
        self.exporter.optimistic_validation = bool(self.autograde_preprocessors)
        try:
            with utils.setenv(NBGRADER_EXECUTION="autograde"):
                BaseConverter.convert_single_notebook(self, notebook_filename)
        finally:
            self._sanitizing = True
