"""The Nav2D benchmark end to end on its smoke profile, its resume, and its cross-check."""

import json

import gymnasium as gym
import numpy as np
import pytest

from benchmarks import mocoda_nav2d as bench
from benchmarks.mocoda_profiles import NAV2D_DATASETS, OFFLINE_AGENTS
from benchmarks.results import output_dir


def cell_id(seed, dataset, agent):
    return f"seed={seed}/dataset={dataset}/agent={agent}"


@pytest.mark.smoke
def test_smoke_run_fills_every_cell_resumes_and_plots(capsys, monkeypatch):
    state = bench.main("smoke", fresh=True, crosscheck=True)
    out = capsys.readouterr().out
    assert len(state["cells"]) == 5 * 3 + 1  # and the d3rlpy cross-check
    for d in NAV2D_DATASETS:
        for a in ("td3bc", "bcq", "cql"):
            cell = state["cells"][cell_id(0, d, a)]
            assert 0 < cell["mean_steps"] <= 70 and 0 <= cell["success_rate"] <= 1
            assert cell["curve_steps"], "no evaluation during training"
    held = {d: state["cells"][cell_id(0, d, "td3bc")]["data"] for d in NAV2D_DATASETS}
    # the empirical rows are the simulator's own, the generated ones the models'; uniform
    # actions hold the diagonal the data's L-shaped route lacks
    assert held["emp"]["label_error_x100"] < 1e-3
    assert all(held[d]["label_error_x100"] > 0 for d in ("dyn", "mocoda", "mocoda-u", "rand"))
    assert held["rand"]["diagonal_action_fraction"] > held["emp"]["diagonal_action_fraction"]
    assert "what each dataset holds" in out and "average steps to the goal" in out
    verdict = bench.claim_verdict(list(state["cells"].values()))
    assert f"verdict: {verdict}" in out and verdict.outcome != "reproduced"  # one seed
    cross = state["summary"]["crosscheck"]
    assert "d3rlpy TD3+BC" in out and cross["d3rlpy_updates_per_s"] > 0
    saved = json.loads((output_dir() / "mocoda_nav2d_smoke.json").read_text())
    assert set(saved["summary"]["table"]) == set(NAV2D_DATASETS)
    assert len(list((output_dir() / "mocoda_nav2d_smoke" / "cells").glob("*.json"))) == 16
    for name in ("curves", "trajectories"):
        assert (output_dir() / f"mocoda_nav2d_smoke_{name}.png").stat().st_size > 10_000

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished cell was recomputed")

    monkeypatch.setattr(bench, "_run_cell", must_not_run)
    monkeypatch.setattr(bench, "crosscheck_d3rlpy", must_not_run)
    again = bench.main("smoke")
    assert "resuming: 16 finished cells" in capsys.readouterr().out
    assert again["summary"] == state["summary"]


@pytest.mark.smoke
def test_an_interrupted_run_keeps_finished_cells_and_selection_works(monkeypatch):
    calls = []
    real = bench._run_cell

    def flaky(*args, **kwargs):
        calls.append(args[1:4:2])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(bench, "_run_cell", flaky)
    with pytest.raises(KeyboardInterrupt):
        bench.main("smoke", fresh=True, crosscheck=False)
    stored = list((output_dir() / "mocoda_nav2d_smoke" / "cells").glob("*.json"))
    assert len(stored) == 2  # the third cell was interrupted: no file, it will be redone
    monkeypatch.setattr(bench, "_run_cell", real)
    only_bcq = bench.main("smoke", crosscheck=False, where={"agent": {"bcq"}})
    assert sorted(only_bcq["cells"]) == sorted(cell_id(0, d, "bcq") for d in NAV2D_DATASETS)
    # the finished cells are resumed, not recomputed (one agent's cells: short for the suite;
    # the full resume is test_smoke_run_fills_every_cell_resumes_and_plots)
    finished = calls[:2]
    agents = {a for _, a in finished}
    recomputed = []

    def counting(*args, **kwargs):
        recomputed.append(args[1:4:2])
        return real(*args, **kwargs)

    monkeypatch.setattr(bench, "_run_cell", counting)
    state = bench.main("smoke", crosscheck=False, where={"agent": agents})
    assert len(state["cells"]) == 5 * len(agents)
    assert not set(finished) & set(recomputed)


def test_a_selection_without_agent_cells_draws_nothing(tmp_path):
    """`--cells agent=td3bc-vs-d3rlpy` runs the cross-check alone: no curves to draw."""
    assert bench.plot([], "smoke", tmp_path) == []


def test_the_profiles_name_the_offline_agents():
    from agents import AGENTS

    assert OFFLINE_AGENTS == tuple(AGENTS)


def test_the_authors_metric_averages_the_last_five_evaluations_failures_at_71():
    """The authors' figure: the last five evaluations during training, a failure counted 71
    (ours count 70), so 10% failures over 20 steps read 20 * 0.9 + 70 * 0.1 + 0.1."""

    def cell(seed, n_evaluations):
        steps = [[100 * (i + 1), 70.0 if i < 3 else 25.0] for i in range(n_evaluations)]
        success = [[100 * (i + 1), 0.0 if i < 3 else 0.9] for i in range(n_evaluations)]
        return {
            "seed": seed,
            "dataset": "mocoda-u",
            "agent": "td3bc",
            "mean_steps": 25.0,
            "success_rate": 0.9,
            "curve_steps": steps,
            "curve_success": success,
        }

    row = bench.table([cell(0, 8), cell(1, 8)], ("td3bc",))["mocoda-u"]["td3bc"]
    assert row["authors_steps_mean"] == pytest.approx(25.1)
    assert row["authors_steps_by_seed"] == pytest.approx([25.1, 25.1])
    short = bench.table([cell(0, 4)], ("td3bc",))["mocoda-u"]["td3bc"]
    assert "authors_steps_mean" not in short  # fewer than five evaluations


def test_a_profile_names_its_parent_model():
    from dataclasses import replace

    p = bench.PROFILES["authors-parents"]
    assert p.parents == "authors" and set(p.datasets) == {"emp", "mocoda-u"}
    with pytest.raises(ValueError, match="parents must be among"):
        replace(p, parents="theirs")


def test_data_stats_count_the_quadrant_the_diagonal_and_the_labels_error():
    from causal_envs.datasets import TransitionDataset

    s = np.array([[0.1, 0.1], [0.6, 0.7], [0.6, 0.7], [0.9, 0.2]], np.float32)
    a = np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 0.0], [-0.2, 0.9]], np.float32)
    truth = gym.make(bench.ENV_ID).unwrapped.transition_fn(s, a)
    off = truth.copy()
    off[0, 0] += 0.04  # one label 0.04 off: a mean error of 1.0 x100 over the four rows
    data = TransitionDataset(
        observations=s,
        actions=a,
        rewards=np.zeros(4, np.float32),
        next_observations=off,
        terminals=np.zeros(4, bool),
        episode_ends=np.ones(4, bool),
    )
    stats = bench.data_stats(data)
    assert stats["entangled_fraction"] == 0.5 and stats["diagonal_action_fraction"] == 0.5
    assert stats["entangled_diagonal_fraction"] == 0.25
    assert stats["label_error_x100"] == pytest.approx(1.0, abs=1e-4)
