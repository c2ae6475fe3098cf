"""Rollout datasets of the tasks of a task sequence (CSR: 100 episodes per task).

A random (uniform) policy, seeded; vector observations only (the synthetic POMDP, CartPole in
state mode). Each dataset records its sequence, task and that task's ground truth.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from causal_envs.core import jsonable
from causal_envs.datasets.transitions import TransitionDataset
from causal_envs.tasks import make_sequence

__all__ = ["generate_task_rollouts", "random_rollouts"]


def random_rollouts(
    env: gym.Env, n_episodes: int = 100, seed: int = 0, max_steps: int | None = None
) -> TransitionDataset:
    """``n_episodes`` episodes of a uniformly random policy on ``env`` as a dataset.

    Episode ``i`` starts from ``env.reset(seed=seed * 100_003 + i)``; actions come from
    ``env.action_space`` seeded with ``seed``, so the same seed gives the same data. An episode
    ends when the env terminates or truncates, or after ``max_steps`` steps (default: the env's
    ``max_episode_steps``, else 1,000). ``terminals`` are the env's ``terminated`` flags.
    """
    if not isinstance(n_episodes, int) or n_episodes < 1:
        raise ValueError(f"n_episodes must be a positive integer, got {n_episodes!r}")
    if len(env.observation_space.shape or ()) != 1:
        raise ValueError(
            f"{env.spec.id if env.spec else env} has {env.observation_space.shape} observations; "
            "rollout datasets hold vector observations"
        )
    limit = max_steps or (env.spec.max_episode_steps if env.spec else None) or 1000
    env.action_space.seed(seed)
    rows: dict[str, list] = {k: [] for k in ("o", "a", "r", "n", "d", "e")}
    for episode in range(n_episodes):
        obs, _ = env.reset(seed=seed * 100_003 + episode)
        for t in range(limit):
            action = env.action_space.sample()
            nxt, reward, terminated, truncated, _ = env.step(action)
            end = terminated or truncated or t == limit - 1
            for k, v in zip("oarnde", (obs, action, reward, nxt, terminated, end), strict=True):
                rows[k].append(v)
            obs = nxt
            if end:
                break
    actions = np.asarray(rows["a"], dtype=np.float32)
    return TransitionDataset(
        observations=np.asarray(rows["o"], dtype=np.float32),
        actions=actions.reshape(len(actions), -1),
        rewards=np.asarray(rows["r"], dtype=np.float32),
        next_observations=np.asarray(rows["n"], dtype=np.float32),
        terminals=np.asarray(rows["d"], dtype=np.bool_),
        episode_ends=np.asarray(rows["e"], dtype=np.bool_),
        metadata={
            "seed": int(seed),
            "policy": "uniform random",
            "n_episodes": n_episodes,
            **_action_facts(env.action_space),
        },
    )


def _action_facts(space: gym.Space) -> dict[str, int]:
    """``{"action_n": n}`` for a discrete action space (stored actions are its indices)."""
    return {"action_n": int(space.n)} if isinstance(space, gym.spaces.Discrete) else {}


def generate_task_rollouts(
    sequence: str,
    task: int,
    seed: int = 0,
    n_episodes: int = 100,
    max_steps: int | None = None,
    **sequence_kwargs: Any,
) -> TransitionDataset:
    """``n_episodes`` random-policy episodes of task ``task`` (0-based) of ``sequence``."""
    seq = make_sequence(sequence, seed=seed, **sequence_kwargs)
    env = seq.make(task)
    if len(env.observation_space.shape or ()) != 1:
        raise ValueError(
            f"{sequence} task {task} has {env.observation_space.shape} observations; "
            "rollout datasets hold vector observations (use obs_type='state')"
        )
    try:
        data = random_rollouts(env, n_episodes, seed, max_steps)
    finally:
        env.close()
    data.metadata.update(
        {
            "generator": f"{sequence}/task{task + 1}",
            "sequence": sequence,
            "task": task,
            "task_name": seq[task].name,
            "changes": sorted(seq[task].changes),
            "env_kwargs": jsonable(seq[task].kwargs),
            "truth": jsonable(seq[task].truth),
        }
    )
    return data
