"""CSR's experiments: task sequences, CSR against its baselines, detection and expansion scored.

    causal-envs bench csr-cartpole  [--profile quick|paper]
    causal-envs bench csr-synthetic [--profile quick|paper]
    causal-envs bench csr-coinrun   [--profile quick|paper]
    causal-envs bench csr-atari     [--profile quick|paper] [--game Pong]

For every seed and method the agent learns the source task, then meets each later task of the
sequence (``causal_envs.tasks``) under one protocol for all (`agents.csr.continual`, CSR's
Algorithm 1 with Table 1's fixed budgets): the source task until ``patience`` evaluations in
a row reach ``source_target`` (at most ``source_steps``), then exactly ``task_steps`` env
steps per later task, the adaptation's data included, with no early stop and no restoring of
an earlier best. The world-model methods run their adaptation (``agents.csr.adapt``; CSR:
detect / expand / prune, AdaRL: theta only, Dreamer: fine-tune); a distribution shift
returns the adapted model and policy untrained, as Algorithm 1 does; an expansion, Dreamer
and DQN train for the rest of the budget. DQN is Stable-Baselines3's, trained on each task in
turn (a new network when the spaces change).

Reported per method, seed and task: the **zero-shot** score (evaluated right after the
switch, before anything is learned on the task), the **final** score (the end of the task's
budget), both on ``eval_episodes`` greedy episodes from reset seeds training never draws;
the minimum adaptation steps (env steps on the task until the learning curve first reaches
``fraction`` of the task's optimum or oracle score); the detected change against the task's
ground truth, and the latent variables added (against the true d' of the synthetic POMDP);
and each seed's draw of task 2's physics. Each (method, seed) cell is written to the results
file when it finishes and skipped on a re-run. The tables go to ``<name>.txt`` beside the
JSON, the learning curves to ``<name>_curves.png``, and for the first seed every expansion
draws the new task's reconstructions before the expansion and at the end of the task
(``<name>/<method>_seed<k>_task<i>_reconstructions.png``).
"""

from __future__ import annotations

import copy
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.csr import CSRAgent, CSRConfig, TaskResult, WorldModelParams, run_sequence
from agents.csr import structure as learned_structure
from agents.csr.continual import converged
from benchmarks.claims import CLAIMS, Verdict
from benchmarks.csr_profiles import METHODS, PROFILES_BY_BENCH, CSRProfile, bench_of_folder
from benchmarks.runner import Benchmark, Cell, RunContext, run
from benchmarks.stats import (
    MIN_SEEDS_FOR_INTERVAL,
    confusion,
    estimate,
    iqm,
    stratified_interval,
)
from causal_envs.datasets.plots import pyplot, save_figure
from causal_envs.tasks import make_sequence

__all__ = ["METHODS", "PROFILES_BY_BENCH", "CSRProfile", "benchmark", "main"]

LABELS = {"csr": "CSR", "adarl": "AdaRL", "dreamer": "Dreamer", "dqn": "DQN", "oracle": "Oracle"}


def agent_config(profile: CSRProfile, method: str, seed: int, device: str) -> CSRConfig:
    """The agent configuration of ``method`` (csr, adarl or dreamer: the same world model
    without masks and theta, fine-tuned) in ``profile``, with its seed and device."""
    kwargs, world = dict(profile.agent), dict(profile.world)
    if method == "dreamer":
        kwargs.update(adaptation="finetune")
        world.update(structured=False, use_theta=False)
    else:
        kwargs.update(adaptation=method)
    return CSRConfig(**kwargs, world=WorldModelParams(**world), seed=seed, device=device)


def adaptation_targets(
    cells: list[dict], fraction: float, optimum: float | None = None
) -> dict[tuple[int, int], float | None]:
    """Per (seed, task): ``fraction`` of the task's ``optimum`` when it has one; else of the
    oracle's final score on that task and seed (a fresh agent trained on the task alone), where
    the cells hold an oracle; else of the best final source-task score of any method with the
    seed. None where that score is not positive: a fraction of it is no target. ``cells``
    as `resolve_shared_rows` returns them."""
    n_tasks = max(len(c["tasks"]) for c in cells)
    seeds = sorted({c["seed"] for c in cells})
    if optimum is not None:
        return {(s, i): fraction * optimum for s in seeds for i in range(n_tasks)}
    oracle = {c["seed"]: c for c in cells if c["method"] == "oracle"}
    best: dict[int, float] = {}
    for c in cells:
        best[c["seed"]] = max(best.get(c["seed"], float("-inf")), c["tasks"][0]["final_score"])
    out: dict[tuple[int, int], float | None] = {}
    for s in seeds:
        for i in range(n_tasks):
            rows = oracle[s]["tasks"] if s in oracle else []
            score = rows[i]["final_score"] if i < len(rows) else best[s]
            out[s, i] = fraction * score if score > 0 else None
    return out


def adaptation_steps(
    cell: dict, task: int, targets: dict[tuple[int, int], float | None]
) -> int | None:
    """Env steps on ``task`` until the cell's evaluation score first reaches its target."""
    target = targets.get((cell["seed"], task))
    if len(cell["tasks"]) <= task or target is None:
        return None
    t = cell["tasks"][task]
    return _first_reaching(t["curve"], t["start"], target)


def _first_reaching(curve: list[tuple[int, float]], start: int, target: float) -> int | None:
    for step, score in curve:
        if score >= target:
            return step - start
    return None


def _tasks(profile: CSRProfile, seed: int):
    seq = make_sequence(profile.sequence, seed=seed, **profile.seq_kwargs)
    return seq, [task.make for task in seq.tasks]


def _new_agent(profile: CSRProfile, method: str, seed: int, device: str, env) -> CSRAgent:
    torch.manual_seed(seed)
    return CSRAgent(
        env.observation_space.shape,
        int(env.action_space.n),
        agent_config(profile, method, seed, device),
    )


def _run_world_model(
    profile: CSRProfile, method: str, seed: int, folder: Path, device: str
) -> dict:
    """CSR, AdaRL or Dreamer through the sequence under `agents.csr.run_sequence` (Algorithm 1
    with the profile's budgets); each task's row also holds the structure score (synthetic
    POMDP) and, for the first seed, the reconstructions around an expansion."""
    seq, makers = _tasks(profile, seed)
    agent = _new_agent(profile, method, seed, device, makers[0]())
    tasks: list[dict[str, Any]] = []

    def on_task(agent: CSRAgent, result: TaskResult, replay, eval_env) -> None:
        row = _task_row(seq, result, agent)
        _score_structure(row, agent, eval_env)
        row["model"] = model_diagnostics(agent, replay)
        if result.task == 0:
            agent.save(folder / f"{method}_seed{seed}_source.pt")  # for detection studies
        report = result.report
        if report is not None and report.world_before_expansion is not None:
            if seed == profile.seeds[0]:
                worlds = {
                    "before expansion": report.world_before_expansion,
                    "end of task": agent.world,
                }
                path = folder / f"{method}_seed{seed}_task{result.task + 1}_reconstructions.png"
                title = (
                    f"{LABELS[method]}, seed {seed}, task {result.task + 1} "
                    f"({seq[result.task].description}): reconstructions before the expansion "
                    "and at the end of the task"
                )
                row["reconstructions"] = str(plot_reconstructions(worlds, replay, path, title))
            report.world_before_expansion = None  # not kept past the task
        tasks.append(row)

    agent, _ = run_sequence(agent, makers, profile.schedule, on_task=on_task)
    agent.save(folder / f"{method}_seed{seed}.pt")
    return {"method": method, "seed": seed, "draw": seq[1].description, "tasks": tasks}


def _run_oracle(profile: CSRProfile, seed: int, device: str) -> dict:
    """The reference row: a fresh CSR agent (the world model and policy CSR starts from) per
    later task, trained there as the source task is (the source budget and target), with no
    knowledge of the earlier tasks. Its task 1 is CSR's own source task (same seed, same
    agent), so it is not trained twice: the report reads it from the CSR cell of the seed."""
    seq, makers = _tasks(profile, seed)
    tasks: list[dict[str, Any]] = [{"task": 0, "same_as": "csr"}]
    for i in range(1, len(seq)):
        agent = _new_agent(profile, "csr", seed, device, makers[i]())
        agent, (result,) = run_sequence(agent, [makers[i]], profile.schedule)
        result.task = i
        row = _task_row(seq, result, agent)
        row["start"] = 0
        _score_structure(row, agent, makers[i]())
        tasks.append(row)
    return {"method": "oracle", "seed": seed, "draw": seq[1].description, "tasks": tasks}


def task_references(profile: CSRProfile, seed: int) -> list[dict[str, float]] | None:
    """Per task of the seed's sequence, the mean returns of reference policies that know the
    task's true model (`SyntheticPOMDPEnv.reference_returns`: random actions, the worst and
    best constant action, a one-step planner), over as many episodes as the evaluations play;
    None for a sequence whose env has no true model to plan with."""
    _, makers = _tasks(profile, seed)
    out = []
    for make in makers:
        env = make()
        refs = getattr(env.unwrapped, "reference_returns", None)
        if refs is not None:
            out.append(refs(episodes=profile.eval_episodes, seed=seed))
        env.close()
        if refs is None:
            return None
    return out


def normalised_scores(rows: list[dict], task: int, key: str = "final_score") -> list[float]:
    """The scores of ``rows`` on ``task`` as a fraction of the way from the task's random
    policy (0) to its best reference policy (1) (`task_references`, stored in each cell);
    rows without references are left out."""
    out = []
    for r in rows:
        refs = r.get("references")
        if not refs or len(r["tasks"]) <= task:
            continue
        value = r["tasks"][task].get(key)
        low, high = refs[task]["random"], refs[task]["best"]
        if value is not None and not np.isnan(value) and high > low:
            out.append((float(value) - low) / (high - low))
    return out


def _reference_lines(cells: list[dict], methods: tuple[str, ...], n_tasks: int) -> list[str]:
    """The normalised final scores per method and task, and each seed's reference range."""
    if not any(c.get("references") for c in cells):
        return []
    width = 24
    lines = [
        "",
        "final score normalised per seed and task: 0 = uniformly random actions, 1 = the best "
        "policy that knows the true model (the best constant action or a one-step planner), "
        "mean [interval]",
        f"{'method':8s}" + "".join(f"{'task ' + str(i + 1):>{width}s}" for i in range(n_tasks)),
    ]
    for m in methods:
        rows = [c for c in cells if c["method"] == m]
        if rows:
            values = [normalised_scores(rows, i) for i in range(n_tasks)]
            lines.append(
                f"{LABELS[m]:8s}"
                + "".join(f"{(estimate(v).format(2) if v else 'n/a'):>{width}s}" for v in values)
            )
    lines += ["", "reference returns per seed and task: random / worst constant / best"]
    seen = set()
    for c in sorted(cells, key=lambda c: c["seed"]):
        refs = c.get("references")
        if not refs or c["seed"] in seen:
            continue
        seen.add(c["seed"])
        lines.append(
            f"seed {c['seed']}: "
            + "; ".join(
                f"task {i + 1} {r['random']:.0f} / {r['worst_constant']:.0f} / {r['best']:.0f}"
                for i, r in enumerate(refs)
            )
        )
    return lines


def resolve_shared_rows(cells: list[dict]) -> list[dict]:
    """``cells`` with every task row that says ``same_as`` (the oracle's task 1) replaced by
    that method's row of the same seed (a NaN score when that cell is not in ``cells``)."""
    by_key = {(c["method"], c["seed"]): c for c in cells}
    out = []
    for c in cells:
        rows = []
        for t in c["tasks"]:
            if "same_as" in t:
                other = by_key.get((t["same_as"], c["seed"]))
                t = other["tasks"][t["task"]] if other else {**t, "final_score": float("nan")}
            rows.append(t)
        out.append({**c, "tasks": rows})
    return out


def _score_structure(row: dict[str, Any], agent: CSRAgent, env) -> None:
    """On an env that knows its causal graph (the synthetic POMDP), the agent's learned masks
    against it (`agents.csr.structure.score`), into the task's ``row``; the unstructured
    Dreamer has no masks to score."""
    if getattr(env.unwrapped, "ground_truth", None) is None or not agent.world.config.structured:
        return
    row["structure"] = learned_structure.score(agent.world, env).to_dict()


#: windows of the task's replay the model diagnostics read (the same windows for every method)
DIAGNOSTIC_BATCHES = 8
#: Gumbel-sigmoid draws of the masks that the sampled-mask error averages over
MASK_DRAWS = 5


def model_diagnostics(agent: CSRAgent, replay) -> dict[str, float | None]:
    """How the world model stands at the end of a task, on `DIAGNOSTIC_BATCHES` fixed batches
    of windows of the task's replay: ``reward_explained``, the share of the reward's variance
    the reward model explains from the posterior states (1 - MSE / variance; None for a
    constant reward). For a structured model also the share of ``s->r`` and ``a->s`` edges
    on, ``mask_flip``: the mean over edges of the probability that a training-time mask
    sample differs from the hard mask (``min(p, 1 - p)``), and the one-step prediction error
    with the hard masks (imagination's and detection's, ``error_hard``) beside its mean over
    `MASK_DRAWS` Gumbel-sigmoid samples (training's, ``error_sampled``). The samples come
    from a forked generator: the run's own random draws are untouched."""
    world, c = agent.world, agent.config
    rng = np.random.default_rng(12345)
    batches = [
        replay.sample(c.batch_size, c.seq_len, rng, agent.device) for _ in range(DIAGNOSTIC_BATCHES)
    ]
    was = world.training
    world.eval()
    squared, variance = [], []
    with torch.no_grad():
        for b in batches:
            out = world.observe(b)
            states = out["states"].reshape(-1, world.latent_dim)
            r = b["reward"].reshape(-1).float()
            squared.append(float(((world.reward(states, out["masks"]) - r) ** 2).mean()))
            variance.append(float(r.var(unbiased=False)))
    world.train(was)
    var = float(np.mean(variance))
    result: dict[str, float | None] = {
        "reward_explained": 1.0 - float(np.mean(squared)) / var if var > 0 else None
    }
    if not world.config.structured:
        return result
    hard = world.structure()
    probs = torch.cat([gate.probs().detach().flatten() for gate in world.masks.values()])

    def error(sampled: bool) -> float:
        return float(torch.cat([world.step_errors(b, sampled)[1] for b in batches]).mean())

    devices = [agent.device] if agent.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(0)
        sampled = float(np.mean([error(True) for _ in range(MASK_DRAWS)]))
    result.update(
        s_r_edges=float(hard["s->r"].float().mean()),
        a_s_edges=float(hard["a->s"].float().mean()),
        mask_flip=float(torch.minimum(probs, 1 - probs).mean()),
        error_hard=error(False),
        error_sampled=sampled,
    )
    return result


def detection_confusion(cells: list[dict]) -> dict[str, int]:
    """The decisions of ``cells`` on every later task against its ground truth: did the
    latent space have to grow (the task's changes include ``state_expansion``) and did the
    method expand it (decision ``space_expansion``)? The counts of `benchmarks.stats.confusion`."""
    c = confusion(
        ("state_expansion" in t["truth"], t["decision"] == "space_expansion")
        for cell in cells
        for t in cell["tasks"][1:]
        if "decision" in t
    )
    return {k: c[k] for k in ("decisions", "right", "tp", "fn", "fp", "tn")}


def _fmt_confusion(c: dict[str, int]) -> str:
    return (
        f"{c['right']} of {c['decisions']} right ({c['right'] / c['decisions']:.0%}); "
        f"expansion needed and made {c['tp']}, needed and missed {c['fn']}, "
        f"made without need {c['fp']}, neither {c['tn']}"
    )


def _task_row(seq, result: TaskResult, agent: CSRAgent | None) -> dict[str, Any]:
    """One task's JSON row: the scores, the curve, the ground truth and the decision."""
    task = seq[result.task]
    row: dict[str, Any] = {
        "task": result.task,
        "name": task.name,
        "truth": sorted(task.changes),
        "true_new_latent": task.truth.get("new_latent_dims"),
        "zero_shot": result.zero_shot,
        "adapted": result.adapted,
        "final_score": result.final,
        "start": int(result.start),
        "steps": int(result.steps),
        "curve": [(int(s), float(v)) for s, v in result.curve],
        "trained": result.trained,
        "latent_dim": agent.world.latent_dim if agent is not None else None,
    }
    if result.tau_recorded is not None:
        row.update(tau_recorded=result.tau_recorded, threshold_steps=result.threshold_steps)
    report = result.report
    if report is not None:
        row.update(
            decision=report.decision,
            new_actions=report.new_actions,
            added=report.added,
            pruned=len(report.pruned),
            error_before=report.error_before,
            error_after_theta=report.error_after_theta,
            tau=report.tau,
            tau_matched=report.tau_matched,
            coverage=report.coverage,
            threshold=report.threshold,
            log=report.log,
        )
    return row


#: DQN on state-observation CartPole: the RL Baselines3 Zoo's tuned settings for CartPole-v1
#: (hyperparams/dqn.yml, DLR-RM/rl-baselines3-zoo at ce95481; the Zoo trains 50k steps)
ZOO_DQN_CARTPOLE: dict[str, Any] = {
    "learning_rate": 2.3e-3,
    "batch_size": 64,
    "buffer_size": 100_000,
    "learning_starts": 1_000,
    "gamma": 0.99,
    "target_update_interval": 10,
    "train_freq": 256,
    "gradient_steps": 128,
    "exploration_fraction": 0.16,
    "exploration_final_eps": 0.04,
    "policy_kwargs": {"net_arch": [256, 256]},
}
#: DQN on pixels (CoinRun, Atari): SB3's CNN with a short warm-up for the quick budgets
PIXEL_DQN: dict[str, Any] = {
    "learning_starts": 500,
    "buffer_size": 50_000,
    "train_freq": 4,
    "exploration_fraction": 0.3,
    "target_update_interval": 500,
    "policy_kwargs": {"normalize_images": True},
}


def dqn_settings(profile: CSRProfile, pixels: bool) -> dict[str, Any]:
    """SB3 DQN's keyword arguments for a profile: the Zoo's CartPole-v1 settings on vector
    observations, `PIXEL_DQN` on pixels, then the profile's ``dqn`` overrides."""
    base = PIXEL_DQN if pixels else ZOO_DQN_CARTPOLE
    return {**copy.deepcopy(base), **profile.dqn}


def _run_dqn(profile: CSRProfile, seed: int, device: str) -> dict:
    """SB3's DQN through the sequence under the world models' protocol
    (`agents.csr.continual`): the source task until learned or its budget, each later task
    evaluated zero-shot and then trained for exactly its budget, the final score on fresh
    episodes. Each task is one ``learn`` call (SB3's exploration schedule is a fraction of the
    call's steps: a call per evaluation chunk would anneal epsilon within the first chunk),
    evaluated every ``eval_every`` steps by a callback; the network is kept across tasks while
    the spaces allow and rebuilt when they change (``new_network`` in the task's row)."""
    from stable_baselines3 import DQN  # deferred: SB3 (~1 s), only for the DQN cells
    from stable_baselines3.common.callbacks import BaseCallback

    schedule = profile.schedule

    class _Evaluate(BaseCallback):
        """Evaluates every ``eval_every`` steps; on the source task, stops once `converged`."""

        def __init__(self, eval_env, curve: list, offset: int, target: float | None):
            super().__init__()
            self.eval_env, self.curve, self.offset, self.target = eval_env, curve, offset, target
            self.start = 0

        def _on_training_start(self) -> None:
            self.start = self.model.num_timesteps

        def _on_step(self) -> bool:
            done = self.model.num_timesteps - self.start
            if done % schedule.eval_every == 0:
                score = _evaluate_sb3(
                    self.model, self.eval_env, schedule.curve_episodes, schedule.eval_seed
                )
                self.curve.append((self.offset + done, score))
                return not converged(self.curve, self.target, schedule.patience)
            return True

    seq, makers = _tasks(profile, seed)
    model = None
    tasks, total = [], 0
    for i in range(len(seq)):
        env, eval_env = makers[i](), makers[i]()
        pixels = len(env.observation_space.shape) == 3
        zero_shot = None
        if model is not None and model.observation_space == env.observation_space:
            zero_shot = _evaluate_sb3(model, eval_env, schedule.eval_episodes, schedule.eval_seed)
        same = model is not None and (
            model.observation_space == env.observation_space
            and model.action_space == env.action_space
        )
        if not same:
            policy = "CnnPolicy" if pixels else "MlpPolicy"
            model = DQN(
                policy, env, seed=seed, verbose=0, device=device, **dqn_settings(profile, pixels)
            )
        else:
            model.set_env(env)
        target = schedule.source_target if i == 0 else None
        curve: list[tuple[int, float]] = []
        start = total
        steps = schedule.budget(i)
        if steps:
            evaluate = _Evaluate(eval_env, curve, total, target)
            model.learn(steps, reset_num_timesteps=False, callback=evaluate)
            # stopped once learned (source task), else the budget (SB3 may run up to
            # train_freq - 1 steps over)
            learned = converged(curve, target, schedule.patience)
            total = curve[-1][0] if learned else total + steps
            if not curve or curve[-1][0] != total:  # the budget is no multiple of eval_every
                score = _evaluate_sb3(model, eval_env, schedule.curve_episodes, schedule.eval_seed)
                curve.append((total, score))
        final = _evaluate_sb3(model, eval_env, schedule.eval_episodes, schedule.eval_seed)
        result = TaskResult(
            task=i, start=start, steps=total - start, final=final, curve=curve, zero_shot=zero_shot
        )
        tasks.append(_task_row(seq, result, agent=None))
        tasks[-1]["new_network"] = not same and i > 0
    return {"method": "dqn", "seed": seed, "draw": seq[1].description, "tasks": tasks}


def _evaluate_sb3(model, env, episodes: int, seed: int) -> float:
    scores = []
    for k in range(episodes):
        obs, _ = env.reset(seed=seed + k)
        total, done = 0.0, False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, r, terminated, truncated, _ = env.step(int(action))
            total += float(r)
            done = terminated or truncated
        scores.append(total)
    return float(np.mean(scores))


# ----------------------------------------------------------------------------- reporting
def final_scores(rows: list[dict], task: int, key: str = "final_score") -> list[float]:
    """The final scores of ``rows`` (cells of one method) on ``task`` (or the score ``key``
    names, e.g. ``zero_shot``), missing and NaN ones left out."""
    out = [r["tasks"][task].get(key) for r in rows if len(r["tasks"]) > task]
    return [float(v) for v in out if v is not None and not np.isnan(v)]


def task_aggregate(
    rows: list[dict], n_tasks: int, statistic: str = "iqm", key: str = "final_score"
) -> tuple[float, float, float, int] | None:
    """One method's score aggregated over seeds x tasks: the IQM (or ``statistic="mean"``, the
    mean over tasks of CSR Table 2) of the seeds that have every task's score, with the
    stratified bootstrap interval of `benchmarks.stats.stratified_interval` (seeds resampled
    within each task). Returns ``(value, low, high, seeds)``; None without a complete seed."""
    matrix = []
    for r in rows:
        scores = [r["tasks"][i].get(key) if i < len(r["tasks"]) else None for i in range(n_tasks)]
        if all(v is not None and np.isfinite(v) for v in scores):
            matrix.append(scores)
    if not matrix:
        return None
    fn = {"iqm": lambda a: iqm(a.ravel()), "mean": lambda a: float(a.mean())}.get(statistic)
    if fn is None:
        raise ValueError(f"statistic must be 'iqm' or 'mean', got {statistic!r}")
    value, low, high = stratified_interval(np.asarray(matrix, dtype=float), fn)
    return value, low, high, len(matrix)


def _aggregate_lines(cells: list[dict], methods: tuple[str, ...], n_tasks: int) -> list[str]:
    """Per method, the final score over every task: CSR Table 2's mean over tasks and the IQM
    of Agarwal et al. (2021), each with its stratified bootstrap interval."""
    lines = [
        "",
        "final score over all tasks: the mean over tasks (CSR Table 2's aggregate) and the IQM "
        "of seeds x tasks, each [stratified bootstrap interval over seeds; below "
        f"{MIN_SEEDS_FOR_INTERVAL} seeds read it as a spread, not a 95% CI]",
    ]
    for m in methods:
        rows = [c for c in cells if c["method"] == m]
        parts = []
        for statistic in ("mean", "iqm"):
            agg = task_aggregate(rows, n_tasks, statistic)
            if agg is not None:
                value, low, high, n = agg
                parts.append(f"{statistic} {value:.1f} [{low:.1f}, {high:.1f}]")
        if parts:
            lines.append(f"{LABELS[m]:8s}" + "; ".join(parts) + f" ({n} seed{'s' * (n != 1)})")
    return lines


def _fmt_interval(values: list[float]) -> str:
    if not values:
        return "n/a"
    e = estimate(values)
    return f"{e.value:.1f} [{e.low:.0f}, {e.high:.0f}]"


def claim_verdict(cells: list[dict]) -> Verdict | None:
    """CSR's CartPole claim (`benchmarks.claims.CLAIMS["csr-cartpole"]`) judged on these
    cells: per later task, CSR's final scores against Dreamer's; None without both."""
    cells = resolve_shared_rows(cells)
    groups = {}
    n_tasks = max(len(c["tasks"]) for c in cells)
    for i in range(1, n_tasks):
        arms = {}
        for m in ("csr", "dreamer"):
            scores = final_scores([c for c in cells if c["method"] == m], i)
            if scores:
                arms[m] = estimate(scores)
        if len(arms) == 2:
            groups[f"task {i + 1}"] = arms
    return CLAIMS["csr-cartpole"].judge(groups) if groups else None


def _fmt_steps(x: list[int | None]) -> str:
    if not x or any(v is None for v in x):
        reached = [v for v in x if v is not None]
        return "✗" if not reached else f"{int(np.mean(reached)):,} ({len(reached)}/{len(x)})"
    return f"{int(np.mean(x)):,}"


def report(
    bench: str, profile_name: str, cells: list[dict], profile: CSRProfile | None = None
) -> str:
    p = profile or PROFILES_BY_BENCH[bench][profile_name]
    cells = resolve_shared_rows(cells)
    n_tasks = max(len(c["tasks"]) for c in cells)
    lines = [f"{bench} ({profile_name} profile: {p.description})", ""]
    width = 24
    header = f"{'method':8s}" + "".join(f"{'task ' + str(i + 1):>{width}s}" for i in range(n_tasks))
    lines += [
        "final score: mean [interval] over seeds: a 95% bootstrap interval from "
        f"{MIN_SEEDS_FOR_INTERVAL} seeds, the seeds' range below"
        + (
            " (the oracle: a fresh agent per task, its task 1 is CSR's)"
            if "oracle" in p.methods
            else ""
        ),
        header,
    ]
    lines += _score_lines(cells, p.methods, n_tasks, "final_score")
    lines += [
        "",
        "zero-shot score: the agent as it ended the previous task, evaluated on the new task "
        "before it learns anything there (n/a: the observation changed shape)",
        header,
    ]
    lines += _score_lines(cells, p.methods, n_tasks, "zero_shot")
    if bench == "csr-atari":
        lines += _aggregate_lines(cells, p.methods, n_tasks)
    lines += _draw_lines(cells, p.methods)
    lines += _reference_lines(cells, p.methods, n_tasks)
    targets = adaptation_targets(cells, p.fraction, p.optimum)
    if p.optimum is not None:
        reference = f"the optimum {p.optimum:g}"
    elif any(c["method"] == "oracle" for c in cells):
        reference = "the oracle's score on the task (same seed)"
    else:
        reference = "the best source-task score of any method with the same seed"
    lines += [
        "",
        f"minimum adaptation steps: env steps on the task until the score first reaches "
        f"{p.fraction:.0%} of {reference} (✗: never; (k/n): reached with k of n seeds)",
        f"{'method':8s}" + "".join(f"{'task ' + str(i + 1):>18s}" for i in range(n_tasks)),
    ]
    if all(t is None for t in targets.values()):
        lines.append("n/a: no method scored above zero on the source task")
    for m in p.methods:
        rows = [c for c in cells if c["method"] == m]
        if rows and any(t is not None for t in targets.values()):
            lines.append(
                f"{LABELS[m]:8s}"
                + "".join(
                    f"{_fmt_steps([adaptation_steps(r, i, targets) for r in rows]):>18s}"
                    for i in range(n_tasks)
                )
            )
    for m in ("csr", "adarl"):
        confusion = detection_confusion([c for c in cells if c["method"] == m])
        if confusion["decisions"]:
            lines += [
                "",
                f"{LABELS[m]}'s detection over seeds x tasks: " + _fmt_confusion(confusion),
            ]
    if bench == "csr-cartpole":
        lines += CLAIMS["csr-cartpole"].report_lines(claim_verdict(cells))
    lines += _structure_lines(cells, p.methods, n_tasks)
    lines += _model_lines(cells, p.methods, n_tasks)
    lines += [
        "",
        "detected change vs ground truth; latent variables added (true d'); the error after "
        "re-estimating theta over the decision threshold (below 1: a distribution shift)",
    ]
    for m in ("csr", "adarl", "dreamer"):
        rows = [c for c in cells if c["method"] == m]
        for r in rows:
            parts = []
            for t in r["tasks"][1:]:
                truth = "+".join(x.replace("_", " ") for x in t["truth"]) or "none"
                got = t.get("decision", "?").replace("_", " ")
                extra = f", +{t['new_actions']} actions" if t.get("new_actions") else ""
                d_true = t.get("true_new_latent")
                added = f"added {t.get('added', 0)}" + (f" (true {d_true})" if d_true else "")
                margin = ""
                if t.get("threshold") and t.get("error_after_theta") is not None:
                    margin = f", error {t['error_after_theta'] / t['threshold']:.2f}x threshold"
                parts.append(
                    f"task {t['task'] + 1}: {got}{extra} [truth: {truth}], {added}{margin}"
                )
            lines.append(f"{LABELS[m]:8s} seed {r['seed']}: " + "; ".join(parts))
    return "\n".join(lines)


def _score_lines(cells: list[dict], methods: tuple[str, ...], n_tasks: int, key: str) -> list[str]:
    lines = []
    for m in methods:
        rows = [c for c in cells if c["method"] == m]
        if rows:
            lines.append(
                f"{LABELS[m]:8s}"
                + "".join(
                    f"{_fmt_interval(final_scores(rows, i, key)):>24s}" for i in range(n_tasks)
                )
            )
    return lines


def _draw_lines(cells: list[dict], methods: tuple[str, ...]) -> list[str]:
    """Task 2 per seed: its draw of the physics, and each method's zero-shot -> final."""
    if not any("draw" in c for c in cells) or max(len(c["tasks"]) for c in cells) < 2:
        return []
    shown = [m for m in methods if m != "oracle" and any(c["method"] == m for c in cells)]
    lines = [
        "",
        "task 2 per seed: its draw, and zero-shot -> final score per method",
        f"{'seed':6s}{'draw':30s}" + "".join(f"{LABELS[m]:>16s}" for m in shown),
    ]
    by_key = {(c["method"], c["seed"]): c for c in cells}
    for seed in sorted({c["seed"] for c in cells}):
        draw = next((c.get("draw", "?") for c in cells if c["seed"] == seed), "?")
        line = f"{seed:<6d}{draw:30s}"
        for m in shown:
            cell = by_key.get((m, seed))
            t = cell["tasks"][1] if cell and len(cell["tasks"]) > 1 else None
            if t is None:
                line += f"{'-':>16s}"
                continue
            z = t.get("zero_shot")
            zs = "n/a" if z is None else f"{z:.0f}"
            line += f"{zs + ' -> ' + format(t['final_score'], '.0f'):>16s}"
        lines.append(line)
    return lines


def _structure_value(d: dict, path: tuple[str, ...]) -> float:
    """``d[path[0]][path[1]]...``, NaN where a key is missing (a record before the key)."""
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return float("nan")
        d = d[k]
    return float(d)


#: `structure_means`' figures -> where each score dict keeps them
_STRUCTURE_FIGURES = {
    "precision": ("edges", "all", "precision"),
    "recall": ("edges", "all", "recall"),
    "all_on_precision": ("chance", "all_on", "all", "precision"),
    "random_precision": ("chance", "random", "all", "precision"),
    "random_recall": ("chance", "random", "all", "recall"),
    "learned_latent": ("learned_latent",),
    "true_latent": ("true_latent",),
}


def structure_means(rows: list[dict], task: int) -> dict[str, float] | None:
    """The structure scores of ``rows`` (cells of one method) on ``task``, averaged over the
    seeds that scored one (`agents.csr.structure.score`): edge precision and recall, the two
    chance structures' (every edge on; edges at random with the learned density) and the
    latent variables learned and true; None where no seed scored a structure."""
    got = [r["tasks"][task]["structure"] for r in rows if "structure" in r["tasks"][task]]
    if not got:
        return None
    return {
        name: float(np.nanmean([_structure_value(g, path) for g in got]))
        for name, path in _STRUCTURE_FIGURES.items()
    }


def model_means(rows: list[dict], task: int) -> dict[str, float] | None:
    """The means over the seeds of ``rows`` (cells of one method) of `model_diagnostics` on
    ``task``, with ``sampled_over_hard`` (the prediction error with sampled masks over that
    with hard ones) for masked models; None where no seed recorded them."""
    got = [r["tasks"][task]["model"] for r in rows if "model" in r["tasks"][task]]
    if not got:
        return None

    def mean(values: list[float | None]) -> float:
        kept = [v for v in values if v is not None]
        return float(np.mean(kept)) if kept else float("nan")

    out = {"reward_explained": mean([g.get("reward_explained") for g in got])}
    if "mask_flip" in got[0]:
        for key in ("s_r_edges", "a_s_edges", "mask_flip"):
            out[key] = mean([g[key] for g in got])
        out["sampled_over_hard"] = mean([g["error_sampled"] / g["error_hard"] for g in got])
    return out


def _per_task_table(
    cells: list[dict],
    methods: tuple[str, ...],
    n_tasks: int,
    key: str,
    title: str,
    width: int,
    cell: Callable[[list[dict], int], str],
) -> list[str]:
    """A text table of `method_rows` under ``title``, a column of ``width`` per task; nothing
    when no cell recorded ``key``."""
    rows = method_rows(cells, methods, n_tasks, key, cell)
    if not rows:
        return []
    lines = [
        "",
        title,
        f"{'method':8s}" + "".join(f"{'task ' + str(i + 1):>{width}s}" for i in range(n_tasks)),
    ]
    lines += [f"{label:8s}" + "".join(f"{c:>{width}s}" for c in row) for label, *row in rows]
    return lines


def method_rows(
    cells: list[dict],
    methods: Sequence[str],
    n_tasks: int,
    key: str,
    cell: Callable[[list[dict], int], str],
) -> list[list[str]]:
    """A row per method whose cells recorded ``key`` in some task: its label, then
    ``cell(the method's cells, task)`` for each task (the run's text tables and the results
    page's tables both)."""
    out = []
    for m in methods:
        rows = [c for c in cells if c["method"] == m]
        if any(key in t for r in rows for t in r["tasks"]):
            out.append([LABELS[m], *(cell(rows, i) for i in range(n_tasks))])
    return out


def _model_lines(cells: list[dict], methods: tuple[str, ...], n_tasks: int) -> list[str]:
    """Per method and task, `model_means`: the reward's variance explained and, for the masked
    models, the reward and action edges on, the mask samples' flip rate and the prediction
    error with sampled over hard masks. Nothing when no cell recorded them."""
    title = (
        "world model at the end of each task, mean over seeds: reward variance explained; for "
        "masked models also s->r and a->s edges on, the chance a training mask sample differs "
        "from the hard mask, and the prediction error with sampled masks over hard"
    )
    return _per_task_table(
        cells,
        methods,
        n_tasks,
        "model",
        title,
        42,
        lambda rows, i: format_model_means(model_means(rows, i)),
    )


def format_model_means(means: dict[str, float] | None) -> str:
    """`model_means` in one short cell: ``R2 0.92; r 0.28 a 0.75 flip 0.09 x1.010``."""
    if means is None:
        return "n/a"
    text = f"R2 {means['reward_explained']:.2f}"
    if "mask_flip" in means:
        text += (
            f"; r {means['s_r_edges']:.2f} a {means['a_s_edges']:.2f} "
            f"flip {means['mask_flip']:.2f} x{means['sampled_over_hard']:.3f}"
        )
    return text


def _structure_lines(cells: list[dict], methods: tuple[str, ...], n_tasks: int) -> list[str]:
    """The learned graphs against the truth (`structure_means`, all five graphs together,
    unmatched variables counted), each beside what a structure that knows nothing scores on
    the same variables; and the latent variables learned (true). Nothing when no cell scored
    a structure."""

    def cell(rows: list[dict], task: int) -> str:
        s = structure_means(rows, task)
        if s is None:
            return "n/a"
        return (
            f"{s['precision']:.2f}/{s['recall']:.2f} ({s['all_on_precision']:.2f}; "
            f"{s['random_precision']:.2f}/{s['random_recall']:.2f}) "
            f"{s['learned_latent']:.0f}({s['true_latent']:.0f})"
        )

    title = (
        "learned structure vs the true graph (agents.csr.structure; pairs below |r| "
        f"{learned_structure.MIN_CORRELATION} unmatched): edge precision / recall, beside "
        "every edge on (precision) and edges at random with the learned density "
        "(precision / recall); latents learned (true); mean over seeds"
    )
    return _per_task_table(cells, methods, n_tasks, "structure", title, 36, cell)


#: the sequences' names for plots and tables
TITLES = {
    "csr-cartpole": "CSR's CartPole sequence",
    "csr-synthetic": "CSR's synthetic POMDP sequence",
    "csr-coinrun": "CSR's CoinRun sequence",
    "csr-atari": "CSR's Atari sequence",
}


def task_curve_mean(rows: list[dict], task: int) -> tuple[np.ndarray, np.ndarray]:
    """The mean over ``rows`` (cells of one method) of the evaluation curve on ``task``,
    against env steps on the task, starting at step 0 with the zero-shot score where the row
    has one: on the union of the seeds' evaluation steps, each seed's score is its latest
    evaluation at or before the step (a seed whose training stopped early, the source task
    learned, keeps its last score) and seeds not yet evaluated are left out."""
    curves = []
    for r in rows:
        if len(r["tasks"]) <= task or not r["tasks"][task].get("curve"):
            continue
        t = r["tasks"][task]
        points = list(t["curve"])
        if t.get("zero_shot") is not None:  # the score before anything learned, at step 0
            points = [(t["start"], t["zero_shot"]), *points]
        xs, ys = zip(*points, strict=True)
        curves.append((np.asarray(xs, dtype=float) - t["start"], np.asarray(ys, dtype=float)))
    if not curves:
        return np.empty(0), np.empty(0)
    grid = np.unique(np.concatenate([x for x, _ in curves]))
    values = np.full((len(curves), len(grid)), np.nan)
    for k, (x, y) in enumerate(curves):
        idx = np.searchsorted(x, grid, side="right") - 1
        values[k, idx >= 0] = y[idx[idx >= 0]]
    return grid, np.nanmean(values, axis=0)


#: line styles per method: CSR and AdaRL share their source task (and, after a shift, their
#: scores), so AdaRL is dashed over CSR's solid line
CURVE_STYLES: dict[str, dict[str, Any]] = {
    "csr": {"marker": "o", "ms": 4, "lw": 2.0},
    "adarl": {"marker": "x", "ls": "--"},
    "dreamer": {"marker": "s", "ms": 3},
    "dqn": {"marker": ".", "ls": "-."},
    "oracle": {"marker": ".", "ls": ":", "color": "0.35"},
}


def plot(
    bench: str,
    profile_name: str,
    cells: list[dict],
    folder: Path,
    profile: CSRProfile | None = None,
) -> Path:
    """Learning curves, one panel per task of the sequence, against env steps on the task
    (`task_curve_mean`: mean over seeds, the zero-shot score at step 0); the oracle learns
    each task from scratch."""
    plt = pyplot()

    p = profile or PROFILES_BY_BENCH[bench][profile_name]
    cells = resolve_shared_rows(cells)
    n_tasks = max(len(c["tasks"]) for c in cells)
    fig, axes = plt.subplots(
        1, n_tasks, figsize=(3.4 * n_tasks, 3.6), sharey=True, squeeze=False, layout="constrained"
    )
    seqs = [
        make_sequence(p.sequence, seed=seed, **p.seq_kwargs)
        for seed in sorted({c["seed"] for c in cells})
    ]
    for i, ax in enumerate(axes[0]):
        for m in p.methods:
            rows = [c for c in cells if c["method"] == m]
            xs, ys = task_curve_mean(rows, i)
            if len(xs):
                ax.plot(xs, ys, label=LABELS[m], **CURVE_STYLES.get(m, {"marker": "."}))
        names = {q[i].description for q in seqs if i < len(q)}
        name = names.pop() if len(names) == 1 else f"{seqs[0][i].name} (drawn per seed)"
        ax.set_title(textwrap.fill(f"task {i + 1}: {name}", 36), fontsize=8)
        ax.set_xlabel("env steps on the task", fontsize=8)
    axes[0, 0].set_ylabel("evaluation return")
    axes[0, -1].legend(title="method", fontsize=8)
    n_seeds = len({c["seed"] for c in cells})
    fig.suptitle(
        f"{TITLES.get(bench, bench)}: evaluation return, mean over {n_seeds} seed(s) "
        f"({profile_name} profile)",
        fontsize=10,
    )
    return save_figure(fig, folder.parent / f"{folder.name}_curves.png")


def plot_reconstructions(
    worlds: dict[str, torch.nn.Module], replay, path: Path, title: str, frames: int = 6
) -> Path:
    """The new task's observations beside each world model's reconstruction (posterior means
    decoded) of one replay window: image rows for pixels, one panel per element for vectors.
    Each row's label or line's legend entry gives its mean squared error over the window."""
    plt = pyplot()

    rng = np.random.default_rng(0)
    first = next(iter(worlds.values()))
    batch = replay.sample(1, 24, rng, next(first.parameters()).device)
    obs = batch["obs"][0].float().cpu()
    pixels = first.config.pixels
    truth = obs / 255.0 if pixels else obs
    recs = {name: w.reconstruct(batch)[0].cpu() for name, w in worlds.items()}
    errors = {name: float(((r - truth) ** 2).mean()) for name, r in recs.items()}
    if pixels:
        steps = np.linspace(0, len(truth) - 1, frames).astype(int)
        rows = {"observation": truth, **recs}
        fig, axes = plt.subplots(
            len(rows), frames, figsize=(1.6 * frames, 1.7 * len(rows)), layout="constrained"
        )
        for r, (name, images) in enumerate(rows.items()):
            for c, t in enumerate(steps):
                ax = axes[r, c]
                ax.imshow(images[t].numpy())
                ax.set_xticks([])
                ax.set_yticks([])
                if c == 0:
                    label = name if name == "observation" else f"{name}\nMSE {errors[name]:.4f}"
                    ax.set_ylabel(label, fontsize=8)
                if r == 0:
                    ax.set_title(f"t={t}", fontsize=8)
    else:
        dims = truth.shape[1]
        cols = min(dims, 4)
        n_rows = int(np.ceil(dims / cols))
        fig, axes = plt.subplots(
            n_rows, cols, figsize=(3.2 * cols, 2.2 * n_rows), squeeze=False, layout="constrained"
        )
        for k in range(n_rows * cols):
            ax = axes.flat[k]
            if k >= dims:
                ax.axis("off")
                continue
            ax.plot(truth[:, k], color="k", lw=2, label="observation")
            for name, r in recs.items():
                if k < r.shape[1]:
                    ax.plot(r[:, k], lw=1, label=f"{name} (MSE {errors[name]:.4f})")
            ax.set_title(f"observation element {k}", fontsize=9)
            ax.set_xlabel("step in the window", fontsize=8)
        axes.flat[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def cells(p: CSRProfile) -> list[Cell]:
    """seed x method: each cell plays the whole task sequence (the profile's agent settings
    checked first)."""
    p.validate()
    return [Cell({"seed": seed, "method": m}) for seed in p.seeds for m in p.methods]


def run_cell(cell: Cell, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
    seed, m = cell.key["seed"], cell.key["method"]
    p = ctx.profile
    if m == "dqn":
        record = _run_dqn(p, seed, ctx.device)
    elif m == "oracle":
        record = _run_oracle(p, seed, ctx.device)
    else:
        record = _run_world_model(p, m, seed, ctx.folder, ctx.device)
    references = task_references(p, seed)
    if references is not None:
        record["references"] = references
    return record


def _report(records: list[dict], ctx: RunContext) -> str:
    bench = bench_of_folder(ctx.folder.name)
    text = report(bench, ctx.profile_name, records, ctx.profile)
    tables = ctx.folder.parent / f"{ctx.folder.name}.txt"
    tables.write_text(text + "\n")
    return text + f"\ntables written to {tables}"


def _plot(records: list[dict], ctx: RunContext) -> list[Path]:
    bench = bench_of_folder(ctx.folder.name)
    return [plot(bench, ctx.profile_name, records, ctx.folder, ctx.profile)]


def benchmark(bench: str, game: str | None = None) -> Benchmark:
    """The runner's view of ``bench``; ``game`` picks csr-atari's game (its own results)."""
    if bench not in PROFILES_BY_BENCH:
        raise ValueError(f"bench must be one of {sorted(PROFILES_BY_BENCH)}, got {bench!r}")
    profiles = PROFILES_BY_BENCH[bench]
    name = bench
    if game is not None:
        if bench != "csr-atari":
            raise ValueError("--game applies to csr-atari only")
        profiles = {k: replace(p, sequence=f"atari/{game}") for k, p in profiles.items()}
        name = f"{bench}-{game.lower()}"
    return Benchmark(
        name=name, profiles=profiles, cells=cells, run_cell=run_cell, report=_report, plot=_plot
    )


def main(
    bench: str, profile: str = "quick", fresh: bool = False, game: str | None = None, **options: Any
) -> dict:
    """Run (or resume) ``profile`` of ``bench`` on the shared runner; ``options`` are
    `benchmarks.runner.run`'s (``seeds``, ``where``, ``workers``, ``backend``, ``address``)."""
    return run(benchmark(bench, game), profile, fresh=fresh, **options)
