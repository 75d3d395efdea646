"""Values as JSON both ways: tensors by dtype, shape, strides and raw bytes; literals as they are; anything else by type and repr."""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import Any

import torch

# Tensors larger than this travel as shape and dtype only (no test input or expected result is anywhere near it).
MAX_NUMEL = 1_000_000
MAX_ITEMS = 64
MAX_TEXT = 300
MAX_DEPTH = 4

# The dtypes a tensor may travel as; anything else (quantized, bits, float8…) arrives as an Opaque.
DTYPES = {
    str(dtype).removeprefix("torch."): dtype
    for dtype in (
        torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64, torch.complex128,
        torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.bool,
    )
}


@dataclass
class Opaque:
    """A non-tensor, non-literal value: its type name and repr, nothing executable."""

    type_name: str
    text: str

    def __repr__(self) -> str:
        return self.text


def encode_value(value: Any, depth: int = 0, *, layout: bool = False) -> dict[str, Any]:
    """A JSON description of a value; `layout` keeps a tensor's strides and offset (inputs that must arrive non-contiguous)."""
    if isinstance(value, torch.Tensor):
        try:
            return _encode_tensor(value, layout)
        except Exception:  # sparse, nested, subclasses that refuse: described, not carried
            return {"kind": "opaque", "type": f"Tensor ({type(value).__name__})", "repr": safe_repr(value)}
    if value is None or isinstance(value, (bool, int, float)):
        return {"kind": "literal", "value": value}
    if isinstance(value, str):
        return {"kind": "literal", "value": value[:MAX_TEXT]}
    if isinstance(value, (list, tuple)) and depth < MAX_DEPTH and len(value) <= MAX_ITEMS:
        return {"kind": type(value).__name__, "items": [encode_value(item, depth + 1, layout=layout) for item in value]}
    return {"kind": "opaque", "type": type(value).__name__[:80], "repr": safe_repr(value)}


def _encode_tensor(tensor: torch.Tensor, layout: bool) -> dict[str, Any]:
    plain = torch.Tensor.as_subclass(tensor, torch.Tensor).detach()
    dtype = str(plain.dtype).removeprefix("torch.")
    if plain.layout != torch.strided or dtype not in DTYPES:
        return {"kind": "opaque", "type": f"Tensor ({plain.layout}, {dtype})", "repr": safe_repr(plain)}
    encoded: dict[str, Any] = {
        "kind": "tensor",
        "dtype": dtype,
        "shape": list(plain.shape),
        "device": plain.device.type,
        "data": None,
    }
    if plain.numel() > MAX_NUMEL or plain.device.type == "meta":
        return encoded
    if layout:
        # The whole span of storage the view reaches, so the receiver rebuilds the same strides.
        span = 1 + sum((n - 1) * s for n, s in zip(plain.shape, plain.stride())) if plain.numel() else 0
        base = plain.as_strided((span,), (1,), plain.storage_offset()) if span else plain.reshape(-1)
        encoded["strides"] = list(plain.stride())
        encoded["requires_grad"] = bool(tensor.requires_grad)
        raw = base.cpu().contiguous().view(torch.uint8).numpy().tobytes()
    else:
        raw = plain.cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
    encoded["data"] = base64.b64encode(raw).decode("ascii")
    return encoded


def decode_value(data: Any, device: torch.device | None = None, depth: int = 0) -> Any:
    """The value an encode_value description stands for; malformed data decodes to an Opaque, never raises."""
    if not isinstance(data, dict):
        return Opaque("desconocido", "<dato ilegible>")
    kind = data.get("kind")
    try:
        if kind == "tensor":
            return _decode_tensor(data, device)
        if kind == "literal" and (data.get("value") is None or isinstance(data.get("value"), (bool, int, float, str))):
            return data.get("value")
        if isinstance(data.get("items"), list) and depth < MAX_DEPTH:
            # Any other kind with items is a tuple subclass (a named tuple such as torch.max's (values, indices)).
            items = [decode_value(item, device, depth + 1) for item in data["items"][:MAX_ITEMS]]
            return items if kind == "list" else tuple(items)
    except (ValueError, TypeError, RuntimeError, KeyError, OverflowError, RecursionError, AttributeError):
        return Opaque("desconocido", "<dato ilegible>")
    return Opaque(str(data.get("type", "objeto"))[:80], str(data.get("repr", "<objeto>"))[:MAX_TEXT])


def _decode_tensor(data: dict[str, Any], device: torch.device | None) -> torch.Tensor:
    dtype = DTYPES[str(data["dtype"])]
    shape = [int(n) for n in data["shape"]]
    if len(shape) > 16 or any(n < 0 for n in shape) or math.prod(shape) > 2**48:
        raise ValueError("implausible shape")
    named = str(data.get("device", "cpu"))
    target = device if device is not None and named == device.type else torch.device(named)
    if data.get("data") is None or math.prod(shape) > MAX_NUMEL or target.type == "meta":
        return torch.empty(shape, dtype=dtype, device="meta")
    raw = bytearray(base64.b64decode(str(data["data"]), validate=True))
    flat = torch.frombuffer(raw, dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)
    values = flat.view(dtype)
    strides = data.get("strides")
    if isinstance(strides, list) and len(strides) == len(shape):
        strides = [int(s) for s in strides]
        if any(s < 0 for s in strides):
            raise ValueError("negative stride")
        span = 1 + sum((n - 1) * s for n, s in zip(shape, strides)) if math.prod(shape) else 0
        if span > values.numel():
            raise ValueError("strides reach past the data")
        tensor = values.to(target).as_strided(shape, strides) if span else torch.empty(shape, dtype=dtype, device=target)
    else:
        tensor = values.reshape(shape).to(target)
    if data.get("requires_grad") and tensor.is_floating_point():
        tensor = tensor.detach().requires_grad_(True).clone()  # a non-leaf with a grad_fn, as the lesson's Z is
    return tensor


def safe_repr(value: Any) -> str:
    try:
        return repr(value)[:MAX_TEXT]
    except Exception:  # a student's __repr__ may raise anything
        return f"<{type(value).__name__}>"
