"""Loading checkpoints safely: what the agents and the dynamics ensembles ``save`` they load
with this, which runs no code from the file and names what is wrong with a bad one.

``torch.load(weights_only=False)`` unpickles arbitrary objects, so a crafted checkpoint runs
arbitrary code. Every checkpoint this package writes holds only tensors and plain Python
values (dicts, lists, tuples, strings, numbers), which torch's weights-only unpickler accepts;
anything else is refused. torch writes a CRC-32 for every record of its zip container but does
not check them on load; this does, so a flipped byte is caught instead of loaded.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["CheckpointError", "check_keys", "load_checkpoint"]


class CheckpointError(ValueError):
    """A file that is not a loadable checkpoint of the expected kind (missing, truncated,
    corrupted, foreign, or holding objects a weights-only load refuses)."""


def load_checkpoint(
    path: str | os.PathLike,
    kind: str,
    map_location: Any = None,
    required: tuple[str, ...] = (),
) -> dict:
    """The payload dict ``save`` wrote to ``path`` (``kind`` names it in errors, e.g. "TD3-BC
    agent"), holding every key in ``required``; raises `CheckpointError` for anything else,
    without running code from the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no {kind} checkpoint at {path} (missing or not a file)")
    try:
        with zipfile.ZipFile(path) as archive:
            broken = archive.testzip()
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        raise CheckpointError(
            f"{path} is not a {kind} checkpoint: not a torch zip file, or truncated ({err})"
        ) from None
    if broken is not None:
        raise CheckpointError(
            f"{path} is corrupted: its record {broken!r} fails its CRC-32 check; save the "
            f"{kind} again"
        )
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        # torch's own text opens with advice to load the file unsafely: quote only what it
        # found (e.g. "unsupported GLOBAL posix.system")
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        found = [line for line in lines if "GLOBAL" in line or "Unsupported" in line]
        reason = (found or ["objects that are not tensors or plain values"])[0]
        raise CheckpointError(
            f"{path} was not loaded: it holds objects beyond tensors and plain values, which a "
            f"{kind} checkpoint never does (a weights-only load refused: {reason})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is not a readable {kind} checkpoint: {err}") from None
    if not isinstance(payload, dict):
        raise CheckpointError(
            f"{path} is not a {kind} checkpoint: it holds a {type(payload).__name__}"
        )
    check_keys(payload, path, kind, required)
    return payload


def check_keys(
    payload: dict, path: str | os.PathLike, kind: str, required: tuple[str, ...]
) -> None:
    """Raise `CheckpointError` naming the keys of ``required`` that ``payload`` lacks."""
    missing = [key for key in required if key not in payload]
    if missing:
        raise CheckpointError(
            f"{path} is not a complete {kind} checkpoint: it lacks {', '.join(map(repr, missing))}"
        )
