"""What the run-time guards cost: a BERT-style embedding (two run-time Gathers) + encoder block.

    python benchmarks/guard_cost.py [--seq 128] [--dim 256] [--blocks 10] [--runs 20]

Compiles the same model with and without the `guard` phase (`compiler/passes/insert_guards.py`)
and times both, interleaved in blocks, on the same inputs; prints compile times and latency
medians. The batch dimension is symbolic, as in a served model.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import tvm
from onnx import TensorProto, helper, numpy_helper

import ember
from ember.compiler.api import compile_model
from ember.compiler.examples import models
from ember.compiler.passes import pipeline
from ember.timing import interleaved

VOCAB = 30522


def embedding_encoder(seq: int, dim: int) -> onnx.ModelProto:
    """input_ids, token_type_ids [batch, seq] -> word + type embeddings -> encoder block."""
    model = models.transformer_block(batch="batch", seq=seq, dim=dim, heads=4)
    rng = np.random.default_rng(0)
    graph = model.graph
    for name, rows in (("word_emb", VOCAB), ("type_emb", 2)):
        data = (rng.standard_normal((rows, dim)) * 0.1).astype(np.float32)
        graph.initializer.append(numpy_helper.from_array(data, name))
    nodes = [
        helper.make_node("Gather", ["word_emb", "input_ids"], ["words"], name="words"),
        helper.make_node("Gather", ["type_emb", "token_type_ids"], ["types"], name="types"),
        helper.make_node("Add", ["words", "types"], ["hidden"], name="embed"),
    ]
    for node in reversed(nodes):
        graph.node.insert(0, node)
    del graph.input[:]
    for name in ("input_ids", "token_type_ids"):
        graph.input.append(helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", seq]))
    return model


def _unguarded() -> object:
    """Swap the guard pass for an identity while compiling."""

    @tvm.transform.module_pass(opt_level=0, name="Identity")
    def identity(mod: tvm.IRModule, _ctx: object) -> tvm.IRModule:
        return mod

    original = pipeline.insert_guards
    pipeline.insert_guards = identity
    return original


def main() -> None:
    """Compile both variants, check they agree, time them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    source = folder / "embed.onnx"
    onnx.save(embedding_encoder(args.seq, args.dim), source)
    compile_s = {}
    for label in ("guarded", "unguarded"):
        original = _unguarded() if label == "unguarded" else None
        start = time.perf_counter()
        compile_model(source, "x86", folder / f"{label}.so")
        compile_s[label] = time.perf_counter() - start
        if original is not None:
            pipeline.insert_guards = original
    rng = np.random.default_rng(1)
    shape = (args.batch, args.seq)
    feed = {
        "input_ids": rng.integers(0, VOCAB, shape),
        "token_type_ids": rng.integers(0, 2, shape),
    }
    loaded = {k: ember.load(folder / f"{k}.so") for k in compile_s}
    outs = {k: m.run(feed)[0] for k, m in loaded.items()}
    assert np.array_equal(outs["guarded"], outs["unguarded"])
    runners = [lambda m=m: m.run(feed) for m in loaded.values()]
    latencies = interleaved(runners, blocks=args.blocks, runs_per_block=args.runs)
    for (label, seconds), latency in zip(compile_s.items(), latencies, strict=True):
        print(f"{label:10s} compile {seconds:6.2f} s   run median {latency.median:.3f} ms")


if __name__ == "__main__":
    main()
