"""The causal core: structures, the env-side contract and input checks (no env imports here)."""

from .io import atomic_path, jsonable
from .protocol import CausalEnv, check_causal_env
from .structure import CausalStructure, Node, StructureError
from .validation import as_batch, check_action_array

__all__ = [
    "CausalEnv",
    "CausalStructure",
    "Node",
    "StructureError",
    "as_batch",
    "atomic_path",
    "check_action_array",
    "check_causal_env",
    "jsonable",
]
