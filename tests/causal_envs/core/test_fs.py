import os
import signal
import subprocess
import sys
import time

import pytest

from causal_envs.core import atomic_path
from causal_envs.core.fs import (
    FileLock,
    StorageError,
    check_directory,
    ensure_free_space,
    file_mode,
)


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


def test_files_get_the_users_umask(tmp_path, umask_027):
    assert file_mode() == 0o640
    with atomic_path(tmp_path / "results.json") as tmp:
        tmp.write_text("{}")
    assert (tmp_path / "results.json").stat().st_mode & 0o777 == 0o640  # not mkstemp's 0600


def test_a_lock_excludes_others_and_dies_with_its_holder(tmp_path):
    path = tmp_path / "locks" / "x.lock"
    first = FileLock(path)
    assert first.acquire() and first.locked
    assert not FileLock(path).acquire(blocking=False)  # another open file: excluded
    assert not FileLock(path, shared=True).acquire(blocking=False)
    first.release()
    readers = [FileLock(path, shared=True), FileLock(path, shared=True)]
    assert all(r.acquire(blocking=False) for r in readers)  # shared locks coexist
    assert not FileLock(path).acquire(blocking=False)
    for r in readers:
        r.release()
    # a holder killed with SIGKILL releases the lock: the kernel does it
    code = (
        "import sys, time; from causal_envs.core.fs import FileLock; "
        f"lock = FileLock({str(path)!r}); lock.acquire(); print('held', flush=True); "
        "time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert not FileLock(path).acquire(blocking=False)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        deadline = time.monotonic() + 10
        lock = FileLock(path)
        while not lock.acquire(blocking=False):
            assert time.monotonic() < deadline, "the dead holder's lock was never released"
            time.sleep(0.05)
        lock.release()
    finally:
        holder.kill()
    with pytest.raises(RuntimeError, match="already locked"), FileLock(path) as held:
        held.acquire()
    dropped = FileLock(path)
    dropped.acquire()
    del dropped  # a lock object that is dropped lets go of its lock
    assert FileLock(path).acquire(blocking=False)


def test_unusable_directories_are_named(tmp_path, monkeypatch):
    assert check_directory(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError, match=r"cache .*file is a file, not a directory"):
        check_directory(tmp_path / "file", "cache")
    with pytest.raises(StorageError, match="cannot create"):
        check_directory(tmp_path / "file" / "below")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(StorageError, match="symbolic link that loops"):
        check_directory(tmp_path / "loop")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(StorageError, match="nowhere, which does not exist"):
        check_directory(tmp_path / "dangling")
    (tmp_path / "link").symlink_to(tmp_path / "a")
    assert check_directory(tmp_path / "link") == tmp_path / "link"  # a good link is followed
    # (root passes every permission check, so an unwritable place is simulated)
    monkeypatch.setattr("causal_envs.core.fs.os.access", lambda *a: False)
    with pytest.raises(StorageError, match="is not writable"):
        check_directory(tmp_path / "a")


def test_free_space_is_checked_before_writing(tmp_path):
    ensure_free_space(tmp_path, 1, "a tiny write")
    with pytest.raises(StorageError, match=r"the big write needs about .* MiB free"):
        ensure_free_space(tmp_path, 2**62, "the big write")
