"""Step 2 of MoCoDA: ensembles of (locally) factored dynamics models ``(s, a) -> s'``.

Three architectures share one batched implementation:

- ``"unfactored"``: one network over all inputs predicts every next-state dimension.
- ``"global"``: one network per output node, reading only its parents in the sparsest graph.
- ``"local"``: one *Masked Composer* per output node: each input node has its own linear
  embedding (128-d), multiplied by that node's bit of the local causal mask of the sample,
  summed, then an MLP. A masked-out input cannot change the prediction (MoCoDA, appendix B.3).

``"global"`` is the composer with the constant sparsest graph as mask, so the three differ only
in the mask they feed it. The parts, split as mbrl-lib splits them:

- `config`: `DynamicsConfig`, its `TrainingConfig` and the `TrainingLog`;
- `layer`: `MaskedComposerEnsemble`, every member and output
  node in one batched matmul, each member outputting a mean and a variance per dimension;
- `model`: `FactoredEnsemble`, the model in state units
  (factorisation, normalisation, prediction, MoCoDA's sampling rule, save/load);
- `trainer`: `EnsembleTrainer`, the Gaussian-NLL training loop
  with a validation split, model selection and denormal flushing.

Rolling a model out is `causal_envs.core.rollout.model_rollout`.

The torch-free names (`DynamicsConfig`, `TrainingConfig`, `TrainingLog`, `ARCHITECTURES`)
import without torch; the others load their modules on first use (PEP 562), so the command
line can build a config without importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from augment.dynamics.config import (
    ARCHITECTURES,
    SCHEDULES,
    STOPPING_RULES,
    DynamicsConfig,
    MaskFn,
    TrainingConfig,
    TrainingLog,
)

if TYPE_CHECKING:
    from augment.dynamics.layer import MaskedComposerEnsemble
    from augment.dynamics.model import FactoredEnsemble
    from augment.dynamics.trainer import EnsembleTrainer, gaussian_nll, zero_tiny_

#: public name -> the module that defines it (loaded on first use: these import torch)
_LAZY = {
    "MaskedComposerEnsemble": "augment.dynamics.layer",
    "FactoredEnsemble": "augment.dynamics.model",
    "EnsembleTrainer": "augment.dynamics.trainer",
    "gaussian_nll": "augment.dynamics.trainer",
    "zero_tiny_": "augment.dynamics.trainer",
}

__all__ = [
    "ARCHITECTURES",
    "SCHEDULES",
    "STOPPING_RULES",
    "DynamicsConfig",
    "EnsembleTrainer",
    "FactoredEnsemble",
    "MaskFn",
    "MaskedComposerEnsemble",
    "TrainingConfig",
    "TrainingLog",
    "gaussian_nll",
    "zero_tiny_",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'augment.dynamics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
