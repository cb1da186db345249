"""`ember.verify` in-process: a node made to diverge on purpose is the one it names."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.compiler.frontend import converters
from ember.errors import VerificationError
from tests.conftest import save_model
from tests.verify.models import GATE, SKEW, gated_mlp, skewed_converters


@pytest.fixture
def skewed(monkeypatch):
    """Every compile in this test gets the skewed Sigmoid, the artifact and the probes alike."""
    monkeypatch.setattr(
        converters, "ember_converters", skewed_converters(converters.ember_converters)
    )


def test_verify_names_the_node_made_to_diverge(tmp_path, skewed):
    source = save_model(gated_mlp(), tmp_path, "gated")
    artifact = ember.compile(source, output=tmp_path / "gated.so")
    lines: list[str] = []
    result = ember.verify(source, artifact, say=lines.append)
    assert not result.passed
    assert result.outputs[0].name == "y"
    node = result.first_divergent
    assert node is not None
    assert (node.name, node.op_type, node.error.name) == (*GATE, "g")
    # The skew is relative: the gate's output is off by (SKEW - 1) of its largest value.
    assert node.error.max_rel == pytest.approx(SKEW - 1, rel=0.05)
    # Bisection: fewer probes than the gate's 7 ancestors, each one reported.
    assert 1 <= result.probes < 7 and result.unprobed == []
    assert any("'gate' (Sigmoid)" in line and "diverges" in line for line in lines)
    figures = result.as_dict()["first_divergent_node"]
    assert figures["name"] == "gate" and figures["op_type"] == "Sigmoid"


def test_compile_verify_writes_nothing_outside_tolerance(tmp_path, skewed):
    source = save_model(gated_mlp(), tmp_path, "gated")
    with pytest.raises(VerificationError, match=r"first diverging node 'gate' \(Sigmoid\)"):
        ember.compile(source, output=tmp_path / "gated.so", verify=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gated.onnx"]


def test_verify_within_tolerance_searches_nothing(tmp_path):
    source = save_model(gated_mlp(), tmp_path, "gated")
    artifact = ember.compile(source, output=tmp_path / "gated.so")
    x = np.random.default_rng(1).standard_normal((4, 32)).astype(np.float32)
    result = ember.verify(source, artifact, inputs={"x": x})
    assert result.passed and result.first_divergent is None and result.probes == 0
    assert result.inputs == "given"
    assert result.outputs[0].max_rel <= 1e-4
    assert (result.tolerance.rtol, result.tolerance.atol) == (1e-4, 1e-6)


def test_a_tolerance_tighter_than_the_error_fails(tmp_path, skewed):
    """The same skew passes a tolerance wider than it: the tolerance decides, not the skew."""
    source = save_model(gated_mlp(), tmp_path, "gated")
    artifact = ember.compile(source, output=tmp_path / "gated.so")
    loose = ember.verify(source, artifact, rtol=0.1)
    assert loose.passed and loose.tolerance.source == "given, the other fp32 default"
    assert loose.outputs[0].max_rel < 0.1
