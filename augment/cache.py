"""One cache of MoCoDA-augmented datasets, shared by ``causal-envs augment``, the benchmarks and
``env.unwrapped.get_augmented_dataset``.

An augmented set is keyed by what made it: the SHA-256 of the source dataset's arrays, the
pipeline's settings (`MoCoDAConfig` without its seed, and the name of the env's
`augment.recipes.Recipe`: its feature map, pre-filter and target env) and the seed
(`causal_envs.datasets.augmented_key`). It is stored under the cache root's hidden
``.augmented/`` folder (Minari skips hidden folders, so its CLI never meets these flat,
non-episodic sets) with that provenance in its metadata, and `augmented_datasets` makes only
what is not there yet: a benchmark after ``causal-envs augment`` with the same settings trains
nothing.

Examples:
    >>> import tempfile
    >>> from augment import DynamicsConfig, MoCoDAConfig, TrainingConfig
    >>> from augment.cache import augmented_datasets
    >>> root = tempfile.mkdtemp()
    >>> one_epoch = DynamicsConfig(training=TrainingConfig(epochs=1))
    >>> toy = MoCoDAConfig(total_size=50_000, dynamics=one_epoch)
    >>> made = augmented_datasets("nav2d/empirical", ["mocoda-u"], toy, root=root, log=None)
    >>> again = augmented_datasets("nav2d/empirical", ["mocoda-u"], toy, root=root, log=None)
    >>> made["mocoda-u"].equals(again["mocoda-u"]), again["mocoda-u"].metadata["cached"]
    (True, True)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from augment.methods import METHODS, MODEL_FOR_METHOD
from augment.pipeline import MoCoDA, MoCoDAConfig
from augment.recipes import Recipe, recipe_for
from causal_envs.core import jsonable
from causal_envs.core.device import AUTO, resolve_device, resolve_precision
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
from causal_envs.datasets.staging import dataset_lock
from causal_envs.datasets.storage import package_version

__all__ = ["augmented_datasets", "config_record", "fit_record"]


def config_record(config: MoCoDAConfig, recipe: Recipe | None = None) -> dict[str, Any]:
    """The pipeline's settings as stored and keyed (JSON-able; the seed is keyed apart), with
    the name of the env's ``recipe`` (`augment.recipes`; default: the default recipe)."""
    record = jsonable(config)
    record.pop("seed")
    record["recipe"] = (recipe or recipe_for("")).name
    return record


def fit_record(mocoda: MoCoDA, seconds: float) -> dict[str, Any]:
    """What fitting cost and reached, as stored with each set made: the fit's wall time and,
    per dynamics ensemble, its training time and held-out NLL at the epoch kept."""
    models = {}
    for arch, model in mocoda.models.items():
        log = model.log
        models[arch] = {
            "seconds": log.seconds,
            "precision": log.precision,
            "val_nll": log.kept_val_nll,
        }
    return {"seconds": seconds, "models": models}


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
    data: TransitionDataset | None = None,
) -> dict[str, TransitionDataset]:
    """The ``methods`` augmentations of named dataset ``source`` under ``config``: loaded from
    the cache where made before, the rest made (the models they need fitted once) and stored.

    ``config.seed`` is the seed of the source data and of the pipeline; ``profile`` names the
    settings in the metadata (``"quick"`` is what ``load_augmented`` picks by default). The
    env's recipe (`augment.recipes.recipe_for` of the source's env) supplies the target env,
    the feature map and the pre-filter. ``data``, when given, is used in place of the named
    dataset's cached copy (rows of the same env and generator, e.g. a benchmark's expert set of
    its own size): it is keyed by its own digest, and ``source`` then only names its kind.
    Raises ``ValueError`` for an env without the causal contract (before any work) or an
    unknown method.
    """
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ValueError(f"methods must be a non-empty subset of {METHODS}, got {list(methods)}")
    spec = get_spec(source)
    recipe = recipe_for(spec.env_id)
    if config.dynamics.training.precision == "auto":  # keyed by the arithmetic that will run
        ran = resolve_precision("auto", resolve_device(device))
        training = replace(config.dynamics.training, precision=ran)
        config = replace(config, dynamics=replace(config.dynamics, training=training))
    mocoda = MoCoDA(  # refuses an env without the contract
        recipe.target(spec.env_id),
        config,
        uniform_features=recipe.uniform_features,
        prefilter=recipe.prefilter,
        device=device,
    )
    base = data_root(root)
    seed = config.seed
    given = data is not None
    if data is None:
        data = load_dataset(source, seed, root=base)
    elif data.metadata.get("generator") not in (None, source):
        raise ValueError(f"data was made by {data.metadata.get('generator')!r}, not by {source!r}")
    digest = dataset_digest(data)
    record = config_record(config, recipe)
    key = augmented_key(digest, record, seed)
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
        mocoda.fit(recipe.prepared(data), models=models, progress=progress)
        fit = fit_record(mocoda, time.perf_counter() - start)
        fitted = list(models) or "no"
        say(f"fitted the parent model and {fitted} ensembles in {fit['seconds']:.0f} s")
        for method in missing:
            start = time.perf_counter()
            made = mocoda.generate(method)
            made.metadata.update(
                source=source,
                source_id=None if given else spec.dataset_id(seed),
                source_transitions=len(data),
                source_digest=digest,
                config=record,
                fit=fit,
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
