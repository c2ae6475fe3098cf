import numpy as np
import pytest

from causal_envs.datasets.nav2d import generate_nav2d_empirical
from causal_envs.envs.nav2d import CausalNav2DEnv, Nav2DModel


@pytest.fixture(scope="module")
def data():
    return generate_nav2d_empirical(seed=0)


def split(data):
    """(bottom_to_top, left_to_right) transition masks: the first 20k, then the next 20k."""
    first = np.zeros(len(data), bool)
    first[:20_000] = True
    return first, ~first


def test_sizes_and_dtypes(data):
    assert len(data) == 40_000
    assert data.observations.dtype == data.actions.dtype == np.float32
    assert data.episode_ends[19_999] and data.episode_ends[-1]  # each behaviour ends whole
    lengths = np.diff(data.episode_bounds(), axis=1).ravel()
    assert lengths.max() <= 70 and 1400 < data.n_episodes < 1700


def test_behaviours_follow_the_spec(data):
    b2t, l2r = split(data)
    starts = data.episode_bounds()[:, 0]
    s0 = data.observations[starts]
    up = starts < 20_000
    assert (s0[up, 0] >= 0.6).all() and (s0[up, 1] <= 0.15).all()
    assert (s0[~up, 0] <= 0.15).all() and (s0[~up, 1] <= 0.4).all()
    a = data.actions
    assert (np.abs(a[b2t, 0]) <= 0.05 + 1e-6).all()
    assert (a[b2t, 1] >= 0.35 - 1e-6).all() and (a[b2t, 1] <= 0.95 + 1e-6).all()
    assert (np.abs(a[l2r, 1]) <= 0.05 + 1e-6).all()
    assert (a[l2r, 0] >= 0.35 - 1e-6).all() and (a[l2r, 0] <= 0.95 + 1e-6).all()
    # the drift is drawn per step: it varies within an episode
    start, stop = data.episode_bounds()[0]
    assert np.std(a[start:stop, 1]) > 0.05
    # an episode ends when the moving coordinate passes 0.9 (unless it is the cut one)
    ends = np.flatnonzero(data.episode_ends)
    natural = ends[(ends != 19_999) & (ends != 39_999)]
    axis = np.where(natural < 20_000, 1, 0)
    assert (data.next_observations[natural, axis] > 0.9).all()
    inside = ~data.episode_ends
    moving = np.where(np.arange(len(data)) < 20_000, 1, 0)
    assert (data.next_observations[inside, moving[inside]] <= 0.9).all()


def test_transitions_are_the_env_dynamics(data):
    task = Nav2DModel()
    assert np.array_equal(task.dynamics(data.observations, data.actions), data.next_observations)
    bounds = data.episode_bounds()
    cont = np.ones(len(data), bool)
    cont[bounds[:, 0]] = False
    assert np.array_equal(data.observations[cont], data.next_observations[np.flatnonzero(cont) - 1])
    # the behaviours cross the entangled quadrant
    assert task.entangled(data.observations).mean() > 0.1


def test_labels_are_the_target_task(data):
    env = CausalNav2DEnv()
    args = (data.observations, data.actions, data.next_observations)
    assert np.array_equal(data.rewards, env.reward_fn(*args))
    assert np.array_equal(data.terminals, env.termination_fn(*args))
    assert 0 < data.terminals.sum() < 2000  # some bottom-to-top paths cross the goal box
    assert np.array_equal(data.timeouts, data.episode_ends & ~data.terminals)


def test_seeded(data):
    assert generate_nav2d_empirical(seed=0).equals(data)
    assert not generate_nav2d_empirical(seed=1).equals(data)


def test_bad_size():
    with pytest.raises(ValueError, match="n_per_behaviour"):
        generate_nav2d_empirical(n_per_behaviour=0)
    small = generate_nav2d_empirical(n_per_behaviour=50)
    assert len(small) == 100
