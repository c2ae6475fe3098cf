"""Minari storage of `TransitionDataset`: atomic writes, validated reads.

A dataset lives at ``<root>/<dataset_id>`` in Minari's own layout, plus one file of ours,
``data/transitions.npz``: the same transitions as flat arrays, whose SHA-256 is kept in the
metadata. Minari's per-episode HDF5 groups cost about 2 ms per episode to read; the flat
file loads 40,000 transitions in milliseconds and is what `load_stored` reads. With
``MINARI_DATASETS_PATH=<root>`` (the default root *is* Minari's) ``minari.load_dataset(id)``
opens it directly and ``dataset.recover_environment()`` makes the env. Writes go to a temporary
directory under ``root`` and are renamed into place, so an interrupted write leaves nothing
half-written where readers look.

What survives the world:

- **Staging, locks and recovery** (`causal_envs.datasets.staging`): a write builds the dataset
  in a hidden staging directory and swaps it into place under the dataset's lock; a load
  holds that lock shared; a dead writer's staging is reclaimed by the next write or load.
- **Places.** The root must be a writable directory (not a file, not a broken link) and its
  filesystem must have room for everything the write puts there before anything is written
  (`causal_envs.core.fs`): the flat file and, for a Minari dataset, its HDF5 file, whose
  per-episode groups cost far more than the arrays. A disk that fills or a permission lost
  mid-write ends in one `DatasetError` with nothing left behind. A symbolic link at a
  dataset's path is followed when it leads to a dataset; one that leads nowhere is named in
  the error, and an overwrite replaces the link, never its target.
- **Minari's files.** The size and SHA-256 of ``main_data.hdf5`` are stored with ours: a load
  checks the size, `verify_minari_files` the digest (``causal-envs dataset info``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from causal_envs.core.fs import broken_link, first_line
from causal_envs.datasets.errors import DatasetError
from causal_envs.datasets.staging import (
    MIN_FREE_BYTES,
    dataset_lock,
    reclaim_staging,
    staged_dataset,
)
from causal_envs.datasets.transitions import ARRAY_FIELDS, TransitionDataset

__all__ = [
    "FORMAT_VERSION",
    "LAYOUTS",
    "dataset_digest",
    "file_facts",
    "load_stored",
    "read_metadata",
    "save_flat",
    "save_minari",
    "transitions_from_minari",
    "verify_minari_files",
]

#: Bumped whenever the stored layout or the meaning of a field changes (2: the metadata
#: declares its ``layout``).
FORMAT_VERSION = 2
#: what a dataset's metadata says it is: the flat file only (`save_flat`), or Minari's
#: episodes with the flat file beside them (`save_minari`)
LAYOUTS = ("flat", "minari")
#: our metadata's own bookkeeping, kept out of the dataset's user-facing metadata
_BOOKKEEPING = ("format_version", "sha256", "minari_files", "layout")
_META_KEY = "causal_envs"
_FLAT_FILE = "transitions.npz"
_MINARI_FILE = "main_data.hdf5"
#: a write needs about this many times the arrays' bytes (the flat file and Minari's HDF5
#: copy of the arrays)
_SPACE_FACTOR = 2.5
#: Minari's HDF5 file costs about this much per episode beyond the arrays (its groups and
#: chunked datasets): nav2d/empirical's 1,544 episodes of 40,000 transitions make a 33.8 MB
#: file, 21.9 kB an episode, while its arrays take under 2 MB
_HDF5_EPISODE_BYTES = 24 * 2**10


#: who made the datasets (Minari's ``author`` field)
AUTHOR = "the causal-envs developers"


def package_version() -> str:
    """The installed causal-envs version (stored with every dataset)."""
    try:
        return version("causal-envs")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


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


def dataset_digest(data: TransitionDataset) -> str:
    """The SHA-256 of a dataset's arrays (the digest its stored copy is checked against)."""
    return _digest({name: getattr(data, name) for name in ARRAY_FIELDS})


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in ARRAY_FIELDS:
        arr = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{arr.dtype.str}:{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def _episode_infos(step_infos: dict[str, np.ndarray], start: int, stop: int) -> dict | None:
    """Minari's per-episode infos: a row for the reset (zeros) and one per step."""
    if not step_infos:
        return None
    return {
        key: np.concatenate([np.zeros_like(arr[:1]), arr[start:stop]])
        for key, arr in step_infos.items()
    }


def _episode_buffers(
    data: TransitionDataset, step_infos: dict[str, np.ndarray] | None = None
) -> list[Any]:
    from minari.data_collector import EpisodeBuffer  # deferred: minari + h5py (~0.6 s)

    step_infos = step_infos or {}
    for key, arr in step_infos.items():
        if len(arr) != len(data):
            raise ValueError(f"step info {key!r} has {len(arr)} rows for {len(data)} transitions")
    buffers = []
    for i, (start, stop) in enumerate(data.episode_bounds()):
        # Minari stores an episode as one observation sequence: each row's next state must be
        # the next row's state, or Minari's copy would silently hold other next states
        if not np.array_equal(
            data.next_observations[start : stop - 1], data.observations[start + 1 : stop]
        ):
            raise ValueError(
                f"episode {i} (rows {start}-{stop - 1}) does not chain: a row's next state is "
                "not the next row's state, which Minari's episode format cannot hold; "
                "causal_envs.datasets.to_minari cuts such data into runs that chain"
            )
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
                infos=_episode_infos(step_infos, start, stop),
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
    step_infos: dict[str, np.ndarray] | None = None,
    code_permalink: str | None = None,
    requirements: list[str] | None = None,
) -> Path:
    """Write ``data`` as Minari dataset ``dataset_id`` under ``root``; return its directory.

    ``data.metadata`` is stored under the ``causal_envs`` key of Minari's metadata with the
    format version; its ``ref_min_score`` and ``ref_max_score``, when present, also as Minari's
    own reference scores (``minari.get_normalized_score``). ``env`` is the env id or an env
    instance (whose spec, with its keyword arguments, Minari stores). ``step_infos`` holds
    per-transition arrays (e.g. ``is_success``, ``causal_mask``) stored as Minari's episode
    infos. Raises ``FileExistsError`` if the dataset exists and ``overwrite`` is False.
    """
    import minari  # deferred: minari + h5py (~0.6 s), not needed to list or plan datasets

    _check_writable(data)
    meta = data.metadata
    needed = (
        _needed_bytes(data)
        + 2 * sum(a.nbytes for a in (step_infos or {}).values())
        + data.n_episodes * _HDF5_EPISODE_BYTES
    )
    with staged_dataset(dataset_id, root, overwrite, needed) as tmp, _minari_root(tmp):
        with warnings.catch_warnings(), _hdf5_errors(dataset_id, root):
            # the project has no contact address but its code (in code_permalink)
            warnings.filterwarnings("ignore", message="`author_email` is set to None")
            ds = minari.create_dataset_from_buffers(
                dataset_id=dataset_id,
                buffer=_episode_buffers(data, step_infos),
                env=env,
                eval_env=env,
                algorithm_name=meta.get("generator", "unknown"),
                author=AUTHOR,
                code_permalink=code_permalink or f"causal-envs {package_version()}",
                ref_min_score=meta.get("ref_min_score"),
                ref_max_score=meta.get("ref_max_score"),
                description=description,
                requirements=requirements or [f"causal-envs=={package_version()}"],
            )
        data_dir = tmp / dataset_id / "data"
        block = _write_flat(data, data_dir, "minari")
        block["minari_files"] = {_MINARI_FILE: file_facts(data_dir / _MINARI_FILE)}
        with _hdf5_errors(dataset_id, root):
            ds.storage.update_metadata({_META_KEY: block})
    return Path(root) / dataset_id


def _check_writable(data: Any) -> None:
    if not isinstance(data, TransitionDataset):
        raise TypeError(f"data must be a TransitionDataset, got {type(data).__name__}")


@contextlib.contextmanager
def _hdf5_errors(dataset_id: str, root: str | os.PathLike) -> Iterator[None]:
    """h5py reports a failed write (a disk that filled after the space check, say) as a
    ``RuntimeError``: a `DatasetError` here, so that the staging is removed and the user
    reads one line."""
    try:
        yield
    except RuntimeError as err:
        raise DatasetError(
            f"writing dataset {dataset_id} under {root} failed in Minari's HDF5 file "
            f"({first_line(err)}); nothing was left behind"
        ) from None


def transitions_from_minari(ds: Any) -> TransitionDataset:
    """Convert any Minari dataset with flat Box observations and actions.

    Works for datasets made elsewhere too (e.g. to augment them with MoCoDA); episodes become
    ``episode_ends``, Minari's ``terminations`` become ``terminals``. Reads episode by episode,
    so it takes about 2 ms per episode (docs/results.md, "Environment speed").
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
            if k not in _BOOKKEEPING
        },
    )


def save_flat(
    data: TransitionDataset, dataset_id: str, root: Path, *, overwrite: bool = False
) -> Path:
    """Write ``data`` in the same directory layout as `save_minari`, without Minari's HDF5.

    For transition sets that are not episodes (MoCoDA's generated transitions): Minari's
    per-episode groups would cost a group per transition. `load_stored` reads both.
    """
    _check_writable(data)
    with staged_dataset(dataset_id, root, overwrite, _needed_bytes(data)) as tmp:
        data_dir = tmp / dataset_id / "data"
        data_dir.mkdir(parents=True)
        meta = {
            "dataset_id": dataset_id,
            "total_steps": len(data),
            "total_episodes": data.n_episodes,
            _META_KEY: _write_flat(data, data_dir, "flat"),
        }
        with open(data_dir / "metadata.json", "w") as f:
            json.dump(meta, f)
    return Path(root) / dataset_id


def _needed_bytes(data: TransitionDataset) -> int:
    arrays = sum(getattr(data, name).nbytes for name in ARRAY_FIELDS)
    return int(arrays * _SPACE_FACTOR) + MIN_FREE_BYTES


def file_facts(path: Path) -> dict[str, Any]:
    """``{"bytes": size, "sha256": digest}`` of a file (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return {"bytes": path.stat().st_size, "sha256": h.hexdigest()}


def _write_flat(data: TransitionDataset, data_dir: Path, layout: str) -> dict[str, Any]:
    """Write the flat transitions file; return our metadata block (its digest, the format
    and the dataset's ``layout``, one of `LAYOUTS`)."""
    arrays = {name: getattr(data, name) for name in ARRAY_FIELDS}
    np.savez(data_dir / _FLAT_FILE, **arrays)
    return {
        **data.metadata,
        "format_version": FORMAT_VERSION,
        "layout": layout,
        "sha256": _digest(arrays),
    }


def load_stored(dataset_id: str, root: Path, *, regenerate_hint: str) -> TransitionDataset:
    """Read dataset ``dataset_id`` under ``root`` (written by `save_minari` or
    `save_flat`).

    Reads the flat ``transitions.npz`` beside Minari's files and checks it against the digest
    and step count in the metadata, and Minari's HDF5 file against its recorded size. Raises
    `DatasetError` naming ``regenerate_hint`` (the command that rebuilds it) when the dataset
    is missing, unreadable, modified, a link that leads nowhere, or not of this package's
    format version. A dataset a dead writer left half-swapped is put back first
    (`reclaim_staging`).
    """
    root = Path(root)
    final = root / dataset_id
    if root.is_dir():
        reclaim_staging(root)  # a dead writer's dataset put back, its staging removed
    lock = dataset_lock(dataset_id, root, shared=True)
    try:  # a read-only cache cannot hold a lock file, and has no writer to fear
        lock.acquire()
    except OSError:
        pass
    try:  # from the first look to the last byte: no swap in between
        if final.is_symlink() and not final.exists():
            raise DatasetError(
                f"dataset {dataset_id}: {final} {broken_link(final)}; remove the link, or "
                f"regenerate the dataset (replacing the link, not its target) with: "
                f"{regenerate_hint}"
            )
        data_dir = final / "data"
        if final.exists() and not final.is_dir():
            raise DatasetError(
                f"dataset {dataset_id}: {final} is a file, not a dataset directory; remove it "
                f"and regenerate with: {regenerate_hint}"
            )
        if not (data_dir / "metadata.json").exists():
            raise DatasetError(
                f"no dataset {dataset_id} at {data_dir.parent}; create it with: {regenerate_hint}"
            )
        return _read(dataset_id, data_dir, regenerate_hint)
    finally:
        lock.release()


def _read(dataset_id: str, data_dir: Path, regenerate_hint: str) -> TransitionDataset:
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
        for name, facts in _declared_minari_files(meta, dataset_id, regenerate_hint).items():
            path = data_dir / name
            size = path.stat().st_size if path.exists() else None
            if size != facts.get("bytes"):
                state = "is missing" if size is None else f"has {size:,} bytes"
                raise DatasetError(
                    f"dataset {dataset_id}: Minari's {name} {state}, {facts.get('bytes'):,} "
                    f"were written (deleted or truncated). Regenerate it with: {regenerate_hint}"
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
        meta = {k: v for k, v in meta.items() if k not in _BOOKKEEPING}
        return TransitionDataset(**arrays, metadata=meta)
    except DatasetError:
        raise
    except Exception as err:  # zip, JSON, shape errors: all mean the files are unusable
        raise DatasetError(
            f"dataset {dataset_id} at {data_dir.parent} is corrupt or unreadable "
            f"({type(err).__name__}: {err}); regenerate it with: {regenerate_hint}"
        ) from err


def read_metadata(dataset_id: str, root: Path, *, regenerate_hint: str) -> dict[str, Any]:
    """Our metadata block of dataset ``dataset_id`` under ``root`` (no arrays are read)."""
    path = Path(root) / dataset_id / "data" / "metadata.json"
    try:
        meta = json.loads(path.read_text()).get(_META_KEY)
    except (OSError, ValueError, AttributeError) as err:
        raise DatasetError(
            f"dataset {dataset_id}: its metadata {path} is missing or unreadable ({err}); "
            f"regenerate it with: {regenerate_hint}"
        ) from err
    if not isinstance(meta, dict):
        raise DatasetError(
            f"dataset {dataset_id} was not written by causal-envs; regenerate it with: "
            f"{regenerate_hint}"
        )
    return {k: v for k, v in meta.items() if k not in ("sha256", "minari_files")}


def _declared_minari_files(
    meta: dict[str, Any], dataset_id: str, regenerate_hint: str
) -> dict[str, dict[str, Any]]:
    """The Minari files our metadata block ``meta`` declares, each with its size and digest:
    none for the flat layout (`save_flat`); a `DatasetError` for a layout not in `LAYOUTS`, or
    a Minari one without them."""
    layout = meta.get("layout")
    if layout == "flat":
        return {}
    if layout != "minari" or not meta.get("minari_files"):
        raise DatasetError(
            f"dataset {dataset_id}: its metadata declares layout {layout!r} (one of "
            f"{LAYOUTS}, a Minari one with its files' digests). Regenerate it with: "
            f"{regenerate_hint}"
        )
    return meta["minari_files"]


def verify_minari_files(dataset_id: str, root: Path, *, regenerate_hint: str) -> dict[str, str]:
    """Check Minari's files of dataset ``dataset_id`` against the SHA-256 digests recorded
    when it was written (a load checks only their sizes); return ``{file: "ok"}`` (none for a
    flat dataset). Raises `DatasetError` on a mismatch, or when no digest was recorded (not a
    dataset this package wrote)."""
    data_dir = Path(root) / dataset_id / "data"
    try:
        meta = json.loads((data_dir / "metadata.json").read_text()).get(_META_KEY) or {}
    except (OSError, ValueError) as err:
        raise DatasetError(
            f"dataset {dataset_id}: its metadata is unreadable ({err}); regenerate it with: "
            f"{regenerate_hint}"
        ) from err
    out = {}
    for name, facts in _declared_minari_files(meta, dataset_id, regenerate_hint).items():
        path = data_dir / name
        if not path.exists() or file_facts(path)["sha256"] != facts.get("sha256"):
            raise DatasetError(
                f"dataset {dataset_id}: Minari's {name} does not match the digest recorded when "
                f"it was written (modified, truncated or deleted). Regenerate it with: "
                f"{regenerate_hint}"
            )
        out[name] = "ok"
    return out
