"""`--precision`: fp16 on CUDA targets computes matmuls on tensor cores, bf16 on x86 CPUs with
AVX512-BF16 or AMX-BF16 in oneDNN (tests/compiler/test_bf16_kernels.py runs it); the rest is
refused with one line."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from ember.compiler.api import compile_model
from ember.compiler.examples import models
from ember.compiler.frontend import importer, signature
from ember.compiler.options import CompileOptions
from ember.compiler.passes.pipeline import run_pipeline
from ember.compiler.target import resolve
from ember.errors import OptionError
from ember.runtime import read_manifest
from tests.conftest import save_model
from tests.integration.test_cli import assert_one_line_error, ember


def _scheduled(proto, precision: str):
    """The model through the cuda-sm80 pipeline (no nvcc needed): kernel name -> PrimFunc."""
    import tvm

    mod = importer.import_model(proto, signature.graph_inputs(proto))
    mod = run_pipeline(mod, resolve("cuda-sm80"), precision=precision)
    return {
        gv.name_hint: f for gv, f in mod.functions.items() if isinstance(f, tvm.tirx.PrimFunc)
    }, mod


def _param_dtypes(func) -> list[str]:
    """The dtypes of the kernel's buffers, from its printed signature (float32 unprinted)."""
    header = next(line for line in func.script().splitlines() if line.lstrip().startswith("def "))
    buffers = header.split("T.Buffer(")[1:]
    dtype = re.compile(r'"((?:b?float|u?int)\d+|bool)"')
    return [m[1] if (m := dtype.search(b)) else "float32" for b in buffers]


# The first tensor-core schedule in a process imports TVM's tensor intrinsics: about a minute.
@pytest.mark.slow
def test_fp16_matmuls_are_fp16_on_tensor_cores_with_float32_edges():
    # Every matmul dimension above 64: what TVM's tensor-core matmul schedule asks for.
    kernels, mod = _scheduled(models.mlp(batch=96, width=96, layers=2), "fp16")
    matmuls = {n: f for n, f in kernels.items() if "matmul" in n}
    assert matmuls
    for name, func in matmuls.items():
        # Activations and weights in fp16 (weights stored so), and tensor-core fragments.
        assert _param_dtypes(func)[:2] == ["float16", "float16"], name
        assert "wmma.matrix_a" in func.script(), name
    signature_text = next(ln for ln in mod["main"].script().splitlines() if "def main" in ln)
    assert 'dtype="float16"' not in signature_text and 'dtype="float32"' in signature_text


def test_fp32_keeps_float32_matmuls():
    kernels, _ = _scheduled(models.mlp(batch=96, width=96, layers=2), "fp32")
    for name, func in kernels.items():
        assert "float16" not in _param_dtypes(func), name


def test_softmax_and_layer_norm_stay_float32():
    kernels, _ = _scheduled(models.transformer_block(), "fp16")
    sensitive = {n: f for n, f in kernels.items() if "softmax" in n or "layer_norm" in n}
    assert any("softmax" in n for n in sensitive) and any("layer_norm" in n for n in sensitive)
    for name, func in sensitive.items():
        assert _param_dtypes(func)[0] == "float32", name


def _matmul_norm_exp():
    """x @ w -> LayerNormalization -> Exp -> @ w: an fp16 matmul feeds the norm directly."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    consts = [
        numpy_helper.from_array(rng.standard_normal(s).astype("f4"), n)
        for n, s in (("w", (128, 128)), ("scale", (128,)), ("bias", (128,)))
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"]),
        helper.make_node("LayerNormalization", ["h", "scale", "bias"], ["n"], axis=-1),
        helper.make_node("Exp", ["n"], ["e"]),
        helper.make_node("MatMul", ["e", "w"], ["y"]),
    ]
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [128, 128]) for n in ("x", "y")]
    graph = helper.make_graph(nodes, "norm", io[:1], io[1:], consts)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_policy_keeps_norms_and_exp_float32_after_an_fp16_matmul():
    """TVM alone would run LayerNorm and Exp in fp16 here, following their fp16 input."""
    kernels, _ = _scheduled(_matmul_norm_exp(), "fp16")
    sensitive = {n: f for n, f in kernels.items() if "layer_norm" in n or "exp" in n}
    assert any("layer_norm" in n for n in sensitive) and any("exp" in n for n in sensitive)
    for name, func in sensitive.items():
        assert _param_dtypes(func)[0] == "float32", name


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
def test_cuda_fp16_artifact_records_its_precision(tmp_path):
    source = save_model(models.transformer_block(), tmp_path, "block")
    out = compile_model(
        source, "cuda-sm80", tmp_path / "block.so", CompileOptions(precision="FP16")
    )
    manifest = read_manifest(out)
    assert manifest["options"]["precision"] == "fp16"
    assert manifest["inputs"][0]["dtype"] == manifest["outputs"][0]["dtype"] == "float32"
    assert "precision fp16" in ember("inspect", str(out)).stdout


def test_fp32_is_the_default_and_recorded(tmp_path):
    source = save_model(models.mlp(), tmp_path, "mlp")
    manifest = json.loads(ember("inspect", str(compile_model(source)), "--json").stdout)
    assert manifest["options"]["precision"] == "fp32"


def _sapphire_rapids(tmp_path):
    """A target file for a CPU with AVX512-BF16 and AMX-BF16."""
    path = tmp_path / "spr.toml"
    path.write_text(
        'name = "spr"\ndescription = "Sapphire Rapids"\ndevice = "cpu"\narch = "x86_64"\n'
        '[tvm]\nkind = "llvm"\nmtriple = "x86_64-linux-gnu"\nmcpu = "sapphirerapids"\n'
    )
    return str(path)


@pytest.mark.parametrize(
    ("target", "precision", "needles"),
    [
        ("x86-avx2", "bf16", ["needs AVX512-BF16 or AMX-BF16", "x86-avx2 (haswell) has neither"]),
        ("x86-avx512", "bf16", ["(skylake-avx512) has neither", "emulated, slower than fp32"]),
        ("x86", "fp16", ["--precision fp16 needs a CUDA target"]),
        ("arm", "bf16", ["--precision bf16 needs a CUDA target", "aarch64"]),
        ("cuda-sm80", "bf16", ["bf16 is not supported yet on CUDA", "use --precision fp16"]),
        ("x86", "int8", ["int8 quantizes nothing by itself", "ember quantize"]),
        ("x86", "fp64", ["invalid --precision 'fp64'", "fp32, bf16, fp16, int8"]),
    ],
)
def test_precisions_a_target_cannot_run_are_one_line_errors(tmp_path, target, precision, needles):
    source = save_model(models.mlp(), tmp_path, "mlp")
    target = target.format(spr=_sapphire_rapids(tmp_path))
    proc = ember("compile", str(source), "--target", target, "--precision", precision)
    assert_one_line_error(proc, *needles)
    assert not (tmp_path / "mlp.so").exists()
    with pytest.raises(OptionError, match=needles[0].replace("(", r"\(").replace(")", r"\)")):
        compile_model(source, target, options=CompileOptions(precision=precision))


def test_bf16_compiles_for_a_cpu_with_bf16_from_any_machine(tmp_path):
    # Sapphire Rapids has AVX512-BF16 and AMX-BF16: the compile needs them on the target, not
    # on the compiling machine (the artifact then runs only where they are).
    source = save_model(models.mlp(), tmp_path, "mlp")
    out = compile_model(
        source, _sapphire_rapids(tmp_path), tmp_path / "mlp.so", CompileOptions(precision="bf16")
    )
    assert read_manifest(out)["options"]["precision"] == "bf16"


def test_bf16_without_onednn_is_one_line_error(tmp_path):
    source = save_model(models.mlp(), tmp_path, "mlp")
    target = _sapphire_rapids(tmp_path)
    proc = ember(
        "compile",
        str(source),
        "--target",
        target,
        "--precision",
        "bf16",
        env={"EMBER_ONEDNN": "0"},
    )
    assert_one_line_error(proc, "--precision bf16 on x86 runs in oneDNN", "EMBER_ONEDNN=0")
    assert not (tmp_path / "mlp.so").exists()
