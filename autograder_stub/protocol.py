"""Names both sides of the grading conversation agree on (no torch here: the grader reads them before importing it)."""

# The MIME type under which the stub's record leaves the kernel, as a display output of the test cell.
RECORD_MIME = "application/vnd.autograder.probe+json"
# Version of the request and record formats; a record of another version counts for nothing.
VERSION = 2
# A graded test cell's code starts with this call; the request (as JSON text) rides in the execute request's content
# under REQUEST_FIELD, not in the code (IPython would tokenize, hash and compile its inputs as part of the cell).
RUN_CALL = "__import__('autograder_stub.runner').runner.run()"
REQUEST_FIELD = "autograder_request"
# The kernel's environment variables set by the grader.
BLOCKED_ENV = "AUTOGRADER_BLOCKED_OPS"  # comma-separated operator names ("aten::relu", "quantized::max_pool2d")
OUTPUT_ENV = "AUTOGRADER_MAX_OUTPUT"  # bytes of stream output kept per cell in the kernel
# What the grader's request asks for.
KIND_CALLS = "calls"  # call the named function on each of the given inputs
KIND_VALUE = "value"  # send the named value itself (e.g. the kernel Gx)
# Per call of the student's function: CPU seconds (fair on a loaded machine; an honest call takes
# milliseconds, and 2 s of CPU stays within a cell's 20 s even with four processes per core) and a
# wall-clock backstop.
CALL_CPU_SECONDS = 2.0
CALL_WALL_SECONDS = 60.0
# Largest single message the kernel sends: anything bigger is replaced at the source by a short note.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def public_op_name(op: str) -> str:
    """How a student spells a dispatcher operator ("aten::relu" -> "torch.relu"), so messages never show internal names."""
    namespace, _, name = str(op).partition("::")
    if not name:
        return namespace
    name = name.split(".")[0].removesuffix("_with_indices")
    return f"torch.{name}" if namespace == "aten" else name
