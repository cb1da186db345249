"""Buffers whose size is known only at run time are rounded up to size classes.

A decoder's cache grows a few KB per step; rounded to classes, consecutive steps ask for the
same sizes, so the runtime's pool hands back the blocks the last step freed
(`tests/runtime/test_vm_pool.py::test_a_growing_cache_does_not_grow_memory` measures the page
faults that saves).
"""

from __future__ import annotations

import pytest
import tvm
from tvm import tirx

from ember.compiler.passes.size_class_allocations import CLASSES_PER_DOUBLING, size_class

PAGE = 4096


def _class_of(nbytes: int) -> int:
    return int(tvm.sym.Analyzer().simplify(size_class(tirx.const(nbytes, "int64"))))


@pytest.mark.parametrize("nbytes", [1, 100, 4095, 4097, 65_537, 1_000_000, 9_437_184, 2**31 + 1])
def test_a_class_holds_the_size_in_whole_pages_with_at_most_an_eighth_more(nbytes):
    rounded = _class_of(nbytes)
    assert rounded >= nbytes
    assert rounded % PAGE == 0
    assert rounded <= max(nbytes * (1 + 1 / CLASSES_PER_DOUBLING), -(-nbytes // PAGE) * PAGE)


def test_an_empty_buffer_stays_empty():
    assert _class_of(0) == 0


def test_a_growing_cache_changes_class_a_few_times_in_many_steps():
    # GPT-2 small's stacked key cache: 36,864 bytes more per token, from 256 tokens on.
    sizes = [36_864 * (256 + step) for step in range(64)]
    classes = [_class_of(n) for n in sizes]
    assert len(set(classes)) <= 4, sorted(set(classes))
    assert classes == sorted(classes)
