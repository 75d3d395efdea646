"""The big imports run with the cyclic collector paused; what they made is then frozen, and the collector is back on."""

from __future__ import annotations

import gc

import pytest

from autograder.engine.heap import importing


@pytest.fixture(autouse=True)
def collector_as_it_was():
    """Each test starts with the collector on and nothing frozen, and leaves the process so."""
    gc.unfreeze()
    gc.enable()
    yield
    gc.unfreeze()
    gc.enable()


class Node:
    """An object the collector tracks."""


def test_the_block_runs_without_collections_and_what_it_made_is_frozen():
    seen = []
    gc.callbacks.append(lambda phase, info: seen.append(phase))
    try:
        with importing():
            assert not gc.isenabled()
            made = [Node() for _ in range(50_000)]  # many times gen0's threshold: collections would have run
            assert not seen
    finally:
        gc.callbacks.pop()
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(made)


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
