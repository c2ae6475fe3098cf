"""Environment speed beside Gymnasium's CartPole-v1, measured in the same run.

    causal-envs bench env-speed          # full run, about a minute
    causal-envs bench env-speed --quick  # seconds

Each figure is the best of several rounds (steps per second of wall time, one process);
the contenders run interleaved, one run each per round, so that drift hits peer and ours alike.
Actions are drawn before timing, so the action sampler is not measured. Targets (2-core CPU):
the Nav2D single env at least as fast as CartPole-v1; the Nav2D vector env at 4096 envs at
least 1e7 env-steps/s with masks; the 40k empirical dataset generated in under 2 s;
CausalCartPole-v0 at least 0.8x CartPole-v1 single, 1e6 env-steps/s vectorised and 20k pixel
frames/s; the Atari and CoinRun task wrappers within 10% of raw ALE / procgen. HookSweep2 is
timed beside Gymnasium's MuJoCo Pusher-v5 (no target: its step runs 20 MuJoCo substeps with a
hook and two boxes), and the dataset figures include Minari's side: reading the cached 40k
set episode by episode through Minari, the HDF5 bytes an episode takes, and writing
one-step episodes with `to_minari`.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import minari
import numpy as np

import causal_envs  # noqa: F401  (registers the envs)
from benchmarks import provenance
from benchmarks.results import write_json
from causal_envs.datasets import (
    TransitionDataset,
    generate_dataset,
    load_dataset,
    to_minari,
    transitions_from_minari,
)
from causal_envs.datasets.nav2d import generate_nav2d_empirical
from causal_envs.envs.coinrun import procgen_gym3_env
from causal_envs.tasks import make_sequence

__all__ = ["main", "run"]


def _interleaved(contenders: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Best rate of each contender over ``repeats`` rounds, one run of each per round.

    Interleaving makes clock-speed drift and background load fall on the peer and on ours
    alike, so their ratio is steadier than that of back-to-back blocks.
    """
    best = dict.fromkeys(contenders, 0.0)
    for _ in range(repeats):
        for name, once in contenders.items():
            best[name] = max(best[name], once())
    return best


def env_timer(env: gym.Env, steps: int) -> Callable[[], float]:
    """A function that returns the steps/s of one run of ``env`` (seeded random actions drawn
    beforehand, reset on episode end)."""
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(1024)]

    def once() -> float:
        env.reset(seed=0)
        start = time.perf_counter()
        for i in range(steps):
            _, _, terminated, truncated, _ = env.step(actions[i & 1023])
            if terminated or truncated:
                env.reset()
        return steps / (time.perf_counter() - start)

    return once


def single_env_timer(env_id: str, steps: int, **kwargs: Any) -> Callable[[], float]:
    """`env_timer` of ``gym.make(env_id)`` with its default wrappers."""
    return env_timer(gym.make(env_id, **kwargs), steps)


def vector_env_timer(env_id: str, num_envs: int, steps: int, **kwargs: Any) -> Callable[[], float]:
    """A function that returns the env-steps/s of one run of the native vector env."""
    envs = gym.make_vec(
        env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs
    )
    envs.action_space.seed(0)
    actions = [envs.action_space.sample() for _ in range(8)]

    def once() -> float:
        envs.reset(seed=0)
        start = time.perf_counter()
        for i in range(steps):
            envs.step(actions[i & 7])
        return num_envs * steps / (time.perf_counter() - start)

    return once


def procgen_raw_timer(steps: int) -> Callable[[], float]:
    """Steps/s of procgen's own gym3 CoinRun (one game), the peer of our wrapper."""
    game = procgen_gym3_env()(
        num=1,
        env_name="coinrun",
        num_levels=500,
        start_level=0,
        distribution_mode="easy",
        rand_seed=0,
    )
    actions = np.random.default_rng(0).integers(0, 15, size=(1024, 1))

    def once() -> float:
        start = time.perf_counter()
        for i in range(steps):
            game.act(actions[i & 1023])
            game.observe()
        return steps / (time.perf_counter() - start)

    return once


def dataset_times(repeats: int, one_step_episodes: int = 1_000) -> dict[str, float]:
    """Seconds to generate the 40k Nav2D dataset in memory, to write it to a cache and to
    load it back (the flat copy); then Minari's side of the same cache: reading its episodes
    through Minari (`transitions_from_minari`), and the HDF5 bytes an episode takes; and
    `to_minari` writing ``one_step_episodes`` unchained rows (each its own episode, as
    MoCoDA's generated transitions are), per episode."""

    def gen() -> float:
        start = time.perf_counter()
        generate_nav2d_empirical(seed=0)
        return time.perf_counter() - start

    generate_s = min(gen() for _ in range(repeats))
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        folder = generate_dataset("nav2d/empirical", root=root)
        cache_s = time.perf_counter() - start
        start = time.perf_counter()
        data = load_dataset("nav2d/empirical", root=root)
        load_s = time.perf_counter() - start
        minari_file = next(Path(folder).rglob("main_data.hdf5"))
        start = time.perf_counter()
        stored = minari.MinariDataset(minari_file.parent)
        read_s = time.perf_counter() - start
        start = time.perf_counter()
        transitions_from_minari(stored)
        read_s += time.perf_counter() - start
        # every 37th row: no row's next observation is the next row's observation
        rows = np.arange(one_step_episodes) * 37 % len(data)
        loose = TransitionDataset(
            observations=data.observations[rows],
            actions=data.actions[rows],
            rewards=data.rewards[rows],
            next_observations=data.next_observations[rows],
            terminals=data.terminals[rows],
            episode_ends=np.ones(len(rows), np.bool_),
            metadata={"env_id": "CausalNav2D-v0"},
        )
        start = time.perf_counter()
        written = to_minari(loose, "bench/one-step-v0", root=Path(root) / "loose")
        write_s = time.perf_counter() - start
        loose_file = next((Path(root) / "loose").rglob("main_data.hdf5"))
        if written.total_episodes != one_step_episodes:
            raise RuntimeError(f"wrote {written.total_episodes} episodes, not {one_step_episodes}")
        episodes = stored.total_episodes
        return {
            "generate_s": generate_s,
            "generate_and_cache_s": cache_s,
            "load_cached_s": load_s,
            "minari_episodes": episodes,
            "minari_read_s": read_s,
            "minari_read_per_episode_s": read_s / episodes,
            "minari_bytes_per_episode": minari_file.stat().st_size / episodes,
            "one_step_episodes": one_step_episodes,
            "to_minari_per_one_step_episode_s": write_s / one_step_episodes,
            "to_minari_bytes_per_one_step_episode": loose_file.stat().st_size / one_step_episodes,
        }


def run(quick: bool = False) -> dict[str, Any]:
    """Measure everything; returns the figures (also printed by `main`)."""
    single_steps, vec_steps, repeats = (5_000, 50, 2) if quick else (50_000, 300, 7)
    n = 4096
    single = {
        "CartPole-v1": single_env_timer("CartPole-v1", single_steps),
        "CausalNav2D-v0": single_env_timer("CausalNav2D-v0", single_steps),
        "CausalNav2D-v0+mask": single_env_timer(
            "CausalNav2D-v0", single_steps, include_mask_in_info=True
        ),
        "CausalCartPole-v0": single_env_timer("CausalCartPole-v0", single_steps),
        "CausalCartPole-v0+friction": single_env_timer(
            "CausalCartPole-v0", single_steps, friction_cart=(3e-4, 5e-4, 7e-4)
        ),
    }
    vector = {
        "CartPole-v1": vector_env_timer("CartPole-v1", n, vec_steps),
        "CausalNav2D-v0": vector_env_timer("CausalNav2D-v0", n, vec_steps),
        "CausalNav2D-v0+mask": vector_env_timer(
            "CausalNav2D-v0", n, vec_steps, include_mask_in_info=True
        ),
        "CausalCartPole-v0": vector_env_timer("CausalCartPole-v0", n, vec_steps),
        "CausalCartPole-v0 pixels 64x64": vector_env_timer(
            "CausalCartPole-v0", n, max(2, vec_steps // 20), obs_type="pixels"
        ),
    }
    wrapper_steps = 500 if quick else 3_000
    atari = make_sequence("atari/Pong")
    coinrun = make_sequence("coinrun")
    wrappers = {
        "ALE Pong raw (gym.make, frameskip 4)": env_timer(
            gym.make("ALE/Pong-v5", **atari[0].kwargs), wrapper_steps
        ),
        "ALE Pong task (+ 64x64 resize)": env_timer(atari.make(0), wrapper_steps),
        "procgen CoinRun raw (gym3)": procgen_raw_timer(wrapper_steps),
        "procgen CoinRun task (Gymnasium)": env_timer(coinrun.make(0), wrapper_steps),
    }
    mujoco_steps = 500 if quick else 5_000
    mujoco = {
        "Pusher-v5": single_env_timer("Pusher-v5", mujoco_steps),
        "HookSweep2-v1": single_env_timer("HookSweep2-v1", mujoco_steps),
    }
    machine = provenance.this_machine()
    return {
        "profile": "quick" if quick else "full",
        "machine": machine,
        "repeats": repeats,
        "single": _interleaved(single, repeats),
        "vector_4096": _interleaved(vector, repeats),
        "wrappers": _interleaved(wrappers, repeats),
        "mujoco": _interleaved(mujoco, repeats),
        "dataset_nav2d_40k": dataset_times(repeats),
    }


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(r: dict[str, Any]) -> str:
    """The results as a text table with ratios against CartPole-v1 and the targets."""
    lines = [f"env-speed ({r['profile']} profile; {r['machine']})", ""]
    for group, title in (
        ("single", "single env (gym.make, default wrappers)"),
        ("vector_4096", "native vector env, 4096 envs"),
    ):
        peer = r[group]["CartPole-v1"]
        lines.append(f"{title:44s} {'steps/s':>14s} {'vs CartPole-v1':>15s}")
        for name, rate in r[group].items():
            ratio = "(frames)" if "pixels" in name else f"{rate / peer:.2f}x"
            lines.append(f"  {name:42s} {rate:14,.0f} {ratio:>15s}")
        lines.append("")
    w = r.get("wrappers", {})
    if w:
        lines.append(f"{'task-sequence wrappers':44s} {'steps/s':>14s} {'vs raw':>15s}")
        pairs = (
            ("ALE Pong raw (gym.make, frameskip 4)", "ALE Pong task (+ 64x64 resize)"),
            ("procgen CoinRun raw (gym3)", "procgen CoinRun task (Gymnasium)"),
        )
        for raw, ours in pairs:
            lines.append(f"  {raw:42s} {w[raw]:14,.0f} {1:14.2f}x")
            lines.append(f"  {ours:42s} {w[ours]:14,.0f} {w[ours] / w[raw]:14.2f}x")
        lines.append("")
    m = r.get("mujoco", {})
    if m:
        peer = m["Pusher-v5"]
        lines.append(f"{'MuJoCo, single env (Gymnasium Pusher-v5 peer)':44s} {'steps/s':>14s}")
        for name, rate in m.items():
            lines.append(
                f"  {name:42s} {rate:14,.0f} {rate / peer:14.2f}x   ({1e3 / rate:.2f} ms a step)"
            )
        lines.append("")
    nav = r["single"]["CausalNav2D-v0"] / r["single"]["CartPole-v1"]
    vec = r["vector_4096"]["CausalNav2D-v0+mask"]
    cp = r["single"].get("CausalCartPole-v0", 0) / r["single"]["CartPole-v1"]
    cpv = r["vector_4096"].get("CausalCartPole-v0", 0)
    pix = r["vector_4096"].get("CausalCartPole-v0 pixels 64x64", 0)
    d = r["dataset_nav2d_40k"]
    lines += [
        f"Nav2D 40k dataset: generated in {d['generate_s']:.3f} s; generated + written to the "
        f"Minari cache in {d['generate_and_cache_s']:.2f} s; loaded from the cache in "
        f"{d['load_cached_s']:.3f} s",
        *(
            [
                f"  Minari's side: {d['minari_episodes']:,} episodes read through Minari in "
                f"{d['minari_read_s']:.2f} s ({1e3 * d['minari_read_per_episode_s']:.1f} ms an "
                f"episode, {d['minari_read_s'] / d['load_cached_s']:.0f}x the flat load), "
                f"{d['minari_bytes_per_episode'] / 1e3:.1f} kB of HDF5 an episode",
                f"  to_minari of {d['one_step_episodes']:,} one-step episodes: "
                f"{1e3 * d['to_minari_per_one_step_episode_s']:.1f} ms and "
                f"{d['to_minari_bytes_per_one_step_episode'] / 1e3:.1f} kB an episode",
            ]
            if "minari_read_s" in d
            else []
        ),
        "",
        "targets:",
        f"  single env >= 1.0x CartPole-v1       {nav:6.2f}x   {'met' if nav >= 1 else 'MISSED'}",
        f"  vector env with masks >= 1e7 steps/s {vec:9.3g}   {'met' if vec >= 1e7 else 'MISSED'}",
        f"  40k dataset generated in < 2 s       {d['generate_s']:6.3f} s "
        f"{'met' if d['generate_s'] < 2 else 'MISSED'}",
        f"  CausalCartPole single >= 0.8x CartPole-v1  {cp:5.2f}x  {_verdict(cp >= 0.8)}",
        f"  CausalCartPole vector >= 1e6 steps/s  {cpv:9.3g}   {_verdict(cpv >= 1e6)}",
        f"  CartPole pixels >= 20k frames/s       {pix:9.3g}   {_verdict(pix >= 2e4)}",
    ]
    if w:
        for raw, ours in pairs:
            ratio = w[ours] / w[raw]
            lines.append(
                f"  {ours[:30]:30s} >= 0.9x raw  {ratio:5.2f}x  "
                f"{'met' if ratio >= 0.9 else 'MISSED'}"
            )
    return "\n".join(lines)


def main(quick: bool = False) -> dict[str, Any]:
    r = run(quick=quick)
    print(report(r))
    print(f"\nresults written to {write_json('env_speed', r)}")
    return r


if __name__ == "__main__":
    import sys

    main(quick="--quick" in sys.argv)
