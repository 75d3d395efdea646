/* What a warm kernel's supervisor and its namespace's init become once they only wait: `confine.REAPER`, the
 * same steps in Python, says why each is there. This one starts in about 0.5 ms of CPU instead of 12 for a second
 * Python interpreter, twice per kernel, and the kernel waits for the init's to start (its gate). `make install`
 * builds it beside the interpreter (`autograder-reaper`); without it, `confine.exec_reaper` runs the Python one.
 *
 * Usage: autograder-reaper CHILD [GATE_FD]
 * Undumpable first (no ptrace or /proc/N/fd from the sandbox's uid), then GATE_FD closed (the child waits for
 * that), then every child reaped until CHILD ends; exits with CHILD's status as Python's
 * os.waitstatus_to_exitcode(status) & 255 gives it (a signal's number, negated, modulo 256), 1 if it cannot.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static int parse(const char *text, long *number) {
    char *end;
    errno = 0;
    *number = strtol(text, &end, 10);
    return errno == 0 && end != text && *end == '\0' && *number >= 0 && *number <= INT_MAX;
}

int main(int argc, char **argv) {
    long child;
    long gate;
    int status;

    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        _exit(1);
    if (argc < 2 || argc > 3 || !parse(argv[1], &child))
        _exit(1);
    if (argc == 3) {
        if (!parse(argv[2], &gate) || close((int)gate) != 0)
            _exit(1);
    }
    for (;;) {
        pid_t pid = wait(&status);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            _exit(1); /* no child left: CHILD was never ours */
        }
        if (pid == (pid_t)child) {
            if (WIFEXITED(status))
                _exit(WEXITSTATUS(status));
            if (WIFSIGNALED(status))
                _exit((-WTERMSIG(status)) & 255);
            _exit(1);
        }
    }
}
