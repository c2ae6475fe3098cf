import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from causal_envs.tasks import SEQUENCES, Task, TaskSequence, make_sequence
from causal_envs.tasks.atari import ATARI_TASKS


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_every_task_of_every_sequence_passes_check_env(name):
    seq = make_sequence(name, seed=0)
    assert len(seq) in (3, 4) and not seq[0].changes
    for i in range(len(seq)):
        env = seq.make(i)
        if name.startswith("atari/") and i > 0:
            # ALE's env is checked in full on task 1; a later task differs by its mode and
            # difficulty only, which ALE validates when the game is made: reset and step it
            obs, _ = env.unwrapped.reset(seed=0)
            step = env.unwrapped.step(env.unwrapped.action_space.sample())
            assert env.unwrapped.observation_space.contains(obs) and len(step) == 5
        else:
            check_env(env.unwrapped, skip_render_check=True)
        if seq[i].wrap is not None:  # the wrapper's own spaces and determinism
            obs, _ = env.reset(seed=1)
            again, _ = env.reset(seed=1)
            assert env.observation_space.contains(obs) and np.array_equal(obs, again)
        env.close()


def test_cartpole_tasks_change_what_they_claim():
    seq = make_sequence("cartpole", seed=3, obs_type="state")
    envs = [seq.make(i).unwrapped for i in range(4)]
    assert envs[0].change_factors == {"gravity": 9.8, "masscart": 1.0}
    assert envs[1].change_factors != envs[0].change_factors
    assert envs[1].change_factors == {
        "gravity": seq[1].truth["gravity"],
        "masscart": seq[1].truth["masscart"],
    }
    assert envs[2].observation_space.shape == (5,)  # friction observed
    assert envs[3].action_space.n == 6
    assert [sorted(t.changes) for t in seq.tasks] == [
        [],
        ["distribution_shift"],
        ["state_expansion"],
        ["action_expansion"],
    ]
    # seeded: the same seed draws the same physics, another seed may not
    assert make_sequence("cartpole", seed=3)[1].kwargs == seq[1].kwargs | {"obs_type": "pixels"}


def test_synthetic_tasks_change_what_they_claim():
    seq = make_sequence("synthetic", seed=2)
    envs = [seq.make(i).unwrapped for i in range(4)]
    assert envs[0].theta != envs[1].theta
    assert envs[1].batch_model.latent_dim == 4
    grow = seq[2].truth["new_latent_dims"]
    assert 3 <= grow <= 7 and envs[2].batch_model.latent_dim == 4 + grow
    assert np.array_equal(envs[2].ground_truth["s->s"][:4, :4], envs[1].ground_truth["s->s"])
    assert envs[3].batch_model.latent_dim == 4 + grow + seq[3].truth["new_latent_dims"]
    assert seq[3].changes == {"distribution_shift", "state_expansion"}


@pytest.mark.parametrize("game", sorted(ATARI_TASKS))
def test_atari_mode_and_difficulty_are_applied(game):
    seq = make_sequence(f"atari/{game}")
    assert [(t.truth["mode"], t.truth["difficulty"]) for t in seq.tasks] == ATARI_TASKS[game]
    for i in (0, 1):
        env = seq.make(i)
        obs, _ = env.reset(seed=0)
        assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
        ale = env.unwrapped
        assert (ale._game_mode, ale._game_difficulty) == ATARI_TASKS[game][i]
        assert ale._game_mode in ale.ale.getAvailableModes()
        env.close()


def test_atari_wrapper_passes_check_env_and_sb3_runs():
    from stable_baselines3 import DQN

    env = make_sequence("atari/Pong").make(1)
    check_env(env.unwrapped)
    model = DQN("CnnPolicy", env, buffer_size=500, learning_starts=100, seed=0, verbose=0)
    model.learn(total_timesteps=200)


def test_coinrun_hard_mode_differs_from_easy():
    seq = make_sequence("coinrun")
    check_env(seq.make(0).unwrapped, skip_render_check=True)
    easy, hard = seq.make(1), seq.make(2)
    first_easy, _ = easy.reset(seed=5)
    first_hard, _ = hard.reset(seed=5)
    assert first_easy.shape == first_hard.shape == (64, 64, 3)
    assert not np.array_equal(first_easy, first_hard)
    assert seq[2].changes == {"state_expansion"} and seq[1].changes == {"distribution_shift"}


def test_sequence_env_schedule_and_next_task():
    env = make_sequence("cartpole", seed=0, obs_type="state").env(steps_per_task=25)
    _, info = env.reset(seed=0)
    assert info["task_id"] == 0
    seen, spaces_seen = [], []
    for _ in range(400):
        _, _, term, trunc, info = env.step(env.action_space.sample())
        seen.append(info["task_id"])
        if term or trunc:
            env.reset()
            spaces_seen.append((env.observation_space.shape, env.action_space.n))
    assert sorted(set(seen)) == [0, 1, 2, 3] and seen == sorted(seen)
    assert ((5,), 6) in spaces_seen  # friction observed and six actions in the last task
    assert env.task_id == 3
    manual = make_sequence("synthetic").env()
    manual.reset(seed=0)
    assert manual.next_task().name == "new-theta" and manual.task_id == 1
    manual.next_task()
    manual.next_task()
    with pytest.raises(IndexError, match="no task after"):
        manual.next_task()


def test_sb3_runs_on_cartpole_state_and_pixels():
    from stable_baselines3 import PPO

    for obs_type, policy in (("state", "MlpPolicy"), ("pixels", "CnnPolicy")):
        env = gym.make("CausalCartPole-v0", obs_type=obs_type)
        model = PPO(policy, env, n_steps=64, batch_size=32, n_epochs=1, seed=0).learn(128)
        assert model.num_timesteps >= 128 and model._n_updates >= 1  # it trained
        obs, _ = env.reset(seed=1)
        action, _ = model.predict(obs, deterministic=True)
        assert env.action_space.contains(int(action))


def test_bad_input():
    with pytest.raises(KeyError, match="known"):
        make_sequence("mario")
    with pytest.raises(ValueError, match="unknown changes"):
        Task("x", "CausalCartPole-v0", changes=frozenset({"gravity_shift"}))
    with pytest.raises(ValueError, match="source"):
        TaskSequence(
            "s", (Task("x", "CausalCartPole-v0", changes=frozenset({"distribution_shift"})),)
        )
    with pytest.raises(ValueError, match="steps_per_task"):
        make_sequence("synthetic").env(steps_per_task=[10, 10])
    assert set(SEQUENCES) >= {"cartpole", "synthetic", "coinrun", "atari/Pong"}


def test_fixed_spaces_pad_observations_and_join_actions():
    env = make_sequence("cartpole", seed=0, obs_type="state").env(
        steps_per_task=25, fixed_spaces=True
    )
    assert env.observation_space.shape == (5,) and env.action_space.n == 6
    obs, info = env.reset(seed=0)
    assert obs.shape == (5,) and obs[4] == 0.0  # no friction element in the first task
    assert info["observation_mask"].tolist() == [True] * 4 + [False]
    assert info["action_mask"].tolist() == [True, True] + [False] * 4
    _, _, _, _, info = env.step(5)  # the first task has 2 actions: 5 is played as 5 % 2
    assert info["action_replaced"] and env.observation_space.shape == (5,)
    with pytest.raises(ValueError, match=r"integer in \[0, 6\)"):
        env.step(6)
    while env.task_id < 3:
        obs, _, term, trunc, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
        if term or trunc:
            obs, info = env.reset()
    assert info["observation_mask"].all() and info["action_mask"].all()
    assert (env.observation_space.shape, env.action_space.n) == ((5,), 6)
    # the default keeps CSR's growing spaces
    growing = make_sequence("cartpole", seed=0, obs_type="state").env()
    assert growing.observation_space.shape == (4,) and growing.action_space.n == 2


FIXED_SEQUENCES = [
    ("cartpole", {"obs_type": "state"}),
    ("cartpole", {"obs_type": "pixels"}),
    ("synthetic", {}),
    *[(f"atari/{game}", {}) for game in ("Alien", "BankHeist", "CrazyClimber", "Gopher", "Pong")],
]


@pytest.mark.parametrize(
    "name, kwargs",
    FIXED_SEQUENCES,
    ids=[f"{n}-{k.get('obs_type', '')}" for n, k in FIXED_SEQUENCES],
)
def test_sb3_dqn_and_ppo_train_through_a_sequence_with_fixed_spaces(name, kwargs):
    """One model per algorithm, built once, through all four tasks."""
    from stable_baselines3 import DQN, PPO

    for algo, settings in (
        (DQN, {"learning_starts": 16, "buffer_size": 500, "train_freq": 8, "batch_size": 16}),
        (PPO, {"n_steps": 32, "batch_size": 32, "n_epochs": 1}),
    ):
        env = make_sequence(name, seed=0, **kwargs).env(
            steps_per_task=24, fixed_spaces=True, max_episode_steps=12
        )
        policy = "CnnPolicy" if len(env.observation_space.shape) == 3 else "MlpPolicy"
        model = algo(policy, env, seed=0, device="cpu", **settings)
        model.learn(24 * 4 + 24)
        assert model.get_env().get_attr("task_id") == [3], algo.__name__


def test_an_atari_task_starts_without_ales_banner():
    code = (
        "from causal_envs.tasks import make_sequence\n"
        "env = make_sequence('atari/Pong').make(0)\n"
        "env.reset(seed=0)\n"
        "env.close()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "A.L.E" not in out.stderr and "Stella" not in out.stderr, out.stderr


def test_an_atari_sequence_takes_other_tasks_and_refuses_ones_the_game_lacks():
    from causal_envs.tasks.atari import DETECTION_FIGURE_PONG

    seq = make_sequence("atari/Pong", pairs=DETECTION_FIGURE_PONG)
    assert [t.truth for t in seq.tasks] == [
        {"mode": m, "difficulty": d} for m, d in DETECTION_FIGURE_PONG
    ]
    assert [sorted(t.changes) for t in seq.tasks] == [
        [],
        ["distribution_shift"],
        ["state_expansion"],
        ["distribution_shift"],
    ]
    with pytest.raises(ValueError, match=r"Pong has no \(mode 5, difficulty 0\)"):
        make_sequence("atari/Pong", pairs=[(0, 0), (5, 0)])
    with pytest.raises(ValueError, match="at least one"):
        make_sequence("atari/Pong", pairs=[])
