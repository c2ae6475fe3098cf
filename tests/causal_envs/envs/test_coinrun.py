import pickle
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

import causal_envs  # noqa: F401  (registers the envs)


@pytest.mark.parametrize(
    "kwargs", [{"num_levels": 1.5}, {"num_levels": True}, {"start_level": -1}, {"num_levels": "3"}]
)
def test_bad_settings_raise_instead_of_ending_the_interpreter(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        gym.make("CoinRun-v0", **kwargs).reset(seed=0)


def test_actions_are_checked_strictly():
    env = gym.make("CoinRun-v0")
    env.reset(seed=0)
    for bad in (1.7, "3", np.array([2]), 15, -1, True, 2.0):
        with pytest.raises(ValueError, match=r"action must be an integer in \[0, 15\)"):
            env.step(bad)
    for good in (3, np.int64(3), np.array(2)):  # what Discrete.sample() and RL libraries give
        env.step(good)
    env.close()


def test_closed_and_pickled_envs_play_on():
    env = gym.make("CoinRun-v0")
    env.reset(seed=0)
    copy = pickle.loads(pickle.dumps(env))
    a = env.step(1)[0]
    b = copy.step(1)[0]
    np.testing.assert_array_equal(a, b)  # the copy carries the game state
    env.close()
    env.close()  # twice is harmless
    env.reset(seed=0)  # a closed env builds a new game on reset
    env.close()
    copy.close()


def test_hundreds_of_envs_made_and_dropped_do_not_deadlock():
    """gym3's cffi lock once deadlocked garbage collection after a few hundred unclosed envs:
    in a subprocess with a deadline, so a hang is a failure and not a stuck suite."""
    code = (
        "import gc, gymnasium as gym, causal_envs\n"
        "for i in range(300):\n"
        "    env = gym.make('CoinRun-v0')\n"
        "    env.reset(seed=i)\n"
        "    env.step(0)\n"
        "    if i % 2:\n"
        "        env.close()\n"
        "    del env\n"
        "    if i % 50 == 0:\n"
        "        gc.collect()\n"
        "print('made 300')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "made 300" in proc.stdout
