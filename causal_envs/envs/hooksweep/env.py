"""``HookSweep2-v1``: a Fetch robot sweeps two boxes across a table with a hook (MoCoDA §5.2)."""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering; must precede `import mujoco`

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces
from numpy.typing import ArrayLike, NDArray

from causal_envs.core import (
    CausalStructure,
    OfflineDatasetMixin,
    as_batch,
    as_transitions,
    check_action_array,
    check_bool,
    check_int,
)
from causal_envs.envs.hooksweep.model import (
    GOAL_DIM,
    GRIPPER_TABLE_Z,
    HOOKSWEEP2_STRUCTURE,
    STATE_DIM,
    HookSweep2Model,
    box_positions,
    gripper_z_from_info,
)
from causal_envs.envs.hooksweep.scene import build_model

__all__ = ["MOCAP_WORKSPACE", "HookSweep2CausalAPI", "HookSweep2Env"]

N_SUBSTEPS = 20
#: an action moves the mocap target this far from the gripper link, per unit
ACTION_SCALE = 0.05
#: the mocap target is kept inside this box (x, y, z lows; x, y, z highs): without it an
#: action sequence can stretch the arm until it drags the robot's base (the authors' env has
#: no such bound), and the states leave any bounded space
MOCAP_WORKSPACE = np.array([[0.88, 0.3, 0.42], [1.48, 1.2, 0.8]])
_INITIAL_QPOS = {"robot0:slide0": 0.405, "robot0:slide1": 0.48, "robot0:slide2": 0.0}
#: the largest frame side ``render`` draws (an offscreen framebuffer of that size)
MAX_FRAME_SIDE = 4096
#: gymnasium-robotics' Fetch start: the gripper target relative to the default grip position,
#: with gripper_extra_height 0.2 added to z
_GRIPPER_START_OFFSET = np.array([-0.498, 0.005, -0.431 + 0.2])
_GRIPPER_QUAT = np.array([1.0, 0.0, 1.0, 0.0])
#: the gripper link's origin relative to the grip site, in world axes (the mocap's pose)
_LINK_ABOVE_GRIP = np.array([0.0, 0.0, 0.02])
#: the arm's joints: the robot joints ``transition_fn`` sets velocities of
_ARM_JOINTS = tuple(
    f"robot0:{j}_joint"
    for j in (
        "shoulder_pan",
        "shoulder_lift",
        "upperarm_roll",
        "elbow_flex",
        "forearm_roll",
        "wrist_flex",
        "wrist_roll",
    )
)
#: ``transition_fn``'s rebuild: where the two boxes wait while the arm settles (on the floor,
#: out of the hook's reach), the settling rounds and their substeps, and the damping of the
#: least-squares joint velocities
_PARKED_BOXES = np.array([[2.8, 2.5, 0.025], [3.0, 2.5, 0.025]])
_SETTLE_ROUNDS = 3
_SETTLE_SUBSTEPS = 150
_VELOCITY_DAMPING = 1e-3
#: the state elements of the dict observation's achieved goal: box 1, box 2, gripper z
_ACHIEVED = np.r_[6:9, 11:14, 2]


def _reinitialise_egl(err: Exception) -> bool:
    """Initialise MuJoCo's EGL display again after something else in the process terminated
    it (seen in the test suite after the task sequences' tests, which run CoinRun and Atari);
    True if it did."""
    if "EGL_NOT_INITIALIZED" not in str(err) or os.environ.get("MUJOCO_GL") != "egl":
        return False
    from mujoco import egl  # deferred: only the EGL backend has a display to initialise
    from OpenGL import EGL  # deferred: PyOpenGL's EGL, installed with MuJoCo's EGL backend

    if egl.EGL_DISPLAY is None:
        return False
    return bool(EGL.eglInitialize(egl.EGL_DISPLAY, None, None))


class HookSweep2CausalAPI:
    """The goal-conditioned causal contract of HookSweep2 over ``self.batch_model``:
    ``causal_structure``, ``state_space``/``goal_space``, ``sample_goals``, ``local_mask`` and the
    batched ``reward_fn``/``termination_fn`` (which take the goals of each row)."""

    batch_model: HookSweep2Model
    goal: NDArray[np.float64]
    #: whether an episode ends when both boxes reach their goals (see `HookSweep2Env`)
    terminate_on_success: bool = False
    causal_structure: CausalStructure = HOOKSWEEP2_STRUCTURE
    state_space: spaces.Box = HookSweep2Model.state_space()
    goal_space: spaces.Box = HookSweep2Model.goal_space()

    def sample_goals(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        """``n`` goals of this env's goal mode, for relabelling generated transitions."""
        return self.batch_model.sample_goals(n, rng)

    def local_mask(self, states: ArrayLike, actions: ArrayLike) -> NDArray[np.bool_]:
        """The paper's heuristic mask ``(batch, 4, 3)`` over (gripper, box1, box2, action)."""
        return self.batch_model.local_mask(states, actions)

    def reward_fn(
        self,
        states: ArrayLike,
        actions: ArrayLike,
        next_states: ArrayLike,
        goals: ArrayLike | None = None,
    ) -> NDArray[np.float32]:
        """Rewards of transitions ``(s, a, s')`` for ``goals`` (rows of 6; default: the current
        episode's goal)."""
        return self._reward_and_success(states, actions, next_states, goals)[0]

    def _reward_and_success(
        self,
        states: ArrayLike,
        actions: ArrayLike,
        next_states: ArrayLike,
        goals: ArrayLike | None,
    ) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
        _, _, s2 = as_transitions(states, actions, next_states, STATE_DIM, 4)
        g = self.goal if goals is None else goals
        if goals is not None and np.ndim(goals) == 2 and len(goals) != len(s2):
            raise ValueError(
                f"goals and next_states differ in batch size: {len(goals)} != {len(s2)}"
            )
        g = np.asarray(g, np.float64)
        if g.shape not in ((GOAL_DIM,), (len(s2), GOAL_DIM)):
            raise ValueError(
                f"goals must be one goal of {GOAL_DIM} or one per transition "
                f"({len(s2)}, {GOAL_DIM}), got shape {g.shape}"
            )
        g, _ = as_batch(np.broadcast_to(g, (len(s2), GOAL_DIM)), GOAL_DIM, "goals")
        return self.batch_model.reward(box_positions(s2), g, s2[:, 2])

    def termination_fn(
        self,
        states: ArrayLike,
        actions: ArrayLike,
        next_states: ArrayLike,
        goals: ArrayLike | None = None,
    ) -> NDArray[np.bool_]:
        """Whether each transition ends its episode: never (the env's default: episodes end
        by their time limit), or, with ``terminate_on_success``, where the boxes reach
        ``goals`` (``|reward| < 0.3``, the authors' offline labels)."""
        _, _, s2 = as_transitions(states, actions, next_states, STATE_DIM, 4)
        if not self.terminate_on_success:
            return np.zeros(len(s2), dtype=np.bool_)
        return self._reward_and_success(states, actions, next_states, goals)[1]


class HookSweep2Env(HookSweep2CausalAPI, OfflineDatasetMixin, gym.Env):
    """Sweep two boxes to their goals with a hook held by a Fetch robot.

    ## Description
    MoCoDA's HookSweep2 (Pitis et al., 2022, §5.2 and appendix C.2): gymnasium-robotics' Fetch
    robot holds a long hook (welded to its gripper) over a table with two boxes near its
    centre. The target task (goal mode ``sweep_both``) asks for both boxes to be swept to the
    same side of the table (toward or away from the robot); the source task (``sweep_one``)
    moves only one box's goal, and its expert data shows one box swept while the other stays
    in the centre.

    ## Action Space
    ``Box(-1, 1, (4,), float32)``: as in Fetch, the mocap target is set to the gripper link's
    position plus ``0.05 * a[:3]`` (kept inside ``MOCAP_WORKSPACE``), and ``a[3]`` drives the
    fingers (they hold the hook either way). Each step runs 20 MuJoCo substeps of 2 ms. The
    100 kg hook is carried by the mocap weld alone, so at rest it sinks about a millimetre a
    step until it lies on the table.

    ## Observation Space
    A dict like Gymnasium-Robotics' goal envs: ``observation`` (16: gripper position, gripper
    velocity x dt, box 1 position and xy velocity x dt, box 2 likewise), ``achieved_goal``
    (7: both box positions, then the gripper's height) and ``desired_goal`` (7: both boxes'
    goals, then 0.42, the gripper height the on-table term pays for). The seventh element
    makes ``compute_reward(achieved, desired, info)`` a function of the goals alone, as
    Gymnasium-Robotics' Fetch tasks are, so hindsight relabelling works with any ``info``
    (SB3's ``HerReplayBuffer`` passes empty ones). With ``flat_obs=True`` a ``Box(22)`` of
    ``[observation, goal]`` (the 6 box goals), what offline agents consume. ``state_space`` is
    the 16-dim ``observation`` space (the dynamics' state), ``goal_space`` the 6 box goals'.

    ## Rewards
    MoCoDA appendix C.2: ``clip(success - 1 - farness + on_table, -1, 0)`` where success means
    both boxes within 0.14 of their goals, farness = sum_i clip(d_i / 0.14, 0, 1) * 0.1 and
    on_table = clip(0.5 - 5 |gripper_z - 0.42|, 0, 0.5) (only while not successful).
    ``info["is_success"]`` is ``|r| < 0.3``. ``compute_reward(achieved, desired, info)``
    relabels batches of goals; the on-table term always pays for 0.42, whatever a relabelled
    desired goal's seventh element holds.

    ## Starting State
    The robot at Fetch's start pose (gripper at about (1.34, 0.75, 0.56)); each box at
    (1.85, 0.75) + U(-0.08, 0.08)^2, more than 0.1 apart, box 1 the one with the lower y. Goals,
    as the authors' code draws them: from (1.85, 0.70, 0.42, 1.85, 0.80, 0.42), one offset of
    U(-0.1, 0.1) in x and y plus +-0.31 in x added to both goals (``sweep_both``) or to one
    random box's goal, the other staying at its base (``sweep_one``).

    ## Episode End
    ``gym.make`` truncates after 75 steps, and the metric is the success at that last step.
    With ``terminate_on_success=True`` an episode also ends when the boxes reach their goals:
    the labels of the authors' offline data (done = reward > -0.3), which MoCoDA's HookSweep2
    recipe labels with (`augment.recipes`).

    ## Causal Structure
    Nodes gripper (6 dims), box1 (5), box2 (5), action (4). ``local_mask`` is the paper's
    heuristic: the base graph gripper -> all, box_i -> (gripper', box_i'), action -> all, and
    all ones when the boxes' xy positions are within L1 distance 0.05.

    ## Arguments
    ``gym.make("HookSweep2-v1", goal_mode="sweep_both", flat_obs=False, render_mode=None,
    include_mask_in_info=False, width=480, height=360, terminate_on_success=False)``;
    ``HookSweep2Source-v1`` is the same with ``goal_mode="sweep_one"``.

    ## Version History
    * v1: the authors' task (their code, spitis/mrl): goals as they draw them (one offset
      shared by both goals in the target task; in the source task the unshifted goal stays at
      its base); their hook (50 kg a box, no gravity compensation, 2 mm below the grip site,
      head toward -y), table (0.77 x 0.60) and control (target = gripper + 0.05 a, no leash);
      ``terminate_on_success``.
    * v0: initial version (MuJoCo bindings; Fetch assets from gymnasium-robotics); each goal
      coordinate had its own noise.
    """

    #: the family of this env's named datasets (`OfflineDatasetMixin`)
    dataset_family = "hooksweep2"

    metadata = {"render_modes": ["rgb_array"], "render_fps": 25}

    def __init__(
        self,
        goal_mode: str = "sweep_both",
        flat_obs: bool = False,
        render_mode: str | None = None,
        include_mask_in_info: bool = False,
        width: int = 480,
        height: int = 360,
        terminate_on_success: bool = False,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.batch_model = HookSweep2Model(goal_mode)  # checks goal_mode
        self.goal_mode = goal_mode
        self.flat_obs = check_bool("flat_obs", flat_obs)
        self.render_mode = render_mode
        self.include_mask_in_info = check_bool("include_mask_in_info", include_mask_in_info)
        self.terminate_on_success = check_bool("terminate_on_success", terminate_on_success)
        self.width = check_int("width", width, 1)
        self.height = check_int("height", height, 1)
        if max(self.width, self.height) > MAX_FRAME_SIDE:
            raise ValueError(
                f"width and height must be at most {MAX_FRAME_SIDE} pixels, got "
                f"{self.width} x {self.height}"
            )
        self._started = False  # reset() starts an episode; close() ends it

        self.model = build_model()
        # the offscreen framebuffer holds the frame asked for (the scene's is 640 x 480)
        frame = self.model.vis.global_
        frame.offwidth, frame.offheight = (
            max(frame.offwidth, self.width),
            max(frame.offheight, self.height),
        )
        self.data = mujoco.MjData(self.model)
        self.dt = N_SUBSTEPS * self.model.opt.timestep
        self._grip_site = self.model.site("robot0:grip").id
        self._gripper_link = self.model.body("robot0:gripper_link").id
        self._arm_dofs = np.array([self.model.joint(j).dofadr[0] for j in _ARM_JOINTS])
        self._probe: mujoco.MjData | None = None  # transition_fn's own simulation
        self._mocap = int(self.model.body("robot0:mocap").mocapid[0])
        self._box_qpos = [self.model.joint(f"box{i}:joint").qposadr[0] for i in (1, 2)]
        self._box_qvel = [self.model.joint(f"box{i}:joint").dofadr[0] for i in (1, 2)]
        self._finger_qpos = [
            self.model.joint(f"robot0:{side}_gripper_finger_joint").qposadr[0]
            for side in ("r", "l")
        ]
        self._goal_sites = [self.model.site(f"goal{i}").id for i in (1, 2)]
        self._velocity = np.zeros(6)
        self._setup_robot()

        self.action_space = spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)
        if self.flat_obs:
            self.observation_space = spaces.Box(
                np.concatenate([self.state_space.low, self.goal_space.low]),
                np.concatenate([self.state_space.high, self.goal_space.high]),
                dtype=np.float64,
            )
        else:
            self.observation_space = spaces.Dict(
                {
                    "observation": self.state_space,
                    "achieved_goal": spaces.Box(
                        self.state_space.low[_ACHIEVED],
                        self.state_space.high[_ACHIEVED],
                        dtype=np.float64,
                    ),
                    # relabelled goals are achieved ones: the space holds both
                    "desired_goal": spaces.Box(
                        np.minimum(
                            np.r_[self.goal_space.low, GRIPPER_TABLE_Z],
                            self.state_space.low[_ACHIEVED],
                        ),
                        np.maximum(
                            np.r_[self.goal_space.high, GRIPPER_TABLE_Z],
                            self.state_space.high[_ACHIEVED],
                        ),
                        dtype=np.float64,
                    ),
                }
            )
        self.goal = self.batch_model.sample_goals(1, np.random.default_rng(0))[0]
        self._renderer: mujoco.Renderer | None = None

    # ----------------------------------------------------------------- simulation
    def _setup_robot(self) -> None:
        """Fetch's start pose, computed once; every reset restores it."""
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        for name, value in _INITIAL_QPOS.items():
            d.joint(name).qpos[:] = value
        mujoco.mj_forward(m, d)
        d.mocap_pos[self._mocap] = _GRIPPER_START_OFFSET + d.site_xpos[self._grip_site]
        d.mocap_quat[self._mocap] = _GRIPPER_QUAT
        mujoco.mj_step(m, d, nstep=10 * N_SUBSTEPS)
        self._start_qpos = d.qpos.copy()
        self._start_qvel = np.zeros_like(d.qvel)
        self._start_mocap = d.mocap_pos[self._mocap].copy()

    def _state(self, d: mujoco.MjData | None = None) -> NDArray[np.float64]:
        """The 16-dim state of ``d`` (default: the episode's)."""
        m, d = self.model, self.data if d is None else d
        mujoco.mj_objectVelocity(m, d, mujoco.mjtObj.mjOBJ_SITE, self._grip_site, self._velocity, 0)
        parts = [d.site_xpos[self._grip_site], self._velocity[3:] * self.dt]
        for qpos, qvel in zip(self._box_qpos, self._box_qvel, strict=True):
            parts.append(d.qpos[qpos : qpos + 3])
            parts.append(d.qvel[qvel : qvel + 2] * self.dt)
        return np.concatenate(parts)

    def _act(self, d: mujoco.MjData, a: NDArray) -> None:
        """Apply action ``a`` to ``d`` and run one step's substeps."""
        # Fetch's control (gymnasium-robotics' mocap_set_action): the mocap target is the
        # gripper link's position plus the step's move, so a blocked hook is never driven on
        target = d.xpos[self._gripper_link] + ACTION_SCALE * a[:3]
        d.mocap_pos[self._mocap] = np.clip(target, MOCAP_WORKSPACE[0], MOCAP_WORKSPACE[1])
        # Fetch's finger actuators are position servos driven relative to the current opening
        d.ctrl[:2] = d.qpos[self._finger_qpos] + a[3]
        mujoco.mj_step(self.model, d, nstep=N_SUBSTEPS)

    def transition_fn(self, states: ArrayLike, actions: ArrayLike) -> NDArray[np.float64]:
        """The simulator's next states ``(batch, 16)`` of 16-dim states and actions, one
        MuJoCo step each; the episode in progress is left alone.

        A state holds less than MuJoCo's: not the arm's joint angles (its one redundant
        degree of freedom), the torso's slow sinking under the hook, the fingers, nor the
        boxes' orientation, spin and vertical velocity. Each row is rebuilt: the arm settles
        under the mocap weld until the grip site sits at the state's gripper position (three
        corrections of 150 substeps, the boxes parked on the floor), its seven joints get the
        velocities that give the gripper its velocity (damped least squares), the boxes are
        placed upright with their xy velocities; then one step runs. On held-out expert
        steps the result lands about 0.5 x100 (L2 over the 16 dims; `causal-envs bench
        mocoda-model-error --profile hooksweep2` records it) from the recorded next state: the
        floor of any model error measured against it.
        Next states are clipped to ``state_space`` (a state no episode reaches, a box inside
        the table say, can throw the boxes out of it). About 20 ms a row.
        """
        s, _ = as_batch(states, STATE_DIM, "states")
        a, _ = as_batch(actions, 4, "actions")
        if len(s) != len(a):
            raise ValueError(f"states and actions differ in batch size: {len(s)} != {len(a)}")
        a = np.clip(a, -1.0, 1.0)
        m = self.model
        if self._probe is None:
            self._probe = mujoco.MjData(m)
        d = self._probe
        out = np.empty((len(s), STATE_DIM))
        jacobian = np.zeros((3, m.nv))
        for row, (state, action) in enumerate(zip(s, a, strict=True)):
            mujoco.mj_resetData(m, d)
            d.qpos[:] = self._start_qpos
            d.mocap_quat[self._mocap] = _GRIPPER_QUAT
            d.mocap_pos[self._mocap] = state[:3] + _LINK_ABOVE_GRIP
            for qpos, parked in zip(self._box_qpos, _PARKED_BOXES, strict=True):
                d.qpos[qpos : qpos + 7] = [*parked, 1.0, 0.0, 0.0, 0.0]
            for _ in range(_SETTLE_ROUNDS):
                mujoco.mj_step(m, d, nstep=_SETTLE_SUBSTEPS)
                d.qvel[:] = 0.0
                mujoco.mj_forward(m, d)
                d.mocap_pos[self._mocap] += state[:3] - d.site_xpos[self._grip_site]
            mujoco.mj_step(m, d, nstep=_SETTLE_SUBSTEPS)
            d.qvel[:] = 0.0
            for k, (qpos, qvel) in enumerate(zip(self._box_qpos, self._box_qvel, strict=True)):
                box = state[6 + 5 * k : 11 + 5 * k]
                d.qpos[qpos : qpos + 7] = [*box[:3], 1.0, 0.0, 0.0, 0.0]
                d.qvel[qvel : qvel + 2] = box[3:5] / self.dt
            mujoco.mj_forward(m, d)
            mujoco.mj_jacSite(m, d, jacobian, None, self._grip_site)
            arm = jacobian[:, self._arm_dofs]
            gram = arm @ arm.T + _VELOCITY_DAMPING * np.eye(3)
            d.qvel[self._arm_dofs] = arm.T @ np.linalg.solve(gram, state[3:6] / self.dt)
            mujoco.mj_forward(m, d)
            self._act(d, action)
            out[row] = self._state(d)
        # a state no episode reaches (a box inside the table, the hook inside a box) can
        # throw the boxes out of any bounded space: next states stay inside the state space
        return np.clip(out, self.state_space.low, self.state_space.high)

    def _observation(self, state: NDArray) -> dict[str, NDArray] | NDArray:
        if self.flat_obs:
            return np.concatenate([state, self.goal])
        return {
            "observation": state,
            "achieved_goal": state[_ACHIEVED],
            "desired_goal": np.r_[self.goal, GRIPPER_TABLE_Z],
        }

    def _info(self, state: NDArray, success: bool) -> dict[str, Any]:
        info: dict[str, Any] = {"is_success": bool(success), "gripper_z": float(state[2])}
        if self.include_mask_in_info:
            info["causal_mask"] = self.batch_model.local_mask(state[None], np.zeros((1, 4)))[0]
        return info

    # ----------------------------------------------------------------- gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, NDArray] | NDArray, dict[str, Any]]:
        """Restore the robot's start pose, place the boxes and draw the goals.

        ``options`` may fix ``boxes`` (xy ``(2, 2)``) and/or ``goal`` (6) for reproducing a
        situation; anything else is drawn from ``self.np_random``.
        """
        super().reset(seed=seed)
        options = options or {}
        unknown = set(options) - {"boxes", "goal"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; use 'boxes' and 'goal'")
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        d.qpos[:] = self._start_qpos
        d.qvel[:] = self._start_qvel
        d.mocap_pos[self._mocap] = self._start_mocap
        d.mocap_quat[self._mocap] = _GRIPPER_QUAT
        boxes = self.batch_model.sample_box_positions(self.np_random)
        if "boxes" in options:
            boxes = np.asarray(options["boxes"], dtype=np.float64)
            if boxes.shape != (2, 2) or not np.isfinite(boxes).all():
                raise ValueError(f"options['boxes'] must be finite xy (2, 2), got {boxes!r}")
        goal = self.batch_model.sample_goals(1, self.np_random)[0]
        if "goal" in options:
            goal = np.asarray(options["goal"], dtype=np.float64)
            if goal.shape != (GOAL_DIM,) or not np.isfinite(goal).all():
                raise ValueError(f"options['goal'] must be finite (6,), got {goal!r}")
        for qpos, xy in zip(self._box_qpos, boxes, strict=True):
            d.qpos[qpos : qpos + 7] = [xy[0], xy[1], 0.425, 1.0, 0.0, 0.0, 0.0]
        self.goal = goal.copy()
        for site, g in zip(self._goal_sites, goal.reshape(2, 3), strict=True):
            m.site_pos[site] = [g[0], g[1], 0.401]
        mujoco.mj_forward(m, d)
        state = self._state()
        _, success = self.batch_model.reward(box_positions(state), self.goal, state[2])
        self._started = True
        return self._observation(state), self._info(state, bool(success))

    def step(
        self, action: NDArray
    ) -> tuple[dict[str, NDArray] | NDArray, float, bool, bool, dict[str, Any]]:
        if not self._started:
            raise gym.error.ResetNeeded("call reset() before step()")
        a = np.clip(check_action_array(action, (4,)), -1.0, 1.0)
        self._act(self.data, a)
        state = self._state()
        reward, success = self.batch_model.reward(box_positions(state), self.goal, state[2])
        return (
            self._observation(state),
            float(reward),
            bool(success) and self.terminate_on_success,
            False,
            self._info(state, bool(success)),
        )

    def render(self) -> NDArray[np.uint8] | None:
        """An ``(height, width, 3)`` frame from the overview camera (EGL, headless)."""
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:
            try:
                self._renderer = mujoco.Renderer(self.model, self.height, self.width)
            except Exception as err:  # EGL's errors are PyOpenGL's own classes
                if not _reinitialise_egl(err):
                    raise
                self._renderer = mujoco.Renderer(self.model, self.height, self.width)
        self._renderer.update_scene(self.data, camera="overview")
        return self._renderer.render()

    def close(self) -> None:
        """Free the renderer; the episode ends (a later ``step`` needs a ``reset``)."""
        self._started = False
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # ----------------------------------------------------------------- goal-env API
    def compute_reward(
        self, achieved_goal: ArrayLike, desired_goal: ArrayLike, info: Any = None
    ) -> NDArray[np.float32] | float:
        """Rewards for (batches of) goals, e.g. for hindsight relabelling.

        ``achieved_goal`` rows of 7 (the dict observation's: box positions, gripper height)
        need no ``info``. Rows of 6 (box positions only) take the gripper height from ``info``,
        the step's info dict or a sequence of them. ``desired_goal`` rows of 7 or 6: the box
        goals are its first 6 elements.
        """
        reward, _ = self._goal_outcome(achieved_goal, desired_goal, info)
        return float(reward) if reward.ndim == 0 else reward

    def _goal_outcome(
        self, achieved_goal: ArrayLike, desired_goal: ArrayLike, info: Any
    ) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
        """The reward and success of (batches of) goals: `compute_reward`'s checks and rules."""
        ach = np.asarray(achieved_goal, dtype=np.float64)
        goal = np.asarray(desired_goal, dtype=np.float64)
        if ach.ndim == 0 or ach.shape[-1] not in (GOAL_DIM, GOAL_DIM + 1):
            raise ValueError(
                f"achieved_goal must end in {GOAL_DIM + 1} (box positions and gripper height) "
                f"or {GOAL_DIM} elements, got shape {ach.shape}"
            )
        if goal.ndim == 0 or goal.shape[-1] not in (GOAL_DIM, GOAL_DIM + 1):
            raise ValueError(
                f"desired_goal must end in {GOAL_DIM + 1} or {GOAL_DIM} elements, got shape "
                f"{goal.shape}"
            )
        for name, value in (("achieved_goal", ach), ("desired_goal", goal)):
            if not np.isfinite(value).all():
                raise ValueError(f"{name} must be finite, got {value!r}")
        if ach.shape[-1] == GOAL_DIM + 1:
            z = ach[..., GOAL_DIM]
        else:
            n = int(np.prod(ach.shape[:-1], dtype=np.int64))
            z = gripper_z_from_info(info, n).reshape(ach.shape[:-1])
        return self.batch_model.reward(ach[..., :GOAL_DIM], goal[..., :GOAL_DIM], z)

    def compute_terminated(self, achieved_goal: ArrayLike, desired_goal: ArrayLike, info: Any):
        """Never terminated (Gymnasium-Robotics' convention for its manipulation tasks), or
        with ``terminate_on_success`` where the achieved goals succeed."""
        if not self.terminate_on_success:
            return np.zeros(np.asarray(achieved_goal).shape[:-1], dtype=bool)
        return self._goal_outcome(achieved_goal, desired_goal, info)[1]

    def compute_truncated(self, achieved_goal: ArrayLike, desired_goal: ArrayLike, info: Any):
        """Truncation is the TimeLimit wrapper's job."""
        return np.zeros(np.asarray(achieved_goal).shape[:-1], dtype=bool)
