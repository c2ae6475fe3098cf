"""The dataset-layer side of ``env.unwrapped.get_dataset()`` (see `causal_envs.core.offline`).

Every env family with named datasets has one provider here, registered by the composition root
(``causal_envs/__init__.py``). A provider finds the named dataset that belongs to the env
asking (2D Navigation: ``nav2d/empirical``; CartPole and the synthetic POMDP: the task of
their sequence whose dynamics the env has; HookSweep2: ``hooksweep2/expert``), loads it from
the cache (generating it on first use) and relabels it with the env's own batched
``reward_fn``/``termination_fn``, so an env with another goal gets matching labels. The same
lookup gives the dataset's reference scores to ``env.unwrapped.get_normalized_score``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from causal_envs.datasets.augmented import load_augmented
from causal_envs.datasets.registry import DATASETS, get_spec, load_dataset, stored_metadata
from causal_envs.datasets.transitions import TransitionDataset
from causal_envs.envs.nav2d import Nav2DModel

__all__ = ["cartpole", "hooksweep2", "nav2d", "synthetic"]


@dataclass(frozen=True)
class Provider:
    """How one env family finds and relabels its datasets."""

    family: str

    def dataset_name(self, env: Any, seed: int, name: str | None) -> str:
        """The named dataset of ``env`` (``name`` if given, checked to be of this family)."""
        if name is None:
            return self.default_name(env, seed)
        get_spec(name)
        if not name.startswith(self.family + "/"):
            known = sorted(n for n in DATASETS if n.startswith(self.family + "/"))
            raise ValueError(f"{name!r} is not a {self.family} dataset; {self.family}'s: {known}")
        return name

    def default_name(self, env: Any, seed: int) -> str:
        raise NotImplementedError

    def relabel(self, env: Any, data: TransitionDataset) -> TransitionDataset:
        return data.relabel(env.reward_fn, env.termination_fn)

    # the provider kinds registered with causal_envs.core.offline
    def dataset(
        self, env: Any, seed: int = 0, regenerate: bool = False, name: str | None = None
    ) -> dict[str, np.ndarray]:
        name = self.dataset_name(env, seed, name)
        data = load_dataset(name, seed=seed, regenerate=regenerate)
        return self.relabel(env, data).to_d4rl()

    def augmented(self, env: Any, method: str, seed: int = 0) -> dict[str, np.ndarray]:
        name = self.dataset_name(env, seed, None)
        return self.relabel(env, load_augmented(name, method, seed)).to_d4rl()

    def reference(self, env: Any, seed: int = 0, name: str | None = None) -> tuple[float, float]:
        name = self.dataset_name(env, seed, name)
        meta = stored_metadata(name, seed)
        low, high = meta.get("ref_min_score"), meta.get("ref_max_score")
        if low is None or high is None:
            raise ValueError(
                f"dataset {name} has no reference scores: "
                + (meta.get("reference_note") or "regenerate it with this version to measure them")
            )
        return float(low), float(high)


class _Nav2D(Provider):
    def default_name(self, env: Any, seed: int) -> str:
        m = env.batch_model
        if not m.same_dynamics(Nav2DModel()):
            raise ValueError(
                "the stored Nav2D datasets were generated with the default dynamics "
                "(step_size, entanglement, quadrant) = (0.05, 0.02, 0.5); this env uses "
                f"{(m.step_size, m.entanglement, m.quadrant)}"
            )
        return "nav2d/empirical"


class _TaskSequence(Provider):
    """CartPole and the synthetic POMDP: the task of the seed's sequence with the env's
    dynamics."""

    def default_name(self, env: Any, seed: int) -> str:
        for name in sorted(n for n in DATASETS if n.startswith(self.family + "/")):
            task_env = get_spec(name).env(seed)
            try:
                if self.same_dynamics(env, task_env.unwrapped):
                    return name
            finally:
                task_env.close()
        raise ValueError(
            f"this {type(env).__name__}'s dynamics match none of the {self.family} sequence's "
            f"tasks with seed {seed} (the named datasets are that sequence's tasks: "
            f"causal-envs tasks list --seed {seed}); make the env with a task's kwargs, or "
            "pass name= and the seed"
        )

    def same_dynamics(self, env: Any, task_env: Any) -> bool:
        raise NotImplementedError


class _CartPole(_TaskSequence):
    def same_dynamics(self, env: Any, task_env: Any) -> bool:
        return env.obs_type == "state" and env.batch_model == task_env.batch_model


class _Synthetic(_TaskSequence):
    def same_dynamics(self, env: Any, task_env: Any) -> bool:
        a, b = env.batch_model, task_env.batch_model
        same_model = all(
            np.array_equal(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)
        )
        return same_model and env.theta == task_env.theta and env.noise_std == task_env.noise_std

    def relabel(self, env: Any, data: TransitionDataset) -> TransitionDataset:
        # a latent-structure env: its reward is a function of the hidden state, which the
        # data does not hold; the stored rewards are the task's own
        return data


class _HookSweep2(Provider):
    def default_name(self, env: Any, seed: int) -> str:
        return "hooksweep2/expert"

    def relabel(self, env: Any, data: TransitionDataset) -> TransitionDataset:
        from causal_envs.envs.hooksweep.model import STATE_DIM  # deferred: MuJoCo

        # the flat observations are [state (16), goal (6)]
        states, goals = data.observations[:, :STATE_DIM], data.observations[:, STATE_DIM:]
        nxt, actions = data.next_observations[:, :STATE_DIM], data.actions
        return dataclasses.replace(
            data,
            rewards=np.asarray(env.reward_fn(states, actions, nxt, goals), np.float32),
            terminals=np.asarray(env.termination_fn(states, actions, nxt, goals), np.bool_),
        )


nav2d = _Nav2D("nav2d")
cartpole = _CartPole("cartpole")
synthetic = _Synthetic("synthetic")
hooksweep2 = _HookSweep2("hooksweep2")
