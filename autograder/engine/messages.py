"""Every student-facing sentence of the grader, in Spanish, in one place so a course can adapt it."""

from __future__ import annotations

# Headings of a failure message.
FAILED = "{name}: no superada."
TRIED = "Se probó: {what}"
EXPECTED = "Se esperaba: {what}"
GOT = "Se obtuvo:   {what}"
HINT = "Pista: {text}"

# What went wrong (one per Mistake).
NOT_DEFINED = "No encontré {what}: ¿ejecutaste la celda de tu respuesta sin errores?"
NOT_IMPLEMENTED = "Tu {what} todavía no está implementada (lanza NotImplementedError)."
RAISED = "Tu {what} lanzó una excepción: {error}"
RAISED_AT = "En tu código, línea {where}"
CELL_LINE = "(línea {line} de tu celda)"
NOT_CALLABLE = "Se esperaba que {what} fuera una función, pero es {kind}."
NOT_TENSOR = "Se esperaba un torch.Tensor, pero se obtuvo {kind}."
WRONG_SHAPE = "La forma del resultado no es la esperada."
WRONG_DTYPE_OF = "El tipo de dato del resultado es {got}, pero se esperaba {expected}."
WRONG_DEVICE = "El resultado está en otro dispositivo que la entrada."
WRONG_VALUES = "Los valores no coinciden en {count} de {total} posiciones."
DIFFERENT_AT = "Posiciones distintas (índice: esperado → obtenido): {items}"
DIFFERENT_ITEM = "{index}: {expected} → {got}"
DIFFERENT_POSITIONS = "Posiciones distintas (índice): {items}"
DIFFERENT_MORE = " … y {count} más."
INPUT_MODIFIED = "Tu función modificó el tensor de entrada."
SHARES_INPUT = "Tu función devolvió el mismo tensor de entrada (o una vista de él) en lugar de un tensor nuevo."
REFERENCE_OP = (
    "Tu {what} llama a {ops}, la operación que este ejercicio pide construir (ninguna de sus formas "
    "sirve aquí: {spellings}). El objetivo es escribirla con operaciones elementales, "
    "así que esta parte no suma puntos mientras la uses."
)

# Hints tied to recognised mistakes.
HINT_DTYPE = (
    "el resultado debe tener el tipo de dato de la entrada: revisa qué operación lo cambia "
    "(una comparación da bool; .float() y .int() convierten)."
)
HINT_DTYPE_DEFAULT = (
    "el resultado debe tener el tipo de dato de la entrada. Un tensor creado sin indicar su tipo "
    "(por ejemplo con torch.zeros o torch.tensor) es float32 aunque la entrada sea float64."
)
HINT_REFERENCE_OP = (
    "la versión de PyTorch solo sirve para comprobar tu resultado fuera de la función; dentro, "
    "constrúyela con aritmética, comparaciones e indexación de tensores."
)
HINT_SHAPE_FLAT = "el resultado tiene los mismos elementos pero otra forma: no aplanes ni cambies la forma."
HINT_MODIFIED = "trabaja sobre una copia o crea un tensor nuevo (por ejemplo con torch.where); no asignes sobre la entrada."
HINT_NONCONTIGUOUS = "la entrada puede no ser contigua en memoria (por ejemplo una traspuesta); evita .view() y usa .reshape() o indexación."

# Describing tensors.
TENSOR = "tensor de forma {shape}, {dtype}"
KIND_TUPLE = "una tupla de {count} elementos"
KIND_LIST = "una lista de {count} elementos"
KIND_OBJECT = "un objeto de tipo {kind}"
TENSOR_ON = "tensor de forma {shape}, {dtype}, en {device}"
CALL = "{func}({args})"

# Faults of the student's code, and tests that could not run.
OUT_OF_MEMORY = "Tu {what} pidió más memoria de la permitida (memoria agotada): {error}"
CALL_TIMEOUT = "Tu {what} no terminó en {seconds:g} s (¿un bucle infinito?)."
PROBE_INCOMPLETE = "La prueba de tu {what} no llegó a completarse (el núcleo se detuvo o la celda se interrumpió)."
NOT_EVALUATED = "La prueba no pudo evaluar tu respuesta."
CELL_ERROR = "La celda de la prueba terminó con un error antes de evaluar tu respuesta: {error}"
DUPLICATE_RECORDS = "La celda produjo más de un resultado de prueba; no se puede saber cuál es el tuyo."
FAULT_TIMEOUT = "la celda excedió el tiempo límite ({seconds:g} s) y se detuvo; el núcleo se reinició."
FAULT_DEAD = "el núcleo se detuvo mientras se ejecutaba la celda (¿os._exit, un fallo de segmentación?); se reinició."
FAULT_OOM = "memoria agotada: la celda usó más memoria de la permitida y el núcleo se detuvo; se reinició."
FAULT_DEADLINE = "no se ejecutó: se agotó el tiempo total del cuaderno ({seconds:g} s)."
FAULT_GAVE_UP = "no se ejecutó: el núcleo se detuvo demasiadas veces ({count})."
FAULT_MEMORY_ERROR = "memoria agotada: la celda pidió más memoria de la permitida."
OUTPUT_TRUNCATED = "\n[salida recortada: la celda escribió más de {limit} de texto; el resto se descartó]\n"
FAULT_PREFIX = "Esta prueba no suma puntos: {fault}"
ANSWER_CELL_PROBLEM = "Nota: la celda de tu respuesta terminó con un problema: {problem}"

# Not for students: how PyTorch and the C library word a failed allocation (the sandbox caps memory),
# so such failures can be explained as "memoria agotada".
MEMORY_SIGNS = ("can't allocate memory", "DefaultCPUAllocator", "Cannot allocate memory", "out of memory")

# Gradescope: a submission that cannot be graded before grading starts (autograder/gradescope_run.py).
NO_NOTEBOOK = "No se encontró ningún cuaderno .ipynb en tu entrega. Sube tu cuaderno {expected}."
SEVERAL_NOTEBOOKS = (
    "Tu entrega tiene varios cuadernos ({found}) y no se puede saber cuál calificar. "
    "Sube solo tu cuaderno {expected}."
)
NO_SANDBOX = (
    "No se pudo calificar tu entrega: el servidor de calificación no puede aislar la ejecución del código. "
    "No es un fallo de tu entrega; avisa a tu profesor. (Detalle para el profesor: {detail})"
)
GRADER_CRASHED = (
    "No se pudo calificar tu entrega: el calificador se detuvo sin dar un resultado. "
    "Vuelve a enviarla; si se repite, avisa a tu profesor."
)

# The CI job's summary for the student (`autograder classroom`, GitHub's step summary, Markdown).
SUMMARY_TITLE = "## Calificación automática: {score} / {max_score} puntos"
SUMMARY_TITLE_NONE = "## Calificación automática: sin calificar"
SUMMARY_NOT_GRADED = "**No se pudo calificar el cuaderno:** {reason}"
SUMMARY_NO_RESULTS = (
    "el calificador no llegó a producir resultados (falló un paso anterior del flujo de trabajo; "
    "mira el paso en rojo en el registro y avisa a tu profesor si no es un problema de tu cuaderno)."
)
SUMMARY_PART = "Parte"
SUMMARY_POINTS = "Puntos"
SUMMARY_TOTAL = "Total"
SUMMARY_FAILED = "### Pruebas no superadas ({count})"
SUMMARY_ALL_PASSED = "Todas las pruebas superadas."
SUMMARY_TRUNCATED = "[mensaje recortado]"

# The student's self-check (`autograder check`): visible tests only, never a grade.
CHECK_TITLE = "Autocomprobación de {notebook} (solo las pruebas visibles)"
CHECK_STATUS = {
    "passed": "✔ superada",
    "failed": "✘ todavía no",
    "pending": "⏳ sin implementar",
    "missing": "? no encontré sus pruebas visibles",
}
CHECK_PENDING = "Tu respuesta todavía no está escrita: la celda de la prueba avisa «Sin implementar»."
CHECK_MISSING = "No encontré esta prueba visible en tu cuaderno (¿se borró su celda?). Vuelve a copiarla del cuaderno original."
CHECK_NOT_RUN = "La celda de la prueba no llegó a ejecutarse."
CHECK_RAISED = "Tu código lanzó {ename}: {evalue}"
CHECK_HIDDEN_CAVEAT = (
    "Las pruebas ocultas pueden encontrar más casos: superar las visibles no asegura la nota completa."
)
CHECK_TIME = "({seconds:.1f} s)"

# Student feedback (nbgrader generate_feedback, `autograder grade --feedback`): what replaces a hidden test's code.
HIDDEN_TEST_CODE = "# (código de la prueba oculta: no se muestra)"
# The feedback page's title (the browser tab's and its first heading).
FEEDBACK_TITLE = "Corrección de tu cuaderno «{notebook}»"
# A feedback page's failed test whose cell holds no error (its score was set by hand, in formgrader).
FEEDBACK_MANUAL_SCORE = "La puntuación de esta prueba la fijó el profesor al revisarla."
# The part heading for graded cells no lesson test describes (a course's own manually graded cells).
FEEDBACK_OTHER_PART = "otras"

# Reasons for an instructor to review a submission (results.json, export, report; never the student's feedback).
REVIEW_STRAY_RECORD = "Una celda {where} emitió un registro de prueba que el calificador no pidió (posible falsificación)."
REVIEW_FORGED_RECORD = "La prueba «{grade_id}» recibió registros que no responden a la petición del calificador (posible falsificación)."
REVIEW_DUPLICATE_RECORD = "La prueba «{grade_id}» recibió más de una respuesta a la misma petición (posible falsificación)."
REVIEW_KERNEL_SAW = "Durante la calificación, el cuaderno {what}."

# The instructor's cohort report (`autograder report`): submissions to look at (GradingResult.review), never shown to students.
# The feedback column of a gradebook file for an LMS (autograder export --format moodle): what the student reads there.
LMS_FEEDBACK = "Calificación automática: {score} de {max_score} puntos ({parts})."
LMS_FEEDBACK_PART = "{part}: {score} de {max_score}"
LMS_FEEDBACK_NOT_GRADED = "Calificación automática: no se pudo calificar tu entrega ({reason})."

REPORT_REVIEW_TITLE = "Para revisar"
REPORT_REVIEW_INTRO = "Entregas que un profesor debería mirar ({count}), con el motivo:"
REPORT_REVIEW_STUDENT = "estudiante"
REPORT_REVIEW_REASONS = "motivos"

# A cell that returned normally but left something running that made the kernel stop later (GuardedExecute).
FAULT_DELAYED = (
    "esta celda hizo que el núcleo se detuviera más tarde, mientras se ejecutaban otras celdas "
    "(¿un temporizador, un hilo, signal.alarm o do_shutdown?); se reinició el núcleo sin volver a ejecutarla, "
    "así que lo que define no está disponible para las celdas siguientes."
)

# A late submission (nbgrader's late-submission penalty, read from the gradebook after filing).
LATE_SUMMARY = (
    "Entrega fuera de plazo: {delay} después de la fecha límite ({duedate}). "
    "Penalización por retraso: {penalty:g} puntos (nota sin penalización: {raw:g}; nota final: {score:g})."
)
LATE_UNPENALIZED = "Entrega fuera de plazo: {delay} después de la fecha límite ({duedate}); sin penalización por retraso."
LATE_TEST = "Entrega fuera de plazo: esta prueba pierde {lost:g} de sus {score:g} puntos por la penalización por retraso."
