"""The hostile and faulty submissions in tests/hostile/: what each one does and the score it must still get.

Two kinds of scenario, both built by tests/hostile/build_hostile.py from the committed student release:

- **cheat**: the same WRONG answers in every cheat (the samples `wrong_kernel_sign`, `leaky_relu` and
  `stride1_when_none`), plus a trick that tries to make the grader accept them. The expected score is
  what those wrong answers earn without the trick: kernel 1/4, relu 0/6, maxpool2d 9/12.
- **sabotage**: the same wrong answers, plus a trick that silences the grader's probe in the kernel
  (the hidden cells' `check` replaced, or `import` hijacked). No test can then be evaluated, so
  every silenced test scores 0: sabotage can only cost points, never earn them. (Student code owns
  its interpreter; no in-process probe can be made tamper-proof, but its verdicts are computed
  elsewhere, so tampering never turns a failure into a pass.)
- **fault**: correct answers except one part that kills, hangs, floods or escapes the grading kernel.
  The broken part loses its points and nothing else; a scenario that only misbehaves (floods output,
  leaves processes, reads or writes files, opens sockets) keeps full marks.

The flags tell the end-to-end test what to check besides the score:

- `canary_file`: paths that must NOT exist after grading (each would hold `ESCAPE_TEXT`). Relative
  paths are relative to the grading kernel's working directory (the directory the submission is
  graded from); `~` is the home directory of the user who runs the grader.
- `listener`: a TCP server on 127.0.0.1 must receive no connection during grading (the committed file
  connects to `LISTENER_PORT`; the test renders a copy with the port its own server got).
- `leftover_process`: no process may survive grading: neither `LEFTOVER_COMMAND` (a plain child)
  nor a double-forked daemon whose name (`/proc/PID/comm`) is `LEFTOVER_COMM`.
- `reads_solutions`: no output of the graded notebook or of the grader may contain `LEAK_MARKER`.
- `hangs`: the notebook never finishes by itself; the grader must stop it (allow for its timeout).
- `unsafe_without_sandbox`: grading it without the grader's resource limits can hurt the machine
  (memory or process table); run it only where the sandbox is known to be in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# A TCP port on 127.0.0.1 the `network` scenario connects to; the test listens there.
LISTENER_PORT = 47831
# What the escape attempts write to files and send to the listener.
ESCAPE_TEXT = "AUTOGRADER-ESCAPED"
# The canary file's name, and the directories the `write_outside` scenario tries to put it in.
CANARY_NAME = "autograder-escape-canary"
CANARY_DIRS = ("/tmp", "~", "/work", "..", "../..", "../../..")
CANARY_PATHS = tuple(f"{directory}/{CANARY_NAME}" for directory in CANARY_DIRS)
# The `read_solutions` scenario prints `LEAKED <path> <first 80 characters>` for every file it reads.
LEAK_MARKER = "LEAKED"
# The instructor's files it looks for: the source notebook with the hidden tests, and the gradebook.
SECRET_FILES = ("solutions/activation_maxpool/activation_maxpool.ipynb", "gradebook.db")
# How to recognise the processes the `leftover_process` scenario leaves behind.
LEFTOVER_COMMAND = ("sleep", "600")
LEFTOVER_COMM = "hostile-daemon"

FULL = {"kernel": 4, "relu": 6, "maxpool2d": 12}
# What every cheat's wrong answers earn without the trick.
WRONG = {"kernel": 1, "relu": 0, "maxpool2d": 9}


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # "cheat", "sabotage" or "fault"
    description: str
    expected: dict[str, int] = field(hash=False)  # points per part: kernel / 4, relu / 6, maxpool2d / 12
    canary_file: tuple[str, ...] = ()
    listener: bool = False
    leftover_process: bool = False
    reads_solutions: bool = False
    hangs: bool = False
    unsafe_without_sandbox: bool = False
    # Words that must appear in the instructor's review reasons (tampering seen while grading).
    review: tuple[str, ...] = ()
    # The grader's own memory may not grow by more than this while grading it (bytes; 0: not checked).
    grader_memory_bytes: int = 0
    # Graded while every core is kept busy (a loaded machine).
    loaded: bool = False


def _cheat(name: str, description: str, expected: dict[str, int] | None = None, **flags) -> Scenario:
    return Scenario(name, "cheat", description, dict(expected or WRONG), **flags)


def _sabotage(name: str, description: str) -> Scenario:
    return Scenario(name, "sabotage", description, {"kernel": 0, "relu": 0, "maxpool2d": 0})


def _fault(name: str, description: str, kernel: int = 4, relu: int = 6, maxpool2d: int = 12, **flags) -> Scenario:
    return Scenario(name, "fault", description, {"kernel": kernel, "relu": relu, "maxpool2d": maxpool2d}, **flags)


_ALL = [
    _cheat("patch_torch_equal", "torch.equal and Tensor.equal always return True."),
    _cheat("patch_allclose", "torch.allclose always True and torch.isclose all True (functions and Tensor methods)."),
    _cheat("patch_assert_close", "torch.testing.assert_close does nothing."),
    _cheat("patch_numpy", "numpy array_equal/allclose always True; numpy.testing assert_allclose/assert_array_equal do nothing."),
    _cheat("patch_tensor_eq", "Tensor == is all True, != all False, and Tensor.all/any return True."),
    _cheat(
        "patch_reference_ops",
        "The references are bent to the wrong answers: relu is leaky everywhere, max pooling takes stride 1 "
        "for None, conv2d returns absolute values (so the flipped Gx convolves like the true one).",
    ),
    _cheat(
        "patch_grader_helpers",
        "Every check/evaluate/compare/run_cases in the autograder package would pass (the kernel has no such "
        "package: the checks live in the grader), and a cell after the helpers redefines the visible tests' "
        "comprobar_* helpers as no-ops.",
    ),
    _sabotage("patch_import", "builtins.__import__ hands the hidden test cells a fake autograder whose check does nothing."),
    _cheat(
        "execute_result_credit",
        "The hidden cells' check is wrapped to swallow its verdict and return 1, which nbgrader reads as credit.",
    ),
    _cheat("custom_exc", "IPython set_custom_exc swallows every exception, so failing cells show nothing."),
    _cheat("showtraceback", "IPython showtraceback (instance and class) and sys.excepthook are no-ops."),
    _cheat(
        "post_run_hook",
        "IPython pre/post_run_cell callbacks clear each cell's error and output and print a fake success message.",
    ),
    _cheat("test_cells_deleted", "Every graded test cell is removed from the notebook."),
    _cheat("test_cells_rewritten", "Every graded test cell's source is `pass` and its points are 100."),
    _fault(
        "inplace_view_relu",
        "relu zeroes the negatives in place and returns a flattened view of its input (wrong shape, input changed).",
        relu=0,
    ),
    _fault("os_exit_in_cell", "The relu cell calls os._exit(1) before defining relu.", relu=0),
    _fault("os_exit_when_called", "relu calls os._exit(1) every time it is called.", relu=0),
    _fault("segfault_when_called", "relu sends itself SIGSEGV (a segmentation fault) every time it is called.", relu=0),
    _fault("infinite_loop_in_cell", "The relu cell loops forever before defining relu.", relu=0, hangs=True),
    _fault("infinite_loop_when_called", "maxpool2d loops forever every time it is called.", maxpool2d=0, hangs=True),
    _fault(
        "sigint_ignored_loop",
        "The relu cell ignores SIGINT, then loops forever before defining relu.",
        relu=0,
        hangs=True,
    ),
    _fault(
        "memory_hog",
        "The kernel cell allocates 6 GiB before defining Gx.",
        kernel=0,
        unsafe_without_sandbox=True,
    ),
    _fault(
        "memory_hog_when_called",
        "relu allocates 6 GiB every time it is called.",
        relu=0,
        unsafe_without_sandbox=True,
    ),
    _fault(
        "fork_bomb",
        "The maxpool2d cell forks forever before defining maxpool2d.",
        maxpool2d=0,
        hangs=True,
        unsafe_without_sandbox=True,
    ),
    _fault(
        "output_flood",
        "Correct answers; the relu cell prints 300 MB to stdout and 50 MB to stderr, and relu prints 100 KB per call.",
    ),
    _fault(
        "leftover_process",
        "Correct answers; a cell starts `sleep 600` and a double-forked daemon that sleeps 600 s.",
        leftover_process=True,
    ),
    _fault(
        "read_solutions",
        "Correct answers; a cell looks for the instructor's solutions notebook and gradebook and prints what it reads.",
        reads_solutions=True,
    ),
    _fault(
        "write_outside",
        "Correct answers; a cell writes a canary file to /tmp, ~, /work and the three parent directories.",
        canary_file=CANARY_PATHS,
    ),
    _fault(
        "network",
        f"Correct answers; a cell connects to 127.0.0.1:{LISTENER_PORT} and sends {ESCAPE_TEXT}.",
        listener=True,
    ),
]

_ALL += [
    _cheat(
        "forge_records",
        "The kernel's stub is patched so every record holds what torch.relu and nn.MaxPool2d return for the "
        "grader's inputs, in place of the wrong functions. Both references are blocked in the kernel, so the "
        "forged calls fail; the patch is flagged for review.",
        expected={"kernel": 1, "relu": 0, "maxpool2d": 0},
        review=("autograder_stub",),
    ),
    _fault("thread_evasion", "relu and maxpool2d call torch.relu / F.max_pool2d in another thread.", relu=0, maxpool2d=0),
    _fault(
        "dispatch_disabled",
        "relu calls torch.relu inside torch._C._DisableTorchDispatch; maxpool2d calls F.max_pool2d with the Python "
        "dispatch modes disabled and the Python key excluded.",
        relu=0,
        maxpool2d=0,
    ),
    _fault(
        "disguised_ops",
        "relu is F.threshold(z, 0, 0) (else aten::_add_relu); maxpool2d is 3-D max pooling of an mkldnn tensor.",
        relu=0,
        maxpool2d=0,
    ),
    _fault(
        "subprocess_handoff",
        "relu sends its input to a fresh Python interpreter that applies torch.relu.",
        relu=0,
        review=("lanzar otro programa",),
    ),
    _fault(
        "undo_block",
        "A cell destroys torch.library registrations found through gc, empties the blocked-operator list, patches "
        "memory with ctypes and opens /proc/self/mem; relu is torch.relu.",
        relu=0,
        review=("gc", "ctypes", "/proc"),
    ),
    _fault(
        "read_grader",
        "Correct answers; a cell imports the grader's checks, walks the file system for them, lists the grader's "
        "modules and prints IPython's In looking for the hidden requests.",
        reads_solutions=True,
    ),
    _fault(
        "big_message",
        "Correct answers; a cell displays one 400 MB message.",
        grader_memory_bytes=300 * 2**20,
    ),
    _fault(
        "print_flood_when_called",
        "A correct relu that prints 200 lines of 1 MB on every call, graded on a machine kept busy.",
        loaded=True,
    ),
]

SCENARIOS: dict[str, Scenario] = {scenario.name: scenario for scenario in _ALL}
assert len(SCENARIOS) == len(_ALL), "scenario names must be unique"
