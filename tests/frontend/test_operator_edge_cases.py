"""Operators where ONNX defines more than TVM's converters compute, against ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ember
from ember.compiler.api import compile_model
from ember.compiler.examples.reference import ort_outputs


def run_both(tmp_path, nodes, inputs, outputs, feed, inits=(), opset=21) -> None:
    """Compile and run on Ember and ONNX Runtime; outputs equal in dtype, shape and value."""
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in dict(inits).items()],
    )
    source = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), source)
    got = ember.load(compile_model(source, "x86", tmp_path / "m.so")).run(feed)
    for g, w in zip(got, ort_outputs(str(source), feed), strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        # float16 results may differ by one rounding (an ulp is about 1e-3 relative).
        rtol, atol = (2e-3, 1e-4) if g.dtype == np.float16 else (1e-5, 1e-6)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, equal_nan=True)


@pytest.mark.parametrize(
    ("base", "exponent"),
    [(np.float32, np.int64), (np.float32, np.int32), (np.int32, np.float32), (np.int64, np.int64)],
)
def test_pow_with_mixed_types_has_the_base_type(tmp_path, base, exponent):
    feed = {"x": np.array([1, 2, 3, -2], base), "y": np.array([2, 3, 0, 3], exponent)}
    types = [helper.np_dtype_to_tensor_dtype(np.dtype(t)) for t in (base, exponent)]
    run_both(
        tmp_path,
        [helper.make_node("Pow", ["x", "y"], ["z"])],
        [("x", types[0], [4]), ("y", types[1], [4])],
        [("z", types[0], [4])],
        feed,
    )


def test_float_mod_takes_the_divisor_sign_and_handles_infinities(tmp_path):
    x = np.array([0.0, -0.0, -3.0, 3.0, -1.0, 1.0, np.inf, 5.5, -5.5, 1.0], np.float32)
    y = np.array([-2.0, 2.0, np.inf, np.inf, -np.inf, -np.inf, 2.0, -2.0, 2.0, 0.0], np.float32)
    run_both(
        tmp_path,
        [helper.make_node("Mod", ["x", "y"], ["z"], fmod=0)],
        [("x", TensorProto.FLOAT, [10]), ("y", TensorProto.FLOAT, [10])],
        [("z", TensorProto.FLOAT, [10])],
        {"x": x, "y": y},
        opset=28,  # float Mod with fmod=0 is defined from opset 28
    )


@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
def test_bitshift_by_the_width_or_more_shifts_everything_out(tmp_path, direction):
    x = np.array([8, 4, 255, 1 << 31], np.uint32)
    amount = np.array([32, 33, 100, 3], np.uint32)
    run_both(
        tmp_path,
        [helper.make_node("BitShift", ["x", "s"], ["z"], direction=direction)],
        [("x", TensorProto.UINT32, [4]), ("s", TensorProto.UINT32, [4])],
        [("z", TensorProto.UINT32, [4])],
        {"x": x, "s": amount},
    )


@pytest.mark.parametrize(("positive", "negative"), [(1, 0), (0, 1), (1, 1)])
def test_isinf_detects_the_asked_sign(tmp_path, positive, negative):
    x = np.array([-1.5, np.nan, np.inf, 3.0, -np.inf], np.float32)
    node = helper.make_node(
        "IsInf", ["x"], ["z"], detect_positive=positive, detect_negative=negative
    )
    run_both(
        tmp_path, [node], [("x", TensorProto.FLOAT, [5])], [("z", TensorProto.BOOL, [5])], {"x": x}
    )


@pytest.mark.parametrize("op_type", ["Celu", "Elu"])
def test_exponential_units_in_float16(tmp_path, op_type):
    x = np.linspace(-3, 3, 12, dtype=np.float16)
    run_both(
        tmp_path,
        [helper.make_node(op_type, ["x"], ["z"], alpha=1.5)],
        [("x", TensorProto.FLOAT16, [12])],
        [("z", TensorProto.FLOAT16, [12])],
        {"x": x},
        opset=28,  # Celu accepts float16 from opset 28
    )


def test_eyelike_in_another_dtype(tmp_path):
    run_both(
        tmp_path,
        [helper.make_node("EyeLike", ["x"], ["z"], dtype=TensorProto.DOUBLE, k=1)],
        [("x", TensorProto.INT32, [3, 4])],
        [("z", TensorProto.DOUBLE, [3, 4])],
        {"x": np.zeros((3, 4), np.int32)},
    )


def test_onehot_with_values_given_at_run_time(tmp_path):
    indices = np.array([[0, -1, 7], [3, 12, -11]], np.int64)
    run_both(
        tmp_path,
        [helper.make_node("OneHot", ["i", "depth", "v"], ["z"], axis=-2)],
        [("i", TensorProto.INT64, [2, 3]), ("v", TensorProto.FLOAT, [2])],
        [("z", TensorProto.FLOAT, [2, 10, 3])],
        {"i": indices, "v": np.array([-1.0, 4.0], np.float32)},
        inits={"depth": np.array(10, np.int64)},
    )


@pytest.mark.parametrize("axis", [-1, 0, -2])
def test_onehot_depth_given_at_run_time_sets_the_output_extent(tmp_path, axis):
    """One artifact serves every depth; a float depth is cast to an integer, as ONNX says."""
    node = helper.make_node("OneHot", ["i", "depth", "v"], ["z"], axis=axis)
    graph = helper.make_graph(
        [node],
        "g",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, [2, 3]),
            helper.make_tensor_value_info("depth", TensorProto.FLOAT, [1]),
            helper.make_tensor_value_info("v", TensorProto.FLOAT, [2]),
        ],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [None] * 3)],
    )
    source = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]), source)
    model = ember.load(compile_model(source, "x86", tmp_path / "m.so"))
    for depth in [4.0, 7.0, 1.0]:
        feed = {
            "i": np.array([[0, -1, 3], [9, -4, 2]], np.int64),
            "depth": np.array([depth], np.float32),
            "v": np.array([2.0, 5.0], np.float32),
        }
        (got,) = model.run(feed)
        (want,) = ort_outputs(str(source), feed)
        assert got.shape[axis] == int(depth)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("storage_order", [0, 1])
def test_maxpool_indices(tmp_path, storage_order):
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 7)).astype(np.float32)
    node = helper.make_node(
        "MaxPool",
        ["x"],
        ["y", "i"],
        kernel_shape=[3, 2],
        strides=[2, 2],
        pads=[1, 0, 1, 1],
        storage_order=storage_order,
    )
    run_both(
        tmp_path,
        [node],
        [("x", TensorProto.FLOAT, [2, 3, 6, 7])],
        [("y", TensorProto.FLOAT, [2, 3, 3, 4]), ("i", TensorProto.INT64, [2, 3, 3, 4])],
        {"x": x},
        opset=12,
    )


def test_split_with_empty_pieces(tmp_path):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    run_both(
        tmp_path,
        [helper.make_node("Split", ["x", "split"], ["a", "b", "c"], axis=1)],
        [("x", TensorProto.FLOAT, [2, 3])],
        [(n, TensorProto.FLOAT, [2, w]) for n, w in (("a", 0), ("b", 3), ("c", 0))],
        {"x": x},
        inits={"split": np.array([0, 3, 0], np.int64)},
    )


@pytest.mark.parametrize("op_type", ["ReduceMax", "ReduceMin"])
def test_extremes_over_bool_empty_and_infinite_sets(tmp_path, op_type):
    flags = np.array([[True, False], [False, False]])
    inf = np.float32(np.inf if op_type == "ReduceMin" else -np.inf)
    masked = np.array([[inf, inf, inf], [1.0, inf, 2.0]], np.float32)
    run_both(
        tmp_path,
        [
            helper.make_node(op_type, ["b", "axes"], ["rb"], keepdims=0),
            helper.make_node(op_type, ["m", "axes"], ["rm"], keepdims=0),
            helper.make_node(op_type, ["e", "axes"], ["re"], keepdims=0),
        ],
        [
            ("b", TensorProto.BOOL, [2, 2]),
            ("m", TensorProto.FLOAT, [2, 3]),
            ("e", TensorProto.FLOAT, [2, 0]),
        ],
        [
            ("rb", TensorProto.BOOL, [2]),
            ("rm", TensorProto.FLOAT, [2]),
            ("re", TensorProto.FLOAT, [2]),
        ],
        {"b": flags, "m": masked, "e": np.zeros((2, 0), np.float32)},
        inits={"axes": np.array([1], np.int64)},
    )


def test_float16_matmul_and_softmax_round_once(tmp_path):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 256)).astype(np.float16)
    b = rng.standard_normal((256, 8)).astype(np.float16)
    run_both(
        tmp_path,
        [
            helper.make_node("MatMul", ["a", "b"], ["p"]),
            helper.make_node("Softmax", ["p"], ["z"], axis=-1),
        ],
        [("a", TensorProto.FLOAT16, [4, 256]), ("b", TensorProto.FLOAT16, [256, 8])],
        [("p", TensorProto.FLOAT16, [4, 8]), ("z", TensorProto.FLOAT16, [4, 8])],
        {"a": a, "b": b},
    )
