"""The sandbox, for real: bubblewrap on this machine, with its network, files, limits and cleanup checked from outside."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import connections_waiting

from autograder.isolation.bwrap import DEFAULT_LIMITS, MiB, Limits, Sandbox, SandboxUnavailable, check_available

ROOT = Path(__file__).resolve().parents[1]


def python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


@pytest.fixture
def sandbox():
    with Sandbox() as box:
        yield box


def test_runs_as_an_unprivileged_user_in_its_scratch_dir(sandbox: Sandbox):
    done = sandbox.run(python("import os; print(os.getuid(), os.getcwd())"))
    assert done.exit_code == 0, done.stderr
    uid, cwd = done.stdout.decode().split()
    assert cwd == str(sandbox.workdir)
    if os.geteuid() == 0:
        assert int(uid) == sandbox.uid != 0


def test_environment_is_cleared(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AUTOGRADER_TEST_SECRET", "s3cret")
    done = sandbox.run(python("import os; print(sorted(os.environ))"))
    assert done.exit_code == 0, done.stderr
    assert b"AUTOGRADER_TEST_SECRET" not in done.stdout and b"JPY_PARENT_PID" not in done.stdout


def test_network_is_unreachable_even_on_loopback(sandbox: Sandbox):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        done = sandbox.run(
            python(f"""
            import socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=3).sendall(b"escaped")
                print("connected")
            except OSError as error:
                print("blocked", type(error).__name__)
            """)
        )
        assert connections_waiting(server) == []
    assert done.stdout.startswith(b"blocked"), done.stdout + done.stderr


def test_course_files_and_the_graders_files_are_invisible(sandbox: Sandbox, tmp_path: Path):
    secret = ROOT / "solutions" / "activation_maxpool" / "activation_maxpool.ipynb"
    assert secret.exists()
    mine = tmp_path / "grader-secret.txt"
    mine.write_text("secret")
    done = sandbox.run(
        python(f"""
        import os
        for path in [{str(secret)!r}, {str(ROOT / "nbgrader_config.py")!r}, {str(ROOT / ".git")!r}, {str(mine)!r}]:
            print(path, os.path.exists(path))
        """)
    )
    assert done.exit_code == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert lines and all(line.endswith("False") for line in lines), lines


def test_writes_land_only_in_the_scratch_dir(sandbox: Sandbox, tmp_path: Path):
    outside = tmp_path / "escape.txt"
    in_tmp = Path("/tmp") / f"autograder-escape-{secrets.token_hex(6)}.txt"  # a name no other run or program uses
    done = sandbox.run(
        python(f"""
        import os
        open("inside.txt", "w").write("ok")
        for path in ["/usr/escape.txt", "/etc/escape.txt", {str(outside)!r}, {str(in_tmp)!r}]:
            try:
                open(path, "w").write("escaped")
                print("wrote", path)
            except OSError as error:
                print("denied", path, type(error).__name__)
        """)
    )
    assert done.exit_code == 0, done.stderr
    assert not (sandbox.workdir / "inside.txt").exists()  # the work dir is a tmpfs inside, not the host's disk
    assert not outside.exists() and not Path("/usr/escape.txt").exists() and not Path("/etc/escape.txt").exists()
    assert b"denied /usr/escape.txt" in done.stdout
    # /tmp inside is a private tmpfs: a write there succeeds but never reaches the host's /tmp.
    assert not in_tmp.exists()


def test_a_6_gib_allocation_fails_inside():
    with Sandbox(DEFAULT_LIMITS) as box:
        done = box.run(python("x = bytearray(6 * 1024**3)"))
    assert done.exit_code not in (0, None)
    assert b"MemoryError" in done.stderr or done.oom_killed


def test_memory_limit_of_the_whole_group_kills_the_hog():
    with Sandbox(Limits(memory_bytes=256 * MiB, address_space_bytes=2 * 1024**3)) as box:
        if box.cgroup is None:
            pytest.skip("cgroups cannot be written here: only per-process rlimits apply")
        done = box.run(python("chunks = [bytearray(64 * 1024**2) for _ in range(12)]; print(len(chunks))"), timeout=60)
    assert done.exit_code != 0
    assert done.oom_killed


def test_process_limit_stops_a_fork_bomb():
    with Sandbox(Limits(processes=16)) as box:
        done = box.run(
            python("""
            import os, time
            children = 0
            try:
                for _ in range(200):
                    if os.fork() == 0:
                        time.sleep(30)
                        os._exit(0)
                    children += 1
            except OSError as error:
                print("stopped at", children, type(error).__name__)
            """),
            timeout=30,
        )
    assert b"stopped at" in done.stdout, done.stdout + done.stderr
    assert int(done.stdout.split()[2]) < 16


def test_file_size_limit():
    with Sandbox(Limits(file_size_bytes=1 * MiB)) as box:
        done = box.run(python("open('big', 'wb').write(b'x' * (4 * 1024**2))"))
    assert done.exit_code != 0


def test_timeout_kills_everything_and_reports_it(sandbox: Sandbox):
    first, second = _sleep_marker(300), _sleep_marker(301)
    done = sandbox.run(["sh", "-c", f"{first} & echo started; {second}"], timeout=1)
    assert done.timeout and done.exit_code is None
    assert b"started" in done.stdout, "the sleeps never started: their absence below would prove nothing"
    assert done.duration < 60  # killed at its 1 s limit, not after the sleeps' 300 s (a loaded machine starts slowly)
    assert not _processes_named(first) and not _processes_named(second)


def test_no_process_survives_the_sandbox():
    child, daemon = _sleep_marker(4242), _sleep_marker(4243)
    with Sandbox() as box:
        done = box.run(
            python(f"""
            import os, subprocess
            subprocess.Popen({child.split()!r}, start_new_session=True)  # returns once sleep was exec'd
            ready, tell = os.pipe()  # not inherited across exec: EOF says the daemon's exec happened
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    os.execvp("sleep", {daemon.split()!r})
                os._exit(0)
            os.close(tell)
            os.read(ready, 1)
            print("left them running")
            """)
        )
        assert done.exit_code == 0, done.stderr
        assert b"left them running" in done.stdout  # both were started: their absence below is the sandbox's doing
    assert not _processes_named(child) and not _processes_named(daemon)


def test_scratch_dir_and_cgroup_are_removed_on_exit():
    with Sandbox() as box:
        root = box.root
        groups = list(box.cgroup.dirs) if box.cgroup else []
        assert root is not None and root.is_dir()
    assert not root.exists()
    assert not any(group.exists() for group in groups)


def test_limits_merge_over_the_declared_defaults():
    merged = DEFAULT_LIMITS.merged(processes=8)
    assert merged.processes == 8 and merged.memory_bytes == DEFAULT_LIMITS.memory_bytes
    with pytest.raises(TypeError):
        DEFAULT_LIMITS.merged(no_such_limit=1)


def test_missing_bwrap_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SandboxUnavailable) as caught:
        check_available.__wrapped__()
    text = str(caught.value)
    assert "\n" not in text and "bubblewrap" in text and "--no-sandbox" in text


def test_user_namespace_refusal_names_the_sysctl():
    error = SandboxUnavailable.userns_denied("setting up uid map: Permission denied")
    assert "kernel.apparmor_restrict_unprivileged_userns=0" in str(error) and "--no-sandbox" in str(error)


def _sleep_marker(seconds: int) -> str:
    """A `sleep` command line no other test run has: the whole seconds, then random digits as the fraction."""
    return f"sleep {seconds}.{secrets.randbelow(10**9):09d}"


def _processes_named(command: str, settle: float = 30.0) -> list[str]:
    """Live processes with exactly this command line, after up to `settle` s for SIGKILLed ones to finish exiting."""
    deadline = time.monotonic() + settle
    while True:
        listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
        found = [line for line in listing.splitlines() if line.strip() == command]
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_writable_places_are_bounded():
    with Sandbox(Limits(scratch_bytes=8 * MiB, file_size_bytes=64 * MiB)) as box:
        done = box.run(
            python("""
            import os
            for place in ("/tmp", os.environ["HOME"], "."):
                try:
                    with open(os.path.join(place, "fill"), "wb") as f:
                        f.write(b"x" * (32 * 1024**2))
                    print("filled", place)
                except OSError as error:
                    print("full", place, error.errno)
            """)
        )
    assert done.exit_code == 0, done.stderr
    assert done.stdout.decode().count("full") == 3, done.stdout


def test_hidden_folders_under_usr_are_masked(tmp_path: Path):
    target = Path(f"/usr/local/share/autograder-test-course-{secrets.token_hex(6)}")  # another run uses its own
    target.mkdir(parents=True)
    try:
        (target / "secret.txt").write_text("answers")
        with Sandbox(hidden=[target]) as box:
            done = box.run(python(f"import os; print(os.listdir({str(target)!r}))"))
        assert done.stdout.strip() == b"[]", done.stdout + done.stderr
    finally:
        (target / "secret.txt").unlink()
        target.rmdir()


def test_the_graders_environment_is_not_readable_through_pid_1(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AUTOGRADER_TEST_SECRET", "s3cret")
    done = sandbox.run(python("""
        import os
        for pid in os.listdir('/proc'):
            if pid.isdigit():
                try:
                    print(open(f'/proc/{pid}/environ', 'rb').read())
                except OSError:
                    pass
    """))
    assert done.exit_code == 0, done.stderr
    assert b"s3cret" not in done.stdout and b"AUTOGRADER_TEST_SECRET" not in done.stdout


def test_a_shared_folder_shows_its_files_read_only_in_the_work_dir_and_nothing_else(tmp_path: Path):
    folder = tmp_path / "carpeta"
    (folder / "sub" / "deep").mkdir(parents=True)
    (folder / "datos.csv").write_text("a,b\n")
    (folder / "sub" / "deep" / "x.txt").write_text("x")
    (folder / "sub" / "enlace").symlink_to("/etc/hostname")
    (folder / "datos.csv").chmod(0o444)
    with Sandbox() as box:
        assert box.share(folder) == ["datos.csv", "sub/", "sub/deep/", "sub/deep/x.txt"]
        mounts = box.layout().mounts
        assert not any(m.source.startswith(str(folder)) for m in mounts)  # only the sandbox's own copies are bound
        done = box.run(
            python(
                f"""
                import os
                print(open('datos.csv').read().strip(), open('sub/deep/x.txt').read(), sorted(os.listdir('sub')))
                for path in ('datos.csv', 'sub/deep/x.txt'):
                    try:
                        open(path, 'a').write('!')
                        print('wrote')
                    except OSError:
                        print('denied')
                open('propio.txt', 'w').write('1'); open('sub/deep/propio.txt', 'w').write('1')
                print(os.path.exists({str(folder)!r}), os.path.exists({str(box.shared_dir)!r}))
                """
            )
        )
        assert done.exit_code == 0, done.stderr
        assert done.stdout.decode().split() == ["a,b", "x", "['deep']", "denied", "denied", "False", "False"]
    assert sorted(p.name for p in folder.rglob("*")) == ["datos.csv", "deep", "enlace", "sub", "x.txt"]


def test_sharing_the_temporary_folder_the_sandbox_lives_in_leaves_the_sandbox_out(tmp_path: Path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # the sandbox's scratch folder is made in tmp_path
    (tmp_path / "datos.csv").write_text("a,b\n")
    with Sandbox() as box:
        assert box.root is not None and box.root.parent == tmp_path
        assert box.share(tmp_path) == ["datos.csv"]
        assert sorted(p.name for p in box.shared_dir.rglob("*")) == ["datos.csv"]
