"""Minari storage of `TransitionDataset`: atomic writes, validated reads.

A dataset lives at ``<root>/<dataset_id>`` in Minari's own layout, plus one file of ours,
``data/transitions.npz``: the same transitions as flat arrays, whose SHA-256 is kept in the
metadata. Minari's per-episode HDF5 groups cost about a millisecond per episode to read; the flat
file loads 40,000 transitions in milliseconds and is what `load_stored` reads. With
``MINARI_DATASETS_PATH=<root>`` (the default root *is* Minari's) ``minari.load_dataset(id)``
opens it directly and ``dataset.recover_environment()`` makes the env. Writes go to a temporary
directory under ``root`` and are renamed into place, so an interrupted write leaves nothing
half-written where readers look.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from causal_envs.datasets.transitions import ARRAY_FIELDS, TransitionDataset

__all__ = [
    "FORMAT_VERSION",
    "DatasetError",
    "load_stored",
    "save_flat",
    "save_minari",
    "transitions_from_minari",
]

#: Bumped whenever the stored layout or the meaning of a field changes.
FORMAT_VERSION = 1
_META_KEY = "causal_envs"
_FLAT_FILE = "transitions.npz"


class DatasetError(RuntimeError):
    """A stored dataset is missing, corrupt or from an incompatible version."""


@contextlib.contextmanager
def _minari_root(root: Path) -> Iterator[None]:
    """Point Minari at ``root`` for the duration of the block."""
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        yield
    finally:
        if old is None:
            del os.environ["MINARI_DATASETS_PATH"]
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in ARRAY_FIELDS:
        arr = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{arr.dtype.str}:{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def _episode_buffers(data: TransitionDataset) -> list[Any]:
    from minari.data_collector import EpisodeBuffer  # deferred: minari + h5py (~0.6 s)

    buffers = []
    for i, (start, stop) in enumerate(data.episode_bounds()):
        obs = np.concatenate(
            [data.observations[start:stop], data.next_observations[stop - 1 : stop]]
        )
        buffers.append(
            EpisodeBuffer(
                id=i,
                observations=obs,
                actions=data.actions[start:stop],
                rewards=data.rewards[start:stop],
                terminations=data.terminals[start:stop],
                truncations=data.timeouts[start:stop],
            )
        )
    return buffers


def save_minari(
    data: TransitionDataset,
    dataset_id: str,
    root: Path,
    *,
    env: Any,
    description: str,
    overwrite: bool = False,
) -> Path:
    """Write ``data`` as Minari dataset ``dataset_id`` under ``root``; return its directory.

    ``data.metadata`` is stored under the ``causal_envs`` key of Minari's metadata with the
    format version. ``env`` is the env id or an env instance (whose spec, with its keyword
    arguments, Minari stores). Raises ``FileExistsError`` if the dataset exists and
    ``overwrite`` is False.
    """
    import minari  # deferred: minari + h5py (~0.6 s), not needed to list or plan datasets

    with _staging(dataset_id, root, overwrite) as tmp, _minari_root(tmp):
        ds = minari.create_dataset_from_buffers(
            dataset_id=dataset_id,
            buffer=_episode_buffers(data),
            env=env,
            eval_env=env,
            algorithm_name=data.metadata.get("generator", "unknown"),
            author="causal-envs",
            author_email="causal-envs@users.noreply.github.com",
            code_permalink="causal_envs/datasets",
            description=description,
        )
        ds.storage.update_metadata({_META_KEY: _write_flat(data, tmp / dataset_id / "data")})
    return Path(root) / dataset_id


def transitions_from_minari(ds: Any) -> TransitionDataset:
    """Convert any Minari dataset with flat Box observations and actions.

    Works for datasets made elsewhere too (e.g. to augment them with MoCoDA); episodes become
    ``episode_ends``, Minari's ``terminations`` become ``terminals``. Reads episode by episode,
    so it takes about a millisecond per episode.
    """
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("o", "a", "r", "d", "e")}
    for ep in ds.iterate_episodes():
        obs = np.asarray(ep.observations, dtype=np.float32)
        if obs.ndim != 2:
            raise DatasetError(f"episode observations must be (T+1, dim) arrays, got {obs.shape}")
        ends = np.zeros(len(ep.actions), np.bool_)
        ends[-1] = True
        parts["o"].append(obs)
        parts["a"].append(np.asarray(ep.actions, dtype=np.float32).reshape(len(ends), -1))
        parts["r"].append(np.asarray(ep.rewards, dtype=np.float32))
        parts["d"].append(np.asarray(ep.terminations, dtype=np.bool_))
        parts["e"].append(ends)
    return TransitionDataset(
        observations=np.concatenate([o[:-1] for o in parts["o"]]),
        actions=np.concatenate(parts["a"]),
        rewards=np.concatenate(parts["r"]),
        next_observations=np.concatenate([o[1:] for o in parts["o"]]),
        terminals=np.concatenate(parts["d"]),
        episode_ends=np.concatenate(parts["e"]),
        metadata={
            k: v
            for k, v in (ds.storage.metadata.get(_META_KEY) or {}).items()
            if k not in ("format_version", "sha256")
        },
    )


def save_flat(
    data: TransitionDataset, dataset_id: str, root: Path, *, overwrite: bool = False
) -> Path:
    """Write ``data`` in the same directory layout as `save_minari`, without Minari's HDF5.

    For transition sets that are not episodes (MoCoDA's generated transitions): Minari's
    per-episode groups would cost a group per transition. `load_stored` reads both.
    """
    with _staging(dataset_id, root, overwrite) as tmp:
        data_dir = tmp / dataset_id / "data"
        data_dir.mkdir(parents=True)
        meta = {
            "dataset_id": dataset_id,
            "total_steps": len(data),
            "total_episodes": data.n_episodes,
            _META_KEY: _write_flat(data, data_dir),
        }
        with open(data_dir / "metadata.json", "w") as f:
            json.dump(meta, f)
    return Path(root) / dataset_id


@contextlib.contextmanager
def _staging(dataset_id: str, root: Path, overwrite: bool) -> Iterator[Path]:
    """A temporary root under ``root`` to build ``<tmp>/<dataset_id>`` in; on success it is
    renamed to ``<root>/<dataset_id>``, and the temporary root is always removed."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / dataset_id
    if final.exists() and not overwrite:
        raise FileExistsError(f"dataset {dataset_id} already exists at {final}")
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        yield tmp
        _move_into_place(tmp / dataset_id, final, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_flat(data: TransitionDataset, data_dir: Path) -> dict[str, Any]:
    """Write the flat transitions file; return our metadata block (with its digest)."""
    arrays = {name: getattr(data, name) for name in ARRAY_FIELDS}
    np.savez(data_dir / _FLAT_FILE, **arrays)
    return {**data.metadata, "format_version": FORMAT_VERSION, "sha256": _digest(arrays)}


def _move_into_place(src: Path, final: Path, root: Path) -> None:
    """Rename ``src`` to ``final``, replacing an existing ``final`` (two renames)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    trash = None
    if final.exists():
        trash = Path(tempfile.mkdtemp(prefix=".old-", dir=root))
        os.replace(final, trash / "dataset")
    os.replace(src, final)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


def load_stored(dataset_id: str, root: Path, *, regenerate_hint: str) -> TransitionDataset:
    """Read dataset ``dataset_id`` under ``root`` (written by `save_minari` or
    `save_flat`).

    Reads the flat ``transitions.npz`` beside Minari's files and checks it against the digest
    and step count in the metadata. Raises `DatasetError` naming ``regenerate_hint``
    (the command that rebuilds it) when the dataset is missing, unreadable, modified, or not of
    this package's format version.
    """
    data_dir = Path(root) / dataset_id / "data"
    if not (data_dir / "metadata.json").exists():
        raise DatasetError(
            f"no dataset {dataset_id} at {data_dir.parent}; create it with: {regenerate_hint}"
        )
    try:
        with open(data_dir / "metadata.json") as f:
            minari_meta = json.load(f)
        meta = minari_meta.get(_META_KEY)
        if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
            found = meta.get("format_version") if isinstance(meta, dict) else None
            raise DatasetError(
                f"dataset {dataset_id} has causal-envs format {found!r}; this version reads "
                f"format {FORMAT_VERSION}. Regenerate it with: {regenerate_hint}"
            )
        with np.load(data_dir / _FLAT_FILE, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in ARRAY_FIELDS}
        if _digest(arrays) != meta.get("sha256"):
            raise DatasetError(
                f"dataset {dataset_id}: {_FLAT_FILE} does not match the digest in its metadata "
                f"(modified or truncated). Regenerate it with: {regenerate_hint}"
            )
        if minari_meta.get("total_steps") != len(arrays["observations"]):
            raise DatasetError(
                f"dataset {dataset_id}: Minari metadata counts {minari_meta.get('total_steps')} "
                f"steps, the transitions file {len(arrays['observations'])}. "
                f"Regenerate it with: {regenerate_hint}"
            )
        meta = {k: v for k, v in meta.items() if k not in ("format_version", "sha256")}
        return TransitionDataset(**arrays, metadata=meta)
    except DatasetError:
        raise
    except Exception as err:  # zip, JSON, shape errors: all mean the files are unusable
        raise DatasetError(
            f"dataset {dataset_id} at {data_dir.parent} is corrupt or unreadable "
            f"({type(err).__name__}: {err}); regenerate it with: {regenerate_hint}"
        ) from err
