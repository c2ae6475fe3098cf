"""MoCoDA's SB3 replay buffers: SAC trains with them, batches hold the configured share of
generated rows labelled by the env, fits warm-start, the buffers pickle, errors are clear.

Tiny models throughout (mixtures of 2-4 components, 1-2 epochs of 10 steps): each fit takes
well under a second, so a whole SAC run is a few seconds.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import SAC
from stable_baselines3.common.env_util import make_vec_env

import causal_envs  # noqa: F401  (registers the envs)
from augment import DynamicsConfig, TrainingConfig
from augment.sb3 import MoCoDAHerReplayBuffer, MoCoDAReplayBuffer, online_config
from causal_envs.core import ContractError
from causal_envs.envs.hooksweep.model import GRIPPER_TABLE_Z

TINY = online_config(
    n_components=4,
    dynamics=DynamicsConfig(
        hidden=(32, 32),
        embed_dim=16,
        ensemble_size=3,
        training=TrainingConfig(epochs=2, steps_per_epoch=10, batch_size=64),
    ),
)
BATCH = 64


def nav2d(**kwargs) -> gym.Env:
    """Nav2D with the goal box next to the start box, so random actions reach it: the data
    and the generated rows hold both rewards (-1 and 0) and terminations."""
    return gym.make("CausalNav2D-v0", goal_low=0.1, goal_high=0.3, **kwargs)


def nav2d_sac(**buffer_kwargs) -> SAC:
    kwargs = {
        "env": nav2d(),
        "min_real": 150,
        "refit_every": 150,
        "pool_size": 1_000,
        "refit_epochs": 1,
        "fraction": 0.25,
        "mocoda_config": TINY,
        **buffer_kwargs,
    }
    return SAC(
        "MlpPolicy",
        make_vec_env(nav2d, n_envs=1, seed=0),
        replay_buffer_class=MoCoDAReplayBuffer,
        replay_buffer_kwargs=kwargs,
        buffer_size=10_000,
        learning_starts=100,
        batch_size=BATCH,
        policy_kwargs={"net_arch": [32, 32]},
        seed=0,
        device="cpu",
    )


@pytest.fixture(scope="module")
def trained() -> SAC:
    model = nav2d_sac()
    model.learn(400)
    return model


def fill(buffer, env: gym.Env, steps: int, seed: int = 0) -> None:
    """Random actions in ``env``, stored as SB3 stores them (one env)."""
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    for _ in range(steps):
        act = env.action_space.sample()
        nxt, r, term, trunc, _ = env.step(act)
        info = {"TimeLimit.truncated": trunc and not term}
        buffer.add(obs, nxt, act[None], np.array([r]), np.array([term or trunc]), [info])
        obs = nxt if not (term or trunc) else env.reset()[0]


# --------------------------------------------------------------------- SAC on Nav2D
def test_sac_trains_on_batches_with_the_configured_share_of_generated_rows(trained):
    buf = trained.replay_buffer
    assert isinstance(buf, MoCoDAReplayBuffer)
    assert buf.n_real_added == 400
    # fits at 150 and 300 real steps, the second warm-started for refit_epochs=1 epoch
    assert buf.n_refits == 2 and len(buf.refit_seconds) == 2
    assert len(buf.mocoda.models["local"].log.train_nll) == 1
    assert len(buf.generated) == 1_000
    # the last training batch: 16 of 64 rows generated, at the end
    assert buf.last_generated.sum() == 16 and buf.last_generated[-16:].all()

    batch = buf.sample(BATCH)
    gen = buf.last_generated
    assert batch.observations.shape == (BATCH, 2) and gen.sum() == 16
    s, a = batch.observations[gen].numpy(), batch.actions[gen].numpy()
    s2 = batch.next_observations[gen].numpy()
    pool = buf.generated
    np.testing.assert_array_equal(s, pool.observations[buf.last_pool_indices])
    env = nav2d().unwrapped
    np.testing.assert_array_equal(batch.rewards[gen].numpy()[:, 0], env.reward_fn(s, a, s2))
    np.testing.assert_array_equal(batch.dones[gen].numpy()[:, 0], env.termination_fn(s, a, s2))
    # the whole pool carries the env's labels, both rewards and terminations occur
    np.testing.assert_array_equal(
        pool.rewards, env.reward_fn(pool.observations, pool.actions, pool.next_observations)
    )
    np.testing.assert_array_equal(
        pool.terminals,
        env.termination_fn(pool.observations, pool.actions, pool.next_observations),
    )
    assert set(np.unique(pool.rewards)) == {-1.0, 0.0}
    # the real rows are stored transitions
    stored = {tuple(r) for r in np.c_[buf.observations[:400, 0], buf.actions[:400, 0]]}
    real = np.c_[batch.observations[~gen].numpy(), batch.actions[~gen].numpy()]
    assert all(tuple(r) in stored for r in real)


def test_the_buffer_and_the_model_round_trip_through_save_and_load(trained, tmp_path):
    buf = trained.replay_buffer
    trained.save_replay_buffer(tmp_path / "buffer.pkl")
    model = nav2d_sac()
    model.load_replay_buffer(tmp_path / "buffer.pkl")
    loaded = model.replay_buffer
    assert isinstance(loaded, MoCoDAReplayBuffer) and loaded is not buf
    for name in ("observations", "next_observations", "actions", "rewards", "dones", "timeouts"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(buf, name))
    assert (loaded.pos, loaded.n_real_added, loaded.n_refits) == (buf.pos, 400, 2)
    assert loaded.generated.equals(buf.generated) and loaded.mocoda is None
    # the pool survives: batches keep their share without a new fit
    loaded.sample(BATCH)
    assert loaded.last_generated.sum() == 16 and loaded.n_refits == 2
    # the env comes back from its spec (the goal box included); the model's weights did too
    assert loaded.causal_env.unwrapped.batch_model.goal_low == (0.1, 0.1)
    loaded.refit()
    assert loaded.n_refits == 3 and len(loaded.mocoda.models["local"].log.train_nll) == 1

    trained.save(tmp_path / "sac.zip")
    again = SAC.load(tmp_path / "sac.zip", env=make_vec_env(nav2d, n_envs=1, seed=1), device="cpu")
    assert isinstance(again.replay_buffer, MoCoDAReplayBuffer)
    assert again.replay_buffer.fraction == 0.25 and again.replay_buffer.pool_size == 1_000
    again.load_replay_buffer(tmp_path / "buffer.pkl")
    again.learn(20, reset_num_timesteps=False)
    assert again.replay_buffer.n_real_added == 420
    assert again.replay_buffer.last_generated.sum() == 16


def test_fits_pools_and_batches_repeat_with_a_seed():
    def run(seed: int):
        env = nav2d()
        buf = MoCoDAReplayBuffer(
            500,
            env.observation_space,
            env.action_space,
            env=env,
            min_real=200,
            pool_size=300,
            mocoda_config=TINY,
            seed=seed,
        )
        fill(buf, env, 200)
        np.random.seed(0)  # noqa: NPY002 (SB3 draws the real rows from NumPy's global one)
        return buf, buf.sample(BATCH)

    (a, batch_a), (b, batch_b), (c, _) = run(3), run(3), run(4)
    assert a.n_refits == b.n_refits == 1
    assert a.generated.equals(b.generated) and not a.generated.equals(c.generated)
    for x, y in zip(batch_a, batch_b, strict=True):
        assert (x is None and y is None) or bool((x == y).all())


def test_several_envs_and_a_wrapped_buffer_are_fitted_in_time_order():
    venv = gym.make_vec("CausalNav2D-v0", 2, vectorization_mode="sync")
    space, act_space = venv.single_observation_space, venv.single_action_space
    buf = MoCoDAReplayBuffer(
        100,
        space,
        act_space,
        n_envs=2,
        env="CausalNav2D-v0",
        min_real=60,
        mocoda_config=TINY,
        pool_size=200,
        seed=0,
    )
    assert buf.buffer_size == 50  # SB3 splits the size over the envs
    obs, _ = venv.reset(seed=0)
    venv.action_space.seed(0)
    for _ in range(70):  # wraps around: 70 steps of each env in 50 rows
        act = venv.action_space.sample()
        nxt, r, term, trunc, _ = venv.step(act)
        infos = [{"TimeLimit.truncated": False} for _ in range(2)]
        buf.add(obs, nxt, act, r, term | trunc, infos)
        obs = nxt  # the only episode end is the 70th step's time limit
    data = buf.real_dataset()
    assert len(data) == 100 and data.n_episodes == 2  # each env's 50 latest steps, in order
    np.testing.assert_array_equal(data.observations[1:50], data.next_observations[:49])
    np.testing.assert_array_equal(data.observations[51:], data.next_observations[50:99])
    buf.sample(BATCH)
    assert buf.n_refits == 1 and buf.n_real_added == 140

    model = SAC(
        "MlpPolicy",
        make_vec_env("CausalNav2D-v0", n_envs=2, seed=0),
        replay_buffer_class=MoCoDAReplayBuffer,
        replay_buffer_kwargs={"env": "CausalNav2D-v0", "min_real": 100, "mocoda_config": TINY},
        buffer_size=1_000,
        learning_starts=100,
        batch_size=BATCH,
        policy_kwargs={"net_arch": [16]},
        seed=0,
        device="cpu",
    )
    model.learn(160)
    assert model.replay_buffer.n_refits == 1 and model.replay_buffer.last_generated.sum() == 32


def test_fraction_zero_never_fits():
    env = nav2d()
    buf = MoCoDAReplayBuffer(
        300,
        env.observation_space,
        env.action_space,
        env=env,
        fraction=0.0,
        min_real=50,
        mocoda_config=TINY,
    )
    fill(buf, env, 100)
    buf.sample(BATCH)
    assert buf.n_refits == 0 and buf.generated is None and not buf.last_generated.any()


# --------------------------------------------------------------------- goal-conditioned
#: the dict observation's achieved goal: both boxes' positions, then the gripper's height
ACHIEVED = np.r_[6:9, 11:14, 2]


def hooksweep2_goal_observation(states: np.ndarray, goals: np.ndarray) -> dict[str, np.ndarray]:
    """What HookSweep2 observes in state ``s`` pursuing box goals ``g`` (see its docstring)."""
    z = np.full((len(goals), 1), GRIPPER_TABLE_Z)
    return {
        "observation": states,
        "achieved_goal": states[:, ACHIEVED],
        "desired_goal": np.concatenate([goals, z], axis=1),
    }


TINY_HS = online_config(
    n_components=2,
    dynamics=DynamicsConfig(
        hidden=(32,),
        embed_dim=8,
        ensemble_size=2,
        training=TrainingConfig(epochs=1, steps_per_epoch=10, batch_size=64),
    ),
)


def test_the_goal_observation_helper_matches_hooksweep2():
    env = gym.make("HookSweep2-v1")
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step(env.action_space.sample())
    made = hooksweep2_goal_observation(obs["observation"][None], env.unwrapped.goal[None])
    for key in obs:
        np.testing.assert_array_equal(made[key][0], obs[key])


def test_sac_with_her_and_mocoda_on_hooksweep2_dict_goals(tmp_path):
    kwargs = {
        "goal_observation": hooksweep2_goal_observation,
        "n_sampled_goal": 2,
        "min_real": 150,
        "refit_every": 10_000,
        "pool_size": 500,
        "fraction": 0.25,
        "mocoda_config": TINY_HS,
        "seed": 0,
    }
    model = SAC(
        "MultiInputPolicy",
        "HookSweep2-v1",
        replay_buffer_class=MoCoDAHerReplayBuffer,
        replay_buffer_kwargs=kwargs,
        buffer_size=2_000,
        learning_starts=160,  # two 75-step episodes: HER samples finished episodes
        batch_size=BATCH,
        policy_kwargs={"net_arch": [32]},
        seed=0,
        device="cpu",
    )
    model.learn(200)
    buf = model.replay_buffer
    assert buf.n_refits == 1 and len(buf.generated) == 500
    assert buf.generated.observations.shape[1] == 16 + 6  # [state, goal]

    batch = buf.sample(BATCH)
    gen = buf.last_generated
    assert gen.sum() == 16 and set(batch.observations) == set(model.observation_space.spaces)
    obs = {k: v[gen].numpy() for k, v in batch.observations.items()}
    nxt = {k: v[gen].numpy() for k, v in batch.next_observations.items()}
    s, s2, goals = obs["observation"], nxt["observation"], obs["desired_goal"][:, :6]
    np.testing.assert_array_equal(nxt["desired_goal"], obs["desired_goal"])
    np.testing.assert_array_equal(obs["achieved_goal"], s[:, ACHIEVED])
    env = model.get_env().envs[0].unwrapped
    a = batch.actions[gen].numpy()
    np.testing.assert_allclose(
        batch.rewards[gen].numpy()[:, 0], env.reward_fn(s, a, s2, goals), atol=1e-5
    )
    assert not batch.dones[gen].any()  # HookSweep2 never terminates

    model.save_replay_buffer(tmp_path / "her.pkl")
    with pytest.warns(UserWarning, match="truncated"):  # SB3's HER: the episode was running
        model.load_replay_buffer(tmp_path / "her.pkl")  # SB3 calls set_env on a HER buffer
    loaded = model.replay_buffer
    assert loaded is not buf and loaded.generated.equals(buf.generated)
    loaded.sample(BATCH)
    assert loaded.last_generated.sum() == 16
    assert loaded.causal_env.unwrapped is env


def test_flat_goal_observations_are_state_then_goal():
    env = gym.make("HookSweep2-v1", flat_obs=True)
    buf = MoCoDAReplayBuffer(
        400,
        env.observation_space,
        env.action_space,
        env=env,
        min_real=150,
        pool_size=300,
        fraction=0.5,
        mocoda_config=TINY_HS,
        seed=0,
    )
    fill(buf, env, 150)
    batch = buf.sample(BATCH)
    gen = buf.last_generated
    obs, nxt = batch.observations[gen].numpy(), batch.next_observations[gen].numpy()
    assert obs.shape == (32, 22) and batch.observations.dtype == torch.float64  # the env's
    np.testing.assert_array_equal(obs[:, 16:], nxt[:, 16:])  # each row keeps its goal
    rewards = env.unwrapped.reward_fn(
        obs[:, :16], batch.actions[gen].numpy(), nxt[:, :16], obs[:, 16:]
    )
    np.testing.assert_allclose(batch.rewards[gen].numpy()[:, 0], rewards, atol=1e-5)


# --------------------------------------------------------------------- errors
def make(env=None, space=None, action_space=None, **kwargs):
    env = nav2d() if env is None else env
    return MoCoDAReplayBuffer(
        100,
        env.observation_space if space is None else space,
        env.action_space if action_space is None else action_space,
        env=env,
        mocoda_config=TINY,
        min_real=50,
        **kwargs,
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"fraction": 1.5}, ValueError, "fraction"),
        ({"fraction": -0.1}, ValueError, "fraction"),
        ({"method": "emp"}, ValueError, "method must be one of"),
        ({"method": "mocoda_u"}, ValueError, "method must be one of"),
        ({"refit_every": 0}, ValueError, "refit_every"),
        ({"min_real": 3}, ValueError, "min_real"),
        ({"max_fit_rows": 10}, ValueError, "max_fit_rows"),
        ({"min_real": 150}, ValueError, "more than the buffer holds"),
        ({"optimize_memory_usage": True}, ValueError, "optimize_memory_usage"),
        ({"mocoda_config": {"n_components": 4}}, TypeError, "MoCoDAConfig"),
    ],
)
def test_bad_settings_are_refused(kwargs, error, match):
    env = nav2d()
    settings = {"env": env, "mocoda_config": TINY, "min_real": 50, **kwargs}
    with pytest.raises(error, match=match):
        MoCoDAReplayBuffer(100, env.observation_space, env.action_space, **settings)


def test_envs_the_buffer_cannot_use_are_refused():
    with pytest.raises(ValueError, match="needs the env"):
        MoCoDAReplayBuffer(
            100, spaces.Box(0, 1, (2,)), spaces.Box(-1, 1, (2,)), min_real=50, mocoda_config=TINY
        )
    with pytest.raises(ContractError, match="causal contract"):
        make(gym.make("Pendulum-v1"))
    cartpole = gym.make("CausalCartPole-v0")
    with pytest.raises(ContractError, match="continuous actions"):
        make(cartpole)
    with pytest.raises(ContractError, match=r"shape \(2,\)"):
        make(space=spaces.Box(0, 1, (3,)))
    with pytest.raises(TypeError, match="MoCoDAHerReplayBuffer"):
        make(space=spaces.Dict({"observation": spaces.Box(0, 1, (2,))}))
    with pytest.raises(TypeError, match="env must be"):
        make(env=42, space=spaces.Box(0, 1, (2,)), action_space=spaces.Box(-1, 1, (2,)))


def test_the_her_buffer_needs_a_goal_env_and_a_goal_observation():
    env = gym.make("HookSweep2-v1")
    args = (100, env.observation_space, env.action_space, env)
    with pytest.raises(ValueError, match="needs goal_observation"):
        MoCoDAHerReplayBuffer(*args, mocoda_config=TINY_HS, min_real=50)

    def wrong_keys(states, goals):
        return {"observation": states}

    with pytest.raises(ValueError, match="keys"):
        MoCoDAHerReplayBuffer(
            *args, goal_observation=wrong_keys, mocoda_config=TINY_HS, min_real=50
        )
    with pytest.raises(TypeError, match="MoCoDAReplayBuffer"):
        MoCoDAHerReplayBuffer(
            100,
            spaces.Box(0, 1, (2,)),
            spaces.Box(-1, 1, (2,)),
            nav2d(),
            goal_observation=hooksweep2_goal_observation,
        )
