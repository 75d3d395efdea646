"""nbgrader helpers: children die with their parent, and new gradebooks are what nbgrader makes, without its subprocess."""

from __future__ import annotations

import os
import secrets
import sqlite3
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT
from forked import answer_in_fork

from autograder.adapter.nbgrader_cli import (
    alembic_head,
    ensure_tools_on_path,
    new_gradebook,
    one_engine_per_database,
    open_gradebook,
    read_only_database,
    scratch_database,
)


def test_a_child_dies_when_its_parent_is_killed():
    marker = f"sleep 7771.{secrets.randbelow(10**9):09d}"  # no other test run has this command line
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess\n"
            "from autograder.adapter.nbgrader_cli import _die_with_parent\n"
            f"subprocess.run({marker.split()!r}, preexec_fn=_die_with_parent)\n",
        ],
        cwd=ROOT,
    )
    deadline = time.monotonic() + 120
    while not _running(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _running(marker), "the child never started"
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30  # the kill is at once; the wait is for a loaded machine to reap it
    while _running(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(marker)


def _running(command: str) -> bool:
    listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return any(line.strip() == command for line in listing.splitlines())


def test_alembic_head_is_what_alembic_itself_says():
    from nbgrader.api import get_alembic_version

    ensure_tools_on_path()  # nbgrader runs `alembic heads` through PATH
    assert alembic_head() == get_alembic_version()


def test_new_gradebook_is_one_nbgrader_accepts_and_can_fill(tmp_path):
    path = tmp_path / "gradebook.db"
    with new_gradebook(path) as gradebook:
        gradebook.update_or_create_assignment("a")
        gradebook.update_or_create_student("s")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(alembic_head(),)]
    with open_gradebook(f"sqlite:///{path}") as gradebook:  # reopened as nbgrader would: same rows, no re-stamp
        assert [s.id for s in gradebook.students] == ["s"]


def empty_gradebooks(folder, *names: str) -> list[str]:
    """The URLs of new, empty gradebooks in `folder`, one per name."""
    for name in names:
        new_gradebook(folder / name).close()
    return [f"sqlite:///{folder / name}" for name in names]


def test_gradebooks_opened_while_filing_share_one_engine_per_database_and_see_each_others_writes(tmp_path):
    first, second = empty_gradebooks(tmp_path, "a.db", "b.db")
    with one_engine_per_database():
        with open_gradebook(first) as one:
            one.update_or_create_student("ana")
            engine = one.engine
        with open_gradebook(first) as again, open_gradebook(second) as other:
            assert again.engine is engine  # closed once, still the same engine: its statement cache survives
            assert other.engine is not engine  # one per database
            assert [student.id for student in again.students] == ["ana"]
            assert other.students == []
    with open_gradebook(first) as after, open_gradebook(first) as other_after:
        assert after.engine is not engine and after.engine is not other_after.engine  # nbgrader's own behaviour is back
        assert [student.id for student in after.students] == ["ana"]


def test_a_batchs_gradebooks_check_the_tables_once_and_keep_their_connection_until_it_ends(tmp_path):
    from sqlalchemy import event

    [url] = empty_gradebooks(tmp_path, "a.db")
    statements: list[str] = []
    connections: list[object] = []
    with one_engine_per_database():
        with open_gradebook(url) as first:
            first.update_or_create_student("ana")
            engine = first.engine
        event.listen(engine, "before_cursor_execute", lambda conn, cursor, statement, *rest: statements.append(statement))
        event.listen(engine, "connect", lambda *args: connections.append(args))
        with open_gradebook(url) as second:  # nbgrader's Gradebook: its table checks, its query, its close
            assert [student.id for student in second.students] == ["ana"]
        assert statements and not [s for s in statements if "table_info" in s.lower()]  # no table checked again
        assert connections == []  # the first one's connection, still pooled
        assert engine.pool.checkedin() == 1
    assert engine.pool.checkedin() == 0  # closed once the batch ended
    with open_gradebook(url) as after:  # nbgrader's own engine again, tables checked as it does
        assert [student.id for student in after.students] == ["ana"]


def test_a_scratch_databases_connection_is_closed_at_its_blocks_end_while_a_batch_still_files(tmp_path):
    """A grading's scratch gradebook goes with its folder: no connection to it stays pooled for the rest of a batch."""
    course_url, scratch_url = empty_gradebooks(tmp_path, "gradebook.db", "scratch.db")
    with one_engine_per_database():
        with open_gradebook(course_url) as course:
            kept = course.engine
        with scratch_database(scratch_url) as url:
            with open_gradebook(url) as scratch:
                scratch.update_or_create_student("ana")
                engine = scratch.engine
            assert engine.pool.checkedin() == 1  # pooled while the grading runs
        assert engine.pool.checkedin() == 0  # closed at the block's end, though the batch still files
        with open_gradebook(url) as again:
            assert again.engine is not engine and [student.id for student in again.students] == ["ana"]
        with open_gradebook(course_url) as course:
            assert course.engine is kept  # the batch's own database keeps its engine


def test_nested_filing_keeps_sharing_until_the_outermost_ends(tmp_path):
    import nbgrader.api as nbgrader_api

    original = nbgrader_api.create_engine
    db = tmp_path / "a.db"
    new_gradebook(db).close()
    with one_engine_per_database():
        with one_engine_per_database():
            with open_gradebook(f"sqlite:///{db}") as inner:
                engine = inner.engine
        assert nbgrader_api.create_engine is not original  # the outer batch still files
        with open_gradebook(f"sqlite:///{db}") as outer:
            assert outer.engine is engine
    assert nbgrader_api.create_engine is original


def test_a_read_only_database_keeps_its_engine_from_one_batch_to_the_next_and_refuses_writes(tmp_path):
    """A registered release read by every grading of a worker: one engine for the process, tables checked once, no write."""
    from nbgrader.api import InvalidEntry
    from sqlalchemy import event

    db = tmp_path / "release.db"
    with new_gradebook(db) as gradebook:
        gradebook.update_or_create_student("ana")
    url = read_only_database(db)
    assert url is not None
    with one_engine_per_database():
        with open_gradebook(url) as first:
            engine = first.engine
            assert [student.id for student in first.students] == ["ana"]
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda conn, cursor, statement, *rest: statements.append(statement))
    with one_engine_per_database():  # the next grading: the same engine, nothing checked again
        with open_gradebook(url) as second:
            assert second.engine is engine
            assert [student.id for student in second.students] == ["ana"]
            with pytest.raises(InvalidEntry, match="readonly"):  # nbgrader rolls back and says why
                second.update_or_create_student("eve")
    assert statements and not [s for s in statements if "table_info" in s.lower()]
    with sqlite3.connect(db) as plain:
        assert plain.execute("SELECT id FROM student").fetchall() == [("ana",)]


def test_a_fork_opens_its_own_engine_on_a_read_only_database_never_its_parents(tmp_path):
    db = tmp_path / "release.db"
    new_gradebook(db).close()
    url = read_only_database(db)
    with one_engine_per_database():
        with open_gradebook(url) as parent:
            engine_id = id(parent.engine)

    def in_the_fork() -> bytes:  # a new engine: an inherited SQLite connection must not be used across a fork
        with one_engine_per_database(), open_gradebook(url) as child:
            return b"own" if id(child.engine) != engine_id else b"inherited"

    assert answer_in_fork(in_the_fork) == b"own"


@pytest.mark.parametrize("name", ["with space.db", "q?mode=rw.db", "hash#.db", "pct%41.db"])
def test_a_path_a_sqlite_uri_cannot_name_as_it_is_gets_no_read_only_url(tmp_path, name):
    assert read_only_database(tmp_path / name) is None
    assert read_only_database(Path("relative.db")) is None
    assert read_only_database(Path("//" + str(tmp_path / "release.db").lstrip("/"))) is None  # POSIX keeps a leading "//"
