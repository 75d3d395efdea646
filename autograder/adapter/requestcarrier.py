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
        content = {
            "code": code,
            "silent": silent,
            "store_history": store_history,
            "user_expressions": user_expressions or {},
            "allow_stdin": self.client.allow_stdin if allow_stdin is None else allow_stdin,
            "stop_on_error": stop_on_error,
            REQUEST_FIELD: self.request,
        }
        message = self.client.session.msg("execute_request", content)
        self.client.shell_channel.send(message)
        return message["header"]["msg_id"]
