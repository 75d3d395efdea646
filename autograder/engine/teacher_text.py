"""Every phrase the teacher's side prints (cohort report, batch summary, progress lines), once per language.

Students' words live in autograder.engine.messages (Spanish only); these are the instructor's, Spanish by default
and English as an option (autograder.engine.language).
"""

from __future__ import annotations

from dataclasses import dataclass

from autograder.engine import messages
from autograder.engine.language import Language


@dataclass(frozen=True)
class TeacherText:
    """The teacher's phrases in one language; `{...}` fields are filled with str.format."""

    language: Language
    # the cohort report
    report_title: str
    cohort_line: str
    graded_only: str
    total_heading: str
    part_heading: str
    mean: str
    median: str
    full_marks: str
    zero: str
    score: str
    student: str
    students: str
    percent: str  # a share of students, e.g. "60 %"
    decimal: str  # the decimal separator people of this language write: "17,6" in Spanish, "17.6" in English
    tests_heading: str
    test: str
    passed: str
    mistake: str
    counted_once: str
    who: str
    no_mistakes: str
    not_graded: str
    reason: str
    review_title: str
    review_intro: str
    review_reasons: str
    chart_alt: str
    chart_title: str
    chart_total: str
    chart_parts: str
    chart_part_scores: str
    chart_out_of: str
    chart_mistakes: str
    # the batch summary and progress
    batch_not_graded: str
    batch_review: str
    batch_resumed: str
    batch_only: str
    batch_done: str
    batch_flagged: str
    progress_line: str
    progress_bar: str


ES = TeacherText(
    language=Language.ES,
    report_title="Informe del grupo: {assignment}",
    cohort_line="{students} estudiantes: {graded} calificados, {ungradable} sin calificar "
    "({unreadable} de ellos con el archivo de resultados ilegible)",
    graded_only="Las distribuciones de notas son solo de las entregas calificadas.",
    total_heading="Nota total (máx. {maximum}): notas de {graded} calificados",
    part_heading="{part} (máx. {maximum}): notas de {graded} calificados",
    mean="media",
    median="mediana",
    full_marks="con la nota máxima:",
    zero="con cero:",
    score="nota",
    student=messages.REPORT_REVIEW_STUDENT,
    students="estudiantes",
    percent="{value:.0f} %",
    decimal=",",
    tests_heading="pruebas superadas (de los calificados)",
    test="prueba",
    passed="superan",
    mistake="error",
    counted_once="cada estudiante cuenta una vez por parte",
    who="quiénes",
    no_mistakes="(sin errores)",
    not_graded="Sin calificar",
    reason="motivo",
    review_title=messages.REPORT_REVIEW_TITLE,
    review_intro=messages.REPORT_REVIEW_INTRO,
    review_reasons=messages.REPORT_REVIEW_REASONS,
    chart_alt="distribución de la nota total y, por parte, de las notas y los errores más comunes",
    chart_title="{assignment}: {students} estudiantes, {graded} calificados, {ungradable} sin calificar",
    chart_total="Nota total: distribución ({graded} calificados)",
    chart_parts="Nota máxima en cada parte (% de calificados)",
    chart_part_scores="{part}: distribución de notas ({graded} calificados)",
    chart_out_of="nota (sobre {maximum})",
    chart_mistakes="{part}: errores más comunes",
    batch_not_graded="sin calificar: {reason}",
    batch_review="para revisar: {reasons}",
    batch_resumed="reanudado: {count} ya calificados y sin cambios, no se recalifican (--force los recalifica)",
    batch_only="solo {students} (--student): el resto de entregas no se tocó",
    batch_done="{graded} calificados, {failed} sin calificar{flagged}, en {gradebook}",
    batch_flagged=", {count} para revisar",
    progress_line="calificado {done}/{total} estudiante={student} nota={status} segundos={seconds:.1f} eta={eta:.0f}s",
    progress_bar="{elapsed} transcurrido, quedan {eta}",
)

EN = TeacherText(
    language=Language.EN,
    report_title="Cohort report: {assignment}",
    cohort_line="{students} students: {graded} graded, {ungradable} ungradable ({unreadable} of them unreadable results files)",
    graded_only="Score distributions are of graded students only.",
    total_heading="Total score (max {maximum}): scores of {graded} graded students",
    part_heading="{part} (max {maximum}): scores of {graded} graded students",
    mean="mean",
    median="median",
    full_marks="full marks:",
    zero="zero:",
    score="score",
    student="student",
    students="students",
    percent="{value:.0f}%",
    decimal=".",
    tests_heading="tests passed (of graded students)",
    test="test",
    passed="passed",
    mistake="mistake",
    counted_once="each student counted once per part",
    who="who",
    no_mistakes="(no mistakes)",
    not_graded="Not graded",
    reason="reason",
    review_title="To review",
    review_intro="Submissions an instructor should look at ({count}), with the reason (in Spanish):",
    review_reasons="reasons",
    chart_alt="distribution of total scores and, per part, scores and most common mistakes",
    chart_title="{assignment}: {students} students, {graded} graded, {ungradable} ungradable",
    chart_total="Total score: distribution ({graded} graded)",
    chart_parts="Full marks per part (% of graded students)",
    chart_part_scores="{part}: score distribution ({graded} graded)",
    chart_out_of="score (out of {maximum})",
    chart_mistakes="{part}: most common mistakes",
    batch_not_graded="not graded: {reason}",
    batch_review="to review: {reasons}",
    batch_resumed="resumed: {count} already graded and unchanged, not regraded (--force regrades them)",
    batch_only="only {students} (--student): every other submission was left as it was",
    batch_done="{graded} graded, {failed} not graded{flagged}, in {gradebook}",
    batch_flagged=", {count} to review",
    progress_line="graded {done}/{total} student={student} score={status} seconds={seconds:.1f} eta={eta:.0f}s",
    progress_bar="{elapsed} elapsed, ETA {eta}",
)

_TEXTS = {text.language: text for text in (ES, EN)}


def teacher_text(language: Language) -> TeacherText:
    """The teacher's phrases in `language`."""
    return _TEXTS[language]
