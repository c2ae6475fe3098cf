"""Bad input to the envs, sequences and MoCoDA: one clear error naming the argument, never a
silent acceptance or a third-party traceback (each case from a hostile-user campaign)."""

import gymnasium as gym
import numpy as np
import pytest

import causal_envs  # noqa: F401  (registers the envs)
from augment import MoCoDA, MoCoDAConfig
from causal_envs.tasks import make_sequence


@pytest.mark.parametrize(
    "kwargs, says",
    [
        ({"start_high": (0.1, 0.1, 0.1)}, "start_high must be one or two numbers"),
        ({"start_high": "ab"}, "start_high must be one or two numbers"),
        ({"include_mask_in_info": "no"}, "include_mask_in_info must be True or False"),
        ({"step_size": float("nan")}, "step_size must be a finite number"),
        ({"step_size": True}, "step_size must be a finite number"),
    ],
)
def test_nav2d_arguments(kwargs, says):
    with pytest.raises(ValueError, match=says):
        gym.make("CausalNav2D-v0", **kwargs)


def test_nav2d_takes_numpy_numbers_and_checks_reset_options():
    env = gym.make("CausalNav2D-v0", step_size=np.float32(0.05), include_mask_in_info=np.True_)
    assert env.unwrapped.batch_model.step_size == pytest.approx(0.05)
    with pytest.raises(ValueError, match="options must be a dict"):
        env.reset(options=[0.1, 0.2])
    with pytest.raises(ValueError, match=r"options\['state'\] must be \(x, y\).*'ab'"):
        env.reset(options={"state": "ab"})
    obs, _ = env.reset(options={"state": (0.2, 0.3)})
    np.testing.assert_allclose(obs, [0.2, 0.3], atol=1e-6)


@pytest.mark.parametrize(
    "env_id, kwargs",
    [
        ("CausalNav2D-v0", {}),
        ("CausalCartPole-v0", {}),
        ("SyntheticPOMDP-v0", {}),
        ("HookSweep2-v1", {}),
    ],
)
def test_a_closed_env_needs_a_reset_before_it_steps(env_id, kwargs):
    env = gym.make(env_id, **kwargs).unwrapped
    env.reset(seed=0)
    env.step(env.action_space.sample())
    env.close()
    with pytest.raises(gym.error.ResetNeeded, match="reset"):
        env.step(env.action_space.sample())
    env.reset(seed=0)  # and a reset starts it again
    env.step(env.action_space.sample())
    env.close()


def test_hooksweep2_checks_its_frame_size_and_needs_a_reset():
    for bad in ({"width": 0}, {"height": 2.5}, {"flat_obs": "yes"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            gym.make("HookSweep2-v1", **bad)
    env = gym.make("HookSweep2-v1").unwrapped
    with pytest.raises(gym.error.ResetNeeded, match="reset"):
        env.step(np.zeros(4))


def test_the_cartpole_vector_env_needs_a_positive_episode_length():
    with pytest.raises(ValueError, match="max_episode_steps must be an integer >= 1"):
        gym.make_vec("CausalCartPole-v0", 2, max_episode_steps=0)


@pytest.mark.parametrize(
    "kwargs, says",
    [
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"seed": "a"}, "seed must be an integer >= 0"),
        ({"steps_per_task": 10}, r"make_sequence\('cartpole'\) takes no steps_per_task"),
    ],
)
def test_make_sequence_arguments(kwargs, says):
    with pytest.raises(ValueError, match=says):
        make_sequence("cartpole", **kwargs)


@pytest.mark.parametrize(
    "kwargs, says",
    [
        ({"steps_per_task": 2.5}, "steps_per_task needs an integer"),
        ({"steps_per_task": True}, "steps_per_task needs an integer"),
        ({"steps_per_task": [float("nan")] * 4}, r"steps_per_task\[0\] must be an integer"),
        ({"steps_per_task": [10, 10]}, "one per task"),
        ({"fixed_spaces": "no"}, "fixed_spaces must be True or False"),
    ],
)
def test_sequence_env_arguments(kwargs, says):
    seq = make_sequence("cartpole", obs_type="state")
    with pytest.raises(ValueError, match=says):
        seq.env(**kwargs)


def test_mocoda_names_what_it_needs():
    with pytest.raises(TypeError, match="env must be a registered env id or a Gymnasium env"):
        MoCoDA(123)
    with pytest.raises(TypeError, match=r"fit takes a TransitionDataset.*got NoneType"):
        MoCoDA("CausalNav2D-v0").fit(None)
    for field, bad in (("val_size", -1), ("n_components", 0), ("total_size", 2.5)):
        with pytest.raises(ValueError, match=f"{field} must be an integer"):
            MoCoDAConfig(**{field: bad})


def test_an_atari_task_checks_actions_before_ale_sees_them():
    env = make_sequence("atari/Pong").make(0)
    env.reset(seed=0)
    n = env.action_space.n
    for bad in (-1, n, 2.0, "1"):
        with pytest.raises(ValueError, match=rf"action must be an integer in \[0, {n}\)"):
            env.step(bad)
    env.step(np.int64(1))  # NumPy integers are actions too
    env.close()


@pytest.mark.parametrize(
    "kwargs, says",
    [
        ({"friction_cart": (-1.0, 2.0)}, r"friction_cart must be numbers >= 0, got \(-1.0, 2.0\)"),
        ({"friction_pole": -1e-6}, "friction_pole must be a number >= 0"),
    ],
)
def test_cartpole_friction_errors_name_the_argument(kwargs, says):
    with pytest.raises(ValueError, match=says):
        gym.make("CausalCartPole-v0", **kwargs)


@pytest.mark.parametrize(
    "kwargs, says",
    [
        ({"noise_std": float("inf")}, "noise_std must be a finite number"),
        ({"noise_std": -0.1}, "noise_std must be a finite number"),
        ({"theta": float("nan")}, "theta must be a finite number"),
    ],
)
def test_synthetic_pomdp_arguments(kwargs, says):
    with pytest.raises(ValueError, match=says):
        gym.make("SyntheticPOMDP-v0", **kwargs)


def test_contextual_env_arguments():
    from causal_envs.context import ContextualEnv

    with pytest.raises(ValueError, match=r"dict\(enumerate\(contexts\)\)"):
        ContextualEnv("CausalCartPole-v0", [{"gravity": 9.8}])
    with pytest.raises(ValueError, match="a context id must be an integer >= 0, got '1'"):
        ContextualEnv("CausalCartPole-v0", {1: {"gravity": 9.8}, "1": {"gravity": 20.0}})
    with pytest.raises(ValueError, match=r"a sequence of feature names, e\.g\. \('gravity',\)"):
        ContextualEnv("CausalCartPole-v0", obs_context_features="gravity")
    env = ContextualEnv("CausalCartPole-v0", {0: {}, 1: {"gravity": 20.0}}, ("gravity",))
    assert env.observation_space.shape == (5,)
    for k in (True, 1.0, "1"):  # not silently context 1
        with pytest.raises(ValueError, match=r"options\['context_id'\] must be an integer"):
            env.reset(options={"context_id": k})
    with pytest.raises(KeyError, match=r"no context 7; the ids are \[0, 1\]"):
        env.reset(options={"context_id": 7})


def test_the_hooksweep2_expert_checks_its_noise():
    from causal_envs.envs.hooksweep.expert import HookSweepExpert

    for kwargs, says in (
        ({"noise_std": float("inf")}, "noise_std must be a finite number"),
        ({"noise_std": float("nan")}, "noise_std"),
        ({"noise_prob": 1.5}, "noise_prob"),
        ({"tolerance": 0.0}, "tolerance"),
    ):
        with pytest.raises(ValueError, match=says):
            HookSweepExpert(**kwargs)


def test_a_missing_augmentation_names_the_methods_for_a_bad_name(tmp_path, monkeypatch):
    from causal_envs.datasets import DatasetError

    monkeypatch.setenv("CAUSAL_ENVS_DATA_DIR", str(tmp_path))
    env = gym.make("CausalNav2D-v0").unwrapped
    with pytest.raises(DatasetError, match="'bogus' is no augmentation method") as err:
        env.get_augmented_dataset("bogus")
    assert "--methods bogus" not in str(err.value)
    with pytest.raises(DatasetError, match="make it with: causal-envs augment"):
        env.get_augmented_dataset("rand")
