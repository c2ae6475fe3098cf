"""The env-side causal contract that ``augment`` and ``agents`` rely on.

Every causal environment exposes, on ``env.unwrapped``:

- ``causal_structure``: a :class:`~causal_envs.core.CausalStructure`;
- ``local_mask(states, actions)`` -> bool ``(batch, n_inputs, n_outputs)``: the ground-truth local
  causal graph of each transition, computed without a Python loop over the batch;
- optionally ``transition_fn(states, actions)`` -> next states ``(batch, state_dim)``: the
  simulator's ground truth for any batch of states (used to score learned models);
- ``reward_fn(states, actions, next_states)`` -> float32 ``(batch,)`` and
  ``termination_fn(states, actions, next_states)`` -> bool ``(batch,)``: the task's labels, so that
  generated transitions can be labelled exactly as the environment would.

:func:`check_causal_env` verifies an object against that contract on random inputs.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import gymnasium as gym
import numpy as np
from numpy.typing import ArrayLike, NDArray

from .structure import CausalStructure

__all__ = ["CausalEnv", "check_causal_env"]


@runtime_checkable
class CausalEnv(Protocol):
    """Structural type of an environment that knows its causal structure."""

    causal_structure: CausalStructure

    def local_mask(self, states: ArrayLike, actions: ArrayLike) -> NDArray[np.bool_]: ...

    def reward_fn(
        self, states: ArrayLike, actions: ArrayLike, next_states: ArrayLike
    ) -> NDArray[np.float32]: ...

    def termination_fn(
        self, states: ArrayLike, actions: ArrayLike, next_states: ArrayLike
    ) -> NDArray[np.bool_]: ...


def check_causal_env(env: gym.Env, batch: int = 64, seed: int = 0) -> None:
    """Raise ``AssertionError`` when ``env.unwrapped`` breaks the causal contract.

    Samples ``batch`` states from the observation space and actions from the action space and
    checks the shapes and dtypes of the mask, reward and termination functions, that the mask
    does not depend on the order of the batch, and that a batch of one equals a single call.
    """
    base = env.unwrapped
    assert isinstance(base, CausalEnv), f"{type(base).__name__} lacks the CausalEnv methods"
    structure = base.causal_structure
    assert isinstance(structure, CausalStructure)
    # goal-conditioned envs (HookSweep2) expose the dynamics' state space and draw goals
    obs_space = getattr(base, "state_space", env.observation_space)
    act_space = env.action_space
    goal_args: tuple = ()
    if callable(getattr(base, "sample_goals", None)):
        goal_args = (base.sample_goals(batch, np.random.default_rng(seed)),)
    assert obs_space.shape == (structure.state_dim,), (
        f"observation shape {obs_space.shape} != structure state_dim {structure.state_dim}"
    )
    discrete = isinstance(act_space, gym.spaces.Discrete)
    expected = (1,) if discrete else act_space.shape  # a discrete action is one index
    assert expected == (structure.action_dim,), (
        f"action shape {act_space.shape} != structure action_dim {structure.action_dim}"
    )
    obs_space.seed(seed)
    act_space.seed(seed + 1)
    s = np.stack([obs_space.sample() for _ in range(batch)])
    a = np.stack([act_space.sample() for _ in range(batch)]).reshape(batch, -1)
    s2 = np.stack([obs_space.sample() for _ in range(batch)])

    mask = base.local_mask(s, a)
    assert mask.dtype == np.bool_, f"local_mask dtype {mask.dtype} is not bool"
    assert mask.shape == (batch, structure.n_inputs, structure.n_outputs), mask.shape
    perm = np.random.default_rng(seed).permutation(batch)
    assert np.array_equal(base.local_mask(s[perm], a[perm]), mask[perm]), "mask depends on batch"
    assert np.array_equal(base.local_mask(s[:1], a[:1]), mask[:1])

    r = base.reward_fn(s, a, s2, *goal_args)
    assert r.shape == (batch,) and r.dtype == np.float32, (r.shape, r.dtype)
    d = base.termination_fn(s, a, s2, *goal_args)
    assert d.shape == (batch,) and d.dtype == np.bool_, (d.shape, d.dtype)
    if hasattr(base, "transition_fn"):
        nxt = base.transition_fn(s, a)
        assert nxt.shape == (batch, structure.state_dim), nxt.shape
        assert obs_space.contains(nxt[0].astype(obs_space.dtype)), "transition left the space"
