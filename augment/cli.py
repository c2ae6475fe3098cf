"""The ``augment`` verb of the ``causal-envs`` command.

    causal-envs augment nav2d/empirical                       # all five methods, the fast models
    causal-envs augment nav2d/empirical --methods mocoda-u --plot aug.png
    causal-envs augment nav2d/empirical --profile paper       # the authors' models and budget

Fits MoCoDA on the named dataset (generated first if needed), generates each method's dataset
and stores it in the one augmented cache (`augment.cache`), where ``load_augmented``,
``env.get_augmented_dataset(method)`` and the benchmarks find it: what is there with the same
source, settings and seed is loaded, not made again.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from augment.dynamics.config import DynamicsConfig
from augment.methods import METHODS
from causal_envs.cli import CLIError
from causal_envs.core.device import AUTO, DEVICE_HELP, check_device_spec
from causal_envs.datasets import DATASETS, data_root, get_spec

__all__ = ["PROFILES", "add_device_argument", "register"]

#: name -> the dynamics ensembles: this project's fast models (the default), or the authors'
PROFILES = {"quick": DynamicsConfig(), "paper": DynamicsConfig.authors_nav2d()}


def _methods(text: str) -> list[str]:
    methods = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise argparse.ArgumentTypeError(
            f"methods must be a comma-separated subset of {','.join(METHODS)}, got {text!r}"
        )
    return methods


def _device(text: str) -> str:
    try:
        return check_device_spec(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_device_argument(
    p: argparse.ArgumentParser, default: str = AUTO, help: str = DEVICE_HELP
) -> None:
    """``--device auto|cpu|cuda|cuda:N`` (checked here, resolved where torch runs)."""
    p.add_argument("--device", type=_device, default=default, help=help)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``augment`` verb."""
    p = subparsers.add_parser("augment", help="make MoCoDA-augmented datasets")
    names = sorted(DATASETS)
    p.add_argument("source", choices=names, metavar="SOURCE", help=f"one of {names}")
    p.add_argument(
        "--methods",
        type=_methods,
        default=list(METHODS),
        help=f"comma-separated subset of {','.join(METHODS)} (all)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the source data and pipeline (0)")
    p.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="quick",
        help="quick: 2x128 on raw inputs, 20 epochs of batch 256, cosine decay from lr 1e-3 "
        "(the default; about a minute for the three Nav2D models on 2 cores); paper: the "
        "authors' 2x256, up to 600 epochs of 29 steps at lr 1e-4",
    )
    p.add_argument("--data-dir", type=Path, default=None, help="cache root")
    p.add_argument("--plot", type=Path, default=None, help="also draw the datasets to this PNG")
    add_device_argument(p)
    p.set_defaults(func=cmd_augment)


#: what the paper profile costs, measured (docs/results.md, "MoCoDA model error"): the three
#: Nav2D ensembles at the authors' budget on the idle 2-core machine
PAPER_COST = "about 31 minutes on 2 CPU cores for the three Nav2D models (22.7 with bf16)"


def cmd_augment(args: argparse.Namespace) -> None:
    # deferred: torch and scikit-learn (~1.5 s), which --help never needs
    from augment.cache import augmented_datasets  # deferred: torch, scikit-learn
    from augment.pipeline import MoCoDAConfig  # deferred: torch, scikit-learn
    from augment.recipes import recipe_for  # deferred: the envs' modules
    from causal_envs.core.device import resolve_device  # deferred: torch

    if args.seed < 0:
        raise CLIError(f"--seed must be non-negative, got {args.seed}")
    spec = get_spec(args.source)
    if args.profile == "quick":
        print(
            f"profile quick (the fast models); --profile paper: the authors' models, {PAPER_COST}"
        )
    # HookSweep2's recipe fixes MOCODA-P's floor (the authors' script) and standardised inputs
    config = recipe_for(spec.env_id).configured(
        MoCoDAConfig(dynamics=PROFILES[args.profile], seed=args.seed)
    )
    try:  # a device this machine lacks is refused before any work
        resolve_device(args.device)
    except ValueError as err:
        raise CLIError(f"--device: {err}") from None
    # an env without the causal contract raises ContractError, which the command reports;
    # any other error inside the pipeline is a bug and keeps its traceback
    made = augmented_datasets(
        args.source,
        args.methods,
        config,
        root=data_root(args.data_dir),
        device=args.device,
        profile=args.profile,
        progress=True,
    )
    if args.plot is not None:
        if not spec.name.startswith("nav2d/"):
            print(f"no plot for {spec.name}: the arena plot is for 2D Navigation")
            return
        from augment.plots import plot_augmented_nav2d  # deferred: matplotlib (~0.4 s)

        print(f"wrote {plot_augmented_nav2d(made, args.plot)}")
