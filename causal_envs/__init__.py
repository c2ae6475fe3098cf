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

#: The environments this package registers, in the order ``causal-envs list`` shows them.
ENV_IDS = ("CausalNav2D-v0", "CausalCartPole-v0", "SyntheticPOMDP-v0", "CausalCoinRun-v0")

if "CausalNav2D-v0" not in registry:
    register(
        id="CausalNav2D-v0",
        entry_point="causal_envs.nav2d:CausalNav2DEnv",
        vector_entry_point="causal_envs.nav2d:CausalNav2DVectorEnv",
        max_episode_steps=70,
    )

if "CausalCartPole-v0" not in registry:
    register(
        id="CausalCartPole-v0",
        entry_point="causal_envs.cartpole:CausalCartPoleEnv",
        vector_entry_point="causal_envs.cartpole:CausalCartPoleVectorEnv",
        max_episode_steps=500,
    )

if "SyntheticPOMDP-v0" not in registry:
    register(
        id="SyntheticPOMDP-v0",
        entry_point="causal_envs.synthetic:SyntheticPOMDPEnv",
        max_episode_steps=256,
    )

if "CausalCoinRun-v0" not in registry:
    register(
        id="CausalCoinRun-v0",
        entry_point="causal_envs.tasks.coinrun:CoinRunEnv",
        max_episode_steps=1000,
    )
