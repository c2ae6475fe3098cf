"""The synthetic POMDP of CSR (Yang et al. 2025, appendix D.3.1 and Table 4).

A latent state ``s`` (4 dims) evolves as ``s_t = tanh(W [s_{t-1}, a_{t-1}, theta]) + N(0, 0.2^2)``
with a task-level change factor ``theta ~ U[-1, 1]``; the agent sees ``o_t = W_o s_t`` (128 dims)
and gets ``r_t = MLP_{128-64-1}(s_t)``. The weights of the transition and the observation
networks are dropped with probability 0.5, fixed by a structure seed: the surviving weights are
the ground-truth causal graph (s -> s', a -> s', theta -> s', s -> o). `SyntheticModel.grow`
adds ``d'`` latent dimensions and keeps every old weight, which is CSR's state-space expansion.

**Ours** (documented deviations): the reward network's first layer drops whole latent inputs
(p = 0.5, at least one kept) so that ``s -> r`` is a sparse graph too; a latent whose incoming
weights are all dropped keeps its self-weight, so no latent is parentless; ``s_1 ~ N(0, I)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import ArrayLike, NDArray

from causal_envs.core import (
    CausalStructure,
    OfflineDatasetMixin,
    check_discrete_action,
    check_int,
    check_real,
)

__all__ = ["SyntheticModel", "SyntheticPOMDPEnv", "action_values", "render_latent_frame"]

N_ACTIONS = 33
#: the episode length (the paper's): the registered env is truncated after it
EPISODE_STEPS = 256


def action_values(n_actions: int = N_ACTIONS) -> NDArray[np.float64]:
    """The authors' discrete actions: ``a = (k - 16) / 16`` for 33 actions, in [-1, 1]."""
    half = (n_actions - 1) / 2
    return (np.arange(n_actions) - half) / half


def _glorot(rng: np.random.Generator, n_in: int, n_out: int) -> NDArray:
    bound = math.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-bound, bound, size=(n_in, n_out))


def _he(rng: np.random.Generator, n_in: int, n_out: int) -> NDArray:
    bound = math.sqrt(6.0 / n_in)
    return rng.uniform(-bound, bound, size=(n_in, n_out))


@dataclass(frozen=True)
class SyntheticModel:
    """The batched model of the synthetic POMDP: its fixed generating networks.

    ``w_s``: ``(d + 2, d)`` over inputs ``[s, a, theta]``; ``w_o``: ``(d, obs_dim)``; the reward
    MLP ``r1 (d, 128), r2 (128, 64), r3 (64, 1)``; and the boolean masks of the surviving
    weights."""

    w_s: NDArray
    mask_s: NDArray
    w_o: NDArray
    mask_o: NDArray
    r1: NDArray
    r2: NDArray
    r3: NDArray
    mask_r: NDArray

    @property
    def latent_dim(self) -> int:
        return self.w_s.shape[1]

    @property
    def obs_dim(self) -> int:
        return self.w_o.shape[1]

    @classmethod
    def create(cls, seed: int, latent_dim: int = 4, obs_dim: int = 128, drop: float = 0.5):
        if latent_dim < 1 or obs_dim < 1 or not 0 <= drop < 1:
            raise ValueError("latent_dim and obs_dim must be >= 1 and drop in [0, 1)")
        rng = np.random.default_rng(seed)
        d = latent_dim
        mask_s = rng.random((d + 2, d)) >= drop
        mask_s[np.arange(d), np.arange(d)] |= ~mask_s.any(axis=0)  # no parentless latent
        mask_o = rng.random((d, obs_dim)) >= drop
        mask_r = rng.random(d) >= drop
        if not mask_r.any():
            mask_r[rng.integers(d)] = True
        return cls(
            w_s=_glorot(rng, d + 2, d) * mask_s,
            mask_s=mask_s,
            w_o=_glorot(rng, d, obs_dim) * mask_o,
            mask_o=mask_o,
            r1=_he(rng, d, 128) * mask_r[:, None],
            r2=_he(rng, 128, 64),
            r3=_glorot(rng, 64, 1),
            mask_r=mask_r,
        )

    def grow(self, extra: int, seed: int | list[int], drop: float = 0.5) -> SyntheticModel:
        """``extra`` new latent dimensions; every existing weight (and mask entry) is kept.

        New weights (into and out of the new dimensions) are drawn and dropped like the
        originals; the reward ignores the new dimensions unless they survive its input mask.
        """
        if extra < 1:
            raise ValueError(f"extra must be >= 1, got {extra}")
        rng = np.random.default_rng(seed)
        d, n = self.latent_dim, self.latent_dim + extra
        # rows: [old s (d), new s (extra), a, theta]; columns: old then new latents
        old_rows = np.r_[np.arange(d), d + extra, d + extra + 1]
        mask_s = rng.random((n + 2, n)) >= drop
        w_s = _glorot(rng, n + 2, n)
        mask_s[np.ix_(old_rows, np.arange(d))] = self.mask_s
        w_s[np.ix_(old_rows, np.arange(d))] = self.w_s
        mask_s[np.arange(d, n), np.arange(d, n)] |= ~mask_s[:, d:].any(axis=0)
        w_s = w_s * mask_s
        mask_o = np.concatenate([self.mask_o, rng.random((extra, self.obs_dim)) >= drop])
        w_o = np.concatenate([self.w_o, _glorot(rng, extra, self.obs_dim)]) * mask_o
        mask_r = np.concatenate([self.mask_r, rng.random(extra) >= drop])
        r1 = np.concatenate([self.r1, _he(rng, extra, 128)]) * mask_r[:, None]
        return SyntheticModel(w_s, mask_s, w_o, mask_o, r1, self.r2, self.r3, mask_r)

    def transition(self, s: NDArray, a: NDArray, theta: float, noise: NDArray) -> NDArray:
        x = np.concatenate([s, a[:, None], np.full((len(s), 1), theta)], axis=1)
        return np.tanh(x @ self.w_s) + noise

    def observe(self, s: NDArray) -> NDArray[np.float32]:
        return (s @ self.w_o).astype(np.float32)

    def reward(self, s: NDArray) -> NDArray[np.float64]:
        h = np.maximum(s @ self.r1, 0)
        h = np.maximum(h @ self.r2, 0)
        return (h @ self.r3)[:, 0]

    def ground_truth(self) -> dict[str, NDArray[np.bool_]]:
        """Masks ``s->s (d, d)``, ``a->s (1, d)``, ``theta->s (1, d)``, ``s->o (d, obs)``,
        ``s->r (d, 1)``; entry ``[i, j]``: input ``i`` causes output ``j``."""
        d = self.latent_dim
        return {
            "s->s": self.mask_s[:d].copy(),
            "a->s": self.mask_s[d : d + 1].copy(),
            "theta->s": self.mask_s[d + 1 :].copy(),
            "s->o": self.mask_o.copy(),
            "s->r": self.mask_r[:, None].copy(),
        }

    def latent_structure(self) -> CausalStructure:
        """The latent transition graph as a `CausalStructure` (theta left out)."""
        d = self.latent_dim
        return CausalStructure(
            {f"s{i}": [i] for i in range(d)}, {"a": [0]}, self.mask_s[: d + 1].astype(int)
        )


class SyntheticPOMDPEnv(OfflineDatasetMixin, gym.Env):
    """## Description
    CSR's synthetic POMDP: a sparse random latent dynamical system seen through a random linear
    observation (see the module docstring). A task is a structure seed (the networks), a change
    factor ``theta`` and the latent expansions applied so far; ``causal_envs.tasks`` builds the
    4-task sequence (source, new theta, grown latent, both).

    ## Action Space
    ``Discrete(33)``: action ``k`` applies ``a = (k - 16) / 16``.

    ## Observation Space
    ``Box(-inf, inf, (128,), float32)``: ``o_t = W_o s_t``.

    ## Rewards
    ``MLP_{128-64-1}(s_t)`` of the new latent state.

    ## Starting State
    ``s_1 ~ N(0, I)``.

    ## Episode End
    Never terminates; truncated after 256 steps (the paper's episode length).

    ## Causal Structure
    ``ground_truth`` holds the masks ``s->s, a->s, theta->s, s->o, s->r``; ``latent_structure``
    the transition graph as a ``CausalStructure``; ``change_factors`` holds ``theta``.

    ## Arguments
    ``gym.make("SyntheticPOMDP-v0", structure_seed=0, theta=None, expansions=(), latent_dim=4,
    obs_dim=128, noise_std=0.2, render_mode=None)``: ``theta=None`` draws it from U[-1, 1] with
    the structure seed; ``expansions=(5,)`` grows the latent by 5 dimensions (each expansion
    seeded from the structure seed and its position). ``render_mode="rgb_array"`` draws the
    hidden state as bars above the observation as a colour strip (`render_latent_frame`).

    ## Version History
    * v0: first version.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    dataset_family = "synthetic"

    def __init__(
        self,
        structure_seed: int = 0,
        theta: float | None = None,
        expansions: tuple[int, ...] = (),
        latent_dim: int = 4,
        obs_dim: int = 128,
        noise_std: float = 0.2,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        noise_std = check_real("noise_std", noise_std, 0.0)
        batch_model = SyntheticModel.create(structure_seed, latent_dim, obs_dim)
        for i, extra in enumerate(expansions):
            batch_model = batch_model.grow(int(extra), seed=[structure_seed, i + 1])
        if theta is None:
            theta = float(np.random.default_rng([structure_seed, 7]).uniform(-1, 1))
        theta = check_real("theta", theta, -1.0, 1.0)
        self.batch_model = batch_model
        self.theta = float(theta)
        self.noise_std = float(noise_std)
        self.expansions = tuple(int(e) for e in expansions)
        self.structure_seed = structure_seed
        self.actions = action_values()
        self.action_space = spaces.Discrete(N_ACTIONS)
        self.observation_space = spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
        self._s: NDArray | None = None

    @property
    def ground_truth(self) -> dict[str, NDArray[np.bool_]]:
        return self.batch_model.ground_truth()

    @property
    def latent_structure(self) -> CausalStructure:
        return self.batch_model.latent_structure()

    @property
    def change_factors(self) -> dict[str, float]:
        return {"theta": self.theta}

    @property
    def latent_state(self) -> NDArray:
        if self._s is None:
            raise gym.error.ResetNeeded("call reset() first")
        return self._s.copy()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._s = self.np_random.standard_normal(self.batch_model.latent_dim)
        return self.batch_model.observe(self._s[None])[0], {"latent": self._s.copy()}

    def step(self, action: Any):
        if self._s is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        action = check_discrete_action(action, N_ACTIONS)
        noise = self.np_random.normal(0.0, self.noise_std, size=(1, self.batch_model.latent_dim))
        s = self.batch_model.transition(
            self._s[None], np.array([self.actions[action]]), self.theta, noise
        )
        self._s = s[0]
        reward = float(self.batch_model.reward(s)[0])
        return self.batch_model.observe(s)[0], reward, False, False, {"latent": self._s.copy()}

    def reference_returns(
        self, episodes: int = 10, horizon: int = EPISODE_STEPS, seed: int = 0
    ) -> dict[str, float]:
        """Mean returns of reference policies that know this task's true model, so a learned
        policy's score can be read against what the task allows (the way Atari scores are
        read between a random and a human player).

        - ``"random"``: uniformly random actions;
        - ``"worst_constant"``, ``"best_constant"``: the worst and the best of the 33 actions
          held for the whole episode;
        - ``"planner"``: each step, the action whose noise-free next state has the highest
          reward under the true model (a one-step lookahead: the reward reads only the next
          state);
        - ``"best"``: the higher of ``best_constant`` and ``planner``.

        All run ``episodes`` episodes of ``horizon`` steps from the same start states and noise
        (drawn from ``seed``), as a batch: the true model is used directly, not through
        ``step``, so the env's own episode is left as it is.
        """
        episodes = check_int("episodes", episodes, 1)
        horizon = check_int("horizon", horizon, 1)
        m, values = self.batch_model, self.actions
        rng = np.random.default_rng([seed, self.structure_seed])
        start = rng.standard_normal((episodes, m.latent_dim))
        noise = rng.normal(0.0, self.noise_std, size=(horizon, episodes, m.latent_dim))
        randoms = rng.integers(len(values), size=(horizon, episodes))

        def run(choose) -> NDArray[np.float64]:
            s, total = start, np.zeros(episodes)
            for t in range(horizon):
                s = m.transition(s, values[choose(t, s)], self.theta, noise[t])
                total += m.reward(s)
            return total

        def plan(t: int, s: NDArray) -> NDArray[np.intp]:
            n = len(values)
            tried = m.transition(np.repeat(s, n, 0), np.tile(values, len(s)), self.theta, 0.0)
            return m.reward(tried).reshape(len(s), n).argmax(1)

        constant = [
            float(run(lambda t, s, k=k: np.full(len(s), k)).mean()) for k in range(len(values))
        ]
        out = {
            "random": float(run(lambda t, s: randoms[t]).mean()),
            "worst_constant": min(constant),
            "best_constant": max(constant),
            "planner": float(run(plan).mean()),
        }
        out["best"] = max(out["best_constant"], out["planner"])
        return out

    def close(self) -> None:
        """End the episode: a later ``step`` needs a ``reset``."""
        self._s = None
        super().close()

    def render(self) -> NDArray[np.uint8] | None:
        """A frame of the hidden state and the observation it emits (`render_latent_frame`)."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='rgb_array'")
            return None
        if self._s is None:
            raise gym.error.ResetNeeded("call reset() before render()")
        return render_latent_frame(self._s, self.batch_model.observe(self._s[None])[0])


def render_latent_frame(
    latent: ArrayLike,
    obs: ArrayLike,
    width: int = 256,
    latent_scale: float = 1.5,
    obs_scale: float = 0.5,
) -> NDArray[np.uint8]:
    """An RGB frame ``(128, width, 3)``: the latent state as bars around a zero line (top, full
    height at ``|s| = latent_scale``), the observation as a strip of columns, red for positive
    and blue for negative, saturated at ``|o| = obs_scale`` (bottom). The defaults suit the
    default env, whose latent elements stay within about 1.3 and observations within 0.5."""
    s = np.clip(np.asarray(latent, dtype=np.float64) / latent_scale, -1.0, 1.0)
    o = np.clip(np.asarray(obs, dtype=np.float64) / obs_scale, -1.0, 1.0)
    img = np.full((128, width, 3), 255, dtype=np.uint8)
    half, top = 44, 4  # bars span rows 4..92 around the zero line at row 48
    zero = top + half
    edges = np.linspace(0, width, len(s) + 1).astype(int)
    for k, v in enumerate(s):
        lo, hi = sorted((zero, zero - round(float(v) * half)))
        img[lo : max(hi, lo + 1), edges[k] + 2 : max(edges[k + 1] - 2, edges[k] + 3)] = (
            70,
            110,
            180,
        )
    img[zero, :] = 120
    cols = np.minimum((np.arange(width) * len(o)) // width, len(o) - 1)
    v = o[cols]
    strip = np.empty((width, 3))
    strip[:, 0] = np.where(v > 0, 255, 255 * (1 + v))
    strip[:, 1] = 255 * (1 - np.abs(v))
    strip[:, 2] = np.where(v < 0, 255, 255 * (1 - v))
    img[100:124] = strip.astype(np.uint8)[None]
    return img
