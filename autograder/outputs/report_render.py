"""The cohort report drawn: a PNG (total scores, full marks per part, then per part its scores and mistakes) and a
self-contained HTML page, in the teacher's language."""

from __future__ import annotations

import base64
import html
import io
import textwrap

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from autograder.engine.results import UNGRADABLE
from autograder.outputs.report_model import CohortReport, Distribution, PartSummary, percent_text, score_text

# The most mistakes drawn per part (the HTML table lists them all).
CHART_MISTAKES = 8
LABEL_WRAP = 30
MIN_SLOTS = 4
# Up to this maximum score every whole score gets a tick.
MAX_TICKS = 20
UNGRADABLE_COLOR = "#999999"
BAR_COLOR = "#4c72b0"
MISTAKE_COLOR = "#dd8452"

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1em; margin-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; vertical-align: top; }
th:first-child, td.label { text-align: left; }
td.who { text-align: left; font-size: 0.9em; }
.stats span { margin-right: 1.5em; }
img { max-width: 100%; }
"""


def render_png(report: CohortReport) -> bytes:
    """A first row with the total scores and the full marks per part; then per part its histogram and its mistakes."""
    words = report.text
    rows = 1 + len(report.parts)
    figure = Figure(figsize=(12, 3.6 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    title = words.chart_title.format(assignment=report.assignment, students=report.students, graded=report.graded, ungradable=report.ungradable)
    figure.suptitle(title, fontsize=14)
    axes = figure.subplots(rows, 2, squeeze=False, width_ratios=(1, 1.3))
    _histogram(axes[0][0], report.total, words.chart_total.format(graded=len(report.total.scores)), report)
    _full_marks(axes[0][1], report)
    for (left, right), summary in zip(axes[1:], report.parts):
        _histogram(left, summary, words.chart_part_scores.format(part=summary.part.name, graded=len(summary.scores)), report)
        _mistakes(right, summary, report)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _histogram(ax, distribution: Distribution, title: str, report: CohortReport) -> None:
    words = report.text
    values = [v for v, _ in distribution.histogram]
    counts = [n for _, n in distribution.histogram]
    gap = min((b - a for a, b in zip(values, values[1:])), default=1.0)
    ax.bar(values, counts, width=0.8 * gap, color=BAR_COLOR)
    ax.set_title(title)
    ax.set_xlabel(words.chart_out_of.format(maximum=score_text(distribution.max_score, words)))
    ax.set_ylabel(words.students)
    if distribution.max_score <= MAX_TICKS:  # whole scores only, so half points never crowd the axis
        ticks = list(range(int(distribution.max_score) + 1))
        ax.set_xticks(ticks, [str(t) for t in ticks])
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(counts + [1]) * 1.15)


def _full_marks(ax, report: CohortReport) -> None:
    """Per part, the share of graded students with full marks (the part's pass rate)."""
    words = report.text
    ax.set_title(words.chart_parts)
    names = [summary.part.name for summary in report.parts]
    shares = [100 * (summary.pass_rate or 0.0) for summary in report.parts]
    positions = list(range(len(names)))
    ax.barh(positions, shares, height=0.6, color=BAR_COLOR)
    ax.set_yticks(positions, names)
    ax.set_ylim(max(len(names), MIN_SLOTS) - 0.5, -0.5)
    ax.set_xlim(0, 115)
    ax.set_xlabel("%")
    for y, summary, share in zip(positions, report.parts, shares):
        ax.text(share, y, f" {percent_text(summary.pass_rate, words)}", va="center", fontsize=9)


def _mistakes(ax, summary: PartSummary, report: CohortReport) -> None:
    words = report.text
    ax.set_title(words.chart_mistakes.format(part=summary.part.name))
    shown = summary.mistakes[:CHART_MISTAKES]
    if not shown:
        ax.text(0.5, 0.5, words.no_mistakes, ha="center", va="center", transform=ax.transAxes, fontsize=12)
        ax.set_axis_off()
        return
    labels = [textwrap.fill(m.label, LABEL_WRAP) for m in shown]
    counts = [m.students for m in shown]
    positions = list(range(len(shown)))
    colors = [UNGRADABLE_COLOR if m.name == UNGRADABLE else MISTAKE_COLOR for m in shown]
    ax.barh(positions, counts, height=0.6, color=colors)
    ax.set_yticks(positions, labels, fontsize=9)
    ax.set_ylim(max(len(shown), MIN_SLOTS) - 0.5, -0.5)  # most common on top; a few mistakes keep slim bars
    ax.set_xlabel(f"{words.students} ({words.counted_once})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0, max(counts) * 1.15)
    for y, n in zip(positions, counts):
        ax.text(n, y, f" {n}", va="center", fontsize=9)


def review_html(report: CohortReport) -> str:
    """The "Para revisar" section: a row per flagged student, each reason (Spanish, as recorded) an item of a list."""
    e = html.escape
    words = report.text
    rows = "".join(
        f'<tr><td class="label">{e(student)}</td><td class="label"><ul>'
        + "".join(f'<li lang="es">{e(reason)}</li>' for reason in reasons)
        + "</ul></td></tr>"
        for student, reasons in report.review
    )
    return (
        f'<h2 id="review">{e(words.review_title)}</h2>'
        f"<p>{e(words.review_intro.format(count=len(report.review)))}</p>"
        f"<table><tr><th>{e(words.student)}</th><th>{e(words.review_reasons)}</th></tr>{rows}</table>"
    )


def _stats_html(distribution: Distribution, report: CohortReport) -> str:
    words = report.text
    full = percent_text(distribution.full_marks / len(distribution.scores), words) if distribution.scores else "-"
    return (
        '<p class="stats">'
        f"<span>{words.mean} {score_text(distribution.mean, words)}</span><span>{words.median} {score_text(distribution.median, words)}</span>"
        f"<span>{words.full_marks} {distribution.full_marks} ({full})</span><span>{words.zero} {distribution.zero}</span></p>"
    )


def _histogram_html(distribution: Distribution, report: CohortReport) -> str:
    words = report.text
    scores = "".join(f"<th>{score_text(v, words)}</th>" for v, _ in distribution.histogram)
    counts = "".join(f"<td>{n}</td>" for _, n in distribution.histogram)
    return f"<table><tr><th>{words.score}</th>{scores}</tr><tr><th>{words.students}</th>{counts}</tr></table>"


def _part_html(summary: PartSummary, report: CohortReport) -> list[str]:
    e = html.escape
    words = report.text
    heading = words.part_heading.format(part=summary.part.name, maximum=score_text(summary.max_score, words), graded=len(summary.scores))
    tests = "".join(
        f'<tr><td class="label">{e(rate.spec.title)}</td><td>{rate.passed}/{rate.graded}</td><td>{percent_text(rate.rate, words)}</td></tr>'
        for rate in summary.tests
    )
    mistakes = "".join(
        f'<tr><td class="label">{e(m.label)}</td><td>{m.students}</td><td class="who">{e(", ".join(m.names))}</td></tr>'
        for m in summary.mistakes
    ) or f'<tr><td class="label" colspan="3">{e(words.no_mistakes)}</td></tr>'
    return [
        f"<h2>{e(heading)}</h2>",
        _stats_html(summary, report),
        _histogram_html(summary, report),
        f"<h3>{e(words.tests_heading)}</h3>",
        f"<table><tr><th>{e(words.test)}</th><th>{e(words.passed)}</th><th>%</th></tr>{tests}</table>",
        f"<h3>{e(words.mistake)} ({e(words.counted_once)})</h3>",
        f"<table><tr><th>{e(words.mistake)}</th><th>{e(words.students)}</th><th>{e(words.who)}</th></tr>{mistakes}</table>",
    ]


def render_html(report: CohortReport, png: bytes) -> str:
    """One HTML page with inline CSS and the PNG embedded, so it can be mailed or archived as one file."""
    e = html.escape
    words = report.text
    title = e(words.report_title.format(assignment=report.assignment))
    cohort = words.cohort_line.format(students=report.students, graded=report.graded, ungradable=report.ungradable, unreadable=report.unreadable)
    total = words.total_heading.format(maximum=score_text(report.total.max_score, words), graded=len(report.total.scores))
    body = [
        f"<h1>{title}</h1>",
        f"<p>{e(cohort)}. {e(words.graded_only)}</p>",
        f'<img alt="{e(words.chart_alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">',
        f'<h2 id="total">{e(total)}</h2>',
        _stats_html(report.total, report),
        _histogram_html(report.total, report),
    ]
    for summary in report.parts:
        body += _part_html(summary, report)
    if report.not_graded:
        rows = "".join(
            f'<tr><td class="label">{e(student)}</td><td class="label" lang="es">{e(reason)}</td></tr>' for student, reason in report.not_graded
        )
        body.append(f"<h2>{e(words.not_graded)}</h2><table><tr><th>{e(words.student)}</th><th>{e(words.reason)}</th></tr>{rows}</table>")
    if report.review:
        body.append(review_html(report))
    return (
        f'<!DOCTYPE html>\n<html lang="{report.language.value}"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{CSS}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
