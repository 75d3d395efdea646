"""tools/flaky.py: outcomes read from real pytest JUnit reports, and a test counted flaky unless it passed every time."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def load_flaky():
    spec = importlib.util.spec_from_file_location("tools_flaky", ROOT / "tools" / "flaky.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules["tools_flaky"] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


flaky = load_flaky()

SUITE = '''
import pytest

def test_passes():
    pass

def test_fails():
    assert False

@pytest.mark.skip(reason="not here")
def test_skipped():
    pass

@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown")

def test_passes_then_teardown_fails(broken_teardown):
    pass
'''


def test_outcomes_come_from_a_real_junit_report(tmp_path: Path):
    (tmp_path / "test_sample.py").write_text(SUITE, encoding="utf-8")
    report = tmp_path / "report.xml"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", str(tmp_path / "test_sample.py")],
        cwd=tmp_path, capture_output=True, text=True,
    )
    assert done.returncode == 1, done.stdout
    outcomes = {test.rsplit("::", 1)[1]: outcome for test, outcome in flaky.read_junit(report).items()}
    assert outcomes == {
        "test_passes": flaky.PASSED,
        "test_fails": flaky.FAILED,
        "test_skipped": flaky.SKIPPED,
        "test_passes_then_teardown_fails": flaky.ERROR,
    }


def test_a_test_is_flaky_unless_it_passed_in_every_run():
    runs = [
        flaky.Run("1", 0, 1.0, {"a": flaky.PASSED, "b": flaky.PASSED, "s": flaky.SKIPPED}),
        flaky.Run("2", 1, 1.0, {"a": flaky.PASSED, "b": flaky.FAILED, "s": flaky.SKIPPED}),
        flaky.Run("3", 0, 1.0, {"b": flaky.PASSED, "s": flaky.SKIPPED}),
    ]
    assert flaky.unstable(runs) == {"a": [flaky.PASSED, flaky.PASSED, "missing"], "b": [flaky.PASSED, flaky.FAILED, flaky.PASSED]}
