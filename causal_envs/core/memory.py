"""The host allocator's settings for training loops: keep freed memory for the next step.

A training step on the CPU allocates the same few large temporaries (activations, their
gradients) and frees them again, every step. glibc's allocator hands blocks this large to the
kernel on free (``munmap``, or trimming the heap's top), so the next step faults every page of
them back in: measured on the dynamics ensembles at the authors' Nav2D sizes, 3,400 minor page
faults and 9 ms of kernel time a step of 43 ms (``causal-envs bench ensemble-step``).
`retain_freed_memory` raises the allocator's thresholds so that such blocks stay in the heap
and are reused: the faults fall to about none. The price is that the process keeps its peak
heap (for these models, tens of MB) until it exits.

Only Linux with glibc has these knobs (``mallopt``); elsewhere the function does nothing.
``CAUSAL_ENVS_RETAIN_FREED_MEMORY=0`` in the environment turns it off (glibc's defaults stay:
the heap is returned to the kernel as it shrinks); ``causal-envs bench ensemble-step`` run
with it measures what the setting saves.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import platform

__all__ = ["retain_freed_memory", "retention_switched_on"]

#: set to ``0`` to leave glibc's defaults alone
ENV_SWITCH = "CAUSAL_ENVS_RETAIN_FREED_MEMORY"
#: glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: blocks up to this size come from the heap (glibc's ceiling on 64-bit machines is 32 MiB x 2)
MMAP_THRESHOLD = 64 << 20
#: free memory at the heap's top is returned to the kernel only beyond this much
TRIM_THRESHOLD = 512 << 20


def retention_switched_on() -> bool:
    """Whether ``CAUSAL_ENVS_RETAIN_FREED_MEMORY`` leaves `retain_freed_memory` on (it is,
    unless set to ``0``)."""
    return os.environ.get(ENV_SWITCH, "1") != "0"


@functools.cache
def retain_freed_memory() -> bool:
    """Ask glibc to keep freed blocks of up to `MMAP_THRESHOLD` bytes, and up to
    `TRIM_THRESHOLD` bytes of free heap, for reuse rather than returning them to the kernel.
    Applies once per process; returns whether it applied (False off Linux/glibc, or when
    ``CAUSAL_ENVS_RETAIN_FREED_MEMORY`` is ``0``)."""
    if not retention_switched_on():
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) & bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
