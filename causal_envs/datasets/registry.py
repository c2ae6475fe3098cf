"""Named datasets, the local cache, and the generate-or-load entry points.

The cache root is, in order: ``$CAUSAL_ENVS_DATA_DIR``, ``$MINARI_DATASETS_PATH``, or Minari's
default ``~/.minari/datasets``, so cached datasets are also visible to ``minari list local``.
A dataset named ``nav2d/empirical`` with seed 0 has Minari id
``causal-envs/nav2d/empirical-v0``; another seed ``s`` gives
``causal-envs/nav2d/empirical-seed{s}-v0``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from causal_envs.core.fs import StorageError, check_directory
from causal_envs.datasets.errors import DatasetError
from causal_envs.datasets.hooksweep import generate_hooksweep2_expert
from causal_envs.datasets.nav2d import generate_nav2d_empirical
from causal_envs.datasets.plots import plot_hooksweep2_dataset, plot_nav2d_dataset
from causal_envs.datasets.reference import (
    REFERENCE_EPISODES,
    BestPolicy,
    cartpole_optimum,
    hooksweep2_expert,
    nav2d_straight_line,
    reference_scores,
)
from causal_envs.datasets.remote import fetch_archive, pack_archive
from causal_envs.datasets.rollouts import generate_task_rollouts
from causal_envs.datasets.staging import dataset_lock, reclaim_staging
from causal_envs.datasets.storage import load_stored, package_version, read_metadata, save_minari
from causal_envs.datasets.transitions import TransitionDataset
from causal_envs.tasks import make_sequence

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "check_seed",
    "data_root",
    "download_dataset",
    "generate_dataset",
    "get_spec",
    "load_dataset",
    "pack_dataset",
    "stored_metadata",
]

DATA_DIR_ENV = "CAUSAL_ENVS_DATA_DIR"


@dataclass(frozen=True)
class DatasetSpec:
    """How to make one named dataset.

    ``generate(seed)`` returns the data; ``plot(data, path)`` draws it; ``env_id`` is the env
    the data belongs to (stored so Minari can recover it).
    """

    name: str
    env_id: str
    description: str
    generate: Callable[[int], TransitionDataset]
    plot: Callable[[TransitionDataset, Path], None] | None = None
    #: the env (with its task's kwargs) stored with the data; default ``gym.make(env_id)``
    make_env: Callable[[int], Any] | None = None
    #: the policy whose return is ``ref_max_score`` (`causal_envs.datasets.reference`); the
    #: reference scores are measured when the dataset is generated
    best: BestPolicy | None = None
    reference_episodes: int = REFERENCE_EPISODES
    #: the data was collected by a uniformly random policy: its episodes give ``ref_min_score``
    random_policy_data: bool = False
    #: why the dataset has no reference scores (stored in its metadata when ``best`` is None)
    reference_note: str | None = None
    #: ``step_infos(env, data) -> {key: (N, ...) array}`` stored as Minari's episode infos
    step_infos: Callable[[Any, TransitionDataset], dict[str, np.ndarray]] | None = None
    #: pip requirements beyond causal-envs itself to recover the env (Minari's
    #: ``requirements``)
    requirements: tuple[str, ...] = ()
    #: the data's version, the ``-vN`` of its Minari id: raised whenever what the generator
    #: makes changes, so that a cached or mirrored copy of older data is never taken for it
    version: int = 0

    def env(self, seed: int = 0) -> gym.Env:
        """The env the data belongs to, as Minari recovers it."""
        return self.make_env(seed) if self.make_env is not None else gym.make(self.env_id)

    def dataset_id(self, seed: int = 0) -> str:
        seed_part = "" if seed == 0 else f"-seed{seed}"
        return f"causal-envs/{self.name}{seed_part}-v{self.version}"

    def regenerate_hint(self, seed: int = 0) -> str:
        seed_part = "" if seed == 0 else f" --seed {seed}"
        return f"causal-envs dataset generate {self.name}{seed_part} --force"


def _hooksweep2_expert(name: str, n_transitions: int) -> Callable[[int], TransitionDataset]:
    def generate(seed: int) -> TransitionDataset:
        data = generate_hooksweep2_expert(n_transitions, seed)
        data.metadata["generator"] = name
        return data

    return generate


def _hooksweep2_env(seed: int) -> gym.Env:
    return gym.make("HookSweep2Source-v1", flat_obs=True)


def _causal_mask(env: gym.Env, data: TransitionDataset, state_dim: int | None = None) -> np.ndarray:
    """Each transition's ground-truth local causal mask, from the env's batched API."""
    states = data.observations if state_dim is None else data.observations[:, :state_dim]
    return np.asarray(env.unwrapped.local_mask(states, data.actions), dtype=np.bool_)


def _hooksweep2_infos(env: gym.Env, data: TransitionDataset) -> dict[str, np.ndarray]:
    from causal_envs.envs.hooksweep.model import STATE_DIM  # deferred: MuJoCo's model module

    return {
        "is_success": np.abs(data.rewards) < 0.3,  # the env's own info["is_success"]
        "causal_mask": _causal_mask(env, data, STATE_DIM),
    }


def _nav2d_infos(env: gym.Env, data: TransitionDataset) -> dict[str, np.ndarray]:
    return {"is_success": data.terminals.copy(), "causal_mask": _causal_mask(env, data)}


def _cartpole_infos(env: gym.Env, data: TransitionDataset) -> dict[str, np.ndarray]:
    return {"causal_mask": _causal_mask(env, data)}


_HOOKSWEEP2_DATASETS = [
    DatasetSpec(
        name=f"hooksweep2/{name}",
        env_id="HookSweep2Source-v1",
        description=(
            f"MoCoDA HookSweep2 empirical data: {size:,} transitions of a scripted expert "
            "sweeping ONE box to its goal (source task, action noise 0.1 on half the steps); "
            "observations [state (16), goal (6)], source-task rewards."
        ),
        generate=_hooksweep2_expert(f"hooksweep2/{name}", size),
        plot=plot_hooksweep2_dataset,
        make_env=_hooksweep2_env,
        best=hooksweep2_expert,
        reference_episodes=20,  # of each reference policy (MuJoCo: about 9 s)
        step_infos=_hooksweep2_infos,
        requirements=("mujoco>=3.1", "gymnasium-robotics>=1.2"),
        # v1: HookSweep2-v1's goals (one offset shared as the authors' code draws them)
        version=1,
    )
    for name, size in (("expert", 1_000_000), ("expert-100k", 100_000))
]


def _rollouts(sequence: str, task: int, **kwargs: Any) -> Callable[[int], TransitionDataset]:
    def generate(seed: int) -> TransitionDataset:
        return generate_task_rollouts(sequence, task, seed, **kwargs)

    return generate


def _task_env(sequence: str, task: int, **kwargs: Any) -> Callable[[int], gym.Env]:
    def make(seed: int) -> gym.Env:
        return make_sequence(sequence, seed=seed, **kwargs).make(task)

    return make


_ROLLOUT_DATASETS = [
    DatasetSpec(
        name=f"{sequence}/task{task + 1}",
        env_id=env_id,
        description=f"{sequence} task {task + 1}: 100 random-policy episodes{extra}",
        generate=_rollouts(sequence, task, **kwargs),
        make_env=_task_env(sequence, task, **kwargs),
        best=best,
        random_policy_data=True,
        step_infos=infos,
        reference_note=(
            None
            if best is not None
            else "the synthetic POMDP has no known optimum and no expert policy"
        ),
    )
    for sequence, env_id, kwargs, extra, best, infos in (
        ("synthetic", "SyntheticPOMDP-v0", {}, " x 256 steps", None, None),
        (
            "cartpole",
            "CausalCartPole-v0",
            {"obs_type": "state"},
            " (state observations)",
            cartpole_optimum,
            _cartpole_infos,
        ),
    )
    for task in range(4)
]

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        *_ROLLOUT_DATASETS,
        *_HOOKSWEEP2_DATASETS,
        DatasetSpec(
            name="nav2d/empirical",
            env_id="CausalNav2D-v0",
            description=(
                "MoCoDA 2D Navigation empirical data: 20,000 bottom-to-top and 20,000 "
                "left-to-right transitions, rewards and terminals labelled for the "
                "bottom-left to top-right target task."
            ),
            generate=generate_nav2d_empirical,
            plot=plot_nav2d_dataset,
            best=nav2d_straight_line,
            step_infos=_nav2d_infos,
        ),
    )
}


def get_spec(name: str) -> DatasetSpec:
    """The registered dataset ``name``, or a ``KeyError`` listing the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known datasets: {sorted(DATASETS)}") from None


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The cache directory (created on demand)."""
    if root is None:
        root = os.environ.get(DATA_DIR_ENV) or os.environ.get("MINARI_DATASETS_PATH")
    if root is None:
        root = Path.home() / ".minari" / "datasets"
    return Path(root).expanduser()


def check_seed(seed: int) -> int:
    """``seed`` if it is a non-negative integer, else ValueError."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return seed


def generate_dataset(
    name: str, seed: int = 0, *, force: bool = False, root: str | os.PathLike | None = None
) -> Path:
    """Generate dataset ``name`` with ``seed`` into the cache; return its directory.

    Does nothing if it is already cached, unless ``force``. Processes generating the same
    dataset take turns (an inter-process lock per dataset): the later ones find it made.
    """
    spec, seed = get_spec(name), check_seed(seed)
    try:
        base = check_directory(data_root(root), "dataset cache directory")
    except StorageError as err:
        raise DatasetError(str(err)) from err
    dataset_id = spec.dataset_id(seed)
    path = base / dataset_id
    # one generator per dataset at a time: a second one waits, then finds the first's result
    with dataset_lock(dataset_id, base, purpose="generate"):
        if (path / "data" / "metadata.json").exists() and not force:
            reclaim_staging(base)  # a dead writer's copy does not outlive a cache hit either
            return path
        data = spec.generate(seed)
        env = spec.env(seed)
        try:
            if spec.best is not None:
                random_returns = data.episode_returns() if spec.random_policy_data else None
                data.metadata.update(
                    reference_scores(env, spec.best, seed, spec.reference_episodes, random_returns)
                )
            elif spec.reference_note:
                data.metadata["reference_note"] = spec.reference_note
            infos = spec.step_infos(env, data) if spec.step_infos is not None else None
        finally:
            env.close()
        return save_minari(
            data,
            dataset_id,
            base,
            env=spec.make_env(seed) if spec.make_env is not None else spec.env_id,
            description=spec.description,
            overwrite=True,
            step_infos=infos,
            code_permalink=(
                f"causal-envs {package_version()}: causal_envs/datasets/registry.py, dataset "
                f"{name!r}; regenerate with: causal-envs dataset generate {name}"
                + (f" --seed {seed}" if seed else "")
            ),
            requirements=[f"causal-envs=={package_version()}", *spec.requirements],
        )


def load_dataset(
    name: str,
    seed: int = 0,
    *,
    regenerate: bool = False,
    root: str | os.PathLike | None = None,
    download: bool = False,
    mirror: str | None = None,
) -> TransitionDataset:
    """Load dataset ``name`` from the cache, generating it first if it is not there (or,
    with ``download``, downloading it from ``mirror`` or ``$CAUSAL_ENVS_MIRROR``: see
    `causal_envs.datasets.remote`).

    Raises `DatasetError` (with the command that rebuilds it) if the cached copy is
    corrupt, from an incompatible version, or not the one asked for.
    """
    spec, seed = get_spec(name), check_seed(seed)
    base = data_root(root)
    dataset_id = spec.dataset_id(seed)
    if download and (regenerate or not (base / dataset_id).exists()):
        download_dataset(name, seed, mirror=mirror, root=base, force=regenerate, progress=False)
    elif regenerate or not (base / dataset_id).exists():
        generate_dataset(name, seed, force=regenerate, root=base)
    data = load_stored(dataset_id, base, regenerate_hint=spec.regenerate_hint(seed))
    if data.metadata.get("generator") != name or data.metadata.get("seed") != seed:
        raise DatasetError(
            f"cached {dataset_id} says generator={data.metadata.get('generator')!r}, "
            f"seed={data.metadata.get('seed')!r}; expected {name!r}, {seed}. "
            f"Regenerate it with: {spec.regenerate_hint(seed)}"
        )
    return data


def pack_dataset(
    name: str, seed: int = 0, *, out: str | os.PathLike, root: str | os.PathLike | None = None
) -> tuple[Path, Path]:
    """Write cached dataset ``name`` as an archive and a manifest under ``out``, laid out as a
    mirror serves them (`causal_envs.datasets.remote`); return both paths."""
    spec, seed = get_spec(name), check_seed(seed)
    command = spec.regenerate_hint(seed).replace(" --force", "")
    return pack_archive(
        spec.dataset_id(seed), data_root(root), out, name=name, seed=seed, command=command
    )


def download_dataset(
    name: str,
    seed: int = 0,
    *,
    mirror: str | None = None,
    root: str | os.PathLike | None = None,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Download dataset ``name`` from ``mirror`` (default ``$CAUSAL_ENVS_MIRROR``) into the
    cache, resuming, verifying every checksum and swapping it in atomically
    (`causal_envs.datasets.remote`); return its directory. A no-op when it is cached, unless
    ``force``."""
    spec, seed = get_spec(name), check_seed(seed)
    return fetch_archive(
        spec.dataset_id(seed),
        data_root(root),
        name=name,
        seed=seed,
        regenerate_hint=spec.regenerate_hint(seed),
        mirror=mirror,
        force=force,
        progress=progress,
    )


def stored_metadata(
    name: str, seed: int = 0, *, root: str | os.PathLike | None = None
) -> dict[str, Any]:
    """The metadata of dataset ``name`` (generator, seed, reference scores, ...) without
    loading its arrays; generates it first if it is not cached."""
    spec, seed = get_spec(name), check_seed(seed)
    base = data_root(root)
    if not (base / spec.dataset_id(seed) / "data" / "metadata.json").exists():
        generate_dataset(name, seed, root=base)
    return read_metadata(spec.dataset_id(seed), base, regenerate_hint=spec.regenerate_hint(seed))
