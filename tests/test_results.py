"""results.json follows Gradescope's format and names every test after its part."""

from __future__ import annotations

import json

from activation import LESSON, PARTS, TESTS
from autograder.engine.results import GradingResult, TestResult


def sample_result() -> GradingResult:
    tests = [TestResult(spec, 1.0 if i % 2 else 0.0, 1.0, "Superada." if i % 2 else "falló") for i, spec in enumerate(TESTS)]
    return GradingResult(notebook="nb.ipynb", tests=tests, execution_time=1.234)


def test_gradescope_fields(tmp_path):
    result = sample_result()
    path = tmp_path / "out" / "results.json"
    result.write(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["score"] == result.score == sum(t.score for t in result.tests)
    assert {"score", "tests", "output", "visibility"} <= set(data)
    for test in data["tests"]:
        assert {"name", "score", "max_score", "output", "visibility"} <= set(test)
        assert test["name"].split(":")[0] in {p.name for p in PARTS}
    assert data["extra_data"]["environment"]["torch"].startswith("2.13.0")


def test_part_scores_add_up():
    result = sample_result()
    parts = result.parts()
    assert [p.part for p in parts] == list(PARTS)
    assert sum(p.score for p in parts) == result.score
    assert sum(p.max_score for p in parts) == result.max_score == len(TESTS)


def test_ungradable_scores_zero_and_keeps_the_maximum():
    points = {spec.grade_id: 2.0 for spec in TESTS}
    result = GradingResult.ungradable("x.ipynb", "el archivo está vacío", points, LESSON)
    data = result.to_gradescope()
    assert data["score"] == 0
    assert data["max_score"] == 2.0 * len(TESTS)
    assert "vacío" in data["output"]
    assert all(t["output"] == "el archivo está vacío" and t["score"] == 0 for t in data["tests"])


def test_results_read_back_with_their_mistakes(tmp_path):
    tests = [TestResult(spec, 0.0, 1.0, "falló", "stride_ignored" if i == 0 else None) for i, spec in enumerate(TESTS)]
    result = GradingResult(notebook="nb.ipynb", tests=tests, execution_time=2.5)
    path = tmp_path / "results.json"
    result.write(path)
    again = GradingResult.read(path, LESSON)
    assert again == result
    assert again.tests[0].mistake == "stride_ignored"
    assert json.loads(path.read_text(encoding="utf-8"))["tests"][0]["extra_data"]["part"] == TESTS[0].part.name


def test_reading_something_else_fails_with_value_error(tmp_path):
    path = tmp_path / "results.json"
    path.write_text('{"tests": [{"name": "x", "score": 1}]}', encoding="utf-8")
    import pytest

    with pytest.raises(ValueError):
        GradingResult.read(path)
