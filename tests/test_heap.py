"""The big imports run with the cyclic collector paused; what they made is then frozen, and the collector is back on."""

from __future__ import annotations

import gc
import importlib
import sys
import threading
from pathlib import Path

import pytest

from activation import LESSON
from autograder.adapter import pipeline
from autograder.engine.heap import importing

# A module whose import makes many objects the collector tracks: more than gen0's threshold many times over.
MODULE = "class Node:\n    pass\n\nNODES = [Node() for _ in range(50_000)]\n"


@pytest.fixture(autouse=True)
def collector_as_it_was():
    """Each test starts with the collector on and nothing frozen, and leaves the process so."""
    gc.unfreeze()
    gc.enable()
    yield
    gc.unfreeze()
    gc.enable()


@pytest.fixture
def big_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The name of a fresh module built like MODULE, importable from tmp_path."""
    name = f"heap_big_{tmp_path.name}"
    (tmp_path / f"{name}.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_an_import_runs_without_collections_and_what_it_made_is_frozen(big_module):
    seen = []
    gc.callbacks.append(lambda phase, info: seen.append(phase))
    try:
        with importing():
            assert not gc.isenabled()
            module = importlib.import_module(big_module)
            assert not seen
    finally:
        gc.callbacks.pop()
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(module.NODES)


def test_a_block_that_imports_nothing_new_freezes_nothing():
    with importing():
        made = [object() for _ in range(10)]
        import json  # noqa: F401  (imported long before)
    assert made and gc.get_freeze_count() == 0
    assert gc.isenabled()


def test_an_error_in_the_block_still_turns_the_collector_back_on():
    with pytest.raises(ImportError):
        with importing():
            import autograder_no_such_module  # noqa: F401
    assert gc.isenabled()


def test_the_collector_comes_back_when_the_outermost_block_ends():
    with importing():
        with importing():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_turned_off_before_stays_off():
    gc.disable()
    with importing():
        pass
    assert not gc.isenabled()


def test_a_grading_after_the_first_preloads_nothing_and_freezes_nothing(monkeypatch):
    """Each grading asks for the checks in the background: where they are loaded (a batch's worker), nothing happens."""
    importlib.import_module("autograder.engine.checks")
    importlib.import_module(LESSON.family_module)
    started: list[threading.Thread] = []

    class Recorded(threading.Thread):
        def start(self) -> None:
            started.append(self)
            super().start()

    monkeypatch.setattr(pipeline.threading, "Thread", Recorded)
    pipeline._preload_checks(LESSON)
    for thread in started:
        thread.join()
    assert not started
    assert gc.get_freeze_count() == 0 and gc.isenabled()
