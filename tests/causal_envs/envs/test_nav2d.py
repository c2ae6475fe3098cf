import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import causal_envs
from causal_envs.envs.nav2d import NAV2D_STRUCTURE, CausalNav2DVectorEnv, Nav2DModel


def make(**kwargs):
    return gym.make("CausalNav2D-v0", **kwargs)


# ----------------------------------------------------------------------------- API and contract
@pytest.mark.parametrize("include_mask", [False, True])
def test_gymnasium_check_env_passes(include_mask):
    check_env(make(include_mask_in_info=include_mask).unwrapped, skip_render_check=False)


def test_causal_contract():
    env = make()
    causal_envs.check_causal_env(env)
    assert env.unwrapped.causal_structure is NAV2D_STRUCTURE
    assert NAV2D_STRUCTURE.parent_sets == (("x", "dx"), ("y", "dy"))
    assert gym.spec("CausalNav2D-v0").max_episode_steps == 70


def test_spaces():
    env = make()
    assert env.observation_space == gym.spaces.Box(0, 1, (2,), np.float32)
    assert env.action_space == gym.spaces.Box(-1, 1, (2,), np.float32)


# ------------------------------------------------------------- dynamics (MoCoDA appendix C.1)
def step_from(state, action, **kwargs):
    env = make(**kwargs)
    env.reset(seed=0, options={"state": state})
    return env.step(np.asarray(action, np.float32))


def test_factored_move_outside_quadrant():
    obs, r, term, trunc, _ = step_from((0.3, 0.7), (1.0, -0.5))
    np.testing.assert_allclose(obs, [0.35, 0.675], atol=1e-6)
    assert (r, term, trunc) == (-1.0, False, False)


def test_entangled_move_inside_quadrant():
    obs, *_ = step_from((0.6, 0.7), (1.0, -0.5))
    # x += 0.05*1 - 0.02*(-0.5); y += 0.05*(-0.5) - 0.02*1
    np.testing.assert_allclose(obs, [0.66, 0.655], atol=1e-6)


def test_quadrant_is_checked_before_the_move():
    # Starts outside (y = 0.49) and enters: the move is factored.
    obs, *_ = step_from((0.6, 0.49), (0.0, 1.0))
    np.testing.assert_allclose(obs, [0.6, 0.54], atol=1e-6)


def test_actions_and_positions_are_clipped():
    obs, *_ = step_from((0.99, 0.01), (5.0, -3.0))
    np.testing.assert_allclose(obs, [1.0, 0.0])
    obs, *_ = step_from((0.3, 0.3), (5.0, -3.0))
    np.testing.assert_allclose(obs, [0.35, 0.25], atol=1e-6)


def test_goal_terminates_with_zero_reward():
    obs, r, term, trunc, _ = step_from((0.82, 0.82), (0.2, 0.2))
    assert 0.8 < obs[0] < 0.9 and 0.8 < obs[1] < 0.9
    assert (r, term, trunc) == (0.0, True, False)


def test_truncation_after_70_steps():
    env = make()
    env.reset(seed=0)
    for t in range(70):
        _, r, term, trunc, _ = env.step(np.array([0.0, 0.0], np.float32))
        assert r == -1.0 and not term
        assert trunc == (t == 69)


def test_start_state_distribution():
    env = make()
    starts = np.array([env.reset(seed=s)[0] for s in range(300)])
    assert starts.min() >= 0 and starts.max() <= 0.15
    assert starts.max() > 0.14 and starts.min() < 0.01


def test_diagonal_policy_reaches_goal():
    env = make()
    obs, _ = env.reset(seed=3)
    rewards = []
    term = False
    while not term and len(rewards) < 70:
        obs, r, term, _, _ = env.step(np.clip((0.85 - obs) / 0.05, -1, 1).astype(np.float32))
        rewards.append(r)
    assert term and rewards[-1] == 0.0 and len(rewards) < 25


# ------------------------------------------------------------------------ masks are ground truth
def test_local_mask_matches_quadrants():
    s = np.array([[0.2, 0.2], [0.7, 0.2], [0.2, 0.7], [0.7, 0.7], [0.5, 0.9]])
    m = make().unwrapped.local_mask(s, np.zeros_like(s))
    base = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], bool)
    for i in (0, 1, 2, 4):
        assert np.array_equal(m[i], base)
    assert m[3].all()


def test_mask_agrees_with_simulator_perturbations():
    """An input marked as no-cause never changes that output; a marked action always can."""
    rng = np.random.default_rng(0)
    task = Nav2DModel()
    s = rng.uniform(0.05, 0.95, size=(2000, 2)).astype(np.float32)
    a = rng.uniform(-0.9, 0.9, size=(2000, 2)).astype(np.float32)
    mask = make().unwrapped.local_mask(s, a)
    base = task.dynamics(s, a)
    for i in range(4):
        x = np.concatenate([s, a], axis=1)
        x[:, i] += 0.05 if i < 2 else 0.1
        moved = task.dynamics(x[:, :2], x[:, 2:]) != base
        if i < 2:  # a state shift may cross the quadrant border; compare where it does not
            same_side = task.entangled(x[:, :2]) == task.entangled(s)
            moved, m = moved[same_side], mask[same_side, i]
        else:
            m = mask[:, i]
        assert not (moved & ~m).any(), f"input {i} changed an output its mask excludes"
    # action cross-effects exist exactly where the mask says so
    x = a.copy()
    x[:, 1] += 0.1
    cross = task.dynamics(s, x)[:, 0] != base[:, 0]
    assert np.array_equal(cross, mask[:, 3, 0])


def test_info_mask_is_that_of_the_transition():
    env = make(include_mask_in_info=True)
    env.reset(seed=0, options={"state": (0.7, 0.46)})
    _, _, _, _, info = env.step(np.array([0.0, 1.0], np.float32))  # factored; enters quadrant
    assert np.array_equal(info["causal_mask"], NAV2D_STRUCTURE.graph)
    _, _, _, _, info = env.step(np.array([0.0, 1.0], np.float32))
    assert info["causal_mask"].all()


def test_batched_labels_match_env_steps():
    env = make()
    obs, _ = env.reset(seed=1, options={"state": (0.75, 0.75)})
    rows = []
    for _ in range(12):
        a = np.array([0.5, 0.6], np.float32)
        nxt, r, term, _, _ = env.step(a)
        rows.append((obs, a, nxt, r, term))
        obs = nxt
        if term:
            break
    s, a, s2, r, d = (np.array(c) for c in zip(*rows, strict=True))
    u = env.unwrapped
    assert np.array_equal(u.reward_fn(s, a, s2), r.astype(np.float32))
    assert np.array_equal(u.termination_fn(s, a, s2), d)
    assert d[-1]  # this path does reach the goal


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("action", "error", "message"),
    [
        (np.array([np.nan, 0.0], np.float32), ValueError, "finite"),
        (np.array([0.0, 0.0, 0.0], np.float32), ValueError, r"shape \(2,\)"),
        (np.array([1, 0]), TypeError, "float array"),
        ("up", TypeError, "float array"),
        ([[0.1, 0.2]], ValueError, r"shape \(2,\)"),
    ],
)
def test_bad_actions_raise_clear_errors(action, error, message):
    env = make().unwrapped
    env.reset(seed=0)
    with pytest.raises(error, match=message):
        env.step(action)


def test_lists_of_floats_are_accepted():
    env = make()
    env.reset(seed=0, options={"state": (0.2, 0.2)})
    obs, *_ = env.step([0.5, 0.5])
    np.testing.assert_allclose(obs, [0.225, 0.225], atol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="render_mode"):
        make(render_mode="ansi")
    with pytest.raises(ValueError, match="goal_low must not exceed goal_high"):
        make(goal_low=0.9, goal_high=0.8)
    with pytest.raises(ValueError, match="step_size"):
        make(step_size=float("nan"))
    with pytest.raises(ValueError, match=r"options\['state'\]"):
        make().reset(options={"state": (2.0, 0.0)})
    with pytest.raises(gym.error.ResetNeeded):
        make().unwrapped.step(np.zeros(2, np.float32))


# ----------------------------------------------------------------------------- determinism
def rollout(env, seed, steps=200):
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    out = [obs]
    for _ in range(steps):
        obs, r, term, trunc, _ = env.step(env.action_space.sample())
        out.append(np.append(obs, [r, term, trunc]))
        if term or trunc:
            out.append(env.reset()[0])
    return np.concatenate(out)


def test_same_seed_same_episodes():
    assert np.array_equal(rollout(make(), 7), rollout(make(), 7))
    assert not np.array_equal(rollout(make(), 7), rollout(make(), 8))


# ----------------------------------------------------------------------------- vector env
def test_make_vec_uses_native_vector_env():
    envs = gym.make_vec("CausalNav2D-v0", num_envs=4096)
    assert isinstance(envs.unwrapped, CausalNav2DVectorEnv)
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (4096, 2) and obs.dtype == np.float32
    obs, r, term, trunc, _ = envs.step(envs.action_space.sample())
    assert r.shape == term.shape == trunc.shape == (4096,)
    assert envs.unwrapped.causal_structure is NAV2D_STRUCTURE


def test_vector_env_matches_single_envs_bit_for_bit():
    """The vector env, with NEXT_STEP autoreset, follows the same trajectories as single envs."""
    n, steps = 6, 160
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1.3, 1.3, size=(steps, n, 2)).astype(np.float32)
    starts = rng.uniform(0.3, 0.9, size=(n, 2)).astype(np.float32)
    envs = CausalNav2DVectorEnv(num_envs=n, include_mask_in_info=True)
    obs_v, _ = envs.reset(seed=0, options={"state": starts})
    singles = [make(include_mask_in_info=True) for _ in range(n)]
    obs_s = [e.reset(seed=0, options={"state": starts[i]})[0] for i, e in enumerate(singles)]
    done = np.zeros(n, bool)
    n_checked = n_resets = 0
    for t in range(steps):
        obs_v, r_v, term_v, trunc_v, info = envs.step(actions[t])
        for i, e in enumerate(singles):
            if done[i]:  # NEXT_STEP: this step reset sub-env i; re-sync the single env
                assert (r_v[i], term_v[i], trunc_v[i], info["_causal_mask"][i]) == (0, 0, 0, 0)
                obs_s[i] = e.reset(options={"state": obs_v[i]})[0]
                n_resets += 1
                continue
            o, r, term, trunc, inf = e.step(actions[t, i])
            assert np.array_equal(o, obs_v[i]) and r == r_v[i]
            assert (term, trunc) == (term_v[i], trunc_v[i])
            assert np.array_equal(inf["causal_mask"], info["causal_mask"][i])
            n_checked += 1
        done = term_v | trunc_v
    assert n_resets >= n  # every sub-env was truncated at 70 steps at least once
    assert n_checked + n_resets == steps * n


def test_vector_env_truncates_and_resets():
    envs = CausalNav2DVectorEnv(num_envs=3, max_episode_steps=5)
    envs.reset(seed=0)
    zeros = np.zeros((3, 2), np.float32)
    for _ in range(4):
        assert not envs.step(zeros)[3].any()
    assert envs.step(zeros)[3].all()
    obs, r, term, trunc, _ = envs.step(zeros)  # autoreset step
    assert (r == 0).all() and not term.any() and not trunc.any()
    assert (obs <= 0.15).all()


def test_vector_env_seeding_and_errors():
    a = CausalNav2DVectorEnv(num_envs=8)
    b = CausalNav2DVectorEnv(num_envs=8)
    assert np.array_equal(a.reset(seed=3)[0], b.reset(seed=3)[0])
    with pytest.raises(ValueError, match=r"shape \(8, 2\)"):
        a.step(np.zeros((7, 2), np.float32))
    with pytest.raises(ValueError, match="finite"):
        a.step(np.full((8, 2), np.nan, np.float32))
    with pytest.raises(ValueError, match="num_envs"):
        CausalNav2DVectorEnv(num_envs=0)
    with pytest.raises(ValueError, match="does not render"):
        CausalNav2DVectorEnv(num_envs=2, render_mode="rgb_array")


# ----------------------------------------------------------------------------- rendering
def test_render_draws_arena_goal_and_agent():
    env = make(render_mode="rgb_array")
    env.reset(seed=0, options={"state": (0.1, 0.1)})
    for _ in range(5):
        env.step(np.array([1.0, 1.0], np.float32))
    frame = env.render()
    assert frame.shape == (256, 256, 3) and frame.dtype == np.uint8
    colours = {tuple(c) for c in frame.reshape(-1, 3)}
    for colour in [(140, 210, 140), (255, 228, 196), (215, 50, 50), (60, 110, 200)]:
        assert colour in colours
    # goal box centre (0.85, 0.85) is green; the agent at (0.35, 0.35) is red
    assert tuple(frame[round(0.15 * 255), round(0.85 * 255)]) == (140, 210, 140)
    assert tuple(frame[round(0.65 * 255), round(0.35 * 255)]) == (215, 50, 50)


def test_transition_fn_is_the_simulator():
    env = make()
    obs, _ = env.reset(seed=4, options={"state": (0.45, 0.7)})
    a = np.array([0.8, -0.3], np.float32)
    nxt, *_ = env.step(a)
    assert np.array_equal(env.unwrapped.transition_fn(obs[None], a[None])[0], nxt)
    with pytest.raises(ValueError, match="batch size"):
        env.unwrapped.transition_fn(np.zeros((2, 2)), np.zeros((3, 2)))


def test_success_is_reported_in_info_as_gymnasium_robotics_does():
    env = gym.make("CausalNav2D-v0")
    env.reset(options={"state": (0.84, 0.84)})
    _, reward, terminated, _, info = env.step(np.array([0.2, 0.2], np.float32))
    assert terminated and reward == 0.0 and info["is_success"] is True
    env.reset(options={"state": (0.1, 0.1)})
    assert env.step(np.zeros(2, np.float32))[4]["is_success"] is False
    vec = gym.make_vec("CausalNav2D-v0", 2)
    vec.reset(options={"state": [[0.84, 0.84], [0.1, 0.1]]})
    _, _, terminated, _, infos = vec.step(np.full((2, 2), 0.2, np.float32))
    np.testing.assert_array_equal(infos["is_success"], terminated)
    np.testing.assert_array_equal(infos["is_success"], [True, False])


def test_an_unknown_reset_option_is_refused():
    env = gym.make("CausalNav2D-v0")
    with pytest.raises(ValueError, match=r"unknown reset options \['stat'\]; use 'state'"):
        env.reset(options={"stat": (0.1, 0.1)})
