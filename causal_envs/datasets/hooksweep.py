"""The empirical HookSweep2 dataset of MoCoDA (appendix C.2): a one-box sweeping expert.

Whole 75-step episodes of `HookSweepExpert` on the
source task (``HookSweep2Source-v1``: one box's goal shifted to a side of the table), with the
paper's action noise. Observations are the flat ``[state (16), goal (6)]`` form; rewards are
the source task's; nothing terminates, every 75th transition ends an episode.

Episodes are simulated in chunks of ``CHUNK`` episodes, each chunk seeded from ``(seed, chunk
index)``, so the data does not depend on how many worker processes ran the chunks.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context

import gymnasium as gym
import numpy as np

from causal_envs.core import exit_with_parent
from causal_envs.datasets.transitions import TransitionDataset
from causal_envs.envs.hooksweep.model import STATE_DIM

__all__ = ["CHUNK", "EPISODE_STEPS", "generate_hooksweep2_expert", "states_only"]

EPISODE_STEPS = 75
CHUNK = 50


def _chunk(seed: int, index: int, n_episodes: int) -> tuple[dict[str, np.ndarray], int]:
    """Simulate ``n_episodes`` expert episodes; return the arrays and the number of successes."""
    # deferred: the expert imports MuJoCo (~0.3 s), needed only where episodes are simulated
    from causal_envs.envs.hooksweep.expert import HookSweepExpert

    ss = np.random.SeedSequence([seed, index])
    env_seed, expert_seed = ss.spawn(2)
    env = gym.make("HookSweep2Source-v1", flat_obs=True)
    expert = HookSweepExpert(seed=expert_seed)
    episode_seeds = np.random.default_rng(env_seed).integers(0, 2**31 - 1, size=n_episodes)
    n = n_episodes * EPISODE_STEPS
    obs = np.empty((n, 22), np.float32)
    nxt = np.empty((n, 22), np.float32)
    act = np.empty((n, 4), np.float32)
    rew = np.empty(n, np.float32)
    successes = 0
    row = 0
    for ep_seed in episode_seeds:
        o, _ = env.reset(seed=int(ep_seed))
        expert.reset()
        for _ in range(EPISODE_STEPS):
            a = expert.act(o)
            o2, r, _, _, info = env.step(a)
            obs[row], act[row], rew[row], nxt[row] = o, a, r, o2
            o = o2
            row += 1
        successes += bool(info["is_success"])
    env.close()
    arrays = {"observations": obs, "actions": act, "rewards": rew, "next_observations": nxt}
    return arrays, successes


def generate_hooksweep2_expert(
    n_transitions: int = 1_000_000, seed: int = 0, workers: int | None = None
) -> TransitionDataset:
    """``n_transitions`` (rounded up to whole episodes) of expert data on the source task.

    Args:
        n_transitions: how many transitions; the paper used 1M.
        seed: seeds the episodes' starts and goals and the expert's noise.
        workers: processes to simulate in (default: the CPUs available); the data is the same
            for any number.
    """
    if not isinstance(n_transitions, int) or n_transitions < 1:
        raise ValueError(f"n_transitions must be a positive integer, got {n_transitions!r}")
    n_episodes = math.ceil(n_transitions / EPISODE_STEPS)
    sizes = [min(CHUNK, n_episodes - start) for start in range(0, n_episodes, CHUNK)]
    workers = workers or len(os.sched_getaffinity(0))
    if workers <= 1 or len(sizes) == 1:
        results = [_chunk(seed, i, size) for i, size in enumerate(sizes)]
    else:
        with ProcessPoolExecutor(
            min(workers, len(sizes)),
            mp_context=get_context("spawn"),
            initializer=exit_with_parent,
            initargs=(os.getpid(),),
        ) as pool:
            results = list(pool.map(_chunk, [seed] * len(sizes), range(len(sizes)), sizes))
    arrays = {key: np.concatenate([part[key] for part, _ in results]) for key in results[0][0]}
    n = len(arrays["rewards"])
    ends = np.zeros(n, np.bool_)
    ends[EPISODE_STEPS - 1 :: EPISODE_STEPS] = True
    successes = sum(s for _, s in results)
    return TransitionDataset(
        **arrays,
        terminals=np.zeros(n, np.bool_),
        episode_ends=ends,
        metadata={
            "generator": "hooksweep2/expert",
            "env_id": "HookSweep2Source-v1",
            "env_kwargs": {"flat_obs": True},
            "seed": seed,
            "n_episodes": n_episodes,
            "expert_success_rate": successes / n_episodes,
            "observation_layout": "state (16) then goal (6)",
        },
    )


def states_only(data: TransitionDataset) -> TransitionDataset:
    """HookSweep2 data without its goals: the dynamics' 16-dim states (what MoCoDA fits)."""
    if data.observations.shape[1] < STATE_DIM:
        raise ValueError(
            f"expected observations of at least {STATE_DIM} dims, got {data.observations.shape}"
        )
    return replace(
        data,
        observations=np.ascontiguousarray(data.observations[:, :STATE_DIM]),
        next_observations=np.ascontiguousarray(data.next_observations[:, :STATE_DIM]),
    )
