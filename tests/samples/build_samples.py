"""Build the sample submissions from the committed student release: each scenario fills the three answer cells.

Run from the repository root: `python tests/samples/build_samples.py` (tests check the files are current).
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
RELEASE = ROOT / "assignments" / "activation_maxpool" / "activation_maxpool.ipynb"
HERE = Path(__file__).resolve().parent

GX = "Gx = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])\n"
RELU = "def relu(z):\n    return torch.where(z > 0, z, torch.zeros_like(z))\n"
MAXPOOL = '''def maxpool2d(x, kernel_size, stride=None):
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    if stride is None:
        sh, sw = kh, kw
    else:
        sh, sw = (stride, stride) if isinstance(stride, int) else tuple(stride)
    return x.unfold(-2, kh, sh).unfold(-2, kw, sw).amax(dim=(-2, -1))
'''
# A loop version with its running max started at 0: wrong only on all-negative windows.
MAXPOOL_FROM_ZERO = '''def maxpool2d(x, kernel_size, stride=None):
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    if stride is None:
        sh, sw = kh, kw
    else:
        sh, sw = (stride, stride) if isinstance(stride, int) else tuple(stride)
    H, W = x.shape[-2], x.shape[-1]
    oh, ow = (H - kh) // sh + 1, (W - kw) // sw + 1
    out = torch.zeros(*x.shape[:-2], oh, ow, dtype=x.dtype, device=x.device)
    for i in range(oh):
        for j in range(ow):
            best = torch.zeros(x.shape[:-2], dtype=x.dtype, device=x.device)
            for a in range(kh):
                for b in range(kw):
                    best = torch.maximum(best, x[..., i * sh + a, j * sw + b])
            out[..., i, j] = best
    return out
'''

# A loop version, right: the typical mistakes below are one-line changes of it, as students make them.
MAXPOOL_LOOP = '''def maxpool2d(x, kernel_size, stride=None):
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    if stride is None:
        sh, sw = kh, kw
    else:
        sh, sw = (stride, stride) if isinstance(stride, int) else tuple(stride)
    H, W = x.shape[-2], x.shape[-1]
    oh, ow = (H - kh) // sh + 1, (W - kw) // sw + 1
    out = torch.zeros(*x.shape[:-2], oh, ow, dtype=x.dtype, device=x.device)
    for i in range(oh):
        for j in range(ow):
            window = x[..., i * sh:i * sh + kh, j * sw:j * sw + kw]
            out[..., i, j] = window.amax(dim=(-2, -1))
    return out
'''


def loop_with(old: str, new: str) -> str:
    """MAXPOOL_LOOP with one line changed (the change must apply)."""
    if old not in MAXPOOL_LOOP:
        raise ValueError(f"not in MAXPOOL_LOOP: {old!r}")
    return MAXPOOL_LOOP.replace(old, new)


SCENARIOS: dict[str, dict[str, str]] = {
    "solution": {},
    "wrong_kernel_sign": {"kernel_gx": "Gx = -torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])\n"},
    "kernel_transposed": {"kernel_gx": "Gx = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]).T\n"},
    "leaky_relu": {"relu_impl": "def relu(z):\n    return torch.where(z > 0, z, 0.01 * z)\n"},
    "inplace_relu": {"relu_impl": "def relu(z):\n    z[z < 0] = 0\n    return z\n"},
    "calls_torch_relu": {"relu_impl": "def relu(z):\n    return torch.relu(z)\n"},
    "relu_via_alias": {"relu_impl": "import torch.nn.functional as _F\n_activar = getattr(_F, 're' + 'lu')\n\ndef relu(z):\n    return _activar(z)\n"},
    "stride1_when_none": {
        "maxpool2d_impl": MAXPOOL.replace("        sh, sw = kh, kw\n", "        sh, sw = 1, 1\n")
    },
    "max_started_at_zero": {"maxpool2d_impl": MAXPOOL_FROM_ZERO},
    "calls_nn_maxpool": {
        "maxpool2d_impl": "def maxpool2d(x, kernel_size, stride=None):\n    return nn.MaxPool2d(kernel_size, stride=stride)(x)\n"
    },
    # The typical mistakes of the lesson's catalogue (autograder/lessons/activation_maxpool/typical.py), one each.
    "kernel_integers": {"kernel_gx": "Gx = torch.tensor([[1, 0, -1], [2, 0, -2], [1, 0, -1]])\n"},
    "relu_torch_max": {"relu_impl": "def relu(z):\n    return torch.max(z, 0)\n"},
    "relu_python_max": {"relu_impl": "def relu(z):\n    return max(z, 0)\n"},
    "relu_float32_output": {
        "relu_impl": (
            "def relu(z):\n"
            "    values = [max(v, 0.0) for v in z.flatten().tolist()]\n"
            "    return torch.tensor(values).reshape(z.shape)\n"
        )
    },
    "maxpool_off_by_one": {
        "maxpool2d_impl": loop_with("oh, ow = (H - kh) // sh + 1, (W - kw) // sw + 1", "oh, ow = (H - kh) // sh, (W - kw) // sw")
    },
    "maxpool_stride_ignored": {
        "maxpool2d_impl": MAXPOOL.replace(
            "        sh, sw = (stride, stride) if isinstance(stride, int) else tuple(stride)\n", "        sh, sw = kh, kw\n"
        )
    },
    "maxpool_4d_only": {
        "maxpool2d_impl": loop_with("    H, W = x.shape[-2], x.shape[-1]\n", "    N, C, H, W = x.shape\n")
    },
    "maxpool_int_kernel_only": {
        "maxpool2d_impl": (
            "def maxpool2d(x, kernel_size, stride=None):\n"
            "    k = kernel_size\n"
            "    s = k if stride is None else stride\n"
            "    return x.unfold(-2, k, s).unfold(-2, k, s).amax(dim=(-2, -1))\n"
        )
    },
    "maxpool_float32_output": {
        "maxpool2d_impl": loop_with(", dtype=x.dtype, device=x.device)", ")")
    },
    "maxpool_max_with_dim": {
        "maxpool2d_impl": MAXPOOL.replace(
            "    return x.unfold(-2, kh, sh).unfold(-2, kw, sw).amax(dim=(-2, -1))\n",
            "    windows = x.unfold(-2, kh, sh).unfold(-2, kw, sw)\n"
            "    return windows.reshape(*windows.shape[:-2], kh * kw).max(dim=-1)\n",
        )
    },
    "maxpool_max_over_batch": {
        "maxpool2d_impl": loop_with("window.amax(dim=(-2, -1))", "window.max()")
    },
    "lesson_outputs_only": {
        "relu_impl": "def relu(z):\n    return torch.tensor([[[[0.0, 0.0, 4.0], [0.0, 0.0, 4.0], [0.0, 0.0, 4.0]]]])\n",
        "maxpool2d_impl": (
            "def maxpool2d(x, kernel_size, stride=None):\n"
            "    if stride == 1:\n"
            "        return torch.tensor([[[[2.0, 3.0, 3.0], [2.0, 3.0, 3.0], [2.0, 3.0, 3.0]]]])\n"
            "    return torch.tensor([[[[2.0, 3.0], [2.0, 3.0]]]])\n"
        ),
    },
}
CORRECT = {"kernel_gx": GX, "relu_impl": RELU, "maxpool2d_impl": MAXPOOL}

# Scenarios that leave every answer blank and tag every graded test cell, so Jupyter skips it.
SKIP_TAGGED = {"skip_execution_tags": "skip-execution"}


def build(name: str, answers: dict[str, str], template: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The release with every answer cell filled: correct unless the scenario overrides it."""
    notebook = copy.deepcopy(template)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in CORRECT:
            cell.source = answers.get(grade_id, CORRECT[grade_id]).rstrip("\n")
    return notebook


def tagged(tag: str, template: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The blank release with `tag` on every graded cell."""
    notebook = copy.deepcopy(template)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.metadata.setdefault("tags", []).append(tag)
    return notebook


def render(template: nbformat.NotebookNode) -> dict[str, str]:
    """Every sample's file name and text."""
    files = {"blank.ipynb": nbformat.writes(template) + "\n"}
    for name, answers in SCENARIOS.items():
        files[f"{name}.ipynb"] = nbformat.writes(build(name, answers, template)) + "\n"
    for name, tag in SKIP_TAGGED.items():
        files[f"{name}.ipynb"] = nbformat.writes(tagged(tag, template)) + "\n"
    return files


def main() -> int:
    files = render(nbformat.read(RELEASE, as_version=4))
    for name, text in files.items():
        (HERE / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} samples to {HERE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
