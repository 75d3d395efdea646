"""The pages people read, rendered in headless Chromium and looked at: a student's feedback page and the cohort report.

The other tests read the HTML as text; here a browser lays the pages out, so a line running past its box, a
figure that does not load or text that only a browser shows (or hides: the folded helper cell) is seen.
Screenshots land in the test's folder and, for a person to look at, in browser.SCREENSHOTS.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from activation import LESSON, PARTS
from autograder.cli import main
from autograder.engine import messages
from browser import keep, launch, local_page, overflowing
from cohorts import write_cohort
from conftest import NBGRADER_FEEDBACK_LABELS, ROOT, SAMPLES

FEEDBACK_SAMPLE = "leaky_relu"  # fails every test of one part, passes the others
HEADINGS = ("Puntuación por parte", "Resultado de cada prueba", "Tu cuaderno corregido")
HIDDEN_CODE = ("check(", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "autograder.hidden")
# Boxes whose lines must wrap: the messages above the notebook, and the notebook's code and outputs.
BOXES = "pre.ag-message, .jp-OutputArea-output, .jp-OutputArea-output pre, .jp-InputArea-editor, .ag-test, .ag-cell"
WIDE, NARROW = (1280, 1000), (760, 1000)


@pytest.fixture(scope="module")
def feedback_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The feedback page `autograder grade --feedback` writes for a failing sample (graded once for the module's tests)."""
    folder = tmp_path_factory.mktemp("feedback")
    page = folder / f"{FEEDBACK_SAMPLE}.html"
    completed = subprocess.run(
        [sys.executable, "-m", "autograder.cli", "grade", str(SAMPLES / f"{FEEDBACK_SAMPLE}.ipynb"), "--feedback", str(page)],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert completed.returncode == 0, completed.stderr
    return page


@pytest.mark.e2e
def test_feedback_page_renders_in_spanish_with_the_parts_first_and_nothing_cut(
    feedback_page: Path, chromium: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    shots = {name: tmp_path / f"feedback-{name}.png" for name in ("top", "failed-test", "helpers-open", "narrow")}
    with launch(chromium) as browser:
        page = local_page(browser, *WIDE)
        page.goto(feedback_page.as_uri())
        page.screenshot(path=shots["top"])
        title = page.title()
        text = page.inner_text("body")
        parts = page.locator("table.ag-parts tbody th").all_inner_texts()
        table_before_tests = page.evaluate(
            "document.querySelector('table.ag-parts').compareDocumentPosition(document.querySelector('ol.ag-tests')) & 4"
        )
        failed = page.locator("li.ag-test.ag-failed")
        failed_count = failed.count()
        first_failed_message = failed.first.locator("pre.ag-message").inner_text()
        wide_overflow = overflowing(page, BOXES) + overflowing(page, "html")

        # The first failed test in the notebook itself, under its Spanish heading.
        page.locator(".ag-cell.ag-failed").first.scroll_into_view_if_needed()
        page.evaluate("document.querySelector('.ag-cell.ag-failed').scrollIntoView({block: 'start'})")
        page.screenshot(path=shots["failed-test"])

        helpers = page.locator("details.ag-folded")
        folded_hidden = not helpers.locator(".jp-InputArea-editor").first.is_visible()
        helpers.locator("summary").click()
        unfolded_shown = helpers.locator(".jp-InputArea-editor").first.is_visible()
        helpers.evaluate("element => element.scrollIntoView({block: 'start'})")
        page.screenshot(path=shots["helpers-open"])
        open_overflow = overflowing(page, BOXES) + overflowing(page, "html")

        page.set_viewport_size({"width": NARROW[0], "height": NARROW[1]})
        page.evaluate("document.querySelector('li.ag-test.ag-failed').scrollIntoView({block: 'start'})")
        page.screenshot(path=shots["narrow"])
        narrow_overflow = overflowing(page, BOXES) + overflowing(page, "html")
    with capsys.disabled():
        print(f"\nfeedback page: {feedback_page}; screenshots (copies: {keep(list(shots.values()))})")

    assert title == messages.FEEDBACK_TITLE.format(notebook=FEEDBACK_SAMPLE)
    assert not [label for label in NBGRADER_FEEDBACK_LABELS if label in text]
    assert not [code for code in HIDDEN_CODE if code in text]
    assert all(heading in text for heading in HEADINGS), [h for h in HEADINGS if h not in text]
    assert parts == [part.name for part in PARTS]
    assert table_before_tests, "the per-part table is not above the tests"
    relu = next(part for part in PARTS if part.name == "relu")
    assert failed_count == sum(spec.part == relu for spec in LESSON.tests)
    assert "no superada" in first_failed_message and "Pista:" in first_failed_message
    assert folded_hidden and unfolded_shown, "the helper cell is not folded in a <details> that opens"
    assert wide_overflow == [] and open_overflow == [] and narrow_overflow == []


@pytest.mark.e2e
def test_cohort_report_renders_with_its_figure(chromium: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    results = write_cohort(tmp_path / "results", corrupt=False)
    out = tmp_path / "report"
    assert main(["report", "--course", str(ROOT), "--results-dir", str(results), "--output-dir", str(out)]) == 0
    shot = tmp_path / "cohort-report.png"
    with launch(chromium) as browser:
        page = local_page(browser, *WIDE)
        page.goto((out / "report.html").as_uri())
        title = page.title()
        images = page.evaluate(
            "Array.from(document.images).map(img => [img.complete, img.naturalWidth, img.getBoundingClientRect().width])"
        )
        text = page.inner_text("body")
        page.screenshot(path=shot, full_page=True)
        wide_overflow = overflowing(page, "html")
    with capsys.disabled():
        print(f"\ncohort report: {out / 'report.html'}; screenshot (copy: {keep([shot])})")

    assert title.strip(), "the report has no title"
    assert text.strip()
    assert images and all(complete and natural > 0 and shown > 0 for complete, natural, shown in images), images
    assert wide_overflow == []
