"""IPython's tracebacks in a kernel: the kept `regex_opt` results and the warm process's warm-up change no character of them;
a refusal's traceback ends at the student's own call."""

from __future__ import annotations

import linecache
import os
import re
import sys
import textwrap
import traceback

import nbformat
import pytest
from nbclient import NotebookClient
from traitlets import List, Unicode

from autograder.isolation import zygote as zygote_module
from autograder.isolation.sandboxkernel import PlainKernelManager, WarmKernelManager
from autograder.isolation.zygote import Zygote
from autograder_stub import tracebacks

RAISES = textwrap.dedent(
    """
    import sys
    before = "stack_data" in sys.modules
    def mitad(x):
        return [v / x for v in (1, 2)]
    print(before)
    mitad(0)
    """
)


def _formatted(source: str, filename: str) -> list[str]:
    """The traceback lines a kernel's shell formats (xmode Context, ipykernel's theme) for an error in `source`."""
    from IPython.core.ultratb import AutoFormattedTB

    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        exec(compile(source, filename, "exec"), {})
    except ZeroDivisionError:
        return AutoFormattedTB(mode="Context", theme_name="neutral").structured_traceback(*sys.exc_info())
    finally:
        linecache.cache.pop(filename, None)
    raise AssertionError("the source did not raise")


def test_kept_results_are_regex_opts_own_and_each_is_computed_once(monkeypatch: pytest.MonkeyPatch):
    import pygments.lexer
    from pygments.regexopt import regex_opt

    calls: list[tuple] = []

    def counted(words, prefix="", suffix=""):
        calls.append((tuple(words), prefix, suffix))
        return regex_opt(words, prefix=prefix, suffix=suffix)

    monkeypatch.setattr(pygments.lexer, "regex_opt", counted)
    plain = _formatted(RAISES, "/nonexistent/plain.py")
    computed = len(calls)
    assert computed > 0  # the Python lexer's keyword and builtin lists, for each frame's lexer
    tracebacks.install()
    tracebacks.install()  # once is enough: the second keeps the first's wrapper
    assert pygments.lexer.regex_opt.__wrapped__ is counted
    first = _formatted(RAISES, "/nonexistent/plain.py")
    after_first = len(calls)
    assert _formatted(RAISES, "/nonexistent/plain.py") == first == plain
    assert len(calls) == after_first  # every frame's lexer found its rules kept
    assert pygments.lexer.regex_opt(["b", "a"], prefix=r"\b") == regex_opt(["b", "a"], prefix=r"\b")
    for kept_or_not in (pygments.lexer.regex_opt, regex_opt):  # unhashable words: the same error as before
        with pytest.raises(TypeError, match="unhashable"):
            kept_or_not([["a"]])
        with pytest.raises(TypeError, match="unhashable"):
            kept_or_not(iter([["a"]]))  # an iterator, read once
    assert pygments.lexer.regex_opt(iter(["b", "a"])) == regex_opt(["b", "a"])


def test_the_warm_up_leaves_no_code_behind():
    tracebacks.warm()
    assert tracebacks.WARM_FILENAME not in linecache.cache
    assert "stack_data" in sys.modules


def _error_of_first_run(manager_class: type | None) -> list[str]:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(RAISES)])
    options = {"kernel_manager_class": manager_class} if manager_class is not None else {}
    NotebookClient(nb, kernel_name="python3", timeout=60, allow_errors=True, **options).execute()
    (error,) = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    printed = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.output_type == "stream")
    return [printed, *error.traceback]


@pytest.mark.skipif(not Zygote.available(), reason="warm kernels need root with CAP_SYS_ADMIN")
def test_kernels_after_a_zygotes_first_start_with_their_first_traceback_prepared_and_it_reads_as_a_plain_kernels(
    monkeypatch: pytest.MonkeyPatch,
):
    """Not the first kernel: a one-notebook grading would wait for a warm-up it may never use."""
    fresh = Zygote().start()  # this process's shared one may have forked kernels for an earlier test
    monkeypatch.setattr(zygote_module, "_SHARED", fresh)
    try:
        first, second = _error_of_first_run(WarmKernelManager), _error_of_first_run(WarmKernelManager)
        assert os.listdir(f"/proc/{fresh.process.pid}/task") == [str(fresh.process.pid)]  # still one thread: forks stay safe
    finally:
        fresh.close()
    plain = _error_of_first_run(None)
    assert first[0].split() == ["False"] and second[0].split() == ["True"] and plain[0].split() == ["False"]
    assert first[1:] == second[1:] == plain[1:]
    assert any("ZeroDivisionError" in line for line in plain[1:])


@pytest.mark.skipif(not Zygote.available(), reason="warm kernels need root with CAP_SYS_ADMIN")
def test_a_batchs_zygote_prepares_the_first_traceback_before_it_is_ready(monkeypatch: pytest.MonkeyPatch):
    """A batch's (one-lesson) zygote is ready before the batch's first worker asks: even its first kernel starts prepared."""
    fresh = Zygote(one_lesson=True).start()
    monkeypatch.setattr(zygote_module, "_SHARED", fresh)
    try:
        first = _error_of_first_run(WarmKernelManager)
    finally:
        fresh.close()
    plain = _error_of_first_run(None)
    assert first[0].split() == ["True"] and plain[0].split() == ["False"]
    assert first[1:] == plain[1:]


# A raiser of its own, in a file of its own (as the guard's refusals are), and a student's function that calls it.
RAISER_FILE = "/nonexistent/raiser.py"
RAISER = "def niega():\n    raise PermissionError('no')\n\ndef pasa():\n    niega()\n"
STUDENT_FILE = "/nonexistent/student.py"
STUDENT = "def mia():\n    pasa()\n\nmia()\n"


def _raised(hidden: bool) -> tuple[BaseException, list[str]]:
    """The student's code run against the raiser; its exception, and the traceback IPython formats for it."""
    from IPython.core.ultratb import AutoFormattedTB

    raiser: dict = {}
    exec(compile(RAISER, RAISER_FILE, "exec"), raiser)
    for name, source in ((RAISER_FILE, RAISER), (STUDENT_FILE, STUDENT)):
        linecache.cache[name] = (len(source), None, source.splitlines(True), name)
    try:
        if hidden:
            tracebacks.install([raiser["niega"].__code__])
        exec(compile(STUDENT, STUDENT_FILE, "exec"), dict(raiser))
    except PermissionError as error:
        return error, AutoFormattedTB(mode="Context", theme_name="nocolor").structured_traceback(type(error), error, error.__traceback__)
    finally:
        tracebacks._HIDDEN.difference_update([raiser["niega"].__code__])
        for name in (RAISER_FILE, STUDENT_FILE):
            linecache.cache.pop(name, None)
    raise AssertionError("the student's code did not raise")


def _frames(formatted: list[str]) -> list[str]:
    return re.findall(r"File (\S+):\d+", "\n".join(formatted))


def test_a_traceback_that_ends_in_hidden_code_ends_at_the_last_caller_outside_its_file(monkeypatch: pytest.MonkeyPatch):
    error, shown = _raised(hidden=True)
    assert _frames(shown)[-1] == STUDENT_FILE
    assert RAISER_FILE not in "".join(shown) and "PermissionError" in shown[-1]
    assert "----> 2     pasa()" in shown[-2]  # the student's own call ends it: pasa and niega, both the raiser's file, go
    whole = traceback.extract_tb(error.__traceback__)
    assert [frame.filename for frame in whole[-2:]] == [RAISER_FILE, RAISER_FILE]  # the exception keeps its own traceback
    last = error.__traceback__
    while last.tb_next is not None:
        last = last.tb_next
    monkeypatch.setattr(tracebacks, "_HIDDEN", {last.tb_frame.f_code})  # niega's code, as _raised hid it
    kept = traceback.extract_tb(tracebacks.without_hidden_end(error.__traceback__))
    spans = [(frame.filename, frame.lineno, frame.colno, frame.end_colno) for frame in kept]  # columns come from tb_lasti
    assert spans == [(frame.filename, frame.lineno, frame.colno, frame.end_colno) for frame in whole[:-2]]
    assert [frame.filename for frame in kept][-2:] == [STUDENT_FILE, STUDENT_FILE]  # <module> and mia(), after _raised


def test_a_failure_to_leave_frames_out_shows_the_whole_traceback_not_ipythons_fallback(monkeypatch: pytest.MonkeyPatch):
    def broken(etb):
        raise TypeError("broken")

    _, plain = _raised(hidden=False)
    monkeypatch.setattr(tracebacks, "without_hidden_end", broken)
    tracebacks.install()
    _, shown = _raised(hidden=True)
    assert shown == plain


def test_tracebacks_that_do_not_end_in_hidden_code_are_untouched():
    _, plain = _raised(hidden=False)
    assert _frames(plain)[-1] == RAISER_FILE
    tracebacks.install()  # the wrapper in place, nothing hidden
    _, again = _raised(hidden=False)
    assert again == plain
    error, _ = _raised(hidden=False)
    assert tracebacks.without_hidden_end(error.__traceback__) is error.__traceback__


class _BlocksRelu(PlainKernelManager):
    blocked_ops = List(Unicode(), default_value=["aten::relu"]).tag(config=True)


class _WarmBlocksRelu(WarmKernelManager):
    blocked_ops = List(Unicode(), default_value=["aten::relu"]).tag(config=True)


CALLS_RELU = "import torch\n\ndef mi_relu(z):\n    return torch.relu(z)\n\nmi_relu(torch.ones(2))\n"


def _refusal_shown(manager: type) -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CALLS_RELU)])
    NotebookClient(nb, kernel_name="python3", timeout=60, allow_errors=True, kernel_manager_class=manager).execute()
    (error,) = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    assert error.ename == "BlockedOperator"
    return re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error.traceback))


def _ends_at_the_students_call(shown: str) -> None:
    assert "guard" not in shown and "autograder" not in shown and "OBSERVED" not in shown
    last_frame = shown.rsplit("Cell In[", 1)[-1]
    assert "return torch.relu(z)" in last_frame and "File " not in last_frame  # the student's own line is the last shown


def test_a_refusals_traceback_ends_at_the_students_call_with_no_grader_code_in_a_cold_kernel():
    _ends_at_the_students_call(_refusal_shown(_BlocksRelu))


@pytest.mark.skipif(not Zygote.available(), reason="warm kernels need root with CAP_SYS_ADMIN")
def test_a_refusals_traceback_ends_at_the_students_call_in_a_zygotes_first_kernel_and_in_those_after_its_warm_up(
    monkeypatch: pytest.MonkeyPatch,
):
    """The zygote installs the wrapper with nothing hidden before its second kernel; each kernel then adds the guard's."""
    fresh = Zygote().start()
    monkeypatch.setattr(zygote_module, "_SHARED", fresh)
    try:
        for _ in range(2):
            _ends_at_the_students_call(_refusal_shown(_WarmBlocksRelu))
    finally:
        fresh.close()
