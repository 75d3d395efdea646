"""Hand the course's feedback template what it shows above the notebook: the score per part and each test by its name."""

from __future__ import annotations

from typing import Tuple

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from traitlets import List, Unicode

from autograder.adapter.lesson_of import RESOURCES_KEY, lesson_of
from autograder.adapter.preprocessors.feedbackstep import FeedbackStep
from autograder.engine.errors import CourseError
from autograder.engine.lesson import Lesson
from autograder.outputs.feedback_page import build_page

# Where the page lands: resources["autograder"]["feedback"], read by templates/feedback/index.html.j2.
FEEDBACK_KEY = "feedback"


class FeedbackSummary(FeedbackStep):
    """Put a FeedbackPage (autograder.outputs.feedback_page) in the exporter's resources, for the feedback template.

    Runs in GenerateFeedback's chain after GetGrades (the scores, manual grades included, are then in
    the cells' metadata) and HideHiddenTests. The lesson, found from the assignment name as in grading,
    gives each test its Spanish title and part and names the locked cells to fold away. Only the
    notebook's title changes (the exporter works on a copy).
    """

    fold_cells = List(
        Unicode(),
        help="grade_ids of locked cells folded away in the feedback page, besides those the lesson names (Lesson.folded_cells).",
    ).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> Tuple[NotebookNode, ResourcesDict]:
        lesson = self._lesson(resources)
        fold = frozenset(self.fold_cells) | (lesson.folded_cells if lesson is not None else frozenset())
        page = build_page(nb, lesson, resources.get("nbgrader", {}), fold)
        resources.setdefault(RESOURCES_KEY, {})[FEEDBACK_KEY] = page
        nb.metadata["title"] = page.title  # the page's <title> (the exporter renders a copy: the notebook keeps its own)
        return nb, resources

    def _lesson(self, resources: ResourcesDict) -> Lesson | None:
        """The assignment's lesson; None (tests named by grade_id, a warning logged) when the course has none for it."""
        try:
            return lesson_of(resources, self.config)
        except CourseError as error:
            self.log.warning("feedback without the lesson's test names: %s", error)
            return None
