"""The native vector envs as Stable-Baselines3 ``VecEnv``\\ s.

SB3 steps its own ``VecEnv`` interface, not Gymnasium's vector API, so ``gym.make_vec``'s
batched envs (`CausalNav2DVectorEnv`, `CausalCartPoleVectorEnv`: every sub-env in one NumPy
operation) need an adapter::

    from stable_baselines3 import PPO
    from causal_envs.sb3 import make_sb3_vec_env

    venv = make_sb3_vec_env("CausalCartPole-v0", num_envs=8)
    PPO("MlpPolicy", venv).learn(10_000)

`SB3VecEnv` runs the vector env in ``SAME_STEP`` autoreset mode, which is SB3's convention:
the step that ends an episode returns the next episode's first observation, the last one in
``info["terminal_observation"]``, and ``info["TimeLimit.truncated"]`` says the episode was cut
by its time limit rather than terminated (so SB3 bootstraps through it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from stable_baselines3.common.vec_env import VecEnv

__all__ = ["SB3VecEnv", "make_sb3_vec_env"]


class SB3VecEnv(VecEnv):
    """A Gymnasium vector env in ``SAME_STEP`` autoreset mode as an SB3 ``VecEnv``.

    ``get_attr``/``set_attr``/``env_method`` reach the vector env itself (one object serves
    every index); ``seed(s)`` seeds the next ``reset``.
    """

    def __init__(self, env: VectorEnv) -> None:
        mode = getattr(env, "autoreset_mode", env.metadata.get("autoreset_mode"))
        if mode is not AutoresetMode.SAME_STEP:
            raise ValueError(
                "SB3VecEnv needs a vector env in SAME_STEP autoreset mode (SB3's convention), got "
                f"{mode}; make it with gym.make_vec(..., autoreset_mode='same_step') or use "
                "make_sb3_vec_env"
            )
        self.env = env
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)
        self._actions: np.ndarray | None = None
        self._seed: int | None = None

    def reset(self) -> np.ndarray:
        obs, _ = self.env.reset(seed=self._seed)
        self._seed = None
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self):
        if self._actions is None:
            raise RuntimeError("step_wait() without step_async(actions)")
        obs, reward, terminated, truncated, info = self.env.step(self._actions)
        self._actions = None
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if dones.any():
            final = info["final_obs"]
            for i in np.flatnonzero(dones):
                infos[i]["terminal_observation"] = final[i]
                infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
        return obs, reward.astype(np.float32), dones, infos

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        self._seed = seed
        return [seed] * self.num_envs

    def close(self) -> None:
        self.env.close()

    def _indices(self, indices) -> list[int]:
        return list(self._get_indices(indices))

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        return [getattr(self.env, attr_name)] * len(self._indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        setattr(self.env, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs):
        result = getattr(self.env, method_name)(*method_args, **method_kwargs)
        return [result] * len(self._indices(indices))

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices=None) -> list[bool]:
        return [False] * len(self._indices(indices))


def make_sb3_vec_env(env_id: str, num_envs: int, **kwargs: Any) -> SB3VecEnv:
    """``gym.make_vec(env_id, num_envs, autoreset_mode="same_step", **kwargs)`` for SB3 (the
    env must have a native vector env: CausalNav2D-v0, CausalCartPole-v0)."""
    spec = gym.spec(env_id)
    if spec.vector_entry_point is None:
        raise ValueError(
            f"{env_id} has no native vector env; use SB3's make_vec_env for it instead"
        )
    return SB3VecEnv(gym.make_vec(env_id, num_envs, autoreset_mode="same_step", **kwargs))
