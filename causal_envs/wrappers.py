"""Wrappers: frame resizing and the check of a third-party env's actions (so that a bad
action gets this package's message, not ALE's IndexError), both used by the task sequences, and
`WithCausalStructure`, which gives a user's own env the causal contract in one call."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import ArrayLike, NDArray

from causal_envs.core import CausalStructure, as_batch, as_transitions, check_discrete_action

__all__ = ["CheckedDiscreteActions", "LabelFn", "MaskFn", "ResizeNearest", "WithCausalStructure"]

#: ``fn(states (B, S), actions (B, A), next_states (B, S)) -> (B,)``: a batched reward or
#: termination label, as `WithCausalStructure` takes it
LabelFn = Callable[[NDArray, NDArray, NDArray], ArrayLike]
#: ``fn(states (B, S), actions (B, A)) -> bool (B, n_inputs, n_outputs)``: a batched local mask
MaskFn = Callable[[NDArray, NDArray], ArrayLike]


class CheckedDiscreteActions(gym.Wrapper):
    """Refuse an action outside a ``Discrete`` action space before the env sees it: ALE takes
    ``-1`` silently and raises an ``IndexError`` on ``n``; this raises one ``ValueError``
    naming the valid range (`causal_envs.core.check_discrete_action`)."""

    def __init__(self, env: gym.Env) -> None:
        if not isinstance(env.action_space, spaces.Discrete):
            raise TypeError(
                f"CheckedDiscreteActions needs a Discrete action space, got {env.action_space}"
            )
        if int(env.action_space.start) != 0:
            raise TypeError("CheckedDiscreteActions needs actions numbered from 0")
        super().__init__(env)
        self._n = int(env.action_space.n)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        return self.env.step(check_discrete_action(action, self._n))


class ResizeNearest(gym.ObservationWrapper):
    """Nearest-pixel resize of RGB frames to ``size x size`` with precomputed indices.

    Two ``take`` calls (rows into a reused buffer, then columns into the returned frame) cost
    about 13 microseconds a frame; 2-D fancy indexing cost 64 and an area filter more than the
    ALE step itself.
    """

    def __init__(self, env: gym.Env, size: int = 64) -> None:
        super().__init__(env)
        h, w, c = env.observation_space.shape
        self._rows = ((np.arange(size) + 0.5) * h / size).astype(np.intp)
        self._cols = ((np.arange(size) + 0.5) * w / size).astype(np.intp)
        self._row_buffer = np.empty((size, w, c), np.uint8)
        self.observation_space = spaces.Box(0, 255, (size, size, c), np.uint8)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        rows = observation.take(self._rows, axis=0, out=self._row_buffer)
        return rows.take(self._cols, axis=1)


def _node_spec(
    spec: Mapping[str, Sequence[int]] | None, kind: str, size: int, space: gym.Space
) -> dict[str, list[int]]:
    """``spec`` checked against a vector of ``size`` dimensions (default: one node per dim)."""
    if spec is None:
        if isinstance(space, spaces.Discrete):
            return {"a": [0]}
        prefix = "s" if kind == "state" else "a"
        return {f"{prefix}{i}": [i] for i in range(size)}
    if not isinstance(spec, Mapping):
        raise TypeError(
            f"{kind}_nodes must be a mapping node name -> indices, got {type(spec).__name__}"
        )
    vector = "observation" if kind == "state" else "action"
    nodes: dict[str, list[int]] = {}
    for name, dims in spec.items():
        arr = np.atleast_1d(np.asarray(dims))
        if arr.size == 0:
            raise ValueError(f"{kind} node {name!r} has no indices")
        if arr.dtype.kind not in "iu" or arr.ndim != 1:
            raise ValueError(
                f"{kind} node {name!r} must list integer indices into the {vector} vector, "
                f"got {dims!r}"
            )
        outside = [int(d) for d in arr if not 0 <= d < size]
        if outside:
            raise ValueError(
                f"{kind} node {name!r} has indices {outside} outside the {vector} vector "
                f"0..{size - 1} ({vector}_space is {space})"
            )
        nodes[name] = arr.tolist()
    return nodes


def _graph_from_parents(
    parents: Mapping[str, Sequence[str]], structure: CausalStructure
) -> NDArray[np.bool_]:
    """The ``(n_inputs, n_outputs)`` graph that ``parents`` (next-state node -> parents) says."""
    if not isinstance(parents, Mapping):
        raise TypeError(
            "parents must be a mapping next-state node name -> list of parent node names, got "
            f"{type(parents).__name__}"
        )
    states = [n.name for n in structure.state_nodes]
    inputs = list(structure.input_names)
    graph = np.zeros((structure.n_inputs, structure.n_outputs), dtype=np.bool_)
    given: dict[str, str] = {}
    for key, names in parents.items():
        out = key[:-1] if isinstance(key, str) and key.endswith("'") else key
        if out not in states:
            raise ValueError(
                f"parents names the next-state node {key!r}, which is not a state node; the "
                f"state nodes are {states}"
            )
        if out in given:
            raise ValueError(f"parents gives node {out!r} twice (as {given[out]!r} and {key!r})")
        given[out] = key
        if isinstance(names, str) or not isinstance(names, Sequence):
            raise ValueError(
                f"parents[{key!r}] must be a list of node names, got {names!r} (write "
                f"[{names!r}] for a single parent)"
            )
        if not names:
            raise ValueError(
                f"parents[{key!r}] is empty: every next-state node needs at least one parent "
                "(usually its own current value)"
            )
        for name in names:
            if name not in inputs:
                hint = (
                    "; parents are current state or action nodes, not next-state ones"
                    if isinstance(name, str) and name.endswith("'")
                    else ""
                )
                raise ValueError(
                    f"parents[{key!r}] names {name!r}, which is not a node; the state and "
                    f"action nodes are {inputs}{hint}"
                )
            graph[inputs.index(name), states.index(out)] = True
    missing = [s for s in states if s not in given]
    if missing:
        raise ValueError(
            f"parents gives no parents for the next-state nodes {missing}: list every state "
            "node's parents (usually at least the node itself)"
        )
    return graph


class WithCausalStructure(gym.Env):
    """Give any Gymnasium env the causal contract (`causal_envs.core.CausalEnv`) in one call.

    The tools of this package (`check_causal_env`, ``augment.MoCoDA``, the agents and
    benchmarks) read the contract from ``env.unwrapped``. A ``gym.Wrapper`` would hide it (its
    ``unwrapped`` is the inner env), so this adapter is itself a ``gym.Env``: it owns the inner
    env (``self.env``, which may itself be wrapped, e.g. ``gym.make(...)``), shares its
    observation and action spaces, copies its ``metadata`` and ``render_mode``, delegates
    ``reset``, ``step``, ``render`` and ``close`` to it unchanged (seeding included: its
    ``np_random`` is the inner env's), and carries the contract's members itself:

    - ``causal_structure``: a `CausalStructure` built from ``state_nodes``, ``action_nodes``
      and ``parents``.
    - ``local_mask(states, actions)``: your ``local_mask``, or the global graph on every row.
    - ``reward_fn`` and ``termination_fn(states, actions, next_states)``: yours, with inputs
      and outputs checked and outputs cast to the contract's dtypes.

    Its ``spec`` is None, not the inner env's: a tool that rebuilds ``local_mask`` from an id
    (a saved MoCoDA model does) would get the inner env, which has no contract. To give the
    adapter an id, register a function that builds it; ``gym.make`` then sets its ``spec``.
    Wrap it further as you like (``TimeLimit``, ``RecordVideo``): ``unwrapped`` still finds it.

    Shapes: ``B`` rows, ``S`` the observation size, ``A`` the action size (1 for a
    ``Discrete`` action, which your functions receive as a ``(B, 1)`` int64 column of indices;
    Box actions and states arrive as float64). One row given without its batch axis is a batch
    of one.

    Args:
        env: your env; its observation space must be a 1-D ``Box`` (flatten others first, e.g.
            ``gymnasium.wrappers.FlattenObservation``), its action space a 1-D ``Box`` or a
            ``Discrete``.
        parents: next-state node name -> the names of its parents among the state and action
            nodes, e.g. ``{"p1": ["p1", "f1"], "p2": ["p2", "f2"]}``; a trailing ``'``
            (``"p1'"``) is accepted on the keys. Every state node needs an entry. This is the
            *sparsest valid graph*: the edges that hold in most of the state-action space;
            MoCoDA models each next-state node from these parents and samples each parent set
            on its own.
        reward_fn: ``reward_fn(states (B, S), actions (B, A), next_states (B, S)) -> (B,)``,
            the reward ``step`` gives for each transition (MoCoDA labels its generated
            transitions with it, so it must agree with ``step``). Required.
        termination_fn: the same signature, ``-> (B,)`` booleans (or 0/1): whether the
            transition ends the episode as ``step``'s ``terminated`` would. Default: the env
            never terminates (all False), right for tasks that only time out; give it if
            yours can terminate, or generated transitions are labelled as non-terminal.
        state_nodes: node name -> indices into the observation vector; the nodes must cover
            every dimension exactly once. Default: one node per dimension, ``s0, s1, ...``.
        action_nodes: node name -> indices into the action vector, likewise. Default: one
            node per dimension, ``a0, a1, ...``; a ``Discrete`` action is one node, ``a``.
        local_mask: ``local_mask(states (B, S), actions (B, A)) -> (B, n_inputs, n_outputs)``
            booleans, the graph of each transition when it differs by region (rows: state
            nodes then action nodes; columns: next-state nodes). It must be computed row by
            row (a row's mask may not depend on the rest of the batch). Default: the graph of
            ``parents`` on every row.

    Raises:
        TypeError: ``env`` is not a Gymnasium env, its observation space is not a ``Box``, its
            action space neither a ``Box`` nor a ``Discrete``, or an argument that must be
            callable (or a mapping) is not.
        ValueError: a node index outside its vector, nodes that overlap or leave a dimension
            out, duplicate node names, or ``parents`` naming an unknown node, leaving a state
            node out or giving it no parent (the message names the entry). Later, a
            function returning the wrong shape or dtype raises ``ValueError`` when called.

    Examples:
        A point moved by an action, its reward the distance to the origin:

        >>> import gymnasium as gym, numpy as np
        >>> from causal_envs.core import check_causal_env
        >>> class Point(gym.Env):
        ...     observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        ...     action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        ...     def reset(self, *, seed=None, options=None):
        ...         super().reset(seed=seed)
        ...         self.p = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        ...         return self.p.copy(), {}
        ...     def step(self, action):
        ...         self.p = np.clip(self.p + 0.1 * action, -1, 1).astype(np.float32)
        ...         return self.p.copy(), -float(np.abs(self.p).sum()), False, False, {}
        >>> env = WithCausalStructure(
        ...     Point(),
        ...     parents={"s0": ["s0", "a0"], "s1": ["s1", "a1"]},
        ...     reward_fn=lambda s, a, s2: -np.abs(s2).sum(axis=1),
        ... )
        >>> check_causal_env(env)
        ['CausalEnv']
        >>> env.causal_structure.parent_sets
        (('s0', 'a0'), ('s1', 'a1'))
    """

    def __init__(
        self,
        env: gym.Env,
        parents: Mapping[str, Sequence[str]],
        *,
        reward_fn: LabelFn,
        termination_fn: LabelFn | None = None,
        state_nodes: Mapping[str, Sequence[int]] | None = None,
        action_nodes: Mapping[str, Sequence[int]] | None = None,
        local_mask: MaskFn | None = None,
    ) -> None:
        if not isinstance(env, gym.Env):
            raise TypeError(f"env must be a gymnasium.Env, got {type(env).__name__}")
        obs, act = env.observation_space, env.action_space
        if not isinstance(obs, spaces.Box):
            raise TypeError(
                "WithCausalStructure needs a gymnasium.spaces.Box observation space; "
                f"{env} has observation_space {obs}"
            )
        if len(obs.shape) != 1:
            raise ValueError(
                f"WithCausalStructure needs a 1-D Box observation space (a state vector); {env} "
                f"has shape {obs.shape}: flatten it first (gymnasium.wrappers.FlattenObservation)"
            )
        discrete = isinstance(act, spaces.Discrete)
        if not (discrete or (isinstance(act, spaces.Box) and len(act.shape) == 1)):
            raise TypeError(
                "WithCausalStructure needs a 1-D gymnasium.spaces.Box or a Discrete action "
                f"space; {env} has action_space {act}"
            )
        for name, fn, required in (
            ("reward_fn", reward_fn, True),
            ("termination_fn", termination_fn, False),
            ("local_mask", local_mask, False),
        ):
            if not callable(fn) and (required or fn is not None):
                raise TypeError(
                    f"{name} must be a function of batched arrays"
                    + ("" if required else " or None")
                    + f", got {fn!r}"
                )
        state_dim, action_dim = obs.shape[0], 1 if discrete else act.shape[0]
        s_nodes = _node_spec(state_nodes, "state", state_dim, obs)
        a_nodes = _node_spec(action_nodes, "action", action_dim, act)
        # the nodes first (partition, overlaps, names), with a placeholder graph
        nodes = CausalStructure(
            s_nodes,
            a_nodes,
            np.ones((len(s_nodes) + len(a_nodes), len(s_nodes)), dtype=np.bool_),
            state_dim=state_dim,
            action_dim=action_dim,
        )
        #: the nodes and the sparsest valid graph declared by ``parents``
        self.causal_structure = CausalStructure(
            s_nodes,
            a_nodes,
            _graph_from_parents(parents, nodes),
            state_dim=state_dim,
            action_dim=action_dim,
        )
        #: the inner env every Gymnasium call goes to
        self.env = env
        self.observation_space = obs
        self.action_space = act
        self.metadata = dict(env.metadata)
        self.render_mode = env.render_mode
        self._discrete = discrete
        self._reward_fn = reward_fn
        self._termination_fn = termination_fn
        self._local_mask = local_mask

    # ----------------------------------------------------------------- the Gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """The inner env's ``reset`` (which seeds its ``np_random``, shared by this adapter)."""
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """The inner env's ``step``, unchanged."""
        return self.env.step(action)

    def render(self) -> Any:
        """The inner env's ``render`` (in the inner env's ``render_mode``)."""
        return self.env.render()

    def close(self) -> None:
        """Close the inner env."""
        self.env.close()

    @property
    def np_random(self) -> np.random.Generator:
        """The inner env's random generator (seeded by ``reset(seed=...)``)."""
        return self.env.np_random

    @np_random.setter
    def np_random(self, value: np.random.Generator) -> None:
        self.env.np_random = value

    @property
    def np_random_seed(self) -> int | None:
        """The inner env's seed (-1 where its generator was set directly)."""
        return self.env.np_random_seed

    @property
    def _np_random(self) -> np.random.Generator | None:
        # the innermost env's generator, read by Gymnasium's env checker on ``env.unwrapped``
        return self.env.unwrapped._np_random

    def __str__(self) -> str:
        return f"<{type(self).__name__}{self.env}>"

    def __repr__(self) -> str:
        return str(self)

    # ----------------------------------------------------------------- the causal contract
    def _actions(self, a: NDArray[np.float64]) -> NDArray:
        """Checked actions as the user's functions receive them (indices for Discrete)."""
        if not self._discrete:
            return a
        if not np.array_equal(a, np.round(a)):
            raise ValueError("actions of a Discrete action space must be integer indices")
        return a.astype(np.int64)

    def _label(self, name: str, fn: LabelFn, states, actions, next_states) -> NDArray:
        st = self.causal_structure
        s, a, s2 = as_transitions(states, actions, next_states, st.state_dim, st.action_dim)
        out = np.asarray(fn(s, self._actions(a), s2))
        if out.shape != (len(s),):
            raise ValueError(
                f"{name} must return one value per transition, shape ({len(s)},) for a batch of "
                f"{len(s)}; it returned shape {out.shape}"
            )
        return out

    def reward_fn(
        self, states: ArrayLike, actions: ArrayLike, next_states: ArrayLike
    ) -> NDArray[np.float32]:
        """Your ``reward_fn`` on a batch: float32 ``(B,)``.

        Raises:
            ValueError: the inputs are not ``(B, S)``, ``(B, A)``, ``(B, S)`` real arrays of one
                batch size, or your function returned another shape or non-numbers.
        """
        r = self._label("reward_fn", self._reward_fn, states, actions, next_states)
        if r.dtype.kind not in "fiub":
            raise ValueError(f"reward_fn must return real numbers, got dtype {r.dtype}")
        return r.astype(np.float32)

    def termination_fn(
        self, states: ArrayLike, actions: ArrayLike, next_states: ArrayLike
    ) -> NDArray[np.bool_]:
        """Your ``termination_fn`` on a batch (default: all False): bool ``(B,)``.

        Raises:
            ValueError: as `reward_fn`, or your function returned values other than booleans
                or 0/1.
        """
        if self._termination_fn is None:
            st = self.causal_structure
            s, _, _ = as_transitions(states, actions, next_states, st.state_dim, st.action_dim)
            return np.zeros(len(s), dtype=np.bool_)
        d = self._label("termination_fn", self._termination_fn, states, actions, next_states)
        if d.dtype != np.bool_ and (d.dtype.kind not in "fiu" or not np.isin(d, (0, 1)).all()):
            raise ValueError("termination_fn must return booleans (or 0/1), one per transition")
        return d.astype(np.bool_)

    def local_mask(self, states: ArrayLike, actions: ArrayLike) -> NDArray[np.bool_]:
        """The local causal graph of each transition: bool ``(B, n_inputs, n_outputs)``.

        Your ``local_mask`` if given (checked: shape, booleans or 0/1), else the graph of
        ``parents`` broadcast to every row.
        """
        st = self.causal_structure
        s, _ = as_batch(states, st.state_dim, "states")
        a_in = np.asarray(actions)
        a, _ = as_batch(a_in.reshape(-1, 1) if self._discrete else a_in, st.action_dim, "actions")
        if len(s) != len(a):
            raise ValueError(f"states and actions differ in batch size: {len(s)}, {len(a)}")
        expected = (len(s), st.n_inputs, st.n_outputs)
        if self._local_mask is None:
            return np.broadcast_to(st.graph, expected).copy()
        mask = np.asarray(self._local_mask(s, self._actions(a)))
        if mask.shape != expected:
            raise ValueError(
                f"local_mask must return shape {expected} (batch, inputs "
                f"{list(st.input_names)}, outputs {list(st.output_names)}), got {mask.shape}"
            )
        return np.array(st.validate_graph(mask, name="local_mask"), dtype=np.bool_)
