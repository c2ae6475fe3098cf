"""MoCoDA: model-based counterfactual data augmentation over an env's CausalStructure.

The names below load their modules on first use (PEP 562): importing ``augment`` does not
import torch or scikit-learn, so the command line starts fast. A runnable example is in
`augment.pipeline`; the typical use (at the paper's budget, which trains for minutes):

```python
from augment import MoCoDA
mocoda = MoCoDA("CausalNav2D-v0").fit(load_dataset("nav2d/empirical"))
augmented = mocoda.generate("mocoda-u")
```

Examples:
    >>> from augment import METHODS
    >>> METHODS
    ('emp', 'dyn', 'mocoda', 'mocoda-u', 'rand')
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from augment.methods import METHODS, MODEL_FOR_METHOD

if TYPE_CHECKING:
    from augment.density import BinnedGaussianKDE
    from augment.dynamics import DynamicsConfig, EnsembleTrainer, FactoredEnsemble, TrainingConfig
    from augment.parents import GaussianMixtureParams, ParentSetSampler, StratifiedParentSampler
    from augment.pipeline import MoCoDA, MoCoDAConfig
    from augment.rejection import UniformRejection
    from augment.sb3 import MoCoDAHerReplayBuffer, MoCoDAReplayBuffer
    from causal_envs.core.rollout import Rollout, model_rollout

#: public name -> the module that defines it
_LAZY = {
    "BinnedGaussianKDE": "augment.density",
    "DynamicsConfig": "augment.dynamics.config",
    "TrainingConfig": "augment.dynamics.config",
    "EnsembleTrainer": "augment.dynamics",
    "FactoredEnsemble": "augment.dynamics",
    "GaussianMixtureParams": "augment.parents",
    "MoCoDA": "augment.pipeline",
    "MoCoDAConfig": "augment.pipeline",
    "MoCoDAHerReplayBuffer": "augment.sb3",
    "MoCoDAReplayBuffer": "augment.sb3",
    "ParentSetSampler": "augment.parents",
    "Rollout": "causal_envs.core.rollout",
    "StratifiedParentSampler": "augment.parents",
    "UniformRejection": "augment.rejection",
    "model_rollout": "causal_envs.core.rollout",
}

__all__ = [
    "METHODS",
    "MODEL_FOR_METHOD",
    "BinnedGaussianKDE",
    "DynamicsConfig",
    "EnsembleTrainer",
    "FactoredEnsemble",
    "GaussianMixtureParams",
    "MoCoDA",
    "MoCoDAConfig",
    "MoCoDAHerReplayBuffer",
    "MoCoDAReplayBuffer",
    "ParentSetSampler",
    "Rollout",
    "StratifiedParentSampler",
    "TrainingConfig",
    "UniformRejection",
    "model_rollout",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'augment' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
