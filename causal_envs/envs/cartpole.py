"""CartPole with cart friction, changeable physics and actions (CSR, Yang et al. 2025, §4.1).

The physics is Florian (2007) with cart friction ``mu_c`` and pole friction ``mu_p``, integrated
by Euler steps as Gymnasium's CartPole. `CartPoleModel` (the env's batched model) holds
every constant and steps a batch; `CausalCartPoleEnv` (``CausalCartPole-v0``) and
`CausalCartPoleVectorEnv` share it, and `render_pixels` draws 64x64 RGB frames of
a whole batch with NumPy (no window, no display), the track's colour encoding the current cart
friction.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space
from numpy.typing import NDArray

from causal_envs.core import (
    CausalStructure,
    OfflineDatasetMixin,
    as_batch,
    as_transitions,
    check_discrete_action,
    check_int,
    jsonable,
)
from causal_envs.envs.batched import BatchedVectorEnv

__all__ = [
    "FRICTION_OBS_SCALE",
    "CartPoleCausalAPI",
    "CartPoleModel",
    "CausalCartPoleEnv",
    "CausalCartPoleVectorEnv",
    "cartpole_structure",
    "render_pixels",
]

X_LIMIT = 2.4
THETA_LIMIT = 12 * 2 * math.pi / 360
#: a state observation's friction element is ``mu_c`` times this (the paper's 3e-4, 5e-4 and
#: 7e-4 read 0.3, 0.5 and 0.7): on the scale of the other elements, as the track's colour is
#: in the pixels; the raw coefficient would change a prediction error by ~1e-7
FRICTION_OBS_SCALE = 1_000.0


@dataclass(frozen=True)
class CartPoleModel:
    """The batched model of CartPole: the constants of one task; ``step`` advances a batch of
    states by one Euler step.

    Attributes:
        gravity, masscart, masspole, length (half the pole), force_mag, tau: as Gymnasium's
            CartPole (9.8, 1.0, 0.1, 0.5, 10.0, 0.02).
        force_scales: for each scale ``s_i`` action ``2i`` pushes with ``-s_i * force_mag``
            (left) and ``2i + 1`` with ``+s_i * force_mag`` (right); ``(1.0,)`` gives
            CartPole's two actions, ``(1.0, 0.5, 1.5)`` the six of CSR's task 4 with actions 0
            and 1 keeping their meaning (an action-space expansion appends actions).
        friction_cart: the cart friction ``mu_c`` cycles through these values, changing every
            ``friction_period`` steps; empty means no cart friction (and no friction observed).
        friction_pole: the pole friction ``mu_p`` (2e-6).
    """

    gravity: float = 9.8
    masscart: float = 1.0
    masspole: float = 0.1
    length: float = 0.5
    force_mag: float = 10.0
    tau: float = 0.02
    force_scales: tuple[float, ...] = (1.0,)
    friction_cart: tuple[float, ...] = ()
    friction_period: int = 5
    friction_pole: float = 2e-6

    def __post_init__(self) -> None:
        # constants become Python floats (NumPy scalars from a sampler included), so the hot
        # path computes in plain floats
        for name in ("gravity", "masscart", "masspole", "length", "force_mag", "tau"):
            v = _real(getattr(self, name), name)
            if not v > 0:
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
            object.__setattr__(self, name, v)
        scales = tuple(
            _real(x, "force_scales") for x in _sequence(self.force_scales, "force_scales")
        )
        frictions = tuple(
            _real(x, "friction_cart") for x in _sequence(self.friction_cart, "friction_cart")
        )
        object.__setattr__(self, "force_scales", scales)
        object.__setattr__(self, "friction_cart", frictions)
        object.__setattr__(self, "friction_pole", _real(self.friction_pole, "friction_pole"))
        if not self.force_scales or any(s <= 0 for s in self.force_scales):
            raise ValueError(f"force_scales must be positive numbers, got {self.force_scales}")
        if any(f < 0 for f in self.friction_cart):
            raise ValueError(f"friction_cart must be numbers >= 0, got {self.friction_cart}")
        if self.friction_pole < 0:
            raise ValueError(f"friction_pole must be a number >= 0, got {self.friction_pole}")
        if isinstance(self.friction_period, np.integer):
            object.__setattr__(self, "friction_period", int(self.friction_period))
        s = [sc * self.force_mag for sc in self.force_scales]
        forces = tuple(x for f in s for x in (-f, f))  # interleaved: left, right per scale
        object.__setattr__(self, "_force_values", forces)  # hot-path cache
        if not isinstance(self.friction_period, int) or self.friction_period < 1:
            raise ValueError(
                f"friction_period must be a positive integer, got {self.friction_period!r}"
            )

    @property
    def n_actions(self) -> int:
        return 2 * len(self.force_scales)

    @property
    def has_friction(self) -> bool:
        return bool(self.friction_cart)

    @property
    def forces(self) -> NDArray[np.float64]:
        """Force of each action, ``(n_actions,)``."""
        return np.asarray(self._force_values)

    def friction_at(self, steps: NDArray) -> NDArray[np.float64]:
        """Cart friction in force at each step count (0 without a schedule)."""
        if not self.friction_cart:
            return np.zeros(np.shape(steps))
        idx = (np.asarray(steps) // self.friction_period) % len(self.friction_cart)
        return np.asarray(self.friction_cart)[idx]

    def step(self, state: NDArray, actions: NDArray, friction: NDArray) -> NDArray[np.float64]:
        """Next states ``(B, 4)`` from states ``(B, 4)``, action indices and cart friction
        coefficients (`accelerations`, one Euler step)."""
        x, x_dot, th, th_dot = np.asarray(state, dtype=np.float64).T
        force = self.forces[np.asarray(actions)]
        x_acc, th_acc = self.accelerations(x_dot, th, th_dot, force, np.asarray(friction))
        t = self.tau
        return np.stack([x + t * x_dot, x_dot + t * x_acc, th + t * th_dot, th_dot + t * th_acc], 1)

    def accelerations(
        self, x_dot: NDArray, th: NDArray, th_dot: NDArray, force: NDArray, mu_c: NDArray
    ) -> tuple[NDArray, NDArray]:
        """The cart's and the pole's accelerations, Florian (2007) Eq. 21-22 with the normal
        force ``N_c = (mc + mp) g - mp l (th'' sin th + th'^2 cos th)``: the cart friction is
        ``mu_c N_c sgn(N_c x')``. ``th''`` is solved with ``sgn(N_c) = +1`` and solved again
        where ``N_c`` comes out negative (Florian's procedure). Without friction this is
        Gymnasium's CartPole exactly."""
        sin, cos = np.sin(th), np.cos(th)
        sgn_v = np.sign(x_dot)
        th_acc = self._pole_acc(sin, cos, th_dot, force, mu_c * sgn_v)
        n_c = self._normal_force(sin, cos, th_dot, th_acc)
        flipped = n_c < 0
        if np.any(flipped):  # the cart presses up on the track: the friction's sign turns
            again = self._pole_acc(sin, cos, th_dot, force, -mu_c * sgn_v)
            th_acc = np.where(flipped, again, th_acc)
            n_c = np.where(flipped, self._normal_force(sin, cos, th_dot, th_acc), n_c)
        mp, length = self.masspole, self.length
        friction = mu_c * n_c * np.sign(n_c * x_dot)
        x_acc = (force + mp * length * (th_dot**2 * sin - th_acc * cos) - friction) / (
            mp + self.masscart
        )
        return x_acc, th_acc

    def _pole_acc(self, sin, cos, th_dot, force, mu_sgn):
        """Florian Eq. 21 with ``mu_sgn = mu_c sgn(N_c x')``; arithmetic only, so arrays and
        plain floats alike (`step` and `step_one`)."""
        mp, length, g = self.masspole, self.length, self.gravity
        total = mp + self.masscart
        inner = (-force - mp * length * th_dot**2 * (sin + mu_sgn * cos)) / total + mu_sgn * g
        return (g * sin + cos * inner - self.friction_pole * th_dot / (mp * length)) / (
            length * (4.0 / 3.0 - mp * cos / total * (cos - mu_sgn))
        )

    def _normal_force(self, sin, cos, th_dot, th_acc):
        mp = self.masspole
        return (mp + self.masscart) * self.gravity - mp * self.length * (
            th_acc * sin + th_dot**2 * cos
        )

    def step_one(self, state: tuple[float, ...], action: int, friction: float) -> tuple[float, ...]:
        """Scalar twin of `step` for one state (the single env's fast path): the same
        equations in plain floats."""
        x, x_dot, th, th_dot = state
        force = self._force_values[action]
        mp, length = self.masspole, self.length
        sin, cos = math.sin(th), math.cos(th)
        sgn_v = (x_dot > 0) - (x_dot < 0)
        th_acc = self._pole_acc(sin, cos, th_dot, force, friction * sgn_v)
        n_c = self._normal_force(sin, cos, th_dot, th_acc)
        if n_c < 0 and friction:  # as `accelerations`: the friction's sign turns
            th_acc = self._pole_acc(sin, cos, th_dot, force, -friction * sgn_v)
            n_c = self._normal_force(sin, cos, th_dot, th_acc)
        sgn_n = (n_c > 0) - (n_c < 0)
        x_acc = (
            force + mp * length * (th_dot**2 * sin - th_acc * cos) - friction * n_c * sgn_n * sgn_v
        ) / (mp + self.masscart)
        t = self.tau
        return (x + t * x_dot, x_dot + t * x_acc, th + t * th_dot, th_dot + t * th_acc)

    def as_dict(self) -> dict[str, Any]:
        """JSON-native description (tuples as lists)."""
        return jsonable(self)


@functools.cache
def cartpole_structure(with_friction: bool) -> CausalStructure:
    """Ground-truth graph of one Euler step (sparsest: no friction, so ``x_dot -/-> th_dot'``).

    ``x' <- x, x_dot``; ``x_dot' <- x_dot, theta, theta_dot, force``; ``theta' <- theta,
    theta_dot``; ``theta_dot' <- theta, theta_dot, force``; with friction, ``friction`` is a
    state node that drives ``x_dot'``, ``theta_dot'`` and itself (its schedule).
    """
    names = ["x", "x_dot", "theta", "theta_dot"] + (["friction"] if with_friction else [])
    n = len(names)
    graph = np.zeros((n + 1, n), dtype=int)
    parents = {
        "x": ["x", "x_dot"],
        "x_dot": ["x_dot", "theta", "theta_dot", "force"],
        "theta": ["theta", "theta_dot"],
        "theta_dot": ["theta", "theta_dot", "force"],
        "friction": ["friction"],
    }
    if with_friction:
        parents["x_dot"].append("friction")
        parents["theta_dot"].append("friction")
    inputs = [*names, "force"]
    for j, child in enumerate(names):
        for p in parents[child]:
            graph[inputs.index(p), j] = 1
    return CausalStructure({k: [i] for i, k in enumerate(names)}, {"force": [0]}, graph)


# --------------------------------------------------------------------------- pixels
_SIZE = 64
_TRACK_ROW = 46
_SCALE = _SIZE / (2 * X_LIMIT)  # pixels per metre
_FRICTION_COLOURS = np.array(
    [[200, 60, 60], [230, 160, 40], [60, 170, 90], [60, 110, 210], [150, 80, 200]], np.uint8
)


def _track_colour(friction: float, schedule: tuple[float, ...]) -> NDArray[np.uint8]:
    if friction == 0 or not schedule:
        return np.array([90, 90, 90], np.uint8)
    values = sorted(set(schedule))
    return _FRICTION_COLOURS[values.index(friction) % len(_FRICTION_COLOURS)]


def render_pixels(states: NDArray, friction: NDArray, physics: CartPoleModel) -> NDArray[np.uint8]:
    """Frames ``(B, 64, 64, 3)``: sky, a dashed track coloured by the cart friction, the cart
    and the pole (drawn 2 px wide at its true angle and length), all batched."""
    s = np.asarray(states, dtype=np.float64)
    b = len(s)
    img = np.empty((b, _SIZE, _SIZE, 3), np.uint8)
    img[:] = (235, 240, 250)
    fr = np.broadcast_to(np.asarray(friction, dtype=np.float64), (b,))
    colours = np.stack([_track_colour(float(f), physics.friction_cart) for f in np.unique(fr)])
    which = np.searchsorted(np.unique(fr), fr)
    # 4 px segments, alternately the friction colour and a darker shade of it
    bright = colours[which]  # (B, 3)
    dark = (bright * 0.6).astype(np.uint8)
    dash = ((np.arange(_SIZE) // 4) % 2 == 0)[None, :, None]
    img[:, _TRACK_ROW + 1 : _TRACK_ROW + 4] = np.where(dash, bright[:, None], dark[:, None])[
        :, None
    ]
    # cart: 10 x 6 px centred on x
    cx = np.clip(np.round((s[:, 0] + X_LIMIT) * _SCALE), 0, _SIZE - 1).astype(int)
    cols = np.arange(_SIZE)
    cart = (np.abs(cols[None] - cx[:, None]) <= 5)[:, None, :]  # (B, 1, 64)
    band = img[:, _TRACK_ROW - 5 : _TRACK_ROW + 1]
    band[np.broadcast_to(cart, band.shape[:3])] = (40, 40, 40)
    # pole: from the pivot, length 2 * l metres, 24 samples, 2 px wide
    t = np.linspace(0.0, 1.0, 24)
    length_px = 2 * physics.length * _SCALE * 1.5
    px = cx[:, None] + np.sin(s[:, 2])[:, None] * length_px * t
    py = (_TRACK_ROW - 5) - np.cos(s[:, 2])[:, None] * length_px * t
    rows = np.clip(np.round(py), 0, _SIZE - 1).astype(int)
    cols_p = np.clip(np.round(px), 0, _SIZE - 1).astype(int)
    bi = np.broadcast_to(np.arange(b)[:, None], rows.shape)
    for dc in (0, 1):
        img[bi, rows, np.clip(cols_p + dc, 0, _SIZE - 1)] = (200, 140, 60)
    return img


# --------------------------------------------------------------------------- environments
class CartPoleCausalAPI:
    """The causal contract both CartPole envs share, over ``self.batch_model`` (state-vector
    semantics, also for pixel observations): ``causal_structure``, ``local_mask``,
    ``reward_fn``, ``termination_fn`` and ``change_factors`` (CSR's theta)."""

    batch_model: CartPoleModel

    observe_friction: bool

    @property
    def causal_structure(self) -> CausalStructure:
        return cartpole_structure(self.observe_friction)

    @property
    def change_factors(self) -> dict[str, float]:
        """The task-level parameters a distribution shift changes (CSR's theta)."""
        return {"gravity": self.batch_model.gravity, "masscart": self.batch_model.masscart}

    def _state_dim(self) -> int:
        return 5 if self.observe_friction else 4

    def local_mask(self, states: NDArray, actions: NDArray) -> NDArray[np.bool_]:
        """The graph of each transition: with friction > 0 (and ``x_dot != 0``) the friction
        drives ``x_dot'`` and ``theta_dot'``, and the cart's velocity also drives
        ``theta_dot'`` through the friction term; at zero friction neither edge acts."""
        s, _ = as_batch(states, self._state_dim(), "states")
        a, _ = as_batch(np.reshape(actions, (-1, 1)), 1, "actions")
        if len(s) != len(a):
            raise ValueError(f"states and actions differ in batch size: {len(s)} != {len(a)}")
        g = self.causal_structure.graph
        mask = np.broadcast_to(g, (len(s), *g.shape)).copy()
        if self.observe_friction:
            coupled = (s[:, 4] > 0) & (s[:, 1] != 0)
            mask[:, 1, 3] = coupled
            mask[:, 4, 1] = mask[:, 4, 3] = coupled
            mask[:, 1, 1] = True
        return mask

    def reward_fn(self, states: NDArray, actions: NDArray, next_states: NDArray) -> NDArray:
        """+1 for every step, the failing one included (as CartPole-v1)."""
        _, _, s2 = as_transitions(states, actions, next_states, self._state_dim(), 1)
        return np.ones(len(s2), np.float32)

    def termination_fn(self, states: NDArray, actions: NDArray, next_states: NDArray) -> NDArray:
        _, _, s2 = as_transitions(states, actions, next_states, self._state_dim(), 1)
        return (np.abs(s2[:, 0]) > X_LIMIT) | (np.abs(s2[:, 2]) > THETA_LIMIT)


def _real(value: Any, name: str) -> float:
    """A finite real constant as a Python float (bools, strings and NaN raise)."""
    if isinstance(value, bool | np.bool_) or not isinstance(
        value, int | float | np.integer | np.floating
    ):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return v


def _sequence(value: Any, name: str) -> tuple:
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        raise ValueError(f"{name} must be a sequence of numbers, got {value!r}")
    return tuple(value)


def _model_from_kwargs(kwargs: dict[str, Any]) -> CartPoleModel:
    model = kwargs.pop("batch_model", None)
    if model is not None and kwargs:
        raise ValueError("pass either batch_model= or individual constants, not both")
    if model is not None and not isinstance(model, CartPoleModel):
        raise TypeError(f"batch_model must be a CartPoleModel, got {type(model).__name__}")
    known = {f.name for f in dataclasses.fields(CartPoleModel)}
    if unknown := set(kwargs) - known:
        raise TypeError(
            f"unknown CausalCartPole keyword(s) {sorted(unknown)}; the physics takes "
            f"{sorted(known)} (or batch_model=)"
        )
    return model if model is not None else CartPoleModel(**kwargs)


def _observes_friction(observe_friction: Any, obs_type: str, physics: CartPoleModel) -> bool:
    if observe_friction is None:
        return physics.has_friction and obs_type == "state"
    if not isinstance(observe_friction, bool | np.bool_):
        raise ValueError(f"observe_friction must be True, False or None, got {observe_friction!r}")
    if obs_type == "pixels" and observe_friction:
        raise ValueError("observe_friction applies to obs_type='state' (pixels draw the track)")
    return bool(observe_friction)


def _observation_space(obs_type: str, observe_friction: bool) -> spaces.Space:
    if obs_type == "pixels":
        return spaces.Box(0, 255, shape=(_SIZE, _SIZE, 3), dtype=np.uint8)
    big = np.finfo(np.float32).max
    high = [X_LIMIT * 2, big, THETA_LIMIT * 2, big] + ([big] if observe_friction else [])
    high_arr = np.array(high, np.float32)
    low = -high_arr
    if observe_friction:
        low[-1] = 0.0
    return spaces.Box(low, high_arr, dtype=np.float32)


class CausalCartPoleEnv(CartPoleCausalAPI, OfflineDatasetMixin, gym.Env):
    """## Description
    Gymnasium's CartPole with the Florian (2007) equations including cart friction, every
    physical constant a constructor argument, more actions on demand, and 64x64 RGB pixel
    observations. It is the environment of CSR's CartPole task sequence (see
    ``causal_envs.tasks``): default physics; new gravity and cart mass (distribution shift);
    cart friction that appears and cycles (state-space expansion, visible as the track's
    colour); six forces (action-space expansion).

    ## Action Space
    ``Discrete(2 * len(force_scales))``: action ``2i`` pushes left with ``s_i * force_mag``,
    ``2i + 1`` right. With the default ``force_scales=(1.0,)``: 0 left, 1 right; with CSR's
    ``(1.0, 0.5, 1.5)`` actions 0 and 1 keep their meaning and 2-5 are new.

    ## Observation Space
    ``obs_type="state"``: ``[x, x_dot, theta, theta_dot]`` float32, plus the current cart
    friction coefficient times 1,000 (`FRICTION_OBS_SCALE`) when a friction schedule is set,
    or always with ``observe_friction=True`` (0 without friction: the slot a friction that
    appears later fills, so the observation's width does not announce it).
    ``obs_type="pixels"``: ``Box(0, 255, (64, 64, 3), uint8)``: the cart, the pole and a
    dashed track whose colour encodes the cart friction.

    ## Transition
    Florian (2007) Eq. 21-22 (CSR appendix D.3.2), with ``M = mc + mp`` and
    ``s = mu_c sgn(N_c x')``:
    ``th'' = (g sin th + cos th ((-F - mp l th'^2 (sin th + s cos th)) / M + s g)
    - mu_p th' / (mp l)) / (l (4/3 - mp cos th (cos th - s) / M))``;
    ``N_c = M g - mp l (th'' sin th + th'^2 cos th)`` (the track's normal force);
    ``x'' = (F + mp l (th'^2 sin th - th'' cos th) - mu_c N_c sgn(N_c x')) / M``; Euler with
    ``tau = 0.02``. Without friction: Gymnasium's CartPole.

    ## Rewards
    +1 per step (the failing step included), as CartPole-v1.

    ## Starting State
    Each of the four state variables uniform in [-0.05, 0.05]; the friction schedule restarts.

    ## Episode End
    Terminates when ``|x| > 2.4`` or ``|theta| > 12 degrees``; truncated at 500 steps.

    ## Causal Structure
    Nodes ``x, x_dot, theta, theta_dot`` (+ ``friction``) and ``force``. See
    `cartpole_structure`. ``change_factors`` holds gravity and cart mass.

    ## Arguments
    ``gym.make("CausalCartPole-v0", obs_type="state", observe_friction=None, render_mode=None,
    gravity=9.8, masscart=1.0, masspole=0.1, length=0.5, force_mag=10.0, tau=0.02,
    force_scales=(1.0,), friction_cart=(), friction_period=5, friction_pole=2e-6)``, or
    ``batch_model=CartPoleModel(...)`` instead of the constants.

    ## Version History
    * v0: first version (the cart friction with its normal force and the observed friction
      scaled by 1,000 since 2026-12-07).
    """

    #: the family of this env's named datasets (`OfflineDatasetMixin`)
    dataset_family = "cartpole"

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(
        self,
        obs_type: str = "state",
        render_mode: str | None = None,
        observe_friction: bool | None = None,
        **physics: Any,
    ):
        if obs_type not in ("state", "pixels"):
            raise ValueError(f"obs_type must be 'state' or 'pixels', got {obs_type!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.batch_model = _model_from_kwargs(dict(physics))
        self.obs_type = obs_type
        self.render_mode = render_mode
        self.action_space = spaces.Discrete(self.batch_model.n_actions)
        self.observe_friction = _observes_friction(observe_friction, obs_type, self.batch_model)
        self.observation_space = _observation_space(obs_type, self.observe_friction)
        self._state: tuple[float, ...] | None = None
        self._steps = 0
        self._n_actions = self.batch_model.n_actions

    def _friction(self) -> float:
        p = self.batch_model
        if not p.friction_cart:
            return 0.0
        return p.friction_cart[(self._steps // p.friction_period) % len(p.friction_cart)]

    def _pixels(self) -> np.ndarray:
        state = np.array([self._state])
        return render_pixels(state, np.array([self._friction()]), self.batch_model)[0]

    def _obs(self) -> np.ndarray:
        if self.obs_type == "pixels":
            return self._pixels()
        if self.observe_friction:
            friction = self._friction() * FRICTION_OBS_SCALE
            return np.array((*self._state, friction), dtype=np.float32)
        return np.array(self._state, dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._state = tuple(self.np_random.uniform(-0.05, 0.05, size=4).tolist())
        self._steps = 0
        return self._obs(), {}

    def step(self, action: Any):
        if self._state is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        action = check_discrete_action(action, int(self.action_space.n))
        if not 0 <= action < self._n_actions:
            raise ValueError(f"action must be an integer in [0, {self._n_actions}), got {action}")
        self._state = self.batch_model.step_one(self._state, action, self._friction())
        self._steps += 1
        x, _, th, _ = self._state
        terminated = abs(x) > X_LIMIT or abs(th) > THETA_LIMIT
        return self._obs(), 1.0, terminated, False, {}

    def close(self) -> None:
        """End the episode: a later ``step`` needs a ``reset``."""
        self._state = None
        super().close()

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='rgb_array'")
            return None
        if self._state is None:
            raise gym.error.ResetNeeded("call reset() before render()")
        return self._pixels()


class CausalCartPoleVectorEnv(CartPoleCausalAPI, OfflineDatasetMixin, BatchedVectorEnv):
    """``num_envs`` CartPoles stepped (and rendered, for pixels) as one batch. Made by
    ``gym.make_vec("CausalCartPole-v0", num_envs)``; takes the single env's arguments and any
    of Gymnasium's ``autoreset_mode`` (`causal_envs.envs.batched`; ``NEXT_STEP`` by default,
    ``SAME_STEP`` for Stable-Baselines3, ``DISABLED`` for torchrl)."""

    #: the family of this env's named datasets (`OfflineDatasetMixin`)
    dataset_family = "cartpole"

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: int = 500,
        obs_type: str = "state",
        render_mode: str | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        observe_friction: bool | None = None,
        **physics: Any,
    ):
        if not isinstance(num_envs, int | np.integer) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        if obs_type not in ("state", "pixels"):
            raise ValueError(f"obs_type must be 'state' or 'pixels', got {obs_type!r}")
        if render_mode is not None:
            raise ValueError("CausalCartPoleVectorEnv does not render; use obs_type='pixels'")
        self.batch_model = _model_from_kwargs(dict(physics))
        self.num_envs = int(num_envs)
        self.max_episode_steps = check_int("max_episode_steps", max_episode_steps, 1)
        self.obs_type = obs_type
        self.render_mode = None
        self.single_action_space = spaces.Discrete(self.batch_model.n_actions)
        self.observe_friction = _observes_friction(observe_friction, obs_type, self.batch_model)
        self.single_observation_space = _observation_space(obs_type, self.observe_friction)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._state: NDArray | None = None
        self._steps = np.zeros(self.num_envs, np.int64)
        self._init_autoreset(autoreset_mode)

    def _restart(self, mask: NDArray[np.bool_]) -> None:
        self._state[mask] = self.np_random.uniform(-0.05, 0.05, size=(int(mask.sum()), 4))
        self._steps[mask] = 0

    def _observe(self) -> np.ndarray:
        friction = self.batch_model.friction_at(self._steps)
        if self.obs_type == "pixels":
            return render_pixels(self._state, friction, self.batch_model)
        obs = self._state.astype(np.float32)
        if self.observe_friction:
            scaled = (friction * FRICTION_OBS_SCALE).astype(np.float32)
            obs = np.concatenate([obs, scaled[:, None]], 1)
        return obs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        mask = self._reset_mask(options)
        if mask is not None:
            if self._state is None:
                raise gym.error.ResetNeeded("call reset() before a reset with a reset_mask")
            return self._partial_reset(mask)
        super().reset(seed=seed)
        self._state = self.np_random.uniform(-0.05, 0.05, size=(self.num_envs, 4))
        self._steps[:] = 0
        self._prev_done[:] = False
        return self._observe(), {}

    def step(self, actions: Any):
        if self._state is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        a = np.asarray(actions)
        if a.shape != (self.num_envs,) or a.dtype.kind not in "iu":
            raise ValueError(
                f"actions must be integers of shape ({self.num_envs},), got {a.dtype} {a.shape}"
            )
        if (a < 0).any() or (a >= self.batch_model.n_actions).any():
            raise ValueError(f"actions must lie in [0, {self.batch_model.n_actions})")
        restarted = self._before_step()
        friction = self.batch_model.friction_at(self._steps)
        self._state = self.batch_model.step(self._state, a, friction)
        self._steps += 1
        x, th = self._state[:, 0], self._state[:, 2]
        terminated = (np.abs(x) > X_LIMIT) | (np.abs(th) > THETA_LIMIT)
        truncated = self._steps >= self.max_episode_steps
        reward = np.ones(self.num_envs, np.float32)
        info: dict[str, Any] = {}
        obs = self._after_step(restarted, reward, terminated, truncated, info)
        return obs, reward, terminated, truncated, info
