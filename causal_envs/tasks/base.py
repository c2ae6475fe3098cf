"""Task sequences: a list of environment configurations and what changed between them.

A `Task` names an env id, its keyword arguments and the set of changes from the task
before it (``distribution_shift``, ``state_expansion``, ``action_expansion``). A
`TaskSequence` is an ordered list of tasks with its ground truth; `TaskSequenceEnv`
is one Gymnasium env that plays the tasks in turn: ``next_task()`` moves on, or a schedule of env
steps per task moves on at the first episode boundary after the budget; ``info["task_id"]`` and
``info["task_changes"]`` say where the agent is.

By default spaces change with the task (an expansion can widen them) and the env updates its
``observation_space`` and ``action_space`` on a switch: what CSR's agents expect, as they grow
their models with the task. No vectorised RL library accepts spaces that change mid-run, so
``fixed_spaces=True`` gives every task the same spaces: vector observations padded with zeros to
the longest task's (``info["observation_mask"]`` marks the elements the current task has), the
largest action set (``info["action_mask"]`` marks the current task's actions; an action the task
does not have is played as ``action % n`` and flagged in ``info["action_replaced"]``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from causal_envs.context import CONTEXT_SPACES
from causal_envs.core import check_bool, check_discrete_action, check_int

__all__ = ["CHANGES", "Task", "TaskSequence", "TaskSequenceEnv"]

CHANGES = ("distribution_shift", "state_expansion", "action_expansion")


@dataclass(frozen=True)
class Task:
    """One task: ``gym.make(env_id, **kwargs)`` (optionally wrapped by ``wrap``), the changes
    from the previous task, and ground-truth facts a benchmark can score against."""

    name: str
    env_id: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    changes: frozenset[str] = frozenset()
    description: str = ""
    truth: dict[str, Any] = field(default_factory=dict)
    wrap: Callable[[gym.Env], gym.Env] | None = None

    def __post_init__(self) -> None:
        unknown = set(self.changes) - set(CHANGES)
        if unknown:
            raise ValueError(f"unknown changes {sorted(unknown)}; known: {CHANGES}")
        object.__setattr__(self, "changes", frozenset(self.changes))

    @property
    def context(self) -> dict[str, float] | None:
        """The task as a CARL-style context (`causal_envs.context`): every context feature of
        its env, at this task's value or the default; None for an env without features."""
        space = CONTEXT_SPACES.get(self.env_id)
        if space is None:
            return None
        return space.validate({k: v for k, v in self.kwargs.items() if k in space})

    def make(self, **overrides: Any) -> gym.Env:
        env = gym.make(self.env_id, **{**self.kwargs, **overrides})
        return self.wrap(env) if self.wrap is not None else env


@dataclass(frozen=True)
class TaskSequence:
    """Named, ordered tasks; the first task's ``changes`` is empty (the source task)."""

    name: str
    tasks: tuple[Task, ...]
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ValueError("a task sequence needs at least one task")
        if self.tasks[0].changes:
            raise ValueError("the first (source) task cannot have changes")

    def __len__(self) -> int:
        return len(self.tasks)

    def __getitem__(self, i: int) -> Task:
        return self.tasks[i]

    def make(self, i: int, **overrides: Any) -> gym.Env:
        """The env of task ``i``."""
        if not 0 <= i < len(self.tasks):
            raise IndexError(f"task index {i} out of range for {len(self.tasks)} tasks")
        return self.tasks[i].make(**overrides)

    def contexts(self) -> dict[int, dict[str, float]] | None:
        """CARL's ``contexts`` dict of the tasks (``{i: task i's context}``), or None when the
        tasks' env has no context features."""
        found = [t.context for t in self.tasks]
        return None if any(c is None for c in found) else dict(enumerate(found))

    def env(
        self,
        steps_per_task: Sequence[int] | int | None = None,
        fixed_spaces: bool = False,
        **overrides: Any,
    ) -> TaskSequenceEnv:
        """One env that plays the tasks in turn (see `TaskSequenceEnv`); ``overrides`` go to
        every task's ``gym.make`` (e.g. ``max_episode_steps``)."""
        return TaskSequenceEnv(self, steps_per_task, fixed_spaces=fixed_spaces, **overrides)


class TaskSequenceEnv(gym.Env):
    """Plays a `TaskSequence`: the current task's env, switched by ``next_task()`` or by
    a schedule of env steps per task (the switch happens at the next ``reset``).

    ``fixed_spaces=True``: the same observation and action spaces for every task (see the
    module's docstring), for libraries that build their networks once. ``overrides`` go to
    every task's ``gym.make``.
    """

    def __init__(
        self,
        sequence: TaskSequence,
        steps_per_task: Sequence[int] | int | None = None,
        fixed_spaces: bool = False,
        **overrides: Any,
    ) -> None:
        self.sequence = sequence
        n = len(sequence)
        if steps_per_task is not None:
            if isinstance(steps_per_task, int | np.integer) and not isinstance(
                steps_per_task, bool | np.bool_
            ):
                steps_per_task = [steps_per_task] * n
            if isinstance(steps_per_task, str | bytes) or not hasattr(steps_per_task, "__len__"):
                raise ValueError(
                    f"steps_per_task needs an integer >= 1 or {n} of them, got {steps_per_task!r}"
                )
            if len(steps_per_task) != n:
                raise ValueError(
                    f"steps_per_task needs {n} integers >= 1 (one per task), got "
                    f"{len(steps_per_task)}: {list(steps_per_task)!r}"
                )
            steps_per_task = [
                check_int(f"steps_per_task[{i}]", v, 1) for i, v in enumerate(steps_per_task)
            ]
        self.steps_per_task = steps_per_task
        self.fixed_spaces = check_bool("fixed_spaces", fixed_spaces)
        self.overrides = overrides
        self.task_id = 0
        self.task_steps = 0
        self._env = sequence.make(0, **overrides)
        if self.fixed_spaces:
            envs = [self._env] + [sequence.make(i, **overrides) for i in range(1, n)]
            self.observation_space = _union_observation_space(
                [e.observation_space for e in envs], sequence.name
            )
            self.action_space = _union_action_space([e.action_space for e in envs], sequence.name)
            for e in envs[1:]:
                e.close()
        self._sync_spaces()

    def _sync_spaces(self) -> None:
        if not self.fixed_spaces:
            self.observation_space = self._env.observation_space
            self.action_space = self._env.action_space
        self.metadata = self._env.metadata
        self.render_mode = self._env.render_mode

    @property
    def task(self) -> Task:
        return self.sequence[self.task_id]

    @property
    def current_env(self) -> gym.Env:
        return self._env

    @property
    def done(self) -> bool:
        """Whether the schedule has used up the last task's budget."""
        return (
            self.steps_per_task is not None
            and self.task_id == len(self.sequence) - 1
            and self.task_steps >= self.steps_per_task[-1]
        )

    def next_task(self) -> Task:
        """Move to the next task (a new env; call ``reset`` next)."""
        if self.task_id + 1 >= len(self.sequence):
            raise IndexError(f"{self.sequence.name} has no task after task {self.task_id}")
        self._env.close()
        self.task_id += 1
        self.task_steps = 0
        self._env = self.sequence.make(self.task_id, **self.overrides)
        self._sync_spaces()
        return self.task

    def _info(self, info: dict[str, Any], replaced: bool = False) -> dict[str, Any]:
        out = {**info, "task_id": self.task_id, "task_changes": sorted(self.task.changes)}
        if self.fixed_spaces:
            out["observation_mask"] = self._observation_mask()
            out["action_mask"] = np.arange(self.action_space.n) < self._env.action_space.n
            out["action_replaced"] = replaced
        return out

    def _observation_mask(self) -> np.ndarray:
        shape = self.observation_space.shape
        mask = np.zeros(shape[-1], dtype=bool)
        mask[: self._env.observation_space.shape[-1]] = True
        return mask

    def _pad(self, obs: np.ndarray) -> np.ndarray:
        if not self.fixed_spaces or obs.shape == self.observation_space.shape:
            return obs
        out = np.zeros(self.observation_space.shape, dtype=self.observation_space.dtype)
        out[: obs.shape[-1]] = obs
        return out

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if (
            self.steps_per_task is not None
            and self.task_id + 1 < len(self.sequence)
            and self.task_steps >= self.steps_per_task[self.task_id]
        ):
            self.next_task()
        obs, info = self._env.reset(seed=seed, options=options)
        return self._pad(obs), self._info(info)

    def step(self, action: Any):
        replaced = False
        if self.fixed_spaces:
            action = check_discrete_action(action, int(self.action_space.n))
            n = int(self._env.action_space.n)
            replaced = action >= n
            action %= n
        obs, reward, terminated, truncated, info = self._env.step(action)
        self.task_steps += 1
        return self._pad(obs), reward, terminated, truncated, self._info(info, replaced)

    def render(self):
        return self._env.render()

    def close(self) -> None:
        self._env.close()


def _union_observation_space(spaces_: list[gym.Space], name: str) -> spaces.Box:
    """One Box holding every task's observations: vectors padded with zeros to the longest;
    other shapes must agree."""
    first = spaces_[0]
    if not all(isinstance(sp, spaces.Box) for sp in spaces_):
        raise ValueError(f"fixed_spaces needs Box observations; {name} has {spaces_}")
    if len({sp.dtype for sp in spaces_}) != 1:
        raise ValueError(f"fixed_spaces needs one observation dtype; {name} has {spaces_}")
    if len(first.shape) != 1:
        if len({sp.shape for sp in spaces_}) != 1:
            raise ValueError(
                f"fixed_spaces pads vector observations only; {name}'s tasks have the shapes "
                f"{[sp.shape for sp in spaces_]}"
            )
        low = np.min([sp.low for sp in spaces_], axis=0)
        high = np.max([sp.high for sp in spaces_], axis=0)
        return spaces.Box(low, high, dtype=first.dtype)
    size = max(sp.shape[0] for sp in spaces_)
    low = np.zeros((len(spaces_), size), dtype=first.dtype)  # padding is 0
    high = np.zeros((len(spaces_), size), dtype=first.dtype)
    for k, sp in enumerate(spaces_):
        low[k, : sp.shape[0]], high[k, : sp.shape[0]] = sp.low, sp.high
    return spaces.Box(low.min(axis=0), high.max(axis=0), dtype=first.dtype)


def _union_action_space(spaces_: list[gym.Space], name: str) -> spaces.Discrete:
    """The largest of the tasks' discrete action sets (each task's actions are its first n)."""
    if not all(isinstance(sp, spaces.Discrete) and sp.start == 0 for sp in spaces_):
        raise ValueError(f"fixed_spaces needs Discrete actions from 0; {name} has {spaces_}")
    return spaces.Discrete(max(int(sp.n) for sp in spaces_))
