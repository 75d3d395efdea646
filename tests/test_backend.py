"""Isolation backends behind one interface: which one the configuration picks, the unknown-name error, no shell anywhere."""

from __future__ import annotations

import ast
import importlib
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from traitlets.config import Config

from autograder.adapter.preprocessors import GuardedExecute
from autograder.isolation import backend as backends
from autograder.isolation import bubblewrap, warmfork
from autograder.isolation.backend import BACKENDS, IsolationBackend, UnknownBackend, backend_named, choose
from autograder.isolation.bwrap import PREBWRAP, Cgroup, Sandbox, SandboxUnavailable
from autograder.isolation.sandboxkernel import PlainKernelManager, SandboxedKernelManager, WarmKernelManager

ISOLATION = Path(backends.__file__).resolve().parent


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch):
    """A machine where bwrap works and, as the test says, the warm fork can run or not (nothing is started)."""
    monkeypatch.setattr(bubblewrap, "check_available", lambda: None)
    monkeypatch.setattr(warmfork, "check_available", lambda: None)

    def warm(usable: bool) -> None:
        monkeypatch.setattr(WarmKernelManager, "available", staticmethod(lambda: usable))

    warm(True)
    return warm


def manager(**options) -> type:
    return GuardedExecute(**options)._kernel_manager_class()


# -- selection: one test per rule -------------------------------------------------------------


def test_no_sandbox_is_unconfined(machine):
    assert manager(sandbox=False) is PlainKernelManager


def test_no_sandbox_wins_over_a_configured_backend(machine):
    """The CLI's --no-sandbox sets GuardedExecute.sandbox = False: it must still mean unconfined."""
    config = Config({"GuardedExecute": {"isolation": "warmfork", "sandbox": False}})
    assert GuardedExecute(config=config)._kernel_manager_class() is PlainKernelManager


def test_empty_isolation_forks_warm_where_it_can(machine):
    assert manager() is WarmKernelManager


def test_empty_isolation_starts_cold_where_the_warm_fork_cannot_run(machine):
    machine(False)
    assert manager() is SandboxedKernelManager


def test_empty_isolation_starts_cold_when_warm_is_off(machine):
    assert manager(warm=False) is SandboxedKernelManager


@pytest.mark.parametrize(
    ("name", "expected"),
    [("unconfined", PlainKernelManager), ("bubblewrap", SandboxedKernelManager), ("warmfork", WarmKernelManager)],
)
def test_a_named_backend_is_that_backend(machine, name: str, expected: type):
    config = Config({"GuardedExecute": {"isolation": name, "warm": False}})  # a name wins over `warm`
    assert GuardedExecute(config=config)._kernel_manager_class() is expected


def test_a_named_backend_that_cannot_run_here_says_why_in_one_line(machine):
    machine(False)
    with pytest.raises(SandboxUnavailable) as caught:
        manager(isolation="warmfork")
    assert "\n" not in str(caught.value) and "CAP_SYS_ADMIN" in str(caught.value) and "bubblewrap" in str(caught.value)


def test_an_unknown_backend_is_refused_with_the_known_names(machine):
    with pytest.raises(UnknownBackend) as caught:
        manager(isolation="docker")
    message = str(caught.value)
    assert "'docker'" in message and "\n" not in message
    assert all(name in message for name in ("unconfined", "bubblewrap", "warmfork"))
    with pytest.raises(ValueError):
        backend_named("")


def test_the_backend_is_chosen_once_per_notebook(machine):
    step = GuardedExecute()
    step._started = 1.0  # as preprocess sets it
    assert step._kernel_manager_class() is WarmKernelManager
    machine(False)  # restarts of the same notebook keep the backend it started with
    assert step._kernel_manager_class() is WarmKernelManager
    step._started = 2.0  # the next notebook chooses again
    assert step._kernel_manager_class() is SandboxedKernelManager


def test_a_new_backend_is_one_class_and_one_registry_entry(machine, monkeypatch: pytest.MonkeyPatch):
    class Container:
        name = "container"

        @staticmethod
        def available() -> None:
            pass

        @staticmethod
        def kernel_manager_class() -> type:
            return PlainKernelManager

    assert isinstance(Container, IsolationBackend)
    monkeypatch.setitem(BACKENDS, "container", Container)
    assert choose("container") is Container
    assert manager(isolation="container") is PlainKernelManager


def test_every_registered_backend_keeps_the_protocol_in_a_module_of_its_own():
    assert set(BACKENDS) == {"unconfined", "bubblewrap", "warmfork"}
    modules = set()
    for name, backend in BACKENDS.items():
        assert isinstance(backend, IsolationBackend) and backend.name == name
        assert issubclass(backend.kernel_manager_class(), PlainKernelManager)  # kernel_env: blocked ops, budget, NBGRADER_EXECUTION
        modules.add(backend.__module__)
        assert importlib.import_module(backend.__module__).__file__.startswith(str(ISOLATION))
    assert len(modules) == len(BACKENDS)


# -- no shell --------------------------------------------------------------------------------


def isolation_sources() -> list[Path]:
    sources = sorted(ISOLATION.glob("*.py"))
    assert len(sources) >= 8
    return sources


@pytest.mark.parametrize("source", isolation_sources(), ids=lambda path: path.name)
def test_no_isolation_module_builds_a_shell_command(source: Path):
    text = source.read_text()
    for needle in ('"sh", "-c"', "'sh', '-c'", '"/bin/sh"', "'/bin/sh'", "shell=True", "sh -c", "os.system(", "os.popen("):
        assert needle not in text, f"{source.name} builds a shell command ({needle})"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Call):
            assert not any(k.arg == "shell" for k in node.keywords), f"{source.name}:{node.lineno} passes shell="
        if isinstance(node, (ast.List, ast.Tuple)):
            words = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            assert not any(w.rsplit("/", 1)[-1] in {"sh", "bash", "dash"} for w in words), f"{source.name}:{node.lineno} runs a shell"


def test_the_sandbox_command_passes_each_path_as_one_argument(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Quotes, spaces and $(...) in a path stay inside its argument: nothing is parsed as a script."""
    box = Sandbox(uid=1_234_567)
    box.root = tmp_path / 'box "$(touch pwned)" x'
    box.cgroup = Cgroup([tmp_path / 'cg "; rm -rf / #'], 2)
    staged = {Path('/opt/py "$HOME"'): box.root / "mnt" / "0"}
    monkeypatch.setattr(Sandbox, "_staged_paths", lambda self: staged)
    argv = box.command(["true"])
    assert not any(arg.rsplit("/", 1)[-1] in {"sh", "bash", "dash"} for arg in argv)
    step = argv.index(str(PREBWRAP))
    assert argv[step - 3 : step] == [sys.executable, "-I", "-S"]
    assert argv[step + 1 : step + 7] == [
        "--cgroup", str(box.cgroup.dirs[0]), "--bind", '/opt/py "$HOME"', str(box.root / "mnt" / "0"), "--"
    ]  # fmt: skip


def test_the_pre_bwrap_step_joins_the_cgroup_and_execs_without_a_shell(tmp_path: Path):
    """Run for real (a plain folder stands in for the cgroup): the pid it writes is the command's, by exec."""
    folder = tmp_path / 'cg "$(touch pwned)"; x'
    folder.mkdir()
    code = "import os, signal; print(os.getpid(), signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN)"
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(PREBWRAP), "--cgroup", str(folder), "--", sys.executable, "-c", code],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    pid, _ = done.stdout.split()
    assert (folder / "cgroup.procs").read_text().strip() == pid
    assert not list(tmp_path.rglob("pwned"))


def test_the_pre_bwrap_step_stops_before_the_exec_when_a_step_fails(tmp_path: Path):
    marker = tmp_path / "ran"
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(PREBWRAP), "--cgroup", str(tmp_path / "missing"), "--", "touch", str(marker)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1 and "cgroup" in done.stderr and not marker.exists()
    bad = subprocess.run([sys.executable, "-I", "-S", str(PREBWRAP), "--what"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "usage" in bad.stderr


def test_the_pre_bwrap_step_restores_the_signals_python_ignores(tmp_path: Path):
    """An ignored SIGPIPE or SIGXFSZ would survive the exec (RLIMIT_FSIZE stops a writer with SIGXFSZ)."""
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(PREBWRAP), "--", "grep", "SigIgn", "/proc/self/status"],
        capture_output=True, text=True, timeout=60, restore_signals=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    ignored = int(done.stdout.split()[1], 16)
    for signum in (signal.SIGPIPE, signal.SIGXFSZ):
        assert not ignored & (1 << (signum - 1)), signum
