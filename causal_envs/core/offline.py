"""The env side of offline datasets: ``env.unwrapped.get_dataset()`` without an import circle.

An environment module must not import `causal_envs.datasets` (the dataset layer imports
the environments to generate data). So an env that has named datasets mixes in
`OfflineDatasetMixin` and names its ``dataset_family``; the package's composition root
(``causal_envs/__init__.py``) registers, for each family, the dataset-layer functions that
serve it, as ``"module:function"`` strings resolved on first use (the way Gymnasium registers
env entry points). Dependencies then point one way: ``datasets -> envs -> core``.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

__all__ = ["OfflineDatasetMixin", "dataset_provider", "register_dataset_provider"]

#: the provider kinds: ``get_dataset``, ``get_augmented_dataset``, ``get_normalized_score``
KINDS = ("dataset", "augmented", "reference")
#: (family, kind) -> "module:attribute" (dotted attributes allowed: "module:obj.method")
_PROVIDERS: dict[tuple[str, str], str] = {}


def register_dataset_provider(family: str, kind: str, entry_point: str) -> None:
    """Register ``entry_point`` (``"package.module:function"``, or ``"module:obj.method"``) as
    the ``kind`` provider of ``family``. ``kind`` is ``"dataset"`` (``get_dataset``),
    ``"augmented"`` (``get_augmented_dataset``) or ``"reference"`` (the reference scores of
    ``get_normalized_score``)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if entry_point.count(":") != 1:
        raise ValueError(f"entry_point must look like 'module:function', got {entry_point!r}")
    _PROVIDERS[(family, kind)] = entry_point


def dataset_provider(family: str, kind: str = "dataset") -> Callable[..., dict[str, np.ndarray]]:
    """The registered provider function, imported on first use."""
    try:
        entry_point = _PROVIDERS[(family, kind)]
    except KeyError:
        known = sorted({f for f, k in _PROVIDERS if k == kind})
        raise LookupError(
            f"no {kind} provider is registered for the dataset family {family!r}; "
            f"families with one: {known}"
        ) from None
    module, name = entry_point.split(":")
    return functools.reduce(getattr, name.split("."), importlib.import_module(module))


class OfflineDatasetMixin:
    """``get_dataset()`` and ``get_augmented_dataset()`` for an env with named datasets."""

    #: the dataset family this env's named datasets belong to (``"nav2d"``, ...)
    dataset_family: ClassVar[str]

    def get_dataset(
        self, seed: int = 0, *, regenerate: bool = False, name: str | None = None
    ) -> dict[str, np.ndarray]:
        """The env's offline dataset as a D4RL-style dict, labelled for this env's task.

        Loaded from the local cache (generated and cached on first use). Keys:
        ``observations, actions, rewards, next_observations, terminals, timeouts``.
        ``name`` picks another named dataset of the env's family (e.g.
        ``"hooksweep2/expert-100k"``); by default the one made for this env (for a task
        sequence's env: the task whose dynamics it has, with ``seed``).

        d3rlpy: ``MDPDataset(**dataset)`` drops transitions; use
        ``causal_envs.datasets.to_d3rlpy(dataset)``, which keeps every one.
        """
        provider = dataset_provider(self.dataset_family, "dataset")
        return provider(self, seed=seed, regenerate=regenerate, name=name)

    def get_normalized_score(
        self, returns: Any, seed: int = 0, *, name: str | None = None
    ) -> np.ndarray:
        """D4RL's normalised score ``(R - ref_min) / (ref_max - ref_min)`` of episode returns:
        0 is a random policy, 1 the dataset's reference expert (the reference scores are
        measured when the dataset is generated; see `causal_envs.datasets.reference`)."""
        low, high = dataset_provider(self.dataset_family, "reference")(self, seed=seed, name=name)
        return (np.asarray(returns, dtype=np.float64) - low) / (high - low)

    def get_augmented_dataset(self, method: str, seed: int = 0) -> dict[str, Any]:
        """A MoCoDA-augmented dataset as a D4RL-style dict, relabelled for this env's task.

        Made once by ``causal-envs augment`` (it trains dynamics models, so it is never made
        implicitly); ``method`` is one of ``augment.METHODS``.
        """
        provider = dataset_provider(self.dataset_family, "augmented")
        return provider(self, method=method, seed=seed)
