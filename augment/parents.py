"""Step 1 of MoCoDA: sample new parent configurations ``(s, a)`` from per-parent-set mixtures.

One Gaussian mixture is fitted to the empirical marginal of each parent set of the sparsest
causal graph. A sample is drawn one parent set at a time, in a random order per sample; a set
that overlaps dimensions already drawn is *conditioned* on them: each component's conditional
Gaussian, with component weights re-weighted by the density of the already-drawn dimensions.
Features in different parent sets thereby lose the spurious dependence they had in the data,
while each set keeps its empirical marginal (MoCoDA, section 4 and appendix B.2).

Everything is batched: a batch of samples that share an order of parent sets is conditioned
in a handful of NumPy operations, each sample on its own values.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import logsumexp
from scipy.stats import truncnorm
from sklearn.mixture import GaussianMixture

from causal_envs.core import CausalStructure, as_batch

__all__ = [
    "ConditionalPlan",
    "GaussianMixtureParams",
    "ParentSetSampler",
    "StratifiedParentSampler",
]

_LOG_2PI = float(np.log(2 * np.pi))
#: the mixtures' covariances: full (ours, default) or diagonal (the authors' GMMs)
COVARIANCES = ("full", "diag")
#: how the mixtures' component weights are used: as EM fitted them, or all equal (the authors')
WEIGHTS = ("fitted", "uniform")


@dataclass(frozen=True)
class GaussianMixtureParams:
    """A full-covariance Gaussian mixture.

    ``weights (K,)``, ``means (K, d)``, ``covs (K, d, d)``.
    """

    weights: NDArray[np.float64]
    means: NDArray[np.float64]
    covs: NDArray[np.float64]

    def __post_init__(self) -> None:
        k, d = self.means.shape
        if self.weights.shape != (k,) or self.covs.shape != (k, d, d):
            raise ValueError(
                f"mixture shapes disagree: weights {self.weights.shape}, means {self.means.shape}, "
                f"covs {self.covs.shape}"
            )
        if not np.isclose(self.weights.sum(), 1.0) or (self.weights < 0).any():
            raise ValueError("mixture weights must be non-negative and sum to 1")

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @classmethod
    def fit(
        cls,
        x: NDArray,
        n_components: int,
        seed: int,
        *,
        reg_covar: float = 1e-6,
        covariance: str = "full",
    ) -> GaussianMixtureParams:
        """Fit by EM (scikit-learn's ``GaussianMixture``, k-means init) with ``"full"`` or
        ``"diag"`` covariances; diagonal ones are stored as diagonal matrices, so sampling and
        conditioning are the same code."""
        if covariance not in COVARIANCES:
            raise ValueError(f"covariance must be one of {COVARIANCES}, got {covariance!r}")
        if len(x) < n_components:
            raise ValueError(f"need at least n_components={n_components} rows, got {len(x)}")
        gm = GaussianMixture(
            n_components=n_components,
            covariance_type=covariance,
            reg_covar=reg_covar,
            random_state=seed,
            max_iter=200,
        ).fit(x)
        covs = gm.covariances_
        if covariance == "diag":
            covs = np.einsum("kd,de->kde", covs, np.eye(covs.shape[1]))
        return cls(gm.weights_.astype(np.float64), gm.means_, covs)

    def marginal_logpdf(self, x: NDArray, dims: NDArray[np.int64]) -> NDArray[np.float64]:
        """``log N(x; mu_k[dims], Sigma_k[dims, dims])`` for every row and component, ``(B, K)``."""
        cov = self.covs[:, dims[:, None], dims[None, :]]
        chol = np.linalg.cholesky(cov)  # (K, a, a)
        diff = x[:, None, :] - self.means[None, :, dims]  # (B, K, a)
        inv = np.linalg.inv(chol)
        z = np.einsum("kij,bkj->bki", inv, diff)
        logdet = np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        return -0.5 * (z**2).sum(axis=2) - logdet[None] - 0.5 * len(dims) * _LOG_2PI


class ConditionalPlan:
    """Precomputed conditionals of one mixture: draw the ``new`` dims given the ``given`` dims
    (each component's conditional Gaussian and the posterior over components). MoCoDA's parent
    sampler chains these, one parent set at a time (`ParentSetSampler`)."""

    def __init__(
        self, gmm: GaussianMixtureParams, new: NDArray[np.int64], given: NDArray[np.int64]
    ):
        self.gmm, self.new, self.given = gmm, new, given
        s = gmm.covs
        s_nn = s[:, new[:, None], new[None, :]]
        if len(given):
            s_ng = s[:, new[:, None], given[None, :]]
            s_gg = s[:, given[:, None], given[None, :]]
            self.gain = s_ng @ np.linalg.inv(s_gg)  # (K, n, g)
            cond = s_nn - self.gain @ np.swapaxes(s_ng, 1, 2)
        else:
            self.gain = np.zeros((len(gmm.weights), len(new), 0))
            cond = s_nn
        cond = 0.5 * (cond + np.swapaxes(cond, 1, 2))
        self.chol = np.linalg.cholesky(cond + 1e-12 * np.eye(len(new)))  # (K, n, n)

    def sample(
        self,
        x_given: NDArray,
        log_weights: NDArray,
        rng: np.random.Generator,
        truncate: float | None,
    ) -> NDArray[np.float64]:
        """Draw the new dims for each row of ``x_given`` (B, g)."""
        gmm, b = self.gmm, len(x_given)
        u = rng.random(b)
        if len(self.given):
            # Posterior component weights given each row's drawn dims; inverse-CDF draw.
            logits = log_weights[None] + gmm.marginal_logpdf(x_given, self.given)
            probs = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
            k = (np.cumsum(probs, axis=1) < u[:, None]).sum(axis=1)
        else:
            cdf = np.cumsum(np.exp(log_weights - logsumexp(log_weights)))
            k = np.searchsorted(cdf, u, side="right")
        k = np.minimum(k, len(log_weights) - 1)  # guard against rounding in the last bin
        mean = gmm.means[k][:, self.new]
        if len(self.given):
            diff = x_given - gmm.means[k][:, self.given]
            mean = mean + np.einsum("bng,bg->bn", self.gain[k], diff)
        if truncate is None:
            eps = rng.standard_normal((b, len(self.new)))
        else:
            eps = truncnorm.rvs(-truncate, truncate, size=(b, len(self.new)), random_state=rng)
        return mean + np.einsum("bij,bj->bi", self.chol[k], eps)


class ParentSetSampler:
    """Gaussian mixtures over the parent sets of a `CausalStructure`.

    Args:
        structure: the env's causal structure; its ``parent_sets`` say which input dimensions
            are modelled jointly. Input dimensions in no parent set get a mixture of their own.
        n_components: components per mixture (32 in MoCoDA).
        weights: ``"fitted"`` (ours, default) uses the mixture weights found by EM;
            ``"uniform"`` ignores them, as the authors' code does.
        truncate: if set (the authors use 2.5), each component's noise is truncated at that
            many standard deviations.
        covariance: ``"full"`` (ours, default) or ``"diag"``, the authors' diagonal
            components (a parent set's dimensions then correlate only through the mixture).
        seed: seeds EM initialisation.

    ``fit(inputs)`` takes the flat ``[state, action]`` rows; ``sample(n, rng)`` returns ``(n,
    input_dim)`` rows.
    """

    def __init__(
        self,
        structure: CausalStructure,
        n_components: int = 32,
        *,
        weights: str = "fitted",
        truncate: float | None = None,
        covariance: str = "full",
        seed: int = 0,
    ) -> None:
        if covariance not in COVARIANCES:
            raise ValueError(f"covariance must be one of {COVARIANCES}, got {covariance!r}")
        if weights not in WEIGHTS:
            raise ValueError(f"weights must be 'fitted' or 'uniform', got {weights!r}")
        if not isinstance(n_components, int) or n_components < 1:
            raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
        if truncate is not None and not truncate > 0:
            raise ValueError(f"truncate must be None or > 0, got {truncate!r}")
        self.structure = structure
        self.n_components = n_components
        self.weights = weights
        self.truncate = truncate
        self.covariance = covariance
        self.seed = seed
        sets = [structure.input_dims(p) for p in structure.parent_sets]
        covered = np.unique(np.concatenate(sets))
        rest = np.setdiff1d(np.arange(structure.input_dim), covered)
        if len(rest):
            sets.append(rest)
        self.set_dims: list[NDArray[np.int64]] = sets
        self.mixtures: list[GaussianMixtureParams] | None = None
        self._plans: dict[tuple[int, tuple[int, ...]], ConditionalPlan] = {}

    @classmethod
    def from_mixtures(
        cls,
        structure: CausalStructure,
        mixtures: list[GaussianMixtureParams],
        **kwargs,
    ) -> ParentSetSampler:
        """A sampler with given mixtures (one per parent set), e.g. to test against known ones."""
        sampler = cls(structure, n_components=len(mixtures[0].weights), **kwargs)
        if len(mixtures) != len(sampler.set_dims):
            raise ValueError(f"need {len(sampler.set_dims)} mixtures, got {len(mixtures)}")
        for gmm, dims in zip(mixtures, sampler.set_dims, strict=True):
            if gmm.dim != len(dims):
                raise ValueError(f"a mixture over {len(dims)} dims has dimension {gmm.dim}")
        sampler.mixtures = list(mixtures)
        return sampler

    def fit(self, inputs: NDArray) -> ParentSetSampler:
        """Fit one mixture per parent set to ``inputs`` (N, input_dim) by EM."""
        x, _ = as_batch(inputs, self.structure.input_dim, "inputs")
        self.mixtures = [
            GaussianMixtureParams.fit(
                x[:, dims], self.n_components, self.seed + i, covariance=self.covariance
            )
            for i, dims in enumerate(self.set_dims)
        ]
        self._plans.clear()
        return self

    def _plan(self, set_index: int, given_local: tuple[int, ...]) -> ConditionalPlan:
        key = (set_index, given_local)
        if key not in self._plans:
            d = len(self.set_dims[set_index])
            given = np.asarray(given_local, dtype=np.int64)
            new = np.setdiff1d(np.arange(d), given)
            self._plans[key] = ConditionalPlan(self.mixtures[set_index], new, given)
        return self._plans[key]

    def _log_weights(self, gmm: GaussianMixtureParams) -> NDArray[np.float64]:
        if self.weights == "uniform":
            return np.full(len(gmm.weights), -np.log(len(gmm.weights)))
        return np.log(np.maximum(gmm.weights, 1e-300))

    def sample(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        """``n`` parent samples ``(n, input_dim)``; each sample visits the sets in its own order."""
        if self.mixtures is None:
            raise RuntimeError("call fit() (or from_mixtures) before sample()")
        if not isinstance(n, int | np.integer) or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n!r}")
        n_sets = len(self.set_dims)
        out = np.full((n, self.structure.input_dim), np.nan)
        if n_sets <= 5:  # at most 120 orders: draw an index into them
            perms = np.array(list(itertools.permutations(range(n_sets))))
            group = rng.integers(0, len(perms), size=n)
        else:
            orders = np.argsort(rng.random((n, n_sets)), axis=1)
            perms, group = np.unique(orders, axis=0, return_inverse=True)
            group = group.ravel()
        for g, perm in enumerate(perms):
            rows = np.flatnonzero(group == g)
            if len(rows) == 0:
                continue
            drawn: set[int] = set()
            for s in perm:
                dims = self.set_dims[s]
                given_local = tuple(i for i, d in enumerate(dims) if d in drawn)
                if len(given_local) == len(dims):
                    continue
                plan = self._plan(int(s), given_local)
                x_given = out[np.ix_(rows, dims[list(given_local)])]
                values = plan.sample(
                    x_given, self._log_weights(self.mixtures[s]), rng, self.truncate
                )
                out[np.ix_(rows, dims[plan.new])] = values
                drawn.update(int(d) for d in dims)
        return out


class StratifiedParentSampler:
    """One `ParentSetSampler` per local subset, with rejection at the subset borders.

    ``subset_fn(inputs) -> int labels`` assigns rows to local subsets (regions with one local
    causal graph). Each subset's sampler is fitted on its own rows; a sample is kept only if it
    falls in the subset whose sampler drew it (appendix B.2). Samples are allocated to subsets in
    proportion to the subsets' share of the data.
    """

    def __init__(
        self,
        structure: CausalStructure,
        subset_fn: Callable[[NDArray], NDArray],
        max_rounds: int = 50,
        **sampler_kwargs,
    ) -> None:
        self.structure = structure
        self.subset_fn = subset_fn
        self.max_rounds = max_rounds
        self.sampler_kwargs = sampler_kwargs
        self.samplers: dict[int, ParentSetSampler] = {}
        self.shares: dict[int, float] = {}

    def fit(self, inputs: NDArray) -> StratifiedParentSampler:
        x, _ = as_batch(inputs, self.structure.input_dim, "inputs")
        labels = np.asarray(self.subset_fn(x))
        if labels.shape != (len(x),):
            raise ValueError(f"subset_fn must return one label per row, got shape {labels.shape}")
        for label in np.unique(labels):
            rows = x[labels == label]
            self.samplers[int(label)] = ParentSetSampler(self.structure, **self.sampler_kwargs)
            self.samplers[int(label)].fit(rows)
            self.shares[int(label)] = len(rows) / len(x)
        return self

    def sample(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        if not self.samplers:
            raise RuntimeError("call fit() before sample()")
        labels = list(self.samplers)
        counts = rng.multinomial(n, [self.shares[k] for k in labels])
        parts = []
        for label, want in zip(labels, counts, strict=True):
            kept: list[NDArray] = []
            have = 0
            for _ in itertools.repeat(None, self.max_rounds):
                if have >= want:
                    break
                draw = self.samplers[label].sample(max(2 * (want - have), 16), rng)
                ok = draw[np.asarray(self.subset_fn(draw)) == label]
                kept.append(ok)
                have += len(ok)
            if have < want:
                raise RuntimeError(
                    f"subset {label}: only {have} of {want} samples stayed inside it after "
                    f"{self.max_rounds} rounds"
                )
            parts.append(np.concatenate(kept)[:want])
        out = np.concatenate(parts) if parts else np.empty((0, self.structure.input_dim))
        return out[rng.permutation(len(out))]
