"""to_d3rlpy: every transition of a dataset reaches d3rlpy exactly, and d3rlpy trains on it."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import causal_envs  # noqa: F401  (registers the envs)
from causal_envs.datasets import TransitionDataset, load_dataset, to_d3rlpy
from causal_envs.datasets.export import as_transition_dataset, transition_runs

d3rlpy = pytest.importorskip("d3rlpy")


def _rows(buffer) -> dict[str, np.ndarray]:
    """Every transition the buffer's picker gives, in order."""
    rows: dict[str, list] = {k: [] for k in ("o", "a", "r", "n", "d")}
    for episode in buffer.episodes:
        for i in range(episode.transition_count):
            t = buffer.transition_picker(episode, i)
            for k, v in zip(
                "oarnd",
                (t.observation, t.action, t.reward[0], t.next_observation, t.terminal),
                strict=True,
            ):
                rows[k].append(v)
    return {k: np.asarray(v) for k, v in rows.items()}


def _assert_exact(buffer, data: TransitionDataset) -> None:
    rows = _rows(buffer)
    assert buffer.transition_count == len(data) == len(rows["o"])
    np.testing.assert_array_equal(rows["o"], data.observations)
    np.testing.assert_array_equal(rows["a"].reshape(len(data), -1), data.actions)
    np.testing.assert_array_equal(rows["r"], data.rewards)
    np.testing.assert_array_equal(rows["n"], data.next_observations)
    np.testing.assert_array_equal(rows["d"], data.terminals.astype(np.float32))


@pytest.fixture(scope="module")
def nav2d(session_data_dir) -> TransitionDataset:
    return load_dataset("nav2d/empirical", root=session_data_dir)


def test_nav2d_keeps_all_40000_transitions_and_their_next_states(nav2d):
    buffer = to_d3rlpy(nav2d)
    _assert_exact(buffer, nav2d)
    # mid-episode terminals do not cut a run: one d3rlpy episode per behaviour episode
    assert len(buffer.episodes) == nav2d.n_episodes
    inner = nav2d.terminals & ~nav2d.episode_ends
    assert inner.sum() > 0  # the pitfall's 416 cases exist and are kept with their true s'


def test_the_naive_mdpdataset_call_loses_transitions_to_d3rlpy(nav2d):
    """What the README warns about: MDPDataset(**get_dataset()) drops the episode-final
    transitions of time-limited episodes and zeroes next states at inner terminals."""
    d4rl = nav2d.to_d4rl()
    naive = d3rlpy.dataset.MDPDataset(
        d4rl["observations"],
        d4rl["actions"],
        d4rl["rewards"],
        d4rl["terminals"],
        d4rl["timeouts"],
    )
    assert naive.transition_count < len(nav2d)
    assert to_d3rlpy(d4rl).transition_count == len(nav2d)


def test_a_d4rl_dict_from_get_dataset_is_kept_exactly(nav2d):
    d4rl = gym.make("CausalNav2D-v0").unwrapped.get_dataset()
    data = as_transition_dataset(d4rl)
    buffer = to_d3rlpy(d4rl)
    _assert_exact(buffer, data)


def test_independent_transitions_become_one_step_runs():
    rng = np.random.default_rng(0)
    n = 50
    data = TransitionDataset(
        observations=rng.random((n, 3), dtype=np.float32),
        actions=rng.random((n, 2), dtype=np.float32),
        rewards=rng.random(n, dtype=np.float32),
        next_observations=rng.random((n, 3), dtype=np.float32),
        terminals=rng.random(n) < 0.3,
        episode_ends=np.ones(n, np.bool_),
    )
    assert len(transition_runs(data)) == n
    _assert_exact(to_d3rlpy(data), data)


def test_discrete_actions_from_the_metadata(session_data_dir):
    data = load_dataset("cartpole/task1", root=session_data_dir)
    assert data.metadata["action_n"] == 2
    buffer = to_d3rlpy(data)
    assert buffer.dataset_info.action_space == d3rlpy.ActionSpace.DISCRETE
    assert buffer.dataset_info.action_size == 2
    _assert_exact(buffer, data)
    with pytest.raises(ValueError, match="integer action"):
        to_d3rlpy(
            TransitionDataset(**{**_arrays(data), "actions": data.actions + 0.5}), discrete=True
        )


def _arrays(data: TransitionDataset) -> dict:
    from causal_envs.datasets.transitions import ARRAY_FIELDS

    return {name: getattr(data, name) for name in ARRAY_FIELDS}


def test_bad_input_is_refused():
    with pytest.raises(TypeError, match="D4RL dict"):
        to_d3rlpy([1, 2, 3])
    with pytest.raises(ValueError, match="lacks"):
        to_d3rlpy({"observations": np.zeros((2, 2))})


def test_d3rlpy_td3plusbc_trains_on_it(nav2d):
    buffer = to_d3rlpy(nav2d)
    d3rlpy.seed(0)
    algo = d3rlpy.algos.TD3PlusBCConfig(batch_size=64).create(device="cpu:0")
    from d3rlpy.logging import NoopAdapterFactory

    algo.fit(
        buffer,
        n_steps=300,
        n_steps_per_epoch=300,
        logger_adapter=NoopAdapterFactory(),
        show_progress=False,
    )
    action = algo.predict(nav2d.observations[:4])
    assert action.shape == (4, 2) and np.isfinite(action).all()
