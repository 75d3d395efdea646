"""The cohort report drawn: a PNG per part (score histogram, mistakes bar chart) and a self-contained HTML page."""

from __future__ import annotations

import base64
import html
import io
import textwrap

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from autograder.engine import messages
from autograder.engine.results import UNGRADABLE
from autograder.outputs.report_model import COUNTED_ONCE, CohortReport, PartSummary, score_text

# The most mistakes drawn per part (the HTML table lists them all).
CHART_MISTAKES = 8
LABEL_WRAP = 30
MIN_SLOTS = 4
# Up to this maximum score every whole score gets a tick.
MAX_TICKS = 20
UNGRADABLE_COLOR = "#999999"

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td.label { text-align: left; }
.stats span { margin-right: 1.5em; }
img { max-width: 100%; }
"""


def render_png(report: CohortReport) -> bytes:
    """Per part, a row: the score histogram on the left, the most common mistakes on the right."""
    rows = len(report.parts)
    figure = Figure(figsize=(12, 3.6 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    title = f"{report.assignment}: {report.students} students, {report.graded} graded, {report.ungradable} ungradable"
    figure.suptitle(title, fontsize=14)
    axes = figure.subplots(rows, 2, squeeze=False, width_ratios=(1, 1.3))
    for (left, right), summary in zip(axes, report.parts):
        _histogram(left, summary)
        _mistakes(right, summary)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _histogram(ax, summary: PartSummary) -> None:
    values = [v for v, _ in summary.histogram]
    counts = [n for _, n in summary.histogram]
    gap = min((b - a for a, b in zip(values, values[1:])), default=1.0)
    ax.bar(values, counts, width=0.8 * gap, color="#4c72b0")
    ax.set_title(f"{summary.part.name}: score distribution ({len(summary.scores)} graded)")
    ax.set_xlabel(f"score (out of {score_text(summary.max_score)})")
    ax.set_ylabel("students")
    if summary.max_score <= MAX_TICKS:  # whole scores only, so half points never crowd the axis
        ticks = list(range(int(summary.max_score) + 1))
        ax.set_xticks(ticks, [str(t) for t in ticks])
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(counts + [1]) * 1.15)


def _mistakes(ax, summary: PartSummary) -> None:
    ax.set_title(f"{summary.part.name}: most common mistakes")
    shown = summary.mistakes[:CHART_MISTAKES]
    if not shown:
        ax.text(0.5, 0.5, "no mistakes", ha="center", va="center", transform=ax.transAxes, fontsize=12)
        ax.set_axis_off()
        return
    labels = [textwrap.fill(m.label, LABEL_WRAP) for m in shown]
    counts = [m.students for m in shown]
    positions = list(range(len(shown)))
    colors = [UNGRADABLE_COLOR if m.name == UNGRADABLE else "#dd8452" for m in shown]
    ax.barh(positions, counts, height=0.6, color=colors)
    ax.set_yticks(positions, labels, fontsize=9)
    ax.set_ylim(max(len(shown), MIN_SLOTS) - 0.5, -0.5)  # most common on top; a few mistakes keep slim bars
    ax.set_xlabel(f"students ({COUNTED_ONCE})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0, max(counts) * 1.15)
    for y, n in zip(positions, counts):
        ax.text(n, y, f" {n}", va="center", fontsize=9)


def review_html(report: CohortReport) -> str:
    """The "Para revisar" section: a row per flagged student, each reason an item of a list."""
    e = html.escape
    rows = "".join(
        f'<tr><td class="label">{e(student)}</td><td class="label"><ul>'
        + "".join(f"<li>{e(reason)}</li>" for reason in reasons)
        + "</ul></td></tr>"
        for student, reasons in report.review
    )
    return (
        f'<h2 id="review" lang="es">{e(messages.REPORT_REVIEW_TITLE)}</h2>'
        f'<p lang="es">{e(messages.REPORT_REVIEW_INTRO.format(count=len(report.review)))}</p>'
        f'<table lang="es"><tr><th>{e(messages.REPORT_REVIEW_STUDENT)}</th><th>{e(messages.REPORT_REVIEW_REASONS)}</th></tr>{rows}</table>'
    )


def render_html(report: CohortReport, png: bytes) -> str:
    """One HTML page with inline CSS and the PNG embedded, so it can be mailed or archived as one file."""
    e = html.escape
    body = [
        f"<h1>Cohort report: {e(report.assignment)}</h1>",
        f"<p>{report.students} students: {report.graded} graded, {report.ungradable} ungradable "
        f"({report.unreadable} of them unreadable results files). Score distributions are of graded students only.</p>",
        f'<img alt="score distributions and most common mistakes per part" '
        f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">',
    ]
    for summary in report.parts:
        body.append(f"<h2>{e(summary.part.name)} (max {score_text(summary.max_score)})</h2>")
        body.append(
            '<p class="stats">'
            f"<span>graded {len(summary.scores)}</span><span>mean {score_text(summary.mean)}</span>"
            f"<span>median {score_text(summary.median)}</span><span>full marks {summary.full_marks}</span>"
            f"<span>zero {summary.zero}</span></p>"
        )
        scores = "".join(f"<th>{score_text(v)}</th>" for v, _ in summary.histogram)
        counts = "".join(f"<td>{n}</td>" for _, n in summary.histogram)
        body.append(f"<table><tr><th>score</th>{scores}</tr><tr><th>students</th>{counts}</tr></table>")
        rows = "".join(
            f'<tr><td class="label">{e(m.label)}</td><td>{e(m.name)}</td><td>{m.students}</td></tr>'
            for m in summary.mistakes
        ) or '<tr><td class="label" colspan="3">no mistakes</td></tr>'
        body.append(
            f"<table><tr><th>mistake</th><th>name</th><th>students ({e(COUNTED_ONCE)})</th></tr>{rows}</table>"
        )
    if report.not_graded:
        rows = "".join(
            f'<tr><td class="label">{e(student)}</td><td class="label">{e(reason)}</td></tr>'
            for student, reason in report.not_graded
        )
        body.append(f"<h2>Not graded</h2><table><tr><th>student</th><th>reason</th></tr>{rows}</table>")
    if report.review:
        body.append(review_html(report))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>Cohort report: {e(report.assignment)}</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
