"""An offline dataset held as flat transition arrays with explicit episode boundaries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

__all__ = ["ARRAY_FIELDS", "TransitionDataset"]

#: the arrays a TransitionDataset holds, in order (storage and augmentation use this tuple too)
ARRAY_FIELDS = (
    "observations",
    "actions",
    "rewards",
    "next_observations",
    "terminals",
    "episode_ends",
)


@dataclass(frozen=True)
class TransitionDataset:
    """``N`` transitions ``(s, a, r, s', terminal)`` grouped into episodes.

    ``terminals[i]`` is the task's termination label of transition ``i`` (D4RL's ``terminals``);
    ``episode_ends[i]`` marks the last transition of an episode of the behaviour that collected
    the data. The two are distinct: a behaviour episode may pass through the goal and go on, so
    a terminal can fall inside an episode. ``timeouts`` (D4RL) are the episode ends that are not
    terminals. Arrays are validated on construction: equal lengths, float32 observations,
    actions and rewards, bool flags, no NaN, and the last transition ends an episode.
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_observations: np.ndarray
    terminals: np.ndarray
    episode_ends: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.observations)
        for name in ARRAY_FIELDS:
            arr = getattr(self, name)
            if not isinstance(arr, np.ndarray) or len(arr) != n:
                raise ValueError(f"{name} must be an array of length {n} (len(observations))")
        for name in ("observations", "actions", "next_observations"):
            arr = getattr(self, name)
            if arr.ndim != 2 or arr.dtype != np.float32:
                raise ValueError(f"{name} must be float32 (N, dim), got {arr.dtype} {arr.shape}")
        if self.next_observations.shape != self.observations.shape:
            raise ValueError("next_observations and observations differ in shape")
        if self.rewards.shape != (n,) or self.rewards.dtype != np.float32:
            raise ValueError(
                f"rewards must be float32 (N,), got {self.rewards.dtype} {self.rewards.shape}"
            )
        for name in ("terminals", "episode_ends"):
            arr = getattr(self, name)
            if arr.shape != (n,) or arr.dtype != np.bool_:
                raise ValueError(f"{name} must be bool (N,), got {arr.dtype} {arr.shape}")
        for name in ("observations", "actions", "rewards", "next_observations"):
            if not np.isfinite(getattr(self, name)).all():
                raise ValueError(f"{name} contains NaN or inf")
        if n and not self.episode_ends[-1]:
            raise ValueError("the last transition must end an episode (episode_ends[-1] is False)")

    def __len__(self) -> int:
        return len(self.observations)

    @property
    def timeouts(self) -> np.ndarray:
        """Episode ends that are not task terminations (D4RL's ``timeouts``)."""
        return self.episode_ends & ~self.terminals

    @property
    def n_episodes(self) -> int:
        return int(self.episode_ends.sum())

    def episode_bounds(self) -> np.ndarray:
        """``(n_episodes, 2)`` array of ``[start, stop)`` transition indices."""
        stops = np.flatnonzero(self.episode_ends) + 1
        starts = np.concatenate([[0], stops[:-1]])
        return np.stack([starts, stops], axis=1)

    def episode_returns(self) -> np.ndarray:
        """The undiscounted return of every behaviour episode, in order (float64)."""
        starts = self.episode_bounds()[:, 0]
        return np.add.reduceat(self.rewards.astype(np.float64), starts) if len(self) else starts

    def summary(self) -> dict[str, Any]:
        """The dataset's counts as plain data: transitions, episodes and their lengths,
        terminals (and how many sit inside an episode, where the behaviour went on), the
        episode ends that are not terminals (``timeouts``) and the rewards' range
        (``causal-envs dataset info`` prints them; ``bench dataset-card`` records them)."""
        lengths = np.diff(self.episode_bounds(), axis=1).ravel()
        return {
            "transitions": len(self),
            "episodes": self.n_episodes,
            "episode_length": {
                "min": int(lengths.min()),
                "max": int(lengths.max()),
                "mean": float(lengths.mean()),
            },
            "terminals": int(self.terminals.sum()),
            "terminals_inside_episodes": int((self.terminals & ~self.episode_ends).sum()),
            "timeouts": int(self.timeouts.sum()),
            "reward": {
                "mean": float(self.rewards.mean()),
                "min": float(self.rewards.min()),
                "max": float(self.rewards.max()),
            },
        }

    def to_d4rl(self) -> dict[str, np.ndarray]:
        """The D4RL dict: observations, actions, rewards, next_observations, terminals, timeouts."""
        return {
            "observations": self.observations,
            "actions": self.actions,
            "rewards": self.rewards,
            "next_observations": self.next_observations,
            "terminals": self.terminals,
            "timeouts": self.timeouts,
        }

    def relabel(
        self,
        reward_fn: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
        termination_fn: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    ) -> TransitionDataset:
        """A copy whose rewards and terminals are recomputed by batched label functions."""
        args = (self.observations, self.actions, self.next_observations)
        rewards = np.asarray(reward_fn(*args), dtype=np.float32)
        terminals = np.asarray(termination_fn(*args), dtype=np.bool_)
        return replace(self, rewards=rewards, terminals=terminals)

    def head(self, n: int) -> TransitionDataset:
        """The first ``n`` transitions; the cut transition is marked as an episode end."""
        if not 0 < n <= len(self):
            raise ValueError(f"head needs 0 < n <= {len(self)}, got {n}")
        arrays = {name: getattr(self, name)[:n].copy() for name in ARRAY_FIELDS}
        arrays["episode_ends"][-1] = True
        return TransitionDataset(**arrays, metadata=dict(self.metadata))

    @classmethod
    def concatenate(cls, parts: list[TransitionDataset], metadata: dict[str, Any] | None = None):
        """Join datasets end to end (episodes stay whole)."""
        if not parts:
            raise ValueError("concatenate needs at least one dataset")
        arrays = {name: np.concatenate([getattr(p, name) for p in parts]) for name in ARRAY_FIELDS}
        return cls(**arrays, metadata=dict(metadata or parts[0].metadata))

    def equals(self, other: TransitionDataset) -> bool:
        """Whether every array is identical (metadata is not compared)."""
        return all(np.array_equal(getattr(self, f), getattr(other, f)) for f in ARRAY_FIELDS)
