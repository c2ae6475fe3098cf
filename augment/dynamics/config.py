"""Hyperparameters of MoCoDA's dynamics ensembles."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from numpy.typing import NDArray

__all__ = ["ARCHITECTURES", "DynamicsConfig", "MaskFn", "TrainingLog"]

#: the three factorisations of MoCoDA's model-error table (appendix C.1)
ARCHITECTURES = ("unfactored", "global", "local")
#: ``mask_fn(states, actions) -> bool (B, n_inputs, n_outputs)``, e.g. ``env.unwrapped.local_mask``
MaskFn = Callable[[NDArray, NDArray], NDArray]


@dataclass
class DynamicsConfig:
    """Hyperparameters (defaults: MoCoDA's 2D Navigation models).

    Attributes:
        architecture: ``"unfactored"``, ``"global"`` or ``"local"`` (see `augment.dynamics`).
        ensemble_size: members, each trained on its own shuffle of the data.
        hidden: widths of each member's MLP after the embedding.
        embed_dim: width of each input node's embedding in the masked composer.
        lr, weight_decay: Adam's.
        batch_size: rows per member per step.
        epochs: passes over the training split.
        patience: stop when the validation NLL has not improved for this many epochs (None: run
            all epochs).
        val_fraction: the share of rows held out for validation (and model selection).
        std_divisor: at generation the predicted std is divided by this.
        seed: initial weights, the split and the mini-batches.
    """

    architecture: str = "local"
    ensemble_size: int = 5
    hidden: tuple[int, ...] = (256, 256)
    embed_dim: int = 128
    lr: float = 1e-4
    weight_decay: float = 5e-5
    batch_size: int = 512
    epochs: int = 600
    patience: int | None = None
    val_fraction: float = 0.125
    std_divisor: float = 3.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}"
            )
        for name in ("ensemble_size", "embed_dim", "batch_size", "epochs"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        self.hidden = tuple(int(h) for h in self.hidden)
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if not self.std_divisor > 0:
            raise ValueError(f"std_divisor must be > 0, got {self.std_divisor}")


@dataclass
class TrainingLog:
    """Per-epoch mean NLL on the training and validation splits, the epoch kept, and the wall
    time of the training."""

    train_nll: list[float] = field(default_factory=list)
    val_nll: list[float] = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0
