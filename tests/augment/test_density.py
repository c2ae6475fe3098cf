import numpy as np
import pytest
from sklearn.neighbors import KernelDensity

from augment import BinnedGaussianKDE, UniformRejection


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_binned_kde_matches_the_exact_kde(dim):
    rng = np.random.default_rng(dim)
    points = np.concatenate([rng.random((3000, dim)), rng.normal(0.5, 0.08, (3000, dim))])
    queries = rng.random((2000, dim)) * 1.2 - 0.1
    ours = BinnedGaussianKDE(0.05).fit(points).density(queries)
    exact = np.exp(KernelDensity(bandwidth=0.05).fit(points).score_samples(queries))
    assert np.abs(ours - exact).max() < 0.03 * exact.max()


def test_binned_kde_integrates_to_one_and_vanishes_far_away():
    kde = BinnedGaussianKDE(0.05).fit(np.random.default_rng(0).random((2000, 2)))
    assert abs(kde.grid.sum() * kde.cell**2 - 1) < 1e-6
    assert kde.density(np.array([[5.0, 5.0], [-3.0, 0.5]])).tolist() == [0.0, 0.0]


def test_binned_kde_errors():
    with pytest.raises(RuntimeError, match="fit"):
        BinnedGaussianKDE().density(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="max_cells"):
        BinnedGaussianKDE(0.01).fit(np.random.default_rng(0).random((10, 6)))
    with pytest.raises(ValueError, match="finite"):
        BinnedGaussianKDE().fit(np.array([[np.nan, 0.0]]))
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        BinnedGaussianKDE().fit(np.zeros((5, 2))).density(np.zeros((3, 3)))


def test_uniform_rejection_flattens_and_hits_the_count():
    rng = np.random.default_rng(0)

    def propose(n):
        dense = rng.random((n, 2)) * 0.2 + 0.1  # 80% in a small square
        spread = rng.random((n, 2))
        return np.where(rng.random((n, 1)) < 0.8, dense, spread)

    rejection = UniformRejection(lambda x: x, keep_fraction=0.2)
    kept = rejection.sample(propose, 5000, np.random.default_rng(1))
    assert kept.shape == (5000, 2)
    in_square = ((kept > 0.1) & (kept < 0.3)).all(axis=1).mean()
    assert in_square < 0.2  # was 0.8 + 0.2 * 0.04 = 0.81 before


def test_prefilter_runs_first():
    rejection = UniformRejection(lambda x: x, prefilter=lambda x: x[:, 0] < 0.5, keep_fraction=1.0)
    x = np.random.default_rng(0).random((4000, 2))
    keep = rejection.accept(x, np.random.default_rng(0))
    assert keep.any() and not keep[x[:, 0] >= 0.5].any()
    with pytest.raises(ValueError, match="keep_fraction"):
        UniformRejection(lambda x: x, keep_fraction=0)
