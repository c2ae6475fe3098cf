"""2D Navigation with a locally entangled quadrant (MoCoDA, Pitis et al. 2022, appendix C.1).

The module holds the env's batched model (`Nav2DModel`: dynamics, mask, goal; exact and
simulator-free), the causal API both envs share (`Nav2DCausalAPI`), the single
environment `CausalNav2DEnv` (``CausalNav2D-v0``) and its native vector environment
`CausalNav2DVectorEnv` (``gym.make_vec("CausalNav2D-v0", n)``). They share the model, so
a single env, a vector env, the dataset generator and the reward labeller agree to the bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space
from numpy.typing import ArrayLike, NDArray

from causal_envs.core import (
    CausalStructure,
    OfflineDatasetMixin,
    as_batch,
    as_transitions,
    check_action_array,
    check_bool,
    check_real,
    jsonable,
)
from causal_envs.envs.batched import BatchedVectorEnv

__all__ = [
    "NAV2D_STRUCTURE",
    "CausalNav2DEnv",
    "CausalNav2DVectorEnv",
    "Nav2DCausalAPI",
    "Nav2DModel",
]

#: Roots (x, y, dx, dy) x children (x', y'); parent sets (x, dx) and (y, dy).
NAV2D_STRUCTURE = CausalStructure(
    state_nodes={"x": [0], "y": [1]},
    action_nodes={"dx": [0], "dy": [1]},
    graph=[[1, 0], [0, 1], [1, 0], [0, 1]],
)
_BASE_MASK = NAV2D_STRUCTURE.graph.copy()
_FULL_MASK = np.ones_like(_BASE_MASK)


def _pair(value: Any, name: str) -> tuple[float, float]:
    expected = f"{name} must be one or two numbers in [0, 1], got {value!r}"
    try:
        arr = np.broadcast_to(np.asarray(value, dtype=np.float64), (2,))
    except (TypeError, ValueError):
        raise ValueError(expected) from None
    if not np.isfinite(arr).all() or (arr < 0).any() or (arr > 1).any():
        raise ValueError(expected)
    return float(arr[0]), float(arr[1])


@dataclass(frozen=True)
class Nav2DModel:
    """The batched model of 2D Navigation: dynamics, local mask and target task, over rows.

    Attributes:
        step_size: displacement per unit action (0.05).
        entanglement: cross-talk of each sub-action on the other coordinate in the entangled
            quadrant (0.02).
        quadrant: the quadrant ``x > quadrant and y > quadrant`` is entangled (0.5).
        start_low, start_high: the start state is uniform in this box ([0, 0.15]^2).
        goal_low, goal_high: success when ``goal_low < s' < goal_high`` coordinate-wise, strictly
            ([0.8, 0.9]^2).
    """

    step_size: float = 0.05
    entanglement: float = 0.02
    quadrant: float = 0.5
    start_low: tuple[float, float] = (0.0, 0.0)
    start_high: tuple[float, float] = (0.15, 0.15)
    goal_low: tuple[float, float] = (0.8, 0.8)
    goal_high: tuple[float, float] = (0.9, 0.9)

    def __post_init__(self) -> None:
        for name in ("step_size", "entanglement", "quadrant"):
            object.__setattr__(self, name, check_real(name, getattr(self, name), 0.0))
        for name in ("start_low", "start_high", "goal_low", "goal_high"):
            object.__setattr__(self, name, _pair(getattr(self, name), name))
        for lo, hi in (("start_low", "start_high"), ("goal_low", "goal_high")):
            if any(a > b for a, b in zip(getattr(self, lo), getattr(self, hi), strict=True)):
                raise ValueError(f"{lo} must not exceed {hi}")

    def same_dynamics(self, other: Nav2DModel) -> bool:
        """Whether ``other`` has the same transition function (start and goal may differ)."""
        keys = ("step_size", "entanglement", "quadrant")
        return all(getattr(self, k) == getattr(other, k) for k in keys)

    def entangled(self, states: NDArray) -> NDArray[np.bool_]:
        """Rows whose state lies in the entangled quadrant (checked before the move)."""
        s = np.asarray(states, dtype=np.float64)
        return (s[:, 0] > self.quadrant) & (s[:, 1] > self.quadrant)

    def dynamics(self, states: NDArray, actions: NDArray) -> NDArray[np.float32]:
        """Next states (float32) of a batch; actions are clipped to [-1, 1], positions to [0, 1].

        Inputs must already be validated (finite, shape ``(batch, 2)``).
        """
        s = np.asarray(states, dtype=np.float64)
        a = np.clip(np.asarray(actions, dtype=np.float64), -1.0, 1.0)
        cross = (self.entanglement * a[:, ::-1]) * self.entangled(s)[:, None]
        nxt = (s + self.step_size * a) - cross
        return np.clip(nxt, 0.0, 1.0).astype(np.float32)

    def local_mask(self, states: NDArray) -> NDArray[np.bool_]:
        """Ground-truth local graph ``(batch, 4, 2)``: all ones in the entangled quadrant."""
        return _BASE_MASK | self.entangled(states)[:, None, None]

    def success(self, next_states: NDArray) -> NDArray[np.bool_]:
        """Rows whose next state is strictly inside the goal box."""
        s = np.asarray(next_states, dtype=np.float64)
        lo, hi = self.goal_low, self.goal_high
        return (s[:, 0] > lo[0]) & (s[:, 0] < hi[0]) & (s[:, 1] > lo[1]) & (s[:, 1] < hi[1])

    def sample_starts(self, rng: np.random.Generator, n: int) -> NDArray[np.float32]:
        """``n`` start states, uniform in the start box."""
        return rng.uniform(self.start_low, self.start_high, size=(n, 2)).astype(np.float32)

    def as_dict(self) -> dict[str, Any]:
        """JSON-native description (pairs as lists), stored in dataset metadata."""
        return jsonable(self)


class Nav2DCausalAPI:
    """The causal contract both Nav2D envs share: ``causal_structure``, ``local_mask``,
    ``transition_fn``, ``reward_fn`` and ``termination_fn``, over ``self.batch_model``. The
    offline datasets (`OfflineDatasetMixin`, family ``nav2d``) are each env's own base."""

    batch_model: Nav2DModel
    causal_structure: CausalStructure = NAV2D_STRUCTURE

    def local_mask(self, states: ArrayLike, actions: ArrayLike) -> NDArray[np.bool_]:
        """Ground-truth local causal mask, bool ``(batch, 4, 2)`` (rows x, y, dx, dy)."""
        s, _ = as_batch(states, 2, "states")
        a, _ = as_batch(actions, 2, "actions")
        if len(s) != len(a):
            raise ValueError(f"states and actions differ in batch size: {len(s)} != {len(a)}")
        return self.batch_model.local_mask(s)

    def transition_fn(self, states: ArrayLike, actions: ArrayLike) -> NDArray[np.float32]:
        """Ground-truth next states of a batch, float32 ``(batch, 2)`` (the simulator itself)."""
        s, _ = as_batch(states, 2, "states")
        a, _ = as_batch(actions, 2, "actions")
        if len(s) != len(a):
            raise ValueError(f"states and actions differ in batch size: {len(s)} != {len(a)}")
        return self.batch_model.dynamics(s, a)

    def reward_fn(
        self, states: ArrayLike, actions: ArrayLike, next_states: ArrayLike
    ) -> NDArray[np.float32]:
        """Target-task reward of each transition: 0 on reaching the goal box, else -1."""
        _, _, s2 = as_transitions(states, actions, next_states, 2, 2)
        return self.batch_model.success(s2).astype(np.float32) - np.float32(1.0)

    def termination_fn(
        self, states: ArrayLike, actions: ArrayLike, next_states: ArrayLike
    ) -> NDArray[np.bool_]:
        """Target-task termination of each transition: reaching the goal box."""
        _, _, s2 = as_transitions(states, actions, next_states, 2, 2)
        return self.batch_model.success(s2)


class CausalNav2DEnv(Nav2DCausalAPI, OfflineDatasetMixin, gym.Env[np.ndarray, np.ndarray]):
    """## Description
    A point moves in the unit square. Each action component moves its own coordinate, except in
    the top-right quadrant (``x > 0.5 and y > 0.5``), where the two sub-actions are entangled and
    each moves both coordinates. The environment is therefore *locally factored*: its causal
    graph is sparse almost everywhere and dense in one region. The target task is to travel
    from the bottom-left corner to a small goal box near the top-right corner; the offline
    dataset only holds straight bottom-to-top and left-to-right trajectories, so the direct
    diagonal path requires out-of-distribution generalisation (MoCoDA, appendix C.1).

    ## Action Space
    ``Box(-1, 1, (2,), float32)``: ``(dx, dy)``. Finite out-of-range values are clipped to
    [-1, 1]; NaN/inf, a wrong shape or a non-float dtype raise an error.

    ## Observation Space
    ``Box(0, 1, (2,), float32)``: the position ``(x, y)``.

    ## Transition
    With ``s = (x, y)`` the state before the move: if ``x > 0.5 and y > 0.5``,
    ``x += 0.05 dx - 0.02 dy`` and ``y += 0.05 dy - 0.02 dx``; otherwise ``x += 0.05 dx`` and
    ``y += 0.05 dy``. No noise. Positions are clipped to [0, 1] (arena walls; **ours** — the
    authors' code leaves them unbounded).

    ## Rewards
    -1 per step, 0 on the step that reaches the goal box ``0.8 < x' < 0.9, 0.8 < y' < 0.9``.

    ## Starting State
    Uniform in ``[0, 0.15]^2``; ``reset(options={"state": (x, y)})`` starts at a given state.

    ## Episode End
    Terminates on reaching the goal box (``info["is_success"]`` says so, as Gymnasium-Robotics
    envs do); truncated after 70 steps (``max_episode_steps``).

    ## Causal Structure
    Nodes ``x, y`` (state) and ``dx, dy`` (action) -> ``x', y'``. The sparsest graph (outside the
    quadrant) is ``x -> x'``, ``dx -> x'``, ``y -> y'``, ``dy -> y'``: parent sets ``(x, dx)`` and
    ``(y, dy)``. In the quadrant every root causes every child. ``env.unwrapped.local_mask(s, a)``
    returns the ground truth for a batch; with ``include_mask_in_info=True`` each step's
    ``info["causal_mask"]`` holds it too.

    ## Arguments
    ``gym.make("CausalNav2D-v0", render_mode=None, include_mask_in_info=False, step_size=0.05,
    entanglement=0.02, quadrant=0.5, start_low=0, start_high=0.15, goal_low=0.8,
    goal_high=0.9)``; the box arguments take one number or an ``(x, y)`` pair.
    ``render_mode="rgb_array"`` draws the arena, the entangled quadrant (orange), the goal box
    (green), the start box (blue), the path so far and the agent.

    ## Version History
    * v0: first version; dynamics, task and dataset as the MoCoDA authors' code, plus walls.
    """

    #: the family of this env's named datasets (`OfflineDatasetMixin`)
    dataset_family = "nav2d"

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    render_size = 256

    def __init__(
        self,
        render_mode: str | None = None,
        include_mask_in_info: bool = False,
        step_size: float = 0.05,
        entanglement: float = 0.02,
        quadrant: float = 0.5,
        start_low: float | tuple[float, float] = 0.0,
        start_high: float | tuple[float, float] = 0.15,
        goal_low: float | tuple[float, float] = 0.8,
        goal_high: float | tuple[float, float] = 0.9,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}"
            )
        self.render_mode = render_mode
        self.include_mask_in_info = check_bool("include_mask_in_info", include_mask_in_info)
        self.batch_model = Nav2DModel(
            step_size, entanglement, quadrant, start_low, start_high, goal_low, goal_high
        )
        self.observation_space = spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self._x: float | None = None
        self._y = 0.0
        self._trail: list[tuple[float, float]] = []

    # ----------------------------------------------------------------- gym API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if options is not None and not isinstance(options, dict):
            raise ValueError(f"options must be a dict (e.g. {{'state': (x, y)}}), got {options!r}")
        if unknown := set(options or {}) - {"state"}:
            raise ValueError(f"unknown reset options {sorted(unknown)}; use 'state'")
        if options and "state" in options:
            try:
                start = np.asarray(options["state"], dtype=np.float64)
            except (TypeError, ValueError):
                start = np.array([np.nan])
            if (
                start.shape != (2,)
                or not np.isfinite(start).all()
                or not ((start >= 0).all() and (start <= 1).all())
            ):
                raise ValueError(
                    f"options['state'] must be (x, y) in [0, 1]^2, got {options['state']!r}"
                )
            start = start.astype(np.float32)
        else:
            start = self.batch_model.sample_starts(self.np_random, 1)[0]
        self._x, self._y = float(start[0]), float(start[1])
        if self.render_mode is not None:
            self._trail = [(self._x, self._y)]
        return start, {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._x is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        if type(action) is np.ndarray and action.dtype.kind == "f" and action.shape == (2,):
            ax, ay = action.tolist()
        else:
            ax, ay = check_action_array(action, (2,)).tolist()
        if not (math.isfinite(ax) and math.isfinite(ay)):
            raise ValueError(f"action must be finite, got {action!r}")
        # Scalar twin of Nav2DModel.dynamics: same float64 operations in the same order.
        ax = min(max(ax, -1.0), 1.0)
        ay = min(max(ay, -1.0), 1.0)
        x, y, t = self._x, self._y, self.batch_model
        entangled = x > t.quadrant and y > t.quadrant
        nx = x + t.step_size * ax
        ny = y + t.step_size * ay
        if entangled:
            nx -= t.entanglement * ay
            ny -= t.entanglement * ax
        obs = np.array((min(max(nx, 0.0), 1.0), min(max(ny, 0.0), 1.0)), dtype=np.float32)
        self._x, self._y = nx, ny = obs.tolist()
        lo, hi = t.goal_low, t.goal_high
        success = lo[0] < nx < hi[0] and lo[1] < ny < hi[1]
        info: dict[str, Any] = {"is_success": success}
        if self.include_mask_in_info:
            info["causal_mask"] = (_FULL_MASK if entangled else _BASE_MASK).copy()
        if self.render_mode is not None:
            self._trail.append((nx, ny))
        return obs, 0.0 if success else -1.0, success, False, info

    def close(self) -> None:
        """End the episode: a later ``step`` needs a ``reset``."""
        self._x = None
        super().close()

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='rgb_array'")
            return None
        if self._x is None:
            raise gym.error.ResetNeeded("call reset() before render()")
        return render_arena(self.batch_model, np.asarray(self._trail), self.render_size)


class CausalNav2DVectorEnv(Nav2DCausalAPI, OfflineDatasetMixin, BatchedVectorEnv):
    """``num_envs`` copies of `CausalNav2DEnv` stepped in one batched NumPy operation.

    Made by ``gym.make_vec("CausalNav2D-v0", num_envs)``. ``autoreset_mode`` is any of
    Gymnasium's (`causal_envs.envs.batched`): ``NEXT_STEP`` by default (the step after an
    episode ends resets that sub-env, its action ignored, reward 0), ``SAME_STEP`` for
    Stable-Baselines3 (`causal_envs.vector.SB3VecEnv`) or ``DISABLED`` for torchrl. With
    ``include_mask_in_info=True`` the info holds ``causal_mask`` ``(num_envs, 4, 2)`` for each
    transition and ``_causal_mask`` marking the sub-envs that stepped (not reset). Takes the
    same task arguments as the single env.
    """

    #: the family of this env's named datasets (`OfflineDatasetMixin`)
    dataset_family = "nav2d"

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: int = 70,
        include_mask_in_info: bool = False,
        render_mode: str | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        **task_kwargs: Any,
    ) -> None:
        if not isinstance(num_envs, int | np.integer) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        if not isinstance(max_episode_steps, int | np.integer) or max_episode_steps < 1:
            raise ValueError(
                f"max_episode_steps must be a positive integer, got {max_episode_steps!r}"
            )
        if render_mode is not None:
            raise ValueError("CausalNav2DVectorEnv does not render; use the single env to render")
        self.num_envs = int(num_envs)
        self.max_episode_steps = int(max_episode_steps)
        self.include_mask_in_info = check_bool("include_mask_in_info", include_mask_in_info)
        self.render_mode = None
        self.batch_model = Nav2DModel(**task_kwargs)
        self.single_observation_space = spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32)
        self.single_action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._state: np.ndarray | None = None
        self._steps = np.zeros(self.num_envs, dtype=np.int32)
        self._init_autoreset(autoreset_mode)

    def _restart(self, mask: np.ndarray) -> None:
        self._state[mask] = self.batch_model.sample_starts(self.np_random, int(mask.sum()))
        self._steps[mask] = 0

    def _observe(self) -> np.ndarray:
        return self._state.copy()

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if isinstance(seed, list):
            raise ValueError("CausalNav2DVectorEnv takes one integer seed for all sub-envs")
        mask = self._reset_mask(options)
        if mask is not None:
            if self._state is None:
                raise gym.error.ResetNeeded("call reset() before a reset with a reset_mask")
            return self._partial_reset(mask)
        super().reset(seed=seed)
        if options and "state" in options:
            wanted = f"options['state'] must broadcast to ({self.num_envs}, 2) in [0, 1]"
            try:
                start = np.broadcast_to(
                    np.asarray(options["state"], np.float64), (self.num_envs, 2)
                )
            except (TypeError, ValueError):
                raise ValueError(f"{wanted}, got {options['state']!r}") from None
            if not np.isfinite(start).all() or (start < 0).any() or (start > 1).any():
                raise ValueError(f"{wanted}, got {options['state']!r}")
            self._state = start.astype(np.float32)
        else:
            self._state = self.batch_model.sample_starts(self.np_random, self.num_envs)
        self._steps[:] = 0
        self._prev_done[:] = False
        return self._state.copy(), {}

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self._state is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        actions = check_action_array(actions, (self.num_envs, 2))
        restarted = self._before_step()
        state = self._state
        nxt = self.batch_model.dynamics(state, actions)
        terminated = self.batch_model.success(nxt)
        reward = terminated.astype(np.float32) - np.float32(1.0)
        self._steps += 1
        truncated = self._steps >= self.max_episode_steps
        info: dict[str, Any] = {"is_success": terminated, "_is_success": ~restarted}
        if self.include_mask_in_info:
            info["causal_mask"] = self.batch_model.local_mask(state)
            info["_causal_mask"] = ~restarted
        self._state = nxt
        obs = self._after_step(restarted, reward, terminated, truncated, info)
        return obs, reward, terminated, truncated, info


# --------------------------------------------------------------------- rendering
_COLOURS = {
    "background": (250, 250, 250),
    "grid": (232, 232, 232),
    "quadrant": (255, 228, 196),
    "goal": (140, 210, 140),
    "start": (200, 220, 245),
    "border": (90, 90, 90),
    "trail": (60, 110, 200),
    "agent": (215, 50, 50),
}


def _box_pixels(
    size: int, low: tuple[float, float], high: tuple[float, float]
) -> tuple[slice, slice]:
    """Rows and columns of the pixels inside an axis-aligned box (y grows upwards)."""
    c0, c1 = round(low[0] * (size - 1)), round(high[0] * (size - 1))
    r0, r1 = round((1 - high[1]) * (size - 1)), round((1 - low[1]) * (size - 1))
    return slice(r0, r1 + 1), slice(c0, c1 + 1)


def render_arena(model: Nav2DModel, trail: np.ndarray, size: int = 256) -> np.ndarray:
    """An RGB frame ``(size, size, 3)`` of the arena with a path ``trail`` (T, 2) and its head."""
    img = np.empty((size, size, 3), dtype=np.uint8)
    img[:] = _COLOURS["background"]
    grid = np.round(np.linspace(0, size - 1, 11)).astype(int)
    img[grid, :] = _COLOURS["grid"]
    img[:, grid] = _COLOURS["grid"]
    q = model.quadrant
    img[_box_pixels(size, (q, q), (1.0, 1.0))] = _COLOURS["quadrant"]
    img[_box_pixels(size, model.start_low, model.start_high)] = _COLOURS["start"]
    img[_box_pixels(size, model.goal_low, model.goal_high)] = _COLOURS["goal"]
    for edge in (0, size - 1):
        img[edge, :] = img[:, edge] = _COLOURS["border"]
    if len(trail):
        # Densify the path: 12 points per segment, each drawn 2 px thick.
        t = np.linspace(0.0, 1.0, 12)[:, None, None]
        seg = (trail[:-1][None] * (1 - t) + trail[1:][None] * t).reshape(-1, 2)
        pts = np.concatenate([trail, seg]) if len(trail) > 1 else trail
        cols = np.round(pts[:, 0] * (size - 1)).astype(int)
        rows = np.round((1 - pts[:, 1]) * (size - 1)).astype(int)
        for dr, dc in ((0, 0), (0, 1), (1, 0), (1, 1)):
            img[np.clip(rows + dr, 0, size - 1), np.clip(cols + dc, 0, size - 1)] = _COLOURS[
                "trail"
            ]
        radius = max(3, size // 50)
        yy, xx = np.ogrid[:size, :size]
        head_r, head_c = rows[len(trail) - 1], cols[len(trail) - 1]
        disk = (yy - head_r) ** 2 + (xx - head_c) ** 2 <= radius**2
        img[disk] = _COLOURS["agent"]
    return img
