"""`ember verify` and `ember compile --verify` as a user runs them: figures, exit codes, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ember.compiler.examples import models
from tests.conftest import save_model
from tests.integration.test_cli import assert_one_line_error, ember
from tests.verify.models import gated_mlp

#: Runs the `ember` command with the Sigmoid converter skewed (see models.skewed_converters).
_SKEWED_EMBER = """
import sys
from ember.compiler.frontend import converters
from tests.verify.models import skewed_converters
converters.ember_converters = skewed_converters(converters.ember_converters)
from ember.cli.app import main
main(sys.argv[1:])
"""
_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("verify")
    source = save_model(gated_mlp(), folder, "gated")
    proc = ember("compile", str(source), "--verify")
    assert proc.returncode == 0, proc.stderr
    return source, folder / "gated.so"


def test_compile_verify_records_the_figures(gated):
    manifest = json.loads(ember("inspect", str(gated[1]), "--json").stdout)
    numerics = manifest["numerics"]
    assert numerics["passed"] is True
    assert (numerics["precision"], numerics["rtol"], numerics["atol"]) == ("fp32", 1e-4, 1e-6)
    assert numerics["inputs"] == "random, seed 0"
    [output] = numerics["outputs"]
    assert output["name"] == "y" and output["within_tolerance"] is True
    assert 0 <= output["max_rel_error"] <= 1e-4
    text = ember("inspect", str(gated[1])).stdout
    assert "numerics fp32, verified against ONNX Runtime" in text


def test_verify_prints_the_error_per_output_and_the_tolerance(gated):
    proc = ember("verify", *map(str, gated))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1].startswith("tolerance  rtol 0.0001, atol 1e-06 (fp32 default)")
    assert lines[2].startswith("output     y  max abs error ") and lines[2].endswith("  ok")
    assert lines[-1] == "fp32: all 1 outputs within tolerance"
    figures = json.loads(ember("verify", *map(str, gated), "--json", "--rtol", "1e-3").stdout)
    assert figures["passed"] is True and figures["rtol"] == 1e-3


def _skewed_ember(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _SKEWED_EMBER, *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=_ROOT,
        env={**os.environ, "PYTHONPATH": str(_ROOT), "COLUMNS": "200"},
    )


def test_verify_names_the_diverging_node_and_exits_3(tmp_path):
    source = save_model(gated_mlp(), tmp_path, "gated")
    compiled = _skewed_ember("compile", str(source))
    assert compiled.returncode == 0, compiled.stderr
    proc = _skewed_ember("verify", str(source), str(tmp_path / "gated.so"))
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    assert "  OUTSIDE TOLERANCE" in lines[2]
    assert lines[3].startswith("first diverging node 'gate' (Sigmoid), output 'g': max abs error")
    assert lines[-1] == "fp32: 1 of 1 outputs outside tolerance ('y')"
    assert "searching 8 nodes for the first that diverges" in proc.stderr


def test_compile_verify_outside_tolerance_is_one_error_line(tmp_path):
    source = save_model(gated_mlp(), tmp_path, "gated")
    proc = _skewed_ember("compile", str(source), "--verify")
    assert_one_line_error(
        proc, "verification failed", "first diverging node 'gate' (Sigmoid)", "no artifact written"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gated.onnx"]


@pytest.fixture(scope="module")
def symbolic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("symbolic")
    source = save_model(gated_mlp(batch="batch"), folder, "symbolic")
    proc = ember("compile", str(source))
    assert proc.returncode == 0, proc.stderr
    return source, folder / "symbolic.so"


def test_symbolic_dimensions_verify_on_given_inputs(symbolic, tmp_path):
    x = np.random.default_rng(5).standard_normal((3, 32)).astype(np.float32)
    np.savez(tmp_path / "in.npz", x=x)
    proc = ember("verify", *map(str, symbolic), "--inputs", str(tmp_path / "in.npz"))
    assert proc.returncode == 0, proc.stderr
    assert "inputs: in.npz" in proc.stdout


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["{symbolic}", "{symbolic_so}"], ["input 'x' has symbolic dimension 'batch'", "--inputs"]),
        (["{gated}", "{gated_so}", "--inputs", "{wrong_name}"], ["unknown input 'image'"]),
        (["{gated}", "{gated_so}", "--inputs", "{wrong_shape}"], ["has shape 4x16", "takes 4x32"]),
        (["{gated}", "{gated_so}", "--inputs", "{wrong_dtype}"], ["'x' is float64", "float32"]),
        (["{gated}", "{gated_so}", "--inputs", "{missing}"], ["missing.npz", "does not exist"]),
        (["{gated}", "{symbolic_so}"], ["was not compiled from", "gated.onnx"]),
        (["{other}", "{gated_so}"], ["was not compiled from", "other.onnx"]),
        (["{gated}", "missing.so"], ["missing.so"]),
        (["missing.onnx", "{gated_so}"], ["missing.onnx", "does not exist"]),
        (["{gated}", "{gated_so}", "--rtol", "-1"], ["invalid --rtol -1"]),
    ],
)
def test_bad_input_gives_one_line_error(gated, symbolic, tmp_path, args, needles):
    x = np.zeros((4, 32), np.float32)
    np.savez(tmp_path / "name.npz", image=x)
    np.savez(tmp_path / "shape.npz", x=x[:, :16])
    np.savez(tmp_path / "dtype.npz", x=x.astype(np.float64))
    files = {
        "gated": gated[0],
        "gated_so": gated[1],
        "symbolic": symbolic[0],
        "symbolic_so": symbolic[1],
        "other": save_model(models.mlp(), tmp_path, "other"),
        "wrong_name": tmp_path / "name.npz",
        "wrong_shape": tmp_path / "shape.npz",
        "wrong_dtype": tmp_path / "dtype.npz",
        "missing": tmp_path / "missing.npz",
    }
    proc = ember("verify", *(a.format(**files) for a in args))
    assert_one_line_error(proc, *needles)


def test_compile_verify_needs_fixed_shapes(symbolic, tmp_path):
    out = tmp_path / "symbolic.so"
    proc = ember("compile", str(symbolic[0]), "--verify", "-o", str(out))
    assert_one_line_error(proc, "input 'x' has symbolic dimension 'batch'", "--input-shape")
    assert not out.exists() and list(tmp_path.iterdir()) == []
