"""A graded test cell's kernel client: its one execute request carries the grader's request in its content.

In the code the request's inputs (44 KB of JSON for the lesson's 22 tests) would be tokenized, hashed,
parsed and compiled by IPython as part of the cell, in every kernel; in the content the stub reads them
as data (autograder_stub.runner.run). Everything else is the real client's.
"""

from __future__ import annotations

from typing import Any

from autograder_stub.protocol import REQUEST_FIELD


class RequestCarrier:
    """Stands in for nbclient's kernel client while one test cell is sent; jupyter_client's execute() plus the request."""

    def __init__(self, client: Any, request: str) -> None:
        self.client = client
        self.request = request

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def execute(self, code: str, silent: bool = False, store_history: bool = True, user_expressions: Any = None,
                allow_stdin: bool | None = None, stop_on_error: bool = True) -> str:
        return send_execute(self.client, code, {REQUEST_FIELD: self.request}, silent=silent, store_history=store_history,
                            user_expressions=user_expressions, allow_stdin=allow_stdin, stop_on_error=stop_on_error)


def send_execute(client: Any, code: str, extra: dict[str, Any], *, silent: bool = False, store_history: bool = True,
                 user_expressions: Any = None, allow_stdin: bool | None = None, stop_on_error: bool = True) -> str:
    """jupyter_client's execute(), with `extra` fields in the request's content beside the code; the request's id."""
    if not isinstance(code, str):
        raise ValueError(f"code {code!r} must be a string")
    content = {
        "code": code,
        "silent": silent,
        "store_history": store_history,
        "user_expressions": user_expressions or {},
        "allow_stdin": client.allow_stdin if allow_stdin is None else allow_stdin,
        "stop_on_error": stop_on_error,
        **extra,
    }
    message = client.session.msg("execute_request", content)
    client.shell_channel.send(message)
    return message["header"]["msg_id"]
