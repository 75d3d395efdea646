"""Turn an executed test cell into the Spanish text a student reads for that test."""

from __future__ import annotations

import re

from nbformat import NotebookNode

from autograder.engine.results import PASSED_OUTPUT

# The exception class our checks raise (autograder.engine.checks.core.TestFailure); named here to keep torch out of this process.
FAILURE_NAME = "TestFailure"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # terminal escapes (colours, cursor moves) in tracebacks and streams
MISSING_CELL = "La celda de esta prueba no se encontró en el cuaderno entregado."
STDERR = "La celda de la prueba escribió en la salida de errores (stderr), y nbgrader la cuenta como fallida:\n{text}"
ERROR = "La prueba no pudo completarse: {ename}: {evalue}"
TIMEOUT = "La celda excedió el tiempo límite."


def cell_output(cell: NotebookNode | None, passed: bool) -> str:
    """The feedback of one graded cell: our failure message, or the error the cell raised."""
    if cell is None:
        return MISSING_CELL
    if passed:
        return PASSED_OUTPUT
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            ename, evalue = output.get("ename", ""), output.get("evalue", "")
            if ename in (FAILURE_NAME, "AssertionError") and evalue:
                return ANSI.sub("", evalue)
            if ename == "CellTimeoutError":
                return TIMEOUT
            return ERROR.format(ename=ename, evalue=ANSI.sub("", evalue)[:500])
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            return STDERR.format(text=output.get("text", "")[:500])
    return ERROR.format(ename="?", evalue="sin detalles")
