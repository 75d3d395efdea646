"""Every graded cell's family, by grade_id (imported only where tests are decided: it needs torch)."""

from __future__ import annotations

from autograder.lessons.activation_maxpool import kernel, maxpool, relu

FAMILIES = {**kernel.FAMILIES, **relu.FAMILIES, **maxpool.FAMILIES}
