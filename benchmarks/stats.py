"""Estimates over seeds: a mean or IQM with an interval that says what it is.

With 5 or more seeds an estimate carries a 95% percentile bootstrap interval (10,000 seeded
resamples, `scipy.stats.bootstrap`); with fewer it carries the seeds' range and says so
("range of 3 seeds"), never "95% interval": 3 seeds have only 10 distinct resamples, and
their "interval" is their range. Aggregates over several tasks resample the seeds within
each task independently, the stratified bootstrap of Agarwal et al., "Deep Reinforcement
Learning at the Edge of the Statistical Precipice" (NeurIPS 2021; the `rliable` library's
``StratifiedBootstrap``), with the interquartile mean (IQM) they recommend as the aggregate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "MIN_SEEDS_FOR_INTERVAL",
    "Estimate",
    "confusion",
    "estimate",
    "interval_label",
    "iqm",
    "mean_interval",
    "stratified_interval",
]

#: fewer seeds than this give a range, not a confidence interval
MIN_SEEDS_FOR_INTERVAL = 5
#: resamples of every bootstrap here
RESAMPLES = 10_000


def _values(values: Sequence[float]) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or len(x) == 0:
        raise ValueError(f"need a non-empty 1-D sequence of values, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"values must be finite, got {x.tolist()}")
    return x


def iqm(values: Sequence[float]) -> float:
    """The interquartile mean: the mean of the middle 50% of the values (25% trimmed from
    each end, `scipy.stats.trim_mean`); robust to one outlying seed, unlike the mean.

    Examples:
        >>> iqm([1.0, 2.0, 3.0, 100.0])
        2.5
    """
    from scipy import stats  # deferred: scipy.stats costs about a second at start-up

    return float(stats.trim_mean(_values(values), 0.25))


def mean_interval(
    values: Sequence[float],
    confidence: float = 0.95,
    seed: int = 0,
    statistic: Callable[[np.ndarray], float] = np.mean,
) -> tuple[float, float]:
    """The percentile bootstrap interval of ``statistic`` (the mean by default) of ``values``
    (one per seed), seeded so that a result file gives the same interval every time. With one
    value, or all values equal, the interval is that value. Use `estimate`, which refuses to
    call fewer than `MIN_SEEDS_FOR_INTERVAL` seeds' interval a confidence interval.

    Examples:
        >>> mean_interval([5.0])
        (5.0, 5.0)
    """
    from scipy import stats  # deferred: scipy.stats costs about a second at start-up

    x = _values(values)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if len(x) == 1 or np.all(x == x[0]):
        return float(x[0]), float(x[0])
    if statistic is np.mean:
        vectorised = np.mean
    else:

        def vectorised(v: np.ndarray, axis: int = -1) -> np.ndarray:
            return np.apply_along_axis(statistic, axis, v)

    res = stats.bootstrap(
        (x,),
        vectorised,
        confidence_level=confidence,
        n_resamples=RESAMPLES,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def interval_label(n: int) -> str:
    """What an interval over ``n`` seeds is: ``"95% CI"`` from `MIN_SEEDS_FOR_INTERVAL`
    seeds, ``"range of n seeds"`` below.

    Examples:
        >>> interval_label(3), interval_label(5)
        ('range of 3 seeds', '95% CI')
    """
    if n >= MIN_SEEDS_FOR_INTERVAL:
        return "95% CI"
    return f"range of {n} seed{'s' if n != 1 else ''}"


@dataclass(frozen=True)
class Estimate:
    """A statistic over seeds with its interval: ``kind`` is ``"ci95"`` (a 95% bootstrap
    interval, 5 or more seeds) or ``"range"`` (the seeds' lowest and highest value)."""

    value: float
    low: float
    high: float
    n: int
    kind: str
    statistic: str = "mean"

    @property
    def label(self) -> str:
        """What the interval is: ``"95% CI"`` or ``"range of 3 seeds"``."""
        return interval_label(self.n)

    def above(self, other: Estimate) -> bool:
        """Whether this interval lies wholly above ``other``'s (no overlap)."""
        return self.low > other.high

    def below(self, other: Estimate) -> bool:
        """Whether this interval lies wholly below ``other``'s (no overlap)."""
        return self.high < other.low

    def format(self, digits: int = 1) -> str:
        """``"23.9 [23.7, 24.3]"``; a single seed gives just its value."""
        if self.n == 1:
            return f"{self.value:.{digits}f}"
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"

    def __str__(self) -> str:
        return f"{self.format()} ({self.label})" if self.n > 1 else self.format()


def estimate(values: Sequence[float], statistic: str = "mean", seed: int = 0) -> Estimate:
    """The mean (or ``statistic="iqm"``) of ``values``, one per seed, with a 95% bootstrap
    interval from `MIN_SEEDS_FOR_INTERVAL` seeds on and the seeds' range below that.

    Examples:
        >>> str(estimate([20.0, 22.0, 24.0]))
        '22.0 [20.0, 24.0] (range of 3 seeds)'
        >>> estimate([20.0, 21.0, 22.0, 23.0, 24.0]).label
        '95% CI'
    """
    x = _values(values)
    fn = {"mean": np.mean, "iqm": iqm}.get(statistic)
    if fn is None:
        raise ValueError(f"statistic must be 'mean' or 'iqm', got {statistic!r}")
    value = float(fn(x))
    if len(x) < MIN_SEEDS_FOR_INTERVAL:
        return Estimate(value, float(x.min()), float(x.max()), len(x), "range", statistic)
    low, high = mean_interval(x, seed=seed, statistic=fn)
    return Estimate(value, low, high, len(x), "ci95", statistic)


def stratified_interval(
    scores: np.ndarray,
    statistic: Callable[[np.ndarray], float] = lambda s: iqm(s.ravel()),
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """An aggregate over tasks of ``scores`` (seeds x tasks) and its stratified percentile
    bootstrap interval: each resample draws, for every task independently, as many seeds with
    replacement as it has (Agarwal et al. 2021's stratified bootstrap). Returns ``(value,
    low, high)``; ``statistic`` takes a (seeds x tasks) array, the IQM of all scores by
    default. Like `estimate`, read the interval as a range below `MIN_SEEDS_FOR_INTERVAL`.

    Examples:
        >>> s = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
        >>> stratified_interval(s, lambda a: float(a.mean()))[0]
        11.0
    """
    x = np.asarray(scores, dtype=float)
    if x.ndim != 2 or 0 in x.shape:
        raise ValueError(f"scores must be a non-empty (seeds x tasks) array, got {x.shape}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    n, tasks = x.shape
    picks = rng.integers(0, n, size=(RESAMPLES, n, tasks))
    resampled = np.take_along_axis(x[None], picks, axis=1)
    boot = np.array([statistic(r) for r in resampled])
    alpha = (1 - confidence) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha])
    return float(statistic(x)), float(low), float(high)


def confusion(decisions: Iterable[tuple[bool, bool]]) -> dict[str, Any]:
    """Binary decisions against their truth, from ``(needed, made)`` pairs: the counts
    ``tp``, ``fn``, ``fp``, ``tn``, ``right`` and ``decisions``; the sensitivity (positives
    caught), the specificity (negatives left alone) and their mean, the balanced accuracy (a
    constant rule scores 0.5 whatever the share of positives); None where a class is empty."""
    c = {"tp": 0, "fn": 0, "fp": 0, "tn": 0}
    for needed, made in decisions:
        c[("tp" if made else "fn") if needed else ("fp" if made else "tn")] += 1
    pos, neg = c["tp"] + c["fn"], c["fp"] + c["tn"]
    sens = c["tp"] / pos if pos else None
    spec = c["tn"] / neg if neg else None
    return {
        **c,
        "right": c["tp"] + c["tn"],
        "decisions": pos + neg,
        "sensitivity": sens,
        "specificity": spec,
        "balanced_accuracy": None if sens is None or spec is None else (sens + spec) / 2,
    }
