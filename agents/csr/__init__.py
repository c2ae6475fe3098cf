"""CSR: causality-guided self-adaptive representations (world model, adaptation, baselines).

- `agents.csr.world_model`: the structured world model of CSR's Eq. (2);
- `agents.csr.agent`: the agent (world model + policy learned in imagination);
- `agents.csr.detection`: tau*, the threshold of the distribution-shift detection, and the
  matched tau* (`Threshold`, held by the agent as ``agent.threshold``);
- `agents.csr.adaptation`: the three-step adaptation to a new task;
- `agents.csr.continual`: Algorithm 1 over a task sequence with fixed env-step budgets
  (`run_sequence`), the protocol every CSR benchmark runs;
- `agents.csr.structure`: the learned masks scored against an env's ground-truth graph
  (latent variables matched first);
- the baselines are configurations: ``CSRConfig(adaptation="adarl")`` (masks and theta, no
  expansion) and ``CSRConfig(adaptation="finetune", world=WorldModelParams(structured=False,
  use_theta=False))`` (Dreamer-style: the same world model without structure, fine-tuned on
  every task).
"""

from agents.csr.adaptation import AdaptationReport, ExpansionController, adapt
from agents.csr.agent import ADAPTATIONS, EXPANSIONS, CSRAgent, CSRConfig
from agents.csr.continual import Schedule, TaskResult, run_sequence
from agents.csr.detection import Reference, Threshold
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
    "Reference",
    "Schedule",
    "SequenceReplay",
    "StructuredWorldModel",
    "TaskResult",
    "Threshold",
    "WorldModelConfig",
    "WorldModelParams",
    "adapt",
    "run_sequence",
]
