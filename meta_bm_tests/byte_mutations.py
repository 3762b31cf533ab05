"""Byte-level damage for the fuzz tests of study folders (shared by the load_study and pipeline tests)."""

from __future__ import annotations

import random
from pathlib import Path


def flip_bytes(rng: random.Random, target: Path) -> str:
    """Overwrite one to eight random bytes of ``target``."""
    data = bytearray(target.read_bytes())
    for _ in range(rng.randint(1, 8)):
        if data:
            data[rng.randrange(len(data))] = rng.randrange(256)
    target.write_bytes(bytes(data))
    return f"flip bytes in {target.name}"


def truncate(rng: random.Random, target: Path) -> str:
    """Cut ``target`` at a random length (possibly to nothing)."""
    data = target.read_bytes()
    target.write_bytes(data[: rng.randrange(len(data) + 1)])
    return f"truncate {target.name}"
