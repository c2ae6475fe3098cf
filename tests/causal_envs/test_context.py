import gymnasium as gym
import numpy as np
import pytest

import causal_envs  # noqa: F401  # registers the envs
from causal_envs.context import CONTEXT_SPACES, ContextFeature, ContextualEnv, context_space
from causal_envs.tasks import make_sequence


def test_every_feature_is_a_constructor_argument_at_its_default():
    for env_id, space in CONTEXT_SPACES.items():
        env = gym.make(env_id, **space.defaults())
        assert space.of(env) == space.defaults()  # the defaults are the env's own
        for name, feature in space.items():
            for value in (feature.lower, feature.upper):
                env = gym.make(env_id, **{name: value})
                env.reset(seed=0)
                env.step(env.action_space.sample())
                assert space.of(env)[name] == value


def test_sampler_and_validation():
    space = context_space("CausalCartPole-v0")
    contexts = space.sample_contexts(5, np.random.default_rng(0), names=["gravity", "length"])
    assert sorted(contexts) == [0, 1, 2, 3, 4]
    for c in contexts.values():
        assert 4.9 <= c["gravity"] <= 40.0 and 0.25 <= c["length"] <= 2.0
        assert c["masscart"] == 1.0  # not sampled: the default
    same = space.sample_contexts(5, np.random.default_rng(0), names=["gravity", "length"])
    assert same == contexts
    with pytest.raises(ValueError, match=r"gravity must lie in \[4.9, 40.0\]"):
        space.validate({"gravity": 100.0})
    with pytest.raises(ValueError, match="must be a number"):
        space.validate({"gravity": "9.8"})
    with pytest.raises(KeyError, match="no context feature 'friction'"):
        space.validate({"friction": 0.1})
    with pytest.raises(KeyError, match="has no context features"):
        context_space("CoinRun-v0")
    with pytest.raises(ValueError, match="outside its bounds"):
        ContextFeature("x", 5.0, 0.0, 1.0)


def test_contextual_env_switches_contexts_and_shows_them():
    space = context_space("CausalCartPole-v0")
    contexts = space.sample_contexts(3, np.random.default_rng(1), names=["gravity"])
    env = ContextualEnv("CausalCartPole-v0", contexts, obs_context_features=["gravity"])
    assert env.observation_space.shape == (5,)
    seen = []
    obs, info = env.reset(seed=0)
    for _ in range(4):
        assert obs[-1] == pytest.approx(contexts[info["context_id"]]["gravity"])
        assert env.observation_space.contains(obs)
        seen.append(info["context_id"])
        obs, info = env.reset()
    assert seen == [0, 1, 2, 0]  # round robin
    obs, info = env.reset(options={"context_id": 2})
    assert info["context"] == contexts[2]
    obs, _, _, _, info = env.step(0)
    assert info["context_id"] == 2 and obs.shape == (5,)
    # same seed, same episodes, with random selection
    a = ContextualEnv("CausalCartPole-v0", contexts, selector="random")
    b = ContextualEnv("CausalCartPole-v0", contexts, selector="random")
    for k in range(3):
        oa, ia = a.reset(seed=k) if k == 0 else a.reset()
        ob, ib = b.reset(seed=k) if k == 0 else b.reset()
        assert ia["context_id"] == ib["context_id"]
        np.testing.assert_array_equal(oa, ob)
    with pytest.raises(ValueError, match="selector"):
        ContextualEnv("CausalCartPole-v0", selector="best")
    with pytest.raises(ValueError, match="vector observation"):
        ContextualEnv("CausalCartPole-v0", obs_type="pixels", obs_context_features=["gravity"])


def test_task_sequences_map_onto_contexts():
    seq = make_sequence("cartpole", seed=0, obs_type="state")
    contexts = seq.contexts()
    assert contexts[0] == context_space("CausalCartPole-v0").defaults()
    for i, task in enumerate(seq):
        assert task.context["gravity"] == task.truth["gravity"]
        assert task.context["masscart"] == task.truth["masscart"]
        # a distribution shift changes the context; the expansions do not (they change spaces)
        if i > 0:
            changed = contexts[i] != contexts[i - 1]
            assert changed == ("distribution_shift" in task.changes)
    assert make_sequence("synthetic").contexts() is None


def test_reward_threshold():
    assert (
        gym.spec("CausalCartPole-v0").reward_threshold == gym.spec("CartPole-v1").reward_threshold
    )
    assert gym.spec("CausalNav2D-v0").reward_threshold is None
