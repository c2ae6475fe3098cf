"""The one runner every benchmark plugs into: cells, shared inputs, resumption, results.

A benchmark is a :class:`Benchmark`: keyword-constructed profiles (each with a one-line
``description``), the cells of a profile (e.g. seed x dataset x agent), the shared inputs the
cells need (e.g. the augmented datasets of a seed, made once and stored on disk), and one
function that runs a cell and returns a JSON-able record. The runner owns the rest:

- selection: ``seeds`` (``"0-4"``, ``"5-9"``: any seeds, not only the profile's; the profile
  is run with its ``seeds`` replaced) and a ``where`` filter of cells (``--cells agent=bcq``);
- resumption: each finished cell is one JSON file, written atomically, so a finished cell is
  never redone and an interrupted one (no file) is; the stored profile must match the one
  asked for, or the run is refused with a message naming the file and ``--fresh``;
- provenance (`benchmarks.provenance`): every cell file and the merged file record the commit
  (and whether the tree was dirty), the date, the command, the versions, the machine, the
  device and the wall time; a stored cell made by other code or on another machine is not
  merged with new ones unless the run allows it (``allow_mixed``), and then the merged file
  lists it under ``mixed``;
- the merged results file, the printed report and the plots;
- execution: cells run in this process (``workers=1``) or in a pool of worker processes, each
  set to the thread count its resources declare (one torch thread per process when processes
  share the cores: two 2-thread processes on 2 cores were measured 100x slower), or as Ray
  tasks; each cell resolves the run's ``device`` spec where it runs (``"auto"`` finds the GPU
  of the Ray node a cell lands on) and finds the result in ``ctx.device``.

Shared inputs are made before the cells that need them, by the same function in whichever
process asks first; it stores what it makes, and later calls load it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from benchmarks import provenance
from benchmarks.results import output_dir, write_json
from causal_envs.core import atomic_path, check_int, exit_with_parent, first_line, jsonable
from causal_envs.core.device import AUTO, check_device_spec, resolve_device, resolve_precision
from causal_envs.core.legacy_gym import quiet_legacy_gym

__all__ = [
    "BACKENDS",
    "Benchmark",
    "Cell",
    "RunContext",
    "RunError",
    "check_profile",
    "parse_cell_filter",
    "parse_seeds",
    "run",
]


#: where cells run: this machine's processes, or Ray tasks (a local instance or a cluster)
BACKENDS = ("local", "ray")
#: with this set to 0 Ray binds a local instance to 127.0.0.1 (Ray's own switch: it treats
#: the machine as a single-node, non-cluster host, the way it does on macOS and Windows)
RAY_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


#: the most seeds one run may ask for (``--seeds 0-100000000000`` is a typo, not a plan)
MAX_SEEDS = 1000

#: seconds a Ray cluster's address gets to answer before the run is refused
RAY_CONNECT_TIMEOUT = 10.0

#: the GPU share of a task that makes a shared input, on a CUDA run (a whole GPU: inputs
#: train models, e.g. MoCoDA's dynamics ensembles)
INPUT_GPUS = 1.0


class RunError(RuntimeError):
    """A run cannot go ahead as asked (a stored run of another profile, a bad selection)."""


def check_profile(
    profile: Any,
    *,
    positive: Sequence[str] = (),
    non_negative: Sequence[str] = (),
    choices: Mapping[str, Sequence[Any]] | None = None,
) -> None:
    """Refuse a malformed benchmark profile where it is built, naming the field: a
    ``description`` that is not a non-empty string, ``seeds`` that are not a non-empty tuple
    of distinct integers >= 0, a ``positive`` field below 1, a ``non_negative`` one below 0
    (NumPy integers accepted, floats and booleans refused), a field outside its ``choices``."""
    kind = type(profile).__name__
    if not isinstance(profile.description, str) or not profile.description.strip():
        raise ValueError(f"{kind}.description must be a non-empty string")
    seeds = profile.seeds
    if not isinstance(seeds, tuple) or not seeds:
        raise ValueError(f"{kind}.seeds must be a non-empty tuple of integers, got {seeds!r}")
    for seed in seeds:
        check_int(f"{kind}.seeds", seed, 0)
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"{kind}.seeds repeats a seed: {seeds!r}")
    for name in positive:
        check_int(f"{kind}.{name}", getattr(profile, name), 1)
    for name in non_negative:
        check_int(f"{kind}.{name}", getattr(profile, name), 0)
    for name, allowed in (choices or {}).items():
        values = getattr(profile, name)
        for value in values if isinstance(values, tuple) else (values,):
            if value not in allowed:
                raise ValueError(f"{kind}.{name} must be among {tuple(allowed)}, got {value!r}")


@dataclass(frozen=True)
class Cell:
    """One unit of work: its coordinates (e.g. ``{"seed": 0, "dataset": "emp", "agent":
    "bcq"}``), the shared inputs it needs, and the resources it declares."""

    key: Mapping[str, Any]
    needs: tuple[str, ...] = ()
    cpus: int = 1
    #: the share of a GPU the cell takes when the run is on CUDA (Ray schedules by it;
    #: shares below one pack several cells onto a GPU); ignored on CPU
    gpus: float = 1.0

    @property
    def id(self) -> str:
        """``"seed=0/dataset=emp/agent=bcq"``: the cell's name in files and filters."""
        return "/".join(f"{k}={v}" for k, v in self.key.items())

    @property
    def seed(self) -> int | None:
        value = self.key.get("seed")
        return None if value is None else int(value)


@dataclass(frozen=True)
class RunContext:
    """What a cell or an input function may use: the profile's folder (for stored inputs and
    per-cell artefacts), the profile and its name, the thread count it was given and the
    torch device it runs on (resolved in the cell's own process: ``"cpu"``, ``"cuda"``...)."""

    folder: Path
    profile_name: str
    profile: Any
    threads: int = 1
    device: str = AUTO
    #: the run's provenance as the driver sees it (code, command); each cell adds its own
    #: machine, versions, date and device where it runs
    provenance: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Benchmark:
    """A benchmark as the runner sees it.

    Attributes:
        name: the CLI name (``"mocoda-nav2d"``); files use it with ``_`` for ``-``.
        profiles: profile name -> a dataclass instance with a ``description`` field.
        cells: ``cells(profile) -> [Cell]`` in the order they should run.
        make_input: ``make_input(name, ctx) -> value``: make (and store) or load one shared
            input; it must be safe to call again (it then loads what it stored).
        run_cell: ``run_cell(cell, inputs, ctx) -> record``: a JSON-able dict.
        report: ``report(records, ctx) -> text`` printed at the end (optional).
        plot: ``plot(records, ctx) -> [paths]`` drawn at the end (optional).
        summary: ``summary(records, ctx) -> dict`` stored in the merged results (optional).
    """

    name: str
    profiles: Mapping[str, Any]
    cells: Callable[[Any], list[Cell]]
    run_cell: Callable[[Cell, dict[str, Any], RunContext], dict[str, Any]]
    make_input: Callable[[str, RunContext], Any] | None = None
    report: Callable[[list[dict], RunContext], str] | None = None
    plot: Callable[[list[dict], RunContext], list[Path]] | None = None
    summary: Callable[[list[dict], RunContext], dict] | None = None

    @property
    def stem(self) -> str:
        return self.name.replace("-", "_")


def parse_seeds(text: str | None) -> tuple[int, ...] | None:
    """``"0-4"`` -> (0, 1, 2, 3, 4); ``"0,2,5"`` -> (0, 2, 5); None -> None (the profile's).
    At most `MAX_SEEDS` seeds."""
    if text is None:
        return None
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise RunError(f"--seeds takes numbers and ranges like 0-4 or 0,2,5; got {text!r}")
        lo, hi = int(m[1]), int(m[2] or m[1])
        if hi < lo:
            raise RunError(f"--seeds range {part!r} runs backwards")
        if hi - lo + 1 + len(seeds) > MAX_SEEDS:
            raise RunError(f"--seeds asks for more than {MAX_SEEDS} seeds: {text!r}")
        seeds.extend(range(lo, hi + 1))
    return tuple(dict.fromkeys(seeds))


def parse_cell_filter(text: str | None) -> dict[str, set[str]]:
    """``"agent=bcq,td3bc;dataset=emp"`` -> {"agent": {"bcq", "td3bc"}, "dataset": {"emp"}}."""
    if not text:
        return {}
    out: dict[str, set[str]] = {}
    for clause in text.split(";"):
        name, sep, values = clause.partition("=")
        if not sep or not name.strip() or not values.strip():
            raise RunError(f"--cells takes name=value[,value][;name=value...]; got {text!r}")
        out.setdefault(name.strip(), set()).update(v.strip() for v in values.split(","))
    return out


def _select(
    cells: Sequence[Cell], seeds: tuple[int, ...] | None, where: Mapping[str, set[str]]
) -> list[Cell]:
    names = {k for c in cells for k in c.key}
    unknown = set(where) - names
    if unknown:
        raise RunError(
            f"--cells names {sorted(unknown)}; this benchmark's cells have {sorted(names)}"
        )
    chosen = [
        c
        for c in cells
        if (seeds is None or c.seed in seeds)
        and all(str(c.key.get(k)) in values for k, values in where.items())
    ]
    if not chosen:
        raise RunError("the selection (--seeds, --cells) leaves no cell to run")
    return chosen


def _cell_path(folder: Path, cell: Cell) -> Path:
    return folder / "cells" / (cell.id.replace("/", "__") + ".json")


def _stored(path: Path, profile_name: str, config: dict) -> dict | None:
    """The stored form of a finished cell (record and provenance), or None where the cell
    has no file yet."""
    if not path.exists():
        return None
    try:
        stored = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        stored = None
    except IsADirectoryError:
        raise RunError(f"{path} is a directory where a cell's result file belongs") from None
    if not isinstance(stored, dict) or not isinstance(stored.get("record"), dict):
        raise RunError(
            f"{path} is not a readable result (truncated or corrupt); rerun with --fresh to "
            "start the profile over, or delete that file to redo its cell"
        )
    if stored.get("profile") != profile_name or stored.get("config") != config:
        raise RunError(
            f"{path} was written by another profile or configuration than "
            f"{profile_name!r} asks for now; rerun with --fresh to start over"
        )
    return stored


def _mixed(stored: dict, current: Mapping[str, Any]) -> list[str]:
    """How a stored cell's provenance differs from this run's (code, machine)."""
    if provenance.missing(stored.get("provenance")):
        return ["written before results recorded their provenance"]
    return provenance.differences(stored["provenance"], dict(current))


def _in_process(ctx: RunContext) -> RunContext:
    """``ctx`` in the process that runs the work: its thread count set, its device resolved."""
    import torch  # deferred: only a process that runs cells needs torch

    quiet_legacy_gym()  # a worker process imports SB3 or procgen as the driver does
    torch.set_num_threads(max(1, ctx.threads))
    return dataclasses.replace(ctx, device=str(resolve_device(ctx.device)))


def _make_inputs(bench: Benchmark, names: Iterable[str], ctx: RunContext) -> dict[str, Any]:
    if bench.make_input is None:
        if list(names):
            raise RunError(f"{bench.name} declares inputs but no make_input")
        return {}
    return {name: bench.make_input(name, ctx) for name in names}


def _compute(
    bench: Benchmark, cell: Cell, ctx: RunContext, config: dict, inputs: dict[str, Any] | None
) -> dict:
    """Run one cell (in whichever process) and return its stored form; ``inputs`` None: make
    or load them here."""
    ctx = _in_process(ctx)
    if inputs is None:
        inputs = _make_inputs(bench, cell.needs, ctx)
    start = time.perf_counter()
    record = bench.run_cell(cell, inputs, ctx)
    seconds = time.perf_counter() - start
    import torch  # deferred: only a process that runs cells needs torch

    # the code is the driver's (a worker need not read git; a Ray node may have no checkout)
    code_keys = {k: ctx.provenance[k] for k in provenance.CODE_KEYS if k in ctx.provenance}
    where = provenance.collect(ctx.provenance.get("command"), code_keys)
    where.update(
        device=ctx.device,
        auto_precision=resolve_precision("auto", torch.device(ctx.device)),
        threads=ctx.threads,
        seconds=seconds,
    )
    return {
        "cell": jsonable(dict(cell.key)),
        "profile": ctx.profile_name,
        "config": config,
        "seconds": seconds,
        "device": ctx.device,
        "provenance": jsonable(where),
        "record": jsonable(record),
    }


def _store(path: Path, payload: dict) -> dict:
    """Write one cell's result atomically (by the driver, as the cell finishes); return it."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True))
    return payload


def _prepare(bench: Benchmark, name: str, ctx: RunContext) -> Any:
    return _make_inputs(bench, [name], _in_process(ctx))[name]


def _prepare_stored(bench: Benchmark, name: str, ctx: RunContext) -> str:
    """Make (and store) a shared input in a pool worker; only its name comes back, since the
    cells load it from where ``make_input`` stored it."""
    _prepare(bench, name, ctx)
    return name


def run(
    bench: Benchmark,
    profile_name: str,
    *,
    seeds: tuple[int, ...] | None = None,
    where: Mapping[str, set[str]] | None = None,
    fresh: bool = False,
    workers: int = 1,
    backend: str = "local",
    address: str | None = None,
    device: str = AUTO,
    allow_mixed: bool = False,
) -> dict[str, Any]:
    """Run (or resume) a profile of ``bench``; return the merged results.

    ``seeds`` replaces the profile's seeds (any seeds: the profile's list is only the
    default). ``backend="local"``: with ``workers=1`` every cell runs in this process with the
    threads torch already has; with more, in a pool of ``workers`` spawned processes.
    ``backend="ray"``: every shared input and every cell is a Ray task with the resources the
    cell declares (a local Ray instance with ``workers`` CPUs, or the cluster at ``address``);
    a task whose worker dies is retried. Either way each process gets one torch thread per CPU
    its cell declares, and the driver stores each cell's result as it finishes. ``device``
    (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``) is where every cell's torch modules run;
    on Ray, a run on CUDA (``"cuda..."``, or ``"auto"`` on a cluster with GPUs) gives each task
    the GPU share its cell declares.

    Stored cells made by other code (commit, uncommitted change) or on another machine than
    this run are refused unless ``allow_mixed``; then they are merged and listed under the
    merged results' ``mixed``. The merged results (``<output_dir>/<name>_<profile>.json``)
    hold every selected cell's record and provenance, finished in this run or before, and the
    run's own provenance.
    """
    if profile_name not in bench.profiles:
        raise RunError(f"profile must be one of {sorted(bench.profiles)}, got {profile_name!r}")
    if not isinstance(workers, int) or workers < 1:
        raise RunError(f"--workers must be a positive integer, got {workers!r}")
    if backend not in BACKENDS:
        raise RunError(f"--backend must be one of {BACKENDS}, got {backend!r}")
    if address is not None and backend != "ray":
        raise RunError("--address names a Ray cluster: use it with --backend ray")
    try:
        device = check_device_spec(device)
        if backend == "local":  # this machine runs the cells: a device it lacks fails now
            resolve_device(device)
    except (ValueError, AttributeError) as err:
        raise RunError(f"--device: {err}") from None
    profile = bench.profiles[profile_name]
    if seeds is not None and hasattr(profile, "seeds"):
        profile = dataclasses.replace(profile, seeds=tuple(seeds))
    config = jsonable(dataclasses.asdict(profile))
    # a cell's result does not depend on which other seeds run beside it
    cell_config = {k: v for k, v in config.items() if k != "seeds"}
    stem = f"{bench.stem}_{profile_name}"
    folder = output_dir() / stem
    if (folder.parent / f"{stem}.json").is_dir():  # refused now, not after the run's work
        raise RunError(
            f"{folder.parent / f'{stem}.json'} is a directory where the merged results belong"
        )
    if fresh and folder.exists():
        for f in sorted(folder.rglob("*"), reverse=True):
            f.unlink() if f.is_file() else f.rmdir()
    (folder / "cells").mkdir(parents=True, exist_ok=True)
    chosen = _select(bench.cells(profile), seeds, where or {})
    started = time.perf_counter()
    here = provenance.collect()
    stored: dict[str, dict] = {}
    mixed: dict[str, list[str]] = {}
    for c in chosen:
        payload = _stored(_cell_path(folder, c), profile_name, cell_config)
        if payload is not None:
            stored[c.id] = payload
            if diff := _mixed(payload, here):
                mixed[c.id] = diff
    if mixed and not allow_mixed:
        first = next(iter(mixed))
        raise RunError(
            f"{len(mixed)} stored cell(s) in {folder / 'cells'} were made by other code or "
            f"on another machine than this run ({first}: {'; '.join(mixed[first])}); rerun "
            "with --fresh to redo them, or --allow-mixed to merge them (the results then list "
            "them under 'mixed')"
        )
    todo = [c for c in chosen if c.id not in stored]
    if stored:
        print(f"resuming: {len(stored)} finished cells in {folder / 'cells'}")
    if todo:
        print(f"{bench.name} ({profile_name}): {len(todo)} cells to run, {workers} worker(s)")
    # cells in other processes get one thread per CPU they declare; here, what torch has
    ctx = RunContext(
        folder,
        profile_name,
        profile,
        threads=_current_threads(),
        device=device,
        provenance={k: here[k] for k in (*provenance.CODE_KEYS, "command")},
    )
    if backend == "ray" and todo:
        stored.update(_run_ray(bench, todo, ctx, cell_config, workers, address))
    elif workers == 1:
        for c in todo:
            print(f"cell {c.id}")
            payload = _compute(bench, c, ctx, cell_config, None)
            stored[c.id] = _store(_cell_path(folder, c), payload)
    elif todo:
        stored.update(_run_pool(bench, todo, ctx, cell_config, workers))
    ordered = [stored[c.id]["record"] for c in chosen]
    merged: dict[str, Any] = {
        "bench": bench.name,
        "profile": profile_name,
        "config": config,
        "provenance": {**here, "seconds": time.perf_counter() - started},
        "cells": {c.id: stored[c.id]["record"] for c in chosen},
        "cell_provenance": {c.id: stored[c.id].get("provenance") for c in chosen},
        "mixed": mixed,
    }
    if bench.summary is not None:
        merged["summary"] = jsonable(bench.summary(ordered, ctx))
    if bench.report is not None:
        print(bench.report(ordered, ctx))
    if mixed:
        print(f"merged with {len(mixed)} cell(s) made by other code or on another machine:")
        for cell_id, diff in mixed.items():
            print(f"  {cell_id}: {'; '.join(diff)}")
    # the record first: a plot that fails must not cost the run its merged results
    print(f"results written to {write_json(stem, merged)}")
    if bench.plot is not None:
        for path in bench.plot(ordered, ctx):
            print(f"wrote {path}")
    return merged


def _current_threads() -> int:
    import torch  # deferred: only a process that runs cells needs torch

    return torch.get_num_threads()


def _run_pool(
    bench: Benchmark, todo: list[Cell], base: RunContext, config: dict, workers: int
) -> dict[str, dict]:
    """Cells in ``workers`` spawned processes; each shared input is made once, before the
    cells that need it; records are stored as cells finish."""
    needed = list(dict.fromkeys(n for c in todo for n in c.needs))
    done_inputs: set[str] = set()
    records: dict[str, dict] = {}
    folder = base.folder
    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # spawned workers start with one OpenMP thread
    try:
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=get_context("spawn"),
            initializer=exit_with_parent,
            initargs=(os.getpid(),),
        ) as pool:
            pending: dict[Future, tuple[str, Any]] = {}
            for name in needed:
                fut = pool.submit(_prepare_stored, bench, name, _for_cpus(base, 1))
                pending[fut] = ("input", name)
            waiting = list(todo)

            def submit_ready() -> None:
                for c in list(waiting):
                    if set(c.needs) <= done_inputs:
                        waiting.remove(c)
                        fut = pool.submit(_compute, bench, c, _for_cpus(base, c.cpus), config, None)
                        pending[fut] = ("cell", c)

            submit_ready()
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    kind, what = pending.pop(fut)
                    result = fut.result()  # a failed cell raises here, with its traceback
                    if kind == "input":
                        done_inputs.add(what)
                        print(f"input {what} ready")
                    else:
                        records[what.id] = _store(_cell_path(folder, what), result)
                        print(f"cell {what.id} done ({len(records)} of {len(todo)})")
                submit_ready()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return records


def _ray_cell(
    bench: Benchmark, cell: Cell, ctx: RunContext, config: dict, names: tuple, *values: Any
) -> dict:
    """A cell as a Ray task: its shared inputs arrive as resolved task results."""
    return _compute(bench, cell, ctx, config, dict(zip(names, values, strict=True)))


def _for_cpus(base: RunContext, cpus: int) -> RunContext:
    """The context of work in its own process: one torch thread per CPU it declares."""
    return dataclasses.replace(base, threads=max(1, cpus))


def _check_reachable(address: str, timeout: float) -> None:
    """Refuse a Ray address nothing answers at within ``timeout`` seconds (Ray itself retries
    for minutes without a word); ``"auto"`` and ``ray://`` addresses are Ray's to resolve."""
    if address == "auto" or "://" in address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise RunError(f"--address takes HOST:PORT (e.g. 127.0.0.1:6379), got {address!r}")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as err:
        raise RunError(
            f"no Ray cluster answers at --address {address} within {timeout:g} s "
            f"({err.strerror or err}); start one with `ray start --head --port {port}` or "
            "check the address"
        ) from None
    # something listens; Ray's head speaks gRPC there (a web server or a silent port does not,
    # and Ray would retry it for minutes)
    import grpc  # deferred: installed with Ray, needed only to reach a cluster

    channel = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        raise RunError(
            f"the server at --address {address} does not answer as a Ray cluster's head "
            f"(no gRPC handshake within {timeout:g} s): check the address and port (`ray "
            "status` on the head prints it)"
        ) from None
    finally:
        channel.close()


def _run_ray(
    bench: Benchmark,
    todo: list[Cell],
    base: RunContext,
    config: dict,
    workers: int,
    address: str | None,
) -> dict[str, dict]:
    """Cells as Ray tasks depending on their inputs' tasks, spread over the cluster's nodes
    (each cell is long: spreading them uses every node from the start); results stored as
    they finish."""
    if address is None:  # a local instance binds to loopback only (read when Ray is imported)
        os.environ.setdefault(RAY_LOOPBACK_ENV, "0")
    try:
        import ray  # deferred: Ray is the optional `cluster` extra
    except ImportError:
        raise RunError(
            "--backend ray needs Ray: pip install 'causal-envs[cluster]' (Ray 2.x)"
        ) from None
    started = not ray.is_initialized()
    if started and address is not None:
        _check_reachable(address, RAY_CONNECT_TIMEOUT)
    if started:
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address is None:  # "local": a new instance, even where `ray start` runs a cluster
            kwargs["num_cpus"] = workers
        try:
            ray.init(address=address or "local", **kwargs)
        except (ConnectionError, RuntimeError, TimeoutError) as err:
            raise RunError(
                f"Ray could not connect to --address {address}: {first_line(err)}"
            ) from None
    try:
        prepare = ray.remote(max_retries=3)(_prepare)
        cell_task = ray.remote(max_retries=3)(_ray_cell)
        cluster_gpus = ray.cluster_resources().get("GPU", 0)
        on_gpu = base.device.startswith("cuda") or (base.device == "auto" and cluster_gpus > 0)
        if on_gpu and not cluster_gpus:
            raise RunError(f"--device {base.device}: the Ray cluster has no GPU")
        if on_gpu:  # Ray gives each task its GPUs (CUDA_VISIBLE_DEVICES): "cuda" is its own
            base = dataclasses.replace(base, device="cuda")

        def gpus(share: float) -> float:
            return share if on_gpu else 0

        needed = list(dict.fromkeys(n for c in todo for n in c.needs))
        input_refs = {
            n: prepare.options(num_cpus=1, num_gpus=gpus(INPUT_GPUS)).remote(
                bench, n, _for_cpus(base, 1)
            )
            for n in needed
        }
        pending = {}
        for c in todo:
            inputs = [input_refs[n] for n in c.needs]
            ref = cell_task.options(
                num_cpus=c.cpus, num_gpus=gpus(c.gpus), scheduling_strategy="SPREAD"
            ).remote(bench, c, _for_cpus(base, c.cpus), config, c.needs, *inputs)
            pending[ref] = c
        records: dict[str, dict] = {}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                c = pending.pop(ref)
                records[c.id] = _store(_cell_path(base.folder, c), ray.get(ref))
                print(f"cell {c.id} done ({len(records)} of {len(todo)})")
        return records
    finally:
        if started:
            ray.shutdown()
