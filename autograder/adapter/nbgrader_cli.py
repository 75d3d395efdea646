"""Run real nbgrader commands in the course directory, failing with one line instead of a log dump."""

from __future__ import annotations

import ctypes
import functools
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from nbgrader import api as nbgrader_api
from nbgrader.api import Gradebook
from sqlalchemy.engine import Engine
from nbgrader.dbutil import ALEMBIC_DIR

from autograder.engine.errors import NbgraderCommandError

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def ensure_tools_on_path() -> None:
    """Put our interpreter's bin/ first on PATH: nbgrader's Gradebook shells out to `alembic` by name."""
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if bindir not in path.split(os.pathsep):
        os.environ["PATH"] = bindir + (os.pathsep + path if path else "")


def open_gradebook(db_url: str) -> Gradebook:
    """nbgrader's Gradebook, with the `alembic` it shells out to reachable."""
    ensure_tools_on_path()
    return Gradebook(db_url)


_REVISION = re.compile(r"^(down_revision|revision)\s*=\s*['\"]?(\w+|None)['\"]?\s*$", re.MULTILINE)


@functools.lru_cache(maxsize=1)
def alembic_head() -> str:
    """The newest revision of nbgrader's gradebook schema, read from its migration scripts.

    nbgrader's Gradebook learns it by running `alembic heads` in a subprocess for every new
    database (about 3.5 s, most of a one-notebook grading's set-up); the scripts say it directly.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in Path(ALEMBIC_DIR, "versions").glob("*.py"):
        found = dict((key, value) for key, value in _REVISION.findall(script.read_text(encoding="utf-8")))
        if "revision" in found:
            revisions.add(found["revision"])
            if found.get("down_revision", "None") != "None":
                parents.add(found["down_revision"])
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"nbgrader's migrations have {len(heads)} heads ({sorted(heads)}); expected one")
    return heads.pop()


def new_gradebook(path: Path) -> Gradebook:
    """A new, empty gradebook at `path`, stamped with the schema's revision as nbgrader does, without its subprocess."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        db.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (alembic_head(),))
    return open_gradebook(f"sqlite:///{path}")


def _die_with_parent() -> None:
    """In the child, before exec: be killed when the process that started it dies (even by SIGKILL).

    Without it, `kill -9` of a batch leaves the current nbgrader grading on as an orphan, and a batch
    started again at once could grade the same student twice at the same time.
    """
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def run_nbgrader(root: Path, *args: str, quiet: bool = True) -> subprocess.CompletedProcess[str]:
    """`nbgrader ARGS` from `root`, with the interpreter that runs us; raises NbgraderCommandError on failure."""
    ensure_tools_on_path()
    command = [sys.executable, "-m", "nbgrader", *args]
    if quiet:
        command.append("--log-level=WARN")
    completed = subprocess.run(command, cwd=root, capture_output=True, text=True, preexec_fn=_die_with_parent)
    if completed.returncode != 0:
        raise NbgraderCommandError(command[1:], completed.returncode, completed.stderr + completed.stdout)
    return completed


class _SharedEngines:
    """The engines of the batches filing in this process, and how many of them are filing (the swap is process-wide)."""

    lock = threading.Lock()
    users = 0
    engines: dict[tuple[str, str], Engine] = {}  # by (database URL, the engine's options)
    original: Callable[..., Engine] | None = None
    # Read-only databases (`read_only_database`): kept for the life of the process that opened them.
    lasting_urls: set[str] = set()
    lasting: dict[tuple[str, str, int], Engine] = {}  # by (URL, options, the pid that opened it: never a parent's)

    @classmethod
    def shared(cls, url: str, **options: object) -> Engine:
        """nbgrader's create_engine, once per (database, options) while any batch files; a read-only one for the process's life."""
        key = (url, repr(sorted(options.items())))
        with cls.lock:
            assert cls.original is not None
            if url in cls.lasting_urls:
                lasting = (*key, os.getpid())
                if lasting not in cls.lasting:
                    cls.lasting[lasting] = _kept_open(cls.original(url, **options))
                return cls.lasting[lasting]
            if key not in cls.engines:
                cls.engines[key] = _kept_open(cls.original(url, **options))
            return cls.engines[key]


def _kept_open(engine: Engine) -> Engine:
    """The engine as every Gradebook of a batch shares it: its connections stay pooled, its tables known.

    Each Gradebook nbgrader opens checks that all 16 tables exist, one query each, and its close() disposes the
    engine's pool, so the next one connects again: 1.1 of the 1.7 ms a Gradebook took, eight times per student
    filed. Here a table seen once is known to exist (nothing drops one), and a Gradebook's dispose() leaves the
    pool alone until the last batch out disposes it for real (`_dispose`).
    """
    check = engine.dialect.has_table
    known: set[tuple[str, str | None]] = set()

    def has_table(connection: object, table_name: str, schema: str | None = None, **options: object) -> bool:
        if (table_name, schema) in known:
            return True
        found = check(connection, table_name, schema=schema, **options)
        if found:
            known.add((table_name, schema))
        return found

    engine.dialect.has_table = has_table  # type: ignore[method-assign]
    engine.dispose = lambda close=True: None  # type: ignore[method-assign]
    return engine


def _dispose(engine: Engine) -> None:
    """Close the engine's pooled connections (the Gradebooks' own dispose() was kept from doing it)."""
    Engine.dispose(engine)


# Paths a SQLite URI can name as they are (no quoting, no query or fragment characters).
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_./+-]+")


def read_only_database(path: Path) -> str | None:
    """A URL that opens `path` read-only and unchanging, its engine kept while this process lives; None if it cannot name it.

    For a database written whole and never changed in place (a registered release, replaced only by a
    rename): every Gradebook nbgrader opens on it in this process, inside `one_engine_per_database`,
    shares one engine, its tables checked and its statements compiled once, where a scratch copy per
    grading started each engine afresh (10 of a sanitize chain's 20 ms). Any write fails.
    """
    text = str(path)
    if not path.is_absolute() or text.startswith("//") or not _PLAIN_PATH.fullmatch(text):  # "file://x": an authority
        return None
    url = f"sqlite:///file:{text}?mode=ro&immutable=1&uri=true"
    with _SharedEngines.lock:
        _SharedEngines.lasting_urls.add(url)
    return url


@contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """A database used for one block and then removed (a grading's scratch gradebook): its shared engine, if any, is
    closed and forgotten when the block ends, whatever other batch of this process still files."""
    try:
        yield url
    finally:
        with _SharedEngines.lock:
            ours = [key for key in _SharedEngines.engines if key[0] == url]
            engines = [_SharedEngines.engines.pop(key) for key in ours]
        for engine in engines:
            _dispose(engine)


@contextmanager
def one_engine_per_database() -> Iterator[None]:
    """While inside, every nbgrader Gradebook this process opens on a database reuses one SQLAlchemy engine.

    nbgrader opens a new Gradebook, so a new engine, for each step of filing one student (eight of them):
    each new engine compiles every statement again and starts without its statement cache, which was
    about a fifth of a batch's filing time. The same sessions, queries and commits, but the tables each
    Gradebook checks are checked once, and its connections stay pooled until the last batch out (`_kept_open`).
    nbgrader has no way to hand it an engine, so its module's create_engine is swapped while any batch of
    this process files (nested and concurrent batches share the swap); the last one out puts nbgrader's
    back and disposes the engines.
    """
    with _SharedEngines.lock:
        if _SharedEngines.users == 0:
            _SharedEngines.original = nbgrader_api.create_engine
            nbgrader_api.create_engine = _SharedEngines.shared
        _SharedEngines.users += 1
    try:
        yield
    finally:
        with _SharedEngines.lock:
            _SharedEngines.users -= 1
            if _SharedEngines.users == 0:
                nbgrader_api.create_engine = _SharedEngines.original
                engines, _SharedEngines.engines = _SharedEngines.engines, {}
                for engine in engines.values():
                    _dispose(engine)
