"""Pictures of datasets over the 2D Navigation arena (MoCoDA's Figure 8 layout)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from causal_envs.core import atomic_path
from causal_envs.core.fs import StorageError, describe_os_error
from causal_envs.datasets.transitions import TransitionDataset
from causal_envs.envs.hooksweep.model import TABLE_CENTER, TABLE_HALF
from causal_envs.envs.nav2d import Nav2DModel

__all__ = [
    "draw_nav2d_arena",
    "draw_transitions",
    "plot_hooksweep2_dataset",
    "plot_nav2d_dataset",
    "pyplot",
    "save_figure",
    "save_png",
]


def pyplot() -> Any:
    """matplotlib's ``pyplot`` on the Agg backend (files, no display)."""
    import matplotlib  # deferred: matplotlib (~0.4 s) loads only when a figure is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: as above

    return plt


def draw_nav2d_arena(ax: Any, model: Nav2DModel | None = None, *, filled: bool = True) -> None:
    """Draw the unit arena, the entangled quadrant, the start box and the goal box on ``ax``.

    ``filled=False`` draws the quadrant and the start box as outlines (over an image)."""
    from matplotlib.patches import Rectangle  # deferred: matplotlib, only to draw

    model = model or Nav2DModel()
    q = model.quadrant

    def region(xy: tuple[float, float], w: float, h: float, colour: str, label: str) -> None:
        if filled:
            ax.add_patch(Rectangle(xy, w, h, color=colour, alpha=0.15, lw=0, label=label))
        else:
            ax.add_patch(Rectangle(xy, w, h, fill=False, ec=colour, lw=1.5, ls="--", label=label))

    region((q, q), 1 - q, 1 - q, "tab:orange", "entangled quadrant")
    (sx0, sy0), (sx1, sy1) = model.start_low, model.start_high
    region((sx0, sy0), sx1 - sx0, sy1 - sy0, "tab:blue", "target start")
    (gx0, gy0), (gx1, gy1) = model.goal_low, model.goal_high
    ax.add_patch(
        Rectangle(
            (gx0, gy0), gx1 - gx0, gy1 - gy0, fill=False, ec="tab:green", lw=2, label="target goal"
        )
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("x")
    ax.set_ylabel("y")


@contextlib.contextmanager
def _png_at(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary file to write the PNG ``path`` through (renamed into place at the end);
    a path that is a directory, or a place this process cannot write, raises `StorageError`
    naming it."""
    path = Path(path)
    if path.is_dir():
        raise StorageError(f"{path} is a directory: name a file in it, e.g. {path / 'plot.png'}")
    try:
        with atomic_path(path, suffix=".png") as tmp:
            yield tmp
    except StorageError:
        raise
    except OSError as err:
        raise StorageError(f"cannot write {path}: {describe_os_error(err)}") from None


def save_figure(fig: Any, path: str | os.PathLike) -> Path:
    """Save ``fig`` as PNG atomically (temporary name, then rename) and close it."""
    plt = pyplot()

    try:
        with _png_at(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return Path(path)


def save_png(image: np.ndarray, path: str | os.PathLike) -> Path:
    """Write an RGB ``uint8`` image ``(H, W, 3)`` as PNG, atomically."""
    plt = pyplot()

    with _png_at(path) as tmp:
        plt.imsave(tmp, image)
    return Path(path)


def draw_transitions(ax: Any, data: TransitionDataset, rows: np.ndarray, width: float) -> None:
    """Arrows ``s -> s'`` of the chosen rows; terminal transitions (goal reached) in green."""
    s = data.observations[rows]
    d = data.next_observations[rows] - s
    colours = np.where(data.terminals[rows], "tab:green", "tab:blue")
    ax.quiver(
        s[:, 0],
        s[:, 1],
        d[:, 0],
        d[:, 1],
        color=colours,
        angles="xy",
        scale_units="xy",
        scale=1,
        width=width,
        alpha=0.65,
    )


def plot_nav2d_dataset(
    data: TransitionDataset,
    path: str | os.PathLike,
    *,
    n_trajectories: int = 15,
    n_transitions: int = 600,
    seed: int = 0,
) -> Path:
    """Figure 8 of MoCoDA: sample bottom-to-top and left-to-right trajectories, and transitions.

    Episodes are told apart by their main direction of travel. Terminal transitions (target
    goal reached) are drawn in green in the right panel.
    """
    plt = pyplot()

    rng = np.random.default_rng(seed)
    bounds = data.episode_bounds()
    travel = data.next_observations[bounds[:, 1] - 1] - data.observations[bounds[:, 0]]
    upward = travel[:, 1] > travel[:, 0]
    fig, axes = plt.subplots(1, 3, figsize=(15, 5), layout="constrained")
    for ax, chosen, title in (
        (axes[0], upward, "bottom-to-top trajectories"),
        (axes[1], ~upward, "left-to-right trajectories"),
    ):
        draw_nav2d_arena(ax)
        idx = np.flatnonzero(chosen)
        for e in rng.choice(idx, size=min(n_trajectories, len(idx)), replace=False):
            start, stop = bounds[e]
            path_xy = np.concatenate(
                [data.observations[start:stop], data.next_observations[stop - 1 : stop]]
            )
            ax.plot(path_xy[:, 0], path_xy[:, 1], "-", lw=1, alpha=0.8)
            ax.plot(*path_xy[0], "k.", ms=4)
        ax.set_title(f"{title} ({chosen.sum()} episodes)")
    ax = axes[2]
    draw_nav2d_arena(ax)
    pick = rng.choice(len(data), size=min(n_transitions, len(data)), replace=False)
    draw_transitions(ax, data, pick, width=0.003)
    ax.set_title(f"{len(pick)} random transitions of {len(data)} (green: terminal)")
    axes[0].legend(loc="upper left", fontsize=8)
    name = data.metadata.get("generator", "a Nav2D dataset")
    fig.suptitle(f"The offline dataset {name} (seed {data.metadata.get('seed')}) over the arena")
    return save_figure(fig, path)


def plot_hooksweep2_dataset(
    data: TransitionDataset, path: str | os.PathLike, max_points: int = 40_000
) -> Path:
    """Box positions in HookSweep2 data: box 1 and box 2 xy over the table, with the goal area
    of each side (observations ``[state (16), goal (6)]`` or states alone)."""
    plt = pyplot()

    obs = data.observations
    rows = np.random.default_rng(0).choice(len(obs), min(max_points, len(obs)), replace=False)
    fig, axes = plt.subplots(1, 2, figsize=(10, 5), sharey=True, layout="constrained")
    for ax, (name, cols, colour) in zip(
        axes, (("box 1", [6, 7], "tab:red"), ("box 2", [11, 12], "tab:blue")), strict=True
    ):
        (cx, cy), (hx, hy) = TABLE_CENTER, TABLE_HALF
        ax.add_patch(plt.Rectangle((cx - hx, cy - hy), 2 * hx, 2 * hy, color="0.92", zorder=0))
        ax.scatter(obs[rows, cols[0]], obs[rows, cols[1]], s=1, alpha=0.15, color=colour)
        for x in (TABLE_CENTER[0] - 0.31, TABLE_CENTER[0], TABLE_CENTER[0] + 0.31):
            ax.axvline(x, color="0.5", lw=0.6, ls="--")
        ax.set_title(f"{name} positions ({len(rows):,} of {len(obs):,} transitions)")
        ax.set_xlabel("x (robot at left; goals at 1.54 or 2.16)")
        ax.set_xlim(1.35, 2.35)
        ax.set_ylim(0.25, 1.25)
        ax.set_aspect("equal")
    axes[0].set_ylabel("y")
    name = data.metadata.get("generator", "a HookSweep2 dataset")
    fig.suptitle(f"Where the boxes are in {name}: each is left in the centre or swept to a side")
    return save_figure(fig, path)
