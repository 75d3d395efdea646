"""Records leave the kernel as plain JSON and replay to the same verdicts; forged or broken records never pass."""

from __future__ import annotations

import json

import pytest
import torch

from activation import LESSON
from autograder.engine.checks import Mistake, evaluate, plan
from autograder.engine.checks.probe import Opaque, decode_value, encode_value

from kernel_side import SECRET, converse, graded, judge

CPU = torch.device("cpu")


def right_relu(z):
    return torch.where(z > 0, z, torch.zeros_like(z))


def through_json(data):
    return json.loads(json.dumps(data))


@pytest.mark.parametrize(
    "value",
    [
        torch.tensor([[-1.5, 0.0], [2.0, float("nan")]]),
        torch.arange(12, dtype=torch.int64).reshape(3, 4),
        torch.tensor([True, False]),
        torch.randn(2, 3, dtype=torch.float64),
        torch.randn(4, 5).t(),  # not contiguous
        torch.tensor(3.5),  # zero-dimensional
        torch.empty(0, 3),
        torch.randn(3).to(torch.bfloat16),
    ],
)
def test_tensors_round_trip_exactly(value: torch.Tensor):
    back = decode_value(through_json(encode_value(value)), CPU)
    assert isinstance(back, torch.Tensor)
    assert back.dtype == value.dtype and back.shape == value.shape
    assert torch.equal(torch.nan_to_num(back.float()), torch.nan_to_num(value.float()))


def test_literals_and_containers_round_trip():
    value = [1, 2.5, None, "x", (True, [3])]
    assert decode_value(through_json(encode_value(value)), CPU) == [1, 2.5, None, "x", (True, [3])]


def test_other_objects_travel_as_type_and_repr_only():
    class Sneaky:
        def __repr__(self) -> str:
            return "sneaky!"

    back = decode_value(through_json(encode_value(Sneaky())), CPU)
    assert isinstance(back, Opaque) and back.type_name == "Sneaky" and repr(back) == "sneaky!"


def test_huge_results_travel_without_their_data():
    data = encode_value(torch.zeros(2_000_000))
    assert data["data"] is None
    back = decode_value(data, CPU)
    assert back.device.type == "meta" and back.shape == (2_000_000,)


@pytest.mark.parametrize(
    "junk",
    [
        None,
        "tensor",
        {"kind": "tensor", "dtype": "float32", "shape": [2], "data": "!!!not base64"},
        {"kind": "tensor", "dtype": "no_such_dtype", "shape": [1], "data": ""},
        {"kind": "tensor", "dtype": "float32", "shape": [3], "data": "AAAA"},  # 3 bytes for 3 floats
        {"kind": "literal", "value": {"nested": "dict"}},
        {"kind": "list", "items": "not a list"},
    ],
)
def test_malformed_data_decodes_to_an_opaque_value_without_raising(junk):
    assert isinstance(decode_value(junk, CPU), Opaque)


@pytest.mark.parametrize(
    ("grade_id", "answer", "passed"),
    [
        ("relu_batch", right_relu, True),
        ("relu_example", lambda z: torch.where(z > 0, z, 0.01 * z), False),
        ("relu_unmodified", lambda z: z.clamp_(min=0), False),
        ("kernel_values", torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]), True),
        ("kernel_values", -torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]), False),
        ("maxpool2d_lesson", lambda x, k, stride=None: x[..., ::2, ::2], False),
    ],
)
def test_replayed_verdict_equals_the_direct_verdict(grade_id, answer, passed):
    direct = evaluate(LESSON, grade_id, answer)
    replayed = graded(grade_id, answer)
    assert direct.passed is replayed.passed is passed
    assert direct.mistake == replayed.mistake


def test_a_record_for_another_request_never_passes():
    request, data = converse("relu_example", right_relu)
    other, _ = converse("relu_example", right_relu)
    assert judge("relu_example", data, other).mistake is Mistake.NOT_EVALUATED
    assert judge("relu_batch", data, request).mistake is Mistake.NOT_EVALUATED


def test_a_truncated_record_fails_as_not_evaluated():
    request, data = converse("relu_batch", right_relu)
    data["calls"] = data["calls"][:2]
    verdict = judge("relu_batch", data, request)
    assert not verdict.passed and verdict.mistake is Mistake.NOT_EVALUATED


def test_a_forged_result_is_compared_with_the_reference_computed_here():
    request, data = converse("relu_example", right_relu)
    data["calls"][0]["result"] = encode_value(torch.ones(5))
    assert judge("relu_example", data, request).mistake is Mistake.WRONG_VALUES


def test_a_blocked_operator_reported_by_the_kernel_fails_the_call():
    request, data = converse("relu_batch", right_relu)
    data["calls"][1]["ops"] = ["aten::relu"]
    verdict = judge("relu_batch", data, request)
    text = "\n".join(verdict.lines())
    assert verdict.mistake is Mistake.REFERENCE_OP and "torch.relu" in text and "aten::" not in text


def test_a_function_that_never_returns_times_out():
    def loops(z):
        while True:
            pass

    request, data = converse("relu_example", loops)
    assert len(data["calls"]) == 1 and data["calls"][0]["error"]["timeout"]
    assert judge("relu_example", data, request).mistake is Mistake.TIMEOUT


def test_record_and_request_hold_no_pickle_and_are_small():
    request, data = converse("maxpool2d_batch", lambda x, k, stride=None: x)
    assert len(json.dumps(data)) < 200_000 and len(json.dumps(request)) < 200_000


def test_the_inputs_come_from_the_secret_and_only_the_grader_holds_it():
    first, second = plan(LESSON, "relu_batch", b"a" * 32), plan(LESSON, "relu_batch", b"b" * 32)
    assert first["calls"] != second["calls"]
    assert plan(LESSON, "relu_batch", b"a" * 32)["calls"] == first["calls"]
    text = json.dumps(first)
    assert SECRET.hex() not in text and "a" * 32 not in text


def test_non_contiguous_inputs_arrive_with_their_strides():
    seen = []
    request, data = converse("relu_noncontiguous", lambda z: seen.append(z.stride()) or z.clamp(min=0))
    assert seen and all(not call_stride == () for call_stride in seen)
    assert seen[0] == (1, 6, 30)  # the family's transposed (4, 5, 6) input
    assert judge("relu_noncontiguous", data, request).passed


def test_a_view_of_the_input_is_replayed_with_its_own_shape():
    def flattened_in_place(z):
        z.mul_((z > 0).to(z.dtype))
        return z.reshape(-1)

    for grade_id in ("relu_example", "relu_batch"):
        direct = evaluate(LESSON, grade_id, flattened_in_place)
        replayed = graded(grade_id, flattened_in_place)
        assert not direct.passed and not replayed.passed and direct.mistake == replayed.mistake


@pytest.mark.filterwarnings("ignore::UserWarning")  # quantized tensors are deprecated, still creatable
def test_exotic_tensors_travel_as_opaque_values():
    quantized = torch.quantize_per_tensor(torch.tensor([1.0, 2.0]), 0.1, 0, torch.qint8)
    sparse = torch.eye(3).to_sparse()
    for value in (quantized, sparse):
        assert isinstance(decode_value(through_json(encode_value(value)), CPU), Opaque)


def test_a_complex_kernel_is_the_wrong_dtype():
    sobel = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
    verdict = evaluate(LESSON, "kernel_values", sobel.to(torch.complex64) + 1j)
    assert verdict.mistake is Mistake.WRONG_DTYPE


def test_an_error_names_the_students_own_line_not_the_graders():
    # A cell's code as IPython compiles it: a file under ipykernel_<pid>/, its lines in linecache.
    import linecache

    filename = "/tmp/ipykernel_4242/1234567.py"
    source = "def relu(z):\n    escala = 2\n    return z * escala + 'a'\n"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict = {"torch": torch}
    exec(compile(source, filename, "exec"), namespace)
    verdict = graded("relu_example", namespace["relu"])
    assert verdict.mistake == Mistake.RAISED
    text = "\n".join(verdict.lines())
    assert "línea 3: return z * escala + 'a'" in text
    assert "probe.py" not in text and "autograder" not in text
