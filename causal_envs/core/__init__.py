"""The causal core: structures, the env contract, input checks and file helpers.

Nothing here imports an environment or the dataset layer: every other part of the package
builds on this one.
"""

from .contract import (
    LATENT_EDGES,
    CausalEnv,
    CausalEnvWithDynamics,
    ContractError,
    GoalConditionedCausalEnv,
    LatentStructureEnv,
    check_causal_env,
)
from .fs import (
    FileLock,
    StorageError,
    check_directory,
    ensure_free_space,
    file_mode,
    first_line,
)
from .io import atomic_path, jsonable
from .offline import OfflineDatasetMixin, dataset_provider, register_dataset_provider
from .processes import exit_with_parent
from .structure import CausalStructure, Node, StructureError
from .validation import (
    Int,
    Range,
    Real,
    Sizes,
    as_batch,
    as_transitions,
    check_action_array,
    check_bool,
    check_discrete_action,
    check_fields,
    check_int,
    check_int_or_ints,
    check_range,
    check_real,
    check_sizes,
)

__all__ = [
    "LATENT_EDGES",
    "CausalEnv",
    "CausalEnvWithDynamics",
    "CausalStructure",
    "ContractError",
    "FileLock",
    "GoalConditionedCausalEnv",
    "Int",
    "LatentStructureEnv",
    "Node",
    "OfflineDatasetMixin",
    "Range",
    "Real",
    "Sizes",
    "StorageError",
    "StructureError",
    "as_batch",
    "as_transitions",
    "atomic_path",
    "check_action_array",
    "check_bool",
    "check_causal_env",
    "check_directory",
    "check_discrete_action",
    "check_fields",
    "check_int",
    "check_int_or_ints",
    "check_range",
    "check_real",
    "check_sizes",
    "dataset_provider",
    "ensure_free_space",
    "exit_with_parent",
    "file_mode",
    "first_line",
    "jsonable",
    "register_dataset_provider",
]
