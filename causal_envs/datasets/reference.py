"""Reference scores of a dataset's task, measured when the dataset is generated.

D4RL and Minari normalise a return as ``(R - ref_min) / (ref_max - ref_min)``: 0 is a random
policy, 1 an expert. Each named dataset measures both on its own env (the env Minari recovers)
over seeded episodes (``REFERENCE_EPISODES``, fewer where an episode is costly) and stores them
in its metadata, where ``minari.get_normalized_score(dataset, returns)`` and
``env.unwrapped.get_normalized_score(returns)`` read them:

- ``ref_min_score``: a uniformly random policy (the env's action space, seeded; a dataset
  collected by a random policy uses its own episodes).
- ``ref_max_score``: the best policy we can state for the task -
  2D Navigation: the straight-line controller (heads for the goal box's centre at full speed,
  inverting the entangled quadrant's cross-talk so its path stays straight);
  CartPole: 500, the episode limit (the known optimum; every CSR task can be balanced);
  HookSweep2: the scripted expert without its action noise.

The synthetic POMDP's datasets have none: it has no known optimum and no expert, and the
actions move its return little (an oracle planner on the true hidden state and model - random
shooting, 256 plans of 8 steps - beat the random policy by 3 of 112 on task 2 of seed 0; a
one-step greedy oracle lost to it), so a normalised score would mostly measure noise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = [
    "REFERENCE_EPISODES",
    "average_return",
    "cartpole_optimum",
    "hooksweep2_expert",
    "nav2d_straight_line",
    "reference_scores",
]

#: episodes per reference policy (Minari's default ``num_episodes_average_score``)
REFERENCE_EPISODES = 100
#: reference episodes start from seeds no dataset episode uses
_SEED_OFFSET = 7_919_000

Policy = Callable[[gym.Env, Any], Any]


def random_policy(env: gym.Env, obs: Any) -> Any:
    """A uniformly random action from ``env.action_space`` (seeded by `average_return`)."""
    return env.action_space.sample()


def average_return(
    env: gym.Env, policy: Policy, n_episodes: int = REFERENCE_EPISODES, seed: int = 0
) -> float:
    """The mean undiscounted return of ``policy(env, obs) -> action`` over ``n_episodes``
    seeded episodes (each ends when the env terminates or truncates, or after 10,000 steps).
    A policy with a ``reset()`` method is reset at the start of every episode."""
    env.action_space.seed(seed)
    returns = []
    for episode in range(n_episodes):
        obs, _ = env.reset(seed=_SEED_OFFSET + seed * 1_000 + episode)
        if hasattr(policy, "reset"):
            policy.reset()
        total, done, steps = 0.0, False, 0
        while not done and steps < 10_000:
            obs, reward, terminated, truncated, _ = env.step(policy(env, obs))
            total += float(reward)
            done = terminated or truncated
            steps += 1
        returns.append(total)
    return float(np.mean(returns))


#: ``best(env, seed, n_episodes) -> (score, description)``: a task's ``ref_max_score``
BestPolicy = Callable[[gym.Env, int, int], tuple[float, str]]


def reference_scores(
    env: gym.Env,
    best: BestPolicy,
    seed: int = 0,
    n_episodes: int = REFERENCE_EPISODES,
    random_returns: np.ndarray | None = None,
) -> dict[str, Any]:
    """``ref_min_score`` (a random policy) and ``ref_max_score`` (``best``) of ``env``'s task.

    ``random_returns``: the returns of random-policy episodes already at hand (a rollout
    dataset's own episodes), used instead of measuring the random policy again.
    """
    if random_returns is None:
        low = average_return(env, random_policy, n_episodes, seed)
        low_policy = f"uniform random ({n_episodes} episodes)"
    else:
        low = float(np.mean(random_returns))
        low_policy = f"uniform random (the dataset's {len(random_returns)} episodes)"
    high, high_policy = best(env, seed, n_episodes)
    if not high > low:
        raise ValueError(f"the best policy's return {high} is not above the random one's {low}")
    return {
        "ref_min_score": low,
        "ref_max_score": high,
        "ref_min_policy": low_policy,
        "ref_max_policy": high_policy,
    }


def _straight_line_action(env: gym.Env, obs: Any) -> np.ndarray:
    m = env.unwrapped.batch_model
    s = np.asarray(obs, dtype=np.float64)
    goal = (np.asarray(m.goal_low) + np.asarray(m.goal_high)) / 2
    gain = np.eye(2) * m.step_size
    if m.entangled(s[None])[0]:
        gain = gain - m.entanglement * np.array([[0.0, 1.0], [1.0, 0.0]])
    action = np.linalg.solve(gain, goal - s)
    return (action / max(np.abs(action).max(), 1.0)).astype(np.float32)


def nav2d_straight_line(env: gym.Env, seed: int, n_episodes: int) -> tuple[float, str]:
    """2D Navigation's straight-line controller: the action whose displacement points at the
    goal box's centre at full speed, the entangled quadrant's cross-talk inverted."""
    score = average_return(env, _straight_line_action, n_episodes, seed)
    return score, f"straight-line controller to the goal box's centre ({n_episodes} episodes)"


def cartpole_optimum(env: gym.Env, seed: int, n_episodes: int) -> tuple[float, str]:
    """The known optimum: balanced for the whole episode (every step earns 1)."""
    limit = env.spec.max_episode_steps if env.spec and env.spec.max_episode_steps else 500
    return float(limit), f"the optimum: balanced for all {limit} steps"


def hooksweep2_expert(env: gym.Env, seed: int, n_episodes: int) -> tuple[float, str]:
    """HookSweep2's scripted one-box expert without its action noise (flat observations)."""
    from causal_envs.envs.hooksweep.expert import HookSweepExpert  # deferred: MuJoCo

    expert = HookSweepExpert(noise_prob=0.0, seed=seed)

    class ExpertPolicy:
        def reset(self) -> None:
            expert.reset()

        def __call__(self, env: gym.Env, obs: Any) -> np.ndarray:
            return expert.act(obs)

    score = average_return(env, ExpertPolicy(), n_episodes, seed)
    return score, f"the scripted one-box expert without action noise ({n_episodes} episodes)"
