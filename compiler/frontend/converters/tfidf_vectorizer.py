"""ONNX `TfIdfVectorizer` over integer tokens: n-gram counts as comparisons and sums.

The pool is known at import time, so each pooled n-gram becomes a constant compared with
every window of the (static-length) input: a gram of length n with skip distance d starts
at i and reads x[i], x[i+d], ..., x[i+(n-1)d]. As in ONNX's reference, unigrams are counted
once and longer grams once per skip distance 1 .. max_skip_count+1. A constant one-hot
matrix adds each gram's count into its `ngram_indexes` slot; `mode` then weights the counts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tvm import relax
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from ember.errors import UnsupportedModelError

from .common import dtype_of, static_shape, text

op = relax.op


def _pool_by_length(attr: dict[str, Any]) -> dict[int, tuple[np.ndarray, list[int]]]:
    """Gram length -> (grams (K, n), their pool positions), for lengths in the range."""
    pool = [int(v) for v in attr.get("pool_int64s", ())]
    starts = [int(v) for v in attr.get("ngram_counts", ())]
    low, high = int(attr.get("min_gram_length", 1)), int(attr.get("max_gram_length", 1))
    grams: dict[int, tuple[np.ndarray, list[int]]] = {}
    first_id = 0
    for size, start in enumerate(starts, start=1):
        end = starts[size] if size < len(starts) else len(pool)
        count = (end - start) // size
        if count > 0 and low <= size <= high:
            block = np.array(pool[start : start + count * size], np.int64).reshape(count, size)
            grams[size] = (block, list(range(first_id, first_id + count)))
        first_id += max(count, 0)
    return grams


def _skip_distances(size: int, attr: dict[str, Any]) -> range:
    if size == 1:
        return range(1, 2)  # a unigram is the same token at every skip distance
    return range(1, int(attr.get("max_skip_count", 0)) + 2)


def _counts(bb: Any, x: Any, grams: np.ndarray, distance: int, length: int) -> Any | None:
    """(B, K) occurrences of each gram (K, n) at one skip distance, or None if none fit."""
    size = grams.shape[1]
    starts = length - (size - 1) * distance
    if starts <= 0:
        return None
    match = None
    for j in range(size):
        window = op.strided_slice(x, [1], [j * distance], [j * distance + starts])
        column = relax.const(grams[:, j].reshape(1, -1, 1).astype(dtype_of(x)))
        equal = bb.emit(op.equal(op.expand_dims(window, 1), column))
        match = equal if match is None else bb.emit(op.logical_and(match, equal))
    return bb.emit(op.sum(op.astype(match, "float32"), axis=[2]))


class TfIdfVectorizer(OnnxOpConverter):
    """Y: float32 (C-output) or (B, C-output) n-gram statistics."""

    @classmethod
    def _impl_v9(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        if "pool_strings" in attr:
            raise UnsupportedModelError("TfIdfVectorizer over strings is not supported")
        shape = static_shape(inputs[0], "TfIdfVectorizer input")
        if len(shape) not in (1, 2):
            raise UnsupportedModelError("TfIdfVectorizer input must be rank 1 or 2")
        x = inputs[0] if len(shape) == 2 else bb.emit(op.expand_dims(inputs[0], 0))
        slots = [int(v) for v in attr["ngram_indexes"]]
        width = max(slots) + 1
        total = relax.const(np.zeros((1, width), np.float32))
        for size, (grams, ids) in _pool_by_length(attr).items():
            scatter = np.zeros((len(ids), width), np.float32)
            scatter[np.arange(len(ids)), [slots[i] for i in ids]] = 1.0
            for distance in _skip_distances(size, attr):
                counts = _counts(bb, x, grams, distance, shape[-1])
                if counts is not None:
                    total = bb.emit(op.add(total, op.matmul(counts, relax.const(scatter))))
        y = _weigh(bb, total, attr, slots, width)
        return y if len(shape) == 2 else op.squeeze(y, [0])


def _weigh(bb: Any, counts: Any, attr: dict[str, Any], slots: list[int], width: int) -> Any:
    """Apply `mode`; weight i belongs to the i-th pooled gram (the spec, and ONNX Runtime)."""
    mode = text(attr.get("mode", b"TF"))
    weights = [float(w) for w in attr.get("weights", ())] or [1.0] * len(slots)
    per_slot = np.zeros(width, np.float32)
    per_slot[slots] = weights
    scale = relax.const(per_slot)
    if mode == "TF":
        return counts
    if mode == "IDF":
        present = op.astype(op.greater(counts, relax.const(0.0, "float32")), "float32")
        return bb.emit(op.multiply(present, scale))
    if mode == "TFIDF":
        return bb.emit(op.multiply(counts, scale))
    raise UnsupportedModelError(f"TfIdfVectorizer mode '{mode}' is not supported")
