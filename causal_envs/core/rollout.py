"""Rolling a learned model out: one helper for every model-based rollout in the project.

MoCoDA's DYN data rolls the unfactored ensemble out from empirical states with uniform random
actions; CSR's policy learning imagines trajectories in its world model from posterior states
(``agents.csr.agent``). Both are the same loop, written once here over any array type
(NumPy arrays or torch tensors).

Examples:
    >>> import numpy as np
    >>> out = model_rollout(
    ...     start=np.zeros((3, 1)),
    ...     horizon=4,
    ...     policy=lambda s, t: np.ones((len(s), 1)),
    ...     step=lambda s, a, t: (s + a, {"reward": -np.abs(s + a).sum(1)}),
    ... )
    >>> len(out.states), out.states[-1][:, 0].tolist(), out.extras["reward"][0].tolist()
    (5, [4.0, 4.0, 4.0], [-1.0, -1.0, -1.0])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["Rollout", "model_rollout"]

T = TypeVar("T")


@dataclass
class Rollout(Generic[T]):
    """A batch of model rollouts, time-major lists: ``states`` has ``horizon + 1`` entries (the
    start first), ``actions`` and each list of ``extras`` (what ``step`` returned beside the
    next state, e.g. rewards) ``horizon`` entries."""

    states: list[T]
    actions: list[T] = field(default_factory=list)
    extras: dict[str, list[Any]] = field(default_factory=dict)


def model_rollout(
    start: T,
    horizon: int,
    policy: Callable[[T, int], T],
    step: Callable[[T, T, int], T | tuple[T, Mapping[str, Any]]],
) -> Rollout[T]:
    """Roll ``horizon`` steps from the batch ``start``.

    Args:
        start: the batch of start states.
        horizon: the number of steps (>= 1).
        policy: ``policy(states, t) -> actions`` for the batch at step ``t``.
        step: ``step(states, actions, t)`` -> next states, or ``(next states, extras)`` where
            ``extras`` maps names to per-step values collected into ``Rollout.extras``.
    """
    if not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
    out: Rollout[T] = Rollout(states=[start])
    s = start
    for t in range(horizon):
        a = policy(s, t)
        result = step(s, a, t)
        if isinstance(result, tuple):
            s, extras = result
            for key, value in extras.items():
                out.extras.setdefault(key, []).append(value)
        else:
            s = result
        out.actions.append(a)
        out.states.append(s)
    return out
