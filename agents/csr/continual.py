"""CSR's Algorithm 1 over a task sequence: learn the source task, then on every later task
detect, adapt and (where the algorithm says so) keep learning, within a fixed env-step budget.

    from agents.csr import CSRAgent, CSRConfig, Schedule, run_sequence
    from causal_envs.tasks import make_sequence

    seq = make_sequence("cartpole", seed=5, obs_type="state", friction_slot=True)
    first = seq.make(0)
    agent = CSRAgent(first.observation_space.shape, int(first.action_space.n), CSRConfig())
    schedule = Schedule(source_steps=50_000, task_steps=(2_000, 4_000, 10_000))
    agent, results = run_sequence(agent, [task.make for task in seq.tasks], schedule)
    for r in results:
        print(r.task, r.decision, r.zero_shot, r.final)

The protocol is the same for every method the agent can be (``CSRConfig.adaptation``):

* **Source task**: train until ``patience`` evaluations in a row reach ``source_target`` or
  ``source_steps`` env steps are spent (no target: exactly ``source_steps``); then tau* is
  recorded (`CSRAgent.record_threshold`, on fresh steps of the task).
* **Every later task** gets exactly its budget of env steps, the adaptation's data included:
  the agent is first evaluated as it stands (**zero-shot**: nothing learned on the task yet),
  then `agents.csr.adaptation.adapt` runs and the agent is evaluated again (**adapted**).
  A distribution shift (CSR's error below its threshold; AdaRL always) returns the latest
  model and policy, as Algorithm 1 does: no further training. A space expansion (CSR) and
  the Dreamer baseline train on the task for the rest of the budget. There is no early stop
  and no restoring of an earlier best: the score is the agent's at the end of the budget.
  tau* is recorded again after a task the model trained on (a task returned untrained keeps
  the reference it was decided against); its probes' fresh steps are counted apart
  (``threshold_steps``), as Algorithm 1 computes tau* outside the task's training.
* **Evaluation**: greedy episodes from reset seeds counted up from ``eval_seed``
  (`CSRAgent.evaluate`), seeds training never draws (`agents.csr.agent.TRAINING_SEEDS`);
  ``eval_episodes`` of them at the end of each task (the **final** score) and for the
  zero-shot and adapted scores, ``curve_episodes`` every ``eval_every`` steps for the
  learning curve.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from agents.csr.adaptation import AdaptationReport, adapt
from agents.csr.agent import CSRAgent
from agents.csr.replay import SequenceReplay
from causal_envs.core import check_int, check_int_or_ints, check_real

__all__ = ["EVAL_SEED", "Schedule", "TaskResult", "converged", "run_sequence"]

#: the first reset seed of the evaluation episodes (below `agents.csr.agent.TRAINING_SEEDS`)
EVAL_SEED = 10_000


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """The env-step budgets and the evaluation of a task sequence (see the module docstring).

    Attributes:
        source_steps: the source task's budget (CSR Table 1: 50k on CartPole).
        task_steps: each later task's budget, one per task or one for all (Table 1: 2k, 4k,
            10k); 0 leaves a task its adaptation alone.
        source_target: the source task stops once ``patience`` evaluations in a row score at
            least this; None: exactly ``source_steps``.
        patience: see ``source_target``.
        eval_every: env steps between two evaluations of the learning curve.
        curve_episodes: episodes per learning-curve evaluation.
        eval_episodes: episodes of the zero-shot, adapted and final evaluations.
        eval_seed: the first evaluation episode's reset seed.
    """

    source_steps: int
    task_steps: int | tuple[int, ...]
    source_target: float | None = None
    patience: int = 3
    eval_every: int = 1_000
    curve_episodes: int = 5
    eval_episodes: int = 10
    eval_seed: int = EVAL_SEED

    def __post_init__(self) -> None:
        for name in ("source_steps", "patience", "eval_every", "curve_episodes", "eval_episodes"):
            object.__setattr__(self, name, check_int(f"Schedule.{name}", getattr(self, name), 1))
        object.__setattr__(self, "eval_seed", check_int("Schedule.eval_seed", self.eval_seed, 0))
        steps = check_int_or_ints("Schedule.task_steps", self.task_steps)
        object.__setattr__(self, "task_steps", steps)
        if self.source_target is not None:
            check_real("Schedule.source_target", self.source_target)

    def budget(self, task: int) -> int:
        """Env steps on ``task`` (0: the source task)."""
        if task == 0:
            return self.source_steps
        if isinstance(self.task_steps, int):
            return self.task_steps
        if task > len(self.task_steps):
            raise ValueError(
                f"the schedule has budgets for {len(self.task_steps)} later tasks, not task "
                f"{task + 1}"
            )
        return self.task_steps[task - 1]


@dataclass
class TaskResult:
    """One task of `run_sequence`: its scores, curve and the adaptation's decision."""

    task: int
    #: env steps the agent had taken when the task began, and on the task
    start: int
    steps: int
    #: mean evaluation return at the end of the task
    final: float
    #: the learning curve on the task: ``(env steps so far, mean return)``
    curve: list[tuple[int, float]] = field(default_factory=list)
    #: before anything is learned on the task (None on the source task, and where the
    #: observation's shape changed, which the old model cannot read)
    zero_shot: float | None = None
    #: right after the adaptation, before any further training (None on the source task)
    adapted: float | None = None
    #: whether the model trained on the task after the adaptation
    trained: bool = True
    #: tau* recorded at the end of the task (None where the task kept the previous one)
    tau_recorded: float | None = None
    #: fresh env steps of the task spent measuring tau* after its budget
    threshold_steps: int = 0
    report: AdaptationReport | None = None

    @property
    def decision(self) -> str | None:
        """``distribution_shift``, ``space_expansion`` or ``fine_tune``; None on the source."""
        return None if self.report is None else self.report.decision


def converged(curve: list[tuple[int, float]], target: float | None, patience: int) -> bool:
    """Whether the last ``patience`` evaluations of ``curve`` all reach ``target``."""
    if target is None or len(curve) < patience:
        return False
    return all(score >= target for _, score in curve[-patience:])


def _score(agent: CSRAgent, env: gym.Env, episodes: int, seed: int) -> float:
    return float(np.mean(agent.evaluate(env, episodes, seed=seed)))


def _train(
    agent: CSRAgent,
    env: gym.Env,
    eval_env: gym.Env,
    schedule: Schedule,
    steps: int,
    replay: SequenceReplay | None,
    target: float | None = None,
) -> tuple[SequenceReplay, list[tuple[int, float]]]:
    """``steps`` env steps of learning (the random prefill of an empty replay counted),
    evaluated every ``eval_every``; with ``target``, stopped once `converged`."""
    begin, curve = agent.env_steps, []
    if replay is None:
        replay = agent.new_replay(env)
    if len(replay) < agent.config.prefill and steps > 0:  # counted in the budget
        agent.collect(env, min(agent.config.prefill - len(replay), steps), replay, random=True)
    while agent.env_steps - begin < steps and not converged(curve, target, schedule.patience):
        chunk = min(schedule.eval_every, steps - (agent.env_steps - begin))
        replay, _ = agent.learn(env, chunk, replay=replay)
        score = _score(agent, eval_env, schedule.curve_episodes, schedule.eval_seed)
        curve.append((agent.env_steps, score))
        print(f"  [{agent.name}] {agent.env_steps:,} steps: {score:.1f}")
    return replay, curve


def _record_threshold(agent: CSRAgent, env: gym.Env, result: TaskResult) -> None:
    """tau* at the end of a task the model learned (fresh steps of it, as on a new task: the
    probes' steps are counted in ``threshold_steps``, not in the task's budget). The Dreamer
    baseline decides nothing and records none."""
    if agent.config.adaptation == "finetune":
        return
    before = agent.env_steps
    result.tau_recorded = agent.record_threshold(env=env)
    result.threshold_steps = agent.env_steps - before


def run_sequence(
    agent: CSRAgent,
    tasks: Sequence[Callable[[], gym.Env]],
    schedule: Schedule,
    on_task: Callable[[CSRAgent, TaskResult, SequenceReplay, gym.Env], Any] | None = None,
) -> tuple[CSRAgent, list[TaskResult]]:
    """Run ``agent`` through ``tasks`` (each called twice: the env to learn in and the env to
    evaluate in) under ``schedule``, as the module docstring describes.

    ``on_task(agent, result, replay, eval_env)`` is called at the end of every task (e.g. to
    save the agent or score its structure). Returns the agent to go on with (the
    Self-Adaptive expansion may replace it by a trained copy) and one `TaskResult` per task.
    """
    if not tasks:
        raise ValueError("run_sequence needs at least one task")
    for i in range(1, len(tasks)):
        schedule.budget(i)  # every task has a budget before anything runs
    results: list[TaskResult] = []

    def score(eval_env: gym.Env) -> float:  # the current agent (adapt may replace it)
        return _score(agent, eval_env, schedule.eval_episodes, schedule.eval_seed)

    env, eval_env = tasks[0](), tasks[0]()
    start = agent.env_steps
    replay, curve = _train(
        agent, env, eval_env, schedule, schedule.source_steps, None, schedule.source_target
    )
    result = TaskResult(
        task=0,
        start=start,
        steps=agent.env_steps - start,
        final=score(eval_env),
        curve=curve,
    )
    if len(tasks) > 1:
        _record_threshold(agent, env, result)
    agent.thetas[0] = agent.world.theta.detach().clone()
    results.append(result)
    if on_task is not None:
        on_task(agent, result, replay, eval_env)
    for i in range(1, len(tasks)):
        env, eval_env = tasks[i](), tasks[i]()
        start, budget = agent.env_steps, schedule.budget(i)
        readable = env.observation_space.shape == tuple(agent.world.config.obs_shape)
        zero_shot = score(eval_env) if readable else None
        agent, replay, report = adapt(agent, env, task=i)
        for line in report.log:
            print(f"  [{agent.name} task {i + 1}] {line}")
        adapted = score(eval_env)
        trained = report.decision != "distribution_shift"
        curve, more = [(agent.env_steps, adapted)], []
        if trained:
            left = max(0, budget - (agent.env_steps - start))
            replay, more = _train(agent, env, eval_env, schedule, left, replay)
            curve += more
        result = TaskResult(
            task=i,
            start=start,
            steps=agent.env_steps - start,
            # unchanged since the adapted score unless it trained (evaluation is greedy on
            # the same episodes)
            final=score(eval_env) if more else adapted,
            curve=curve,
            zero_shot=zero_shot,
            adapted=adapted,
            trained=trained,
            report=report,
        )
        if trained and i + 1 < len(tasks):
            _record_threshold(agent, env, result)
        results.append(result)
        if on_task is not None:
            on_task(agent, result, replay, eval_env)
    return agent, results
