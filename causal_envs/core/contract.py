"""The contract between an environment and the tools that use its causal structure.

``augment`` (MoCoDA), ``agents`` and ``benchmarks`` never look inside an environment: they read
the members below from ``env.unwrapped``. Each is a `typing.Protocol`, so an env meets it
by having the members (no base class needed), and `check_causal_env` tests an env against
every protocol it claims, on random inputs, with an error that names the member at fault.

Three protocols:

- `CausalEnv`: an env whose transition ``(s, a) -> s'`` is described by a
  `CausalStructure` and a ground-truth *local* mask per transition, with
  batched reward and termination functions that label generated transitions. Optionally it also
  has ``transition_fn`` (`CausalEnvWithDynamics`), the simulator for any batch of states,
  which scores learned models. MoCoDA needs a `CausalEnv`.
- `GoalConditionedCausalEnv`: the same for an env whose observation is a state plus a
  goal (HookSweep2). The structure covers the state alone (``state_space``); goals are drawn by
  ``sample_goals`` and passed to ``reward_fn``/``termination_fn`` row by row, so MoCoDA can
  relabel every generated transition with a goal of the target task.
- `LatentStructureEnv`: an env whose causal graph is over *latent* variables that the
  agent does not see (CSR's synthetic POMDP). It exposes the ground-truth masks in one notation,
  the keys of `LATENT_EDGES`, and the task-level change factors (CSR's theta).

Shapes: ``B`` is a batch, ``S`` the state dimension, ``A`` the action dimension (1 for a
discrete action, given as its index), ``G`` the goal dimension. A node mask has shape
``(B, n_inputs, n_outputs)``: rows are the input nodes (state nodes, then action nodes), columns
the next-state nodes, as in `CausalStructure.graph`.

Examples:
    A minimal causal env (a point that moves one coordinate per action component):

    >>> import gymnasium as gym, numpy as np
    >>> from causal_envs.core import CausalStructure, check_causal_env
    >>> class Drift(gym.Env):
    ...     observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    ...     action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    ...     causal_structure = CausalStructure(
    ...         {"x": [0], "y": [1]}, {"ax": [0], "ay": [1]}, [[1, 0], [0, 1], [1, 0], [0, 1]]
    ...     )
    ...     def local_mask(self, states, actions):
    ...         g = self.causal_structure.graph
    ...         return np.broadcast_to(g, (len(states), *g.shape)).copy()
    ...     def reward_fn(self, states, actions, next_states):
    ...         return -np.abs(np.asarray(next_states)).sum(1).astype(np.float32)
    ...     def termination_fn(self, states, actions, next_states):
    ...         return np.zeros(len(next_states), dtype=bool)
    >>> check_causal_env(Drift())
    ['CausalEnv']
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import gymnasium as gym
import numpy as np
from numpy.typing import ArrayLike, NDArray

from .structure import CausalStructure

__all__ = [
    "LATENT_EDGES",
    "CausalEnv",
    "CausalEnvWithDynamics",
    "ContractError",
    "GoalConditionedCausalEnv",
    "LatentStructureEnv",
    "check_causal_env",
]

#: The one notation for latent masks: ``"s->s"`` (latent -> next latent, ``(d, d)``), ``"a->s"``
#: (action -> next latent, ``(1, d)``), ``"theta->s"`` (change factors -> next latent,
#: ``(n_theta, d)``), ``"s->o"`` (latent -> observation, ``(d, obs_dim)``) and ``"s->r"``
#: (latent -> reward, ``(d, 1)``); entry ``[i, j]`` says that input ``i`` causes output ``j``.
LATENT_EDGES = ("s->s", "a->s", "theta->s", "s->o", "s->r")


class ContractError(TypeError):
    """An environment does not meet the causal contract it claims; the message names the
    member and what was expected."""


@runtime_checkable
class CausalEnv(Protocol):
    """An env that knows the causal structure of its transitions.

    Members (on ``env.unwrapped``):

    - ``causal_structure``: the input and output nodes and the sparsest valid graph.
    - ``local_mask(states (B, S), actions (B, A)) -> bool (B, n_inputs, n_outputs)``: the
      ground-truth local graph of each transition; vectorised (no Python loop over ``B``),
      independent of the batch's order and size.
    - ``reward_fn(states, actions, next_states) -> float32 (B,)`` and
      ``termination_fn(states, actions, next_states) -> bool (B,)``: the task's labels for any
      batch, exactly as the env's ``step`` would give them.
    """

    causal_structure: CausalStructure

    def local_mask(self, states: ArrayLike, actions: ArrayLike) -> NDArray[np.bool_]: ...

    def reward_fn(
        self, states: ArrayLike, actions: ArrayLike, next_states: ArrayLike
    ) -> NDArray[np.float32]: ...

    def termination_fn(
        self, states: ArrayLike, actions: ArrayLike, next_states: ArrayLike
    ) -> NDArray[np.bool_]: ...


@runtime_checkable
class CausalEnvWithDynamics(CausalEnv, Protocol):
    """A `CausalEnv` that also exposes its simulator as a batched function:
    ``transition_fn(states (B, S), actions (B, A)) -> next states (B, S)`` inside the state
    space. Used to score learned dynamics models against the truth."""

    def transition_fn(self, states: ArrayLike, actions: ArrayLike) -> NDArray: ...


@runtime_checkable
class GoalConditionedCausalEnv(Protocol):
    """A causal env whose observation is ``[state, goal]`` (or a Gymnasium-Robotics goal dict).

    Members: ``causal_structure`` (over the state alone), ``state_space`` and ``goal_space``
    (``Box`` spaces of the state and the goal), ``sample_goals(n, rng) -> (n, G)`` (goals of the
    env's task, drawn from a ``numpy.random.Generator``), ``local_mask(states, actions)`` as
    in `CausalEnv`, and ``reward_fn``/``termination_fn(states, actions, next_states,
    goals (B, G))`` labelling each row for its own goal.
    """

    causal_structure: CausalStructure
    state_space: gym.spaces.Box
    goal_space: gym.spaces.Box

    def sample_goals(self, n: int, rng: np.random.Generator) -> NDArray: ...

    def local_mask(self, states: ArrayLike, actions: ArrayLike) -> NDArray[np.bool_]: ...

    def reward_fn(
        self, states: ArrayLike, actions: ArrayLike, next_states: ArrayLike, goals: ArrayLike
    ) -> NDArray[np.float32]: ...

    def termination_fn(
        self, states: ArrayLike, actions: ArrayLike, next_states: ArrayLike, goals: ArrayLike
    ) -> NDArray[np.bool_]: ...


@runtime_checkable
class LatentStructureEnv(Protocol):
    """An env whose causal graph is over latent variables (CSR's setting).

    Members: ``ground_truth`` (dict from each key of `LATENT_EDGES` to a bool mask),
    ``latent_structure`` (the latent transition graph as a `CausalStructure`, change
    factors left out) and ``change_factors`` (dict name -> value of the task-level parameters a
    distribution shift changes).
    """

    @property
    def ground_truth(self) -> dict[str, NDArray[np.bool_]]: ...

    @property
    def latent_structure(self) -> CausalStructure: ...

    @property
    def change_factors(self) -> dict[str, float]: ...


def _fail(member: str, message: str) -> None:
    raise ContractError(f"{member}: {message}")


def _call(base: object, member: str, *args: object) -> object:
    try:
        return getattr(base, member)(*args)
    except ContractError:
        raise
    except Exception as err:  # the env's own error, reported as a contract failure
        raise ContractError(f"{member} raised {type(err).__name__} on valid inputs: {err}") from err


def _check_array(member: str, value: object, shape: tuple[int, ...], dtype: type) -> None:
    if not isinstance(value, np.ndarray):
        _fail(member, f"must return a numpy array, got {type(value).__name__}")
    if value.shape != shape:
        _fail(member, f"must return shape {shape}, got {value.shape}")
    if value.dtype != dtype:
        _fail(member, f"must return dtype {np.dtype(dtype).name}, got {value.dtype}")


def _spaces(env: gym.Env, base: object, goal_env: bool) -> tuple[gym.spaces.Box, gym.Space]:
    obs = base.state_space if goal_env else env.observation_space
    if not isinstance(obs, gym.spaces.Box):
        name = "state_space" if goal_env else "observation_space"
        _fail(name, f"must be a gymnasium.spaces.Box for a causal env, got {obs!r}")
    return obs, env.action_space


def _sample(space: gym.Space, batch: int, seed: int) -> NDArray:
    space.seed(seed)
    return np.stack([np.asarray(space.sample()) for _ in range(batch)]).reshape(batch, -1)


def _check_transition_api(env: gym.Env, base: object, goal_env: bool, batch: int, seed: int):
    structure = base.causal_structure
    if not isinstance(structure, CausalStructure):
        _fail("causal_structure", f"must be a CausalStructure, got {type(structure).__name__}")
    obs_space, act_space = _spaces(env, base, goal_env)
    if obs_space.shape != (structure.state_dim,):
        name = "state_space" if goal_env else "observation_space"
        _fail(
            "causal_structure",
            f"covers {structure.state_dim} state dims but {name} has shape {obs_space.shape}",
        )
    discrete = isinstance(act_space, gym.spaces.Discrete)
    act_shape = (1,) if discrete else act_space.shape  # a discrete action is one index
    if act_shape != (structure.action_dim,):
        _fail(
            "causal_structure",
            f"covers {structure.action_dim} action dims but action_space has shape "
            f"{act_space.shape}",
        )
    s = _sample(obs_space, batch, seed)
    a = _sample(act_space, batch, seed + 1)
    s2 = _sample(obs_space, batch, seed + 2)

    mask = _call(base, "local_mask", s, a)
    _check_array("local_mask", mask, (batch, structure.n_inputs, structure.n_outputs), np.bool_)
    perm = np.random.default_rng(seed).permutation(batch)
    if not np.array_equal(_call(base, "local_mask", s[perm], a[perm]), mask[perm]):
        _fail("local_mask", "the mask of a row depends on the other rows of the batch")
    if not np.array_equal(_call(base, "local_mask", s[:1], a[:1]), mask[:1]):
        _fail("local_mask", "a batch of one gives another mask than the same row in a batch")

    goal_args: tuple = ()
    if goal_env:
        goals = _call(base, "sample_goals", batch, np.random.default_rng(seed))
        _check_array("sample_goals", goals, (batch, *base.goal_space.shape), goals.dtype)
        if not all(base.goal_space.contains(g.astype(base.goal_space.dtype)) for g in goals):
            _fail("sample_goals", "drew a goal outside goal_space")
        goal_args = (goals,)
    r = _call(base, "reward_fn", s, a, s2, *goal_args)
    _check_array("reward_fn", r, (batch,), np.float32)
    d = _call(base, "termination_fn", s, a, s2, *goal_args)
    _check_array("termination_fn", d, (batch,), np.bool_)
    if callable(getattr(base, "transition_fn", None)):
        nxt = _call(base, "transition_fn", s, a)
        if not isinstance(nxt, np.ndarray) or nxt.shape != (batch, structure.state_dim):
            _fail("transition_fn", f"must return shape {(batch, structure.state_dim)}")
        if not all(obs_space.contains(row.astype(obs_space.dtype)) for row in nxt):
            _fail("transition_fn", "returned a next state outside the observation space")


def _check_latent_api(base: LatentStructureEnv) -> None:
    truth = base.ground_truth
    if not isinstance(truth, dict) or set(truth) != set(LATENT_EDGES):
        keys = sorted(truth) if isinstance(truth, dict) else type(truth).__name__
        _fail("ground_truth", f"must be a dict with keys {list(LATENT_EDGES)}, got {keys}")
    for key, value in truth.items():
        if not isinstance(value, np.ndarray) or value.dtype != np.bool_ or value.ndim != 2:
            _fail("ground_truth", f"{key!r} must be a 2-d bool array")
    d = truth["s->s"].shape[0]
    expected = {"s->s": (d, d), "a->s": (None, d), "theta->s": (None, d), "s->r": (d, 1)}
    for key, (rows, cols) in expected.items():
        shape = truth[key].shape
        if (rows is not None and shape[0] != rows) or shape[1] != cols:
            _fail("ground_truth", f"{key!r} has shape {shape}; the latent has {d} variables")
    if truth["s->o"].shape[0] != d:
        _fail("ground_truth", f"'s->o' has {truth['s->o'].shape[0]} rows for {d} latents")
    structure = base.latent_structure
    if not isinstance(structure, CausalStructure) or structure.state_dim != d:
        _fail("latent_structure", f"must be a CausalStructure over the {d} latent variables")
    factors = base.change_factors
    if not isinstance(factors, dict) or not all(
        isinstance(k, str) and np.isscalar(v) for k, v in factors.items()
    ):
        _fail("change_factors", "must be a dict name -> number")


def check_causal_env(env: gym.Env, batch: int = 64, seed: int = 0) -> list[str]:
    """Check ``env.unwrapped`` against every contract it claims; return their names.

    An env claims a protocol by having its members. The transition checks sample ``batch``
    states and actions from the spaces and verify shapes and dtypes, that the mask of a row
    does not depend on the rest of the batch, goals inside ``goal_space`` and next states
    inside the observation space.

    Raises:
        ContractError: the env claims no protocol, or breaks one; the message names the
            member and what was expected.
    """
    base = env.unwrapped
    claimed: list[str] = []
    if isinstance(base, GoalConditionedCausalEnv):
        _check_transition_api(env, base, True, batch, seed)
        claimed.append("GoalConditionedCausalEnv")
    elif isinstance(base, CausalEnv):
        _check_transition_api(env, base, False, batch, seed)
        claimed.append("CausalEnv")
    if isinstance(base, LatentStructureEnv):
        _check_latent_api(base)
        claimed.append("LatentStructureEnv")
    if not claimed:
        missing = [
            m
            for m in ("causal_structure", "local_mask", "reward_fn", "termination_fn")
            if not hasattr(base, m)
        ]
        raise ContractError(
            f"{type(base).__name__} meets no causal contract: a CausalEnv lacks {missing}; a "
            "LatentStructureEnv needs ground_truth, latent_structure and change_factors "
            "(see causal_envs.core.contract)"
        )
    return claimed
