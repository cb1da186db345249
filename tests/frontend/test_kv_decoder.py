"""A decoder with a key/value cache compiles once with symbolic lengths and runs every length.

The model (`ember.compiler.decoder_model`) has the shape arithmetic of PyTorch's dynamo
export: lengths squeezed to scalars and added, `Range` positions, `Expand` and `Reshape` to
shapes built from them. One artifact serves the prefill (past = 0) and every decode step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

import ember
from ember.compiler.api import compile_model
from ember.compiler.decoder_model import DecoderShape, empty_cache, kv_decoder
from ember.compiler.reference import ort_session, relative_error
from ember.errors import InputError

SHAPE = DecoderShape()


@pytest.fixture(scope="module")
def decoder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("decoder")
    source = folder / "decoder.onnx"
    onnx.save(kv_decoder(SHAPE), source)
    return source, compile_model(source, "x86", folder / "decoder.so")


def test_lengths_stay_symbolic_in_the_artifact(decoder: tuple[Path, Path]) -> None:
    model = ember.load(decoder[1])
    assert [i.shape for i in model.inputs] == [
        (1, "seq"),
        (SHAPE.layers, 1, SHAPE.kv_heads, "past", SHAPE.head_dim),
        (SHAPE.layers, 1, SHAPE.kv_heads, "past", SHAPE.head_dim),
    ]
    assert model.outputs[1].shape == (
        SHAPE.layers,
        1,
        SHAPE.kv_heads,
        "past + seq",
        SHAPE.head_dim,
    )


def test_prefill_and_decode_steps_match_onnxruntime(decoder: tuple[Path, Path]) -> None:
    """Prefill 16 tokens (past = 0), then 8 greedy steps, each within 1e-4 of ONNX Runtime."""
    source, artifact = decoder
    model = ember.load(artifact, threads=2)
    reference = ort_session(str(source))
    ids = np.random.default_rng(0).integers(0, SHAPE.vocab, (1, 16)).astype(np.int64)
    past_k = past_v = empty_cache(SHAPE)
    for step in range(9):
        feed = {"input_ids": ids, "past_k": past_k, "past_v": past_v}
        got, want = model.run(feed), reference.run(None, feed)
        for name, g, w in zip(("logits", "present_k", "present_v"), got, want, strict=True):
            assert g.shape == w.shape, (step, name)
            assert relative_error(g, w) <= 1e-4, (step, name)
        assert got[1].shape[3] == 16 + step
        ids = got[0][:, -1:].argmax(-1).astype(np.int64)
        past_k, past_v = got[1], got[2]


def test_cache_lengths_that_differ_are_one_input_error(decoder: tuple[Path, Path]) -> None:
    model = ember.load(decoder[1])
    cache = (SHAPE.layers, 1, SHAPE.kv_heads)
    feed = {
        "input_ids": np.zeros((1, 1), np.int64),
        "past_k": np.zeros((*cache, 3, SHAPE.head_dim), np.float32),
        "past_v": np.zeros((*cache, 4, SHAPE.head_dim), np.float32),
    }
    with pytest.raises(InputError) as err:
        model.run(feed)
    assert str(err.value) == (
        "input 'past_v': dimension 3 ('past') is 4 but dimension 3 of input 'past_k' set it to 3"
    )
