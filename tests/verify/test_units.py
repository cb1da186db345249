"""The pieces of `ember verify` that need no compile: errors, tolerances, the bisection."""

from __future__ import annotations

import numpy as np
import pytest

from ember.compiler.verify.bisect import first_diverging
from ember.compiler.verify.tolerance import tensor_error, tolerance_for
from ember.errors import OptionError


def test_errors_are_relative_to_the_largest_reference_value():
    expected = np.array([4.0, -2.0, 0.0], np.float32)
    error = tensor_error("y", expected + np.array([0.0, 0.02, 0.0], np.float32), expected)
    assert error.max_abs == pytest.approx(0.02, rel=1e-5)
    assert error.max_rel == pytest.approx(0.005, rel=1e-5)
    assert tolerance_for("fp32", 1e-2, 0.0).allows(error)
    assert not tolerance_for("fp32", 1e-3, 0.0).allows(error)


def test_shape_mismatch_and_stray_nan_are_infinite_matching_nan_is_not():
    ref = np.array([1.0, np.nan], np.float32)
    assert tensor_error("y", ref.copy(), ref).max_abs == 0.0
    assert tensor_error("y", np.array([np.nan, np.nan], np.float32), ref).max_abs == np.inf
    assert tensor_error("y", np.zeros(3, np.float32), ref).max_abs == np.inf


def test_default_tolerances_per_precision():
    assert (tolerance_for("fp32", None, None).rtol, tolerance_for("bf16", None, None).rtol) == (
        1e-4,
        1e-2,
    )
    assert tolerance_for("fp16", None, None).source == "fp16 default"
    with pytest.raises(OptionError, match=r"invalid --rtol -1"):
        tolerance_for("fp32", -1, None)


@pytest.mark.parametrize("first", [0, 1, 5, 9])
def test_bisection_finds_the_first_diverging_candidate(first):
    probed: list[int] = []

    def probe(i: int) -> bool:
        probed.append(i)
        return i >= first

    assert first_diverging(list(range(10)), probe) == first
    assert 9 not in probed and len(probed) <= 4


def test_bisection_skips_candidates_it_cannot_probe():
    def probe(i: int) -> bool | None:
        return None if i in (4, 5) else i >= 3

    assert first_diverging(list(range(10)), probe) == 3
    assert first_diverging([7], probe) == 7
