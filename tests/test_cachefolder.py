"""The registration cache stays bounded: the most recently used entries, for a while, and no killed writer's leftovers."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from autograder.adapter import cachefolder, pipeline

DAY = 86400


def entry(folder: Path, name: str, age_s: float) -> Path:
    path = folder / name
    path.write_bytes(b"x")
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def test_the_most_recently_used_are_kept_and_the_rest_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cachefolder, "KEEP_ENTRIES", 3)
    ages = {f"registered-{n}.db": n * 60 for n in range(6)}  # registered-0 the newest
    made = {name: entry(tmp_path, name, age) for name, age in ages.items()}
    other = entry(tmp_path, "notes.txt", 400 * DAY)  # not an entry: never touched
    removed = cachefolder.prune(tmp_path, "registered-*.db", spare=made["registered-5.db"])
    assert sorted(path.name for path in removed) == ["registered-3.db", "registered-4.db"]
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "notes.txt", "registered-0.db", "registered-1.db", "registered-2.db", "registered-5.db"]  # the spare, old as it is
    assert other.exists()


def test_entries_unused_for_long_go_however_few(tmp_path: Path) -> None:
    old = entry(tmp_path, "registered-old.db", (cachefolder.KEEP_DAYS + 1) * DAY)
    recent = entry(tmp_path, "registered-recent.db", (cachefolder.KEEP_DAYS - 1) * DAY)
    assert cachefolder.prune(tmp_path, "registered-*.db", spare=tmp_path / "registered-new.db") == [old]
    assert recent.exists()


def test_a_killed_writers_temporary_file_goes_and_a_fresh_one_stays(tmp_path: Path) -> None:
    stale = entry(tmp_path, "abc.tmp", cachefolder.UNFINISHED_S + 60)
    writing = entry(tmp_path, "def.tmp", 5)
    assert cachefolder.prune(tmp_path, "registered-*.db", spare=tmp_path / "none") == [stale]
    assert writing.exists()


def test_a_folder_that_is_not_there_prunes_nothing(tmp_path: Path) -> None:
    assert cachefolder.prune(tmp_path / "missing", "registered-*.db", spare=tmp_path / "none") == []


def test_a_registration_read_from_the_cache_is_marked_used_and_a_new_one_prunes(course, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = tmp_path / "autograder"
    folder.mkdir()
    forgotten = entry(folder, "registered-forgotten.db", (cachefolder.KEEP_DAYS + 1) * DAY)
    built: list[str] = []
    first = pipeline._cached_registration(course, ("a", "b", "c"), lambda: built.append("first") or b"first")
    assert first.data == b"first" and first.path is not None and first.path.parent == folder
    assert not forgotten.exists()  # pruned when the new entry was written
    then = time.time() - 10 * DAY
    os.utime(first.path, (then, then))
    again = pipeline._cached_registration(course, ("a", "b", "c"), lambda: built.append("again") or b"again")
    assert again.data == b"first" and built == ["first"]  # read, not built
    assert time.time() - first.path.stat().st_mtime < DAY  # marked used: the pruning keeps it
