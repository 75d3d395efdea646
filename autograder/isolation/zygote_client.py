"""Stands in for a Jupyter kernel process: asks the warm zygote for a confined kernel and lives as long as it does.

Run by jupyter_client as `python -I -S zygote_client.py SOCKET REQUEST_JSON PARENT`, once per kernel, so
it imports only modules built into the interpreter: `json`, `socket`, `signal` and `ctypes` cost 13 ms of
CPU on top of the interpreter's own 6 (JSON is decoded only on the rare path that prints it). Its exit
status is the kernel's. When jupyter_client kills it, the zygote sees the connection close and kills the
kernel's whole pid namespace. It dies with the process that started it (a grading worker killed
mid-batch): else its kernel would live on in a kept-warm zygote.
"""

import _ctypes
import _signal
import _socket
import os
import sys

EXIT_NO_ZYGOTE = 70
PR_SET_PDEATHSIG = 1
# The zygote's line that ends a kernel, {"exit": STATUS}, and one that refuses it, {"error": REASON} (json.dumps).
EXIT_PREFIX = b'{"exit":'
ERROR_PREFIX = b'{"error":'


class _CInt(_ctypes._SimpleCData):
    """ctypes.c_int, without importing ctypes."""

    _type_ = "i"


class _CFunction(_ctypes.CFuncPtr):
    """A cdecl C function returning int (what ctypes.CDLL's functions are)."""

    _flags_ = _ctypes.FUNCFLAG_CDECL
    _restype_ = _CInt


class _ThisProcess:
    """The symbols already loaded in this process (libc among them), as ctypes.CDLL(None) has them."""

    _handle = _ctypes.dlopen(None)


def die_with_parent(parent: int) -> bool:
    """Be killed when `parent` (the process that started us) dies; False if it already has, or if that cannot be asked."""
    prctl = _CFunction(("prctl", _ThisProcess()))
    return prctl(PR_SET_PDEATHSIG, _signal.SIGKILL, 0, 0, 0) == 0 and os.getppid() == parent


def ending(line: bytes) -> tuple:
    """(the kernel's exit status, the zygote's refusal or None) if this line of the zygote's ends the kernel; else ()."""
    if line.startswith(EXIT_PREFIX):
        return int(line[len(EXIT_PREFIX) :].strip().rstrip(b"}")) & 0xFF, None
    if line.startswith(ERROR_PREFIX):
        import json  # only to read the zygote's reason

        return EXIT_NO_ZYGOTE, str(json.loads(line).get("error"))
    return ()


def main(argv: list) -> int:
    if len(argv) != 4 or not argv[3].isdigit():
        print("usage: zygote_client.py SOCKET REQUEST_JSON PARENT", file=sys.stderr)
        return 2
    if not die_with_parent(int(argv[3])):
        print("autograder: the process that asked for this kernel has gone", file=sys.stderr)
        return EXIT_NO_ZYGOTE
    connection = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        connection.connect(argv[1])
        connection.sendall(argv[2].encode() + b"\n")
    except OSError as error:
        print(f"autograder: the warm kernel process cannot be reached: {error}", file=sys.stderr)
        return EXIT_NO_ZYGOTE
    buffer = b""
    while True:
        try:
            chunk = connection.recv(4096)
        except OSError:
            chunk = b""
        if not chunk:
            return EXIT_NO_ZYGOTE
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            ended = ending(line)
            if ended:
                status, refusal = ended
                if refusal is not None:
                    print(f"autograder: the warm kernel process refused: {refusal}", file=sys.stderr)
                return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
