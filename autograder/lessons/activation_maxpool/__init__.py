"""Lesson "Función de activación y Maxpooling": the Sobel kernel Gx, relu(z) and maxpool2d(x, kernel_size, stride)."""

from __future__ import annotations

from autograder.engine.lesson import Lesson
from autograder.lessons.activation_maxpool import catalog
from autograder.lessons.activation_maxpool.mistakes import LABELS, LABELS_ES

LESSON = Lesson(
    name="activation_maxpool",
    parts=catalog.PARTS,
    tests=catalog.TESTS,
    family_module="autograder.lessons.activation_maxpool.families",
    mistakes=LABELS,
    mistakes_es=LABELS_ES,
    catalogue_module="autograder.lessons.activation_maxpool.typical",
    # Gx is a value, not a function: its cell gets a placeholder that runs (a stub that raised would
    # stop a student's "Run All" at the first exercise); its tests report it as "sin implementar".
    placeholders={
        catalog.KERNEL.answer_cell: (
            "# TU CÓDIGO AQUÍ: sustituye None por el núcleo Gx, un tensor de 3×3 con números decimales.\nGx = None"
        ),
    },
    # The locked cell of figure and check helpers (over 300 lines): folded in the feedback page.
    folded_cells=frozenset({"helpers"}),
)
