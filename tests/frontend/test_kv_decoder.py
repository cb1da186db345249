"""A decoder with a key/value cache compiles once with symbolic lengths and runs every length.

The model (`ember.compiler.examples.decoder_model`) has the shape arithmetic of PyTorch's dynamo
export: lengths squeezed to scalars and added, `Range` positions, `Expand` and `Reshape` to
shapes built from them. One artifact serves the prefill (past = 0) and every decode step.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

import ember
from ember.compiler.api import compile_model
from ember.compiler.examples.decoder_model import DecoderShape, kv_decoder
from ember.compiler.examples.reference import ort_session, relative_error
from ember.errors import InputError
from tests.conftest import generation_example
from tests.integration.test_cli import assert_one_line_error
from tests.integration.test_cli import ember as ember_cli

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


def test_greedy_generation_of_32_tokens_matches_onnxruntime(decoder: tuple[Path, Path]) -> None:
    """Prefill 16 tokens (past = 0), then 32 steps feeding the caches back; every step's
    logits and caches within 1e-4 (relative) of ONNX Runtime's, the same tokens."""
    source, artifact = decoder
    example = generation_example()
    model = ember.load(artifact, threads=2)
    reference = ort_session(str(source))
    steps: list[tuple[list[np.ndarray], list[np.ndarray]]] = []

    def both(feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        got = model.run(feed)
        steps.append((got, reference.run(None, feed)))
        return got

    prompt = np.random.default_rng(0).integers(0, SHAPE.vocab, (1, 16)).astype(np.int64)
    cache = example.cache_shape(model)
    tokens = example.generate(both, prompt, cache, 32)
    assert tokens == example.generate(lambda f: reference.run(None, f), prompt, cache, 32)
    assert steps[-1][0][1].shape[3] == 16 + 31
    for index, (got, want) in enumerate(steps):
        for name, g, w in zip(("logits", "present_k", "present_v"), got, want, strict=True):
            assert g.shape == w.shape, (index, name)
            assert relative_error(g, w) <= 1e-4, (index, name)


def test_bench_times_a_chosen_context_length(decoder: tuple[Path, Path]) -> None:
    cache = f"{SHAPE.layers}x1x{SHAPE.kv_heads}x31x{SHAPE.head_dim}"
    args = ["bench", str(decoder[1]), "--blocks", "1", "--runs", "2", "--json"]
    proc = ember_cli(*args, "--shape", f"past_k={cache}")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ember"]["runs"] == 2
    wrong = ember_cli(*args, "--shape", "past_k=1x2")
    assert_one_line_error(wrong, "--shape past_k: 2 dimensions given, the input has 5")


def test_profile_times_a_chosen_context_length(decoder: tuple[Path, Path]) -> None:
    cache = f"{SHAPE.layers}x1x{SHAPE.kv_heads}x31x{SHAPE.head_dim}"
    args = ["profile", str(decoder[1]), "--runs", "2", "--json"]
    proc = ember_cli(*args, "--shape", f"past_k={cache}", "--shape", "input_ids=1x1")
    assert proc.returncode == 0, proc.stderr
    nodes = {node for row in json.loads(proc.stdout) for node in row["nodes"]}
    assert {"logits", "l0.scores"} <= nodes
    wrong = ember_cli(*args, "--shape", f"past_k={cache}", "--shape", "past_v=1x1x1x1x1")
    assert_one_line_error(wrong, "--shape past_v: dimension 0 is fixed at")
    cache_array = np.zeros((SHAPE.layers, 1, SHAPE.kv_heads, 3, SHAPE.head_dim), np.float32)
    inputs = decoder[1].parent / "int32_ids.npz"
    np.savez(inputs, input_ids=np.zeros((1, 2), np.int32), past_k=cache_array, past_v=cache_array)
    wrong = ember_cli("profile", str(decoder[1]), "--inputs", str(inputs))
    assert_one_line_error(wrong, "input 'input_ids' is int32, the model takes int64")


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
