"""TfIdfVectorizer over integer tokens against ONNX Runtime: modes, skips, 1-D and 2-D."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import ember
from ember.compiler.api import compile_model
from ember.compiler.examples.reference import ort_outputs


def tfidf_model(shape: list[int], **attrs: object) -> onnx.ModelProto:
    node = helper.make_node("TfIdfVectorizer", ["X"], ["Y"], **attrs)
    graph = helper.make_graph(
        [node],
        "tfidf",
        [helper.make_tensor_value_info("X", TensorProto.INT32, shape)],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None] * len(shape))],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("mode", ["TF", "IDF", "TFIDF"])
@pytest.mark.parametrize("shape", [[12], [2, 6]])
def test_uni_and_bigrams_with_skips_and_weights(tmp_path, mode, shape):
    model = tfidf_model(
        shape,
        mode=mode,
        min_gram_length=1,
        max_gram_length=2,
        max_skip_count=2,
        ngram_counts=[0, 3],
        pool_int64s=[2, 3, 5, 2, 3, 3, 5, 5, 2],  # unigrams 2 3 5; bigrams 23 35 52
        ngram_indexes=[5, 0, 3, 1, 4, 2],
        weights=[0.5, 1.5, 2.0, 0.25, 3.0, 1.0],
    )
    x = np.random.default_rng(0).choice([2, 3, 5, 7], size=shape).astype(np.int32)
    source = tmp_path / "tfidf.onnx"
    onnx.save(model, source)
    got = ember.load(compile_model(source, "x86", tmp_path / "tfidf.so")).run({"X": x})
    (want,) = ort_outputs(str(source), {"X": x})
    assert got[0].shape == want.shape
    np.testing.assert_allclose(got[0], want, rtol=1e-6)
