"""MoCoDA's HookSweep2 experiment: offline agents sweep BOTH boxes from one-box expert data.

    causal-envs bench mocoda-hooksweep2                   # quick profile (2-core CPU)
    causal-envs bench mocoda-hooksweep2 --profile paper   # 1M expert transitions, paper budgets

For each seed: the scripted expert collects the source-task data (one box swept, the other left
in the centre); the MoCoDA pipeline (``augment``) fits the parent model on the overlapping parent
sets (gripper, box1, action) and (gripper, box2, action) - the conditional sampler in real use -
and the locally factored dynamics model with the paper's heuristic mask, then makes

- EMP: the expert transitions, repeated;
- MOCODA: the data plus the model applied to parent-model samples;
- MOCODA-P: the data plus the model applied to parent samples kept only when the boxes are less
  than 0.3 apart and re-weighted to be uniform in the boxes' xy positions (KDE, bandwidth 0.05);

every transition relabelled with a TARGET-task goal (both boxes to one side). TD3-BC and BCQ
(3-layer networks, MoCoDA appendix B.5) train on each and are evaluated on ``HookSweep2-v1``:
the metric is the success rate at the final (75th) step, the mean over seeds with its interval
(`benchmarks.stats.estimate`: the seeds' range below five seeds). Two policies that need no data
set the floor on the same evaluation episodes (`BASELINES`: the arm held still, uniformly random
actions). The paper's claim: agents trained on MoCoDA data sweep both boxes; agents trained on
EMP data do not.

Finished (seed, dataset, agent) cells are written at once and skipped on a re-run; the expert
data is stored and its augmentations come from MoCoDA's shared cache (`augment.cache`, HookSweep2's
recipe in `augment.recipes`), so an interrupted run resumes and a profile with the same data
settings trains no model again.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import causal_envs  # noqa: F401  (registers the envs)
from agents import AGENTS
from agents.common import TransitionSampler
from augment import DynamicsConfig, MoCoDA, MoCoDAConfig
from augment.cache import augmented_datasets
from augment.recipes import HOOKSWEEP2
from benchmarks.claims import CLAIMS, Verdict
from benchmarks.mocoda_profiles import (
    HOOKSWEEP2_DATASETS,
    PROFILES_BY_BENCH,
    HookSweep2Profile,
    hooksweep2_models,
)
from benchmarks.results import output_dir
from benchmarks.runner import Benchmark, Cell, RunContext, run
from benchmarks.stats import estimate, interval_label
from causal_envs.datasets import (
    DatasetError,
    TransitionDataset,
    load_dataset,
    load_stored,
    save_flat,
)
from causal_envs.datasets.hooksweep import generate_hooksweep2_expert
from causal_envs.datasets.plots import pyplot, save_figure
from causal_envs.datasets.remote import MIRROR_ENV
from causal_envs.envs.hooksweep.model import BOX_XY, TABLE_CENTER

__all__ = ["BASELINES", "BENCHMARK", "PROFILES", "baseline_policy", "evaluate_sweep", "main"]

ENV_ID = "HookSweep2-v1"
PROFILES = PROFILES_BY_BENCH["mocoda-hooksweep2"]
#: policies evaluated without data, the floor of the success rates: ``zero`` holds the arm
#: still (every action 0: the boxes stay where they start), ``random`` draws uniform actions
BASELINES = ("zero", "random")
#: the ``dataset`` coordinate of a baseline's cell: it trains on nothing
NO_DATA = "none"


def evaluation_seed(seed: int) -> int:
    """The reset seed of the evaluation episodes of ``seed``'s cells: the agents and the
    baselines of a seed play the same episodes."""
    return 1_000 + seed


def pipeline_config(p: HookSweep2Profile, seed: int, n_rows: int) -> MoCoDAConfig:
    """The MoCoDA settings of profile ``p`` for ``n_rows`` expert transitions."""
    return pipeline_settings(hooksweep2_models(p), p.total_size, n_rows, seed)


def pipeline_settings(
    models: DynamicsConfig, total_size: int, n_rows: int, seed: int
) -> MoCoDAConfig:
    """MoCoDA's settings on ``n_rows`` HookSweep2 expert transitions: ``models``, datasets of
    ``total_size``, a tenth of the rows (at most 5,000) held out from the parent model, and
    the HookSweep2 recipe's density floor and standardised inputs (`augment.recipes`)."""
    config = MoCoDAConfig(
        total_size=total_size,
        dynamics=replace(models, seed=seed),
        val_size=min(5_000, n_rows // 10),
        seed=seed,
    )
    return HOOKSWEEP2.configured(config)


def fit_models(
    expert: TransitionDataset,
    p: HookSweep2Profile,
    seed: int,
    device: str = "auto",
    progress: bool = True,
) -> tuple[MoCoDA, dict[str, float]]:
    """MoCoDA's parent model and locally factored dynamics on the expert data, with the
    profile's model settings (no cache: this is the timing experiment); returns the fitted
    pipeline and what the fit cost and reached: ``fit_seconds`` (parent model and dynamics),
    ``local_model_seconds`` and the local model's held-out NLL at the kept epoch,
    ``local_model_val_nll``."""
    mocoda = MoCoDA(
        HOOKSWEEP2.target(ENV_ID),
        pipeline_config(p, seed, len(expert)),
        uniform_features=HOOKSWEEP2.uniform_features,
        prefilter=HOOKSWEEP2.prefilter,
        device=device,
    )
    start = time.perf_counter()
    mocoda.fit(HOOKSWEEP2.prepared(expert), progress=progress)
    fit_seconds = time.perf_counter() - start
    log = mocoda.models["local"].log
    val_nll = log.kept_val_nll
    print(
        f"seed {seed}: fitted the parent model and dynamics in {fit_seconds:.0f} s (the local "
        f"model's held-out NLL {val_nll:.3f}; {p.model_schedule} schedule, "
        f"{p.model_precision})"
    )
    return mocoda, {
        "fit_seconds": fit_seconds,
        "local_model_seconds": log.seconds,
        "local_model_val_nll": val_nll,
    }


#: expert-set size -> the registered dataset of that size (downloadable from a mirror)
REGISTERED_EXPERT = {1_000_000: "hooksweep2/expert", 100_000: "hooksweep2/expert-100k"}


def expert_data(seed: int, n: int) -> tuple[str, TransitionDataset]:
    """The source-task expert data of ``n`` transitions for ``seed`` and its dataset name: the
    registered dataset when one has that size (`REGISTERED_EXPERT`: loaded from the cache,
    downloaded from ``$CAUSAL_ENVS_MIRROR`` when that is set, or generated), else generated
    once and kept in the benchmark's data folder."""
    if n in REGISTERED_EXPERT:
        name = REGISTERED_EXPERT[n]
        return name, load_dataset(name, seed, download=bool(os.environ.get(MIRROR_ENV)))
    folder = output_dir() / "mocoda_hooksweep2_data" / f"expert-n{n}"
    try:
        return "hooksweep2/expert", load_stored(f"seed{seed}", folder, regenerate_hint="re-run")
    except DatasetError:
        pass
    start = time.perf_counter()
    data = generate_hooksweep2_expert(n, seed)
    rate = data.metadata["expert_success_rate"]
    print(
        f"seed {seed}: {len(data):,} expert transitions in {time.perf_counter() - start:.0f} s "
        f"(expert success on the source task {100 * rate:.1f}%)"
    )
    save_flat(data, f"seed{seed}", folder, overwrite=True)
    return "hooksweep2/expert", data


def seed_datasets(
    seed: int, p: HookSweep2Profile, profile_name: str = "", device: str = "auto"
) -> dict[str, TransitionDataset]:
    """The profile's datasets (EMP, MOCODA, MOCODA-P) for ``seed``, relabelled with target
    goals: from MoCoDA's shared cache (`augment.cache`) where the same expert data was
    augmented with the same settings before, else made and stored there."""
    name, expert = expert_data(seed, p.n_expert)
    made = augmented_datasets(
        name,
        [HOOKSWEEP2_DATASETS[d] for d in p.datasets],
        pipeline_config(p, seed, len(expert)),
        device=device,
        profile=f"mocoda-hooksweep2 {profile_name}".strip(),
        data=None if p.n_expert in REGISTERED_EXPERT else expert,  # else keyed by digest
    )
    rate = expert.metadata["expert_success_rate"]
    out = {}
    for d in p.datasets:
        data = made[HOOKSWEEP2_DATASETS[d]]
        data.metadata["expert_success_rate"] = rate
        out[d] = data
    return out


def data_stats(data: TransitionDataset) -> dict[str, float]:
    """What a dataset holds for the target task: the share of transitions that succeed, and
    of states with both boxes swept to the same side (the combination the expert never shows)."""
    x = data.observations[:, BOX_XY][:, [0, 2]] - TABLE_CENTER[0]  # the boxes' x off centre
    b1, b2 = x[:, 0], x[:, 1]
    both = (np.abs(b1) > 0.2) & (np.abs(b2) > 0.2) & (np.sign(b1) == np.sign(b2))
    return {
        "success_fraction": float((data.rewards > -0.3).mean()),
        "both_swept_fraction": float(both.mean()),
        "mean_reward": float(data.rewards.mean()),
    }


def evaluate_sweep(act, n_episodes: int, seed: int) -> dict[str, float]:
    """Success rate at the final step (and mean final reward) on the target task."""
    envs = gym.make_vec(ENV_ID, num_envs=n_episodes, vectorization_mode="sync", flat_obs=True)
    obs, _ = envs.reset(seed=seed)
    steps = gym.spec(ENV_ID).max_episode_steps
    for _ in range(steps):
        obs, reward, _, _, info = envs.step(np.asarray(act(obs), dtype=np.float32))
    envs.close()
    success = np.asarray(info["is_success"], dtype=bool)
    return {"success_rate": float(success.mean()), "final_reward": float(np.mean(reward))}


def baseline_policy(name: str, seed: int):
    """``act(obs) -> actions`` of the baseline ``name`` (`BASELINES`); ``random`` is seeded."""
    if name == "zero":
        return lambda obs: np.zeros((len(obs), 4), dtype=np.float32)
    if name == "random":
        rng = np.random.default_rng(seed)
        return lambda obs: rng.uniform(-1.0, 1.0, size=(len(obs), 4)).astype(np.float32)
    raise ValueError(f"unknown baseline {name!r}; choose from {BASELINES}")


def _run_baseline(seed: int, name: str, p: HookSweep2Profile) -> dict:
    """A baseline policy on the evaluation episodes the agents of ``seed`` play."""
    start = time.perf_counter()
    ev = evaluate_sweep(baseline_policy(name, seed), p.eval_episodes, evaluation_seed(seed))
    return {
        "seed": seed,
        "dataset": NO_DATA,
        "agent": name,
        "success_rate": ev["success_rate"],
        "final_reward": ev["final_reward"],
        "eval_seconds": time.perf_counter() - start,
    }


def _run_cell(
    seed: int,
    name: str,
    data: TransitionDataset,
    agent_name: str,
    p: HookSweep2Profile,
    device: str,
) -> dict:
    torch.manual_seed(seed)
    cls = AGENTS[agent_name]
    kwargs: dict[str, Any] = {"seed": seed, "hidden": p.hidden, "device": device}
    kwargs.update(p.agent_settings.get(agent_name, {}))
    agent = cls(cls.config_class(**kwargs))
    curve = []
    buffer = TransitionSampler(data.to_d4rl(), agent.device)
    start = time.perf_counter()
    done = 0
    while done < p.n_updates:
        chunk = min(p.eval_every, p.n_updates - done)
        agent.fit(buffer, chunk, progress=True)
        done += chunk
        ev = evaluate_sweep(agent.act, p.eval_episodes, evaluation_seed(seed))
        curve.append((done, ev["success_rate"]))
        print(f"  {done:>7,} updates: success {100 * ev['success_rate']:.0f}%")
    seconds = time.perf_counter() - start
    return {
        "seed": seed,
        "dataset": name,
        "agent": agent_name,
        "success_rate": curve[-1][1],
        "final_reward": ev["final_reward"],
        "train_seconds": seconds,
        "curve_success": curve,
    }


def table(cells: list[dict], agents: tuple[str, ...]) -> dict[str, dict[str, dict[str, Any]]]:
    """dataset -> agent -> the success rate over seeds: mean, interval (`estimate`: the
    seeds' range below five seeds), its label and the seeds; the baselines under `NO_DATA`."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for d, names in [*((d, agents) for d in HOOKSWEEP2_DATASETS), (NO_DATA, BASELINES)]:
        for a in names:
            succ = [c["success_rate"] for c in cells if c["dataset"] == d and c["agent"] == a]
            if succ:
                e = estimate(succ)
                out.setdefault(d, {})[a] = {
                    "success_mean": e.value,
                    "success_low": e.low,
                    "success_high": e.high,
                    "interval": e.label,
                    "seeds": len(succ),
                }
    return out


def _fmt_success(c: dict[str, Any] | None) -> str:
    if c is None:
        return "-"
    mean, low, high = (100 * c[k] for k in ("success_mean", "success_low", "success_high"))
    return f"{mean:.1f}% [{low:.1f}, {high:.1f}]" if c["seeds"] > 1 else f"{mean:.1f}%"


def claim_verdict(cells: list[dict]) -> Verdict | None:
    """The HookSweep2 claim (`benchmarks.claims.CLAIMS`) judged on these cells: per agent,
    MOCODA-P's final success rate against EMP's over seeds; None without both datasets."""
    return CLAIMS["mocoda-hooksweep2"].judge_cells(cells, "success_rate")


def report(
    cells: list[dict],
    profile_name: str,
    expert_rates: list[float],
    data: dict[str, dict[str, dict[str, float]]] | None = None,
) -> str:
    p = PROFILES[profile_name]
    t = table(cells, p.agents)
    n_seeds = len({c["seed"] for c in cells})
    label = interval_label(n_seeds) if n_seeds > 1 else "one seed"
    lines = [
        f"mocoda-hooksweep2 ({profile_name} profile: {p.description})",
        f"expert success on the source task (sweep one box): "
        f"{100 * np.mean(expert_rates):.1f}% over the seeds' data"
        if expert_rates
        else "",
        "target task (sweep both): success rate at the final step over "
        f"{p.eval_episodes} evaluation episodes, mean [{label}]",
        "",
        f"{'dataset':10s}" + "".join(f"{a:>24s}" for a in p.agents),
    ]
    for d in HOOKSWEEP2_DATASETS:
        row = f"{d.upper():10s}"
        for a in p.agents:
            row += f"{_fmt_success(t.get(d, {}).get(a)):>24s}"
        lines.append(row)
    if NO_DATA in t:
        lines.append(
            "no data (the same episodes): "
            + "; ".join(f"{a} policy {_fmt_success(c)}" for a, c in t[NO_DATA].items())
        )
    if data:
        lines += ["", "what each dataset holds for the target task (mean over seeds):"]
        for d in HOOKSWEEP2_DATASETS:
            rows = [v[d] for v in data.values() if d in v]
            if rows:
                succ = 100 * np.mean([r["success_fraction"] for r in rows])
                both = 100 * np.mean([r["both_swept_fraction"] for r in rows])
                lines.append(
                    f"  {d.upper():9s} successful transitions {succ:5.2f}%, "
                    f"states with both boxes on one side {both:5.2f}%"
                )
    lines += CLAIMS["mocoda-hooksweep2"].report_lines(claim_verdict(cells))
    return "\n".join(line for line in lines if line is not None)


def plot(cells: list[dict], profile_name: str, folder: Path) -> Path:
    """Success-rate learning curves per agent, one line per dataset (mean over seeds)."""
    plt = pyplot()

    p = PROFILES[profile_name]
    fig, axes = plt.subplots(
        1, len(p.agents), figsize=(5 * len(p.agents), 4), squeeze=False, layout="constrained"
    )
    for ax, agent in zip(axes[0], p.agents, strict=True):
        for d in HOOKSWEEP2_DATASETS:
            curves = [
                c["curve_success"] for c in cells if c["agent"] == agent and c["dataset"] == d
            ]
            if curves:
                x = [u for u, _ in curves[0]]
                y = 100 * np.mean([[v for _, v in cur] for cur in curves], axis=0)
                ax.plot(x, y, marker="o", label=d.upper())
        ax.set_title(AGENTS[agent].label)
        ax.set_xlabel("gradient updates")
        ax.set_ylabel("success at the final step (%)")
        ax.set_ylim(-2, 102)
        ax.legend(title="training data", fontsize=8)
    n_seeds = len({c["seed"] for c in cells})
    fig.suptitle(
        f"MoCoDA HookSweep2, target task (both boxes to one side): success while training, "
        f"mean over {n_seeds} seed(s) ({profile_name} profile)"
    )
    return save_figure(fig, folder.parent / f"mocoda_hooksweep2_{profile_name}_curves.png")


def cells(p: HookSweep2Profile) -> list[Cell]:
    """seed x dataset x agent, each needing its seed's datasets; then per seed the
    `BASELINES`, which need nothing."""
    return [
        Cell({"seed": seed, "dataset": d, "agent": a}, needs=(f"datasets/seed{seed}",))
        for seed in p.seeds
        for d in p.datasets
        for a in p.agents
    ] + [
        Cell({"seed": seed, "dataset": NO_DATA, "agent": b}) for seed in p.seeds for b in BASELINES
    ]


def make_input(name: str, ctx: RunContext) -> dict[str, TransitionDataset]:
    """``datasets/seed{s}``: the augmentations of seed ``s``'s expert data (`seed_datasets`;
    profiles with the same data settings share them through MoCoDA's cache)."""
    seed = int(name.removeprefix("datasets/seed"))
    return seed_datasets(seed, ctx.profile, ctx.profile_name, ctx.device)


def run_cell(cell: Cell, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
    seed, d, a = cell.key["seed"], cell.key["dataset"], cell.key["agent"]
    if d == NO_DATA:
        return _run_baseline(seed, a, ctx.profile)
    datasets = inputs[f"datasets/seed{seed}"]
    record = _run_cell(seed, d, datasets[d], a, ctx.profile, ctx.device)
    record["data"] = data_stats(datasets[d])
    record["expert_success_rate"] = datasets[d].metadata.get("expert_success_rate")
    record["pipeline"] = datasets[d].metadata.get("fit")
    return record


def _by_seed(records: list[dict]) -> tuple[list[float], dict[str, dict[str, dict]]]:
    records = [r for r in records if r["dataset"] != NO_DATA]
    rates = {r["seed"]: r["expert_success_rate"] for r in records}
    data: dict[str, dict[str, dict]] = {}
    for r in records:
        data.setdefault(str(r["seed"]), {})[r["dataset"]] = r["data"]
    return [v for v in rates.values() if v is not None], data


def _report(records: list[dict], ctx: RunContext) -> str:
    rates, data = _by_seed(records)
    return report(records, ctx.profile_name, rates, data)


def _plot(records: list[dict], ctx: RunContext) -> list[Path]:
    return [plot(records, ctx.profile_name, ctx.folder)]


def _summary(records: list[dict], ctx: RunContext) -> dict[str, Any]:
    rates, data = _by_seed(records)
    return {"table": table(records, ctx.profile.agents), "expert": rates, "data": data}


BENCHMARK = Benchmark(
    name="mocoda-hooksweep2",
    profiles=PROFILES,
    cells=cells,
    make_input=make_input,
    run_cell=run_cell,
    report=_report,
    plot=_plot,
    summary=_summary,
)


def main(profile: str = "quick", fresh: bool = False, **options: Any) -> dict:
    """Run (or resume) ``profile`` on the shared runner (``fresh`` runs every cell again; the
    data, deterministic in its seed and settings, comes from MoCoDA's cache);
    ``options`` are `benchmarks.runner.run`'s (``seeds``, ``where``, ``workers``, ...)."""
    return run(BENCHMARK, profile, fresh=fresh, **options)
