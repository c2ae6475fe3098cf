"""CSR's detection statistic studied on one source-task agent: does it measure the change?

    causal-envs bench csr-detection --agent SOURCE.pt           # about 10 minutes
    causal-envs bench csr-detection --agent SOURCE.pt --quick   # one repeat, fewer variants

``SOURCE.pt``: e.g. ``outputs/benchmarks/csr_cartpole_quick/adarl_seed0_source.pt``.

The agent is a source-task checkpoint that ``bench csr-cartpole`` saves
(``<method>_seed<k>_source.pt``). For each probe behaviour (``detect_probe``: uniformly random
actions, the agent's policy, or the policy against tau* matched to the states it visits) and each
``theta_reg``, ``tau*`` is measured on a fresh probe
of the unchanged source task, then on each variant (the source task again; new gravity, cart
mass or pole length, all distribution shifts that need no new latent variable) a fresh probe
is collected, the domain-specific part (theta and its edge gains) is re-estimated on it for
``detect_steps`` updates and the ratio of the error to ``tau*`` is recorded with theta's drift
from its source value. A variant is decided right when its ratio is below the current default
``CSRConfig.threshold_scale`` (not the checkpoint's). Repeats draw new probes.
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
from agents.csr.adaptation import AdaptationReport, compare_with_reference, reestimate_theta
from benchmarks import provenance
from benchmarks.results import write_json

__all__ = ["VARIANTS", "main", "run"]

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
#: states (`agents.csr.CSRAgent.matched_tau`) on the steps inside the reference's coverage
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


def main(agent: str | Path, quick: bool = False) -> dict[str, Any]:
    r = run(agent, quick=quick)
    print(report(r))
    print(f"\nresults written to {write_json('csr_detection', r)}")
    return r
