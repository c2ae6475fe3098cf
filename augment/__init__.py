"""MoCoDA: model-based counterfactual data augmentation over an env's CausalStructure.

from augment import MoCoDA
mocoda = MoCoDA("CausalNav2D-v0").fit(load_dataset("nav2d/empirical"))
augmented = mocoda.generate("mocoda-u")
"""

from augment.density import BinnedGaussianKDE
from augment.dynamics import DynamicsConfig, FactoredEnsemble
from augment.parents import GaussianMixtureParams, ParentSetSampler, StratifiedParentSampler
from augment.pipeline import METHODS, MoCoDA, MoCoDAConfig
from augment.rejection import UniformRejection

__all__ = [
    "METHODS",
    "BinnedGaussianKDE",
    "DynamicsConfig",
    "FactoredEnsemble",
    "GaussianMixtureParams",
    "MoCoDA",
    "MoCoDAConfig",
    "ParentSetSampler",
    "StratifiedParentSampler",
    "UniformRejection",
]
