import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import causal_envs
from causal_envs.envs.cartpole import (
    FRICTION_OBS_SCALE,
    CartPoleModel,
    CausalCartPoleVectorEnv,
    cartpole_structure,
)

FRICTION = (3e-4, 5e-4, 7e-4)


def make(**kw):
    return gym.make("CausalCartPole-v0", **kw)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"obs_type": "pixels"},
        {"friction_cart": FRICTION},
        {"force_scales": (0.5, 1.0, 1.5)},
        {"gravity": 20.0, "masscart": 3.5},
    ],
)
def test_check_env_and_causal_contract(kw):
    env = make(**kw)
    check_env(env.unwrapped)
    if kw.get("obs_type") != "pixels":
        causal_envs.check_causal_env(env)


def test_default_physics_without_pole_friction_is_gymnasium_cartpole():
    ours = make(friction_pole=0.0).unwrapped
    ref = gym.make("CartPole-v1").unwrapped
    a, _ = ours.reset(seed=3)
    b, _ = ref.reset(seed=3)
    assert np.array_equal(a, b)
    for t in range(60):
        a, ra, ta, _, _ = ours.step(t % 3 % 2)
        b, rb, tb, _, _ = ref.step(t % 3 % 2)
        assert np.allclose(a, b, atol=1e-6) and (ra, ta) == (rb, tb)
        if ta:
            break


def test_gravity_changes_the_dynamics():
    def fall_time(g):
        env = make(gravity=g).unwrapped
        env.reset(seed=0)
        for t in range(500):
            if env.step(t % 2)[2]:
                return t
        return 500

    assert fall_time(40.0) < fall_time(9.8) < fall_time(5.0)


def test_friction_appears_in_the_observation_and_the_pixels():
    env = make(friction_cart=FRICTION, obs_type="pixels").unwrapped
    frames = [env.reset(seed=0)[0]]
    for _ in range(10):
        frames.append(env.step(0)[0])
    track = lambda f: tuple(f[47, 0])  # noqa: E731
    assert track(frames[0]) != track(frames[5]) != track(frames[10])
    plain = make(obs_type="pixels").unwrapped.reset(seed=0)[0]
    assert track(plain) not in {track(f) for f in frames}
    state = make(friction_cart=FRICTION).unwrapped
    obs, _ = state.reset(seed=0)
    seen = [obs[4]]
    for _ in range(15):
        seen.append(state.step(0)[0][4])
    # the coefficient x 1,000, on the scale of the other elements
    assert np.allclose(sorted(set(np.round(seen, 6))), np.multiply(FRICTION, FRICTION_OBS_SCALE))


def test_cart_friction_presses_with_the_normal_force():
    """Florian (2007) Eq. 21-22: at rest upright (theta = theta' = 0) the normal force is
    (mc + mp) g, so the friction decelerates the cart by mu_c g, heavier gravity more."""
    for gravity in (9.8, 40.0):
        model = CartPoleModel(gravity=gravity, friction_cart=(5e-4,), friction_pole=0.0)
        mu, mp, length = 5e-4, model.masspole, model.length
        total = mp + model.masscart
        x_acc, th_acc = model.accelerations(
            np.array([1.0]), np.array([0.0]), np.array([0.0]), np.array([0.0]), np.array([mu])
        )
        expected_th = mu * gravity / (length * (4 / 3 - mp / total * (1 - mu)))
        assert th_acc[0] == pytest.approx(expected_th)
        assert x_acc[0] == pytest.approx(-(mp * length * th_acc[0] + mu * total * gravity) / total)
        # the scalar twin agrees
        one = model.step_one((0.0, 1.0, 0.0, 0.0), 0, mu)
        many = model.step(np.array([[0.0, 1.0, 0.0, 0.0]]), np.array([0]), np.array([mu]))[0]
        assert np.allclose(one, many)


def test_the_friction_slot_can_be_present_before_the_friction():
    env = make(observe_friction=True)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.shape == (5,) and obs[4] == 0.0
    # at zero friction the friction's edges do not act in the local graph
    assert not env.unwrapped.local_mask(obs[None], np.array([0]))[0, 4, [1, 3]].any()
    vec = CausalCartPoleVectorEnv(num_envs=2, observe_friction=True)
    assert vec.reset(seed=0)[0].shape == (2, 5)
    hidden = make(friction_cart=FRICTION, observe_friction=False)
    assert hidden.observation_space.shape == (4,)  # a hidden friction: a POMDP
    with pytest.raises(ValueError, match="observe_friction applies to obs_type='state'"):
        make(obs_type="pixels", observe_friction=True)
    with pytest.raises(ValueError, match="observe_friction must be True, False or None"):
        make(observe_friction="yes")


def test_friction_slows_the_cart():
    def speed(friction):
        env = make(friction_cart=friction, friction_pole=0.0).unwrapped
        env.reset(seed=0)
        for _ in range(5):
            obs = env.step(1)[0]
        return obs[1]

    assert speed((0.5,)) < speed(()) and speed(()) > 0


def test_action_expansion_appends_forces_and_keeps_the_old_actions():
    env = make(force_scales=(1.0, 0.5, 1.5))
    assert env.action_space == gym.spaces.Discrete(6)
    assert np.allclose(env.unwrapped.batch_model.forces, [-10, 10, -5, 5, -15, 15])
    pushes = []
    for a in range(6):
        e = env.unwrapped
        e.reset(seed=0)
        pushes.append(e.step(a)[0][1])
    base = make()
    for a in (0, 1):  # actions 0 and 1 push as in the two-action task
        base.reset(seed=0)
        assert base.step(a)[0][1] == pytest.approx(pushes[a])
    assert pushes[4] < pushes[0] < pushes[2] < 0 < pushes[3] < pushes[1] < pushes[5]


def test_structure_and_masks():
    s = cartpole_structure(with_friction=False)
    assert s.parents("theta_dot'") == ("theta", "theta_dot", "force")
    f = cartpole_structure(with_friction=True)
    assert f.parents("x_dot'") == ("x_dot", "theta", "theta_dot", "friction", "force")
    env = make(friction_cart=FRICTION).unwrapped
    states = np.array([[0, 0.5, 0, 0, 5e-4], [0, 0.0, 0, 0, 5e-4]], np.float32)
    mask = env.local_mask(states, np.array([0, 1]))
    assert mask[0, 1, 3] and not mask[1, 1, 3]  # x_dot -> theta_dot' only while moving
    assert env.change_factors == {"gravity": 9.8, "masscart": 1.0}


def test_same_seed_same_episode_and_vector_env_matches():
    def run(env, seed):
        obs, _ = env.reset(seed=seed)
        out = [obs]
        for t in range(100):
            obs, _r, term, _trunc, _ = env.step(t % 2)
            out.append(obs)
            if term:
                break
        return np.array(out)

    assert np.array_equal(run(make(), 5), run(make(), 5))
    envs = CausalCartPoleVectorEnv(num_envs=3, friction_cart=FRICTION)
    vo, _ = envs.reset(seed=0)
    single = make(friction_cart=FRICTION).unwrapped
    single.reset(seed=0)
    single._state = tuple(envs._state[1].tolist())
    for t in range(20):
        vo = envs.step(np.full(3, t % 2))[0]
        so = single.step(t % 2)[0]
        assert np.allclose(vo[1], so)


def test_vector_pixels_and_errors():
    envs = gym.make_vec("CausalCartPole-v0", num_envs=8, obs_type="pixels")
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (8, 64, 64, 3) and obs.dtype == np.uint8
    with pytest.raises(ValueError, match=r"integers of shape \(8,\)"):
        envs.step(np.zeros(8, np.float32))
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        envs.step(np.full(8, 2))
    env = make().unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"integer in \[0, 2\)"):
        env.step(2)
    with pytest.raises(ValueError, match="obs_type"):
        make(obs_type="rgb")
    with pytest.raises(ValueError, match="gravity"):
        CartPoleModel(gravity=-1.0)
    with pytest.raises(ValueError, match="force_scales"):
        CartPoleModel(force_scales=())


def test_constants_take_numpy_scalars_and_reject_garbage():
    for value in (np.float64(9.8), np.float32(9.8), np.int64(12), 9):
        env = gym.make("CausalCartPole-v0", gravity=value, force_mag=np.float64(10.0))
        env.reset(seed=0)
        for _ in range(3):
            env.step(0)
        assert type(env.unwrapped.batch_model.gravity) is float
    for bad in (float("nan"), np.nan, True, "9.8", float("inf")):
        with pytest.raises(ValueError, match="gravity must be a finite number"):
            gym.make("CausalCartPole-v0", gravity=bad)
    with pytest.raises(ValueError, match="friction_cart must be a finite number"):
        gym.make("CausalCartPole-v0", friction_cart=(np.nan,))
    with pytest.raises(ValueError, match="force_scales must be a sequence"):
        gym.make("CausalCartPole-v0", force_scales=1.0)


def test_a_misspelt_physics_keyword_names_the_keywords_it_takes():
    message = r"unknown CausalCartPole keyword\(s\) \['gravty'\].*gravity"
    with pytest.raises(TypeError, match=message):
        gym.make("CausalCartPole-v0", gravty=3.0)
