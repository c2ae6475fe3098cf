"""Gymnasium's own environment checks (its ``tests/envs/test_envs.py``) on every env this
package registers: the env checker with no unexpected warning, same-seed rollouts equal step
by step, every render mode, and pickling mid-episode."""

from __future__ import annotations

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence

import causal_envs  # noqa: F401  # registers the envs

#: the warnings Gymnasium's own test accepts: unbounded observations (the synthetic POMDP's)
ACCEPTED_WARNINGS = {
    "\x1b[33mWARN: A Box observation space minimum value is -infinity. This is probably too "
    "low.\x1b[0m",
    "\x1b[33mWARN: A Box observation space maximum value is infinity. This is probably too "
    "high.\x1b[0m",
}
REGISTERED = [s for s in gym.registry.values() if str(s.entry_point).startswith("causal_envs.")]
IDS = [s.id for s in REGISTERED]


def test_every_env_is_covered():
    assert {"CausalNav2D-v0", "CausalCartPole-v0", "SyntheticPOMDP-v0", "CoinRun-v0"} <= set(IDS)
    assert {"HookSweep2-v1", "HookSweep2Source-v1"} <= set(IDS)


@pytest.mark.parametrize("spec", REGISTERED, ids=IDS)
def test_passes_the_env_checker_without_warnings(spec):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = spec.make(disable_env_checker=True).unwrapped
        check_env(env)
        env.close()
    assert [str(w.message) for w in caught if str(w.message) not in ACCEPTED_WARNINGS] == []


@pytest.mark.parametrize("spec", REGISTERED, ids=IDS)
def test_same_seed_rollouts_are_equal(spec):
    env_1, env_2 = spec.make(disable_env_checker=True), spec.make(disable_env_checker=True)
    first_1, first_2 = env_1.reset(seed=0), env_2.reset(seed=0)
    assert data_equivalence(first_1, first_2)
    env_1.action_space.seed(0)
    for t in range(50):
        action = env_1.action_space.sample()
        step_1, step_2 = env_1.step(action), env_2.step(action)
        assert data_equivalence(step_1, step_2), f"step {t} differs"
        assert env_1.observation_space.contains(step_1[0])
        if step_1[2] or step_1[3]:
            env_1.reset(seed=0)
            env_2.reset(seed=0)
    env_1.close()
    env_2.close()


def _check_frame(frame) -> None:
    assert isinstance(frame, np.ndarray) and frame.dtype == np.uint8
    assert frame.ndim == 3 and frame.shape[2] == 3


@pytest.mark.parametrize("spec", REGISTERED, ids=IDS)
def test_render_modes(spec):
    env = spec.make()
    assert "rgb_array" in env.metadata["render_modes"]
    assert env.metadata.get("render_fps", 0) > 0  # RecordVideo needs it
    for mode in env.metadata["render_modes"]:
        rendered_env = spec.make(render_mode=mode)
        rendered_env.reset(seed=0)
        _check_frame(rendered_env.render())
        rendered_env.step(rendered_env.action_space.sample())
        _check_frame(rendered_env.render())
        rendered_env.close()
    env.close()


@pytest.mark.parametrize("spec", REGISTERED, ids=IDS)
def test_pickled_env_continues_the_same_episode(spec):
    env = spec.make()
    env.reset(seed=1)
    env.action_space.seed(1)
    for _ in range(5):
        env.step(env.action_space.sample())
    copy = pickle.loads(pickle.dumps(env))
    for _ in range(5):
        action = env.action_space.sample()
        assert data_equivalence(env.step(action), copy.step(action))
    assert data_equivalence(env.reset(seed=2), copy.reset(seed=2))
    env.close()
    copy.close()
