"""The base of our steps in nbgrader's feedback chain: accepts what nbconvert's HTML exporter hands every preprocessor."""

from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List


class FeedbackStep(NbGraderPreprocessor):
    """An nbgrader preprocessor that runs inside an HTMLExporter (GenerateFeedback's chain).

    nbconvert's exporters hand every preprocessor their NbConvertBase.display_data_priority (HTMLExporter's
    default_config sets it); NbGraderPreprocessor redeclares the trait without config=True, so traitlets
    would warn "Config option `display_data_priority` not recognized" on every feedback run. Declared
    configurable here, as nbgrader's own GetGrades does, with NbGraderPreprocessor's default.
    """

    display_data_priority = List(
        ["text/html", "application/pdf", "text/latex", "image/svg+xml", "image/png", "image/jpeg", "text/plain"],
        help="Output MIME types by priority; accepted from the exporter's config and not used by this step.",
    ).tag(config=True)
