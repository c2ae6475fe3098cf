"""The speed benchmark runs and reports ratios (tiny budgets: this checks the code, not speed)."""

import json

from benchmarks import env_speed
from benchmarks.cli import main


def test_rates_are_measured():
    rates = env_speed._interleaved(
        {
            "single": env_speed.single_env_timer("CausalNav2D-v0", steps=300),
            "vector": env_speed.vector_env_timer(
                "CausalNav2D-v0", 64, steps=5, include_mask_in_info=True
            ),
        },
        repeats=2,
    )
    assert rates["single"] > 0 and rates["vector"] > 0
    times = env_speed.dataset_times(repeats=1, one_step_episodes=20)
    assert 0 < times["generate_s"] < times["generate_and_cache_s"]
    # Minari's side of the same cache: every episode read, its bytes, one-step writes
    assert times["minari_episodes"] > 1000 and times["minari_read_s"] > 0
    assert times["minari_bytes_per_episode"] > 1000
    assert times["one_step_episodes"] == 20 and times["to_minari_per_one_step_episode_s"] > 0


def test_mujoco_envs_are_timed_beside_gymnasiums():
    rates = env_speed._interleaved(
        {
            "Pusher-v5": env_speed.single_env_timer("Pusher-v5", steps=20),
            "HookSweep2-v1": env_speed.single_env_timer("HookSweep2-v1", steps=20),
        },
        repeats=1,
    )
    assert rates["Pusher-v5"] > 0 and rates["HookSweep2-v1"] > 0


def test_report_names_the_peer_and_targets():
    r = {
        "profile": "quick",
        "machine": "test",
        "single": {"CartPole-v1": 100.0, "CausalNav2D-v0": 250.0, "CausalNav2D-v0+mask": 200.0},
        "vector_4096": {"CartPole-v1": 1e7, "CausalNav2D-v0": 2e7, "CausalNav2D-v0+mask": 5e6},
        "dataset_nav2d_40k": {
            "generate_s": 0.03,
            "generate_and_cache_s": 2.5,
            "load_cached_s": 0.005,
            "minari_episodes": 100,
            "minari_read_s": 0.5,
            "minari_read_per_episode_s": 0.005,
            "minari_bytes_per_episode": 20_000.0,
            "one_step_episodes": 10,
            "to_minari_per_one_step_episode_s": 0.002,
            "to_minari_bytes_per_one_step_episode": 14_000.0,
        },
        "mujoco": {"Pusher-v5": 1000.0, "HookSweep2-v1": 500.0},
    }
    text = env_speed.report(r)
    assert "100 episodes read through Minari in 0.50 s (5.0 ms an episode, 100x" in text
    assert "2.0 ms and 14.0 kB an episode" in text
    assert "vs CartPole-v1" in text and "2.50x" in text and "0.50x" in text
    lines = {" ".join(line.split()) for line in text.splitlines()}  # whitespace aside
    assert "single env >= 1.0x CartPole-v1 2.50x met" in lines
    assert "vector env with masks >= 1e7 steps/s 5e+06 MISSED" in lines
    assert "HookSweep2-v1 500 0.50x (2.00 ms a step)" in lines


def test_cli_quick_run_writes_results(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(
        env_speed,
        "run",
        lambda quick: {
            "profile": "quick",
            "machine": "m",
            "single": {"CartPole-v1": 1.0, "CausalNav2D-v0": 2.0, "CausalNav2D-v0+mask": 2.0},
            "vector_4096": {"CartPole-v1": 1.0, "CausalNav2D-v0": 2e7, "CausalNav2D-v0+mask": 2e7},
            "dataset_nav2d_40k": {
                "generate_s": 0.1,
                "generate_and_cache_s": 1.0,
                "load_cached_s": 0.01,
            },
        },
    )
    assert main(["bench", "env-speed", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "results written to" in out
    path = out.strip().split("results written to ")[-1]
    record = json.loads(open(path).read())
    assert record["profile"] == "quick" and record["provenance"]["command"]
