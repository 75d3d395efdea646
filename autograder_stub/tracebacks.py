"""IPython's tracebacks for less, ending at the student's own call: a kernel formats one for each error a cell raises.

Each traceback IPython formats (xmode Context, a coloured theme) highlights each frame's code through a lexer
class that stack_data creates anew for that frame, so pygments rebuilds the Python lexer's rules for every
frame: about 5 ms each, most of it `regex_opt` turning the same keyword lists into the same regular
expressions. That function depends on its arguments alone, so its results are kept (`install`).
A kernel's first traceback also imports, reads and indexes what later ones reuse; `warm` does that once in the
warm process (before its second kernel), so each kernel forked after it starts with it done. Neither of these
two changes a character of any traceback. On the lesson's benchmark course a batch of 20 formats 6 (its visible
tests catch and print what they raise), so this is worth about 1% there; a cohort whose cells raise more gains more.

A refusal (the guard's, when a student calls what the exercise asks them to write) is raised by the guard's own
code, so IPython showed that frame last, with the grader's file name and lines, after the student's call; and a
kernel's first such traceback read and parsed the guard's file for it (about 40 ms). The frames that end in a
refusal's raise are left out (`install(hidden=...)`): the traceback ends at the student's line that made the call.
Only IPython's Context and Verbose modes do this (xmode Plain, exception groups and pdb still show those frames).
"""

from __future__ import annotations

import functools
import linecache
import sys
from types import CodeType, TracebackType
from typing import Any, Callable, Iterable

# The file name of the warm-up's code: no cell, module or student file has it.
WARM_FILENAME = "<autograder-warm-traceback>"
# At most this many distinct keyword lists are kept (the Python lexer has a few dozen).
MAX_KEPT = 256


# Code that raises on its caller's behalf: a traceback that ends in one of these ends at the caller instead.
_HIDDEN: set[CodeType] = set()


def install(hidden: Iterable[CodeType] = ()) -> None:
    """Keep pygments' `regex_opt` results, and leave the frames that end in `hidden` code out of tracebacks (idempotent)."""
    _HIDDEN.update(hidden)
    _keep_regex_opt()
    _hide_raisers()


def _keep_regex_opt() -> None:
    """pygments' `regex_opt`, its results kept (see the module's docstring)."""
    try:
        import pygments.lexer
    except ImportError:
        return
    current = pygments.lexer.regex_opt
    if getattr(current, "__wrapped__", None) is not None:
        return
    pygments.lexer.regex_opt = _kept(current)


def _hide_raisers() -> None:
    """IPython's Context tracebacks (VerboseTB) get each exception's frames without a hidden raiser's at their end."""
    try:
        from IPython.core.ultratb import VerboseTB
    except ImportError:
        return
    current = VerboseTB.get_records
    if getattr(current, "__wrapped__", None) is not None:
        return

    @functools.wraps(current)
    def get_records(self: Any, etb: TracebackType, *args: Any, **kwargs: Any) -> Any:
        try:
            etb = without_hidden_end(etb)
        except Exception:  # noqa: BLE001 - display only: the whole traceback rather than IPython's fallback
            pass
        return current(self, etb, *args, **kwargs)

    VerboseTB.get_records = get_records  # type: ignore[method-assign]


def without_hidden_end(etb: TracebackType) -> TracebackType:
    """A new chain without the last frames in the hidden code's file when the very last runs hidden code (else `etb`)."""
    entries = []
    entry: TracebackType | None = etb
    while entry is not None:
        entries.append(entry)
        entry = entry.tb_next
    last = entries[-1].tb_frame.f_code
    if last not in _HIDDEN:
        return etb
    kept = len(entries)
    while kept and entries[kept - 1].tb_frame.f_code.co_filename == last.co_filename:
        kept -= 1
    if not kept:
        return etb
    chain: TracebackType | None = None
    for entry in reversed(entries[:kept]):
        chain = TracebackType(chain, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    assert chain is not None
    return chain


def _kept(regex_opt: Callable[..., str]) -> Callable[..., str]:
    """`regex_opt` with its results kept per (words, prefix, suffix); unhashable words are passed through."""
    cached = functools.lru_cache(maxsize=MAX_KEPT)(lambda words, prefix, suffix: regex_opt(list(words), prefix=prefix, suffix=suffix))

    @functools.wraps(regex_opt)
    def kept(words: Any, prefix: str = "", suffix: str = "") -> str:
        key = tuple(words)  # once: an iterator's words are read here only
        try:
            hash((key, prefix, suffix))
        except TypeError:  # an unhashable word (never from pygments' lexers): as pygments would, its error included
            return regex_opt(list(key), prefix=prefix, suffix=suffix)
        return cached(key, prefix, suffix)

    return kept


def warm(theme: str = "neutral") -> None:
    """Format one traceback as a kernel's shell would (xmode Context, ipykernel's default theme); its linecache entry goes.

    stack_data's and executing's caches keep its lines, under its own file name: no kernel's file has that name.
    """
    from IPython.core.ultratb import AutoFormattedTB

    source = "def _warm(x):\n    return 1 / x\n\n_warm(0)\n"
    linecache.cache[WARM_FILENAME] = (len(source), None, source.splitlines(True), WARM_FILENAME)
    try:
        exec(compile(source, WARM_FILENAME, "exec"), {})
    except ZeroDivisionError:
        AutoFormattedTB(mode="Context", theme_name=theme).structured_traceback(*sys.exc_info())
    finally:
        linecache.cache.pop(WARM_FILENAME, None)
