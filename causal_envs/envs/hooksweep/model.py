"""HookSweep2's batched model: goals, reward, success, the causal structure and the local mask.

`HookSweep2Model` is NumPy over rows, independent of MuJoCo, so MoCoDA can label and mask
millions of generated transitions without a simulator (MoCoDA section 5.2 and appendix C.2). It
has no dynamics: those are MuJoCo's (`causal_envs.envs.hooksweep.env`).

State layout (16): gripper position (0:3), gripper velocity x dt (3:6), box 1 position (6:9),
box 1 xy velocity x dt (9:11), box 2 position (11:14), box 2 xy velocity x dt (14:16).
Goal layout (6): box 1 goal position (0:3), box 2 goal position (3:6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from numpy.typing import ArrayLike, NDArray

from causal_envs.core import CausalStructure, as_batch

__all__ = [
    "BOX1",
    "BOX2",
    "BOX_XY",
    "GOAL_BASE",
    "GOAL_DIM",
    "GOAL_MODES",
    "GRIPPER",
    "GRIPPER_TABLE_Z",
    "HOOKSWEEP2_STRUCTURE",
    "STATE_DIM",
    "SUCCESS_DISTANCE",
    "TABLE_CENTER",
    "TABLE_HALF",
    "TABLE_TOP",
    "HookSweep2Model",
    "box_positions",
    "boxes_near",
    "gripper_z_from_info",
]

STATE_DIM = 16
GOAL_DIM = 6
GRIPPER = slice(0, 3)
BOX1 = slice(6, 9)
BOX2 = slice(11, 14)
#: the boxes' xy positions in a state (MOCODA-P's feature map)
BOX_XY = [6, 7, 11, 12]
TABLE_CENTER = (1.85, 0.75)
#: the table's half-size in x and y (the authors' ``sweep_all.xml``)
TABLE_HALF = (0.77, 0.60)
TABLE_TOP = 0.4
#: the gripper height the reward's on-table term pays for (appendix C.2)
GRIPPER_TABLE_Z = 0.42
GOAL_BASE = np.array([1.85, 0.70, 0.42, 1.85, 0.80, 0.42])
GOAL_SHIFT = 0.31
GOAL_NOISE = 0.1
BOX_INIT_RANGE = 0.08
BOX_MIN_SEPARATION = 0.1
SUCCESS_DISTANCE = 0.14
#: "sweep_both" is the target task (both goals shifted to the same side of the table);
#: "sweep_one" the source task (one randomly chosen box's goal shifted)
GOAL_MODES = ("sweep_both", "sweep_one")

#: Roots (gripper, box1, box2, action) x children (gripper', box1', box2'). The sparsest graph:
#: the hook is welded to a gripper that the mocap drives, so the boxes do not move it, and each
#: box moves only with the hook and itself. Its parent sets are (gripper, action),
#: (gripper, box1, action) and (gripper, box2, action): the last two overlap, so MoCoDA's parent
#: sampler must condition one on the other.
HOOKSWEEP2_STRUCTURE = CausalStructure(
    state_nodes={"gripper": range(0, 6), "box1": range(6, 11), "box2": range(11, 16)},
    action_nodes={"action": range(0, 4)},
    graph=[[1, 1, 1], [0, 1, 0], [0, 0, 1], [1, 1, 1]],
)
#: The paper's heuristic mask (MaskHookSweep2 in the authors' code): the hook is assumed to
#: touch both boxes always, and the boxes to touch each other when their xy positions are
#: within L1 0.05.
_HEURISTIC_BASE = np.array([[1, 1, 1], [1, 1, 0], [1, 0, 1], [1, 1, 1]], dtype=bool)
BOX_CONTACT_L1 = 0.05


@dataclass(frozen=True)
class HookSweep2Model:
    """The batched, simulator-free part of HookSweep2 for one goal mode.

    Attributes:
        goal_mode: ``"sweep_both"`` (the target task: both goals shifted to one side) or
            ``"sweep_one"`` (the source task: one random box's goal shifted).
    """

    goal_mode: str = "sweep_both"
    structure: ClassVar[CausalStructure] = HOOKSWEEP2_STRUCTURE

    def __post_init__(self) -> None:
        if self.goal_mode not in GOAL_MODES:
            raise ValueError(f"goal_mode must be one of {GOAL_MODES}, got {self.goal_mode!r}")

    @staticmethod
    def state_space() -> spaces.Box:
        """Bounds of a physically valid state: the gripper's reachable workspace, the boxes on the
        table or the floor around it, and velocities x dt an order above what the hook produces."""
        low = np.array(
            [0.8, 0.0, 0.3, *(-0.15,) * 3, 1.0, 0.0, 0.0, -0.3, -0.3, 1.0, 0.0, 0.0, -0.3, -0.3]
        )
        high = np.array(
            [1.8, 1.5, 1.0, *(0.15,) * 3, 2.7, 1.5, 0.6, 0.3, 0.3, 2.7, 1.5, 0.6, 0.3, 0.3]
        )
        return spaces.Box(low, high, dtype=np.float64)

    @staticmethod
    def goal_space() -> spaces.Box:
        """Every goal either task can draw."""
        span = np.array([GOAL_SHIFT + GOAL_NOISE, GOAL_NOISE, 0.01] * 2)
        return spaces.Box(GOAL_BASE - span, GOAL_BASE + span, dtype=np.float64)

    @staticmethod
    def sample_box_positions(rng: np.random.Generator) -> NDArray[np.float64]:
        """Box xy positions ``(2, 2)`` as at reset: uniform in the table's centre square, more than
        0.1 apart, box 1 the one with the lower y."""
        centre = np.asarray(TABLE_CENTER)
        while True:
            boxes = centre + rng.uniform(-BOX_INIT_RANGE, BOX_INIT_RANGE, size=(2, 2))
            if np.linalg.norm(boxes[0] - boxes[1]) > BOX_MIN_SEPARATION:
                return boxes[np.argsort(boxes[:, 1], kind="stable")]

    def sample_goals(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        """``n`` goals ``(n, 6)`` as the authors' code draws them (spitis/mrl, the HookSweep2
        env's ``_sample_goal``): one offset per goal, U(-0.1, 0.1) in x and y plus +-0.31 in x
        (each side with probability 1/2), added to both box goals (``sweep_both``: the goals
        keep their 0.10 spacing in y and share x) or to one random box's goal (``sweep_one``:
        the other goal stays at its base, 0.05 from the table's centre)."""
        if not isinstance(n, int | np.integer) or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n!r}")
        goals = np.tile(GOAL_BASE, (n, 1))
        offset = rng.uniform(-GOAL_NOISE, GOAL_NOISE, size=(n, 2))
        offset[:, 0] += np.where(rng.random(n) < 0.5, GOAL_SHIFT, -GOAL_SHIFT)
        if self.goal_mode == "sweep_both":
            goals[:, 0:2] += offset
            goals[:, 3:5] += offset
        else:
            first = 3 * rng.integers(0, 2, size=n)
            rows = np.arange(n)
            goals[rows, first] += offset[:, 0]
            goals[rows, first + 1] += offset[:, 1]
        return goals

    @staticmethod
    def reward(
        achieved: ArrayLike, goals: ArrayLike, gripper_z: ArrayLike
    ) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
        """The reward and success of MoCoDA's HookSweep2 (appendix C.2), batched over rows.

        success = both boxes within 0.14 of their goals;
        farness = sum_i clip(d_i / 0.14, 0, 1) * 0.1;
        on_table = clip(0.5 - 5 |gripper_z - 0.42|, 0, 0.5) * (1 - success);
        reward = clip(success - 1 - farness + on_table, -1, 0); is_success = |reward| < 0.3.
        """
        ach = np.asarray(achieved, dtype=np.float64)
        goal = np.asarray(goals, dtype=np.float64)
        if ach.shape[-1] != GOAL_DIM or goal.shape[-1] != GOAL_DIM:
            raise ValueError(
                f"achieved and desired goals must end in {GOAL_DIM} dims (both box positions), got "
                f"{ach.shape} and {goal.shape}"
            )
        diff = ach - goal
        d = np.linalg.norm(diff.reshape(*diff.shape[:-1], 2, 3), axis=-1)
        success = (d < SUCCESS_DISTANCE).all(axis=-1).astype(np.float64)
        farness = (np.clip(d / SUCCESS_DISTANCE, 0.0, 1.0) * 0.1).sum(axis=-1)
        z = np.asarray(gripper_z, dtype=np.float64)
        on_table = np.clip(0.5 - 5.0 * np.abs(z - GRIPPER_TABLE_Z), 0.0, 0.5) * (1.0 - success)
        reward = np.clip(success - 1.0 - farness + on_table, -1.0, 0.0)
        return reward.astype(np.float32), np.abs(reward) < 0.3

    @staticmethod
    def local_mask(states: ArrayLike, actions: ArrayLike) -> NDArray[np.bool_]:
        """The heuristic local mask ``(batch, 4, 3)``: the base graph, all ones where the boxes'
        xy positions are within L1 distance 0.05 of each other."""
        s, _ = as_batch(states, STATE_DIM, "states")
        a, _ = as_batch(actions, 4, "actions")
        if len(s) != len(a):
            raise ValueError(f"states and actions differ in batch size: {len(s)} != {len(a)}")
        touching = np.abs(s[:, 6:8] - s[:, 11:13]).sum(axis=1) < BOX_CONTACT_L1
        mask = np.broadcast_to(_HEURISTIC_BASE, (len(s), 4, 3)).copy()
        mask[touching] = True
        return mask


def box_positions(states: NDArray) -> NDArray:
    """The achieved goal ``(..., 6)``: both boxes' positions read from states ``(..., 16)``."""
    return np.concatenate([states[..., BOX1], states[..., BOX2]], axis=-1)


def boxes_near(rows: ArrayLike, distance: float = 0.3) -> NDArray[np.bool_]:
    """Rows (states, or ``[s, a]``) whose boxes are less than ``distance`` apart in xy:
    MOCODA-P's pre-filter before re-weighting to uniform box positions."""
    xy = np.asarray(rows)[:, BOX_XY]
    return np.linalg.norm(xy[:, :2] - xy[:, 2:], axis=1) < distance


def gripper_z_from_info(info: Any, n: int) -> NDArray[np.float64]:
    """``gripper_z`` out of one info dict or a sequence of them (SB3's HER passes an array)."""
    if isinstance(info, dict):
        if "gripper_z" not in info:
            raise KeyError("info lacks 'gripper_z': pass the info dict the env returned")
        return np.broadcast_to(np.asarray(info["gripper_z"], dtype=np.float64), (n,))
    try:
        values = [i["gripper_z"] for i in info]
    except (TypeError, KeyError) as exc:
        raise TypeError(
            "info must be the env's info dict (or a sequence of them) holding 'gripper_z', the "
            "gripper height the reward's on-table term needs"
        ) from exc
    return np.asarray(values, dtype=np.float64).reshape(n)
