"""Which of CSR's choices matter? One change at a time to CSR's world model, on the synthetic
POMDP's source task, scored on seeds nobody tuned on.

    causal-envs bench csr-ablation                    # quick: 5 variants x 5 seeds
    causal-envs bench csr-ablation --workers 2        # about 30 minutes on 2 cores
    causal-envs bench csr-ablation --cells "variant=kl-0.02"

Each cell trains one agent on the source task of `csr-synthetic`'s sequence for the seed,
with the budget and schedule of that benchmark's profile (the same env, agent settings,
evaluations and stopping rule, so the ``csr`` variant's score is the CSR cell's task-1 score
of a `csr-synthetic` run at the same commit). A variant changes one setting of the world
model (`VARIANTS`):

- ``csr``: CSR as `csr-synthetic` runs it, the named peer every other variant is compared with;
- ``dreamer``: the same world model without masks and theta (the benchmark's Dreamer);
- ``reward-env-units``: the reward model learns the reward in the env's units instead of
  standardised (``standardise_reward=False``; the model before 2026-12-07);
- ``kl-0.02``: the KL term weighted 0.02, the regularisation weight of the CSR paper's Table 5
  (CartPole column), instead of Dreamer's 1.0;
- ``sparsity-0.02``: the mask sparsity weight of Table 5 (0.02) instead of the quick
  profiles' 0.01.

Per cell: the final evaluation score, the same score normalised between the task's random
policy (0) and its best reference policy (1; `SyntheticPOMDPEnv.reference_returns`), and the
world model's state at the end of the task (`benchmarks.csr.model_diagnostics`: the reward
variance it explains, the reward and action edges on, the mask samples' flip rate and the
prediction error with sampled over hard masks). The report gives each variant's means over
seeds with 95% bootstrap intervals, and its paired difference from ``csr`` per seed (the same
seed is the same random system for every variant).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from benchmarks.csr_profiles import PROFILES_BY_BENCH as CSR_PROFILES
from benchmarks.runner import Benchmark, Cell, RunContext, check_profile, run
from benchmarks.stats import estimate
from causal_envs.tasks import make_sequence

if TYPE_CHECKING:
    from agents.csr import CSRAgent, CSRConfig, TaskResult

__all__ = ["BENCHMARK", "PROFILES", "VARIANTS", "Profile", "main", "variant_config"]

#: variant -> (what it changes, the csr-synthetic method it starts from, WorldModelParams
#: fields it sets)
VARIANTS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "csr": ("CSR as csr-synthetic runs it", "csr", {}),
    "dreamer": ("no masks, no theta (the benchmark's Dreamer)", "dreamer", {}),
    "reward-env-units": (
        "the reward model learns the env's units, not the standardised reward",
        "csr",
        {"standardise_reward": False},
    ),
    "kl-0.02": ("the KL weighted 0.02 (Table 5), not 1.0", "csr", {"kl_scale": 0.02}),
    "sparsity-0.02": (
        "the mask sparsity weight 0.02 (Table 5), not the quick 0.01",
        "csr",
        {"sparsity": 0.02},
    ),
}
#: the variant the others are compared with
PEER = "csr"


@dataclass(frozen=True, kw_only=True)
class Profile:
    """One budget of the ablation.

    Attributes:
        description: one line for ``--help`` and the report.
        seeds: the seeds (each a different random system of the synthetic POMDP).
        source: the `csr-synthetic` profile whose agent settings and schedule each cell uses.
        variants: which of `VARIANTS` the cells cover.
    """

    description: str
    seeds: tuple[int, ...]
    source: str
    variants: tuple[str, ...] = tuple(VARIANTS)

    def __post_init__(self) -> None:
        check_profile(
            self,
            choices={"source": tuple(CSR_PROFILES["csr-synthetic"]), "variants": tuple(VARIANTS)},
        )
        if not isinstance(self.variants, tuple) or not self.variants:
            raise ValueError("Profile.variants must be a non-empty tuple of VARIANTS' names")
        if len(set(self.variants)) != len(self.variants):
            raise ValueError(f"Profile.variants repeats a name: {self.variants}")


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        description="5 seeds nobody tuned on; csr-synthetic's quick source task (6k steps, "
        "latent 8); 2 to 3 min a cell, two side by side on 2 cores",
        seeds=(5, 6, 7, 8, 9),
        source="quick",
    ),
    "smoke": Profile(
        description="seconds: checks the code, not the result (the test suite runs it)",
        seeds=(0,),
        source="smoke",
        variants=("csr", "reward-env-units"),
    ),
}


def variant_config(variant: str, source: str, seed: int, device: str) -> CSRConfig:
    """The agent configuration of ``variant``: the `csr-synthetic` ``source`` profile's for
    the variant's method, with the variant's world-model settings."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {tuple(VARIANTS)}, got {variant!r}")
    _, method, world = VARIANTS[variant]
    from benchmarks.csr import agent_config  # deferred: torch, for runs only (--help lists)

    config = agent_config(CSR_PROFILES["csr-synthetic"][source], method, seed, device)
    return replace(config, world=replace(config.world, **world))


def cells(p: Profile) -> list[Cell]:
    """variant x seed, one CPU each."""
    return [Cell({"variant": v, "seed": s}) for v in p.variants for s in p.seeds]


def run_cell(cell: Cell, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
    """Train the cell's variant on the seed's source task; its score and world model."""
    import torch  # deferred: torch, for runs only (--help lists the profiles without it)

    from agents.csr import CSRAgent, run_sequence  # deferred: torch, as above
    from benchmarks.csr import model_diagnostics, task_references  # deferred: torch, as above

    variant, seed = cell.key["variant"], int(cell.key["seed"])
    profile = CSR_PROFILES["csr-synthetic"][ctx.profile.source]
    seq = make_sequence(profile.sequence, seed=seed, **profile.seq_kwargs)
    make = seq.tasks[0].make
    env = make()
    torch.manual_seed(seed)
    agent = CSRAgent(
        env.observation_space.shape,
        int(env.action_space.n),
        variant_config(variant, ctx.profile.source, seed, ctx.device),
    )
    model: dict[str, Any] = {}

    def on_task(agent: CSRAgent, result: TaskResult, replay, eval_env) -> None:
        model.update(model_diagnostics(agent, replay))

    _, (result,) = run_sequence(agent, [make], profile.schedule, on_task=on_task)
    refs = task_references(profile, seed)
    ref = refs[0] if refs else None
    span = None if ref is None else ref["best"] - ref["random"]
    return {
        "variant": variant,
        "seed": seed,
        "final_score": result.final,
        "normalised": None if not span or span <= 0 else (result.final - ref["random"]) / span,
        "references": ref,
        "curve": [list(point) for point in result.curve],
        "model": model,
    }


# ----------------------------------------------------------------------------- results
#: the figures the summary estimates per variant (``model.`` ones from the world model)
FIGURES = (
    "final_score",
    "normalised",
    "model.reward_explained",
    "model.s_r_edges",
    "model.a_s_edges",
)


def _value(record: dict, figure: str) -> float | None:
    if figure.startswith("model."):
        return record["model"].get(figure.removeprefix("model."))
    return record.get(figure)


def summarise(records: list[dict], p: Profile) -> dict[str, Any]:
    """Per variant: the seeds, and per figure of `FIGURES` the mean over seeds with its
    interval and, beside `PEER`, the mean paired difference (variant minus peer on the same
    seed) with its interval."""
    by = {(r["variant"], r["seed"]): r for r in records}
    out: dict[str, Any] = {"peer": PEER, "variants": {}}
    for v in VARIANTS:
        rows = sorted((r for r in records if r["variant"] == v), key=lambda r: r["seed"])
        if not rows:
            continue
        entry: dict[str, Any] = {"seeds": [r["seed"] for r in rows], "changes": VARIANTS[v][0]}
        for figure in FIGURES:
            values = [_value(r, figure) for r in rows]
            values = [x for x in values if x is not None]
            if not values:
                continue
            e = estimate(values)
            item = {"mean": e.value, "low": e.low, "high": e.high, "interval": e.label}
            if v != PEER:
                diffs = [
                    _value(r, figure) - _value(by[(PEER, r["seed"])], figure)
                    for r in rows
                    if (PEER, r["seed"]) in by
                    and _value(r, figure) is not None
                    and _value(by[(PEER, r["seed"])], figure) is not None
                ]
                if diffs:
                    d = estimate(diffs)
                    item["minus_peer"] = {"mean": d.value, "low": d.low, "high": d.high}
            entry[figure] = item
        out["variants"][v] = entry
    return out


def _fmt(item: dict | None, digits: int) -> str:
    if item is None:
        return "n/a"
    text = f"{item['mean']:.{digits}f} [{item['low']:.{digits}f}, {item['high']:.{digits}f}]"
    if "minus_peer" in item:
        d = item["minus_peer"]
        text += f" ({d['mean']:+.{digits}f} [{d['low']:+.{digits}f}, {d['high']:+.{digits}f}])"
    return text


def report(records: list[dict], profile_name: str, p: Profile) -> str:
    """The table: per variant the means over seeds [interval] and, in brackets, the paired
    difference from ``csr``."""
    s = summarise(records, p)
    lines = [
        f"csr-ablation ({profile_name} profile: {p.description})",
        "",
        "the synthetic POMDP's source task; mean over seeds [95% bootstrap interval, the seeds' "
        f"range below 5 seeds]; (in brackets: minus {PEER} on the same seed, mean [interval]). "
        "normalised: 0 = uniformly random actions, 1 = the best reference policy; R2: the "
        "reward variance the reward model explains; s->r, a->s: the share of those edges on",
        "",
        f"{'variant':18s} {'final score':>34s} {'normalised':>34s} {'R2':>34s} "
        f"{'s->r':>30s} {'a->s':>30s}",
    ]
    for v, entry in s["variants"].items():
        lines.append(
            f"{v:18s} {_fmt(entry.get('final_score'), 1):>34s} "
            f"{_fmt(entry.get('normalised'), 2):>34s} "
            f"{_fmt(entry.get('model.reward_explained'), 2):>34s} "
            f"{_fmt(entry.get('model.s_r_edges'), 2):>30s} "
            f"{_fmt(entry.get('model.a_s_edges'), 2):>30s}"
        )
    lines += ["", "variants:"]
    lines += [f"  {v}: {entry['changes']}" for v, entry in s["variants"].items()]
    seeds = sorted({r["seed"] for r in records})
    lines += ["", "final score per seed: " + ", ".join(map(str, seeds))]
    for v in s["variants"]:
        scores = {r["seed"]: r["final_score"] for r in records if r["variant"] == v}
        lines.append(
            f"  {v:18s} " + " / ".join(f"{scores[x]:.1f}" if x in scores else "-" for x in seeds)
        )
    return "\n".join(lines)


def _report(records: list[dict], ctx: RunContext) -> str:
    return report(records, ctx.profile_name, ctx.profile)


def _summary(records: list[dict], ctx: RunContext) -> dict[str, Any]:
    return summarise(records, ctx.profile)


BENCHMARK = Benchmark(
    name="csr-ablation",
    profiles=PROFILES,
    cells=cells,
    run_cell=run_cell,
    report=_report,
    summary=_summary,
)


def main(profile: str = "quick", fresh: bool = False, **options: Any) -> dict:
    """Run (or resume) ``profile`` on the shared runner; ``options`` are
    `benchmarks.runner.run`'s (``seeds``, ``where``, ``workers``, ``backend``, ``address``,
    ``device``, ``allow_mixed``)."""
    return run(BENCHMARK, profile, fresh=fresh, **options)
