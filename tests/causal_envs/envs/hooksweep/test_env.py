import os

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import causal_envs
from causal_envs.envs.hooksweep.expert import HookSweepExpert
from causal_envs.envs.hooksweep.model import (
    GOAL_BASE,
    HOOKSWEEP2_STRUCTURE,
    TABLE_TOP,
    HookSweep2Model,
)


@pytest.fixture(scope="module")
def env():
    e = gym.make("HookSweep2-v1")
    yield e
    e.close()


# ----------------------------------------------------------------------------- API and contract
@pytest.mark.parametrize("kwargs", [{}, {"flat_obs": True, "include_mask_in_info": True}])
def test_gymnasium_check_env_passes(kwargs):
    check_env(gym.make("HookSweep2-v1", **kwargs).unwrapped, skip_render_check=True)


def test_causal_contract_and_registration(env):
    causal_envs.check_causal_env(env)
    assert env.unwrapped.causal_structure is HOOKSWEEP2_STRUCTURE
    # the overlapping parent sets the MoCoDA sampler must condition on each other
    assert HOOKSWEEP2_STRUCTURE.parent_sets == (
        ("gripper", "action"),
        ("gripper", "box1", "action"),
        ("gripper", "box2", "action"),
    )
    assert gym.spec("HookSweep2-v1").max_episode_steps == 75
    assert gym.make("HookSweep2Source-v1").unwrapped.goal_mode == "sweep_one"
    assert env.unwrapped.batch_model == HookSweep2Model("sweep_both")
    with pytest.raises(ValueError, match="goal_mode must be one of"):
        gym.make("HookSweep2-v1", goal_mode="sweep_three")


def test_observation_layout(env):
    obs, info = env.reset(seed=3)
    assert set(obs) == {"observation", "achieved_goal", "desired_goal"}
    s = obs["observation"]
    assert s.shape == (16,) and obs["desired_goal"].shape == (7,)
    np.testing.assert_allclose(obs["achieved_goal"], np.r_[s[6:9], s[11:14], s[2]])
    assert obs["desired_goal"][6] == 0.42  # the gripper height the on-table term pays for
    # reset: boxes on the table near its centre, more than 0.1 apart, box 1 the lower y
    b1, b2 = s[6:8], s[11:13]
    assert np.linalg.norm(b1 - b2) > 0.1 and b1[1] <= b2[1]
    assert np.all(np.abs(np.r_[b1, b2] - np.tile([1.85, 0.75], 2)) <= 0.08 + 1e-9)
    assert info["gripper_z"] == pytest.approx(s[2])
    flat = gym.make("HookSweep2-v1", flat_obs=True)
    fobs, _ = flat.reset(seed=3)
    np.testing.assert_allclose(fobs, np.r_[s, obs["desired_goal"][:6]])


def test_seeded_resets_and_rollouts_are_deterministic():
    def rollout(seed):
        e = gym.make("HookSweep2-v1", flat_obs=True)
        obs, _ = e.reset(seed=seed)
        rng = np.random.default_rng(0)
        out = [obs]
        for _ in range(20):
            obs, *_ = e.step(rng.uniform(-1, 1, 4).astype(np.float32))
            out.append(obs)
        return np.array(out)

    np.testing.assert_array_equal(rollout(5), rollout(5))
    assert not np.array_equal(rollout(5)[0], rollout(6)[0])


def test_physics_stable_over_long_random_rollouts(env):
    """Random actions for 30 episodes: no NaN, states inside the state space, no box through
    the table (a box over the table stays on its top), the hook never below the table top."""
    base = env.unwrapped
    space = base.state_space
    rng = np.random.default_rng(1)
    for ep in range(30):
        env.reset(seed=100 + ep)
        for _ in range(75):
            obs, *_ = env.step(rng.uniform(-1, 1, 4).astype(np.float32))
            s = obs["observation"]
            assert np.isfinite(s).all()
            assert space.contains(s), s
            for box in (s[6:9], s[11:14]):
                over_table = abs(box[0] - 1.85) < 0.43 and abs(box[1] - 0.75) < 0.43
                if over_table:
                    # the authors' hook weighs 100 kg and the weld does not carry it between
                    # steps: resting on a box it presses it up to 2 cm into the table's soft
                    # contact (0.4% of random steps), never through
                    assert box[2] > TABLE_TOP + 0.005, box
            hook_bottom = base.data.geom("hook_base").xpos[2] - 0.03
            assert hook_bottom > TABLE_TOP - 0.01


def test_bad_actions_are_rejected(env):
    env.reset(seed=0)
    with pytest.raises(ValueError, match="finite"):
        env.step(np.array([np.nan, 0, 0, 0], np.float32))
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"box": 1})


def test_render_headless():
    e = gym.make("HookSweep2-v1", render_mode="rgb_array", width=96, height=64)
    e.reset(seed=0)
    try:
        frame = e.render()
    except Exception as err:  # no EGL/OSMesa on this machine
        pytest.skip(f"headless OpenGL unavailable: {err}")
    assert frame.shape == (64, 96, 3) and frame.dtype == np.uint8 and frame.std() > 5
    e.close()
    wide = gym.make("HookSweep2-v1", render_mode="rgb_array", width=1000, height=500)
    wide.reset(seed=0)
    assert wide.render().shape == (500, 1000, 3)  # larger than the scene's 640 x 480 buffer
    wide.close()
    with pytest.raises(ValueError, match="at most 4096 pixels"):
        gym.make("HookSweep2-v1", width=5000)


def test_goals_of_a_bad_shape_or_not_finite_are_refused():
    env = gym.make("HookSweep2-v1").unwrapped
    env.reset(seed=0)
    s, a = np.zeros((2, env.observation_space["observation"].shape[0])), np.zeros((2, 4))
    for bad in (np.zeros(3), np.zeros((2, 5)), np.zeros((3, 6))):
        with pytest.raises(ValueError, match="goals"):
            env.reward_fn(s, a, s, goals=bad)
    for achieved, desired in ((np.zeros(7), np.full(7, np.nan)), (np.full(7, np.inf), np.zeros(7))):
        with pytest.raises(ValueError, match="must be finite"):
            env.compute_reward(achieved, desired, {})


# ----------------------------------------------------------------------------- batched model
def test_reward_and_success_cases():
    goal = np.array([1.54, 0.7, 0.42, 1.54, 0.8, 0.42])
    at_goal = goal + np.array([0.0, 0.0, 0.005, 0.0, 0.0, 0.005])
    r, ok = HookSweep2Model.reward(at_goal, goal, 0.42)
    assert ok and r == pytest.approx(-0.1 * (0.005 / 0.14) * 2, abs=1e-6)
    far = goal + np.array([0.31, 0, 0, 0.31, 0, 0])
    r, ok = HookSweep2Model.reward(far, goal, 0.42)  # failure, hook on the table: -1 - 0.2 + 0.5
    assert not ok and r == pytest.approx(-0.7)
    r, _ = HookSweep2Model.reward(far, goal, 0.9)  # hook lifted: clipped at -1
    assert r == pytest.approx(-1.0)
    one = goal + np.array([0.31, 0, 0, 0, 0, 0])  # one box home, one not
    r, ok = HookSweep2Model.reward(one, goal, 0.52)
    assert not ok and r == pytest.approx(-1.0)


def test_compute_reward_is_batched_and_matches_step(env):
    obs, _ = env.reset(seed=2)
    obs, r, _, _, info = env.step(np.zeros(4, np.float32))
    u = env.unwrapped
    assert u.compute_reward(obs["achieved_goal"], obs["desired_goal"], info) == pytest.approx(r)
    # the dict observation's goals need no info (SB3's HER passes empty ones)
    assert u.compute_reward(obs["achieved_goal"], obs["desired_goal"], {}) == pytest.approx(r)
    goals = HookSweep2Model().sample_goals(8, np.random.default_rng(0))
    ach = np.tile(obs["achieved_goal"], (8, 1))
    batch = u.compute_reward(ach, goals, [{}] * 8)
    assert batch.shape == (8,)
    s = np.tile(obs["observation"], (8, 1))
    np.testing.assert_allclose(batch, u.reward_fn(s, np.zeros((8, 4)), s, goals))
    # box positions alone: the gripper height comes from the info dict(s)
    boxes = ach[:, :6]
    np.testing.assert_allclose(batch, u.compute_reward(boxes, goals, [info] * 8))
    np.testing.assert_allclose(batch, u.compute_reward(boxes, goals, info))
    with pytest.raises(KeyError, match="gripper_z"):
        u.compute_reward(boxes, goals, {})
    with pytest.raises(ValueError, match="achieved_goal must end in 7"):
        u.compute_reward(ach[:, :5], goals, {})
    with pytest.raises(ValueError, match="desired_goal must end in 7"):
        u.compute_reward(ach, goals[:, :4], {})


def test_goal_sampling_tasks():
    """As the authors' code draws goals: one offset (U(-0.1, 0.1) in xy, +-0.31 in x) added to
    both goals in the target task, to one goal in the source task (the other at its base)."""
    rng = np.random.default_rng(0)
    both = HookSweep2Model("sweep_both").sample_goals(1000, rng)
    offset = both - GOAL_BASE
    np.testing.assert_allclose(offset[:, :3], offset[:, 3:])  # one offset for both goals
    assert (np.abs(offset[:, 0]) > 0.2).all() and (np.abs(offset[:, 0]) < 0.41).all()
    assert 0.4 < (offset[:, 0] > 0).mean() < 0.6
    assert (np.abs(offset[:, 1]) <= 0.1).all() and (offset[:, [2, 5]] == 0).all()
    one = HookSweep2Model("sweep_one").sample_goals(1000, rng)
    shifted = np.abs(one[:, [0, 3]] - GOAL_BASE[[0, 3]]) > 0.2
    assert (shifted.sum(axis=1) == 1).all()
    assert 0.4 < shifted[:, 0].mean() < 0.6
    unshifted = np.where(shifted[:, :1], one[:, 3:], one[:, :3])
    base = np.where(shifted[:, :1], GOAL_BASE[3:], GOAL_BASE[:3])
    np.testing.assert_array_equal(unshifted, base)  # the other goal stays at its base
    assert np.all(np.abs(one[:, [1, 4]] - GOAL_BASE[[1, 4]]) <= 0.1)


def test_terminate_on_success_ends_episodes_where_the_boxes_reach_their_goals():
    """By default nothing terminates (the metric is the success at the 75th step); with
    terminate_on_success the step, termination_fn and compute_terminated end at success."""
    boxes = np.array([[1.85, 0.70], [1.85, 0.80]])
    at_goal = np.r_[boxes[0], 0.42, boxes[1], 0.42]
    away = at_goal + np.r_[0.31, 0, 0, 0.31, 0, 0]
    for flag in (False, True):
        env = gym.make("HookSweep2-v1", terminate_on_success=flag)
        u = env.unwrapped
        for goal in (at_goal, away):
            obs, _ = env.reset(seed=0, options={"boxes": boxes, "goal": goal})
            obs, _, terminated, _, info = env.step(np.zeros(4, np.float32))
            assert terminated == (flag and info["is_success"])
            s = obs["observation"][None]
            assert u.termination_fn(s, np.zeros((1, 4)), s, goal[None])[0] == terminated
            ach, want = obs["achieved_goal"], obs["desired_goal"]
            assert u.compute_terminated(ach, want, info) == terminated
        assert info["is_success"] is False  # the last goal was away
    with pytest.raises(ValueError, match="terminate_on_success"):
        gym.make("HookSweep2-v1", terminate_on_success="yes")


def test_local_mask_heuristic():
    s = np.zeros((3, 16))
    s[:, 6:8] = [1.8, 0.7]
    s[:, 11:13] = [[1.8, 0.9], [1.82, 0.72], [1.85, 0.7]]  # apart, L1 0.04, L1 0.05
    m = HookSweep2Model.local_mask(s, np.zeros((3, 4)))
    base = np.array([[1, 1, 1], [1, 1, 0], [1, 0, 1], [1, 1, 1]], bool)
    np.testing.assert_array_equal(m[0], base)
    assert m[1].all()
    np.testing.assert_array_equal(m[2], base)
    with pytest.raises(ValueError):
        HookSweep2Model.local_mask(np.zeros((2, 15)), np.zeros((2, 4)))


# ----------------------------------------------------------------------------- expert
def test_expert_sweeps_one_box_on_the_source_task():
    """The full measurement (100 seeds, with the paper's noise) is on the docs' datasets page;
    here 20 noiseless episodes must mostly succeed and the swept box must reach its side."""
    e = gym.make("HookSweep2Source-v1")
    expert = HookSweepExpert(noise_prob=0.0, seed=0)
    wins = 0
    for seed in range(20):
        obs, _ = e.reset(seed=seed)
        expert.reset()
        for _ in range(75):
            obs, _, _, _, info = e.step(expert.act(obs))
        wins += info["is_success"]
    assert wins >= 14
    with pytest.raises(ValueError, match="flat"):
        expert.act(np.zeros(5))


def test_sb3_sac_with_her_trains_on_its_defaults():
    """SB3's HerReplayBuffer passes empty infos to compute_reward (copy_info_dict=False):
    relabelled rewards must still be the env's reward for the relabelled goal."""
    import torch
    from stable_baselines3 import SAC, HerReplayBuffer

    torch.manual_seed(0)
    env = gym.make("HookSweep2-v1")
    model = SAC("MultiInputPolicy", env, replay_buffer_class=HerReplayBuffer, seed=0)
    model.learn(400)  # a few episodes: enough for HER to relabel, short for the suite
    assert model.num_timesteps == 400 and model.replay_buffer.size() > 0
    batch = model.replay_buffer.sample(512)
    next_obs = {k: v.cpu().numpy() for k, v in batch.next_observations.items()}
    goals = next_obs["desired_goal"][:, :6]
    # HER's future achieved goals replaced most desired ones (default ratio 4:1); the env's own
    # desired goals end in 0.42, achieved ones in the gripper's height
    relabelled = next_obs["desired_goal"][:, 6] != 0.42
    assert 0.6 < relabelled.mean() < 0.95
    s2 = next_obs["observation"]
    expected = env.unwrapped.reward_fn(s2, np.zeros((len(s2), 4)), s2, goals)
    np.testing.assert_allclose(batch.rewards.cpu().numpy()[:, 0], expected, atol=1e-6)


def test_the_hook_is_the_authors():
    """The authors' hook (their robot_hook.xml): 0.3 ahead of the grip site, its head toward -y,
    two boxes of 50 kg carried by the mocap weld alone (no gravity compensation)."""
    from causal_envs.envs.hooksweep.scene import HOOK_HEAD_OFFSET, HOOK_OFFSET

    env = gym.make("HookSweep2-v1")
    env.reset(seed=0)
    m, d = env.unwrapped.model, env.unwrapped.data
    grip = d.site("robot0:grip").xpos
    base, head = d.geom("hook_base").xpos, d.geom("hook_head").xpos
    np.testing.assert_allclose(base - grip, HOOK_OFFSET, atol=2e-3)
    np.testing.assert_allclose(head - base, HOOK_HEAD_OFFSET, atol=2e-3)
    hook = m.body("hook")
    assert m.body_subtreemass[hook.id] == pytest.approx(100.0)
    from causal_envs.envs.hooksweep.model import TABLE_HALF

    np.testing.assert_allclose(m.geom("table0").size[:2], TABLE_HALF)  # the authors' table
    assert m.body_gravcomp[hook.id] == 0.0
    # each step's target is the link's position plus the move: at rest the weld lets the
    # 100 kg sink, about a millimetre a step
    z0 = d.site("robot0:grip").xpos[2]
    for _ in range(10):
        env.step(np.zeros(4, np.float32))
    assert 0.002 < z0 - d.site("robot0:grip").xpos[2] < 0.02


def test_transition_fn_rebuilds_a_state_and_steps_it():
    """transition_fn steps 16-dim states the simulator never saw whole: on expert steps it
    lands near the real next state (the state omits the arm's redundant angle, the torso and
    the boxes' orientation, so not exactly), leaves the episode alone and repeats itself."""
    env = gym.make("HookSweep2Source-v1")
    u = env.unwrapped
    obs, _ = env.reset(seed=3)
    expert = HookSweepExpert(seed=3)
    states, actions, nexts = [], [], []
    for _ in range(30):
        a = expert.act(obs)
        states.append(obs["observation"])
        obs, *_ = env.step(a)
        actions.append(a)
        nexts.append(obs["observation"])
    states, actions, nexts = map(np.array, (states, actions, nexts))
    before = u.data.qpos.copy()
    predicted = u.transition_fn(states, actions)
    np.testing.assert_array_equal(u.data.qpos, before)  # the episode is untouched
    error = np.linalg.norm(predicted - nexts, axis=1).mean()
    moved = np.linalg.norm(nexts - states, axis=1).mean()
    assert error < 0.012 and error < moved / 3, (error, moved)
    np.testing.assert_array_equal(u.transition_fn(states[:3], actions[:3]), predicted[:3])
    with pytest.raises(ValueError, match="batch size"):
        u.transition_fn(states[:2], actions[:3])
    with pytest.raises(ValueError):
        u.transition_fn(states[:, :15], actions)


@pytest.mark.skipif(os.environ.get("MUJOCO_GL") != "egl", reason="EGL rendering only")
def test_render_survives_a_terminated_egl_display():
    """Another library in the process may terminate the EGL display MuJoCo shares; the env
    initialises it again instead of failing."""
    from mujoco import egl
    from OpenGL import EGL

    e = gym.make("HookSweep2-v1", render_mode="rgb_array", width=64, height=48)
    e.reset(seed=0)
    EGL.eglTerminate(egl.EGL_DISPLAY)
    assert e.render().shape == (48, 64, 3)
    e.close()
