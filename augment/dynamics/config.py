"""Hyperparameters of MoCoDA's dynamics ensembles."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from numpy.typing import NDArray

from causal_envs.core import Int, Real, Sizes, check_bool, check_fields
from causal_envs.core.device import check_precision

__all__ = [
    "ARCHITECTURES",
    "SCHEDULES",
    "STOPPING_RULES",
    "DynamicsConfig",
    "MaskFn",
    "TrainingConfig",
    "TrainingLog",
]

#: the three factorisations of MoCoDA's model-error table (appendix C.1)
ARCHITECTURES = ("unfactored", "global", "local")
#: learning-rate schedules: constant (the authors'), or cosine decay from ``lr`` to 0
SCHEDULES = ("constant", "cosine")
#: which weights training ends with: the best-validated ones (ours), or the authors' rule
STOPPING_RULES = ("best", "authors")
#: the authors' rule watches the validations of the last this many epochs...
AUTHORS_LATE_EPOCHS = 50
#: ...and stops at the first one lower than each of the this many before it
AUTHORS_WINDOW = 9
#: ``mask_fn(states, actions) -> bool (B, n_inputs, n_outputs)``, e.g. ``env.unwrapped.local_mask``
MaskFn = Callable[[NDArray, NDArray], NDArray]


@dataclass
class TrainingConfig:
    """How a dynamics ensemble is trained: the optimiser, the budget, the held-out split, when
    training stops and which weights it keeps, and the arithmetic. Kept apart from the model's
    shape (`DynamicsConfig`), as mbrl-lib keeps its trainer's arguments apart from its model's
    config: a different budget is ``replace(config.training, epochs=...)``. The defaults are
    the fast Nav2D models' (see `DynamicsConfig`); `TrainingConfig.authors_nav2d` gives the
    authors' budget and stopping rule.

    Attributes:
        lr, weight_decay: Adam's.
        schedule: ``"constant"`` (the authors') or ``"cosine"``: the learning rate decays
            from ``lr`` to 0 over the ``epochs``, step by step.
        batch_size: rows per member per step.
        epochs: passes over the training split (or of ``steps_per_epoch`` steps).
        steps_per_epoch: steps in an epoch; None: one pass over the training split (on Nav2D's
            30.6k training rows, 119 steps of 256). The authors' epoch is 29 steps.
        patience: stop when the validation NLL has not improved for this many validations
            (None: run all epochs).
        val_fraction: the share of rows held out for validation (and model selection).
        val_rows: hold out this many rows instead (None: ``val_fraction`` of them). The
            authors hold out 20,000 of Nav2D's 35,000, which leaves 15,000 to train on: 29
            steps of 512 a pass.
        shared_minibatch: every member trains on the same minibatch (the authors' code);
            False (ours): each member draws its own, a cheap source of ensemble diversity.
        val_every_steps: validate (and select the best weights) at the end of an epoch once
            this many steps have passed since the last validation, and after the last epoch;
            None: after every epoch. The authors validate every 100 steps.
        stopping: ``"best"`` (ours): validate as ``val_every_steps`` says, run every epoch
            (or until ``patience``) and restore the weights of the best validation;
            ``"authors"`` (MoCoDA's code, ``fit_dynamics``): validate every ``val_every_steps``
            steps, mid-epoch too (after steps 1, 101, 201, ...); in the last 50 epochs stop at
            the first validation lower than each of the nine before it; keep the last weights.
        precision: ``"fp32"``, ``"bf16"``: training steps run the hidden layers' products
            in bfloat16 (autocast; the embedding, the output layer, the loss, the weights and
            Adam stay float32, and prediction and generation are float32 always), or
            ``"auto"``: bf16 where the device has native bfloat16 products, else fp32
            (`causal_envs.core.device.resolve_precision`). Where bfloat16 has matrix units
            (AMX, GPU tensor cores) those products run faster than float32. With AVX-512 BF16
            alone it depends on the CPU and the sizes: the authors' Nav2D steps ran 1.2-1.5x
            faster on an AMD EPYC (docs/results.md, "where a training step's time goes"), the
            fast models' no faster; without it (AVX2 only) torch emulates them, 37x slower
            (docs/agents.md, "precision").
    """

    lr: float = 1e-3
    weight_decay: float = 5e-5
    schedule: str = "cosine"
    batch_size: int = 256
    epochs: int = 20
    steps_per_epoch: int | None = None
    patience: int | None = None
    val_fraction: float = 0.125
    val_rows: int | None = None
    shared_minibatch: bool = False
    val_every_steps: int | None = None
    stopping: str = "best"
    precision: str = "fp32"

    @classmethod
    def authors_nav2d(cls, **overrides: object) -> TrainingConfig:
        """The authors' Nav2D budget (MoCoDA appendix B.3 and their code): a constant learning
        rate of 1e-4, 600 epochs of 29 steps of batch 512 (20,000 rows held out for validation
        every 100 steps, members sharing each minibatch), and their stopping rule
        (``stopping="authors"``)."""
        settings: dict[str, object] = {
            "batch_size": 512,
            "lr": 1e-4,
            "schedule": "constant",
            "epochs": 600,
            "steps_per_epoch": 29,
            "val_rows": 20_000,
            "shared_minibatch": True,
            "val_every_steps": 100,
            "stopping": "authors",
        }
        return cls(**{**settings, **overrides})

    def validation_rows(self, rows: int) -> int:
        """How many of ``rows`` training holds out for validation: ``val_rows``, or a
        ``val_fraction`` of them (at least one)."""
        return self.val_rows or max(1, round(self.val_fraction * rows))

    def __post_init__(self) -> None:
        check_precision(self.precision)
        self.shared_minibatch = check_bool("shared_minibatch", self.shared_minibatch)
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.stopping not in STOPPING_RULES:
            raise ValueError(f"stopping must be one of {STOPPING_RULES}, got {self.stopping!r}")
        if self.stopping == "authors" and (self.val_every_steps is None or self.patience):
            raise ValueError(
                "stopping='authors' validates every val_every_steps steps and has its own "
                "stopping test: set val_every_steps (the authors': 100) and leave patience None"
            )
        check_fields(self, _TRAINING_RULES)


@dataclass
class DynamicsConfig:
    """A dynamics ensemble: its factorisation and shape, the seed, and how it is trained
    (`TrainingConfig`). The defaults are this project's fast Nav2D models: 2x128 hidden units
    reading raw inputs, trained 20 epochs of minibatches of 256 with the learning rate decaying
    from 1e-3 to 0 (cosine). On 2 cores they train the three Nav2D ensembles in about a minute
    and generate MOCODA-U transitions with less model error than the authors' models (see the
    model-error results). The schedule, widths and epochs were chosen on Nav2D seeds 0 and 1;
    the batch of 256 (against 512: the locally factored model's MOCODA-U error 0.15, 0.17,
    0.12 against 0.29, 0.25, 0.24) on seeds 0-2, with raw inputs.
    `DynamicsConfig.authors_nav2d` gives the authors' models and budget.

    Attributes:
        architecture: ``"unfactored"``, ``"global"`` or ``"local"`` (see `augment.dynamics`).
        ensemble_size: members, each trained on its own shuffle of the data.
        hidden: widths of each member's MLP after the embedding.
        embed_dim: width of each input node's embedding in the masked composer.
        normalise_inputs: False (the default, and the authors' code): the networks read
            ``[s, a]`` as they are, right for inputs of unit scale such as Nav2D's; True: they
            read them standardised by the training rows' mean and std, for inputs far from
            unit scale (HookSweep2's pipeline and the online buffers set it). On Nav2D,
            standardised inputs made the unfactored model's MOCODA-U error 3.8 times larger at
            the authors' budget (seed 0: 2.28 against 0.60) and 1.4 times at the fast default
            (seeds 0-4: 1.16 against 0.81, the batch going from 512 to 256 at the same time;
            docs/results.md, "MoCoDA model error"). The next-state targets are standardised
            either way.
        std_divisor: at generation the predicted std is divided by this.
        seed: initial weights, the split and the mini-batches.
        training: how it is trained (`TrainingConfig`).
    """

    architecture: str = "local"
    ensemble_size: int = 5
    hidden: tuple[int, ...] = (128, 128)
    embed_dim: int = 128
    normalise_inputs: bool = False
    std_divisor: float = 3.0
    seed: int = 0
    training: TrainingConfig = field(default_factory=TrainingConfig)

    @classmethod
    def authors_nav2d(cls, **overrides: object) -> DynamicsConfig:
        """The authors' Nav2D models (2x256 hidden units) trained on their budget and with
        their stopping rule (`TrainingConfig.authors_nav2d`)."""
        settings: dict[str, object] = {
            "hidden": (256, 256),
            "training": TrainingConfig.authors_nav2d(),
        }
        return cls(**{**settings, **overrides})

    @classmethod
    def from_dict(cls, settings: dict[str, object]) -> DynamicsConfig:
        """The config that ``dataclasses.asdict`` wrote as ``settings`` (its ``training`` a
        dict too), e.g. from a saved ensemble."""
        training = settings.get("training", {})
        if not isinstance(training, dict):
            raise ValueError(f"training must be a dict of TrainingConfig fields, got {training!r}")
        return cls(**{**settings, "training": TrainingConfig(**training)})

    def __post_init__(self) -> None:
        self.normalise_inputs = check_bool("normalise_inputs", self.normalise_inputs)
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}"
            )
        if not isinstance(self.training, TrainingConfig):
            raise TypeError(
                f"training must be a TrainingConfig, got {type(self.training).__name__}: "
                "the budget and optimiser settings go there, e.g. "
                "DynamicsConfig(training=TrainingConfig(epochs=1))"
            )
        check_fields(self, _MODEL_RULES)


#: the numeric fields and their ranges (`causal_envs.core.check_fields`)
_TRAINING_RULES: dict[str, Int | Real | Sizes] = {
    "lr": Real(0.0, low_open=True),
    "weight_decay": Real(0.0),
    "batch_size": Int(1),
    "epochs": Int(1),
    "steps_per_epoch": Int(1, optional=True),
    "patience": Int(1, optional=True),
    "val_fraction": Real(0.0, 1.0, low_open=True, high_open=True),
    "val_rows": Int(1, optional=True),
    "val_every_steps": Int(1, optional=True),
}
_MODEL_RULES: dict[str, Int | Real | Sizes] = {
    "ensemble_size": Int(1),
    "hidden": Sizes(),
    "embed_dim": Int(1),
    "std_divisor": Real(0.0, low_open=True),
    "seed": Int(0),
}


@dataclass
class TrainingLog:
    """Per-epoch mean NLL on the training split, the validation NLL at each validation (the
    epoch it fell in: ``val_epochs``), the epoch whose weights were kept, the stopping rule,
    the gradient steps of an epoch and the wall time."""

    train_nll: list[float] = field(default_factory=list)
    val_nll: list[float] = field(default_factory=list)
    val_epochs: list[int] = field(default_factory=list)
    #: the arithmetic the training steps ran in (``"auto"`` resolved: `causal_envs.core.device`)
    precision: str = "fp32"
    #: `TrainingConfig.stopping`; with ``"authors"`` the last validation is of the kept weights
    stopping: str = "best"
    best_epoch: int = -1
    seconds: float = 0.0
    steps_per_epoch: int = 0

    @property
    def kept_val_nll(self) -> float:
        """The validation NLL of the weights kept."""
        if self.stopping == "authors":
            return self.val_nll[-1]
        return self.val_nll[self.val_epochs.index(self.best_epoch)]
