"""Offline agents (TD3-BC, BCQ, CQL) as MoCoDA's code defines them; CSR in ``agents.csr``.

from agents import TD3BC
agent = TD3BC()
agent.fit(env.unwrapped.get_augmented_dataset("mocoda-u"), n_updates=25_000)
action = agent.act(obs)
"""

from agents.bcq import BCQ, BCQConfig
from agents.common import EvalResult, OfflineAgent, OfflineConfig, TransitionSampler, evaluate
from agents.cql import CQL, CQLConfig
from agents.td3bc import TD3BC, TD3BCConfig

#: agent name -> class, as the benchmarks name them
AGENTS = {cls.name: cls for cls in (TD3BC, BCQ, CQL)}

__all__ = [
    "AGENTS",
    "BCQ",
    "CQL",
    "TD3BC",
    "BCQConfig",
    "CQLConfig",
    "EvalResult",
    "OfflineAgent",
    "OfflineConfig",
    "TD3BCConfig",
    "TransitionSampler",
    "evaluate",
]
