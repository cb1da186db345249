"""Find the first diverging node by bisection over the candidates in topological order."""

from __future__ import annotations

from collections.abc import Callable

#: A probe says whether candidate i diverges, or None when it cannot be measured (its
#: compile failed, say); such a candidate is dropped from the search.
Probe = Callable[[int], bool | None]


def first_diverging(candidates: list[int], probe: Probe) -> int | None:
    """The first of `candidates` whose probe is True, assuming divergence persists downstream.

    The last candidate is taken to diverge (it produces the diverging output) and is not
    probed; bisection then needs about log2(len(candidates)) probes. Returns None only for an
    empty list.
    """
    items = list(candidates)
    lo, hi = 0, len(items) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        verdict = probe(items[mid])
        if verdict is None:
            del items[mid]
            hi -= 1
        elif verdict:
            hi = mid
        else:
            lo = mid + 1
    return items[hi] if items else None
