"""Compile options: one frozen, validated value that the manifest records."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ember.errors import OptionError

T = TypeVar("T")

_SHAPE_RE = re.compile(r"^(?P<name>.+)=(?P<dims>\d+(x\d+)*)$")


@dataclass(frozen=True)
class CompileOptions:
    """What `ember compile` was asked to do, beyond the model and the target."""

    #: Fixed shapes for inputs, overriding symbolic (or fixed) dimensions of the model.
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    #: Graph inputs compiled as constants with these values (`--bind NAME=VALUES`); they
    #: leave the artifact's inputs.
    bind_inputs: dict[str, np.ndarray] = field(default_factory=dict)
    #: Write the IR after each pass phase into this folder.
    dump_ir: Path | None = None
    #: Apply tuning records (the user's store, then Ember's shipped `tuning_logs/`).
    tuning_logs: bool = True
    #: The user's record store (default: the per-target store in Ember's cache folder).
    records: Path | None = None
    #: Convolution layout: "auto" (measured on x86), "nchw" or "nhwc".
    layout: str = "auto"
    #: What matmuls and convolutions compute in: "fp32", or "fp16" on CUDA targets (see
    #: `precision.check_precision`).
    precision: str = "fp32"
    #: Run the 3 x 3 convolutions that suit it by Winograd's algorithm (x86, oneDNN plugin:
    #: `passes.winograd_convolutions`); False keeps every convolution direct.
    winograd: bool = True

    def manifest(self) -> dict[str, Any]:
        """The manifest's `options` entry."""
        return {
            "input_shapes": {k: list(v) for k, v in self.input_shapes.items()},
            "bind_inputs": {k: np.asarray(v).tolist() for k, v in self.bind_inputs.items()},
            "tuning_logs": self.tuning_logs,
            "layout": self.layout,
            "precision": self.precision,
            "winograd": self.winograd,
        }


def parse_input_shape(spec: str) -> tuple[str, tuple[int, ...]]:
    """Parse ``NAME=1x3x224x224`` into ``("NAME", (1, 3, 224, 224))``."""
    match = _SHAPE_RE.match(spec.strip())
    if not match:
        raise OptionError(
            f"invalid --input-shape '{spec}': expected NAME=DIMxDIM..., e.g. input=1x3x224x224"
        )
    dims = tuple(int(d) for d in match["dims"].split("x"))
    if any(d == 0 for d in dims):
        raise OptionError(f"invalid --input-shape '{spec}': dimensions must be positive")
    return match["name"], dims


def parse_repeated(
    specs: list[str] | None, parse_one: Callable[[str], tuple[str, T]], flag: str
) -> dict[str, T]:
    """Parse a repeated ``NAME=VALUE`` option with `parse_one`; a name given twice is an error."""
    values: dict[str, T] = {}
    for spec in specs or []:
        name, value = parse_one(spec)
        if name in values:
            raise OptionError(f"{flag} given twice for input '{name}'")
        values[name] = value
    return values


def parse_input_shapes(specs: list[str] | None) -> dict[str, tuple[int, ...]]:
    """Parse repeated ``--input-shape`` options; a name given twice is an error."""
    return parse_repeated(specs, parse_input_shape, "--input-shape")


_DURATION_RE = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s?)?$")


def parse_duration(spec: str) -> float:
    """Parse ``30m``, ``2h``, ``1h30m``, ``90s`` or ``90`` into seconds."""
    match = _DURATION_RE.match(spec.strip())
    if not spec.strip() or not match or not any(match.groupdict().values()):
        raise OptionError(f"invalid duration '{spec}': expected e.g. 90s, 30m, 2h or 1h30m")
    hours, minutes, seconds = (int(match[k] or 0) for k in ("h", "m", "s"))
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise OptionError(f"invalid duration '{spec}': must be positive")
    return float(total)
