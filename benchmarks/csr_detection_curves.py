"""CSR's detection as the paper draws it: the prediction error across each task switch.

    causal-envs bench csr-detection-curves                       # CartPole from 64x64 frames
    causal-envs bench csr-detection-curves --profile coinrun     # backgrounds held fixed
    causal-envs bench csr-detection-curves --profile pong        # the figure's Pong tasks
    causal-envs bench csr-detection-curves --profile paper --device cuda

Per seed, a CSR agent learns the sequence's source task (task 1) for ``source_steps`` env
steps and records tau* there (Algorithm 1; `agents.csr.CSRAgent.record_threshold`). Then a
fresh copy of that agent meets every task of the sequence - the source task again as the
control, and each later task as a jump from the source task - and runs CSR's detection step
on it (`agents.csr.adaptation.detect`, the same code Algorithm 1 runs): the policy collects
``adapt_collect`` steps, theta is re-estimated for ``detect_steps`` updates, and the error
after it is compared with the threshold. Every ``every`` updates of that re-estimation the
forward prediction error L_pred on the probe is measured (without changing what the
re-estimation computes), so each task gives a curve from "before theta's re-estimation"
(update 0) to "after" (the last update) - CSR appendix D, Fig. 14's view.

What to look for (CSR appendix D): where only the distribution shifts (CartPole's gravity
and cart mass, Pong's difficulty) the error stays low or comes back under the threshold once
theta is re-estimated; where new variables appear (CartPole's friction, drawn as the track's
colour; CoinRun's hard-mode enemies; Pong's new mode) it jumps, often by an order of
magnitude, and stays above. The record keeps every curve, tau*, the threshold each decision
used and the decision against the sequence's truth (a new latent variable is needed from the
first task that expands the state on); the plot draws the curves on a log scale with tau* and
the threshold.

Cells are seeds (`benchmarks.runner`): ``--seeds 5-9`` adds seeds; a finished seed is kept.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.csr_profiles import DETECTION_CURVES, CurvesProfile
from benchmarks.runner import Benchmark, Cell, RunContext, run
from causal_envs.tasks import make_sequence

if TYPE_CHECKING:
    from agents.csr import CSRAgent

__all__ = ["BENCHMARK", "PROFILES", "main", "needs_new_variable", "plot", "report", "task_curve"]

PROFILES = DETECTION_CURVES


def needs_new_variable(changes: list[frozenset[str]], task: int) -> bool:
    """Whether a jump from the source task to ``task`` needs a new latent variable: some task
    up to it expanded the state (``changes``: each task's change labels, in order)."""
    return any("state_expansion" in c for c in changes[1 : task + 1])


def _agent(p: CurvesProfile, seed: int, device: str, env) -> CSRAgent:
    import torch  # deferred: torch, for runs only (--help lists the profiles without it)

    from agents.csr import CSRAgent, CSRConfig, WorldModelParams  # deferred: as above

    torch.manual_seed(seed)
    config = CSRConfig(
        **p.agent, world=WorldModelParams(**p.world), seed=seed, device=device, adaptation="csr"
    )
    return CSRAgent(env.observation_space.shape, int(env.action_space.n), config)


def task_curve(agent: CSRAgent, env, task: int, every: int) -> dict[str, Any]:
    """CSR's detection step on ``env`` for a copy of ``agent``, with the prediction error on
    the probe every ``every`` updates of theta's re-estimation: the curve (updates, L_pred)
    from update 0 (before) to ``detect_steps`` (after), and what the detection decided."""
    from agents.csr.adaptation import detect  # deferred: torch, for runs only

    b = copy.deepcopy(agent)
    curve: list[tuple[int, float]] = []

    def observe(updates: int, probe) -> None:
        curve.append((updates, b.prediction_error(probe)))

    _, _, report = detect(b, env, task, observe=observe, every=every)
    curve.insert(0, (0, report.error_before))
    return {
        "curve": curve,
        "error_before": report.error_before,
        "error_after_theta": report.error_after_theta,
        "error_every_step": report.error_every_step,
        "tau_matched": report.tau_matched,
        "coverage": report.coverage,
        "threshold": report.threshold,
        "new_actions": report.new_actions,
        "decision": report.decision,
    }


def run_cell(cell: Cell, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
    """Train the seed's source agent, record tau*, then every task's detection curve."""
    p: CurvesProfile = ctx.profile
    seed = int(cell.key["seed"])
    seq = make_sequence(p.sequence, seed=seed, **p.seq_kwargs)
    source = seq.make(0, **p.env_kwargs)
    agent = _agent(p, seed, ctx.device, source)
    start = time.perf_counter()
    agent.learn(source, p.source_steps)
    train_s = time.perf_counter() - start
    with seq.make(0, **p.env_kwargs) as evaluation:
        score = float(np.mean(agent.evaluate(evaluation, p.eval_episodes)))
    tau = agent.record_threshold(env=source)
    agent.end_episode()  # the copies below start their own episodes: the source env is done
    source.close()
    print(f"seed {seed}: source task {train_s:.0f} s, score {score:.1f}, tau* {tau:.5f}")
    changes = [t.changes for t in seq.tasks]
    tasks = []
    for i, task in enumerate(seq.tasks):
        start = time.perf_counter()
        with seq.make(i, **p.env_kwargs) as env:
            row = task_curve(agent, env, i, p.every)
        needed = needs_new_variable(changes, i)
        row.update(
            task=i,
            name=task.name,
            description=task.description,
            truth=sorted(set().union(*changes[1 : i + 1])),  # the jump from the source task
            needs_new_variable=needed,
            right=(row["decision"] == "space_expansion") == needed,
            seconds=time.perf_counter() - start,
        )
        tasks.append(row)
        print(
            f"  task {i + 1} ({task.description}): L_pred {row['error_before']:.5f} -> "
            f"{row['curve'][-1][1]:.5f}; {row['decision'].replace('_', ' ')} "
            f"({'right' if row['right'] else 'wrong'})"
        )
    return {
        "seed": seed,
        "sequence": p.sequence,
        "source_steps": p.source_steps,
        "source_score": score,
        "source_train_s": train_s,
        "tau": tau,
        "threshold_scale": agent.config.threshold_scale,
        "detect_steps": agent.config.detect_steps,
        "tasks": tasks,
    }


def report(cells: list[dict], profile_name: str) -> str:
    """Per seed: tau*, and per task L_pred before and after theta's re-estimation against the
    threshold, the decision and the truth; then the decisions right over seeds x tasks."""
    p = PROFILES[profile_name]
    lines = [
        f"csr-detection-curves ({profile_name} profile: {p.description})",
        "",
        "L_pred on the detection probe: before theta's re-estimation -> after it, as a "
        "multiple of tau*; the decision CSR's rule made (threshold: threshold_scale x tau* "
        "matched to the probe's states) against the truth",
    ]
    right = total = 0
    for c in cells:
        lines.append(
            f"seed {c['seed']}: source score {c['source_score']:.1f} after "
            f"{c['source_steps']:,} steps; tau* {c['tau']:.5f}"
        )
        for t in c["tasks"]:
            after = t["curve"][-1][1]
            truth = " + ".join(x.replace("_", " ") for x in t["truth"]) or "none (control)"
            lines.append(
                f"  task {t['task'] + 1} {t['name']:22s} {t['error_before'] / c['tau']:7.2f}x -> "
                f"{after / c['tau']:7.2f}x tau*; threshold {t['threshold'] / c['tau']:5.2f}x; "
                f"{t['decision'].replace('_', ' ')} [truth: {truth}] "
                f"{'right' if t['right'] else 'WRONG'}"
            )
            right += t["right"]
            total += 1
    if total:
        lines += ["", f"decisions right: {right} of {total} (seeds x tasks, the control included)"]
    return "\n".join(lines)


def plot(cells: list[dict], profile_name: str, folder: Path) -> Path:
    """One panel per seed: each task's L_pred over theta's re-estimation, one after the other
    on a log scale, with tau* and each task's threshold."""
    from causal_envs.datasets.plots import pyplot, save_figure  # deferred: matplotlib

    plt = pyplot()
    fig, axes = plt.subplots(
        len(cells), 1, figsize=(10, 3.2 * len(cells)), squeeze=False, layout="constrained"
    )
    for ax, c in zip(axes[:, 0], cells, strict=True):
        offset = 0
        for t in c["tasks"]:
            x = [offset + u for u, _ in t["curve"]]
            y = [e for _, e in t["curve"]]
            color = "tab:red" if t["needs_new_variable"] else "tab:blue"
            ax.plot(x, y, marker="o", markersize=3, color=color)
            ax.hlines(t["threshold"], x[0], x[-1], colors="grey", linestyles=":")
            decision = "expand" if t["decision"] == "space_expansion" else "shift"
            ax.annotate(
                f"task {t['task'] + 1}\n{decision}{'' if t['right'] else ' (wrong)'}",
                (x[0], max(y)),
                fontsize=8,
                va="bottom",
            )
            offset = x[-1] + max(1, c["detect_steps"] // 10)
        ax.axhline(c["tau"], color="black", linestyle="--", linewidth=1, label="tau*")
        ax.plot([], [], color="grey", linestyle=":", label="threshold")
        ax.plot([], [], color="tab:red", label="a new variable is needed")
        ax.plot([], [], color="tab:blue", label="no new variable (shift or control)")
        ax.set_yscale("log")
        ax.set_xlabel("theta's re-estimation updates, task after task")
        ax.set_ylabel("L_pred")
        ax.set_title(f"seed {c['seed']}", fontsize=9)
        ax.legend(fontsize=7, loc="best")
    p = PROFILES[profile_name]
    fig.suptitle(f"CSR's detection step on {p.sequence} ({profile_name}): the prediction error")
    return save_figure(fig, folder.parent / f"csr_detection_curves_{profile_name}.png")


def cells(p: CurvesProfile) -> list[Cell]:
    """One cell per seed."""
    return [Cell({"seed": s}) for s in p.seeds]


def _report(records: list[dict], ctx: RunContext) -> str:
    return report(records, ctx.profile_name)


def _plot(records: list[dict], ctx: RunContext) -> list[Path]:
    return [plot(records, ctx.profile_name, ctx.folder)]


def _summary(records: list[dict], ctx: RunContext) -> dict[str, Any]:
    rows = [t for c in records for t in c["tasks"]]
    return {"right": sum(t["right"] for t in rows), "decisions": len(rows)}


BENCHMARK = Benchmark(
    name="csr-detection-curves",
    profiles=PROFILES,
    cells=cells,
    run_cell=run_cell,
    report=_report,
    plot=_plot,
    summary=_summary,
)


def main(profile: str = "cartpole", fresh: bool = False, **options: Any) -> dict:
    """Run (or resume) ``profile`` on the shared runner; ``options`` are
    `benchmarks.runner.run`'s (``seeds``, ``workers``, ``device``, ...)."""
    return run(BENCHMARK, profile, fresh=fresh, **options)
