"""Wall time of work that may run on a GPU: the one timer the benchmarks share."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["timed"]


def timed(fn: Callable[[], Any], device: torch.device | str | None = None) -> float:
    """Wall seconds of ``fn()``. On a CUDA ``device`` the queued work is finished before and
    after it: a loop that reads nothing back to the host would otherwise time its launches."""
    dev = torch.device(device) if device is not None else None

    def sync() -> None:
        if dev is not None and dev.type == "cuda":
            torch.cuda.synchronize(dev)

    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start
