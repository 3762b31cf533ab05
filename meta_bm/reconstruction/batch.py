"""Many curves at once: :func:`reconstruct_many`, in-process or over worker processes.

Each curve is a mapping of :func:`~meta_bm.reconstruction.reconstruct_arrays`' keyword arguments
(``time``, ``survival``, ``risk_time``, ``n_risk``, ``total_n``, ``total_events``, ``y_scale``) plus
an optional ``name``. A curve with bad input gives an error entry that names it; the others go on.

Example
-------
>>> from meta_bm.reconstruction import reconstruct_many
>>> curves = [
...     {"name": "arm A", "time": [0, 3, 3, 6], "survival": [1, 1, 0.8, 0.8], "total_n": 10},
...     {"name": "arm B", "time": [0, 1], "survival": [1, 0.5], "total_n": 10},
... ]
>>> [(r.name, r.ok) for r in reconstruct_many(curves)]
[('arm A', True), ('arm B', False)]
>>> int(reconstruct_many(curves)[0].reconstruction.event.sum())
2
>>> reconstruct_many(curves)[1].error
'arm B: only 2 click(s); a curve needs at least 3'
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from meta_bm.errors import InputError
from meta_bm.reconstruction.engine import Reconstruction, reconstruct_arrays

_KEYS = frozenset({"time", "survival", "risk_time", "n_risk", "total_n", "total_events", "y_scale"})


@dataclass(frozen=True)
class BatchResult:
    """One curve of a batch: its reconstruction, or the error its input gave (in words)."""

    name: str
    reconstruction: Reconstruction | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _one(index: int, curve: Mapping[str, Any]) -> BatchResult:
    name = str(curve.get("name", f"curve {index + 1}"))
    unknown = sorted(set(curve) - _KEYS - {"name"})
    if unknown:
        return BatchResult(name, error=f"{name}: unknown keys {unknown} (known: {sorted(_KEYS | {'name'})})")
    try:
        return BatchResult(name, reconstruct_arrays(**{k: v for k, v in curve.items() if k != "name"}, source=name))
    except (InputError, TypeError, ValueError) as exc:  # (bad input: reported, the batch goes on)
        message = str(exc)
        return BatchResult(name, error=message if message.startswith(name) else f"{name}: {message}")


def _chunk(start: int, curves: Sequence[Mapping[str, Any]]) -> list[BatchResult]:
    return [_one(start + i, c) for i, c in enumerate(curves)]


def reconstruct_many(curves: Iterable[Mapping[str, Any]], workers: int = 1, chunk_size: int = 16) -> list[BatchResult]:
    """Reconstruct every curve; results in input order, one :class:`BatchResult` each.

    Parameters
    ----------
    curves:
        Mappings of :func:`~meta_bm.reconstruction.reconstruct_arrays`' keyword arguments, plus an
        optional ``name`` (default ``"curve <position>"``).
    workers:
        1 (default) runs in this process; more spreads chunks of ``chunk_size`` curves over that
        many worker processes (0 or less: one per CPU). The results are the same either way.
        Each result costs a worker about 0.13 ms to pickle and this process about 0.06 ms to
        unpickle (the IPD, the cleaned clicks with their log, the model, the fidelity figures),
        a third to a half of a quick reconstruction: on the speed benchmark's 480 curves two
        processes take 0.72-0.76 ms per curve, one 0.96-0.98 ms.
    chunk_size:
        Curves per task sent to a worker: small enough that the slow curves spread over the
        workers, large enough that a task outweighs its overhead.
    """
    items = list(curves)
    if workers <= 0:
        workers = os.cpu_count() or 1
    workers = min(workers, max(1, -(-len(items) // chunk_size)))
    if workers == 1:
        return _chunk(0, items)
    starts = range(0, len(items), chunk_size)
    # fork is quick (no re-import, compiled code shared) but unsafe in a process that runs threads
    method = "fork" if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method)) as pool:
        parts = pool.map(_chunk, starts, [items[s : s + chunk_size] for s in starts])
        return [r for part in parts for r in part]
