"""`autograder warm`: processes kept between commands, that later `grade` and `autograde` runs use, and that go away."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from activation import ASSIGNMENT
from conftest import EXPECTED_SCORES, ROOT, SAMPLES
from staging import stage_course
from autograder.commands.warmprotocol import server_name
from autograder.isolation import warmsession
from autograder.isolation.warmsession import ROOT_ENV, WarmSessionError
from autograder.isolation.zygote import Zygote
from autograder.outputs.outfiles import current_umask

pytestmark = pytest.mark.skipif(not Zygote.available(), reason="kernels cannot be confined here (needs root with CAP_SYS_ADMIN)")

SAMPLE = "leaky_relu"  # a submission that loses points: a forwarded grading must score it exactly as one run here
WAIT_S = 30.0


def cli(*args: str, env: dict[str, str], cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "autograder.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def warm_env():
    """An environment whose kept-warm processes live in a folder of this test's; whatever it started is stopped after.

    The folder is short-named in the run's temporary root: a socket's path has at most 107 bytes.
    """
    env = {**os.environ, ROOT_ENV: str(Path(tempfile.mkdtemp(prefix="w-")) / "warm")}
    yield env
    cli("warm", "--stop", env=env)
    shutil.rmtree(Path(env[ROOT_ENV]).parent, ignore_errors=True)


def folder_of(env: dict[str, str]) -> Path:
    [folder] = [p for p in Path(env[ROOT_ENV]).iterdir() if p.is_dir()]
    return folder


def served(env: dict[str, str]) -> list[str]:
    """The lines the command server logged about commands it started."""
    logs = list(folder_of(env).glob("commands-*.log"))
    return [line for log in logs for line in log.read_text().splitlines() if " started " in line]


def grade(env: dict[str, str], sample: str, results: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return cli("grade", str(SAMPLES / f"{sample}.ipynb"), "--assignment", ASSIGNMENT, "--results", str(results), *extra, env=env)


def points(results: Path) -> dict[str, float]:
    by_part: dict[str, float] = {}
    for test in json.loads(results.read_text())["tests"]:
        part = test["name"].split(":")[0]
        by_part[part] = by_part.get(part, 0.0) + test["score"]
    return by_part


def wait_until(condition, seconds: float = WAIT_S) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_grade_runs_in_the_kept_process_with_the_callers_streams_and_scores(warm_env: dict[str, str], tmp_path: Path):
    started = cli("warm", "--idle", "120", env=warm_env)
    assert started.returncode == 0, started.stderr
    assert "started" in started.stdout
    again = cli("warm", env=warm_env)
    assert "already running" in again.stdout and "--idle" not in again.stdout
    longer = cli("warm", "--idle", "600", env=warm_env)  # running processes keep their own idle time, and the user is told
    assert longer.returncode == 0 and "already running" in longer.stdout and "--idle applies to warm processes this command starts" in longer.stdout

    done = grade(warm_env, SAMPLE, tmp_path / "warm.json")
    assert done.returncode == 0, done.stderr
    assert "total" in done.stdout  # the table reached this caller's own stdout, through the passed stream
    assert len(served(warm_env)) == 1
    assert {part: points(tmp_path / "warm.json")[part] for part in EXPECTED_SCORES[SAMPLE]} == EXPECTED_SCORES[SAMPLE]

    # The caller's umask holds for what the command writes.
    private = subprocess.run(
        [sys.executable, "-m", "autograder.cli", "grade", str(SAMPLES / f"{SAMPLE}.ipynb"), "--assignment", ASSIGNMENT, "--results", str(tmp_path / "private.json")],
        cwd=ROOT, env=warm_env, capture_output=True, text=True, preexec_fn=lambda: os.umask(0o077),
    )
    assert private.returncode == 0 and (tmp_path / "private.json").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "warm.json").stat().st_mode & 0o777 == 0o644 & ~current_umask()

    # What a caller cannot grade still says why, on its own stderr, with the same exit status.
    missing = cli("grade", str(tmp_path / "nowhere.ipynb"), env=warm_env)
    assert missing.returncode == 2 and "nowhere.ipynb" in missing.stderr and missing.stderr.count("\n") == 1
    assert len(served(warm_env)) == 3


def test_a_caller_that_imports_under_another_environment_grades_itself(warm_env: dict[str, str], tmp_path: Path):
    assert cli("warm", "--idle", "120", env=warm_env).returncode == 0
    other = {**warm_env, "OMP_NUM_THREADS": "3"}  # read by torch when it is imported: the server's would not match
    assert server_name(other) != server_name(warm_env)
    done = grade(other, SAMPLE, tmp_path / "own.json")
    assert done.returncode == 0, done.stderr
    assert served(warm_env) == []
    assert {part: points(tmp_path / "own.json")[part] for part in EXPECTED_SCORES[SAMPLE]} == EXPECTED_SCORES[SAMPLE]


def test_stop_ends_both_and_later_commands_run_on_their_own(warm_env: dict[str, str], tmp_path: Path):
    assert cli("warm", "--idle", "120", env=warm_env).returncode == 0
    folder = folder_of(warm_env)
    pids = [warmsession.listener_pid(sock) for sock in folder.glob("*.sock")]
    assert len(pids) == 2 and None not in pids
    stopped = cli("warm", "--stop", env=warm_env)
    assert stopped.returncode == 0 and all(str(pid) in stopped.stdout for pid in pids)
    assert wait_until(lambda: not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids))
    assert not list(folder.glob("*.sock"))
    assert grade(warm_env, SAMPLE, tmp_path / "cold.json").returncode == 0
    assert served(warm_env) == []
    assert "no warm process" in cli("warm", "--stop", env=warm_env).stdout


def test_unused_they_stop_on_their_own_and_leave_no_socket(warm_env: dict[str, str]):
    assert cli("warm", "--idle", "1", env=warm_env).returncode == 0
    folder = folder_of(warm_env)
    assert wait_until(lambda: not list(folder.glob("*.sock")))
    assert "no warm process" in cli("warm", "--stop", env=warm_env).stdout


def test_ctrl_c_reaches_the_command_which_works_in_the_callers_temp_folder(warm_env: dict[str, str], tmp_path: Path):
    assert cli("warm", "--idle", "120", env=warm_env).returncode == 0
    slow = nbformat.read(SAMPLES / "solution.ipynb", as_version=4)
    answer = next(c for c in slow.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution"))
    answer.source = "import time\ntime.sleep(120)\n" + answer.source
    notebook = tmp_path / f"{ASSIGNMENT}.ipynb"
    nbformat.write(slow, notebook)
    own_temp = Path(tempfile.mkdtemp(prefix="t-"))
    own_temp.chmod(0o711)
    caller = subprocess.Popen(
        [sys.executable, "-m", "autograder.cli", "grade", str(notebook)],
        cwd=ROOT,
        env={**warm_env, "TMPDIR": str(own_temp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = psutil.Process(warmsession.listener_pid(next(folder_of(warm_env).glob("commands-*.sock"))))
    kernels = psutil.Process(warmsession.listener_pid(folder_of(warm_env) / "zygote.sock"))
    assert wait_until(lambda: _tree(server) and _kernels(kernels))  # the command runs, its kernel forked from the kept zygote
    assert any(own_temp.iterdir())  # the command's scratch folders are where the caller's TMPDIR says, as on its own
    caller.send_signal(signal.SIGINT)
    _, err = caller.communicate(timeout=WAIT_S)
    assert caller.returncode == 130 and "interrupted" in err
    assert wait_until(lambda: _tree(server) == [])
    assert wait_until(lambda: _kernels(kernels) == [])  # its kernel, held by the command's connection, died with it


def test_a_batch_runs_in_the_kept_server_and_forks_its_kernels_from_the_kept_process(warm_env: dict[str, str], tmp_path: Path, course):
    assert cli("warm", "--idle", "120", env=warm_env).returncode == 0
    kernels = psutil.Process(warmsession.listener_pid(folder_of(warm_env) / "zygote.sock"))
    staged = stage_course(course, tmp_path / "course", [SAMPLES / f"{SAMPLE}.ipynb", SAMPLES / "solution.ipynb"])
    batch = subprocess.Popen(
        [sys.executable, "-m", "autograder.cli", "autograde", "--quiet"], cwd=staged.root, env=warm_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    own_zygotes, forked = set(), 0
    while batch.poll() is None:
        own_zygotes |= {p.pid for p in _tree(psutil.Process(batch.pid)) if "autograder.isolation.zygote" in _command(p)}
        forked = max(forked, len(_kernels(kernels)))
        time.sleep(0.05)
    out, err = batch.communicate()
    assert batch.returncode == 0, err
    assert own_zygotes == set() and forked >= 1
    assert "2 calificados" in out + err
    assert [line.split(" (pid")[0].split(" started ")[1] for line in served(warm_env)] == ["autograde"]  # run by the kept server
    assert {part: points(staged.root / "results" / ASSIGNMENT / f"{SAMPLE}.json")[part] for part in EXPECTED_SCORES[SAMPLE]} == EXPECTED_SCORES[SAMPLE]


@pytest.mark.e2e
def test_ctrl_c_stops_a_forwarded_batch_its_workers_and_kernels(warm_env: dict[str, str], tmp_path: Path, course):
    assert cli("warm", "--idle", "120", env=warm_env).returncode == 0
    slow = nbformat.read(SAMPLES / "solution.ipynb", as_version=4)
    answer = next(c for c in slow.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution"))
    answer.source = "import time\ntime.sleep(120)\n" + answer.source
    notebooks = [tmp_path / f"{student}.ipynb" for student in ("ada", "bruno")]
    for notebook in notebooks:
        nbformat.write(slow, notebook)
    staged = stage_course(course, tmp_path / "course", notebooks)
    caller = subprocess.Popen(
        [sys.executable, "-m", "autograder.cli", "autograde", "--quiet"], cwd=staged.root, env=warm_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    server = psutil.Process(warmsession.listener_pid(next(folder_of(warm_env).glob("commands-*.sock"))))
    kernels = psutil.Process(warmsession.listener_pid(folder_of(warm_env) / "zygote.sock"))
    assert wait_until(lambda: len(_tree(server)) >= 3 and len(_kernels(kernels)) >= 2, 120)  # the command, its workers, two kernels
    caller.send_signal(signal.SIGINT)
    _, err = caller.communicate(timeout=WAIT_S)
    assert caller.returncode == 130 and "interrupted" in err
    assert wait_until(lambda: _tree(server) == [])  # the command and the workers it forked
    assert wait_until(lambda: _kernels(kernels) == [])


@pytest.mark.e2e
def test_ctrl_z_stops_a_forwarded_command_and_fg_lets_it_go_on(warm_env: dict[str, str], tmp_path: Path):
    assert cli("warm", "--idle", "120", env=warm_env).returncode == 0
    caller = subprocess.Popen(
        [sys.executable, "-m", "autograder.cli", "grade", str(SAMPLES / f"{SAMPLE}.ipynb"), "--assignment", ASSIGNMENT, "--results", str(tmp_path / "r.json")],
        cwd=ROOT, env=warm_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    server = psutil.Process(warmsession.listener_pid(next(folder_of(warm_env).glob("commands-*.sock"))))
    assert wait_until(lambda: _tree(server) != [])
    [command] = server.children()
    caller.send_signal(signal.SIGTSTP)
    assert wait_until(lambda: psutil.Process(caller.pid).status() == psutil.STATUS_STOPPED)
    assert wait_until(lambda: command.status() == psutil.STATUS_STOPPED)  # the command stops with its caller
    caller.send_signal(signal.SIGCONT)
    assert wait_until(lambda: command.status() != psutil.STATUS_STOPPED)
    out, err = caller.communicate(timeout=300)
    assert caller.returncode == 0, err
    assert {part: points(tmp_path / "r.json")[part] for part in EXPECTED_SCORES[SAMPLE]} == EXPECTED_SCORES[SAMPLE]


def test_a_signal_the_caller_ignores_is_ignored_by_its_forwarded_command(warm_env: dict[str, str], tmp_path: Path):
    """`nohup autograder grade ...`: a hangup leaves the command running, as it would run on its own."""
    assert cli("warm", "--idle", "120", env=warm_env).returncode == 0
    caller = subprocess.Popen(
        [sys.executable, "-m", "autograder.cli", "grade", str(SAMPLES / f"{SAMPLE}.ipynb"), "--assignment", ASSIGNMENT, "--results", str(tmp_path / "r.json")],
        cwd=ROOT, env=warm_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
    )
    server = psutil.Process(warmsession.listener_pid(next(folder_of(warm_env).glob("commands-*.sock"))))
    assert wait_until(lambda: _tree(server) != [])
    [command] = server.children()
    caller.send_signal(signal.SIGHUP)
    command.send_signal(signal.SIGHUP)  # a hangup reaching the command itself too, as a terminal's would
    out, err = caller.communicate(timeout=300)
    assert caller.returncode == 0, err
    assert len(served(warm_env)) == 1
    assert {part: points(tmp_path / "r.json")[part] for part in EXPECTED_SCORES[SAMPLE]} == EXPECTED_SCORES[SAMPLE]


def test_a_folder_or_socket_others_could_reach_is_never_used():
    folder = Path(tempfile.mkdtemp(prefix="s-")) / "session"
    folder.mkdir(mode=0o700)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(folder / "zygote.sock"))
    listener.listen(1)
    os.chmod(folder / "zygote.sock", 0o600)
    assert warmsession.find(folder) is not None
    os.chmod(folder / "zygote.sock", 0o666)
    assert warmsession.find(folder) is None
    os.chmod(folder / "zygote.sock", 0o600)
    folder.chmod(0o755)
    assert warmsession.find(folder) is None
    with pytest.raises(WarmSessionError, match="not private"):
        warmsession.prepare_folder(folder)
    listener.close()


@pytest.mark.parametrize("idle", ["0", "-5", "nan", "inf", "3e6"])
def test_a_bad_idle_is_one_line_and_starts_nothing(warm_env: dict[str, str], idle: str):
    done = cli("warm", "--idle", idle, env=warm_env)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "--idle" in done.stderr
    assert not Path(warm_env[ROOT_ENV]).exists() or not list(Path(warm_env[ROOT_ENV]).rglob("*.sock"))


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("together", [True, False], ids=["in the request's segment", "right after it"])
def test_a_signal_relayed_at_once_interrupts_the_command(warm_env: dict[str, str], tmp_path: Path, number: int, together: bool):
    """Ctrl-C (or SIGTERM) as the command is handed over: it is interrupted, 130 and one line, as on its own."""
    assert cli("warm", "--idle", "120", env=warm_env).returncode == 0
    path = next(folder_of(warm_env).glob("commands-*.sock"))
    request = {
        "argv": ["grade", str(SAMPLES / f"{SAMPLE}.ipynb"), "--assignment", ASSIGNMENT, "--results", str(tmp_path / "r.json")],
        "cwd": str(ROOT), "env": warm_env, "umask": current_umask(), "limits": {}, "nice": 0, "cpus": sorted(os.sched_getaffinity(0)),
    }
    payload = json.dumps(request).encode() + b"\n"
    read_err, write_err = os.pipe()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection, open(os.devnull, "r+b") as null:
        connection.connect(str(path))
        if together:  # the byte already queued when the server reads the request
            socket.send_fds(connection, [payload + bytes([number])], [null.fileno(), null.fileno(), write_err])
        else:  # as warmclient relays it: a send of its own, as soon as the request is out
            socket.send_fds(connection, [payload], [null.fileno(), null.fileno(), write_err])
            connection.send(bytes([number]))
        os.close(write_err)
        connection.settimeout(WAIT_S * 4)
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = connection.recv(4096)
            assert chunk, "the server closed the connection without an exit status"
            reply += chunk
    with os.fdopen(read_err, "rb") as err:
        said = err.read().decode()
    assert json.loads(reply) == {"exit": 130}
    assert said.count("interrupted") == 1 and "Traceback" not in said
    assert not (tmp_path / "r.json").exists()  # interrupted before it graded anything


def test_the_server_refuses_what_it_does_not_run(warm_env: dict[str, str]):
    assert cli("warm", "--idle", "120", env=warm_env).returncode == 0
    path = next(folder_of(warm_env).glob("commands-*.sock"))
    good = {"argv": ["grade", "x.ipynb"], "cwd": "/", "env": {}, "umask": 18, "limits": {}, "nice": 0, "cpus": [0]}
    for request in ({**good, "argv": ["export"]}, {**good, "limits": {"RLIMIT_RSS": [1, 1]}}, {"argv": "grade"}, [1, 2]):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.connect(str(path))
            socket.send_fds(connection, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
            connection.settimeout(WAIT_S)
            assert connection.recv(100) == b""  # closed, nothing run
    assert served(warm_env) == []
    log = next(folder_of(warm_env).glob("commands-*.log")).read_text()
    assert log.count("refused a request") == 4


def _tree(process: psutil.Process) -> list[psutil.Process]:
    try:
        return process.children(recursive=True)
    except psutil.Error:
        return []


def _kernels(zygote: psutil.Process) -> list[psutil.Process]:
    """What the zygote forked for kernels, and what those started: all its tree but its init server's (see initserver.py)."""
    try:
        children = zygote.children()
    except psutil.Error:
        return []
    kernels = [child for child in children if "initserver.py" not in _command(child)]
    return kernels + [process for kernel in kernels for process in _tree(kernel)]


def _command(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # gone (or a zombie) meanwhile
        return ""



def test_two_warm_at_once_start_one_of_each(warm_env: dict[str, str]):
    command = [sys.executable, "-m", "autograder.cli", "warm", "--idle", "120"]
    both = [subprocess.Popen(command, cwd=ROOT, env=warm_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    assert all(p.wait(timeout=120) == 0 for p in both)
    folder = str(folder_of(warm_env))
    listening = [p for p in psutil.process_iter() if folder in _command(p)]
    assert len(listening) == 2  # one kernel process, one command server
    assert "no warm process" not in cli("warm", "--stop", env=warm_env).stdout
    assert wait_until(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in listening))


def test_a_caller_in_another_mount_namespace_grades_itself(warm_env: dict[str, str], tmp_path: Path):
    """Paths name other files there (a service's private /tmp, a container): the server must not read them for it."""
    assert cli("warm", "--idle", "120", env=warm_env).returncode == 0
    command = ["unshare", "--mount", "--propagation", "private", sys.executable, "-m", "autograder.cli", "grade", str(SAMPLES / f"{SAMPLE}.ipynb")]
    done = subprocess.run([*command, "--assignment", ASSIGNMENT, "--results", str(tmp_path / "ns.json")], cwd=ROOT, env=warm_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert served(warm_env) == []
    assert "left to the caller: another mnt namespace" in next(folder_of(warm_env).glob("commands-*.log")).read_text()
    assert {part: points(tmp_path / "ns.json")[part] for part in EXPECTED_SCORES[SAMPLE]} == EXPECTED_SCORES[SAMPLE]


def test_output_is_encoded_and_ordered_as_on_its_own(warm_env: dict[str, str], tmp_path: Path):
    ascii_env = {**warm_env, "PYTHONIOENCODING": "ascii"}
    broken = tmp_path / "roto.ipynb"
    broken.write_text('{"cells": 5}')
    assert cli("warm", "--idle", "120", env=ascii_env).returncode == 0
    forwarded = cli("grade", str(broken), "--no-sandbox", env=ascii_env)
    alone = cli("grade", str(broken), "--no-sandbox", env={**ascii_env, ROOT_ENV: str(Path(tempfile.mkdtemp(prefix="e-")) / "none")})
    assert len(served(ascii_env)) == 1
    assert (forwarded.returncode, forwarded.stdout, forwarded.stderr) == (alone.returncode, alone.stdout, alone.stderr)
    assert "\\x" in forwarded.stderr or "?" in forwarded.stderr  # Spanish text, escaped as Python escapes it for ascii


def test_a_killed_kept_process_is_never_named_by_stop(warm_env: dict[str, str]):
    assert cli("warm", "--idle", "120", env=warm_env).returncode == 0
    kernels = warmsession.listener_pid(folder_of(warm_env) / "zygote.sock")
    os.kill(kernels, signal.SIGKILL)
    assert wait_until(lambda: warmsession.listener_pid(folder_of(warm_env) / "zygote.sock") is None)
    stopped = cli("warm", "--stop", env=warm_env)
    assert stopped.returncode == 0 and str(kernels) not in stopped.stdout and "stopped" in stopped.stdout
