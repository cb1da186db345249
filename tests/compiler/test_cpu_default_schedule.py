"""The default CPU schedule parallelizes every kernel and keeps the numerics."""

from __future__ import annotations

import re

import numpy as np
import onnx
import pytest
import tvm
from tvm import relax, tirx
from tvm.relax.frontend.onnx import from_onnx

from ember.compiler.examples import models
from ember.compiler.passes.cpu_default_schedule import cpu_default_schedule
from ember.compiler.passes.pipeline import cpu_phases
from ember.compiler.target import resolve


def lowered(proto):
    mod = from_onnx(proto, keep_params_in_input=False)
    # The schedule pass alone: no plugin kernels, so TVM's own VM can run the result.
    skip = ("dispatch", "schedule")
    phases = [p for name, passes in cpu_phases() if name not in skip for p in passes]
    with resolve("x86").tvm_target():
        return tvm.transform.Sequential(phases)(mod)


def parallel_loops(func: tirx.PrimFunc) -> int:
    # TVM 0.27 has no Python TIR visitor; the printed script names each loop's kind.
    return func.script().count("T.parallel(")


def run(mod, x):
    target = resolve("x86").tvm_target()
    vm = relax.VirtualMachine(tvm.compile(mod, target=target), tvm.cpu())
    return vm["main"](tvm.runtime.tensor(x)).numpy()


@pytest.mark.parametrize("name", ["cnn", "transformer"])
def test_every_kernel_gets_a_parallel_loop(name):
    before = lowered(models.EXAMPLES[name]())
    kernels = {g: f for g, f in before.functions.items() if isinstance(f, tirx.PrimFunc)}
    assert all(parallel_loops(f) == 0 for f in kernels.values())
    after = cpu_default_schedule(before)
    for gvar in kernels:
        func = after[gvar]
        assert func.attrs["tirx.is_scheduled"]
        assert parallel_loops(func) >= 1, gvar.name_hint


def test_schedule_keeps_numerics():
    proto = models.small_cnn()
    before = lowered(proto)
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    expected = run(before, x)
    np.testing.assert_allclose(run(cpu_default_schedule(before), x), expected, rtol=1e-5)


def test_scheduled_kernels_are_left_alone():
    before = lowered(models.mlp())
    once = cpu_default_schedule(before)
    twice = cpu_default_schedule(once)
    tvm.ir.assert_structural_equal(once, twice)


def test_elementwise_chains_are_inlined_into_one_loop_nest():
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("Add", ["x", "b"], ["a"]),
        helper.make_node("Erf", ["a"], ["e"]),
        helper.make_node("Mul", ["e", "a"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "gelu_like",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [16, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [16, 64])],
        [numpy_helper.from_array(np.ones(64, np.float32), "b")],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    before = lowered(proto)
    (kernel,) = [g for g, f in before.functions.items() if isinstance(f, tirx.PrimFunc)]
    # The printed script names the root block too: root + one block per operator.
    assert before[kernel].script().count("T.sblock(") == 4
    after = cpu_default_schedule(before)
    assert after[kernel].script().count("T.sblock(") == 2
    x = np.random.default_rng(0).standard_normal((16, 64)).astype(np.float32)
    np.testing.assert_allclose(run(after, x), run(before, x), rtol=1e-6)


def test_kernels_of_empty_tensors_compile_and_run(tmp_path):
    from tests.frontend.single_node import assert_matches_ort, one_node_model

    x = np.zeros((3, 0, 5), np.float32)
    model = one_node_model("Trilu", {"x": x}, ["y"], 14, {"k": np.array(1, np.int64)})
    assert_matches_ort(tmp_path, model, {"x": x})


def test_extern_kernels_are_left_as_topi_wrote_them(tmp_path):
    from tests.frontend.single_node import assert_matches_ort, one_node_model

    rng = np.random.default_rng(0)
    feed = {
        "data": rng.standard_normal((2, 4)).astype(np.float32),
        "index": np.array([[3, 0], [1, 1]], np.int64),
        "update": rng.standard_normal((2, 2)).astype(np.float32),
    }
    model = one_node_model("ScatterElements", feed, ["y"], 18, axis=1)
    assert_matches_ort(tmp_path, model, feed)


def compiled_matches_onnxruntime(tmp_path, proto, feed):
    import ember
    from ember.compiler.api import compile_model
    from ember.compiler.examples.reference import ort_outputs

    source = tmp_path / "model.onnx"
    onnx.save(proto, source)
    got = ember.load(compile_model(source, "x86", tmp_path / "model.so")).run(feed)
    for g, w in zip(got, ort_outputs(str(source), feed), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-6)


def test_kernels_without_a_root_block_compile_unscheduled(tmp_path):
    # ScatterElements legalizes to hand-written loops with no block to schedule.
    from onnx import TensorProto, helper, numpy_helper

    index = np.array([[1, 0, 2], [0, 2, 1]], np.int64)
    node = helper.make_node("ScatterElements", ["x", "i", "u"], ["y"], axis=1, reduction="add")
    graph = helper.make_graph(
        [node],
        "scatter",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4]),
            helper.make_tensor_value_info("u", TensorProto.FLOAT, [2, 3]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
        [numpy_helper.from_array(index, "i")],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    rng = np.random.default_rng(0)
    feed = {
        "x": rng.standard_normal((2, 4)).astype(np.float32),
        "u": rng.standard_normal((2, 3)).astype(np.float32),
    }
    compiled_matches_onnxruntime(tmp_path, proto, feed)


def test_kernels_with_opaque_blocks_keep_their_intermediates(tmp_path):
    # NonMaxSuppression's hand-written blocks read and write the sorted scores without
    # declaring it; inlining their producer would leave a store to a vanished buffer.
    from onnx import TensorProto, helper, numpy_helper

    limits = [
        numpy_helper.from_array(np.array([2], np.int64), "max_out"),
        numpy_helper.from_array(np.array([0.5], np.float32), "iou"),
        numpy_helper.from_array(np.array([0.1], np.float32), "min_score"),
    ]
    node = helper.make_node(
        "NonMaxSuppression", ["boxes", "scores", "max_out", "iou", "min_score"], ["selected"]
    )
    graph = helper.make_graph(
        [node],
        "nms",
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 5, 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1, 5]),
        ],
        [helper.make_tensor_value_info("selected", TensorProto.INT64, [None, 3])],
        limits,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    corners = np.array(
        [[0, 0, 1, 1], [0, 0.1, 1, 1.1], [0, 3, 1, 4], [2, 2, 3, 3], [0, 0, 0.5, 0.5]]
    )
    feed = {
        "boxes": corners.astype(np.float32)[None],
        "scores": np.array([[[0.9, 0.8, 0.7, 0.3, 0.05]]], np.float32),
    }
    compiled_matches_onnxruntime(tmp_path, proto, feed)


def _reduction(shape, axes, op="mean"):
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(shape, "float32"))
    reduce = relax.op.mean if op == "mean" else relax.op.sum
    with bb.function("main", [x]):
        with bb.dataflow():
            out = bb.emit_output(reduce(x, axis=axes, keepdims=True))
        bb.emit_func_output(out)
    mod = relax.transform.LegalizeOps()(bb.get())
    return relax.transform.FuseTIR()(relax.transform.AnnotateTIROpPattern()(mod))


@pytest.mark.parametrize(
    ("shape", "axes", "op", "vectorized"),
    [
        ((1, 20, 20, 64), [1, 2], "mean", True),  # a channels-last global pool
        ((2, 9, 7, 24), [1, 2], "mean", True),  # 24 channels: 8 lanes, batch kept too
        ((37, 48), [0], "sum", True),  # a sum over rows
        ((1, 7, 7, 6), [1, 2], "mean", False),  # 6 channels: no vector width divides it
        ((4, 32, 48), [2], "sum", False),  # the innermost axis reduced: a row reduction
    ],
)
def test_reductions_over_outer_axes_vectorize_along_the_kept_axis(shape, axes, op, vectorized):
    before = _reduction(shape, axes, op)
    after = cpu_default_schedule(before)
    script = "\n".join(f.script() for f in after.functions.values() if isinstance(f, tirx.PrimFunc))
    # The reduction's update block runs its lanes as one vector under the reduced loops.
    assert ("_red_update" in script) == vectorized
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    numpy_reduce = np.mean if op == "mean" else np.sum
    expected = numpy_reduce(x.astype(np.float64), axis=tuple(axes), keepdims=True)
    np.testing.assert_allclose(run(after, x), expected, rtol=2e-5, atol=2e-5)


def _transpose(shape, axes, gelu=False, reshape=False):
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(shape, "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit(relax.op.nn.gelu(x)) if gelu else x
            y = bb.emit(relax.op.permute_dims(y, axes))
            # A reshape to the shape it has (wav2vec2's GroupNorm): div/mod in the kernel's reads.
            out = bb.emit_output(relax.op.reshape(y, [shape[a] for a in axes]) if reshape else y)
        bb.emit_func_output(out)
    mod = relax.transform.LegalizeOps()(bb.get())
    return relax.transform.FuseTIR()(
        relax.transform.FuseOps()(relax.transform.AnnotateTIROpPattern()(mod))
    )


@pytest.mark.parametrize(
    ("shape", "axes", "gelu", "tiled"),
    [
        ((1, 3199, 512), [0, 2, 1], False, True),  # wav2vec2's frames <-> channels, ragged
        ((64, 96), [1, 0], True, True),  # GELU then a transpose, in one kernel
        ((2, 40, 33, 64), [0, 3, 1, 2], False, True),  # NHWC -> NCHW, a ragged innermost axis
        ((2, 64, 32, 32), [0, 2, 3, 1], False, True),  # NCHW -> NHWC: tiles divide evenly
        ((4, 8, 16, 48), [0, 2, 1, 3], False, False),  # the innermost axis stays: rows copied
        ((3, 20, 5), [0, 2, 1], False, False),  # a side under one tile: left as it was
    ],
)
def test_transposes_run_in_cache_tiles_and_keep_their_values(shape, axes, gelu, tiled):
    _check_transpose(_transpose(shape, axes, gelu), shape, axes, gelu, tiled)


def test_a_transpose_with_a_same_shape_reshape_fused_in_is_tiled_too():
    shape, axes = (1, 3199, 512), [0, 2, 1]
    _check_transpose(_transpose(shape, axes, reshape=True), shape, axes, False, True)


def _check_transpose(before, shape, axes, gelu, tiled):
    after = cpu_default_schedule(before)
    script = "\n".join(f.script() for f in after.functions.values() if isinstance(f, tirx.PrimFunc))
    # A tiled nest splits the innermost output axis by the tile: its inner loop runs 32 times.
    tile_loops = re.findall(r"for .*T\.int64\(32\)", script)
    assert bool(tile_loops) == tiled, script
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    reference = x.astype(np.float64)
    if gelu:
        from scipy.special import erf

        reference = 0.5 * reference * (1 + erf(reference / np.sqrt(2)))
    expected = np.transpose(reference, axes)
    np.testing.assert_allclose(run(after, x), expected, rtol=1e-5, atol=1e-6)
