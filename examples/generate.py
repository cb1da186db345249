"""Greedy text generation with a key/value-cache decoder compiled once by Ember.

    python examples/generate.py [decoder.onnx] [--tokens 32]

The decoder takes `input_ids` [1, seq] and `past_k`/`past_v` [layers, 1, kv_heads, past,
head_dim] with symbolic `seq` and `past`, and returns logits and the grown caches (the layout
of `torch.onnx.export(dynamo=True)` of a Llama-style model; without a file, Ember's built-in
test decoder is used). One artifact runs the prefill (past = 0) and every decode step: the
caches a step returns are the next step's inputs.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

import ember

Step = Callable[[dict[str, np.ndarray]], list[np.ndarray]]


def generate(step: Step, prompt: np.ndarray, cache: tuple[int, ...], tokens: int) -> list[int]:
    """`tokens` greedy tokens after `prompt` ([1, n] int64); `step` runs the decoder once.

    `cache` is the caches' shape; its length (axis 3) starts at 0.
    """
    empty = np.zeros((*cache[:3], 0, cache[4]), np.float32)
    feed = {"input_ids": prompt, "past_k": empty, "past_v": empty}
    out: list[int] = []
    for _ in range(tokens):
        logits, past_k, past_v = step(feed)
        token = int(logits[0, -1].argmax())
        out.append(token)
        feed = {"input_ids": np.array([[token]], np.int64), "past_k": past_k, "past_v": past_v}
    return out


def cache_shape(model: ember.Model) -> tuple[int, ...]:
    """`past_k`'s shape with its symbolic length as 0."""
    return tuple(d if isinstance(d, int) else 0 for d in model.inputs[1].shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", type=Path, help="decoder .onnx (default: built-in)")
    parser.add_argument("--tokens", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        source = args.model
        if source is None:
            import onnx

            from ember.compiler.examples.decoder_model import kv_decoder

            source = Path(folder) / "decoder.onnx"
            onnx.save(kv_decoder(), source)
        model = ember.load(ember.compile(source, target="x86", output=Path(folder) / "d.so"))
        prompt = np.arange(1, 17, dtype=np.int64).reshape(1, -1)
        print(generate(model.run, prompt, cache_shape(model), args.tokens))


if __name__ == "__main__":
    main()
