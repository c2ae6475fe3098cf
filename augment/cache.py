"""One cache of MoCoDA-augmented datasets, shared by ``causal-envs augment``, the benchmarks and
``env.unwrapped.get_augmented_dataset``.

An augmented set is keyed by what made it: the SHA-256 of the source dataset's arrays, the
pipeline's settings (`MoCoDAConfig` without its seed) and the seed
(`causal_envs.datasets.augmented_key`). It is stored under the cache root's hidden
``.augmented/`` folder (Minari skips hidden folders, so its CLI never meets these flat,
non-episodic sets) with that provenance in its metadata, and `augmented_datasets` makes only
what is not there yet: a benchmark after ``causal-envs augment`` with the same settings trains
nothing.

Examples:
    >>> import tempfile
    >>> from augment import DynamicsConfig, MoCoDAConfig
    >>> from augment.cache import augmented_datasets
    >>> root = tempfile.mkdtemp()
    >>> toy = MoCoDAConfig(total_size=50_000, dynamics=DynamicsConfig(epochs=1))
    >>> made = augmented_datasets("nav2d/empirical", ["mocoda-u"], toy, root=root, log=None)
    >>> again = augmented_datasets("nav2d/empirical", ["mocoda-u"], toy, root=root, log=None)
    >>> made["mocoda-u"].equals(again["mocoda-u"]), again["mocoda-u"].metadata["cached"]
    (True, True)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from augment.device import AUTO
from augment.methods import METHODS, MODEL_FOR_METHOD
from augment.pipeline import MoCoDA, MoCoDAConfig
from causal_envs.core import jsonable
from causal_envs.datasets import (
    DatasetError,
    TransitionDataset,
    augmented_id,
    augmented_key,
    data_root,
    dataset_digest,
    get_spec,
    load_augmented,
    load_dataset,
    save_flat,
)
from causal_envs.datasets.storage import dataset_lock, package_version

__all__ = ["augmented_datasets", "config_record"]


def config_record(config: MoCoDAConfig) -> dict[str, Any]:
    """The pipeline's settings as stored and keyed (JSON-able; the seed is keyed apart)."""
    record = jsonable(config)
    record.pop("seed")
    return record


def augmented_datasets(
    source: str,
    methods: Sequence[str],
    config: MoCoDAConfig,
    *,
    root: str | os.PathLike | None = None,
    device: str = AUTO,
    profile: str | None = None,
    progress: bool = False,
    log: Callable[[str], Any] | None = print,
) -> dict[str, TransitionDataset]:
    """The ``methods`` augmentations of named dataset ``source`` under ``config``: loaded from
    the cache where made before, the rest made (the models they need fitted once) and stored.

    ``config.seed`` is the seed of the source data and of the pipeline; ``profile`` names the
    settings in the metadata (``"quick"`` is what ``load_augmented`` picks by default).
    Raises ``ValueError`` for an env without the causal contract (before any work) or an
    unknown method.
    """
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ValueError(f"methods must be a non-empty subset of {METHODS}, got {list(methods)}")
    spec = get_spec(source)
    mocoda = MoCoDA(spec.env_id, config, device=device)  # refuses an env without the contract
    base = data_root(root)
    seed = config.seed
    data = load_dataset(source, seed, root=base)
    digest = dataset_digest(data)
    key = augmented_key(digest, config_record(config), seed)
    say = log or (lambda text: None)
    out: dict[str, TransitionDataset] = {}
    # one maker per key at a time: a second process waits, then loads what the first made
    with dataset_lock(f"augment-{key}", base, purpose="generate"):
        missing = []
        for method in methods:
            try:
                out[method] = load_augmented(source, method, seed, key=key, root=base)
                out[method].metadata["cached"] = True
                say(f"{method:9s} found in the cache (key {key})")
            except DatasetError:
                missing.append(method)
        if not missing:
            return out
        models = tuple(sorted({MODEL_FOR_METHOD[m] for m in missing if m in MODEL_FOR_METHOD}))
        start = time.perf_counter()
        mocoda.fit(data, models=models, progress=progress)
        say(
            f"fitted the parent model and {list(models) or 'no'} ensembles "
            f"in {time.perf_counter() - start:.0f} s"
        )
        for method in missing:
            start = time.perf_counter()
            made = mocoda.generate(method)
            made.metadata.update(
                source=source,
                source_id=spec.dataset_id(seed),
                source_digest=digest,
                config=config_record(config),
                key=key,
                profile=profile,
                package_version=package_version(),
            )
            path = save_flat(made, augmented_id(source, method, seed, key), base, overwrite=True)
            made.metadata["cached"] = False
            out[method] = made
            say(
                f"{method:9s} {len(made):,} transitions ({made.metadata['n_generated']:,} "
                f"generated, {int(made.terminals.sum()):,} terminal) in "
                f"{time.perf_counter() - start:.1f} s -> {path}"
            )
    return out
