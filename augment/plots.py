"""Pictures of augmented Nav2D data and of model errors over the arena (MoCoDA Figure 3 idea)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from causal_envs.datasets import TransitionDataset
from causal_envs.datasets.plots import draw_nav2d_arena, draw_transitions, pyplot, save_figure

__all__ = ["plot_augmented_nav2d", "plot_error_maps_nav2d"]


def plot_augmented_nav2d(
    datasets: Mapping[str, TransitionDataset],
    path: str | os.PathLike,
    *,
    n_arrows: int = 800,
    seed: int = 0,
) -> Path:
    """One panel per method: a random sample of its *generated* transitions as arrows.

    For ``emp`` (nothing generated) the empirical transitions are drawn. Terminal transitions
    (target goal reached) are green.
    """
    plt = pyplot()

    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(
        1, len(datasets), figsize=(4.2 * len(datasets), 4.6), squeeze=False, layout="constrained"
    )
    for ax, (name, data) in zip(axes[0], datasets.items(), strict=True):
        draw_nav2d_arena(ax)
        start = data.metadata.get("n_empirical", 0) if data.metadata.get("n_generated") else 0
        pool = np.arange(start, len(data))
        pick = rng.choice(pool, size=min(n_arrows, len(pool)), replace=False)
        draw_transitions(ax, data, pick, width=0.004)
        what = "generated" if start else "empirical"
        ax.set_title(f"{name.upper()}: {len(pool):,} {what}", fontsize=10)
    axes[0][0].legend(loc="upper left", fontsize=7)
    fig.suptitle(
        f"2D Navigation: {n_arrows} sampled transitions (s -> s') of each dataset; "
        "terminal ones (goal reached) in green"
    )
    return save_figure(fig, path)


def plot_error_maps_nav2d(
    states: NDArray,
    errors: Mapping[str, NDArray],
    path: str | os.PathLike,
    *,
    bins: int = 20,
    title: str = "",
) -> Path:
    """Mean model error (x100) binned over the arena by the state ``(x, y)``, one panel per
    model, on a shared colour scale (bins without a sample are white)."""
    plt = pyplot()

    edges = np.linspace(0, 1, bins + 1)
    count, _, _ = np.histogram2d(states[:, 0], states[:, 1], bins=[edges, edges])
    maps = {}
    for name, err in errors.items():
        total, _, _ = np.histogram2d(states[:, 0], states[:, 1], bins=[edges, edges], weights=err)
        maps[name] = np.where(count > 0, 100 * total / np.maximum(count, 1), np.nan)
    vmax = max(np.nanmax(m) for m in maps.values())
    fig, axes = plt.subplots(
        1, len(maps), figsize=(4.4 * len(maps), 4.4), squeeze=False, layout="constrained"
    )
    for ax, (name, m) in zip(axes[0], maps.items(), strict=True):
        im = ax.imshow(m.T, origin="lower", extent=(0, 1, 0, 1), vmin=0, vmax=vmax, cmap="viridis")
        draw_nav2d_arena(ax, filled=False)
        ax.set_title(f"{name} model: mean {100 * np.mean(errors[name]):.2f}", fontsize=10)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="L2 error x100")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)
