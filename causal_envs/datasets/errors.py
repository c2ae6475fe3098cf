"""The error every dataset operation raises for a problem the user can act on."""

from __future__ import annotations

__all__ = ["DatasetError"]


class DatasetError(RuntimeError):
    """A stored dataset is missing, corrupt or from an incompatible version."""
