"""Processes that tests start or look for: servers and browsers on 127.0.0.1 (free ports, logs, stopping them), and a uid's tasks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import psutil

STOP_S = 60.0  # how long a stopping process and its children get before they are killed
PORT_TRIES = 3  # a port taken between free_port() and the server's bind costs a restart on a new one
PORT_TAKEN = "already in use"  # what jupyter_server logs when its port is taken

# Requests to local servers (and Chromium's DevTools endpoint) never go through a proxy.
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    """A port nobody listens on now (servers are told not to try others, so a race fails loudly)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-chars:] if path.exists() else "(no log)"


def running(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running; a zombie has exited (in a container nobody may reap it)."""
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            pass
    return alive


def wait_gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Waits up to timeout for the processes to exit; returns those still running."""
    deadline = time.monotonic() + timeout
    while (alive := running(processes)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def kill(processes: list[psutil.Process]) -> None:
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    wait_gone(processes, STOP_S)


def descendants(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    try:
        return psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def stop_tree(process: subprocess.Popen[bytes]) -> list[str]:
    """Ends a process group started with its own session, then anything it started elsewhere (kernels get their
    own session); returns what had to be killed, which a clean stop leaves empty."""
    children = descendants(process)
    problems = []
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_S)
        except subprocess.TimeoutExpired:
            problems.append(f"pid {process.pid} ignored SIGTERM")
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(STOP_S)
    outlived = wait_gone(children, STOP_S)
    kill(outlived)
    return problems + [f"pid {child.pid} outlived its parent" for child in outlived]


def tasks_of(uid: int) -> list[int]:
    """The pids of every live task of `uid` (a sandbox's own uid: anything left of its kernel)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and proc.stat().st_uid == uid:
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def until(condition, seconds: float = 20.0, every: float = 0.01) -> bool:
    """Whether `condition()` came true within `seconds`, asked every `every` s (for processes starting or ending)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(every)
    return True
