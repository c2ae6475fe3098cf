"""A tiny benchmark for the runner's tests: cells seed x size, one shared input per seed.

A module of plain functions (so worker processes can import it), as every benchmark is.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from benchmarks.runner import Benchmark, Cell, RunContext


@dataclass(frozen=True, kw_only=True)
class ToyProfile:
    description: str
    seeds: tuple[int, ...]
    sizes: tuple[int, ...]


PROFILES = {
    "small": ToyProfile(description="two seeds, two sizes", seeds=(0, 1), sizes=(3, 5)),
    "other": ToyProfile(description="another profile", seeds=(0,), sizes=(3,)),
}


def cells(p: ToyProfile) -> list[Cell]:
    return [
        Cell({"seed": s, "size": n}, needs=(f"data/seed{s}",)) for s in p.seeds for n in p.sizes
    ]


def make_input(name: str, ctx: RunContext) -> list[float]:
    """Made once and stored; every later call loads it (the log counts the makes)."""
    path = ctx.folder / f"{name.replace('/', '_')}.json"
    if path.exists():
        return json.loads(path.read_text())
    seed = int(name.removeprefix("data/seed"))
    values = np.random.default_rng(seed).normal(size=8).tolist()
    path.write_text(json.dumps(values))
    with (ctx.folder / "makes.log").open("a") as log:
        log.write(name + "\n")
    return values


#: if this file exists, the first attempt at cell seed=1/size=5 kills its own process
KILL_MARKER = "kill-once"
#: seconds each cell lasts (environment variable; unset: no wait): long enough, a cluster's
#: scheduler must put cells side by side on its nodes instead of one after the other on one
CELL_SECONDS_ENV = "CAUSAL_ENVS_TOY_CELL_SECONDS"


def run_cell(cell: Cell, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
    seed, size = cell.key["seed"], cell.key["size"]
    marker = ctx.folder / KILL_MARKER
    if (seed, size) == (1, 5) and marker.exists():
        marker.unlink()  # the retry will find no marker and run
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(float(os.environ.get(CELL_SECONDS_ENV, "0")))
    torch.manual_seed(seed)
    gen = torch.Generator(device=ctx.device).manual_seed(seed * 100 + size)
    weights = torch.randn(size, generator=gen, device=ctx.device, dtype=torch.float64)
    data = torch.tensor(inputs[f"data/seed{seed}"][:size], device=ctx.device)
    return {
        "seed": seed,
        "size": size,
        "value": float((weights * data).sum()),
        "threads": torch.get_num_threads(),
        "device": ctx.device,
        "node": _ray_node(),
    }


def _ray_node() -> str | None:
    """The id of the Ray node running this cell (None outside a Ray task)."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return None
    return ray.get_runtime_context().get_node_id()


def summary(records: list[dict], ctx: RunContext) -> dict[str, Any]:
    return {"total": sum(r["value"] for r in records)}


BENCHMARK = Benchmark(
    name="toy-bench",
    profiles=PROFILES,
    cells=cells,
    make_input=make_input,
    run_cell=run_cell,
    summary=summary,
)
