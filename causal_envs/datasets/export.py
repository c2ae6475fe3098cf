"""Offline datasets into other libraries, without losing a transition.

d3rlpy builds transitions from episodes: the next state of step ``t`` is the observation of step
``t + 1``, the last step of an episode that did not terminate has no next state (it is dropped),
and a terminated episode's last next state is a vector of zeros. Handing it a D4RL dict
(``d3rlpy.dataset.MDPDataset(**env.unwrapped.get_dataset())``) therefore loses the last
transition of every episode that was cut by a time limit and zeroes the next state of every
terminal that falls *inside* a behaviour episode (on ``nav2d/empirical``: 1,544 of 40,000
transitions dropped, 416 next states wrong), and it cannot represent MoCoDA's generated sets,
whose transitions are independent one-step episodes.

`to_d3rlpy` keeps every ``(s, a, r, s', terminal)`` exactly: the data is cut into runs of
consecutive transitions (``s'`` of one is ``s`` of the next, no episode end between), each run
of ``L`` transitions becomes a d3rlpy episode of ``L + 1`` observations (its last ``s'``
appended) that is not "terminated" as d3rlpy counts it, and a transition picker reads each
transition's own terminal flag. d3rlpy then samples exactly the dataset's rows, uniformly.

Examples:
    (skipped as doctests: d3rlpy is the optional ``crosscheck`` extra, and it logs to stdout)

    >>> import tempfile
    >>> from causal_envs.datasets import load_dataset, to_d3rlpy
    >>> data = load_dataset("nav2d/empirical", root=tempfile.mkdtemp())
    >>> buffer = to_d3rlpy(data)  # doctest: +SKIP
    >>> buffer.transition_count  # doctest: +SKIP
    40000
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from causal_envs.datasets.transitions import TransitionDataset

__all__ = ["as_transition_dataset", "to_d3rlpy", "transition_runs"]


def as_transition_dataset(data: TransitionDataset | Mapping[str, np.ndarray]) -> TransitionDataset:
    """``data`` as a `TransitionDataset`: itself, or built from a D4RL dict (``observations,
    actions, rewards, next_observations, terminals, timeouts``; episodes end at terminals and
    timeouts, and at the end of the arrays)."""
    if isinstance(data, TransitionDataset):
        return data
    if not isinstance(data, Mapping):
        raise TypeError(f"expected a TransitionDataset or a D4RL dict, got {type(data).__name__}")
    needed = ("observations", "actions", "rewards", "next_observations", "terminals")
    missing = [k for k in needed if k not in data]
    if missing:
        raise ValueError(f"the D4RL dict lacks {missing}; it has {sorted(data)}")
    terminals = np.asarray(data["terminals"], dtype=np.bool_)
    ends = terminals | np.asarray(data.get("timeouts", np.zeros_like(terminals)), dtype=np.bool_)
    if len(ends):
        ends[-1] = True
    actions = np.asarray(data["actions"], dtype=np.float32)
    return TransitionDataset(
        observations=np.asarray(data["observations"], dtype=np.float32),
        actions=actions.reshape(len(actions), -1),
        rewards=np.asarray(data["rewards"], dtype=np.float32).reshape(-1),
        next_observations=np.asarray(data["next_observations"], dtype=np.float32),
        terminals=terminals,
        episode_ends=ends,
    )


def transition_runs(data: TransitionDataset) -> np.ndarray:
    """``(n_runs, 2)`` ``[start, stop)`` bounds of the runs of consecutive transitions: a run
    ends at an episode end and wherever ``next_observations[i]`` is not ``observations[i+1]``
    (a terminal inside a behaviour episode does not end a run)."""
    n = len(data)
    cut = data.episode_ends.copy()
    if n > 1:
        cut[:-1] |= np.any(data.next_observations[:-1] != data.observations[1:], axis=1)
    stops = np.flatnonzero(cut) + 1
    starts = np.concatenate([[0], stops[:-1]]).astype(np.int64)
    return np.stack([starts, stops], axis=1)


@functools.cache
def _d3rlpy_types() -> tuple[type, type]:
    """The episode type and transition picker, defined once d3rlpy is imported."""
    from d3rlpy.dataset import Episode, Transition  # deferred: the optional crosscheck extra

    @dataclasses.dataclass(frozen=True)
    class RunEpisode(Episode):
        """A run of ``L`` transitions: ``L + 1`` observations, ``L + 1`` actions and rewards
        (the last rows repeat/zero), ``terminated=False`` (so d3rlpy counts ``L``), and each
        transition's own terminal flag."""

        terminal_flags: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))

    class ExactTransitionPicker:
        """Transition ``i`` of a run: its own ``s'`` (the next observation row) and terminal."""

        def __call__(self, episode: RunEpisode, index: int) -> Transition:
            return Transition(
                observation=episode.observations[index],
                action=episode.actions[index],
                reward=episode.rewards[index],
                next_observation=episode.observations[index + 1],
                next_action=episode.actions[index + 1],
                terminal=float(episode.terminal_flags[index]),
                interval=1,
                rewards_to_go=episode.rewards[index:-1],
            )

    return RunEpisode, ExactTransitionPicker


def to_d3rlpy(
    data: TransitionDataset | Mapping[str, np.ndarray], *, discrete: bool | None = None
) -> Any:
    """A d3rlpy ``ReplayBuffer`` holding every transition of ``data`` exactly.

    Args:
        data: a `TransitionDataset` (``load_dataset``, ``load_augmented``) or a D4RL dict
            (``env.unwrapped.get_dataset()``).
        discrete: whether actions are discrete indices (CartPole, the synthetic POMDP).
            Default: what the dataset's metadata says (``action_n``), else continuous.

    Returns:
        ``d3rlpy.dataset.ReplayBuffer`` whose ``transition_count`` is ``len(data)``; pass it to
        any d3rlpy algorithm's ``fit``.
    """
    try:
        import d3rlpy  # deferred: d3rlpy is the optional `crosscheck` extra
        from d3rlpy.dataset import InfiniteBuffer, ReplayBuffer  # deferred: optional extra
    except ImportError as err:
        raise ImportError(
            "to_d3rlpy needs d3rlpy: pip install 'causal-envs[crosscheck]' (or d3rlpy)"
        ) from err
    data = as_transition_dataset(data)
    if len(data) == 0:
        raise ValueError("the dataset holds no transitions")
    action_n = data.metadata.get("action_n")
    if discrete is None:
        discrete = action_n is not None
    run_episode, picker = _d3rlpy_types()
    if discrete:
        actions = data.actions.reshape(-1)
        if (
            actions.shape != (len(data),)
            or np.any(actions != np.round(actions))
            or actions.min() < 0
        ):
            raise ValueError("discrete=True needs one non-negative integer action per transition")
        actions = actions.astype(np.int32).reshape(-1, 1)
        space, size = d3rlpy.ActionSpace.DISCRETE, int(action_n or actions.max() + 1)
    else:
        actions = data.actions
        space, size = d3rlpy.ActionSpace.CONTINUOUS, data.actions.shape[1]
    rewards = data.rewards.reshape(-1, 1)
    zero_reward = np.zeros((1, 1), np.float32)
    episodes = []
    for start, stop in transition_runs(data):
        episodes.append(
            run_episode(
                observations=np.concatenate(
                    [data.observations[start:stop], data.next_observations[stop - 1 : stop]]
                ),
                actions=np.concatenate([actions[start:stop], actions[stop - 1 : stop]]),
                rewards=np.concatenate([rewards[start:stop], zero_reward]),
                terminated=False,
                terminal_flags=data.terminals[start:stop],
            )
        )
    return ReplayBuffer(
        InfiniteBuffer(),
        episodes=episodes,
        transition_picker=picker(),
        action_space=space,
        action_size=size,
    )
