"""One command for a machine with a GPU: every benchmark's smoke run, the paper-size costs and
the pixel detection study, on ``--device``, into one folder.

    causal-envs bench gpu-check --out gpu-run            # on one CUDA GPU (the default)
    causal-envs bench gpu-check --out gpu-run --dry-run  # the commands it would run, nothing run
    causal-envs bench gpu-check --out cpu-run --device cpu --only csr-detection-curves

What it runs (`steps`), each as its own ``causal-envs bench`` process with
``$CAUSAL_ENVS_OUTPUT_DIR`` set to ``--out`` (so their JSONs and plots land there, each with
its provenance: commit, machine, GPU name and memory):

1. ``paper-cost``: the seconds of every paper profile's inner loop at the paper's sizes and
   the projected hours;
2. ``ensemble-step --profile paper``: MoCoDA's ensemble training step against the device's
   batched-product rate and the authors' layout;
3. ``csr-step --sizes paper,paper-games``: an update of CSR's pixel world model and policy at
   the CartPole paper profile's and CSR Table 5's sizes, FLOPs and seconds;
4. the smoke profile of every benchmark the shared runner runs (code paths, not results);
5. ``csr-detection-curves --profile gpu-check``: the CartPole pixel detection study at the
   paper's sizes (10k source steps).

Each step's command, exit status, wall seconds and the tail of its output go to
``<out>/gpu_check.json`` as soon as it ends; a failed step does not stop the others, and the
command fails at the end if any did. Without a CUDA device, ``--device cuda`` is refused
before anything runs (``--dry-run`` needs none).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import provenance
from benchmarks.results import OUTPUT_ENV
from benchmarks.runner import RunError

__all__ = ["SMOKE_BENCHMARKS", "main", "steps"]

#: the benchmarks of the shared runner with a ``smoke`` profile
SMOKE_BENCHMARKS = (
    "mocoda-nav2d",
    "mocoda-model-error",
    "mocoda-hooksweep2",
    "mocoda-online",
    "csr-cartpole",
    "csr-synthetic",
    "csr-ablation",
    "csr-detection-curves",
)


def steps(device: str) -> list[tuple[str, list[str]]]:
    """``(name, causal-envs arguments)`` of each step, on ``device``."""
    out = [
        ("paper-cost", ["bench", "paper-cost"]),
        ("ensemble-step", ["bench", "ensemble-step", "--profile", "paper"]),
        ("csr-step", ["bench", "csr-step", "--sizes", "paper,paper-games"]),
        *((f"{b} smoke", ["bench", b, "--profile", "smoke", "--fresh"]) for b in SMOKE_BENCHMARKS),
        (
            "pixel detection",
            ["bench", "csr-detection-curves", "--profile", "gpu-check", "--fresh"],
        ),
    ]
    return [(name, [*args, "--device", device]) for name, args in out]


def _check_device(device: str) -> None:
    if not device.startswith("cuda"):
        return
    import torch  # deferred: only a real run needs torch

    if not torch.cuda.is_available():
        raise RunError(
            f"--device {device}: this machine has no CUDA device (torch {torch.__version__}); "
            "use --dry-run to list the commands, or --device cpu to run them here"
        )


def main(
    out: str | os.PathLike, device: str = "cuda", dry_run: bool = False, only: str | None = None
) -> dict[str, Any]:
    """Run the `steps` (those whose name contains ``only``, if given) into ``out``; with
    ``dry_run``, print the commands and run nothing. Returns the record it writes."""
    chosen = [(n, a) for n, a in steps(device) if only is None or only in n]
    if not chosen:
        raise RunError(f"--only {only!r} matches no step: {[n for n, _ in steps(device)]}")
    folder = Path(out).resolve()
    prefix = ["causal-envs"]
    if dry_run:
        for name, args in chosen:
            print(f"{OUTPUT_ENV}={folder} {' '.join(prefix + args)}    # {name}")
        return {"dry_run": True, "steps": [{"name": n, "args": a} for n, a in chosen]}
    _check_device(device)
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, OUTPUT_ENV: str(folder)}
    record: dict[str, Any] = {"device": device, "steps": [], "provenance": provenance.collect()}
    path = folder / "gpu_check.json"
    for name, args in chosen:
        print(f"== {name}: causal-envs {' '.join(args)}", flush=True)
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.cli", *args],
            env=env,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        (folder / "logs").mkdir(exist_ok=True)
        log = folder / "logs" / f"{name.replace(' ', '-')}.log"
        log.write_text(done.stdout + done.stderr)
        record["steps"].append(
            {
                "name": name,
                "args": args,
                "returncode": done.returncode,
                "seconds": seconds,
                "log": str(log.relative_to(folder)),
                "tail": (done.stdout + done.stderr)[-2_000:],
            }
        )
        path.write_text(json.dumps(record, indent=2))
        print(f"   {'ok' if done.returncode == 0 else 'FAILED'} in {seconds:.0f} s", flush=True)
    failed = [s["name"] for s in record["steps"] if s["returncode"] != 0]
    total = sum(s["seconds"] for s in record["steps"])
    print(f"{len(chosen) - len(failed)} of {len(chosen)} steps ok in {total:.0f} s; {path}")
    if failed:
        raise RunError(f"failed: {', '.join(failed)} (their logs are in {folder / 'logs'})")
    return record
