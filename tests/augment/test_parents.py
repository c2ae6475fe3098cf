import numpy as np
import pytest
from scipy.stats import ks_2samp

from augment.parents import (
    ConditionalPlan,
    GaussianMixtureParams,
    ParentSetSampler,
    StratifiedParentSampler,
)
from causal_envs.core import CausalStructure
from causal_envs.envs.nav2d import NAV2D_STRUCTURE

# Two parent sets that overlap in the action c: (a, c) -> a', (b, c) -> b'.
OVERLAP = CausalStructure({"a": [0], "b": [1]}, {"c": [0]}, [[1, 0], [0, 1], [1, 1]])


def mixture(weights, means, covs):
    return GaussianMixtureParams(
        np.array(weights, float), np.array(means, float), np.array(covs, float)
    )


def test_conditional_plan_matches_the_analytic_conditional():
    """x = (u, v, w); draw (u, w) given v = 0.7 and compare with the exact mixture moments."""
    gmm = mixture(
        [0.3, 0.7],
        [[0.0, 0.0, 1.0], [2.0, 1.0, -1.0]],
        [
            [[1.0, 0.5, 0.2], [0.5, 1.0, 0.3], [0.2, 0.3, 0.5]],
            [[0.6, -0.2, 0.0], [-0.2, 0.4, 0.1], [0.0, 0.1, 0.3]],
        ],
    )
    new, given, v = np.array([0, 2]), np.array([1]), 0.7
    # analytic: posterior weights and per-component conditionals
    post, cmeans, ccovs = [], [], []
    for k in range(2):
        mu, s = gmm.means[k], gmm.covs[k]
        s_gg = s[np.ix_(given, given)]
        s_ng = s[np.ix_(new, given)]
        dens = np.exp(-0.5 * (v - mu[1]) ** 2 / s_gg[0, 0]) / np.sqrt(2 * np.pi * s_gg[0, 0])
        post.append(gmm.weights[k] * dens)
        cmeans.append(mu[new] + (s_ng / s_gg[0, 0])[:, 0] * (v - mu[1]))
        ccovs.append(s[np.ix_(new, new)] - s_ng @ s_ng.T / s_gg[0, 0])
    post = np.array(post) / np.sum(post)
    mean = sum(p * m for p, m in zip(post, cmeans, strict=True))
    second = sum(p * (c + np.outer(m, m)) for p, m, c in zip(post, cmeans, ccovs, strict=True))
    cov = second - np.outer(mean, mean)

    plan = ConditionalPlan(gmm, new, given)
    rng = np.random.default_rng(0)
    x = plan.sample(np.full((200_000, 1), v), np.log(gmm.weights), rng, truncate=None)
    np.testing.assert_allclose(x.mean(0), mean, atol=0.01)
    np.testing.assert_allclose(np.cov(x.T), cov, atol=0.015)


def test_truncation_bounds_each_component():
    gmm = mixture([1.0], [[0.0]], [[[1.0]]])
    plan = ConditionalPlan(gmm, np.array([0]), np.array([], dtype=np.int64))
    x = plan.sample(np.empty((50_000, 0)), np.zeros(1), np.random.default_rng(0), truncate=2.5)
    assert np.abs(x).max() <= 2.5 and np.abs(x).max() > 2.4


def test_overlapping_sets_condition_on_the_shared_dimension():
    """Both mixtures share c's marginal, so every order gives a' | c and b' | c exactly."""
    m1 = mixture(
        [0.5, 0.5], [[-1.0, -1.0], [1.0, 1.0]], [[[0.3, 0.2], [0.2, 0.3]], [[0.3, 0.2], [0.2, 0.3]]]
    )  # (a, c)
    m2 = mixture(
        [0.5, 0.5],
        [[2.0, -1.0], [-2.0, 1.0]],
        [[[0.2, -0.1], [-0.1, 0.3]], [[0.2, -0.1], [-0.1, 0.3]]],
    )  # (b, c)
    sampler = ParentSetSampler.from_mixtures(OVERLAP, [m1, m2])
    x = sampler.sample(200_000, np.random.default_rng(1))
    a, b, c = x[:, 0], x[:, 1], x[:, 2]
    # c's marginal: equal mixture of N(-1, .3), N(1, .3)
    assert abs(c.mean()) < 0.01 and abs(c.var() - 1.3) < 0.02
    # samples near c = 1 come from the second components: E[a|c=1] ~ 1, E[b|c=1] ~ -2
    near = np.abs(c - 1.0) < 0.05
    assert abs(a[near].mean() - 1.0) < 0.03 and abs(b[near].mean() + 2.0) < 0.03
    # a and b only share c: strongly dependent overall, independent given c's component
    assert abs(np.corrcoef(a, b)[0, 1]) > 0.5
    upper = c > 1.0
    res_a, res_b = a[upper] - a[upper].mean(), b[upper] - b[upper].mean()
    assert abs(np.corrcoef(res_a, res_b)[0, 1]) < 0.25


def test_disjoint_sets_give_the_product_of_marginals():
    """Nav2D's (x, dx) and (y, dy): the empirical x-y dependence is removed, marginals kept."""
    rng = np.random.default_rng(0)
    n = 6000
    x = rng.uniform(0, 1, n)
    y = np.clip(x + rng.normal(0, 0.05, n), 0, 1)  # strongly dependent on x
    dx = 0.5 * x + rng.normal(0, 0.1, n)
    dy = -0.5 * y + rng.normal(0, 0.1, n)
    data = np.stack([x, y, dx, dy], axis=1)
    sampler = ParentSetSampler(NAV2D_STRUCTURE, n_components=8, seed=0).fit(data)
    s = sampler.sample(20_000, np.random.default_rng(1))
    assert np.corrcoef(data[:, 0], data[:, 1])[0, 1] > 0.95
    assert abs(np.corrcoef(s[:, 0], s[:, 1])[0, 1]) < 0.03
    assert np.corrcoef(s[:, 0], s[:, 2])[0, 1] > 0.7  # within a set the dependence stays
    for d in range(4):
        assert ks_2samp(s[:, d], data[:, d]).statistic < 0.05


def test_same_seed_same_samples_and_weights_option():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(500, 4))
    a = ParentSetSampler(NAV2D_STRUCTURE, 4, seed=3).fit(data)
    b = ParentSetSampler(NAV2D_STRUCTURE, 4, seed=3).fit(data)
    assert np.array_equal(
        a.sample(100, np.random.default_rng(5)), b.sample(100, np.random.default_rng(5))
    )
    u = ParentSetSampler(NAV2D_STRUCTURE, 4, seed=3, weights="uniform", truncate=2.5).fit(data)
    assert u.sample(100, np.random.default_rng(5)).shape == (100, 4)


def test_uncovered_input_dims_get_their_own_mixture():
    s = CausalStructure({"a": [0], "b": [1]}, {"c": [0]}, [[1, 1], [0, 0], [1, 1]])
    sampler = ParentSetSampler(s, 2)
    assert [d.tolist() for d in sampler.set_dims] == [[0, 2], [1]]
    x = sampler.fit(np.random.default_rng(0).normal(size=(100, 3))).sample(
        10, np.random.default_rng(0)
    )
    assert np.isfinite(x).all()


def test_bad_input():
    sampler = ParentSetSampler(NAV2D_STRUCTURE, 4)
    with pytest.raises(RuntimeError, match="fit"):
        sampler.sample(3, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"inputs must be a real array of shape \(batch, 4\)"):
        sampler.fit(np.zeros((10, 3)))
    bad = np.zeros((10, 4))
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        sampler.fit(bad)
    with pytest.raises(ValueError, match="n_components=4"):
        sampler.fit(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="weights"):
        ParentSetSampler(NAV2D_STRUCTURE, weights="equal")
    with pytest.raises(ValueError, match="need 2 mixtures"):
        ParentSetSampler.from_mixtures(NAV2D_STRUCTURE, [mixture([1.0], [[0, 0]], [np.eye(2)])])


def test_stratified_sampler_respects_subset_borders():
    rng = np.random.default_rng(0)
    data = np.concatenate([rng.uniform(0, 1, (3000, 2)), rng.uniform(-1, 1, (3000, 2))], axis=1)

    def quadrant(x):
        return ((x[:, 0] > 0.5) & (x[:, 1] > 0.5)).astype(int)

    sampler = StratifiedParentSampler(NAV2D_STRUCTURE, quadrant, n_components=4).fit(data)
    s = sampler.sample(4000, np.random.default_rng(1))
    assert s.shape == (4000, 4)
    share = quadrant(s).mean()
    assert abs(share - quadrant(data).mean()) < 0.03


def test_diagonal_covariances_as_the_authors_mixtures_have():
    """With ``covariance="diag"`` every component's covariance is diagonal (a correlated
    parent set is then modelled by the mixture alone), and sampling works unchanged."""
    rng = np.random.default_rng(0)
    c = rng.normal(size=3000)
    x = np.stack([c + 0.1 * rng.normal(size=3000), rng.normal(size=3000), c], 1)
    diag = ParentSetSampler(OVERLAP, n_components=4, covariance="diag", seed=0).fit(x)
    full = ParentSetSampler(OVERLAP, n_components=4, seed=0).fit(x)
    for gmm in diag.mixtures:
        off = gmm.covs - np.einsum("kdd->kd", gmm.covs)[:, :, None] * np.eye(gmm.dim)
        assert np.abs(off).max() == 0
    assert any(np.abs(g.covs[:, 0, 1]).max() > 0.1 for g in full.mixtures)
    sample = diag.sample(2000, np.random.default_rng(1))
    assert sample.shape == (2000, 3) and np.isfinite(sample).all()
    with pytest.raises(ValueError, match="covariance must be one of"):
        ParentSetSampler(OVERLAP, covariance="spherical")
