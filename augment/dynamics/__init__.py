"""Step 2 of MoCoDA: ensembles of (locally) factored dynamics models ``(s, a) -> s'``.

Three architectures share one batched implementation:

- ``"unfactored"``: one network over all inputs predicts every next-state dimension.
- ``"global"``: one network per output node, reading only its parents in the sparsest graph.
- ``"local"``: one *Masked Composer* per output node: each input node has its own linear
  embedding (128-d), multiplied by that node's bit of the local causal mask of the sample,
  summed, then an MLP. A masked-out input cannot change the prediction (MoCoDA, appendix B.3).

``"global"`` is the composer with the constant sparsest graph as mask, so the three differ only
in the mask they feed it. The parts, split as mbrl-lib splits them:

- `config`: `DynamicsConfig` and the `TrainingLog`;
- `layer`: `MaskedComposerEnsemble`, every member and output
  node in one batched matmul, each member outputting a mean and a variance per dimension;
- `model`: `FactoredEnsemble`, the model in state units
  (factorisation, normalisation, prediction, MoCoDA's sampling rule, save/load);
- `trainer`: `EnsembleTrainer`, the Gaussian-NLL training loop
  with a validation split, model selection and denormal flushing.

Rolling a model out is `augment.rollout.model_rollout`.
"""

from augment.dynamics.config import ARCHITECTURES, DynamicsConfig, MaskFn, TrainingLog
from augment.dynamics.layer import MaskedComposerEnsemble
from augment.dynamics.model import FactoredEnsemble
from augment.dynamics.trainer import EnsembleTrainer, gaussian_nll, zero_tiny_

__all__ = [
    "ARCHITECTURES",
    "DynamicsConfig",
    "EnsembleTrainer",
    "FactoredEnsemble",
    "MaskFn",
    "MaskedComposerEnsemble",
    "TrainingLog",
    "gaussian_nll",
    "zero_tiny_",
]
