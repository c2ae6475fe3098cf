import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from causal_envs.envs.synthetic import SyntheticModel, SyntheticPOMDPEnv, action_values


def make(**kw):
    return gym.make("SyntheticPOMDP-v0", **kw)


def test_check_env_spaces_and_actions():
    env = make()
    check_env(env.unwrapped)
    assert env.observation_space.shape == (128,) and env.action_space.n == 33
    assert np.allclose(action_values()[[0, 16, 32]], [-1, 0, 1])
    assert gym.spec("SyntheticPOMDP-v0").max_episode_steps == 256


def test_ground_truth_says_what_the_generating_process_does():
    """Each mask is checked against behaviour: perturb one input, see which outputs move."""
    m = SyntheticModel.create(seed=3)
    gt = m.ground_truth()
    rng = np.random.default_rng(0)
    s = rng.normal(size=(500, 4))
    a = rng.uniform(-1, 1, size=500)
    zero = np.zeros((500, 4))
    for i in range(4):
        s2 = s.copy()
        s2[:, i] += 0.5
        obs_moved = np.abs(m.observe(s2) - m.observe(s)).max(axis=0) > 1e-6
        assert np.array_equal(obs_moved, gt["s->o"][i])
        reward_moved = np.abs(m.reward(s2) - m.reward(s)).max() > 1e-9
        assert reward_moved == gt["s->r"][i, 0]
    moved = np.abs(m.transition(s, a + 0.5, 0.3, zero) - m.transition(s, a, 0.3, zero)).max(0)
    assert np.array_equal(moved > 1e-12, gt["a->s"][0])
    assert 0.3 < gt["s->o"].mean() < 0.7  # about half of the weights dropped
    assert gt["s->r"].any() and (gt["s->s"] | gt["a->s"] | gt["theta->s"]).any(axis=0).all()


def test_masked_inputs_do_not_affect_outputs():
    m = SyntheticModel.create(seed=1)
    s = np.random.default_rng(0).normal(size=(50, 4))
    a = np.zeros(50)
    zero = np.zeros((50, 4))
    base = m.transition(s, a, 0.3, zero)
    for i in range(4):
        s2 = s.copy()
        s2[:, i] += 0.5
        changed = np.abs(m.transition(s2, a, 0.3, zero) - base).max(axis=0) > 1e-12
        assert np.array_equal(changed, m.mask_s[i])
    theta_changed = np.abs(m.transition(s, a, -0.8, zero) - base).max(axis=0) > 1e-12
    assert np.array_equal(theta_changed, m.mask_s[5])


def test_a_new_theta_changes_only_theta_children():
    a, b = make(theta=0.5).unwrapped, make(theta=-0.5).unwrapped
    assert a.change_factors == {"theta": 0.5}
    assert all(np.array_equal(a.ground_truth[k], b.ground_truth[k]) for k in a.ground_truth)
    oa, _ = a.reset(seed=0)
    ob, _ = b.reset(seed=0)
    assert np.array_equal(oa, ob)
    a.step(16)  # same seed: same noise; only theta differs
    b.step(16)
    moved = np.abs(a.latent_state - b.latent_state) > 1e-12
    assert np.array_equal(moved, a.ground_truth["theta->s"][0])


@pytest.mark.parametrize("extra", [3, 7])
def test_expansion_grows_the_latent_and_keeps_the_old_structure(extra):
    old = make().unwrapped
    new = make(expansions=(extra,)).unwrapped
    assert new.batch_model.latent_dim == 4 + extra
    go, gn = old.ground_truth, new.ground_truth
    assert np.array_equal(gn["s->s"][:4, :4], go["s->s"])
    assert np.array_equal(gn["a->s"][:, :4], go["a->s"])
    assert np.array_equal(gn["theta->s"][:, :4], go["theta->s"])
    assert np.array_equal(gn["s->o"][:4], go["s->o"]) and gn["s->o"].shape == (4 + extra, 128)
    assert np.array_equal(new.batch_model.w_s[:4, :4], old.batch_model.w_s[:4, :4])
    assert new.latent_structure.n_inputs == 4 + extra + 1


def test_seeded_and_validated():
    def run(seed):
        env = make(structure_seed=2)
        obs, _ = env.reset(seed=seed)
        out = [obs]
        for k in range(20):
            out.append(env.step(k)[0])
        return np.array(out)

    assert np.array_equal(run(4), run(4)) and not np.array_equal(run(4), run(5))
    assert not np.array_equal(
        make(structure_seed=0).unwrapped.batch_model.w_o,
        make(structure_seed=1).unwrapped.batch_model.w_o,
    )
    env = make().unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"integer in \[0, 33\)"):
        env.step(33)
    with pytest.raises(ValueError, match="theta"):
        make(theta=2.0)


def test_reference_returns_bracket_what_a_policy_can_score():
    env = SyntheticPOMDPEnv(structure_seed=7)
    refs = env.reference_returns(episodes=4, seed=3)
    assert set(refs) == {"random", "worst_constant", "best_constant", "planner", "best"}
    assert refs == env.reference_returns(episodes=4, seed=3)  # seeded
    assert refs != env.reference_returns(episodes=4, seed=4)
    assert refs["worst_constant"] <= refs["best_constant"] <= refs["best"]
    assert refs["best"] == max(refs["best_constant"], refs["planner"])
    # without noise, one step: the planner picks each episode's best action, so it scores at
    # least as much as any single action held for every episode
    quiet = SyntheticPOMDPEnv(structure_seed=7, noise_std=0.0)
    one = quiet.reference_returns(episodes=8, horizon=1)
    assert one["planner"] >= one["best_constant"] - 1e-12
    env.reset(seed=0)
    state = env.latent_state
    with pytest.raises(ValueError, match="episodes"):
        env.reference_returns(episodes=0)
    assert np.array_equal(env.latent_state, state)  # the env's own episode is untouched
