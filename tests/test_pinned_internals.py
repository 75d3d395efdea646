"""The third-party internals some speed-ups lean on are those of the pinned versions: an upgrade fails here, loudly.

sandboxkernel.py re-creates jupyter_client's `in_pending_state` without its sleep (`_get_future`, `_ready`,
`__wrapped__`); readyclient.py calls `_handle_kernel_info_reply` and `_async_is_alive`; fileexecuted.py
drives Autograde's `_sanitizing` and `_init_preprocessors`; checkmetadata.py repeats CheckCellMetadata's
`preprocess`; autograder_stub/tracebacks.py keeps the results of the `regex_opt` that pygments.lexer calls by
that name, and hands IPython's `VerboseTB.get_records` a refusal's traceback without the guard's frames;
isolation/zygote.py turns ipykernel's debugger off in each warm kernel through `_is_debugpy_available`.
Upgrading ipykernel, ipython, jupyter_client, nbgrader, pygments or stack_data in constraints.txt means re-reading those
against the new version, then updating the versions here.
"""

from __future__ import annotations

import inspect
from importlib import metadata

from IPython.core.ultratb import VerboseTB
from ipykernel import debugger, ipkernel, kernelbase
from jupyter_client import manager
from jupyter_client.asynchronous import AsyncKernelClient
from nbgrader.converters import Autograde
from nbgrader.preprocessors import CheckCellMetadata
from pygments import lexer, regexopt
from stack_data import utils as stack_data_utils

CHECKED_AGAINST = {
    "ipykernel": "7.4.0",
    "ipython": "9.18.1",
    "jupyter_client": "8.10.0",
    "nbgrader": "0.9.6",
    "pygments": "2.21.0",
    "stack_data": "0.6.3",
}


def test_the_versions_are_those_the_internals_were_read_against():
    assert {name: metadata.version(name) for name in CHECKED_AGAINST} == CHECKED_AGAINST


def test_the_internals_are_where_the_speed_ups_expect_them():
    assert callable(manager._get_future)
    assert hasattr(manager.KernelManager._async_start_kernel, "__wrapped__")
    assert hasattr(manager.KernelManager._async_shutdown_kernel, "__wrapped__")
    assert callable(AsyncKernelClient._handle_kernel_info_reply) and callable(AsyncKernelClient._async_is_alive)
    assert callable(Autograde._init_preprocessors) and Autograde._sanitizing is True
    assert "MetadataValidator().validate_nb(nb)" in inspect.getsource(CheckCellMetadata.preprocess)


def test_pygments_rebuilds_its_lexer_rules_per_frame_through_regex_opt_by_name():
    """Why tracebacks.install pays: stack_data subclasses the lexer per frame, and each subclass rebuilds its rules."""
    assert lexer.regex_opt is regexopt.regex_opt or hasattr(lexer.regex_opt, "__wrapped__")
    assert "regex_opt(self.words" in inspect.getsource(lexer.words.get)
    assert "class MyLexer(" in inspect.getsource(stack_data_utils._pygmented_with_ranges)


def test_ipython_builds_each_exceptions_frames_from_its_traceback_in_get_records():
    """Where tracebacks.install leaves a refusal's own frames out: every exception of a chain passes through it."""
    assert "records = self.get_records(etb, context, tb_offset)" in inspect.getsource(VerboseTB.format_exception_as_a_whole)


def test_ipykernel_reads_whether_debugpy_is_there_from_its_debugger_module_each_time():
    """Why the zygote's kernels set `_is_debugpy_available` after their fork: ipykernel looks it up at each use."""
    assert isinstance(debugger._is_debugpy_available, bool)
    for function in (ipkernel.IPythonKernel.__init__, ipkernel.IPythonKernel.do_debug_request, kernelbase.Kernel.kernel_info.fget):
        assert "from .debugger import _is_debugpy_available" in inspect.getsource(function)
