"""The allocator keeps a training step's freed temporaries: no page faults to get them back."""

import os
import platform
import subprocess
import sys

import pytest

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

#: allocate, write and free a 40 MiB block 20 times (above glibc's largest default threshold,
#: so each is handed back to the kernel on free) and print the minor page faults it cost
_LOOP = """
import resource, sys
import numpy as np
from causal_envs.core.memory import retain_freed_memory
applied = retain_freed_memory() if sys.argv[1] == "retain" else None
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
np.ones((40 << 20) // 8)
before = faults()
for _ in range(20):
    np.ones((40 << 20) // 8)
print(applied, faults() - before)
"""


def _run(mode: str, **env: str) -> tuple[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", _LOOP, mode],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    ).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_freed_large_blocks_are_reused_without_faulting_their_pages_back_in():
    _, plain = _run("plain")
    applied, retained = _run("retain")
    assert applied == "True"
    # without: each block's pages faulted back in (how many faults a block costs depends on the
    # kernel's page sizes); with: the heap's pages reused
    assert plain > 100 and retained * 10 < plain
    # switched off from the environment: glibc's defaults, the pages faulted back in
    applied, switched_off = _run("retain", CAUSAL_ENVS_RETAIN_FREED_MEMORY="0")
    assert applied == "False" and switched_off * 10 > plain
