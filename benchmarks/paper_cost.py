"""What each benchmark's ``paper`` profile costs: rates measured here, times the budget.

    causal-envs bench paper-cost                # about five minutes on 2 CPU cores
    causal-envs bench paper-cost --device cuda  # the same estimate for a GPU machine

Every figure is an *estimate*: the inner loop of each kind of cell (an epoch of a dynamics
ensemble, an agent's gradient update, a CSR world-model update, an env step, an evaluation)
is timed for a few repetitions at the paper profile's sizes on ``device``, then multiplied by
what the profile asks for (epochs, updates, env steps, cells). Left out: the datasets' own
generation for Nav2D (seconds), the MoCoDA sampling and rejection (seconds per dataset), the
CSR Self-Adaptive trials (a few hundred updates per task) and process start-up. One process,
one torch thread per process, so a Ray cluster of N such cores divides the total by about N
(each cell is one process; a profile cannot use more processes than it has cells).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import causal_envs  # noqa: F401  (registers the envs)
from agents import AGENTS
from agents.common import evaluate
from agents.csr import CSRAgent
from augment import DynamicsConfig, EnsembleTrainer, FactoredEnsemble
from augment.methods import MODEL_FOR_METHOD
from benchmarks import csr, mocoda_hooksweep2, mocoda_model_error, mocoda_nav2d, provenance
from benchmarks.d3rlpy_peer import train_d3rlpy_td3bc
from benchmarks.ensemble_step import batched_product_gflops, training_steps
from benchmarks.mocoda_profiles import HOOKSWEEP2_DATASETS
from benchmarks.results import write_json
from benchmarks.timing import timed
from causal_envs.core.device import AUTO, native_bf16, resolve_device
from causal_envs.datasets import TransitionDataset
from causal_envs.datasets.hooksweep import generate_hooksweep2_expert
from causal_envs.datasets.nav2d import generate_nav2d_empirical
from causal_envs.tasks import make_sequence

__all__ = ["main", "measure"]

HOUR = 3600.0


# ----------------------------------------------------------------------------- unit rates
def ensemble_step_s(env_id: str, cfg: DynamicsConfig, device: str, rows: int = 8_000) -> float:
    """Seconds per gradient step of an ensemble (random states in the env's spaces: the cost
    does not depend on the values; the validation passes are included, as in training).
    ``rows`` are trained on; a profile that holds out a fixed number of rows (``val_rows``,
    the authors' 20,000) gets those on top."""
    rows += cfg.training.val_rows or 0
    env = gym.make(env_id).unwrapped
    space = getattr(env, "state_space", env.observation_space)
    rng = np.random.default_rng(0)
    s = rng.uniform(space.low, space.high, (rows, space.shape[0])).astype(np.float32)
    act = env.action_space
    a = rng.uniform(act.low, act.high, (rows, act.shape[0])).astype(np.float32)
    training = replace(cfg.training, epochs=2, steps_per_epoch=None, patience=None, stopping="best")
    cfg = replace(cfg, training=training)
    model = FactoredEnsemble(env.causal_structure, cfg, env.local_mask, env_id, device)
    log = EnsembleTrainer(model).fit(s, a, s)
    return log.seconds / (2 * log.steps_per_epoch)


def agent_update_s(
    name: str, hidden: tuple[int, ...], data: TransitionDataset, device: str
) -> float:
    """Seconds per gradient update of an offline agent. BCQ's proposer pre-training is left
    out (once per cell, ``mdn_steps`` = 1,000 steps: small beside 25k-1M updates)."""
    cls = AGENTS[name]
    kwargs: dict[str, Any] = {"hidden": hidden, "device": device}
    if name == "bcq":
        kwargs["mdn_steps"] = 5
    agent = cls(cls.config_class(**kwargs))
    agent.fit(data.to_d4rl(), 10, progress=False)  # warm-up (and BCQ's 5 proposer steps)
    n = 60
    return timed(lambda: agent.fit(data.to_d4rl(), n, progress=False), device) / n


def csr_unit_s(bench: str, device: str) -> dict[str, float]:
    """Seconds per world-model + policy update, per env step while acting (the policy's
    forward pass included) and per DQN env step, at the paper profile's sizes."""
    p = csr.PROFILES_BY_BENCH[bench]["paper"]
    seq = make_sequence(p.sequence, seed=0, **p.seq_kwargs)
    env = seq.make(0)
    config = csr.agent_config(p, "csr", 0, device)
    agent = CSRAgent(env.observation_space.shape, int(env.action_space.n), config)
    replay = agent.new_replay(env)
    agent.collect(env, config.seq_len + 64, replay, random=True)
    agent.update(replay)  # warm-up
    update = timed(lambda: [agent.update(replay) for _ in range(3)], device) / 3
    step = timed(lambda: agent.collect(env, 100, replay), device) / 100
    from stable_baselines3 import DQN  # deferred: SB3, only for the DQN rate

    pixels = len(env.observation_space.shape) == 3
    dqn = DQN(
        "CnnPolicy" if pixels else "MlpPolicy",
        env,
        learning_starts=100,
        buffer_size=5_000,
        train_freq=4,
        device=device,
        verbose=0,
        **({"policy_kwargs": {"normalize_images": True}} if pixels else {}),
    )
    dqn.learn(200)  # warm-up, past learning_starts
    dqn_step = timed(lambda: dqn.learn(400, reset_num_timesteps=False), device) / 400
    env.close()
    return {"update_s": update, "env_step_s": step, "dqn_env_step_s": dqn_step}


def _random_transitions(obs_dim: int, act_dim: int, n: int = 10_000) -> TransitionDataset:
    """Transitions of the right shapes (an update's cost does not depend on the values)."""
    rng = np.random.default_rng(0)
    obs = rng.uniform(-1, 1, (n, obs_dim)).astype(np.float32)
    return TransitionDataset(
        observations=obs,
        actions=rng.uniform(-1, 1, (n, act_dim)).astype(np.float32),
        rewards=-np.ones(n, np.float32),
        next_observations=obs,
        terminals=np.zeros(n, np.bool_),
        episode_ends=np.ones(n, np.bool_),
    )


# ----------------------------------------------------------------------------- the profiles
def _nav2d(device: str) -> dict[str, Any]:
    p = mocoda_nav2d.PROFILES["paper"]
    data = generate_nav2d_empirical(0)
    train_rows = len(data) - 5_000  # the parent model's held-out rows
    step = {
        a: ensemble_step_s("CausalNav2D-v0", replace(p.models, architecture=a), device)
        for a in ("local", "unfactored")
    }
    update = {a: agent_update_s(a, p.hidden, data, device) for a in p.agents}
    ours = mocoda_nav2d.make_agent("td3bc", "paper", 0, device)
    ours.fit(data.to_d4rl(), 1, progress=False)
    episodes = p.eval_episodes // 2 or 1
    eval_s = timed(lambda: evaluate(ours.act, "CausalNav2D-v0", episodes, seed=0))
    peer = train_d3rlpy_td3bc(data, 100, 0, p.hidden, device)
    peer_update = 1 / peer["updates_per_s"] if peer else update["td3bc"]
    evals = p.n_updates // p.eval_every
    per_seed_inputs = training_steps(p.models, train_rows) * sum(step.values())
    per_cell = {a: p.n_updates * update[a] + evals * eval_s for a in p.agents}
    cross = p.crosscheck_updates * (update["td3bc"] + peer_update) + 2 * eval_s
    cells = len(p.seeds) * (len(p.datasets) * len(p.agents) + 1)
    total = len(p.seeds) * (per_seed_inputs + len(p.datasets) * sum(per_cell.values()) + cross)
    return {
        "cells": cells,
        "units": {
            **{f"model_step_{a}_s": v for a, v in step.items()},
            **{f"update_{a}_s": v for a, v in update.items()},
            "update_d3rlpy_td3bc_s": peer_update,
            "evaluation_s": eval_s,
        },
        "inputs_per_seed_h": per_seed_inputs / HOUR,
        "longest_cell_h": max([*per_cell.values(), cross]) / HOUR,
        "total_h": total / HOUR,
    }


def _model_error(device: str) -> dict[str, Any]:
    p = mocoda_model_error.PROFILES["paper"]
    rows = len(generate_nav2d_empirical(0)) - 5_000
    step = {
        a: ensemble_step_s("CausalNav2D-v0", replace(p.models, architecture=a), device)
        for a in ("unfactored", "global", "local")
    }
    per_cell = training_steps(p.models, rows) * sum(step.values())
    return {
        "cells": len(p.seeds),
        "units": {f"model_step_{a}_s": v for a, v in step.items()},
        "longest_cell_h": per_cell / HOUR,
        "total_h": len(p.seeds) * per_cell / HOUR,
    }


def _hooksweep2(device: str) -> dict[str, Any]:
    p = mocoda_hooksweep2.PROFILES["paper"]
    start = time.perf_counter()
    expert = generate_hooksweep2_expert(1_000, seed=0, workers=1)
    expert_step = (time.perf_counter() - start) / len(expert)
    cfg = mocoda_hooksweep2.pipeline_config(p, seed=0, n_rows=p.n_expert).dynamics
    model_step = ensemble_step_s("HookSweep2-v1", cfg, device)
    models = {MODEL_FOR_METHOD[m] for m in HOOKSWEEP2_DATASETS.values() if m != "emp"}
    train_rows = p.n_expert - min(5_000, p.n_expert // 10)
    per_seed_inputs = (
        p.n_expert * expert_step + len(models) * training_steps(cfg, train_rows) * model_step
    )
    flat = gym.make(mocoda_hooksweep2.ENV_ID, flat_obs=True)
    data = _random_transitions(flat.observation_space.shape[0], flat.action_space.shape[0])
    update = {a: agent_update_s(a, p.hidden, data, device) for a in p.agents}
    agent = AGENTS["td3bc"](AGENTS["td3bc"].config_class(hidden=p.hidden, device=device))
    agent.fit(data.to_d4rl(), 1, progress=False)
    eval_s = timed(lambda: mocoda_hooksweep2.evaluate_sweep(agent.act, 4, seed=0))
    eval_s *= p.eval_episodes / 4
    evals = p.n_updates // p.eval_every
    per_cell = {a: p.n_updates * update[a] + evals * eval_s for a in p.agents}
    total = len(p.seeds) * (per_seed_inputs + len(p.datasets) * sum(per_cell.values()))
    return {
        "cells": len(p.seeds) * len(p.datasets) * len(p.agents),
        "units": {
            "expert_transition_s": expert_step,
            "model_step_s": model_step,
            **{f"update_{a}_s": v for a, v in update.items()},
            "evaluation_s": eval_s,
        },
        "inputs_per_seed_h": per_seed_inputs / HOUR,
        "longest_cell_h": max(per_cell.values()) / HOUR,
        "total_h": total / HOUR,
    }


def _csr(bench: str, device: str) -> dict[str, Any]:
    p = csr.PROFILES_BY_BENCH[bench]["paper"]
    units = csr_unit_s(bench, device)
    n_tasks = len(make_sequence(p.sequence, seed=0, **p.seq_kwargs))
    steps = sum(p.schedule.budget(i) for i in range(n_tasks))  # the source budget: its most
    config = csr.agent_config(p, "csr", 0, device)
    world = steps * units["env_step_s"] + (steps / config.train_every) * units["update_s"]
    world += (n_tasks - 1) * (config.detect_steps + config.expand_steps) * units["update_s"]
    dqn = steps * units["dqn_env_step_s"]
    n_world = sum(m != "dqn" for m in p.methods)
    n_dqn = sum(m == "dqn" for m in p.methods)
    return {
        "cells": len(p.seeds) * len(p.methods),
        "units": units,
        "env_steps_per_cell": steps,
        "longest_cell_h": max(world, dqn) / HOUR,
        "total_h": len(p.seeds) * (n_world * world + n_dqn * dqn) / HOUR,
    }


def arithmetic_rates(device: str, threads: int = 1) -> dict[str, Any]:
    """GFLOP/s of a batched product at the dynamics ensembles' shapes (15 matrices of 512 x 256
    times 256 x 256) in float32 and in bfloat16 on ``device`` with ``threads`` torch threads,
    and whether the device multiplies bfloat16 natively (where it does not, ``precision="auto"``
    trains in float32: `causal_envs.core.device.native_bf16`)."""
    dev = torch.device(device)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    rates = {}
    try:
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            rates[f"{name}_gflops"] = batched_product_gflops(15, 512, 256, dtype, dev)
    finally:
        torch.set_num_threads(before)
    return {
        **rates,
        "threads": threads,
        "native_bf16": native_bf16(dev),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def measure(device: str = AUTO) -> dict[str, Any]:
    """The estimate of every paper profile (see the module docstring)."""
    device = str(resolve_device(device))
    out: dict[str, Any] = {"device": device, "machine": provenance.this_machine()}
    out["arithmetic"] = [arithmetic_rates(device, n) for n in (1, 2)]
    for r in out["arithmetic"]:
        print(
            f"batched products, {r['threads']} thread(s): float32 {r['fp32_gflops']:.0f} GFLOP/s, "
            f"bfloat16 {r['bf16_gflops']:.0f} GFLOP/s (native bf16: {r['native_bf16']}; "
            f"{r['cpu_capability']})"
        )
    torch.set_num_threads(1)  # the runner's cells: one thread per process
    jobs: dict[str, Callable[[], dict[str, Any]]] = {
        "mocoda-nav2d": lambda: _nav2d(device),
        "mocoda-model-error": lambda: _model_error(device),
        "mocoda-hooksweep2": lambda: _hooksweep2(device),
        **{b: (lambda b=b: _csr(b, device)) for b in csr.PROFILES_BY_BENCH},
    }
    profiles = {}
    for name, job in jobs.items():
        start = time.perf_counter()
        profiles[name] = job()
        print(f"{name}: measured in {time.perf_counter() - start:.0f} s")
    out["profiles"] = profiles
    return out


def report(result: dict[str, Any]) -> str:
    lines = [
        f"paper profiles, estimated from rates measured on {result['device']} "
        "(one torch thread per process)",
        f"{'benchmark':20s} {'cells':>5s} {'longest cell':>13s} {'total':>10s}  "
        "wall time on 2 processes / 64",
    ]
    for name, r in result["profiles"].items():
        total = r["total_h"]
        two, many = total / min(2, r["cells"]), total / min(64, r["cells"])
        lines.append(
            f"{name:20s} {r['cells']:5d} {_h(r['longest_cell_h']):>13s} {_h(total):>10s}  "
            f"{_h(max(two, r['longest_cell_h']))} / {_h(max(many, r['longest_cell_h']))}"
        )
    return "\n".join(lines)


def _h(hours: float) -> str:
    if hours < 1:
        return f"{60 * hours:.0f} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} d"


def main(device: str = AUTO) -> dict[str, Any]:
    result = measure(device)
    print(report(result))
    print(f"results written to {write_json('paper_cost', result)}")
    return result
