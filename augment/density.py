"""A binned Gaussian kernel density estimate for low-dimensional feature maps.

MoCoDA-U and MoCoDA-P re-weight proposals by ``1 / density`` of a feature map (2-4 dims) under a
Gaussian KDE of bandwidth 0.05. Evaluating an exact KDE of 10,000 points at 200,000 proposals
takes 13-64 s with scikit-learn's tree (rtol 0.01 / exact) on two cores. Binning the points on a
grid of cells a quarter of the bandwidth wide, smoothing the histogram with the same separable
Gaussian (SciPy's ``gaussian_filter``) and interpolating multilinearly gives the same density to
within about 1% of its peak in milliseconds. The grid grows as ``(range / cell)^d``, so this is
for ``d <= 4`` or so; a clear error says when the grid would be too large.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import gaussian_filter, map_coordinates

__all__ = ["BinnedGaussianKDE"]


class BinnedGaussianKDE:
    """Gaussian KDE on a grid: ``fit(points)``, then ``density(queries)``.

    Args:
        bandwidth: the Gaussian kernel's standard deviation, in feature units.
        cell_fraction: grid cell width as a fraction of the bandwidth (0.25).
        max_cells: refuse grids larger than this (memory guard).
    """

    def __init__(
        self, bandwidth: float = 0.05, cell_fraction: float = 0.25, max_cells: int = 20_000_000
    ) -> None:
        if not bandwidth > 0 or not 0 < cell_fraction <= 1:
            raise ValueError("bandwidth must be > 0 and cell_fraction in (0, 1]")
        self.bandwidth = float(bandwidth)
        self.cell = float(bandwidth) * float(cell_fraction)
        self.max_cells = int(max_cells)
        self.grid: NDArray[np.float64] | None = None

    def _bins(self, x: NDArray) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        if x.ndim != 2 or len(x) == 0 or not np.isfinite(x).all():
            raise ValueError(f"points must be a finite (n, d) array with n > 0, got {x.shape}")
        pad = 4 * self.bandwidth
        low = x.min(axis=0) - pad
        return low, np.ceil((x.max(axis=0) + pad - low) / self.cell).astype(int) + 1

    def grid_cells(self, points: NDArray) -> float:
        """How many grid cells fitting ``points`` would take (compare with ``max_cells``)."""
        _, bins = self._bins(np.asarray(points, dtype=np.float64))
        return float(np.prod(bins.astype(float)))

    def fit(self, points: NDArray) -> BinnedGaussianKDE:
        x = np.asarray(points, dtype=np.float64)
        self.low, bins = self._bins(x)
        if np.prod(bins.astype(float)) > self.max_cells:
            raise ValueError(
                f"a {x.shape[1]}-d grid of {bins.tolist()} cells exceeds max_cells="
                f"{self.max_cells}; use a larger bandwidth or cell_fraction, or fewer dimensions"
            )
        edges = [self.low[d] + self.cell * (np.arange(bins[d] + 1) - 0.5) for d in range(len(bins))]
        hist, _ = np.histogramdd(x, bins=edges)
        smooth = gaussian_filter(
            hist, sigma=self.bandwidth / self.cell, mode="constant", truncate=4.0
        )
        self.grid = smooth / (len(x) * self.cell ** x.shape[1])
        return self

    def density(self, queries: NDArray) -> NDArray[np.float64]:
        """The estimated density at each row of ``queries`` (0 outside the fitted grid)."""
        if self.grid is None:
            raise RuntimeError("call fit() before density()")
        q = np.asarray(queries, dtype=np.float64)
        if q.ndim != 2 or q.shape[1] != self.grid.ndim:
            raise ValueError(f"queries must be (n, {self.grid.ndim}), got {q.shape}")
        coords = ((q - self.low) / self.cell).T
        return np.maximum(map_coordinates(self.grid, coords, order=1, mode="constant", cval=0.0), 0)
