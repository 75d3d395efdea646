"""The stage breakdown: a stopwatch per submission, a step split into its parts, the batch's summary in stage order."""

from __future__ import annotations

import json

import pytest

from autograder.commands.autograde import BatchResult
from autograder.engine.stages import CELLS, FILING, KERNEL_START, KERNEL_STOP, QUEUE, SETUP, Stopwatch, ordered, summarize
from autograder.outputs.timings import write_timings


def test_a_stage_timed_twice_adds_up_and_never_goes_negative():
    clock = Stopwatch()
    clock.add(SETUP, 0.25)
    clock.add(SETUP, 0.5)
    clock.add(FILING, -1.0)  # a clock that went backwards is no time, not negative time
    assert clock.seconds == {SETUP: 0.75, FILING: 0.0}


def test_a_step_is_replaced_by_its_parts_and_what_they_leave_keeps_its_name():
    clock = Stopwatch({"GuardedExecute": 1.0, "Verify": 0.1})
    clock.split("GuardedExecute", {KERNEL_START: 0.4, CELLS: 0.4, KERNEL_STOP: 0.1})
    assert clock.seconds[KERNEL_START] == 0.4 and clock.seconds[KERNEL_STOP] == 0.1
    assert clock.seconds["GuardedExecute"] == pytest.approx(0.1)
    whole = Stopwatch({"GuardedExecute": 0.5})
    whole.split("GuardedExecute", {KERNEL_START: 0.25, CELLS: 0.25})
    assert "GuardedExecute" not in whole.seconds  # nothing left over: no zero-second leftover stage
    absent = Stopwatch({"Verify": 0.1})
    absent.split("GuardedExecute", {CELLS: 1.0})  # a chain without the step: nothing invented
    assert absent.seconds == {"Verify": 0.1}


def test_stages_come_in_the_order_they_happen_with_a_courses_own_steps_after_the_kernel():
    names = [FILING, "Verify", CELLS, QUEUE, "LimitOutput", KERNEL_STOP, KERNEL_START, SETUP]
    assert ordered(names) == [QUEUE, SETUP, KERNEL_START, CELLS, KERNEL_STOP, "LimitOutput", "Verify", FILING]


def test_the_summary_has_the_mean_and_median_with_a_missing_stage_as_zero():
    rows = summarize({"a": {CELLS: 1.0, FILING: 0.2}, "b": {CELLS: 3.0}, "c": {CELLS: 2.0, FILING: 0.4}})
    by = {row.stage: row for row in rows}
    assert [row.stage for row in rows] == [CELLS, FILING]
    assert by[CELLS].median == 2.0 and by[CELLS].mean == 2.0
    assert by[FILING].median == pytest.approx(0.2) and by[FILING].mean == pytest.approx(0.2)
    assert summarize({}) == []
    assert summarize({"a": {CELLS: 1.0}, "b": {CELLS: 2.0}})[0].median == 1.5


def test_the_timings_file_holds_every_submission_and_the_summary(tmp_path):
    batch = BatchResult([], {}, stages={"ana": {CELLS: 0.5, FILING: 0.1}, "luis": {CELLS: 0.7}}, seconds=3.0, first_result=1.0)
    path = tmp_path / "deep" / "timings.json"
    write_timings(path, [("activation_maxpool", batch, 2)])
    data = json.loads(path.read_text(encoding="utf-8"))
    (written,) = data["batches"]
    assert written["assignment"] == "activation_maxpool" and written["workers"] == 2 and written["graded"] == 2
    assert written["submissions"]["luis"] == {CELLS: 0.7}
    assert {row["stage"]: row["median"] for row in written["summary"]} == {CELLS: pytest.approx(0.6), FILING: pytest.approx(0.05)}
    assert data["stage_order"][0] == QUEUE
