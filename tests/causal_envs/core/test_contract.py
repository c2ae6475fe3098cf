"""check_causal_env on deliberately broken envs: each break is caught and named."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from causal_envs.core import (
    LATENT_EDGES,
    CausalEnv,
    CausalStructure,
    ContractError,
    GoalConditionedCausalEnv,
    LatentStructureEnv,
    check_causal_env,
)

STRUCTURE = CausalStructure({"x": [0], "y": [1]}, {"a": [0, 1]}, [[1, 0], [0, 1], [1, 1]])


class Good(gym.Env):
    """A minimal valid causal env: s' = clip(s + 0.1 a)."""

    causal_structure = STRUCTURE

    def __init__(self):
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def local_mask(self, states, actions):
        g = STRUCTURE.graph
        return np.broadcast_to(g, (len(states), *g.shape)).copy()

    def reward_fn(self, states, actions, next_states):
        return np.zeros(len(next_states), np.float32)

    def termination_fn(self, states, actions, next_states):
        return np.zeros(len(next_states), bool)

    def transition_fn(self, states, actions):
        return np.clip(np.asarray(states) + 0.1 * np.asarray(actions), -1, 1).astype(np.float32)


def broken(**members):
    return type("Broken", (Good,), members)()


def test_a_good_env_passes_and_says_what_it_meets():
    assert check_causal_env(Good()) == ["CausalEnv"]
    assert isinstance(Good(), CausalEnv) and not isinstance(Good(), LatentStructureEnv)


@pytest.mark.parametrize(
    ("members", "match"),
    [
        ({"causal_structure": "x->y"}, "causal_structure: must be a CausalStructure"),
        (
            {"causal_structure": CausalStructure({"x": [0, 1, 2]}, {"a": [0, 1]}, [[1], [1]])},
            "covers 3 state dims but observation_space has shape",
        ),
        (
            {"local_mask": lambda self, s, a: np.ones((len(s), 3, 2), np.int64)},
            "local_mask: must return dtype bool",
        ),
        (
            {"local_mask": lambda self, s, a: np.ones((len(s), 2, 3), bool)},
            r"local_mask: must return shape \(64, 3, 2\)",
        ),
        (
            {"local_mask": lambda self, s, a: np.ones((3, 2), bool)},
            r"local_mask: must return shape",
        ),
        (
            # the mask of a row depends on the batch's first row
            {
                "local_mask": lambda self, s, a: np.broadcast_to(
                    s[:1, :1] > 0, (len(s), 3, 2)
                ).copy()
            },
            "depends on the other rows",
        ),
        (
            {"reward_fn": lambda self, s, a, s2: np.zeros(len(s2))},
            "reward_fn: must return dtype float32",
        ),
        (
            {"reward_fn": lambda self, s, a, s2: [0.0] * len(s2)},
            "reward_fn: must return a numpy array",
        ),
        (
            {"termination_fn": lambda self, s, a, s2: np.zeros((len(s2), 1), bool)},
            r"termination_fn: must return shape \(64,\)",
        ),
        (
            {"transition_fn": lambda self, s, a: np.asarray(s) + 5.0},
            "transition_fn: returned a next state outside the observation space",
        ),
        (
            {"reward_fn": lambda self, s, a, s2: 1 / 0},
            "reward_fn raised ZeroDivisionError on valid inputs",
        ),
    ],
)
def test_each_break_is_caught_and_named(members, match):
    with pytest.raises(ContractError, match=match):
        check_causal_env(broken(**members))


def test_an_env_without_any_contract_is_refused_with_what_it_lacks():
    env = gym.make("CartPole-v1")
    with pytest.raises(ContractError, match=r"lacks \['causal_structure', 'local_mask'"):
        check_causal_env(env)


class GoodGoal(Good):
    state_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    goal_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def __init__(self):
        super().__init__()
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)

    def sample_goals(self, n, rng):
        return rng.uniform(-1, 1, size=(n, 2))

    def reward_fn(self, states, actions, next_states, goals):
        return -np.linalg.norm(np.asarray(next_states) - goals, axis=1).astype(np.float32)

    def termination_fn(self, states, actions, next_states, goals):
        return np.zeros(len(next_states), bool)

    def transition_fn(self, states, actions):
        return np.clip(np.asarray(states) + 0.1 * np.asarray(actions), -1, 1).astype(np.float32)


def test_goal_conditioned_envs_are_checked_on_their_state_space_and_goals():
    env = GoodGoal()
    assert isinstance(env, GoalConditionedCausalEnv)
    assert check_causal_env(env) == ["GoalConditionedCausalEnv"]
    bad = type("BadGoals", (GoodGoal,), {"sample_goals": lambda self, n, rng: np.full((n, 2), 9.0)})
    with pytest.raises(ContractError, match="sample_goals: drew a goal outside goal_space"):
        check_causal_env(bad())


class Latent(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = gym.spaces.Discrete(2)

    @property
    def ground_truth(self):
        return {
            "s->s": np.eye(2, dtype=bool),
            "a->s": np.ones((1, 2), bool),
            "theta->s": np.ones((1, 2), bool),
            "s->o": np.ones((2, 3), bool),
            "s->r": np.ones((2, 1), bool),
        }

    @property
    def latent_structure(self):
        return CausalStructure({"s0": [0], "s1": [1]}, {"a": [0]}, [[1, 0], [0, 1], [1, 1]])

    @property
    def change_factors(self):
        return {"theta": 0.3}


def test_latent_structure_envs_use_the_one_mask_notation():
    assert check_causal_env(Latent()) == ["LatentStructureEnv"]
    assert set(Latent().ground_truth) == set(LATENT_EDGES)
    wrong_keys = type(
        "WrongKeys",
        (Latent,),
        {"ground_truth": property(lambda self: {"s_s": np.eye(2, dtype=bool)})},
    )
    with pytest.raises(ContractError, match="ground_truth: must be a dict with keys"):
        check_causal_env(wrong_keys())
    truth = Latent().ground_truth | {"s->r": np.ones((3, 1), bool)}
    wrong_shape = type("WrongShape", (Latent,), {"ground_truth": property(lambda self: truth)})
    with pytest.raises(ContractError, match="'s->r' has shape"):
        check_causal_env(wrong_shape())
