"""DeformConv against ONNX Runtime: groups, offset groups, mask, bias, strides, padding."""

from __future__ import annotations

import numpy as np
import pytest

from tests.frontend.single_node import assert_matches_ort, one_node_model


def out_size(size: int, kernel: int, pad: int, stride: int, dilation: int) -> int:
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


@pytest.mark.parametrize(
    ("groups", "offset_groups", "stride", "pad", "dilation", "masked"),
    [(1, 1, 1, 0, 1, False), (2, 2, 2, 1, 1, True), (1, 2, 1, 1, 2, True)],
)
def test_deform_conv(tmp_path, groups, offset_groups, stride, pad, dilation, masked):
    rng = np.random.default_rng(0)
    n, c, h, w, oc, k = 2, 4, 7, 6, 6, 3
    oh, ow = (out_size(s, k, pad, stride, dilation) for s in (h, w))
    # Node inputs in order X, W, offset, B, mask; offsets of up to 2 pixels move taps
    # across pixel borders and off the image.
    feed = {
        "x": rng.standard_normal([n, c, h, w]).astype(np.float32),
        "w": rng.standard_normal([oc, c // groups, k, k]).astype(np.float32),
        "offset": rng.uniform(-2, 2, [n, offset_groups * k * k * 2, oh, ow]).astype(np.float32),
        "b": rng.standard_normal([oc]).astype(np.float32),
    }
    if masked:
        feed["mask"] = rng.uniform(0, 1, [n, offset_groups * k * k, oh, ow]).astype(np.float32)
    model = one_node_model(
        "DeformConv",
        feed,
        ["y"],
        19,
        group=groups,
        offset_group=offset_groups,
        strides=[stride] * 2,
        pads=[pad] * 4,
        dilations=[dilation] * 2,
    )
    assert_matches_ort(tmp_path, model, feed, rtol=1e-4, atol=1e-4)
