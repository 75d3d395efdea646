"""The student release as a student first sees it: executed, saved, and opened in a real JupyterLab in headless Chromium.

The other tests read notebooks as JSON; only a browser shows that JupyterLab actually renders the Spanish lesson
and its figures. Everything here is real (kernel, server, browser: Debian's Chromium driven by Playwright, see
tests/browser.py); the test is skipped only where no Chromium binary is installed (Debian package `chromium`;
`make test` installs it when run as root).
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from activation import ASSIGNMENT
from autograder.engine.course import Course
from browser import keep, launch, local_page
from local_processes import LOCAL, PORT_TAKEN, PORT_TRIES, STOP_S, descendants, free_port, kill, log_tail, stop_tree, wait_gone

pytestmark = pytest.mark.e2e

TITLE = "Función de activación y agrupación máxima"  # the release's first heading
FIGURES = 3  # the untouched release: ReLU of the lesson's map, pooling with stride 1 and None (the rest need the answers)
WINDOW = (1400, 1800)
# Bounds of waits for events (each takes seconds on an idle machine; these leave room for a loaded one).
SERVER_START_S = 180.0
PAGE_LOAD_S = 180.0

# Isolated JupyterLab user settings: every cell attached to the DOM (the default windowing may leave
# off-screen cells out, and their figures with them), and no requests for news or updates.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}

# What the page shows, read from JupyterLab's DOM: cells of the notebook panel, its headings and its PNG outputs.
PROBE = """(() => {
  const panel = document.querySelector('.jp-NotebookPanel');
  if (!panel) return {panel: false, cells: 0, headings: [], png: 0, shown: 0};
  const png = Array.from(panel.querySelectorAll('.jp-OutputArea-output img'))
    .filter(img => img.src.startsWith('data:image/png'));
  const shown = png.filter(img => {
    const box = img.getBoundingClientRect();
    return img.complete && img.naturalWidth > 0 && box.width > 0 && box.height > 0;
  });
  return {
    panel: true,
    cells: panel.querySelectorAll('.jp-Notebook .jp-Cell').length,
    headings: Array.from(panel.querySelectorAll('.jp-MarkdownCell h1')).map(h => h.textContent),
    png: png.length,
    shown: shown.length,
  };
})()"""

# Scrolls the notebook so that the cell of the first PNG output is at the top of the window.
SHOW_FIRST_FIGURE = """(() => {
  const img = document.querySelector('.jp-NotebookPanel .jp-OutputArea-output img[src^="data:image/png"]');
  if (img) img.closest('.jp-Cell').scrollIntoView({block: 'start'});
  return Boolean(img);
})()"""



@dataclass
class LabServer:
    """A `jupyter lab` server on 127.0.0.1 serving one directory, with a token and its own settings."""

    root: Path
    home: Path
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(24))
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.home / "server.log"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        """Starts the server in the background (it loads while the notebook executes)."""
        settings = self.home / "lab-settings"
        for name, values in LAB_SETTINGS.items():
            (settings / name).parent.mkdir(parents=True, exist_ok=True)
            (settings / name).write_text(json.dumps(values), encoding="utf-8")
        env = dict(os.environ)
        env.pop("AUTOGRADER_FIGURES", None)
        env.update(
            JUPYTER_CONFIG_DIR=str(self.home / "config"),
            JUPYTER_DATA_DIR=str(self.home / "data"),
            JUPYTER_RUNTIME_DIR=str(self.home / "runtime"),
            JUPYTERLAB_SETTINGS_DIR=str(settings),
            JUPYTERLAB_WORKSPACES_DIR=str(self.home / "workspaces"),
            IPYTHONDIR=str(self.home / "ipython"),
        )
        command = [
            sys.executable, "-m", "jupyterlab",
            "--no-browser", "--allow-root",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
            "--ServerApp.terminals_enabled=False",
        ]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=self.root, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def request(self, path: str, method: str = "GET", timeout: float = 5.0) -> int:
        request = urllib.request.Request(self.url(path), method=method, headers={"Authorization": f"token {self.token}"})
        with LOCAL.open(request, timeout=timeout) as response:
            return response.status

    def wait_ready(self) -> None:
        """Waits until the REST API answers with the token (JupyterLab takes seconds to load its extensions).

        A port that another program took between `free_port` and the server's bind stops the server at once
        (it is told not to try others): that costs a restart on a new port, up to PORT_TRIES times.
        """
        assert self.process is not None
        for attempt in range(1, PORT_TRIES + 1):
            if self._answered():
                return
            port_taken = self.process.returncode is not None and PORT_TAKEN in log_tail(self.log)
            if not port_taken or attempt == PORT_TRIES:
                break
            self.port = free_port()
            self.start()
        if self.process.poll() is not None:
            pytest.fail(f"jupyter lab exited with {self.process.returncode}:\n{log_tail(self.log)}")
        pytest.fail(f"jupyter lab did not answer within {SERVER_START_S:.0f} s:\n{log_tail(self.log)}")

    def _answered(self) -> bool:
        """Whether the REST API answered before the time ran out; False at once if the server exited."""
        assert self.process is not None
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                if self.request("/api/status") == 200:
                    return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.3)
        return False

    def stop(self) -> list[str]:
        """Asks the server to shut down (it stops its kernels first); returns what had to be killed after that."""
        if self.process is None:
            return []
        children = descendants(self.process)
        problems = []
        if self.process.poll() is None:
            try:
                self.request("/api/shutdown", method="POST", timeout=STOP_S)
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError):
                pass  # the server may stop before it answers: whether it exits is what counts
            try:
                self.process.wait(STOP_S)
            except subprocess.TimeoutExpired:
                problems.append(f"jupyter lab still running {STOP_S:.0f} s after /api/shutdown")
        outlived = wait_gone(children, STOP_S)
        kill(outlived)
        problems += [f"pid {child.pid} outlived the server" for child in outlived]
        return problems + stop_tree(self.process)


@pytest.fixture
def lab(chromium: str, tmp_path: Path) -> Iterator[LabServer]:
    """A started JupyterLab server on tmp_path/lab; shut down, with its kernels, at teardown (requested after the skip check)."""
    root = tmp_path / "lab"
    home = tmp_path / "lab-home"
    root.mkdir()
    home.mkdir()
    server = LabServer(root, home)
    server.start()
    yield server
    leftovers = server.stop()
    assert not leftovers, f"jupyter lab did not shut down cleanly: {leftovers}"


def execute(path: Path) -> nbformat.NotebookNode:
    """Runs the notebook top to bottom in a fresh kernel, going past errors so every later cell runs too."""
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    return notebook


def error_outputs(notebook: nbformat.NotebookNode) -> list[str]:
    """`cell N: EName` for every error output: the release must have none (its answers raise only when called)."""
    return [
        f"cell {index}: {output.get('ename', '')}"
        for index, cell in enumerate(notebook.cells)
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]


def png_outputs(notebook: nbformat.NotebookNode) -> int:
    return sum("image/png" in output.get("data", {}) for cell in notebook.cells for output in cell.get("outputs", []))


def wait_for_notebook(page: Page, cells: int, figures: int) -> dict[str, Any]:
    """Polls the DOM until the panel shows every cell, the title and every figure, or the time is up; returns the last view."""
    deadline = time.monotonic() + PAGE_LOAD_S
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            view = page.evaluate(PROBE)
        except PlaywrightError:  # the page is still navigating: no document to read yet
            time.sleep(0.5)
            continue
        titled = any(TITLE in heading for heading in view["headings"])
        if view["cells"] >= cells and titled and view["shown"] >= figures:
            time.sleep(1.0)  # let the last layout settle before the screenshot
            return page.evaluate(PROBE)
        time.sleep(0.5)
    return view


def test_release_renders_in_jupyterlab_with_its_figures(
    course: Course, chromium: str, lab: LabServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
):
    release = course.release_notebook(ASSIGNMENT)
    assert TITLE in "".join(nbformat.read(release, as_version=4).cells[0].source)

    # Execute a copy as a student would (figures drawn) and save it with its outputs where the server serves.
    monkeypatch.delenv("AUTOGRADER_FIGURES", raising=False)
    copy = lab.root / release.name
    shutil.copyfile(release, copy)
    executed = execute(copy)
    nbformat.write(executed, copy)
    errors = error_outputs(executed)
    with capsys.disabled():  # reported now, asserted last: the page is still worth checking and seeing
        print(f"\nrender: executed release has {len(errors)} error outputs" + (f": {', '.join(errors)}" if errors else ""))
    figures = png_outputs(executed)
    assert figures >= FIGURES, f"the executed release drew {figures} figures, expected at least {FIGURES}"

    lab.wait_ready()
    # The top of the notebook (its title), then the first figure: the helpers cell between them is long.
    shots = [tmp_path / "release.png", tmp_path / "release-figure.png"]
    with launch(chromium) as browser:
        page = local_page(browser, *WINDOW)
        page.goto(lab.url(f"/lab/tree/{release.name}?token={lab.token}"), wait_until="commit", timeout=PAGE_LOAD_S * 1000)
        view = wait_for_notebook(page, len(executed.cells), figures)
        page.screenshot(path=shots[0])
        page.evaluate(SHOW_FIRST_FIGURE)
        time.sleep(0.5)
        page.screenshot(path=shots[1])
    with capsys.disabled():
        print(f"render: screenshots {', '.join(map(str, shots))} (copies: {keep(shots)})")

    assert view.get("panel"), f"no JupyterLab notebook panel in the page: {view}\n{log_tail(lab.log)}"
    assert view["cells"] == len(executed.cells), f"cells rendered: {view['cells']} of {len(executed.cells)}"
    assert any(TITLE in heading for heading in view["headings"]), f"title not rendered; headings: {view['headings']}"
    assert view["png"] == figures and view["shown"] == figures, (
        f"figures: {figures} in the notebook, {view['png']} PNG <img> in the page, {view['shown']} shown"
    )
    assert view["shown"] >= FIGURES
    assert errors == [], f"the release does not run clean: {errors}"
