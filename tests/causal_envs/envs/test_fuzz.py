"""Property-based tests (Hypothesis): whatever an env, its step or its mask API is given, it
either works - finite observations of the declared shape, masks of the declared shape - or
raises ValueError/TypeError. Never another exception, never silent garbage."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import causal_envs  # noqa: F401  (registers the envs)

#: a few dozen examples per property: enough to find the classes of input, fast under load
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same examples every run: never flaky
)

ENV_IDS = ["CausalNav2D-v0", "CausalCartPole-v0", "SyntheticPOMDP-v0", "CoinRun-v0"]
ERRORS = (ValueError, TypeError)

scalars = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=3),
    st.none(),
)
arrays = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64, np.int64, np.int8, np.bool_, np.uint8]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
    elements=None,
)


@pytest.fixture(scope="module", params=ENV_IDS)
def env(request):
    e = gym.make(request.param)
    e.reset(seed=0)
    yield e
    e.close()


def _valid(env, action) -> bool:
    """Whether Gymnasium's space holds ``action`` (its casting warnings are the fuzz's own)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return bool(env.action_space.contains(action))
        except Exception:
            return False


@FUZZ
@given(action=st.one_of(scalars, arrays))
def test_a_step_takes_a_valid_action_and_refuses_the_rest(env, action):
    try:
        obs, reward, terminated, truncated, _ = env.step(action)
    except ERRORS:
        assert not _valid(env, action) or isinstance(action, bool | np.bool_)
        return
    assert _valid(env, action), f"accepted {action!r}, outside {env.action_space}"
    assert obs.shape == env.observation_space.shape and np.isfinite(obs).all()
    assert np.isfinite(reward)
    if terminated or truncated:
        env.reset(seed=1)


cartpole_kwargs = st.fixed_dictionaries(
    {},
    optional={
        "gravity": st.one_of(scalars, st.floats(-50, 50)),
        "masscart": st.one_of(scalars, st.floats(-5, 5)),
        "length": st.one_of(scalars, st.floats(-2, 2)),
        "force_mag": st.one_of(scalars, st.floats(-20, 20)),
        "friction_cart": st.one_of(scalars, st.lists(st.floats(-1, 1), max_size=3)),
        "force_scales": st.one_of(scalars, st.lists(st.floats(-3, 3), max_size=4)),
    },
)


@FUZZ
@given(kwargs=cartpole_kwargs)
def test_cartpole_settings_either_make_a_finite_env_or_raise(kwargs):
    try:
        env = gym.make("CausalCartPole-v0", obs_type="state", **kwargs)
        obs, _ = env.reset(seed=0)
    except ERRORS:
        return
    for _ in range(20):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert np.isfinite(obs).all(), f"{kwargs} gave {obs}"
        if terminated or truncated:
            break


@pytest.fixture(scope="module", params=["CausalNav2D-v0", "CausalCartPole-v0", "HookSweep2-v1"])
def causal(request):
    kwargs = {"obs_type": "state"} if request.param == "CausalCartPole-v0" else {}
    if request.param == "HookSweep2-v1":
        kwargs = {"flat_obs": True}
    e = gym.make(request.param, **kwargs)
    e.reset(seed=0)  # HookSweep2 labels for the episode's goal
    yield e.unwrapped
    e.close()


def _dims(env) -> tuple[int, int]:
    return env.causal_structure.state_dim, env.causal_structure.action_dim


batch_arrays = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64, np.int64, np.bool_]),
    shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
    elements=None,
)


@FUZZ
@given(states=batch_arrays, actions=batch_arrays, next_states=batch_arrays)
def test_the_mask_api_refuses_what_is_not_a_batch_of_transitions(
    causal, states, actions, next_states
):
    state_dim, _ = _dims(causal)
    st_ = causal.causal_structure
    rows = (1 if states.ndim == 1 else len(states),)  # a single transition: a batch of one
    for call, shape in (
        (lambda: causal.reward_fn(states, actions, next_states), rows),
        (lambda: causal.termination_fn(states, actions, next_states), rows),
        (lambda: causal.local_mask(states, actions), (*rows, st_.n_inputs, st_.n_outputs)),
    ):
        try:
            out = np.asarray(call())
        except ERRORS:
            continue
        # accepted: a transition (1-D) or a batch (2-D) of the right width; the output has
        # the contract's shape, one row per transition
        assert states.shape[-1] == state_dim and states.ndim <= 2, states.shape
        assert out.shape == shape, (out.shape, shape)


@FUZZ
@given(seed=st.integers(0, 2**31 - 1), rows=st.integers(1, 8))
def test_the_mask_api_on_real_batches(causal, seed, rows):
    state_dim, action_dim = _dims(causal)
    rng = np.random.default_rng(seed)
    space = getattr(causal, "state_space", causal.observation_space)
    low = np.where(np.isfinite(space.low), space.low, -1.0)[:state_dim]
    high = np.where(np.isfinite(space.high), space.high, 1.0)[:state_dim]
    s = rng.uniform(low, high, (rows, state_dim))
    a = rng.uniform(-1, 1, (rows, action_dim))
    if isinstance(causal.action_space, gym.spaces.Discrete):
        a = rng.integers(causal.action_space.n, size=(rows, 1)).astype(float)
    s2 = rng.uniform(low, high, (rows, state_dim))
    reward = np.asarray(causal.reward_fn(s, a, s2))
    done = np.asarray(causal.termination_fn(s, a, s2))
    mask = np.asarray(causal.local_mask(s, a))
    assert reward.shape == (rows,) and np.isfinite(reward).all()
    assert done.shape == (rows,) and done.dtype == np.bool_
    assert mask.dtype == np.bool_ and mask.shape[0] == rows
    with pytest.raises(ValueError, match="batch size"):
        causal.reward_fn(s, a[: rows - 1] if rows > 1 else np.zeros((2, a.shape[1])), s2)
