"""Stable-Baselines3 PPO on the native vector envs beside SB3's own vectorisation, one run.

    causal-envs bench sb3-vec-env          # about 5 minutes
    causal-envs bench sb3-vec-env --quick  # seconds

For each env (CausalCartPole-v0, CausalNav2D-v0) and number of envs, the same PPO settings
learn the same number of env steps on three ``VecEnv``\\ s: `causal_envs.sb3.SB3VecEnv` over
the native batched env (every sub-env in one NumPy operation), SB3's ``DummyVecEnv`` (the
single envs in a loop, one process) and ``SubprocVecEnv`` (one process per env). Reported:
env steps per second of ``learn`` (rollouts and updates, what a user waits for) and of the
rollouts alone (``collect_rollouts`` with the untrained policy: the vectorisation's own cost),
each with its ratio to ``DummyVecEnv``. PPO runs on SB3's ``auto`` device. Each figure is
the best of ``repeats`` rounds, the three contenders interleaved within a round. torch runs
on one thread in the main process, so ``SubprocVecEnv``'s workers have the other core;
``SubprocVecEnv`` is measured up to 16 envs (a process per env: 64 would need 64 Python
processes on 2 cores).
"""

from __future__ import annotations

import time
from typing import Any

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecMonitor

import causal_envs  # noqa: F401  (registers the envs)
from benchmarks import provenance
from benchmarks.results import write_json
from causal_envs.sb3 import make_sb3_vec_env

__all__ = ["main", "run"]

ENVS = ("CausalCartPole-v0", "CausalNav2D-v0")


def _make(kind: str, env_id: str, n: int):

    if kind == "native":
        return make_sb3_vec_env(env_id, n)
    cls = DummyVecEnv if kind == "DummyVecEnv" else SubprocVecEnv
    return make_vec_env(env_id, n_envs=n, seed=0, vec_env_cls=cls)


def _measure(kind: str, env_id: str, n: int, steps: int) -> dict[str, float]:

    venv = VecMonitor(_make(kind, env_id, n))
    n_steps = max(8, 2048 // n)
    model = PPO("MlpPolicy", venv, n_steps=n_steps, batch_size=256, seed=0, device="auto")
    # rollouts alone: the untrained policy fills the buffer once per round
    model._setup_learn(n_steps * n, CallbackList([]))
    callback = CallbackList([])
    callback.init_callback(model)
    rounds = max(1, steps // (n_steps * n))
    start = time.perf_counter()
    for _ in range(rounds):
        model.collect_rollouts(venv, callback, model.rollout_buffer, n_steps)
    rollout = rounds * n_steps * n / (time.perf_counter() - start)
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=True)
    learn = steps / (time.perf_counter() - start)
    venv.close()
    return {"learn_steps_per_s": learn, "rollout_steps_per_s": rollout}


def run(quick: bool = False) -> dict[str, Any]:
    """Measure every (env, n, vectorisation); returns the figures."""
    torch.set_num_threads(1)
    counts, steps, repeats = ((8,), 4_096, 1) if quick else ((8, 64), 16_384, 3)
    rows = []
    for env_id in ENVS:
        for n in counts:
            kinds = ["native", "DummyVecEnv"] + (["SubprocVecEnv"] if n <= 16 else [])
            results: dict[str, dict[str, float]] = {k: {} for k in kinds}
            for _ in range(repeats):  # interleaved: drift falls on every contender alike
                for kind in kinds:
                    r = _measure(kind, env_id, n, steps)
                    best = results[kind]
                    results[kind] = {k: max(v, best.get(k, 0.0)) for k, v in r.items()}
            for kind in kinds:
                r = results[kind]
                rows.append({"env": env_id, "num_envs": n, "vec_env": kind, **r})
                print(
                    f"  {env_id} x{n} {kind}: {r['learn_steps_per_s']:,.0f} steps/s learn, "
                    f"{r['rollout_steps_per_s']:,.0f} rollout"
                )
    machine = provenance.this_machine()
    return {
        "profile": "quick" if quick else "full",
        "machine": machine,
        "steps": steps,
        "repeats": repeats,
        "rows": rows,
    }


def report(r: dict[str, Any]) -> str:
    lines = [
        f"sb3-vec-env ({r['profile']} profile; {r['machine']}): SB3 PPO, {r['steps']:,} env "
        "steps per run; ratios against DummyVecEnv in the same run",
        "",
        f"{'env':20s} {'envs':>4s} {'vec env':14s} {'learn/s':>9s} {'x Dummy':>8s} "
        f"{'rollout/s':>10s} {'x Dummy':>8s}",
    ]
    for row in r["rows"]:
        peer = next(
            p
            for p in r["rows"]
            if (p["env"], p["num_envs"], p["vec_env"])
            == (row["env"], row["num_envs"], "DummyVecEnv")
        )
        lines.append(
            f"{row['env']:20s} {row['num_envs']:>4d} {row['vec_env']:14s} "
            f"{row['learn_steps_per_s']:>9,.0f} "
            f"{row['learn_steps_per_s'] / peer['learn_steps_per_s']:>7.2f}x "
            f"{row['rollout_steps_per_s']:>10,.0f} "
            f"{row['rollout_steps_per_s'] / peer['rollout_steps_per_s']:>7.2f}x"
        )
    return "\n".join(lines)


def main(quick: bool = False) -> dict[str, Any]:
    r = run(quick=quick)
    print(report(r))
    print(f"\nresults written to {write_json('sb3_vec_env', r)}")
    return r
