"""Input arrays for a run: read from an .npz file, or random and seeded (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import InputError


class Spec(Protocol):
    """What a feed needs to know of an input (`TensorInfo` has it)."""

    @property
    def name(self) -> str: ...  # noqa: D102

    @property
    def shape(self) -> tuple[int | str, ...]: ...  # noqa: D102

    @property
    def dtype(self) -> str: ...  # noqa: D102


def random_input(info: Spec, rng: np.random.Generator) -> np.ndarray:
    """A random array for `info`; symbolic dimensions take the value 1."""
    shape = tuple(d if isinstance(d, int) else 1 for d in info.shape)
    dtype = np.dtype(info.dtype)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    # Small non-negative integers are valid indices for gathers and embeddings.
    return rng.integers(0, 2, shape).astype(dtype)


def read_inputs(specs: Sequence[Spec], path: Path | None, seed: int) -> dict[str, np.ndarray]:
    """Inputs from an .npz file (keys are input names), or random ones."""
    if path is None:
        rng = np.random.default_rng(seed)
        return {i.name: random_input(i, rng) for i in specs}
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read inputs from '{path}': {err}") from None
    if len(specs) == 1 and list(arrays) == ["arr_0"]:
        return {specs[0].name: arrays["arr_0"]}
    return arrays
