"""CSR: causality-guided self-adaptive representations (world model, adaptation, baselines).

- `agents.csr.world_model`: the structured world model of CSR's Eq. (2);
- `agents.csr.agent`: the agent (world model + policy learned in imagination);
- `agents.csr.adaptation`: the three-step adaptation to a new task;
- `agents.csr.structure`: the learned masks scored against an env's ground-truth graph
  (latent variables matched first);
- the baselines are configurations: ``CSRConfig(adaptation="adarl")`` (masks and theta, no
  expansion) and ``CSRConfig(adaptation="finetune", world=WorldModelParams(structured=False,
  use_theta=False))`` (Dreamer-style: the same world model without structure, fine-tuned on
  every task).
"""

from agents.csr.adaptation import AdaptationReport, ExpansionController, adapt
from agents.csr.agent import ADAPTATIONS, EXPANSIONS, CSRAgent, CSRConfig
from agents.csr.masks import MaskGate
from agents.csr.replay import SequenceReplay
from agents.csr.world_model import (
    MASK_NAMES,
    StructuredWorldModel,
    WorldModelConfig,
    WorldModelParams,
)

__all__ = [
    "ADAPTATIONS",
    "EXPANSIONS",
    "MASK_NAMES",
    "AdaptationReport",
    "CSRAgent",
    "CSRConfig",
    "ExpansionController",
    "MaskGate",
    "SequenceReplay",
    "StructuredWorldModel",
    "WorldModelConfig",
    "WorldModelParams",
    "adapt",
]
