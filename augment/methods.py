"""MoCoDA's augmentation methods by name (no torch here, so the CLI can list them quickly).

MoCoDA section 5 and appendix C.1: ``emp`` (the empirical data, resampled), ``dyn`` (rollouts of
an unfactored model), ``mocoda`` (the locally factored model on parent-model samples),
``mocoda-u`` (the same on parent samples re-weighted to uniform) and ``rand`` (the locally
factored model on uniform state-actions).
"""

from causal_envs.datasets.augmented import AUGMENTATION_METHODS

__all__ = ["METHODS", "MODEL_FOR_METHOD"]

#: the methods, in the paper's table order (the augmented cache's kinds of dataset)
METHODS = AUGMENTATION_METHODS
#: the dynamics architecture each generating method samples from
MODEL_FOR_METHOD = {"dyn": "unfactored", "mocoda": "local", "mocoda-u": "local", "rand": "local"}
