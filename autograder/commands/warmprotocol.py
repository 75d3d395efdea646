"""What the kept-warm command server and its callers agree on: which commands, how a request travels, whose server.

Light on purpose: `autograder` imports it (warmclient.py) before anything else, on every run.
"""

from __future__ import annotations

import hashlib
import json
import signal

# How `autograder warm` starts the server: `python -m COMMAND_SERVER --socket PATH --idle SECONDS`.
COMMAND_SERVER = "autograder.commands.warmserver"
# The standard streams a request carries, and the bytes sent with them (the rest of a request follows).
STREAMS = 3
CHUNK = 65536
# The signals a caller relays to its command, one byte each (their numbers) after the request. Ctrl-Z (SIGTSTP)
# stops the command as it stops the caller, and SIGCONT (`fg`, `bg`) lets it go on.
RELAYED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGTSTP, signal.SIGCONT)
# The signals a caller may ignore (nohup, a background job of a script): its command then ignores them too.
IGNORABLE_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# Environment variables read when modules are imported (threads, devices, paths, locale): a caller must share them.
IMPORT_TIME_PREFIXES = (
    "AUTOGRADER_",
    "CUDA",
    "HOME",
    "IPYTHON",
    "JUPYTER",
    "LANG",
    "LC_",
    "LD_",
    "MKL_",
    "MPL",
    "NUMEXPR",
    "OMP_",
    "OPENBLAS_",
    "PYTHON",
    "TORCH",
    "TZ",
    "XDG_",
)
# The resource limits (ulimit) a caller's command keeps.
LIMITS = ("RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_STACK")
# The commands a caller hands over (the others gain nothing from a warm process). A batch's first grading worker
# is then forked from the server's child, which has imported everything a worker needs.
FORWARDED_VERBS = ("grade", "autograde")


def import_environment_key(environment: dict[str, str]) -> str:
    """A short digest of the variables imports read: the server's socket name carries it."""
    relevant = sorted((k, v) for k, v in environment.items() if k.startswith(IMPORT_TIME_PREFIXES))
    return hashlib.sha256(json.dumps(relevant).encode()).hexdigest()[:16]


def server_name(environment: dict[str, str]) -> str:
    """The server's name in the session folder (its socket and its log are named after it)."""
    return f"commands-{import_environment_key(environment)}"
