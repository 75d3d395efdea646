"""The kernel's guard, installed in a fresh interpreter: every way to the taught operators is refused, elementary ones are not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ATTACKS = Path(__file__).parent / "guard" / "attacks.py"
ROOT = Path(__file__).resolve().parent.parent

ALLOWED = {"clamp", "where", "maximum", "comparison", "hardtanh as clamp", "unfold amax", "loops", "conv2d"}


@pytest.fixture(scope="module")
def outcome() -> dict:
    """The attacks' results, run once (a guard cannot be taken out of the process that installed it)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ATTACKS)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_no_attack_on_the_taught_operators_computes_anything(outcome):
    through = {name: result for name, result in outcome["results"].items() if name not in ALLOWED and "THROUGH" in result}
    assert through == {}


def test_the_taught_operators_are_refused_as_blocked_not_by_accident(outcome):
    results = outcome["results"]
    for name in ("torch.relu", "F.threshold", "aten._add_relu", "leaky_relu 0", "mkldnn linear relu", "sparse",
                 "other thread", "DisableTorchDispatch", "inference_mode", "torch._refs", "nn.MaxPool2d",
                 "return_indices", "mkldnn 3-D", "adaptive", "fractional", "pool in thread", "decomposition"):
        assert results[name] == "blocked", name


def test_elementary_operations_still_work(outcome):
    assert {name: outcome["results"][name] for name in ALLOWED} == {name: outcome["results"][name] for name in ALLOWED}
    assert all(outcome["results"][name].startswith("THROUGH") for name in ALLOWED)


def test_no_other_program_can_start_and_the_attempts_are_noted(outcome):
    results = outcome["results"]
    for name in ("subprocess", "os.system", "posix_spawn", "fork_exec direct"):
        assert results[name] == "refused", name
    assert "THROUGH" not in results["multiprocessing spawn"]
    assert any("lanzar otro programa" in note for note in outcome["tamper"])


def test_what_could_undo_the_block_is_refused_and_noted(outcome):
    results = outcome["results"]
    for name in ("gc.get_objects", "gc.get_referrers", "ctypes", "ctypes.memset", "ctypes.pointer", "/proc/self/mem",
                 "/proc/pid/mem"):
        assert results[name] == "refused", name
    notes = " ".join(outcome["tamper"])
    assert "gc" in notes and "ctypes" in notes and "/proc" in notes
    assert outcome["intact"] is True


def test_every_relu_or_max_pool_operator_of_this_torch_is_blocked():
    import torch

    from activation import FORBIDDEN_OPS, MAXPOOL2D, PARTS, RELU

    packets = {name.split(".")[0] for name in torch._C._dispatch_get_all_op_names()}
    named = {p for p in packets if not p.startswith("_test::") and ("relu" in p.split("::")[1] or "max_pool" in p)}
    assert named <= FORBIDDEN_OPS[RELU] | FORBIDDEN_OPS[MAXPOOL2D]


UNREACHABLE = """
import gc, warnings, torch
warnings.simplefilter("ignore")
from autograder.lessons.activation_maxpool import LESSON
from autograder_stub import guard
guard._block_dispatch(LESSON.blocked_operators())  # the registrations alone: no audit hook to stop the walk below
gc.collect()
objects = gc.get_objects()
handles = [o for o in objects if type(o).__name__ == "_DispatchModule"]
for library in [o for o in objects if isinstance(o, torch.library.Library)]:  # torch's own, found and destroyed
    library._destroy()
for holder in [o for o in objects if isinstance(o, dict)]:
    for value in list(holder.values()):
        if type(value).__name__ == "_DispatchModule":
            handles.append(value)
try:
    torch.relu(torch.ones(1))
    print("THROUGH", len(handles))
except guard.BlockedOperator:
    print("blocked", len(handles))
"""


def test_the_registrations_cannot_be_found_again_even_by_walking_every_object():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", UNREACHABLE], capture_output=True, text=True, env=env, timeout=300)
    assert done.stdout.split() == ["blocked", "0"], done.stderr[-2000:]


OVERRIDDEN = """
import warnings, torch
warnings.simplefilter("ignore")
from autograder_stub import guard
guard._block_dispatch(["aten::sigmoid"])  # any lesson's operator: the check names none
before = guard.block_intact()
(overload, lines), = guard._sentinels.items()
namespace, rest = overload.split("::", 1)
library = torch.library.Library(namespace, "IMPL")
for key in lines:
    library.impl(rest, lambda *args, **kwargs: None, key)
print(before, guard.block_intact())
"""


def test_a_registration_that_no_longer_refuses_is_seen_for_any_lessons_operators():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", OVERRIDDEN], capture_output=True, text=True, env=env, timeout=300)
    assert done.stdout.split() == ["True", "False"], done.stderr[-2000:]


BLOCKED_STATE = """
import hashlib, json, sys
import torch, torch._decomp, torch._refs.nn.functional, torch._decomp.decompositions
from autograder_stub import guard
from autograder.lessons.activation_maxpool import LESSON
ops = LESSON.blocked_operators()
if sys.argv[1] == "primed":
    guard.prime()  # as the warm process does before it forks
if sys.argv[1] == "blocked before the fork":
    import os
    guard.prime()
    guard.block(ops)  # as a warm process serving one lesson does, once, before it forks that lesson's kernels
    child = os.fork()
    if child:
        sys.exit(os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]))
guard.install(ops, seccomp=False)
refusing = lambda value: getattr(value, "__name__", "") == "refuse"
state = {
    "sentinels": guard._sentinels,
    "references": {name: sorted(a for a, v in vars(sys.modules[name]).items() if refusing(v))
                   for name in ("torch._refs.nn.functional", "torch._decomp.decompositions")},
    "decompositions": sorted(str(k) for k, v in torch._decomp.decomposition_table.items() if refusing(v)),
    "dispatcher": {name: torch._C._dispatch_dump(name) for name in torch._C._dispatch_get_all_op_names()
                   if name.split(".")[0] in set(ops)},
}
print(json.dumps({"digest": hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest(),
                  "refusing": sum(map(len, state["references"].values())) + len(state["decompositions"]),
                  "overloads": len(state["dispatcher"])}))
"""


def test_a_guard_primed_or_blocked_before_the_fork_blocks_exactly_what_an_unprimed_one_does():
    """prime() (the warm process) only indexes, and block() there is what install() would do in the fork: the
    registrations, references and decompositions refused in the kernel are the same."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    states = []
    for mode in ("primed", "blocked before the fork", "cold"):
        done = subprocess.run([sys.executable, "-c", BLOCKED_STATE, mode], capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        states.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert states[0] == states[1] == states[2]
    assert states[0]["refusing"] > 0 and states[0]["overloads"] > 100


BLOCKED_TWICE = """
import json, os, sys
import torch
from autograder_stub import guard
from autograder.lessons.activation_maxpool import LESSON
ops = LESSON.blocked_operators()
guard.block([])  # nothing to block: nothing is pinned
assert guard.blocked() is None
guard.block(ops)
guard.block(reversed(ops))  # the same set again: nothing more happens
try:
    guard.block(ops[1:])
    other = "added"
except RuntimeError:
    other = "refused"
child = os.fork()
if child == 0:
    for other in (ops[:-1], []):  # a kernel of another lesson never runs with this one's blocks
        try:
            guard.install(other, seccomp=False)
            os._exit(3)
        except RuntimeError:
            pass
    guard.install(ops, seccomp=False)
    try:
        torch.relu(torch.ones(2))
        os._exit(4)
    except guard.BlockedOperator:
        os._exit(0 if guard.installed() == sorted(ops) else 5)
print(json.dumps({"other": other, "child": os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]), "blocked": len(guard.blocked())}))
"""


def test_a_process_blocks_one_set_of_operators_and_its_forks_install_that_set_only():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", BLOCKED_TWICE], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    from autograder.lessons.activation_maxpool import LESSON

    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"other": "refused", "child": 0, "blocked": len(set(LESSON.blocked_operators()))}
