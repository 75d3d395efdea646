"""Run in a fresh interpreter with the kernel's guard installed: every attack on the blocked operators, one line each.

Prints `name: blocked`, `name: allowed` or `name: THROUGH <what>` per attempt, then the tamper notes.
"""

import json
import os
import subprocess
import sys
import threading

import torch
import torch.nn.functional as F
from torch import nn

from autograder.lessons.activation_maxpool import LESSON
from autograder_stub import guard

guard.install(LESSON.blocked_operators())

z = torch.randn(4, 6)
image = torch.randn(1, 1, 6, 6)
results = {}


def attempt(name, action):
    try:
        value = action()
    except guard.BlockedOperator:
        results[name] = "blocked"
    except (PermissionError, OSError) as error:
        results[name] = "refused" if "Operation not permitted" in str(error) or "No permitido" in str(error) else f"error {error}"
    except Exception as error:  # noqa: BLE001 - any other failure also means nothing got computed
        results[name] = f"error {type(error).__name__}: {str(error)[:80]}"
    else:
        results[name] = f"THROUGH {type(value).__name__}"


def in_thread(action):
    box = {}

    def run():
        try:
            box["value"] = action()
        except BaseException as error:  # noqa: BLE001
            box["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


relu_attempts = {
    "torch.relu": lambda: torch.relu(z),
    "F.relu": lambda: F.relu(z),
    "nn.ReLU": lambda: nn.ReLU()(z),
    "Tensor.relu_": lambda: z.clone().relu_(),
    "F.relu inplace": lambda: F.relu(z.clone(), inplace=True),
    "F.threshold": lambda: F.threshold(z, 0.0, 0.0),
    "aten._add_relu": lambda: torch.ops.aten._add_relu(z, torch.zeros_like(z)),
    "leaky_relu 0": lambda: F.leaky_relu(z, 0.0),
    "elu 0": lambda: F.elu(z, 0.0),
    "celu tiny": lambda: F.celu(z, 1e-30),
    "relu6": lambda: F.relu6(z),
    "rrelu": lambda: F.rrelu(z, 0.0, 0.0),
    "prelu 0": lambda: F.prelu(z, torch.zeros(1)),
    "threshold_backward": lambda: torch.ops.aten.threshold_backward(z, z, 0.0),
    "rnn_relu_cell": lambda: torch.rnn_relu_cell(z, torch.eye(6), torch.zeros(6, 6)[:4], torch.eye(6)),
    "mkldnn linear relu": lambda: torch.ops.mkldnn._linear_pointwise(z, torch.eye(6), None, "relu", [], ""),
    "sparse": lambda: z.to_sparse().relu(),
    "mkldnn tensor": lambda: z.to_mkldnn().relu(),
    "quantized": lambda: torch.quantize_per_tensor(z, 0.01, 0, torch.qint32).relu(),
    "nested": lambda: torch.nested.nested_tensor([z]).relu(),
    "other thread": lambda: in_thread(lambda: torch.relu(z)),
    "DisableTorchDispatch": lambda: _within(torch._C._DisableTorchDispatch(), lambda: torch.relu(z)),
    "inference_mode": lambda: _within(torch.inference_mode(), lambda: torch.relu(z)),
    "below autograd": lambda: _within(torch._C._AutoDispatchBelowAutograd(), lambda: torch.relu(z)),
    "jit.script": lambda: torch.jit.script(_scripted_relu)(z),
    "torch._refs": lambda: __import__("torch._refs.nn.functional", fromlist=["relu"]).relu(z),
    "own library fallthrough": lambda: _own_fallthrough(),
}
pool_attempts = {
    "nn.MaxPool2d": lambda: nn.MaxPool2d(2)(image),
    "F.max_pool2d": lambda: F.max_pool2d(image, 2),
    "return_indices": lambda: F.max_pool2d(image, 2, return_indices=True),
    "torch.max_pool2d": lambda: torch.max_pool2d(image, 2),
    "max_pool1d": lambda: F.max_pool1d(image[0], 2),
    "max_pool3d": lambda: F.max_pool3d(image, (1, 2, 2)),
    "mkldnn 3-D": lambda: torch.max_pool3d(torch.randn(1, 1, 2, 4, 4).to_mkldnn(), (1, 2, 2)),
    "adaptive": lambda: F.adaptive_max_pool2d(image, 3),
    "fractional": lambda: F.fractional_max_pool2d(image, 2, output_size=3),
    "quantized pool": lambda: torch.quantize_per_tensor(image, 0.01, 0, torch.quint8).max_pool2d if False else
    torch.ops.quantized.max_pool2d(torch.quantize_per_tensor(image, 0.01, 0, torch.quint8), [2, 2], [2, 2], [0, 0], [1, 1], False),
    "pool in thread": lambda: in_thread(lambda: F.max_pool2d(image, 2)),
    "decomposition": lambda: __import__("torch._decomp.decompositions", fromlist=["x"]).max_pool2d_with_indices(image, [2, 2]),
}
allowed = {
    "clamp": lambda: z.clamp(min=0),
    "where": lambda: torch.where(z > 0, z, torch.zeros_like(z)),
    "maximum": lambda: torch.maximum(z, torch.zeros_like(z)),
    "comparison": lambda: z * (z > 0),
    "hardtanh as clamp": lambda: F.hardtanh(z, 0.0, float("inf")),
    "unfold amax": lambda: image.unfold(-2, 2, 2).unfold(-2, 2, 2).amax(dim=(-2, -1)),
    "loops": lambda: max(float(v) for v in image.flatten()[:4]),
    "conv2d": lambda: F.conv2d(image, torch.ones(1, 1, 3, 3)),
}
escapes = {
    "subprocess": lambda: subprocess.run([sys.executable, "-c", "print(1)"], check=True),
    "os.system": lambda: os.system("true") and None,
    "posix_spawn": lambda: os.posix_spawn("/bin/true", ["true"], {}),
    "fork_exec direct": lambda: _fork_exec(),
    "multiprocessing spawn": lambda: _spawned(),
    "gc.get_objects": lambda: __import__("gc").get_objects(),
    "gc.get_referrers": lambda: __import__("gc").get_referrers(torch),
    "ctypes": lambda: __import__("ctypes").string_at(id(z), 8),
    "ctypes.memset": lambda: __import__("ctypes").memset(id(z), 0, 8),
    "ctypes.pointer": lambda: __import__("ctypes").pointer(__import__("ctypes").c_int(1)),
    "/proc/self/mem": lambda: open("/proc/self/mem", "rb"),
    "/proc/pid/mem": lambda: os.open(f"/proc/{os.getpid()}/mem", os.O_RDWR),
}


def _within(context, action):
    with context:
        return action()


def _scripted_relu(x: torch.Tensor) -> torch.Tensor:
    return torch.relu(x)


def _own_fallthrough():
    library = torch.library.Library("aten", "IMPL")
    library.impl("relu", torch.library.fallthrough_kernel, "CPU")
    return torch.relu(z)


def _fork_exec():
    import _posixsubprocess

    pid = os.fork()
    if pid == 0:
        try:
            os.execv(sys.executable, [sys.executable, "-c", "pass"])
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 3:
        raise PermissionError("Operation not permitted")
    return _posixsubprocess


def _spawned():
    """A fresh interpreter started the way multiprocessing's "spawn" does (a Pool would wait forever for its dead workers)."""
    import multiprocessing

    child = multiprocessing.get_context("spawn").Process(target=abs, args=(-1,))
    child.start()
    child.join(60)
    if child.exitcode != 0:
        raise RuntimeError(f"the spawned interpreter did not run (exit code {child.exitcode})")
    return child.exitcode


for group in (relu_attempts, pool_attempts, allowed, escapes):
    for name, action in group.items():
        attempt(name, action)
print(json.dumps({"results": results, "tamper": guard.OBSERVED.tamper, "intact": guard.block_intact()}))
