"""Observation wrappers shared by the task sequences."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["ResizeNearest"]


class ResizeNearest(gym.ObservationWrapper):
    """Nearest-pixel resize of RGB frames to ``size x size`` with precomputed indices.

    Two ``take`` calls (rows into a reused buffer, then columns into the returned frame) cost
    about 13 microseconds a frame; 2-D fancy indexing cost 64 and an area filter more than the
    ALE step itself.
    """

    def __init__(self, env: gym.Env, size: int = 64) -> None:
        super().__init__(env)
        h, w, c = env.observation_space.shape
        self._rows = ((np.arange(size) + 0.5) * h / size).astype(np.intp)
        self._cols = ((np.arange(size) + 0.5) * w / size).astype(np.intp)
        self._row_buffer = np.empty((size, w, c), np.uint8)
        self.observation_space = spaces.Box(0, 255, (size, size, c), np.uint8)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        rows = observation.take(self._rows, axis=0, out=self._row_buffer)
        return rows.take(self._cols, axis=1)
