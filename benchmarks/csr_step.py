"""Where one update of CSR's pixel world model and policy spends its time, on this machine.

    causal-envs bench csr-step                      # the CPU, paper and pixel-game sizes
    causal-envs bench csr-step --sizes paper        # one of them
    causal-envs bench csr-step --device cuda

An update of the CSR agent (`agents.csr.CSRAgent.update`) is a world-model step (the batch's
frames encoded, the latent filtered along each sequence, frames, rewards and continuations
decoded, the KL and sparsity terms, the backward pass, gradient clipping and Adam) and a policy
step (``imagine_starts`` trajectories of ``horizon`` steps imagined from the batch's posteriors,
then the actor's and the critic's losses, backward passes and Adam). For each size (`SIZES`:
the pixel settings of the quick CPU profiles, the CartPole paper profile's, CSR Table 5's
CoinRun/Atari ones) on 64x64 CartPole frames (the cost does not depend on what they show), in
float32 and, where the device multiplies bfloat16 natively, in bfloat16 (``precision="bf16"``:
the world model's forward pass and loss under autocast):

- **FLOPs** of the world-model step and of the policy step (forward and backward, counted by
  `torch.utils.flop_counter`: convolutions, transposed convolutions and products);
- **time**: the world-model step, the policy step and the whole update, medians over
  ``repeats`` updates after a warm-up, and the rate each reaches in GFLOP/s against the
  machine's batched-product rate at the hidden layers' width (measured in the same run) - an
  upper bound the convolutions' shapes may not reach;
- **the paper profile's update** beside the one figure measured before this benchmark existed
  (1.78 s on an AVX2 CPU, `bench paper-cost`): compare only within one machine.

Timings compare only within one run on one machine; the record names the machine.
"""

from __future__ import annotations

import statistics
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

import causal_envs  # noqa: F401  (registers the envs)
from agents.csr import CSRAgent, CSRConfig, WorldModelParams
from benchmarks import provenance
from benchmarks.csr_profiles import PROFILES_BY_BENCH
from benchmarks.ensemble_step import batched_product_gflops
from benchmarks.results import write_json
from benchmarks.timing import timed
from causal_envs.core.device import AUTO, native_bf16, resolve_device
from causal_envs.tasks import make_sequence

__all__ = ["SIZES", "main", "measure", "report"]


def _sizes(bench: str, profile: str) -> tuple[dict[str, Any], dict[str, Any]]:
    p = PROFILES_BY_BENCH[bench][profile]
    return dict(p.agent), dict(p.world)


#: name -> (CSRConfig fields, WorldModelParams fields): what each benchmark profile trains
SIZES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "quick": _sizes("csr-cartpole", "pixels"),
    "paper": _sizes("csr-cartpole", "paper"),
    "paper-games": _sizes("csr-coinrun", "paper"),
}
#: updates timed per measurement (after `WARMUP`)
REPEATS = 5
WARMUP = 2


def _agent(sizes: str, precision: str, device: torch.device) -> tuple[CSRAgent, Any]:
    agent_kw, world_kw = SIZES[sizes]
    env = make_sequence("cartpole", seed=0, obs_type="pixels").make(0)
    world = WorldModelParams(**world_kw)
    config = CSRConfig(**agent_kw, world=world, seed=0, device=str(device), precision=precision)
    torch.manual_seed(0)
    agent = CSRAgent(env.observation_space.shape, int(env.action_space.n), config)
    replay = agent.new_replay(env)
    agent.collect(env, config.seq_len * 4 + 64, replay, random=True)
    env.close()
    return agent, replay


def _flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def measure_size(
    sizes: str, precision: str, device: torch.device, repeats: int = REPEATS
) -> dict[str, Any]:
    """FLOPs and median seconds of the world-model step, the policy step and the update."""
    agent, replay = _agent(sizes, precision, device)
    c = agent.config
    state: dict[str, Any] = {}

    def batch() -> None:
        state["batch"] = replay.sample(c.batch_size, c.seq_len, agent.rng, agent.device)

    def world() -> None:
        _, states = agent.train_world(state["batch"])
        start = states.reshape(-1, agent.world.latent_dim)
        state["start"] = start[: c.imagine_starts]

    def policy() -> None:
        agent.train_policy(state["start"])

    for _ in range(WARMUP):
        for fn in (batch, world, policy):
            fn()
    world_flops = _flops(world)
    # the policy step reads the world model under no_grad; the FLOP counter's module tracker
    # cannot hook a parameter passed as an input there, so the world's are frozen meanwhile
    frozen = [p for p in agent.world.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        policy_flops = _flops(policy)
    finally:
        for p in frozen:
            p.requires_grad_(True)
    times: dict[str, list[float]] = {"batch": [], "world": [], "policy": []}
    for _ in range(repeats):
        for name, fn in (("batch", batch), ("world", world), ("policy", policy)):
            times[name].append(timed(fn, device))
    med = {k: statistics.median(v) for k, v in times.items()}
    update = timed(lambda: [agent.update(replay) for _ in range(repeats)], device) / repeats
    return {
        "sizes": sizes,
        "precision": precision,
        "batch_size": c.batch_size,
        "seq_len": c.seq_len,
        "latent_dim": agent.world.latent_dim,
        "hidden": agent.world.config.hidden,
        "world_flops": world_flops,
        "policy_flops": policy_flops,
        "batch_s": med["batch"],
        "world_s": med["world"],
        "policy_s": med["policy"],
        "update_s": update,
        "world_gflops": world_flops / med["world"] / 1e9,
        "policy_gflops": policy_flops / med["policy"] / 1e9,
    }


def measure(
    sizes: tuple[str, ...] = tuple(SIZES), device: str = AUTO, repeats: int = REPEATS
) -> dict[str, Any]:
    """Every one of ``sizes`` in float32 and, where native, bfloat16 (the module docstring)."""
    unknown = [s for s in sizes if s not in SIZES]
    if unknown or not sizes:
        raise ValueError(f"sizes must be among {sorted(SIZES)}, got {list(sizes)}")
    dev = resolve_device(device)
    precisions = ["fp32", *(["bf16"] if native_bf16(dev) else [])]
    rows = []
    for s in sizes:
        for precision in precisions:
            print(f"measuring {s} {precision} ...", flush=True)
            rows.append(measure_size(s, precision, dev, repeats))
    widths = sorted({r["hidden"] for r in rows})
    rates = {
        f"{w}/{p}": batched_product_gflops(
            16, 512, w, torch.float32 if p == "fp32" else torch.bfloat16, dev
        )
        for w in widths
        for p in precisions
    }
    for r in rows:
        rate = rates[f"{r['hidden']}/{r['precision']}"]
        r["product_gflops"] = rate
        r["world_share"] = r["world_gflops"] / rate
    return {
        "device": str(dev),
        "threads": torch.get_num_threads(),
        "native_bf16": native_bf16(dev),
        "machine": provenance.this_machine(),
        "repeats": repeats,
        "rows": rows,
        "product_gflops": rates,
    }


def report(r: dict[str, Any]) -> str:
    lines = [
        f"csr-step on {r['device']} with {r['threads']} thread(s), native bf16: "
        f"{'yes' if r['native_bf16'] else 'no'} ({r['machine']})",
        "",
        f"{'sizes':12s} {'prec':5s} {'world GFLOP':>11s} {'world ms':>9s} {'GFLOP/s':>8s} "
        f"{'of bmm':>7s} {'policy GFLOP':>12s} {'policy ms':>9s} {'batch ms':>8s} "
        f"{'update ms':>9s}",
    ]
    for row in r["rows"]:
        lines.append(
            f"{row['sizes']:12s} {row['precision']:5s} {row['world_flops'] / 1e9:11.2f} "
            f"{row['world_s'] * 1e3:9.1f} {row['world_gflops']:8.1f} "
            f"{100 * row['world_share']:6.0f}% {row['policy_flops'] / 1e9:12.3f} "
            f"{row['policy_s'] * 1e3:9.1f} {row['batch_s'] * 1e3:8.2f} "
            f"{row['update_s'] * 1e3:9.1f}"
        )
    lines += [
        "",
        "of bmm: the world-model step's GFLOP/s over the batched-product rate at its hidden "
        "width (" + ", ".join(f"{k}: {v:.0f}" for k, v in r["product_gflops"].items()) + ")",
    ]
    return "\n".join(lines)


def main(sizes: tuple[str, ...] = tuple(SIZES), device: str = AUTO) -> dict[str, Any]:
    """Measure, print the report and write ``csr_step.json``."""
    r = measure(sizes, device)
    print()
    print(report(r))
    print(f"\nresults written to {write_json('csr_step', r)}")
    return r
