"""Runs before bwrap, as the grader's user: join the sandbox's cgroups, make root's staged bind mounts, exec the rest.

Run by Sandbox.command as `python -I -S prebwrap.py [--cgroup DIR]... [--bind SOURCE TARGET]... -- COMMAND...`
(standard library only, so it starts in milliseconds). Every path arrives as an argument of its own:
nothing is ever parsed by a shell. The process writes its own pid into each cgroup, so what it execs
(prlimit, setpriv, bwrap and the sandboxed process) starts inside; a step that fails ends it before
the exec, with that step's status.
"""

import os
import signal
import subprocess
import sys

USAGE = "usage: prebwrap.py [--cgroup DIR]... [--bind SOURCE TARGET]... -- COMMAND..."


def parse(argv: list) -> tuple:
    """(cgroup folders, (source, target) binds, command) from the arguments; ValueError when they make no sense."""
    cgroups, binds = [], []
    index = 0
    while index < len(argv):
        option = argv[index]
        if option == "--":
            command = argv[index + 1 :]
            if not command:
                raise ValueError("no command after --")
            return cgroups, binds, command
        if option == "--cgroup" and index + 1 < len(argv):
            cgroups.append(argv[index + 1])
            index += 2
        elif option == "--bind" and index + 2 < len(argv):
            binds.append((argv[index + 1], argv[index + 2]))
            index += 3
        else:
            raise ValueError(f"unexpected argument {option!r}")
    raise ValueError("no -- before the command")


def main(argv: list) -> int:
    try:
        cgroups, binds, command = parse(argv)
    except ValueError as error:
        print(f"{USAGE} ({error})", file=sys.stderr)
        return 2
    for folder in cgroups:
        try:
            with open(os.path.join(folder, "cgroup.procs"), "w", encoding="ascii") as procs:
                procs.write(f"{os.getpid()}\n")
        except OSError as error:
            print(f"autograder: the sandbox cannot join its cgroup: {error}", file=sys.stderr)
            return 1
    for source, target in binds:
        done = subprocess.run(["mount", "--bind", source, target], check=False)
        if done.returncode != 0:
            return done.returncode
    # Python ignores these at start-up and an ignored signal survives exec: the sandbox must get them
    # as the grader's Popen gave them to us (SIGXFSZ is how RLIMIT_FSIZE stops a writer).
    for name in ("SIGPIPE", "SIGXFSZ", "SIGXFZ"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    try:
        os.execvp(command[0], command)
    except OSError as error:
        print(f"autograder: the sandbox cannot start {command[0]}: {error}", file=sys.stderr)
        return 127
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
