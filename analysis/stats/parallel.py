"""Independent pieces of an analysis, computed in this process or side by side in forked workers.

`map_indices(fn, shared, n, workers)` is `[fn(shared, k) for k in range(n)]`, in order. Workers are
forked and inherit `shared`, so only results are pickled; each computes with one BLAS thread (two
workers on two cores, each keeping a BLAS thread per core, were slower than one process). BLAS sums a
matrix product in another order with another thread count, so bootstrap bounds from workers can
differ from one process's in the 8th digit (6·10⁻⁸ seen); `workers=1` gives exactly what the
dashboard's pages compute. Forking is used on Linux only (macOS's system libraries are not
fork-safe; Windows has no fork), and a worker that dies (killed for memory) costs time, not the
answer: its pieces are computed here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

_SHARED: tuple[Callable[[Any, int], Any], Any] | None = None  # (fn, shared) for forked workers: set before, inherited
_LIMITS = None  # a worker's BLAS limit, kept for its life


def _start_worker() -> None:
    """One BLAS thread for the worker's life (unchanged when threadpoolctl is not installed)."""
    global _LIMITS
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    _LIMITS = threadpool_limits(limits=1, user_api="blas")


def _in_worker(k: int) -> Any:
    assert _SHARED is not None
    fn, shared = _SHARED
    return fn(shared, k)


def map_indices(fn: Callable[[Any, int], Any], shared: Any, n: int, workers: int = 1) -> list[Any]:
    """`[fn(shared, k) for k in range(n)]`, in order, with up to `workers` forked processes.

    Args:
        fn: a module-level function of (shared, index).
        shared: what every call reads (inherited by forked workers, never pickled).
        n: how many indices.
        workers: processes to use (1: this one only).
    Returns:
        The results in index order (see the module's note on BLAS and the last digits).
    """
    global _SHARED
    if workers <= 1 or n < 2 or not sys.platform.startswith("linux"):
        return [fn(shared, k) for k in range(n)]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    _SHARED = (fn, shared)
    try:
        with ProcessPoolExecutor(min(workers, n), mp_context=multiprocessing.get_context("fork"), initializer=_start_worker) as pool:
            return list(pool.map(_in_worker, range(n), chunksize=max(1, n // (4 * workers))))
    except BrokenProcessPool:  # a worker died: compute here what the pool could not
        return [fn(shared, k) for k in range(n)]
    finally:
        _SHARED = None
