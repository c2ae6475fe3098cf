"""The two-masses env of the guide *Your own environment* (docs/guides/your-own-env.md), as
the benchmarks use it.

The guide writes ``TwoMasses`` as a user's own code (a plain ``gym.Env`` that knows nothing of
causal structure) and gives it the causal contract with one call to
`causal_envs.wrappers.WithCausalStructure`; it registers the result with 50-step episodes.
The guide's code stays on its page, where a reader copies it; this module is the benchmarks'
copy of the same env, the class and its causal declaration, with the two labelling functions
at module level instead of lambdas (so the env pickles into worker processes). A test
(``tests/benchmarks/test_mocoda_online.py``) runs the guide's code and checks that its
registered env and `make_two_masses` give the same observations, rewards, terminations and
truncations for the same seed and actions, so the two cannot drift apart.

The env: two point masses in ``[-1, 1]^2``, observation ``[p1x, p1y, p2x, p2y]``, action
``[f1x, f1y, f2x, f2y]``; each step moves a mass by ``0.1 * f`` (forces clipped to ``[-1,
1]``, positions to the walls). Both start docked at one random spot. Reward: minus the sum of
both masses' distances to their goals (mass 1 to ``(0.5, 0.5)``, mass 2 to ``(-0.5,
-0.5)``); the episode terminates when that sum is below `SUCCESS_DISTANCE` and is truncated
after `MAX_EPISODE_STEPS` steps. The causal structure: two independent subsystems, ``p1' <-
(p1, f1)`` and ``p2' <- (p2, f2)``, the block-diagonal graph MoCoDA samples one parent set at
a time (MoCoDA, Pitis et al., NeurIPS 2022, section 3).

Examples:
    >>> import numpy as np
    >>> env = make_two_masses()
    >>> obs, _ = env.reset(seed=3)
    >>> obs.shape, bool(np.array_equal(obs[:2], obs[2:]))  # both masses at one dock
    ((4,), True)
    >>> env.unwrapped.causal_structure.parent_sets
    (('p1', 'f1'), ('p2', 'f2'))
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import TimeLimit
from numpy.typing import ArrayLike, NDArray

from causal_envs.wrappers import WithCausalStructure

__all__ = [
    "GOALS",
    "MAX_EPISODE_STEPS",
    "SUCCESS_DISTANCE",
    "TwoMasses",
    "distances",
    "make_two_masses",
    "move",
]

#: mass 1's goal, then mass 2's
GOALS = np.array([[0.5, 0.5], [-0.5, -0.5]])
#: the episode terminates when the sum of both masses' distances to their goals is below this
SUCCESS_DISTANCE = 0.1
#: the guide registers the env with episodes of this many steps
MAX_EPISODE_STEPS = 50
#: the guide's declaration: node -> indices into the observation and the action, and each
#: next-state node's parents
STATE_NODES = {"p1": [0, 1], "p2": [2, 3]}
ACTION_NODES = {"f1": [0, 1], "f2": [2, 3]}
PARENTS = {"p1": ["p1", "f1"], "p2": ["p2", "f2"]}


def move(positions: ArrayLike, forces: ArrayLike) -> NDArray:
    """Next positions of a batch: (B, 4) positions and (B, 4) forces -> (B, 4)."""
    return np.clip(positions + 0.1 * np.clip(forces, -1.0, 1.0), -1.0, 1.0)


def distances(positions: ArrayLike) -> NDArray:
    """Sum of both masses' distances to their goals: (B, 4) -> (B,)."""
    p = np.asarray(positions).reshape(-1, 2, 2)
    return np.linalg.norm(p - GOALS, axis=2).sum(axis=1)


class TwoMasses(gym.Env):
    """Two point masses in [-1, 1]^2, each moved by its own force; both start at one dock."""

    metadata = {"render_modes": []}

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
        self._p = np.zeros(4, np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray, dict[str, Any]]:
        super().reset(seed=seed)
        dock = self.np_random.uniform(-1.0, 1.0, 2)
        self._p = np.concatenate([dock, dock]).astype(np.float32)
        return self._p.copy(), {}

    def step(self, action: ArrayLike) -> tuple[NDArray, float, bool, bool, dict[str, Any]]:
        self._p = move(self._p[None], np.asarray(action)[None])[0].astype(np.float32)
        d = float(distances(self._p)[0])
        return self._p.copy(), -d, d < SUCCESS_DISTANCE, False, {}


def reward(states: NDArray, actions: NDArray, next_states: NDArray) -> NDArray:
    """The guide's ``reward_fn``: minus the sum of the distances after the step, (B,)."""
    return -distances(next_states)


def terminated(states: NDArray, actions: NDArray, next_states: NDArray) -> NDArray:
    """The guide's ``termination_fn``: both masses (in sum) within `SUCCESS_DISTANCE`, (B,)."""
    return distances(next_states) < SUCCESS_DISTANCE


def make_two_masses() -> gym.Env:
    """The guide's ``TwoMasses-v0``: `TwoMasses` with its causal contract
    (`WithCausalStructure`), episodes truncated after `MAX_EPISODE_STEPS` steps."""
    env = WithCausalStructure(
        TwoMasses(),
        state_nodes=STATE_NODES,
        action_nodes=ACTION_NODES,
        parents=PARENTS,
        reward_fn=reward,
        termination_fn=terminated,
    )
    return TimeLimit(env, max_episode_steps=MAX_EPISODE_STEPS)
