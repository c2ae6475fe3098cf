"""Worker processes that do not outlive the process that started them.

A ``ProcessPoolExecutor``'s workers block on their task queue or keep computing when their
parent is killed (SIGKILL, or SIGTERM's default action): nothing tells them, and they linger,
computing and then idle, long after. `exit_with_parent` is a pool ``initializer`` that makes
each worker leave within a second of its parent's death.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["exit_with_parent"]


def exit_with_parent(parent_pid: int, poll_seconds: float = 0.5) -> None:
    """In a worker: exit as soon as the process ``parent_pid`` is no longer its parent (the
    orphan is re-parented). Pass the starting process's pid, ``initargs=(os.getpid(),)``: read
    in the worker, the parent may already be dead and its successor taken for it.

        ProcessPoolExecutor(n, initializer=exit_with_parent, initargs=(os.getpid(),))
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_seconds)
        os._exit(1)  # no cleanup to run: the work belongs to a dead parent

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
