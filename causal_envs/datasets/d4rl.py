"""The dataset-layer side of ``env.unwrapped.get_dataset()`` (see `causal_envs.core.offline`).

Each function takes the env asking (its ``unwrapped``), loads the named dataset from the cache
and relabels it with the env's own ``reward_fn``/``termination_fn``, so an env with another goal
gets matching labels. The composition root registers them per dataset family.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from causal_envs.datasets.registry import load_augmented, load_dataset
from causal_envs.envs.nav2d import Nav2DCausalAPI, Nav2DModel

__all__ = ["nav2d_augmented", "nav2d_dataset"]


def _check_default_dynamics(env: Nav2DCausalAPI) -> None:
    m = env.batch_model
    if not m.same_dynamics(Nav2DModel()):
        raise ValueError(
            "the stored Nav2D datasets were generated with the default dynamics "
            "(step_size, entanglement, quadrant) = (0.05, 0.02, 0.5); this env uses "
            f"{(m.step_size, m.entanglement, m.quadrant)}"
        )


def nav2d_dataset(env: Nav2DCausalAPI, seed: int = 0, regenerate: bool = False) -> dict[str, Any]:
    """``nav2d/empirical`` as a D4RL dict, relabelled for ``env``'s goal box."""
    _check_default_dynamics(env)
    data = load_dataset("nav2d/empirical", seed=seed, regenerate=regenerate)
    return data.relabel(env.reward_fn, env.termination_fn).to_d4rl()


def nav2d_augmented(env: Nav2DCausalAPI, method: str, seed: int = 0) -> dict[str, np.ndarray]:
    """The ``method`` augmentation of ``nav2d/empirical`` (made by ``causal-envs augment``)."""
    _check_default_dynamics(env)
    data = load_augmented("nav2d/empirical", method, seed)
    return data.relabel(env.reward_fn, env.termination_fn).to_d4rl()
