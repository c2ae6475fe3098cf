"""A scripted HookSweep2 expert that sweeps one box to its goal (the source task's data).

No trained weights can be downloaded here, so the expert is a planner over three pushes:

- *x-push*: the head's flat face (normal along x) is lowered beside a box and moved along x;
- *y-push away from the head's side* (toward +y, the head pointing to -y): the base's side is
  lowered beside the box and moved;
- *y-push toward the head's side*: the box sits in the pocket between the base and the head,
  and the base's side facing it pushes it.

Each push is planned from the current box positions: the expert tries hook placements and keeps
one whose footprint, at lowering and along the whole push, stays clear of the other box. An
episode is: sweep the box whose goal is shifted to its goal x (first clearing the other box out
of the head's path when it is in the way), then nudge the unshifted box back inside its goal's
tolerance when needed ("leaving the other in the centre"). With probability ``noise_prob`` per
step the action gets Gaussian noise of std ``noise_std`` (MoCoDA appendix C.2: 0.5 and 0.1).

The expert acts on the single env's state (16) and goal (6): ``expert.act(obs_dict)`` or
``expert.act(flat_obs)``; ``expert.reset()`` between episodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from causal_envs.core import check_real
from causal_envs.envs.hooksweep.env import MOCAP_WORKSPACE
from causal_envs.envs.hooksweep.model import GOAL_BASE, GOAL_DIM, STATE_DIM, TABLE_TOP
from causal_envs.envs.hooksweep.scene import (
    HOOK_BASE_HALF,
    HOOK_HEAD_HALF,
    HOOK_HEAD_OFFSET,
    HOOK_OFFSET,
)

__all__ = ["HookSweepExpert", "Push"]

BOX_HALF = 0.025
Z_LOW = TABLE_TOP + 0.02  # the gripper height the reward's on-table term prefers
Z_HIGH = TABLE_TOP + 0.16  # high enough for the hook to pass over the boxes
Z_CLEAR = TABLE_TOP + 0.09  # the hook's underside above the box tops, with a margin
GAP = 0.02  # clearance between a face and its box when lowering
MARGIN = 0.012  # clearance kept from the other box
#: where the expert plans the gripper (x, y lows and highs): inside the env's mocap workspace
REACH = MOCAP_WORKSPACE[:, :2] + np.array([[0.02, 0.05], [-0.01, -0.05]])


def _rect(cx: NDArray, cy: NDArray, half: NDArray) -> NDArray[np.float64]:
    """Axis-aligned rectangles ``(..., 4)`` [x0, x1, y0, y1] around centres ``(cx, cy)``."""
    return np.stack([cx - half[0], cx + half[0], cy - half[1], cy + half[1]], axis=-1)


def _hook_rects(g: NDArray) -> NDArray[np.float64]:
    """The hook's footprint for gripper xy positions ``(..., 2)``: base and head as xy
    rectangles ``(..., 2, 4)`` [x0, x1, y0, y1]."""
    cx, cy = g[..., 0] + HOOK_OFFSET[0], g[..., 1] + HOOK_OFFSET[1]
    hx, hy = cx + HOOK_HEAD_OFFSET[0], cy + HOOK_HEAD_OFFSET[1]
    return np.stack([_rect(cx, cy, HOOK_BASE_HALF), _rect(hx, hy, HOOK_HEAD_HALF)], axis=-2)


def _hits(g: NDArray, box: NDArray, margin: float) -> NDArray[np.bool_]:
    """Whether the hook at gripper positions ``(..., 2)`` overlaps a box (plus ``margin``)."""
    r = _hook_rects(g)
    half = BOX_HALF + margin
    return (
        (r[..., 0] < box[0] + half)
        & (r[..., 1] > box[0] - half)
        & (r[..., 2] < box[1] + half)
        & (r[..., 3] > box[1] - half)
    ).any(axis=-1)


_PATH_T = np.linspace(0.0, 1.0, 12)[None, :, None]


@dataclass
class Push:
    """One planned push: lower the hook at ``start`` (gripper xy), move to ``end``, stop early
    once box ``box``'s coordinate ``axis`` has reached ``target``."""

    box: int
    axis: int
    target: float
    start: NDArray[np.float64]
    end: NDArray[np.float64]


def plan_push(
    boxes: NDArray, i: int, axis: int, target: float, avoid_other: bool = True
) -> Push | None:
    """A push of box ``i`` along ``axis`` to ``target`` that keeps clear of the other box
    (unless ``avoid_other`` is false)."""
    p, other = boxes[i], boxes[1 - i]
    sign = 1.0 if target > p[axis] else -1.0
    ox, oy = HOOK_OFFSET[0], HOOK_OFFSET[1]
    head_x = ox + HOOK_HEAD_OFFSET[0]  # head centre relative to the gripper
    face = HOOK_HEAD_HALF[0] + BOX_HALF
    if axis == 0:  # the head's face along x; the box inside the head's y span
        gx0 = p[0] - sign * (face + GAP) - head_x
        gx1 = target - sign * face - head_x
        y_mid = p[1] - oy - HOOK_HEAD_OFFSET[1]
        lo = p[1] - oy + BOX_HALF + 0.005 - (HOOK_HEAD_OFFSET[1] + HOOK_HEAD_HALF[1])
        hi = p[1] - oy - BOX_HALF - 0.005 - (HOOK_HEAD_OFFSET[1] - HOOK_HEAD_HALF[1])
        gy = np.linspace(lo, hi, 15)
        starts = np.stack([np.full_like(gy, gx0), gy], axis=1)
        ends = np.stack([np.full_like(gy, gx1), gy], axis=1)
        preference = np.abs(gy - y_mid)
    else:  # the base's side along y; the box beside the base, clear of the head
        side = HOOK_BASE_HALF[1] + BOX_HALF
        gy0 = p[1] - sign * (side + GAP) - oy
        gy1 = target - sign * side - oy
        # box x within the base's length; toward the head's side it must also stay behind
        # the head's face (it sits in the pocket between the base and the head)
        base_lo = p[0] + BOX_HALF + 0.01 - ox - HOOK_BASE_HALF[0]
        if sign * HOOK_HEAD_OFFSET[1] > 0:
            base_lo = p[0] + BOX_HALF + 0.01 - head_x + HOOK_HEAD_HALF[0]
        base_hi = p[0] - BOX_HALF - 0.01 - ox + HOOK_BASE_HALF[0]
        gx = np.linspace(base_lo, base_hi, 15)
        starts = np.stack([gx, np.full_like(gx, gy0)], axis=1)
        ends = np.stack([gx, np.full_like(gx, gy1)], axis=1)
        preference = np.abs(gx - (p[0] - ox))  # the box at the base's middle
    ends = np.clip(ends, REACH[0], REACH[1])
    reachable = ((starts >= REACH[0] - 1e-9) & (starts <= REACH[1] + 1e-9)).all(axis=1)
    path = starts[:, None] + _PATH_T * (ends - starts)[:, None]  # (15, 12, 2)
    ok = reachable & ~_hits(starts, p, 0.004)
    if avoid_other:
        ok &= ~_hits(path, other, MARGIN).any(axis=1)
    if not ok.any():
        return None
    best = np.flatnonzero(ok)[np.argmin(preference[ok])]
    return Push(i, axis, float(target), starts[best], ends[best])


class HookSweepExpert:
    """Scripted expert for HookSweep2's source task (see the module docstring).

    Args:
        noise_prob: per-step probability of adding action noise (MoCoDA appendix C.2: 0.5).
        noise_std: its standard deviation (0.1).
        tolerance: how close (xy) the unshifted box must be to its goal before the expert
            leaves it alone; below the task's 0.14 so that noise does not undo it.
        seed: seeds the noise.
    """

    def __init__(
        self,
        noise_prob: float = 0.5,
        noise_std: float = 0.1,
        tolerance: float = 0.09,
        seed: int | None = None,
    ) -> None:
        self.noise_prob = check_real("noise_prob", noise_prob, 0.0, 1.0)
        self.noise_std = check_real("noise_std", noise_std, 0.0)
        self.tolerance = check_real("tolerance", tolerance, 0.0, low_open=True)
        self.rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> None:
        """Forget the current plan (call at every episode start)."""
        self._push: Push | None = None
        self._phase = "plan"
        self._stalled = 0
        self._failed: set[tuple[int, int]] = set()

    # ----------------------------------------------------------------- planning
    @staticmethod
    def _split(obs) -> tuple[NDArray, NDArray]:
        if isinstance(obs, dict):
            return np.asarray(obs["observation"]), np.asarray(obs["desired_goal"])[:GOAL_DIM]
        flat = np.asarray(obs)
        if flat.shape != (STATE_DIM + 6,):
            raise ValueError(f"obs must be the env's dict or its flat (22,) form, got {flat.shape}")
        return flat[:STATE_DIM], flat[STATE_DIM:]

    def _sequences(self, boxes: NDArray, goals: NDArray) -> list[list[tuple[int, int, float]]]:
        """Candidate plans: (box, axis, target) pushes, the shifted box's sweep among them."""
        k = int(np.argmax(np.abs(goals[:, 0] - GOAL_BASE[[0, 3]])))
        j = 1 - k
        sweep = [(k, 0, goals[k, 0])]
        fixes = [
            [(j, 1, goals[j, 1]), (j, 0, goals[j, 0])],
            [(j, 0, goals[j, 0]), (j, 1, goals[j, 1])],
        ]
        # before the sweep the shifted box may move sideways: to its goal's y, or out of line
        # with the other box
        align_k = [[], [(k, 1, goals[k, 1])]]
        align_k += [[(k, 1, boxes[k, 1] + dy)] for dy in (0.08, -0.08, 0.13, -0.13)]
        plans = []
        for pre in align_k:
            for fix in fixes:
                plans.append(pre + fix + sweep)
                plans.append(pre + sweep + fix)
            for axis, delta in ((1, 0.13), (1, -0.13), (0, 0.13), (0, -0.13), (1, 0.2), (1, -0.2)):
                to = boxes[j, axis] + delta
                if 0.45 < to < 1.05 or axis == 0:
                    for fix in fixes:
                        plans.append([*pre, (j, axis, to), *sweep, *fix])
        return plans

    def _next_push(self, boxes: NDArray, goals: NDArray) -> Push | None:
        """The first push of the best feasible plan, predicting each push lands its box."""
        best: tuple[float, int, Push | None] | None = None
        k = int(np.argmax(np.abs(goals[:, 0] - GOAL_BASE[[0, 3]])))
        for plan in self._sequences(boxes, goals):
            pos = boxes.copy()
            first: Push | None = None
            feasible = True
            n_pushes = 0
            for i, axis, target in plan:
                err = goals[i] - pos[i]
                shifted = abs(goals[i, 0] - GOAL_BASE[3 * i]) > 0.2
                if abs(target - pos[i, axis]) < 0.04:
                    continue
                close = np.linalg.norm(err) < self.tolerance
                if not shifted and target == goals[i, axis] and close:
                    continue
                if (i, axis) in self._failed:
                    continue
                push = plan_push(pos, i, axis, target)
                if push is None:
                    if target == goals[i, axis] and i != k:
                        continue  # an optional correction of the unshifted box
                    feasible = False
                    break
                first = first or push
                n_pushes += 1
                pos[i, axis] = target
            if not feasible:
                continue
            final_err = float(np.linalg.norm(goals - pos, axis=1).max())
            score = (final_err > 0.11, n_pushes + final_err)
            if best is None or score < best[:2]:
                best = (*score, first)
        if best is None:  # nothing keeps clear of the other box: sweep through it
            err = goals[k] - boxes[k]
            if abs(err[0]) >= 0.05 and (k, 0) not in self._failed:
                return plan_push(boxes, k, 0, goals[k, 0], avoid_other=False)
            return None
        return best[2]

    # ----------------------------------------------------------------- acting
    @staticmethod
    def _towards(grip: NDArray, velocity: NDArray, target: NDArray) -> NDArray:
        """Move the mocap so that the gripper, which lags it by about one step's velocity,
        arrives at ``target`` without overshooting."""
        return np.clip((1.5 * (target - grip) - velocity) / 0.05, -1.0, 1.0)

    def act(self, obs) -> NDArray[np.float32]:
        """The expert's action for one observation (dict or flat), noise included."""
        state, goal = self._split(obs)
        grip, vel = state[:3], state[3:6]
        boxes = np.stack([state[6:8], state[11:13]])
        goals = goal.reshape(2, 3)[:, :2]
        action = np.zeros(4)
        for _ in range(3):  # a phase may finish at once; take at most three transitions
            if self._phase == "plan":
                self._push = self._next_push(boxes, goals)
                self._phase = "rise" if self._push is not None else "hold"
                self._stalled = 0
            push = self._push
            if self._phase == "hold":
                action[:3] = self._towards(grip, vel, np.array([grip[0], grip[1], Z_LOW + 0.03]))
                break
            if self._phase == "rise":
                if grip[2] > Z_CLEAR:
                    self._phase = "travel"
                    continue
                action[:3] = self._towards(grip, vel, np.array([grip[0], grip[1], Z_HIGH]))
                break
            if self._phase == "travel":
                if np.linalg.norm(grip[:2] - push.start) < 0.015:
                    self._phase = "lower"
                    continue
                action[:3] = self._towards(grip, vel, np.array([*push.start, Z_HIGH]))
                break
            if self._phase == "lower":
                settled = grip[2] < Z_LOW + 0.03 and abs(vel[2]) < 0.002
                if grip[2] < Z_LOW + 0.012 or settled:
                    self._phase = "push"
                    continue
                action[:3] = self._towards(grip, vel, np.array([*push.start, Z_LOW]))
                break
            # push: move along the planned line, slowing down as the box nears its target
            # (a box pushed at full speed slides on for about 8 cm)
            box = boxes[push.box]
            sign = np.sign(push.end - push.start)[push.axis]
            remaining = sign * (push.target - box[push.axis])
            at_end = np.linalg.norm(grip[:2] - push.end) < 0.01
            self._stalled = self._stalled + 1 if np.linalg.norm(vel[:2]) < 1e-3 else 0
            if remaining < 0.015 or at_end or self._stalled > 4:
                if remaining >= 0.015:
                    self._failed.add((push.box, push.axis))
                self._phase = "plan"
                continue
            speed = float(np.clip(0.4 * remaining, 0.01, 0.04))
            target = np.array([*push.start, Z_LOW])
            target[push.axis] = grip[push.axis] + sign * speed
            bound = sorted((push.start[push.axis], push.end[push.axis]))
            target[push.axis] = np.clip(target[push.axis], *bound)
            action[:3] = np.clip((target - grip) / 0.05, -1.0, 1.0)
            break
        if self.rng.random() < self.noise_prob:
            action += self.rng.normal(0.0, self.noise_std, size=4)
        return np.clip(action, -1.0, 1.0).astype(np.float32)
