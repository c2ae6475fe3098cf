"""Rollout datasets of the tasks of a task sequence (CSR: 100 episodes per task).

A random (uniform) policy, seeded; vector observations only (the synthetic POMDP, CartPole in
state mode). Each dataset records its sequence, task and that task's ground truth.
"""

from __future__ import annotations

import numpy as np

from causal_envs.core import jsonable
from causal_envs.datasets.transitions import TransitionDataset
from causal_envs.tasks import make_sequence

__all__ = ["generate_task_rollouts"]


def generate_task_rollouts(
    sequence: str,
    task: int,
    seed: int = 0,
    n_episodes: int = 100,
    max_steps: int | None = None,
    **sequence_kwargs,
) -> TransitionDataset:
    """``n_episodes`` random-policy episodes of task ``task`` (0-based) of ``sequence``."""
    seq = make_sequence(sequence, seed=seed, **sequence_kwargs)
    env = seq.make(task)
    if len(env.observation_space.shape or ()) != 1:
        raise ValueError(
            f"{sequence} task {task} has {env.observation_space.shape} observations; "
            "rollout datasets hold vector observations (use obs_type='state')"
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
    env.close()
    actions = np.asarray(rows["a"], dtype=np.float32)
    return TransitionDataset(
        observations=np.asarray(rows["o"], dtype=np.float32),
        actions=actions.reshape(len(actions), -1),
        rewards=np.asarray(rows["r"], dtype=np.float32),
        next_observations=np.asarray(rows["n"], dtype=np.float32),
        terminals=np.asarray(rows["d"], dtype=np.bool_),
        episode_ends=np.asarray(rows["e"], dtype=np.bool_),
        metadata={
            "generator": f"{sequence}/task{task + 1}",
            "seed": int(seed),
            "sequence": sequence,
            "task": task,
            "task_name": seq[task].name,
            "changes": sorted(seq[task].changes),
            "env_kwargs": jsonable(seq[task].kwargs),
            "truth": jsonable(seq[task].truth),
            "policy": "uniform random",
            "n_episodes": n_episodes,
        },
    )
