"""causal-envs: Gymnasium environments that know their own causal structure.

This module is the package's composition root: it names each env's entry point (as Gymnasium
strings, so no env module is imported until an env is made) and the dataset-layer functions
that serve ``env.unwrapped.get_dataset()`` (see `causal_envs.core.offline`).

Examples:
    Importing the package registers its environments:

    >>> import gymnasium as gym
    >>> import numpy as np
    >>> import causal_envs
    >>> env = gym.make("CausalNav2D-v0")
    >>> mask = env.unwrapped.local_mask(np.array([[0.2, 0.3]]), np.zeros((1, 2)))
    >>> mask.shape  # (batch, input nodes x, y, dx, dy, output nodes x', y')
    (1, 4, 2)
"""

from gymnasium.envs.registration import register, registry

from causal_envs.core import (
    CausalEnv,
    CausalStructure,
    GoalConditionedCausalEnv,
    LatentStructureEnv,
    check_causal_env,
    register_dataset_provider,
)

__version__ = "0.1.0"
__all__ = [
    "ENV_IDS",
    "CausalEnv",
    "CausalStructure",
    "GoalConditionedCausalEnv",
    "LatentStructureEnv",
    "__version__",
    "check_causal_env",
]

#: id -> (entry point, native vector entry point or None, max episode steps), in the order
#: ``causal-envs list`` shows them; modules are relative to ``causal_envs.envs``
_ENVS = {
    "CausalNav2D-v0": ("nav2d:CausalNav2DEnv", "nav2d:CausalNav2DVectorEnv", 70),
    "CausalCartPole-v0": ("cartpole:CausalCartPoleEnv", "cartpole:CausalCartPoleVectorEnv", 500),
    "SyntheticPOMDP-v0": ("synthetic:SyntheticPOMDPEnv", None, 256),
    "CoinRun-v0": ("coinrun:CoinRunEnv", None, 1000),
    "HookSweep2-v1": ("hooksweep.env:HookSweep2Env", None, 75),
    "HookSweep2Source-v1": ("hooksweep.env:HookSweep2Env", None, 75),
}
#: keyword arguments a registered id fixes (the source task of HookSweep2)
_KWARGS = {"HookSweep2Source-v1": {"goal_mode": "sweep_one"}}
#: the return at which an env counts as solved, where one is meaningful: CausalCartPole-v0 at
#: its default physics is CartPole-v1 (same equations, constants and 500-step limit), whose
#: threshold is 475. The others have none: Nav2D's best return depends on the start, and
#: the goal-conditioned and pixel games are judged by success rates, not a return.
_REWARD_THRESHOLDS = {"CausalCartPole-v0": 475.0}
ENV_IDS = tuple(_ENVS)

for _id, (_entry, _vector, _steps) in _ENVS.items():
    if _id not in registry:
        register(
            id=_id,
            entry_point=f"causal_envs.envs.{_entry}",
            vector_entry_point=f"causal_envs.envs.{_vector}" if _vector else None,
            max_episode_steps=_steps,
            reward_threshold=_REWARD_THRESHOLDS.get(_id),
            kwargs=_KWARGS.get(_id, {}),
        )

for _family in ("nav2d", "cartpole", "synthetic", "hooksweep2"):
    for _kind in ("dataset", "augmented", "reference"):
        register_dataset_provider(_family, _kind, f"causal_envs.datasets.d4rl:{_family}.{_kind}")
