"""Task sequences: a list of environment configurations and what changed between them.

A `Task` names an env id, its keyword arguments and the set of changes from the task
before it (``distribution_shift``, ``state_expansion``, ``action_expansion``). A
`TaskSequence` is an ordered list of tasks with its ground truth; `TaskSequenceEnv`
is one Gymnasium env that plays the tasks in turn: ``next_task()`` moves on, or a schedule of env
steps per task moves on at the first episode boundary after the budget; ``info["task_id"]`` and
``info["task_changes"]`` say where the agent is. Spaces change with the task (an expansion can
widen them), so the wrapper updates its ``observation_space`` and ``action_space`` on a switch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

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

    def env(self, steps_per_task: Sequence[int] | int | None = None) -> TaskSequenceEnv:
        return TaskSequenceEnv(self, steps_per_task)


class TaskSequenceEnv(gym.Env):
    """Plays a `TaskSequence`: the current task's env, switched by ``next_task()`` or by
    a schedule of env steps per task (the switch happens at the next ``reset``).
    """

    def __init__(
        self, sequence: TaskSequence, steps_per_task: Sequence[int] | int | None = None
    ) -> None:
        self.sequence = sequence
        n = len(sequence)
        if isinstance(steps_per_task, int):
            steps_per_task = [steps_per_task] * n
        if steps_per_task is not None:
            steps_per_task = list(steps_per_task)
            if len(steps_per_task) != n or any(s < 1 for s in steps_per_task):
                raise ValueError(
                    f"steps_per_task needs {n} positive integers, got {steps_per_task}"
                )
        self.steps_per_task = steps_per_task
        self.task_id = 0
        self.task_steps = 0
        self._env = sequence.make(0)
        self._sync_spaces()

    def _sync_spaces(self) -> None:
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
        self._env = self.sequence.make(self.task_id)
        self._sync_spaces()
        return self.task

    def _info(self, info: dict[str, Any]) -> dict[str, Any]:
        return {**info, "task_id": self.task_id, "task_changes": sorted(self.task.changes)}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if (
            self.steps_per_task is not None
            and self.task_id + 1 < len(self.sequence)
            and self.task_steps >= self.steps_per_task[self.task_id]
        ):
            self.next_task()
        obs, info = self._env.reset(seed=seed, options=options)
        return obs, self._info(info)

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self._env.step(action)
        self.task_steps += 1
        return obs, reward, terminated, truncated, self._info(info)

    def render(self):
        return self._env.render()

    def close(self) -> None:
        self._env.close()
