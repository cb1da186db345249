"""Ember against ONNX Runtime over real architectures from `transformers`, as users bring them.

    python benchmarks/architectures.py [--models vit,wav2vec2] [--blocks 5] [--runs 5]

Each model is built from its `transformers` config class with random weights (nothing is
downloaded), exported to ONNX (opset 17, cached in ~/.cache/ember/architectures), compiled
with the default target and no records of the user's own, checked against ONNX Runtime, and
timed interleaved with it, 2 threads each. Prints one row per model as it finishes, then the
geometric mean of ONNX Runtime / Ember and the models below 0.8.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import transformers as tf

import ember
from ember.compiler.examples.reference import ort_session, relative_error
from ember.timing import interleaved

THREADS = 2
CACHE = Path.home() / ".cache" / "ember" / "architectures"


@dataclass
class Arch:
    """A model to build and the input it takes."""

    name: str
    build: Callable[[], torch.nn.Module]
    inputs: dict[str, tuple[tuple[int, ...], torch.dtype]]


def _image(size: int = 224, channels: int = 3) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    return {"pixel_values": ((1, channels, size, size), torch.float32)}


def _tokens(length: int = 128) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    return {"input_ids": ((1, length), torch.int64)}


class FirstOutput(torch.nn.Module):
    """The model's first output (the last hidden state), as one tensor."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *args: torch.Tensor) -> torch.Tensor:  # noqa: D102
        out = self.model(*args)
        return out[0] if isinstance(out, tuple | list) else out.to_tuple()[0]


def _llama() -> torch.nn.Module:
    config = tf.LlamaConfig(
        hidden_size=768,
        intermediate_size=2048,
        num_hidden_layers=12,
        num_attention_heads=12,
        num_key_value_heads=4,
        vocab_size=32000,
        # The default (PyTorch's SDPA with grouped key/value heads) has no ONNX export.
        attn_implementation="eager",
    )
    return tf.LlamaModel(config)


ARCHITECTURES = [
    Arch("vit", lambda: tf.ViTModel(tf.ViTConfig()), _image()),
    Arch("clip_vision", lambda: tf.CLIPVisionModel(tf.CLIPVisionConfig()), _image()),
    Arch("convnext", lambda: tf.ConvNextModel(tf.ConvNextConfig()), _image()),
    Arch("regnet", lambda: tf.RegNetModel(tf.RegNetConfig()), _image()),
    Arch("resnet", lambda: tf.ResNetModel(tf.ResNetConfig()), _image()),
    Arch("mobilevit", lambda: tf.MobileViTModel(tf.MobileViTConfig()), _image(256)),
    Arch("efficientnet", lambda: tf.EfficientNetModel(tf.EfficientNetConfig()), _image(600)),
    Arch("segformer", lambda: tf.SegformerModel(tf.SegformerConfig()), _image(512)),
    Arch("bert", lambda: tf.BertModel(tf.BertConfig()), _tokens()),
    Arch("distilbert", lambda: tf.DistilBertModel(tf.DistilBertConfig()), _tokens()),
    Arch("roberta", lambda: tf.RobertaModel(tf.RobertaConfig()), _tokens()),
    Arch("t5_encoder", lambda: tf.T5EncoderModel(tf.T5Config()), _tokens()),
    Arch("llama", _llama, _tokens()),
    Arch(
        "whisper_encoder",
        lambda: tf.WhisperModel(tf.WhisperConfig()).get_encoder(),
        {"input_features": ((1, 80, 3000), torch.float32)},
    ),
    Arch(
        "wav2vec2",
        lambda: tf.Wav2Vec2Model(tf.Wav2Vec2Config()),
        {"input_values": ((1, 16000), torch.float32)},
    ),
]


def example_inputs(arch: Arch) -> dict[str, np.ndarray]:
    """Seeded inputs: token ids below 1000, standard-normal values otherwise."""
    gen = torch.Generator().manual_seed(0)
    values = {}
    for name, (shape, dtype) in arch.inputs.items():
        if dtype == torch.int64:
            values[name] = torch.randint(0, 1000, shape, generator=gen).numpy()
        else:
            values[name] = torch.randn(shape, generator=gen).numpy()
    return values


def settle_batch_norms(model: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
    """Give convolutional nets the activation scales of trained ones.

    `transformers` initialises convolutions with std 0.02 and BatchNorm with statistics
    mean 0, variance 1 (in some models with near-zero scales too): through EfficientNet or
    MobileViT the activations then shrink to denormals or exact zeros (BatchNorm's eps dwarfs
    their variance), and a comparison of such outputs says nothing. Convolutions get PyTorch's
    fan-in initialisation and BatchNorm the statistics of the activations it sees, as training
    would give it.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    for conv in model.modules():
        if isinstance(conv, torch.nn.modules.conv._ConvNd):
            conv.reset_parameters()
    for norm in norms:
        norm.reset_parameters()  # unit scale, zero shift, fresh statistics
        norm.momentum = None  # a cumulative average over the passes below
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(*args)
    model.eval()


def export(arch: Arch) -> Path:
    """Write `<cache>/<name>.onnx` unless it exists; return its path."""
    path = CACHE / f"{arch.name}.onnx"
    if path.exists():
        return path
    torch.manual_seed(0)
    model = FirstOutput(arch.build().eval())
    CACHE.mkdir(parents=True, exist_ok=True)
    args = tuple(torch.from_numpy(v) for v in example_inputs(arch).values())
    settle_batch_norms(model, args)
    with torch.no_grad():
        torch.onnx.export(
            model,
            args,
            str(path),
            input_names=list(arch.inputs),
            output_names=["output"],
            opset_version=17,
            dynamo=False,
        )
    return path


def measure(arch: Arch, blocks: int, runs: int) -> str:
    """One table row: compile, check against ONNX Runtime, time both interleaved."""
    source = export(arch)
    start = time.perf_counter()
    artifact = ember.compile(source, output=CACHE / f"{arch.name}.so")
    compile_s = time.perf_counter() - start
    model = ember.load(artifact, threads=THREADS)
    session = ort_session(str(source), threads=THREADS)
    feed = example_inputs(arch)
    reference = session.run(None, feed)[0]
    if not np.abs(reference).max() > 1e-6:
        raise ValueError("the reference output is all (near) zero: the comparison is void")
    error = relative_error(model.run(feed)[0], reference)
    ember_lat, ort_lat = interleaved(
        [lambda: model.run(feed), lambda: session.run(None, feed)], blocks, runs
    )
    em, op = float(np.median(ember_lat.samples)), float(np.median(ort_lat.samples))
    return f"| {arch.name} | {em:.2f} | {op:.2f} | {op / em:.2f} | {compile_s:.0f} | {error:.1e} |"


def main() -> None:
    """Run the sweep and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated names (default: all)")
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    chosen = set(args.models.split(",")) if args.models else None
    print(f"{platform.processor() or platform.machine()} · {THREADS} threads · target x86\n")
    print("| model | Ember ms | ORT ms | ORT/Ember | compile s | rel. error |")
    print("|---|---|---|---|---|---|", flush=True)
    ratios = {}
    for arch in ARCHITECTURES:
        if chosen and arch.name not in chosen:
            continue
        try:
            row = measure(arch, args.blocks, args.runs)
        except Exception as err:  # one model's failure is a row, not the end of the sweep
            print(f"| {arch.name} | failed: {type(err).__name__}: {str(err)[:120]} | | | | |")
            traceback.print_exc(file=sys.stderr)
            continue
        ratios[arch.name] = float(row.split("|")[4])
        print(row, flush=True)
    if ratios:
        geomean = float(np.exp(np.mean(np.log(list(ratios.values())))))
        slow = sorted(name for name, r in ratios.items() if r < 0.8)
        print(f"\nGeometric mean ORT/Ember over {len(ratios)}: {geomean:.2f}; below 0.8: {slow}")


if __name__ == "__main__":
    main()
