"""The runtime's device copies go through TVM's device API (checked here on the CPU)."""

from __future__ import annotations

import numpy as np

from ember import _runtime


def test_copy_to_cpu_makes_an_equal_independent_array():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    y = _runtime.copy_tensor(x.__dlpack__(), 1, 0)
    assert isinstance(y, np.ndarray)
    np.testing.assert_array_equal(x, y)
    x[0, 0, 0] = -1
    assert y[0, 0, 0] == 0
