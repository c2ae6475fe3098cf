"""Step 3 of MoCoDA: re-weight proposals toward a target distribution by rejection.

`UniformRejection` makes proposals roughly uniform over a feature map (MOCODA-U: the
agent's (x, y); MOCODA-P for HookSweep2: the boxes' positions). A Gaussian KDE (bandwidth 0.05)
is fitted to the features of a slice of the proposals; a proposal is kept with probability
proportional to ``1 / max(density, floor)``, scaled so that a chosen fraction is kept on average
(MoCoDA appendix C.1: floor 0.01, 12,000 of 100,000 kept). An optional pre-filter removes
proposals first (MOCODA-P keeps only those with the boxes less than 0.3 apart).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from sklearn.neighbors import KernelDensity

from augment.density import BinnedGaussianKDE

__all__ = ["UniformRejection"]

FeatureFn = Callable[[NDArray], NDArray]


class UniformRejection:
    """Keep proposals with probability ``~ 1 / max(KDE density of features, floor)``.

    Args:
        features: maps proposal rows ``(n, input_dim)`` to features ``(n, k)``.
        bandwidth: the KDE's bandwidth (0.05).
        floor: the density floor (0.01): denser regions are not thinned further.
        keep_fraction: mean acceptance probability (0.12); probabilities above 1 are clipped.
        fit_size: how many proposals the KDE is fitted on (10,000).
        prefilter: optional ``rows -> bool`` mask applied before anything else.
    """

    def __init__(
        self,
        features: FeatureFn,
        *,
        bandwidth: float = 0.05,
        floor: float = 0.01,
        keep_fraction: float = 0.12,
        fit_size: int = 10_000,
        prefilter: Callable[[NDArray], NDArray] | None = None,
    ) -> None:
        if not 0 < keep_fraction <= 1:
            raise ValueError(f"keep_fraction must be in (0, 1], got {keep_fraction}")
        if not floor > 0:
            raise ValueError(f"floor must be > 0, got {floor}")
        self.features = features
        self.bandwidth = bandwidth
        self.floor = floor
        self.keep_fraction = keep_fraction
        self.fit_size = fit_size
        self.prefilter = prefilter

    def _density(self, fit: NDArray, feats: NDArray) -> NDArray[np.float64]:
        """The KDE of ``fit`` at ``feats``: binned (fast) on the finest grid that fits in
        memory (cells of a quarter, a half or a whole bandwidth; HookSweep2's 4-d box positions
        take the half), else scikit-learn's tree KDE."""
        for cell_fraction in (0.25, 0.5, 1.0):  # finer grids where memory allows
            kde = BinnedGaussianKDE(self.bandwidth, cell_fraction)
            if kde.grid_cells(fit) <= kde.max_cells:
                return kde.fit(fit).density(feats)
        tree = KernelDensity(bandwidth=self.bandwidth, rtol=1e-3).fit(fit)
        return np.exp(tree.score_samples(feats))

    def accept(self, proposals: NDArray, rng: np.random.Generator) -> NDArray[np.bool_]:
        """A bool mask of the proposals kept (one batch, its own KDE)."""
        keep = np.ones(len(proposals), np.bool_)
        if self.prefilter is not None:
            keep &= np.asarray(self.prefilter(proposals), dtype=np.bool_)
        idx = np.flatnonzero(keep)
        if len(idx) == 0:
            return keep
        feats = np.asarray(self.features(proposals[idx]), dtype=np.float64)
        if len(feats) > self.fit_size:
            fit = feats[rng.choice(len(feats), self.fit_size, replace=False)]
        else:
            fit = feats
        weight = 1.0 / np.maximum(self._density(fit, feats), self.floor)
        prob = np.minimum(weight / weight.mean() * self.keep_fraction, 1.0)
        keep[idx] = rng.random(len(idx)) < prob
        return keep

    def sample(
        self,
        propose: Callable[[int], NDArray],
        n: int,
        rng: np.random.Generator,
        max_rounds: int = 100,
    ) -> NDArray:
        """Exactly ``n`` accepted rows from repeated batches of ``propose(batch_size)``."""
        batch = max(int(np.ceil(n / self.keep_fraction)), 1000)
        kept: list[NDArray] = []
        have = 0
        for _ in range(max_rounds):
            if have >= n:
                break
            proposals = propose(batch)
            ok = proposals[self.accept(proposals, rng)]
            kept.append(ok)
            have += len(ok)
        if have < n:
            raise RuntimeError(
                f"rejection kept {have} of the {n} rows asked for in "
                f"{max_rounds} rounds of {batch} proposals"
            )
        out = np.concatenate(kept)
        return out[rng.permutation(len(out))[:n]]
