"""nbgrader configuration for this course directory (the repository root).

Plain `nbgrader generate_assignment` / `nbgrader autograde` run from here use the
same layout and grading steps as the `autograder` command.
"""

c = get_config()  # noqa: F821  (injected by traitlets when this file is loaded)

c.CourseDirectory.course_id = "activation_maxpool_course"
c.CourseDirectory.root = "."
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"

# Spanish stub left where a solution was removed from the student template.
c.ClearSolutions.code_stub = {
    "python": '# TU CÓDIGO AQUÍ\nraise NotImplementedError("Sin implementar: escribe aquí tu respuesta")'
}
c.ClearSolutions.text_stub = "ESCRIBE AQUÍ TU RESPUESTA"
# An answer cell that defines a value (the lesson's Gx) gets the placeholder its lesson names, one
# that runs; add or override some per grade_id with c.ClearSolutionsWithPlaceholders.placeholders.

# Which lesson package grades each assignment (solutions/<name>/<name>.ipynb). An assignment named
# like a shipped lesson (autograder/lessons/<name>) needs no entry; the same lesson released under
# another name (another group, a retake) is mapped here, e.g.
#   c.Lessons.assignments = {"activation_maxpool_retake": "autograder.lessons.activation_maxpool"}
# A course's own lesson package may live beside this file (the course root is on the import path).
c.Lessons.assignments = {}

# nbgrader's generate_assignment chain, with ClearSolutions swapped for the subclass that knows
# the placeholders above (the rest is nbgrader 0.9's default list, in its order).
from nbgrader.preprocessors import (  # noqa: E402
    CheckCellMetadata,
    ClearHiddenTests,
    ClearMarkScheme,
    ClearOutput,
    ComputeChecksums,
    IncludeHeaderFooter,
    InstantiateTests,
    LockCells,
    SaveCells,
)

from autograder.adapter.preprocessors import ClearSolutionsWithPlaceholders  # noqa: E402

c.GenerateAssignment.preprocessors = [
    IncludeHeaderFooter,
    InstantiateTests,
    LockCells,
    ClearSolutionsWithPlaceholders,
    ClearOutput,
    CheckCellMetadata,
    ComputeChecksums,
    SaveCells,
    ClearHiddenTests,
    ClearMarkScheme,
    ComputeChecksums,
    CheckCellMetadata,
]

# Per-cell wall-clock limit (the lesson's slowest cell takes about 4 s). A cell past it is
# interrupted, the kernel restarted and the earlier cells replayed (GuardedExecute).
c.Execute.timeout = 20

# Grading speed: each sandboxed kernel is forked from a warm process that has already imported
# torch (needs root; otherwise kernels start cold under bwrap). The lesson's figures are neither
# built nor drawn while grading (they were most of a notebook's run time and no test looks at them):
# the kernel gets AUTOGRADER_FIGURES=0, which the lesson's figure helpers check, so graded and
# feedback notebooks have no pictures where the student's own notebook has them. Set
# figures = True to keep them.
c.GuardedExecute.warm = True
c.GuardedExecute.figures = False
# Where kernels run (autograder.isolation.backend): empty picks as above from `sandbox` and `warm`;
# or name one backend: "bubblewrap" (always cold), "warmfork" (fails where it cannot run) or
# "unconfined" (trusted notebooks only). --no-sandbox (sandbox = False) always means unconfined.
c.GuardedExecute.isolation = ""

# Grade batches on a Dask cluster instead of this machine's process pool: the scheduler's address
# (tcp://HOST:PORT, or tls://... across machines); `autograder autograde --scheduler` overrides it.
# Empty: this machine. Needs the `cluster` extra; see docs/cluster.md.
c.Cluster.scheduler = ""

# nbgrader's autograde chain with our steps inserted where they belong; the same list
# serves `nbgrader autograde` from this directory and `autograder grade`.
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties,
    IgnorePattern,
    LimitOutput,
)

from autograder.adapter.preprocessors import (  # noqa: E402
    CachedCheckCellMetadata,
    GuardedExecute,
    RequireExecution,
    SaveAutoGradesAtOnce,
    Verify,
)

c.Autograde.autograde_preprocessors = [
    GuardedExecute,  # nbgrader's Execute in a sandboxed kernel, restarted after a fault
    RequireExecution,  # a test cell that never ran scores 0, not full marks
    Verify,  # test cells decided in this process from their probe records, not by the kernel
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGradesAtOnce,  # nbgrader's SaveAutoGrades, the notebook's rows read at once and committed once
    AssignLatePenalties,
    CachedCheckCellMetadata,  # nbgrader's CheckCellMetadata; metadata that passed the schema is not checked again
]

# Students appear in gradebook.db as their submissions arrive.
c.Autograde.create_student = True

# Python warnings printed by student code would zero a test cell (any stderr
# output does); drop stderr chunks that are only warnings.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"^(\S.*:\d+: \w*Warning: .*\n(  .*\n)?)+$"

# Keep the kernel's own start-up chatter (it logs to stderr) out of the grader's output.
c.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR"]

# Tests and points come from solutions/, whatever the submission did to its test cells:
# nbgrader's default sanitize chain, with RestoreCells after OverwriteCells. OverwriteCells
# resets the source and points of graded/locked cells still present; RestoreCells puts back
# those the student deleted (from solutions/<assignment>/<notebook>.ipynb). DeduplicateCells
# replaces nbgrader's DeduplicateIds: of the copies of a pasted cell (same grade_id) the last one
# keeps the nbgrader metadata and the earlier ones run as ordinary cells, valid for CheckCellMetadata.
from nbgrader.preprocessors import (  # noqa: E402
    ClearOutput,
    OverwriteKernelspec,
)

from autograder.adapter.preprocessors import DeduplicateCells, OverwriteCellsAtOnce, RestoreCells  # noqa: E402

c.Autograde.sanitize_preprocessors = [
    ClearOutput,
    DeduplicateCells,  # copies of a cell: only the last one is the graded (or answer, or locked) cell
    OverwriteKernelspec,
    OverwriteCellsAtOnce,  # nbgrader's OverwriteCells, the release's cells read at once instead of per cell
    RestoreCells,  # a graded or locked cell the student deleted is re-inserted from the source
    CachedCheckCellMetadata,
]

# Student feedback: nbgrader's generate_feedback chain with our steps before the HTML export.
# Autograde restores the hidden tests from solutions/, so the autograded notebook holds their code;
# in the feedback each hidden region becomes a one-line comment, and the cells' outputs (the Spanish
# message of a failed test) stay. FeedbackSummary hands the page template the score per part and each
# test's Spanish name from the lesson. `autograder grade --feedback` renders with the same chain.
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades  # noqa: E402

from autograder.adapter.preprocessors import FeedbackSummary, HideHiddenTests  # noqa: E402

c.GenerateFeedback.preprocessors = [
    GetGrades,
    HideHiddenTests,  # hidden tests' code out, their failure messages kept
    FeedbackSummary,  # the total, the score per part and every test by its name, for the template
    CSSHTMLHeaderPreprocessor,
]

# The feedback page is the course's own Spanish template, templates/feedback/ beside this file (an
# nbconvert template extending JupyterLab's), instead of nbgrader's English one. Set for the exporter
# of GenerateFeedback only, so formgrader's grading pages keep nbgrader's templates. To change the
# page, edit templates/feedback/index.html.j2, or point these at a template of your own.
# c.FeedbackSummary.fold_cells = ["..."] folds more locked cells than the lesson names (Lesson.folded_cells).
import os  # noqa: E402

c.GenerateFeedback.HTMLExporter.extra_template_basedirs = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")]
c.GenerateFeedback.HTMLExporter.template_name = "feedback"
c.GenerateFeedback.HTMLExporter.exclude_input_prompt = True  # no "In [3]:" beside the cells
c.GenerateFeedback.HTMLExporter.exclude_output_prompt = True
c.GenerateFeedback.HTMLExporter.language_code = "es"

# The language of the teacher's side: `autograder report`, and the summary and progress lines of
# `autograder autograde`: "es" (default) or "en". `--language` overrides it for one run. Students
# always read Spanish.
c.Instructor.language = "es"

# When students see each test's result (Gradescope's `visibility`, also in results.json and the JUnit
# export): by default "visible" for the tests in their notebook and "after_published" for hidden ones.
# Override per grade_id with "visible", "after_published" or "hidden", e.g.
#   c.TestVisibility.overrides = {"maxpool2d_negative": "hidden"}
c.TestVisibility.overrides = {}
