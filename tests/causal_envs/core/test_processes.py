"""Pool workers leave when their parent is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

PARENT = textwrap.dedent(
    """
    import os, sys, time
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context
    from causal_envs.core import exit_with_parent

    def work(_):
        time.sleep(120)

    if __name__ == "__main__":
        pool = ProcessPoolExecutor(2, mp_context=get_context("spawn"), initializer=exit_with_parent,
                                   initargs=(os.getpid(),))
        futures = [pool.submit(work, i) for i in range(2)]
        while len(pool._processes) < 2:
            time.sleep(0.05)
        time.sleep(1.0)  # the workers have started their tasks
        print(" ".join(str(p) for p in pool._processes), flush=True)
        time.sleep(120)
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is gone for our purposes
        return f.read().split(")")[-1].split()[0] != "Z"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_exit_when_the_parent_is_killed(tmp_path, sig):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    workers = [int(p) for p in parent.stdout.readline().split()]
    assert len(workers) == 2 and all(_alive(p) for p in workers)
    parent.send_signal(sig)
    parent.wait(timeout=10)
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in workers)
