import numpy as np
import pytest

from causal_envs.datasets import hooksweep
from causal_envs.datasets.hooksweep import EPISODE_STEPS, generate_hooksweep2_expert
from causal_envs.datasets.registry import DATASETS


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(hooksweep, "CHUNK", 2)


def test_expert_data_layout_and_labels(small_chunks):
    data = generate_hooksweep2_expert(3 * EPISODE_STEPS - 10, seed=1, workers=1)
    assert len(data) == 3 * EPISODE_STEPS  # whole episodes
    assert data.observations.shape == (len(data), 22) and data.actions.shape == (len(data), 4)
    assert data.episode_ends.sum() == 3 and data.episode_ends[EPISODE_STEPS - 1]
    assert not data.terminals.any()
    # consecutive steps chain within an episode; goals (last 6) are fixed per episode
    inside = ~data.episode_ends[:-1]
    nxt, obs = data.next_observations[:-1], data.observations[1:]
    np.testing.assert_array_equal(nxt[inside], obs[inside])
    ep = data.observations[:EPISODE_STEPS, 16:]
    assert (ep == ep[0]).all()
    # the source task: exactly one box's goal is shifted to a side
    shifted = np.abs(data.observations[:, [16, 19]] - 1.85) > 0.2
    assert (shifted.sum(axis=1) == 1).all()
    assert np.all(data.actions <= 1) and np.all(data.actions >= -1)
    assert 0 <= data.metadata["expert_success_rate"] <= 1
    assert data.metadata["env_id"] == "HookSweep2Source-v1"


def test_same_data_for_any_number_of_workers(small_chunks):
    one = generate_hooksweep2_expert(3 * EPISODE_STEPS, seed=4, workers=1)
    two = generate_hooksweep2_expert(3 * EPISODE_STEPS, seed=4, workers=2)
    np.testing.assert_array_equal(one.observations, two.observations)
    np.testing.assert_array_equal(one.actions, two.actions)
    other = generate_hooksweep2_expert(EPISODE_STEPS, seed=5, workers=1)
    assert not np.array_equal(other.observations[:10], one.observations[:10])


def test_registered_and_validated():
    assert DATASETS["hooksweep2/expert"].env_id == "HookSweep2Source-v1"
    assert "1,000,000" in DATASETS["hooksweep2/expert"].description
    env = DATASETS["hooksweep2/expert-100k"].make_env(0)
    assert env.observation_space.shape == (22,)
    with pytest.raises(ValueError, match="positive integer"):
        generate_hooksweep2_expert(0)
