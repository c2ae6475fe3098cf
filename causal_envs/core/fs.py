"""Filesystem primitives the caches share: the user's file mode, checked directories, free
space before large writes, and inter-process locks.

Errors are `StorageError` (an ``OSError``) with a message that names the path and says what
to do; the dataset cache turns them into its own ``DatasetError``.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
from pathlib import Path
from types import TracebackType

__all__ = [
    "FileLock",
    "StorageError",
    "broken_link",
    "check_directory",
    "describe_os_error",
    "ensure_free_space",
    "file_mode",
]


class StorageError(OSError):
    """A place to store files is unusable: not a directory, not writable, or too full."""


def _umask() -> int:
    try:  # Linux reports it without changing it (os.umask would, for every thread)
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new regular file gets under the process's umask (``0o644`` under ``022``):
    for files made through `tempfile.mkstemp`, which creates them ``0o600``."""
    return 0o666 & ~_umask()


def first_line(err: BaseException) -> str:
    """The first line of ``err``'s message (its type's name when it has none): what a
    one-line error of ours quotes of a library's longer one."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def describe_os_error(err: OSError) -> str:
    """A one-line cause for ``err`` that says what to do about the common ones."""
    what = {
        errno.ENOSPC: "the disk is full: free some space or point the cache elsewhere",
        errno.EDQUOT: "the disk quota is exhausted: free some space or point the cache elsewhere",
        errno.EACCES: "permission denied: choose a directory you can write",
        errno.EPERM: "operation not permitted: choose a directory you can write",
        errno.EROFS: "the filesystem is read-only: choose a writable directory",
    }.get(err.errno or -1)
    where = f" ({err.filename})" if getattr(err, "filename", None) else ""
    return (what or (err.strerror or str(err))) + where


def broken_link(path: Path) -> str:
    """What is wrong with the symbolic link ``path`` that leads nowhere (it loops, or its
    target is missing), as the end of a sentence naming it."""
    target = os.readlink(path)
    try:
        path.resolve(strict=True)
    except RuntimeError:  # Python 3.11 reports a symlink loop as RuntimeError
        return f"is a symbolic link that loops (to {target})"
    except OSError as err:
        if err.errno == errno.ELOOP:
            return f"is a symbolic link that loops (to {target})"
    return f"is a symbolic link to {target}, which does not exist"


def check_directory(path: str | os.PathLike, what: str = "directory") -> Path:
    """``path`` as a directory this process can write in, created if missing.

    Raises `StorageError` naming ``what`` and the path when it is a file, a dangling or
    looping symbolic link, cannot be created, or is not writable.
    """
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise StorageError(
            f"the {what} {path} {broken_link(path)}: remove the link or choose another path"
        )
    if path.exists() and not path.is_dir():
        raise StorageError(f"the {what} {path} is a file, not a directory: choose a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (OSError, RuntimeError) as err:
        cause = describe_os_error(err) if isinstance(err, OSError) else str(err)
        raise StorageError(f"cannot create the {what} {path}: {cause}") from err
    if not os.access(path, os.W_OK | os.X_OK):
        raise StorageError(f"the {what} {path} is not writable: choose a directory you can write")
    return path


def ensure_free_space(path: str | os.PathLike, needed: int, what: str, reserved: int = 0) -> None:
    """Raise `StorageError` before a write of about ``needed`` bytes into ``path`` (an existing
    directory) if its filesystem has less free space than that, once ``reserved`` bytes
    (promised to other writes in progress) are set aside."""
    free = shutil.disk_usage(path).free
    if free - reserved < needed:
        held = (
            f", {reserved / 2**20:,.1f} MiB of it reserved by writes in progress"
            if reserved
            else ""
        )
        raise StorageError(
            f"{what} needs about {needed / 2**20:,.1f} MiB in {path}, which has "
            f"{free / 2**20:,.1f} MiB free{held}: free some space or point the cache elsewhere"
        )


class FileLock:
    """An advisory inter-process lock on ``path`` (``flock``; the file is created if
    missing). The kernel releases it when its holder exits, however it exits, so a lock held
    by a killed process never blocks anyone.

        with FileLock(root / ".locks" / "name.lock"):
            ...  # one process at a time

    ``shared=True`` takes a shared lock (many readers, no writer). ``create=False`` locks only
    a lock file that exists (`FileNotFoundError` otherwise), creating neither it nor its
    folder: for taking over another process's lock, whose folder may be going away.
    """

    def __init__(self, path: str | os.PathLike, shared: bool = False, create: bool = True) -> None:
        self.path = Path(path)
        self.shared = shared
        self.create = create
        self._fd: int | None = None

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock; without ``blocking``, return False at once if someone holds it."""
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already locked by this FileLock")
        if self.create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | (os.O_CREAT if self.create else 0), file_mode())
        flags = (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | (
            0 if blocking else fcntl.LOCK_NB
        )
        try:
            fcntl.flock(fd, flags)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:  # a dropped lock object does not keep its lock
        self.release()

    @property
    def locked(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
