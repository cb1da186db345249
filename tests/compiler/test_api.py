"""compile_model: where it writes, what the manifest says, and what a failure leaves."""

from __future__ import annotations

import onnx
import pytest
from onnx import TensorProto, helper

from ember.compiler.api import compile_model
from ember.compiler.examples import models
from ember.compiler.examples.decoder_model import kv_decoder
from ember.compiler.libraries import onednn
from ember.compiler.options import CompileOptions
from ember.errors import CompileError, OptionError, TargetError, UnsupportedModelError
from ember.runtime import read_manifest
from tests.conftest import save_model


def test_writes_next_to_the_model_by_default(tmp_path):
    source = save_model(models.mlp(), tmp_path, "mlp")
    out = compile_model(source)
    assert out == tmp_path / "mlp.so"
    manifest = read_manifest(out)
    assert manifest["target"]["name"] == "x86"
    assert manifest["model"]["opset"] == 17
    assert manifest["outputs"] == [{"name": "y", "shape": [8, 128], "dtype": "float32"}]
    # Every layer (matmul, bias, ReLU) runs in one oneDNN call: no generated kernel is left.
    assert {s["kernel"] for s in manifest["kernel_sources"]} <= {onednn.MATMUL_EPILOGUE}
    assert manifest["tuning"]["tasks_total"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp.onnx", "mlp.so"]


def test_dump_ir_writes_each_phase(tmp_path):
    source = save_model(models.transformer_block(), tmp_path, "block")
    compile_model(
        source,
        output=tmp_path / "out.so",
        options=CompileOptions(dump_ir=tmp_path / "ir", tuning_logs=False),
    )
    names = sorted(p.name for p in (tmp_path / "ir").iterdir())
    assert names == [
        "00_imported.py",
        "01_guard.py",
        "02_simplify.py",
        "03_dispatch.py",
        "04_legalize.py",
        "05_fuse.py",
        "06_schedule.py",
    ]
    assert "T.parallel" in (tmp_path / "ir" / "06_schedule.py").read_text()


def test_dump_ir_of_a_decoder_with_symbolic_lengths(tmp_path):
    # TVM's module printer fails on this model's lengths after the guard phase; each phase is
    # still written, function by function.
    source = tmp_path / "decoder.onnx"
    onnx.save(kv_decoder(), source)
    compile_model(
        source,
        output=tmp_path / "out.so",
        options=CompileOptions(dump_ir=tmp_path / "ir", tuning_logs=False),
    )
    names = sorted(p.name for p in (tmp_path / "ir").iterdir())
    assert len(names) == 7 and names[-1] == "06_schedule.py"
    assert "def main(" in (tmp_path / "ir" / "06_schedule.py").read_text()


def test_unsupported_nodes_are_all_listed(tmp_path):
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="ok"),
        helper.make_node("FancyOp", ["a"], ["b"], name="first", domain="com.example"),
        helper.make_node("OtherOp", ["b"], ["y"], name="second", domain="com.example"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)],
    )
    source = save_model(model, tmp_path, "custom")
    with pytest.raises(UnsupportedModelError) as err:
        compile_model(source)
    text = str(err.value)
    assert (
        "2 node(s)" in text
        and "'first' (FancyOp, opset 1)" in text
        and "'second' (OtherOp, opset 1)" in text
    )
    assert not (tmp_path / "custom.so").exists()


def test_failed_compile_leaves_nothing(tmp_path, monkeypatch):
    source = save_model(models.mlp(), tmp_path, "mlp")

    def explode(mod, target, output):
        output.write_bytes(b"half a library")  # what a build cut short leaves
        raise CompileError("linker died")

    monkeypatch.setattr("ember.compiler.api.build_library", explode)
    with pytest.raises(CompileError):
        compile_model(source, output=tmp_path / "mlp.so")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp.onnx"]


def test_bad_target_and_output(tmp_path):
    source = save_model(models.mlp(), tmp_path, "mlp")
    with pytest.raises(TargetError, match="unknown target 'gpu9'"):
        compile_model(source, target="gpu9")
    with pytest.raises(OptionError, match="does not exist"):
        compile_model(source, output=tmp_path / "missing" / "x.so")
    with pytest.raises(OptionError, match=r"must end in \.so"):
        compile_model(source, output=tmp_path / "model.bin")
