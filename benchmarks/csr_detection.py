"""CSR's detection studied on source-task agents: is it right where it was never tuned?

    causal-envs bench csr-detection --agent RUN/csr_seed5_source.pt RUN/csr_seed6_source.pt ...
    causal-envs bench csr-detection --study probes --agent SOURCE.pt [--quick]

``--study score`` (the default) scores the decision out of sample. The agents are source-task
checkpoints that ``bench csr-cartpole`` / ``bench csr-synthetic`` save
(``<name>/<method>_seed<k>_source.pt``; the folder names the benchmark and profile, the file
the seed: together they give the task sequence). Each agent meets, with its recorded tau* and
reference and every detection constant frozen at `agents.csr.CSRConfig`'s defaults (chosen on
seeds 0-2), one fresh copy per case:

* the source task again (a control: nothing changed);
* every later task of its sequence, as a jump from the source task (a new latent variable is
  needed where any task up to it expands the state: CartPole's friction, the synthetic
  POMDP's new variables);
* on CartPole, more distribution shifts (`VARIANTS`: gravity, cart mass, pole length).

`agents.csr.adaptation.detect` decides each case. Beside CSR's rule (the error after
re-estimating theta below ``threshold_scale`` x tau* matched to the probe's states, on the
covered steps) the same runs are scored under the paper's plain rule (the error on every
probe step below tau* itself, no margin) and the two constant rules, always and never expand.
A positive is a case that needs a new latent variable: sensitivity is the share of those
expanded, specificity the share of the others called a shift.

``--study probes`` is the study the probe was chosen with (on seed 0's source agent, so in
sample): for each probe behaviour (uniformly random actions, the agent's policy, or the
policy against tau* matched to the states it visits) and each ``theta_reg``, tau* is
measured on a fresh probe of the unchanged source task, then every variant of `VARIANTS`
(all distribution shifts) is probed, theta re-estimated for ``detect_steps`` updates and the
ratio of the error to tau* recorded with theta's drift; right when the ratio is below
``CSRConfig.threshold_scale``. Repeats draw new probes.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import causal_envs  # noqa: F401  (registers the envs)
from agents.csr import CSRAgent, CSRConfig
from agents.csr.adaptation import (
    AdaptationReport,
    compare_with_reference,
    detect,
    reestimate_theta,
)
from benchmarks import provenance, stats
from benchmarks.csr_profiles import PROFILES_BY_BENCH, bench_of_folder
from benchmarks.results import write_json
from causal_envs.core.checkpoint import CheckpointError
from causal_envs.tasks import make_sequence

__all__ = ["RULES", "VARIANTS", "cases", "main", "run", "score", "score_agent"]

#: name -> CausalCartPole-v0 keyword arguments over the source task (state observations);
#: none changes the latent space, so each must be called a distribution shift
VARIANTS: dict[str, dict[str, Any]] = {
    "unchanged": {},
    "gravity 5": {"gravity": 5.0},
    "gravity 20": {"gravity": 20.0},
    "cart mass 0.5": {"masscart": 0.5},
    "cart mass 2.5": {"masscart": 2.5},
    "pole length x2": {"length": 1.0},
    # seed 0's task 2 of the CartPole sequence
    "gravity 40, cart mass 3.5": {"gravity": 40.0, "masscart": 3.5},
}


#: the probes compared: random actions, the policy, the policy against tau* matched to its
#: states (`agents.csr.Threshold.matched_tau`) on the steps inside the reference's coverage
#: (`agents.csr.adaptation.compare_with_reference`)
PROBES = ("random", "policy", "matched")
#: theta's anchor weights compared: unanchored, and the default
THETA_REGS = (0.0, CSRConfig.theta_reg)


def _variant_env(overrides: dict[str, Any]) -> gym.Env:
    return gym.make("CausalCartPole-v0", obs_type="state", **overrides)


def study(
    agent: CSRAgent, probe: str, theta_reg: float, repeat: int, variants: dict[str, dict]
) -> list[dict[str, Any]]:
    """One (probe, theta_reg, repeat): tau* on the unchanged task, then every variant."""
    a = copy.deepcopy(agent)
    a.config = dataclasses.replace(
        a.config,
        detect_probe=probe,
        theta_reg=theta_reg,
        threshold_scale=CSRConfig.threshold_scale,
    )
    a.rng = np.random.default_rng([repeat, 17])
    tau = a.record_threshold(env=_variant_env({}))
    rows = []
    for name, overrides in variants.items():
        b = copy.deepcopy(a)
        start = b.world.theta.detach().clone()
        data = b.probe_replay(_variant_env(overrides))
        before = b.prediction_error(data)
        reestimate_theta(b, data, b.config.detect_steps)
        decided = AdaptationReport(0, b.name, tau, before)
        after, basis = compare_with_reference(b, data, decided)
        ratio = after / basis
        rows.append(
            {
                "probe": probe,
                "theta_reg": theta_reg,
                "repeat": repeat,
                "variant": name,
                "tau": tau,
                "tau_matched": basis if probe == "matched" else None,
                "error_before": before,
                "error_after_theta": after,
                "coverage": decided.coverage,
                "ratio": ratio,
                "right": bool(ratio <= b.config.threshold_scale),
                "theta_drift": float((b.world.theta.detach() - start).norm()),
            }
        )
        print(
            f"  {probe:6s} theta_reg {theta_reg:<4g} repeat {repeat} {name:26s} "
            f"ratio {ratio:5.2f} drift {rows[-1]['theta_drift']:.2f}",
            flush=True,
        )
    return rows


def run(agent_path: str | Path, quick: bool = False) -> dict[str, Any]:
    torch.set_num_threads(1)
    agent = CSRAgent.load(agent_path)
    if agent.world.config.pixels:
        raise ValueError("the detection study runs on a state-observation CartPole agent")
    repeats = 1 if quick else 3
    variants = dict(list(VARIANTS.items())[:3]) if quick else VARIANTS
    rows = []
    for probe in PROBES:
        for theta_reg in THETA_REGS:
            for repeat in range(repeats):
                rows.extend(study(agent, probe, theta_reg, repeat, variants))
    machine = provenance.this_machine()
    return {
        "agent": str(agent_path),
        "detect_steps": agent.config.detect_steps,
        "adapt_collect": agent.config.adapt_collect,
        "threshold_scale": CSRConfig.threshold_scale,
        "profile": "quick" if quick else "full",
        "machine": machine,
        "rows": rows,
    }


# ----------------------------------------------------------------------------- out of sample
#: the CSRConfig fields that decide detection, frozen at their defaults in the score study
DETECTION_CONSTANTS = (
    "detect_probe",
    "threshold_scale",
    "theta_reg",
    "coverage_quantile",
    "min_coverage",
    "match_neighbours",
)
#: the decision rules scored on the same detections: name -> (label, expands(row))
RULES: dict[str, tuple[str, Any]] = {
    "csr": (
        f"CSR: error <= {CSRConfig.threshold_scale:g} x matched tau* (covered steps)",
        lambda r: r["decision"] == "space_expansion",
    ),
    "plain": (
        "paper's rule: error (every step) >= tau*",
        lambda r: r["error_every_step"] >= r["tau"],
    ),
    "always": ("always expand", lambda r: True),
    "never": ("never expand", lambda r: False),
}


def _source_of(path: Path) -> tuple[str, str, int]:
    """The benchmark, profile and seed a ``<folder>/<method>_seed<k>_source.pt`` came from."""
    folder, stem = path.parent.name, path.stem
    bench = bench_of_folder(folder)
    if bench is None or not stem.endswith("_source") or "_seed" not in stem:
        raise CheckpointError(
            f"{path}: not a source checkpoint of a CSR benchmark run "
            "(<output>/csr_<sequence>_<profile>/<method>_seed<k>_source.pt)"
        )
    profile = folder[len(bench) + 1 :]
    if profile not in PROFILES_BY_BENCH[bench]:
        raise CheckpointError(f"{path}: {bench} has no profile {profile!r}")
    try:
        seed = int(stem.removesuffix("_source").rsplit("_seed", 1)[1])
    except ValueError:
        raise CheckpointError(f"{path}: no seed in the file name") from None
    return bench, profile, seed


def cases(bench: str, profile: str, seed: int) -> list[dict[str, Any]]:
    """The cases an agent of ``bench``'s ``profile`` with ``seed`` is scored on: name, a
    maker of the env, and whether a new latent variable is needed (see the docstring)."""
    p = PROFILES_BY_BENCH[bench][profile]
    seq = make_sequence(p.sequence, seed=seed, **p.seq_kwargs)
    out = [{"case": "unchanged", "make": seq[0].make, "expand": False, "kind": "control"}]
    grown = False
    for i in range(1, len(seq)):
        grown = grown or "state_expansion" in seq[i].changes
        out.append(
            {
                "case": f"task {i + 1}: {seq[i].description}",
                "make": seq[i].make,
                "expand": grown,
                "kind": "sequence",
            }
        )
    if p.sequence == "cartpole":
        for name, overrides in VARIANTS.items():
            if overrides:
                out.append(
                    {
                        "case": name,
                        "make": lambda o=overrides: seq[0].make(**o),
                        "expand": False,
                        "kind": "shift",
                    }
                )
    return out


def score_agent(path: str | Path) -> list[dict[str, Any]]:
    """Every case of one source agent, decided by `agents.csr.adaptation.detect` on a fresh
    copy with the default detection constants; one row per case."""
    path = Path(path)
    bench, profile, seed = _source_of(path)
    agent = CSRAgent.load(path)
    if agent.threshold.tau is None:
        raise CheckpointError(f"{path}: the agent has no tau* recorded")
    frozen = {name: getattr(CSRConfig, name) for name in DETECTION_CONSTANTS}
    agent.config = dataclasses.replace(agent.config, adaptation="csr", **frozen)
    rows = []
    for k, case in enumerate(cases(bench, profile, seed)):
        a = copy.deepcopy(agent)
        a.rng = np.random.default_rng([seed, k, 17])
        _, _, r = detect(a, case["make"](), task=1)
        row = {
            "bench": bench,
            "profile": profile,
            "seed": seed,
            "case": case["case"],
            "kind": case["kind"],
            "expand_needed": case["expand"],
            "decision": r.decision,
            "width_grew": r.new_obs_dims > 0,
            "tau": r.tau,
            "tau_matched": r.tau_matched,
            "coverage": r.coverage,
            "error_after_theta": r.error_after_theta,
            "error_every_step": r.error_every_step,
            "threshold": r.threshold,
        }
        rows.append(row)
        ratio = r.error_after_theta / r.threshold * frozen["threshold_scale"]
        print(
            f"  {bench} seed {seed} {case['case'][:44]:44s} {r.decision:18s} "
            f"(needed: {'expansion' if case['expand'] else 'shift'}); error / matched tau* "
            f"{ratio:.2f}, every step / tau* {r.error_every_step / r.tau:.2f}",
            flush=True,
        )
    return rows


def confusion(rows: list[dict[str, Any]], rule: str) -> dict[str, Any]:
    """``rule``'s decisions on ``rows`` against the truth (`benchmarks.stats.confusion`):
    counts, sensitivity (expansions needed and made), specificity (shifts called shifts) and
    balanced accuracy (always and never expand score 0.5); None where a class is empty."""
    expands = RULES[rule][1]
    return stats.confusion((r["expand_needed"], bool(expands(r))) for r in rows)


def score(agents: list[str | Path]) -> dict[str, Any]:
    """`score_agent` over ``agents``, with the frozen constants and the machine."""
    torch.set_num_threads(1)
    rows = [row for path in agents for row in score_agent(path)]
    return {
        "study": "score",
        "agents": [str(p) for p in agents],
        "constants": {
            **{name: getattr(CSRConfig, name) for name in DETECTION_CONSTANTS},
            "tuned_on_seeds": [0, 1, 2],
        },
        "rows": rows,
    }


def score_report(r: dict[str, Any]) -> str:
    lines = [
        "csr-detection (out of sample): every case decided by one source agent per seed, "
        f"the constants frozen (chosen on seeds {r['constants']['tuned_on_seeds']}); "
        "a positive needs a new latent variable",
    ]
    for bench in sorted({x["bench"] for x in r["rows"]}):
        rows = [x for x in r["rows"] if x["bench"] == bench]
        seeds = sorted({x["seed"] for x in rows})
        lines += [
            "",
            f"{bench}, seeds {', '.join(map(str, seeds))}: {len(rows)} cases",
            f"{'rule':50s} {'sensitivity':>12s} {'specificity':>12s} {'balanced':>9s} "
            f"{'right':>8s}{'TP':>5s}{'FN':>5s}{'FP':>5s}{'TN':>5s}",
        ]
        for rule, (label, _) in RULES.items():
            c = confusion(rows, rule)
            sens, spec, bal = (
                "n/a" if c[k] is None else f"{c[k]:.2f}"
                for k in ("sensitivity", "specificity", "balanced_accuracy")
            )
            lines.append(
                f"{label:50s} {sens:>12s} {spec:>12s} {bal:>9s} "
                f"{c['right']:>3d}/{c['decisions']:<4d}"
                f"{c['tp']:>5d}{c['fn']:>5d}{c['fp']:>5d}{c['tn']:>5d}"
            )
        if any(x["width_grew"] for x in rows):
            lines.append("(some cases widened the observation: CSR expands on the width alone)")
    return "\n".join(lines)


def report(r: dict[str, Any]) -> str:
    lines = [
        f"csr-detection ({r['profile']}; {r['agent']}): error after theta / tau*, decided right "
        f"when <= {r['threshold_scale']} (every variant is a distribution shift); "
        f"{r['adapt_collect']} probe steps, {r['detect_steps']} theta updates",
        "",
        f"{'probe':7s} {'theta_reg':>9s} {'variant':26s} {'ratio (min-max)':>16s} "
        f"{'right':>6s} {'theta drift':>11s}",
    ]
    keys = sorted(
        {(x["probe"], x["theta_reg"], x["variant"]) for x in r["rows"]},
        key=lambda k: (k[0], k[1], list(VARIANTS).index(k[2])),
    )
    for probe, reg, variant in keys:
        rows = [
            x
            for x in r["rows"]
            if (x["probe"], x["theta_reg"], x["variant"]) == (probe, reg, variant)
        ]
        ratios = [x["ratio"] for x in rows]
        right = sum(x["right"] for x in rows)
        drift = np.mean([x["theta_drift"] for x in rows])
        lines.append(
            f"{probe:7s} {reg:>9g} {variant:26s} {min(ratios):>7.2f}-{max(ratios):<8.2f} "
            f"{right:>3d}/{len(rows):<2d} {drift:>11.2f}"
        )
    for probe in PROBES:
        for reg in sorted({x["theta_reg"] for x in r["rows"]}):
            rows = [x for x in r["rows"] if x["probe"] == probe and x["theta_reg"] == reg]
            if rows:
                lines.append(
                    f"{probe} probe, theta_reg {reg:g}: {sum(x['right'] for x in rows)} of "
                    f"{len(rows)} decided right"
                )
    return "\n".join(lines)


def main(agents: list[str | Path], study: str = "score", quick: bool = False) -> dict[str, Any]:
    """``study="score"``: `score` the agents out of sample; ``"probes"``: the probe study
    (`run`) on the one agent given."""
    if study == "score":
        r = score(agents)
        print(score_report(r))
        print(f"\nresults written to {write_json('csr_detection_score', r)}")
        return r
    if study != "probes":
        raise ValueError(f"study must be 'score' or 'probes', got {study!r}")
    if len(agents) != 1:
        raise ValueError("the probe study runs on one agent")
    r = run(agents[0], quick=quick)
    print(report(r))
    print(f"\nresults written to {write_json('csr_detection', r)}")
    return r
