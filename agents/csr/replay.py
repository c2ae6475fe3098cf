"""A replay of one task's experience, sampled as fixed-length sequences (Dreamer style).

Row ``i`` holds observation ``o_i``, the action taken before it (``prev_action``), the reward
received on arriving at it, whether the episode goes on after it (``cont``) and whether it
starts an episode (``first``, where the world model resets its latent state). Windows may cross
episode boundaries; ``first`` marks them.
"""

from __future__ import annotations

import numpy as np
import torch

from causal_envs.core.device import AUTO, resolve_device

__all__ = ["SequenceReplay"]


class SequenceReplay:
    """Fixed-capacity storage of steps in host memory (NumPy); `sample` returns ``(B, T)``
    tensors on the training device, copied there once per batch."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype=np.float32) -> None:
        if capacity < 2:
            raise ValueError(f"capacity must be at least 2, got {capacity}")
        self.capacity = int(capacity)
        self.obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.prev_action = np.zeros(capacity, np.int64)
        self.reward = np.zeros(capacity, np.float32)
        self.cont = np.ones(capacity, np.bool_)
        self.first = np.zeros(capacity, np.bool_)
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs, prev_action: int, reward: float, cont: bool, first: bool) -> None:
        if self.size == self.capacity:
            raise RuntimeError(f"the replay is full ({self.capacity} steps); make it larger")
        i = self.size
        obs = np.asarray(obs)
        if obs.shape != self.obs.shape[1:]:
            raise ValueError(f"obs of shape {obs.shape}; the replay holds {self.obs.shape[1:]}")
        self.obs[i] = obs
        self.prev_action[i] = prev_action
        self.reward[i] = reward
        self.cont[i] = cont
        self.first[i] = first
        self.size += 1

    def extend(self, other: SequenceReplay) -> None:
        """Append every step of ``other`` (its episode starts stay marked)."""
        n = len(other)
        if self.obs.shape[1:] != other.obs.shape[1:]:
            raise ValueError(
                f"other holds obs of shape {other.obs.shape[1:]}; this replay {self.obs.shape[1:]}"
            )
        if self.size + n > self.capacity:
            raise RuntimeError(f"the replay is full ({self.capacity} steps); make it larger")
        for name in ("obs", "prev_action", "reward", "cont", "first"):
            getattr(self, name)[self.size : self.size + n] = getattr(other, name)[:n]
        self.size += n

    def sample(
        self,
        batch: int,
        length: int,
        rng: np.random.Generator,
        device: str | torch.device = AUTO,
    ) -> dict[str, torch.Tensor]:
        """``batch`` windows of ``length`` consecutive steps (uniform starts) on ``device``."""
        if self.size < length:
            raise ValueError(f"the replay holds {self.size} steps, fewer than length {length}")
        start = rng.integers(0, self.size - length + 1, size=batch)
        idx = start[:, None] + np.arange(length)[None, :]
        first = self.first[idx].copy()
        first[:, 0] = True  # a window starts from a fresh latent state
        obs = self.obs[idx]
        arrays = {
            "obs": obs if obs.dtype == np.uint8 else obs.astype(np.float32),
            "prev_action": self.prev_action[idx],
            "reward": self.reward[idx],
            "cont": self.cont[idx],
            "first": first,
        }
        device = resolve_device(device)
        return {k: torch.as_tensor(v, device=device) for k, v in arrays.items()}
