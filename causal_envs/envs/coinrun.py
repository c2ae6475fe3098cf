"""``CoinRun-v0``: one procgen CoinRun game (``procgen-mirror``) as a Gymnasium env.

procgen speaks gym3; `CoinRunEnv` adapts it to Gymnasium's ``reset``/``step``. The env has
no known causal structure (it is a pixel game): it is here for CSR's CoinRun task sequence
(`causal_envs.tasks.coinrun`).
"""

from __future__ import annotations

import warnings
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from causal_envs.core import check_discrete_action
from causal_envs.core.legacy_gym import quiet_legacy_gym

__all__ = ["PROCGEN_TIMEOUT", "CoinRunEnv", "procgen_gym3_env"]


def procgen_gym3_env() -> type:
    """procgen's ``ProcgenGym3Env`` class, imported quietly.

    procgen's gym3 interface imports the legacy ``gym`` package, whose import notice is kept
    from our users' terminals (`causal_envs.core.legacy_gym`), as is the ResourceWarning of a
    file procgen's import leaves open.
    """
    quiet_legacy_gym()
    with warnings.catch_warnings():  # procgen's import leaves its version.txt open
        warnings.simplefilter("ignore", ResourceWarning)
        from procgen import ProcgenGym3Env  # deferred: procgen loads its game library (~0.5 s)

    return ProcgenGym3Env


#: procgen ends every CoinRun episode after this many steps (measured: a standing agent's
#: episodes end at step 1000 with no reward)
PROCGEN_TIMEOUT = 1000
DISTRIBUTION_MODES = ("easy", "hard", "extreme", "memory", "exploration")


def _non_negative_int(value: Any, name: str) -> int:
    if isinstance(value, np.integer):
        value = int(value)
    if type(value) is not int or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


class CoinRunEnv(gym.Env):
    """One procgen CoinRun game as a Gymnasium env (64x64 RGB, 15 actions).

    An episode ends with the coin (reward 10, ``terminated``), with the agent's death
    (``terminated``, reward 0: there is no future to bootstrap from) or at procgen's time-out
    after 1000 steps (``truncated``). procgen resets a finished episode by itself, so the
    observation returned at an episode end is already the first frame of the next level, as in
    procgen's own gym wrapper; ``reset`` after it returns that frame without stepping. The
    procgen game is built by the first ``reset`` (so making the env is instant) and rebuilt,
    with procgen's ``rand_seed=s``, by ``reset(seed=s)``. ``info`` carries ``level_seed`` and,
    at an episode end, ``level_complete``. The env pickles with its game's state (procgen's
    ``get_state``), so a copy continues the same episode; ``close`` frees the game.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}  # procgen's viewer speed

    def __init__(
        self,
        num_levels: int = 0,
        start_level: int = 0,
        distribution_mode: str = "hard",
        render_mode: str | None = None,
        **procgen_kwargs: Any,
    ) -> None:
        if distribution_mode not in DISTRIBUTION_MODES:
            raise ValueError(
                f"distribution_mode must be one of {DISTRIBUTION_MODES}, got {distribution_mode!r}"
            )
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.options = dict(
            num_levels=_non_negative_int(num_levels, "num_levels"),
            start_level=_non_negative_int(start_level, "start_level"),
            distribution_mode=distribution_mode,
            **procgen_kwargs,
        )
        self.render_mode = render_mode
        self.observation_space = spaces.Box(0, 255, (64, 64, 3), np.uint8)
        self.action_space = spaces.Discrete(15)
        self._game = None  # built by the first reset (procgen loads only when played)
        self._seed = 0
        self._obs: np.ndarray | None = None
        self._t = 0  # steps into the current episode

    def _build(self, seed: int, state: bytes | None = None) -> None:
        self.close()
        self._game = procgen_gym3_env()(
            num=1, env_name="coinrun", rand_seed=int(seed), **self.options
        )
        self._seed = int(seed)
        if state is not None:
            self._game.set_state([state])
        _, ob, _ = self._game.observe()
        self._obs = ob["rgb"][0]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None or self._game is None:
            self._build(0 if seed is None else seed)
        self._t = 0
        return self._obs.copy(), {"level_seed": int(self._game.get_info()[0]["level_seed"])}

    def step(self, action: Any):
        if self._game is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        a = check_discrete_action(action, 15)
        self._game.act(np.array([a]))
        rew, ob, first = self._game.observe()
        self._obs = ob["rgb"][0]
        self._t += 1
        info = self._game.get_info()[0]
        out = {"level_seed": int(info["level_seed"])}
        ended = bool(first[0])
        if ended:
            out["level_complete"] = bool(info["prev_level_complete"])
        timed_out = ended and rew[0] <= 0 and self._t >= PROCGEN_TIMEOUT
        if ended:
            self._t = 0
        return self._obs.copy(), float(rew[0]), ended and not timed_out, timed_out, out

    def render(self) -> np.ndarray | None:
        """The current 64x64 frame (what the agent sees), or None before the first reset."""
        return None if self._obs is None else self._obs.copy()

    def close(self) -> None:
        """Free the procgen game (a later ``reset`` builds a new one)."""
        if self._game is not None:
            self._game.close()
            self._game = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        game = state.pop("_game")
        state["_procgen_state"] = None if game is None else game.get_state()[0]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        procgen_state = state.pop("_procgen_state")
        self.__dict__.update(state)
        self._game = None
        if procgen_state is not None:
            self._build(self._seed, procgen_state)
