"""get_dataset / get_normalized_score on every env family with named datasets, the reference
scores measured at generation, and the Minari metadata (author, permalink, requirements,
episode infos) that Minari's own functions read."""

from __future__ import annotations

import gymnasium as gym
import minari
import numpy as np
import pytest

import causal_envs  # noqa: F401  (registers the envs)
from causal_envs.datasets import d4rl, generate_dataset, get_spec, load_dataset
from causal_envs.datasets.hooksweep import generate_hooksweep2_expert
from causal_envs.datasets.reference import average_return, nav2d_straight_line, random_policy
from causal_envs.tasks import make_sequence

D4RL_KEYS = ["actions", "next_observations", "observations", "rewards", "terminals", "timeouts"]


def _minari(name: str, root, monkeypatch) -> minari.MinariDataset:
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return minari.load_dataset(get_spec(name).dataset_id())


def test_nav2d_reference_scores_reach_minari_and_the_env(session_data_dir, monkeypatch):
    data = load_dataset("nav2d/empirical", root=session_data_dir)
    low, high = data.metadata["ref_min_score"], data.metadata["ref_max_score"]
    assert low == -70.0  # a random policy never reaches the goal box in 70 steps
    assert -25 < high < -15  # the straight line: about 18 steps from the start box
    ds = _minari("nav2d/empirical", session_data_dir, monkeypatch)
    np.testing.assert_allclose(minari.get_normalized_score(ds, np.array([low, high])), [0, 1])
    env = gym.make("CausalNav2D-v0").unwrapped
    np.testing.assert_allclose(env.get_normalized_score([low, high, (low + high) / 2]), [0, 1, 0.5])


def test_the_straight_line_controller_is_the_fastest_policy_we_know():
    env = gym.make("CausalNav2D-v0")
    score, text = nav2d_straight_line(env, seed=3, n_episodes=10)
    assert "straight-line" in text
    assert score > average_return(env, random_policy, 10, seed=3)
    # a controller that ignores the entanglement takes longer in the top-right quadrant
    naive = average_return(env, lambda e, o: np.ones(2, np.float32), 10, seed=3)
    assert score >= naive


def test_nav2d_minari_metadata_and_episode_infos(session_data_dir, monkeypatch):
    ds = _minari("nav2d/empirical", session_data_dir, monkeypatch)
    meta = ds.storage.metadata
    assert meta["author"] == {"the causal-envs developers"}
    assert "causal-envs" in meta["code_permalink"] and "nav2d/empirical" in meta["code_permalink"]
    assert any(r.startswith("causal-envs==") for r in meta["requirements"])
    episode = next(ds.iterate_episodes())
    steps = len(episode.actions)
    assert episode.infos["causal_mask"].shape == (steps + 1, 4, 2)
    assert episode.infos["is_success"].shape == (steps + 1,)
    env = ds.recover_environment().unwrapped
    expected = env.local_mask(episode.observations[:-1], episode.actions)
    np.testing.assert_array_equal(episode.infos["causal_mask"][1:], expected)


def test_cartpole_get_dataset_finds_the_task_of_the_envs_physics(session_data_dir):
    env = gym.make("CausalCartPole-v0").unwrapped
    d = env.get_dataset()
    assert sorted(d) == D4RL_KEYS
    assert len(d["observations"]) == len(load_dataset("cartpole/task1"))
    seq = make_sequence("cartpole", seed=0, obs_type="state")
    later = seq.make(2).unwrapped  # task 3: friction, one more observed element
    assert later.get_dataset()["observations"].shape[1] == 5
    np.testing.assert_allclose(env.get_normalized_score([500.0]), [1.0])
    data = load_dataset("cartpole/task1")
    assert data.metadata["ref_min_score"] == pytest.approx(data.episode_returns().mean())
    with pytest.raises(ValueError, match="match none"):
        gym.make("CausalCartPole-v0", gravity=3.0).unwrapped.get_dataset()
    with pytest.raises(ValueError, match="not a cartpole dataset"):
        env.get_dataset(name="nav2d/empirical")


def test_synthetic_get_dataset_and_its_missing_reference(session_data_dir):
    env = make_sequence("synthetic", seed=0).make(1).unwrapped
    d = env.get_dataset()
    assert d["observations"].shape == (25_600, 128)
    with pytest.raises(ValueError, match="no known optimum"):
        env.get_normalized_score([0.0])


def test_hooksweep2_relabel_reproduces_the_envs_rewards():
    data = generate_hooksweep2_expert(150, seed=4, workers=1)
    for env_id in ("HookSweep2Source-v1", "HookSweep2-v1"):
        env = gym.make(env_id).unwrapped
        relabelled = d4rl.hooksweep2.relabel(env, data)
        np.testing.assert_allclose(relabelled.rewards, data.rewards, atol=1e-6)
        assert not relabelled.terminals.any()
    with pytest.raises(ValueError, match="not a hooksweep2 dataset"):
        d4rl.hooksweep2.dataset_name(env, 0, "cartpole/task1")


def test_generation_stores_the_reference_scores_once(tmp_path):
    generate_dataset("cartpole/task2", root=tmp_path)
    meta = load_dataset("cartpole/task2", root=tmp_path).metadata
    assert meta["ref_max_score"] == 500.0
    assert "uniform random" in meta["ref_min_policy"]
