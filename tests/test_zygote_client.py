"""The zygote's client: the kernel's exit status from what the zygote sends, a refusal in one line, built-ins only."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from autograder.isolation import zygote
from autograder.isolation.zygote_client import EXIT_NO_ZYGOTE
from autograder.isolation.zygoteprovisioner import ZygoteKernel, client_request

CLIENT = Path(zygote.CLIENT)


class _OneShotZygote:
    """A Unix socket that reads one request line and answers with the messages given, as the zygote's `_send` writes them."""

    def __init__(self, path: Path, messages: list[dict]) -> None:
        self.path = path
        self.messages = messages
        self.request = b""
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            while not self.request.endswith(b"\n"):
                self.request += connection.recv(4096)
            for message in self.messages:
                zygote._send(connection, message)

    def close(self) -> None:
        self.thread.join(timeout=30)
        self.listener.close()


def _client(socket_path: Path, request: str = '{"layout": {}}', *flags: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-I", "-S", *flags, str(CLIENT), str(socket_path), request, str(os.getpid())]
    return subprocess.run(argv, capture_output=True, timeout=60)


@pytest.mark.parametrize("status, expected", [(0, 0), (3, 3), (-9, 247), (70, 70)])
def test_the_kernels_exit_status_is_the_clients(tmp_path: Path, status: int, expected: int):
    server = _OneShotZygote(tmp_path / "z.sock", [{"pid": 1234}, {"exit": status}])
    try:
        done = _client(server.path, '{"layout": "x"}')
    finally:
        server.close()
    assert done.returncode == expected
    assert server.request == b'{"layout": "x"}\n'


def test_a_refusal_is_one_line_with_the_zygotes_reason(tmp_path: Path):
    server = _OneShotZygote(tmp_path / "z.sock", [{"error": "bad \"layout\": é"}])
    try:
        done = _client(server.path)
    finally:
        server.close()
    assert done.returncode == EXIT_NO_ZYGOTE
    assert done.stderr.decode().strip() == 'autograder: the warm kernel process refused: bad "layout": é'


def test_a_zygote_that_hangs_up_or_is_missing_is_no_zygote(tmp_path: Path):
    server = _OneShotZygote(tmp_path / "z.sock", [{"pid": 1}])
    try:
        assert _client(server.path).returncode == EXIT_NO_ZYGOTE
    finally:
        server.close()
    missing = _client(tmp_path / "none.sock")
    assert missing.returncode == EXIT_NO_ZYGOTE and b"cannot be reached" in missing.stderr


def test_the_client_imports_only_built_in_modules(tmp_path: Path):
    """It runs once per kernel: an import of json, socket, signal or ctypes is CPU every grading pays."""
    server = _OneShotZygote(tmp_path / "z.sock", [{"pid": 1}, {"exit": 0}])
    try:
        done = _client(server.path, '{"layout": {}}', "-X", "importtime")
    finally:
        server.close()
    assert done.returncode == 0
    imported = {line.split("|")[-1].strip() for line in done.stderr.decode().splitlines() if line.startswith("import time:")}
    assert "_ctypes" in imported  # the log works
    assert not imported & {"json", "socket", "signal", "ctypes", "selectors", "enum", "re"}, imported


def test_a_wrong_command_line_is_a_usage_line():
    done = subprocess.run([sys.executable, "-I", "-S", str(CLIENT), "only-one"], capture_output=True, timeout=60)
    assert done.returncode == 2 and done.stderr.decode().startswith("usage: zygote_client.py")
    assert json.dumps({"exit": 5}).encode().startswith(b'{"exit": ')  # the format the client reads


# --- the same client inside the grading process (ZygoteProvisioner) ------------------------------------------


def test_the_clients_command_line_is_recognised_and_nothing_else(tmp_path: Path):
    argv = [sys.executable, "-I", "-S", str(CLIENT), str(tmp_path / "z.sock"), '{"layout": {}}', "123"]
    assert client_request(argv) == (tmp_path / "z.sock", '{"layout": {}}')
    assert client_request([sys.executable, "-m", "ipykernel_launcher", "-f", "k.json"]) is None


@pytest.mark.parametrize("messages, expected", [([{"pid": 1}, {"exit": 3}], 3), ([{"pid": 1}, {"exit": -9}], 247), ([{"error": "mal"}], EXIT_NO_ZYGOTE), ([{"pid": 1}], EXIT_NO_ZYGOTE)])
def test_a_kernel_held_in_process_ends_as_the_zygote_says(tmp_path: Path, messages: list[dict], expected: int):
    server = _OneShotZygote(tmp_path / "z.sock", messages)
    try:
        kernel = ZygoteKernel(server.path, '{"layout": "x"}')
        assert kernel.wait() == expected and kernel.poll() == expected
    finally:
        server.close()
    assert server.request == b'{"layout": "x"}\n'


def test_killing_a_kernel_held_in_process_closes_its_connection(tmp_path: Path):
    path = tmp_path / "z.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    kernel = ZygoteKernel(path, "{}")
    connection, _ = listener.accept()
    with connection, listener:
        assert connection.recv(100) == b"{}\n"
        assert kernel.poll() is None  # running: nothing said yet
        kernel.send_signal(signal.SIGINT)  # interrupts go by message: no effect
        assert kernel.poll() is None
        kernel.send_signal(signal.SIGKILL)
        assert kernel.poll() == -signal.SIGKILL
        connection.settimeout(10)
        assert connection.recv(100) == b""  # the zygote sees the connection close: it kills the namespace


def test_a_zygote_that_cannot_be_reached_is_a_kernel_that_ended_at_once(tmp_path: Path):
    """As the client process did: exit status 70, which jupyter_client then reports as a kernel that died."""
    kernel = ZygoteKernel(tmp_path / "none.sock", "{}")
    assert kernel.poll() == EXIT_NO_ZYGOTE and kernel.wait(timeout=1) == EXIT_NO_ZYGOTE


def test_waiting_on_a_running_kernel_times_out_as_popen_does(tmp_path: Path):
    path = tmp_path / "z.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen(1)
        kernel = ZygoteKernel(path, "{}")
        with pytest.raises(subprocess.TimeoutExpired):
            kernel.wait(timeout=0.2)
        kernel.kill()


def test_killing_a_kernel_whose_status_was_sent_keeps_that_status(tmp_path: Path):
    server = _OneShotZygote(tmp_path / "z.sock", [{"pid": 1}, {"exit": 5}])
    try:
        kernel = ZygoteKernel(server.path, "{}")
        server.thread.join(timeout=30)  # both lines sent
        kernel.kill()
        assert kernel.poll() == 5
    finally:
        server.close()
