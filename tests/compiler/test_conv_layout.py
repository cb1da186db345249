"""Convolution layout on x86: NHWC with pre-packed HWIO weights, chosen by measurement."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
import tvm_ffi
from tvm import relax

import ember
from ember.compiler.examples import models
from ember.compiler.frontend import importer, signature
from ember.compiler.layout import conv_layout
from ember.compiler.layout.conv_layout import choose_layout, conv_shapes
from ember.compiler.layout.conv_shape import ConvShape
from ember.compiler.layout.conv_timing import fastest_ms
from ember.compiler.libraries import onednn
from ember.compiler.passes.pipeline import run_pipeline
from ember.compiler.target import resolve
from ember.errors import OptionError
from ember.runtime import read_manifest
from tests.conftest import assert_close_to_ort, random_feed, save_model

X86 = resolve("x86")


def imported(proto):
    return importer.import_model(proto, signature.graph_inputs(proto))


def packed_calls(mod, name):
    """The call_dps_packed calls of `name` in main."""
    calls = []

    @relax.expr_functor.visitor
    class Collect(relax.PyExprVisitor):
        def visit_call_(self, call):
            super().visit_call_(call)
            if call.op.name == "relax.call_dps_packed" and str(call.args[0].global_symbol) == name:
                calls.append(call)

    Collect().visit_expr(mod["main"])
    return calls


def test_nhwc_convs_read_constant_hwio_weights_and_no_weight_is_transposed_at_run_time():
    lowered = run_pipeline(imported(models.residual_cnn()), X86, layout="nhwc", until="legalize")
    kernels = (onednn.CONV_NHWC, onednn.CONV_NHWC_EPILOGUE, onednn.CONV_NHWC_RESIDUAL)
    convs = [call for kernel in kernels for call in packed_calls(lowered, kernel)]
    assert len(convs) == 8 and not packed_calls(lowered, "ember.cpu.conv2d")
    for call in convs:
        data, weight = call.args[1].fields[:2]
        assert isinstance(weight, tvm.ir.expr.Constant)  # pre-packed at build time
        kh, kw, cin_per_group, cout = (int(d) for d in weight.ty.shape)
        assert kh == kw and int(data.ty.shape[3]) % cin_per_group == 0  # HWIO, NHWC data
        assert cout == int(call.ty.shape[3])
    text = lowered["main"].script()
    # The only transposes left are the input's (to NHWC) and the pooled output's, none of a
    # constant.
    assert text.count("R.permute_dims(") <= 2
    assert 'R.permute_dims(metadata["relax.expr.Constant"]' not in text


def test_nchw_keeps_the_models_layout():
    lowered = run_pipeline(imported(models.residual_cnn()), X86, layout="nchw", until="legalize")
    assert len(packed_calls(lowered, "ember.cpu.conv2d")) == 8
    assert "R.permute_dims(" not in lowered["main"].script()


def test_tuning_tasks_come_from_the_layout_asked_for(tmp_path):
    from ember.compiler.tuning.tasks import lowered_module

    source = save_model(models.small_cnn(), tmp_path, "cnn")
    nhwc = lowered_module(source, X86, {}, "nhwc").script()
    assert "ember.dnnl.conv_nhwc" in nhwc
    assert "ember.dnnl.conv_nhwc" not in lowered_module(source, X86, {}).script()


@pytest.mark.parametrize("name", ["residual_cnn", "mobile_cnn", "small_cnn"])
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_numerics_match_onnxruntime_in_both_layouts(tmp_path, name, layout):
    proto = getattr(models, name)()
    source = save_model(proto, tmp_path, name)
    options = ember.compiler.options.CompileOptions(layout=layout)
    artifact = ember.compiler.api.compile_model(source, "x86", tmp_path / "m.so", options)
    model = ember.load(artifact)
    assert model.manifest["layout"]["conv"] == layout
    feed = random_feed(proto)
    assert_close_to_ort(source, feed, [model.run(feed)[0]])


def test_auto_times_both_kernels_on_each_conv_shape_and_takes_the_faster():
    mod = imported(models.residual_cnn())
    choice = choose_layout(mod, X86, "auto")
    assert choice.conv_shapes == len(conv_shapes(mod)) and sum(conv_shapes(mod).values()) == 8
    assert set(choice.measured_ms) == {"nchw", "nhwc"}
    assert all(ms > 0 for ms in choice.measured_ms.values())
    assert choice.layout == taken(choice.measured_ms)
    entry = choice.manifest()
    assert entry["requested"] == "auto" and entry["conv"] == choice.layout
    assert "measured NCHW" in choice.summary()


def test_auto_also_times_the_depthwise_convs_tvm_generates():
    mod = imported(models.mobile_cnn())
    plugin, generated = conv_shapes(mod), conv_shapes(mod, in_plugin=False)
    assert sum(plugin.values()) == 4 and sum(generated.values()) == 2  # the two depthwise
    choice = choose_layout(mod, X86, "auto")
    assert choice.conv_shapes == len(plugin) + len(generated)
    assert "4 plugin and 2 TVM conv shapes" in choice.summary()
    assert choice.layout == taken(choice.measured_ms)


def taken(ms):
    """The layout the libraries favour, unless the other beats it by the margin."""
    preferred = "nhwc" if onednn.unavailable_reason() is None else "nchw"
    other = "nchw" if preferred == "nhwc" else "nhwc"
    return other if ms[other] < (1 - conv_layout.LAYOUT_MARGIN) * ms[preferred] else preferred


def test_auto_keeps_nchw_without_plugin_convs_and_off_x86():
    assert choose_layout(imported(models.mlp()), X86, "auto").layout == "nchw"
    assert choose_layout(imported(models.small_cnn()), resolve("arm"), "auto").layout == "nchw"
    assert choose_layout(imported(models.small_cnn()), X86, "NHWC").layout == "nhwc"


def test_an_unknown_layout_is_a_one_line_error():
    with pytest.raises(OptionError, match=r"^invalid --layout 'nhcw': expected one of auto, "):
        conv_layout.check_layout("nhcw")


@pytest.mark.parametrize(
    "data, cout, kernel, attrs",
    [
        ((2, 8, 9, 9), 16, 3, (1, 1, 1, 1, 1, 1, 1, 1, 1)),  # padded 3x3
        ((1, 8, 11, 11), 12, 3, (2, 2, 0, 1, 2, 1, 2, 2, 2)),  # strided, dilated, 2 groups
        ((2, 16, 5, 5), 32, 1, (1, 1, 0, 0, 0, 0, 1, 1, 1)),  # pointwise: one GEMM
        ((1, 64, 4, 4), 64, 3, (1, 1, 1, 1, 1, 1, 1, 1, 1)),  # few pixels: shared columns
        # A 7x7 stem on 3 channels: a window row inside the image is one contiguous copy.
        ((1, 3, 23, 21), 8, 7, (2, 2, 3, 3, 3, 3, 1, 1, 1)),
    ],
)
def test_plugin_nhwc_conv_matches_its_nchw_conv(data, cout, kernel, attrs):
    assert conv_layout._load_plugin()
    groups = attrs[8]
    n, cin, h, w = data
    eff = attrs[6] * (kernel - 1) + 1
    oh = (h + attrs[2] + attrs[4] - eff) // attrs[0] + 1
    ow = (w + attrs[3] + attrs[5] - eff) // attrs[1] + 1
    rng = np.random.default_rng(0)
    x = rng.standard_normal(data).astype(np.float32)
    wt = rng.standard_normal((cout, cin // groups, kernel, kernel)).astype(np.float32)
    shape = ConvShape(data, wt.shape, (n, cout, oh, ow), attrs)
    outs = {}
    for layout, args in {
        "nchw": (x, wt, np.zeros(shape.out, np.float32)),
        "nhwc": (
            x.transpose(0, 2, 3, 1),
            wt.transpose(2, 3, 1, 0),
            np.zeros((n, oh, ow, cout), np.float32),
        ),
    }.items():
        tensors = [tvm.runtime.tensor(np.ascontiguousarray(a)) for a in args]
        kernel_fn = tvm.get_global_func(conv_layout._KERNELS[layout])
        kernel_fn(tensors[0], tensors[1], tvm_ffi.Shape(attrs), tensors[2])
        outs[layout] = tensors[2].numpy()
    np.testing.assert_allclose(
        outs["nhwc"].transpose(0, 3, 1, 2), outs["nchw"], rtol=1e-4, atol=1e-4
    )
    runners = {layout: conv_layout.plugin_conv(shape, layout) for layout in ("nchw", "nhwc")}
    assert all(ms > 0 for ms in fastest_ms(runners).values())


def test_auto_keeps_nchw_when_tvm_cannot_convert_the_graph(tmp_path):
    """TVM's import of an opset-9 Dropout builds a tuple that ConvertLayout rejects."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    inits = [
        numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(np.array([1, 8 * 14 * 14], dtype=np.int64), "shape"),
        numpy_helper.from_array(rng.standard_normal((10, 8 * 14 * 14)).astype(np.float32), "gw"),
        numpy_helper.from_array(rng.standard_normal(10).astype(np.float32), "gb"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"]),
        helper.make_node("Reshape", ["c", "shape"], ["r"]),
        helper.make_node("Gemm", ["r", "gw", "gb"], ["g"], transB=1),
        helper.make_node("Dropout", ["g"], ["y"], ratio=0.5),
    ]
    graph = helper.make_graph(
        nodes,
        "conv_dropout",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        inits,
    )
    path = tmp_path / "conv_dropout.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)]), path)
    out = ember.compile(path, target="x86", output=tmp_path / "m.so", layout="auto")
    layout = read_manifest(out)["layout"]
    assert layout["conv"] == "nchw" and "NHWC:" in layout["reason"]
    feed = {"x": rng.standard_normal((1, 3, 16, 16)).astype(np.float32)}
    assert_close_to_ort(path, feed, ember.load(out).run(feed))
