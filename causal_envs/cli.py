"""The ``list`` and ``dataset`` verbs of the ``causal-envs`` command.

The console script itself is composed in `benchmarks.cli`, which adds the verbs of the
packages above this one (``bench``, ``augment`` and ``results``), so dependencies keep pointing
one way.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm import tqdm

import causal_envs
from causal_envs.core import CausalEnv, ContractError, LatentStructureEnv
from causal_envs.core.fs import StorageError
from causal_envs.datasets import (
    DATASETS,
    DatasetError,
    data_root,
    download_dataset,
    generate_dataset,
    get_spec,
    list_augmented,
    load_dataset,
    pack_dataset,
)
from causal_envs.datasets.plots import pyplot, save_figure, save_png
from causal_envs.datasets.staging import reclaim_staging
from causal_envs.datasets.storage import verify_minari_files
from causal_envs.tasks import SEQUENCES, make_sequence

__all__ = ["CLIError", "non_negative_int", "register"]


class CLIError(RuntimeError):
    """A user-facing error: printed as ``error: ...`` with exit status 1."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``list`` and ``dataset`` verbs to a parser's subcommands."""
    p = subparsers.add_parser("list", help="list the environments, their spaces and masks")
    p.set_defaults(func=cmd_list)

    p = subparsers.add_parser("render", help="save a strip of frames of an episode")
    p.add_argument(
        "env_id",
        choices=causal_envs.ENV_IDS,
        metavar="ENV_ID",
        help=f"one of {list(causal_envs.ENV_IDS)}",
    )
    p.add_argument("--out", type=Path, required=True, help="PNG file to write")
    p.add_argument("--frames", type=int, default=4, help="frames in the strip (4)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="episode seed (0)")
    p.add_argument(
        "--policy",
        choices=("random", "expert"),
        default="random",
        help="random (default), or expert: HookSweep2's scripted expert without action noise",
    )
    p.set_defaults(func=cmd_render)

    tasks = subparsers.add_parser("tasks", help="list task sequences or render their tasks")
    tverbs = tasks.add_subparsers(dest="verb", required=True, metavar="VERB")
    tv = tverbs.add_parser("list", help="the registered task sequences and what changes")
    tv.add_argument("--seed", type=non_negative_int, default=0)
    tv.set_defaults(func=cmd_tasks_list)
    tv = tverbs.add_parser("render", help="a grid of frames: one row per task")
    tv.add_argument(
        "name", choices=sorted(SEQUENCES), metavar="SEQUENCE", help=f"one of {sorted(SEQUENCES)}"
    )
    tv.add_argument("--out", type=Path, required=True, help="PNG file to write")
    tv.add_argument("--frames", type=int, default=6, help="frames per task (6)")
    tv.add_argument("--steps", type=int, default=60, help="random-policy steps per task (60)")
    tv.add_argument("--seed", type=non_negative_int, default=0)
    tv.set_defaults(func=cmd_tasks_render)

    data = subparsers.add_parser("dataset", help="generate, inspect and plot offline datasets")
    data.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="cache root (default: $CAUSAL_ENVS_DATA_DIR, $MINARI_DATASETS_PATH or "
        "~/.minari/datasets)",
    )
    verbs = data.add_subparsers(dest="verb", required=True, metavar="VERB")
    names = sorted(DATASETS)

    v = verbs.add_parser("list", help="the named datasets and whether they are cached")
    v.set_defaults(func=cmd_dataset_list)
    for verb, helptext, func in (
        ("generate", "generate a dataset into the cache", cmd_dataset_generate),
        ("info", "summarise a cached dataset", cmd_dataset_info),
        ("plot", "plot a dataset (generating it if needed)", cmd_dataset_plot),
    ):
        v = verbs.add_parser(verb, help=helptext)
        v.add_argument("name", choices=names, metavar="NAME", help=f"one of {names}")
        v.add_argument("--seed", type=non_negative_int, default=0, help="dataset seed (0)")
        v.set_defaults(func=func)
        if verb == "generate":
            v.add_argument("--force", action="store_true", help="regenerate even if cached")
        if verb == "plot":
            v.add_argument("--out", type=Path, required=True, help="PNG file to write")
    v = verbs.add_parser("pack", help="write a cached dataset as an archive + manifest to host")
    v.add_argument("name", choices=names, metavar="NAME", help=f"one of {names}")
    v.add_argument("--seed", type=non_negative_int, default=0, help="dataset seed (0)")
    v.add_argument("--out", type=Path, required=True, help="mirror folder to write into")
    v.set_defaults(func=cmd_dataset_pack)
    v = verbs.add_parser("download", help="download a dataset from a mirror into the cache")
    v.add_argument("name", choices=names, metavar="NAME", help=f"one of {names}")
    v.add_argument("--seed", type=non_negative_int, default=0, help="dataset seed (0)")
    v.add_argument(
        "--mirror", default=None, help="URL prefix of the mirror (default: $CAUSAL_ENVS_MIRROR)"
    )
    v.add_argument("--force", action="store_true", help="download even if cached")
    v.set_defaults(func=cmd_dataset_download)


def non_negative_int(text: str) -> int:
    """argparse type of a seed or a count: an integer >= 0, else a message naming the text."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def cmd_list(args: argparse.Namespace) -> None:
    rows = [("id", "observation", "action", "mask", "vector env")]
    for env_id in causal_envs.ENV_IDS:
        env = gym.make(env_id)
        spec = gym.spec(env_id)
        rows.append(
            (
                env_id,
                _space(env.observation_space),
                _space(env.action_space),
                _mask_kind(env.unwrapped),
                "native" if spec.vector_entry_point else "sync/async",
            )
        )
        env.close()
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def cmd_tasks_list(args: argparse.Namespace) -> None:
    for name in sorted(SEQUENCES):
        seq = make_sequence(name, seed=args.seed)
        print(f"{name} (seed {args.seed})")
        for i, task in enumerate(seq.tasks):
            if i == 0:
                changes = "source"
            else:
                changes = ", ".join(sorted(task.changes)) or "no change (a repeat)"
            print(f"  {i + 1}. {task.name:22s} {changes:40s} {task.description}")


def _frame(env: gym.Env, obs: np.ndarray) -> np.ndarray:
    if obs.ndim == 3 and obs.dtype == np.uint8:
        return obs
    frame = env.render() if env.render_mode == "rgb_array" else None
    if frame is None:
        raise CLIError(f"{env.spec.id if env.spec else env} has no pixel observations to render")
    return frame


def cmd_tasks_render(args: argparse.Namespace) -> None:
    if not 1 <= args.frames <= MAX_FRAMES or args.steps < args.frames:
        raise CLIError(
            f"--frames must be between 1 and {MAX_FRAMES} and --steps >= --frames, got "
            f"--frames {args.frames} --steps {args.steps}"
        )
    seq = make_sequence(args.name, seed=args.seed)
    rows = []
    for i in range(len(seq)):
        env = seq.make(i)
        env.action_space.seed(args.seed)
        obs, _ = env.reset(seed=args.seed)
        frames = [_frame(env, obs)]
        for _ in range(args.steps):
            obs, _, term, trunc, _ = env.step(env.action_space.sample())
            frames.append(_frame(env, obs))
            if term or trunc:
                obs, _ = env.reset()
        env.close()
        pick = np.linspace(0, len(frames) - 1, args.frames).round().astype(int)
        size = frames[0].shape[0]
        gap = np.full((size, 2, 3), 255, np.uint8)
        rows.append(np.concatenate([x for k in pick for x in (frames[k], gap)][:-1], axis=1))
    plt = pyplot()
    width = max(r.shape[1] for r in rows)
    fig, axes = plt.subplots(
        len(rows), 1, figsize=(width / 40, 1.9 * len(rows)), squeeze=False, layout="constrained"
    )
    for i, (ax, row) in enumerate(zip(axes[:, 0], rows, strict=True)):
        task = seq[i]
        change = "source task" if i == 0 else ", ".join(sorted(task.changes)) or "no change"
        ax.imshow(row, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(f"task {i + 1}\n{task.name}\n({change.replace('_', ' ')})", fontsize=8)
    fig.suptitle(f"{seq.name}: {args.frames} frames of a random-policy episode per task")
    save_figure(fig, args.out)
    print(f"wrote {args.out}: {len(seq)} tasks x {args.frames} frames of {seq.name}")


#: the most frames a strip or grid holds (a 256-pixel frame is 0.2 MB: 64 make a 12 MB image)
MAX_FRAMES = 64


def cmd_render(args: argparse.Namespace) -> None:
    if not 1 <= args.frames <= MAX_FRAMES:
        raise CLIError(f"--frames must be between 1 and {MAX_FRAMES}, got {args.frames}")
    env = gym.make(args.env_id, render_mode="rgb_array")
    obs, _ = env.reset(seed=args.seed)
    env.action_space.seed(args.seed)
    act = _render_policy(args.policy, env, args.seed)
    frames = [env.render()]
    done = False
    while not done:
        obs, _, terminated, truncated, _ = env.step(act(obs))
        done = terminated or truncated
        frames.append(env.render())
    env.close()
    pick = np.linspace(0, len(frames) - 1, args.frames).round().astype(int)
    gap = np.full((frames[0].shape[0], 4, 3), 255, np.uint8)
    strip = np.concatenate([x for i in pick for x in (frames[i], gap)][:-1], axis=1)
    save_png(strip, args.out)
    print(f"wrote {args.out} ({args.frames} of {len(frames)} frames)")


def _render_policy(name: str, env: gym.Env, seed: int) -> Callable[[Any], Any]:
    """The policy ``render`` runs: uniformly random actions, or an env's scripted expert."""
    if name == "random":
        return lambda obs: env.action_space.sample()
    if getattr(env.unwrapped, "dataset_family", None) != "hooksweep2":
        raise CLIError("--policy expert: only HookSweep2 has a scripted expert")
    # deferred: the expert's planner is needed only here
    from causal_envs.envs.hooksweep.expert import HookSweepExpert

    return HookSweepExpert(noise_prob=0.0, seed=seed).act


def _mask_kind(env: gym.Env) -> str:
    if isinstance(env, CausalEnv):
        return "yes"
    return "latent" if isinstance(env, LatentStructureEnv) else "no"


def _space(space: gym.Space) -> str:
    if isinstance(space, gym.spaces.Dict):
        return "Dict(" + ", ".join(f"{k}: {_space(v)}" for k, v in space.spaces.items()) + ")"
    if isinstance(space, gym.spaces.Box):
        lo, hi = np.unique(space.low), np.unique(space.high)
        bounds = f"[{lo[0]:g}, {hi[0]:g}]" if len(lo) == len(hi) == 1 else "[...]"
        return f"Box{bounds}^{space.shape} {space.dtype}"
    return str(space)


def cmd_dataset_list(args: argparse.Namespace) -> None:
    root = data_root(args.data_dir)
    print(f"cache: {root}")
    if root.is_dir():
        reclaim_staging(root)  # a dead writer's staging, not shown as a dataset or left behind
    for name, spec in sorted(DATASETS.items()):
        cached = (root / spec.dataset_id()).exists()
        print(f"{name:20s} {spec.dataset_id():40s} {'cached' if cached else 'not cached'}")
        print(f"{'':20s} {spec.description}")
    augmented = list_augmented(root)
    print(f"augmented sets ({len(augmented)}; made by causal-envs augment or a benchmark):")
    for m in augmented:
        models = m.get("config", {}).get("dynamics", {})
        training = models.get("training", models)  # sets made before the split: flat
        print(
            f"  {m['method']:9s} of {m.get('source')} seed {m.get('seed')}"
            + (
                f" ({m['source_transitions']:,} transitions a benchmark made)"
                if m.get("source_id") is None and "source_transitions" in m
                else ""
            )
            + ": "
            f"{m.get('n_generated', 0):,} generated, profile {m.get('profile') or 'custom'}, "
            f"key {m.get('key')}"
        )
        print(
            f"  {'':9s} source sha256 {str(m.get('source_digest'))[:16]}..., models "
            f"{models.get('hidden')} x {training.get('epochs')} epochs "
            f"({training.get('schedule')}), "
            f"causal-envs {m.get('package_version')} -> {m['path']}"
        )


def cmd_dataset_pack(args: argparse.Namespace) -> None:
    archive, manifest = pack_dataset(args.name, args.seed, out=args.out, root=args.data_dir)
    print(f"wrote {archive} ({archive.stat().st_size / 1e6:.1f} MB) and {manifest}")
    print(
        f"serve {args.out} on any static file server; users run: causal-envs dataset download "
        f"{args.name}{f' --seed {args.seed}' if args.seed else ''} --mirror URL"
    )


def cmd_dataset_download(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    path = download_dataset(
        args.name, args.seed, mirror=args.mirror, root=args.data_dir, force=args.force
    )
    print(
        f"{get_spec(args.name).dataset_id(args.seed)} at {path} "
        f"({time.perf_counter() - start:.2f} s)"
    )


def cmd_dataset_generate(args: argparse.Namespace) -> None:
    spec = get_spec(args.name)
    root = data_root(args.data_dir)
    start = time.perf_counter()
    with tqdm(total=1, desc=f"generating {spec.dataset_id(args.seed)}", unit="dataset") as bar:
        path = generate_dataset(args.name, args.seed, force=args.force, root=root)
        bar.update(1)
    print(f"{spec.dataset_id(args.seed)} at {path} ({time.perf_counter() - start:.2f} s)")


def _load(args: argparse.Namespace, generate: bool):
    spec = get_spec(args.name)
    root = data_root(args.data_dir)
    if not generate and not (root / spec.dataset_id(args.seed)).exists():
        raise CLIError(
            f"{spec.dataset_id(args.seed)} is not cached under {root}; "
            f"create it with: causal-envs dataset generate {args.name} --seed {args.seed}"
        )
    return spec, root, load_dataset(args.name, args.seed, root=root)


def cmd_dataset_info(args: argparse.Namespace) -> None:
    spec, root, data = _load(args, generate=False)
    path = root / spec.dataset_id(args.seed)
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    hint = spec.regenerate_hint(args.seed)
    files = verify_minari_files(spec.dataset_id(args.seed), root, regenerate_hint=hint)
    print(f"dataset      {spec.dataset_id(args.seed)}")
    print(f"path         {path} ({size / 1e6:.1f} MB)")
    print(
        "verified     transitions.npz (SHA-256)"
        + "".join(f", {name} ({'SHA-256' if v == 'ok' else v})" for name, v in files.items())
    )
    print(f"env          {spec.env_id}")
    facts = data.summary()
    lengths, reward = facts["episode_length"], facts["reward"]
    print(f"transitions  {facts['transitions']}")
    print(
        f"episodes     {facts['episodes']} (length {lengths['min']}-{lengths['max']}, "
        f"mean {lengths['mean']:.1f})"
    )
    print(f"terminals    {facts['terminals']} ({100 * facts['terminals'] / len(data):.2f}%)")
    print(f"timeouts     {facts['timeouts']}")
    print(f"reward       mean {reward['mean']:.4f}, min {reward['min']:g}, max {reward['max']:g}")
    for name in ("observations", "actions"):
        arr = getattr(data, name)
        print(
            f"{name:12s} min {np.round(arr.min(0), 3).tolist()} "
            f"max {np.round(arr.max(0), 3).tolist()}"
        )
    for key, value in data.metadata.items():
        print(f"meta.{key:7s} {value}")


def cmd_dataset_plot(args: argparse.Namespace) -> None:
    spec, _, data = _load(args, generate=True)
    if spec.plot is None:
        raise CLIError(f"dataset {args.name} has no plot")
    spec.plot(data, args.out)
    print(f"wrote {args.out}")


#: errors a user can act on: printed as ``error: ...`` without a traceback. Anything else is a
#: bug and keeps its traceback.
USER_ERRORS = (CLIError, DatasetError, ContractError, StorageError)
