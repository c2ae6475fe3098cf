"""causal-envs: Gymnasium environments that know their own causal structure.

Importing the package registers its environments::

    import gymnasium as gym
    import causal_envs  # noqa: F401  (registers the envs)

    env = gym.make("CausalNav2D-v0")
    envs = gym.make_vec("CausalNav2D-v0", num_envs=4096)
    mask = env.unwrapped.local_mask(states, actions)  # (batch, n_inputs, n_outputs) bool
"""

from gymnasium.envs.registration import register, registry

from causal_envs.core import CausalEnv, CausalStructure, check_causal_env

__version__ = "0.1.0"
__all__ = ["ENV_IDS", "CausalEnv", "CausalStructure", "__version__", "check_causal_env"]

#: id -> (entry point, native vector entry point or None, max episode steps), in the order
#: ``causal-envs list`` shows them.
_ENVS = {
    "CausalNav2D-v0": ("nav2d:CausalNav2DEnv", "nav2d:CausalNav2DVectorEnv", 70),
    "CausalCartPole-v0": ("cartpole:CausalCartPoleEnv", "cartpole:CausalCartPoleVectorEnv", 500),
    "SyntheticPOMDP-v0": ("synthetic:SyntheticPOMDPEnv", None, 256),
    "CausalCoinRun-v0": ("tasks.coinrun:CoinRunEnv", None, 1000),
    "HookSweep2-v0": ("hooksweep.env:HookSweep2Env", None, 75),
    "HookSweep2Source-v0": ("hooksweep.env:HookSweep2Env", None, 75),
}
#: keyword arguments a registered id fixes (the source task of HookSweep2)
_KWARGS = {"HookSweep2Source-v0": {"task": "sweep_one"}}
ENV_IDS = tuple(_ENVS)

for _id, (_entry, _vector, _steps) in _ENVS.items():
    if _id not in registry:
        register(
            id=_id,
            entry_point=f"causal_envs.{_entry}",
            vector_entry_point=f"causal_envs.{_vector}" if _vector else None,
            max_episode_steps=_steps,
            kwargs=_KWARGS.get(_id, {}),
        )
