"""Auto-grading for nbgrader courses of PyTorch notebook exercises; each assignment is graded by a lesson package (autograder/lessons)."""

import sys

__version__ = "0.1.0"

# jsonschema (imported by nbformat and nbgrader) builds a Lark grammar for its "iri" formats when
# rfc3987-syntax is installed: about 2 s of CPU per process, on the critical path of every grading,
# for a format no notebook schema uses. Marking the module missing makes jsonschema skip it.
if "jsonschema" not in sys.modules:
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]
