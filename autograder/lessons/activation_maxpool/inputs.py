"""The lesson's own inputs, rebuilt exactly as the notebook builds them."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from autograder.engine.checks.core import device

# The horizontal Sobel kernel, the lesson's Gx.
SOBEL_X = ((1.0, 0.0, -1.0), (2.0, 0.0, -2.0), (1.0, 0.0, -1.0))


def sobel_x(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The true Gx as a (3, 3) tensor."""
    return torch.tensor(SOBEL_X, dtype=dtype, device=device())


def vertical_line_image() -> torch.Tensor:
    """The 5×5 image with a vertical line in the middle column, shape (1, 1, 5, 5)."""
    image = torch.zeros(1, 1, 5, 5, device=device())
    image[0, 0, :, 2] = 1
    return image


def activation_map() -> torch.Tensor:
    """Z: the vertical line convolved with Gx (bias 0), as the lesson's nn.Conv2d gives it, with its grad_fn."""
    conv = torch.nn.Conv2d(in_channels=1, out_channels=1, kernel_size=3).to(device())
    with torch.no_grad():
        conv.weight[0, 0] = sobel_x()
        conv.bias.zero_()
    return conv(vertical_line_image())


def pooling_image() -> torch.Tensor:
    """The lesson's 4×4 image1, shape (1, 1, 4, 4)."""
    image1 = torch.zeros(1, 1, 4, 4, device=device())
    image1[0, 0, 0, :] = torch.tensor([1.0, 2.0, 3.0, -4.0])
    image1[0, 0, 1, :] = torch.tensor([0.0, 2.0, -3.0, 0.0])
    image1[0, 0, 2, :] = torch.tensor([0.0, 2.0, 3.0, 1.0])
    return image1


def convolve(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """What nn.Conv2d(1, 1, 3) with bias 0 and this kernel computes."""
    return F.conv2d(image, kernel.reshape(1, 1, 3, 3).to(image.dtype))
