"""Stands in for a Jupyter kernel process: asks the warm zygote for a confined kernel and lives as long as it does.

Run by jupyter_client as `python -I -S zygote_client.py SOCKET REQUEST_JSON PARENT` (standard library only,
so it starts in milliseconds). Its exit status is the kernel's. When jupyter_client kills it, the
zygote sees the connection close and kills the kernel's whole pid namespace. It dies with the process
that started it (a grading worker killed mid-batch): else its kernel would live on in a kept-warm zygote.
"""

import json
import os
import signal
import socket
import sys

EXIT_NO_ZYGOTE = 70
PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> bool:
    """Be killed when `parent` (the process that started us) dies; False if it already has (we were orphaned first)."""
    import ctypes  # 3 ms, only here

    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    return os.getppid() == parent


def main(argv: list) -> int:
    if len(argv) != 4 or not argv[3].isdigit():
        print("usage: zygote_client.py SOCKET REQUEST_JSON PARENT", file=sys.stderr)
        return 2
    if not die_with_parent(int(argv[3])):
        print("autograder: the process that asked for this kernel has gone", file=sys.stderr)
        return EXIT_NO_ZYGOTE
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
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
            message = json.loads(line)
            if "exit" in message:
                return int(message["exit"]) & 0xFF
            if "error" in message:
                print(f"autograder: the warm kernel process refused: {message['error']}", file=sys.stderr)
                return EXIT_NO_ZYGOTE


if __name__ == "__main__":
    sys.exit(main(sys.argv))
