"""Where benchmarks write their results: ``$CAUSAL_ENVS_OUTPUT_DIR`` or ``./outputs``.

Every results file carries its provenance (`benchmarks.provenance`): a payload without one is
given this process's when it is written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from benchmarks import provenance
from causal_envs.core import atomic_path, jsonable
from causal_envs.core.fs import check_directory

__all__ = ["OUTPUT_ENV", "output_dir", "write_json"]

#: the environment variable that moves the results directory
OUTPUT_ENV = "CAUSAL_ENVS_OUTPUT_DIR"


def output_dir() -> Path:
    """The results directory (created on demand); `StorageError` naming
    ``$CAUSAL_ENVS_OUTPUT_DIR`` when it cannot be one (a file, a dead link, not writable)."""
    path = Path(os.environ.get(OUTPUT_ENV, "outputs")) / "benchmarks"
    return check_directory(path, "results directory ($CAUSAL_ENVS_OUTPUT_DIR/benchmarks)")


def write_json(name: str, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``<output_dir>/<name>.json`` atomically, with its provenance (this
    process's, unless the payload has one); return the path."""
    if "provenance" not in payload:
        payload = {**payload, "provenance": provenance.collect()}
    path = output_dir() / f"{name}.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(jsonable(payload), indent=2, sort_keys=True))
    return path
