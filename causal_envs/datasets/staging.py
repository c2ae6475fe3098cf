"""Staging, locks and recovery: how a dataset is written so that readers never see half of it.

**Staging.** A write builds the dataset in ``<root>/.tmp-XXXX/`` (hidden from Minari), whose
``owner.lock`` the writer holds (``flock``) for its whole life and whose ``target`` names the
dataset. The directory is made as ``.new-XXXX`` and renamed to ``.tmp-XXXX`` only once its
lock is held, so a ``.tmp-`` directory whose lock is free belongs to a dead writer, never to
one still starting. The next write, load or generation reclaims it (`reclaim_staging`),
restoring the dataset it was replacing if the writer died between the two renames of an
overwrite, so ``--force`` never leaves the user with nothing.

**Room.** A write asks for the room it needs before it starts, under
``<root>/.locks/space.lock``, and records it in its staging's ``reserved``: a writer counts
the free space less what live writers have reserved and not yet written, so two writers side
by side cannot both count the same megabytes and fill the disk midway (where h5py can crash).
A dead writer's reservation counts for nothing.

**Readers and writers.** The swap into place (a write's, or a reclaim's restore) holds
``<root>/.locks/<id>.lock`` exclusively and a load holds it shared from its first look at
the dataset to its last byte, so a reader never sees half of one version and half of
another, nor a dataset missing between the two renames of an overwrite.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from causal_envs.core.fs import (
    FileLock,
    StorageError,
    check_directory,
    describe_os_error,
    ensure_free_space,
)
from causal_envs.datasets.errors import DatasetError

__all__ = ["MIN_FREE_BYTES", "dataset_lock", "reclaim_staging", "staged_dataset"]

_STAGING_PREFIX = ".tmp-"
#: the file in a staging directory that holds the bytes its writer reserved
_RESERVED = "reserved"
#: a staging directory before its owner holds its lock (invisible to `reclaim_staging`)
_STARTING_PREFIX = ".new-"
#: the room a write asks for when its caller names none
MIN_FREE_BYTES = 16 * 2**20


def dataset_lock(
    dataset_id: str, root: Path, shared: bool = False, purpose: str = "swap"
) -> FileLock:
    """A lock of dataset ``dataset_id`` under ``root``, in ``<root>/.locks``. ``purpose``
    "swap": held exclusively while a write swaps the dataset into place, shared while a load
    reads it; "generate": held by the one process generating the dataset."""
    suffix = {"swap": ".lock", "generate": ".generate.lock"}[purpose]
    return FileLock(Path(root) / ".locks" / (dataset_id.replace("/", "__") + suffix), shared)


@contextlib.contextmanager
def staged_dataset(
    dataset_id: str, root: Path, overwrite: bool, needed: int = MIN_FREE_BYTES
) -> Iterator[Path]:
    """A staging root under ``root`` to build ``<tmp>/<dataset_id>`` in (every write uses it:
    `save_minari`, `save_flat`, a download), owned (locked) by this process; on success the
    dataset is swapped into ``<root>/<dataset_id>``, and the staging root is always removed.
    A filesystem error (full disk, lost permission) becomes a `DatasetError`; nothing is left
    behind."""
    parts = PurePosixPath(dataset_id).parts if isinstance(dataset_id, str) else ()
    if not parts or dataset_id.startswith("/") or {".", ".."} & set(parts) or "\\" in dataset_id:
        raise DatasetError(
            f"dataset_id must be a relative name such as 'namespace/name-v0' that stays inside "
            f"the cache, got {dataset_id!r}"
        )
    # one writer at a time checks the room and stakes its claim (the "reserved" file of its
    # staging), so that writers side by side cannot all count the same free space
    space = FileLock(Path(root) / ".locks" / "space.lock")
    try:
        root = check_directory(root, "dataset cache directory")
        reclaim_staging(root)
        final = root / dataset_id
        if os.path.lexists(final) and not overwrite:
            raise FileExistsError(f"dataset {dataset_id} already exists at {final}")
        space.acquire()
        ensure_free_space(
            root, needed, f"writing dataset {dataset_id}", reserved=_reserved_by_others(root)
        )
        starting = Path(tempfile.mkdtemp(prefix=_STARTING_PREFIX, dir=root))
    except StorageError as err:
        space.release()
        raise DatasetError(str(err)) from err
    except OSError as err:
        space.release()
        if isinstance(err, FileExistsError):
            raise
        raise DatasetError(
            f"cannot write dataset {dataset_id} under {root}: {describe_os_error(err)}"
        ) from err
    # the lock is held before the directory takes the name reclaim_staging looks for
    owner = FileLock(starting / "owner.lock")
    tmp = starting
    try:
        owner.acquire()
        tmp = starting.with_name(_STAGING_PREFIX + starting.name[len(_STARTING_PREFIX) :])
        os.rename(starting, tmp)
        (tmp / _RESERVED).write_text(str(needed))
        space.release()
        (tmp / "target").write_text(dataset_id)
        yield tmp
        (tmp / "complete").touch()
        with dataset_lock(dataset_id, root):
            _move_into_place(tmp, dataset_id, root)
    except OSError as err:
        if isinstance(err, FileExistsError):
            raise
        raise DatasetError(
            f"writing dataset {dataset_id} under {root} failed: {describe_os_error(err)}; "
            "nothing was left behind"
        ) from err
    finally:
        space.release()
        shutil.rmtree(tmp, ignore_errors=True)  # before the lock goes: no reclaim races it
        owner.release()


def _reserved_by_others(root: Path) -> int:
    """Bytes that live writers under ``root`` have reserved (`staged_dataset`'s ``needed``)
    and not yet written: free space they will take. Dead writers' staging counts for
    nothing (`reclaim_staging` removes it)."""
    total = 0
    try:
        entries = [p for p in root.iterdir() if p.name.startswith(_STAGING_PREFIX)]
    except OSError:
        return 0
    for staging in entries:
        try:
            reserved = int((staging / _RESERVED).read_text())
            lock = FileLock(staging / "owner.lock", create=False)
            if lock.acquire(blocking=False):  # nobody holds it: a dead writer
                lock.release()
                continue
            written = sum(f.stat().st_size for f in staging.rglob("*") if f.is_file())
        except (OSError, ValueError):
            continue  # finishing or gone: its bytes are on the disk or freed
        total += max(0, reserved - written)
    return total


def _move_into_place(tmp: Path, dataset_id: str, root: Path) -> None:
    """Rename ``tmp/<dataset_id>`` to ``root/<dataset_id>``; an existing dataset (or a link)
    at that path is first moved to ``tmp/.previous`` (two renames: a writer that dies between
    them leaves both in ``tmp``, and `reclaim_staging` puts one back)."""
    final = root / dataset_id
    final.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(final):
        os.replace(final, tmp / ".previous")
    os.replace(tmp / dataset_id, final)


def reclaim_staging(root: Path) -> list[Path]:
    """Remove the staging directories of dead writers under ``root``; return them.

    A staging directory is dead when nobody holds its ``owner.lock``, or when that lock file is
    gone (its writer was removing it, and the rest goes too). If its dataset is missing - the
    writer died between the two renames of an overwrite - the complete new copy, else the
    previous one, is put back first, under the dataset's swap lock. Live writers' directories,
    and those still starting (``.new-``), are never touched.
    """
    root = Path(root)
    reclaimed = []
    try:
        entries = [p for p in root.iterdir() if p.name.startswith(_STAGING_PREFIX)]
    except OSError:
        return reclaimed
    for staging in entries:
        if staging.is_symlink() or not staging.is_dir():
            continue
        lock = FileLock(staging / "owner.lock", create=False)
        try:
            if not lock.acquire(blocking=False):
                continue  # a live writer
        except FileNotFoundError:
            if staging.exists() and not (staging / "owner.lock").exists():
                pass  # its lock file is gone: a writer removing it, or one that died doing so
            else:
                continue  # going away: its writer (or another reclaim) is removing it
        try:
            _recover(staging, root)
            shutil.rmtree(staging, ignore_errors=True)
            reclaimed.append(staging)
        except OSError:
            continue  # gone already (another reclaim), or not ours to remove
        finally:
            lock.release()
    return reclaimed


def _recover(staging: Path, root: Path) -> None:
    target_file = staging / "target"
    if not target_file.exists():
        return
    dataset_id = target_file.read_text().strip()
    if not dataset_id:
        return
    final = root / dataset_id
    with dataset_lock(dataset_id, root):
        if os.path.lexists(final):
            return
        new, previous = staging / dataset_id, staging / ".previous"
        source = new if (staging / "complete").exists() and new.is_dir() else previous
        if os.path.lexists(source):
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, final)
