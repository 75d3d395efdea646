"""The dispatch trace sees the taught operation however it is reached, and nothing else."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from activation import MAXPOOL2D, PARTS, RELU
from autograder.engine.tracing import OpTrace

X = torch.randn(2, 3, 6, 6)

RELU_SPELLINGS = {
    "torch.relu": lambda x: torch.relu(x),
    "F.relu": lambda x: F.relu(x),
    "F.relu inplace": lambda x: F.relu(x.clone(), inplace=True),
    "nn.ReLU": lambda x: nn.ReLU()(x),
    "Tensor.relu": lambda x: x.relu(),
    "Tensor.relu_": lambda x: x.clone().relu_(),
    "alias via getattr": lambda x: getattr(torch, "re" + "lu")(x),
    "F.leaky_relu slope 0": lambda x: F.leaky_relu(x, 0.0),
}
POOL_SPELLINGS = {
    "torch.max_pool2d": lambda x: torch.max_pool2d(x, 2),
    "F.max_pool2d": lambda x: F.max_pool2d(x, 2, 1),
    "F.max_pool2d return_indices": lambda x: F.max_pool2d(x, 2, return_indices=True)[0],
    "nn.MaxPool2d": lambda x: nn.MaxPool2d(2)(x),
    "nn.MaxPool2d forward": lambda x: nn.MaxPool2d.forward(nn.MaxPool2d(2), x),
    "3-D input": lambda x: F.max_pool2d(x[0], 2),
    "adaptive": lambda x: F.adaptive_max_pool2d(x, 3),
    "requires grad": lambda x: F.max_pool2d(x.clone().requires_grad_(), 2),
}
ELEMENTARY = {
    "where": lambda x: torch.where(x > 0, x, torch.zeros_like(x)),
    "clamp": lambda x: x.clamp(min=0),
    "maximum": lambda x: torch.maximum(x, torch.zeros_like(x)),
    "unfold amax": lambda x: x.unfold(2, 2, 2).unfold(3, 2, 2).amax(dim=(-2, -1)),
    "loops": lambda x: torch.stack([x[..., i : i + 2, :].amax(dim=-2) for i in range(0, 6, 2)], dim=-2),
}


@pytest.mark.parametrize("name", RELU_SPELLINGS)
def test_every_relu_spelling_is_seen(name):
    with OpTrace() as trace:
        RELU_SPELLINGS[name](X)
    assert trace.forbidden(RELU), trace.ops


@pytest.mark.parametrize("name", POOL_SPELLINGS)
def test_every_max_pool_spelling_is_seen(name):
    with OpTrace() as trace:
        POOL_SPELLINGS[name](X)
    assert trace.forbidden(MAXPOOL2D), trace.ops


@pytest.mark.parametrize("name", ELEMENTARY)
def test_elementary_operations_are_allowed(name):
    with OpTrace() as trace:
        ELEMENTARY[name](X)
    assert trace.ops, "the trace recorded nothing at all"
    assert trace.forbidden(RELU) == []
    assert trace.forbidden(MAXPOOL2D) == []


def test_trace_ends_when_the_block_ends():
    with OpTrace() as trace:
        X.abs()
    torch.relu(X)
    assert trace.forbidden(RELU) == []
