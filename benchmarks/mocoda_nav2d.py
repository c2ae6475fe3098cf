"""MoCoDA's 2D Navigation experiment: offline agents on empirical and augmented datasets.

    causal-envs bench mocoda-nav2d                    # quick: the main job (BCQ; under 5 min)
    causal-envs bench mocoda-nav2d --profile full     # TD3-BC, BCQ, CQL on all five datasets
    causal-envs bench mocoda-nav2d --profile focus    # TD3-BC at 15k updates, EMP vs MOCODA(-U)
    causal-envs bench mocoda-nav2d --profile paper    # 5 seeds, 25k updates, the authors' models
    causal-envs bench mocoda-nav2d --profile authors-parents   # TD3-BC on the authors' parents

For each seed the MoCoDA pipeline (``augment``) makes the profile's datasets among EMP, DYN,
MOCODA, MOCODA-U and RAND (200k transitions each) from the seed's empirical data; the
profile's agents (TD3-BC, BCQ, CQL) are trained on each and evaluated on the target task
(start in the bottom-left box, reach the goal box near the top-right corner within 70 steps).
The metrics: the number of steps to the goal (70 on failure), averaged over evaluation
episodes, mean ± std over seeds, the success rate, and the share of episodes on the data's
L-shaped route (`l_route_fraction`); beside them the authors' own figure (`authors_metric`:
the mean of the last five evaluations during training, 71 = failure). The paper's claim,
with the criterion the report's verdict reads (`benchmarks.claims.CLAIMS["mocoda-nav2d"]`):
on MOCODA-U data the agents take the direct route (the authors' TD3-BC: 20.3 steps); on
EMP data they follow its L-shaped route. The report ends with one sentence of what the run showed.

The cells are seed x dataset x agent and run on the shared runner (`benchmarks.runner`):
each finished cell is its own results file, a re-run skips finished cells and reuses the
generated datasets (the shared input of a seed's cells), and ``workers`` runs cells in
parallel processes. With d3rlpy installed (the ``crosscheck`` extra) one more cell trains
d3rlpy's TD3+BC on the same MOCODA-U data beside ours: result and updates/s measured in the
same process.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from agents import AGENTS, evaluate
from augment import MoCoDAConfig
from augment.cache import augmented_datasets
from benchmarks.claims import CLAIMS, Verdict
from benchmarks.d3rlpy_peer import train_d3rlpy_td3bc
from benchmarks.mocoda_profiles import FAST_MODELS, NAV2D_DATASETS, PROFILES_BY_BENCH, Nav2DProfile
from benchmarks.runner import Benchmark, Cell, RunContext, run
from benchmarks.stats import estimate
from causal_envs.core.device import resolve_precision
from causal_envs.datasets.plots import draw_nav2d_arena, pyplot, save_figure

__all__ = ["BENCHMARK", "PROFILES", "main"]

ENV_ID = "CausalNav2D-v0"
PROFILES = PROFILES_BY_BENCH["mocoda-nav2d"]
#: the cell that runs d3rlpy's TD3+BC beside ours on MOCODA-U (its ``agent`` coordinate)
CROSSCHECK = "td3bc-vs-d3rlpy"


def make_agent(name: str, profile_name: str, seed: int, device: str) -> Any:
    """Agent ``name`` as ``profile_name`` trains it (its networks and settings), seeded."""
    cls = AGENTS[name]
    p = PROFILES[profile_name]
    kwargs: dict[str, Any] = {"seed": seed, "hidden": p.hidden, "device": device}
    kwargs.update(p.agent_settings.get(name, {}))
    return cls(cls.config_class(**kwargs))


def _datasets(seed: int, p: Nav2DProfile, device: str) -> dict[str, Any]:
    """The profile's datasets of one seed, from the shared augmented cache (`augment.cache`:
    what ``causal-envs augment`` made with the same settings is reused), the rest made."""
    cfg = MoCoDAConfig(total_size=p.total_size, dynamics=p.models, seed=seed)
    if p.parents == "authors":
        cfg = cfg.with_authors_parents()
    quick = p.models == FAST_MODELS and p.total_size == 200_000 and p.parents == "ours"
    profile = "quick" if quick else None
    return augmented_datasets(
        "nav2d/empirical", p.datasets, cfg, device=device, profile=profile, progress=True
    )


def _run_cell(
    seed: int,
    dataset_name: str,
    data: Any,
    agent_name: str,
    p: Nav2DProfile,
    profile_name: str,
    folder: Path,
    device: str,
) -> dict[str, Any]:
    torch.manual_seed(seed)
    agent = make_agent(agent_name, profile_name, seed, device)
    start = time.perf_counter()
    agent.fit(
        data.to_d4rl(),
        p.n_updates,
        eval_env=ENV_ID,
        eval_every=p.eval_every,
        eval_episodes=p.eval_episodes // 2 or 1,
        progress=True,
    )
    seconds = time.perf_counter() - start
    result = evaluate(agent.act, ENV_ID, p.eval_episodes, seed=1_000 + seed)
    l_route = l_route_fraction(result.trajectories)
    np.savez_compressed(
        folder / f"trajectories_seed{seed}_{dataset_name}_{agent_name}.npz",
        *result.trajectories,
    )
    return {
        "seed": seed,
        "dataset": dataset_name,
        "agent": agent_name,
        "mean_steps": result.mean_steps,
        "success_rate": result.success_rate,
        "mean_return": result.mean_return,
        # D4RL's normalised score: 0 a random policy, 1 the straight-line controller (the
        # reference scores stored with nav2d/empirical)
        "normalized_score": float(
            gym.make(ENV_ID).unwrapped.get_normalized_score(result.mean_return, seed=seed)
        ),
        "l_route_fraction": l_route,
        "train_seconds": seconds,
        "updates_per_s": agent.logs["time/updates_per_s"][-1][1],
        "curve_steps": agent.logs.get("eval/mean_steps", []),
        "curve_success": agent.logs.get("eval/success_rate", []),
    }


#: both action components above this move the point up and right at once: the diagonal
#: shortcut the empirical data (an L-shaped route, one component at a time) never shows
DIAGONAL_ACTION = 0.3


def data_stats(data: Any) -> dict[str, float]:
    """What a Nav2D dataset holds for the shortcut: the share of its rows whose state lies in
    the entangled quadrant, whose action has both components above `DIAGONAL_ACTION`, and
    both; and how far its next states are from the simulator's for the same state and action
    (mean L2 x100, the model-error table's unit: 0 for the empirical rows, the generating
    model's error for the rest)."""
    env = gym.make(ENV_ID).unwrapped
    s = np.asarray(data.observations, dtype=np.float64)
    a = np.asarray(data.actions, dtype=np.float64)
    inside = env.batch_model.entangled(s)
    diagonal = (a > DIAGONAL_ACTION).all(axis=1)
    truth = env.transition_fn(s, a)
    error = np.linalg.norm(np.asarray(data.next_observations, np.float64) - truth, axis=1)
    env.close()
    return {
        "entangled_fraction": float(inside.mean()),
        "diagonal_action_fraction": float(diagonal.mean()),
        "entangled_diagonal_fraction": float((inside & diagonal).mean()),
        "label_error_x100": float(100 * error.mean()),
    }


#: a trajectory takes the data's L-shaped route when it strays this far from the diagonal
#: (``|x - y|``); the straight path from the start box to the goal box stays within 0.15
L_ROUTE_OFF_DIAGONAL = 0.4


def l_route_fraction(trajectories: list[np.ndarray]) -> float:
    """The fraction of trajectories that take the empirical data's L-shaped route (along the
    bottom then up the right side, or the reverse) rather than the diagonal: those that reach
    ``|x - y| > 0.4`` somewhere.

    Examples:
        >>> diagonal = np.linspace([0.1, 0.1], [0.85, 0.85], 20)
        >>> ell = np.concatenate([np.linspace([0.1, 0.1], [0.85, 0.1], 15),
        ...                       np.linspace([0.85, 0.1], [0.85, 0.85], 15)])
        >>> l_route_fraction([diagonal, ell, ell])
        0.6666666666666666
    """
    if not trajectories:
        return float("nan")
    off = [float(np.abs(t[:, 0] - t[:, 1]).max()) for t in trajectories]
    return float(np.mean([o > L_ROUTE_OFF_DIAGONAL for o in off]))


#: the authors' figure averages this many of the last evaluations during training
AUTHORS_LAST_EVALUATIONS = 5


def authors_metric(curve_steps: list, curve_success: list) -> float | None:
    """The authors' figure for one run: the mean of the last five evaluations during training
    of the steps to the goal, a failure counted 71 (None for fewer than five evaluations).

    Our evaluations count a failure 70, so each evaluation's mean gains its failure rate.
    Theirs evaluate 10 episodes each, ours ``eval_episodes // 2``: the same expectation, less
    noise.

    Examples:
        >>> authors_metric([[i, 30.0] for i in range(6)], [[i, 0.5] for i in range(6)])
        30.5
    """
    n = AUTHORS_LAST_EVALUATIONS
    if len(curve_steps) < n or len(curve_success) != len(curve_steps):
        return None
    last = zip(curve_steps[-n:], curve_success[-n:], strict=True)
    return float(np.mean([steps + (1.0 - success) for (_, steps), (_, success) in last]))


def table(cells: list[dict], agents: tuple[str, ...]) -> dict[str, dict[str, dict[str, float]]]:
    """dataset -> agent -> mean, std and interval of the mean of the steps over seeds (a 95%
    bootstrap interval from 5 seeds, the seeds' range below: `benchmarks.stats.estimate`),
    and mean/std of the success rate."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for d in NAV2D_DATASETS:
        for a in agents:
            rows = [c for c in cells if c["dataset"] == d and c["agent"] == a]
            if rows:
                steps = [c["mean_steps"] for c in rows]
                succ = [c["success_rate"] for c in rows]
                theirs = [
                    authors_metric(c.get("curve_steps", []), c.get("curve_success", []))
                    for c in rows
                ]
                ell = [c.get("l_route_fraction", float("nan")) for c in rows]
                norm = [c.get("normalized_score", float("nan")) for c in rows]
                out.setdefault(d, {})[a] = {
                    "l_route_mean": float(np.mean(ell)),
                    "normalized_mean": float(np.mean(norm)),
                    "steps_mean": float(np.mean(steps)),
                    "steps_std": float(np.std(steps)),
                    "steps_interval": [(e := estimate(steps)).low, e.high],
                    "steps_interval_kind": e.label,
                    "steps_by_seed": steps,
                    "success_mean": float(np.mean(succ)),
                    **(_authors_columns(theirs) if None not in theirs else {}),
                    "success_std": float(np.std(succ)),
                    "seeds": len(rows),
                }
    return out


def _authors_columns(values: list[float]) -> dict[str, Any]:
    """The table's columns of the authors' metric over seeds."""
    e = estimate(values)
    return {
        "authors_steps_mean": float(np.mean(values)),
        "authors_steps_interval": [e.low, e.high],
        "authors_steps_by_seed": values,
    }


def claim_verdict(cells: list[dict]) -> Verdict | None:
    """The MoCoDA 2D Navigation claim (`benchmarks.claims.CLAIMS`) judged on these cells:
    per agent, MOCODA-U's steps against EMP's; None without both datasets."""
    return CLAIMS["mocoda-nav2d"].judge_cells(cells, "mean_steps")


def _data_lines(cells: list[dict], datasets: tuple[str, ...]) -> list[str]:
    """What each dataset holds (`data_stats`), the mean over the seeds' data."""
    lines = []
    for d in datasets:
        rows = [c["data"] for c in cells if c["dataset"] == d and "data" in c]
        if rows:
            mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
            lines.append(
                f"  {d:9s} in the entangled quadrant {100 * mean['entangled_fraction']:5.1f}%, "
                f"diagonal actions {100 * mean['diagonal_action_fraction']:5.1f}%, both "
                f"{100 * mean['entangled_diagonal_fraction']:5.1f}%; next states "
                f"{mean['label_error_x100']:.3f} from the simulator's (x100)"
            )
    if not lines:
        return []
    header = (
        f"what each dataset holds (rows; diagonal: both action components > {DIAGONAL_ACTION}), "
        "mean over seeds:"
    )
    return ["", header, *lines]


def report(cells: list[dict], profile_name: str, crosscheck: dict | None) -> str:
    p = PROFILES[profile_name]
    t = table(cells, p.agents)
    lines = [
        f"mocoda-nav2d ({profile_name} profile: {p.description})",
        "average steps to the goal (70 = failure), mean ± std over seeds (success rate, share "
        "of episodes on the data's L-shaped route)",
        "",
        f"{'dataset':10s}" + "".join(f"{a:>30s}" for a in p.agents),
    ]
    for d in p.datasets:
        row = f"{d:10s}"
        for a in p.agents:
            c = t.get(d, {}).get(a)
            if c is None:
                row += f"{'-':>30s}"
            else:
                pct, ell = 100 * c["success_mean"], 100 * c["l_route_mean"]
                row += (
                    f"{c['steps_mean']:>9.1f} ± {c['steps_std']:<4.1f} ({pct:3.0f}%, L {ell:3.0f}%)"
                )
        lines.append(row)
    lines += [
        "",
        "normalised score (D4RL's: 0 = a random policy's return, 1 = the straight-line "
        "controller's), mean over seeds:",
    ]
    for d in p.datasets:
        scores = [f"{a} {t[d][a]['normalized_mean']:.2f}" for a in p.agents if a in t.get(d, {})]
        if scores:
            lines.append(f"  {d:9s} " + ", ".join(scores))
    if any(c["seeds"] > 1 for row in t.values() for c in row.values()):
        lines += ["", "mean steps over seeds [interval] (the seeds' values):"]
        for d in p.datasets:
            for a in p.agents:
                c = t.get(d, {}).get(a)
                if c is not None:
                    lo, hi = c["steps_interval"]
                    each = ", ".join(f"{v:.1f}" for v in c["steps_by_seed"])
                    lines.append(
                        f"  {d:9s} {a:6s} [{lo:5.1f}, {hi:5.1f}] {c['steps_interval_kind']} "
                        f"({each})"
                    )
    theirs = [
        (d, a, c)
        for d in p.datasets
        for a in p.agents
        if "authors_steps_mean" in (c := t.get(d, {}).get(a, {}))
    ]
    if theirs:
        lines += [
            "",
            "the authors' metric (mean of the last five evaluations during training, 71 = "
            f"failure; ours of {p.eval_episodes // 2} episodes each, theirs of 10) [interval]:",
        ]
        for d, a, c in theirs:
            lo, hi = c["authors_steps_interval"]
            lines.append(f"  {d:9s} {a:6s} {c['authors_steps_mean']:5.1f} [{lo:5.1f}, {hi:5.1f}]")
    if p.parents == "authors":
        lines.append(
            "MOCODA and MOCODA-U from the authors' parent model (uniform weights, diagonal "
            "covariances, truncation 2.5, out-of-space parents kept)"
        )
    lines += _data_lines(cells, p.datasets)
    lines += CLAIMS["mocoda-nav2d"].report_lines(claim_verdict(cells))
    sentence = finding(t, p.agents)
    if sentence:
        lines += ["", sentence]
    if crosscheck:
        c = crosscheck
        lines += [
            "",
            f"cross-check on MOCODA-U (seed {c['seed']}, {c['n_updates']:,} updates each, "
            f"networks {'x'.join(map(str, c['hidden']))}, d3rlpy {c['d3rlpy_version']}):",
            f"  ours   TD3-BC  {c['ours_steps']:5.1f} steps ({100 * c['ours_success']:.0f}%), "
            f"{c['ours_updates_per_s']:6.0f} updates/s ({c.get('ours_precision', 'fp32')})",
            f"  d3rlpy TD3+BC  {c['d3rlpy_steps']:5.1f} steps ({100 * c['d3rlpy_success']:.0f}%), "
            f"{c['d3rlpy_updates_per_s']:6.0f} updates/s",
            f"  ours / d3rlpy updates/s: "
            f"{c['ours_updates_per_s'] / c['d3rlpy_updates_per_s']:.2f}x",
        ]
        if "ours_fp32_updates_per_s" in c:
            r = c["ours_fp32_updates_per_s"]
            lines.append(
                f"  ours in fp32: {r:.0f} updates/s, {r / c['d3rlpy_updates_per_s']:.2f}x d3rlpy"
            )
    return "\n".join(lines)


def finding(t: dict, agents: tuple[str, ...]) -> str | None:
    """One plain sentence of what the run showed: the first agent's route on EMP against
    MOCODA-U (None without both)."""
    agent = next((a for a in agents if a in t.get("emp", {}) and a in t.get("mocoda-u", {})), None)
    if agent is None:
        return None
    e, m = t["emp"][agent], t["mocoda-u"][agent]
    label = AGENTS[agent].label
    went = (
        "so the counterfactual data taught it the shortcut the empirical data never shows"
        if m["l_route_mean"] < 0.5 <= e["l_route_mean"] and m["steps_mean"] < e["steps_mean"]
        else "so this run does not show MoCoDA's effect"
    )
    return (
        f"{label} trained on the empirical data takes the data's L-shaped route in "
        f"{100 * e['l_route_mean']:.0f}% of episodes ({e['steps_mean']:.1f} steps); trained on "
        f"MOCODA-U it does in {100 * m['l_route_mean']:.0f}% ({m['steps_mean']:.1f} steps), "
        f"{went}."
    )


def plot(cells: list[dict], profile_name: str, folder: Path) -> list[Path]:
    """Learning curves (steps to goal vs updates) and evaluation trajectories (seed 0); none
    when the selection ran no agent cell (e.g. ``--cells agent=td3bc-vs-d3rlpy``)."""
    plt = pyplot()

    p = PROFILES[profile_name]
    # only what ran (a --cells selection may leave agents or datasets out)
    agents = tuple(a for a in p.agents if any(c["agent"] == a for c in cells))
    datasets = tuple(d for d in p.datasets if any(c["dataset"] == d for c in cells))
    if not agents:
        return []
    paths = []
    fig, axes = plt.subplots(
        1, len(agents), figsize=(5 * len(agents), 4), squeeze=False, layout="constrained"
    )
    for ax, agent in zip(axes[0], agents, strict=True):
        for d in datasets:
            curves = [c["curve_steps"] for c in cells if c["agent"] == agent and c["dataset"] == d]
            if curves and curves[0]:
                x = [u for u, _ in curves[0]]
                y = np.mean([[v for _, v in cur] for cur in curves], axis=0)
                ax.plot(x, y, marker="o", label=d.upper())
        ax.set_title(AGENTS[agent].label)
        ax.set_xlabel("gradient updates")
        ax.set_ylabel("steps to the goal (70 = failure)")
        ax.set_ylim(0, 72)
        ax.legend(title="training data", fontsize=8)
    n_seeds = len({c["seed"] for c in cells})
    fig.suptitle(
        f"MoCoDA 2D Navigation: steps to the goal while training, mean over {n_seeds} seed(s) "
        f"({profile_name} profile)"
    )
    paths.append(save_figure(fig, folder.parent / f"mocoda_nav2d_{profile_name}_curves.png"))

    seed = p.seeds[0]
    fig, axes = plt.subplots(
        len(agents),
        len(datasets),
        figsize=(3.2 * len(datasets), 3.2 * len(agents)),
        squeeze=False,
        layout="constrained",
    )
    for i, agent in enumerate(agents):
        for j, d in enumerate(datasets):
            ax = axes[i][j]
            draw_nav2d_arena(ax)
            f = folder / f"trajectories_seed{seed}_{d}_{agent}.npz"
            if f.exists():
                with np.load(f) as npz:
                    for k in list(npz.keys())[:20]:
                        path = npz[k]
                        ax.plot(path[:, 0], path[:, 1], lw=0.8, alpha=0.7)
            cell = next(
                (
                    c
                    for c in cells
                    if c["seed"] == seed and c["agent"] == agent and c["dataset"] == d
                ),
                None,
            )
            title = f"{AGENTS[agent].label} on {d.upper()}"
            if cell:
                title += (
                    f"\n{cell['mean_steps']:.1f} steps, {100 * cell['success_rate']:.0f}% success"
                )
                if "l_route_fraction" in cell:
                    title += f", {100 * cell['l_route_fraction']:.0f}% L-route"
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("x" if i == len(agents) - 1 else "")
            ax.set_ylabel("y" if j == 0 else "")
    fig.suptitle(
        f"MoCoDA 2D Navigation, seed {seed}: evaluation trajectories\nfrom the start box (blue) "
        "to the goal (green);\nthe entangled quadrant in orange"
    )
    paths.append(save_figure(fig, folder.parent / f"mocoda_nav2d_{profile_name}_trajectories.png"))
    return paths


def crosscheck_d3rlpy(data: Any, seed: int, profile_name: str, device: str) -> dict | None:
    """d3rlpy's TD3+BC beside ours on the same data and settings, in this process."""
    p = PROFILES[profile_name]
    n_updates, eval_episodes = p.crosscheck_updates, p.eval_episodes
    ours = make_agent("td3bc", profile_name, seed, device)
    start = time.perf_counter()
    ours.fit(data.to_d4rl(), n_updates, progress=True)
    ours_rate = n_updates / (time.perf_counter() - start)
    ours_eval = evaluate(ours.act, ENV_ID, eval_episodes, seed=2_000 + seed)
    ran = resolve_precision(ours.config.precision, ours.device)  # "auto" -> what ran
    extra: dict[str, Any] = {"ours_precision": ran}
    if ran != "fp32":  # the same agent in float32, timed in the same run
        fp32 = type(ours)(replace(ours.config, precision="fp32"))
        start = time.perf_counter()
        fp32.fit(data.to_d4rl(), n_updates, progress=True)
        extra["ours_fp32_updates_per_s"] = n_updates / (time.perf_counter() - start)
    peer = train_d3rlpy_td3bc(data, n_updates, seed, hidden=p.hidden, device=device)
    if peer is None:
        return None
    peer_eval = evaluate(peer["act"], ENV_ID, eval_episodes, seed=2_000 + seed)
    return {
        **extra,
        "seed": seed,
        "n_updates": n_updates,
        "ours_steps": ours_eval.mean_steps,
        "ours_success": ours_eval.success_rate,
        "ours_updates_per_s": ours_rate,
        "d3rlpy_steps": peer_eval.mean_steps,
        "d3rlpy_success": peer_eval.success_rate,
        "d3rlpy_updates_per_s": peer["updates_per_s"],
        "d3rlpy_version": peer["version"],
        "hidden": list(p.hidden),
    }


def cells(p: Nav2DProfile) -> list[Cell]:
    """seed x dataset x agent, then one d3rlpy cross-check cell per profile (first seed)."""
    out = [
        Cell({"seed": seed, "dataset": d, "agent": a}, needs=(f"datasets/seed{seed}",))
        for seed in p.seeds
        for d in p.datasets
        for a in p.agents
    ]
    if p.crosscheck_updates and "mocoda-u" in p.datasets:
        seed = p.seeds[0]
        out.append(
            Cell(
                {"seed": seed, "dataset": "mocoda-u", "agent": CROSSCHECK},
                needs=(f"datasets/seed{seed}",),
            )
        )
    return out


def make_input(name: str, ctx: RunContext) -> dict[str, Any]:
    """``datasets/seed{s}``: the profile's augmented datasets of seed ``s`` (made once into the
    shared augmented cache, loaded by every later call and by later runs)."""
    seed = int(name.removeprefix("datasets/seed"))
    return _datasets(seed, ctx.profile, ctx.device)


def run_cell(cell: Cell, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
    seed, d, a = cell.key["seed"], cell.key["dataset"], cell.key["agent"]
    data = inputs[f"datasets/seed{seed}"][d]
    if a == CROSSCHECK:
        return {
            "seed": seed,
            "dataset": d,
            "agent": a,
            **(crosscheck_d3rlpy(data, seed, ctx.profile_name, ctx.device) or {}),
        }
    record = _run_cell(seed, d, data, a, ctx.profile, ctx.profile_name, ctx.folder, ctx.device)
    record["data"] = data_stats(data)
    return record


def _split(records: list[dict]) -> tuple[list[dict], dict | None]:
    agents = [r for r in records if r["agent"] != CROSSCHECK]
    cross = next((r for r in records if r["agent"] == CROSSCHECK and "ours_steps" in r), None)
    return agents, cross


def _report(records: list[dict], ctx: RunContext) -> str:
    agents, cross = _split(records)
    return report(agents, ctx.profile_name, cross)


def _plot(records: list[dict], ctx: RunContext) -> list[Path]:
    return plot(_split(records)[0], ctx.profile_name, ctx.folder)


def _summary(records: list[dict], ctx: RunContext) -> dict[str, Any]:
    agents, cross = _split(records)
    return {"table": table(agents, ctx.profile.agents), "crosscheck": cross}


BENCHMARK = Benchmark(
    name="mocoda-nav2d",
    profiles=PROFILES,
    cells=cells,
    make_input=make_input,
    run_cell=run_cell,
    report=_report,
    plot=_plot,
    summary=_summary,
)


def main(
    profile: str = "quick", fresh: bool = False, crosscheck: bool = True, **options: Any
) -> dict:
    """Run (or resume) ``profile``; ``crosscheck=False`` leaves out the d3rlpy cell;
    ``options`` are `benchmarks.runner.run`'s (``seeds``, ``where``, ``workers``, ...)."""
    where = dict(options.pop("where", None) or {})
    if not crosscheck:
        p = PROFILES.get(profile)
        agents = set(p.agents) if p is not None else set()
        where["agent"] = (where.get("agent") or agents) - {CROSSCHECK}
    return run(BENCHMARK, profile, fresh=fresh, where=where, **options)
