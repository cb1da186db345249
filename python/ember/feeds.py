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


def random_input(
    info: Spec, rng: np.random.Generator, shape: tuple[int, ...] | None = None
) -> np.ndarray:
    """A random array for `info` of `shape` (by default, symbolic dimensions take 1)."""
    shape = shape or tuple(d if isinstance(d, int) else 1 for d in info.shape)
    dtype = np.dtype(info.dtype)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    # Small non-negative integers are valid indices for gathers and embeddings.
    return rng.integers(0, 2, shape).astype(dtype)


def read_inputs(
    specs: Sequence[Spec],
    path: Path | None,
    seed: int,
    shapes: dict[str, tuple[int, ...]] | None = None,
) -> dict[str, np.ndarray]:
    """Inputs from an .npz file (keys are input names), or random ones (of `shapes`)."""
    if path is None:
        rng = np.random.default_rng(seed)
        shapes = shapes or {}
        return {i.name: random_input(i, rng, shapes.get(i.name)) for i in specs}
    return read_npz(specs, path, f"inputs from '{path}'")


def read_npz(specs: Sequence[Spec], path: Path, described: str) -> dict[str, np.ndarray]:
    """The arrays of an .npz file by name; one unnamed array (`arr_0`) is a one-input model's.

    `described` names the file in the one-line error when it cannot be read.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read {described}: {err}") from None
    if len(specs) == 1 and list(arrays) == ["arr_0"]:
        return {specs[0].name: arrays["arr_0"]}
    return arrays


def fixed_shapes_or_error(specs: Sequence[Spec], why: str) -> None:
    """Raise unless every input's shape is fixed: random inputs cannot guess a symbol's value."""
    for spec in specs:
        symbols = [d for d in spec.shape if not isinstance(d, int)]
        if symbols:
            dims = "x".join(str(d) for d in spec.shape)
            raise InputError(
                f"input '{spec.name}' has symbolic dimension '{symbols[0]}' ({dims}): {why}"
            )


def check_feed(specs: Sequence[Spec], feed: dict[str, np.ndarray], source: str) -> None:
    """Every input named once, none unknown, each of the input's dtype and shape.

    A symbolic dimension takes one value across all inputs that name it. `source` names where
    the arrays came from in the one-line errors (``inputs file 'in.npz'``).
    """
    names = [s.name for s in specs]
    for name in feed:
        if name not in names:
            known = ", ".join(f"'{n}'" for n in names)
            raise InputError(f"{source}: unknown input '{name}' (inputs: {known})")
    symbols: dict[str, tuple[int, str]] = {}
    for spec in specs:
        if spec.name not in feed:
            raise InputError(f"{source}: no array for input '{spec.name}'")
        array = feed[spec.name]
        if array.dtype != np.dtype(spec.dtype):
            raise InputError(
                f"{source}: input '{spec.name}' is {array.dtype}, the model takes {spec.dtype}"
            )
        _check_shape(spec, array.shape, symbols, source)


def _check_shape(
    spec: Spec, shape: tuple[int, ...], symbols: dict[str, tuple[int, str]], source: str
) -> None:
    want = "x".join(str(d) for d in spec.shape) or "scalar"
    got = "x".join(str(d) for d in shape) or "scalar"
    if len(shape) != len(spec.shape):
        raise InputError(f"{source}: input '{spec.name}' has shape {got}, the model takes {want}")
    for dim, size in zip(spec.shape, shape, strict=True):
        if isinstance(dim, int):
            if dim != size:
                raise InputError(
                    f"{source}: input '{spec.name}' has shape {got}, the model takes {want}"
                )
            continue
        seen = symbols.setdefault(dim, (size, spec.name))
        if seen[0] != size:
            raise InputError(
                f"{source}: dimension '{dim}' is {seen[0]} in input '{seen[1]}' "
                f"but {size} in input '{spec.name}'"
            )
