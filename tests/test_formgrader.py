"""nbgrader's web UI stays a first-class door: a course of two assignments graded through formgrader's REST API.

A real Jupyter server with nbgrader's formgrader extension serves a scratch course holding the shipped lesson
(activation_maxpool) and the same lesson released under another name (activation_maxpool_b, mapped in the
course's nbgrader_config.py). The test presses formgrader's buttons as the browser does, through the API the
buttons call: generate each assignment, autograde each submission, read the scores and the failure messages,
save a manual grade and comment, generate the feedback. The grading runs inside the server, in nbgrader's own
converters with our preprocessors (GuardedExecute, Verify, HideHiddenTests) taken from nbgrader_config.py.

Endpoints used (nbgrader/server_extensions/formgrader/apihandlers.py and handlers.py):
  GET  /formgrader/api/assignments                                    the "Manage Assignments" table
  POST /formgrader/api/assignment/<assignment>/assign                 "Generate"
  GET  /formgrader/api/submissions/<assignment>                       "Manage Submissions" (score per student)
  POST /formgrader/api/submission/<assignment>/<student>/autograde    "Autograde"
  GET  /formgrader/api/submitted_notebooks/<assignment>/<notebook>    "Manual Grading" list of one notebook
  GET  /formgrader/submissions/<submission notebook id>/              the manual grading page (HTML)
  GET  /formgrader/api/grades?submission_id=<id>, PUT /formgrader/api/grade/<grade id>       score boxes
  GET  /formgrader/api/comments?submission_id=<id>, PUT /formgrader/api/comment/<comment id> comment boxes
  POST /formgrader/api/assignment/<assignment>/generate_feedback      "Generate Feedback" (all students)
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from activation import ASSIGNMENT
from conftest import NBGRADER_FEEDBACK_LABELS, SAMPLES, page_text
from local_processes import LOCAL, PORT_TAKEN, PORT_TRIES, STOP_S, free_port, kill, log_tail, wait_gone
from staging import stage_course, submit

from autograder.engine import messages
from autograder.engine.course import CONFIG_FILE, Course

RENAMED = f"{ASSIGNMENT}_b"  # the same lesson released under another name
MAX_SCORE = 22.0
# (assignment, student, sample, expected score): in each assignment one submission passes and one fails.
SUBMISSIONS = [
    (assignment, student, sample, score)
    for assignment in (ASSIGNMENT, RENAMED)
    for student, sample, score in (("ana", "solution", MAX_SCORE), ("beto", "blank", 0.0))
]
MANUAL = (RENAMED, "beto")  # the submission given a manual grade and comment
FAILED = messages.FAILED.format(name="").strip()  # ": no superada." ends the first line of every Spanish failure message
HIDDEN_CODE = "check("  # every hidden-tests region of the lesson calls check(...)
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
# Config warnings nbgrader or traitlets printed on every call before issue 12; none may come back.
NOISE = ("db_assignments", "display_data_priority")
MANUAL_COMMENT = "Revisa la función: falta la implementación."

# Bounds of waits (seconds). Autograde is one blocking request: the server grades before it answers.
SERVER_START_S = 180.0
GENERATE_S = 300.0
AUTOGRADE_S = 600.0
FEEDBACK_S = 300.0
REQUEST_S = 30.0



@dataclass
class FormgraderServer:
    """`jupyter server` (with the formgrader extension nbgrader enables) on 127.0.0.1, run from a course root."""

    root: Path
    home: Path
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(24))
    process: subprocess.Popen[bytes] | None = None
    started: list[psutil.Process] = field(default_factory=list)  # every descendant seen (kernels, sandboxes)

    @property
    def log(self) -> Path:
        return self.home / "server.log"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        env = dict(os.environ)
        env.update(
            # No user-level Jupyter or nbgrader config: only the venv's (extensions) and the course's own.
            JUPYTER_CONFIG_DIR=str(self.home / "config"),
            JUPYTER_DATA_DIR=str(self.home / "data"),
            JUPYTER_RUNTIME_DIR=str(self.home / "runtime"),
            IPYTHONDIR=str(self.home / "ipython"),
            # As an activated venv has it: nbgrader's Gradebook shells out to `alembic` by name.
            PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        )
        command = [
            sys.executable, "-m", "jupyter_server",
            "--no-browser", "--allow-root",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
            "--ServerApp.terminals_enabled=False",
        ]
        # cwd is the course root: formgrader reads nbgrader_config.py from the directory it was started in.
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.root, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def call(self, path: str, method: str = "GET", body: Any = None, timeout: float = REQUEST_S) -> Any:
        """One request with the token (which also spares the XSRF cookie, as for any token client); the JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        if method == "POST" and data is None:
            data = b""
        request = urllib.request.Request(
            self.url(path), data=data, method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        self._note_children()
        try:
            with LOCAL.open(request, timeout=timeout) as response:
                text = response.read().decode("utf-8")
        except urllib.error.HTTPError as error:
            pytest.fail(f"{method} {path}: HTTP {error.code}\n{error.read()[:2000]!r}\n{log_tail(self.log)}")
        finally:
            self._note_children()
        return json.loads(text) if path.startswith("/formgrader/api/") or path.startswith("/api/") else text

    def action(self, path: str, timeout: float) -> dict[str, Any]:
        """POST of a formgrader button that runs an nbgrader app: its answer says success and carries its log."""
        answer = self.call(path, method="POST", timeout=timeout)
        assert answer.get("success"), f"POST {path} failed: {answer.get('error')}\n{answer.get('log')}"
        return answer

    def _note_children(self) -> None:
        if self.process is None:
            return
        try:
            for child in psutil.Process(self.process.pid).children(recursive=True):
                if child not in self.started:
                    self.started.append(child)
        except psutil.NoSuchProcess:
            pass

    def wait_ready(self) -> None:
        """Until formgrader's own status endpoint answers; a port taken meanwhile costs a restart on another."""
        assert self.process is not None
        for attempt in range(1, PORT_TRIES + 1):
            if self._answered():
                return
            port_taken = self.process.poll() is not None and PORT_TAKEN in log_tail(self.log)
            if not port_taken or attempt == PORT_TRIES:
                break
            self.port = free_port()
            self.start()
        if self.process.poll() is not None:
            pytest.fail(f"jupyter server exited with {self.process.returncode}:\n{log_tail(self.log)}")
        pytest.fail(f"formgrader did not answer within {SERVER_START_S:.0f} s:\n{log_tail(self.log)}")

    def _answered(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + SERVER_START_S
        request = urllib.request.Request(self.url("/formgrader/api/status"), headers={"Authorization": f"token {self.token}"})
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with LOCAL.open(request, timeout=5) as response:
                    if response.status == 200 and json.load(response).get("status"):
                        return True
            except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
                pass
            time.sleep(0.3)
        return False

    def stop(self) -> list[str]:
        """/api/shutdown, then SIGTERM and SIGKILL to its session; returns what had to be forced or outlived it."""
        if self.process is None:
            return []
        self._note_children()
        problems = []
        if self.process.poll() is None:
            try:
                self.call("/api/shutdown", method="POST", timeout=STOP_S)
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, ValueError):
                pass  # it may stop before it answers
            try:
                self.process.wait(STOP_S)
            except subprocess.TimeoutExpired:
                problems.append(f"jupyter server still running {STOP_S:.0f} s after /api/shutdown")
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(STOP_S)
        outlived = wait_gone(self.started, STOP_S)
        kill(outlived)
        return problems + [f"pid {process.pid} outlived the server" for process in outlived]


def stage_two_assignments(course: Course, root: Path) -> None:
    """The course with activation_maxpool and its renamed copy, mapped to the same lesson; the samples submitted."""
    stage_course(course, root, [])
    (root / "solutions" / RENAMED).mkdir()
    shutil.copy(root / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", root / "solutions" / RENAMED / f"{RENAMED}.ipynb")
    config = root / CONFIG_FILE
    mapping = f'\nc.Lessons.assignments = {{"{RENAMED}": "autograder.lessons.{ASSIGNMENT}"}}\n'
    config.write_text(config.read_text(encoding="utf-8") + mapping, encoding="utf-8")
    for assignment, student, sample, _ in SUBMISSIONS:
        submit(root, student, assignment, SAMPLES / f"{sample}.ipynb")


@pytest.fixture
def formgrader(course: Course, tmp_path: Path) -> Iterator[FormgraderServer]:
    root = tmp_path / "course"
    home = tmp_path / "jupyter-home"
    home.mkdir()
    stage_two_assignments(course, root)
    server = FormgraderServer(root, home)
    server.start()
    try:
        yield server
    finally:
        leftovers = server.stop()
    assert not leftovers, f"jupyter server did not shut down cleanly: {leftovers}\n{log_tail(server.log)}"


def test_feedback_exporter_config_raises_no_warning_in_hidehiddentests(caplog: pytest.LogCaptureFixture):
    """nbconvert's HTMLExporter hands its preprocessors NbConvertBase.display_data_priority; HideHiddenTests takes it."""
    from nbconvert.exporters import HTMLExporter
    from traitlets.config import Config

    from autograder.adapter.preprocessors import HideHiddenTests

    config = Config()
    config.HTMLExporter.preprocessors = [HideHiddenTests]
    with caplog.at_level(logging.WARNING):
        exporter = HTMLExporter(config=config)
    assert any(isinstance(p, HideHiddenTests) for p in exporter._preprocessors)
    assert not [r.getMessage() for r in caplog.records if "not recognized" in r.getMessage()]


@pytest.mark.e2e
def test_two_assignments_graded_through_formgrader(formgrader: FormgraderServer, capsys: pytest.CaptureFixture[str]):
    server = formgrader
    timings: dict[str, float] = {}
    app_logs: list[str] = []  # the nbgrader apps' logs, as each button's answer carries them

    def timed(name: str, path: str, timeout: float) -> None:
        began = time.monotonic()
        app_logs.append(server.action(path, timeout)["log"])
        timings[name] = time.monotonic() - began

    began = time.monotonic()
    server.wait_ready()
    timings["server start"] = time.monotonic() - began
    assignments = {a["name"] for a in server.call("/formgrader/api/assignments")}
    assert {ASSIGNMENT, RENAMED} <= assignments, assignments

    for assignment in (ASSIGNMENT, RENAMED):
        timed(f"generate {assignment}", f"/formgrader/api/assignment/{assignment}/assign", GENERATE_S)
        release = server.root / "assignments" / assignment / f"{assignment}.ipynb"
        assert release.is_file(), f"no release notebook at {release}"
        assert HIDDEN_BEGIN not in release.read_text(encoding="utf-8")

    for assignment, student, _, _ in SUBMISSIONS:
        timed(f"autograde {assignment}/{student}", f"/formgrader/api/submission/{assignment}/{student}/autograde", AUTOGRADE_S)

    # Scores as "Manage Submissions" lists them, and per notebook as "Manual Grading" does.
    submissions: dict[tuple[str, str], dict[str, Any]] = {}
    for assignment, student, _, expected in SUBMISSIONS:
        listed = {s["student"]: s for s in server.call(f"/formgrader/api/submissions/{assignment}")}
        assert listed[student]["autograded"], listed[student]
        assert (listed[student]["score"], listed[student]["max_score"]) == (expected, MAX_SCORE), listed[student]
        notebooks = {n["student"]: n for n in server.call(f"/formgrader/api/submitted_notebooks/{assignment}/{assignment}")}
        notebook = notebooks[student]
        assert (notebook["score"], notebook["max_score"]) == (expected, MAX_SCORE), notebook
        submissions[assignment, student] = notebook

    # Each test cell scored as expected; a failing submission's grading page shows our Spanish messages.
    for assignment, student, _, expected in SUBMISSIONS:
        notebook = submissions[assignment, student]
        grades = server.call(f"/formgrader/api/grades?submission_id={notebook['id']}")
        assert len(grades) == MAX_SCORE and {(g["auto_score"], g["max_score"]) for g in grades} == {(expected / MAX_SCORE, 1)}
        assert all(bool(g["failed_tests"]) == (expected == 0) for g in grades), [(g["name"], g["failed_tests"]) for g in grades]
        page = page_text(server.call(f"/formgrader/submissions/{notebook['id']}/"))
        assert HIDDEN_CODE in page  # the instructor's view holds the hidden tests: the feedback check below means something
        autograded = (server.root / "autograded" / student / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8")
        if expected == 0:
            assert page.count(FAILED) >= MAX_SCORE, f"{page.count(FAILED)} Spanish failure messages on {assignment}/{student}'s page"
            assert FAILED in autograded
        else:
            assert FAILED not in page and FAILED not in autograded

    # A manual grade for one test cell and a comment on one answer cell, saved as the grading form does.
    notebook = submissions[MANUAL]
    grades = server.call(f"/formgrader/api/grades?submission_id={notebook['id']}")
    grade = next(g for g in grades if g["name"] == "relu_example")
    saved = server.call(f"/formgrader/api/grade/{grade['id']}", method="PUT", body={"manual_score": 0.5, "extra_credit": None})
    assert (saved["manual_score"], saved["needs_manual_grade"]) == (0.5, False), saved
    comments = server.call(f"/formgrader/api/comments?submission_id={notebook['id']}")
    comment = next(c for c in comments if c["name"] == "relu_impl")
    saved = server.call(f"/formgrader/api/comment/{comment['id']}", method="PUT", body={"manual_comment": MANUAL_COMMENT})
    assert saved["manual_comment"] == MANUAL_COMMENT, saved
    assert server.call(f"/formgrader/api/grade/{grade['id']}")["manual_score"] == 0.5  # read back, not the echo
    listed = {s["student"]: s for s in server.call(f"/formgrader/api/submissions/{MANUAL[0]}")}
    assert listed[MANUAL[1]]["score"] == 0.5, listed[MANUAL[1]]

    for assignment in (ASSIGNMENT, RENAMED):
        timed(f"feedback {assignment}", f"/formgrader/api/assignment/{assignment}/generate_feedback", FEEDBACK_S)
    for assignment, student, _, expected in SUBMISSIONS:
        path = server.root / "feedback" / student / assignment / f"{assignment}.html"
        assert path.is_file(), f"no feedback at {path}"
        html = path.read_text(encoding="utf-8")
        text = page_text(html)
        assert HIDDEN_CODE not in text and HIDDEN_CODE not in html, f"hidden test code in {path}"
        assert "BEGIN HIDDEN TESTS" not in text
        assert text.count(messages.HIDDEN_TEST_CODE) >= MAX_SCORE, f"HideHiddenTests' placeholder missing from {path}"
        assert (FAILED in text) == (expected == 0), f"Spanish failure messages in {path}: {text.count(FAILED)}"
        assert (MANUAL_COMMENT in text) == ((assignment, student) == MANUAL), f"manual comment in {path}"
        # The course's Spanish template (nbgrader_config.py), with the gradebook's scores, the manual grade included.
        assert "Puntuación por parte" in text and not [label for label in NBGRADER_FEEDBACK_LABELS if label in text], path
        if (assignment, student) == MANUAL:
            assert "0,5 / 1" in text, f"the manual grade is not on {path}"

    log = server.log.read_text(encoding="utf-8", errors="replace")
    for noise in NOISE:
        assert noise not in log, f"server log warns about {noise}:\n" + "\n".join(l for l in log.splitlines() if noise in l)
        assert not any(noise in entry for entry in app_logs), f"an nbgrader app warned about {noise}"
    # The channel checked above is the one such warnings reach: the converters log into the server log.
    assert "Converting notebook" in log, log_tail(server.log)

    with capsys.disabled():
        total = sum(timings.values())
        print("\nformgrader: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items()) + f"; total {total:.1f} s")
