"""Input signatures and --input-shape overrides."""

from __future__ import annotations

import pytest

from ember.compiler.examples import models
from ember.compiler.frontend.signature import apply_shapes, graph_inputs
from ember.compiler.options import parse_input_shape, parse_input_shapes
from ember.errors import OptionError


def test_graph_inputs_skip_initializers_and_keep_symbols():
    (spec,) = graph_inputs(models.small_cnn(batch="N"))
    assert (spec.name, spec.shape, spec.dtype) == ("input", ("N", 3, 32, 32), "float32")


def test_parse_input_shape():
    assert parse_input_shape("input=1x3x224x224") == ("input", (1, 3, 224, 224))
    assert parse_input_shape("a.b:0=7") == ("a.b:0", (7,))
    for bad in ("input", "input=", "input=1x", "input=axb", "=1x2", "input=0x3"):
        with pytest.raises(OptionError, match="--input-shape"):
            parse_input_shape(bad)
    with pytest.raises(OptionError, match="twice"):
        parse_input_shapes(["x=1", "x=2"])


def test_apply_shapes_pins_symbols():
    (spec,) = apply_shapes(graph_inputs(models.small_cnn(batch="N")), {"input": (4, 3, 32, 32)})
    assert spec.shape == (4, 3, 32, 32)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"image": (1, 3, 32, 32)}, "unknown input 'image' (inputs: 'input')"),
        ({"input": (1, 3, 32)}, "has 3 dimensions, the model's input has 4 (Nx3x32x32)"),
        ({"input": (1, 4, 32, 32)}, "dimension 1 is fixed to 3 in the model, got 4"),
    ],
)
def test_apply_shapes_errors_name_the_input(overrides, message):
    with pytest.raises(OptionError) as err:
        apply_shapes(graph_inputs(models.small_cnn(batch="N")), overrides)
    assert message in str(err.value)
