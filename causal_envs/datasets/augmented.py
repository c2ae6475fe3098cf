"""The augmented datasets' cache: MoCoDA's sets beside the named datasets they augment.

An augmented set is keyed by what made it (`augmented_key`: the source data's digest, the
pipeline's settings and the seed) and stored flat (`save_flat`: its generated transitions are
not episodes) under a hidden folder of the cache root, where Minari's CLI does not look.
``causal-envs augment`` and the benchmarks make them; `load_augmented` only loads.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from typing import Any

from causal_envs.core import jsonable
from causal_envs.datasets.errors import DatasetError
from causal_envs.datasets.registry import check_seed, data_root, get_spec
from causal_envs.datasets.storage import load_stored, read_metadata
from causal_envs.datasets.transitions import TransitionDataset

__all__ = [
    "AUGMENTATION_METHODS",
    "AUGMENTED_DIR",
    "augmented_id",
    "augmented_key",
    "list_augmented",
    "load_augmented",
]

#: the kinds of augmented dataset the cache holds, in MoCoDA's table order (section 5,
#: appendix C.1): ``augment`` makes them (`augment.METHODS` is this tuple)
AUGMENTATION_METHODS = ("emp", "dyn", "mocoda", "mocoda-u", "rand")
#: augmented sets live under this hidden folder of the cache root: Minari skips hidden
#: folders, so its CLI and ``minari.load_dataset`` never meet these non-Minari sets
AUGMENTED_DIR = ".augmented"


def augmented_key(source_digest: str, config: Mapping[str, Any], seed: int) -> str:
    """The cache key of an augmentation: a digest of the source data's SHA-256, the pipeline's
    settings (JSON-able, seed excluded) and the seed."""
    record = {"source": source_digest, "config": jsonable(config), "seed": check_seed(seed)}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]


def augmented_id(source: str, method: str, seed: int, key: str) -> str:
    """Cache id (a path under the root) of the ``method`` augmentation of dataset ``source``
    with ``seed`` and cache ``key`` (`augmented_key`)."""
    spec = get_spec(source)
    # the method names belong to the augmentation layer (augment.METHODS); the cache only needs
    # a name that is safe in a path
    for name, value in (("method", method), ("key", key)):
        if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", value):
            raise ValueError(f"{name} must be a lower-case name such as 'mocoda-u', got {value!r}")
    family = spec.name.split("/")[0]
    return f"{AUGMENTED_DIR}/{family}/{method}-seed{check_seed(seed)}-{key}"


def list_augmented(
    root: str | os.PathLike | None = None, source: str | None = None
) -> list[dict[str, Any]]:
    """The augmented sets in the cache (optionally of dataset ``source``), each its metadata
    (provenance: ``source_id``, ``source_digest``, ``method``, ``seed``, ``config``, ``key``,
    ...) plus ``dataset_id`` and ``path``, sorted by id."""
    base = data_root(root) / AUGMENTED_DIR
    found = []
    for meta_file in sorted(base.glob("*/*/data/metadata.json")):
        dataset_id = meta_file.parent.parent.relative_to(base.parent).as_posix()
        try:
            meta = read_metadata(dataset_id, base.parent, regenerate_hint="causal-envs augment")
        except DatasetError:
            continue
        if source is not None and meta.get("source") != source:
            continue
        found.append({**meta, "dataset_id": dataset_id, "path": str(meta_file.parent.parent)})
    return found


def load_augmented(
    source: str,
    method: str,
    seed: int = 0,
    *,
    key: str | None = None,
    root: str | os.PathLike | None = None,
) -> TransitionDataset:
    """Load an augmented dataset made by ``causal-envs augment`` or a benchmark (it is never
    made implicitly: that trains models).

    ``key`` picks one pipeline configuration (`augmented_key`; ``causal-envs dataset list``
    shows them); by default the set made with the default (``quick``) configuration, or the
    only one there is.
    """
    hint = f"causal-envs augment {source} --methods {method}" + (f" --seed {seed}" if seed else "")
    base = data_root(root)
    if key is None:
        cached = list_augmented(base, source)
        matches = [m for m in cached if m.get("method") == method and m.get("seed") == seed]
        if not matches:
            have = sorted({f"{m.get('method')} (seed {m.get('seed')})" for m in cached})
            make = (
                f"make it with: {hint}"
                if method in AUGMENTATION_METHODS
                else f"{method!r} is no augmentation method ({', '.join(AUGMENTATION_METHODS)})"
            )
            raise DatasetError(
                f"no {method!r} augmentation of {source} (seed {seed}) is cached (cached: "
                f"{', '.join(have) or 'none'}); {make}"
            )
        preferred = [m for m in matches if m.get("profile") == "quick"]
        if len(preferred) != 1 and len(matches) > 1:
            keys = sorted(m["key"] for m in matches)
            raise DatasetError(
                f"{len(matches)} {method} augmentations of {source} (seed {seed}) are cached "
                f"with different settings: pass key= one of {keys}"
            )
        key = (preferred or matches)[0]["key"]
    dataset_id = augmented_id(source, method, seed, key)
    data = load_stored(dataset_id, base, regenerate_hint=hint)
    if data.metadata.get("method") != method or data.metadata.get("seed") != seed:
        raise DatasetError(
            f"cached {dataset_id} says method={data.metadata.get('method')!r}, "
            f"seed={data.metadata.get('seed')!r}; expected {method!r}, {seed}. Rebuild: {hint}"
        )
    return data
