"""The native vector envs' three autoreset modes, and the RL libraries that need them."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import causal_envs  # noqa: F401  # registers the envs
from causal_envs.envs.batched import as_autoreset_mode

#: (env id, a constant action batch for 4 sub-envs that ends episodes soon)
ENVS = [
    ("CausalCartPole-v0", np.zeros(4, dtype=np.int64)),
    ("CausalNav2D-v0", np.full((4, 2), 1.0, dtype=np.float32)),
]


def _run(env_id, actions, mode, steps=80, **kwargs):
    env = gym.make_vec(env_id, 4, autoreset_mode=mode, **kwargs)
    obs, _ = env.reset(seed=0)
    out = [(obs, None, None, None, {})]
    for _ in range(steps):
        out.append(env.step(actions))
        done = out[-1][2] | out[-1][3]
        if env.autoreset_mode is AutoresetMode.DISABLED and done.any():
            out.append((env.reset(options={"reset_mask": done})[0], None, None, None, {}))
    return env, out


def test_mode_names():
    assert as_autoreset_mode("same_step") is AutoresetMode.SAME_STEP
    assert as_autoreset_mode("DISABLED") is AutoresetMode.DISABLED
    assert as_autoreset_mode(AutoresetMode.NEXT_STEP) is AutoresetMode.NEXT_STEP
    with pytest.raises(ValueError, match="autoreset_mode must be one of"):
        gym.make_vec("CausalCartPole-v0", 2, autoreset_mode="sometimes")


@pytest.mark.parametrize("env_id, actions", ENVS, ids=[e[0] for e in ENVS])
def test_same_step_returns_the_next_first_observation(env_id, actions):
    env, steps = _run(env_id, actions, "same_step", max_episode_steps=30)
    assert env.autoreset_mode is AutoresetMode.SAME_STEP
    assert env.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    ended = [(k, s) for k, s in enumerate(steps[1:], 1) if (s[2] | s[3]).any()]
    assert ended
    k, (obs, reward, terminated, truncated, info) = ended[0]
    done = terminated | truncated
    np.testing.assert_array_equal(info["_final_obs"], done)
    prev = steps[k - 1][0]
    for i in np.flatnonzero(done):
        final = info["final_obs"][i]
        assert final.shape == obs[i].shape and not np.array_equal(final, obs[i])
        assert not np.array_equal(final, prev[i])  # the step's own result, not the one before
    # the next step continues the new episode: no NEXT_STEP dead step (reward 0, no flags)
    _, reward, terminated, truncated, _ = steps[k + 1]
    assert not ((reward == 0) & ~terminated & ~truncated).any()


@pytest.mark.parametrize("env_id, actions", ENVS, ids=[e[0] for e in ENVS])
def test_disabled_needs_a_masked_reset(env_id, actions):
    env = gym.make_vec(env_id, 4, autoreset_mode="disabled", max_episode_steps=30)
    env.reset(seed=0)
    done = np.zeros(4, dtype=bool)
    while not done.any():
        obs, _, terminated, truncated, _ = env.step(actions)
        done = terminated | truncated
    with pytest.raises(RuntimeError, match="reset_mask"):
        env.step(actions)
    fresh, _ = env.reset(options={"reset_mask": done})
    np.testing.assert_array_equal(fresh[~done], obs[~done])  # the others are untouched
    assert not np.array_equal(fresh[done], obs[done])
    env.step(actions)
    with pytest.raises(ValueError, match="reset_mask"):
        env.reset(options={"reset_mask": np.ones(3, dtype=bool)})


@pytest.mark.parametrize("env_id, actions", ENVS, ids=[e[0] for e in ENVS])
def test_same_seed_same_results_in_every_mode(env_id, actions):
    for mode in ("next_step", "same_step", "disabled"):
        _, a = _run(env_id, actions, mode, steps=20)
        _, b = _run(env_id, actions, mode, steps=20)
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x[0], y[0])


@pytest.mark.parametrize("env_id", ["CausalCartPole-v0", "CausalNav2D-v0"])
def test_sb3_ppo_trains_on_the_native_vector_env(env_id):
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor

    from causal_envs.sb3 import SB3VecEnv, make_sb3_vec_env

    venv = VecMonitor(make_sb3_vec_env(env_id, 8))
    model = PPO("MlpPolicy", venv, n_steps=64, batch_size=128, n_epochs=2, seed=0, device="cpu")
    model.learn(2_048)
    assert model.num_timesteps == 2_048 and len(model.ep_info_buffer) > 0
    with pytest.raises(ValueError, match="SAME_STEP"):
        SB3VecEnv(gym.make_vec(env_id, 2))
    with pytest.raises(ValueError, match="no native vector env"):
        make_sb3_vec_env("CoinRun-v0", 2)


def test_sb3_sees_terminal_observations_and_time_limits():
    from causal_envs.sb3 import make_sb3_vec_env

    venv = make_sb3_vec_env("CausalNav2D-v0", 2, max_episode_steps=5)
    venv.seed(3)
    first = venv.reset()
    still = np.zeros((2, 2), dtype=np.float32)  # standing still: time-outs only
    for _ in range(4):
        _, _, dones, _ = venv.step(still)
        assert not dones.any()
    _, _, dones, infos = venv.step(still)
    assert dones.all() and all(i["TimeLimit.truncated"] for i in infos)
    np.testing.assert_allclose(infos[0]["terminal_observation"], first[0], atol=1e-6)
    venv.seed(3)
    np.testing.assert_array_equal(venv.reset(), first)


@pytest.mark.parametrize("mode", ["disabled", "same_step"])
def test_torchrl_trains_dqn_on_the_native_vector_env(mode):
    import torch
    from tensordict.nn import TensorDictSequential
    from torchrl.collectors import Collector
    from torchrl.envs import GymWrapper
    from torchrl.envs.utils import check_env_specs
    from torchrl.modules import MLP, EGreedyModule, QValueActor
    from torchrl.objectives import DQNLoss, SoftUpdate

    torch.manual_seed(0)
    env = GymWrapper(gym.make_vec("CausalCartPole-v0", 4, autoreset_mode=mode))
    check_env_specs(env)
    env.set_seed(0)
    actor = QValueActor(
        MLP(out_features=2, num_cells=[32, 32]), in_keys=["observation"], spec=env.action_spec
    )
    explore = TensorDictSequential(
        actor, EGreedyModule(env.action_spec, eps_init=1.0, eps_end=0.05, annealing_num_steps=1_000)
    )
    collector = Collector(
        env,
        explore,
        frames_per_batch=128,
        total_frames=2_048,
        auto_register_policy_transforms=False,
    )
    loss = DQNLoss(actor, action_space=env.action_spec, delay_value=True)
    loss.make_value_estimator(gamma=0.99)
    target = SoftUpdate(loss, eps=0.99)
    optimiser = torch.optim.Adam(loss.parameters(), lr=1e-3)
    frames, episodes = 0, 0
    for batch in collector:
        explore[1].step(batch.numel())
        flat = batch.reshape(-1)
        for _ in range(4):
            value = loss(flat[torch.randint(len(flat), (64,))])["loss"]
            optimiser.zero_grad()
            value.backward()
            optimiser.step()
            target.step()
        frames += batch.numel()
        episodes += int(batch["next", "done"].sum())
    assert frames == 2_048 and episodes > 0
    assert torch.isfinite(value)


@pytest.mark.parametrize("env_id", ["CausalNav2D-v0", "CausalCartPole-v0"])
def test_bad_reset_options_are_refused_and_a_closed_vector_env_needs_a_reset(env_id):
    env = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point")
    env.reset(seed=0)
    for bad in ([1], "state", 3):
        with pytest.raises(ValueError, match="options must be a dict or None"):
            env.reset(options=bad)
    env.close()
    with pytest.raises(gym.error.ResetNeeded, match="reset"):
        env.step(env.action_space.sample())


def test_nav2d_vector_env_names_a_bad_start_state_and_a_bad_flag():
    env = gym.make_vec("CausalNav2D-v0", num_envs=2, vectorization_mode="vector_entry_point")
    for bad in ("ab", [0.1, 0.2, 0.3], [[0.1, 0.2]] * 3, [0.1, float("nan")]):
        with pytest.raises(ValueError, match=r"options\['state'\] must broadcast to \(2, 2\)"):
            env.reset(options={"state": bad})
    with pytest.raises(ValueError, match="include_mask_in_info must be True or False"):
        gym.make_vec("CausalNav2D-v0", num_envs=2, include_mask_in_info="no")
