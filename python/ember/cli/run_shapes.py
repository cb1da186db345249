"""Shapes for random inputs of a symbolic model (`ember bench --shape past_k=4x1x2x511x64`).

A model compiled with symbolic lengths runs at any length; timing it means choosing one. Each
`--shape` fixes one input's shape; the symbols it sets (`past` = 511) apply to every input
that has them, so `past_v` follows `past_k`. Unset symbols take 1, as without `--shape`.
Zero is a valid length here (an empty cache).
"""

from __future__ import annotations

import re

from ember.errors import OptionError
from ember.runtime import TensorInfo

_SPEC = re.compile(r"^(?P<name>[^=]+)=(?P<dims>\d+(x\d+)*)$")


def parse_shape_specs(specs: list[str] | None) -> dict[str, tuple[int, ...]]:
    """``NAME=DxDx...`` options as name -> dims; a malformed or repeated one is an error."""
    shapes: dict[str, tuple[int, ...]] = {}
    for spec in specs or []:
        match = _SPEC.match(spec.strip())
        if not match:
            raise OptionError(f"invalid --shape '{spec}': expected NAME=DIMxDIM..., e.g. x=1x128")
        if match["name"] in shapes:
            raise OptionError(f"--shape given twice for input '{match['name']}'")
        shapes[match["name"]] = tuple(int(d) for d in match["dims"].split("x"))
    return shapes


def input_shapes(
    specs: list[TensorInfo], given: dict[str, tuple[int, ...]]
) -> dict[str, tuple[int, ...]]:
    """A concrete shape for every input: `given` ones checked, symbols shared, others 1."""
    by_name = {info.name: info for info in specs}
    symbols: dict[str, int] = {}
    for name, dims in given.items():
        info = by_name.get(name)
        if info is None:
            raise OptionError(
                f"--shape names unknown input '{name}' (inputs: {', '.join(by_name)})"
            )
        if len(dims) != len(info.shape):
            raise OptionError(
                f"--shape {name}: {len(dims)} dimensions given, the input has {len(info.shape)}"
            )
        for axis, (want, got) in enumerate(zip(info.shape, dims, strict=True)):
            if isinstance(want, int) and want != got:
                raise OptionError(f"--shape {name}: dimension {axis} is fixed at {want}, got {got}")
            if isinstance(want, str) and symbols.setdefault(want, got) != got:
                raise OptionError(
                    f"--shape {name}: dimension '{want}' is {got} but another --shape set it "
                    f"to {symbols[want]}"
                )
    return {
        info.name: tuple(d if isinstance(d, int) else symbols.get(d, 1) for d in info.shape)
        for info in specs
    }
