"""MoCoDA: model-based counterfactual data augmentation over an env's CausalStructure."""
