"""Headless Chromium for the browser tests: Debian's `chromium` binary driven by Playwright (no browser download).

One launch for every browser test. The page can reach nothing but files and 127.0.0.1 (every other request is
aborted, and no other host name resolves), so a page that tried the network shows it by missing what it asked for.
Screenshots are copied to SCREENSHOTS for a person to look at.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, Route, sync_playwright

BINARIES = ("chromium", "chromium-browser")  # Debian's package `chromium`; Ubuntu's older name
ARGS = (
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)
LAUNCH_S = 180.0  # bound on Chromium's start (about a second when idle; room for a loaded machine)
SCREENSHOTS = Path("/tmp/autograder-render")  # stable copies for a person to look at
LOCAL_PREFIXES = ("file://", "data:", "blob:", "about:", "http://127.0.0.1:", "ws://127.0.0.1:")

# Elements whose content is wider than their box (a line running past the edge), as "tag.class: scroll > client".
OVERFLOWING = """(selector) => Array.from(document.querySelectorAll(selector))
  .filter(e => e.scrollWidth > e.clientWidth + 1)
  .map(e => `${e.tagName.toLowerCase()}.${e.className}: ${e.scrollWidth} > ${e.clientWidth}: ${e.textContent.slice(0, 80)}`)"""


def chromium_binary() -> str | None:
    """The Chromium binary on PATH, if any."""
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    return None


@contextmanager
def launch(binary: str) -> Iterator[Browser]:
    """Headless Chromium from `binary`, closed (with Playwright's driver) on the way out."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, args=list(ARGS), timeout=LAUNCH_S * 1000)
        try:
            yield browser
        finally:
            browser.close()


def local_page(browser: Browser, width: int, height: int) -> Page:
    """A page in a fresh context of the given window size that may load only files and 127.0.0.1."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.route("**/*", _local_only)
    return context.new_page()


def _local_only(route: Route) -> None:
    if route.request.url.startswith(LOCAL_PREFIXES):
        route.continue_()
    else:
        route.abort("blockedbyclient")


def overflowing(page: Page, selector: str) -> list[str]:
    """Elements matching `selector` whose content runs past their box horizontally (empty when all fit)."""
    result: Any = page.evaluate(OVERFLOWING, selector)
    return list(result)


def keep(shots: list[Path]) -> str:
    """Copy screenshots to SCREENSHOTS; what was copied, or why not (never a reason to fail a test)."""
    try:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return ", ".join(str(shutil.copy(shot, SCREENSHOTS / shot.name)) for shot in shots)
    except OSError as error:
        return f"none: {error}"
