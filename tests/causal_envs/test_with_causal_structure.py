"""WithCausalStructure: a third-party env, knowing nothing of this package, gets the causal
contract in one call; Gymnasium calls pass through unchanged, bad declarations fail early and
by name, and MoCoDA runs on the result."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from augment import DynamicsConfig, MoCoDA, MoCoDAConfig, TrainingConfig
from causal_envs.core import CausalEnv, ContractError, check_causal_env
from causal_envs.datasets import random_rollouts
from causal_envs.wrappers import WithCausalStructure

GOALS = np.array([[0.5, 0.5], [-0.5, -0.5]])


class TwoPointMasses(gym.Env):
    """Two point masses in [-1, 1]^2 side by side, each pushed by its own half of the action:
    observation ``[p1x, p1y, p2x, p2y]``, action ``[f1x, f1y, f2x, f2y]``, reward minus the
    sum of both distances to their goals. A third-party env: plain Gymnasium, nothing more."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode: str | None = None):
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
        self.render_mode = render_mode
        self.closed = False
        self._p = np.zeros(4, np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._p = self.np_random.uniform(-1.0, 1.0, 4).astype(np.float32)
        return self._p.copy(), {}

    def step(self, action):
        a = np.clip(np.asarray(action, dtype=np.float32), -1.0, 1.0)
        self._p = np.clip(self._p + 0.1 * a, -1.0, 1.0).astype(np.float32)
        reward = float(distance_reward(self._p[None])[0])
        return self._p.copy(), reward, False, False, {"distances": -reward}

    def render(self):
        frame = np.zeros((8, 8, 3), np.uint8)
        for k, channel in ((0, 0), (2, 1)):
            x, y = ((self._p[k : k + 2] + 1.0) * 3.5).round().astype(int)
            frame[y, x, channel] = 255
        return frame

    def close(self):
        self.closed = True


def distance_reward(next_states: np.ndarray) -> np.ndarray:
    """Minus the sum of the two masses' distances to their goals, per row."""
    s2 = np.asarray(next_states).reshape(-1, 2, 2)
    return -np.linalg.norm(s2 - GOALS, axis=2).sum(axis=1)


NODES = {"p1": [0, 1], "p2": [2, 3]}
FORCES = {"f1": [0, 1], "f2": [2, 3]}
PARENTS = {"p1": ["p1", "f1"], "p2": ["p2", "f2"]}


def reward_fn(states, actions, next_states):
    return distance_reward(next_states)


def wrap(env: gym.Env | None = None, **overrides) -> WithCausalStructure:
    kwargs = (
        dict(parents=PARENTS, state_nodes=NODES, action_nodes=FORCES, reward_fn=reward_fn)
        | overrides
    )
    return WithCausalStructure(env or TwoPointMasses(), **kwargs)


# ------------------------------------------------------------------------- the contract
def test_the_wrapped_env_meets_the_contract_where_tools_look():
    env = wrap()
    assert env.unwrapped is env and isinstance(env, CausalEnv)
    assert check_causal_env(env) == ["CausalEnv"]
    assert not isinstance(TwoPointMasses(), CausalEnv)  # the adapter added it
    # further Gymnasium wrappers keep it visible through unwrapped
    assert check_causal_env(gym.wrappers.TimeLimit(env, 20)) == ["CausalEnv"]


def test_the_graph_is_block_diagonal_as_declared():
    structure = wrap().causal_structure
    assert structure.input_names == ("p1", "p2", "f1", "f2")
    assert structure.output_names == ("p1'", "p2'")
    # rows p1, p2, f1, f2; columns p1', p2': each subsystem on its own
    assert structure.graph.tolist() == [[True, False], [False, True], [True, False], [False, True]]
    assert structure.parent_sets == (("p1", "f1"), ("p2", "f2"))
    assert structure.input_dims(("p2", "f2")).tolist() == [2, 3, 6, 7]


def test_trailing_quote_on_parents_keys_is_the_same_node():
    quoted = wrap(parents={"p1'": ["p1", "f1"], "p2'": ["p2", "f2"]})
    assert quoted.causal_structure == wrap().causal_structure


def test_default_nodes_are_one_per_dimension():
    env = WithCausalStructure(
        TwoPointMasses(),
        parents={f"s{i}": [f"s{i}", f"a{i}"] for i in range(4)},
        reward_fn=reward_fn,
    )
    structure = env.causal_structure
    assert structure.input_names == ("s0", "s1", "s2", "s3", "a0", "a1", "a2", "a3")
    assert structure.graph.sum() == 8 and check_causal_env(env) == ["CausalEnv"]


def test_default_mask_is_the_graph_on_every_row_and_a_given_one_is_used():
    env = wrap()
    rng = np.random.default_rng(0)
    s, a = rng.uniform(-1, 1, (5, 4)), rng.uniform(-1, 1, (5, 4))
    mask = env.local_mask(s, a)
    assert mask.shape == (5, 4, 2) and mask.dtype == np.bool_
    assert (mask == env.causal_structure.graph).all()

    def coupled_when_close(states, actions):
        """Where the masses are within 0.2 of each other, every root causes both."""
        close = np.linalg.norm(states[:, :2] - states[:, 2:], axis=1) < 0.2
        out = np.broadcast_to(env.causal_structure.graph, (len(states), 4, 2)).copy()
        out[close] = True
        return out.astype(int)  # 0/1 is accepted and returned as bool

    local = wrap(local_mask=coupled_when_close)
    s[0, 2:] = s[0, :2] + 0.05
    mask = local.local_mask(s, a)
    assert mask.dtype == np.bool_ and mask[0].all() and not mask[1:].all(axis=(1, 2)).any()
    assert check_causal_env(local) == ["CausalEnv"]


def test_labels_are_the_users_functions_cast_to_the_contract():
    env = wrap(termination_fn=lambda s, a, s2: (-distance_reward(s2) < 0.1).astype(int))
    s2 = np.array([[0.5, 0.5, -0.5, -0.5], [0.0, 0.0, 0.0, 0.0]])
    r = env.reward_fn(np.zeros((2, 4)), np.zeros((2, 4)), s2)
    assert r.dtype == np.float32 and np.allclose(r, [0.0, -2 * np.sqrt(0.5)])
    d = env.termination_fn(np.zeros((2, 4)), np.zeros((2, 4)), s2)
    assert d.dtype == np.bool_ and d.tolist() == [True, False]
    # one row without its batch axis is a batch of one
    assert env.reward_fn(np.zeros(4), np.zeros(4), s2[0]).shape == (1,)


def test_without_termination_fn_the_env_never_terminates():
    d = wrap().termination_fn(np.zeros((3, 4)), np.zeros((3, 4)), np.zeros((3, 4)))
    assert d.dtype == np.bool_ and d.tolist() == [False, False, False]


def test_reward_fn_agrees_with_step_on_rollouts():
    """The declared labels match what the env's own step gave (the user's responsibility,
    checked here as a user would)."""
    data = random_rollouts(wrap(), n_episodes=3, seed=0, max_steps=20)
    env = wrap()
    relabelled = data.relabel(env.reward_fn, env.termination_fn)
    assert np.allclose(relabelled.rewards, data.rewards, atol=1e-6)
    assert np.array_equal(relabelled.terminals, data.terminals)


# ------------------------------------------------------------------------- Gymnasium calls
def test_reset_step_and_seeding_delegate_to_the_inner_env():
    raw, env = TwoPointMasses(), wrap()
    obs_raw, _ = raw.reset(seed=7)
    obs, info = env.reset(seed=7)
    assert np.array_equal(obs, obs_raw) and info == {}
    action = np.array([0.5, -0.5, 1.0, 0.25], np.float32)
    for _ in range(3):
        out_raw, out = raw.step(action), env.step(action)
        assert np.array_equal(out[0], out_raw[0]) and out[1:] == out_raw[1:]
    assert env.np_random is env.env.np_random and env.np_random_seed == 7
    # another seed, another start; the same seed again, the same start
    assert not np.array_equal(env.reset(seed=8)[0], obs)
    assert np.array_equal(env.reset(seed=7)[0], obs)


def test_spaces_metadata_render_and_close_are_the_inner_envs():
    inner = TwoPointMasses(render_mode="rgb_array")
    env = wrap(inner)
    assert env.observation_space is inner.observation_space
    assert env.action_space is inner.action_space
    assert env.metadata == inner.metadata and env.render_mode == "rgb_array"
    assert env.spec is None and "TwoPointMasses" in str(env)
    env.reset(seed=0)
    assert np.array_equal(env.render(), inner.render()) and env.render().any()
    env.close()
    assert inner.closed


def test_gymnasium_env_checker_passes():
    check_env(wrap(), skip_render_check=True)


def test_a_made_env_with_discrete_actions():
    """CartPole (Box observations, Discrete(2) actions): one action node ``a``, given to the
    user's functions as a column of integer indices."""
    seen = {}

    def upright(states, actions, next_states):
        seen["actions"] = actions
        return np.ones(len(states))

    env = WithCausalStructure(
        gym.make("CartPole-v1"),
        parents={"cart": ["cart", "pole", "a"], "pole": ["cart", "pole", "a"]},
        state_nodes={"cart": [0, 1], "pole": [2, 3]},
        reward_fn=upright,
        termination_fn=lambda s, a, s2: np.abs(s2[:, 2]) > 0.2095,
    )
    assert env.causal_structure.input_names == ("cart", "pole", "a")
    assert check_causal_env(env) == ["CausalEnv"]
    assert seen["actions"].dtype == np.int64 and seen["actions"].shape == (64, 1)
    assert env.local_mask(np.zeros((2, 4)), np.array([0, 1])).shape == (2, 3, 2)
    obs, _ = env.reset(seed=3)
    assert np.array_equal(obs, gym.make("CartPole-v1").reset(seed=3)[0])
    with pytest.raises(ContractError, match="action space of WithCausalStructure"):
        MoCoDA(env, device="cpu")  # MoCoDA samples continuous actions: it says so


# ------------------------------------------------------------------------- bad declarations
@pytest.mark.parametrize(
    ("parents", "error", "match"),
    [
        ({"p1": ["p1", "f1"]}, ValueError, r"no parents for the next-state nodes \['p2'\]"),
        ({**PARENTS, "p3": ["p1"]}, ValueError, "'p3', which is not a state node"),
        ({"p1": ["p1", "f3"], "p2": ["p2"]}, ValueError, r"parents\['p1'\] names 'f3'"),
        ({"p1": ["p1'"], "p2": ["p2"]}, ValueError, "not next-state ones"),
        ({"p1": [], "p2": ["p2"]}, ValueError, r"parents\['p1'\] is empty"),
        ({"p1": "p1", "p2": ["p2"]}, ValueError, r"write \['p1'\]"),
        ({"p1": ["p1"], "p1'": ["f1"], "p2": ["p2"]}, ValueError, "gives node 'p1' twice"),
        ([("p1", ["p1"])], TypeError, "parents must be a mapping"),
    ],
)
def test_bad_parents_are_named(parents, error, match):
    with pytest.raises(error, match=match):
        wrap(parents=parents)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"state_nodes": {"p1": [0, 1], "p2": [2, 4]}}, r"'p2' has indices \[4\] outside"),
        ({"state_nodes": {"p1": [0, 1], "p2": [-1, 3]}}, r"'p2' has indices \[-1\] outside"),
        ({"action_nodes": {"f1": [0, 1], "f2": [2, 7]}}, r"action node 'f2' has indices \[7\]"),
        ({"state_nodes": {"p1": [0.0, 1.0], "p2": [2, 3]}}, "must list integer indices"),
        ({"state_nodes": {"p1": [], "p2": [0, 1, 2, 3]}}, "'p1' has no indices"),
        ({"state_nodes": {"p1": [0, 1, 2], "p2": [2, 3]}}, "exactly once each"),
        ({"state_nodes": {"p1": [0, 1], "p2": [2]}}, "exactly once each"),
        ({"action_nodes": {"p1": [0, 1], "f2": [2, 3]}}, "node names must be unique"),
    ],
)
def test_bad_node_indices_are_named(overrides, match):
    with pytest.raises(ValueError, match=match):
        wrap(**overrides)


def test_non_box_spaces_and_non_callables_are_refused():
    class DictObservations(TwoPointMasses):
        def __init__(self):
            super().__init__()
            self.observation_space = gym.spaces.Dict({"p": gym.spaces.Box(-1, 1, (4,))})

    class MultiDiscreteActions(TwoPointMasses):
        def __init__(self):
            super().__init__()
            self.action_space = gym.spaces.MultiDiscrete([3, 3])

    class ImageObservations(TwoPointMasses):
        def __init__(self):
            super().__init__()
            self.observation_space = gym.spaces.Box(0, 255, (8, 8, 3), np.uint8)

    with pytest.raises(TypeError, match=r"Box observation space.*observation_space Dict"):
        wrap(DictObservations())
    with pytest.raises(TypeError, match="action_space MultiDiscrete"):
        wrap(MultiDiscreteActions())
    with pytest.raises(ValueError, match=r"1-D Box.*FlattenObservation"):
        wrap(ImageObservations())
    with pytest.raises(TypeError, match=r"env must be a gymnasium\.Env"):
        WithCausalStructure("TwoPointMasses-v0", PARENTS, reward_fn=reward_fn)
    with pytest.raises(TypeError, match="reward_fn must be a function"):
        wrap(reward_fn=None)
    with pytest.raises(TypeError, match=r"local_mask must be a function.* or None"):
        wrap(local_mask=np.ones((4, 2)))


def test_functions_returning_the_wrong_shape_or_values_are_named():
    zeros = np.zeros((3, 4))
    column = wrap(reward_fn=lambda s, a, s2: distance_reward(s2)[:, None])
    with pytest.raises(ValueError, match=r"reward_fn must return .* shape \(3,\).*\(3, 1\)"):
        column.reward_fn(zeros, zeros, zeros)
    with pytest.raises(ContractError, match=r"reward_fn raised ValueError.*\(64, 1\)"):
        check_causal_env(column)
    words = wrap(reward_fn=lambda s, a, s2: np.array(["far"] * len(s)))
    with pytest.raises(ValueError, match="real numbers"):
        words.reward_fn(zeros, zeros, zeros)
    halves = wrap(termination_fn=lambda s, a, s2: np.full(len(s), 0.5))
    with pytest.raises(ValueError, match="booleans"):
        halves.termination_fn(zeros, zeros, zeros)
    flat = wrap(local_mask=lambda s, a: np.ones((len(s), 8), bool))
    with pytest.raises(ValueError, match=r"local_mask must return shape \(3, 4, 2\)"):
        flat.local_mask(zeros, zeros)
    with pytest.raises(ValueError, match="differ in batch size"):
        wrap().reward_fn(zeros, zeros[:2], zeros)


# ------------------------------------------------------------------------- MoCoDA on it
def test_mocoda_fits_and_generates_on_the_wrapped_env():
    env = wrap()
    data = random_rollouts(env, n_episodes=30, seed=0, max_steps=50)  # 1,500 transitions
    config = MoCoDAConfig(
        total_size=2_000,
        n_components=4,
        val_size=200,
        dynamics=DynamicsConfig(
            ensemble_size=2,
            hidden=(32, 32),
            embed_dim=16,
            training=TrainingConfig(epochs=2, batch_size=256),
        ),
        seed=0,
    )
    mocoda = MoCoDA(env, config, device="cpu")
    assert mocoda.env is env and mocoda.env_id is None
    assert mocoda.structure.parent_sets == (("p1", "f1"), ("p2", "f2"))
    out = mocoda.fit(data).generate("mocoda")
    assert len(out) == 2_000 and out.metadata["n_generated"] == 500
    new = slice(len(data), None)
    s, a, s2 = out.observations[new], out.actions[new], out.next_observations[new]
    assert (np.abs(s) <= 1).all() and (np.abs(a) <= 1).all() and (np.abs(s2) <= 1).all()
    # every generated transition carries the user's labels
    assert np.array_equal(out.rewards[new], env.reward_fn(s, a, s2))
    assert not out.terminals[new].any()
    # deterministic: the same seed, the same transitions
    again = MoCoDA(wrap(), config, device="cpu").fit(data).generate("mocoda")
    assert np.array_equal(again.next_observations, out.next_observations)
