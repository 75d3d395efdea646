"""nbgrader's CheckCellMetadata, remembering which cell metadata already passed the schema: the same check, paid once per process."""

from __future__ import annotations

import hashlib
import json
import traceback
from typing import ClassVar

from nbformat.notebooknode import NotebookNode
from nbgrader.nbgraderformat import MetadataValidator, ValidationError
from nbgrader.nbgraderformat.common import BaseMetadataValidator
from nbgrader.preprocessors import CheckCellMetadata


class _SchemaOnce(BaseMetadataValidator):
    """The schema part of a cell's check (version, then JSON schema), skipped for metadata that already passed it.

    That part depends on the metadata alone, and jsonschema checks the schema itself again on every call:
    a notebook's 45 cells cost 20-50 ms per check, twice per submission. Every submission of an assignment
    carries the same metadata (OverwriteCells restores it from the source), so after the first it is a lookup.
    Metadata that fails is never remembered: it fails the same way each time.
    """

    _passed: ClassVar[set[str]] = set()
    _REMEMBERED: ClassVar[int] = 10_000  # distinct metadata kept per process (a hostile notebook's invented ones are many)

    def validate_cell(self, cell: NotebookNode) -> None:
        meta = cell.metadata.get("nbgrader")
        if meta is None:
            return
        # A digest, not the text: a notebook's invented metadata (long grade_ids) must not fill the memory.
        text = f"{self.schema_version}\0{json.dumps(meta, sort_keys=True, default=repr)}"
        key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        if key in self._passed:
            return
        super().validate_cell(cell)
        if len(self._passed) >= self._REMEMBERED:
            self._passed.clear()
        self._passed.add(key)


class _RememberingValidator(MetadataValidator, _SchemaOnce):
    """nbgrader's validator (its own per-cell and per-notebook checks all run) over the remembered schema part."""


class CachedCheckCellMetadata(CheckCellMetadata):
    """CheckCellMetadata with the remembering validator: the same checks, errors and log lines as nbgrader's."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        try:
            _RememberingValidator().validate_nb(nb)
        except ValidationError as error:
            self.log.error(traceback.format_exc())
            message = "Notebook failed to validate; the nbgrader metadata may be corrupted."
            self.log.error(message)
            raise ValidationError(message) from error
        return nb, resources
