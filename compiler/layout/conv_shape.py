"""`ConvShape`: one conv2d as the plugin sees it, shared by the layout choice and its timing."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConvShape:
    """One conv2d as the plugin sees it, in NCHW/OIHW terms."""

    data: tuple[int, ...]
    weight: tuple[int, ...]
    out: tuple[int, ...]
    attrs: tuple[int, ...]  # strides, pads (top, left, bottom, right), dilations, groups
