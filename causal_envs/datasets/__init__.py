"""Offline datasets: generators, Minari storage, the local cache.

Examples:
    >>> import tempfile
    >>> from causal_envs.datasets import load_dataset
    >>> cache = tempfile.mkdtemp()  # default: $CAUSAL_ENVS_DATA_DIR, else Minari's root
    >>> data = load_dataset("nav2d/empirical", root=cache)  # generated and cached on first use
    >>> len(data), data.n_episodes > 0
    (40000, True)
    >>> sorted(data.to_d4rl())
    ['actions', 'next_observations', 'observations', 'rewards', 'terminals', 'timeouts']
"""

from causal_envs.datasets.augmented import (
    augmented_id,
    augmented_key,
    list_augmented,
    load_augmented,
)
from causal_envs.datasets.errors import DatasetError
from causal_envs.datasets.export import to_d3rlpy, to_minari, to_torchrl
from causal_envs.datasets.registry import (
    DATASETS,
    DatasetSpec,
    data_root,
    download_dataset,
    generate_dataset,
    get_spec,
    load_dataset,
    pack_dataset,
)
from causal_envs.datasets.rollouts import random_rollouts
from causal_envs.datasets.storage import (
    FORMAT_VERSION,
    dataset_digest,
    load_stored,
    save_flat,
    save_minari,
    transitions_from_minari,
)
from causal_envs.datasets.transitions import TransitionDataset

__all__ = [
    "DATASETS",
    "FORMAT_VERSION",
    "DatasetError",
    "DatasetSpec",
    "TransitionDataset",
    "augmented_id",
    "augmented_key",
    "data_root",
    "dataset_digest",
    "download_dataset",
    "generate_dataset",
    "get_spec",
    "list_augmented",
    "load_augmented",
    "load_dataset",
    "load_stored",
    "pack_dataset",
    "random_rollouts",
    "save_flat",
    "save_minari",
    "to_d3rlpy",
    "to_minari",
    "to_torchrl",
    "transitions_from_minari",
]
