import numpy as np
import pytest

from benchmarks.stats import (
    MIN_SEEDS_FOR_INTERVAL,
    estimate,
    iqm,
    mean_interval,
    stratified_interval,
)


def test_interval_holds_the_mean_narrows_with_seeds_and_is_seeded():
    rng = np.random.default_rng(0)
    few, many = rng.normal(30, 5, 3), rng.normal(30, 5, 50)
    lo3, hi3 = mean_interval(few)
    lo50, hi50 = mean_interval(many)
    assert lo3 <= few.mean() <= hi3 and lo50 <= many.mean() <= hi50
    assert hi50 - lo50 < hi3 - lo3
    assert abs((hi50 - lo50) / 2 - 1.96 * many.std() / np.sqrt(50)) < 0.5  # the normal interval
    assert mean_interval(many) == mean_interval(many)  # seeded: same file, same interval
    assert mean_interval([7.0, 7.0, 7.0]) == (7.0, 7.0)


def test_fewer_than_five_seeds_give_a_range_never_a_confidence_interval():
    three = estimate([34.6, 70.0, 34.1])
    assert three.kind == "range" and three.label == "range of 3 seeds"
    assert (three.low, three.high) == (34.1, 70.0)
    assert "95%" not in str(three) and "range of 3 seeds" in str(three)
    five = estimate([20.0, 21.0, 22.0, 23.0, 30.0])
    assert MIN_SEEDS_FOR_INTERVAL == 5 and five.kind == "ci95" and five.label == "95% CI"
    assert five.low < five.value < five.high and five.high < 30.0  # narrower than the range
    assert estimate([5.0]).format() == "5.0" and estimate([5.0]).label == "range of 1 seed"


def test_iqm_resists_an_outlying_seed_and_has_its_own_interval():
    values = [20.0, 21.0, 22.0, 23.0, 24.0, 25.0, 26.0, 500.0]
    assert iqm(values) == pytest.approx(23.5)
    assert np.mean(values) > 80
    e = estimate(values, statistic="iqm")
    mean = estimate(values)
    assert e.statistic == "iqm" and e.value == pytest.approx(23.5)
    assert e.high - e.low < mean.high - mean.low


def test_stratified_bootstrap_resamples_seeds_within_each_task():
    rng = np.random.default_rng(1)
    scores = np.c_[rng.normal(10, 1, 10), rng.normal(100, 1, 10)]  # two tasks, 10 seeds
    value, lo, hi = stratified_interval(scores, lambda s: float(s.mean()))
    assert lo < value < hi and value == pytest.approx(scores.mean())
    # every resample keeps each task's column: the mean stays near 55, never near 10 or 100
    assert 53 < lo and hi < 57
    assert stratified_interval(scores) == stratified_interval(scores)  # seeded


def test_bad_input():
    with pytest.raises(ValueError, match="non-empty"):
        mean_interval([])
    with pytest.raises(ValueError, match="confidence"):
        mean_interval([1.0, 2.0], confidence=1.5)
    with pytest.raises(ValueError, match="finite"):
        estimate([1.0, float("nan")])
    with pytest.raises(ValueError, match="statistic"):
        estimate([1.0], statistic="median")
    with pytest.raises(ValueError, match="seeds x tasks"):
        stratified_interval(np.zeros(3))


def test_confusion_counts_and_rates_of_binary_decisions():
    from benchmarks.stats import confusion

    c = confusion([(True, True), (True, False), (False, True), (False, False), (False, False)])
    assert (c["tp"], c["fn"], c["fp"], c["tn"], c["right"], c["decisions"]) == (1, 1, 1, 2, 3, 5)
    assert c["sensitivity"] == 0.5 and c["specificity"] == 2 / 3
    assert c["balanced_accuracy"] == (0.5 + 2 / 3) / 2
    assert confusion([(False, False)])["sensitivity"] is None  # no positive to catch
