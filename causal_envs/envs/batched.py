"""What the package's native vector envs share: Gymnasium's three autoreset modes.

`BatchedVectorEnv` is the base of `CausalNav2DVectorEnv` and `CausalCartPoleVectorEnv`, which
step every sub-env in one NumPy operation. Each subclass says how to restart sub-envs
(``_restart(mask)``) and what it observes (``_observe()``); this class runs the episode ends:

- ``NEXT_STEP`` (Gymnasium's default): the step after an episode ends restarts that sub-env;
  its action is ignored and it returns reward 0 with both flags False.
- ``SAME_STEP``: the step that ends an episode returns the next episode's first observation;
  the last one is in ``info["final_obs"]`` (an object array, filled where ``info["_final_obs"]``).
  Stable-Baselines3's and torchrl's conventions.
- ``DISABLED``: nothing restarts by itself; ``reset(options={"reset_mask": mask})`` restarts
  the masked sub-envs (torchrl's preferred mode). Stepping a sub-env whose episode has ended is
  an error.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from numpy.typing import NDArray

__all__ = ["BatchedVectorEnv", "as_autoreset_mode"]


def as_autoreset_mode(mode: AutoresetMode | str) -> AutoresetMode:
    """``mode`` as an `AutoresetMode`; strings name one in any case, with or without
    underscores (``"same_step"``, ``"SAME_STEP"``, ``"SameStep"``)."""
    if isinstance(mode, AutoresetMode):
        return mode
    if isinstance(mode, str):
        key = mode.replace("_", "").lower()
        for m in AutoresetMode:
            if m.value.lower() == key:
                return m
    known = [m.name.lower() for m in AutoresetMode]
    raise ValueError(f"autoreset_mode must be one of {known}, got {mode!r}")


class BatchedVectorEnv(VectorEnv):
    """Autoreset for batched vector envs (see the module's docstring)."""

    num_envs: int
    _prev_done: NDArray[np.bool_]
    #: every sub-env's state; None before the first reset and after ``close``
    _state: NDArray | None

    def _init_autoreset(self, mode: AutoresetMode | str) -> None:
        self.autoreset_mode = as_autoreset_mode(mode)
        self.metadata = {**type(self).metadata, "autoreset_mode": self.autoreset_mode}
        self._prev_done = np.zeros(self.num_envs, dtype=np.bool_)

    def _restart(self, mask: NDArray[np.bool_]) -> None:
        """Start new episodes in the sub-envs where ``mask``."""
        raise NotImplementedError

    def _observe(self) -> NDArray:
        """The observations of every sub-env now."""
        raise NotImplementedError

    def _reset_mask(self, options: dict[str, Any] | None) -> NDArray[np.bool_] | None:
        """``options["reset_mask"]`` checked, or None for a full reset (``options`` must be
        a dict or None)."""
        if options is not None and not isinstance(options, dict):
            raise ValueError(f"options must be a dict or None, got {options!r}")
        if not options or "reset_mask" not in options:
            return None
        mask = np.asarray(options["reset_mask"])
        if mask.shape != (self.num_envs,) or mask.dtype != np.bool_:
            raise ValueError(
                f"options['reset_mask'] must be a bool array of shape ({self.num_envs},), got "
                f"{mask.dtype} {mask.shape}"
            )
        return mask

    def close_extras(self, **kwargs: Any) -> None:
        """End every episode: a later ``step`` needs a ``reset``, as on the single envs."""
        self._state = None

    def _partial_reset(self, mask: NDArray[np.bool_]) -> tuple[NDArray, dict[str, Any]]:
        self._restart(mask)
        self._prev_done[mask] = False
        return self._observe(), {}

    def _before_step(self) -> NDArray[np.bool_]:
        """The sub-envs this step restarts (NEXT_STEP); raises on a finished one (DISABLED)."""
        if self.autoreset_mode is AutoresetMode.DISABLED and self._prev_done.any():
            ended = np.flatnonzero(self._prev_done).tolist()
            raise RuntimeError(
                f"sub-envs {ended} have ended (autoreset_mode DISABLED): restart them with "
                "reset(options={'reset_mask': mask}) before stepping"
            )
        if self.autoreset_mode is AutoresetMode.NEXT_STEP:
            return self._prev_done.copy()
        return np.zeros(self.num_envs, dtype=np.bool_)

    def _after_step(
        self,
        restarted: NDArray[np.bool_],
        reward: NDArray,
        terminated: NDArray[np.bool_],
        truncated: NDArray[np.bool_],
        info: dict[str, Any],
    ) -> NDArray:
        """Apply the mode to a step's results; returns the observations to hand back."""
        if restarted.any():  # NEXT_STEP: these sub-envs were reset instead of stepped
            self._restart(restarted)
            reward[restarted] = 0.0
            terminated[restarted] = False
            truncated[restarted] = False
        ended = terminated | truncated
        self._prev_done = ended.copy()
        obs = self._observe()
        if self.autoreset_mode is AutoresetMode.SAME_STEP and ended.any():
            final = np.empty(self.num_envs, dtype=object)
            for i in np.flatnonzero(ended):
                final[i] = obs[i].copy()
            info["final_obs"], info["_final_obs"] = final, ended
            info["final_info"], info["_final_info"] = {}, ended
            self._restart(ended)
            self._prev_done[:] = False
            obs = self._observe()
        return obs
