"""IPython's tracebacks as before, at a fraction of their cost: most submissions raise in the kernel, often several times.

Each traceback IPython formats (xmode Context, a coloured theme) highlights each frame's code through a lexer
class that stack_data creates anew for that frame, so pygments rebuilds the Python lexer's rules for every
frame: about 5 ms each, most of it `regex_opt` turning the same keyword lists into the same regular
expressions. That function depends on its arguments alone, so its results are kept (`install`).
A kernel's first traceback also imports, reads and indexes what later ones reuse; `warm` does that once in the
warm process, so each kernel forked from it starts with it done. Neither changes a character of any traceback.

The errors of a cell that carries the grader's request (a test cell of the catalogue) are the grader's to replace:
Verify keeps their name and message and drops the rest. Where the grader says so (TEST_ERRORS_ENV), those are
formatted in IPython's Plain mode (`plain_in_requests`): 0.2 ms instead of about 20, the same name and message.
"""

from __future__ import annotations

import functools
import linecache
import sys
from typing import Any, Callable

from .protocol import REQUEST_FIELD

# The file name of the warm-up's code: no cell, module or student file has it.
WARM_FILENAME = "<autograder-warm-traceback>"
# At most this many distinct keyword lists are kept (the Python lexer has a few dozen).
MAX_KEPT = 256
# IPython's traceback mode for the errors the grader replaces.
PLAIN = "Plain"


def install() -> None:
    """Keep pygments' `regex_opt` results in this process (idempotent; nothing happens without pygments)."""
    try:
        import pygments.lexer
    except ImportError:
        return
    current = pygments.lexer.regex_opt
    if getattr(current, "__wrapped__", None) is not None:
        return
    pygments.lexer.regex_opt = _kept(current)


def _kept(regex_opt: Callable[..., str]) -> Callable[..., str]:
    """`regex_opt` with its results kept per (words, prefix, suffix); unhashable words are passed through."""
    cached = functools.lru_cache(maxsize=MAX_KEPT)(lambda words, prefix, suffix: regex_opt(list(words), prefix=prefix, suffix=suffix))

    @functools.wraps(regex_opt)
    def kept(words: Any, prefix: str = "", suffix: str = "") -> str:
        try:
            return cached(tuple(words), prefix, suffix)
        except TypeError:  # a word that is not a string (unhashable): as pygments would
            return regex_opt(words, prefix=prefix, suffix=suffix)

    return kept


def warm(theme: str = "neutral") -> None:
    """Format one traceback as a kernel's shell would (xmode Context, ipykernel's default theme), and forget its code."""
    from IPython.core.ultratb import AutoFormattedTB

    source = "def _warm(x):\n    return 1 / x\n\n_warm(0)\n"
    linecache.cache[WARM_FILENAME] = (len(source), None, source.splitlines(True), WARM_FILENAME)
    try:
        exec(compile(source, WARM_FILENAME, "exec"), {})
    except ZeroDivisionError:
        AutoFormattedTB(mode="Context", theme_name=theme).structured_traceback(*sys.exc_info())
    finally:
        linecache.cache.pop(WARM_FILENAME, None)


def plain_in_requests() -> None:
    """Format the tracebacks of cells that carry the grader's request in Plain mode, every other one as before (idempotent)."""
    from IPython.core.ultratb import AutoFormattedTB

    formatted = AutoFormattedTB.structured_traceback
    if getattr(formatted, "__wrapped__", None) is not None:
        return

    @functools.wraps(formatted)
    def structured_traceback(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.mode == PLAIN or not _in_grader_request():
            return formatted(self, *args, **kwargs)
        mode = self.mode
        self.set_mode(PLAIN)
        try:
            return formatted(self, *args, **kwargs)
        finally:
            self.set_mode(mode)

    AutoFormattedTB.structured_traceback = structured_traceback


def _in_grader_request() -> bool:
    """Whether the cell running now carries the grader's request (its execute request's content, as the stub reads it)."""
    try:
        from IPython import get_ipython

        parent = get_ipython().kernel.get_parent()
        return isinstance(parent.get("content", {}).get(REQUEST_FIELD), str)
    except Exception:  # noqa: BLE001 - no shell, no kernel, a parent of another shape: format as IPython would
        return False
