"""``CoinRun-v0``: one procgen CoinRun game (``procgen-mirror``) as a Gymnasium env.

procgen speaks gym3; `CoinRunEnv` adapts it to Gymnasium's ``reset``/``step``. The env has
no known causal structure (it is a pixel game): it is here for CSR's CoinRun task sequence
(`causal_envs.tasks.coinrun`).
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["CoinRunEnv", "procgen_gym3_env"]


def procgen_gym3_env() -> type:
    """procgen's ``ProcgenGym3Env`` class, imported quietly.

    procgen's gym3 interface imports the legacy ``gym`` package, which prints a four-line
    "unmaintained" notice to stderr on import; this package never uses ``gym`` itself, so the
    notice is kept from our users' terminals.
    """
    with contextlib.redirect_stderr(io.StringIO()):
        import gym  # noqa: F401  # deferred: only to silence its import notice, see above
    from procgen import ProcgenGym3Env  # deferred: procgen loads its game library (~0.5 s)

    return ProcgenGym3Env


class CoinRunEnv(gym.Env):
    """One procgen CoinRun game as a Gymnasium env (64x64 RGB, 15 actions).

    procgen resets a finished episode by itself, so the observation returned with
    ``terminated=True`` (or ``truncated=True``, for procgen's time-outs) is already the first
    frame of the next level, as in procgen's own gym wrapper; ``reset`` after it returns that
    frame without stepping. The procgen game is built by the first ``reset`` (so making the env
    is instant) and rebuilt, with procgen's ``rand_seed=s``, by ``reset(seed=s)``. ``info``
    carries ``level_seed`` and, at an episode end, ``level_complete``.
    """

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(
        self,
        num_levels: int = 0,
        start_level: int = 0,
        distribution_mode: str = "hard",
        render_mode: str | None = None,
        **procgen_kwargs: Any,
    ) -> None:
        if distribution_mode not in ("easy", "hard", "extreme", "memory", "exploration"):
            raise ValueError(f"unknown procgen distribution_mode {distribution_mode!r}")
        if num_levels < 0 or start_level < 0:
            raise ValueError("num_levels and start_level must be >= 0")
        self.options = dict(
            num_levels=num_levels,
            start_level=start_level,
            distribution_mode=distribution_mode,
            **procgen_kwargs,
        )
        self.render_mode = render_mode
        self.observation_space = spaces.Box(0, 255, (64, 64, 3), np.uint8)
        self.action_space = spaces.Discrete(15)
        self._game = None  # built by the first reset (procgen loads only when played)
        self._obs: np.ndarray | None = None

    def _build(self, seed: int) -> None:
        self._game = procgen_gym3_env()(
            num=1, env_name="coinrun", rand_seed=int(seed), **self.options
        )
        _, ob, _ = self._game.observe()
        self._obs = ob["rgb"][0]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None or self._game is None:
            self._build(0 if seed is None else seed)
        return self._obs.copy(), {"level_seed": int(self._game.get_info()[0]["level_seed"])}

    def step(self, action: Any):
        if self._game is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        a = int(action)
        if not 0 <= a < 15:
            raise ValueError(f"action must be an integer in [0, 15), got {action!r}")
        self._game.act(np.array([a]))
        rew, ob, first = self._game.observe()
        self._obs = ob["rgb"][0]
        info = self._game.get_info()[0]
        out = {"level_seed": int(info["level_seed"])}
        ended = bool(first[0])
        if ended:
            out["level_complete"] = bool(info["prev_level_complete"])
        # an episode ends by the coin (reward) or by death or time-out (no reward)
        return self._obs.copy(), float(rew[0]), ended and rew[0] > 0, ended and rew[0] <= 0, out

    def render(self) -> np.ndarray | None:
        return None if self._obs is None else self._obs.copy()
