"""How the reconstruction's sequential loops are compiled: one decorator, one error model, one cache.

Every kernel of :mod:`meta_bm.reconstruction` is decorated with :func:`kernel`:

* ``error_model="numpy"`` everywhere: a division by zero gives ``inf``/``nan`` as in numpy (the
  kernels guard what they divide by), so a kernel returns the same numbers compiled or not;
* compiled lazily, on first call, for the argument types it meets (a run compiles only what it
  uses), and cached on disk, **outside the source tree**: in ``$NUMBA_CACHE_DIR`` when set,
  else in the user's cache (``$XDG_CACHE_HOME/meta_bm/numba``, default ``~/.cache/meta_bm/numba``),
  so a read-only or non-editable install compiles once per machine, not once per process;
* with ``NUMBA_DISABLE_JIT=1`` every kernel is its plain Python function: the pure-Python reference
  that ``make test-reference`` runs the reconstruction and survival tests against.

Kernels take numpy arrays and scalars, and may take a :class:`typing.NamedTuple` of them (numba
types its fields), which is how the curve's geometry travels between them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, TypeVar

import numba
from numba.core import caching, config

F = TypeVar("F", bound=Callable)

KERNELS: list = []  # every compiled kernel, for the warm-up and its progress report


def cache_dir() -> Path:
    """Where compiled kernels are kept: ``$NUMBA_CACHE_DIR``, else the user's cache folder."""
    if config.CACHE_DIR:
        return Path(config.CACHE_DIR)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "meta_bm" / "numba"


class _UserCacheLocator(caching.UserProvidedCacheLocator):
    """numba's locator for ``$NUMBA_CACHE_DIR``, pointed at :func:`cache_dir` when that is unset.

    (numba's own fallback is the ``__pycache__`` next to the source, and only when that is not
    writable the user-wide cache.)
    """

    def __init__(self, py_func, py_file):
        super().__init__(py_func, py_file)
        self._cache_path = os.path.join(cache_dir(), self.get_suitable_cache_subpath(py_file))

    @classmethod
    def from_function(cls, py_func, py_file):
        if config.CACHE_DIR:  # numba's own locator honours it
            return None
        return super(caching.UserProvidedCacheLocator, cls).from_function(py_func, py_file)


class _CacheImpl(caching.CompileResultCacheImpl):
    _locator_classes: ClassVar[list] = [_UserCacheLocator, *caching.CompileResultCacheImpl._locator_classes]


class _FunctionCache(caching.FunctionCache):
    _impl_class = _CacheImpl


def kernel(fn: F | None = None, *, inline: bool = False) -> F:
    """Compile ``fn`` with numba (see the module docstring); ``inline=True`` inlines it into the
    kernels that call it (for small helpers in hot loops).

    >>> import numpy as np
    >>> @kernel
    ... def total(a):
    ...     s = 0.0
    ...     for x in a:
    ...         s += x
    ...     return s
    >>> float(total(np.array([1.0, 2.0])))
    3.0
    """
    if fn is None:
        return lambda f: kernel(f, inline=inline)  # type: ignore[return-value]
    options = {"error_model": "numpy"}
    if inline:
        options["inline"] = "always"
    compiled = numba.njit(**options)(fn)
    if config.DISABLE_JIT:
        return compiled
    try:
        compiled._cache = _FunctionCache(fn)  # what ``cache=True`` does, with the locator above
    except RuntimeError:  # no source file to key a cache on (a doctest, an interactive session)
        pass
    KERNELS.append(compiled)
    return compiled


def kernels_cached() -> bool:
    """Whether every kernel imported so far has a compiled version on disk (a warm start).

    (Kernels inlined into their callers are compiled as part of them and have no file of their own.)
    """
    paths = [
        k._cache._cache_file._index_path
        for k in KERNELS
        if hasattr(k._cache, "_cache_file") and k.targetoptions.get("inline") != "always"
    ]
    return bool(paths) and all(os.path.exists(p) for p in paths)


def warm_up(report: Callable[[str], None] | None = None, workers: int = 2, load: bool = True) -> float:
    """Compile (first time on this machine) or load every kernel a run uses; returns the seconds.

    Takes every path on tiny inputs (:func:`_compile_part`). When the cache is cold the compiling
    is split over ``workers`` processes (about 24 s instead of 36 on two cores), and ``report`` is
    told before and after. With
    ``load=False`` this process does not load the kernels itself (a launcher whose runs will).
    """
    import time

    import meta_bm.reconstruction.engine  # noqa: F401  (imports, so registers, every kernel)

    cold = not config.DISABLE_JIT and not kernels_cached()
    start = time.monotonic()
    if cold:
        if report:
            report(f"compiling the reconstruction kernels (first run on this machine, ~30 s; cached in {cache_dir()})")
        if workers > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(min(workers, 2), mp_context=multiprocessing.get_context("spawn")) as pool:
                list(pool.map(_compile_part, ("engine", "censoring")))
    if load or (cold and workers <= 1):
        _compile_part("engine")
        _compile_part("censoring")
    seconds = time.monotonic() - start
    if cold and report:
        report(f"compiled the reconstruction kernels in {seconds:.0f} s")
    return seconds


def compiled_this_process() -> int:
    """How many kernel signatures this process compiled (rather than loaded from the cache)."""
    return sum(sum(k.stats.cache_misses.values()) for k in KERNELS)


def _compile_part(part: str) -> None:
    """Call every kernel of one part, with the argument types a run gives them; the two parts take
    about as long to compile (about 20 s each here). ``censoring``: the cleaning and the censoring
    model read from step heights (the risk-set chain and the Weibull fit). ``engine``: each other
    step of the engine called directly, on a curve given clean, not through
    :func:`~meta_bm.reconstruction.engine.reconstruct` (which would compile the other part too).
    ``test_jit.py`` checks that a run after both compiles nothing more."""
    import numpy as np

    t = np.array([0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0])
    s = np.array([1.0, 1.0, 0.9, 0.9, 0.7, 0.7, 0.6, 0.6])
    if part == "censoring":
        from meta_bm.reconstruction.censoring import fit_censoring
        from meta_bm.reconstruction.cleaning import clean_clicks
        from meta_bm.reconstruction.parsing import clicks_from_arrays

        clean_clicks(clicks_from_arrays(t, s))
        x, drops = t[1:], np.maximum(np.concatenate(([1.0], s[:-1]))[1:] - s[1:], 0.0)
        for n0, target, prior in ((20.0, None, 0.01), (400.0, None, None), (400.0, 150.0, None)):
            fit_censoring(x, drops, n0, 1.0, 4.0, target_events=target, prior_hazard=prior)
        return
    from meta_bm.reconstruction.censor_marks import best_mark_placement, place_at_marks, survivors_at_marks
    from meta_bm.reconstruction.cleaning import CleanCurve
    from meta_bm.reconstruction.event_tracking import PLACEMENT_PASSES, PRIOR_WEIGHTS, best_placement
    from meta_bm.reconstruction.last_interval import _quantiles, drops_after
    from meta_bm.reconstruction.result import count_per_interval, fidelity, ipd_arrays
    from meta_bm.reconstruction.risk_intervals import allocate, fit_intervals
    from meta_bm.reconstruction.total_events import flip_to_total, through_last_interval

    curve = CleanCurve(time=t, survival=s, rows=np.arange(t.size), source="warm-up", coarse=(t, s))
    tau, nr = np.array([0.0, 2.5]), np.array([20, 12], np.int64)
    g, fit = fit_intervals(curve.time, curve.survival, tau, nr)
    drops_after(*curve.coarse, 2.5)
    d = allocate(fit.expected_events, g.j_of, np.array([6.0, 2.0]))
    censored, drop = np.array([2, 0], np.int64), np.array([8, 0], np.int64)
    c_last = np.array([3.0, 3.5])
    d, cens, cens_last, placed = best_placement(
        g, d, censored, drop, c_last, np.array(PRIOR_WEIGHTS), PLACEMENT_PASSES, curve.time, curve.survival
    )
    marks = np.array([0.5, 2.0, 3.5])  # (censoring marks read from a figure: their own placement)
    best_mark_placement(g, d, censored, drop, marks, tuple(PRIOR_WEIGHTS), PLACEMENT_PASSES, curve.time, curve.survival)
    place_at_marks(g, d, censored, marks, 1.0)
    survivors_at_marks(c_last, marks, 3.0, 2)
    d, cens, cens_last = through_last_interval(g, d, placed, cens, cens_last, 12, 2.5, 1.5, 12.0, 0.1)
    _quantiles(np.array([1.0, 0.5, 0.0]), np.array([1.0, 0.5]), 12.0, 0.7, 2)
    times, event = ipd_arrays(g.t, d, cens, cens_last, 2, 4.0)
    count_per_interval(times, event, tau)
    order = np.argsort(times, kind="stable")
    fidelity(times[order], event[order], curve)
    flip_to_total(times, event, int(event.sum()) + 1, 4.0)
