"""Warm kernels forked from the zygote are as confined as cold bwrap ones, and die with whoever owns them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.util import run_sync

from conftest import connections_waiting
from local_processes import tasks_of

from autograder.isolation import confine
from autograder.isolation import zygote as zygote_module
from autograder.isolation.bwrap import Layout, Mount, Sandbox
from autograder.isolation.kernel_options import NO_FIGURES
from autograder.isolation.sandboxkernel import WarmKernelManager
from autograder.isolation.zygote import EXIT_CONFINE_FAILED, FAILED_NAME, MAX_START_FAILURES, Zygote, ZygoteError
from autograder_stub.protocol import BLOCKED_ENV

ROOT = Path(__file__).resolve().parents[1]

# How long a forked kernel may take to appear, and its processes to be gone after a kill, on a loaded machine
# (both happen in well under a second on an idle one; the tests wait for the event, these only bound the wait).
START_S = 120.0
GONE_S = 30.0

pytestmark = pytest.mark.skipif(not WarmKernelManager.available(), reason="warm kernels need root on Linux")


def run_in_warm_kernel(code: str, timeout: int = 60, options: tuple[str, ...] = ()) -> str:
    """Run one cell in a fresh warm kernel started with these options; its stdout (an error fails the test)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(textwrap.dedent(code))])
    client = NotebookClient(nb, kernel_manager_class=WarmKernelManager, kernel_name="python3", timeout=timeout, extra_arguments=list(options))
    client.execute()
    outputs = nb.cells[0].outputs
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, errors
    return "".join(o.get("text", "") for o in outputs if o.output_type == "stream" and o.name == "stdout")


def test_a_warm_kernel_starts_with_torch_already_imported():
    out = run_in_warm_kernel("import sys; print('torch' in sys.modules, 'matplotlib.pyplot' in sys.modules)")
    assert out.split() == ["True", "True"]


def test_a_warm_kernel_starts_with_the_warm_imports_frozen_and_its_collector_on():
    out = run_in_warm_kernel("import gc; print(gc.isenabled(), gc.get_freeze_count() > 100_000)")
    assert out.split() == ["True", "True"]


def test_a_warm_kernel_builds_no_debugger_and_offers_none():
    out = run_in_warm_kernel(
        """
        kernel = get_ipython().kernel
        print(hasattr(kernel, "debugger"), "debugger" in kernel.kernel_info["supported_features"])
        """
    )
    assert out.split() == ["False", "False"]


def test_a_warm_kernel_has_the_lazy_magics_and_its_first_matplotlib_magic_imports_nothing():
    out = run_in_warm_kernel(
        """
        import sys
        before = set(sys.modules)
        %matplotlib inline
        print("IPython.core.magics.execution" in before, sorted(set(sys.modules) - before) or "nothing")
        """
    )
    assert out.split() == ["True", "nothing"], out


def test_a_warm_kernel_uses_what_its_zygote_prepared_for_the_texts_it_was_named_and_only_for_those():
    named = ["import autograder_stub.sourcememo as memo\nbefore = memo.hits\n", "after_named = memo.hits\nnames = %who_ls\nafter_named - before\n"]
    other = "after_other = memo.hits\nprint(after_named - before, after_other - after_named)\n"
    cells = [nbformat.v4.new_code_cell(text) for text in [*named, other]]
    nb = nbformat.v4.new_notebook(cells=cells)
    manager = WarmKernelManager(kernel_name="python3", known_sources=named)
    try:
        NotebookClient(nb, km=manager, timeout=60).execute()
    finally:  # a client handed its manager leaves the kernel to whoever made it
        run_sync(manager.shutdown_kernel)(now=True)
    assert not [o for cell in nb.cells for o in cell.outputs if o.output_type == "error"]
    # Transformed (the %who_ls line too), hashed and checked for the event loop from what was prepared
    # (IPython and ipykernel each transform and hash a cell more than once: 5 lookups in IPython 9.18).
    hits = int(nb.cells[1].outputs[0]["data"]["text/plain"])
    assert hits >= 3
    assert nb.cells[2].outputs[0]["text"].split() == [str(hits), "0"]


def test_a_sources_file_another_user_could_write_is_not_read(tmp_path, capfd):
    from autograder_stub import sourcememo

    path = tmp_path / "sources.json"
    path.write_text('["nunca = 1\\n"]')
    path.chmod(0o666)
    zygote_module._learn_sources(path)
    assert "nunca = 1\n" not in sourcememo._transformed
    assert "not a regular file only root writes" in capfd.readouterr().err


def test_a_sources_file_reached_through_a_linked_folder_is_not_read(tmp_path, capfd):
    from autograder_stub import sourcememo

    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (real / "sources.json").write_text('["enlazado = 1\\n"]')
    (tmp_path / "linked").symlink_to(real)
    zygote_module._learn_sources(tmp_path / "linked" / "sources.json")
    assert "enlazado = 1\n" not in sourcememo._transformed
    assert "others than root may write to" in capfd.readouterr().err


def test_a_sources_file_is_written_once_into_the_folder_it_is_given(tmp_path: Path):
    folder = tmp_path / "zygote" / zygote_module.SOURCES_FOLDER
    folder.parent.mkdir()
    path = zygote_module.sources_file(["b = 2\n", "a = 1\n", "a = 1\n"], folder)
    assert path.parent == folder and (folder.stat().st_mode & 0o777) == 0o700
    assert json.loads(path.read_text()) == ["a = 1\n", "b = 2\n"]
    assert (path.stat().st_mode & 0o777) == 0o600
    written = path.stat().st_mtime_ns
    path.write_text("[]")  # what a second write would replace
    os.utime(path, ns=(written, written))
    assert zygote_module.sources_file(["a = 1\n", "b = 2\n"], folder) == path  # the same texts, recent: left as it is
    assert path.read_text() == "[]" and path.stat().st_mtime_ns == written
    assert os.listdir(folder) == [path.name]
    path.unlink()  # removed by hand, or by another command's prune: written again
    assert json.loads(zygote_module.sources_file(["a = 1\n", "b = 2\n"], folder).read_text()) == ["a = 1\n", "b = 2\n"]


def test_a_sources_file_in_use_is_touched_and_unused_ones_go_but_no_link_is_followed(tmp_path: Path):
    """A kept-warm zygote's folder outlives every command: a file in use stays, one unused for a day goes."""
    folder = tmp_path / zygote_module.SOURCES_FOLDER
    in_use = zygote_module.sources_file(["a = 1\n"], folder)
    stale, kept_elsewhere = folder / "stale.json", tmp_path / "elsewhere.json"
    stale.write_text("[]")
    kept_elsewhere.write_text("[]")
    (folder / "link.json").symlink_to(kept_elsewhere)
    day_ago = time.time() - zygote_module.SOURCES_KEPT_S - 60
    for path in (in_use, stale, kept_elsewhere):
        os.utime(path, (day_ago, day_ago))
    os.utime(folder / "link.json", (day_ago, day_ago), follow_symlinks=False)
    assert zygote_module.sources_file(["a = 1\n"], folder) == in_use
    assert in_use.stat().st_mtime > day_ago + 60  # touched, not rewritten
    fresh = zygote_module.sources_file(["c = 3\n"], folder)  # a new file prunes what nobody used for a day
    assert sorted(os.listdir(folder)) == sorted([in_use.name, fresh.name])
    assert kept_elsewhere.exists()  # the link went, not what it pointed to


def test_a_sources_folder_that_is_a_link_is_refused(tmp_path: Path):
    target = tmp_path / "target"
    target.mkdir(mode=0o700)
    (tmp_path / zygote_module.SOURCES_FOLDER).symlink_to(target)
    with pytest.raises(PermissionError, match="not a folder private"):
        zygote_module.sources_file(["a = 1\n"], tmp_path / zygote_module.SOURCES_FOLDER)
    assert os.listdir(target) == []


def test_figures_are_warmed_once_a_kernel_that_may_draw_is_asked_for_and_not_before(monkeypatch: pytest.MonkeyPatch):
    fresh = Zygote().start()  # this process's shared one may have warmed them for an earlier test
    monkeypatch.setattr(zygote_module, "_SHARED", fresh)
    # Saving the warm-up's PNG loads PIL's image plugins; nothing a kernel starts with does.
    warmed = "import sys; print('PIL.JpegImagePlugin' in sys.modules)"
    try:
        assert run_in_warm_kernel(warmed, options=(NO_FIGURES,)).split() == ["False"]  # graded without figures
        assert run_in_warm_kernel(warmed).split() == ["True"]
        assert run_in_warm_kernel(warmed, options=(NO_FIGURES,)).split() == ["True"]  # forked after the warm-up
    finally:
        fresh.close()


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs util-linux's setpriv")
def test_a_root_without_the_right_to_unshare_and_mount_is_told_it_cannot_confine():
    """A container's root usually lacks CAP_SYS_ADMIN: kernels then start cold under bwrap, never unconfined."""
    ask = [sys.executable, "-c", "from autograder.isolation.zygote import Zygote; print(Zygote.available())"]
    dropped = ["setpriv", "--bounding-set", "-sys_admin", "--inh-caps", "-sys_admin", *ask]
    assert subprocess.run(ask, capture_output=True, text=True, timeout=60).stdout.split() == ["True"]
    assert subprocess.run(dropped, capture_output=True, text=True, timeout=60).stdout.split() == ["False"]


def test_a_confinement_self_test_that_hangs_is_a_no_and_leaves_no_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from autograder.isolation import confine

    mark = tmp_path / "pid"

    def hang() -> None:  # stands in for a mount or netlink call that never returns, in the forked child
        mark.write_text(str(os.getpid()))
        time.sleep(600)

    monkeypatch.setattr(confine, "self_test", hang)
    monkeypatch.setattr(zygote_module, "SELF_TEST_TIMEOUT_S", 0.5)
    started = time.monotonic()
    try:
        assert zygote_module._can_confine.__wrapped__() is False
    finally:
        zygote_module._can_confine.cache_clear()
    assert time.monotonic() - started < 10
    child = int(mark.read_text())
    assert child != os.getpid() and not Path(f"/proc/{child}").exists()  # killed and reaped


def test_runs_as_its_own_unprivileged_uid_with_no_capabilities_in_its_own_namespaces():
    out = run_in_warm_kernel(
        """
        import os, socket
        caps = {l.split(':')[0]: int(l.split()[1], 16) for l in open('/proc/self/status') if l.startswith('Cap')}
        print(os.getuid(), os.getgid(), os.getgroups(), caps['CapEff'], caps['CapPrm'], caps['CapBnd'], os.getpid() < 10,
              socket.gethostname(), sorted(p for p in os.listdir('/proc') if p.isdigit()).__len__() < 10)
        """
    )
    uid, gid, groups, eff, prm, bnd, small_pid, host, few_procs = out.split()
    assert int(uid) >= 1_000_000 and gid == uid and groups == "[]"
    assert (eff, prm, bnd) == ("0", "0", "0")
    assert small_pid == "True" and few_procs == "True"  # a pid namespace of its own: no host process visible
    assert host == "sandbox"


def test_the_course_and_the_graders_environment_are_invisible(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AUTOGRADER_TEST_SECRET", "s3cret")
    out = run_in_warm_kernel(
        f"""
        import os
        print(os.path.exists({str(ROOT / 'solutions')!r}), os.path.exists({str(ROOT / 'nbgrader_config.py')!r}),
              'AUTOGRADER_TEST_SECRET' in os.environ, os.listdir('/tmp') == [] or os.listdir('/tmp'))
        """
    )
    assert out.split()[:3] == ["False", "False", "False"]


def test_network_is_unreachable_even_on_loopback():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        out = run_in_warm_kernel(
            f"""
            import socket
            try:
                socket.create_connection(('127.0.0.1', {port}), timeout=3).sendall(b'LEAKED')
                print('connected')
            except OSError as error:
                print('refused')
            """
        )
        assert connections_waiting(server) == []
    assert out.strip() == "refused"


def test_system_files_are_read_only_and_writes_are_bounded():
    out = run_in_warm_kernel(
        """
        import os
        results = []
        for path in ('/usr/evil', '/etc/evil', '/evil'):
            try:
                open(path, 'w').write('x'); results.append('wrote')
            except OSError:
                results.append('denied')
        try:
            with open('/tmp/big', 'wb') as f:
                f.write(b'x' * (100 * 1024 * 1024))
            results.append('wrote-big')
        except OSError:
            results.append('too-big')
        print(*results)
        """
    )
    assert out.split() == ["denied", "denied", "denied", "too-big"]


def test_killing_the_client_kills_the_kernels_whole_namespace():
    with Sandbox() as box:
        zygote = Zygote.shared()
        root = box.root / "fs-test"
        cgroups = [str(d) for d in box.cgroup.dirs] if box.cgroup else []
        command = zygote.command(box.layout(), ["-f", str(box.run_dir / "k.json")], cgroups, root)
        client = subprocess.Popen(command, start_new_session=True)
        deadline = time.monotonic() + START_S
        while not tasks_of(box.uid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert tasks_of(box.uid), "the forked kernel never started"
        os.killpg(client.pid, signal.SIGKILL)
        client.wait()
        deadline = time.monotonic() + GONE_S
        while tasks_of(box.uid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not tasks_of(box.uid)


OWNER = """
import os, subprocess, sys, time
subprocess.Popen([*sys.argv[1:-1], str(os.getpid())])  # the client is told who started it: us
time.sleep(600)
"""


def _kernel_dies_with(script: str, asked: str) -> None:
    """Start a warm kernel from a process running `script` over the client's command line, kill that process: the kernel goes."""
    with Sandbox() as box:
        zygote = Zygote.shared()
        command = zygote.command(box.layout(), ["-f", str(box.run_dir / "k.json")], [], box.root / "fs-asker")
        asker = subprocess.Popen([sys.executable, "-c", script, *command], cwd=ROOT, start_new_session=True)
        try:
            deadline = time.monotonic() + START_S
            while not tasks_of(box.uid) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert tasks_of(box.uid), "the forked kernel never started"
            asker.kill()  # only the asker: a client it started is not in the signal's way
            asker.wait()
            deadline = time.monotonic() + GONE_S
            while tasks_of(box.uid) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not tasks_of(box.uid), f"a kernel outlived the process that {asked}"
        finally:
            if asker.poll() is None:
                os.killpg(asker.pid, signal.SIGKILL)


def test_a_kernel_dies_with_the_process_that_started_its_client():
    """A grading worker killed mid-batch: its kernel must not live on (in a kept-warm zygote nothing else would stop it)."""
    _kernel_dies_with(OWNER, "asked for it")


HOLDER = """
import sys, time
from autograder.isolation.zygoteprovisioner import ZygoteKernel, client_request
kernel = ZygoteKernel(*client_request(sys.argv[1:]))  # the zygote's client, in this process (a grading worker's way)
time.sleep(600)
"""


def test_a_kernel_dies_with_the_process_that_holds_its_connection():
    """The worker holds the zygote's connection itself (ZygoteProvisioner): killed mid-batch, its kernel goes too."""
    _kernel_dies_with(HOLDER, "held its connection")


def test_a_layout_that_cannot_be_built_never_runs_the_kernel(tmp_path: Path):
    with Sandbox() as box:
        good = box.layout()
        broken = Layout((*good.mounts, Mount.ro_bind(str(tmp_path / "missing"))), good.environment, good.cwd, good.uid, good.limits)
        command = Zygote.shared().command(broken, ["-f", str(box.run_dir / "k.json")], [], box.root / "fs-broken")
        done = subprocess.run(command, capture_output=True, timeout=60)
        assert done.returncode == EXIT_CONFINE_FAILED
        assert not tasks_of(box.uid)


def test_a_malformed_request_is_refused_and_the_zygote_keeps_serving():
    zygote = Zygote.shared()
    zygote.wait_ready()
    bad = [sys.executable, "-I", "-S", str(ROOT / "autograder" / "isolation" / "zygote_client.py"), str(zygote.socket_path), json.dumps({"layout": 3}), str(os.getpid())]
    done = subprocess.run(bad, capture_output=True, timeout=30)
    assert done.returncode == 70 and b"refused" in done.stderr
    assert run_in_warm_kernel("print(6 * 7)").strip() == "42"


def test_kernels_die_when_the_zygote_dies():
    zygote = Zygote().start()
    try:
        with Sandbox() as box:
            command = zygote.command(box.layout(), ["-f", str(box.run_dir / "k.json")], [], box.root / "fs-orphan")
            client = subprocess.Popen(command)
            deadline = time.monotonic() + START_S
            while not tasks_of(box.uid) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert tasks_of(box.uid)
            assert zygote.process is not None
            zygote.process.kill()
            zygote.process.wait()
            deadline = time.monotonic() + GONE_S
            while tasks_of(box.uid) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not tasks_of(box.uid), "a kernel outlived its zygote"
            client.wait(timeout=GONE_S)
    finally:
        zygote.close()



def test_nothing_of_the_grader_or_the_zygote_is_readable_from_inside(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AUTOGRADER_TEST_SECRET", "s3cret")
    out = run_in_warm_kernel(
        """
        import os
        seen = []
        for pid in os.listdir('/proc'):
            if pid.isdigit():
                for what in ('environ', 'cmdline'):
                    try:
                        seen.append(open(f'/proc/{pid}/{what}', 'rb').read())
                    except OSError:
                        pass
                try:
                    seen.extend(os.readlink(f'/proc/{pid}/fd/{fd}') for fd in os.listdir(f'/proc/{pid}/fd'))
                except OSError:
                    pass
        print(repr(seen))
        """
    )
    assert "s3cret" not in out and "zygote.log" not in out


def test_shared_memory_and_ptys_like_a_cold_kernel():
    code = """
        import os, pty, torch, numpy
        with open('/dev/shm/x', 'wb') as f:
            f.write(b'x' * (8 * 1024 * 1024))
        master, slave = pty.openpty()
        print('ok')
    """
    assert run_in_warm_kernel(code).strip() == "ok"


def test_a_zygote_that_keeps_exiting_while_warming_up_is_replaced_twice_and_its_workers_learn_why_at_once():
    zygote = Zygote().start()
    try:
        for _ in range(MAX_START_FAILURES + 1):
            assert zygote.process is not None
            zygote.process.kill()  # long before it has imported torch
            zygote.process.wait()
            with pytest.raises(ZygoteError, match="exited with status -9"):
                zygote.wait_ready()
            with pytest.raises(ZygoteError, match="exited with status -9"):
                Zygote(zygote.socket_path).wait_ready()  # a grading worker knows only the socket: at once, not after 120 s
            zygote.restart()  # a batch asks after every finished grading
        assert zygote.failed_to_start() and zygote.generation == MAX_START_FAILURES
        last = zygote.process
        zygote.restart()  # no loop of starts that all fail the same way
        assert zygote.process is last and zygote.generation == MAX_START_FAILURES
    finally:
        zygote.close()


def test_a_zygote_that_gets_ready_clears_an_earlier_failure_left_beside_its_socket():
    zygote = Zygote().start()
    try:
        (zygote.socket_path.parent / FAILED_NAME).write_text("it exited with status 1\0old", encoding="utf-8")
        zygote.wait_ready()
        assert not (zygote.socket_path.parent / FAILED_NAME).exists()
        Zygote(zygote.socket_path).wait_ready()
    finally:
        zygote.close()


def test_a_dead_zygote_is_replaced():
    zygote = Zygote.shared()
    zygote.wait_ready()
    assert zygote.process is not None
    zygote.process.kill()
    zygote.process.wait()
    assert run_in_warm_kernel("print(6 * 7)").strip() == "42"


def test_no_process_but_a_kernel_maps_the_zygotes_memory_while_kernels_start():
    """A sum of RSS counts the zygote's pages once per process that maps them: only the kernels may (no forked init).

    The zygote's children, sampled while kernels start and run: the kernels (pid 2 of their namespace) and its init
    server, small, whose children are the namespaces' inits (pid 1 there, small too).
    """
    import psutil

    zygote = Zygote.shared()
    zygote.wait_ready()
    seen: list[tuple[str, int, str]] = []  # (what, RSS in MiB, pid in its namespace) of each process found
    done = threading.Event()

    def sample() -> None:
        root = psutil.Process(zygote.process.pid)
        while not done.is_set():
            for process in root.children(recursive=True):
                try:
                    rss = process.memory_info().rss >> 20
                    what = " ".join(process.cmdline())
                    namespace_pid = Path(f"/proc/{process.pid}/status").read_text().split("NSpid:", 1)[1].split("\n")[0].split()[-1]
                except (psutil.Error, OSError, IndexError):
                    continue
                seen.append((what, rss, namespace_pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        for _ in range(3):
            assert run_in_warm_kernel("import time; time.sleep(0.3); print(1)").strip() == "1"
    finally:
        done.set()
        sampler.join()
    kernels = [rss for what, rss, pid in seen if pid == "2"]
    assert kernels and min(kernels) > 64  # the kernels, forks of the zygote, were seen
    others = [(what[:60], rss, pid) for what, rss, pid in seen if pid != "2" and rss > 64]
    assert not others, f"zygote-sized processes besides the kernels: {sorted(set(others))[:5]}"
    assert any("initserver.py" in what for what, _, _ in seen) and any(pid == "1" for _, _, pid in seen)


def test_a_kernel_sees_no_process_but_its_own():
    """Its /proc shows the sandbox uid's processes alone: not the namespace's init (root, in the host's mount and
    network namespaces, whose tables /proc/1/mountinfo and /proc/1/net/* would show)."""
    out = run_in_warm_kernel(
        """
        import os
        pids = [int(name) for name in os.listdir('/proc') if name.isdigit()]
        try:
            open('/proc/1/net/unix').read()
            host = 'readable'
        except OSError:
            host = 'hidden'
        print(pids == [os.getpid()], os.path.exists('/proc/1'), host)
        """
    )
    assert out.split() == ["True", "False", "hidden"]


def test_the_namespaces_init_is_the_reaper_small_and_the_init_servers_child():
    """The compiled reaper (0.5 ms of CPU to start) where make install built it, else the Python one; never a fork of
    the zygote, and never the zygote's child (the init server's)."""
    import psutil

    zygote = Zygote.shared()
    zygote.wait_ready()
    found: list[tuple[list[str], int, int]] = []
    runner = threading.Thread(target=run_in_warm_kernel, args=("import time; time.sleep(1.5)",))
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while not found and time.monotonic() < deadline:
            for process in psutil.Process(zygote.process.pid).children(recursive=True):
                try:
                    status = Path(f"/proc/{process.pid}/status").read_text()
                    if status.split("NSpid:", 1)[1].split("\n")[0].split()[-1] == "1" and process.ppid() != zygote.process.pid:
                        found.append((process.cmdline(), process.memory_info().rss >> 20, process.ppid()))
                except (psutil.Error, OSError, IndexError):
                    continue
            time.sleep(0.01)
    finally:
        runner.join()
    assert found, "no namespace init seen"
    command, rss_mib, parent = found[0]
    assert "initserver.py" in " ".join(psutil.Process(parent).cmdline())
    assert rss_mib < 64  # a fork of the zygote would map its torch pages (about 200 MiB and more)
    if confine.compiled_reaper() is not None:
        assert command[0] == confine.compiled_reaper() and len(command) == 2  # the reaper and its pipe
    else:
        assert command[:4] == [sys.executable, "-I", "-S", "-c"]


def test_the_font_list_is_built_once_for_the_zygotes_of_this_code():
    """matplotlib lists the machine's fonts (fc-list) in a folder without a list: once per code version, not per batch."""
    from autograder.isolation import warmsession

    fonts = zygote_module.font_cache()
    assert fonts is not None and warmsession.private(fonts) and warmsession.private(fonts.parent)
    fonts.chmod(0o755)  # as matplotlib makes it when a kept-warm zygote of this code was there first
    assert zygote_module.font_cache() == fonts
    fonts.chmod(0o775)  # writable by others: not used
    assert zygote_module.font_cache() is None
    fonts.chmod(0o700)
    assert fonts.parent == zygote_module.kept_warm_place()[0]  # where a kept-warm zygote of this code keeps its own
    built = []
    for _ in range(2):
        zygote = Zygote().start()
        try:
            zygote.wait_ready()
        finally:
            zygote.close()
        [font_list] = fonts.glob("fontlist-*.json")
        built.append(font_list.stat().st_mtime_ns)
    assert built[0] == built[1], "the second zygote listed the fonts again"


def test_a_half_written_font_list_or_a_killed_writers_lock_is_cleared():
    """A zygote killed while matplotlib wrote the list would otherwise have every later one list the fonts and wait."""
    fonts = zygote_module.font_cache()
    assert fonts is not None
    half = fonts / "fontlist-v0.0.0.json"
    half.write_text('{"_version": 3, "ttflist": [{"fname": "/usr/sh', encoding="utf-8")
    stale, fresh = fonts / "fontlist-v0.0.0.json.matplotlib-lock", fonts / "fontlist-v0.0.1.json.matplotlib-lock"
    stale.touch()
    fresh.touch()
    old = time.time() - 10 * zygote_module.FONT_LOCK_STALE_S
    os.utime(stale, (old, old))
    try:
        assert zygote_module.font_cache() == fonts
        assert not half.exists() and not stale.exists()
        assert fresh.exists()  # a writer's lock of a moment ago is left to it
    finally:
        fresh.unlink(missing_ok=True)


FORKED = """
import atexit, os, sys
from autograder.isolation.zygote import Zygote
parent = Zygote.shared()
parent.wait_ready()
pid = os.fork()
if pid == 0:
    try:
        mine = Zygote.shared()
        print("borrowed", mine is not parent and mine.socket_path == parent.socket_path and mine.process is None, flush=True)
        print("parent's seen alive", not parent.died(), flush=True)
        parent.restart()
        parent.close()
        atexit._run_exitfuncs()  # what a fork that exits the normal way runs: the parent's handle among them
        print("socket kept", parent.socket_path.exists(), flush=True)
    finally:
        os._exit(0)
os.waitpid(pid, 0)
print("after the fork: socket", parent.socket_path.exists(), "same zygote", parent.process.poll() is None and Zygote.shared() is parent)
"""


def test_a_fork_borrows_its_parents_zygote_and_never_replaces_or_stops_it():
    """A grading worker forked from a process with a zygote uses that zygote; it does not take its socket or remove it."""
    done = subprocess.run([sys.executable, "-c", FORKED], cwd=ROOT, capture_output=True, text=True, timeout=START_S)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "borrowed True",
        "parent's seen alive True",
        "socket kept True",
        "after the fork: socket True same zygote True",
    ]


FORKED_FROM_KEPT = """
import os, sys
from pathlib import Path
import autograder.isolation.zygote as zygote
from autograder.isolation.zygote import SOCKET_ENV, Zygote
folder = Path(sys.argv[1])
kept = folder / "kept.sock"
kept.touch()  # a kept-warm zygote's socket that no longer answers: only its owner may relaunch or replace it
zygote._SHARED = Zygote(kept, kept_warm=True)
for named in (None, str(folder / "batch.sock")):
    pid = os.fork()
    if pid == 0:
        try:
            if named:
                os.environ[SOCKET_ENV] = named
            mine = Zygote.shared()
            mine.restart()
            print(mine.socket_path.name, mine.kept_warm, kept.exists(), flush=True)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
"""


def test_a_fork_never_relaunches_a_kept_zygote_and_takes_the_one_its_batch_names(tmp_path):
    done = subprocess.run([sys.executable, "-c", FORKED_FROM_KEPT, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=START_S)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["kept.sock False True", "batch.sock False True"]


def _transparent_huge_pages() -> str:
    """The system's setting for transparent huge pages: always, madvise or never ('' where there is none)."""
    try:
        setting = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return ""
    return setting.split("[", 1)[1].split("]", 1)[0] if "[" in setting else ""


@pytest.mark.skipif(_transparent_huge_pages() not in ("always", "madvise"), reason="transparent huge pages are off here")
def test_the_zygotes_heap_is_in_huge_pages_so_its_forks_copy_few_page_table_entries():
    zygote = Zygote.shared()
    zygote.wait_ready()
    assert zygote.process is not None
    rollup = Path(f"/proc/{zygote.process.pid}/smaps_rollup").read_text()
    sizes = {line.split()[0]: int(line.split()[1]) for line in rollup.splitlines()[1:]}
    assert sizes["AnonHugePages:"] >= 16 * 1024  # KiB: torch's and Python's heap (about 100 MiB here), not a stray page
    assert run_in_warm_kernel("print(6 * 7)").strip() == "42"


def _refused_for(zygote: Zygote, blocked: str) -> bytes:
    """Ask `zygote` for a kernel whose environment names these blocked operators: why it was refused, b"" if it started."""
    with Sandbox() as box:
        layout = box.layout({BLOCKED_ENV: blocked})
        command = zygote.command(layout, ["-f", str(box.run_dir / "k.json")], [], box.root / "fs-lesson")
        client = subprocess.Popen(command, stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_S
        while client.poll() is None and not tasks_of(box.uid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if client.poll() is None:  # its kernel runs: the client's end kills it
            client.kill()
            client.wait(timeout=GONE_S)
            return b""
        assert client.stderr is not None
        refusal = client.stderr.read()
        return refusal if client.returncode == 70 else b"ended with %d: %s" % (client.returncode, refusal)


def test_a_one_lesson_zygote_blocks_its_lessons_operators_for_its_kernels_and_refuses_another_lessons(monkeypatch: pytest.MonkeyPatch):
    zygote = Zygote(one_lesson=True).start()
    try:
        zygote.wait_ready()
        monkeypatch.setattr(zygote_module, "_SHARED", zygote)  # the warm kernels below come from this zygote
        code = """
            import torch
            from autograder_stub import guard
            try:
                torch.relu(torch.ones(2))
            except guard.BlockedOperator:
                print("refused", guard.installed(), sorted(guard.blocked()))
            print(float(torch.clamp(torch.tensor([-1.0, 2.0]), min=0).sum()))
        """
        for _ in range(2):  # blocked once in the zygote, before its first kernel; the second inherits the same
            km = WarmKernelManager(kernel_name="python3", blocked_ops=["aten::relu", "aten::relu_"])
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(textwrap.dedent(code))])
            NotebookClient(nb, km=km, timeout=60).execute()
            printed = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.output_type == "stream")
            assert printed.split("\n")[:2] == ["refused ['aten::relu', 'aten::relu_'] ['aten::relu', 'aten::relu_']", "2.0"]
        assert _refused_for(zygote, "aten::relu_,aten::relu") == b""  # the same set, however written
        assert b"serves the kernels of one lesson only" in _refused_for(zygote, "aten::relu")
        assert b"serves the kernels of one lesson only" in _refused_for(zygote, "")
    finally:
        zygote.close()


def test_a_zygote_serving_any_lesson_blocks_nothing_itself():
    """Not started for one lesson (a kept-warm one, a test's): each kernel installs its own lesson's blocks."""
    zygote = Zygote().start()
    try:
        zygote.wait_ready()
        assert not zygote.one_lesson and _refused_for(zygote, "aten::relu") == b""
        assert _refused_for(zygote, "aten::max_pool2d") == b""
    finally:
        zygote.close()
