"""Shared fixtures: the repository's course directory and the sample submissions with their expected scores."""

from __future__ import annotations

import html
import importlib.util
import multiprocessing.util
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from autograder.engine.course import Course
from autograder.isolation.warmsession import ROOT_ENV as WARM_ROOT_ENV

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "samples"

# Expected points per part (kernel / 4, relu / 6, maxpool2d / 12) for every sample submission.
EXPECTED_SCORES: dict[str, dict[str, float]] = {  # sample -> part name -> points
    "solution": {"kernel": 4, "relu": 6, "maxpool2d": 12},
    "blank": {"kernel": 0, "relu": 0, "maxpool2d": 0},
    "wrong_kernel_sign": {"kernel": 1, "relu": 6, "maxpool2d": 12},
    "kernel_transposed": {"kernel": 1, "relu": 6, "maxpool2d": 12},
    "leaky_relu": {"kernel": 4, "relu": 0, "maxpool2d": 12},
    "inplace_relu": {"kernel": 4, "relu": 5, "maxpool2d": 12},
    "calls_torch_relu": {"kernel": 4, "relu": 0, "maxpool2d": 12},
    "relu_via_alias": {"kernel": 4, "relu": 0, "maxpool2d": 12},
    "stride1_when_none": {"kernel": 4, "relu": 6, "maxpool2d": 9},
    "max_started_at_zero": {"kernel": 4, "relu": 6, "maxpool2d": 11},
    "calls_nn_maxpool": {"kernel": 4, "relu": 6, "maxpool2d": 0},
    "kernel_integers": {"kernel": 3, "relu": 6, "maxpool2d": 12},
    "relu_torch_max": {"kernel": 4, "relu": 0, "maxpool2d": 12},
    "relu_python_max": {"kernel": 4, "relu": 0, "maxpool2d": 12},
    "relu_float32_output": {"kernel": 4, "relu": 5, "maxpool2d": 12},
    "maxpool_off_by_one": {"kernel": 4, "relu": 6, "maxpool2d": 0},
    "maxpool_stride_ignored": {"kernel": 4, "relu": 6, "maxpool2d": 3},
    "maxpool_4d_only": {"kernel": 4, "relu": 6, "maxpool2d": 11},
    "maxpool_int_kernel_only": {"kernel": 4, "relu": 6, "maxpool2d": 11},
    "maxpool_float32_output": {"kernel": 4, "relu": 6, "maxpool2d": 11},
    "maxpool_max_with_dim": {"kernel": 4, "relu": 6, "maxpool2d": 0},
    "maxpool_max_over_batch": {"kernel": 4, "relu": 6, "maxpool2d": 3},
    "lesson_outputs_only": {"kernel": 4, "relu": 1, "maxpool2d": 3},
    "skip_execution_tags": {"kernel": 0, "relu": 0, "maxpool2d": 0},
}


# Where a test run keeps its temporary root (see pytest_configure), and the longest base folder it is made in.
TEMP_ROOT = pytest.StashKey[Path]()
MAX_TEMP_BASE = 40


def pytest_configure(config: pytest.Config) -> None:
    """Give this test run a temporary root of its own (TMPDIR, here and in every process it starts).

    Sandboxes, zygote sockets, scratch courses and pytest's own tmp_path then live under it, so a test
    that looks at "the temporary folder" sees only what this run made, whatever else runs on the machine.
    The root is world-traversable (0711), as /tmp is: each sandbox's uid must reach its own folder in it.
    Its path is kept short: kernels' IPC sockets live a few folders below it, and a socket path has at
    most 107 bytes (a TMPDIR longer than MAX_TEMP_BASE characters is passed over for /tmp).
    """
    base = tempfile.gettempdir()
    root = Path(tempfile.mkdtemp(prefix="agt-", dir=base if len(base) <= MAX_TEMP_BASE else "/tmp"))
    root.chmod(0o711)
    config.stash[TEMP_ROOT] = root
    os.environ["TMPDIR"] = str(root)
    tempfile.tempdir = str(root)
    # Warm processes kept between commands (`autograder warm`) live here too: no test uses one it did not start.
    os.environ[WARM_ROOT_ENV] = str(root / "warm")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove the run's temporary root after a green run; keep it (and say where) after a red one.

    Removed at exit, after multiprocessing's own exit work (its finalizers of priority -100 stop what
    it started, e.g. for Dask, and remove its pymp-* folders, which live in the root too).
    """
    root = session.config.stash.get(TEMP_ROOT, None)
    if root is None:
        return
    if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        multiprocessing.util.Finalize(None, shutil.rmtree, args=(root,), kwargs={"ignore_errors": True}, exitpriority=-200)
    else:
        print(f"\ntemporary files of this run kept in {root}")


@pytest.fixture
def own_tempdir(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A temporary folder for this one test: tempfile's default (and TMPDIR) while it runs, so what it creates lands there."""
    tmp_path_factory.getbasetemp()  # pytest's own folders stay where they are, whichever fixture asks first
    folder = Path(tempfile.mkdtemp(prefix="own-", dir=request.config.stash[TEMP_ROOT]))
    folder.chmod(0o711)
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def course() -> Course:
    return Course.at(ROOT)


@pytest.fixture
def chromium() -> str:
    """The Chromium binary for the browser tests (tests/browser.py); without one they cannot say anything, so they skip."""
    from browser import chromium_binary

    found = chromium_binary()
    if found is None:
        pytest.skip("no Chromium binary on PATH (install Debian's `chromium`; `make test` does it as root)")
    return found


def load_samples_builder():
    """tests/samples/build_samples.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("build_samples", SAMPLES / "build_samples.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


# Labels of nbgrader's own (English) feedback template: the course's Spanish page has none of them.
NBGRADER_FEEDBACK_LABELS = ("Test cell", "Student's answer", "Score:", "Top", "Comments", "Grade cell")


def page_text(page: str) -> str:
    """What a reader of an HTML page sees: tags out (highlighting splits code into spans), entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def connections_waiting(server: socket.socket) -> list[bytes]:
    """What reached a listening socket and waits in its backlog: each client's first bytes (or b"<connected>").

    Read after the code under test has finished, so no listener thread races it and none stops listening early.
    """
    server.setblocking(False)
    received = []
    while True:
        try:
            connection, _ = server.accept()
        except BlockingIOError:
            return received
        with connection:
            connection.settimeout(2)
            try:
                received.append(connection.recv(100) or b"<connected>")
            except OSError:
                received.append(b"<connected>")
