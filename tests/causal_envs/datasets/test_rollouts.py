import os

import minari
import numpy as np
import pytest

from causal_envs.datasets import DATASETS, load_dataset
from causal_envs.datasets.rollouts import generate_task_rollouts


def test_synthetic_rollouts_are_100_episodes_of_256_steps():
    data = generate_task_rollouts("synthetic", task=2, seed=1)
    assert len(data) == 100 * 256 and data.n_episodes == 100
    assert data.observations.shape == (25_600, 128) and data.actions.shape == (25_600, 1)
    assert not data.terminals.any()
    meta = data.metadata
    assert meta["changes"] == ["state_expansion"] and meta["truth"]["new_latent_dims"] >= 3
    assert generate_task_rollouts("synthetic", 2, seed=1, n_episodes=3).equals(
        generate_task_rollouts("synthetic", 2, seed=1, n_episodes=3)
    )


def test_cartpole_rollouts_end_on_failure():
    data = generate_task_rollouts("cartpole", task=2, seed=0, n_episodes=10, obs_type="state")
    assert data.n_episodes == 10 and data.terminals.sum() == 10
    assert data.observations.shape[1] == 5  # friction observed in task 3
    with pytest.raises(ValueError, match="vector observations"):
        generate_task_rollouts("cartpole", task=0, n_episodes=1)  # pixels by default


def test_registered_rollout_datasets_round_trip_through_minari(tmp_path):
    assert {"synthetic/task1", "cartpole/task4"} <= set(DATASETS)
    data = load_dataset("cartpole/task4", seed=0, root=tmp_path)
    assert set(np.unique(data.actions)) <= set(range(6))
    os.environ["MINARI_DATASETS_PATH"] = str(tmp_path)
    try:
        ds = minari.load_dataset("causal-envs/cartpole/task4-v0")
        env = ds.recover_environment()
        assert env.action_space.n == 6 and env.observation_space.shape == (5,)
    finally:
        del os.environ["MINARI_DATASETS_PATH"]
